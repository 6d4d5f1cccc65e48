/*
 * smtp_dest.c - where the SMTP client sends mail: the next-hop syntax of
 * smtp(8) ("domain", "domain:port", "[host]:port", "[ipv6:addr]"), port
 * names (known_tcp_ports, services), the server address list and the
 * order in which it is tried (MX preference, random order among equals,
 * address family preference and balance, smtp_mx_address_limit), and the
 * MX loop check against our own addresses.
 */
#include "deliver/smtp.h"
#include "lib-mail/addr.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

/* ---- ports ---- */

static int port_number(const char *s, unsigned *port)
{
    if (!*s || strlen(s) > 5)
        return -1;
    unsigned v = 0;
    for (const char *p = s; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v < 1 || v > 65535)
        return -1;
    *port = v;
    return 0;
}

/* known_tcp_ports: "lmtp=24, smtp=25, smtps=submissions=465, submission=587". */
static int known_port(const char *name, const char *known, unsigned *port)
{
    char **items = str_split_list(known ? known : "", NULL);
    int found = -1;
    for (char **it = items; *it && found < 0; it++) {
        char *eq = strrchr(*it, '=');
        unsigned num;
        if (!eq || port_number(eq + 1, &num) < 0)
            continue;
        *eq = '\0';
        /* every name before the number: "smtps=submissions=465" */
        for (char *n = *it; n && *n; ) {
            char *next = strchr(n, '=');
            if (next)
                *next++ = '\0';
            if (strcmp(n, name) == 0) {
                *port = num;
                found = 0;
                break;
            }
            n = next;
        }
    }
    strv_free(items);
    return found;
}

int smtp_port_parse(const char *s, const char *known_ports, unsigned *port)
{
    if (port_number(s, port) == 0)
        return 0;
    if (!*s || strlen(s) > 64)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return -1;
    if (known_port(s, known_ports, port) == 0)
        return 0;
    struct servent se, *res = NULL;
    char buf[1024];
    if (getservbyname_r(s, "tcp", &se, buf, sizeof(buf), &res) == 0 && res) {
        *port = ntohs((uint16_t)res->s_port);
        return *port ? 0 : -1;
    }
    return -1;
}

/* ---- destinations ---- */

static int set_err(char *err, size_t errlen, const char *text, const char *dest)
{
    str_fmt(err, errlen, "%s: \"%s\"", text, dest);
    return -1;
}

int smtp_dest_parse(const char *text, unsigned default_port, const char *known_ports,
                    struct smtp_dest *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->port = default_port;
    const char *host = text, *port = NULL;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close)
            return set_err(err, errlen, "missing ']' in destination", text);
        host = text + 1;
        hlen = (size_t)(close - host);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return set_err(err, errlen, "bad destination syntax", text);
    } else {
        const char *colon = strchr(text, ':');
        hlen = colon ? (size_t)(colon - text) : strlen(text);
        if (colon)
            port = colon + 1;
        d->mx = 1;
    }
    if (hlen == 0 || hlen >= sizeof(d->host))
        return set_err(err, errlen, "bad destination syntax", text);
    memcpy(d->host, host, hlen);
    d->host[hlen] = '\0';
    if (port && smtp_port_parse(port, known_ports, &d->port) < 0)
        return set_err(err, errlen, "bad port in destination", text);

    struct smtp_addr a;
    if (!d->mx) {
        /* [address] and [ipv6:address] are used as they are */
        if (str_nieq(d->host, "ipv6:", 5)) {
            if (smtp_addr_from_text(&a, d->host, NULL, 0) < 0 || a.sa.ss_family != AF_INET6)
                return set_err(err, errlen, "bad IPv6 address in destination", text);
            memmove(d->host, d->host + 5, strlen(d->host + 5) + 1);
            d->literal = 1;
        } else if (smtp_addr_from_text(&a, d->host, NULL, 0) == 0) {
            d->literal = 1;
        }
    } else if (smtp_addr_from_text(&a, d->host, NULL, 0) == 0 && a.sa.ss_family == AF_INET) {
        d->literal = 1;            /* a bare IPv4 address has no MX records to look up */
        d->mx = 0;
    }
    if (!d->literal && !hostname_valid(d->host))
        return set_err(err, errlen, "bad host or domain name in destination", text);
    /* "domain." and "domain" are the same destination */
    size_t n = strlen(d->host);
    if (!d->literal && n > 1 && d->host[n - 1] == '.')
        d->host[n - 1] = '\0';
    return 0;
}

char **smtp_dest_split(const char *list)
{
    return str_split_list(list ? list : "", NULL);
}

/* ---- address lists ---- */

void smtp_addr_list_add(struct smtp_addr_list *l, const struct smtp_addr *a)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = *a;
}

void smtp_addr_list_free(struct smtp_addr_list *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int smtp_addr_from_text(struct smtp_addr *a, const char *text, const char *host, int pref)
{
    memset(a, 0, sizeof(*a));
    const char *t = str_nieq(text, "ipv6:", 5) ? text + 5 : text;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&a->sa;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a->sa;
    if (t == text && inet_pton(AF_INET, t, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        a->salen = sizeof(*s4);
    } else if (inet_pton(AF_INET6, t, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        a->salen = sizeof(*s6);
    } else {
        return -1;
    }
    inet_ntop(a->sa.ss_family, a->sa.ss_family == AF_INET ? (void *)&s4->sin_addr
                                                           : (void *)&s6->sin6_addr,
              a->text, sizeof(a->text));
    str_copy(a->host, host ? host : a->text, sizeof(a->host));
    a->pref = pref;
    return 0;
}

static const unsigned char *addr_bytes(const struct smtp_addr *a, int *family)
{
    *family = a->sa.ss_family;
    if (a->sa.ss_family == AF_INET)
        return (const unsigned char *)&((const struct sockaddr_in *)&a->sa)->sin_addr;
    return ((const struct sockaddr_in6 *)&a->sa)->sin6_addr.s6_addr;
}

int smtp_addr_is_own(const struct smtp_settings *s, const struct smtp_addr *a)
{
    int family;
    const unsigned char *b = addr_bytes(a, &family);
    unsigned char mapped[4];
    /* ::ffff:1.2.3.4 is 1.2.3.4 */
    if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)b)) {
        memcpy(mapped, b + 12, 4);
        b = mapped;
        family = AF_INET;
    }
    for (size_t i = 0; i < s->nown; i++)
        if (s->own[i].family == family &&
            memcmp(s->own[i].a, b, family == AF_INET ? 4 : 16) == 0)
            return 1;
    return 0;
}

/* ---- ordering ---- */

static unsigned rnd_default(void *ctx)
{
    (void)ctx;
    return (unsigned)random();
}

void smtp_mx_sort(struct smtp_mx *mx, size_t n, int randomize, unsigned (*rnd)(void *), void *ctx)
{
    if (!rnd)
        rnd = rnd_default;
    if (randomize)                     /* Fisher-Yates, then a stable sort by preference */
        for (size_t i = n; i > 1; i--) {
            size_t k = rnd(ctx) % i;
            struct smtp_mx t = mx[i - 1];
            mx[i - 1] = mx[k];
            mx[k] = t;
        }
    for (size_t i = 1; i < n; i++) {   /* insertion sort: stable, lists are short */
        struct smtp_mx t = mx[i];
        size_t k = i;
        while (k > 0 && mx[k - 1].pref > t.pref) {
            mx[k] = mx[k - 1];
            k--;
        }
        mx[k] = t;
    }
}

/* Stable sort by preference, then (optionally) the preferred family first among equals. */
static void sort_addrs(struct smtp_addr_list *l, int addr_pref)
{
    int first = addr_pref == 6 ? AF_INET6 : addr_pref == 4 ? AF_INET : 0;
    for (size_t i = 1; i < l->n; i++) {
        struct smtp_addr t = l->v[i];
        size_t k = i;
        while (k > 0) {
            const struct smtp_addr *p = &l->v[k - 1];
            int before = p->pref > t.pref ||
                         (p->pref == t.pref && first && t.sa.ss_family == first &&
                          p->sa.ss_family != first);
            if (!before)
                break;
            l->v[k] = l->v[k - 1];
            k--;
        }
        l->v[k] = t;
    }
}

void smtp_addrs_order(struct smtp_addr_list *l, int randomize, int addr_pref, int balance,
                      int limit, unsigned (*rnd)(void *), void *ctx)
{
    if (!rnd)
        rnd = rnd_default;
    if (randomize)
        for (size_t i = l->n; i > 1; i--) {
            size_t k = rnd(ctx) % i;
            struct smtp_addr t = l->v[i - 1];
            l->v[i - 1] = l->v[k];
            l->v[k] = t;
        }
    sort_addrs(l, addr_pref);
    if (limit <= 0 || l->n <= (size_t)limit)
        return;
    if (balance && limit >= 2) {
        /* Keep both families within the limit: move the best address of a
         * family that would be cut off into the last kept slot. */
        int have4 = 0, have6 = 0;
        for (size_t i = 0; i < (size_t)limit; i++) {
            have4 |= l->v[i].sa.ss_family == AF_INET;
            have6 |= l->v[i].sa.ss_family == AF_INET6;
        }
        int missing = !have4 ? AF_INET : !have6 ? AF_INET6 : 0;
        for (size_t i = (size_t)limit; missing && i < l->n; i++)
            if (l->v[i].sa.ss_family == missing) {
                struct smtp_addr t = l->v[i];
                memmove(&l->v[limit], &l->v[limit - 1], (i - (size_t)limit + 1) * sizeof(t));
                l->v[limit - 1] = t;
                break;
            }
    }
    l->n = (size_t)limit;
}

int smtp_addrs_truncate_self(const struct smtp_settings *s, struct smtp_addr_list *l)
{
    int self = 0, pref = 0;
    for (size_t i = 0; i < l->n; i++)
        if (smtp_addr_is_own(s, &l->v[i]) && (!self || l->v[i].pref < pref)) {
            self = 1;
            pref = l->v[i].pref;
        }
    if (!self)
        return 0;
    size_t k = 0;
    for (size_t j = 0; j < l->n; j++)
        if (l->v[j].pref < pref)
            l->v[k++] = l->v[j];
    l->n = k;
    return 1;
}
