/*
 * fuzz_hcheck.c - header_checks(5) over untrusted content
 * (src/lib-mail/hcheck.c on top of mime.c): logical headers, folding,
 * MIME classes, over-long lines and headers, the actions' edits.
 *
 * Input: byte 0 seeds how the rest is cut into pieces; the rest is the
 * message. The "tables" act on what the text contains: "ign" IGNORE,
 * "rep" REPLACE, "pre" PREPEND, "rej" REJECT, "hold" HOLD, "bcc" BCC.
 *
 * Invariants beyond "no crash":
 *  - without a match the output is the input, byte for byte;
 *  - fed whole or in pieces, the output, the verdict and every lookup are
 *    the same;
 *  - every text looked up is NUL-free up to its end and bounded
 *    (HC_HEADER_MAX for a header, HC_LINE_MAX for a body line).
 * max_len: 262144
 */
#include "fuzz.h"
#include "lib/buf.h"
#include "lib-mail/hcheck.h"

struct run {
    int act;
    struct buf out, seen;
};

static int lookup(void *ctx, enum hc_class cls, const char *text, struct buf *result)
{
    struct run *r = ctx;
    size_t n = strlen(text);
    FUZZ_ASSERT(n <= (cls == HC_BODY ? HC_LINE_MAX : HC_HEADER_MAX));
    if (r->seen.len < (1 << 20))
        buf_printf(&r->seen, "%d:%zu\n", (int)cls, n);
    if (!r->act)
        return 0;
    static const char *const rules[][2] = {
        {"ign", "IGNORE"}, {"rep", "REPLACE X-R: y"}, {"pre", "PREPEND X-P: z"},
        {"rej", "REJECT 4.7.1 no"}, {"hold", "HOLD h"}, {"bcc", "BCC a@b"}};
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strstr(text, rules[i][0])) {
            buf_printf(result, "%s", rules[i][1]);
            return 1;
        }
    return 0;
}

static int emit(void *ctx, const char *d, size_t n)
{
    struct run *r = ctx;
    return buf_append(&r->out, d, n);
}

static void run(const uint8_t *data, size_t size, unsigned seed, int act, struct run *r,
                char *verdict, size_t vlen)
{
    static const struct hc_ops ops = {lookup, emit, NULL};
    r->act = act;
    buf_init(&r->out, 0);
    buf_init(&r->seen, 0);
    struct hcheck *h = hcheck_new(&ops, r, 5000);
    uint32_t state = seed * 2654435761u + 1;
    for (size_t off = 0; off < size;) {
        size_t n = size - off;
        if (seed) {
            state = state * 1103515245u + 12345u;
            n = 1 + (state >> 16) % (n < 3000 ? n : 3000);
        }
        FUZZ_ASSERT(hcheck_feed(h, (const char *)data + off, n) == 0);
        off += n;
    }
    FUZZ_ASSERT(hcheck_finish(h) == 0);
    const struct hc_verdict *v = hcheck_verdict(h);
    snprintf(verdict, vlen, "%d %s %d %zu", v->reject, v->reject_text, v->hold, v->nbcc);
    hcheck_free(h);
}

static void same(struct run *a, struct run *b)
{
    FUZZ_ASSERT(a->out.len == b->out.len &&
                (a->out.len == 0 || memcmp(a->out.data, b->out.data, a->out.len) == 0));
    FUZZ_ASSERT(a->seen.len == b->seen.len &&
                (a->seen.len == 0 || memcmp(a->seen.data, b->seen.data, a->seen.len) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    data++;
    size--;
    char va[1200], vb[1200];
    struct run a, b;
    run(data, size, 0, 0, &a, va, sizeof(va));
    FUZZ_ASSERT(a.out.len == size && (size == 0 || memcmp(a.out.data, data, size) == 0));
    run(data, size, seed | 1, 0, &b, vb, sizeof(vb));
    same(&a, &b);
    buf_free(&a.out);
    buf_free(&a.seen);
    buf_free(&b.out);
    buf_free(&b.seen);
    run(data, size, 0, 1, &a, va, sizeof(va));
    run(data, size, seed | 1, 1, &b, vb, sizeof(vb));
    same(&a, &b);
    FUZZ_ASSERT(strcmp(va, vb) == 0);
    buf_free(&a.out);
    buf_free(&a.seen);
    buf_free(&b.out);
    buf_free(&b.seen);
    return 0;
}
