/*
 * mview_ops.c - what IMAP does to a folder's messages: flag and keyword
 * changes (renames in cur/), expunge (unlink), copy (hard links under new
 * base names, UIDs assigned in the target under its lock), move, append
 * (storage_save_* with the UID assigned under the lock), reading a
 * message, keywords by name, and the cache.
 *
 * Each change first syncs under dovecot-uidlist.lock, so it works on the
 * files as they are; a file renamed by someone else meanwhile is looked up
 * again by its base name, one removed is skipped (the next sync reports
 * its expunge). Each operation gives the messages it changed one new
 * MODSEQ and rewrites yubin.index.
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void apply_op(enum mview_store_op op, unsigned flags, uint32_t kw, unsigned *mf,
                     uint32_t *mk)
{
    if (op == MVIEW_FLAGS_SET) {
        *mf = flags;
        *mk = kw;
    } else if (op == MVIEW_FLAGS_ADD) {
        *mf |= flags;
        *mk |= kw;
    } else {
        *mf &= ~flags;
        *mk &= ~kw;
    }
}

/* The message's file, following a rename by someone else: 0, 1 when gone, -1 on error. */
static int refind(struct mview *v, struct mmsg *m)
{
    char cur[MSTORE_FILE_MAX];
    if (mview_find_base(v, m->name, m->baselen, cur, sizeof(cur)) < 0)
        return 1;
    free(m->name);
    m->name = xstrdup(cur);
    size_t bl;
    mname_parse(cur, &m->flags, &m->keywords, &bl);
    return 0;
}

/* Rename m to carry the op's flags: 0 done (or nothing to do), 1 gone, -1 error. */
static int rename_msg(struct mview *v, struct mmsg *m, enum mview_store_op op, unsigned flags,
                      uint32_t kw, int *changed)
{
    *changed = 0;
    for (int tries = 0; tries < 3; tries++) {
        unsigned nf = m->flags;
        uint32_t nk = m->keywords;
        apply_op(op, flags, kw, &nf, &nk);
        if (nf == m->flags && nk == m->keywords)
            return 0;
        char name[MSTORE_FILE_MAX + 64];
        if (mname_remake(name, sizeof(name), m->name, m->baselen, nf, nk, m->name) < 0)
            return errno = ENAMETOOLONG, -1;
        if (renameat(v->curfd, m->name, v->curfd, name) == 0) {
            free(m->name);
            m->name = xstrdup(name);
            m->flags = nf;
            m->keywords = nk;
            *changed = 1;
            return 0;
        }
        if (errno != ENOENT)
            return -1;
        int r = refind(v, m);
        if (r != 0)
            return r;
        *changed = 1;                  /* someone else's change is a change too */
    }
    return 0;
}

static int write_index(struct mview *v)
{
    v->ix.uidvalidity = v->ul.uidvalidity ? v->ul.uidvalidity : v->ix.uidvalidity;
    v->ix.next_uid = v->ul.next_uid ? v->ul.next_uid : v->ix.next_uid;
    if (mindex_write(v->dirfd, &v->ix) < 0)
        v->ix.file_st.st_ino = 0;      /* a cache: the next sync rebuilds it */
    return 0;
}

int mview_store(struct mview *v, const uint32_t *uids, size_t n, enum mview_store_op op,
                unsigned flags, uint32_t keywords, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    if (mview_lock(v, err) < 0)
        return -1;
    int rc = mview_sync_locked(v, err);
    uint64_t ms = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        long k = mview_find(v, uids[i]);
        if (k < 0)
            continue;
        struct mmsg *m = &v->ix.m[k];
        int changed;
        int r = rename_msg(v, m, op, flags, keywords, &changed);
        if (r < 0) {
            storage_fail(err, errno, "4.2.0", "change flags");
            rc = -1;
        } else if (changed) {
            m->modseq = ms ? ms : (ms = mindex_next_modseq(&v->ix));
        }
    }
    if (ms)
        write_index(v);
    mview_unlock(v);
    return rc;
}

/* Unlink m's file; 0 removed (or already gone), 1 kept (no longer \Deleted), -1 error. */
static int unlink_msg(struct mview *v, struct mmsg *m, int need_deleted)
{
    for (int tries = 0; tries < 3; tries++) {
        if (need_deleted && !(m->flags & STORAGE_FLAG_DELETED))
            return 1;
        if (unlinkat(v->curfd, m->name, 0) == 0)
            return 0;
        if (errno != ENOENT)
            return -1;
        if (refind(v, m) != 0)
            return 0;
    }
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int in_sorted(const uint32_t *set, size_t n, uint32_t uid)
{
    return n > 0 && bsearch(&uid, set, n, sizeof(*set), cmp_u32) != NULL;
}

/* Drop the entries of these (sorted) UIDs from the uidlist read under the lock. */
static void uidlist_drop(struct uidlist *ul, const uint32_t *gone, size_t ngone)
{
    size_t kept = 0;
    for (size_t k = 0; k < ul->n; k++) {
        if (in_sorted(gone, ngone, ul->e[k].uid)) {
            free(ul->e[k].ext);
            free(ul->e[k].base);
        } else {
            ul->e[kept++] = ul->e[k];
        }
    }
    ul->n = kept;
}

/* Remove the selected messages (holding the lock); their UIDs go to out when given. */
static int expunge_locked(struct mview *v, const uint32_t *uids, size_t n, int need_deleted,
                          struct mview_changes *out, struct storage_error *err)
{
    uint32_t *want = NULL, *gone = xmalloc((v->ix.n ? v->ix.n : 1) * sizeof(uint32_t));
    size_t ngone = 0, kept = 0, cap = 0;
    long long gone_bytes = 0;
    if (uids) {
        want = xmalloc((n ? n : 1) * sizeof(uint32_t));
        memcpy(want, uids, n * sizeof(uint32_t));
        if (n > 1)
            qsort(want, n, sizeof(uint32_t), cmp_u32);
    }
    int rc = 0;
    for (size_t i = 0; i < v->ix.n; i++) {
        struct mmsg *m = &v->ix.m[i];
        int pick = (!need_deleted || (m->flags & STORAGE_FLAG_DELETED)) &&
                   (!uids || in_sorted(want, n, m->uid));
        int r = pick && rc == 0 ? unlink_msg(v, m, need_deleted) : 1;
        if (r < 0) {
            storage_fail(err, errno, "4.2.0", "expunge");
            rc = -1;
            r = 1;
        }
        if (r == 1) {
            v->ix.m[kept++] = *m;
            continue;
        }
        int reported;
        mview_pending_expunge(v, m->uid, &reported);
        if (reported && out)
            mstore_uidset_put(&out->expunged, &out->nexpunged, &cap, m->uid);
        gone[ngone++] = m->uid;
        gone_bytes += (long long)m->size;
        free(m->name);
    }
    v->ix.n = kept;
    if (ngone) {
        mindex_next_modseq(&v->ix);
        uidlist_drop(&v->ul, gone, ngone);
        if (v->ul.uidvalidity && uidlist_write(v->dirfd, &v->ul) < 0 && rc == 0) {
            storage_fail(err, errno, "4.2.0", "write dovecot-uidlist");
            rc = -1;
        }
        write_index(v);
        mstore_quota_note(v->st, v->name, -gone_bytes, -(long long)ngone);
    }
    free(want);
    free(gone);
    return rc;
}

int mview_expunge(struct mview *v, const uint32_t *uids, size_t n, struct mview_changes *ch,
                  struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    memset(ch, 0, sizeof(*ch));
    if (mview_lock(v, err) < 0)
        return -1;
    int rc = mview_sync_locked(v, err);
    if (rc == 0)
        rc = expunge_locked(v, uids, n, 1, ch, err);
    mview_unlock(v);
    return rc;
}

/* ---- keywords ---- */

const char *mview_keyword(const struct mview *v, unsigned i)
{
    return i < MSTORE_KEYWORDS ? v->kw.names[i] : NULL;
}

static int kw_lookup(const struct keywords *kw, const char *name)
{
    for (int i = 0; i < MSTORE_KEYWORDS; i++)
        if (kw->names[i] && str_ieq(kw->names[i], name))
            return i;
    return -1;
}

/* Holding the lock: the bit of name, added to dovecot-keywords when missing. */
static int kw_bit_locked(struct mview *v, const char *name)
{
    mkeywords_free(&v->kw);
    mkeywords_read(v->dirfd, &v->kw);
    int i = kw_lookup(&v->kw, name);
    if (i >= 0)
        return i;
    for (i = 0; i < MSTORE_KEYWORDS && v->kw.names[i]; i++)
        ;
    if (i == MSTORE_KEYWORDS)
        return errno = ENOSPC, -1;
    v->kw.names[i] = xstrdup(name);
    if (mkeywords_write(v->dirfd, &v->kw) < 0)
        return -1;
    return i;
}

int mview_keyword_bit(struct mview *v, const char *name, int create, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    int i = kw_lookup(&v->kw, name);
    if (i >= 0 || !create)
        return i;
    if (!*name || strlen(name) > MSTORE_KEYWORD_MAX || strpbrk(name, " \t\r\n")) {
        storage_fail(err, EINVAL, "5.2.0", "keyword");
        return -1;
    }
    if (mview_lock(v, err) < 0)
        return -1;
    i = kw_bit_locked(v, name);
    if (i < 0)
        storage_fail(err, errno, "4.2.0", "add keyword");
    mview_unlock(v);
    return i;
}

/* ---- copy, move ---- */

/* src keyword bits as dst's bits (dst locked); keywords dst cannot take are dropped. */
static uint32_t map_keywords(struct mview *src, struct mview *dst, uint32_t kw)
{
    if (src == dst || !kw)
        return kw;
    uint32_t out = 0;
    for (int i = 0; i < MSTORE_KEYWORDS; i++) {
        if (!(kw & (1u << i)) || !src->kw.names[i])
            continue;
        int b = kw_bit_locked(dst, src->kw.names[i]);
        if (b >= 0)
            out |= 1u << b;
    }
    return out;
}

/* Link one message into dst under a new base name; its new UID, or 0 when it is gone. */
static uint32_t link_one(struct mview *v, struct mmsg *m, struct mview *dst, uint64_t *ms)
{
    char base[STORAGE_UNIQUE_MAX + 64], name[MSTORE_FILE_MAX + 64];
    char unique[STORAGE_UNIQUE_MAX];
    storage_maildir_unique(unique, sizeof(unique));
    if (m->vsize)
        str_fmt(base, sizeof(base), "%s,S=%llu,W=%llu", unique, (unsigned long long)m->size,
                (unsigned long long)m->vsize);
    else
        str_fmt(base, sizeof(base), "%s,S=%llu", unique, (unsigned long long)m->size);
    uint32_t kw = map_keywords(v, dst, m->keywords);
    mname_make(name, sizeof(name), base, strlen(base), m->flags, kw);
    int rc = linkat(v->curfd, m->name, dst->curfd, name, 0);
    if (rc < 0 && errno == ENOENT && refind(v, m) == 0) {
        kw = map_keywords(v, dst, m->keywords);
        mname_make(name, sizeof(name), base, strlen(base), m->flags, kw);
        rc = linkat(v->curfd, m->name, dst->curfd, name, 0);
    }
    if (rc < 0)
        return 0;
    uint32_t uid = dst->ul.next_uid ? dst->ul.next_uid : 1;
    uidlist_add(&dst->ul, uid, base, strlen(base));
    struct mmsg c = *m;
    c.uid = uid;
    c.name = xstrdup(name);
    c.baselen = strlen(base);
    c.keywords = kw;
    c.modseq = *ms ? *ms : (*ms = mindex_next_modseq(&dst->ix));
    mindex_push(&dst->ix, &c);
    mview_pending_add(dst, uid);
    return uid;
}

int mview_copy(struct mview *v, const uint32_t *uids, size_t n, struct mview *dst,
               uint32_t *newuids, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    if (mview_lock(dst, err) < 0)
        return -1;
    int rc = mview_sync_locked(dst, err);
    if (rc == 0 && dst->ul.uidvalidity == 0)
        rc = -1, storage_fail(err, EIO, "4.2.0", "copy: target has no dovecot-uidlist");
    size_t first = dst->ul.n;
    uint64_t ms = 0;
    long long added = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        newuids[i] = 0;
        long k = mview_find(v, uids[i]);
        if (k >= 0)
            newuids[i] = link_one(v, &v->ix.m[k], dst, &ms);
        if (newuids[i])
            added += (long long)v->ix.m[k].size;
    }
    if (rc == 0 && dst->ul.n > first) {
        if (fsync(dst->curfd) < 0 || uidlist_append(dst->dirfd, &dst->ul, first) < 0) {
            storage_fail(err, errno, "4.2.0", "copy");
            rc = -1;
        }
        write_index(dst);
        mstore_quota_note(dst->st, dst->name, added, (long long)(dst->ul.n - first));
    }
    mview_unlock(dst);
    return rc;
}

int mview_move(struct mview *v, const uint32_t *uids, size_t n, struct mview *dst,
               uint32_t *newuids, struct storage_error *err)
{
    if (v == dst) {
        storage_fail(err, EINVAL, "5.2.0", "move into the same folder");
        return -1;
    }
    if (mview_copy(v, uids, n, dst, newuids, err) < 0)
        return -1;
    uint32_t *moved = xmalloc((n ? n : 1) * sizeof(uint32_t));
    size_t nm = 0;
    for (size_t i = 0; i < n; i++)
        if (newuids[i])
            moved[nm++] = uids[i];
    int rc = mview_lock(v, err);
    if (rc == 0) {
        rc = mview_sync_locked(v, err);
        if (rc == 0 && nm > 0)
            rc = expunge_locked(v, moved, nm, 0, NULL, err);
        mview_unlock(v);
    }
    /* the moved messages are reported as expunged by the next mview_sync() */
    for (size_t i = 0; i < nm && rc == 0; i++)
        if (mview_find(v, moved[i]) < 0)
            mstore_uidset_put(&v->pending.expunged, &v->pending.nexpunged, &v->cap_exp, moved[i]);
    free(moved);
    return rc;
}

/* ---- append ---- */

struct storage_save *mview_append_begin(struct mview *v, const struct storage_save_opts *o,
                                        struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    if (!v->box) {
        char root[STORAGE_PATH_MAX];
        const char *r = mstore_root(v->st);
        size_t len = strlen(r);
        str_fmt(root, sizeof(root), "%s%s", r, len && r[len - 1] == '/' ? "" : "/");
        struct storage_location loc = {.format = STORAGE_MAILDIR, .path = root,
                                       .quota = mstore_quota_rules(v->st)};
        v->box = mailbox_open(&loc, str_ieq(v->name, "INBOX") ? NULL : v->name, 0, err);
        if (!v->box)
            return NULL;
    }
    v->append_received = o->received;
    return storage_save_begin(v->box, o, err);
}

/* The saved file (new/<id> or cur/<id>) moved to cur/ with keywords; its name in cur/. */
static int add_keywords(struct mview *v, const char *id, uint32_t kw, char *out, size_t outlen)
{
    unsigned fl;
    uint32_t k;
    size_t bl;
    mname_parse(id, &fl, &k, &bl);
    mname_remake(out, outlen, id, bl, fl, k | kw, id);
    int from = strchr(id, ':') ? v->curfd : v->newfd;
    return renameat(from, id, v->curfd, out);
}

/* v->ul is what the file holds (nobody appended or rewrote it since we read or wrote it). */
static int uidlist_current(struct mview *v)
{
    struct stat now;
    return v->ul.uidvalidity && v->ul.st.st_ino &&
           fstatat(v->dirfd, UIDLIST_FILE, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
           mstore_same_file(&now, &v->ul.st);
}

int mview_append_finish(struct mview *v, struct storage_save *s, uint32_t keywords,
                        uint32_t *uid, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    *uid = 0;
    if (mview_lock(v, err) < 0) {
        storage_save_abort(s);
        return -1;
    }
    char id[MSTORE_FILE_MAX], name[MSTORE_FILE_MAX + 64];
    int rc = storage_save_finish(s, id, sizeof(id), err);
    if (rc == 0 && keywords && add_keywords(v, id, keywords, name, sizeof(name)) < 0) {
        storage_fail(err, errno, "4.2.0", "append keywords");
        rc = -1;
    }
    if (rc == 0 && v->append_received > 0) {
        /* INTERNALDATE is the file's mtime: set under the lock, before a sync stats it */
        struct timespec ts[2] = {{v->append_received, 0}, {v->append_received, 0}};
        const char *final = keywords ? name : id;
        int fd = strchr(final, ':') ? v->curfd : v->newfd;
        utimensat(fd, final, ts, AT_SYMLINK_NOFOLLOW);
    }
    v->append_received = 0;
    size_t bl = strcspn(id, ":");
    if (rc == 0 && !uidlist_current(v)) {
        uidlist_free(&v->ul);
        if (uidlist_read(v->dirfd, &v->ul) < 0)
            uidlist_free(&v->ul);
    }
    if (rc == 0 && v->ul.uidvalidity) {
        *uid = v->ul.next_uid;
        uidlist_add(&v->ul, *uid, id, bl);
        if (uidlist_append(v->dirfd, &v->ul, v->ul.n - 1) < 0) {
            storage_fail(err, errno, "4.2.0", "write dovecot-uidlist");
            *uid = 0;
            rc = -1;
        }
    } else if (rc == 0) {
        /* no usable uidlist: a full sync creates it and numbers the message */
        rc = mview_sync_locked(v, err);
        struct uidlist_index ulx;
        uidlist_index(&v->ul, &ulx);
        long k = rc == 0 ? uidlist_lookup(&v->ul, &ulx, id, bl) : -1;
        *uid = k >= 0 ? v->ul.e[k].uid : 0;
        uidlist_index_free(&ulx);
    }
    mview_unlock(v);
    return rc;
}

/* ---- reading ---- */

int mview_open_msg(struct mview *v, uint32_t uid, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    long k = mview_find(v, uid);
    if (k < 0) {
        storage_fail(err, ENOENT, "5.2.0", "open message");
        return -1;
    }
    struct mmsg *m = &v->ix.m[k];
    for (int tries = 0; tries < 3; tries++) {
        int fd = openat(v->curfd, m->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno != ENOENT || refind(v, m) != 0)
            break;
    }
    storage_fail(err, errno == ELOOP ? EPERM : errno, "4.2.0", "open message");
    return -1;
}

const void *mview_cache_get(struct mview *v, uint32_t uid, uint32_t field, size_t *len)
{
    return mcache_get(&v->cache, uid, field, len);
}

int mview_cache_put(struct mview *v, uint32_t uid, uint32_t field, const void *data, size_t len)
{
    return mcache_put(&v->cache, uid, field, data, len);
}

int mview_cache_flush(struct mview *v)
{
    return mcache_flush(&v->cache);
}
