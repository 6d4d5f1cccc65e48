/*
 * frontend.c - the front end of a login path (frontend.h): unprivileged,
 * one event loop, every client until it has logged in.
 *
 * Owns: accepting connections, TLS (STARTTLS/STLS when the protocol asks,
 * or wrapper mode), the greeting's wait for the auth service, the
 * plaintext policy (disable_plaintext_auth: no plaintext mechanisms on a
 * connection that is neither TLS nor from the server's own address, as
 * Dovecot), logins through the auth service (lib-auth/sasl_client.h), the
 * autologout before login (<role>_login_timeout from the connection's
 * start, as Dovecot's built-in one), and handing a logged-in session to
 * the launcher: the client's socket itself when it is plaintext, or one
 * end of a socket pair when it is TLS, after which this process relays
 * between the TLS connection and that pair. The protocol's words come
 * from its struct login_proto.
 */
#include "lib-login/frontend.h"


#include "lib-auth/sasl_client.h"
#include "lib-conf/config.h"
#include "lib-tls/tls.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FE_IN_MAX        (256 * 1024)
#define FE_OUT_MAX       (256 * 1024)
#define AUTH_LINE_MAX    16384          /* an AUTHENTICATE response line */
#define RELAY_CHUNK      16384

enum fe_state {
    FS_HANDSHAKE,     /* TLS handshake (wrapper mode or after STARTTLS) */
    FS_CMD,           /* reading commands */
    FS_STARTTLS,      /* "OK Begin TLS" queued: TLS starts when it is sent */
    FS_AUTH_WAIT,     /* the auth service has the request */
    FS_AUTH_CONT,     /* "+ challenge" sent: the next line is the answer */
    FS_HANDOFF,       /* the launcher has the session */
    FS_RELAY,         /* logged in over TLS: relaying to the mail worker */
    FS_CLOSING,       /* flushing the last replies */
};

struct login_fe {
    struct login_srv *srv;
    struct conn *c;
    void *ps;                   /* the protocol's state */
    enum fe_state state;
    unsigned sid;
    char rip[64], lip[64], namaddr[96];
    int tls, secured, greeted;
    struct sasl_auth *sasl;
    char *tag;                  /* of the LOGIN/AUTHENTICATE command */
    char mech[32];
    int relay_fd;               /* TLS: the worker's end, until the launcher said OK */
    struct conn *inner;         /* TLS relay: our end of the pair */
    struct ev_timer *greet_timer;  /* waiting for the auth service before the greeting */
    unsigned greet_waits;
    struct login_fe *next, *prev;
};

struct fe_listener {
    struct login_srv *srv;
    int fd;
};

struct login_srv {
    const struct login_settings *set;
    const struct login_proto *proto;
    struct evloop *loop;
    struct tls_server *tls;
    const char *tls_error;
    struct sasl_client *sasl;
    int launcher;
    struct login_fe *sessions;
    size_t nsessions;
    unsigned next_sid;
    struct fe_listener *listeners;
    size_t nlisteners;
    int stopping;
};

static void session_process(struct login_fe *s);
static void session_destroy(struct login_fe *s);
static void relay_pump(struct login_fe *s);

/* ------------------------------------------------------------------ */
/* what the protocol asks                                              */

struct conn *login_fe_conn(struct login_fe *s)
{
    return s->c;
}

const struct login_settings *login_fe_settings(const struct login_fe *s)
{
    return s->srv->set;
}

const char *login_fe_tag(const struct login_fe *s)
{
    return s->tag ? s->tag : "";
}

const char *login_fe_namaddr(const struct login_fe *s)
{
    return s->namaddr;
}

int login_fe_tls(const struct login_fe *s)
{
    return s->tls;
}

int login_fe_starttls_offered(const struct login_fe *s)
{
    return !s->tls && s->srv->tls && !s->srv->set->wrappermode;
}

int login_fe_plaintext_ok(const struct login_fe *s)
{
    return s->secured || !s->srv->set->disable_plaintext;
}

/* The mechanisms offered on this connection now. */
void login_fe_mechs(struct login_fe *s, struct buf *out)
{
    const char *opts = login_fe_plaintext_ok(s) ? "noanonymous" : "noplaintext, noanonymous";
    saslc_mechs(s->srv->sasl, 0, opts, NULL, out);
}

int login_fe_mech_offered(struct login_fe *s, const char *mech)
{
    struct buf m;
    buf_init(&m, 4096);
    login_fe_mechs(s, &m);
    size_t n;
    char **v = str_split_list(buf_cstr(&m), &n);
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = str_ieq(v[i], mech);
    strv_free(v);
    buf_free(&m);
    return found;
}

void login_fe_close(struct login_fe *s)
{
    s->state = FS_CLOSING;
    conn_want_input(s->c, 0);
    conn_deadline_in(s->c, 10000);
}

void login_fe_starttls(struct login_fe *s)
{
    s->state = FS_STARTTLS;
    conn_block_input(s->c, 1);
}

/* End the session once its output is sent (session_process does it). */
static void greet(struct login_fe *s);

static void greet_now(struct login_fe *s)
{
    s->srv->proto->greet(s, s->ps);
    s->greeted = 1;
}

#define GREET_WAIT_MS   50
#define GREET_WAITS_MAX 100      /* 5 s: then greet without the mechanisms */

static void greet_retry(void *arg)
{
    struct login_fe *s = arg;
    s->greet_timer = NULL;
    greet(s);
    session_process(s);
}

/* The greeting lists the mechanisms: wait (a little) for the auth service. */
static void greet(struct login_fe *s)
{
    if (!saslc_ready(s->srv->sasl) && s->greet_waits++ < GREET_WAITS_MAX) {
        saslc_mechs(s->srv->sasl, 0, "", NULL, &(struct buf){0});  /* connects */
        s->greet_timer = ev_timer_add(s->srv->loop, GREET_WAIT_MS, greet_retry, s);
        return;
    }
    greet_now(s);
}

/* ------------------------------------------------------------------ */
/* TLS                                                                 */

static void tls_begin(struct login_fe *s)
{
    struct tls_conn *t = tls_accept(s->srv->tls, conn_fd(s->c), s->namaddr);
    if (!t) {
        session_destroy(s);
        return;
    }
    size_t dropped = tls_conn_attach(s->c, t);
    if (dropped > 0)
        msg_info("%s: discarding %zu bytes of plaintext sent after STARTTLS", s->namaddr,
                 dropped);
    if (s->srv->proto->tls_started)
        s->srv->proto->tls_started(s, s->ps);
    s->state = FS_HANDSHAKE;
    conn_block_input(s->c, 0);
    conn_want_input(s->c, 1);
    conn_handshake(s->c, s->srv->set->login_timeout_ms);
}

static void on_handshake(struct conn *c, void *arg, int result)
{
    (void)c;
    struct login_fe *s = arg;
    if (result == -2)
        msg_info("SSL_accept error from %s: timed out", s->namaddr);
    if (result != 0) {
        session_destroy(s);
        return;
    }
    s->tls = s->secured = 1;
    s->state = FS_CMD;
    if (!s->greeted)
        greet(s);
    else if (s->srv->proto->tls_ready)
        s->srv->proto->tls_ready(s, s->ps);
    session_process(s);
}

/* ------------------------------------------------------------------ */
/* the hand-off                                                        */

static struct login_fe *session_by_sid(struct login_srv *srv, unsigned sid)
{
    for (struct login_fe *s = srv->sessions; s; s = s->next)
        if (s->sid == sid && s->state == FS_HANDOFF)
            return s;
    return NULL;
}

/* Back to reading commands, as before the login. */
static void handoff_undo(struct login_fe *s)
{
    if (s->relay_fd >= 0)
        close(s->relay_fd);
    s->relay_fd = -1;
    if (s->inner) {
        conn_free(s->inner);
        s->inner = NULL;
    }
    s->state = FS_CMD;
    conn_want_input(s->c, 1);
}

static void handoff_failed(struct login_fe *s, const char *why)
{
    handoff_undo(s);
    msg_warn("%s: login of %s not completed: %s", s->namaddr, s->mech, why);
    s->srv->proto->auth_result(s, s->ps, LOGIN_AUTH_INTERNAL);
}

static const struct conn_cb inner_cb;

/* mail_max_userip_connections: Dovecot's answer, then the connection ends. */
static void handoff_limit(struct login_fe *s)
{
    handoff_undo(s);
    s->srv->proto->bye(s, s->ps, LOGIN_BYE_USERIP);
    login_fe_close(s);
    session_process(s);
}

static void handoff_done(struct login_fe *s, const char *user, const char *mpid)
{
    msg_info("Login: user=<%s>, method=%s, rip=%s, lip=%s, mpid=%s%s", user, s->mech, s->rip,
             s->lip, mpid, s->tls ? ", TLS" : "");
    if (!s->tls) {
        session_destroy(s);        /* the mail worker has the socket now */
        return;
    }
    close(s->relay_fd);            /* the worker holds its end */
    s->relay_fd = -1;
    s->state = FS_RELAY;
    conn_set_total(s->c, 0);       /* the mail worker's autologout applies now */
    conn_deadline_clear(s->c);
    conn_want_input(s->c, 1);
    conn_attach(s->inner, s->srv->loop, &inner_cb, s);
    relay_pump(s);
}

static void on_launcher(int fd, int events, void *arg)
{
    (void)events;
    struct login_srv *srv = arg;
    for (;;) {
        struct login_msg m;
        int r = login_msg_recv(fd, &m);
        if (r == 0)
            msg_fatal("the %s launcher is gone", srv->set->role);
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            msg_fatal("reading from the %s launcher: %s", srv->set->role, strerror(errno));
        }
        unsigned sid = m.nfields >= 2 ? (unsigned)strtoul(m.fields[1], NULL, 10) : 0;
        struct login_fe *s = session_by_sid(srv, sid);
        if (s && strcmp(m.fields[0], "OK") == 0 && m.nfields >= 4)
            handoff_done(s, m.fields[2], m.fields[3]);
        else if (s && m.nfields >= 4 && strcmp(m.fields[3], "LIMIT") == 0)
            handoff_limit(s);
        else if (s) {
            handoff_failed(s, m.nfields >= 3 ? m.fields[2] : "refused by the launcher");
            session_process(s);
        }
        login_msg_free(&m);
    }
}

/* The auth service said OK: give the session to the launcher. */
static void handoff(struct login_fe *s)
{
    unsigned id;
    unsigned long cpid;
    const char *cookie;
    if (saslc_login_ref(s->srv->sasl, &id, &cpid, &cookie) < 0) {
        handoff_failed(s, "the auth service sent no cookie");
        return;
    }
    if (!s->tls && (conn_flush(s->c) < 0 || conn_out_len(s->c) > 0)) {
        /* the worker's replies must not overtake ours on the socket it takes */
        handoff_failed(s, "the client does not read its replies");
        return;
    }
    char *data;
    size_t len = conn_peek(s->c, &data);
    if (len > LOGIN_PIPELINED_MAX) {
        s->srv->proto->bye(s, s->ps, LOGIN_BYE_PIPELINED);
        login_fe_close(s);
        return;
    }
    int fd = conn_fd(s->c);
    if (s->tls) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            handoff_failed(s, strerror(errno));
            return;
        }
        s->inner = conn_new(sv[0], FE_IN_MAX, FE_OUT_MAX);
        fd_set_nonblock(sv[0], 1);
        s->relay_fd = fd = sv[1];
    }
    char sid[16], ids[16], cpids[24];
    snprintf(sid, sizeof(sid), "%u", s->sid);
    snprintf(ids, sizeof(ids), "%u", id);
    snprintf(cpids, sizeof(cpids), "%lu", cpid);
    const char *f[] = {"LOGIN", sid, ids, cpids, cookie, s->rip, s->lip, s->tls ? "1" : "0",
                       s->tag, s->mech};
    if (login_msg_send(s->srv->launcher, f, 10, data, len, fd) < 0) {
        handoff_failed(s, strerror(errno));
        return;
    }
    conn_consume(s->c, len);
    s->state = FS_HANDOFF;
    conn_update(s->c);
}

/* ------------------------------------------------------------------ */
/* authentication                                                      */

static void on_sasl(void *arg, enum sasl_status st, const char *text)
{
    struct login_fe *s = arg;
    if (st != SASL_CONT)
        s->sasl = NULL;
    switch (st) {
    case SASL_CONT:
        s->srv->proto->challenge(s, s->ps, text ? text : "");
        s->state = FS_AUTH_CONT;
        conn_want_input(s->c, 1);
        break;
    case SASL_OK:
        handoff(s);
        break;
    case SASL_FAIL:
        msg_warn("%s: SASL %s authentication failed: %s", s->namaddr, s->mech,
                 text && *text ? text : "authentication failure");
        s->srv->proto->auth_result(s, s->ps, LOGIN_AUTH_FAILED);
        s->state = FS_CMD;
        conn_want_input(s->c, 1);
        break;
    case SASL_TEMPFAIL:
        msg_warn("%s: SASL %s authentication aborted: %s", s->namaddr, s->mech,
                 text && *text ? text : "temporary failure");
        s->srv->proto->auth_result(s, s->ps, LOGIN_AUTH_TEMPFAIL);
        s->state = FS_CMD;
        conn_want_input(s->c, 1);
        break;
    }
    session_process(s);
}

void login_fe_auth(struct login_fe *s, const char *tag, const char *mech, const char *ir,
                   const char *logname)
{
    free(s->tag);
    s->tag = xstrdup(tag);
    char m[sizeof(s->mech)];
    str_copy(m, mech, sizeof(m));
    for (char *p = m; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    /* the log names logname (IMAP's LOGIN sent as PLAIN); set before the start, whose
     * callback may come at once */
    str_copy(s->mech, logname ? logname : m, sizeof(s->mech));
    s->state = FS_AUTH_WAIT;
    conn_want_input(s->c, 0);
    int flags = SASL_LOGIN | (s->secured ? SASL_SECURED : 0);
    s->sasl = sasl_auth_start(s->srv->sasl, m, ir, s->rip, s->lip, flags, on_sasl, s);
}

/* The answer to "+ challenge": one line, "*" cancels. */
static void auth_continue(struct login_fe *s)
{
    char *data;
    size_t len = conn_peek(s->c, &data);
    char *nl = len ? memchr(data, '\n', len) : NULL;
    if (!nl) {
        if (len > AUTH_LINE_MAX) {
            s->srv->proto->bye(s, s->ps, LOGIN_BYE_AUTH_LONG);
            login_fe_close(s);
        }
        return;
    }
    size_t n = (size_t)(nl - data);
    size_t take = n + 1;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    char *line = xstrndup(data, n);
    conn_consume(s->c, take);
    const char *b64 = NULL;
    int r = s->srv->proto->response(s->ps, line, &b64);
    if (r != 0) {
        sasl_auth_cancel(s->sasl);
        s->sasl = NULL;
        s->state = FS_CMD;
        s->srv->proto->auth_result(s, s->ps, r > 0 ? LOGIN_AUTH_ABORTED : LOGIN_AUTH_MALFORMED);
    } else {
        s->state = FS_AUTH_WAIT;
        conn_want_input(s->c, 0);
        sasl_auth_continue(s->sasl, b64);
    }
    explicit_bzero(line, n);
    free(line);
}

/* ------------------------------------------------------------------ */
/* the session                                                         */

/* Parse and run what is buffered, while the session reads commands. */
static void session_process(struct login_fe *s)
{
    while ((s->state == FS_CMD && s->greeted) || s->state == FS_AUTH_CONT) {
        if (s->state == FS_AUTH_CONT) {
            enum fe_state before = s->state;
            auth_continue(s);
            if (s->state == before)
                break;
            continue;
        }
        if (!s->srv->proto->command(s, s->ps))
            break;
    }
    if (conn_flush(s->c) < 0 || (s->state == FS_CLOSING && conn_out_len(s->c) == 0)) {
        session_destroy(s);
        return;
    }
    if (s->state == FS_STARTTLS && conn_out_len(s->c) == 0)
        tls_begin(s);
    else
        conn_update(s->c);
}

static void on_ready(struct conn *c, void *arg)
{
    (void)c;
    struct login_fe *s = arg;
    switch (s->state) {
    case FS_CLOSING:
        session_process(s);
        return;
    case FS_RELAY:
        relay_pump(s);
        return;
    case FS_STARTTLS:
        if (conn_flush(s->c) < 0)
            session_destroy(s);
        else if (conn_out_len(s->c) == 0)
            tls_begin(s);
        else
            conn_update(s->c);
        return;
    default:
        session_process(s);
    }
}

static void on_lost(struct conn *c, void *arg)
{
    (void)c;
    struct login_fe *s = arg;
    if (s->state == FS_HANDOFF) {
        conn_want_input(s->c, 0);     /* the launcher's answer decides */
        conn_update(s->c);
        return;
    }
    session_destroy(s);
}

static void on_deadline(struct conn *c, void *arg)
{
    (void)c;
    struct login_fe *s = arg;
    if (s->state == FS_CLOSING || s->state == FS_HANDSHAKE) {
        session_destroy(s);
        return;
    }
    if (s->state == FS_HANDOFF || s->state == FS_RELAY)
        return;
    msg_info("%s: disconnected before login: inactivity", s->namaddr);
    s->srv->proto->bye(s, s->ps, LOGIN_BYE_TIMEOUT);
    login_fe_close(s);
    session_process(s);
}

static const struct conn_cb session_cb = {
    .ready = on_ready, .lost = on_lost, .deadline = on_deadline, .handshake = on_handshake,
};

static void session_destroy(struct login_fe *s)
{
    struct login_srv *srv = s->srv;
    if (s->greet_timer)
        ev_timer_cancel(srv->loop, s->greet_timer);
    if (s->sasl)
        sasl_auth_cancel(s->sasl);
    if (s->relay_fd >= 0)
        close(s->relay_fd);
    if (s->inner)
        conn_free(s->inner);
    conn_free(s->c);
    s->srv->proto->sess_free(s->ps);
    free(s->tag);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    free(s);
    if (srv->stopping && srv->nsessions == 0)
        ev_loop_stop(srv->loop);
}

static int same_ip(const char *a, const char *b)
{
    return *a && strcmp(a, b) == 0;
}

/* Full: the oldest connection that has not logged in makes room (as Dovecot). */
static int make_room(struct login_srv *srv)
{
    if (srv->set->login_client_limit <= 0 ||
        (long long)srv->nsessions < srv->set->login_client_limit)
        return 1;
    struct login_fe *oldest = NULL;
    for (struct login_fe *s = srv->sessions; s; s = s->next)
        if (s->state != FS_RELAY && s->state != FS_HANDOFF)
            oldest = s;            /* the list is newest first */
    if (!oldest)
        return 0;
    msg_warn("%s: disconnected: %s_login_client_limit (%lld) reached", oldest->namaddr,
             srv->set->role, srv->set->login_client_limit);
    session_destroy(oldest);
    return 1;
}

static void session_start(struct login_srv *srv, int fd)
{
    if (!make_room(srv)) {
        msg_warn("connection refused: %s_login_client_limit (%lld) reached", srv->set->role,
                 srv->set->login_client_limit);
        close(fd);
        return;
    }
    struct login_fe *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->sid = ++srv->next_sid;
    s->relay_fd = -1;
    login_sock_addrs(fd, s->rip, sizeof(s->rip), s->lip, sizeof(s->lip));
    snprintf(s->namaddr, sizeof(s->namaddr), "unknown[%s]", s->rip);
    /* Dovecot: a client on the server's own address is as good as TLS */
    s->secured = same_ip(s->rip, s->lip);
    s->ps = srv->proto->sess_new(s);
    s->c = conn_new(fd, FE_IN_MAX, FE_OUT_MAX);
    conn_attach(s->c, srv->loop, &session_cb, s);
    /* as Dovecot's login processes: the whole time before login is bounded */
    conn_set_total(s->c, ev_now(srv->loop) + srv->set->login_timeout_ms);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    if (srv->set->wrappermode) {
        if (!srv->tls) {
            msg_warn("%s: TLS wrapper mode but TLS is unavailable: %s", s->namaddr,
                     srv->tls_error ? srv->tls_error : "no certificate");
            session_destroy(s);
            return;
        }
        tls_begin(s);
        return;
    }
    s->state = FS_CMD;
    greet(s);
    session_process(s);
}

/* ------------------------------------------------------------------ */
/* the TLS relay to the mail worker                                    */

/* Move what one side has read to the other side's output. */
static void relay_move(struct conn *from, struct conn *to)
{
    char *data;
    size_t len;
    while ((len = conn_peek(from, &data)) > 0 && !conn_output_blocked(to)) {
        size_t n = len < RELAY_CHUNK ? len : RELAY_CHUNK;
        if (conn_write(to, data, n) < 0)
            break;
        conn_consume(from, n);
    }
    conn_want_input(from, !conn_output_blocked(to));
}

static void relay_pump(struct login_fe *s)
{
    relay_move(s->c, s->inner);
    relay_move(s->inner, s->c);
    if (conn_flush(s->c) < 0 || conn_flush(s->inner) < 0) {
        session_destroy(s);
        return;
    }
    conn_update(s->c);
    conn_update(s->inner);
}

static void inner_ready(struct conn *c, void *arg)
{
    (void)c;
    relay_pump(arg);
}

static void inner_lost(struct conn *c, void *arg)
{
    (void)c;
    struct login_fe *s = arg;
    relay_move(s->inner, s->c);
    /* the worker closed the session: what it wrote last goes out, then TLS ends */
    conn_free(s->inner);
    s->inner = NULL;
    conn_shutdown(s->c);
    login_fe_close(s);
    session_process(s);
}

static const struct conn_cb inner_cb = {.ready = inner_ready, .lost = inner_lost};

/* ------------------------------------------------------------------ */
/* the process                                                         */

static void on_accept(int fd, int events, void *arg)
{
    (void)fd;
    (void)events;
    struct fe_listener *l = arg;
    for (int i = 0; i < 64; i++) {
        int c = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                msg_warn("accept: %s", strerror(errno));
            return;
        }
        session_start(l->srv, c);
    }
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct login_srv *srv = arg;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    for (size_t i = 0; i < srv->nlisteners; i++) {
        ev_fd_del(srv->loop, srv->listeners[i].fd);
        close(srv->listeners[i].fd);
    }
    /* every session ends: the launcher then stops the mail workers (as Dovecot's
     * shutdown_clients), which say BYE to the logged-in clients */
    while (srv->sessions)
        session_destroy(srv->sessions);
    ev_loop_stop(srv->loop);
}

int login_fe_run(const struct login_settings *set, const struct login_proto *proto,
                 int *listen_fds, size_t nlisten, struct tls_server *tls, const char *tls_error,
                 int launcher)
{
    struct login_srv srv;
    memset(&srv, 0, sizeof(srv));
    srv.set = set;
    srv.proto = proto;
    srv.tls = tls;
    srv.tls_error = tls_error;
    srv.launcher = launcher;
    srv.loop = ev_loop_new();
    signal(SIGPIPE, SIG_IGN);
    char *path = saslc_socket_path(set->queue_dir, set->sasl_path);
    srv.sasl = saslc_new(srv.loop, path);
    free(path);
    saslc_set_service(srv.sasl, set->service);
    saslc_set_client_wait(srv.sasl, (unsigned)set->login_timeout_ms);
    fd_set_nonblock(launcher, 1);
    ev_fd_add(srv.loop, launcher, EV_READ, on_launcher, &srv);
    ev_signal_add(srv.loop, SIGTERM, on_sigterm, &srv);
    srv.listeners = xcalloc(nlisten ? nlisten : 1, sizeof(*srv.listeners));
    srv.nlisteners = nlisten;
    for (size_t i = 0; i < nlisten; i++) {
        srv.listeners[i] = (struct fe_listener){.srv = &srv, .fd = listen_fds[i]};
        fd_set_nonblock(listen_fds[i], 1);
        if (ev_fd_add(srv.loop, listen_fds[i], EV_READ, on_accept, &srv.listeners[i]) < 0)
            msg_fatal("cannot watch listening socket: %s", strerror(errno));
    }
    int rc = ev_loop_run(srv.loop);
    while (srv.sessions)
        session_destroy(srv.sessions);
    ev_fd_del(srv.loop, launcher);
    saslc_free(srv.sasl);
    ev_loop_free(srv.loop);
    free(srv.listeners);
    return rc == 0 ? 0 : 1;
}
