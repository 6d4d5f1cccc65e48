/*
 * sasl_client.c - the client side of the Dovecot authentication protocol
 * on the event loop (see sasl_client.h).
 */
#include "lib-auth/sasl_client.h"
#include "lib-auth/authproto.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define OUT_MAX           (1u << 20)
#define MECHS_MAX         32
#define RETRY_MS          1000
#define RETRY_MAX_MS      30000
#define RESP_MAX          (AUTHPROTO_LINE_MAX - 128)
#define CLIENT_WAIT_MS    300000u   /* default: Postfix's smtpd_timeout */

/* Mechanism properties, as Dovecot announces them and Postfix filters them. */
#define P_PLAINTEXT  0x01
#define P_ACTIVE     0x02
#define P_DICTIONARY 0x04
#define P_ANONYMOUS  0x08
#define P_FWD        0x10
#define P_MUTUAL     0x20
#define P_PRIVATE    0x40
#define P_POSITIVE   (P_FWD | P_MUTUAL)

static const struct { const char *name; unsigned bit; } server_props[] = {
    {"plaintext", P_PLAINTEXT}, {"active", P_ACTIVE},     {"dictionary", P_DICTIONARY},
    {"anonymous", P_ANONYMOUS}, {"forward-secrecy", P_FWD}, {"mutual-auth", P_MUTUAL},
    {"private", P_PRIVATE},
};
static const struct { const char *name; unsigned bit; } conf_props[] = {
    {"noplaintext", P_PLAINTEXT}, {"noactive", P_ACTIVE},     {"nodictionary", P_DICTIONARY},
    {"noanonymous", P_ANONYMOUS}, {"forward_secrecy", P_FWD}, {"mutual_auth", P_MUTUAL},
};

enum conn_state { C_DOWN, C_HANDSHAKE, C_READY };
enum auth_state { A_QUEUED, A_SENT, A_WAIT_CLIENT, A_REPORT };

struct mech_entry {
    char name[64];
    unsigned props;
};

struct sasl_auth {
    struct sasl_client *c;
    unsigned id;
    enum auth_state state;
    char *line;                  /* the AUTH line while queued */
    sasl_cb cb;
    void *arg;
    struct ev_timer *timer;      /* server reply timeout, client answer timeout,
                                  * or the deferred report */
    enum sasl_status report_status;
    char *report_text;
    int login;                   /* SASL_LOGIN: no "nologin" */
    struct sasl_auth *next;
};

struct sasl_client {
    struct evloop *loop;
    char *path;
    char *service;
    unsigned timeout_ms;         /* for the server's reply */
    unsigned client_wait_ms;     /* for the SMTP client's answer to a challenge */
    enum conn_state state;
    struct conn *io;             /* NULL while down */
    struct mech_entry mechs[MECHS_MAX];
    size_t nmechs;
    struct sasl_auth *auths;
    unsigned next_id;
    char cookie[80];             /* the connection's COOKIE (hex), "" if none */
    unsigned ok_id;              /* the request id during a SASL_OK callback */
    uint64_t last_attempt;
    unsigned backoff_ms;         /* background reconnects: 1s doubling to 30s */
    int warned_down;
    struct ev_timer *retry;
};

static const struct conn_cb client_cb;
static void auth_report(struct sasl_auth *a, enum sasl_status st, const char *text);
static void connect_server(struct sasl_client *c);
static void retry_timer(void *arg);

int saslc_login_ref(const struct sasl_client *c, unsigned *id, unsigned long *cpid,
                          const char **cookie)
{
    if (!c->ok_id || !c->cookie[0])
        return -1;
    *id = c->ok_id;
    *cpid = (unsigned long)getpid();
    *cookie = c->cookie;
    return 0;
}

char *saslc_socket_path(const char *queue_dir, const char *sasl_path)
{
    const char *p = sasl_path ? sasl_path : "";
    if (strncmp(p, "unix:", 5) == 0)
        p += 5;
    if (p[0] == '/' || !queue_dir || !*queue_dir)
        return xstrdup(p);
    return xasprintf("%s/%s", queue_dir, p);
}

/* ------------------------------------------------------------------ */
/* options                                                             */

static unsigned parse_props(const char *s, int conf, const char **bad)
{
    unsigned mask = 0;
    size_t n;
    char **v = str_split_list(s ? s : "", &n);
    *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        if (conf) {
            for (size_t k = 0; k < ARRAY_LEN(conf_props); k++)
                if (str_ieq(v[i], conf_props[k].name)) {
                    mask |= conf_props[k].bit;
                    found = 1;
                }
        } else {
            for (size_t k = 0; k < ARRAY_LEN(server_props); k++)
                if (str_ieq(v[i], server_props[k].name)) {
                    mask |= server_props[k].bit;
                    found = 1;
                }
        }
        if (!found && conf && !*bad) {
            static char badword[64];
            str_copy(badword, v[i], sizeof(badword));
            *bad = badword;
        }
    }
    strv_free(v);
    return mask;
}

int sasl_security_options_check(const char *options, char *err, size_t errlen)
{
    const char *bad;
    parse_props(options, 1, &bad);
    if (bad) {
        snprintf(err, errlen, "unknown SASL security option \"%s\"", bad);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* connection                                                          */

static void send_raw(struct sasl_client *c, const char *line)
{
    if (!c->io)
        return;
    struct buf *out = conn_out(c->io);
    if (buf_puts(out, line) < 0 || buf_putc(out, '\n') < 0) {
        msg_warn("SASL: output to %s overflows", c->path);
        return;
    }
    (void)conn_flush(c->io);   /* errors surface as EOF on read */
    conn_update(c->io);
}

static void auth_free(struct sasl_auth *a)
{
    struct sasl_client *c = a->c;
    for (struct sasl_auth **pp = &c->auths; *pp; pp = &(*pp)->next)
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    if (a->timer)
        ev_timer_cancel(c->loop, a->timer);
    free(a->line);
    free(a->report_text);
    free(a);
}

static void report_now(void *arg)
{
    struct sasl_auth *a = arg;
    a->timer = NULL;
    sasl_cb cb = a->cb;
    void *cbarg = a->arg;
    enum sasl_status st = a->report_status;
    char *text = a->report_text;
    struct sasl_client *c = a->c;
    unsigned id = a->id;
    a->report_text = NULL;
    auth_free(a);
    c->ok_id = st == SASL_OK ? id : 0;
    cb(cbarg, st, text);
    c->ok_id = 0;
    free(text);
}

/* A final result, delivered from the loop (never inside an API call). */
static void auth_report(struct sasl_auth *a, enum sasl_status st, const char *text)
{
    if (a->timer)
        ev_timer_cancel(a->c->loop, a->timer);
    a->state = A_REPORT;
    a->report_status = st;
    free(a->report_text);
    a->report_text = text ? xstrdup(text) : NULL;
    a->timer = ev_timer_add(a->c->loop, 0, report_now, a);
}

/*
 * The server holds requests we sent until it answers them finally: tell it
 * to forget one we give up on, or it keeps it (and counts it against this
 * connection's limit) until its own timeout. Its reply, if one crosses the
 * CANCEL, or comes anyway from a server that ignores CANCEL, finds no
 * request with that id and is dropped.
 */
static void send_cancel(struct sasl_auth *a)
{
    struct sasl_client *c = a->c;
    if ((a->state != A_SENT && a->state != A_WAIT_CLIENT) || c->state != C_READY)
        return;
    char line[32];
    snprintf(line, sizeof(line), "CANCEL\t%u", a->id);
    send_raw(c, line);
}

/* A local end (timeout, bad data): cancel on the server, then report. */
static void auth_give_up(struct sasl_auth *a, enum sasl_status st, const char *text)
{
    send_cancel(a);
    auth_report(a, st, text);
}

static void disconnect(struct sasl_client *c, const char *why)
{
    conn_free(c->io);
    c->io = NULL;
    int was_ready = c->state == C_READY;
    c->state = C_DOWN;
    c->nmechs = 0;
    int in_flight = 0;
    for (struct sasl_auth *a = c->auths; a; a = a->next)
        in_flight += a->state == A_SENT || a->state == A_WAIT_CLIENT;
    /* An idle connection closed by a restarting server is routine; anything else is worth a warning. */
    if (why && was_ready && !in_flight)
        msg_info("SASL: %s: %s; reconnecting", c->path, why);
    else if (why && (was_ready || !c->warned_down))
        msg_warn("SASL: %s: %s", c->path, why);
    c->warned_down = !was_ready || in_flight;
    /* Requests the server had are lost; queued ones wait for a reconnect. */
    for (struct sasl_auth *a = c->auths; a; a = a->next)
        if (a->state == A_SENT || a->state == A_WAIT_CLIENT)
            auth_report(a, SASL_TEMPFAIL, "authentication server connection lost");
    /* Reconnect in the background so the next EHLO finds mechanisms again. */
    c->backoff_ms = was_ready || !c->backoff_ms ? RETRY_MS : c->backoff_ms * 2;
    if (c->backoff_ms > RETRY_MAX_MS)
        c->backoff_ms = RETRY_MAX_MS;
    if (c->retry)
        ev_timer_cancel(c->loop, c->retry);
    c->retry = ev_timer_add(c->loop, c->backoff_ms, retry_timer, c);
}

static void fail_queued(struct sasl_client *c, const char *why)
{
    for (struct sasl_auth *a = c->auths; a; a = a->next)
        if (a->state == A_QUEUED)
            auth_report(a, SASL_TEMPFAIL, why);
}

static void retry_timer(void *arg)
{
    struct sasl_client *c = arg;
    c->retry = NULL;
    if (c->state == C_DOWN)
        connect_server(c);
}

static void connect_server(struct sasl_client *c)
{
    if (c->state != C_DOWN)
        return;
    c->last_attempt = mono_msec();
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(c->path) >= sizeof(sa.sun_path)) {
        disconnect(c, "socket path too long");
        fail_queued(c, "authentication server socket path too long");
        return;
    }
    str_copy(sa.sun_path, c->path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        char why[160];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        disconnect(c, why);
        fail_queued(c, "authentication server unavailable");
        return;
    }
    c->io = conn_new(fd, AUTHPROTO_LINE_MAX + 4096, OUT_MAX);
    /* A line of AUTHPROTO_LINE_MAX bytes or more (LF included) is malformed. */
    conn_set_lines(c->io, AUTHPROTO_LINE_MAX - 1, 0);
    conn_set_highwater(c->io, OUT_MAX);   /* replies are read whatever we have to send */
    conn_attach(c->io, c->loop, &client_cb, c);
    conn_update(c->io);
    c->state = C_HANDSHAKE;
    char hello[96];
    snprintf(hello, sizeof(hello), "VERSION\t%d\t%d\nCPID\t%ld", AUTHPROTO_MAJOR,
             AUTHPROTO_MINOR, (long)getpid());
    send_raw(c, hello);
}

/* Connect unless a recent attempt failed; true if the connection is usable or coming. */
static void maybe_connect(struct sasl_client *c)
{
    if (c->state != C_DOWN)
        return;
    uint64_t now = mono_msec();
    if (c->last_attempt && now - c->last_attempt < RETRY_MS) {
        if (!c->retry)
            c->retry = ev_timer_add(c->loop, RETRY_MS - (now - c->last_attempt), retry_timer, c);
        return;
    }
    /* Someone is waiting: try now rather than at the end of a long backoff. */
    if (c->retry) {
        ev_timer_cancel(c->loop, c->retry);
        c->retry = NULL;
    }
    connect_server(c);
}

static void send_auth(struct sasl_auth *a);

static void handshake_line(struct sasl_client *c, char **f, int n)
{
    if (strcmp(f[0], "VERSION") == 0) {
        if (n < 3 || strcmp(f[1], "1") != 0)
            disconnect(c, "unsupported protocol version");
        return;
    }
    if (strcmp(f[0], "MECH") == 0 && n >= 2) {
        unsigned props = 0;
        for (int i = 2; i < n; i++)
            for (size_t k = 0; k < ARRAY_LEN(server_props); k++)
                if (str_ieq(f[i], server_props[k].name))
                    props |= server_props[k].bit;
        if (c->nmechs < MECHS_MAX && strlen(f[1]) < sizeof(c->mechs[0].name) && *f[1]) {
            for (const char *p = f[1]; *p; p++)
                if (*p <= ' ' || *p > '~')
                    return;   /* not a SASL mechanism name */
            str_copy(c->mechs[c->nmechs].name, f[1], sizeof(c->mechs[0].name));
            c->mechs[c->nmechs].props = props;
            c->nmechs++;
        }
        return;
    }
    if (strcmp(f[0], "DONE") == 0) {
        c->state = C_READY;
        c->warned_down = 0;
        c->backoff_ms = 0;
        for (struct sasl_auth *a = c->auths; a; a = a->next)
            if (a->state == A_QUEUED)
                send_auth(a);
        return;
    }
    if (strcmp(f[0], "COOKIE") == 0 && n >= 2) {
        size_t len = strlen(f[1]);
        int hex = len > 0 && len < sizeof(c->cookie);
        for (size_t i = 0; hex && i < len; i++)
            hex = isxdigit((unsigned char)f[1][i]);
        str_copy(c->cookie, hex ? f[1] : "", sizeof(c->cookie));
        return;
    }
    /* SPID, CUID and anything newer: not needed. */
}

static struct sasl_auth *find_auth(struct sasl_client *c, unsigned id)
{
    for (struct sasl_auth *a = c->auths; a; a = a->next)
        if (a->id == id && (a->state == A_SENT || a->state == A_WAIT_CLIENT))
            return a;
    return NULL;
}

static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            *s = '?';
}

static void timeout_fired(void *arg)
{
    struct sasl_auth *a = arg;
    a->timer = NULL;
    if (a->state == A_WAIT_CLIENT)
        auth_give_up(a, SASL_TEMPFAIL, "authentication exchange timed out");
    else
        auth_give_up(a, SASL_TEMPFAIL, "authentication server timeout");
}

static void reply_line(struct sasl_client *c, char **f, int n)
{
    if (n < 2)
        return;
    char *end;
    unsigned long id = strtoul(f[1], &end, 10);
    if (*end || end == f[1])
        return;
    struct sasl_auth *a = find_auth(c, (unsigned)id);
    if (!a)
        return;   /* cancelled or unknown: ignore */
    if (strcmp(f[0], "CONT") == 0) {
        if (a->timer) {
            ev_timer_cancel(c->loop, a->timer);
            a->timer = NULL;
        }
        a->state = A_WAIT_CLIENT;
        const char *data = n >= 3 ? f[2] : "";
        /* Base64 only: smtpd puts it on the wire after "334 ". */
        for (const char *p = data; *p; p++)
            if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9') || *p == '+' || *p == '/' || *p == '=')) {
                auth_give_up(a, SASL_TEMPFAIL, "malformed challenge from authentication server");
                return;
            }
        /* The SMTP client has this long to answer; then the exchange is cancelled. */
        a->timer = ev_timer_add(c->loop, c->client_wait_ms, timeout_fired, a);
        a->cb(a->arg, SASL_CONT, data);
        return;
    }
    const char *user = authproto_param(f, n, 2, "user");
    if (strcmp(f[0], "OK") == 0) {
        if (!user || !*user) {
            auth_report(a, SASL_TEMPFAIL, "authentication server sent no user name");
            return;
        }
        char *u = xstrdup(user);
        printable(u);
        auth_report(a, SASL_OK, u);
        free(u);
        return;
    }
    if (strcmp(f[0], "FAIL") == 0) {
        const char *reason = authproto_param(f, n, 2, "reason");
        int temp = authproto_param(f, n, 2, "temp") != NULL;
        char *r = reason && *reason ? xstrdup(reason) : NULL;
        if (r)
            printable(r);
        auth_report(a, temp ? SASL_TEMPFAIL : SASL_FAIL, r);
        free(r);
        return;
    }
}

/* Lines read (one read per wakeup), or the socket became writable. */
static void client_ready(struct conn *io, void *arg)
{
    struct sasl_client *c = arg;
    if (conn_out_len(io) > 0 && conn_flush(io) < 0) {
        disconnect(c, strerror(errno));
        return;
    }
    char *line;
    size_t len;
    enum conn_line_result r;
    while ((r = conn_line(io, &line, &len)) == CONN_LINE) {
        if (memchr(line, '\0', len)) {
            r = CONN_LONG;
            break;
        }
        char *f[AUTHPROTO_FIELDS_MAX];
        int nf = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
        if (nf > 0) {
            if (c->state == C_HANDSHAKE)
                handshake_line(c, f, nf);
            else
                reply_line(c, f, nf);
        }
        if (c->io != io)
            return;   /* disconnected: io is gone */
    }
    if (r == CONN_LONG) {
        disconnect(c, "malformed line from the authentication server");
        return;
    }
    conn_update(io);
}

static void client_lost(struct conn *io, void *arg)
{
    struct sasl_client *c = arg;
    if (conn_eof(io))
        disconnect(c, "connection closed by the authentication server");
    else
        disconnect(c, strerror(errno));
}

static const struct conn_cb client_cb = {.ready = client_ready, .lost = client_lost};

/* ------------------------------------------------------------------ */
/* public                                                              */

struct sasl_client *saslc_new(struct evloop *loop, const char *socket_path)
{
    struct sasl_client *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->path = xstrdup(socket_path ? socket_path : "");
    c->service = xstrdup("smtp");
    c->timeout_ms = 60000;
    c->client_wait_ms = CLIENT_WAIT_MS;
    c->next_id = 1;
    connect_server(c);
    return c;
}

void saslc_free(struct sasl_client *c)
{
    if (!c)
        return;
    while (c->auths)
        auth_free(c->auths);
    if (c->retry)
        ev_timer_cancel(c->loop, c->retry);
    conn_free(c->io);
    free(c->path);
    free(c->service);
    free(c);
}

void saslc_set_service(struct sasl_client *c, const char *service)
{
    free(c->service);
    c->service = xstrdup(service && *service ? service : "smtp");
}

void saslc_set_timeout(struct sasl_client *c, unsigned seconds)
{
    c->timeout_ms = seconds ? seconds * 1000u : 60000u;
}

void saslc_set_client_wait(struct sasl_client *c, unsigned ms)
{
    c->client_wait_ms = ms ? ms : CLIENT_WAIT_MS;
}

int saslc_ready(const struct sasl_client *c)
{
    return c->state == C_READY;
}

int saslc_mechs(struct sasl_client *c, int tls_active, const char *security_options,
                      const char *tls_security_options, struct buf *out)
{
    if (c->state != C_READY) {
        maybe_connect(c);
        return 0;
    }
    const char *opts = tls_active && tls_security_options ? tls_security_options
                                                          : security_options;
    const char *bad;
    unsigned conf = parse_props(opts, 1, &bad);
    unsigned pos = conf & P_POSITIVE, neg = conf & ~P_POSITIVE;
    int count = 0;
    for (size_t i = 0; i < c->nmechs; i++) {
        unsigned p = c->mechs[i].props;
        if ((p & P_PRIVATE) || (p & pos) != pos || (p & neg))
            continue;
        if (count++)
            buf_putc(out, ' ');
        buf_puts(out, c->mechs[i].name);
    }
    return count;
}

static int offered(struct sasl_client *c, const char *mech)
{
    for (size_t i = 0; i < c->nmechs; i++)
        if (str_ieq(c->mechs[i].name, mech))
            return 1;
    return 0;
}

static int is_base64(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '+' || *s == '/' || *s == '='))
            return 0;
    return 1;
}

/* An address for "rip="/"lip=": printable, no TAB, bounded. */
static int is_addr(const char *s)
{
    if (strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (*s <= ' ' || *s > '~')
            return 0;
    return 1;
}

static void send_auth(struct sasl_auth *a)
{
    struct sasl_client *c = a->c;
    if (!offered(c, a->line)) {
        auth_report(a, SASL_FAIL, "Unsupported authentication mechanism");
        return;
    }
    /* Ids are unique among requests in flight on this connection. */
    do {
        a->id = c->next_id++;
        if (c->next_id == 0)
            c->next_id = 1;
    } while (find_auth(c, a->id));
    char *mech = a->line;               /* "MECH\0rest" */
    const char *rest = mech + strlen(mech) + 1;
    struct buf b;
    buf_init(&b, AUTHPROTO_LINE_MAX);
    buf_printf(&b, "AUTH\t%u\t%s\tservice=", a->id, mech);
    authproto_escape(&b, c->service, strlen(c->service));
    if (!a->login)
        buf_puts(&b, "\tnologin");
    buf_puts(&b, rest);
    a->state = A_SENT;
    send_raw(c, buf_cstr(&b));
    buf_free(&b);
    /* A request queued before the handshake completed has its queue timer: replace it,
     * or it would fire later on this request (or on its memory once freed). */
    if (a->timer)
        ev_timer_cancel(c->loop, a->timer);
    a->timer = ev_timer_add(c->loop, c->timeout_ms, timeout_fired, a);
}

struct sasl_auth *sasl_auth_start(struct sasl_client *c, const char *mech,
                                  const char *initial_resp_b64, const char *rip,
                                  const char *lip, int flags, sasl_cb cb, void *arg)
{
    struct sasl_auth *a = xcalloc(1, sizeof(*a));
    a->c = c;
    a->cb = cb;
    a->arg = arg;
    a->state = A_QUEUED;
    a->login = (flags & SASL_LOGIN) != 0;
    a->next = c->auths;
    c->auths = a;
    const char *bad = NULL;
    if (!mech || !*mech || strlen(mech) > 63)
        bad = "Invalid authentication mechanism";
    for (const char *p = mech ? mech : ""; !bad && *p; p++)
        if (*p <= ' ' || *p > '~')
            bad = "Invalid authentication mechanism";
    if (!bad && initial_resp_b64 && (!is_base64(initial_resp_b64) ||
                                     strlen(initial_resp_b64) > RESP_MAX))
        bad = "Invalid base64 data in initial response";
    if (bad) {
        a->line = xstrdup("");
        auth_report(a, SASL_FAIL, bad);
        return a;
    }
    /* Keep "MECH\0<parameters>" until the connection is ready. */
    struct buf p;
    buf_init(&p, 0);
    buf_puts(&p, mech);
    buf_putc(&p, '\0');
    if (lip && *lip && is_addr(lip))
        buf_printf(&p, "\tlip=%s", lip);
    if (rip && *rip && is_addr(rip))
        buf_printf(&p, "\trip=%s", rip);
    if (flags & SASL_SECURED)
        buf_puts(&p, "\tsecured");
    if (flags & SASL_VALID_CLIENT_CERT)
        buf_puts(&p, "\tvalid-client-cert");
    if (initial_resp_b64)
        buf_printf(&p, "\tresp=%s", initial_resp_b64);   /* must be last */
    a->line = p.data;
    if (c->state == C_READY) {
        send_auth(a);
    } else {
        maybe_connect(c);   /* on failure, queued requests (this one) are reported */
        if (a->state == A_QUEUED && !a->timer)
            a->timer = ev_timer_add(c->loop, c->timeout_ms, timeout_fired, a);
    }
    return a;
}

void sasl_auth_continue(struct sasl_auth *a, const char *resp_b64)
{
    struct sasl_client *c = a->c;
    if (a->state != A_WAIT_CLIENT) {
        if (a->state != A_REPORT)
            auth_give_up(a, SASL_FAIL, "Unexpected authentication response");
        return;
    }
    if (!resp_b64 || !is_base64(resp_b64) || strlen(resp_b64) > RESP_MAX) {
        auth_give_up(a, SASL_FAIL, "Invalid base64 data in continued response");
        return;
    }
    if (a->timer) {
        ev_timer_cancel(c->loop, a->timer);
        a->timer = NULL;
    }
    struct buf b;
    buf_init(&b, AUTHPROTO_LINE_MAX);
    buf_printf(&b, "CONT\t%u\t%s", a->id, resp_b64);
    a->state = A_SENT;
    send_raw(c, buf_cstr(&b));
    buf_free(&b);
    if (a->timer)
        ev_timer_cancel(c->loop, a->timer);
    a->timer = ev_timer_add(c->loop, c->timeout_ms, timeout_fired, a);
}

void sasl_auth_cancel(struct sasl_auth *a)
{
    if (!a)
        return;
    send_cancel(a);
    auth_free(a);
}
