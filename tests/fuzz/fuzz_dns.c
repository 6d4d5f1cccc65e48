/*
 * fuzz_dns.c - DNS reply messages as the resolver parses them
 * (src/lib-dns/dns.c: dns_parse_answer), and the DNS list reply filters
 * (dns_reply_filter_valid/match). Replies come from servers on the
 * Internet (or whoever can spoof them): every byte is untrusted.
 *
 * Input: byte 0 picks the record type asked for (A, AAAA, MX, TXT, PTR,
 * CNAME, SRV, TLSA); the rest is the reply message.
 *
 * Invariants beyond "no crash":
 *  - DNS_OK comes with 1..DNS_RR_MAX records, every one of the asked type;
 *    any other status with none;
 *  - names are C strings without a final dot or an escape (a record whose
 *    target needs one is skipped), within DNS_NAME_MAX + 1;
 *    A/AAAA records have the right family and a text form that parses;
 *    TXT/TLSA data stays within DNS_RDATA_MAX;
 *  - the same message parses to the same answer twice.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-dns/dns.h"

#include <arpa/inet.h>

static const int types[] = {DNS_T_A,   DNS_T_AAAA, DNS_T_MX,  DNS_T_TXT,
                            DNS_T_PTR, DNS_T_CNAME, DNS_T_SRV, DNS_T_TLSA};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    int qtype = types[data[0] % ARRAY_LEN(types)];
    struct dns_answer a, b;
    int st = dns_parse_answer(data + 1, size - 1, qtype, &a);
    FUZZ_ASSERT(st == a.status);
    FUZZ_ASSERT(st == DNS_OK ? a.n >= 1 && a.n <= DNS_RR_MAX : a.n == 0);
    for (size_t i = 0; i < a.n; i++) {
        const struct dns_rr *rr = &a.rr[i];
        FUZZ_ASSERT(rr->type == qtype);
        size_t nl = strnlen(rr->name, sizeof(rr->name));
        FUZZ_ASSERT(nl < sizeof(rr->name) && (nl == 0 || rr->name[nl - 1] != '.'));
        FUZZ_ASSERT(!strchr(rr->name, '\\'));
        if (qtype == DNS_T_A || qtype == DNS_T_AAAA) {
            unsigned char back[16];
            FUZZ_ASSERT(rr->family == (qtype == DNS_T_A ? AF_INET : AF_INET6));
            FUZZ_ASSERT(inet_pton(rr->family, rr->text, back) == 1);
            FUZZ_ASSERT(memcmp(back, rr->addr, qtype == DNS_T_A ? 4 : 16) == 0);
        }
        if (qtype == DNS_T_TXT || qtype == DNS_T_TLSA)
            FUZZ_ASSERT(rr->data && rr->len <= DNS_RDATA_MAX);
    }
    FUZZ_ASSERT(dns_parse_answer(data + 1, size - 1, qtype, &b) == st && b.n == a.n);
    for (size_t i = 0; i < a.n; i++)
        FUZZ_ASSERT(strcmp(a.rr[i].name, b.rr[i].name) == 0 && a.rr[i].ttl == b.rr[i].ttl);
    dns_answer_free(&a);
    dns_answer_free(&b);

    /* the bytes as a reply filter and as an address it might match */
    char text[64];
    size_t n = size - 1 < sizeof(text) - 1 ? size - 1 : sizeof(text) - 1;
    memcpy(text, data + 1, n);
    text[n] = '\0';
    if (strlen(text) == n && dns_reply_filter_valid(text) == 0)
        (void)dns_reply_filter_match(text, "127.0.0.2");
    (void)dns_reply_filter_match("127.0.0.[2..11]", text);
    return 0;
}
