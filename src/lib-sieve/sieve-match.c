/*
 * sieve-match.c - comparators (RFC 4790: i;octet, i;ascii-casemap,
 * i;ascii-numeric) and the wildcard match of ":matches" (RFC 5228 2.7.1)
 * with the captures the variables extension exposes as ${1}..${9};
 * relational operators (RFC 5231).
 *
 * Owns: comparison and glob matching only; which values are matched and
 * how keys are expanded is the interpreter's.
 */
#include "lib-sieve/sieve.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* i;ascii-numeric: the leading digits as a number; no digits = positive infinity. */
static int numeric_compare(const char *a, const char *b)
{
    int ia = isdigit((unsigned char)*a), ib = isdigit((unsigned char)*b);
    if (!ia || !ib)
        return ia == ib ? 0 : ia ? -1 : 1;
    while (*a == '0')
        a++;
    while (*b == '0')
        b++;
    size_t la = 0, lb = 0;
    while (isdigit((unsigned char)a[la]))
        la++;
    while (isdigit((unsigned char)b[lb]))
        lb++;
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0;
}

int sieve_cmp_compare(enum sieve_cmp cmp, const char *a, const char *b)
{
    if (cmp == SIEVE_CMP_NUMERIC)
        return numeric_compare(a, b);
    for (;; a++, b++) {
        unsigned ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (cmp == SIEVE_CMP_CASEMAP) {
            ca = (unsigned)tolower((int)ca);
            cb = (unsigned)tolower((int)cb);
        }
        if (ca != cb || !ca)
            return ca < cb ? -1 : ca > cb;
    }
}

static int char_eq(enum sieve_cmp cmp, char a, char b)
{
    if (cmp == SIEVE_CMP_CASEMAP)
        return tolower((unsigned char)a) == tolower((unsigned char)b);
    return a == b;
}

/* Length of the UTF-8 character at s (1 for a stray byte). */
static size_t utf8_len(const char *s)
{
    unsigned char c = (unsigned char)*s;
    size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return n;
}

#define GLOB_CAPS 64

struct glob {
    enum sieve_cmp cmp;
    const char *wild[GLOB_CAPS];     /* start of what each wildcard took */
    size_t wlen[GLOB_CAPS];
    size_t nwild;
    unsigned long steps;
};

#define GLOB_MAX_STEPS 1000000UL

/* Match pattern p against s; wildcards are numbered from w. */
static int glob_at(struct glob *g, const char *p, const char *s, size_t w)
{
    while (*p) {
        if (++g->steps > GLOB_MAX_STEPS)
            return 0;
        if (*p == '*') {
            p++;
            for (const char *t = s;; t += utf8_len(t)) {
                if (glob_at(g, p, t, w + 1)) {
                    if (w < GLOB_CAPS) {
                        g->wild[w] = s;
                        g->wlen[w] = (size_t)(t - s);
                    }
                    return 1;
                }
                if (!*t)
                    return 0;
            }
        }
        if (*p == '?') {
            if (!*s)
                return 0;
            if (w < GLOB_CAPS) {
                g->wild[w] = s;
                g->wlen[w] = utf8_len(s);
            }
            s += utf8_len(s);
            p++;
            w++;
            continue;
        }
        if (*p == '\\' && p[1])
            p++;
        if (!*s || !char_eq(g->cmp, *p, *s))
            return 0;
        p++;
        s++;
    }
    if (w > g->nwild)
        g->nwild = w;
    return *s == '\0';
}

static size_t count_wild(const char *p)
{
    size_t n = 0;
    for (; *p; p++) {
        if (*p == '\\' && p[1])
            p++;
        else if (*p == '*' || *p == '?')
            n++;
    }
    return n;
}

int sieve_glob(enum sieve_cmp cmp, const char *pat, const char *s, char **caps, size_t ncaps)
{
    struct glob g;
    memset(&g, 0, sizeof(g));
    g.cmp = cmp;
    if (!glob_at(&g, pat, s, 0))
        return 0;
    if (!caps)
        return 1;
    size_t nw = count_wild(pat);
    for (size_t i = 0; i < ncaps; i++) {
        free(caps[i]);
        caps[i] = NULL;
    }
    if (ncaps)
        caps[0] = xstrdup(s);
    for (size_t i = 0; i < nw && i + 1 < ncaps && i < GLOB_CAPS; i++)
        caps[i + 1] = g.wild[i] ? xstrndup(g.wild[i], g.wlen[i]) : xstrdup("");
    return 1;
}

int sieve_rel_holds(enum sieve_rel rel, int c)
{
    switch (rel) {
    case SIEVE_REL_GT: return c > 0;
    case SIEVE_REL_GE: return c >= 0;
    case SIEVE_REL_LT: return c < 0;
    case SIEVE_REL_LE: return c <= 0;
    case SIEVE_REL_EQ: return c == 0;
    case SIEVE_REL_NE: return c != 0;
    }
    return 0;
}

int sieve_rel_parse(const char *s, enum sieve_rel *out)
{
    static const char *names[] = { "gt", "ge", "lt", "le", "eq", "ne" };
    for (size_t i = 0; i < 6; i++)
        if (str_ieq(s, names[i])) {
            *out = (enum sieve_rel)i;
            return 0;
        }
    return -1;
}
