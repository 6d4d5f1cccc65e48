/*
 * fuzz_queue.c - the queue's decoders of bytes read back from disk
 * (src/lib/queue_env.c, queue_io.c, queue_done.c): the envelope text
 * (qenv_decode), queue files record by record (qreader_open,
 * qreader_record with and without the content check, qreader_sealed,
 * queue_read, queue_read_envelope) and done logs (qdone_load,
 * qdone_sort, qdone_find).
 *
 * Input: byte 0 picks the decoder. For whole files the harness writes
 * the bytes into a per-process directory after fixing up the CRC32C
 * fields the writer would have computed (file header, each record's
 * header+envelope CRC seeded with the salt, content CRC, done entries),
 * so the fuzzer gets past the checksums to the structure behind them;
 * an odd byte 1 leaves the record CRCs as they are.
 *
 * Invariants beyond "no crash":
 *  - envelopes: whatever qenv_decode accepts, qenv_encode writes again
 *    (decode enforces every limit encode does), and decoding that text
 *    gives the same encoding (a fixed point);
 *  - queue files: a record qreader_record() accepts lies inside the file
 *    and its successor starts at off + total; queue_read() of an accepted
 *    message record gives its content length exactly;
 *  - done logs: every loaded entry was in the file, and qdone_find()
 *    finds each entry's offset in the sorted list.
 * FUZZ_TRACE=1 in the environment lists the records a file holds (for seeds).
 * max_len: 8192
 */
#include "fuzz.h"
#include "lib-queue/queue.h"
#include "lib-queue/queue_int.h"

static char qfile[300], dfile[300];

static void check_envelope(const char *data, size_t len)
{
    struct qenvelope e;
    const char *why = NULL;
    if (qenv_decode(data, len, &e, &why) < 0) {
        FUZZ_ASSERT(why);
        qenv_free(&e);
        return;
    }
    FUZZ_ASSERT(e.nrcpts > 0 && e.sender && queue_id_valid(e.qid));
    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    if (qenv_encode(&e, &a) != 0) {
        fprintf(stderr, "decoded but not encodable: %.*s\n", (int)len, data);
        FUZZ_ASSERT(!"what qenv_decode accepts, qenv_encode writes");
    }
    struct qenvelope e2;
    FUZZ_ASSERT(qenv_decode(a.data, a.len, &e2, &why) == 0);
    FUZZ_ASSERT(qenv_encode(&e2, &b) == 0);
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    FUZZ_ASSERT(e2.nrcpts == e.nrcpts && e2.nattrs == e.nattrs);
    qenv_free(&e2);
    (void)qenv_pending(&e);
    (void)qenv_attr(&e, "client_address");
    struct qenvelope copy;
    qenv_copy(&copy, &e);
    qenv_free(&copy);
    buf_free(&a);
    buf_free(&b);
    qenv_free(&e);
}

/* What the writer would have computed, so checksums do not stop the fuzzer. */
static void fix_checksums(uint8_t *d, size_t n, int records)
{
    if (n < QF_HDR_LEN)
        return;
    q_put32(d + 28, queue_crc32c(0, d, 28));
    if (!records)
        return;
    uint32_t seed = q_seed(q_get64(d + 8));
    uint64_t off = QF_HDR_LEN;
    while (off + QR_HDR_LEN <= n) {
        uint8_t *h = d + off;
        uint64_t total = q_get64(h + 8);
        uint32_t envlen = q_get32(h + 16);
        if (total < QR_HDR_LEN || total > n - off || envlen > total - QR_HDR_LEN)
            break;
        if (h[5] == QR_TYPE_MSG)
            q_put32(h + 20, queue_crc32c(0, h + QR_HDR_LEN + envlen,
                                         (size_t)(total - QR_HDR_LEN - envlen)));
        uint32_t c = queue_crc32c(seed, h, 28);
        q_put32(h + 28, queue_crc32c(c, h + QR_HDR_LEN, envlen));
        off += total;
    }
}

static void check_file(const uint8_t *data, size_t size, int fix)
{
    uint8_t *d = malloc(size ? size : 1);
    FUZZ_ASSERT(d);
    memcpy(d, data, size);
    fix_checksums(d, size, fix);
    fuzz_write_file(qfile, d, size);
    free(d);
    struct qreader r;
    if (qreader_open(&r, qfile) < 0)
        return;
    (void)qreader_sealed(&r);
    uint64_t off = QF_HDR_LEN;
    for (int verify = 0; verify < 2; verify++) {
        off = QF_HDR_LEN;
        for (;;) {
            struct qrec_hdr h;
            const char *env = NULL, *why = NULL;
            int rc = qreader_record(&r, off, &h, &env, verify, &why);
            FUZZ_ASSERT(rc >= -2 && rc <= 1);
            if (rc != 1) {
                FUZZ_ASSERT(rc == 0 ? off == r.size : why != NULL);
                break;
            }
            FUZZ_ASSERT(h.total >= QR_HDR_LEN && h.total <= r.size - off && env);
            if (getenv("FUZZ_TRACE"))
                fprintf(stderr, "record at %llu: type %d, %llu bytes\n", (unsigned long long)off,
                        h.type, (unsigned long long)h.total);
            if (h.type == QR_TYPE_MSG) {
                check_envelope(env, h.envlen);
                struct qref ref;
                memset(&ref, 0, sizeof(ref));
                str_copy(ref.path, qfile, sizeof(ref.path));
                ref.offset = (off_t)off;
                ref.length = (size_t)h.total;
                struct qenvelope e;
                struct buf content;
                buf_init(&content, 0);
                if (queue_read(&ref, &e, &content) == 0)
                    FUZZ_ASSERT(content.len == h.total - QR_HDR_LEN - h.envlen);
                qenv_free(&e);
                buf_free(&content);
                size_t clen = 0;
                if (queue_read_envelope(&ref, &e, &clen) == 0)
                    FUZZ_ASSERT(clen == h.total - QR_HDR_LEN - h.envlen);
                qenv_free(&e);
            }
            off += h.total;
        }
    }
    qreader_close(&r);
}

static void check_done(const uint8_t *data, size_t size)
{
    /* Entries carry a CRC seeded with a salt; fix them up for seed 0x1234. */
    uint8_t *d = malloc(size ? size : 1);
    FUZZ_ASSERT(d);
    memcpy(d, data, size);
    const uint32_t seed = 0x1234;
    for (size_t off = 0; off + QD_ENT_LEN <= size; off += QD_ENT_LEN)
        if (!(d[off + 12] & 1))  /* leave some entries broken */
            q_put32(d + off + 12, queue_crc32c(seed, d + off, 12));
    fuzz_write_file(dfile, d, size);
    struct qdone_ent *v = NULL;
    size_t n = 0;
    if (qdone_load(dfile, seed, &v, &n) == 0) {
        FUZZ_ASSERT(n <= size / QD_ENT_LEN);
        qdone_sort(v, n);
        for (size_t i = 0; i < n; i++) {
            size_t count = 0;
            size_t first = qdone_find(v, n, v[i].off, &count);
            FUZZ_ASSERT(count >= 1 && first <= i && i < first + count);
        }
    }
    free(v);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_quiet();
    if (!qfile[0]) {
        str_fmt(qfile, sizeof(qfile), "%s/J1.1.1", fuzz_dir());
        str_fmt(dfile, sizeof(dfile), "%s/J1.1.1.done", fuzz_dir());
    }
    unsigned mode = data[0] % 3, fix = !(data[1] & 1);
    data += 2;
    size -= 2;
    switch (mode) {
    case 0: check_envelope((const char *)data, size); break;
    case 1: check_file(data, size, fix); break;
    case 2: check_done(data, size); break;
    }
    return 0;
}
