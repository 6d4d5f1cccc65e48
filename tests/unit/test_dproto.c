/* Unit tests for the delivery request protocol (dproto.c). */
#include "t.h"
#include "lib-queue/dproto.h"
#include "lib/util.h"

#include <stdlib.h>

static void build(struct dreq *r)
{
    dproto_init_request(r);
    str_copy(r->qid, "4ZxMzF3TQSz9sPg", sizeof(r->qid));
    str_copy(r->path, "/var/spool/yubin/journal/J1700000000.42.1", sizeof(r->path));
    r->offset = 1234;
    r->length = 5678;
    r->sender = xstrdup("alice@example.org");
    dproto_add_attr(r, "arrival", "1700000000");
    dproto_add_rcpt(r, 0, "bob@example.com", "Bob@Example.com", NULL);
    dproto_add_rcpt(r, 7, "|/usr/bin/procmail -a x", "root@example.com",
                    "alias=root@example.com,target=command");
}

/* Feed a whole encoded request line by line; returns the last parser result. */
static int parse_all(struct dreq *r, const char *text)
{
    char *copy = xstrdup(text), *save = NULL;
    int rc = -2;
    dproto_init_request(r);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        rc = dproto_parse_request_line(r, line);
        if (rc != 0)
            break;
    }
    free(copy);
    return rc;
}

static void test_roundtrip(void)
{
    struct dreq r, p;
    build(&r);
    char *enc = dproto_encode_request(&r);
    CHECK(enc != NULL);
    CHECK_STR(enc, "DELIVER\t4ZxMzF3TQSz9sPg\t/var/spool/yubin/journal/J1700000000.42.1\t1234\t5678\n"
                   "S\talice@example.org\n"
                   "A\tarrival\t1700000000\n"
                   "R\t0\tbob@example.com\tBob@Example.com\t-\n"
                   "R\t7\t|/usr/bin/procmail -a x\troot@example.com\talias=root@example.com,target=command\n"
                   ".\n");
    CHECK_INT(parse_all(&p, enc), 1);
    CHECK_STR(p.qid, "4ZxMzF3TQSz9sPg");
    CHECK_STR(p.path, r.path);
    CHECK_INT(p.offset, 1234);
    CHECK_INT(p.length, 5678);
    CHECK_STR(p.sender, "alice@example.org");
    CHECK_STR(dproto_attr(&p, "arrival"), "1700000000");
    CHECK(dproto_attr(&p, "nope") == NULL);
    CHECK_INT(p.nrcpts, 2);
    CHECK_INT(p.rcpts[1].idx, 7);
    CHECK_STR(p.rcpts[1].addr, "|/usr/bin/procmail -a x");
    CHECK_STR(p.rcpts[0].orig, "Bob@Example.com");
    CHECK_STR(p.rcpts[0].extra, "-");
    struct dextra x;
    CHECK_INT(dproto_extra_parse(p.rcpts[1].extra, &x), 0);
    CHECK_STR(x.alias, "root@example.com");
    CHECK_STR(x.target, "command");
    CHECK_STR(x.cls, "alias");
    /* a line after the dot is an error */
    CHECK_INT(dproto_parse_request_line(&p, "R\t9\tx@y\t\t-"), -1);
    free(enc);
    dproto_free_request(&p);
    dproto_free_request(&r);
}

static void test_null_sender_and_empty_orig(void)
{
    struct dreq r, p;
    dproto_init_request(&r);
    str_copy(r.qid, "ABC", sizeof(r.qid));
    str_copy(r.path, "/q/deferred/ABC", sizeof(r.path));
    dproto_add_rcpt(&r, 3, "x@y", NULL, "");
    char *enc = dproto_encode_request(&r);          /* sender NULL -> "" */
    CHECK(enc != NULL);
    CHECK_INT(parse_all(&p, enc), 1);
    CHECK_STR(p.sender, "");
    CHECK_STR(p.rcpts[0].orig, "");
    CHECK_STR(p.rcpts[0].extra, "-");
    free(enc);
    dproto_free_request(&p);
    dproto_free_request(&r);
}

static void test_encode_refuses_bad_fields(void)
{
    struct dreq r;
    build(&r);
    free(r.rcpts[0].addr);
    r.rcpts[0].addr = xstrdup("bob\t@example.com");
    CHECK(dproto_encode_request(&r) == NULL);
    free(r.rcpts[0].addr);
    r.rcpts[0].addr = xstrdup("bob@example.com\r\nR\t9\tevil@x\t\t-");
    CHECK(dproto_encode_request(&r) == NULL);
    free(r.rcpts[0].addr);
    r.rcpts[0].addr = xstrdup("bob@example.com");
    free(r.sender);
    r.sender = xstrdup("a\nb");
    CHECK(dproto_encode_request(&r) == NULL);
    free(r.sender);
    r.sender = xstrdup("");
    str_copy(r.qid, "../etc", sizeof(r.qid));
    CHECK(dproto_encode_request(&r) == NULL);
    str_copy(r.qid, "OK1", sizeof(r.qid));
    free(r.rcpts[1].extra);
    r.rcpts[1].extra = xstrdup("uid=abc");
    CHECK(dproto_encode_request(&r) == NULL);
    free(r.rcpts[1].extra);
    r.rcpts[1].extra = xstrdup("-");
    /* a line longer than DPROTO_LINE_MAX */
    char *big = xmalloc(DPROTO_LINE_MAX + 10);
    memset(big, 'a', DPROTO_LINE_MAX + 9);
    big[DPROTO_LINE_MAX + 9] = '\0';
    free(r.rcpts[0].orig);
    r.rcpts[0].orig = big;
    CHECK(dproto_encode_request(&r) == NULL);
    r.rcpts[0].orig[100] = '\0';
    char *ok = dproto_encode_request(&r);
    CHECK(ok != NULL);
    free(ok);
    dproto_free_request(&r);
}

/*
 * F6: a control character in an attribute value (helo_name from
 * "EHLO tab<TAB>here.example", client_name, sasl_username ...) used to
 * fail the whole request, and qmgr deferred it until the queue lifetime.
 * The encoder now sends '?' for it, and the parser reads the request back.
 */
static void test_encode_cleans_attribute_values(void)
{
    struct dreq r, p;
    build(&r);
    dproto_add_attr(&r, "helo_name", "tab\there.example");
    dproto_add_attr(&r, "client_name", "cr\rX-Injected: yes\nR\t9\tevil@x\t\tz");
    dproto_add_attr(&r, "sasl_username", "esc\x1b[31m del\x7f one\x01 8bit\xc3\xa9 ok");
    char *enc = dproto_encode_request(&r);
    CHECK(enc != NULL);
    if (!enc) {
        dproto_free_request(&r);
        return;
    }
    CHECK(strstr(enc, "A\thelo_name\ttab?here.example\n") != NULL);
    CHECK(strstr(enc, "A\tclient_name\tcr?X-Injected: yes?R?9?evil@x??z\n") != NULL);
    CHECK(strstr(enc, "A\tsasl_username\tesc?[31m del? one? 8bit\xc3\xa9 ok\n") != NULL);
    CHECK_INT(parse_all(&p, enc), 1);
    CHECK_STR(dproto_attr(&p, "helo_name"), "tab?here.example");
    CHECK_STR(dproto_attr(&p, "client_name"), "cr?X-Injected: yes?R?9?evil@x??z");
    CHECK_STR(dproto_attr(&p, "sasl_username"), "esc?[31m del? one? 8bit\xc3\xa9 ok");
    CHECK_INT(p.nrcpts, 2);                /* nothing injected */
    CHECK_STR(dproto_attr(&p, "arrival"), "1700000000");
    /* the caller's values are left alone */
    CHECK_STR(dproto_attr(&r, "helo_name"), "tab\there.example");
    free(enc);
    dproto_free_request(&p);
    /* attribute names are still checked */
    dproto_add_attr(&r, "bad\tname", "x");
    CHECK(dproto_encode_request(&r) == NULL);
    dproto_free_request(&r);
}

static void expect_reject(const char *const *lines, size_t n, const char *why)
{
    struct dreq r;
    dproto_init_request(&r);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = dproto_parse_request_line(&r, lines[i]);
    if (rc != -1)
        fprintf(stderr, "not rejected: %s\n", why);
    CHECK_INT(rc, -1);
    CHECK(r.error != NULL);
    dproto_free_request(&r);
}

static void test_malformed_requests(void)
{
#define REJ(why, ...) do { const char *const l_[] = {__VA_ARGS__}; expect_reject(l_, ARRAY_LEN(l_), why); } while (0)
    REJ("no DELIVER", "S\tx@y");
    REJ("DELIVER short", "DELIVER\tQ1\t/p\t0");
    REJ("DELIVER long", "DELIVER\tQ1\t/p\t0\t1\textra");
    REJ("relative path", "DELIVER\tQ1\tjournal/J1\t0\t1");
    REJ("bad qid", "DELIVER\tQ-1\t/p\t0\t1");
    REJ("empty qid", "DELIVER\t\t/p\t0\t1");
    REJ("negative offset", "DELIVER\tQ1\t/p\t-1\t1");
    REJ("signed length", "DELIVER\tQ1\t/p\t0\t+1");
    REJ("space in number", "DELIVER\tQ1\t/p\t 0\t1");
    REJ("offset overflow", "DELIVER\tQ1\t/p\t99999999999999999999\t1");
    REJ("hex offset", "DELIVER\tQ1\t/p\t0x10\t1");
    REJ("CR in line", "DELIVER\tQ1\t/p\t0\t1\r");
    REJ("dup sender", "DELIVER\tQ1\t/p\t0\t1", "S\ta@b", "S\tc@d");
    REJ("S extra field", "DELIVER\tQ1\t/p\t0\t1", "S\ta@b\tc");
    REJ("A missing value", "DELIVER\tQ1\t/p\t0\t1", "A\tarrival");
    REJ("A empty name", "DELIVER\tQ1\t/p\t0\t1", "A\t\tv");
    REJ("R short", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t0\tx@y\t");
    REJ("R tab inside", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t0\tx@y\tz\t-\textra");
    REJ("R empty rcpt", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t0\t\t\t-");
    REJ("R bad idx", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t-1\tx@y\t\t-");
    REJ("R idx overflow", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t2147483648\tx@y\t\t-");
    REJ("R dup idx", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t1\tx@y\t\t-", "R\t1\tz@y\t\t-");
    REJ("R empty extra", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t1\tx@y\t\t");
    REJ("R bad extra", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t1\tx@y\t\tuid=1,uid=2");
    REJ("no sender", "DELIVER\tQ1\t/p\t0\t1", "R\t1\tx@y\t\t-", ".");
    REJ("no rcpt", "DELIVER\tQ1\t/p\t0\t1", "S\t", ".");
    REJ("unknown line", "DELIVER\tQ1\t/p\t0\t1", "X\tfoo");
    REJ("dot with field", "DELIVER\tQ1\t/p\t0\t1", "S\t", "R\t1\tx@y\t\t-", ".\tx");
#undef REJ
    /* over-long line */
    char *big = xmalloc(DPROTO_LINE_MAX + 20);
    memcpy(big, "S\t", 2);
    memset(big + 2, 'a', DPROTO_LINE_MAX + 10);
    big[DPROTO_LINE_MAX + 12] = '\0';
    struct dreq r;
    dproto_init_request(&r);
    CHECK_INT(dproto_parse_request_line(&r, "DELIVER\tQ1\t/p\t0\t1\n"), 0);
    CHECK_INT(dproto_parse_request_line(&r, big), -1);
    dproto_free_request(&r);
    free(big);
    /* too many recipients */
    dproto_init_request(&r);
    dproto_parse_request_line(&r, "DELIVER\tQ1\t/p\t0\t1");
    int rc = 0;
    for (int i = 0; i <= DPROTO_RCPT_MAX && rc == 0; i++) {
        char line[64];
        snprintf(line, sizeof(line), "R\t%d\tu%d@x\t\t-", i, i);
        rc = dproto_parse_request_line(&r, line);
    }
    CHECK_INT(rc, -1);
    CHECK_INT(r.nrcpts, DPROTO_RCPT_MAX);
    dproto_free_request(&r);
}

static void test_extra(void)
{
    struct dextra x;
    char out[256];
    CHECK_INT(dproto_extra_parse("-", &x), 0);
    CHECK_STR(x.target, "");
    CHECK_STR(x.include, "");
    CHECK_STR(x.cls, "alias");
    CHECK_INT(dproto_extra_format(&x, out, sizeof(out)), 0);
    CHECK_STR(out, "-");
    CHECK_INT(dproto_extra_parse("class=forward,direct=1,alias=a+2Cb+3Dc@x", &x), 0);
    CHECK_STR(x.cls, "forward");
    CHECK_INT(x.direct, 1);
    CHECK_STR(x.alias, "a,b=c@x");
    CHECK_INT(dproto_extra_format(&x, out, sizeof(out)), 0);
    CHECK_STR(out, "alias=a+2Cb+3Dc@x,class=forward,direct=1");
    dproto_extra_init(&x);
    str_copy(x.alias, "\"john doe\"@x", sizeof(x.alias));
    str_copy(x.target, "file", sizeof(x.target));
    str_copy(x.include, "/etc/mail/a list", sizeof(x.include));
    str_copy(x.cls, "include", sizeof(x.cls));
    CHECK_INT(dproto_extra_format(&x, out, sizeof(out)), 0);
    CHECK_STR(out, "alias=\"john+20doe\"@x,target=file,include=/etc/mail/a+20list,class=include");
    struct dextra y;
    CHECK_INT(dproto_extra_parse(out, &y), 0);
    CHECK_STR(y.target, "file");
    CHECK_STR(y.include, "/etc/mail/a list");
    CHECK_STR(y.cls, "include");
    CHECK_INT(dproto_extra_format(&x, out, 10), -1);        /* no room */
    /* privileges are never part of a request any more: uid= and gid= are unknown keys */
    const char *bad[] = {"uid=0", "gid=0", "target=", "target=root", "target=command,target=file",
                         "include=", "include=relative/path", "uid=", "uid=-1", "uid=1x",
                         "uid=99999999999", "gid=1,gid=2",
                         "class=root", "direct=2", "alias=", "alias=a b", "alias=a+0Ab",
                         "alias=a+0", "alias=a+ZZ", "nokey", "=1", "foo=1", ",uid=1", "uid=1,",
                         "uid=1,,gid=1", "alias=a\tb"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (dproto_extra_parse(bad[i], &x) != -1)
            fprintf(stderr, "extra accepted: %s\n", bad[i]);
        CHECK_INT(dproto_extra_parse(bad[i], &x), -1);
    }
}

static void test_status(void)
{
    struct dstatus s, p;
    char line[DPROTO_LINE_MAX + 8];
    dstatus_set(&s, 4, "5.1.1", "unknown user: \"%s\"", "x@y");
    CHECK_STR(s.cls, "bounced");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK_STR(line, "S\t4\tbounced\t5.1.1\tunknown user: \"x@y\"\n");
    CHECK_INT(dproto_parse_status(line, &p), 1);
    CHECK_INT(p.idx, 4);
    CHECK_STR(p.cls, "bounced");
    CHECK_STR(p.dsn, "5.1.1");
    CHECK_STR(p.text, "unknown user: \"x@y\"");
    CHECK_INT(dproto_parse_status(".\n", &p), 0);
    CHECK_INT(dproto_parse_status(".", &p), 0);
    /* "passed": sent, and the next hop took the DSN request */
    CHECK_INT(dproto_parse_status("S\t2\tpassed\t2.0.0\t250 ok\tmx[192.0.2.1]:25", &p), 1);
    CHECK_STR(p.cls, "passed");
    CHECK_INT(dproto_parse_status("S\t2\tpassed\t4.0.0\tno", &p), -1);
    /* "pass": local(8)'s mailbox_transport, "transport:nexthop" */
    CHECK_INT(dproto_parse_status("S\t4\tpass\t2.0.0\tlmtp:unix:private/dovecot-lmtp", &p), 1);
    CHECK_STR(p.cls, "pass");
    CHECK_STR(p.text, "lmtp:unix:private/dovecot-lmtp");

    /* control characters in text are flattened, not passed through */
    dstatus_set(&s, 1, "4.3.0", "Command output: line1\nS\t9\tsent\t2.0.0\tx\r");
    CHECK_STR(s.cls, "deferred");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK_INT(dproto_parse_status(line, &p), 1);
    CHECK_STR(p.text, "Command output: line1 S 9 sent 2.0.0 x ");
    /* over-long text is truncated to one legal line */
    memset(s.text, 'x', sizeof(s.text) - 1);
    s.text[sizeof(s.text) - 1] = '\0';
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK(strlen(line) <= DPROTO_LINE_MAX);
    CHECK_INT(dproto_parse_status(line, &p), 1);
    /* class/dsn mismatch and garbage */
    str_copy(s.text, "x", sizeof(s.text));
    str_copy(s.cls, "sent", sizeof(s.cls));
    str_copy(s.dsn, "5.0.0", sizeof(s.dsn));
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), -1);
    const char *bad[] = {"S\t1\tsent\t5.0.0\tx", "S\t1\tdelivered\t2.0.0\tx", "S\t1\tsent\t2.0\tx",
                         "S\t1\tsent\t2.0.0.0\tx", "S\t1\tsent\t3.0.0\tx", "S\t1\tsent\t2.1000.0\tx",
                         "S\tx\tsent\t2.0.0\tx", "S\t1\tsent\t2.0.0", "S\t1\tsent\t2.0.0\tx\ty\tz",
                         "S\t1\tsent\t2.0.0\tx\t", "S\t1\tsent\t2.0.0\tx\ta b",
                         "S\t1\tforward\t2.0.0\ta@b\trelay",
                         "S\t1\tsent\t2.0.0\tx\r", "Z\t1\tsent\t2.0.0\tx", "", ". ",
                         "S\t1\tforward\t2.0.0\t", "S\t1\tforward\t2.0.0\ta,,b",
                         "S\t1\tforward\t2.0.0\ta b", "S\t1\tpass\t2.0.0\t",
                         "S\t1\tpass\t2.0.0\t:x", "S\t1\tpass\t4.0.0\tlmtp:x",
                         "S\t1\tpass\t2.0.0\tlmtp:x y", "S\t1\tpass\t2.0.0\tlmtp:x\trelay"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (dproto_parse_status(bad[i], &p) != -1)
            fprintf(stderr, "status accepted: %s\n", bad[i]);
        CHECK_INT(dproto_parse_status(bad[i], &p), -1);
    }
}

/* The optional relay field: appended last, old five-field lines still parse. */
static void test_status_relay(void)
{
    struct dstatus s, p;
    char line[DPROTO_LINE_MAX + 8];
    dstatus_set(&s, 3, "2.0.0", "250 2.0.0 Ok: queued as ABC");
    CHECK_STR(s.relay, "");
    dstatus_set_relay(&s, "mx.example.com[192.0.2.1]:25");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK_STR(line, "S\t3\tsent\t2.0.0\t250 2.0.0 Ok: queued as ABC\tmx.example.com[192.0.2.1]:25\n");
    CHECK_INT(dproto_parse_status(line, &p), 1);
    CHECK_STR(p.text, "250 2.0.0 Ok: queued as ABC");
    CHECK_STR(p.relay, "mx.example.com[192.0.2.1]:25");
    /* without relay: the old format, parsed with relay "" */
    CHECK_INT(dproto_parse_status("S\t3\tsent\t2.0.0\tdelivered to maildir", &p), 1);
    CHECK_STR(p.relay, "");
    CHECK_STR(p.text, "delivered to maildir");
    /* dstatus_set clears a stale relay */
    dstatus_set(&s, 3, "4.4.1", "connect to x[1.2.3.4]:25: Connection refused");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK_STR(line, "S\t3\tdeferred\t4.4.1\tconnect to x[1.2.3.4]:25: Connection refused\n");
    /* a relay with a space or control character is not sent */
    dstatus_set_relay(&s, "a b");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK(strchr(line + 2, '\t') != NULL && strstr(line, "a b") == NULL);
    /* an over-long text is cut, the relay survives and the line stays legal */
    memset(s.text, 'x', sizeof(s.text) - 1);
    s.text[sizeof(s.text) - 1] = '\0';
    dstatus_set_relay(&s, "none");
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK(strlen(line) <= DPROTO_LINE_MAX);
    CHECK_INT(dproto_parse_status(line, &p), 1);
    CHECK_STR(p.relay, "none");
    /* relay truncated to its field size */
    char big[DPROTO_RELAY_MAX * 2];
    memset(big, 'h', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    dstatus_set_relay(&s, big);
    CHECK_INT(strlen(s.relay), DPROTO_RELAY_MAX - 1);
}

static void test_extra_dsn(void)
{
    struct dextra x;
    char out[4096];
    dproto_extra_init(&x);
    x.notify = 6;
    str_copy(x.orcpt, "rfc822;a+b=c,d@x", sizeof(x.orcpt));
    CHECK_INT(dproto_extra_format(&x, out, sizeof(out)), 0);
    CHECK_STR(out, "notify=6,orcpt=rfc822;a+2Bb+3Dc+2Cd@x");
    struct dextra y;
    CHECK_INT(dproto_extra_parse(out, &y), 0);
    CHECK_INT(y.notify, 6);
    CHECK_STR(y.orcpt, "rfc822;a+b=c,d@x");
    CHECK_INT(dproto_extra_parse("alias=a@b,notify=1", &y), 0);
    CHECK_INT(y.notify, 1);
    CHECK_STR(y.alias, "a@b");
    CHECK_STR(y.orcpt, "");
    const char *bad[] = {"notify=0", "notify=16", "notify=x", "notify=1,notify=2", "orcpt=",
                         "orcpt=a,orcpt=b", "orcpt=a+0Ab"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        if (dproto_extra_parse(bad[i], &y) != -1)
            fprintf(stderr, "extra accepted: %s\n", bad[i]);
        CHECK_INT(dproto_extra_parse(bad[i], &y), -1);
    }
    /* an alias longer than its field is refused, not truncated */
    char longalias[700] = "alias=";
    memset(longalias + 6, 'a', 600);
    longalias[606] = '\0';
    CHECK_INT(dproto_extra_parse(longalias, &y), -1);
}

static void test_forward(void)
{
    char *addrs[] = {"bob@example.com", "\"a,b\"@example.com", "c d@x"};
    char text[256];
    CHECK_INT(dproto_forward_join(addrs, 3, text, sizeof(text)), 0);
    CHECK_STR(text, "bob@example.com,\"a+2Cb\"@example.com,c+20d@x");
    char **v = dproto_forward_split(text);
    CHECK(v != NULL);
    CHECK_INT(strv_len(v), 3);
    CHECK_STR(v[1], "\"a,b\"@example.com");
    CHECK_STR(v[2], "c d@x");
    strv_free(v);
    char small[20];
    CHECK_INT(dproto_forward_join(addrs, 3, small, sizeof(small)), -1);
    CHECK(dproto_forward_split("") == NULL);
    CHECK(dproto_forward_split("a,") == NULL);
    CHECK(dproto_forward_split("a+0Ab") == NULL);

    struct dstatus s, p;
    char line[DPROTO_LINE_MAX + 8];
    s.idx = 2;
    str_copy(s.cls, "forward", sizeof(s.cls));
    str_copy(s.dsn, "2.0.0", sizeof(s.dsn));
    str_copy(s.text, text, sizeof(s.text));
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), 0);
    CHECK_INT(dproto_parse_status(line, &p), 1);
    CHECK_STR(p.cls, "forward");
    CHECK_STR(p.text, text);
    /* a forward list is never truncated */
    memset(s.text, 'a', sizeof(s.text) - 1);
    s.text[sizeof(s.text) - 1] = '\0';
    CHECK_INT(dproto_format_status(&s, line, sizeof(line)), -1);
}

static void test_xtext(void)
{
    char out[64];
    CHECK_INT(dproto_xtext_encode("a+b=c d", out, sizeof(out)), 0);
    CHECK_STR(out, "a+2Bb+3Dc+20d");
    CHECK_INT(dproto_xtext_decode(out, out, sizeof(out)), 0);   /* in place is fine */
    CHECK_STR(out, "a+b=c d");
    CHECK_INT(dproto_xtext_decode("+e9t+C3+A9", out, sizeof(out)), 0);
    CHECK_STR(out, "\xe9t\xc3\xa9");
    CHECK_INT(dproto_xtext_decode("+00", out, sizeof(out)), -1);
    CHECK_INT(dproto_xtext_decode("+09", out, sizeof(out)), -1);
    CHECK_INT(dproto_xtext_decode("+", out, sizeof(out)), -1);
    /* fuzz_dproto: what decode refuses, encode does not write (out is then "") */
    CHECK_INT(dproto_xtext_encode("a\tb", out, sizeof(out)), -1);
    CHECK_STR(out, "");
    CHECK_INT(dproto_xtext_encode("a\nb", out, sizeof(out)), -1);
    CHECK_INT(dproto_xtext_encode("a\rb", out, sizeof(out)), -1);
    struct dextra x;
    dproto_extra_init(&x);
    str_copy(x.orcpt, "rfc822;a\tb@c", sizeof(x.orcpt));
    CHECK_INT(dproto_extra_format(&x, out, sizeof(out)), -1);
    CHECK_INT(dproto_xtext_encode("abcdef", out, 6), -1);
    CHECK_STR(out, "");
    CHECK_INT(dproto_xtext_encode("abcde", out, 6), 0);
}

int main(void)
{
    T_RUN(test_roundtrip);
    T_RUN(test_null_sender_and_empty_orig);
    T_RUN(test_encode_refuses_bad_fields);
    T_RUN(test_encode_cleans_attribute_values);
    T_RUN(test_malformed_requests);
    T_RUN(test_extra);
    T_RUN(test_status);
    T_RUN(test_status_relay);
    T_RUN(test_extra_dsn);
    T_RUN(test_forward);
    T_RUN(test_xtext);
    return T_DONE();
}
