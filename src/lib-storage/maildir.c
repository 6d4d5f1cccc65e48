/*
 * maildir.c - Maildir (the qmail convention, as Courier and Dovecot read
 * it) and Maildir++ folders: write tmp/<unique>, fdatasync it, link it
 * into new/ (or cur/ with ":2,<flags>" when the message has flags),
 * remove the tmp/ name, fsync the directory. Only then is the message
 * saved; any failure removes what was written.
 *
 * Unique names are "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>": S= is the
 * file size, which Maildir++ quota code (maildirsize) relies on, and the
 * host name has '/' and ':' escaped as "\057" and "\072" (Dovecot's rule),
 * since ':' starts the info part of names in cur/.
 *
 * Each saved message is counted in the Maildir++ quota (quota.h).
 *
 * Directories are created (mode 0700) only when missing: an existing
 * Maildir costs one open() of its directory per mailbox_open(), and
 * tmp/, new/ and cur/ are made when creating the tmp/ file or the link
 * into new/ finds them missing (as Postfix's virtual(8) does).
 */
#include "lib-storage/storage_int.h"
#include "lib-storage/quota.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* Host name for unique names: '/' -> "\057", ':' -> "\072"; looked up once. */
static const char *unique_host(void)
{
    static char out[512];
    if (out[0])
        return out;
    char host[256];
    if (gethostname(host, sizeof(host)) < 0)
        str_copy(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    size_t o = 0;
    for (const char *p = host; *p && o + 5 < sizeof(out); p++) {
        if (*p == '/' || *p == ':') {
            memcpy(out + o, *p == '/' ? "\\057" : "\\072", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}

/* "<sec>.M<usec>P<pid>Q<n>.<host>", n counting the names of this process. */
void storage_maildir_unique(char *out, size_t outlen)
{
    static unsigned long seq;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    str_fmt(out, outlen, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
            (long)getpid(), ++seq, unique_host());
}

/* Sync the directory holding path (path ends in '/': its parent). */
static void sync_parent(const char *dir)
{
    char parent[STORAGE_PATH_MAX];
    str_copy(parent, dir, sizeof(parent));
    size_t n = strlen(parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        str_copy(parent, ".", sizeof(parent));
    else
        slash[slash == parent ? 1 : 0] = '\0';
    fsync_dir(parent);
}

/*
 * Create dir (ending in '/') and its tmp/new/cur (mode 0700) when missing;
 * a folder also gets its "maildirfolder" file. New directories are synced
 * into their parents, so a message saved into them is durable.
 */
static int maildir_make(const char *dir, int folder)
{
    static const char *const sub[] = {"tmp", "new", "cur"};
    int made = 0;
    for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
        char path[STORAGE_PATH_MAX];
        if (str_fmt(path, sizeof(path), "%s%s", dir, sub[i]) < 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (mkdir(path, 0700) == 0) {
            made = made ? made : 1;
            continue;
        }
        if (errno == EEXIST)
            continue;
        if (errno != ENOENT || mkdir_p(path, 0700) < 0)
            return -1;
        made = 2;                      /* the Maildir itself is new */
    }
    if (folder) {
        char path[STORAGE_PATH_MAX];
        str_fmt(path, sizeof(path), "%smaildirfolder", dir);
        int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
            return -1;
        close(fd);
    }
    if (made && fsync_dir(dir) < 0)
        return -1;
    if (made == 2)
        sync_parent(dir);
    return 0;
}

/* maildir_make() with the warning and error of a failure. */
static int make_or_fail(struct mailbox *box, int folder, struct storage_error *err)
{
    if (maildir_make(box->path, folder) == 0)
        return 0;
    int e = errno;
    storage_warn(box, "maildir access problem for UID/GID=%lu/%lu: %s", (unsigned long)geteuid(),
                 (unsigned long)getegid(), strerror(e));
    storage_fail(err, e, "4.2.0", "create maildir");
    return -1;
}

/* Maildir++ folder names: no '/', no empty, "." or ".." component. */
static int folder_ok(const char *folder)
{
    size_t n = strlen(folder);
    if (n == 0 || n > STORAGE_FOLDER_MAX || folder[0] == '.' || folder[n - 1] == '.' ||
        strchr(folder, '/') || strstr(folder, ".."))
        return 0;
    for (const char *p = folder; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int maildir_open(struct mailbox *box, const char *folder, int flags,
                        struct storage_error *err)
{
    const char *base = box->loc.path;
    size_t n = strlen(base);
    const char *slash = n > 0 && base[n - 1] == '/' ? "" : "/";
    if (folder && !folder_ok(folder)) {
        storage_failf(err, EINVAL, "5.2.0", "invalid folder name");
        return -1;
    }
    str_copy(box->folder, folder ? folder : "", sizeof(box->folder));
    if (str_fmt(box->path, sizeof(box->path), "%s%s%s%s%s", base, slash, folder ? "." : "",
                folder ? folder : "", folder ? "/" : "") < 0) {
        storage_fail(err, ENAMETOOLONG, "4.2.0", "open maildir");
        return -1;
    }
    box->fd = open(box->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (box->fd < 0 && (flags & STORAGE_OPEN_CREATE)) {
        if (make_or_fail(box, folder != NULL, err) < 0)
            return -1;
        box->fd = open(box->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (box->fd < 0) {
        storage_fail(err, errno, "4.2.0", "open maildir");
        return -1;
    }
    return 0;
}

static void maildir_close(struct mailbox *box)
{
    if (box->fd >= 0)
        close(box->fd);
    box->fd = -1;
}

static int maildir_begin(struct storage_save *s, struct storage_error *err)
{
    struct mailbox *box = s->box;
    int made = 0;
    for (int tries = 0; tries < 5 && s->fd < 0; tries++) {
        storage_maildir_unique(s->unique, sizeof(s->unique));
        if (s->o.size >= 0)
            str_fmt(s->tmpname, sizeof(s->tmpname), "tmp/%s,S=%lld", s->unique, s->o.size);
        else
            str_fmt(s->tmpname, sizeof(s->tmpname), "tmp/%s", s->unique);
        s->fd = openat(box->fd, s->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0600);
        if (s->fd < 0 && errno == ENOENT && !made) {
            made = 1;                      /* tmp/ is missing: make the Maildir's directories */
            if (make_or_fail(box, 0, err) < 0)
                return -1;
            tries--;
            continue;
        }
        if (s->fd < 0 && errno != EEXIST)
            break;
    }
    if (s->fd < 0) {
        char what[STORAGE_PATH_MAX + 1200];
        str_fmt(what, sizeof(what), "create maildir file %s%s", box->path, s->tmpname);
        storage_fail(err, errno, "4.2.0", what);
        return -1;
    }
    return 0;
}

static int maildir_write(struct storage_save *s, const char *data, size_t len,
                         struct storage_error *err)
{
    long long limit = s->box->loc.limit;
    s->in_bytes += (long long)len;
    if (limit > 0 && s->in_bytes > limit) {
        storage_fail(err, EFBIG, "4.3.0", "error writing message");
        return -1;
    }
    if (storage_write_all(s->fd, data, len) < 0) {
        storage_fail(err, errno, "4.3.0", "error writing message");
        return -1;
    }
    s->out_bytes += (long long)len;
    return 0;
}

static void maildir_abort(struct storage_save *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    unlinkat(s->box->fd, s->tmpname, 0);
}

/* ":2,<letters>" of the flags, in ASCII order as Maildir readers expect. */
static void info_part(unsigned flags, char *out, size_t outlen)
{
    static const struct { unsigned bit; char c; } map[] = {
        {STORAGE_FLAG_DRAFT, 'D'}, {STORAGE_FLAG_FLAGGED, 'F'}, {STORAGE_FLAG_ANSWERED, 'R'},
        {STORAGE_FLAG_SEEN, 'S'},  {STORAGE_FLAG_DELETED, 'T'},
    };
    size_t o = 0;
    out[0] = '\0';
    if (!flags || outlen < 4 + ARRAY_LEN(map))
        return;
    memcpy(out, ":2,", 3);
    o = 3;
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (flags & map[i].bit)
            out[o++] = map[i].c;
    out[o] = '\0';
}

/* Link (or rename) tmp/ into new/ or cur/, making missing directories once. */
static int move_in(struct storage_save *s, const char *finalname)
{
    int dfd = s->box->fd;
    for (int tries = 0;; tries++) {
        if (linkat(dfd, s->tmpname, dfd, finalname, 0) == 0) {
            unlinkat(dfd, s->tmpname, 0);
            return 0;
        }
        /* filesystems without hard links: rename is just as atomic */
        if ((errno == EPERM || errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP) &&
            renameat(dfd, s->tmpname, dfd, finalname) == 0)
            return 0;
        if (errno != ENOENT || tries > 0 || maildir_make(s->box->path, 0) < 0)
            return -1;
    }
}

static int maildir_finish(struct storage_save *s, char *id, size_t idlen,
                          struct storage_error *err)
{
    struct mailbox *box = s->box;
    int rc = fdatasync(s->fd);
    int e = errno;
    if (close(s->fd) < 0 && rc == 0) {
        rc = -1;
        e = errno;
    }
    s->fd = -1;
    if (rc < 0) {
        unlinkat(box->fd, s->tmpname, 0);
        storage_fail(err, e, "4.3.0", "error writing message");
        return -1;
    }
    const char *sub = s->o.flags ? "cur" : "new";
    char info[16], name[STORAGE_UNIQUE_MAX + 64], finalname[STORAGE_UNIQUE_MAX + 80];
    info_part(s->o.flags, info, sizeof(info));
    str_fmt(name, sizeof(name), "%s,S=%lld%s", s->unique, s->out_bytes, info);
    str_fmt(finalname, sizeof(finalname), "%s/%s", sub, name);
    if (move_in(s, finalname) < 0) {
        e = errno;
        unlinkat(box->fd, s->tmpname, 0);
        char what[64];
        str_fmt(what, sizeof(what), "move message into %s/", sub);
        storage_fail(err, e, "4.2.0", what);
        return -1;
    }
    int nfd = openat(box->fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (nfd < 0 || fsync(nfd) < 0) {
        e = errno;
        /* not known to be durable: take it back, the caller tries again later */
        unlinkat(box->fd, finalname, 0);
        if (nfd >= 0)
            close(nfd);
        char what[64];
        str_fmt(what, sizeof(what), "sync maildir %s/", sub);
        storage_fail(err, e, "4.3.0", what);
        return -1;
    }
    close(nfd);
    str_copy(id, name, idlen);
    /* Maildir++ quota: the file's size, as S= says and a recalculation counts */
    mquota_note(box->loc.path, box->folder[0] ? box->folder : "INBOX", box->loc.quota,
                s->out_bytes, 1);
    return 0;
}

const struct storage_ops storage_maildir_ops = {
    .open = maildir_open,
    .close = maildir_close,
    .begin = maildir_begin,
    .write = maildir_write,
    .finish = maildir_finish,
    .abort = maildir_abort,
};
