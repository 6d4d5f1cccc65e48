/*
 * queue_done.c - done logs ("<file>.done"), their group sync, and removal
 * of finished segments and files (qmgr's side of the queue). Keeps a small
 * per-process cache: for each segment with marks, the set of records
 * marked done and, once the segment is closed, the set of its records, so
 * "is everything done?" costs nothing per mark. See queue.h.
 */
#include "lib-queue/queue_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DONE_FDS_MAX 128
#define TMP_MAX_AGE (24 * 3600)        /* tmp/ leftovers */
#define FILE_TMP_MAX_AGE 3600          /* deferred/.x.tmp of an interrupted write */
/* How often to look again at a segment its writer still held (tests shorten it). */
uint64_t qdone_gc_retry_ms = 5000;

struct dstate {
    struct dstate *next;
    char path[512];          /* the queue file */
    int kind;                /* QF_KIND_* */
    uint32_t seed;
    int fd;                  /* "<path>.done" open for appending, or -1 */
    int dirty;               /* appended since the last sync */
    int created;             /* the .done file is new: fsync its directory */
    /* journal segments only */
    uint64_t *done;          /* offsets with a -1 entry, sorted, unique */
    size_t ndone, capdone;
    uint64_t *recs;          /* valid record offsets, once the segment is closed */
    size_t nrecs;
    int recs_known;
    size_t remaining;        /* records without a -1 entry (when recs_known) */
    uint64_t tail_bad;       /* bytes after the valid records (torn by a crash) */
    int gc_candidate;        /* got a -1 entry since the last sync */
    int gc_wait;             /* found locked by its writer: retry now and then */
    uint64_t gc_tried_ms;
};

static struct dstate *states;
static size_t nopen_fds;
static char **dirty_dirs;
static size_t ndirty_dirs;

/* ---- done entries on disk ---- */

static void ent_encode(uint8_t out[QD_ENT_LEN], uint64_t off, int32_t idx, uint32_t seed)
{
    q_put64(out, off);
    q_put32(out + 8, (uint32_t)idx);
    q_put32(out + 12, queue_crc32c(seed, out, 12));
}

int qdone_load(const char *donepath, uint32_t seed, struct qdone_ent **v, size_t *n)
{
    size_t len;
    *v = NULL;
    *n = 0;
    char *data = read_file(donepath, (size_t)1 << 30, &len);
    if (!data)
        return errno == ENOENT ? 0 : -1;
    size_t cnt = len / QD_ENT_LEN, bad = 0;
    struct qdone_ent *out = xmalloc((cnt ? cnt : 1) * sizeof(*out));
    size_t k = 0;
    for (size_t i = 0; i < cnt; i++) {
        const uint8_t *p = (const uint8_t *)data + i * QD_ENT_LEN;
        int32_t idx = (int32_t)q_get32(p + 8);
        /* Each entry stands alone: a torn or foreign one is skipped, not fatal. */
        if (q_get32(p + 12) != queue_crc32c(seed, p, 12) || idx < -1) {
            bad++;
            continue;
        }
        out[k].off = q_get64(p);
        out[k].idx = idx;
        k++;
    }
    if (bad)
        msg_warn("%s: ignored %zu invalid entries", donepath, bad);
    free(data);
    *v = out;
    *n = k;
    return 0;
}

static int ent_cmp(const void *a, const void *b)
{
    const struct qdone_ent *x = a, *y = b;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void qdone_sort(struct qdone_ent *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof(*v), ent_cmp);
}

size_t qdone_find(const struct qdone_ent *v, size_t n, uint64_t off, size_t *count)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < n && v[end].off == off)
        end++;
    *count = end - lo;
    return lo;
}

/* ---- sorted offset sets ---- */

static size_t off_lower(const uint64_t *v, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int off_has(const uint64_t *v, size_t n, uint64_t off)
{
    size_t i = off_lower(v, n, off);
    return i < n && v[i] == off;
}

/* Insert off; 1 if it was new. Marks mostly arrive in order: appending is the common case. */
static int off_insert(uint64_t **v, size_t *n, size_t *cap, uint64_t off)
{
    size_t i = (*n && (*v)[*n - 1] < off) ? *n : off_lower(*v, *n, off);
    if (i < *n && (*v)[i] == off)
        return 0;
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    memmove(*v + i + 1, *v + i, (*n - i) * sizeof(**v));
    (*v)[i] = off;
    (*n)++;
    return 1;
}

/* ---- the cache ---- */

static void dirty_dir_add(const char *path_in_dir)
{
    char dir[512];
    if (q_dirname(path_in_dir, dir, sizeof(dir)) < 0)
        return;
    for (size_t i = 0; i < ndirty_dirs; i++)
        if (strcmp(dirty_dirs[i], dir) == 0)
            return;
    dirty_dirs = xrealloc(dirty_dirs, (ndirty_dirs + 1) * sizeof(char *));
    dirty_dirs[ndirty_dirs++] = xstrdup(dir);
}

static int dirty_dirs_sync(void)
{
    int rc = 0;
    for (size_t i = 0; i < ndirty_dirs; i++) {
        if (fsync_dir(dirty_dirs[i]) < 0 && errno != ENOENT) {
            msg_warn("fsync directory %s: %m", dirty_dirs[i]);
            rc = -1;
        }
        free(dirty_dirs[i]);
    }
    ndirty_dirs = 0;
    return rc;
}

static void state_close_fd(struct dstate *st)
{
    if (st->fd >= 0) {
        close(st->fd);
        st->fd = -1;
        nopen_fds--;
    }
}

static void state_free(struct dstate *st)
{
    state_close_fd(st);
    free(st->done);
    free(st->recs);
    free(st);
}

static void state_unlink(struct dstate *st)
{
    for (struct dstate **pp = &states; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            state_free(st);
            return;
        }
    }
}

void qdone_forget(const char *path)
{
    for (struct dstate **pp = &states; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->path, path) == 0) {
            struct dstate *st = *pp;
            /* Unsynced marks of a file being replaced no longer matter. */
            *pp = st->next;
            state_free(st);
            return;
        }
    }
}

void queue_done_reset(void)
{
    while (states) {
        struct dstate *st = states;
        states = st->next;
        state_free(st);
    }
    for (size_t i = 0; i < ndirty_dirs; i++)
        free(dirty_dirs[i]);
    free(dirty_dirs);
    dirty_dirs = NULL;
    ndirty_dirs = 0;
}

static struct dstate *state_find(const char *path)
{
    for (struct dstate *st = states; st; st = st->next)
        if (strcmp(st->path, path) == 0)
            return st;
    return NULL;
}

/* Find or create the state of path (reads its header; loads -1 entries of segments). */
static struct dstate *state_get(const char *path)
{
    struct dstate *st = state_find(path);
    if (st)
        return st;
    struct qreader r;
    if (qreader_open(&r, path) < 0)
        return NULL;
    st = xcalloc(1, sizeof(*st));
    str_copy(st->path, path, sizeof(st->path));
    st->kind = r.fh.kind;
    st->seed = r.seed;
    st->fd = -1;
    qreader_close(&r);
    if (st->kind == QF_KIND_SEGMENT) {
        char donepath[560];
        struct qdone_ent *v;
        size_t n;
        if (str_fmt(donepath, sizeof(donepath), "%s.done", path) < 0 ||
            qdone_load(donepath, st->seed, &v, &n) < 0) {
            msg_warn("read %s: %m", donepath);
            free(st);
            return NULL;
        }
        for (size_t i = 0; i < n; i++)
            if (v[i].idx == -1)
                off_insert(&st->done, &st->ndone, &st->capdone, v[i].off);
        free(v);
    }
    st->next = states;
    states = st;
    return st;
}

/* Too many open .done files: close the ones without unsynced entries. */
static void trim_fds(void)
{
    if (nopen_fds < DONE_FDS_MAX)
        return;
    for (struct dstate *st = states; st; st = st->next)
        if (!st->dirty)
            state_close_fd(st);
}

static int state_open_fd(struct dstate *st)
{
    char donepath[560];
    if (st->fd >= 0)
        return 0;
    if (str_fmt(donepath, sizeof(donepath), "%s.done", st->path) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    trim_fds();
    int fd = open(donepath, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
        st->created = 1;
    } else if (errno == EEXIST) {
        fd = open(donepath, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        msg_warn("open %s: %m", donepath);
        return -1;
    }
    struct stat sb;
    /* A torn entry at the end would misalign every later one: cut it off. */
    if (fstat(fd, &sb) == 0 && sb.st_size % QD_ENT_LEN != 0 &&
        ftruncate(fd, sb.st_size - sb.st_size % QD_ENT_LEN) < 0) {
        msg_warn("truncate %s: %m", donepath);
        close(fd);
        return -1;
    }
    st->fd = fd;
    nopen_fds++;
    return 0;
}

/*
 * Walk a closed segment's records with the scan's validity rules. 0 with
 * the offsets in st->recs, or -1 (read error, or the segment is gone).
 */
static int load_records(struct dstate *st)
{
    struct qreader r;
    if (qreader_open(&r, st->path) < 0)
        return -1;
    int verify = !qreader_sealed(&r);
    uint64_t off = QF_HDR_LEN;
    size_t cap = 0;
    int rc = 0;
    free(st->recs);
    st->recs = NULL;
    st->nrecs = 0;
    for (;;) {
        struct qrec_hdr h;
        const char *env, *why;
        int k = qreader_record(&r, off, &h, &env, verify, &why);
        if (k == -2) {
            msg_warn("%s: offset %llu: read error: %m", st->path, (unsigned long long)off);
            rc = -1;
            break;
        }
        if (k != 1 || h.type != QR_TYPE_MSG) {
            st->tail_bad = k == -1 ? r.size - off : 0;
            break;
        }
        if (st->nrecs == cap) {
            cap = cap ? cap * 2 : 64;
            st->recs = xrealloc(st->recs, cap * sizeof(*st->recs));
        }
        st->recs[st->nrecs++] = off;
        off += h.total;
    }
    qreader_close(&r);
    return rc;
}

/* Remove the segment of st if it is closed and all its records are done. 1 if removed. */
static int gc_check(struct dstate *st)
{
    if (st->kind != QF_KIND_SEGMENT)
        return 0;
    if (!st->recs_known) {
        /* Locked = its writer still appends: not finished, whatever the marks say. */
        int fd = open(st->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
            return 0;
        int locked = flock(fd, LOCK_EX | LOCK_NB) < 0;
        close(fd);
        st->gc_tried_ms = mono_msec();
        /* Still being written: look again later, even if no more marks come. */
        st->gc_wait = locked;
        if (locked || load_records(st) < 0)
            return 0;
        st->recs_known = 1;
        st->remaining = 0;
        for (size_t i = 0; i < st->nrecs; i++)
            if (!off_has(st->done, st->ndone, st->recs[i]))
                st->remaining++;
    }
    if (st->remaining > 0)
        return 0;
    char donepath[560];
    if (str_fmt(donepath, sizeof(donepath), "%s.done", st->path) < 0)
        return 0;
    if (unlink(st->path) < 0 && errno != ENOENT) {
        msg_warn("remove %s: %m", st->path);
        return 0;
    }
    unlink(donepath);
    if (st->tail_bad)
        msg_warn("removed finished queue file %s, ignoring its last %llu bytes "
                 "(never acknowledged: torn by a crash)", st->path,
                 (unsigned long long)st->tail_bad);
    else if (log_verbose())
        msg_info("removed finished queue file %s", st->path);
    dirty_dir_add(st->path);
    state_unlink(st);
    return 1;
}

/* ---- public ---- */

int queue_mark_done(const char *queue_dir, const struct qref *ref, const char *qid, int idx)
{
    uint8_t ent[QD_ENT_LEN];
    if (idx < -1 || ref->offset < QF_HDR_LEN) {
        errno = EINVAL;
        return -1;
    }
    struct dstate *st = state_get(ref->path);
    if (!st) {
        msg_warn("%s: mark done %s: %s: %m", qid ? qid : "-", ref->path,
                 errno == EBADMSG ? "bad file header" : "cannot open");
        return -1;
    }
    if (st->kind == QF_KIND_FILE && idx == -1) {
        char path[512];
        str_copy(path, st->path, sizeof(path));
        state_unlink(st);
        /* A journal record this file superseded must never come back once the file is gone. */
        for (struct dstate *d = states; d; d = d->next) {
            if (d->dirty) {
                if (queue_done_sync(queue_dir) < 0)
                    return -1;
                break;
            }
        }
        if (unlink(path) < 0 && errno != ENOENT) {
            msg_warn("remove %s: %m", path);
            return -1;
        }
        char donepath[560];
        if (str_fmt(donepath, sizeof(donepath), "%s.done", path) == 0)
            unlink(donepath);
        dirty_dir_add(path);
        return 0;
    }
    if (state_open_fd(st) < 0)
        return -1;
    ent_encode(ent, (uint64_t)ref->offset, idx, st->seed);
    if (write_all(st->fd, ent, sizeof(ent)) < 0) {
        int saved = errno;
        msg_warn("write %s.done: %m", st->path);
        state_close_fd(st);   /* reopening truncates a partial entry */
        errno = saved;
        return -1;
    }
    st->dirty = 1;
    if (st->kind == QF_KIND_SEGMENT && idx == -1) {
        if (off_insert(&st->done, &st->ndone, &st->capdone, (uint64_t)ref->offset) &&
            st->recs_known && off_has(st->recs, st->nrecs, (uint64_t)ref->offset) &&
            st->remaining > 0)
            st->remaining--;
        st->gc_candidate = 1;
    }
    return 0;
}

int queue_record_done(const struct qref *ref)
{
    struct dstate *st = state_get(ref->path);
    if (!st)
        return errno == ENOENT ? 1 : -1;
    if (st->kind != QF_KIND_SEGMENT)
        return 0;
    return off_has(st->done, st->ndone, (uint64_t)ref->offset);
}

int queue_done_sync(const char *queue_dir)
{
    (void)queue_dir;
    int rc = 0;
    for (struct dstate *st = states; st; st = st->next) {
        if (st->dirty) {
            if (fdatasync(st->fd) < 0) {
                msg_warn("fdatasync %s.done: %m", st->path);
                rc = -1;
            }
            st->dirty = 0;
        }
        if (st->created) {
            dirty_dir_add(st->path);
            st->created = 0;
        }
    }
    if (dirty_dirs_sync() < 0)
        rc = -1;
    int removed = 0;
    uint64_t now = mono_msec();
    for (struct dstate *st = states, *next; st; st = next) {
        next = st->next;
        if (st->gc_candidate || (st->gc_wait && now - st->gc_tried_ms >= qdone_gc_retry_ms)) {
            st->gc_candidate = 0;
            removed += gc_check(st);
        }
    }
    /* File states are cheap to rebuild; keep only segments in memory. */
    for (struct dstate *st = states, *next; st; st = next) {
        next = st->next;
        if (st->kind == QF_KIND_FILE && !st->dirty)
            state_unlink(st);
    }
    if (removed && dirty_dirs_sync() < 0)
        rc = -1;
    return rc;
}

/* Remove path if it is older than max_age seconds. */
static int remove_if_old(const char *path, time_t max_age, time_t now)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && now - sb.st_mtime > max_age &&
        unlink(path) == 0) {
        msg_info("removed stale file %s", path);
        return 1;
    }
    return 0;
}

/* Does dir/name (without the ".done") exist? */
static int base_exists(const char *dir, const char *name)
{
    char path[1024];
    size_t n = strlen(name) - 5;
    struct stat sb;
    if (str_fmt(path, sizeof(path), "%s/%.*s", dir, (int)n, name) < 0)
        return 1;
    return lstat(path, &sb) == 0;
}

static void gc_files_dir(const char *dir, time_t now)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    char path[1024];
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        if (str_fmt(path, sizeof(path), "%s/%s", dir, n) < 0)
            continue;
        if (n[0] == '.' && q_has_suffix(n, ".tmp"))
            remove_if_old(path, FILE_TMP_MAX_AGE, now);
        else if (q_has_suffix(n, ".done") && !base_exists(dir, n) && unlink(path) == 0)
            dirty_dir_add(path);
    }
    closedir(d);
}

int queue_gc(const char *queue_dir)
{
    char dir[512], path[1024];
    time_t now = time(NULL);
    int removed = 0;
    if (str_fmt(dir, sizeof(dir), "%s/journal", queue_dir) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    DIR *d = opendir(dir);
    if (!d) {
        msg_warn("open directory %s: %m", dir);
        return -1;
    }
    char **segs = NULL;
    size_t nsegs = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (str_fmt(path, sizeof(path), "%s/%s", dir, n) < 0)
            continue;
        if (n[0] == '.' && n[1] == 'J') {
            /* A segment whose creation was interrupted: its creator holds the lock while alive. */
            int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            if (fd >= 0) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0)
                    dirty_dir_add(path);
                close(fd);
            }
        } else if (n[0] == 'J' && q_has_suffix(n, ".done")) {
            if (!base_exists(dir, n) && unlink(path) == 0)
                dirty_dir_add(path);
        } else if (n[0] == 'J') {
            segs = xrealloc(segs, (nsegs + 1) * sizeof(char *));
            segs[nsegs++] = xstrdup(path);
        }
    }
    closedir(d);
    for (size_t i = 0; i < nsegs; i++) {
        struct dstate *st = state_get(segs[i]);
        if (!st) {
            if (errno == EBADMSG)
                msg_warn("%s: bad file header: corrupt queue file left in place", segs[i]);
        } else {
            removed += gc_check(st);
        }
        free(segs[i]);
    }
    free(segs);
    static const char *const subdirs[] = {"deferred", "hold"};
    for (size_t i = 0; i < ARRAY_LEN(subdirs); i++)
        if (str_fmt(dir, sizeof(dir), "%s/%s", queue_dir, subdirs[i]) == 0)
            gc_files_dir(dir, now);
    if (str_fmt(dir, sizeof(dir), "%s/tmp", queue_dir) == 0 && (d = opendir(dir))) {
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
                continue;
            if (str_fmt(path, sizeof(path), "%s/%s", dir, de->d_name) == 0)
                remove_if_old(path, TMP_MAX_AGE, now);
        }
        closedir(d);
    }
    dirty_dirs_sync();
    return removed;
}
