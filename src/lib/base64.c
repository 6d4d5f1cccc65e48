/*
 * base64.c - see base64.h.
 */
#include "lib/base64.h"

#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int encode(struct buf *out, const unsigned char *p, size_t len, int pad)
{
    size_t full = len / 3, rest = len % 3;
    if (full > ((size_t)-1) / 4 - 1 || buf_reserve(out, (full + 1) * 4) < 0)
        return -1;
    char *o = out->data + out->len;
    for (size_t i = 0; i < full; i++, p += 3) {
        unsigned v = (unsigned)p[0] << 16 | (unsigned)p[1] << 8 | p[2];
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        *o++ = b64_alphabet[v >> 6 & 63];
        *o++ = b64_alphabet[v & 63];
    }
    if (rest) {
        unsigned v = (unsigned)p[0] << 16 | (rest == 2 ? (unsigned)p[1] << 8 : 0);
        *o++ = b64_alphabet[v >> 18 & 63];
        *o++ = b64_alphabet[v >> 12 & 63];
        if (rest == 2)
            *o++ = b64_alphabet[v >> 6 & 63];
        else if (pad)
            *o++ = '=';
        if (pad)
            *o++ = '=';
    }
    out->len = (size_t)(o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int base64_encode(struct buf *out, const void *data, size_t len)
{
    return encode(out, data, len, 1);
}

int base64_encode_nopad(struct buf *out, const void *data, size_t len)
{
    return encode(out, data, len, 0);
}

int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode groups; `in` has no padding characters, inlen % 4 != 1. */
static int decode_core(const char *in, size_t inlen, struct buf *out)
{
    if (inlen % 4 == 1 || buf_reserve(out, inlen / 4 * 3 + 3) < 0)
        return -1;
    unsigned char *o = (unsigned char *)out->data + out->len;
    size_t i = 0;
    for (; i + 4 <= inlen; i += 4) {
        int a = base64_value((unsigned char)in[i]), b = base64_value((unsigned char)in[i + 1]);
        int c = base64_value((unsigned char)in[i + 2]), d = base64_value((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
        *o++ = (unsigned char)(v >> 16);
        *o++ = (unsigned char)(v >> 8);
        *o++ = (unsigned char)v;
    }
    size_t rest = inlen - i;
    if (rest) {
        int a = base64_value((unsigned char)in[i]), b = base64_value((unsigned char)in[i + 1]);
        int c = rest == 3 ? base64_value((unsigned char)in[i + 2]) : 0;
        if ((a | b | c) < 0)
            return -1;
        unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6;
        /* Canonical encodings have zero bits after the last byte. */
        if (rest == 2 && (v & 0xffff) != 0)
            return -1;
        if (rest == 3 && (v & 0xff) != 0)
            return -1;
        *o++ = (unsigned char)(v >> 16);
        if (rest == 3)
            *o++ = (unsigned char)(v >> 8);
    }
    out->len = (size_t)((char *)o - out->data);
    out->data[out->len] = '\0';
    return 0;
}

int base64_decode(const char *in, size_t inlen, struct buf *out)
{
    if (inlen % 4 != 0)
        return -1;
    size_t n = inlen;
    if (n >= 1 && in[n - 1] == '=')
        n--;
    if (n >= 1 && in[n - 1] == '=')
        n--;
    if (memchr(in, '=', n))
        return -1;
    size_t before = out->len;
    if (decode_core(in, n, out) < 0) {
        out->len = before;
        if (out->data)
            out->data[before] = '\0';
        return -1;
    }
    return 0;
}

int base64_decode_nopad(const char *in, size_t inlen, struct buf *out)
{
    if (memchr(in, '=', inlen))
        return -1;
    size_t before = out->len;
    if (decode_core(in, inlen, out) < 0) {
        out->len = before;
        if (out->data)
            out->data[before] = '\0';
        return -1;
    }
    return 0;
}

long base64_decode_to(const char *in, size_t inlen, unsigned char *outp, size_t outmax)
{
    struct buf b;
    buf_init(&b, outmax + 8);
    long r = -1;
    if (base64_decode(in, inlen, &b) == 0 && b.len <= outmax) {
        if (b.len)
            memcpy(outp, b.data, b.len);
        r = (long)b.len;
    }
    if (b.data)
        memset(b.data, 0, b.cap);
    buf_free(&b);
    return r;
}
