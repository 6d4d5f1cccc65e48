/*
 * command.c - the SMTP verbs (RFC 5321 with PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING, DSN, VRFY, ETRN), the
 * restriction chain that runs at each stage, and the end of a message:
 * header checks, then one record in the queue journal and a wait for the
 * group commit before "250 Ok: queued as".
 *
 * Replies follow Postfix's texts so that log readers and people who know
 * Postfix recognise them.
 */
#include "smtpd/smtpd.h"
#include "lib-mail/addr.h"
#include "lib-mail/cleanup.h"
#include "lib-mail/hcheck.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "lib-route/resolve.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static int has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

/* ---- restriction chain -------------------------------------------------- */

static const char *stage_name(enum restrict_stage st, enum smtpd_cmd cmd);

static void fill_input(struct session *s, struct restrict_input *in)
{
    memset(in, 0, sizeof(*in));
    in->client_addr = s->addr;
    in->client_name = s->name;
    in->helo = s->helo[0] ? s->helo : NULL;
    in->sender = s->sender;
    in->recipient = s->pending_arg;
    in->protocol = s->esmtp ? "ESMTP" : "SMTP";
    in->etrn_domain = s->pending_cmd == CMD_ETRN ? s->pending_arg : NULL;
    in->reverse_client_name = s->reverse_name;
    in->client_name_status = s->name_status;
    in->reverse_name_status = s->reverse_status;
    in->nrcpt = (int)s->nrcpts;
    in->queue_id = s->qid[0] ? s->qid : NULL;
    in->encrypted = s->tls != NULL;
    if (s->tls && tls_conn_peer_fingerprint(s->tls) && *tls_conn_peer_fingerprint(s->tls)) {
        in->ccert_fingerprint = tls_conn_peer_fingerprint(s->tls);
        in->ccert_pkey_fingerprint = tls_conn_peer_pkey_fingerprint(s->tls);
        in->ccert_trusted = tls_conn_peer_trusted(s->tls);
    }
    in->sasl_username = s->sasl_username;
    in->sasl_method = s->sasl_username ? s->sasl_method : NULL;
    in->client_port = s->port;
    in->size = s->mail_size;
    if (s->tls) {
        in->tls_protocol = tls_conn_protocol(s->tls);
        in->tls_cipher = tls_conn_cipher(s->tls);
        in->tls_bits = tls_conn_bits(s->tls, NULL);
    }
    if (!s->instance[0]) {
        static unsigned serial;
        str_fmt(s->instance, sizeof(s->instance), "%lx.%llx.%x", (unsigned long)getpid(),
                (unsigned long long)now_usec(), ++serial);
    }
    in->instance = s->instance;
    /* Log lines name the command being answered ("RCPT from ..."), also for a
     * delayed HELO or MAIL restriction that warns while RCPT is checked. */
    if (s->ichain < s->nchain)
        in->command = stage_name(s->chain[s->ichain], s->pending_cmd);
}

static const char *stage_name(enum restrict_stage st, enum smtpd_cmd cmd)
{
    switch (cmd) {
    case CMD_HELO: return "HELO";
    case CMD_EHLO: return "EHLO";
    case CMD_MAIL: return "MAIL";
    case CMD_RCPT: return "RCPT";
    case CMD_DATA: return st == RS_END_OF_DATA ? "END-OF-MESSAGE" : "DATA";
    case CMD_BDAT: return st == RS_END_OF_DATA ? "END-OF-MESSAGE" : "BDAT";
    case CMD_ETRN: return "ETRN";
    case CMD_VRFY: return "VRFY";
    default: return "CONNECT";
    }
}

/* Handle one stage's answer. Returns 1 to go on with the chain, 0 if it ended. */
static int chain_step(struct session *s, const struct restrict_result *res)
{
    enum restrict_stage st = s->chain[s->ichain];
    if (res->verdict == RV_REJECT || res->verdict == RV_DEFER) {
        smtpd_session_log_reject(s, stage_name(st, s->pending_cmd), res,
                           s->pending_cmd == CMD_RCPT ? s->pending_arg : NULL);
        if (!res->warn_only) {
            s->ichain = s->nchain;
            s->chain_done(s, res);
            return 0;
        }
    }
    if (st == RS_CLIENT)
        s->client_ok = 1;
    else if (st == RS_HELO)
        s->helo_ok = 1;
    else if (st == RS_SENDER)
        s->sender_ok = 1;
    s->ichain++;
    return 1;
}

static void checks_cb(const struct restrict_result *res, void *arg)
{
    struct session *s = arg;
    s->state = SS_COMMAND;
    if (chain_step(s, res))
        smtpd_checks_run(s);
    smtpd_session_resume(s);
}

void smtpd_checks_run(struct session *s)
{
    while (s->ichain < s->nchain) {
        struct restrict_input in;
        struct restrict_result res;
        fill_input(s, &in);
        memset(&res, 0, sizeof(res));
        enum restrict_verdict v = smtpd_restrict_eval(s->srv->restr, s->chain[s->ichain], &in,
                                                &s->actions, &res, checks_cb, s);
        if (v == RV_PENDING) {
            s->state = SS_WAIT;
            return;
        }
        res.verdict = v;
        if (!chain_step(s, &res))
            return;
    }
    s->chain_done(s, NULL);
}

static void chain_add(struct session *s, enum restrict_stage st)
{
    if (s->nchain < (int)ARRAY_LEN(s->chain))
        s->chain[s->nchain++] = st;
}

/* Start the checks for a command; with smtpd_delay_reject the client, helo
 * and sender stages run at RCPT (and ETRN) time, as in Postfix. */
static void chain_begin(struct session *s, enum smtpd_cmd cmd, const char *arg,
                        void (*done)(struct session *, const struct restrict_result *))
{
    s->nchain = s->ichain = 0;
    s->pending_cmd = cmd;
    free(s->pending_arg);
    s->pending_arg = arg ? xstrdup(arg) : NULL;
    s->chain_done = done;
    if (!s->srv->restr) {
        done(s, NULL);
        return;
    }
    int delay = s->srv->delay_reject;
    switch (cmd) {
    case CMD_HELO:
    case CMD_EHLO:
        if (!delay) {
            if (!s->client_ok)
                chain_add(s, RS_CLIENT);
            chain_add(s, RS_HELO);
        }
        break;
    case CMD_MAIL:
        if (!delay) {
            if (!s->client_ok)
                chain_add(s, RS_CLIENT);
            chain_add(s, RS_SENDER);
        }
        break;
    case CMD_RCPT:
    case CMD_ETRN:
        if (!s->client_ok)
            chain_add(s, RS_CLIENT);
        if (!s->helo_ok)
            chain_add(s, RS_HELO);
        if (cmd == CMD_RCPT) {
            if (!s->sender_ok)
                chain_add(s, RS_SENDER);
            chain_add(s, RS_RELAY);
            chain_add(s, RS_RECIPIENT);
        } else {
            chain_add(s, RS_ETRN);
        }
        break;
    case CMD_DATA:
    case CMD_BDAT:
        chain_add(s, RS_DATA);
        break;
    default:
        break;
    }
    smtpd_checks_run(s);
}

static void reply_restriction(struct session *s, const struct restrict_result *res)
{
    smtpd_session_error(s, "%d %s %s", res->code, res->dsn, res->text);
    /* An access table may answer 421 or 521: say it, then hang up. */
    if (res->code == 421 || res->code == 521)
        smtpd_session_close_after_reply(s);
}

/* ---- HELO / EHLO ------------------------------------------------------- */

static void ehlo_keyword(struct session *s, struct buf *b, const char *kw, const char *arg)
{
    for (char **d = s->srv->discard_ehlo; d && *d; d++)
        if (strcasecmp(*d, kw) == 0)
            return;
    if (arg)
        buf_printf(b, "%s %s", kw, arg);
    else
        buf_puts(b, kw);
    buf_putc(b, '\n');
}

static void helo_done(struct session *s, const struct restrict_result *res);

/* EHLO right after start: give the auth server connection a moment (at most 2 s). */
static void helo_retry(void *arg)
{
    struct session *s = arg;
    s->wait_timer = NULL;
    helo_done(s, NULL);
    smtpd_session_resume(s);
}

static void helo_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (!res && s->esmtp && smtpd_auth_server_pending(s) && s->auth_wait < 100) {
        s->auth_wait++;
        s->state = SS_WAIT;
        s->wait_timer = ev_timer_add(s->srv->loop, 20, helo_retry, s);
        return;
    }
    if (res) {
        reply_restriction(s, res);
        s->helo[0] = '\0';
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_HELO, helo_done))
        return;
    s->counts[s->last_cmd][0]++;
    if (!s->esmtp) {
        smtpd_session_reply(s, "250 %s", s->srv->myhostname);
        return;
    }
    struct buf kw;
    buf_init(&kw, 4096);
    ehlo_keyword(s, &kw, "PIPELINING", NULL);
    char size[32];
    str_fmt(size, sizeof(size), "%lld", s->srv->message_size_limit);
    ehlo_keyword(s, &kw, "SIZE", s->srv->message_size_limit > 0 ? size : NULL);
    if (!s->srv->disable_vrfy)
        ehlo_keyword(s, &kw, "VRFY", NULL);
    ehlo_keyword(s, &kw, "ETRN", NULL);
    if (smtpd_xforward_allowed(s))
        ehlo_keyword(s, &kw, "XFORWARD", "NAME ADDR PROTO HELO SOURCE PORT IDENT");
    if (smtpd_starttls_offered(s))
        ehlo_keyword(s, &kw, "STARTTLS", NULL);
    struct buf authkw;
    buf_init(&authkw, 2048);
    smtpd_auth_ehlo_keywords(s, &authkw);
    for (char *line = authkw.data; line && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        char *sp = strchr(line, ' ');
        if (sp) {
            *sp = '\0';
            ehlo_keyword(s, &kw, line, sp + 1);
        } else {
            /* "AUTH=PLAIN LOGIN": one word before the first space */
            ehlo_keyword(s, &kw, line, NULL);
        }
        line = nl + 1;
    }
    buf_free(&authkw);
    ehlo_keyword(s, &kw, "ENHANCEDSTATUSCODES", NULL);
    ehlo_keyword(s, &kw, "8BITMIME", NULL);
    ehlo_keyword(s, &kw, "DSN", NULL);
    if (s->srv->smtputf8_enable)
        ehlo_keyword(s, &kw, "SMTPUTF8", NULL);
    ehlo_keyword(s, &kw, "CHUNKING", NULL);
    smtpd_session_reply(s, "250%c%s", kw.len ? '-' : ' ', s->srv->myhostname);
    char *p = kw.data;
    while (p && *p) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        smtpd_session_reply(s, "250%c%s", nl[1] ? '-' : ' ', p);
        p = nl + 1;
    }
    buf_free(&kw);
}

/* A byte below 0x20 (TAB, CR ... included) or DEL. */
static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static void cmd_helo(struct session *s, char *arg, int esmtp)
{
    arg = str_trim(arg);
    if (!*arg) {
        smtpd_session_error(s, "501 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return;
    }
    /*
     * The name goes into Received:, the log, the queue envelope and the
     * delivery request: control characters have no place there (and a TAB
     * or CR would make the message undeliverable).
     */
    if (has_control(arg)) {
        smtpd_session_error(s, "501 5.5.2 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
        return;
    }
    if (strlen(arg) >= sizeof(s->helo)) {
        smtpd_session_error(s, "501 5.5.2 Syntax: %s hostname too long", esmtp ? "EHLO" : "HELO");
        return;
    }
    /* HELO/EHLO resets the transaction (RFC 5321 4.1.4). */
    smtpd_session_reset_transaction(s);
    str_copy(s->helo, arg, sizeof(s->helo));
    s->esmtp = esmtp;
    s->helo_ok = 0;
    chain_begin(s, esmtp ? CMD_EHLO : CMD_HELO, s->helo, helo_done);
}

/* ---- MAIL ------------------------------------------------------------------ */

/* The ESMTP extensions this session announced, for esmtp_parse_params(). */
static int allowed_params(struct session *s)
{
    int allow = ESMTP_ALLOW_SIZE | ESMTP_ALLOW_8BITMIME | ESMTP_ALLOW_DSN;
    if (s->srv->smtputf8_enable)
        allow |= ESMTP_ALLOW_SMTPUTF8;
    return allow;
}

static int parse_mail_params(struct session *s, const char *params, long long *size)
{
    struct esmtp_params p;
    char err[256];
    int code = esmtp_parse_params(params, 0, allowed_params(s), &p, err, sizeof(err));
    if (code) {
        smtpd_session_error(s, "%d %s", code, err);
        return -1;
    }
    if (p.has_size)
        *size = p.size > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)p.size;
    s->body_8bit = p.body == ESMTP_BODY_8BITMIME;
    s->smtputf8 = p.smtputf8;
    s->ret = p.ret == ESMTP_RET_FULL ? 1 : p.ret == ESMTP_RET_HDRS ? 0 : -1;
    if (p.has_envid)
        s->envid = xstrdup(p.envid);
    return 0;
}

static void mail_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (res) {
        reply_restriction(s, res);
        smtpd_session_reset_transaction(s);
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_MAIL, mail_done))
        return;
    s->counts[CMD_MAIL][0]++;
    s->in_mail = 1;
    smtpd_session_reply(s, "250 2.1.0 Ok");
}

/*
 * A local part that local(8) syntax would read as a command, a file or an
 * include ("|cmd", "/file", ":include:") in a domain delivered by the local
 * agent: no such user can exist, and a DSN to it must never look like an
 * alias target. Refused at once (pickup's local clients are not checked).
 */
static int local_special(const struct session *s, const char *addr)
{
    if (!s->srv->resolver || !(addr[0] == '|' || addr[0] == '/' || str_iprefix(addr, ":include:")))
        return 0;
    return resolve_addr_class(s->srv->resolver, addr) == AC_LOCAL;
}

static void cmd_mail(struct session *s, char *arg)
{
    struct smtpd_server *srv = s->srv;
    if (srv->helo_required && !s->helo[0] && !srv->local) {
        smtpd_session_error(s, "503 5.5.1 Error: send HELO/EHLO first");
        return;
    }
    if (s->in_mail) {
        smtpd_session_error(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (!str_iprefix(arg, "FROM:")) {
        smtpd_session_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    if (smtpd_limits_event(s, CONNCOUNT_MAIL) < 0)
        return;
    struct xforward xf = s->xf;            /* given before MAIL, for this transaction */
    smtpd_session_reset_transaction(s);
    s->xf = xf;
    char addr[ADDR_MAX];
    char *params = NULL;
    const char *why = NULL;
    int err = addr_parse_path(arg + 5, srv->strict_rfc821, 1, addr, sizeof(addr), &params, &why);
    if (err < 0) {
        int code;
        const char *text = addr_path_reply(err, 0, &code);
        smtpd_session_error(s, "%d %s", code, text);
        return;
    }
    long long size = 0;
    if (parse_mail_params(s, params ? params : "", &size) < 0) {
        smtpd_session_reset_transaction(s);
        return;
    }
    s->mail_size = size;
    if (has_8bit(addr) && !s->smtputf8) {
        smtpd_session_error(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        smtpd_session_reset_transaction(s);
        return;
    }
    if (local_special(s, addr)) {
        msg_info("NOQUEUE: reject: MAIL from %s: 550 5.1.0 <%s>: Sender address rejected: User "
                 "unknown in local recipient table; from=<%s> proto=%s helo=<%s>", s->namaddr,
                 addr, addr, s->esmtp ? "ESMTP" : "SMTP", s->helo);
        smtpd_session_error(s, "550 5.1.0 <%s>: Sender address rejected: User unknown in local "
                      "recipient table", addr);
        smtpd_session_reset_transaction(s);
        return;
    }
    if (srv->message_size_limit > 0 && size > srv->message_size_limit) {
        smtpd_session_error(s, "552 5.3.4 Message size exceeds fixed limit");
        smtpd_session_reset_transaction(s);
        return;
    }
    if (!smtpd_session_queue_space_ok(s)) {
        smtpd_session_error(s, "452 4.3.1 Insufficient system storage");
        smtpd_session_reset_transaction(s);
        return;
    }
    s->sender = xstrdup(addr);
    chain_begin(s, CMD_MAIL, addr, mail_done);
}

/* ---- RCPT ------------------------------------------------------------------- */

static int parse_rcpt_params(struct session *s, const char *params, int *notify, char **orcpt)
{
    struct esmtp_params p;
    char err[256];
    int code = esmtp_parse_params(params, 1, allowed_params(s), &p, err, sizeof(err));
    if (code) {
        smtpd_session_error(s, "%d %s", code, err);
        return -1;
    }
    /* ESMTP_NOTIFY_* and DSN_NOTIFY_* are both RFC 3461's bits. */
    *notify = (p.notify & ESMTP_NOTIFY_NEVER ? DSN_NOTIFY_NEVER : 0) |
              (p.notify & ESMTP_NOTIFY_SUCCESS ? DSN_NOTIFY_SUCCESS : 0) |
              (p.notify & ESMTP_NOTIFY_FAILURE ? DSN_NOTIFY_FAILURE : 0) |
              (p.notify & ESMTP_NOTIFY_DELAY ? DSN_NOTIFY_DELAY : 0);
    if (p.has_orcpt)
        *orcpt = xasprintf("%s;%s", p.orcpt_type, p.orcpt);
    return 0;
}

static void rcpt_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    struct smtp_rcpt *r = &s->rcpts[s->nrcpts];
    if (res) {
        reply_restriction(s, res);
        free(r->addr);
        free(r->orcpt);
        r->addr = r->orcpt = NULL;
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_RCPT, rcpt_done))
        return;
    if (!s->qid[0]) {
        queue_new_id(s->qid, sizeof(s->qid));
        if (s->srv->local)
            msg_info("%s: uid=%u from=<%s>", s->qid, (unsigned)s->uid, s->sender);
        else if (s->sasl_username)
            msg_info("%s: client=%s[%s], sasl_method=%s, sasl_username=%s", s->qid,
                     smtpd_xf_name(s), smtpd_xf_addr(s),
                     s->sasl_method, s->sasl_username);
        else
            msg_info("%s: client=%s[%s]", s->qid, smtpd_xf_name(s), smtpd_xf_addr(s));
    }
    s->nrcpts++;
    s->counts[CMD_RCPT][0]++;
    smtpd_session_reply(s, "250 2.1.5 Ok");
}

static void cmd_rcpt(struct session *s, char *arg)
{
    if (!s->in_mail) {
        smtpd_session_error(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (!str_iprefix(arg, "TO:")) {
        smtpd_session_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    if ((long long)s->nrcpts >= s->srv->recipient_limit) {
        smtpd_session_error(s, "452 4.5.3 Error: too many recipients");
        return;
    }
    if (smtpd_limits_event(s, CONNCOUNT_RCPT) < 0)
        return;
    char addr[ADDR_MAX];
    char *params = NULL;
    const char *why = NULL;
    int err = addr_parse_path(arg + 3, s->srv->strict_rfc821, 1, addr, sizeof(addr), &params, &why);
    if (err < 0 || !addr[0]) {
        int code = 501;
        const char *text = err < 0 ? addr_path_reply(err, 1, &code) : "5.1.3 Bad recipient address syntax";
        smtpd_session_error(s, "%d %s", code, text);
        return;
    }
    if (has_8bit(addr) && !s->smtputf8) {
        smtpd_session_error(s, "553 5.6.7 Must declare SMTPUTF8 to send unicode address");
        return;
    }
    if (local_special(s, addr)) {
        msg_info("%s: reject: RCPT from %s: 550 5.1.1 <%s>: Recipient address rejected: User "
                 "unknown in local recipient table; from=<%s> to=<%s> proto=%s helo=<%s>",
                 s->qid[0] ? s->qid : "NOQUEUE", s->namaddr, addr, s->sender, addr,
                 s->esmtp ? "ESMTP" : "SMTP", s->helo);
        smtpd_session_error(s, "550 5.1.1 <%s>: Recipient address rejected: User unknown in local "
                      "recipient table", addr);
        return;
    }
    int notify = 0;
    char *orcpt = NULL;
    if (parse_rcpt_params(s, params ? params : "", &notify, &orcpt) < 0) {
        free(orcpt);
        return;
    }
    if (s->nrcpts == s->caprcpts) {
        s->caprcpts = s->caprcpts ? s->caprcpts * 2 : 4;
        s->rcpts = xrealloc(s->rcpts, s->caprcpts * sizeof(*s->rcpts));
    }
    s->rcpts[s->nrcpts] = (struct smtp_rcpt){.addr = xstrdup(addr), .orcpt = orcpt,
                                             .notify = notify};
    chain_begin(s, CMD_RCPT, addr, rcpt_done);
}

/* ---- content: DATA and BDAT --------------------------------------------------- */

/* Move the client's data so far to a queue tmpfile; the session keeps only our headers. */
static int spill_start(struct session *s)
{
    int fd = queue_tmpfile(s->srv->queue_dir);
    if (fd < 0) {
        msg_warn("%s: cannot create a spill file in %s/tmp: %s", s->qid, s->srv->queue_dir,
                 strerror(errno));
        return -1;
    }
    size_t n = s->msg.len - s->data_start;
    if (write_all(fd, s->msg.data + s->data_start, n) < 0) {
        msg_warn("%s: spill file write: %s", s->qid, strerror(errno));
        close(fd);
        return -1;
    }
    s->head = xmalloc(n + 1);
    memcpy(s->head, s->msg.data + s->data_start, n);
    s->head_len = n;
    s->spill_fd = fd;
    s->spill_len = n;
    s->msg.len = s->data_start;
    s->msg.data[s->msg.len] = '\0';
    return 0;
}

static size_t body_size(const struct session *s)
{
    return s->spill_fd >= 0 ? s->spill_len : s->msg.len - s->data_start;
}

static int msg_sink(void *arg, const char *data, size_t len)
{
    struct session *s = arg;
    if (s->too_big || s->io_error)
        return 0;
    if (s->srv->message_size_limit > 0 &&
        body_size(s) + len > (size_t)s->srv->message_size_limit) {
        s->too_big = 1;
        return 0;
    }
    if (s->spill_fd >= 0) {
        if (write_all(s->spill_fd, data, len) < 0) {
            msg_warn("%s: spill file write: %s", s->qid, strerror(errno));
            s->io_error = 1;
            return 0;
        }
        s->spill_len += len;
        return 0;
    }
    if (buf_append(&s->msg, data, len) < 0) {
        s->too_big = 1;
        return 0;
    }
    if (s->msg.len - s->data_start > SMTPD_SPILL_AT && spill_start(s) < 0)
        s->io_error = 1;
    return 0;
}

/* What the decoders produce: through the header/body checks when there are any. */
static int data_sink(void *arg, const char *data, size_t len)
{
    struct session *s = arg;
    if (s->hc)
        return hcheck_feed(s->hc, data, len) < 0 ? -1 : 0;
    return msg_sink(arg, data, len);
}

/* RFC 3848 / RFC 6531 names for Received: "with ...". */
static const char *protocol_name(struct session *s)
{
    if (s->srv->local)
        return "LOCAL";
    int a = s->sasl_username != NULL;
    if (s->smtputf8)
        return s->tls ? (a ? "UTF8SMTPSA" : "UTF8SMTPS") : (a ? "UTF8SMTPA" : "UTF8SMTP");
    if (!s->esmtp)
        return "SMTP";
    return s->tls ? (a ? "ESMTPSA" : "ESMTPS") : (a ? "ESMTPA" : "ESMTP");
}

/* Start the message content with our Received: header. */
static void content_begin(struct session *s)
{
    buf_reset(&s->msg);
    time_t now = time(NULL);
    if (s->srv->local) {
        char date[80];
        rfc5322_date(date, sizeof(date), now);
        buf_printf(&s->msg, "Received: by %s (%s, from userid %u)\n\tid %s; %s\n",
                   s->srv->myhostname, s->srv->mail_name, (unsigned)s->uid, s->qid, date);
    } else {
        for (size_t i = 0; i < s->actions.nprepend; i++)
            buf_printf(&s->msg, "%s\n", s->actions.prepend[i]);
        char tls_info[900];
        smtpd_tls_received_text(s, tls_info, sizeof(tls_info));
        if (s->sasl_username && s->srv->sasl_auth_header) {
            size_t n = strlen(tls_info);
            str_fmt(tls_info + n, sizeof(tls_info) - n, "%s(Authenticated sender: %s)",
                    n ? "\n\t" : "", s->sasl_username);
        }
        struct received_info ri = {
            .helo = smtpd_xf_helo(s), .client_name = smtpd_xf_name(s),
            .client_addr = smtpd_xf_addr(s),
            .tls_info = tls_info,
            .myhostname = s->srv->myhostname, .mail_name = s->srv->mail_name,
            .protocol = s->xf.proto[0] ? s->xf.proto : protocol_name(s), .qid = s->qid,
            .for_rcpt = s->nrcpts == 1 ? s->rcpts[0].addr : NULL, .when = now};
        cleanup_received(&s->msg, &ri);
    }
    s->data_start = s->msg.len;
    s->too_big = 0;
    s->io_error = 0;
    smtpd_hchecks_begin(s, msg_sink);
}

static int client_is_local(struct session *s)
{
    return s->srv->local || strcmp(s->addr, "127.0.0.1") == 0 || strcmp(s->addr, "::1") == 0;
}

/* Local clients get the headers Postfix adds for them (local_header_rewrite_clients). */
static void add_missing_headers(struct session *s, struct header_info *hi)
{
    if (!client_is_local(s) || (hi->has_date && hi->has_message_id && (hi->has_from || !*s->sender)))
        return;
    struct buf extra;
    buf_init(&extra, 4096);
    if (cleanup_missing_headers(&extra, hi, s->qid, s->srv->myhostname, s->sender, time(NULL)) < 0 ||
        extra.len == 0) {
        buf_free(&extra);
        return;
    }
    /* Insert at the end of the primary header block (hi counts from data_start);
     * for a spilled message at the end of our own headers, which stay in memory. */
    size_t at = s->spill_fd >= 0 ? s->data_start : s->data_start + hi->header_bytes;
    if (buf_reserve(&s->msg, extra.len) == 0) {
        memmove(s->msg.data + at + extra.len, s->msg.data + at, s->msg.len - at);
        memcpy(s->msg.data + at, extra.data, extra.len);
        s->msg.len += extra.len;
        s->msg.data[s->msg.len] = '\0';
        if (s->spill_fd >= 0)
            s->data_start += extra.len;
        if (!hi->message_id[0]) {
            /* The Message-ID we made is logged, as Postfix's cleanup logs it. */
            struct header_info added;
            cleanup_scan_headers(extra.data, extra.len, &added);
            str_copy(hi->message_id, added.message_id, sizeof(hi->message_id));
        }
    }
    buf_free(&extra);
}

static void build_envelope(struct session *s, struct qenvelope *env)
{
    qenv_init(env);
    str_copy(env->qid, s->qid, sizeof(env->qid));
    env->arrival_usec = now_usec();
    qenv_set_sender(env, s->sender);
    for (size_t i = 0; i < s->nrcpts; i++)
        qenv_add_rcpt(env, s->rcpts[i].addr, s->rcpts[i].orcpt, s->rcpts[i].notify);
    qenv_set_envid(env, s->envid);
    env->ret_full = s->ret;
    env->smtputf8 = s->smtputf8;
    env->eightbit = s->body_8bit;
    qenv_set_attr(env, "client_name", smtpd_xf_name(s));
    qenv_set_attr(env, "client_address", smtpd_xf_addr(s));
    qenv_set_attr(env, "client_port", smtpd_xf_port(s));
    if (*smtpd_xf_helo(s))
        qenv_set_attr(env, "helo_name", smtpd_xf_helo(s));
    qenv_set_attr(env, "protocol", s->xf.proto[0] ? s->xf.proto : protocol_name(s));
    if (s->sasl_username) {
        qenv_set_attr(env, "sasl_method", s->sasl_method);
        qenv_set_attr(env, "sasl_username", s->sasl_username);
    }
    if (s->srv->local) {
        char uid[16];
        str_fmt(uid, sizeof(uid), "%u", (unsigned)s->uid);
        qenv_set_attr(env, "uid", uid);
    }
    if (s->actions.hold)
        qenv_set_attr(env, "hold", s->actions.hold_reason ? s->actions.hold_reason : "");
    if (s->actions.redirect)
        qenv_set_attr(env, "redirect", s->actions.redirect);
    /* FILTER from an access table or header_checks wins over content_filter. */
    if (s->actions.filter)
        qenv_set_attr(env, "filter", s->actions.filter);
    else if (s->srv->content_filter && s->srv->content_filter[0])
        qenv_set_attr(env, "filter", s->srv->content_filter);
    if (s->srv->overrides & SMTPD_RO_NO_ADDRESS_MAPS)
        qenv_set_attr(env, "no_address_mappings", "1");
}

static void message_finish(struct session *s, const struct restrict_result *res);

/* After the content: size, hop count and header checks, then end-of-data restrictions. */
static void message_end(struct session *s)
{
    s->state = SS_COMMAND;
    if (s->bare_lf_reject) {
        smtpd_hchecks_abort(s);
        return;
    }
    smtpd_hchecks_flush(s);
    if (s->too_big) {
        msg_info("%s: reject: %s from %s: 552 5.3.4 Error: message file too big; from=<%s> proto=%s helo=<%s>",
                 s->qid, s->bdat_active ? "BDAT" : "END-OF-MESSAGE", s->namaddr, s->sender,
                 protocol_name(s), s->helo);
        smtpd_session_error(s, "552 5.3.4 Error: message file too big");
        smtpd_session_reset_transaction(s);
        return;
    }
    if (s->io_error) {
        smtpd_session_error(s, "451 4.3.0 Error: queue file write error");
        smtpd_session_reset_transaction(s);
        return;
    }
    /* Header checks see our headers and the start of the client's data. */
    const char *data = s->spill_fd >= 0 ? s->head : s->msg.data + s->data_start;
    size_t data_len = s->spill_fd >= 0 ? s->head_len : s->msg.len - s->data_start;
    struct header_info hi;
    struct buf whole;
    buf_init(&whole, 0);
    buf_append(&whole, s->msg.data, s->data_start);
    buf_append(&whole, data, data_len);
    cleanup_scan_headers(whole.data, whole.len, &hi);
    buf_free(&whole);
    if (hi.received_count > s->srv->hopcount_limit) {
        msg_info("%s: reject: END-OF-MESSAGE from %s: 554 5.4.0 Error: too many hops; from=<%s>",
                 s->qid, s->namaddr, s->sender);
        smtpd_session_error(s, "554 5.4.0 Error: too many hops");
        smtpd_session_reset_transaction(s);
        return;
    }
    if (s->srv->header_size_limit > 0 && hi.longest_header > (size_t)s->srv->header_size_limit) {
        smtpd_session_error(s, "552 5.3.4 Error: message header size exceeds limit");
        smtpd_session_reset_transaction(s);
        return;
    }
    if (smtpd_hchecks_end(s) < 0 || smtpd_bcc_apply(s) < 0)
        return;
    struct header_info data_hi;
    cleanup_scan_headers(data, data_len, &data_hi);
    add_missing_headers(s, &data_hi);
    if (hi.message_id[0] || data_hi.message_id[0])
        msg_info("%s: message-id=%s", s->qid, data_hi.message_id[0] ? data_hi.message_id : hi.message_id);
    s->nchain = s->ichain = 0;
    s->pending_cmd = s->bdat_active ? CMD_BDAT : CMD_DATA;
    s->chain_done = message_finish;
    if (s->srv->restr)
        chain_add(s, RS_END_OF_DATA);
    smtpd_checks_run(s);
}

static void message_finish(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (res) {
        reply_restriction(s, res);
        smtpd_session_reset_transaction(s);
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_EOM, message_finish))
        return;
    if (s->actions.discard) {
        if (s->actions.discard == 1)
            msg_info("%s: discard: END-OF-MESSAGE from %s: %s; from=<%s> proto=%s helo=<%s>",
                     s->qid, s->namaddr, s->actions.discard_reason ? s->actions.discard_reason : "",
                     s->sender, protocol_name(s), s->helo);
        s->counts[s->bdat_active ? CMD_BDAT : CMD_DATA][0]++;
        smtpd_session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
        smtpd_session_reset_transaction(s);
        return;
    }
    struct qenvelope env;
    struct qref ref;
    build_envelope(s, &env);
    int r = s->spill_fd >= 0
                ? queue_writer_add_spill(s->srv->qw, &env, s->msg.data, s->msg.len, s->spill_fd, 0,
                                         s->spill_len, NULL, &ref)
                : queue_writer_add(s->srv->qw, &env, s->msg.data, s->msg.len, &ref);
    qenv_free(&env);
    if (r < 0) {
        msg_warn("%s: queue file write error: %s", s->qid, strerror(errno));
        smtpd_session_error(s, "451 4.3.0 Error: queue file write error");
        smtpd_session_reset_transaction(s);
        return;
    }
    /* The reply waits for the group commit (smtpd.c). */
    s->state = SS_WAIT;
    smtpd_commit_enqueue(s);
}

static void data_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (res) {
        reply_restriction(s, res);
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_DATA, data_done))
        return;
    content_begin(s);
    smtpd_data_decoder_init(&s->dd, s->srv->bare_nl, data_sink, s);
    s->bare_lf_reject = 0;
    s->state = SS_DATA;
    smtpd_session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static void cmd_data(struct session *s, char *arg)
{
    if (*str_trim(arg)) {
        smtpd_session_error(s, "501 5.5.4 Syntax: DATA");
        return;
    }
    if (s->bdat_active) {
        smtpd_session_error(s, "503 5.5.1 Error: DATA after BDAT");
        return;
    }
    if (!s->in_mail || s->nrcpts == 0) {
        smtpd_session_error(s, s->in_mail ? "554 5.5.1 Error: no valid recipients"
                                    : "503 5.5.1 Error: need RCPT command");
        return;
    }
    chain_begin(s, CMD_DATA, NULL, data_done);
}

/* A failed BDAT transaction: the rest of its chunks are read and thrown away. */
static void bdat_fail(struct session *s, const char *reply)
{
    free(s->bdat_fail);
    s->bdat_fail = xstrdup(reply);
}

/* One reply per BDAT command, sent once its chunk has been read. */
static void bdat_chunk_end(struct session *s)
{
    s->state = SS_COMMAND;
    if (!s->bdat_fail && s->too_big) {
        msg_info("%s: reject: BDAT from %s: 552 5.3.4 Error: message file too big; from=<%s> proto=%s helo=<%s>",
                 s->qid, s->namaddr, s->sender, protocol_name(s), s->helo);
        bdat_fail(s, "552 5.3.4 Error: message file too big");
    }
    if (s->bdat_fail) {
        smtpd_session_error(s, "%s", s->bdat_fail);
        if (s->bdat_last || !s->in_mail)
            smtpd_session_reset_transaction(s);
        return;
    }
    if (s->bdat_last) {
        smtpd_bdat_finish(&s->bd);
        message_end(s);
        return;
    }
    s->counts[CMD_BDAT][0]++;
    smtpd_session_reply(s, "250 2.0.0 Ok: %zu bytes", body_size(s));
}

/* Feed DATA or BDAT input to the decoder. Returns 1 if it made progress. */
int smtpd_data_feed(struct session *s)
{
    char *data;
    if (s->state == SS_BDAT) {
        size_t n = conn_blob(s->conn, s->bdat_left < SIZE_MAX ? (size_t)s->bdat_left : SIZE_MAX,
                             &data);
        if (n == 0 && s->bdat_left > 0)
            return 0;
        if (!s->bdat_fail)
            smtpd_bdat_decode(&s->bd, data, n);
        s->bdat_left -= n;
        if (s->bdat_left > 0)
            return n > 0;
        bdat_chunk_end(s);
        return 1;
    }
    size_t used = 0;
    size_t avail = conn_peek(s->conn, &data);
    enum data_status st = smtpd_data_decode(&s->dd, data, avail, SMTPD_DATA_HOLD, &used);
    conn_consume(s->conn, used);
    switch (st) {
    case CD_END:
        message_end(s);
        return 1;
    case CD_BARE_LF:
        s->bare_lf_reject = 1;
        msg_info("disconnect: bare <LF> received from %s", s->namaddr);
        smtpd_session_reply(s, "521 5.5.2 %s Error: bare <LF> received", s->srv->myhostname);
        smtpd_session_close_after_reply(s);
        return 0;
    case CD_SINK_ERROR:
        smtpd_session_error(s, "451 4.3.0 Error: internal error");
        smtpd_session_close_after_reply(s);
        return 0;
    case CD_MORE:
        break;
    }
    return used > 0;
}

static void bdat_first_done(struct session *s, const struct restrict_result *res)
{
    /* The milters' DATA event; the chunk waits in the input buffer meanwhile. */
    if (!res && smtpd_milter_check(s, SMTPD_MILTER_DATA, bdat_first_done))
        return;
    if (res) {
        char line[700];
        str_fmt(line, sizeof(line), "%d %s %s", res->code, res->dsn, res->text);
        bdat_fail(s, line);
    } else {
        content_begin(s);
        smtpd_bdat_decoder_init(&s->bd, data_sink, s);
    }
    s->bdat_active = 1;
    s->state = SS_BDAT;
}

static void cmd_bdat(struct session *s, char *arg)
{
    char *tok = strtok(arg, " ");
    char *last = strtok(NULL, " ");
    char *extra = strtok(NULL, " ");
    char *end = NULL;
    errno = 0;
    unsigned long long n = tok ? strtoull(tok, &end, 10) : 0;
    if (!tok || *end || errno || !isdigit((unsigned char)*tok) || extra ||
        (last && strcasecmp(last, "LAST") != 0)) {
        /* Without a valid count the chunk boundary is unknown: we cannot go on. */
        smtpd_session_error(s, "501 5.5.4 Syntax: BDAT count [LAST]");
        smtpd_session_close_after_reply(s);
        return;
    }
    s->bdat_left = n;
    s->bdat_last = last != NULL;
    if (!s->in_mail || s->nrcpts == 0 || s->bdat_fail) {
        if (!s->bdat_fail)
            bdat_fail(s, s->in_mail ? "554 5.5.1 Error: no valid recipients"
                                    : "503 5.5.1 Error: need RCPT command");
        s->bdat_active = 1;
        s->state = SS_BDAT;
        return;
    }
    if (!s->bdat_active) {
        chain_begin(s, CMD_BDAT, NULL, bdat_first_done);
        return;
    }
    s->state = SS_BDAT;
}

/* ---- the rest ----------------------------------------------------------------------- */

static void cmd_vrfy(struct session *s, char *arg)
{
    if (s->srv->disable_vrfy) {
        smtpd_session_error(s, "502 5.5.1 VRFY command is disabled");
        return;
    }
    arg = str_trim(arg);
    if (!*arg) {
        smtpd_session_error(s, "501 5.5.4 Syntax: VRFY address");
        return;
    }
    char addr[ADDR_MAX];
    char *params = NULL;
    const char *why = NULL;
    if (addr_parse_path(arg, 0, s->srv->smtputf8_enable, addr, sizeof(addr), &params, &why) < 0 ||
        !addr[0]) {
        smtpd_session_error(s, "501 5.1.3 Bad recipient address syntax");
        return;
    }
    char reason[256] = "";
    int known = s->srv->resolver ? resolve_rcpt_known(s->srv->resolver, addr, reason, sizeof(reason)) : 1;
    if (known < 0) {
        smtpd_session_error(s, "450 4.3.0 <%s>: Temporary lookup failure", addr);
        return;
    }
    if (known == 0) {
        smtpd_session_error(s, "550 5.1.1 <%s>: Recipient address rejected: %s", addr, reason);
        return;
    }
    s->counts[CMD_VRFY][0]++;
    smtpd_session_reply(s, "252 2.0.0 %s", addr);
}

static void etrn_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (res) {
        reply_restriction(s, res);
        return;
    }
    smtpd_etrn_request(s, s->pending_arg);     /* etrn.c */
}

static void cmd_etrn(struct session *s, char *arg)
{
    arg = str_trim(arg);
    if (!s->helo[0]) {
        smtpd_session_error(s, "503 Error: send HELO/EHLO first");
        return;
    }
    if (s->in_mail) {
        smtpd_session_error(s, "503 Error: MAIL transaction in progress");
        return;
    }
    if (!*arg || strchr(arg, ' ')) {
        smtpd_session_error(s, "500 Syntax: ETRN domain");
        return;
    }
    if (arg[0] == '@' || arg[0] == '#')     /* RFC 1985 queue names: served as the domain */
        arg++;
    if (!hostname_valid(arg)) {
        smtpd_session_error(s, "501 Error: invalid parameter syntax");
        return;
    }
    chain_begin(s, CMD_ETRN, arg, etrn_done);
}

struct verb {
    const char *name;
    enum smtpd_cmd cmd;
};

static const struct verb verbs[] = {
    {"HELO", CMD_HELO}, {"EHLO", CMD_EHLO}, {"MAIL", CMD_MAIL}, {"RCPT", CMD_RCPT},
    {"DATA", CMD_DATA}, {"BDAT", CMD_BDAT}, {"RSET", CMD_RSET}, {"NOOP", CMD_NOOP},
    {"VRFY", CMD_VRFY}, {"ETRN", CMD_ETRN}, {"HELP", CMD_HELP}, {"QUIT", CMD_QUIT},
    {"STARTTLS", CMD_STARTTLS}, {"AUTH", CMD_AUTH}, {"XFORWARD", CMD_XFORWARD},
};

static enum smtpd_cmd lookup_verb(const char *line, char **arg)
{
    size_t n = strcspn(line, " ");
    for (size_t i = 0; i < ARRAY_LEN(verbs); i++) {
        if (strlen(verbs[i].name) == n && strncasecmp(line, verbs[i].name, n) == 0) {
            *arg = (char *)line + n + (line[n] == ' ');
            return verbs[i].cmd;
        }
    }
    return CMD_UNKNOWN;
}

/* smtpd_tls_security_level = encrypt: what may be said before STARTTLS. */
static int needs_tls_first(struct session *s, enum smtpd_cmd c)
{
    if (!smtpd_starttls_required(s))
        return 0;
    switch (c) {
    case CMD_MAIL: case CMD_RCPT: case CMD_DATA: case CMD_BDAT: case CMD_VRFY: case CMD_ETRN:
    case CMD_AUTH:
        smtpd_session_error(s, "530 5.7.0 Must issue a STARTTLS command first");
        return 1;
    default:
        return 0;
    }
}

/* Commands that do not move a transaction forward count as junk (smtpd_junk_command_limit). */
static int junk_limit_hit(struct session *s, enum smtpd_cmd c)
{
    if (c != CMD_NOOP && c != CMD_VRFY && c != CMD_ETRN && c != CMD_RSET && c != CMD_HELP)
        return 0;
    if (++s->junk <= s->srv->junk_command_limit)
        return 0;
    msg_info("too many errors after %s from %s", c == CMD_NOOP ? "NOOP" : "command", s->namaddr);
    smtpd_session_reply(s, "421 4.7.0 %s Error: too many errors", s->srv->myhostname);
    smtpd_session_close_after_reply(s);
    return 1;
}

/*
 * pickup only: "XUID n" from pickup's own maildrop replay (a client running
 * as root or mail_owner) names the user whose maildrop file this is. From
 * anyone else it is an unknown command. Returns 1 if it handled the line.
 */
static int local_xuid(struct session *s, const char *line)
{
    if (!s->srv->local || strncasecmp(line, "XUID ", 5) != 0 ||
        (s->uid != 0 && s->uid != geteuid()))
        return 0;
    if (s->in_mail) {
        smtpd_session_error(s, "503 5.5.1 Error: MAIL transaction in progress");
        return 1;
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(line + 5, &end, 10);
    if (errno || end == line + 5 || *end || !isdigit((unsigned char)line[5]) ||
        v >= (unsigned long)(uid_t)-1) {
        smtpd_session_error(s, "501 5.5.4 Syntax: XUID uid");
        return 1;
    }
    if (!smtpd_submit_allowed(s->srv, (uid_t)v)) {
        smtpd_session_error(s, "554 5.7.1 Error: user id %lu is not allowed to submit mail "
                         "(authorized_submit_users)", v);
        return 1;
    }
    s->uid = (uid_t)v;
    smtpd_session_reply(s, "250 2.0.0 Ok");
    return 1;
}

/* A command yubin does not know: the milters may answer it (SMFIC_UNKNOWN). */
static void unknown_done(struct session *s, const struct restrict_result *res)
{
    s->state = SS_COMMAND;
    if (res) {
        reply_restriction(s, res);
        return;
    }
    if (smtpd_milter_check(s, SMTPD_MILTER_UNKNOWN, unknown_done))
        return;
    smtpd_session_error(s, "502 5.5.2 Error: command not recognized");
}

void smtpd_command_dispatch(struct session *s, char *line)
{
    if (log_verbose())
        msg_debug("< %s: %s", s->namaddr, line);
    if (local_xuid(s, line))
        return;
    char *arg = NULL;
    enum smtpd_cmd c = lookup_verb(line, &arg);
    s->last_cmd = c;
    s->counts[c][1]++;
    if (junk_limit_hit(s, c) || needs_tls_first(s, c))
        return;
    switch (c) {
    case CMD_HELO: cmd_helo(s, arg, 0); return;
    case CMD_EHLO: cmd_helo(s, arg, 1); return;
    case CMD_MAIL: cmd_mail(s, arg); return;
    case CMD_RCPT: cmd_rcpt(s, arg); return;
    case CMD_DATA: cmd_data(s, arg); return;
    case CMD_BDAT: cmd_bdat(s, arg); return;
    case CMD_VRFY: cmd_vrfy(s, arg); return;
    case CMD_ETRN: cmd_etrn(s, arg); return;
    case CMD_RSET:
        smtpd_session_reset_transaction(s);
        s->counts[c][0]++;
        smtpd_session_reply(s, "250 2.0.0 Ok");
        return;
    case CMD_NOOP:
        s->counts[c][0]++;
        smtpd_session_reply(s, "250 2.0.0 Ok");
        return;
    case CMD_HELP:
        s->counts[c][0]++;
        smtpd_session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP VRFY ETRN HELP QUIT");
        return;
    case CMD_QUIT:
        s->counts[c][0]++;
        smtpd_session_reply(s, "221 2.0.0 Bye");
        smtpd_session_close_after_reply(s);
        return;
    case CMD_STARTTLS:
        smtpd_cmd_starttls(s, arg);
        return;
    case CMD_AUTH:
        smtpd_cmd_auth(s, arg);
        return;
    case CMD_XFORWARD:
        if (!smtpd_xforward_allowed(s))
            break;                         /* "502 command not recognized", as Postfix */
        smtpd_cmd_xforward(s, arg);
        return;
    case CMD_UNKNOWN:
    case CMD_CONNECT:
    case CMD_COUNT:
        break;
    }
    if (!*line) {
        smtpd_session_error(s, "500 5.5.2 Error: bad syntax");
        return;
    }
    free(s->pending_arg);
    s->pending_arg = xstrdup(line);
    unknown_done(s, NULL);
}

/* Called by smtpd.c after the group commit with its result. */
void smtpd_session_committed(struct session *s, int ok)
{
    enum smtpd_cmd c = s->bdat_active ? CMD_BDAT : CMD_DATA;
    if (ok) {
        s->counts[c][0]++;
        smtpd_session_reply(s, "250 2.0.0 Ok: queued as %s", s->qid);
    } else {
        smtpd_session_error(s, "451 4.3.0 Error: queue file write error");
    }
    smtpd_session_reset_transaction(s);
    if (s->state == SS_WAIT)
        s->state = SS_COMMAND;
    smtpd_session_resume(s);
}
