/*
 * test_imap_seqset.c - IMAP sequence sets (src/lib-imap/imap_seqset.c):
 * parsing with `*`, sorting and merging, `$`, bad syntax, limits,
 * membership and iteration, a 100,000-number set parsed quickly, writing
 * compact sets.
 */
#include "lib-imap/imap_seqset.h"
#include "lib/util.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

/* Parse s with star and return its normalised text ("" when empty, "ERR" on error). */
static const char *norm(const char *s, uint32_t star)
{
    static char out[256];
    struct imap_seqset set;
    const char *err = NULL;
    imap_seqset_init(&set);
    if (imap_seqset_parse(&set, s, strlen(s), star, 0, &err) < 0) {
        imap_seqset_free(&set);
        return err ? "ERR" : "ERR-noreason";
    }
    struct buf b;
    buf_init(&b, sizeof(out) - 1);
    imap_seqset_write(&b, &set);
    str_copy(out, buf_cstr(&b), sizeof(out));
    buf_free(&b);
    imap_seqset_free(&set);
    return out;
}

static void test_parse(void)
{
    CHECK_STR(norm("1", 10), "1");
    CHECK_STR(norm("1:*", 10), "1:10");
    CHECK_STR(norm("*", 10), "10");
    CHECK_STR(norm("5,3:4,*:7", 10), "3:5,7:10");
    CHECK_STR(norm("5,3:4,*:7", 6), "3:7");
    CHECK_STR(norm("4:2", 10), "2:4");
    CHECK_STR(norm("1:3,5", 10), "1:3,5");
    CHECK_STR(norm("1,4,*", 5), "1,4:5");
    CHECK_STR(norm("*:3", 5), "3:5");
    CHECK_STR(norm("9,8,7,1,2,3", 10), "1:3,7:9");
    CHECK_STR(norm("1:5,2:3", 10), "1:5");
    CHECK_STR(norm("1:2,3:4", 10), "1:4");
    CHECK_STR(norm("1,1,1", 10), "1");
    CHECK_STR(norm("4294967295", 10), "4294967295");
    CHECK_STR(norm("1:4294967295", 10), "1:4294967295");
    CHECK_STR(norm("4294967294:4294967295,1", 10), "1,4294967294:4294967295");
    /* UID n:* with n above the last UID still contains the last UID. */
    CHECK_STR(norm("559:*", 100), "100:559");
    /* `*` in an empty mailbox (star 0): the range is dropped. */
    CHECK_STR(norm("1:*", 0), "");
    CHECK_STR(norm("*", 0), "");
    CHECK_STR(norm("1,2:*", 0), "1");
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "", "0", "0:5", "5:0", "1,", ",1", "1::2", "1:", ":1", "a", "1 2", "1,,2",
        "4294967296", "99999999999999999999", "-1", "+1", "01", "1:*:2", "**", "$", "1,$",
        "$,1", "1;2", "1:2:3",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        CHECK_STR(norm(bad[i], 10), "ERR");
    }
    t_current = "test_bad";
}

static void test_searchres(void)
{
    struct imap_seqset set;
    const char *err = NULL;
    imap_seqset_init(&set);
    CHECK_INT(imap_seqset_parse(&set, "$", 1, 5, 1, &err), 0);
    CHECK(set.searchres);
    CHECK_INT(set.count, 0);
    CHECK_INT(imap_seqset_parse(&set, "$", 1, 5, 0, &err), -1);
    CHECK_INT(imap_seqset_parse(&set, "$,1", 3, 5, 1, &err), -1);
    CHECK_INT(imap_seqset_parse(&set, "1:*", 3, 5, 1, &err), 0);
    CHECK(!set.searchres);
    CHECK(set.has_star);
    /* Not NUL-terminated: only len bytes are read. */
    CHECK_INT(imap_seqset_parse(&set, "12345", 2, 5, 0, &err), 0);
    CHECK_INT(imap_seqset_max(&set), 12);
    imap_seqset_free(&set);
}

static void test_contains_iter(void)
{
    struct imap_seqset set;
    const char *err;
    imap_seqset_init(&set);
    CHECK_INT(imap_seqset_parse(&set, "10:12,1,5:6,4294967295", 22, 0, 0, &err), 0);
    CHECK_INT(set.count, 4);
    static const uint32_t in[] = {1, 5, 6, 10, 11, 12, 4294967295u};
    static const uint32_t out[] = {0, 2, 4, 7, 9, 13, 4294967294u};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        CHECK(imap_seqset_contains(&set, in[i]));
    for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
        CHECK(!imap_seqset_contains(&set, out[i]));
    CHECK_INT(imap_seqset_size(&set), 7);
    CHECK_INT(imap_seqset_max(&set), 4294967295u);
    struct imap_seqset_iter it;
    uint32_t n, got[10];
    size_t k = 0;
    imap_seqset_iter_init(&it, &set);
    while (k < 10 && imap_seqset_iter_next(&it, &n))
        got[k++] = n;
    CHECK_INT(k, 7);
    for (size_t i = 0; i < 7 && i < k; i++)
        CHECK_INT(got[i], in[i]);
    CHECK_INT(imap_seqset_iter_next(&it, &n), 0);
    imap_seqset_free(&set);
    /* Empty set. */
    imap_seqset_iter_init(&it, &set);
    CHECK_INT(imap_seqset_iter_next(&it, &n), 0);
    CHECK(!imap_seqset_contains(&set, 1));
    CHECK_INT(imap_seqset_size(&set), 0);
    /* The whole UID space. */
    CHECK_INT(imap_seqset_parse(&set, "1:4294967295", 12, 0, 0, &err), 0);
    CHECK_INT(imap_seqset_size(&set), 4294967295ull);
    imap_seqset_free(&set);
}

static void test_large(void)
{
    /* 100,000 numbers in descending order with gaps: sort then merge. */
    struct buf b;
    buf_init(&b, 0);
    for (uint32_t i = 200000; i >= 2; i -= 2)
        buf_printf(&b, "%s%u", b.len ? "," : "", i);
    struct imap_seqset set;
    const char *err;
    imap_seqset_init(&set);
    uint64_t t0 = mono_msec();
    CHECK_INT(imap_seqset_parse(&set, b.data, b.len, 0, 0, &err), 0);
    uint64_t t1 = mono_msec();
    CHECK(t1 - t0 < 1000);
    CHECK_INT(set.count, 100000);
    CHECK(imap_seqset_contains(&set, 200000));
    CHECK(!imap_seqset_contains(&set, 199999));
    /* Fill the gaps: everything merges into one range. */
    buf_reset(&b);
    for (uint32_t i = 1; i <= 200001; i += 2)
        buf_printf(&b, "%u,", i);
    buf_puts(&b, "2:200000");
    CHECK_INT(imap_seqset_parse(&set, b.data, b.len, 0, 0, &err), 0);
    CHECK_INT(set.count, 1);
    CHECK_INT(imap_seqset_max(&set), 200001);
    /* Writing the merged set back. */
    buf_reset(&b);
    imap_seqset_write(&b, &set);
    CHECK_STR(buf_cstr(&b), "1:200001");
    imap_seqset_free(&set);
    buf_free(&b);
}

static void test_limits(void)
{
    struct buf b;
    buf_init(&b, 0);
    for (uint32_t i = 0; i <= IMAP_SEQSET_MAX_RANGES; i++)
        buf_puts(&b, "1,");
    buf_puts(&b, "1");
    struct imap_seqset set;
    const char *err = NULL;
    imap_seqset_init(&set);
    CHECK_INT(imap_seqset_parse(&set, b.data, b.len, 0, 0, &err), -1);
    CHECK_STR(err, "Sequence set too large");
    CHECK_INT(set.count, 0);
    buf_free(&b);
    imap_seqset_free(&set);
}

static const char *wn(const uint32_t *v, size_t n)
{
    static char out[128];
    struct buf b;
    buf_init(&b, sizeof(out) - 1);
    int r = imap_seqset_write_nums(&b, v, n);
    str_copy(out, r < 0 ? "ERR" : buf_cstr(&b), sizeof(out));
    buf_free(&b);
    return out;
}

static void test_write_nums(void)
{
    static const uint32_t a[] = {1, 2, 3, 5, 7, 8, 9, 20};
    CHECK_STR(wn(a, 8), "1:3,5,7:9,20");
    CHECK_STR(wn(a, 0), "");
    CHECK_STR(wn(a, 1), "1");
    static const uint32_t d[] = {4, 4, 5, 5, 9};
    CHECK_STR(wn(d, 5), "4:5,9");
    static const uint32_t top[] = {4294967294u, 4294967295u};
    CHECK_STR(wn(top, 2), "4294967294:4294967295");
    static const uint32_t unsorted[] = {3, 1};
    CHECK_STR(wn(unsorted, 2), "ERR");
    static const uint32_t unsorted2[] = {1, 2, 3, 2};
    CHECK_STR(wn(unsorted2, 4), "ERR");
    /* Buffer limit. */
    struct buf b;
    buf_init(&b, 3);
    CHECK_INT(imap_seqset_write_nums(&b, a, 8), -1);
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_parse);
    T_RUN(test_bad);
    T_RUN(test_searchres);
    T_RUN(test_contains_iter);
    T_RUN(test_large);
    T_RUN(test_limits);
    T_RUN(test_write_nums);
    return T_DONE();
}
