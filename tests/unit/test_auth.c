/*
 * test_auth.c - the auth service end to end, in process: the client
 * library (sasl_client) against the server (auth.c) over a temporary
 * UNIX socket, both on one event loop. Every mechanism, wrong passwords,
 * unknown users, name normalization, failure delay and per-IP penalty
 * timing, many concurrent requests on one connection, losing and
 * regaining the server, raw protocol abuse, and userdb lookups.
 */
#include "auth/auth.h"
#include "auth/climech.h"
#include "auth/scheme.h"
#include "lib/base64.h"
#include "lib/evloop.h"
#include "lib-auth/sasl_client.h"
#include "t.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/test_auth.XXXXXX";
static char sock_path[256], userdb_path[256], users_path[256];
static struct evloop *loop;
static struct auth_server *srv;
static struct auth_settings set;

#define DELAY_MS 100
#define PENALTY_MS 500

/* ------------------------------------------------------------------ */
/* fixture                                                             */

static int listen_unix(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        perror("listen_unix");
        exit(1);
    }
    return fd;
}

static void server_start(void)
{
    char err[256];
    srv = auth_server_new(&set, NULL, loop, err, sizeof(err));
    if (!srv) {
        fprintf(stderr, "auth_server_new: %s\n", err);
        exit(1);
    }
    auth_server_listen(srv, listen_unix(sock_path), 0);
    auth_server_listen(srv, listen_unix(userdb_path), 1);
}

static void server_stop(void)
{
    auth_server_free(srv);
    srv = NULL;
}

static void stop_loop(void *arg)
{
    int *fired = arg;
    if (fired)
        *fired = 1;
    ev_loop_stop(loop);
}

/* Run the loop for ms milliseconds (or until something stops it). */
static void run_for(uint64_t ms)
{
    int fired = 0;
    struct ev_timer *t = ev_timer_add(loop, ms, stop_loop, &fired);
    ev_loop_run(loop);
    if (!fired)
        ev_timer_cancel(loop, t);
}

/* ------------------------------------------------------------------ */
/* one authentication through the client library                      */

struct attempt {
    const char *expect_user;   /* for concurrency checks */
    struct climech *cm;
    struct sasl_auth *a;
    int done;
    enum sasl_status status;
    char text[256];
    uint64_t started, elapsed;
    int *pending;              /* stop the loop when it reaches 0 */
};

static void attempt_cb(void *arg, enum sasl_status st, const char *text)
{
    struct attempt *t = arg;
    if (st == SASL_CONT) {
        struct buf dec, out, enc;
        buf_init(&dec, 65536);
        buf_init(&out, 65536);
        buf_init(&enc, 65536);
        if (!t->cm || base64_decode(text, strlen(text), &dec) < 0 ||
            auth_climech_step(t->cm, (const unsigned char *)buf_cstr(&dec), dec.len, &out) < 0) {
            sasl_auth_cancel(t->a);
            t->done = 1;
            t->status = SASL_TEMPFAIL;
            str_copy(t->text, "client-side mechanism error", sizeof(t->text));
            if (t->pending && --*t->pending == 0)
                ev_loop_stop(loop);
        } else {
            base64_encode(&enc, out.data ? out.data : "", out.len);
            sasl_auth_continue(t->a, buf_cstr(&enc));
        }
        buf_free(&dec);
        buf_free(&out);
        buf_free(&enc);
        return;
    }
    t->done = 1;
    t->status = st;
    str_copy(t->text, text ? text : "", sizeof(t->text));
    t->elapsed = mono_msec() - t->started;
    if (t->pending && --*t->pending == 0)
        ev_loop_stop(loop);
}

static void attempt_start(struct sasl_client *c, struct attempt *t, const char *mech,
                          const char *user, const char *pw, const char *authzid, const char *rip,
                          int flags, int *pending)
{
    memset(t, 0, sizeof(*t));
    t->cm = auth_climech_new(mech, user, pw, authzid);
    t->pending = pending;
    t->started = mono_msec();
    struct buf ir, enc;
    buf_init(&ir, 65536);
    buf_init(&enc, 65536);
    int has = t->cm ? auth_climech_initial(t->cm, &ir) : 0;   /* NULL: a mechanism only the server may know */
    if (has)
        base64_encode(&enc, ir.data ? ir.data : "", ir.len);
    t->a = sasl_auth_start(c, mech, has ? buf_cstr(&enc) : NULL, rip, "127.0.0.1", flags,
                           attempt_cb, t);
    buf_free(&ir);
    buf_free(&enc);
}

/* One complete attempt; returns its status. */
static enum sasl_status auth1(struct sasl_client *c, const char *mech, const char *user,
                              const char *pw, const char *rip, int flags, struct attempt *out)
{
    struct attempt local;
    struct attempt *t = out ? out : &local;
    int pending = 1;
    attempt_start(c, t, mech, user, pw, NULL, rip, flags, &pending);
    run_for(20000);
    auth_climech_free(t->cm);
    t->cm = NULL;
    if (!t->done) {
        fprintf(stderr, "  attempt %s/%s did not finish\n", mech, user);
        return (enum sasl_status)-1;
    }
    return t->status;
}

static struct sasl_client *client_ready(void)
{
    struct sasl_client *c = saslc_new(loop, sock_path);
    for (int i = 0; i < 200 && !saslc_ready(c); i++)
        run_for(5);
    return c;
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

static void test_mechanisms(void)
{
    struct sasl_client *c = client_ready();
    CHECK(saslc_ready(c));
    struct buf m;
    buf_init(&m, 1024);
    CHECK_INT(saslc_mechs(c, 0, "noanonymous", NULL, &m), 4);
    CHECK_STR(buf_cstr(&m), "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256");
    buf_reset(&m);
    CHECK_INT(saslc_mechs(c, 0, "noplaintext, noanonymous", NULL, &m), 2);
    CHECK_STR(buf_cstr(&m), "CRAM-MD5 SCRAM-SHA-256");
    buf_reset(&m);
    CHECK_INT(saslc_mechs(c, 0, "noplaintext nodictionary", NULL, &m), 1);
    CHECK_STR(buf_cstr(&m), "SCRAM-SHA-256");
    buf_reset(&m);
    CHECK_INT(saslc_mechs(c, 0, "mutual_auth", NULL, &m), 1);
    buf_reset(&m);
    /* With TLS the TLS options apply. */
    CHECK_INT(saslc_mechs(c, 1, "noplaintext", "noanonymous", &m), 4);
    buf_free(&m);
    char err[128];
    CHECK_INT(sasl_security_options_check("noplaintext, noanonymous", err, sizeof(err)), 0);
    CHECK_INT(sasl_security_options_check("noplaintext, nosuch", err, sizeof(err)), -1);
    CHECK(strstr(err, "nosuch") != NULL);

    struct attempt t;
    CHECK_INT(auth1(c, "PLAIN", "alice@example.com", "alicepw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_STR(t.text, "alice@example.com");
    CHECK_INT(auth1(c, "LOGIN", "alice@example.com", "alicepw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "CRAM-MD5", "bob", "bobpw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "SCRAM-SHA-256", "bob", "bobpw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "CRAM-MD5", "dave", "davepw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "PLAIN", "dave", "davepw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "SCRAM-SHA-256", "carol", "carolpw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_INT(auth1(c, "PLAIN", "carol", "carolpw", "10.0.0.1", 0, &t), SASL_OK);
    /* Name normalization (%Lu): the reply carries the canonical name. */
    CHECK_INT(auth1(c, "PLAIN", "Alice@Example.COM", "alicepw", "10.0.0.1", 0, &t), SASL_OK);
    CHECK_STR(t.text, "alice@example.com");
    /* Mechanisms that need credentials the user does not have fail. */
    CHECK_INT(auth1(c, "CRAM-MD5", "alice@example.com", "alicepw", "10.0.0.2", 0, &t), SASL_FAIL);
    CHECK_INT(auth1(c, "SCRAM-SHA-256", "dave", "davepw", "10.0.0.3", 0, &t), SASL_FAIL);
    /* Unsupported mechanism: a failure, not a temporary one. */
    CHECK_INT(auth1(c, "DIGEST-MD5", "bob", "bobpw", "10.0.0.1", 0, &t), SASL_FAIL);
    saslc_free(c);
}

static void test_failures(void)
{
    struct sasl_client *c = client_ready();
    struct attempt t;
    static const char *const mechs[] = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"};
    char rip[32];
    for (size_t i = 0; i < 4; i++) {
        snprintf(rip, sizeof(rip), "10.1.%zu.1", i);
        CHECK_INT(auth1(c, mechs[i], "bob", "wrong", rip, 0, &t), SASL_FAIL);
        CHECK(t.elapsed >= DELAY_MS - 5);
        snprintf(rip, sizeof(rip), "10.1.%zu.2", i);
        CHECK_INT(auth1(c, mechs[i], "nobody", "wrong", rip, 0, &t), SASL_FAIL);
        CHECK(t.elapsed >= DELAY_MS - 5);
    }
    /* authzid other than the user */
    int pending = 1;
    attempt_start(c, &t, "PLAIN", "bob", "bobpw", "alice@example.com", "10.1.9.1", 0, &pending);
    run_for(5000);
    auth_climech_free(t.cm);
    CHECK(t.done && t.status == SASL_FAIL);
    pending = 1;
    attempt_start(c, &t, "PLAIN", "bob", "bobpw", "bob", "10.1.9.2", 0, &pending);
    run_for(5000);
    auth_climech_free(t.cm);
    CHECK(t.done && t.status == SASL_OK);
    /* Disallowed characters. */
    CHECK_INT(auth1(c, "PLAIN", "bo b", "bobpw", "10.1.9.3", 0, &t), SASL_FAIL);
    CHECK_INT(auth1(c, "PLAIN", "bob/..", "bobpw", "10.1.9.4", 0, &t), SASL_FAIL);
    /* No password in the passwd-file: never a success. */
    CHECK_INT(auth1(c, "PLAIN", "nopass", "", "10.1.9.5", 0, &t), SASL_FAIL);
    CHECK_INT(auth1(c, "PLAIN", "nopass", "x", "10.1.9.6", 0, &t), SASL_FAIL);
    /* Bad arguments from the caller are failures reported through the callback. */
    pending = 1;
    memset(&t, 0, sizeof(t));
    t.pending = &pending;
    t.a = sasl_auth_start(c, "PLAIN", "not base64!", "1.2.3.4", NULL, 0, attempt_cb, &t);
    CHECK(!t.done);   /* never inside the call */
    run_for(2000);
    CHECK(t.done && t.status == SASL_FAIL);
    pending = 1;
    memset(&t, 0, sizeof(t));
    t.pending = &pending;
    t.a = sasl_auth_start(c, "PL\tAIN", NULL, "1.2.3.4", NULL, 0, attempt_cb, &t);
    run_for(2000);
    CHECK(t.done && t.status == SASL_FAIL);
    saslc_free(c);
}

/*
 * Upper bounds on elapsed times get this much slack on top of what they
 * check: 250 ms, plus four times the slowest of three successful logins
 * measured first (on a machine at load 50 a login that costs 2 ms idle
 * takes 100 ms or more; the lower bounds need no slack).
 */
static uint64_t slack_ms = 250;

static void measure_slack(struct sasl_client *c)
{
    struct attempt t;
    uint64_t worst = 0;
    for (int i = 0; i < 3; i++) {
        char rip[32];
        snprintf(rip, sizeof(rip), "10.9.0.%d", i + 1);
        auth1(c, "PLAIN", "bob", "bobpw", rip, 0, &t);
        if (t.elapsed > worst)
            worst = t.elapsed;
    }
    slack_ms = 250 + 4 * worst;
}

static void test_timing(void)
{
    struct sasl_client *c = client_ready();
    struct attempt t;
    measure_slack(c);
    /* Unknown user and wrong password answer alike (alice's hash is SHA512-CRYPT). */
    uint64_t wrong = 0, unknown = 0;
    for (int i = 0; i < 3; i++) {
        char rip[32];
        snprintf(rip, sizeof(rip), "10.2.0.%d", 2 * i + 1);
        auth1(c, "PLAIN", "alice@example.com", "wrong", rip, 0, &t);
        wrong += t.elapsed;
        snprintf(rip, sizeof(rip), "10.2.0.%d", 2 * i + 2);
        auth1(c, "PLAIN", "ghost@example.com", "wrong", rip, 0, &t);
        unknown += t.elapsed;
    }
    long long diff = (long long)wrong - (long long)unknown;
    if (diff < 0)
        diff = -diff;
    CHECK(diff / 3 < 50 + (long long)(slack_ms - 250));
    CHECK(wrong / 3 >= DELAY_MS - 5 && wrong / 3 < DELAY_MS + 50 + slack_ms);

    /* A burst of failures from one address gets slower and slower, up to the cap. */
    uint64_t el[5];
    for (int i = 0; i < 5; i++) {
        auth1(c, "PLAIN", "bob", "wrong", "192.0.2.7", 0, &t);
        el[i] = t.elapsed;
    }
    /* D, 2D, 3D, 5D, P+D: the penalty D*2^(n-1), capped at P, comes before the delay D */
    CHECK(el[0] < DELAY_MS + slack_ms);
    CHECK(el[1] >= 2 * DELAY_MS - 20 && el[1] > el[0] + DELAY_MS / 2);
    CHECK(el[2] >= 3 * DELAY_MS - 20 && el[2] > el[1] + DELAY_MS / 2);
    CHECK(el[3] >= 5 * DELAY_MS - 20);
    CHECK(el[4] >= PENALTY_MS + DELAY_MS - 20 && el[4] < PENALTY_MS + DELAY_MS + 350 + slack_ms);
    /* ... without slowing anyone else. */
    auth1(c, "PLAIN", "bob", "wrong", "192.0.2.8", 0, &t);
    CHECK(t.elapsed < DELAY_MS + slack_ms);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "192.0.2.9", 0, &t), SASL_OK);
    CHECK(t.elapsed < slack_ms);
    /* Parallel attempts from the penalized address are spaced out, not run together. */
    struct attempt par[3];
    int pending = 3;
    uint64_t t0 = mono_msec();
    for (int i = 0; i < 3; i++)
        attempt_start(c, &par[i], "PLAIN", "bob", "wrong", NULL, "192.0.2.7", 0, &pending);
    run_for(20000);
    uint64_t total = mono_msec() - t0;
    for (int i = 0; i < 3; i++) {
        auth_climech_free(par[i].cm);
        CHECK(par[i].done && par[i].status == SASL_FAIL);
    }
    CHECK(total >= 2 * PENALTY_MS + DELAY_MS);
    /* IPv6: the whole /64 shares one penalty. */
    auth1(c, "PLAIN", "bob", "wrong", "2001:db8:1:2::1", 0, &t);
    auth1(c, "PLAIN", "bob", "wrong", "2001:db8:1:2::99", 0, &t);
    CHECK(t.elapsed >= 2 * DELAY_MS - 20);
    /* A success clears the address's penalty. */
    auth1(c, "PLAIN", "bob", "bobpw", "2001:db8:1:2::5", 0, &t);
    auth1(c, "PLAIN", "bob", "wrong", "2001:db8:1:2::1", 0, &t);
    CHECK(t.elapsed < DELAY_MS + slack_ms);
    saslc_free(c);
}

/* Without a failure delay the hash itself must cost an unknown user what it costs a real one. */
static void test_dummy_cost(void)
{
    char err[128], path[300], spec[320];
    char *heavy = auth_scheme_generate("BLF-CRYPT", "heavypw", 7, 9, err, sizeof(err));
    snprintf(path, sizeof(path), "%s/heavy-users", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "heavy:%s\n", heavy);
    fclose(f);
    free(heavy);
    snprintf(spec, sizeof(spec), "passwd-file:%s", path);
    server_stop();
    struct auth_settings keep = set;
    set.passdb = set.userdb = spec;
    set.failure_delay_ms = 0;
    set.penalty_limit_ms = 0;
    server_start();
    struct sasl_client *c = client_ready();
    struct attempt t;
    uint64_t wrong = 0, unknown = 0;
    for (int i = 0; i < 4; i++) {
        CHECK_INT(auth1(c, "PLAIN", "heavy", "wrong", "10.8.0.1", 0, &t), SASL_FAIL);
        wrong += t.elapsed;
        CHECK_INT(auth1(c, "PLAIN", "ghost", "wrong", "10.8.0.1", 0, &t), SASL_FAIL);
        unknown += t.elapsed;
    }
    CHECK_INT(auth1(c, "PLAIN", "heavy", "heavypw", "10.8.0.1", 0, &t), SASL_OK);
    /* bcrypt cost 9 takes tens of milliseconds; a skipped hash would take none. */
    CHECK(wrong / 4 >= 10);
    CHECK(unknown * 2 >= wrong);
    saslc_free(c);
    server_stop();
    set = keep;
    server_start();
}

static void test_concurrency(void)
{
    struct sasl_client *c = client_ready();
    enum { N = 60 };
    static struct attempt at[N];
    static char users[N][32];
    int pending = N;
    static const char *const mechs[] = {"PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"};
    uint64_t t0 = mono_msec();
    for (int i = 0; i < N; i++) {
        int good = i % 3 != 0;
        const char *user = i % 2 ? "bob" : "dave";
        const char *mech = mechs[i % 4];
        if (!strcmp(user, "dave") && !strcmp(mech, "SCRAM-SHA-256"))
            mech = "PLAIN";
        str_copy(users[i], user, sizeof(users[i]));
        char rip[32];
        snprintf(rip, sizeof(rip), "10.3.%d.%d", i / 200, i % 200 + 1);
        attempt_start(c, &at[i], mech, user, good ? (i % 2 ? "bobpw" : "davepw") : "nope",
                      NULL, rip, 0, &pending);
        at[i].expect_user = good ? users[i] : NULL;
    }
    run_for(30000);
    uint64_t total = mono_msec() - t0;
    int ok = 0, fail = 0;
    for (int i = 0; i < N; i++) {
        auth_climech_free(at[i].cm);
        CHECK(at[i].done);
        if (at[i].expect_user) {
            CHECK_INT(at[i].status, SASL_OK);
            CHECK_STR(at[i].text, at[i].expect_user);
            ok++;
        } else {
            CHECK_INT(at[i].status, SASL_FAIL);
            fail++;
        }
    }
    CHECK_INT(ok, 40);
    CHECK_INT(fail, 20);
    /* The failures waited concurrently, not one after another. */
    CHECK(total < 20 * DELAY_MS + slack_ms);
    saslc_free(c);
}

static void test_server_restart(void)
{
    struct sasl_client *c = client_ready();
    struct attempt t;
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.4.0.1", 0, &t), SASL_OK);
    /* A request waiting for its failure delay when the server goes away. */
    int pending = 1;
    attempt_start(c, &t, "PLAIN", "bob", "wrong", NULL, "10.4.0.2", 0, &pending);
    run_for(50);
    server_stop();
    /* until the client has noticed (bounded: 5 s), not a fixed 500 ms */
    for (int i = 0; i < 500 && !t.done; i++)
        run_for(10);
    auth_climech_free(t.cm);
    CHECK(t.done && t.status == SASL_TEMPFAIL);
    CHECK(!saslc_ready(c));
    struct buf m;
    buf_init(&m, 256);
    CHECK_INT(saslc_mechs(c, 0, "", NULL, &m), 0);   /* no AUTH while down */
    /* While down: a temporary failure, reported from the loop. */
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.4.0.3", 0, &t), SASL_TEMPFAIL);
    server_start();
    for (int i = 0; i < 400 && !saslc_ready(c); i++)
        run_for(10);
    CHECK(saslc_ready(c));
    CHECK(saslc_mechs(c, 0, "", NULL, &m) > 0);
    buf_free(&m);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.4.0.4", 0, &t), SASL_OK);
    /* Cancel in the middle of an exchange: no callback afterwards. */
    pending = 1;
    attempt_start(c, &t, "LOGIN", "bob", "bobpw", NULL, "10.4.0.5", 0, &pending);
    sasl_auth_cancel(t.a);
    run_for(300);
    CHECK(!t.done);
    auth_climech_free(t.cm);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.4.0.6", 0, &t), SASL_OK);
    saslc_free(c);
}

static void test_shutdown(void)
{
    struct sasl_client *c = client_ready();
    struct attempt t, p;
    /* Build a penalty for one address, then leave one request in each timed state. */
    auth1(c, "PLAIN", "bob", "wrong", "10.7.0.1", 0, &t);
    int pending = 2;
    attempt_start(c, &t, "PLAIN", "bob", "wrong", NULL, "10.7.0.2", 0, &pending);   /* delay */
    attempt_start(c, &p, "PLAIN", "bob", "bobpw", NULL, "10.7.0.1", 0, &pending);   /* penalty */
    run_for(30);
    CHECK(!t.done && !p.done);
    uint64_t t0 = mono_msec();
    CHECK_INT(auth_server_shutdown(srv), 0);   /* nothing left that waits */
    run_for(2000);
    CHECK(mono_msec() - t0 < DELAY_MS + (slack_ms - 250));
    CHECK(t.done && t.status == SASL_FAIL);
    CHECK(p.done && p.status == SASL_TEMPFAIL);
    auth_climech_free(t.cm);
    auth_climech_free(p.cm);
    saslc_free(c);
    server_stop();
    server_start();
}

/* ------------------------------------------------------------------ */
/* raw protocol                                                        */

static int raw_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    fd_set_nonblock(fd, 1);
    return fd;
}

/* Send, let the server work for ms, then collect what it said; *closed if it hung up. */
static void raw_talk(int fd, const char *send_text, size_t len, uint64_t ms, struct buf *got,
                     int *closed)
{
    if (len && write_all(fd, send_text, len) < 0)
        *closed = 1;
    run_for(ms);
    char b[65536];
    for (;;) {
        ssize_t n = read(fd, b, sizeof(b));
        if (n > 0) {
            buf_append(got, b, (size_t)n);
            continue;
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            *closed = 1;   /* EOF, or reset when our unread data was discarded */
        break;
    }
}

/* One authentication driven by hand: the loop stops at every callback. */
struct held {
    struct sasl_auth *a;
    int done, conts;
    enum sasl_status last;
};

static void held_cb(void *arg, enum sasl_status st, const char *text)
{
    (void)text;
    struct held *h = arg;
    h->last = st;
    if (st == SASL_CONT)
        h->conts++;
    else
        h->done = 1;
    ev_loop_stop(loop);
}

static void held_continue(struct held *h, const char *plain)
{
    struct buf b;
    buf_init(&b, 1024);
    base64_encode(&b, plain, strlen(plain));
    sasl_auth_continue(h->a, buf_cstr(&b));
    buf_free(&b);
}

/*
 * fuzz_authproto: a request started before the handshake completed (queued,
 * with a timer) kept that timer when it was sent, so it fired later on the
 * request in flight (a spurious timeout while the client was typing) or,
 * once the request was finished, on freed memory.
 */
static void test_queued_request_timer(void)
{
    struct sasl_client *c = saslc_new(loop, sock_path);
    saslc_set_timeout(c, 1);
    struct held h = {0};
    h.a = sasl_auth_start(c, "LOGIN", NULL, "192.0.2.77", "127.0.0.1", 0, held_cb, &h);
    CHECK(!saslc_ready(c));          /* queued: the handshake is still to come */
    run_for(2000);
    CHECK_INT(h.conts, 1);                 /* "Username:" */
    CHECK(!h.done);
    run_for(1500);                         /* the client takes its time: no timer runs */
    CHECK(!h.done);
    held_continue(&h, "bob");
    run_for(2000);
    CHECK_INT(h.conts, 2);                 /* "Password:" */
    held_continue(&h, "bobpw");
    run_for(2000);
    CHECK(h.done);
    CHECK_INT(h.last, SASL_OK);
    run_for(1200);                         /* past every timeout of that request */
    saslc_free(c);
}

static void test_raw_protocol(void)
{
    struct buf got;
    buf_init(&got, 0);
    int closed = 0;
    int fd = raw_connect(sock_path);
    CHECK(fd >= 0);
    raw_talk(fd, "", 0, 50, &got, &closed);
    CHECK(strncmp(buf_cstr(&got), "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
                                  "MECH\tCRAM-MD5\tdictionary\tactive\nMECH\tSCRAM-SHA-256\tmutual-auth\n"
                                  "SPID\t",
                  strlen("VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
                         "MECH\tCRAM-MD5\tdictionary\tactive\nMECH\tSCRAM-SHA-256\tmutual-auth\n"
                         "SPID\t")) == 0);
    CHECK(strstr(buf_cstr(&got), "\nCUID\t") && strstr(buf_cstr(&got), "\nCOOKIE\t") &&
          strstr(buf_cstr(&got), "\nDONE\n"));
    buf_reset(&got);
    const char *s = "VERSION\t1\t0\nCPID\t42\n"
                    "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp=AGJvYgBib2Jwdw==\n"
                    "AUTH\t2\tNOSUCH\tservice=smtp\n"
                    "AUTH\t3\tPLAIN\tservice=smtp\tresp=!!!!\n"
                    "AUTH\t4\tPLAIN\tservice=smtp\n"
                    "CONT\t99\tAAAA\n"
                    "AUTH\t5\tPLAIN\tservice=smtp\tresp=AEJPQgBib2Jwdw==\r\n"
                    "AUTH\t6\tLOGIN\tservice=imap\tsecured\tresp=\n";
    raw_talk(fd, s, strlen(s), 100, &got, &closed);
    CHECK(!closed);
    const char *g = buf_cstr(&got);
    CHECK(strstr(g, "OK\t1\tuser=bob\n") != NULL);
    CHECK(strstr(g, "FAIL\t2\treason=Unsupported authentication mechanism\n") != NULL);
    CHECK(strstr(g, "FAIL\t3\treason=Invalid base64 data in initial response\n") != NULL);
    CHECK(strstr(g, "CONT\t4\t\n") != NULL);
    CHECK(strstr(g, "FAIL\t99\t") != NULL);
    CHECK(strstr(g, "OK\t5\tuser=bob\n") != NULL);    /* CR LF tolerated, name lowered */
    CHECK(strstr(g, "CONT\t6\tVXNlcm5hbWU6\n") != NULL);
    buf_reset(&got);
    /* Continue 4 with a malformed PLAIN message: answered at once, not delayed. */
    uint64_t t0 = mono_msec();
    raw_talk(fd, "CONT\t4\tYWJj\n", strlen("CONT\t4\tYWJj\n"), 30, &got, &closed);
    CHECK(strstr(buf_cstr(&got), "FAIL\t4") != NULL);
    CHECK(mono_msec() - t0 < DELAY_MS + (slack_ms - 250));
    buf_reset(&got);
    /* A user name needing escapes comes back escaped in FAIL's user=. */
    s = "AUTH\t7\tPLAIN\tservice=smtp\tresp=AGFAYgljAHg=\n";
    raw_talk(fd, s, strlen(s), DELAY_MS + 150, &got, &closed);
    CHECK(strstr(buf_cstr(&got), "FAIL\t7\tuser=a@b\001tc\n") != NULL);
    buf_reset(&got);
    /* Reusing an id in flight: the connection is dropped. */
    s = "AUTH\t8\tLOGIN\tservice=smtp\nAUTH\t8\tLOGIN\tservice=smtp\n";
    raw_talk(fd, s, strlen(s), 50, &got, &closed);
    CHECK(closed);
    close(fd);

    /* Other abuse: each ends the connection. */
    static const char *const abuse[] = {
        "AUTH\t1\tPLAIN\tservice=smtp\n",            /* no VERSION first */
        "VERSION\t2\t0\n",                            /* wrong major version */
        "VERSION\t1\t0\nHELLO\n",                     /* unknown command */
        "VERSION\t1\t0\nAUTH\tx\tPLAIN\n",            /* bad id */
        "VERSION\t1\t0\nAUTH\t99999999999\tPLAIN\n",  /* id beyond 32 bits */
        "VERSION\t1\t0\nCONT\n",
        "VERSION\t1\t0\nAU\0TH\t1\tPLAIN\n",           /* NUL byte */
    };
    for (size_t i = 0; i < sizeof(abuse) / sizeof(abuse[0]); i++) {
        fd = raw_connect(sock_path);
        closed = 0;
        buf_reset(&got);
        size_t len = i == 6 ? 26 : strlen(abuse[i]);
        raw_talk(fd, abuse[i], len, 50, &got, &closed);
        if (!closed)
            fprintf(stderr, "  not dropped: abuse %zu\n", i);
        CHECK(closed);
        close(fd);
    }
    /* An overlong line. */
    fd = raw_connect(sock_path);
    closed = 0;
    char *big = xmalloc(40000);
    memcpy(big, "VERSION\t1\t0\nAUTH\t1\tPLAIN\tservice=smtp\tresp=", 42);
    memset(big + 42, 'A', 40000 - 42);
    raw_talk(fd, big, 40000, 100, &got, &closed);
    CHECK(closed);
    free(big);
    close(fd);
    /* A client that vanishes with requests in every state does not upset the server. */
    fd = raw_connect(sock_path);
    closed = 0;
    s = "VERSION\t1\t0\nAUTH\t1\tLOGIN\tservice=smtp\n"
        "AUTH\t2\tPLAIN\tservice=smtp\trip=10.9.9.9\tresp=AGJvYgB3cm9uZw==\n";
    raw_talk(fd, s, strlen(s), 20, &got, &closed);
    close(fd);
    run_for(DELAY_MS + 100);
    struct sasl_client *c = client_ready();
    struct attempt t;
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.5.0.1", 0, &t), SASL_OK);
    saslc_free(c);
    buf_free(&got);
}

/* ------------------------------------------------------------------ */
/* CANCEL and expiry                                                   */

/* The server forgets a cancelled request in every state, and expires one whose client went quiet. */
static void test_server_cancel(void)
{
    struct buf got;
    buf_init(&got, 0);
    int closed = 0;
    int fd = raw_connect(sock_path);
    raw_talk(fd, "", 0, 30, &got, &closed);
    buf_reset(&got);
    /* Waiting for the client: CANCEL, then a CONT for it finds nothing. */
    const char *s = "VERSION\t1\t0\nAUTH\t1\tLOGIN\tservice=smtp\n";
    raw_talk(fd, s, strlen(s), 30, &got, &closed);
    CHECK(strstr(buf_cstr(&got), "CONT\t1\tVXNlcm5hbWU6\n") != NULL);
    CHECK_INT(auth_server_requests(srv), 1);
    buf_reset(&got);
    s = "CANCEL\t1\nCONT\t1\tYm9i\n";
    raw_talk(fd, s, strlen(s), 30, &got, &closed);
    CHECK_STR(buf_cstr(&got), "FAIL\t1\treason=Authentication request timed out\n");
    CHECK_INT(auth_server_requests(srv), 0);
    buf_reset(&got);
    /* During the failure delay: no FAIL comes any more. */
    s = "AUTH\t2\tPLAIN\tservice=smtp\trip=10.8.0.1\tresp=AGJvYgB3cm9uZw==\n";
    raw_talk(fd, s, strlen(s), DELAY_MS / 2, &got, &closed);
    CHECK_INT(auth_server_requests(srv), 1);
    raw_talk(fd, "CANCEL\t2\n", 9, DELAY_MS + 100, &got, &closed);
    CHECK_STR(buf_cstr(&got), "");
    CHECK_INT(auth_server_requests(srv), 0);
    /* Waiting for a penalty slot (10.8.0.1 has just failed). */
    s = "AUTH\t3\tPLAIN\tservice=smtp\trip=10.8.0.1\tresp=AGJvYgBib2Jwdw==\n";
    raw_talk(fd, s, strlen(s), 20, &got, &closed);
    CHECK_INT(auth_server_requests(srv), 1);
    raw_talk(fd, "CANCEL\t3\n", 9, PENALTY_MS + 100, &got, &closed);
    CHECK_STR(buf_cstr(&got), "");
    CHECK_INT(auth_server_requests(srv), 0);
    /* While the password is hashed: the job ends, nothing is sent, the request goes. */
    s = "AUTH\t4\tPLAIN\tservice=smtp\tresp=AGFsaWNlQGV4YW1wbGUuY29tAGFsaWNlcHc=\nCANCEL\t4\n";
    raw_talk(fd, s, strlen(s), DELAY_MS + 300, &got, &closed);
    CHECK_STR(buf_cstr(&got), "");
    CHECK_INT(auth_server_requests(srv), 0);
    /* One client address holds at most 32 requests on a connection (here waiting for
     * the client; cancelled ones that still hash count the same): the 33rd fails at
     * once, another address (also the same IPv4 in another /64-less key) still gets in. */
    struct buf many;
    buf_init(&many, 0);
    for (int i = 0; i < 33; i++)
        buf_printf(&many, "AUTH\t%d\tLOGIN\tservice=smtp\trip=10.9.0.1\n", 100 + i);
    buf_puts(&many, "AUTH\t200\tLOGIN\tservice=smtp\trip=10.9.0.2\n");
    buf_reset(&got);
    raw_talk(fd, many.data, many.len, 100, &got, &closed);
    CHECK(strstr(buf_cstr(&got), "FAIL\t132\treason=Too many requests\ttemp\n") != NULL);
    CHECK(strstr(buf_cstr(&got), "CONT\t131\t") != NULL);
    CHECK(strstr(buf_cstr(&got), "CONT\t200\t") != NULL);
    CHECK_INT(auth_server_requests(srv), 33);
    buf_reset(&many);
    for (int i = 0; i < 32; i++)
        buf_printf(&many, "CANCEL\t%d\n", 100 + i);
    buf_puts(&many, "CANCEL\t200\n");
    raw_talk(fd, many.data, many.len, 30, &got, &closed);
    CHECK_INT(auth_server_requests(srv), 0);
    buf_free(&many);
    /* Unknown ids and a repeated CANCEL are ignored; the connection stays. */
    raw_talk(fd, "CANCEL\t77\nCANCEL\t4\nCANCEL\tx\n", 27, 20, &got, &closed);
    CHECK(!closed);
    close(fd);
    buf_free(&got);

    /* A client that never continues: dropped after client_wait_ms, with FAIL. */
    server_stop();
    set.client_wait_ms = 300;
    server_start();
    fd = raw_connect(sock_path);
    buf_init(&got, 0);
    raw_talk(fd, "", 0, 30, &got, &closed);
    buf_reset(&got);
    s = "VERSION\t1\t0\nAUTH\t5\tLOGIN\tservice=smtp\n";
    raw_talk(fd, s, strlen(s), 200, &got, &closed);
    CHECK_INT(auth_server_requests(srv), 1);
    buf_reset(&got);
    raw_talk(fd, "", 0, 200, &got, &closed);
    CHECK_STR(buf_cstr(&got), "FAIL\t5\treason=Authentication request timed out\n");
    CHECK_INT(auth_server_requests(srv), 0);
    /* Each CONT gives the client its time again. */
    buf_reset(&got);
    s = "AUTH\t6\tLOGIN\tservice=smtp\n";
    raw_talk(fd, s, strlen(s), 200, &got, &closed);
    raw_talk(fd, "CONT\t6\tYm9i\n", 12, 200, &got, &closed);
    CHECK(strstr(buf_cstr(&got), "CONT\t6\tUGFzc3dvcmQ6\n") != NULL);
    CHECK(strstr(buf_cstr(&got), "FAIL") == NULL);
    CHECK_INT(auth_server_requests(srv), 1);
    close(fd);
    buf_free(&got);
    server_stop();
    set.client_wait_ms = 0;
    server_start();
}

/* A request the server script below has seen: "AUTH\t<id>\t..." -> id, or 0. */
static unsigned sent_id(const char *got, const char *cmd)
{
    const char *p = strstr(got, cmd);
    return p ? (unsigned)strtoul(p + strlen(cmd), NULL, 10) : 0;
}

struct rec {
    int n;
    enum sasl_status st;
    char text[128];
};

static void rec_cb(void *arg, enum sasl_status st, const char *text)
{
    struct rec *r = arg;
    r->n++;
    r->st = st;
    str_copy(r->text, text ? text : "", sizeof(r->text));
}

/* The client library against a scripted server: CANCEL when it gives up, late replies ignored. */
static void test_client_cancel(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/scripted", dir);
    int lfd = listen_unix(path);
    struct sasl_client *c = saslc_new(loop, path);
    int fd = accept(lfd, NULL, NULL);   /* the client connected at once */
    fd_set_nonblock(fd, 1);
    struct buf got;
    buf_init(&got, 0);
    int closed = 0;
    const char *hello = "VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\nDONE\n";
    raw_talk(fd, hello, strlen(hello), 30, &got, &closed);
    CHECK(saslc_ready(c));
    buf_reset(&got);

    /* "*" after a challenge: CANCEL for that id; the server's late answers go nowhere. */
    struct rec r = {0};
    struct sasl_auth *a = sasl_auth_start(c, "LOGIN", NULL, "10.9.0.1", NULL, 0, rec_cb, &r);
    raw_talk(fd, "", 0, 50, &got, &closed);
    unsigned id = sent_id(buf_cstr(&got), "AUTH\t");
    CHECK(id != 0 && strstr(buf_cstr(&got), "\tLOGIN\tservice=smtp\t") != NULL);
    char line[128];
    snprintf(line, sizeof(line), "CONT\t%u\tVXNlcm5hbWU6\n", id);
    raw_talk(fd, line, strlen(line), 50, &got, &closed);
    CHECK(r.n == 1 && r.st == SASL_CONT);
    CHECK_STR(r.text, "VXNlcm5hbWU6");
    buf_reset(&got);
    sasl_auth_cancel(a);
    raw_talk(fd, "", 0, 50, &got, &closed);
    snprintf(line, sizeof(line), "CANCEL\t%u\n", id);
    CHECK_STR(buf_cstr(&got), line);
    snprintf(line, sizeof(line), "CONT\t%u\tUGFzc3dvcmQ6\nFAIL\t%u\n", id, id);
    raw_talk(fd, line, strlen(line), 50, &got, &closed);
    CHECK_INT(r.n, 1);
    CHECK(saslc_ready(c));

    /* The next request has another id and works. */
    buf_reset(&got);
    a = sasl_auth_start(c, "PLAIN", "AGJvYgBib2Jwdw==", "10.9.0.1", NULL, 0, rec_cb, &r);
    raw_talk(fd, "", 0, 50, &got, &closed);
    unsigned id2 = sent_id(buf_cstr(&got), "AUTH\t");
    CHECK(id2 != 0 && id2 != id);
    snprintf(line, sizeof(line), "OK\t%u\tuser=bob\n", id2);
    raw_talk(fd, line, strlen(line), 50, &got, &closed);
    CHECK(r.n == 2 && r.st == SASL_OK);
    CHECK_STR(r.text, "bob");

    /* Given up while the server works on it (session ended): CANCEL too. */
    buf_reset(&got);
    a = sasl_auth_start(c, "PLAIN", "AGJvYgB4", "10.9.0.1", NULL, 0, rec_cb, &r);
    raw_talk(fd, "", 0, 50, &got, &closed);
    id = sent_id(buf_cstr(&got), "AUTH\t");
    buf_reset(&got);
    sasl_auth_cancel(a);
    raw_talk(fd, "", 0, 50, &got, &closed);
    snprintf(line, sizeof(line), "CANCEL\t%u\n", id);
    CHECK_STR(buf_cstr(&got), line);

    /* Bad data from the client or the server, and timeouts, cancel as well. */
    static const struct {
        const char *mech, *challenge, *answer;
        unsigned wait_ms, server_s;
        enum sasl_status st;
        const char *text;
    } ends[] = {
        {"LOGIN", "VXNlcm5hbWU6", NULL, 100, 0, SASL_TEMPFAIL, "authentication exchange timed out"},
        {"LOGIN", "VXNlcm5hbWU6", "!!", 0, 0, SASL_FAIL, "Invalid base64 data in continued response"},
        {"LOGIN", "!!", NULL, 0, 0, SASL_TEMPFAIL, "malformed challenge from authentication server"},
        {"PLAIN", NULL, NULL, 0, 1, SASL_TEMPFAIL, "authentication server timeout"},
    };
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        saslc_set_client_wait(c, ends[i].wait_ms);
        saslc_set_timeout(c, ends[i].server_s);
        memset(&r, 0, sizeof(r));
        buf_reset(&got);
        a = sasl_auth_start(c, ends[i].mech, NULL, "10.9.0.1", NULL, 0, rec_cb, &r);
        raw_talk(fd, "", 0, 50, &got, &closed);
        id = sent_id(buf_cstr(&got), "AUTH\t");
        buf_reset(&got);
        if (ends[i].challenge) {
            snprintf(line, sizeof(line), "CONT\t%u\t%s\n", id, ends[i].challenge);
            raw_talk(fd, line, strlen(line), 50, &got, &closed);
        }
        if (ends[i].answer && r.st == SASL_CONT)
            sasl_auth_continue(a, ends[i].answer);
        raw_talk(fd, "", 0, ends[i].server_s ? 1100 : 150, &got, &closed);
        CHECK_INT(r.st, ends[i].st);
        CHECK_STR(r.text, ends[i].text);
        snprintf(line, sizeof(line), "CANCEL\t%u\n", id);
        CHECK_STR(buf_cstr(&got), line);
    }
    saslc_free(c);
    close(fd);
    close(lfd);
    unlink(path);
    buf_free(&got);
}

/* Thousands of abandoned exchanges through the real server: none is left behind. */
static void test_abandoned_exchanges(void)
{
    struct sasl_client *c = client_ready();
    enum { BATCH = 1000, ROUNDS = 5 };   /* 5,000: more than a connection may hold */
    static struct rec r[BATCH];
    static struct sasl_auth *a[BATCH];
    for (int round = 0; round < ROUNDS; round++) {
        memset(r, 0, sizeof(r));
        for (int i = 0; i < BATCH; i++) {
            /* many clients (one address may hold only RIP_REQUESTS_MAX requests) */
            char rip[32];
            snprintf(rip, sizeof(rip), "10.10.%d.%d", i / 250, i % 250 + 1);
            a[i] = sasl_auth_start(c, "LOGIN", NULL, rip, NULL, 0, rec_cb, &r[i]);
        }
        int conts = 0;
        for (int tries = 0; tries < 200 && conts < BATCH; tries++) {
            run_for(10);
            conts = 0;
            for (int i = 0; i < BATCH; i++)
                conts += r[i].n == 1 && r[i].st == SASL_CONT;
        }
        CHECK_INT(conts, BATCH);
        for (int i = 0; i < BATCH; i++)
            if (r[i].n == 1 && r[i].st == SASL_CONT)
                sasl_auth_cancel(a[i]);
        /* The cancels are queued behind what the socket could not take yet:
         * wait until the server has seen them all (a leaked request still
         * fails after 5 s), not a fixed 50 ms that a loaded machine misses. */
        for (int tries = 0; tries < 500 && auth_server_requests(srv) != 0; tries++)
            run_for(10);
        CHECK_INT(auth_server_requests(srv), 0);
    }
    struct attempt t;
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.10.0.2", 0, &t), SASL_OK);
    saslc_free(c);
}

static void test_userdb(void)
{
    struct buf got;
    buf_init(&got, 0);
    int closed = 0;
    int fd = raw_connect(userdb_path);
    const char *s = "VERSION\t1\t1\n"
                    "USER\t1\tAlice@Example.com\tservice=lmtp\n"
                    "USER\t2\tghost\tservice=lmtp\n"
                    "USER\t3\tbob\tservice=imap\n"
                    "PASS\t4\tbob\tservice=imap\n";
    raw_talk(fd, s, strlen(s), 50, &got, &closed);
    const char *g = buf_cstr(&got);
    CHECK(strncmp(g, "VERSION\t1\t1\nSPID\t", 17) == 0);
    CHECK(strstr(g, "USER\t1\talice@example.com\tuid=1000\tgid=1000\thome=/home/alice\t"
                    "quota_rule=*:storage=1G\tmail=maildir:~/Mail\n") != NULL);
    CHECK(strstr(g, "NOTFOUND\t2\n") != NULL);
    CHECK(strstr(g, "USER\t3\tbob\n") != NULL);
    CHECK(strstr(g, "FAIL\t4\t") != NULL);
    CHECK(!closed);
    buf_reset(&got);
    raw_talk(fd, "BOGUS\n", strlen("BOGUS\n"), 30, &got, &closed);
    CHECK(closed);
    close(fd);
    /* The userdb socket does not speak the client protocol. */
    fd = raw_connect(userdb_path);
    closed = 0;
    buf_reset(&got);
    s = "VERSION\t1\t1\nAUTH\t1\tPLAIN\tservice=smtp\n";
    raw_talk(fd, s, strlen(s), 30, &got, &closed);
    CHECK(closed);
    close(fd);
    buf_free(&got);
}

/* Dovecot's master REQUEST: a login (AUTH without "nologin") is answered once,
 * to the holder of the connection's cookie, with the userdb fields. */
static void raw_auth_login(int fd, const char *cpid_line, const char *auth_line, struct buf *got)
{
    int closed = 0;
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "VERSION\t1\t2\n%s%s", cpid_line, auth_line);
    raw_talk(fd, b.data, b.len, 300, got, &closed);
    buf_free(&b);
    CHECK(!closed);
}

static void cookie_of(const char *greeting, char *out, size_t outlen)
{
    const char *c = strstr(greeting, "COOKIE\t");
    out[0] = '\0';
    if (!c)
        return;
    c += 7;
    size_t n = strcspn(c, "\n");
    if (n < outlen) {
        memcpy(out, c, n);
        out[n] = '\0';
    }
}

static void test_master_request(void)
{
    struct buf got, resp;
    buf_init(&got, 0);
    buf_init(&resp, 0);
    static const char plain[] = "\0alice@example.com\0alicepw";
    base64_encode(&resp, plain, sizeof(plain) - 1);
    char line[512], cookie[80];
    int cfd = raw_connect(sock_path);
    snprintf(line, sizeof(line), "AUTH\t7\tPLAIN\tservice=imap\trip=10.9.0.1\tresp=%s\n"
             "AUTH\t8\tPLAIN\tservice=imap\tnologin\trip=10.9.0.1\tresp=%s\n",
             buf_cstr(&resp), buf_cstr(&resp));
    raw_auth_login(cfd, "CPID\t4242\n", line, &got);
    cookie_of(buf_cstr(&got), cookie, sizeof(cookie));
    CHECK_INT(strlen(cookie), 32);
    CHECK(strstr(buf_cstr(&got), "OK\t7\tuser=alice@example.com") != NULL);
    CHECK(strstr(buf_cstr(&got), "OK\t8\tuser=alice@example.com") != NULL);

    int mfd = raw_connect(userdb_path);
    int closed = 0;
    buf_reset(&got);
    /* a wrong cookie, an unknown request, a "nologin" one, then the right one twice */
    snprintf(line, sizeof(line), "VERSION\t1\t1\n"
             "REQUEST\t1\t4242\t7\t00000000000000000000000000000000\n"
             "REQUEST\t2\t4243\t7\t%s\n"
             "REQUEST\t3\t4242\t8\t%s\n"
             "REQUEST\t4\t4242\t7\t%s\n"
             "REQUEST\t5\t4242\t7\t%s\n"
             "REQUEST\t6\t4242\n",
             cookie, cookie, cookie, cookie);
    raw_talk(mfd, line, strlen(line), 100, &got, &closed);
    const char *g = buf_cstr(&got);
    CHECK(strstr(g, "FAIL\t1\treason=invalid cookie\n") != NULL);
    CHECK(strstr(g, "FAIL\t2\treason=unknown or expired login request\n") != NULL);
    CHECK(strstr(g, "FAIL\t3\treason=unknown or expired login request\n") != NULL);
    CHECK(strstr(g, "USER\t4\talice@example.com\tuid=1000\tgid=1000\thome=/home/alice\t"
                    "quota_rule=*:storage=1G\tmail=maildir:~/Mail\n") != NULL);
    CHECK(strstr(g, "FAIL\t5\treason=unknown or expired login request\n") != NULL);
    CHECK(strstr(g, "FAIL\t6\treason=malformed REQUEST\n") != NULL);
    CHECK(!closed);
    close(mfd);
    close(cfd);
    buf_free(&got);
    buf_free(&resp);
}

static void test_plaintext_policy(void)
{
    server_stop();
    set.disable_plaintext = 1;
    server_start();
    struct sasl_client *c = client_ready();
    struct attempt t;
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.6.0.1", 0, &t), SASL_FAIL);
    CHECK(strstr(t.text, "Plaintext authentication disallowed") != NULL);
    CHECK_INT(auth1(c, "LOGIN", "bob", "bobpw", "10.6.0.1", 0, &t), SASL_FAIL);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "10.6.0.1", SASL_SECURED, &t), SASL_OK);
    CHECK_INT(auth1(c, "PLAIN", "bob", "bobpw", "127.0.0.1", 0, &t), SASL_OK);  /* rip == lip */
    CHECK_INT(auth1(c, "CRAM-MD5", "bob", "bobpw", "10.6.0.1", 0, &t), SASL_OK);
    saslc_free(c);
    server_stop();
    set.disable_plaintext = 0;
    server_start();
}

static void test_username_format(void)
{
    struct auth_settings s = set;
    char out[256];
    CHECK_INT(auth_username_normalize(&s, "Bob@Example.COM", out, sizeof(out)), 0);
    CHECK_STR(out, "bob@example.com");
    s.username_format = "%Ln";
    CHECK_INT(auth_username_normalize(&s, "Bob@Example.COM", out, sizeof(out)), 0);
    CHECK_STR(out, "bob");
    s.username_format = "%n@%Ld";
    CHECK_INT(auth_username_normalize(&s, "Bob@Example.COM", out, sizeof(out)), 0);
    CHECK_STR(out, "Bob@example.com");
    s.username_format = "%u";
    s.default_realm = "example.org";
    CHECK_INT(auth_username_normalize(&s, "bob", out, sizeof(out)), 0);
    CHECK_STR(out, "bob@example.org");
    s.username_format = "%Uu%%";
    s.default_realm = "";
    CHECK_INT(auth_username_normalize(&s, "bob", out, sizeof(out)), 0);
    CHECK_STR(out, "BOB%");
    s.username_format = "%x";
    CHECK_INT(auth_username_normalize(&s, "bob", out, sizeof(out)), -1);
    /* A format ending in "%", "%L" or "%U" is refused, without reading past
     * its NUL (heap copies of exact size, so ASan sees a one-byte overread). */
    static const char *const cut[] = {"%", "%L", "%U", "%Lu%", "x%U"};
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        char *fmt = xstrdup(cut[i]);
        s.username_format = fmt;
        CHECK_INT(auth_username_normalize(&s, "bob", out, sizeof(out)), -1);
        free(fmt);
    }
    s.username_format = "%Lu";
    CHECK_INT(auth_username_normalize(&s, "", out, sizeof(out)), -1);
    CHECK_INT(auth_username_normalize(&s, "b\tob", out, sizeof(out)), -1);
    CHECK_INT(auth_username_normalize(&s, "b'ob", out, sizeof(out)), -1);
    s.username_chars = "";   /* any printable character */
    CHECK_INT(auth_username_normalize(&s, "b'ob", out, sizeof(out)), 0);
    CHECK_INT(auth_username_normalize(&s, "b\x01ob", out, sizeof(out)), -1);
    char longname[400];
    memset(longname, 'a', 399);
    longname[399] = '\0';
    CHECK_INT(auth_username_normalize(&s, longname, out, sizeof(out)), -1);

    char *p = saslc_socket_path("/var/spool/yubin", "private/auth");
    CHECK_STR(p, "/var/spool/yubin/private/auth");
    free(p);
    p = saslc_socket_path("/var/spool/yubin", "unix:/run/dovecot/auth-client");
    CHECK_STR(p, "/run/dovecot/auth-client");
    free(p);
    p = saslc_socket_path("/q", "unix:private/auth");
    CHECK_STR(p, "/q/private/auth");
    free(p);

    long long ms;
    CHECK_INT(auth_parse_delay("2s", &ms), 0);
    CHECK_INT(ms, 2000);
    CHECK_INT(auth_parse_delay("250ms", &ms), 0);
    CHECK_INT(ms, 250);
    CHECK_INT(auth_parse_delay("3", &ms), 0);
    CHECK_INT(ms, 3000);
    CHECK_INT(auth_parse_delay("1m", &ms), 0);
    CHECK_INT(ms, 60000);
    CHECK_INT(auth_parse_delay("-1s", &ms), -1);
    CHECK_INT(auth_parse_delay("2 s", &ms), -1);
    CHECK_INT(auth_parse_delay("9999999999999", &ms), -1);
    CHECK_INT(auth_parse_delay("", &ms), -1);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/auth", dir);
    snprintf(userdb_path, sizeof(userdb_path), "%s/auth-userdb", dir);
    snprintf(users_path, sizeof(users_path), "%s/users", dir);
    char err[128];
    char *alice = auth_scheme_generate("SHA512-CRYPT", "alicepw", 7, 5000, err, sizeof(err));
    char *carol = auth_scheme_generate("SCRAM-SHA-256", "carolpw", 7, 0, err, sizeof(err));
    char *dave = auth_scheme_generate("CRAM-MD5", "davepw", 6, 0, err, sizeof(err));
    FILE *f = fopen(users_path, "w");
    fprintf(f,
            "alice@example.com:%s:1000:1000::/home/alice::userdb_quota_rule=*:storage=1G "
            "userdb_mail=maildir:~/Mail\n"
            "bob:{PLAIN}bobpw\n"
            "carol:%s\n"
            "dave:%s\n"
            "nopass::\n",
            alice, carol, dave);
    fclose(f);
    free(alice);
    free(carol);
    free(dave);
    char passdb[300];
    snprintf(passdb, sizeof(passdb), "passwd-file:%s", users_path);
    set = (struct auth_settings){
        .passdb = passdb,
        .userdb = passdb,
        .default_scheme = "CRYPT",
        .mechanisms = "plain login cram-md5 scram-sha-256",
        .username_format = "%Lu",
        .username_chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@",
        .default_realm = "",
        .hostname = "mx.example.com",
        .failure_delay_ms = DELAY_MS,
        .penalty_limit_ms = PENALTY_MS,
        .threads = 2,
    };
    loop = ev_loop_new();
    server_start();
    T_RUN(test_mechanisms);
    T_RUN(test_failures);
    T_RUN(test_timing);
    T_RUN(test_dummy_cost);
    T_RUN(test_concurrency);
    T_RUN(test_server_restart);
    T_RUN(test_shutdown);
    T_RUN(test_queued_request_timer);
    T_RUN(test_raw_protocol);
    T_RUN(test_server_cancel);
    T_RUN(test_client_cancel);
    T_RUN(test_abandoned_exchanges);
    T_RUN(test_userdb);
    T_RUN(test_master_request);
    T_RUN(test_plaintext_policy);
    T_RUN(test_username_format);
    server_stop();
    ev_loop_free(loop);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return T_DONE();
}
