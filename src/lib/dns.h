/*
 * dns.h - asynchronous DNS on the event loop (c-ares).
 *
 * Owns: the resolver channel of a worker, its sockets registered with the
 * evloop, and the few questions mail needs: does a domain exist for mail
 * (MX, else A/AAAA), reverse name of a client (PTR, forward-confirmed),
 * and A lookups (DNSBL). For tests, the environment variable
 * YUBIN_DNS_SERVERS="127.0.0.1:5353" replaces the system resolvers, so no
 * test ever queries a server off this machine.
 */
#ifndef YUBIN_DNS_H
#define YUBIN_DNS_H

#include <stddef.h>
#include <sys/socket.h>

struct evloop;
struct dns;

#define DNS_OK        0
#define DNS_NOTFOUND  1   /* NXDOMAIN or no data: permanent */
#define DNS_TEMPFAIL  2   /* SERVFAIL, timeout */

/* result: the name found (PTR, MX host ...) or NULL. */
typedef void (*dns_cb)(int status, const char *result, void *arg);

struct dns *dns_new(struct evloop *loop);
/* Same with an explicit per-try timeout (ms) and number of tries; 0 keeps
 * the system default (resolv.conf options timeout:/attempts:). */
struct dns *dns_new_opts(struct evloop *loop, int timeout_ms, int tries);
/* Cancels everything pending without calling back. Never call it from a dns_cb. */
void dns_free(struct dns *d);

/*
 * Callbacks never run inside the dns_* call that started the lookup: they
 * come later from the event loop (a zero-delay timer), so a caller can
 * start a lookup and then return "pending" without reentrancy surprises.
 */

/*
 * MX, falling back to A and AAAA, as Postfix's reject_unknown_*_domain.
 * DNS_OK: result is the best MX host (or the domain itself for A/AAAA).
 * DNS_NOTFOUND: NXDOMAIN, no MX/A/AAAA, or a null MX (RFC 7505 "0 .");
 * for the null MX result is "." so the caller can say so.
 */
void dns_domain_exists(struct dns *d, const char *domain, dns_cb cb, void *arg);
/*
 * PTR then forward confirmation (the name must resolve back to the address).
 * /etc/hosts is consulted first, as the system resolver ("hosts: files dns")
 * does, so 127.0.0.1 gives "localhost"; YUBIN_DNS_HOSTS=/path replaces
 * /etc/hosts (tests). Results:
 *   DNS_OK, verified name;
 *   DNS_NOTFOUND, NULL: no PTR;  DNS_NOTFOUND, ptrname: PTR did not confirm;
 *   DNS_TEMPFAIL, NULL: PTR lookup failed; DNS_TEMPFAIL, ptrname: forward failed.
 * (Postfix's client name vs reverse client name: the ptrname is what
 * reject_unknown_reverse_client_hostname looks at.)
 */
void dns_reverse(struct dns *d, const struct sockaddr *sa, socklen_t salen, dns_cb cb, void *arg);
/* A record (first address as text). */
void dns_lookup_a(struct dns *d, const char *name, dns_cb cb, void *arg);
/* Every A record, as text separated by single spaces (DNSBL reply filters). */
void dns_lookup_a_all(struct dns *d, const char *name, dns_cb cb, void *arg);
/* TXT records: each record's strings concatenated, records separated by '\n'
 * (at most 4 KB in all). */
void dns_lookup_txt(struct dns *d, const char *name, dns_cb cb, void *arg);
/* Drop every pending callback whose arg is `arg` (session went away). */
void dns_cancel(struct dns *d, void *arg);
/* Lookups started and not yet delivered or cancelled (tests, statistics). */
int dns_pending(const struct dns *d);

/* Reverse-lookup name of an address: "4.3.2.1.in-addr.arpa", nibbles for IPv6. */
int dns_ptr_name(const struct sockaddr *sa, char *out, size_t outlen);

#endif
