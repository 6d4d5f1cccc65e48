/*
 * mbox.c - UNIX mailbox (mbox) delivery and mailbox locking.
 *
 * Appends "From " line + prepended headers + the message with ">From "
 * quoting + an empty line, under the configured locks (fcntl, flock,
 * dotlock: virtual_mailbox_lock / mailbox_delivery_lock), fsyncs, and on
 * any failure truncates the mailbox back to its original length.
 *
 * Privileges: a mailbox is created and locked by its owner. The one
 * exception is the shared spool directory (mail_spool_directory, e.g.
 * /var/mail, root:mail 2775): the owner gets the directory's group as a
 * supplementary group while delivering so it can create its mailbox and
 * lock file there; when even that cannot work (a root-only directory),
 * the mailbox is created by root and handed to the owner with fchown(),
 * as Postfix does.
 */
#include "deliver/agent.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
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

int dotlock_acquire(const struct delivery *d, const char *path, char *why, size_t whylen)
{
    const struct agent *a = d->a;
    char lock[4096];
    if (str_fmt(lock, sizeof(lock), "%s.lock", path) < 0) {
        str_fmt(why, whylen, "unable to create lock file %s.lock: %s", path, strerror(ENAMETOOLONG));
        return -1;
    }
    for (int attempt = 0;; attempt++) {
        int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        int err = errno;
        if (err == EEXIST) {
            struct stat sb;
            if (lstat(lock, &sb) == 0 && time(NULL) - sb.st_mtime > a->stale_lock_time) {
                msg_warn("%s: removing stale lock file %s", d->req->qid, lock);
                if (unlink(lock) == 0)
                    continue;
            }
        }
        if (err != EEXIST || attempt + 1 >= a->lock_attempts) {
            str_fmt(why, whylen, "unable to create lock file %s: %s", lock, strerror(err));
            return -1;
        }
        sleep_ms(a->lock_delay_ms);
    }
}

void dotlock_release(const char *path)
{
    char lock[4096];
    if (str_fmt(lock, sizeof(lock), "%s.lock", path) == 0)
        unlink(lock);
}

/* fcntl and/or flock exclusive locks, retried deliver_lock_attempts times. */
static int kernel_locks(const struct agent *a, int fd, int locks, char *why, size_t whylen)
{
    for (int attempt = 0;; attempt++) {
        int busy = 0, err = 0;
        if (locks & MBOX_LOCK_FCNTL) {
            struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
            if (fcntl(fd, F_SETLK, &fl) < 0) {
                err = errno;
                busy = err == EAGAIN || err == EACCES;
            }
        }
        if (!err && (locks & MBOX_LOCK_FLOCK) && flock(fd, LOCK_EX | LOCK_NB) < 0) {
            err = errno;
            busy = err == EWOULDBLOCK;
            if (locks & MBOX_LOCK_FCNTL) {
                struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET};
                fcntl(fd, F_SETLK, &fl);
            }
        }
        if (!err)
            return 0;
        if (!busy || attempt + 1 >= a->lock_attempts) {
            str_fmt(why, whylen, "unable to lock for exclusive access: %s", strerror(err));
            return -1;
        }
        sleep_ms(a->lock_delay_ms);
    }
}

/* May uid (with gid, or the directory's group) create files in dir? Sets *extra_gid. */
static int dir_writable_by(const char *path, uid_t uid, gid_t gid, gid_t *extra_gid)
{
    char copy[4096];
    str_copy(copy, path, sizeof(copy));
    struct stat sb;
    *extra_gid = (gid_t)-1;
    if (stat(dirname(copy), &sb) < 0)
        return 0;
    if ((sb.st_mode & S_IWOTH) || (sb.st_uid == uid && (sb.st_mode & S_IWUSR)))
        return 1;
    if (sb.st_mode & S_IWGRP) {
        if (sb.st_gid != gid)
            *extra_gid = sb.st_gid;
        return 1;
    }
    return 0;
}

static void mbox_fail(struct dstatus *st, int idx, const struct mbox_target *t, const char *dsn,
                      const char *reason)
{
    if (t->is_file)
        dstatus_set(st, idx, dsn, "cannot append message to file %s: %s", t->path, reason);
    else
        dstatus_set(st, idx, dsn, "cannot update mailbox %s for user %s. %s", t->path, t->user,
                    reason);
}

void mbox_deliver(struct delivery *d, int idx, const struct mbox_target *t,
                  const struct copy_opts *o, struct dstatus *st)
{
    const struct agent *a = d->a;
    char why[4400];
    gid_t extra_gid = (gid_t)-1;
    int as_root = 0;
    if (t->spool && !a->single_user && !dir_writable_by(t->path, t->uid, t->gid, &extra_gid))
        as_root = 1;
    if (!as_root && delivery_become(d, t->uid, t->gid, extra_gid) < 0) {
        mbox_fail(st, idx, t, "4.3.0", "cannot switch to the mailbox owner");
        return;
    }
    int locked_dot = 0, fd = -1;
    if (t->locks & MBOX_LOCK_DOTLOCK) {
        if (dotlock_acquire(d, t->path, why, sizeof(why)) < 0) {
            mbox_fail(st, idx, t, "4.2.0", why);
            goto out;
        }
        locked_dot = 1;
    }
    int created = 0;
    fd = open(t->path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && errno == ENOENT) {
        fd = open(t->path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                  0600);
        created = fd >= 0;
    }
    if (fd < 0) {
        int err = errno;
        str_fmt(why, sizeof(why), "cannot open file: %s", strerror(err));
        mbox_fail(st, idx, t, errno_dsn(err, err == ENOSPC ? "4.3.0" : "4.2.0"), why);
        goto out;
    }
    if (created && as_root && fchown(fd, t->uid, t->gid) < 0) {
        str_fmt(why, sizeof(why), "cannot set mailbox owner: %s", strerror(errno));
        unlink(t->path);
        mbox_fail(st, idx, t, "4.2.0", why);
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
        mbox_fail(st, idx, t, "4.2.0", "destination is not a regular file with one link");
        goto out;
    }
    if (t->strict_owner && !a->single_user && sb.st_uid != t->uid) {
        msg_warn("%s: file %s has bad owner uid %ld", d->req->qid, t->path, (long)sb.st_uid);
        str_fmt(why, sizeof(why), "file has bad owner uid %ld", (long)sb.st_uid);
        mbox_fail(st, idx, t, "4.2.0", why);
        goto out;
    }
    if (kernel_locks(a, fd, t->locks, why, sizeof(why)) < 0) {
        mbox_fail(st, idx, t, "4.2.0", why);
        goto out;
    }
    off_t orig = lseek(fd, 0, SEEK_END);
    if (orig < 0) {
        str_fmt(why, sizeof(why), "cannot seek: %s", strerror(errno));
        mbox_fail(st, idx, t, "4.2.0", why);
        goto out;
    }
    /* the "From " line and final empty line cost a little more than the stream size */
    if (t->limit > 0 && (long long)orig + (long long)copy_output_size(d, o) + 2 > t->limit) {
        str_fmt(why, sizeof(why), "error writing message: %s", strerror(EFBIG));
        mbox_fail(st, idx, t, "5.2.2", why);
        goto out;
    }
    int read_error = 0;
    int rc = copy_to_fd(d, o, fd, &read_error);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -1;
    if (rc < 0) {
        int err = errno;
        if (ftruncate(fd, orig) < 0)
            msg_warn("%s: cannot truncate %s back to %lld bytes: %s", d->req->qid, t->path,
                     (long long)orig, strerror(errno));
        if (read_error) {
            msg_warn("%s: error reading queue file %s: %s", d->req->qid, d->req->path,
                     strerror(err));
            dstatus_set(st, idx, "4.3.0", "error reading queue file: %s", strerror(err));
        } else {
            str_fmt(why, sizeof(why), "error writing message: %s", strerror(err));
            mbox_fail(st, idx, t, errno_dsn(err, "4.3.0"), why);
        }
        goto out;
    }
    if (t->is_file)
        dstatus_set(st, idx, "2.0.0", "delivered to file: %s", t->path);
    else
        dstatus_set(st, idx, "2.0.0", "delivered to mailbox");
out:
    if (fd >= 0)
        close(fd);                  /* releases fcntl/flock locks */
    if (locked_dot)
        dotlock_release(t->path);
    if (!as_root)
        priv_restore(a);
}
