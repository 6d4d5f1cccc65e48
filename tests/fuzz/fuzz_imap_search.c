/*
 * fuzz_imap_search.c - the lib-imap pieces that read client arguments:
 * imap_seqset_parse / _contains / _write / iteration
 * (src/lib-imap/imap_seqset.c), imap_search_parse and imap_search_match
 * and imap_search_write_esearch (imap_search.c), imap_fetch_parse (imap_fetch_items.c),
 * imap_date_parse, imap_sort_parse and imap_base_subject (imap_sort.c).
 *
 * Input: byte 0 picks the mode (low 2 bits: 0 sequence set, 1 search,
 * 2 fetch, 3 date; with 0x10 set, 1 is SORT and 3 the base subject) and
 * flags (0x04 allow `$`, 0x08 allow RETURN); bytes
 * 1-2 are the message count and bytes 3-4 the `*` UID (little endian);
 * the rest is the text. For search and fetch the text is turned into an
 * argument tree by tests/unit/imap_testargs.h (atoms, "quoted", {N}
 * literals, ( ) lists, bracketed atoms), standing in for the command
 * parser.
 *
 * Invariants beyond "no crash":
 *  - a parsed sequence set is sorted, disjoint and not adjacent, every
 *    range within 1..2^32-1; writing it and parsing the text again gives
 *    the same ranges; membership agrees with the ranges at and around
 *    each boundary; iteration yields the members in order (bounded);
 *    `$` only when allowed, and then no ranges;
 *  - search: success leaves a root AND with at most IMAP_SEARCH_MAX_KEYS
 *    keys; failure leaves no tree and gives a reason (BAD) or is
 *    BADCHARSET; evaluating against a few messages never crashes, and
 *    flipping the root's NOT flips every answer; the ESEARCH line for the
 *    matches is written (imap_search_write_esearch) as one line;
 *  - fetch: success gives bodies with a reply name, at most
 *    IMAP_FETCH_MAX_DEPTH parts each >= 1, a length >= 1 for partials;
 *    failure gives a reason and an empty result;
 *  - a parsed date has the date-text length and lies in years 0000-9999;
 *  - SORT: at most IMAP_SORT_MAX_CRITERIA criteria and a search tree on
 *    success, no tree on failure;
 *  - base subject: never longer than the input, no leading or trailing
 *    space, no tab/CR/LF, and taking the base subject of it again changes
 *    nothing.
 * max_len: 2048
 */
#include "fuzz.h"
#include "lib-imap/imap_fetch_items.h"
#include "lib-imap/imap_search.h"
#include "lib-imap/imap_seqset.h"
#include "lib-imap/imap_sort.h"
#include "../unit/imap_testargs.h"

static void check_set(const struct imap_seqset *set)
{
    for (size_t i = 0; i < set->count; i++) {
        FUZZ_ASSERT(set->r[i].lo >= 1 && set->r[i].lo <= set->r[i].hi);
        if (i)
            FUZZ_ASSERT((uint64_t)set->r[i - 1].hi + 1 < set->r[i].lo);
        uint32_t lo = set->r[i].lo, hi = set->r[i].hi;
        FUZZ_ASSERT(imap_seqset_contains(set, lo) && imap_seqset_contains(set, hi));
        if (lo > 1)
            FUZZ_ASSERT(!imap_seqset_contains(set, lo - 1));
        if (hi < UINT32_MAX)
            FUZZ_ASSERT(!imap_seqset_contains(set, hi + 1));
    }
    FUZZ_ASSERT(!imap_seqset_contains(set, 0));
}

static void fuzz_seqset(const char *s, size_t n, uint32_t star, int allow_sr)
{
    struct imap_seqset set, again;
    const char *err = NULL;
    imap_seqset_init(&set);
    imap_seqset_init(&again);
    if (imap_seqset_parse(&set, s, n, star, allow_sr, &err) < 0) {
        FUZZ_ASSERT(err && set.count == 0);
        return;
    }
    if (set.searchres) {
        FUZZ_ASSERT(allow_sr && set.count == 0 && n == 1);
        return;
    }
    check_set(&set);
    struct buf b;
    buf_init(&b, 0);
    FUZZ_ASSERT(imap_seqset_write(&b, &set) == 0);
    if (set.count) {
        FUZZ_ASSERT(imap_seqset_parse(&again, b.data, b.len, star, 0, &err) == 0);
        FUZZ_ASSERT(again.count == set.count);
        FUZZ_ASSERT(memcmp(again.r, set.r, set.count * sizeof(*set.r)) == 0);
    }
    struct imap_seqset_iter it;
    uint32_t v, prev = 0;
    size_t k = 0;
    imap_seqset_iter_init(&it, &set);
    while (k < 1000 && imap_seqset_iter_next(&it, &v)) {
        FUZZ_ASSERT(v > prev && imap_seqset_contains(&set, v));
        prev = v;
        k++;
    }
    if (imap_seqset_size(&set) < 1000)
        FUZZ_ASSERT(k == imap_seqset_size(&set));
    buf_free(&b);
    imap_seqset_free(&set);
    imap_seqset_free(&again);
}

static int header_cb(void *ctx, const char *field, const char *substr, int addr)
{
    (void)ctx;
    (void)addr;
    return (int)((strlen(field) + strlen(substr)) % 3) - 1;
}

static int body_cb(void *ctx, const char *substr, int text)
{
    (void)ctx;
    return (int)((strlen(substr) + (size_t)text) % 2);
}

static void fuzz_search(const struct imap_arg *args, uint32_t count, uint32_t star, unsigned flags)
{
    struct imap_search s;
    struct imap_search_params p = {.msg_count = count, .uid_star = star,
                                   .allow_searchres = (flags & 4) != 0,
                                   .allow_return = (flags & 8) != 0};
    const char *err = NULL;
    int r = imap_search_parse(&s, args, &p, &err);
    if (r < 0) {
        FUZZ_ASSERT(r == IMAP_SEARCH_BADCHARSET || (r == IMAP_SEARCH_BAD && err));
        FUZZ_ASSERT(s.root == NULL);
        return;
    }
    FUZZ_ASSERT(s.root && s.root->type == IMAP_SK_AND && s.nkeys <= IMAP_SEARCH_MAX_KEYS);
    struct imap_seqset saved;
    imap_seqset_init(&saved);
    imap_seqset_add(&saved, 2, 3);
    static const char *const kw[] = {"$Junk", "foo", NULL};
    uint32_t hits[4];
    size_t nhits = 0;
    for (uint32_t i = 1; i <= 4; i++) {
        struct imap_search_msg m = {
            .seq = i, .uid = i * 2, .flags = i * 7 & 0x3f, .keywords = i & 1 ? kw : NULL,
            .size = i * 1000, .modseq = i * 5, .internal_time = 1700000000 - i * 86400,
            .internal_day = 19000 + (int32_t)i, .sent_day = 19001, .have_sent_day = i & 1,
            .save_day = 19002, .have_save_day = (i & 2) != 0, .emailid = "M1", .threadid = NULL,
            .saved = i == 3 ? NULL : &saved, .now = 1700000000 + (int64_t)(flags << 20),
            .header_match = header_cb, .body_match = i == 2 ? NULL : body_cb,
        };
        int a = imap_search_match(s.root, &m);
        s.root->not = !s.root->not;
        int b = imap_search_match(s.root, &m);
        s.root->not = !s.root->not;
        FUZZ_ASSERT((a == 0 || a == 1) && a != b);
        if (a)
            hits[nhits++] = i;
    }
    struct buf reply;
    buf_init(&reply, 0);
    FUZZ_ASSERT(imap_search_write_esearch(&reply, "t1", flags & 1, &s, hits, nhits, flags & 2) == 0);
    FUZZ_ASSERT(reply.len >= 9 && memcmp(reply.data, "* ESEARCH", 9) == 0 && !memchr(reply.data, '\n', reply.len));
    buf_free(&reply);
    imap_seqset_free(&saved);
    imap_search_free(&s);
}

static void fuzz_fetch(const struct imap_arg *args)
{
    struct imap_fetch f;
    const char *err = NULL;
    if (imap_fetch_parse(&f, args, &err) < 0) {
        FUZZ_ASSERT(err && f.nbodies == 0 && f.attrs == 0 && f.bodies == NULL);
        return;
    }
    FUZZ_ASSERT(f.nbodies <= IMAP_FETCH_MAX_ITEMS);
    for (size_t i = 0; i < f.nbodies; i++) {
        const struct imap_fetch_body *b = &f.bodies[i];
        FUZZ_ASSERT(b->reply && b->nparts <= IMAP_FETCH_MAX_DEPTH);
        for (unsigned j = 0; j < b->nparts; j++)
            FUZZ_ASSERT(b->parts[j] >= 1);
        FUZZ_ASSERT(!b->partial || b->length >= 1);
        FUZZ_ASSERT(b->nfields <= IMAP_FETCH_MAX_FIELDS);
        FUZZ_ASSERT((b->nfields > 0) == (b->section == IMAP_SECTION_HEADER_FIELDS ||
                                         b->section == IMAP_SECTION_HEADER_FIELDS_NOT));
        if (!b->peek)
            FUZZ_ASSERT(f.set_seen);
    }
    FUZZ_ASSERT(!f.vanished || f.changedsince_set);
    imap_fetch_free(&f);
}

static void fuzz_date(const char *s, size_t n)
{
    int32_t d;
    if (imap_date_parse(s, n, &d) < 0)
        return;
    FUZZ_ASSERT(n >= 10 && n <= 11);
    FUZZ_ASSERT(d > imap_days_from_civil(-1, 12, 31) && d < imap_days_from_civil(10000, 1, 1));
}

static void fuzz_base_subject(const char *s, size_t n)
{
    struct buf b, again;
    int reply;
    buf_init(&b, 0);
    buf_init(&again, 0);
    FUZZ_ASSERT(imap_base_subject(s, n, &b, &reply) == 0);
    FUZZ_ASSERT(b.len <= n && (reply == 0 || reply == 1));
    if (b.len) {
        FUZZ_ASSERT(b.data[0] != ' ' && b.data[b.len - 1] != ' ');
        FUZZ_ASSERT(!memchr(b.data, '\t', b.len) && !memchr(b.data, '\r', b.len) &&
                    !memchr(b.data, '\n', b.len));
    }
    FUZZ_ASSERT(imap_base_subject(b.data, b.len, &again, NULL) == 0);
    FUZZ_ASSERT(again.len == b.len && memcmp(again.data, b.data, b.len) == 0);
    buf_free(&b);
    buf_free(&again);
}

static void fuzz_sort(const struct imap_arg *args, uint32_t count, uint32_t star, unsigned flags)
{
    struct imap_sort_crit crit[IMAP_SORT_MAX_CRITERIA];
    size_t n = 0;
    struct imap_search s;
    struct imap_search_params p = {.msg_count = count, .uid_star = star,
                                   .allow_searchres = (flags & 4) != 0,
                                   .allow_return = (flags & 8) != 0};
    const char *err = NULL;
    int r = imap_sort_parse(args, &p, crit, &n, &s, &err);
    if (r < 0) {
        FUZZ_ASSERT(s.root == NULL && (r == IMAP_SEARCH_BADCHARSET || err));
        return;
    }
    FUZZ_ASSERT(s.root && n >= 1 && n <= IMAP_SORT_MAX_CRITERIA);
    imap_search_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned mode = fuzz_byte(&in);
    uint32_t count = fuzz_byte(&in);
    count |= fuzz_byte(&in) << 8;
    uint32_t star = fuzz_byte(&in);
    star |= fuzz_byte(&in) << 8;
    char *s = fuzz_strndup(in.p, in.n);
    if ((mode & 3) == 0) {
        fuzz_seqset(s, in.n, star, (mode & 4) != 0);
    } else if ((mode & 3) == 3) {
        if (mode & 0x10)
            fuzz_base_subject(s, in.n);
        else
            fuzz_date(s, in.n);
    } else {
        struct targs ta = {0};
        struct imap_arg *args = targs_parse_n(&ta, s, in.n);
        if (args) {
            if ((mode & 3) == 1 && (mode & 0x10))
                fuzz_sort(args, count, star, mode);
            else if ((mode & 3) == 1)
                fuzz_search(args, count, star, mode);
            else
                fuzz_fetch(args);
        }
        targs_free(&ta);
    }
    free(s);
    return 0;
}
