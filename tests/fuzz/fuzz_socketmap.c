/*
 * fuzz_socketmap.c - what a socketmap server sends back
 * (socketmap_table(5), src/lib-table/tableproto.c): netstring framing
 * (netstring_decode) and the reply payload (sockmap_parse_reply), as
 * table_socketmap.c reads them from an untrusted server.
 *
 * Input: the bytes of the server's reply stream.
 *
 * Invariants beyond "no crash":
 *  - a complete netstring lies within the input, ends with ',' and its
 *    payload is at most the limit; encoding that payload again gives the
 *    same bytes;
 *  - a reply is FOUND, NOTFOUND or TEMPFAIL, never anything else; a found
 *    value is exactly the payload after "OK " (no NUL byte in it) and fits
 *    the result buffer's limit.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-table/table.h"
#include "lib-table/tableproto.h"

#define FUZZ_REPLY_MAX 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    const char *in = (const char *)data;
    size_t off = 0, plen = 0, used = 0;
    const char *why = NULL;
    int r = netstring_decode(in, size, FUZZ_REPLY_MAX, &off, &plen, &used, &why);
    FUZZ_ASSERT(r >= -1 && r <= 1);
    FUZZ_ASSERT(r >= 0 || why != NULL);
    const char *payload = in;
    size_t len = size;
    if (r == 1) {
        FUZZ_ASSERT(plen <= FUZZ_REPLY_MAX && used <= size && off + plen + 1 == used);
        FUZZ_ASSERT(in[used - 1] == ',');
        struct buf again;
        buf_init(&again, 0);
        FUZZ_ASSERT(netstring_encode(&again, in + off, plen) == 0);
        FUZZ_ASSERT(again.len == used && memcmp(again.data, in, used) == 0);
        buf_free(&again);
        payload = in + off;
        len = plen;
    }
    struct buf value;
    buf_init(&value, 256);
    char reason[300];
    int rc = sockmap_parse_reply(payload, len, &value, reason, sizeof(reason));
    FUZZ_ASSERT(rc == TABLE_FOUND || rc == TABLE_NOTFOUND || rc == TABLE_TEMPFAIL);
    if (rc == TABLE_FOUND) {
        FUZZ_ASSERT(len >= 2 && memcmp(payload, "OK", 2) == 0);
        FUZZ_ASSERT(value.len <= 256 && value.len == (len > 2 ? len - 3 : 0));
        FUZZ_ASSERT(memchr(buf_cstr(&value), '\0', value.len) == NULL);
    } else {
        FUZZ_ASSERT(value.len == 0);
    }
    buf_free(&value);
    return 0;
}
