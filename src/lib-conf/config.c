/*
 * config.c - main.cf: reading, storing, lazy expansion, typed getters and
 * the load-time checks (unknown / unimplemented parameters, bad values,
 * recursion loops), the way Postfix reads main.cf.
 *
 * Values are stored raw and expanded on first use (cfg_get); expansions
 * are cached per name. cfg_set() drops every cache, but strings handed out
 * earlier stay valid until config_free() (they move to a graveyard), so a
 * caller may keep a const char * from cfg_get() for the config's lifetime.
 *
 * master.cf is in config_master.c, machine-derived defaults in
 * config_sys.c, `conf -e` in config_edit.c, the parameter table in
 * config_params.c.
 */
#include "lib-conf/config_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* diagnostics                                                         */

void cfg_diags_add(struct cfg_diags *d, int is_error, const char *file, int line,
                   const char *fmt, ...)
{
    if (!d)
        return;
    va_list ap;
    va_start(ap, fmt);
    char text[2048];
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    d->v = xrealloc(d->v, (d->n + 1) * sizeof(*d->v));
    struct cfg_diag *g = &d->v[d->n++];
    g->is_error = is_error;
    g->file = file ? xstrdup(file) : NULL;
    g->line = line;
    g->text = xstrdup(text);
}

size_t cfg_diags_errors(const struct cfg_diags *d)
{
    size_t n = 0;
    for (size_t i = 0; d && i < d->n; i++)
        n += d->v[i].is_error != 0;
    return n;
}

size_t cfg_diags_warnings(const struct cfg_diags *d)
{
    return d ? d->n - cfg_diags_errors(d) : 0;
}

void cfg_diags_free(struct cfg_diags *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].file);
        free(d->v[i].text);
    }
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

void cfg_diag_format(const struct cfg_diag *g, char *out, size_t outlen)
{
    const char *sev = g->is_error ? "error" : "warning";
    if (g->file && g->line > 0)
        snprintf(out, outlen, "%s:%d: %s: %s", g->file, g->line, sev, g->text);
    else if (g->file)
        snprintf(out, outlen, "%s: %s: %s", g->file, sev, g->text);
    else
        snprintf(out, outlen, "%s: %s", sev, g->text);
}

void cfg_diags_print(const struct cfg_diags *d, FILE *f)
{
    char line[2600];
    for (size_t i = 0; d && i < d->n; i++) {
        cfg_diag_format(&d->v[i], line, sizeof(line));
        fprintf(f, "%s\n", line);
    }
}

void cfg_diags_log(const struct cfg_diags *d)
{
    char line[2600];
    for (size_t i = 0; d && i < d->n; i++) {
        const struct cfg_diag *g = &d->v[i];
        if (g->file && g->line > 0)
            snprintf(line, sizeof(line), "%s:%d: %s", g->file, g->line, g->text);
        else if (g->file)
            snprintf(line, sizeof(line), "%s: %s", g->file, g->text);
        else
            snprintf(line, sizeof(line), "%s", g->text);
        if (g->is_error)
            msg_error("%s", line);
        else
            msg_warn("%s", line);
    }
}

/* ------------------------------------------------------------------ */
/* the name -> entry map                                               */

static size_t hash_name(const char *s)
{
    size_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static void cmap_grow(struct cmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 256;
    struct centry **ns = xcalloc(ncap, sizeof(*ns));
    for (size_t i = 0; i < m->cap; i++) {
        struct centry *e = m->slots[i];
        if (!e)
            continue;
        size_t j = hash_name(e->name) & (ncap - 1);
        while (ns[j])
            j = (j + 1) & (ncap - 1);
        ns[j] = e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

struct centry *cmap_get(struct cmap *m, const char *name, int create)
{
    if (m->cap) {
        size_t j = hash_name(name) & (m->cap - 1);
        while (m->slots[j]) {
            if (strcmp(m->slots[j]->name, name) == 0)
                return m->slots[j];
            j = (j + 1) & (m->cap - 1);
        }
    }
    if (!create)
        return NULL;
    if ((m->n + 1) * 2 > m->cap)
        cmap_grow(m);
    size_t j = hash_name(name) & (m->cap - 1);
    while (m->slots[j])
        j = (j + 1) & (m->cap - 1);
    struct centry *e = xcalloc(1, sizeof(*e));
    e->name = xstrdup(name);
    m->slots[j] = e;
    m->n++;
    return e;
}

static void grave_add(struct cmap *m, char *p)
{
    if (!p)
        return;
    if (m->ngrave == m->capgrave) {
        m->capgrave = m->capgrave ? m->capgrave * 2 : 64;
        m->grave = xrealloc(m->grave, m->capgrave * sizeof(*m->grave));
    }
    m->grave[m->ngrave++] = p;
}

void cmap_invalidate(struct cmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct centry *e = m->slots[i];
        if (!e)
            continue;
        grave_add(m, e->expanded);
        grave_add(m, e->dyn);
        grave_add(m, e->dflt_exp);
        free(e->experr);
        e->expanded = e->experr = e->dyn = e->dflt_exp = NULL;
        e->has_exp = e->has_dyn = e->has_dflt = 0;
    }
}

void cmap_free(struct cmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        struct centry *e = m->slots[i];
        if (!e)
            continue;
        free(e->name);
        free(e->value);
        free(e->file);
        free(e->expanded);
        free(e->experr);
        free(e->dyn);
        free(e->dflt_exp);
        free(e);
    }
    for (size_t i = 0; i < m->ngrave; i++)
        free(m->grave[i]);
    free(m->grave);
    free(m->slots);
    free(m);
}

/* ------------------------------------------------------------------ */
/* value syntax                                                        */

static int is_name_char(int c)
{
    return isalnum(c) || c == '_';
}

/* main.cf parameter names: Postfix's [A-Za-z0-9_] plus '-' and '.' for service names. */
int cfg_valid_name(const char *s, size_t len)
{
    if (len == 0 || len >= CFG_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_name_char((unsigned char)s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

int cfg_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "1"};
    static const char *const no[] = {"no", "false", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (str_ieq(s, yes[i])) {
            *out = 1;
            return 0;
        }
        if (str_ieq(s, no[i])) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* Digits only, no sign; -1 on overflow or junk. */
static int parse_digits(const char *s, const char **end, long long *out)
{
    long long v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return -1;
    for (; isdigit((unsigned char)*p); p++) {
        int d = *p - '0';
        if (v > (LLONG_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *end = p;
    *out = v;
    return 0;
}

int cfg_parse_int(const char *s, long long *out)
{
    int neg = 0;
    const char *end;
    long long v;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (parse_digits(s, &end, &v) < 0 || *end)
        return -1;
    *out = neg ? -v : v;
    return 0;
}

int cfg_parse_size(const char *s, long long *out)
{
    const char *end;
    if (parse_digits(s, &end, out) < 0 || *end)
        return -1;
    return 0;
}

/* "10", "10s", "5m", "2h", "1d", "1w"; no unit means the parameter's default unit. */
int cfg_parse_time(const char *s, char unit, long long *seconds)
{
    const char *end;
    long long v, mult;
    if (parse_digits(s, &end, &v) < 0)
        return -1;
    char u = *end ? *end : (unit ? unit : 's');
    if (*end && end[1])
        return -1;
    switch (tolower((unsigned char)u)) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 604800; break;
    default: return -1;
    }
    /* Keep room for the millisecond getter. */
    if (v > LLONG_MAX / 1000 / mult)
        return -1;
    *seconds = v * mult;
    return 0;
}

/* ------------------------------------------------------------------ */
/* raw values and defaults                                             */

static const char *dynamic_default(const struct config *cfg, struct centry *e)
{
    if (e->has_dyn == 1)
        return e->dyn;
    if (e->has_dyn == 2)
        return "";      /* a default that depends on itself: never recurse */
    e->has_dyn = 2;
    char *v = NULL;
    if (strcmp(e->name, "config_directory") == 0)
        v = xstrdup(cfg->dir);
    else if (strcmp(e->name, "myhostname") == 0)
        v = cfg_sys_hostname_default(cfg);
    else if (strcmp(e->name, "mydomain") == 0)
        v = cfg_sys_domain_default(cfg);
    else if (strcmp(e->name, "mynetworks") == 0)
        v = cfg_sys_mynetworks(cfg);
    else if (strcmp(e->name, "process_id") == 0)
        v = xasprintf("%ld", (long)getpid());
    else if (strcmp(e->name, "process_name") == 0)
        v = xstrdup(log_role());
    else if (strcmp(e->name, "service_name") == 0)
        v = xstrdup(cfg->service_name ? cfg->service_name : "");
    else
        v = xstrdup("");
    e->dyn = v;
    e->has_dyn = 1;
    return v;
}

const char *cfg_param_default_raw_by_name(const struct config *cfg, const char *name)
{
    const struct param_def *def = cfg_param_def(name);
    if (def) {
        if (def->def || !(def->flags & DYN))
            return def->def;
        return dynamic_default(cfg, cmap_get(cfg->map, name, 1));
    }
    const struct svc_param_def *sd = cfg_svc_param(cfg, name);
    return sd ? sd->def : NULL;
}

const char *cfg_get_raw_by_name(const struct config *cfg, const char *name)
{
    struct centry *e = cmap_get(cfg->map, name, 0);
    if (e && e->value)
        return e->value;
    return cfg_param_default_raw_by_name(cfg, name);
}

int cfg_is_set_by_name(const struct config *cfg, const char *name)
{
    struct centry *e = cmap_get(cfg->map, name, 0);
    return e && e->value;
}

const char *cfg_set_where_by_name(const struct config *cfg, const char *name, int *line)
{
    struct centry *e = cmap_get(cfg->map, name, 0);
    if (!e || !e->value)
        return NULL;
    if (line)
        *line = e->line;
    return e->file ? e->file : "(override)";
}

/* ------------------------------------------------------------------ */
/* expansion                                                           */

struct xctx {
    const struct config *cfg;
    const char *stack[CFG_DEPTH_MAX];
    int depth;
    char *err;          /* first error, malloc'd */
};

static void xerr(struct xctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xerr(struct xctx *x, const char *fmt, ...)
{
    if (x->err)
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    x->err = xstrdup(text);
}

static int expand_text(struct xctx *x, const char *s, size_t len, struct buf *out);

static void xappend(struct xctx *x, struct buf *out, const char *s, size_t len)
{
    if (buf_append(out, s, len) < 0)
        xerr(x, "expanded value is longer than %u bytes", CFG_VALUE_MAX);
}

static void loop_error(struct xctx *x, const char *name)
{
    char chain[400];
    size_t off = 0;
    int from = 0;
    for (int i = 0; i < x->depth; i++)
        if (strcmp(x->stack[i], name) == 0) {
            from = i;
            break;
        }
    chain[0] = '\0';
    for (int i = from; i < x->depth && off < sizeof(chain); i++) {
        int n = snprintf(chain + off, sizeof(chain) - off, "$%s -> ", x->stack[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
    if (off < sizeof(chain))
        snprintf(chain + off, sizeof(chain) - off, "$%s", name);
    xerr(x, "parameter recursion loop: %s", chain);
}

/*
 * mydomain's default is derived from myhostname's value. Postfix reads
 * myhostname first, when mydomain is not defined yet, so a $mydomain
 * inside myhostname is empty unless main.cf sets mydomain. The same
 * here, whichever of the two is expanded first.
 */
static int undefined_yet(const struct xctx *x, const char *name, const struct centry *e)
{
    if (strcmp(name, "mydomain") != 0 || (e && e->value))
        return 0;
    for (int i = 0; i < x->depth; i++)
        if (strcmp(x->stack[i], "myhostname") == 0)
            return 1;
    return 0;
}

/* Expanded value of a parameter ("" when undefined), cached. */
static const char *expand_name(struct xctx *x, const char *name, size_t nlen)
{
    char nm[CFG_NAME_MAX];
    if (nlen >= sizeof(nm)) {
        xerr(x, "parameter name too long in $ reference");
        return "";
    }
    memcpy(nm, name, nlen);
    nm[nlen] = '\0';
    const struct config *cfg = x->cfg;
    struct centry *e = cmap_get(cfg->map, nm, 0);
    if (undefined_yet(x, nm, e))
        return "";
    if (e && e->has_exp) {
        if (e->experr && !x->err)
            x->err = xstrdup(e->experr);
        return e->expanded;
    }
    if (e && e->expanding) {
        loop_error(x, nm);
        return "";
    }
    const char *raw = cfg_get_raw_by_name(cfg, nm);
    if (!raw)
        return "";
    if (x->depth >= CFG_DEPTH_MAX) {
        xerr(x, "parameter expansion nested more than %d levels deep at $%s", CFG_DEPTH_MAX, nm);
        return "";
    }
    e = cmap_get(cfg->map, nm, 1);
    char *saved_err = x->err;
    x->err = NULL;
    e->expanding = 1;
    x->stack[x->depth++] = e->name;
    struct buf b;
    buf_init(&b, CFG_VALUE_MAX);
    expand_text(x, raw, strlen(raw), &b);
    x->depth--;
    e->expanding = 0;
    e->expanded = xstrdup(buf_cstr(&b));
    buf_free(&b);
    e->experr = x->err ? xstrdup(x->err) : NULL;
    e->has_exp = 1;
    if (saved_err) {
        free(x->err);
        x->err = saved_err;
    }
    return e->expanded;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* A "{...}" group at p: its inside, and the position after the closing brace. */
static int brace_group(const char *p, const char *end, const char **in, size_t *inlen,
                       const char **after)
{
    if (p >= end || *p != '{')
        return -1;
    int depth = 0;
    for (const char *q = p; q < end; q++) {
        if (*q == '{')
            depth++;
        else if (*q == '}' && --depth == 0) {
            /* Postfix ignores whitespace just inside the braces too. */
            const char *s = skip_ws(p + 1, q), *e = q;
            while (e > s && isspace((unsigned char)e[-1]))
                e--;
            *in = s;
            *inlen = (size_t)(e - s);
            *after = q + 1;
            return 0;
        }
    }
    return -1;
}

/* "{value}" spanning exactly to end (surrounding whitespace allowed), else the text itself. */
static void value_text(const char *p, const char *end, const char **v, size_t *vlen)
{
    const char *q = skip_ws(p, end), *in, *after;
    size_t inlen;
    if (brace_group(q, end, &in, &inlen, &after) == 0 && skip_ws(after, end) == end) {
        *v = in;
        *vlen = inlen;
        return;
    }
    *v = p;
    *vlen = (size_t)(end - p);
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

/* Compatibility levels "3", "3.6", "3.6.1": numeric per component. */
static int parse_level(const char *s, unsigned long v[3])
{
    v[0] = v[1] = v[2] = 0;
    for (int i = 0; i < 3; i++) {
        if (!isdigit((unsigned char)*s))
            return -1;
        char *end;
        errno = 0;
        v[i] = strtoul(s, &end, 10);
        if (errno)
            return -1;
        s = end;
        if (!*s)
            return 0;
        if (*s != '.')
            return -1;
        s++;
    }
    return -1;
}

static int compare_values(struct xctx *x, const char *a, const char *b, int level)
{
    if (level) {
        unsigned long va[3], vb[3];
        if (parse_level(a, va) < 0 || parse_level(b, vb) < 0) {
            xerr(x, "bad compatibility level in comparison: \"%s\" vs \"%s\"", a, b);
            return 0;
        }
        for (int i = 0; i < 3; i++)
            if (va[i] != vb[i])
                return va[i] < vb[i] ? -1 : 1;
        return 0;
    }
    if (all_digits(a) && all_digits(b)) {
        while (*a == '0' && a[1])
            a++;
        while (*b == '0' && b[1])
            b++;
        size_t la = strlen(a), lb = strlen(b);
        if (la != lb)
            return la < lb ? -1 : 1;
    }
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

/* "${{a} OP {b} ? {then} : {else}}" (Postfix 3.0; "<level" etc. 3.6). */
static void expand_relational(struct xctx *x, const char *p, const char *end, struct buf *out,
                              const char *whole, size_t wlen)
{
    const char *a, *b, *t, *f = NULL, *after;
    size_t alen, blen, tlen, flen = 0;
    static const char *const ops[] = {"==", "!=", "<=", ">=", "<", ">"};
    int op = -1, level = 0;

    p = skip_ws(p, end);
    if (brace_group(p, end, &a, &alen, &after) < 0)
        goto bad;
    p = skip_ws(after, end);
    for (size_t i = 0; i < ARRAY_LEN(ops); i++) {
        size_t n = strlen(ops[i]);
        if ((size_t)(end - p) >= n && memcmp(p, ops[i], n) == 0) {
            op = (int)i;
            p += n;
            break;
        }
    }
    if (op < 0)
        goto bad;
    if ((size_t)(end - p) >= 5 && memcmp(p, "level", 5) == 0) {
        level = 1;
        p += 5;
    }
    p = skip_ws(p, end);
    if (brace_group(p, end, &b, &blen, &after) < 0)
        goto bad;
    p = skip_ws(after, end);
    if (p >= end || *p != '?')
        goto bad;
    p = skip_ws(p + 1, end);
    if (brace_group(p, end, &t, &tlen, &after) < 0)
        goto bad;
    p = skip_ws(after, end);
    if (p < end) {
        if (*p != ':')
            goto bad;
        value_text(skip_ws(p + 1, end), end, &f, &flen);
    }

    struct buf ba, bb;
    buf_init(&ba, CFG_VALUE_MAX);
    buf_init(&bb, CFG_VALUE_MAX);
    expand_text(x, a, alen, &ba);
    expand_text(x, b, blen, &bb);
    int c = compare_values(x, buf_cstr(&ba), buf_cstr(&bb), level);
    buf_free(&ba);
    buf_free(&bb);
    int truth;
    switch (op) {
    case 0: truth = c == 0; break;
    case 1: truth = c != 0; break;
    case 2: truth = c <= 0; break;
    case 3: truth = c >= 0; break;
    case 4: truth = c < 0; break;
    default: truth = c > 0; break;
    }
    if (truth)
        expand_text(x, t, tlen, out);
    else if (f)
        expand_text(x, f, flen, out);
    return;
bad:
    xerr(x, "malformed relational expression \"${%.*s}\"", (int)(wlen > 200 ? 200 : wlen), whole);
}

/* The inside of "${...}" or "$(...)". */
static void expand_braced(struct xctx *x, const char *body, size_t blen, struct buf *out)
{
    const char *p = body, *end = body + blen;
    const char *q = skip_ws(p, end);
    if (q < end && *q == '{') {
        expand_relational(x, q, end, out, body, blen);
        return;
    }
    while (p < end && is_name_char((unsigned char)*p))
        p++;
    size_t nlen = (size_t)(p - body);
    if (nlen == 0) {
        xerr(x, "bad parameter name in \"${%.*s}\"", (int)(blen > 200 ? 200 : blen), body);
        return;
    }
    if (p == end) {
        const char *v = expand_name(x, body, nlen);
        xappend(x, out, v, strlen(v));
        return;
    }
    char how = *p++;
    if (how != '?' && how != ':') {
        xerr(x, "unexpected \"%c\" after parameter name in \"${%.*s}\"", how,
             (int)(blen > 200 ? 200 : blen), body);
        return;
    }
    int nonempty = *expand_name(x, body, nlen) != '\0';
    if (how == ':') {
        const char *v;
        size_t vlen;
        value_text(p, end, &v, &vlen);
        if (!nonempty)
            expand_text(x, v, vlen, out);
        return;
    }
    /* '?': "text" (2.2), "{text}", "{text}:{text}", "{text}:text" (3.0) */
    const char *r = skip_ws(p, end), *v1 = p, *v2 = NULL, *in, *after;
    size_t v1len = (size_t)(end - p), v2len = 0, inlen;
    if (r < end && *r == '{') {
        if (brace_group(r, end, &in, &inlen, &after) < 0) {
            xerr(x, "missing '}' in \"${%.*s}\"", (int)(blen > 200 ? 200 : blen), body);
            return;
        }
        v1 = in;
        v1len = inlen;
        const char *a = skip_ws(after, end);
        if (a < end) {
            if (*a != ':') {
                xerr(x, "unexpected text after {value} in \"${%.*s}\"",
                     (int)(blen > 200 ? 200 : blen), body);
                return;
            }
            value_text(skip_ws(a + 1, end), end, &v2, &v2len);
        }
    }
    if (nonempty)
        expand_text(x, v1, v1len, out);
    else if (v2)
        expand_text(x, v2, v2len, out);
}

/* Find the bracket closing the one at s[i] ('{' or '('), honouring nesting. */
static ssize_t matching_close(const char *s, size_t len, size_t i)
{
    char open = s[i], close = open == '{' ? '}' : ')';
    int depth = 0;
    for (size_t j = i; j < len; j++) {
        if (s[j] == open)
            depth++;
        else if (s[j] == close && --depth == 0)
            return (ssize_t)j;
    }
    return -1;
}

static int expand_text(struct xctx *x, const char *s, size_t len, struct buf *out)
{
    size_t i = 0;
    while (i < len && !x->err) {
        const char *dollar = memchr(s + i, '$', len - i);
        if (!dollar) {
            xappend(x, out, s + i, len - i);
            break;
        }
        size_t d = (size_t)(dollar - s);
        xappend(x, out, s + i, d - i);
        char n = d + 1 < len ? s[d + 1] : '\0';
        if (n == '$') {
            xappend(x, out, "$", 1);
            i = d + 2;
        } else if (n == '{' || n == '(') {
            ssize_t c = matching_close(s, len, d + 1);
            if (c < 0) {
                xerr(x, "missing '%c' in \"%.*s\"", n == '{' ? '}' : ')',
                     (int)(len - d > 200 ? 200 : len - d), s + d);
                break;
            }
            expand_braced(x, s + d + 2, (size_t)c - d - 2, out);
            i = (size_t)c + 1;
        } else if (is_name_char((unsigned char)n)) {
            size_t e = d + 1;
            while (e < len && is_name_char((unsigned char)s[e]))
                e++;
            const char *v = expand_name(x, s + d + 1, e - d - 1);
            xappend(x, out, v, strlen(v));
            i = e;
        } else {                        /* Postfix: "empty macro name"; $$ is a '$' */
            xerr(x, "'$' without a parameter name in \"%.*s\" (write $$ for a literal '$')",
                 (int)(len > 200 ? 200 : len), s);
            break;
        }
    }
    return x->err ? -1 : 0;
}

const char *cfg_get_checked(const struct config *cfg, const char *name, const char **err)
{
    *err = NULL;
    if (!cfg_get_raw_by_name(cfg, name))
        return NULL;
    struct xctx x = {.cfg = cfg};
    const char *v = expand_name(&x, name, strlen(name));
    free(x.err);
    struct centry *e = cmap_get(cfg->map, name, 0);
    if (e)
        *err = e->experr;
    return v;
}

const char *cfg_get_by_name(const struct config *cfg, const char *name)
{
    struct centry *e = cmap_get(cfg->map, name, 0);
    if (e && e->has_exp)
        return e->expanded;
    const char *err;
    const char *v = cfg_get_checked(cfg, name, &err);
    if (err)
        msg_warn("%s: %s", name, err);
    return v;
}

char *cfg_expand(const struct config *cfg, const char *text)
{
    struct xctx x = {.cfg = cfg};
    struct buf b;
    buf_init(&b, CFG_VALUE_MAX);
    expand_text(&x, text, strlen(text), &b);
    if (x.err)
        msg_warn("expanding \"%.100s\": %s", text, x.err);
    free(x.err);
    char *r = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return r;
}

const char *cfg_param_default_by_name(const struct config *cfg, const char *name)
{
    const char *raw = cfg_param_default_raw_by_name(cfg, name);
    if (!raw)
        return NULL;
    struct centry *e = cmap_get(cfg->map, name, 1);
    if (!e->has_dflt) {
        e->dflt_exp = cfg_expand(cfg, raw);
        e->has_dflt = 1;
    }
    return e->dflt_exp;
}

void cfg_scan_refs(const char *s, void (*cb)(const char *name, size_t len, int cond, void *arg),
                   void *arg)
{
    for (const char *p = s; *p; p++) {
        if (*p != '$')
            continue;
        if (p[1] == '$') {
            p++;
            continue;
        }
        const char *n = p + 1;
        int braced = *n == '{' || *n == '(';
        if (braced)
            n++;
        const char *e = n;
        while (is_name_char((unsigned char)*e))
            e++;
        if (e == n)
            continue;
        int cond = braced && (*e == '?' || *e == ':');
        cb(n, (size_t)(e - n), cond, arg);
        p = e - 1;
    }
}

/* ------------------------------------------------------------------ */
/* typed getters                                                       */

int cfg_param_info(const struct config *cfg, const char *name, int *type, char *unit, int *impl)
{
    const struct param_def *def = cfg_param_def(name);
    if (def) {
        *type = def->type;
        *unit = def->unit;
        *impl = (def->flags & IMPL) != 0;
        return 1;
    }
    const struct svc_param_def *sd = cfg_svc_param(cfg, name);
    if (sd) {
        *type = sd->type;
        *unit = sd->unit;
        /* qmgr honours the per-transport concurrency and recipient limits. */
        *impl = strcmp(sd->suffix, "destination_concurrency_limit") == 0 ||
                strcmp(sd->suffix, "destination_recipient_limit") == 0;
        return 1;
    }
    *type = PT_STR;
    *unit = 's';
    *impl = 0;
    return 0;
}

/* The table's range of a name (per-service parameters have none). */
static void param_range(const char *name, long long *min, long long *max)
{
    const struct param_def *def = cfg_param_def(name);
    *min = def ? def->min : NOMIN;
    *max = def ? def->max : NOMAX;
}

/* "must be >= 1", "must be <= 8640000", "must be between 400 and 599" */
static void range_text(long long min, long long max, char *out, size_t outlen)
{
    if (min != NOMIN && max != NOMAX)
        snprintf(out, outlen, "must be between %lld and %lld", min, max);
    else if (min != NOMIN)
        snprintf(out, outlen, "must be >= %lld", min);
    else
        snprintf(out, outlen, "must be <= %lld", max);
}

/* Parse v as type want with the parameter's unit; 0 if it is valid and in range. */
static int parse_typed(const char *name, const char *v, int want, char unit, long long *r,
                       int *out_of_range)
{
    int b, ok;
    switch (want) {
    case PT_BOOL: ok = cfg_parse_bool(v, &b) == 0; *r = b; break;
    case PT_TIME: ok = cfg_parse_time(v, unit, r) == 0; break;
    case PT_SIZE: ok = cfg_parse_size(v, r) == 0; break;
    default: ok = cfg_parse_int(v, r) == 0; break;
    }
    *out_of_range = 0;
    if (!ok)
        return -1;
    long long min, max;
    param_range(name, &min, &max);
    if (want != PT_BOOL && (*r < min || *r > max)) {
        *out_of_range = 1;
        return -1;
    }
    return 0;
}

/*
 * Parse the value as the parameter's type; a malformed or out-of-range
 * value (possible only where `yubin check` did not run: a lenient load, a
 * cfg_set) is logged and the default used instead.
 */
static long long typed_get(const struct config *cfg, const char *name, int want)
{
    int type, impl;
    char unit;
    cfg_param_info(cfg, name, &type, &unit, &impl);
    const char *v = cfg_get_by_name(cfg, name);
    for (int attempt = 0; attempt < 2 && v; attempt++) {
        long long r;
        int oor;
        if (parse_typed(name, v, want, unit, &r, &oor) == 0)
            return r;
        char why[128] = "";
        if (oor) {
            long long min, max;
            char range[96];
            param_range(name, &min, &max);
            range_text(min, max, range, sizeof(range));
            snprintf(why, sizeof(why), " (%s)", range);
        }
        msg_warn("%s: %s %s value \"%s\"%s%s", name, oor ? "out-of-range" : "bad",
                 want == PT_BOOL ? "boolean" : want == PT_TIME ? "time" :
                 want == PT_SIZE ? "size" : "numerical", v, why, attempt ? "" : "; using the default");
        v = attempt ? NULL : cfg_param_default_by_name(cfg, name);
    }
    return 0;
}

/* The row of a parameter constant, checked to have type want (any type for PT_STR). */
static const struct param_def *param_row(enum param_id p, int want)
{
    INVARIANT((unsigned)p < P__COUNT);
    const struct param_def *def = &cfg_param_table[p];
    INVARIANT(want == PT_STR || def->type == want);
    return def;
}

long long cfg_get_int(const struct config *cfg, enum param_id p)
{
    return typed_get(cfg, param_row(p, PT_INT)->name, PT_INT);
}

int cfg_get_bool(const struct config *cfg, enum param_id p)
{
    return (int)typed_get(cfg, param_row(p, PT_BOOL)->name, PT_BOOL);
}

long long cfg_get_time(const struct config *cfg, enum param_id p)
{
    return typed_get(cfg, param_row(p, PT_TIME)->name, PT_TIME);
}

long long cfg_get_time_ms(const struct config *cfg, enum param_id p)
{
    return typed_get(cfg, param_row(p, PT_TIME)->name, PT_TIME) * 1000;
}

long long cfg_get_size(const struct config *cfg, enum param_id p)
{
    return typed_get(cfg, param_row(p, PT_SIZE)->name, PT_SIZE);
}

char **cfg_get_list(const struct config *cfg, enum param_id p)
{
    return cfg_get_list_by_name(cfg, param_row(p, PT_STR)->name);
}

const char *cfg_get(const struct config *cfg, enum param_id p)
{
    return cfg_get_by_name(cfg, param_row(p, PT_STR)->name);
}

const char *cfg_get_raw(const struct config *cfg, enum param_id p)
{
    return cfg_get_raw_by_name(cfg, param_row(p, PT_STR)->name);
}

int cfg_is_set(const struct config *cfg, enum param_id p)
{
    return cfg_is_set_by_name(cfg, param_row(p, PT_STR)->name);
}

const char *cfg_set_where(const struct config *cfg, enum param_id p, int *line)
{
    return cfg_set_where_by_name(cfg, param_row(p, PT_STR)->name, line);
}

/* By name: per-service parameters have a type from cfg_svc_param_table. */
long long cfg_get_int_by_name(const struct config *cfg, const char *name)
{
    return typed_get(cfg, name, PT_INT);
}

int cfg_get_bool_by_name(const struct config *cfg, const char *name)
{
    return (int)typed_get(cfg, name, PT_BOOL);
}

long long cfg_get_time_by_name(const struct config *cfg, const char *name)
{
    return typed_get(cfg, name, PT_TIME);
}

long long cfg_get_size_by_name(const struct config *cfg, const char *name)
{
    return typed_get(cfg, name, PT_SIZE);
}

char **cfg_get_list_by_name(const struct config *cfg, const char *name)
{
    const char *v = cfg_get_by_name(cfg, name);
    return str_split_list(v ? v : "", NULL);
}

/* ------------------------------------------------------------------ */
/* setting                                                             */

static void set_value(struct config *cfg, const char *name, const char *value, const char *file,
                      int line)
{
    struct centry *e = cmap_get(cfg->map, name, 1);
    if (e->value)
        grave_add(cfg->map, e->value);   /* cfg_get_raw() may have handed it out */
    free(e->file);
    e->value = xstrdup(value);
    e->file = file ? xstrdup(file) : NULL;
    e->line = line;
    cmap_invalidate(cfg->map);
}

void cfg_set(struct config *cfg, const char *name, const char *value)
{
    set_value(cfg, name, value, NULL, 0);
}

void cfg_apply_service(struct config *cfg, const struct master_service *svc)
{
    free(cfg->service_name);
    cfg->service_name = xstrdup(svc->name);
    for (char **o = svc->overrides; o && *o; o++) {
        const char *eq = strchr(*o, '=');
        if (!eq)
            continue;
        char *name = xstrndup(*o, (size_t)(eq - *o));
        set_value(cfg, name, eq + 1, svc->file, svc->line);
        free(name);
    }
    cmap_invalidate(cfg->map);
}

const char *cfg_dir(const struct config *cfg)
{
    return cfg->dir;
}

static char *cfg_path_by_name(const struct config *cfg, const char *param_name)
{
    const char *v = cfg_get_by_name(cfg, param_name);
    if (!v || !*v)
        return NULL;
    if (v[0] == '/')
        return xstrdup(v);
    /* Postfix: process_id_directory is relative to queue_directory. */
    if (strcmp(param_name, "process_id_directory") == 0) {
        char *q = cfg_path(cfg, P_queue_directory);
        if (q) {
            char *r = xasprintf("%s/%s", q, v);
            free(q);
            return r;
        }
    }
    return xasprintf("%s/%s", cfg->dir, v);
}

char *cfg_path(const struct config *cfg, enum param_id p)
{
    return cfg_path_by_name(cfg, param_row(p, PT_STR)->name);
}

/* ------------------------------------------------------------------ */
/* parameter catalogue                                                 */

size_t cfg_param_count(void)
{
    return cfg_param_table_len;
}

const char *cfg_param_name(size_t i)
{
    return i < cfg_param_table_len ? cfg_param_table[i].name : NULL;
}

const char *cfg_param_builtin(enum param_id p)
{
    return param_row(p, PT_STR)->def;
}

int cfg_param_implemented(const char *name)
{
    const struct param_def *def = cfg_param_def(name);
    return def && (def->flags & IMPL);
}

int cfg_param_known(const struct config *cfg, const char *name)
{
    return cfg_param_def(name) || (cfg && cfg_svc_param(cfg, name));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int restriction_class(const struct config *cfg, const char *name)
{
    int found = 0;
    char **v = cfg_get_list(cfg, P_smtpd_restriction_classes);
    for (char **p = v; *p && !found; p++)
        found = strcmp(*p, name) == 0;
    strv_free(v);
    return found;
}

/* A main.cf name that is neither known nor used anywhere. */
static int name_is_valid(const struct config *cfg, const struct centry *e)
{
    return cfg_param_known(cfg, e->name) || e->referenced || restriction_class(cfg, e->name);
}

char **cfg_set_names(const struct config *cfg)
{
    struct cmap *m = cfg->map;
    size_t n = 0;
    char **v = xcalloc(m->n + 1, sizeof(*v));
    for (size_t i = 0; i < m->cap; i++) {
        struct centry *e = m->slots[i];
        if (e && e->value && name_is_valid(cfg, e))
            v[n++] = xstrdup(e->name);
    }
    v[n] = NULL;
    qsort(v, n, sizeof(*v), cmp_str);
    return v;
}

/* ------------------------------------------------------------------ */
/* reading logical lines                                               */

void ll_init(struct llreader *r, const char *file, const char *text, size_t len)
{
    r->p = text;
    r->end = text + len;
    r->file = file;
    r->lineno = 0;
}

char *ll_next(struct llreader *r, int *line, struct cfg_diags *d)
{
    struct buf b;
    int have = 0, too_long = 0;
    buf_init(&b, CFG_LINE_MAX);
    while (r->p < r->end) {
        const char *ls = r->p;
        const char *nl = memchr(ls, '\n', (size_t)(r->end - ls));
        const char *le = nl ? nl : r->end;
        const char *next = nl ? nl + 1 : r->end;
        int lineno = r->lineno + 1;
        while (le > ls && isspace((unsigned char)le[-1]))
            le--;
        const char *fn = ls;
        while (fn < le && isspace((unsigned char)*fn))
            fn++;
        if (fn == le || *fn == '#') {        /* blank or comment: skipped */
            r->p = next;
            r->lineno = lineno;
            continue;
        }
        if (fn == ls && have)                /* the next logical line starts here */
            break;
        r->p = next;
        r->lineno = lineno;
        if (fn > ls && !have) {
            cfg_diags_add(d, 0, r->file, lineno,
                          "logical line must not start with whitespace: \"%.60s\" (ignored)", fn);
            continue;
        }
        if (!have) {
            have = 1;
            *line = lineno;
        } else if (buf_putc(&b, ' ') < 0) {
            too_long = 1;
        }
        if (buf_append(&b, fn, (size_t)(le - fn)) < 0)
            too_long = 1;
    }
    if (too_long) {
        cfg_diags_add(d, 1, r->file, *line, "logical line is longer than %u bytes", CFG_LINE_MAX);
        buf_free(&b);
        return ll_next(r, line, d);
    }
    if (!have) {
        buf_free(&b);
        return NULL;
    }
    char *s = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return s;
}

/* ------------------------------------------------------------------ */
/* main.cf                                                             */

static void parse_main_line(struct config *cfg, char *text, int line, struct cfg_diags *d)
{
    const char *file = cfg->main_path;
    char *p = text;
    while (*p && !isspace((unsigned char)*p) && *p != '=')
        p++;
    size_t nlen = (size_t)(p - text);
    if (nlen == 0) {
        cfg_diags_add(d, 1, file, line, "missing parameter name before '=': \"%.60s\"", text);
        return;
    }
    char *name = xstrndup(text, nlen);
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '=') {
        cfg_diags_add(d, 1, file, line, "missing '=' after parameter name \"%.60s\"", name);
    } else if (!cfg_valid_name(name, nlen)) {
        cfg_diags_add(d, 1, file, line,
                      "bad parameter name \"%.60s\" (use letters, digits and '_')", name);
    } else {
        p++;
        while (isspace((unsigned char)*p))
            p++;
        struct centry *e = cmap_get(cfg->map, name, 0);
        if (e && e->value)
            cfg_diags_add(d, 0, file, line, "overriding earlier entry: %s=%.60s (line %d)", name,
                          e->value, e->line);
        set_value(cfg, name, p, file, line);
    }
    free(name);
}

static int read_main(struct config *cfg, struct cfg_diags *d, int must_exist)
{
    size_t len;
    char *text = read_file(cfg->main_path, CFG_FILE_MAX, &len);
    if (!text) {
        if (errno == ENOENT && !must_exist)
            return 0;
        cfg_diags_add(d, 1, cfg->main_path, 0, "cannot read: %s",
                      errno == EFBIG ? "file too large" : strerror(errno));
        return -1;
    }
    if (memchr(text, '\0', len)) {
        cfg_diags_add(d, 1, cfg->main_path, 0, "file contains a NUL byte");
        free(text);
        return -1;
    }
    struct llreader r;
    ll_init(&r, cfg->main_path, text, len);
    int line;
    char *l;
    while ((l = ll_next(&r, &line, d))) {
        parse_main_line(cfg, l, line, d);
        free(l);
    }
    free(text);
    return 0;
}

/* ------------------------------------------------------------------ */
/* load-time checks                                                    */

static void mark_ref(const char *name, size_t len, int cond, void *arg)
{
    (void)cond;
    struct config *cfg = arg;
    char nm[CFG_NAME_MAX];
    if (len >= sizeof(nm))
        return;
    memcpy(nm, name, len);
    nm[len] = '\0';
    cmap_get(cfg->map, nm, 1)->referenced = 1;
}

struct undef_ctx {
    const struct config *cfg;
    const struct master_service *svc;   /* -o values may refer to sibling -o names */
    const char *file;
    int line;
    const char *param;
    struct cfg_diags *d;
};

static int svc_overrides(const struct master_service *svc, const char *name)
{
    size_t n = strlen(name);
    for (char **o = svc->overrides; o && *o; o++)
        if (strncmp(*o, name, n) == 0 && (*o)[n] == '=')
            return 1;
    return 0;
}

/* Defined by -o in this service, or (for main.cf values) in any service. */
static int overridden(const struct config *cfg, const struct master_service *svc, const char *name)
{
    if (svc)
        return svc_overrides(svc, name);
    for (size_t i = 0; i < cfg->nsvcs; i++)
        if (svc_overrides(cfg->svcs[i], name))
            return 1;
    return 0;
}

static void check_undef(const char *name, size_t len, int cond, void *arg)
{
    struct undef_ctx *u = arg;
    char nm[CFG_NAME_MAX];
    if (cond || len >= sizeof(nm))
        return;     /* ${name?...} / ${name:...} test definedness on purpose */
    memcpy(nm, name, len);
    nm[len] = '\0';
    if (cfg_param_known(u->cfg, nm) || cfg_is_set_by_name(u->cfg, nm) || overridden(u->cfg, u->svc, nm))
        return;
    cfg_diags_add(u->d, 0, u->file, u->line,
                  "%s: reference to undefined parameter $%s (it expands to nothing)", u->param, nm);
}

/* An older name that a default still reads, as "${postscreen_blacklist_action?...}"
 * in postscreen_denylist_action's: setting it is meaningful, not a typo. */
static int old_name_in_defaults(const char *name)
{
    char pat[CFG_NAME_MAX + 4];
    if (str_fmt(pat, sizeof(pat), "${%s?", name) < 0)
        return 0;
    for (size_t i = 0; i < cfg_param_table_len; i++)
        if (cfg_param_table[i].def && strstr(cfg_param_table[i].def, pat))
            return 1;
    return 0;
}

/* Report a name that is unknown or not implemented; file:line where it is set. */
static void check_name(const struct config *cfg, const char *name, const char *value,
                       const char *file, int line, int referenced, struct cfg_diags *d)
{
    int type, impl;
    char unit;
    if (cfg_param_info(cfg, name, &type, &unit, &impl)) {
        const char *def = cfg_param_default_raw_by_name(cfg, name);
        /* Setting a parameter to its default ignores nothing: stay quiet. */
        if (!impl && !(def && strcmp(def, value) == 0))
            cfg_diags_add(d, 0, file, line,
                          "parameter \"%s\" is not implemented by yubin and is ignored", name);
        return;
    }
    if (referenced || restriction_class(cfg, name) || old_name_in_defaults(name))
        return;
    cfg_diags_add(d, 0, file, line,
                  "unknown parameter \"%s\" (not a Postfix or yubin parameter; ignored)", name);
}

/* An integer, size or time (n, in seconds) outside the table's min..max. */
static void check_range(const char *name, const char *v, int type, long long n, const char *file,
                        int line, struct cfg_diags *d)
{
    long long min, max;
    char range[96];
    param_range(name, &min, &max);
    if (n >= min && n <= max)
        return;
    range_text(min, max, range, sizeof(range));
    cfg_diags_add(d, 1, file, line, "%s: value \"%.60s\" is out of range (%s%s)", name, v, range,
                  type == PT_TIME ? " seconds" : "");
}

/* Expansion errors, typed values and ranges of implemented parameters. */
static void check_value(const struct config *cfg, const char *name, const char *file, int line,
                        struct cfg_diags *d)
{
    const char *err;
    const char *v = cfg_get_checked(cfg, name, &err);
    if (!v)
        return;
    if (err) {
        cfg_diags_add(d, 1, file, line, "%s: %s", name, err);
        return;
    }
    int type, impl, b;
    char unit;
    long long n;
    cfg_param_info(cfg, name, &type, &unit, &impl);
    if (!impl)
        return;
    if (type == PT_INT && cfg_parse_int(v, &n) < 0)
        cfg_diags_add(d, 1, file, line, "%s: bad numerical value \"%.60s\"", name, v);
    else if (type == PT_SIZE && cfg_parse_size(v, &n) < 0)
        cfg_diags_add(d, 1, file, line, "%s: bad size value \"%.60s\" (a number of bytes)", name, v);
    else if (type == PT_TIME && cfg_parse_time(v, unit, &n) < 0)
        cfg_diags_add(d, 1, file, line,
                      "%s: bad time value \"%.60s\" (a number with an optional unit s, m, h, d, w)",
                      name, v);
    else if (type == PT_BOOL && cfg_parse_bool(v, &b) < 0)
        cfg_diags_add(d, 1, file, line, "%s: bad boolean value \"%.60s\" (yes or no)", name, v);
    else if (type == PT_INT || type == PT_SIZE || type == PT_TIME)
        check_range(name, v, type, n, file, line, d);
}

static int cmp_entry_line(const void *a, const void *b)
{
    const struct centry *x = *(struct centry *const *)a, *y = *(struct centry *const *)b;
    return x->line - y->line;
}

/* main.cf entries in file order. */
static struct centry **main_entries(const struct config *cfg, size_t *count)
{
    struct cmap *m = cfg->map;
    struct centry **v = xcalloc(m->n + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i] && m->slots[i]->value && m->slots[i]->file)
            v[n++] = m->slots[i];
    qsort(v, n, sizeof(*v), cmp_entry_line);
    *count = n;
    return v;
}

/* A private copy of the main.cf values, to try a service's -o overrides on. */
static struct config *clone_values(const struct config *cfg)
{
    struct config *c = xcalloc(1, sizeof(*c));
    c->dir = xstrdup(cfg->dir);
    c->main_path = xstrdup(cfg->main_path);
    c->master_path = xstrdup(cfg->master_path ? cfg->master_path : "");
    c->map = xcalloc(1, sizeof(*c->map));
    for (size_t i = 0; i < cfg->map->cap; i++) {
        struct centry *e = cfg->map->slots[i];
        if (!e || !e->value)
            continue;
        struct centry *n = cmap_get(c->map, e->name, 1);
        n->value = xstrdup(e->value);
        n->file = e->file ? xstrdup(e->file) : NULL;
        n->line = e->line;
    }
    c->svcs = cfg->svcs;        /* borrowed: per-service names must stay known */
    c->nsvcs = cfg->nsvcs;
    return c;
}

static void free_clone(struct config *c)
{
    c->svcs = NULL;
    c->nsvcs = 0;
    config_free(c);
}

static void check_services(struct config *cfg, struct cfg_diags *d)
{
    for (size_t i = 0; i < cfg->nsvcs; i++) {
        const struct master_service *svc = cfg->svcs[i];
        if (!svc->overrides || !*svc->overrides)
            continue;
        for (char **o = svc->overrides; *o; o++) {
            const char *eq = strchr(*o, '=');
            char *name = xstrndup(*o, (size_t)(eq - *o));
            struct centry *e = cmap_get(cfg->map, name, 0);
            check_name(cfg, name, eq + 1, svc->file, svc->line, e && e->referenced, d);
            struct undef_ctx u = {cfg, svc, svc->file, svc->line, name, d};
            cfg_scan_refs(eq + 1, check_undef, &u);
            free(name);
        }
        struct config *c = clone_values(cfg);
        cfg_apply_service(c, svc);
        for (char **o = svc->overrides; *o; o++) {
            char *name = xstrndup(*o, strcspn(*o, "="));
            check_value(c, name, svc->file, svc->line, d);
            free(name);
        }
        free_clone(c);
    }
}

/* A default that is only "$other" (postscreen_helo_required = $smtpd_helo_required)
 * of the same type, with other set in main.cf: other's value was checked there,
 * so a bad one is reported once, where it is written. */
static int default_repeats_checked(const struct config *cfg, const struct param_def *def)
{
    const char *v = def->def;
    if (!v || v[0] != '$' || !v[1])
        return 0;
    for (const char *p = v + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_')
            return 0;
    const struct param_def *other = cfg_param_def(v + 1);
    return other && other->type == def->type && cfg_is_set_by_name(cfg, v + 1);
}

static void check_config(struct config *cfg, struct cfg_diags *d)
{
    size_t n;
    struct centry **v = main_entries(cfg, &n);

    /* User-defined parameters are those some value refers to as $name. */
    for (size_t i = 0; i < n; i++)
        cfg_scan_refs(v[i]->value, mark_ref, cfg);
    for (size_t i = 0; i < cfg->nsvcs; i++)
        for (char **o = cfg->svcs[i]->overrides; o && *o; o++)
            cfg_scan_refs(strchr(*o, '=') + 1, mark_ref, cfg);

    for (size_t i = 0; i < n; i++) {
        struct centry *e = v[i];
        check_name(cfg, e->name, e->value, e->file, e->line, e->referenced, d);
        struct undef_ctx u = {cfg, NULL, e->file, e->line, e->name, d};
        cfg_scan_refs(e->value, check_undef, &u);
        check_value(cfg, e->name, e->file, e->line, d);
    }
    free(v);
    /* Implemented parameters left at their defaults may still refer to bad values. */
    for (size_t i = 0; i < cfg_param_table_len; i++) {
        const struct param_def *def = &cfg_param_table[i];
        if ((def->flags & IMPL) && !cfg_is_set_by_name(cfg, def->name) &&
            !default_repeats_checked(cfg, def))
            check_value(cfg, def->name, cfg->main_path, 0, d);
    }
    check_services(cfg, d);
}

/* ------------------------------------------------------------------ */
/* load / free                                                         */

static char *absolute_dir(const char *dir)
{
    char *r = realpath(dir, NULL);
    if (r)
        return r;
    if (dir[0] == '/')
        return xstrdup(dir);
    char cwd[4096];
    if (!getcwd(cwd, sizeof(cwd)))
        return xstrdup(dir);
    return xasprintf("%s/%s", cwd, dir);
}

static struct config *config_new(const char *dir)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    cfg->dir = absolute_dir(dir);
    cfg->main_path = xasprintf("%s/main.cf", cfg->dir);
    cfg->map = xcalloc(1, sizeof(*cfg->map));
    return cfg;
}

/* main.cf before master.cf, each by line; stable, so one line's messages keep their order. */
static void sort_diags(const struct config *cfg, struct cfg_diag *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct cfg_diag g = v[i];
        size_t j = i;
        while (j > 0) {
            const struct cfg_diag *p = &v[j - 1];
            int rp = !p->file ? 2 : strcmp(p->file, cfg->main_path) == 0 ? 0 : 1;
            int rg = !g.file ? 2 : strcmp(g.file, cfg->main_path) == 0 ? 0 : 1;
            if (rp < rg || (rp == rg && p->line <= g.line))
                break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = g;
    }
}

struct config *config_load(const char *dir, struct cfg_diags *diags)
{
    struct cfg_diags local = {0};
    struct cfg_diags *d = diags ? diags : &local;
    size_t before = cfg_diags_errors(d), first = d->n;
    struct config *cfg = config_new(dir);
    if (read_main(cfg, d, 1) == 0) {
        cfg_master_load(cfg, d, 0);
        check_config(cfg, d);
    }
    if (d->n > first)          /* d->v is NULL when there are none: no pointer arithmetic on it */
        sort_diags(cfg, d->v + first, d->n - first);
    if (!diags)
        cfg_diags_free(&local);
    if (cfg_diags_errors(d) > before) {
        config_free(cfg);
        return NULL;
    }
    return cfg;
}

struct config *config_load_lenient(const char *dir)
{
    struct cfg_diags d = {0};
    struct config *cfg = config_new(dir);
    read_main(cfg, &d, 0);
    if (cfg_master_load(cfg, &d, 0) < 0) {
        cfg_master_free(cfg);
        cfg_master_load(cfg, NULL, 1);
    }
    cfg_diags_free(&d);
    return cfg;
}

struct config *config_defaults(const char *dir)
{
    struct config *cfg = config_new(dir);
    struct cfg_diags d = {0};
    if (cfg_master_load(cfg, &d, 0) < 0) {
        cfg_master_free(cfg);
        cfg_master_load(cfg, NULL, 1);
    }
    cfg_diags_free(&d);
    return cfg;
}

void config_free(struct config *cfg)
{
    if (!cfg)
        return;
    cfg_master_free(cfg);
    cmap_free(cfg->map);
    free(cfg->dir);
    free(cfg->main_path);
    free(cfg->master_path);
    free(cfg->service_name);
    free(cfg);
}
