/*
 * imap_testargs.h - a test-only builder of lib-imap/imap_arg.h trees from
 * a simplified command text, so the FETCH/SEARCH tests and fuzz targets
 * do not depend on the real command parser.
 *
 * Syntax: atoms separated by spaces; ( ... ) lists; "quoted" strings with
 * \" and \\; {N}xxx a literal of N bytes; an atom containing [ takes
 * everything up to the matching ] (spaces and parentheses included) and
 * is marked bracketed, as the real parser does for BODY[...] (quoted
 * strings inside the brackets may hold ]). Depth and
 * size are bounded; returns NULL on a syntax error. Atoms never hold NUL
 * (as from the real parser); quoted strings and literals may, with `len`
 * counting it.
 */
#ifndef YUBIN_IMAP_TESTARGS_H
#define YUBIN_IMAP_TESTARGS_H

#include "lib-imap/imap_arg.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define TARGS_MAX_DEPTH 100

struct targs {
    void **allocs;
    size_t n;
};

static inline void *targs_keep(struct targs *t, void *p)
{
    t->allocs = xrealloc(t->allocs, (t->n + 1) * sizeof(*t->allocs));
    t->allocs[t->n++] = p;
    return p;
}

static inline void targs_free(struct targs *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->allocs[i]);
    free(t->allocs);
    t->allocs = NULL;
    t->n = 0;
}

static inline int targs_atom(struct targs *t, const char **pp, const char *end, struct imap_arg *a)
{
    const char *p = *pp, *start = p;
    int depth = 0, q = 0;
    while (p < end && *p && (depth || (*p != ' ' && *p != ')' && *p != '('))) {
        if (depth && *p == '\\' && q && p + 1 < end && p[1])
            p++;
        else if (depth && *p == '"')
            q = !q;
        else if (q)
            ;
        else if (*p == '[')
            depth++, a->bracketed = 1;
        else if (*p == ']' && depth)
            depth--;
        p++;
    }
    if (p == start)
        return -1;
    a->type = IMAP_ARG_ATOM;
    a->len = (size_t)(p - start);
    a->str = targs_keep(t, xstrndup(start, a->len));
    *pp = p;
    return 0;
}

static inline int targs_quoted(struct targs *t, const char **pp, const char *end, struct imap_arg *a)
{
    const char *p = *pp + 1;
    char *s = targs_keep(t, xmalloc((size_t)(end - p) + 1));
    size_t n = 0;
    while (p < end && *p != '"') {
        if (*p == '\\' && p + 1 < end)
            p++;
        s[n++] = *p++;
    }
    if (p == end)
        return -1;
    s[n] = '\0';
    a->type = IMAP_ARG_QUOTED;
    a->str = s;
    a->len = n;
    *pp = p + 1;
    return 0;
}

static inline int targs_literal(struct targs *t, const char **pp, const char *end, struct imap_arg *a)
{
    const char *p = *pp + 1;
    size_t n = 0;
    while (p < end && *p >= '0' && *p <= '9' && n < 100000)
        n = n * 10 + (size_t)(*p++ - '0');
    if (p == end || *p != '}' || (size_t)(end - p - 1) < n)
        return -1;
    p++;
    char *lit = targs_keep(t, xmalloc(n + 1));
    memcpy(lit, p, n);
    lit[n] = '\0';
    a->type = IMAP_ARG_LITERAL;
    a->str = lit;
    a->len = n;
    *pp = p + n;
    return 0;
}

/* Elements up to ')' (inner lists) or the end (top level). */
static inline struct imap_arg *targs_list(struct targs *t, const char **pp, const char *end, int depth,
                                          size_t *count)
{
    struct imap_arg *v = NULL;
    size_t n = 0;
    const char *p = *pp;
    if (depth > TARGS_MAX_DEPTH)
        return NULL;
    for (;;) {
        while (p < end && *p == ' ')
            p++;
        if (p == end || *p == ')') {
            if ((p == end) != (depth == 0)) {
                free(v);
                return NULL;
            }
            break;
        }
        v = xrealloc(v, (n + 2) * sizeof(*v));
        struct imap_arg *a = &v[n];
        memset(a, 0, sizeof(*a));
        int r;
        if (*p == '(') {
            p++;
            a->type = IMAP_ARG_LIST;
            a->list = targs_list(t, &p, end, depth + 1, &a->count);
            r = a->list ? 0 : -1;
            if (r == 0)
                p++;
        } else if (*p == '"') {
            r = targs_quoted(t, &p, end, a);
        } else if (*p == '{') {
            r = targs_literal(t, &p, end, a);
        } else {
            r = targs_atom(t, &p, end, a);
        }
        if (r < 0) {
            free(v);
            return NULL;
        }
        n++;
    }
    v = xrealloc(v, (n + 1) * sizeof(*v));
    memset(&v[n], 0, sizeof(v[n]));
    targs_keep(t, v);
    *count = n;
    *pp = p;
    return v;
}

static inline struct imap_arg *targs_parse_n(struct targs *t, const char *s, size_t len)
{
    size_t n;
    const char *p = s;
    return targs_list(t, &p, s + len, 0, &n);
}

static inline struct imap_arg *targs_parse(struct targs *t, const char *s)
{
    return targs_parse_n(t, s, strlen(s));
}

#endif
