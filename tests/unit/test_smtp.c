/*
 * test_smtp.c - the smtp delivery agent: next-hop syntax, replies, status
 * texts, DATA conversion, server ordering, MX lookups against a fake DNS
 * server, and whole deliveries against a scripted SMTP server thread.
 */
#include "t.h"
#include "fakedns.h"
#include "deliver/smtp.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define KNOWN "lmtp=24, smtp=25, smtps=submissions=465, submission=587"

/* ---- next hops ---- */

static void test_dest_parse(void)
{
    struct smtp_dest d;
    char err[256];
    CHECK_INT(smtp_dest_parse("example.com", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "example.com");
    CHECK_INT(d.port, 25);
    CHECK_INT(d.mx, 1);
    CHECK_INT(d.literal, 0);
    CHECK_INT(smtp_dest_parse("example.com.:2525", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "example.com");
    CHECK_INT(d.port, 2525);
    CHECK_INT(d.mx, 1);
    CHECK_INT(smtp_dest_parse("[mail.example.com]", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "mail.example.com");
    CHECK_INT(d.mx, 0);
    CHECK_INT(d.literal, 0);
    CHECK_INT(smtp_dest_parse("[mail.example.com]:submission", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_INT(d.port, 587);
    CHECK_INT(smtp_dest_parse("[127.0.0.1]:10025", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "127.0.0.1");
    CHECK_INT(d.port, 10025);
    CHECK_INT(d.literal, 1);
    CHECK_INT(d.mx, 0);
    CHECK_INT(smtp_dest_parse("[ipv6:2001:db8::1]:26", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "2001:db8::1");
    CHECK_INT(d.port, 26);
    CHECK_INT(d.literal, 1);
    CHECK_INT(smtp_dest_parse("[IPv6:::1]", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_STR(d.host, "::1");
    /* a bare IPv4 address has no MX records */
    CHECK_INT(smtp_dest_parse("192.0.2.1:25", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_INT(d.literal, 1);
    CHECK_INT(d.mx, 0);
    /* smtps is known with an alias chain */
    CHECK_INT(smtp_dest_parse("[x.example]:submissions", 25, KNOWN, &d, err, sizeof(err)), 0);
    CHECK_INT(d.port, 465);

    const char *bad[] = {"", "[", "[]", "[host", "[host]x", "[host]:", "[host]:0", "[host]:65536",
                         "host:99999", "host:-1", "host:nosuchservice-yubin",
                         "[ipv6:1.2.3.4]", "[ipv6:zz]", "bad_host!", "a..b", "-a.example",
                         "host:25:26", "[a b]", "[host]:25x",
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example"};
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int r = smtp_dest_parse(bad[i], 25, KNOWN, &d, err, sizeof(err));
        if (r != -1)
            fprintf(stderr, "destination accepted: \"%s\"\n", bad[i]);
        CHECK_INT(r, -1);
    }
    CHECK(strstr(err, "bad destination syntax") || strstr(err, "bad host"));
    /* a name of 300 bytes does not overflow anything */
    char big[400];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(smtp_dest_parse(big, 25, KNOWN, &d, err, sizeof(err)), -1);
    big[0] = '[';
    CHECK_INT(smtp_dest_parse(big, 25, KNOWN, &d, err, sizeof(err)), -1);
}

static void test_ports_and_lists(void)
{
    unsigned p;
    CHECK_INT(smtp_port_parse("25", KNOWN, &p), 0);
    CHECK_INT(p, 25);
    CHECK_INT(smtp_port_parse("smtp", KNOWN, &p), 0);
    CHECK_INT(p, 25);
    CHECK_INT(smtp_port_parse("smtps", KNOWN, &p), 0);
    CHECK_INT(p, 465);
    CHECK_INT(smtp_port_parse("pop3", KNOWN, &p), 0);   /* services(5) knows it */
    CHECK_INT(p, 110);
    CHECK_INT(smtp_port_parse("0", KNOWN, &p), -1);
    CHECK_INT(smtp_port_parse("", KNOWN, &p), -1);
    CHECK_INT(smtp_port_parse("25 ", KNOWN, &p), -1);
    CHECK_INT(smtp_port_parse("a/b", KNOWN, &p), -1);
    CHECK_INT(smtp_port_parse("foo", "foo=bar, =1, foo=", &p), -1);
    char **v = smtp_dest_split("[a.example]:25, b.example  c.example,,");
    CHECK_INT(strv_len(v), 3);
    CHECK_STR(v[0], "[a.example]:25");
    CHECK_STR(v[2], "c.example");
    strv_free(v);
    v = smtp_dest_split("");
    CHECK_INT(strv_len(v), 0);
    strv_free(v);
}

/* ---- replies and texts ---- */

static int feed(struct smtp_reply *r, const char *line)
{
    return smtp_reply_line(r, line, strlen(line));
}

static void test_reply_parse(void)
{
    struct smtp_reply r;
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "250 2.0.0 Ok: queued as ABC"), 1);
    CHECK_INT(r.code, 250);
    CHECK_STR(r.dsn, "2.0.0");
    CHECK_STR(r.text, "250 2.0.0 Ok: queued as ABC");

    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "550-5.7.1 first"), 0);
    CHECK_INT(feed(&r, "550-5.7.1 second"), 0);
    CHECK_INT(feed(&r, "550 5.7.1 third"), 1);
    CHECK_INT(r.code, 550);
    CHECK_STR(r.dsn, "5.7.1");
    CHECK_STR(r.text, "550-5.7.1 first 550-5.7.1 second 550 5.7.1 third");
    CHECK_INT(r.garbage, 0);

    /* no enhanced code: derived from the reply code */
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "451 Try later"), 1);
    CHECK_STR(r.dsn, "4.0.0");
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "250"), 1);
    CHECK_INT(r.code, 250);
    CHECK_STR(r.dsn, "2.0.0");
    /* an enhanced code of the wrong class is not believed */
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "550 4.1.1 confused"), 1);
    CHECK_STR(r.dsn, "5.0.0");
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "550 5.1.1x not a code"), 1);
    CHECK_STR(r.dsn, "5.0.0");
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "550 5.1234.1 too long"), 1);
    CHECK_STR(r.dsn, "5.0.0");
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "354 End data with <CR><LF>.<CR><LF>"), 1);
    CHECK_INT(r.code, 354);

    /* garbage lines are kept as text and reading goes on */
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "hello there"), 0);
    CHECK_INT(feed(&r, "25"), 0);
    CHECK_INT(feed(&r, "2500 five digits"), 0);
    CHECK_INT(feed(&r, "250x"), 0);
    CHECK_INT(feed(&r, "250 ok"), 1);
    CHECK_INT(r.garbage, 4);
    CHECK_INT(r.code, 250);
    CHECK_STR(r.text, "hello there 25 2500 five digits 250x 250 ok");
    /* control characters never reach a status text */
    smtp_reply_init(&r);
    CHECK_INT(smtp_reply_line(&r, "550 a\tb\x01" "c", 9), 1);
    CHECK_STR(r.text, "550 a b c");
    /* an endless reply is refused; a huge one is cut to SMTP_REPLY_MAX */
    smtp_reply_init(&r);
    int rc = 0;
    for (int i = 0; i < SMTP_REPLY_LINES_MAX + 5 && rc == 0; i++)
        rc = feed(&r, "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    CHECK_INT(rc, -1);
    CHECK(r.len < SMTP_REPLY_MAX);
    CHECK_INT(strlen(r.text), r.len);
    /* odd codes */
    smtp_reply_init(&r);
    CHECK_INT(feed(&r, "199 what"), 1);
    CHECK_STR(r.dsn, "4.0.0");
    CHECK_INT(smtp_dsn_prefix("5.1.1 <x>", '5'), 5);
    CHECK_INT(smtp_dsn_prefix("5.1.10", '5'), 6);
    CHECK_INT(smtp_dsn_prefix("5.1.", '5'), 0);
    CHECK_INT(smtp_dsn_prefix("2.0.0", '5'), 0);
}

static void test_texts(void)
{
    struct smtp_addr a;
    CHECK_INT(smtp_addr_from_text(&a, "192.0.2.1", "mx.example.com", 10), 0);
    char buf[512];
    smtp_namaddr(buf, sizeof(buf), &a, 25, 0);
    CHECK_STR(buf, "mx.example.com[192.0.2.1]");
    smtp_namaddr(buf, sizeof(buf), &a, 2525, 1);
    CHECK_STR(buf, "mx.example.com[192.0.2.1]:2525");
    CHECK_INT(smtp_addr_from_text(&a, "ipv6:2001:DB8::1", NULL, 0), 0);
    smtp_namaddr(buf, sizeof(buf), &a, 25, 1);
    CHECK_STR(buf, "2001:db8::1[2001:db8::1]:25");
    CHECK_INT(smtp_addr_from_text(&a, "ipv6:1.2.3.4", NULL, 0), -1);
    CHECK_INT(smtp_addr_from_text(&a, "mx.example.com", NULL, 0), -1);

    struct smtp_reply r;
    smtp_reply_init(&r);
    feed(&r, "550 5.1.1 <x@y>: Recipient address rejected: User unknown");
    char text[DPROTO_LINE_MAX];
    smtp_text_said(text, sizeof(text), "mx.example.com[192.0.2.1]", &r, "RCPT TO");
    CHECK_STR(text, "host mx.example.com[192.0.2.1] said: 550 5.1.1 <x@y>: Recipient address "
                    "rejected: User unknown (in reply to RCPT TO command)");
    CHECK_STR(smtp_dns_strerror(SDNS_NOTFOUND), "Host not found");
    CHECK_STR(smtp_dns_strerror(SDNS_TEMPFAIL), "Host not found, try again");
}

/* ---- DATA conversion ---- */

/* Convert in, in chunks of size step, and return the wire bytes. */
static char *stuff_all(const char *in, size_t n, size_t step, size_t limit)
{
    struct smtp_stuff s;
    smtp_stuff_init(&s, limit);
    struct buf b;
    buf_init(&b, 0);
    char *out = xmalloc(smtp_stuff_bound(n) + 8);
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        size_t o = smtp_stuff(&s, in + off, k, out);
        CHECK(o <= smtp_stuff_bound(k));
        buf_append(&b, out, o);
    }
    size_t o = smtp_stuff_end(&s, out);
    buf_append(&b, out, o);
    free(out);
    return b.data ? b.data : xstrdup("");
}

static void test_stuffing(void)
{
    const char *in = "Subject: x\n\n.hello\n..two\n.\nmid.dle\n.";
    const char *want = "Subject: x\r\n\r\n..hello\r\n...two\r\n..\r\nmid.dle\r\n..\r\n.\r\n";
    /* every chunk size gives the same bytes (state crosses chunk boundaries) */
    for (size_t step = 1; step <= strlen(in); step++) {
        char *got = stuff_all(in, strlen(in), step, 998);
        CHECK_STR(got, want);
        free(got);
    }
    char *got = stuff_all("", 0, 1, 998);
    CHECK_STR(got, ".\r\n");
    free(got);
    got = stuff_all("a\n", 2, 1, 998);
    CHECK_STR(got, "a\r\n.\r\n");
    free(got);
    got = stuff_all("\n\n", 2, 1, 998);
    CHECK_STR(got, "\r\n\r\n.\r\n");
    free(got);
    /* 8-bit bytes go through untouched; a bare CR is a line end (CR LF) */
    got = stuff_all("a\rb\xc3\xa9\n", 6, 2, 998);
    CHECK_STR(got, "a\r\nb\xc3\xa9\r\n.\r\n");
    free(got);
    /* line length limit: CR LF SPACE, the space counts on the new line */
    got = stuff_all("abcdefghij\nabcd\n", 16, 3, 4);
    CHECK_STR(got, "abcd\r\n efg\r\n hij\r\nabcd\r\n.\r\n");
    free(got);
    /* a dot after a break is not stuffed (the line starts with a space) */
    got = stuff_all("abcd.x\n", 7, 7, 4);
    CHECK_STR(got, "abcd\r\n .x\r\n.\r\n");
    free(got);
    /* limit 0: no breaking */
    char longline[3000];
    memset(longline, 'x', sizeof(longline));
    got = stuff_all(longline, sizeof(longline), 1000, 0);
    CHECK_INT(strlen(got), sizeof(longline) + 5);
    free(got);
    /* worst case input stays within the bound */
    char dots[64];
    for (size_t i = 0; i < sizeof(dots); i += 2) {
        dots[i] = '.';
        dots[i + 1] = '\n';
    }
    got = stuff_all(dots, sizeof(dots), sizeof(dots), 1);
    CHECK_INT(strlen(got), 2 * sizeof(dots) + 3);
    free(got);
}

/* Every chunk size gives want (state crosses chunk boundaries). */
static void check_stuff_steps(const char *in, const char *want, size_t limit)
{
    size_t n = strlen(in);
    for (size_t step = 1; step <= (n ? n : 1); step++) {
        char *got = stuff_all(in, n, step, limit);
        CHECK_STR(got, want);
        free(got);
    }
}

/*
 * F5: a bare CR in the content must not reach the next hop raw, where
 * "\r.\r" could end the DATA early and what follows be read as commands
 * (SMTP smuggling). It goes out as CR LF, and a dot after it is stuffed.
 */
static void test_stuffing_bare_cr(void)
{
    check_stuff_steps("a\r.\r", "a\r\n..\r\n.\r\n", 998);
    check_stuff_steps("a\r.\r\n", "a\r\n..\r\n.\r\n", 998);
    check_stuff_steps("a\rb", "a\r\nb\r\n.\r\n", 998);
    /* the smuggling payload: the only lone "." line is the real end of data */
    check_stuff_steps("Subject: s\n\nx\r.\r\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<v@y.test>\r\n"
                      "DATA\r\n\r\nsmuggled\r\n.\r\n",
                      "Subject: s\r\n\r\nx\r\n..\r\nMAIL FROM:<evil@x.test>\r\n"
                      "RCPT TO:<v@y.test>\r\nDATA\r\n\r\nsmuggled\r\n..\r\n.\r\n", 998);
    /* CR LF in the stored content is one line end; CR CR is two; LF CR too */
    check_stuff_steps("a\r\nb\n", "a\r\nb\r\n.\r\n", 998);
    check_stuff_steps("a\r\r.b\n", "a\r\n\r\n..b\r\n.\r\n", 998);
    check_stuff_steps("a\n\r.\n", "a\r\n\r\n..\r\n.\r\n", 998);
    /* a CR first, last, alone */
    check_stuff_steps("\r.x", "\r\n..x\r\n.\r\n", 998);
    check_stuff_steps("x\r", "x\r\n.\r\n", 998);
    check_stuff_steps("\r", "\r\n.\r\n", 998);
    check_stuff_steps(".\r", "..\r\n.\r\n", 998);
    /* a CR restarts the column count of the line length limit */
    check_stuff_steps("abc\rabcdef\n", "abc\r\nabcd\r\n ef\r\n.\r\n", 4);
    /* the worst case stays within the bound */
    char crs[64];
    memset(crs, '\r', sizeof(crs));
    char *got = stuff_all(crs, sizeof(crs), sizeof(crs), 1);
    CHECK_INT(strlen(got), 2 * sizeof(crs) + 3);
    free(got);
}

static char tmpdir[64];

static char *write_tmp(const char *name, const char *data, size_t len)
{
    char *path = xasprintf("%s/%s", tmpdir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK_INT(write(fd, data, len), (long long)len);
    close(fd);
    return path;
}

static void test_scan(void)
{
    char *path = write_tmp("scan", "JUNKa\nb\xe9\nc", 11);
    int fd = open(path, O_RDONLY);
    unsigned long long size;
    int eight, hdr;
    CHECK_INT(smtp_content_scan(fd, 4, 7, &size, &eight, &hdr), 0);
    CHECK_INT(size, 7 + 2 + 2);           /* two LFs become CRLF, the last line gets CRLF */
    CHECK_INT(eight, 1);
    CHECK_INT(hdr, 1);                    /* no empty line: all of it is header */
    CHECK_INT(smtp_content_scan(fd, 4, 2, &size, &eight, NULL), 0);
    CHECK_INT(size, 3);
    CHECK_INT(eight, 0);
    CHECK_INT(smtp_content_scan(fd, 4, 0, &size, &eight, &hdr), 0);
    CHECK_INT(size, 0);
    CHECK_INT(hdr, 0);
    /* past the end of the file: an error, not a short message */
    CHECK_INT(smtp_content_scan(fd, 4, 100, &size, &eight, &hdr), -1);
    close(fd);
    unlink(path);
    free(path);
    /* 8-bit bytes after the empty line are body, not header */
    path = write_tmp("scan2", "A: b\n\n\xe9\n", 7);
    fd = open(path, O_RDONLY);
    CHECK_INT(smtp_content_scan(fd, 0, 7, &size, &eight, &hdr), 0);
    CHECK_INT(eight, 1);
    CHECK_INT(hdr, 0);
    CHECK_INT(smtp_content_scan(fd, 0, 6, &size, &eight, &hdr), 0);   /* boundary at chunk end */
    CHECK_INT(hdr, 0);
    close(fd);
    unlink(path);
    free(path);
    path = write_tmp("scan3", "\nA: \xe9\n", 7);      /* starts with the empty line */
    fd = open(path, O_RDONLY);
    CHECK_INT(smtp_content_scan(fd, 0, 7, &size, &eight, &hdr), 0);
    CHECK_INT(hdr, 0);
    close(fd);
    unlink(path);
    free(path);
    /* a bare CR is a line end on the wire (2 bytes), CR LF stays 2, LF becomes 2 */
    path = write_tmp("scan4", "A: b\r\rx\r\ny\r.\r\xe9", 14);
    fd = open(path, O_RDONLY);
    CHECK_INT(smtp_content_scan(fd, 0, 14, &size, &eight, &hdr), 0);
    CHECK_INT(size, 14 + 4 + 2);          /* four bare CRs, the last line gets CR LF */
    CHECK_INT(eight, 1);
    CHECK_INT(hdr, 0);                    /* "\r\r" is an empty line: the header ended */
    CHECK_INT(smtp_content_scan(fd, 0, 9, &size, &eight, &hdr), 0);   /* ends in CR LF */
    CHECK_INT(size, 9 + 2);
    CHECK_INT(smtp_content_scan(fd, 0, 8, &size, &eight, &hdr), 0);   /* ends in a CR */
    CHECK_INT(size, 8 + 3);               /* three bare CRs, nothing to add at the end */
    close(fd);
    unlink(path);
    free(path);
}

/* ---- server order ---- */

static unsigned seq_rnd(void *ctx)
{
    unsigned *s = ctx;
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

static void add(struct smtp_addr_list *l, const char *addr, const char *host, int pref)
{
    struct smtp_addr a;
    CHECK_INT(smtp_addr_from_text(&a, addr, host, pref), 0);
    smtp_addr_list_add(l, &a);
}

static void test_mx_order(void)
{
    struct smtp_mx mx[] = {{30, "c"}, {10, "a1"}, {20, "b"}, {10, "a2"}, {10, "a3"}};
    unsigned seed = 1;
    int first_a[3] = {0};
    for (int round = 0; round < 60; round++) {
        struct smtp_mx v[5];
        memcpy(v, mx, sizeof(v));
        smtp_mx_sort(v, 5, 1, seq_rnd, &seed);
        CHECK_INT(v[0].pref, 10);
        CHECK_INT(v[2].pref, 10);
        CHECK_STR(v[3].host, "b");
        CHECK_STR(v[4].host, "c");
        first_a[v[0].host[1] - '1']++;
    }
    /* equal preferences really are shuffled */
    CHECK(first_a[0] > 0 && first_a[1] > 0 && first_a[2] > 0);
    /* without randomization: stable */
    struct smtp_mx v[5];
    memcpy(v, mx, sizeof(v));
    smtp_mx_sort(v, 5, 0, NULL, NULL);
    CHECK_STR(v[0].host, "a1");
    CHECK_STR(v[1].host, "a2");
    CHECK_STR(v[2].host, "a3");

    /* address lists: preference, family preference, limit, balance */
    struct smtp_addr_list l = {0};
    add(&l, "2001:db8::1", "a", 10);
    add(&l, "2001:db8::2", "a", 10);
    add(&l, "192.0.2.9", "c", 30);
    add(&l, "2001:db8::3", "b", 20);
    add(&l, "192.0.2.1", "a", 10);
    smtp_addrs_order(&l, 0, 4, 0, 0, NULL, NULL);
    CHECK_INT(l.n, 5);
    CHECK_STR(l.v[0].text, "192.0.2.1");     /* ipv4 first among equals */
    CHECK_STR(l.v[1].text, "2001:db8::1");
    CHECK_STR(l.v[3].text, "2001:db8::3");
    CHECK_STR(l.v[4].text, "192.0.2.9");
    smtp_addrs_order(&l, 0, 6, 0, 0, NULL, NULL);
    CHECK_STR(l.v[0].text, "2001:db8::1");
    CHECK_STR(l.v[2].text, "192.0.2.1");
    /* limit 2 with IPv6 preferred: balance keeps one IPv4 address */
    smtp_addrs_order(&l, 0, 6, 1, 2, NULL, NULL);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.v[0].text, "2001:db8::1");
    CHECK_STR(l.v[1].text, "192.0.2.1");
    smtp_addr_list_free(&l);
    add(&l, "2001:db8::1", "a", 10);
    add(&l, "2001:db8::2", "a", 10);
    add(&l, "192.0.2.9", "c", 30);
    smtp_addrs_order(&l, 0, 0, 0, 2, NULL, NULL);   /* no balance: cut as sorted */
    CHECK_INT(l.n, 2);
    CHECK_STR(l.v[1].text, "2001:db8::2");
    smtp_addr_list_free(&l);
    add(&l, "2001:db8::1", "a", 10);
    add(&l, "2001:db8::2", "a", 10);
    add(&l, "192.0.2.9", "c", 30);
    smtp_addrs_order(&l, 0, 0, 1, 2, NULL, NULL);
    CHECK_STR(l.v[1].text, "192.0.2.9");
    smtp_addr_list_free(&l);

    /* the loop check: our own address and everything as bad or worse goes */
    struct smtp_settings s;
    memset(&s, 0, sizeof(s));
    struct smtp_own_addr own = {.family = AF_INET};
    inet_pton(AF_INET, "192.0.2.5", own.a);
    s.own = &own;
    s.nown = 1;
    add(&l, "192.0.2.1", "a", 10);
    add(&l, "192.0.2.5", "me", 20);
    add(&l, "192.0.2.6", "c", 20);
    add(&l, "192.0.2.7", "d", 30);
    CHECK_INT(smtp_addrs_truncate_self(&s, &l), 1);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.v[0].text, "192.0.2.1");
    CHECK_INT(smtp_addrs_truncate_self(&s, &l), 0);
    smtp_addr_list_free(&l);
    add(&l, "::ffff:192.0.2.5", "me", 10);        /* mapped address: still us */
    CHECK_INT(smtp_addrs_truncate_self(&s, &l), 1);
    CHECK_INT(l.n, 0);
    smtp_addr_list_free(&l);
}

/* ---- DNS ---- */

static void base_settings(struct smtp_settings *s)
{
    memset(s, 0, sizeof(*s));
    str_copy(s->helo_name, "client.example", sizeof(s->helo_name));
    str_copy(s->known_ports, KNOWN, sizeof(s->known_ports));
    s->default_port = 25;
    s->connect_timeout = 5;
    s->helo_timeout = s->mail_timeout = s->rcpt_timeout = s->data_init_timeout = 5;
    s->data_xfer_timeout = s->data_done_timeout = s->quit_timeout = 5;
    s->mx_address_limit = 5;
    s->mx_session_limit = 2;
    s->randomize = 1;
    s->balance = 1;
    s->want4 = 1;
    s->dns = 1;
    s->host_dns = 1;
    s->skip_5xx_greeting = 1;
    s->line_limit = 998;
    static char *none[] = {NULL};
    s->fallback_relay = none;
    s->discard_ehlo = none;
}

static const struct fake_rr zone[] = {
    {"mx.test", FAKE_MX, "20 backup.mx.test"},
    {"mx.test", FAKE_MX, "10 primary.mx.test"},
    {"primary.mx.test", FAKE_A, "192.0.2.10"},
    {"primary.mx.test", FAKE_A, "192.0.2.11"},
    {"backup.mx.test", FAKE_A, "192.0.2.20"},
    {"noaddr.test", FAKE_MX, "10 nothing.noaddr.test"},
    {"nothing.noaddr.test", FAKE_TXT, "x"},
    {"amx.test", FAKE_A, "192.0.2.30"},
    {"nullmx.test", FAKE_MX, "0 ."},
    {"broken.test", FAKE_MX, "!SERVFAIL"},
    {"broken.test", FAKE_A, "192.0.2.40"},
    {"loop.test", FAKE_MX, "10 self.loop.test"},
    {"self.loop.test", FAKE_A, "192.0.2.5"},
    {"backupme.test", FAKE_MX, "10 other.backupme.test"},
    {"backupme.test", FAKE_MX, "20 self.loop.test"},
    {"other.backupme.test", FAKE_A, "192.0.2.50"},
    {"primaryless.test", FAKE_MX, "10 gone.primaryless.test"},
    {"primaryless.test", FAKE_MX, "20 self.loop.test"},
    {"gone.primaryless.test", FAKE_TXT, "x"},
    {"host.test", FAKE_A, "192.0.2.60"},
    {"host.test", FAKE_AAAA, "2001:db8::60"},
};

static void test_resolve(void)
{
    fakedns_start(zone, ARRAY_LEN(zone));
    struct smtp_settings s;
    base_settings(&s);
    struct smtp_own_addr own = {.family = AF_INET};
    inet_pton(AF_INET, "192.0.2.5", own.a);
    s.own = &own;
    s.nown = 1;
    struct dns *dns = smtp_dns_new();
    CHECK(dns != NULL);
    struct smtp_dest d;
    char err[256];
    struct smtp_addr_list l = {0};
    struct smtp_err e;

    /* MX records: preference order, each host's addresses */
    smtp_dest_parse("mx.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.v[0].host, "primary.mx.test");
    CHECK_STR(l.v[1].host, "primary.mx.test");
    CHECK_STR(l.v[2].host, "backup.mx.test");
    CHECK_STR(l.v[2].text, "192.0.2.20");
    CHECK_INT(e.self, 0);
    smtp_addr_list_free(&l);
    /* smtp_mx_address_limit */
    s.mx_address_limit = 2;
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.v[1].host, "primary.mx.test");
    smtp_addr_list_free(&l);
    s.mx_address_limit = 5;

    /* no MX: the domain's own address */
    smtp_dest_parse("amx.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.v[0].host, "amx.test");
    CHECK_STR(l.v[0].text, "192.0.2.30");
    smtp_addr_list_free(&l);

    /* NXDOMAIN: bounce, with Postfix's text */
    smtp_dest_parse("nxdomain.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.4");
    CHECK_STR(e.text, "Host or domain name not found. Name service error for "
                      "name=nxdomain.test type=A: Host not found");
    CHECK_INT(e.final, 0);
    /* SERVFAIL on MX: defer (the A record is not used) */
    smtp_dest_parse("broken.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "4.4.3");
    CHECK_STR(e.text, "Host or domain name not found. Name service error for "
                      "name=broken.test type=MX: Host not found, try again");
    /* ignore_mx_lookup_error: the A record is used after all */
    s.ignore_mx_lookup_error = 1;
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_STR(l.v[0].text, "192.0.2.40");
    smtp_addr_list_free(&l);
    s.ignore_mx_lookup_error = 0;
    /* null MX */
    smtp_dest_parse("nullmx.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.1.0");
    CHECK_STR(e.text, "Domain nullmx.test does not accept mail (nullMX)");
    CHECK_INT(e.final, 1);
    /* MX host without address records */
    smtp_dest_parse("noaddr.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.4");
    CHECK_STR(e.text, "Host or domain name not found. Name service error for "
                      "name=nothing.noaddr.test type=A: Host found but no data record of "
                      "requested type");
    s.defer_if_no_mx_address = 1;
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "4.4.4");
    s.defer_if_no_mx_address = 0;
    /* the best MX is us */
    smtp_dest_parse("loop.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.6");
    CHECK_STR(e.text, "mail for loop.test loops back to myself");
    CHECK_INT(e.final, 1);
    /* we are a backup MX: only better MX hosts remain, no fall-back relay */
    smtp_dest_parse("backupme.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.v[0].text, "192.0.2.50");
    CHECK_INT(e.self, 1);
    smtp_addr_list_free(&l);
    /* the better MX has no address and we are the next one */
    smtp_dest_parse("primaryless.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "4.4.4");
    CHECK_STR(e.text, "unable to find primary relay for primaryless.test");
    /* [host] and [address] loop too, the domain's own A record as well */
    smtp_dest_parse("[self.loop.test]", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.text, "mail for self.loop.test loops back to myself");
    smtp_dest_parse("[192.0.2.5]", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.6");
    CHECK_STR(e.text, "mail for 192.0.2.5 loops back to myself");
    smtp_dest_parse("self.loop.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.6");
    /* ... but not on another port: [127.0.0.1]:10025 is a content filter, not a loop */
    smtp_dest_parse("[192.0.2.5]:10025", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(e.self, 0);
    smtp_addr_list_free(&l);
    smtp_dest_parse("loop.test:2525", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_STR(l.v[0].host, "self.loop.test");
    smtp_addr_list_free(&l);
    /* [host]: no MX lookup; inet_protocols decides the families */
    smtp_dest_parse("[host.test]", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 1);
    smtp_addr_list_free(&l);
    s.want6 = 1;
    s.addr_pref = 6;
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.v[0].text, "2001:db8::60");
    CHECK_STR(l.v[0].host, "host.test");
    smtp_addr_list_free(&l);
    s.want6 = 0;
    s.addr_pref = 0;
    smtp_dest_parse("[mx.test]", 25, KNOWN, &d, err, sizeof(err));   /* MX only: no A */
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "5.4.4");
    /* a literal needs no DNS at all */
    int before = fakedns.queries;
    smtp_dest_parse("[192.0.2.99]:2525", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), 0);
    CHECK_INT(fakedns.queries, before);
    CHECK_STR(l.v[0].host, "192.0.2.99");
    smtp_addr_list_free(&l);
    smtp_dest_parse("[2001:db8::1]", 25, KNOWN, &d, err, sizeof(err));  /* IPv6 disabled */
    CHECK_INT(smtp_resolve(&s, dns, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "4.4.4");
    /* DNS wanted but no resolver: soft */
    smtp_dest_parse("mx.test", 25, KNOWN, &d, err, sizeof(err));
    CHECK_INT(smtp_resolve(&s, NULL, &d, &l, &e), -1);
    CHECK_STR(e.dsn, "4.4.3");
    smtp_dns_free(dns);
    fakedns_stop();
    unsetenv("YUBIN_DNS_SERVERS");
}

/* ---- whole deliveries against a scripted server ---- */

struct fake_smtp {
    int lfd;
    unsigned port;
    pthread_t th;
    int stop[2];
    const char *greeting;          /* NULL: never greet (timeout test) */
    const char *ehlo;              /* full reply, CRLF-separated lines */
    const char *helo;
    const char *mail;
    const char *rcpt[8];           /* by RCPT number in the session; NULL: 250 */
    const char *data;              /* reply to DATA */
    const char *dot;               /* reply to end of data */
    int drop_in_data;              /* close the connection after some DATA bytes */
    int sessions;
    struct buf wire;               /* everything received, all sessions */
    pthread_mutex_t lock;
};

static void fs_send(int fd, const char *text)
{
    char buf[8192];
    str_fmt(buf, sizeof(buf), "%s\r\n", text);
    if (write_all(fd, buf, strlen(buf)) < 0)
        return;
}

/* One line (without CR LF) from fd; 0 at EOF. */
static int fs_line(int fd, struct fake_smtp *f, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0)
            return 0;
        pthread_mutex_lock(&f->lock);
        buf_putc(&f->wire, c);
        pthread_mutex_unlock(&f->lock);
        if (c == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = c;
    }
    if (n && line[n - 1] == '\r')
        n--;
    line[n] = '\0';
    return 1;
}

static void fs_session(struct fake_smtp *f, int fd)
{
    char line[8192];
    int nrcpt = 0;
    if (!f->greeting) {
        char c;
        while (read(fd, &c, 1) > 0)
            ;
        return;
    }
    fs_send(fd, f->greeting);
    if (f->greeting[0] != '2') {
        fs_line(fd, f, line, sizeof(line));
        return;
    }
    while (fs_line(fd, f, line, sizeof(line))) {
        if (str_iprefix(line, "EHLO")) {
            fs_send(fd, f->ehlo ? f->ehlo : "250-fake.test\r\n250-PIPELINING\r\n250-SIZE 100000\r\n"
                                            "250-8BITMIME\r\n250-DSN\r\n250 SMTPUTF8");
        } else if (str_iprefix(line, "HELO")) {
            fs_send(fd, f->helo ? f->helo : "250 fake.test");
        } else if (str_iprefix(line, "MAIL")) {
            fs_send(fd, f->mail ? f->mail : "250 2.1.0 Ok");
            nrcpt = 0;
        } else if (str_iprefix(line, "RCPT")) {
            const char *r = nrcpt < 8 && f->rcpt[nrcpt] ? f->rcpt[nrcpt] : "250 2.1.5 Ok";
            nrcpt++;
            fs_send(fd, r);
        } else if (str_iprefix(line, "DATA")) {
            fs_send(fd, f->data ? f->data : "354 go ahead");
            if (f->data && f->data[0] != '3')
                continue;
            int seen = 0;
            for (;;) {
                if (!fs_line(fd, f, line, sizeof(line)))
                    return;
                if (f->drop_in_data && ++seen == 2)
                    return;
                if (strcmp(line, ".") == 0)
                    break;
            }
            fs_send(fd, f->dot ? f->dot : "250 2.0.0 Ok: queued as FAKE1");
        } else if (str_iprefix(line, "QUIT")) {
            fs_send(fd, "221 2.0.0 Bye");
            return;
        } else {
            fs_send(fd, "502 5.5.2 Error: command not recognized");
        }
    }
}

static void *fs_run(void *arg)
{
    struct fake_smtp *f = arg;
    for (;;) {
        struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&f->lock);
        f->sessions++;
        pthread_mutex_unlock(&f->lock);
        fs_session(f, fd);
        close(fd);
    }
}

static void fs_start_port(struct fake_smtp *f, const char *addr, unsigned port)
{
    memset(f, 0, sizeof(*f));
    f->greeting = "220 fake.test ESMTP";
    buf_init(&f->wire, 0);
    pthread_mutex_init(&f->lock, NULL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, addr, &sin.sin_addr);
    socklen_t len = sizeof(sin);
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(f->lfd, 8) < 0 || getsockname(f->lfd, (struct sockaddr *)&sin, &len) < 0 ||
        pipe(f->stop) < 0) {
        perror("fake smtp");
        exit(2);
    }
    f->port = ntohs(sin.sin_port);
}

static void fs_start(struct fake_smtp *f, const char *addr)
{
    fs_start_port(f, addr, 0);
}

static void fs_go(struct fake_smtp *f)
{
    pthread_create(&f->th, NULL, fs_run, f);
}

static void fs_stop(struct fake_smtp *f)
{
    if (write(f->stop[1], "x", 1) != 1)
        perror("fake smtp stop");
    pthread_join(f->th, NULL);
    close(f->lfd);
    close(f->stop[0]);
    close(f->stop[1]);
    buf_free(&f->wire);
    pthread_mutex_destroy(&f->lock);
}

/* Deliver content to rcpts through nexthop; statuses in st. */
static void run_delivery(struct smtp_settings *s, const char *nexthop, const char *content,
                         const char *const *rcpts, size_t n, struct dstatus *st,
                         const char *const *attrs)
{
    char *path = write_tmp("queuefile", content, strlen(content));
    struct dreq r;
    dproto_init_request(&r);
    str_copy(r.qid, "TESTQID", sizeof(r.qid));
    str_copy(r.path, path, sizeof(r.path));
    r.offset = 0;
    r.length = strlen(content);
    r.sender = xstrdup("sender@example.org");
    if (nexthop)
        dproto_add_attr(&r, "nexthop", nexthop);
    for (size_t i = 0; attrs && attrs[i]; i += 2)
        dproto_add_attr(&r, attrs[i], attrs[i + 1]);
    for (size_t i = 0; i < n; i++) {
        const char *extra = strchr(rcpts[i], '\t');
        char addr[256];
        str_copy(addr, rcpts[i], extra ? (size_t)(extra - rcpts[i]) + 1 : sizeof(addr));
        dproto_add_rcpt(&r, (int)(i + 10), addr, addr, extra ? extra + 1 : "-");
    }
    smtp_deliver_request(s, &r, st);
    dproto_free_request(&r);
    unlink(path);
    free(path);
}

static const char *wire(struct fake_smtp *f)
{
    return buf_cstr(&f->wire);
}

static void test_session_basic(void)
{
    struct fake_smtp f;
    fs_start(&f, "127.0.0.1");
    f.rcpt[1] = "550 5.1.1 <b@x.test>: Recipient address rejected: User unknown";
    f.rcpt[2] = "452 4.2.2 Mailbox full";
    fs_go(&f);
    struct smtp_settings s;
    base_settings(&s);
    char nh[64];
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f.port);
    const char *rcpts[] = {"a@x.test\tnotify=6,orcpt=rfc822;A+2Bold@x.test", "b@x.test",
                           "c@x.test"};
    struct dstatus st[3];
    const char *attrs[] = {"ret", "HDRS", "envid", "id+2B1", NULL};
    run_delivery(&s, nh, "Subject: t\n\n.dot\nbody\xe9\n", rcpts, 3, st, attrs);
    char relay[64];
    str_fmt(relay, sizeof(relay), "127.0.0.1[127.0.0.1]:%u", f.port);
    CHECK_STR(st[0].cls, "passed");   /* the server announced DSN: success notices are its job */
    CHECK_STR(st[0].dsn, "2.0.0");
    CHECK_STR(st[0].text, "250 2.0.0 Ok: queued as FAKE1");
    CHECK_STR(st[0].relay, relay);
    CHECK_INT(st[0].idx, 10);
    CHECK_STR(st[1].cls, "bounced");
    CHECK_STR(st[1].dsn, "5.1.1");
    CHECK_STR(st[1].text, "host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <b@x.test>: Recipient "
                          "address rejected: User unknown (in reply to RCPT TO command)");
    CHECK_STR(st[2].cls, "deferred");
    CHECK_STR(st[2].dsn, "4.2.2");
    CHECK_STR(st[2].text, "host 127.0.0.1[127.0.0.1] said: 452 4.2.2 Mailbox full (in reply "
                          "to RCPT TO command)");
    CHECK_STR(st[2].relay, relay);
    fs_stop(&f);
}

static void test_session_wire(void)
{
    struct fake_smtp f;
    fs_start(&f, "127.0.0.1");
    fs_go(&f);
    struct smtp_settings s;
    base_settings(&s);
    char nh[64];
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f.port);
    const char *rcpts[] = {"a@x.test\tnotify=6,orcpt=rfc822;A+2Bold@x.test", "b c@x.test",
                           "n@x.test\tnotify=1"};
    struct dstatus st[3];
    const char *attrs[] = {"ret", "HDRS", "envid", "id+2B1", NULL};
    run_delivery(&s, nh, "Subject: t\n\n.dot\nbody\xe9", rcpts, 3, st, attrs);
    CHECK_STR(st[2].cls, "passed");   /* sent to a server with DSN: it notifies */
    usleep(100000);                        /* QUIT reaches the server */
    pthread_mutex_lock(&f.lock);
    const char *w = wire(&f);
    CHECK(strstr(w, "EHLO client.example\r\n") == w);
    CHECK(strstr(w, "MAIL FROM:<sender@example.org> SIZE=27 BODY=8BITMIME ENVID=id+2B1 "
                    "RET=HDRS\r\nRCPT TO:<a@x.test> ORCPT=rfc822;A+2Bold@x.test "
                    "NOTIFY=SUCCESS,FAILURE\r\n"
                    "RCPT TO:<\"b c\"@x.test> ORCPT=rfc822;\"b+20c\"@x.test\r\n"
                    "RCPT TO:<n@x.test> ORCPT=rfc822;n@x.test NOTIFY=NEVER\r\nDATA\r\n") != NULL);
    CHECK(strstr(w, "\r\nSubject: t\r\n\r\n..dot\r\nbody\xe9\r\n.\r\nQUIT\r\n") != NULL);
    pthread_mutex_unlock(&f.lock);
    fs_stop(&f);
}

static void test_session_no_pipelining_helo(void)
{
    struct fake_smtp f;
    fs_start(&f, "127.0.0.1");
    f.ehlo = "500 5.5.1 what";
    f.rcpt[0] = "550 5.1.1 no";
    fs_go(&f);
    struct smtp_settings s;
    base_settings(&s);
    char nh[64];
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f.port);
    const char *rcpts[] = {"a@x.test", "b@x.test\tnotify=2"};
    struct dstatus st[2];
    const char *attrs[] = {"smtputf8", "0", NULL};
    run_delivery(&s, nh, "x\n", rcpts, 2, st, attrs);
    CHECK_STR(st[0].cls, "bounced");
    CHECK_STR(st[1].cls, "sent");
    usleep(100000);
    pthread_mutex_lock(&f.lock);
    /* HELO session: no ESMTP parameters at all, one command at a time */
    CHECK_STR(wire(&f), "EHLO client.example\r\nHELO client.example\r\nMAIL FROM:<sender@example.org>\r\n"
                        "RCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n");
    pthread_mutex_unlock(&f.lock);
    fs_stop(&f);
}

static void test_session_failures(void)
{
    struct smtp_settings s;
    base_settings(&s);
    char nh[64], text[512];
    const char *rcpts[] = {"a@x.test", "b@x.test"};
    struct dstatus st[2];

    /* connection refused: relay=none */
    struct fake_smtp f;
    fs_start(&f, "127.0.0.1");
    unsigned dead = f.port;
    close(f.lfd);
    close(f.stop[0]);
    close(f.stop[1]);
    buf_free(&f.wire);
    pthread_mutex_destroy(&f.lock);
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", dead);
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    str_fmt(text, sizeof(text), "connect to 127.0.0.1[127.0.0.1]:%u: Connection refused", dead);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.4.1");
    CHECK_STR(st[0].text, text);
    CHECK_STR(st[1].text, text);
    CHECK_STR(st[0].relay, "none");

    /* 421 greeting: deferred; 554 greeting: skipped (deferred), or bounced without skipping */
    fs_start(&f, "127.0.0.1");
    f.greeting = "421 4.3.2 shutting down";
    fs_go(&f);
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f.port);
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.3.2");
    CHECK_STR(st[0].text, "host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.3.2 shutting down");
    f.greeting = "554 5.7.1 no";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.7.1");
    s.skip_5xx_greeting = 0;
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "bounced");
    CHECK_STR(st[0].dsn, "5.7.1");
    s.skip_5xx_greeting = 1;
    f.greeting = "220 fake.test";

    /* EHLO 421: no HELO; HELO refused: bounced whatever smtp_skip_5xx_greeting says */
    f.ehlo = "421 4.7.0 closing";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].text, "host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.7.0 closing");
    f.ehlo = "502 5.5.2 nope";
    f.helo = "550 5.7.1 bad helo";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[1].cls, "bounced");
    CHECK_STR(st[1].text, "host 127.0.0.1[127.0.0.1] refused to talk to me: 550 5.7.1 bad helo");
    f.ehlo = f.helo = NULL;

    /* MAIL FROM rejected: everyone, with the server's words */
    f.mail = "553 5.7.1 sender rejected";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[1].cls, "bounced");
    CHECK_STR(st[1].text, "host 127.0.0.1[127.0.0.1] said: 553 5.7.1 sender rejected (in reply "
                          "to MAIL FROM command)");
    f.mail = NULL;
    /* DATA refused, end of data deferred */
    f.data = "554 5.5.1 no data for you";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "bounced");
    CHECK(strstr(st[0].text, "(in reply to DATA command)") != NULL);
    f.data = NULL;
    f.dot = "451-4.7.1 greylisted\r\n451 4.7.1 come back later";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].text, "host 127.0.0.1[127.0.0.1] said: 451-4.7.1 greylisted 451 4.7.1 come "
                          "back later (in reply to end of DATA command)");
    f.dot = NULL;
    /* all recipients refused: no DATA content, the refusals stand */
    f.rcpt[0] = "550 5.1.1 a";
    f.rcpt[1] = "550 5.1.1 b";
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "bounced");
    CHECK_STR(st[1].cls, "bounced");
    f.rcpt[0] = f.rcpt[1] = NULL;
    /* the connection drops in the middle of the body */
    f.drop_in_data = 1;
    run_delivery(&s, nh, "a\nb\nc\nd\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.4.2");
    CHECK(strstr(st[0].text, "lost connection with 127.0.0.1[127.0.0.1] while sending") != NULL);
    f.drop_in_data = 0;
    /* SIZE announced too small: bounce before MAIL */
    f.ehlo = "250-fake.test\r\n250 SIZE 3";
    run_delivery(&s, nh, "abcdef\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "bounced");
    CHECK_STR(st[0].dsn, "5.3.4");
    CHECK_STR(st[0].text, "message size 8 exceeds size limit 3 of server 127.0.0.1[127.0.0.1]");
    /* SMTPUTF8 asked for, not offered: fine while envelope and headers are ASCII */
    f.ehlo = "250-fake.test\r\n250 PIPELINING";
    const char *utf8[] = {"smtputf8", "1", NULL};
    run_delivery(&s, nh, "Subject: x\n\nb\xc3\xbc\n", rcpts, 2, st, utf8);
    CHECK_STR(st[0].cls, "sent");
    run_delivery(&s, nh, "Subject: \xc3\xbc\n\nx\n", rcpts, 2, st, utf8);
    CHECK_STR(st[0].cls, "bounced");
    CHECK_STR(st[0].dsn, "5.6.7");
    CHECK_STR(st[0].text, "SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]");
    const char *urcpts[] = {"d\xc3\xbc@x.test"};
    run_delivery(&s, nh, "x\n", urcpts, 1, st, utf8);
    CHECK_STR(st[0].dsn, "5.6.7");
    /* smtp_discard_ehlo_keywords hides PIPELINING (and DSN): without pipelining
     * a client whose recipients were all refused never sends DATA */
    char *discard[] = {"pipelining", "dsn", NULL};
    s.discard_ehlo = discard;
    f.ehlo = NULL;
    f.rcpt[0] = f.rcpt[1] = "550 5.1.1 no";
    pthread_mutex_lock(&f.lock);
    buf_reset(&f.wire);
    pthread_mutex_unlock(&f.lock);
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "bounced");
    usleep(100000);
    pthread_mutex_lock(&f.lock);
    CHECK(strstr(wire(&f), "RCPT TO:<b@x.test>\r\nQUIT\r\n") != NULL);
    CHECK(strstr(wire(&f), "DATA") == NULL);
    pthread_mutex_unlock(&f.lock);
    f.rcpt[0] = f.rcpt[1] = NULL;
    static char *none[] = {NULL};
    s.discard_ehlo = none;
    /* mandatory TLS cannot be had in this build: deferred, never sent in plaintext */
    s.tls_level = TLS_LEV_ENCRYPT;
    run_delivery(&s, nh, "x\n", rcpts, 2, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.7.4");
    CHECK_STR(st[0].text, "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]");
    s.tls_level = TLS_LEV_NONE;
    fs_stop(&f);

    /* a server that never greets: timeout text */
    fs_start(&f, "127.0.0.1");
    f.greeting = NULL;
    fs_go(&f);
    s.helo_timeout = 1;
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f.port);
    run_delivery(&s, nh, "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.4.2");
    CHECK_STR(st[0].text, "conversation with 127.0.0.1[127.0.0.1] timed out while receiving the "
                          "initial server greeting");
    fs_stop(&f);
}

/* Soft errors go on to the next server; a hard one is final; session limit; fall-back relay. */
static void test_next_server(void)
{
    struct smtp_settings s;
    base_settings(&s);
    struct fake_smtp f1, f2;
    fs_start(&f1, "127.0.0.1");
    fs_start(&f2, "127.0.0.2");
    f1.rcpt[0] = "450 4.2.0 try elsewhere";
    f1.rcpt[1] = "550 5.1.1 gone";
    fs_go(&f1);
    fs_go(&f2);
    char nh[128];
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u, [127.0.0.2]:%u", f1.port, f2.port);
    const char *rcpts[] = {"a@x.test", "b@x.test", "c@x.test"};
    struct dstatus st[3];
    run_delivery(&s, nh, "x\n", rcpts, 3, st, NULL);
    char relay2[64];
    str_fmt(relay2, sizeof(relay2), "127.0.0.2[127.0.0.2]:%u", f2.port);
    CHECK_STR(st[0].cls, "passed");          /* a: 450 at the first, sent at the second */
    CHECK_STR(st[0].relay, relay2);
    CHECK_STR(st[1].cls, "bounced");       /* b: 550 at the first is final */
    CHECK_STR(st[2].cls, "passed");          /* c: sent at the first */
    CHECK(strcmp(st[2].relay, st[0].relay) != 0);
    CHECK_INT(f2.sessions, 1);

    /* both defer: the last server's word is the status */
    f2.rcpt[0] = "451 4.3.0 second says no";
    run_delivery(&s, nh, "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK(strstr(st[0].text, "second says no") != NULL);

    /* smtp_fallback_relay after the next hop failed softly */
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", f1.port);
    char fb[64];
    str_fmt(fb, sizeof(fb), "[127.0.0.2]:%u", f2.port);
    char *fallback[] = {fb, NULL};
    s.fallback_relay = fallback;
    f2.rcpt[0] = NULL;
    run_delivery(&s, nh, "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "passed");
    CHECK_STR(st[0].relay, relay2);
    /* a bad next hop: configuration error, deferred */
    run_delivery(&s, "[bad", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "passed");          /* the fall-back relay still takes it */
    static char *none[] = {NULL};
    s.fallback_relay = none;
    run_delivery(&s, "[bad", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].dsn, "4.3.5");
    fs_stop(&f1);
    fs_stop(&f2);
}

/* One domain, two MX hosts on the same port: MX order, and smtp_mx_session_limit. */
static void test_mx_sessions(void)
{
    static const struct fake_rr two[] = {
        {"two.test", FAKE_MX, "20 b.two.test"},
        {"two.test", FAKE_MX, "10 a.two.test"},
        {"a.two.test", FAKE_A, "127.0.0.1"},
        {"b.two.test", FAKE_A, "127.0.0.2"},
    };
    fakedns_start(two, ARRAY_LEN(two));
    struct fake_smtp f1, f2;
    fs_start(&f1, "127.0.0.1");
    fs_start_port(&f2, "127.0.0.2", f1.port);
    f1.rcpt[0] = "450 4.2.0 try the backup";
    fs_go(&f1);
    fs_go(&f2);
    struct smtp_settings s;
    base_settings(&s);
    s.default_port = f1.port;
    const char *rcpts[] = {"a@two.test"};
    struct dstatus st[1];
    run_delivery(&s, "two.test", "x\n", rcpts, 1, st, NULL);
    char relay[64];
    str_fmt(relay, sizeof(relay), "b.two.test[127.0.0.2]:%u", f1.port);
    CHECK_STR(st[0].cls, "passed");
    CHECK_STR(st[0].relay, relay);
    CHECK_INT(f1.sessions, 1);
    CHECK_INT(f2.sessions, 1);
    /* limit 1: the backup MX is not tried, the first server's word stands */
    s.mx_session_limit = 1;
    run_delivery(&s, "two.test", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].text, "host a.two.test[127.0.0.1] said: 450 4.2.0 try the backup (in reply "
                          "to RCPT TO command)");
    CHECK_INT(f2.sessions, 1);
    /* no nexthop attribute: the recipient domain */
    s.mx_session_limit = 2;
    run_delivery(&s, NULL, "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "passed");
    CHECK_INT(f2.sessions, 2);
    /* a session that fails before EHLO does not count */
    s.mx_session_limit = 1;
    f1.greeting = "421 4.3.2 busy";
    run_delivery(&s, "two.test", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "passed");
    CHECK_INT(f2.sessions, 3);
    fs_stop(&f1);
    fs_stop(&f2);
    fakedns_stop();
    unsetenv("YUBIN_DNS_SERVERS");
}

static void test_request_checks(void)
{
    struct smtp_settings s;
    base_settings(&s);
    s.queue_dir = "/nonexistent-queue";
    const char *rcpts[] = {"a@x.test"};
    struct dstatus st[1];
    run_delivery(&s, "[127.0.0.1]:1", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].cls, "deferred");
    CHECK_STR(st[0].text, "bad queue file name");
    s.queue_dir = NULL;
    s.config_error = "broken";
    run_delivery(&s, "[127.0.0.1]:1", "x\n", rcpts, 1, st, NULL);
    CHECK_STR(st[0].dsn, "4.3.5");
    CHECK_STR(st[0].text, "mail system configuration error");
    s.config_error = NULL;
    /* a request whose content lies past the end of the file */
    struct dreq r;
    dproto_init_request(&r);
    str_copy(r.qid, "Q", sizeof(r.qid));
    char *path = write_tmp("short", "abc", 3);
    str_copy(r.path, path, sizeof(r.path));
    r.offset = 2;
    r.length = 10;
    r.sender = xstrdup("");
    dproto_add_rcpt(&r, 1, "a@x.test", "", "-");
    smtp_deliver_request(&s, &r, st);
    CHECK_STR(st[0].text, "queue file is truncated");
    CHECK_STR(st[0].cls, "deferred");
    dproto_free_request(&r);
    unlink(path);
    free(path);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);              /* the scripted server writes to clients that left */
    str_copy(tmpdir, "/tmp/yubin-test-smtp.XXXXXX", sizeof(tmpdir));
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    T_RUN(test_dest_parse);
    T_RUN(test_ports_and_lists);
    T_RUN(test_reply_parse);
    T_RUN(test_texts);
    T_RUN(test_stuffing);
    T_RUN(test_stuffing_bare_cr);
    T_RUN(test_scan);
    T_RUN(test_mx_order);
    T_RUN(test_resolve);
    T_RUN(test_session_basic);
    T_RUN(test_session_wire);
    T_RUN(test_session_no_pipelining_helo);
    T_RUN(test_session_failures);
    T_RUN(test_next_server);
    T_RUN(test_mx_sessions);
    T_RUN(test_request_checks);
    rmdir(tmpdir);
    return T_DONE();
}
