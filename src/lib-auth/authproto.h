/*
 * authproto.h - the Dovecot authentication protocol's line format, shared
 * by yubin's auth service (src/auth) and its client library
 * (sasl_client.h), which also talks to a real Dovecot.
 *
 * Owns: splitting a protocol line into TAB-separated fields, Dovecot's
 * "tab-escaping" of field values (\001 followed by 1 t r n 0 stands for
 * \001 TAB CR LF NUL; \001 followed by any other character stands for that
 * character), optional "name=value" parameters, and reading LF-terminated
 * lines from a bounded input buffer.
 *
 * Protocol summary (client = smtpd, server = auth):
 *   C: VERSION 1 2 / CPID pid
 *   S: VERSION 1 2 / MECH name [props] ... / SPID pid / CUID n / COOKIE hex / DONE
 *   C: AUTH id mech service=smtp [lip= rip= secured nologin ...] [resp=base64]
 *   S: CONT id base64 | OK id user=name ... | FAIL id [user=] [reason=] [temp] ...
 *   C: CONT id base64
 * and on the userdb ("auth-master") socket:
 *   S: VERSION 1 1 / SPID pid      M: VERSION 1 1
 *   M: USER id name service=x      S: USER id name uid= gid= home= ... | NOTFOUND id | FAIL id
 */
#ifndef YUBIN_AUTHPROTO_H
#define YUBIN_AUTHPROTO_H

#include "lib/buf.h"

#include <stddef.h>

#define AUTHPROTO_MAJOR       1
#define AUTHPROTO_MINOR       2
#define AUTHPROTO_MASTER_MINOR 1
/* Longest line either side accepts, LF included (Dovecot 2.3's limit). */
#define AUTHPROTO_LINE_MAX    16384
/* Most fields in one line. */
#define AUTHPROTO_FIELDS_MAX  64

/* Append src (len bytes, may contain NUL) tab-escaped. 0, or -1 at out's limit. */
int authproto_escape(struct buf *out, const char *src, size_t len);
/* Unescape a NUL-terminated field in place; returns its length (it may now contain NULs). */
size_t authproto_unescape(char *s);

/*
 * Split line (no LF) in place at TABs into fields[0..] and unescape each.
 * Returns the count, -1 when there are more than max fields, -2 when a
 * field holds an escaped NUL (no name or value yubin handles may).
 */
int authproto_split(char *line, char **fields, int max);

/*
 * Among fields[start..n): the value of "name=value", "" for a bare
 * boolean "name", or NULL when absent. The first occurrence counts.
 * "resp=" ends the parameters (anything after it is ignored, as the
 * protocol requires).
 */
const char *authproto_param(char *const *fields, int n, int start, const char *name);

/*
 * The next complete line in `in` (LF-terminated). Returns its length
 * without the LF (>= 0) and points *line at it, NUL-terminated in place;
 * -1 when no complete line is buffered yet; -2 when the buffered data has
 * no LF within AUTHPROTO_LINE_MAX bytes or the line contains a NUL byte.
 * The caller consumes len + 1 bytes (buf_consume) when done with it.
 */
long authproto_getline(struct buf *in, char **line);

#endif
