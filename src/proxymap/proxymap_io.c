/*
 * proxymap_io.c - the socket side of one proxymap process: waiting for a
 * connection (SIGTERM ends the wait), reading the one request line under
 * a deadline, writing the reply. Kept apart from proxymap.c so that it
 * moves onto the connection layer in one piece.
 */
#include "proxymap/proxymap.h"
#include "lib-table/tableproto.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PMAP_IO_TIMEOUT_MS 10000    /* a client sends its request at once */

static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask;          /* while idle: SIGTERM deliverable */

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *proxymap_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    return &stop_requested;
}

int proxymap_accept(int lfd)
{
    for (;;) {
        if (stop_requested)
            return -1;
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int n = ppoll(&p, 1, NULL, &wait_mask);
        if (n < 0 && errno != EINTR)
            return -1;
        if (n <= 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            msg_warn("accept: %s", strerror(errno));
            return -1;
        }
    }
}

/* Wait until fd is ready before the deadline: 1, or 0 on timeout/error. */
static int wait_ready(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = mono_msec();
        if (now >= deadline)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return 0;
    }
}

/* One line into in; its length without LF in *len. 0, or -1 (logged). */
static int read_request(int fd, struct buf *in, size_t *len, uint64_t deadline)
{
    for (;;) {
        char *lf = in->len ? memchr(in->data, '\n', in->len) : NULL;
        if (lf) {
            *len = (size_t)(lf - in->data);
            return 0;
        }
        if (buf_reserve(in, 4096) < 0) {
            msg_warn("proxymap request too long");
            return -1;
        }
        ssize_t n = recv(fd, in->data + in->len, 4096, 0);
        if (n > 0) {
            in->len += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_ready(fd, POLLIN, deadline)) {
                msg_warn("proxymap request timed out");
                return -1;
            }
            continue;
        }
        if (n < 0 || in->len)
            msg_warn("proxymap request cut off");
        return -1;
    }
}

static void send_reply(int fd, const struct buf *out, uint64_t deadline)
{
    size_t off = 0;
    while (off < out->len) {
        ssize_t n = send(fd, out->data + off, out->len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_ready(fd, POLLOUT, deadline))
                return;
        } else {
            return;     /* the client went away: nothing to tell it */
        }
    }
}

void proxymap_serve(int fd, struct pmap_tables *pt)
{
    struct buf in, out;
    buf_init(&in, TPROTO_REQUEST_MAX + 1);
    buf_init(&out, TPROTO_REPLY_MAX + 1);
    size_t len;
    if (read_request(fd, &in, &len, mono_msec() + PMAP_IO_TIMEOUT_MS) == 0) {
        proxymap_answer(pt, in.data, len, &out);
        send_reply(fd, &out, mono_msec() + PMAP_IO_TIMEOUT_MS);
    }
    buf_free(&in);
    buf_free(&out);
    close(fd);
}
