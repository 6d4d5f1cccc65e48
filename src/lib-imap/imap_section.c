/*
 * imap_section.c - section addressing and BINARY decoding (see
 * imap_section.h).
 */
#include "lib-imap/imap_section.h"
#include "lib-imap/imap_bodystructure.h"
#include "lib/buf.h"

#include <string.h>
#include <strings.h>

static int word_is(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

int imap_section_parse(const char *s, size_t len, struct imap_section_spec *spec, size_t *used)
{
    memset(spec, 0, sizeof(*spec));
    size_t i = 0;
    while (i < len && s[i] >= '1' && s[i] <= '9') {
        unsigned long v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && v <= 1000000)
            v = v * 10 + (unsigned long)(s[i++] - '0');
        if (v > 1000000 || spec->depth >= IMAP_SECTION_DEPTH_MAX)
            return -1;
        spec->path[spec->depth++] = (unsigned)v;
        if (i == len)
            break;
        if (s[i] != '.' || i + 1 == len)
            return -1;
        i++;
    }
    const char *w = s + i;
    size_t wl = len - i;
    /* HEADER.FIELDS ends at the list that follows (after a space) */
    size_t sp = 0;
    while (sp < wl && w[sp] != ' ' && w[sp] != '(')
        sp++;
    if (sp == 0 && spec->depth > 0 && i == len) {
        spec->kind = IMAP_SECTION_BODY;
    } else if (sp == 0 && i == 0 && wl == 0) {
        spec->kind = IMAP_SECTION_BODY;
    } else if (word_is(w, sp, "HEADER")) {
        spec->kind = IMAP_SECTION_HEADER;
    } else if (word_is(w, sp, "HEADER.FIELDS") || word_is(w, sp, "HEADER.FIELDS.NOT")) {
        spec->kind = IMAP_SECTION_HEADER;
        spec->header_fields = 1;
    } else if (word_is(w, sp, "TEXT")) {
        spec->kind = IMAP_SECTION_TEXT;
    } else if (word_is(w, sp, "MIME") && spec->depth > 0) {
        spec->kind = IMAP_SECTION_MIME;
    } else {
        return -1;
    }
    if (!spec->header_fields && sp != wl)
        return -1;
    if (used)
        *used = i + sp;
    return 0;
}

static const struct imap_part *nth_child(const struct imap_part *p, unsigned n)
{
    const struct imap_part *c = p->hide_children ? NULL : p->children;
    while (c && --n > 0)
        c = c->next;
    return c;
}

/* The part a path names; NULL when there is none. */
static const struct imap_part *resolve(const struct imap_msg *m, const unsigned *path, size_t depth)
{
    const struct imap_part *cur = m->root;
    int as_part = 0;                 /* cur was named as a part (else: as a message) */
    for (size_t i = 0; i < depth && cur; i++) {
        if (as_part && cur->kind == IMAP_PART_MESSAGE)
            cur = cur->children;     /* into the message inside */
        else if (as_part && cur->kind != IMAP_PART_MULTIPART)
            return NULL;             /* a leaf has no parts */
        if (!cur)
            return NULL;
        if (cur->kind == IMAP_PART_MULTIPART)
            cur = nth_child(cur, path[i]);
        else if (path[i] != 1)
            return NULL;
        as_part = 1;
    }
    return cur;
}

int imap_section_find(const struct imap_msg *m, const struct imap_section_spec *spec,
                      struct imap_section *out)
{
    const struct imap_part *p = resolve(m, spec->path, spec->depth);
    if (!p)
        return -1;
    out->part = p;
    const struct imap_part *msg = p;
    if (spec->depth > 0 && (spec->kind == IMAP_SECTION_HEADER || spec->kind == IMAP_SECTION_TEXT)) {
        if (p->kind != IMAP_PART_MESSAGE || !p->children)
            return -1;
        msg = p->children;
    }
    switch (spec->kind) {
    case IMAP_SECTION_BODY:
        out->offset = spec->depth ? p->body_offset : p->header_offset;
        out->len = p->end_offset - out->offset;
        break;
    case IMAP_SECTION_MIME:
        out->offset = p->header_offset;
        out->len = p->body_offset - p->header_offset;
        break;
    case IMAP_SECTION_HEADER:
        out->offset = msg->header_offset;
        out->len = msg->body_offset - msg->header_offset;
        break;
    case IMAP_SECTION_TEXT:
        out->offset = msg->body_offset;
        out->len = msg->end_offset - msg->body_offset;
        break;
    }
    return 0;
}

static void on_body(void *ctx, const struct mime_part *p, const char *data, size_t len)
{
    (void)p;
    buf_append(ctx, data, len);
}

int imap_binary_decode(const struct imap_section *s, const char *msg, struct buf *out)
{
    const struct imap_part *p = s->part;
    const char *body = msg + s->offset;
    int leaf = p->kind == IMAP_PART_TEXT || p->kind == IMAP_PART_BASIC;
    int whole = s->offset != p->body_offset || s->len != p->end_offset - p->body_offset;
    if (!leaf || whole || (p->cte != MIME_BASE64 && p->cte != MIME_QP)) {
        if (leaf && !whole && p->cte == MIME_CTE_OTHER)
            return IMAP_BINARY_UNKNOWN_CTE;
        return buf_append(out, body, s->len);
    }
    /* the MIME parser decodes a part with just this header */
    static const struct mime_callbacks cb = {NULL, on_body, NULL};
    struct buf t;
    buf_init(&t, 0);
    struct mime_parser *mp = mime_parser_new(MIME_DECODE, &cb, &t);
    const char *hdr = p->cte == MIME_BASE64 ? "Content-Transfer-Encoding: base64\r\n\r\n"
                                            : "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
    mime_feed(mp, hdr, strlen(hdr));
    mime_feed(mp, body, s->len);
    mime_finish(mp);
    mime_parser_free(mp);
    int rc = buf_append(out, t.data ? t.data : "", t.len);
    buf_free(&t);
    return rc;
}
