/*
 * dproto.h - the delivery request protocol between qmgr and the delivery
 * agents (local, virtual), over the agent's UNIX socket private/<service>.
 *
 * qmgr keeps connections open and sends one request at a time per
 * connection; an agent process serves one connection. Text, line based,
 * every line at most DPROTO_LINE_MAX bytes, fields separated by TAB,
 * fields xtext-free (addresses contain no TAB/CR/LF; such addresses are
 * rejected at SMTP time).
 *
 * Request:
 *   DELIVER\t<qid>\t<path>\t<offset>\t<length>\n
 *   R\t<idx>\t<recipient>\t<original recipient>\n      (one or more)
 *   .\n
 * Reply, one line per recipient, then a dot:
 *   S\t<idx>\t<class>\t<dsn>\t<text>\n
 *     class: "sent" (2.x.x), "deferred" (4.x.x), "bounced" (5.x.x)
 *     dsn:   enhanced status, e.g. 2.0.0, 4.2.2, 5.1.1
 *     text:  e.g. "delivered to maildir", "mailbox full"
 *   .\n
 * The agent reads the message itself from <path> at <offset>/<length>
 * (see queue_read()).
 */
#ifndef YUBIN_DPROTO_H
#define YUBIN_DPROTO_H

#include <stddef.h>
#include <sys/types.h>

#define DPROTO_LINE_MAX 4096

struct dreq_rcpt {
    int idx;                 /* index of the recipient in the queued envelope */
    char *addr;
    char *orig;
};

struct dreq {
    char qid[32];
    char path[512];
    off_t offset;
    size_t length;
    struct dreq_rcpt *rcpts;
    size_t nrcpts;
};

struct dstatus {
    int idx;
    char cls[16];            /* sent / deferred / bounced */
    char dsn[16];
    char text[512];
};

/* Encode into a malloc'd string (caller frees). */
char *dproto_encode_request(const struct dreq *r);
/* Parse one line into r (incremental). Returns 1 when the request is complete ('.'), 0 for more, -1 on error. */
int dproto_parse_request_line(struct dreq *r, const char *line);
void dproto_free_request(struct dreq *r);
int dproto_format_status(const struct dstatus *s, char *out, size_t outlen);
/* Parse "S\t..." line; returns 1 for a status, 0 for the terminating ".", -1 on error. */
int dproto_parse_status(const char *line, struct dstatus *s);

#endif
