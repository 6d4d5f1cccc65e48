/*
 * addrlist.h - RFC 5322 address lists: the values of From:, To:, Cc:,
 * Sender:, Reply-To:, Bcc: and Resent-*.
 *
 * Owns: the one parser of header address lists, with display names,
 * comments, quoted strings, domain literals, obsolete routes and groups.
 * It has two users with different needs:
 *  - strict (sendmail -t): a malformed list is an error, and only the
 *    addresses matter (addr_parse_header_list);
 *  - lenient (IMAP ENVELOPE, header_checks, Sieve address tests): every
 *    list gives an answer, with the structure kept (name, route, mailbox,
 *    host, group start and end), and what could not be read marked
 *    invalid with Dovecot's placeholders MISSING_MAILBOX / MISSING_DOMAIN.
 *
 * Limits: at most `max` items, element tokens and text bounded (an element
 * longer than ADDRLIST_ELEM_TEXT is an error in strict mode and truncated
 * and marked invalid in lenient mode), comment nesting bounded.
 */
#ifndef YUBIN_ADDRLIST_H
#define YUBIN_ADDRLIST_H

#include <stddef.h>

#define ADDRLIST_ELEM_TEXT    2048   /* bytes of text in one list element */
#define ADDRLIST_ELEM_TOKENS  128    /* tokens in one list element */
#define ADDRLIST_COMMENT_DEPTH 32

#define ADDRLIST_MISSING_MAILBOX "MISSING_MAILBOX"
#define ADDRLIST_MISSING_DOMAIN  "MISSING_DOMAIN"

enum addr_item_kind {
    ADDR_ITEM_MAILBOX,       /* an address */
    ADDR_ITEM_GROUP_START,   /* "name:"; mailbox holds the group's name */
    ADDR_ITEM_GROUP_END,     /* ";"; every field NULL */
};

struct addr_item {
    enum addr_item_kind kind;
    char *name;      /* display name: phrase words joined by one space, quotes
                      * removed, RFC 2047 words left encoded; or the comment
                      * after the address when there is no phrase (lenient mode,
                      * as Dovecot: only after a bare addr-spec, "a@b (Name)");
                      * NULL */
    char *route;     /* obsolete route "@a,@b" or NULL */
    char *mailbox;   /* local part, unquoted (group name for GROUP_START) */
    char *domain;    /* domain or [literal]; NULL for groups, and in strict
                      * mode for an unqualified name such as "root" */
    int invalid;     /* lenient mode: something had to be guessed */
};

struct addr_items {
    struct addr_item *v;
    size_t n;
};

#define ADDRLIST_LENIENT 0x1

/*
 * Parse value (NUL-terminated; folded lines fine). Strict mode returns the
 * number of items, or -1 when the list is malformed or has more than max
 * addresses (out is then empty). Lenient mode never fails: it reads
 * what it can, stops after max items, and returns the item count.
 * Free with addr_items_free().
 */
int addr_items_parse(const char *value, size_t max, int flags, struct addr_items *out);
void addr_items_free(struct addr_items *items);

/*
 * Parse an RFC 5322 address list into internal-form addresses (strict):
 * display names, comments and group names are dropped, group members are
 * kept, "<@route:a@b>" loses its route. Unqualified names ("root") are
 * kept as they are (sendmail -t qualifies them). At most max addresses,
 * each <= ADDR_MAX. Returns the number of addresses with *out a
 * NULL-terminated strv the caller strv_free()s, or -1 (and *out NULL)
 * when the list is malformed.
 */
int addr_parse_header_list(const char *value, size_t max, char ***out);

#endif
