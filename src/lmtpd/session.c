/*
 * session.c - one LMTP session (RFC 2033), blocking, on lib/conn: the
 * command table (LHLO MAIL RCPT DATA BDAT RSET NOOP VRFY QUIT, one row
 * each), recipients resolved through the userdb at RCPT, and after the
 * message one reply per accepted recipient, each given only once that
 * recipient's copy is on disk (lib-storage fsyncs before it returns).
 *
 * Replies follow Dovecot's LMTP server where it has a text:
 * "550 5.1.1 <x> User doesn't exist: x", "552 5.2.2 <x> Quota exceeded
 * (mailbox for user is full)", "250 2.0.0 <x> ID Saved".
 */
#include "lmtpd/lmtpd.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-mail/addr.h"
#include "lib-mail/dsn.h"
#include "lib-master/stopsig.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_LMTP  4096            /* a command line */
#define IN_MAX         (256 * 1024)    /* input buffer */
#define RCPT_MAX       1000            /* recipients per transaction */
#define CHUNK_MAX      (64 * 1024)

struct rcpt {
    char addr[LMTPD_ADDR_MAX];
    char orcpt[ESMTP_ORCPT_MAX + 1];
    struct lmtpd_user user;
};

struct session {
    struct lmtpd_server *srv;
    struct conn *c;
    char id[32];
    char lhlo[256];
    int have_mail;
    char sender[LMTPD_ADDR_MAX];
    struct rcpt *rcpts;
    size_t nrcpts;
    struct buf msg;                    /* BDAT chunks so far */
    int bdat;                          /* inside a BDAT transfer */
    int bdat_too_big;
    int quit;
};

static void reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(struct session *s, const char *fmt, ...)
{
    char line[LINE_MAX_LMTP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line) - 2, fmt, ap);
    va_end(ap);
    conn_printf(s->c, "%s\r\n", line);
}

static void reset(struct session *s)
{
    s->have_mail = 0;
    s->sender[0] = '\0';
    free(s->rcpts);
    s->rcpts = NULL;
    s->nrcpts = 0;
    buf_reset(&s->msg);
    s->bdat = 0;
    s->bdat_too_big = 0;
}

/* ---- delivery after the message ---- */

static void deliver_one(struct session *s, struct rcpt *r, const struct buf *msg,
                        time_t arrival)
{
    struct lmtpd_server *srv = s->srv;
    char date[64], received[2048];
    dsn_format_date(arrival, date, sizeof(date));
    snprintf(received, sizeof(received), "Received: from %s\n\tby %s (yubin) with LMTP id %s\n"
             "\tfor <%s>; %s\n", s->lhlo, srv->lda.myhostname, s->id, r->addr, date);
    struct lmtpd_msg m = {.data = msg->data, .len = msg->len, .sender = s->sender,
                          .rcpt = r->addr, .orig_rcpt = r->orcpt[0] ? r->orcpt : NULL,
                          .received = received, .arrival = arrival, .log_id = s->id};
    struct lmtpd_result res;
    lmtpd_result_set(&res, LMTPD_TEMPFAIL, "4.3.0", "Temporary internal error");
    const char *why = NULL;
    if (lmtpd_become(srv, &r->user, &why) < 0) {
        msg_warn("%s: to=<%s>: %s", s->id, r->addr, why);
    } else {
        if (!lmtpd_quota_exceeded(&r->user, (long long)msg->len, &res))
            lmtpd_deliver(&srv->lda, &r->user, &m, NULL, &res);
        lmtpd_unbecome(srv);
    }
    const char *status = res.outcome == LMTPD_DELIVERED ? "sent"
                         : res.outcome == LMTPD_TEMPFAIL ? "deferred" : "bounced";
    msg_info("%s: from=<%s>, to=<%s>, relay=lmtpd, size=%zu, dsn=%s, status=%s (%s)", s->id,
             s->sender, r->addr, msg->len, res.dsn, status, res.text);
    switch (res.outcome) {
    case LMTPD_DELIVERED:
        reply(s, "250 2.0.0 <%s> %s Saved", r->addr, s->id);
        break;
    case LMTPD_REJECTED:
        reply(s, "550 5.7.1 <%s> %s", r->addr, res.text);
        break;
    case LMTPD_FAILED:
        reply(s, "%s %s <%s> %s", res.dsn[0] == '5' ? "552" : "451", res.dsn, r->addr, res.text);
        break;
    default:
        reply(s, "451 %s <%s> %s", res.dsn[0] == '4' ? res.dsn : "4.3.0", r->addr, res.text);
    }
}

static void deliver_all(struct session *s, struct buf *msg, int too_big)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < s->nrcpts; i++) {
        if (too_big)
            reply(s, "552 5.3.4 <%s> Message size exceeds fixed limit", s->rcpts[i].addr);
        else
            deliver_one(s, &s->rcpts[i], msg, now);
        conn_deadline_in(s->c, (uint64_t)s->srv->timeout_ms);
        conn_flush_wait(s->c);             /* each reply as soon as its copy is safe */
    }
    reset(s);
}

/* ---- commands ---- */

static void cmd_lhlo(struct session *s, char *arg)
{
    if (!*arg) {
        reply(s, "501 5.5.4 Syntax: LHLO hostname");
        return;
    }
    str_copy(s->lhlo, arg, sizeof(s->lhlo));
    for (char *p = s->lhlo; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f)
            *p = '?';
    reset(s);
    reply(s, "250-%s", s->srv->lda.myhostname);
    reply(s, "250-8BITMIME");
    reply(s, "250-CHUNKING");
    reply(s, "250-ENHANCEDSTATUSCODES");
    reply(s, "250-PIPELINING");
    reply(s, "250-DSN");
    reply(s, "250-SMTPUTF8");
    if (s->srv->size_limit > 0)
        reply(s, "250-SIZE %lld", s->srv->size_limit);
    else
        reply(s, "250-SIZE");
    reply(s, "250 VRFY");
}

static int allowed_params(void)
{
    return ESMTP_ALLOW_SIZE | ESMTP_ALLOW_8BITMIME | ESMTP_ALLOW_SMTPUTF8 | ESMTP_ALLOW_DSN;
}

static void cmd_mail(struct session *s, char *arg)
{
    if (!s->lhlo[0]) {
        reply(s, "503 5.5.1 Error: send LHLO first");
        return;
    }
    if (s->have_mail) {
        reply(s, "503 5.5.1 Error: nested MAIL command");
        return;
    }
    if (!str_iprefix(arg, "FROM:")) {
        reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
        return;
    }
    char *params = NULL;
    const char *why = NULL;
    int err = addr_parse_path(arg + 5, 0, 1, s->sender, sizeof(s->sender), &params, &why);
    if (err < 0) {
        int code;
        const char *text = addr_path_reply(err, 0, &code);
        reply(s, "%d %s", code, text);
        return;
    }
    struct esmtp_params p;
    char perr[256];
    int code = esmtp_parse_params(params ? params : "", 0, allowed_params(), &p, perr,
                                  sizeof(perr));
    if (code) {
        reply(s, "%d %s", code, perr);
        return;
    }
    if (p.has_size && s->srv->size_limit > 0 && p.size > (unsigned long long)s->srv->size_limit) {
        reply(s, "552 5.3.4 Message size exceeds fixed limit");
        return;
    }
    s->have_mail = 1;
    reply(s, "250 2.1.0 OK");
}

/* lmtp_rcpt_check_quota: the quota read as the mailbox owner. 1 answered (over quota). */
static int rcpt_over_quota(struct session *s, const struct rcpt *r)
{
    struct lmtpd_result q;
    const char *why = NULL;
    if (lmtpd_become(s->srv, &r->user, &why) < 0)
        return 0;                      /* said again, and answered, after DATA */
    int over = lmtpd_quota_exceeded(&r->user, 0, &q);
    lmtpd_unbecome(s->srv);
    if (over)
        reply(s, "552 %s <%s> %s", q.dsn, r->addr, q.text);
    return over;
}

static void cmd_rcpt(struct session *s, char *arg)
{
    if (!s->have_mail) {
        reply(s, "503 5.5.1 Error: need MAIL command");
        return;
    }
    if (!str_iprefix(arg, "TO:")) {
        reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
        return;
    }
    struct rcpt r;
    memset(&r, 0, sizeof(r));
    char *params = NULL;
    const char *why = NULL;
    int err = addr_parse_path(arg + 3, 0, 1, r.addr, sizeof(r.addr), &params, &why);
    if (err < 0 || !r.addr[0]) {
        int code = 501;
        const char *text = err < 0 ? addr_path_reply(err, 1, &code)
                                   : "5.1.3 Bad recipient address syntax";
        reply(s, "%d %s", code, text);
        return;
    }
    struct esmtp_params p;
    char perr[256];
    int code = esmtp_parse_params(params ? params : "", 1, allowed_params(), &p, perr,
                                  sizeof(perr));
    if (code) {
        reply(s, "%d %s", code, perr);
        return;
    }
    if (s->nrcpts >= RCPT_MAX) {
        reply(s, "452 4.5.3 <%s> Too many recipients", r.addr);
        return;
    }
    if (p.has_orcpt)
        str_copy(r.orcpt, p.orcpt, sizeof(r.orcpt));
    char uwhy[512];
    int found = lmtpd_user_lookup(&s->srv->lda, r.addr, &r.user, uwhy, sizeof(uwhy));
    if (found < 0) {
        msg_warn("%s: to=<%s>: %s", s->id, r.addr, uwhy);
        reply(s, "451 4.3.0 <%s> Temporary user lookup failure", r.addr);
        return;
    }
    if (found == 0) {
        msg_info("%s: to=<%s>: user doesn't exist", s->id, r.addr);
        reply(s, "550 5.1.1 <%s> User doesn't exist: %s", r.addr, r.addr);
        return;
    }
    if (s->srv->lda.rcpt_check_quota && rcpt_over_quota(s, &r))
        return;
    s->rcpts = xrealloc(s->rcpts, (s->nrcpts + 1) * sizeof(*s->rcpts));
    s->rcpts[s->nrcpts++] = r;
    reply(s, "250 2.1.5 OK");
}

/* Read the message after DATA's 354. 0, or -1 when the connection broke. */
static int read_data(struct session *s, struct buf *msg, int *too_big)
{
    struct lmtpd_data d;
    lmtpd_data_init(&d, msg, (size_t)s->srv->size_limit);
    for (;;) {
        char *p;
        size_t n = conn_peek(s->c, &p);
        int done = 0;
        size_t used = n ? lmtpd_data_feed(&d, p, n, &done) : 0;
        conn_consume(s->c, used);
        if (done)
            break;
        conn_deadline_in(s->c, (uint64_t)s->srv->timeout_ms);
        if (conn_fill_wait(s->c) != 1)
            return -1;
    }
    *too_big = d.too_big;
    return 0;
}

static int ready_for_data(struct session *s)
{
    if (!s->have_mail) {
        reply(s, "503 5.5.1 Error: need MAIL command");
        return 0;
    }
    if (s->nrcpts == 0) {
        reply(s, "503 5.5.1 Error: need RCPT command");
        return 0;
    }
    return 1;
}

static void cmd_data(struct session *s, char *arg)
{
    (void)arg;
    if (s->bdat) {
        reply(s, "503 5.5.1 Error: DATA after BDAT");
        return;
    }
    if (!ready_for_data(s))
        return;
    reply(s, "354 OK");
    conn_flush_wait(s->c);
    struct buf msg;
    buf_init(&msg, 0);
    int too_big = 0;
    if (read_data(s, &msg, &too_big) < 0) {
        buf_free(&msg);
        s->quit = 1;
        return;
    }
    deliver_all(s, &msg, too_big);
    buf_free(&msg);
}

/* Read a chunk of n bytes into s->msg (or drop it past the size limit). 0 or -1. */
static int read_chunk(struct session *s, unsigned long long n)
{
    while (n > 0) {
        char *p;
        size_t have = conn_peek(s->c, &p);
        if (have == 0) {
            conn_deadline_in(s->c, (uint64_t)s->srv->timeout_ms);
            if (conn_fill_wait(s->c) != 1)
                return -1;
            continue;
        }
        size_t take = have < n ? have : (size_t)n;
        if (s->srv->size_limit > 0 && s->msg.len + take > (size_t)s->srv->size_limit)
            s->bdat_too_big = 1;
        if (!s->bdat_too_big)
            buf_append(&s->msg, p, take);
        conn_consume(s->c, take);
        n -= take;
    }
    return 0;
}

static void cmd_bdat(struct session *s, char *arg)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(arg, &end, 10);
    int last = 0;
    if (end == arg || errno) {
        reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
        s->quit = 1;                   /* the chunk cannot be skipped */
        return;
    }
    while (*end == ' ')
        end++;
    if (str_ieq(end, "LAST"))
        last = 1;
    else if (*end) {
        reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
        s->quit = 1;
        return;
    }
    int ok = s->have_mail && s->nrcpts > 0;
    if (read_chunk(s, n) < 0) {
        s->quit = 1;
        return;
    }
    if (!ok) {
        ready_for_data(s);
        return;
    }
    s->bdat = 1;
    if (!last) {
        reply(s, "250 2.0.0 %llu bytes received", n);
        return;
    }
    s->msg.len = lmtpd_crlf_to_lf(s->msg.data ? s->msg.data : (char *)"", s->msg.len);
    struct buf msg = s->msg;
    buf_init(&s->msg, 0);
    deliver_all(s, &msg, s->bdat_too_big);
    buf_free(&msg);
}

static void cmd_rset(struct session *s, char *arg)
{
    (void)arg;
    reset(s);
    reply(s, "250 2.0.0 OK");
}

static void cmd_noop(struct session *s, char *arg)
{
    (void)arg;
    reply(s, "250 2.0.0 OK");
}

static void cmd_vrfy(struct session *s, char *arg)
{
    (void)arg;
    reply(s, "252 2.3.3 Try RCPT instead");
}

static void cmd_quit(struct session *s, char *arg)
{
    (void)arg;
    reply(s, "221 2.0.0 Bye");
    s->quit = 1;
}

static const struct {
    const char *name;
    void (*fn)(struct session *s, char *arg);
} commands[] = {
    {"LHLO", cmd_lhlo}, {"MAIL", cmd_mail}, {"RCPT", cmd_rcpt}, {"DATA", cmd_data},
    {"BDAT", cmd_bdat}, {"RSET", cmd_rset}, {"NOOP", cmd_noop}, {"VRFY", cmd_vrfy},
    {"QUIT", cmd_quit},
};

static void dispatch(struct session *s, char *line)
{
    size_t n = strcspn(line, " ");
    char *arg = line + n;
    while (*arg == ' ')
        arg++;
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strlen(commands[i].name) == n && str_nieq(line, commands[i].name, n)) {
            commands[i].fn(s, arg);
            return;
        }
    reply(s, "500 5.5.2 Error: command not recognized");
}

/* Wait for the next command: 1 there is input, 0 stop or EOF, -1 error. */
static int wait_command(struct session *s)
{
    char *p;
    if (conn_peek(s->c, &p) > 0)
        return 1;
    if (conn_flush_wait(s->c) < 0)
        return -1;
    conn_deadline_in(s->c, (uint64_t)s->srv->timeout_ms);
    for (;;) {
        if (worker_stopping())
            return 0;
        int w = conn_wait(s->c, POLLIN, worker_wait_mask());
        if (w == CONN_INTR)
            continue;
        return w == 1 ? 1 : -1;
    }
}

void lmtpd_session_run(struct lmtpd_server *srv, int fd)
{
    static unsigned long counter;
    struct session s;
    memset(&s, 0, sizeof(s));
    s.srv = srv;
    snprintf(s.id, sizeof(s.id), "%lX%lX%lX", (unsigned long)time(NULL) & 0xFFFFFF,
             (unsigned long)getpid(), ++counter);
    buf_init(&s.msg, 0);
    fd_set_nonblock(fd, 1);
    s.c = conn_new(fd, IN_MAX, 0);
    conn_keep_fd(s.c);
    conn_set_lines(s.c, LINE_MAX_LMTP, CONN_CRLF);
    conn_deadline_in(s.c, (uint64_t)srv->timeout_ms);
    reply(&s, "220 %s yubin LMTP ready", srv->lda.myhostname);
    while (!s.quit) {
        int w = wait_command(&s);
        if (w == 0 && worker_stopping()) {
            reply(&s, "421 4.3.2 Server shutting down");
            break;
        }
        if (w <= 0)
            break;
        char *line;
        size_t len;
        enum conn_line_result lr = conn_line_wait(s.c, &line, &len);
        if (lr == CONN_LONG) {
            reply(&s, "500 5.5.2 Error: line too long");
            continue;
        }
        if (lr != CONN_LINE)
            break;
        if (memchr(line, '\0', len)) {
            reply(&s, "500 5.5.2 Error: NUL in command");
            continue;
        }
        dispatch(&s, line);
    }
    conn_flush_wait(s.c);
    reset(&s);
    buf_free(&s.msg);
    conn_free(s.c);
}
