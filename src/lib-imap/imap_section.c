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

/*
 * The part a path names; NULL when there is none. As Dovecot walks it: a
 * multipart's number picks a child; any other part is only "1", and then
 * only at the end of the path unless it is a message/rfc822 (whose next
 * number goes into the message inside).
 */
static const struct imap_part *resolve(const struct imap_msg *m,
                                       const struct imap_section_spec *spec)
{
    const struct imap_part *cur = m->root;
    for (size_t i = 0; i < spec->depth && cur; i++) {
        int more = i + 1 < spec->depth;
        if (cur->kind == IMAP_PART_MULTIPART)
            cur = nth_child(cur, spec->path[i]);
        else if (spec->path[i] != 1 || (more && cur->kind != IMAP_PART_MESSAGE))
            return NULL;
        if (cur && cur->kind == IMAP_PART_MESSAGE && i + 1 < spec->depth)
            cur = cur->children;     /* the next number is inside the message */
    }
    return cur;
}

int imap_section_find(const struct imap_msg *m, const struct imap_section_spec *spec,
                      struct imap_section *out)
{
    const struct imap_part *p = resolve(m, spec);
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

/* What FETCH sends of raw bytes: every bare LF as CRLF. */
static void crlf(struct buf *out, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
            buf_putc(out, '\r');
        buf_putc(out, d[i]);
    }
}

int imap_binary_decode(const struct imap_section *s, const char *msg, struct buf *out)
{
    const struct imap_part *p = s->part;
    const char *body = msg + s->offset;
    int leaf = p->kind == IMAP_PART_TEXT || p->kind == IMAP_PART_BASIC;
    int whole = s->offset != p->body_offset || s->len != p->end_offset - p->body_offset;
    struct buf t;
    buf_init(&t, 0);
    if (!leaf || whole || (p->cte != MIME_BASE64 && p->cte != MIME_QP)) {
        if (leaf && !whole && p->cte == MIME_CTE_OTHER)
            return IMAP_BINARY_UNKNOWN_CTE;
        crlf(&t, body, s->len);
    } else {
        /* the MIME parser decodes a part with just this header; quoted-printable
         * from the CRLF form, so that its line ends come out as CRLF */
        static const struct mime_callbacks cb = {NULL, on_body, NULL};
        struct mime_parser *mp = mime_parser_new(MIME_DECODE, &cb, &t);
        const char *hdr = p->cte == MIME_BASE64 ? "Content-Transfer-Encoding: base64\r\n\r\n"
                                                : "Content-Transfer-Encoding: quoted-printable\r\n\r\n";
        mime_feed(mp, hdr, strlen(hdr));
        if (p->cte == MIME_QP) {
            struct buf c;
            buf_init(&c, 0);
            crlf(&c, body, s->len);
            mime_feed(mp, c.data ? c.data : "", c.len);
            buf_free(&c);
        } else {
            mime_feed(mp, body, s->len);
        }
        mime_finish(mp);
        mime_parser_free(mp);
    }
    int rc = buf_append(out, t.data ? t.data : "", t.len);
    buf_free(&t);
    return rc;
}
