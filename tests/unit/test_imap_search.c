/*
 * test_imap_search.c - SEARCH programs (src/lib-imap/imap_search.c): IMAP
 * dates, every key's parse, nesting and limits, CHARSET and BADCHARSET,
 * RETURN options, and evaluation against small in-memory mailboxes with
 * the commands and expected answers of the imaptest search-flags,
 * search-sets, search-size, search-date and search-header scripts
 * (../shared/conformance/imap/imaptest-tests/).
 */
#include "lib-imap/imap_search.h"
#include "lib/buf.h"
#include "imap_testargs.h"
#include "t.h"

#include <string.h>
#include <strings.h>

/* ---- a small mailbox ---- */

#define MAXMSG 20
static struct imap_search_msg box[MAXMSG];
static size_t nbox;
static uint32_t uidnext;
static const char *subjects[MAXMSG], *xextra[MAXMSG];

static int header_cb(void *ctx, const char *field, const char *substr, int addr)
{
    size_t i = (size_t)(uintptr_t)ctx;
    (void)addr;
    const char *v = strcasecmp(field, "Subject") == 0 ? subjects[i]
                  : strcasecmp(field, "X-Extra") == 0 ? xextra[i] : NULL;
    return v && strcasestr(v, substr) != NULL;
}

static int body_cb(void *ctx, const char *substr, int text)
{
    size_t i = (size_t)(uintptr_t)ctx;
    (void)text;
    return subjects[i] && strcasestr("the body text", substr) != NULL;
}

static void box_reset(size_t n)
{
    memset(box, 0, sizeof(box));
    memset(subjects, 0, sizeof(subjects));
    memset(xextra, 0, sizeof(xextra));
    nbox = n;
    for (size_t i = 0; i < n; i++) {
        box[i].seq = (uint32_t)i + 1;
        box[i].uid = (uint32_t)i + 1;
        box[i].ctx = (void *)(uintptr_t)i;
        box[i].header_match = header_cb;
        box[i].body_match = body_cb;
        box[i].now = 2000000000;
    }
    uidnext = (uint32_t)n + 1;
}

static struct targs ta;
static char result[512];
static const char *last_err;

/* Run a SEARCH (or UID SEARCH) and return "1 2 3", "BAD" or "BADCHARSET". */
static const char *search_opts(const char *cmd, int uid, int esearch)
{
    struct imap_search s;
    struct imap_search_params p = {
        .msg_count = (uint32_t)nbox,
        .uid_star = nbox ? box[nbox - 1].uid : uidnext,
        .allow_return = (unsigned)esearch,
        .allow_searchres = 1,
    };
    targs_free(&ta);
    struct imap_arg *args = targs_parse(&ta, cmd);
    if (!args)
        return "TEST-BUG";
    last_err = NULL;
    int r = imap_search_parse(&s, args, &p, &last_err);
    if (r == IMAP_SEARCH_BADCHARSET)
        return "BADCHARSET";
    if (r < 0)
        return last_err ? "BAD" : "BAD-without-reason";
    struct buf b;
    buf_init(&b, sizeof(result) - 1);
    for (size_t i = 0; i < nbox; i++)
        if (imap_search_match(s.root, &box[i]))
            buf_printf(&b, "%s%u", b.len ? " " : "", uid ? box[i].uid : box[i].seq);
    str_copy(result, buf_cstr(&b), sizeof(result));
    buf_free(&b);
    imap_search_free(&s);
    return result;
}

static const char *search(const char *cmd)
{
    return search_opts(cmd, 0, 1);
}

/* ---- dates ---- */

static void test_dates(void)
{
    int32_t d = 0;
    CHECK_INT(imap_date_parse("1-Jan-1970", 10, &d), 0);
    CHECK_INT(d, 0);
    CHECK_INT(imap_date_parse("01-jan-1970", 11, &d), 0);
    CHECK_INT(d, 0);
    CHECK_INT(imap_date_parse("1-Feb-2024", 10, &d), 0);
    CHECK_INT(d, 19754);
    CHECK_INT(imap_date_parse("29-FEB-2024", 11, &d), 0);
    CHECK_INT(d, 19782);
    CHECK_INT(imap_date_parse("31-Dec-1969", 11, &d), 0);
    CHECK_INT(d, -1);
    CHECK_INT(imap_date_parse("29-Feb-2000", 11, &d), 0);
    CHECK_INT(imap_date_parse("24-mar-2007", 11, &d), 0);
    CHECK_INT(d, 13596);
    static const char *const bad[] = {
        "", "1-Jan-70", "1-Jan-19700", "0-Jan-2024", "32-Jan-2024", "29-Feb-2023", "29-Feb-1900",
        "31-Apr-2024", "1-Jam-2024", "1 Jan 2024", "001-Jan-2024", "1-January-2024", "1-Jan-2O24",
        "-Jan-2024", "1-Jan-", "x1-Jan-2024", "1--Jan-2024",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        CHECK_INT(imap_date_parse(bad[i], strlen(bad[i]), &d), -1);
    }
    t_current = "test_dates";
    CHECK_INT(imap_days_from_civil(2000, 3, 1), 11017);
    CHECK_INT(imap_days_from_civil(1, 1, 1), -719162);
}

/* ---- imaptest search-flags ---- */

static void test_flags(void)
{
    box_reset(5);
    static const char *const kw13[] = {"$$hello", NULL};
    for (size_t i = 0; i < 5; i++)
        box[i].flags = IMAP_SF_RECENT;
    box[0].keywords = kw13;
    box[1].flags |= IMAP_SF_SEEN | IMAP_SF_FLAGGED;
    box[2].flags |= IMAP_SF_ANSWERED;
    box[2].keywords = kw13;
    box[3].flags |= IMAP_SF_FLAGGED | IMAP_SF_DRAFT;
    box[4].flags |= IMAP_SF_DELETED | IMAP_SF_ANSWERED;
    static const char *const cases[][2] = {
        {"answered", "3 5"}, {"unanswered", "1 2 4"}, {"deleted", "5"}, {"undeleted", "1 2 3 4"},
        {"draft", "4"}, {"undraft", "1 2 3 5"}, {"flagged", "2 4"}, {"unflagged", "1 3 5"},
        {"seen", "2"}, {"unseen", "1 3 4 5"}, {"keyword $$hello", "1 3"},
        {"unkeyword $$hello", "2 4 5"}, {"new", "1 3 4 5"}, {"old", ""}, {"recent", "1 2 3 4 5"},
        {"KEYWORD $$HELLO", "1 3"}, {"all", "1 2 3 4 5"}, {"not new", "2"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_current = cases[i][0];
        CHECK_STR(search(cases[i][0]), cases[i][1]);
    }
    /* store 1:* flags (\seen); store 2 +flags (\flagged) */
    for (size_t i = 0; i < 5; i++)
        box[i].flags = IMAP_SF_RECENT | IMAP_SF_SEEN;
    box[1].flags |= IMAP_SF_FLAGGED;
    static const char *const cases2[][2] = {
        {"seen flagged", "2"}, {"seen not flagged", "1 3 4 5"}, {"not seen flagged", ""},
        {"not seen not flagged", ""}, {"or seen flagged", "1 2 3 4 5"},
        {"or not seen flagged", "2"}, {"not (seen flagged)", "1 3 4 5"},
        {"not not flagged", "2"},
    };
    for (size_t i = 0; i < sizeof(cases2) / sizeof(cases2[0]); i++) {
        t_current = cases2[i][0];
        CHECK_STR(search(cases2[i][0]), cases2[i][1]);
    }
    t_current = "test_flags";
}

/* ---- imaptest search-sets: 6 messages, the 2nd expunged ---- */

static void test_sets(void)
{
    box_reset(5);
    static const uint32_t uids[] = {1, 3, 4, 5, 6};
    for (size_t i = 0; i < 5; i++)
        box[i].uid = uids[i];
    uidnext = 7;
    static const char *const cases[][2] = {
        {"all", "1 2 3 4 5"}, {"1:3,5", "1 2 3 5"}, {"4:2", "2 3 4"},
        {"uid 1:3,5", "1 2 4"},             /* uid $uid1:$uid3,$uid5 */
        {"uid 4:2", "2 3"},                 /* uid $uid4:$uid2 (uid2 expunged) */
        {"1:3 not uid 3", "1 3"}, {"not 2,4", "1 3 5"}, {"or 1 uid 3", "1 2"},
        {"*", "5"}, {"uid *", "5"}, {"uid 7:*", "5"}, {"*:3", "3 4 5"}, {"1,4,*", "1 4 5"},
        {"(3) uid 4", "3"}, {"(uid 4) 3", "3"}, {"3 (uid 4)", "3"},
        {"1000", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_current = cases[i][0];
        CHECK_STR(search(cases[i][0]), cases[i][1]);
    }
    t_current = "uid search";
    CHECK_STR(search_opts("uid 1:4294967295", 1, 0), "1 3 4 5 6");
    CHECK_STR(search_opts("uid 7:4294967295", 1, 0), "");
    CHECK_STR(search_opts("all", 1, 0), "1 3 4 5 6");
    /* An empty mailbox: `*` of UIDs is UIDNEXT, and nothing matches. */
    box_reset(0);
    uidnext = 10;
    CHECK_STR(search_opts("uid 1:*", 1, 0), "");
    CHECK_STR(search("1:*"), "");
    t_current = "test_sets";
}

/* ---- imaptest search-size ---- */

static void test_size(void)
{
    box_reset(4);
    static const uint64_t sizes[] = {100, 200, 300, 400};
    for (size_t i = 0; i < 4; i++)
        box[i].size = sizes[i];
    static const char *const cases[][2] = {
        {"smaller 300", "1 2"}, {"larger 300", "4"}, {"not smaller 300", "3 4"},
        {"not larger 300", "1 2 3"}, {"not smaller 300 not larger 300", "3"},
        {"or smaller 300 larger 300", "1 2 4"}, {"larger 0", "1 2 3 4"},
        {"smaller 9223372036854775807", "1 2 3 4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_current = cases[i][0];
        CHECK_STR(search(cases[i][0]), cases[i][1]);
    }
    t_current = "test_size";
}

/* ---- imaptest search-date (sent dates cut to their own day) ---- */

static void test_date_keys(void)
{
    box_reset(7);
    /* Messages 1: 24-Mar, 2-6: 25-Mar, 7: 26-Mar-2007. */
    int32_t d24;
    imap_date_parse("24-Mar-2007", 11, &d24);
    static const int off[] = {0, 1, 1, 1, 1, 1, 2};
    for (size_t i = 0; i < 7; i++) {
        box[i].sent_day = d24 + off[i];
        box[i].have_sent_day = 1;
        box[i].internal_day = d24 + off[i];
    }
    static const char *const cases[][2] = {
        {"sentbefore 24-mar-2007", ""}, {"sentbefore 25-mar-2007", "1"},
        {"sentbefore 26-mar-2007", "1 2 3 4 5 6"}, {"sentbefore 27-mar-2007", "1 2 3 4 5 6 7"},
        {"senton 23-mar-2007", ""}, {"senton 24-mar-2007", "1"}, {"senton 25-mar-2007", "2 3 4 5 6"},
        {"senton 26-mar-2007", "7"}, {"1:7 sentsince 24-mar-2007", "1 2 3 4 5 6 7"},
        {"1:7 sentsince 25-mar-2007", "2 3 4 5 6 7"}, {"1:7 sentsince 26-mar-2007", "7"},
        {"1:7 sentsince 27-mar-2007", ""},
        {"before 25-mar-2007", "1"}, {"on \"25-mar-2007\"", "2 3 4 5 6"}, {"since 26-Mar-2007", "7"},
        {"savedon 25-mar-2007", ""}, {"savedatesupported", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_current = cases[i][0];
        CHECK_STR(search(cases[i][0]), cases[i][1]);
    }
    box[0].have_save_day = 1;
    box[0].save_day = d24 + 1;
    CHECK_STR(search("savedon 25-mar-2007"), "1");
    CHECK_STR(search("savedbefore 25-mar-2007"), "");
    CHECK_STR(search("savedsince 25-mar-2007"), "1");
    CHECK_STR(search("savedatesupported"), "1");
    /* OLDER / YOUNGER against now. */
    for (size_t i = 0; i < 7; i++)
        box[i].internal_time = box[i].now - (int64_t)i * 100;
    CHECK_STR(search("older 250"), "4 5 6 7");
    CHECK_STR(search("younger 250"), "1 2 3");
    CHECK_STR(search("younger 9223372036854775807"), "1 2 3 4 5 6 7");
    CHECK_STR(search("older 0"), "BAD");
    t_current = "test_date_keys";
}

/* ---- imaptest search-header (evaluated through the callback) ---- */

static void test_header_keys(void)
{
    box_reset(2);
    subjects[0] = "hello beautiful world";
    xextra[1] = "hello beautiful header, another";
    static const char *const cases[][2] = {
        {"subject hello", "1"}, {"subject \"hello beautiful world\"", "1"},
        {"subject \"eautiful worl\"", "1"}, {"header subject \"\"", "1"},
        {"not header subject \"\"", "2"}, {"header x-extra \"\"", "2"},
        {"not header x-extra \"\"", "1"}, {"header x-extra hello", "2"},
        {"header x-extra \"eautiful head\"", "2"}, {"header x-extra {7}another", "2"},
        {"body body", "1"}, {"text \"body text\"", "1"}, {"body nothing", ""},
        {"from x", ""}, {"to x", ""}, {"cc x", ""}, {"bcc x", ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_current = cases[i][0];
        CHECK_STR(search(cases[i][0]), cases[i][1]);
    }
    t_current = "test_header_keys";
}

/* ---- parse structure ---- */

static struct imap_search ps;

static int parse(const char *cmd, int esearch)
{
    struct imap_search_params p = {.msg_count = 10, .uid_star = 20, .allow_return = (unsigned)esearch,
                                   .allow_searchres = 1};
    imap_search_free(&ps);
    targs_free(&ta);
    struct imap_arg *args = targs_parse(&ta, cmd);
    if (!args)
        return -100;
    last_err = NULL;
    return imap_search_parse(&ps, args, &p, &last_err);
}

static void test_tree(void)
{
    CHECK_INT(parse("FROM alice SUBJECT \"x y\"", 0), 0);
    struct imap_search_key *k = ps.root->child;
    CHECK_INT(ps.root->type, IMAP_SK_AND);
    CHECK_INT(k->type, IMAP_SK_HEADER);
    CHECK_STR(k->str, "From");
    CHECK_STR(k->str2, "alice");
    CHECK(k->addr);
    CHECK_INT(k->next->type, IMAP_SK_HEADER);
    CHECK(!k->next->addr);
    CHECK_STR(k->next->str2, "x y");
    CHECK(!ps.esearch);

    CHECK_INT(parse("OR (SEEN FLAGGED) NOT UID 5:*", 0), 0);
    k = ps.root->child;
    CHECK_INT(k->type, IMAP_SK_OR);
    CHECK_INT(k->child->type, IMAP_SK_AND);
    CHECK_INT(k->child->child->type, IMAP_SK_FLAG);
    CHECK_INT(k->child->child->next->flag, IMAP_SF_FLAGGED);
    CHECK_INT(k->child->next->type, IMAP_SK_AND);
    CHECK(k->child->next->not);
    CHECK_INT(k->child->next->child->type, IMAP_SK_UIDSET);
    CHECK_INT(imap_seqset_max(&k->child->next->child->set), 20);

    CHECK_INT(parse("MODSEQ \"/flags/\\\\seen\" all 620162338", 0), 0);
    k = ps.root->child;
    CHECK_INT(k->type, IMAP_SK_MODSEQ);
    CHECK_STR(k->str, "/flags/\\seen");
    CHECK_INT(k->entry_type, IMAP_MODSEQ_ALL);
    CHECK_INT(k->num, 620162338);
    CHECK(ps.uses_modseq);
    CHECK_INT(parse("MODSEQ 0", 0), 0);
    CHECK_INT(ps.root->child->entry_type, IMAP_MODSEQ_ENTRY_NONE);

    CHECK_INT(parse("$", 0), 0);
    CHECK(ps.uses_searchres);
    CHECK(ps.root->child->set.searchres);
    CHECK_INT(parse("UID $ EMAILID M123 THREADID T9", 0), 0);
    CHECK(ps.uses_searchres);
    CHECK_STR(ps.root->child->next->str, "M123");

    CHECK_INT(parse("KEYWORD $Forwarded UNKEYWORD $Junk", 0), 0);
    CHECK_INT(ps.root->child->type, IMAP_SK_KEYWORD);
    CHECK(ps.root->child->next->not);
    CHECK_INT(ps.nkeys, 3);
}

static void test_charset_return(void)
{
    CHECK_INT(parse("CHARSET UTF-8 ALL", 0), 0);
    CHECK_INT(parse("charset us-ascii ALL", 0), 0);
    CHECK_INT(parse("CHARSET \"utf-8\" ALL", 0), 0);
    CHECK_INT(parse("CHARSET ISO-8859-1 ALL", 0), IMAP_SEARCH_BADCHARSET);
    CHECK_INT(parse("CHARSET", 0), IMAP_SEARCH_BAD);
    CHECK_INT(parse("CHARSET UTF-8", 0), IMAP_SEARCH_BAD);
    CHECK_INT(parse("CHARSET (UTF-8) ALL", 0), IMAP_SEARCH_BAD);

    CHECK_INT(parse("RETURN (MIN MAX) ALL", 1), 0);
    CHECK(ps.esearch);
    CHECK_INT(ps.ret, IMAP_SR_MIN | IMAP_SR_MAX);
    CHECK_INT(parse("RETURN () ALL", 1), 0);
    CHECK_INT(ps.ret, IMAP_SR_ALL);
    CHECK_INT(parse("RETURN (COUNT SAVE ALL) CHARSET UTF-8 1:3", 1), 0);
    CHECK_INT(ps.ret, IMAP_SR_COUNT | IMAP_SR_SAVE | IMAP_SR_ALL);
    CHECK_INT(parse("RETURN (MIN) ALL", 0), IMAP_SEARCH_BAD);
    CHECK_INT(parse("RETURN (BOGUS) ALL", 1), IMAP_SEARCH_BAD);
    CHECK_INT(parse("RETURN MIN ALL", 1), IMAP_SEARCH_BAD);
    CHECK_INT(parse("RETURN (MIN)", 1), IMAP_SEARCH_BAD);
    CHECK_INT(parse("RETURN (MIN) CHARSET BOGUS ALL", 1), IMAP_SEARCH_BADCHARSET);
    CHECK_INT(parse("CHARSET UTF-8 RETURN (MIN) ALL", 1), IMAP_SEARCH_BAD);

    /* PARTIAL (RFC 9394), with the imaptest search-partial cases. */
    CHECK_INT(parse("RETURN (PARTIAL 1:1) ALL", 1), 0);
    CHECK_INT(ps.ret, IMAP_SR_PARTIAL);
    CHECK_INT(ps.partial_lo, 1);
    CHECK_INT(ps.partial_hi, 1);
    CHECK_INT(parse("RETURN (PARTIAL 4:2) ALL", 1), 0);
    CHECK_INT(ps.partial_lo, 2);
    CHECK_INT(ps.partial_hi, 4);
    CHECK_INT(parse("RETURN (PARTIAL -1:-100 COUNT) ALL", 1), 0);
    CHECK_INT(ps.partial_lo, -1);
    CHECK_INT(ps.partial_hi, -100);
    CHECK_INT(ps.ret, IMAP_SR_PARTIAL | IMAP_SR_COUNT);
    CHECK_INT(parse("RETURN (PARTIAL -100:-1) ALL", 1), 0);
    CHECK_INT(ps.partial_lo, -1);
    static const char *const badp[] = {
        "RETURN (PARTIAL 1) ALL", "RETURN (PARTIAL 1:*) ALL", "RETURN (PARTIAL *:1) ALL",
        "RETURN (PARTIAL 0:5) ALL", "RETURN (PARTIAL 1:-5) ALL", "RETURN (PARTIAL) ALL",
        "RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL", "RETURN (PARTIAL 1:4294967296) ALL",
        "RETURN (PARTIAL :1) ALL", "RETURN (PARTIAL --1:-2) ALL",
    };
    for (size_t i = 0; i < sizeof(badp) / sizeof(badp[0]); i++) {
        t_current = badp[i];
        CHECK_INT(parse(badp[i], 1), IMAP_SEARCH_BAD);
    }
    t_current = "test_charset_return";
}

static void test_errors(void)
{
    static const char *const bad[] = {
        "", "BOGUS", "()", "NOT", "OR SEEN", "OR", "FROM", "HEADER", "HEADER subject",
        "HEADER \"\" x", "HEADER a:b x", "BEFORE", "BEFORE 1-Foo-2024", "BEFORE (1-Jan-2024)",
        "LARGER", "LARGER x", "LARGER -1", "LARGER 99999999999999999999", "SMALLER 1x",
        "OLDER 0", "YOUNGER", "UID", "UID x", "UID 0", "1:0", "0", "1,,2", "KEYWORD",
        "KEYWORD (a)", "SUBJECT (a)", "MODSEQ", "MODSEQ x", "MODSEQ \"/flags/x\" bogus 5",
        "MODSEQ \"/flags/x\" all", "MODSEQ \"\" all 5", "SEEN (", "\"SEEN\"", "(SEEN) )",
        "EMAILID", "UID 1 2 BOGUS",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        int r = parse(bad[i], 1);
        CHECK(r == IMAP_SEARCH_BAD || r == -100);
        if (r == IMAP_SEARCH_BAD)
            CHECK(last_err != NULL);
        CHECK(ps.root == NULL);
    }
    /* `$` without SEARCHRES. */
    struct imap_search_params p = {.msg_count = 10, .uid_star = 20};
    targs_free(&ta);
    struct imap_arg *args = targs_parse(&ta, "$");
    CHECK_INT(imap_search_parse(&ps, args, &p, &last_err), IMAP_SEARCH_BAD);
    args = targs_parse(&ta, "RETURN (SAVE) ALL");
    p.allow_return = 1;
    CHECK_INT(imap_search_parse(&ps, args, &p, &last_err), IMAP_SEARCH_BAD);
    t_current = "test_errors";
}

/*
 * Every SEARCH command of the imaptest scripts (variables replaced by
 * plausible values): "ok" ones parse, "bad" ones and RETURN (UPDATE) of
 * CONTEXT=SEARCH (not advertised) are BAD.
 */
static void test_imaptest_commands(void)
{
    static const struct {
        const char *cmd;
        int bad;
    } v[] = {
        {"return (partial *:1) all", 1},
        {"return (partial 1) all", 1},
        {"return (partial 1:*) all", 1},
        {"(3) uid 4", 0},
        {"(uid 4) 3", 0},
        {"*", 0},
        {"*:3", 0},
        {"1,4,*", 0},
        {"1:3 not uid 3", 0},
        {"1:3,5", 0},
        {"1:7 not sentbefore 26-mar-2007", 0},
        {"1:7 not senton 25-mar-2007", 0},
        {"1:7 sentsince 24-mar-2007", 0},
        {"1:7 sentsince 25-mar-2007", 0},
        {"1:7 sentsince 26-mar-2007", 0},
        {"1:7 sentsince 27-mar-2007", 0},
        {"3 (uid 4)", 0},
        {"4:2", 0},
        {"8:* not senton 28-oct-2007", 0},
        {"8:* not sentsince 28-oct-2007", 0},
        {"8:* sentbefore 27-oct-2007", 0},
        {"8:* sentbefore 28-oct-2007", 0},
        {"8:* sentbefore 29-oct-2007", 0},
        {"8:* sentbefore 30-oct-2007", 0},
        {"8:* senton 26-oct-2007", 0},
        {"8:* senton 27-oct-2007", 0},
        {"8:* senton 28-oct-2007", 0},
        {"8:* senton 29-oct-2007", 0},
        {"8:* sentsince 27-oct-2007", 0},
        {"8:* sentsince 28-oct-2007", 0},
        {"8:* sentsince 29-oct-2007", 0},
        {"8:* sentsince 30-oct-2007", 0},
        {"all", 0},
        {"answered", 0},
        {"bcc ealbc", 0},
        {"bcc realbcc", 0},
        {"bcc ser-bc", 0},
        {"bcc user-bcc@domain.org", 0},
        {"body asdfghjkl", 0},
        {"body nil", 0},
        {"body qwertyuiop", 0},
        {"body sdfghjk", 0},
        {"body wertyuio", 0},
        {"body xcvbn", 0},
        {"body zxcvbnm", 0},
        {"cc ealc", 0},
        {"cc realcc", 0},
        {"cc ser-c", 0},
        {"cc user-cc@domain.org", 0},
        {"deleted", 0},
        {"deleted flagged", 0},
        {"deleted not flagged", 0},
        {"draft", 0},
        {"flagged", 0},
        {"from ealfro", 0},
        {"from realfrom", 0},
        {"from ser-fro", 0},
        {"from user-from1", 0},
        {"from user-from2", 0},
        {"from user-from@domain.org", 0},
        {"header bcc \"\"", 0},
        {"header cc \"\"", 0},
        {"header from \"\"", 0},
        {"header subject \"\"", 0},
        {"header to \"\"", 0},
        {"header x-extra \"\"", 0},
        {"header x-extra \"another\"", 0},
        {"header x-extra \"eautiful head\"", 0},
        {"header x-extra \"hello beautiful\"", 0},
        {"header x-extra hello", 0},
        {"keyword $$hello", 0},
        {"larger 100", 0},
        {"new", 0},
        {"not 2,4", 0},
        {"not deleted flagged", 0},
        {"not deleted not flagged", 0},
        {"not header subject \"\"", 0},
        {"not header x-extra \"\"", 0},
        {"not larger 100", 0},
        {"not seen deleted flagged", 0},
        {"not seen deleted not flagged", 0},
        {"not seen flagged", 0},
        {"not seen not deleted flagged", 0},
        {"not seen not deleted not flagged", 0},
        {"not seen not flagged", 0},
        {"not smaller 100", 0},
        {"not smaller 100 not larger 100", 0},
        {"old", 0},
        {"or 1 uid 3", 0},
        {"or smaller 100 larger 100", 0},
        {"recent", 0},
        {"return () 1000", 0},
        {"return () 1:3 modseq \"/flags/\\\\seen\" all 1", 0},
        {"return () all", 0},
        {"return (all) 2:3 modseq \"/flags/\\\\seen\" all 5", 0},
        {"return (all) 2:3 modseq \"/flags/\\\\seen\" all 5", 0},
        {"return (all) 2:3 modseq \"/flags/\\\\seen\" all 5", 0},
        {"return (all) all", 0},
        {"return (count) 1000", 0},
        {"return (count) all", 0},
        {"return (max) 1000", 0},
        {"return (max) 1:3 modseq \"/flags/\\\\seen\" all 1", 0},
        {"return (max) all", 0},
        {"return (min max) 2:3 modseq \"/flags/\\\\seen\" all 1", 0},
        {"return (min) 1000", 0},
        {"return (min) 1:3 modseq \"/flags/\\\\seen\" all 1", 0},
        {"return (min) all", 0},
        {"return (partial 1:1) all", 0},
        {"return (partial 1:3) 1:2,4:5", 0},
        {"return (partial 1:6) all", 0},
        {"return (partial 2:10) 1:2,4:5", 0},
        {"return (partial 2:3) 1:2,4:5", 0},
        {"return (partial 2:4) 1:2,4:5", 0},
        {"return (partial 2:4) all", 0},
        {"return (partial 4:2) all", 0},
        {"return (partial 6:6) all", 0},
        {"return (update all) or seen subject s22", 1},
        {"return (update) body body seen", 1},
        {"seen", 0},
        {"seen deleted flagged", 0},
        {"seen deleted not flagged", 0},
        {"seen flagged", 0},
        {"seen not deleted flagged", 0},
        {"seen not deleted not flagged", 0},
        {"seen not flagged", 0},
        {"sentbefore 24-mar-2007", 0},
        {"sentbefore 25-mar-2007", 0},
        {"sentbefore 26-mar-2007", 0},
        {"sentbefore 27-mar-2007", 0},
        {"senton 23-mar-2007", 0},
        {"senton 24-mar-2007", 0},
        {"senton 25-mar-2007", 0},
        {"senton 26-mar-2007", 0},
        {"smaller 100", 0},
        {"subject \"\"", 0},
        {"subject \"eautiful worl\"", 0},
        {"subject \"hello beautiful world\"", 0},
        {"subject \"hello beautiful\"", 0},
        {"subject NIL", 0},
        {"subject beautiful", 0},
        {"subject hello", 0},
        {"subject world", 0},
        {"text asdfghjkl", 0},
        {"text qwertyuiop", 0},
        {"text sdfghjk", 0},
        {"text wertyuio", 0},
        {"text xcvbn", 0},
        {"text zxcvbnm", 0},
        {"to ealt", 0},
        {"to groupname", 0},
        {"to groupname2", 0},
        {"to groupuser1", 0},
        {"to groupuser2", 0},
        {"to groupuser3", 0},
        {"to groupuser4", 0},
        {"to realto", 0},
        {"to ser-t", 0},
        {"to user-to@domain.org", 0},
        {"uid 1:3,5", 0},
        {"uid 4:2", 0},
        {"uid 7:*", 0},
        {"uid *", 0},
        {"unanswered", 0},
        {"undeleted", 0},
        {"undraft", 0},
        {"unflagged", 0},
        {"unkeyword $$hello", 0},
        {"unseen", 0},
        {"all", 0},
        {"return () 1000", 0},
        {"return () all", 0},
        {"return () seen", 0},
        {"return (all) all", 0},
        {"return (all) seen", 0},
        {"return (count) 1000", 0},
        {"return (count) all", 0},
        {"return (count) seen", 0},
        {"return (max) 1000", 0},
        {"return (max) all", 0},
        {"return (max) seen", 0},
        {"return (min) 1000", 0},
        {"return (min) all", 0},
        {"return (min) seen", 0},
        {"return (partial 1:1) all", 0},
        {"return (partial 2:2) all", 0},
        {"return (partial 5:10) all", 0},
        {"return (update all) or seen subject s33", 1},
        {"uid 7:4294967295", 0},
        {"uid 1:4294967295", 0},

    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        t_current = v[i].cmd;
        CHECK_INT(parse(v[i].cmd, 1), v[i].bad ? IMAP_SEARCH_BAD : 0);
    }
    t_current = "test_imaptest_commands";
}

/* The ESEARCH line for RETURN options, with the imaptest esearch, esearch-condstore
 * and search-partial expectations. */
static const char *esearch(const char *ret, int uid, const uint32_t *nums, size_t n, uint64_t modseq)
{
    char cmd[128];
    str_fmt(cmd, sizeof(cmd), "RETURN %s ALL", ret);
    if (parse(cmd, 1) != 0)
        return "PARSE-ERROR";
    struct buf b;
    buf_init(&b, sizeof(result) - 1);
    int r = imap_search_write_esearch(&b, "A1", uid, &ps, nums, n, modseq);
    str_copy(result, r < 0 ? "ERR" : buf_cstr(&b), sizeof(result));
    buf_free(&b);
    return result;
}

static void test_esearch_reply(void)
{
    static const uint32_t all6[] = {1, 2, 3, 4, 5, 6};
    static const uint32_t some[] = {1, 2, 4, 5};
    static const uint32_t uids[] = {10, 11, 12, 20, 21, 22};
    CHECK_STR(esearch("(ALL)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") ALL 1:6");
    CHECK_STR(esearch("()", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") ALL 1:6");
    CHECK_STR(esearch("(MIN)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") MIN 1");
    CHECK_STR(esearch("(MAX)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") MAX 6");
    CHECK_STR(esearch("(COUNT)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") COUNT 6");
    CHECK_STR(esearch("(ALL)", 1, uids, 6, 0), "* ESEARCH (TAG \"A1\") UID ALL 10:12,20:22");
    /* Nothing matched: MIN/MAX/ALL left out, COUNT 0. */
    CHECK_STR(esearch("()", 0, NULL, 0, 0), "* ESEARCH (TAG \"A1\")");
    CHECK_STR(esearch("(MIN)", 0, NULL, 0, 0), "* ESEARCH (TAG \"A1\")");
    CHECK_STR(esearch("(COUNT)", 1, NULL, 0, 0), "* ESEARCH (TAG \"A1\") UID COUNT 0");
    /* CONDSTORE. */
    CHECK_STR(esearch("(MIN MAX)", 0, all6 + 1, 2, 77), "* ESEARCH (TAG \"A1\") MIN 2 MAX 3 MODSEQ 77");
    CHECK_STR(esearch("(MIN MAX COUNT ALL)", 0, some, 4, 0),
              "* ESEARCH (TAG \"A1\") MIN 1 MAX 5 ALL 1:2,4:5 COUNT 4");
    /* PARTIAL. */
    CHECK_STR(esearch("(PARTIAL 1:1)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") PARTIAL (1:1 1)");
    CHECK_STR(esearch("(PARTIAL 4:2)", 0, all6, 6, 0), "* ESEARCH (TAG \"A1\") PARTIAL (2:4 2:4)");
    CHECK_STR(esearch("(PARTIAL 1:6)", 0, all6 + 1, 5, 0), "* ESEARCH (TAG \"A1\") PARTIAL (1:6 2:6)");
    CHECK_STR(esearch("(PARTIAL 6:6)", 0, all6, 5, 0), "* ESEARCH (TAG \"A1\") PARTIAL (6:6 NIL)");
    CHECK_STR(esearch("(PARTIAL 1:3)", 0, some, 4, 0), "* ESEARCH (TAG \"A1\") PARTIAL (1:3 1:2,4)");
    CHECK_STR(esearch("(PARTIAL 2:3)", 0, some, 4, 0), "* ESEARCH (TAG \"A1\") PARTIAL (2:3 2,4)");
    CHECK_STR(esearch("(PARTIAL 2:10)", 0, some, 4, 0), "* ESEARCH (TAG \"A1\") PARTIAL (2:10 2,4:5)");
    CHECK_STR(esearch("(PARTIAL -1:-2)", 1, uids, 6, 0), "* ESEARCH (TAG \"A1\") UID PARTIAL (-1:-2 21:22)");
    CHECK_STR(esearch("(PARTIAL -5:-10)", 0, some, 4, 0), "* ESEARCH (TAG \"A1\") PARTIAL (-5:-10 NIL)");
    CHECK_STR(esearch("(PARTIAL -4:-10)", 0, some, 4, 0), "* ESEARCH (TAG \"A1\") PARTIAL (-4:-10 1)");
    CHECK_STR(esearch("(PARTIAL 1:2)", 0, NULL, 0, 0), "* ESEARCH (TAG \"A1\") PARTIAL (1:2 NIL)");
    /* Without a tag (unsolicited), and a full buffer. */
    CHECK_INT(parse("RETURN (COUNT) ALL", 1), 0);
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(imap_search_write_esearch(&b, NULL, 0, &ps, all6, 6, 0), 0);
    CHECK_STR(buf_cstr(&b), "* ESEARCH COUNT 6");
    buf_free(&b);
    buf_init(&b, 12);
    CHECK_INT(imap_search_write_esearch(&b, "A1", 0, &ps, all6, 6, 0), -1);
    buf_free(&b);
}

static void test_limits(void)
{
    struct buf b;
    buf_init(&b, 0);
    /* NOT NOT ... SEEN at the depth limit and beyond it. */
    for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH; i++)
        buf_puts(&b, "NOT ");
    buf_puts(&b, "SEEN");
    CHECK_INT(parse(b.data, 0), 0);
    buf_reset(&b);
    for (int i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
        buf_puts(&b, "NOT ");
    buf_puts(&b, "SEEN");
    CHECK_INT(parse(b.data, 0), IMAP_SEARCH_BAD);
    CHECK_STR(last_err, "Search program nested too deeply");
    /* OR chains and nested groups hit the same limit. */
    buf_reset(&b);
    for (int i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
        buf_puts(&b, "OR SEEN ");
    buf_puts(&b, "SEEN");
    CHECK_INT(parse(b.data, 0), IMAP_SEARCH_BAD);
    buf_reset(&b);
    for (int i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
        buf_putc(&b, '(');
    buf_puts(&b, "SEEN");
    for (int i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
        buf_putc(&b, ')');
    CHECK_INT(parse(b.data, 0), IMAP_SEARCH_BAD);
    /* Number of keys. */
    buf_reset(&b);
    for (int i = 0; i < IMAP_SEARCH_MAX_KEYS; i++)
        buf_puts(&b, "SEEN ");
    CHECK_INT(parse(b.data, 0), IMAP_SEARCH_BAD);
    CHECK_STR(last_err, "Too many search keys");
    buf_reset(&b);
    for (int i = 0; i < IMAP_SEARCH_MAX_KEYS - 1; i++)
        buf_puts(&b, "SEEN ");
    CHECK_INT(parse(b.data, 0), 0);
    /* A large sequence set is one key. */
    buf_reset(&b);
    for (uint32_t i = 1; i <= 100000; i++)
        buf_printf(&b, "%s%u", i > 1 ? "," : "", i * 2);
    CHECK_INT(parse(b.data, 0), 0);
    CHECK_INT(ps.nkeys, 2);
    CHECK_INT(ps.root->child->set.count, 100000);
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_dates);
    T_RUN(test_flags);
    T_RUN(test_sets);
    T_RUN(test_size);
    T_RUN(test_date_keys);
    T_RUN(test_header_keys);
    T_RUN(test_tree);
    T_RUN(test_charset_return);
    T_RUN(test_errors);
    T_RUN(test_imaptest_commands);
    T_RUN(test_esearch_reply);
    T_RUN(test_limits);
    imap_search_free(&ps);
    targs_free(&ta);
    return T_DONE();
}
