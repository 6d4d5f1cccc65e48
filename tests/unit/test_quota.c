/*
 * Unit tests for the Maildir++ quota (lib-storage/quota.h): the
 * maildirsize parser and writer, quota_rule / quota_grace / quota_warning
 * values, recalculation (missing file, malformed line, limits changed,
 * over 5120 bytes), ignored folders, the changes lib-storage's writers
 * note (save, copy, move, expunge, folder delete), the over-quota
 * decision with folder rules and grace, and the warning sent once.
 */
#include "t.h"
#include "lib-storage/mailbox.h"
#include "lib-storage/quota.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char base[256];

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* A fresh Maildir base/name/ (with a trailing '/'). */
static char *fresh(const char *name)
{
    char *root = xasprintf("%s/%s/", base, name);
    struct storage_error err;
    struct mstore *st = mstore_open(root, 1, &err);
    mstore_close(st);
    return root;
}

static char *file_text(const char *root)
{
    char *p = xasprintf("%smaildirsize", root);
    char *t = read_file(p, 1 << 20, NULL);
    free(p);
    return t;
}

/* Save one message of exactly len bytes into folder ("" INBOX) the way delivery does. */
static void save(const char *root, const char *folder, size_t len, const struct mquota_rules *r)
{
    struct storage_location loc = {.format = STORAGE_MAILDIR, .path = root, .quota = r};
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, folder, STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    if (!box)
        return;
    struct storage_save_opts o = {.size = (long long)len};
    struct storage_save *s = storage_save_begin(box, &o, &err);
    char *data = xmalloc(len);
    memset(data, 'x', len);
    CHECK_INT(storage_save_write(s, data, len, &err), 0);
    char id[1024];
    CHECK_INT(storage_save_finish(s, id, sizeof(id), &err), 0);
    free(data);
    mailbox_close(box);
}

static void test_parse(void)
{
    struct mquota_file f;
    const char *t = "1000000S,1000C\n1200 1\n3400 2\n-200 -1\n";
    CHECK_INT(mquota_parse(t, strlen(t), &f), 0);
    CHECK_INT(f.limit_bytes, 1000000);
    CHECK_INT(f.limit_count, 1000);
    CHECK_INT(f.bytes, 4400);
    CHECK_INT(f.count, 2);
    CHECK_INT(f.lines, 3);
    t = "500C,2048S\n10   1\n";          /* either order, more blanks */
    CHECK_INT(mquota_parse(t, strlen(t), &f), 0);
    CHECK_INT(f.limit_bytes, 2048);
    CHECK_INT(f.limit_count, 500);
    t = "\n";                          /* no limits */
    CHECK_INT(mquota_parse(t, strlen(t), &f), 0);
    CHECK_INT(f.limit_bytes, 0);
    static const char *const bad[] = {
        "", "100S", "100S\n12 1", "100X\n", "100S\nabc 1\n", "100S\n12\n", "100S\n12 1 3\n",
        "-5S\n", "100S\n99999999999999999999 1\n", "100S\n1 x\n",
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT(mquota_parse(bad[i], strlen(bad[i]), &f), -1);
    struct buf b;                      /* the sum overflows */
    buf_init(&b, 0);
    buf_puts(&b, "100S\n");
    for (int i = 0; i < 11; i++)
        buf_puts(&b, "900000000000000000 1\n");
    CHECK_INT(mquota_parse(b.data, b.len, &f), -1);
    buf_free(&b);
    char line[64];
    CHECK_INT(mquota_format_limits(line, sizeof(line), 1024, 0), 6);
    CHECK_STR(line, "1024S\n");
    mquota_format_limits(line, sizeof(line), 1024, 10);
    CHECK_STR(line, "1024S,10C\n");
    mquota_format_change(line, sizeof(line), -512, -1);
    CHECK_STR(line, "-512 -1\n");
    CHECK_INT(mquota_format_limits(line, 4, 1024, 10), -1);
}

static void test_rules(void)
{
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    CHECK_INT(mquota_rule_parse(&r, "*:storage=1G", why, sizeof(why)), 0);
    CHECK_INT(r.set, 1);
    CHECK_INT(r.bytes, 1LL << 30);
    CHECK_INT(mquota_rule_parse(&r, "*:storage=100", why, sizeof(why)), 0);
    CHECK_INT(r.bytes, 102400);        /* storage= counts kilobytes */
    CHECK_INT(mquota_rule_parse(&r, "*:bytes=12345:messages=10", why, sizeof(why)), 0);
    CHECK_INT(r.bytes, 12345);
    CHECK_INT(r.count, 10);
    CHECK_INT(mquota_rule_parse(&r, "*:storage=10M", why, sizeof(why)), 0);
    CHECK_INT(mquota_rule_parse(&r, "Trash:storage=+100M", why, sizeof(why)), 0);
    CHECK_INT(mquota_rule_parse(&r, "Spam:ignore", why, sizeof(why)), 0);
    CHECK_INT(mquota_rule_parse(&r, "Sent:storage=+10%", why, sizeof(why)), 0);
    CHECK_INT(r.nfolders, 3);
    CHECK_STR(r.folders[0].name, "Trash");
    CHECK_INT(r.folders[0].add_bytes, 100LL << 20);
    CHECK_INT(r.folders[1].ignore, 1);
    CHECK_INT(r.folders[2].add_bytes, 1048576);
    CHECK(mquota_ignored(&r, "Spam"));
    CHECK(!mquota_ignored(&r, "Trash"));
    CHECK(!mquota_ignored(&r, "INBOX"));
    CHECK(!mquota_ignored(NULL, "Spam"));
    static const char *const bad[] = {"storage=1G", "*:storage=1Q", "*:size=1", ":storage=1",
                                      "*:storage=", "*:storage=x", "*:storage=%"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT(mquota_rule_parse(&r, bad[i], why, sizeof(why)), -1);
    CHECK_INT(mquota_grace_parse(&r, "10%"), 0);
    CHECK_INT(r.grace_percent, 10);
    CHECK_INT(mquota_grace_parse(&r, "10M"), 0);
    CHECK_INT(r.grace_bytes, 10LL << 20);
    CHECK_INT(r.grace_percent, 0);
    CHECK_INT(mquota_warning_parse(&r, "storage=90%% quota-warning 90 %u"), 0);
    CHECK_INT(r.warn_percent, 90);
    CHECK_INT(mquota_warning_parse(&r, "storage=95%"), 0);
    CHECK_INT(r.warn_percent, 95);
    CHECK_INT(mquota_warning_parse(&r, "-storage=100%% below"), -1);
    CHECK_INT(mquota_warning_parse(&r, ""), -1);
    long long v;
    CHECK_INT(mquota_size_parse("1GB", 1, &v), 0);
    CHECK_INT(v, 1LL << 30);
    CHECK_INT(mquota_size_parse("512k", 1, &v), 0);
    CHECK_INT(v, 524288);
    CHECK_INT(mquota_size_parse("99999999999999999T", 1, &v), -1);
}

static void test_over(void)
{
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    mquota_rule_parse(&r, "*:bytes=1000:messages=5", why, sizeof(why));
    mquota_rule_parse(&r, "Trash:bytes=+500", why, sizeof(why));
    struct mquota q = {1000, 5, 900, 3};
    CHECK(!mquota_over(&q, &r, "INBOX", 100));
    CHECK(mquota_over(&q, &r, "INBOX", 101));
    CHECK(!mquota_over(&q, &r, "Trash", 600));   /* Trash:+500 */
    CHECK(mquota_over(&q, &r, "Trash", 601));
    q.count = 5;
    CHECK(mquota_over(&q, &r, "INBOX", 1));
    q.count = 3;
    mquota_grace_parse(&r, "10%");
    CHECK(!mquota_over(&q, &r, "INBOX", 200));   /* 1100: within the grace */
    CHECK(mquota_over(&q, &r, "INBOX", 201));
    q.bytes = 1000;
    CHECK(mquota_over(&q, &r, "INBOX", 1));      /* at the limit already: no grace */
    struct mquota none = {0, 0, 1LL << 40, 1000000};
    CHECK(!mquota_over(&none, NULL, "INBOX", 1 << 30));
}

static void test_recalc(void)
{
    char *root = fresh("recalc");
    struct mquota q;
    CHECK_INT(mquota_get(root, NULL, &q), 1);    /* no file, no rules: no quota */
    save(root, NULL, 100, NULL);
    save(root, "Work", 250, NULL);
    char *f = file_text(root);
    CHECK(f == NULL);                  /* nobody asked for a quota: no file made */
    free(f);
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    mquota_rule_parse(&r, "*:bytes=10000", why, sizeof(why));
    CHECK_INT(mquota_get(root, &r, &q), 0);      /* missing with rules: counted */
    CHECK_INT(q.bytes, 350);
    CHECK_INT(q.count, 2);
    CHECK_INT(q.limit_bytes, 10000);
    f = file_text(root);
    CHECK_STR(f, "10000S\n350 2\n");
    free(f);
    /* writers append their changes */
    save(root, NULL, 50, &r);
    f = file_text(root);
    CHECK_STR(f, "10000S\n350 2\n50 1\n");
    free(f);
    CHECK_INT(mquota_get(root, &r, &q), 0);
    CHECK_INT(q.bytes, 400);
    /* the limits changed: counted again with the new ones */
    mquota_rule_parse(&r, "*:bytes=20000:messages=100", why, sizeof(why));
    CHECK_INT(mquota_get(root, &r, &q), 0);
    f = file_text(root);
    CHECK_STR(f, "20000S,100C\n400 3\n");
    free(f);
    /* a malformed line: counted again */
    char *p = xasprintf("%smaildirsize", root);
    write_text(p, "20000S,100C\n400 3\ngarbage\n");
    CHECK_INT(mquota_get(root, &r, &q), 0);
    CHECK_INT(q.bytes, 400);
    f = file_text(root);
    CHECK_STR(f, "20000S,100C\n400 3\n");
    free(f);
    /* no rules: the file's own limits are kept */
    write_text(p, "777S\nbad line\n");
    CHECK_INT(mquota_get(root, NULL, &q), 0);
    CHECK_INT(q.limit_bytes, 777);
    CHECK_INT(q.bytes, 400);
    /* over 5120 bytes: counted again at the next change */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "777S\n400 3\n");
    for (int i = 0; i < 600; i++)
        buf_puts(&b, "1 0\n-1 0\n");
    write_text(p, buf_cstr(&b));
    buf_free(&b);
    save(root, NULL, 10, NULL);
    f = file_text(root);
    CHECK_STR(f, "777S\n410 4\n");
    free(f);
    free(p);
    free(root);
}

static void test_folders(void)
{
    char *root = fresh("folders");
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    mquota_rule_parse(&r, "*:bytes=100000", why, sizeof(why));
    mquota_rule_parse(&r, "Trash:ignore", why, sizeof(why));
    struct mquota q;
    CHECK_INT(mquota_get(root, &r, &q), 0);
    save(root, NULL, 1000, &r);
    save(root, "Trash", 300, &r);      /* not counted */
    CHECK_INT(mquota_get(root, &r, &q), 0);
    CHECK_INT(q.bytes, 1000);
    CHECK_INT(q.count, 1);
    CHECK_INT(mquota_recalc(root, &r, &q), 0);
    CHECK_INT(q.bytes, 1000);          /* nor recalculated */
    /* through mailbox.h: move INBOX -> Trash lowers the use, copy back raises it */
    struct storage_error err;
    struct mstore *st = mstore_open(root, 0, &err);
    mstore_set_quota_rules(st, &r);
    struct mview *in = mview_open(st, "INBOX", &err), *tr = mview_open(st, "Trash", &err);
    size_t n;
    const struct mmsg *m = mview_msgs(in, &n);
    CHECK_INT(n, 1);
    uint32_t uid = m[0].uid, nu = 0;
    CHECK_INT(mview_move(in, &uid, 1, tr, &nu, &err), 0);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.bytes, 0);
    CHECK_INT(q.count, 0);
    struct mview_changes ch;
    mview_sync(tr, &ch, &err);
    mview_changes_free(&ch);
    CHECK_INT(mview_copy(tr, &nu, 1, in, &uid, &err), 0);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.bytes, 1000);
    CHECK_INT(q.count, 1);
    /* expunge lowers it */
    mview_sync(in, &ch, &err);
    mview_changes_free(&ch);
    CHECK_INT(mview_store(in, &uid, 1, MVIEW_FLAGS_ADD, STORAGE_FLAG_DELETED, 0, &err), 0);
    CHECK_INT(mview_expunge(in, NULL, 0, &ch, &err), 0);
    mview_changes_free(&ch);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.bytes, 0);
    CHECK_INT(q.count, 0);
    /* a counted folder deleted: counted again */
    mview_close(in);
    mview_close(tr);
    save(root, "Work", 700, &r);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.bytes, 700);
    CHECK_INT(mstore_delete(st, "Work", &err), 0);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.bytes, 0);
    mstore_close(st);
    /* virtual_mailbox_limit_inbox: only INBOX */
    r.inbox_only = 1;
    save(root, "Other", 500, &r);
    CHECK_INT(mquota_recalc(root, &r, &q), 0);
    CHECK_INT(q.bytes, 0);
    free(root);
}

static int warnings;
static void on_warn(void *ctx, const char *root, const struct mquota *q, int pct)
{
    (void)root;
    (void)q;
    CHECK_INT(pct, 90);
    CHECK_STR((const char *)ctx, "ctx");
    warnings++;
}

static void test_warning(void)
{
    char *root = fresh("warn");
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    mquota_rule_parse(&r, "*:bytes=1000", why, sizeof(why));
    mquota_warning_parse(&r, "storage=90%");
    struct mquota q;
    mquota_get(root, &r, &q);
    mquota_set_warn_hook(on_warn, "ctx");
    save(root, NULL, 800, &r);
    CHECK_INT(warnings, 0);
    save(root, NULL, 150, &r);         /* 950: crosses 90% */
    CHECK_INT(warnings, 1);
    save(root, NULL, 10, &r);          /* still above: no second warning */
    CHECK_INT(warnings, 1);
    mquota_set_warn_hook(NULL, NULL);
    struct buf b;
    buf_init(&b, 0);
    mquota_get(root, &r, &q);
    mquota_warning_message(&b, "postmaster@example.test", "u@example.test", &q, 90);
    CHECK(strstr(buf_cstr(&b), "To: <u@example.test>\n") != NULL);
    CHECK(strstr(buf_cstr(&b), "Storage: 960 of 1000 bytes") != NULL);
    CHECK(strstr(buf_cstr(&b), "Auto-Submitted: auto-generated") != NULL);
    buf_free(&b);
    free(root);
}

/* Concurrent writers: every change line is whole. */
static void test_concurrent(void)
{
    char *root = fresh("conc");
    struct mquota_rules r;
    char why[256];
    memset(&r, 0, sizeof(r));
    mquota_rule_parse(&r, "*:bytes=100000000", why, sizeof(why));
    struct mquota q;
    mquota_get(root, &r, &q);
    pid_t kids[4];
    for (int k = 0; k < 4; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            for (int i = 0; i < 25; i++)
                mquota_note(root, "INBOX", &r, 10, 1);
            _exit(0);
        }
    }
    for (int k = 0; k < 4; k++)
        waitpid(kids[k], NULL, 0);
    /* 100 lines of "10 1": recalculated past 5120 bytes at some point, so ask the file */
    char *f = file_text(root);
    struct mquota_file mf;
    CHECK_INT(mquota_parse(f, strlen(f), &mf), 0);
    free(f);
    free(root);
}

int main(void)
{
    char tmpl[] = "/tmp/yubin-quota-XXXXXX";
    if (!mkdtemp(tmpl))
        return 1;
    str_copy(base, tmpl, sizeof(base));
    T_RUN(test_parse);
    T_RUN(test_rules);
    T_RUN(test_over);
    T_RUN(test_recalc);
    T_RUN(test_folders);
    T_RUN(test_warning);
    T_RUN(test_concurrent);
    char *cmd = xasprintf("rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", base);
    free(cmd);
    return T_DONE();
}
