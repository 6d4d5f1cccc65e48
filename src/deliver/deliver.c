/*
 * deliver.c - process entry point of the local and virtual delivery
 * agents (master.cf command "local" or "virtual").
 *
 * Several agent processes share the service's listening UNIX socket;
 * each waits for a connection, serves that one qmgr connection (requests
 * one after another, see agent_serve) until qmgr closes it, then waits
 * again. SIGTERM is only delivered while the process waits, so a request
 * in progress is always finished and answered before the process exits 0.
 */
#include "agent.h"
#include "log.h"
#include "util.h"
#include "worker.h"
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int deliver_main(struct worker *w)
{
    const char *cmd = w->svc && w->svc->command ? w->svc->command : "";
    enum agent_kind kind;
    if (strcmp(cmd, "virtual") == 0)
        kind = AGENT_VIRTUAL;
    else if (strcmp(cmd, "local") == 0)
        kind = AGENT_LOCAL;
    else
        msg_fatal("deliver_main: unknown delivery agent \"%s\"", cmd);
    if (w->nlisten < 1)
        msg_fatal("%s: no listening socket", cmd);

    int single_user = w->single_user;
    if (!single_user && geteuid() != 0) {
        msg_warn("%s: not running as root: delivering without switching users", cmd);
        single_user = 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);            /* no SA_RESTART: waits return EINTR */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sigset_t block, waiting;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &waiting);
    sigdelset(&waiting, SIGTERM);

    struct agent a;
    agent_init(&a, w->cfg, kind, single_user, w->queue_dir);

    int lfd = w->listen_fds[0];
    fd_set_nonblock(lfd, 1);
    while (!stop_requested) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int n = ppoll(&p, 1, NULL, &waiting);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: poll: %s", cmd, strerror(errno));
        if (n <= 0 || stop_requested)
            continue;
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                msg_warn("%s: accept: %s", cmd, strerror(errno));
            continue;                          /* another agent took it */
        }
        agent_serve(&a, cfd, &stop_requested);
        close(cfd);
    }
    agent_free(&a);
    return 0;
}
