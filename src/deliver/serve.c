/*
 * serve.c - a delivery agent's process loop (see serve.h): accepting qmgr
 * connections, reading dproto requests under a timeout, answering them.
 * Each qmgr connection is a connection object in blocking mode
 * (lib/conn.h): lines up to DPROTO_LINE_MAX, the request's deadline.
 */
#include "deliver/serve.h"
#include "lib-master/stopsig.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Between requests: wait for the next one without a deadline (SIGTERM
 * ends the wait), then give it request_timeout to arrive complete. 1 a
 * request begins, 0 clean EOF or stop, -1 error.
 */
static int wait_request(struct conn *c, int timeout)
{
    char *p;
    if (conn_peek(c, &p) > 0)
        return 1;
    conn_deadline_clear(c);
    for (;;) {
        if (worker_stopping())
            return 0;
        int w = conn_wait(c, POLLIN, worker_wait_mask());
        if (w == CONN_INTR)
            continue;
        if (w < 0)
            return -1;
        break;
    }
    conn_deadline_in(c, (uint64_t)timeout * 1000);   /* a request begins: it must arrive in time */
    if (conn_fill(c) < 0)
        return conn_eof(c) ? 0 : -1;
    return 1;
}

/*
 * Next line (without "\n"). 1 = line, 0 = clean EOF or stop between
 * requests, -1 = error, timeout or EOF inside a request, -2 = over-long
 * line or NUL byte.
 */
static int read_line(struct conn *c, char **line, int timeout, int in_request)
{
    if (!in_request) {
        int w = wait_request(c, timeout);
        if (w <= 0)
            return w;
    }
    size_t len;
    switch (conn_line_wait(c, line, &len)) {
    case CONN_LINE:
        return memchr(*line, '\0', len) ? -2 : 1;
    case CONN_LONG:
        return -2;
    default:
        return -1;
    }
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

int deliver_serve_connection(int fd, int request_timeout, serve_fn fn, void *ctx)
{
    fd_set_nonblock(fd, 1);
    struct conn *c = conn_new(fd, 2 * DPROTO_LINE_MAX, 0);
    conn_keep_fd(c);                   /* the caller closes it */
    conn_set_lines(c, DPROTO_LINE_MAX - 1, 0);
    char *line;
    int rc = 0;
    for (;;) {
        struct dreq req;
        dproto_init_request(&req);
        conn_deadline_in(c, (uint64_t)request_timeout * 1000);
        int complete = 0, got;
        while ((got = read_line(c, &line, request_timeout, req.state != 0)) == 1) {
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
        conn_deadline_in(c, (uint64_t)request_timeout * 1000);
        int wrc = conn_write_wait(c, reply, len);
        free(reply);
        free(st);
        dproto_free_request(&req);
        if (wrc < 0) {
            msg_warn("cannot send delivery status to qmgr: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (worker_stopping())
            break;
    }
    conn_free(c);
    return rc;
}

void deliver_serve_loop(const char *name, int lfd, int request_timeout, serve_fn fn, void *ctx)
{
    fd_set_nonblock(lfd, 1);
    for (;;) {
        int cfd = worker_accept(lfd, SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == 0)
                break;                 /* SIGTERM */
            msg_warn("%s: accept: %s", name, strerror(errno));
            continue;
        }
        deliver_serve_connection(cfd, request_timeout, fn, ctx);
        close(cfd);
    }
}
