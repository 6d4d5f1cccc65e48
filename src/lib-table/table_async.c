/*
 * table_async.c - restartable lookups (table.h): remote tables asked
 * through the proxymap service from an event loop.
 *
 * Owns: the current step's waiter, the answers each waiter collected, the
 * questions in flight (one per distinct table spec and key: waiters that
 * ask the same question share it), and the client side of the proxymap
 * protocol (tableproto.h) -- one UNIX-socket connection per question, at
 * most ASYNC_CONN_MAX at once, the rest queued (at most ASYNC_QUEUE_MAX)
 * -- with one deadline per question (ipc_timeout). All socket I/O of the
 * client is in the "connection" section below.
 *
 * Every question ends exactly once (an answer, a protocol error, a refused
 * or failed connection, a timeout) and then every waiter still attached is
 * woken once, from the event loop, never from inside a lookup.
 */
#include "lib-table/table_impl.h"
#include "lib-table/tableproto.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ASYNC_CONN_MAX    32      /* questions on the wire at once, per process */
#define ASYNC_QUEUE_MAX   4096    /* questions waiting for a connection */
#define ASYNC_ANSWERS_MAX 256     /* answers one step may collect */

enum { W_IDLE, W_WAITING, W_WAKING };

struct table_answer {
    char *spec, *key;
    int rc;
    char *value;
    struct table_answer *next;
};

struct table_req {
    char *spec, *key;
    struct conn *io;            /* lib/conn.h; NULL: queued, or failed to connect */
    int failed;                 /* could not be sent: finishes on a timer tick */
    struct ev_timer *timer;     /* the failed case's tick (a connection has its deadline) */
    struct table_wait *waiters;
    struct table_req *next;
};

static struct {
    struct evloop *loop;
    char *path;                 /* the proxymap socket; NULL: lookups wait in place */
    int warned;
    uint64_t timeout_ms;
    struct table_wait *current; /* the step being run */
    struct table_req *reqs;     /* in flight and queued, oldest first */
    unsigned nconn, nqueued;
    struct table_wait *waking;  /* woken, in order */
    struct table_wait **waking_tail;
    int in_wake;
} A;

static void req_start(struct table_req *r);
static void req_finish(struct table_req *r, int rc, const char *value);

/* -------------------------------------------------------------- set-up */

static char *socket_path(const struct config *cfg)
{
    const char *qdir = cfg_get(cfg, P_queue_directory);
    const char *name = cfg_get(cfg, P_proxymap_service_name);
    if (!qdir || !name || !*name)
        return NULL;
    static const char *const dirs[] = {"private", "public"};
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        char *p = xasprintf("%s/%s/%s", qdir, dirs[i], name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISSOCK(st.st_mode))
            return p;
        free(p);
    }
    return NULL;
}

int table_async_init(struct evloop *loop, const struct config *cfg)
{
    A.loop = loop;
    free(A.path);
    A.path = socket_path(cfg);
    A.warned = 0;
    long long t = cfg_get_time(cfg, P_ipc_timeout);
    A.timeout_ms = (uint64_t)(t > 0 ? t : 3600) * 1000;
    A.waking_tail = &A.waking;
    return A.path != NULL;
}

/* ------------------------------------------------------------- waiters */

static void answers_free(struct table_wait *w)
{
    while (w->answers) {
        struct table_answer *a = w->answers;
        w->answers = a->next;
        free(a->spec);
        free(a->key);
        free(a->value);
        free(a);
    }
    w->nanswers = 0;
}

void table_wait_init(struct table_wait *w, void (*wake)(void *arg), void *arg)
{
    memset(w, 0, sizeof(*w));
    w->wake = wake;
    w->arg = arg;
}

void table_wait_begin(struct table_wait *w)
{
    INVARIANT(A.current == NULL);
    INVARIANT(w->where == W_IDLE);
    w->pending = 0;
    A.current = w;
}

int table_wait_end(struct table_wait *w)
{
    INVARIANT(A.current == w);
    A.current = NULL;
    INVARIANT(!w->pending || w->where == W_WAITING);
    return w->pending;
}

void table_wait_done(struct table_wait *w)
{
    INVARIANT(w->where == W_IDLE);
    answers_free(w);
}

static void unlink_from(struct table_wait **head, struct table_wait *w)
{
    for (struct table_wait **pp = head; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            return;
        }
    }
}

void table_wait_cancel(struct table_wait *w)
{
    if (A.current == w)
        A.current = NULL;
    if (w->where == W_WAITING && w->req) {
        unlink_from(&w->req->waiters, w);
    } else if (w->where == W_WAKING) {
        unlink_from(&A.waking, w);
        A.waking_tail = &A.waking;
        while (*A.waking_tail)
            A.waking_tail = &(*A.waking_tail)->next;
    }
    w->where = W_IDLE;
    w->req = NULL;
    w->next = NULL;
    w->pending = 0;
    answers_free(w);
}

static const struct table_answer *answer_find(const struct table_wait *w, const char *spec,
                                              const char *key)
{
    for (const struct table_answer *a = w->answers; a; a = a->next)
        if (strcmp(a->key, key) == 0 && strcmp(a->spec, spec) == 0)
            return a;
    return NULL;
}

static void answer_add(struct table_wait *w, const struct table_req *r, int rc, const char *value)
{
    struct table_answer *a = xcalloc(1, sizeof(*a));
    a->spec = xstrdup(r->spec);
    a->key = xstrdup(r->key);
    a->rc = rc;
    a->value = xstrdup(value);
    a->next = w->answers;
    w->answers = a;
    w->nanswers++;
}

/* Wake everything queued for waking, in order; only the outermost call runs. */
static void wake_all(void)
{
    if (A.in_wake)
        return;
    A.in_wake = 1;
    while (A.waking) {
        struct table_wait *w = A.waking;
        A.waking = w->next;
        if (!A.waking)
            A.waking_tail = &A.waking;
        w->next = NULL;
        w->where = W_IDLE;
        w->wake(w->arg);
    }
    A.in_wake = 0;
}

/* ------------------------------------------------------------- lookups */

static struct table_req *req_find(const char *spec, const char *key)
{
    for (struct table_req *r = A.reqs; r; r = r->next)
        if (strcmp(r->key, key) == 0 && strcmp(r->spec, spec) == 0)
            return r;
    return NULL;
}

static struct table_req *req_new(const char *spec, const char *key)
{
    struct table_req *r = xcalloc(1, sizeof(*r));
    r->spec = xstrdup(spec);
    r->key = xstrdup(key);
    struct table_req **pp = &A.reqs;
    while (*pp)
        pp = &(*pp)->next;
    *pp = r;
    return r;
}

static void warn_in_place(const struct table *t)
{
    if (A.warned)
        return;
    A.warned = 1;
    msg_warn("%s: no proxymap service in master.cf: lookups in remote tables wait in place "
             "and stall this process while they do", t->spec);
}

int table_async_lookup(struct table *t, const char *key, struct buf *result, int *rc)
{
    struct table_wait *w = A.current;
    if (!A.loop || !w)
        return 0;           /* command line, agents, or not in a step: in place */
    if (!A.path) {
        warn_in_place(t);
        return 0;
    }
    const struct table_answer *a = answer_find(w, t->spec, key);
    if (a) {
        *rc = a->rc;
        if (a->rc == TABLE_FOUND && buf_puts(result, a->value) < 0) {
            msg_warn("%s: lookup result too long", t->spec);
            *rc = TABLE_TEMPFAIL;
        }
        return 1;
    }
    *rc = TABLE_PENDING;
    if (w->pending)
        return 1;           /* one question per step at a time */
    if (w->nanswers >= ASYNC_ANSWERS_MAX) {
        msg_warn("%s: more than %d remote lookups in one step", t->spec, ASYNC_ANSWERS_MAX);
        *rc = TABLE_TEMPFAIL;
        return 1;
    }
    struct table_req *r = req_find(t->spec, key);
    if (!r) {
        if (A.nqueued >= ASYNC_QUEUE_MAX) {
            msg_warn("%s: too many lookups wait for the proxymap service", t->spec);
            *rc = TABLE_TEMPFAIL;
            return 1;
        }
        r = req_new(t->spec, key);
        A.nqueued++;
        if (A.nconn < ASYNC_CONN_MAX)
            req_start(r);
    }
    w->pending = 1;
    w->where = W_WAITING;
    w->req = r;
    w->next = r->waiters;
    r->waiters = w;
    return 1;
}

/* Start queued questions while there is room. */
static void start_queued(void)
{
    for (struct table_req *r = A.reqs; r && A.nconn < ASYNC_CONN_MAX;) {
        struct table_req *next = r->next;
        if (!r->io && !r->failed)
            req_start(r);
        r = next;
    }
}

/* The question has its answer: hand it to every waiter, free it, wake them. */
static void req_finish(struct table_req *r, int rc, const char *value)
{
    for (struct table_req **pp = &A.reqs; *pp; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    }
    if (r->io)
        A.nconn--;
    else
        A.nqueued--;
    if (r->timer)
        ev_timer_cancel(A.loop, r->timer);
    while (r->waiters) {
        struct table_wait *w = r->waiters;
        r->waiters = w->next;
        answer_add(w, r, rc, value);
        w->req = NULL;
        w->where = W_WAKING;
        w->next = NULL;
        *A.waking_tail = w;
        A.waking_tail = &w->next;
    }
    conn_free(r->io);                  /* after the waiters: value may point into it */
    free(r->spec);
    free(r->key);
    free(r);
    start_queued();
    wake_all();
}

static void req_fail(struct table_req *r, const char *why)
{
    msg_warn("%s: lookup of \"%s\" through the proxymap service failed: %s", r->spec, r->key,
             why);
    req_finish(r, TABLE_TEMPFAIL, "");
}

/* ---------------------------------------------------------- connection */

static void req_answer(struct table_req *r, char *line, size_t len)
{
    enum tproto_status st;
    char *value;
    const char *why;
    if (tproto_reply_parse(line, len, &st, &value, &why) < 0) {
        req_fail(r, why);
        return;
    }
    switch (st) {
    case TP_FOUND: req_finish(r, TABLE_FOUND, value); break;
    case TP_NOTFOUND: req_finish(r, TABLE_NOTFOUND, ""); break;
    case TP_DENIED:
        msg_warn("%s: the proxymap service refused the table: %s", r->spec, value);
        req_finish(r, TABLE_TEMPFAIL, "");
        break;
    default:
        msg_warn("%s: lookup of \"%s\" failed: %s", r->spec, r->key, value);
        req_finish(r, TABLE_TEMPFAIL, "");
        break;
    }
}

/* The reply line, once it is complete. */
static void req_ready(struct conn *io, void *arg)
{
    struct table_req *r = arg;
    if (conn_flush(io) < 0) {
        req_fail(r, strerror(errno));
        return;
    }
    char *line;
    size_t len;
    switch (conn_line(io, &line, &len)) {
    case CONN_LINE:
        req_answer(r, line, len);
        return;
    case CONN_LONG:
        req_fail(r, "reply too long");
        return;
    default:
        conn_update(io);
        return;
    }
}

static void req_lost(struct conn *io, void *arg)
{
    req_fail(arg, conn_eof(io) ? "connection closed before the reply" : strerror(errno));
}

static void req_deadline(struct conn *io, void *arg)
{
    (void)io;
    req_fail(arg, "timeout");
}

static const struct conn_cb req_cb = {
    .ready = req_ready, .lost = req_lost, .deadline = req_deadline,
};

/* The failed case: finished on the next timer tick (never from inside the lookup call). */
static void req_timeout(void *arg)
{
    struct table_req *r = arg;
    r->timer = NULL;
    req_finish(r, TABLE_TEMPFAIL, "");   /* already logged */
}

/* Connect and send; a failure finishes the question at once. */
static void req_start(struct table_req *r)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    str_copy(sun.sun_path, A.path, sizeof(sun.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const char *why = NULL;
    struct buf req;
    buf_init(&req, TPROTO_REQUEST_MAX);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        why = strerror(errno);
    else if (tproto_request_encode(&req, 1, r->spec, r->key) < 0)
        why = "request too long";
    if (!why) {
        r->io = conn_new(fd, TPROTO_REPLY_MAX + 2, TPROTO_REQUEST_MAX);
        conn_set_lines(r->io, TPROTO_REPLY_MAX, 0);
        int queued = conn_write(r->io, req.data, req.len);
        INVARIANT(queued == 0);        /* encoded within the output limit */
        conn_attach(r->io, A.loop, &req_cb, r);
        conn_deadline_in(r->io, A.timeout_ms);
        conn_update(r->io);
    }
    buf_free(&req);
    if (why) {
        if (fd >= 0)
            close(fd);
        /* Not woken from inside table_async_lookup: finish on the next timer tick. */
        r->failed = 1;
        r->timer = ev_timer_add(A.loop, 0, req_timeout, r);
        msg_warn("%s: cannot reach the proxymap service %s: %s", r->spec, A.path, why);
        return;
    }
    A.nqueued--;
    A.nconn++;
}
