/*
 * fuzz_milter.c - what a milter sends to yubin (src/lib-milter): packets
 * cut from a byte stream (milter_pkt_decode), the negotiation reply with
 * its macro lists (milter_neg_parse), every reply and modification
 * (milter_reply_parse, milter_reply_lines), and the modifications applied
 * to a message (milter_hdr_add/insert/change, milter_body_replace).
 * Milters are separate programs that may be buggy or compromised, so
 * every byte is untrusted.
 *
 * Input: a stream of milter packets (4-byte length, command, data).
 *
 * Invariants beyond "no crash":
 *  - a decoded packet lies within the input; its length is 1..MILTER_PKT_MAX;
 *  - a parsed reply's strings end inside the packet; a REPLYCODE's code is
 *    4xx or 5xx and its text splits into 1..MILTER_REPLY_LINES lines;
 *  - after the edits the message still has a header block followed by the
 *    rest, and no CR remains where the milter's CR LF were.
 * max_len: 65536
 */
#include "fuzz.h"
#include "lib-milter/milter.h"

static void check_str(const struct milter_pkt *p, const char *s)
{
    if (!s)
        return;
    FUZZ_ASSERT(s >= p->data && s < p->data + p->len);
    FUZZ_ASSERT(memchr(s, '\0', (size_t)(p->data + p->len - s)) != NULL);
}

static void edit(struct buf *msg, const struct milter_reply *r)
{
    switch (r->cmd) {
    case SMFIR_ADDHEADER:
        milter_hdr_add(msg, r->s1, r->s2, r->index & 1);
        break;
    case SMFIR_INSHEADER:
        milter_hdr_insert(msg, r->index, r->s1, r->s2, 0);
        break;
    case SMFIR_CHGHEADER:
        milter_hdr_change(msg, r->index, r->s1, r->s2, 0);
        break;
    case SMFIR_REPLBODY:
        milter_body_replace(msg, r->body, r->body_len);
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    const char *in = (const char *)data;
    size_t pos = 0;
    struct buf msg;
    buf_init(&msg, 1 << 20);
    buf_puts(&msg, "Received: from a\n\tby b\nSubject: s\n\nbody\n");
    while (pos < size) {
        struct milter_pkt p;
        size_t used = 0;
        int d = milter_pkt_decode(in + pos, size - pos, &p, &used);
        if (d <= 0)
            break;
        FUZZ_ASSERT(used >= 5 && used <= size - pos && p.len == used - 5);
        FUZZ_ASSERT(p.data == in + pos + 5);
        pos += used;
        struct milter_neg n;
        if (milter_neg_parse(&p, &n) == 0)
            for (int i = 0; i < MS_COUNT; i++)
                check_str(&p, n.macros[i]);
        struct milter_reply r;
        if (milter_reply_parse(&p, &r) < 0)
            continue;
        check_str(&p, r.s1);
        check_str(&p, r.s2);
        if (r.cmd == SMFIR_REPLYCODE) {
            FUZZ_ASSERT(r.code >= 400 && r.code < 600);
            char lines[MILTER_REPLY_LINES][512];
            int k = milter_reply_lines(r.s1, r.code, lines, MILTER_REPLY_LINES);
            FUZZ_ASSERT(k >= 1 && k <= MILTER_REPLY_LINES);
        }
        edit(&msg, &r);
        FUZZ_ASSERT(milter_header_end(msg.data, msg.len) <= msg.len);
    }
    buf_free(&msg);
    return 0;
}
