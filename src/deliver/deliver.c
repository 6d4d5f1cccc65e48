/*
 * deliver.c - process entry point of the local and virtual delivery
 * agents (master.cf command "local" or "virtual").
 *
 * Several agent processes share the service's listening UNIX socket;
 * each waits for a connection, serves that one qmgr connection (requests
 * one after another) until qmgr closes it, then waits again: deliver_serve_loop()
 * of serve.h, the loop every delivery agent shares. SIGTERM is only
 * delivered while the process waits, so a request in progress is always
 * finished and answered before the process exits 0.
 */
#include "deliver/deliver_role.h"
#include "deliver/agent.h"
#include "deliver/local.h"
#include "deliver/virtual.h"
#include "deliver/pipe.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "deliver/serve.h"
#include "lib-master/worker.h"
#include "lib-master/stopsig.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

/* The agents, one row each: agent.c calls the deliver function of its row. */
const struct agent_role deliver_agent_roles[] = {
    {"virtual", AGENT_VIRTUAL, deliver_virtual, NULL},
    {"local", AGENT_LOCAL, deliver_local, NULL},
    {"pipe", AGENT_PIPE, NULL, deliver_pipe_request},
    {NULL, AGENT_VIRTUAL, NULL, NULL},
};

int deliver_main(struct worker *w)
{
    const char *cmd = w->svc && w->svc->command ? w->svc->command : "";
    const struct agent_role *role = deliver_agent_roles;
    while (role->name && strcmp(role->name, cmd) != 0)
        role++;
    if (!role->name)
        msg_fatal("deliver_main: unknown delivery agent \"%s\"", cmd);
    enum agent_kind kind = role->kind;
    if (w->nlisten < 1)
        msg_fatal("%s: no listening socket", cmd);

    int single_user = w->single_user;
    if (!single_user && geteuid() != 0) {
        msg_warn("%s: not running as root: delivering without switching users", cmd);
        single_user = 1;
    }

    /* |command deliveries wait for their children. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    worker_stop_signals((const int[]){SIGTERM, 0});

    struct agent a;
    deliver_agent_init(&a, w->cfg, kind, single_user, w->queue_dir);
    struct pipe_spec pipe;
    if (kind == AGENT_PIPE) {
        const char *name = w->svc && w->svc->name ? w->svc->name : cmd;
        if (deliver_pipe_parse(w->cfg, name, w->svc ? w->svc->args : NULL, single_user, &pipe,
                               pipe.error, sizeof(pipe.error)) < 0)
            msg_warn("service %s: %s: every delivery is deferred", name, pipe.error);
        a.pipe = &pipe;
    }
    deliver_serve_loop(cmd, w->listen_fds[0], a.request_timeout, deliver_agent_serve_fn, &a);
    deliver_agent_free(&a);
    return 0;
}
