/*
 * Unit tests for the local and virtual delivery agents: a temporary
 * instance (main.cf, a fake journal segment with the content at an
 * offset, mailbox trees), the agent's serving loop in a forked child on a
 * socketpair, requests and replies in dproto.
 *
 * As root the agents switch to uid/gid 65534 (nobody) for the mailbox
 * owners and the tests check file ownership; as another user they run
 * in single-user mode.
 *
 * YUBIN_BENCH=N in the environment also measures N Maildir deliveries.
 */
#include "t.h"
#include "deliver/agent.h"
#include "deliver/deliver_role.h"
#include "lib-conf/config.h"
#include "lib/buf.h"
#include "lib-queue/dproto.h"
#include "lib/log.h"
#include "lib-table/table.h"
#include "lib/util.h"
#include "lib-master/worker.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OWNER 65534

static char base[256];
static char queue[300], journal[400];
static off_t content_off;
static size_t content_len;
static int is_root;
static uid_t owner_uid;

static const char *MSG =
    "Received: from client.example.org by mx.example.com\n"
    "From: Alice <alice@example.org>\n"
    "Subject: test\n"
    "\n"
    "Hello\n"
    "From the start of a line\n"
    ">From already quoted\n"
    "last line\n";

static const char *MSG_LOOP =
    "Delivered-To: a@example.com\n"
    "Subject: loop\n"
    "\n"
    "body\n";

/* ---- helpers ---- */

static char *path_of(const char *rel)
{
    return xasprintf("%s/%s", base, rel);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    close(fd);
}

static char *slurp(const char *path)
{
    return read_file(path, 1 << 24, NULL);
}

static void mkdir_owned(const char *rel, mode_t mode)
{
    char *p = path_of(rel);
    mkdir_p(p, mode);
    chmod(p, mode);
    if (is_root && chown(p, OWNER, OWNER) < 0)
        fprintf(stderr, "chown %s: %s\n", p, strerror(errno));
    free(p);
}

/* Append a message to the fake journal; returns its content offset. */
static off_t journal_add(const char *msg)
{
    int fd = open(journal, O_WRONLY | O_APPEND | O_CREAT, 0600);
    off_t off = lseek(fd, 0, SEEK_END);
    const char *hdr = "RECORD-ENVELOPE-BYTES\n";
    write_all(fd, hdr, strlen(hdr));
    write_all(fd, msg, strlen(msg));
    write_all(fd, "TRAILER", 7);
    close(fd);
    return off + (off_t)strlen(hdr);
}

/* Files in dir (not . and ..), first name copied out. */
static int count_files(const char *dir, char *first, size_t firstlen)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n++ == 0 && first)
            str_copy(first, e->d_name, firstlen);
    }
    closedir(d);
    return n;
}

static void rm_rf(const char *path)
{
    char *cmd = xasprintf("rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "%s failed\n", cmd);
    free(cmd);
}

/* ---- fake users ---- */

static int fake_getpw(const char *name, uid_t uid, struct user_info *out, void *ctx)
{
    (void)ctx;
    static const char *const users[] = {"alice", "carol", "dave", "erin", "nobody"};
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < ARRAY_LEN(users); i++) {
        int match = name ? strcmp(name, users[i]) == 0
                         : (strcmp(users[i], "nobody") == 0 && uid == owner_uid);
        if (!match)
            continue;
        str_copy(out->name, users[i], sizeof(out->name));
        out->uid = owner_uid;
        out->gid = is_root ? OWNER : getgid();
        snprintf(out->home, sizeof(out->home), "%s/home/%s", base, users[i]);
        str_copy(out->shell, "/bin/sh", sizeof(out->shell));
        return 1;
    }
    if (name && strcmp(name, "broken") == 0)
        return -1;
    return 0;
}

/* ---- the instance ---- */

/* The alias database and :include: file that list test_alias_targets()'s targets. */
static void write_aliases(const char *conf)
{
    char *path = xasprintf("%s/aliases", conf);
    char *text = xasprintf("root \"|cat > %s/out/alias-cmd.txt\", %s/out/alias-file.mbox,"
                           " %s/out/alias-maildir/\n"
                           "other \"|echo other\"\n", base, base, base);
    write_text(path, text);
    free(text);
    free(path);
    path = xasprintf("%s/list.inc", conf);
    text = xasprintf("# members\n\"|cat > %s/out/alias-cmd.txt\"\n%s/out/alias-file.mbox, /dev/null\n",
                     base, base);
    write_text(path, text);
    free(text);
    free(path);
}

static const char *MAIN_CF =
    "myhostname = mx.example.com\n"
    "mydomain = example.com\n"
    "myorigin = example.com\n"
    "recipient_delimiter = +\n"
    "virtual_mailbox_base = %s/vmail\n"
    "virtual_mailbox_maps = inline:{ a@example.com=example.com/a/, b@example.com=example.com/b,"
    " low@example.com=example.com/low/, @catchall.example=catchall/ }\n"
    "virtual_uid_maps = inline:{ low@example.com=50 } static:%ld\n"
    "virtual_gid_maps = static:%ld\n"
    "mail_spool_directory = %s/spool\n"
    "home_mailbox = Maildir/\n"
    "deliver_lock_attempts = 2\n"
    "deliver_lock_delay = 1s\n"
    "command_time_limit = 1s\n"
    "default_privs = nobody\n"
    "alias_maps = texthash:%s/etc/aliases\n";

static struct config *cfg;

static void setup(void)
{
    is_root = geteuid() == 0;
    owner_uid = is_root ? OWNER : getuid();
    str_copy(base, "/tmp/yubin-deliver-XXXXXX", sizeof(base));
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        exit(1);
    }
    chmod(base, 0755);
    snprintf(queue, sizeof(queue), "%s/queue", base);
    snprintf(journal, sizeof(journal), "%s/journal/J1", queue);
    char *jdir = xasprintf("%s/journal", queue);
    mkdir_p(jdir, 0700);
    free(jdir);
    content_off = journal_add(MSG);
    content_len = strlen(MSG);

    mkdir_owned("vmail", 0755);
    mkdir_owned("home/alice", 0755);
    mkdir_owned("home/carol", 0755);
    mkdir_owned("home/dave", 0755);
    mkdir_owned("home/erin", 0755);
    mkdir_owned("out", 0777);
    char *spool = path_of("spool");
    mkdir_p(spool, 0755);                       /* root-only, like a strict /var/mail */
    free(spool);

    char *conf = path_of("etc");
    mkdir_p(conf, 0755);
    char *main_cf = xasprintf("%s/main.cf", conf);
    char *text = xasprintf(MAIN_CF, base, (long)owner_uid, (long)(is_root ? OWNER : getgid()), base,
                           base);
    write_aliases(conf);
    write_text(main_cf, text);
    free(text);
    free(main_cf);
    struct cfg_diags diags = {0};
    cfg = config_load(conf, &diags);
    for (size_t i = 0; i < diags.n; i++)
        fprintf(stderr, "config: %s:%d: %s\n", diags.v[i].file ? diags.v[i].file : "", diags.v[i].line,
                diags.v[i].text);
    cfg_diags_free(&diags);
    free(conf);
    if (!cfg) {
        fprintf(stderr, "config_load failed\n");
        exit(1);
    }
}

static void agent_for(struct agent *a, enum agent_kind kind)
{
    CHECK_INT(deliver_agent_init(a, cfg, kind, !is_root, queue), 0);
    a->getpw = fake_getpw;
    a->default_uid = owner_uid;
    a->default_gid = is_root ? OWNER : getgid();
    a->lock_delay_ms = 50;
}

/* ---- talking to the agent ---- */

/*
 * Run the agent's serving loop in a child on a socketpair, send raw
 * request text, collect the reply. Returns the number of statuses, or
 * -1 when the connection closed without a complete reply.
 */
static int exchange_rawn(struct agent *a, const char *text, size_t textlen, struct dstatus *st,
                         size_t max, long long fsize_limit)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        signal(SIGPIPE, SIG_IGN);
        if (fsize_limit > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {(rlim_t)fsize_limit, (rlim_t)fsize_limit};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
        int rc = deliver_agent_serve(a, sv[1]);
        _exit(rc == 0 ? 0 : 3);
    }
    close(sv[1]);
    write_all(sv[0], text, textlen);
    shutdown(sv[0], SHUT_WR);
    struct buf reply;
    buf_init(&reply, 0);
    char chunk[4096];
    ssize_t n;
    while ((n = read(sv[0], chunk, sizeof(chunk))) > 0)
        buf_append(&reply, chunk, (size_t)n);
    close(sv[0]);
    int status;
    waitpid(pid, &status, 0);
    if (getenv("DEBUG_DELIVER"))
        fprintf(stderr, "agent exit status %d, reply: [%s]\n", status, buf_cstr(&reply));
    int count = 0, done = 0;
    char *save = NULL;
    for (char *line = strtok_r(reply.data ? reply.data : (char[]){""}, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        struct dstatus s;
        int rc = dproto_parse_status(line, &s);
        if (rc == 0) {
            done = 1;
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "bad status line: %s\n", line);
            break;
        }
        if ((size_t)count < max)
            st[count] = s;
        count++;
    }
    buf_free(&reply);
    return done ? count : -1;
}

static int exchange_raw(struct agent *a, const char *text, struct dstatus *st, size_t max,
                        long long fsize_limit)
{
    return exchange_rawn(a, text, strlen(text), st, max, fsize_limit);
}

struct r {
    const char *addr, *orig, *extra;
};

static int exchange(struct agent *a, const char *sender, off_t off, size_t len,
                    const struct r *rcpts, size_t n, struct dstatus *st)
{
    struct dreq req;
    dproto_init_request(&req);
    str_copy(req.qid, "4ZxMzF3TQSz9sPg", sizeof(req.qid));
    str_copy(req.path, journal, sizeof(req.path));
    req.offset = off;
    req.length = len;
    req.sender = xstrdup(sender);
    dproto_add_attr(&req, "arrival", "1700000000");
    dproto_add_attr(&req, "client_address", "192.0.2.7");
    for (size_t i = 0; i < n; i++)
        dproto_add_rcpt(&req, (int)(10 + i), rcpts[i].addr, rcpts[i].orig ? rcpts[i].orig : "",
                        rcpts[i].extra);
    char *text = dproto_encode_request(&req);
    dproto_free_request(&req);
    if (!text)
        return -2;
    int rc = exchange_raw(a, text, st, n, 0);
    free(text);
    return rc;
}

static int deliver1(struct agent *a, const char *addr, const char *orig, const char *extra,
                    struct dstatus *st)
{
    struct r r = {addr, orig, extra};
    return exchange(a, "sender@example.org", content_off, content_len, &r, 1, st);
}

#define CHECK_STATUS(st, cls_, dsn_, text_) do { CHECK_STR((st).cls, cls_); CHECK_STR((st).dsn, dsn_); \
    if (text_) CHECK_STR((st).text, (const char *)(text_)); } while (0)

static void check_owner(const char *path)
{
    struct stat sb;
    CHECK_INT(stat(path, &sb), 0);
    CHECK_INT(sb.st_uid, owner_uid);
}

/* The one file in dir/new; returns its content (caller frees) and checks the name. */
static char *maildir_message(const char *dir, char *name, size_t namelen)
{
    char *newdir = xasprintf("%s/new", dir), *tmpdir = xasprintf("%s/tmp", dir);
    char first[512] = "";
    CHECK_INT(count_files(newdir, first, sizeof(first)), 1);
    CHECK_INT(count_files(tmpdir, NULL, 0), 0);
    char *file = xasprintf("%s/%s", newdir, first);
    char *text = slurp(file);
    if (text) {
        /* "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>" and S= is the real size */
        long long sec, usec, pid, q;
        char rest[300];
        CHECK_INT(sscanf(first, "%lld.M%lldP%lldQ%lld.%299s", &sec, &usec, &pid, &q, rest), 5);
        const char *s = strstr(first, ",S=");
        CHECK(s != NULL);
        if (s)
            CHECK_INT(atoll(s + 3), strlen(text));
        CHECK(strchr(first, ':') == NULL && strchr(first, '/') == NULL);
        check_owner(file);
        struct stat sb;
        stat(file, &sb);
        CHECK_INT(sb.st_mode & 0777, 0600);
    }
    if (name)
        str_copy(name, first, namelen);
    free(file);
    free(newdir);
    free(tmpdir);
    return text;
}

/* ---- virtual ---- */

static void test_virtual_maildir(void)
{
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dstatus st[2];
    CHECK_INT(deliver1(&a, "a@example.com", "A@Example.COM", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    CHECK_INT(st[0].idx, 10);
    char *dir = path_of("vmail/example.com/a");
    char *text = maildir_message(dir, NULL, 0);
    char *want = xasprintf("Return-Path: <sender@example.org>\n"
                           "X-Original-To: A@Example.COM\n"
                           "Delivered-To: a@example.com\n%s", MSG);
    CHECK_STR(text, want);
    free(want);
    free(text);
    /* the Maildir was created by its owner, private */
    struct stat sb;
    char *cur = xasprintf("%s/cur", dir);
    CHECK_INT(stat(cur, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0700);
    CHECK_INT(sb.st_uid, owner_uid);
    free(cur);
    rm_rf(dir);
    free(dir);

    /* address extension: user+ext@domain finds user@domain; Delivered-To keeps the extension */
    CHECK_INT(deliver1(&a, "a+news@example.com", "", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    dir = path_of("vmail/example.com/a");
    text = maildir_message(dir, NULL, 0);
    CHECK(text && strstr(text, "X-Original-To: a+news@example.com\nDelivered-To: a+news@example.com\n"));
    free(text);
    rm_rf(dir);
    free(dir);

    /* @domain catch-all */
    CHECK_INT(deliver1(&a, "whoever@catchall.example", "", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    dir = path_of("vmail/catchall");
    text = maildir_message(dir, NULL, 0);
    free(text);
    free(dir);
    deliver_agent_free(&a);
}

static void test_virtual_refusals(void)
{
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dstatus st[3];
    struct r rs[3] = {{"nobody@example.com", NULL, NULL}, {"a@example.com", NULL, NULL},
                      {"low@example.com", NULL, NULL}};
    CHECK_INT(exchange(&a, "", content_off, content_len, rs, 3, st), 3);
    CHECK_STATUS(st[0], "bounced", "5.1.1", "unknown user: \"nobody@example.com\"");
    CHECK_STATUS(st[1], "sent", "2.0.0", NULL);
    if (is_root)
        CHECK_STATUS(st[2], "deferred", "4.3.5", "mail system configuration error");
    char *low = path_of("vmail/example.com/low");
    if (is_root)
        CHECK(access(low, F_OK) != 0);            /* nothing created for a refused uid */
    free(low);
    /* the null sender: Return-Path: <> */
    char *dir = path_of("vmail/example.com/a");
    char *text = maildir_message(dir, NULL, 0);
    CHECK(text && strncmp(text, "Return-Path: <>\n", 16) == 0);
    free(text);
    rm_rf(dir);
    free(dir);

    /* loop: the message already has Delivered-To: a@example.com */
    off_t off = journal_add(MSG_LOOP);
    struct r r = {"A@example.com", NULL, NULL};
    CHECK_INT(exchange(&a, "x@y", off, strlen(MSG_LOOP), &r, 1, st), 1);
    CHECK_STATUS(st[0], "bounced", "5.4.6", "mail forwarding loop for a@example.com");

    /* virtual_mailbox_limit */
    a.vlimit = 100;
    CHECK_INT(deliver1(&a, "a@example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "bounced", "5.2.2",
                 "maildir delivery failed: error writing message: File too large");
    a.vlimit = 0;
    deliver_agent_free(&a);
}

static void test_virtual_mbox(void)
{
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dstatus st[1];
    char *dir = path_of("vmail/example.com");
    mkdir_p(dir, 0755);
    if (is_root && chown(dir, OWNER, OWNER) < 0)
        perror("chown");
    CHECK_INT(deliver1(&a, "b@example.com", "", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to mailbox");
    CHECK_INT(deliver1(&a, "b@example.com", "", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to mailbox");
    char *mbox = path_of("vmail/example.com/b");
    char *text = slurp(mbox);
    check_owner(mbox);
    const char *one =
        "Return-Path: <sender@example.org>\n"
        "X-Original-To: b@example.com\n"
        "Delivered-To: b@example.com\n"
        "Received: from client.example.org by mx.example.com\n"
        "From: Alice <alice@example.org>\n"
        "Subject: test\n"
        "\n"
        "Hello\n"
        ">From the start of a line\n"
        ">From already quoted\n"
        "last line\n"
        "\n";
    char *from = xasprintf("From sender@example.org ");
    CHECK(text && strncmp(text, from, strlen(from)) == 0);
    /* two messages, each: From line, headers, quoted body, empty line */
    const char *p = text ? strchr(text, '\n') : NULL;
    CHECK(p && strncmp(p + 1, one, strlen(one)) == 0);
    if (p && strlen(p + 1) > strlen(one)) {
        const char *second = p + 1 + strlen(one);
        CHECK(strncmp(second, from, strlen(from)) == 0);
        const char *q = strchr(second, '\n');
        CHECK(q && strcmp(q + 1, one) == 0);
    } else {
        CHECK(0);
    }
    /* the lock file is gone */
    char *lock = xasprintf("%s.lock", mbox);
    CHECK(access(lock, F_OK) != 0);

    /* a held dot-lock makes delivery wait, then defer */
    write_text(lock, "");
    CHECK_INT(deliver1(&a, "b@example.com", "", NULL, st), 1);
    CHECK_STR(st[0].cls, "deferred");
    CHECK(strstr(st[0].text, "unable to create lock file") != NULL);
    unlink(lock);

    /* the mailbox limit counts what is already there */
    a.vlimit = (long long)strlen(text) + 50;
    CHECK_INT(deliver1(&a, "b@example.com", "", NULL, st), 1);
    CHECK_STATUS(st[0], "bounced", "5.2.2", NULL);
    CHECK(strstr(st[0].text, "cannot update mailbox") && strstr(st[0].text, "File too large"));
    char *after = slurp(mbox);
    CHECK_STR(after, text);                   /* untouched */
    free(after);
    free(lock);
    free(from);
    free(text);
    free(mbox);
    free(dir);
    deliver_agent_free(&a);
}

static void test_write_failure_cleans_up(void)
{
    /* RLIMIT_FSIZE in the agent makes the Maildir write fail with EFBIG */
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dreq req;
    dproto_init_request(&req);
    str_copy(req.qid, "Q1", sizeof(req.qid));
    str_copy(req.path, journal, sizeof(req.path));
    req.offset = content_off;
    req.length = content_len;
    req.sender = xstrdup("s@x");
    dproto_add_rcpt(&req, 1, "a@example.com", "", NULL);
    char *text = dproto_encode_request(&req);
    struct dstatus st[1];
    CHECK_INT(exchange_raw(&a, text, st, 1, 64), 1);
    CHECK_STATUS(st[0], "bounced", "5.2.2", NULL);
    CHECK(strstr(st[0].text, "error writing message") != NULL);
    char *tmp = path_of("vmail/example.com/a/tmp"), *nw = path_of("vmail/example.com/a/new");
    CHECK_INT(count_files(tmp, NULL, 0), 0);
    CHECK_INT(count_files(nw, NULL, 0), 0);
    free(tmp);
    free(nw);
    free(text);
    dproto_free_request(&req);
    deliver_agent_free(&a);
}

static void test_bad_requests(void)
{
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dstatus st[2];
    /* content beyond the end of the queue file */
    struct r r = {"a@example.com", NULL, NULL};
    CHECK_INT(exchange(&a, "s@x", content_off, 1 << 20, &r, 1, st), 1);
    CHECK_STATUS(st[0], "deferred", "4.3.0", "queue file is truncated");
    /* a path outside the queue directory is refused */
    char req[512];
    snprintf(req, sizeof(req), "DELIVER\tQ1\t/etc/passwd\t0\t10\nS\t\nR\t1\ta@example.com\t\t-\n.\n");
    CHECK_INT(exchange_raw(&a, req, st, 1, 0), 1);
    CHECK_STATUS(st[0], "deferred", "4.3.0", "bad queue file name");
    snprintf(req, sizeof(req), "DELIVER\tQ1\t%s/../../etc/passwd\t0\t10\nS\t\nR\t1\ta@example.com\t\t-\n.\n", queue);
    CHECK_INT(exchange_raw(&a, req, st, 1, 0), 1);
    CHECK_STATUS(st[0], "deferred", "4.3.0", "bad queue file name");
    /* malformed requests close the connection without a reply */
    CHECK_INT(exchange_raw(&a, "HELLO\n", st, 1, 0), -1);
    CHECK_INT(exchange_raw(&a, "DELIVER\tQ1\t/x\t0\t1\nS\t\nR\t1\ta@b\t\t-\nR\t1\tc@d\t\t-\n.\n", st, 1, 0), -1);
    static const char nul[] = "DELIVER\tQ1\t/x\t0\t1\nS\ta\0b\nR\t1\tc@d\t\t-\n.\n";
    CHECK_INT(exchange_rawn(&a, nul, sizeof(nul) - 1, st, 1, 0), -1);
    /* a request cut off by EOF gets no reply either */
    CHECK_INT(exchange_raw(&a, "DELIVER\tQ1\t/x\t0\t1\nS\t\n", st, 1, 0), -1);
    /* two requests on one connection, answered in order */
    char two[2048];
    snprintf(two, sizeof(two),
             "DELIVER\tQ1\t%s\t%lld\t%zu\nS\t\nR\t5\tnone@example.com\t\t-\n.\n"
             "DELIVER\tQ2\t%s\t%lld\t%zu\nS\t\nR\t6\tnone2@example.com\t\t-\n.\n",
             journal, (long long)content_off, content_len, journal, (long long)content_off,
             content_len);
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(deliver_agent_serve(&a, sv[1]) == 0 ? 0 : 3);
    }
    close(sv[1]);
    write_all(sv[0], two, strlen(two));
    shutdown(sv[0], SHUT_WR);
    char reply[1024];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = read(sv[0], reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(sv[0]);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);     /* EOF after a request: clean */
    CHECK_STR(reply, "S\t5\tbounced\t5.1.1\tunknown user: \"none@example.com\"\n.\n"
                     "S\t6\tbounced\t5.1.1\tunknown user: \"none2@example.com\"\n.\n");
    deliver_agent_free(&a);
}

static void test_request_timeout(void)
{
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    a.request_timeout = 1;
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(deliver_agent_serve(&a, sv[1]) == 0 ? 0 : 3);
    }
    close(sv[1]);
    write_all(sv[0], "DELIVER\tQ1\t/x\t0\t1\n", 19);   /* and then nothing */
    uint64_t t0 = mono_msec();
    char c;
    ssize_t n = read(sv[0], &c, 1);                  /* EOF when the agent gives up */
    uint64_t took = mono_msec() - t0;
    CHECK_INT(n, 0);
    CHECK(took >= 900 && took < 5000);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    close(sv[0]);
    deliver_agent_free(&a);
}

static void test_config_error_defers(void)
{
    char *conf = path_of("etc-bad");
    mkdir_p(conf, 0755);
    char *main_cf = xasprintf("%s/main.cf", conf);
    write_text(main_cf, "virtual_mailbox_maps = nosuchtype:/x\n");
    struct config *bad = config_load(conf, NULL);
    CHECK(bad != NULL);
    struct agent a;
    CHECK_INT(deliver_agent_init(&a, bad, AGENT_VIRTUAL, !is_root, queue), 0);
    struct dstatus st[1];
    CHECK_INT(deliver1(&a, "a@example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "deferred", "4.3.0",
                 "mail system configuration error: virtual_mailbox_maps lookup failure");
    deliver_agent_free(&a);
    config_free(bad);
    free(main_cf);
    free(conf);
}

/* ---- local ---- */

static void test_local_home_maildir(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    struct dstatus st[2];
    struct r rs[2] = {{"Alice+Lists@mx.example.com", "alice-alias@example.com", NULL},
                      {"zed@mx.example.com", NULL, NULL}};
    CHECK_INT(exchange(&a, "sender@example.org", content_off, content_len, rs, 2, st), 2);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    CHECK_STATUS(st[1], "bounced", "5.1.1", "unknown user: \"zed\"");
    char *dir = path_of("home/alice/Maildir");
    char *text = maildir_message(dir, NULL, 0);
    char *want = xasprintf("Return-Path: <sender@example.org>\n"
                           "X-Original-To: alice-alias@example.com\n"
                           "Delivered-To: alice+lists@mx.example.com\n%s", MSG);
    CHECK_STR(text, want);
    free(want);
    free(text);
    rm_rf(dir);
    free(dir);
    /* lookup failure defers */
    CHECK_INT(deliver1(&a, "broken@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "deferred");
    /* Delivered-To loop */
    off_t off = journal_add("Delivered-To: alice@mx.example.com\n\nbody\n");
    struct r r = {"alice@mx.example.com", NULL, NULL};
    CHECK_INT(exchange(&a, "s@x", off, strlen("Delivered-To: alice@mx.example.com\n\nbody\n"), &r, 1, st), 1);
    CHECK_STATUS(st[0], "bounced", "5.4.6", "mail forwarding loop for alice@mx.example.com");
    deliver_agent_free(&a);
}

static void test_local_spool_mbox(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    free(a.home_mailbox);
    a.home_mailbox = xstrdup("");
    struct dstatus st[1];
    CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to mailbox");
    char *mbox = path_of("spool/erin");
    check_owner(mbox);                            /* created by root, handed to erin */
    char *text = slurp(mbox);
    CHECK(text && strncmp(text, "From sender@example.org ", 24) == 0);
    CHECK(text && strstr(text, "\n>From the start of a line\n>From already quoted\nlast line\n\n") != NULL);
    free(text);
    char *lock = xasprintf("%s.lock", mbox);
    CHECK(access(lock, F_OK) != 0);
    free(lock);
    /* strict_mailbox_ownership: a mailbox owned by someone else defers */
    if (is_root) {
        if (chown(mbox, 0, 0) < 0)
            perror("chown");
        CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
        CHECK_STR(st[0].cls, "deferred");
        CHECK(strstr(st[0].text, "bad owner uid 0") != NULL);
    }
    unlink(mbox);
    free(mbox);
    /* home_mailbox as an mbox file */
    free(a.home_mailbox);
    a.home_mailbox = xstrdup("Mailbox");
    CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to mailbox");
    mbox = path_of("home/erin/Mailbox");
    check_owner(mbox);
    free(mbox);
    deliver_agent_free(&a);
}

static void test_mailbox_command(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    struct dstatus st[1];
    char *out = path_of("home/dave");
    free(a.mailbox_command);
    a.mailbox_command = xasprintf("env > %s/env.txt; cat > %s/msg.txt; id -u > %s/uid.txt", out, out, out);
    CHECK_INT(deliver1(&a, "dave+x@mx.example.com", "orig@example.com", NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", NULL);
    CHECK(strncmp(st[0].text, "delivered to command: env > ", 28) == 0);
    char *envf = xasprintf("%s/env.txt", out), *msgf = xasprintf("%s/msg.txt", out),
         *uidf = xasprintf("%s/uid.txt", out);
    char *envraw = slurp(envf), *msg = slurp(msgf), *uid = slurp(uidf);
    char *env = envraw ? xasprintf("\n%s", envraw) : NULL;    /* every variable starts a line */
    free(envraw);
    CHECK(env && strstr(env, "\nRECIPIENT=dave+x@mx.example.com\n"));
    CHECK(env && strstr(env, "\nUSER=dave\n"));
    CHECK(env && strstr(env, "\nLOCAL=dave+x\n"));
    CHECK(env && strstr(env, "\nEXTENSION=x\n"));
    CHECK(env && strstr(env, "\nDOMAIN=mx.example.com\n"));
    CHECK(env && strstr(env, "\nSENDER=sender@example.org\n"));
    CHECK(env && strstr(env, "\nORIGINAL_RECIPIENT=orig@example.com\n"));
    CHECK(env && strstr(env, "\nCLIENT_ADDRESS=192.0.2.7\n"));
    CHECK(env && strstr(env, "\nPATH=/usr/bin:/bin\n"));
    char *home = xasprintf("\nHOME=%s\n", out);
    CHECK(env && strstr(env, home));
    free(home);
    /* "From " line, then the prepended headers, then the message unquoted */
    CHECK(msg && strncmp(msg, "From sender@example.org ", 24) == 0);
    const char *nl = msg ? strchr(msg, '\n') : NULL;
    char *want = xasprintf("Return-Path: <sender@example.org>\nX-Original-To: orig@example.com\n"
                           "Delivered-To: dave+x@mx.example.com\n%s", MSG);
    CHECK(nl && strcmp(nl + 1, want) == 0);
    free(want);
    char uidtxt[32];
    snprintf(uidtxt, sizeof(uidtxt), "%ld\n", (long)owner_uid);
    CHECK_STR(uid, uidtxt);
    check_owner(msgf);
    free(env);
    free(msg);
    free(uid);
    free(envf);
    free(msgf);
    free(uidf);

    static const struct {
        const char *cmd, *cls, *dsn, *text;
    } cases[] = {
        {"cat >/dev/null; exit 75", "deferred", "4.3.0", "temporary failure"},
        {"exit 67", "bounced", "5.1.1", "user unknown"},
        {"echo no such mailbox; exit 1", "bounced", "5.3.0",
         "Command died with status 1: \"echo no such mailbox; exit 1\". Command output: no such mailbox"},
        {"echo '5.2.1 mailbox disabled'; exit 1", "bounced", "5.2.1", "5.2.1 mailbox disabled"},
        {"echo '4.2.1 try later'; exit 1", "deferred", "4.2.1", "4.2.1 try later"},
        {"echo '5.2.2 full for now'; exit 75", "deferred", "4.2.2", "5.2.2 full for now"},
        {"kill -9 $$", "deferred", "4.3.0", "Command died with signal 9: \"kill -9 $$\""},
        {"sleep 30", "deferred", "4.3.0", "Command time limit exceeded: \"sleep 30\""},
        {"exec 0<&-; exit 0", "sent", "2.0.0", "delivered to command: exec 0<&-; exit 0"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        free(a.mailbox_command);
        a.mailbox_command = xstrdup(cases[i].cmd);
        uint64_t t0 = mono_msec();
        CHECK_INT(deliver1(&a, "dave@mx.example.com", NULL, NULL, st), 1);
        CHECK_STATUS(st[0], cases[i].cls, cases[i].dsn, cases[i].text);
        CHECK(mono_msec() - t0 < 5000);
    }
    free(out);
    deliver_agent_free(&a);
}

static void test_alias_targets(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    struct dstatus st[6];
    char *cmdout = path_of("out/alias-cmd.txt");
    char *fileout = path_of("out/alias-file.mbox");
    char *cmd = xasprintf("|cat > %s", cmdout);
    char *maildir = path_of("out/alias-maildir/");
    char *inc = xasprintf("alias=list@mx.example.com,target=command,include=%s/etc/list.inc,"
                          "class=include", base);
    char *incf = xasprintf("alias=list@mx.example.com,target=file,include=%s/etc/list.inc,"
                           "class=include", base);
    struct r rs[6] = {
        {cmd, "root@mx.example.com", "alias=root@mx.example.com,target=command"},
        {fileout, "root@mx.example.com", "alias=root@mx.example.com,target=file"},
        {cmd, "root@mx.example.com", inc},
        {fileout, "root@mx.example.com", incf},
        {"/dev/null", "devnull@mx.example.com", incf},
        {maildir, "root@mx.example.com", "alias=root@mx.example.com,target=file"},
    };
    CHECK_INT(exchange(&a, "sender@example.org", content_off, content_len, rs, 6, st), 6);
    CHECK_STATUS(st[0], "sent", "2.0.0", NULL);
    CHECK_STATUS(st[1], "sent", "2.0.0", NULL);
    CHECK(strncmp(st[1].text, "delivered to file: ", 19) == 0);
    CHECK_STATUS(st[2], "bounced", "5.7.1", "mail to command is restricted");
    CHECK_STATUS(st[3], "bounced", "5.7.1", "mail to file is restricted");
    CHECK_STATUS(st[4], "sent", "2.0.0", "delivered to file: /dev/null");
    CHECK_STATUS(st[5], "sent", "2.0.0", "delivered to maildir");
    /* a root-owned alias database means default_privs: the files belong to nobody, not root */
    check_owner(cmdout);
    check_owner(fileout);
    char *text = slurp(cmdout);
    CHECK(text && strstr(text, "\nDelivered-To: root@mx.example.com\n") != NULL);
    free(text);
    text = slurp(fileout);
    CHECK(text && strncmp(text, "From sender@example.org ", 24) == 0);
    CHECK(text && strstr(text, "\n>From the start of a line\n") != NULL);
    free(text);
    char *md = path_of("out/alias-maildir");
    text = maildir_message(md, NULL, 0);
    free(text);
    free(md);
    /* allow_mail_to_commands = alias,forward,include lets include through */
    a.allow_cmd |= DCLASS_INCLUDE;
    CHECK_INT(exchange(&a, "sender@example.org", content_off, content_len, &rs[2], 1, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", NULL);
    free(cmd);
    free(cmdout);
    free(fileout);
    free(maildir);
    free(inc);
    free(incf);
    deliver_agent_free(&a);
}

/*
 * Only a recipient that qmgr's alias expansion marked is ever a command or
 * a file, and only when the alias database or include file really lists
 * it: a remote sender's "|command"@localhost (a DSN recipient) is a user.
 */
static void test_alias_targets_unmarked(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    a.allow_cmd = a.allow_file = DCLASS_ALIAS | DCLASS_FORWARD | DCLASS_INCLUDE;
    struct dstatus st[8];
    char *pwned = path_of("out/pwned");
    char *cmd = xasprintf("|touch %s #@mx.example.com", pwned);
    char *cmd2 = xasprintf("|touch %s", pwned);
    char *file = path_of("out/appended");
    char *inc = xasprintf("alias=list@mx.example.com,target=command,include=%s/etc/list.inc,"
                          "class=include", base);
    char *notinc = xasprintf("alias=list@mx.example.com,target=command,include=%s/out/none.inc,"
                             "class=include", base);
    struct r rs[8] = {
        {cmd, "", "-"},                                       /* the DSN to the sender */
        {file, "", "-"},
        {cmd2, "", "alias=x@mx.example.com"},                 /* no target= */
        {cmd2, "root@mx.example.com", "alias=root@mx.example.com,target=command"},
        {cmd2, "other@mx.example.com", "alias=other@mx.example.com,target=command"},
        {cmd2, "root@mx.example.com", inc},
        {cmd2, "root@mx.example.com", notinc},
        {file, "root@mx.example.com", "alias=root@mx.example.com,target=command"},
    };
    CHECK_INT(exchange(&a, "sender@example.org", content_off, content_len, rs, 8, st), 8);
    CHECK_STATUS(st[0], "bounced", "5.1.1", NULL);
    CHECK(strstr(st[0].text, "unknown user") != NULL);
    CHECK_STATUS(st[1], "bounced", "5.1.1", NULL);
    CHECK_STATUS(st[2], "bounced", "5.1.1", NULL);
    /* marked, but not what alias_maps or the include file lists */
    CHECK_STATUS(st[3], "deferred", "4.3.5", "mail system configuration error");
    CHECK_STATUS(st[4], "deferred", "4.3.5", "mail system configuration error");
    CHECK_STATUS(st[5], "deferred", "4.3.5", "mail system configuration error");
    CHECK_STATUS(st[6], "deferred", "4.3.0", NULL);
    /* target=command for a path */
    CHECK_STATUS(st[7], "deferred", "4.3.5", "mail system configuration error");
    struct stat sb;
    CHECK(stat(pwned, &sb) < 0 && errno == ENOENT);
    CHECK(stat(file, &sb) < 0 && errno == ENOENT);
    free(pwned);
    free(cmd);
    free(cmd2);
    free(file);
    free(inc);
    free(notinc);
    deliver_agent_free(&a);
}

/* The queue file is opened beneath queue_directory, never through a symlink. */
static void test_queue_file_beneath(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    char *secret = path_of("secret");
    write_text(secret, "RECORD-ENVELOPE-BYTES\nSubject: secret\n\nroot only\n");
    char *link_dir = xasprintf("%s/journal/evil", queue);
    CHECK_INT(symlink(base, link_dir), 0);
    char *via_dir = xasprintf("%s/secret", link_dir);
    char *link_file = xasprintf("%s/journal/J2", queue);
    CHECK_INT(symlink(secret, link_file), 0);
    char *outside = xasprintf("%s/../secret", queue);
    const char *paths[] = {via_dir, link_file, outside, secret};
    for (size_t i = 0; i < ARRAY_LEN(paths); i++) {
        struct dstatus st[1];
        char *req = xasprintf("DELIVER\tQ1\t%s\t22\t10\nS\ts@x\nR\t0\talice@mx.example.com\t\t-\n.\n",
                              paths[i]);
        CHECK_INT(exchange_raw(&a, req, st, 1, 0), 1);
        CHECK_STATUS(st[0], "deferred", "4.3.0", "bad queue file name");
        free(req);
    }
    unlink(link_dir);
    unlink(link_file);
    free(secret);
    free(link_dir);
    free(via_dir);
    free(link_file);
    free(outside);
    deliver_agent_free(&a);
}

static void test_forward_file(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    struct dstatus st[1];
    char *fwd = path_of("home/carol/.forward");
    char *cmdout = path_of("home/carol/fwd-cmd.txt");
    char *text = xasprintf("# my forwarding\n\\carol, dave@example.org\n\"|cat > %s\"\nbob, dave@example.org\n", cmdout);
    write_text(fwd, text);
    free(text);
    if (is_root && chown(fwd, OWNER, OWNER) < 0)
        perror("chown");
    CHECK_INT(deliver1(&a, "carol@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "forward");
    CHECK_STR(st[0].dsn, "2.0.0");
    char **v = dproto_forward_split(st[0].text);
    CHECK(v && strv_len(v) == 2);
    if (v && strv_len(v) == 2) {
        CHECK_STR(v[0], "dave@example.org");
        CHECK_STR(v[1], "bob@example.com");      /* qualified with $myorigin */
    }
    strv_free(v);
    check_owner(cmdout);
    char *cmdtext = slurp(cmdout);
    CHECK(cmdtext && strstr(cmdtext, "\nDelivered-To: carol@mx.example.com\n") != NULL);
    free(cmdtext);
    /* \carol: a copy in carol's own mailbox too */
    char *md = path_of("home/carol/Maildir");
    char *m = maildir_message(md, NULL, 0);
    free(m);
    rm_rf(md);

    /* direct=1 ("\carol" in an alias): the mailbox, .forward not consulted */
    CHECK_INT(deliver1(&a, "carol@mx.example.com", NULL, "direct=1", st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    rm_rf(md);

    /* .forward+ext wins for carol+ext (forward_path default) */
    char *fwdext = path_of("home/carol/.forward+lists");
    write_text(fwdext, "lists@example.net\n");
    if (is_root && chown(fwdext, OWNER, OWNER) < 0)
        perror("chown");
    CHECK_INT(deliver1(&a, "carol+lists@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "forward");
    CHECK_STR(st[0].text, "lists@example.net");

    /* commands in .forward can be forbidden */
    a.allow_cmd = DCLASS_ALIAS;
    write_text(fwd, "\"|cat > /dev/null\"\n");
    CHECK_INT(deliver1(&a, "carol@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "bounced", "5.7.1", "mail to command is restricted");

    /* an empty .forward is ignored */
    write_text(fwd, "# nothing\n\n");
    CHECK_INT(deliver1(&a, "carol@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    rm_rf(md);

    /* a .forward owned by someone else is ignored */
    if (is_root) {
        write_text(fwd, "elsewhere@example.net\n");
        if (chown(fwd, 1, 1) < 0)
            perror("chown");
        CHECK_INT(deliver1(&a, "carol@mx.example.com", NULL, NULL, st), 1);
        CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
        rm_rf(md);
    }
    unlink(fwd);
    unlink(fwdext);
    free(fwd);
    free(fwdext);
    free(cmdout);
    free(md);
    deliver_agent_free(&a);
}

/* Reference mbox quoting: ">From " for body lines starting with "From ". */
static char *quote_from(const char *msg, size_t len, size_t *outlen)
{
    struct buf b;
    buf_init(&b, 0);
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        if (bol && len - i >= 5 && memcmp(msg + i, "From ", 5) == 0)
            buf_putc(&b, '>');
        buf_putc(&b, msg[i]);
        bol = msg[i] == '\n';
    }
    *outlen = b.len;
    return b.data;
}

/* A big message whose "From " lines straddle the 64 KB read chunks. */
static char *big_message(size_t size, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "Subject: big\n\n");
    size_t k = 0;
    while (b.len < size) {
        /* put a "From " line start at, just before and just after each 64 KB boundary */
        size_t next = (b.len / 65536 + 1) * 65536;
        size_t pad = next - b.len;
        size_t shift = (k++ % 7);                    /* 0..6 bytes around the boundary */
        if (pad > 80 + shift) {
            size_t fill = pad - shift - 1;
            while (fill > 0) {
                size_t line = fill > 70 ? 70 : fill;
                if (line > 1) {
                    for (size_t i = 0; i + 1 < line; i++)
                        buf_putc(&b, (char)('a' + (i + k) % 26));
                    buf_putc(&b, '\n');
                } else {
                    buf_putc(&b, '\n');
                }
                fill -= line;
            }
            buf_putc(&b, '\n');
        }
        buf_puts(&b, "From the boundary line\nFrom\nFro\nFrom x\n");
    }
    buf_puts(&b, "From final line without newline");
    *len = b.len;
    return b.data;
}

static void test_big_messages(void)
{
    size_t len;
    char *msg = big_message(11 * 1024 * 1024, &len);   /* more than message_size_limit's 10 MB */
    off_t off = journal_add(msg);
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    a.vlimit = 0;
    struct r r = {"a@example.com", NULL, NULL};
    struct dstatus st[1];
    /* Maildir: byte for byte, after the prepended headers */
    CHECK_INT(exchange(&a, "s@x", off, len, &r, 1, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");
    char *dir = path_of("vmail/example.com/a");
    char *text = maildir_message(dir, NULL, 0);
    const char *prefix = "Return-Path: <s@x>\nX-Original-To: a@example.com\nDelivered-To: a@example.com\n";
    CHECK(text && strncmp(text, prefix, strlen(prefix)) == 0);
    CHECK(text && strlen(text) == strlen(prefix) + len && memcmp(text + strlen(prefix), msg, len) == 0);
    free(text);
    rm_rf(dir);
    free(dir);
    /* mbox: quoting is right across chunk boundaries, final newline added, then an empty line */
    char *mbox = path_of("vmail/example.com/b");
    unlink(mbox);
    r.addr = "b@example.com";
    CHECK_INT(exchange(&a, "s@x", off, len, &r, 1, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to mailbox");
    size_t qlen;
    char *quoted = quote_from(msg, len, &qlen);
    size_t mlen = 0;
    text = read_file(mbox, 64 << 20, &mlen);
    const char *body = text ? strstr(text, "\nDelivered-To: b@example.com\n") : NULL;
    CHECK(body != NULL);
    if (body) {
        body += strlen("\nDelivered-To: b@example.com\n");
        size_t blen = mlen - (size_t)(body - text);
        CHECK_INT(blen, qlen + 2);
        CHECK(blen == qlen + 2 && memcmp(body, quoted, qlen) == 0 && memcmp(body + qlen, "\n\n", 2) == 0);
    }
    free(text);
    free(quoted);
    unlink(mbox);
    free(mbox);
    /* a command reads all of it from its standard input */
    deliver_agent_free(&a);
    agent_for(&a, AGENT_LOCAL);
    char *out = path_of("home/dave/big.txt");
    free(a.mailbox_command);
    a.mailbox_command = xasprintf("cat > %s", out);
    r.addr = "dave@mx.example.com";
    CHECK_INT(exchange(&a, "s@x", off, len, &r, 1, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", NULL);
    text = read_file(out, 64 << 20, &mlen);
    CHECK(text && mlen > len && memcmp(text + mlen - len, msg, len) == 0);
    free(text);
    unlink(out);
    free(out);
    deliver_agent_free(&a);
    free(msg);
}

static void test_forward_path_and_command_maps(void)
{
    struct agent a;
    agent_for(&a, AGENT_LOCAL);
    struct dstatus st[1];
    free(a.forward_path);
    a.forward_path = xstrdup("${extension?{$home/.fwd-$extension}:{$home/.fwd-none}}");
    char *f1 = path_of("home/erin/.fwd-none"), *f2 = path_of("home/erin/.fwd-work");
    write_text(f1, "none@example.net\n");
    write_text(f2, "work@example.net\n");
    if (is_root && (chown(f1, OWNER, OWNER) < 0 || chown(f2, OWNER, OWNER) < 0))
        perror("chown");
    CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "forward");
    CHECK_STR(st[0].text, "none@example.net");
    CHECK_INT(deliver1(&a, "erin+work@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "forward");
    CHECK_STR(st[0].text, "work@example.net");
    /* characters outside forward_expansion_filter become '_' */
    CHECK_INT(deliver1(&a, "erin+w;o`rk@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", "delivered to maildir");   /* .fwd-w_o_rk does not exist */
    char *f3 = path_of("home/erin/.fwd-w_o_rk");
    write_text(f3, "filtered@example.net\n");
    if (is_root && chown(f3, OWNER, OWNER) < 0)
        perror("chown");
    CHECK_INT(deliver1(&a, "erin+w;o`rk@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].text, "filtered@example.net");
    unlink(f1);
    unlink(f2);
    unlink(f3);
    free(f1);
    free(f2);
    free(f3);
    char *md = path_of("home/erin/Maildir");
    rm_rf(md);
    free(md);

    /* mailbox_command_maps beats home_mailbox; a failing table defers */
    char *out = path_of("home/erin/by-map.txt");
    char *spec = xasprintf("inline:{ {erin@mx.example.com=cat > %s} }", out);
    char err[256];
    a.mbox_cmd_maps = maps_open(spec, cfg, err, sizeof(err));
    CHECK(a.mbox_cmd_maps != NULL);
    CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
    CHECK_STATUS(st[0], "sent", "2.0.0", NULL);
    CHECK(access(out, F_OK) == 0);
    maps_close(a.mbox_cmd_maps);
    a.mbox_cmd_maps = maps_open_tolerant("nosuchtype:/x", cfg, "mailbox_command_maps");
    CHECK_INT(deliver1(&a, "erin@mx.example.com", NULL, NULL, st), 1);
    CHECK_STR(st[0].cls, "deferred");
    free(spec);
    free(out);
    deliver_agent_free(&a);
}

/* deliver_main: SIGTERM while a request runs is answered, then exit 0. */
static void test_process_sigterm(void)
{
    char *sock = path_of("agent.sock");
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    str_copy(sun.sun_path, sock, sizeof(sun.sun_path));
    CHECK_INT(bind(lfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    CHECK_INT(listen(lfd, 8), 0);
    char *done = path_of("out/slow-done");
    struct config *c2 = cfg;
    char *slow = xasprintf("sleep 0.5; touch %s", done);
    cfg_set(c2, "mailbox_command", slow);
    cfg_set(c2, "command_time_limit", "10s");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct master_service svc = {.name = "local", .command = "local"};
        int fds[1] = {lfd};
        struct worker w = {.cfg = c2, .svc = &svc, .listen_fds = fds, .nlisten = 1,
                           .single_user = !is_root, .queue_dir = queue, .count_fd = -1};
        _exit(deliver_main(&w));
    }
    close(lfd);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK_INT(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    char req[1024];
    /* dave is not a fake user in the child (system lookup): use a real one */
    snprintf(req, sizeof(req), "DELIVER\tQ1\t%s\t%lld\t%zu\nS\ts@x\nR\t1\t%s@localhost\t\t-\n.\n",
             journal, (long long)content_off, content_len, "nobody");
    write_all(fd, req, strlen(req));
    usleep(150 * 1000);
    kill(pid, SIGTERM);                          /* while the command runs */
    char reply[2048];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof(reply) - 1 && (n = read(fd, reply + got, sizeof(reply) - 1 - got)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    CHECK(strncmp(reply, "S\t1\tsent\t2.0.0\t", 15) == 0);
    CHECK(strstr(reply, "\n.\n") != NULL);
    CHECK(access(done, F_OK) == 0);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    unlink(sock);
    free(sock);
    free(done);
    free(slow);
}

/* Optional measurement: YUBIN_BENCH=N Maildir deliveries of a 1 KB message. */
static void bench_maildir(void)
{
    const char *env = getenv("YUBIN_BENCH");
    int n = env ? atoi(env) : 0;
    if (n <= 0)
        return;
    char msg[1100];
    int len = snprintf(msg, sizeof(msg), "Subject: bench\nFrom: a@b\nTo: c@d\n\n");
    for (; len < 1024; len++)
        msg[len] = len % 64 == 63 ? '\n' : 'x';
    msg[len] = '\0';
    off_t off = journal_add(msg);
    struct agent a;
    agent_for(&a, AGENT_VIRTUAL);
    struct dreq req;
    dproto_init_request(&req);
    str_copy(req.qid, "B1", sizeof(req.qid));
    str_copy(req.path, journal, sizeof(req.path));
    req.offset = off;
    req.length = (size_t)len;
    req.sender = xstrdup("s@x");
    dproto_add_rcpt(&req, 1, "a@example.com", "", NULL);
    struct dstatus st;
    uint64_t t0 = mono_msec();
    for (int i = 0; i < n; i++)
        deliver_agent_deliver_request(&a, &req, &st);
    uint64_t ms = mono_msec() - t0;
    printf("bench: %d Maildir deliveries of %d bytes in %llu ms: %.0f/s (%s)\n", n, len,
           (unsigned long long)ms, ms ? n * 1000.0 / (double)ms : 0.0, st.text);
    dproto_free_request(&req);
    deliver_agent_free(&a);
}

int main(void)
{
    log_init("yubin", "test_deliver");
    signal(SIGPIPE, SIG_IGN);
    setup();
    T_RUN(test_virtual_maildir);
    T_RUN(test_virtual_refusals);
    T_RUN(test_virtual_mbox);
    T_RUN(test_write_failure_cleans_up);
    T_RUN(test_bad_requests);
    T_RUN(test_request_timeout);
    T_RUN(test_config_error_defers);
    T_RUN(test_local_home_maildir);
    T_RUN(test_local_spool_mbox);
    T_RUN(test_mailbox_command);
    T_RUN(test_alias_targets);
    T_RUN(test_alias_targets_unmarked);
    T_RUN(test_queue_file_beneath);
    T_RUN(test_forward_file);
    T_RUN(test_big_messages);
    T_RUN(test_forward_path_and_command_maps);
    T_RUN(test_process_sigterm);
    bench_maildir();
    config_free(cfg);
    if (!getenv("KEEP_DELIVER_TMP"))
        rm_rf(base);
    return T_DONE();
}
