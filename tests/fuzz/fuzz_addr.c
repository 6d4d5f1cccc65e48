/*
 * fuzz_addr.c - the address parsers of src/lib-mail/addr.c and addrlist.c:
 * addr_parse_path (MAIL FROM / RCPT TO paths), addr_parse_header_list
 * (From:/To:/Cc: values for sendmail -t), addr_items_parse in lenient
 * mode (the structure IMAP's ENVELOPE shows), addr_split, addr_strip_ext, addr_external,
 * hostname_valid/hostname_is_fqdn/domain_valid/addr_literal_valid,
 * utf8_valid and xtext_encode/xtext_decode.
 *
 * Input: byte 0 holds flags (strict_rfc821_envelopes, SMTPUTF8, which
 * parser), the rest is the text (up to its first NUL, as a C string).
 *
 * Invariants beyond "no crash":
 *  - a parsed path fits its buffer, is valid UTF-8 (8-bit only with
 *    SMTPUTF8), and the params pointer points into the line;
 *  - round trip: addr_external(addr) wrapped in <...> parses again, in
 *    strict mode, to the same internal address;
 *  - addr_split puts the address back together; addr_strip_ext's result
 *    plus a delimiter and the extension gives the original;
 *  - hostname_is_fqdn implies hostname_valid; a valid hostname is at most
 *    255 bytes; domain_valid without UTF-8 implies it with UTF-8;
 *  - header lists: at most max addresses, each at most ADDR_MAX bytes;
 *  - xtext: decode(encode(s)) == s.
 * max_len: 1024
 */
#include "fuzz.h"
#include "lib-mail/addr.h"
#include "lib-mail/addrlist.h"

static void check_path(char *line, int strict, int utf8)
{
    size_t linelen = strlen(line);
    char addr[ADDR_MAX];
    char *params = NULL;
    const char *why = NULL;
    int r = addr_parse_path(line, strict, utf8, addr, sizeof(addr), &params, &why);
    if (r < 0) {
        int code = 0;
        const char *text = addr_path_reply(r, r & 1, &code);
        FUZZ_ASSERT(text && (code == 500 || code == 501));
        return;
    }
    FUZZ_ASSERT(r == 0);
    size_t alen = strlen(addr);
    FUZZ_ASSERT(alen < sizeof(addr));
    FUZZ_ASSERT(params && params >= line && params <= line + linelen);
    FUZZ_ASSERT(utf8_valid(addr, alen));
    if (!utf8)
        for (size_t i = 0; i < alen; i++)
            FUZZ_ASSERT((unsigned char)addr[i] < 0x80);

    /* Round trip through the external (quoted) form. */
    char ext[2 * ADDR_MAX + 8];
    if (addr_external(addr, ext + 1, sizeof(ext) - 2) == 0) {
        ext[0] = '<';
        size_t n = strlen(ext);
        FUZZ_ASSERT(n + 2 <= sizeof(ext));
        ext[n] = '>';
        ext[n + 1] = '\0';
        char again[ADDR_MAX];
        char *p2 = NULL;
        const char *why2 = NULL;
        int r2 = addr_parse_path(ext, 1, utf8, again, sizeof(again), &p2, &why2);
        if (r2 != 0 || strcmp(again, addr) != 0) {
            fprintf(stderr, "round trip: <%s> -> %s -> %d <%s>\n", addr, ext, r2,
                    r2 == 0 ? again : "");
            FUZZ_ASSERT(!"external form parses back to the same address");
        }
    }

    /* Split and join. */
    char local[ADDR_MAX], domain[ADDR_MAX];
    addr_split(addr, local, sizeof(local), domain, sizeof(domain));
    if (domain[0]) {
        FUZZ_ASSERT(strlen(local) + 1 + strlen(domain) == alen);
        FUZZ_ASSERT(strncmp(addr, local, strlen(local)) == 0 && addr[strlen(local)] == '@');
        FUZZ_ASSERT(strcmp(addr_domain(addr), domain) == 0);
    }

    /* Extensions. */
    char out[ADDR_MAX], extn[ADDR_MAX];
    int s = addr_strip_ext(addr, "+-", out, sizeof(out), extn, sizeof(extn));
    FUZZ_ASSERT(s >= -1 && s <= 1);
    if (s == 0)
        FUZZ_ASSERT(strcmp(out, addr) == 0);
    if (s == 1) {
        char ol[ADDR_MAX], od[ADDR_MAX];
        addr_split(out, ol, sizeof(ol), od, sizeof(od));
        size_t ll = strlen(ol);
        FUZZ_ASSERT(strncmp(addr, ol, ll) == 0 && strchr("+-", addr[ll]) && addr[ll]);
        FUZZ_ASSERT(strncmp(addr + ll + 1, extn, strlen(extn)) == 0);
        FUZZ_ASSERT(strlen(out) + 1 + strlen(extn) == alen);
    }
}

static void check_names(const char *s)
{
    int hv = hostname_valid(s);
    if (hostname_is_fqdn(s))
        FUZZ_ASSERT(hv);
    if (hv)
        FUZZ_ASSERT(strlen(s) <= 255);
    if (domain_valid(s, 0))
        FUZZ_ASSERT(domain_valid(s, 1));
    (void)addr_literal_valid(s);
    (void)ipv4_valid(s);
}

static void check_header(const char *s, size_t max)
{
    char **v = NULL;
    int n = addr_parse_header_list(s, max, &v);
    if (n < 0) {
        FUZZ_ASSERT(v == NULL);
        return;
    }
    FUZZ_ASSERT(v && (size_t)n <= max && strv_len(v) == (size_t)n);
    for (int i = 0; i < n; i++)
        FUZZ_ASSERT(strlen(v[i]) <= ADDR_MAX);
    strv_free(v);
}

/* The lenient structured parse (IMAP ENVELOPE): always an answer within
 * max items; an address always has a mailbox and a domain; groups balance
 * and do not nest; a strictly valid list gives the same addresses. */
static void check_items(const char *s, size_t max)
{
    struct addr_items it;
    int n = addr_items_parse(s, max, ADDRLIST_LENIENT, &it);
    FUZZ_ASSERT(n >= 0 && (size_t)n == it.n && it.n <= max);
    int depth = 0;
    size_t addrs = 0;
    for (size_t i = 0; i < it.n; i++) {
        const struct addr_item *a = &it.v[i];
        if (a->kind == ADDR_ITEM_MAILBOX) {
            FUZZ_ASSERT(a->mailbox && a->domain && *a->mailbox && *a->domain);
            FUZZ_ASSERT(strlen(a->mailbox) < ADDRLIST_ELEM_TEXT);
            addrs++;
        } else if (a->kind == ADDR_ITEM_GROUP_START) {
            FUZZ_ASSERT(depth == 0 && a->mailbox && !a->domain);
            depth++;
        } else {
            FUZZ_ASSERT(depth == 1 && !a->mailbox && !a->domain);
            depth--;
        }
    }
    char **v = NULL;
    int strict = addr_parse_header_list(s, max, &v);
    if (strict >= 0 && it.n < max)
        FUZZ_ASSERT((size_t)strict <= addrs);
    strv_free(v);
    addr_items_free(&it);
}

static void check_xtext(const char *s)
{
    char enc[4 * ADDR_MAX], dec[4 * ADDR_MAX];
    if (xtext_encode(s, enc, sizeof(enc)) < 0)
        return;
    FUZZ_ASSERT(xtext_decode(enc, strlen(enc), dec, sizeof(dec)) == 0);
    FUZZ_ASSERT(strcmp(dec, s) == 0);
    /* Decoding arbitrary text must stay in bounds. */
    (void)xtext_decode(s, strlen(s), dec, sizeof(dec));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_quiet();
    unsigned flags = data[0];
    char *s = fuzz_strndup(data + 1, size - 1);
    switch ((flags >> 2) & 3) {
    case 0:
    case 1:
        check_path(s, flags & 1, (flags >> 1) & 1);
        break;
    case 2:
        check_names(s);
        check_xtext(s);
        break;
    case 3:
        check_header(s, (flags >> 4) + 1);
        check_items(s, (flags >> 4) + 1);
        break;
    }
    free(s);
    return 0;
}
