/*
 * test_tableproto.c - the wire formats of remote tables (tableproto.h):
 * netstrings, socketmap replies, proxymap request and reply lines; the
 * socketmap: spec parser; and restartable lookups without an event loop
 * (they answer in place, never TABLE_PENDING).
 */
#include "t.h"
#include "lib-table/table.h"
#include "lib-table/tableproto.h"
#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>

static int decode(const char *s, size_t max, size_t *off, size_t *plen, size_t *used)
{
    const char *why = NULL;
    return netstring_decode(s, strlen(s), max, off, plen, used, &why);
}

static void test_netstring(void)
{
    struct buf b;
    buf_init(&b, 64);
    CHECK_INT(netstring_encode(&b, "name key", 8), 0);
    CHECK_STR(buf_cstr(&b), "8:name key,");
    buf_reset(&b);
    CHECK_INT(netstring_encode(&b, "", 0), 0);
    CHECK_STR(buf_cstr(&b), "0:,");
    buf_free(&b);

    size_t off, plen, used;
    CHECK_INT(decode("5:hello,rest", 100, &off, &plen, &used), 1);
    CHECK_INT(off, 2);
    CHECK_INT(plen, 5);
    CHECK_INT(used, 8);
    CHECK_INT(decode("0:,", 100, &off, &plen, &used), 1);
    CHECK_INT(plen, 0);
    /* incomplete: read more */
    CHECK_INT(decode("", 100, &off, &plen, &used), 0);
    CHECK_INT(decode("12", 100, &off, &plen, &used), 0);
    CHECK_INT(decode("5:hel", 100, &off, &plen, &used), 0);
    CHECK_INT(decode("5:hello", 100, &off, &plen, &used), 0);
    /* malformed */
    CHECK_INT(decode("5:hello;", 100, &off, &plen, &used), -1);
    CHECK_INT(decode(":x,", 100, &off, &plen, &used), -1);
    CHECK_INT(decode("x:", 100, &off, &plen, &used), -1);
    CHECK_INT(decode("05:hello,", 100, &off, &plen, &used), -1);
    CHECK_INT(decode("101:", 100, &off, &plen, &used), -1);
    CHECK_INT(decode("99999999999999999999999", 100000, &off, &plen, &used), -1);
}

static int reply(const char *s, struct buf *v)
{
    char why[256];
    return sockmap_parse_reply(s, strlen(s), v, why, sizeof(why));
}

static void test_sockmap_reply(void)
{
    struct buf v;
    buf_init(&v, 64);
    CHECK_INT(reply("OK value with spaces", &v), TABLE_FOUND);
    CHECK_STR(buf_cstr(&v), "value with spaces");
    CHECK_INT(reply("OK ", &v), TABLE_FOUND);
    CHECK_STR(buf_cstr(&v), "");
    CHECK_INT(reply("NOTFOUND ", &v), TABLE_NOTFOUND);
    CHECK_INT(reply("NOTFOUND", &v), TABLE_NOTFOUND);
    CHECK_INT(reply("TEMP database down", &v), TABLE_TEMPFAIL);
    CHECK_INT(reply("TIMEOUT ", &v), TABLE_TEMPFAIL);
    CHECK_INT(reply("PERM no such map", &v), TABLE_TEMPFAIL);
    CHECK_INT(reply("OKAY x", &v), TABLE_TEMPFAIL);
    CHECK_INT(reply("", &v), TABLE_TEMPFAIL);
    char why[64];
    CHECK_INT(sockmap_parse_reply("OK a\0b", 6, &v, why, sizeof(why)), TABLE_TEMPFAIL);
    CHECK_INT(sockmap_parse_reply("TEMP \x01z", 7, &v, why, sizeof(why)), TABLE_TEMPFAIL);
    CHECK(strstr(why, "?z") != NULL);
    /* a value longer than the result buffer's limit is a failure, not a cut value */
    char big[100];
    memset(big, 'x', sizeof(big));
    memcpy(big, "OK ", 3);
    CHECK_INT(sockmap_parse_reply(big, sizeof(big), &v, why, sizeof(why)), TABLE_TEMPFAIL);
    buf_free(&v);
}

static void test_proxy_request(void)
{
    struct buf b;
    buf_init(&b, TPROTO_REQUEST_MAX);
    CHECK_INT(tproto_request_encode(&b, 1, "socketmap:inet:[::1]:99:map", "a b\t%c\n"), 0);
    CHECK_STR(buf_cstr(&b), "lookup\texact\tsocketmap:inet:[::1]:99:map\ta b%09%25c%0A\n");
    struct tproto_request req;
    const char *why = NULL;
    char *line = b.data;
    size_t len = b.len - 1;
    CHECK_INT(tproto_request_parse(line, len, &req, &why), 0);
    CHECK_INT(req.exact, 1);
    CHECK_STR(req.spec, "socketmap:inet:[::1]:99:map");
    CHECK_STR(req.key, "a b\t%c\n");
    buf_reset(&b);
    CHECK_INT(tproto_request_encode(&b, 0, "hash:/etc/x", ""), 0);
    CHECK_INT(tproto_request_parse(b.data, b.len - 1, &req, &why), 0);
    CHECK_INT(req.exact, 0);
    CHECK_STR(req.key, "");
    buf_free(&b);

    const char *bad[] = {
        "lookup\tfold\tspec",              /* too few fields */
        "lookup\tfold\tspec\tkey\textra",  /* too many */
        "update\tfold\tspec\tkey",         /* unknown request */
        "lookup\tsloppy\tspec\tkey",       /* unknown mode */
        "lookup\tfold\t\tkey",             /* empty spec */
        "lookup\tfold\tspec\tk%00y",       /* NUL */
        "lookup\tfold\tspec\tk%zzy",       /* bad escape */
        "lookup\tfold\tspec\tk%4",         /* cut escape */
        "lookup\tfold\tspec\tk\ry",        /* raw control character */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char tmp[128];
        size_t n = strlen(bad[i]);
        memcpy(tmp, bad[i], n + 1);
        why = NULL;
        CHECK_INT(tproto_request_parse(tmp, n, &req, &why), -1);
        CHECK(why != NULL);
    }
    /* a key longer than any table key cannot be sent */
    buf_init(&b, 0);
    char *key = calloc(1, TABLE_KEY_MAX + 2);
    memset(key, 'k', TABLE_KEY_MAX + 1);
    CHECK_INT(tproto_request_encode(&b, 1, "socketmap:unix:/s:m", key), -1);
    free(key);
    buf_free(&b);
}

static void test_proxy_reply(void)
{
    struct buf b;
    buf_init(&b, TPROTO_REPLY_MAX);
    CHECK_INT(tproto_reply_encode(&b, TP_FOUND, "REJECT go\taway"), 0);
    CHECK_STR(buf_cstr(&b), "found\tREJECT go%09away\n");
    enum tproto_status st;
    char *value;
    const char *why;
    CHECK_INT(tproto_reply_parse(b.data, b.len - 1, &st, &value, &why), 0);
    CHECK_INT(st, TP_FOUND);
    CHECK_STR(value, "REJECT go\taway");
    buf_reset(&b);
    CHECK_INT(tproto_reply_encode(&b, TP_NOTFOUND, ""), 0);
    CHECK_STR(buf_cstr(&b), "notfound\t\n");
    buf_reset(&b);
    CHECK_INT(tproto_reply_encode(&b, TP_DENIED, "not approved"), 0);
    CHECK_INT(tproto_reply_parse(b.data, b.len - 1, &st, &value, &why), 0);
    CHECK_INT(st, TP_DENIED);
    /* a value too long for the protocol becomes a temporary failure */
    char *big = calloc(1, TPROTO_VALUE_MAX + 2);
    memset(big, 'v', TPROTO_VALUE_MAX + 1);
    buf_reset(&b);
    CHECK_INT(tproto_reply_encode(&b, TP_FOUND, big), 0);
    CHECK(strncmp(buf_cstr(&b), "tempfail\t", 9) == 0);
    free(big);
    buf_free(&b);
    char l1[] = "maybe\tx", l2[] = "found", l3[] = "found\ta\tb";
    CHECK_INT(tproto_reply_parse(l1, strlen(l1), &st, &value, &why), -1);
    CHECK_INT(tproto_reply_parse(l2, strlen(l2), &st, &value, &why), -1);
    CHECK_INT(tproto_reply_parse(l3, strlen(l3), &st, &value, &why), -1);
}

static void test_socketmap_specs(void)
{
    char err[256];
    const char *good[] = {"socketmap:inet:127.0.0.1:9999:map", "socketmap:inet:[::1]:9999:map",
                          "socketmap:unix:/run/sockmap:map", "proxy:socketmap:inet:h:1:m"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct table *t = table_open(good[i], NULL, err, sizeof(err));
        CHECK(t != NULL);
        if (t) {
            CHECK(table_flags(t) & TABLE_F_REMOTE);
            CHECK(table_flags(t) & TABLE_F_PATTERN);
            table_close(t);
        }
    }
    const char *bad[] = {"socketmap:inet:host:map", "socketmap:tcp:h:1:m", "socketmap:unix::m",
                         "socketmap:inet::1:m", "socketmap:inet:h:1:"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct table *t = table_open(bad[i], NULL, err, sizeof(err));
        CHECK(t == NULL);
        table_close(t);
    }
}

static int woken;
static void wake(void *arg)
{
    (void)arg;
    woken++;
}

/* Without table_async_init(), a step never waits: a refused socketmap is a
 * temporary failure at once. */
static void test_wait_in_place(void)
{
    char err[256];
    struct table *t = table_open("socketmap:unix:/nonexistent/yubin-test-sock:m", NULL, err,
                                 sizeof(err));
    CHECK(t != NULL);
    if (!t)
        return;
    struct table_wait w;
    table_wait_init(&w, wake, NULL);
    struct buf v;
    buf_init(&v, 1024);
    table_wait_begin(&w);
    CHECK_INT(table_lookup(t, "key", &v), TABLE_TEMPFAIL);
    CHECK_INT(table_wait_end(&w), 0);
    table_wait_done(&w);
    table_wait_cancel(&w);
    CHECK_INT(woken, 0);
    buf_free(&v);
    table_close(t);
}

int main(void)
{
    T_RUN(test_netstring);
    T_RUN(test_sockmap_reply);
    T_RUN(test_proxy_request);
    T_RUN(test_proxy_reply);
    T_RUN(test_socketmap_specs);
    T_RUN(test_wait_in_place);
    return T_DONE();
}
