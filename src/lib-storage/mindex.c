/*
 * mindex.c - yubin's per-folder index "yubin.index": what a second open of
 * a folder needs without reading the directory or the messages.
 *
 * Layout (host byte order; a cache, not an exchange format):
 *   header   struct disk_hdr (magic, version, UIDVALIDITY and next UID it
 *            was built for, the first UID not yet \Recent, the mailbox
 *            GUID, highest and reserved MODSEQ, boot id, the
 *            mtimes of new/ and cur/ and the identity of dovecot-uidlist
 *            when the directory was last read, counts)
 *   records  struct disk_rec per message, ascending UID
 *   names    the file names, NUL-terminated
 *   hash     FNV-1a of everything before it
 * Written whole (temp file, rename) by a holder of the uidlist lock, so a
 * reader sees an old or a new index, never a torn one; anything that does
 * not check out is "missing" and the caller rebuilds from the Maildir.
 *
 * MODSEQ never goes backwards: before a MODSEQ above reserved_modseq is
 * given out, the index is written with a new reservation and fsync'd. A
 * kill -9 loses nothing (written data survives the process); after a
 * reboot (another boot id) unsynced writes may be lost, so the highest
 * MODSEQ restarts from the durable reservation. A rebuilt index starts
 * from the clock in microseconds, above anything counted before.
 */
#include "lib-storage/mstore_int.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MINDEX_MAGIC 0x58494259u          /* "YBIX" */
#define MINDEX_VERSION 2
#define MINDEX_RESERVE 4096
#define MINDEX_MAX (1u << 30)

struct disk_hdr {
    uint32_t magic, version;
    uint32_t uidvalidity, next_uid;
    uint32_t first_recent_uid, pad;
    char guid[40];
    uint64_t highest_modseq, reserved_modseq;
    char boot_id[40];
    int64_t new_mtime_ns, cur_mtime_ns;
    uint64_t ul_ino, ul_size;
    int64_t ul_mtime_ns;
    uint32_t count, names_len;
};

struct disk_rec {
    uint32_t uid, flags, keywords, name_off;
    uint32_t baselen, pad;
    uint64_t size, vsize;
    int64_t internaldate;
    uint64_t modseq;
};

uint64_t mstore_hash(const void *data, size_t len, uint64_t h)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

const char *mindex_boot_id(void)
{
    static char id[40];
    static int done;
    if (!done) {
        done = 1;
        char *t = read_file("/proc/sys/kernel/random/boot_id", 64, NULL);
        if (t) {
            str_copy(id, str_trim(t), sizeof(id));
            free(t);
        }
    }
    return id;
}

uint64_t mindex_modseq_floor(void)
{
    return now_usec();
}

uint64_t mindex_next_modseq(struct mindex *ix)
{
    ix->highest_modseq++;
    if (ix->highest_modseq > ix->reserved_modseq) {
        ix->reserved_modseq = ix->highest_modseq + MINDEX_RESERVE;
        ix->sync_needed = 1;
    }
    return ix->highest_modseq;
}

void mindex_push(struct mindex *ix, const struct mmsg *m)
{
    if (ix->n == ix->cap) {
        ix->cap = ix->cap ? ix->cap * 2 : 256;
        ix->m = xrealloc(ix->m, ix->cap * sizeof(*ix->m));
    }
    ix->m[ix->n++] = *m;
}

void mindex_clear(struct mindex *ix)
{
    for (size_t i = 0; i < ix->n; i++)
        free(ix->m[i].name);
    ix->n = 0;
}

void mindex_free(struct mindex *ix)
{
    mindex_clear(ix);
    free(ix->m);
    ix->m = NULL;
    ix->cap = 0;
}

static int64_t ns_of(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* Records and names from a checked buffer; -1 on anything inconsistent. */
static int parse_body(struct mindex *ix, const struct disk_hdr *h, const char *data, size_t len)
{
    size_t recs = sizeof(*h) + (size_t)h->count * sizeof(struct disk_rec);
    if (recs > len || len - recs != (size_t)h->names_len + 8)
        return -1;
    const char *names = data + recs;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < h->count; i++) {
        struct disk_rec r;
        memcpy(&r, data + sizeof(*h) + (size_t)i * sizeof(r), sizeof(r));
        if (r.uid <= prev || r.name_off >= h->names_len || r.modseq > h->highest_modseq)
            return -1;
        const char *nm = names + r.name_off;
        size_t nlen = strnlen(nm, h->names_len - r.name_off);
        if (nlen == h->names_len - r.name_off || r.baselen == 0 || r.baselen > nlen)
            return -1;
        prev = r.uid;
        struct mmsg m = {.uid = r.uid, .flags = r.flags, .keywords = r.keywords,
                         .size = r.size, .vsize = r.vsize, .internaldate = r.internaldate,
                         .modseq = r.modseq, .name = xstrndup(nm, nlen), .baselen = r.baselen};
        mindex_push(ix, &m);
    }
    return 0;
}

int mindex_read(int dirfd, struct mindex *ix)
{
    mindex_clear(ix);
    int fd = openat(dirfd, MINDEX_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    size_t len = 0;
    char *data = fstat(fd, &st) == 0 ? read_fd(fd, MINDEX_MAX, &len) : NULL;
    close(fd);
    struct disk_hdr h;
    int rc = -1;
    if (data && len >= sizeof(h) + 8) {
        uint64_t want;
        memcpy(&h, data, sizeof(h));
        memcpy(&want, data + len - 8, 8);
        if (h.magic == MINDEX_MAGIC && h.version == MINDEX_VERSION &&
            mstore_hash(data, len - 8, MSTORE_HASH_INIT) == want &&
            h.highest_modseq <= h.reserved_modseq)
            rc = parse_body(ix, &h, data, len);
    }
    free(data);
    if (rc < 0) {
        mindex_clear(ix);
        return -1;
    }
    ix->uidvalidity = h.uidvalidity;
    ix->next_uid = h.next_uid;
    ix->first_recent_uid = h.first_recent_uid;
    memcpy(ix->guid, h.guid, sizeof(ix->guid));
    ix->guid[sizeof(ix->guid) - 1] = '\0';
    ix->highest_modseq = h.highest_modseq;
    ix->reserved_modseq = h.reserved_modseq;
    memcpy(ix->boot_id, h.boot_id, sizeof(ix->boot_id));
    ix->boot_id[sizeof(ix->boot_id) - 1] = '\0';
    if (strcmp(ix->boot_id, mindex_boot_id()) != 0)
        ix->highest_modseq = ix->reserved_modseq;      /* rebooted: unsynced writes may be gone */
    ix->new_mtime_ns = h.new_mtime_ns;
    ix->cur_mtime_ns = h.cur_mtime_ns;
    memset(&ix->uidlist_st, 0, sizeof(ix->uidlist_st));
    ix->uidlist_st.st_ino = (ino_t)h.ul_ino;
    ix->uidlist_st.st_size = (off_t)h.ul_size;
    ix->uidlist_st.st_mtim.tv_sec = h.ul_mtime_ns / 1000000000;
    ix->uidlist_st.st_mtim.tv_nsec = h.ul_mtime_ns % 1000000000;
    ix->file_st = st;
    return 0;
}

static int put_records(struct buf *b, const struct mindex *ix)
{
    uint32_t off = 0;
    for (size_t i = 0; i < ix->n; i++) {
        const struct mmsg *m = &ix->m[i];
        struct disk_rec r = {.uid = m->uid, .flags = m->flags, .keywords = m->keywords,
                             .name_off = off, .baselen = (uint32_t)m->baselen, .size = m->size,
                             .vsize = m->vsize, .internaldate = m->internaldate,
                             .modseq = m->modseq};
        if (buf_append(b, &r, sizeof(r)) < 0)
            return -1;
        off += (uint32_t)strlen(m->name) + 1;
    }
    for (size_t i = 0; i < ix->n; i++)
        if (buf_append(b, ix->m[i].name, strlen(ix->m[i].name) + 1) < 0)
            return -1;
    return 0;
}

int mindex_write(int dirfd, struct mindex *ix)
{
    struct disk_hdr h;
    memset(&h, 0, sizeof(h));
    h.magic = MINDEX_MAGIC;
    h.version = MINDEX_VERSION;
    h.uidvalidity = ix->uidvalidity;
    h.next_uid = ix->next_uid;
    h.first_recent_uid = ix->first_recent_uid;
    memcpy(h.guid, ix->guid, sizeof(ix->guid));
    h.highest_modseq = ix->highest_modseq;
    h.reserved_modseq = ix->reserved_modseq;
    str_copy(h.boot_id, mindex_boot_id(), sizeof(h.boot_id));
    h.new_mtime_ns = ix->new_mtime_ns;
    h.cur_mtime_ns = ix->cur_mtime_ns;
    h.ul_ino = (uint64_t)ix->uidlist_st.st_ino;
    h.ul_size = (uint64_t)ix->uidlist_st.st_size;
    h.ul_mtime_ns = ns_of(&ix->uidlist_st.st_mtim);
    h.count = (uint32_t)ix->n;
    for (size_t i = 0; i < ix->n; i++)
        h.names_len += (uint32_t)strlen(ix->m[i].name) + 1;
    struct buf b;
    buf_init(&b, MINDEX_MAX);
    int rc = buf_append(&b, &h, sizeof(h));
    if (rc == 0)
        rc = put_records(&b, ix);
    uint64_t hash = mstore_hash(b.data, b.len, MSTORE_HASH_INIT);
    if (rc == 0)
        rc = buf_append(&b, &hash, sizeof(hash));
    if (rc == 0)
        rc = mstore_file_replace(dirfd, MINDEX_FILE, b.data, b.len, ix->sync_needed);
    else
        errno = EFBIG;
    buf_free(&b);
    if (rc == 0) {
        ix->sync_needed = 0;
        fstatat(dirfd, MINDEX_FILE, &ix->file_st, AT_SYMLINK_NOFOLLOW);
    }
    return rc;
}
