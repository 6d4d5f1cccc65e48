/* Unit tests for the shared per-client session count and event rates
 * (conncount.h): one region seen by several slots (as several smtpd
 * processes see it), IPv4 and IPv6 keys and prefixes, removal, clearing a
 * dead worker's slot, a full window, rate windows, header validation, and
 * the private (single-process) table. */
#include "t.h"
#include "lib-master/conncount.h"
#include "lib-table/matchlist.h"
#include "lib/util.h"

#include <stdio.h>
#include <unistd.h>

static char err[512];

static struct net_addr addr(const char *text)
{
    struct net_addr a;
    if (net_addr_parse(text, &a, 1) < 0) {
        fprintf(stderr, "bad test address %s\n", text);
        _exit(1);
    }
    return a;
}

static void test_across_slots(void)
{
    int fd = conncount_region_new(3, err, sizeof(err));
    CHECK(fd >= 0);
    struct conncount *w0 = conncount_attach(fd, 0, err, sizeof(err));
    struct conncount *w1 = conncount_attach(fd, 1, err, sizeof(err));
    struct conncount *w2 = conncount_attach(fd, 2, err, sizeof(err));
    CHECK(w0 && w1 && w2);
    struct net_addr a = addr("192.0.2.1"), b = addr("192.0.2.2"), v6 = addr("[2001:db8::1]");
    struct net_addr mapped = addr("::ffff:192.0.2.1");
    CHECK_INT(conncount_total(w0, &a), 0);
    for (int i = 0; i < 3; i++)
        CHECK_INT(conncount_add(w0, &a), 0);
    CHECK_INT(conncount_add(w1, &a), 0);
    CHECK_INT(conncount_add(w1, &b), 0);
    CHECK_INT(conncount_add(w2, &v6), 0);
    CHECK_INT(conncount_total(w2, &a), 4);
    CHECK_INT(conncount_total(w0, &mapped), 4);
    CHECK_INT(conncount_total(w0, &b), 1);
    CHECK_INT(conncount_total(w1, &v6), 1);
    conncount_remove(w0, &a);
    CHECK_INT(conncount_total(w1, &a), 3);
    /* Worker 0 dies: the master clears its slot; its sessions no longer count. */
    CHECK_INT(conncount_slot_clear(fd, 0), 0);
    CHECK_INT(conncount_total(w1, &a), 1);
    CHECK_INT(conncount_total(w2, &v6), 1);
    conncount_free(w0);
    conncount_free(w1);
    conncount_free(w2);
    close(fd);
}

static void test_reuse_and_full(void)
{
    struct conncount *c = conncount_private();
    struct net_addr a = addr("198.51.100.7");
    CHECK_INT(conncount_add(c, &a), 0);
    conncount_remove(c, &a);
    CHECK_INT(conncount_total(c, &a), 0);
    CHECK_INT(conncount_add(c, &a), 0);
    CHECK_INT(conncount_total(c, &a), 1);
    conncount_remove(c, &a);
    /* Far more distinct clients than the table holds: some adds must fail,
     * never overwrite, and every address that went in counts exactly once. */
    int added = 0, refused = 0;
    char text[64];
    for (int i = 0; i < 2 * CONNCOUNT_ENTRIES; i++) {
        snprintf(text, sizeof(text), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct net_addr x = addr(text);
        if (conncount_add(c, &x) == 0)
            added++;
        else
            refused++;
    }
    CHECK(added <= CONNCOUNT_ENTRIES);
    CHECK(added >= CONNCOUNT_ENTRIES / 2);
    CHECK(refused > 0);
    int counted = 0;
    for (int i = 0; i < 2 * CONNCOUNT_ENTRIES; i++) {
        snprintf(text, sizeof(text), "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        struct net_addr x = addr(text);
        unsigned n = conncount_total(c, &x);
        CHECK(n <= 1);
        counted += (int)n;
    }
    CHECK_INT(counted, added);
    conncount_free(c);
}

static void test_bad_regions(void)
{
    CHECK_INT(conncount_region_new(0, err, sizeof(err)), -1);
    int fd = conncount_region_new(2, err, sizeof(err));
    CHECK(fd >= 0);
    CHECK(conncount_attach(fd, 2, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "slot 2") != NULL);
    close(fd);
    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(conncount_attach(p[0], 0, err, sizeof(err)) == NULL);
    close(p[0]);
    close(p[1]);
}

/* Rates: counted per slot in a window, summed over the slots; kinds apart. */
static void test_rates(void)
{
    int fd = conncount_region_new(2, err, sizeof(err));
    CHECK(fd >= 0);
    struct conncount *w0 = conncount_attach(fd, 0, err, sizeof(err));
    struct conncount *w1 = conncount_attach(fd, 1, err, sizeof(err));
    CHECK(w0 && w1);
    struct net_addr a = addr("192.0.2.9"), b = addr("192.0.2.10");
    CHECK_INT(conncount_rate(w0, &a, CONNCOUNT_CONN), 0);
    CHECK_INT(conncount_event(w0, &a, CONNCOUNT_CONN, 60), 1);
    CHECK_INT(conncount_event(w1, &a, CONNCOUNT_CONN, 60), 2);
    CHECK_INT(conncount_event(w0, &a, CONNCOUNT_CONN, 60), 3);
    CHECK_INT(conncount_event(w1, &a, CONNCOUNT_MAIL, 60), 1);
    CHECK_INT(conncount_rate(w1, &a, CONNCOUNT_CONN), 3);
    CHECK_INT(conncount_rate(w0, &a, CONNCOUNT_RCPT), 0);
    CHECK_INT(conncount_rate(w0, &b, CONNCOUNT_CONN), 0);
    /* A rate entry outlives the sessions, and sessions keep a rate entry's key. */
    CHECK_INT(conncount_add(w0, &a), 0);
    CHECK_INT(conncount_total(w1, &a), 1);
    conncount_remove(w0, &a);
    CHECK_INT(conncount_total(w1, &a), 0);
    CHECK_INT(conncount_rate(w1, &a, CONNCOUNT_CONN), 3);
    /* A dead worker's events stop counting with its slot. */
    CHECK_INT(conncount_slot_clear(fd, 1), 0);
    CHECK_INT(conncount_rate(w0, &a, CONNCOUNT_CONN), 2);
    CHECK_INT(conncount_rate(w0, &a, CONNCOUNT_MAIL), 0);
    conncount_free(w0);
    conncount_free(w1);
    close(fd);
}

/* A window closes after its unit; the next event opens a new one. */
static void test_rate_window(void)
{
    struct conncount *c = conncount_private();
    struct net_addr a = addr("203.0.113.5");
    CHECK_INT(conncount_event(c, &a, CONNCOUNT_RCPT, 1), 1);
    CHECK_INT(conncount_event(c, &a, CONNCOUNT_RCPT, 1), 2);
    usleep(2100 * 1000);
    CHECK_INT(conncount_rate(c, &a, CONNCOUNT_RCPT), 0);
    CHECK_INT(conncount_event(c, &a, CONNCOUNT_RCPT, 1), 1);
    conncount_free(c);
}

/* IPv6 clients are one client per prefix; IPv4 ones are never grouped. */
static void test_ipv6_prefix(void)
{
    struct conncount *c = conncount_private();
    conncount_set_ipv6_prefix(c, 84);
    struct net_addr x = addr("[2001:db8:1:2:3::1]"), y = addr("[2001:db8:1:2:3:fff:ffff:9]");
    struct net_addr z = addr("[2001:db8:1:2:3:1000::1]");
    struct net_addr v4a = addr("192.0.2.1"), v4b = addr("192.0.2.2");
    CHECK_INT(conncount_add(c, &x), 0);
    CHECK_INT(conncount_add(c, &y), 0);
    CHECK_INT(conncount_total(c, &x), 2);     /* the same /84 */
    CHECK_INT(conncount_total(c, &z), 0);     /* the next /84 */
    CHECK_INT(conncount_event(c, &v4a, CONNCOUNT_CONN, 60), 1);
    CHECK_INT(conncount_event(c, &v4b, CONNCOUNT_CONN, 60), 1);
    conncount_set_ipv6_prefix(c, 128);
    CHECK_INT(conncount_total(c, &y), 0);     /* counted under the /84 key only */
    conncount_free(c);
}

int main(void)
{
    T_RUN(test_across_slots);
    T_RUN(test_reuse_and_full);
    T_RUN(test_bad_regions);
    T_RUN(test_rates);
    T_RUN(test_rate_window);
    T_RUN(test_ipv6_prefix);
    return T_DONE();
}
