/*
 * mailworker.c - the launcher side and the life of a mail worker process
 * (see mailworker.h).
 */
#include "lib-login/mailworker.h"

#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void title(const struct login_worker *w)
{
    proctitle_set(w->role, "%s: mail uid=%lu sessions=%zu", w->role, (unsigned long)w->uid,
                  w->nsessions);
}

struct conn *login_worker_session(struct login_worker *w, struct login_msg *m, size_t in_max,
                                  size_t out_max, const struct conn_cb *cb, void *arg,
                                  unsigned timeout_ms)
{
    INVARIANT(m->fd >= 0);
    fd_set_nonblock(m->fd, 1);
    struct conn *c = conn_new(m->fd, in_max, out_max);
    m->fd = -1;
    conn_attach(c, w->loop, cb, arg);
    conn_set_idle(c, timeout_ms);
    conn_deadline_in(c, timeout_ms);
    if (m->data_len)
        conn_feed(c, m->data, m->data_len);
    w->nsessions++;
    title(w);
    return c;
}

void login_worker_session_end(struct login_worker *w, const char *user, const char *rip)
{
    INVARIANT(w->nsessions > 0);
    if (w->sock >= 0) {
        const char *f[] = {"END", user, rip};
        login_msg_send(w->sock, f, 3, NULL, 0, -1);
    }
    w->nsessions--;
    title(w);
    if (w->nsessions == 0 && (w->stopping || w->sock < 0))
        ev_loop_stop(w->loop);
}

static void on_launcher(int fd, int events, void *arg)
{
    (void)events;
    struct login_worker *w = arg;
    for (;;) {
        struct login_msg m;
        int r = login_msg_recv(fd, &m);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* the launcher is gone: serve the sessions we have, then exit */
            ev_fd_del(w->loop, fd);
            close(fd);
            w->sock = -1;
            if (w->nsessions == 0)
                ev_loop_stop(w->loop);
            return;
        }
        if (strcmp(m.fields[0], "SESSION") == 0) {
            if (m.nfields < 8 || m.fd < 0)
                msg_warn("%s mail worker: malformed session from the launcher", w->role);
            else
                w->start(w, &m);
        }
        login_msg_free(&m);
    }
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct login_worker *w = arg;
    w->stopping = 1;
    w->stop(w);
    ev_loop_stop(w->loop);
}

void login_worker_run(struct login_worker *w, int sock, uid_t uid)
{
    w->sock = sock;
    w->uid = uid;
    signal(SIGPIPE, SIG_IGN);
    w->loop = ev_loop_new();
    title(w);
    fd_set_nonblock(sock, 1);
    ev_fd_add(w->loop, sock, EV_READ, on_launcher, w);
    ev_signal_add(w->loop, SIGTERM, on_sigterm, w);
    ev_loop_run(w->loop);
    _exit(0);
}
