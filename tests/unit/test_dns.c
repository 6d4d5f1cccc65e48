/* Unit tests for dns.c against the fake DNS server of fakedns.h, through a
 * real evloop: MX/A/AAAA fallback, null MX, NXDOMAIN/NODATA/SERVFAIL/timeout,
 * forward-confirmed reverse lookups (hosts file first), DNSBL-style A and
 * TXT lookups, and cancellation. */
#include "t.h"
#include "fakedns.h"
#include "lib-dns/dns.h"
#include "lib/evloop.h"
#include "lib/util.h"

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

/* ---- typed answers ---- */

struct typed {
    int called;
    struct dns_answer a;
};

static void typed_cb(const struct dns_answer *a, void *arg)
{
    struct typed *t = arg;
    t->called++;
    t->a = *a;                            /* copy the records: the answer is freed after */
    t->a.rr = a->n ? xcalloc(a->n, sizeof(*a->rr)) : NULL;
    for (size_t i = 0; i < a->n; i++) {
        t->a.rr[i] = a->rr[i];
        if (a->rr[i].data) {
            t->a.rr[i].data = xmalloc(a->rr[i].len + 1);
            memcpy(t->a.rr[i].data, a->rr[i].data, a->rr[i].len + 1);
        }
    }
    if (--outstanding == 0)
        ev_loop_stop(loop);
}

static void test_typed_queries(void)
{
    struct typed t[6];
    memset(t, 0, sizeof(t));
    static const struct { const char *name; int type; } q[] = {
        {"mx.test", DNS_T_MX},     {"cname.test", DNS_T_A}, {"nodata.test", DNS_T_A},
        {"nxdomain.test", DNS_T_A}, {"servfail.test", DNS_T_MX}, {"spf.test", DNS_T_TXT},
    };
    for (size_t i = 0; i < ARRAY_LEN(q); i++) {
        outstanding++;
        dns_query(dns, q[i].name, q[i].type, typed_cb, &t[i]);
        CHECK_INT(t[i].called, 0);        /* never from inside dns_query */
    }
    run();
    CHECK_INT(t[0].a.status, DNS_OK);
    CHECK_INT((int)t[0].a.n, 3);
    int prefs = 0;
    for (size_t i = 0; i < t[0].a.n; i++) {
        CHECK_INT(t[0].a.rr[i].type, DNS_T_MX);
        CHECK_INT((int)t[0].a.rr[i].ttl, 3600);
        prefs += t[0].a.rr[i].pref;
        if (t[0].a.rr[i].pref == 5)
            CHECK_STR(t[0].a.rr[i].name, "best.mx.test");
    }
    CHECK_INT(prefs, 35);
    CHECK_INT(t[1].a.status, DNS_OK);     /* the CNAME is skipped, its target's A kept */
    CHECK_INT((int)t[1].a.n, 1);
    CHECK_STR(t[1].a.rr[0].text, "192.0.2.10");
    CHECK_INT(t[1].a.rr[0].family, AF_INET);
    CHECK_INT(t[2].a.status, DNS_NODATA);
    CHECK_INT(t[3].a.status, DNS_NOTFOUND);
    CHECK_INT(t[4].a.status, DNS_TEMPFAIL);
    CHECK_INT(t[5].a.status, DNS_OK);
    CHECK_INT((int)t[5].a.n, 2);
    CHECK_INT(t[5].a.ad, 0);
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        dns_answer_free(&t[i].a);
}

static void test_blocking(void)
{
    struct dns *b = dns_new_blocking(300, 1);
    CHECK(b != NULL);
    struct dns_answer a;
    CHECK_INT(dns_query_wait(b, "mx.test", DNS_T_MX, &a), DNS_OK);
    CHECK_INT((int)a.n, 3);
    dns_answer_free(&a);
    CHECK_INT(dns_query_wait(b, "aaaa-only.test", DNS_T_AAAA, &a), DNS_OK);
    CHECK_STR(a.rr[0].text, "2001:db8::1");
    CHECK_INT(a.rr[0].family, AF_INET6);
    dns_answer_free(&a);
    CHECK_INT(dns_query_wait(b, "aaaa-only.test", DNS_T_A, &a), DNS_NODATA);
    CHECK_INT(dns_query_wait(b, "nosuch.test", DNS_T_A, &a), DNS_NOTFOUND);
    CHECK_INT(dns_query_wait(b, "refused.test", DNS_T_A, &a), DNS_TEMPFAIL);
    uint64_t t0 = mono_msec();
    CHECK_INT(dns_query_wait(b, "drop.test", DNS_T_A, &a), DNS_TEMPFAIL);
    CHECK(mono_msec() - t0 < 3000);
    CHECK_INT(dns_query_wait(b, "bad name.test", DNS_T_A, &a), DNS_NOTFOUND);
    dns_free(b);
}

/* A reply message built by hand: header, one question, then answers. */
struct msg {
    unsigned char b[2048];
    size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void put16(struct msg *m, unsigned v)
{
    unsigned char x[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    put(m, x, 2);
}

/* An answer record whose owner is a pointer to the question name (offset 12). */
static void rr_head(struct msg *m, int type, unsigned ttl, unsigned rdlen)
{
    put16(m, 0xc00c);
    put16(m, (unsigned)type);
    put16(m, 1);
    put16(m, ttl >> 16);
    put16(m, ttl & 0xffff);
    put16(m, rdlen);
}

static void msg_start(struct msg *m, int flags3, unsigned an)
{
    memset(m, 0, sizeof(*m));
    unsigned char h[12] = {0x12, 0x34, 0x81, (unsigned char)flags3, 0, 1, (unsigned char)(an >> 8),
                           (unsigned char)an, 0, 0, 0, 0};
    put(m, h, 12);
    put(m, "\4mail\4test\0", 11);              /* question: mail.test */
    put16(m, 1);
    put16(m, 1);
}

static void test_parse_answer(void)
{
    struct msg m;
    struct dns_answer a;
    /* MX with a compressed exchange, AD set */
    msg_start(&m, 0x80 | 0x20, 1);
    rr_head(&m, DNS_T_MX, 300, 2 + 5 + 2);
    put16(&m, 10);
    put(&m, "\4smtp\xc0\x11", 7);                 /* smtp + pointer to "test" */
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_MX, &a), DNS_OK);
    CHECK_INT(a.ad, 1);
    CHECK_INT((int)a.n, 1);
    CHECK_INT(a.rr[0].pref, 10);
    CHECK_INT((int)a.rr[0].ttl, 300);
    CHECK_STR(a.rr[0].name, "smtp.test");
    dns_answer_free(&a);
    /* the same answer asked as A: no data; as MX with rcode 3: not found */
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_A, &a), DNS_NODATA);
    m.b[3] = 0x83;
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_MX, &a), DNS_NOTFOUND);
    m.b[3] = 0x82;
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_MX, &a), DNS_TEMPFAIL);
    /* truncated anywhere: a temporary failure, never a read past the end */
    m.b[3] = 0x80;
    for (size_t cut = 0; cut < m.n; cut++)
        CHECK_INT(dns_parse_answer(m.b, cut, DNS_T_MX, &a), DNS_TEMPFAIL);
    /* TXT of two strings, SRV, TLSA */
    msg_start(&m, 0x80, 3);
    rr_head(&m, DNS_T_TXT, 60, 1 + 6 + 1 + 5);
    put(&m, "\6v=spf1\5 -all", 13);
    rr_head(&m, DNS_T_SRV, 60, 6 + 11);
    put16(&m, 0);
    put16(&m, 5);
    put16(&m, 993);
    put(&m, "\4imap\4test\0", 11);
    unsigned char tlsa[3 + 32];
    tlsa[0] = 3;
    tlsa[1] = 1;
    tlsa[2] = 1;
    for (int i = 0; i < 32; i++)
        tlsa[3 + i] = (unsigned char)i;
    rr_head(&m, DNS_T_TLSA, 60, sizeof(tlsa));
    put(&m, tlsa, sizeof(tlsa));
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_TXT, &a), DNS_OK);
    CHECK_INT((int)a.rr[0].len, 11);
    CHECK_STR((char *)a.rr[0].data, "v=spf1 -all");
    dns_answer_free(&a);
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_SRV, &a), DNS_OK);
    CHECK_INT(a.rr[0].port, 993);
    CHECK_INT(a.rr[0].weight, 5);
    CHECK_STR(a.rr[0].name, "imap.test");
    dns_answer_free(&a);
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_TLSA, &a), DNS_OK);
    CHECK_INT(a.rr[0].usage, 3);
    CHECK_INT(a.rr[0].selector, 1);
    CHECK_INT(a.rr[0].mtype, 1);
    CHECK_INT((int)a.rr[0].len, 32);
    CHECK(a.rr[0].data[31] == 31);
    dns_answer_free(&a);
    /* a TXT string longer than its record, and a compression loop */
    msg_start(&m, 0x80, 1);
    rr_head(&m, DNS_T_TXT, 60, 3);
    put(&m, "\5ab", 3);
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_TXT, &a), DNS_TEMPFAIL);
    msg_start(&m, 0x80, 1);
    rr_head(&m, DNS_T_CNAME, 60, 2);
    put16(&m, 0xc000 | (unsigned)m.n);              /* points at itself */
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_CNAME, &a), DNS_TEMPFAIL);
    /* an MX target that no host name can be (a '.' inside a label) is skipped */
    msg_start(&m, 0x80, 2);
    rr_head(&m, DNS_T_MX, 60, 2 + 8);
    put16(&m, 5);
    put(&m, "\3a.b\2cd\0", 8);
    rr_head(&m, DNS_T_MX, 60, 2 + 7);
    put16(&m, 10);
    put(&m, "\4smtp\xc0\x11", 7);
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_MX, &a), DNS_OK);
    CHECK_INT((int)a.n, 1);
    CHECK_STR(a.rr[0].name, "smtp.test");
    dns_answer_free(&a);
    /* more records than kept: DNS_RR_MAX of them */
    msg_start(&m, 0x80, 100);
    for (int i = 0; i < 100; i++) {
        rr_head(&m, DNS_T_A, 60, 4);
        put(&m, "\x7f\0\0\2", 4);
    }
    CHECK_INT(dns_parse_answer(m.b, m.n, DNS_T_A, &a), DNS_OK);
    CHECK_INT((int)a.n, DNS_RR_MAX);
    CHECK_STR(a.rr[DNS_RR_MAX - 1].text, "127.0.0.2");
    dns_answer_free(&a);
}

static void test_reply_filter(void)
{
    CHECK_INT(dns_reply_filter_valid("127.0.0.2"), 0);
    CHECK_INT(dns_reply_filter_valid("127.0.0.[2..11]"), 0);
    CHECK_INT(dns_reply_filter_valid("127.[0;1].0.[2;4;10..12]"), 0);
    CHECK_INT(dns_reply_filter_valid("127.0.0"), -1);
    CHECK_INT(dns_reply_filter_valid("127.0.0.[2"), -1);
    CHECK_INT(dns_reply_filter_valid("127.0.0.x"), -1);
    CHECK(dns_reply_filter_match("127.0.0.[2..11]", "127.0.0.2"));
    CHECK(dns_reply_filter_match("127.0.0.[2..11]", "127.0.0.11"));
    CHECK(!dns_reply_filter_match("127.0.0.[2..11]", "127.0.0.12"));
    CHECK(dns_reply_filter_match("127.[0;1].0.[2;4;10..12]", "127.1.0.10"));
    CHECK(!dns_reply_filter_match("127.[0;1].0.[2;4;10..12]", "127.2.0.10"));
    CHECK(!dns_reply_filter_match("127.0.0.2", "::1"));
    CHECK(!dns_reply_filter_match("127.0.0.99999999999", "127.0.0.255"));
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
    T_RUN(test_typed_queries);
    T_RUN(test_blocking);
    T_RUN(test_parse_answer);
    T_RUN(test_reply_filter);
    dns_free(dns);
    ev_loop_free(loop);
    fakedns_stop();
    unlink(hosts);
    rmdir(tmpdir);
    return T_DONE();
}
