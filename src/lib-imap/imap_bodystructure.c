/*
 * imap_bodystructure.c - BODY, BODYSTRUCTURE and the part tree (see
 * imap_bodystructure.h).
 *
 * The MIME parser (lib-mail/mime.h) reports each part's header section at
 * part_start and its offsets and line counts at part_end. At part_start
 * the part's entry is rendered as far as it can be (everything but the
 * size, the line count and the children) into head/ext; writing the tree
 * later only joins those pieces, so the strings a cache keeps are built
 * once.
 */
#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_bsquote.h"
#include "lib-imap/imap_envelope.h"
#include "lib-imap/imap_mimefields.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE \
    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

struct imap_msg_parser {
    struct mime_parser *mime;
    struct imap_msg *msg;
    struct imap_part *open[MIME_DEPTH_MAX + 1];   /* the open part at each depth */
    struct imap_part *last_child[MIME_DEPTH_MAX + 1];
};

static char *buf_take(struct buf *b)
{
    char *s = xstrdup(buf_cstr(b));
    buf_free(b);
    return s;
}

/* The type Dovecot's message parser gives the part (flags from Content-Type). */
static enum imap_part_kind dovecot_kind(const struct mime_fields *mf, int is_mime,
                                        int digest_parent)
{
    const char *ct = mf->ctype_full;
    if (!is_mime || !mf->have_ctype)
        return digest_parent ? IMAP_PART_MESSAGE : IMAP_PART_TEXT;
    if (strcasecmp(ct, "message/rfc822") == 0)
        return IMAP_PART_MESSAGE;
    if (strncasecmp(ct, "multipart/", 10) == 0)
        return IMAP_PART_MULTIPART;
    if (strncasecmp(ct, "text", 4) == 0 && (ct[4] == '\0' || ct[4] == '/'))
        return IMAP_PART_TEXT;
    return IMAP_PART_BASIC;
}

static void put_str(struct buf *out, const char *s)
{
    imap_bsq_string(out, s, strlen(s));
}

/* "type" "subtype" (params) id description encoding, of a part without children. */
static void render_leaf_head(struct imap_part *n, const struct mime_fields *mf, int truncated)
{
    struct buf b;
    buf_init(&b, 0);
    int text = 0;
    if (n->kind == IMAP_PART_MESSAGE) {
        buf_puts(&b, "\"message\" \"rfc822\"");
    } else if (truncated) {
        buf_puts(&b, "\"application\" \"octet-stream\"");
    } else if (!mf->type) {
        buf_puts(&b, "\"text\" \"plain\"");
        text = 1;
    } else {
        text = strcasecmp(mf->type, "text") == 0;
        put_str(&b, mf->type);
        buf_putc(&b, ' ');
        put_str(&b, mf->subtype);
    }
    n->kind = n->kind == IMAP_PART_MESSAGE ? n->kind : text ? IMAP_PART_TEXT : IMAP_PART_BASIC;
    buf_putc(&b, ' ');
    mf_params_write(&b, &mf->params, text);
    buf_putc(&b, ' ');
    imap_bsq_nstring_nolf(&b, mf->id, mf->id ? strlen(mf->id) : 0);
    buf_putc(&b, ' ');
    imap_bsq_nstring_nolf(&b, mf->desc, mf->desc ? strlen(mf->desc) : 0);
    buf_putc(&b, ' ');
    if (mf->cte)
        put_str(&b, mf->cte);
    else
        buf_puts(&b, "\"7bit\"");
    n->head = buf_take(&b);
    buf_init(&b, 0);
    imap_bsq_nstring_nolf(&b, mf->md5, mf->md5 ? strlen(mf->md5) : 0);
    mf_common_write(&b, mf);
    n->ext = buf_take(&b);
}

static void render_multipart(struct imap_part *n, const struct mime_fields *mf)
{
    struct buf b;
    buf_init(&b, 0);
    put_str(&b, mf->subtype ? mf->subtype : "");
    n->head = buf_take(&b);
    buf_init(&b, 0);
    mf_params_write(&b, &mf->params, 0);
    mf_common_write(&b, mf);
    n->ext = buf_take(&b);
}

static void render(struct imap_part *n, const struct mime_part *p, const struct imap_part *parent)
{
    struct mime_fields mf;
    mime_fields_read(&mf, p->header, p->header_len, p->depth == 0);
    int in_multipart = parent && parent->kind == IMAP_PART_MULTIPART;
    int is_mime = in_multipart || mf.mime_version || mf.have_ctype;
    if (!is_mime) {
        mime_fields_clear(&mf);             /* Content-* of a non-MIME message */
        n->cte = MIME_7BIT;
    }
    int digest = in_multipart && parent->head && strcasecmp(parent->head, "\"digest\"") == 0;
    n->kind = dovecot_kind(&mf, is_mime, digest);
    n->no_ctype = !mf.type;
    n->text_plain = !mf.type || (strcasecmp(mf.type, "text") == 0 && strcasecmp(mf.subtype, "plain") == 0);
    n->text_html = mf.type && strcasecmp(mf.type, "text") == 0 && strcasecmp(mf.subtype, "html") == 0;
    n->alternative = mf.type && strcasecmp(mf.type, "multipart") == 0 &&
                     strcasecmp(mf.subtype, "alternative") == 0;
    str_copy(n->charset, is_mime ? p->charset : "", sizeof(n->charset));
    if (n->kind == IMAP_PART_MULTIPART) {
        /* Dovecot splits only at a plain boundary= (not an RFC 2231 one) */
        n->hide_children = 1;
        for (size_t i = 0; i < mf.params.n; i++)
            if (strcasecmp(mf.params.kv[i * 2], "boundary") == 0)
                n->hide_children = !p->multipart;
        render_multipart(n, &mf);
    } else {
        /* Dovecot writes a part whose kind its parser could not follow
         * (multipart without the flag, message/rfc822 not parsed) this way */
        int truncated = (n->kind == IMAP_PART_MESSAGE && !p->message) ||
                        (n->kind != IMAP_PART_MESSAGE && mf.type &&
                         strcasecmp(mf.type, "multipart") == 0);
        if (truncated)
            n->kind = IMAP_PART_BASIC;
        render_leaf_head(n, &mf, truncated);
    }
    mime_fields_free(&mf);
}

static void on_start(void *ctx, const struct mime_part *p)
{
    struct imap_msg_parser *mp = ctx;
    INVARIANT(p->depth >= 0 && p->depth <= MIME_DEPTH_MAX);
    struct imap_part *n = xcalloc(1, sizeof(*n));
    struct imap_part *parent = p->depth > 0 ? mp->open[p->depth - 1] : NULL;
    n->parent = parent;
    n->index = p->index;
    n->header_offset = p->header_offset;
    n->body_offset = n->end_offset = p->body_offset;
    n->cte = p->cte;
    n->message_root = !parent || parent->kind == IMAP_PART_MESSAGE;
    if (parent) {
        if (mp->last_child[p->depth - 1])
            mp->last_child[p->depth - 1]->next = n;
        else
            parent->children = n;
        mp->last_child[p->depth - 1] = n;
    } else {
        mp->msg->root = n;
    }
    mp->open[p->depth] = n;
    mp->last_child[p->depth] = NULL;
    render(n, p, parent);
    if (n->message_root) {
        struct buf b;
        buf_init(&b, 0);
        const char *h = p->header;
        size_t hl = p->header_len;
        if (p->depth == 0 && hl >= 5 && memcmp(h, "From ", 5) == 0) {
            const char *lf = memchr(h, '\n', hl);
            size_t skip = lf ? (size_t)(lf - h) + 1 : hl;
            h += skip;
            hl -= skip;
        }
        imap_envelope_write(h, hl, &b);
        n->envelope = buf_take(&b);
    }
}

static void on_end(void *ctx, const struct mime_part *p)
{
    struct imap_msg_parser *mp = ctx;
    struct imap_part *n = mp->open[p->depth];
    INVARIANT(n && n->index == p->index);
    n->body_offset = p->body_offset;
    n->end_offset = p->end_offset;
    n->body_lf = p->body_lf;
    n->body_bare_lf = p->body_bare_lf;
}

struct imap_msg_parser *imap_msg_parser_new(void)
{
    static const struct mime_callbacks cb = {on_start, NULL, on_end};
    struct imap_msg_parser *mp = xcalloc(1, sizeof(*mp));
    mp->msg = xcalloc(1, sizeof(*mp->msg));
    mp->mime = mime_parser_new(MIME_IMAP, &cb, mp);
    return mp;
}

void imap_msg_parser_feed(struct imap_msg_parser *mp, const char *data, size_t len)
{
    mp->msg->size += len;
    mime_feed(mp->mime, data, len);
}

struct imap_msg *imap_msg_parser_finish(struct imap_msg_parser *mp)
{
    mime_finish(mp->mime);
    struct imap_msg *m = mp->msg;
    m->limits_hit = mime_limits_hit(mp->mime);
    mime_parser_free(mp->mime);
    free(mp);
    INVARIANT(m->root != NULL);
    return m;
}

struct imap_msg *imap_msg_parse(const char *data, size_t len)
{
    struct imap_msg_parser *mp = imap_msg_parser_new();
    imap_msg_parser_feed(mp, data, len);
    return imap_msg_parser_finish(mp);
}

struct imap_msg *imap_msg_parse_fd(int fd)
{
    struct imap_msg_parser *mp = imap_msg_parser_new();
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            imap_msg_free(imap_msg_parser_finish(mp));
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        imap_msg_parser_feed(mp, chunk, (size_t)n);
    }
    return imap_msg_parser_finish(mp);
}

static void part_free(struct imap_part *n)
{
    while (n) {
        struct imap_part *next = n->next;
        part_free(n->children);
        free(n->head);
        free(n->ext);
        free(n->envelope);
        free(n);
        n = next;
    }
}

void imap_msg_free(struct imap_msg *m)
{
    if (!m)
        return;
    part_free(m->root);
    free(m);
}

size_t imap_part_size(const struct imap_part *p)
{
    return p->end_offset - p->body_offset + p->body_bare_lf;
}

/* ---- writing ---- */

static void write_part(const struct imap_part *n, int ext, struct buf *out);

static void write_multipart(const struct imap_part *n, int ext, struct buf *out)
{
    const struct imap_part *first = n->hide_children ? NULL : n->children;
    if (!first)
        buf_puts(out, ext ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
    for (const struct imap_part *c = first; c; c = c->next) {
        buf_putc(out, '(');
        write_part(c, ext, out);
        buf_putc(out, ')');
    }
    buf_putc(out, ' ');
    buf_puts(out, n->head);
    if (ext) {
        buf_putc(out, ' ');
        buf_puts(out, n->ext);
    }
}

static void write_part(const struct imap_part *n, int ext, struct buf *out)
{
    if (n->kind == IMAP_PART_MULTIPART) {
        write_multipart(n, ext, out);
        return;
    }
    buf_puts(out, n->head);
    buf_printf(out, " %zu", imap_part_size(n));
    if (n->kind == IMAP_PART_TEXT) {
        buf_printf(out, " %zu", n->body_lf);
    } else if (n->kind == IMAP_PART_MESSAGE) {
        const struct imap_part *c = n->children;
        INVARIANT(c && c->envelope);
        buf_putc(out, ' ');
        buf_puts(out, c->envelope);
        buf_puts(out, " (");
        write_part(c, ext, out);
        buf_printf(out, ") %zu", n->body_lf);
    }
    if (ext) {
        buf_putc(out, ' ');
        buf_puts(out, n->ext);
    }
}

int imap_bodystructure_write(const struct imap_msg *m, int extended, struct buf *out)
{
    struct buf t;                        /* bounded by the rendered pieces */
    buf_init(&t, 0);
    buf_putc(&t, '(');
    write_part(m->root, extended, &t);
    buf_putc(&t, ')');
    int rc = buf_append(out, t.data, t.len);
    buf_free(&t);
    return rc;
}

int imap_msg_envelope_write(const struct imap_msg *m, struct buf *out)
{
    return buf_puts(out, m->root->envelope);
}

int imap_bodystructure(const char *data, size_t len, int extended, struct buf *out)
{
    struct imap_msg *m = imap_msg_parse(data, len);
    int rc = imap_bodystructure_write(m, extended, out);
    imap_msg_free(m);
    return rc;
}
