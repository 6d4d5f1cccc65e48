/*
 * mview.c - one folder's view: opening it, and the sync that reconciles
 * yubin.index with the Maildir and dovecot-uidlist.
 *
 * Cheap path: when yubin.index, dovecot-uidlist and the mtimes of new/
 * and cur/ are what the index recorded, the index is the truth and the
 * directory is not read. An mtime within the last MVIEW_DIRTY_SEC seconds
 * is recorded as 0 (Dovecot's rule: a change in the same clock tick would
 * not move the mtime), so such a directory is read again next time.
 *
 * Full sync, under dovecot-uidlist.lock: files in new/ are moved to cur/
 * (":2," added, base name kept); cur/ is read until its mtime holds still
 * across the read; files are matched to UIDs by base name; unknown files
 * get the next UIDs in name order and the uidlist is extended (fsync)
 * before the lock is released, so a UID is durable before anyone sees
 * it; files gone are dropped from the uidlist (only when the read was
 * stable: a file renamed during readdir must not look expunged). Changed
 * flags get one new MODSEQ per sync. The differences from the previous
 * view state are queued in v->pending for mview_sync() to return.
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MVIEW_DIRTY_SEC 2
#define MVIEW_SCAN_TRIES 3

/* ---- sorted UID sets ---- */

static long uidset_pos(const uint32_t *a, size_t n, uint32_t uid, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (a[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n && a[lo] == uid;
    return (long)lo;
}

void mstore_uidset_put(uint32_t **a, size_t *n, size_t *cap, uint32_t uid)
{
    int found;
    long pos = uidset_pos(*a, *n, uid, &found);
    if (found)
        return;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *a = xrealloc(*a, *cap * sizeof(**a));
    }
    memmove(*a + pos + 1, *a + pos, (*n - (size_t)pos) * sizeof(**a));
    (*a)[pos] = uid;
    (*n)++;
}

static int uidset_del(uint32_t *a, size_t *n, uint32_t uid)
{
    int found;
    long pos = uidset_pos(a, *n, uid, &found);
    if (!found)
        return 0;
    memmove(a + pos, a + pos + 1, (*n - (size_t)pos - 1) * sizeof(*a));
    (*n)--;
    return 1;
}

void mview_pending_expunge(struct mview *v, uint32_t uid, int *reported)
{
    struct mview_changes *p = &v->pending;
    uidset_del(p->changed, &p->nchanged, uid);
    if (uidset_del(p->added, &p->nadded, uid)) {
        *reported = 0;                 /* never shown: nothing to expunge */
        return;
    }
    *reported = 1;
}

void mview_pending_add(struct mview *v, uint32_t uid)
{
    mstore_uidset_put(&v->pending.added, &v->pending.nadded, &v->cap_add, uid);
}

static void pending_change(struct mview *v, uint32_t uid)
{
    int found;
    uidset_pos(v->pending.added, v->pending.nadded, uid, &found);
    if (!found)
        mstore_uidset_put(&v->pending.changed, &v->pending.nchanged, &v->cap_chg, uid);
}

/* Queue the differences between the view's state and the new one. */
static void diff_into_pending(struct mview *v, const struct mindex *nw)
{
    if (v->ix.uidvalidity && nw->uidvalidity != v->ix.uidvalidity) {
        mview_changes_free(&v->pending);
        v->cap_exp = v->cap_add = v->cap_chg = 0;
        v->pending.uidvalidity_changed = 1;
        for (size_t i = 0; i < nw->n; i++)
            mview_pending_add(v, nw->m[i].uid);
        return;
    }
    size_t i = 0, j = 0;
    while (i < v->ix.n || j < nw->n) {
        const struct mmsg *a = i < v->ix.n ? &v->ix.m[i] : NULL;
        const struct mmsg *b = j < nw->n ? &nw->m[j] : NULL;
        if (a && (!b || a->uid < b->uid)) {
            int reported;
            mview_pending_expunge(v, a->uid, &reported);
            if (reported)
                mstore_uidset_put(&v->pending.expunged, &v->pending.nexpunged, &v->cap_exp, a->uid);
            i++;
        } else if (b && (!a || b->uid < a->uid)) {
            mview_pending_add(v, b->uid);
            j++;
        } else {
            if (a->flags != b->flags || a->keywords != b->keywords)
                pending_change(v, a->uid);
            i++;
            j++;
        }
    }
}

/* ---- locking ---- */

int mview_lock(struct mview *v, struct storage_error *err)
{
    if (mstore_dotlock_take(v->dirfd, UIDLIST_LOCK, UIDLIST_LOCK_TIMEOUT_MS) == 0)
        return 0;
    storage_fail(err, errno, "4.2.0", "lock dovecot-uidlist");
    return -1;
}

void mview_unlock(struct mview *v)
{
    mstore_dotlock_release(v->dirfd, UIDLIST_LOCK);
}

/* ---- reading the directory ---- */

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The mtime to record: 0 when it is too recent to be trusted. */
static int64_t trusted_mtime(const struct stat *st)
{
    if (st->st_mtim.tv_sec >= time(NULL) - MVIEW_DIRTY_SEC)
        return 0;
    return ns_of(&st->st_mtim);
}

int mstore_same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size &&
           ns_of(&a->st_mtim) == ns_of(&b->st_mtim);
}

struct names {
    char **v;
    size_t n, cap;
};

static void names_free(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* The entries of dirfd/sub (no dot files). */
static int read_names(int dirfd, const char *sub, struct names *l)
{
    int fd = openat(dirfd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= MSTORE_FILE_MAX)
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 256;
            l->v = xrealloc(l->v, l->cap * sizeof(char *));
        }
        l->v[l->n++] = xstrdup(de->d_name);
    }
    closedir(d);
    return 0;
}

/* Move everything in new/ to cur/; the number of files found, or -1. */
static int move_new(struct mview *v)
{
    struct names l = {0};
    if (read_names(v->dirfd, "new", &l) < 0)
        return -1;
    for (size_t i = 0; i < l.n; i++) {
        char target[MSTORE_FILE_MAX + 8];
        str_fmt(target, sizeof(target), "%s%s", l.v[i], strchr(l.v[i], ':') ? "" : ":2,");
        if (renameat2(v->newfd, l.v[i], v->curfd, target, RENAME_NOREPLACE) < 0 &&
            errno == EINVAL)
            renameat(v->newfd, l.v[i], v->curfd, target);
    }
    int n = (int)l.n;
    names_free(&l);
    return n;
}

int mview_find_base(struct mview *v, const char *base, size_t baselen, char *out, size_t outlen)
{
    struct names l = {0};
    int rc = -1;
    if (read_names(v->dirfd, "cur", &l) < 0)
        return -1;
    for (size_t i = 0; i < l.n && rc < 0; i++)
        if (strncmp(l.v[i], base, baselen) == 0 && (l.v[i][baselen] == ':' || !l.v[i][baselen])) {
            str_copy(out, l.v[i], outlen);
            rc = 0;
        }
    names_free(&l);
    return rc;
}

/* ---- building the new state ---- */

struct build {
    struct mview *v;
    struct mindex *old, *nw;
    uint64_t modseq;                      /* this sync's MODSEQ, taken on first need */
};

static uint64_t build_modseq(struct build *b)
{
    if (!b->modseq)
        b->modseq = mindex_next_modseq(b->nw);
    return b->modseq;
}

static const struct mmsg *old_rec(const struct mindex *ix, uint32_t uid)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ix->m[mid].uid < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && ix->m[lo].uid == uid ? &ix->m[lo] : NULL;
}

/* A message the index did not know: sizes and date from the name and a stat(). */
static int fill_new(struct build *b, struct mmsg *m, const char *name, size_t bl)
{
    struct stat sb;
    if (fstatat(b->v->curfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
        return -1;                     /* gone meanwhile, or a symlink: not a message */
    mname_parse(name, &m->flags, &m->keywords, &m->baselen);
    mname_sizes(name, bl, &m->size, &m->vsize);
    if (!m->size)
        m->size = (uint64_t)sb.st_size;
    m->internaldate = sb.st_mtim.tv_sec;
    m->name = xstrdup(name);
    m->modseq = build_modseq(b);
    return 0;
}

/* A file whose base name the uidlist knows. */
static void known_file(struct build *b, uint32_t uid, const char *name, size_t bl)
{
    const struct mmsg *o = old_rec(b->old, uid);
    struct mmsg m;
    memset(&m, 0, sizeof(m));
    if (!o) {
        m.uid = uid;
        if (fill_new(b, &m, name, bl) == 0)
            mindex_push(b->nw, &m);
        return;
    }
    m = *o;
    m.name = xstrdup(name);
    if (strcmp(o->name, name) != 0) {
        mname_parse(name, &m.flags, &m.keywords, &m.baselen);
        if (m.flags != o->flags || m.keywords != o->keywords)
            m.modseq = build_modseq(b);
    }
    mindex_push(b->nw, &m);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_uid(const void *a, const void *b)
{
    const struct mmsg *x = a, *y = b;
    return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int same_base(const char *a, const char *b, size_t bl)
{
    return strncmp(a, b, bl) == 0 && (a[bl] == ':' || a[bl] == '\0');
}

/* Files in cur/ against the uidlist: known ones, new ones (new UIDs), gone ones. */
static int match_files(struct build *b, struct names *cur, int stable, int *ul_changed)
{
    struct uidlist *ul = &b->v->ul;
    struct uidlist_index ulx;
    uidlist_index(ul, &ulx);
    char *seen = xcalloc(ul->n + 1, 1);
    struct names fresh = {0};
    if (cur->n > 1)
        qsort(cur->v, cur->n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < cur->n; i++) {
        size_t bl = strcspn(cur->v[i], ":");
        long k = uidlist_lookup(ul, &ulx, cur->v[i], bl);
        if (k >= 0 && !seen[k]) {
            seen[k] = 1;
            known_file(b, ul->e[k].uid, cur->v[i], bl);
        } else if (k < 0) {
            /* names of one base sort next to each other: number the base once */
            if (fresh.n > 0 && same_base(fresh.v[fresh.n - 1], cur->v[i], bl))
                continue;
            if (fresh.n == fresh.cap) {
                fresh.cap = fresh.cap ? fresh.cap * 2 : 64;
                fresh.v = xrealloc(fresh.v, fresh.cap * sizeof(char *));
            }
            fresh.v[fresh.n++] = cur->v[i];
        }
    }
    size_t kept = 0, nold = ul->n;
    for (size_t k = 0; k < nold; k++) {
        if (seen[k] || !stable) {
            const struct mmsg *o = seen[k] ? NULL : old_rec(b->old, ul->e[k].uid);
            if (o) {                    /* unstable read: keep what we knew */
                struct mmsg m = *o;
                m.name = xstrdup(o->name);
                mindex_push(b->nw, &m);
            }
            ul->e[kept++] = ul->e[k];
        } else {
            free(ul->e[k].ext);
            free(ul->e[k].base);
            *ul_changed = 1;
        }
    }
    ul->n = kept;
    size_t first_new = ul->n;
    if (ul->next_uid == 0)
        ul->next_uid = 1;
    for (size_t i = 0; i < fresh.n; i++) {
        struct mmsg m;
        memset(&m, 0, sizeof(m));
        m.uid = ul->next_uid;
        size_t bl = strcspn(fresh.v[i], ":");
        if (fill_new(b, &m, fresh.v[i], bl) < 0)
            continue;
        uidlist_add(ul, m.uid, fresh.v[i], bl);
        mindex_push(b->nw, &m);
    }
    if (ul->n > first_new && !*ul_changed)
        *ul_changed = 2;               /* only additions: append */
    free(fresh.v);
    free(seen);
    uidlist_index_free(&ulx);
    if (b->nw->n > 1)
        qsort(b->nw->m, b->nw->n, sizeof(*b->nw->m), cmp_uid);
    return (int)first_new;
}

/* Read new/ and cur/ and rebuild b->nw from them. */
static int scan(struct build *b, struct storage_error *err)
{
    struct mview *v = b->v;
    struct stat sn, sc, sc2;
    v->scans++;
    int found = 1;
    for (int round = 0; round < 5 && found > 0; round++) {
        if (fstat(v->newfd, &sn) < 0 || (found = move_new(v)) < 0)
            goto fail;
    }
    struct names cur = {0};
    int stable = 0;
    for (int round = 0; round < MVIEW_SCAN_TRIES && !stable; round++) {
        names_free(&cur);
        if (fstat(v->curfd, &sc) < 0 || read_names(v->dirfd, "cur", &cur) < 0 ||
            fstat(v->curfd, &sc2) < 0) {
            names_free(&cur);
            goto fail;
        }
        stable = ns_of(&sc.st_mtim) == ns_of(&sc2.st_mtim);
    }
    if (stable && trusted_mtime(&sc) == 0 && read_names(v->dirfd, "cur", &cur) < 0) {
        /*
         * Changed within the clock's resolution: a rename during the read
         * may not have moved the mtime. A second read, added to the first,
         * keeps a message renamed meanwhile from looking expunged (two
         * names of one base are one message to match_files()).
         */
        names_free(&cur);
        goto fail;
    }
    int ul_changed = v->ul.uidvalidity == 0;
    int first_new = match_files(b, &cur, stable, &ul_changed);
    names_free(&cur);
    int rc = 0;
    if (ul_changed == 2)
        rc = uidlist_append(v->dirfd, &v->ul, (size_t)first_new);
    else if (ul_changed)
        rc = uidlist_write(v->dirfd, &v->ul);
    if (rc < 0) {
        storage_fail(err, errno, "4.2.0", "write dovecot-uidlist");
        return -1;
    }
    b->nw->new_mtime_ns = found == 0 ? trusted_mtime(&sn) : 0;
    b->nw->cur_mtime_ns = stable ? trusted_mtime(&sc) : 0;
    return 0;
fail:
    storage_fail(err, errno, "4.2.0", "read maildir");
    return -1;
}

static int dirs_unchanged(struct mview *v, const struct mindex *ix)
{
    struct stat sn, sc;
    if (fstat(v->newfd, &sn) < 0 || fstat(v->curfd, &sc) < 0)
        return 0;
    return ix->new_mtime_ns && ix->cur_mtime_ns && ns_of(&sn.st_mtim) == ix->new_mtime_ns &&
           ns_of(&sc.st_mtim) == ix->cur_mtime_ns;
}

/* The new state's MODSEQ start when yubin.index was missing, damaged or of another UIDVALIDITY. */
static void rebuilt_modseq(struct mview *v, struct mindex *nw)
{
    /* a uidlist outlived the index: clients may hold MODSEQs of this UIDVALIDITY */
    uint64_t floor = v->ul.uidvalidity || v->ix.highest_modseq ? mindex_modseq_floor() : 0;
    mindex_clear(nw);
    nw->highest_modseq = floor > v->ix.highest_modseq ? floor : v->ix.highest_modseq;
    nw->reserved_modseq = 0;           /* the first MODSEQ given out makes a durable reservation */
}

int mview_sync_locked(struct mview *v, struct storage_error *err)
{
    struct mindex old = {0}, nw = {0};
    int have = mindex_read(v->dirfd, &old) == 0;
    uidlist_free(&v->ul);
    if (uidlist_read(v->dirfd, &v->ul) < 0) {
        if (errno != EINVAL) {
            storage_fail(err, errno, "4.2.0", "read dovecot-uidlist");
            mindex_free(&old);
            return -1;
        }
        memset(&v->ul, 0, sizeof(v->ul));   /* damaged: a new UIDVALIDITY, as Dovecot does */
    }
    mkeywords_free(&v->kw);
    mkeywords_read(v->dirfd, &v->kw);
    if (have && old.uidvalidity != v->ul.uidvalidity)
        have = 0;
    if (!have)
        rebuilt_modseq(v, &old);
    if (old.highest_modseq < v->ix.highest_modseq && v->ix.uidvalidity == v->ul.uidvalidity)
        old.highest_modseq = v->ix.highest_modseq;
    if (old.reserved_modseq < old.highest_modseq && have)
        old.reserved_modseq = old.highest_modseq;
    int rc = 0;
    if (have && mstore_same_file(&old.uidlist_st, &v->ul.st) && dirs_unchanged(v, &old)) {
        nw = old;                      /* another process already did the work */
        memset(&old, 0, sizeof(old));
    } else {
        nw.highest_modseq = old.highest_modseq;
        nw.reserved_modseq = old.reserved_modseq;
        struct build b = {.v = v, .old = &old, .nw = &nw};
        rc = scan(&b, err);
        if (rc == 0) {
            nw.uidvalidity = v->ul.uidvalidity;
            nw.next_uid = v->ul.next_uid;
            nw.first_recent_uid = have ? old.first_recent_uid : 0;
            memcpy(nw.guid, v->ul.guid, sizeof(nw.guid));
            nw.uidlist_st = v->ul.st;
            if (mindex_write(v->dirfd, &nw) < 0)
                nw.file_st.st_ino = 0;  /* a cache: not fatal */
        }
    }
    mindex_free(&old);
    if (rc < 0) {
        mindex_free(&nw);
        return -1;
    }
    if (v->ix.uidvalidity && v->ix.uidvalidity != nw.uidvalidity) {
        mcache_free(&v->cache);
        mcache_init(&v->cache, v->dirfd, nw.uidvalidity);
    }
    diff_into_pending(v, &nw);
    mindex_free(&v->ix);
    v->ix = nw;
    return 0;
}

/* Nothing changed on disk since v->ix was read or written. */
static int quick_unchanged(struct mview *v)
{
    struct stat si, su;
    if (!v->ix.file_st.st_ino || fstatat(v->dirfd, MINDEX_FILE, &si, AT_SYMLINK_NOFOLLOW) < 0 ||
        !mstore_same_file(&si, &v->ix.file_st))
        return 0;
    if (fstatat(v->dirfd, UIDLIST_FILE, &su, AT_SYMLINK_NOFOLLOW) < 0 ||
        !mstore_same_file(&su, &v->ix.uidlist_st))
        return 0;
    return dirs_unchanged(v, &v->ix);
}

int mview_sync(struct mview *v, struct mview_changes *ch, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    int rc = 0;
    if (!quick_unchanged(v)) {
        if (mview_lock(v, err) < 0)
            return -1;
        rc = mview_sync_locked(v, err);
        mview_unlock(v);
    }
    *ch = v->pending;
    memset(&v->pending, 0, sizeof(v->pending));
    v->cap_exp = v->cap_add = v->cap_chg = 0;
    return rc;
}

void mview_changes_free(struct mview_changes *ch)
{
    free(ch->expunged);
    free(ch->added);
    free(ch->changed);
    memset(ch, 0, sizeof(*ch));
}

/* ---- open, close, accessors ---- */

static int open_dirs(struct mview *v, const char *name, struct storage_error *err)
{
    if (str_ieq(name, "INBOX")) {
        str_copy(v->name, "INBOX", sizeof(v->name));
        v->dirfd = openat(v->st->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else if (mstore_name_ok(name)) {
        char dir[MSTORE_NAME_MAX + 2];
        str_copy(v->name, name, sizeof(v->name));
        str_fmt(dir, sizeof(dir), ".%s", name);
        v->dirfd = openat(v->st->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    } else {
        storage_fail(err, EINVAL, "5.2.0", "open folder");
        return -1;
    }
    if (v->dirfd >= 0) {
        mkdirat(v->dirfd, "cur", 0700);
        mkdirat(v->dirfd, "new", 0700);
        mkdirat(v->dirfd, "tmp", 0700);
        v->curfd = openat(v->dirfd, "cur", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        v->newfd = openat(v->dirfd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (v->dirfd < 0 || v->curfd < 0 || v->newfd < 0) {
        storage_fail(err, errno == ELOOP || errno == ENOTDIR ? ENOENT : errno, "4.2.0", "open folder");
        return -1;
    }
    return 0;
}

struct mview *mview_open(struct mstore *st, const char *name, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    struct mview *v = xcalloc(1, sizeof(*v));
    v->st = st;
    v->dirfd = v->curfd = v->newfd = -1;
    if (open_dirs(v, name, err) < 0) {
        mview_close(v);
        return NULL;
    }
    /* the cheap open: a current index is all we read */
    if (mindex_read(v->dirfd, &v->ix) == 0 && quick_unchanged(v)) {
        mkeywords_read(v->dirfd, &v->kw);
    } else {
        mindex_free(&v->ix);
        memset(&v->ix, 0, sizeof(v->ix));
        if (mview_lock(v, err) < 0) {
            mview_close(v);
            return NULL;
        }
        int rc = mview_sync_locked(v, err);
        mview_unlock(v);
        if (rc < 0) {
            mview_close(v);
            return NULL;
        }
    }
    mview_changes_free(&v->pending);
    v->cap_exp = v->cap_add = v->cap_chg = 0;
    mcache_init(&v->cache, v->dirfd, v->ix.uidvalidity);
    return v;
}

void mview_close(struct mview *v)
{
    if (!v)
        return;
    if (v->box)
        mailbox_close(v->box);
    mindex_free(&v->ix);
    uidlist_free(&v->ul);
    mkeywords_free(&v->kw);
    (void)mcache_flush(&v->cache);   /* not on a UIDVALIDITY change: those records are stale */
    mcache_free(&v->cache);
    mview_changes_free(&v->pending);
    if (v->curfd >= 0)
        close(v->curfd);
    if (v->newfd >= 0)
        close(v->newfd);
    if (v->dirfd >= 0)
        close(v->dirfd);
    free(v);
}

uint32_t mview_uidvalidity(const struct mview *v)
{
    return v->ix.uidvalidity;
}

uint32_t mview_uidnext(const struct mview *v)
{
    return v->ix.next_uid;
}

uint64_t mview_highest_modseq(const struct mview *v)
{
    return v->ix.highest_modseq;
}

const struct mmsg *mview_msgs(const struct mview *v, size_t *n)
{
    *n = v->ix.n;
    return v->ix.m;
}

long mview_find(const struct mview *v, uint32_t uid)
{
    const struct mmsg *m = old_rec(&v->ix, uid);
    return m ? (long)(m - v->ix.m) : -1;
}

const char *mview_guid(const struct mview *v)
{
    return v->ix.guid;
}

uint32_t mview_claim_recent(struct mview *v, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    if (mview_lock(v, err) < 0)
        return 0;
    uint32_t first = 0;
    if (mview_sync_locked(v, err) == 0) {
        first = v->ix.first_recent_uid ? v->ix.first_recent_uid : 1;
        if (v->ix.next_uid > first) {
            v->ix.first_recent_uid = v->ix.next_uid;
            if (mindex_write(v->dirfd, &v->ix) < 0)
                v->ix.file_st.st_ino = 0;
        }
    }
    mview_unlock(v);
    return first;
}

int mstore_status(struct mstore *st, const char *name, struct mstatus *s,
                  struct storage_error *err)
{
    memset(s, 0, sizeof(*s));
    struct mview *v = mview_open(st, name, err);
    if (!v)
        return -1;
    s->uidvalidity = v->ix.uidvalidity;
    s->uidnext = v->ix.next_uid;
    s->highest_modseq = v->ix.highest_modseq;
    s->messages = (uint32_t)v->ix.n;
    for (size_t i = 0; i < v->ix.n; i++) {
        const struct mmsg *m = &v->ix.m[i];
        s->unseen += !(m->flags & STORAGE_FLAG_SEEN);
        s->deleted += !!(m->flags & STORAGE_FLAG_DELETED);
        s->size += m->vsize ? m->vsize : m->size;
        if (m->uid >= v->ix.first_recent_uid)
            s->recent++;
    }
    mview_close(v);
    return 0;
}

int mview_dirfd(const struct mview *v)
{
    return v->dirfd;
}

const char *mview_name(const struct mview *v)
{
    return v->name;
}

unsigned mview_scans(const struct mview *v)
{
    return v->scans;
}
