/*
 * sieve-check.c - validation of a parsed Sieve script ("compile").
 *
 * Owns: require (known capabilities, only at the start), finding each
 * command and test in the core table or a caller's extension, and
 * checking it is required; argument signatures (tagged arguments and
 * their values, positional arguments, string lists, test / test list,
 * block); comparators, match types and address parts with the extension
 * each needs; if/elsif/else order; decoding encoded characters
 * (RFC 5228 2.4.2.4) when "encoded-character" is required. Errors carry
 * line numbers and are counted as Pigeonhole counts them: one per fault.
 */
#include "lib-sieve/sieve-int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct sieve_check {
    struct sieve_script *s;
    const struct sieve_limits *lim0;
    struct sieve_diagctx *dc;
    const struct sieve_limits *lim;
    const struct sieve_node *parent; /* of the node being checked */
    char **vars;                     /* variables set in this script */
    size_t nvars;
    int vars_full;                   /* the scope limit was reported */
};

/* Capabilities the library implements. */
static const char *const core_caps[] = {
    "fileinto", "envelope", "encoded-character", "variables", "comparator-i;ascii-numeric",
    "comparator-i;octet", "comparator-i;ascii-casemap", "relational", "subaddress", "copy",
    "imap4flags", "reject", "ereject", "regex", "mailbox", "vacation", "vacation-seconds",
    "include", "body", "date", "index", NULL,
};

const char *sieve_capabilities(void)
{
    return "fileinto envelope encoded-character variables comparator-i;ascii-numeric "
           "relational subaddress copy imap4flags reject ereject regex mailbox vacation "
           "vacation-seconds include body date index";
}

int sieve_capability_known(const char *cap, const struct sieve_ext *exts, size_t nexts)
{
    for (size_t i = 0; core_caps[i]; i++)
        if (strcmp(cap, core_caps[i]) == 0)
            return 1;
    for (size_t i = 0; i < nexts; i++)
        if (strcmp(cap, exts[i].name) == 0)
            return 1;
    return 0;
}

int sieve_script_requires(const struct sieve_script *s, const char *cap)
{
    if (strncmp(cap, "comparator-", 11) == 0 && (strcmp(cap + 11, "i;octet") == 0 ||
                                                 strcmp(cap + 11, "i;ascii-casemap") == 0))
        return 1;
    for (size_t i = 0; i < s->nrequired; i++)
        if (strcmp(s->required[i], cap) == 0)
            return 1;
    /* ereject comes with reject in Pigeonhole's naming too */
    return 0;
}

static const char *kind_name(const struct sieve_node *n)
{
    return n->is_test ? "test" : "command";
}

static const struct sieve_cmd_def *find_def(const struct sieve_script *s, const char *name,
                                            int is_test)
{
    for (size_t i = 0; i < sieve_core_ndefs; i++)
        if (sieve_core_defs[i].is_test == is_test && strcmp(sieve_core_defs[i].name, name) == 0)
            return &sieve_core_defs[i];
    for (size_t e = 0; e < s->nexts; e++)
        for (size_t i = 0; i < s->exts[e].ndefs; i++) {
            const struct sieve_cmd_def *d = &s->exts[e].defs[i];
            if (d->is_test == is_test && strcmp(d->name, name) == 0)
                return d;
        }
    return NULL;
}

/* The value after a tag; *i points at the tag and moves to the value. */
static const struct sieve_arg *tag_value(struct sieve_check *c, struct sieve_node *n, size_t *i,
                                         char kind)
{
    const struct sieve_arg *t = &n->args[*i];
    if (*i + 1 >= n->nargs)
        goto bad;
    const struct sieve_arg *v = &n->args[*i + 1];
    int ok = kind == 'N' ? v->kind == SIEVE_ARG_NUMBER
           : kind == 'S' ? v->kind == SIEVE_ARG_STRING
           : v->kind == SIEVE_ARG_STRING || v->kind == SIEVE_ARG_LIST;
    if (!ok)
        goto bad;
    (*i)++;
    return v;
bad:
    sieve_diag_add(c->dc, t->line, 0, "the :%s tag for the %s %s requires %s as argument", t->tag,
                   n->name, kind_name(n),
                   kind == 'N' ? "a number" : kind == 'S' ? "a string" : "a string list");
    return NULL;
}

static int set_comparator(struct sieve_check *c, struct sieve_node *n, const char *name)
{
    if (strcmp(name, "i;octet") == 0)
        n->cmp = SIEVE_CMP_OCTET;
    else if (strcmp(name, "i;ascii-casemap") == 0)
        n->cmp = SIEVE_CMP_CASEMAP;
    else if (strcmp(name, "i;ascii-numeric") == 0 &&
             sieve_script_requires(c->s, "comparator-i;ascii-numeric"))
        n->cmp = SIEVE_CMP_NUMERIC;
    else {
        sieve_diag_add(c->dc, n->line, 0, "unknown comparator '%s'", name);
        return -1;
    }
    return 0;
}

/* Match types, comparator, address parts: 1 taken, 0 not one of them, -1 error. */
static int group_tag(struct sieve_check *c, struct sieve_node *n, size_t *i, unsigned *seen)
{
    const char *t = n->args[*i].tag;
    unsigned flags = n->def->flags;
    static const char *const mts[] = { "is", "contains", "matches", "regex", "count", "value" };
    static const char *const mt_ext[] = { NULL, NULL, NULL, "regex", "relational", "relational" };
    static const char *const aps[] = { "all", "localpart", "domain", "user", "detail" };
    static const char *const ap_ext[] = { NULL, NULL, NULL, "subaddress", "subaddress" };
    if ((flags & SIEVE_SIG_MATCH) && strcmp(t, "comparator") == 0) {
        const struct sieve_arg *v = tag_value(c, n, i, 'S');
        if ((*seen & 1) || !v) {
            if (v)
                sieve_diag_add(c->dc, n->line, 0, "comparator specified more than once");
            return -1;
        }
        *seen |= 1;
        return set_comparator(c, n, v->strs[0]) < 0 ? -1 : 1;
    }
    for (size_t k = 0; (flags & SIEVE_SIG_MATCH) && k < 6; k++) {
        if (strcmp(t, mts[k]) != 0 || (mt_ext[k] && !sieve_script_requires(c->s, mt_ext[k])))
            continue;
        if (*seen & 2) {
            sieve_diag_add(c->dc, n->line, 0, "match type specified more than once");
            return -1;
        }
        *seen |= 2;
        n->mt = (enum sieve_mt)k;
        if (n->mt == SIEVE_MT_COUNT || n->mt == SIEVE_MT_VALUE) {
            const struct sieve_arg *v = tag_value(c, n, i, 'S');
            if (!v)
                return -1;
            if (sieve_rel_parse(v->strs[0], &n->rel) < 0) {
                sieve_diag_add(c->dc, v->line, 0, "invalid relational match '%s'", v->strs[0]);
                return -1;
            }
        }
        return 1;
    }
    for (size_t k = 0; (flags & SIEVE_SIG_ADDR) && k < 5; k++) {
        if (strcmp(t, aps[k]) != 0 || (ap_ext[k] && !sieve_script_requires(c->s, ap_ext[k])))
            continue;
        if (*seen & 4) {
            sieve_diag_add(c->dc, n->line, 0, "address part specified more than once");
            return -1;
        }
        *seen |= 4;
        n->ap = (enum sieve_ap)k;
        return 1;
    }
    return 0;
}

static int own_tag(struct sieve_check *c, struct sieve_node *n, size_t *i)
{
    const struct sieve_tag_def *td = n->def->tags;
    for (size_t k = 0; td && td[k].name && k < SIEVE_MAX_TAGS; k++) {
        if (strcmp(td[k].name, n->args[*i].tag) != 0)
            continue;
        if (td[k].ext && !sieve_script_requires(c->s, td[k].ext))
            break;
        if (n->tagv[k]) {
            sieve_diag_add(c->dc, n->line, 0, "the :%s tag is specified more than once", td[k].name);
            return -1;
        }
        n->tagv[k] = td[k].value ? tag_value(c, n, i, td[k].value) : &n->args[*i];
        return n->tagv[k] ? 1 : -1;
    }
    return 0;
}

/* What Pigeonhole calls the positional arguments in its messages. */
static const char *arg_name(const char *cmd, size_t i)
{
    static const char *const names[][3] = {
        { "header", "header names", "key list" }, { "address", "header list", "key list" },
        { "envelope", "envelope part", "key list" }, { "exists", "header names", NULL },
        { "string", "source", "key list" }, { "fileinto", "folder", NULL },
        { "redirect", "address", NULL }, { "require", "capabilities", NULL },
        { "reject", "reason", NULL }, { "ereject", "reason", NULL },
        { "set", "variable name", "value" }, { "include", "script name", NULL },
        { "body", "key list", NULL }, { "vacation", "reason", NULL },
    };
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
        if (strcmp(names[k][0], cmd) == 0)
            return i < 2 ? names[k][i + 1] : NULL;
    return NULL;
}

static int positional(struct sieve_check *c, struct sieve_node *n, const struct sieve_arg *a,
                      size_t *npos)
{
    const char *sig = n->def->pos ? n->def->pos : "";
    size_t want = strlen(sig);
    if (*npos >= want || *npos >= SIEVE_MAX_POS) {
        sieve_diag_add(c->dc, a->line, 0, "the %s %s accepts no more than %zu positional arguments",
                       n->name, kind_name(n), want);
        return -1;
    }
    char k = sig[*npos];
    int ok = k == 'N' ? a->kind == SIEVE_ARG_NUMBER
           : k == 'S' ? a->kind == SIEVE_ARG_STRING
           : a->kind == SIEVE_ARG_STRING || a->kind == SIEVE_ARG_LIST;
    if (!ok) {
        const char *an = arg_name(n->name, *npos);
        sieve_diag_add(c->dc, a->line, 0, "the %s %s expects %s as argument %zu%s%s%s, "
                       "but %s was found", n->name, kind_name(n),
                       k == 'N' ? "a number" : k == 'S' ? "a string" : "a string list",
                       *npos + 1, an ? " (" : "", an ? an : "", an ? ")" : "",
                       a->kind == SIEVE_ARG_NUMBER ? "a number"
                       : a->kind == SIEVE_ARG_LIST ? "a string list" : "a string");
        return -1;
    }
    n->pos[(*npos)++] = a;
    return 0;
}

static int tag_set(const struct sieve_node *n, const char *name)
{
    for (size_t k = 0; n->def->tags && n->def->tags[k].name; k++)
        if (strcmp(n->def->tags[k].name, name) == 0)
            return n->tagv[k] != NULL;
    return 0;
}

static int check_args(struct sieve_check *c, struct sieve_node *n)
{
    unsigned seen = 0;
    size_t npos = 0;
    for (size_t i = 0; i < n->nargs; i++) {
        const struct sieve_arg *a = &n->args[i];
        if (a->kind != SIEVE_ARG_TAG) {
            if (positional(c, n, a, &npos) < 0)
                return -1;
            continue;
        }
        int r = group_tag(c, n, &i, &seen);
        if (r == 0)
            r = own_tag(c, n, &i);
        if (r < 0)
            return -1;
        if (r > 0 && npos) {
            sieve_diag_add(c->dc, a->line, 0, "unexpected tagged argument ':%s' after the "
                           "positional arguments of the %s %s", a->tag, n->name, kind_name(n));
            return -1;
        }
        if (r == 0) {
            sieve_diag_add(c->dc, a->line, 0, "unknown tagged argument ':%s' for the %s %s "
                           "(reported only once at first occurrence)", a->tag, n->name,
                           kind_name(n));
            return -1;
        }
    }
    size_t want = strlen(n->def->pos ? n->def->pos : "");
    size_t minimum = (n->def->flags & SIEVE_SIG_OPTPOS) && want ? want - 1 : want;
    if (npos < minimum) {
        sieve_diag_add(c->dc, n->line, 0, "the %s %s requires %zu positional argument(s), "
                       "but %zu were specified", n->name, kind_name(n), minimum, npos);
        return -1;
    }
    for (size_t k = 0; n->def->tags && n->def->tags[k].name; k++) {
        if (strcmp(n->def->tags[k].name, "last") == 0 && n->tagv[k] && !tag_set(n, "index")) {
            sieve_diag_add(c->dc, n->line, 0, "the :last tag requires the :index tag");
            return -1;
        }
        if (strcmp(n->def->tags[k].name, "index") == 0 && n->tagv[k] && n->tagv[k]->num == 0) {
            sieve_diag_add(c->dc, n->line, 0, "the :index tag requires a position of 1 or more");
            return -1;
        }
    }
    if (n->cmp == SIEVE_CMP_NUMERIC && (n->mt == SIEVE_MT_CONTAINS || n->mt == SIEVE_MT_MATCHES ||
                                        n->mt == SIEVE_MT_REGEX)) {
        sieve_diag_add(c->dc, n->line, 0, "the comparator i;ascii-numeric does not support "
                       "that match type");
        return -1;
    }
    return 0;
}

static int check_shape(struct sieve_check *c, struct sieve_node *n)
{
    unsigned f = n->def->flags;
    if ((f & SIEVE_SIG_TEST1) && (n->ntests != 1 || n->test_list)) {
        sieve_diag_add(c->dc, n->line, 0, "the %s %s requires one test", n->name, kind_name(n));
        return -1;
    }
    if ((f & SIEVE_SIG_TESTS) && !n->test_list) {
        sieve_diag_add(c->dc, n->line, 0, "the %s %s requires a test list", n->name, kind_name(n));
        return -1;
    }
    if (!(f & (SIEVE_SIG_TEST1 | SIEVE_SIG_TESTS)) && n->ntests) {
        if (!n->test_list && !find_def(c->s, n->tests[0]->name, 1))
            sieve_diag_add(c->dc, n->line, 0, "missing semicolon after the %s %s (found '%s')",
                           n->name, kind_name(n), n->tests[0]->name);
        else
            sieve_diag_add(c->dc, n->line, 0, "the %s %s accepts no sub-tests, but tests are "
                           "specified", n->name, kind_name(n));
        return -1;
    }
    return 0;
}

static int check_block(struct sieve_check *c, struct sieve_node *n)
{
    unsigned f = n->def->flags;
    if ((f & SIEVE_SIG_BLOCK) && !n->has_block) {
        sieve_diag_add(c->dc, n->line, 0, "the %s command requires a command block", n->name);
        return -1;
    }
    if (!(f & SIEVE_SIG_BLOCK) && n->has_block) {
        sieve_diag_add(c->dc, n->line, 0, "the %s %s does not accept a command block", n->name,
                       kind_name(n));
        return -1;
    }
    return 0;
}

static int check_nodes(struct sieve_check *c, struct sieve_node **v, size_t nv, int top);

#define SIEVE_VAR_NAME_MAX 64          /* Pigeonhole's variable name limit */
#define SIEVE_VAR_SCOPE_MAX 255        /* and variables per script */

/*
 * variables: every "${...}" in the node's strings names a variable in no
 * namespace (or global. with include), or a match value ${0}..${32}.
 * One error per string.
 */
static int check_var_refs(struct sieve_check *c, const struct sieve_node *n)
{
    int bad = 0;
    for (size_t i = 0; i < n->nargs; i++)
        for (size_t k = 0; k < n->args[i].nstrs; k++) {
            const char *p = n->args[i].strs[k], *close;
            while ((p = strstr(p, "${")) != NULL && (close = strchr(p + 2, '}')) != NULL) {
                const char *nm = p + 2;
                size_t len = (size_t)(close - nm), digits = 0;
                while (digits < len && nm[digits] >= '0' && nm[digits] <= '9')
                    digits++;
                p += 2;
                if (len && digits == len) {
                    unsigned long v = 0;
                    for (size_t d = 0; d < len && v <= SIEVE_MATCH_VARS; d++)
                        v = v * 10 + (unsigned long)(nm[d] - '0');
                    if (v >= SIEVE_MATCH_VARS) {
                        sieve_diag_add(c->dc, n->line, 0, "match value index ${%.*s} exceeds "
                                       "the maximum of %d", (int)len, nm, SIEVE_MATCH_VARS - 1);
                        bad = 1;
                        break;
                    }
                    continue;
                }
                const char *dot = memchr(nm, '.', len);
                if (!dot || !sieve_var_name_ok(nm, (size_t)(dot - nm)))
                    continue;        /* not a variable reference: left as it is */
                if (!(str_nieq(nm, "global.", 7) && sieve_script_requires(c->s, "include"))) {
                    sieve_diag_add(c->dc, n->line, 0, "unknown variables namespace '%.*s'",
                                   (int)(dot - nm), nm);
                    bad = 1;
                    break;
                }
            }
        }
    return bad ? -1 : 0;
}

/* Is name a tag the node takes (a match type, address part, comparator or its own)? */
static int is_group_tag(const struct sieve_node *n, const char *name)
{
    static const char *const group[] = { "is", "contains", "matches", "regex", "count", "value",
                                         "comparator", "all", "localpart", "domain", "user",
                                         "detail", NULL };
    if (!n->def)
        return 0;
    for (size_t i = 0; (n->def->flags & (SIEVE_SIG_MATCH | SIEVE_SIG_ADDR)) && group[i]; i++)
        if (strcmp(group[i], name) == 0)
            return 1;
    for (size_t i = 0; n->def->tags && n->def->tags[i].name; i++)
        if (strcmp(n->def->tags[i].name, name) == 0)
            return 1;
    return 0;
}

/* :regex keys that are literals must compile (those with variables are checked when run). */
static int check_regex(struct sieve_check *c, const struct sieve_node *n)
{
    const struct sieve_arg *keys = NULL;
    for (size_t i = SIEVE_MAX_POS; i-- > 0 && !keys;)
        keys = n->pos[i];
    for (size_t k = 0; keys && k < keys->nstrs; k++) {
        const char *re = keys->strs[k];
        if (strstr(re, "${") && sieve_script_requires(c->s, "variables"))
            continue;
        int code;
        PCRE2_SIZE off;
        pcre2_code *pc = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (!pc) {
            PCRE2_UCHAR why[128];
            pcre2_get_error_message(code, why, sizeof(why));
            sieve_diag_add(c->dc, n->line, 0, "invalid regular expression '%s' for regex match: %s",
                           re, (const char *)why);
            return -1;
        }
        pcre2_code_free(pc);
    }
    return 0;
}

static int check_node(struct sieve_check *c, struct sieve_node *n)
{
    const struct sieve_cmd_def *d = find_def(c->s, n->name, n->is_test);
    if (d && d->ext && !sieve_script_requires(c->s, d->ext))
        d = NULL;
    if (!d) {
        const struct sieve_cmd_def *other = find_def(c->s, n->name, !n->is_test);
        if (other && (!other->ext || sieve_script_requires(c->s, other->ext)))
            sieve_diag_add(c->dc, n->line, 0, "attempted to use %s '%s' in %s context",
                           n->is_test ? "command" : "test", n->name,
                           n->is_test ? "test" : "command");
        else if (n->is_test && c->parent && is_group_tag(c->parent, n->name))
            sieve_diag_add(c->dc, n->line, 0, "missing colon before ':%s' tag for the %s %s",
                           n->name, c->parent->name, kind_name(c->parent));
        else
            sieve_diag_add(c->dc, n->line, 0, "unknown %s '%s'", kind_name(n), n->name);
        return -1;
    }
    n->def = d;
    if (d->flags & SIEVE_SIG_OCTET)
        n->cmp = SIEVE_CMP_OCTET;
    int bad = check_args(c, n) < 0;
    /* tests where none belong (a missing ';') are not looked at: one error, as Pigeonhole */
    if (!bad && check_shape(c, n) < 0) {
        if (n->ntests && !(d->flags & (SIEVE_SIG_TEST1 | SIEVE_SIG_TESTS))) {
            check_block(c, n);
            return -1;
        }
        bad = 1;
    }
    bad |= check_block(c, n) < 0;
    const struct sieve_node *saved_parent = c->parent;
    c->parent = n;
    for (size_t i = 0; i < n->ntests; i++)
        bad |= check_node(c, n->tests[i]) < 0;
    if (n->nblock)
        bad |= check_nodes(c, n->block, n->nblock, 0) < 0;
    c->parent = saved_parent;
    if (!bad && d->check)
        bad = d->check(c, n) < 0;
    if (!bad && n->mt == SIEVE_MT_REGEX)
        bad = check_regex(c, n) < 0;
    if (!bad && sieve_script_requires(c->s, "variables"))
        bad = check_var_refs(c, n) < 0;
    return bad ? -1 : 0;
}

static int check_nodes(struct sieve_check *c, struct sieve_node **v, size_t nv, int top)
{
    int bad = 0;
    for (size_t i = 0; i < nv && c->dc->errors < c->lim->max_errors; i++) {
        struct sieve_node *n = v[i];
        if (strcmp(n->name, "require") == 0) {
            if (!top || (i > 0 && strcmp(v[i - 1]->name, "require") != 0)) {
                sieve_diag_add(c->dc, n->line, 0, "require command can only be placed at top "
                               "level at the beginning of the file");
                bad = 1;
            }
            continue;
        }
        if (strcmp(n->name, "elsif") == 0 || strcmp(n->name, "else") == 0) {
            const char *prev = i ? v[i - 1]->name : "";
            if (strcmp(prev, "if") != 0 && strcmp(prev, "elsif") != 0) {
                sieve_diag_add(c->dc, n->line, 0, "the %s command must follow an if or elsif "
                               "command", n->name);
                bad = 1;
                continue;
            }
        }
        bad |= check_node(c, n) < 0;
    }
    return bad ? -1 : 0;
}

/* Collect and check the capabilities of the leading require commands. */
static int check_requires(struct sieve_check *c)
{
    struct sieve_script *s = c->s;
    int bad = 0;
    for (size_t i = 0; i < s->ncmds && strcmp(s->cmds[i]->name, "require") == 0; i++) {
        struct sieve_node *n = s->cmds[i];
        n->def = find_def(s, "require", 0);
        if (check_args(c, n) < 0 || check_shape(c, n) < 0 || check_block(c, n) < 0) {
            bad = 1;
            continue;
        }
        for (size_t k = 0; k < n->pos[0]->nstrs; k++) {
            const char *cap = n->pos[0]->strs[k];
            if (!sieve_capability_known(cap, s->exts, s->nexts)) {
                sieve_diag_add(c->dc, n->line, 0, "require command: unknown Sieve capability "
                               "'%s'", cap);
                bad = 1;
                continue;
            }
            s->required = xrealloc(s->required, (s->nrequired + 1) * sizeof(char *));
            s->required[s->nrequired++] = xstrdup(cap);
        }
    }
    return bad ? -1 : 0;
}

/* encoded-character: decode every string of the tree in place. */
static int decode_strings(struct sieve_check *c, struct sieve_node *n)
{
    int bad = 0;
    for (size_t i = 0; i < n->nargs; i++)
        for (size_t k = 0; k < n->args[i].nstrs; k++) {
            char *d = sieve_decode_encoded(n->args[i].strs[k]);
            if (!d) {
                sieve_diag_add(c->dc, n->args[i].line, 0, "invalid encoded character in string");
                bad = 1;
                continue;
            }
            free(n->args[i].strs[k]);
            n->args[i].strs[k] = d;
        }
    for (size_t i = 0; i < n->ntests; i++)
        bad |= decode_strings(c, n->tests[i]) < 0;
    for (size_t i = 0; i < n->nblock; i++)
        bad |= decode_strings(c, n->block[i]) < 0;
    return bad ? -1 : 0;
}

int sieve_check_script(struct sieve_script *s, const struct sieve_limits *lim,
                       struct sieve_diagctx *dc)
{
    struct sieve_check c = { s, lim, dc, lim, NULL, NULL, 0, 0 };
    int bad = check_requires(&c) < 0;
    if (sieve_script_requires(s, "encoded-character"))
        for (size_t i = 0; i < s->ncmds; i++)
            bad |= decode_strings(&c, s->cmds[i]) < 0;
    bad |= check_nodes(&c, s->cmds, s->ncmds, 1) < 0;
    for (size_t i = 0; i < c.nvars; i++)
        free(c.vars[i]);
    free(c.vars);
    return bad || dc->errors ? -1 : 0;
}

/* ---- per-command checks used by the table in sieve-run.c ---- */

void sieve_check_error(struct sieve_check *c, int line, const char *msg)
{
    sieve_diag_add(c->dc, line, 0, "%s", msg);
}

int sieve_check_requires(struct sieve_check *c, const char *cap)
{
    return sieve_script_requires(c->s, cap);
}

void sieve_limits_default(struct sieve_limits *l)
{
    l->max_script = 1024 * 1024;
    l->max_string = 256 * 1024;
    l->max_depth = 32;
    l->max_commands = 10000;
    l->max_list = 1024;
    l->max_actions = 32;     /* Pigeonhole's sieve_max_actions */
    l->max_redirects = 4;    /* and sieve_max_redirects */
    l->max_errors = 30;
}

void sieve_script_free(struct sieve_script *s)
{
    if (!s)
        return;
    sieve_nodes_free(s->cmds, s->ncmds);
    free(s->name);
    for (size_t i = 0; i < s->nglobals; i++)
        free(s->globals[i]);
    free(s->globals);
    for (size_t i = 0; i < s->nrequired; i++)
        free(s->required[i]);
    free(s->required);
    free(s);
}

/* Compile into s (fields for include already set): 0 or -1. */
static int compile_into(struct sieve_script *s, const char *script, size_t len,
                        const struct sieve_limits *lim, struct sieve_diagctx *dc)
{
    if (sieve_parse(script, len, lim, dc, &s->cmds, &s->ncmds) < 0 ||
        sieve_check_script(s, lim, dc) < 0)
        return -1;
    return 0;
}

struct sieve_script *sieve_compile_with(const char *script, size_t len,
                                        const struct sieve_limits *lim,
                                        const struct sieve_ext *exts, size_t nexts,
                                        const struct sieve_loader *loader,
                                        struct sieve_diag *diag)
{
    struct sieve_limits dl;
    if (!lim) {
        sieve_limits_default(&dl);
        lim = &dl;
    }
    struct sieve_diagctx dc = { diag, 0, lim->max_errors, 0 };
    struct sieve_script *s = xcalloc(1, sizeof(*s));
    s->exts = exts;
    s->nexts = nexts;
    s->loader = loader;
    s->nincludes = &s->own_nincludes;
    if (compile_into(s, script, len, lim, &dc) < 0) {
        /* and one closing error, as Pigeonhole counts them */
        sieve_diag_add(&dc, dc.last_line, 0, "script compilation failed");
        sieve_script_free(s);
        return NULL;
    }
    return s;
}

struct sieve_script *sieve_compile(const char *script, size_t len, const struct sieve_limits *lim,
                                   const struct sieve_ext *exts, size_t nexts,
                                   struct sieve_diag *diag)
{
    return sieve_compile_with(script, len, lim, exts, nexts, NULL, diag);
}

static void free_script(void *p)
{
    sieve_script_free(p);
}

int sieve_check_include(struct sieve_check *c, struct sieve_node *n, const char *name, int global,
                        int optional, int once)
{
    size_t depth = 0;
    for (const struct sieve_script *p = c->s; p; p = p->parent) {
        if (p->name && p->global == global && strcmp(p->name, name) == 0) {
            if (once) {      /* runs at most once: a reference to the script being compiled */
                n->priv = (void *)p;
                n->priv_free = NULL;
                return 0;
            }
            sieve_diag_add(c->dc, n->line, 0, "circular include of script '%s'", name);
            return -1;
        }
        depth++;
    }
    if (depth > SIEVE_INCLUDE_MAX_DEPTH) {
        sieve_diag_add(c->dc, n->line, 0, "cannot nest includes deeper than %d levels",
                       SIEVE_INCLUDE_MAX_DEPTH);
        return -1;
    }
    if (++*c->s->nincludes > SIEVE_INCLUDE_MAX) {
        sieve_diag_add(c->dc, n->line, 0, "too many includes (max %d)", SIEVE_INCLUDE_MAX);
        return -1;
    }
    char *text = NULL;
    size_t len = 0;
    if (!c->s->loader || c->s->loader->load(c->s->loader->ctx, global, name, &text, &len) < 0) {
        if (optional)
            return 0;
        sieve_diag_add(c->dc, n->line, 0, "included %s script '%s' does not exist",
                       global ? "global" : "personal", name);
        return -1;
    }
    struct sieve_script *inc = xcalloc(1, sizeof(*inc));
    inc->name = xstrdup(name);
    inc->global = global;
    inc->parent = c->s;
    inc->loader = c->s->loader;
    inc->nincludes = c->s->nincludes;
    inc->exts = c->s->exts;
    inc->nexts = c->s->nexts;
    size_t before = c->dc->errors;
    int r = compile_into(inc, text, len, c->lim0, c->dc);
    free(text);
    if (r < 0) {
        if (c->dc->errors == before)
            sieve_diag_add(c->dc, n->line, 0, "failed to compile included script '%s'", name);
        sieve_script_free(inc);
        return -1;
    }
    n->priv = inc;
    n->priv_free = free_script;
    return 0;
}

int sieve_check_variable(struct sieve_check *c, int line, const char *name)
{
    const char *dot = strchr(name, '.');
    if (dot && !(str_nieq(name, "global.", 7) && sieve_script_requires(c->s, "include"))) {
        sieve_diag_add(c->dc, line, 0, "unknown variables namespace '%.*s'", (int)(dot - name),
                       name);
        return -1;
    }
    if (dot)
        name = dot + 1;
    if (!sieve_var_name_ok(name, strlen(name))) {
        sieve_diag_add(c->dc, line, 0, "invalid variable name '%s'", name);
        return -1;
    }
    if (strlen(name) > SIEVE_VAR_NAME_MAX) {
        sieve_diag_add(c->dc, line, 0, "variable name is longer than %d characters",
                       SIEVE_VAR_NAME_MAX);
        return -1;
    }
    for (size_t i = 0; i < c->nvars; i++)
        if (str_ieq(c->vars[i], name))
            return 0;
    if (c->nvars >= SIEVE_VAR_SCOPE_MAX) {
        if (c->vars_full)
            return 0;
        c->vars_full = 1;
        sieve_diag_add(c->dc, line, 0, "more than %d variables in one script",
                       SIEVE_VAR_SCOPE_MAX);
        return -1;
    }
    c->vars = xrealloc(c->vars, (c->nvars + 1) * sizeof(char *));
    c->vars[c->nvars++] = xstrdup(name);
    return 0;
}

void sieve_check_global(struct sieve_check *c, const char *name)
{
    struct sieve_script *s = c->s;
    s->globals = xrealloc(s->globals, (s->nglobals + 1) * sizeof(char *));
    s->globals[s->nglobals++] = xstrdup(name);
}
