/*
 * imap_seqset.h - IMAP sequence sets (RFC 9051 `sequence-set`).
 *
 * Owns: parsing a sequence set ("1:*", "5,3:4,*:7", "$") into a sorted
 * list of disjoint, non-adjacent ranges with `*` resolved against a value
 * the caller gives; membership and iteration; writing a compact set from
 * a sorted list of numbers (COPYUID, APPENDUID, ESEARCH ALL).
 *
 * Parsing collects the ranges as written, sorts them once and merges
 * them: O(n log n) for n ranges, never quadratic. Membership is a binary
 * search over the ranges, iteration walks them in order.
 *
 * What `*` means is the caller's business (RFC 9051 section 9,
 * seq-number): for message sequence numbers it is the number of messages;
 * for UIDs it is the UID of the last message or, in an empty mailbox, the
 * mailbox's UIDNEXT. A range is unordered ("4:2" is "2:4"), so a UID
 * range "559:*" always contains the last UID even when 559 is above it.
 * With star == 0 (sequence numbers of an empty mailbox) every range that
 * names `*` is dropped: it matches nothing, and `has_star` tells the
 * caller that `*` was used.
 *
 * `$` (RFC 5182 SEARCHRES) is only valid alone; it sets `searchres` and
 * leaves the ranges empty: the caller substitutes the saved result.
 */
#ifndef YUBIN_IMAP_SEQSET_H
#define YUBIN_IMAP_SEQSET_H

#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Ranges before merging; a set of 100,000 single numbers is fine. */
#define IMAP_SEQSET_MAX_RANGES 1000000
/* Bytes of the textual set (a command line is bounded well below). */
#define IMAP_SEQSET_MAX_LEN (16u * 1024 * 1024)

struct imap_seq_range {
    uint32_t lo, hi;            /* lo <= hi, lo >= 1 */
};

struct imap_seqset {
    struct imap_seq_range *r;   /* sorted by lo, disjoint, not adjacent */
    size_t count;
    size_t cap;
    unsigned searchres : 1;     /* "$": the saved search result */
    unsigned has_star : 1;      /* `*` appeared */
};

void imap_seqset_init(struct imap_seqset *set);
void imap_seqset_free(struct imap_seqset *set);

/*
 * Parse s (len bytes, need not be NUL-terminated) with `*` = star.
 * allow_searchres permits "$". Returns 0, or -1 with *err set to a short
 * reason suitable for a BAD reply; the set is left empty on error.
 * Numbers are nz-number: 1..4294967295.
 */
int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len, uint32_t star,
                      int allow_searchres, const char **err);

/* Add one range (any order of lo/hi, lo/hi >= 1) and re-normalise later. */
int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi);
/* Sort and merge after imap_seqset_add calls (parse does it itself). */
void imap_seqset_normalize(struct imap_seqset *set);

int imap_seqset_contains(const struct imap_seqset *set, uint32_t n);
/* Number of members (up to 2^32 - 1 each range, so 64 bits). */
uint64_t imap_seqset_size(const struct imap_seqset *set);
/* Largest member, 0 if empty. */
uint32_t imap_seqset_max(const struct imap_seqset *set);

/* Iteration in ascending order: init, then next until it returns 0. */
struct imap_seqset_iter {
    const struct imap_seqset *set;
    size_t i;                   /* current range */
    uint64_t next;              /* next value in that range */
};
void imap_seqset_iter_init(struct imap_seqset_iter *it, const struct imap_seqset *set);
int imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n);

/*
 * Append the set as text ("1:3,5,7:9"); nothing for an empty set.
 * Returns 0 or -1 when the buffer's limit is reached.
 */
int imap_seqset_write(struct buf *b, const struct imap_seqset *set);
/*
 * Append a compact set of nums[0..n) (ascending; duplicates allowed):
 * runs of consecutive numbers become "a:b". Returns -1 when not
 * ascending or the buffer is full.
 */
int imap_seqset_write_nums(struct buf *b, const uint32_t *nums, size_t n);

#endif
