/*
 * frontend.h - the front end of a login path (frontend.c): the event loop
 * of the process the master runs ("imap-login", "pop3-login" ...),
 * serving clients until they have logged in.
 *
 * The library owns the connections, TLS (wrapper mode, or STARTTLS/STLS
 * when the protocol asks), the greeting's wait for the auth service, the
 * SASL conversation with the auth service, the hand-off to the launcher,
 * the TLS relay after it, the autologout before login and the connection
 * limit. The protocol owns its words: a callback table says how to greet,
 * how to parse and run one pre-login command, how a SASL challenge is
 * sent and its answer read, and how a failed login or a forced end is
 * answered.
 */
#ifndef YUBIN_LIB_LOGIN_FRONTEND_H
#define YUBIN_LIB_LOGIN_FRONTEND_H

#include "lib-login/login.h"

#include <stddef.h>

struct buf;
struct conn;
struct login_fe;
struct tls_server;

enum login_auth_result {
    LOGIN_AUTH_FAILED,       /* the auth service refused the credentials */
    LOGIN_AUTH_TEMPFAIL,     /* the auth service could not decide */
    LOGIN_AUTH_ABORTED,      /* the client cancelled the exchange */
    LOGIN_AUTH_MALFORMED,    /* the client's answer to a challenge was not valid */
    LOGIN_AUTH_INTERNAL,     /* authenticated, but the session could not be handed off */
};

enum login_bye {
    LOGIN_BYE_TIMEOUT,       /* autologout before login */
    LOGIN_BYE_PIPELINED,     /* too much input pipelined after the login command */
    LOGIN_BYE_AUTH_LONG,     /* an answer to a challenge too long */
    LOGIN_BYE_USERIP,        /* mail_max_userip_connections reached */
};

struct login_proto {
    /* the protocol's state of a new connection (freed with sess_free) */
    void *(*sess_new)(struct login_fe *fe);
    void (*sess_free)(void *ps);
    /* the greeting, once the auth service is known (or was waited for) */
    void (*greet)(struct login_fe *fe, void *ps);
    /*
     * Parse and run what is buffered (login_fe_conn's input): 1 after a
     * command was run or input consumed, 0 when more input is needed.
     */
    int (*command)(struct login_fe *fe, void *ps);
    /* TLS was started after STARTTLS: forget buffered state (may be NULL) */
    void (*tls_started)(struct login_fe *fe, void *ps);
    /* the TLS handshake after STARTTLS completed (may be NULL: ManageSieve
     * sends its capabilities again here) */
    void (*tls_ready)(struct login_fe *fe, void *ps);
    /* send a SASL challenge (base64) */
    void (*challenge)(struct login_fe *fe, void *ps, const char *b64);
    /*
     * The client's answer to a challenge, one line without CRLF: 0 with
     * *b64 set (may point into line), 1 when the client cancels, -1 when it
     * is malformed.
     */
    int (*response)(void *ps, char *line, const char **b64);
    /* a login that failed or was not completed */
    void (*auth_result)(struct login_fe *fe, void *ps, enum login_auth_result r);
    /* the last words before the connection is closed */
    void (*bye)(struct login_fe *fe, void *ps, enum login_bye why);
};

/* Serve the listening sockets until SIGTERM; launcher: the socket to the launcher. */
int login_fe_run(const struct login_settings *set, const struct login_proto *proto,
                 int *listen_fds, size_t nlisten, struct tls_server *tls, const char *tls_error,
                 int launcher);

/* ---- for the protocol's callbacks ---- */

struct conn *login_fe_conn(struct login_fe *fe);
const struct login_settings *login_fe_settings(const struct login_fe *fe);
/* The tag given to login_fe_auth (the login command's). */
const char *login_fe_tag(const struct login_fe *fe);
/* "unknown[ip]" for log lines */
const char *login_fe_namaddr(const struct login_fe *fe);
/* The connection is TLS now. */
int login_fe_tls(const struct login_fe *fe);
/* STARTTLS/STLS may be offered: not TLS yet, TLS configured, not wrapper mode. */
int login_fe_starttls_offered(const struct login_fe *fe);
/* TLS, or from the server's own address, or disable_plaintext_auth = no. */
int login_fe_plaintext_ok(const struct login_fe *fe);
/* The SASL mechanisms offered on this connection now, space-separated. */
void login_fe_mechs(struct login_fe *fe, struct buf *out);
int login_fe_mech_offered(struct login_fe *fe, const char *mech);
/* The protocol queued its "go ahead" reply: TLS starts once it is sent. */
void login_fe_starttls(struct login_fe *fe);
/* End the connection once what is queued is sent. */
void login_fe_close(struct login_fe *fe);
/*
 * Authenticate through the auth service: mech with its initial response
 * (base64, "" for an empty one, NULL for none); tag is passed to the mail
 * worker (the login command's tag in IMAP); logname names the method in
 * the log ("LOGIN" for IMAP's LOGIN sent as PLAIN). On success the session
 * is handed to the launcher; else proto->auth_result is called.
 */
void login_fe_auth(struct login_fe *fe, const char *tag, const char *mech, const char *ir,
                   const char *logname);

#endif
