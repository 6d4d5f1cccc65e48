/*
 * store.c - the message into the user's Maildir (lda.h): the headers
 * delivery adds, saving into a folder through lib-storage's mailbox.h
 * (UID assigned at once, imap4flags flags and keywords), the Maildir++
 * quota, and submission of new messages (redirects, vacation replies,
 * rejection notices) to the queue through pickup.
 */
#include "lmtpd/lda.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-queue/submit.h"
#include "lib-storage/mailbox.h"
#include "lib-storage/mdeliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void lmtpd_result_set(struct lmtpd_result *r, enum lmtpd_outcome o, const char *dsn,
                      const char *fmt, ...)
{
    r->outcome = o;
    r->ereject = 0;
    str_copy(r->dsn, dsn, sizeof(r->dsn));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->text, sizeof(r->text), fmt, ap);
    va_end(ap);
}

/* ---- quota ---- */

const struct mquota_rules *lmtpd_quota_rules(const struct lmtpd_user *u)
{
    return u->have_quota || u->quota.warn_percent ? &u->quota : NULL;
}

int lmtpd_quota_exceeded(const struct lmtpd_user *u, long long size, struct lmtpd_result *r)
{
    const struct mquota_rules *rules = lmtpd_quota_rules(u);
    struct mquota q;
    if (mquota_get(u->maildir, rules, &q) != 0)
        return 0;                      /* no quota, or no Maildir yet: nothing used */
    int over = mquota_over(&q, rules, "INBOX", size);
    if (over)
        lmtpd_result_set(r, LMTPD_FAILED, "5.2.2", "Quota exceeded (mailbox for user is full)");
    return over;
}

struct qwarn {
    struct lmtpd_lda *l;
    const struct lmtpd_user *u;
};

/* The quota warning (quota_warning): one message to the user when the use crosses it. */
static void quota_warn(void *ctx, const char *root, const struct mquota *q, int percent)
{
    const struct qwarn *w = ctx;
    struct buf b;
    buf_init(&b, 0);
    mquota_warning_message(&b, w->l->postmaster, w->u->name, q, percent);
    msg_info("%s: quota warning: %d%% of the quota used, notifying <%s>", root, percent,
             w->u->name);
    lmtpd_submit(w->l, "", w->u->name, b.data, b.len, "quota");
    buf_free(&b);
}

/* ---- saving ---- */

static unsigned system_flag(const char *f)
{
    static const struct { const char *name; unsigned bit; } t[] = {
        {"\\Seen", STORAGE_FLAG_SEEN}, {"\\Answered", STORAGE_FLAG_ANSWERED},
        {"\\Flagged", STORAGE_FLAG_FLAGGED}, {"\\Deleted", STORAGE_FLAG_DELETED},
        {"\\Draft", STORAGE_FLAG_DRAFT},
    };
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        if (str_ieq(f, t[i].name))
            return t[i].bit;
    return 0;
}

static void storage_result(struct lmtpd_result *r, const struct storage_error *err)
{
    lmtpd_result_set(r, storage_error_temporary(err) ? LMTPD_TEMPFAIL : LMTPD_FAILED, err->dsn,
                     "%s", err->text);
}

/* Keywords of flags, added to the folder's dovecot-keywords. */
static uint32_t keyword_bits(struct mview *v, char *const *flags, const char *log_id)
{
    uint32_t kw = 0;
    for (size_t i = 0; flags && flags[i]; i++) {
        if (flags[i][0] == '\\')
            continue;
        struct storage_error err;
        int bit = mview_keyword_bit(v, flags[i], 1, &err);
        if (bit >= 0)
            kw |= 1u << bit;
        else
            msg_warn("%s: keyword %s not stored", log_id, flags[i]);
    }
    return kw;
}

static int save_into(struct mview *v, const struct lmtpd_msg *m, char *const *flags,
                     struct lmtpd_result *r)
{
    struct storage_save_opts so = {.sender = m->sender, .received = m->arrival,
                                   .size = (long long)m->len};
    for (size_t i = 0; flags && flags[i]; i++)
        so.flags |= system_flag(flags[i]);
    uint32_t kw = keyword_bits(v, flags, m->log_id);
    struct storage_error err;
    struct storage_save *s = mview_append_begin(v, &so, &err);
    if (!s) {
        storage_result(r, &err);
        return -1;
    }
    if (storage_save_write(s, m->data, m->len, &err) < 0) {
        storage_save_abort(s);
        storage_result(r, &err);
        return -1;
    }
    uint32_t uid = 0;
    if (mview_append_finish(v, s, kw, &uid, &err) < 0) {
        storage_result(r, &err);
        return -1;
    }
    return 0;
}

int lmtpd_store(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                const char *folder, char *const *flags, int create, int *missing,
                struct lmtpd_result *r)
{
    *missing = 0;
    struct storage_error err;
    struct mstore *st = mstore_open(u->maildir, 1, &err);
    if (!st) {
        storage_result(r, &err);
        return -1;
    }
    if (lmtpd_quota_rules(u))
        mstore_set_quota_rules(st, lmtpd_quota_rules(u));
    const char *name = folder && *folder ? folder : "INBOX";
    int inbox = str_ieq(name, "INBOX");
    if (!inbox && !mstore_name_ok(name)) {
        mstore_close(st);
        *missing = 1;
        lmtpd_result_set(r, LMTPD_FAILED, "5.2.0", "invalid mailbox name %s", name);
        return -1;
    }
    struct mview *v = mview_open_deliver(st, inbox ? "INBOX" : name, &err);
    if (!v && err.err == ENOENT && (create || l->autocreate)) {
        if (mstore_create(st, name, &err) == 0 || err.err == EEXIST) {
            mstore_subscribe(st, name, 1, &err);
            v = mview_open_deliver(st, name, &err);
        }
    }
    if (!v) {
        *missing = err.err == ENOENT;
        storage_result(r, &err);
        mstore_close(st);
        return -1;
    }
    struct qwarn w = {l, u};
    mquota_set_warn_hook(quota_warn, &w);
    int rc = save_into(v, m, flags, r);
    mquota_set_warn_hook(NULL, NULL);
    mview_close(v);
    mstore_close(st);
    return rc;
}

/* ---- submission ---- */

int lmtpd_submit(struct lmtpd_lda *l, const char *sender, const char *rcpt, const char *msg,
                 size_t len, const char *log_id)
{
    char *sock = xasprintf("%s/public/pickup", l->queue_dir);
    struct submit_conn c;
    int rc = -1;
    if (submit_open(&c, sock) < 0) {
        msg_warn("%s: cannot submit to <%s>: %s: %s", log_id, rcpt, sock, strerror(errno));
        free(sock);
        return -1;
    }
    submit_set_timeout(&c, 60);
    struct submission o;
    memset(&o, 0, sizeof(o));
    submission_add_rcpt(&o, rcpt);
    struct buf b;                      /* LF line ends: submit_message() adds the CRs */
    buf_init(&b, 0);
    for (size_t i = 0; i < len; i++)
        if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
            buf_putc(&b, msg[i]);
    int ex = submit_message(&c, sender, &o, &b, -1);
    if (ex == 0)
        rc = 0;
    else
        msg_warn("%s: submission to <%s> failed (status %d)", log_id, rcpt, ex);
    buf_free(&b);
    for (size_t i = 0; i < o.nrcpts; i++)
        free(o.rcpts[i]);
    free(o.rcpts);
    submit_close(&c);
    free(sock);
    return rc;
}

/* ---- one delivery ---- */

/* The message with the headers delivery adds. */
static void with_headers(const struct lmtpd_msg *m, struct buf *full, struct lmtpd_msg *fm)
{
    buf_init(full, 0);
    if (!m->lda || !str_iprefix(m->data, "Return-Path:"))
        buf_printf(full, "Return-Path: <%s>\n", m->sender);
    if (!m->lda)
        buf_printf(full, "Delivered-To: %s\n", m->rcpt);
    if (!m->lda && m->orig_rcpt && *m->orig_rcpt)
        buf_printf(full, "X-Original-To: %s\n", m->orig_rcpt);
    if (m->received)
        buf_puts(full, m->received);
    buf_append(full, m->data, m->len);
    *fm = *m;
    fm->data = full->data;
    fm->len = full->len;
}

void lmtpd_deliver(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                   const char *folder, struct lmtpd_result *r)
{
    struct buf full;
    struct lmtpd_msg fm;
    with_headers(m, &full, &fm);
    lmtpd_sieve_deliver(l, u, &fm, folder, r);
    buf_free(&full);
}

void lmtpd_keep(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                struct lmtpd_result *r)
{
    struct buf full;
    struct lmtpd_msg fm;
    with_headers(m, &full, &fm);
    int missing;
    if (lmtpd_store(l, u, &fm, "INBOX", NULL, 0, &missing, r) == 0)
        lmtpd_result_set(r, LMTPD_DELIVERED, "2.0.0", "Saved");
    buf_free(&full);
}
