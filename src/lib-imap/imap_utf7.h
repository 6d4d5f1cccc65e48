/*
 * imap_utf7.h - modified UTF-7 mailbox names (RFC 3501 section 5.1.3)
 * and UTF-8 mailbox names (RFC 6855 UTF8=ACCEPT, RFC 9051 IMAP4rev2).
 *
 * Owns: converting mailbox names between modified UTF-7 and UTF-8 in
 * both directions, the strict validation of both forms, and a strict
 * UTF-8 decoder the other lib-imap writers share.
 *
 * Strictness: a modified UTF-7 name is accepted only in its one
 * canonical form, the form imap_utf8_to_utf7 writes. So every UTF-8 name
 * has exactly one mUTF-7 spelling and two different spellings can never
 * name the same folder. Rejected: raw bytes outside 0x20-0x7e, a bare
 * "&" without "-", base64 that encodes a printable ASCII character
 * ("&AGE-" for "a"), leftover bits that are non-zero or a whole useless
 * base64 character, unpaired or reversed UTF-16 surrogates, U+0000,
 * a missing "-" at the end, and two shifted runs side by side
 * ("&AOQ-&AOQ-", which is canonically "&AOQA5A-").
 */
#ifndef YUBIN_IMAP_UTF7_H
#define YUBIN_IMAP_UTF7_H

#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

/*
 * Decode one UTF-8 character of s[0..len): shortest form only, no
 * surrogates, at most U+10FFFF. Returns its length (1..4) with *cp set,
 * or -1.
 */
int imap_utf8_next(const char *s, size_t len, uint32_t *cp);
/* All of s[0..len) is strict UTF-8 (NUL allowed: callers check). */
int imap_utf8_valid(const char *s, size_t len);

/*
 * UTF-8 -> modified UTF-7, appended to out. Returns 0, or -1 for invalid
 * UTF-8, a NUL, or a full buffer.
 */
int imap_utf8_to_utf7(const char *in, size_t len, struct buf *out);
/*
 * Modified UTF-7 -> UTF-8, appended to out. Returns 0, or -1 when the
 * input is not canonical modified UTF-7 (see above) or the buffer is full.
 * On -1, out may hold a partial result: callers discard it.
 */
int imap_utf7_to_utf8(const char *in, size_t len, struct buf *out);
/* The input is canonical modified UTF-7. */
int imap_utf7_valid(const char *in, size_t len);

/*
 * A UTF-8 mailbox name as IMAP4rev2 / UTF8=ACCEPT clients send it: strict
 * UTF-8 and none of the characters RFC 9051 section 5.1 says names should
 * not contain: controls (U+0000-U+001F, U+007F-U+009F), U+2028, U+2029;
 * nor the non-characters U+FFFE/U+FFFF. (Hierarchy separators, "%"/"*"
 * and empty names are the caller's policy.)
 */
int imap_mailbox_utf8_valid(const char *s, size_t len);

#endif
