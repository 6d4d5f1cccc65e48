/*
 * maildir.c - Maildir delivery (the qmail convention, as Courier and
 * Dovecot read it): write tmp/<unique>, fsync it, link it into new/,
 * remove the tmp/ name, fsync new/. Only then is the message reported
 * delivered; any failure removes what was written and defers (or bounces
 * for quota/size), never dropping mail silently.
 *
 * Unique names are "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>": S= is the
 * file size, which Maildir++ quota code (maildirsize) relies on, and the
 * host name has '/' and ':' escaped as "\057" and "\072" (Dovecot's rule),
 * since ':' starts the info part of names in cur/.
 */
#include "deliver/agent.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

void maildir_unique(struct agent *a, char *out, size_t outlen)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    str_fmt(out, outlen, "%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec, (long)tv.tv_usec,
            (long)getpid(), ++a->seq, a->maildir_host);
}

/* Create dir and its tmp/new/cur (mode 0700) when missing. */
static int maildir_make(const char *dir)
{
    static const char *const sub[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
        char path[4096];
        if (str_fmt(path, sizeof(path), "%s%s", dir, sub[i]) < 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (mkdir(path, 0700) == 0 || errno == EEXIST)
            continue;
        if (errno != ENOENT || mkdir_p(path, 0700) < 0)
            return -1;
    }
    return 0;
}

static void fail(struct dstatus *st, int idx, int err, const char *def, const char *what)
{
    dstatus_set(st, idx, errno_dsn(err, def), "maildir delivery failed: %s: %s", what,
                strerror(err));
}

void maildir_deliver(struct delivery *d, int idx, const char *dir, const struct copy_opts *o,
                     long long limit, uid_t uid, gid_t gid, struct dstatus *st)
{
    struct agent *a = d->a;
    size_t size = copy_output_size(d, o);
    if (limit > 0 && (long long)size > limit) {
        fail(st, idx, EFBIG, "5.2.2", "error writing message");
        return;
    }
    if (maildir_make(dir) < 0) {
        int err = errno;
        msg_warn("%s: maildir access problem for UID/GID=%lu/%lu: %s", d->req->qid,
                 (unsigned long)uid, (unsigned long)gid, strerror(err));
        fail(st, idx, err, "4.2.0", "create maildir");
        return;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        fail(st, idx, errno, "4.2.0", "open maildir");
        return;
    }
    char unique[768], tmpname[1024], newname[1024];
    int fd = -1;
    for (int tries = 0; tries < 5 && fd < 0; tries++) {
        maildir_unique(a, unique, sizeof(unique));
        str_fmt(tmpname, sizeof(tmpname), "tmp/%s,S=%zu", unique, size);
        fd = openat(dfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        int err = errno;
        char what[1200];
        str_fmt(what, sizeof(what), "create maildir file %s%s", dir, tmpname);
        fail(st, idx, err, "4.2.0", what);
        close(dfd);
        return;
    }
    int read_error = 0;
    int rc = copy_to_fd(d, o, fd, &read_error);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -1;
    int err = errno;
    if (close(fd) < 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    if (rc < 0) {
        unlinkat(dfd, tmpname, 0);
        close(dfd);
        if (read_error) {
            msg_warn("%s: error reading queue file %s: %s", d->req->qid, d->req->path,
                     strerror(err));
            dstatus_set(st, idx, "4.3.0", "error reading queue file: %s", strerror(err));
        } else {
            fail(st, idx, err, "4.3.0", "error writing message");
        }
        return;
    }
    str_fmt(newname, sizeof(newname), "new/%s", tmpname + 4);
    if (linkat(dfd, tmpname, dfd, newname, 0) < 0) {
        /* filesystems without hard links: rename is just as atomic */
        if ((errno != EPERM && errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP) ||
            renameat(dfd, tmpname, dfd, newname) < 0) {
            err = errno;
            unlinkat(dfd, tmpname, 0);
            close(dfd);
            fail(st, idx, err, "4.2.0", "move message into new/");
            return;
        }
    } else {
        unlinkat(dfd, tmpname, 0);
    }
    int nfd = openat(dfd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (nfd < 0 || fsync(nfd) < 0) {
        err = errno;
        /* not known to be durable: take it back and let qmgr retry */
        unlinkat(dfd, newname, 0);
        if (nfd >= 0)
            close(nfd);
        close(dfd);
        fail(st, idx, err, "4.3.0", "sync maildir new/");
        return;
    }
    close(nfd);
    close(dfd);
    dstatus_set(st, idx, "2.0.0", "delivered to maildir");
}
