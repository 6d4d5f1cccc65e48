/*
 * session.c - one SMTP client connection: I/O, replies, limits, logging.
 *
 * The socket is a connection object (lib/conn.h: reading, writing, TLS,
 * flow control, the deadline timer). Input is processed as far as it
 * goes: commands one line at a time (so a pipelining client gets all its
 * replies in one write), DATA/BDAT content through content.c. Processing
 * stops while an asynchronous step is pending (a DNS-based restriction,
 * the group commit) and resumes from smtpd_session_resume(). Replies are
 * collected in the connection's output queue and written when nothing
 * more can be processed.
 *
 * smtpd_timeout is a deadline, not an idle timer, when
 * smtpd_per_request_deadline is on (yubin's default; Postfix's only under
 * stress): a command line must arrive complete within smtpd_timeout of
 * the previous request, so a client trickling one byte at a time cannot
 * hold a session. Message content (DATA, BDAT chunks) cannot be held to
 * one deadline without cutting off large messages on slow links, so it
 * follows Postfix's smtpd_min_data_rate: each N bytes read move the
 * deadline N/rate seconds later, never more than smtpd_timeout ahead. A
 * sender that keeps up the rate (500 bytes/s by default) is never cut
 * off; one that trickles runs out of time within about smtpd_timeout.
 * With the deadline off, any input restarts smtpd_timeout (Postfix's
 * time limit per read).
 */
#include "smtpd/smtpd.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-dns/dns.h"
#include "lib-table/matchlist.h"
#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Lower case for the "disconnect" counters, upper case in "lost connection after X". */
static const char *const cmd_upper[] = {
    "HELO", "EHLO", "XFORWARD", "STARTTLS", "AUTH", "MAIL", "RCPT", "DATA", "BDAT",
    "RSET", "NOOP", "VRFY", "ETRN", "HELP", "QUIT", "UNKNOWN",
};
_Static_assert(ARRAY_LEN(cmd_upper) == CMD_COUNT, "one name per enum smtpd_cmd");

static const char *after_what(const struct session *s)
{
    if (s->last_cmd == CMD_CONNECT)
        return "CONNECT";
    if (s->state == SS_DATA || (s->state == SS_BDAT && s->last_cmd == CMD_BDAT))
        return s->state == SS_DATA ? "DATA" : "BDAT";
    return cmd_upper[s->last_cmd];
}

static const char *const cmd_names[] = {
    "helo", "ehlo", "xforward", "starttls", "auth", "mail", "rcpt", "data", "bdat",
    "rset", "noop", "vrfy", "etrn", "help", "quit", "unknown",
};
_Static_assert(ARRAY_LEN(cmd_names) == CMD_COUNT, "one name per enum smtpd_cmd");

static void session_process(struct session *s);

/* ---- timers ---------------------------------------------------------- */

void smtpd_session_expire(struct session *s)
{
    msg_info("timeout after %s from %s", after_what(s), s->namaddr);
    if (s->state == SS_CLOSING) {
        /* Its last replies found no reader within smtpd_timeout either. */
        smtpd_session_destroy(s, NULL);
        return;
    }
    if (s->state == SS_WAIT && s->srv->restr) {
        /* A stuck check must not hold the client forever; cancel it. */
        smtpd_restrict_cancel(s->srv->restr, s);
    }
    /* An AUTH exchange too: its answer must not revive a closing session. */
    smtpd_auth_abort(s);
    smtpd_milter_session_end(s);    /* and a milter's answer must not queue anything */
    smtpd_commit_forget(s);
    if (s->sleep_timer)
        ev_timer_cancel(s->srv->loop, s->sleep_timer);
    s->sleep_timer = NULL;
    s->sleeping = 0;
    smtpd_session_reply(s, "421 4.4.2 %s Error: timeout exceeded", s->srv->myhostname);
    smtpd_session_close_after_reply(s);
    /* A client that reads nothing gets smtpd_timeout more to take the 421. */
    smtpd_session_deadline_reset(s);
    smtpd_session_resume(s);
}

/* Moving the deadline only records a time; the connection's timer re-arms
 * itself lazily, so a busy session does not touch the timer heap on every
 * command. */
void smtpd_session_deadline_reset(struct session *s)
{
    conn_deadline_in(s->conn, (uint64_t)s->srv->timeout_ms);
}

/* n bytes arrived: per read (no deadline), or content earning time at smtpd_min_data_rate. */
static void session_input(struct conn *c, void *arg, size_t n)
{
    (void)c;
    struct session *s = arg;
    struct smtpd_server *srv = s->srv;
    if (!srv->per_request_deadline) {
        smtpd_session_deadline_reset(s);
        return;
    }
    if (s->state != SS_DATA && s->state != SS_BDAT)
        return;   /* a command line: its deadline started with the request */
    uint64_t cap = ev_now(srv->loop) + (uint64_t)srv->timeout_ms;
    uint64_t earned = (uint64_t)n * 1000 / (uint64_t)srv->min_data_rate;
    uint64_t at = conn_deadline(s->conn);
    conn_deadline_at(s->conn, at + earned < cap ? at + earned : cap);
}

/* ---- registration with the loop -------------------------------------- */

/* Input only in states that read; the connection adds flow control and TLS's wants. */
static void session_update_events(struct session *s)
{
    conn_want_input(s->conn, s->state != SS_CLOSING && s->state != SS_WAIT &&
                                 s->state != SS_CONNECT && s->state != SS_STARTTLS);
    /* After "220 Ready to start TLS" nothing is read until TLS is installed. */
    conn_block_input(s->conn, s->state == SS_STARTTLS);
    conn_update(s->conn);
}

/* ---- output ------------------------------------------------------------ */

static void vreply(struct session *s, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    /* Never reflect CR/LF from client input into a reply. */
    for (char *p = line; *p; p++)
        if (*p == '\r' || *p == '\n')
            *p = ' ';
    if (buf_printf(conn_out(s->conn), "%s\r\n", line) < 0)
        s->state = SS_CLOSING;
    if (log_verbose())
        msg_debug("> %s: %s", s->namaddr, line);
}

void smtpd_session_reply(struct session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply(s, fmt, ap);
    va_end(ap);
}

void smtpd_session_error(struct session *s, const char *fmt, ...)
{
    s->errors++;
    if (s->errors >= s->srv->hard_error_limit) {
        msg_info("too many errors after %s from %s", after_what(s), s->namaddr);
        smtpd_session_reply(s, "421 4.7.0 %s Error: too many errors", s->srv->myhostname);
        smtpd_session_close_after_reply(s);
        return;
    }
    /* Past the soft limit Postfix sleeps before each error reply. Sleeping would
     * stall every session of this process, so only this session pauses: its
     * reply is held and its input left unread until the timer fires. */
    if (s->errors > s->srv->soft_error_limit && s->srv->error_sleep_ms > 0)
        s->sleeping = 1;
    va_list ap;
    va_start(ap, fmt);
    vreply(s, fmt, ap);
    va_end(ap);
}

void smtpd_session_close_after_reply(struct session *s)
{
    s->state = SS_CLOSING;
}

/* ---- lifecycle ----------------------------------------------------------- */

static void log_disconnect(struct session *s)
{
    char line[512];
    size_t off = 0;
    int total_ok = 0, total = 0;
    line[0] = '\0';
    for (int c = 0; c < CMD_COUNT; c++) {
        int ok = s->counts[c][0], n = s->counts[c][1];
        if (n == 0)
            continue;
        total_ok += ok;
        total += n;
        int r = ok == n ? snprintf(line + off, sizeof(line) - off, " %s=%d", cmd_names[c], n)
                        : snprintf(line + off, sizeof(line) - off, " %s=%d/%d", cmd_names[c], ok, n);
        if (r < 0 || (size_t)r >= sizeof(line) - off)
            break;
        off += (size_t)r;
    }
    if (total_ok == total)
        msg_info("disconnect from %s%s commands=%d", s->namaddr, line, total);
    else
        msg_info("disconnect from %s%s commands=%d/%d", s->namaddr, line, total_ok, total);
}

void smtpd_session_destroy(struct session *s, const char *why)
{
    struct smtpd_server *srv = s->srv;
    if (why && !srv->local)
        msg_info("%s after %s from %s", why, after_what(s), s->namaddr);
    if (!srv->local)
        log_disconnect(s);
    smtpd_limits_session_end(s);
    if (srv->restr)
        smtpd_restrict_cancel(srv->restr, s);
    if (srv->dns)
        dns_cancel(srv->dns, s);
    smtpd_commit_forget(s);
    if (s->sleep_timer)
        ev_timer_cancel(srv->loop, s->sleep_timer);
    if (s->wait_timer)
        ev_timer_cancel(srv->loop, s->wait_timer);
    /* TLS: close_notify, then the connection frees the TLS state and closes the socket. */
    conn_shutdown(s->conn);
    conn_free(s->conn);
    s->tls = NULL;
    smtpd_session_reset_transaction(s);
    smtpd_milter_session_end(s);
    smtpd_restrict_actions_free(&s->actions);
    smtpd_auth_session_end(s);
    buf_free(&s->msg);
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

void smtpd_session_reset_transaction(struct session *s)
{
    smtpd_milter_abort(s);
    free(s->sender);
    s->sender = NULL;
    for (size_t i = 0; i < s->nrcpts; i++) {
        free(s->rcpts[i].addr);
        free(s->rcpts[i].orcpt);
    }
    free(s->rcpts);
    s->rcpts = NULL;
    s->nrcpts = s->caprcpts = 0;
    free(s->envid);
    s->envid = NULL;
    s->mail_size = 0;
    s->instance[0] = '\0';
    free(s->pending_arg);
    s->pending_arg = NULL;
    s->in_mail = 0;
    s->qid[0] = '\0';
    s->smtputf8 = s->body_8bit = 0;
    s->ret = -1;
    s->sender_ok = 0;
    s->too_big = 0;
    s->io_error = 0;
    s->bdat_active = s->bdat_last = 0;
    free(s->bdat_fail);
    s->bdat_fail = NULL;
    s->bdat_left = 0;
    smtpd_restrict_actions_reset(&s->actions);
    smtpd_hchecks_abort(s);
    memset(&s->xf, 0, sizeof(s->xf));   /* XFORWARD lasts one transaction */
    buf_reset(&s->msg);
    if (s->spill_fd >= 0)
        close(s->spill_fd);
    s->spill_fd = -1;
    s->spill_len = 0;
    free(s->head);
    s->head = NULL;
    s->head_len = 0;
    /* A big message's buffer is not kept around for an idle session. */
    if (s->msg.cap > 64 * 1024)
        buf_free(&s->msg);
}

void smtpd_session_greet(struct session *s)
{
    s->state = SS_COMMAND;
    smtpd_session_reply(s, "220 %s", s->srv->banner);
    smtpd_session_resume(s);
}

/* pickup: authorized_submit_users (default static:anyone), by login name. */
int smtpd_submit_allowed(const struct smtpd_server *srv, uid_t uid)
{
    if (uid == 0 || uid == geteuid())
        return 1;
    if (user_list_match(srv->submit_users, (unsigned long)uid) == 1)
        return 1;
    msg_warn("uid=%ld: not allowed to submit mail (authorized_submit_users)", (long)uid);
    return 0;
}

/* After the reverse lookup: the banner, or first the TLS handshake in wrapper mode (smtps). */
static void greet(struct session *s)
{
    if (s->srv->tlsp.wrappermode) {
        if (!s->srv->tls) {
            msg_warn("%s: TLS wrapper mode is configured but TLS is unavailable: %s", s->namaddr,
                     s->srv->tls_error ? s->srv->tls_error : "no TLS context");
            smtpd_session_destroy(s, NULL);
            return;
        }
        s->greet_after_tls = 1;
        smtpd_starttls_begin(s);
        return;
    }
    smtpd_session_greet(s);
}

static void set_namaddr(struct session *s)
{
    str_fmt(s->namaddr, sizeof(s->namaddr), "%s[%s]", s->name, s->addr);
}

/*
 * Postfix's two names: client_name is verified (PTR, then forward lookup
 * back to the address); reverse_client_name is the PTR name as found.
 */
static void reverse_done(int status, const char *result, void *arg)
{
    struct session *s = arg;
    s->name_status = status;
    s->reverse_status = status;
    if (status == DNS_OK && result && *result) {
        str_copy(s->name, result, sizeof(s->name));
        str_copy(s->reverse_name, result, sizeof(s->reverse_name));
    } else if (result && *result) {
        /* A PTR name that did not confirm (or whose forward lookup failed). */
        str_copy(s->reverse_name, result, sizeof(s->reverse_name));
        s->reverse_status = DNS_OK;
    }
    set_namaddr(s);
    msg_info("connect from %s", s->namaddr);
    if (smtpd_limits_session_begin(s) < 0)
        return;
    greet(s);
}

static void session_ready(struct conn *c, void *arg)
{
    (void)c;
    smtpd_session_resume(arg);
}

static void session_lost(struct conn *c, void *arg)
{
    (void)c;
    struct session *s = arg;
    smtpd_session_destroy(s, s->state == SS_CLOSING ? NULL : "lost connection");
}

static void session_deadline(struct conn *c, void *arg)
{
    (void)c;
    smtpd_session_expire(arg);
}

static void session_handshake(struct conn *c, void *arg, int result)
{
    (void)c;
    smtpd_starttls_done(arg, result);
}

static const struct conn_cb session_cb = {
    .ready = session_ready,
    .lost = session_lost,
    .deadline = session_deadline,
    .handshake = session_handshake,
    .input = session_input,
};

void smtpd_session_start(struct smtpd_server *srv, int fd, const char *addr, const char *port,
                   uid_t uid)
{
    struct session *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->uid = uid;
    s->ret = -1;
    s->last_cmd = CMD_CONNECT;
    s->spill_fd = -1;
    s->conn = conn_new(fd, SMTPD_IN_MAX, SMTPD_OUT_MAX);
    conn_set_lines(s->conn, SMTPD_LINE_MAX, CONN_CRLF);
    conn_attach(s->conn, srv->loop, &session_cb, s);
    /* message_size_limit 0 is "no limit": the spill to disk above
     * SMTPD_SPILL_AT is then what bounds the memory of a session. */
    buf_init(&s->msg, srv->message_size_limit > 0 ?
                          (size_t)srv->message_size_limit + 64 * 1024 : 0);
    str_copy(s->addr, addr, sizeof(s->addr));
    str_copy(s->port, port, sizeof(s->port));
    str_copy(s->name, "unknown", sizeof(s->name));
    str_copy(s->reverse_name, "unknown", sizeof(s->reverse_name));
    s->name_status = s->reverse_status = DNS_NOTFOUND;
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    s->state = SS_CONNECT;
    smtpd_session_deadline_reset(s);
    if (srv->local) {
        str_copy(s->name, "localhost", sizeof(s->name));
        str_copy(s->reverse_name, "localhost", sizeof(s->reverse_name));
        s->name_status = s->reverse_status = DNS_OK;
        set_namaddr(s);
        if (!smtpd_submit_allowed(srv, uid)) {
            s->state = SS_COMMAND;
            smtpd_session_reply(s, "554 5.7.1 Error: user id %ld is not allowed to submit mail "
                             "(authorized_submit_users)", (long)uid);
            smtpd_session_close_after_reply(s);
            smtpd_session_resume(s);
            return;
        }
        greet(s);
        return;
    }
    set_namaddr(s);
    if (srv->peername_lookup && srv->dns) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        /* pass: the client is the one postscreen names (it may be behind a proxy). */
        if (srv->pass ? smtpd_pass_sockaddr(s->addr, &ss, &sl) == 0
                      : getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
            dns_reverse(srv->dns, (struct sockaddr *)&ss, sl, reverse_done, s);
            return;
        }
    }
    reverse_done(DNS_NOTFOUND, NULL, s);
}

/* ---- input processing -------------------------------------------------------- */

/*
 * Take one command line from the input (in place, no copy). 1 with *line
 * set, 0 for "need more", -1 when a line was answered here (too long).
 */
static int next_line(struct session *s, char **line)
{
    size_t len;
    switch (conn_line(s->conn, line, &len)) {
    case CONN_LINE:
        break;
    case CONN_LONG:
        /* Over-long command: answered once; the connection drops the rest of it. */
        s->last_cmd = CMD_UNKNOWN;
        s->counts[CMD_UNKNOWN][1]++;
        smtpd_session_error(s, "500 5.5.0 Error: line too long");
        return -1;
    default:
        return 0;
    }
    if (!conn_line_crlf(s->conn) && s->srv->bare_nl == BARE_NL_REJECT) {
        msg_info("disconnect: bare <LF> received from %s", s->namaddr);
        smtpd_session_reply(s, "521 5.5.2 %s Error: bare <LF> received", s->srv->myhostname);
        smtpd_session_close_after_reply(s);
        conn_discard_input(s->conn);
        return 0;
    }
    smtpd_session_deadline_reset(s);   /* the next request's time starts now */
    return 1;
}

static void session_wake(void *arg)
{
    struct session *s = arg;
    s->sleep_timer = NULL;
    s->sleeping = 0;
    smtpd_session_resume(s);
}

static void session_process(struct session *s)
{
    char *line;
    while (!s->sleeping && (s->state == SS_COMMAND || s->state == SS_DATA ||
                            s->state == SS_BDAT || s->state == SS_AUTH)) {
        if (conn_output_blocked(s->conn))
            break; /* the client does not read its replies; wait */
        int progressed;
        if (s->state == SS_DATA || s->state == SS_BDAT) {
            progressed = smtpd_data_feed(s);
            if (s->state != SS_DATA && s->state != SS_BDAT)
                smtpd_session_deadline_reset(s);   /* content complete: a new request */
        } else {
            int r = next_line(s, &line);
            if (r > 0) {
                if (s->state == SS_AUTH)
                    smtpd_auth_response(s, line);
                else
                    smtpd_command_dispatch(s, line);
            }
            progressed = r != 0;
        }
        if (!progressed) {
            /* Out of input; with TLS the library may hold decrypted bytes no event announces. */
            if (conn_pending(s->conn) && conn_fill(s->conn) > 0)
                continue;
            break;
        }
    }
}

void smtpd_session_resume(struct session *s)
{
    session_process(s);
    if (s->sleeping) {
        if (!s->sleep_timer)
            s->sleep_timer = ev_timer_add(s->srv->loop, (uint64_t)s->srv->error_sleep_ms,
                                          session_wake, s);
        conn_hold(s->conn, 1);   /* neither read nor write until the timer */
        conn_update(s->conn);
        return;
    }
    conn_hold(s->conn, 0);
    if (conn_flush(s->conn) < 0) {
        smtpd_session_destroy(s, "lost connection");
        return;
    }
    if (s->state == SS_CLOSING && conn_out_len(s->conn) == 0) {
        smtpd_session_destroy(s, NULL);
        return;
    }
    if (s->state == SS_STARTTLS && conn_out_len(s->conn) == 0) {
        smtpd_starttls_begin(s);   /* the 220 is out: plaintext ends here */
        return;
    }
    session_update_events(s);
}

/* ---- helpers used by commands ----------------------------------------------------- */

void smtpd_session_log_reject(struct session *s, const char *stage, const struct restrict_result *res,
                        const char *rcpt)
{
    char to[ 600 ] = "";
    if (rcpt)
        str_fmt(to, sizeof(to), " to=<%s>", rcpt);
    msg_info("%s: %s: %s from %s: %d %s %s; from=<%s>%s proto=%s helo=<%s>",
             s->qid[0] ? s->qid : "NOQUEUE", res->warn_only ? "reject_warning" : "reject",
             stage, s->namaddr, res->code, res->dsn, res->text, s->sender ? s->sender : "", to,
             s->esmtp ? "ESMTP" : "SMTP", s->helo);
}

/* queue_minfree and room for one message of the maximal size, checked at most once a second. */
int smtpd_session_queue_space_ok(struct session *s)
{
    struct smtpd_server *srv = s->srv;
    uint64_t now = ev_now(srv->loop);
    if (srv->space_checked_ms && now - srv->space_checked_ms < 1000)
        return srv->space_ok;
    srv->space_checked_ms = now;
    struct statvfs vfs;
    if (statvfs(srv->queue_dir, &vfs) < 0) {
        srv->space_ok = 1;
        return 1;
    }
    unsigned long long avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
    unsigned long long need = (unsigned long long)srv->queue_minfree;
    unsigned long long one = (unsigned long long)srv->message_size_limit * 3 / 2;
    if (one > need)
        need = one;
    srv->space_ok = avail >= need;
    if (!srv->space_ok)
        msg_warn("not enough free space in mail queue: %llu bytes < %llu bytes", avail, need);
    return srv->space_ok;
}
