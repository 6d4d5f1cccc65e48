/*
 * Unit tests for the IMAP half of lib-storage (mailbox.h): folder names
 * and escapes, Maildir++ folders (list, create, delete, rename with
 * children, subscriptions in Dovecot's format, special-use), the
 * dovecot-uidlist format (a Dovecot-written file parsed, written back),
 * syncs after changes made by others (new files, renames, unlinks),
 * flags and keywords, expunge, copy, move, append, concurrent syncs in
 * two processes, kill -9 in the middle of syncs, a damaged or deleted
 * yubin.index, the cache, quota, and the time of a second open of a
 * 10,000-message folder (printed).
 *
 * With arguments, "test_mailbox --list MAILDIR [FOLDER]" prints the folder's
 * UIDVALIDITY and "uid flags basename" lines: the Dovecot interoperability
 * test (tests/integration/test_maildir_dovecot.py) compares them with
 * doveadm's view. "--store MAILDIR FOLDER UID FLAGS" sets flags, "--expunge
 * MAILDIR FOLDER" expunges \Deleted messages, "--copy MAILDIR FROM TO UID"
 * copies one and prints its new UID.
 */
#include "t.h"
#include "lib-storage/mailbox.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[256];
static unsigned long seq;

static char *path_of(const char *rel)
{
    return xasprintf("%s/%s", base, rel);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static char *slurp(const char *rel)
{
    char *p = path_of(rel);
    char *t = read_file(p, 1 << 24, NULL);
    free(p);
    return t;
}

/* A fresh Maildir at base/<name>/ */
static struct mstore *fresh_store(const char *name)
{
    char cmd[600];
    str_fmt(cmd, sizeof(cmd), "rm -rf '%s/%s'", base, name);
    if (system(cmd) != 0)
        return NULL;
    char *root = path_of(name);
    struct storage_error err;
    struct mstore *st = mstore_open(root, 1, &err);
    free(root);
    return st;
}

/* Put a message file straight into <folder dir>/<sub>/<name> (as another program would). */
static void drop_file(struct mstore *st, const char *dir, const char *sub, const char *name,
                      const char *body)
{
    char *p = xasprintf("%s/%s%s%s/%s", mstore_root(st), dir, *dir ? "/" : "", sub, name);
    write_text(p, body);
    free(p);
}

static void set_old_mtime(const char *path)
{
    struct timespec ts[2] = {{time(NULL) - 100, 0}, {time(NULL) - 100, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
}

static void age_dirs(struct mstore *st, const char *dir)
{
    const char *subs[] = {"new", "cur"};
    for (int i = 0; i < 2; i++) {
        char *p = xasprintf("%s/%s%s%s", mstore_root(st), dir, *dir ? "/" : "", subs[i]);
        set_old_mtime(p);
        free(p);
    }
}

/* ---- names and folders ---- */

static void test_names(void)
{
    CHECK(mstore_name_ok("Sent"));
    CHECK(mstore_name_ok("Work.Sub"));
    CHECK(mstore_name_ok("Entw&APw-rfe"));
    CHECK(mstore_name_ok("~home"));
    CHECK(!mstore_name_ok(""));
    CHECK(!mstore_name_ok(".."));
    CHECK(!mstore_name_ok("../etc"));
    CHECK(!mstore_name_ok("a..b"));
    CHECK(!mstore_name_ok(".hidden"));
    CHECK(!mstore_name_ok("trailing."));
    CHECK(!mstore_name_ok("a/b"));
    CHECK(!mstore_name_ok("a\tb"));
    CHECK(!mstore_name_ok("a\x7f"));
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK(!mstore_name_ok(big));
    CHECK_INT(mstore_special_use("Sent"), MFOLDER_SENT);
    CHECK_INT(mstore_special_use("drafts"), MFOLDER_DRAFTS);
    CHECK_INT(mstore_special_use("Trash"), MFOLDER_TRASH);
    CHECK_INT(mstore_special_use("Junk"), MFOLDER_JUNK);
    CHECK_INT(mstore_special_use("Archive"), MFOLDER_ARCHIVE);
    CHECK_INT(mstore_special_use("Work"), 0);
}

static const struct mfolder *find_folder(const struct mfolder *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].name, name) == 0)
            return &f[i];
    return NULL;
}

static int exists(const char *rel)
{
    char *p = path_of(rel);
    struct stat sb;
    int rc = lstat(p, &sb) == 0;
    free(p);
    return rc;
}

static void test_folders(void)
{
    struct mstore *st = fresh_store("fold");
    struct storage_error err;
    CHECK(st != NULL);
    CHECK_INT(mstore_create(st, "Sent", &err), 0);
    CHECK_INT(mstore_create(st, "Work.Sub", &err), 0);
    CHECK_INT(mstore_create(st, "Trash", &err), 0);
    CHECK_INT(mstore_create(st, "Sent", &err), -1);
    CHECK_INT(err.err, EEXIST);
    CHECK(exists("fold/.Sent/cur") && exists("fold/.Sent/new") && exists("fold/.Sent/tmp"));
    CHECK(exists("fold/.Sent/maildirfolder"));
    /* escapes */
    const char *bad[] = {"../x", "a/b", ".x", "a..b", "x.", "", "a\x01", "INBOX"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++)
        CHECK_INT(mstore_create(st, bad[i], &err), -1);
    CHECK(!exists("x"));
    /* a symlink inside the Maildir pointing out is neither listed nor opened */
    char *link = path_of("fold/.Evil");
    CHECK_INT(symlink(base, link), 0);
    free(link);
    struct mfolder *f = NULL;
    size_t n = 0;
    CHECK_INT(mstore_list(st, &f, &n, &err), 0);
    CHECK(n >= 5);
    CHECK_STR(f[0].name, "INBOX");
    CHECK(find_folder(f, n, "Evil") == NULL);
    const struct mfolder *w = find_folder(f, n, "Work");
    CHECK(w && (w->attrs & MFOLDER_NOSELECT) && (w->attrs & MFOLDER_CHILDREN));
    const struct mfolder *ws = find_folder(f, n, "Work.Sub");
    CHECK(ws && !(ws->attrs & MFOLDER_NOSELECT) && !(ws->attrs & MFOLDER_CHILDREN));
    const struct mfolder *s = find_folder(f, n, "Sent");
    CHECK(s && (s->attrs & MFOLDER_SENT));
    free(f);
    CHECK(mview_open(st, "Evil", &err) == NULL);
    CHECK(mview_open(st, "../fold", &err) == NULL);
    /* rename with children */
    CHECK_INT(mstore_create(st, "Work", &err), 0);
    CHECK_INT(mstore_rename(st, "Work", "Job", &err), 0);
    CHECK(exists("fold/.Job") && exists("fold/.Job.Sub") && !exists("fold/.Work.Sub"));
    CHECK_INT(mstore_rename(st, "Job", "Sent", &err), -1);       /* exists */
    CHECK_INT(mstore_rename(st, "Job", "Job.Sub.X", &err), -1);  /* into itself */
    CHECK_INT(mstore_rename(st, "Job", "../x", &err), -1);
    /* delete keeps children */
    CHECK_INT(mstore_delete(st, "Job", &err), 0);
    CHECK(!exists("fold/.Job") && exists("fold/.Job.Sub"));
    CHECK_INT(mstore_delete(st, "INBOX", &err), -1);
    CHECK_INT(mstore_delete(st, "Evil", &err), -1);              /* a symlink is no folder */
    CHECK(exists("fold/.Evil"));
    CHECK_INT(mstore_delete(st, "Nope", &err), -1);
    /* deleted and made anew at once: another UIDVALIDITY */
    struct mview *v = mview_open(st, "Sent", &err);
    uint32_t uv = v ? mview_uidvalidity(v) : 0;
    mview_close(v);
    CHECK_INT(mstore_delete(st, "Sent", &err), 0);
    CHECK_INT(mstore_create(st, "Sent", &err), 0);
    v = mview_open(st, "Sent", &err);
    CHECK(v && mview_uidvalidity(v) != uv);
    mview_close(v);
    mstore_close(st);
}

static void test_subscriptions(void)
{
    struct mstore *st = fresh_store("subs");
    struct storage_error err;
    char **v = NULL;
    size_t n = 9;
    CHECK_INT(mstore_subscriptions(st, &v, &n, &err), 0);
    CHECK_INT(n, 0);
    CHECK_INT(mstore_subscribe(st, "Work.Sub", 1, &err), 0);
    CHECK_INT(mstore_subscribe(st, "Sent", 1, &err), 0);
    CHECK_INT(mstore_subscribe(st, "Sent", 1, &err), 0);
    char *t = slurp("subs/subscriptions");
    CHECK_STR(t, "V\t2\n\nWork\tSub\nSent\n");       /* what Dovecot 2.3 writes */
    free(t);
    CHECK_INT(mstore_subscribe(st, "Work.Sub", 0, &err), 0);
    CHECK_INT(mstore_subscriptions(st, &v, &n, &err), 0);
    CHECK_INT(n, 1);
    if (n == 1)
        CHECK_STR(v[0], "Sent");
    mstore_strv_free(v, n);
    /* a file Dovecot wrote, and an old one-name-a-line file */
    char *p = path_of("subs/subscriptions");
    write_text(p, "V\t2\n\nWork\tSub\nSent\nEntw&APw-rfe\n");
    CHECK_INT(mstore_subscriptions(st, &v, &n, &err), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(v[0], "Work.Sub");
        CHECK_STR(v[2], "Entw&APw-rfe");
    }
    mstore_strv_free(v, n);
    write_text(p, "INBOX\nOld.Folder\n");
    CHECK_INT(mstore_subscriptions(st, &v, &n, &err), 0);
    CHECK_INT(n, 2);
    if (n == 2)
        CHECK_STR(v[1], "Old.Folder");
    mstore_strv_free(v, n);
    free(p);
    CHECK_INT(mstore_subscribe(st, "../x", 1, &err), -1);
    mstore_close(st);
}

/* ---- dovecot-uidlist ---- */

static void test_uidlist_format(void)
{
    struct mstore *st = fresh_store("ul");
    struct storage_error err;
    /* written by Dovecot 2.3.19 (doveadm), plus the documentation's extension fields */
    const char *dov = "3 V1796628645 N1 G53870327a460166beb11000083ecc375\n"
                      "1 :1000.M1P1.host,S=20\n"
                      "2 :1001.M1P1.host\n"
                      "7 W2481 :1002.M2P2.host:2,F\n";
    char *p = path_of("ul/dovecot-uidlist");
    write_text(p, dov);
    drop_file(st, "", "new", "1000.M1P1.host,S=20", "Subject: a\n\nhello\n");
    drop_file(st, "", "cur", "1001.M1P1.host:2,S", "Subject: b\n\nhello2\n");
    drop_file(st, "", "cur", "1002.M2P2.host:2,FS", "Subject: c\n\nx\n");
    drop_file(st, "", "cur", "1003.M3P3.host:2,", "Subject: d\n\ny\n");
    struct mview *v = mview_open(st, "INBOX", &err);
    CHECK(v != NULL);
    if (!v) {
        free(p);
        mstore_close(st);
        return;
    }
    CHECK_INT(mview_uidvalidity(v), 1796628645u);
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    CHECK_INT(n, 4);
    if (n == 4) {
        CHECK_INT(m[0].uid, 1);
        CHECK_INT(m[0].size, 20);               /* from ,S= */
        CHECK_INT(m[1].uid, 2);
        CHECK_INT(m[1].flags, STORAGE_FLAG_SEEN);
        CHECK_INT(m[2].uid, 7);
        CHECK_INT(m[2].flags, STORAGE_FLAG_SEEN | STORAGE_FLAG_FLAGGED);
        CHECK_INT(m[3].uid, 8);                 /* the next after the last line, not N1 */
    }
    CHECK_INT(mview_uidnext(v), 9);
    CHECK(exists("ul/cur/1000.M1P1.host,S=20:2,"));
    mview_close(v);
    char *t = read_file(p, 1 << 20, NULL);
    CHECK(t && strncmp(t, "3 V1796628645 N", 15) == 0);
    CHECK(t && strstr(t, "G53870327a460166beb11000083ecc375\n"));
    CHECK(t && strstr(t, "\n7 W2481 :1002.M2P2.host:2,F\n"));   /* Dovecot's lines kept */
    CHECK(t && strstr(t, "\n8 :1003.M3P3.host\n"));
    free(t);
    /* a torn last line (a writer stopped mid-line) is not a UID given out */
    write_text(p, "3 V5 N3 Gabc\n1 :a\n2 :b\n3 :c");
    char *ix = path_of("ul/yubin.index");
    unlink(ix);
    free(ix);
    v = mview_open(st, "INBOX", &err);
    CHECK(v && mview_uidvalidity(v) == 5);
    mview_close(v);
    /* a damaged uidlist gives a new UIDVALIDITY */
    write_text(p, "garbage\n");
    v = mview_open(st, "INBOX", &err);
    CHECK(v && mview_uidvalidity(v) != 5 && mview_uidvalidity(v) != 0);
    mview_close(v);
    free(p);
    mstore_close(st);
}

/* ---- sync ---- */

static uint32_t save_msg(struct mview *v, const char *text, unsigned flags)
{
    struct storage_error err;
    struct storage_save_opts o = {.flags = flags, .size = -1};
    struct storage_save *s = mview_append_begin(v, &o, &err);
    if (!s)
        return 0;
    if (storage_save_write(s, text, strlen(text), &err) < 0) {
        storage_save_abort(s);
        return 0;
    }
    uint32_t uid = 0;
    if (mview_append_finish(v, s, 0, &uid, &err) < 0)
        return 0;
    return uid;
}

static void test_sync_external(void)
{
    struct mstore *st = fresh_store("sync");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    CHECK(v != NULL);
    size_t n;
    mview_msgs(v, &n);
    CHECK_INT(n, 0);
    uint32_t u1 = save_msg(v, "Subject: 1\n\none\n", 0);
    uint32_t u2 = save_msg(v, "Subject: 2\n\ntwo\n", STORAGE_FLAG_SEEN);
    CHECK_INT(u1, 1);
    CHECK_INT(u2, 2);
    struct mview_changes ch;
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK_INT(ch.nadded, 2);
    CHECK_INT(ch.nexpunged, 0);
    mview_changes_free(&ch);
    const struct mmsg *m = mview_msgs(v, &n);
    CHECK_INT(n, 2);
    CHECK(n == 2 && m[0].uid == 1 && m[1].uid == 2 && m[1].flags == STORAGE_FLAG_SEEN);
    /* another program: a new file, a rename, an unlink */
    drop_file(st, "", "new", "2000.M9P9.other", "Subject: 3\n\nthree\n");
    char *old = xasprintf("%s/cur/%s", mstore_root(st), m[0].name);
    char *nw = xasprintf("%s/cur/%.*s:2,FS", mstore_root(st), (int)m[0].baselen, m[0].name);
    CHECK_INT(rename(old, nw), 0);
    char *gone = xasprintf("%s/cur/%s", mstore_root(st), m[1].name);
    CHECK_INT(unlink(gone), 0);
    free(old);
    free(nw);
    free(gone);
    uint64_t ms0 = mview_highest_modseq(v);
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK_INT(ch.nadded, 1);
    CHECK(ch.nadded == 1 && ch.added[0] == 3);
    CHECK_INT(ch.nexpunged, 1);
    CHECK(ch.nexpunged == 1 && ch.expunged[0] == 2);
    CHECK_INT(ch.nchanged, 1);
    CHECK(ch.nchanged == 1 && ch.changed[0] == 1);
    mview_changes_free(&ch);
    m = mview_msgs(v, &n);
    CHECK_INT(n, 2);
    CHECK(n == 2 && m[0].uid == 1 && m[0].flags == (STORAGE_FLAG_FLAGGED | STORAGE_FLAG_SEEN));
    CHECK(n == 2 && m[0].modseq > ms0 && mview_highest_modseq(v) > ms0);
    /* nothing changed: nothing reported */
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK(ch.nadded == 0 && ch.nexpunged == 0 && ch.nchanged == 0);
    mview_changes_free(&ch);
    /* a second view sees the same UIDs */
    struct mview *v2 = mview_open(st, "INBOX", &err);
    const struct mmsg *m2 = mview_msgs(v2, &n);
    CHECK(n == 2 && m2[0].uid == 1 && m2[1].uid == 3);
    mview_close(v2);
    mview_close(v);
    mstore_close(st);
}

static void test_flags_expunge(void)
{
    struct mstore *st = fresh_store("flags");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    for (int i = 0; i < 4; i++)
        save_msg(v, "Subject: x\n\nbody\n", 0);
    struct mview_changes ch;
    mview_sync(v, &ch, &err);
    mview_changes_free(&ch);
    int kw = mview_keyword_bit(v, "$Label1", 1, &err);
    int kw2 = mview_keyword_bit(v, "Project", 1, &err);
    CHECK_INT(kw, 0);
    CHECK_INT(kw2, 1);
    CHECK_INT(mview_keyword_bit(v, "$label1", 0, &err), 0);   /* case-insensitive */
    char *t = slurp("flags/dovecot-keywords");
    CHECK_STR(t, "0 $Label1\n1 Project\n");
    free(t);
    uint32_t uids[] = {1, 3};
    uint64_t ms0 = mview_highest_modseq(v);
    CHECK_INT(mview_store(v, uids, 2, MVIEW_FLAGS_ADD, STORAGE_FLAG_SEEN | STORAGE_FLAG_DELETED,
                          1u << kw2, &err), 0);
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    CHECK(n == 4 && m[0].flags == (STORAGE_FLAG_SEEN | STORAGE_FLAG_DELETED));
    CHECK(n == 4 && m[0].keywords == 2u && m[0].modseq > ms0);
    CHECK(n == 4 && strstr(m[0].name, ":2,STb") != NULL);
    CHECK(n == 4 && m[1].modseq <= ms0);
    /* a view in another "session" sees the change */
    struct mview *v2 = mview_open(st, "INBOX", &err);
    const struct mmsg *m2 = mview_msgs(v2, &n);
    CHECK(n == 4 && m2[2].flags == (STORAGE_FLAG_SEEN | STORAGE_FLAG_DELETED));
    CHECK_STR(mview_keyword(v2, 1), "Project");
    /* someone renamed message 3 meanwhile: the store follows it */
    char *a = xasprintf("%s/cur/%s", mstore_root(st), m2[2].name);
    char *b = xasprintf("%s/cur/%.*s:2,DST", mstore_root(st), (int)m2[2].baselen, m2[2].name);
    CHECK_INT(rename(a, b), 0);
    free(a);
    free(b);
    uint32_t three = 3;
    CHECK_INT(mview_store(v, &three, 1, MVIEW_FLAGS_REMOVE, STORAGE_FLAG_SEEN, 0, &err), 0);
    m = mview_msgs(v, &n);
    CHECK(n == 4 && m[2].flags == (STORAGE_FLAG_DRAFT | STORAGE_FLAG_DELETED));
    /* a letter yubin does not know (P, "passed") survives a flag change */
    a = xasprintf("%s/cur/%s", mstore_root(st), m[3].name);
    b = xasprintf("%s/cur/%.*s:2,PS", mstore_root(st), (int)m[3].baselen, m[3].name);
    CHECK_INT(rename(a, b), 0);
    free(a);
    free(b);
    uint32_t four = 4;
    CHECK_INT(mview_store(v, &four, 1, MVIEW_FLAGS_ADD, STORAGE_FLAG_FLAGGED, 1u << kw, &err), 0);
    m = mview_msgs(v, &n);
    CHECK(n == 4 && strstr(m[3].name, ":2,FPSa") != NULL);
    /* expunge \Deleted: only UID 1 of the set {1} (UID EXPUNGE), then the rest */
    uint32_t one = 1;
    CHECK_INT(mview_expunge(v, &one, 1, &ch, &err), 0);
    CHECK(ch.nexpunged == 1 && ch.expunged[0] == 1);
    mview_changes_free(&ch);
    CHECK_INT(mview_expunge(v, NULL, 0, &ch, &err), 0);
    CHECK(ch.nexpunged == 1 && ch.expunged[0] == 3);
    mview_changes_free(&ch);
    m = mview_msgs(v, &n);
    CHECK(n == 2 && m[0].uid == 2 && m[1].uid == 4);
    t = slurp("flags/dovecot-uidlist");
    CHECK(t && !strstr(t, "\n1 :") && strstr(t, "\n2 :") && strstr(t, "\n4 :"));
    free(t);
    /* the other session learns of the expunges */
    CHECK_INT(mview_sync(v2, &ch, &err), 0);
    CHECK_INT(ch.nexpunged, 2);
    mview_changes_free(&ch);
    /* reading by UID, after a rename behind our back */
    m2 = mview_msgs(v2, &n);
    a = xasprintf("%s/cur/%s", mstore_root(st), m2[0].name);
    b = xasprintf("%s/cur/%.*s:2,R", mstore_root(st), (int)m2[0].baselen, m2[0].name);
    CHECK_INT(rename(a, b), 0);
    free(a);
    free(b);
    int fd = mview_open_msg(v2, 2, &err);
    CHECK(fd >= 0);
    char buf[64] = {0};
    if (fd >= 0) {
        CHECK(read(fd, buf, sizeof(buf) - 1) > 0);
        close(fd);
    }
    CHECK(strncmp(buf, "Subject: x", 10) == 0);
    CHECK_INT(mview_open_msg(v2, 1, &err), -1);
    mview_close(v2);
    mview_close(v);
    mstore_close(st);
}

static void test_copy_move(void)
{
    struct mstore *st = fresh_store("copy");
    struct storage_error err;
    mstore_create(st, "Archive", &err);
    struct mview *v = mview_open(st, "INBOX", &err);
    struct mview *d = mview_open(st, "Archive", &err);
    CHECK(v && d);
    for (int i = 0; i < 3; i++)
        save_msg(v, "Subject: c\n\nbody\n", STORAGE_FLAG_SEEN);
    struct mview_changes ch;
    mview_sync(v, &ch, &err);
    mview_changes_free(&ch);
    int kw = mview_keyword_bit(v, "Important", 1, &err);
    mview_keyword_bit(d, "Other", 1, &err);
    uint32_t two = 2;
    mview_store(v, &two, 1, MVIEW_FLAGS_ADD, 0, 1u << kw, &err);
    uint32_t uids[] = {1, 2}, nu[2] = {0, 0};
    CHECK_INT(mview_copy(v, uids, 2, d, nu, &err), 0);
    CHECK_INT(nu[0], 1);
    CHECK_INT(nu[1], 2);
    CHECK_INT(mview_sync(d, &ch, &err), 0);
    CHECK_INT(ch.nadded, 2);
    mview_changes_free(&ch);
    size_t n;
    const struct mmsg *m = mview_msgs(d, &n);
    CHECK(n == 2 && m[1].flags == STORAGE_FLAG_SEEN);
    CHECK(n == 2 && m[1].keywords == 2u);            /* "Important" is Archive's keyword 1 */
    CHECK_STR(mview_keyword(d, 1), "Important");
    /* move: copied, gone from the source, reported at the next sync */
    uint32_t three = 3, nu3 = 0;
    CHECK_INT(mview_move(v, &three, 1, d, &nu3, &err), 0);
    CHECK_INT(nu3, 3);
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK(ch.nexpunged == 1 && ch.expunged[0] == 3);
    mview_changes_free(&ch);
    mview_msgs(v, &n);
    CHECK_INT(n, 2);
    struct mview *d2 = mview_open(st, "Archive", &err);
    mview_msgs(d2, &n);
    CHECK_INT(n, 3);
    mview_close(d2);
    mview_close(d);
    mview_close(v);
    mstore_close(st);
}

/* ---- concurrency and crashes ---- */

/* Deliver count files into new/ the way another MTA does, then sync. */
static void deliver_and_sync(struct mstore *st, int count, const char *tag)
{
    struct storage_error err;
    for (int i = 0; i < count; i++) {
        char name[128];
        str_fmt(name, sizeof(name), "%ld.M%dP%ldQ%lu.%s", (long)time(NULL), i, (long)getpid(),
                ++seq, tag);
        drop_file(st, "", "new", name, "Subject: c\n\nbody\n");
        struct mview *v = mview_open(st, "INBOX", &err);
        mview_close(v);
    }
}

/* uid -> base map of the uidlist; -1 when a UID or a base name appears twice. */
static int uidlist_map(const char *dir, char ***bases, uint32_t *maxuid)
{
    char *p = xasprintf("%s/dovecot-uidlist", dir);
    char *t = read_file(p, 1 << 24, NULL);
    free(p);
    *bases = NULL;
    *maxuid = 0;
    if (!t)
        return -1;
    size_t cap = 100000;
    *bases = xcalloc(cap, sizeof(char *));
    *maxuid = 0;
    int rc = 0;
    char *save = NULL;
    strtok_r(t, "\n", &save);
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned long uid = strtoul(line, NULL, 10);
        char *c = strstr(line, " :");
        if (!c || uid == 0 || uid >= cap || (*bases)[uid]) {
            rc = -1;
            continue;
        }
        (*bases)[uid] = xstrdup(c + 2);
        if (uid > *maxuid)
            *maxuid = (uint32_t)uid;
        for (unsigned long k = 1; k < uid; k++)
            if ((*bases)[k] && strcmp((*bases)[k], c + 2) == 0)
                rc = -1;
    }
    free(t);
    return rc;
}

static void free_map(char **m)
{
    if (!m)
        return;
    for (size_t i = 0; i < 100000; i++)
        free(m[i]);
    free(m);
}

static void test_concurrent(void)
{
    struct mstore *st = fresh_store("conc");
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            deliver_and_sync(st, 60, k ? "b" : "a");
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        waitpid(kids[k], &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    CHECK_INT(n, 120);
    int ascending = 1;
    for (size_t i = 1; i < n; i++)
        if (m[i].uid <= m[i - 1].uid)
            ascending = 0;
    CHECK(ascending);
    mview_close(v);
    char **map;
    uint32_t maxuid;
    CHECK_INT(uidlist_map(mstore_root(st), &map, &maxuid), 0);
    CHECK_INT(maxuid, 120);
    free_map(map);
    mstore_close(st);
}

/* uid -> base of what a view shows now must agree with everything seen before. */
static int check_uids(struct mview *v, char **seen)
{
    int bad = 0;
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    for (size_t i = 0; i < n; i++) {
        char *b = xstrndup(m[i].name, m[i].baselen);
        if (m[i].uid >= 100000) {
            bad++;
        } else if (!seen[m[i].uid]) {
            seen[m[i].uid] = b;
            b = NULL;
        } else if (strcmp(seen[m[i].uid], b) != 0) {
            bad++;                     /* one UID, two messages */
        }
        free(b);
    }
    return bad;
}

static void test_kill9(void)
{
    struct mstore *st = fresh_store("kill");
    struct storage_error cerr;
    mstore_create(st, "Arch", &cerr);
    char **aseen = xcalloc(100000, sizeof(char *));
    uint32_t a_next = 0;
    char **seen = xcalloc(100000, sizeof(char *));
    uint32_t last_next = 0;
    uint64_t last_modseq = 0;
    int bad = 0;
    struct storage_error err;
    srand(42);
    for (int round = 0; round < 25; round++) {
        pid_t kid = fork();
        if (kid == 0) {
            for (int i = 0; i < 1000; i++) {
                deliver_and_sync(st, 1, "k");
                struct mview *v = mview_open(st, "INBOX", &err);
                struct mview *a = mview_open(st, "Arch", &err);
                size_t n;
                const struct mmsg *m = v ? mview_msgs(v, &n) : NULL;
                uint32_t u = m && n ? m[(size_t)rand() % n].uid : 1, nu;
                if (v && a) {
                    mview_store(v, &u, 1, MVIEW_FLAGS_ADD, STORAGE_FLAG_SEEN, 0, &err);
                    if (i % 3 == 0)
                        mview_copy(v, &u, 1, a, &nu, &err);
                    if (i % 4 == 0) {
                        struct mview_changes ch;
                        mview_store(v, &u, 1, MVIEW_FLAGS_ADD, STORAGE_FLAG_DELETED, 0, &err);
                        mview_expunge(v, NULL, 0, &ch, &err);
                        mview_changes_free(&ch);
                    }
                }
                mview_close(a);
                mview_close(v);
            }
            _exit(0);
        }
        usleep((useconds_t)(2000 + rand() % 20000));
        kill(kid, SIGKILL);
        waitpid(kid, NULL, 0);
        struct mview *v = mview_open(st, "INBOX", &err);    /* breaks the dead child's lock */
        CHECK(v != NULL);
        if (!v)
            break;
        CHECK(mview_uidnext(v) >= last_next);
        CHECK(mview_highest_modseq(v) >= last_modseq);
        last_next = mview_uidnext(v);
        last_modseq = mview_highest_modseq(v);
        bad += check_uids(v, seen);
        mview_close(v);
        struct mview *a = mview_open(st, "Arch", &err);
        CHECK(a != NULL);
        if (!a)
            break;
        CHECK(mview_uidnext(a) >= a_next);
        a_next = mview_uidnext(a);
        bad += check_uids(a, aseen);
        mview_close(a);
    }
    CHECK_INT(bad, 0);
    char **map;
    uint32_t maxuid;
    CHECK_INT(uidlist_map(mstore_root(st), &map, &maxuid), 0);
    free_map(map);
    char *arch = xasprintf("%s/.Arch", mstore_root(st));
    CHECK(uidlist_map(arch, &map, &maxuid) == 0 || maxuid == 0);   /* none if no copy got through */
    free(arch);
    free_map(map);
    free_map(seen);
    free_map(aseen);
    mstore_close(st);
}

/* ---- the index ---- */

static void test_index_rebuild(void)
{
    struct mstore *st = fresh_store("idx");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    for (int i = 0; i < 5; i++)
        save_msg(v, "Subject: i\n\nbody\n", i == 2 ? STORAGE_FLAG_FLAGGED : 0);
    struct mview_changes ch;
    mview_sync(v, &ch, &err);
    mview_changes_free(&ch);
    uint32_t u = 4;
    mview_store(v, &u, 1, MVIEW_FLAGS_ADD, STORAGE_FLAG_ANSWERED, 0, &err);
    uint64_t ms = mview_highest_modseq(v);
    uint32_t uv = mview_uidvalidity(v);
    mview_close(v);
    char *p = path_of("idx/yubin.index");
    /* damaged: one byte flipped */
    char *t = read_file(p, 1 << 20, NULL);
    struct stat sb;
    stat(p, &sb);
    if (t && sb.st_size > 200) {
        t[150] ^= 0x55;
        int fd = open(p, O_WRONLY | O_TRUNC);
        CHECK(fd >= 0 && write_all(fd, t, (size_t)sb.st_size) == sb.st_size);
        close(fd);
    }
    free(t);
    for (int pass = 0; pass < 2; pass++) {
        v = mview_open(st, "INBOX", &err);
        CHECK(v != NULL);
        CHECK_INT(mview_uidvalidity(v), uv);
        CHECK(mview_highest_modseq(v) > ms);
        size_t n;
        const struct mmsg *m = mview_msgs(v, &n);
        CHECK_INT(n, 5);
        CHECK(n == 5 && m[2].uid == 3 && m[2].flags == STORAGE_FLAG_FLAGGED);
        CHECK(n == 5 && m[3].flags == STORAGE_FLAG_ANSWERED);
        ms = mview_highest_modseq(v);
        mview_close(v);
        unlink(p);                     /* then: deleted */
    }
    free(p);
    mstore_close(st);
}

static ssize_t full_disk(int fd, const void *buf, size_t len)
{
    (void)fd;
    (void)buf;
    (void)len;
    errno = ENOSPC;
    return -1;
}

static void test_append_date_keywords(void)
{
    struct mstore *st = fresh_store("app");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    int kw = mview_keyword_bit(v, "$Forwarded", 1, &err);
    struct storage_save_opts o = {.flags = 0, .size = -1, .received = 1000000000};
    struct storage_save *s = mview_append_begin(v, &o, &err);
    CHECK(s != NULL);
    if (!s)
        return;
    storage_save_write(s, "Subject: a\n\nx\n", 14, &err);
    uint32_t uid = 0;
    CHECK_INT(mview_append_finish(v, s, 1u << kw, &uid, &err), 0);
    CHECK_INT(uid, 1);
    struct mview_changes ch;
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK(ch.nadded == 1 && ch.added[0] == 1);
    mview_changes_free(&ch);
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    CHECK(n == 1 && m[0].internaldate == 1000000000);
    CHECK(n == 1 && m[0].keywords == (1u << kw) && m[0].flags == 0);
    CHECK(n == 1 && m[0].size == 14);
    /* a full disk (the write hook fails) leaves nothing and numbers nothing */
    uint32_t next = mview_uidnext(v);
    storage_set_write_hook(full_disk);
    s = mview_append_begin(v, &o, &err);
    CHECK(s != NULL);
    if (s) {
        CHECK_INT(storage_save_write(s, "Subject: b\n\ny\n", 14, &err), -1);
        CHECK_INT(err.err, ENOSPC);
        CHECK(storage_error_temporary(&err));
        storage_save_abort(s);
    }
    storage_set_write_hook(NULL);
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK_INT(ch.nadded, 0);
    mview_changes_free(&ch);
    CHECK_INT(mview_uidnext(v), next);
    mview_close(v);
    mstore_close(st);
}

static void test_recent_status(void)
{
    struct mstore *st = fresh_store("recent");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    save_msg(v, "Subject: 1\n\none\n", 0);
    save_msg(v, "Subject: 2\n\ntwo\n", STORAGE_FLAG_SEEN);
    struct mview_changes ch;
    mview_sync(v, &ch, &err);
    mview_changes_free(&ch);
    CHECK_INT(strlen(mview_guid(v)), 32);
    struct mstatus s;
    CHECK_INT(mstore_status(st, "INBOX", &s, &err), 0);
    CHECK_INT(s.messages, 2);
    CHECK_INT(s.recent, 2);
    CHECK_INT(s.unseen, 1);
    CHECK_INT(s.uidnext, 3);
    CHECK_INT(s.size, 32);
    CHECK_INT(mview_claim_recent(v, &err), 1);          /* this session: UIDs 1 and 2 */
    struct mview *v2 = mview_open(st, "INBOX", &err);
    CHECK_INT(mview_claim_recent(v2, &err), 3);         /* the next one: none of them */
    save_msg(v, "Subject: 3\n\nthree\n", 0);
    mview_sync(v2, &ch, &err);
    CHECK(ch.nadded == 1 && ch.added[0] == 3);
    mview_changes_free(&ch);
    CHECK_INT(mview_claim_recent(v2, &err), 3);         /* v2 saw UID 3 first */
    CHECK_INT(mview_claim_recent(v, &err), 4);
    CHECK_INT(mstore_status(st, "INBOX", &s, &err), 0);
    CHECK_INT(s.recent, 0);
    CHECK_INT(mstore_status(st, "Nope", &s, &err), -1);
    mview_close(v2);
    mview_close(v);
    mstore_close(st);
}

/* A lock left by a dead process, or an old one from another host, is broken; not a live one. */
static void test_stale_locks(void)
{
    struct mstore *st = fresh_store("locks");
    struct storage_error err;
    char *lock = path_of("locks/dovecot-uidlist.lock");
    pid_t kid = fork();
    if (kid == 0)
        _exit(0);
    waitpid(kid, NULL, 0);
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char *text = xasprintf("%ld:%s", (long)kid, host);
    write_text(lock, text);
    free(text);
    uint64_t t0 = mono_msec();
    struct mview *v = mview_open(st, "INBOX", &err);
    CHECK(v != NULL);
    CHECK(mono_msec() - t0 < 1000);
    mview_close(v);
    write_text(lock, "1:some.other.host");
    CHECK_INT(utimensat(AT_FDCWD, lock, (struct timespec[2]){{time(NULL) - 1000, 0},
                                                           {time(NULL) - 1000, 0}}, 0), 0);
    v = mview_open(st, "INBOX", &err);
    CHECK(v != NULL);
    mview_close(v);
    CHECK(!exists("locks/dovecot-uidlist.lock"));
    /* a live holder (this process, on this host) is waited for, not broken */
    text = xasprintf("%ld:%s", (long)getpid(), host);
    write_text(lock, text);
    free(text);
    kid = fork();
    if (kid == 0) {
        sleep(1);
        unlink(lock);                  /* the holder lets go */
        _exit(0);
    }
    t0 = mono_msec();
    char *newfile = xasprintf("%s/new/1.M1P1.x", mstore_root(st));
    write_text(newfile, "Subject: x\n\ny\n");
    free(newfile);
    v = mview_open(st, "INBOX", &err);
    CHECK(v != NULL);
    CHECK(mono_msec() - t0 >= 900);
    size_t n;
    mview_msgs(v, &n);
    CHECK_INT(n, 1);
    mview_close(v);
    waitpid(kid, NULL, 0);
    free(lock);
    mstore_close(st);
}

static void test_cache(void)
{
    struct mstore *st = fresh_store("cache");
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    save_msg(v, "Subject: c\n\nbody\n", 0);
    struct mview_changes ch;
    mview_sync(v, &ch, &err);
    mview_changes_free(&ch);
    size_t len = 0;
    CHECK(mview_cache_get(v, 1, 7, &len) == NULL);
    CHECK_INT(mview_cache_put(v, 1, 7, "(\"envelope\")", 12), 0);
    CHECK_INT(mview_cache_put(v, 1, 8, "BODY", 4), 0);
    CHECK_INT(mview_cache_put(v, 1, 7, "(\"newer\")", 9), 0);
    const char *d = mview_cache_get(v, 1, 7, &len);
    CHECK(d && len == 9 && memcmp(d, "(\"newer\")", 9) == 0);
    mview_close(v);
    /* a torn record at the end (a writer killed mid-write) is skipped */
    char *p = path_of("cache/yubin.cache");
    int fd = open(p, O_WRONLY | O_APPEND);
    CHECK(fd >= 0 && write(fd, "YBC1\x01\0\0\0\x09\0\0\0\xff", 13) == 13);
    close(fd);
    free(p);
    v = mview_open(st, "INBOX", &err);
    d = mview_cache_get(v, 1, 7, &len);
    CHECK(d && len == 9 && memcmp(d, "(\"newer\")", 9) == 0);
    d = mview_cache_get(v, 1, 8, &len);
    CHECK(d && len == 4);
    /* records after the torn one are found, by this view and by others */
    CHECK_INT(mview_cache_put(v, 1, 9, "HEADERS", 7), 0);
    CHECK_INT(mview_cache_flush(v), 0);    /* puts are written in batches */
    struct mview *v2 = mview_open(st, "INBOX", &err);
    d = mview_cache_get(v2, 1, 9, &len);
    CHECK(d && len == 7 && memcmp(d, "HEADERS", 7) == 0);
    d = mview_cache_get(v2, 1, 7, &len);
    CHECK(d && len == 9);
    CHECK(mview_cache_get(v2, 2, 7, &len) == NULL);
    mview_close(v2);
    mview_close(v);
    /* a damaged record is a miss, not wrong data */
    p = path_of("cache/yubin.cache");
    char *t = read_file(p, 1 << 20, NULL);
    char *hit = t ? memmem(t, 200, "HEADERS", 7) : NULL;
    if (hit) {
        int wfd = open(p, O_WRONLY);
        CHECK(pwrite(wfd, "X", 1, hit - t) == 1);
        close(wfd);
    }
    free(t);
    free(p);
    v = mview_open(st, "INBOX", &err);
    CHECK(mview_cache_get(v, 1, 9, &len) == NULL);
    d = mview_cache_get(v, 1, 8, &len);
    CHECK(d && len == 4);
    mview_close(v);
    mstore_close(st);
}

static void test_quota(void)
{
    struct mstore *st = fresh_store("quota");
    struct mquota q;
    CHECK_INT(mstore_quota(st, &q), -1);
    char *p = path_of("quota/maildirsize");
    write_text(p, "1000000S,1000C\n1200 1\n3400 2\n-200 -1\n");
    free(p);
    CHECK_INT(mstore_quota(st, &q), 0);
    CHECK_INT(q.limit_bytes, 1000000);
    CHECK_INT(q.limit_count, 1000);
    CHECK_INT(q.bytes, 4400);
    CHECK_INT(q.count, 2);
    mstore_close(st);
}

static void test_symlink_message(void)
{
    struct mstore *st = fresh_store("sym");
    char *target = path_of("secret");
    write_text(target, "top secret\n");
    char *link = xasprintf("%s/cur/1.M1P1.evil:2,", mstore_root(st));
    CHECK_INT(symlink(target, link), 0);
    struct storage_error err;
    struct mview *v = mview_open(st, "INBOX", &err);
    size_t n;
    mview_msgs(v, &n);
    CHECK_INT(n, 0);                   /* a symlink is not a message */
    mview_close(v);
    free(link);
    free(target);
    mstore_close(st);
}

static void test_big_folder(void)
{
    struct mstore *st = fresh_store("big");
    char body[1200];
    memset(body, 'x', sizeof(body));
    memcpy(body, "Subject: big\n\n", 14);
    body[sizeof(body) - 1] = '\0';
    for (int i = 0; i < 10000; i++) {
        char name[128];
        str_fmt(name, sizeof(name), "%d.M%dP1.bench,S=%zu:2,S", 1700000000 + i, i,
                strlen(body));
        drop_file(st, "", "cur", name, body);
    }
    age_dirs(st, "");
    struct storage_error err;
    uint64_t t0 = now_usec();
    struct mview *v = mview_open(st, "INBOX", &err);
    uint64_t t1 = now_usec();
    size_t n;
    mview_msgs(v, &n);
    CHECK_INT(n, 10000);
    CHECK_INT(mview_scans(v), 1);
    mview_close(v);
    uint64_t t2 = now_usec();
    v = mview_open(st, "INBOX", &err);
    uint64_t t3 = now_usec();
    mview_msgs(v, &n);
    CHECK_INT(n, 10000);
    CHECK_INT(mview_scans(v), 0);      /* no readdir: the index was current */
    struct mview_changes ch;
    uint64_t t4 = now_usec();
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    uint64_t t5 = now_usec();
    CHECK_INT(mview_scans(v), 0);
    mview_changes_free(&ch);
    /* STORE 1:* +FLAGS (\Deleted) and EXPUNGE: linear, not quadratic */
    uint32_t *all = xmalloc(10000 * sizeof(uint32_t));
    for (uint32_t i = 0; i < 10000; i++)
        all[i] = i + 1;
    uint64_t t6 = now_usec();
    CHECK_INT(mview_store(v, all, 10000, MVIEW_FLAGS_ADD, STORAGE_FLAG_DELETED, 0, &err), 0);
    uint64_t t7 = now_usec();
    CHECK_INT(mview_expunge(v, NULL, 0, &ch, &err), 0);
    uint64_t t8 = now_usec();
    CHECK_INT(ch.nexpunged, 10000);
    mview_changes_free(&ch);
    free(all);
    mview_msgs(v, &n);
    CHECK_INT(n, 0);
    /* APPEND of 1,000 messages, each durable and numbered before the next */
    uint64_t t9 = now_usec();
    uint32_t last = 0;
    for (int i = 0; i < 1000; i++)
        last = save_msg(v, body, 0);
    uint64_t t10 = now_usec();
    CHECK_INT(last, 11000);
    CHECK_INT(mview_sync(v, &ch, &err), 0);
    CHECK_INT(ch.nadded, 1000);
    mview_changes_free(&ch);
    mview_close(v);
    printf("10,000 messages: first open %.1f ms (readdir, uidlist written), second open %.1f ms "
           "(index only), idle sync %.3f ms, store \\Deleted on all %.1f ms, expunge all %.1f ms; "
           "append 1,000: %.1f ms\n",
           (double)(t1 - t0) / 1000, (double)(t3 - t2) / 1000, (double)(t5 - t4) / 1000,
           (double)(t7 - t6) / 1000, (double)(t8 - t7) / 1000, (double)(t10 - t9) / 1000);
    mstore_close(st);
}

/* ---- the helper mode for the Dovecot test ---- */

static int list_mode(const char *root, const char *folder)
{
    struct storage_error err;
    struct mstore *st = mstore_open(root, 0, &err);
    struct mview *v = st ? mview_open(st, folder, &err) : NULL;
    if (!v) {
        fprintf(stderr, "open: %s\n", err.text);
        return 1;
    }
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    printf("uidvalidity %u uidnext %u\n", mview_uidvalidity(v), mview_uidnext(v));
    for (size_t i = 0; i < n; i++) {
        printf("%u %u", m[i].uid, m[i].flags);
        for (unsigned k = 0; k < MSTORE_KEYWORDS; k++)
            if (m[i].keywords & (1u << k))
                printf(" %s", mview_keyword(v, k) ? mview_keyword(v, k) : "?");
        printf(" :%.*s\n", (int)m[i].baselen, m[i].name);
    }
    mview_close(v);
    mstore_close(st);
    return 0;
}

static int store_mode(const char *root, const char *folder, const char *uid, const char *flags)
{
    struct storage_error err;
    struct mstore *st = mstore_open(root, 0, &err);
    struct mview *v = st ? mview_open(st, folder, &err) : NULL;
    if (!v)
        return 1;
    uint32_t u = (uint32_t)strtoul(uid, NULL, 10);
    int rc = mview_store(v, &u, 1, MVIEW_FLAGS_ADD, (unsigned)strtoul(flags, NULL, 10), 0, &err);
    mview_close(v);
    mstore_close(st);
    return rc < 0;
}

/* --expunge MAILDIR FOLDER, --copy MAILDIR FROM TO UID (prints the new UID) */
static int change_mode(int argc, char **argv)
{
    struct storage_error err;
    struct mstore *st = mstore_open(argv[2], 0, &err);
    struct mview *v = st ? mview_open(st, argv[3], &err) : NULL;
    int rc = 1;
    if (v && argc == 4 && strcmp(argv[1], "--expunge") == 0) {
        struct mview_changes ch;
        rc = mview_expunge(v, NULL, 0, &ch, &err) < 0;
        for (size_t i = 0; i < ch.nexpunged; i++)
            printf("%u\n", ch.expunged[i]);
        mview_changes_free(&ch);
    } else if (v && argc == 6 && strcmp(argv[1], "--copy") == 0) {
        struct mview *d = mview_open(st, argv[4], &err);
        uint32_t uid = (uint32_t)strtoul(argv[5], NULL, 10), nu = 0;
        if (d && mview_copy(v, &uid, 1, d, &nu, &err) == 0) {
            printf("%u\n", nu);
            rc = 0;
        }
        mview_close(d);
    }
    if (rc)
        fprintf(stderr, "%s\n", err.text);
    mview_close(v);
    mstore_close(st);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 4 && (strcmp(argv[1], "--expunge") == 0 || strcmp(argv[1], "--copy") == 0))
        return change_mode(argc, argv);
    if (argc >= 3 && strcmp(argv[1], "--list") == 0)
        return list_mode(argv[2], argc > 3 ? argv[3] : "INBOX");
    if (argc == 6 && strcmp(argv[1], "--store") == 0)
        return store_mode(argv[2], argv[3], argv[4], argv[5]);
    str_fmt(base, sizeof(base), "/tmp/yubin-mailbox-test.%ld", (long)getpid());
    mkdir(base, 0700);
    T_RUN(test_names);
    T_RUN(test_folders);
    T_RUN(test_subscriptions);
    T_RUN(test_uidlist_format);
    T_RUN(test_sync_external);
    T_RUN(test_flags_expunge);
    T_RUN(test_copy_move);
    T_RUN(test_concurrent);
    T_RUN(test_kill9);
    T_RUN(test_index_rebuild);
    T_RUN(test_append_date_keywords);
    T_RUN(test_recent_status);
    T_RUN(test_stale_locks);
    T_RUN(test_cache);
    T_RUN(test_quota);
    T_RUN(test_symlink_message);
    T_RUN(test_big_folder);
    char cmd[300];
    str_fmt(cmd, sizeof(cmd), "rm -rf '%s'", base);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", base);
    return T_DONE();
}
