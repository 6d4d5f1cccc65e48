/*
 * header.h - RFC 5322 header sections: the one header parser.
 *
 * Owns: splitting a header section into fields (folded lines, LF or CRLF
 * line ends), with limits on the number of fields and on the size of one
 * field; the unfolded value of a field; RFC 2047 encoded words decoded to
 * UTF-8; charset conversion to UTF-8 (iconv) for the MIME parser too.
 * Every walker of a header block (cleanup, sendmail -t, DSNs, delivery,
 * the MIME parser, and later IMAP, Sieve, milters, DKIM) goes through
 * hdr_next().
 *
 * A field is "Name:" (printable ASCII except ':', RFC 5322 2.2) at the
 * start of a line, followed by continuation lines that start with a space
 * or a tab. The section ends at an empty line, at a line that is neither
 * a field nor a continuation (the body starts there, as Postfix's cleanup
 * treats it), or at the end of the input.
 */
#ifndef YUBIN_HEADER_H
#define YUBIN_HEADER_H

#include <stddef.h>

struct buf;

#define HDR_NAME_MAX 998             /* longest field name (RFC 5322 2.1.1 line limit) */

/* One field, pointing into the input. */
struct hdr_field {
    const char *start;               /* the field as in the message, name first */
    size_t len;                      /* up to and including its last line end */
    size_t name_len;                 /* start[0..name_len) is the name */
    const char *value;               /* just after the ':' */
    size_t value_len;                /* up to (not including) the last line end */
};

enum hdr_status {
    HDR_IN_SECTION,                  /* more fields may follow */
    HDR_END_BLANK,                   /* an empty line ended the section (consumed) */
    HDR_END_BODY,                    /* a non-field line: the body starts there */
    HDR_END_INPUT,                   /* the input ended inside the section */
    HDR_TOO_MANY,                    /* more than max_fields fields */
    HDR_TOO_LONG,                    /* one field longer than max_field */
};

struct hdr_reader {
    const char *base, *p, *end;
    size_t nfields;
    size_t max_fields;               /* 0: no limit */
    size_t max_field;                /* 0: no limit */
    enum hdr_status status;
};

/* Read the header section that starts at buf[0]. Limits: 0 for none. */
void hdr_reader_init(struct hdr_reader *r, const char *buf, size_t len, size_t max_fields,
                     size_t max_field);
/*
 * The next field: 1 with f filled, 0 at the end of the section (r->status
 * says why; a limit stops at the field that broke it).
 */
int hdr_next(struct hdr_reader *r, struct hdr_field *f);
/* Bytes of the input taken by the section (with the empty line that ended it). */
size_t hdr_section_length(const struct hdr_reader *r);
/* Is buf[0..n) the start of a field? The name's length, else 0. */
size_t hdr_field_name_len(const char *buf, size_t n);
/* Case-insensitive name comparison. */
int hdr_name_is(const struct hdr_field *f, const char *name);
/*
 * Append the unfolded value (line ends before white space removed, other
 * line ends dropped, leading and trailing white space trimmed) to out.
 * 0, or -1 when out is full.
 */
int hdr_unfold(const struct hdr_field *f, struct buf *out);
/*
 * RFC 2047: append text with every encoded word ("=?charset?B|Q?...?=")
 * decoded to UTF-8 (white space between adjacent encoded words dropped);
 * a malformed word or an unknown charset stays as it is. 0, or -1 when
 * out is full.
 */
int hdr_decode_words(const char *text, size_t len, struct buf *out);
/*
 * Convert in[0..len) from charset to UTF-8 and append it to out; bytes
 * that do not convert become U+FFFD. Returns 0, or -1 for an unknown
 * charset (nothing appended) or a full out. "us-ascii"/"utf-8" are copied
 * (invalid UTF-8 replaced).
 */
int charset_to_utf8(const char *charset, const char *in, size_t len, struct buf *out);

#endif
