/*
 * login.h - the three-process login path every mail-access protocol
 * (IMAP, POP3, ManageSieve) shares, as Dovecot's *-login, master and mail
 * processes: an unprivileged front end (TLS, the commands before login,
 * SASL through the auth service), a root launcher it forks (asks the auth
 * service who logged in, forks per-uid mail workers) and the mail workers
 * (running as the mailbox owner). The protocol plugs in through a small
 * callback table (frontend.h for the front end, worker.h for a worker).
 *
 * Owns: the settings common to the three roles, the hand-off messages
 * between the parts (handoff.c), the launcher (launcher.c), and the
 * socket address helper.
 *
 * The hand-off channels are SOCK_SEQPACKET socket pairs: one message per
 * datagram, a tab-separated text head (fields escaped as in the Dovecot
 * auth protocol) ending in LF, then opaque bytes (what the client
 * pipelined after its login command), and at most one descriptor
 * (SCM_RIGHTS: the client's socket, or the worker end of a TLS relay).
 *   front end -> launcher  LOGIN sid auth-id cpid cookie rip lip tls tag method
 *   launcher -> front end  OK sid user mail-pid | FAIL sid reason [LIMIT]
 *   launcher -> worker     SESSION user home mail rip lip tls tag
 *   worker -> launcher     END user rip (a session ended)
 */
#ifndef YUBIN_LIB_LOGIN_LOGIN_H
#define YUBIN_LIB_LOGIN_LOGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config;

#define LOGIN_FIELDS_MAX     16
#define LOGIN_MSG_MAX        (64 * 1024)    /* one hand-off message */
#define LOGIN_PIPELINED_MAX  (32 * 1024)    /* bytes pipelined after a login */

struct login_settings {
    const char *role;               /* "imapd", "pop3d" ...: process titles and logs */
    const char *service;            /* the auth service's name for it: "imap", "pop3", "sieve" */
    char *queue_dir;
    char *sasl_path;                /* the auth service's client socket (master.cf's "auth") */
    char *userdb_path;              /* its auth-master (userdb) socket */
    int disable_plaintext;          /* disable_plaintext_auth */
    int wrappermode;                /* <role>_tls_wrappermode */
    long long first_valid_uid;
    char *mail_uid, *mail_gid;      /* fallbacks when the userdb has none */
    char *mail_location;
    /* where mail is when neither the userdb nor mail_location says (mailloc.c) */
    const struct config *cfg;       /* for virtual_mailbox_maps, opened by the launcher */
    char *home_mailbox, *virtual_base, *rcpt_delim;
    long long client_limit;         /* sessions per mail worker */
    long long login_client_limit;   /* connections per front-end process */
    long long max_userip;           /* mail_max_userip_connections */
    uint64_t login_timeout_ms;      /* autologout before login */
    uint64_t timeout_ms;            /* autologout after login */
    size_t line_max;                /* the protocol's command line limit */
};

/*
 * The common settings from main.cf; the protocol's own (wrappermode, the
 * limits and timeouts) are the role's to fill after this.
 */
void login_settings_read(const struct config *cfg, const char *queue_dir,
                         struct login_settings *set);
void login_settings_free(struct login_settings *set);

/* ---- hand-off messages (handoff.c) ---- */

struct login_msg {
    char *fields[LOGIN_FIELDS_MAX];  /* into head */
    int nfields;
    char *head;                      /* owned */
    char *data;                      /* bytes after the head (into head's allocation) */
    size_t data_len;
    int fd;                          /* received descriptor, or -1 */
};

/* Send fields (escaped) + data (+ fd if >= 0). 0, or -1 (errno). Blocking. */
int login_msg_send(int sock, const char *const *fields, int nfields, const void *data,
                   size_t len, int fd);
/* Receive one message: 1, 0 on EOF, -1 on error or a malformed message
 * (an fd that came with it is closed). Non-blocking sockets: -1 with EAGAIN. */
int login_msg_recv(int sock, struct login_msg *m);
void login_msg_free(struct login_msg *m);

/* ---- the launcher (launcher.c) ---- */

/*
 * A mail worker's loop, run in the forked child once it is the mailbox
 * owner (never returns). ctx is the launcher_start caller's.
 */
typedef void login_worker_fn(int sock, const struct login_settings *set, uid_t uid, void *ctx);

/* Fork the launcher (root); returns the front end's end of its socket, or -1. */
int login_launcher_start(const struct login_settings *set, login_worker_fn *run, void *ctx,
                         int *close_in_child, size_t nclose);

/* ---- addresses ---- */

/* The local and remote addresses of a socket, as text ("" for UNIX sockets). */
void login_sock_addrs(int fd, char *rip, size_t riplen, char *lip, size_t liplen);

#endif
