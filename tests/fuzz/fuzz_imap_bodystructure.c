/*
 * fuzz_imap_bodystructure.c - messages as IMAP's BODY, BODYSTRUCTURE,
 * ENVELOPE and section addressing read them (src/lib-imap/
 * imap_bodystructure.c, imap_mimefields.c, imap_envelope.c,
 * imap_bsquote.c, imap_section.c, over lib-mail's MIME parser in
 * MIME_IMAP mode). Every message that arrives is untrusted, and what
 * these functions write goes to clients and into the index cache.
 *
 * Input: byte 0 seeds how the rest is cut into pieces for
 * imap_msg_parser_feed; the rest is the message.
 *
 * Invariants beyond "no crash":
 *  - BODY, BODYSTRUCTURE and ENVELOPE are each one well-formed IMAP
 *    parenthesised list: balanced parentheses, NIL, numbers, quoted
 *    strings without CR, LF or 8-bit bytes, literals whose length is
 *    right and that hold no NUL;
 *  - fed whole or in pieces, the output is the same;
 *  - every part's ranges (BODY[n], n.MIME, n.HEADER, n.TEXT) lie inside
 *    the message, and BINARY of each decodes or says UNKNOWN-CTE;
 *  - PREVIEW is one well-formed string of at most 200 characters.
 * max_len: 65536
 */
#include "fuzz.h"
#include "lib/buf.h"
#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_preview.h"
#include "lib-imap/imap_section.h"

#include <ctype.h>

/* One IMAP value starting at s[*i]; 0 when it is not well formed. */
static int value_ok(const char *s, size_t len, size_t *i, int depth)
{
    if (*i >= len || depth > 200)
        return 0;
    char c = s[*i];
    if (c == '(') {
        (*i)++;
        if (*i < len && s[*i] == ')') {
            (*i)++;
            return 1;
        }
        for (;;) {
            if (!value_ok(s, len, i, depth + 1))
                return 0;
            if (*i < len && s[*i] == ')') {
                (*i)++;
                return 1;
            }
            /* a space between elements, or none in BODYSTRUCTURE's "(a)(b)" */
            if (*i < len && s[*i] == ' ')
                (*i)++;
            else if (!(*i < len && s[*i] == '(' && s[*i - 1] == ')'))
                return 0;
        }
    }
    if (c == '"') {
        for ((*i)++; *i < len && s[*i] != '"'; (*i)++) {
            if (s[*i] == '\\')
                (*i)++;
            if (*i >= len || s[*i] == '\r' || s[*i] == '\n' || (unsigned char)s[*i] >= 0x80 ||
                s[*i] == '\0')
                return 0;
        }
        if (*i >= len)
            return 0;
        (*i)++;
        return 1;
    }
    if (c == '{') {
        size_t n = 0, d = 0;
        for ((*i)++; *i < len && isdigit((unsigned char)s[*i]) && d < 12; (*i)++, d++)
            n = n * 10 + (size_t)(s[*i] - '0');
        if (d == 0 || len - *i < 3 || memcmp(s + *i, "}\r\n", 3) != 0 || len - *i - 3 < n ||
            memchr(s + *i + 3, '\0', n))
            return 0;
        *i += 3 + n;
        return 1;
    }
    if (isdigit((unsigned char)c)) {
        while (*i < len && isdigit((unsigned char)s[*i]))
            (*i)++;
        return 1;
    }
    if (len - *i >= 3 && memcmp(s + *i, "NIL", 3) == 0) {
        *i += 3;
        return 1;
    }
    return 0;
}

static void check_list(const struct buf *b)
{
    size_t i = 0;
    FUZZ_ASSERT(b->len > 0 && b->data[0] == '(');
    FUZZ_ASSERT(value_ok(b->data, b->len, &i, 0));
    FUZZ_ASSERT(i == b->len);
}

static void render(const struct imap_msg *m, struct buf *out)
{
    buf_init(out, 0);
    imap_bodystructure_write(m, 0, out);
    buf_putc(out, '\n');
    imap_bodystructure_write(m, 1, out);
    buf_putc(out, '\n');
    imap_msg_envelope_write(m, out);
}

/* Every path of numbers 1..3 up to 3 deep, each kind: ranges inside the message. */
static void check_sections(const struct imap_msg *m, const char *msg, size_t size,
                           struct imap_section_spec *spec)
{
    static const enum imap_section_kind kinds[] = {
        IMAP_SECTION_BODY, IMAP_SECTION_MIME, IMAP_SECTION_HEADER, IMAP_SECTION_TEXT,
    };
    int found = 0;
    for (size_t k = 0; k < 4; k++) {
        if (kinds[k] == IMAP_SECTION_MIME && spec->depth == 0)
            continue;
        spec->kind = kinds[k];
        struct imap_section s;
        if (imap_section_find(m, spec, &s) < 0)
            continue;
        found = 1;
        FUZZ_ASSERT(s.offset <= size && s.len <= size - s.offset);
        if (kinds[k] == IMAP_SECTION_BODY) {
            struct buf b;
            buf_init(&b, 0);
            int rc = imap_binary_decode(&s, msg, &b);
            FUZZ_ASSERT(rc == 0 || rc == IMAP_BINARY_UNKNOWN_CTE);
            buf_free(&b);
        }
    }
    if (!found || spec->depth >= 3)
        return;
    for (unsigned n = 1; n <= 3; n++) {
        spec->path[spec->depth++] = n;
        check_sections(m, msg, size, spec);
        spec->depth--;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    unsigned seed = data[0];
    const char *msg = (const char *)data + 1;
    size--;

    struct imap_msg *whole = imap_msg_parse(msg, size);
    struct imap_msg_parser *mp = imap_msg_parser_new();
    uint32_t state = seed * 2654435761u + 1;
    for (size_t off = 0; off < size;) {
        state = state * 1103515245u + 12345u;
        size_t n = 1 + (state >> 16) % (size - off < 300 ? size - off : 300);
        imap_msg_parser_feed(mp, msg + off, n);
        off += n;
    }
    struct imap_msg *pieces = imap_msg_parser_finish(mp);

    struct buf a, b;
    render(whole, &a);
    render(pieces, &b);
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    buf_free(&b);
    buf_free(&a);

    for (int ext = 0; ext <= 1; ext++) {
        buf_init(&a, 0);
        imap_bodystructure_write(whole, ext, &a);
        check_list(&a);
        buf_free(&a);
    }
    buf_init(&a, 0);
    imap_msg_envelope_write(whole, &a);
    check_list(&a);
    buf_free(&a);

    buf_init(&a, 0);
    imap_preview_text(whole, msg, size, &a);
    size_t chars = 0;
    for (size_t i = 0; i < a.len; i++)
        chars += ((unsigned char)a.data[i] & 0xc0) != 0x80;
    FUZZ_ASSERT(chars <= IMAP_PREVIEW_CHARS + 1);
    buf_reset(&a);
    imap_preview_write(whole, msg, size, &a);
    size_t at = 0;
    FUZZ_ASSERT(value_ok(a.data, a.len, &at, 0) && at == a.len);
    buf_free(&a);

    struct imap_section_spec spec;
    memset(&spec, 0, sizeof(spec));
    check_sections(whole, msg, size, &spec);

    imap_msg_free(whole);
    imap_msg_free(pieces);
    return 0;
}
