/* Unit tests for match lists (matchlist.h): domain lists with and without
 * parent-domain matching, /file/name and type:table entries, negation,
 * network address lists, IPv4/IPv6 patterns and their errors. */
#include "t.h"
#include "lib-table/matchlist.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char err[1024];

static const char *path(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (!f) {
        perror(name);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static struct match_list *dl(const char *value, int flags)
{
    err[0] = '\0';
    struct match_list *l = domain_list_new(value, NULL, flags, err, sizeof(err));
    if (!l)
        fprintf(stderr, "  domain_list_new(%s): %s\n", value, err);
    CHECK(l != NULL);
    return l;
}

static struct match_list *al(const char *value)
{
    err[0] = '\0';
    struct match_list *l = addr_list_new(value, NULL, 0, err, sizeof(err));
    if (!l)
        fprintf(stderr, "  addr_list_new(%s): %s\n", value, err);
    CHECK(l != NULL);
    return l;
}

/* Host lists: names match the hostname, patterns the address, tables both. */
static void test_host_lists(void)
{
    err[0] = '\0';
    struct match_list *l = host_list_new("127.0.0.0/8 [::1] .trusted.test mx.example.test "
                                         "inline:{ {relay.test=x}, {192.0.2.9=y} }",
                                         NULL, 0, err, sizeof(err));
    CHECK(l != NULL);
    CHECK_INT(host_list_match(l, "unknown", "127.0.0.1"), 1);
    CHECK_INT(host_list_match(l, "unknown", "::1"), 1);
    CHECK_INT(host_list_match(l, "a.trusted.test", "192.0.2.1"), 1);
    CHECK_INT(host_list_match(l, "trusted.test", "192.0.2.1"), 0);
    CHECK_INT(host_list_match(l, "MX.Example.TEST", "192.0.2.1"), 1);
    CHECK_INT(host_list_match(l, "relay.test", "192.0.2.1"), 1);
    CHECK_INT(host_list_match(l, "unknown", "192.0.2.9"), 1);
    CHECK_INT(host_list_match(l, "unknown", "192.0.2.10"), 0);
    CHECK_INT(host_list_match(l, "", "192.0.2.10"), 0);
    match_list_free(l);
    /* With the parent style, "example.test" covers its subdomains; "!" excludes. */
    l = host_list_new("!bad.example.test example.test", NULL, MATCH_F_PARENT, err, sizeof(err));
    CHECK(l != NULL);
    CHECK_INT(host_list_match(l, "mx.example.test", "192.0.2.1"), 1);
    CHECK_INT(host_list_match(l, "bad.example.test", "192.0.2.1"), 0);
    match_list_free(l);
    l = host_list_new("fail:x", NULL, 0, err, sizeof(err));
    CHECK_INT(host_list_match(l, "a.test", "1.2.3.4"), -1);
    match_list_free(l);
    CHECK(host_list_new("10.1.2.3/8", NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "non-null host address bits") != NULL);
}

static void test_domain_names(void)
{
    struct match_list *l = dl("Example.COM, .sub.example.org other.test", 0);
    CHECK_INT(domain_list_match(l, "example.com"), 1);
    CHECK_INT(domain_list_match(l, "EXAMPLE.com"), 1);
    CHECK_INT(domain_list_match(l, "www.example.com"), 0);   /* no parent style */
    CHECK_INT(domain_list_match(l, "a.sub.example.org"), 1);
    CHECK_INT(domain_list_match(l, "a.b.sub.example.org"), 1);
    CHECK_INT(domain_list_match(l, "sub.example.org"), 0);  /* .domain: subdomains only */
    CHECK_INT(domain_list_match(l, "other.test"), 1);
    CHECK_INT(domain_list_match(l, "xother.test"), 0);
    CHECK_INT(domain_list_match(l, ""), 0);
    match_list_free(l);

    l = dl("example.com", MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "example.com"), 1);
    CHECK_INT(domain_list_match(l, "www.example.com"), 1);
    CHECK_INT(domain_list_match(l, "a.b.example.com"), 1);
    CHECK_INT(domain_list_match(l, "badexample.com"), 0);
    CHECK_INT(domain_list_match(l, "example.com.evil"), 0);
    match_list_free(l);

    /* The first matching pattern decides; ! excludes. */
    l = dl("!bad.example.com, example.com", MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "bad.example.com"), 0);
    CHECK_INT(domain_list_match(l, "x.bad.example.com"), 0);
    CHECK_INT(domain_list_match(l, "good.example.com"), 1);
    match_list_free(l);
    l = dl("!!example.com", 0);                /* double negation */
    CHECK_INT(domain_list_match(l, "example.com"), 1);
    match_list_free(l);

    l = dl("", 0);
    CHECK(match_list_empty(l));
    CHECK_INT(domain_list_match(l, "example.com"), 0);
    match_list_free(l);
    CHECK_INT(domain_list_match(NULL, "example.com"), 0);
}

static void test_domain_files_tables(void)
{
    write_file("domains", "# local domains\n"
                          "one.example, two.example\n"
                          "  three.example\n"
                          "!bad.four.example\n"
                          "four.example\n");
    char value[600];
    snprintf(value, sizeof(value), "first.example %s", path("domains"));
    struct match_list *l = dl(value, MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "first.example"), 1);
    CHECK_INT(domain_list_match(l, "two.example"), 1);
    CHECK_INT(domain_list_match(l, "three.example"), 1);
    CHECK_INT(domain_list_match(l, "bad.four.example"), 0);
    CHECK_INT(domain_list_match(l, "ok.four.example"), 1);
    CHECK_INT(domain_list_match(l, "five.example"), 0);
    match_list_free(l);

    /* !/file/name negates every pattern in the file. */
    write_file("excl", "no.example\n");
    snprintf(value, sizeof(value), "!%s, example", path("excl"));
    l = dl(value, MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "no.example"), 0);
    CHECK_INT(domain_list_match(l, "yes.example"), 1);
    match_list_free(l);

    /* type:table: the key is the domain; parents per style. */
    l = dl("inline:{ example.com=x, .dot.example=y }", 0);
    CHECK_INT(domain_list_match(l, "example.com"), 1);
    CHECK_INT(domain_list_match(l, "EXAMPLE.COM"), 1);
    CHECK_INT(domain_list_match(l, "www.example.com"), 0);
    CHECK_INT(domain_list_match(l, "a.dot.example"), 1);
    match_list_free(l);
    l = dl("inline:{ example.com=x, .dot.example=y }", MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "www.example.com"), 1);
    CHECK_INT(domain_list_match(l, "a.dot.example"), 0);
    match_list_free(l);
    /* Pattern tables see the name only. */
    l = dl("regexp:{ {/^mail\\./ yes} }", MATCH_F_PARENT);
    CHECK_INT(domain_list_match(l, "mail.example.com"), 1);
    CHECK_INT(domain_list_match(l, "x.mail.example.com"), 0);
    match_list_free(l);
    /* A table that cannot be read: -1, never a silent "no". */
    l = dl("fail:x example.com", 0);
    CHECK_INT(domain_list_match(l, "example.com"), -1);
    match_list_free(l);
    l = dl("example.com fail:x", 0);
    CHECK_INT(domain_list_match(l, "example.com"), 1);   /* decided before the table */
    CHECK_INT(domain_list_match(l, "other.com"), -1);
    match_list_free(l);

    /* Errors. */
    snprintf(value, sizeof(value), "a.example %s", path("missing"));
    CHECK(domain_list_new(value, NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "missing") && strstr(err, "No such file"));
    CHECK(domain_list_new("bogus:table", NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "bogus") != NULL);
    CHECK(domain_list_new("a !", NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "empty pattern") != NULL);
    write_file("loop", "");
    snprintf(value, sizeof(value), "%s", path("loop"));
    char text[700];
    snprintf(text, sizeof(text), "%s\n", path("loop"));
    write_file("loop", text);
    CHECK(domain_list_new(value, NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "nested too deeply") != NULL);
}

static void test_addr_lists(void)
{
    struct match_list *l = al("127.0.0.0/8, [::1]/128 192.168.1.7 [2001:db8::]/32 "
                              "[fe80::/10] 10.0.0.0/8");
    CHECK_INT(addr_list_match(l, "127.0.0.1"), 1);
    CHECK_INT(addr_list_match(l, "127.255.0.9"), 1);
    CHECK_INT(addr_list_match(l, "128.0.0.1"), 0);
    CHECK_INT(addr_list_match(l, "::1"), 1);
    CHECK_INT(addr_list_match(l, "[::1]"), 1);
    CHECK_INT(addr_list_match(l, "[IPv6:::1]"), 1);
    CHECK_INT(addr_list_match(l, "::2"), 0);
    CHECK_INT(addr_list_match(l, "192.168.1.7"), 1);
    CHECK_INT(addr_list_match(l, "192.168.1.8"), 0);
    CHECK_INT(addr_list_match(l, "2001:db8:ffff::1"), 1);
    CHECK_INT(addr_list_match(l, "2001:db9::1"), 0);
    CHECK_INT(addr_list_match(l, "fe80::1234"), 1);
    CHECK_INT(addr_list_match(l, "::ffff:10.1.2.3"), 1);    /* v4-mapped counts as v4 */
    CHECK_INT(addr_list_match(l, "not-an-address"), 0);
    CHECK_INT(addr_list_match(l, ""), 0);
    match_list_free(l);

    l = al("!10.1.0.0/16 10.0.0.0/8 0.0.0.0/0");
    CHECK_INT(addr_list_match(l, "10.1.2.3"), 0);
    CHECK_INT(addr_list_match(l, "10.2.2.3"), 1);
    CHECK_INT(addr_list_match(l, "8.8.8.8"), 1);
    CHECK_INT(addr_list_match(l, "2001:db8::1"), 0);        /* v4 patterns only */
    match_list_free(l);

    write_file("nets", "# mynetworks\n10.0.0.0/8\n[2001:db8::]/32\n");
    char value[600];
    snprintf(value, sizeof(value), "%s cidr:{ {192.168.0.0/16 x} } inline:{ 172.16.0.1=y }",
             path("nets"));
    l = al(value);
    CHECK_INT(addr_list_match(l, "10.9.9.9"), 1);
    CHECK_INT(addr_list_match(l, "2001:db8::9"), 1);
    CHECK_INT(addr_list_match(l, "192.168.3.4"), 1);
    CHECK_INT(addr_list_match(l, "172.16.0.1"), 1);
    CHECK_INT(addr_list_match(l, "172.16.0.2"), 0);
    match_list_free(l);
    l = al("fail:x");
    CHECK_INT(addr_list_match(l, "1.2.3.4"), -1);
    match_list_free(l);

    struct { const char *value, *frag; } bad[] = {
        {"10.1.2.3/8", "non-null host address bits in \"10.1.2.3/8\", perhaps you should use "
                       "\"10.0.0.0/8\" instead"},
        {"[2001:db8::1]/32", "perhaps you should use \"[2001:db8::]/32\""},
        {"10.0.0.0/33", "bad prefix length"},
        {"10.0.0.0/", "bad prefix length"},
        {"10.0.0.0/x", "bad prefix length"},
        {"[::1]/129", "bad prefix length"},
        {"example.com", "bad address pattern"},
        {"300.1.1.1", "bad address pattern"},
        {"[::1", "missing ']'"},
        {"[::1]x", "bad address pattern"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        struct match_list *b = addr_list_new(bad[i].value, NULL, 0, err, sizeof(err));
        CHECK(b == NULL);
        match_list_free(b);
        if (!strstr(err, bad[i].frag)) {
            fprintf(stderr, "  %s: error \"%s\" lacks \"%s\"\n", bad[i].value, err, bad[i].frag);
            CHECK(0);
        }
    }
    /* Errors inside a file name the file and line. */
    write_file("nets-bad", "10.0.0.0/8\n\n10.1.1.1/8\n");
    snprintf(value, sizeof(value), "%s", path("nets-bad"));
    CHECK(addr_list_new(value, NULL, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "nets-bad:3:") != NULL);
}

static void test_net_patterns(void)
{
    struct net_pattern np;
    struct net_addr a;
    char why[256];
    CHECK_INT(net_pattern_parse("0.0.0.0/0", &np, why, sizeof(why)), 0);
    CHECK_INT(net_addr_parse("1.2.3.4", &a, 0), 0);
    CHECK_INT(net_pattern_match(&np, &a), 1);
    CHECK_INT(net_pattern_parse("::/0", &np, why, sizeof(why)), 0);
    CHECK_INT(net_pattern_match(&np, &a), 0);
    CHECK_INT(net_pattern_parse("1.2.3.4", &np, why, sizeof(why)), 0);
    CHECK_INT(np.plen, 32);
    CHECK_INT(net_pattern_parse("[1.2.3.4]", &np, why, sizeof(why)), 0);
    CHECK_INT(net_pattern_parse("1.2.3.128/25", &np, why, sizeof(why)), 0);
    CHECK_INT(net_addr_parse("1.2.3.200", &a, 0), 0);
    CHECK_INT(net_pattern_match(&np, &a), 1);
    CHECK_INT(net_addr_parse("1.2.3.100", &a, 0), 0);
    CHECK_INT(net_pattern_match(&np, &a), 0);
    CHECK_INT(net_addr_parse("::ffff:1.2.3.4", &a, 0), 0);
    CHECK_INT(a.family == 10 /* AF_INET6 */, 1);
    CHECK_INT(net_addr_parse("::ffff:1.2.3.4", &a, 1), 0);
    CHECK_INT(a.family == 2 /* AF_INET */, 1);
    CHECK_INT(net_addr_parse("[1.2.3.4", &a, 0), -1);
    char longs[200];
    memset(longs, '1', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    CHECK_INT(net_addr_parse(longs, &a, 0), -1);
    CHECK_INT(net_pattern_parse(longs, &np, why, sizeof(why)), -1);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-matchlist.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_domain_names);
    T_RUN(test_domain_files_tables);
    T_RUN(test_addr_lists);
    T_RUN(test_host_lists);
    T_RUN(test_net_patterns);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return T_DONE();
}
