/*
 * table_regexp.c - regexp: and pcre: tables (regexp_table(5),
 * pcre_table(5)), both compiled with PCRE2.
 *
 * Rules: "/pattern/flags result", "!/pattern/flags result",
 * "if /pattern/flags" ... "endif" (nesting, negation), any
 * non-alphanumeric delimiter, $1 ${1} $(1) and $$ in results, Postfix
 * 3.7 inline form regexp:{ {rule}, {rule} }. Differences between the
 * flavours are the flags and their defaults:
 *   regexp: i (on, caseless)  m (off, multi-line; also makes "." stop at
 *           newlines, as REG_NEWLINE does)  x (on: extended syntax; off
 *           means POSIX basic syntax, which is translated to PCRE)
 *   pcre:   i (on) m (off) s (on, dotall) x (off, extended) A (anchored)
 *           E (dollar end only) U (ungreedy) X (accepted, no effect with
 *           PCRE2, as in Postfix)
 * Syntax errors fail the open with file:line; Postfix would log a warning
 * and skip the rule, which can silently open an access table.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lib-table/table_impl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

enum { R_MATCH, R_IF, R_ENDIF };

struct rx_rule {
    int op;
    int negate;
    pcre2_code *re;
    char *result;      /* R_MATCH */
    int lineno;
    size_t endif;      /* R_IF: index of its endif */
};

struct rx_priv {
    struct rx_rule *v;
    size_t n, cap;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    int pcre;
};

/* Limits so that a hostile key cannot make a pattern backtrack forever. */
#define RX_MATCH_LIMIT 1000000
#define RX_DEPTH_LIMIT 10000

/* POSIX basic regular expression -> PCRE (regexp: tables with the x flag
 * toggled off): \( \) \{ \} are the operators, ( ) { } + ? | literals. */
static int bre_to_pcre(const char *in, size_t len, struct buf *out)
{
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        char c = in[i];
        if (c == '[') {
            /* Bracket expression: copied; a backslash inside is literal. */
            size_t j = i + 1;
            rc |= buf_putc(out, '[');
            if (j < len && in[j] == '^')
                rc |= buf_putc(out, in[j++]);
            if (j < len && in[j] == ']') {
                rc |= buf_puts(out, "\\]");
                j++;
            }
            for (; j < len && in[j] != ']'; j++) {
                if (in[j] == '[' && j + 1 < len && strchr(":.=", in[j + 1])) {
                    /* [:class:] [.coll.] [=equiv=] are copied whole */
                    size_t k = j + 2;
                    while (k + 1 < len && !(in[k] == in[j + 1] && in[k + 1] == ']'))
                        k++;
                    size_t stop = k + 1 < len ? k + 2 : len;
                    rc |= buf_append(out, in + j, stop - j);
                    j = stop - 1;
                } else if (in[j] == '\\') {
                    rc |= buf_puts(out, "\\\\");
                } else {
                    rc |= buf_putc(out, in[j]);
                }
            }
            rc |= buf_putc(out, ']');
            i = j;
        } else if (c == '\\' && i + 1 < len) {
            char n = in[++i];
            if (!strchr("(){}", n))
                rc |= buf_putc(out, '\\');   /* \. \* \1 ... keep their meaning */
            rc |= buf_putc(out, n);           /* \( \) \{ \} become operators */
        } else if (strchr("(){}+?|", c)) {
            rc |= buf_putc(out, '\\');       /* literal in basic syntax */
            rc |= buf_putc(out, c);
        } else {
            rc |= buf_putc(out, c);
        }
    }
    return rc ? -1 : 0;
}

/*
 * Parse "[!]/pattern/flags" at *pp and compile it; *pp is left after the
 * flags. why receives a message on error.
 */
static pcre2_code *parse_pattern(struct rx_priv *x, char **pp, int *negate, char *why,
                                 size_t whylen)
{
    char *p = *pp;
    *negate = 0;
    while (*p == '!') {
        *negate = !*negate;
        p++;
        while (isspace((unsigned char)*p))
            p++;
    }
    char delim = *p;
    if (!delim || isalnum((unsigned char)delim) || isspace((unsigned char)delim) ||
        delim == '\\') {
        table_err(why, whylen, "expected a pattern such as /regexp/ at \"%.40s\"", p);
        return NULL;
    }
    char *start = ++p;
    while (*p && *p != delim) {
        if (*p == '\\' && p[1])
            p++;
        p++;
    }
    if (*p != delim) {
        table_err(why, whylen, "missing closing delimiter '%c' in pattern", delim);
        return NULL;
    }
    size_t plen = (size_t)(p - start);
    p++;

    uint32_t opts = PCRE2_CASELESS | PCRE2_DOTALL;
    int extended_syntax = 1;   /* regexp: ERE (default) or BRE */
    for (; *p && !isspace((unsigned char)*p); p++) {
        switch (*p) {
        case 'i': opts ^= PCRE2_CASELESS; break;
        case 'm':
            opts ^= PCRE2_MULTILINE;
            if (!x->pcre)
                opts ^= PCRE2_DOTALL;   /* REG_NEWLINE: "." stops at newlines too */
            break;
        case 'x':
            if (x->pcre)
                opts ^= PCRE2_EXTENDED;
            else
                extended_syntax = !extended_syntax;
            break;
        case 's': if (x->pcre) { opts ^= PCRE2_DOTALL; break; } goto badflag;
        case 'A': if (x->pcre) { opts ^= PCRE2_ANCHORED; break; } goto badflag;
        case 'E': if (x->pcre) { opts ^= PCRE2_DOLLAR_ENDONLY; break; } goto badflag;
        case 'U': if (x->pcre) { opts ^= PCRE2_UNGREEDY; break; } goto badflag;
        case 'X': if (x->pcre) break; goto badflag;
        default:
        badflag:
            table_err(why, whylen, "unknown %s flag \"%c\"", x->pcre ? "pcre" : "regexp", *p);
            return NULL;
        }
    }
    if (!x->pcre)
        opts |= PCRE2_DOLLAR_ENDONLY;   /* POSIX: $ matches at the very end only */
    *pp = p;

    struct buf pat;
    buf_init(&pat, 0);
    if (!extended_syntax)
        bre_to_pcre(start, plen, &pat);
    else
        buf_append(&pat, start, plen);
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)buf_cstr(&pat), pat.len, opts, &ecode, &eoff, NULL);
    buf_free(&pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ecode, msg, sizeof(msg));
        table_err(why, whylen, "error in regular expression \"%.*s\" at offset %zu: %s",
                  (int)plen, start, (size_t)eoff, (char *)msg);
        return NULL;
    }
    return re;
}

/* Check $ substitutions in a result: $$, $n, ${n}, $(n) with 1 <= n <= ncap. */
static int check_result(const char *r, uint32_t ncap, int negate, char *why, size_t whylen)
{
    for (const char *p = r; *p; p++) {
        if (*p != '$')
            continue;
        p++;
        if (*p == '$')
            continue;
        char close = 0;
        if (*p == '{')
            close = '}', p++;
        else if (*p == '(')
            close = ')', p++;
        const char *d = p;
        while (isalnum((unsigned char)*p) || *p == '_')
            p++;
        if (p == d || (close && *p != close))
            return table_err(why, whylen, "bad $ substitution in result \"%s\"", r);
        for (const char *q = d; q < p; q++)
            if (!isdigit((unsigned char)*q))
                return table_err(why, whylen, "non-numeric replacement index \"%.*s\"",
                                 (int)(p - d), d);
        long n = strtol(d, NULL, 10);
        if (p - d > 6 || n < 1 || (uint32_t)n > ncap)
            return table_err(why, whylen, "out of range replacement index \"%.*s\"",
                             (int)(p - d), d);
        if (negate)
            return table_err(why, whylen,
                             "$number found in negative match replacement text \"%s\"", r);
        if (!close)
            p--;
    }
    return 0;
}

static struct rx_rule *add_rule(struct rx_priv *x)
{
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 32;
        x->v = xrealloc(x->v, x->cap * sizeof(*x->v));
    }
    struct rx_rule *r = &x->v[x->n++];
    memset(r, 0, sizeof(*r));
    return r;
}

static int keyword(const char *p, const char *kw)
{
    size_t n = strlen(kw);
    return strncasecmp(p, kw, n) == 0 && !isalnum((unsigned char)p[n]);
}

static int parse_line(struct rx_priv *x, char *line, int lineno, size_t *stack, size_t *depth,
                      char *why, size_t whylen)
{
    char *p = line;
    if (keyword(p, "endif")) {
        if (*str_trim(p + 5))
            return table_err(why, whylen, "extra text after ENDIF");
        if (*depth == 0)
            return table_err(why, whylen, "ENDIF without matching IF");
        struct rx_rule *r = add_rule(x);
        r->op = R_ENDIF;
        r->lineno = lineno;
        x->v[stack[--*depth]].endif = x->n - 1;
        return 0;
    }
    int is_if = keyword(p, "if");
    if (is_if) {
        p += 2;
        while (isspace((unsigned char)*p))
            p++;
        if (*depth >= 100)
            return table_err(why, whylen, "IF nesting too deep");
    }
    int negate;
    pcre2_code *re = parse_pattern(x, &p, &negate, why, whylen);
    if (!re)
        return -1;
    char *rest = str_trim(p);
    uint32_t ncap = 0;
    pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &ncap);
    if (is_if && *rest) {
        pcre2_code_free(re);
        return table_err(why, whylen, "extra text after IF pattern: \"%s\"", rest);
    }
    if (!is_if && !*rest) {
        pcre2_code_free(re);
        return table_err(why, whylen, "no result text after pattern");
    }
    if (!is_if && check_result(rest, ncap, negate, why, whylen) < 0) {
        pcre2_code_free(re);
        return -1;
    }
    struct rx_rule *r = add_rule(x);
    r->op = is_if ? R_IF : R_MATCH;
    r->negate = negate;
    r->re = re;
    r->lineno = lineno;
    if (is_if)
        stack[(*depth)++] = x->n - 1;
    else
        r->result = xstrdup(rest);
    return 0;
}

static void rx_free(struct rx_priv *x)
{
    for (size_t i = 0; i < x->n; i++) {
        pcre2_code_free(x->v[i].re);
        free(x->v[i].result);
    }
    free(x->v);
    pcre2_match_data_free(x->md);
    pcre2_match_context_free(x->mctx);
    free(x);
}

/* 1 match, 0 no match, -1 error (match limit ...). */
static int rx_match(struct table *t, struct rx_priv *x, const struct rx_rule *r, const char *key,
                    size_t len)
{
    int rc = pcre2_match(r->re, (PCRE2_SPTR)key, len, 0, 0, x->md, x->mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof(msg));
    msg_warn("%s, line %d: matching \"%.100s\": %s", t->spec, r->lineno, key, (char *)msg);
    return -1;
}

static int expand(const char *tmpl, const char *key, pcre2_match_data *md, struct buf *out)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t npairs = pcre2_get_ovector_count(md);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '$') {
            if (buf_putc(out, *p) < 0)
                return -1;
            continue;
        }
        p++;
        if (*p == '$') {
            if (buf_putc(out, '$') < 0)
                return -1;
            continue;
        }
        int braced = (*p == '{' || *p == '(');
        if (braced)
            p++;
        unsigned long n = strtoul(p, (char **)&p, 10);
        if (!braced)
            p--;
        if (n < npairs && ov[2 * n] != PCRE2_UNSET &&
            buf_append(out, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]) < 0)
            return -1;
    }
    return 0;
}

static int rx_lookup(struct table *t, const char *key, struct buf *result)
{
    struct rx_priv *x = t->priv;
    size_t len = strlen(key);
    for (size_t i = 0; i < x->n;) {
        const struct rx_rule *r = &x->v[i];
        if (r->op == R_ENDIF) {
            i++;
            continue;
        }
        int m = rx_match(t, x, r, key, len);
        if (m < 0)
            return TABLE_TEMPFAIL;
        if (r->op == R_IF) {
            i = (m != r->negate) ? i + 1 : r->endif + 1;
            continue;
        }
        if (m != r->negate) {
            if (expand(r->result, key, x->md, result) < 0) {
                msg_warn("%s, line %d: result too long", t->spec, r->lineno);
                buf_reset(result);
                return TABLE_TEMPFAIL;
            }
            return TABLE_FOUND;
        }
        i++;
    }
    return TABLE_NOTFOUND;
}

static void rx_close(struct table *t)
{
    rx_free(t->priv);
}

static const struct table_ops rx_ops = {rx_lookup, rx_close, NULL};

int table_regexp_open(struct table *t, int pcre, char *err, size_t errlen)
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
    struct rx_priv *x = xcalloc(1, sizeof(*x));
    x->pcre = pcre;
    struct buf line;
    buf_init(&line, 0);
    size_t stack[100], depth = 0;
    int lineno = 0, r, rc = 0;
    char why[600];
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        if (parse_line(x, line.data, lineno, stack, &depth, why, sizeof(why)) < 0) {
            if (text)
                rc = table_err(err, errlen, "rule %d: %s", lineno, why);
            else
                rc = table_err(err, errlen, "%s:%d: %s", src.name, lineno, why);
            break;
        }
    }
    if (r < 0)
        rc = -1;
    if (rc == 0 && depth > 0)
        rc = table_err(err, errlen, "%s:%d: IF has no matching ENDIF", src.name,
                       x->v[stack[depth - 1]].lineno);
    buf_free(&line);
    tsrc_close(&src);
    free(text);
    if (rc < 0) {
        rx_free(x);
        return -1;
    }
    uint32_t maxcap = 0;
    for (size_t i = 0; i < x->n; i++) {
        uint32_t c = 0;
        if (x->v[i].re && pcre2_pattern_info(x->v[i].re, PCRE2_INFO_CAPTURECOUNT, &c) == 0 &&
            c > maxcap)
            maxcap = c;
    }
    x->md = pcre2_match_data_create(maxcap + 1, NULL);
    x->mctx = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(x->mctx, RX_MATCH_LIMIT);
    pcre2_set_depth_limit(x->mctx, RX_DEPTH_LIMIT);
    t->priv = x;
    t->ops = &rx_ops;
    t->flags = TABLE_F_PATTERN;
    t->fold = 0;
    return 0;
}
