/*
 * dsn.h - delivery status notifications (RFC 3464, RFC 3462/6522
 * multipart/report, RFC 6533 for SMTPUTF8 mail).
 *
 * Owns: building the complete notification message that qmgr queues
 * with the null sender: a bounce (recipients failed), a delay warning
 * (recipients still being retried) or a success notice (NOTIFY=SUCCESS).
 * The caller decides who gets one and when; this module only writes it.
 *
 * Output (LF line endings) is a multipart/report with three parts:
 *   1. text/plain, a human-readable explanation and one line per recipient;
 *   2. message/delivery-status (message/global-delivery-status for
 *      SMTPUTF8 mail): Reporting-MTA, X-Yubin-Queue-ID, X-Yubin-Sender,
 *      Original-Envelope-Id, Arrival-Date, then per recipient
 *      Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 *      Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until;
 *   3. the original: message/rfc822 (message/global) when RET=FULL or RET
 *      is unset and the message fits in bounce_size_limit; otherwise, and
 *      always for delay warnings and success notices, its header section
 *      as text/rfc822-headers (message/global-headers), cut at a line
 *      boundary to bounce_size_limit. Omitted when nothing fits.
 */
#ifndef YUBIN_DSN_H
#define YUBIN_DSN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lib/buf.h"

enum dsn_kind {
    DSN_KIND_BOUNCE,        /* "Undelivered Mail Returned to Sender" */
    DSN_KIND_DELAY,         /* "Delayed Mail (still being retried)" */
    DSN_KIND_SUCCESS        /* "Successful Mail Delivery Report" */
};

enum dsn_action {
    DSN_ACTION_FAILED,
    DSN_ACTION_DELAYED,
    DSN_ACTION_DELIVERED,
    DSN_ACTION_RELAYED,
    DSN_ACTION_EXPANDED
};

/* RET values, as qenvelope.ret_full. */
#define DSN_RET_UNSET (-1)
#define DSN_RET_HDRS  0
#define DSN_RET_FULL  1

/* Configuration (qmgr fills it from main.cf). */
struct dsn_config {
    const char *myhostname;     /* Reporting-MTA, From: MAILER-DAEMON@..., Message-ID */
    const char *mail_name;      /* "yubin" (mail_name) for the text part */
    size_t bounce_size_limit;   /* bytes of original text returned (50000) */
};

/* The original message's envelope. */
struct dsn_envelope {
    const char *qid;            /* original queue ID (X-Yubin-Queue-ID) */
    const char *sender;         /* original envelope sender = the notice's recipient; not "" */
    const char *envid;          /* DSN ENVID (decoded) or NULL */
    int ret;                    /* DSN_RET_* */
    uint64_t arrival_usec;      /* Arrival-Date; 0 = omit */
    int smtputf8;               /* use the RFC 6533 global types */
};

struct dsn_rcpt {
    const char *final_rcpt;     /* address the status is about */
    const char *orig_rcpt;      /* ORCPT "rfc822;addr" (type;address) or a bare address; NULL = none */
    enum dsn_action action;
    const char *status;         /* "5.1.1" */
    const char *diag;           /* "smtp; 550 5.1.1 <x>: ..." or plain text (sent as "X-Yubin; text") or NULL */
    const char *remote_mta;     /* remote host name or NULL */
    uint64_t last_attempt_usec; /* 0 = omit */
    uint64_t will_retry_until_usec; /* delayed only; 0 = omit */
};

/*
 * The original content (headers + body, LF line endings): data when
 * non-NULL, else fd when >= 0, else path opened read-only; bytes
 * [offset, offset+length).
 */
struct dsn_content {
    const char *data;
    int fd;
    const char *path;
    off_t offset;
    size_t length;
};

/* Subject line for a kind. */
const char *dsn_subject(enum dsn_kind kind);
/* RFC 3464 action keyword ("failed" ...). */
const char *dsn_action_name(enum dsn_action a);

/*
 * Append the complete notification to out (LF line endings; out should
 * have no limit or a generous one). Returns 0, or -1 with err set (the
 * original could not be read, bad arguments): the caller retries later.
 */
int dsn_build(const struct dsn_config *cfg, enum dsn_kind kind, const struct dsn_envelope *env,
              const struct dsn_rcpt *rcpts, size_t nrcpts, const struct dsn_content *content,
              struct buf *out, char *err, size_t errlen);

/* RFC 5322 date for t (seconds since the epoch), local time. */
void dsn_format_date(time_t t, char *out, size_t outlen);

#endif
