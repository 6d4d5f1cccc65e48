/*
 * scripts.c - a user's Sieve scripts as Pigeonhole keeps them (see
 * managesieved.h): NAME.sieve files in sieve_dir (~/sieve) and the active
 * one as the symlink the `sieve` setting names (~/.dovecot.sieve ->
 * sieve/NAME.sieve), which is the file lmtpd and `yubin deliver` run.
 *
 * Owns: the paths (expanded like mail_location: ~, %u %n %d %h), the
 * directory opened once and every script reached with openat() and
 * O_NOFOLLOW below it (a name was validated by managesieved_name_ok: no
 * "/", no leading "."), writing a script through a temporary file and
 * rename() after fsync, and replacing the active link atomically (a new
 * symlink renamed over the old one). A regular file at the link's place
 * (a script written by hand, as the quick start's) becomes the script
 * "dovecot.orig" at the first activation, as Pigeonhole imports it.
 */
#include "managesieved/managesieved.h"

#include "lib-login/mailloc.h"
#include "managesieved/msieve_parse.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX ".sieve"
#define SUFFIX_LEN 6
#define ORIG_NAME "dovecot.orig"     /* where a hand-written active script is kept */

struct msieve_store {
    char dir[MAILLOC_PATH_MAX];      /* sieve_dir */
    char link[MAILLOC_PATH_MAX];     /* the active script's symlink */
    char target_prefix[MAILLOC_PATH_MAX];  /* what the link holds before NAME.sieve */
    int dfd;
};

/* The `sieve` setting as a path: "file:" and ";options" dropped (as lmtpd reads it). */
static int expand(const char *spec, const char *user, const char *home, char *out,
                  size_t outlen, const char **why)
{
    if (strncmp(spec, "file:", 5) == 0)
        spec += 5;
    char tmp[MAILLOC_PATH_MAX];
    size_t n = strcspn(spec, ";");
    if (n == 0 || n >= sizeof(tmp)) {
        *why = "empty or too long";
        return -1;
    }
    memcpy(tmp, spec, n);
    tmp[n] = '\0';
    return login_mailloc_expand(tmp, user, home, out, outlen, why);
}

/* The link holds "sieve/" when sieve_dir is beside it (as Pigeonhole writes it), else the path. */
static void target_prefix(struct msieve_store *st)
{
    const char *slash = strrchr(st->link, '/');
    size_t dl = slash ? (size_t)(slash - st->link) + 1 : 0;
    if (dl && strncmp(st->dir, st->link, dl) == 0 && st->dir[dl])
        str_fmt(st->target_prefix, sizeof(st->target_prefix), "%s/", st->dir + dl);
    else
        str_fmt(st->target_prefix, sizeof(st->target_prefix), "%s/", st->dir);
}

struct msieve_store *managesieved_store_open(const struct managesieved_settings *set,
                                             const char *user, const char *home,
                                             const char **why)
{
    struct msieve_store *st = xcalloc(1, sizeof(*st));
    st->dfd = -1;
    if (expand(set->sieve_dir, user, home, st->dir, sizeof(st->dir), why) < 0 ||
        expand(set->sieve, user, home, st->link, sizeof(st->link), why) < 0) {
        free(st);
        return NULL;
    }
    size_t n = strlen(st->dir);
    while (n > 1 && st->dir[n - 1] == '/')
        st->dir[--n] = '\0';
    if (mkdir(st->dir, 0700) < 0 && errno != EEXIST) {
        *why = "cannot create sieve_dir";
        free(st);
        return NULL;
    }
    st->dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (st->dfd < 0) {
        *why = "cannot open sieve_dir";
        free(st);
        return NULL;
    }
    target_prefix(st);
    return st;
}

void managesieved_store_close(struct msieve_store *st)
{
    if (!st)
        return;
    if (st->dfd >= 0)
        close(st->dfd);
    free(st);
}

static int file_name(const char *name, char *out, size_t outlen)
{
    return str_fmt(out, outlen, "%s" SUFFIX, name);
}

/* The active script's name into out ("" none). */
static void active_name(struct msieve_store *st, char *out, size_t outlen)
{
    char t[MAILLOC_PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink(st->link, t, sizeof(t) - 1);
    if (n <= 0)
        return;
    t[n] = '\0';
    size_t pl = strlen(st->target_prefix);
    if (strncmp(t, st->target_prefix, pl) != 0)
        return;
    const char *f = t + pl;
    size_t fl = strlen(f);
    if (fl <= SUFFIX_LEN || strcmp(f + fl - SUFFIX_LEN, SUFFIX) != 0 || strchr(f, '/'))
        return;
    if (fl - SUFFIX_LEN < outlen) {
        memcpy(out, f, fl - SUFFIX_LEN);
        out[fl - SUFFIX_LEN] = '\0';
    }
}

int managesieved_store_is_active(struct msieve_store *st, const char *name)
{
    char a[MAILLOC_PATH_MAX];
    active_name(st, a, sizeof(a));
    return a[0] && strcmp(a, name) == 0;
}

char **managesieved_store_list(struct msieve_store *st, size_t *n, char **active)
{
    char a[MAILLOC_PATH_MAX];
    active_name(st, a, sizeof(a));
    *active = a[0] ? xstrdup(a) : NULL;
    size_t cap = 16;
    char **v = xcalloc(cap + 1, sizeof(char *));
    *n = 0;
    int fd = dup(st->dfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return v;
    }
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' || l <= SUFFIX_LEN || strcmp(e->d_name + l - SUFFIX_LEN, SUFFIX))
            continue;
        if (*n == cap) {
            cap *= 2;
            v = xrealloc(v, (cap + 1) * sizeof(char *));
        }
        v[(*n)++] = xstrndup(e->d_name, l - SUFFIX_LEN);
        v[*n] = NULL;
    }
    closedir(d);
    return v;
}

void managesieved_store_usage(struct msieve_store *st, const char *name, uint64_t *bytes,
                              size_t *count, long long *own)
{
    char *active;
    size_t n;
    char **v = managesieved_store_list(st, &n, &active);
    free(active);
    *bytes = 0;
    *count = n;
    *own = -1;
    for (size_t i = 0; i < n; i++) {
        char f[MSIEVE_NAME_BYTES];
        struct stat sb;
        if (file_name(v[i], f, sizeof(f)) < 0 ||
            fstatat(st->dfd, f, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        *bytes += (uint64_t)sb.st_size;
        if (name && strcmp(v[i], name) == 0)
            *own = (long long)sb.st_size;
    }
    strv_free(v);
}

int managesieved_store_get(struct msieve_store *st, const char *name, struct buf *out)
{
    char f[MSIEVE_NAME_BYTES];
    if (file_name(name, f, sizeof(f)) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = openat(st->dfd, f, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char b[16384];
    ssize_t r;
    while ((r = read(fd, b, sizeof(b))) > 0)
        if (buf_append(out, b, (size_t)r) < 0) {
            r = -1;
            errno = EFBIG;
            break;
        }
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? -1 : 0;
}

int managesieved_store_put(struct msieve_store *st, const char *name, const char *text,
                           size_t len)
{
    char f[MSIEVE_NAME_BYTES], tmp[MSIEVE_NAME_BYTES + 32];
    if (file_name(name, f, sizeof(f)) < 0 ||
        str_fmt(tmp, sizeof(tmp), ".tmp.%ld.%s", (long)getpid(), f) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = openat(st->dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int ok = off == len && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || renameat(st->dfd, tmp, st->dfd, f) < 0) {
        e = ok ? errno : e;
        unlinkat(st->dfd, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
}

int managesieved_store_delete(struct msieve_store *st, const char *name)
{
    char f[MSIEVE_NAME_BYTES];
    if (file_name(name, f, sizeof(f)) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return unlinkat(st->dfd, f, 0);
}

/* Point the link at name's file ("" removes it), atomically. */
static int link_to(struct msieve_store *st, const char *name)
{
    struct stat sb;
    if (lstat(st->link, &sb) == 0 && !S_ISLNK(sb.st_mode)) {
        /* a script written by hand: kept as the script "dovecot.orig", as Pigeonhole does */
        if (!S_ISREG(sb.st_mode) ||
            renameat2(AT_FDCWD, st->link, st->dfd, ORIG_NAME SUFFIX, RENAME_NOREPLACE) < 0) {
            errno = EEXIST;
            return -1;
        }
    }
    if (!*name)
        return unlink(st->link) < 0 && errno != ENOENT ? -1 : 0;
    char target[MAILLOC_PATH_MAX + MSIEVE_NAME_BYTES], tmp[MAILLOC_PATH_MAX + 32];
    if (str_fmt(target, sizeof(target), "%s%s" SUFFIX, st->target_prefix, name) < 0 ||
        str_fmt(tmp, sizeof(tmp), "%s.tmp.%ld", st->link, (long)getpid()) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    unlink(tmp);
    if (symlink(target, tmp) < 0)
        return -1;
    if (rename(tmp, st->link) < 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

int managesieved_store_activate(struct msieve_store *st, const char *name)
{
    if (*name) {
        char f[MSIEVE_NAME_BYTES];
        struct stat sb;
        if (file_name(name, f, sizeof(f)) < 0 ||
            fstatat(st->dfd, f, &sb, AT_SYMLINK_NOFOLLOW) < 0)
            return -1;
    }
    return link_to(st, name);
}

int managesieved_store_rename(struct msieve_store *st, const char *from, const char *to)
{
    char f[MSIEVE_NAME_BYTES], t[MSIEVE_NAME_BYTES];
    if (file_name(from, f, sizeof(f)) < 0 || file_name(to, t, sizeof(t)) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int was_active = managesieved_store_is_active(st, from);
    if (renameat2(st->dfd, f, st->dfd, t, RENAME_NOREPLACE) < 0)
        return -1;
    if (was_active && link_to(st, to) < 0)
        return -1;
    return 0;
}
