/*
 * imapd.h - what the parts of the imapd role share: settings (lib-login's
 * common ones and IMAP's own), replies, the capability lists. The login
 * path itself (front end, launcher, hand-off) is lib-login's: login.c is
 * IMAP's callback table for its front end.
 */
#ifndef YUBIN_IMAPD_H
#define YUBIN_IMAPD_H

#include "lib/buf.h"
#include "lib-imap/imap_parser.h"
#include "lib-login/login.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct conn;

struct imapd_settings {
    struct login_settings l;        /* the login path's: limits, timeouts, mail location */
    char *capability;               /* imap_capability: post-login override or "+extra" */
    uint64_t idle_notify_ms;        /* imap_idle_notify_interval: IDLE's keepalive and sync */
    size_t line_max;                /* imap_max_line_length (also l.line_max) */
};

void imapd_settings_read(const struct config *cfg, const char *queue_dir,
                         struct imapd_settings *set);
void imapd_settings_free(struct imapd_settings *set);

/* Parser limits: before login (small literals) and after. */
void imapd_parser_limits(const struct imapd_settings *set, int logged_in,
                         struct imap_parser_limits *lim);

/* The post-login CAPABILITY list (imap_capability applied). */
void imapd_capability_post(const struct imapd_settings *set, struct buf *out);

/* Write "<tag or *> <text>\r\n" to the connection. */
void imapd_reply(struct conn *c, const char *tag, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The reply to a command the parser refused (BAD or NO, with its code). */
void imapd_reply_parse_error(struct conn *c, struct imap_parser *p);
/* ID: "* ID (...)" for the server. */
void imapd_reply_id(struct conn *c);

/* ---- the parts ---- */

/* The mail worker's loop, on its socket to the launcher; never returns. */
/* (a login_worker_fn: ctx is the struct imapd_settings) */
void imapd_mail_run(int sock, const struct login_settings *set, uid_t uid, void *ctx);

#endif
