/* Unit tests for src/smtpd/content.c: end-of-data, smuggling, dot unstuffing, BDAT. */
#include "t.h"
#include "lib/buf.h"
#include "smtpd/content.h"

#include <string.h>

static int sink(void *arg, const char *d, size_t n)
{
    return buf_append(arg, d, n);
}

/* Feed all of `in` at once; returns status, output in out, consumed in *used. */
static enum data_status run(const char *in, enum bare_nl_policy pol, struct buf *out, size_t *used)
{
    struct data_decoder d;
    buf_reset(out);
    smtpd_data_decoder_init(&d, pol, sink, out);
    return smtpd_data_decode(&d, in, strlen(in), 1000, used);
}

/* Feed byte by byte: the result must not depend on how TCP split the input. */
static enum data_status run_bytes(const char *in, enum bare_nl_policy pol, struct buf *out,
                                  size_t *used)
{
    struct data_decoder d;
    buf_reset(out);
    smtpd_data_decoder_init(&d, pol, sink, out);
    char pending[2048];
    size_t np = 0, total = 0;
    for (size_t i = 0; in[i]; i++) {
        pending[np++] = in[i];
        size_t u;
        enum data_status st = smtpd_data_decode(&d, pending, np, 1000, &u);
        memmove(pending, pending + u, np - u);
        np -= u;
        total += u;
        if (st != CD_MORE) {
            *used = total;
            return st;
        }
    }
    *used = total;
    return CD_MORE;
}

static void test_simple_end(void)
{
    struct buf out;
    buf_init(&out, 0);
    size_t used;
    const char *in = "Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
    CHECK_INT(run(in, BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_STR(buf_cstr(&out), "Subject: x\n\nhello\n");
    CHECK_INT(used, strlen("Subject: x\r\n\r\nhello\r\n.\r\n"));
    CHECK_INT(run_bytes(in, BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_STR(buf_cstr(&out), "Subject: x\n\nhello\n");
    buf_free(&out);
}

static void test_empty_message(void)
{
    struct buf out;
    buf_init(&out, 0);
    size_t used;
    CHECK_INT(run(".\r\n", BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_STR(buf_cstr(&out), "");
    CHECK_INT(used, 3);
    buf_free(&out);
}

static void test_dot_unstuffing(void)
{
    struct buf out;
    buf_init(&out, 0);
    size_t used;
    CHECK_INT(run("..\r\n...x\r\n.a.\r\n a.\r\n.\r\n", BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_STR(buf_cstr(&out), ".\n..x\na.\n a.\n");
    buf_free(&out);
}

/* The SMTP smuggling family: none of these may end the message. */
static void test_smuggling_variants_are_content(void)
{
    static const char *variants[] = {
        "a\r\n.\nMAIL FROM:<x@evil>\r\n",
        "a\n.\r\nMAIL FROM:<x@evil>\r\n",
        "a\n.\nMAIL FROM:<x@evil>\r\n",
        "a\r.\r\nMAIL FROM:<x@evil>\r\n",
        "a\r\n.\r.\r\nMAIL FROM:<x@evil>\r\n",
        "a\r\n\x00.\r\nMAIL FROM:<x@evil>\r\n",
    };
    struct buf out;
    buf_init(&out, 0);
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        size_t used;
        CHECK_INT(run(variants[i], BARE_NL_NORMALIZE, &out, &used), CD_MORE);
        CHECK_INT(run_bytes(variants[i], BARE_NL_NORMALIZE, &out, &used), CD_MORE);
        CHECK_INT(run(variants[i], BARE_NL_ALLOW, &out, &used), CD_MORE);
        CHECK(strstr(buf_cstr(&out), "MAIL FROM") != NULL || i == 5);
    }
    /* After a bare-LF line, a proper ".\r\n" still needs a CRLF before it. */
    size_t used;
    CHECK_INT(run("a\n.\r\nb\r\n.\r\n", BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_STR(buf_cstr(&out), "a\n.\nb\n");
    buf_free(&out);
}

static void test_bare_lf_reject(void)
{
    struct buf out;
    buf_init(&out, 0);
    size_t used;
    CHECK_INT(run("ok\r\nbad\nx\r\n.\r\n", BARE_NL_REJECT, &out, &used), CD_BARE_LF);
    CHECK_INT(run("ok\r\nfine\r\n.\r\n", BARE_NL_REJECT, &out, &used), CD_END);
    buf_free(&out);
}

static void test_long_line_passes_through(void)
{
    struct buf out;
    buf_init(&out, 0);
    char in[5000];
    memset(in, 'x', 3000);
    in[0] = '.';
    in[1] = '.';
    memcpy(in + 3000, "\r\n.\r\n", 6);
    size_t used;
    CHECK_INT(run(in, BARE_NL_NORMALIZE, &out, &used), CD_END);
    CHECK_INT(out.len, 3000);
    /* In small pieces with a small hold limit the long line is passed on in parts. */
    struct data_decoder d;
    buf_reset(&out);
    smtpd_data_decoder_init(&d, BARE_NL_NORMALIZE, sink, &out);
    size_t off = 0, len = strlen(in);
    enum data_status st = CD_MORE;
    while (off < len && st == CD_MORE) {
        size_t chunk = len - off > 700 ? 700 : len - off, u;
        st = smtpd_data_decode(&d, in + off, chunk, 100, &u);
        off += u;
        if (u == 0 && st == CD_MORE)
            break;
    }
    CHECK_INT(st, CD_END);
    CHECK_INT(out.len, 3000);           /* one dot removed, LF added */
    CHECK(out.data[0] == '.' && out.data[1] == 'x');
    CHECK(out.data[2998] == 'x' && out.data[2999] == '\n');
    buf_free(&out);
}

static void test_bdat(void)
{
    struct buf out;
    buf_init(&out, 0);
    struct bdat_decoder b;
    smtpd_bdat_decoder_init(&b, sink, &out);
    static const char *chunks[] = {"a\r\nb\r", "\nc\rd\n.\r\n", "e\r"};
    for (size_t i = 0; i < 3; i++)
        CHECK_INT(smtpd_bdat_decode(&b, chunks[i], strlen(chunks[i])), 0);
    CHECK_INT(smtpd_bdat_finish(&b), 0);
    /* CRLF→LF across the chunk boundary; bare CR and bare LF kept; no dot rules. */
    CHECK_STR(buf_cstr(&out), "a\nb\nc\rd\n.\ne\r");
    buf_free(&out);
}

static void test_policy_parse(void)
{
    CHECK_INT(smtpd_bare_nl_policy_parse("normalize"), BARE_NL_NORMALIZE);
    CHECK_INT(smtpd_bare_nl_policy_parse("yes"), BARE_NL_REJECT);
    CHECK_INT(smtpd_bare_nl_policy_parse("no"), BARE_NL_ALLOW);
}

int main(void)
{
    T_RUN(test_simple_end);
    T_RUN(test_empty_message);
    T_RUN(test_dot_unstuffing);
    T_RUN(test_smuggling_variants_are_content);
    T_RUN(test_bare_lf_reject);
    T_RUN(test_long_line_passes_through);
    T_RUN(test_bdat);
    T_RUN(test_policy_parse);
    return T_DONE();
}
