/*
 * config_sys.c - defaults Postfix derives from the machine at run time:
 * myhostname (the FQDN), mydomain, mynetworks (from mynetworks_style and
 * the interface addresses), and which address families inet_protocols
 * selects.
 */
#include "lib-conf/config_int.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* gethostname(), or its canonical name when that has no dot; NULL if neither is an FQDN. */
static char *machine_fqdn(char *shortname, size_t len)
{
    char host[256];
    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        str_copy(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    str_copy(shortname, host, len);
    if (strchr(host, '.'))
        return xstrdup(host);
    struct addrinfo hints = {.ai_flags = AI_CANONNAME, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    char *r = NULL;
    if (getaddrinfo(host, NULL, &hints, &res) == 0 && res && res->ai_canonname &&
        strchr(res->ai_canonname, '.'))
        r = xstrdup(res->ai_canonname);
    if (res)
        freeaddrinfo(res);
    return r;
}

/*
 * Postfix: "the fully-qualified domain name from gethostname(), or the
 * non-FQDN result from gethostname() with .$mydomain appended" - where
 * $mydomain falls back to "localdomain" when it is not set.
 */
char *cfg_sys_hostname_default(const struct config *cfg)
{
    static char *fqdn;
    static char shortname[256];
    static int done;
    if (!done) {
        fqdn = machine_fqdn(shortname, sizeof(shortname));
        done = 1;
    }
    if (fqdn)
        return xstrdup(fqdn);
    if (cfg_is_set(cfg, P_mydomain))
        return xasprintf("%s.$mydomain", shortname);
    return xasprintf("%s.localdomain", shortname);
}

/* $myhostname minus its first label, or "localdomain". */
char *cfg_sys_domain_default(const struct config *cfg)
{
    const char *h = cfg_get(cfg, P_myhostname);
    const char *dot = h ? strchr(h, '.') : NULL;
    if (dot && dot[1])
        return xstrdup(dot + 1);
    return xstrdup("localdomain");
}

void cfg_inet_protocols(const struct config *cfg, int *want4, int *want6)
{
    *want4 = *want6 = 0;
    char **v = cfg_get_list(cfg, P_inet_protocols);
    for (char **p = v; *p; p++) {
        if (str_ieq(*p, "all")) {
            *want4 = 1;
            int s = socket(AF_INET6, SOCK_STREAM, 0);
            if (s >= 0) {
                *want6 = 1;
                close(s);
            }
        } else if (str_ieq(*p, "ipv4")) {
            *want4 = 1;
        } else if (str_ieq(*p, "ipv6")) {
            *want6 = 1;
        }
    }
    strv_free(v);
}

static int prefix_len(const unsigned char *mask, size_t n)
{
    int bits = 0;
    for (size_t i = 0; i < n; i++)
        for (int b = 7; b >= 0; b--) {
            if (!(mask[i] & (1u << b)))
                return bits;
            bits++;
        }
    return bits;
}

static void apply_prefix(unsigned char *addr, size_t n, int bits)
{
    for (size_t i = 0; i < n; i++) {
        int keep = bits - (int)i * 8;
        if (keep >= 8)
            continue;
        addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
}

static void add_net(struct buf *b, const char *net)
{
    /* Several interfaces may share a network: list it once. */
    char **have = str_split_list(buf_cstr(b), NULL);
    int dup = 0;
    for (char **p = have; *p && !dup; p++)
        dup = strcmp(*p, net) == 0;
    strv_free(have);
    if (dup)
        return;
    if (b->len)
        buf_putc(b, ' ');
    buf_puts(b, net);
}

/* One pass over the interfaces for one family. */
static void interface_nets(struct buf *b, int family, const char *style)
{
    struct ifaddrs *ifa = NULL;
    if (getifaddrs(&ifa) < 0)
        return;
    int host = strcmp(style, "host") == 0, cls = strcmp(style, "class") == 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != family)
            continue;
        char text[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN + 24];
        if (family == AF_INET) {
            struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
            unsigned char *ab = (unsigned char *)&a;
            int bits = 32;
            if (ab[0] == 127)
                continue;                   /* loopback is always listed first */
            if (!host && i->ifa_netmask)
                bits = prefix_len((unsigned char *)&((struct sockaddr_in *)i->ifa_netmask)->sin_addr, 4);
            if (cls)
                bits = ab[0] < 128 ? 8 : ab[0] < 192 ? 16 : ab[0] < 224 ? 24 : bits;
            apply_prefix(ab, 4, bits);
            inet_ntop(AF_INET, &a, text, sizeof(text));
            snprintf(net, sizeof(net), "%s/%d", text, bits);
        } else {
            struct in6_addr a = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
            int bits = 128;
            if (IN6_IS_ADDR_LOOPBACK(&a))
                continue;
            if (!host && i->ifa_netmask)
                bits = prefix_len(((struct sockaddr_in6 *)i->ifa_netmask)->sin6_addr.s6_addr, 16);
            apply_prefix(a.s6_addr, 16, bits);
            inet_ntop(AF_INET6, &a, text, sizeof(text));
            snprintf(net, sizeof(net), "[%s]/%d", text, bits);
        }
        add_net(b, net);
    }
    freeifaddrs(ifa);
}

/*
 * mynetworks from mynetworks_style: "host" trusts this machine (loopback
 * and each interface address), "subnet" each interface's subnet, "class"
 * each IPv4 interface's class A/B/C network (IPv6 as subnet).
 */
char *cfg_sys_mynetworks(const struct config *cfg)
{
    const char *style = cfg_get(cfg, P_mynetworks_style);
    if (!style || (strcmp(style, "subnet") != 0 && strcmp(style, "class") != 0))
        style = "host";
    int want4, want6;
    cfg_inet_protocols(cfg, &want4, &want6);
    struct buf b;
    buf_init(&b, CFG_VALUE_MAX);
    if (want4) {
        add_net(&b, "127.0.0.0/8");
        interface_nets(&b, AF_INET, style);
    }
    if (want6) {
        add_net(&b, "[::1]/128");
        interface_nets(&b, AF_INET6, style);
    }
    char *r = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return r;
}
