/*
 * fuzz_postscreen.c - postscreen's parsers of untrusted and configured
 * text (src/postscreen/psc_parse.c): the upstream PROXY header (v1 text,
 * v2 binary) that a load balancer - or anyone who can reach the port when
 * postscreen_upstream_proxy_protocol is set - sends first; the
 * postscreen_dnsbl_sites list; the hand-off attribute line
 * (lib-master/passfd.h); the log escaping.
 *
 * Input: byte 0 picks the parser (even: PROXY header, 1 mod 4: DNSBL
 * sites, 3 mod 4: hand-off line), the rest is its input.
 *
 * Invariants beyond "no crash":
 *  - a parsed PROXY header is no longer than the input and no longer than
 *    the protocol allows (v1 108 bytes, v2 PSC_PROXY_V2_MAX); its addresses
 *    are C strings that parse back as addresses (unless LOCAL), ports are
 *    numbers 0..65535; a header is parsed the same on its own;
 *  - "need more" is answered only for a strict prefix of a header: the
 *    input with more bytes is never an error because of those bytes' absence;
 *  - DNSBL sites: 0..max entries, each with a non-empty domain and a
 *    filter that dns_reply_filter_valid accepts (or none);
 *  - the escaped log text is printable ASCII.
 * max_len: 1024
 */
#include "fuzz.h"
#include "lib-dns/dns.h"
#include "lib-master/passfd.h"
#include "postscreen/psc_parse.h"

#include <arpa/inet.h>

static void check_addr(const char *a)
{
    unsigned char bin[16];
    FUZZ_ASSERT(inet_pton(AF_INET, a, bin) == 1 || inet_pton(AF_INET6, a, bin) == 1);
}

static void check_port(const char *p)
{
    char *end;
    long n = strtol(p, &end, 10);
    FUZZ_ASSERT(*p && !*end && n >= 0 && n <= 65535);
}

static void fuzz_proxy(const uint8_t *data, size_t size)
{
    struct psc_proxy p, q;
    char err[160];
    int n = psc_proxy_parse(data, size, &p, err, sizeof(err));
    FUZZ_ASSERT(n >= -1 && (size_t)(n < 0 ? 0 : n) <= size);
    FUZZ_ASSERT(n <= PSC_PROXY_V2_MAX);
    if (n <= 0)
        return;
    if (!p.local) {
        check_addr(p.client_addr);
        check_addr(p.server_addr);
        check_port(p.client_port);
        check_port(p.server_port);
    }
    FUZZ_ASSERT(psc_proxy_parse(data, (size_t)n, &q, err, sizeof(err)) == n);
    FUZZ_ASSERT(q.local == p.local && strcmp(q.client_addr, p.client_addr) == 0 &&
                strcmp(q.client_port, p.client_port) == 0);
    for (size_t k = 1; k < (size_t)n; k++)
        FUZZ_ASSERT(psc_proxy_parse(data, k, &q, err, sizeof(err)) == 0);
}

static void fuzz_sites(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct psc_dnsbl_site s[8];
    char err[256];
    int n = psc_dnsbl_sites_parse(text, s, 8, err, sizeof(err));
    FUZZ_ASSERT(n >= -1 && n <= 8);
    for (int i = 0; i < n; i++) {
        FUZZ_ASSERT(s[i].domain[0] && strlen(s[i].domain) <= PSC_DNSBL_DOMAIN_MAX);
        FUZZ_ASSERT(!s[i].filter[0] || dns_reply_filter_valid(s[i].filter) == 0);
    }
    char esc[1024];
    psc_escape(text, size, 200, esc, sizeof(esc));
    for (const char *c = esc; *c; c++)
        FUZZ_ASSERT(*c >= ' ' && *c <= '~');
    free(text);
}

static void fuzz_passline(const uint8_t *data, size_t size)
{
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    struct passfd_info info;
    if (passfd_parse(text, &info) == 0) {
        FUZZ_ASSERT(info.client_addr[0] && info.client_port[0] && info.server_addr[0] &&
                    info.server_port[0]);
        FUZZ_ASSERT(!strchr(info.client_addr, ' ') && !strchr(info.server_port, '\n'));
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    if (data[0] % 2 == 0)
        fuzz_proxy(data + 1, size - 1);
    else if (data[0] % 4 == 1)
        fuzz_sites(data + 1, size - 1);
    else
        fuzz_passline(data + 1, size - 1);
    return 0;
}
