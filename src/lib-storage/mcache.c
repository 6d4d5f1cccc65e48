/*
 * mcache.c - yubin's per-folder cache "yubin.cache": opaque blobs keyed
 * by (UID, field) that the IMAP layer computes once (ENVELOPE,
 * BODYSTRUCTURE, header fields) and reads back on later sessions.
 *
 * The file is a header ("YBCH", UIDVALIDITY) and then records appended
 * with one write(2) each (O_APPEND, so processes do not interleave):
 *   "YBC1" uid field len hash(8) data[len]
 * A record whose hash does not check out (a writer killed mid-write) is
 * skipped by searching for the next "YBC1". A later record for the same
 * key wins. UIDs are never reused within a UIDVALIDITY, so records of
 * expunged messages are only dead weight; a file of another UIDVALIDITY is
 * started over. Deleting the file loses nothing but time.
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MCACHE_MAGIC "YBC1"
#define MCACHE_HDR "YBCH"
#define MCACHE_REC_HDR 24                 /* magic, uid, field, len, hash */
#define MCACHE_MAX_BLOB (16u << 20)
#define MCACHE_MAX_FILE (1u << 30)

void mcache_init(struct mcache *c, int dirfd, uint32_t uidvalidity)
{
    memset(c, 0, sizeof(*c));
    c->dirfd = dirfd;
    c->uidvalidity = uidvalidity;
}

void mcache_free(struct mcache *c)
{
    free(c->data);
    free(c->e);
    memset(c, 0, sizeof(*c));
}

static void add_ent(struct mcache *c, uint32_t uid, uint32_t field, size_t off, size_t len)
{
    if (c->n == c->ecap) {
        c->ecap = c->ecap ? c->ecap * 2 : 256;
        c->e = xrealloc(c->e, c->ecap * sizeof(*c->e));
    }
    c->e[c->n++] = (struct mcache_ent){.uid = uid, .field = field, .off = off, .len = len};
    c->sorted = 0;
}

static void keep(struct mcache *c, const char *p, size_t len)
{
    if (len == 0)
        return;
    if (c->len + len > c->cap) {
        c->cap = (c->len + len) * 2;
        c->data = xrealloc(c->data, c->cap);
    }
    memcpy(c->data + c->len, p, len);
    c->len += len;
}

/* Records in text[0..len): kept, indexed; damaged stretches skipped. */
static void parse(struct mcache *c, const char *text, size_t len)
{
    size_t i = 0;
    while (i + MCACHE_REC_HDR <= len) {
        if (memcmp(text + i, MCACHE_MAGIC, 4) != 0) {
            i++;
            continue;
        }
        uint32_t uid, field, blen;
        uint64_t hash;
        memcpy(&uid, text + i + 4, 4);
        memcpy(&field, text + i + 8, 4);
        memcpy(&blen, text + i + 12, 4);
        memcpy(&hash, text + i + 16, 8);
        if (blen > len - i - MCACHE_REC_HDR ||
            mstore_hash(text + i + MCACHE_REC_HDR, blen, MSTORE_HASH_INIT ^ uid ^
                        ((uint64_t)field << 32)) != hash) {
            i++;
            continue;
        }
        size_t off = c->len;
        keep(c, text + i + MCACHE_REC_HDR, blen);
        add_ent(c, uid, field, off, blen);
        i += MCACHE_REC_HDR + blen;
    }
}

static void load(struct mcache *c)
{
    c->loaded = 1;
    int fd = openat(c->dirfd, MINDEX_CACHE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    char *text = read_fd(fd, MCACHE_MAX_FILE, &len);
    close(fd);
    if (!text)
        return;
    uint32_t uv = 0;
    if (len >= 8 && memcmp(text, MCACHE_HDR, 4) == 0)
        memcpy(&uv, text + 4, 4);
    if (uv == c->uidvalidity) {
        parse(c, text + 8, len - 8);
        c->file_len = len;
    }
    free(text);
}

static int cmp_ent(const void *a, const void *b)
{
    const struct mcache_ent *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;      /* later records last */
}

const void *mcache_get(struct mcache *c, uint32_t uid, uint32_t field, size_t *len)
{
    if (!c->loaded)
        load(c);
    if (!c->sorted) {
        if (c->n > 1)
            qsort(c->e, c->n, sizeof(*c->e), cmp_ent);
        c->sorted = 1;
    }
    size_t lo = 0, hi = c->n;
    while (lo < hi) {                  /* the last record with this key */
        size_t mid = (lo + hi) / 2;
        const struct mcache_ent *e = &c->e[mid];
        if (e->uid < uid || (e->uid == uid && e->field <= field))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c->e[lo - 1].uid != uid || c->e[lo - 1].field != field)
        return NULL;
    *len = c->e[lo - 1].len;
    return c->data + c->e[lo - 1].off;
}

/* Open the file for appending, starting it over when it is of another UIDVALIDITY. */
static int open_append(struct mcache *c)
{
    int fd = openat(c->dirfd, MINDEX_CACHE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 && c->file_len >= 8)
        return fd;
    if (fd >= 0) {
        char hdr[8];
        int hfd = openat(c->dirfd, MINDEX_CACHE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        ssize_t n = hfd >= 0 ? pread(hfd, hdr, 8, 0) : -1;
        uint32_t uv = 0;
        if (hfd >= 0)
            close(hfd);
        if (n == 8 && memcmp(hdr, MCACHE_HDR, 4) == 0)
            memcpy(&uv, hdr + 4, 4);
        if (uv == c->uidvalidity)
            return fd;
        close(fd);
    }
    char hdr[8];
    memcpy(hdr, MCACHE_HDR, 4);
    memcpy(hdr + 4, &c->uidvalidity, 4);
    if (mstore_file_replace(c->dirfd, MINDEX_CACHE, hdr, sizeof(hdr), 0) < 0)
        return -1;
    c->file_len = 8;
    return openat(c->dirfd, MINDEX_CACHE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
}

int mcache_put(struct mcache *c, uint32_t uid, uint32_t field, const void *data, size_t len)
{
    if (len > MCACHE_MAX_BLOB)
        return errno = EFBIG, -1;
    if (!c->loaded)
        load(c);
    char *rec = xmalloc(MCACHE_REC_HDR + len);
    uint32_t blen = (uint32_t)len;
    uint64_t hash = mstore_hash(data, len, MSTORE_HASH_INIT ^ uid ^ ((uint64_t)field << 32));
    memcpy(rec, MCACHE_MAGIC, 4);
    memcpy(rec + 4, &uid, 4);
    memcpy(rec + 8, &field, 4);
    memcpy(rec + 12, &blen, 4);
    memcpy(rec + 16, &hash, 8);
    memcpy(rec + MCACHE_REC_HDR, data, len);
    int fd = open_append(c);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0 && write(fd, rec, MCACHE_REC_HDR + len) != (ssize_t)(MCACHE_REC_HDR + len))
        rc = -1;
    if (fd >= 0)
        close(fd);
    free(rec);
    /* in memory even when the file could not take it: this session still benefits */
    size_t off = c->len;
    keep(c, data, len);
    add_ent(c, uid, field, off, len);
    return rc;
}
