/*
 * cleanup.h - message content processing before a message is queued.
 *
 * Owns what Postfix's cleanup(8) does to content in yubin: inspecting the
 * primary header block (hop count for hopcount_limit, header_size_limit,
 * Message-ID for the log), composing the Received: header, and the
 * headers added to mail from local clients when missing (Date:,
 * Message-ID:, From:). Content is LF-terminated, as stored in the queue.
 * Runs inside smtpd and pickup; no process hop per message.
 */
#ifndef YUBIN_CLEANUP_H
#define YUBIN_CLEANUP_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

struct header_info {
    int received_count;        /* Received: headers, for hopcount_limit */
    size_t header_bytes;       /* size of the primary header block */
    size_t longest_header;     /* longest logical header incl. continuations */
    int has_date, has_message_id, has_from, has_resent_from;
    char message_id[256];      /* value of Message-ID:, trimmed, may be "" */
};

/* Scan the primary header block of content[0..len). */
void cleanup_scan_headers(const char *content, size_t len, struct header_info *info);

/* RFC 5322 date-time: "Mon, 23 Nov 2026 12:34:56 +0000 (UTC)". */
void rfc5322_date(char *out, size_t outlen, time_t t);

struct received_info {
    const char *helo;          /* may be NULL or "" */
    const char *client_name;   /* verified name or "unknown" */
    const char *client_addr;   /* "127.0.0.1" or "2001:db8::1" */
    const char *myhostname;
    const char *mail_name;     /* "yubin" */
    const char *protocol;      /* ESMTP, ESMTPS, ESMTPSA, UTF8SMTP, LOCAL ... */
    const char *qid;
    const char *tls_info;      /* "(using TLSv1.3 with cipher ...)" or NULL */
    const char *for_rcpt;      /* only when there is exactly one recipient */
    time_t when;
};

/* Append a complete "Received: ..." header (LF line endings) to out. */
int cleanup_received(struct buf *out, const struct received_info *ri);

/*
 * Append the headers a local submission lacks: Date:, Message-ID:
 * "<YYYYMMDDhhmmss.QID@myhostname>", From: <sender> (when the sender is
 * not empty). Returns 0, -1 if out's limit was hit.
 */
int cleanup_missing_headers(struct buf *out, const struct header_info *hi, const char *qid,
                            const char *myhostname, const char *sender, time_t when);

#endif
