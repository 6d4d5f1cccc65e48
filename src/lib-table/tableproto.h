/*
 * tableproto.h - the wire formats of tables that answer from elsewhere.
 * Pure encoders and parsers, no I/O: the socket code lives in
 * table_socketmap.c (socketmap client), table_async.c (the event-loop
 * client of the proxymap service) and src/proxymap/ (the service).
 *
 * Owns:
 *  - netstrings ("<len>:<bytes>,") and the socketmap reply format
 *    (socketmap_table(5)): "OK <data>", "NOTFOUND ", "TEMP <reason>",
 *    "TIMEOUT <reason>", "PERM <reason>";
 *  - the proxymap protocol. One request per connection, one line each
 *    way, fields separated by TAB, each field %XX-escaped (see below):
 *      request:  "lookup" TAB <mode> TAB <table spec> TAB <key> LF
 *                mode "fold": the table folds the key as it would
 *                in-process (table_lookup); "exact": it does not
 *                (table_lookup_exact)
 *      reply:    <status> TAB <value or reason> LF
 *                status "found", "notfound", "tempfail", or "denied"
 *                (the spec is not in proxy_read_maps)
 *    Escaping: '%', TAB, CR, LF, every other control character and DEL
 *    are written as %XX (two upper-case hex digits); everything else as
 *    is. A parser refuses a bad escape, a %00 (no key or value may hold
 *    NUL), a wrong field count or an over-long line.
 */
#ifndef YUBIN_TABLEPROTO_H
#define YUBIN_TABLEPROTO_H

#include "lib/buf.h"

#include <stddef.h>

/* socketmap_table(5): replies are at most 100000 bytes inside the netstring. */
#define SOCKMAP_REPLY_MAX 100000
/* Longest proxymap table spec and reply value (longer values: tempfail). */
#define TPROTO_SPEC_MAX   2048
#define TPROTO_VALUE_MAX  SOCKMAP_REPLY_MAX
/* Longest lines (LF included), every byte escaped at worst. */
#define TPROTO_REQUEST_MAX (3 * (TPROTO_SPEC_MAX + 4096) + 32)
#define TPROTO_REPLY_MAX   (3 * TPROTO_VALUE_MAX + 32)

/* Append "<len>:<data>,". 0, or -1 at out's limit. */
int netstring_encode(struct buf *out, const char *data, size_t len);
/*
 * Look for one netstring at the front of in[0..len). 1: complete, the
 * payload is in[*off .. *off + *plen) and the whole object took *used
 * bytes; 0: incomplete so far (read more); -1: malformed, or the payload
 * would exceed max (why says which).
 */
int netstring_decode(const char *in, size_t len, size_t max, size_t *off, size_t *plen,
                     size_t *used, const char **why);

/*
 * A socketmap reply payload (not NUL-terminated). Returns TABLE_FOUND
 * (value holds the data), TABLE_NOTFOUND, or TABLE_TEMPFAIL with a
 * reason in why ("TEMP", "TIMEOUT" and "PERM" replies, and anything
 * malformed: a lookup that cannot be answered is never "not found").
 */
int sockmap_parse_reply(const char *p, size_t len, struct buf *value, char *why, size_t whylen);

/* Field escaping (see above). 0, or -1 at out's limit. */
int tproto_escape(struct buf *out, const char *s, size_t len);

enum tproto_status { TP_FOUND, TP_NOTFOUND, TP_TEMPFAIL, TP_DENIED };

struct tproto_request {
    int exact;          /* "exact" mode */
    char *spec;         /* point into the parsed line */
    char *key;
};

/* Append a request line. 0, or -1 (too long for the protocol). */
int tproto_request_encode(struct buf *out, int exact, const char *spec, const char *key);
/* Parse a request line (without its LF) in place. 0, or -1 with *why. */
int tproto_request_parse(char *line, size_t len, struct tproto_request *req, const char **why);

/* Append a reply line; a value longer than TPROTO_VALUE_MAX is sent as a
 * tempfail. 0, or -1 at out's limit. */
int tproto_reply_encode(struct buf *out, enum tproto_status st, const char *value);
/* Parse a reply line (without its LF) in place; *value points into line.
 * 0, or -1 with *why. */
int tproto_reply_parse(char *line, size_t len, enum tproto_status *st, char **value,
                       const char **why);

#endif
