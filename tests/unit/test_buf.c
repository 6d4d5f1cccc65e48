/* Unit tests for buf, util list splitting and address keys, and the event loop timers. */
#include "t.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib/evloop.h"
#include "lib/log.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdlib.h>

static void test_buf_limit(void)
{
    struct buf b;
    buf_init(&b, 8);
    CHECK_INT(buf_puts(&b, "1234"), 0);
    CHECK_INT(buf_puts(&b, "5678"), 0);
    CHECK_INT(buf_puts(&b, "9"), -1);   /* over the limit: refused, not grown */
    CHECK_STR(buf_cstr(&b), "12345678");
    buf_consume(&b, 3);
    CHECK_STR(buf_cstr(&b), "45678");
    CHECK_INT(buf_printf(&b, "%d", 123), 0);
    CHECK_STR(buf_cstr(&b), "45678123");
    buf_free(&b);
}

static void test_split_list(void)
{
    size_t n;
    char **v = str_split_list("  a, b\tc,,d  inline:{ x=1, y=2 } e", &n);
    CHECK_INT(n, 6);
    CHECK_STR(v[0], "a");
    CHECK_STR(v[3], "d");
    CHECK_STR(v[4], "inline:{ x=1, y=2 }");
    CHECK_STR(v[5], "e");
    strv_free(v);
}

/* Per-client limits: IPv4 as is, IPv6 by its /64. */
static void test_ip_limit_key(void)
{
    char k[IP_KEY_MAX];
    ip_limit_key("192.0.2.7", k, sizeof(k));
    CHECK_STR(k, "192.0.2.7");
    ip_limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k, sizeof(k));
    CHECK_STR(k, "2001:db8:1:2::/64");
    char k2[IP_KEY_MAX];
    ip_limit_key("2001:DB8:1:2::1", k2, sizeof(k2));
    CHECK_STR(k2, k);
    ip_limit_key("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", k, sizeof(k));
    CHECK_STR(k, "ffff:ffff:ffff:ffff::/64");
    ip_limit_key("::1", k, sizeof(k));
    CHECK_STR(k, "::/64");
    ip_limit_key("not:an address", k, sizeof(k));
    CHECK_STR(k, "not:an address");
}

static int fired[3];
static struct evloop *loop;
static void tcb(void *arg)
{
    int i = (int)(long)arg;
    fired[i] = 1;
    if (i == 2)
        ev_loop_stop(loop);
}

static void test_timers(void)
{
    loop = ev_loop_new();
    ev_timer_add(loop, 5, tcb, (void *)0L);
    struct ev_timer *t = ev_timer_add(loop, 1, tcb, (void *)1L);
    ev_timer_add(loop, 20, tcb, (void *)2L);
    ev_timer_cancel(loop, t);
    ev_loop_run(loop);
    CHECK_INT(fired[0], 1);
    CHECK_INT(fired[1], 0);
    CHECK_INT(fired[2], 1);
    ev_loop_free(loop);
}

/* INVARIANT aborts with FILE:LINE and the condition in the log, in every build. */
static void test_invariant(void)
{
    INVARIANT(1 + 1 == 2);                 /* holds: nothing happens */
    int p[2];
    CHECK_INT(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        signal(SIGABRT, SIG_DFL);
        log_init("yubin", "test");
        log_set_dest(1, NULL);
        INVARIANT(1 + 1 == 3);
        _exit(0);
    }
    close(p[1]);
    char out[512] = "";
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(out) - 1 && (r = read(p[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(strstr(out, "panic: tests/unit/test_buf.c:") != NULL);
    CHECK(strstr(out, "invariant failed: 1 + 1 == 3") != NULL);
}

int main(void)
{
    T_RUN(test_invariant);
    T_RUN(test_buf_limit);
    T_RUN(test_split_list);
    T_RUN(test_ip_limit_key);
    T_RUN(test_timers);
    return T_DONE();
}
