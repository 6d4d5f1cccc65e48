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

#include <sys/socket.h>

struct evloop;
struct dns;

#define DNS_OK        0
#define DNS_NOTFOUND  1   /* NXDOMAIN or no data: permanent */
#define DNS_TEMPFAIL  2   /* SERVFAIL, timeout */

/* result: the name found (PTR, MX host ...) or NULL. */
typedef void (*dns_cb)(int status, const char *result, void *arg);

struct dns *dns_new(struct evloop *loop);
void dns_free(struct dns *d);
/* MX, falling back to A and AAAA, as Postfix's reject_unknown_*_domain. */
void dns_domain_exists(struct dns *d, const char *domain, dns_cb cb, void *arg);
/* PTR then forward confirmation; result is the verified name or NULL ("unknown"). */
void dns_reverse(struct dns *d, const struct sockaddr *sa, socklen_t salen, dns_cb cb, void *arg);
/* A record (first address as text). */
void dns_lookup_a(struct dns *d, const char *name, dns_cb cb, void *arg);
/* Drop every pending callback whose arg is `arg` (session went away). */
void dns_cancel(struct dns *d, void *arg);

#endif
