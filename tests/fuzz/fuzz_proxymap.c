/*
 * fuzz_proxymap.c - the proxymap protocol (src/lib-table/tableproto.c):
 * request lines as the proxymap service parses them from any local
 * client (tproto_request_parse), then the whole answer path of the
 * service (proxymap_answer, src/proxymap/proxymap.c: approval by
 * proxy_read_maps, opening and looking up an approved inline: table);
 * reply lines as an event-loop client parses them (tproto_reply_parse).
 *
 * Input: byte 0 picks request (even) or reply (odd); the rest is one line
 * without its LF.
 *
 * Invariants beyond "no crash":
 *  - a parsed request encodes (tproto_request_encode) and parses back to
 *    the same mode, spec and key;
 *  - the service answers every line with exactly one well-formed reply
 *    line; a spec outside proxy_read_maps is denied, never opened;
 *  - a parsed reply encodes (tproto_reply_encode) and parses back to the
 *    same status and value.
 * max_len: 8192
 */
#include "fuzz.h"
#include "lib-conf/config.h"
#include "lib-table/table.h"
#include "lib-table/tableproto.h"
#include "proxymap/proxymap.h"

static struct pmap_tables *pt;
static struct config *cfg;

static void setup(void)
{
    if (pt)
        return;
    static const char text[] =
        "proxy_read_maps = proxy:inline:{ {a@b=c@d}, {x=y} } socketmap:unix:/nonexistent:m\n";
    char path[300];
    str_fmt(path, sizeof(path), "%s/main.cf", fuzz_dir());
    fuzz_write_file(path, text, sizeof(text) - 1);
    cfg = config_load_lenient(fuzz_dir());
    FUZZ_ASSERT(cfg != NULL);
    pt = proxymap_tables_new(cfg);
}

static void check_request(char *line, size_t len)
{
    char *copy = xstrndup(line, len);
    struct tproto_request req;
    const char *why = NULL;
    if (tproto_request_parse(line, len, &req, &why) == 0) {
        struct buf enc;
        buf_init(&enc, TPROTO_REQUEST_MAX);
        FUZZ_ASSERT(tproto_request_encode(&enc, req.exact, req.spec, req.key) == 0);
        struct tproto_request back;
        FUZZ_ASSERT(tproto_request_parse(enc.data, enc.len - 1, &back, &why) == 0);
        FUZZ_ASSERT(back.exact == req.exact && strcmp(back.spec, req.spec) == 0 &&
                    strcmp(back.key, req.key) == 0);
        buf_free(&enc);
    } else {
        FUZZ_ASSERT(why != NULL);
    }
    struct buf reply;
    buf_init(&reply, TPROTO_REPLY_MAX + 1);
    proxymap_answer(pt, copy, len, &reply);
    FUZZ_ASSERT(reply.len > 0 && reply.data[reply.len - 1] == '\n');
    FUZZ_ASSERT(memchr(reply.data, '\n', reply.len) == reply.data + reply.len - 1);
    enum tproto_status st;
    char *value;
    FUZZ_ASSERT(tproto_reply_parse(reply.data, reply.len - 1, &st, &value, &why) == 0);
    buf_free(&reply);
    free(copy);
}

static void check_reply(char *line, size_t len)
{
    enum tproto_status st;
    char *value;
    const char *why = NULL;
    if (tproto_reply_parse(line, len, &st, &value, &why) < 0) {
        FUZZ_ASSERT(why != NULL);
        return;
    }
    FUZZ_ASSERT(st >= TP_FOUND && st <= TP_DENIED);
    struct buf enc;
    buf_init(&enc, TPROTO_REPLY_MAX);
    FUZZ_ASSERT(tproto_reply_encode(&enc, st, value) == 0);
    enum tproto_status st2;
    char *value2;
    FUZZ_ASSERT(tproto_reply_parse(enc.data, enc.len - 1, &st2, &value2, &why) == 0);
    FUZZ_ASSERT(st2 == st && strcmp(value2, value) == 0);
    buf_free(&enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    setup();
    size_t len = size - 1;
    char *line = xmalloc(len + 1);      /* line[len]: the LF's place */
    memcpy(line, data + 1, len);
    line[len] = '\0';
    if (data[0] & 1)
        check_reply(line, len);
    else
        check_request(line, len);
    free(line);
    return 0;
}
