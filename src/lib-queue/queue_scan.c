/*
 * queue_scan.c - visit every pending message: journal records not done,
 * then deferred/ and hold/ files. Used by qmgr at start and on periodic
 * rescans, and by `yubin queue list/show` (read-only). Reads envelopes
 * only, skipping content by its length, except where a crash may have
 * left acknowledged-looking but torn records (see queue.h).
 */
#include "lib-queue/queue_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct names {
    char **v;
    size_t n, cap;
};

static void names_add(struct names *s, const char *name)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof(char *));
    }
    s->v[s->n++] = xstrdup(name);
}

static void names_free(struct names *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof(*s));
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int names_has(const struct names *s, const char *name)
{
    return s->n && bsearch(&name, s->v, s->n, sizeof(char *), str_cmp) != NULL;
}

/*
 * Queue files of dir: queue IDs (no dot files, no .done logs) in out,
 * and the IDs that have a .done log in dones; both sorted. -1 if unreadable.
 */
static int list_files(const char *dir, struct names *out, struct names *dones)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        if (n[0] == '.')
            continue;
        if (q_has_suffix(n, ".done")) {
            char base[QUEUE_ID_MAX + 8];
            size_t len = strlen(n) - 5;
            if (len < sizeof(base)) {
                memcpy(base, n, len);
                base[len] = '\0';
                names_add(dones, base);
            }
        } else if (queue_id_valid(n)) {
            names_add(out, n);
        }
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(char *), str_cmp);
    if (dones->n > 1)
        qsort(dones->v, dones->n, sizeof(char *), str_cmp);
    return 0;
}

/* Segment names J<time>.<pid>.<n>, in creation order. */
static int seg_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    unsigned long long xv[3] = {0, 0, 0}, yv[3] = {0, 0, 0};
    int xn = sscanf(x, "J%llu.%llu.%llu", &xv[0], &xv[1], &xv[2]);
    int yn = sscanf(y, "J%llu.%llu.%llu", &yv[0], &yv[1], &yv[2]);
    if (xn == 3 && yn == 3) {
        for (int i = 0; i < 3; i++)
            if (xv[i] != yv[i])
                return xv[i] < yv[i] ? -1 : 1;
        return 0;
    }
    return strcmp(x, y);
}

struct scan {
    const char *queue_dir;
    int flags;
    queue_scan_cb cb;
    void *arg;
    struct names deferred, hold;
    struct names deferred_done, hold_done;   /* IDs with a .done log */
    int count;
};

/*
 * Apply done entries for off to env. Returns 0 if recipients are pending,
 * 1 if the record has a -1 entry, 2 if every recipient is done one by one.
 */
static int apply_done(const struct qdone_ent *v, size_t n, uint64_t off, struct qenvelope *env)
{
    size_t cnt, i = qdone_find(v, n, off, &cnt);
    for (size_t k = i; k < i + cnt; k++) {
        if (v[k].idx == -1)
            return 1;
        if ((size_t)v[k].idx < env->nrcpts)
            env->rcpts[v[k].idx].done = RCPT_DONE;
    }
    return qenv_pending(env) == 0 ? 2 : 0;
}

static void fix_done(struct scan *s, const struct qref *ref, const char *qid)
{
    if ((s->flags & QUEUE_SCAN_FIX) && queue_mark_done(s->queue_dir, ref, qid, -1) < 0)
        msg_warn("%s: cannot mark %s offset %lld done: %m", qid, ref->path,
                 (long long)ref->offset);
}

static void scan_segment(struct scan *s, const char *path)
{
    struct qreader r;
    if (qreader_open(&r, path) < 0) {
        if (errno == EBADMSG)
            msg_warn("%s: bad file header: corrupt queue file skipped", path);
        else if (errno != ENOENT)
            msg_warn("open %s: %m", path);
        return;
    }
    int locked = q_locked(path) == 1;
    int verify = (s->flags & QUEUE_SCAN_VERIFY) || (!locked && !qreader_sealed(&r));
    char donepath[560];
    struct qdone_ent *done = NULL;
    size_t ndone = 0;
    if (str_fmt(donepath, sizeof(donepath), "%s.done", path) < 0 ||
        qdone_load(donepath, r.seed, &done, &ndone) < 0) {
        /* Without the done log every record would look pending: skip for now. */
        msg_warn("read %s: %m; skipping %s", donepath, path);
        qreader_close(&r);
        return;
    }
    qdone_sort(done, ndone);
    uint64_t off = QF_HDR_LEN;
    for (;;) {
        struct qrec_hdr h;
        const char *envp, *why;
        int k = qreader_record(&r, off, &h, &envp, verify, &why);
        if (k == 0 || (k == 1 && h.type == QR_TYPE_SEAL))
            break;
        if (k == -2) {
            msg_warn("%s: offset %llu: read error: %m", path, (unsigned long long)off);
            break;
        }
        if (k < 0) {
            /* In a live segment this is just a record being written. */
            if (!locked)
                msg_warn("%s: offset %llu: %s: ignoring the rest of the file (%llu bytes)",
                         path, (unsigned long long)off, why,
                         (unsigned long long)(r.size - off));
            break;
        }
        struct qenvelope env;
        const char *ewhy;
        struct qref ref;
        memset(&ref, 0, sizeof(ref));
        str_copy(ref.path, path, sizeof(ref.path));
        ref.offset = (off_t)off;
        ref.length = h.total;
        ref.content_offset = (off_t)(off + QR_HDR_LEN + h.envlen);
        ref.content_length = h.total - QR_HDR_LEN - h.envlen;
        if (qenv_decode(envp, h.envlen, &env, &ewhy) < 0) {
            /* The checksum matched, so the length can be trusted: skip just this one. */
            msg_warn("%s: offset %llu: %s: record skipped", path, (unsigned long long)off, ewhy);
        } else if ((k = apply_done(done, ndone, off, &env)) != 0) {
            /* All recipients done one by one but no -1 entry yet: add it. */
            if (k == 2)
                fix_done(s, &ref, env.qid);
        } else if (names_has(&s->deferred, env.qid) || names_has(&s->hold, env.qid)) {
            fix_done(s, &ref, env.qid);
        } else {
            s->cb(&ref, &env, ref.content_length, "journal", s->arg);
            s->count++;
        }
        qenv_free(&env);
        off += h.total;
    }
    free(done);
    qreader_close(&r);
}

static void scan_file(struct scan *s, const char *dir, const char *name, const char *where,
                      const struct names *dones)
{
    char path[512], donepath[560];
    if (str_fmt(path, sizeof(path), "%s/%s", dir, name) < 0 ||
        str_fmt(donepath, sizeof(donepath), "%s.done", path) < 0)
        return;
    struct qreader r;
    if (qreader_open(&r, path) < 0) {
        if (errno == EBADMSG)
            msg_warn("%s: bad file header: corrupt queue file skipped", path);
        else if (errno != ENOENT)
            msg_warn("open %s: %m", path);
        return;
    }
    struct qrec_hdr h;
    const char *envp, *why = NULL, *ewhy;
    int k = qreader_record(&r, QF_HDR_LEN, &h, &envp, (s->flags & QUEUE_SCAN_VERIFY) != 0, &why);
    if (k != 1 || h.type != QR_TYPE_MSG) {
        msg_warn("%s: %s: corrupt queue file skipped", path, why ? why : "no message record");
        qreader_close(&r);
        return;
    }
    struct qref ref;
    memset(&ref, 0, sizeof(ref));
    str_copy(ref.path, path, sizeof(ref.path));
    ref.offset = QF_HDR_LEN;
    ref.length = h.total;
    ref.content_offset = (off_t)(QF_HDR_LEN + QR_HDR_LEN + h.envlen);
    ref.content_length = h.total - QR_HDR_LEN - h.envlen;
    struct qenvelope env;
    struct qdone_ent *done = NULL;
    size_t ndone = 0;
    if (qenv_decode(envp, h.envlen, &env, &ewhy) < 0) {
        msg_warn("%s: %s: corrupt queue file skipped", path, ewhy);
    } else if (names_has(dones, name) && qdone_load(donepath, r.seed, &done, &ndone) < 0) {
        msg_warn("read %s: %m; skipping %s", donepath, path);
    } else {
        qdone_sort(done, ndone);
        if (strcmp(env.qid, name) != 0)
            msg_warn("%s: holds queue ID %s", path, env.qid);
        if (apply_done(done, ndone, QF_HDR_LEN, &env)) {
            fix_done(s, &ref, env.qid);   /* removes the file */
        } else {
            s->cb(&ref, &env, ref.content_length, where, s->arg);
            s->count++;
        }
    }
    free(done);
    qenv_free(&env);
    qreader_close(&r);
}

static void scan_free(struct scan *s)
{
    names_free(&s->deferred);
    names_free(&s->hold);
    names_free(&s->deferred_done);
    names_free(&s->hold_done);
}

int queue_scan_flags(const char *queue_dir, int flags, queue_scan_cb cb, void *arg)
{
    struct scan s = {.queue_dir = queue_dir, .flags = flags, .cb = cb, .arg = arg};
    char jdir[512], ddir[512], hdir[512];
    if (str_fmt(jdir, sizeof(jdir), "%s/journal", queue_dir) < 0 ||
        str_fmt(ddir, sizeof(ddir), "%s/deferred", queue_dir) < 0 ||
        str_fmt(hdir, sizeof(hdir), "%s/hold", queue_dir) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (list_files(ddir, &s.deferred, &s.deferred_done) < 0 ||
        list_files(hdir, &s.hold, &s.hold_done) < 0) {
        msg_warn("read queue directory %s: %m", queue_dir);
        scan_free(&s);
        return -1;
    }
    DIR *d = opendir(jdir);
    if (!d) {
        msg_warn("open directory %s: %m", jdir);
        scan_free(&s);
        return -1;
    }
    struct names segs = {0};
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] == 'J' && !q_has_suffix(de->d_name, ".done"))
            names_add(&segs, de->d_name);
    closedir(d);
    if (segs.n > 1)
        qsort(segs.v, segs.n, sizeof(char *), seg_cmp);
    for (size_t i = 0; i < segs.n; i++) {
        char path[512];
        if (str_fmt(path, sizeof(path), "%s/%s", jdir, segs.v[i]) == 0)
            scan_segment(&s, path);
    }
    names_free(&segs);
    if (!(flags & QUEUE_SCAN_NOFILES)) {
        for (size_t i = 0; i < s.deferred.n; i++)
            if (!names_has(&s.hold, s.deferred.v[i]))
                scan_file(&s, ddir, s.deferred.v[i], "deferred", &s.deferred_done);
        for (size_t i = 0; i < s.hold.n; i++)
            scan_file(&s, hdir, s.hold.v[i], "hold", &s.hold_done);
    }
    scan_free(&s);
    return s.count;
}

int queue_scan(const char *queue_dir, queue_scan_cb cb, void *arg)
{
    return queue_scan_flags(queue_dir, 0, cb, arg);
}
