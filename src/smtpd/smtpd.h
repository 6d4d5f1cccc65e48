/*
 * smtpd.h - the SMTP server's internal structures (not a public API).
 *
 * Owns: struct smtpd_server (one per worker process: parameters read once
 * at start, the event loop, the queue writer shared by every session and
 * the group-commit list) and struct session (one per client connection:
 * buffers, the SMTP state machine, the current mail transaction).
 *
 * Files: smtpd.c (process, listeners, group commit), session.c (I/O,
 * replies, deadlines, limits, logging), limits.c (sessions per client
 * across the service's processes, sessions per process against the
 * descriptor limit), command.c (the SMTP verbs), content.c
 * (DATA/BDAT decoding), etrn.c (ETRN: fast_flush_domains, the flush
 * request to qmgr). pickup uses the same session code with srv->local
 * set: `yubin sendmail` speaks SMTP over public/pickup.
 */
#ifndef YUBIN_SMTPD_H
#define YUBIN_SMTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "smtpd/content.h"
#include "lib-master/conncount.h"
#include "lib-table/matchlist.h"
#include "smtpd/restrict.h"
#include "lib-tls/tls.h"

struct config;
struct evloop;
struct ev_timer;
struct queue_writer;
struct sasl_client;
struct sasl_auth;
struct resolver;
struct dns;
struct worker;
struct conncount;
struct conn;
struct msess;
struct smtpd_milters;

#define SMTPD_LINE_MAX      12288   /* command line; RFC 4954 wants 12288 for AUTH lines */
#define SMTPD_IN_MAX        (64 * 1024)
#define SMTPD_OUT_MAX       (256 * 1024)
#define SMTPD_DATA_HOLD     (8 * 1024) /* partial DATA lines kept for completion */
#define SMTPD_SPILL_AT      (256 * 1024) /* larger messages go to a queue tmpfile */
#define SMTPD_FD_RESERVE    64      /* descriptors never given to sessions (or 10%) */

/* Commands counted for the "disconnect from" log line, in Postfix's order. */
enum smtpd_cmd {
    CMD_CONNECT = -1,  /* nothing received yet: "lost connection after CONNECT" */
    CMD_HELO, CMD_EHLO, CMD_XFORWARD, CMD_STARTTLS, CMD_AUTH, CMD_MAIL, CMD_RCPT, CMD_DATA,
    CMD_BDAT, CMD_RSET, CMD_NOOP, CMD_VRFY, CMD_ETRN, CMD_HELP, CMD_QUIT, CMD_UNKNOWN, CMD_COUNT
};

enum session_state {
    SS_CONNECT,     /* waiting for the reverse lookup before the greeting */
    SS_COMMAND,     /* reading commands */
    SS_DATA,        /* reading DATA content */
    SS_BDAT,        /* reading a BDAT chunk */
    SS_WAIT,        /* an asynchronous check or the group commit is pending */
    SS_STARTTLS,    /* "220 Ready to start TLS" is being sent; then the handshake */
    SS_AUTH,        /* after "334 ...": the next line is a SASL response, not a command */
    SS_HANDSHAKE,   /* TLS handshake in progress */
    SS_CLOSING      /* flush the output, then close */
};

struct smtpd_server {
    struct worker *w;
    struct config *cfg;
    struct evloop *loop;
    struct queue_writer *qw;
    struct resolver *resolver;
    struct dns *dns;
    struct restrictions *restr;
    struct smtpd_policy *policy;     /* check_policy_service clients (policy.h) */
    struct smtpd_milters *milters;   /* smtpd_milters / non_smtpd_milters (milter.c), or NULL */
    struct maps *hc_maps[4];         /* header_checks ... body_checks (enum hc_class), or NULL */
    char *content_filter;            /* content_filter: "transport:nexthop", or "" */
    char *always_bcc;                /* bcc.c */
    struct maps *sender_bcc, *recipient_bcc;
    struct match_list *xforward_hosts; /* smtpd_authorized_xforward_hosts, or NULL */
    unsigned overrides;              /* receive_override_options: SMTPD_RO_* */
    size_t hc_body_limit;            /* body_checks_size_limit */
    int local;                       /* pickup: local submission over a UNIX socket */
    int pass;                        /* master.cf type pass: clients arrive from
                                      * postscreen over a UNIX socket (pass.c) */
    struct match_list *submit_users; /* pickup: authorized_submit_users (NULL: root and
                                      * mail_owner only) */
    struct tls_server *tls;          /* NULL: no TLS for this service */
    const char *tls_error;           /* why TLS is wanted but unavailable */
    struct tls_smtpd_policy tlsp;
    struct sasl_client *sasl;        /* smtpd_sasl_auth_enable: the auth server connection */
    char *sasl_opts, *sasl_tls_opts;
    int tls_auth_only, broken_sasl_clients, sasl_auth_header;
    int stopping;
    size_t nsessions;
    struct session *sessions;        /* all sessions (doubly linked) */
    struct session *commit_head;     /* sessions waiting for the next group commit */
    struct session **commit_tail;
    char *service;                   /* master.cf service name, for logs */

    /* Client limits (limits.c). */
    struct conncount *conns;         /* sessions per client address, shared by the
                                      * service's processes; NULL: not counted */
    struct match_list *limit_exceptions; /* smtpd_client_event_limit_exceptions */
    long long conn_count_limit;      /* smtpd_client_connection_count_limit; 0 = none */
    long long rate_limit[CONNCOUNT_EVENTS]; /* smtpd_client_*_rate_limit; 0 = none */
    unsigned rate_unit_s;            /* anvil_rate_time_unit */
    size_t max_sessions;             /* this process, from RLIMIT_NOFILE */
    uint64_t busy_warned_ms;         /* last "session limit" warning */

    /* Parameters, read once. */
    char *myhostname, *mail_name, *banner;
    long long message_size_limit;
    long long recipient_limit;
    long long soft_error_limit, hard_error_limit, junk_command_limit;
    long long error_sleep_ms;
    long long timeout_ms;
    int per_request_deadline;        /* smtpd_per_request_deadline */
    long long min_data_rate;         /* smtpd_min_data_rate, bytes/s */
    long long hopcount_limit, header_size_limit;
    long long queue_minfree;
    int helo_required, disable_vrfy, smtputf8_enable, strict_rfc821, delay_reject;
    int peername_lookup;
    enum bare_nl_policy bare_nl;
    char **discard_ehlo;             /* smtpd_discard_ehlo_keywords */
    char *queue_dir;
    uint64_t space_checked_ms;       /* last statvfs of the queue file system */
    int space_ok;
};

struct smtp_rcpt {
    char *addr;
    char *orcpt;                     /* "rfc822;addr" decoded, or NULL */
    int notify;                      /* DSN_NOTIFY_* */
};

struct session {
    struct smtpd_server *srv;
    struct session *next, *prev;
    struct session *commit_next;
    struct conn *conn;               /* the socket: I/O, TLS, flow control, the deadline */
    enum session_state state;
    struct ev_timer *sleep_timer;    /* smtpd_error_sleep_time before the next reply */
    struct tls_conn *tls;            /* TLS is active (or being negotiated); the conn owns it */
    int greet_after_tls;             /* wrapper mode: 220 only once TLS is up */
    struct sasl_auth *sasl;          /* authentication in progress */
    int auth_wait;                   /* EHLO/AUTH waited this many ticks for the auth server */
    char *auth_arg;                  /* AUTH arguments kept while it waits */
    struct ev_timer *wait_timer;     /* that wait */
    char sasl_method[32];
    char *sasl_username;             /* authenticated as */
    int sleeping;
    int counted;                     /* in srv->conns under caddr */
    int limited;                     /* subject to the rate limits (not an exception) */
    struct net_addr caddr;
    enum smtpd_cmd last_cmd;         /* for "lost connection after X" */

    /* The client. */
    char addr[64];                   /* "127.0.0.1", "::1" */
    char port[8];
    char name[256];                  /* verified hostname or "unknown" */
    char reverse_name[256];          /* PTR name even if unconfirmed, or "unknown" */
    int name_status, reverse_status; /* DNS_OK / DNS_NOTFOUND / DNS_TEMPFAIL */
    char namaddr[340];               /* "name[addr]" for logs */
    uid_t uid;                       /* pickup: the submitting user */
    char login[64];                  /* pickup: that user's name */

    /* SMTP state. */
    char helo[256];
    struct xforward {                /* XFORWARD: the original client, for this transaction */
        char name[256], addr[64], port[8], helo[256], proto[32];
        int set;
    } xf;
    int esmtp;
    int errors, junk;
    int counts[CMD_COUNT][2];        /* [ok, total] per command */

    /* The mail transaction. */
    int in_mail;
    char *sender;
    struct smtp_rcpt *rcpts;
    size_t nrcpts, caprcpts;
    char qid[32];
    int smtputf8, body_8bit;
    int ret;                         /* -1 unset, 0 HDRS, 1 FULL */
    char *envid;
    long long mail_size;             /* MAIL SIZE=, 0 when not given */
    char instance[48];               /* for policy servers; "" until asked, per transaction */
    struct restrict_actions actions;
    int client_ok, helo_ok, sender_ok; /* delayed checks already passed */

    /* Content. */
    struct buf msg;                  /* final content: Received: + data, LF line ends */
    size_t data_start;               /* offset of the client's data in msg */
    int spill_fd;                    /* -1, or the tmpfile holding the client's data */
    size_t spill_len;
    char *head;                      /* spilled: the first SMTPD_SPILL_AT bytes, for header checks */
    size_t head_len;
    struct hcheck *hc;               /* header/body checks of this message (hchecks.c), or NULL */
    int too_big;
    int io_error;                    /* the spill file could not be written */
    int bare_lf_reject;
    int bdat_active;                 /* a BDAT transaction is in progress */
    int bdat_last;
    char *bdat_fail;                 /* set: discard chunks, answer each with this line */
    uint64_t bdat_left;
    struct data_decoder dd;
    struct bdat_decoder bd;

    /* Asynchronous restriction evaluation. */
    enum restrict_stage chain[8];
    int nchain, ichain;
    void (*chain_done)(struct session *s, const struct restrict_result *res);
    char *pending_arg;               /* the address/name being checked */
    enum smtpd_cmd pending_cmd;

    /* Milters (milter.c). */
    struct msess *milter;            /* this session's milter connections, or NULL */
    int milter_passed;               /* the event the milters just passed (enum smtpd_milter_ev) */
};

/* session.c */
void smtpd_session_start(struct smtpd_server *srv, int fd, const char *addr, const char *port,
                   uid_t uid);
void smtpd_session_reply(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A reply that counts as an error (4xx/5xx): applies the soft/hard error limits. */
void smtpd_session_error(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void smtpd_session_close_after_reply(struct session *s);
/* smtpd_timeout is up: "421 4.4.2 ... Error: timeout exceeded", logged, and close. */
void smtpd_session_expire(struct session *s);
void smtpd_session_destroy(struct session *s, const char *why);
void smtpd_session_resume(struct session *s);
/* A new request begins: the client has smtpd_timeout from now. */
void smtpd_session_deadline_reset(struct session *s);
void smtpd_session_reset_transaction(struct session *s);
void smtpd_session_log_reject(struct session *s, const char *stage, const struct restrict_result *res,
                        const char *rcpt);
int smtpd_session_queue_space_ok(struct session *s);

/* command.c */
void smtpd_command_dispatch(struct session *s, char *line);
int smtpd_data_feed(struct session *s);    /* SS_DATA/SS_BDAT: consume input; 1 = progress */
void smtpd_checks_run(struct session *s);  /* continue the restriction chain */
void smtpd_session_committed(struct session *s, int ok); /* after the group commit */

/* auth.c */
void smtpd_auth_setup(struct smtpd_server *srv);
void smtpd_auth_ehlo_keywords(struct session *s, struct buf *kw);
int smtpd_auth_server_pending(const struct session *s);
void smtpd_cmd_auth(struct session *s, char *arg);
void smtpd_auth_response(struct session *s, char *line);
/* Cancel the exchange in progress, if any (the auth server is told). */
void smtpd_auth_abort(struct session *s);
void smtpd_auth_session_end(struct session *s);

/* starttls.c */
int smtpd_starttls_offered(const struct session *s);
int smtpd_starttls_required(const struct session *s);
void smtpd_cmd_starttls(struct session *s, char *arg);
void smtpd_starttls_begin(struct session *s);
/* The connection's handshake ended: 0 done, -1 failed, -2 timed out. */
void smtpd_starttls_done(struct session *s, int result);
void smtpd_tls_received_text(const struct session *s, char *out, size_t outlen);
void smtpd_session_greet(struct session *s);

/* etrn.c: after smtpd_etrn_restrictions; replies 250, 458 or 459 */
void smtpd_etrn_request(struct session *s, const char *domain);

/* pass.c: a connection on a pass service's UNIX socket; the client's
 * descriptor and addresses arrive on it (lib-master/passfd.h). */
void smtpd_pass_accept(struct smtpd_server *srv, int fd);
/* A numeric address as a socket address (port 0), for the reverse lookup: 0 or -1. */
int smtpd_pass_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl);

/* limits.c */
void smtpd_limits_setup(struct smtpd_server *srv);
void smtpd_limits_free(struct smtpd_server *srv);
/* At accept: may this process take one more session? If not, answers 421 and closes fd. */
int smtpd_limits_accept_ok(struct smtpd_server *srv, int fd);
/* Before the greeting: count the session; -1 when over the limit (421 queued, closing). */
int smtpd_limits_session_begin(struct session *s);
void smtpd_limits_session_end(struct session *s);
/*
 * Count one event (CONNCOUNT_MAIL at MAIL, _RCPT at RCPT, _AUTH at AUTH,
 * _NEWTLS after a handshake that made a new TLS session) and check its
 * rate limit: 0, or -1 when the client is over it (the reply and the log
 * line are made; for _NEWTLS the session is closed after the reply).
 */
int smtpd_limits_event(struct session *s, enum conncount_event ev);

/* hchecks.c: header_checks, mime_header_checks, nested_header_checks, body_checks */
void smtpd_hchecks_open(struct smtpd_server *srv);
void smtpd_hchecks_close(struct smtpd_server *srv);
/* A message begins: s->hc is set when any check is configured; its output goes to sink. */
void smtpd_hchecks_begin(struct session *s, int (*sink)(void *, const char *, size_t));
/* Free s->hc (transaction reset). */
void smtpd_hchecks_abort(struct session *s);
/* The content ended: what the checks still hold goes out. */
void smtpd_hchecks_flush(struct session *s);
/*
 * After the flush and the size checks: the verdict is applied (HOLD,
 * DISCARD, FILTER, REDIRECT, BCC into s->actions and the recipients).
 * 0, or -1 when the message was refused (REJECT, a failed table: the
 * reply is made and the transaction reset).
 */
int smtpd_hchecks_end(struct session *s);

/* xforward.c: XFORWARD (smtpd_authorized_xforward_hosts) */
void smtpd_xforward_open(struct smtpd_server *srv);
void smtpd_xforward_close(struct smtpd_server *srv);
int smtpd_xforward_allowed(const struct session *s);
void smtpd_cmd_xforward(struct session *s, char *arg);
/* The client as the queue, Received: and the log see it: forwarded, or the real one. */
const char *smtpd_xf_name(const struct session *s);
const char *smtpd_xf_addr(const struct session *s);
const char *smtpd_xf_port(const struct session *s);
const char *smtpd_xf_helo(const struct session *s);

/* bcc.c: always_bcc, sender_bcc_maps, recipient_bcc_maps */
void smtpd_bcc_open(struct smtpd_server *srv);
void smtpd_bcc_close(struct smtpd_server *srv);
/* Add a recipient with NOTIFY=NEVER unless it is one already. */
void smtpd_add_bcc(struct session *s, const char *addr);
/* At the end of the content: 0, or -1 when a table failed (451 sent, transaction reset). */
int smtpd_bcc_apply(struct session *s);

/* milter.c: smtpd_milters (non_smtpd_milters in pickup) */
enum smtpd_milter_ev {
    SMTPD_MILTER_NONE, SMTPD_MILTER_HELO, SMTPD_MILTER_MAIL, SMTPD_MILTER_RCPT,
    SMTPD_MILTER_DATA, SMTPD_MILTER_EOM, SMTPD_MILTER_UNKNOWN  /* the line in pending_arg */
};
void smtpd_milter_setup(struct smtpd_server *srv);
void smtpd_milter_free(struct smtpd_server *srv);
/*
 * Ask the milters about the event, in a command's done function once the
 * restrictions passed: 0 means go on now (no milters, or they all said
 * continue at once); 1 means done(s, res) has been or will be called: with
 * a reply to send (reject, tempfail), or with NULL when the milters passed,
 * in which case this call returns 0 for the same event. Modifications at
 * SMTPD_MILTER_EOM are applied to s->msg and the envelope before done.
 */
int smtpd_milter_check(struct session *s, enum smtpd_milter_ev ev,
                       void (*done)(struct session *, const struct restrict_result *));
void smtpd_milter_abort(struct session *s);         /* transaction reset: SMFIC_ABORT */
void smtpd_milter_message_done(struct session *s);  /* end of message reached the milters */
void smtpd_milter_session_end(struct session *s);   /* SMFIC_QUIT, close */

/* smtpd.c */
void smtpd_commit_enqueue(struct session *s);
void smtpd_commit_forget(struct session *s);

/* pickup: may uid submit mail (root, mail_owner, authorized_submit_users)? */
int smtpd_submit_allowed(const struct smtpd_server *srv, uid_t uid);

#endif
