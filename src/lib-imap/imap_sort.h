/*
 * imap_sort.h - SORT criteria (RFC 5256, with DISPLAYFROM/DISPLAYTO of
 * RFC 5957) and the RFC 5256 base subject.
 *
 * Owns: parsing the criteria list "(REVERSE DATE SUBJECT ...)" into an
 * array; parsing a whole SORT command's arguments ([RETURN (...)]
 * criteria charset search-keys) with lib-imap/imap_search.h; and
 * extracting the base subject of a (decoded, UTF-8) Subject: that SORT
 * SUBJECT and THREAD compare, with whether it was a reply or forward.
 */
#ifndef YUBIN_IMAP_SORT_H
#define YUBIN_IMAP_SORT_H

#include "lib-imap/imap_arg.h"
#include "lib-imap/imap_search.h"
#include "lib/buf.h"

#include <stddef.h>

#define IMAP_SORT_MAX_CRITERIA 16

enum imap_sort_key {
    IMAP_SORT_ARRIVAL,
    IMAP_SORT_CC,
    IMAP_SORT_DATE,
    IMAP_SORT_FROM,
    IMAP_SORT_SIZE,
    IMAP_SORT_SUBJECT,
    IMAP_SORT_TO,
    IMAP_SORT_DISPLAYFROM,
    IMAP_SORT_DISPLAYTO,
};

struct imap_sort_crit {
    enum imap_sort_key key;
    unsigned reverse : 1;
};

/*
 * The criteria list at arg. Fills crit[0..*n) (at most
 * IMAP_SORT_MAX_CRITERIA). Returns 0, or IMAP_SEARCH_BAD with *err.
 */
int imap_sort_parse_criteria(const struct imap_arg *arg, struct imap_sort_crit *crit, size_t *n,
                             const char **err);

/*
 * A SORT command's arguments: [RETURN (...)] (criteria) charset keys.
 * Returns 0, IMAP_SEARCH_BAD with *err or IMAP_SEARCH_BADCHARSET; on
 * success s holds the search program (free with imap_search_free).
 */
int imap_sort_parse(const struct imap_arg *args, const struct imap_search_params *p,
                    struct imap_sort_crit *crit, size_t *n, struct imap_search *s, const char **err);

/*
 * The base subject (RFC 5256 section 2.1, steps 1-7) of subj[0..len),
 * which the caller has already decoded (RFC 2047) to UTF-8, appended to
 * out. *is_reply_fwd is set when a reply/forward marker ("Re:", "Fwd:",
 * "[fwd: ...]", "(fwd)") was removed. Case is kept: comparisons use the
 * i;unicode-casemap collation. Returns 0, or -1 when out is full.
 */
int imap_base_subject(const char *subj, size_t len, struct buf *out, int *is_reply_fwd);

#endif
