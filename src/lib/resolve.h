/*
 * resolve.h - where does an address go? (Postfix's trivial-rewrite role)
 *
 * Owns: domain classes (mydestination / virtual_alias_domains /
 * virtual_mailbox_domains / relay_domains / other), matching of domain
 * lists (literal names, type:table entries, parent-domain rules), the
 * recipient validity check used by reject_unlisted_recipient and
 * reject_unlisted_sender, recursive virtual alias expansion with loop
 * detection and virtual_alias_expansion_limit / recursion limit, and the
 * choice of transport (local, virtual, smtp, error).
 */
#ifndef YUBIN_RESOLVE_H
#define YUBIN_RESOLVE_H

#include <stddef.h>

struct config;
struct resolver;

enum addr_class {
    AC_LOCAL,           /* mydestination, incl. $myhostname, localhost, [address] of ours */
    AC_VIRTUAL_ALIAS,   /* virtual_alias_domains */
    AC_VIRTUAL_MAILBOX, /* virtual_mailbox_domains */
    AC_RELAY,           /* relay_domains */
    AC_DEFAULT          /* everything else: remote */
};

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
 */
int resolve_rcpt_known(struct resolver *r, const char *addr, char *why, size_t whylen);

/*
 * Expand addr through virtual_alias_maps recursively. On return *out holds
 * a NULL-terminated strv of final addresses (addr itself when no alias
 * applies). Returns 0 on success, -1 temporary failure, -2 permanent
 * failure (loop or expansion/recursion limit exceeded; why says which).
 */
int resolve_virtual_alias(struct resolver *r, const char *addr, char ***out, char *why, size_t whylen);

/*
 * Transport for an already alias-expanded recipient: "local", "virtual",
 * "smtp" (remote; relayhost is honoured by the smtp client), or "error"
 * with a why text (e.g. unknown user in a virtual alias domain).
 * nexthop receives the domain (or relayhost) when relevant.
 */
int resolve_transport(struct resolver *r, const char *addr, char *transport, size_t tlen,
                      char *nexthop, size_t nlen, char *why, size_t whylen);

#endif
