/*
 * folders.c - the store (one user's Maildir root) and its Maildir++
 * folders as Dovecot lays them out: INBOX is the root, folder "A.B" is the
 * directory ".A.B/" with tmp/ new/ cur/ and a "maildirfolder" file.
 *
 * Names are raw bytes ('.' separates levels; mUTF-7 is the IMAP layer's
 * business). Refused: empty names or components, a leading '.', '/',
 * control characters, more than MSTORE_NAME_MAX bytes. Everything is
 * reached with *at() calls from the root's descriptor with O_NOFOLLOW, and
 * symlinks met while listing or deleting are neither listed nor followed.
 *
 * Also here: the "subscriptions" file (Dovecot 2.x writes "V\t2", an empty
 * line, then one name a line with TAB as the separator; older files are
 * one name a line), special-use attributes from well-known names, and the
 * Maildir++ quota of "maildirsize" (quota.h) with the store's rules.
 */
#include "lib-storage/mstore_int.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void quota_refresh(struct mstore *st);

struct mstore *mstore_open(const char *root, int create, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    struct mstore *st = xcalloc(1, sizeof(*st));
    if (str_copy(st->root, root, sizeof(st->root)) >= sizeof(st->root)) {
        storage_fail(err, ENAMETOOLONG, "4.2.0", "open maildir");
        free(st);
        return NULL;
    }
    st->fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->fd < 0 && errno == ENOENT && create && mkdir_p(root, 0700) == 0)
        st->fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->fd < 0) {
        storage_fail(err, errno, "4.2.0", "open maildir");
        free(st);
        return NULL;
    }
    if (create) {
        static const char *const sub[] = {"tmp", "new", "cur"};
        for (size_t i = 0; i < ARRAY_LEN(sub); i++)
            mkdirat(st->fd, sub[i], 0700);
    }
    return st;
}

void mstore_close(struct mstore *st)
{
    if (!st)
        return;
    close(st->fd);
    free(st->quota);
    free(st);
}

const char *mstore_root(const struct mstore *st)
{
    return st->root;
}

static int is_inbox(const char *name)
{
    return str_ieq(name, "INBOX");
}

int mstore_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > MSTORE_NAME_MAX || name[0] == '.' || name[n - 1] == '.' ||
        strstr(name, "..") || strchr(name, '/'))
        return 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* ".<name>" for a valid non-INBOX name; -1 with errno otherwise. */
static int dir_of(const char *name, char *out, size_t outlen)
{
    if (is_inbox(name) || !mstore_name_ok(name)) {
        errno = is_inbox(name) ? EPERM : EINVAL;
        return -1;
    }
    return str_fmt(out, outlen, ".%s", name) < 0 ? -1 : 0;
}

unsigned mstore_special_use(const char *name)
{
    static const struct { const char *name; unsigned attr; } map[] = {
        {"Sent", MFOLDER_SENT},          {"Sent Messages", MFOLDER_SENT},
        {"Sent Items", MFOLDER_SENT},    {"Drafts", MFOLDER_DRAFTS},
        {"Trash", MFOLDER_TRASH},        {"Deleted Messages", MFOLDER_TRASH},
        {"Deleted Items", MFOLDER_TRASH}, {"Junk", MFOLDER_JUNK},
        {"Spam", MFOLDER_JUNK},          {"Archive", MFOLDER_ARCHIVE},
        {"Archives", MFOLDER_ARCHIVE},
    };
    for (size_t i = 0; i < ARRAY_LEN(map); i++)
        if (str_ieq(name, map[i].name))
            return map[i].attr;
    return 0;
}

/* ---- listing ---- */

struct flist {
    struct mfolder *f;
    size_t n, cap;
};

static void flist_add(struct flist *l, const char *name, unsigned attrs)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->f[i].name, name) == 0) {
            l->f[i].attrs &= attrs | ~(unsigned)MFOLDER_NOSELECT;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->f = xrealloc(l->f, l->cap * sizeof(*l->f));
    }
    str_copy(l->f[l->n].name, name, sizeof(l->f[l->n].name));
    l->f[l->n].attrs = attrs | mstore_special_use(name);
    l->n++;
}

static int cmp_folder(const void *a, const void *b)
{
    const struct mfolder *x = a, *y = b;
    if (is_inbox(x->name) != is_inbox(y->name))
        return is_inbox(x->name) ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* A real folder and each missing parent ("A" for "A.B") as \Noselect. */
static void add_with_parents(struct flist *l, const char *name)
{
    char parent[MSTORE_NAME_MAX + 1];
    str_copy(parent, name, sizeof(parent));
    for (char *dot = strchr(parent, '.'); dot; dot = strchr(dot + 1, '.')) {
        *dot = '\0';
        flist_add(l, parent, MFOLDER_NOSELECT);
        *dot = '.';
    }
    flist_add(l, name, 0);
}

static void mark_children_and_subs(struct mstore *st, struct flist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        size_t len = strlen(l->f[i].name);
        for (size_t j = 0; j < l->n; j++)
            if (strncmp(l->f[j].name, l->f[i].name, len) == 0 && l->f[j].name[len] == '.') {
                l->f[i].attrs |= MFOLDER_CHILDREN;
                break;
            }
    }
    char **subs = NULL;
    size_t ns = 0;
    struct storage_error e;
    if (mstore_subscriptions(st, &subs, &ns, &e) < 0)
        return;
    for (size_t s = 0; s < ns; s++)
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(subs[s], l->f[i].name) == 0 ||
                (is_inbox(subs[s]) && is_inbox(l->f[i].name)))
                l->f[i].attrs |= MFOLDER_SUBSCRIBED;
    mstore_strv_free(subs, ns);
}

int mstore_list(struct mstore *st, struct mfolder **out, size_t *n, struct storage_error *err)
{
    int fd = openat(st->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        storage_fail(err, errno, "4.2.0", "list folders");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct flist l = {0};
    flist_add(&l, "INBOX", 0);
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        if (nm[0] != '.' || !mstore_name_ok(nm + 1) || is_inbox(nm + 1))
            continue;
        struct stat sb;
        if (fstatat(st->fd, nm, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))
            continue;                  /* symlinks and files are not folders */
        add_with_parents(&l, nm + 1);
    }
    closedir(d);
    qsort(l.f, l.n, sizeof(*l.f), cmp_folder);
    mark_children_and_subs(st, &l);
    *out = l.f;
    *n = l.n;
    return 0;
}

/* ---- create, delete, rename ---- */

int mstore_create(struct mstore *st, const char *name, struct storage_error *err)
{
    char dir[MSTORE_NAME_MAX + 2];
    if (dir_of(name, dir, sizeof(dir)) < 0) {
        storage_fail(err, is_inbox(name) ? EEXIST : errno, "5.2.0", "create folder");
        return -1;
    }
    if (mkdirat(st->fd, dir, 0700) < 0) {
        storage_fail(err, errno, "4.2.0", "create folder");
        return -1;
    }
    int dfd = openat(st->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int rc = dfd < 0 ? -1 : 0;
    static const char *const sub[] = {"tmp", "new", "cur"};
    for (size_t i = 0; i < ARRAY_LEN(sub) && rc == 0; i++)
        rc = mkdirat(dfd, sub[i], 0700);
    if (rc == 0) {
        int f = openat(dfd, "maildirfolder", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        rc = f < 0 ? -1 : close(f);
    }
    if (rc == 0)
        rc = fsync(dfd);
    if (rc == 0)
        rc = fsync(st->fd);
    if (rc < 0)
        storage_fail(err, errno, "4.2.0", "create folder");
    if (dfd >= 0)
        close(dfd);
    return rc;
}

/* Remove dirfd/name and everything below it; symlinks are unlinked, never followed. */
static int remove_tree(int dirfd, const char *name, int depth)
{
    if (depth > 8)
        return errno = ELOOP, -1;
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOTDIR || errno == ELOOP ? unlinkat(dirfd, name, 0) : -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, de->d_name, 0) < 0 && (errno == EISDIR || errno == EPERM))
            if (remove_tree(fd, de->d_name, depth + 1) < 0)
                rc = -1;
    }
    closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
        rc = -1;
    return rc;
}

int mstore_delete(struct mstore *st, const char *name, struct storage_error *err)
{
    char dir[MSTORE_NAME_MAX + 2], trash[MSTORE_FILE_MAX];
    if (dir_of(name, dir, sizeof(dir)) < 0) {
        storage_fail(err, errno, "5.2.0", "delete folder");
        return -1;
    }
    /* out of sight first (as Dovecot's "DOVECOT-TRASHED"): ".." names are never listed */
    static unsigned long seq;
    str_fmt(trash, sizeof(trash), "..yubin-deleted.%ld.%lu", (long)getpid(), ++seq);
    struct stat sb = {0};                  /* read below even when fstatat failed */
    if (fstatat(st->fd, dir, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode) ||
        renameat(st->fd, dir, st->fd, trash) < 0) {
        storage_fail(err, S_ISDIR(sb.st_mode) ? errno : ENOENT, "4.2.0", "delete folder");
        return -1;
    }
    if (remove_tree(st->fd, trash, 0) < 0) {
        storage_fail(err, errno, "4.2.0", "delete folder");
        return -1;
    }
    fsync(st->fd);
    quota_refresh(st);
    return 0;
}

int mstore_rename(struct mstore *st, const char *from, const char *to, struct storage_error *err)
{
    char src[MSTORE_NAME_MAX + 2], dst[MSTORE_NAME_MAX + 2];
    if (dir_of(from, src, sizeof(src)) < 0 || dir_of(to, dst, sizeof(dst)) < 0) {
        storage_fail(err, errno, "5.2.0", "rename folder");
        return -1;
    }
    struct mfolder *f = NULL;
    size_t n = 0;
    if (mstore_list(st, &f, &n, err) < 0)
        return -1;
    size_t flen = strlen(from), tlen = strlen(to);
    int rc = 0;
    struct stat sb;
    if (fstatat(st->fd, dst, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        rc = -1, errno = EEXIST;
    if (rc == 0 && strncmp(to, from, flen) == 0 && to[flen] == '.')
        rc = -1, errno = EINVAL;       /* into its own child */
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *nm = f[i].name;
        int self = strcmp(nm, from) == 0;
        int child = strncmp(nm, from, flen) == 0 && nm[flen] == '.';
        if ((!self && !child) || (f[i].attrs & MFOLDER_NOSELECT))
            continue;
        char a[MSTORE_NAME_MAX + 2], b[MSTORE_FILE_MAX];
        str_fmt(a, sizeof(a), ".%s", nm);
        if (tlen + strlen(nm + flen) > MSTORE_NAME_MAX ||
            str_fmt(b, sizeof(b), ".%s%s", to, nm + flen) < 0)
            rc = -1, errno = ENAMETOOLONG;
        else if (fstatat(st->fd, b, &sb, AT_SYMLINK_NOFOLLOW) == 0)
            rc = -1, errno = EEXIST;
        else
            rc = renameat(st->fd, a, st->fd, b);
    }
    free(f);
    if (rc < 0) {
        storage_fail(err, errno, "4.2.0", "rename folder");
        return -1;
    }
    fsync(st->fd);
    if (st->quota && st->quota->nfolders)
        quota_refresh(st);             /* a folder rule may name the old or the new name */
    return 0;
}

/* ---- subscriptions ---- */

void mstore_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

int mstore_subscriptions(struct mstore *st, char ***names, size_t *n, struct storage_error *err)
{
    *names = NULL;
    *n = 0;
    int fd = openat(st->fd, "subscriptions", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    size_t len = 0;
    char *text = fd >= 0 ? read_fd(fd, 1 << 22, &len) : NULL;
    if (fd >= 0)
        close(fd);
    if (!text) {
        storage_fail(err, errno, "4.2.0", "read subscriptions");
        return -1;
    }
    int v2 = strncmp(text, "V\t2\n", 4) == 0;
    size_t cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(v2 ? text + 4 : text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (v2)
            for (char *p = line; *p; p++)
                if (*p == '\t')
                    *p = '.';
        if (!*line || strlen(line) > MSTORE_NAME_MAX)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            *names = xrealloc(*names, cap * sizeof(char *));
        }
        (*names)[(*n)++] = xstrdup(line);
    }
    free(text);
    return 0;
}

int mstore_subscribe(struct mstore *st, const char *name, int on, struct storage_error *err)
{
    if (!is_inbox(name) && !mstore_name_ok(name)) {
        storage_fail(err, EINVAL, "5.2.0", "subscribe");
        return -1;
    }
    if (mstore_dotlock_take(st->fd, "subscriptions.lock", UIDLIST_LOCK_TIMEOUT_MS) < 0) {
        storage_fail(err, errno, "4.2.0", "lock subscriptions");
        return -1;
    }
    char **v = NULL;
    size_t n = 0;
    int rc = mstore_subscriptions(st, &v, &n, err);
    struct buf b;
    buf_init(&b, 1 << 22);
    if (rc == 0)
        rc = buf_puts(&b, "V\t2\n\n");
    int found = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strcmp(v[i], name) == 0) {
            found = 1;
            if (!on)
                continue;
        }
        for (const char *p = v[i]; *p && rc == 0; p++)
            rc = buf_putc(&b, *p == '.' ? '\t' : *p);
        if (rc == 0)
            rc = buf_putc(&b, '\n');
    }
    if (rc == 0 && on && !found) {
        for (const char *p = name; *p && rc == 0; p++)
            rc = buf_putc(&b, *p == '.' ? '\t' : *p);
        if (rc == 0)
            rc = buf_putc(&b, '\n');
    }
    if (rc == 0 && (rc = mstore_file_replace(st->fd, "subscriptions", b.data, b.len, 1)) < 0)
        storage_fail(err, errno, "4.2.0", "write subscriptions");
    buf_free(&b);
    mstore_strv_free(v, n);
    mstore_dotlock_release(st->fd, "subscriptions.lock");
    return rc;
}

/* ---- Maildir++ quota ---- */

int mstore_quota(struct mstore *st, struct mquota *q)
{
    return mquota_get(st->root, st->quota, q) == 0 ? 0 : -1;
}

void mstore_set_quota_rules(struct mstore *st, const struct mquota_rules *r)
{
    free(st->quota);
    st->quota = NULL;
    if (r) {
        st->quota = xmalloc(sizeof(*st->quota));
        *st->quota = *r;
    }
}

const struct mquota_rules *mstore_quota_rules(const struct mstore *st)
{
    return st->quota;
}

void mstore_quota_note(struct mstore *st, const char *folder, long long bytes, long long count)
{
    mquota_note(st->root, folder, st->quota, bytes, count);
}

/* After a folder went away or changed its name: count again (when there is a file). */
static void quota_refresh(struct mstore *st)
{
    struct stat sb;
    struct mquota q;
    if (fstatat(st->fd, MQUOTA_FILE, &sb, AT_SYMLINK_NOFOLLOW) == 0)
        mquota_recalc(st->root, st->quota, &q);
}
