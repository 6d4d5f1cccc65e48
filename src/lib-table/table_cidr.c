/*
 * table_cidr.c - cidr: tables (cidr_table(5)): "pattern result",
 * "!pattern result", "if [!]pattern" ... "endif", IPv4 and IPv6 networks
 * and single addresses (optionally in []), first match wins, Postfix 3.7
 * inline form cidr:{ {rule}, {rule} }. Keys that are not IP addresses
 * are never found; ::ffff:a.b.c.d is IPv6, as in Postfix.
 */
#include "lib-table/table_impl.h"
#include "lib-table/matchlist.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

enum { C_MATCH, C_IF, C_ENDIF };

struct cidr_rule {
    int op;
    int negate;
    struct net_pattern net;
    char *result;
    size_t endif;
};

struct cidr_priv {
    struct cidr_rule *v;
    size_t n, cap;
};

static void cidr_free(struct cidr_priv *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].result);
    free(c->v);
    free(c);
}

static int keyword(const char *p, const char *kw)
{
    size_t n = strlen(kw);
    return strncasecmp(p, kw, n) == 0 && (p[n] == '\0' || isspace((unsigned char)p[n]) ||
                                          (p[n] == '!' && n == 2));
}

static int parse_line(struct cidr_priv *c, char *line, size_t *stack, size_t *depth, char *why,
                      size_t whylen)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    struct cidr_rule *r = &c->v[c->n];
    memset(r, 0, sizeof(*r));
    char *p = line;
    if (keyword(p, "endif")) {
        if (*str_trim(p + 5))
            return table_err(why, whylen, "extra text after ENDIF");
        if (*depth == 0)
            return table_err(why, whylen, "ENDIF without matching IF");
        r->op = C_ENDIF;
        c->v[stack[--*depth]].endif = c->n++;
        return 0;
    }
    int is_if = keyword(p, "if");
    if (is_if) {
        if (*depth >= 100)
            return table_err(why, whylen, "IF nesting too deep");
        p += 2;
        while (isspace((unsigned char)*p))
            p++;
    }
    while (*p == '!') {
        r->negate = !r->negate;
        p++;
    }
    char *pat = p;
    while (*p && !isspace((unsigned char)*p))
        p++;
    if (*p)
        *p++ = '\0';
    char *rest = str_trim(p);
    if (net_pattern_parse(pat, &r->net, why, whylen) < 0)
        return -1;
    if (is_if) {
        if (*rest)
            return table_err(why, whylen, "extra text after IF pattern: \"%s\"", rest);
        r->op = C_IF;
        stack[(*depth)++] = c->n++;
        return 0;
    }
    if (!*rest)
        return table_err(why, whylen, "no result text after pattern \"%s\"", pat);
    r->op = C_MATCH;
    r->result = xstrdup(rest);
    c->n++;
    return 0;
}

static int cidr_lookup(struct table *t, const char *key, struct buf *result)
{
    struct cidr_priv *c = t->priv;
    struct net_addr a;
    if (net_addr_parse(key, &a, 0) < 0 || key[0] == '[')
        return TABLE_NOTFOUND;
    for (size_t i = 0; i < c->n;) {
        const struct cidr_rule *r = &c->v[i];
        if (r->op == C_ENDIF) {
            i++;
            continue;
        }
        int m = net_pattern_match(&r->net, &a);
        if (r->op == C_IF) {
            i = (m != r->negate) ? i + 1 : r->endif + 1;
            continue;
        }
        if (m != r->negate) {
            if (buf_puts(result, r->result) < 0) {
                buf_reset(result);
                return TABLE_TEMPFAIL;
            }
            return TABLE_FOUND;
        }
        i++;
    }
    return TABLE_NOTFOUND;
}

static void cidr_close(struct table *t)
{
    cidr_free(t->priv);
}

static const struct table_ops cidr_ops = {cidr_lookup, cidr_close, NULL};

int table_cidr_open(struct table *t, char *err, size_t errlen)
{
    struct tsrc src;
    char *text = NULL;
    if (t->name[0] == '{') {
        text = table_inline_rules(t->name, err, errlen);
        if (!text)
            return -1;
        tsrc_open_mem(&src, "inline", text);
    } else if (tsrc_open_file(&src, t->name, err, errlen) < 0) {
        return -1;
    }
    struct cidr_priv *c = xcalloc(1, sizeof(*c));
    struct buf line;
    buf_init(&line, 0);
    size_t stack[100], depth = 0;
    int lineno = 0, r, rc = 0, if_line[100];
    char why[400];
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        size_t before = depth;
        if (parse_line(c, line.data, stack, &depth, why, sizeof(why)) < 0) {
            if (text)
                rc = table_err(err, errlen, "rule %d: %s", lineno, why);
            else
                rc = table_err(err, errlen, "%s:%d: %s", src.name, lineno, why);
            break;
        }
        if (depth > before)
            if_line[depth - 1] = lineno;
    }
    if (r < 0)
        rc = -1;
    if (rc == 0 && depth > 0)
        rc = table_err(err, errlen, "%s:%d: IF has no matching ENDIF", src.name,
                       if_line[depth - 1]);
    buf_free(&line);
    tsrc_close(&src);
    free(text);
    if (rc < 0) {
        cidr_free(c);
        return -1;
    }
    t->priv = c;
    t->ops = &cidr_ops;
    t->flags = TABLE_F_PATTERN;
    t->fold = 0;
    return 0;
}
