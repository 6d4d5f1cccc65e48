/*
 * test_master.c - the master's pure parts: worker argv, environment
 * cleaning, restart back-off, role dispatch, listen addresses, socket
 * reuse across reloads, the queue tree and the pid-file lock, the smtpd
 * session count regions (slots per worker, kept or replaced at reload).
 */
#include "lib-conf/config.h"
#include "lib-master/conncount.h"
#include "master/master.h"
#include "t.h"
#include "lib/util.h"
#include "lib-master/worker.h"
#include "auth/auth_role.h"
#include "cmd/commands.h"
#include "deliver/deliver_role.h"
#include "qmgr/qmgr_role.h"
#include "smtpd/smtpd_role.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static struct config *load(const char *main_cf, const char *master_cf)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
    FILE *f = fopen(path, "w");
    fputs(main_cf, f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/master.cf", tmpdir);
    f = fopen(path, "w");
    fputs(master_cf, f);
    fclose(f);
    struct cfg_diags d = {0};
    struct config *c = config_load(tmpdir, &d);
    if (!c)
        cfg_diags_print(&d, stderr);
    cfg_diags_free(&d);
    return c;
}

static void test_worker_argv(void)
{
    struct master_service s = {.name = "submission", .type = SVC_INET, .command = "smtpd"};
    char **v = master_worker_argv("/etc/yubin", &s);
    CHECK_INT(strv_len(v), 6);
    CHECK_STR(v[0], "smtpd");
    CHECK_STR(v[1], "-c");
    CHECK_STR(v[2], "/etc/yubin");
    CHECK_STR(v[3], "worker");
    CHECK_STR(v[4], "submission");
    CHECK_STR(v[5], "inet");
    strv_free(v);
    s.type = SVC_UNIX;
    s.name = "qmgr";
    v = master_worker_argv("/x", &s);
    CHECK_STR(v[5], "unix");
    strv_free(v);
}

static int has(char **v, const char *s)
{
    for (; *v; v++)
        if (strcmp(*v, s) == 0)
            return 1;
    return 0;
}

static void test_clean_env(void)
{
    char *env[] = {"PATH=/bin", "TZ=UTC", "LANG=de_DE", "SECRET=x", "YUBIN_LISTEN_FDS=2",
                   "ASAN_OPTIONS=detect_leaks=0", "TZX=no", NULL};
    char **v = master_clean_env(env, "MAIL_CONFIG TZ LANG=C, XAUTHORITY");
    CHECK(has(v, "TZ=UTC"));
    CHECK(has(v, "LANG=C"));          /* NAME=VALUE sets, overriding the inherited one */
    CHECK(!has(v, "LANG=de_DE"));
    CHECK(has(v, "YUBIN_LISTEN_FDS=2"));
    CHECK(has(v, "ASAN_OPTIONS=detect_leaks=0"));
    CHECK(!has(v, "PATH=/bin"));
    CHECK(!has(v, "SECRET=x"));
    CHECK(!has(v, "TZX=no"));
    CHECK_INT(strv_len(v), 4);
    strv_free(v);
    v = master_clean_env(env, "");
    CHECK_INT(strv_len(v), 2);
    strv_free(v);
}

static void test_backoff(void)
{
    CHECK_INT(master_backoff(0, 5), 1000);          /* first exit: 1 s */
    CHECK_INT(master_backoff(1000, 200), 2000);     /* died at once again: double */
    CHECK_INT(master_backoff(2000, 10), 4000);
    CHECK_INT(master_backoff(8000, 10), 10000);     /* capped */
    CHECK_INT(master_backoff(10000, 10), 10000);
    CHECK_INT(master_backoff(10000, 5000), 1000);   /* it ran a while: back to 1 s */
}

static int (*worker_entry(const char *command))(struct worker *)
{
    const struct worker_role *r = worker_role_find(command);
    return r ? r->main : NULL;
}

static void test_worker_entry(void)
{
    worker_roles_set(yubin_roles);
    CHECK(worker_entry("smtpd") == smtpd_main);
    CHECK(worker_entry("pickup") == pickup_main);
    CHECK(worker_entry("qmgr") == qmgr_main);
    CHECK(worker_entry("virtual") == deliver_main);
    CHECK(worker_entry("local") == deliver_main);
    CHECK(worker_entry("smtp") == smtp_main);
    CHECK(worker_entry("auth") == auth_main);
    CHECK(worker_role_find("smtpd")->check != NULL);
    CHECK(worker_entry("cleanup") == NULL);
    CHECK(worker_entry("pipe") == deliver_main);
    CHECK(worker_entry("oqmgr") == NULL);
    CHECK(worker_entry("") == NULL);
}

static void test_inet_addrs(void)
{
    struct config *c = load("myhostname = mx.example.test\n"
                            "inet_interfaces = all\ninet_protocols = ipv4\n",
                            "smtp inet n - n - - smtpd\n"
                            "127.0.0.1:2525 inet n - n - - smtpd\n"
                            "[::1]:2526 inet n - n - - smtpd\n"
                            "submission inet n - n - - smtpd\n");
    CHECK(c != NULL);
    if (!c)
        return;
    size_t n;
    char err[256];
    struct bind_addr *a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err,
                                            sizeof(err));
    CHECK(a && n == 1 && a[0].family == AF_INET && strcmp(a[0].addr, "0.0.0.0") == 0 &&
          strcmp(a[0].port, "25") == 0);
    free(a);
    a = master_inet_addrs(c, cfg_service_find(c, "submission", SVC_INET), &n, err, sizeof(err));
    CHECK(a && n == 1 && strcmp(a[0].port, "587") == 0);
    free(a);
    a = master_inet_addrs(c, cfg_service_find(c, "127.0.0.1:2525", SVC_INET), &n, err,
                          sizeof(err));
    CHECK(a && n == 1 && strcmp(a[0].addr, "127.0.0.1") == 0 && strcmp(a[0].port, "2525") == 0);
    free(a);
    /* An IPv6 host while inet_protocols is ipv4 only: a clear error. */
    a = master_inet_addrs(c, cfg_service_find(c, "[::1]:2526", SVC_INET), &n, err, sizeof(err));
    CHECK(a == NULL);
    CHECK(strstr(err, "inet_protocols") != NULL || strstr(err, "resolve") != NULL);
    free(a);

    cfg_set(c, "inet_protocols", "ipv4, ipv6");
    cfg_set(c, "inet_interfaces", "loopback-only");
    a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err, sizeof(err));
    CHECK(a && n == 2 && strcmp(a[0].addr, "127.0.0.1") == 0 && a[1].family == AF_INET6 &&
          strcmp(a[1].addr, "::1") == 0);
    free(a);
    cfg_set(c, "inet_interfaces", "127.0.0.1, [::1], 127.0.0.1");
    a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err, sizeof(err));
    CHECK(a && n == 2);
    if (!a)
        fprintf(stderr, "%s\n", err);
    free(a);
    cfg_set(c, "inet_interfaces", "");
    a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err, sizeof(err));
    CHECK(a == NULL && strstr(err, "inet_interfaces is empty"));
    cfg_set(c, "inet_interfaces", "not-an-address.invalid");
    a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err, sizeof(err));
    CHECK(a == NULL && strstr(err, "not-an-address.invalid"));
    cfg_set(c, "inet_interfaces", "all");
    cfg_set(c, "inet_protocols", "none");
    a = master_inet_addrs(c, cfg_service_find(c, "smtp", SVC_INET), &n, err, sizeof(err));
    CHECK(a == NULL && strstr(err, "inet_protocols"));
    config_free(c);
}

static int port_of(int fd)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    return ntohs(sin.sin_port);
}

static void test_listeners_reuse(void)
{
    char main_cf[1024];
    snprintf(main_cf, sizeof(main_cf),
             "myhostname = mx.example.test\nqueue_directory = %s/q\n"
             "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n", tmpdir);
    struct config *c = load(main_cf, "qmgr unix n - n 300 1 qmgr\n"
                                     "virtual unix - n n - - virtual\n");
    CHECK(c != NULL);
    if (!c)
        return;
    char err[512], qd[512];
    snprintf(qd, sizeof(qd), "%s/q", tmpdir);
    CHECK_INT(master_queue_tree(qd, getuid(), getgid(), err, sizeof(err)), 0);
    struct listeners *ls = listeners_new();
    size_t n1, n2, n3;
    const struct master_service *qmgr = cfg_service(c, 0), *virt = cfg_service(c, 1);
    int *a = listeners_for_service(ls, c, qmgr, getuid(), getgid(), 1, &n1, err, sizeof(err));
    CHECK(a && n1 == 1);
    char path[600];
    snprintf(path, sizeof(path), "%s/q/public/qmgr", tmpdir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0666);
    int *b = listeners_for_service(ls, c, virt, getuid(), getgid(), 1, &n2, err, sizeof(err));
    snprintf(path, sizeof(path), "%s/q/private/virtual", tmpdir);
    CHECK(b && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* A reload that keeps qmgr but drops virtual. */
    listeners_unmark(ls);
    int *a2 = listeners_for_service(ls, c, qmgr, getuid(), getgid(), 1, &n3, err, sizeof(err));
    CHECK(a2 && a2[0] == a[0]);
    listeners_close_unused(ls);
    CHECK(fcntl(a[0], F_GETFD) >= 0);
    CHECK(fcntl(b[0], F_GETFD) < 0);          /* closed */
    CHECK(stat(path, &st) < 0);               /* and its socket file removed */
    free(a);
    free(a2);
    free(b);
    listeners_free(ls);
    config_free(c);
}

static void test_count_regions(void)
{
    struct master_service smtpd = {.name = "smtp", .type = SVC_INET, .command = "smtpd"};
    struct master_service sub = {.name = "submission", .type = SVC_INET, .command = "smtpd"};
    struct master_service qmgr = {.name = "qmgr", .type = SVC_UNIX, .command = "qmgr"};
    struct count_regions *rs = count_regions_new();
    CHECK(count_region_get(rs, &qmgr, 1) == NULL);
    struct count_region *r = count_region_get(rs, &smtpd, 2);
    CHECK(r != NULL);
    CHECK(count_region_get(rs, &sub, 2) != r);
    /* Two workers: distinct slots, each the only writer of its counts. */
    int k0 = count_region_take(r);
    count_region_own(r, k0, 1000);
    int k1 = count_region_take(r);
    count_region_own(r, k1, 1001);
    CHECK(k0 >= 0 && k1 >= 0 && k0 != k1);
    char err[256];
    struct conncount *w0 = conncount_attach(count_region_fd(r), (unsigned)k0, err, sizeof(err));
    struct conncount *w1 = conncount_attach(count_region_fd(r), (unsigned)k1, err, sizeof(err));
    CHECK(w0 && w1);
    struct net_addr a;
    net_addr_parse("192.0.2.1", &a, 1);
    conncount_add(w0, &a);
    conncount_add(w0, &a);
    conncount_add(w1, &a);
    CHECK_INT(conncount_total(w1, &a), 3);
    /* Worker 1000 dies: its sessions stop counting, its slot is free again. */
    count_regions_exited(rs, 1000);
    CHECK_INT(conncount_total(w1, &a), 1);
    /* A reload with the same two processes keeps the region (old workers count on). */
    count_regions_unmark(rs);
    CHECK(count_region_get(rs, &smtpd, 2) == r);
    count_regions_sweep(rs);
    /* Eight new processes do not fit beside the old one: a larger region. */
    count_regions_unmark(rs);
    struct count_region *big = count_region_get(rs, &smtpd, 8);
    CHECK(big != NULL && big != r);
    count_regions_sweep(rs);
    CHECK_INT(conncount_total(w1, &a), 1);   /* 1001 counts on in the retired region */
    count_regions_exited(rs, 1001);
    conncount_free(w0);
    conncount_free(w1);
    count_regions_free(rs);
}

static void test_inet_bind_error(void)
{
    /* A port in use gives a clear error naming the service and address. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK(bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(s, 1) == 0);
    int port = port_of(s);
    char main_cf[512], master_cf[256];
    snprintf(main_cf, sizeof(main_cf), "myhostname = mx.example.test\nqueue_directory = %s/q\n",
             tmpdir);
    snprintf(master_cf, sizeof(master_cf), "127.0.0.1:%d inet n - n - - smtpd\n", port);
    struct config *c = load(main_cf, master_cf);
    CHECK(c != NULL);
    if (c) {
        struct listeners *ls = listeners_new();
        size_t n;
        char err[512];
        int *fds = listeners_for_service(ls, c, cfg_service(c, 0), getuid(), getgid(), 1, &n,
                                         err, sizeof(err));
        CHECK(fds == NULL);
        char want[64];
        snprintf(want, sizeof(want), "bind 127.0.0.1:%d: Address already in use", port);
        CHECK(strstr(err, want) != NULL);
        CHECK(strstr(err, "/inet") != NULL);
        listeners_free(ls);
        config_free(c);
    }
    close(s);
}

static void test_queue_tree_and_pid(void)
{
    char qd[512], err[512];
    snprintf(qd, sizeof(qd), "%s/spool/deep/queue", tmpdir);
    CHECK_INT(master_queue_tree(qd, getuid(), getgid(), err, sizeof(err)), 0);
    static const char *const subs[] = {"journal", "deferred", "hold", "maildrop",
                                       "private", "public", "pid"};
    for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", qd, subs[i]);
        CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    }
    /* Private where the queue is, open to drop into (not to read) where maildrop is. */
    char p2[600];
    struct stat st2;
    snprintf(p2, sizeof(p2), "%s/journal", qd);
    CHECK(stat(p2, &st2) == 0 && (st2.st_mode & 07777) == 0700);
    snprintf(p2, sizeof(p2), "%s/maildrop", qd);
    CHECK(stat(p2, &st2) == 0 && (st2.st_mode & 07777) == 01733);
    /* Idempotent. */
    CHECK_INT(master_queue_tree(qd, getuid(), getgid(), err, sizeof(err)), 0);
    /* A file where a directory belongs. */
    char bad[600];
    snprintf(bad, sizeof(bad), "%s/badq", tmpdir);
    mkdir(bad, 0755);
    snprintf(bad, sizeof(bad), "%s/badq/journal", tmpdir);
    close(open(bad, O_CREAT | O_WRONLY, 0644));
    snprintf(bad, sizeof(bad), "%s/badq", tmpdir);
    CHECK(master_queue_tree(bad, getuid(), getgid(), err, sizeof(err)) < 0);
    CHECK(strstr(err, "journal") != NULL);

    char pid[600];
    snprintf(pid, sizeof(pid), "%s/pid/master.pid", qd);
    CHECK_INT(master_running_pid(pid), 0);
    pid_t running;
    int fd = master_pid_lock(pid, &running, err, sizeof(err));
    CHECK(fd >= 0);
    CHECK_INT(master_pid_write(fd, getpid()), 0);
    CHECK_INT(master_running_pid(pid), getpid());
    /* A second master is refused and told who runs. */
    int fd2 = master_pid_lock(pid, &running, err, sizeof(err));
    CHECK(fd2 < 0);
    CHECK_INT(running, getpid());
    CHECK(strstr(err, "already running") != NULL);
    close(fd);
    /* Lock released: a stale pid file does not count as running. */
    CHECK_INT(master_running_pid(pid), 0);
}

int main(void)
{
    str_copy(tmpdir, "/tmp/yubin-test-master.XXXXXX", sizeof(tmpdir));
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    T_RUN(test_worker_argv);
    T_RUN(test_clean_env);
    T_RUN(test_backoff);
    T_RUN(test_worker_entry);
    T_RUN(test_inet_addrs);
    T_RUN(test_listeners_reuse);
    T_RUN(test_count_regions);
    T_RUN(test_inet_bind_error);
    T_RUN(test_queue_tree_and_pid);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return T_DONE();
}
