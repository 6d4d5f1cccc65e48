/*
 * msieve_parse.c - ManageSieve command lines, script names and strings
 * (see msieve_parse.h). No I/O.
 */
#include "managesieved/msieve_parse.h"

#include "lib/buf.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define QUOTED_MAX 1024              /* a quoted string the server writes */

static int atom_char(char c)
{
    return c > 0x20 && c < 0x7f && c != '"' && c != '{' && c != '}' && c != '(' && c != ')' &&
           c != '\\' && c != '%' && c != '*';
}

struct scan {
    const char *d;
    size_t len, pos, literal_max;
    size_t lit;                      /* literal bytes taken */
    int lit_pending;                 /* stopped inside a literal's body */
    size_t too_large;                /* a literal over literal_max (its size) */
    struct msieve_cmd *cmd;
    const char *err;
};

static void add_arg(struct scan *sc, enum msieve_arg_type t, const char *s, size_t n,
                    int unescape)
{
    struct msieve_arg *a = &sc->cmd->args[sc->cmd->nargs++];
    a->type = t;
    a->s = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (unescape && s[i] == '\\' && i + 1 < n)
            i++;
        a->s[o++] = s[i];
    }
    a->s[o] = '\0';
    a->len = o;
}

/* A quoted string at pos (after '"'): 1 taken, 0 need more, -1 bad. */
static int scan_quoted(struct scan *sc)
{
    size_t start = sc->pos;
    for (size_t i = start; i < sc->len; i++) {
        char c = sc->d[i];
        if (c == '\\') {
            if (i + 1 >= sc->len)
                return 0;
            if (sc->d[i + 1] != '\\' && sc->d[i + 1] != '"') {
                sc->err = "Invalid escape in a quoted string.";
                return -1;
            }
            i++;
            continue;
        }
        if (c == '\r' || c == '\n' || c == '\0') {
            sc->err = "Invalid character in a quoted string.";
            return -1;
        }
        if (c == '"') {
            add_arg(sc, MSIEVE_STRING, sc->d + start, i - start, 1);
            sc->pos = i + 1;
            return 1;
        }
    }
    return 0;
}

/* A literal at pos (after '{'): 1 taken, 0 need more, -1 bad, -2 fatal. */
static int scan_literal(struct scan *sc)
{
    uint64_t n = 0;
    size_t i = sc->pos, digits = 0;
    while (i < sc->len && sc->d[i] >= '0' && sc->d[i] <= '9') {
        n = n * 10 + (uint64_t)(sc->d[i++] - '0');
        if (++digits > 10) {
            sc->err = "Literal too large.";
            return -2;
        }
    }
    if (i < sc->len && sc->d[i] == '+')
        i++;
    if (i + 1 >= sc->len)
        return i - sc->pos > 12 ? -1 : 0;
    if (digits == 0 || sc->d[i] != '}') {
        sc->err = "Invalid literal.";
        return -1;
    }
    i++;
    if (sc->d[i] == '\r')
        i++;
    if (i >= sc->len)
        return 0;
    if (sc->d[i] != '\n') {
        sc->err = "Invalid literal.";
        return -1;
    }
    i++;
    if (n > sc->literal_max) {
        sc->err = "Literal too large.";
        if (n > MSIEVE_DISCARD_MAX)
            return -2;
        sc->too_large = (size_t)n;
        sc->pos = i;
        return -3;
    }
    if (sc->len - i < n) {
        sc->lit_pending = 1;
        return 0;
    }
    add_arg(sc, MSIEVE_STRING, sc->d + i, (size_t)n, 0);
    sc->pos = i + (size_t)n;
    sc->lit += (size_t)n;
    return 1;
}

static int scan_atom(struct scan *sc)
{
    size_t start = sc->pos;
    while (sc->pos < sc->len && atom_char(sc->d[sc->pos]))
        sc->pos++;
    if (sc->pos == sc->len)
        return 0;
    if (sc->pos == start) {
        sc->err = "Invalid argument.";
        return -1;
    }
    add_arg(sc, MSIEVE_ATOM, sc->d + start, sc->pos - start, 0);
    return 1;
}

static int scan_name(struct scan *sc)
{
    size_t n = 0;
    while (sc->pos < sc->len) {
        char c = sc->d[sc->pos];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            break;
        if (n >= MSIEVE_NAME_MAX) {
            sc->err = "Unknown command.";
            return -1;
        }
        sc->cmd->name[n++] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
        sc->pos++;
    }
    sc->cmd->name[n] = '\0';
    if (sc->pos == sc->len)
        return 0;
    if (n == 0) {
        sc->err = "Unknown command.";
        return -1;
    }
    return 1;
}

/* End of line at pos: 1 (pos after LF), 0 need more, -1 not an end. */
static int scan_eol(struct scan *sc)
{
    size_t i = sc->pos;
    if (i < sc->len && sc->d[i] == '\r')
        i++;
    if (i >= sc->len)
        return 0;
    if (sc->d[i] != '\n')
        return -1;
    sc->pos = i + 1;
    return 1;
}

static int scan_args(struct scan *sc)
{
    for (;;) {
        int r = scan_eol(sc);
        if (r != -1)
            return r;
        if (sc->d[sc->pos] != ' ' || sc->cmd->nargs >= MSIEVE_ARGS_MAX) {
            sc->err = sc->cmd->nargs >= MSIEVE_ARGS_MAX ? "Too many arguments." :
                      "Invalid arguments.";
            return -1;
        }
        sc->pos++;
        if (sc->pos >= sc->len)
            return 0;
        char c = sc->d[sc->pos];
        if (c == '"') {
            sc->pos++;
            r = scan_quoted(sc);
        } else if (c == '{') {
            sc->pos++;
            r = scan_literal(sc);
        } else {
            r = scan_atom(sc);
        }
        if (r != 1)
            return r;
    }
}

/* The end of the line holding pos, for skipping a bad command: 0 when none yet. */
static size_t line_end(const char *d, size_t len, size_t pos)
{
    const char *nl = pos < len ? memchr(d + pos, '\n', len - pos) : NULL;
    return nl ? (size_t)(nl - d) + 1 : 0;
}

enum msieve_parse_result managesieved_parse(const char *data, size_t len, size_t literal_max,
                                            struct msieve_cmd *cmd, size_t *used,
                                            const char **err)
{
    memset(cmd, 0, sizeof(*cmd));
    *used = 0;
    struct scan sc = {.d = data, .len = len, .literal_max = literal_max, .cmd = cmd};
    int r = scan_name(&sc);
    if (r == 1)
        r = scan_args(&sc);
    if (r == 1) {
        *used = sc.pos;
        return MSIEVE_DONE;
    }
    managesieved_cmd_free(cmd);
    if (r == 0) {
        if (!sc.lit_pending && len - sc.lit > MSIEVE_LINE_MAX) {
            *err = "Command line too long.";
            return MSIEVE_FATAL;
        }
        return MSIEVE_NEED;
    }
    *err = sc.err ? sc.err : "Invalid command.";
    if (r == -2)
        return MSIEVE_FATAL;
    if (r == -3) {
        cmd->too_large = sc.too_large;
        *used = sc.pos;
        return MSIEVE_ERROR;
    }
    size_t end = line_end(data, len, sc.pos);
    if (end == 0) {
        if (len > MSIEVE_LINE_MAX)
            return MSIEVE_FATAL;
        return MSIEVE_NEED;          /* answer once the whole bad line is here */
    }
    *used = end;
    return MSIEVE_ERROR;
}

void managesieved_cmd_free(struct msieve_cmd *cmd)
{
    for (int i = 0; i < cmd->nargs; i++)
        free(cmd->args[i].s);
    cmd->nargs = 0;
}

/* Length of the UTF-8 character at s (1-4), or 0 if invalid; *cp its code point. */
static size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t k = (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (k == 0 || k > n)
        return 0;
    uint32_t v = s[0] & (0x7f >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[k] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    *cp = v;
    return k;
}

int managesieved_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > MSIEVE_SCRIPT_NAME_MAX || name[0] == '.')
        return 0;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len; ) {
        uint32_t cp;
        size_t k = utf8_char(s + i, len - i, &cp);
        if (k == 0 || cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 ||
            cp == 0x2029 || cp == '/')
            return 0;
        i += k;
    }
    return 1;
}

void managesieved_put_string(struct buf *out, const char *s, size_t len)
{
    int quoted = len <= QUOTED_MAX && !memchr(s, '\r', len) && !memchr(s, '\n', len) &&
                 !memchr(s, '\0', len);
    if (!quoted) {
        buf_printf(out, "{%zu}\r\n", len);
        buf_append(out, s, len);
        return;
    }
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}
