/*
 * imap_arg.h - a parsed IMAP command argument (RFC 9051 section 4).
 *
 * Owns: the tree the command parser (imap_parser.h) builds from the
 * arguments of one command line, and the checked accessors everything
 * above the parser reads it with (sequence sets, FETCH items, SEARCH
 * keys, STORE flags, APPEND, STATUS items ...).
 *
 * An argument list is an array ended by an IMAP_ARG_EOL entry; a
 * parenthesised list is an IMAP_ARG_LIST whose `list` is such an array.
 * Strings are NUL-terminated copies owned by the parser (valid until the
 * parser is reset for the next command); `len` is their length in bytes.
 * A literal may contain NUL bytes (literal8, APPEND data): use `len`.
 *
 * Type names follow the RFC's grammar: an atom is unquoted; a string is
 * quoted or literal; an astring is an atom or a string; an nstring is a
 * string or NIL. NIL is parsed as an atom and told apart by the
 * accessors (a mailbox named "NIL" must be quoted to be a string).
 */
#ifndef YUBIN_IMAP_ARG_H
#define YUBIN_IMAP_ARG_H

#include <stddef.h>
#include <strings.h>

enum imap_arg_type {
    IMAP_ARG_EOL = 0,          /* end of an argument array */
    IMAP_ARG_ATOM,             /* unquoted: atom, NIL, number, sequence set, flag */
    IMAP_ARG_QUOTED,           /* "quoted string" (unescaped) */
    IMAP_ARG_LITERAL,          /* {n} or {n+} or ~{n} literal */
    IMAP_ARG_LIST,             /* ( ... ) */
};

struct imap_arg {
    enum imap_arg_type type;
    unsigned literal8 : 1;     /* ~{n}: may contain NUL (RFC 3516) */
    unsigned bracketed : 1;    /* ATOM only: contains [...] (BODY[...], BINARY[...]) */
    unsigned streamed : 1;     /* LITERAL only: its data went to the caller (str "", len its size) */
    const char *str;           /* ATOM/QUOTED/LITERAL: NUL-terminated */
    size_t len;
    struct imap_arg *list;     /* LIST: its elements, ended by IMAP_ARG_EOL */
    size_t count;              /* LIST: number of elements before the EOL */
};

static inline int imap_arg_is_eol(const struct imap_arg *a)
{
    return a->type == IMAP_ARG_EOL;
}

static inline int imap_arg_is_nil(const struct imap_arg *a)
{
    return a->type == IMAP_ARG_ATOM && a->len == 3 && strcasecmp(a->str, "NIL") == 0;
}

/* An atom (not NIL-checked: callers compare keywords themselves). */
static inline int imap_arg_atom(const struct imap_arg *a, const char **s)
{
    if (a->type != IMAP_ARG_ATOM)
        return 0;
    *s = a->str;
    return 1;
}

/* A quoted string or a literal. */
static inline int imap_arg_string(const struct imap_arg *a, const char **s, size_t *len)
{
    if (a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
        return 0;
    *s = a->str;
    if (len)
        *len = a->len;
    return 1;
}

/* An atom or a string (mailbox names, user names, header names ...). */
static inline int imap_arg_astring(const struct imap_arg *a, const char **s, size_t *len)
{
    if (a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED && a->type != IMAP_ARG_LITERAL)
        return 0;
    *s = a->str;
    if (len)
        *len = a->len;
    return 1;
}

/* A string or NIL (*s = NULL). */
static inline int imap_arg_nstring(const struct imap_arg *a, const char **s, size_t *len)
{
    if (imap_arg_is_nil(a)) {
        *s = NULL;
        if (len)
            *len = 0;
        return 1;
    }
    return imap_arg_string(a, s, len);
}

/* A parenthesised list: its elements (ended by IMAP_ARG_EOL). */
static inline int imap_arg_list(const struct imap_arg *a, const struct imap_arg **elems)
{
    if (a->type != IMAP_ARG_LIST)
        return 0;
    *elems = a->list;
    return 1;
}

#endif
