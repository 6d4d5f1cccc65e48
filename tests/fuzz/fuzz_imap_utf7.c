/*
 * fuzz_imap_utf7.c - modified UTF-7 and UTF-8 mailbox names
 * (src/lib-imap/imap_utf7.c): imap_utf7_to_utf8, imap_utf7_valid,
 * imap_utf8_to_utf7, imap_utf8_valid, imap_utf8_next,
 * imap_mailbox_utf8_valid; and writing the same bytes as an IMAP string
 * (src/lib-imap/imap_quote.c): imap_write_astring, imap_write_string,
 * imap_write_nstring.
 *
 * Input: the whole input is tried both as a modified UTF-7 name and as a
 * UTF-8 name (NUL bytes included: lengths are explicit).
 *
 * Invariants beyond "no crash":
 *  - mUTF-7 accepted => the result is strict UTF-8 without NUL, encoding
 *    it again gives back exactly the input (only the canonical form is
 *    accepted), and imap_utf7_valid agrees with the decoder;
 *  - UTF-8 input: encoding succeeds iff it is strict UTF-8 without NUL;
 *    the result is printable ASCII only, is valid mUTF-7 and decodes back
 *    to the input;
 *  - imap_utf8_valid agrees with walking imap_utf8_next; a valid UTF-8
 *    mailbox name is valid UTF-8;
 *  - written as an astring / string (with and without UTF-8 allowed in
 *    quoted strings), the bytes read back exactly as a reader following
 *    RFC 9051's grammar sees them: an atom only for astrings and never
 *    "NIL", a quoted string without CR, LF, NUL (nor 8-bit unless
 *    allowed), or a literal whose length is right.
 * max_len: 512
 */
#include "fuzz.h"
#include <strings.h>
#include "lib-imap/imap_quote.h"
#include "lib-imap/imap_utf7.h"

static void check_utf7(const char *s, size_t n)
{
    struct buf u8, back;
    buf_init(&u8, 0);
    buf_init(&back, 0);
    int r = imap_utf7_to_utf8(s, n, &u8);
    FUZZ_ASSERT(imap_utf7_valid(s, n) == (r == 0));
    if (r == 0) {
        FUZZ_ASSERT(imap_utf8_valid(u8.data ? u8.data : "", u8.len));
        FUZZ_ASSERT(!u8.len || !memchr(u8.data, 0, u8.len));
        FUZZ_ASSERT(imap_utf8_to_utf7(u8.data ? u8.data : "", u8.len, &back) == 0);
        FUZZ_ASSERT(back.len == n && (!n || memcmp(back.data, s, n) == 0));
    }
    buf_free(&u8);
    buf_free(&back);
}

static void check_utf8(const char *s, size_t n)
{
    struct buf u7, back;
    buf_init(&u7, 0);
    buf_init(&back, 0);
    int valid = imap_utf8_valid(s, n);
    size_t i = 0;
    int walk = 1;
    while (i < n) {
        uint32_t cp;
        int k = imap_utf8_next(s + i, n - i, &cp);
        if (k < 0) {
            walk = 0;
            break;
        }
        FUZZ_ASSERT(k >= 1 && k <= 4 && cp <= 0x10ffff);
        i += (size_t)k;
    }
    FUZZ_ASSERT(walk == valid);
    if (imap_mailbox_utf8_valid(s, n))
        FUZZ_ASSERT(valid);
    int r = imap_utf8_to_utf7(s, n, &u7);
    FUZZ_ASSERT((r == 0) == (valid && !memchr(s, 0, n)));
    if (r == 0) {
        for (size_t j = 0; j < u7.len; j++)
            FUZZ_ASSERT(u7.data[j] >= 0x20 && u7.data[j] <= 0x7e);
        FUZZ_ASSERT(imap_utf7_to_utf8(u7.data ? u7.data : "", u7.len, &back) == 0);
        FUZZ_ASSERT(back.len == n && (!n || memcmp(back.data, s, n) == 0));
    }
    buf_free(&u7);
    buf_free(&back);
}

/* Read back what imap_write_* wrote: 'a'tom, 'q'uoted or 'l'iteral; -1 if malformed. */
static int read_back(const char *w, size_t n, struct buf *val, int utf8)
{
    if (n >= 2 && w[0] == '"') {
        for (size_t i = 1; i < n - 1; i++) {
            unsigned char c = (unsigned char)w[i];
            if (c == 0 || c == '\r' || c == '\n' || (c >= 0x80 && !utf8) || c == '"')
                return -1;
            if (c == '\\') {
                if (++i == n - 1 || (w[i] != '"' && w[i] != '\\'))
                    return -1;
            }
            buf_putc(val, w[i]);
        }
        return w[n - 1] == '"' ? 'q' : -1;
    }
    if (n >= 5 && w[0] == '{') {
        size_t i = 1, len = 0;
        while (i < n && w[i] >= '0' && w[i] <= '9')
            len = len * 10 + (size_t)(w[i++] - '0');
        if (i + 3 > n || memcmp(w + i, "}\r\n", 3) != 0 || n - i - 3 != len)
            return -1;
        buf_append(val, w + i + 3, len);
        return 'l';
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)w[i] <= 0x20 || (unsigned char)w[i] >= 0x7f || strchr("(){%*\"\\", w[i]))
            return -1;
    buf_append(val, w, n);
    return n ? 'a' : -1;
}

static void check_quote(const char *s, size_t n)
{
    for (int mode = 0; mode < 4; mode++) {
        int utf8 = mode & 1 ? IMAP_QUOTE_UTF8 : 0;
        struct buf w, val;
        buf_init(&w, 0);
        buf_init(&val, 0);
        int r = mode & 2 ? imap_write_astring(&w, s, n, utf8) : imap_write_string(&w, s, n, utf8);
        FUZZ_ASSERT(r == 0);
        int kind = read_back(w.data ? w.data : "", w.len, &val, utf8);
        FUZZ_ASSERT(kind > 0 && val.len == n && (!n || memcmp(val.data, s, n) == 0));
        if (kind == 'a')
            FUZZ_ASSERT((mode & 2) && !(n == 3 && strncasecmp(s, "NIL", 3) == 0));
        if (kind == 'l')
            FUZZ_ASSERT(!imap_is_quotable(s, n, utf8));
        buf_free(&w);
        buf_free(&val);
    }
    struct buf w;
    buf_init(&w, 0);
    FUZZ_ASSERT(imap_write_nstring(&w, NULL, 0, 0) == 0 && w.len == 3 && memcmp(w.data, "NIL", 3) == 0);
    buf_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    check_utf7(s, size);
    check_utf8(s, size);
    check_quote(s, size);
    free(s);
    return 0;
}
