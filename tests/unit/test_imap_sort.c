/*
 * test_imap_sort.c - SORT criteria and the RFC 5256 base subject
 * (src/lib-imap/imap_sort.c): criteria lists with REVERSE and the RFC 5957
 * display keys, whole SORT commands with RETURN and the charset, errors,
 * base subjects of reply/forward forms, and the order the imaptest
 * sort-subject script expects for its 15 messages.
 */
#include "lib-imap/imap_sort.h"
#include "lib/util.h"
#include "imap_testargs.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct targs ta;

static int crit(const char *text, struct imap_sort_crit *c, size_t *n)
{
    const char *err = NULL;
    targs_free(&ta);
    struct imap_arg *args = targs_parse(&ta, text);
    if (!args)
        return -100;
    int r = imap_sort_parse_criteria(args, c, n, &err);
    if (r < 0 && !err)
        return -101;
    return r;
}

static void test_criteria(void)
{
    struct imap_sort_crit c[IMAP_SORT_MAX_CRITERIA];
    size_t n = 0;
    CHECK_INT(crit("(subject reverse size)", c, &n), 0);
    CHECK_INT(n, 2);
    CHECK_INT(c[0].key, IMAP_SORT_SUBJECT);
    CHECK(!c[0].reverse);
    CHECK_INT(c[1].key, IMAP_SORT_SIZE);
    CHECK(c[1].reverse);
    CHECK_INT(crit("(ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO)", c, &n), 0);
    CHECK_INT(n, 9);
    CHECK_INT(c[8].key, IMAP_SORT_DISPLAYTO);
    CHECK_INT(crit("(reverse displayfrom)", c, &n), 0);
    CHECK_INT(c[0].key, IMAP_SORT_DISPLAYFROM);
    CHECK(c[0].reverse);
    static const char *const bad[] = {
        "()", "subject", "(reverse)", "(subject reverse)", "(bogus)", "(reverse reverse date)",
        "((date))", "(\"date\")", "",
        "(date date date date date date date date date date date date date date date date date)",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        CHECK_INT(crit(bad[i], c, &n), IMAP_SEARCH_BAD);
    }
    t_current = "test_criteria";
}

static int sortcmd(const char *text, int esearch)
{
    struct imap_sort_crit c[IMAP_SORT_MAX_CRITERIA];
    size_t n;
    struct imap_search s;
    struct imap_search_params p = {.msg_count = 5, .uid_star = 5, .allow_return = (unsigned)esearch};
    const char *err = NULL;
    targs_free(&ta);
    struct imap_arg *args = targs_parse(&ta, text);
    if (!args)
        return -100;
    int r = imap_sort_parse(args, &p, c, &n, &s, &err);
    if (r == 0) {
        if (!s.root)
            r = -102;
        imap_search_free(&s);
    } else if (r == IMAP_SEARCH_BAD && !err) {
        r = -101;
    }
    return r;
}

static void test_command(void)
{
    CHECK_INT(sortcmd("(subject) us-ascii all", 0), 0);
    CHECK_INT(sortcmd("(arrival reverse size) UTF-8 1:3 seen", 0), 0);
    CHECK_INT(sortcmd("return (min) (arrival) us-ascii 1:5", 1), 0);
    CHECK_INT(sortcmd("return (partial 4:2) (arrival) us-ascii all", 1), 0);
    CHECK_INT(sortcmd("return (partial 1) (arrival) us-ascii all", 1), IMAP_SEARCH_BAD);
    CHECK_INT(sortcmd("return (min) (arrival) us-ascii 1:5", 0), IMAP_SEARCH_BAD);
    CHECK_INT(sortcmd("(arrival) koi8-r all", 0), IMAP_SEARCH_BADCHARSET);
    CHECK_INT(sortcmd("(arrival) all", 0), IMAP_SEARCH_BADCHARSET);
    CHECK_INT(sortcmd("(arrival) utf-8", 0), IMAP_SEARCH_BAD);
    CHECK_INT(sortcmd("(arrival)", 0), IMAP_SEARCH_BAD);
    CHECK_INT(sortcmd("", 0), IMAP_SEARCH_BAD);
    CHECK_INT(sortcmd("(arrival) charset utf-8 all", 0), IMAP_SEARCH_BADCHARSET);
}

static char base[256];
static int reply;

static const char *bs(const char *s)
{
    struct buf b;
    buf_init(&b, sizeof(base) - 1);
    reply = -1;
    if (imap_base_subject(s, strlen(s), &b, &reply) < 0)
        str_copy(base, "ERR", sizeof(base));
    else
        str_copy(base, buf_cstr(&b), sizeof(base));
    buf_free(&b);
    return base;
}

static void test_base_subject(void)
{
    static const struct {
        const char *in, *out;
        int reply;
    } v[] = {
        {"", "", 0},
        {"hello", "hello", 0},
        {"Re: hello", "hello", 1},
        {"RE: Re: re: hello", "hello", 1},
        {"Re:Re:hello", "hello", 1},
        {"Fwd: hello", "hello", 1},
        {"Fw: hello", "hello", 1},
        {"FWD : hello", "hello", 1},
        {"Re[2]: hello", "hello", 1},
        {"re [blob]: x", "x", 1},
        {"[PATCH] hello", "hello", 0},
        {"[PATCH]", "[PATCH]", 0},
        {"[PATCH]   ", "[PATCH]", 0},
        {"[a] [b] x", "x", 0},
        {"[a][b] Re: x", "x", 1},
        {"Re: [list] Re: hello (fwd)", "hello", 1},
        {"hello (fwd)", "hello", 1},
        {"hello(FWD) (fwd)", "hello", 1},
        {"(fwd) x (fwd)", "(fwd) x", 1},
        {"[fwd: hello]", "hello", 1},
        {"[Fwd: Re: hello]", "hello", 1},
        {"[fwd: ]", "", 1},
        {"hello  \t world \r\n", "hello world", 0},
        {"  leading", "leading", 0},
        {"Re:", "", 1},
        {"Reply: x", "Reply: x", 0},
        {"Ad: Re: Ad: x", "Ad: Re: Ad: x", 0},
        {"re: [fwd: [fwd: re: [fwd: babylon]]]", "babylon", 1},
        {"[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b", 1},
        {"Re: [FWD: c]", "c", 1},
        {"Re: [a[b]: x", "[a[b]: x", 1},
        {"Gr\xc3\xbc\xc3\x9f""e", "Gr\xc3\xbc\xc3\x9f""e", 0},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        t_current = v[i].in;
        CHECK_STR(bs(v[i].in), v[i].out);
        CHECK_INT(reply, v[i].reply);
    }
    t_current = "test_base_subject";
    /* The output is appended; a full buffer is an error. */
    struct buf b;
    buf_init(&b, 8);
    buf_puts(&b, "x:");
    CHECK_INT(imap_base_subject("Re: y", 5, &b, NULL), 0);
    CHECK_STR(buf_cstr(&b), "x:y");
    CHECK_INT(imap_base_subject("0123456789", 10, &b, NULL), -1);
    buf_free(&b);
}

/* imaptest sort-subject: subjects decoded by hand (RFC 2047 is lib-mail's). */
static const char *const sort_subjects[] = {
    "a", "C", "b", "_", "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b (a)", "Re: [FWD: c]", "[xyz]",
    "", " ", "Re: b", "RE: C", "Re: c", "Ad: Re: Ad: Re: Ad: x", "re: [fwd: [fwd: re: [fwd: babylon]]]",
};
static char sort_base[15][64];

/* i;unicode-casemap on ASCII: compare the upper-cased (title-cased) text. */
static int casemap_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = *a >= 'a' && *a <= 'z' ? *a - 32 : (unsigned char)*a;
        int y = *b >= 'a' && *b <= 'z' ? *b - 32 : (unsigned char)*b;
        if (x != y || !x)
            return x - y;
    }
}

static int by_base(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    int c = casemap_cmp(sort_base[x], sort_base[y]);
    return c ? c : x - y;
}

static void test_sort_subject_order(void)
{
    int order[15];
    for (int i = 0; i < 15; i++) {
        str_copy(sort_base[i], bs(sort_subjects[i]), sizeof(sort_base[i]));
        order[i] = i;
    }
    qsort(order, 15, sizeof(order[0]), by_base);
    struct buf b;
    buf_init(&b, 200);
    for (int i = 0; i < 15; i++)
        buf_printf(&b, "%s%d", i ? " " : "", order[i] + 1);
    CHECK_STR(buf_cstr(&b), "9 10 1 14 3 5 11 6 15 2 7 12 13 8 4");
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_criteria);
    T_RUN(test_command);
    T_RUN(test_base_subject);
    T_RUN(test_sort_subject_order);
    targs_free(&ta);
    return T_DONE();
}
