/*
 * imap_seqset.c - IMAP sequence sets: parse, normalise, test, iterate,
 * write. See imap_seqset.h.
 */
#include "lib-imap/imap_seqset.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

void imap_seqset_init(struct imap_seqset *set)
{
    memset(set, 0, sizeof(*set));
}

void imap_seqset_free(struct imap_seqset *set)
{
    free(set->r);
    imap_seqset_init(set);
}

int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
    if (lo > hi) {
        uint32_t t = lo;
        lo = hi;
        hi = t;
    }
    if (lo == 0)
        return -1;
    if (set->count == set->cap) {
        if (set->cap >= IMAP_SEQSET_MAX_RANGES)
            return -1;
        size_t ncap = set->cap ? set->cap * 2 : 8;
        if (ncap > IMAP_SEQSET_MAX_RANGES)
            ncap = IMAP_SEQSET_MAX_RANGES;
        set->r = xrealloc(set->r, ncap * sizeof(*set->r));
        set->cap = ncap;
    }
    set->r[set->count].lo = lo;
    set->r[set->count].hi = hi;
    set->count++;
    return 0;
}

static int range_cmp(const void *a, const void *b)
{
    const struct imap_seq_range *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

void imap_seqset_normalize(struct imap_seqset *set)
{
    if (set->count < 2)
        return;
    qsort(set->r, set->count, sizeof(*set->r), range_cmp);
    size_t out = 0;
    for (size_t i = 1; i < set->count; i++) {
        struct imap_seq_range *cur = &set->r[out];
        /* Overlapping or adjacent (cur->hi + 1 without overflow). */
        if ((uint64_t)set->r[i].lo <= (uint64_t)cur->hi + 1) {
            if (set->r[i].hi > cur->hi)
                cur->hi = set->r[i].hi;
        } else {
            set->r[++out] = set->r[i];
        }
    }
    set->count = out + 1;
}

/* One seq-number at *p: digits or '*'. Returns 0, or -1. */
static int parse_number(const char **p, const char *end, uint32_t star, uint32_t *out, int *is_star)
{
    const char *s = *p;
    *is_star = 0;
    if (s < end && *s == '*') {
        *p = s + 1;
        *out = star;
        *is_star = 1;
        return 0;
    }
    if (s >= end || *s < '1' || *s > '9')
        return -1;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > UINT32_MAX)
            return -1;
        s++;
    }
    *p = s;
    *out = (uint32_t)v;
    return 0;
}

static int parse_ranges(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
                        const char **err)
{
    const char *p = s, *end = s + len;
    for (;;) {
        uint32_t a, b;
        int sa, sb;
        if (parse_number(&p, end, star, &a, &sa) < 0) {
            *err = "Invalid sequence set";
            return -1;
        }
        b = a;
        sb = sa;
        if (p < end && *p == ':') {
            p++;
            if (parse_number(&p, end, star, &b, &sb) < 0) {
                *err = "Invalid sequence set";
                return -1;
            }
        }
        if (sa || sb)
            set->has_star = 1;
        /* `*` with nothing in use: the range matches nothing. */
        if (!((sa || sb) && star == 0) && imap_seqset_add(set, a, b) < 0) {
            *err = "Sequence set too large";
            return -1;
        }
        if (p == end)
            return 0;
        if (*p != ',') {
            *err = "Invalid sequence set";
            return -1;
        }
        p++;
    }
}

int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
                      int allow_searchres, const char **err)
{
    imap_seqset_free(set);
    if (len == 0) {
        *err = "Empty sequence set";
        return -1;
    }
    if (len > IMAP_SEQSET_MAX_LEN) {
        *err = "Sequence set too long";
        return -1;
    }
    if (len == 1 && s[0] == '$') {
        if (!allow_searchres) {
            *err = "Saved search result ($) not allowed here";
            return -1;
        }
        set->searchres = 1;
        return 0;
    }
    if (parse_ranges(set, s, len, star, err) < 0) {
        imap_seqset_free(set);
        return -1;
    }
    imap_seqset_normalize(set);
    return 0;
}

int imap_seqset_contains(const struct imap_seqset *set, uint32_t n)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set->r[mid].hi < n)
            lo = mid + 1;
        else if (set->r[mid].lo > n)
            hi = mid;
        else
            return 1;
    }
    return 0;
}

uint64_t imap_seqset_size(const struct imap_seqset *set)
{
    uint64_t n = 0;
    for (size_t i = 0; i < set->count; i++)
        n += (uint64_t)set->r[i].hi - set->r[i].lo + 1;
    return n;
}

uint32_t imap_seqset_max(const struct imap_seqset *set)
{
    return set->count ? set->r[set->count - 1].hi : 0;
}

void imap_seqset_iter_init(struct imap_seqset_iter *it, const struct imap_seqset *set)
{
    it->set = set;
    it->i = 0;
    it->next = set->count ? set->r[0].lo : 0;
}

int imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n)
{
    const struct imap_seqset *set = it->set;
    if (it->i >= set->count)
        return 0;
    *n = (uint32_t)it->next;
    if (it->next >= set->r[it->i].hi) {
        it->i++;
        if (it->i < set->count)
            it->next = set->r[it->i].lo;
    } else {
        it->next++;
    }
    return 1;
}

static int write_range(struct buf *b, int first, uint32_t lo, uint32_t hi)
{
    if (lo == hi)
        return buf_printf(b, "%s%u", first ? "" : ",", lo);
    return buf_printf(b, "%s%u:%u", first ? "" : ",", lo, hi);
}

int imap_seqset_write(struct buf *b, const struct imap_seqset *set)
{
    for (size_t i = 0; i < set->count; i++)
        if (write_range(b, i == 0, set->r[i].lo, set->r[i].hi) < 0)
            return -1;
    return 0;
}

int imap_seqset_write_nums(struct buf *b, const uint32_t *nums, size_t n)
{
    size_t i = 0;
    int first = 1;
    while (i < n) {
        uint32_t lo = nums[i], hi = nums[i];
        i++;
        while (i < n && (nums[i] == hi || (uint64_t)nums[i] == (uint64_t)hi + 1))
            hi = nums[i++];
        if (i < n && nums[i] < hi)
            return -1;
        if (write_range(b, first, lo, hi) < 0)
            return -1;
        first = 0;
    }
    return 0;
}
