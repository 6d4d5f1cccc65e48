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
#include "lib/log.h"
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
    if (c->wopen)                      /* records not flushed are dropped: see mview_close */
        close(c->wfd);
    free(c->wbuf);
    free(c->priv);
    free(c->e);
    free(c->slot);
    memset(c, 0, sizeof(*c));
}

static size_t slot_of(const struct mcache *c, uint32_t uid, uint32_t field)
{
    uint64_t h = ((uint64_t)uid * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)field * 0xc2b2ae3d27d4eb4fULL);
    return (size_t)(h ^ (h >> 29)) & (c->nslot - 1);
}

/* Point the key's slot at entry i (a later entry for a key replaces the earlier one). */
static void index_ent(struct mcache *c, size_t i)
{
    const struct mcache_ent *e = &c->e[i];
    size_t s = slot_of(c, e->uid, e->field);
    while (c->slot[s]) {
        const struct mcache_ent *o = &c->e[c->slot[s] - 1];
        if (o->uid == e->uid && o->field == e->field)
            break;
        s = (s + 1) & (c->nslot - 1);
    }
    c->slot[s] = (uint32_t)(i + 1);
}

static void grow_index(struct mcache *c)
{
    free(c->slot);
    c->nslot = c->nslot ? c->nslot * 2 : 1024;
    c->slot = xcalloc(c->nslot, sizeof(*c->slot));
    for (size_t i = 0; i < c->n; i++)
        index_ent(c, i);
}

static void add_ent(struct mcache *c, uint32_t uid, uint32_t field, int priv, size_t off,
                    size_t len)
{
    INVARIANT(c->n < UINT32_MAX - 1);
    if (c->n == c->ecap) {
        c->ecap = c->ecap ? c->ecap * 2 : 256;
        c->e = xrealloc(c->e, c->ecap * sizeof(*c->e));
    }
    c->e[c->n++] = (struct mcache_ent){.uid = uid, .field = field, .seq = c->seq++,
                                       .priv = (uint32_t)priv, .off = off, .len = len};
    if (2 * c->n > c->nslot)
        grow_index(c);                 /* indexes every entry, this one included */
    else
        index_ent(c, c->n - 1);
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

static uint64_t rec_hash(uint32_t uid, uint32_t field, const void *data, size_t len)
{
    return mstore_hash(data, len, MSTORE_HASH_INIT ^ uid ^ ((uint64_t)field << 32));
}

const void *mcache_get(struct mcache *c, uint32_t uid, uint32_t field, size_t *len)
{
    if (!c->loaded)
        load(c);
    if (c->n == 0)
        return NULL;
    const struct mcache_ent *e = NULL;
    for (size_t s = slot_of(c, uid, field); c->slot[s]; s = (s + 1) & (c->nslot - 1)) {
        const struct mcache_ent *o = &c->e[c->slot[s] - 1];
        if (o->uid == uid && o->field == field) {
            e = o;                     /* the last record with this key */
            break;
        }
    }
    if (!e)
        return NULL;
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

#define MCACHE_BATCH (256u * 1024)   /* records gathered before one write(2) */

/* Write the records gathered so far with one O_APPEND write; a failure only loses cache. */
int mcache_flush(struct mcache *c)
{
    if (c->wlen == 0)
        return 0;
    if (!c->wopen) {                   /* kept open: a session adds many records */
        c->wfd = open_append(c);
        c->wopen = c->wfd >= 0;
    }
    int rc = c->wopen && write(c->wfd, c->wbuf, c->wlen) == (ssize_t)c->wlen ? 0 : -1;
    c->wlen = 0;
    return rc;
}

int mcache_put(struct mcache *c, uint32_t uid, uint32_t field, const void *data, size_t len)
{
    if (len > MCACHE_MAX_BLOB)
        return errno = EFBIG, -1;
    if (!c->loaded)
        load(c);
    size_t need = MCACHE_REC_HDR + len;
    if (c->wlen + need > c->wcap) {
        c->wcap = c->wlen + need > MCACHE_BATCH ? c->wlen + need : MCACHE_BATCH;
        c->wbuf = xrealloc(c->wbuf, c->wcap);
    }
    char *rec = c->wbuf + c->wlen;
    uint32_t blen = (uint32_t)len;
    uint64_t hash = rec_hash(uid, field, data, len);
    memcpy(rec, MCACHE_MAGIC, 4);
    memcpy(rec + 4, &uid, 4);
    memcpy(rec + 8, &field, 4);
    memcpy(rec + 12, &blen, 4);
    memcpy(rec + 16, &hash, 8);
    if (len)
        memcpy(rec + MCACHE_REC_HDR, data, len);
    c->wlen += need;
    /* kept in this process whether or not the file takes it */
    keep(c, uid, field, data, len);
    return c->wlen >= MCACHE_BATCH ? mcache_flush(c) : 0;
}
