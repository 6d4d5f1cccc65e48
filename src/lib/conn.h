/*
 * conn.h - the one connection object: a socket with bounded input and
 * output buffers, line and blob reading, flow control, deadlines, a
 * pluggable I/O layer (plaintext or TLS) and peer credentials.
 *
 * Owns: every read from and write to a protocol socket (SMTP server and
 * client, the auth protocol both ways, qmgr's client and transport
 * connections, the delivery agents, local submission); the splitting of
 * input into lines with a limit; the TLS want-read/want-write dance (the
 * layer reports what it waits for, conn.c turns it into poll/epoll
 * events); and the STARTTLS injection rule: installing a layer throws away
 * the plaintext input already buffered (conn_layer_install() returns how
 * much, so the caller can log it), so that bytes a client pipelined after
 * STARTTLS are never read as commands inside TLS.
 *
 * Two ways to use it:
 *   event-loop mode  conn_attach(): the loop calls cb->ready after reading
 *                    (or when the socket became writable); the owner takes
 *                    lines/blobs out, queues replies, calls conn_flush().
 *                    Input is not read while the owner does not want it
 *                    (conn_want_input) or while the output queue is above
 *                    its high-water mark (a client that does not read its
 *                    replies stops being read). A deadline (conn_deadline_*)
 *                    calls cb->deadline.
 *   blocking mode    conn_line_wait(), conn_flush_wait(), conn_write_wait():
 *                    poll(2) on the fd up to the connection's deadline.
 *
 * Lines: conn_line() returns a pointer into the input buffer, terminated
 * in place (no copy); it stays valid until the next call that reads from
 * the socket (conn_fill and the *_wait calls). A line longer than the
 * limit is reported once as CONN_LONG (its first `limit` bytes, not
 * terminated) and the rest of it, up to its LF, is dropped.
 */
#ifndef YUBIN_CONN_H
#define YUBIN_CONN_H

#include "lib/buf.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct evloop;
struct ev_timer;
struct conn;

/* What an I/O layer waits for (the same values as lib-tls's TLS_WANT_*). */
#define CONN_WANT_READ  1
#define CONN_WANT_WRITE 2

/*
 * An I/O layer over the fd. read/write: bytes (> 0), 0 for EOF (read
 * only), or -1 with *want = CONN_WANT_READ/WRITE (try again when the fd is
 * ready for that) or 0 (an error; errno may say which). handshake: 0 done,
 * CONN_WANT_* again later, -1 failed. pending: bytes the layer holds that
 * no readiness event will announce. release frees the layer's state.
 */
struct conn_io_ops {
    const char *name;
    ssize_t (*read)(void *ctx, void *buf, size_t len, int *want);
    ssize_t (*write)(void *ctx, const void *buf, size_t len, int *want);
    int (*pending)(void *ctx);
    int (*handshake)(void *ctx);
    void (*shutdown)(void *ctx);
    void (*release)(void *ctx);
};

/* Event-loop callbacks; arg is conn_attach's. Any may be NULL but ready. */
struct conn_cb {
    void (*ready)(struct conn *c, void *arg);        /* input read or socket writable */
    void (*lost)(struct conn *c, void *arg);         /* EOF or error while reading */
    void (*deadline)(struct conn *c, void *arg);     /* the deadline passed */
    void (*handshake)(struct conn *c, void *arg, int ok); /* the layer's handshake ended */
    void (*input)(struct conn *c, void *arg, size_t n);   /* n bytes arrived (accounting) */
};

/* conn_line() and conn_line_wait() results. */
enum conn_line_result {
    CONN_ERROR = -2,   /* (wait) the connection broke, or EOF inside a line */
    CONN_TIMEOUT = -1, /* (wait) the deadline passed */
    CONN_NEED = 0,     /* no complete line buffered */
    CONN_LINE = 1,     /* *line, *len: one line, LF (and CR with CONN_CRLF) removed */
    CONN_LONG = 2,     /* longer than the limit: *line, *len = its first `limit` bytes */
    CONN_EOF = 3,      /* (wait) clean EOF between lines */
};

#define CONN_CRLF 0x1      /* remove a CR before the LF (conn_line_crlf() says if there was one) */

struct conn *conn_new(int fd, size_t in_max, size_t out_max);
/* Release the layer, stop watching, free; closes the fd unless conn_keep_fd(). */
void conn_free(struct conn *c);
void conn_keep_fd(struct conn *c);
int conn_fd(const struct conn *c);

/* Lines of at most limit bytes (LF excluded), flags CONN_CRLF. */
void conn_set_lines(struct conn *c, size_t limit, int flags);
enum conn_line_result conn_line(struct conn *c, char **line, size_t *len);
int conn_line_crlf(const struct conn *c);   /* the last line ended in CR LF */
/* Buffered input (not yet taken): for decoders that consume it themselves. */
size_t conn_peek(const struct conn *c, char **data);
void conn_consume(struct conn *c, size_t n);
/* Up to max buffered bytes as one piece (a BDAT chunk, a literal): the count taken. */
size_t conn_blob(struct conn *c, size_t max, char **data);
/* Throw away buffered input; returns how many bytes. */
size_t conn_discard_input(struct conn *c);

/*
 * Read what the socket (or layer) has now: plaintext reads once per call;
 * a layer is drained of what it already holds. 1 bytes arrived, 0 nothing
 * now (or the input buffer is full), -1 EOF or error.
 */
int conn_fill(struct conn *c);
/* Append bytes to the input as if read (fuzzers, tests); returns how many fit. */
size_t conn_feed(struct conn *c, const void *data, size_t len);
/* The layer holds input no readiness event will announce. */
int conn_pending(const struct conn *c);
int conn_eof(const struct conn *c);

/* Output: the queue itself (append with buf_*), or conn_write/conn_printf. */
struct buf *conn_out(struct conn *c);
int conn_write(struct conn *c, const void *data, size_t len);
int conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t conn_out_len(const struct conn *c);
/* Write what can be written now (event mode: then conn_update()). 0, or -1 broken. */
int conn_flush(struct conn *c);

/* ---- layers (TLS) ---- */

/*
 * Install a layer on the connection. The plaintext input already buffered
 * is discarded (the injection rule); the return value is how many bytes.
 * Output must have been flushed. Wrapper mode installs before any read.
 * Then conn_handshake() (event mode) or conn_handshake_wait() (blocking).
 */
size_t conn_layer_install(struct conn *c, const struct conn_io_ops *ops, void *ctx);
/* Remove and release the layer (after a failed handshake: plaintext again). */
void conn_layer_drop(struct conn *c);
void *conn_layer(const struct conn *c);        /* the layer's ctx, NULL: plaintext */
/*
 * Event mode: run the handshake; cb->handshake(result) when it ends: 0 done,
 * -1 failed (the layer said why), -2 timed out (timeout_ms; 0: none).
 */
void conn_handshake(struct conn *c, uint64_t timeout_ms);
/* Blocking: 0 done, -1 failed, -2 timed out. */
int conn_handshake_wait(struct conn *c, int timeout_ms);
/* Close the layer politely (TLS close_notify); no effect in plaintext. */
void conn_shutdown(struct conn *c);

/* ---- event-loop mode ---- */

void conn_attach(struct conn *c, struct evloop *loop, const struct conn_cb *cb, void *arg);
/* Whether the owner wants input now (flow control adds the output high-water mark). */
void conn_want_input(struct conn *c, int on);
/* Never read (between "220 Ready to start TLS" and installing the layer). */
void conn_block_input(struct conn *c, int on);
/* Watch nothing at all until released (a paused session: no reads, no writes). */
void conn_hold(struct conn *c, int on);
/* Register the events the connection needs now (conn_flush does this too). */
void conn_update(struct conn *c);
/* Output above this many bytes stops input (default out_max / 2). */
void conn_set_highwater(struct conn *c, size_t bytes);
int conn_output_blocked(const struct conn *c);

/*
 * Deadlines (event mode: cb->deadline; blocking mode: the *_wait calls
 * give up). The deadline is an absolute time on the loop's clock (blocking
 * mode: mono_msec()). idle_ms > 0: each read moves it idle_ms ahead.
 * total: never later than this (0: none). The timer re-arms lazily, so
 * moving the deadline costs no timer-heap work.
 */
void conn_deadline_in(struct conn *c, uint64_t ms);
void conn_deadline_at(struct conn *c, uint64_t abs_ms);
uint64_t conn_deadline(const struct conn *c);
void conn_set_idle(struct conn *c, uint64_t idle_ms);
void conn_set_total(struct conn *c, uint64_t abs_ms);
void conn_deadline_clear(struct conn *c);

/* ---- blocking mode ---- */

/*
 * Wait for events (POLLIN/POLLOUT) until the deadline (none set: forever;
 * with mask non-NULL the wait uses ppoll with that signal mask and returns
 * CONN_INTR on a signal). 1 ready, 0 deadline, -1 error, CONN_INTR.
 */
#define CONN_INTR (-3)
int conn_wait(struct conn *c, short events, const sigset_t *mask);
/* One line within the deadline: CONN_LINE, CONN_LONG, CONN_EOF, CONN_TIMEOUT, CONN_ERROR. */
enum conn_line_result conn_line_wait(struct conn *c, char **line, size_t *len);
/* Read more input within the deadline: 1, or CONN_EOF / CONN_TIMEOUT / CONN_ERROR. */
int conn_fill_wait(struct conn *c);
/*
 * Send the output queue, then data (not copied), within the deadline;
 * what the peer sends meanwhile is read into the input buffer while it
 * has room, so neither side can wait for the other with full buffers.
 * 0, or -1 (conn_timed_out() says whether the deadline passed).
 */
int conn_flush_wait(struct conn *c);
int conn_write_wait(struct conn *c, const void *data, size_t len);
int conn_timed_out(const struct conn *c);

/* ---- peer ---- */

/* UNIX-socket peer credentials (SO_PEERCRED). 0, or -1. */
int conn_peer_cred(const struct conn *c, uid_t *uid, gid_t *gid, pid_t *pid);
int fd_peer_cred(int fd, uid_t *uid, gid_t *gid, pid_t *pid);

#endif
