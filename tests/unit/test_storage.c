/*
 * Unit tests for lib-storage: Maildir saves (names, sizes, flags,
 * Maildir++ folders, directories created on demand), mbox appends ("From "
 * line, ">From " quoting, locks), aborts and failures that leave nothing
 * behind, symlinks refused, and write errors reported with the right
 * status (a full disk is temporary, a quota permanent).
 */
#include "t.h"
#include "lib-storage/storage.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[256];

static char *path_of(const char *rel)
{
    return xasprintf("%s/%s", base, rel);
}

static char *slurp(const char *path)
{
    return read_file(path, 1 << 24, NULL);
}

static void write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write_all(fd, text, strlen(text)) < 0)
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
    if (fd >= 0)
        close(fd);
}

/* Files in dir (not . and ..), first name copied out; -1 if dir is missing. */
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

static int count_in(const char *dir, const char *sub)
{
    char *p = xasprintf("%s%s", dir, sub);
    int n = count_files(p, NULL, 0);
    free(p);
    return n;
}

static void rm_rf(const char *path)
{
    char *cmd = xasprintf("rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "%s failed\n", cmd);
    free(cmd);
}

static struct storage_location maildir_loc(const char *path)
{
    struct storage_location loc = {.format = STORAGE_MAILDIR, .path = path, .log_id = "TESTQID",
                                   .lock_attempts = 2, .lock_delay_ms = 10,
                                   .stale_lock_time = 500};
    return loc;
}

static struct storage_location mbox_loc(const char *path, int locks)
{
    struct storage_location loc = maildir_loc(path);
    loc.format = STORAGE_MBOX;
    loc.locks = locks;
    return loc;
}

/* Save text (in pieces of `piece` bytes) with the options; 0 or -1 with err. */
static int save(struct mailbox *box, const char *text, size_t piece, unsigned flags,
                const char *sender, int known_size, char *id, size_t idlen,
                struct storage_error *err)
{
    struct storage_save_opts o = {.flags = flags, .received = 1700000000, .sender = sender,
                                  .size = known_size ? (long long)strlen(text) : -1};
    struct storage_save *s = storage_save_begin(box, &o, err);
    if (!s)
        return -1;
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += piece) {
        size_t n = len - off < piece ? len - off : piece;
        if (storage_save_write(s, text + off, n, err) < 0) {
            storage_save_abort(s);
            return -1;
        }
    }
    return storage_save_finish(s, id, idlen, err);
}

static const char *MSG = "Subject: test\n\nHello\nFrom the start of a line\n>From quoted\nend\n";

/* ---- Maildir ---- */

static void test_format_of(void)
{
    CHECK_INT(storage_format_of("/home/u/Maildir/"), STORAGE_MAILDIR);
    CHECK_INT(storage_format_of("/var/mail/u"), STORAGE_MBOX);
    CHECK_INT(storage_format_of(""), STORAGE_MBOX);
}

static void test_maildir_save(void)
{
    char *dir = path_of("md/");
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    /* missing and not asked to create it */
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);
    CHECK_STR(err.dsn, "4.2.0");
    CHECK_STR(err.text, "open maildir: No such file or directory");
    CHECK(storage_error_temporary(&err));

    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    static const char *const subs[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < 3; i++) {
        char *p = xasprintf("%s%s", dir, subs[i]);
        struct stat sb;
        CHECK_INT(stat(p, &sb), 0);
        CHECK_INT(sb.st_mode & 0777, 0700);
        free(p);
    }
    char id[512];
    CHECK_INT(save(box, MSG, 7, 0, "s@x", 1, id, sizeof(id), &err), 0);
    /* "<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>", in new/, and S= is the size */
    long long sec, usec, pid, q;
    char rest[300];
    CHECK_INT(sscanf(id, "%lld.M%lldP%lldQ%lld.%299s", &sec, &usec, &pid, &q, rest), 5);
    CHECK_INT(pid, getpid());
    const char *s = strstr(id, ",S=");
    CHECK(s && atoll(s + 3) == (long long)strlen(MSG));
    CHECK(strchr(id, ':') == NULL && strchr(id, '/') == NULL);
    char *file = xasprintf("%snew/%s", dir, id);
    char *text = slurp(file);
    CHECK_STR(text, MSG);                  /* Maildir content is written as given */
    struct stat sb;
    CHECK_INT(stat(file, &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    free(text);
    free(file);
    CHECK_INT(count_in(dir, "tmp"), 0);
    CHECK_INT(count_in(dir, "new"), 1);

    /* a second message in the same open mailbox gets another name */
    char id2[512];
    CHECK_INT(save(box, "x\n", 1, 0, "", 0, id2, sizeof(id2), &err), 0);
    CHECK(strcmp(id, id2) != 0);
    CHECK(strstr(id2, ",S=2") != NULL);      /* size unknown at the start: counted */
    CHECK_INT(count_in(dir, "new"), 2);
    mailbox_close(box);
    rm_rf(dir);
    free(dir);
}

static void test_maildir_flags(void)
{
    char *dir = path_of("flags/");
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    char id[512];
    CHECK_INT(save(box, MSG, 1000, STORAGE_FLAG_SEEN | STORAGE_FLAG_FLAGGED, "s@x", 1, id,
                   sizeof(id), &err), 0);
    const char *info = strstr(id, ":2,");
    CHECK(info && strcmp(info, ":2,FS") == 0);          /* letters in ASCII order */
    char *file = xasprintf("%scur/%s", dir, id);
    CHECK_INT(access(file, F_OK), 0);
    free(file);
    CHECK_INT(count_in(dir, "new"), 0);
    CHECK_INT(save(box, MSG, 1000, STORAGE_FLAG_DRAFT | STORAGE_FLAG_ANSWERED |
                   STORAGE_FLAG_DELETED, "s@x", 1, id, sizeof(id), &err), 0);
    info = strstr(id, ":2,");
    CHECK(info && strcmp(info, ":2,DRT") == 0);
    mailbox_close(box);
    rm_rf(dir);
    free(dir);
}

static void test_maildir_folders(void)
{
    char *dir = path_of("Maildir");            /* no trailing slash: still the directory */
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, "Work.Sub", 0, &err);
    CHECK(box == NULL);
    box = mailbox_open(&loc, "Work.Sub", STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    char *folder = path_of("Maildir/.Work.Sub/");
    char *marker = xasprintf("%smaildirfolder", folder);
    CHECK_INT(access(marker, F_OK), 0);
    char id[512];
    CHECK_INT(save(box, MSG, 5, 0, "s@x", 1, id, sizeof(id), &err), 0);
    CHECK_INT(count_in(folder, "new"), 1);
    mailbox_close(box);
    /* opened again, without creating */
    box = mailbox_open(&loc, "Work.Sub", 0, &err);
    CHECK(box != NULL);
    mailbox_close(box);
    /* names that would leave the Maildir or hide a folder are refused */
    static const char *const bad[] = {"../x", ".hidden", "a/b", "a..b", "x.", "tab\there"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        CHECK(mailbox_open(&loc, bad[i], STORAGE_OPEN_CREATE, &err) == NULL);
        CHECK_STR(err.dsn, "5.2.0");
        CHECK(!storage_error_temporary(&err));
    }
    free(marker);
    free(folder);
    rm_rf(dir);
    free(dir);
}

/* tmp/ and new/ gone from an existing Maildir: made again when saving. */
static void test_maildir_missing_subdirs(void)
{
    char *dir = path_of("bare/");
    mkdir(dir, 0700);
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    char id[512];
    CHECK_INT(save(box, MSG, 100, 0, "s@x", 1, id, sizeof(id), &err), 0);
    CHECK_INT(count_in(dir, "new"), 1);
    CHECK_INT(count_in(dir, "cur"), 0);
    /* new/ removed behind our back: the link finds it missing and makes it */
    char *cmd = xasprintf("%snew", dir);
    rm_rf(cmd);
    CHECK_INT(save(box, MSG, 100, 0, "s@x", 1, id, sizeof(id), &err), 0);
    CHECK_INT(count_in(dir, "new"), 1);
    CHECK_INT(count_in(dir, "tmp"), 0);
    free(cmd);
    mailbox_close(box);
    rm_rf(dir);
    free(dir);
}

static void test_maildir_abort_and_limit(void)
{
    char *dir = path_of("ab/");
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    struct storage_save_opts o = {.size = -1};
    struct storage_save *s = storage_save_begin(box, &o, &err);
    CHECK(s != NULL);
    CHECK_INT(storage_save_write(s, "partial", 7, &err), 0);
    CHECK_INT(count_in(dir, "tmp"), 1);
    storage_save_abort(s);
    CHECK_INT(count_in(dir, "tmp"), 0);
    CHECK_INT(count_in(dir, "new"), 0);
    mailbox_close(box);

    /* the limit is a message size for a Maildir: a permanent failure */
    loc.limit = 10;
    box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    char id[512];
    CHECK_INT(save(box, MSG, 4, 0, "s@x", 0, id, sizeof(id), &err), -1);
    CHECK_STR(err.dsn, "5.2.2");
    CHECK_STR(err.text, "error writing message: File too large");
    CHECK_INT(err.err, EFBIG);
    CHECK(!storage_error_temporary(&err));
    CHECK_INT(count_in(dir, "tmp"), 0);
    CHECK_INT(count_in(dir, "new"), 0);
    mailbox_close(box);
    rm_rf(dir);
    free(dir);
}

static int hook_errno;
static ssize_t failing_write(int fd, const void *buf, size_t len)
{
    (void)fd, (void)buf, (void)len;
    errno = hook_errno;
    return -1;
}

/* A full disk is temporary (4.3.0), a quota permanent (5.2.2); nothing stays. */
static void test_write_errors(void)
{
    char *dir = path_of("full/");
    char *mbox = path_of("full.mbox");
    write_text(mbox, "From old\n\nold\n\n");
    struct storage_location loc = maildir_loc(dir), mloc = mbox_loc(mbox, MBOX_LOCK_FCNTL);
    struct storage_error err;
    static const struct { int err; const char *dsn; int temp; } cases[] = {
        {ENOSPC, "4.3.0", 1}, {EIO, "4.3.0", 1}, {EDQUOT, "5.2.2", 0}, {EROFS, "4.3.0", 1},
    };
    char id[512];
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        hook_errno = cases[i].err;
        struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
        storage_set_write_hook(failing_write);
        CHECK_INT(save(box, MSG, 100, 0, "s@x", 1, id, sizeof(id), &err), -1);
        storage_set_write_hook(NULL);
        CHECK_STR(err.dsn, cases[i].dsn);
        CHECK_INT(storage_error_temporary(&err), cases[i].temp);
        CHECK_INT(err.err, cases[i].err);
        CHECK(strncmp(err.text, "error writing message: ", 23) == 0);
        CHECK_INT(count_in(dir, "tmp"), 0);
        CHECK_INT(count_in(dir, "new"), 0);
        mailbox_close(box);

        box = mailbox_open(&mloc, NULL, 0, &err);
        storage_set_write_hook(failing_write);
        CHECK_INT(save(box, MSG, 100, 0, "s@x", 1, id, sizeof(id), &err), -1);
        storage_set_write_hook(NULL);
        CHECK_STR(err.dsn, cases[i].dsn);
        mailbox_close(box);
        char *text = slurp(mbox);
        CHECK_STR(text, "From old\n\nold\n\n");          /* truncated back */
        free(text);
    }
    unlink(mbox);
    free(mbox);
    rm_rf(dir);
    free(dir);
}

struct src { const char *text; size_t pos; int fail_at; };

static ssize_t src_read(void *ctx, char *buf, size_t cap)
{
    struct src *s = ctx;
    if (s->fail_at >= 0 && s->pos >= (size_t)s->fail_at) {
        errno = EIO;
        return -1;
    }
    size_t n = strlen(s->text + s->pos);
    if (n > cap)
        n = cap;
    if (n > 3)
        n = 3;                                 /* small pieces */
    memcpy(buf, s->text + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

/* The caller's stream: copied whole; its failure is marked as the source's. */
static void test_stream(void)
{
    char *dir = path_of("stream/");
    struct storage_location loc = maildir_loc(dir);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    struct storage_save_opts o = {.size = (long long)strlen(MSG)};
    struct src src = {MSG, 0, -1};
    struct storage_save *s = storage_save_begin(box, &o, &err);
    CHECK_INT(storage_save_stream(s, src_read, &src, &err), 0);
    char id[512];
    CHECK_INT(storage_save_finish(s, id, sizeof(id), &err), 0);
    char *file = xasprintf("%snew/%s", dir, id);
    char *text = slurp(file);
    CHECK_STR(text, MSG);
    free(text);
    free(file);
    struct src bad = {MSG, 0, 9};
    s = storage_save_begin(box, &o, &err);
    CHECK_INT(storage_save_stream(s, src_read, &bad, &err), -1);
    CHECK_INT(err.source, 1);
    CHECK_INT(err.err, EIO);
    storage_save_abort(s);
    CHECK_INT(count_in(dir, "tmp"), 0);
    CHECK_INT(count_in(dir, "new"), 1);
    mailbox_close(box);
    rm_rf(dir);
    free(dir);
}

/* ---- mbox ---- */

static void test_mbox_append(void)
{
    char *mbox = path_of("mbox");
    struct storage_location loc = mbox_loc(mbox, MBOX_LOCK_FCNTL | MBOX_LOCK_DOTLOCK);
    struct storage_error err;
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);       /* missing, not created */
    CHECK_STR(err.text, "cannot open file: No such file or directory");
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    char *lock = xasprintf("%s.lock", mbox);
    CHECK_INT(access(lock, F_OK), 0);                        /* dotlocked while open */
    char id[512];
    /* one byte at a time: "From " decided across writes */
    CHECK_INT(save(box, MSG, 1, 0, "sender@example.org", 1, id, sizeof(id), &err), 0);
    CHECK_STR(id, "mbox:0");
    CHECK_INT(save(box, "From x\nFrom", 3, 0, "", 1, id, sizeof(id), &err), 0);
    mailbox_close(box);
    CHECK(access(lock, F_OK) != 0);
    char *text = slurp(mbox);
    struct tm tm;
    time_t t = 1700000000;
    char date[64];
    localtime_r(&t, &tm);
    strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
    char *want = xasprintf("From sender@example.org %s\n"
                           "Subject: test\n\nHello\n>From the start of a line\n>From quoted\nend\n"
                           "\n"
                           "From MAILER-DAEMON %s\n"
                           ">From x\nFrom\n"
                           "\n", date, date);
    CHECK_STR(text, want);
    /* the second message's id is where it starts */
    box = mailbox_open(&loc, NULL, 0, &err);
    char id3[512];
    CHECK_INT(save(box, "y\n", 2, 0, "a b@example.org", 1, id3, sizeof(id3), &err), 0);
    mailbox_close(box);
    char *want_id = xasprintf("mbox:%zu", strlen(want));
    CHECK_STR(id3, want_id);
    char *after = slurp(mbox);
    CHECK(after && strstr(after, "\nFrom \"a b\"@example.org ") != NULL);
    free(after);
    free(want_id);
    free(want);
    free(text);
    free(lock);
    unlink(mbox);
    free(mbox);
}

static void test_mbox_abort_and_limit(void)
{
    char *mbox = path_of("mbox2");
    write_text(mbox, "From a\n\nold\n\n");
    struct storage_location loc = mbox_loc(mbox, MBOX_LOCK_FLOCK);
    struct storage_error err;
    struct mailbox *box = mailbox_open(&loc, NULL, 0, &err);
    struct storage_save_opts o = {.size = -1, .sender = "s@x"};
    struct storage_save *s = storage_save_begin(box, &o, &err);
    CHECK_INT(storage_save_write(s, "x\ny\n", 4, &err), 0);
    storage_save_abort(s);
    mailbox_close(box);
    char *text = slurp(mbox);
    CHECK_STR(text, "From a\n\nold\n\n");
    free(text);
    /* the limit counts what is there: refused before anything is written */
    loc.limit = 14 + 40;
    box = mailbox_open(&loc, NULL, 0, &err);
    char id[512];
    CHECK_INT(save(box, MSG, 100, 0, "s@x", 1, id, sizeof(id), &err), -1);
    CHECK_STR(err.dsn, "5.2.2");
    CHECK_STR(err.text, "error writing message: File too large");
    mailbox_close(box);
    text = slurp(mbox);
    CHECK_STR(text, "From a\n\nold\n\n");
    free(text);
    unlink(mbox);
    free(mbox);
}

static void test_mbox_locks(void)
{
    char *mbox = path_of("locked");
    char *lock = xasprintf("%s.lock", mbox);
    struct storage_location loc = mbox_loc(mbox, MBOX_LOCK_DOTLOCK);
    struct storage_error err;
    /* someone else's dotlock: retried, then a temporary failure */
    write_text(lock, "");
    uint64_t t0 = mono_msec();
    CHECK(mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err) == NULL);
    CHECK(mono_msec() - t0 >= 10);                           /* waited lock_delay_ms once */
    char *want = xasprintf("unable to create lock file %s: File exists", lock);
    CHECK_STR(err.text, want);
    CHECK_STR(err.dsn, "4.2.0");
    CHECK_INT(access(lock, F_OK), 0);                       /* not ours: left alone */
    free(want);
    /* a stale one is removed */
    struct timeval old[2] = {{time(NULL) - 1000, 0}, {time(NULL) - 1000, 0}};
    utimes(lock, old);
    struct mailbox *box = mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err);
    CHECK(box != NULL);
    mailbox_close(box);
    CHECK(access(lock, F_OK) != 0);

    /* flock held through another open file */
    loc.locks = MBOX_LOCK_FLOCK;
    int other = open(mbox, O_RDWR);
    CHECK_INT(flock(other, LOCK_EX), 0);
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);
    CHECK_STR(err.text, "unable to lock for exclusive access: Resource temporarily unavailable");
    flock(other, LOCK_UN);
    box = mailbox_open(&loc, NULL, 0, &err);
    CHECK(box != NULL);
    mailbox_close(box);
    close(other);

    /* fcntl held by another process */
    loc.locks = MBOX_LOCK_FCNTL;
    int pipefd[2];
    CHECK_INT(pipe(pipefd), 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(mbox, O_RDWR);
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        fcntl(fd, F_SETLK, &fl);
        close(pipefd[0]);
        if (write(pipefd[1], "x", 1) != 1)
            _exit(1);
        sleep(10);                               /* until the parent kills it */
        _exit(0);
    }
    close(pipefd[1]);
    char c;
    CHECK_INT(read(pipefd[0], &c, 1), 1);
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);
    CHECK(strncmp(err.text, "unable to lock for exclusive access: ", 37) == 0);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(pipefd[0]);
    box = mailbox_open(&loc, NULL, 0, &err);
    CHECK(box != NULL);
    mailbox_close(box);
    unlink(mbox);
    free(lock);
    free(mbox);
}

/* A symlink or a second hard link as the mailbox file is refused; the target stays. */
static void test_mbox_refusals(void)
{
    char *target = path_of("target"), *slink = path_of("link"), *hard = path_of("hard");
    write_text(target, "secret\n");
    CHECK_INT(symlink(target, slink), 0);
    struct storage_location loc = mbox_loc(slink, MBOX_LOCK_FCNTL);
    struct storage_error err;
    CHECK(mailbox_open(&loc, NULL, STORAGE_OPEN_CREATE, &err) == NULL);
    CHECK_STR(err.text, "cannot open file: Too many levels of symbolic links");
    CHECK_STR(err.dsn, "4.2.0");
    CHECK_INT(link(target, hard), 0);
    loc.path = hard;
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);
    CHECK_STR(err.text, "destination is not a regular file with one link");
    char *text = slurp(target);
    CHECK_STR(text, "secret\n");
    free(text);
    unlink(hard);
    /* strict ownership: somebody else's file */
    loc.path = target;
    loc.uid = getuid() + 1;
    loc.flags = STORAGE_LOC_STRICT_OWNER;
    CHECK(mailbox_open(&loc, NULL, 0, &err) == NULL);
    char *want = xasprintf("file has bad owner uid %ld", (long)getuid());
    CHECK_STR(err.text, want);
    free(want);
    /* no folders in an mbox file */
    loc.flags = 0;
    CHECK(mailbox_open(&loc, "Work", 0, &err) == NULL);
    CHECK_STR(err.dsn, "5.2.0");
    unlink(slink);
    unlink(target);
    free(target);
    free(slink);
    free(hard);
}

int main(void)
{
    log_init("yubin", "test_storage");
    str_copy(base, "/tmp/yubin-storage-XXXXXX", sizeof(base));
    if (!mkdtemp(base)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_format_of);
    T_RUN(test_maildir_save);
    T_RUN(test_maildir_flags);
    T_RUN(test_maildir_folders);
    T_RUN(test_maildir_missing_subdirs);
    T_RUN(test_maildir_abort_and_limit);
    T_RUN(test_write_errors);
    T_RUN(test_stream);
    T_RUN(test_mbox_append);
    T_RUN(test_mbox_abort_and_limit);
    T_RUN(test_mbox_locks);
    T_RUN(test_mbox_refusals);
    rm_rf(base);
    return T_DONE();
}
