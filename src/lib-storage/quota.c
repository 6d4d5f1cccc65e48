/*
 * quota.c - the Maildir++ quota (quota.h): the maildirsize format, the
 * quota_rule values, reading with recalculation, and the changes every
 * lib-storage writer appends.
 */
#include "lib-storage/quota.h"
#include "lib-storage/mstore_int.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MQUOTA_LOCK_TIMEOUT_MS 10000
#define MQUOTA_NUM_MAX 19                /* digits of one number */

/* Saturating arithmetic: limits from rules may be anything up to LLONG_MAX. */
static long long sat_add(long long a, long long b)
{
    long long r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? LLONG_MAX : LLONG_MIN;
    return r;
}

static long long sat_mul(long long a, long long b)
{
    long long r;
    if (__builtin_mul_overflow(a, b, &r))
        return (a < 0) != (b < 0) ? LLONG_MIN : LLONG_MAX;
    return r;
}

/* ---- the file format ---- */

/* A decimal number (optionally negative) at *p; advances *p. 0, or -1. */
static int parse_num(const char **p, const char *end, int neg_ok, long long *out)
{
    const char *s = *p;
    int neg = 0;
    if (s < end && *s == '-' && neg_ok) {
        neg = 1;
        s++;
    }
    const char *d = s;
    long long v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (s - d >= MQUOTA_NUM_MAX - 1)
            return -1;
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == d)
        return -1;
    *out = neg ? -v : v;
    *p = s;
    return 0;
}

/* "NS,NC" (either, in either order; "" no limits). */
static int parse_limits(const char *s, const char *end, struct mquota_file *f)
{
    while (s < end) {
        long long v;
        if (parse_num(&s, end, 0, &v) < 0 || s >= end)
            return -1;
        if (*s == 'S')
            f->limit_bytes = v;
        else if (*s == 'C')
            f->limit_count = v;
        else
            return -1;
        s++;
        if (s < end && *s++ != ',')
            return -1;
    }
    return 0;
}

/* "<bytes> <count>" (one or more blanks between). */
static int parse_change(const char *s, const char *end, struct mquota_file *f)
{
    long long b, c;
    if (parse_num(&s, end, 1, &b) < 0 || s >= end || *s != ' ')
        return -1;
    while (s < end && *s == ' ')
        s++;
    if (parse_num(&s, end, 1, &c) < 0 || s != end)
        return -1;
    if ((b > 0 && f->bytes > LLONG_MAX - b) || (b < 0 && f->bytes < LLONG_MIN - b) ||
        (c > 0 && f->count > LLONG_MAX - c) || (c < 0 && f->count < LLONG_MIN - c))
        return -1;
    f->bytes += b;
    f->count += c;
    f->lines++;
    return 0;
}

int mquota_parse(const char *text, size_t len, struct mquota_file *f)
{
    memset(f, 0, sizeof(*f));
    if (len == 0 || len > MQUOTA_FILE_MAX || text[len - 1] != '\n')
        return -1;                     /* empty, or a change being written */
    const char *p = text, *end = text + len;
    int first = 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || nl - p > MQUOTA_LINE_MAX)
            return -1;
        int rc = first ? parse_limits(p, nl, f) : parse_change(p, nl, f);
        if (rc < 0)
            return -1;
        first = 0;
        p = nl + 1;
    }
    return 0;
}

int mquota_format_limits(char *out, size_t outlen, long long bytes, long long count)
{
    int n = count > 0 ? snprintf(out, outlen, "%lldS,%lldC\n", bytes, count)
                      : snprintf(out, outlen, "%lldS\n", bytes);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

int mquota_format_change(char *out, size_t outlen, long long bytes, long long count)
{
    int n = snprintf(out, outlen, "%lld %lld\n", bytes, count);
    return n > 0 && (size_t)n < outlen ? n : -1;
}

/* ---- rules ---- */

int mquota_size_parse(const char *s, long long unit_def, long long *out)
{
    const char *p = s;
    long long v;
    if (parse_num(&p, s + strlen(s), 0, &v) < 0)
        return -1;
    long long mul = unit_def;
    if (*p) {
        static const char units[] = "bkmgt";
        const char *u = strchr(units, *p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        if (!u || !*u)
            return -1;
        mul = 1;
        for (const char *k = units; k < u; k++)
            mul *= 1024;
        p++;
        if ((*p == 'B' || *p == 'b') && u != units)
            p++;                       /* "1GB", "100MB" */
        if (*p)
            return -1;
    }
    if (mul > 0 && v > LLONG_MAX / mul)
        return -1;
    *out = v * mul;
    return 0;
}

static struct mquota_folder_rule *folder_rule(struct mquota_rules *r, const char *name,
                                              size_t len)
{
    for (size_t i = 0; i < r->nfolders; i++)
        if (strlen(r->folders[i].name) == len && memcmp(r->folders[i].name, name, len) == 0)
            return &r->folders[i];
    if (r->nfolders >= MQUOTA_FOLDERS || len > MQUOTA_NAME_MAX || len == 0)
        return NULL;
    struct mquota_folder_rule *f = &r->folders[r->nfolders++];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    return f;
}

/* One "key=value" of a rule: into *bytes or *count (relative: "+N", "-N", "N%"). */
static int rule_limit(const char *kv, long long base_b, long long base_c, long long *bytes,
                      long long *count, int rel)
{
    const char *eq = strchr(kv, '=');
    if (!eq)
        return -1;
    size_t klen = (size_t)(eq - kv);
    const char *v = eq + 1;
    int sign = 0;
    if (*v == '+' || *v == '-') {
        sign = *v == '+' ? 1 : -1;
        v++;
    }
    int is_msgs = klen == 8 && memcmp(kv, "messages", 8) == 0;
    int is_bytes = klen == 5 && memcmp(kv, "bytes", 5) == 0;
    if (!is_msgs && !is_bytes && !(klen == 7 && memcmp(kv, "storage", 7) == 0))
        return -1;
    long long n;
    size_t vl = strlen(v);
    if (vl > 0 && v[vl - 1] == '%') {
        char num[MQUOTA_NUM_MAX + 1];
        if (vl - 1 == 0 || vl - 1 > MQUOTA_NUM_MAX)
            return -1;
        memcpy(num, v, vl - 1);
        num[vl - 1] = '\0';
        long long pct;
        if (mquota_size_parse(num, 1, &pct) < 0 || pct > 1000)
            return -1;
        long long b = is_msgs ? base_c : base_b;
        n = sat_add(sat_mul(b / 100, pct), b % 100 * pct / 100);
        if (!sign && rel)
            sign = 1;                  /* a folder's "N%" adds to the default */
    } else if (mquota_size_parse(v, is_msgs || is_bytes ? 1 : 1024, &n) < 0) {
        return -1;
    }
    long long *dst = is_msgs ? count : bytes;
    *dst = sign ? sat_add(*dst, sign * n) : n;
    return 0;
}

int mquota_rule_parse(struct mquota_rules *r, const char *value, char *why, size_t whylen)
{
    const char *colon = strchr(value, ':');
    if (!colon || colon == value || strlen(value) > 2 * MQUOTA_NAME_MAX) {
        str_fmt(why, whylen, "quota_rule \"%s\": expected MAILBOX:LIMIT", value);
        return -1;
    }
    int all = colon - value == 1 && value[0] == '*';
    struct mquota_folder_rule *f = all ? NULL : folder_rule(r, value, (size_t)(colon - value));
    if (!all && !f) {
        str_fmt(why, whylen, "quota_rule \"%s\": too many folder rules", value);
        return -1;
    }
    char buf[2 * MQUOTA_NAME_MAX + 2];
    str_copy(buf, colon + 1, sizeof(buf));
    char *save = NULL;
    for (char *kv = strtok_r(buf, ":", &save); kv; kv = strtok_r(NULL, ":", &save)) {
        int rc = 0;
        if (strcmp(kv, "ignore") == 0 || strcmp(kv, "noenforcing") == 0) {
            if (f)
                f->ignore = strcmp(kv, "ignore") == 0;
        } else if (strncmp(kv, "backend=", 8) == 0) {
            /* Dovecot passes it to the backend; Maildir++ has none */
        } else if (all) {
            rc = rule_limit(kv, 0, 0, &r->bytes, &r->count, 0);
            r->set = 1;
        } else {
            rc = rule_limit(kv, r->bytes, r->count, &f->add_bytes, &f->add_count, 1);
        }
        if (rc < 0) {
            str_fmt(why, whylen, "quota_rule \"%s\": bad limit \"%s\"", value, kv);
            return -1;
        }
    }
    return 0;
}

int mquota_grace_parse(struct mquota_rules *r, const char *value)
{
    size_t n = strlen(value);
    if (n > 1 && n <= 4 && value[n - 1] == '%') {
        char num[8];
        memcpy(num, value, n - 1);
        num[n - 1] = '\0';
        long long v;
        if (mquota_size_parse(num, 1, &v) < 0 || v > 1000)
            return -1;
        r->grace_percent = (int)v;
        r->grace_bytes = 0;
        return 0;
    }
    r->grace_percent = 0;
    return mquota_size_parse(value, 1, &r->grace_bytes);
}

int mquota_warning_parse(struct mquota_rules *r, const char *value)
{
    /* "storage=90%% quota-warning 90 %u": the first word is the threshold */
    const char *p = value;
    while (*p == ' ')
        p++;
    if (strncmp(p, "-storage=", 9) == 0)
        return -1;                     /* a warning for going below: not done */
    if (strncmp(p, "storage=", 8) != 0 && strncmp(p, "messages=", 9) != 0)
        return -1;
    p = strchr(p, '=') + 1;
    long long v;
    if (parse_num(&p, p + strlen(p), 0, &v) < 0 || *p != '%' || v < 1 || v > 100)
        return -1;
    r->warn_percent = (int)v;
    return 0;
}

int mquota_ignored(const struct mquota_rules *r, const char *folder)
{
    if (!r || !folder)
        return 0;
    INVARIANT(r->nfolders <= MQUOTA_FOLDERS);
    if (r->inbox_only && !str_ieq(folder, "INBOX"))
        return 1;
    for (size_t i = 0; i < r->nfolders; i++)
        if (r->folders[i].ignore &&
            (strcmp(r->folders[i].name, folder) == 0 ||
             (str_ieq(folder, "INBOX") && str_ieq(r->folders[i].name, "INBOX"))))
            return 1;
    return 0;
}

static struct mquota_rules default_rules;
static int have_default;

void mquota_set_default(const struct mquota_rules *r)
{
    have_default = r != NULL;
    if (r)
        default_rules = *r;
}

const struct mquota_rules *mquota_default(void)
{
    return have_default ? &default_rules : NULL;
}

static const struct mquota_rules *rules_or_default(const struct mquota_rules *r)
{
    return r ? r : mquota_default();
}

/* ---- recalculation ---- */

/* Sum one folder's new/ and cur/ (sizes from S= when present). */
static void sum_folder(int rootfd, const char *dir, long long *bytes, long long *count)
{
    static const char *const sub[] = {"new", "cur"};
    for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
        char path[MSTORE_FILE_MAX];
        str_fmt(path, sizeof(path), "%s/%s", dir, sub[i]);
        int fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        if (!d) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            const char *s = strstr(e->d_name, ",S=");
            long long size = -1;
            const char *p = s ? s + 3 : NULL;
            if (!p || parse_num(&p, p + strlen(p), 0, &size) < 0) {
                struct stat sb;
                if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
                    continue;          /* expunged meanwhile */
                size = (long long)sb.st_size;
            }
            *bytes += size;
            (*count)++;
        }
        closedir(d);
    }
}

/* Every counted folder of the Maildir at rootfd. */
static int sum_all(int rootfd, const struct mquota_rules *r, long long *bytes, long long *count)
{
    *bytes = *count = 0;
    if (!mquota_ignored(r, "INBOX"))
        sum_folder(rootfd, ".", bytes, count);
    int fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (n[0] != '.' || n[1] == '\0' || n[1] == '.')   /* ".." and removals under way */
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (!mquota_ignored(r, n + 1))
            sum_folder(rootfd, n, bytes, count);
    }
    closedir(d);
    return 0;
}

static int open_root(const char *root)
{
    return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Read and parse rootfd/maildirsize: 0 parsed, -1 malformed, -2 missing; size in *size. */
static int quota_file_read(int rootfd, struct mquota_file *f, off_t *size)
{
    memset(f, 0, sizeof(*f));
    *size = 0;
    int fd = openat(rootfd, MQUOTA_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? -2 : -1;
    struct stat sb;
    if (fstat(fd, &sb) == 0)
        *size = sb.st_size;
    size_t len = 0;
    char *text = read_fd(fd, MQUOTA_FILE_MAX + 1, &len);
    close(fd);
    if (!text)
        return -1;
    int rc = mquota_parse(text, len, f);
    if (rc < 0) {
        /* keep what the limit line said, for the recalculation */
        const char *nl = memchr(text, '\n', len);
        struct mquota_file lim;
        memset(&lim, 0, sizeof(lim));
        if (nl && parse_limits(text, nl, &lim) == 0) {
            f->limit_bytes = lim.limit_bytes;
            f->limit_count = lim.limit_count;
        }
    }
    free(text);
    return rc;
}

static int recalc_at(int rootfd, const struct mquota_rules *r, const struct mquota_file *old,
                     struct mquota *q)
{
    q->limit_bytes = r && r->set ? r->bytes : old->limit_bytes;
    q->limit_count = r && r->set ? r->count : old->limit_count;
    int locked = mstore_dotlock_take(rootfd, MQUOTA_LOCK, MQUOTA_LOCK_TIMEOUT_MS) == 0;
    int rc = sum_all(rootfd, r, &q->bytes, &q->count);
    if (rc == 0 && locked) {
        char text[2 * MQUOTA_LINE_MAX];
        int a = mquota_format_limits(text, sizeof(text), q->limit_bytes, q->limit_count);
        int b = a < 0 ? -1 : mquota_format_change(text + a, sizeof(text) - (size_t)a, q->bytes,
                                                   q->count);
        if (b < 0 || mstore_file_replace(rootfd, MQUOTA_FILE, text, (size_t)(a + b), 0) < 0)
            msg_warn("maildirsize: cannot rewrite: %s", strerror(errno));
    }
    if (locked)
        mstore_dotlock_release(rootfd, MQUOTA_LOCK);
    return rc;
}

int mquota_recalc(const char *root, const struct mquota_rules *r, struct mquota *q)
{
    memset(q, 0, sizeof(*q));
    r = rules_or_default(r);
    int rootfd = open_root(root);
    if (rootfd < 0)
        return -1;
    struct mquota_file old;
    off_t size;
    quota_file_read(rootfd, &old, &size);
    int rc = recalc_at(rootfd, r, &old, q);
    close(rootfd);
    return rc;
}

/* Dovecot's reasons to recalculate an existing file. */
static int stale(int rc, const struct mquota_file *f, off_t size, const struct mquota_rules *r)
{
    return rc < 0 || size > MQUOTA_RECALC_SIZE || f->bytes < 0 || f->count < 0 ||
           (r && r->set && (f->limit_bytes != r->bytes || f->limit_count != r->count));
}

int mquota_get(const char *root, const struct mquota_rules *r, struct mquota *q)
{
    memset(q, 0, sizeof(*q));
    r = rules_or_default(r);
    int rootfd = open_root(root);
    if (rootfd < 0 && errno == ENOENT && r && r->set) {
        q->limit_bytes = r->bytes;     /* no Maildir yet: nothing used */
        q->limit_count = r->count;
        return 0;
    }
    if (rootfd < 0)
        return errno == ENOENT ? 1 : -1;
    struct mquota_file f;
    off_t size;
    int rc = quota_file_read(rootfd, &f, &size);
    int out = 0;
    if (rc == -2 && !(r && r->set)) {
        out = 1;                       /* no quota at all */
    } else if (rc == -2 || stale(rc, &f, size, r)) {
        out = recalc_at(rootfd, r, &f, q);
    } else {
        q->limit_bytes = f.limit_bytes;
        q->limit_count = f.limit_count;
        q->bytes = f.bytes;
        q->count = f.count;
    }
    close(rootfd);
    return out;
}

int mquota_read(const char *root, struct mquota *q)
{
    memset(q, 0, sizeof(*q));
    int rootfd = open_root(root);
    if (rootfd < 0)
        return -1;
    struct mquota_file f;
    off_t size;
    int rc = quota_file_read(rootfd, &f, &size);
    close(rootfd);
    if (rc < 0)
        return -1;
    q->limit_bytes = f.limit_bytes;
    q->limit_count = f.limit_count;
    q->bytes = f.bytes;
    q->count = f.count;
    return 0;
}

static const struct mquota_folder_rule *find_rule(const struct mquota_rules *r, const char *f)
{
    for (size_t i = 0; r && f && i < r->nfolders; i++)
        if (strcmp(r->folders[i].name, f) == 0)
            return &r->folders[i];
    return NULL;
}

int mquota_over(const struct mquota *q, const struct mquota_rules *r, const char *folder,
                long long size)
{
    r = rules_or_default(r);
    if (mquota_ignored(r, folder))
        return 0;
    const struct mquota_folder_rule *fr = find_rule(r, folder);
    long long lb = q->limit_bytes, lc = q->limit_count;
    if (fr && lb > 0)
        lb = sat_add(lb, fr->add_bytes);
    if (fr && lc > 0)
        lc = sat_add(lc, fr->add_count);
    if (lc > 0 && sat_add(q->count, 1) > lc)
        return 1;
    long long after = sat_add(q->bytes, size);
    if (lb <= 0 || after <= lb)
        return 0;
    long long grace = 0;
    if (r)
        grace = r->grace_percent ? sat_mul(lb / 100, r->grace_percent) : r->grace_bytes;
    /* Dovecot's grace: the last message may bring a user under the limit over it */
    return !(grace > 0 && q->bytes < lb && after <= sat_add(lb, grace));
}

/* ---- changes ---- */

static mquota_warn_fn *warn_hook;
static void *warn_ctx;

void mquota_set_warn_hook(mquota_warn_fn *fn, void *ctx)
{
    warn_hook = fn;
    warn_ctx = ctx;
}

static int crossed(long long before, long long after, long long limit, int pct)
{
    long long mark = sat_mul(limit, pct);
    return limit > 0 && sat_mul(before, 100) < mark && sat_mul(after, 100) >= mark;
}

/* After a change: recalculate an oversized file, tell of a crossed threshold. */
static int after_change(int rootfd, const char *root, const struct mquota_rules *r,
                        long long bytes, long long count)
{
    struct mquota_file f;
    off_t size;
    int rc = quota_file_read(rootfd, &f, &size);
    struct mquota q = {f.limit_bytes, f.limit_count, f.bytes, f.count};
    if (stale(rc, &f, size, NULL) && recalc_at(rootfd, r, &f, &q) < 0)
        return 0;
    int pct = r ? r->warn_percent : 0;
    if (pct <= 0 || (bytes <= 0 && count <= 0))
        return 0;
    if (!crossed(q.bytes - bytes, q.bytes, q.limit_bytes, pct) &&
        !crossed(q.count - count, q.count, q.limit_count, pct))
        return 0;
    if (warn_hook)
        warn_hook(warn_ctx, root, &q, pct);
    return 1;
}

int mquota_note(const char *root, const char *folder, const struct mquota_rules *r,
                long long bytes, long long count)
{
    r = rules_or_default(r);
    if ((bytes == 0 && count == 0) || mquota_ignored(r, folder))
        return 0;
    int rootfd = open_root(root);
    if (rootfd < 0)
        return 0;
    int fd = openat(rootfd, MQUOTA_FILE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    int out = 0;
    if (fd >= 0) {
        char line[MQUOTA_LINE_MAX];
        int n = mquota_format_change(line, sizeof(line), bytes, count);
        /* one write of one short line: O_APPEND keeps concurrent writers whole */
        if (n < 0 || write(fd, line, (size_t)n) != n)
            msg_warn("%s: cannot update %s: %s", root, MQUOTA_FILE, strerror(errno));
        close(fd);
        out = after_change(rootfd, root, r, bytes, count);
    } else if (errno == ENOENT && r && r->set) {
        /* a quota is known and the Maildir is new: the file starts with this change counted */
        struct mquota_file none;
        struct mquota q;
        memset(&none, 0, sizeof(none));
        recalc_at(rootfd, r, &none, &q);
    }
    close(rootfd);
    return out;
}

void mquota_warning_message(struct buf *b, const char *from, const char *rcpt,
                            const struct mquota *q, int percent)
{
    buf_printf(b, "From: %s\nTo: <%s>\nSubject: Quota warning: %d%% of your mailbox used\n"
                  "Auto-Submitted: auto-generated\nPrecedence: bulk\n"
                  "Content-Type: text/plain; charset=us-ascii\n\n",
               from, rcpt, percent);
    buf_printf(b, "Your mailbox has used %d%% of its quota.\n\n", percent);
    if (q->limit_bytes > 0)
        buf_printf(b, "Storage: %lld of %lld bytes\n", q->bytes, q->limit_bytes);
    if (q->limit_count > 0)
        buf_printf(b, "Messages: %lld of %lld\n", q->count, q->limit_count);
    buf_puts(b, "\nPlease delete messages you no longer need, or mail that arrives\n"
                "later may be refused.\n");
}
