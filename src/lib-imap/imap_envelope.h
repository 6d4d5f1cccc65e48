/*
 * imap_envelope.h - the IMAP ENVELOPE of a message (RFC 9051 7.5.2).
 *
 * Owns: turning a header section into the ENVELOPE list: date, subject,
 * from, sender, reply-to, to, cc, bcc, in-reply-to, message-id. Values are
 * raw (RFC 2047 words stay encoded, as the RFC says) and unfolded; sender
 * and reply-to default to from; addresses come from lib-mail's lenient
 * address-list parser (groups, routes, Dovecot's MISSING_MAILBOX /
 * MISSING_DOMAIN placeholders). The output matches Dovecot 2.3 byte for
 * byte: when a field appears more than once the last one counts (the
 * addresses of repeated address fields are joined), the subject and display names are cleaned "for humans" (white space
 * collapsed), the other strings only lose their line ends.
 *
 * The text is final IMAP syntax (strings quoted or literal), so the index
 * can cache it as opaque bytes and FETCH can send it as it is.
 */
#ifndef YUBIN_IMAP_ENVELOPE_H
#define YUBIN_IMAP_ENVELOPE_H

#include <stddef.h>

struct buf;

#define IMAP_ENVELOPE_ADDR_MAX 10000     /* addresses read from one field */

/*
 * Append "(date subject from ... message-id)" for the header section at
 * header[0..len) (the section ends at its empty line or at len; a body may
 * follow). Output is at most a small multiple of len; out should not be
 * limited below that. Returns 0, or -1 when out became full.
 */
int imap_envelope_write(const char *header, size_t len, struct buf *out);

#endif
