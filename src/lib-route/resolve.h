/*
 * resolve.h - where does an address go? (Postfix's trivial-rewrite role)
 *
 * Owns: domain classes (mydestination / virtual_alias_domains /
 * virtual_mailbox_domains / relay_domains / other; the lists themselves
 * are matchlist.h), the recipient validity check used by
 * reject_unlisted_recipient and reject_unlisted_sender, recursive virtual
 * alias expansion with loop detection and virtual_alias_expansion_limit /
 * recursion limit, local alias expansion (aliases(5)), and the choice of
 * transport (local, virtual, smtp, error) with transport_maps.
 */
#ifndef YUBIN_RESOLVE_H
#define YUBIN_RESOLVE_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct resolver;

enum addr_class {
    AC_LOCAL,           /* mydestination, incl. $myhostname, localhost, [address] of ours */
    AC_VIRTUAL_ALIAS,   /* virtual_alias_domains */
    AC_VIRTUAL_MAILBOX, /* virtual_mailbox_domains */
    AC_RELAY,           /* relay_domains */
    AC_DEFAULT          /* everything else: remote */
};

/* Opens every list and table the resolver needs; NULL (logged with
 * msg_error) when one cannot be opened, as Postfix would not start. */
struct resolver *resolver_new(const struct config *cfg);
void resolver_free(struct resolver *r);

/* Class of a domain (lowercased internally). -1 on a temporary table error. */
int resolve_domain_class(struct resolver *r, const char *domain);
/* Convenience for the class of addr's domain; unqualified addresses are local. */
int resolve_addr_class(struct resolver *r, const char *addr);

/*
 * Is this recipient known? 1 = yes, 0 = no (why gets Postfix's text, e.g.
 * "User unknown in local recipient table", "User unknown in virtual
 * mailbox table", "User unknown in virtual alias table"), -1 = temporary
 * failure (lookup table down). Remote (AC_DEFAULT/AC_RELAY with no
 * relay_recipient_maps) addresses are known.
 * Order (Postfix smtpd check_rcpt_maps): an address found in
 * virtual_alias_maps is known, whatever its domain; an address whose
 * transport is "error" (virtual alias domains, error: entries in
 * transport_maps) is unknown with that text; then by class:
 * local_recipient_maps (empty = accept all; postmaster, MAILER-DAEMON and
 * $double_bounce_sender are always known), virtual_mailbox_maps,
 * relay_recipient_maps. "in ... table" is left out with
 * show_user_unknown_table_name = no.
 */
int resolve_rcpt_known(struct resolver *r, const char *addr, char *why, size_t whylen);

/*
 * Expand addr through virtual_alias_maps recursively (Postfix cleanup).
 * On return *out holds a NULL-terminated strv of final addresses in
 * internal form (addr itself when no alias applies; duplicates removed;
 * caller strv_free()s). Returns 0 on success, -1 temporary failure (a
 * table is down, a result address is unreasonably long), -2 permanent
 * failure (virtual_alias_expansion_limit or virtual_alias_recursion_limit
 * exceeded; why says which, in Postfix's words). Postfix defers in the
 * latter case; -2 lets the caller choose.
 * As in Postfix, an address is expanded at most once: a loop (a -> b ->
 * a) or an address that lists itself (a -> a, b) stops there and that
 * address is kept as a final address. Result "@domain" means the same
 * localpart in that domain (first result only); unqualified results get
 * "@$myorigin"; with "virtual" in propagate_unmatched_extensions an
 * extension dropped to find the entry (user+foo@ -> user@) is put back on
 * each result address.
 */
int resolve_virtual_alias(struct resolver *r, const char *addr, char ***out, char *why, size_t whylen);

/*
 * Transport for an already alias-expanded recipient: "local", "virtual",
 * "smtp" (remote; relayhost is honoured by the smtp client), or "error"
 * with a why text (e.g. unknown user in a virtual alias domain).
 * nexthop receives the domain (or relayhost) when relevant.
 * By class: local_transport (nexthop: its ":nexthop" or the domain),
 * virtual alias domain: error "User unknown in virtual alias table",
 * virtual_transport, relay_transport, default_transport (nexthop: the
 * transport's ":nexthop", else relayhost, else the domain). Then
 * transport_maps (not for virtual alias domains) per transport(5):
 * user+ext@domain, user@domain, domain, parent domains (".domain", or
 * "domain" when transport_maps is in parent_domain_matches_subdomains),
 * "*"; "transport:nexthop" results, where an empty transport keeps the
 * class's transport and a transport without nexthop resets the nexthop to
 * the recipient domain; "error:text" gives why = text. Returns 0, or -1
 * on a temporary table failure.
 */
int resolve_transport(struct resolver *r, const char *addr, char *transport, size_t tlen,
                      char *nexthop, size_t nlen, char *why, size_t whylen);

/*
 * Local aliases (aliases(5), alias_maps) for a recipient in a local
 * domain, expanded recursively the way local(8) does: local addresses in
 * the result are looked up again; an alias that lists its own name
 * delivers to that user (root: root, other); more than 100 levels is
 * "alias database loop for NAME" (permanent). "\user" means the user's
 * mailbox without aliasing.
 */
enum alias_kind {
    ALIAS_ADDRESS,  /* forward to this non-local address (internal form, qualified) */
    ALIAS_MAILBOX,  /* deliver to this local address (user[+ext]@domain) without more aliasing */
    ALIAS_COMMAND,  /* "|command": value is the command line without the '|' */
    ALIAS_FILE,     /* "/file/name": append to that file */
    ALIAS_INCLUDE,  /* ":include:/file/name": value is the path; the delivery agent reads it
                       with the right privileges and passes the text to resolve_alias_text() */
};

struct alias_item {
    enum alias_kind kind;
    char *value;
    char *alias;   /* the alias name whose expansion produced this item */
    char *owner;   /* owner-ALIAS override of the envelope sender for this item, or NULL */
};

struct alias_list {
    struct alias_item *v;
    size_t n;
};

/*
 * 1: addr is an alias, out holds the items (appended; duplicates dropped);
 * 0: not an alias (or not a local domain): deliver to the user;
 * -1: temporary failure ("alias database unavailable"); -2: permanent
 * (alias loop). Lookups: the localpart with extension, then without; with
 * "alias" in propagate_unmatched_extensions the extension is put back on
 * forwarding addresses. owner_request_special: an "owner-NAME" alias sets
 * item->owner to owner-NAME@$myorigin (or its expansion with
 * expand_owner_alias = yes).
 */
int resolve_local_alias(struct resolver *r, const char *addr, struct alias_list *out,
                        char *why, size_t whylen);
/* Classify and expand the text of an :include: file (or a .forward file),
 * as the right-hand side of alias `alias`. 0, -1 or -2 as above. */
int resolve_alias_text(struct resolver *r, const char *text, const char *alias,
                       struct alias_list *out, char *why, size_t whylen);
void alias_list_free(struct alias_list *l);
/* Split an alias right-hand side (or a line of an :include: file) into its
 * elements as the expansion does: commas and blanks separate, "quoted
 * strings" stay whole and lose their quotes. NULL-terminated (strv_free). */
char **alias_split(const char *rhs);
/*
 * The owner of the alias database: the first alias_maps table with an
 * absolute path whose file (or its .lmdb index) exists. 1 found, 0 none
 * (uid and gid set to 0, which callers map to default_privs).
 */
int alias_db_owner(const struct config *cfg, uid_t *uid, gid_t *gid);

#endif
