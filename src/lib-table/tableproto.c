/*
 * tableproto.c - netstrings, socketmap replies and the proxymap request
 * and reply lines (see tableproto.h). No I/O here.
 */
#include "lib-table/tableproto.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <string.h>

/* ---------------------------------------------------------- netstrings */

int netstring_encode(struct buf *out, const char *data, size_t len)
{
    if (buf_printf(out, "%zu:", len) < 0 || buf_append(out, data, len) < 0)
        return -1;
    return buf_putc(out, ',');
}

int netstring_decode(const char *in, size_t len, size_t max, size_t *off, size_t *plen,
                     size_t *used, const char **why)
{
    size_t n = 0, i = 0;
    for (; i < len && in[i] >= '0' && in[i] <= '9'; i++) {
        if (i > 0 && n == 0) {
            *why = "netstring length with a leading zero";
            return -1;
        }
        n = n * 10 + (size_t)(in[i] - '0');
        if (n > max) {
            *why = "netstring longer than allowed";
            return -1;
        }
    }
    if (i == len)
        return i > 10 ? (*why = "netstring length too long", -1) : 0;
    if (i == 0 || in[i] != ':') {
        *why = "malformed netstring length";
        return -1;
    }
    i++;
    if (len - i < n + 1)
        return 0;
    if (in[i + n] != ',') {
        *why = "netstring not terminated by ','";
        return -1;
    }
    *off = i;
    *plen = n;
    *used = i + n + 1;
    return 1;
}

/* ---------------------------------------------------- socketmap replies */

/* Does p[0..len) start with word followed by a space or the end? */
static size_t word_at(const char *p, size_t len, const char *word)
{
    size_t w = strlen(word);
    if (len < w || memcmp(p, word, w) != 0)
        return 0;
    if (len == w)
        return w;
    return p[w] == ' ' ? w + 1 : 0;
}

static void set_why(char *why, size_t whylen, const char *what, const char *p, size_t len)
{
    char text[256];
    size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
    text[n] = '\0';
    str_fmt(why, whylen, "%s%s%s", what, n ? ": " : "", text);
}

int sockmap_parse_reply(const char *p, size_t len, struct buf *value, char *why, size_t whylen)
{
    size_t w;
    buf_reset(value);
    if ((w = word_at(p, len, "OK")) != 0) {
        if (memchr(p + w, '\0', len - w)) {
            set_why(why, whylen, "socketmap reply with a NUL byte", "", 0);
            return TABLE_TEMPFAIL;
        }
        if (buf_append(value, p + w, len - w) < 0) {
            set_why(why, whylen, "socketmap reply value too long", "", 0);
            return TABLE_TEMPFAIL;
        }
        return TABLE_FOUND;
    }
    if (word_at(p, len, "NOTFOUND"))
        return TABLE_NOTFOUND;
    if ((w = word_at(p, len, "TEMP")) != 0 || (w = word_at(p, len, "TIMEOUT")) != 0) {
        set_why(why, whylen, "socketmap server temporary failure", p + w, len - w);
        return TABLE_TEMPFAIL;
    }
    if ((w = word_at(p, len, "PERM")) != 0) {
        set_why(why, whylen, "socketmap server permanent failure", p + w, len - w);
        return TABLE_TEMPFAIL;
    }
    set_why(why, whylen, "malformed socketmap reply", p, len);
    return TABLE_TEMPFAIL;
}

/* ------------------------------------------------------------ proxymap */

static int needs_escape(unsigned char c)
{
    return c < 0x20 || c == 0x7f || c == '%';
}

int tproto_escape(struct buf *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape(c)) {
            if (buf_putc(out, (char)c) < 0)
                return -1;
            continue;
        }
        char e[3] = {'%', hex[c >> 4], hex[c & 15]};
        if (buf_append(out, e, 3) < 0)
            return -1;
    }
    return 0;
}

/* Unescape a field in place (NUL-terminated on return). 0, or -1. */
static int unescape(char *s, const char **why)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        if ((unsigned char)*r < 0x20 || *r == 0x7f) {
            *why = "control character in a field";
            return -1;
        }
        if (*r != '%') {
            *w++ = *r;
            continue;
        }
        int hi = r[1] ? hex_value((unsigned char)r[1]) : -1;
        int lo = hi >= 0 && r[2] ? hex_value((unsigned char)r[2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            *why = "bad %XX escape";
            return -1;
        }
        *w++ = (char)(hi * 16 + lo);
        r += 2;
    }
    *w = '\0';
    return 0;
}

/* Split line[0..len) at TABs into exactly n fields, each unescaped. */
static int split_fields(char *line, size_t len, char **f, size_t n, const char **why)
{
    if (memchr(line, '\0', len)) {
        *why = "NUL byte in a line";
        return -1;
    }
    line[len] = '\0';
    size_t k = 0;
    char *p = line;
    for (;;) {
        char *tab = strchr(p, '\t');
        if (k == n) {
            *why = "too many fields";
            return -1;
        }
        f[k++] = p;
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (k != n) {
        *why = "too few fields";
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (unescape(f[i], why) < 0)
            return -1;
    return 0;
}

int tproto_request_encode(struct buf *out, int exact, const char *spec, const char *key)
{
    size_t slen = strlen(spec), klen = strlen(key);
    if (slen > TPROTO_SPEC_MAX || klen > TABLE_KEY_MAX)
        return -1;
    if (buf_puts(out, exact ? "lookup\texact\t" : "lookup\tfold\t") < 0 ||
        tproto_escape(out, spec, slen) < 0 || buf_putc(out, '\t') < 0 ||
        tproto_escape(out, key, klen) < 0)
        return -1;
    return buf_putc(out, '\n');
}

int tproto_request_parse(char *line, size_t len, struct tproto_request *req, const char **why)
{
    char *f[4];
    if (len + 1 > TPROTO_REQUEST_MAX) {
        *why = "request too long";
        return -1;
    }
    if (split_fields(line, len, f, 4, why) < 0)
        return -1;
    if (strcmp(f[0], "lookup") != 0) {
        *why = "unknown request";
        return -1;
    }
    if (strcmp(f[1], "fold") == 0)
        req->exact = 0;
    else if (strcmp(f[1], "exact") == 0)
        req->exact = 1;
    else {
        *why = "unknown lookup mode";
        return -1;
    }
    if (!*f[2] || strlen(f[2]) > TPROTO_SPEC_MAX || strlen(f[3]) > TABLE_KEY_MAX) {
        *why = "table spec or key empty or too long";
        return -1;
    }
    req->spec = f[2];
    req->key = f[3];
    return 0;
}

static const char *const status_names[] = {"found", "notfound", "tempfail", "denied"};

int tproto_reply_encode(struct buf *out, enum tproto_status st, const char *value)
{
    size_t vlen = strlen(value);
    if (vlen > TPROTO_VALUE_MAX) {
        st = TP_TEMPFAIL;
        value = "table value too long for the proxymap protocol";
        vlen = strlen(value);
    }
    if (buf_puts(out, status_names[st]) < 0 || buf_putc(out, '\t') < 0 ||
        tproto_escape(out, value, vlen) < 0)
        return -1;
    return buf_putc(out, '\n');
}

int tproto_reply_parse(char *line, size_t len, enum tproto_status *st, char **value,
                       const char **why)
{
    char *f[2];
    if (len + 1 > TPROTO_REPLY_MAX) {
        *why = "reply too long";
        return -1;
    }
    if (split_fields(line, len, f, 2, why) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(status_names); i++) {
        if (strcmp(f[0], status_names[i]) == 0) {
            *st = (enum tproto_status)i;
            *value = f[1];
            return strlen(f[1]) > TPROTO_VALUE_MAX ? (*why = "value too long", -1) : 0;
        }
    }
    *why = "unknown reply status";
    return -1;
}
