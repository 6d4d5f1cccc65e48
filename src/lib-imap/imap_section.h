/*
 * imap_section.h - FETCH BODY[section] and BINARY[section] addressing
 * (RFC 9051 6.4.5, RFC 3516).
 *
 * Owns: reading a section specification's part path and kind ("1.2",
 * "2.HEADER", "1.TEXT", "3.MIME", "" ...), finding the byte range it names
 * in a message whose tree imap_bodystructure.h built, and decoding a
 * part's content transfer encoding for BINARY. HEADER.FIELDS (.NOT) is
 * the FETCH code's business: it asks for the HEADER range here and picks
 * the fields from it.
 *
 * Part numbers follow RFC 9051: a message that is not multipart has one
 * part, 1, its body; the parts of a multipart are numbered in order; a
 * message/rfc822 part's sub-parts are those of the message inside it, and
 * its HEADER and TEXT are that message's. As in Dovecot, a part that is
 * neither is its own part 1 at the end of a path ("1.1" of a text part in
 * a multipart is that part, "1.1.1" is nothing). Ranges are raw bytes of the
 * stored message (the FETCH code sends them with bare LFs as CRLF).
 */
#ifndef YUBIN_IMAP_SECTION_H
#define YUBIN_IMAP_SECTION_H

#include "lib-mail/mime.h"

#include <stddef.h>

struct buf;
struct imap_msg;
struct imap_part;

#define IMAP_SECTION_DEPTH_MAX 32

enum imap_section_kind {
    IMAP_SECTION_BODY,               /* BODY[] or BODY[1.2]: the whole part */
    IMAP_SECTION_HEADER,             /* HEADER (also what HEADER.FIELDS reads) */
    IMAP_SECTION_TEXT,
    IMAP_SECTION_MIME,
};

struct imap_section_spec {
    unsigned path[IMAP_SECTION_DEPTH_MAX];
    size_t depth;
    enum imap_section_kind kind;
    int header_fields;               /* HEADER.FIELDS or HEADER.FIELDS.NOT follows */
};

struct imap_section {
    size_t offset, len;              /* the range in the stored message */
    const struct imap_part *part;    /* the part the path named (root for none) */
};

/*
 * Parse the text between the brackets ("1.2.MIME", "HEADER.FIELDS", "")
 * up to len bytes; the field list of HEADER.FIELDS is not read (*used
 * says where it starts). 0, or -1 for a malformed specification.
 */
int imap_section_parse(const char *s, size_t len, struct imap_section_spec *spec, size_t *used);

/* 0 with out filled, -1 when the message has no such part (or a HEADER/TEXT
 * of a part that is not a message/rfc822). */
int imap_section_find(const struct imap_msg *m, const struct imap_section_spec *spec,
                      struct imap_section *out);

#define IMAP_BINARY_UNKNOWN_CTE (-2)  /* answer NO [UNKNOWN-CTE] */

/*
 * BINARY[section]: append what to send for the part s names: its content
 * with its transfer encoding (base64, quoted-printable) undone; parts that
 * are not leaves, and 7bit/8bit/binary, as they are with bare LFs sent as
 * CRLF (as BODY[] sends them). msg is the whole stored message. 0,
 * IMAP_BINARY_UNKNOWN_CTE, or -1 when out is full.
 */
int imap_binary_decode(const struct imap_section *s, const char *msg, struct buf *out);

#endif
