/*
 * conn.c - see conn.h.
 *
 * Input lives in c->in from c->rpos to c->in.len; lines and blobs are
 * taken by moving rpos, and the taken bytes are reclaimed only when the
 * next read needs room, so a line handed out stays where it is until
 * then (no copy per line, no memmove per line).
 */
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_READ_ROOM 4096            /* at least this much room for each read */

struct conn {
    int fd;
    int keep_fd;
    struct buf in, out;
    size_t rpos;                       /* input before this was taken */
    size_t limit;                      /* line limit, LF excluded */
    int flags;
    int skipping;                      /* dropping the rest of an over-long line */
    int last_crlf;
    int eof;
    int full;                          /* the last fill found no room */
    int timed_out;
    short revents;                     /* of the last blocking wait */

    const struct conn_io_ops *ops;     /* NULL: plaintext */
    void *ctx;
    int read_wants_write, write_wants_read;

    /* Event-loop mode. */
    struct evloop *loop;
    struct conn_cb cb;
    void *arg;
    int want_input, block_input, hold;
    int watching;
    size_t highwater;
    int hs_active, hs_events;
    struct ev_timer *hs_timer;

    /* Deadlines (absolute, on now()). */
    uint64_t deadline, total, idle_ms;
    struct ev_timer *timer;
    uint64_t timer_at;
};

static uint64_t now_ms(const struct conn *c)
{
    return c->loop ? ev_now(c->loop) : mono_msec();
}

struct conn *conn_new(int fd, size_t in_max, size_t out_max)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    buf_init(&c->in, in_max);
    buf_init(&c->out, out_max);
    c->limit = in_max > 2 ? in_max - 2 : 1;
    c->highwater = out_max ? out_max / 2 : (size_t)-1;
    return c;
}

void conn_keep_fd(struct conn *c)
{
    c->keep_fd = 1;
}

int conn_fd(const struct conn *c)
{
    return c->fd;
}

void conn_free(struct conn *c)
{
    if (!c)
        return;
    if (c->loop) {
        if (c->timer)
            ev_timer_cancel(c->loop, c->timer);
        if (c->hs_timer)
            ev_timer_cancel(c->loop, c->hs_timer);
        if (c->watching)
            ev_fd_del(c->loop, c->fd);
    }
    if (c->ops && c->ops->release)
        c->ops->release(c->ctx);
    if (!c->keep_fd && c->fd >= 0)
        close(c->fd);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

/* ---- input ---- */

void conn_set_lines(struct conn *c, size_t limit, int flags)
{
    INVARIANT(limit > 0);
    c->limit = limit;
    c->flags = flags;
}

int conn_line_crlf(const struct conn *c)
{
    return c->last_crlf;
}

/* Drop input up to and including the next LF; 1 when the LF was found. */
static int skip_rest(struct conn *c)
{
    char *p = c->in.data + c->rpos;
    char *lf = memchr(p, '\n', c->in.len - c->rpos);
    if (!lf) {
        c->rpos = c->in.len;
        return 0;
    }
    c->rpos += (size_t)(lf - p) + 1;
    c->skipping = 0;
    return 1;
}

enum conn_line_result conn_line(struct conn *c, char **line, size_t *len)
{
    if (c->skipping && !skip_rest(c))
        return CONN_NEED;
    size_t avail = c->in.len - c->rpos;
    if (avail == 0)
        return CONN_NEED;
    char *p = c->in.data + c->rpos;
    size_t scan = c->limit + 1 + ((c->flags & CONN_CRLF) ? 1 : 0);
    if (scan > avail)
        scan = avail;
    char *lf = memchr(p, '\n', scan);
    if (!lf) {
        if (avail < scan || avail <= c->limit + ((c->flags & CONN_CRLF) ? 1 : 0))
            return CONN_NEED;
        /* Over-long: report its beginning, drop the rest up to its LF. */
        *line = p;
        *len = c->limit;
        c->rpos += c->limit;
        c->skipping = 1;
        return CONN_LONG;
    }
    size_t n = (size_t)(lf - p);
    c->rpos += n + 1;
    c->last_crlf = 0;
    if ((c->flags & CONN_CRLF) && n > 0 && p[n - 1] == '\r') {
        c->last_crlf = 1;
        n--;
    }
    *line = p;
    if (n > c->limit) {
        *len = c->limit;
        return CONN_LONG;
    }
    p[n] = '\0';
    *len = n;
    return CONN_LINE;
}

size_t conn_peek(const struct conn *c, char **data)
{
    *data = c->in.data + c->rpos;
    return c->in.len - c->rpos;
}

void conn_consume(struct conn *c, size_t n)
{
    INVARIANT(n <= c->in.len - c->rpos);
    c->rpos += n;
}

size_t conn_blob(struct conn *c, size_t max, char **data)
{
    size_t n = conn_peek(c, data);
    if (n > max)
        n = max;
    c->rpos += n;
    return n;
}

size_t conn_discard_input(struct conn *c)
{
    size_t n = c->in.len - c->rpos;
    c->rpos = 0;
    buf_reset(&c->in);
    c->skipping = 0;
    return n;
}

/* Make room for a read: reclaim what was taken. */
static int make_room(struct conn *c)
{
    if (c->rpos > 0) {
        size_t left = c->in.len - c->rpos;
        if (left)
            memmove(c->in.data, c->in.data + c->rpos, left);
        c->in.len = left;
        c->in.data[left] = '\0';
        c->rpos = 0;
    }
    size_t want = CONN_READ_ROOM;
    if (c->in.limit) {
        if (c->in.len >= c->in.limit)
            return -1;
        if (c->in.limit - c->in.len < want)
            want = c->in.limit - c->in.len;
    }
    return buf_reserve(&c->in, want);
}

/* Room for the next read: up to the capacity, never past the limit. */
static size_t read_room(const struct conn *c)
{
    size_t room = c->in.cap - c->in.len - 1;
    if (c->in.limit && c->in.limit - c->in.len < room)
        room = c->in.limit - c->in.len;
    return room;
}

/* n bytes moved: the idle deadline moves with them. */
static void progress(struct conn *c)
{
    if (c->idle_ms)
        conn_deadline_in(c, c->idle_ms);
}

/* One read through the layer. > 0 bytes, 0 nothing now, -1 EOF or error. */
static ssize_t read_once(struct conn *c, char *p, size_t room)
{
    for (;;) {
        ssize_t r;
        if (c->ops) {
            int want = 0;
            r = c->ops->read(c->ctx, p, room, &want);
            c->read_wants_write = 0;
            if (r < 0) {
                if (want == CONN_WANT_READ)
                    return 0;
                if (want == CONN_WANT_WRITE) {
                    c->read_wants_write = 1;
                    return 0;
                }
                if (errno == 0)
                    errno = ECONNRESET;
                return -1;
            }
        } else {
            r = recv(c->fd, p, room, 0);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
        }
        if (r == 0) {
            c->eof = 1;
            errno = 0;
            return -1;
        }
        return r;
    }
}

int conn_fill(struct conn *c)
{
    int got = 0;
    for (;;) {
        c->full = 0;
        if (make_room(c) < 0) {
            c->full = 1;
            return got;                /* full of input the owner cannot use yet */
        }
        ssize_t r = read_once(c, c->in.data + c->in.len, read_room(c));
        if (r < 0)
            return -1;
        if (r == 0)
            return got;
        c->in.len += (size_t)r;
        c->in.data[c->in.len] = '\0';
        got = 1;
        progress(c);
        if (c->cb.input)
            c->cb.input(c, c->arg, (size_t)r);
        /* Plaintext: one read per call (epoll is level-triggered). A layer:
         * drain what it already holds, or no event will announce it. */
        if (!c->ops || !c->ops->pending || c->ops->pending(c->ctx) <= 0)
            return 1;
    }
}

size_t conn_feed(struct conn *c, const void *data, size_t len)
{
    size_t done = 0;
    while (done < len && make_room(c) == 0) {
        size_t n = read_room(c);
        if (n > len - done)
            n = len - done;
        if (n == 0)
            break;
        memcpy(c->in.data + c->in.len, (const char *)data + done, n);
        c->in.len += n;
        c->in.data[c->in.len] = '\0';
        done += n;
    }
    return done;
}

int conn_pending(const struct conn *c)
{
    return c->ops && c->ops->pending && c->ops->pending(c->ctx) > 0;
}

int conn_eof(const struct conn *c)
{
    return c->eof;
}

/* ---- output ---- */

struct buf *conn_out(struct conn *c)
{
    return &c->out;
}

int conn_write(struct conn *c, const void *data, size_t len)
{
    return buf_append(&c->out, data, len);
}

int conn_printf(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&c->out, fmt, ap);
    va_end(ap);
    return r;
}

size_t conn_out_len(const struct conn *c)
{
    return c->out.len;
}

/* One write through the layer. > 0 bytes, 0 blocked (*want set), -1 error. */
static ssize_t write_once(struct conn *c, const char *data, size_t len, short *want)
{
    for (;;) {
        if (c->ops) {
            int w = 0;
            ssize_t n = c->ops->write(c->ctx, data, len, &w);
            c->write_wants_read = 0;
            if (n > 0)
                return n;
            if (n < 0 && w == CONN_WANT_WRITE) {
                *want = POLLOUT;
                return 0;
            }
            if (n < 0 && w == CONN_WANT_READ) {
                c->write_wants_read = 1;
                *want = POLLIN;
                return 0;
            }
            if (errno == 0)
                errno = ECONNRESET;
            return -1;
        }
        ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
        if (n > 0)
            return n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            *want = POLLOUT;
            return 0;
        }
        return -1;
    }
}

int conn_flush(struct conn *c)
{
    while (c->out.len > 0) {
        short want = 0;
        ssize_t n = write_once(c, c->out.data, c->out.len, &want);
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        buf_consume(&c->out, (size_t)n);
        progress(c);
    }
    return 0;
}

/* ---- layers ---- */

size_t conn_layer_install(struct conn *c, const struct conn_io_ops *ops, void *ctx)
{
    INVARIANT(c->ops == NULL);
    INVARIANT(c->out.len == 0);
    /* Everything read so far was plaintext: never input of the new layer. */
    size_t dropped = conn_discard_input(c);
    c->ops = ops;
    c->ctx = ctx;
    c->read_wants_write = c->write_wants_read = 0;
    c->eof = 0;
    return dropped;
}

void conn_layer_drop(struct conn *c)
{
    if (c->ops && c->ops->release)
        c->ops->release(c->ctx);
    c->ops = NULL;
    c->ctx = NULL;
    c->read_wants_write = c->write_wants_read = 0;
}

void *conn_layer(const struct conn *c)
{
    return c->ctx;
}

void conn_shutdown(struct conn *c)
{
    if (c->ops && c->ops->shutdown)
        c->ops->shutdown(c->ctx);
}

static void hs_end(struct conn *c, int result)
{
    if (c->hs_timer)
        ev_timer_cancel(c->loop, c->hs_timer);
    c->hs_timer = NULL;
    c->hs_active = 0;
    c->hs_events = 0;
    c->cb.handshake(c, c->arg, result);
}

static void hs_timeout(void *arg)
{
    struct conn *c = arg;
    c->hs_timer = NULL;
    hs_end(c, -2);
}

static void hs_step(struct conn *c)
{
    int r = c->ops->handshake(c->ctx);
    if (r == CONN_WANT_READ || r == CONN_WANT_WRITE) {
        c->hs_events = r == CONN_WANT_READ ? EV_READ : EV_WRITE;
        conn_update(c);
        return;
    }
    hs_end(c, r == 0 ? 0 : -1);
}

void conn_handshake(struct conn *c, uint64_t timeout_ms)
{
    INVARIANT(c->ops && c->ops->handshake && c->loop && c->cb.handshake);
    c->hs_active = 1;
    if (timeout_ms)
        c->hs_timer = ev_timer_add(c->loop, timeout_ms, hs_timeout, c);
    hs_step(c);
}

/* ---- event-loop mode ---- */

static void conn_io(int fd, int events, void *arg)
{
    (void)fd;
    struct conn *c = arg;
    if (c->hs_active) {
        hs_step(c);
        return;
    }
    if (!c->block_input &&
        ((events & EV_READ) || ((events & EV_WRITE) && c->read_wants_write))) {
        if (conn_fill(c) < 0) {
            if (c->cb.lost)
                c->cb.lost(c, c->arg);
            return;
        }
    }
    c->cb.ready(c, c->arg);
}

static uint64_t effective_deadline(const struct conn *c)
{
    if (c->deadline && c->total)
        return c->deadline < c->total ? c->deadline : c->total;
    return c->deadline ? c->deadline : c->total;
}

static void on_timer(void *arg);

/* The timer may fire before the deadline (it moved later since): it then re-arms. */
static void arm_timer(struct conn *c)
{
    if (!c->loop)
        return;
    uint64_t at = effective_deadline(c);
    if (at == 0)
        return;
    if (c->timer) {
        if (c->timer_at <= at)
            return;                    /* fires early and re-arms itself lazily */
        ev_timer_cancel(c->loop, c->timer);
        c->timer = NULL;
    }
    uint64_t now = ev_now(c->loop);
    uint64_t delay = at > now ? at - now : 0;
    c->timer = ev_timer_add(c->loop, delay, on_timer, c);
    c->timer_at = now + delay;
}

static void on_timer(void *arg)
{
    struct conn *c = arg;
    c->timer = NULL;
    uint64_t at = effective_deadline(c);
    if (at == 0)
        return;
    uint64_t now = ev_now(c->loop);
    if (now + 50 < at) {               /* 50 ms slack: not worth another wakeup */
        c->timer = ev_timer_add(c->loop, at - now, on_timer, c);
        c->timer_at = at;
        return;
    }
    c->timed_out = 1;
    if (c->cb.deadline)
        c->cb.deadline(c, c->arg);
}

void conn_attach(struct conn *c, struct evloop *loop, const struct conn_cb *cb, void *arg)
{
    INVARIANT(cb && cb->ready);
    c->loop = loop;
    c->cb = *cb;
    c->arg = arg;
    c->want_input = 1;
    arm_timer(c);
}

void conn_want_input(struct conn *c, int on)
{
    c->want_input = on;
}

void conn_block_input(struct conn *c, int on)
{
    c->block_input = on;
}

void conn_hold(struct conn *c, int on)
{
    c->hold = on;
}

void conn_set_highwater(struct conn *c, size_t bytes)
{
    c->highwater = bytes;
}

int conn_output_blocked(const struct conn *c)
{
    return c->out.len >= c->highwater;
}

void conn_update(struct conn *c)
{
    if (!c->loop)
        return;
    int ev = 0;
    if (c->hs_active) {
        ev = c->hs_events;
    } else if (!c->hold) {
        if (c->want_input && !c->block_input && c->out.len < c->highwater)
            ev |= EV_READ;
        if (c->out.len > 0)
            ev |= c->write_wants_read ? EV_READ : EV_WRITE;
        if (c->read_wants_write)
            ev |= EV_WRITE;
    }
    if (ev == c->watching)
        return;
    if (c->watching == 0)
        ev_fd_add(c->loop, c->fd, ev, conn_io, c);
    else if (ev == 0)
        ev_fd_del(c->loop, c->fd);
    else
        ev_fd_mod(c->loop, c->fd, ev);
    c->watching = ev;
}

/* ---- deadlines ---- */

void conn_deadline_at(struct conn *c, uint64_t abs_ms)
{
    c->deadline = abs_ms;
    c->timed_out = 0;
    arm_timer(c);
}

void conn_deadline_in(struct conn *c, uint64_t ms)
{
    conn_deadline_at(c, now_ms(c) + ms);
}

uint64_t conn_deadline(const struct conn *c)
{
    return c->deadline;
}

void conn_set_idle(struct conn *c, uint64_t idle_ms)
{
    c->idle_ms = idle_ms;
    if (idle_ms)
        conn_deadline_in(c, idle_ms);
}

void conn_set_total(struct conn *c, uint64_t abs_ms)
{
    c->total = abs_ms;
    arm_timer(c);
}

void conn_deadline_clear(struct conn *c)
{
    c->deadline = 0;
    c->idle_ms = 0;
    c->timed_out = 0;
    if (c->timer && c->loop && !c->total) {
        ev_timer_cancel(c->loop, c->timer);
        c->timer = NULL;
    }
}

int conn_timed_out(const struct conn *c)
{
    return c->timed_out;
}

/* ---- blocking mode ---- */

static int wait_until(struct conn *c, short events, uint64_t at, const sigset_t *mask)
{
    for (;;) {
        struct timespec ts, *tsp = NULL;
        if (at) {
            uint64_t now = mono_msec();
            if (now >= at) {
                c->timed_out = 1;
                return 0;
            }
            uint64_t left = at - now;
            ts.tv_sec = (time_t)(left / 1000);
            ts.tv_nsec = (long)(left % 1000) * 1000000L;
            tsp = &ts;
        }
        struct pollfd p = {.fd = c->fd, .events = events};
        int n = ppoll(&p, 1, tsp, mask);
        if (n < 0 && errno == EINTR) {
            if (mask)
                return CONN_INTR;
            continue;
        }
        if (n < 0)
            return -1;
        if (n > 0) {
            c->revents = p.revents;
            return 1;
        }
    }
}

int conn_wait(struct conn *c, short events, const sigset_t *mask)
{
    return wait_until(c, events, effective_deadline(c), mask);
}

int conn_fill_wait(struct conn *c)
{
    for (;;) {
        int r = conn_fill(c);
        if (r > 0)
            return 1;
        if (r < 0)
            return c->eof ? CONN_EOF : CONN_ERROR;
        if (c->full)
            return CONN_ERROR;         /* nothing the owner takes: it never will */
        int w = conn_wait(c, c->read_wants_write ? POLLOUT : POLLIN, NULL);
        if (w == 0)
            return CONN_TIMEOUT;
        if (w < 0)
            return CONN_ERROR;
    }
}

enum conn_line_result conn_line_wait(struct conn *c, char **line, size_t *len)
{
    for (;;) {
        enum conn_line_result r = conn_line(c, line, len);
        if (r != CONN_NEED)
            return r;
        int f = conn_fill_wait(c);
        if (f == CONN_EOF && (c->in.len > c->rpos || c->skipping))
            return CONN_ERROR;         /* EOF inside a line */
        if (f != 1)
            return (enum conn_line_result)f;
    }
}

/* Write data (not queued) within the deadline, reading what arrives meanwhile. */
static int send_all(struct conn *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        short want = 0;
        ssize_t n = write_once(c, data + off, len - off, &want);
        if (n < 0)
            return -1;
        if (n > 0) {
            off += (size_t)n;
            progress(c);
            continue;
        }
        /* Blocked: wait until we can go on, reading what the peer says meanwhile
         * so that neither side waits for the other with full buffers. */
        int room = c->rpos > 0 || !c->in.limit || c->in.len < c->in.limit;
        short ev = (short)(want | (room ? POLLIN : 0));
        int w = conn_wait(c, ev, NULL);
        if (w <= 0)
            return -1;
        if (room && (c->revents & (POLLIN | POLLHUP | POLLERR)) && !(want == POLLIN && c->ops) &&
            conn_fill(c) < 0)
            return -1;                 /* the peer went away */
    }
    return 0;
}

int conn_flush_wait(struct conn *c)
{
    if (c->out.len == 0)
        return 0;
    int r = send_all(c, c->out.data, c->out.len);
    if (r == 0)
        buf_reset(&c->out);
    return r;
}

int conn_write_wait(struct conn *c, const void *data, size_t len)
{
    if (conn_flush_wait(c) < 0)
        return -1;
    return send_all(c, data, len);
}

int conn_handshake_wait(struct conn *c, int timeout_ms)
{
    INVARIANT(c->ops && c->ops->handshake);
    uint64_t at = mono_msec() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
    for (;;) {
        int r = c->ops->handshake(c->ctx);
        if (r == 0)
            return 0;
        if (r != CONN_WANT_READ && r != CONN_WANT_WRITE)
            return -1;
        int w = wait_until(c, r == CONN_WANT_READ ? POLLIN : POLLOUT, at, NULL);
        if (w <= 0)
            return w == 0 ? -2 : -1;
    }
}

/* ---- peer ---- */

int fd_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cl != sizeof(cred))
        return -1;
    if (uid)
        *uid = cred.uid;
    if (gid)
        *gid = cred.gid;
    if (pid)
        *pid = cred.pid;
    return 0;
}

int conn_peer_cred(const struct conn *c, uid_t *uid, gid_t *gid, pid_t *pid)
{
    return fd_peer_cred(c->fd, uid, gid, pid);
}
