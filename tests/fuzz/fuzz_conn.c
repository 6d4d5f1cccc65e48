/*
 * fuzz_conn.c - the connection object's input splitting (src/lib/conn.c):
 * conn_line with a small limit, with and without CONN_CRLF, interleaved
 * with conn_blob and conn_peek/conn_consume, the input fed in pieces of
 * varying size (conn_feed) into a bounded input buffer.
 *
 * Input: byte 0 picks the line limit (1..64) and CONN_CRLF, byte 1 seeds
 * how the rest is cut into pieces and which call takes the next bytes.
 *
 * Invariants beyond "no crash":
 *  - a CONN_LINE is at most the limit, holds no LF and is NUL-terminated
 *    in place;
 *  - a CONN_LONG reports exactly `limit` bytes;
 *  - conn_consume takes exactly what it is asked; a full buffer that no
 *    call can take from holds input (the owner's cue to stop reading).
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib/conn.h"

#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 2)
        return 0;
    size_t limit = 1 + data[0] % 64;
    int flags = (data[0] & 0x80) ? CONN_CRLF : 0;
    unsigned seed = data[1];
    data += 2;
    size -= 2;
    struct conn *c = conn_new(-1, 256, 256);
    conn_keep_fd(c);
    conn_set_lines(c, limit, flags);
    size_t off = 0;
    while (off < size) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 100;
        if (n > size - off)
            n = size - off;
        size_t fed = conn_feed(c, data + off, n);
        off += fed;
        for (int k = 0; k < 8; k++) {
            seed = seed * 1103515245u + 12345u;
            unsigned what = (seed >> 16) % 8;
            char *p;
            size_t len;
            if (what < 6) {
                enum conn_line_result r = conn_line(c, &p, &len);
                if (r == CONN_NEED)
                    break;
                if (r == CONN_LINE) {
                    FUZZ_ASSERT(len <= limit);
                    FUZZ_ASSERT(p[len] == '\0');
                    FUZZ_ASSERT(!memchr(p, '\n', len));
                } else {
                    FUZZ_ASSERT(r == CONN_LONG && len == limit);
                }
            } else if (what == 6) {
                size_t got = conn_blob(c, (seed >> 8) % 50, &p);
                FUZZ_ASSERT(got <= 50);
            } else {
                size_t avail = conn_peek(c, &p);
                conn_consume(c, avail / 2);
                FUZZ_ASSERT(conn_peek(c, &p) == avail - avail / 2);
            }
        }
        if (fed == 0) {
            /* Full of input no call took: a connection would stop reading; drop it. */
            char *p;
            size_t avail = conn_peek(c, &p);
            FUZZ_ASSERT(avail > 0);
            FUZZ_ASSERT(conn_discard_input(c) == avail);
        }
    }
    conn_free(c);
    return 0;
}
