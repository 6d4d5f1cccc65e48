/*
 * spawn.c - Postfix's spawn(8): one external program per connection, its
 * standard input and output the connection, run as the user= of its
 * master.cf line (never root):
 *
 *   policy-spf unix - n n - - spawn user=nobody argv=/usr/bin/policyd-spf
 *
 * Owns: the service's loop (accept, fork, wait), the child's set-up
 * (its own process group, the socket on descriptors 0 and 1, /dev/null
 * on 2, the user's groups, gid and uid for good, execv without a shell),
 * and <service>_time_limit (default $command_time_limit): a program
 * still running then is killed with its process group. user= and argv=
 * are read as pipe(8) reads them (pipe.c); argv= takes no $name macros.
 * One connection at a time per process; maxproc processes serve a
 * service. It lives among the delivery agents because it shares their
 * master.cf attributes and their privilege rules; the role check of pipe
 * and spawn lines for `yubin check` (deliver_check_service) is here too.
 */
#include "deliver/deliver_role.h"
#include "deliver/pipe.h"
#include "lib-conf/config.h"
#include "lib-master/stopsig.h"
#include "lib-master/worker.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SPAWN_ARGS_MAX 256

/* In the child: never returns. */
static _Noreturn void child(const struct pipe_spec *p, int fd, int single_user)
{
    setsid();
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int null = open("/dev/null", O_RDWR);
    if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || null < 0 || dup2(null, 2) < 0)
        _exit(75);
    for (int i = 3; i < 1024; i++)
        close(i);
    if (!single_user) {
        gid_t g = p->gid;
        if (setgroups(1, &g) < 0 || setgid(p->gid) < 0 || setuid(p->uid) < 0 || setuid(0) == 0)
            _exit(75);
    }
    char *argv[SPAWN_ARGS_MAX + 1];
    size_t n = 0;
    argv[n++] = p->argv[0] + 5;            /* "argv=/usr/bin/policyd-spf" */
    for (size_t i = 1; p->argv[i] && n < SPAWN_ARGS_MAX; i++)
        argv[n++] = p->argv[i];
    argv[n] = NULL;
    execv(argv[0], argv);
    _exit(127);
}

/* Wait for the child, killing its process group after the time limit. */
static void wait_child(const char *service, const struct pipe_spec *p, pid_t pid)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0, killed = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long elapsed = (long)(now.tv_sec - start.tv_sec);
        if (!killed && (elapsed >= p->time_limit || worker_stopping())) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            killed = 1;
            if (!worker_stopping())
                msg_warn("%s: command %s: time limit of %ld s exceeded: killed", service,
                         p->argv[0] + 5, p->time_limit);
        }
        struct timespec tick = {0, 50 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    if (!killed && WIFEXITED(status) && WEXITSTATUS(status) != 0)
        msg_warn("%s: command %s exit status %d", service, p->argv[0] + 5, WEXITSTATUS(status));
    else if (!killed && WIFSIGNALED(status))
        msg_warn("%s: command %s killed by signal %d", service, p->argv[0] + 5, WTERMSIG(status));
}

int deliver_spawn_main(struct worker *w)
{
    const char *service = w->svc && w->svc->name ? w->svc->name : "spawn";
    if (w->nlisten < 1)
        msg_fatal("%s: no listening socket", service);
    struct pipe_spec p;
    char err[512];
    if (deliver_pipe_parse(w->cfg, service, w->svc ? w->svc->args : NULL, w->single_user, &p,
                           err, sizeof(err)) < 0)
        msg_fatal("%s: %s", service, err);
    if (p.time_limit <= 0)
        p.time_limit = 1000;
    worker_stop_signals((const int[]){SIGTERM, 0});
    while (!worker_stopping()) {
        int fd = worker_accept(w->listen_fds[0], SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == 0)
                break;                     /* a stop signal */
            msg_warn("%s: accept: %s", service, strerror(errno));
            sleep(1);
            continue;
        }
        pid_t pid = fork();
        if (pid == 0)
            child(&p, fd, w->single_user);
        close(fd);
        if (pid < 0) {
            msg_warn("%s: fork: %s", service, strerror(errno));
            sleep(1);
            continue;
        }
        wait_child(service, &p, pid);
    }
    return 0;
}

int deliver_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                          size_t errlen)
{
    struct pipe_spec p;
    return deliver_pipe_parse(cfg, svc->name, svc->args, geteuid() != 0, &p, err, errlen);
}
