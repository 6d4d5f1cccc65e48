/*
 * lmtpd.c - the LMTP server process (master.cf command "lmtpd"), and the
 * privileges of delivery.
 *
 * Each process serves one connection at a time, blocking (as the
 * delivery agents do); the master starts several per service, and they
 * share its listening sockets (a UNIX socket such as
 * private/dovecot-lmtp, or inet host:port). SIGTERM is seen while the
 * process waits for a connection or a command: a session is told 421
 * and closed, a message in progress is finished first.
 *
 * Privileges (docs/ARCHITECTURE.md "LMTP and the LDA"): started with
 * the unpriv column "n", the process keeps root only as its real and
 * saved uid, runs as mail_owner (effective) while it speaks LMTP and
 * asks the userdb, and becomes the mailbox owner (effective uid, gid and
 * groups) for each recipient's delivery, as the virtual agent does. It
 * never delivers as uid 0 or below first_valid_uid. Started unprivileged
 * (unpriv "-", or single-user mode), it delivers only to users whose
 * mail belongs to its own uid, and defers the others with a reason.
 */
#include "lmtpd/lmtpd_role.h"
#include "lmtpd/lmtpd.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-conf/config.h"
#include "lib-master/stopsig.h"
#include "lib-master/worker.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void become_idle(const struct lmtpd_server *srv)
{
    gid_t g = srv->idle_gid;
    if (setgroups(1, &g) < 0 || setresgid((gid_t)-1, srv->idle_gid, (gid_t)-1) < 0 ||
        setresuid((uid_t)-1, srv->idle_uid, (uid_t)-1) < 0)
        msg_fatal("lmtpd: cannot switch to mail_owner: %s", strerror(errno));
}

static void become_root(void)
{
    if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, 0, (gid_t)-1) < 0)
        msg_fatal("lmtpd: cannot regain root: %s", strerror(errno));
}

int lmtpd_become(struct lmtpd_server *srv, const struct lmtpd_user *u, const char **why)
{
    if (!srv->root) {
        if (u->have_ids && u->uid != geteuid()) {
            *why = "the mailbox belongs to another uid and lmtpd runs unprivileged "
                   "(master.cf unpriv column: n)";
            return -1;
        }
        return 0;
    }
    if (!u->have_ids) {
        *why = "no uid for the user (userdb uid=, mail_uid, or virtual mailbox maps)";
        return -1;
    }
    if (u->uid == 0 || u->gid == 0) {
        *why = "refusing to deliver as root";
        return -1;
    }
    if ((long long)u->uid < srv->lda.first_valid_uid) {
        *why = "the user's uid is below first_valid_uid";
        return -1;
    }
    become_root();
    gid_t g = u->gid;
    if (setgroups(1, &g) < 0 || setresgid((gid_t)-1, u->gid, (gid_t)-1) < 0 ||
        setresuid((uid_t)-1, u->uid, (uid_t)-1) < 0) {
        become_idle(srv);
        *why = "cannot switch to the mailbox owner";
        return -1;
    }
    return 0;
}

void lmtpd_unbecome(struct lmtpd_server *srv)
{
    if (!srv->root)
        return;
    become_root();
    become_idle(srv);
}

static void server_init(struct lmtpd_server *srv, struct worker *w)
{
    memset(srv, 0, sizeof(*srv));
    lmtpd_lda_init(&srv->lda, w->cfg, NULL);
    srv->size_limit = cfg_get_size(w->cfg, P_message_size_limit);
    if (srv->size_limit <= 0 || srv->size_limit > LMTPD_MSG_MAX)
        srv->size_limit = LMTPD_MSG_MAX;   /* "no limit" still has one: memory */
    srv->timeout_ms = cfg_get_time(w->cfg, P_lmtpd_timeout) * 1000;
    srv->root = !w->single_user && getuid() == 0;
    if (!srv->root)
        return;
    const char *owner = cfg_get(w->cfg, P_mail_owner);
    struct passwd *pw = owner ? getpwnam(owner) : NULL;
    if (!pw || pw->pw_uid == 0)
        msg_fatal("lmtpd: mail_owner %s: no such unprivileged user", owner ? owner : "");
    srv->idle_uid = pw->pw_uid;
    srv->idle_gid = pw->pw_gid;
    become_idle(srv);
}

/* Wait for a connection on any of the listening sockets. fd, or -1 (stop). */
static int accept_any(int *fds, size_t n)
{
    if (n == 1)
        return worker_accept(fds[0], SOCK_CLOEXEC);
    struct pollfd pfd[16];
    size_t k = n < 16 ? n : 16;
    for (;;) {
        if (worker_stopping())
            return -1;
        for (size_t i = 0; i < k; i++)
            pfd[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        int r = ppoll(pfd, k, NULL, worker_wait_mask());
        if (r < 0 && errno != EINTR)
            return -1;
        for (size_t i = 0; r > 0 && i < k; i++)
            if (pfd[i].revents & POLLIN) {
                int fd = accept4(fds[i], NULL, NULL, SOCK_CLOEXEC);
                if (fd >= 0)
                    return fd;
            }
    }
}

int lmtpd_main(struct worker *w)
{
    if (w->nlisten < 1)
        msg_fatal("lmtpd: no listening socket");
    worker_stop_signals((const int[]){SIGTERM, 0});
    struct lmtpd_server srv;
    server_init(&srv, w);
    for (size_t i = 0; i < w->nlisten; i++)
        fd_set_nonblock(w->listen_fds[i], 1);
    for (;;) {
        int fd = accept_any(w->listen_fds, w->nlisten);
        if (fd < 0) {
            if (worker_stopping() || errno == 0)
                break;
            msg_warn("lmtpd: accept: %s", strerror(errno));
            continue;
        }
        lmtpd_session_run(&srv, fd);
        close(fd);
        if (worker_stopping())
            break;
    }
    if (srv.root)
        become_root();
    lmtpd_lda_free(&srv.lda);
    return 0;
}
