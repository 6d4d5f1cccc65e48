/*
 * worker.h - the contract between the master and the processes it runs.
 *
 * The master forks one process per worker slot of a master.cf service,
 * after binding the service's sockets. In the child it applies the
 * service's -o overrides to the configuration, sets the log role, drops
 * privileges (mail_owner for unprivileged services; delivery agents stay
 * root and switch to the mailbox owner per delivery), and calls the
 * role's entry point with the inherited listening descriptors (and, for
 * smtpd inet services, the region where the service's processes count
 * their sessions per client address).
 *
 * Signals a worker must honour:
 *   SIGTERM  graceful stop: stop accepting, finish what is in flight
 *            (smtpd: current sessions, bounded by smtpd_timeout), exit 0.
 *            Reload is "start a new generation, SIGTERM the old one", so
 *            sessions are never dropped by `yubin reload`.
 *   SIGKILL  sent by the master after a grace period.
 */
#ifndef YUBIN_WORKER_H
#define YUBIN_WORKER_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct master_service;
struct tls_server;

struct worker {
    struct config *cfg;                 /* service overrides already applied */
    const struct master_service *svc;   /* the master.cf line */
    int *listen_fds;                    /* inet: one per address; unix: one */
    size_t nlisten;
    int foreground;                     /* logs to stderr */
    int single_user;                    /* not started as root: no uid switching */
    char *queue_dir;                    /* absolute queue_directory */
    struct tls_server *tls;             /* smtpd: TLS context, made while still root */
    const char *tls_error;              /* smtpd: why TLS is wanted but unavailable */
    struct tls_client *tls_client;      /* smtp: TLS client context with its client
                                         * certificate, made while still root; the
                                         * entry point may take it (and set NULL) */
    int count_fd;                       /* smtpd inet: the service's shared session
                                         * count region (conncount.h), or -1; the
                                         * entry point may take it (and set -1) */
    int count_slot;                     /* this process's slot in it */
};

/*
 * A role this program can play: a master.cf command. The table lives in
 * src/cmd/main.c, the one place that knows every role; the master starts
 * workers and checks services through it, so no library or role names
 * another role.
 */
struct worker_role {
    const char *command;                        /* "smtpd", "qmgr" ... */
    int (*main)(struct worker *w);              /* the process's entry point */
    /* Optional: check the settings of a service running this command (yubin
     * check, start): cfg with the service's -o overrides, svc its master.cf
     * line. 0, or -1 with err. */
    int (*check)(const struct config *cfg, const struct master_service *svc, char *err,
                 size_t errlen);
    /* Optional: run while the process is still root, before privileges are
     * dropped (imapd: its TLS context, and the root launcher it forks).
     * -1 is fatal. */
    int (*prepare)(struct worker *w);
};

/* Set the roles (an array ended by {NULL}), once, before anything else. */
void worker_roles_set(const struct worker_role *roles);
/* The role for a master.cf command, or NULL if this program has no such role. */
const struct worker_role *worker_role_find(const char *command);

#endif
