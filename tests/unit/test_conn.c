/*
 * Unit tests for the connection object (lib/conn.h): lines with CRLF and
 * LF, the line limit, partial lines across reads, blobs, flow control,
 * deadlines in both modes, the injection rule when a layer is installed,
 * EOF inside a line, peer credentials.
 */
#include "t.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A connection on one end of a socket pair; *peer is the other end. */
static struct conn *pair(int *peer, size_t in_max, size_t out_max)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fd_set_nonblock(sv[0], 1);
    *peer = sv[1];
    return conn_new(sv[0], in_max, out_max);
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        abort();
}

static int line_is(struct conn *c, const char *want)
{
    char *line;
    size_t len;
    enum conn_line_result r = conn_line(c, &line, &len);
    if (r != CONN_LINE)
        return 0;
    return len == strlen(want) && strcmp(line, want) == 0;
}

static void test_crlf_and_lf(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 100, CONN_CRLF);
    put(peer, "HELO a\r\nEHLO b\nMAIL");
    CHECK_INT(conn_fill(c), 1);
    CHECK(line_is(c, "HELO a"));
    CHECK_INT(conn_line_crlf(c), 1);
    CHECK(line_is(c, "EHLO b"));
    CHECK_INT(conn_line_crlf(c), 0);
    char *line;
    size_t len;
    CHECK_INT(conn_line(c, &line, &len), CONN_NEED);
    /* The rest of the line in a second read. */
    put(peer, " FROM:<>\r\n");
    CHECK_INT(conn_fill(c), 1);
    CHECK(line_is(c, "MAIL FROM:<>"));
    CHECK_INT(conn_line(c, &line, &len), CONN_NEED);
    /* Without CONN_CRLF the CR stays. */
    conn_set_lines(c, 100, 0);
    put(peer, "x\r\n");
    CHECK_INT(conn_fill(c), 1);
    CHECK(line_is(c, "x\r"));
    CHECK_INT(conn_fill(c), 0);        /* nothing more now */
    conn_free(c);
    close(peer);
}

static void test_line_limit(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 8, CONN_CRLF);
    char *line;
    size_t len;
    /* Exactly the limit is fine, CR not counted. */
    put(peer, "12345678\r\n");
    conn_fill(c);
    CHECK(line_is(c, "12345678"));
    /* Over the limit with the LF in the same read. */
    put(peer, "0123456789abc\r\nOK\r\n");
    conn_fill(c);
    CHECK_INT(conn_line(c, &line, &len), CONN_LONG);
    CHECK_INT(len, 8);
    CHECK(memcmp(line, "01234567", 8) == 0);
    CHECK(line_is(c, "OK"));
    /* Over the limit across reads: reported once, the rest dropped up to its LF. */
    put(peer, "0123456789");
    conn_fill(c);
    CHECK_INT(conn_line(c, &line, &len), CONN_LONG);
    put(peer, "more and more");
    conn_fill(c);
    CHECK_INT(conn_line(c, &line, &len), CONN_NEED);
    put(peer, "end\r\nNEXT\r\n");
    conn_fill(c);
    CHECK(line_is(c, "NEXT"));
    CHECK_INT(conn_line(c, &line, &len), CONN_NEED);
    conn_free(c);
    close(peer);
}

static void test_blob(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 100, CONN_CRLF);
    put(peer, "BDAT 5\r\nhelloQUIT\r\n");
    conn_fill(c);
    CHECK(line_is(c, "BDAT 5"));
    char *p;
    CHECK_INT(conn_blob(c, 3, &p), 3);
    CHECK(memcmp(p, "hel", 3) == 0);
    CHECK_INT(conn_blob(c, 2, &p), 2);
    CHECK(memcmp(p, "lo", 2) == 0);
    CHECK(line_is(c, "QUIT"));
    CHECK_INT(conn_blob(c, 10, &p), 0);
    /* peek/consume: a decoder takes what it can. */
    put(peer, "abc\r\n.\r\n");
    conn_fill(c);
    CHECK_INT(conn_peek(c, &p), 8);
    conn_consume(c, 5);
    CHECK_INT(conn_peek(c, &p), 3);
    CHECK_INT(conn_discard_input(c), 3);
    CHECK_INT(conn_peek(c, &p), 0);
    conn_free(c);
    close(peer);
}

/* ---- event-loop mode ---- */

struct ev_test {
    struct evloop *loop;
    int ready, lost, deadline, handshake;
    char last[64];
};

static void t_ready(struct conn *c, void *arg)
{
    struct ev_test *t = arg;
    t->ready++;
    char *line;
    size_t len;
    if (conn_line(c, &line, &len) == CONN_LINE)
        str_copy(t->last, line, sizeof(t->last));
}

static void t_lost(struct conn *c, void *arg)
{
    (void)c;
    struct ev_test *t = arg;
    t->lost++;
    ev_loop_stop(t->loop);
}

static void t_deadline(struct conn *c, void *arg)
{
    (void)c;
    struct ev_test *t = arg;
    t->deadline++;
    ev_loop_stop(t->loop);
}

static void t_handshake(struct conn *c, void *arg, int result)
{
    (void)c;
    struct ev_test *t = arg;
    t->handshake = result == 0 ? 1 : result;
    ev_loop_stop(t->loop);
}

struct run_for {
    struct evloop *loop;
    int fired;
};

static void stop_loop(void *arg)
{
    struct run_for *r = arg;
    r->fired = 1;
    ev_loop_stop(r->loop);
}

/* Run the loop for ms, or until a callback stops it. */
static void run_for(struct evloop *loop, uint64_t ms)
{
    struct run_for r = {.loop = loop};
    struct ev_timer *tm = ev_timer_add(loop, ms, stop_loop, &r);
    ev_loop_run(loop);
    if (!r.fired)
        ev_timer_cancel(loop, tm);
}

static const struct conn_cb test_cb = {
    .ready = t_ready, .lost = t_lost, .deadline = t_deadline, .handshake = t_handshake,
};

static void test_flow_control(void)
{
    int peer;
    struct ev_test t = {.loop = ev_loop_new()};
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 100, CONN_CRLF);
    conn_attach(c, t.loop, &test_cb, &t);
    conn_set_highwater(c, 10);
    /* Replies the client does not read yet: above the mark, no input is read. */
    conn_write(c, "250 a long reply\r\n", 18);
    conn_hold(c, 1);                   /* nothing at all while held */
    conn_update(c);
    CHECK(conn_output_blocked(c));
    put(peer, "NOOP\r\n");
    run_for(t.loop, 50);
    CHECK_INT(t.ready, 0);
    conn_hold(c, 0);
    /* Writable now: the reply goes, but input stays unread while above the mark. */
    conn_update(c);
    run_for(t.loop, 50);
    CHECK(t.ready > 0);
    CHECK_STR(t.last, "");
    CHECK(conn_flush(c) == 0);
    CHECK_INT(conn_out_len(c), 0);
    CHECK(!conn_output_blocked(c));
    conn_update(c);
    run_for(t.loop, 50);
    CHECK_STR(t.last, "NOOP");
    char rb[64];
    CHECK_INT(read(peer, rb, sizeof(rb)), 18);
    /* EOF: lost. */
    close(peer);
    run_for(t.loop, 200);
    CHECK_INT(t.lost, 1);
    CHECK(conn_eof(c));
    conn_free(c);
    ev_loop_free(t.loop);
}

static void test_event_deadline(void)
{
    int peer;
    struct ev_test t = {.loop = ev_loop_new()};
    struct conn *c = pair(&peer, 4096, 4096);
    conn_attach(c, t.loop, &test_cb, &t);
    conn_update(c);
    uint64_t t0 = mono_msec();
    conn_deadline_in(c, 80);
    /* Moving it later is lazy: the early timer re-arms itself. */
    conn_deadline_in(c, 150);
    run_for(t.loop, 2000);
    uint64_t took = mono_msec() - t0;
    CHECK_INT(t.deadline, 1);
    CHECK(took >= 100 && took < 1000);
    CHECK(conn_timed_out(c));
    /* An idle deadline moves with input. */
    t.deadline = 0;
    conn_set_idle(c, 150);
    put(peer, "a\n");
    run_for(t.loop, 100);
    put(peer, "b\n");
    run_for(t.loop, 100);
    CHECK_INT(t.deadline, 0);          /* 200 ms since it was set, but input came */
    run_for(t.loop, 1000);
    CHECK_INT(t.deadline, 1);
    /* A total deadline holds however much input arrives. */
    t.deadline = 0;
    conn_set_idle(c, 10000);
    conn_set_total(c, ev_now(t.loop) + 100);
    put(peer, "c\n");
    run_for(t.loop, 1000);
    CHECK_INT(t.deadline, 1);
    conn_free(c);
    close(peer);
    ev_loop_free(t.loop);
}

/* ---- layers: a fake one that XORs every byte, with a handshake of one round trip ---- */

struct fake {
    int fd;
    int hs_state;
    int released;
};

static ssize_t fake_read(void *ctx, void *buf, size_t len, int *want)
{
    struct fake *f = ctx;
    ssize_t n = recv(f->fd, buf, len, 0);
    if (n < 0) {
        *want = errno == EAGAIN ? CONN_WANT_READ : 0;
        return -1;
    }
    for (ssize_t i = 0; i < n; i++)
        ((char *)buf)[i] ^= 0x55;
    return n;
}

static ssize_t fake_write(void *ctx, const void *buf, size_t len, int *want)
{
    struct fake *f = ctx;
    char tmp[256];
    if (len > sizeof(tmp))
        len = sizeof(tmp);
    for (size_t i = 0; i < len; i++)
        tmp[i] = (char)(((const char *)buf)[i] ^ 0x55);
    ssize_t n = send(f->fd, tmp, len, MSG_NOSIGNAL);
    if (n < 0)
        *want = errno == EAGAIN ? CONN_WANT_WRITE : 0;
    return n;
}

static int fake_pending(void *ctx)
{
    (void)ctx;
    return 0;
}

/* The handshake: wait for one byte "H" from the peer, then done. */
static int fake_handshake(void *ctx)
{
    struct fake *f = ctx;
    char b;
    ssize_t n = recv(f->fd, &b, 1, 0);
    if (n < 0 && errno == EAGAIN)
        return CONN_WANT_READ;
    return n == 1 && b == 'H' ? 0 : -1;
}

static void fake_release(void *ctx)
{
    ((struct fake *)ctx)->released++;
}

static const struct conn_io_ops fake_ops = {
    .name = "fake", .read = fake_read, .write = fake_write, .pending = fake_pending,
    .handshake = fake_handshake, .release = fake_release,
};

static void put_xor(int fd, const char *s)
{
    char tmp[256];
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (char)(s[i] ^ 0x55);
    if (write(fd, tmp, n) != (ssize_t)n)
        abort();
}

static void test_injection_rule(void)
{
    int peer;
    struct ev_test t = {.loop = ev_loop_new()};
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 100, CONN_CRLF);
    conn_attach(c, t.loop, &test_cb, &t);
    /* STARTTLS with a command pipelined behind it in the same packet. */
    put(peer, "STARTTLS\r\nMAIL FROM:<evil@example>\r\n");
    CHECK_INT(conn_fill(c), 1);
    CHECK(line_is(c, "STARTTLS"));
    struct fake f = {.fd = conn_fd(c)};
    CHECK_INT(conn_layer_install(c, &fake_ops, &f), 26);   /* the injected command, discarded */
    CHECK(conn_layer(c) == &f);
    char *p;
    CHECK_INT(conn_peek(c, &p), 0);
    /* The handshake waits for the peer, then completes. */
    conn_handshake(c, 1000);
    CHECK_INT(t.handshake, 0);
    put(peer, "H");
    run_for(t.loop, 1000);
    CHECK_INT(t.handshake, 1);
    /* From now on input goes through the layer. */
    put_xor(peer, "EHLO x\r\n");
    CHECK_INT(conn_fill(c), 1);
    CHECK(line_is(c, "EHLO x"));
    conn_printf(c, "250 ok\r\n");
    CHECK_INT(conn_flush(c), 0);
    char rb[16];
    CHECK_INT(read(peer, rb, sizeof(rb)), 8);
    CHECK(rb[0] == ('2' ^ 0x55));
    conn_free(c);
    CHECK_INT(f.released, 1);
    close(peer);
    ev_loop_free(t.loop);
}

static void test_handshake_timeout(void)
{
    int peer;
    struct ev_test t = {.loop = ev_loop_new()};
    struct conn *c = pair(&peer, 4096, 4096);
    conn_attach(c, t.loop, &test_cb, &t);
    struct fake f = {.fd = conn_fd(c)};
    CHECK_INT(conn_layer_install(c, &fake_ops, &f), 0);   /* wrapper mode: nothing read yet */
    conn_handshake(c, 50);
    run_for(t.loop, 1000);
    CHECK_INT(t.handshake, -2);
    /* Blocking: the peer never answers. */
    CHECK_INT(conn_handshake_wait(c, 50), -2);
    put(peer, "H");
    CHECK_INT(conn_handshake_wait(c, 1000), 0);
    conn_layer_drop(c);
    CHECK_INT(f.released, 1);
    CHECK(conn_layer(c) == NULL);
    conn_free(c);
    close(peer);
    ev_loop_free(t.loop);
}

/* ---- blocking mode ---- */

static void test_blocking(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    conn_set_lines(c, 100, CONN_CRLF);
    char *line;
    size_t len;
    conn_set_idle(c, 100);
    uint64_t t0 = mono_msec();
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_TIMEOUT);
    CHECK(mono_msec() - t0 >= 100);
    CHECK(conn_timed_out(c));
    put(peer, "220 hi\r\n");
    conn_set_idle(c, 1000);
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_LINE);
    CHECK_STR(line, "220 hi");
    /* Output, then data not copied into the queue. */
    conn_printf(c, "EHLO ");
    CHECK_INT(conn_write_wait(c, "me\r\n", 4), 0);
    char rb[16] = "";
    CHECK_INT(read(peer, rb, sizeof(rb) - 1), 9);
    CHECK_STR(rb, "EHLO me\r\n");
    /* EOF inside a line is an error; EOF between lines is EOF. */
    put(peer, "25");
    shutdown(peer, SHUT_WR);
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_ERROR);
    conn_free(c);
    close(peer);
    c = pair(&peer, 4096, 4096);
    put(peer, "last\n");
    close(peer);
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_LINE);
    CHECK_STR(line, "last");
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_EOF);
    conn_free(c);
}

/* A big write to a peer that sends while it does not read: its replies are buffered meanwhile. */
static void test_write_while_reading(void)
{
    int peer;
    struct conn *c = pair(&peer, 1 << 20, 4096);
    fd_set_nonblock(peer, 1);
    int sz = 4096;
    setsockopt(conn_fd(c), SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    size_t big = 512 * 1024;
    char *data = xmalloc(big);
    memset(data, 'x', big);
    pid_t pid = fork();
    if (pid == 0) {
        /* The peer: say something, then read everything. */
        fd_set_nonblock(peer, 0);
        put(peer, "250 ok\r\n");
        char b[65536];
        size_t got = 0;
        while (got < big) {
            ssize_t n = read(peer, b, sizeof(b));
            if (n <= 0)
                _exit(1);
            got += (size_t)n;
        }
        _exit(0);
    }
    conn_set_idle(c, 5000);
    CHECK_INT(conn_write_wait(c, data, big), 0);
    char *line;
    size_t len;
    CHECK_INT(conn_line_wait(c, &line, &len), CONN_LINE);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(data);
    conn_free(c);
    close(peer);
}

static void test_wait_signal(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    sigset_t mask;
    sigemptyset(&mask);
    /* No deadline, a signal mask (the agents' idle wait): a ready fd returns at once. */
    put(peer, "x");
    CHECK_INT(conn_wait(c, POLLIN, &mask), 1);
    conn_free(c);
    close(peer);
}

static void test_peer_cred(void)
{
    int peer;
    struct conn *c = pair(&peer, 4096, 4096);
    uid_t uid = (uid_t)-1;
    pid_t pid = 0;
    CHECK_INT(conn_peer_cred(c, &uid, NULL, &pid), 0);
    CHECK_INT(uid, getuid());
    CHECK_INT(pid, getpid());
    conn_free(c);
    close(peer);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    T_RUN(test_crlf_and_lf);
    T_RUN(test_line_limit);
    T_RUN(test_blob);
    T_RUN(test_flow_control);
    T_RUN(test_event_deadline);
    T_RUN(test_injection_rule);
    T_RUN(test_handshake_timeout);
    T_RUN(test_blocking);
    T_RUN(test_write_while_reading);
    T_RUN(test_wait_signal);
    T_RUN(test_peer_cred);
    return T_DONE();
}
