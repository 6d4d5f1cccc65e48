/*
 * policy.c - smtpd's client of policy servers (see policy.h).
 *
 * A question owns a connection while it is on the wire; between questions
 * a connection waits in its server's idle list until max_idle passes (its
 * deadline), it has served request_limit questions, or it is max_ttl old.
 * A failure (connect refused, an error, EOF, a malformed reply, the
 * deadline) closes that connection and the question is tried again on a
 * new one after retry_delay, up to try_limit attempts in all.
 */
#include "smtpd/policy.h"
#include "smtpd/endpoint.h"
#include "lib-conf/config.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct pserver;
struct preq;

struct pconn {
    struct pconn *next;                /* in the server's idle list */
    struct pserver *srv;
    struct conn *io;
    uint64_t born_ms;
    long long served;
    struct preq *req;                  /* the question on the wire, or NULL: idle */
    char action[SMTPD_POLICY_REPLY_MAX];
    int got_action;
};

struct pserver {
    struct pserver *next;
    char *name;                        /* as written after check_policy_service */
    struct pconn *idle;
};

struct preq {
    struct preq *next, *prev;
    struct smtpd_policy *p;
    struct pserver *srv;
    char *request;                     /* the attributes and the empty line */
    smtpd_policy_cb cb;
    void *arg;
    int tries;
    struct pconn *c;                   /* on the wire on c, or NULL */
    struct ev_timer *timer;            /* waiting to be (re)tried */
};

struct smtpd_policy {
    struct evloop *loop;
    char *queue_dir;
    struct pserver *servers;
    struct preq *reqs;
    uint64_t timeout_ms, max_idle_ms, max_ttl_ms, retry_delay_ms;
    long long request_limit, try_limit;
};

/* ---- connections ---- */

static void pconn_ready(struct conn *io, void *arg);
static void pconn_lost(struct conn *io, void *arg);
static void pconn_deadline(struct conn *io, void *arg);
static const struct conn_cb pconn_cb = {
    .ready = pconn_ready, .lost = pconn_lost, .deadline = pconn_deadline,
};
static void req_failed(struct preq *r, const char *why);

static void pconn_free(struct pconn *c)
{
    struct pserver *s = c->srv;
    for (struct pconn **pp = &s->idle; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    conn_free(c->io);
    free(c);
}

/* A socket connecting to server name (non-blocking), or -1 with errno. */
static int server_connect(const struct smtpd_policy *p, const char *name)
{
    const char *colon = strncmp(name, "inet:", 5) == 0 ? strrchr(name + 5, ':') : NULL;
    if (strncmp(name, "inet:", 5) == 0 && (!colon || colon == name + 5)) {
        errno = EINVAL;                /* a policy service names its host */
        return -1;
    }
    return smtpd_endpoint_connect(name, p->queue_dir);
}

/* An idle connection that may serve another question, or NULL. */
static struct pconn *take_idle(struct smtpd_policy *p, struct pserver *s)
{
    uint64_t now = ev_now(p->loop);
    while (s->idle) {
        struct pconn *c = s->idle;
        s->idle = c->next;
        c->next = NULL;
        if (now - c->born_ms < p->max_ttl_ms &&
            (p->request_limit <= 0 || c->served < p->request_limit))
            return c;
        conn_free(c->io);
        free(c);
    }
    return NULL;
}

static struct pconn *pconn_open(struct smtpd_policy *p, struct pserver *s)
{
    int fd = server_connect(p, s->name);
    if (fd < 0)
        return NULL;
    struct pconn *c = xcalloc(1, sizeof(*c));
    c->srv = s;
    c->io = conn_new(fd, SMTPD_POLICY_REPLY_MAX + 2, SMTPD_POLICY_REQUEST_MAX + 2);
    conn_set_lines(c->io, SMTPD_POLICY_REPLY_MAX, CONN_CRLF);
    conn_attach(c->io, p->loop, &pconn_cb, c);
    c->born_ms = ev_now(p->loop);
    return c;
}

/* ---- questions ---- */

static void req_unlink(struct preq *r)
{
    struct smtpd_policy *p = r->p;
    if (r->prev)
        r->prev->next = r->next;
    else
        p->reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    if (r->timer)
        ev_timer_cancel(p->loop, r->timer);
    free(r->request);
}

/* The answer (or the final failure): the connection goes back to the idle list. */
static void req_done(struct preq *r, int ok, const char *action)
{
    struct pconn *c = r->c;
    if (c) {
        c->req = NULL;
        c->served++;
        c->next = c->srv->idle;
        c->srv->idle = c;
        conn_deadline_in(c->io, r->p->max_idle_ms);
    }
    req_unlink(r);
    smtpd_policy_cb cb = r->cb;
    void *arg = r->arg;
    free(r);
    cb(arg, ok, action);
}

static void req_try(void *arg)
{
    struct preq *r = arg;
    struct smtpd_policy *p = r->p;
    r->timer = NULL;
    r->tries++;
    struct pconn *c = take_idle(p, r->srv);
    if (!c)
        c = pconn_open(p, r->srv);
    if (!c) {
        req_failed(r, strerror(errno));
        return;
    }
    c->req = r;
    c->got_action = 0;
    r->c = c;
    if (conn_write(c->io, r->request, strlen(r->request)) < 0) {
        req_failed(r, "request too long");
        return;
    }
    conn_deadline_in(c->io, p->timeout_ms);
    conn_update(c->io);
}

/* This attempt failed: drop its connection, try again later or give up. */
static void req_failed(struct preq *r, const char *why)
{
    struct smtpd_policy *p = r->p;
    msg_warn("problem talking to server %s: %s", r->srv->name, why);
    if (r->c) {
        r->c->req = NULL;
        pconn_free(r->c);
        r->c = NULL;
    }
    if (r->tries < p->try_limit) {
        r->timer = ev_timer_add(p->loop, p->retry_delay_ms, req_try, r);
        return;
    }
    /* Never from inside smtpd_policy_ask(): the first try runs on a timer. */
    req_done(r, 0, NULL);
}

static void pconn_ready(struct conn *io, void *arg)
{
    struct pconn *c = arg;
    if (conn_flush(io) < 0) {
        if (c->req)
            req_failed(c->req, strerror(errno));
        else
            pconn_free(c);
        return;
    }
    char *line;
    size_t len;
    enum conn_line_result lr;
    while ((lr = conn_line(io, &line, &len)) == CONN_LINE) {
        if (!c->req) {
            pconn_free(c);                  /* talk without a question: a broken server */
            return;
        }
        if (len > 0) {
            if (strncmp(line, "action=", 7) == 0) {
                str_copy(c->action, line + 7, sizeof(c->action));
                c->got_action = 1;
            }
            continue;                       /* other attributes are ignored, as Postfix does */
        }
        if (!c->got_action) {
            req_failed(c->req, "reply without an action attribute");
            return;
        }
        char action[SMTPD_POLICY_REPLY_MAX];
        str_copy(action, c->action, sizeof(action));
        req_done(c->req, 1, action);
        return;                             /* one reply per question */
    }
    if (lr == CONN_LONG) {
        if (c->req)
            req_failed(c->req, "reply line too long");
        else
            pconn_free(c);
        return;
    }
    conn_update(io);
}

static void pconn_lost(struct conn *io, void *arg)
{
    struct pconn *c = arg;
    if (c->req)
        req_failed(c->req, conn_eof(io) ? "connection closed by server" : strerror(errno));
    else
        pconn_free(c);                      /* an idle connection the server closed */
}

static void pconn_deadline(struct conn *io, void *arg)
{
    (void)io;
    struct pconn *c = arg;
    if (c->req)
        req_failed(c->req, "timeout");
    else
        pconn_free(c);                      /* idle for max_idle */
}

/* ---- the API ---- */

static uint64_t time_ms(const struct config *cfg, enum param_id id)
{
    long long s = cfg_get_time(cfg, id);
    return s > 0 ? (uint64_t)s * 1000u : 1000u;
}

struct smtpd_policy *smtpd_policy_new(struct evloop *loop, const struct config *cfg,
                                      const char *queue_dir)
{
    struct smtpd_policy *p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->queue_dir = xstrdup(queue_dir);
    p->timeout_ms = time_ms(cfg, P_smtpd_policy_service_timeout);
    p->max_idle_ms = time_ms(cfg, P_smtpd_policy_service_max_idle);
    p->max_ttl_ms = time_ms(cfg, P_smtpd_policy_service_max_ttl);
    p->retry_delay_ms = time_ms(cfg, P_smtpd_policy_service_retry_delay);
    p->request_limit = cfg_get_int(cfg, P_smtpd_policy_service_request_limit);
    p->try_limit = cfg_get_int(cfg, P_smtpd_policy_service_try_limit);
    return p;
}

void smtpd_policy_free(struct smtpd_policy *p)
{
    if (!p)
        return;
    while (p->reqs) {
        struct preq *r = p->reqs;
        if (r->c)
            pconn_free(r->c);
        req_unlink(r);
        free(r);
    }
    while (p->servers) {
        struct pserver *s = p->servers;
        p->servers = s->next;
        while (s->idle)
            pconn_free(s->idle);
        free(s->name);
        free(s);
    }
    free(p->queue_dir);
    free(p);
}

static struct pserver *server_get(struct smtpd_policy *p, const char *name)
{
    for (struct pserver *s = p->servers; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    struct pserver *s = xcalloc(1, sizeof(*s));
    s->name = xstrdup(name);
    s->next = p->servers;
    p->servers = s;
    return s;
}

void smtpd_policy_ask(struct smtpd_policy *p, const char *server, const char *request,
                      smtpd_policy_cb cb, void *arg)
{
    struct preq *r = xcalloc(1, sizeof(*r));
    r->p = p;
    r->srv = server_get(p, server);
    r->request = xasprintf("%s\n", request);
    r->cb = cb;
    r->arg = arg;
    r->next = p->reqs;
    if (p->reqs)
        p->reqs->prev = r;
    p->reqs = r;
    /* The first try on the next loop turn: the callback never runs inside this call. */
    r->timer = ev_timer_add(p->loop, 0, req_try, r);
}

void smtpd_policy_cancel(struct smtpd_policy *p, void *arg)
{
    if (!p)
        return;
    struct preq *r = p->reqs;
    while (r) {
        struct preq *next = r->next;
        if (r->arg == arg) {
            if (r->c) {
                r->c->req = NULL;
                pconn_free(r->c);     /* its answer would be read as the next question's */
            }
            req_unlink(r);
            free(r);
        }
        r = next;
    }
}
