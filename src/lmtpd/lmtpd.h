/*
 * lmtpd.h - the LMTP server's own pieces (RFC 2033), inside src/lmtpd:
 * the DATA decoder (data.c), the session (session.c: the command table,
 * per-recipient replies after the message), and the process with its
 * privileges (lmtpd.c). Delivery itself is lda.h's.
 */
#ifndef YUBIN_LMTPD_H
#define YUBIN_LMTPD_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lmtpd/lda.h"

/*
 * The DATA decoder: dot-unstuffing, the end at "." alone on a line, CR LF
 * (or a bare LF) made LF. Bytes beyond max are counted, not kept.
 */
struct lmtpd_data {
    int mid_line;                     /* not at the start of a line */
    int too_big;
    size_t max;
    size_t total;                     /* decoded bytes, kept or not */
    struct buf *out;
};
void lmtpd_data_init(struct lmtpd_data *d, struct buf *out, size_t max);
/* Decode from p[0..n): bytes consumed; *done when the final "." line was consumed. */
size_t lmtpd_data_feed(struct lmtpd_data *d, const char *p, size_t n, int *done);
/* CR LF -> LF in place (BDAT content); returns the new length. */
size_t lmtpd_crlf_to_lf(char *p, size_t n);

/* The largest message a session holds (message_size_limit = 0 means this). */
#define LMTPD_MSG_MAX (1LL << 30)

/* The server: settings and the privileges of delivery. */
struct lmtpd_server {
    struct lmtpd_lda lda;
    long long size_limit;             /* message_size_limit (0: none) */
    long long timeout_ms;             /* lmtpd_timeout */
    int root;                         /* real uid 0: switches per delivery */
    uid_t idle_uid;                   /* mail_owner while not delivering (root mode) */
    gid_t idle_gid;
};

/* Serve one connection (blocking) until QUIT, EOF, timeout or stop. */
void lmtpd_session_run(struct lmtpd_server *srv, int fd);
/* Become the mailbox owner: 0, or -1 with why. */
int lmtpd_become(struct lmtpd_server *srv, const struct lmtpd_user *u, const char **why);
/* Back to the idle identity. */
void lmtpd_unbecome(struct lmtpd_server *srv);

#endif
