/*
 * matchlist.h - Postfix match lists: domain lists (mydestination,
 * relay_domains, virtual_*_domains, sqlite "domain" ...), network
 * address lists (mynetworks, *_exclusions) and host lists (a client's
 * name or address), plus the IPv4/IPv6 network patterns shared with
 * cidr: tables.
 *
 * List syntax (postconf(5)): names separated by commas and/or whitespace;
 * "/file/name" is replaced by the patterns in that file (one or more per
 * line, # comments, continuation lines); "type:table" matches when the
 * name (domain lists: the name or, per the parent rules, a parent
 * domain; address lists: the address) is a key in the table; "!pattern"
 * excludes (the first matching pattern decides). Matching is
 * case-insensitive.
 *
 * Domain lists: "example.com" matches example.com itself; with
 * MATCH_F_PARENT (the parameter is listed in
 * parent_domain_matches_subdomains) it also matches its subdomains,
 * otherwise ".example.com" matches the subdomains.
 * Address lists: "1.2.3.4", "1.2.3.0/24", "[::1]", "[2001:db8::]/32",
 * "[2001:db8::/32]"; IPv6 needs the brackets (it contains ':').
 */
#ifndef YUBIN_MATCHLIST_H
#define YUBIN_MATCHLIST_H

#include <stddef.h>

struct config;
struct match_list;

#define MATCH_F_PARENT 0x1   /* domain lists: "example.com" also matches subdomains */

/* NULL with err on a syntax error, unreadable /file/name or table that
 * cannot be opened. An empty value gives a list that matches nothing. */
struct match_list *domain_list_new(const char *value, const struct config *cfg, int flags,
                                   char *err, size_t errlen);
/* 1 match, 0 no match, -1 temporary failure (a table could not be read). */
int domain_list_match(struct match_list *l, const char *domain);

struct match_list *addr_list_new(const char *value, const struct config *cfg, int flags,
                                 char *err, size_t errlen);
/* addr: "1.2.3.4", "::1", "[::1]", "[IPv6:::1]", "::ffff:1.2.3.4" (matched as IPv4). */
int addr_list_match(struct match_list *l, const char *addr);

/* authorized_{submit,mailq,flush}_users: the login name of uid (its number
 * when it has none) against a domain-style list ("static:anyone", names,
 * type:table, !negation). 1 match, 0 no match (also NULL l), -1 tempfail. */
int user_list_match(struct match_list *l, unsigned long uid);

/*
 * Host lists (Postfix's "namadr" lists: smtpd_client_event_limit_exceptions
 * ...): address and network patterns match the client address, other
 * names match its hostname as a domain list does (MATCH_F_PARENT as
 * above), type:table is looked up with the hostname (and its parent
 * domains), then with the address. The first matching pattern decides.
 */
struct match_list *host_list_new(const char *value, const struct config *cfg, int flags,
                                 char *err, size_t errlen);
/* name: the client's hostname ("unknown" or "" when it has none). 1, 0, -1 tempfail. */
int host_list_match(struct match_list *l, const char *name, const char *addr);

void match_list_free(struct match_list *l);
int match_list_empty(const struct match_list *l);

/* Is param listed in parent_domain_matches_subdomains? (MATCH_F_PARENT)
 * cfg-dependent: lives in matchlist_cfg.c. */
int match_parent_style(const struct config *cfg, const char *param);

/* ---- network patterns (also used by cidr: tables) ---- */
struct net_addr {
    int family;               /* AF_INET or AF_INET6 */
    unsigned char a[16];
};

struct net_pattern {
    struct net_addr net;
    int plen;                 /* prefix length; 32/128 for a single address */
};

/* "addr" or "addr/len", each optionally in [] ("[addr]/len", "[addr/len]").
 * Non-zero host bits are an error, worded as Postfix does. */
int net_pattern_parse(const char *s, struct net_pattern *np, char *why, size_t whylen);
/* Parse an address, optionally bracketed or with an "IPv6:" prefix inside
 * brackets. map_v4: treat ::ffff:a.b.c.d as IPv4. 0 or -1. */
int net_addr_parse(const char *s, struct net_addr *a, int map_v4);
int net_pattern_match(const struct net_pattern *np, const struct net_addr *a);

#endif
