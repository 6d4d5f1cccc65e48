/*
 * milter.c - smtpd's milter client: smtpd_milters for SMTP sessions,
 * non_smtpd_milters for pickup's local submissions (see smtpd.h).
 *
 * Owns: the per-server milter list and its parameters (timeouts,
 * default_action, protocol, macro lists), and per session one connection
 * per milter, opened when the session's first milter event comes (HELO,
 * MAIL ...), negotiated (SMFIC_OPTNEG) and sent SMFIC_CONNECT before it.
 * Each event runs the milters in order on the event loop, one command on
 * the wire at a time per milter (commands whose reply a milter declined
 * with SMFIP_NR_* are pipelined). The verdict goes to the command's done
 * function (the same one the restrictions call) before any 250, so a
 * reject at RCPT refuses that recipient only. At end of message each
 * milter gets the headers, end of header, the body in chunks and end of
 * message of the message as the milters before it left it; its
 * modifications are applied to the message in memory (s->msg; a spilled
 * message is read back first) before the next milter and before the queue
 * write, so the 250 still follows the fsync of the final content.
 *
 * A milter that cannot be reached, times out, closes or talks nonsense is
 * logged as Postfix does ("warning: milter NAME: ...") and from then on
 * answers every event of the session with its default_action: accept
 * (ignored), reject (550 5.7.1), tempfail (451 4.7.1), quarantine
 * (accepted and held).
 */
#include "smtpd/smtpd.h"
#include "smtpd/endpoint.h"
#include "lib-milter/milter.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-tls/tls.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MILTER_OUT_HIGH  (256 * 1024)   /* stop pipelining above this much output */
#define MILTER_HDR_MAX   (256 * 1024)   /* one header sent to a milter */

enum { DEF_ACCEPT, DEF_REJECT, DEF_TEMPFAIL, DEF_QUARANTINE };

struct smtpd_milters {
    struct milter_spec *specs;
    size_t n;
    long long connect_ms, command_ms, content_ms;
    int def_action;
    int protocol;
    char **macros[MS_COUNT];          /* global macro lists per stage */
    char **unknown_macros;
    char *daemon_name, *macro_v;
    char *queue_dir;
};

/* Where a milter is in the current event. */
enum mphase {
    PH_START,       /* nothing sent for this event yet */
    PH_NEG,         /* SMFIC_OPTNEG sent */
    PH_CONNECT,     /* SMFIC_CONNECT sent */
    PH_EVENT,       /* the event's command sent (HELO, MAIL, RCPT, DATA) */
    PH_HDRS,        /* end of message: headers */
    PH_EOH,
    PH_BODY,
    PH_EOM,         /* SMFIC_BODYEOB sent: modifications, then the final reply */
    PH_DONE
};

enum mstate { MT_NEW, MT_OPEN, MT_FAILED, MT_ACCEPTED };

struct mmod {
    char cmd;
    uint32_t index;
    char *s1, *s2;
};

struct mlt {
    struct msess *ms;
    const struct milter_spec *sp;
    struct conn *io;
    enum mstate state;
    enum mphase phase;
    int connected;                   /* SMFIC_CONNECT done */
    uint32_t version, actions, proto;
    char **macros[MS_COUNT];         /* lists the milter asked for, or NULL */
    int msg_accept;                  /* SMFIR_ACCEPT in this transaction */
    int in_msg;                      /* MAIL sent since the last end of message/abort */
    int waiting;                     /* a reply is due */
    int pumping;                     /* paused pipelining until the output drains */
    const char *sent;                /* the command whose reply is due, for logs */
    int def_action;
    long long connect_ms, command_ms, content_ms;
    /* end of message */
    struct milter_hdr_iter hit;
    size_t body_pos;
    struct mmod *mods;
    size_t nmods;
    struct buf replbody;
    int has_replbody;
    char *quarantine;
};

struct msess {
    struct session *s;
    struct smtpd_milters *cfg;
    struct mlt *m;
    size_t n;
    enum smtpd_milter_ev ev;
    size_t cur;
    int async;
    void (*done)(struct session *, const struct restrict_result *);
    int verdict;                     /* a reply ends the event */
    struct restrict_result res;
    char lines[MILTER_REPLY_LINES][512];   /* a multi-line reply's text */
    int nlines;
    struct restrict_result conn_reject;  /* a reject at connect or HELO: for every command */
    int conn_rejected;
};

static const char *const ev_names[] = {
    [SMTPD_MILTER_HELO] = "HELO", [SMTPD_MILTER_MAIL] = "MAIL", [SMTPD_MILTER_RCPT] = "RCPT",
    [SMTPD_MILTER_DATA] = "DATA", [SMTPD_MILTER_EOM] = "END-OF-MESSAGE",
    [SMTPD_MILTER_UNKNOWN] = "UNKNOWN",
};

/* ---- configuration ---- */

static int parse_def_action(const char *a)
{
    if (strcmp(a, "accept") == 0)
        return DEF_ACCEPT;
    if (strcmp(a, "reject") == 0)
        return DEF_REJECT;
    if (strcmp(a, "quarantine") == 0)
        return DEF_QUARANTINE;
    return DEF_TEMPFAIL;
}

static char **macro_list(const char *s)
{
    size_t n;
    return str_split_list(s, &n);
}

void smtpd_milter_setup(struct smtpd_server *srv)
{
    const struct config *cfg = srv->cfg;
    if (srv->overrides & SMTPD_RO_NO_MILTERS)
        return;
    const char *list = cfg_get(cfg, srv->local ? P_non_smtpd_milters : P_smtpd_milters);
    char err[512];
    struct milter_spec *specs = NULL;
    int n = milter_specs_parse(list, &specs, err, sizeof(err));
    if (n < 0) {
        msg_warn("%s: %s; milters are not used", srv->local ? "non_smtpd_milters" : "smtpd_milters",
                 err);
        return;
    }
    if (n == 0)
        return;
    struct smtpd_milters *mc = xcalloc(1, sizeof(*mc));
    mc->specs = specs;
    mc->n = (size_t)n;
    mc->connect_ms = cfg_get_time_ms(cfg, P_milter_connect_timeout);
    mc->command_ms = cfg_get_time_ms(cfg, P_milter_command_timeout);
    mc->content_ms = cfg_get_time_ms(cfg, P_milter_content_timeout);
    const char *da = cfg_get(cfg, P_milter_default_action);
    if (!milter_action_valid(da))
        msg_warn("milter_default_action: bad value \"%s\"; using tempfail", da);
    mc->def_action = parse_def_action(da);
    mc->protocol = (int)cfg_get_int(cfg, P_milter_protocol);
    if (mc->protocol < 2 || mc->protocol > 6) {
        msg_warn("milter_protocol: bad value %d; using 6", mc->protocol);
        mc->protocol = 6;
    }
    mc->macros[MS_CONNECT] = macro_list(cfg_get(cfg, P_milter_connect_macros));
    mc->macros[MS_HELO] = macro_list(cfg_get(cfg, P_milter_helo_macros));
    mc->macros[MS_MAIL] = macro_list(cfg_get(cfg, P_milter_mail_macros));
    mc->macros[MS_RCPT] = macro_list(cfg_get(cfg, P_milter_rcpt_macros));
    mc->macros[MS_DATA] = macro_list(cfg_get(cfg, P_milter_data_macros));
    mc->macros[MS_EOH] = macro_list(cfg_get(cfg, P_milter_end_of_header_macros));
    mc->macros[MS_EOM] = macro_list(cfg_get(cfg, P_milter_end_of_data_macros));
    mc->unknown_macros = macro_list(cfg_get(cfg, P_milter_unknown_command_macros));
    mc->daemon_name = xstrdup(cfg_get(cfg, P_milter_macro_daemon_name));
    mc->macro_v = xstrdup(cfg_get(cfg, P_milter_macro_v));
    mc->queue_dir = xstrdup(srv->queue_dir);
    srv->milters = mc;
}

void smtpd_milter_free(struct smtpd_server *srv)
{
    struct smtpd_milters *mc = srv->milters;
    if (!mc)
        return;
    milter_specs_free(mc->specs, mc->n);
    for (int i = 0; i < MS_COUNT; i++)
        strv_free(mc->macros[i]);
    strv_free(mc->unknown_macros);
    free(mc->daemon_name);
    free(mc->macro_v);
    free(mc->queue_dir);
    free(mc);
    srv->milters = NULL;
}

/* ---- the connection ---- */

static void mlt_ready(struct conn *io, void *arg);
static void mlt_lost(struct conn *io, void *arg);
static void mlt_deadline(struct conn *io, void *arg);
static const struct conn_cb mlt_cb = {
    .ready = mlt_ready, .lost = mlt_lost, .deadline = mlt_deadline,
};

/* A non-blocking socket connecting to the milter, or -1 with errno. */
/* Write what can be written now and watch for the rest (and for replies). */
static int mflush(struct mlt *m)
{
    int r = conn_flush(m->io);
    conn_update(m->io);
    return r;
}

static void mods_clear(struct mlt *m)
{
    for (size_t i = 0; i < m->nmods; i++) {
        free(m->mods[i].s1);
        free(m->mods[i].s2);
    }
    free(m->mods);
    m->mods = NULL;
    m->nmods = 0;
    buf_free(&m->replbody);
    m->has_replbody = 0;
    free(m->quarantine);
    m->quarantine = NULL;
}

static void mlt_close(struct mlt *m)
{
    if (m->io) {
        conn_free(m->io);
        m->io = NULL;
    }
    for (int i = 0; i < MS_COUNT; i++) {
        strv_free(m->macros[i]);
        m->macros[i] = NULL;
    }
    m->waiting = m->pumping = 0;
}

/* ---- results ---- */

static void set_reply(struct msess *ms, int code, const char *dsn, const char *text)
{
    ms->verdict = 1;
    ms->nlines = 0;
    ms->res = (struct restrict_result){.verdict = code / 100 == 5 ? RV_REJECT : RV_DEFER,
                                       .code = code};
    str_copy(ms->res.dsn, dsn, sizeof(ms->res.dsn));
    str_copy(ms->res.text, text, sizeof(ms->res.text));
}

/* SMFIR_REPLYCODE: the lines; the last one is the result, the others are sent before it. */
static void set_replycode(struct msess *ms, int code, const char *text)
{
    int n = milter_reply_lines(text, code, ms->lines, MILTER_REPLY_LINES);
    if (n < 1) {
        set_reply(ms, code, code / 100 == 5 ? "5.7.1" : "4.7.1", "Command rejected");
        return;
    }
    /* The text's first word (usually the enhanced status code) goes where the DSN goes. */
    const char *last = ms->lines[n - 1];
    const char *sp = strchr(last, ' ');
    size_t wl = sp ? (size_t)(sp - last) : strlen(last);
    char dsn[16] = "";
    if (wl < sizeof(dsn)) {
        memcpy(dsn, last, wl);
        dsn[wl] = '\0';
        last = sp ? sp + 1 : "";
    }
    set_reply(ms, code, dsn, last);
    ms->nlines = n;
}

static void set_default(struct msess *ms, struct mlt *m)
{
    switch (m->def_action) {
    case DEF_REJECT:
        set_reply(ms, 550, "5.7.1", "Command rejected");
        break;
    case DEF_TEMPFAIL:
        set_reply(ms, 451, "4.7.1", "Service unavailable - try again later");
        break;
    case DEF_QUARANTINE:
        if (ms->ev == SMTPD_MILTER_EOM && !m->quarantine)
            m->quarantine = xstrdup("milter triggers HOLD action");
        break;
    default:
        break;
    }
}

/* ---- sending ---- */

static const char *macro_value(struct msess *ms, const char *name, char *tmp, size_t tl)
{
    struct session *s = ms->s;
    struct smtpd_server *srv = s->srv;
    char n[64];
    size_t len = strlen(name);
    if (len >= 2 && name[0] == '{' && name[len - 1] == '}')
        str_fmt(n, sizeof(n), "%.*s", (int)(len - 2), name + 1);
    else
        str_copy(n, name, sizeof(n));
    const char *rcpt = s->pending_arg && ms->ev == SMTPD_MILTER_RCPT ? s->pending_arg : NULL;
    if (strcmp(n, "j") == 0)
        return srv->myhostname;
    if (strcmp(n, "_") == 0) {
        str_fmt(tmp, tl, "%s [%s]", s->name, s->addr);
        return tmp;
    }
    if (strcmp(n, "daemon_name") == 0)
        return ms->cfg->daemon_name;
    if (strcmp(n, "v") == 0)
        return ms->cfg->macro_v;
    if (strcmp(n, "i") == 0)
        return s->qid;
    if (strcmp(n, "client_addr") == 0)
        return s->addr;
    if (strcmp(n, "client_port") == 0)
        return s->port;
    if (strcmp(n, "client_name") == 0)
        return s->name;
    if (strcmp(n, "client_ptr") == 0)
        return s->reverse_name;
    if (strcmp(n, "daemon_addr") == 0 || strcmp(n, "daemon_port") == 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char host[INET6_ADDRSTRLEN], port[8];
        if (srv->local || getsockname(conn_fd(s->conn), (struct sockaddr *)&ss, &sl) < 0 ||
            getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
                        NI_NUMERICHOST | NI_NUMERICSERV) != 0)
            return "";
        str_copy(tmp, n[7] == 'a' ? host : port, tl);
        return tmp;
    }
    if (strcmp(n, "tls_version") == 0)
        return s->tls ? tls_conn_protocol(s->tls) : "";
    if (strcmp(n, "cipher") == 0)
        return s->tls ? tls_conn_cipher(s->tls) : "";
    if (strcmp(n, "cipher_bits") == 0) {
        if (!s->tls)
            return "";
        int alg;
        str_fmt(tmp, tl, "%d", tls_conn_bits(s->tls, &alg));
        return tmp;
    }
    if (strcmp(n, "cert_subject") == 0)
        return s->tls && tls_conn_peer_present(s->tls) ? tls_conn_peer_cn(s->tls) : "";
    if (strcmp(n, "cert_issuer") == 0)
        return s->tls && tls_conn_peer_present(s->tls) ? tls_conn_issuer_cn(s->tls) : "";
    if (strcmp(n, "auth_type") == 0)
        return s->sasl_username ? s->sasl_method : "";
    if (strcmp(n, "auth_authen") == 0)
        return s->sasl_username ? s->sasl_username : "";
    if (strcmp(n, "mail_addr") == 0)
        return s->sender ? s->sender : "";
    if (strcmp(n, "rcpt_addr") == 0)
        return rcpt ? rcpt : "";
    if (strcmp(n, "mail_host") == 0 || strcmp(n, "rcpt_host") == 0) {
        const char *a = n[0] == 'm' ? s->sender : rcpt;
        const char *at = a ? strrchr(a, '@') : NULL;
        return at ? at + 1 : "";
    }
    if (strcmp(n, "mail_mailer") == 0 || strcmp(n, "rcpt_mailer") == 0)
        return "smtp";
    return "";
}

/* SMFIC_MACRO for stage st before command cmd: the defined macros of the list. */
static void send_macros(struct mlt *m, int st, char cmd)
{
    char **list = st >= 0 ? (m->macros[st] ? m->macros[st] : m->ms->cfg->macros[st])
                          : m->ms->cfg->unknown_macros;
    const char *names[64], *values[64];
    char tmp[64][300];
    size_t n = 0;
    for (size_t i = 0; list && list[i] && n < 64; i++) {
        const char *v = macro_value(m->ms, list[i], tmp[n], sizeof(tmp[n]));
        if (!v || !*v)
            continue;   /* undefined macros are not sent */
        names[n] = list[i];
        values[n++] = v;
    }
    if (n)
        milter_put_macros(conn_out(m->io), cmd, names, values, n);
}

static void expect(struct mlt *m, const char *what, long long ms)
{
    m->waiting = 1;
    m->sent = what;
    conn_deadline_in(m->io, (uint64_t)(ms > 0 ? ms : 1000));
}

/* Begin: open the connection and send the negotiation. -1 when it cannot be opened. */
static int mlt_open(struct mlt *m)
{
    int fd = smtpd_endpoint_connect(m->sp->name, m->ms->cfg->queue_dir);
    if (fd < 0) {
        msg_warn("connect to Milter service %s: %s", m->sp->name, strerror(errno));
        return -1;
    }
    m->io = conn_new(fd, MILTER_PKT_MAX + 8, MILTER_OUT_HIGH + MILTER_PKT_MAX + 1024);
    conn_attach(m->io, m->ms->s->srv->loop, &mlt_cb, m);
    conn_want_input(m->io, 1);
    int v = m->sp->protocol ? m->sp->protocol : m->ms->cfg->protocol;
    milter_put_optneg(conn_out(m->io), (uint32_t)v, MILTER_ACTIONS,
                      v >= 6 ? MILTER_PROTO_V6 : MILTER_PROTO_V2);
    expect(m, "SMFIC_OPTNEG", m->connect_ms);
    m->phase = PH_NEG;
    return 0;
}

static void send_connect(struct mlt *m)
{
    struct session *s = m->ms->s;
    send_macros(m, MS_CONNECT, SMFIC_CONNECT);
    if (s->srv->local) {
        milter_put_connect(conn_out(m->io), "localhost", '4', 0, "127.0.0.1");
    } else {
        char host[300];
        if (strcmp(s->name, "unknown") == 0)
            str_fmt(host, sizeof(host), "[%s]", s->addr);
        else
            str_copy(host, s->name, sizeof(host));
        milter_put_connect(conn_out(m->io), host, strchr(s->addr, ':') ? '6' : '4',
                           (unsigned)atoi(s->port), s->addr);
    }
}

/* The event's command. Returns 1 when a reply is due, 0 when none (not sent or NR). */
static int send_event(struct mlt *m)
{
    struct session *s = m->ms->s;
    struct buf *out = conn_out(m->io);
    switch (m->ms->ev) {
    case SMTPD_MILTER_HELO:
        if (m->proto & SMFIP_NOHELO)
            return 0;
        send_macros(m, MS_HELO, SMFIC_HELO);
        milter_put_pkt(out, SMFIC_HELO, s->helo, strlen(s->helo) + 1);
        return !(m->proto & SMFIP_NR_HELO);
    case SMTPD_MILTER_MAIL:
        m->in_msg = 1;
        if (m->proto & SMFIP_NOMAIL)
            return 0;
        send_macros(m, MS_MAIL, SMFIC_MAIL);
        milter_put_envelope(out, SMFIC_MAIL, s->sender ? s->sender : "", NULL, 0);
        return !(m->proto & SMFIP_NR_MAIL);
    case SMTPD_MILTER_RCPT:
        if (m->proto & SMFIP_NORCPT)
            return 0;
        send_macros(m, MS_RCPT, SMFIC_RCPT);
        milter_put_envelope(out, SMFIC_RCPT, s->pending_arg ? s->pending_arg : "", NULL, 0);
        return !(m->proto & SMFIP_NR_RCPT);
    case SMTPD_MILTER_DATA:
        if (m->proto & SMFIP_NODATA)
            return 0;
        send_macros(m, MS_DATA, SMFIC_DATA);
        milter_put_pkt(out, SMFIC_DATA, NULL, 0);
        return !(m->proto & SMFIP_NR_DATA);
    case SMTPD_MILTER_UNKNOWN:
        if ((m->proto & SMFIP_NOUNKNOWN) || m->version < 3 || !s->pending_arg)
            return 0;
        send_macros(m, -1, SMFIC_UNKNOWN);
        milter_put_pkt(out, SMFIC_UNKNOWN, s->pending_arg, strlen(s->pending_arg) + 1);
        return !(m->proto & SMFIP_NR_UNKN);
    default:
        return 0;
    }
}

static const char *event_cmd_name(enum smtpd_milter_ev ev)
{
    switch (ev) {
    case SMTPD_MILTER_HELO: return "SMFIC_HELO";
    case SMTPD_MILTER_MAIL: return "SMFIC_MAIL";
    case SMTPD_MILTER_RCPT: return "SMFIC_RCPT";
    case SMTPD_MILTER_DATA: return "SMFIC_DATA";
    case SMTPD_MILTER_UNKNOWN: return "SMFIC_UNKNOWN";
    default: return "SMFIC_BODYEOB";
    }
}

/* One header, as the milter wants it (without the space after the colon, unless LEADSPC). */
static void send_header(struct mlt *m, const char *name, size_t nl, const char *value, size_t vl)
{
    if (!(m->proto & SMFIP_HDR_LEADSPC) && vl > 0 && value[0] == ' ') {
        value++;
        vl--;
    }
    if (nl > 1024)
        nl = 1024;
    if (vl > MILTER_HDR_MAX)
        vl = MILTER_HDR_MAX;
    char *n = xstrndup(name, nl), *v = xstrndup(value, vl);
    milter_put_header(conn_out(m->io), n, v);
    free(n);
    free(v);
}

/* The next body chunk (LF made CR LF), at most MILTER_CHUNK bytes. 0 at the end. */
static int send_body_chunk(struct mlt *m)
{
    struct buf *msg = &m->ms->s->msg;
    if (m->body_pos >= msg->len)
        return 0;
    size_t mark = milter_pkt_begin(conn_out(m->io), SMFIC_BODY);
    struct buf *out = conn_out(m->io);
    size_t n = 0;
    while (m->body_pos < msg->len && n < MILTER_CHUNK - 1) {
        char c = msg->data[m->body_pos++];
        if (c == '\n') {
            buf_putc(out, '\r');
            n++;
        }
        buf_putc(out, c);
        n++;
    }
    milter_pkt_end(out, mark);
    return 1;
}

enum { R_NEXT, R_WAIT, R_STOP };

/*
 * End of message, from the current phase on: pipeline what needs no
 * reply, stop at the first command that does. R_WAIT or R_NEXT (PH_DONE).
 */
static int eom_pump(struct mlt *m)
{
    for (;;) {
        if (conn_out_len(m->io) > MILTER_OUT_HIGH) {
            mflush(m);
            if (conn_out_len(m->io) > MILTER_OUT_HIGH / 4) {
                m->pumping = 1;     /* go on when it has drained (mlt_ready) */
                conn_deadline_in(m->io, (uint64_t)m->content_ms);
                return R_WAIT;
            }
        }
        const char *n, *v;
        size_t nl, vl;
        switch (m->phase) {
        case PH_HDRS:
            if ((m->proto & SMFIP_NOHDRS) || !milter_hdr_next(&m->hit, &n, &nl, &v, &vl)) {
                m->phase = PH_EOH;
                continue;
            }
            send_header(m, n, nl, v, vl);
            if (m->proto & SMFIP_NR_HDR)
                continue;
            expect(m, "SMFIC_HEADER", m->content_ms);
            return R_WAIT;
        case PH_EOH:
            m->phase = PH_BODY;
            if (m->proto & SMFIP_NOEOH)
                continue;
            send_macros(m, MS_EOH, SMFIC_EOH);
            milter_put_pkt(conn_out(m->io), SMFIC_EOH, NULL, 0);
            if (m->proto & SMFIP_NR_EOH)
                continue;
            expect(m, "SMFIC_EOH", m->content_ms);
            return R_WAIT;
        case PH_BODY:
            if ((m->proto & SMFIP_NOBODY) || !send_body_chunk(m)) {
                m->phase = PH_EOM;
                send_macros(m, MS_EOM, SMFIC_BODYEOB);
                milter_put_pkt(conn_out(m->io), SMFIC_BODYEOB, NULL, 0);
                expect(m, "SMFIC_BODYEOB", m->content_ms);
                return R_WAIT;
            }
            if (m->proto & SMFIP_NR_BODY)
                continue;
            expect(m, "SMFIC_BODY", m->content_ms);
            return R_WAIT;
        default:
            INVARIANT(m->phase == PH_DONE);
            return R_NEXT;
        }
    }
}

/* Start the end of message for this milter. */
static void eom_begin(struct mlt *m)
{
    struct buf *msg = &m->ms->s->msg;
    mods_clear(m);
    buf_init(&m->replbody, 0);
    milter_hdr_iter_init(&m->hit, msg->data, msg->len);
    size_t hend = m->hit.end;
    m->body_pos = hend < msg->len ? hend + 1 : msg->len;
    m->phase = PH_HDRS;
}

/*
 * Go on with milter m in the current event from its phase: R_NEXT (this
 * milter is through with the event), R_WAIT (a reply is due), R_STOP (a
 * verdict ends the event).
 */
static int mlt_step(struct mlt *m)
{
    struct msess *ms = m->ms;
    if (m->state == MT_FAILED) {
        set_default(ms, m);
        return ms->verdict ? R_STOP : R_NEXT;
    }
    if (m->state == MT_ACCEPTED || (m->msg_accept && ms->ev != SMTPD_MILTER_HELO &&
                                    ms->ev != SMTPD_MILTER_UNKNOWN))
        return R_NEXT;
    if (m->state == MT_NEW) {
        if (mlt_open(m) < 0) {
            m->state = MT_FAILED;
            return mlt_step(m);
        }
        return R_WAIT;
    }
    if (!m->connected) {
        m->connected = 1;
        if (!(m->proto & SMFIP_NOCONNECT)) {
            send_connect(m);
            m->phase = PH_CONNECT;
            if (!(m->proto & SMFIP_NR_CONN)) {
                expect(m, "SMFIC_CONNECT", m->command_ms);
                return R_WAIT;
            }
        }
    }
    if (m->phase == PH_START || m->phase == PH_CONNECT || m->phase == PH_NEG) {
        if (ms->ev == SMTPD_MILTER_EOM) {
            eom_begin(m);
        } else {
            m->phase = PH_EVENT;
            if (send_event(m)) {
                expect(m, event_cmd_name(ms->ev), m->command_ms);
                return R_WAIT;
            }
            m->phase = PH_DONE;
        }
    }
    if (ms->ev == SMTPD_MILTER_EOM)
        return eom_pump(m);
    return R_NEXT;
}

static void finish(struct msess *ms);
static void apply_mods(struct mlt *m);
static void send_failed(struct mlt *m);

/* Run the milters of the event from ms->cur on. 1 when waiting. */
static int advance(struct msess *ms)
{
    while (ms->cur < ms->n) {
        struct mlt *m = &ms->m[ms->cur];
        int r = mlt_step(m);
        if (r == R_WAIT && m->io && mflush(m) < 0) {
            send_failed(m);
            r = mlt_step(m);
        }
        if (r == R_WAIT)
            return 1;
        if (ms->ev == SMTPD_MILTER_EOM && m->state != MT_FAILED)
            apply_mods(m);
        if (ms->ev == SMTPD_MILTER_EOM && m->quarantine && !ms->verdict) {
            struct session *s = ms->s;
            s->actions.hold = 1;
            free(s->actions.hold_reason);
            s->actions.hold_reason = xstrdup(m->quarantine);
        }
        if (r == R_STOP || ms->verdict)
            return 0;
        if (ms->s->actions.discard == 2)
            return 0;
        ms->cur++;
    }
    return 0;
}

/* ---- replies ---- */

static void mlt_fail(struct mlt *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void mlt_fail(struct mlt *m, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    msg_warn("milter %s: %s", m->sp->name, why);
    mlt_close(m);
    m->state = MT_FAILED;
    if (m->ms->ev == SMTPD_MILTER_EOM)
        mods_clear(m);
}

/* Writing to the milter failed: a refused connect shows here first. */
static void send_failed(struct mlt *m)
{
    int e = errno;
    if (m->phase == PH_NEG) {
        msg_warn("connect to Milter service %s: %s", m->sp->name, strerror(e));
        mlt_close(m);
        m->state = MT_FAILED;
        return;
    }
    mlt_fail(m, "can't send %s: %s", m->sent ? m->sent : "packet", strerror(e));
}

static void log_verdict(struct msess *ms, const char *what, const char *text)
{
    struct session *s = ms->s;
    char to[600] = "";
    if (ms->ev == SMTPD_MILTER_RCPT && s->pending_arg)
        str_fmt(to, sizeof(to), " to=<%s>", s->pending_arg);
    else if (ms->ev == SMTPD_MILTER_EOM && s->nrcpts)
        str_fmt(to, sizeof(to), " to=<%s>", s->rcpts[0].addr);
    msg_info("%s: %s: %s from %s: %s; from=<%s>%s proto=%s helo=<%s>",
             s->qid[0] ? s->qid : "NOQUEUE", what, ev_names[ms->ev], s->namaddr, text,
             s->sender ? s->sender : "", to, s->srv->local ? "LOCAL" : s->esmtp ? "ESMTP" : "SMTP",
             s->helo);
}

/* A reply that ends this milter's part of the event or the event. R_* */
static int final_reply(struct mlt *m, const struct milter_reply *r)
{
    struct msess *ms = m->ms;
    int at_conn = m->phase == PH_CONNECT || ms->ev == SMTPD_MILTER_HELO;
    switch (r->cmd) {
    case SMFIR_CONTINUE:
        return R_NEXT;
    case SMFIR_ACCEPT:
        if (ms->ev == SMTPD_MILTER_UNKNOWN && m->phase != PH_CONNECT)
            return R_NEXT;
        if (at_conn)
            m->state = MT_ACCEPTED;     /* the whole session */
        else
            m->msg_accept = 1;
        if (ms->ev == SMTPD_MILTER_EOM && m->phase != PH_EOM)
            mods_clear(m);
        return R_NEXT;
    case SMFIR_DISCARD:
        if (ms->ev == SMTPD_MILTER_HELO || ms->ev == SMTPD_MILTER_UNKNOWN ||
            m->phase == PH_CONNECT)
            return R_NEXT;
        log_verdict(ms, "milter-discard", "milter triggers DISCARD action");
        ms->s->actions.discard = 2;
        mods_clear(m);
        return R_STOP;
    case SMFIR_REJECT:
        set_reply(ms, 550, "5.7.1", "Command rejected");
        break;
    case SMFIR_TEMPFAIL:
        set_reply(ms, 451, "4.7.1", "Service unavailable - try again later");
        break;
    case SMFIR_REPLYCODE:
        set_replycode(ms, r->code, r->s1);
        break;
    default:
        return -1;
    }
    mods_clear(m);
    if (m->phase == PH_CONNECT) {
        ms->conn_reject = ms->res;
        ms->conn_rejected = 1;
    }
    return R_STOP;
}

/* A modification after SMFIC_BODYEOB, checked against the negotiated actions. */
static int take_mod(struct mlt *m, const struct milter_reply *r)
{
    static const struct { char cmd; uint32_t need; } need[] = {
        {SMFIR_ADDHEADER, SMFIF_ADDHDRS}, {SMFIR_INSHEADER, SMFIF_ADDHDRS},
        {SMFIR_CHGHEADER, SMFIF_CHGHDRS}, {SMFIR_ADDRCPT, SMFIF_ADDRCPT},
        {SMFIR_ADDRCPT_PAR, SMFIF_ADDRCPT_PAR}, {SMFIR_DELRCPT, SMFIF_DELRCPT},
        {SMFIR_CHGFROM, SMFIF_CHGFROM}, {SMFIR_REPLBODY, SMFIF_CHGBODY},
        {SMFIR_QUARANTINE, SMFIF_QUARANTINE},
    };
    for (size_t i = 0; i < ARRAY_LEN(need); i++) {
        if (need[i].cmd != r->cmd)
            continue;
        if (!(m->actions & need[i].need) || m->phase != PH_EOM)
            return -1;
        if (r->cmd == SMFIR_REPLBODY) {
            m->has_replbody = 1;
            return buf_append(&m->replbody, r->body, r->body_len);
        }
        if (r->cmd == SMFIR_QUARANTINE) {
            free(m->quarantine);
            m->quarantine = xstrdup(r->s1[0] ? r->s1 : "milter triggers HOLD action");
            return 0;
        }
        m->mods = xrealloc(m->mods, (m->nmods + 1) * sizeof(*m->mods));
        m->mods[m->nmods++] = (struct mmod){.cmd = r->cmd, .index = r->index,
                                            .s1 = xstrdup(r->s1),
                                            .s2 = r->s2 ? xstrdup(r->s2) : NULL};
        return 0;
    }
    return 1;   /* not a modification */
}

/* A milter's reply to the command it was sent. Returns R_* or -1 (unexpected). */
static int on_reply(struct mlt *m, const struct milter_pkt *p)
{
    if (m->phase == PH_NEG) {
        struct milter_neg n;
        if (milter_neg_parse(p, &n) < 0 || n.version < 2)
            return -1;
        int offered = m->sp->protocol ? m->sp->protocol : m->ms->cfg->protocol;
        uint32_t mask = offered >= 6 ? MILTER_PROTO_V6 : MILTER_PROTO_V2;
        if ((n.proto & ~mask) || (n.actions & ~(uint32_t)MILTER_ACTIONS))
            msg_warn("milter %s: negotiation: it asks for protocol 0x%x actions 0x%x beyond "
                     "what was offered; ignoring the extra bits", m->sp->name, n.proto, n.actions);
        m->version = n.version;
        m->actions = n.actions & MILTER_ACTIONS;
        m->proto = n.proto & mask;
        for (int i = 0; i < MS_COUNT; i++)
            if (n.macros[i])
                m->macros[i] = macro_list(n.macros[i]);
        m->state = MT_OPEN;
        m->phase = PH_START;
        return mlt_step(m);
    }
    struct milter_reply r;
    if (milter_reply_parse(p, &r) < 0)
        return -1;
    if (r.cmd == SMFIR_PROGRESS) {
        conn_deadline_in(m->io, (uint64_t)m->content_ms);
        m->waiting = 1;
        return R_WAIT;
    }
    int mod = take_mod(m, &r);
    if (mod < 0)
        return -1;
    if (mod == 0) {
        m->waiting = 1;
        return R_WAIT;
    }
    if (r.cmd == SMFIR_SKIP && m->phase == PH_BODY && (m->proto & SMFIP_SKIP)) {
        m->phase = PH_EOM;
        send_macros(m, MS_EOM, SMFIC_BODYEOB);
        milter_put_pkt(conn_out(m->io), SMFIC_BODYEOB, NULL, 0);
        expect(m, "SMFIC_BODYEOB", m->content_ms);
        return R_WAIT;
    }
    int fr = final_reply(m, &r);
    if (fr != R_NEXT)
        return fr;
    if (m->msg_accept || m->state == MT_ACCEPTED)
        return R_NEXT;
    /* SMFIR_CONTINUE: go on within the event */
    switch (m->phase) {
    case PH_CONNECT:
        m->phase = PH_START;
        return mlt_step(m);
    case PH_HDRS:
    case PH_EOH:
    case PH_BODY:
        return eom_pump(m);
    case PH_EOM:
        m->phase = PH_DONE;
        return R_NEXT;
    default:
        m->phase = PH_DONE;
        return R_NEXT;
    }
}

/* The milter's event ended one way or another: on to the next, or the verdict. */
static void mlt_event_step_done(struct mlt *m, int r)
{
    struct msess *ms = m->ms;
    if (r == R_WAIT) {
        if (!m->io || mflush(m) == 0)
            return;
        send_failed(m);
        r = mlt_step(m);
        if (r == R_WAIT)
            return;
    }
    if (ms->ev == SMTPD_MILTER_EOM && m->state != MT_FAILED)
        apply_mods(m);
    if (ms->ev == SMTPD_MILTER_EOM && m->quarantine && !ms->verdict) {
        ms->s->actions.hold = 1;
        free(ms->s->actions.hold_reason);
        ms->s->actions.hold_reason = xstrdup(m->quarantine);
    }
    if (r == R_STOP || ms->verdict || ms->s->actions.discard == 2) {
        finish(ms);
        return;
    }
    ms->cur++;
    if (advance(ms))
        return;
    finish(ms);
}

static void mlt_ready(struct conn *io, void *arg)
{
    struct mlt *m = arg;
    (void)io;
    if (m->pumping) {
        if (mflush(m) < 0) {
            send_failed(m);
            mlt_event_step_done(m, mlt_step(m));
            return;
        }
        if (conn_out_len(m->io) > MILTER_OUT_HIGH / 4)
            return;
        m->pumping = 0;
        conn_deadline_clear(m->io);
        mlt_event_step_done(m, eom_pump(m));
        return;
    }
    for (;;) {
        char *data;
        size_t avail = conn_peek(m->io, &data), used = 0;
        struct milter_pkt p;
        int d = milter_pkt_decode(data, avail, &p, &used);
        if (d == 0)
            return;
        if (d < 0 || !m->waiting) {
            int active = m->waiting;
            if (d < 0)
                mlt_fail(m, "bad packet length from the milter");
            else
                mlt_fail(m, "unexpected packet '%c' from the milter", p.cmd);
            if (active)
                mlt_event_step_done(m, mlt_step(m));
            return;
        }
        m->waiting = 0;
        conn_deadline_clear(m->io);
        int r = on_reply(m, &p);
        conn_consume(m->io, used);
        if (r < 0) {
            mlt_fail(m, "unexpected reply '%c' to %s", p.cmd, m->sent);
            r = mlt_step(m);
        }
        if (r == R_WAIT && m->waiting && m->io) {
            if (mflush(m) == 0)
                continue;   /* a reply may already be buffered */
        }
        mlt_event_step_done(m, r);
        return;
    }
}

static void mlt_lost(struct conn *io, void *arg)
{
    struct mlt *m = arg;
    int err = conn_eof(io) ? 0 : errno;
    if (m->state == MT_ACCEPTED) {
        mlt_close(m);       /* it accepted the session: nothing more to ask it */
        return;
    }
    if (!m->waiting && !m->pumping) {
        mlt_fail(m, "connection closed by the milter");
        return;     /* between events: the default action comes at the next one */
    }
    if (m->phase == PH_NEG && err)
        msg_warn("connect to Milter service %s: %s", m->sp->name, strerror(err));
    mlt_fail(m, "can't read %s reply packet header: %s", m->sent,
             err ? strerror(err) : "Connection closed by the milter");
    mlt_event_step_done(m, mlt_step(m));
}

static void mlt_deadline(struct conn *io, void *arg)
{
    struct mlt *m = arg;
    (void)io;
    if (!m->waiting && !m->pumping)
        return;
    mlt_fail(m, "can't read %s reply packet header: %s", m->sent, strerror(ETIMEDOUT));
    mlt_event_step_done(m, mlt_step(m));
}

/* ---- applying modifications ---- */

static void del_rcpt(struct session *s, const char *addr)
{
    char a[1024];
    size_t l = strlen(addr);
    if (l >= 2 && addr[0] == '<' && addr[l - 1] == '>')
        str_fmt(a, sizeof(a), "%.*s", (int)(l - 2), addr + 1);
    else
        str_copy(a, addr, sizeof(a));
    for (size_t i = 0; i < s->nrcpts; i++) {
        if (strcasecmp(s->rcpts[i].addr, a) != 0)
            continue;
        free(s->rcpts[i].addr);
        free(s->rcpts[i].orcpt);
        memmove(&s->rcpts[i], &s->rcpts[i + 1], (s->nrcpts - i - 1) * sizeof(*s->rcpts));
        s->nrcpts--;
        i--;
    }
}

static char *strip_angles(const char *addr)
{
    size_t l = strlen(addr);
    if (l >= 2 && addr[0] == '<' && addr[l - 1] == '>')
        return xstrndup(addr + 1, l - 2);
    return xstrdup(addr);
}

static void add_rcpt(struct session *s, const char *addr)
{
    char *a = strip_angles(addr);
    for (size_t i = 0; i < s->nrcpts; i++)
        if (strcasecmp(s->rcpts[i].addr, a) == 0) {
            free(a);
            return;
        }
    if (s->nrcpts == s->caprcpts) {
        s->caprcpts = s->caprcpts ? s->caprcpts * 2 : 4;
        s->rcpts = xrealloc(s->rcpts, s->caprcpts * sizeof(*s->rcpts));
    }
    s->rcpts[s->nrcpts++] = (struct smtp_rcpt){.addr = a};
}

static void apply_mods(struct mlt *m)
{
    struct session *s = m->ms->s;
    int lead = (m->proto & SMFIP_HDR_LEADSPC) != 0;
    for (size_t i = 0; i < m->nmods; i++) {
        const struct mmod *d = &m->mods[i];
        switch (d->cmd) {
        case SMFIR_ADDHEADER:
            milter_hdr_add(&s->msg, d->s1, d->s2, lead);
            break;
        case SMFIR_INSHEADER:
            milter_hdr_insert(&s->msg, d->index, d->s1, d->s2, lead);
            break;
        case SMFIR_CHGHEADER:
            milter_hdr_change(&s->msg, d->index, d->s1, d->s2, lead);
            break;
        case SMFIR_ADDRCPT:
        case SMFIR_ADDRCPT_PAR:
            add_rcpt(s, d->s1);
            break;
        case SMFIR_DELRCPT:
            del_rcpt(s, d->s1);
            break;
        case SMFIR_CHGFROM:
            free(s->sender);
            s->sender = strip_angles(d->s1);
            break;
        default:
            break;
        }
    }
    if (m->has_replbody)
        milter_body_replace(&s->msg, m->replbody.data ? m->replbody.data : "", m->replbody.len);
    for (size_t i = 0; i < m->nmods; i++) {
        free(m->mods[i].s1);
        free(m->mods[i].s2);
    }
    free(m->mods);
    m->mods = NULL;
    m->nmods = 0;
    buf_free(&m->replbody);
    m->has_replbody = 0;
}

/* ---- the session's side ---- */

static void deliver(struct msess *ms)
{
    struct session *s = ms->s;
    if (ms->ev == SMTPD_MILTER_EOM)
        smtpd_milter_message_done(s);
    if (!ms->verdict) {
        s->milter_passed = (int)ms->ev;
        ms->done(s, NULL);
        return;
    }
    char text[700];
    str_fmt(text, sizeof(text), "%d %s %s", ms->res.code, ms->res.dsn, ms->res.text);
    log_verdict(ms, "milter-reject", text);
    for (int i = 0; i + 1 < ms->nlines; i++)
        smtpd_session_reply(s, "%d-%s", ms->res.code, ms->lines[i]);
    struct restrict_result res = ms->res;
    ms->done(s, &res);
}

static void finish(struct msess *ms)
{
    if (!ms->async)
        return;     /* smtpd_milter_check() reports it */
    struct session *s = ms->s;
    s->state = SS_COMMAND;
    deliver(ms);
    smtpd_session_resume(s);
}

/* A spilled message is read back: milters see and edit it in memory. */
static int unspill(struct session *s)
{
    if (s->spill_fd < 0)
        return 0;
    size_t n;
    if (lseek(s->spill_fd, 0, SEEK_SET) < 0)
        return -1;
    char *data = read_fd(s->spill_fd, s->spill_len + 1, &n);
    if (!data || buf_append(&s->msg, data, n) < 0) {
        free(data);
        return -1;
    }
    free(data);
    close(s->spill_fd);
    s->spill_fd = -1;
    s->spill_len = 0;
    return 0;
}

static struct msess *msess_get(struct session *s)
{
    if (s->milter)
        return s->milter;
    struct smtpd_milters *mc = s->srv->milters;
    struct msess *ms = xcalloc(1, sizeof(*ms));
    ms->s = s;
    ms->cfg = mc;
    ms->n = mc->n;
    ms->m = xcalloc(mc->n, sizeof(*ms->m));
    for (size_t i = 0; i < mc->n; i++) {
        struct mlt *m = &ms->m[i];
        m->ms = ms;
        m->sp = &mc->specs[i];
        m->def_action = m->sp->default_action ? parse_def_action(m->sp->default_action)
                                              : mc->def_action;
        m->connect_ms = m->sp->connect_ms >= 0 ? m->sp->connect_ms : mc->connect_ms;
        m->command_ms = m->sp->command_ms >= 0 ? m->sp->command_ms : mc->command_ms;
        m->content_ms = m->sp->content_ms >= 0 ? m->sp->content_ms : mc->content_ms;
        buf_init(&m->replbody, 0);
    }
    s->milter = ms;
    return ms;
}

int smtpd_milter_check(struct session *s, enum smtpd_milter_ev ev,
                       void (*done)(struct session *, const struct restrict_result *))
{
    if (!s->srv->milters)
        return 0;
    if (s->milter_passed == (int)ev) {
        s->milter_passed = SMTPD_MILTER_NONE;
        return 0;
    }
    if (s->actions.discard == 2 && ev != SMTPD_MILTER_HELO && ev != SMTPD_MILTER_UNKNOWN)
        return 0;       /* a milter discarded the transaction: the rest is not asked */
    struct msess *ms = msess_get(s);
    ms->ev = ev;
    ms->cur = 0;
    ms->done = done;
    ms->async = 0;
    ms->verdict = 0;
    ms->nlines = 0;
    if (ms->conn_rejected && ev != SMTPD_MILTER_HELO) {
        ms->verdict = 1;
        ms->res = ms->conn_reject;
        deliver(ms);
        return 1;
    }
    if (ev == SMTPD_MILTER_EOM && unspill(s) < 0) {
        set_reply(ms, 451, "4.3.0", "Error: queue file read error");
        deliver(ms);
        return 1;
    }
    for (size_t i = 0; i < ms->n; i++)
        if (ms->m[i].state == MT_OPEN || ms->m[i].state == MT_NEW)
            ms->m[i].phase = PH_START;
    if (advance(ms)) {
        ms->async = 1;
        s->state = SS_WAIT;
        return 1;
    }
    if (!ms->verdict)
        return 0;
    deliver(ms);
    return 1;
}

void smtpd_milter_abort(struct session *s)
{
    struct msess *ms = s->milter;
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct mlt *m = &ms->m[i];
        m->msg_accept = 0;
        if (m->state != MT_OPEN || !m->in_msg || m->waiting)
            continue;
        m->in_msg = 0;
        milter_put_pkt(conn_out(m->io), SMFIC_ABORT, NULL, 0);
        if (mflush(m) < 0)
            mlt_fail(m, "can't send SMFIC_ABORT: %s", strerror(errno));
    }
}

/* After the message was queued: the milters' transaction is over (no abort). */
void smtpd_milter_message_done(struct session *s)
{
    struct msess *ms = s->milter;
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        ms->m[i].in_msg = 0;
        ms->m[i].msg_accept = 0;
        free(ms->m[i].quarantine);      /* it was for this message */
        ms->m[i].quarantine = NULL;
    }
}

void smtpd_milter_session_end(struct session *s)
{
    struct msess *ms = s->milter;
    if (!ms)
        return;
    for (size_t i = 0; i < ms->n; i++) {
        struct mlt *m = &ms->m[i];
        if (m->io && (m->state == MT_OPEN || m->state == MT_ACCEPTED) && !m->waiting &&
            !m->pumping) {
            milter_put_pkt(conn_out(m->io), SMFIC_QUIT, NULL, 0);
            mflush(m);
        }
        mlt_close(m);
        mods_clear(m);
    }
    free(ms->m);
    free(ms);
    s->milter = NULL;
}
