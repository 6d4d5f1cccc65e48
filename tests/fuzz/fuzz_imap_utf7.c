/*
 * fuzz_imap_utf7.c - modified UTF-7 and UTF-8 mailbox names
 * (src/lib-imap/imap_utf7.c): imap_utf7_to_utf8, imap_utf7_valid,
 * imap_utf8_to_utf7, imap_utf8_valid, imap_utf8_next,
 * imap_mailbox_utf8_valid.
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
 *    mailbox name is valid UTF-8.
 * max_len: 512
 */
#include "fuzz.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    check_utf7(s, size);
    check_utf8(s, size);
    free(s);
    return 0;
}
