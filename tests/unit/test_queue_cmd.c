/*
 * Unit tests for `yubin queue` (src/cmd/queue.c): the exact mailq output
 * format (Postfix's long-queue-ID layout), show, the offline
 * delete/hold/release/requeue on the queue files, and the control
 * protocol against a fake qmgr.
 */
#include "t.h"
#include "cmd/commands.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[256], etc[300], qdir[300];
static char *errout;   /* stderr of the last run() */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    queue_done_reset();
    str_copy(base, "/tmp/yubin-test-qcmd.XXXXXX", sizeof(base));
    if (!mkdtemp(base))
        exit(1);
    str_fmt(etc, sizeof(etc), "%s/etc", base);
    str_fmt(qdir, sizeof(qdir), "%s/queue", base);
    mkdir(etc, 0755);
    char cf[400];
    str_fmt(cf, sizeof(cf), "%s/main.cf", etc);
    FILE *f = fopen(cf, "w");
    fprintf(f, "queue_directory = %s\n", qdir);
    fclose(f);
    CHECK_INT(queue_dir_init(qdir, (uid_t)-1, (gid_t)-1), 0);
}

static void teardown(void)
{
    queue_done_reset();
    nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run `yubin queue ARGS` capturing stdout; returns the exit status, *out malloc'd. */
static int run(char **out, const char *a1, const char *a2, const char *a3)
{
    char *argv[5] = {"queue", (char *)a1, (char *)a2, (char *)a3, NULL};
    int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
    char path[400], epath[400];
    str_fmt(path, sizeof(path), "%s/stdout", base);
    str_fmt(epath, sizeof(epath), "%s/stderr", base);
    fflush(stdout);
    fflush(stderr);
    int saved = dup(1), esaved = dup(2);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    int efd = open(epath, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    dup2(fd, 1);
    dup2(efd, 2);
    close(fd);
    close(efd);
    int rc = cmd_queue(etc, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved, 1);
    dup2(esaved, 2);
    close(saved);
    close(esaved);
    *out = read_file(path, 1 << 24, NULL);
    free(errout);
    errout = read_file(epath, 1 << 24, NULL);
    return rc;
}

static void add(struct queue_writer *w, const char *qid, const char *sender, uint64_t t,
                const char *body, struct qref *ref)
{
    struct qenvelope e;
    qenv_init(&e);
    str_copy(e.qid, qid, sizeof(e.qid));
    e.arrival_usec = t;
    qenv_set_sender(&e, sender);
    qenv_add_rcpt(&e, "rcpt1@example.org", "rfc822;rcpt1@example.org", DSN_NOTIFY_SUCCESS);
    qenv_add_rcpt(&e, "other@example.net", NULL, 0);
    CHECK_INT(queue_writer_add(w, &e, body, strlen(body), ref), 0);
    qenv_free(&e);
}

/* Three messages: one in the journal, one deferred with reasons, one held. */
static void populate(void)
{
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qref r1, r2, r3;
    uint64_t t = 1795438885000000ull;   /* Mon Nov 23 13:01:25 2026 UTC */
    add(w, "4jY5fs2Q7rz1bXxX", "sender1@example.com", t, "Subject: one\n\nhello\n", &r1);
    add(w, "4jY5fs2gRcz1bXxG", "sender2@example.com", t, "Subject: two\n\nhello\n", &r2);
    add(w, "4jY5fs3MQfz1bXyl", "", t, "Subject: three\n\nhello\n", &r3);
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    /* qmgr defers #2 (one recipient delivered) and holds #3. */
    char dir[400];
    struct qenvelope e;
    struct qref nref;
    CHECK_INT(queue_read_envelope(&r2, &e, NULL), 0);
    e.rcpts[0].done = 1;
    qrcpt_set_reason(&e.rcpts[1], "4.4.1", "connect to 127.0.0.1[127.0.0.1]:9: Connection refused");
    e.defer_count = 1;
    str_fmt(dir, sizeof(dir), "%s/deferred", qdir);
    CHECK_INT(queue_copy_to_file(dir, &e, &r2, &nref), 0);
    CHECK_INT(queue_mark_done(qdir, &r2, e.qid, -1), 0);
    qenv_free(&e);
    CHECK_INT(queue_read_envelope(&r3, &e, NULL), 0);
    for (size_t i = 0; i < e.nrcpts; i++)
        qrcpt_set_reason(&e.rcpts[i], "4.4.1", "connect to 127.0.0.1[127.0.0.1]:9: Connection refused");
    str_fmt(dir, sizeof(dir), "%s/hold", qdir);
    CHECK_INT(queue_copy_to_file(dir, &e, &r3, &nref), 0);
    CHECK_INT(queue_mark_done(qdir, &r3, e.qid, -1), 0);
    qenv_free(&e);
    CHECK_INT(queue_done_sync(qdir), 0);
    queue_done_reset();
}

static void test_list_format(void)
{
    setup();
    char *out;
    CHECK_INT(run(&out, "list", NULL, NULL), 0);
    CHECK_STR(out, "Mail queue is empty\n");
    free(out);
    populate();
    CHECK_INT(run(&out, "list", NULL, NULL), 0);
    const char *want =
        "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n"
        "4jY5fs2Q7rz1bXxX*       20 Mon Nov 23 13:01:25 sender1@example.com\n"
        "                                               rcpt1@example.org\n"
        "                                               other@example.net\n"
        "\n"
        "4jY5fs2gRcz1bXxG        20 Mon Nov 23 13:01:25 sender2@example.com\n"
        "                       (connect to 127.0.0.1[127.0.0.1]:9: Connection refused)\n"
        "                                               other@example.net\n"
        "\n"
        "4jY5fs3MQfz1bXyl!       22 Mon Nov 23 13:01:25 MAILER-DAEMON\n"
        "                       (connect to 127.0.0.1[127.0.0.1]:9: Connection refused)\n"
        "                                               rcpt1@example.org\n"
        "                                               other@example.net\n"
        "\n"
        "-- 0 Kbytes in 3 Requests.\n";
    CHECK_STR(out, want);
    free(out);
    teardown();
}

static void test_list_kbytes_singular(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    char body[3000];
    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = '\0';
    add(w, "ABCDEF", "s@x", 1795438885000000ull, body, NULL);
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    char *out;
    CHECK_INT(run(&out, "list", NULL, NULL), 0);
    CHECK(out && strstr(out, "\n-- 2 Kbytes in 1 Request.\n") != NULL);
    free(out);
    teardown();
}

static void test_show(void)
{
    setup();
    populate();
    char *out;
    CHECK_INT(run(&out, "show", "4jY5fs2gRcz1bXxG", NULL), 0);
    CHECK(out && strstr(out, "queue_name: deferred\n"));
    CHECK(out && strstr(out, "done_recipient: rcpt1@example.org\n"));
    CHECK(out && strstr(out, "recipient: other@example.net\n"));
    CHECK(out && strstr(out, "delay_reason: 4.4.1 connect to"));
    CHECK(out && strstr(out, "original_recipient: rfc822;rcpt1@example.org\n"));
    CHECK(out && strstr(out, "MESSAGE CONTENTS"));
    CHECK(out && strstr(out, "\nSubject: two\n\nhello\n*** MESSAGE FILE END"));
    free(out);
    CHECK_INT(run(&out, "show", "NOSUCHID", NULL), 1);
    CHECK_STR(errout, "yubin queue: NOSUCHID: no such message\n");
    free(out);
    CHECK_INT(run(&out, "show", NULL, NULL), 2);
    free(out);
    CHECK_INT(run(&out, "delete", "bad/id", NULL), 2);
    CHECK_STR(errout, "yubin queue: invalid queue ID \"bad/id\"\n");
    free(out);
    CHECK_INT(run(&out, "frob", NULL, NULL), 2);
    free(out);
    teardown();
}

struct counter {
    int journal, deferred, hold;
};

static void count_cb(const struct qref *ref, const struct qenvelope *env, size_t len,
                     const char *where, void *arg)
{
    (void)ref;
    (void)env;
    (void)len;
    struct counter *c = arg;
    c->journal += strcmp(where, "journal") == 0;
    c->deferred += strcmp(where, "deferred") == 0;
    c->hold += strcmp(where, "hold") == 0;
}

static struct counter counts(void)
{
    struct counter c = {0, 0, 0};
    queue_scan(qdir, count_cb, &c);
    return c;
}

static void test_offline_ops(void)
{
    setup();
    populate();
    char *out;
    struct counter c = counts();
    CHECK(c.journal == 1 && c.deferred == 1 && c.hold == 1);
    /* hold a journal message and a deferred one */
    CHECK_INT(run(&out, "hold", "4jY5fs2Q7rz1bXxX", NULL), 0);
    free(out);
    CHECK_INT(run(&out, "hold", "4jY5fs2gRcz1bXxG", NULL), 0);
    free(out);
    c = counts();
    CHECK(c.journal == 0 && c.deferred == 0 && c.hold == 3);
    CHECK_INT(run(&out, "release", "ALL", NULL), 0);
    CHECK(out && strstr(out, "4jY5fs3MQfz1bXyl: released from hold\n"));
    free(out);
    c = counts();
    CHECK(c.journal == 0 && c.deferred == 3 && c.hold == 0);
    CHECK_INT(run(&out, "requeue", "4jY5fs3MQfz1bXyl", NULL), 0);
    free(out);
    CHECK_INT(run(&out, "delete", "4jY5fs2gRcz1bXxG", NULL), 0);
    CHECK_STR(out, "4jY5fs2gRcz1bXxG: removed\n");
    free(out);
    c = counts();
    CHECK(c.deferred == 2);
    CHECK_INT(run(&out, "delete", "NOSUCH", NULL), 1);
    free(out);
    CHECK_INT(run(&out, "delete", "ALL", NULL), 0);
    free(out);
    c = counts();
    CHECK(c.journal == 0 && c.deferred == 0 && c.hold == 0);
    CHECK_INT(run(&out, "flush", NULL, NULL), 1);   /* needs qmgr */
    CHECK_STR(errout, "yubin queue: cannot flush: the mail system is down\n");
    free(out);
    teardown();
}

/* A deferred file whose journal record was never marked done: deleting it offline deletes both. */
static void test_offline_delete_superseded(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qref r;
    add(w, "SUPERSEDED1", "s@x", 1795438885000000ull, "m\n", &r);
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    struct qenvelope e;
    struct qref nref;
    char dir[400];
    CHECK_INT(queue_read_envelope(&r, &e, NULL), 0);
    str_fmt(dir, sizeof(dir), "%s/deferred", qdir);
    CHECK_INT(queue_copy_to_file(dir, &e, &r, &nref), 0);
    qenv_free(&e);
    char *out;
    CHECK_INT(run(&out, "delete", "SUPERSEDED1", NULL), 0);
    free(out);
    struct counter c = counts();
    CHECK(c.journal == 0 && c.deferred == 0 && c.hold == 0);
    teardown();
}

/* A fake qmgr: answers one request per line, records them. */
static void test_control_protocol(void)
{
    setup();
    char sock[400];
    str_fmt(sock, sizeof(sock), "%s/private/qmgr", qdir);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    str_copy(sa.sun_path, sock, sizeof(sa.sun_path));
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_INT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    CHECK_INT(listen(lfd, 4), 0);
    int pfd[2];
    CHECK_INT(pipe(pfd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        close(pfd[0]);
        for (int conn = 0; conn < 2; conn++) {
            int c = accept(lfd, NULL, NULL);
            char buf[4096];
            size_t n = 0;
            for (;;) {
                ssize_t r = read(c, buf + n, sizeof(buf) - n - 1);
                if (r <= 0)
                    break;
                n += (size_t)r;
                buf[n] = '\0';
                char *nl;
                while ((nl = strchr(buf, '\n'))) {
                    size_t len = (size_t)(nl - buf) + 1;
                    if (write(pfd[1], buf, len) < 0)
                        _exit(1);
                    const char *reply = strstr(buf, "BADID") ? "ERR BADID: no such message\n"
                                                             : "OK done\n";
                    if (write(c, reply, strlen(reply)) < 0)
                        _exit(1);
                    memmove(buf, nl + 1, n - len + 1);
                    n -= len;
                }
            }
            close(c);
        }
        _exit(0);
    }
    close(pfd[1]);
    char *out;
    CHECK_INT(run(&out, "delete", "4jY5fs2Q7rz1bXxX", "BADID"), 1);
    CHECK_STR(out, "done\n");
    CHECK_STR(errout, "yubin queue: BADID: no such message\n");
    free(out);
    CHECK_INT(run(&out, "flush", NULL, NULL), 0);
    free(out);
    waitpid(pid, NULL, 0);
    char got[1024];
    ssize_t n = read(pfd[0], got, sizeof(got) - 1);
    got[n > 0 ? n : 0] = '\0';
    CHECK_STR(got, "C delete 4jY5fs2Q7rz1bXxX\nC delete BADID\nC flush ALL\n");
    close(pfd[0]);
    close(lfd);
    teardown();
}

int main(void)
{
    setenv("TZ", "UTC", 1);
    tzset();
    char logpath[128];
    str_fmt(logpath, sizeof(logpath), "/tmp/yubin-test-qcmd-log.%ld", (long)getpid());
    log_set_dest(0, logpath);
    T_RUN(test_list_format);
    T_RUN(test_list_kbytes_singular);
    T_RUN(test_show);
    T_RUN(test_offline_ops);
    T_RUN(test_offline_delete_superseded);
    T_RUN(test_control_protocol);
    unlink(logpath);
    free(errout);
    return T_DONE();
}
