/*
 * fuzz_authproto.c - the Dovecot authentication protocol, both sides:
 *  - the line codec (src/lib/authproto.c): authproto_getline,
 *    authproto_split, authproto_unescape, authproto_escape,
 *    authproto_param;
 *  - the server side (src/auth/auth.c): what a client (smtpd, or Postfix
 *    with smtpd_sasl_type = dovecot) sends on private/auth (VERSION,
 *    CPID, AUTH with every mechanism, CONT) and what a userdb client sends
 *    on the auth-userdb socket (VERSION, USER, PASS, LIST), through
 *    auth_server_add_conn() on one end of a socketpair, the server's
 *    event loop run until it is idle;
 *  - the client side (src/lib/sasl_client.c): what the authentication
 *    server answers (VERSION, MECH, DONE, CONT, OK, FAIL), through a
 *    real sasl_client connected to a UNIX socket the harness answers
 *    with the input, with one authentication in progress.
 *
 * Input: byte 0 picks the part; the rest is the protocol stream.
 *
 * Invariants beyond "no crash":
 *  - codec: escaping the fields that split() returned and joining them
 *    with TABs splits again to the same fields; getline never returns a
 *    line longer than AUTHPROTO_LINE_MAX or one holding a NUL;
 *  - server: every line it sends is LF-terminated, starts with one of the
 *    protocol's commands and holds no CR or NUL; it goes idle and closes
 *    the connection when the client does;
 *  - client: callbacks report a known status; a CONT challenge is
 *    base64 only, an OK user name is printable; the mechanism list is
 *    printable words.
 * FUZZ_TRACE=1 in the environment prints the server's answers and the client's results.
 * max_len: 4096
 */
#include "fuzz.h"
#include "auth/auth.h"
#include "lib-auth/authproto.h"
#include "lib/evloop.h"
#include "lib-auth/sasl_client.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

static struct evloop *loop;
static struct auth_server *srv;
static char sock_path[300];
static int listen_fd = -1;

static void setup(void)
{
    if (loop)
        return;
    fuzz_quiet();
    loop = ev_loop_new();
    char users[300];
    str_fmt(users, sizeof(users), "%s/users", fuzz_dir());
    static const char passwd[] = "user@example.com:{PLAIN}secret:1000:1000::/home/user::"
                                 "userdb_quota_rule=*:storage=1G\n"
                                 "bob:{PLAIN}bobpw\n"
                                 "nopass::\n";
    fuzz_write_file(users, passwd, sizeof(passwd) - 1);
    char passdb[320];
    str_fmt(passdb, sizeof(passdb), "passwd-file:%s", users);
    struct auth_settings set = {
        .passdb = passdb,
        .userdb = passdb,
        .default_scheme = "PLAIN",
        .mechanisms = "plain login cram-md5 scram-sha-256",
        .username_format = "%Lu",
        .username_chars = "",
        .default_realm = "",
        .hostname = "mx.example.test",
        .failure_delay_ms = 0,
        .penalty_limit_ms = 0,
        .threads = 1,
    };
    char err[256];
    srv = auth_server_new(&set, NULL, loop, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "auth_server_new: %s\n", err);
        abort();
    }
    str_fmt(sock_path, sizeof(sock_path), "%s/auth", fuzz_dir());
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, sock_path, sizeof(sa.sun_path));
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(listen_fd, 16) < 0) {
        perror("fuzz auth socket");
        abort();
    }
}

static void stop_loop(void *arg)
{
    *(int *)arg = 1;
    ev_loop_stop(loop);
}

/* Run the loop for about ms milliseconds (a fired timer is freed by the loop). */
static void run_once(unsigned ms)
{
    int fired = 0;
    struct ev_timer *t = ev_timer_add(loop, ms, stop_loop, &fired);
    ev_loop_run(loop);
    if (!fired)
        ev_timer_cancel(loop, t);
}

/* ---- codec ---- */

static void check_codec(const uint8_t *data, size_t size)
{
    struct buf in;
    buf_init(&in, AUTHPROTO_LINE_MAX + 8);
    if (buf_append(&in, data, size) < 0) {
        buf_free(&in);
        return;
    }
    char *line;
    long len;
    while ((len = authproto_getline(&in, &line)) >= 0) {
        FUZZ_ASSERT(len < AUTHPROTO_LINE_MAX && strlen(line) == (size_t)len);
        char *copy = xstrdup(line);
        char *f[AUTHPROTO_FIELDS_MAX];
        int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
        FUZZ_ASSERT(n >= -2 && n <= AUTHPROTO_FIELDS_MAX && n != 0);
        if (n > 0) {
            (void)authproto_param(f, n, 1, "user");
            (void)authproto_param(f, n, 1, "resp");
            struct buf again;
            buf_init(&again, 0);
            buf_puts(&again, "");
            for (int i = 0; i < n; i++) {
                if (i)
                    buf_putc(&again, '\t');
                FUZZ_ASSERT(authproto_escape(&again, f[i], strlen(f[i])) == 0);
            }
            char *g[AUTHPROTO_FIELDS_MAX];
            int m = authproto_split(again.data, g, AUTHPROTO_FIELDS_MAX);
            FUZZ_ASSERT(m == n);
            for (int i = 0; i < n; i++)
                FUZZ_ASSERT(strcmp(f[i], g[i]) == 0);
            buf_free(&again);
        }
        free(copy);
        buf_consume(&in, (size_t)len + 1);
    }
    FUZZ_ASSERT(len == -1 || len == -2);
    buf_free(&in);
}

/* ---- server side ---- */

static void check_server_output(const struct buf *out, int master)
{
    static const char *const cmds[] = {"VERSION", "MECH", "SPID", "CUID", "COOKIE", "DONE",
                                       "OK", "FAIL", "CONT", "USER", "NOTFOUND"};
    size_t i = 0;
    while (i < out->len) {
        const char *line = out->data + i;
        const char *nl = memchr(line, '\n', out->len - i);
        size_t n = nl ? (size_t)(nl - line) : out->len - i;
        /* The handshake's last line may come without its LF until more is said. */
        FUZZ_ASSERT(nl || (!master && n == 4 && memcmp(line, "DONE", 4) == 0) ||
                    (master && n >= 4 && memcmp(line, "SPID", 4) == 0));
        FUZZ_ASSERT(!memchr(line, '\r', n) && !memchr(line, '\0', n));
        size_t cl = strcspn(line, "\t\n");
        int known = 0;
        for (size_t k = 0; k < ARRAY_LEN(cmds); k++)
            if (strlen(cmds[k]) == cl && memcmp(line, cmds[k], cl) == 0)
                known = 1;
        if (!known) {
            fprintf(stderr, "server sent: %.*s\n", (int)n, line);
            FUZZ_ASSERT(!"the server speaks only protocol commands");
        }
        i += n + 1;
    }
}

static void drain(int fd, struct buf *out, int *eof)
{
    char tmp[8192];
    for (;;) {
        ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
        if (r > 0) {
            FUZZ_ASSERT(buf_append(out, tmp, (size_t)r) == 0);
            continue;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            *eof = 1;
        return;
    }
}

static void check_server(const uint8_t *data, size_t size, int master)
{
    int sv[2];
    FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    auth_server_add_conn(srv, sv[0], master);
    FUZZ_ASSERT(write_all(sv[1], data, size) == (ssize_t)size);
    struct buf out;
    buf_init(&out, 0);
    int eof = 0;
    /* Let the server work (hashing runs in its thread) until it is idle. */
    for (int i = 0; i < 2000 && !eof; i++) {
        run_once(i < 3 ? 0 : 1);
        drain(sv[1], &out, &eof);
        if (i >= 2 && auth_server_busy(srv) == 0)
            break;
    }
    FUZZ_ASSERT(eof || auth_server_busy(srv) == 0);
    shutdown(sv[1], SHUT_WR);
    for (int i = 0; i < 2000 && !eof; i++) {
        run_once(i < 3 ? 0 : 1);
        drain(sv[1], &out, &eof);
    }
    FUZZ_ASSERT(eof);   /* the server closed its end */
    close(sv[1]);
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "%.*s\n--\n", (int)out.len, out.data ? out.data : "");
    check_server_output(&out, master);
    buf_free(&out);
}

/* ---- client side ---- */

struct cstate {
    struct sasl_auth *a;
    int done, conts;
};

static void client_cb(void *arg, enum sasl_status st, const char *text)
{
    struct cstate *cs = arg;
    FUZZ_ASSERT(st == SASL_CONT || st == SASL_OK || st == SASL_FAIL || st == SASL_TEMPFAIL);
    if (st == SASL_CONT) {
        FUZZ_ASSERT(text);
        for (const char *p = text; *p; p++)
            FUZZ_ASSERT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
                               *p));
        if (++cs->conts > 3) {
            sasl_auth_cancel(cs->a);
            cs->done = 1;
        } else {
            sasl_auth_continue(cs->a, "dGVzdA==");
        }
        return;
    }
    if (st == SASL_OK) {
        FUZZ_ASSERT(text && *text);
        for (const char *p = text; *p; p++)
            FUZZ_ASSERT((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
    }
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "client: status %d: %s\n", (int)st, text ? text : "(null)");
    cs->done = 1;
}

static void check_client(const uint8_t *data, size_t size)
{
    struct sasl_client *c = saslc_new(loop, sock_path);
    /* Short: a timer left behind by a request fires during a later input, where
     * ASan sees it (a real client waits 60 s). */
    saslc_set_timeout(c, 1);
    int fd = accept(listen_fd, NULL, NULL);
    FUZZ_ASSERT(fd >= 0);
    struct cstate cs = {0};
    cs.a = sasl_auth_start(c, "PLAIN", "AHVzZXIAcGFzcw==", "192.0.2.1", "127.0.0.1",
                           SASL_SECURED, client_cb, &cs);
    FUZZ_ASSERT(write_all(fd, data, size) == (ssize_t)size);
    for (int i = 0; i < 8 && !cs.done; i++) {
        run_once(i < 4 ? 0 : 1);
        char tmp[4096];
        while (recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT) > 0)
            ;
    }
    struct buf mechs;
    buf_init(&mechs, 4096);
    if (saslc_mechs(c, 0, "noanonymous", NULL, &mechs) > 0)
        for (size_t i = 0; i < mechs.len; i++)
            FUZZ_ASSERT(mechs.data[i] > ' ' || mechs.data[i] == ' ');
    buf_free(&mechs);
    close(fd);
    if (!cs.done) {
        run_once(1);      /* the client sees the server go away */
    }
    if (!cs.done)
        sasl_auth_cancel(cs.a);
    saslc_free(c);
    /* A reconnect attempt the client may have made: drop it. */
    fd_set_nonblock(listen_fd, 1);
    int extra;
    while ((extra = accept(listen_fd, NULL, NULL)) >= 0)
        close(extra);
    fd_set_nonblock(listen_fd, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    setup();
    unsigned mode = data[0] % 4;
    data++;
    size--;
    switch (mode) {
    case 0: check_codec(data, size); break;
    case 1: check_server(data, size, 0); break;
    case 2: check_server(data, size, 1); break;
    case 3: check_client(data, size); break;
    }
    return 0;
}
