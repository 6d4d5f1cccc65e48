/*
 * msgtext.h - what SEARCH, SORT and APPEND need from a message's text and
 * from dates written in it (the mail worker's; pure logic plus reading a
 * message file through a descriptor).
 *
 * Owns: RFC 5322 dates (Date: fields, for SENTBEFORE/SENTON/SENTSINCE and
 * SORT DATE) and IMAP date-times (APPEND's INTERNALDATE); reading a
 * message's header section with a bound; a header field's value decoded
 * (unfolded, RFC 2047 words to UTF-8); case-insensitive substring
 * matching of header fields and of the decoded text of the body (MIME
 * parts decoded from base64/quoted-printable and converted to UTF-8,
 * streamed: memory does not grow with the message).
 *
 * Case-insensitivity is ASCII case folding (i;ascii-casemap); bytes of
 * other UTF-8 characters compare exactly.
 */
#ifndef YUBIN_IMAPD_MSGTEXT_H
#define YUBIN_IMAPD_MSGTEXT_H

#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

#define IMAPD_MT_HEADER_MAX (256 * 1024)    /* a header section read for SEARCH/SORT */

/*
 * An RFC 5322 date-time ("Tue, 1 Jul 2003 10:52:37 +0200", day name
 * optional, seconds optional, obsolete zones, two-digit years, trailing
 * comments): 0 with *t (UTC seconds) and *day (days since 1970-01-01 of
 * the date as written, in its own zone), or -1.
 */
int imapd_mt_rfc5322_date(const char *s, size_t len, int64_t *t, int32_t *day);

/* An IMAP date-time ("17-Jul-1996 02:44:25 -0700", day may be " 7"): 0 with *t, or -1. */
int imapd_mt_imap_datetime(const char *s, size_t len, int64_t *t);

/* Case-insensitive (ASCII) substring search; an empty needle is found. */
int imapd_mt_ci_find(const char *hay, size_t hlen, const char *needle, size_t nlen);

/*
 * Read the header section of the message at fd (from offset 0) into out:
 * up to and including the empty line, or the first IMAPD_MT_HEADER_MAX
 * bytes. 0, or -1 on a read error.
 */
int imapd_mt_read_header(int fd, struct buf *out);

/*
 * The first field called name in the header section hdr[0..len), its
 * value unfolded and RFC 2047-decoded appended to out: 1, 0 when there
 * is no such field, -1 when out is full.
 */
int imapd_mt_header_value(const char *hdr, size_t len, const char *name, struct buf *out);

/* The same without decoding RFC 2047 words (for address lists): 1, 0 or -1. */
int imapd_mt_header_raw(const char *hdr, size_t len, const char *name, struct buf *out);

/*
 * SEARCH HEADER/FROM/SUBJECT...: does any field called name contain substr
 * (decoded)? An empty substr matches any message with the field. name
 * NULL: any field ("Name: value", for TEXT). 1 or 0.
 */
int imapd_mt_header_match(const char *hdr, size_t len, const char *name, const char *substr);

/*
 * SEARCH FROM/TO/CC/BCC: does an address of a field called name contain
 * substr? Each address is matched as `display-name <mailbox@domain>`
 * (comments dropped, RFC 2047 names decoded), a group by its name, as
 * Dovecot does. An empty substr matches any message with the field. 1 or 0.
 */
int imapd_mt_address_match(const char *hdr, size_t len, const char *name, const char *substr);

/*
 * SEARCH BODY: does the decoded text of a text part of the message at fd
 * contain substr? Reads the whole message in chunks. 1, 0, or -1 on a
 * read error.
 */
int imapd_mt_body_match(int fd, const char *substr);

#endif
