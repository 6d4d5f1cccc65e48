/*
 * dns.h - the one resolver (c-ares) of every yubin process.
 *
 * Owns: the resolver channel (one set-up for all), typed answers (A, AAAA,
 * MX, TXT, PTR, CNAME, SRV, TLSA records with their TTLs and the reply's
 * DNSSEC AD bit, for DANE later), and two ways to wait for them:
 *   - event-loop mode (dns_new): the channel's sockets are registered with
 *     the evloop, answers come back through callbacks (smtpd, postscreen);
 *   - blocking mode (dns_new_blocking): dns_query_wait() asks and waits in
 *     place, for processes that do one thing at a time (the smtp client).
 * On top of typed answers, the few composite questions mail needs: does a
 * domain exist for mail (MX, else A/AAAA), the reverse name of a client
 * (PTR, forward-confirmed), A and TXT lookups (DNS lists), and the DNS
 * list reply filters ("127.0.0.[2..11]"). For tests, the environment
 * variable YUBIN_DNS_SERVERS="127.0.0.1:5353" replaces the system
 * resolvers, so no test ever queries a server off this machine.
 */
#ifndef YUBIN_DNS_H
#define YUBIN_DNS_H

#include <stddef.h>
#include <sys/socket.h>

struct evloop;
struct dns;

#define DNS_OK        0
#define DNS_NOTFOUND  1   /* NXDOMAIN (composite lookups: or no data): permanent */
#define DNS_TEMPFAIL  2   /* SERVFAIL, timeout */
#define DNS_NODATA    3   /* typed answers only: the name exists, no record of the type */

/* Record types (RFC 1035, 2782, 3596, 6698). */
#define DNS_T_A      1
#define DNS_T_CNAME  5
#define DNS_T_PTR    12
#define DNS_T_MX     15
#define DNS_T_TXT    16
#define DNS_T_AAAA   28
#define DNS_T_SRV    33
#define DNS_T_TLSA   52

#define DNS_NAME_MAX     255     /* a domain name in text form, without the final dot */
#define DNS_RR_MAX       64      /* records kept from one answer */
#define DNS_RDATA_MAX    4096    /* TXT text / TLSA data kept from one record */

/* One resource record of an answer. */
struct dns_rr {
    int type;                    /* DNS_T_* */
    unsigned ttl;                /* seconds */
    int pref;                    /* MX preference, SRV priority */
    int weight, port;            /* SRV */
    int usage, selector, mtype;  /* TLSA */
    char name[DNS_NAME_MAX + 2]; /* MX/SRV target, PTR/CNAME name; no final dot */
    int family;                  /* A: AF_INET, AAAA: AF_INET6 */
    unsigned char addr[16];      /* A (4 bytes), AAAA (16) */
    char text[46];               /* A/AAAA address as text */
    unsigned char *data;         /* TXT (the strings joined), TLSA (association data) */
    size_t len;
};

/* The records of one answer. */
struct dns_answer {
    int status;                  /* DNS_OK, DNS_NOTFOUND, DNS_NODATA, DNS_TEMPFAIL */
    int ad;                      /* the reply's AD bit: validated by the recursive resolver */
    struct dns_rr *rr;           /* status DNS_OK: n >= 1 records of the asked type */
    size_t n;
};

void dns_answer_free(struct dns_answer *a);
/*
 * Parse a reply message (RFC 1035 4.1) into the records of type qtype
 * (CNAME records that lead to them are skipped). Every length is checked
 * against the message; at most DNS_RR_MAX records and DNS_RDATA_MAX bytes
 * of data per record are kept. Returns the status (DNS_OK when at least
 * one record of qtype is there) and fills out (dns_answer_free).
 */
int dns_parse_answer(const unsigned char *msg, size_t len, int qtype, struct dns_answer *out);

typedef void (*dns_answer_cb)(const struct dns_answer *a, void *arg);

/* result: the name found (PTR, MX host ...) or NULL. */
typedef void (*dns_cb)(int status, const char *result, void *arg);

struct dns *dns_new(struct evloop *loop);
/* A channel used with dns_query_wait() only (no event loop); NULL on failure
 * (logged). timeout_ms/tries: 0 keeps the system defaults. */
struct dns *dns_new_blocking(int timeout_ms, int tries);
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
/* Typed question, answer through the event loop (cb never runs inside this call). */
void dns_query(struct dns *d, const char *name, int type, dns_answer_cb cb, void *arg);
/* Typed question, waited for in place (a dns_new_blocking channel). Returns out->status. */
int dns_query_wait(struct dns *d, const char *name, int type, struct dns_answer *out);
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

/*
 * DNS list reply filters (Postfix's "zone=127.0.0.[2..11]" and
 * postscreen_dnsbl_sites): four octet patterns, each a number or
 * "[a;b..c;...]". valid: 0 or -1. match: does the IPv4 address text match?
 */
int dns_reply_filter_valid(const char *filter);
int dns_reply_filter_match(const char *filter, const char *addr);

#endif
