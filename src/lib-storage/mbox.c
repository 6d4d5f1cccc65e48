/*
 * mbox.c - UNIX mailbox files (mbox) and their locking.
 *
 * mailbox_open() takes the configured locks (dotlock "<path>.lock",
 * fcntl, flock: virtual_mailbox_lock / mailbox_delivery_lock, retried
 * lock_attempts times lock_delay_ms apart; a dotlock older than
 * stale_lock_time is removed), opens or creates the file without
 * following a symlink, and checks that it is a regular file with one
 * link (and, when asked, owned by the mailbox owner). A save appends
 * "From <sender> <date>", the message with ">From " quoting of body
 * lines that start with "From ", a final newline when missing and an
 * empty line, then fdatasync()s; a failure or an abort truncates the file
 * back to its length before the save. mailbox_close() releases the locks.
 */
#include "lib-storage/storage_int.h"
#include "lib-mail/addr.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- locks ---- */

static int dotlock_acquire(struct mailbox *box, struct storage_error *err)
{
    const struct storage_location *loc = &box->loc;
    char lock[STORAGE_PATH_MAX + 8];
    if (str_fmt(lock, sizeof(lock), "%s.lock", box->path) < 0) {
        storage_failf(err, ENAMETOOLONG, "4.2.0", "unable to create lock file %s.lock: %s",
                      box->path, strerror(ENAMETOOLONG));
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            box->dotlocked = 1;
            return 0;
        }
        int e = errno;
        if (e == EEXIST) {
            struct stat sb;
            if (lstat(lock, &sb) == 0 && time(NULL) - sb.st_mtime > loc->stale_lock_time) {
                storage_warn(box, "removing stale lock file %s", lock);
                if (unlink(lock) == 0)
                    continue;
            }
        }
        if (e != EEXIST || attempt + 1 >= loc->lock_attempts) {
            storage_failf(err, e, "4.2.0", "unable to create lock file %s: %s", lock, strerror(e));
            return -1;
        }
        sleep_ms(loc->lock_delay_ms);
    }
}

static void mstore_dotlock_release(struct mailbox *box)
{
    char lock[STORAGE_PATH_MAX + 8];
    if (box->dotlocked && str_fmt(lock, sizeof(lock), "%s.lock", box->path) == 0)
        unlink(lock);
    box->dotlocked = 0;
}

/* fcntl and/or flock exclusive locks, retried lock_attempts times. */
static int kernel_locks(const struct mailbox *box, struct storage_error *err)
{
    const struct storage_location *loc = &box->loc;
    for (int attempt = 0;; attempt++) {
        int busy = 0, e = 0;
        if (loc->locks & MBOX_LOCK_FCNTL) {
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            if (fcntl(box->fd, F_SETLK, &fl) < 0) {
                e = errno;
                busy = e == EAGAIN || e == EACCES;
            }
        }
        if (!e && (loc->locks & MBOX_LOCK_FLOCK) && flock(box->fd, LOCK_EX | LOCK_NB) < 0) {
            e = errno;
            busy = e == EWOULDBLOCK;
            if (loc->locks & MBOX_LOCK_FCNTL) {
                struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
                fcntl(box->fd, F_SETLK, &fl);
            }
        }
        if (!e)
            return 0;
        if (!busy || attempt + 1 >= loc->lock_attempts) {
            storage_failf(err, e, "4.2.0", "unable to lock for exclusive access: %s", strerror(e));
            return -1;
        }
        sleep_ms(loc->lock_delay_ms);
    }
}

/* ---- the file ---- */

/* Open (or create) the file; a new file may be handed to the owner. */
static int open_file(struct mailbox *box, int flags, struct storage_error *err)
{
    const struct storage_location *loc = &box->loc;
    int created = 0;
    box->fd = open(box->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (box->fd < 0 && errno == ENOENT && (flags & STORAGE_OPEN_CREATE)) {
        box->fd = open(box->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC |
                                      O_NOCTTY, 0600);
        created = box->fd >= 0;
    }
    if (box->fd < 0) {
        storage_fail(err, errno, "4.2.0", "cannot open file");
        return -1;
    }
    if (created && (loc->flags & STORAGE_LOC_CHOWN_NEW) && fchown(box->fd, loc->uid, loc->gid) < 0) {
        int e = errno;
        storage_failf(err, e, "4.2.0", "cannot set mailbox owner: %s", strerror(e));
        unlink(box->path);
        return -1;
    }
    return 0;
}

static int mbox_open(struct mailbox *box, const char *folder, int flags, struct storage_error *err)
{
    const struct storage_location *loc = &box->loc;
    if (folder) {
        storage_failf(err, ENOTDIR, "5.2.0", "an mbox file has no folders");
        return -1;
    }
    if (str_fmt(box->path, sizeof(box->path), "%s", loc->path) < 0) {
        storage_fail(err, ENAMETOOLONG, "4.2.0", "cannot open file");
        return -1;
    }
    if ((loc->locks & MBOX_LOCK_DOTLOCK) && dotlock_acquire(box, err) < 0)
        return -1;
    if (open_file(box, flags, err) < 0)
        return -1;
    struct stat sb;
    if (fstat(box->fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        storage_failf(err, EPERM, "4.2.0", "destination is not a regular file with one link");
        return -1;
    }
    if ((loc->flags & STORAGE_LOC_STRICT_OWNER) && sb.st_uid != loc->uid) {
        storage_warn(box, "file %s has bad owner uid %ld", box->path, (long)sb.st_uid);
        storage_failf(err, EPERM, "4.2.0", "file has bad owner uid %ld", (long)sb.st_uid);
        return -1;
    }
    if (kernel_locks(box, err) < 0)
        return -1;
    box->end = lseek(box->fd, 0, SEEK_END);
    if (box->end < 0) {
        storage_failf(err, errno, "4.2.0", "cannot seek: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void mbox_close(struct mailbox *box)
{
    if (box->fd >= 0)
        close(box->fd);               /* releases fcntl/flock locks */
    box->fd = -1;
    mstore_dotlock_release(box);
}

/* ---- saving ---- */

static int flush_out(struct storage_save *s, struct storage_error *err)
{
    if (s->outlen > 0 && storage_write_all(s->fd, s->out, s->outlen) < 0) {
        storage_fail(err, errno, "4.3.0", "error writing message");
        return -1;
    }
    s->out_bytes += (long long)s->outlen;
    s->outlen = 0;
    return 0;
}

static int put(struct storage_save *s, const char *p, size_t n, struct storage_error *err)
{
    if (n == 0)
        return 0;
    s->last = p[n - 1];
    while (n > 0) {
        if (s->outlen == STORAGE_CHUNK && flush_out(s, err) < 0)
            return -1;
        size_t k = STORAGE_CHUNK - s->outlen;
        if (k > n)
            k = n;
        memcpy(s->out + s->outlen, p, k);
        s->outlen += k;
        p += k;
        n -= k;
    }
    return 0;
}

/* Would the file grow beyond the limit with `bytes` of message? */
static int over_limit(const struct storage_save *s, long long bytes)
{
    long long limit = s->box->loc.limit;
    /* the "From " line and final empty line cost a little more than the message */
    return limit > 0 && (long long)s->box->end + s->from_len + bytes + 2 > limit;
}

static int mbox_begin(struct storage_save *s, struct storage_error *err)
{
    char date[64];
    struct tm tm;
    localtime_r(&s->o.received, &tm);
    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    char *sender = *s->o.sender ? addr_external_dup(s->o.sender) : xstrdup("MAILER-DAEMON");
    char *line = xasprintf("From %s %s\n", sender, date);
    free(sender);
    s->from_len = (long long)strlen(line);
    if (s->o.size >= 0 && over_limit(s, s->o.size)) {
        free(line);
        storage_fail(err, EFBIG, "4.3.0", "error writing message");
        return -1;
    }
    s->fd = s->box->fd;
    s->out = xmalloc(STORAGE_CHUNK);
    int rc = put(s, line, strlen(line), err);
    free(line);
    return rc;
}

static int mbox_write(struct storage_save *s, const char *data, size_t len,
                      struct storage_error *err)
{
    static const char from[] = "From ";
    s->in_bytes += (long long)len;
    if (over_limit(s, s->in_bytes)) {
        storage_fail(err, EFBIG, "4.3.0", "error writing message");
        return -1;
    }
    const char *p = data, *end = data + len;
    while (p < end) {
        if (s->bol) {
            /* a line start: hold back what may be "From " until it is decided */
            while (p < end && s->nheld < 5 && *p == from[s->nheld])
                s->held[s->nheld++] = *p++;
            if (s->nheld < 5 && p == end)
                break;
            if (s->nheld == 5 && put(s, ">", 1, err) < 0)
                return -1;
            if (put(s, s->held, s->nheld, err) < 0)
                return -1;
            s->nheld = 0;
            s->bol = 0;
            continue;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (put(s, p, n, err) < 0)
            return -1;
        p += n;
        s->bol = nl != NULL;
    }
    return 0;
}

static void truncate_back(struct storage_save *s)
{
    struct mailbox *box = s->box;
    if (ftruncate(box->fd, box->end) < 0)
        storage_warn(box, "cannot truncate %s back to %lld bytes: %s", box->path,
                     (long long)box->end, strerror(errno));
}

static void mbox_abort(struct storage_save *s)
{
    truncate_back(s);
}

static int mbox_finish(struct storage_save *s, char *id, size_t idlen, struct storage_error *err)
{
    struct mailbox *box = s->box;
    int rc = put(s, s->held, s->nheld, err);     /* a last line shorter than "From " */
    s->nheld = 0;
    if (rc == 0 && s->last != '\n')
        rc = put(s, "\n", 1, err);
    if (rc == 0)
        rc = put(s, "\n", 1, err);
    if (rc == 0)
        rc = flush_out(s, err);
    if (rc == 0 && fdatasync(box->fd) < 0) {
        storage_fail(err, errno, "4.3.0", "error writing message");
        rc = -1;
    }
    if (rc < 0) {
        int e = errno;
        truncate_back(s);
        errno = e;
        return -1;
    }
    str_fmt(id, idlen, "mbox:%lld", (long long)box->end);
    box->end += (off_t)s->out_bytes;
    return 0;
}

const struct storage_ops storage_mbox_ops = {
    .open = mbox_open,
    .close = mbox_close,
    .begin = mbox_begin,
    .write = mbox_write,
    .finish = mbox_finish,
    .abort = mbox_abort,
};
