/*
 * serve.c - a delivery agent's process loop (see serve.h): accepting qmgr
 * connections, reading dproto requests under a timeout, answering them.
 */
#include "deliver/serve.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static sigset_t wait_mask;             /* the mask while waiting: SIGTERM deliverable */

static void on_term(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *serve_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);     /* no SA_RESTART: waits return EINTR */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &wait_mask);
    sigdelset(&wait_mask, SIGTERM);
    return &stop_requested;
}

/*
 * Wait until fd is ready for events. idle: no deadline, and SIGTERM ends
 * the wait. Returns 1 ready, 0 timeout or stop, -1 error.
 */
static int wait_fd(int fd, short events, int64_t deadline_ms, int idle)
{
    for (;;) {
        if (idle && stop_requested)
            return 0;
        struct timespec ts, *tsp = NULL;
        if (!idle) {
            int64_t left = deadline_ms - (int64_t)mono_msec();
            if (left <= 0)
                return 0;
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (left % 1000) * 1000000L;
            tsp = &ts;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = ppoll(&p, 1, tsp, idle ? &wait_mask : NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n > 0)
            return 1;
    }
}

struct reader {
    int fd;
    char buf[2 * DPROTO_LINE_MAX];
    size_t len;
};

/*
 * Next line (without "\n"). 1 = line, 0 = clean EOF or stop between
 * requests, -1 = error, timeout or EOF inside a request, -2 = over-long
 * line or NUL byte.
 */
static int read_line(struct reader *r, char *line, int64_t *deadline, int timeout, int in_request)
{
    for (;;) {
        char *nl = memchr(r->buf, '\n', r->len);
        if (nl) {
            size_t n = (size_t)(nl - r->buf);
            if (memchr(r->buf, '\0', n))
                return -2;
            memcpy(line, r->buf, n);
            line[n] = '\0';
            memmove(r->buf, nl + 1, r->len - n - 1);
            r->len -= n + 1;
            return 1;
        }
        if (r->len >= DPROTO_LINE_MAX)
            return -2;
        int idle = !in_request && r->len == 0;
        int w = wait_fd(r->fd, POLLIN, *deadline, idle);
        if (w <= 0)
            return w < 0 || !idle ? -1 : 0;
        ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
        if (got < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (got <= 0)
            return got == 0 && idle ? 0 : -1;
        if (idle)          /* a request begins: it must arrive in time */
            *deadline = (int64_t)mono_msec() + (int64_t)timeout * 1000;
        r->len += (size_t)got;
    }
}

static int write_all_timeout(int fd, const char *data, size_t len, int timeout)
{
    int64_t deadline = (int64_t)mono_msec() + (int64_t)timeout * 1000;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN)
            return -1;
        if (wait_fd(fd, POLLOUT, deadline, 0) <= 0)
            return -1;
    }
    return 0;
}

/* The reply to one request: a status line per recipient, then ".". */
static char *format_reply(const struct dreq *req, const struct dstatus *st, size_t *len)
{
    struct buf reply;
    buf_init(&reply, 0);
    char line[DPROTO_LINE_MAX + 1];
    for (size_t i = 0; i < req->nrcpts; i++) {
        if (dproto_format_status(&st[i], line, sizeof(line)) < 0) {
            struct dstatus f;
            dstatus_set(&f, req->rcpts[i].idx, "4.3.0", "internal error formatting status");
            dproto_format_status(&f, line, sizeof(line));
        }
        buf_puts(&reply, line);
    }
    buf_puts(&reply, ".\n");
    *len = reply.len;
    return reply.data;
}

int serve_connection(int fd, int request_timeout, serve_fn fn, void *ctx)
{
    struct reader *r = xcalloc(1, sizeof(*r));
    r->fd = fd;
    fd_set_nonblock(fd, 1);
    char *line = xmalloc(DPROTO_LINE_MAX + 1);
    int rc = 0;
    for (;;) {
        struct dreq req;
        dproto_init_request(&req);
        int64_t deadline = (int64_t)mono_msec() + (int64_t)request_timeout * 1000;
        int complete = 0, got;
        while ((got = read_line(r, line, &deadline, request_timeout, req.state != 0)) == 1) {
            complete = dproto_parse_request_line(&req, line);
            if (complete != 0)
                break;
        }
        if (got == 0 && req.state == 0) {
            dproto_free_request(&req);
            break;
        }
        if (got < 0 || complete < 0) {
            if (complete < 0)
                msg_warn("malformed delivery request: %s", req.error);
            else if (got == -2)
                msg_warn("malformed delivery request: over-long line or NUL byte");
            else
                msg_warn("delivery request %s",
                         req.state ? "timed out or was cut off" : "read error");
            dproto_free_request(&req);
            rc = -1;
            break;
        }
        struct dstatus *st = xcalloc(req.nrcpts, sizeof(*st));
        for (size_t i = 0; i < req.nrcpts; i++)
            dstatus_set(&st[i], req.rcpts[i].idx, "4.3.0", "delivery was not attempted");
        fn(ctx, &req, st);
        size_t len;
        char *reply = format_reply(&req, st, &len);
        int wrc = write_all_timeout(fd, reply, len, request_timeout);
        free(reply);
        free(st);
        dproto_free_request(&req);
        if (wrc < 0) {
            msg_warn("cannot send delivery status to qmgr: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (stop_requested)
            break;
    }
    free(line);
    free(r);
    return rc;
}

void serve_loop(const char *name, int lfd, int request_timeout, serve_fn fn, void *ctx)
{
    fd_set_nonblock(lfd, 1);
    while (!stop_requested) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        int n = ppoll(&p, 1, NULL, &wait_mask);
        if (n < 0 && errno != EINTR)
            msg_fatal("%s: poll: %s", name, strerror(errno));
        if (n <= 0 || stop_requested)
            continue;
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                msg_warn("%s: accept: %s", name, strerror(errno));
            continue;                  /* another process took it */
        }
        serve_connection(cfd, request_timeout, fn, ctx);
        close(cfd);
    }
}
