/*
 * imap_quote.h - writing IMAP strings into server replies (RFC 9051
 * section 4.3 and the formal syntax of string, nstring, astring).
 *
 * Owns: choosing between an atom, a quoted string and a literal for a
 * value the server sends, and writing it into a lib/buf.h buffer:
 *  - an atom only where the grammar allows an astring and the value is
 *    made of ASTRING-CHARs (and is not "NIL", which a reader could take
 *    for nil);
 *  - a quoted string when the value is at most IMAP_QUOTED_MAX bytes, has
 *    no CR, LF or NUL, and no 8-bit byte unless the session allows UTF-8
 *    in quoted strings (IMAP4rev2 or UTF8=ACCEPT: flag IMAP_QUOTE_UTF8,
 *    and then only well-formed UTF-8); `"` and `\` are escaped;
 *  - a literal {n}CRLF otherwise (8-bit data, line breaks, long values).
 *    A literal cannot carry NUL (CHAR8); binary content goes through
 *    imap_write_literal8 (RFC 3516 BINARY responses).
 * NULL is written as NIL where an nstring is allowed.
 *
 * Every function returns 0, or -1 when the buffer's limit is reached.
 */
#ifndef YUBIN_IMAP_QUOTE_H
#define YUBIN_IMAP_QUOTE_H

#include "lib/buf.h"

#include <stddef.h>

#define IMAP_QUOTED_MAX 1024        /* longer values are sent as literals */

enum {
    IMAP_QUOTE_UTF8 = 1,            /* 8-bit UTF-8 may go in quoted strings */
};

/* s[0..len) may be sent as an atom in an astring position. */
int imap_is_astring_atom(const char *s, size_t len);
/* s[0..len) may be sent as a quoted string with these flags. */
int imap_is_quotable(const char *s, size_t len, int flags);

int imap_write_quoted(struct buf *b, const char *s, size_t len);   /* caller checked quotable */
int imap_write_literal(struct buf *b, const char *s, size_t len);  /* {n}CRLF data */
int imap_write_literal8(struct buf *b, const char *s, size_t len); /* ~{n}CRLF data */

/* string: quoted when possible, else a literal. */
int imap_write_string(struct buf *b, const char *s, size_t len, int flags);
/* nstring: NIL for s == NULL, else a string. */
int imap_write_nstring(struct buf *b, const char *s, size_t len, int flags);
/* astring: an atom when safe, else a string. */
int imap_write_astring(struct buf *b, const char *s, size_t len, int flags);

/* NUL-terminated conveniences. */
int imap_write_nstring_z(struct buf *b, const char *s, int flags);
int imap_write_astring_z(struct buf *b, const char *s, int flags);

#endif
