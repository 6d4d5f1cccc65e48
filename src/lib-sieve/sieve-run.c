/*
 * sieve-run.c - the Sieve interpreter.
 *
 * Owns: walking the tree (if/elsif/else, stop, runtime errors), variables
 * (RFC 5229: ${name} and ${N} expansion, match variables from the last
 * successful :matches or :regex), encoded characters (RFC 5228 2.4.2.4),
 * matching values against keys with a node's comparator and match type,
 * header values as tests see them, and the result: actions with the
 * duplicate rules (fileinto of one folder twice is one action, keep and
 * fileinto "INBOX" are one, one redirect per address), the conflicts
 * Pigeonhole enforces (reject/ereject with keep, fileinto or vacation; one
 * vacation), and the implicit keep.
 */
#include "lib-sieve/sieve-int.h"
#include "lib-mail/header.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---- variables ---- */

int sieve_var_name_ok(const char *s, size_t len)
{
    if (!len || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return 0;
    return 1;
}

static int declared_global(const struct sieve_script *s, const char *name)
{
    for (size_t i = 0; s && i < s->nglobals; i++)
        if (str_ieq(s->globals[i], name))
            return 1;
    return 0;
}

/* The store a name lives in; *name advanced past "global.". */
static struct sieve_vars *var_store(struct sieve_run *run, const char **name)
{
    if (str_nieq(*name, "global.", 7)) {
        *name += 7;
        return &run->globals;
    }
    if (strcmp(*name, SIEVE_FLAGS_VAR) == 0 || declared_global(run->cur, *name))
        return &run->globals;
    return &run->locals;
}

const char *sieve_var_get(struct sieve_run *run, const char *name)
{
    struct sieve_vars *vs = var_store(run, &name);
    for (size_t i = 0; i < vs->n; i++)
        if (str_ieq(vs->v[i].name, name))
            return vs->v[i].value;
    return "";
}

void sieve_var_set(struct sieve_run *run, const char *name, const char *value)
{
    struct sieve_vars *vs = var_store(run, &name);
    for (size_t i = 0; i < vs->n; i++)
        if (str_ieq(vs->v[i].name, name)) {
            free(vs->v[i].value);
            vs->v[i].value = xstrdup(value);
            return;
        }
    vs->v = xrealloc(vs->v, (vs->n + 1) * sizeof(*vs->v));
    vs->v[vs->n].name = xstrdup(name);
    str_lower(vs->v[vs->n].name);
    vs->v[vs->n++].value = xstrdup(value);
}

static void vars_free(struct sieve_vars *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i].name);
        free(vs->v[i].value);
    }
    free(vs->v);
    memset(vs, 0, sizeof(*vs));
}

/* Expand ${...} in s (variables on); malloc'd. Truncated at max_string. */
static char *expand(struct sieve_run *run, const char *s)
{
    if (!sieve_script_requires(run->cur, "variables") || !strstr(s, "${"))
        return xstrdup(s);
    struct buf b;
    buf_init(&b, run->lim->max_string);
    while (*s) {
        const char *close;
        if (s[0] == '$' && s[1] == '{' && (close = strchr(s + 2, '}')) != NULL) {
            const char *nm = s + 2;
            size_t len = (size_t)(close - nm);
            int digits = len > 0;
            for (size_t i = 0; i < len; i++)
                digits &= isdigit((unsigned char)nm[i]) != 0;
            if (digits) {
                size_t k = 0;
                for (size_t i = 0; i < len && k < 100; i++)
                    k = k * 10 + (size_t)(nm[i] - '0');
                if (k < SIEVE_MATCH_VARS && run->match[k])
                    buf_puts(&b, run->match[k]);
                s = close + 1;
                continue;
            }
            size_t skip = str_nieq(nm, "global.", 7) && len > 7 ? 7 : 0;
            if (sieve_var_name_ok(nm + skip, len - skip)) {
                char name[128];
                if (len < sizeof(name)) {
                    memcpy(name, nm, len);
                    name[len] = '\0';
                    buf_puts(&b, sieve_var_get(run, name));
                }
                s = close + 1;
                continue;
            }
        }
        buf_putc(&b, *s++);
    }
    char *r = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return r;
}

char **sieve_run_strlist(struct sieve_run *run, const struct sieve_arg *a)
{
    char **v = xcalloc(a->nstrs + 1, sizeof(char *));
    for (size_t i = 0; i < a->nstrs; i++)
        v[i] = expand(run, a->strs[i]);
    return v;
}

char *sieve_run_string(struct sieve_run *run, const struct sieve_arg *a)
{
    return expand(run, a->nstrs ? a->strs[0] : "");
}

/* ---- encoded characters ---- */

static int put_utf8(struct buf *b, unsigned long cp)
{
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return -1;
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_append(b, u, n);
}

/* One "${hex:..}" or "${unicode:..}" body [p, end): 1 decoded, 0 not an encoding, -1 bad. */
static int decode_one(const char *p, const char *end, struct buf *b)
{
    int hex = str_nieq(p, "hex:", 4), uni = str_nieq(p, "unicode:", 8);
    if (!hex && !uni)
        return 0;
    p += hex ? 4 : 8;
    struct buf tmp;
    buf_init(&tmp, 0);
    int ok = 1, any = 0;
    while (p < end && ok) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
            p++;
        if (p >= end)
            break;
        unsigned long v = 0;
        size_t nd = 0;
        while (p < end && hex_value((unsigned char)*p) >= 0 && nd < 9) {
            v = v * 16 + (unsigned long)hex_value((unsigned char)*p++);
            nd++;
        }
        if (!nd || (p < end && !(*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')))
            ok = 0;
        else if (hex ? (v > 0xff || buf_putc(&tmp, (char)v) < 0) : put_utf8(&tmp, v) < 0)
            ok = uni ? -1 : 0;
        any = 1;
    }
    int r = 0;
    if (ok == 1 && any) {
        buf_append(b, tmp.data ? tmp.data : "", tmp.len);
        r = 1;
    } else if (ok < 0) {
        r = -1;
    }
    buf_free(&tmp);
    return r;
}

char *sieve_decode_encoded(const char *s)
{
    struct buf b;
    buf_init(&b, 0);
    while (*s) {
        const char *close;
        if (s[0] == '$' && s[1] == '{' && (close = strchr(s + 2, '}')) != NULL) {
            int r = decode_one(s + 2, close, &b);
            if (r < 0) {
                buf_free(&b);
                return NULL;
            }
            if (r > 0) {
                s = close + 1;
                continue;
            }
        }
        buf_putc(&b, *s++);
    }
    char *r = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return r;
}

/* ---- matching values against keys ---- */

static void set_match_vars(struct sieve_run *run, char **caps, size_t n)
{
    for (size_t i = 0; i < SIEVE_MATCH_VARS; i++) {
        free(run->match[i]);
        run->match[i] = i < n ? caps[i] : NULL;
    }
}

static int contains(enum sieve_cmp cmp, const char *hay, const char *needle)
{
    if (cmp == SIEVE_CMP_OCTET)
        return strstr(hay, needle) != NULL;
    size_t n = strlen(needle);
    for (; ; hay++) {
        if (str_nieq(hay, needle, n))
            return 1;
        if (!*hay)
            return 0;
    }
}

static int regex_match(struct sieve_run *run, const struct sieve_node *n, const char *v,
                       const char *key, char **caps)
{
    int errcode;
    PCRE2_SIZE erroff;
    uint32_t opts = n->cmp == SIEVE_CMP_CASEMAP ? PCRE2_CASELESS : 0;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)key, PCRE2_ZERO_TERMINATED, opts, &errcode,
                                   &erroff, NULL);
    if (!re) {              /* as Pigeonhole: reported, and the key does not match */
        if (run->nwarnings < 16) {
            run->warnings = xrealloc(run->warnings, (run->nwarnings + 1) * sizeof(char *));
            run->warnings[run->nwarnings++] = xasprintf("line %d: error: invalid regular "
                                                        "expression '%s'", n->line, key);
        }
        return 0;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    pcre2_match_context *mc = pcre2_match_context_create(NULL);
    pcre2_set_match_limit(mc, 100000);
    int rc = pcre2_match(re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, mc);
    if (rc > 0) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        for (int i = 0; i < rc && i < SIEVE_MATCH_VARS; i++)
            caps[i] = ov[2 * i] == PCRE2_UNSET ? xstrdup("")
                    : xstrndup(v + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc > 0;
}

/* One value against one key: 1, 0, -1. caps filled on a :matches/:regex match. */
static int match_one(struct sieve_run *run, const struct sieve_node *n, const char *v,
                     const char *key, char **caps)
{
    switch (n->mt) {
    case SIEVE_MT_IS:
        return sieve_cmp_compare(n->cmp, v, key) == 0;
    case SIEVE_MT_CONTAINS:
        return contains(n->cmp, v, key);
    case SIEVE_MT_MATCHES:
        return sieve_glob(n->cmp, key, v, caps, SIEVE_MATCH_VARS);
    case SIEVE_MT_REGEX:
        return regex_match(run, n, v, key, caps);
    case SIEVE_MT_VALUE:
        return sieve_rel_holds(n->rel, sieve_cmp_compare(n->cmp, v, key));
    case SIEVE_MT_COUNT:
        break;
    }
    return 0;
}

int sieve_run_match(struct sieve_run *run, const struct sieve_node *n, char *const *values,
                    size_t nvalues, const struct sieve_arg *keys)
{
    char **kv = sieve_run_strlist(run, keys);
    int r = 0;
    if (n->mt == SIEVE_MT_COUNT) {
        char num[32];
        str_fmt(num, sizeof(num), "%zu", nvalues);
        for (size_t k = 0; kv[k] && !r; k++)
            r = sieve_rel_holds(n->rel, sieve_cmp_compare(n->cmp, num, kv[k]));
        strv_free(kv);
        return r;
    }
    for (size_t i = 0; i < nvalues && r == 0; i++)
        for (size_t k = 0; kv[k] && r == 0; k++) {
            char *caps[SIEVE_MATCH_VARS] = { 0 };
            r = match_one(run, n, values[i], kv[k], caps);
            if (r > 0 && (n->mt == SIEVE_MT_MATCHES || n->mt == SIEVE_MT_REGEX) &&
                !(n->def->flags & SIEVE_SIG_NOVARS) && sieve_script_requires(run->cur, "variables"))
                set_match_vars(run, caps, SIEVE_MATCH_VARS);
            else
                for (size_t c = 0; c < SIEVE_MATCH_VARS; c++)
                    free(caps[c]);
        }
    strv_free(kv);
    return r;
}

/* ---- header values ---- */

char **sieve_header_values(struct sieve_run *run, const char *name, int decode)
{
    struct hdr_reader r;
    struct hdr_field f;
    hdr_reader_init(&r, run->msg.data ? run->msg.data : "", run->msg.len, 10000, 1024 * 1024);
    char **v = xcalloc(1, sizeof(char *));
    size_t n = 0;
    while (hdr_next(&r, &f)) {
        if (!hdr_name_is(&f, name) || n >= 10000)
            continue;
        struct buf raw, dec;
        buf_init(&raw, 1024 * 1024);
        buf_init(&dec, 1024 * 1024);
        hdr_unfold(&f, &raw);
        if (decode)
            hdr_decode_words(buf_cstr(&raw), raw.len, &dec);
        else
            buf_append(&dec, buf_cstr(&raw), raw.len);
        v = xrealloc(v, (n + 2) * sizeof(char *));
        char *t = xstrdup(buf_cstr(&dec));
        v[n++] = xstrdup(str_trim(t));
        free(t);
        v[n] = NULL;
        buf_free(&raw);
        buf_free(&dec);
    }
    return v;
}

char **sieve_header_fields(struct sieve_run *run, char *const *names, int decode,
                           const struct sieve_arg *index, int last)
{
    char **all = xcalloc(1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; names[i]; i++) {
        char **v = sieve_header_values(run, names[i], decode);
        for (size_t k = 0; v[k]; k++) {
            all = xrealloc(all, (n + 2) * sizeof(char *));
            all[n++] = v[k];
            all[n] = NULL;
        }
        free(v);
    }
    if (!index)
        return all;
    uint64_t want = index->num;
    char **one = xcalloc(2, sizeof(char *));
    if (want >= 1 && want <= n) {
        size_t pick = last ? n - (size_t)want : (size_t)want - 1;
        one[0] = all[pick];
        all[pick] = xstrdup("");
    }
    strv_free(all);
    return one;
}

/* ---- address parts ---- */

char *sieve_address_part(enum sieve_ap ap, const char *local, const char *domain)
{
    const char *plus;
    switch (ap) {
    case SIEVE_AP_ALL:
        return domain ? xasprintf("%s@%s", local, domain) : xstrdup(local);
    case SIEVE_AP_LOCAL:
        return xstrdup(local);
    case SIEVE_AP_DOMAIN:
        return domain ? xstrdup(domain) : NULL;
    case SIEVE_AP_USER:
        plus = strchr(local, '+');
        return plus ? xstrndup(local, (size_t)(plus - local)) : xstrdup(local);
    case SIEVE_AP_DETAIL:
        plus = strchr(local, '+');
        return plus ? xstrdup(plus + 1) : NULL;
    }
    return NULL;
}

/* ---- the result ---- */

static void action_clear(struct sieve_action *a)
{
    free(a->target);
    strv_free(a->flags);
    free(a->subject);
    free(a->from);
    free(a->handle);
    free(a->reason);
    strv_free(a->addresses);
}

void sieve_result_free(struct sieve_result *r)
{
    for (size_t i = 0; i < r->n; i++)
        action_clear(&r->v[i]);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static const char *act_name(enum sieve_action_kind k)
{
    static const char *const names[] = { "keep", "fileinto", "redirect", "discard", "reject",
                                         "ereject", "vacation" };
    return names[k];
}

/* The mailbox an action stores into, or NULL. */
static const char *store_folder(const struct sieve_action *a)
{
    if (a->kind == SIEVE_ACT_KEEP)
        return "INBOX";
    if (a->kind == SIEVE_ACT_FILEINTO)
        return a->target;
    return NULL;
}

/* Length of an "INBOX" first component (any case), else 0. */
static size_t inbox_prefix(const char *s)
{
    if (!str_nieq(s, "INBOX", 5))
        return 0;
    return s[5] == '\0' || s[5] == '.' || s[5] == '/' ? 5 : 0;
}

int sieve_folder_eq(const char *a, const char *b)
{
    size_t pa = inbox_prefix(a), pb = inbox_prefix(b);
    if (pa && pb)
        return strcmp(a + pa, b + pb) == 0;
    return strcmp(a, b) == 0;
}

/* Addresses compare by their addr-spec, domain without case. */
static char *norm_address(const char *s)
{
    const char *lt = strrchr(s, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *t = lt && gt ? xstrndup(lt + 1, (size_t)(gt - lt - 1)) : xstrdup(s);
    char *a = xstrdup(str_trim(t));
    free(t);
    char *at = strrchr(a, '@');
    if (at)
        str_lower(at);
    return a;
}

/* A repeated store takes the flags of the last one (RFC 5232 3.2, as Pigeonhole does). */
static void merge_flags(struct sieve_action *dst, struct sieve_action *src)
{
    strv_free(dst->flags);
    dst->flags = src->flags;
    src->flags = NULL;
}

/* A duplicate of an earlier action? Merged into it (1), or 0. */
static int merge_duplicate(struct sieve_run *run, struct sieve_action *a)
{
    const char *fa = store_folder(a);
    for (size_t i = 0; i < run->res.n; i++) {
        struct sieve_action *b = &run->res.v[i];
        const char *fb = store_folder(b);
        if (fa && fb && sieve_folder_eq(fa, fb)) {
            merge_flags(b, a);
            return 1;
        }
        if (a->kind == SIEVE_ACT_REDIRECT && b->kind == SIEVE_ACT_REDIRECT) {
            char *x = norm_address(a->target), *y = norm_address(b->target);
            int same = strcmp(x, y) == 0;
            free(x);
            free(y);
            if (same)
                return 1;
        }
        if (a->kind == SIEVE_ACT_DISCARD && b->kind == SIEVE_ACT_DISCARD)
            return 1;
    }
    return 0;
}

static int is_reject(enum sieve_action_kind k)
{
    return k == SIEVE_ACT_REJECT || k == SIEVE_ACT_EREJECT;
}

static int conflicts(enum sieve_action_kind a, enum sieve_action_kind b)
{
    if (is_reject(a))
        return b == SIEVE_ACT_KEEP || b == SIEVE_ACT_FILEINTO || b == SIEVE_ACT_VACATION ||
               b == SIEVE_ACT_REDIRECT || is_reject(b);
    if (is_reject(b))
        return conflicts(b, a);
    return a == SIEVE_ACT_VACATION && b == SIEVE_ACT_VACATION;
}

int sieve_result_add(struct sieve_run *run, const struct sieve_node *n, struct sieve_action *a)
{
    for (size_t i = 0; i < run->res.n; i++)
        if (conflicts(a->kind, run->res.v[i].kind)) {
            int line = run->res.v[i].line;
            action_clear(a);
            return sieve_run_error(run, n, "%s action conflicts with earlier %s action (line %d)",
                                   n->name, act_name(run->res.v[i].kind), line);
        }
    if (!a->copy && a->kind != SIEVE_ACT_VACATION)
        run->res.keep_cancelled = 1;
    if (merge_duplicate(run, a)) {
        action_clear(a);
        return 0;
    }
    if (run->res.n >= run->lim->max_actions) {
        action_clear(a);
        return sieve_run_error(run, n, "total number of actions exceeds policy limit (%zu)",
                               run->lim->max_actions);
    }
    size_t redirects = 0;
    for (size_t i = 0; i < run->res.n; i++)
        redirects += run->res.v[i].kind == SIEVE_ACT_REDIRECT;
    if (a->kind == SIEVE_ACT_REDIRECT && redirects >= run->lim->max_redirects) {
        action_clear(a);
        return sieve_run_error(run, n, "number of redirect actions exceeds policy limit (%zu)",
                               run->lim->max_redirects);
    }
    a->line = n->line;
    run->res.v = xrealloc(run->res.v, (run->res.n + 1) * sizeof(*run->res.v));
    run->res.v[run->res.n++] = *a;
    return 0;
}

/* ---- running ---- */

int sieve_run_error(struct sieve_run *run, const struct sieve_node *n, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    free(run->err);
    run->err = n ? xasprintf("line %d: error: %s", n->line, msg) : xstrdup(msg);
    return -1;
}

char *const *sieve_run_warnings(const struct sieve_run *run, size_t *n)
{
    *n = run->nwarnings;
    return run->warnings;
}

const char *sieve_run_errmsg(const struct sieve_run *run)
{
    return run->err ? run->err : "";
}

static int eval_test(struct sieve_run *run, const struct sieve_node *t)
{
    return t->def->exec(run, t);
}

/* An if/elsif/else chain starting at cmds[*i]; *i ends on its last member. */
static int run_if(struct sieve_run *run, struct sieve_node *const *cmds, size_t n, size_t *i)
{
    int done = 0, r = 0;
    for (;;) {
        const struct sieve_node *c = cmds[*i];
        if (!done) {
            int t = strcmp(c->name, "else") == 0 ? 1 : eval_test(run, c->tests[0]);
            if (t < 0)
                return -1;
            if (t) {
                done = 1;
                r = sieve_run_block(run, c->block, c->nblock);
            }
        }
        if (*i + 1 >= n || r != 0 || strcmp(c->name, "else") == 0)
            break;
        const char *next = cmds[*i + 1]->name;
        if (strcmp(next, "elsif") != 0 && strcmp(next, "else") != 0)
            break;
        (*i)++;
    }
    return r;
}

int sieve_run_block(struct sieve_run *run, struct sieve_node *const *cmds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct sieve_node *c = cmds[i];
        int r;
        if (strcmp(c->name, "if") == 0)
            r = run_if(run, cmds, n, &i);
        else if (!c->def || !c->def->exec)
            continue;
        else
            r = c->def->exec(run, c);
        if (r != 0)
            return r;
    }
    return 0;
}

int sieve_run_script(struct sieve_run *run)
{
    run->cur = run->s;
    int r = sieve_run_block(run, run->s->cmds, run->s->ncmds);
    return r < 0 ? -1 : 0;     /* stop, or return in the main script: the end */
}

int sieve_run_included(struct sieve_run *run, const struct sieve_script *inc)
{
    const struct sieve_script *saved_cur = run->cur;
    struct sieve_vars saved = run->locals;
    memset(&run->locals, 0, sizeof(run->locals));
    run->cur = inc;
    run->include_depth++;
    int r = sieve_run_block(run, inc->cmds, inc->ncmds);
    run->include_depth--;
    vars_free(&run->locals);
    run->locals = saved;
    run->cur = saved_cur;
    return r == SIEVE_RUN_RETURN ? 0 : r;
}

struct sieve_run *sieve_run_new(const struct sieve_script *s, const struct sieve_msg *msg,
                                const struct sieve_limits *lim)
{
    struct sieve_run *run = xcalloc(1, sizeof(*run));
    run->s = s;
    if (msg)
        run->msg = *msg;
    if (!lim) {
        sieve_limits_default(&run->deflim);
        lim = &run->deflim;
    }
    run->lim = lim;
    run->cur = s;
    return run;
}

void sieve_run_free(struct sieve_run *run)
{
    if (!run)
        return;
    sieve_result_free(&run->res);
    vars_free(&run->locals);
    vars_free(&run->globals);
    for (size_t i = 0; i < run->nonce; i++)
        free(run->once[i]);
    free(run->once);
    for (size_t i = 0; i < SIEVE_MATCH_VARS; i++)
        free(run->match[i]);
    free(run->err);
    for (size_t i = 0; i < run->nwarnings; i++)
        free(run->warnings[i]);
    free(run->warnings);
    free(run);
}

void sieve_run_set_msg(struct sieve_run *run, const struct sieve_msg *msg)
{
    run->msg = *msg;
}

void sieve_run_set_flags(struct sieve_run *run, const char *flags)
{
    sieve_var_set(run, SIEVE_FLAGS_VAR, flags);
}

void sieve_run_set_user(struct sieve_run *run, void *user)
{
    run->user = user;
}

void *sieve_run_user(const struct sieve_run *run)
{
    return run->user;
}

const struct sieve_result *sieve_run_result(const struct sieve_run *run)
{
    return &run->res;
}

void sieve_run_reset_result(struct sieve_run *run)
{
    sieve_result_free(&run->res);
}

void sieve_run_adopt_result(struct sieve_run *run, struct sieve_run *from, int append)
{
    if (!append) {
        sieve_result_free(&run->res);
        run->res = from->res;
        memset(&from->res, 0, sizeof(from->res));
        return;
    }
    for (size_t i = 0; i < from->res.n; i++) {
        struct sieve_action *a = &from->res.v[i];
        if (!merge_duplicate(run, a)) {
            run->res.v = xrealloc(run->res.v, (run->res.n + 1) * sizeof(*run->res.v));
            run->res.v[run->res.n++] = *a;
        } else {
            action_clear(a);
        }
    }
    run->res.keep_cancelled |= from->res.keep_cancelled;
    free(from->res.v);
    memset(&from->res, 0, sizeof(from->res));
}

void sieve_run_take_result(struct sieve_run *run, struct sieve_result *out)
{
    if (!run->res.keep_cancelled) {
        struct sieve_action a;
        memset(&a, 0, sizeof(a));
        a.kind = SIEVE_ACT_KEEP;
        a.target = xstrdup("INBOX");
        a.implicit = 1;
        const char *fl = sieve_var_get(run, SIEVE_FLAGS_VAR);
        if (*fl)
            a.flags = sieve_split_flags(fl);
        run->res.v = xrealloc(run->res.v, (run->res.n + 1) * sizeof(*run->res.v));
        run->res.v[run->res.n++] = a;
    }
    *out = run->res;
    memset(&run->res, 0, sizeof(run->res));
}

int sieve_execute(const struct sieve_script *s, const struct sieve_msg *msg,
                  const struct sieve_limits *lim, struct sieve_result *res, char **err)
{
    struct sieve_run *run = sieve_run_new(s, msg, lim);
    int r = sieve_run_script(run);
    memset(res, 0, sizeof(*res));
    if (r < 0) {
        if (err)
            *err = xstrdup(sieve_run_errmsg(run));
    } else {
        sieve_run_take_result(run, res);
    }
    sieve_run_free(run);
    return r;
}
