/*
 * stopsig.c - stop signals and accepting for blocking workers (stopsig.h).
 */
#include "lib-master/stopsig.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask;
static int installed;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

void worker_stop_signals(const int *sigs)
{
    INVARIANT(!installed);
    installed = 1;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;           /* no SA_RESTART: waits return EINTR */
    sigemptyset(&sa.sa_mask);
    sigset_t block;
    sigemptyset(&block);
    for (const int *s = sigs; *s; s++) {
        sigaction(*s, &sa, NULL);
        sigaddset(&block, *s);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    for (const int *s = sigs; *s; s++)
        sigdelset(&wait_mask, *s);
}

int worker_stopping(void)
{
    return stop_requested != 0;
}

const sigset_t *worker_wait_mask(void)
{
    return &wait_mask;                 /* not installed (unit tests): the empty set */
}

int worker_accept(int lfd, int flags)
{
    /* Non-blocking, so a connection another process took (or a client gone
     * before the accept) sends us back to the wait, where a stop signal is
     * seen, instead of into an accept that blocks with the signals blocked. */
    (void)fd_set_nonblock(lfd, 1);
    for (;;) {
        if (stop_requested) {
            errno = 0;
            return -1;
        }
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int n = ppoll(&p, 1, NULL, &wait_mask);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, flags);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            return -1;
    }
}
