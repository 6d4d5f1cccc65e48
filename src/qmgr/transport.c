/*
 * transport.c - qmgr's side of the delivery agents.
 *
 * Owns: one struct transport per master.cf service that mail is routed
 * to (virtual, local, smtp, relay, ...), a FIFO of jobs for it, and up to
 * `maxconn` UNIX-socket connections to its agent processes (as many as
 * the master runs). A job is one request in the dproto.h protocol; the
 * agent answers one status line per unit. Connections stay open and are
 * reused, so steady-state delivery costs no connect per message.
 *
 * Failures never lose mail: an agent that cannot be reached is retried
 * for a while and then its jobs are deferred; a connection that breaks
 * mid-request defers every unit that has no status yet.
 */
#include "qmgr/qmgr.h"
#include "lib-conf/config.h"
#include "lib-queue/dproto.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TCONN_IN_MAX  (1024 * 1024)
#define TCONN_OUT_MAX (64 * 1024 * 1024)
#define TRANSPORT_GIVE_UP_MS 30000   /* agent unreachable this long: defer its jobs */
#define TRANSPORT_RETRY_MS   1000

static void transport_dispatch(struct qmgr *q, struct transport *t);

struct transport *qmgr_transport_get(struct qmgr *q, const char *name)
{
    for (struct transport *t = q->transports; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    const struct master_service *svc = cfg_service_find(q->cfg, name, SVC_UNIX);
    if (!svc || cfg_service_role(svc) != SVC_ROLE_RUN) {
        msg_warn("transport %s: no such master.cf service that yubin runs", name);
        return NULL;
    }
    struct transport *t = xcalloc(1, sizeof(*t));
    t->name = xstrdup(name);
    t->sock = cfg_unix_socket_path(q->cfg, name);
    t->maxconn = cfg_service_procs(q->cfg, svc);
    if (t->maxconn < 1)
        t->maxconn = 1;
    /* The guides' "dovecot_destination_recipient_limit = 1" for pipe(8) flags D and O. */
    char param[300];
    str_fmt(param, sizeof(param), "%s_destination_recipient_limit", name);
    long long rl = cfg_get_int_by_name(q->cfg, param);
    t->rcpt_limit = rl > 0 && rl < 1000 ? (int)rl : q->rcpt_limit;
    t->qtail = &t->qhead;
    t->q = q;
    t->next = q->transports;
    q->transports = t;
    return t;
}

/* ---- job bookkeeping ---------------------------------------------------- */

static void job_free(struct job *j)
{
    free(j->units);
    free(j);
}

/*
 * The job is over: every unit still without a status gets this one. A
 * 5.x.x status is final (the unit bounces); anything else defers: a
 * permanent failure retried until maximal_queue_lifetime would only tell
 * the sender days later what is known now.
 */
static void job_end(struct qmgr *q, struct job *j, const char *dsn, const char *text)
{
    struct qmsg *m = j->m;
    enum dlv_state st = dsn[0] == '5' ? DLV_BOUNCED : DLV_DEFERRED;
    for (size_t i = 0; i < j->nunits; i++) {
        struct dlv *d = &m->dlvs[j->units[i]];
        if (d->state == DLV_INFLIGHT || d->state == DLV_PENDING) {
            qmgr_dlv_set_final(d, st, dsn, text);
            qmgr_finish_log_unit(q, m, d, j);
        }
    }
    m->inflight--;
    job_free(j);
    qmgr_finish_maybe(q, m);
}

/* ---- connections ---------------------------------------------------------- */

static void tconn_ready(struct conn *io, void *arg);
static void tconn_lost(struct conn *io, void *arg);
static const struct conn_cb tconn_cb = {.ready = tconn_ready, .lost = tconn_lost};

static void tconn_close(struct qmgr *q, struct tconn *c, const char *why)
{
    struct transport *t = c->t;
    conn_free(c->io);
    struct tconn **pp = &t->conns;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    t->nconn--;
    struct job *j = c->job;
    free(c);
    if (j) {
        msg_warn("%s: lost connection with %s service: %s", j->m->qid, t->name, why);
        job_end(q, j, "4.3.0", "lost connection with mail delivery agent");
    }
}

/*
 * Connect to the agent's socket without waiting. NULL with errno when it
 * cannot be reached now, EAGAIN included: a UNIX stream socket whose
 * listen queue is full is not left connecting, so it is retried later.
 */
static struct tconn *tconn_open(struct qmgr *q, struct transport *t)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (str_copy(sun.sun_path, t->sock, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int connecting = 0;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        if (errno != EINPROGRESS) {
            int saved = errno;
            close(fd);
            errno = saved;
            return NULL;
        }
        connecting = 1;
    }
    struct tconn *c = xcalloc(1, sizeof(*c));
    c->t = t;
    c->io = conn_new(fd, TCONN_IN_MAX, TCONN_OUT_MAX);
    conn_set_lines(c->io, TCONN_IN_MAX - 2, 0);
    conn_set_highwater(c->io, TCONN_OUT_MAX);   /* replies are read while a request is queued */
    conn_attach(c->io, q->loop, &tconn_cb, c);
    c->connecting = connecting;
    c->t_connect_ms = mono_msec();
    c->next = t->conns;
    t->conns = c;
    t->nconn++;
    conn_update(c->io);
    return c;
}

/* ---- requests -------------------------------------------------------------- */

static void add_attr(struct dreq *r, const struct qenvelope *env, const char *name)
{
    const char *v = qenv_attr(env, name);
    if (v && *v)
        dproto_add_attr(r, name, v);
}

/*
 * The unit's <extra> with the DSN NOTIFY/ORCPT of its envelope recipient
 * added (for the SMTP client). ORCPT is optional information: it is left
 * out when the R line would not fit in DPROTO_LINE_MAX.
 */
static void unit_extra(const struct qmsg *m, const struct dlv *d, char *out, size_t outlen)
{
    const char *extra = d->extra && *d->extra ? d->extra : "-";
    str_copy(out, extra, outlen);
    if (d->ridx < 0 || (size_t)d->ridx >= m->env.nrcpts)
        return;
    const struct qrcpt *r = &m->env.rcpts[d->ridx];
    struct dextra x;
    if ((!r->notify && !r->orcpt) || dproto_extra_parse(extra, &x) < 0)
        return;
    x.notify = r->notify & 15;
    /* R, idx, addr, orig, extra, tabs; xtext may triple the ORCPT */
    size_t line = strlen(d->addr) + strlen(d->orig ? d->orig : "") + strlen(extra) + 40;
    if (r->orcpt && strlen(r->orcpt) < sizeof(x.orcpt) &&
        line + 3 * strlen(r->orcpt) < DPROTO_LINE_MAX)
        str_copy(x.orcpt, r->orcpt, sizeof(x.orcpt));
    char buf[DPROTO_LINE_MAX];
    if (dproto_extra_format(&x, buf, sizeof(buf)) == 0 && strlen(buf) < outlen)
        str_copy(out, buf, outlen);
}

static char *job_encode(struct job *j)
{
    struct qmsg *m = j->m;
    struct dreq r;
    dproto_init_request(&r);
    str_copy(r.qid, m->qid, sizeof(r.qid));
    str_copy(r.path, m->ref.path, sizeof(r.path));
    r.offset = m->ref.content_offset;
    r.length = m->ref.content_length;
    r.sender = xstrdup(m->env.sender ? m->env.sender : "");
    /* Seconds with microseconds: whole seconds made "waited minimal_backoff_time"
     * (plaintext fallback) true for a first attempt that crossed a second. */
    char arrival[40];
    str_fmt(arrival, sizeof(arrival), "%llu.%06llu",
            (unsigned long long)(m->env.arrival_usec / 1000000),
            (unsigned long long)(m->env.arrival_usec % 1000000));
    dproto_add_attr(&r, "arrival", arrival);
    if (m->t_active_usec) {
        char active[40];
        str_fmt(active, sizeof(active), "%llu.%06llu",
                (unsigned long long)(m->t_active_usec / 1000000),
                (unsigned long long)(m->t_active_usec % 1000000));
        dproto_add_attr(&r, "active", active);
    }
    if (m->env.smtputf8)
        dproto_add_attr(&r, "smtputf8", "1");
    if (m->env.eightbit)
        dproto_add_attr(&r, "body", "8BITMIME");
    add_attr(&r, &m->env, "client_name");
    add_attr(&r, &m->env, "client_address");
    add_attr(&r, &m->env, "client_port");
    add_attr(&r, &m->env, "helo_name");
    add_attr(&r, &m->env, "protocol");
    add_attr(&r, &m->env, "sasl_method");
    add_attr(&r, &m->env, "sasl_username");
    add_attr(&r, &m->env, "sasl_sender");
    /* Units of one job share their next hop (qmgr_transport_submit groups them). */
    const char *nexthop = j->nunits ? m->dlvs[j->units[0]].nexthop : NULL;
    if (nexthop && *nexthop)
        dproto_add_attr(&r, "nexthop", nexthop);
    char enc[3 * QUEUE_ENVID_MAX + 1];
    if (m->env.envid && *m->env.envid && dproto_xtext_encode(m->env.envid, enc, sizeof(enc)) == 0)
        dproto_add_attr(&r, "envid", enc);
    if (m->env.ret_full >= 0)
        dproto_add_attr(&r, "ret", m->env.ret_full ? "FULL" : "HDRS");
    char extra[DPROTO_LINE_MAX];
    for (size_t i = 0; i < j->nunits; i++) {
        struct dlv *d = &m->dlvs[j->units[i]];
        unit_extra(m, d, extra, sizeof(extra));
        dproto_add_rcpt(&r, (int)j->units[i], d->addr, d->orig, extra);
    }
    char *text = dproto_encode_request(&r);
    dproto_free_request(&r);
    return text;
}

/* Give the job to connection c. */
static void job_start(struct qmgr *q, struct tconn *c, struct job *j)
{
    char *req = job_encode(j);
    if (!req) {
        job_end(q, j, "5.3.0", "delivery request could not be encoded");
        return;
    }
    INVARIANT(c->job == NULL);               /* one request at a time per connection */
    c->job = j;
    j->t_sent_ms = mono_msec();
    for (size_t i = 0; i < j->nunits; i++) {
        INVARIANT(j->units[i] < j->m->ndlv);
        j->m->dlvs[j->units[i]].state = DLV_INFLIGHT;
    }
    if (conn_write(c->io, req, strlen(req)) < 0) {
        free(req);
        tconn_close(q, c, "request too large");
        return;
    }
    free(req);
    if (!c->connecting && conn_flush(c->io) < 0) {
        tconn_close(q, c, strerror(errno));
        return;
    }
    conn_update(c->io);
}

/* One status line from the agent. */
static int job_status(struct qmgr *q, struct job *j, const char *line)
{
    struct dstatus st;
    int r = dproto_parse_status(line, &st);
    if (r <= 0)
        return r;
    struct qmsg *m = j->m;
    size_t u = (size_t)st.idx;
    int mine = 0;
    for (size_t i = 0; i < j->nunits; i++)
        if (j->units[i] == u)
            mine = 1;
    if (!mine || m->dlvs[u].state != DLV_INFLIGHT)
        return -1;
    if (strcmp(st.cls, "forward") == 0) {
        size_t added = qmgr_expand_forward(q, m, u, st.text);
        if (added)
            qmgr_transport_submit(q, m);
        return 1;
    }
    if (strcmp(st.cls, "pass") == 0) {
        qmgr_expand_pass(q, m, u, st.text);
        if (m->dlvs[u].state == DLV_DEFERRED)
            qmgr_finish_log_unit(q, m, &m->dlvs[u], j);   /* refused: it loops */
        else
            qmgr_transport_submit(q, m);
        return 1;
    }
    int passed = strcmp(st.cls, "passed") == 0;
    enum dlv_state s = strcmp(st.cls, "sent") == 0 || passed ? DLV_SENT
                     : strcmp(st.cls, "bounced") == 0 ? DLV_BOUNCED : DLV_DEFERRED;
    qmgr_dlv_set_final(&m->dlvs[u], s, st.dsn, st.text);
    m->dlvs[u].dsn_passed = passed;
    free(m->dlvs[u].relay);
    m->dlvs[u].relay = st.relay[0] ? xstrdup(st.relay) : NULL;
    qmgr_finish_log_unit(q, m, &m->dlvs[u], j);
    return 1;
}

static int tconn_alive(const struct transport *t, const struct tconn *c)
{
    for (const struct tconn *x = t->conns; x; x = x->next)
        if (x == c)
            return 1;
    return 0;
}

/*
 * Use every status line the agent sent. Lines that arrived before an EOF
 * or an error are used first (conn.c hands them over before it reports
 * the loss): an agent that answered and then went away must not have its
 * deliveries deferred (they would be made twice). 0, or -1 when c is gone.
 */
static int tconn_lines(struct qmgr *q, struct tconn *c)
{
    struct transport *t = c->t;
    char *line;
    size_t len;
    enum conn_line_result lr;
    while ((lr = conn_line(c->io, &line, &len)) == CONN_LINE) {
        struct job *j = c->job;
        int r = j ? job_status(q, j, line) : -1;
        if (r < 0) {
            tconn_close(q, c, "protocol error");
            return -1;
        }
        if (r == 0) {
            /* End of the reply: units without a status are deferred. */
            c->job = NULL;
            job_end(q, j, "4.3.0", "delivery agent did not report a status");
            /* Finishing the message can activate more mail, whose new job
             * may have been given to c and failed on it, closing it. */
            if (!tconn_alive(t, c))
                return -1;
            transport_dispatch(q, t);
            if (!tconn_alive(t, c))
                return -1;
        }
    }
    if (lr == CONN_LONG) {
        tconn_close(q, c, "reply too long");
        return -1;
    }
    return 0;
}

/* Readable or writable: finish the connect, send what waits, use the replies. */
static void tconn_ready(struct conn *io, void *arg)
{
    struct tconn *c = arg;
    struct qmgr *q = c->t->q;
    if (c->connecting) {
        int err = 0;
        socklen_t el = sizeof(err);
        if (getsockopt(conn_fd(io), SOL_SOCKET, SO_ERROR, &err, &el) < 0)
            err = errno;
        if (err) {
            tconn_close(q, c, strerror(err));
            return;
        }
        c->connecting = 0;
        if (c->job)
            c->job->conn_ms = mono_msec() - c->t_connect_ms;
    }
    if (conn_flush(io) < 0) {
        tconn_close(q, c, strerror(errno));
        return;
    }
    if (tconn_lines(q, c) < 0)
        return;
    conn_update(io);
}

static void tconn_lost(struct conn *io, void *arg)
{
    struct tconn *c = arg;
    struct qmgr *q = c->t->q;
    char why[128];
    str_copy(why, conn_eof(io) ? "connection closed by agent" : strerror(errno), sizeof(why));
    /* Status lines read before the EOF come first; no new job for c. */
    c->connecting = 0;
    c->going = 1;
    if (tconn_lines(q, c) < 0)
        return;
    tconn_close(q, c, why);
}

/* ---- dispatching ------------------------------------------------------------ */

static struct tconn *idle_conn(struct transport *t)
{
    for (struct tconn *c = t->conns; c; c = c->next)
        if (!c->job && !c->going)
            return c;
    return NULL;
}

static void transport_retry(void *arg)
{
    struct transport *t = arg;
    t->retry = NULL;
    transport_dispatch(t->q, t);
}

/* The agent cannot be reached: retry for a while, then defer what waits. */
static void transport_unreachable(struct qmgr *q, struct transport *t, int err)
{
    uint64_t now = ev_now(q->loop);
    if (!t->failing_since_ms) {
        t->failing_since_ms = now;
        msg_warn("connect to transport %s: %s", t->sock, strerror(err));
    }
    if (now - t->failing_since_ms < TRANSPORT_GIVE_UP_MS) {
        if (!t->retry)
            t->retry = ev_timer_add(q->loop, TRANSPORT_RETRY_MS, transport_retry, t);
        return;
    }
    char text[600];
    str_fmt(text, sizeof(text), "delivery temporarily suspended: connect to transport %s: %s",
            t->name, strerror(err));
    while (t->qhead) {
        struct job *j = t->qhead;
        t->qhead = j->next;
        if (!t->qhead)
            t->qtail = &t->qhead;
        t->qlen--;
        job_end(q, j, "4.3.0", text);
    }
    t->failing_since_ms = 0;
}

static void transport_dispatch(struct qmgr *q, struct transport *t)
{
    while (t->qhead) {
        struct tconn *c = idle_conn(t);
        if (!c) {
            if (t->nconn >= t->maxconn)
                return;
            c = tconn_open(q, t);
            if (!c) {
                transport_unreachable(q, t, errno);
                return;
            }
        }
        t->failing_since_ms = 0;
        struct job *j = t->qhead;
        t->qhead = j->next;
        if (!t->qhead)
            t->qtail = &t->qhead;
        t->qlen--;
        j->next = NULL;
        job_start(q, c, j);
    }
}

void qmgr_transport_kick(struct qmgr *q)
{
    for (struct transport *t = q->transports; t; t = t->next)
        transport_dispatch(q, t);
}

/* Queue the message's pending units: one job per transport and next hop, at most rcpt_limit units each. */
void qmgr_transport_submit(struct qmgr *q, struct qmsg *m)
{
    /* Hold the message: a job can end inside dispatch (an unreachable agent),
     * and qmgr_finish_maybe() must not free the message under our feet. */
    m->inflight++;
    for (size_t i = 0; i < m->ndlv; i++) {
        struct dlv *d = &m->dlvs[i];
        if (d->state != DLV_PENDING)
            continue;
        struct transport *t = qmgr_transport_get(q, d->transport);
        if (!t) {
            qmgr_dlv_set_final(d, DLV_DEFERRED, "4.3.0", "mail transport unavailable");
            qmgr_finish_log_unit(q, m, d, NULL);
            continue;
        }
        struct job *j = xcalloc(1, sizeof(*j));
        j->m = m;
        j->t = t;
        j->units = xmalloc(sizeof(*j->units) * (m->ndlv - i));
        j->t_queued_ms = mono_msec();
        for (size_t k = i; k < m->ndlv && j->nunits < (size_t)t->rcpt_limit; k++) {
            struct dlv *e = &m->dlvs[k];
            if (e->state == DLV_PENDING && strcmp(e->transport, d->transport) == 0 &&
                strcmp(e->nexthop ? e->nexthop : "", d->nexthop ? d->nexthop : "") == 0) {
                j->units[j->nunits++] = k;
                e->state = DLV_INFLIGHT;
            }
        }
        /* Marked in flight while queued so the loop does not pick them twice. */
        m->inflight++;
        *t->qtail = j;
        t->qtail = &j->next;
        t->qlen++;
    }
    for (struct transport *t = q->transports; t; t = t->next)
        if (t->qhead)
            transport_dispatch(q, t);
    m->inflight--;
    qmgr_finish_maybe(q, m);
}

void qmgr_transport_free_all(struct qmgr *q)
{
    while (q->transports) {
        struct transport *t = q->transports;
        q->transports = t->next;
        while (t->conns) {
            struct tconn *c = t->conns;
            t->conns = c->next;
            conn_free(c->io);
            if (c->job)
                job_free(c->job);
            free(c);
        }
        while (t->qhead) {
            struct job *j = t->qhead;
            t->qhead = j->next;
            job_free(j);
        }
        if (t->retry)
            ev_timer_cancel(q->loop, t->retry);
        free(t->name);
        free(t->sock);
        free(t);
    }
}
