/*
 * header.c - the header parser, RFC 2047 words and charset conversion
 * (see header.h).
 */
#include "lib-mail/header.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <string.h>
#include <strings.h>

#define WORD_MAX 512                 /* longest encoded word we decode (RFC 2047 says 75) */

/* ---- fields ---- */

size_t hdr_field_name_len(const char *buf, size_t n)
{
    size_t i = 0;
    while (i < n && i <= HDR_NAME_MAX && (unsigned char)buf[i] > 32 &&
           (unsigned char)buf[i] < 127 && buf[i] != ':')
        i++;
    if (i == 0 || i > HDR_NAME_MAX || i >= n || buf[i] != ':')
        return 0;
    return i;
}

void hdr_reader_init(struct hdr_reader *r, const char *buf, size_t len, size_t max_fields,
                     size_t max_field)
{
    memset(r, 0, sizeof(*r));
    r->base = r->p = buf;
    r->end = buf + len;
    r->max_fields = max_fields;
    r->max_field = max_field;
    r->status = HDR_IN_SECTION;
}

/* The end of the line at p (after its LF), or end. */
static const char *line_end(const char *p, const char *end)
{
    const char *lf = memchr(p, '\n', (size_t)(end - p));
    return lf ? lf + 1 : end;
}

/* Length of a line without its "\n" or "\r\n". */
static size_t content_len(const char *p, const char *eol)
{
    size_t n = (size_t)(eol - p);
    if (n > 0 && p[n - 1] == '\n')
        n--;
    if (n > 0 && p[n - 1] == '\r')
        n--;
    return n;
}

int hdr_next(struct hdr_reader *r, struct hdr_field *f)
{
    if (r->status != HDR_IN_SECTION)
        return 0;
    if (r->p >= r->end) {
        r->status = HDR_END_INPUT;
        return 0;
    }
    const char *eol = line_end(r->p, r->end);
    size_t n = content_len(r->p, eol);
    if (n == 0 && eol > r->p && eol[-1] == '\n') {
        r->p = eol;
        r->status = HDR_END_BLANK;
        return 0;
    }
    size_t name_len = hdr_field_name_len(r->p, n);
    if (name_len == 0) {
        r->status = n == 0 ? HDR_END_INPUT : HDR_END_BODY;
        return 0;
    }
    if (r->max_fields && r->nfields >= r->max_fields) {
        r->status = HDR_TOO_MANY;
        return 0;
    }
    const char *start = r->p, *last = eol;
    while (last < r->end && (*last == ' ' || *last == '\t'))
        last = line_end(last, r->end);
    if (r->max_field && (size_t)(last - start) > r->max_field) {
        r->status = HDR_TOO_LONG;
        return 0;
    }
    f->start = start;
    f->len = (size_t)(last - start);
    f->name_len = name_len;
    f->value = start + name_len + 1;
    const char *vend = last;
    if (vend > f->value && vend[-1] == '\n')
        vend--;
    if (vend > f->value && vend[-1] == '\r')
        vend--;
    f->value_len = (size_t)(vend - f->value);
    r->p = last;
    r->nfields++;
    return 1;
}

size_t hdr_section_length(const struct hdr_reader *r)
{
    return (size_t)(r->p - r->base);
}

int hdr_name_is(const struct hdr_field *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(f->start, name, f->name_len) == 0;
}

int hdr_unfold(const struct hdr_field *f, struct buf *out)
{
    const char *p = f->value, *end = f->value + f->value_len;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        end--;
    int rc = buf_puts(out, "");
    for (; p < end && rc == 0; p++)
        if (*p != '\r' && *p != '\n')
            rc = buf_putc(out, *p);
    return rc;
}

/* ---- charsets ---- */

static int valid_utf8_seq(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return 1;
    size_t need = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (need == 0 || s[0] > 0xf4 || n < need)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (need == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0)))
        return 0;                    /* overlong, surrogates */
    if (need == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return (int)need;
}

/* Copy UTF-8, replacing what is not valid UTF-8 by U+FFFD. */
static int copy_utf8(const char *in, size_t len, struct buf *out)
{
    const unsigned char *s = (const unsigned char *)in;
    int rc = buf_puts(out, "");
    for (size_t i = 0; i < len && rc == 0;) {
        int k = valid_utf8_seq(s + i, len - i);
        if (k > 0) {
            rc = buf_append(out, s + i, (size_t)k);
            i += (size_t)k;
        } else {
            rc = buf_puts(out, "\xef\xbf\xbd");
            i++;
        }
    }
    return rc;
}

static int is_charset(const char *cs, const char *name)
{
    return strcasecmp(cs, name) == 0;
}

int charset_to_utf8(const char *charset, const char *in, size_t len, struct buf *out)
{
    char cs[64];
    str_copy(cs, charset, sizeof(cs));
    char *star = strchr(cs, '*');    /* RFC 2231 language: "utf-8*en" */
    if (star)
        *star = '\0';
    if (!*cs || is_charset(cs, "utf-8") || is_charset(cs, "utf8") ||
        is_charset(cs, "us-ascii") || is_charset(cs, "ascii"))
        return copy_utf8(in, len, out);
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return -1;
    char chunk[1024];
    char *ip = (char *)in;
    size_t ileft = len;
    int rc = buf_puts(out, "");
    while (ileft > 0 && rc == 0) {
        char *op = chunk;
        size_t oleft = sizeof(chunk);
        size_t r = iconv(cd, &ip, &ileft, &op, &oleft);
        int err = r == (size_t)-1 ? errno : 0;
        rc = buf_append(out, chunk, sizeof(chunk) - oleft);
        if (rc == 0 && (err == EILSEQ || err == EINVAL)) {
            rc = buf_puts(out, "\xef\xbf\xbd");   /* skip one byte that does not convert */
            ip++;
            ileft--;
        } else if (err && err != E2BIG) {
            break;
        }
    }
    iconv_close(cd);
    return rc;
}

/* ---- RFC 2047 ---- */

/* Decode the text of one word ("B" or "Q") into raw bytes. 0 or -1. */
static int word_bytes(char enc, const char *t, size_t n, struct buf *raw)
{
    if (enc == 'b' || enc == 'B') {
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n && t[i] != '='; i++) {
            int v = base64_value((unsigned char)t[i]);
            if (v < 0)
                return -1;
            acc = (acc << 6) | (unsigned)v;
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                if (buf_putc(raw, (char)((acc >> bits) & 0xff)) < 0)
                    return -1;
            }
        }
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == '_') {
            c = ' ';
        } else if (c == '=') {
            if (i + 2 >= n)
                return -1;
            int hi = hex_value((unsigned char)t[i + 1]), lo = hex_value((unsigned char)t[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (buf_putc(raw, c) < 0)
            return -1;
    }
    return 0;
}

/*
 * Is there an encoded word at p? Its length (up to and including "?="),
 * with its parts located; 0 if not.
 */
static size_t encoded_word(const char *p, const char *end, const char **cs, size_t *cslen,
                           char *enc, const char **text, size_t *textlen)
{
    if (end - p < 8 || p[0] != '=' || p[1] != '?')
        return 0;
    const char *q = p + 2, *limit = end - p > WORD_MAX ? p + WORD_MAX : end;
    const char *c_end = memchr(q, '?', (size_t)(limit - q));
    if (!c_end || c_end == q || c_end + 3 >= limit || c_end[2] != '?')
        return 0;
    if (!strchr("bBqQ", c_end[1]))
        return 0;
    const char *t = c_end + 3;
    for (const char *e = t; e + 1 < limit; e++) {
        if ((unsigned char)*e <= ' ')
            return 0;                /* no white space inside a word */
        if (e[0] == '?' && e[1] == '=') {
            *cs = q;
            *cslen = (size_t)(c_end - q);
            *enc = c_end[1];
            *text = t;
            *textlen = (size_t)(e - t);
            return (size_t)(e + 2 - p);
        }
    }
    return 0;
}

int hdr_decode_words(const char *text, size_t len, struct buf *out)
{
    const char *p = text, *end = text + len;
    const char *pending_ws = NULL;   /* white space after a decoded word */
    int rc = buf_puts(out, "");
    struct buf raw;
    buf_init(&raw, WORD_MAX);
    while (p < end && rc == 0) {
        const char *cs, *t;
        size_t cslen, tlen;
        char enc;
        size_t wl = encoded_word(p, end, &cs, &cslen, &enc, &t, &tlen);
        if (wl > 0 && cslen < 64) {
            char charset[64];
            memcpy(charset, cs, cslen);
            charset[cslen] = '\0';
            buf_reset(&raw);
            size_t before = out->len;
            if (word_bytes(enc, t, tlen, &raw) == 0 &&
                charset_to_utf8(charset, raw.data ? raw.data : "", raw.len, out) == 0) {
                pending_ws = NULL;   /* white space between two words goes */
                p += wl;
                const char *ws = p;
                while (ws < end && (*ws == ' ' || *ws == '\t' || *ws == '\r' || *ws == '\n'))
                    ws++;
                if (ws > p) {
                    pending_ws = p;
                    p = ws;
                }
                continue;
            }
            out->len = before;       /* not decodable: keep it as it is */
            if (out->data)
                out->data[before] = '\0';
        }
        if (pending_ws) {
            rc = buf_append(out, pending_ws, (size_t)(p - pending_ws));
            pending_ws = NULL;
        }
        if (rc == 0)
            rc = buf_putc(out, *p++);
    }
    if (pending_ws && rc == 0)
        rc = buf_append(out, pending_ws, (size_t)(p - pending_ws));
    buf_free(&raw);
    return rc;
}
