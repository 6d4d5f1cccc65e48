/*
 * dsn.c - builds RFC 3464 delivery status notifications (see dsn.h).
 *
 * Everything that comes from outside (addresses, diagnostic texts from
 * remote servers, ENVID) is flattened to one line and folded before it
 * goes into a header-like field, so a hostile reply text cannot inject
 * fields or MIME boundaries. The boundary is random and checked against
 * the returned content.
 */
#include "lib-mail/dsn.h"
#include "lib-mail/header.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define FOLD_WIDTH 78
#define FIELD_MAX 900          /* longest unbroken run before a forced break */
#define TEXT_MAX 2000          /* longest diagnostic text kept per recipient */

const char *dsn_subject(enum dsn_kind kind)
{
    switch (kind) {
    case DSN_KIND_DELAY: return "Delayed Mail (still being retried)";
    case DSN_KIND_SUCCESS: return "Successful Mail Delivery Report";
    default: return "Undelivered Mail Returned to Sender";
    }
}

const char *dsn_action_name(enum dsn_action a)
{
    switch (a) {
    case DSN_ACTION_FAILED: return "failed";
    case DSN_ACTION_DELAYED: return "delayed";
    case DSN_ACTION_DELIVERED: return "delivered";
    case DSN_ACTION_RELAYED: return "relayed";
    case DSN_ACTION_EXPANDED: return "expanded";
    }
    return "failed";
}

void dsn_format_date(time_t t, char *out, size_t outlen)
{
    struct tm tm;
    localtime_r(&t, &tm);
    if (strftime(out, outlen, "%a, %d %b %Y %H:%M:%S %z (%Z)", &tm) == 0 && outlen)
        out[0] = '\0';
}

static int has_8bit(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] & 0x80)
            return 1;
    return 0;
}

/* One line of text: control characters become spaces, runs of blanks collapse. */
static char *flatten(const char *in, size_t max)
{
    size_t n = strlen(in);
    if (n > max)
        n = max;
    char *out = xmalloc(n + 1);
    size_t o = 0;
    int space = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 32 || c == 127)
            c = ' ';
        if (c == ' ') {
            if (space)
                continue;
            space = 1;
        } else {
            space = 0;
        }
        out[o++] = (char)c;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
    return out;
}

/*
 * Append text (flattened to one line) after prefix, breaking at blanks so
 * lines stay near FOLD_WIDTH; continuation lines start with indent. A run
 * without blanks longer than FIELD_MAX is broken anyway, so no line gets
 * near RFC 5322's hard limit of 998.
 */
static void put_folded(struct buf *b, const char *prefix, const char *text, const char *indent)
{
    char *v = flatten(text, 16 * 1024);
    size_t col = strlen(prefix);
    int line_empty = 1;                  /* nothing but prefix/indent on this line yet */
    buf_puts(b, prefix);
    const char *p = v;
    while (*p) {
        size_t wlen = strcspn(p, " ");
        if (wlen > FIELD_MAX)
            wlen = FIELD_MAX;
        if (!line_empty && col + 1 + wlen > FOLD_WIDTH) {
            buf_printf(b, "\n%s", indent);
            col = strlen(indent) + (*indent == '\t' ? 7 : 0);
        } else if (!line_empty) {
            buf_putc(b, ' ');
            col++;
        }
        buf_append(b, p, wlen);
        line_empty = 0;
        col += wlen;
        p += wlen;
        while (*p == ' ')
            p++;
    }
    buf_putc(b, '\n');
    free(v);
}

/* "Name: value", folded (header or delivery-status field). */
static void put_field(struct buf *b, const char *name, const char *value)
{
    char prefix[64];
    str_fmt(prefix, sizeof(prefix), "%s: ", name);
    put_folded(b, prefix, value, "\t");
}

/*
 * External form of an address for a header: the local part is quoted
 * when it is not a dot-atom ("john doe"@example.com).
 */
static char *external_addr(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    int dot_atom = llen > 0 && addr[0] != '.' && addr[llen - 1] != '.';
    for (size_t i = 0; i < llen && dot_atom; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (!(isalnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~.", c)) ||
            (c == '.' && addr[i + 1] == '.'))
            dot_atom = 0;
    }
    if (dot_atom || llen == 0)
        return xstrdup(addr);
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '"');
    for (size_t i = 0; i < llen; i++) {
        if (addr[i] == '"' || addr[i] == '\\')
            buf_putc(&b, '\\');
        buf_putc(&b, addr[i]);
    }
    buf_putc(&b, '"');
    buf_puts(&b, addr + llen);
    return b.data;
}

static int is_atom(const char *s, size_t n)
{
    if (n == 0 || n > 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return 0;
    return 1;
}

/* Split "type; text" when it starts with an address/diagnostic type. */
static int split_typed(const char *s, char *type, size_t tlen, const char **rest)
{
    const char *semi = strchr(s, ';');
    if (!semi || !is_atom(s, (size_t)(semi - s)) || (size_t)(semi - s) >= tlen)
        return 0;
    memcpy(type, s, (size_t)(semi - s));
    type[semi - s] = '\0';
    *rest = semi + 1;
    while (**rest == ' ' || **rest == '\t')
        (*rest)++;
    return 1;
}

/*
 * The queue ID goes into the MIME boundary only when it looks like one
 * (letters and digits, shorter than QUEUE_ID_MAX): the boundary must stay an
 * RFC 2046 token of at most 70 characters, whatever the caller passes.
 */
static const char *boundary_tag(const char *qid)
{
    if (!qid || !*qid || strlen(qid) >= 32)
        return "X";
    for (const char *p = qid; *p; p++)
        if (!isalnum((unsigned char)*p))
            return "X";
    return qid;
}

static void random_hex(char *out, size_t nbytes)
{
    unsigned char r[16];
    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    if (getrandom(r, nbytes, 0) != (ssize_t)nbytes) {
        /* never fails for <= 256 bytes once the pool is up; keep going regardless */
        uint64_t t = now_usec() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < nbytes; i++)
            r[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)i;
    }
    for (size_t i = 0; i < nbytes; i++)
        snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* ---- the original message ---- */

static int read_range(const struct dsn_content *c, size_t want, struct buf *out,
                      char *err, size_t errlen)
{
    if (want > c->length)
        want = c->length;
    if (c->data) {
        buf_append(out, c->data, want);
        return 0;
    }
    int fd = c->fd, opened = 0;
    if (fd < 0) {
        if (!c->path) {
            str_fmt(err, errlen, "no original content given");
            return -1;
        }
        fd = open(c->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            str_fmt(err, errlen, "open %s: %s", c->path, strerror(errno));
            return -1;
        }
        opened = 1;
    }
    if (buf_reserve(out, want) < 0) {
        str_fmt(err, errlen, "original message too large");
        if (opened)
            close(fd);
        return -1;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, out->data + out->len + got, want - got, c->offset + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            str_fmt(err, errlen, "read %s: %s", c->path ? c->path : "original message",
                    n < 0 ? strerror(errno) : "unexpected end of file");
            if (opened)
                close(fd);
            return -1;
        }
        got += (size_t)n;
    }
    out->len += got;
    out->data[out->len] = '\0';
    if (opened)
        close(fd);
    return 0;
}

/* Length of the header section (its fields, without the empty line), or n if it does not end. */
static size_t header_length(const char *s, size_t n, int *complete)
{
    struct hdr_reader r;
    struct hdr_field f;
    size_t end = 0;
    hdr_reader_init(&r, s, n, 0, 0);
    while (hdr_next(&r, &f))
        end = (size_t)(f.start + f.len - s);
    *complete = r.status == HDR_END_BLANK || r.status == HDR_END_BODY;
    return *complete ? end : n;
}

/*
 * Load what goes into part 3: the whole message when allowed and it fits,
 * otherwise the header section cut at a line boundary to the limit.
 */
static int load_original(const struct dsn_content *c, size_t limit, int want_full,
                         struct buf *orig, int *full, char *err, size_t errlen)
{
    *full = 0;
    if (want_full && c->length <= limit) {
        *full = 1;
        return read_range(c, c->length, orig, err, errlen);
    }
    /* Read one byte past the limit so a header section that ends exactly there is seen. */
    if (read_range(c, limit + 1, orig, err, errlen) < 0)
        return -1;
    int complete;
    size_t h = header_length(orig->data ? orig->data : "", orig->len, &complete);
    if (!complete && orig->len == c->length)
        h = orig->len;               /* a message that is all headers */
    if (h > limit) {
        /* cut after the last complete line within the limit */
        h = limit;
        while (h > 0 && orig->data[h - 1] != '\n')
            h--;
    }
    orig->len = h;
    if (orig->data)
        orig->data[h] = '\0';
    return 0;
}

/* ---- the parts ---- */

static const char *intro_text(enum dsn_kind kind)
{
    switch (kind) {
    case DSN_KIND_DELAY:
        return "Your message has not been delivered yet to the recipients listed\n"
               "below. There is no need to resend it: the mail system keeps trying\n"
               "on its own, and will send you another report if it has to give up.\n";
    case DSN_KIND_SUCCESS:
        return "You asked to be told when your message reached the recipients\n"
               "listed below. Delivery to them has now been completed as shown.\n";
    default:
        return "Your message could not be delivered to the recipients listed below.\n"
               "The mail system has given up on them and will not try again, so\n"
               "please check the addresses and the reasons shown before resending.\n";
    }
}

static void put_human_part(struct buf *b, const struct dsn_config *cfg, enum dsn_kind kind,
                           const struct dsn_envelope *env, const struct dsn_rcpt *rcpts,
                           size_t n, int orig_part, int orig_full, int utf8)
{
    buf_printf(b, "Content-Description: Notification\n"
                  "Content-Type: text/plain; charset=%s\n", utf8 ? "utf-8" : "us-ascii");
    if (utf8)
        buf_puts(b, "Content-Transfer-Encoding: 8bit\n");
    buf_puts(b, "\n");
    buf_printf(b, "This report comes from the %s mail system at %s.\n\n",
               cfg->mail_name && *cfg->mail_name ? cfg->mail_name : "yubin", cfg->myhostname);
    buf_puts(b, intro_text(kind));
    uint64_t until = 0;
    for (size_t i = 0; i < n; i++)
        if (rcpts[i].will_retry_until_usec > until)
            until = rcpts[i].will_retry_until_usec;
    if (kind == DSN_KIND_DELAY && until) {
        char date[80];
        dsn_format_date((time_t)(until / 1000000u), date, sizeof(date));
        buf_printf(b, "It will keep trying until %s.\n", date);
    }
    buf_printf(b, "\nIf you need help, write to postmaster@%s and include this\n"
                  "whole report.\n", cfg->myhostname);
    if (orig_part)
        buf_printf(b, "%s attached at the end.\n",
                   orig_full ? "A copy of your message is" : "The headers of your message are");
    char *who = xasprintf("Message %s, sent by <%s>:", env->qid ? env->qid : "(unknown)",
                          env->sender);
    char *flat_who = flatten(who, TEXT_MAX);
    buf_putc(b, '\n');
    put_folded(b, "", flat_who, "    ");   /* a long sender must not make a 998+ byte line */
    buf_putc(b, '\n');
    free(flat_who);
    free(who);
    for (size_t i = 0; i < n; i++) {
        const struct dsn_rcpt *r = &rcpts[i];
        const char *text = r->diag, *rest;
        char type[40];
        if (text && split_typed(text, type, sizeof(type), &rest))
            text = rest;
        char *line;
        if (text && *text && r->remote_mta)
            line = xasprintf("<%s>: %s, reported by %s: %s", r->final_rcpt,
                             dsn_action_name(r->action), r->remote_mta, text);
        else if (text && *text)
            line = xasprintf("<%s>: %s: %s", r->final_rcpt, dsn_action_name(r->action), text);
        else
            line = xasprintf("<%s>: %s (status %s)", r->final_rcpt, dsn_action_name(r->action),
                             r->status ? r->status : "unknown");
        char *flat = flatten(line, TEXT_MAX);
        put_folded(b, "", flat, "    ");
        free(flat);
        free(line);
    }
}

static void put_address_field(struct buf *b, const char *name, const char *addr, int global)
{
    char type[40];
    const char *rest;
    char *v;
    if (split_typed(addr, type, sizeof(type), &rest))
        v = xasprintf("%s; %s", type, rest);
    else
        v = xasprintf("%s; %s", global && has_8bit(addr, strlen(addr)) ? "utf-8" : "rfc822", addr);
    put_field(b, name, v);
    free(v);
}

static void put_status_part(struct buf *b, const struct dsn_config *cfg,
                            const struct dsn_envelope *env, const struct dsn_rcpt *rcpts,
                            size_t n, int global)
{
    char date[80];
    buf_printf(b, "Content-Description: Delivery report\n"
                  "Content-Type: message/%sdelivery-status\n", global ? "global-" : "");
    if (global)
        buf_puts(b, "Content-Transfer-Encoding: 8bit\n");
    buf_puts(b, "\n");
    char *mta = xasprintf("dns; %s", cfg->myhostname);
    put_field(b, "Reporting-MTA", mta);
    free(mta);
    if (env->qid)
        put_field(b, "X-Yubin-Queue-ID", env->qid);
    put_address_field(b, "X-Yubin-Sender", env->sender, global);
    if (env->envid && *env->envid)
        put_field(b, "Original-Envelope-Id", env->envid);
    if (env->arrival_usec) {
        dsn_format_date((time_t)(env->arrival_usec / 1000000u), date, sizeof(date));
        put_field(b, "Arrival-Date", date);
    }
    for (size_t i = 0; i < n; i++) {
        const struct dsn_rcpt *r = &rcpts[i];
        buf_puts(b, "\n");
        put_address_field(b, "Final-Recipient", r->final_rcpt, global);
        if (r->orig_rcpt && *r->orig_rcpt)
            put_address_field(b, "Original-Recipient", r->orig_rcpt, global);
        put_field(b, "Action", dsn_action_name(r->action));
        put_field(b, "Status", r->status && *r->status ? r->status : "5.0.0");
        if (r->remote_mta && *r->remote_mta) {
            char *v = xasprintf("dns; %s", r->remote_mta);
            put_field(b, "Remote-MTA", v);
            free(v);
        }
        if (r->diag && *r->diag) {
            char type[40];
            const char *rest;
            char *v = split_typed(r->diag, type, sizeof(type), &rest)
                          ? xasprintf("%s; %s", type, rest)
                          : xasprintf("X-Yubin; %s", r->diag);
            char *flat = flatten(v, TEXT_MAX);
            put_field(b, "Diagnostic-Code", flat);
            free(flat);
            free(v);
        }
        if (r->last_attempt_usec) {
            dsn_format_date((time_t)(r->last_attempt_usec / 1000000u), date, sizeof(date));
            put_field(b, "Last-Attempt-Date", date);
        }
        if (r->action == DSN_ACTION_DELAYED && r->will_retry_until_usec) {
            dsn_format_date((time_t)(r->will_retry_until_usec / 1000000u), date, sizeof(date));
            put_field(b, "Will-Retry-Until", date);
        }
    }
}

static int valid_args(const struct dsn_config *cfg, const struct dsn_envelope *env,
                      const struct dsn_rcpt *rcpts, size_t n, const struct dsn_content *c,
                      char *err, size_t errlen)
{
    if (!cfg || !cfg->myhostname || !*cfg->myhostname || !env || !env->sender) {
        str_fmt(err, errlen, "missing configuration or envelope");
        return 0;
    }
    if (!*env->sender) {
        str_fmt(err, errlen, "no notification for the null sender");
        return 0;
    }
    if (n == 0 || !rcpts) {
        str_fmt(err, errlen, "no recipients to report");
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (!rcpts[i].final_rcpt || !*rcpts[i].final_rcpt) {
            str_fmt(err, errlen, "recipient %zu has no address", i);
            return 0;
        }
    if (!c) {
        str_fmt(err, errlen, "no original content given");
        return 0;
    }
    return 1;
}

int dsn_build(const struct dsn_config *cfg, enum dsn_kind kind, const struct dsn_envelope *env,
              const struct dsn_rcpt *rcpts, size_t nrcpts, const struct dsn_content *content,
              struct buf *out, char *err, size_t errlen)
{
    if (!valid_args(cfg, env, rcpts, nrcpts, content, err, errlen))
        return -1;
    int want_full = kind == DSN_KIND_BOUNCE && env->ret != DSN_RET_HDRS;
    struct buf orig;
    buf_init(&orig, 0);
    int full;
    if (load_original(content, cfg->bounce_size_limit, want_full, &orig, &full, err, errlen) < 0) {
        buf_free(&orig);
        return -1;
    }
    int global = env->smtputf8 || has_8bit(env->sender, strlen(env->sender));
    for (size_t i = 0; i < nrcpts && !global; i++)
        global = has_8bit(rcpts[i].final_rcpt, strlen(rcpts[i].final_rcpt)) ||
                 (rcpts[i].orig_rcpt && has_8bit(rcpts[i].orig_rcpt, strlen(rcpts[i].orig_rcpt)));
    int orig_8bit = orig.len && has_8bit(orig.data, orig.len);

    /* A boundary that does not occur in what we return (which may hold NUL bytes). */
    char boundary[80], rnd[33], msgid_rnd[17];
    do {
        random_hex(rnd, 12);
        str_fmt(boundary, sizeof(boundary), "=_yubin_%s_%s", boundary_tag(env->qid), rnd);
    } while (orig.len && memmem(orig.data, orig.len, boundary, strlen(boundary)));
    random_hex(msgid_rnd, 8);

    time_t now = time(NULL);
    char date[80], stamp[32];
    struct tm tm;
    dsn_format_date(now, date, sizeof(date));
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);

    struct buf msg;
    buf_init(&msg, 0);
    struct buf *o = &msg;
    int utf8_text = global;
    buf_printf(o, "From: MAILER-DAEMON@%s (Mail Delivery System)\n", cfg->myhostname);
    char *to = external_addr(env->sender);
    put_field(o, "To", to);
    free(to);
    buf_printf(o, "Subject: %s\n", dsn_subject(kind));
    buf_printf(o, "Date: %s\n", date);
    buf_printf(o, "Message-ID: <%s.%s@%s>\n", stamp, msgid_rnd, cfg->myhostname);
    buf_puts(o, "Auto-Submitted: auto-replied\n");
    buf_puts(o, "MIME-Version: 1.0\n");
    buf_printf(o, "Content-Type: multipart/report; report-type=%sdelivery-status;\n"
                    "\tboundary=\"%s\"\n", global ? "global-" : "", boundary);
    if (global || orig_8bit)
        buf_puts(o, "Content-Transfer-Encoding: 8bit\n");
    buf_puts(o, "\nThis is a MIME-encapsulated message.\n\n");

    buf_printf(o, "--%s\n", boundary);
    put_human_part(o, cfg, kind, env, rcpts, nrcpts, orig.len > 0, full, utf8_text);
    buf_printf(o, "\n--%s\n", boundary);
    put_status_part(o, cfg, env, rcpts, nrcpts, global);
    if (orig.len > 0) {
        const char *type = full ? (global ? "message/global" : "message/rfc822")
                                : (global ? "message/global-headers" : "text/rfc822-headers");
        buf_printf(o, "\n--%s\n", boundary);
        buf_printf(o, "Content-Description: %s\n",
                   full ? "Original message" : "Original message headers");
        buf_printf(o, "Content-Type: %s\n", type);
        if (orig_8bit)
            buf_puts(o, "Content-Transfer-Encoding: 8bit\n");
        buf_puts(o, "\n");
        buf_append(o, orig.data, orig.len);
        if (orig.data[orig.len - 1] != '\n')
            buf_putc(o, '\n');
    }
    buf_printf(o, "\n--%s--\n", boundary);
    buf_free(&orig);
    if (buf_append(out, msg.data, msg.len) < 0) {
        buf_free(&msg);
        str_fmt(err, errlen, "notification does not fit in the output buffer");
        return -1;
    }
    buf_free(&msg);
    return 0;
}
