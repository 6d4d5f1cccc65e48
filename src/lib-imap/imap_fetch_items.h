/*
 * imap_fetch_items.h - the FETCH attribute list (RFC 9051 section 6.4.5)
 * parsed into a structure the FETCH command fills per message.
 *
 * Owns: the macros ALL/FAST/FULL; the simple items FLAGS, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, UID, MODSEQ (RFC 7162),
 * EMAILID/THREADID (RFC 8474), PREVIEW [(LAZY)] (RFC 8970), SAVEDATE (RFC 8514);
 * the content items BODY[section]<partial>, BODY.PEEK[...], RFC822,
 * RFC822.HEADER, RFC822.TEXT, BINARY[part]<partial>, BINARY.PEEK[...] and
 * BINARY.SIZE[part] (RFC 3516) with their section specs (part numbers,
 * HEADER, HEADER.FIELDS (...), HEADER.FIELDS.NOT (...), TEXT, MIME); the
 * FETCH modifiers (CHANGEDSINCE n [VANISHED]); the name each content item
 * has in the reply; and the limits. Errors come with the text for BAD.
 *
 * Input: the arguments after the sequence set, as lib-imap/imap_arg.h
 * trees: one attribute (an atom) or a parenthesised list of them, then
 * optionally the modifier list, then the end. A content item with a
 * section is one bracketed atom ("BODY.PEEK[HEADER.FIELDS (From To)]<0.512>",
 * spaces and parentheses inside the brackets included); header field
 * names inside it are atoms or quoted strings.
 */
#ifndef YUBIN_IMAP_FETCH_ITEMS_H
#define YUBIN_IMAP_FETCH_ITEMS_H

#include "lib-imap/imap_arg.h"

#include <stddef.h>
#include <stdint.h>

#define IMAP_FETCH_MAX_ITEMS 64          /* attributes in one FETCH */
#define IMAP_FETCH_MAX_DEPTH 32          /* part numbers in a section ("1.2.3") */
#define IMAP_FETCH_MAX_FIELDS 128        /* names in one HEADER.FIELDS list */
#define IMAP_FETCH_MAX_FIELD_LEN 256     /* bytes of one header field name */

/* Items without a section: bits of imap_fetch.attrs. */
enum {
    IMAP_FETCH_FLAGS = 1u << 0,
    IMAP_FETCH_INTERNALDATE = 1u << 1,
    IMAP_FETCH_RFC822_SIZE = 1u << 2,
    IMAP_FETCH_ENVELOPE = 1u << 3,
    IMAP_FETCH_BODY = 1u << 4,            /* BODY: BODYSTRUCTURE without extensions */
    IMAP_FETCH_BODYSTRUCTURE = 1u << 5,
    IMAP_FETCH_UID = 1u << 6,
    IMAP_FETCH_MODSEQ = 1u << 7,
    IMAP_FETCH_EMAILID = 1u << 8,
    IMAP_FETCH_THREADID = 1u << 9,
    IMAP_FETCH_PREVIEW = 1u << 10,
    IMAP_FETCH_SAVEDATE = 1u << 11,
};

enum imap_fetch_kind {
    IMAP_FETCH_K_BODY,          /* BODY[...], BODY.PEEK[...], RFC822, RFC822.HEADER, RFC822.TEXT */
    IMAP_FETCH_K_BINARY,        /* BINARY[...], BINARY.PEEK[...]: decoded content */
    IMAP_FETCH_K_BINARY_SIZE,   /* BINARY.SIZE[...]: size of the decoded content */
};

enum imap_section {
    IMAP_SECTION_FULL,          /* [] or [1.2]: the whole message / part */
    IMAP_SECTION_HEADER,
    IMAP_SECTION_HEADER_FIELDS,
    IMAP_SECTION_HEADER_FIELDS_NOT,
    IMAP_SECTION_TEXT,
    IMAP_SECTION_MIME,          /* only after a part number */
};

struct imap_fetch_body {
    enum imap_fetch_kind kind;
    enum imap_section section;
    unsigned peek : 1;          /* does not set \Seen */
    unsigned partial : 1;       /* <offset.length> given */
    uint32_t parts[IMAP_FETCH_MAX_DEPTH];   /* section-part, each >= 1 */
    unsigned nparts;
    char **fields;              /* HEADER.FIELDS[.NOT] names as given */
    size_t nfields;
    uint64_t offset, length;    /* partial: length >= 1 */
    char *reply;                /* the item's name in the reply, e.g.
                                   "BODY[HEADER.FIELDS (From To)]<0>", "RFC822.HEADER" */
};

struct imap_fetch {
    unsigned attrs;             /* IMAP_FETCH_* bits */
    struct imap_fetch_body *bodies;
    size_t nbodies;
    unsigned set_seen : 1;      /* some item is not .PEEK: the message becomes \Seen */
    unsigned changedsince_set : 1;
    unsigned vanished : 1;      /* VANISHED modifier (UID FETCH only: the caller checks) */
    unsigned preview_lazy : 1;  /* PREVIEW (LAZY): only a cached preview is wanted */
    uint64_t changedsince;      /* implies MODSEQ */
};

/*
 * Parse args (ended by IMAP_ARG_EOL). Returns 0, or -1 with *err the text
 * for the BAD reply; f is then empty. Free with imap_fetch_free.
 */
int imap_fetch_parse(struct imap_fetch *f, const struct imap_arg *args, const char **err);
void imap_fetch_free(struct imap_fetch *f);

#endif
