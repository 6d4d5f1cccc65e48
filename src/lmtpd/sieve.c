/*
 * sieve.c - Sieve at delivery (lda.h): which scripts run (sieve_before,
 * the user's `sieve`, sieve_after), a per-process cache of compiled
 * scripts keyed by path, mtime and size, the sequence run as Pigeonhole
 * runs it, and the actions carried out. Any compile or run-time error
 * is logged and the message is kept in INBOX instead.
 */
#include "lmtpd/lda.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-sieve/sieve.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCRIPTS_MAX   16               /* scripts in one sequence */
#define CACHE_MAX     32               /* compiled scripts kept per process */
#define SCRIPT_MAX    (1u << 20)       /* bytes of one script file */
#define VACDB_MAX     (1u << 20)       /* bytes of the vacation database */
#define VACDB_NAME    "yubin-vacation"

/* ---- compiled scripts ---- */

struct cached {
    char *path;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
    struct sieve_script *script;       /* NULL: it did not compile */
    unsigned long used;
};

static struct cached cache[CACHE_MAX];
static unsigned long cache_clock;

static struct cached *cache_slot(const char *path)
{
    struct cached *victim = &cache[0];
    for (size_t i = 0; i < CACHE_MAX; i++) {
        if (cache[i].path && strcmp(cache[i].path, path) == 0)
            return &cache[i];
        if (!cache[i].path || cache[i].used < victim->used)
            victim = &cache[i];
    }
    return victim;
}

static void cache_clear(struct cached *c)
{
    free(c->path);
    sieve_script_free(c->script);
    memset(c, 0, sizeof(*c));
}

/* Log a script's compile errors. */
static void log_diag(const char *log_id, const char *path, const struct sieve_diag *d)
{
    for (size_t i = 0; i < d->n && i < 20; i++)
        msg_warn("%s: sieve: %s: %s", log_id, path, d->msgs[i]);
}

/*
 * The compiled script at path: 1 with *out, 0 when there is no such file,
 * -1 when it cannot be read or does not compile (logged).
 */
static int script_get(const char *path, const char *log_id, const struct sieve_script **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        msg_warn("%s: sieve: %s: %s", log_id, path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        msg_warn("%s: sieve: %s: not a regular file", log_id, path);
        return -1;
    }
    struct cached *c = cache_slot(path);
    if (c->path && strcmp(c->path, path) == 0 && c->dev == sb.st_dev && c->ino == sb.st_ino &&
        c->size == sb.st_size && c->mtime.tv_sec == sb.st_mtim.tv_sec &&
        c->mtime.tv_nsec == sb.st_mtim.tv_nsec) {
        close(fd);
        c->used = ++cache_clock;
        *out = c->script;
        if (!c->script)
            msg_warn("%s: sieve: %s: script does not compile (unchanged)", log_id, path);
        return c->script ? 1 : -1;
    }
    size_t len = 0;
    char *text = read_fd(fd, SCRIPT_MAX, &len);
    close(fd);
    if (!text) {
        msg_warn("%s: sieve: %s: cannot read the script", log_id, path);
        return -1;
    }
    cache_clear(c);
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    struct sieve_diag diag;
    memset(&diag, 0, sizeof(diag));
    c->script = sieve_compile(text, len, &lim, NULL, 0, &diag);
    free(text);
    if (!c->script)
        log_diag(log_id, path, &diag);
    sieve_diag_free(&diag);
    c->path = xstrdup(path);
    c->dev = sb.st_dev;
    c->ino = sb.st_ino;
    c->size = sb.st_size;
    c->mtime = sb.st_mtim;
    c->used = ++cache_clock;
    *out = c->script;
    return c->script ? 1 : -1;
}

/* ---- which scripts ---- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A sieve_before/after entry: a file, or a directory's *.sieve files in name order. */
static void add_global(const char *loc, char **paths, size_t *n)
{
    if (strncmp(loc, "file:", 5) == 0)
        loc += 5;
    struct stat sb;
    if (stat(loc, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
        if (*n < SCRIPTS_MAX)
            paths[(*n)++] = xstrdup(loc);
        return;
    }
    DIR *d = opendir(loc);
    if (!d)
        return;
    char *names[SCRIPTS_MAX];
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < SCRIPTS_MAX) {
        size_t len = strlen(e->d_name);
        if (len > 6 && e->d_name[0] != '.' && strcmp(e->d_name + len - 6, ".sieve") == 0)
            names[k++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, k, sizeof(char *), name_cmp);
    for (size_t i = 0; i < k; i++) {
        if (*n < SCRIPTS_MAX)
            paths[(*n)++] = xasprintf("%s/%s", loc, names[i]);
        free(names[i]);
    }
}

/* The user's script path: "~/" the home, %u %n %d %h expanded (no home for "~": none). */
static char *user_script(const struct lmtpd_lda *l, const struct lmtpd_user *u)
{
    const char *s = l->sieve;
    if (strncmp(s, "file:", 5) == 0)
        s += 5;
    size_t plen = strcspn(s, ";");
    char path[LMTPD_PATH_MAX];
    if (plen == 0 || lmtpd_expand_path(s, plen, u->name, u->home, path, sizeof(path)) < 0)
        return NULL;
    return xstrdup(path);
}

/* ---- the sequence ---- */

struct run_state {
    struct sieve_result res[SCRIPTS_MAX];
    size_t nres;
    int implicit_keep;                 /* the last script run kept the message */
};

static int mailbox_exists(void *ctx, const char *name)
{
    const struct lmtpd_user *u = ctx;
    if (str_ieq(name, "INBOX"))
        return 1;
    if (!name[0] || strchr(name, '/') || strstr(name, ".."))
        return 0;
    char path[LMTPD_PATH_MAX + 300];
    struct stat sb;
    return str_fmt(path, sizeof(path), "%s.%s", u->maildir, name) == 0 && stat(path, &sb) == 0 &&
           S_ISDIR(sb.st_mode);
}

static void sieve_msg_of(const struct lmtpd_msg *m, const struct lmtpd_user *u,
                         struct sieve_msg *sm)
{
    memset(sm, 0, sizeof(*sm));
    sm->data = m->data;
    sm->len = m->len;
    sm->env_from = m->sender;
    sm->env_to = m->rcpt;
    sm->mailbox_exists = mailbox_exists;
    sm->ctx = (void *)u;
}

/*
 * Run the scripts in order: a script that ends without its implicit keep
 * ends the sequence (Pigeonhole's rule). 0, or -1 on an error (logged).
 */
static int run_sequence(char **paths, size_t n, const struct lmtpd_msg *m,
                        const struct lmtpd_user *u, struct run_state *rs)
{
    struct sieve_msg sm;
    sieve_msg_of(m, u, &sm);
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    rs->implicit_keep = 1;
    for (size_t i = 0; i < n && rs->implicit_keep; i++) {
        const struct sieve_script *s;
        int g = script_get(paths[i], m->log_id, &s);
        if (g == 0)
            continue;
        if (g < 0)
            return -1;
        struct sieve_result *res = &rs->res[rs->nres++];
        char *err = NULL;
        if (sieve_execute(s, &sm, &lim, res, &err) < 0) {
            msg_warn("%s: sieve: %s: runtime error: %s", m->log_id, paths[i], err ? err : "?");
            free(err);
            return -1;
        }
        rs->implicit_keep = !res->keep_cancelled;
    }
    return 0;
}

/* ---- vacation: whom we answered, per user ---- */

static int vacation_update(const char *path, const char *tmp, const char *key, uint64_t seconds);

/* The key of (sender, handle): SHA-256 in hex. */
static void vacation_key(const char *rcpt, const struct sieve_action *a, char *out)
{
    struct buf b;
    buf_init(&b, 0);
    for (const char *p = rcpt; *p; p++)
        buf_putc(&b, (char)tolower((unsigned char)*p));
    buf_putc(&b, '\n');
    if (a->handle)
        buf_puts(&b, a->handle);
    else
        buf_printf(&b, "%s\n%s\n%s", a->subject ? a->subject : "", a->from ? a->from : "",
                   a->reason ? a->reason : "");
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(b.data, b.len, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    buf_free(&b);
}

/*
 * Was key answered within its period? If not, record it (expiring after
 * seconds) and return 0; 1 when a reply was already sent. The database is
 * "<Maildir>/yubin-vacation": lines "<expiry> <key>", rewritten with the
 * expired lines dropped (write to a temporary file, rename).
 */
static int vacation_seen(const struct lmtpd_user *u, const char *key, uint64_t seconds)
{
    char path[LMTPD_PATH_MAX + 32], tmp[LMTPD_PATH_MAX + 48], lock[LMTPD_PATH_MAX + 48];
    if (str_fmt(path, sizeof(path), "%s%s", u->maildir, VACDB_NAME) < 0 ||
        str_fmt(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) < 0 ||
        str_fmt(lock, sizeof(lock), "%s.lock", path) < 0)
        return 0;
    mkdir_p(u->maildir, 0700);         /* a first message may be discarded or redirected */
    /* concurrent deliveries to the user: one at a time reads and writes it */
    int lfd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (lfd >= 0 && flock(lfd, LOCK_EX) < 0) {
        close(lfd);
        lfd = -1;
    }
    int seen = vacation_update(path, tmp, key, seconds);
    if (lfd >= 0)
        close(lfd);
    return seen;
}

/* vacation_seen() under the lock. */
static int vacation_update(const char *path, const char *tmp, const char *key, uint64_t seconds)
{
    size_t len = 0;
    char *text = read_file(path, VACDB_MAX, &len);
    time_t now = time(NULL);
    struct buf out;
    buf_init(&out, VACDB_MAX);
    int seen = 0;
    char *save = NULL;
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *sp = strchr(line, ' ');
        long long exp = strtoll(line, NULL, 10);
        if (!sp || exp <= (long long)now)
            continue;
        if (strcmp(sp + 1, key) == 0)
            seen = 1;
        buf_printf(&out, "%s\n", line);
    }
    free(text);
    if (!seen) {
        buf_printf(&out, "%lld %s\n", (long long)now + (long long)seconds, key);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            int ok = write_all(fd, out.data, out.len) >= 0 && fsync(fd) == 0;
            close(fd);
            if (!ok || rename(tmp, path) < 0)
                unlink(tmp);
        }
    }
    buf_free(&out);
    return seen;
}

static void do_vacation(struct lmtpd_lda *l, const struct lmtpd_user *u,
                        const struct lmtpd_msg *m, const struct sieve_action *a)
{
    struct sieve_msg sm;
    sieve_msg_of(m, u, &sm);
    const char *own[] = {m->rcpt, u->name, m->orig_rcpt, NULL};
    char *out = NULL, *rcpt = NULL;
    size_t outlen = 0;
    const char *why = NULL;
    if (sieve_vacation_compose(&sm, a, own, &out, &outlen, &rcpt, &why) < 0) {
        msg_info("%s: sieve: vacation reply not sent: %s", m->log_id, why ? why : "?");
        return;
    }
    char key[65];
    vacation_key(rcpt, a, key);
    if (vacation_seen(u, key, a->seconds))
        msg_info("%s: sieve: vacation reply to <%s> already sent within its period", m->log_id,
                 rcpt);
    else if (lmtpd_submit(l, "", rcpt, out, outlen, m->log_id) == 0)
        msg_info("%s: sieve: sent vacation response to <%s>", m->log_id, rcpt);
    free(out);
    free(rcpt);
}

/* ---- carrying out the actions ---- */

struct exec_state {
    const char *stored[SCRIPTS_MAX * 8];   /* folders saved into */
    size_t nstored;
    int redirected, discarded, failed;
};

static int already_stored(const struct exec_state *es, const char *folder)
{
    for (size_t i = 0; i < es->nstored; i++)
        if (sieve_folder_eq(es->stored[i], folder))
            return 1;
    return 0;
}

/* Save into folder; a missing folder (not created) means INBOX instead. 0 or -1 (r set). */
static int do_store(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                    const char *folder, char *const *flags, int create, struct exec_state *es,
                    struct lmtpd_result *r)
{
    if (already_stored(es, folder))
        return 0;
    int missing = 0;
    if (lmtpd_store(l, u, m, folder, flags, create, &missing, r) == 0) {
        if (es->nstored < ARRAY_LEN(es->stored))
            es->stored[es->nstored++] = folder;
        msg_info("%s: sieve: stored mail into mailbox '%s'", m->log_id, folder);
        return 0;
    }
    if (missing && !str_ieq(folder, "INBOX")) {
        msg_warn("%s: sieve: mailbox '%s' does not exist: keeping the message in INBOX",
                 m->log_id, folder);
        return do_store(l, u, m, "INBOX", flags, 0, es, r);
    }
    msg_warn("%s: cannot save into mailbox '%s': %s", m->log_id, folder, r->text);
    return -1;
}

static const char *reject_reason(struct run_state *rs, int *ereject)
{
    for (size_t i = 0; i < rs->nres; i++)
        for (size_t k = 0; k < rs->res[i].n; k++) {
            const struct sieve_action *a = &rs->res[i].v[k];
            if (a->kind == SIEVE_ACT_REJECT || a->kind == SIEVE_ACT_EREJECT) {
                *ereject = a->kind == SIEVE_ACT_EREJECT;
                return a->target ? a->target : "";
            }
        }
    return NULL;
}

static int has_store(struct run_state *rs)
{
    for (size_t i = 0; i < rs->nres; i++)
        for (size_t k = 0; k < rs->res[i].n; k++) {
            const struct sieve_action *a = &rs->res[i].v[k];
            if ((a->kind == SIEVE_ACT_KEEP && (!a->implicit || i + 1 == rs->nres)) ||
                a->kind == SIEVE_ACT_FILEINTO)
                return 1;
        }
    return 0;
}

static int exec_action(struct lmtpd_lda *l, const struct lmtpd_user *u,
                       const struct lmtpd_msg *m, const char *deffolder,
                       const struct sieve_action *a, struct exec_state *es,
                       struct lmtpd_result *r)
{
    switch (a->kind) {
    case SIEVE_ACT_KEEP:
        return do_store(l, u, m, deffolder, a->flags, 0, es, r);
    case SIEVE_ACT_FILEINTO:
        return do_store(l, u, m, a->target, a->flags, a->create, es, r);
    case SIEVE_ACT_REDIRECT:
        if (lmtpd_submit(l, m->sender, a->target, m->data, m->len, m->log_id) == 0) {
            msg_info("%s: sieve: forwarded to <%s>", m->log_id, a->target);
            es->redirected++;
        } else {
            es->failed++;
        }
        return 0;
    case SIEVE_ACT_DISCARD:
        msg_info("%s: sieve: marked message to be discarded if not explicitly delivered",
                 m->log_id);
        es->discarded = 1;
        return 0;
    case SIEVE_ACT_VACATION:
        do_vacation(l, u, m, a);
        return 0;
    default:
        return 0;
    }
}

/* Carry out what the scripts decided. */
static void execute(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                    const char *deffolder, struct run_state *rs, struct lmtpd_result *r)
{
    int ereject = 0;
    const char *why = reject_reason(rs, &ereject);
    if (why && !has_store(rs)) {
        msg_info("%s: sieve: rejected: %s", m->log_id, why);
        lmtpd_result_set(r, LMTPD_REJECTED, "5.7.1", "%s", why);
        r->ereject = ereject;
        return;
    }
    struct exec_state es;
    memset(&es, 0, sizeof(es));
    /* the message is saved first; what leaves (redirect, vacation) comes after */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < rs->nres; i++)
            for (size_t k = 0; k < rs->res[i].n; k++) {
                const struct sieve_action *a = &rs->res[i].v[k];
                int outgoing = a->kind == SIEVE_ACT_REDIRECT || a->kind == SIEVE_ACT_VACATION;
                if (outgoing != pass)
                    continue;
                if (a->kind == SIEVE_ACT_KEEP && a->implicit && i + 1 != rs->nres)
                    continue;          /* the next script decided */
                if (exec_action(l, u, m, deffolder, a, &es, r) < 0)
                    return;
            }
    /* a redirect that failed must not lose the message */
    if (es.failed && es.nstored == 0 && !es.redirected &&
        do_store(l, u, m, "INBOX", NULL, 0, &es, r) < 0)
        return;
    lmtpd_result_set(r, LMTPD_DELIVERED, "2.0.0", "Saved");
}

void lmtpd_sieve_deliver(struct lmtpd_lda *l, const struct lmtpd_user *u,
                         const struct lmtpd_msg *m, const char *folder, struct lmtpd_result *r)
{
    const char *deffolder = folder && *folder ? folder : "INBOX";
    char *paths[SCRIPTS_MAX];
    size_t n = 0;
    for (size_t i = 0; l->sieve_before && l->sieve_before[i]; i++)
        add_global(l->sieve_before[i], paths, &n);
    char *mine = user_script(l, u);
    if (mine && n < SCRIPTS_MAX)
        paths[n++] = mine;
    else
        free(mine);
    for (size_t i = 0; l->sieve_after && l->sieve_after[i]; i++)
        add_global(l->sieve_after[i], paths, &n);

    struct run_state *rs = xcalloc(1, sizeof(*rs));
    if (run_sequence(paths, n, m, u, rs) < 0) {
        msg_warn("%s: sieve: script failed: keeping the message in INBOX", m->log_id);
        for (size_t i = 0; i < rs->nres; i++)
            sieve_result_free(&rs->res[i]);
        rs->nres = 0;
        deffolder = "INBOX";
    }
    if (rs->nres == 0) {
        struct exec_state es;
        memset(&es, 0, sizeof(es));
        if (do_store(l, u, m, deffolder, NULL, 0, &es, r) == 0)
            lmtpd_result_set(r, LMTPD_DELIVERED, "2.0.0", "Saved");
    } else {
        execute(l, u, m, deffolder, rs, r);
    }
    for (size_t i = 0; i < rs->nres; i++)
        sieve_result_free(&rs->res[i]);
    free(rs);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
}
