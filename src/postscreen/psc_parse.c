/*
 * psc_parse.c - postscreen's pure parsers: DNSBL site list, PROXY header,
 * action names, delay and log text formatting (see psc_parse.h).
 */
#include "postscreen/psc_parse.h"
#include "lib-dns/dns.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- postscreen_dnsbl_sites ------------------------------------------------ */

static int domain_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > PSC_DNSBL_DOMAIN_MAX || d[0] == '.' || d[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return 0;
        if (c == '.' && d[i + 1] == '.')
            return 0;
    }
    return 1;
}

/* One entry "domain[=filter][*weight]" (not NUL-terminated: len). */
static int parse_site(const char *s, size_t len, struct psc_dnsbl_site *out, char *err,
                      size_t errlen)
{
    char entry[PSC_DNSBL_DOMAIN_MAX + PSC_DNSBL_FILTER_MAX + 32];
    if (len >= sizeof(entry)) {
        str_fmt(err, errlen, "DNSBL entry too long: \"%.60s...\"", s);
        return -1;
    }
    memcpy(entry, s, len);
    entry[len] = '\0';
    memset(out, 0, sizeof(*out));
    out->weight = 1;
    char *star = strrchr(entry, '*');
    if (star) {
        *star = '\0';
        char *end;
        errno = 0;
        long w = strtol(star + 1, &end, 10);
        if (star[1] == '\0' || *end || errno || w < -10000 || w > 10000) {
            str_fmt(err, errlen, "bad DNSBL weight factor \"%.20s\" in \"%.100s\"", star + 1, s);
            return -1;
        }
        out->weight = (int)w;
    }
    char *eq = strchr(entry, '=');
    if (eq) {
        *eq = '\0';
        if (strlen(eq + 1) >= sizeof(out->filter) || dns_reply_filter_valid(eq + 1) < 0) {
            str_fmt(err, errlen, "bad DNSBL filter syntax: %.100s", eq + 1);
            return -1;
        }
        str_copy(out->filter, eq + 1, sizeof(out->filter));
    }
    if (!domain_ok(entry)) {
        str_fmt(err, errlen, "bad DNSBL domain name \"%.100s\" in \"%.100s\"", entry, s);
        return -1;
    }
    str_copy(out->domain, entry, sizeof(out->domain));
    return 0;
}

int psc_dnsbl_sites_parse(const char *value, struct psc_dnsbl_site *out, size_t max, char *err,
                          size_t errlen)
{
    size_t n = 0;
    const char *p = value;
    for (;;) {
        p += strspn(p, " \t\r\n,");
        if (!*p)
            break;
        size_t len = strcspn(p, " \t\r\n,");
        if (n >= max) {
            str_fmt(err, errlen, "more than %zu DNSBL sites", max);
            return -1;
        }
        if (parse_site(p, len, &out[n], err, errlen) < 0)
            return -1;
        n++;
        p += len;
    }
    return (int)n;
}

int psc_action_parse(const char *name, enum psc_action *act)
{
    if (str_ieq(name, "ignore"))
        *act = PSC_ACT_IGNORE;
    else if (str_ieq(name, "enforce"))
        *act = PSC_ACT_ENFORCE;
    else if (str_ieq(name, "drop"))
        *act = PSC_ACT_DROP;
    else
        return -1;
    return 0;
}

/* ---- PROXY protocol v1 ----------------------------------------------------- */

static int v1_addr(const char *w, int family, char *out, size_t outlen)
{
    unsigned char bin[16];
    if (strlen(w) >= outlen || inet_pton(family, w, bin) != 1)
        return -1;
    str_copy(out, w, outlen);
    return 0;
}

static int v1_port(const char *w, char *out, size_t outlen)
{
    char *end;
    if (!isdigit((unsigned char)w[0]) || strlen(w) > 5)
        return -1;
    long p = strtol(w, &end, 10);
    if (*end || p < 0 || p > 65535)
        return -1;
    str_fmt(out, outlen, "%ld", p);
    return 0;
}

static int proxy_v1(const unsigned char *data, size_t len, struct psc_proxy *out, char *err,
                    size_t errlen)
{
    size_t i = 0;
    while (i < len && i < PSC_PROXY_V1_MAX && data[i] != '\n')
        i++;
    if (i == len && len < PSC_PROXY_V1_MAX)
        return 0;
    if (i >= PSC_PROXY_V1_MAX || i < 7 || data[i - 1] != '\r') {
        str_fmt(err, errlen, "bad or missing PROXY v1 line end");
        return -1;
    }
    char line[PSC_PROXY_V1_MAX + 1];
    memcpy(line, data, i - 1);
    line[i - 1] = '\0';
    char *w[7];
    size_t nw = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (nw == 7) {
            str_fmt(err, errlen, "too many words in a PROXY v1 line");
            return -1;
        }
        w[nw++] = t;
    }
    memset(out, 0, sizeof(*out));
    if (nw >= 2 && strcmp(w[0], "PROXY") == 0 && strcmp(w[1], "UNKNOWN") == 0) {
        out->local = 1;
        return (int)(i + 1);
    }
    int family = nw == 6 && strcmp(w[1], "TCP4") == 0 ? AF_INET
                 : nw == 6 && strcmp(w[1], "TCP6") == 0 ? AF_INET6 : 0;
    if (nw < 2 || strcmp(w[0], "PROXY") != 0 || !family ||
        v1_addr(w[2], family, out->client_addr, sizeof(out->client_addr)) < 0 ||
        v1_addr(w[3], family, out->server_addr, sizeof(out->server_addr)) < 0 ||
        v1_port(w[4], out->client_port, sizeof(out->client_port)) < 0 ||
        v1_port(w[5], out->server_port, sizeof(out->server_port)) < 0) {
        str_fmt(err, errlen, "bad PROXY v1 line");
        return -1;
    }
    return (int)(i + 1);
}

/* ---- PROXY protocol v2 ----------------------------------------------------- */

static const unsigned char v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static void v2_addr(int family, const unsigned char *a, const unsigned char *port, char *addr,
                    size_t alen, char *p, size_t plen)
{
    inet_ntop(family, a, addr, (socklen_t)alen);
    /* An IPv4-mapped IPv6 client is the IPv4 client, as smtpd logs it. */
    if (family == AF_INET6 && strncmp(addr, "::ffff:", 7) == 0 && strchr(addr + 7, '.'))
        memmove(addr, addr + 7, strlen(addr + 7) + 1);
    str_fmt(p, plen, "%u", (unsigned)(port[0] << 8 | port[1]));
}

static int proxy_v2(const unsigned char *data, size_t len, struct psc_proxy *out, char *err,
                    size_t errlen)
{
    if (len < 16)
        return 0;
    unsigned ver = data[12] >> 4, cmd = data[12] & 0x0F, fam = data[13];
    size_t alen = (size_t)data[14] << 8 | data[15];
    if (ver != 2 || cmd > 1) {
        str_fmt(err, errlen, "unsupported PROXY v2 version/command 0x%02x", data[12]);
        return -1;
    }
    if (16 + alen > PSC_PROXY_V2_MAX) {
        str_fmt(err, errlen, "PROXY v2 address block too long (%zu bytes)", alen);
        return -1;
    }
    if (len < 16 + alen)
        return 0;
    memset(out, 0, sizeof(*out));
    const unsigned char *a = data + 16;
    if (cmd == 0 || fam == 0x00) {          /* LOCAL, or UNSPEC: the proxy's own connection */
        out->local = 1;
    } else if (fam == 0x11 && alen >= 12) { /* TCP over IPv4 */
        v2_addr(AF_INET, a, a + 8, out->client_addr, sizeof(out->client_addr), out->client_port,
                sizeof(out->client_port));
        v2_addr(AF_INET, a + 4, a + 10, out->server_addr, sizeof(out->server_addr),
                out->server_port, sizeof(out->server_port));
    } else if (fam == 0x21 && alen >= 36) { /* TCP over IPv6 */
        v2_addr(AF_INET6, a, a + 32, out->client_addr, sizeof(out->client_addr),
                out->client_port, sizeof(out->client_port));
        v2_addr(AF_INET6, a + 16, a + 34, out->server_addr, sizeof(out->server_addr),
                out->server_port, sizeof(out->server_port));
    } else {
        str_fmt(err, errlen, "unsupported PROXY v2 address family 0x%02x", fam);
        return -1;
    }
    return (int)(16 + alen);
}

int psc_proxy_parse(const unsigned char *data, size_t len, struct psc_proxy *out, char *err,
                    size_t errlen)
{
    static const char v1_sig[] = "PROXY ";
    size_t n = len < 12 ? len : 12;
    if (memcmp(data, v2_sig, n) == 0)
        return n < 12 ? 0 : proxy_v2(data, len, out, err, errlen);
    n = len < 6 ? len : 6;
    if (memcmp(data, v1_sig, n) == 0)
        return n < 6 ? 0 : proxy_v1(data, len, out, err, errlen);
    str_fmt(err, errlen, "no PROXY protocol header");
    return -1;
}

/* ---- log text ------------------------------------------------------------------ */

void psc_format_delay(unsigned long long ms, char *out, size_t outlen)
{
    if (ms >= 10000) {
        str_fmt(out, outlen, "%llu", ms / 1000);
        return;
    }
    if (ms >= 1000)
        str_fmt(out, outlen, "%llu.%llu", ms / 1000, ms % 1000 / 100);
    else
        str_fmt(out, outlen, "0.%02llu", ms / 10);
    /* No trailing zeros: "0.10" -> "0.1", "6.0" -> "6", "0.00" -> "0". */
    size_t l = strlen(out);
    while (out[l - 1] == '0')
        out[--l] = '\0';
    if (out[l - 1] == '.')
        out[--l] = '\0';
}

void psc_escape(const char *in, size_t len, size_t max, char *out, size_t outlen)
{
    size_t o = 0;
    if (len > max)
        len = max;
    for (size_t i = 0; i < len && o + 5 < outlen; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\r') {
            out[o++] = '\\';
            out[o++] = 'r';
        } else if (c == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c == '\\') {
            out[o++] = '\\';
            out[o++] = '\\';
        } else if (c < 0x20 || c >= 0x7f) {
            o += (size_t)snprintf(out + o, outlen - o, "\\%03o", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}
