/*
 * thread_refs.h - THREAD=REFERENCES (RFC 5256 section 2.2 and 3), the
 * threading of the mail worker's THREAD command, as pure logic.
 *
 * Owns: linking messages into containers by Message-ID and References
 * (or In-Reply-To), without loops, with duplicate Message-IDs made
 * unique; pruning empty containers; gathering the root set by base
 * subject; sorting every level by sent date (then sequence number); and
 * writing the thread list of the THREAD response ("(1 2 (3)(4))(5)").
 * Chains deeper than IMAPD_THREAD_DEPTH_MAX are cut there (the rest starts
 * a thread of its own), so recursion and work stay bounded.
 */
#ifndef YUBIN_IMAPD_THREAD_REFS_H
#define YUBIN_IMAPD_THREAD_REFS_H

#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

#define IMAPD_THREAD_DEPTH_MAX 1000

struct imapd_thread_msg {
    uint32_t num;                    /* what the response shows (sequence number or UID) */
    uint32_t seq;                    /* ties of equal dates */
    int64_t date;                    /* sent date (the INTERNALDATE when there is no Date:) */
    const char *msgid;               /* Message-ID without <>, or NULL */
    const char *const *refs;         /* References (else In-Reply-To's first id), oldest first */
    size_t nrefs;
    const char *subject;             /* base subject (RFC 5256 2.1) */
    int reply;                       /* the subject was a reply or forward */
};

/* Append the threads of m[0..n) to out (nothing when n is 0). 0, or -1 when out is full. */
int imapd_thread_references(const struct imapd_thread_msg *m, size_t n, struct buf *out);

/*
 * The msg-ids ("<a@b>") in text, without their brackets, appended to *ids
 * (grown with xrealloc; *nids counts them; at most max). Free each and the array.
 */
void imapd_thread_msgids(const char *text, size_t len, char ***ids, size_t *nids, size_t max);

#endif
