/*
 * storage.c - the format-independent half of lib-storage: opening and
 * closing a mailbox through its format's operations, the save object's
 * life (begin, write or stream, finish or abort), the size limit, and
 * the error convention (errno, enhanced status code, text).
 */
#include "lib-storage/storage_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static storage_write_fn *write_hook;

void storage_set_write_hook(storage_write_fn *fn)
{
    write_hook = fn;
}

int storage_write_all(int fd, const void *buf, size_t len)
{
    if (!write_hook)
        return write_all(fd, buf, len) < 0 ? -1 : 0;
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write_hook(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

const char *storage_errno_dsn(int err, const char *def)
{
    if (err == EDQUOT || err == EFBIG)
        return "5.2.2";                /* over quota or size limit: bounce, as Postfix */
    if (err == ENOSPC || err == EIO)
        return "4.3.0";                /* the system, not the mailbox: try again later */
    return def;
}

int storage_error_temporary(const struct storage_error *e)
{
    return e->dsn[0] != '5';
}

enum storage_format storage_format_of(const char *path)
{
    size_t n = strlen(path);
    return n > 0 && path[n - 1] == '/' ? STORAGE_MAILDIR : STORAGE_MBOX;
}

void storage_failf(struct storage_error *e, int err_no, const char *dsn, const char *fmt, ...)
{
    e->err = err_no;
    e->source = 0;
    str_copy(e->dsn, dsn, sizeof(e->dsn));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof(e->text), fmt, ap);
    va_end(ap);
}

void storage_fail(struct storage_error *e, int err_no, const char *def, const char *what)
{
    storage_failf(e, err_no, storage_errno_dsn(err_no, def), "%s: %s", what, strerror(err_no));
}

void storage_warn(const struct mailbox *box, const char *fmt, ...)
{
    char text[STORAGE_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    const char *id = box->loc.log_id;
    msg_warn("%s%s%s", id ? id : "", id ? ": " : "", text);
}

/* ---- mailboxes ---- */

struct mailbox *mailbox_open(const struct storage_location *loc, const char *folder, int flags,
                             struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    struct mailbox *box = xmalloc(sizeof(*box));
    memset(box, 0, sizeof(*box));
    box->loc = *loc;
    box->fd = -1;
    /* a copy: IMAP's append box outlives the caller's buffer (mview_append_begin) */
    if (str_copy(box->root, loc->path, sizeof(box->root)) >= sizeof(box->root)) {
        storage_fail(err, ENAMETOOLONG, "4.2.0", "open mailbox");
        free(box);
        return NULL;
    }
    box->loc.path = box->root;
    box->ops = loc->format == STORAGE_MAILDIR ? &storage_maildir_ops : &storage_mbox_ops;
    if (box->loc.lock_attempts < 1)
        box->loc.lock_attempts = 1;
    if (box->ops->open(box, folder && *folder ? folder : NULL, flags, err) < 0) {
        box->ops->close(box);
        free(box);
        return NULL;
    }
    return box;
}

void mailbox_close(struct mailbox *box)
{
    if (!box)
        return;
    INVARIANT(!box->saving);
    box->ops->close(box);
    free(box);
}

/* ---- saving ---- */

struct storage_save *storage_save_begin(struct mailbox *box, const struct storage_save_opts *o,
                                        struct storage_error *err)
{
    INVARIANT(!box->saving);
    memset(err, 0, sizeof(*err));
    struct storage_save *s = xmalloc(sizeof(*s));
    memset(s, 0, sizeof(*s));
    s->bol = 1;
    s->last = '\n';
    s->box = box;
    s->o = *o;
    s->fd = -1;
    if (s->o.received <= 0)
        s->o.received = time(NULL);
    if (!s->o.sender)
        s->o.sender = "";
    if (box->ops->begin(s, err) < 0) {
        free(s->out);
        free(s);
        return NULL;
    }
    box->saving = 1;
    return s;
}

int storage_save_write(struct storage_save *s, const void *data, size_t len,
                       struct storage_error *err)
{
    return s->box->ops->write(s, data, len, err);
}

int storage_save_stream(struct storage_save *s, storage_read_fn *read, void *ctx,
                        struct storage_error *err)
{
    char *buf = xmalloc(STORAGE_CHUNK);
    int rc = 0;
    for (;;) {
        ssize_t n = read(ctx, buf, STORAGE_CHUNK);
        if (n < 0) {
            storage_fail(err, errno, "4.3.0", "error reading message");
            err->source = 1;
            rc = -1;
            break;
        }
        if (n == 0 || (rc = storage_save_write(s, buf, (size_t)n, err)) < 0)
            break;
    }
    free(buf);
    return rc;
}

int storage_save_finish(struct storage_save *s, char *id, size_t idlen, struct storage_error *err)
{
    struct mailbox *box = s->box;
    INVARIANT(box->saving);
    int rc = box->ops->finish(s, id, idlen, err);
    box->saving = 0;
    free(s->out);
    free(s);
    return rc;
}

void storage_save_abort(struct storage_save *s)
{
    if (!s)
        return;
    struct mailbox *box = s->box;
    INVARIANT(box->saving);
    box->ops->abort(s);
    box->saving = 0;
    free(s->out);
    free(s);
}
