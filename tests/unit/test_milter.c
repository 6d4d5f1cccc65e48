/*
 * test_milter.c - lib-milter: packets both ways, every reply's validation,
 * multi-line reply codes, the negotiation reply with macro lists, main.cf
 * milter lists, and the edits applied to a message.
 */
#include "t.h"
#include "lib-milter/milter.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>

/* A reply packet: cmd and len bytes of data, with its length prefix. */
static size_t mk(char *out, char cmd, const char *data, size_t len)
{
    size_t n = len + 1;
    out[0] = (char)(n >> 24);
    out[1] = (char)(n >> 16);
    out[2] = (char)(n >> 8);
    out[3] = (char)n;
    out[4] = cmd;
    memcpy(out + 5, data, len);
    return len + 5;
}

static int parse(char cmd, const char *data, size_t len, struct milter_reply *r)
{
    static char raw[512];   /* the reply points into it */
    size_t n = mk(raw, cmd, data, len), used = 0;
    struct milter_pkt p;
    if (milter_pkt_decode(raw, n, &p, &used) != 1 || used != n)
        return -2;
    return milter_reply_parse(&p, r);
}

static void test_packets(void)
{
    struct buf b;
    buf_init(&b, 0);
    milter_put_optneg(&b, 6, MILTER_ACTIONS, MILTER_PROTO_V6);
    CHECK_INT(b.len, 4 + 1 + 12);
    CHECK_INT(b.data[3], 13);
    CHECK_INT(b.data[4], 'O');
    struct milter_pkt p;
    size_t used = 0;
    CHECK_INT(milter_pkt_decode(b.data, 3, &p, &used), 0);
    CHECK_INT(milter_pkt_decode(b.data, b.len - 1, &p, &used), 0);
    CHECK_INT(milter_pkt_decode(b.data, b.len, &p, &used), 1);
    CHECK_INT(used, b.len);
    CHECK_INT(p.cmd, 'O');
    CHECK_INT(p.len, 12);
    buf_reset(&b);
    const char *names[] = {"j", "{daemon_name}"}, *values[] = {"mx", "d"};
    milter_put_macros(&b, 'C', names, values, 2);
    CHECK(memcmp(b.data + 4, "DCj\0mx\0{daemon_name}\0d\0", 22) == 0);
    buf_reset(&b);
    milter_put_connect(&b, "client.test", '4', 2525, "192.0.2.1");
    CHECK(memcmp(b.data + 4, "Cclient.test\0" "4\x09\xdd" "192.0.2.1\0", 26) == 0);
    buf_reset(&b);
    const char *args[] = {"SIZE=10"};
    milter_put_envelope(&b, 'M', "a@b", args, 1);
    CHECK(memcmp(b.data + 4, "M<a@b>\0SIZE=10\0", 15) == 0);
    CHECK_INT(b.data[3], 15);
    buf_free(&b);
    /* lengths: zero and over the limit are refused */
    char bad[8] = {0, 0, 0, 0, 'c'};
    CHECK_INT(milter_pkt_decode(bad, 5, &p, &used), -1);
    char big[8] = {0x7f, 0, 0, 0, 'b'};
    CHECK_INT(milter_pkt_decode(big, 5, &p, &used), -1);
}

static void test_replies(void)
{
    struct milter_reply r;
    CHECK_INT(parse('c', "", 0, &r), 0);
    CHECK_INT(parse('a', "", 0, &r), 0);
    CHECK_INT(parse('Z', "", 0, &r), -1);            /* unknown */
    CHECK_INT(parse('h', "X-A\0v\0", 6, &r), 0);
    CHECK_STR(r.s1, "X-A");
    CHECK_STR(r.s2, "v");
    CHECK_INT(parse('h', "X-A\0v", 5, &r), -1);       /* value without its NUL */
    CHECK_INT(parse('h', "X-A\0v\0junk", 10, &r), -1); /* trailing bytes */
    CHECK_INT(parse('m', "\0\0\0\2Subject\0\0", 13, &r), 0);
    CHECK_INT(r.index, 2);
    CHECK_STR(r.s2, "");
    CHECK_INT(parse('m', "\0\0\2", 3, &r), -1);
    CHECK_INT(parse('i', "\0\0\0\0X\0y\0", 8, &r), 0);
    CHECK_INT(parse('+', "<a@b>\0", 6, &r), 0);
    CHECK_INT(parse('2', "<a@b>\0", 6, &r), 0);       /* ESMTP args optional */
    CHECK(r.s2 == NULL);
    CHECK_INT(parse('2', "<a@b>\0NOTIFY=NEVER\0", 19, &r), 0);
    CHECK_STR(r.s2, "NOTIFY=NEVER");
    CHECK_INT(parse('e', "<new@b>\0", 8, &r), 0);
    CHECK_INT(parse('-', "", 0, &r), -1);
    CHECK_INT(parse('b', "body\r\n", 6, &r), 0);
    CHECK_INT(r.body_len, 6);
    CHECK_INT(parse('q', "why\0", 4, &r), 0);
    CHECK_INT(parse('y', "550 5.7.1 no\0", 13, &r), 0);
    CHECK_INT(r.code, 550);
    CHECK_INT(parse('y', "250 ok\0", 7, &r), -1);     /* only 4xx and 5xx */
    CHECK_INT(parse('y', "55\0", 3, &r), -1);
    CHECK_INT(parse('y', "550x\0", 5, &r), -1);
    CHECK_INT(parse('y', "451-4.7.1 a\r\n451 4.7.1 b\0", 25, &r), 0);
    CHECK_INT(parse('y', "451-4.7.1 a\r\n550 4.7.1 b\0", 25, &r), -1); /* codes differ */
}

static void test_reply_lines(void)
{
    char lines[MILTER_REPLY_LINES][512];
    CHECK_INT(milter_reply_lines("554-5.7.1 one\r\n554-two\n554 5.7.1 three", 554, lines,
                                 MILTER_REPLY_LINES), 3);
    CHECK_STR(lines[0], "5.7.1 one");
    CHECK_STR(lines[1], "two");
    CHECK_STR(lines[2], "5.7.1 three");
    CHECK_INT(milter_reply_lines("554", 554, lines, MILTER_REPLY_LINES), 1);
    CHECK_STR(lines[0], "");
    CHECK_INT(milter_reply_lines("554 a\r\n554 b", 554, lines, MILTER_REPLY_LINES), -1);
    CHECK_INT(milter_reply_lines("554-a", 554, lines, MILTER_REPLY_LINES), -1);
    CHECK_INT(milter_reply_lines("554-a\n554-b\n554 c", 554, lines, 2), -1);
    CHECK_INT(milter_reply_lines("554 tab\there", 554, lines, 2), 1);
    CHECK_STR(lines[0], "tab here");
}

static void test_negotiation(void)
{
    char data[64];
    memcpy(data, "\0\0\0\6\0\0\0\x13\0\0\0\x40", 12);
    memcpy(data + 12, "\0\0\0\1{tls_version}\0", 18);
    struct milter_pkt p = {.cmd = 'O', .data = data, .len = 30};
    struct milter_neg n;
    CHECK_INT(milter_neg_parse(&p, &n), 0);
    CHECK_INT(n.version, 6);
    CHECK_INT(n.actions, 0x13);
    CHECK_INT(n.proto, SMFIP_NOEOH);
    CHECK_STR(n.macros[MS_HELO], "{tls_version}");
    CHECK(n.macros[MS_CONNECT] == NULL);
    p.len = 29;                                     /* the list's NUL cut off */
    CHECK_INT(milter_neg_parse(&p, &n), -1);
    memcpy(data + 12, "\0\0\0\x09x\0", 6);          /* no such stage */
    p.len = 18;
    CHECK_INT(milter_neg_parse(&p, &n), -1);
    p.len = 11;
    CHECK_INT(milter_neg_parse(&p, &n), -1);
    p.len = 14;                                     /* two stray bytes */
    CHECK_INT(milter_neg_parse(&p, &n), -1);
}

static void test_specs(void)
{
    struct milter_spec *v;
    char err[256];
    int n = milter_specs_parse("inet:localhost:8891, { unix:/run/x.sock, connect_timeout=5s, "
                               "command_timeout = 1m, default_action=accept, protocol=2 } "
                               "local:clamav/sock", &v, err, sizeof(err));
    CHECK_INT(n, 3);
    CHECK_STR(v[0].name, "inet:localhost:8891");
    CHECK_INT(v[0].connect_ms, -1);
    CHECK_STR(v[1].name, "unix:/run/x.sock");
    CHECK_INT(v[1].connect_ms, 5000);
    CHECK_INT(v[1].command_ms, 60000);
    CHECK_STR(v[1].default_action, "accept");
    CHECK_INT(v[1].protocol, 2);
    CHECK_STR(v[2].name, "local:clamav/sock");
    milter_specs_free(v, (size_t)n);
    CHECK_INT(milter_specs_parse("", &v, err, sizeof(err)), 0);
    CHECK_INT(milter_specs_parse("{ inet:a:1, bogus=1 }", &v, err, sizeof(err)), -1);
    CHECK(strstr(err, "bogus") != NULL);
    CHECK_INT(milter_specs_parse("{ inet:a:1, default_action=explode }", &v, err, sizeof(err)), -1);
    CHECK_INT(milter_specs_parse("{ inet:a:1", &v, err, sizeof(err)), -1);
    CHECK_INT(milter_specs_parse("inet:nohost", &v, err, sizeof(err)), -1);
    CHECK_INT(milter_specs_parse("{ }", &v, err, sizeof(err)), -1);
    CHECK_INT(milter_specs_parse("{ inet:a:1, command_timeout=5x }", &v, err, sizeof(err)), -1);
}

static void test_edits(void)
{
    struct buf m;
    buf_init(&m, 0);
    buf_puts(&m, "Received: from x\n\tby y\nSubject: one\nX-A: 1\nx-a: 2\n\nbody\n");
    CHECK_INT(milter_header_end(m.data, m.len), 50);
    struct milter_hdr_iter it;
    const char *n, *v;
    size_t nl, vl;
    milter_hdr_iter_init(&it, m.data, m.len);
    CHECK_INT(milter_hdr_next(&it, &n, &nl, &v, &vl), 1);
    CHECK(nl == 8 && vl == 13 && memcmp(v, " from x\n\tby y", 13) == 0);
    CHECK_INT(milter_hdr_next(&it, &n, &nl, &v, &vl), 1);
    CHECK(nl == 7 && memcmp(n, "Subject", 7) == 0);
    CHECK_INT(milter_hdr_change(&m, 2, "X-A", "two", 0), 0);
    CHECK_INT(milter_hdr_change(&m, 1, "x-a", "", 0), 0);      /* delete */
    CHECK_INT(milter_hdr_insert(&m, 1, "X-Ins", "i", 0), 0);
    CHECK_INT(milter_hdr_add(&m, "X-Add", "a\r\n\tb", 0), 0);
    CHECK_INT(milter_hdr_add(&m, "X-Lead", " kept", 1), 0);
    CHECK_INT(milter_hdr_change(&m, 3, "Subject", "new", 0), 0); /* none: added */
    CHECK_STR(m.data, "Received: from x\n\tby y\nX-Ins: i\nSubject: one\nX-A: two\n"
                      "X-Add: a\n\tb\nX-Lead: kept\nSubject: new\n\nbody\n");
    CHECK_INT(milter_body_replace(&m, "new\r\nbody\r\n", 11), 0);
    CHECK(strstr(m.data, "Subject: new\n\nnew\nbody\n") != NULL);
    CHECK_INT(milter_hdr_insert(&m, 99, "X-End", "e", 0), 0);
    CHECK(strstr(m.data, "Subject: new\nX-End: e\n\nnew\n") != NULL);
    buf_reset(&m);
    buf_puts(&m, "Subject: only headers\n");
    CHECK_INT(milter_body_replace(&m, "b\r\n", 3), 0);
    CHECK_STR(m.data, "Subject: only headers\n\nb\n");
    buf_free(&m);
}

int main(void)
{
    T_RUN(test_packets);
    T_RUN(test_replies);
    T_RUN(test_reply_lines);
    T_RUN(test_negotiation);
    T_RUN(test_specs);
    T_RUN(test_edits);
    return T_DONE();
}
