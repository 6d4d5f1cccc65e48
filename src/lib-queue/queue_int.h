/*
 * queue_int.h - internals shared by the queue_*.c files (not for other
 * modules): header encoding, the record reader, done-log entries, and
 * small file helpers. The on-disk format is documented in queue.h.
 */
#ifndef YUBIN_QUEUE_INT_H
#define YUBIN_QUEUE_INT_H

#include "lib-queue/queue.h"

#include <stdint.h>
#include <string.h>

#define QF_HDR_LEN 32
#define QR_HDR_LEN 32
#define QD_ENT_LEN 16

#define QF_MAGIC "YBQF"
#define QR_MAGIC "YBQR"
#define Q_VERSION 1

#define QF_KIND_SEGMENT 1
#define QF_KIND_FILE    2

#define QR_TYPE_MSG  1
#define QR_TYPE_SEAL 2

/* Reader window: at least this much is read per pread. */
#define QREAD_WINDOW (64 * 1024)
/* Chunk for streaming content (copy, CRC). */
#define QCOPY_CHUNK (256 * 1024)

static inline void q_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void q_put64(uint8_t *p, uint64_t v)
{
    q_put32(p, (uint32_t)v);
    q_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t q_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t q_get64(const uint8_t *p)
{
    return (uint64_t)q_get32(p) | (uint64_t)q_get32(p + 4) << 32;
}

/* 32-bit CRC seed derived from a file's salt. */
static inline uint32_t q_seed(uint64_t salt)
{
    return (uint32_t)(salt ^ (salt >> 32));
}

struct qfile_hdr {
    int kind;
    uint64_t salt;
    uint64_t ctime_usec;
};

struct qrec_hdr {
    int type;
    uint64_t total;        /* whole record */
    uint32_t envlen;
    uint32_t ccrc;         /* message: content CRC */
    uint64_t seal_off;     /* seal: its own offset */
    uint32_t hcrc;
};

void qf_hdr_encode(uint8_t out[QF_HDR_LEN], int kind, uint64_t salt, uint64_t ctime_usec);
int qf_hdr_decode(const uint8_t in[QF_HDR_LEN], struct qfile_hdr *h);
/* Encode a record header; computes the header CRC over it and env. */
void qr_hdr_encode(uint8_t out[QR_HDR_LEN], const struct qrec_hdr *h, uint32_t seed,
                   const void *env, size_t envlen);
/* Structural decode (magic, version, type, lengths); no CRC check. 0 or -1 (*why). */
int qr_hdr_decode(const uint8_t in[QR_HDR_LEN], struct qrec_hdr *h, const char **why);
int qr_hdr_crc_ok(const uint8_t in[QR_HDR_LEN], uint32_t seed, const void *env, size_t envlen);

/* 64 random bits (getrandom, falling back to time^pid). */
uint64_t q_random64(void);

/*
 * Sequential/random reader of one queue file.
 */
struct qreader {
    int fd;
    char path[512];
    uint64_t size;         /* file size at open */
    struct qfile_hdr fh;
    uint32_t seed;
    char *win;             /* read window */
    uint64_t win_off;
    size_t win_len, win_cap;
};

/* Open path read-only and check its file header. 0, or -1 with errno (EBADMSG: bad header). */
int qreader_open(struct qreader *r, const char *path);
void qreader_close(struct qreader *r);
/* Re-read the size (a live segment grows). */
void qreader_refresh(struct qreader *r);

/*
 * Read and check the record at off. Returns 1 with *h filled and *env
 * pointing at the envelope bytes (valid until the next reader call), 0 at
 * exactly the end of the file, -1 for an invalid record (*why says what,
 * errno EBADMSG), -2 for a read error (errno). verify: also check the
 * content CRC. A seal record is returned like a message (h->type).
 */
int qreader_record(struct qreader *r, uint64_t off, struct qrec_hdr *h, const char **env,
                   int verify, const char **why);
/* CRC32C of len bytes at off (streamed). 0 or -1 (EIO on short file). */
int qreader_crc(struct qreader *r, uint64_t off, uint64_t len, uint32_t *crc);
/* Is the file ended by a valid seal record (checked on the last 32 bytes)? */
int qreader_sealed(struct qreader *r);

/* Done-log entries. */
struct qdone_ent {
    uint64_t off;
    int32_t idx;
};
/* Load every valid entry of donepath (seed of its file). ENOENT gives 0 entries. 0 or -1. */
int qdone_load(const char *donepath, uint32_t seed, struct qdone_ent **v, size_t *n);
/* Sort entries by (off, idx). */
void qdone_sort(struct qdone_ent *v, size_t n);
/* Entries for off in sorted v: index of the first and count. */
size_t qdone_find(const struct qdone_ent *v, size_t n, uint64_t off, size_t *count);

/* Is the file at path locked by someone else (its writer)? 1 yes, 0 no, -1 error. */
int q_locked(const char *path);

/* pread/pwrite/write whole buffers, retrying EINTR and short transfers. */
int q_pread_full(int fd, void *buf, size_t len, uint64_t off);
int q_writev_full(int fd, struct iovec *iov, int iovcnt);

/* Split "dir/name": copy the directory part of path into dir. 0 or -1. */
int q_dirname(const char *path, char *dir, size_t dirlen);
const char *q_basename(const char *path);
/* Does name end with suffix? */
int q_has_suffix(const char *name, const char *suffix);

/* How often queue_done_sync() looks again at a segment its writer held (ms). */
extern uint64_t qdone_gc_retry_ms;

/* Internal hook: forget cached done state of a file path (rewritten/removed). */
void qdone_forget(const char *path);

#endif
