/*
 * imapd.h - what the parts of the imapd role share: settings, replies,
 * the capability lists, and the hand-off messages between the front end,
 * the launcher and the mail workers (handoff.c).
 *
 * The hand-off channels are SOCK_SEQPACKET socket pairs: one message per
 * datagram, a tab-separated text head (fields escaped as in the Dovecot
 * auth protocol) ending in LF, then opaque bytes (what the client
 * pipelined after its login command), and at most one descriptor
 * (SCM_RIGHTS: the client's socket, or the worker end of a TLS relay).
 *   front end -> launcher  LOGIN sid auth-id cpid cookie rip lip tls tag method
 *   launcher -> front end  OK sid user mail-pid | FAIL sid reason
 *   launcher -> worker     SESSION user home mail rip lip tls tag
 *   worker -> launcher     END (a session ended)
 */
#ifndef YUBIN_IMAPD_H
#define YUBIN_IMAPD_H

#include "lib/buf.h"
#include "lib-imap/imap_parser.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;
struct conn;

#define IMAPD_FIELDS_MAX     16
#define IMAPD_MSG_MAX        (64 * 1024)    /* one hand-off message */
#define IMAPD_PIPELINED_MAX  (32 * 1024)    /* bytes pipelined after a login */

struct imapd_settings {
    char *queue_dir;
    char *sasl_path;                /* the auth service's client socket (master.cf's "auth") */
    char *userdb_path;              /* its auth-master (userdb) socket */
    int disable_plaintext;          /* disable_plaintext_auth */
    int wrappermode;                /* imapd_tls_wrappermode */
    long long first_valid_uid;
    char *mail_uid, *mail_gid;      /* fallbacks when the userdb has none */
    char *mail_location;
    /* where mail is when neither the userdb nor mail_location says (mailloc.c) */
    const struct config *cfg;       /* for virtual_mailbox_maps, opened by the launcher */
    char *home_mailbox, *virtual_base, *rcpt_delim;
    char *capability;               /* imap_capability: post-login override or "+extra" */
    long long client_limit;         /* sessions per mail worker */
    long long login_client_limit;   /* connections per front-end process */
    long long max_userip;           /* mail_max_userip_connections */
    uint64_t login_timeout_ms;      /* autologout before login */
    uint64_t timeout_ms;            /* autologout after login */
    size_t line_max;                /* imap_max_line_length */
    uint64_t idle_notify_ms;        /* imap_idle_notify_interval: IDLE's keepalive and sync */
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

/* ---- hand-off messages (handoff.c) ---- */

struct imapd_msg {
    char *fields[IMAPD_FIELDS_MAX];  /* into head */
    int nfields;
    char *head;                      /* owned */
    char *data;                      /* bytes after the head (into head's allocation) */
    size_t data_len;
    int fd;                          /* received descriptor, or -1 */
};

/* Send fields (escaped) + data (+ fd if >= 0). 0, or -1 (errno). Blocking. */
int imapd_msg_send(int sock, const char *const *fields, int nfields, const void *data,
                   size_t len, int fd);
/* Receive one message: 1, 0 on EOF, -1 on error or a malformed message
 * (an fd that came with it is closed). Non-blocking sockets: -1 with EAGAIN. */
int imapd_msg_recv(int sock, struct imapd_msg *m);
void imapd_msg_free(struct imapd_msg *m);

/* ---- the parts ---- */

/* Fork the launcher (root); returns the front end's end of its socket, or -1. */
int imapd_launcher_start(const struct imapd_settings *set, int *close_in_child, size_t nclose);
/* The mail worker's loop, on its socket to the launcher; never returns. */
_Noreturn void imapd_mail_run(int sock, const struct imapd_settings *set, uid_t uid);

/* ---- addresses ---- */

/* The local and remote addresses of a socket, as text ("" for UNIX sockets). */
void imapd_sock_addrs(int fd, char *rip, size_t riplen, char *lip, size_t liplen);

#endif
