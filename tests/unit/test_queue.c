/*
 * Unit tests for the durable queue: CRC, queue IDs, the envelope codec
 * (round trip and hostile input), the writer with group commit and
 * notifications, rotation and seals, scans after simulated crashes (torn
 * tails at every byte, bad checksums, torn done logs), per-recipient done
 * marks, deferred/hold files superseding journal records, segment removal
 * only when closed, large content from an fd, and ENOSPC when a small
 * tmpfs can be mounted.
 *
 * `test_queue --bench [DIR]` runs the group-commit micro-benchmark instead.
 */
#include "t.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "lib-queue/queue_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

uint32_t queue_crc32c_sw(uint32_t crc, const void *data, size_t len);

static char qdir[256];
static char logpath[300];

/* ---- helpers ---- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    queue_done_reset();
    str_copy(qdir, "/tmp/yubin-test-queue.XXXXXX", sizeof(qdir));
    if (!mkdtemp(qdir)) {
        perror("mkdtemp");
        exit(1);
    }
    CHECK_INT(queue_dir_init(qdir, (uid_t)-1, (gid_t)-1), 0);
}

static void teardown(void)
{
    queue_done_reset();
    rm_rf(qdir);
}

static void path_in(char *out, size_t n, const char *sub)
{
    str_fmt(out, n, "%s/%s", qdir, sub);
}

/* A full envelope with every field set. */
static void make_env(struct qenvelope *e, const char *qid, size_t nrcpts)
{
    qenv_init(e);
    if (qid)
        str_copy(e->qid, qid, sizeof(e->qid));
    else
        queue_new_id(e->qid, sizeof(e->qid));
    e->arrival_usec = 1700000000123456ull;
    qenv_set_sender(e, "sender@example.com");
    for (size_t i = 0; i < nrcpts; i++) {
        char a[64];
        str_fmt(a, sizeof(a), "rcpt%zu@example.org", i);
        qenv_add_rcpt(e, a, NULL, DSN_NOTIFY_FAILURE);
    }
    qenv_set_attr(e, "client_name", "mail.example.com");
    qenv_set_attr(e, "client_address", "192.0.2.1");
}

struct seen {
    char qid[QUEUE_ID_MAX];
    char where[16];
    struct qref ref;
    size_t nrcpts;
    int done[8];
    size_t clen;
};

struct seen_list {
    struct seen v[4096];
    size_t n;
};

static void collect(const struct qref *ref, const struct qenvelope *env, size_t clen,
                    const char *where, void *arg)
{
    struct seen_list *l = arg;
    if (l->n >= ARRAY_LEN(l->v))
        return;
    struct seen *s = &l->v[l->n++];
    memset(s, 0, sizeof(*s));
    str_copy(s->qid, env->qid, sizeof(s->qid));
    str_copy(s->where, where, sizeof(s->where));
    s->ref = *ref;
    s->nrcpts = env->nrcpts;
    for (size_t i = 0; i < env->nrcpts && i < 8; i++)
        s->done[i] = env->rcpts[i].done;
    s->clen = clen;
}

static int scan_count(int flags, struct seen_list *l)
{
    l->n = 0;
    return queue_scan_flags(qdir, flags, collect, l);
}

static size_t file_size(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 ? (size_t)sb.st_size : (size_t)-1;
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int log_contains(const char *needle)
{
    char *s = read_file(logpath, 1 << 24, NULL);
    int r = s && strstr(s, needle) != NULL;
    free(s);
    return r;
}

static void log_clear(void)
{
    int fd = open(logpath, O_WRONLY | O_TRUNC);
    if (fd >= 0)
        close(fd);
}

/* ---- CRC and IDs ---- */

static void test_crc32c(void)
{
    CHECK_INT(queue_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_INT(queue_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_INT(queue_crc32c(0, "", 0), 0);
    unsigned char data[1000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 31 + 7);
    for (size_t len = 0; len < 70; len++) {
        uint32_t a = queue_crc32c(0, data + 3, len), b = queue_crc32c_sw(0, data + 3, len);
        CHECK_INT(a, b);
    }
    /* Incremental equals one shot. */
    uint32_t one = queue_crc32c(0, data, sizeof(data));
    uint32_t inc = queue_crc32c(queue_crc32c(0, data, 333), data + 333, sizeof(data) - 333);
    CHECK_INT(one, inc);
    /* A seed changes the result. */
    CHECK(queue_crc32c(1, data, 10) != queue_crc32c(0, data, 10));
}

static void test_queue_ids(void)
{
    char prev[QUEUE_ID_MAX] = "";
    long long now = (long long)time(NULL);
    for (int i = 0; i < 5000; i++) {
        char id[QUEUE_ID_MAX];
        queue_new_id(id, sizeof(id));
        CHECK(queue_id_valid(id));
        CHECK(strlen(id) >= 12);
        CHECK(id[10] == 'z');
        CHECK(strpbrk(id, "AEIOUaeiou") == NULL);
        CHECK(strchr(id + 11, 'z') == NULL);
        /* Strictly increasing in string order. */
        CHECK(strcmp(prev, id) < 0);
        str_copy(prev, id, sizeof(prev));
    }
    long long t = queue_id_time(prev);
    CHECK(t >= now - 1 && t <= now + 2);
    /* Postfix's encoding of a known time (postqueue showed 4jY5fs... at 1795438885). */
    CHECK_INT(queue_id_time("4jY5hD1pzHz1bY2y"), 1795438956);
    CHECK(!queue_id_valid(""));
    CHECK(!queue_id_valid("abc/def"));
    CHECK(!queue_id_valid("0123456789012345678901234567890123"));
    CHECK(queue_id_valid("ABC123"));
    /* Different processes never produce the same ID. */
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char id[QUEUE_ID_MAX];
        queue_new_id(id, sizeof(id));
        if (write(fds[1], id, sizeof(id)) < 0)
            _exit(1);
        _exit(0);
    }
    char mine[QUEUE_ID_MAX], theirs[QUEUE_ID_MAX] = "";
    queue_new_id(mine, sizeof(mine));
    CHECK(read(fds[0], theirs, sizeof(theirs)) == (ssize_t)sizeof(theirs));
    waitpid(pid, NULL, 0);
    close(fds[0]);
    close(fds[1]);
    CHECK(strcmp(mine, theirs) != 0);
    CHECK(strcmp(mine + 11, theirs + 11) != 0);   /* the pid part */
}

/* ---- envelopes ---- */

static void check_env_equal(const struct qenvelope *a, const struct qenvelope *b)
{
    CHECK_STR(a->qid, b->qid);
    CHECK(a->arrival_usec == b->arrival_usec);
    CHECK_STR(a->sender, b->sender);
    CHECK((a->envid == NULL) == (b->envid == NULL));
    if (a->envid && b->envid)
        CHECK_STR(a->envid, b->envid);
    CHECK_INT(a->ret_full, b->ret_full);
    CHECK_INT(a->smtputf8, b->smtputf8);
    CHECK_INT(a->eightbit, b->eightbit);
    CHECK_INT(a->defer_count, b->defer_count);
    CHECK(a->next_try_usec == b->next_try_usec);
    CHECK_INT(a->nattrs, b->nattrs);
    for (size_t i = 0; i < a->nattrs && i < b->nattrs; i++)
        CHECK_STR(a->attrs[i], b->attrs[i]);
    CHECK(b->nattrs == 0 || b->attrs[b->nattrs] == NULL);
    CHECK_INT(a->nrcpts, b->nrcpts);
    for (size_t i = 0; i < a->nrcpts && i < b->nrcpts; i++) {
        const struct qrcpt *x = &a->rcpts[i], *y = &b->rcpts[i];
        CHECK_STR(x->addr, y->addr);
        CHECK((x->orcpt == NULL) == (y->orcpt == NULL));
        if (x->orcpt && y->orcpt)
            CHECK_STR(x->orcpt, y->orcpt);
        CHECK_INT(x->notify, y->notify);
        CHECK_INT(x->done, y->done);
        CHECK_INT(x->flags, y->flags);
        CHECK((x->status == NULL) == (y->status == NULL));
        if (x->status && y->status)
            CHECK_STR(x->status, y->status);
        CHECK((x->reason == NULL) == (y->reason == NULL));
        if (x->reason && y->reason)
            CHECK_STR(x->reason, y->reason);
    }
}

static void full_env(struct qenvelope *e)
{
    qenv_init(e);
    str_copy(e->qid, "4ZxMzF3TQSz9sPg", sizeof(e->qid));
    e->arrival_usec = UINT64_MAX;
    qenv_set_sender(e, "");
    qenv_set_envid(e, "env id with spaces+2B");
    e->ret_full = 1;
    e->smtputf8 = 1;
    e->eightbit = 1;
    e->defer_count = 7;
    e->next_try_usec = 1800000000000000ull;
    qenv_set_attr(e, "client_name", "mail.example.com");
    qenv_set_attr(e, "client_address", "2001:db8::1");
    qenv_set_attr(e, "helo_name", "[192.0.2.1]");
    qenv_set_attr(e, "protocol", "ESMTPSA");
    qenv_set_attr(e, "sasl_username", "user=with=equals");
    qenv_set_attr(e, "rewrite_context", "remote");
    qenv_set_attr(e, "empty", "");
    qenv_set_attr(e, "hold", "yes");
    qenv_set_attr(e, "hold", NULL);              /* removed again */
    qenv_set_attr(e, "protocol", "ESMTPS");       /* replaced in place */
    struct qrcpt *r = qenv_add_rcpt(e, "\"john doe\"@example.org", "rfc822;John@Example.org",
                                    DSN_NOTIFY_SUCCESS | DSN_NOTIFY_DELAY);
    r->flags = QRCPT_EXPANDED | 0x10000;
    qrcpt_set_reason(r, "4.4.1", "connect to mx.example.org[192.0.2.9]:25: Connection refused");
    r = qenv_add_rcpt(e, "b@example.net", "", DSN_NOTIFY_NEVER);
    r->done = RCPT_DONE;
    qrcpt_set_reason(r, NULL, "");
    qenv_add_rcpt(e, "\xc3\xa4@example.de", NULL, 0);
}

static void test_envelope_roundtrip(void)
{
    struct qenvelope e, d, c;
    full_env(&e);
    CHECK_STR(qenv_attr(&e, "protocol"), "ESMTPS");
    CHECK_STR(qenv_attr(&e, "sasl_username"), "user=with=equals");
    CHECK_STR(qenv_attr(&e, "empty"), "");
    CHECK(qenv_attr(&e, "hold") == NULL);
    CHECK(qenv_attr(&e, "client") == NULL);
    CHECK_INT(qenv_pending(&e), 2);
    struct buf b1, b2;
    buf_init(&b1, 0);
    buf_init(&b2, 0);
    CHECK_INT(qenv_encode(&e, &b1), 0);
    const char *why = NULL;
    CHECK_INT(qenv_decode(b1.data, b1.len, &d, &why), 0);
    check_env_equal(&e, &d);
    CHECK_INT(qenv_encode(&d, &b2), 0);
    CHECK_INT(b1.len, b2.len);
    CHECK(memcmp(b1.data, b2.data, b1.len) == 0);
    /* Deep copy, and adding to a copy grows it safely. */
    qenv_copy(&c, &e);
    check_env_equal(&e, &c);
    for (int i = 0; i < 20; i++)
        qenv_add_rcpt(&c, "more@example.com", NULL, 0);
    CHECK_INT(c.nrcpts, 23);
    qenv_free(&c);
    /* A minimal envelope: NULLs stay NULL, defaults stay. */
    struct qenvelope m, md;
    qenv_init(&m);
    str_copy(m.qid, "ABC", sizeof(m.qid));
    qenv_add_rcpt(&m, "x@y", NULL, 0);
    buf_reset(&b1);
    CHECK_INT(qenv_encode(&m, &b1), 0);
    CHECK_INT(qenv_decode(b1.data, b1.len, &md, &why), 0);
    check_env_equal(&m, &md);
    CHECK(md.envid == NULL);
    CHECK_INT(md.ret_full, -1);
    qenv_free(&m);
    qenv_free(&md);
    qenv_free(&e);
    qenv_free(&d);
    buf_free(&b1);
    buf_free(&b2);
}

static void test_envelope_invalid(void)
{
    struct buf b;
    buf_init(&b, 0);
    struct qenvelope e;
    make_env(&e, "QID1", 1);
    CHECK_INT(qenv_encode(&e, &b), 0);
    size_t good = b.len;

    qenv_set_sender(&e, "bad\r\nsender");
    CHECK_INT(qenv_encode(&e, &b), -1);
    CHECK_INT(errno, EINVAL);
    CHECK_INT(b.len, good);   /* nothing appended on failure */
    qenv_set_sender(&e, "ok@example.com");

    free(e.rcpts[0].addr);
    e.rcpts[0].addr = xstrdup("a\nb@c");
    CHECK_INT(qenv_encode(&e, &b), -1);
    free(e.rcpts[0].addr);
    e.rcpts[0].addr = xstrdup("");
    CHECK_INT(qenv_encode(&e, &b), -1);
    free(e.rcpts[0].addr);
    char *longaddr = xmalloc(QUEUE_ADDR_MAX + 2);
    memset(longaddr, 'a', QUEUE_ADDR_MAX + 1);
    longaddr[QUEUE_ADDR_MAX + 1] = '\0';
    e.rcpts[0].addr = longaddr;
    CHECK_INT(qenv_encode(&e, &b), -1);
    free(e.rcpts[0].addr);
    e.rcpts[0].addr = xstrdup("ok@x");
    CHECK_INT(qenv_encode(&e, &b), 0);

    qrcpt_set_reason(&e.rcpts[0], NULL, "line1\nline2");
    CHECK_INT(qenv_encode(&e, &b), -1);
    qrcpt_set_reason(&e.rcpts[0], NULL, NULL);

    qenv_set_attr(&e, "bad name", "x");
    CHECK_INT(qenv_encode(&e, &b), -1);
    qenv_set_attr(&e, "bad name", NULL);
    qenv_set_attr(&e, "ok", "va\rlue");
    CHECK_INT(qenv_encode(&e, &b), -1);
    qenv_set_attr(&e, "ok", NULL);

    str_copy(e.qid, "bad-qid", sizeof(e.qid));
    CHECK_INT(qenv_encode(&e, &b), -1);
    str_copy(e.qid, "QID1", sizeof(e.qid));
    qenv_set_envid(&e, "x\ny");
    CHECK_INT(qenv_encode(&e, &b), -1);
    qenv_set_envid(&e, NULL);

    struct qenvelope none;
    qenv_init(&none);
    str_copy(none.qid, "QID2", sizeof(none.qid));
    CHECK_INT(qenv_encode(&none, &b), -1);   /* no recipients */
    qenv_free(&none);
    qenv_free(&e);
    buf_free(&b);
}

static int decode_str(const char *s)
{
    struct qenvelope e;
    const char *why;
    int r = qenv_decode(s, strlen(s), &e, &why);
    qenv_free(&e);
    return r;
}

static void test_envelope_hostile(void)
{
    const char *base = "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n";
    CHECK_INT(decode_str(base), 0);
    static const char *const bad[] = {
        "",
        "V 2\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",          /* version */
        "Q ABC\nV 1\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",          /* order */
        "V 1\nQ ABC\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",   /* duplicate */
        "V 1\nQ A-C\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",          /* qid chars */
        "V 1\nQ ABC\nT x\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",          /* number */
        "V 1\nQ ABC\nT 99999999999999999999\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0\nC 0 0\nR 0 0 0 x@y\n",            /* missing field */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0 0\nC 0 0\nR 0 0 0 x@y\n",        /* extra field */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 99999999999\nC 0 0\nR 0 0 0 x@y\n",/* int overflow */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\n",                       /* no recipient */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 \n",             /* empty address */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 x@y\n",            /* short R */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 -1 0 x@y\n",         /* negative flags */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nO x\nR 0 0 0 x@y\n",     /* O before R */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\nO a\nO b\n",/* O twice */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\nX a\nD b\n",/* D after X */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\nA a=b\n",   /* A after R */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nA noequals\nR 0 0 0 x@y\n",
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nA =v\nR 0 0 0 x@y\n",
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nZ what\nR 0 0 0 x@y\n",  /* unknown key */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y",            /* unterminated */
        "V 1\nQ ABC\nT 1\nS a@b\r\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",        /* CR */
        "V 1\nQ ABC\nT 1\nSa@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",           /* no space */
        "V 1\nQ ABC\nT 1\nS a@b\nE x\nE y\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n",/* two envids */
        "V 1\nQ ABC\nT 1\nS a@b\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n\n",        /* empty line */
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int r = decode_str(bad[i]);
        if (r != -1)
            fprintf(stderr, "accepted bad envelope #%zu\n", i);
        CHECK_INT(r, -1);
    }
    /* NUL inside. */
    char withnul[64];
    memcpy(withnul, base, strlen(base));
    withnul[12] = '\0';
    struct qenvelope e;
    const char *why;
    CHECK_INT(qenv_decode(withnul, strlen(base), &e, &why), -1);
    qenv_free(&e);
    /* Oversized address. */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "V 1\nQ ABC\nT 1\nS ");
    for (int i = 0; i <= QUEUE_ADDR_MAX; i++)
        buf_putc(&b, 'a');
    buf_puts(&b, "\nF -1 0 0\nC 0 0\nR 0 0 0 x@y\n");
    CHECK_INT(qenv_decode(b.data, b.len, &e, &why), -1);
    qenv_free(&e);
    /* Mutations of a valid envelope never crash; whatever parses re-encodes. */
    struct qenvelope full;
    full_env(&full);
    buf_reset(&b);
    qenv_encode(&full, &b);
    qenv_free(&full);
    unsigned seed = 12345;
    struct buf m, out;
    buf_init(&m, 0);
    buf_init(&out, 0);
    for (int round = 0; round < 3000; round++) {
        buf_reset(&m);
        buf_append(&m, b.data, b.len);
        int nmut = 1 + (int)(rand_r(&seed) % 4);
        for (int k = 0; k < nmut; k++) {
            size_t pos = (size_t)rand_r(&seed) % m.len;
            static const char pool[] = " \n0123456789-=ARXODQVTSECFz\r";
            m.data[pos] = pool[(size_t)rand_r(&seed) % (sizeof(pool) - 1)];
        }
        size_t len = m.len - (size_t)rand_r(&seed) % 3;
        if (qenv_decode(m.data, len, &e, &why) == 0) {
            buf_reset(&out);
            CHECK_INT(qenv_encode(&e, &out), 0);
        }
        qenv_free(&e);
    }
    buf_free(&m);
    buf_free(&out);
    buf_free(&b);
}

/* ---- writer, commit, notification ---- */

static int listen_unix(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
        perror("listen");
        return -1;
    }
    return fd;
}

/* Read what is available on fd (after a short wait). */
static void read_avail(int fd, struct buf *b)
{
    char tmp[65536];
    fd_set_nonblock(fd, 1);
    for (int i = 0; i < 50; i++) {
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            buf_append(b, tmp, (size_t)n);
            i = 0;
            continue;
        }
        if (n == 0)
            break;
        usleep(2000);
        if (b->len && i > 5)
            break;
    }
}

static void test_group_commit(void)
{
    setup();
    char sock[512];
    path_in(sock, sizeof(sock), "private/qmgr");
    int lfd = listen_unix(sock);
    struct queue_writer *w = queue_writer_open(qdir, sock);
    CHECK(w != NULL);
    CHECK(queue_writer_segment(w) == NULL);   /* created lazily */
    struct qref refs[100];
    char qids[100][QUEUE_ID_MAX];
    for (int i = 0; i < 100; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 1 + i % 3);
        str_copy(qids[i], e.qid, sizeof(qids[i]));
        char body[128];
        str_fmt(body, sizeof(body), "Subject: %d\n\nbody %d\n", i, i);
        CHECK_INT(queue_writer_add(w, &e, body, strlen(body), &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_pending(w), 100);
    const char *seg = queue_writer_segment(w);
    CHECK(seg != NULL);
    CHECK(seg && strstr(seg, "/journal/J") != NULL);
    CHECK_INT(refs[0].offset, 32);
    CHECK_INT(refs[1].offset, refs[0].offset + (off_t)refs[0].length);
    /* The segment is locked by its writer. */
    CHECK_INT(q_locked(seg), 1);
    CHECK_INT(queue_writer_commit(w), 0);
    CHECK_INT(queue_writer_pending(w), 0);
    CHECK_INT(queue_writer_commit(w), 0);    /* nothing pending: fine */

    /* qmgr hears about every committed record. */
    int cfd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0);
    struct buf got;
    buf_init(&got, 0);
    read_avail(cfd, &got);
    struct buf want;
    buf_init(&want, 0);
    for (int i = 0; i < 100; i++)
        buf_printf(&want, "N %s\t%lld\t%zu\t%s\n", refs[i].path, (long long)refs[i].offset,
                   refs[i].length, qids[i]);
    CHECK_INT(got.len, want.len);
    CHECK(got.len == want.len && memcmp(got.data, want.data, got.len) == 0);

    /* Read back, in order. */
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 100);
    for (int i = 0; i < 100 && i < (int)l->n; i++) {
        CHECK_STR(l->v[i].qid, qids[i]);
        CHECK_STR(l->v[i].where, "journal");
        CHECK_INT(l->v[i].ref.offset, refs[i].offset);
        CHECK_INT(l->v[i].ref.content_offset, refs[i].content_offset);
        CHECK_INT(l->v[i].nrcpts, 1 + i % 3);
    }
    struct qenvelope e;
    struct buf content;
    buf_init(&content, 1 << 20);
    CHECK_INT(queue_read(&refs[42], &e, &content), 0);
    CHECK_STR(e.qid, qids[42]);
    CHECK_STR(content.data, "Subject: 42\n\nbody 42\n");
    CHECK_STR(qenv_attr(&e, "client_address"), "192.0.2.1");
    qenv_free(&e);
    /* The content location lets a delivery agent pread the message. */
    char raw[64];
    int fd = open(refs[42].path, O_RDONLY);
    CHECK(pread(fd, raw, refs[42].content_length, refs[42].content_offset) ==
          (ssize_t)refs[42].content_length);
    CHECK(memcmp(raw, "Subject: 42\n", 12) == 0);
    close(fd);

    /* qmgr restarts: the writer reconnects after EPIPE. */
    close(cfd);
    struct qenvelope e2;
    make_env(&e2, "RECONNECT1", 1);
    struct qref r2;
    CHECK_INT(queue_writer_add(w, &e2, "x\n", 2, &r2), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    CHECK_INT(queue_writer_add(w, &e2, "y\n", 2, &r2), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    cfd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0);
    buf_reset(&got);
    read_avail(cfd, &got);
    CHECK(strstr(buf_cstr(&got), "\tRECONNECT1\n") != NULL);
    close(cfd);
    qenv_free(&e2);

    /* No qmgr at all: the commit still succeeds. */
    close(lfd);
    unlink(sock);
    make_env(&e2, "NOQMGR", 1);
    CHECK_INT(queue_writer_add(w, &e2, "z\n", 2, &r2), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    qenv_free(&e2);
    queue_writer_close(w);
    buf_free(&got);
    buf_free(&want);
    buf_free(&content);
    free(l);
    teardown();
}

static void test_add_pieces_and_errors(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qenvelope e;
    make_env(&e, "PIECES", 2);
    struct iovec iov[3] = {{"Received: x\n", 12}, {"Subject: y\n\n", 12}, {"body\n", 5}};
    struct qref ref;
    CHECK_INT(queue_writer_addv(w, &e, iov, 3, &ref), 0);
    /* A bad envelope is refused and leaves nothing behind. */
    qenv_set_sender(&e, "a\nb");
    struct qref bad;
    CHECK_INT(queue_writer_add(w, &e, "x", 1, &bad), -1);
    CHECK_INT(errno, EINVAL);
    CHECK_INT(queue_writer_pending(w), 1);
    CHECK_INT(queue_writer_commit(w), 0);
    struct qenvelope r;
    struct buf c;
    buf_init(&c, 0);
    CHECK_INT(queue_read(&ref, &r, &c), 0);
    CHECK_STR(c.data, "Received: x\nSubject: y\n\nbody\n");
    qenv_free(&r);
    /* Buffer limit. */
    struct buf small;
    buf_init(&small, 4);
    CHECK_INT(queue_read(&ref, &r, &small), -1);
    CHECK_INT(errno, EMSGSIZE);
    qenv_free(&r);
    buf_free(&small);
    /* Wrong length in the reference. */
    struct qref wrong = ref;
    wrong.length++;
    CHECK_INT(queue_read_envelope(&wrong, &r, NULL), -1);
    CHECK_INT(errno, EBADMSG);
    qenv_free(&r);
    wrong = ref;
    wrong.offset += 1;
    CHECK_INT(queue_read_envelope(&wrong, &r, NULL), -1);
    qenv_free(&r);
    /* Missing file. */
    wrong = ref;
    str_copy(wrong.path, "/nonexistent/queue/file", sizeof(wrong.path));
    CHECK_INT(queue_read_envelope(&wrong, &r, NULL), -1);
    CHECK_INT(errno, ENOENT);
    qenv_free(&r);
    /* ref_load fills the content location from path+offset alone. */
    struct qref bare;
    memset(&bare, 0, sizeof(bare));
    str_copy(bare.path, ref.path, sizeof(bare.path));
    bare.offset = ref.offset;
    CHECK_INT(queue_ref_load(&bare, &r), 0);
    CHECK_INT(bare.length, ref.length);
    CHECK_INT(bare.content_offset, ref.content_offset);
    CHECK_INT(bare.content_length, 29);
    CHECK_INT(r.nrcpts, 2);
    qenv_free(&r);
    buf_free(&c);
    qenv_free(&e);
    queue_writer_close(w);
    teardown();
}

static int count_segments(void);
static int count_segments_public(void)
{
    return count_segments();
}

/* qmgr does not read: commits never block, and whatever arrives is whole lines. */
static void test_notify_backpressure(void)
{
    setup();
    char sock[512];
    path_in(sock, sizeof(sock), "private/qmgr");
    int lfd = listen_unix(sock);
    struct queue_writer *w = queue_writer_open(qdir, sock);
    struct qenvelope e;
    make_env(&e, "BACKPRESSURE1", 1);
    uint64_t t0 = mono_msec();
    int n = 20000;
    for (int i = 0; i < n; i++) {
        CHECK_INT(queue_writer_add(w, &e, "x\n", 2, NULL), 0);
        if (i % 100 == 99)
            CHECK_INT(queue_writer_commit(w), 0);
    }
    CHECK(mono_msec() - t0 < 30000);
    int cfd = accept(lfd, NULL, NULL);
    CHECK(cfd >= 0);
    struct buf got;
    buf_init(&got, 0);
    /* A stream: keep flushing and reading until the buffered lines are through. */
    for (int i = 0; i < 200; i++) {
        size_t before = got.len;
        queue_writer_flush_notify(w);
        read_avail(cfd, &got);
        if (got.len == before && got.len && got.data[got.len - 1] == '\n')
            break;
    }
    size_t lines = 0;
    int malformed = 0;
    const char *p = buf_cstr(&got);
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!nl) {
            malformed++;
            break;
        }
        if (strncmp(p, "N ", 2) != 0 || (size_t)(nl - p) < 14 ||
            strncmp(nl - 14, "\tBACKPRESSURE1", 14) != 0)
            malformed++;
        lines++;
        p = nl + 1;
    }
    CHECK_INT(malformed, 0);
    CHECK(lines > 1000);
    CHECK(lines <= (size_t)n);
    close(cfd);
    close(lfd);
    buf_free(&got);
    qenv_free(&e);
    queue_writer_close(w);
    teardown();
}

/* ---- crashes ---- */

/*
 * A child writes n records and commits, then "crashes" (_exit without
 * closing: no seal, and the lock goes away with the process).
 */
static void crashed_writer(int n, struct qref *refs, int commit_last)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        struct queue_writer *w = queue_writer_open(qdir, NULL);
        for (int i = 0; i < n; i++) {
            struct qenvelope e;
            char qid[32];
            str_fmt(qid, sizeof(qid), "CRASH%d", i);
            make_env(&e, qid, 2);
            char body[256];
            memset(body, 'a' + i % 26, sizeof(body));
            body[sizeof(body) - 1] = '\n';
            if (queue_writer_add(w, &e, body, sizeof(body), &refs[i]) < 0)
                _exit(1);
            if (i < n - 1 || commit_last)
                queue_writer_commit(w);
            qenv_free(&e);
        }
        if (write(fds[1], refs, (size_t)n * sizeof(*refs)) < 0)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    size_t want = (size_t)n * sizeof(*refs), got = 0;
    while (got < want) {
        ssize_t r = read(fds[0], (char *)refs + got, want - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_INT(got, want);
}

static void test_torn_tail_every_offset(void)
{
    setup();
    struct qref refs[3];
    crashed_writer(3, refs, 0);
    const char *seg = refs[0].path;
    CHECK_INT(q_locked(seg), 0);
    struct qreader r;
    CHECK_INT(qreader_open(&r, seg), 0);
    CHECK_INT(qreader_sealed(&r), 0);
    qreader_close(&r);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    /* The uncommitted last record is complete: at-least-once reports it. */
    CHECK_INT(scan_count(0, l), 3);
    size_t start = (size_t)refs[2].offset, end = start + refs[2].length;
    CHECK_INT(file_size(seg), end);
    int bad = 0;
    /* Cut the file at every byte of the last record: exactly two records remain. */
    for (size_t cut = end - 1; cut >= start; cut--) {
        CHECK_INT(truncate(seg, (off_t)cut), 0);
        log_clear();
        int n = scan_count(0, l);
        if (n != 2 || strcmp(l->v[0].qid, "CRASH0") != 0 || strcmp(l->v[1].qid, "CRASH1") != 0)
            bad++;
        if (cut > start && !log_contains("ignoring the rest of the file"))
            bad++;
        if (cut == start)
            break;
    }
    CHECK_INT(bad, 0);
    /* Garbage after the valid records (a power loss) also ends the segment. */
    int fd = open(seg, O_WRONLY | O_APPEND);
    char junk[300];
    memset(junk, 0, sizeof(junk));
    CHECK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
    close(fd);
    CHECK_INT(scan_count(0, l), 2);
    free(l);
    teardown();
}

static void test_corrupt_crc(void)
{
    setup();
    struct qref refs[4];
    crashed_writer(4, refs, 1);
    const char *seg = refs[0].path;
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 4);
    /* Flip one byte of record 2's content: unsealed segment, so contents are verified. */
    int fd = open(seg, O_RDWR);
    char c;
    off_t pos = refs[1].content_offset + 10;
    CHECK(pread(fd, &c, 1, pos) == 1);
    c ^= 0x20;
    CHECK(pwrite(fd, &c, 1, pos) == 1);
    log_clear();
    CHECK_INT(scan_count(0, l), 1);
    CHECK_STR(l->v[0].qid, "CRASH0");
    CHECK(log_contains("bad content checksum"));
    struct qenvelope e;
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(queue_read(&refs[1], &e, &b), -1);
    CHECK_INT(errno, EBADMSG);
    qenv_free(&e);
    int cfd;
    off_t coff;
    size_t clen;
    CHECK_INT(queue_open_content(&refs[1], NULL, &cfd, &coff, &clen), -1);
    /* Restore, then break the envelope: the header checksum catches it. */
    c ^= 0x20;
    CHECK(pwrite(fd, &c, 1, pos) == 1);
    CHECK_INT(scan_count(0, l), 4);
    pos = refs[2].offset + 40;
    CHECK(pread(fd, &c, 1, pos) == 1);
    c ^= 0x01;
    CHECK(pwrite(fd, &c, 1, pos) == 1);
    log_clear();
    CHECK_INT(scan_count(0, l), 2);
    CHECK(log_contains("bad header checksum"));
    c ^= 0x01;
    CHECK(pwrite(fd, &c, 1, pos) == 1);
    /* A record copied from another file (stale block) never verifies: salts differ. */
    struct qref other[1];
    char seg2[512];
    str_copy(seg2, seg, sizeof(seg2));
    crashed_writer(1, other, 1);
    char *rec = xmalloc(other[0].length);
    int ofd = open(other[0].path, O_RDONLY);
    CHECK(pread(ofd, rec, other[0].length, other[0].offset) == (ssize_t)other[0].length);
    close(ofd);
    off_t endpos = lseek(fd, 0, SEEK_END);
    CHECK(pwrite(fd, rec, other[0].length, endpos) == (ssize_t)other[0].length);
    free(rec);
    close(fd);
    log_clear();
    CHECK_INT(scan_count(0, l), 5);   /* 4 here + 1 in the other segment, not 6 */
    CHECK(log_contains("bad header checksum"));
    buf_free(&b);
    free(l);
    teardown();
}

/*
 * kill -9 at random moments while a writer adds and commits: every
 * message it was told is committed must be found intact, and everything
 * the scan reports must read back with valid checksums.
 */
static void test_kill9(void)
{
    setup();
    unsigned seed = (unsigned)getpid();
    int lost = 0, unreadable = 0, acked_total = 0;
    for (int round = 0; round < 12; round++) {
        int fds[2];
        CHECK_INT(pipe(fds), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            struct queue_writer *w = queue_writer_open(qdir, NULL);
            queue_writer_set_limits(w, 256 * 1024, 0);   /* rotate a lot, too */
            char body[3000];
            for (int i = 0;; i++) {
                struct qenvelope e;
                make_env(&e, NULL, 1 + i % 4);
                memset(body, 'a' + i % 26, sizeof(body));
                size_t len = 100 + (size_t)(i * 37) % (sizeof(body) - 100);
                char qids[8][QUEUE_ID_MAX];
                int k = 0;
                for (; k < 1 + i % 8; k++) {
                    queue_new_id(e.qid, sizeof(e.qid));
                    if (queue_writer_add(w, &e, body, len, NULL) < 0)
                        _exit(2);
                    str_copy(qids[k], e.qid, sizeof(qids[k]));
                }
                qenv_free(&e);
                if (queue_writer_commit(w) < 0)
                    _exit(3);
                /* "250 Ok" for each: report them. */
                for (int j = 0; j < k; j++)
                    if (write(fds[1], qids[j], QUEUE_ID_MAX) != QUEUE_ID_MAX)
                        _exit(4);
            }
        }
        close(fds[1]);
        usleep(2000 + rand_r(&seed) % 40000);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        struct names_acked {
            char (*v)[QUEUE_ID_MAX];
            size_t n;
        } acked = {NULL, 0};
        char id[QUEUE_ID_MAX];
        while (read(fds[0], id, sizeof(id)) == (ssize_t)sizeof(id)) {
            acked.v = xrealloc(acked.v, (acked.n + 1) * sizeof(*acked.v));
            memcpy(acked.v[acked.n++], id, sizeof(id));
        }
        close(fds[0]);
        acked_total += (int)acked.n;
        struct seen_list *l = xcalloc(1, sizeof(*l));
        /* The seen list is bounded: everything is marked done after each round. */
        int reported = scan_count(0, l);
        CHECK(reported >= 0 && (size_t)reported < ARRAY_LEN(l->v));
        for (size_t a = 0; a < acked.n; a++) {
            int found = 0;
            for (size_t i = 0; i < l->n && !found; i++)
                found = strcmp(l->v[i].qid, acked.v[a]) == 0;
            if (!found)
                lost++;
        }
        for (size_t i = 0; i < l->n; i++) {
            struct qenvelope e;
            struct buf c;
            buf_init(&c, 0);
            if (queue_read(&l->v[i].ref, &e, &c) < 0)
                unreadable++;
            qenv_free(&e);
            buf_free(&c);
            queue_mark_done(qdir, &l->v[i].ref, l->v[i].qid, -1);
        }
        queue_done_sync(qdir);
        free(l);
        free(acked.v);
    }
    CHECK_INT(lost, 0);
    CHECK_INT(unreadable, 0);
    CHECK(acked_total > 0);
    fprintf(stderr, "kill -9: %d acknowledged messages over 12 rounds, none lost\n", acked_total);
    /* Everything done and every writer dead: GC leaves an empty journal. */
    queue_gc(qdir);
    CHECK_INT(count_segments_public(), 0);
    teardown();
}

static void test_sealed_segment(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qenvelope e;
    make_env(&e, "SEAL1", 1);
    struct qref ref;
    CHECK_INT(queue_writer_add(w, &e, "hello\n", 6, &ref), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    CHECK_INT(queue_writer_add(w, &e, "uncommitted\n", 12, NULL), 0);
    queue_writer_close(w);   /* drops the uncommitted record, seals */
    qenv_free(&e);
    struct qreader r;
    CHECK_INT(qreader_open(&r, ref.path), 0);
    CHECK_INT(qreader_sealed(&r), 1);
    CHECK_INT(r.size, (uint64_t)ref.offset + ref.length + 32);
    qreader_close(&r);
    CHECK_INT(q_locked(ref.path), 0);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 1);
    /* Sealed: the scan trusts lengths and skips content; queue_read still verifies. */
    int fd = open(ref.path, O_RDWR);
    CHECK(pwrite(fd, "J", 1, ref.content_offset) == 1);
    close(fd);
    CHECK_INT(scan_count(0, l), 1);
    CHECK_INT(scan_count(QUEUE_SCAN_VERIFY, l), 0);
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(queue_read(&ref, &e, &b), -1);
    qenv_free(&e);
    buf_free(&b);
    free(l);
    teardown();
}

/* ---- done logs ---- */

static void test_done_per_recipient(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qref refs[3];
    for (int i = 0; i < 3; i++) {
        struct qenvelope e;
        char qid[16];
        str_fmt(qid, sizeof(qid), "DONE%d", i);
        make_env(&e, qid, 3);
        CHECK_INT(queue_writer_add(w, &e, "m\n", 2, &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_commit(w), 0);
    CHECK_INT(queue_record_done(&refs[1]), 0);
    CHECK_INT(queue_mark_done(qdir, &refs[0], "DONE0", 1), 0);
    CHECK_INT(queue_mark_done(qdir, &refs[1], "DONE1", -1), 0);
    /* Only a -1 entry finishes a record; the answer holds before and after the sync. */
    CHECK_INT(queue_record_done(&refs[0]), 0);
    CHECK_INT(queue_record_done(&refs[1]), 1);
    CHECK_INT(queue_done_sync(qdir), 0);
    queue_done_reset();
    CHECK_INT(queue_record_done(&refs[1]), 1);    /* read back from the .done log */
    CHECK_INT(queue_record_done(&refs[2]), 0);
    struct qref gone = refs[2];
    str_copy(gone.path + strlen(gone.path) - 1, "x", 2);
    CHECK_INT(queue_record_done(&gone), 1);       /* its segment was removed */
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 2);
    CHECK_STR(l->v[0].qid, "DONE0");
    CHECK_INT(l->v[0].done[0], 0);
    CHECK_INT(l->v[0].done[1], 1);
    CHECK_INT(l->v[0].done[2], 0);
    CHECK_STR(l->v[1].qid, "DONE2");
    char donepath[600];
    str_fmt(donepath, sizeof(donepath), "%s.done", refs[0].path);
    CHECK_INT(file_size(donepath), 32);

    /* A torn entry at the end of the log is ignored ... */
    int fd = open(donepath, O_WRONLY | O_APPEND);
    CHECK(write(fd, "\x01\x02\x03\x04\x05\x06\x07", 7) == 7);
    close(fd);
    CHECK_INT(scan_count(0, l), 2);
    /* ... and cut away before the next append, which must land aligned. */
    queue_done_reset();
    CHECK_INT(queue_mark_done(qdir, &refs[0], "DONE0", 0), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK_INT(file_size(donepath), 48);
    CHECK_INT(scan_count(0, l), 2);
    CHECK_INT(l->v[0].done[0], 1);
    /* Garbage in the middle is skipped entry by entry. */
    fd = open(donepath, O_WRONLY | O_APPEND);
    char junk[16];
    memset(junk, 0x5a, sizeof(junk));
    CHECK(write(fd, junk, sizeof(junk)) == 16);
    close(fd);
    queue_done_reset();
    /* The last recipient done one by one: the record is done. */
    CHECK_INT(queue_mark_done(qdir, &refs[0], "DONE0", 2), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    log_clear();
    CHECK_INT(scan_count(0, l), 1);
    CHECK_STR(l->v[0].qid, "DONE2");
    CHECK(log_contains("invalid entries"));
    /* With FIX the scan adds the -1 entry so the segment can be removed later. */
    struct qdone_ent *v;
    size_t n;
    struct qreader r;
    CHECK_INT(qreader_open(&r, refs[0].path), 0);
    uint32_t seed = r.seed;
    qreader_close(&r);
    CHECK_INT(qdone_load(donepath, seed, &v, &n), 0);
    int whole = 0;
    for (size_t i = 0; i < n; i++)
        whole += v[i].off == (uint64_t)refs[0].offset && v[i].idx == -1;
    free(v);
    CHECK_INT(whole, 0);
    CHECK_INT(scan_count(QUEUE_SCAN_FIX, l), 1);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK_INT(qdone_load(donepath, seed, &v, &n), 0);
    for (size_t i = 0; i < n; i++)
        whole += v[i].off == (uint64_t)refs[0].offset && v[i].idx == -1;
    free(v);
    CHECK_INT(whole, 1);
    /* An entry written with another file's salt (a stale block) does not apply ... */
    uint8_t ent[16];
    q_put64(ent, (uint64_t)refs[2].offset);
    q_put32(ent + 8, 0xffffffffu);
    q_put32(ent + 12, queue_crc32c(seed ^ 0x5555, ent, 12));
    fd = open(donepath, O_WRONLY | O_APPEND);
    CHECK(write(fd, ent, 16) == 16);
    close(fd);
    CHECK_INT(scan_count(0, l), 1);
    CHECK_STR(l->v[0].qid, "DONE2");
    /* ... the same entry with this file's salt does. */
    q_put32(ent + 12, queue_crc32c(seed, ent, 12));
    fd = open(donepath, O_WRONLY | O_APPEND);
    CHECK(write(fd, ent, 16) == 16);
    close(fd);
    CHECK_INT(scan_count(0, l), 0);
    queue_writer_close(w);
    free(l);
    teardown();
}

static void test_gc_only_when_closed(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qref refs[2];
    for (int i = 0; i < 2; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 1);
        CHECK_INT(queue_writer_add(w, &e, "m\n", 2, &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_commit(w), 0);
    char seg[512], done[600];
    str_copy(seg, refs[0].path, sizeof(seg));
    str_fmt(done, sizeof(done), "%s.done", seg);
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);
    CHECK_INT(queue_mark_done(qdir, &refs[1], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    /* Every record done, but the writer still holds it. */
    CHECK(exists(seg));
    CHECK_INT(queue_gc(qdir), 0);
    CHECK(exists(seg));
    queue_writer_close(w);
    /* Someone else holds the lock (e.g. a writer that has not let go): still kept. */
    int lfd = open(seg, O_RDONLY);
    CHECK_INT(flock(lfd, LOCK_EX), 0);
    CHECK_INT(queue_gc(qdir), 0);
    CHECK(exists(seg));
    close(lfd);
    CHECK_INT(queue_gc(qdir), 1);
    CHECK(!exists(seg));
    CHECK(!exists(done));

    /* Closed first, marks later: done_sync removes it by itself. */
    w = queue_writer_open(qdir, NULL);
    for (int i = 0; i < 2; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 1);
        CHECK_INT(queue_writer_add(w, &e, "m\n", 2, &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    str_copy(seg, refs[0].path, sizeof(seg));
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(exists(seg));              /* one record left */
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);   /* twice: no double count */
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(exists(seg));
    CHECK_INT(queue_mark_done(qdir, &refs[1], NULL, 0), 0);    /* per recipient: not enough */
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(exists(seg));
    CHECK_INT(queue_mark_done(qdir, &refs[1], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(!exists(seg));

    /* All done while the writer still held it; it closes later, no more marks come:
       the periodic done_sync notices. */
    w = queue_writer_open(qdir, NULL);
    struct qenvelope e1;
    make_env(&e1, NULL, 1);
    CHECK_INT(queue_writer_add(w, &e1, "m\n", 2, &refs[0]), 0);
    qenv_free(&e1);
    CHECK_INT(queue_writer_commit(w), 0);
    str_copy(seg, refs[0].path, sizeof(seg));
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(exists(seg));
    queue_writer_set_limits(w, 0, 1);
    usleep(2000);
    CHECK_INT(queue_writer_rotate_if_idle(w), 1);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(exists(seg));               /* not yet: the retry interval has not passed */
    qdone_gc_retry_ms = 1;
    usleep(2000);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(!exists(seg));
    qdone_gc_retry_ms = 5000;
    queue_writer_close(w);

    /* A fresh process state (qmgr restart) rebuilds the counts from the .done file. */
    w = queue_writer_open(qdir, NULL);
    for (int i = 0; i < 2; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 1);
        CHECK_INT(queue_writer_add(w, &e, "m\n", 2, &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    str_copy(seg, refs[0].path, sizeof(seg));
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    queue_done_reset();
    CHECK_INT(queue_mark_done(qdir, &refs[1], NULL, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(!exists(seg));

    /* Leftovers: a ".J" being created by a dead process, an orphan .done, stale tmp. */
    char p1[600], p2[600];
    path_in(p1, sizeof(p1), "journal/.J1.2.3");
    path_in(p2, sizeof(p2), "journal/J1.2.3.done");
    CHECK_INT(close(open(p1, O_CREAT | O_WRONLY, 0600)), 0);
    CHECK_INT(close(open(p2, O_CREAT | O_WRONLY, 0600)), 0);
    CHECK_INT(queue_gc(qdir), 0);
    CHECK(!exists(p1));
    CHECK(!exists(p2));
    /* ... but a ".J" whose creator holds the lock stays. */
    lfd = open(p1, O_CREAT | O_WRONLY, 0600);
    CHECK_INT(flock(lfd, LOCK_EX), 0);
    CHECK_INT(queue_gc(qdir), 0);
    CHECK(exists(p1));
    close(lfd);
    unlink(p1);
    teardown();
}

/* A crashed writer's segment (unlocked, unsealed, torn tail) is removed once its records are done. */
static void test_gc_crashed_segment(void)
{
    setup();
    struct qref refs[3];
    crashed_writer(3, refs, 1);
    CHECK_INT(truncate(refs[0].path, refs[2].offset + 10), 0);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 2);
    CHECK_INT(queue_mark_done(qdir, &refs[0], NULL, -1), 0);
    CHECK_INT(queue_mark_done(qdir, &refs[1], NULL, -1), 0);
    log_clear();
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK(!exists(refs[0].path));
    CHECK(log_contains("torn by a crash"));
    free(l);
    teardown();
}

/* ---- deferred and hold ---- */

static void test_deferred_supersedes(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qenvelope e;
    make_env(&e, "SUPER1", 2);
    struct qref jref, jref2;
    CHECK_INT(queue_writer_add(w, &e, "the content\n", 12, &jref), 0);
    struct qenvelope e2;
    make_env(&e2, "PLAIN1", 1);
    CHECK_INT(queue_writer_add(w, &e2, "other\n", 6, &jref2), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    /* qmgr defers it: copy into deferred/ with the new envelope. */
    e.defer_count = 1;
    e.next_try_usec = 1234;
    e.rcpts[0].done = 1;
    qrcpt_set_reason(&e.rcpts[1], "4.4.1", "connect to x[192.0.2.1]:25: Connection refused");
    char ddir[512], hdir[512];
    path_in(ddir, sizeof(ddir), "deferred");
    path_in(hdir, sizeof(hdir), "hold");
    struct qref dref;
    CHECK_INT(queue_copy_to_file(ddir, &e, &jref, &dref), 0);
    CHECK(strstr(dref.path, "/deferred/SUPER1") != NULL);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 2);
    CHECK_STR(l->v[0].qid, "PLAIN1");
    CHECK_STR(l->v[1].qid, "SUPER1");
    CHECK_STR(l->v[1].where, "deferred");
    CHECK_INT(l->v[1].done[0], 1);
    struct qenvelope r;
    struct buf c;
    buf_init(&c, 0);
    CHECK_INT(queue_read(&dref, &r, &c), 0);
    CHECK_STR(c.data, "the content\n");
    CHECK_INT(r.defer_count, 1);
    CHECK_STR(r.rcpts[1].status, "4.4.1");
    qenv_free(&r);
    /* FIX marks the superseded journal record done; the journal then only has PLAIN1. */
    CHECK_INT(scan_count(QUEUE_SCAN_FIX, l), 2);
    CHECK_INT(queue_done_sync(qdir), 0);
    unlink(dref.path);
    CHECK_INT(scan_count(0, l), 1);
    CHECK_STR(l->v[0].qid, "PLAIN1");
    CHECK_INT(queue_copy_to_file(ddir, &e, &jref, &dref), 0);

    /* Per-recipient marks on the file, then an update retires them. */
    CHECK_INT(queue_mark_done(qdir, &dref, "SUPER1", 1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK_INT(scan_count(0, l), 1);   /* both recipients done: gone from the list */
    e.rcpts[0].done = 0;
    e.defer_count = 2;
    struct qref uref;
    CHECK_INT(queue_update_file(&dref, &e, &uref), 0);
    CHECK_INT(scan_count(0, l), 2);
    CHECK_INT(l->v[1].done[0], 0);
    CHECK_INT(l->v[1].done[1], 0);
    c.len = 0;
    CHECK_INT(queue_read(&uref, &r, &c), 0);
    CHECK_STR(c.data, "the content\n");
    CHECK_INT(r.defer_count, 2);
    qenv_free(&r);

    /* hold: deferred -> hold by rename; a qid in both shows once, as held. */
    struct qref href;
    CHECK_INT(queue_move_file(&uref, hdir, NULL, &href), 0);
    CHECK(strstr(href.path, "/hold/SUPER1") != NULL);
    CHECK(!exists(uref.path));
    CHECK_INT(scan_count(0, l), 2);
    CHECK_STR(l->v[1].where, "hold");
    struct qref dup;
    CHECK_INT(queue_write_file(ddir, &e, "x", 1, &dup), 0);
    CHECK_INT(scan_count(0, l), 2);
    CHECK_STR(l->v[1].where, "hold");
    CHECK_INT(queue_move_file(&href, ddir, NULL, &dup), -1);
    CHECK_INT(errno, EEXIST);
    unlink(dup.path);
    /* release: rewritten into deferred/ with next_try 0. */
    e.next_try_usec = 0;
    struct qref rref;
    CHECK_INT(queue_move_file(&href, ddir, &e, &rref), 0);
    CHECK(!exists(href.path));
    CHECK_INT(scan_count(0, l), 2);
    CHECK_STR(l->v[1].where, "deferred");
    /* Done with the whole message: the file goes away. */
    CHECK_INT(queue_mark_done(qdir, &rref, "SUPER1", -1), 0);
    CHECK(!exists(rref.path));
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK_INT(scan_count(0, l), 1);
    CHECK_STR(l->v[0].qid, "PLAIN1");
    /* A junk file in deferred/ is reported, not fatal. */
    char junk[600];
    str_fmt(junk, sizeof(junk), "%s/JUNKQID", ddir);
    int fd = open(junk, O_CREAT | O_WRONLY, 0600);
    CHECK(write(fd, "not a queue file at all, really not", 35) == 35);
    close(fd);
    log_clear();
    CHECK_INT(scan_count(0, l), 1);
    CHECK(log_contains("corrupt queue file skipped"));
    buf_free(&c);
    qenv_free(&e);
    qenv_free(&e2);
    free(l);
    teardown();
}

/* Removing a file right after a journal mark in the same batch (the sync in between). */
static void test_file_done_after_journal_mark(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qenvelope a, b;
    make_env(&a, "MARKA", 1);
    make_env(&b, "MARKB", 1);
    struct qref ra, rb, fb;
    CHECK_INT(queue_writer_add(w, &a, "a\n", 2, &ra), 0);
    CHECK_INT(queue_writer_add(w, &b, "b\n", 2, &rb), 0);
    CHECK_INT(queue_writer_commit(w), 0);
    char ddir[512];
    path_in(ddir, sizeof(ddir), "deferred");
    CHECK_INT(queue_copy_to_file(ddir, &b, &rb, &fb), 0);
    CHECK_INT(queue_mark_done(qdir, &fb, "MARKB", 0), 0);    /* file state cached, dirty */
    CHECK_INT(queue_mark_done(qdir, &ra, "MARKA", -1), 0);   /* journal dirty */
    CHECK_INT(queue_mark_done(qdir, &rb, "MARKB", -1), 0);
    CHECK_INT(queue_mark_done(qdir, &fb, "MARKB", -1), 0);   /* syncs first, then removes */
    CHECK(!exists(fb.path));
    char fdone[600];
    str_fmt(fdone, sizeof(fdone), "%s.done", fb.path);
    CHECK(!exists(fdone));
    CHECK_INT(queue_done_sync(qdir), 0);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 0);
    free(l);
    qenv_free(&a);
    qenv_free(&b);
    queue_writer_close(w);
    teardown();
}

/* ---- large content, rotation ---- */

static void test_large_from_fd(void)
{
    setup();
    int tfd = queue_tmpfile(qdir);
    CHECK(tfd >= 0);
    size_t big = 3 * 1024 * 1024 + 17;
    char *data = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)('A' + (i * 7) % 26);
    for (size_t i = 100; i < big; i += 100)
        data[i] = '\n';
    CHECK(write_all(tfd, "PREFIX", 6) == 6);
    CHECK(write_all(tfd, data, big) == (ssize_t)big);
    uint32_t crc = queue_crc32c(0, data, big);
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    struct qenvelope e;
    make_env(&e, "BIG1", 1);
    struct qref r1, r2, r3;
    CHECK_INT(queue_writer_add_fd(w, &e, tfd, 6, big, NULL, &r1), 0);
    str_copy(e.qid, "BIG2", sizeof(e.qid));
    CHECK_INT(queue_writer_add_fd(w, &e, tfd, 6, big, &crc, &r2), 0);
    /* A wrong CRC (the spill file changed) fails and leaves the segment clean. */
    uint32_t wrong = crc ^ 1;
    str_copy(e.qid, "BIG3", sizeof(e.qid));
    CHECK_INT(queue_writer_add_fd(w, &e, tfd, 6, big, &wrong, &r3), -1);
    CHECK_INT(errno, EIO);
    CHECK_INT(queue_writer_add(w, &e, "small\n", 6, &r3), 0);
    /* The failed record was cut off, and its offset is not reused: a new segment. */
    CHECK_INT(file_size(r2.path), (size_t)r2.offset + r2.length);
    CHECK(strcmp(r3.path, r2.path) != 0);
    CHECK_INT(r3.offset, 32);
    CHECK_INT(queue_writer_commit(w), 0);
    struct buf c;
    buf_init(&c, 8 * 1024 * 1024);
    struct qenvelope r;
    CHECK_INT(queue_read(&r2, &r, &c), 0);
    CHECK_INT(c.len, big);
    CHECK(c.len == big && memcmp(c.data, data, big) == 0);
    qenv_free(&r);
    int cfd;
    off_t coff;
    size_t clen;
    CHECK_INT(queue_open_content(&r1, &r, &cfd, &coff, &clen), 0);
    CHECK_STR(r.qid, "BIG1");
    CHECK_INT(clen, big);
    char probe[16];
    CHECK(pread(cfd, probe, 16, coff + 1000) == 16);
    CHECK(memcmp(probe, data + 1000, 16) == 0);
    close(cfd);
    qenv_free(&r);
    /* Copying a large record to a deferred file streams it. */
    char ddir[512];
    path_in(ddir, sizeof(ddir), "deferred");
    struct qref dref;
    make_env(&r, "BIG1", 1);
    CHECK_INT(queue_copy_to_file(ddir, &r, &r1, &dref), 0);
    qenv_free(&r);
    c.len = 0;
    CHECK_INT(queue_read(&dref, &r, &c), 0);
    CHECK(c.len == big && memcmp(c.data, data, big) == 0);
    qenv_free(&r);
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(QUEUE_SCAN_VERIFY, l), 3);
    CHECK_INT(l->v[0].clen, big);
    free(l);
    close(tfd);
    buf_free(&c);
    free(data);
    qenv_free(&e);
    queue_writer_close(w);
    teardown();
}

static int count_segments(void)
{
    char jdir[512];
    path_in(jdir, sizeof(jdir), "journal");
    int n = 0;
    DIR *d = opendir(jdir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] == 'J' && !q_has_suffix(de->d_name, ".done"))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_rotation(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    queue_writer_set_limits(w, 4096, 0);
    char body[1000];
    memset(body, 'x', sizeof(body));
    struct qref refs[20];
    /* Ten adds without a commit cross the size limit: rotation syncs the old segment. */
    for (int i = 0; i < 10; i++) {
        struct qenvelope e;
        char qid[16];
        str_fmt(qid, sizeof(qid), "ROT%02d", i);
        make_env(&e, qid, 1);
        CHECK_INT(queue_writer_add(w, &e, body, sizeof(body), &refs[i]), 0);
        qenv_free(&e);
    }
    CHECK_INT(queue_writer_pending(w), 10);
    CHECK(count_segments() >= 3);
    CHECK(strcmp(refs[0].path, refs[9].path) != 0);
    /* The old one is sealed and unlocked already. */
    CHECK_INT(q_locked(refs[0].path), 0);
    struct qreader r;
    CHECK_INT(qreader_open(&r, refs[0].path), 0);
    CHECK_INT(qreader_sealed(&r), 1);
    qreader_close(&r);
    CHECK_INT(queue_writer_commit(w), 0);
    for (int i = 10; i < 20; i++) {
        struct qenvelope e;
        char qid[16];
        str_fmt(qid, sizeof(qid), "ROT%02d", i);
        make_env(&e, qid, 1);
        CHECK_INT(queue_writer_add(w, &e, body, sizeof(body), &refs[i]), 0);
        CHECK_INT(queue_writer_commit(w), 0);
        qenv_free(&e);
    }
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(scan_count(0, l), 20);
    int order_ok = 1;
    for (int i = 0; i < 20 && i < (int)l->n; i++) {
        char qid[16];
        str_fmt(qid, sizeof(qid), "ROT%02d", i);
        order_ok &= strcmp(l->v[i].qid, qid) == 0;
    }
    CHECK(order_ok);
    /* Idle rotation: only when due, never with records pending. */
    queue_writer_set_limits(w, 1 << 20, 3600 * 1000);
    CHECK_INT(queue_writer_rotate_if_idle(w), 0);
    CHECK(queue_writer_segment(w) != NULL);
    queue_writer_set_limits(w, 0, 1);
    usleep(3000);
    CHECK_INT(queue_writer_rotate_if_idle(w), 1);
    CHECK(queue_writer_segment(w) == NULL);
    CHECK_INT(queue_writer_rotate_if_idle(w), 0);
    struct qenvelope e;
    make_env(&e, "AGE1", 1);
    CHECK_INT(queue_writer_add(w, &e, "a\n", 2, NULL), 0);
    usleep(3000);
    CHECK_INT(queue_writer_rotate_if_idle(w), 0);   /* pending: never */
    CHECK_INT(queue_writer_commit(w), 0);
    CHECK_INT(queue_writer_rotate_if_idle(w), 1);
    qenv_free(&e);
    /* Everything done + every segment closed: all removed. */
    CHECK_INT(scan_count(0, l), 21);
    for (size_t i = 0; i < l->n; i++)
        CHECK_INT(queue_mark_done(qdir, &l->v[i].ref, l->v[i].qid, -1), 0);
    CHECK_INT(queue_done_sync(qdir), 0);
    CHECK_INT(count_segments(), 0);
    queue_writer_close(w);
    free(l);
    teardown();
}

/* A full file system: failed appends are cut off, the segment stays valid. */
static void test_enospc(void)
{
    setup();
    char mnt[512];
    path_in(mnt, sizeof(mnt), "small");
    mkdir(mnt, 0700);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=64k") < 0) {
        fprintf(stderr, "test_enospc: skipped (mount tmpfs: %s)\n", strerror(errno));
        teardown();
        return;
    }
    char sq[600];
    str_fmt(sq, sizeof(sq), "%s/q", mnt);
    CHECK_INT(queue_dir_init(sq, (uid_t)-1, (gid_t)-1), 0);
    struct queue_writer *w = queue_writer_open(sq, NULL);
    char body[5000];
    memset(body, 'y', sizeof(body));
    int ok = 0, failed = 0;
    for (int i = 0; i < 40; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 1);
        if (queue_writer_add(w, &e, body, sizeof(body), NULL) == 0) {
            ok++;
            CHECK_INT(queue_writer_commit(w), 0);
        } else {
            CHECK(errno == ENOSPC);
            failed++;
        }
        qenv_free(&e);
    }
    CHECK(ok > 0);
    CHECK(failed > 0);
    /* Failed appends were cut off: the scan sees exactly the good ones, nothing torn. */
    log_clear();
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(queue_scan_flags(sq, QUEUE_SCAN_VERIFY, collect, l), ok);
    CHECK(!log_contains("ignoring the rest"));
    free(l);
    queue_writer_close(w);
    umount2(mnt, MNT_DETACH);
    teardown();
}

static void test_dir_init_modes(void)
{
    setup();
    struct stat sb;
    char p[512];
    path_in(p, sizeof(p), "private");
    CHECK_INT(stat(p, &sb), 0);
    CHECK_INT(sb.st_mode & 07777, 0700);
    path_in(p, sizeof(p), "public");
    CHECK_INT(stat(p, &sb), 0);
    CHECK_INT(sb.st_mode & 07777, 0755);
    path_in(p, sizeof(p), "tmp");
    CHECK_INT(stat(p, &sb), 0);
    CHECK_INT(sb.st_mode & 07777, 0700);
    /* Drift is corrected. */
    path_in(p, sizeof(p), "journal");
    chmod(p, 0777);
    CHECK_INT(queue_dir_init(qdir, (uid_t)-1, (gid_t)-1), 0);
    CHECK_INT(stat(p, &sb), 0);
    CHECK_INT(sb.st_mode & 07777, 0700);
    /* A symlink in place of a queue directory is refused. */
    path_in(p, sizeof(p), "hold");
    rmdir(p);
    CHECK_INT(symlink("/tmp", p), 0);
    CHECK_INT(queue_dir_init(qdir, (uid_t)-1, (gid_t)-1), -1);
    unlink(p);
    CHECK(queue_writer_open("/nonexistent/queue", NULL) == NULL);
    teardown();
}

/* Many records: the scan reads envelopes only (sealed), so it stays fast. */
static void test_scan_many(void)
{
    setup();
    struct queue_writer *w = queue_writer_open(qdir, NULL);
    char body[4096];
    memset(body, 'z', sizeof(body));
    int n = 5000;
    for (int i = 0; i < n; i++) {
        struct qenvelope e;
        make_env(&e, NULL, 2);
        CHECK_INT(queue_writer_add(w, &e, body, sizeof(body), NULL), 0);
        qenv_free(&e);
        if (i % 50 == 49)
            CHECK_INT(queue_writer_commit(w), 0);
    }
    CHECK_INT(queue_writer_commit(w), 0);
    queue_writer_close(w);
    uint64_t t0 = mono_msec();
    struct seen_list *l = xcalloc(1, sizeof(*l));
    CHECK_INT(queue_scan(qdir, collect, l), n);
    uint64_t t1 = mono_msec();
    fprintf(stderr, "scan of %d queued messages: %llu ms\n", n, (unsigned long long)(t1 - t0));
    free(l);
    teardown();
}

/* ---- benchmark ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int bench(const char *base)
{
    char dir[512];
    str_fmt(dir, sizeof(dir), "%s/yubin-bench.XXXXXX", base);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    str_copy(qdir, dir, sizeof(qdir));
    queue_dir_init(qdir, (uid_t)-1, (gid_t)-1);
    static const int sessions[] = {1, 10, 50};
    char body[4096];
    memset(body, 'b', sizeof(body));
    for (size_t i = 0; i < sizeof(body); i += 72)
        body[i] = '\n';
    printf("queue group commit on %s, 4 KB messages\n", base);
    for (size_t s = 0; s < ARRAY_LEN(sessions); s++) {
        struct queue_writer *w = queue_writer_open(qdir, NULL);
        int per = sessions[s];
        int total = per == 1 ? 2000 : per == 10 ? 10000 : 25000;
        double t0 = now_s();
        for (int i = 0; i < total; i += per) {
            for (int k = 0; k < per; k++) {
                struct qenvelope e;
                make_env(&e, NULL, 1);
                if (queue_writer_add(w, &e, body, sizeof(body), NULL) < 0) {
                    perror("add");
                    return 1;
                }
                qenv_free(&e);
            }
            if (queue_writer_commit(w) < 0) {
                perror("commit");
                return 1;
            }
        }
        double dt = now_s() - t0;
        printf("  %2d messages per commit: %6d messages in %.2f s = %8.0f msg/s, %.3f ms per commit\n",
               per, total, dt, total / dt, dt * 1000.0 / (total / per));
        queue_writer_close(w);
    }
    /* The Postfix way for comparison: create + write + fsync + rename one file per message. */
    {
        int total = 1000;
        char path[600], tmp[600], pdir[600];
        str_fmt(pdir, sizeof(pdir), "%s/postfix-style", qdir);
        mkdir(pdir, 0700);
        double t0 = now_s();
        for (int i = 0; i < total; i++) {
            str_fmt(tmp, sizeof(tmp), "%s/tmp/m%d", qdir, i);
            str_fmt(path, sizeof(path), "%s/m%d", pdir, i);
            int fd = open(tmp, O_CREAT | O_WRONLY | O_EXCL, 0600);
            if (fd < 0 || write_all(fd, body, sizeof(body)) < 0 || fsync(fd) < 0) {
                perror("file");
                return 1;
            }
            close(fd);
            rename(tmp, path);
            fsync_dir(pdir);
        }
        double dt = now_s() - t0;
        printf("  file per message (create+fsync+rename): %d in %.2f s = %.0f msg/s\n", total, dt,
               total / dt);
    }
    uint64_t t0 = mono_msec();
    struct seen_list *l = xcalloc(1, sizeof(*l));
    int n = queue_scan(qdir, collect, l);
    printf("  scan of %d queued messages: %llu ms\n", n, (unsigned long long)(mono_msec() - t0));
    free(l);
    rm_rf(dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--bench") == 0)
        return bench(argc >= 3 ? argv[2] : "/var/tmp");
    str_fmt(logpath, sizeof(logpath), "/tmp/yubin-test-queue-log.%ld", (long)getpid());
    log_set_dest(0, logpath);
    T_RUN(test_crc32c);
    T_RUN(test_queue_ids);
    T_RUN(test_envelope_roundtrip);
    T_RUN(test_envelope_invalid);
    T_RUN(test_envelope_hostile);
    T_RUN(test_group_commit);
    T_RUN(test_add_pieces_and_errors);
    T_RUN(test_notify_backpressure);
    T_RUN(test_torn_tail_every_offset);
    T_RUN(test_kill9);
    T_RUN(test_corrupt_crc);
    T_RUN(test_sealed_segment);
    T_RUN(test_done_per_recipient);
    T_RUN(test_gc_only_when_closed);
    T_RUN(test_gc_crashed_segment);
    T_RUN(test_deferred_supersedes);
    T_RUN(test_file_done_after_journal_mark);
    T_RUN(test_large_from_fd);
    T_RUN(test_rotation);
    T_RUN(test_enospc);
    T_RUN(test_dir_init_modes);
    T_RUN(test_scan_many);
    unlink(logpath);
    return T_DONE();
}
