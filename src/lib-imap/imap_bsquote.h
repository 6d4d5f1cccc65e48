/*
 * imap_bsquote.h - writing IMAP strings for ENVELOPE and BODYSTRUCTURE.
 *
 * Owns: the choice between NIL, a quoted string and a literal (RFC 9051
 * 4.3) for the values ENVELOPE and BODYSTRUCTURE carry, with Dovecot's
 * choices so that the output matches it byte for byte: a quoted string
 * unless the value has CR, LF, an 8-bit byte or more than four quote
 * characters ('"', '\\'), then a literal; NUL bytes are written as 0x80
 * (a literal cannot carry NUL). "For humans" (subjects, display names)
 * additionally turns runs of white space and line ends into one space and
 * trims the ends; "nolf" drops line ends (a line end before a non-blank
 * becomes a space).
 *
 * A stop-gap kept in one place: when lib-imap's general string writer
 * (imap_quote.h) exists, these become thin calls into it.
 */
#ifndef YUBIN_IMAP_BSQUOTE_H
#define YUBIN_IMAP_BSQUOTE_H

#include <stddef.h>

struct buf;

/* "quoted" or {n}literal. s[0..len) may hold any byte. */
void imap_bsq_string(struct buf *out, const char *s, size_t len);
/* NIL when s is NULL, else imap_bsq_string(). */
void imap_bsq_nstring(struct buf *out, const char *s, size_t len);
/* NIL, or the value with CR and LF removed (a line end followed by a
 * non-blank becomes a space). */
void imap_bsq_nstring_nolf(struct buf *out, const char *s, size_t len);
/* White space collapsed and trimmed, NUL as 0x80; "" when only white space. */
void imap_bsq_string_human(struct buf *out, const char *s, size_t len);

#endif
