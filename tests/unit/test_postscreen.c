/*
 * test_postscreen.c - postscreen's parsers (src/postscreen/psc_parse.c)
 * and the pass hand-off message (src/lib-master/passfd.c).
 */
#include "t.h"
#include "lib-master/passfd.h"
#include "postscreen/psc_parse.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_dnsbl_sites(void)
{
    struct psc_dnsbl_site s[8];
    char err[256];
    int n = psc_dnsbl_sites_parse("zen.spamhaus.org=127.0.0.[2..11]*3, bl.example*2\n"
                                  "  list.dnswl.org=127.0.[0..255].[1..3]*-5 plain.example",
                                  s, 8, err, sizeof(err));
    CHECK_INT(n, 4);
    CHECK_STR(s[0].domain, "zen.spamhaus.org");
    CHECK_STR(s[0].filter, "127.0.0.[2..11]");
    CHECK_INT(s[0].weight, 3);
    CHECK_STR(s[1].domain, "bl.example");
    CHECK_STR(s[1].filter, "");
    CHECK_INT(s[1].weight, 2);
    CHECK_INT(s[2].weight, -5);
    CHECK_INT(s[3].weight, 1);
    CHECK_INT(psc_dnsbl_sites_parse("", s, 8, err, sizeof(err)), 0);
    CHECK_INT(psc_dnsbl_sites_parse("zen.test*x", s, 8, err, sizeof(err)), -1);
    CHECK_STR(err, "bad DNSBL weight factor \"x\" in \"zen.test*x\"");
    CHECK_INT(psc_dnsbl_sites_parse("zen.test=127.0.0.[2..", s, 8, err, sizeof(err)), -1);
    CHECK_INT(psc_dnsbl_sites_parse("zen..test", s, 8, err, sizeof(err)), -1);
    CHECK_INT(psc_dnsbl_sites_parse("a.test b.test c.test", s, 2, err, sizeof(err)), -1);
    CHECK_INT(psc_dnsbl_sites_parse("=127.0.0.2", s, 8, err, sizeof(err)), -1);
}

static void test_actions(void)
{
    enum psc_action a;
    CHECK_INT(psc_action_parse("ignore", &a), 0);
    CHECK_INT(a, PSC_ACT_IGNORE);
    CHECK_INT(psc_action_parse("Enforce", &a), 0);
    CHECK_INT(a, PSC_ACT_ENFORCE);
    CHECK_INT(psc_action_parse("drop", &a), 0);
    CHECK_INT(a, PSC_ACT_DROP);
    CHECK_INT(psc_action_parse("reject", &a), -1);
}

static int parse(const char *s, size_t len, struct psc_proxy *p)
{
    char err[160];
    return psc_proxy_parse((const unsigned char *)s, len, p, err, sizeof(err));
}

static void test_proxy_v1(void)
{
    struct psc_proxy p;
    const char *h = "PROXY TCP4 192.0.2.7 198.51.100.1 40001 25\r\nEHLO x\r\n";
    CHECK_INT(parse(h, strlen(h), &p), 44);
    CHECK_STR(p.client_addr, "192.0.2.7");
    CHECK_STR(p.client_port, "40001");
    CHECK_STR(p.server_addr, "198.51.100.1");
    CHECK_STR(p.server_port, "25");
    CHECK_INT(p.local, 0);
    CHECK_INT(parse(h, 20, &p), 0);             /* more needed */
    CHECK_INT(parse("PRO", 3, &p), 0);
    h = "PROXY TCP6 2001:db8::1 2001:db8::2 1 2\r\n";
    CHECK_INT(parse(h, strlen(h), &p), (int)strlen(h));
    CHECK_STR(p.client_addr, "2001:db8::1");
    h = "PROXY UNKNOWN\r\n";
    CHECK_INT(parse(h, strlen(h), &p), (int)strlen(h));
    CHECK_INT(p.local, 1);
    h = "PROXY TCP4 192.0.2.7 198.51.100.1 40001\r\n";
    CHECK_INT(parse(h, strlen(h), &p), -1);
    h = "PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n";
    CHECK_INT(parse(h, strlen(h), &p), -1);
    h = "PROXY TCP4 192.0.2.7 198.51.100.1 70000 25\r\n";
    CHECK_INT(parse(h, strlen(h), &p), -1);
    h = "PROXY TCP4 192.0.2.7 198.51.100.1 1 25\n";
    CHECK_INT(parse(h, strlen(h), &p), -1);
    CHECK_INT(parse("EHLO x\r\n", 8, &p), -1);
    char longline[200];
    memset(longline, 'A', sizeof(longline));
    memcpy(longline, "PROXY ", 6);
    CHECK_INT(parse(longline, sizeof(longline), &p), -1);
}

static void test_proxy_v2(void)
{
    struct psc_proxy p;
    unsigned char h[64] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                           0x21, 0x11, 0x00, 12,   192,  0,    2,    7,    198,  51,   100,  1,
                           0x9c, 0x41, 0x00, 25};
    char err[160];
    CHECK_INT(psc_proxy_parse(h, 28, &p, err, sizeof(err)), 28);
    CHECK_STR(p.client_addr, "192.0.2.7");
    CHECK_STR(p.client_port, "40001");
    CHECK_STR(p.server_addr, "198.51.100.1");
    CHECK_STR(p.server_port, "25");
    CHECK_INT(psc_proxy_parse(h, 27, &p, err, sizeof(err)), 0);
    CHECK_INT(psc_proxy_parse(h, 10, &p, err, sizeof(err)), 0);
    h[12] = 0x20;                                /* LOCAL */
    CHECK_INT(psc_proxy_parse(h, 28, &p, err, sizeof(err)), 28);
    CHECK_INT(p.local, 1);
    h[12] = 0x31;                                /* version 3 */
    CHECK_INT(psc_proxy_parse(h, 28, &p, err, sizeof(err)), -1);
    h[12] = 0x21;
    h[13] = 0x31;                                /* AF_UNIX: not for SMTP clients */
    CHECK_INT(psc_proxy_parse(h, 28, &p, err, sizeof(err)), -1);
    h[13] = 0x11;
    h[14] = 0xff;                                /* a block longer than we take */
    CHECK_INT(psc_proxy_parse(h, 28, &p, err, sizeof(err)), -1);
    h[14] = 0;
    h[15] = 4;                                   /* too short for TCP4's addresses */
    CHECK_INT(psc_proxy_parse(h, 20, &p, err, sizeof(err)), -1);
}

static void test_format(void)
{
    char b[32];
    psc_format_delay(0, b, sizeof(b));
    CHECK_STR(b, "0");
    psc_format_delay(13, b, sizeof(b));
    CHECK_STR(b, "0.01");
    psc_format_delay(100, b, sizeof(b));
    CHECK_STR(b, "0.1");
    psc_format_delay(1250, b, sizeof(b));
    CHECK_STR(b, "1.2");
    psc_format_delay(6000, b, sizeof(b));
    CHECK_STR(b, "6");
    psc_format_delay(12345, b, sizeof(b));
    CHECK_STR(b, "12");
    char e[64];
    psc_escape("EHLO x\r\n\x01", 9, 100, e, sizeof(e));
    CHECK_STR(e, "EHLO x\\r\\n\\001");
    psc_escape("abcdef", 6, 3, e, sizeof(e));
    CHECK_STR(e, "abc");
}

static void test_passfd(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    int p[2];
    CHECK_INT(pipe(p), 0);
    struct passfd_info in = {"192.0.2.7", "40001", "198.51.100.1", "25"}, out;
    int fd = -1;
    CHECK_INT(passfd_recv(sv[1], &fd, &out), 0);          /* nothing yet */
    CHECK_INT(passfd_send(sv[0], p[1], &in), 0);
    CHECK_INT(passfd_recv(sv[1], &fd, &out), 1);
    CHECK_STR(out.client_addr, "192.0.2.7");
    CHECK_STR(out.client_port, "40001");
    CHECK_STR(out.server_addr, "198.51.100.1");
    CHECK_STR(out.server_port, "25");
    CHECK(fd >= 0 && fd != p[1]);
    CHECK_INT(write(fd, "x", 1), 1);                     /* the same pipe */
    char c = 0;
    CHECK_INT(read(p[0], &c, 1), 1);
    CHECK_INT(c, 'x');
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    /* a message without a descriptor is refused */
    CHECK_INT(write(sv[0], "1 2 3 4\n", 8), 8);
    CHECK_INT(passfd_recv(sv[1], &fd, &out), -1);
    struct passfd_info bad = {"a b", "1", "c", "2"};
    CHECK_INT(passfd_send(sv[0], p[1], &bad), -1);
    CHECK_INT(passfd_parse("1.2.3.4 5 6.7.8.9 25\n", &out), 0);
    CHECK_INT(passfd_parse("1.2.3.4 5 6.7.8.9", &out), -1);
    CHECK_INT(passfd_parse("1.2.3.4 5 6.7.8.9 25 extra", &out), -1);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    T_RUN(test_dnsbl_sites);
    T_RUN(test_actions);
    T_RUN(test_proxy_v1);
    T_RUN(test_proxy_v2);
    T_RUN(test_format);
    T_RUN(test_passfd);
    return T_DONE();
}
