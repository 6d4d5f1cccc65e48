/*
 * queue_writer.c - the journal writer: one per writing process (smtpd,
 * pickup, qmgr), appending records to its own segment and committing
 * groups of them with one fdatasync, then notifying qmgr. The contract
 * (segment creation, rotation, seals, failures, notification lines) is
 * documented in queue.h.
 */
#include "lib-queue/queue_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NOTIFY_BUF_MAX (1024 * 1024)

struct pending {
    struct qref ref;
    char qid[QUEUE_ID_MAX];
};

struct queue_writer {
    char journal[512];          /* queue_dir/journal */
    char *notify_sock;
    /* the current segment */
    int fd;
    char path[512];
    uint32_t seed;
    uint64_t size;              /* end of the last good record */
    uint64_t committed;         /* end of the last fdatasync'd record */
    uint64_t opened_ms;
    int bad;                    /* take no more records: rotate at the next add */
    unsigned seq;
    uint64_t max_size, max_age_ms;
    /* added since the last commit */
    struct pending *pend;
    size_t npend, cappend;
    int lost_errno;             /* a rotation could not sync pending records */
    struct buf env;             /* envelope scratch */
    /* notifications to qmgr */
    int nfd;
    struct buf nbuf;            /* lines not yet sent */
    size_t nsent;               /* bytes of nbuf already sent */
    int ndropped;               /* log the overflow once */
    uint64_t nwarn_ms;          /* rate limit for "cannot connect" */
};

struct queue_writer *queue_writer_open(const char *queue_dir, const char *notify_sock)
{
    struct stat st;
    errno = 0;
    if (strpbrk(queue_dir, "\t\r\n")) {
        errno = EINVAL;
        return NULL;
    }
    struct queue_writer *w = xcalloc(1, sizeof(*w));
    if (str_fmt(w->journal, sizeof(w->journal), "%s/journal", queue_dir) < 0 ||
        strlen(w->journal) + 40 >= sizeof(w->path)) {
        free(w);
        errno = ENAMETOOLONG;
        return NULL;
    }
    if (stat(w->journal, &st) < 0) {
        int saved = errno;
        free(w);
        errno = saved;
        return NULL;
    }
    if (!S_ISDIR(st.st_mode)) {
        free(w);
        errno = ENOTDIR;
        return NULL;
    }
    w->notify_sock = notify_sock ? xstrdup(notify_sock) : NULL;
    w->fd = -1;
    w->nfd = -1;
    w->max_size = QUEUE_SEGMENT_SIZE;
    w->max_age_ms = QUEUE_SEGMENT_AGE_MS;
    buf_init(&w->env, QUEUE_ENVELOPE_MAX + 1);
    buf_init(&w->nbuf, 0);
    return w;
}

void queue_writer_set_limits(struct queue_writer *w, uint64_t max_size, uint64_t max_age_ms)
{
    if (max_size)
        w->max_size = max_size;
    if (max_age_ms)
        w->max_age_ms = max_age_ms;
}

size_t queue_writer_pending(const struct queue_writer *w)
{
    return w->npend;
}

const char *queue_writer_segment(const struct queue_writer *w)
{
    return w->fd >= 0 ? w->path : NULL;
}

/* ---- segments ---- */

/*
 * Create, lock and name a new segment. The header is made durable before
 * the name appears, so a segment with a bad header is corruption, never
 * an interrupted creation.
 */
static int seg_create(struct queue_writer *w)
{
    char tmp[512], final[512];
    for (int tries = 0; tries < 64; tries++) {
        long t = (long)time(NULL);
        long pid = (long)getpid();
        unsigned n = w->seq++;
        if (str_fmt(final, sizeof(final), "%s/J%ld.%ld.%u", w->journal, t, pid, n) < 0 ||
            str_fmt(tmp, sizeof(tmp), "%s/.J%ld.%ld.%u", w->journal, t, pid, n) < 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            msg_warn("create queue file %s: %m", tmp);
            return -1;
        }
        /* qmgr's cleanup may hold the lock of a name it is about to remove: try another. */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            continue;
        }
        uint64_t salt = q_random64();
        uint8_t hdr[QF_HDR_LEN];
        qf_hdr_encode(hdr, QF_KIND_SEGMENT, salt, now_usec());
        if (write_all(fd, hdr, sizeof(hdr)) < 0 || fdatasync(fd) < 0) {
            int saved = errno;
            msg_warn("write queue file %s: %m", tmp);
            unlink(tmp);
            close(fd);
            errno = saved;
            return -1;
        }
        if (link(tmp, final) < 0) {
            int saved = errno;
            unlink(tmp);
            close(fd);
            if (saved == EEXIST || saved == ENOENT)   /* name taken / tmp removed under us */
                continue;
            msg_warn("link %s to %s: %s", tmp, final, strerror(saved));
            errno = saved;
            return -1;
        }
        unlink(tmp);
        if (fsync_dir(w->journal) < 0) {
            int saved = errno;
            msg_warn("fsync directory %s: %m", w->journal);
            unlink(final);
            close(fd);
            errno = saved;
            return -1;
        }
        w->fd = fd;
        str_copy(w->path, final, sizeof(w->path));
        w->seed = q_seed(salt);
        w->size = w->committed = QF_HDR_LEN;
        w->opened_ms = mono_msec();
        w->bad = 0;
        return 0;
    }
    errno = EEXIST;
    return -1;
}

/*
 * Leave the current segment: make its uncommitted records durable (they
 * are still pending for the next commit), seal it when everything in it
 * is synced, and close it, which releases the lock.
 */
static void seg_retire(struct queue_writer *w)
{
    if (w->fd < 0)
        return;
    if (w->size > w->committed) {
        if (fdatasync(w->fd) < 0) {
            w->lost_errno = errno;
            msg_warn("queue file %s: fdatasync: %m", w->path);
        } else {
            w->committed = w->size;
        }
    }
    if (!w->bad && w->committed == w->size) {
        uint8_t seal[QR_HDR_LEN];
        struct qrec_hdr h = {.type = QR_TYPE_SEAL, .total = QR_HDR_LEN, .seal_off = w->size};
        qr_hdr_encode(seal, &h, w->seed, "", 0);
        /* Advisory: a missing seal only makes the scan verify contents. */
        if (write_all(w->fd, seal, sizeof(seal)) < 0)
            msg_warn("queue file %s: write seal: %m", w->path);
    }
    close(w->fd);
    w->fd = -1;
}

static int seg_ensure(struct queue_writer *w, uint64_t total)
{
    if (w->fd >= 0) {
        int rotate = w->bad || mono_msec() - w->opened_ms >= w->max_age_ms ||
                     (w->size > QF_HDR_LEN && w->size + total > w->max_size);
        if (!rotate)
            return 0;
        seg_retire(w);
    }
    return seg_create(w);
}

/*
 * Undo a failed append: cut the segment back to the end of the last good
 * record, and take no more records into it. An offset is never reused
 * within a segment: a scan may have seen what was there, and qmgr's done
 * marks are keyed by offset.
 */
static void seg_rollback(struct queue_writer *w, uint64_t start)
{
    if (ftruncate(w->fd, (off_t)start) < 0)
        msg_warn("queue file %s: truncate to %llu: %m", w->path, (unsigned long long)start);
    w->bad = 1;
}

/* ---- adding records ---- */

static void pending_add(struct queue_writer *w, const struct qref *ref, const char *qid)
{
    if (w->npend == w->cappend) {
        w->cappend = w->cappend ? w->cappend * 2 : 16;
        w->pend = xrealloc(w->pend, w->cappend * sizeof(*w->pend));
    }
    w->pend[w->npend].ref = *ref;
    str_copy(w->pend[w->npend].qid, qid, sizeof(w->pend[w->npend].qid));
    w->npend++;
}

/* Encode env, pick the segment; fills the header for a content of clen bytes. */
static int add_begin(struct queue_writer *w, const struct qenvelope *env, uint64_t clen,
                     uint32_t ccrc, uint8_t hdr[QR_HDR_LEN], struct qrec_hdr *h)
{
    buf_reset(&w->env);
    if (qenv_encode(env, &w->env) < 0)
        return -1;
    if (clen > QUEUE_CONTENT_MAX) {
        errno = EMSGSIZE;
        return -1;
    }
    memset(h, 0, sizeof(*h));
    h->type = QR_TYPE_MSG;
    h->envlen = (uint32_t)w->env.len;
    h->total = QR_HDR_LEN + w->env.len + clen;
    h->ccrc = ccrc;
    if (seg_ensure(w, h->total) < 0)
        return -1;
    qr_hdr_encode(hdr, h, w->seed, w->env.data, w->env.len);
    return 0;
}

static void add_finish(struct queue_writer *w, const struct qenvelope *env,
                       const struct qrec_hdr *h, uint64_t start, struct qref *ref)
{
    /* records are appended behind everything committed, never over it */
    INVARIANT(start >= w->committed && start >= w->size && h->total > QR_HDR_LEN);
    w->size = start + h->total;
    struct qref r;
    memset(&r, 0, sizeof(r));
    str_copy(r.path, w->path, sizeof(r.path));
    r.offset = (off_t)start;
    r.length = h->total;
    r.content_offset = (off_t)(start + QR_HDR_LEN + h->envlen);
    r.content_length = h->total - QR_HDR_LEN - h->envlen;
    pending_add(w, &r, env->qid);
    if (ref)
        *ref = r;
}

int queue_writer_addv(struct queue_writer *w, const struct qenvelope *env,
                      const struct iovec *content, int iovcnt, struct qref *ref)
{
    uint64_t clen = 0;
    uint32_t ccrc = 0;
    if (iovcnt < 0) {
        errno = EINVAL;
        return -1;
    }
    for (int i = 0; i < iovcnt; i++) {
        clen += content[i].iov_len;
        ccrc = queue_crc32c(ccrc, content[i].iov_base, content[i].iov_len);
    }
    uint8_t hdr[QR_HDR_LEN];
    struct qrec_hdr h;
    if (add_begin(w, env, clen, ccrc, hdr, &h) < 0)
        return -1;
    struct iovec small[16];
    struct iovec *iov = (size_t)iovcnt + 2 <= ARRAY_LEN(small)
                            ? small : xmalloc(((size_t)iovcnt + 2) * sizeof(*iov));
    iov[0].iov_base = hdr;
    iov[0].iov_len = sizeof(hdr);
    iov[1].iov_base = w->env.data;
    iov[1].iov_len = w->env.len;
    if (iovcnt > 0)
        memcpy(iov + 2, content, (size_t)iovcnt * sizeof(*iov));
    uint64_t start = w->size;
    int rc = q_writev_full(w->fd, iov, iovcnt + 2);
    int saved = errno;
    if (iov != small)
        free(iov);
    if (rc < 0) {
        msg_warn("queue file %s: write: %s", w->path, strerror(saved));
        seg_rollback(w, start);
        errno = saved;
        return -1;
    }
    add_finish(w, env, &h, start, ref);
    return 0;
}

int queue_writer_add(struct queue_writer *w, const struct qenvelope *env,
                     const char *content, size_t len, struct qref *ref)
{
    struct iovec iov = {(void *)content, len};
    return queue_writer_addv(w, env, &iov, len ? 1 : 0, ref);
}

/* CRC of len bytes of fd at off. */
static int fd_crc(int fd, uint64_t off, uint64_t len, uint32_t *crc, char *chunk)
{
    uint32_t c = *crc;
    while (len > 0) {
        size_t n = len > QCOPY_CHUNK ? QCOPY_CHUNK : (size_t)len;
        if (q_pread_full(fd, chunk, n, off) < 0)
            return -1;
        c = queue_crc32c(c, chunk, n);
        off += n;
        len -= n;
    }
    *crc = c;
    return 0;
}

int queue_writer_add_fd(struct queue_writer *w, const struct qenvelope *env,
                        int fd, off_t off, size_t len, const uint32_t *content_crc,
                        struct qref *ref)
{
    return queue_writer_add_spill(w, env, NULL, 0, fd, off, len, content_crc, ref);
}

int queue_writer_add_spill(struct queue_writer *w, const struct qenvelope *env,
                           const char *prefix, size_t plen, int fd, off_t off, size_t len,
                           const uint32_t *fd_crc_in, struct qref *ref)
{
    char *chunk = xmalloc(QCOPY_CHUNK);
    uint32_t want = 0, pcrc = plen ? queue_crc32c(0, prefix, plen) : 0;
    int rc = -1, saved = 0;
    if (off < 0 || len > SIZE_MAX - plen) {
        errno = EINVAL;
        goto out;
    }
    if (fd_crc_in && plen == 0) {
        want = *fd_crc_in;
    } else {
        /* The record header carries the CRC of all the content, prefix included. */
        want = pcrc;
        if (fd_crc(fd, (uint64_t)off, len, &want, chunk) < 0)
            goto out;
    }
    uint8_t hdr[QR_HDR_LEN];
    struct qrec_hdr h;
    if (add_begin(w, env, plen + len, want, hdr, &h) < 0)
        goto out;
    uint64_t start = w->size;
    struct iovec iov[3] = {{hdr, sizeof(hdr)}, {w->env.data, w->env.len},
                           {(void *)prefix, plen}};
    if (q_writev_full(w->fd, iov, plen ? 3 : 2) < 0)
        goto fail;
    /* The rest of the same record, in chunks; the copy is checked against the CRC. */
    uint64_t pos = (uint64_t)off, left = len;
    uint32_t got = pcrc;
    while (left > 0) {
        size_t n = left > QCOPY_CHUNK ? QCOPY_CHUNK : (size_t)left;
        if (q_pread_full(fd, chunk, n, pos) < 0)
            goto fail;
        got = queue_crc32c(got, chunk, n);
        if (write_all(w->fd, chunk, n) < 0)
            goto fail;
        pos += n;
        left -= n;
    }
    if (got != want) {
        errno = EIO;
        msg_warn("queue file %s: spill file changed while it was copied", w->path);
        goto fail;
    }
    add_finish(w, env, &h, start, ref);
    rc = 0;
    goto out;
fail:
    saved = errno;
    msg_warn("queue file %s: write: %s", w->path, strerror(saved));
    seg_rollback(w, start);
    errno = saved;
out:
    saved = errno;
    free(chunk);
    errno = saved;
    return rc;
}

/* ---- notifications ---- */

static int notify_connect(struct queue_writer *w)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (str_copy(sa.sun_path, w->notify_sock, sizeof(sa.sun_path)) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int saved = errno;
        close(fd);
        uint64_t now = mono_msec();
        if (now - w->nwarn_ms > 60000 || w->nwarn_ms == 0) {
            w->nwarn_ms = now;
            msg_warn("connect to %s: %s (qmgr will find the mail when it scans the queue)",
                     w->notify_sock, strerror(saved));
        }
        errno = saved;
        return -1;
    }
    w->nfd = fd;
    return 0;
}

/* Drop fully sent lines from the buffer; keep a partially sent one. */
static void notify_compact(struct queue_writer *w)
{
    size_t keep_from = 0;
    for (size_t i = w->nsent; i > 0; i--) {
        if (w->nbuf.data[i - 1] == '\n') {
            keep_from = i;
            break;
        }
    }
    buf_consume(&w->nbuf, keep_from);
    w->nsent -= keep_from;
}

void queue_writer_flush_notify(struct queue_writer *w)
{
    if (!w->notify_sock || w->nbuf.len == 0)
        return;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (w->nfd < 0 && notify_connect(w) < 0)
            return;
        while (w->nsent < w->nbuf.len) {
            ssize_t n = send(w->nfd, w->nbuf.data + w->nsent, w->nbuf.len - w->nsent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                w->nsent += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                notify_compact(w);
                return;
            }
            /* EPIPE, ECONNRESET...: qmgr went away. Resend whole lines on a new connection. */
            close(w->nfd);
            w->nfd = -1;
            notify_compact(w);
            w->nsent = 0;
            break;
        }
        if (w->nsent == w->nbuf.len) {
            buf_reset(&w->nbuf);
            w->nsent = 0;
            return;
        }
    }
}

static void notify_add(struct queue_writer *w, const struct pending *p)
{
    if (!w->notify_sock)
        return;
    size_t before = w->nbuf.len;
    if (buf_printf(&w->nbuf, "N %s\t%lld\t%zu\t%s\n", p->ref.path, (long long)p->ref.offset,
                   p->ref.length, p->qid) < 0 ||
        w->nbuf.len > NOTIFY_BUF_MAX) {
        w->nbuf.len = before;
        w->nbuf.data[before] = '\0';
        if (!w->ndropped++)
            msg_warn("qmgr does not read its notifications; relying on its queue scan");
    } else {
        w->ndropped = 0;
    }
}

/* ---- commit ---- */

int queue_writer_commit(struct queue_writer *w)
{
    if (w->npend == 0) {
        queue_writer_flush_notify(w);
        return 0;
    }
    int err = w->lost_errno;
    if (!err && w->fd >= 0 && w->size > w->committed && fdatasync(w->fd) < 0) {
        err = errno;
        msg_warn("queue file %s: fdatasync: %m", w->path);
        /* After a failed sync the page cache is no guide to the disk: move on. */
        w->bad = 1;
    }
    if (err) {
        /* Nothing pending was acknowledged: drop what is left of it (offsets are not reused). */
        if (w->fd >= 0 && w->size > w->committed) {
            if (ftruncate(w->fd, (off_t)w->committed) == 0)
                w->size = w->committed;
            w->bad = 1;
        }
        w->npend = 0;
        w->lost_errno = 0;
        errno = err;
        return -1;
    }
    INVARIANT(w->committed <= w->size);
    w->committed = w->size;
    for (size_t i = 0; i < w->npend; i++) {
        /* what qmgr hears of is on disk: in this segment below the synced end, or in
         * one that was synced when it was retired */
        INVARIANT(strcmp(w->pend[i].ref.path, w->path) != 0 ||
                  (uint64_t)w->pend[i].ref.offset + w->pend[i].ref.length <= w->committed);
        notify_add(w, &w->pend[i]);
    }
    w->npend = 0;
    queue_writer_flush_notify(w);
    return 0;
}

int queue_writer_rotate_if_idle(struct queue_writer *w)
{
    queue_writer_flush_notify(w);
    if (w->fd < 0 || w->npend > 0)
        return 0;
    if (!w->bad && mono_msec() - w->opened_ms < w->max_age_ms && w->size < w->max_size)
        return 0;
    seg_retire(w);
    return 1;
}

void queue_writer_close(struct queue_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0 && w->size > w->committed) {
        /* Never committed, never acknowledged: do not leave them to be delivered. */
        if (ftruncate(w->fd, (off_t)w->committed) == 0)
            w->size = w->committed;
        else
            w->bad = 1;
    }
    w->npend = 0;
    seg_retire(w);
    queue_writer_flush_notify(w);
    if (w->nfd >= 0)
        close(w->nfd);
    free(w->notify_sock);
    free(w->pend);
    buf_free(&w->env);
    buf_free(&w->nbuf);
    free(w);
}
