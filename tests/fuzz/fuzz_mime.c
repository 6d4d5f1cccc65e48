/*
 * fuzz_mime.c - messages as the one message parser reads them
 * (src/lib-mail/header.c and mime.c): header sections with folding and
 * limits, RFC 2047 words, charsets, MIME trees with nesting, boundaries,
 * message/rfc822, base64/QP decoding, RFC 2231 parameters. Every message
 * that arrives is untrusted.
 *
 * Input: byte 0 seeds how the rest is cut into pieces for mime_feed; the
 * rest is the message.
 *
 * Invariants beyond "no crash":
 *  - fed whole or in pieces, the parser reports the same parts with the
 *    same offsets, line counts and decoded bytes;
 *  - part 0 spans the whole input; every part's offsets are ordered
 *    (header <= body <= end <= input length) and depths stay within
 *    MIME_DEPTH_MAX; no more than MIME_PARTS_MAX parts;
 *  - hdr_next's fields lie inside the input, end with their line end,
 *    and the section length never passes the input.
 * max_len: 65536
 */
#include "fuzz.h"
#include "lib/buf.h"
#include "lib-mail/header.h"
#include "lib-mail/mime.h"

struct run {
    struct buf tree, body;
    size_t size;
};

static void on_body(void *ctx, const struct mime_part *p, const char *d, size_t n)
{
    struct run *r = ctx;
    (void)p;
    if (r->body.len < 1 << 20)
        buf_append(&r->body, d, n);
}

static void on_end(void *ctx, const struct mime_part *p)
{
    struct run *r = ctx;
    FUZZ_ASSERT(p->depth >= 0 && p->depth <= MIME_DEPTH_MAX);
    FUZZ_ASSERT(p->header_offset <= p->body_offset && p->body_offset <= p->end_offset);
    FUZZ_ASSERT(p->end_offset <= r->size);
    if (p->depth == 0)
        FUZZ_ASSERT(p->header_offset == 0 && p->end_offset == r->size);
    buf_printf(&r->tree, "%d %zu %s/%s %zu %zu %zu %zu\n", p->depth, p->index, p->type,
               p->subtype, p->header_offset, p->body_offset, p->end_offset, p->lines);
}

static void parse(const uint8_t *data, size_t size, unsigned seed, struct run *r)
{
    static const struct mime_callbacks cb = {NULL, on_body, on_end};
    buf_init(&r->tree, 0);
    buf_init(&r->body, 0);
    r->size = size;
    struct mime_parser *m = mime_parser_new(MIME_UTF8, &cb, r);
    uint32_t state = seed * 2654435761u + 1;
    for (size_t off = 0; off < size;) {
        size_t n = size - off;
        if (seed) {
            state = state * 1103515245u + 12345u;
            n = 1 + (state >> 16) % (n < 300 ? n : 300);
        }
        mime_feed(m, (const char *)data + off, n);
        off += n;
    }
    mime_finish(m);
    FUZZ_ASSERT(mime_parts(m) <= MIME_PARTS_MAX);
    mime_parser_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    data++;
    size--;
    struct run whole, pieces;
    parse(data, size, 0, &whole);
    parse(data, size, seed | 1, &pieces);
    FUZZ_ASSERT(whole.tree.len == pieces.tree.len &&
                memcmp(buf_cstr(&whole.tree), buf_cstr(&pieces.tree), whole.tree.len) == 0);
    FUZZ_ASSERT(whole.body.len == pieces.body.len &&
                memcmp(buf_cstr(&whole.body), buf_cstr(&pieces.body), whole.body.len) == 0);
    buf_free(&whole.tree);
    buf_free(&whole.body);
    buf_free(&pieces.tree);
    buf_free(&pieces.body);

    /* the header parser on its own, with limits, and the words in each field */
    struct hdr_reader hr;
    struct hdr_field f;
    hdr_reader_init(&hr, (const char *)data, size, 64, 4096);
    struct buf v;
    buf_init(&v, 64 * 1024);
    while (hdr_next(&hr, &f)) {
        FUZZ_ASSERT(f.start >= (const char *)data && f.start + f.len <= (const char *)data + size);
        FUZZ_ASSERT(f.len <= 4096 && f.name_len > 0 && f.value == f.start + f.name_len + 1);
        buf_reset(&v);
        hdr_unfold(&f, &v);
        hdr_decode_words(f.value, f.value_len, &v);
        buf_reset(&v);
        mime_param(f.value, f.value_len, "boundary", &v);
    }
    FUZZ_ASSERT(hdr_section_length(&hr) <= size);
    buf_free(&v);
    return 0;
}
