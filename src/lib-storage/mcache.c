/*
 * mcache.c - yubin's per-folder cache "yubin.cache": opaque blobs keyed
 * by (UID, field) that the IMAP layer computes once (ENVELOPE,
 * BODYSTRUCTURE, header fields) and reads back on later sessions.
 *
 * The file is a header ("YBCH", UIDVALIDITY) and then records appended
 * with one write(2) each (O_APPEND, so processes do not interleave):
 *   "YBC1" uid field len hash(8) data[len]
 * It is mapped read-only and shared, so many sessions of one folder hold
 * one copy in the page cache; a session keeps only an array of (uid,
 * field, offset) and the blobs it added itself. A record's hash is checked
 * when it is read: a record torn by a writer killed mid-write is a miss,
 * and the walk over the file resynchronises on the next "YBC1". A later
 * record for the same key wins. UIDs are never reused within a
 * UIDVALIDITY, so records of expunged messages are only dead weight; a
 * file of another UIDVALIDITY is started over. The file only grows or is
 * replaced by rename, never truncated, so a mapping stays valid. Deleting
 * the file loses nothing but time.
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MCACHE_MAGIC "YBC1"
#define MCACHE_HDR "YBCH"
#define MCACHE_REC_HDR 24                 /* magic, uid, field, len, hash */
#define MCACHE_MAX_BLOB (16u << 20)
#define MCACHE_MAX_FILE ((size_t)1 << 31)

void mcache_init(struct mcache *c, int dirfd, uint32_t uidvalidity)
{
    memset(c, 0, sizeof(*c));
    c->dirfd = dirfd;
    c->uidvalidity = uidvalidity;
}

void mcache_free(struct mcache *c)
{
    if (c->map)
        munmap((void *)c->map, c->map_len);
    free(c->priv);
    free(c->e);
    memset(c, 0, sizeof(*c));
}

static void add_ent(struct mcache *c, uint32_t uid, uint32_t field, int priv, size_t off,
                    size_t len)
{
    if (c->n == c->ecap) {
        c->ecap = c->ecap ? c->ecap * 2 : 256;
        c->e = xrealloc(c->e, c->ecap * sizeof(*c->e));
    }
    c->e[c->n++] = (struct mcache_ent){.uid = uid, .field = field, .seq = c->seq++,
                                       .priv = (uint32_t)priv, .off = off, .len = len};
    c->sorted = 0;
}

/* Index the records of the mapped file; stretches that are no record are skipped. */
static void walk(struct mcache *c)
{
    size_t i = 8;
    while (i + MCACHE_REC_HDR <= c->map_len) {
        if (memcmp(c->map + i, MCACHE_MAGIC, 4) != 0) {
            i++;
            continue;
        }
        uint32_t uid, field, blen;
        memcpy(&uid, c->map + i + 4, 4);
        memcpy(&field, c->map + i + 8, 4);
        memcpy(&blen, c->map + i + 12, 4);
        if (blen > c->map_len - i - MCACHE_REC_HDR) {
            i++;
            continue;
        }
        add_ent(c, uid, field, 0, i, blen);
        i += MCACHE_REC_HDR + blen;
    }
}

static void load(struct mcache *c)
{
    c->loaded = 1;
    int fd = openat(c->dirfd, MINDEX_CACHE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    char hdr[8];
    uint32_t uv = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 8 &&
        (size_t)st.st_size <= MCACHE_MAX_FILE && pread(fd, hdr, 8, 0) == 8 &&
        memcmp(hdr, MCACHE_HDR, 4) == 0)
        memcpy(&uv, hdr + 4, 4);
    if (uv == c->uidvalidity && uv != 0) {
        c->have_file = 1;
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            c->map = m;
            c->map_len = (size_t)st.st_size;
            walk(c);
        }
    }
    close(fd);
}

static int cmp_ent(const void *a, const void *b)
{
    const struct mcache_ent *x = a, *y = b;
    if (x->uid != y->uid)
        return x->uid < y->uid ? -1 : 1;
    if (x->field != y->field)
        return x->field < y->field ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint64_t rec_hash(uint32_t uid, uint32_t field, const void *data, size_t len)
{
    return mstore_hash(data, len, MSTORE_HASH_INIT ^ uid ^ ((uint64_t)field << 32));
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
    while (lo < hi) {                  /* past the last record with this key */
        size_t mid = (lo + hi) / 2;
        const struct mcache_ent *e = &c->e[mid];
        if (e->uid < uid || (e->uid == uid && e->field <= field))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || c->e[lo - 1].uid != uid || c->e[lo - 1].field != field)
        return NULL;
    const struct mcache_ent *e = &c->e[lo - 1];
    *len = e->len;
    if (e->priv)
        return c->priv + e->off;
    const char *data = c->map + e->off + MCACHE_REC_HDR;
    uint64_t want;
    memcpy(&want, c->map + e->off + 16, 8);
    return rec_hash(uid, field, data, e->len) == want ? data : NULL;
}

/* Open the file for appending, starting it over when it is missing or of another UIDVALIDITY. */
static int open_append(struct mcache *c)
{
    if (c->have_file) {
        int fd = openat(c->dirfd, MINDEX_CACHE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            return fd;
    }
    char hdr[8];
    memcpy(hdr, MCACHE_HDR, 4);
    memcpy(hdr + 4, &c->uidvalidity, 4);
    if (mstore_file_replace(c->dirfd, MINDEX_CACHE, hdr, sizeof(hdr), 0) < 0)
        return -1;
    c->have_file = 1;
    return openat(c->dirfd, MINDEX_CACHE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
}

static void keep(struct mcache *c, uint32_t uid, uint32_t field, const void *data, size_t len)
{
    if (c->priv_len + len > c->priv_cap) {
        c->priv_cap = (c->priv_len + len) * 2 + 64;
        c->priv = xrealloc(c->priv, c->priv_cap);
    }
    if (len)
        memcpy(c->priv + c->priv_len, data, len);
    add_ent(c, uid, field, 1, c->priv_len, len);
    c->priv_len += len;
}

int mcache_put(struct mcache *c, uint32_t uid, uint32_t field, const void *data, size_t len)
{
    if (len > MCACHE_MAX_BLOB)
        return errno = EFBIG, -1;
    if (!c->loaded)
        load(c);
    char *rec = xmalloc(MCACHE_REC_HDR + len);
    uint32_t blen = (uint32_t)len;
    uint64_t hash = rec_hash(uid, field, data, len);
    memcpy(rec, MCACHE_MAGIC, 4);
    memcpy(rec + 4, &uid, 4);
    memcpy(rec + 8, &field, 4);
    memcpy(rec + 12, &blen, 4);
    memcpy(rec + 16, &hash, 8);
    if (len)
        memcpy(rec + MCACHE_REC_HDR, data, len);
    int fd = open_append(c);
    int rc = fd < 0 ? -1 : 0;
    if (rc == 0 && write(fd, rec, MCACHE_REC_HDR + len) != (ssize_t)(MCACHE_REC_HDR + len))
        rc = -1;
    if (fd >= 0)
        close(fd);
    free(rec);
    /* kept in this process even when the file could not take it */
    keep(c, uid, field, data, len);
    return rc;
}
