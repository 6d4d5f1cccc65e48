/*
 * mailworker.h - the protocol-independent half of a mail worker (IMAP,
 * POP3, ManageSieve): one process per uid, one event loop, many sessions.
 *
 * Owns: the launcher's socket (SESSION hand-offs in, END notices out), the
 * session count shown in the process title ("imapd: mail uid=N
 * sessions=M"), SIGTERM, and the rule for leaving: when the last session
 * ends after a stop or after the launcher went away. The protocol keeps
 * its own sessions; it reports each start and end here.
 */
#ifndef YUBIN_LOGIN_MAILWORKER_H
#define YUBIN_LOGIN_MAILWORKER_H

#include <stddef.h>
#include <sys/types.h>

#include "lib-login/login.h"
#include "lib/conn.h"

struct login_worker {
    const char *role;                    /* for the process title: "imapd" ... */
    struct evloop *loop;
    int sock;                            /* to the launcher; -1 once it is gone */
    uid_t uid;
    size_t nsessions;
    int stopping;                        /* SIGTERM arrived */
    /* a SESSION message with its fields checked (SESSION user home mail rip
     * lip tls tag, the client's fd): start the session, or leave m alone */
    void (*start)(struct login_worker *w, struct login_msg *m);
    /* SIGTERM: tell every session and end it */
    void (*stop)(struct login_worker *w);
};

/* Serve until the last session ends after a stop or the launcher's exit; never returns. */
void login_worker_run(struct login_worker *w, int sock, uid_t uid);

/* The client connection of a SESSION on the worker's loop (the fd taken
 * from m, what the client pipelined already fed), its idle time and first
 * deadline timeout_ms; counted as a session of this worker. */
struct conn *login_worker_session(struct login_worker *w, struct login_msg *m, size_t in_max,
                                  size_t out_max, const struct conn_cb *cb, void *arg,
                                  unsigned timeout_ms);

/* A session of user from rip has ended (its connection freed). */
void login_worker_session_end(struct login_worker *w, const char *user, const char *rip);

#endif
