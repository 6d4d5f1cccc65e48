/*
 * fuzz_content.c - the DATA and BDAT content decoders of smtpd
 * (src/smtpd/content.c: smtpd_data_decode, smtpd_bdat_decode, smtpd_bdat_finish), and the
 * SMTP client's encoder of the same content (src/deliver/smtp_data.c:
 * smtp_stuff, smtp_stuff_end) checked against that decoder.
 *
 * Input: byte 0 picks the bare-newline policy and the hold size, byte 1
 * seeds how the rest is cut into network reads; the rest is what a
 * client sends after DATA (the harness appends "\r\n.\r\n") or as BDAT
 * chunks.
 *
 * Invariants beyond "no crash":
 *  - DATA: decoding all at once and decoding in arbitrary pieces (the
 *    caller keeping the unconsumed tail, as smtpd does) give the same
 *    status, the same consumed length and the same output bytes;
 *  - DATA ends (CD_END) only right after <CR><LF>.<CR><LF> (or ".\r\n"
 *    as the very first line): no "\n.\n" smuggling; with the appended
 *    terminator it always ends, unless the REJECT policy refused a bare
 *    LF, and then a bare LF really was there;
 *  - output is never longer than the input consumed;
 *  - BDAT: in any pieces, the output is exactly the input with each
 *    CR LF pair turned into LF;
 *  - relaying: stored content (LF line ends) dot-stuffed by the SMTP
 *    client in any pieces (no line length limit) decodes with smtpd's
 *    DATA decoder to the same content (plus a final LF if it had none),
 *    ending exactly at the client's terminator.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib/buf.h"
#include "deliver/smtp.h"
#include "smtpd/content.h"

static int sink(void *arg, const char *d, size_t n)
{
    return buf_append(arg, d, n) < 0 ? -1 : 0;
}

/* Piece sizes from a tiny generator seeded by the input. */
static size_t next_piece(uint32_t *state, size_t left)
{
    *state = *state * 1103515245u + 12345u;
    size_t n = 1 + (*state >> 16) % 97;
    return n < left ? n : left;
}

static void check_data(const uint8_t *data, size_t size, unsigned mode, unsigned seed)
{
    static const size_t holds[] = {8192, 3, 4, 5, 8, 16, 64, 1000};
    enum bare_nl_policy pol = (enum bare_nl_policy)(mode % 3);
    size_t hold = holds[(mode / 3) % 8];
    size_t len = size + 5;
    char *in = malloc(len);
    FUZZ_ASSERT(in);
    if (size)
        memcpy(in, data, size);
    memcpy(in + size, "\r\n.\r\n", 5);

    /* All at once. */
    struct buf out1;
    buf_init(&out1, 0);
    struct data_decoder d1;
    smtpd_data_decoder_init(&d1, pol, sink, &out1);
    size_t used1 = 0;
    enum data_status st1 = smtpd_data_decode(&d1, in, len, hold, &used1);
    FUZZ_ASSERT(used1 <= len);
    FUZZ_ASSERT(out1.len <= used1);
    FUZZ_ASSERT(st1 == CD_END || st1 == CD_BARE_LF);
    if (st1 == CD_END) {
        FUZZ_ASSERT(used1 >= 3 && memcmp(in + used1 - 3, ".\r\n", 3) == 0);
        FUZZ_ASSERT(used1 == 3 || (used1 >= 5 && memcmp(in + used1 - 5, "\r\n", 2) == 0));
    } else {
        FUZZ_ASSERT(pol == BARE_NL_REJECT);
        const char *lf = memchr(in, '\n', used1);
        int bare = 0;
        for (size_t i = 0; i < used1; i++)
            if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
                bare = 1;
        FUZZ_ASSERT(lf && bare);
    }

    /* In pieces: the caller keeps what was not consumed and appends the next read. */
    struct buf out2, pending;
    buf_init(&out2, 0);
    buf_init(&pending, 0);
    struct data_decoder d2;
    smtpd_data_decoder_init(&d2, pol, sink, &out2);
    uint32_t state = seed;
    size_t fed = 0, consumed = 0;
    enum data_status st2 = CD_MORE;
    while (fed < len && st2 == CD_MORE) {
        size_t n = next_piece(&state, len - fed);
        FUZZ_ASSERT(buf_append(&pending, in + fed, n) == 0);
        fed += n;
        size_t used = 0;
        st2 = smtpd_data_decode(&d2, pending.data, pending.len, hold, &used);
        FUZZ_ASSERT(used <= pending.len);
        buf_consume(&pending, used);
        consumed += used;
    }
    FUZZ_ASSERT(st2 == st1);
    FUZZ_ASSERT(consumed == used1);
    if (st1 == CD_END) {
        FUZZ_ASSERT(out1.len == out2.len);
        FUZZ_ASSERT(out1.len == 0 || memcmp(out1.data, out2.data, out1.len) == 0);
    }
    buf_free(&out1);
    buf_free(&out2);
    buf_free(&pending);
    free(in);
}

static void check_bdat(const uint8_t *data, size_t size, unsigned seed)
{
    /* Expected: CR LF -> LF, everything else as is. */
    struct buf want;
    buf_init(&want, 0);
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
            continue;
        FUZZ_ASSERT(buf_putc(&want, (char)data[i]) == 0);
    }
    struct buf got;
    buf_init(&got, 0);
    struct bdat_decoder b;
    smtpd_bdat_decoder_init(&b, sink, &got);
    uint32_t state = seed;
    size_t off = 0;
    while (off < size) {
        size_t n = next_piece(&state, size - off);
        FUZZ_ASSERT(smtpd_bdat_decode(&b, (const char *)data + off, n) == 0);
        off += n;
    }
    FUZZ_ASSERT(smtpd_bdat_decode(&b, "", 0) == 0);
    FUZZ_ASSERT(smtpd_bdat_finish(&b) == 0);
    FUZZ_ASSERT(got.len == want.len);
    FUZZ_ASSERT(got.len == 0 || memcmp(got.data, want.data, got.len) == 0);
    buf_free(&want);
    buf_free(&got);
}

static void check_stuffing(const uint8_t *data, size_t size, unsigned seed)
{
    struct buf wire;
    buf_init(&wire, 0);
    struct smtp_stuff st;
    smtp_stuff_init(&st, 0);
    char *tmp = malloc(smtp_stuff_bound(size) + 8);
    FUZZ_ASSERT(tmp);
    uint32_t state = seed;
    size_t off = 0;
    while (off < size) {
        size_t n = next_piece(&state, size - off);
        size_t o = smtp_stuff(&st, (const char *)data + off, n, tmp);
        FUZZ_ASSERT(o <= smtp_stuff_bound(n));
        FUZZ_ASSERT(buf_append(&wire, tmp, o) == 0);
        off += n;
    }
    size_t o = smtp_stuff_end(&st, tmp);
    FUZZ_ASSERT(o <= 8);
    FUZZ_ASSERT(buf_append(&wire, tmp, o) == 0);
    free(tmp);

    struct buf got;
    buf_init(&got, 0);
    struct data_decoder d;
    smtpd_data_decoder_init(&d, BARE_NL_REJECT, sink, &got);
    size_t used = 0;
    enum data_status rc = smtpd_data_decode(&d, wire.data, wire.len, 8192, &used);
    FUZZ_ASSERT(rc == CD_END && used == wire.len);
    /* What comes back: every line end of the content (LF, CR LF, and a bare CR,
     * which goes out as CR LF against smuggling) as LF, and a final one added. */
    struct buf want;
    buf_init(&want, 0);
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\r' && i + 1 < size && data[i + 1] == '\n')
            continue;
        FUZZ_ASSERT(buf_putc(&want, data[i] == '\r' ? '\n' : (char)data[i]) == 0);
    }
    if (want.len && want.data[want.len - 1] != '\n')
        FUZZ_ASSERT(buf_putc(&want, '\n') == 0);
    FUZZ_ASSERT(got.len == want.len);
    FUZZ_ASSERT(got.len == 0 || memcmp(got.data, want.data, got.len) == 0);
    buf_free(&want);
    buf_free(&wire);
    buf_free(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0], seed = data[1];
    data += 2;
    size -= 2;
    if ((mode & 0xc0) == 0xc0)
        check_stuffing(data, size, seed);
    else if (mode & 0x80)
        check_bdat(data, size, seed);
    else
        check_data(data, size, mode, seed);
    return 0;
}
