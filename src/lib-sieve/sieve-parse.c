/*
 * sieve-parse.c - the Sieve lexer and parser (RFC 5228 section 8).
 *
 * Owns: tokens (identifiers, tags, numbers with K/M/G, quoted strings with
 * escapes, "text:" multi-line strings with dot-unstuffing, hash and
 * bracket comments), the grammar (commands, arguments, string lists,
 * tests, test lists, blocks) into a tree of struct sieve_node, line
 * numbers for errors, and the limits (script size, string length, nesting
 * depth, number of commands, list length). Line ends inside strings become
 * CRLF, as the RFC's grammar has them.
 *
 * After an error the parser skips to the next ';' or '}' and goes on, so
 * that one run reports several errors, up to max_errors.
 */
#include "lib-sieve/sieve-int.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum tok { T_EOF, T_ERR, T_GARBAGE, T_IDENT, T_TAG, T_NUM, T_STR, T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE,
           T_LPAREN, T_RPAREN, T_COMMA, T_SEMI };

struct lexer {
    const char *p, *end;
    int line;
    const struct sieve_limits *lim;
    struct sieve_diagctx *dc;
    /* current token */
    enum tok t;
    int tline;
    struct buf text;                 /* IDENT, TAG, STR */
    uint64_t num;
    size_t ncommands;
    int fatal;                       /* a limit broke: stop parsing */
};

void sieve_diag_add(struct sieve_diagctx *dc, int line, int warning, const char *fmt, ...)
{
    if (!warning) {
        dc->errors++;
        dc->last_line = line;
    }
    if (!dc->d)
        return;
    if (!warning && dc->d->errors >= dc->max_errors)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    struct sieve_diag *d = dc->d;
    d->msgs = xrealloc(d->msgs, (d->n + 1) * sizeof(char *));
    d->msgs[d->n++] = xasprintf("line %d: %s: %s", line, warning ? "warning" : "error", msg);
    if (warning)
        d->warnings++;
    else
        d->errors++;
}

void sieve_diag_free(struct sieve_diag *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        free(d->msgs[i]);
    free(d->msgs);
    memset(d, 0, sizeof(*d));
}

static void lex_error(struct lexer *lx, const char *fmt, const char *a)
{
    sieve_diag_add(lx->dc, lx->line, 0, fmt, a);
}

/* Skip white space and comments; 0, or -1 on an unterminated comment. */
static int skip_space(struct lexer *lx)
{
    while (lx->p < lx->end) {
        char c = *lx->p;
        if (c == '\n') {
            lx->line++;
            lx->p++;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            lx->p++;
        } else if (c == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
        } else if (c == '/' && lx->p + 1 < lx->end && lx->p[1] == '*') {
            int start = lx->line;
            lx->p += 2;
            while (lx->p + 1 < lx->end && !(lx->p[0] == '*' && lx->p[1] == '/')) {
                if (*lx->p == '\n')
                    lx->line++;
                lx->p++;
            }
            if (lx->p + 1 >= lx->end) {
                lx->p = lx->end;
                sieve_diag_add(lx->dc, start, 0, "end of file before end of bracket comment");
                return -1;
            }
            lx->p += 2;
        } else {
            break;
        }
    }
    return 0;
}

static int str_put(struct lexer *lx, char c)
{
    if (buf_putc(&lx->text, c) < 0) {
        lex_error(lx, "string is too long (limit %s)", "reached");
        return -1;
    }
    return 0;
}

/* A line end inside a string: CRLF. */
static int str_newline(struct lexer *lx)
{
    return str_put(lx, '\r') < 0 || str_put(lx, '\n') < 0 ? -1 : 0;
}

static enum tok lex_quoted(struct lexer *lx)
{
    lx->p++;
    while (lx->p < lx->end && *lx->p != '"') {
        char c = *lx->p++;
        if (c == '\\' && lx->p < lx->end)
            c = *lx->p++;
        else if (c == '\r' && lx->p < lx->end && *lx->p == '\n')
            continue;
        if (c == '\n') {
            lx->line++;
            if (str_newline(lx) < 0)
                return T_ERR;
            continue;
        }
        if (str_put(lx, c) < 0)
            return T_ERR;
    }
    if (lx->p >= lx->end) {
        lex_error(lx, "end of file before end of %s", "quoted string");
        return T_ERR;
    }
    lx->p++;
    return T_STR;
}

/* "text:" already consumed: optional blanks, a comment or line end, then lines up to ".". */
static enum tok lex_multiline(struct lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
        lx->p++;
    if (lx->p < lx->end && *lx->p == '#') {
        while (lx->p < lx->end && *lx->p != '\n')
            lx->p++;
    }
    if (lx->p < lx->end && *lx->p == '\r')
        lx->p++;
    if (lx->p >= lx->end || *lx->p != '\n') {
        lex_error(lx, "invalid character after text: %s", "(expected a line end)");
        return T_ERR;
    }
    lx->p++;
    lx->line++;
    for (;;) {
        const char *nl = memchr(lx->p, '\n', (size_t)(lx->end - lx->p));
        if (!nl) {
            lex_error(lx, "end of file before end of %s", "multi-line string");
            return T_ERR;
        }
        size_t n = (size_t)(nl - lx->p);
        if (n && lx->p[n - 1] == '\r')
            n--;
        const char *s = lx->p;
        lx->p = nl + 1;
        lx->line++;
        if (n == 1 && s[0] == '.')
            return T_STR;
        if (n && s[0] == '.' && n > 1 && s[1] == '.') {
            s++;
            n--;
        }
        for (size_t i = 0; i < n; i++)
            if (str_put(lx, s[i]) < 0)
                return T_ERR;
        if (str_newline(lx) < 0)
            return T_ERR;
    }
}

static enum tok lex_number(struct lexer *lx)
{
    uint64_t v = 0;
    int overflow = 0;
    while (lx->p < lx->end && isdigit((unsigned char)*lx->p)) {
        unsigned d = (unsigned)(*lx->p++ - '0');
        if (v > (UINT64_MAX - d) / 10)
            overflow = 1;
        else
            v = v * 10 + d;
    }
    unsigned shift = 0;
    if (lx->p < lx->end) {
        char q = (char)toupper((unsigned char)*lx->p);
        shift = q == 'K' ? 10 : q == 'M' ? 20 : q == 'G' ? 30 : 0;
        if (shift)
            lx->p++;
    }
    if (shift && v > (UINT64_MAX >> shift))
        overflow = 1;
    if (overflow) {
        lex_error(lx, "number is too large%s", "");
        return T_ERR;
    }
    lx->num = v << shift;
    return T_NUM;
}

static int is_ident_char(char c, int first)
{
    return isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c));
}

#define SIEVE_IDENT_MAX 32           /* Pigeonhole's limit on identifiers and tags */

static enum tok lex_word(struct lexer *lx, enum tok kind)
{
    while (lx->p < lx->end && is_ident_char(*lx->p, 0))
        if (str_put(lx, *lx->p++) < 0)
            return T_ERR;
    if (lx->text.len > SIEVE_IDENT_MAX) {
        lex_error(lx, "%s is too long", kind == T_TAG ? "tag" : "identifier");
        return T_ERR;
    }
    if (kind == T_IDENT && strcmp(buf_cstr(&lx->text), "text") == 0 && lx->p < lx->end && *lx->p == ':') {
        lx->p++;
        buf_reset(&lx->text);
        return lex_multiline(lx);
    }
    return kind;
}

static enum tok lex_next(struct lexer *lx)
{
    buf_reset(&lx->text);
    if (skip_space(lx) < 0)
        return lx->t = T_ERR;
    lx->tline = lx->line;
    if (lx->p >= lx->end)
        return lx->t = T_EOF;
    char c = *lx->p;
    static const char specials[] = "[]{}(),;";
    static const enum tok kinds[] = { T_LBRACK, T_RBRACK, T_LBRACE, T_RBRACE, T_LPAREN,
                                      T_RPAREN, T_COMMA, T_SEMI };
    const char *sp = c ? strchr(specials, c) : NULL;
    if (sp) {
        lx->p++;
        return lx->t = kinds[sp - specials];
    }
    if (c == '"')
        return lx->t = lex_quoted(lx);
    if (isdigit((unsigned char)c))
        return lx->t = lex_number(lx);
    if (c == ':' && lx->p + 1 < lx->end && is_ident_char(lx->p[1], 1)) {
        lx->p++;
        return lx->t = lex_word(lx, T_TAG);
    }
    if (is_ident_char(c, 1))
        return lx->t = lex_word(lx, T_IDENT);
    char shown[8];
    str_fmt(shown, sizeof(shown), isprint((unsigned char)c) ? "'%c'" : "0x%02x",
            isprint((unsigned char)c) ? c : (unsigned char)c);
    lex_error(lx, "unexpected character(s) starting with %s", shown);
    /* the run of garbage is one token; the parser says where it was not expected */
    while (lx->p < lx->end && !strchr(" \t\r\n[]{}(),;\"#", *lx->p) && *lx->p)
        lx->p++;
    if (lx->p < lx->end && *lx->p == '\0')
        lx->p++;
    return lx->t = T_GARBAGE;
}

/* ---- parser ---- */

struct parser {
    struct lexer lx;
    size_t depth;                    /* blocks */
    size_t tdepth;                   /* tests */
    int tdepth_error;                /* reported once per test nest */
};

/* The current token opens a nest (open); skip past its matching close. */
static void skip_balanced(struct parser *ps, enum tok open, enum tok close)
{
    size_t d = 0;
    while (ps->lx.t != T_EOF) {
        if (ps->lx.t == open)
            d++;
        else if (ps->lx.t == close && --d == 0)
            break;
        lex_next(&ps->lx);
    }
}

static void parse_error(struct parser *ps, const char *what)
{
    if (ps->lx.t != T_ERR && !ps->tdepth_error)  /* already reported */
        sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "%s", what);
}

void sieve_node_free(struct sieve_node *n)
{
    if (!n)
        return;
    free(n->name);
    for (size_t i = 0; i < n->nargs; i++) {
        free(n->args[i].tag);
        strv_free(n->args[i].strs);
    }
    free(n->args);
    sieve_nodes_free(n->tests, n->ntests);
    sieve_nodes_free(n->block, n->nblock);
    if (n->priv && n->priv_free)
        n->priv_free(n->priv);
    free(n);
}

void sieve_nodes_free(struct sieve_node **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sieve_node_free(v[i]);
    free(v);
}

static void push_node(struct sieve_node ***v, size_t *n, struct sieve_node *x)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = x;
}

#define SIEVE_ARGS_MAX 32            /* arguments of one command or test */

static struct sieve_arg *new_arg(struct sieve_node *n, enum sieve_arg_kind kind, int line)
{
    n->args = xrealloc(n->args, (n->nargs + 1) * sizeof(*n->args));
    struct sieve_arg *a = &n->args[n->nargs++];
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->line = line;
    return a;
}

static void arg_add_str(struct sieve_arg *a, const char *s)
{
    a->strs = xrealloc(a->strs, (a->nstrs + 2) * sizeof(char *));
    a->strs[a->nstrs++] = xstrdup(s);
    a->strs[a->nstrs] = NULL;
}

/* "[" string *("," string) "]", the '[' current. */
static int parse_strlist(struct parser *ps, struct sieve_arg *a)
{
    for (;;) {
        if (lex_next(&ps->lx) != T_STR) {
            parse_error(ps, "expecting string after '[' or ',' in string list");
            return -1;
        }
        if (a->nstrs >= ps->lx.lim->max_list) {
            sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "string list is too long");
            return -1;
        }
        arg_add_str(a, buf_cstr(&ps->lx.text));
        enum tok t = lex_next(&ps->lx);
        if (t == T_RBRACK)
            return 0;
        if (t != T_COMMA) {
            parse_error(ps, "expecting ',' or end of string list ']'");
            return -1;
        }
    }
}

static struct sieve_node *parse_test(struct parser *ps);

static struct sieve_node *new_node(struct parser *ps, int is_test)
{
    if (++ps->lx.ncommands > ps->lx.lim->max_commands) {
        sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "too many commands in script");
        ps->lx.fatal = 1;
        return NULL;
    }
    struct sieve_node *n = xcalloc(1, sizeof(*n));
    n->name = xstrdup(buf_cstr(&ps->lx.text));
    str_lower(n->name);
    n->line = ps->lx.tline;
    n->is_test = is_test;
    return n;
}

/* Arguments, then an optional test or test list; the token after them is current. */
static int parse_arguments(struct parser *ps, struct sieve_node *n)
{
    for (;;) {
        enum tok t = lex_next(&ps->lx);
        struct sieve_arg *a;
        if (n->nargs >= SIEVE_ARGS_MAX && (t == T_NUM || t == T_TAG || t == T_STR ||
                                           t == T_LBRACK)) {
            sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "too many arguments for the %s %s",
                           n->name, n->is_test ? "test" : "command");
            ps->lx.t = T_ERR;
            return -1;
        }
        switch (t) {
        case T_NUM:
            new_arg(n, SIEVE_ARG_NUMBER, ps->lx.tline)->num = ps->lx.num;
            break;
        case T_TAG:
            a = new_arg(n, SIEVE_ARG_TAG, ps->lx.tline);
            a->tag = xstrdup(buf_cstr(&ps->lx.text));
            str_lower(a->tag);
            break;
        case T_STR:
            arg_add_str(new_arg(n, SIEVE_ARG_STRING, ps->lx.tline), buf_cstr(&ps->lx.text));
            break;
        case T_LBRACK:
            if (parse_strlist(ps, new_arg(n, SIEVE_ARG_LIST, ps->lx.tline)) < 0)
                return -1;
            break;
        default:
            goto tests;
        }
    }
tests:
    if (ps->lx.t == T_IDENT) {
        struct sieve_node *x = parse_test(ps);
        if (!x)
            return -1;
        push_node(&n->tests, &n->ntests, x);
        return 0;
    }
    if (ps->lx.t != T_LPAREN)
        return 0;
    n->test_list = 1;
    for (;;) {
        if (lex_next(&ps->lx) != T_IDENT) {
            parse_error(ps, "expecting test identifier after '(' or ',' in test list");
            return -1;
        }
        struct sieve_node *x = parse_test(ps);
        if (!x)
            return -1;
        push_node(&n->tests, &n->ntests, x);
        if (ps->lx.t == T_RPAREN)
            break;
        if (ps->lx.t != T_COMMA) {
            parse_error(ps, "expecting ',' or end of test list ')'");
            return -1;
        }
    }
    lex_next(&ps->lx);
    return 0;
}

/* A test, its identifier current; on return the token after it is current. */
static struct sieve_node *parse_test(struct parser *ps)
{
    if (ps->tdepth >= ps->lx.lim->max_depth) {
        sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "tests nested too deep (max %zu levels)",
                       ps->lx.lim->max_depth);
        /* up to the end of the outermost test list or the start of the block */
        while (ps->lx.t != T_EOF && ps->lx.t != T_LBRACE && ps->lx.t != T_SEMI)
            lex_next(&ps->lx);
        ps->tdepth_error = 1;
        return NULL;
    }
    struct sieve_node *n = new_node(ps, 1);
    if (!n)
        return NULL;
    ps->tdepth++;
    int r = parse_arguments(ps, n);
    ps->tdepth--;
    if (r < 0) {
        sieve_node_free(n);
        return NULL;
    }
    return n;
}

static int parse_commands(struct parser *ps, struct sieve_node ***v, size_t *nv, int in_block);

/* Skip to just after the next ';' or to a '}' (left current) after an error. */
static void recover(struct parser *ps)
{
    int depth = 0;
    while (ps->lx.t != T_EOF && !ps->lx.fatal) {
        if (ps->lx.t == T_SEMI && depth == 0)
            break;
        if (ps->lx.t == T_LBRACE)
            depth++;
        if (ps->lx.t == T_RBRACE) {
            if (depth == 0)
                return;
            if (--depth == 0)
                break;
        }
        lex_next(&ps->lx);
    }
    lex_next(&ps->lx);
}

/* A command, its identifier current; on success the token after it is current. */
static struct sieve_node *parse_command(struct parser *ps)
{
    struct sieve_node *n = new_node(ps, 0);
    if (!n)
        return NULL;
    if (parse_arguments(ps, n) < 0)
        goto fail;
    if (ps->lx.t == T_SEMI) {
        lex_next(&ps->lx);
        return n;
    }
    if (ps->lx.t != T_LBRACE) {
        parse_error(ps, "expected end of command ';' or the beginning of a compound block '{'");
        goto fail;
    }
    if (ps->depth >= ps->lx.lim->max_depth) {
        sieve_diag_add(ps->lx.dc, ps->lx.tline, 0, "blocks nested too deep (max %zu levels)",
                       ps->lx.lim->max_depth);
        skip_balanced(ps, T_LBRACE, T_RBRACE);
        lex_next(&ps->lx);   /* the whole block is dropped; the error is counted */
        return n;
    }
    n->has_block = 1;
    ps->depth++;
    lex_next(&ps->lx);
    parse_commands(ps, &n->block, &n->nblock, 1);
    ps->depth--;
    if (ps->lx.t != T_RBRACE) {
        sieve_node_free(n);
        return NULL;
    }
    /* the block's own '}', also after errors inside it (they are counted already) */
    lex_next(&ps->lx);
    return n;
fail:
    sieve_node_free(n);
    return NULL;
}

static int parse_commands(struct parser *ps, struct sieve_node ***v, size_t *nv, int in_block)
{
    int bad = 0;
    while (!ps->lx.fatal && ps->lx.dc->errors < ps->lx.lim->max_errors) {
        if (ps->lx.t == T_EOF) {
            if (in_block) {
                parse_error(ps, "end of file before end of compound block '}'");
                return -1;
            }
            break;
        }
        if (ps->lx.t == T_RBRACE) {
            if (in_block)
                break;
            parse_error(ps, "unexpected '}' outside a block");
            lex_next(&ps->lx);
            bad = 1;
            continue;
        }
        if (ps->lx.t != T_IDENT) {
            parse_error(ps, "expected identifier at the start of a command");
            bad = 1;
            recover(ps);
            continue;
        }
        ps->tdepth_error = 0;
        struct sieve_node *n = parse_command(ps);
        if (!n) {
            bad = 1;
            recover(ps);
            continue;
        }
        push_node(v, nv, n);
    }
    return bad || ps->lx.fatal ? -1 : 0;
}

int sieve_parse(const char *script, size_t len, const struct sieve_limits *lim,
                struct sieve_diagctx *dc, struct sieve_node ***cmds, size_t *ncmds)
{
    *cmds = NULL;
    *ncmds = 0;
    if (len > lim->max_script) {
        sieve_diag_add(dc, 1, 0, "script is too large (max %zu bytes)", lim->max_script);
        return -1;
    }
    struct parser ps;
    memset(&ps, 0, sizeof(ps));
    ps.lx.p = script;
    ps.lx.end = script + len;
    ps.lx.line = 1;
    ps.lx.lim = lim;
    ps.lx.dc = dc;
    buf_init(&ps.lx.text, lim->max_string);
    lex_next(&ps.lx);
    int r = parse_commands(&ps, cmds, ncmds, 0);
    buf_free(&ps.lx.text);
    if (r < 0 || dc->errors) {
        sieve_nodes_free(*cmds, *ncmds);
        *cmds = NULL;
        *ncmds = 0;
        return -1;
    }
    return 0;
}
