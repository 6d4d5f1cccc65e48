/*
 * imap_utf7.c - modified UTF-7 <-> UTF-8 and strict validation of both.
 * See imap_utf7.h.
 */
#include "lib-imap/imap_utf7.h"

#include <string.h>

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int imap_utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    if (len == 0)
        return -1;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    int n;
    uint32_t c, min;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        n = 2, c = p[0] & 0x1f, min = 0x80;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        n = 3, c = p[0] & 0x0f, min = 0x800;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        n = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return -1;
    }
    if (len < (size_t)n)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return -1;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *cp = c;
    return n;
}

int imap_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = imap_utf8_next(s + i, len - i, &cp);
        if (n < 0)
            return 0;
        i += (size_t)n;
    }
    return 1;
}

static int printable(uint32_t c)
{
    return c >= 0x20 && c <= 0x7e;
}

/* Base64 state while writing one shifted run. */
struct b64w {
    struct buf *out;
    uint32_t bits;
    int nbits;
};

static int b64w_unit(struct b64w *w, uint32_t unit)
{
    w->bits = (w->bits << 16) | unit;
    w->nbits += 16;
    while (w->nbits >= 6) {
        w->nbits -= 6;
        if (buf_putc(w->out, b64chars[(w->bits >> w->nbits) & 0x3f]) < 0)
            return -1;
    }
    w->bits &= (1u << w->nbits) - 1;
    return 0;
}

static int b64w_finish(struct b64w *w)
{
    if (w->nbits > 0 && buf_putc(w->out, b64chars[(w->bits << (6 - w->nbits)) & 0x3f]) < 0)
        return -1;
    return buf_putc(w->out, '-');
}

/* Write the shifted run for the characters of in[0..len) (none printable). */
static int write_run(const char *in, size_t len, struct buf *out)
{
    struct b64w w = {out, 0, 0};
    if (buf_putc(out, '&') < 0)
        return -1;
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = imap_utf8_next(in + i, len - i, &cp);
        i += (size_t)n;  /* validated by the caller */
        if (cp >= 0x10000) {
            cp -= 0x10000;
            if (b64w_unit(&w, 0xd800 | (cp >> 10)) < 0 || b64w_unit(&w, 0xdc00 | (cp & 0x3ff)) < 0)
                return -1;
        } else if (b64w_unit(&w, cp) < 0) {
            return -1;
        }
    }
    return b64w_finish(&w);
}

int imap_utf8_to_utf7(const char *in, size_t len, struct buf *out)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = imap_utf8_next(in + i, len - i, &cp);
        if (n < 0 || cp == 0)
            return -1;
        if (printable(cp)) {
            if (buf_puts(out, cp == '&' ? "&-" : (char[]){(char)cp, 0}) < 0)
                return -1;
            i++;
            continue;
        }
        /* The run of non-printable characters starting here. */
        size_t start = i;
        while (i < len) {
            n = imap_utf8_next(in + i, len - i, &cp);
            if (n < 0 || cp == 0)
                return -1;
            if (printable(cp))
                break;
            i += (size_t)n;
        }
        if (write_run(in + start, i - start, out) < 0)
            return -1;
    }
    return 0;
}

static int b64val(unsigned char c)
{
    const char *p = c ? strchr(b64chars, c) : NULL;
    return p ? (int)(p - b64chars) : -1;
}

static int put_cp(struct buf *out, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f)), n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    return buf_append(out, u, n);
}

/* One UTF-16 unit of a shifted run; *hi holds a pending high surrogate. */
static int decode_unit(uint32_t unit, uint32_t *hi, struct buf *out)
{
    if (*hi) {
        if (unit < 0xdc00 || unit > 0xdfff)
            return -1;
        uint32_t cp = 0x10000 + ((*hi - 0xd800) << 10) + (unit - 0xdc00);
        *hi = 0;
        return put_cp(out, cp);
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
        *hi = unit;
        return 0;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff)
        return -1;
    /* Printable ASCII must stand for itself; NUL is never a name. */
    if (unit == 0 || printable(unit))
        return -1;
    return put_cp(out, unit);
}

/* The shifted run at in[*i] (just after '&', not "&-"). */
static int decode_run(const char *in, size_t len, size_t *i, struct buf *out)
{
    uint32_t bits = 0, hi = 0;
    int nbits = 0;
    size_t p = *i;
    while (p < len && in[p] != '-') {
        int v = b64val((unsigned char)in[p]);
        if (v < 0)
            return -1;
        bits = (bits << 6) | (uint32_t)v;
        nbits += 6;
        if (nbits >= 16) {
            nbits -= 16;
            if (decode_unit((bits >> nbits) & 0xffff, &hi, out) < 0)
                return -1;
        }
        bits &= (1u << nbits) - 1;
        p++;
    }
    /* The closing '-', no pending surrogate, < 6 leftover bits, all zero. */
    if (p == len || hi || nbits >= 6 || bits != 0)
        return -1;
    *i = p + 1;
    return 0;
}

static int utf7_decode(const char *in, size_t len, struct buf *out)
{
    size_t i = 0;
    int after_run = 0;
    while (i < len) {
        unsigned char c = (unsigned char)in[i];
        if (!printable(c))
            return -1;
        if (c != '&') {
            if (buf_putc(out, (char)c) < 0)
                return -1;
            i++;
            after_run = 0;
            continue;
        }
        i++;
        if (i < len && in[i] == '-') {
            if (buf_putc(out, '&') < 0)
                return -1;
            i++;
            after_run = 0;
            continue;
        }
        /* Two runs side by side are one run written in two pieces. */
        if (after_run || decode_run(in, len, &i, out) < 0)
            return -1;
        after_run = 1;
    }
    return 0;
}

int imap_utf7_to_utf8(const char *in, size_t len, struct buf *out)
{
    return utf7_decode(in, len, out);
}

int imap_utf7_valid(const char *in, size_t len)
{
    struct buf tmp;
    buf_init(&tmp, 0);
    int ok = utf7_decode(in, len, &tmp) == 0;
    buf_free(&tmp);
    return ok;
}

int imap_mailbox_utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        int n = imap_utf8_next(s + i, len - i, &cp);
        if (n < 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
            cp == 0xfffe || cp == 0xffff)
            return 0;
        i += (size_t)n;
    }
    return 1;
}
