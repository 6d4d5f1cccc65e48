/*
 * psc_smtpd.c - postscreen's dummy SMTP engine for the deep protocol tests
 * (after the 220 greeting): it never announces PIPELINING, watches for
 * commands sent before the reply to the previous one (COMMAND PIPELINING),
 * for lines ending in a bare LF (BARE NEWLINE) and for non-SMTP commands
 * (NON-SMTP COMMAND: forbidden words such as CONNECT/GET/POST, header
 * lines), and rejects every RCPT: with the enforce reply of a failed test,
 * or with "450 4.3.2 Service currently unavailable" from a client that
 * passed, which then talks to smtpd on its next connection (PASS NEW at the
 * end of this one). Commands, replies and log lines are Postfix's.
 */
#include "postscreen/psc.h"
#include "lib-table/table.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PSC_T_BIT(t) (1u << (t))
#define PSC_OUT_MAX (16 * 1024)

enum { C_NONE, C_HELO, C_EHLO, C_STARTTLS, C_XCLIENT, C_XFORWARD, C_AUTH, C_MAIL, C_RCPT,
       C_DATA, C_BDAT, C_RSET, C_NOOP, C_VRFY, C_ETRN, C_QUIT };

struct psc_cmd {
    const char *name;
    int id;
    int enabled;
    int pre_tls;        /* allowed before STARTTLS when TLS is enforced */
};

static const struct psc_cmd commands[] = {
    {"HELO", C_HELO, 1, 1},     {"EHLO", C_EHLO, 1, 1},       {"STARTTLS", C_STARTTLS, 1, 1},
    {"XCLIENT", C_XCLIENT, 0, 0}, {"XFORWARD", C_XFORWARD, 0, 0}, {"AUTH", C_AUTH, 0, 0},
    {"MAIL", C_MAIL, 1, 0},     {"RCPT", C_RCPT, 1, 0},       {"DATA", C_DATA, 1, 0},
    {"BDAT", C_BDAT, 1, 0},     {"RSET", C_RSET, 1, 0},       {"NOOP", C_NOOP, 1, 1},
    {"VRFY", C_VRFY, 1, 0},     {"ETRN", C_ETRN, 1, 0},       {"QUIT", C_QUIT, 1, 1},
};

static void reply(struct psc_session *s, const char *text)
{
    conn_write(s->conn, text, strlen(text));
    conn_flush(s->conn);
}

/* End the session with a final reply (drop), after what is queued. */
static void drop_with(struct psc_session *s, const char *final)
{
    conn_flush(s->conn);
    s->noforward = 1;
    s->final_reply = final;
    psc_conclude(s);
}

static void fail_deep(struct psc_session *s, enum psc_test t, long long ttl)
{
    s->fail |= PSC_T_BIT(t);
    s->pass &= ~PSC_T_BIT(t);
    s->expire[t] = 0;
    (void)ttl;
}

/* The action of a failed deep test: 1 when the session was dropped. */
static int deep_action(struct psc_session *s, enum psc_test t, enum psc_action act,
                       const char *drop_reply)
{
    if (act == PSC_ACT_DROP) {
        drop_with(s, drop_reply);
        return 1;
    }
    if (act == PSC_ACT_ENFORCE) {
        s->rcpt_reply = "550 5.5.1 Protocol error\r\n";
    } else {
        /* ignore: passed for a short while, tested again when that runs out */
        s->fail &= ~PSC_T_BIT(t);
        s->pass |= PSC_T_BIT(t);
        s->expire[t] = time(NULL) + s->srv->dnsbl_min_ttl;
    }
    s->todo &= ~PSC_T_BIT(t);   /* skipped for the rest of this session */
    return 0;
}

static int bare_newline(struct psc_session *s, const char *line, size_t len)
{
    if (!(s->todo & PSC_T_BIT(PSC_T_BARLF)) || (s->fail & PSC_T_BIT(PSC_T_BARLF)))
        return 0;
    char text[512];
    psc_escape(line, len, 100, text, sizeof(text));
    msg_info("BARE NEWLINE from [%s]:%s after %s", s->addr, s->port, text);
    fail_deep(s, PSC_T_BARLF, 0);
    return deep_action(s, PSC_T_BARLF, s->srv->barlf_action, "521 5.5.1 Protocol error\r\n");
}

/* A header-like word ("Subject:") or a forbidden command. */
static int non_smtp(struct psc_session *s, const char *word)
{
    size_t n = strlen(word);
    if (n > 1 && word[n - 1] == ':') {
        size_t i = 0;
        while (i < n - 1 && (isalnum((unsigned char)word[i]) || word[i] == '-'))
            i++;
        if (i == n - 1)
            return 1;
    }
    for (char **w = s->srv->forbidden_words; w && *w; w++)
        if (str_ieq(*w, word))
            return 1;
    if (s->srv->forbidden) {
        struct buf b;
        buf_init(&b, 1024);
        int rc = table_lookup(s->srv->forbidden, word, &b);
        buf_free(&b);
        if (rc == TABLE_FOUND)
            return 1;
    }
    return 0;
}

static int check_nsmtp(struct psc_session *s, const struct psc_cmd *cmd, const char *word,
                       const char *line)
{
    if (cmd || !(s->todo & PSC_T_BIT(PSC_T_NSMTP)) || (s->fail & PSC_T_BIT(PSC_T_NSMTP)) ||
        !non_smtp(s, word))
        return 0;
    char w[128], text[512];
    psc_escape(word, strlen(word), 100, w, sizeof(w));
    psc_escape(line, strlen(line), 100, text, sizeof(text));
    msg_info("NON-SMTP COMMAND from [%s]:%s after %s: %s %s", s->addr, s->port, s->where, w,
             text);
    fail_deep(s, PSC_T_NSMTP, 0);
    return deep_action(s, PSC_T_NSMTP, s->srv->nsmtp_action,
                       "521 5.7.0 Error: I can break rules, too. Goodbye.\r\n");
}

static int check_pipelining(struct psc_session *s, const char *word)
{
    char *data;
    size_t n = conn_peek(s->conn, &data);
    if (!n || !(s->todo & PSC_T_BIT(PSC_T_PIPEL)) || (s->fail & PSC_T_BIT(PSC_T_PIPEL)))
        return 0;
    char w[128], text[512];
    psc_escape(word, strlen(word), 100, w, sizeof(w));
    psc_escape(data, n, 100, text, sizeof(text));
    msg_info("COMMAND PIPELINING from [%s]:%s after %s: %s", s->addr, s->port, w, text);
    fail_deep(s, PSC_T_PIPEL, 0);
    return deep_action(s, PSC_T_PIPEL, s->srv->pipel_action, "521 5.5.1 Protocol error\r\n");
}

/* At RCPT the deep tests that were not failed are passed. */
static void pass_at_rcpt(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    const long long ttl[PSC_T_COUNT] = {0, 0, srv->pipel_ttl, srv->nsmtp_ttl, srv->barlf_ttl};
    for (int t = PSC_T_PIPEL; t < PSC_T_COUNT; t++)
        if ((s->todo & PSC_T_BIT(t)) && !(s->fail & PSC_T_BIT(t)) && !(s->pass & PSC_T_BIT(t))) {
            s->pass |= PSC_T_BIT(t);
            s->expire[t] = time(NULL) + (time_t)ttl[t];
        }
}

/* The address inside MAIL FROM:<...> / RCPT TO:<...>, or NULL. */
static const char *envelope_addr(char *arg, char *out, size_t outlen)
{
    char *colon = arg ? strchr(arg, ':') : NULL;
    if (!colon)
        return NULL;
    char *p = colon + 1;
    while (*p == ' ')
        p++;
    size_t n;
    if (*p == '<') {
        char *end = strchr(p, '>');
        if (!end)
            return NULL;
        n = (size_t)(end - p - 1);
        p++;
    } else {
        n = strcspn(p, " ");
    }
    if (n >= outlen)
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

static void ehlo_reply(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    struct buf *o = conn_out(s->conn);
    buf_printf(o, "250-%s\r\n", srv->myhostname);
    if (srv->message_size_limit > 0)
        buf_printf(o, "250-SIZE %lld\r\n", srv->message_size_limit);
    else
        buf_puts(o, "250-SIZE\r\n");
    if (!srv->disable_vrfy)
        buf_puts(o, "250-VRFY\r\n");
    buf_puts(o, "250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
                "250-SMTPUTF8\r\n250 CHUNKING\r\n");
    conn_flush(s->conn);
}

static void log_rcpt_reject(struct psc_session *s, const char *rcpt)
{
    size_t n = strlen(s->rcpt_reply);
    msg_info("NOQUEUE: reject: RCPT from [%s]:%s: %.*s; from=<%s>, to=<%s>, proto=%s, helo=<%s>",
             s->addr, s->port, (int)(n >= 2 ? n - 2 : n), s->rcpt_reply,
             s->sender ? s->sender : "", rcpt, s->esmtp ? "ESMTP" : "SMTP",
             s->helo ? s->helo : "");
}

/* Run one command; 1 when the session ended. */
static int run_command(struct psc_session *s, const struct psc_cmd *cmd, char *args)
{
    struct psc_server *srv = s->srv;
    char addr[PSC_NAME_MAX + 1];
    char *word = args ? strtok(args, " ") : NULL;
    switch (cmd->id) {
    case C_HELO:
    case C_EHLO:
        if (!word) {
            reply(s, cmd->id == C_HELO ? "501 Syntax: HELO hostname\r\n"
                                       : "501 Syntax: EHLO hostname\r\n");
            return 0;
        }
        free(s->helo);
        s->helo = xstrndup(word, PSC_NAME_MAX);
        s->mail_seen = 0;
        s->helo_seen = 1;
        if (cmd->id == C_EHLO) {
            s->esmtp = 1;
            ehlo_reply(s);
        } else {
            conn_printf(s->conn, "250 %s\r\n", srv->myhostname);
            conn_flush(s->conn);
        }
        return 0;
    case C_STARTTLS:
        reply(s, "454 4.7.0 TLS not available due to local problem\r\n");
        return 0;
    case C_MAIL:
        if (srv->helo_required && !s->helo_seen)
            reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
        else if (s->mail_seen)
            reply(s, "503 5.5.1 Error: nested MAIL command\r\n");
        else if (!args || !strchr(args, ':'))
            reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
        else if (!envelope_addr(args, addr, sizeof(addr)))
            reply(s, "501 5.1.7 Bad sender address syntax\r\n");
        else {
            free(s->sender);
            s->sender = xstrdup(addr);
            s->mail_seen = 1;
            reply(s, "250 2.1.0 Ok\r\n");
        }
        return 0;
    case C_RCPT:
        if (!s->mail_seen)
            reply(s, "503 5.5.1 Error: need MAIL command\r\n");
        else if (!args || !strchr(args, ':'))
            reply(s, "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        else if (!envelope_addr(args, addr, sizeof(addr)))
            reply(s, "501 5.1.3 Bad recipient address syntax\r\n");
        else {
            log_rcpt_reject(s, addr);
            reply(s, s->rcpt_reply);
        }
        return 0;
    case C_DATA:
    case C_BDAT:
        msg_info("%s without valid RCPT from [%s]:%s", cmd->name, s->addr, s->port);
        drop_with(s, !s->mail_seen ? "503 5.5.1 Error: need RCPT command\r\n"
                                   : "554 5.5.1 Error: no valid recipients\r\n");
        return 1;
    case C_RSET:
        s->mail_seen = 0;
        reply(s, "250 2.0.0 Ok\r\n");
        return 0;
    case C_NOOP:
        reply(s, "250 2.0.0 Ok\r\n");
        return 0;
    case C_VRFY:
        if (!word)
            reply(s, "501 5.5.4 Syntax: VRFY address\r\n");
        else if (srv->disable_vrfy)
            reply(s, "502 5.5.1 VRFY command is disabled\r\n");
        else
            reply(s, s->rcpt_reply);
        return 0;
    case C_ETRN:
        if (srv->helo_required && !s->helo_seen)
            reply(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
        else if (!word)
            reply(s, "500 Syntax: ETRN domain\r\n");
        else
            reply(s, "458 Unable to queue messages\r\n");
        return 0;
    case C_QUIT:
        drop_with(s, "221 2.0.0 Bye\r\n");
        return 1;
    default:
        reply(s, "502 5.5.2 Error: command not recognized\r\n");
        return 0;
    }
}

/* One command line: the tests, then the command. 1 when the session ended. */
static int command(struct psc_session *s, char *line)
{
    struct psc_server *srv = s->srv;
    char copy[PSC_LINE_MAX + 1];
    str_copy(copy, line, sizeof(copy));
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    char *word = p;
    size_t wl = strcspn(p, " ");
    char *args = p[wl] ? p + wl + 1 : NULL;
    p[wl] = '\0';
    const struct psc_cmd *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (str_ieq(word, commands[i].name))
            cmd = &commands[i];
    const char *saved_where = s->where;
    s->where = cmd ? cmd->name : "UNIMPL";
    if (s->x21 && !(cmd && cmd->id == C_QUIT)) {
        drop_with(s, s->final_reply);
        return 1;
    }
    const char *prev = s->where;
    s->where = saved_where;
    if (check_nsmtp(s, cmd, word, copy))
        return 1;
    s->where = prev;
    if (check_pipelining(s, word))
        return 1;
    if (cmd && cmd->id == C_RCPT)
        pass_at_rcpt(s);
    if (++s->ncmds > srv->cmd_count_limit && !(cmd && cmd->id == C_QUIT)) {
        msg_info("COMMAND COUNT LIMIT from [%s]:%s after %s", s->addr, s->port, saved_where);
        drop_with(s, psc_reply_set(s, "421 %s Service unavailable - try again later\r\n",
                                   srv->myhostname));
        return 1;
    }
    if (!cmd || !cmd->enabled) {
        reply(s, "502 5.5.2 Error: command not recognized\r\n");
        return 0;
    }
    if (srv->enforce_tls && !cmd->pre_tls) {
        reply(s, "530 5.7.0 Must issue a STARTTLS command first\r\n");
        return 0;
    }
    return run_command(s, cmd, args);
}

static void on_ready(struct conn *c, void *arg)
{
    struct psc_session *s = arg;
    for (;;) {
        char *line;
        size_t len;
        enum conn_line_result r = conn_line(c, &line, &len);
        if (r == CONN_NEED) {
            conn_update(c);
            return;
        }
        if (r == CONN_LONG) {
            msg_info("COMMAND LENGTH LIMIT from [%s]:%s after %s", s->addr, s->port, s->where);
            drop_with(s, psc_reply_set(s, "421 %s Service unavailable - try again later\r\n",
                                       s->srv->myhostname));
            return;
        }
        if (r != CONN_LINE)
            return;
        if (!conn_line_crlf(c) && bare_newline(s, line, len))
            return;
        if (command(s, line))
            return;
        conn_deadline_in(c, s->srv->cmd_time_ms);
    }
}

static void on_lost(struct conn *c, void *arg)
{
    (void)c;
    psc_hangup(arg);
}

static void on_deadline(struct conn *c, void *arg)
{
    (void)c;
    struct psc_session *s = arg;
    msg_info("COMMAND TIME LIMIT from [%s]:%s after %s", s->addr, s->port, s->where);
    drop_with(s, psc_reply_set(s, "421 4.4.2 %s Error: timeout exceeded\r\n", s->srv->myhostname));
}

static const struct conn_cb engine_cb = {
    .ready = on_ready, .lost = on_lost, .deadline = on_deadline,
};

void psc_smtpd_start(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    s->phase = PSC_SMTP;
    s->test_name = "tests after SMTP handshake";
    s->start_ms = ev_now(srv->loop);
    s->where = "CONNECT";
    s->noforward = 1;     /* this connection ends here; a client that passes comes back */
    if (s->fail)          /* a client that failed a test before 220 gets every deep test */
        s->todo |= (srv->pipel_enable ? PSC_T_BIT(PSC_T_PIPEL) : 0) |
                   (srv->nsmtp_enable ? PSC_T_BIT(PSC_T_NSMTP) : 0) |
                   (srv->barlf_enable ? PSC_T_BIT(PSC_T_BARLF) : 0);
    s->conn = conn_new(s->fd, PSC_LINE_MAX + 2, PSC_OUT_MAX);
    conn_keep_fd(s->conn);
    conn_set_lines(s->conn, PSC_LINE_MAX, CONN_CRLF);
    conn_attach(s->conn, srv->loop, &engine_cb, s);
    conn_deadline_in(s->conn, srv->cmd_time_ms);
    /* No banner for a client that talked first: its commands would be out of step. */
    if (!(s->fail & PSC_T_BIT(PSC_T_PREGR))) {
        conn_printf(s->conn, "220 %s\r\n", srv->banner);
        conn_flush(s->conn);
    }
    conn_update(s->conn);
}

void psc_smtpd_stop(struct psc_session *s)
{
    if (s->conn)
        conn_free(s->conn);
    s->conn = NULL;
}
