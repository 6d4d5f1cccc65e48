/*
 * store.c - a delivery into a Maildir or an mbox file, through
 * lib-storage: the agent's side of it.
 *
 * Owns: the privileges around the write (the mailbox owner, or for the
 * shared spool directory the owner with the directory's group, or root
 * handing a new file to the owner), the message stream of copy.c as the
 * storage's source, and the storage's errors turned into the status
 * texts local(8) and virtual(8) have always answered:
 * "maildir delivery failed: ...", "cannot update mailbox X for user Y. ...",
 * "cannot append message to file X: ...", "error reading queue file: ...".
 */
#include "deliver/agent.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-storage/quota.h"
#include "lib-storage/storage.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>

static ssize_t stream_read(void *ms, char *buf, size_t cap)
{
    return deliver_msgstream_read(ms, buf, cap);
}

/* Save the stream into box. 0, or -1 with err filled (nothing left behind). */
static int save_stream(struct delivery *d, struct mailbox *box, struct msgstream *ms,
                       struct storage_error *err)
{
    struct storage_save_opts so = {.sender = d->req->sender, .received = deliver_arrival(d),
                                   .size = (long long)deliver_msgstream_size(ms)};
    struct storage_save *s = storage_save_begin(box, &so, err);
    if (!s)
        return -1;
    if (storage_save_stream(s, stream_read, ms, err) < 0) {
        storage_save_abort(s);
        return -1;
    }
    char id[1024];
    return storage_save_finish(s, id, sizeof(id), err);
}

/* The queue file could not be read: the agent's own text, not the mailbox's. */
static void read_failed(struct delivery *d, int idx, const struct storage_error *err,
                        struct dstatus *st)
{
    msg_warn("%s: error reading queue file %s: %s", d->req->qid, d->req->path,
             strerror(err->err));
    dstatus_set(st, idx, "4.3.0", "error reading queue file: %s", strerror(err->err));
}

static void location_init(struct storage_location *loc, const struct delivery *d,
                          const struct store_target *t, enum storage_format format)
{
    const struct agent *a = d->a;
    memset(loc, 0, sizeof(*loc));
    loc->format = format;
    loc->path = t->path;
    loc->log_id = d->req->qid;
    loc->limit = t->limit;
    loc->uid = t->uid;
    loc->gid = t->gid;
    loc->locks = t->locks;
    loc->lock_attempts = a->lock_attempts;
    loc->lock_delay_ms = a->lock_delay_ms;
    loc->stale_lock_time = a->stale_lock_time;
    if (t->strict_owner && !a->single_user)
        loc->flags |= STORAGE_LOC_STRICT_OWNER;
}

/* ---- Maildir ---- */

/* The Maildir++ quota (read as the owner): would this message go over? */
static int over_quota(const struct store_target *t, long long size)
{
    struct mquota q;
    if (mquota_get(t->path, t->quota, &q) != 0)
        return 0;                      /* no quota, or no Maildir yet */
    return mquota_over(&q, t->quota, "INBOX", size);
}

static void maildir_store(struct delivery *d, int idx, const struct store_target *t,
                          struct msgstream *ms, struct dstatus *st)
{
    struct storage_location loc;
    struct storage_error err;
    location_init(&loc, d, t, STORAGE_MAILDIR);
    if (t->quota && over_quota(t, (long long)deliver_msgstream_size(ms))) {
        dstatus_set(st, idx, t->quota_bounce ? "5.2.2" : "4.2.2", "%s", t->quota_text);
        return;
    }
    if (t->limit > 0 && (long long)deliver_msgstream_size(ms) > t->limit) {
        /* too big for the mailbox: said before anything is created */
        dstatus_set(st, idx, storage_errno_dsn(EFBIG, "5.2.2"),
                    "maildir delivery failed: error writing message: %s", strerror(EFBIG));
        return;
    }
    loc.quota = t->quota;
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    int rc = box ? save_stream(d, box, ms, &err) : -1;
    mailbox_close(box);
    if (rc == 0)
        dstatus_set(st, idx, "2.0.0", "delivered to maildir");
    else if (err.source)
        read_failed(d, idx, &err, st);
    else
        dstatus_set(st, idx, err.dsn, "maildir delivery failed: %s", err.text);
}

/* ---- mbox ---- */

static void mbox_fail(struct dstatus *st, int idx, const struct store_target *t, const char *dsn,
                      const char *reason)
{
    if (t->is_file)
        dstatus_set(st, idx, dsn, "cannot append message to file %s: %s", t->path, reason);
    else
        dstatus_set(st, idx, dsn, "cannot update mailbox %s for user %s. %s", t->path, t->user,
                    reason);
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

/*
 * A mailbox is created and locked by its owner. The one exception is the
 * shared spool directory (mail_spool_directory, e.g. /var/mail, root:mail
 * 2775): the owner gets the directory's group as a supplementary group
 * while delivering so it can create its mailbox and lock file there; when
 * even that cannot work (a root-only directory), the mailbox is created by
 * root and handed to the owner with fchown(), as Postfix does.
 */
static void mbox_store(struct delivery *d, int idx, const struct store_target *t,
                       struct msgstream *ms, struct dstatus *st)
{
    const struct agent *a = d->a;
    struct storage_location loc;
    struct storage_error err;
    location_init(&loc, d, t, STORAGE_MBOX);
    gid_t extra_gid = (gid_t)-1;
    int as_root = t->spool && !a->single_user &&
                  !dir_writable_by(t->path, t->uid, t->gid, &extra_gid);
    if (as_root)
        loc.flags |= STORAGE_LOC_CHOWN_NEW;
    else if (deliver_become(d, t->uid, t->gid, extra_gid) < 0) {
        mbox_fail(st, idx, t, "4.3.0", "cannot switch to the mailbox owner");
        return;
    }
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    int rc = box ? save_stream(d, box, ms, &err) : -1;
    mailbox_close(box);                /* releases the locks */
    if (!as_root)
        deliver_priv_restore(a);
    if (rc == 0 && t->is_file)
        dstatus_set(st, idx, "2.0.0", "delivered to file: %s", t->path);
    else if (rc == 0)
        dstatus_set(st, idx, "2.0.0", "delivered to mailbox");
    else if (err.source)
        read_failed(d, idx, &err, st);
    else
        mbox_fail(st, idx, t, err.dsn, err.text);
}

void deliver_agent_store(struct delivery *d, int idx, const struct store_target *t,
                 const struct copy_opts *o, struct dstatus *st)
{
    struct msgstream *ms = deliver_msgstream_open(d, o);
    if (storage_format_of(t->path) == STORAGE_MBOX) {
        mbox_store(d, idx, t, ms, st);
    } else if (deliver_become(d, t->uid, t->gid, (gid_t)-1) < 0) {
        dstatus_set(st, idx, "4.3.0", "cannot switch to uid/gid %ld/%ld", (long)t->uid,
                    (long)t->gid);
    } else {
        maildir_store(d, idx, t, ms, st);
        deliver_priv_restore(d->a);
    }
    deliver_msgstream_close(ms);
}
