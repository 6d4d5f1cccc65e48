/*
 * sieve-body.c - the body test (RFC 5173): ":raw" (the undecoded body),
 * ":content" (the decoded parts of the given MIME types; multipart and
 * message/rfc822 parts as their raw content) and ":text" (the text parts,
 * HTML reduced to its text), read with lib-mail's MIME parser.
 *
 * Owns: collecting the parts of the message for one body test; matching is
 * the interpreter's (sieve_run_match).
 */
#include "lib-sieve/sieve-int.h"
#include "lib-mail/header.h"
#include "lib-mail/mime.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define BODY_PART_MAX (4 * 1024 * 1024)    /* bytes of one part kept for matching */

struct body_part {
    char type[64], subtype[64];
    int container;                   /* multipart or message/rfc822 */
    size_t body_offset, end_offset;
    struct buf data;                 /* decoded body of a leaf part */
};

struct body_walk {
    struct body_part *v;
    size_t n;
};

static void on_start(void *ctx, const struct mime_part *p)
{
    struct body_walk *w = ctx;
    if (p->index != w->n)            /* parts arrive in order; be safe anyway */
        return;
    w->v = xrealloc(w->v, (w->n + 1) * sizeof(*w->v));
    struct body_part *b = &w->v[w->n++];
    memset(b, 0, sizeof(*b));
    str_copy(b->type, p->type, sizeof(b->type));
    str_copy(b->subtype, p->subtype, sizeof(b->subtype));
    if (strchr(b->subtype, '/'))     /* "text/plain/stupid" is no text type */
        b->type[0] = b->subtype[0] = '\0';
    b->container = p->multipart || p->message;
    buf_init(&b->data, BODY_PART_MAX);
}

static void on_body(void *ctx, const struct mime_part *p, const char *d, size_t len)
{
    struct body_walk *w = ctx;
    if (p->index < w->n)
        buf_append(&w->v[p->index].data, d, len);    /* past the limit: truncated */
}

static void on_end(void *ctx, const struct mime_part *p)
{
    struct body_walk *w = ctx;
    if (p->index < w->n) {
        w->v[p->index].body_offset = p->body_offset;
        w->v[p->index].end_offset = p->end_offset;
    }
}

/* Does the part's type match a :content type ("", "text", "text/plain")? */
static int type_matches(const struct body_part *b, const char *want)
{
    if (!*want)
        return 1;
    const char *slash = strchr(want, '/');
    if (!slash)
        return str_ieq(b->type, want);
    size_t tl = (size_t)(slash - want);
    if (!tl || !slash[1] || strchr(slash + 1, '/'))
        return 0;
    return strlen(b->type) == tl && str_nieq(b->type, want, tl) && str_ieq(b->subtype, slash + 1);
}

/* HTML to text, roughly: tags dropped. */
static char *strip_tags(const char *s)
{
    char *o = xmalloc(strlen(s) + 1), *q = o;
    int in_tag = 0;
    for (; *s; s++) {
        if (*s == '<')
            in_tag = 1;
        else if (*s == '>' && in_tag)
            in_tag = 0;
        else if (!in_tag)
            *q++ = *s;
    }
    *q = '\0';
    return o;
}

static void push_value(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* transform: 0 :text, 1 :raw, 2 :content with types. */
static char **body_values(struct sieve_run *run, int transform, char **types, size_t *nout)
{
    char **vals = xcalloc(1, sizeof(char *));
    *nout = 0;
    const char *msg = run->msg.data ? run->msg.data : "";
    size_t len = run->msg.len;
    struct hdr_reader hr;
    struct hdr_field f;
    hdr_reader_init(&hr, msg, len, 0, 0);
    while (hdr_next(&hr, &f))
        ;
    size_t hlen = hdr_section_length(&hr);
    if (hlen >= len)
        return vals;                 /* no body at all */
    if (transform == 1) {
        push_value(&vals, nout, xstrndup(msg + hlen, len - hlen));
        return vals;
    }
    struct body_walk w = { NULL, 0 };
    struct mime_callbacks cb = { on_start, on_body, on_end };
    struct mime_parser *mp = mime_parser_new(MIME_DECODE | MIME_UTF8, &cb, &w);
    mime_feed(mp, msg, len);
    mime_finish(mp);
    mime_parser_free(mp);
    for (size_t i = 0; i < w.n; i++) {
        struct body_part *b = &w.v[i];
        int take = 0;
        if (transform == 0)
            take = !b->container && str_ieq(b->type, "text");
        for (size_t k = 0; transform == 2 && types[k] && !take; k++)
            take = type_matches(b, types[k]);
        if (take && b->container && b->end_offset >= b->body_offset && b->end_offset <= len)
            push_value(&vals, nout, xstrndup(msg + b->body_offset, b->end_offset - b->body_offset));
        else if (take && transform == 0 && str_ieq(b->subtype, "html"))
            push_value(&vals, nout, strip_tags(buf_cstr(&b->data)));
        else if (take)
            push_value(&vals, nout, xstrdup(buf_cstr(&b->data)));
        buf_free(&b->data);
    }
    free(w.v);
    return vals;
}

int sieve_exec_body(struct sieve_run *run, const struct sieve_node *n)
{
    int transform = n->tagv[0] ? 1 : n->tagv[1] ? 2 : 0;
    char **types = transform == 2 ? sieve_run_strlist(run, n->tagv[1]) : NULL;
    size_t nv;
    char **vals = body_values(run, transform, types, &nv);
    strv_free(types);
    int r = sieve_run_match(run, n, vals, nv, n->pos[0]);
    strv_free(vals);
    return r;
}

int sieve_check_body(struct sieve_check *c, struct sieve_node *n)
{
    if ((n->tagv[0] != NULL) + (n->tagv[1] != NULL) + (n->tagv[2] != NULL) > 1) {
        sieve_check_error(c, n->line, "the body test accepts only one of :raw, :content and :text");
        return -1;
    }
    return 0;
}
