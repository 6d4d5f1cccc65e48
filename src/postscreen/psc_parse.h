/*
 * psc_parse.h - postscreen's parsers of configuration and wire input,
 * without I/O (unit-tested and fuzzed on their own):
 *   - postscreen_dnsbl_sites: "domain[=filter][*weight]" entries;
 *   - the upstream PROXY protocol header (haproxy v1 text, v2 binary);
 *   - the action names (ignore, enforce, drop) and Postfix's delay format.
 */
#ifndef YUBIN_PSC_PARSE_H
#define YUBIN_PSC_PARSE_H

#include <stddef.h>

#define PSC_DNSBL_SITES_MAX 64      /* entries in postscreen_dnsbl_sites */
#define PSC_DNSBL_DOMAIN_MAX 255
#define PSC_DNSBL_FILTER_MAX 128

struct psc_dnsbl_site {
    char domain[PSC_DNSBL_DOMAIN_MAX + 1];
    char filter[PSC_DNSBL_FILTER_MAX];  /* "" = any address answers */
    int weight;                         /* may be negative (allowlists) */
};

/*
 * Parse postscreen_dnsbl_sites (entries separated by spaces or commas):
 * the number of entries (0..max), or -1 with err ("bad DNSBL weight
 * factor ...", Postfix's words).
 */
int psc_dnsbl_sites_parse(const char *value, struct psc_dnsbl_site *out, size_t max, char *err,
                          size_t errlen);

/* Actions of the tests (postscreen_*_action). */
enum psc_action { PSC_ACT_IGNORE, PSC_ACT_ENFORCE, PSC_ACT_DROP };
/* 0 with *act, -1 for an unknown name. */
int psc_action_parse(const char *name, enum psc_action *act);

/* The PROXY protocol (haproxy) header. */
#define PSC_PROXY_V1_MAX 108        /* the longest v1 line with its CR LF */
#define PSC_PROXY_V2_MAX 536        /* 16-byte header + the longest address block we accept */

struct psc_proxy {
    int local;                      /* LOCAL / UNKNOWN: keep the connection's own addresses */
    char client_addr[64], client_port[8];
    char server_addr[64], server_port[8];
};

/*
 * Parse a PROXY header at the start of data[0..len): the header's length
 * (> 0) with *out filled, 0 when more bytes are needed, -1 when it is not
 * a valid header (with err).
 */
int psc_proxy_parse(const unsigned char *data, size_t len, struct psc_proxy *out, char *err,
                    size_t errlen);

/* Postfix's delay text: two significant digits, e.g. "0.1", "0.05", "6", "12". */
void psc_format_delay(unsigned long long ms, char *out, size_t outlen);

/* Make text printable for a log line (Postfix's escape()): at most max input bytes. */
void psc_escape(const char *in, size_t len, size_t max, char *out, size_t outlen);

#endif
