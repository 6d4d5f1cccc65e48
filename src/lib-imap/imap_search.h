/*
 * imap_search.h - SEARCH programs (RFC 9051 section 6.4.4) parsed into a
 * tree the server evaluates per message, and IMAP dates.
 *
 * Owns: the search keys of RFC 9051 (ALL, ANSWERED, BCC, BEFORE, BODY,
 * CC, DELETED, DRAFT, FLAGGED, FROM, HEADER, KEYWORD, LARGER, NEW, NOT,
 * OLD, ON, OR, RECENT, SEEN, SENTBEFORE, SENTON, SENTSINCE, SINCE,
 * SMALLER, SUBJECT, TEXT, TO, UID, UNANSWERED, UNDELETED, UNDRAFT,
 * UNFLAGGED, UNKEYWORD, UNSEEN, sequence sets, parenthesised groups),
 * MODSEQ (RFC 7162), OLDER/YOUNGER (RFC 5032), SAVEDBEFORE/SAVEDON/
 * SAVEDSINCE/SAVEDATESUPPORTED (RFC 8514), EMAILID/THREADID (RFC 8474),
 * `$` (RFC 5182); the CHARSET (UTF-8 and US-ASCII); the ESEARCH RETURN
 * options (MIN MAX ALL COUNT SAVE, PARTIAL of RFC 9394); the limits
 * (nesting depth of NOT/OR/groups, number of keys); IMAP dates
 * ("1-Feb-2024"); imap_search_match, the per-message evaluation over
 * what the caller knows of a message (cheap facts in a struct, header
 * and body matching through callbacks); and the ESEARCH reply line
 * (RFC 4731, RFC 9051, PARTIAL of RFC 9394).
 *
 * Input: lib-imap/imap_arg.h trees: the arguments after SEARCH (or after
 * UID SEARCH), ended by IMAP_ARG_EOL. Sequence sets are resolved at parse
 * time against the mailbox's current message count and `*` UID (see
 * lib-imap/imap_seqset.h), which the caller passes in.
 */
#ifndef YUBIN_IMAP_SEARCH_H
#define YUBIN_IMAP_SEARCH_H

#include "lib-imap/imap_arg.h"
#include "lib-imap/imap_seqset.h"

#include <stddef.h>
#include <stdint.h>

#define IMAP_SEARCH_MAX_DEPTH 64        /* nested NOT / OR / ( ) */
#define IMAP_SEARCH_MAX_KEYS 10000      /* keys in one program */

/* Return values of the parsers (0 = success). */
#define IMAP_SEARCH_BAD (-1)            /* tagged BAD with *err */
#define IMAP_SEARCH_BADCHARSET (-2)     /* tagged NO [BADCHARSET (UTF-8 US-ASCII)] */

enum imap_sk_type {
    IMAP_SK_ALL,
    IMAP_SK_AND,            /* every child matches (a group, the program, NEW) */
    IMAP_SK_OR,             /* one of two children matches */
    IMAP_SK_SEQSET,         /* set: message sequence numbers (or `$`) */
    IMAP_SK_UIDSET,         /* set: UIDs (or `$`) */
    IMAP_SK_FLAG,           /* flag: one IMAP_SF_* bit */
    IMAP_SK_KEYWORD,        /* str: keyword */
    IMAP_SK_BEFORE,         /* day: INTERNALDATE (server's time zone) */
    IMAP_SK_ON,
    IMAP_SK_SINCE,
    IMAP_SK_SENTBEFORE,     /* day: Date: header (its own time zone) */
    IMAP_SK_SENTON,
    IMAP_SK_SENTSINCE,
    IMAP_SK_SAVEDBEFORE,    /* day: save date (RFC 8514) */
    IMAP_SK_SAVEDON,
    IMAP_SK_SAVEDSINCE,
    IMAP_SK_SAVEDATESUPPORTED,
    IMAP_SK_LARGER,         /* num: RFC822.SIZE > num */
    IMAP_SK_SMALLER,        /* num: RFC822.SIZE < num */
    IMAP_SK_HEADER,         /* str: field name, str2: substring ("" = has the field);
                               addr: from FROM/TO/CC/BCC (an envelope address field) */
    IMAP_SK_BODY,           /* str: substring of the body (decoded text parts) */
    IMAP_SK_TEXT,           /* str: substring of the header or the body */
    IMAP_SK_MODSEQ,         /* num: MODSEQ >= num; str: entry name or NULL; entry_type */
    IMAP_SK_OLDER,          /* num: seconds; INTERNALDATE older than now - num */
    IMAP_SK_YOUNGER,        /* num: seconds; INTERNALDATE within now - num */
    IMAP_SK_EMAILID,        /* str */
    IMAP_SK_THREADID,       /* str */
};

/* System flags (bits of imap_search_key.flag and imap_search_msg.flags). */
enum {
    IMAP_SF_ANSWERED = 1u << 0,
    IMAP_SF_FLAGGED = 1u << 1,
    IMAP_SF_DELETED = 1u << 2,
    IMAP_SF_SEEN = 1u << 3,
    IMAP_SF_DRAFT = 1u << 4,
    IMAP_SF_RECENT = 1u << 5,
};

enum imap_modseq_entry { IMAP_MODSEQ_ENTRY_NONE, IMAP_MODSEQ_PRIV, IMAP_MODSEQ_SHARED, IMAP_MODSEQ_ALL };

struct imap_search_key {
    enum imap_sk_type type;
    unsigned not : 1;           /* the key's result is inverted */
    unsigned addr : 1;
    unsigned flag;
    char *str, *str2;
    uint64_t num;
    int32_t day;                /* days since 1970-01-01 */
    enum imap_modseq_entry entry_type;
    struct imap_seqset set;
    struct imap_search_key *child;  /* AND / OR: first child */
    struct imap_search_key *next;   /* next sibling */
};

/* RETURN options (bits of imap_search.ret). */
enum {
    IMAP_SR_MIN = 1u << 0,
    IMAP_SR_MAX = 1u << 1,
    IMAP_SR_ALL = 1u << 2,
    IMAP_SR_COUNT = 1u << 3,
    IMAP_SR_SAVE = 1u << 4,
    IMAP_SR_PARTIAL = 1u << 5,
};

struct imap_search {
    struct imap_search_key *root;   /* an AND of the program's keys */
    unsigned esearch : 1;           /* RETURN given: reply with ESEARCH */
    unsigned ret;                   /* IMAP_SR_*; RETURN () means ALL */
    int64_t partial_lo, partial_hi; /* PARTIAL: 1-based, negative counts from the end */
    unsigned uses_searchres : 1;    /* `$` appears */
    unsigned uses_modseq : 1;       /* MODSEQ appears: the reply carries (MODSEQ n) */
    size_t nkeys;
};

struct imap_search_params {
    uint32_t msg_count;         /* `*` of message sequence numbers */
    uint32_t uid_star;          /* `*` of UIDs: last UID, or UIDNEXT when empty */
    unsigned allow_return : 1;  /* ESEARCH advertised: RETURN (...) accepted */
    unsigned allow_searchres : 1; /* SEARCHRES: `$` and RETURN (SAVE) accepted */
};

/*
 * Parse a SEARCH command's arguments: [RETURN (...)] [CHARSET cs] keys.
 * Returns 0, IMAP_SEARCH_BAD with *err, or IMAP_SEARCH_BADCHARSET.
 * s is empty on failure. Free with imap_search_free.
 */
int imap_search_parse(struct imap_search *s, const struct imap_arg *args,
                      const struct imap_search_params *p, const char **err);

/*
 * The pieces, for SORT and THREAD (RFC 5256), whose charset is not
 * preceded by CHARSET and is required:
 * imap_search_parse_return reads "RETURN (...)" at args if present and
 * sets *used to the number of arguments it took (0 or 2);
 * imap_search_parse_charset checks one charset argument;
 * imap_search_parse_keys parses the keys up to the end of args.
 */
int imap_search_parse_return(struct imap_search *s, const struct imap_arg *args,
                             const struct imap_search_params *p, size_t *used, const char **err);
int imap_search_parse_charset(const struct imap_arg *arg, const char **err);
int imap_search_parse_keys(struct imap_search *s, const struct imap_arg *args,
                           const struct imap_search_params *p, const char **err);

void imap_search_free(struct imap_search *s);

/*
 * IMAP date: date-day "-" date-month "-" date-year ("1-Feb-2024",
 * "01-feb-2024"); a real calendar day. Returns 0 with *days (since
 * 1970-01-01, negative before), or -1.
 */
int imap_date_parse(const char *s, size_t len, int32_t *days);
/* Days since 1970-01-01 of a proleptic Gregorian y-m-d. */
int32_t imap_days_from_civil(int y, unsigned m, unsigned d);

/*
 * What the evaluator knows about one message. Days are the message's
 * dates cut to a day (INTERNALDATE in the server's zone, Date: in its own
 * zone, as RFC 9051 says; have_* = 0 when unknown: a message without a
 * usable Date: should get sent_day = internal_day, as Dovecot does). Header
 * and body matching go through callbacks so the caller can read them
 * only when a key needs them; they return 1 (match), 0, or -1 (error:
 * the message does not match, before NOT applies).
 */
struct imap_search_msg {
    uint32_t seq, uid;
    unsigned flags;                 /* IMAP_SF_* */
    const char *const *keywords;    /* NULL-terminated, or NULL */
    uint64_t size;
    uint64_t modseq;
    int64_t internal_time;          /* seconds since the epoch (OLDER/YOUNGER) */
    int32_t internal_day, sent_day, save_day;
    unsigned have_sent_day : 1, have_save_day : 1;
    const char *emailid, *threadid;
    const struct imap_seqset *saved;    /* the `$` result as UIDs (RFC 5182), or NULL */
    int64_t now;                    /* seconds since the epoch */
    int (*header_match)(void *ctx, const char *field, const char *substr, int addr);
    int (*body_match)(void *ctx, const char *substr, int text);   /* text: header too */
    void *ctx;
};

/* The message matches the key (and its siblings' parent semantics). */
int imap_search_match(const struct imap_search_key *k, const struct imap_search_msg *m);

/*
 * Append the ESEARCH reply for s (without CRLF):
 * `* ESEARCH (TAG "tag") [UID] [MIN n] [MAX n] [ALL set] [COUNT n]
 * [PARTIAL (range set|NIL)] [MODSEQ n]`, from nums[0..n), the matching
 * sequence numbers or UIDs in ascending order. MIN, MAX and ALL are left
 * out when nothing matched; modseq 0 leaves MODSEQ out. When SAVE is the
 * only RETURN option, RFC 5182 says no ESEARCH is sent: the caller checks
 * (ret == IMAP_SR_SAVE). nums must be ascending. Returns 0, or -1 when
 * b is full.
 */
int imap_search_write_esearch(struct buf *b, const char *tag, int uid, const struct imap_search *s,
                              const uint32_t *nums, size_t n, uint64_t modseq);

#endif
