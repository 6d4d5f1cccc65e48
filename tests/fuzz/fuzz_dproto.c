/*
 * fuzz_dproto.c - the delivery request protocol between qmgr and the
 * delivery agents (src/lib/dproto.c): request lines as an agent parses
 * them (dproto_parse_request_line), status lines as qmgr parses them
 * (dproto_parse_status), the per-recipient <extra> field
 * (dproto_extra_parse), forward lists (dproto_forward_split) and the
 * protocol's xtext (dproto_xtext_decode).
 *
 * Input: byte 0 picks the parser; the rest is the text (lines split at
 * LF for requests and statuses).
 *
 * Invariants beyond "no crash":
 *  - a complete request encodes (dproto_encode_request) and that text
 *    parses, line by line, to a request that encodes to the same text;
 *  - a parsed status formats (dproto_format_status) and parses back to
 *    the same idx, class, dsn, relay and text (control characters in the
 *    text become spaces, as the formatter documents);
 *  - <extra>: format(parse(x)) parses to the same struct dextra, and
 *    "-" is what an all-default extra formats to;
 *  - forward lists: join(split(x)) splits to the same addresses;
 *  - xtext: decode(encode(s)) == s, and decoding anything stays in bounds.
 * max_len: 8192
 */
#include "fuzz.h"
#include "lib-queue/dproto.h"

static void check_request(char *text)
{
    struct dreq r;
    dproto_init_request(&r);
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        rc = dproto_parse_request_line(&r, line);
        FUZZ_ASSERT(rc >= -1 && rc <= 1);
        if (rc != 0)
            break;
    }
    if (rc == 1) {
        FUZZ_ASSERT(r.sender && r.nrcpts > 0 && r.nrcpts <= DPROTO_RCPT_MAX);
        (void)dproto_attr(&r, "nexthop");
        char *enc = dproto_encode_request(&r);
        if (!enc) {
            fprintf(stderr, "parsed request does not encode\n");
            FUZZ_ASSERT(!"what the parser accepts, the encoder writes");
        }
        struct dreq r2;
        dproto_init_request(&r2);
        char *copy = xstrdup(enc);
        int rc2 = 0;
        char *save2 = NULL;
        for (char *line = strtok_r(copy, "\n", &save2); line; line = strtok_r(NULL, "\n", &save2))
            if ((rc2 = dproto_parse_request_line(&r2, line)) != 0)
                break;
        FUZZ_ASSERT(rc2 == 1);
        char *enc2 = dproto_encode_request(&r2);
        FUZZ_ASSERT(enc2 && strcmp(enc, enc2) == 0);
        for (size_t i = 0; i < r.nrcpts; i++) {
            struct dextra x;
            (void)dproto_extra_parse(r.rcpts[i].extra, &x);
        }
        free(enc2);
        free(copy);
        free(enc);
        dproto_free_request(&r2);
    } else if (rc == -1) {
        FUZZ_ASSERT(r.error);
    }
    dproto_free_request(&r);
}

static void check_status(char *text)
{
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        struct dstatus s;
        memset(&s, 0, sizeof(s));
        int rc = dproto_parse_status(line, &s);
        FUZZ_ASSERT(rc >= -1 && rc <= 1);
        if (rc != 1)
            continue;
        FUZZ_ASSERT(strlen(s.text) < sizeof(s.text) && strlen(s.relay) < sizeof(s.relay));
        char out[DPROTO_LINE_MAX + 16];
        if (dproto_format_status(&s, out, sizeof(out)) < 0) {
            fprintf(stderr, "parsed status does not format: %s\n", line);
            FUZZ_ASSERT(!"what the parser accepts, the formatter writes");
        }
        /* The formatter writes control characters of the text as spaces (documented). */
        for (char *p = s.text; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                *p = ' ';
        struct dstatus t;
        memset(&t, 0, sizeof(t));
        FUZZ_ASSERT(dproto_parse_status(out, &t) == 1);
        if (t.idx != s.idx || strcmp(t.cls, s.cls) != 0 || strcmp(t.dsn, s.dsn) != 0 ||
            strcmp(t.text, s.text) != 0 || strcmp(t.relay, s.relay) != 0) {
            fprintf(stderr, "status \"%s\" -> \"%s\"\n", line, out);
            FUZZ_ASSERT(!"status round trip");
        }
        if (strcmp(s.cls, "forward") == 0) {
            char **v = dproto_forward_split(s.text);
            strv_free(v);
        }
    }
}

static int extra_equal(const struct dextra *a, const struct dextra *b)
{
    return strcmp(a->alias, b->alias) == 0 && strcmp(a->target, b->target) == 0 &&
           strcmp(a->include, b->include) == 0 && strcmp(a->cls, b->cls) == 0 &&
           a->direct == b->direct && a->notify == b->notify && strcmp(a->orcpt, b->orcpt) == 0;
}

static void check_extra(const char *s)
{
    struct dextra x;
    if (dproto_extra_parse(s, &x) < 0)
        return;
    char out[DPROTO_LINE_MAX];
    if (dproto_extra_format(&x, out, sizeof(out)) < 0)
        return;   /* too long once encoded: the writer refuses it */
    struct dextra y;
    if (dproto_extra_parse(out, &y) != 0 || !extra_equal(&x, &y)) {
        fprintf(stderr, "extra \"%s\" -> \"%s\"\n", s, out);
        FUZZ_ASSERT(!"extra round trip");
    }
    struct dextra d;
    dproto_extra_init(&d);
    if (extra_equal(&x, &d))
        FUZZ_ASSERT(strcmp(out, "-") == 0);
}

static void check_forward(const char *s)
{
    char **v = dproto_forward_split(s);
    if (!v)
        return;
    size_t n = strv_len(v);
    char out[DPROTO_LINE_MAX];
    if (dproto_forward_join(v, n, out, sizeof(out)) == 0) {
        char **w = dproto_forward_split(out);
        FUZZ_ASSERT(w && strv_len(w) == n);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(strcmp(v[i], w[i]) == 0);
        strv_free(w);
    }
    strv_free(v);
}

static void check_xtext(const char *s)
{
    char enc[4 * DPROTO_LINE_MAX], dec[4 * DPROTO_LINE_MAX];
    (void)dproto_xtext_decode(s, dec, sizeof(dec));
    (void)dproto_xtext_decode(s, dec, 8);
    if (dproto_xtext_encode(s, enc, sizeof(enc)) < 0)
        return;
    FUZZ_ASSERT(!strpbrk(enc, ",= \t\r\n"));
    FUZZ_ASSERT(dproto_xtext_decode(enc, dec, sizeof(dec)) == 0);
    FUZZ_ASSERT(strcmp(dec, s) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_quiet();
    unsigned mode = data[0] % 5;
    char *s = fuzz_strndup(data + 1, size - 1);
    switch (mode) {
    case 0: check_request(s); break;
    case 1: check_status(s); break;
    case 2: check_extra(s); break;
    case 3: check_forward(s); break;
    case 4: check_xtext(s); break;
    }
    free(s);
    return 0;
}
