/*
 * fuzz_dsn.c - bounce, delay and success notifications (src/lib/dsn.c:
 * dsn_build), whose inputs are largely untrusted: the envelope sender,
 * ENVID, ORCPT and recipient addresses came from an SMTP client, the
 * diagnostic texts and remote MTA names from remote servers, and the
 * original message (whose header section is found and cut at a line
 * boundary) from anyone.
 *
 * Input: byte 0 picks kind, RET, SMTPUTF8 and the number of recipients,
 * byte 1 the bounce_size_limit; then NUL-separated fields: sender, ENVID,
 * queue ID, and per recipient final recipient, original recipient,
 * status, diagnostic, remote MTA, action; the rest is the original
 * message.
 *
 * Invariants beyond "no crash":
 *  - the notification is LF-only text: no CR or NUL outside the returned
 *    original, and no line longer than 998 bytes outside it;
 *  - its header section is made of "Name: value" lines and continuation
 *    lines, and ends at the first empty line;
 *  - the MIME boundary of the Content-Type header delimits the parts:
 *    "--boundary" 2 or 3 times and "--boundary--" last, and never occurs
 *    inside the returned original;
 *  - the returned original is the message itself (when returned in full)
 *    or a prefix of it that ends at a line boundary and is no longer than
 *    bounce_size_limit.
 * FUZZ_TRACE=1 in the environment prints the notification.
 * max_len: 8192
 */
#include "fuzz.h"
#include "lib-mail/dsn.h"

#include <string.h>

static int header_line_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    if (s[0] == ' ' || s[0] == '\t')
        return 1;
    const char *colon = memchr(s, ':', n);
    if (!colon || colon == s)
        return 0;
    for (const char *p = s; p < colon; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

static void check_output(const struct buf *out, const uint8_t *orig, size_t olen, size_t limit)
{
    const char *d = out->data;
    size_t n = out->len;
    /* Header section. */
    size_t i = 0;
    const char *boundary = NULL;
    size_t blen = 0;
    int in_ctype = 0;         /* inside the Content-Type header (its first line or a continuation) */
    for (;;) {
        const char *nl = memchr(d + i, '\n', n - i);
        FUZZ_ASSERT(nl);
        size_t ll = (size_t)(nl - (d + i));
        if (ll == 0) {
            i++;
            break;
        }
        FUZZ_ASSERT(header_line_ok(d + i, ll));
        if (d[i] != ' ' && d[i] != '\t')
            in_ctype = ll >= 13 && memcmp(d + i, "Content-Type:", 13) == 0;
        const char *b = in_ctype ? memmem(d + i, ll, "boundary=\"", 10) : NULL;
        if (b) {
            boundary = b + 10;
            const char *q = memchr(boundary, '"', ll - (size_t)(boundary - (d + i)));
            FUZZ_ASSERT(q);
            blen = (size_t)(q - boundary);
        }
        i += ll + 1;
    }
    FUZZ_ASSERT(boundary && blen > 0);
    char delim[128], last[128];
    FUZZ_ASSERT(blen + 5 < sizeof(delim));
    str_fmt(delim, sizeof(delim), "--%.*s\n", (int)blen, boundary);
    str_fmt(last, sizeof(last), "--%.*s--\n", (int)blen, boundary);
    /* The body: every delimiter line, and where part 3's content lies. */
    int parts = 0, ended = 0;
    size_t p3_start = 0, p3_end = 0;
    int in_p3 = 0, p3_body = 0;
    while (i < n) {
        const char *nl = memchr(d + i, '\n', n - i);
        FUZZ_ASSERT(nl);
        size_t ll = (size_t)(nl - (d + i)) + 1;
        if (ll == strlen(delim) && memcmp(d + i, delim, ll) == 0) {
            FUZZ_ASSERT(!ended);
            if (in_p3)
                p3_end = i;
            parts++;
            in_p3 = parts == 3;
            p3_body = 0;
        } else if (ll == strlen(last) && memcmp(d + i, last, ll) == 0) {
            FUZZ_ASSERT(!ended);
            ended = 1;
            if (in_p3)
                p3_end = i;
            in_p3 = 0;
        } else if (in_p3 && !p3_body) {
            if (ll == 1) {
                p3_body = 1;
                p3_start = i + 1;
            }
        } else if (!in_p3) {
            FUZZ_ASSERT(!ended);
            FUZZ_ASSERT(ll <= 999);
            FUZZ_ASSERT(!memchr(d + i, '\r', ll) && !memchr(d + i, '\0', ll));
        }
        i += ll;
    }
    FUZZ_ASSERT(ended && (parts == 2 || parts == 3));
    if (parts == 3) {
        /* The original, then the empty line before the closing delimiter. */
        FUZZ_ASSERT(p3_body && p3_end > p3_start);
        size_t got = p3_end - p3_start - 1;
        const char *g = d + p3_start;
        FUZZ_ASSERT(!memmem(g, got, boundary, blen));
        int full = got == olen || (got == olen + 1 && olen && orig[olen - 1] != '\n');
        if (!full || memcmp(g, orig, olen) != 0) {
            FUZZ_ASSERT(got <= olen && got <= limit && memcmp(g, orig, got) == 0);
            FUZZ_ASSERT(got == 0 || g[got - 1] == '\n');
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_quiet();
    unsigned flags = data[0];
    static const size_t limits[] = {50000, 0, 1, 10, 100, 200, 1000, 4096};
    size_t limit = limits[data[1] % 8];
    struct fuzz_in in = {data + 2, size - 2};
    enum dsn_kind kind = (enum dsn_kind)(flags % 3);
    char *sender = fuzz_field(&in), *envid = fuzz_field(&in), *qid = fuzz_field(&in);
    size_t nr = 1 + ((flags >> 5) & 3);
    struct dsn_rcpt r[4];
    char *strs[4][5];
    for (size_t i = 0; i < nr; i++) {
        for (int k = 0; k < 5; k++)
            strs[i][k] = fuzz_field(&in);
        r[i] = (struct dsn_rcpt){
            .final_rcpt = strs[i][0],
            .orig_rcpt = *strs[i][1] ? strs[i][1] : NULL,
            .action = (enum dsn_action)(fuzz_byte(&in) % 5),
            .status = strs[i][2],
            .diag = *strs[i][3] ? strs[i][3] : NULL,
            .remote_mta = *strs[i][4] ? strs[i][4] : NULL,
            .last_attempt_usec = i ? 1700000000000000ull : 0,
            .will_retry_until_usec = 1700500000000000ull,
        };
    }
    struct dsn_config cfg = {"mx.example.test", "yubin", limit};
    struct dsn_envelope env = {
        .qid = *qid ? qid : NULL,
        .sender = sender,
        .envid = *envid ? envid : NULL,
        .ret = (int)((flags >> 2) % 3) - 1,
        .arrival_usec = 1699990000000000ull,
        .smtputf8 = (flags >> 4) & 1,
    };
    struct dsn_content content = {.data = (const char *)in.p, .fd = -1, .length = in.n};
    struct buf out;
    buf_init(&out, 0);
    char err[256];
    int rc = dsn_build(&cfg, kind, &env, r, nr, &content, &out, err, sizeof(err));
    if (rc == 0 && getenv("FUZZ_TRACE"))
        fprintf(stderr, "%.*s", (int)out.len, out.data);
    if (rc == 0)
        check_output(&out, in.p, in.n, limit);
    else
        FUZZ_ASSERT(!*sender || !*r[0].final_rcpt || (nr > 1 && (!*r[1].final_rcpt ||
                    (nr > 2 && (!*r[2].final_rcpt || (nr > 3 && !*r[3].final_rcpt))))));
    buf_free(&out);
    for (size_t i = 0; i < nr; i++)
        for (int k = 0; k < 5; k++)
            free(strs[i][k]);
    free(sender);
    free(envid);
    free(qid);
    return 0;
}
