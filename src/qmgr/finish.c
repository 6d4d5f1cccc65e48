/*
 * finish.c - what happens when delivery units get their final word.
 *
 * Owns: the delivery log lines in Postfix's format
 *   QID: to=<rcpt>, orig_to=<orig>, relay=virtual, delay=0.02,
 *        delays=0.01/0/0/0.01, dsn=2.0.0, status=sent (delivered to maildir)
 * and the end of an active message: bounces, delay warnings
 * (delay_warning_time) and success notices (RFC 3464,
 * built by dsn.c and queued by qmgr itself), the deferral of what is left
 * (deferred/QUEUEID with backoff), expiry after maximal_queue_lifetime, and
 * removal ("QID: removed").
 *
 * Order matters for durability: a notice is committed to the journal
 * before the recipients it reports are marked done, and a deferred file
 * is fsync'd before its journal record is marked done.
 */
#include "qmgr/qmgr.h"
#include "lib-conf/config.h"
#include "lib-queue/dproto.h"
#include "lib-mail/dsn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Postfix-style short delays: "0", "0.01", "1.2", "34". */
static void fmt_delay(char *out, size_t n, double s)
{
    if (s < 0.005)
        str_copy(out, "0", n);
    else if (s < 1)
        str_fmt(out, n, "%.2f", s);
    else if (s < 10)
        str_fmt(out, n, "%.1f", s);
    else
        str_fmt(out, n, "%.0f", s);
}

void qmgr_mark_done(struct qmgr *q, struct qmsg *m, int idx)
{
    if (queue_mark_done(q->queue_dir, &m->ref, m->qid, idx) < 0)
        msg_warn("%s: cannot record completion in %s: %s", m->qid, m->ref.path, strerror(errno));
    q->dirty_done = 1;
}

static const char *status_word(enum dlv_state st)
{
    switch (st) {
    case DLV_SENT: return "sent";
    case DLV_BOUNCED: return "bounced";
    default: return "deferred";
    }
}

void qmgr_finish_log_unit(struct qmgr *q, struct qmsg *m, struct dlv *d, const struct job *job)
{
    (void)q;
    uint64_t now_us = now_usec(), now_ms = mono_msec();
    double total = m->env.arrival_usec && now_us > m->env.arrival_usec
                       ? (double)(now_us - m->env.arrival_usec) / 1e6 : 0;
    /*
     * delays=a/b/c/d: before the queue manager, in it, connection setup,
     * transmission. a is wall clock (arrival was stamped by another
     * process); b and c are measured here with the monotonic clock, fresh
     * (not the loop's cached time); d is the rest, so the parts add up to
     * the total as in Postfix.
     */
    double a = 0, b = 0, c = 0, dd = 0;
    if (m->env.arrival_usec && m->t_active_usec > m->env.arrival_usec)
        a = (double)(m->t_active_usec - m->env.arrival_usec) / 1e6;
    if (a > total)
        a = total;
    if (job) {
        c = (double)job->conn_ms / 1e3;
        uint64_t sent = job->t_sent_ms ? job->t_sent_ms : now_ms;
        b = sent > m->t_active_ms ? (double)(sent - m->t_active_ms) / 1e3 : 0;
        if (a + b > total)
            b = total - a;
        if (a + b + c > total)
            c = total - a - b;
        dd = total - a - b - c;
    } else {
        b = total - a;
    }
    char s_total[16], sa[16], sb[16], sc[16], sd[16];
    fmt_delay(s_total, sizeof(s_total), total);
    fmt_delay(sa, sizeof(sa), a);
    fmt_delay(sb, sizeof(sb), b);
    fmt_delay(sc, sizeof(sc), c);
    fmt_delay(sd, sizeof(sd), dd);
    char orig[600] = "";
    const char *to = qmgr_dlv_rcpt(d);
    if (d->orig && strcasecmp(d->orig, to) != 0)
        str_fmt(orig, sizeof(orig), " orig_to=<%s>,", d->orig);
    msg_info("%s: to=<%s>,%s relay=%s, delay=%s, delays=%s/%s/%s/%s, dsn=%s, status=%s (%s)",
             m->qid, to, orig, d->relay ? d->relay : d->transport ? d->transport : "none",
             s_total, sa, sb, sc, sd,
             d->dsn, status_word(d->state), d->text ? d->text : "");
}

/* ---- notices ------------------------------------------------------------ */

static int notify_wants(const struct qrcpt *r, int flag)
{
    if (r->notify == 0)
        return flag == DSN_NOTIFY_FAILURE || flag == DSN_NOTIFY_DELAY;
    return (r->notify & flag) != 0;
}

/* Queue a notification to the sender; returns 0, -1 if it could not be made durable. */
static int send_notice(struct qmgr *q, struct qmsg *m, enum dsn_kind kind, struct dsn_rcpt *rc,
                       size_t n)
{
    struct dsn_config dc = {.myhostname = q->myhostname, .mail_name = q->mail_name,
                            .bounce_size_limit = q->bounce_size_limit};
    struct dsn_envelope de = {.qid = m->qid, .sender = m->env.sender, .envid = m->env.envid,
                              .ret = m->env.ret_full, .arrival_usec = m->env.arrival_usec,
                              .smtputf8 = m->env.smtputf8};
    struct dsn_content content = {.fd = -1, .path = m->ref.path,
                                  .offset = m->ref.content_offset,
                                  .length = m->ref.content_length};
    struct buf out;
    buf_init(&out, 0);
    char err[256] = "";
    if (dsn_build(&dc, kind, &de, rc, n, &content, &out, err, sizeof(err)) < 0) {
        msg_warn("%s: cannot build delivery status notification: %s", m->qid, err);
        buf_free(&out);
        return -1;
    }
    struct qenvelope env;
    qenv_init(&env);
    queue_new_id(env.qid, sizeof(env.qid));
    env.arrival_usec = now_usec();
    qenv_set_sender(&env, "");
    qenv_add_rcpt(&env, m->env.sender, NULL, DSN_NOTIFY_NEVER);
    qenv_set_attr(&env, "protocol", "LOCAL");
    qenv_set_attr(&env, "notice_of", m->qid);
    struct qref ref;
    int r = queue_writer_add(q->qw, &env, out.data, out.len, &ref);
    if (r == 0)
        r = queue_writer_commit(q->qw);
    buf_free(&out);
    if (r < 0) {
        msg_warn("%s: cannot queue delivery status notification: %s", m->qid, strerror(errno));
        qenv_free(&env);
        return -1;
    }
    msg_info("%s: sender %s notification: %s", m->qid,
             kind == DSN_KIND_BOUNCE ? "non-delivery" : kind == DSN_KIND_DELAY ? "delay"
                                                                               : "delivery status",
             env.qid);
    struct qmsg *nm = qmgr_add(q, &ref, env.qid, 0, QL_INCOMING);
    (void)nm;
    qenv_free(&env);
    return 0;
}

/* Build the per-recipient DSN fields for the units in state st. */
static size_t collect(struct qmsg *m, enum dlv_state st, int notify_flag, struct dsn_rcpt **out,
                      uint64_t retry_until)
{
    size_t n = 0;
    struct dsn_rcpt *rc = xcalloc(m->ndlv ? m->ndlv : 1, sizeof(*rc));
    for (size_t i = 0; i < m->ndlv; i++) {
        struct dlv *d = &m->dlvs[i];
        if (d->state != st || !notify_wants(&m->env.rcpts[d->ridx], notify_flag))
            continue;
        /* The next hop announced DSN and has the NOTIFY: it tells the sender (RFC 3461 4.2). */
        if (notify_flag == DSN_NOTIFY_SUCCESS && d->dsn_passed)
            continue;
        const struct qrcpt *r = &m->env.rcpts[d->ridx];
        struct dsn_rcpt *x = &rc[n++];
        x->final_rcpt = d->rcpt ? d->rcpt
                      : (d->addr[0] == '|' || d->addr[0] == '/') ? d->orig : d->addr;
        x->orig_rcpt = r->orcpt ? r->orcpt : r->addr;
        x->action = st == DLV_BOUNCED ? DSN_ACTION_FAILED
                  : st == DLV_DEFERRED ? DSN_ACTION_DELAYED
                  : (d->transport && (strcmp(d->transport, "smtp") == 0 ||
                                      strcmp(d->transport, "relay") == 0))
                        ? DSN_ACTION_RELAYED : DSN_ACTION_DELIVERED;
        x->status = d->dsn;
        x->diag = d->text;
        x->last_attempt_usec = now_usec();
        x->will_retry_until_usec = retry_until;
    }
    *out = rc;
    return n;
}

/* Bounces and success notices for this attempt. Returns -1 if a needed notice could not be queued. */
static int notices(struct qmgr *q, struct qmsg *m)
{
    struct dsn_rcpt *rc;
    int rv = 0;
    size_t n = collect(m, DLV_BOUNCED, DSN_NOTIFY_FAILURE, &rc, 0);
    if (n > 0) {
        if (!m->env.sender || !*m->env.sender)
            msg_info("%s: undeliverable notification to the null sender discarded", m->qid);
        else if (send_notice(q, m, DSN_KIND_BOUNCE, rc, n) < 0)
            rv = -1;
    }
    free(rc);
    n = collect(m, DLV_SENT, DSN_NOTIFY_SUCCESS, &rc, 0);
    if (n > 0 && m->env.sender && *m->env.sender)
        send_notice(q, m, DSN_KIND_SUCCESS, rc, n); /* best effort, like Postfix */
    free(rc);
    return rv;
}

/*
 * delay_warning_time: once a message has waited that long, the sender
 * gets one "Delayed Mail (still being retried)" notice for the recipients
 * that are still deferred (and did not opt out with NOTIFY). The envelope
 * remembers it was sent (attribute delay_warned), in the deferred file.
 */
static void delay_warning(struct qmgr *q, struct qmsg *m)
{
    if (!q->delay_warning_us || !m->env.sender || !*m->env.sender ||
        qenv_attr(&m->env, "delay_warned") || !m->env.arrival_usec ||
        now_usec() < m->env.arrival_usec + q->delay_warning_us)
        return;
    struct dsn_rcpt *rc;
    size_t n = collect(m, DLV_DEFERRED, DSN_NOTIFY_DELAY, &rc,
                       m->env.arrival_usec + q->max_lifetime_us);
    if (n > 0 && send_notice(q, m, DSN_KIND_DELAY, rc, n) == 0)
        qenv_set_attr(&m->env, "delay_warned", "1");
    free(rc);
}

/* ---- deferral ---------------------------------------------------------------- */

static uint64_t backoff_us(struct qmgr *q, int defer_count)
{
    uint64_t b = q->min_backoff_us;
    for (int i = 0; i < defer_count && b < q->max_backoff_us; i++)
        b *= 2;
    return b > q->max_backoff_us ? q->max_backoff_us : b;
}

/* The envelope of what is left: the deferred units, already rewritten. */
static void deferred_envelope(struct qmgr *q, struct qmsg *m, struct qenvelope *env)
{
    qenv_copy(env, &m->env);
    for (size_t i = 0; i < env->nrcpts; i++) {
        free(env->rcpts[i].addr);
        free(env->rcpts[i].orcpt);
        free(env->rcpts[i].status);
        free(env->rcpts[i].reason);
    }
    env->nrcpts = 0;
    for (size_t i = 0; i < m->ndlv; i++) {
        struct dlv *d = &m->dlvs[i];
        if (d->state != DLV_DEFERRED)
            continue;
        const struct qrcpt *orig = &m->env.rcpts[d->ridx];
        /* Alias targets keep their alias address: they are expanded again on retry,
         * so the local agent checks them against the tables of that time. */
        struct dextra x;
        const char *addr = d->addr;
        int expanded = !d->unexpanded;
        if (d->extra && dproto_extra_parse(d->extra, &x) == 0 && x.alias[0]) {
            addr = x.alias;
            expanded = 0;
        }
        int dup = 0;
        for (size_t k = 0; k < env->nrcpts; k++)
            if (strcmp(env->rcpts[k].addr, addr) == 0)
                dup = 1;
        if (dup)
            continue;
        char *orcpt = orig->orcpt ? xstrdup(orig->orcpt) : xasprintf("rfc822;%s", orig->addr);
        struct qrcpt *r = qenv_add_rcpt(env, addr, orcpt, orig->notify);
        free(orcpt);
        if (expanded)
            r->flags |= QRCPT_EXPANDED;
        qrcpt_set_reason(r, d->dsn, d->text);
    }
    env->defer_count = m->env.defer_count + 1;
    env->next_try_usec = now_usec() + backoff_us(q, m->env.defer_count);
    (void)q;
}

static void unload(struct qmsg *m)
{
    for (size_t i = 0; i < m->ndlv; i++)
        qmgr_dlv_free(&m->dlvs[i]);
    free(m->dlvs);
    m->dlvs = NULL;
    m->ndlv = m->capdlv = 0;
    if (m->loaded)
        qenv_free(&m->env);
    m->loaded = 0;
}

/* Write what is left to deferred/ (or hold/). Returns 0, or -1 (kept in memory, retried later). */
static int defer_message(struct qmgr *q, struct qmsg *m, int to_hold)
{
    struct qenvelope env;
    deferred_envelope(q, m, &env);
    struct qref newref;
    int r;
    const char *dir = to_hold ? q->hold_dir : q->deferred_dir;
    if (!m->in_file) {
        r = queue_copy_to_file(dir, &env, &m->ref, &newref);
        if (r == 0)
            qmgr_mark_done(q, m, -1);
    } else if (to_hold) {
        r = queue_move_file(&m->ref, dir, &env, &newref);
    } else {
        r = queue_update_file(&m->ref, &env, &newref);
    }
    uint64_t next = env.next_try_usec;
    qenv_free(&env);
    if (r < 0) {
        msg_warn("%s: cannot write %s file: %s", m->qid, to_hold ? "hold" : "deferred",
                 strerror(errno));
        return -1;
    }
    unload(m);
    m->ref = newref;
    m->in_file = 1;
    m->next_try_usec = next;
    qmgr_list_move(q, m, to_hold ? QL_HOLD : QL_DEFERRED);
    if (!to_hold && (q->earliest_deferred_usec == 0 || next < q->earliest_deferred_usec))
        q->earliest_deferred_usec = next;
    return 0;
}

/* Deferred units of a message that has been queued too long bounce instead. */
static int expire_deferred(struct qmgr *q, struct qmsg *m)
{
    uint64_t life = (m->env.sender && *m->env.sender) ? q->max_lifetime_us : q->bounce_lifetime_us;
    uint64_t now = now_usec();
    if (!m->env.arrival_usec || now < m->env.arrival_usec || now - m->env.arrival_usec < life)
        return 0;
    int any = 0;
    for (size_t i = 0; i < m->ndlv; i++) {
        struct dlv *d = &m->dlvs[i];
        if (d->state != DLV_DEFERRED)
            continue;
        d->state = DLV_BOUNCED;
        any = 1;
    }
    if (any)
        msg_info("%s: from=<%s>, status=expired, returned to sender", m->qid, m->env.sender);
    return any;
}

static void remove_message(struct qmgr *q, struct qmsg *m)
{
    qmgr_mark_done(q, m, -1);
    msg_info("%s: removed", m->qid);
    unload(m);
    qmgr_forget(q, m);
}

int qmgr_finish_delete(struct qmgr *q, struct qmsg *m)
{
    if (m->inflight > 0) {
        m->deleted = 1;
        return 0;
    }
    if (m->list == QL_INCOMING || m->list == QL_ACTIVE || m->in_file) {
        remove_message(q, m);
        return 0;
    }
    return -1;
}

void qmgr_finish_maybe(struct qmgr *q, struct qmsg *m)
{
    if (m->inflight > 0 || m->list != QL_ACTIVE)
        return;
    int deferred = 0;
    for (size_t i = 0; i < m->ndlv; i++) {
        if (m->dlvs[i].state == DLV_PENDING || m->dlvs[i].state == DLV_INFLIGHT)
            return;
        if (m->dlvs[i].state == DLV_DEFERRED)
            deferred = 1;
    }
    if (m->deleted) {
        remove_message(q, m);
        qmgr_activate_more(q);
        return;
    }
    if (deferred && !m->hold_after)
        expire_deferred(q, m);
    if (notices(q, m) < 0) {
        /* The bounce could not be queued: keep those recipients for a retry. */
        for (size_t i = 0; i < m->ndlv; i++)
            if (m->dlvs[i].state == DLV_BOUNCED) {
                m->dlvs[i].state = DLV_DEFERRED;
                deferred = 1;
            }
    }
    deferred = 0;
    for (size_t i = 0; i < m->ndlv; i++)
        if (m->dlvs[i].state == DLV_DEFERRED)
            deferred = 1;
    if (!deferred) {
        remove_message(q, m);
    } else {
        delay_warning(q, m);
        /* Recipients that are finished are marked so a rescan never repeats them. */
        if (!m->in_file) {
            for (size_t r = 0; r < m->env.nrcpts; r++) {
                int open = 0, seen = 0;
                for (size_t i = 0; i < m->ndlv; i++)
                    if (m->dlvs[i].ridx == (int)r) {
                        seen = 1;
                        if (m->dlvs[i].state == DLV_DEFERRED)
                            open = 1;
                    }
                if (seen && !open)
                    qmgr_mark_done(q, m, (int)r);
            }
        }
        if (defer_message(q, m, m->hold_after) < 0) {
            /* Could not write the file: retry the whole message later from where it is. */
            unload(m);
            m->next_try_usec = now_usec() + q->min_backoff_us;
            qmgr_list_move(q, m, QL_DEFERRED);
        }
    }
    qmgr_activate_more(q);
}
