/*
 * imap_preview.h - the PREVIEW of a message (RFC 8970, "FUZZY").
 *
 * Owns: picking the part a preview is made of and turning its start into
 * at most IMAP_PREVIEW_CHARS characters of UTF-8, as Dovecot 2.3 does:
 * the first text part of the message (in a multipart/alternative the
 * text/plain one), never one inside an attached message; its transfer
 * encoding undone and its charset converted; HTML turned into text
 * crudely (tags are spaces, comments, <style>, <script> and
 * <blockquote> dropped, common entities decoded); white space collapsed;
 * quoted lines ("> ...") left out, unless there is nothing else, then
 * the preview is ">" and the quoted text.
 */
#ifndef YUBIN_IMAP_PREVIEW_H
#define YUBIN_IMAP_PREVIEW_H

#include <stddef.h>

struct buf;
struct imap_msg;

#define IMAP_PREVIEW_CHARS 200

/* Append the preview text (UTF-8, no IMAP quoting; "" when there is none).
 * msg[0..len) is the message m was parsed from. 0, or -1 when out is full. */
int imap_preview_text(const struct imap_msg *m, const char *msg, size_t len, struct buf *out);
/* Append it as an IMAP string (what follows "PREVIEW " in FETCH). */
int imap_preview_write(const struct imap_msg *m, const char *msg, size_t len, struct buf *out);

#endif
