/*
 * queue_io.c - queue file I/O: file and record headers, the record reader,
 * reading messages back (queue_read, queue_open_content), deferred/hold
 * files (atomic write, copy, update, move), spill files and the queue
 * directory tree. Formats are specified in queue.h.
 */
#include "lib-queue/queue_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- small helpers ---- */

int q_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;   /* the file is shorter than it said */
            return -1;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int q_writev_full(int fd, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        ssize_t n = writev(fd, iov, iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = EIO;
            return -1;
        }
        size_t left = (size_t)n;
        /* A short write: skip what went out and retry the rest. */
        while (iovcnt > 0 && left >= iov->iov_len) {
            left -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (left > 0) {
            iov->iov_base = (char *)iov->iov_base + left;
            iov->iov_len -= left;
        }
    }
    return 0;
}

int q_dirname(const char *path, char *dir, size_t dirlen)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return str_fmt(dir, dirlen, ".");
    size_t n = (size_t)(slash - path);
    if (n == 0)
        n = 1;
    if (n >= dirlen) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    return 0;
}

const char *q_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

int q_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n >= s && strcmp(name + n - s, suffix) == 0;
}

int q_locked(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    int r = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0)
        r = errno == EWOULDBLOCK ? 1 : -1;
    close(fd);
    return r;
}

/* ---- headers ---- */

void qf_hdr_encode(uint8_t out[QF_HDR_LEN], int kind, uint64_t salt, uint64_t ctime_usec)
{
    memset(out, 0, QF_HDR_LEN);
    memcpy(out, QF_MAGIC, 4);
    out[4] = Q_VERSION;
    out[5] = (uint8_t)kind;
    q_put64(out + 8, salt);
    q_put64(out + 16, ctime_usec);
    q_put32(out + 28, queue_crc32c(0, out, 28));
}

int qf_hdr_decode(const uint8_t in[QF_HDR_LEN], struct qfile_hdr *h)
{
    if (memcmp(in, QF_MAGIC, 4) != 0 || in[4] != Q_VERSION ||
        (in[5] != QF_KIND_SEGMENT && in[5] != QF_KIND_FILE) ||
        q_get32(in + 28) != queue_crc32c(0, in, 28))
        return -1;
    h->kind = in[5];
    h->salt = q_get64(in + 8);
    h->ctime_usec = q_get64(in + 16);
    return 0;
}

void qr_hdr_encode(uint8_t out[QR_HDR_LEN], const struct qrec_hdr *h, uint32_t seed,
                   const void *env, size_t envlen)
{
    memset(out, 0, QR_HDR_LEN);
    memcpy(out, QR_MAGIC, 4);
    out[4] = Q_VERSION;
    out[5] = (uint8_t)h->type;
    q_put64(out + 8, h->total);
    q_put32(out + 16, h->envlen);
    if (h->type == QR_TYPE_SEAL) {
        q_put64(out + 20, h->seal_off);
    } else {
        q_put32(out + 20, h->ccrc);
    }
    uint32_t c = queue_crc32c(seed, out, 28);
    c = queue_crc32c(c, env, envlen);
    q_put32(out + 28, c);
}

int qr_hdr_decode(const uint8_t in[QR_HDR_LEN], struct qrec_hdr *h, const char **why)
{
    memset(h, 0, sizeof(*h));
    if (memcmp(in, QR_MAGIC, 4) != 0 || in[4] != Q_VERSION || in[6] || in[7]) {
        *why = "bad record magic";
        return -1;
    }
    h->type = in[5];
    h->total = q_get64(in + 8);
    h->envlen = q_get32(in + 16);
    h->hcrc = q_get32(in + 28);
    if (h->type == QR_TYPE_MSG) {
        h->ccrc = q_get32(in + 20);
        if (q_get32(in + 24) != 0 || h->envlen == 0 || h->envlen > QUEUE_ENVELOPE_MAX ||
            h->total < QR_HDR_LEN + (uint64_t)h->envlen ||
            h->total - QR_HDR_LEN - h->envlen > QUEUE_CONTENT_MAX) {
            *why = "bad record length";
            return -1;
        }
    } else if (h->type == QR_TYPE_SEAL) {
        h->seal_off = q_get64(in + 20);
        if (h->total != QR_HDR_LEN || h->envlen != 0) {
            *why = "bad seal record";
            return -1;
        }
    } else {
        *why = "bad record type";
        return -1;
    }
    return 0;
}

int qr_hdr_crc_ok(const uint8_t in[QR_HDR_LEN], uint32_t seed, const void *env, size_t envlen)
{
    uint32_t c = queue_crc32c(seed, in, 28);
    c = queue_crc32c(c, env, envlen);
    return c == q_get32(in + 28);
}

/* ---- the reader ---- */

int qreader_open(struct qreader *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->fd = -1;
    if (str_copy(r->path, path, sizeof(r->path)) >= sizeof(r->path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (r->fd < 0)
        return -1;
    struct stat st;
    uint8_t hdr[QF_HDR_LEN];
    if (fstat(r->fd, &st) < 0)
        goto fail;
    if (!S_ISREG(st.st_mode) || st.st_size < QF_HDR_LEN) {
        errno = EBADMSG;
        goto fail;
    }
    r->size = (uint64_t)st.st_size;
    if (q_pread_full(r->fd, hdr, sizeof(hdr), 0) < 0)
        goto fail;
    if (qf_hdr_decode(hdr, &r->fh) < 0) {
        errno = EBADMSG;
        goto fail;
    }
    r->seed = q_seed(r->fh.salt);
    return 0;
fail:;
    int saved = errno;
    close(r->fd);
    r->fd = -1;
    errno = saved;
    return -1;
}

void qreader_close(struct qreader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    free(r->win);
    r->win = NULL;
    r->win_len = r->win_cap = 0;
}

void qreader_refresh(struct qreader *r)
{
    struct stat st;
    if (fstat(r->fd, &st) == 0 && st.st_size >= 0)
        r->size = (uint64_t)st.st_size;
    r->win_len = 0;
}

/* Make [off, off+len) available in the window; *p points at it. */
static int qreader_get(struct qreader *r, uint64_t off, size_t len, const char **p)
{
    if (off >= r->win_off && off - r->win_off <= r->win_len &&
        len <= r->win_len - (off - r->win_off)) {
        *p = r->win + (off - r->win_off);
        return 0;
    }
    if (off > r->size || len > r->size - off) {
        errno = EIO;
        return -1;
    }
    size_t want = len > QREAD_WINDOW ? len : QREAD_WINDOW;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    if (want > r->win_cap) {
        free(r->win);
        r->win = xmalloc(want);
        r->win_cap = want;
    }
    r->win_len = 0;
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(r->fd, r->win + got, want - got, (off_t)(off + got));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    r->win_off = off;
    r->win_len = got;
    if (got < len) {
        errno = EIO;
        return -1;
    }
    *p = r->win;
    return 0;
}

int qreader_crc(struct qreader *r, uint64_t off, uint64_t len, uint32_t *crc)
{
    uint32_t c = 0;
    while (len > 0) {
        size_t n = len > QCOPY_CHUNK ? QCOPY_CHUNK : (size_t)len;
        const char *p;
        if (qreader_get(r, off, n, &p) < 0)
            return -1;
        c = queue_crc32c(c, p, n);
        off += n;
        len -= n;
    }
    *crc = c;
    return 0;
}

int qreader_record(struct qreader *r, uint64_t off, struct qrec_hdr *h, const char **env,
                   int verify, const char **why)
{
    const char *p;
    *why = NULL;
    if (off == r->size)
        return 0;
    if (off > r->size || r->size - off < QR_HDR_LEN) {
        *why = "truncated record header";
        errno = EBADMSG;
        return -1;
    }
    if (qreader_get(r, off, QR_HDR_LEN, &p) < 0) {
        *why = "read error";
        return -2;
    }
    if (qr_hdr_decode((const uint8_t *)p, h, why) < 0) {
        errno = EBADMSG;
        return -1;
    }
    if (h->total > r->size - off) {
        *why = "record extends past the end of the file";
        errno = EBADMSG;
        return -1;
    }
    if (verify && h->type == QR_TYPE_MSG) {
        uint32_t c;
        uint64_t clen = h->total - QR_HDR_LEN - h->envlen;
        if (qreader_crc(r, off + QR_HDR_LEN + h->envlen, clen, &c) < 0) {
            *why = "read error";
            return -2;
        }
        if (c != h->ccrc) {
            *why = "bad content checksum";
            errno = EBADMSG;
            return -1;
        }
    }
    if (qreader_get(r, off, QR_HDR_LEN + (size_t)h->envlen, &p) < 0) {
        *why = "read error";
        return -2;
    }
    if (!qr_hdr_crc_ok((const uint8_t *)p, r->seed, p + QR_HDR_LEN, h->envlen)) {
        *why = "bad header checksum";
        errno = EBADMSG;
        return -1;
    }
    if (h->type == QR_TYPE_SEAL && h->seal_off != off) {
        *why = "misplaced seal record";
        errno = EBADMSG;
        return -1;
    }
    *env = p + QR_HDR_LEN;
    return 1;
}

int qreader_sealed(struct qreader *r)
{
    struct qrec_hdr h;
    const char *env, *why;
    if (r->size < QF_HDR_LEN + QR_HDR_LEN)
        return 0;
    uint64_t off = r->size - QR_HDR_LEN;
    return qreader_record(r, off, &h, &env, 0, &why) == 1 && h.type == QR_TYPE_SEAL;
}

/* ---- reading messages ---- */

/* Open ref's file and check the record there; *h and the envelope in *envp. */
static int open_record(const struct qref *ref, struct qreader *r, struct qrec_hdr *h,
                       const char **envp, int verify)
{
    const char *why;
    if (qreader_open(r, ref->path) < 0)
        return -1;
    int rc = ref->offset >= QF_HDR_LEN
                 ? qreader_record(r, (uint64_t)ref->offset, h, envp, verify, &why)
                 : (why = "bad record offset", -1);
    if (rc == 1 && h->type == QR_TYPE_MSG && (ref->length == 0 || ref->length == h->total))
        return 0;
    if (rc != 1) {
        if (rc != -2)
            errno = EBADMSG;
        msg_warn("%s: record at offset %lld: %s", ref->path, (long long)ref->offset,
                 why ? why : "no record");
    } else {
        msg_warn("%s: record at offset %lld: not the message that was referenced", ref->path,
                 (long long)ref->offset);
        errno = EBADMSG;
    }
    qreader_close(r);
    return -1;
}

static int decode_env(const struct qreader *r, uint64_t off, const char *envp, size_t envlen,
                      struct qenvelope *env)
{
    const char *why;
    qenv_free(env);
    if (qenv_decode(envp, envlen, env, &why) < 0) {
        msg_warn("%s: record at offset %llu: %s", r->path, (unsigned long long)off, why);
        errno = EBADMSG;
        return -1;
    }
    return 0;
}

static void fill_ref(struct qref *ref, const struct qrec_hdr *h)
{
    ref->length = h->total;
    ref->content_offset = ref->offset + QR_HDR_LEN + h->envlen;
    ref->content_length = h->total - QR_HDR_LEN - h->envlen;
}

int queue_read(const struct qref *ref, struct qenvelope *env, struct buf *content)
{
    struct qreader r;
    struct qrec_hdr h;
    const char *envp;
    qenv_init(env);
    if (open_record(ref, &r, &h, &envp, 0) < 0)
        return -1;
    int rc = -1;
    uint64_t clen = h.total - QR_HDR_LEN - h.envlen;
    uint64_t coff = (uint64_t)ref->offset + QR_HDR_LEN + h.envlen;
    if (decode_env(&r, (uint64_t)ref->offset, envp, h.envlen, env) < 0)
        goto out;
    if (clen > SIZE_MAX / 2 || buf_reserve(content, (size_t)clen) < 0) {
        errno = EMSGSIZE;
        goto out;
    }
    if (q_pread_full(r.fd, content->data + content->len, (size_t)clen, coff) < 0)
        goto out;
    if (queue_crc32c(0, content->data + content->len, (size_t)clen) != h.ccrc) {
        msg_warn("%s: record at offset %lld: bad content checksum", ref->path,
                 (long long)ref->offset);
        errno = EBADMSG;
        goto out;
    }
    content->len += (size_t)clen;
    content->data[content->len] = '\0';
    rc = 0;
out:
    qreader_close(&r);
    return rc;
}

int queue_ref_load(struct qref *ref, struct qenvelope *env)
{
    struct qreader r;
    struct qrec_hdr h;
    const char *envp;
    qenv_init(env);
    if (open_record(ref, &r, &h, &envp, 0) < 0)
        return -1;
    int rc = decode_env(&r, (uint64_t)ref->offset, envp, h.envlen, env);
    if (rc == 0)
        fill_ref(ref, &h);
    qreader_close(&r);
    return rc;
}

int queue_read_envelope(const struct qref *ref, struct qenvelope *env, size_t *content_len)
{
    struct qref tmp = *ref;
    if (queue_ref_load(&tmp, env) < 0)
        return -1;
    if (content_len)
        *content_len = tmp.content_length;
    return 0;
}

int queue_open_content(const struct qref *ref, struct qenvelope *env,
                       int *fd, off_t *offset, size_t *len)
{
    struct qreader r;
    struct qrec_hdr h;
    const char *envp;
    if (env)
        qenv_init(env);
    if (open_record(ref, &r, &h, &envp, 1) < 0)
        return -1;
    if (env && decode_env(&r, (uint64_t)ref->offset, envp, h.envlen, env) < 0) {
        qreader_close(&r);
        return -1;
    }
    *fd = r.fd;
    r.fd = -1;
    *offset = ref->offset + QR_HDR_LEN + h.envlen;
    *len = (size_t)(h.total - QR_HDR_LEN - h.envlen);
    qreader_close(&r);
    return 0;
}

/* ---- deferred and hold files ---- */

/* Copy len bytes of src (at off) to fd, checking their CRC against want. */
static int copy_checked(int dst, int src, uint64_t off, uint64_t len, uint32_t want)
{
    char *chunk = xmalloc(QCOPY_CHUNK);
    uint32_t c = 0;
    int rc = -1;
    while (len > 0) {
        size_t n = len > QCOPY_CHUNK ? QCOPY_CHUNK : (size_t)len;
        if (q_pread_full(src, chunk, n, off) < 0)
            goto out;
        c = queue_crc32c(c, chunk, n);
        if (write_all(dst, chunk, n) < 0)
            goto out;
        off += n;
        len -= n;
    }
    if (c != want) {
        errno = EBADMSG;
        goto out;
    }
    rc = 0;
out:
    free(chunk);
    return rc;
}

/*
 * Write dir/<env->qid> from content (or from the content of record src),
 * atomically. The source is read before anything is replaced.
 */
static int write_file(const char *dir, const struct qenvelope *env, const char *content,
                      size_t len, const struct qref *src_in, struct qref *ref)
{
    struct buf eb;
    struct qref src;
    struct qreader r = {.fd = -1};
    char tmp[512], final[512];
    int fd = -1, rc = -1, saved;
    uint64_t clen = len, coff = 0;
    uint32_t ccrc = 0;

    buf_init(&eb, QUEUE_ENVELOPE_MAX + 1);
    if (src_in)
        src = *src_in;   /* ref may alias src */
    if (qenv_encode(env, &eb) < 0)
        goto out;
    if (str_fmt(final, sizeof(final), "%s/%s", dir, env->qid) < 0 ||
        str_fmt(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, env->qid, (long)getpid()) < 0) {
        errno = ENAMETOOLONG;
        goto out;
    }
    if (src_in) {
        struct qrec_hdr sh;
        const char *senv;
        if (open_record(&src, &r, &sh, &senv, 0) < 0)
            goto out;
        clen = sh.total - QR_HDR_LEN - sh.envlen;
        coff = (uint64_t)src.offset + QR_HDR_LEN + sh.envlen;
        ccrc = sh.ccrc;
    } else {
        ccrc = queue_crc32c(0, content, len);
    }
    uint64_t salt = q_random64();
    uint8_t fh[QF_HDR_LEN], rh[QR_HDR_LEN];
    struct qrec_hdr h = {.type = QR_TYPE_MSG, .envlen = (uint32_t)eb.len, .ccrc = ccrc,
                         .total = QR_HDR_LEN + eb.len + clen};
    qf_hdr_encode(fh, QF_KIND_FILE, salt, now_usec());
    qr_hdr_encode(rh, &h, q_seed(salt), eb.data, eb.len);

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        goto out;
    struct iovec iov[4] = {
        {fh, sizeof(fh)}, {rh, sizeof(rh)}, {eb.data, eb.len},
        {(void *)content, src_in ? 0 : len},
    };
    if (q_writev_full(fd, iov, 4) < 0)
        goto out_unlink;
    if (src_in && copy_checked(fd, r.fd, coff, clen, ccrc) < 0) {
        if (errno == EBADMSG)
            msg_warn("%s: record at offset %lld: bad content checksum", src.path,
                     (long long)src.offset);
        goto out_unlink;
    }
    if (fsync(fd) < 0)
        goto out_unlink;
    if (close(fd) < 0) {
        fd = -1;
        goto out_unlink;
    }
    fd = -1;
    if (rename(tmp, final) < 0)
        goto out_unlink;
    if (fsync_dir(dir) < 0)
        goto out;
    qdone_forget(final);
    str_copy(ref->path, final, sizeof(ref->path));
    ref->offset = QF_HDR_LEN;
    fill_ref(ref, &h);
    rc = 0;
    goto out;
out_unlink:
    saved = errno;
    unlink(tmp);
    errno = saved;
out:
    saved = errno;
    if (fd >= 0)
        close(fd);
    qreader_close(&r);
    buf_free(&eb);
    errno = saved;
    return rc;
}

int queue_write_file(const char *dir, const struct qenvelope *env, const char *content,
                     size_t len, struct qref *ref)
{
    return write_file(dir, env, content ? content : "", content ? len : 0, NULL, ref);
}

int queue_copy_to_file(const char *dir, const struct qenvelope *env, const struct qref *src,
                       struct qref *ref)
{
    return write_file(dir, env, NULL, 0, src, ref);
}

static void unlink_done(const char *path)
{
    char done[560];
    if (str_fmt(done, sizeof(done), "%s.done", path) == 0)
        unlink(done);
}

int queue_update_file(const struct qref *ref, const struct qenvelope *env, struct qref *newref)
{
    char dir[512];
    char path[512];
    str_copy(path, ref->path, sizeof(path));
    if (strcmp(q_basename(path), env->qid) != 0) {
        errno = EINVAL;
        return -1;
    }
    if (q_dirname(path, dir, sizeof(dir)) < 0)
        return -1;
    if (write_file(dir, env, NULL, 0, ref, newref) < 0)
        return -1;
    /* The new file has a new salt: old entries no longer verify. Tidy up. */
    unlink_done(path);
    qdone_forget(path);
    return 0;
}

int queue_move_file(const struct qref *ref, const char *dir, const struct qenvelope *env,
                    struct qref *newref)
{
    char src[512], srcdir[512], target[512], sdone[560], tdone[560];
    str_copy(src, ref->path, sizeof(src));
    const char *qid = env ? env->qid : q_basename(src);
    struct stat st;
    if (q_dirname(src, srcdir, sizeof(srcdir)) < 0)
        return -1;
    if (str_fmt(target, sizeof(target), "%s/%s", dir, qid) < 0 ||
        str_fmt(sdone, sizeof(sdone), "%s.done", src) < 0 ||
        str_fmt(tdone, sizeof(tdone), "%s.done", target) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (lstat(target, &st) == 0) {
        errno = EEXIST;
        return -1;
    }
    if (env) {
        if (write_file(dir, env, NULL, 0, ref, newref) < 0)
            return -1;
        unlink(src);
        unlink(sdone);
    } else {
        struct qref old = *ref;
        /* link() refuses to replace an existing target, unlike rename(). */
        if (link(src, target) < 0)
            return -1;
        if (rename(sdone, tdone) < 0 && errno != ENOENT)
            msg_warn("rename %s to %s: %m", sdone, tdone);
        if (unlink(src) < 0)
            msg_warn("remove %s: %m", src);
        if (fsync_dir(dir) < 0)
            return -1;
        *newref = old;
        str_copy(newref->path, target, sizeof(newref->path));
    }
    qdone_forget(src);
    qdone_forget(target);
    if (fsync_dir(srcdir) < 0)
        return -1;
    return 0;
}

/* ---- spill files ---- */

int queue_tmpfile(const char *queue_dir)
{
    char dir[512], path[560];
    if (str_fmt(dir, sizeof(dir), "%s/tmp", queue_dir) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    /* No O_TMPFILE on this file system: a named file, removed at once. */
    if (str_fmt(path, sizeof(path), "%s/spill.XXXXXX", dir) < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* ---- the queue directory tree ---- */

static int init_dir(const char *path, mode_t mode, uid_t owner, gid_t group)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST) {
        msg_warn("create directory %s: %m", path);
        return -1;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        msg_warn("open directory %s: %m (a symlink is refused)", path);
        return -1;
    }
    int rc = 0;
    if ((owner != (uid_t)-1 || group != (gid_t)-1) && fchown(fd, owner, group) < 0) {
        msg_warn("change owner of %s: %m", path);
        rc = -1;
    }
    if (rc == 0 && fchmod(fd, mode) < 0) {
        msg_warn("change mode of %s: %m", path);
        rc = -1;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int queue_dir_init(const char *queue_dir, uid_t owner, gid_t group)
{
    static const struct {
        const char *name;
        mode_t mode;
    } dirs[] = {
        {"journal", 0700}, {"deferred", 0700}, {"hold", 0700}, {"tmp", 0700},
        /* maildrop: anyone may drop a file (sendmail while the system is down),
         * nobody else may list or remove it: pickup takes it as its owner. */
        {"maildrop", 01733}, {"private", 0700}, {"public", 0755}, {"pid", 0700},
    };
    char path[512];
    if (strpbrk(queue_dir, "\t\r\n")) {
        msg_warn("queue_directory \"%s\": contains a control character", queue_dir);
        errno = EINVAL;
        return -1;
    }
    if (mkdir_p(queue_dir, 0755) < 0) {
        msg_warn("create directory %s: %m", queue_dir);
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
        if (str_fmt(path, sizeof(path), "%s/%s", queue_dir, dirs[i].name) < 0) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (init_dir(path, dirs[i].mode, owner, group) < 0)
            return -1;
    }
    return fsync_dir(queue_dir);
}

/* ---- request files, opened beneath the queue ---- */

/* The part of path below dir ("" when path is not below it). */
static const char *below(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) != 0 || path[n] != '/')
        return "";
    return path + n + 1;
}

/* Without openat2: one component at a time, none of them a symlink. */
static int open_by_components(int dirfd, const char *rel)
{
    int fd = dup(dirfd);
    while (fd >= 0 && *rel) {
        size_t n = strcspn(rel, "/");
        char name[NAME_MAX + 1];
        if (n == 0 || n > NAME_MAX) {
            close(fd);
            errno = EXDEV;
            return -1;
        }
        memcpy(name, rel, n);
        name[n] = '\0';
        rel += n + (rel[n] == '/');
        int last = !*rel;
        int next = openat(fd, name, O_CLOEXEC | O_NOFOLLOW |
                                    (last ? O_RDONLY | O_NONBLOCK : O_PATH | O_DIRECTORY));
        close(fd);
        fd = next;
    }
    return fd;
}

static int open_rel(int dirfd, const char *rel)
{
    for (const char *p = rel; *p; p += strcspn(p, "/"), p += *p == '/')
        if (strncmp(p, "..", 2) == 0 && (p[2] == '/' || !p[2])) {
            errno = EXDEV;
            return -1;
        }
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
    if (fd < 0 && (errno == ENOSYS || errno == EPERM))
        return open_by_components(dirfd, rel);
    return (int)fd;
}

/*
 * The queue directory as an O_PATH descriptor, opened once per process
 * and kept: an agent opens a queue file for every delivery, always below
 * the same directory (as Postfix's agents chdir into it once). Returns
 * the descriptor and whether the caller must close it (*owned, for a path
 * too long to remember).
 */
static int queue_dir_fd(const char *queue_dir, int *owned)
{
    static char cached_dir[PATH_MAX];
    static int cached_fd = -1;

    *owned = 0;
    if (cached_fd >= 0 && strcmp(cached_dir, queue_dir) == 0)
        return cached_fd;
    int fd = open(queue_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || strlen(queue_dir) >= sizeof(cached_dir)) {
        *owned = fd >= 0;
        return fd;
    }
    if (cached_fd >= 0)
        close(cached_fd);
    str_copy(cached_dir, queue_dir, sizeof(cached_dir));
    cached_fd = fd;
    return fd;
}

int queue_open_beneath(const char *queue_dir, const char *path, uid_t owner, struct stat *st)
{
    int fd;
    if (!queue_dir) {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    } else {
        const char *rel = below(queue_dir, path);
        if (!*rel) {
            errno = EXDEV;
            return -1;
        }
        int owned, dirfd = queue_dir_fd(queue_dir, &owned);
        if (dirfd < 0)
            return -1;
        fd = open_rel(dirfd, rel);
        if (owned) {
            int saved = errno;
            close(dirfd);
            errno = saved;
        }
    }
    if (fd < 0)
        return -1;
    /* O_NONBLOCK kept the open from hanging on a FIFO planted in the
     * queue; on the regular file this check insists on, it changes
     * nothing (reads of regular files never return EAGAIN). */
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (owner != (uid_t)-1 && sb.st_uid != owner && sb.st_uid != 0)) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    if (st)
        *st = sb;
    return fd;
}
