/*
 * imap_parser.c - the IMAP command parser (see imap_parser.h).
 *
 * Owns: a byte-at-a-time state machine (so input split anywhere parses
 * the same), an arena holding the tag, the command name and every string
 * of the command, a flat list of argument nodes (each knowing its parent
 * list) turned into the imap_arg tree on demand, and the skipping of a
 * bad command's remainder, including the data of a non-synchronizing
 * literal announced at the end of a skipped line.
 */
#include "lib-imap/imap_parser.h"

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

enum pstate {
    S_TAG,          /* reading the tag */
    S_CMD,          /* reading the command name */
    S_ARG,          /* where an argument may start (after SP or '(') */
    S_SEP,          /* after an argument: SP, ')' or the line end */
    S_ATOM,         /* inside an atom */
    S_QUOTED,       /* inside "..." */
    S_QUOTED_ESC,   /* after a backslash in "..." */
    S_TILDE,        /* '~' at an argument's start: literal8 or an atom */
    S_LIT_SIZE,     /* after '{': digits */
    S_LIT_CLOSE,    /* after '+': '}' */
    S_LIT_CR,       /* after '}': CR or LF */
    S_LIT_LF,       /* after "}\r": LF */
    S_LIT_DATA,     /* reading a literal's bytes */
    S_LIT_STOP,     /* stream mode: waiting for the caller to take the literal */
    S_CR,           /* CR at the line's end: LF */
    S_DONE,         /* a command is complete */
    S_ERR_RESET,    /* error reported; the command's bytes are all used */
    S_ERR_SKIP,     /* error reported; skip to the line's end */
    S_ERR_SKIPLIT,  /* error reported; skip a literal's data, then the line */
    S_SKIP,         /* skipping to the end of the line */
    S_SKIP_LIT,     /* skipping a non-synchronizing literal's data */
};

struct node {
    enum imap_arg_type type;
    unsigned literal8 : 1, bracketed : 1, streamed : 1;
    size_t off, len;
    long parent;    /* index of the enclosing LIST node, -1 at the top */
};

#define TAIL_MAX 32

struct imap_parser {
    struct imap_parser_limits lim;
    int stream;
    enum pstate st;
    struct buf arena;           /* tag \0 command \0 strings \0 ... */
    size_t cmd_off;
    int have_tag, have_cmd;
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    long cur_list;
    unsigned depth;
    size_t line_len, cmd_len;
    size_t tok_off;
    unsigned brackets;
    int tok_bracketed;
    uint64_t lit_size, lit_left;
    int lit_plus, lit8, lit_digits;
    const char *err_text, *err_code;
    int err_no;
    char tail[TAIL_MAX];
    size_t tail_len;
    uint64_t skip_left;
    struct imap_arg *args;
    size_t cap_args;
};

void imap_parser_default_limits(struct imap_parser_limits *lim)
{
    lim->line_max = 65536;
    lim->command_max = 262144;
    lim->args_max = 10000;
    lim->depth_max = 32;
    lim->literal_max = 65536;
    lim->nonsync_max = 0;
}

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim)
{
    struct imap_parser *p = xcalloc(1, sizeof(*p));
    if (lim)
        p->lim = *lim;
    else
        imap_parser_default_limits(&p->lim);
    buf_init(&p->arena, 0);
    imap_parser_reset(p);
    return p;
}

void imap_parser_free(struct imap_parser *p)
{
    if (!p)
        return;
    buf_free(&p->arena);
    free(p->nodes);
    free(p->args);
    free(p);
}

void imap_parser_reset(struct imap_parser *p)
{
    buf_reset(&p->arena);
    p->st = S_TAG;
    p->cmd_off = 0;
    p->have_tag = p->have_cmd = 0;
    p->n_nodes = 0;
    p->cur_list = -1;
    p->depth = 0;
    p->line_len = p->cmd_len = 0;
    p->tok_off = 0;
    p->brackets = 0;
    p->tok_bracketed = 0;
    p->lit_size = p->lit_left = 0;
    p->lit_plus = p->lit8 = p->lit_digits = 0;
    p->err_text = p->err_code = NULL;
    p->err_no = 0;
    p->tail_len = 0;
    p->skip_left = 0;
}

void imap_parser_stream_literals(struct imap_parser *p, int on)
{
    p->stream = on;
}

/* ---- errors ---- */

enum resume { R_RESET, R_SKIP, R_SKIPLIT };

static enum imap_parse_result fail(struct imap_parser *p, const char *text, const char *code,
                                   int no, enum resume r)
{
    p->err_text = text;
    p->err_code = code;
    p->err_no = no;
    p->st = r == R_RESET ? S_ERR_RESET : r == R_SKIP ? S_ERR_SKIP : S_ERR_SKIPLIT;
    return IMAP_PARSE_ERROR;
}

const char *imap_parser_error(const struct imap_parser *p)
{
    return p->err_text ? p->err_text : "Error in IMAP command";
}

const char *imap_parser_error_code(const struct imap_parser *p)
{
    return p->err_code;
}

int imap_parser_error_no(const struct imap_parser *p)
{
    return p->err_no;
}

int imap_parser_skipping(const struct imap_parser *p)
{
    return p->st == S_SKIP || p->st == S_SKIP_LIT || p->st == S_ERR_SKIP ||
           p->st == S_ERR_SKIPLIT;
}

/* ---- characters ---- */

static int is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* ATOM-CHAR plus ']' (ASTRING-CHAR), '%' '*' (list wildcards), '\' (flags), 8-bit. */
static int is_atom_char(unsigned char c)
{
    return !is_ctl(c) && c != ' ' && c != '(' && c != ')' && c != '{' && c != '"';
}

static int is_tag_char(unsigned char c)
{
    return is_atom_char(c) && c != '+' && c != '%' && c != '*' && c != '\\' && c < 0x80;
}

/* ---- the arena and nodes ---- */

static void arena_put(struct imap_parser *p, char c)
{
    if (buf_putc(&p->arena, c) < 0)
        msg_fatal("imap_parser: out of memory");
}

static int add_node(struct imap_parser *p, enum imap_arg_type type, size_t off, size_t len)
{
    if (p->n_nodes >= p->lim.args_max)
        return -1;
    if (p->n_nodes == p->cap_nodes) {
        p->cap_nodes = p->cap_nodes ? p->cap_nodes * 2 : 16;
        p->nodes = xrealloc(p->nodes, p->cap_nodes * sizeof(*p->nodes));
    }
    struct node *n = &p->nodes[p->n_nodes++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->off = off;
    n->len = len;
    n->parent = p->cur_list;
    return 0;
}

/* End the token started at tok_off as a node of this type. */
static enum imap_parse_result end_token(struct imap_parser *p, enum imap_arg_type type)
{
    size_t len = p->arena.len - p->tok_off;
    arena_put(p, '\0');
    if (add_node(p, type, p->tok_off, len) < 0)
        return fail(p, "Too many arguments", NULL, 0, R_SKIP);
    struct node *n = &p->nodes[p->n_nodes - 1];
    n->bracketed = type == IMAP_ARG_ATOM && p->tok_bracketed;
    n->literal8 = type == IMAP_ARG_LITERAL && p->lit8;
    return IMAP_PARSE_NEED;
}

/* ---- building the tree ---- */

/* start[i] for a LIST node i: where its element array begins; start[n]:
 * the top level's (0). count[] likewise: how many elements. */
static size_t layout(struct imap_parser *p, size_t *start, size_t *count)
{
    size_t n = p->n_nodes;
    for (size_t i = 0; i < n; i++)
        count[p->nodes[i].parent < 0 ? n : (size_t)p->nodes[i].parent]++;
    size_t pos = count[n] + 1;
    start[n] = 0;
    for (size_t i = 0; i < n; i++) {
        if (p->nodes[i].type != IMAP_ARG_LIST)
            continue;
        start[i] = pos;
        pos += count[i] + 1;
    }
    return pos;
}

static void fill_arg(struct imap_parser *p, size_t i, struct imap_arg *a, const size_t *start,
                     const size_t *count)
{
    const struct node *nd = &p->nodes[i];
    a->type = nd->type;
    a->literal8 = nd->literal8;
    a->bracketed = nd->bracketed;
    a->streamed = nd->streamed;
    a->len = nd->len;
    if (nd->type == IMAP_ARG_LIST) {
        a->list = &p->args[start[i]];
        a->count = count[i];
        a->len = 0;
    } else if (nd->streamed) {
        a->str = "";
    } else {
        a->str = p->arena.data + nd->off;
    }
}

const struct imap_arg *imap_parser_args(struct imap_parser *p)
{
    size_t n = p->n_nodes;
    size_t *start = xcalloc(n + 1, sizeof(size_t));
    size_t *count = xcalloc(n + 1, sizeof(size_t));
    size_t *next = xcalloc(n + 1, sizeof(size_t));
    size_t total = layout(p, start, count);
    if (total > p->cap_args) {
        free(p->args);
        p->cap_args = total;
        p->args = xmalloc(total * sizeof(*p->args));
    }
    memset(p->args, 0, total * sizeof(*p->args));   /* every array's EOL */
    for (size_t i = 0; i < n; i++) {
        size_t parent = p->nodes[i].parent < 0 ? n : (size_t)p->nodes[i].parent;
        fill_arg(p, i, &p->args[start[parent] + next[parent]++], start, count);
    }
    free(next);
    free(count);
    free(start);
    return p->args;
}

const char *imap_parser_tag(const struct imap_parser *p)
{
    return p->have_tag ? p->arena.data : NULL;
}

const char *imap_parser_command(const struct imap_parser *p)
{
    return p->have_cmd ? p->arena.data + p->cmd_off : NULL;
}

/* ---- lines and lists ---- */

static enum imap_parse_result line_end(struct imap_parser *p)
{
    if (p->depth > 0)
        return fail(p, "Missing ')'", NULL, 0, R_RESET);
    p->st = S_DONE;
    return IMAP_PARSE_DONE;
}

static enum imap_parse_result open_list(struct imap_parser *p)
{
    if (p->depth >= p->lim.depth_max)
        return fail(p, "Too deeply nested lists", NULL, 0, R_SKIP);
    if (add_node(p, IMAP_ARG_LIST, 0, 0) < 0)
        return fail(p, "Too many arguments", NULL, 0, R_SKIP);
    p->cur_list = (long)p->n_nodes - 1;
    p->depth++;
    p->st = S_ARG;
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result close_list(struct imap_parser *p)
{
    if (p->depth == 0)
        return fail(p, "Unexpected ')'", NULL, 0, R_SKIP);
    p->cur_list = p->nodes[p->cur_list].parent;
    p->depth--;
    p->st = S_SEP;
    return IMAP_PARSE_NEED;
}

/* ---- literals ---- */

static enum imap_parse_result literal_accept(struct imap_parser *p)
{
    if (p->lit_size > p->lim.literal_max ||
        p->lit_size > (uint64_t)(p->lim.command_max - (p->cmd_len < p->lim.command_max ?
                                                       p->cmd_len : p->lim.command_max))) {
        if (!p->lit_plus)
            return fail(p, "Literal too large", "TOOBIG", 1, R_RESET);
        p->skip_left = p->lit_size;
        return fail(p, "Literal too large", "TOOBIG", 0, R_SKIPLIT);
    }
    p->tok_off = p->arena.len;
    p->lit_left = p->lit_size;
    p->st = S_LIT_DATA;
    if (buf_reserve(&p->arena, (size_t)p->lit_size + 1) < 0)
        msg_fatal("imap_parser: out of memory");
    return p->lit_plus ? IMAP_PARSE_NEED : IMAP_PARSE_CONTINUE;
}

/* The header "{n}" / "{n+}" / "~{n}" ended with its LF. */
static enum imap_parse_result literal_header_done(struct imap_parser *p)
{
    if (!p->lit_digits)
        return fail(p, "Missing literal size", NULL, 0, R_RESET);
    if (p->lit_plus && p->lim.nonsync_max && p->lit_size > p->lim.nonsync_max) {
        p->skip_left = p->lit_size;
        return fail(p, "Non-synchronizing literal too large", "TOOBIG", 0, R_SKIPLIT);
    }
    p->line_len = 0;
    if (p->stream) {
        p->st = S_LIT_STOP;
        return IMAP_PARSE_LITERAL;
    }
    return literal_accept(p);
}

static enum imap_parse_result literal_done(struct imap_parser *p)
{
    enum imap_parse_result r = end_token(p, IMAP_ARG_LITERAL);
    if (r != IMAP_PARSE_NEED)
        return r;
    p->st = S_SEP;
    return IMAP_PARSE_NEED;
}

void imap_parser_literal(const struct imap_parser *p, uint64_t *size, int *sync, int *literal8)
{
    INVARIANT(p->st == S_LIT_STOP);
    if (size)
        *size = p->lit_size;
    if (sync)
        *sync = !p->lit_plus;
    if (literal8)
        *literal8 = p->lit8;
}

void imap_parser_literal_streamed(struct imap_parser *p)
{
    INVARIANT(p->st == S_LIT_STOP);
    p->st = S_SEP;
    if (add_node(p, IMAP_ARG_LITERAL, p->arena.len, 0) < 0) {
        fail(p, "Too many arguments", NULL, 0, R_SKIP);
        return;
    }
    struct node *n = &p->nodes[p->n_nodes - 1];
    n->streamed = 1;
    n->literal8 = p->lit8;
    n->len = (size_t)p->lit_size;
}

enum imap_parse_result imap_parser_literal_hold(struct imap_parser *p)
{
    INVARIANT(p->st == S_LIT_STOP);
    return literal_accept(p);
}

enum imap_parse_result imap_parser_literal_refuse(struct imap_parser *p, const char *code,
                                                  const char *text)
{
    INVARIANT(p->st == S_LIT_STOP);
    if (!p->lit_plus)
        return fail(p, text, code, 1, R_RESET);
    p->skip_left = p->lit_size;
    return fail(p, text, code, 0, R_SKIPLIT);
}

/* ---- skipping a bad command ---- */

/* The skipped line ended: does it announce a non-synchronizing literal? */
static int tail_literal(struct imap_parser *p, uint64_t *size)
{
    size_t n = p->tail_len;
    if (n > 0 && p->tail[n - 1] == '\r')
        n--;
    if (n < 4 || p->tail[n - 1] != '}' || p->tail[n - 2] != '+')
        return 0;
    size_t i = n - 2;
    while (i > 0 && p->tail[i - 1] >= '0' && p->tail[i - 1] <= '9')
        i--;
    if (i == 0 || i == n - 2 || p->tail[i - 1] != '{')
        return 0;
    uint64_t v = 0;
    for (size_t k = i; k < n - 2; k++) {
        unsigned d = (unsigned)(p->tail[k] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    *size = v;
    return 1;
}

static size_t skip(struct imap_parser *p, const char *data, size_t len, int *finished)
{
    size_t i = 0;
    *finished = 0;
    while (i < len) {
        if (p->st == S_SKIP_LIT) {
            uint64_t take = p->skip_left < len - i ? p->skip_left : len - i;
            i += (size_t)take;
            p->skip_left -= take;
            if (p->skip_left == 0)
                p->st = S_SKIP;
            continue;
        }
        char c = data[i++];
        if (c != '\n') {
            if (p->tail_len == TAIL_MAX) {
                memmove(p->tail, p->tail + 1, TAIL_MAX - 1);
                p->tail_len--;
            }
            p->tail[p->tail_len++] = c;
            continue;
        }
        uint64_t size;
        int lit = tail_literal(p, &size);
        p->tail_len = 0;
        if (lit && size > 0) {
            p->skip_left = size;
            p->st = S_SKIP_LIT;
        } else if (!lit) {
            *finished = 1;
            return i;
        }
    }
    return i;
}

/* ---- the state machine ---- */

static enum imap_parse_result line_byte(struct imap_parser *p)
{
    if (++p->line_len > p->lim.line_max)
        return fail(p, "Command line too long", "TOOBIG", 0, R_SKIP);
    if (++p->cmd_len > p->lim.command_max)
        return fail(p, "Command too long", "TOOBIG", 0, R_SKIP);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_tag(struct imap_parser *p, unsigned char c)
{
    if (c == ' ') {
        if (p->arena.len == 0)
            return fail(p, "Missing tag", NULL, 0, R_SKIP);
        arena_put(p, '\0');
        p->have_tag = 1;
        p->cmd_off = p->arena.len;
        p->st = S_CMD;
        return IMAP_PARSE_NEED;
    }
    if (c == '\r' || c == '\n') {
        if (p->arena.len == 0) {
            /* an empty line: ignored */
            p->line_len = p->cmd_len = 0;
            return IMAP_PARSE_NEED;
        }
        arena_put(p, '\0');
        p->have_tag = 1;
        return fail(p, "Missing command", NULL, 0, c == '\n' ? R_RESET : R_SKIP);
    }
    if (!is_tag_char(c))
        return fail(p, "Invalid characters in tag", NULL, 0, R_SKIP);
    arena_put(p, (char)c);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_cmd(struct imap_parser *p, unsigned char c)
{
    int empty = p->arena.len == p->cmd_off;
    if (c == ' ' || c == '\r' || c == '\n') {
        if (empty)
            return fail(p, "Missing command", NULL, 0, c == '\n' ? R_RESET : R_SKIP);
        arena_put(p, '\0');
        p->have_cmd = 1;
        if (c == ' ') {
            p->st = S_ARG;
            return IMAP_PARSE_NEED;
        }
        if (c == '\r') {
            p->st = S_CR;
            return IMAP_PARSE_NEED;
        }
        return line_end(p);
    }
    if (!is_atom_char(c) || c == '[' || c == ']' || c >= 0x80)
        return fail(p, "Invalid characters in command name", NULL, 0, R_SKIP);
    arena_put(p, (char)c);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result at_line_end(struct imap_parser *p, unsigned char c)
{
    if (c == '\r') {
        p->st = S_CR;
        return IMAP_PARSE_NEED;
    }
    return line_end(p);
}

static enum imap_parse_result start_atom(struct imap_parser *p, unsigned char c)
{
    p->tok_off = p->arena.len;
    p->brackets = 0;
    p->tok_bracketed = 0;
    p->st = S_ATOM;
    if (c == '[') {
        p->brackets = 1;
        p->tok_bracketed = 1;
    }
    arena_put(p, (char)c);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_arg(struct imap_parser *p, unsigned char c)
{
    switch (c) {
    case ' ':
        return IMAP_PARSE_NEED;           /* extra spaces are forgiven */
    case '\r': case '\n':
        return at_line_end(p, c);
    case '(':
        return open_list(p);
    case ')':
        return close_list(p);
    case '"':
        p->tok_off = p->arena.len;
        p->st = S_QUOTED;
        return IMAP_PARSE_NEED;
    case '{':
        p->lit8 = 0;
        goto literal;
    case '~':
        p->st = S_TILDE;
        return IMAP_PARSE_NEED;
    default:
        if (!is_atom_char(c))
            return fail(p, "Invalid characters in atom", NULL, 0, R_SKIP);
        return start_atom(p, c);
    }
literal:
    p->lit_size = 0;
    p->lit_digits = 0;
    p->lit_plus = 0;
    p->st = S_LIT_SIZE;
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_sep(struct imap_parser *p, unsigned char c)
{
    if (c == ' ') {
        p->st = S_ARG;
        return IMAP_PARSE_NEED;
    }
    if (c == ')')
        return close_list(p);
    if (c == '\r' || c == '\n')
        return at_line_end(p, c);
    return fail(p, "Missing space between arguments", NULL, 0, R_SKIP);
}

static enum imap_parse_result st_atom(struct imap_parser *p, unsigned char c)
{
    if (c == '\r' || c == '\n' || (p->brackets == 0 && (c == ' ' || c == ')'))) {
        enum imap_parse_result r = end_token(p, IMAP_ARG_ATOM);
        if (r != IMAP_PARSE_NEED)
            return r;
        if (c == ' ') {
            p->st = S_ARG;
            return IMAP_PARSE_NEED;
        }
        if (c == ')')
            return close_list(p);
        return at_line_end(p, c);
    }
    if (p->brackets > 0) {
        if (c == '\0')
            return fail(p, "NUL in atom", NULL, 0, R_SKIP);
        if (c == '[')
            p->brackets++;
        else if (c == ']')
            p->brackets--;
    } else if (c == '[') {
        p->brackets = 1;
        p->tok_bracketed = 1;
    } else if (!is_atom_char(c)) {
        return fail(p, "Invalid characters in atom", NULL, 0, R_SKIP);
    }
    arena_put(p, (char)c);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_quoted(struct imap_parser *p, unsigned char c)
{
    if (p->st == S_QUOTED_ESC) {
        if (c != '"' && c != '\\')
            return fail(p, "Invalid escape in quoted string", NULL, 0,
                        c == '\n' ? R_RESET : R_SKIP);
        arena_put(p, (char)c);
        p->st = S_QUOTED;
        return IMAP_PARSE_NEED;
    }
    if (c == '"') {
        enum imap_parse_result r = end_token(p, IMAP_ARG_QUOTED);
        if (r == IMAP_PARSE_NEED)
            p->st = S_SEP;
        return r;
    }
    if (c == '\\') {
        p->st = S_QUOTED_ESC;
        return IMAP_PARSE_NEED;
    }
    if (c == '\r' || c == '\n' || c == '\0')
        return fail(p, c == '\0' ? "NUL in quoted string" : "Missing '\"'", NULL, 0,
                    c == '\n' ? R_RESET : R_SKIP);
    arena_put(p, (char)c);
    return IMAP_PARSE_NEED;
}

static enum imap_parse_result st_literal_header(struct imap_parser *p, unsigned char c)
{
    switch (p->st) {
    case S_TILDE:
        if (c == '{') {
            p->lit8 = 1;
            p->lit_size = 0;
            p->lit_digits = 0;
            p->lit_plus = 0;
            p->st = S_LIT_SIZE;
            return IMAP_PARSE_NEED;
        }
        start_atom(p, '~');
        return st_atom(p, c);
    case S_LIT_SIZE:
        if (c >= '0' && c <= '9') {
            unsigned d = (unsigned)(c - '0');
            p->lit_size = p->lit_size > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->lit_size * 10 + d;
            p->lit_digits++;
            return IMAP_PARSE_NEED;
        }
        if (c == '+' && p->lit_digits) {
            p->lit_plus = 1;
            p->st = S_LIT_CLOSE;
            return IMAP_PARSE_NEED;
        }
        /* fall through */
    case S_LIT_CLOSE:
        if (c == '}' && p->lit_digits) {
            p->st = S_LIT_CR;
            return IMAP_PARSE_NEED;
        }
        return fail(p, "Invalid literal size", NULL, 0, c == '\n' ? R_RESET : R_SKIP);
    case S_LIT_CR:
        if (c == '\r') {
            p->st = S_LIT_LF;
            return IMAP_PARSE_NEED;
        }
        /* fall through */
    default: /* S_LIT_LF */
        if (c == '\n')
            return literal_header_done(p);
        return fail(p, "Missing line end after literal size", NULL, 0, R_SKIP);
    }
}

static enum imap_parse_result step(struct imap_parser *p, unsigned char c)
{
    enum imap_parse_result r = line_byte(p);
    if (r != IMAP_PARSE_NEED)
        return r;
    switch (p->st) {
    case S_TAG:
        return st_tag(p, c);
    case S_CMD:
        return st_cmd(p, c);
    case S_ARG:
        return st_arg(p, c);
    case S_SEP:
        return st_sep(p, c);
    case S_ATOM:
        return st_atom(p, c);
    case S_QUOTED: case S_QUOTED_ESC:
        return st_quoted(p, c);
    case S_TILDE: case S_LIT_SIZE: case S_LIT_CLOSE: case S_LIT_CR: case S_LIT_LF:
        return st_literal_header(p, c);
    case S_CR:
        if (c == '\n')
            return line_end(p);
        return fail(p, "CR without LF", NULL, 0, R_SKIP);
    default:
        INVARIANT(0);
        return IMAP_PARSE_ERROR;
    }
}

/* Copy literal data; returns the bytes taken. */
static size_t literal_data(struct imap_parser *p, const char *data, size_t len)
{
    size_t take = p->lit_left < len ? (size_t)p->lit_left : len;
    if (buf_append(&p->arena, data, take) < 0)
        msg_fatal("imap_parser: out of memory");
    p->lit_left -= take;
    p->cmd_len += take;
    return take;
}

/* Begin the state after an error was reported. */
static void after_error(struct imap_parser *p)
{
    if (p->st == S_ERR_RESET) {
        imap_parser_reset(p);
        return;
    }
    int lit = p->st == S_ERR_SKIPLIT;
    uint64_t left = p->skip_left;
    imap_parser_reset(p);
    p->skip_left = left;
    p->st = lit && left > 0 ? S_SKIP_LIT : S_SKIP;
}

enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
                                        size_t *used)
{
    size_t i = 0;
    enum imap_parse_result r = IMAP_PARSE_NEED;
    if (p->st == S_DONE)
        imap_parser_reset(p);
    if (p->st == S_ERR_RESET || p->st == S_ERR_SKIP || p->st == S_ERR_SKIPLIT)
        after_error(p);
    if (p->st == S_LIT_STOP) {
        *used = 0;
        return IMAP_PARSE_LITERAL;
    }
    while (i < len && r == IMAP_PARSE_NEED) {
        if (p->st == S_SKIP || p->st == S_SKIP_LIT) {
            int finished;
            i += skip(p, data + i, len - i, &finished);
            if (finished)
                imap_parser_reset(p);
            continue;
        }
        if (p->st == S_LIT_DATA) {
            i += literal_data(p, data + i, len - i);
            if (p->lit_left == 0)
                r = literal_done(p);
            continue;
        }
        r = step(p, (unsigned char)data[i++]);
    }
    /* a zero-length literal completes without data */
    if (p->st == S_LIT_DATA && p->lit_left == 0 && r != IMAP_PARSE_ERROR) {
        enum imap_parse_result r2 = literal_done(p);
        if (r2 == IMAP_PARSE_ERROR)
            r = r2;
    }
    *used = i;
    return r;
}
