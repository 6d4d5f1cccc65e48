/*
 * addr.c - mail addresses: RFC 5321 paths and ESMTP parameters,
 * quoting, extensions, hostname syntax (see addr.h).
 *
 * Every parser here reads untrusted bytes from the network. Each one is a
 * single forward scan with explicit output bounds; nothing recurses on
 * input.
 */
#include "lib-mail/addr.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---------- character classes ---------- */

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_blank(int c) { return c == ' ' || c == '\t'; }

/* RFC 5322 atext (ASCII part). */
static int is_atext(int c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Length of the UTF-8 sequence at s (at most len bytes), 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; min = 0x10000; cp = c & 0x07; }
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

int utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t n = utf8_seq(p + i, len - i);
        if (n == 0)
            return 0;
        i += n;
    }
    return 1;
}

/* ---------- hostnames and literals ---------- */

int ipv4_valid(const char *s)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1;
}

int addr_literal_valid(const char *name)
{
    size_t len = strlen(name);
    char buf[64];
    if (len < 3 || name[0] != '[' || name[len - 1] != ']' || len - 2 >= sizeof(buf))
        return 0;
    memcpy(buf, name + 1, len - 2);
    buf[len - 2] = 0;
    if (str_iprefix(buf, "IPv6:")) {
        struct in6_addr a6;
        return inet_pton(AF_INET6, buf + 5, &a6) == 1;
    }
    return ipv4_valid(buf);
}

/*
 * Label syntax shared by hostnames and mail domains. allow_utf8 admits
 * UTF-8 U-labels (SMTPUTF8 domains); the caller has validated the UTF-8.
 */
static int labels_valid(const char *name, size_t len, int allow_utf8)
{
    size_t label = 0;
    int non_numeric = 0;
    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return 0;
    if (name[len - 1] == '.')      /* one trailing dot: the root */
        len--;
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '.') {
            if (label == 0 || name[i - 1] == '-')
                return 0;
            label = 0;
            continue;
        }
        if (is_alpha(c) || c == '_' || (c >= 0x80 && allow_utf8)) {
            non_numeric = 1;
        } else if (c == '-') {
            if (label == 0)
                return 0;
            non_numeric = 1;
        } else if (!is_digit(c)) {
            return 0;
        }
        if (++label > 63)
            return 0;
    }
    if (label == 0 || name[len - 1] == '-')
        return 0;
    return non_numeric;
}

int hostname_valid(const char *name)
{
    return labels_valid(name, strlen(name), 0);
}

int hostname_is_fqdn(const char *name)
{
    if (!hostname_valid(name))
        return 0;
    const char *dot = strchr(name, '.');
    return dot && dot[1] != 0;
}

int domain_valid(const char *name, int allow_utf8)
{
    size_t len = strlen(name);
    if (name[0] == '[')
        return addr_literal_valid(name);
    if (allow_utf8 && !utf8_valid(name, len))
        return 0;
    return labels_valid(name, len, allow_utf8);
}

/* ---------- RFC 5321 paths ---------- */

static const char why_sender[] = "5.1.7 Bad sender address syntax";

const char *addr_path_reply(int err, int is_rcpt, int *code)
{
    switch (err) {
    case ADDR_E_EMPTY:
        *code = 501;
        return is_rcpt ? "5.5.4 Syntax: RCPT TO:<address>" : "5.5.4 Syntax: MAIL FROM:<address>";
    case ADDR_E_UTF8:
        *code = 500;
        return "5.5.2 Error: bad UTF-8 syntax";
    default:
        *code = 501;
        return is_rcpt ? "5.1.3 Bad recipient address syntax" : why_sender;
    }
}

/* Output cursor with a hard bound. */
struct out {
    char *p;
    size_t len, cap;
    int overflow;
};

static void out_c(struct out *o, char c)
{
    if (o->len + 1 >= o->cap) {
        o->overflow = 1;
        return;
    }
    o->p[o->len++] = c;
    o->p[o->len] = 0;
}

/*
 * Check a domain written in a path (s[0..len)) and append it to o.
 * Returns 0 or an ADDR_E_* code. A trailing dot is dropped.
 */
static int path_domain(const char *s, size_t len, int allow_utf8, struct out *o)
{
    char d[ADDR_DOMAIN_MAX + 2];
    if (len == 0 || len > ADDR_DOMAIN_MAX)
        return ADDR_E_SYNTAX;
    memcpy(d, s, len);
    d[len] = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c < 0x20 || c == 0x7f)
            return ADDR_E_SYNTAX;
        if (c >= 0x80) {
            if (!allow_utf8)
                return ADDR_E_SYNTAX;
            if (!utf8_valid(d, len))
                return ADDR_E_UTF8;
            break;
        }
    }
    if (!domain_valid(d, allow_utf8))
        return ADDR_E_SYNTAX;
    if (d[0] != '[' && d[len - 1] == '.')
        d[--len] = 0;
    for (size_t i = 0; i < len; i++)
        out_c(o, d[i]);
    return 0;
}

/* Accept one UTF-8 sequence at s[*i] of the mailbox (n bytes left); copy it. */
static int path_8bit(const char *s, size_t *i, size_t n, int allow_utf8, struct out *o)
{
    if (!allow_utf8)
        return ADDR_E_SYNTAX;
    size_t k = utf8_seq((const unsigned char *)s + *i, n - *i);
    if (k == 0)
        return ADDR_E_UTF8;
    for (size_t j = 0; j < k; j++)
        out_c(o, s[*i + j]);
    *i += k;
    return 0;
}

/*
 * Parse the mailbox of a path, s[0..n) (no brackets, route already
 * removed): Local-part ["@" Domain]. Writes the internal form to o.
 */
static int path_mailbox(const char *s, size_t n, int allow_utf8, struct out *o)
{
    size_t i = 0, local_len = 0;
    int rc, quoted_at = 0;
    if (n == 0)
        return ADDR_E_SYNTAX;
    if (s[0] == '"') {
        for (i = 1;; ) {
            if (i >= n)
                return ADDR_E_SYNTAX;          /* unbalanced quote */
            unsigned char c = (unsigned char)s[i];
            if (c == '"') {
                i++;
                break;
            }
            if (c == '\\') {
                if (i + 1 >= n)
                    return ADDR_E_SYNTAX;
                c = (unsigned char)s[++i];
                if (c < 0x80 && (c < 0x20 || c == 0x7f))
                    return ADDR_E_SYNTAX;
            } else if (c < 0x20 || c == 0x7f) {
                return ADDR_E_SYNTAX;
            }
            if (c >= 0x80) {
                if ((rc = path_8bit(s, &i, n, allow_utf8, o)) != 0)
                    return rc;
                local_len++;
                continue;
            }
            quoted_at |= c == '@';
            out_c(o, (char)c);
            local_len++;
            i++;
        }
        if (i < n && s[i] != '@')
            return ADDR_E_SYNTAX;              /* "a"b@c or "a".b@c */
    } else {
        while (i < n && s[i] != '@') {
            unsigned char c = (unsigned char)s[i];
            if (c >= 0x80) {
                if ((rc = path_8bit(s, &i, n, allow_utf8, o)) != 0)
                    return rc;
                local_len++;
                continue;
            }
            if (!is_atext(c) && c != '.')
                return ADDR_E_SYNTAX;
            out_c(o, (char)c);
            local_len++;
            i++;
        }
    }
    if (local_len == 0 || o->len > ADDR_LOCAL_MAX)
        return ADDR_E_SYNTAX;
    /* Unqualified: "postmaster". Not <"u@x">: its internal form u@x would read as an
     * address in a domain nobody checked, and could not be written back as a path. */
    if (i == n)
        return quoted_at ? ADDR_E_SYNTAX : 0;
    out_c(o, '@');                             /* s[i] == '@' */
    i++;
    return path_domain(s + i, n - i, allow_utf8, o);
}

/* Drop an RFC 5321 source route "@a,@b:" at the start of s[0..n). */
static int path_route(const char *s, size_t n, size_t *skip, int allow_utf8)
{
    size_t i = 0;
    *skip = 0;
    if (n == 0 || s[0] != '@')
        return 0;
    for (;;) {
        if (i >= n || s[i] != '@')
            return ADDR_E_SYNTAX;
        size_t start = ++i;
        while (i < n && s[i] != ',' && s[i] != ':')
            i++;
        if (i >= n)
            return ADDR_E_SYNTAX;
        char buf[ADDR_MAX + 1];
        struct out o = {buf, 0, sizeof(buf), 0};
        buf[0] = 0;
        int rc = path_domain(s + start, i - start, allow_utf8, &o);
        if (rc)
            return rc;
        if (s[i++] == ':')
            break;
    }
    *skip = i;
    return 0;
}

int addr_parse_path(char *line, int strict, int allow_utf8, char *addr, size_t addrlen,
                    char **params, const char **why)
{
    char *p = line, *start, *end, *next;
    int rc;

    *why = why_sender;
    if (addrlen)
        addr[0] = 0;
    while (is_blank(*p))
        p++;
    if (*p == 0) {
        *why = "5.5.4 Syntax: MAIL FROM:<address>";
        return ADDR_E_EMPTY;
    }
    if (*p == '<') {
        /* Find the matching '>' outside a quoted string. */
        int inq = 0;
        start = p + 1;
        for (end = start; *end; end++) {
            if (inq && *end == '\\' && end[1]) {
                end++;
            } else if (*end == '"') {
                inq = !inq;
            } else if (!inq && (*end == '>' || *end == '<')) {
                break;
            }
        }
        if (*end != '>')
            return ADDR_E_SYNTAX;              /* unbalanced, or nested '<' */
        next = end + 1;
        if (!strict) {
            while (start < end && is_blank(*start))
                start++;
            while (end > start && is_blank(end[-1]))
                end--;
        }
    } else {
        if (strict)
            return ADDR_E_SYNTAX;
        int inq = 0;
        start = p;
        for (end = start; *end; end++) {
            if (inq && *end == '\\' && end[1])
                end++;
            else if (*end == '"')
                inq = !inq;
            else if (!inq && is_blank(*end))
                break;
        }
        next = end;
    }
    if (*next && !is_blank(*next))
        return ADDR_E_SYNTAX;                  /* "<a@b>x" */
    while (is_blank(*next))
        next++;
    if ((size_t)(end - start) + 2 > ADDR_MAX)
        return ADDR_E_SYNTAX;

    /* Reject bytes that never belong in a path before looking closer. */
    for (char *q = start; q < end; q++) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == 0x7f)
            return ADDR_E_SYNTAX;
    }

    char buf[ADDR_MAX + 1];
    struct out o = {buf, 0, sizeof(buf), 0};
    buf[0] = 0;
    if (end > start) {
        size_t skip;
        if ((rc = path_route(start, (size_t)(end - start), &skip, allow_utf8)) != 0)
            return rc == ADDR_E_UTF8 ? (*why = "5.5.2 Error: bad UTF-8 syntax", rc) : rc;
        rc = path_mailbox(start + skip, (size_t)(end - start) - skip, allow_utf8, &o);
        if (rc == ADDR_E_UTF8)
            *why = "5.5.2 Error: bad UTF-8 syntax";
        if (rc)
            return rc;
    } else if (*p != '<') {
        return ADDR_E_SYNTAX;
    }
    if (o.overflow || o.len >= addrlen)
        return ADDR_E_SYNTAX;
    memcpy(addr, buf, o.len + 1);
    *params = next;
    *why = "";
    return 0;
}

/* ---------- splitting, quoting, extensions ---------- */

void addr_split(const char *addr, char *local, size_t llen, char *domain, size_t dlen)
{
    const char *at = strrchr(addr, '@');
    if (!at) {
        str_copy(local, addr, llen);
        str_copy(domain, "", dlen);
        return;
    }
    size_t n = (size_t)(at - addr);
    if (llen) {
        if (n >= llen)
            n = llen - 1;
        memcpy(local, addr, n);
        local[n] = 0;
    }
    str_copy(domain, at + 1, dlen);
}

const char *addr_domain(const char *addr)
{
    const char *at = strrchr(addr, '@');
    return at ? at + 1 : "";
}

/* RFC 5321 Dot-string: atoms (atext, or UTF-8) separated by single dots. */
static int is_dot_string(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return 0;
        } else if (c < 0x80 && !is_atext(c)) {
            return 0;
        }
    }
    return 1;
}

int addr_local_needs_quoting(const char *local, size_t len)
{
    return !is_dot_string(local, len);
}

int addr_quote_local(struct buf *out, const char *local, size_t len)
{
    int rc = buf_putc(out, '"');
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (local[i] == '"' || local[i] == '\\')
            rc = buf_putc(out, '\\');
        if (rc == 0)
            rc = buf_putc(out, local[i]);
    }
    return rc == 0 ? buf_putc(out, '"') : rc;
}

char *addr_external_dup(const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    if (n == 0 || is_dot_string(addr, n))
        return xstrdup(addr);
    struct buf b;
    buf_init(&b, 0);
    addr_quote_local(&b, addr, n);
    buf_puts(&b, addr + n);
    return b.data;
}

int addr_external(const char *addr, char *out, size_t outlen)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    struct out o = {out, 0, outlen, 0};
    if (outlen == 0)
        return -1;
    out[0] = 0;
    if (n == 0 || is_dot_string(addr, n)) {
        for (size_t i = 0; i < n; i++)
            out_c(&o, addr[i]);
    } else {
        out_c(&o, '"');
        for (size_t i = 0; i < n; i++) {
            if (addr[i] == '"' || addr[i] == '\\')
                out_c(&o, '\\');
            out_c(&o, addr[i]);
        }
        out_c(&o, '"');
    }
    if (at)
        for (const char *q = at; *q; q++)
            out_c(&o, *q);
    return o.overflow ? -1 : 0;
}

int addr_strip_ext(const char *addr, const char *delims, char *out, size_t outlen, char *ext,
                   size_t extlen)
{
    static const char *const unsplit[] = {"postmaster", "mailer-daemon", "double-bounce"};
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    size_t d;
    int split = delims && *delims && n > 0;

    if (ext && extlen)
        ext[0] = 0;
    for (size_t i = 0; split && i < ARRAY_LEN(unsplit); i++)
        if (strlen(unsplit[i]) == n && str_nieq(addr, unsplit[i], n))
            split = 0;
    if (split) {
        for (d = 0; d < n && !strchr(delims, addr[d]); d++)
            ;
        if (d == 0 || d == n)
            split = 0;
    }
    if (!split)
        return str_copy(out, addr, outlen) >= outlen ? -1 : 0;
    /* out = local[0..d) + "@domain" */
    size_t dlen = at ? strlen(at) : 0;
    if (d + dlen + 1 > outlen)
        return -1;
    memcpy(out, addr, d);
    if (at)
        memcpy(out + d, at, dlen);
    out[d + dlen] = 0;
    if (ext && extlen) {
        size_t e = n - d - 1;
        if (e >= extlen)
            return -1;
        memcpy(ext, addr + d + 1, e);
        ext[e] = 0;
    }
    return 1;
}

/* ---------- xtext and ESMTP parameters ---------- */

static int hexval(int c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;                                 /* RFC 3461: upper case hex only */
}

int xtext_decode(const char *s, size_t len, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            if (i + 2 >= len)
                return -1;
            int h = hexval((unsigned char)s[i + 1]), l = hexval((unsigned char)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            if (c == 0)
                return -1;
            i += 2;
        } else if (c < 33 || c > 126 || c == '=') {
            return -1;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    if (outlen == 0)
        return -1;
    out[o] = 0;
    return 0;
}

int xtext_encode(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 33 || c > 126 || c == '+' || c == '=') {
            if (o + 3 >= outlen)
                return -1;
            out[o++] = '+';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = (char)c;
        }
    }
    if (outlen == 0)
        return -1;
    out[o] = 0;
    return 0;
}

/* A decoded xtext value with control characters (ENVID, ORCPT, AUTH): refused, as
 * Postfix does; they would otherwise travel into the queue, the delivery protocol
 * and DSN fields. */
static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int param_err(char *err, size_t errlen, int code, const char *text)
{
    str_copy(err, text, errlen);
    return code;
}

static int unsupported(char *err, size_t errlen, const char *tok, size_t toklen)
{
    if (toklen > 200)
        toklen = 200;                          /* the reply echoes it: keep it short */
    str_fmt(err, errlen, "5.5.4 Unsupported option: %.*s", (int)toklen, tok);
    return 555;
}

static int parse_notify(const char *v, size_t n)
{
    int bits = 0;
    size_t i = 0;
    if (n == 0)
        return -1;
    while (i <= n) {
        size_t j = i;
        while (j < n && v[j] != ',')
            j++;
        int b;
        if (j - i == 5 && str_nieq(v + i, "NEVER", 5))
            b = ESMTP_NOTIFY_NEVER;
        else if (j - i == 7 && str_nieq(v + i, "SUCCESS", 7))
            b = ESMTP_NOTIFY_SUCCESS;
        else if (j - i == 7 && str_nieq(v + i, "FAILURE", 7))
            b = ESMTP_NOTIFY_FAILURE;
        else if (j - i == 5 && str_nieq(v + i, "DELAY", 5))
            b = ESMTP_NOTIFY_DELAY;
        else
            return -1;
        if (bits & b)
            return -1;
        bits |= b;
        i = j + 1;
    }
    /* NEVER excludes the others (RFC 3461 4.1). */
    if ((bits & ESMTP_NOTIFY_NEVER) && bits != ESMTP_NOTIFY_NEVER)
        return -1;
    return bits;
}

static int kw_is(const char *kw, size_t kwlen, const char *name)
{
    return strlen(name) == kwlen && str_nieq(kw, name, kwlen);
}

int esmtp_parse_params(const char *params, int is_rcpt, int allow, struct esmtp_params *p,
                       char *err, size_t errlen)
{
    const char *s = params;
    memset(p, 0, sizeof(*p));
    if (errlen)
        err[0] = 0;
    for (;;) {
        while (is_blank(*s))
            s++;
        if (*s == 0)
            return 0;
        const char *tok = s;
        while (*s && !is_blank(*s))
            s++;
        size_t toklen = (size_t)(s - tok);
        const char *eq = memchr(tok, '=', toklen);
        size_t kwlen = eq ? (size_t)(eq - tok) : toklen;
        const char *v = eq ? eq + 1 : NULL;
        size_t vlen = eq ? toklen - kwlen - 1 : 0;

        if (!is_rcpt && kw_is(tok, kwlen, "SIZE") && (allow & ESMTP_ALLOW_SIZE)) {
            unsigned long long n = 0;
            if (!v || vlen == 0 || vlen > 40 || p->has_size)
                return param_err(err, errlen, 501, "5.5.4 Bad message size syntax");
            for (size_t i = 0; i < vlen; i++) {
                if (!is_digit((unsigned char)v[i]))
                    return param_err(err, errlen, 501, "5.5.4 Bad message size syntax");
                unsigned d = (unsigned)(v[i] - '0');
                n = n > (ULLONG_MAX - d) / 10 ? ULLONG_MAX : n * 10 + d;
            }
            p->has_size = 1;
            p->size = n;
        } else if (!is_rcpt && kw_is(tok, kwlen, "BODY") && (allow & ESMTP_ALLOW_8BITMIME)) {
            if (p->body != ESMTP_BODY_NONE)
                return param_err(err, errlen, 501, "5.5.4 Bad BODY parameter syntax");
            if (v && kw_is(v, vlen, "8BITMIME"))
                p->body = ESMTP_BODY_8BITMIME;
            else if (v && kw_is(v, vlen, "7BIT"))
                p->body = ESMTP_BODY_7BIT;
            else
                return unsupported(err, errlen, tok, toklen);
        } else if (!is_rcpt && kw_is(tok, kwlen, "SMTPUTF8") && (allow & ESMTP_ALLOW_SMTPUTF8)) {
            if (v)
                return unsupported(err, errlen, tok, toklen);
            p->smtputf8 = 1;               /* repeating it is harmless (Postfix agrees) */
        } else if (!is_rcpt && kw_is(tok, kwlen, "RET") && (allow & ESMTP_ALLOW_DSN)) {
            if (p->ret != ESMTP_RET_NONE || !v)
                return param_err(err, errlen, 501, "5.5.4 Bad RET parameter syntax");
            if (kw_is(v, vlen, "FULL"))
                p->ret = ESMTP_RET_FULL;
            else if (kw_is(v, vlen, "HDRS"))
                p->ret = ESMTP_RET_HDRS;
            else
                return param_err(err, errlen, 501, "5.5.4 Bad RET parameter syntax");
        } else if (!is_rcpt && kw_is(tok, kwlen, "ENVID") && (allow & ESMTP_ALLOW_DSN)) {
            if (p->has_envid || !v || vlen == 0 || vlen > ESMTP_ENVID_MAX ||
                xtext_decode(v, vlen, p->envid, sizeof(p->envid)) < 0 || has_ctl(p->envid))
                return param_err(err, errlen, 501, "5.5.4 Bad ENVID parameter syntax");
            p->has_envid = 1;
        } else if (!is_rcpt && kw_is(tok, kwlen, "AUTH")) {
            if (!(allow & ESMTP_ALLOW_AUTH))
                continue;                  /* Postfix ignores AUTH= without SASL */
            if (p->has_auth || !v || vlen == 0 ||
                xtext_decode(v, vlen, p->auth, sizeof(p->auth)) < 0 || has_ctl(p->auth))
                return param_err(err, errlen, 501, "5.5.4 Bad AUTH parameter syntax");
            p->has_auth = 1;
        } else if (is_rcpt && kw_is(tok, kwlen, "NOTIFY") && (allow & ESMTP_ALLOW_DSN)) {
            int bits = v && !p->notify ? parse_notify(v, vlen) : -1;
            if (bits < 0)
                return param_err(err, errlen, 501, "5.5.4 Error: Bad NOTIFY parameter syntax");
            p->notify = bits;
        } else if (is_rcpt && kw_is(tok, kwlen, "ORCPT") && (allow & ESMTP_ALLOW_DSN)) {
            /* ORCPT=addr-type;xtext, addr-type an atom (RFC 3461 4.2) */
            const char *semi = v ? memchr(v, ';', vlen) : NULL;
            size_t tlen = semi ? (size_t)(semi - v) : 0;
            int ok = semi && !p->has_orcpt && tlen > 0 && tlen < sizeof(p->orcpt_type) &&
                     vlen - tlen - 1 > 0 && vlen - tlen - 1 <= ESMTP_ORCPT_MAX;
            for (size_t i = 0; ok && i < tlen; i++)
                if (!is_alpha((unsigned char)v[i]) && !is_digit((unsigned char)v[i]) && v[i] != '-')
                    ok = 0;
            if (ok && (xtext_decode(semi + 1, vlen - tlen - 1, p->orcpt, sizeof(p->orcpt)) < 0 ||
                       has_ctl(p->orcpt)))
                ok = 0;
            if (!ok)
                return param_err(err, errlen, 501, "5.5.4 Error: Bad ORCPT parameter syntax");
            memcpy(p->orcpt_type, v, tlen);
            p->orcpt_type[tlen] = 0;
            p->has_orcpt = 1;
        } else {
            return unsupported(err, errlen, tok, toklen);
        }
    }
}

