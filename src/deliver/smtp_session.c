/*
 * smtp_session.c - one SMTP session of the client with one server
 * address: connect (smtp_connect_timeout, smtp_bind_address[6]), the
 * greeting, EHLO (HELO when EHLO is refused), the extensions the server
 * offers (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, DSN, STARTTLS), STARTTLS
 * per smtp_tls_security_level (then EHLO again), MAIL FROM with
 * SIZE/BODY/SMTPUTF8/ENVID/RET, RCPT TO with ORCPT/NOTIFY, DATA streamed
 * from the queue file, QUIT (without waiting for its reply).
 *
 * With PIPELINING, MAIL, every RCPT and DATA go out in one write and
 * the replies are read afterwards in order. The socket is a connection
 * object in blocking mode (lib/conn.h): writes never block on a server
 * that answers while we send (whatever arrives is read into the input
 * buffer in the meantime), and TLS is its layer. Time limits apply per
 * read or write, as Postfix's smtp_*_timeout do by default (progress
 * restarts the clock: the connection's idle deadline).
 *
 * Outcomes go to the recipients of the job: a 5xx bounces at once, a
 * 4xx (or a broken connection) leaves the recipient for the next server
 * and is its status if no server does better.
 */
#include "deliver/smtp.h"
#include "lib-mail/addr.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define FEAT_ESMTP      0x01
#define FEAT_PIPELINING 0x02
#define FEAT_SIZE       0x04
#define FEAT_8BITMIME   0x08
#define FEAT_SMTPUTF8   0x10
#define FEAT_DSN        0x20
#define FEAT_STARTTLS   0x40
#define FEAT_XFORWARD   0x80

#define SESS_IN_MAX   (1024 * 1024)   /* unread server output we buffer */
#define DATA_CHUNK    (32 * 1024)

struct sess {
    struct smtp_job *j;
    const struct smtp_settings *set;
    struct conn *c;                   /* the socket (NULL: none yet) */
    char namaddr[SMTP_NAMADDR_MAX];   /* host[addr] */
    char relay[SMTP_NAMADDR_MAX];     /* host[addr]:port */
    unsigned features;
    unsigned long long size_limit;    /* SIZE n (0: none announced) */
    int ehlo;                         /* parse EHLO keywords from the reply lines */
    const char *state;                /* "sending MAIL FROM" ... */
    int timed_out;
    struct tls_conn *tls;             /* after STARTTLS (the connection owns it) */
    const char *nexthop;
    const char *host;                 /* the server's name (MX host) */
    int no_tls;                       /* second try at level "may": plaintext */
    int retry_plain;                  /* the TLS handshake failed at level "may" */
};

/* ---- recipients ---- */

size_t smtp_job_pending(const struct smtp_job *j)
{
    size_t n = 0;
    for (size_t i = 0; i < j->nrcpts; i++)
        n += !j->rc[i].final;
    return n;
}

void smtp_job_status(struct smtp_job *j, size_t i, int final, const char *dsn, const char *relay,
                     const char *fmt, ...)
{
    if (j->rc[i].final)
        return;
    char text[DPROTO_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    dstatus_set(&j->st[i], j->rc[i].r->idx, dsn, "%s", text);
    dstatus_set_relay(&j->st[i], relay && *relay ? relay : "none");
    j->rc[i].have_status = 1;
    j->rc[i].final = final;
}

void smtp_job_status_all(struct smtp_job *j, int only_accepted, int final, const char *dsn,
                         const char *relay, const char *text)
{
    for (size_t i = 0; i < j->nrcpts; i++)
        if (!j->rc[i].final && (!only_accepted || j->rc[i].accepted))
            smtp_job_status(j, i, final, dsn, relay, "%s", text);
}

/* ---- I/O ---- */

/* A time limit in seconds as the connection's idle deadline: progress restarts it. */
static void sess_limit(struct sess *s, int seconds)
{
    conn_set_idle(s->c, (uint64_t)(seconds > 0 ? seconds : 1) * 1000);
}

/* Send everything (timeout per write, reading replies that arrive meanwhile). 0 or -1. */
static int sess_write(struct sess *s, const char *data, size_t len, int timeout)
{
    sess_limit(s, timeout);
    if (conn_write_wait(s->c, data, len) == 0)
        return 0;
    s->timed_out |= conn_timed_out(s->c);
    return -1;
}

/*
 * One reply line (CR LF or LF removed; an over-long line is cut at
 * SMTP_LINE_MAX and its rest dropped). 1, or -1 lost/timeout.
 */
static int sess_line(struct sess *s, char *line, size_t *len, int timeout)
{
    sess_limit(s, timeout);
    char *p;
    size_t n;
    enum conn_line_result r = conn_line_wait(s->c, &p, &n);
    if (r == CONN_TIMEOUT)
        s->timed_out = 1;
    if (r != CONN_LINE && r != CONN_LONG)
        return -1;
    memcpy(line, p, n);
    line[n] = '\0';
    *len = n;
    return 1;
}

static void ehlo_keyword(struct sess *s, const char *line, size_t len)
{
    if (len < 5)
        return;
    char kw[64];
    size_t i = 0;
    const char *p = line + 4;
    while (i + 1 < sizeof(kw) && p < line + len && *p != ' ' && *p != '=') {
        kw[i++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        p++;
    }
    kw[i] = '\0';
    for (char **d = s->set->discard_ehlo; d && *d; d++)
        if (strcmp(*d, kw) == 0)
            return;
    if (strcmp(kw, "pipelining") == 0)
        s->features |= FEAT_PIPELINING;
    else if (strcmp(kw, "8bitmime") == 0)
        s->features |= FEAT_8BITMIME;
    else if (strcmp(kw, "smtputf8") == 0)
        s->features |= FEAT_SMTPUTF8;
    else if (strcmp(kw, "dsn") == 0)
        s->features |= FEAT_DSN;
    else if (strcmp(kw, "starttls") == 0)
        s->features |= FEAT_STARTTLS;
    else if (strcmp(kw, "xforward") == 0)
        s->features |= FEAT_XFORWARD;
    else if (strcmp(kw, "size") == 0) {
        s->features |= FEAT_SIZE;
        unsigned long long v = 0;
        while (p < line + len && (*p == ' ' || *p == '='))
            p++;
        for (; p < line + len && *p >= '0' && *p <= '9'; p++)
            v = v > (~0ULL - 9) / 10 ? ~0ULL : v * 10 + (unsigned)(*p - '0');
        s->size_limit = v;
    }
}

/* Read one complete reply. 0, or -1 (lost, timed out, or endless). */
static int sess_reply(struct sess *s, struct smtp_reply *r, int timeout)
{
    smtp_reply_init(r);
    char *line = xmalloc(SMTP_LINE_MAX + 1);
    size_t len = 0;
    int rc = -1;
    for (;;) {
        if (sess_line(s, line, &len, timeout) < 0)
            break;
        if (s->ehlo && r->nlines > 0)
            ehlo_keyword(s, line, len);
        int d = smtp_reply_line(r, line, len);
        if (d < 0) {
            errno = EPROTO;
            break;
        }
        if (d == 1) {
            rc = 0;
            break;
        }
    }
    free(line);
    if (rc == 0 && r->garbage)
        msg_warn("%s: malformed reply from %s: %s", s->j->req->qid, s->namaddr, r->text);
    return rc;
}

/* ---- failures ---- */

/*
 * A soft failure that sends recipients on to another server is logged
 * there and then, as Postfix does ("QID: host x said: 450 ..."); at the
 * last server the delivery status line says it all.
 */
static void sess_note(const struct sess *s, const char *dsn, const char *text)
{
    if (dsn[0] == '4' && !s->j->final_server)
        msg_info("%s: %s", s->j->req->qid, text);
}

/*
 * Opportunistic TLS that fails is tried again in plaintext, as Postfix
 * does: only for mail that waited at least minimal_backoff_time before
 * this attempt began (a retry), so a first attempt defers and a broken
 * TLS peer gets the mail on the next one.
 */
static int plaintext_fallback_ok(const struct sess *s)
{
    const struct smtp_job *j = s->j;
    struct timeval now;
    gettimeofday(&now, NULL);
    long long began = j->active > 0 ? j->active : now.tv_sec * 1000000LL + now.tv_usec;
    return s->set->tls_level == TLS_LEV_MAY && !s->no_tls && j->arrival > 0 &&
           began - j->arrival >= (long long)s->set->min_backoff * 1000000LL;
}

/* The connection broke or timed out: soft failure for everyone still open in this session. */
static void sess_lost(struct sess *s, int only_accepted)
{
    char text[SMTP_NAMADDR_MAX + 200];
    if (s->timed_out)
        str_fmt(text, sizeof(text), "conversation with %s timed out while %s", s->namaddr,
                s->state);
    else
        str_fmt(text, sizeof(text), "lost connection with %s while %s", s->namaddr, s->state);
    sess_note(s, "4.4.2", text);
    smtp_job_status_all(s->j, only_accepted, 0, "4.4.2", s->relay, text);
    if (s->tls && smtp_job_pending(s->j) && plaintext_fallback_ok(s))
        s->retry_plain = 1;            /* the TLS session failed: once more without TLS */
}

/* The greeting, EHLO or HELO was refused: "host x refused to talk to me: 554 ...". */
static void sess_refused(struct sess *s, const struct smtp_reply *r, int skip_5xx)
{
    char dsn[16];
    str_copy(dsn, r->dsn, sizeof(dsn));
    if (dsn[0] != '5' || skip_5xx)
        dsn[0] = '4';                  /* 4xx, odd codes, or smtp_skip_5xx_greeting: try another */
    char text[DPROTO_LINE_MAX];
    str_fmt(text, sizeof(text), "host %s refused to talk to me: %s", s->namaddr, r->text);
    sess_note(s, dsn, text);
    smtp_job_status_all(s->j, 0, dsn[0] == '5', dsn, s->relay, text);
}

/* A reply that is not what the protocol wants: fail with the server's words. */
static void reply_fail(struct sess *s, const struct smtp_reply *r, const char *command,
                       int only_accepted, long rcpt)
{
    char dsn[16];
    str_copy(dsn, r->dsn, sizeof(dsn));
    if (dsn[0] != '4' && dsn[0] != '5')
        dsn[0] = '4';                  /* a success code where it makes no sense: try again */
    char text[DPROTO_LINE_MAX];
    smtp_text_said(text, sizeof(text), s->namaddr, r, command);
    int hard = dsn[0] == '5';
    sess_note(s, dsn, text);
    if (rcpt >= 0)
        smtp_job_status(s->j, (size_t)rcpt, hard, dsn, s->relay, "%s", text);
    else
        smtp_job_status_all(s->j, only_accepted, hard, dsn, s->relay, text);
}

/* ---- commands ---- */

static int cmd_mail(struct sess *s, struct buf *out)
{
    const struct smtp_job *j = s->j;
    char addr[2 * ADDR_MAX + 8];
    if (addr_external(j->req->sender ? j->req->sender : "", addr, sizeof(addr)) < 0)
        return -1;
    buf_printf(out, "MAIL FROM:<%s>", addr);
    if (s->features & FEAT_SIZE)
        buf_printf(out, " SIZE=%llu", j->size);
    if ((s->features & FEAT_8BITMIME) && j->eightbit)
        buf_puts(out, " BODY=8BITMIME");
    if ((s->features & FEAT_SMTPUTF8) && j->smtputf8)
        buf_puts(out, " SMTPUTF8");
    if (s->features & FEAT_DSN) {              /* in Postfix's order */
        char enc[3 * sizeof(j->envid) + 1];
        if (j->envid[0] && xtext_encode(j->envid, enc, sizeof(enc)) == 0)
            buf_printf(out, " ENVID=%s", enc);
        if (j->ret)
            buf_printf(out, " RET=%s", j->ret);
    }
    return buf_puts(out, "\r\n");
}

static int cmd_rcpt(struct sess *s, size_t i, struct buf *out)
{
    const struct smtp_rcpt *rc = &s->j->rc[i];
    char addr[2 * ADDR_MAX + 8];
    if (addr_external(rc->r->addr, addr, sizeof(addr)) < 0)
        return -1;
    buf_printf(out, "RCPT TO:<%s>", addr);
    if (s->features & FEAT_DSN) {              /* ORCPT, then NOTIFY, as Postfix */
        char orcpt[DPROTO_ORCPT_MAX + 16], enc[3 * sizeof(orcpt)];
        int have = 0;
        if (rc->x.orcpt[0]) {
            str_copy(orcpt, rc->x.orcpt, sizeof(orcpt));
            have = 1;
        } else if (rc->r->orig[0]) {
            char ext[2 * ADDR_MAX + 8];
            have = addr_external(rc->r->orig, ext, sizeof(ext)) == 0 &&
                   str_fmt(orcpt, sizeof(orcpt), "rfc822;%s", ext) == 0;
        }
        if (have && xtext_encode(orcpt, enc, sizeof(enc)) == 0)
            buf_printf(out, " ORCPT=%s", enc);
        int n = rc->x.notify;
        if (n & 1)
            buf_puts(out, " NOTIFY=NEVER");
        else if (n)
            buf_printf(out, " NOTIFY=%s%s%s%s%s", n & 2 ? "SUCCESS" : "",
                       (n & 2) && (n & 12) ? "," : "", n & 4 ? "FAILURE" : "",
                       (n & 4) && (n & 8) ? "," : "", n & 8 ? "DELAY" : "");
    }
    return buf_puts(out, "\r\n");
}

static int send_text(struct sess *s, const char *text, int timeout)
{
    return sess_write(s, text, strlen(text), timeout);
}

/* ---- connect ---- */

static int bind_local(struct sess *s, int family)
{
    const struct smtp_settings *set = s->set;
    if (family != AF_INET && family != AF_INET6)
        return 0;
    const struct sockaddr_storage *b = family == AF_INET ? &set->bind4 : &set->bind6;
    int have = family == AF_INET ? set->have_bind4 : set->have_bind6;
    if (!have)
        return 0;
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(conn_fd(s->c), (const struct sockaddr *)b, len) < 0)
        msg_warn("%s: bind %s: %s", family == AF_INET ? "smtp_bind_address" : "smtp_bind_address6",
                 family == AF_INET ? "IPv4 address" : "IPv6 address", strerror(errno));
    return 0;
}

/* Connect to a:port. 0, or -1 with errno (ETIMEDOUT after smtp_connect_timeout). */
static int sess_connect(struct sess *s, const struct smtp_addr *a, unsigned port)
{
    struct sockaddr_storage sa = a->sa;
    if (sa.ss_family == AF_INET)
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
    else if (sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
    int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    s->c = conn_new(fd, SESS_IN_MAX + 8192, 0);
    conn_set_lines(s->c, SMTP_LINE_MAX, CONN_CRLF);
    bind_local(s, sa.ss_family);
    if (connect(fd, (struct sockaddr *)&sa, a->salen) == 0)
        return 0;
    if (errno != EINPROGRESS)
        return -1;
    /* 0: the kernel's own limit decides (SO_ERROR reports ETIMEDOUT) */
    int timeout = s->set->connect_timeout > 0 ? s->set->connect_timeout : 3600;
    conn_deadline_in(s->c, (uint64_t)timeout * 1000);
    int w = conn_wait(s->c, POLLOUT, NULL);
    if (w == 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (w < 0)
        return -1;
    int err = 0;
    socklen_t el = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ---- the session ---- */

/* EHLO (LHLO for LMTP), or HELO when EHLO is refused. 0, or -1 the session is over
 * (statuses set). */
static int sess_ehlo(struct sess *s)
{
    const struct smtp_settings *set = s->set;
    struct smtp_reply r;
    char cmd[SMTP_HOST_MAX + 16];
    s->features = 0;
    s->size_limit = 0;
    if (set->lmtp || !set->never_ehlo) {
        const char *verb = set->lmtp ? "LHLO" : "EHLO";
        s->state = set->lmtp ? "performing the LHLO handshake" : "performing the EHLO handshake";
        str_fmt(cmd, sizeof(cmd), "%s %s\r\n", verb, set->helo_name);
        s->ehlo = 1;
        int rc = send_text(s, cmd, set->helo_timeout) < 0 ? -1 : sess_reply(s, &r, set->helo_timeout);
        s->ehlo = 0;
        if (rc < 0) {
            sess_lost(s, 0);
            return -1;
        }
        if (r.code / 100 == 2) {
            s->features |= FEAT_ESMTP;
            return 0;
        }
        s->features = 0;
        s->size_limit = 0;
        if (set->lmtp || r.code == 421) {   /* LMTP has no HELO; 421: going away */
            sess_refused(s, &r, 0);
            return -1;
        }
    }
    s->state = "performing the HELO handshake";
    str_fmt(cmd, sizeof(cmd), "HELO %s\r\n", set->helo_name);
    if (send_text(s, cmd, set->helo_timeout) < 0 || sess_reply(s, &r, set->helo_timeout) < 0) {
        sess_lost(s, 0);
        return -1;
    }
    if (r.code / 100 != 2) {
        sess_refused(s, &r, 0);
        return -1;
    }
    return 0;
}

/* Mandatory TLS cannot be had: a soft failure, another server may do better. */
static int tls_required_fail(struct sess *s, const char *dsn, const char *text)
{
    sess_note(s, dsn, text);
    smtp_job_status_all(s->j, 0, 0, dsn, s->relay, text);
    return -1;
}

/*
 * STARTTLS per smtp_tls_security_level. 0 go on (encrypted, or plaintext
 * where that is allowed), -1 the session is over (statuses set, or
 * s->retry_plain when level "may" should try again without TLS).
 */
static int sess_starttls(struct sess *s)
{
    const struct smtp_settings *set = s->set;
    int required = set->tls_level >= TLS_LEV_ENCRYPT;
    char text[DPROTO_LINE_MAX];
    if (set->tls_level == TLS_LEV_NONE || (s->no_tls && !required))
        return 0;
    if (!(s->features & FEAT_STARTTLS)) {
        if (!required)
            return 0;
        str_fmt(text, sizeof(text), "TLS is required, but was not offered by host %s",
                s->namaddr);
        return tls_required_fail(s, "4.7.4", text);
    }
    if (!set->tls) {
        if (!required)
            return 0;
        return tls_required_fail(s, "4.7.5", "TLS is required, but our TLS engine is unavailable");
    }
    struct smtp_reply r;
    s->state = "performing the STARTTLS handshake";
    if (send_text(s, "STARTTLS\r\n", set->starttls_timeout) < 0 ||
        sess_reply(s, &r, set->starttls_timeout) < 0) {
        sess_lost(s, 0);
        return -1;
    }
    if (r.code / 100 != 2) {
        if (!required)
            return 0;                  /* opportunistic: carry on in plaintext */
        str_fmt(text, sizeof(text), "TLS is required, but host %s refused to start TLS: %s",
                s->namaddr, r.text);
        char dsn[16];
        str_copy(dsn, r.dsn, sizeof(dsn));
        if (dsn[0] != '5')
            dsn[0] = '4';
        sess_note(s, dsn, text);
        smtp_job_status_all(s->j, 0, dsn[0] == '5', dsn, s->relay, text);
        return -1;
    }
    struct tls_client_peer peer = {.level = set->tls_level, .nexthop = s->nexthop,
                                   .hostname = s->host, .namaddr = s->relay};
    s->tls = tls_connect(set->tls, conn_fd(s->c), &peer);
    /* Anything after the 220 was sent before TLS: never believe it (RFC 3207);
     * installing the layer throws it away. */
    tls_conn_attach(s->c, s->tls);
    int timeout_ms = (set->starttls_timeout > 0 ? set->starttls_timeout : 300) * 1000;
    if (tls_conn_handshake_wait(s->c, s->tls, timeout_ms) != TLS_OK) {
        char why[256];
        str_copy(why, tls_conn_error(s->tls), sizeof(why));
        conn_layer_drop(s->c);
        s->tls = NULL;
        if (plaintext_fallback_ok(s)) {
            s->retry_plain = 1;        /* "the connection is retried with TLS disabled" */
            return -1;
        }
        /* Postfix 3.7 says "not verified" for every certificate check that fails */
        if (str_iprefix(why, "Server certificate"))
            return tls_required_fail(s, "4.7.5", "Server certificate not verified");
        return tls_required_fail(s, "4.7.5", "Cannot start TLS: handshake failure");
    }
    /* RFC 3207 4.2: forget what the server said before TLS and ask again. */
    return sess_ehlo(s);
}

/* Greeting, EHLO/HELO, STARTTLS. 0 ready for mail, -1 the session is over (statuses set). */
static int sess_hello(struct sess *s, int *counted)
{
    const struct smtp_settings *set = s->set;
    struct smtp_reply r;
    s->state = "receiving the initial server greeting";
    if (sess_reply(s, &r, set->helo_timeout) < 0) {
        sess_lost(s, 0);
        return -1;
    }
    if (r.code / 100 != 2) {
        sess_refused(s, &r, set->skip_5xx_greeting);
        return -1;
    }
    if (sess_ehlo(s) < 0 || sess_starttls(s) < 0)
        return -1;
    *counted = 1;
    return 0;
}

/* Checks before MAIL FROM that need what the server offers. 0 go on, -1 stop. */
static int sess_precheck(struct sess *s)
{
    const struct smtp_job *j = s->j;
    char text[SMTP_NAMADDR_MAX + 200];
    if (j->smtputf8_needed && !(s->features & FEAT_SMTPUTF8)) {
        str_fmt(text, sizeof(text), "SMTPUTF8 is required, but was not offered by host %s",
                s->namaddr);
        smtp_job_status_all(s->j, 0, 1, "5.6.7", s->relay, text);
        return -1;
    }
    if ((s->features & FEAT_SIZE) && s->size_limit > 0 && j->size > s->size_limit) {
        str_fmt(text, sizeof(text), "message size %llu exceeds size limit %llu of server %s",
                j->size, s->size_limit, s->namaddr);
        smtp_job_status_all(s->j, 0, 1, "5.3.4", s->relay, text);
        return -1;
    }
    return 0;
}

/*
 * Stream the content and the final dot. The dot goes out in the same
 * write as the last chunk: a lone small write after unacknowledged data
 * would wait for the peer's delayed ACK (Nagle), 40 ms per message.
 * 0 sent, -1 connection lost, -2 queue file error.
 */
static int send_content(struct sess *s)
{
    const struct smtp_job *j = s->j;
    char *in = xmalloc(DATA_CHUNK);
    char *out = xmalloc(smtp_stuff_bound(DATA_CHUNK) + 16);
    struct smtp_stuff st;
    smtp_stuff_init(&st, (size_t)s->set->line_limit);
    int rc = 0;
    size_t done = 0, len = j->req->length;
    s->state = "sending message body";
    do {
        size_t want = len - done < DATA_CHUNK ? len - done : DATA_CHUNK;
        ssize_t got = want ? pread(j->fd, in, want, j->req->offset + (off_t)done) : 0;
        if (got < 0 && errno == EINTR)
            continue;
        if (want && got <= 0) {
            if (got == 0)
                errno = EIO;
            rc = -2;
            break;
        }
        done += (size_t)got;
        size_t n = smtp_stuff(&st, in, (size_t)got, out);
        if (done == len) {
            n += smtp_stuff_end(&st, out + n);
            s->state = "sending end of data -- message may be sent more than once";
        }
        if (sess_write(s, out, n, s->set->data_xfer_timeout) < 0) {
            rc = -1;
            break;
        }
    } while (done < len);
    if (st.broke)
        msg_info("%s: breaking line > %d bytes with <CR><LF>SPACE", j->req->qid,
                 s->set->line_limit);
    free(in);
    free(out);
    return rc;
}

/*
 * LMTP after the data (RFC 2033 4.2): one reply for each accepted
 * recipient, in RCPT order. A connection lost part way leaves the rest
 * to sess_lost (deferred: "may be sent more than once" holds for them).
 */
static void lmtp_replies(struct sess *s, int timeout, int sent_ok)
{
    struct smtp_job *j = s->j;
    for (size_t i = 0; i < j->nrcpts; i++) {
        if (!j->rc[i].accepted || j->rc[i].final)
            continue;
        struct smtp_reply r;
        if (sent_ok < 0 || sess_reply(s, &r, timeout) < 0) {
            sess_lost(s, 1);
            return;
        }
        if (r.code / 100 == 2)
            smtp_job_status(j, i, 1, r.dsn, s->relay, "%s", r.text);
        else
            reply_fail(s, &r, "end of DATA", 1, (long)i);
    }
}

/*
 * smtp_send_xforward_command: tell a content filter's reinjection port who
 * the original client was (XFORWARD_README). 0 sent and accepted (or not
 * to be sent), -1 the transaction is over (statuses set).
 */
static int sess_xforward(struct sess *s)
{
    const struct smtp_job *j = s->j;
    if (!s->set->send_xforward || !(s->features & FEAT_XFORWARD))
        return 0;
    static const char *const attrs[][2] = {
        {"NAME", "client_name"}, {"ADDR", "client_address"}, {"PORT", "client_port"},
        {"PROTO", "protocol"}, {"HELO", "helo_name"},
    };
    struct buf cmd;
    buf_init(&cmd, 4096);
    buf_puts(&cmd, "XFORWARD");
    for (size_t i = 0; i < ARRAY_LEN(attrs); i++) {
        const char *v = dproto_attr(j->req, attrs[i][1]);
        char enc[1024];
        if (!v || !*v || xtext_encode(v, enc, sizeof(enc)) < 0)
            str_copy(enc, "[UNAVAILABLE]", sizeof(enc));
        buf_printf(&cmd, " %s=%s", attrs[i][0], enc);
    }
    const char *proto = dproto_attr(j->req, "protocol");
    buf_printf(&cmd, " SOURCE=%s\r\n", proto && strcmp(proto, "LOCAL") == 0 ? "LOCAL" : "REMOTE");
    struct smtp_reply r;
    s->state = "sending XFORWARD";
    int rc = sess_write(s, cmd.data, cmd.len, s->set->xforward_timeout) < 0 ||
             sess_reply(s, &r, s->set->xforward_timeout) < 0 ? -1 : 0;
    buf_free(&cmd);
    if (rc < 0) {
        sess_lost(s, 0);
        return -1;
    }
    if (r.code / 100 != 2) {
        reply_fail(s, &r, "XFORWARD", 0, -1);
        return -1;
    }
    return 0;
}

/* MAIL, RCPT, DATA and the content. */
static void sess_transaction(struct sess *s)
{
    struct smtp_job *j = s->j;
    const struct smtp_settings *set = s->set;
    int pipe = (s->features & FEAT_PIPELINING) != 0;
    struct smtp_reply r;
    struct buf cmd;
    buf_init(&cmd, 0);
    size_t *sent = xcalloc(j->nrcpts ? j->nrcpts : 1, sizeof(*sent));
    size_t nsent = 0, naccepted = 0;

    for (size_t i = 0; i < j->nrcpts; i++)
        j->rc[i].accepted = 0;
    /* Commands: MAIL, then RCPT for each open recipient; DATA too when pipelining. */
    if (cmd_mail(s, &cmd) < 0) {
        smtp_job_status_all(j, 0, 1, "5.1.7", s->relay, "bad sender address syntax");
        goto out;
    }
    size_t mail_len = cmd.len;
    for (size_t i = 0; i < j->nrcpts; i++) {
        if (j->rc[i].final)
            continue;
        if (cmd_rcpt(s, i, &cmd) < 0) {
            smtp_job_status(j, i, 1, "5.1.3", s->relay, "bad recipient address syntax");
            continue;
        }
        sent[nsent++] = i;
    }
    if (nsent == 0 || sess_xforward(s) < 0)
        goto out;
    if (pipe)
        buf_puts(&cmd, "DATA\r\n");

    /* MAIL FROM */
    s->state = "sending MAIL FROM";
    if (sess_write(s, cmd.data, pipe ? cmd.len : mail_len, set->mail_timeout) < 0 ||
        sess_reply(s, &r, set->mail_timeout) < 0) {
        sess_lost(s, 0);
        goto out;
    }
    if (r.code / 100 != 2) {
        reply_fail(s, &r, "MAIL FROM", 0, -1);
        goto out;
    }
    /* RCPT TO, one reply each */
    s->state = "sending RCPT TO";
    const char *p = cmd.data + mail_len;
    for (size_t k = 0; k < nsent; k++) {
        const char *eol = strstr(p, "\r\n") + 2;
        if (!pipe && sess_write(s, p, (size_t)(eol - p), set->rcpt_timeout) < 0) {
            sess_lost(s, 0);
            goto out;
        }
        p = eol;
        if (sess_reply(s, &r, set->rcpt_timeout) < 0) {
            sess_lost(s, 0);
            goto out;
        }
        if (r.code / 100 == 2) {
            j->rc[sent[k]].accepted = 1;
            naccepted++;
        } else {
            reply_fail(s, &r, "RCPT TO", 0, (long)sent[k]);
        }
    }
    if (naccepted == 0 && !pipe)
        goto out;
    /* DATA */
    s->state = "sending DATA command";
    if ((!pipe && send_text(s, "DATA\r\n", set->data_init_timeout) < 0) ||
        sess_reply(s, &r, set->data_init_timeout) < 0) {
        sess_lost(s, 1);
        goto out;
    }
    if (r.code / 100 != 3) {
        if (naccepted)
            reply_fail(s, &r, "DATA", 1, -1);
        goto out;
    }
    if (naccepted == 0) {
        /* DATA was accepted without recipients (pipelined): send nothing, end it. */
        if (send_text(s, ".\r\n", set->data_done_timeout) == 0)
            sess_reply(s, &r, set->data_done_timeout);
        goto out;
    }
    int crc = send_content(s);
    if (crc == -2) {
        msg_warn("%s: error reading queue file %s: %s", j->req->qid, j->req->path,
                 strerror(errno));
        char text[256];
        str_fmt(text, sizeof(text), "error reading queue file: %s", strerror(errno));
        smtp_job_status_all(j, 1, 0, "4.3.0", s->relay, text);
        goto out_abort;
    }
    if (set->lmtp) {
        lmtp_replies(s, set->data_done_timeout, crc);
        goto out;
    }
    if (crc < 0 || sess_reply(s, &r, set->data_done_timeout) < 0) {
        sess_lost(s, 1);
        goto out;
    }
    if (r.code / 100 == 2) {
        for (size_t i = 0; i < j->nrcpts; i++)
            if (j->rc[i].accepted) {
                smtp_job_status(j, i, 1, r.dsn, s->relay, "%s", r.text);
                /* NOTIFY went along: success notices are the next hop's (RFC 3461 4.2). */
                if (s->features & FEAT_DSN)
                    str_copy(j->st[i].cls, "passed", sizeof(j->st[i].cls));
            }
    } else {
        reply_fail(s, &r, "end of DATA", 1, -1);
    }
out:
    s->state = "sending QUIT";
    send_text(s, "QUIT\r\n", set->quit_timeout);   /* smtp_skip_quit_response */
out_abort:
    buf_free(&cmd);
    free(sent);
}

/* One connection. Returns 1 when it should be tried again without TLS. */
static int session_once(struct smtp_job *j, const struct smtp_addr *a, unsigned port,
                        const char *nexthop, int no_tls, int *counted)
{
    struct sess s;
    memset(&s, 0, sizeof(s));
    s.j = j;
    s.set = j->set;
    s.nexthop = nexthop;
    s.host = a->host;
    s.no_tls = no_tls;
    *counted = 0;
    smtp_namaddr(s.namaddr, sizeof(s.namaddr), a, port, 0);
    smtp_namaddr(s.relay, sizeof(s.relay), a, port, 1);
    if (sess_connect(&s, a, port) < 0) {
        char text[SMTP_NAMADDR_MAX + 200];
        if (a->sa.ss_family == AF_UNIX)
            str_fmt(text, sizeof(text), "connect to %s: %s", s.namaddr, strerror(errno));
        else
            str_fmt(text, sizeof(text), "connect to %s:%u: %s", s.namaddr, port, strerror(errno));
        msg_info("%s", text);
        smtp_job_status_all(j, 0, 0, "4.4.1", "none", text);
    } else if (sess_hello(&s, counted) == 0) {
        if (sess_precheck(&s) == 0)
            sess_transaction(&s);
        else
            send_text(&s, "QUIT\r\n", s.set->quit_timeout);
    } else if (!s.timed_out && !s.retry_plain) {
        send_text(&s, "QUIT\r\n", s.set->quit_timeout);
    }
    if (s.c) {
        conn_shutdown(s.c);            /* TLS: close_notify if it goes out at once; no waiting */
        conn_free(s.c);
    }
    return s.retry_plain;
}

enum smtp_sess_result smtp_session(struct smtp_job *j, const struct smtp_addr *a, unsigned port,
                                   const char *nexthop, int *counted)
{
    if (session_once(j, a, port, nexthop, 0, counted))
        session_once(j, a, port, nexthop, 1, counted);
    return smtp_job_pending(j) ? SMTP_SESS_NEXT : SMTP_SESS_DONE;
}
