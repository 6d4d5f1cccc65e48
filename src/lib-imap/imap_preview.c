/*
 * imap_preview.c - PREVIEW (see imap_preview.h).
 *
 * The chosen part is decoded by lib-mail's MIME parser (MIME_UTF8) fed a
 * made-up header with the part's encoding and charset, then its body; the
 * text goes through the HTML filter when the part is text/html, then the
 * snippet builder, which stops the work once it has enough.
 */
#include "lib-imap/imap_preview.h"
#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_bsquote.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- choosing the part ---- */

static const struct imap_part *pick(const struct imap_part *n)
{
    /* a part without Content-Type is text, even a message by default (digest) */
    if (n->kind == IMAP_PART_TEXT || (n->kind == IMAP_PART_MESSAGE && n->no_ctype))
        return n;
    if (n->kind != IMAP_PART_MULTIPART || n->hide_children)
        return NULL;                     /* attachments and attached messages */
    if (n->alternative)
        for (const struct imap_part *c = n->children; c; c = c->next)
            if (c->kind == IMAP_PART_TEXT && c->text_plain)
                return c;
    for (const struct imap_part *c = n->children; c; c = c->next) {
        const struct imap_part *r = pick(c);
        if (r)
            return r;
    }
    return NULL;
}

/* ---- the snippet ---- */

enum snip_state { SNIP_NEWLINE, SNIP_NORMAL, SNIP_QUOTED };

struct snip_target {
    struct buf text;
    unsigned left;                   /* characters still allowed */
};

struct snip {
    struct snip_target main, quoted, *target;
    enum snip_state state;
    int add_space;
    int done;
};

static size_t utf8_len(unsigned char c)
{
    return c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
}

/* One character (or white space) at data[0]; the bytes it took. */
static size_t snip_char(struct snip *s, const char *data, size_t n)
{
    struct snip_target *t = s->target;
    const unsigned char *u = (const unsigned char *)data;
    if (n >= 3 && u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
        return 3;                        /* a byte order mark */
    if (u[0] == 0)
        return 1;
    if (isspace(u[0])) {
        if (t->text.len > 0)
            s->add_space = 1;
        if (u[0] == '\n')
            s->state = SNIP_NEWLINE;
        return 1;
    }
    size_t count = utf8_len(u[0]);
    if (count > n)
        count = n;
    if (s->add_space) {
        s->add_space = 0;
        if (t->left == 0)
            return count;
        buf_putc(&t->text, ' ');
        t->left--;
    }
    if (t->left == 0)
        return count;
    t->left--;
    buf_append(&t->text, data, count);
    return count;
}

static void snip_feed(struct snip *s, const char *data, size_t n)
{
    for (size_t i = 0; i < n && !s->done;) {
        if (s->state == SNIP_NEWLINE) {
            if (data[i] == '>') {
                s->state = SNIP_QUOTED;
                s->target = &s->quoted;
                if (++i >= n)
                    break;
            } else {
                s->state = SNIP_NORMAL;
                s->target = &s->main;
            }
        }
        i += snip_char(s, data + i, n - i);
        s->done = s->main.left == 0;
    }
}

/* ---- HTML to text, crudely ---- */

enum html_state { H_TEXT, H_TAG, H_COMMENT, H_ENTITY };

struct html {
    enum html_state state;
    char tag[16];                    /* the tag's name as far as read, lowercased */
    size_t taglen;
    int tag_named;                   /* the name is complete */
    char quote;                      /* inside a quoted attribute value */
    char ent[12];
    size_t entlen;
    const char *skip_until;          /* inside <style>... : the closing tag's name */
    int dashes;                      /* comment: "-" seen before ">" */
};

static const struct { const char *name; const char *utf8; } entities[] = {
    {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
    {"nbsp", "\xc2\xa0"}, {"copy", "\xc2\xa9"}, {"reg", "\xc2\xae"}, {"deg", "\xc2\xb0"},
    {"middot", "\xc2\xb7"}, {"laquo", "\xc2\xab"}, {"raquo", "\xc2\xbb"},
    {"euro", "\xe2\x82\xac"}, {"hellip", "\xe2\x80\xa6"}, {"mdash", "\xe2\x80\x94"},
    {"ndash", "\xe2\x80\x93"}, {"lsquo", "\xe2\x80\x98"}, {"rsquo", "\xe2\x80\x99"},
    {"ldquo", "\xe2\x80\x9c"}, {"rdquo", "\xe2\x80\x9d"}, {"bull", "\xe2\x80\xa2"},
    {"trade", "\xe2\x84\xa2"}, {"eacute", "\xc3\xa9"}, {"egrave", "\xc3\xa8"},
    {"aacute", "\xc3\xa1"}, {"agrave", "\xc3\xa0"}, {"auml", "\xc3\xa4"}, {"ouml", "\xc3\xb6"},
    {"uuml", "\xc3\xbc"}, {"Auml", "\xc3\x84"}, {"Ouml", "\xc3\x96"}, {"Uuml", "\xc3\x9c"},
    {"szlig", "\xc3\x9f"}, {"ccedil", "\xc3\xa7"}, {"ntilde", "\xc3\xb1"},
    {"bdquo", "\xe2\x80\x9e"}, {"sbquo", "\xe2\x80\x9a"}, {"iacute", "\xc3\xad"},
    {"oacute", "\xc3\xb3"}, {"uacute", "\xc3\xba"}, {"ecirc", "\xc3\xaa"},
    {"acirc", "\xc3\xa2"}, {"ocirc", "\xc3\xb4"}, {"aring", "\xc3\xa5"},
    {"oslash", "\xc3\xb8"}, {"aelig", "\xc3\xa6"}, {"Eacute", "\xc3\x89"},
    {"times", "\xc3\x97"}, {"pound", "\xc2\xa3"}, {"sect", "\xc2\xa7"},
    {"shy", "\xc2\xad"}, {"iexcl", "\xc2\xa1"}, {"iquest", "\xc2\xbf"},
};

static void put_codepoint(struct buf *out, unsigned long c)
{
    if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return;
    if (c < 0x80) {
        buf_putc(out, (char)c);
    } else if (c < 0x800) {
        buf_putc(out, (char)(0xc0 | (c >> 6)));
        buf_putc(out, (char)(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
        buf_putc(out, (char)(0xe0 | (c >> 12)));
        buf_putc(out, (char)(0x80 | ((c >> 6) & 0x3f)));
        buf_putc(out, (char)(0x80 | (c & 0x3f)));
    } else {
        buf_putc(out, (char)(0xf0 | (c >> 18)));
        buf_putc(out, (char)(0x80 | ((c >> 12) & 0x3f)));
        buf_putc(out, (char)(0x80 | ((c >> 6) & 0x3f)));
        buf_putc(out, (char)(0x80 | (c & 0x3f)));
    }
}

static void entity_out(struct html *h, struct buf *out)
{
    h->ent[h->entlen] = '\0';
    if (h->ent[0] == '#') {
        int hex = h->ent[1] == 'x' || h->ent[1] == 'X';
        put_codepoint(out, strtoul(h->ent + 1 + hex, NULL, hex ? 16 : 10));
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(entities); i++)
        if (strcmp(h->ent, entities[i].name) == 0)
            buf_puts(out, entities[i].utf8);
}

static void tag_end(struct html *h, struct buf *out)
{
    h->tag[h->taglen] = '\0';
    static const char *const skipped[] = {"style", "script", "blockquote"};
    if (h->skip_until) {
        if (h->tag[0] == '/' && strcmp(h->tag + 1, h->skip_until) == 0)
            h->skip_until = NULL;
    } else {
        for (size_t i = 0; i < ARRAY_LEN(skipped); i++)
            if (strcmp(h->tag, skipped[i]) == 0)
                h->skip_until = skipped[i];
    }
    if (!h->skip_until)
        buf_putc(out, ' ');
    h->state = H_TEXT;
}

static void html_tag_char(struct html *h, char c, struct buf *out)
{
    if (h->quote) {
        if (c == h->quote)
            h->quote = 0;
        return;
    }
    if (c == '>') {
        tag_end(h, out);
        return;
    }
    if (!h->tag_named) {
        if (h->taglen == 3 && memcmp(h->tag, "!--", 3) == 0) {
            h->state = H_COMMENT;
            h->dashes = c == '-';
            return;
        }
        /* the name: a leading "/", then up to a blank or a "/" */
        if (!isspace((unsigned char)c) && (c != '/' || h->taglen == 0)) {
            if (h->taglen + 1 < sizeof(h->tag))
                h->tag[h->taglen++] = (char)tolower((unsigned char)c);
            return;
        }
        h->tag_named = 1;
    }
    if (c == '"' || c == '\'')
        h->quote = c;
}

static void html_feed(struct html *h, const char *data, size_t n, struct buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        switch (h->state) {
        case H_TEXT:
            if (c == '<') {
                h->state = H_TAG;
                h->taglen = 0;
                h->tag_named = 0;
                h->quote = 0;
            } else if (h->skip_until) {
                /* inside <style> and the like */
            } else if (c == '&') {
                h->state = H_ENTITY;
                h->entlen = 0;
            } else {
                buf_putc(out, c);
            }
            break;
        case H_TAG:
            html_tag_char(h, c, out);
            break;
        case H_COMMENT:
            if (c == '>' && h->dashes >= 2)
                h->state = H_TEXT;
            h->dashes = c == '-' ? h->dashes + 1 : 0;
            break;
        case H_ENTITY:
            if (c == ';') {
                entity_out(h, out);
                h->state = H_TEXT;
            } else if ((isalnum((unsigned char)c) || (c == '#' && h->entlen == 0)) &&
                       h->entlen + 1 < sizeof(h->ent)) {
                h->ent[h->entlen++] = c;
            } else {
                buf_putc(out, '&');              /* not an entity after all */
                buf_append(out, h->ent, h->entlen);
                h->state = H_TEXT;
                i--;                             /* this byte again, as text */
            }
            break;
        }
    }
}

/* ---- decoding the part ---- */

struct pv {
    struct snip snip;
    int html;
    struct html h;
    struct buf tmp;
};

static void on_body(void *ctx, const struct mime_part *p, const char *data, size_t n)
{
    struct pv *v = ctx;
    (void)p;
    if (v->snip.done)
        return;
    if (!v->html) {
        snip_feed(&v->snip, data, n);
        return;
    }
    buf_reset(&v->tmp);
    html_feed(&v->h, data, n, &v->tmp);
    snip_feed(&v->snip, v->tmp.data ? v->tmp.data : "", v->tmp.len);
}

static void trimmed(struct buf *out, const struct buf *t)
{
    size_t a = 0, b = t->len;
    while (a < b && isspace((unsigned char)t->data[a]))
        a++;
    while (b > a && isspace((unsigned char)t->data[b - 1]))
        b--;
    buf_append(out, t->data + a, b - a);
}

static void preview(const struct imap_msg *m, const char *msg, size_t len, struct buf *out)
{
    const struct imap_part *p = m->root ? pick(m->root) : NULL;
    if (!p || p->end_offset > len)
        return;
    struct pv v;
    memset(&v, 0, sizeof(v));
    v.html = p->text_html;
    v.snip.main.left = IMAP_PREVIEW_CHARS;
    v.snip.quoted.left = IMAP_PREVIEW_CHARS - 1;      /* and the ">" */
    v.snip.target = &v.snip.main;
    buf_init(&v.snip.main.text, 0);
    buf_init(&v.snip.quoted.text, 0);
    buf_init(&v.tmp, 0);
    static const struct mime_callbacks cb = {NULL, on_body, NULL};
    struct mime_parser *mp = mime_parser_new(MIME_UTF8, &cb, &v);
    static const char *const cte[] = {"7bit", "8bit", "binary", "quoted-printable", "base64",
                                      "7bit"};
    struct buf hdr;
    buf_init(&hdr, 0);
    buf_printf(&hdr, "Content-Type: text/plain; charset=\"%s\"\r\nContent-Transfer-Encoding: %s\r\n\r\n",
               p->charset[0] && !strchr(p->charset, '"') ? p->charset : "us-ascii", cte[p->cte]);
    mime_feed(mp, hdr.data, hdr.len);
    buf_free(&hdr);
    for (size_t off = p->body_offset; off < p->end_offset && !v.snip.done; off += 4096) {
        size_t n = p->end_offset - off < 4096 ? p->end_offset - off : 4096;
        mime_feed(mp, msg + off, n);
    }
    mime_finish(mp);
    mime_parser_free(mp);
    if (v.snip.main.text.len > 0) {
        trimmed(out, &v.snip.main.text);
    } else if (v.snip.quoted.text.len > 0) {
        buf_putc(out, '>');
        trimmed(out, &v.snip.quoted.text);
    }
    buf_free(&v.snip.main.text);
    buf_free(&v.snip.quoted.text);
    buf_free(&v.tmp);
}

int imap_preview_text(const struct imap_msg *m, const char *msg, size_t len, struct buf *out)
{
    struct buf t;
    buf_init(&t, 0);
    preview(m, msg, len, &t);
    int rc = buf_append(out, t.data ? t.data : "", t.len);
    buf_free(&t);
    return rc;
}

int imap_preview_write(const struct imap_msg *m, const char *msg, size_t len, struct buf *out)
{
    struct buf t, q;
    buf_init(&t, 0);
    buf_init(&q, 0);
    preview(m, msg, len, &t);
    imap_bsq_string(&q, t.data ? t.data : "", t.len);
    int rc = buf_append(out, q.data, q.len);
    buf_free(&t);
    buf_free(&q);
    return rc;
}
