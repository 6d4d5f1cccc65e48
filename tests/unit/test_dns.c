/* Unit tests for dns.c against the fake DNS server of fakedns.h, through a
 * real evloop: MX/A/AAAA fallback, null MX, NXDOMAIN/NODATA/SERVFAIL/timeout,
 * forward-confirmed reverse lookups (hosts file first), DNSBL-style A and
 * TXT lookups, and cancellation. */
#include "t.h"
#include "fakedns.h"
#include "dns.h"
#include "evloop.h"
#include "util.h"

#include <stdlib.h>
#include <sys/stat.h>

static const struct fake_rr zone[] = {
    {"mx.test", FAKE_MX, "10 mail.mx.test"},
    {"mx.test", FAKE_MX, "5 best.mx.test"},
    {"mx.test", FAKE_MX, "20 backup.mx.test"},
    {"a-only.test", FAKE_A, "192.0.2.10"},
    {"aaaa-only.test", FAKE_AAAA, "2001:db8::1"},
    {"nodata.test", FAKE_TXT, "nothing for mail"},
    {"servfail.test", 0, "!SERVFAIL"},
    {"refused.test", 0, "!REFUSED"},
    {"mxsf.test", FAKE_TXT, "x"},
    {"mxsf.test", FAKE_A, "!SERVFAIL"},
    {"aaaasf.test", FAKE_TXT, "x"},
    {"aaaasf.test", FAKE_AAAA, "!SERVFAIL"},
    {"nullmx.test", FAKE_MX, "0 ."},
    {"nullmx.test", FAKE_A, "192.0.2.77"},
    {"drop.test", 0, "!DROP"},
    {"cname.test", FAKE_CNAME, "a-only.test"},
    /* reverse */
    {"10.2.0.192.in-addr.arpa", FAKE_PTR, "good.ptr.test"},
    {"good.ptr.test", FAKE_A, "192.0.2.10"},
    {"good.ptr.test", FAKE_A, "192.0.2.11"},
    {"11.2.0.192.in-addr.arpa", FAKE_PTR, "bad.ptr.test"},
    {"bad.ptr.test", FAKE_A, "192.0.2.99"},
    {"12.2.0.192.in-addr.arpa", 0, "!SERVFAIL"},
    {"14.2.0.192.in-addr.arpa", FAKE_PTR, "fwdfail.ptr.test"},
    {"fwdfail.ptr.test", 0, "!SERVFAIL"},
    {"15.2.0.192.in-addr.arpa", FAKE_PTR, "bad-.ptr.test"},
    {"16.2.0.192.in-addr.arpa", FAKE_PTR, "nxfwd.ptr.test"},
    {"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", FAKE_PTR,
     "v6.ptr.test"},
    {"v6.ptr.test", FAKE_AAAA, "2001:db8::10"},
    /* DNSBL */
    {"2.0.0.127.bl.test", FAKE_A, "127.0.0.2"},
    {"2.0.0.127.bl.test", FAKE_A, "127.0.0.4"},
    {"2.0.0.127.bl.test", FAKE_TXT, "Listed|, see http://bl.test/"},
    {"spf.test", FAKE_TXT, "v=spf1 |-all"},
    {"spf.test", FAKE_TXT, "second record"},
};

static struct evloop *loop;
static struct dns *dns;
static char tmpdir[64];
static int outstanding;
static struct ev_timer *guard;

struct result {
    int called;
    int status;
    char text[512];
    int is_null;
};

static void cb(int status, const char *result, void *arg)
{
    struct result *r = arg;
    r->called++;
    r->status = status;
    r->is_null = result == NULL;
    str_copy(r->text, result ? result : "", sizeof(r->text));
    if (--outstanding == 0)
        ev_loop_stop(loop);
}

static void guard_fired(void *arg)
{
    (void)arg;
    guard = NULL;
    fprintf(stderr, "test_dns: timed out waiting for callbacks\n");
    ev_loop_stop(loop);
}

/* Run the loop until every started lookup called back (5 s at most). */
static void run(void)
{
    guard = ev_timer_add(loop, 5000, guard_fired, NULL);
    ev_loop_run(loop);
    if (guard)
        ev_timer_cancel(loop, guard);
    guard = NULL;
}

static void stop_cb(void *arg)
{
    (void)arg;
    ev_loop_stop(loop);
}

static void run_for(uint64_t ms)
{
    ev_timer_add(loop, ms, stop_cb, NULL);
    ev_loop_run(loop);
}

static void domain(const char *name, struct result *r)
{
    memset(r, 0, sizeof(*r));
    outstanding++;
    dns_domain_exists(dns, name, cb, r);
}

static void test_domain_exists(void)
{
    struct result r[16];
    domain("mx.test", &r[0]);
    domain("a-only.test", &r[1]);
    domain("aaaa-only.test", &r[2]);
    domain("nodata.test", &r[3]);
    domain("nxdomain.test", &r[4]);
    domain("servfail.test", &r[5]);
    domain("mxsf.test", &r[6]);
    domain("nullmx.test", &r[7]);
    domain("cname.test", &r[8]);
    domain("MX.TEST.", &r[9]);
    domain("", &r[10]);
    domain("bad name.test", &r[11]);
    domain("aaaasf.test", &r[12]);
    domain("refused.test", &r[13]);
    CHECK_INT(r[0].called, 0);            /* never from inside the call */
    CHECK_INT(dns_pending(dns), 14);
    run();
    CHECK_INT(outstanding, 0);
    CHECK_INT(dns_pending(dns), 0);
    for (int i = 0; i < 14; i++)
        CHECK_INT(r[i].called, 1);
    CHECK_INT(r[0].status, DNS_OK);
    CHECK_STR(r[0].text, "best.mx.test");
    CHECK_INT(r[1].status, DNS_OK);
    CHECK_STR(r[1].text, "a-only.test");
    CHECK_INT(r[2].status, DNS_OK);
    CHECK_INT(r[3].status, DNS_NOTFOUND);
    CHECK_INT(r[4].status, DNS_NOTFOUND);
    CHECK_INT(r[5].status, DNS_TEMPFAIL);
    CHECK_INT(r[6].status, DNS_TEMPFAIL);
    CHECK_INT(r[7].status, DNS_NOTFOUND);
    CHECK_STR(r[7].text, ".");            /* null MX, even though it has an A record */
    CHECK_INT(r[8].status, DNS_OK);
    CHECK_INT(r[9].status, DNS_OK);
    CHECK_INT(r[10].status, DNS_NOTFOUND);
    CHECK_INT(r[11].status, DNS_NOTFOUND);
    CHECK_INT(r[12].status, DNS_TEMPFAIL);
    CHECK_INT(r[13].status, DNS_TEMPFAIL);
}

static void test_nxdomain_stops_early(void)
{
    struct result r;
    int before = fakedns.queries;
    domain("nxdomain.test", &r);
    run();
    CHECK_INT(r.status, DNS_NOTFOUND);
    CHECK_INT(fakedns.queries - before, 1);    /* MX only: NXDOMAIN ends it */
    before = fakedns.queries;
    domain("nodata.test", &r);
    run();
    CHECK_INT(fakedns.queries - before, 3);    /* MX, A, AAAA */
}

static void reverse4(const char *ip, struct result *r)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &sin.sin_addr);
    memset(r, 0, sizeof(*r));
    outstanding++;
    dns_reverse(dns, (struct sockaddr *)&sin, sizeof(sin), cb, r);
}

static void test_reverse(void)
{
    struct result r[10];
    reverse4("192.0.2.10", &r[0]);
    reverse4("192.0.2.11", &r[1]);
    reverse4("192.0.2.12", &r[2]);
    reverse4("192.0.2.13", &r[3]);
    reverse4("192.0.2.14", &r[4]);
    reverse4("192.0.2.15", &r[5]);
    reverse4("192.0.2.16", &r[6]);
    reverse4("127.0.0.1", &r[7]);
    reverse4("192.0.2.50", &r[8]);
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::10", &s6.sin6_addr);
    memset(&r[9], 0, sizeof(r[9]));
    outstanding++;
    dns_reverse(dns, (struct sockaddr *)&s6, sizeof(s6), cb, &r[9]);
    run();
    CHECK_INT(outstanding, 0);
    CHECK_INT(r[0].status, DNS_OK);
    CHECK_STR(r[0].text, "good.ptr.test");
    CHECK_INT(r[1].status, DNS_NOTFOUND);     /* PTR does not resolve back */
    CHECK_STR(r[1].text, "bad.ptr.test");
    CHECK_INT(r[2].status, DNS_TEMPFAIL);     /* PTR SERVFAIL */
    CHECK(r[2].is_null);
    CHECK_INT(r[3].status, DNS_NOTFOUND);     /* no PTR */
    CHECK(r[3].is_null);
    CHECK_INT(r[4].status, DNS_TEMPFAIL);     /* forward SERVFAIL */
    CHECK_STR(r[4].text, "fwdfail.ptr.test");
    CHECK_INT(r[5].status, DNS_NOTFOUND);     /* malformed PTR name */
    CHECK(r[5].is_null);
    CHECK_INT(r[6].status, DNS_NOTFOUND);     /* forward NXDOMAIN */
    CHECK_STR(r[6].text, "nxfwd.ptr.test");
    CHECK_INT(r[7].status, DNS_OK);           /* from the hosts file */
    CHECK_STR(r[7].text, "localhost");
    CHECK_INT(r[8].status, DNS_OK);
    CHECK_STR(r[8].text, "hostsname.test");
    CHECK_INT(r[9].status, DNS_OK);
    CHECK_STR(r[9].text, "v6.ptr.test");

    /* the hosts file answers without DNS traffic */
    int before = fakedns.queries;
    reverse4("127.0.0.1", &r[0]);
    run();
    CHECK_STR(r[0].text, "localhost");
    CHECK_INT(fakedns.queries, before);

    /* IPv4-mapped IPv6 is looked up as IPv4 */
    inet_pton(AF_INET6, "::ffff:192.0.2.10", &s6.sin6_addr);
    memset(&r[0], 0, sizeof(r[0]));
    outstanding++;
    dns_reverse(dns, (struct sockaddr *)&s6, sizeof(s6), cb, &r[0]);
    run();
    CHECK_STR(r[0].text, "good.ptr.test");

    /* an unknown address family */
    struct sockaddr sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_family = AF_UNIX;
    memset(&r[0], 0, sizeof(r[0]));
    outstanding++;
    dns_reverse(dns, &sa, sizeof(sa), cb, &r[0]);
    run();
    CHECK_INT(r[0].status, DNS_NOTFOUND);
}

static void test_a_txt(void)
{
    struct result r[6];
    memset(r, 0, sizeof(r));
    outstanding += 6;
    dns_lookup_a(dns, "2.0.0.127.bl.test", cb, &r[0]);
    dns_lookup_a_all(dns, "2.0.0.127.bl.test", cb, &r[1]);
    dns_lookup_a(dns, "3.0.0.127.bl.test", cb, &r[2]);
    dns_lookup_txt(dns, "2.0.0.127.bl.test", cb, &r[3]);
    dns_lookup_txt(dns, "spf.test", cb, &r[4]);
    dns_lookup_a(dns, "servfail.test", cb, &r[5]);
    run();
    CHECK_INT(r[0].status, DNS_OK);
    CHECK_STR(r[0].text, "127.0.0.2");
    CHECK_INT(r[1].status, DNS_OK);
    CHECK_STR(r[1].text, "127.0.0.2 127.0.0.4");
    CHECK_INT(r[2].status, DNS_NOTFOUND);
    CHECK_INT(r[3].status, DNS_OK);
    CHECK_STR(r[3].text, "Listed, see http://bl.test/");
    CHECK_INT(r[4].status, DNS_OK);
    CHECK_STR(r[4].text, "v=spf1 -all\nsecond record");
    CHECK_INT(r[5].status, DNS_TEMPFAIL);
}

static struct result cancel_res[3];

static void cancel_other(int status, const char *result, void *arg)
{
    cb(status, result, arg);
    dns_cancel(dns, &cancel_res[1]);
    outstanding--;                        /* [1] will never call back */
}

static void test_cancel(void)
{
    struct result r[2];
    struct dns *slow = dns_new_opts(loop, 200, 1);
    struct dns *saved = dns;
    dns = slow;
    memset(r, 0, sizeof(r));
    /* cancelled before the (dropped) query times out: never called */
    outstanding++;
    dns_domain_exists(dns, "drop.test", cb, &r[0]);
    dns_lookup_a(dns, "a-only.test", cb, &r[1]);
    dns_cancel(dns, &r[0]);
    CHECK_INT(dns_pending(dns), 1);
    run();
    CHECK_INT(r[1].called, 1);
    run_for(700);                         /* past the c-ares timeout of drop.test */
    CHECK_INT(r[0].called, 0);
    CHECK_INT(dns_pending(dns), 0);

    /* a timeout is a temporary failure */
    memset(r, 0, sizeof(r));
    outstanding++;
    dns_lookup_a(dns, "drop.test", cb, &r[0]);
    uint64_t t0 = mono_msec();
    run();
    CHECK_INT(r[0].called, 1);
    CHECK_INT(r[0].status, DNS_TEMPFAIL);
    CHECK(mono_msec() - t0 < 3000);

    /* a callback cancels another lookup that already finished */
    memset(cancel_res, 0, sizeof(cancel_res));
    outstanding += 3;
    dns_lookup_a(dns, "", cancel_other, &cancel_res[0]);
    dns_lookup_a(dns, "", cb, &cancel_res[1]);
    dns_lookup_a(dns, "", cb, &cancel_res[2]);
    run();
    CHECK_INT(cancel_res[0].called, 1);
    CHECK_INT(cancel_res[1].called, 0);
    CHECK_INT(cancel_res[2].called, 1);

    /* freeing with lookups in flight: no callback, no crash */
    memset(r, 0, sizeof(r));
    dns_lookup_a(dns, "drop.test", cb, &r[0]);
    dns_lookup_a(dns, "", cb, &r[1]);
    dns_free(slow);
    run_for(300);
    CHECK_INT(r[0].called, 0);
    CHECK_INT(r[1].called, 0);
    dns = saved;
}

static void test_ptr_name(void)
{
    char out[128];
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    inet_pton(AF_INET, "1.2.3.4", &sin.sin_addr);
    CHECK_INT(dns_ptr_name((struct sockaddr *)&sin, out, sizeof(out)), 0);
    CHECK_STR(out, "4.3.2.1.in-addr.arpa");
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof(s6));
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::1", &s6.sin6_addr);
    CHECK_INT(dns_ptr_name((struct sockaddr *)&s6, out, sizeof(out)), 0);
    CHECK_STR(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    CHECK_INT(dns_ptr_name((struct sockaddr *)&s6, out, 20), -1);
}

int main(void)
{
    str_copy(tmpdir, "/tmp/yubin-dns-XXXXXX", sizeof(tmpdir));
    if (!mkdtemp(tmpdir))
        return 2;
    char hosts[128];
    str_fmt(hosts, sizeof(hosts), "%s/hosts", tmpdir);
    FILE *f = fopen(hosts, "w");
    fputs("# test hosts\n127.0.0.1\tlocalhost\n::1 localhost ip6-localhost\n"
          "192.0.2.50 hostsname.test alias.test # comment\n"
          "bogus line\n", f);
    fclose(f);
    setenv("YUBIN_DNS_HOSTS", hosts, 1);
    fakedns_start(zone, ARRAY_LEN(zone));

    loop = ev_loop_new();
    dns = dns_new_opts(loop, 500, 2);
    T_RUN(test_domain_exists);
    T_RUN(test_nxdomain_stops_early);
    T_RUN(test_reverse);
    T_RUN(test_a_txt);
    T_RUN(test_cancel);
    T_RUN(test_ptr_name);
    dns_free(dns);
    ev_loop_free(loop);
    fakedns_stop();
    unlink(hosts);
    rmdir(tmpdir);
    return T_DONE();
}
