/*
 * smtp_dns.c - name service for the SMTP client: MX, A and AAAA lookups
 * through the one resolver (dns.h) in its blocking mode (the agent
 * delivers one request at a time, so a blocking lookup holds up nothing
 * else), the native resolver (getaddrinfo) for smtp_host_lookup = native,
 * and the server list of a destination with Postfix's error texts:
 *   Host or domain name not found. Name service error for name=x type=MX: Host not found, try again
 * YUBIN_DNS_SERVERS="127.0.0.1:5353" replaces the system resolvers (tests),
 * as in dns.c.
 */
#include "deliver/smtp.h"
#include "lib-dns/dns.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

struct dns *smtp_dns_new(void)
{
    return dns_new_blocking(0, 0);
}

void smtp_dns_free(struct dns *d)
{
    dns_free(d);
}

static int sdns_status(int st)
{
    switch (st) {
    case DNS_OK: return SDNS_OK;
    case DNS_NOTFOUND: return SDNS_NOTFOUND;
    case DNS_NODATA: return SDNS_NODATA;
    default: return SDNS_TEMPFAIL;   /* SERVFAIL, REFUSED, timeouts, bad replies */
    }
}

int smtp_dns_mx(struct dns *d, const char *name, struct smtp_mx **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    if (strlen(name) >= SMTP_HOST_MAX)
        return SDNS_NOTFOUND;
    struct dns_answer a;
    int st = sdns_status(dns_query_wait(d, name, DNS_T_MX, &a));
    if (st != SDNS_OK) {
        dns_answer_free(&a);
        return st;
    }
    struct smtp_mx *v = xcalloc(a.n, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < a.n; i++) {
        if (!a.rr[i].name[0]) {               /* RFC 7505 "0 ." */
            free(v);
            dns_answer_free(&a);
            return SDNS_NULLMX;
        }
        if (strlen(a.rr[i].name) >= sizeof(v[k].host))
            continue;
        v[k].pref = a.rr[i].pref;
        str_copy(v[k].host, a.rr[i].name, sizeof(v[k].host));
        k++;
    }
    dns_answer_free(&a);
    if (k == 0) {
        free(v);
        return SDNS_NODATA;
    }
    *out = v;
    *nout = k;
    return SDNS_OK;
}

int smtp_dns_addr(struct dns *d, const char *name, int family, const char *host, int pref,
                  struct smtp_addr_list *l)
{
    if (strlen(name) >= SMTP_HOST_MAX)
        return SDNS_NOTFOUND;
    struct dns_answer a;
    int st = sdns_status(dns_query_wait(d, name, family == AF_INET ? DNS_T_A : DNS_T_AAAA, &a));
    for (size_t i = 0; st == SDNS_OK && i < a.n; i++) {
        struct smtp_addr sa;
        memset(&sa, 0, sizeof(sa));
        sa.pref = pref;
        str_copy(sa.host, host, sizeof(sa.host));
        if (family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&sa.sa;
            s4->sin_family = AF_INET;
            memcpy(&s4->sin_addr, a.rr[i].addr, 4);
            sa.salen = sizeof(*s4);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa.sa;
            s6->sin6_family = AF_INET6;
            memcpy(&s6->sin6_addr, a.rr[i].addr, 16);
            sa.salen = sizeof(*s6);
        }
        str_copy(sa.text, a.rr[i].text, sizeof(sa.text));
        smtp_addr_list_add(l, &sa);
    }
    dns_answer_free(&a);
    return st;
}

const char *smtp_dns_strerror(int status)
{
    switch (status) {
    case SDNS_OK: return "Success";
    case SDNS_NOTFOUND: return "Host not found";
    case SDNS_NODATA: return "Host found but no data record of requested type";
    case SDNS_NULLMX: return "Domain does not accept mail (nullMX)";
    default: return "Host not found, try again";
    }
}

/* ---- server lists ---- */

static void dns_err(struct smtp_err *e, int status, const char *name, const char *type)
{
    str_copy(e->dsn, status == SDNS_TEMPFAIL ? "4.4.3" : "5.4.4", sizeof(e->dsn));
    str_fmt(e->text, sizeof(e->text),
            "Host or domain name not found. Name service error for name=%s type=%s: %s", name,
            type, smtp_dns_strerror(status));
    e->final = 0;
}

/* getaddrinfo() for smtp_host_lookup = native. SDNS_*; err set on failure. */
static int native_lookup(const struct smtp_settings *s, const char *name, const char *host,
                         int pref, struct smtp_addr_list *l, struct smtp_err *e)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = s->want4 && s->want6 ? AF_UNSPEC : s->want6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0) {
        int soft = rc == EAI_AGAIN || rc == EAI_MEMORY || rc == EAI_SYSTEM;
        str_copy(e->dsn, soft ? "4.4.4" : "5.4.4", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "%s: %s", name, gai_strerror(rc));
        e->final = 0;
        return soft ? SDNS_TEMPFAIL : SDNS_NOTFOUND;
    }
    size_t before = l->n;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        struct smtp_addr a;
        memset(&a, 0, sizeof(a));
        memcpy(&a.sa, ai->ai_addr, ai->ai_addrlen);
        a.salen = ai->ai_addrlen;
        a.pref = pref;
        str_copy(a.host, host, sizeof(a.host));
        const void *p = ai->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        inet_ntop(ai->ai_family, p, a.text, sizeof(a.text));
        int dup = 0;
        for (size_t i = before; i < l->n; i++)
            if (strcmp(l->v[i].text, a.text) == 0)
                dup = 1;
        if (!dup)
            smtp_addr_list_add(l, &a);
    }
    freeaddrinfo(res);
    if (l->n == before) {
        str_copy(e->dsn, "5.4.4", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "%s: %s", name, gai_strerror(EAI_NONAME));
        return SDNS_NOTFOUND;
    }
    return SDNS_OK;
}

/*
 * The addresses of one host (A, then AAAA, as inet_protocols allows),
 * with the "dns, native" fall-back. SDNS_*; e describes the last failure.
 */
static int host_addrs(const struct smtp_settings *s, struct dns *dns, const char *name,
                      int pref, struct smtp_addr_list *l, struct smtp_err *e)
{
    if (!s->dns || !s->host_dns)
        return native_lookup(s, name, name, pref, l, e);
    if (!dns) {
        dns_err(e, SDNS_TEMPFAIL, name, s->want4 ? "A" : "AAAA");
        return SDNS_TEMPFAIL;
    }
    int found = 0, temp = 0, last = SDNS_NOTFOUND;
    static const struct { int family; const char *type; } fam[] = {{AF_INET, "A"},
                                                                    {AF_INET6, "AAAA"}};
    for (size_t i = 0; i < ARRAY_LEN(fam); i++) {
        if ((fam[i].family == AF_INET && !s->want4) || (fam[i].family == AF_INET6 && !s->want6))
            continue;
        int st = smtp_dns_addr(dns, name, fam[i].family, name, pref, l);
        if (st == SDNS_OK) {
            found = 1;
            continue;
        }
        if (st == SDNS_TEMPFAIL)
            temp = 1;
        last = st;
        dns_err(e, st, name, fam[i].type);
        if (st == SDNS_NOTFOUND)
            break;                         /* NXDOMAIN: the name has no other types either */
    }
    if (found)
        return SDNS_OK;
    if (!temp && s->host_native)
        return native_lookup(s, name, name, pref, l, e);
    return temp ? SDNS_TEMPFAIL : last;
}

static int literal_addr(const struct smtp_settings *s, const struct smtp_dest *d,
                        struct smtp_addr_list *out, struct smtp_err *e)
{
    struct smtp_addr a;
    if (smtp_addr_from_text(&a, d->host, NULL, 0) < 0) {
        str_copy(e->dsn, "5.4.4", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "bad address syntax: %s", d->host);
        return -1;
    }
    if ((a.sa.ss_family == AF_INET && !s->want4) || (a.sa.ss_family == AF_INET6 && !s->want6)) {
        str_copy(e->dsn, "4.4.4", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "%s: address family disabled by inet_protocols",
                d->host);
        return -1;
    }
    smtp_addr_list_add(out, &a);
    return 0;
}

/* MX hosts in preference order, each with its addresses. *best_pref: the best MX preference. */
static int mx_addrs(const struct smtp_settings *s, struct dns *dns, const struct smtp_dest *d,
                    struct smtp_mx *mx, size_t nmx, struct smtp_addr_list *out, struct smtp_err *e,
                    int *best_pref)
{
    smtp_mx_sort(mx, nmx, s->randomize, NULL, NULL);
    int temp = 0;
    *best_pref = mx[0].pref;
    struct smtp_err last;
    memset(&last, 0, sizeof(last));
    for (size_t i = 0; i < nmx; i++) {
        /* Enough addresses, and the next host is worse than those we have: stop asking. */
        if (s->mx_address_limit > 0 && out->n >= (size_t)s->mx_address_limit * 2 && i > 0 &&
            mx[i].pref > mx[i - 1].pref)
            break;
        struct smtp_addr a;
        if (smtp_addr_from_text(&a, mx[i].host, NULL, mx[i].pref) == 0) {
            msg_warn("numeric domain name in resource data of MX record for %s: %s", d->host,
                     mx[i].host);
            smtp_addr_list_add(out, &a);   /* used as it is, as Postfix does */
            continue;
        }
        int st = host_addrs(s, dns, mx[i].host, mx[i].pref, out, &last);
        if (st == SDNS_TEMPFAIL)
            temp = 1;
    }
    if (out->n == 0) {
        *e = last;
        if (temp) {
            str_copy(e->dsn, "4.4.3", sizeof(e->dsn));
        } else {
            msg_warn("no MX host for %s has a valid address record", d->host);
            if (s->defer_if_no_mx_address)
                str_copy(e->dsn, "4.4.4", sizeof(e->dsn));
        }
        return -1;
    }
    return 0;
}

/*
 * Mail loop check (only for the SMTP port: a content filter on
 * [127.0.0.1]:10025 is no loop): drop our own addresses and everything
 * as bad or worse. 0, or -1 with e set when nothing is left.
 */
static int loop_check(const struct smtp_settings *s, const struct smtp_dest *d, int best_pref,
                      struct smtp_addr_list *out, struct smtp_err *e)
{
    if (d->port != 25 || out->n == 0)
        return 0;
    int best_found = out->v[0].pref;
    for (size_t i = 1; i < out->n; i++)
        if (out->v[i].pref < best_found)
            best_found = out->v[i].pref;
    e->self = smtp_addrs_truncate_self(s, out);
    if (!e->self || out->n > 0)
        return 0;
    e->final = 1;
    if (best_pref < best_found) {
        /* better MX hosts exist but have no address: not a loop, not deliverable now */
        str_copy(e->dsn, "4.4.4", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "unable to find primary relay for %s", d->host);
    } else {
        str_copy(e->dsn, "5.4.6", sizeof(e->dsn));
        str_fmt(e->text, sizeof(e->text), "mail for %s loops back to myself", d->host);
    }
    return -1;
}

int smtp_resolve(const struct smtp_settings *s, struct dns *dns, const struct smtp_dest *d,
                 struct smtp_addr_list *out, struct smtp_err *e)
{
    memset(e, 0, sizeof(*e));
    int rc = 0, best_pref = 0;
    if (d->literal) {
        rc = literal_addr(s, d, out, e);
    } else if (!d->mx || !s->dns) {
        rc = host_addrs(s, dns, d->host, 0, out, e) == SDNS_OK ? 0 : -1;
    } else if (!dns) {
        dns_err(e, SDNS_TEMPFAIL, d->host, "MX");
        rc = -1;
    } else {
        struct smtp_mx *mx = NULL;
        size_t nmx = 0;
        int st = smtp_dns_mx(dns, d->host, &mx, &nmx);
        switch (st) {
        case SDNS_OK:
            rc = mx_addrs(s, dns, d, mx, nmx, out, e, &best_pref);
            break;
        case SDNS_NULLMX:
            str_copy(e->dsn, "5.1.0", sizeof(e->dsn));      /* what Postfix 3.7 says */
            str_fmt(e->text, sizeof(e->text), "Domain %s does not accept mail (nullMX)", d->host);
            e->final = 1;
            rc = -1;
            break;
        case SDNS_TEMPFAIL:
            if (!s->ignore_mx_lookup_error) {
                dns_err(e, st, d->host, "MX");
                rc = -1;
                break;
            }
            /* ignore_mx_lookup_error: look for the domain's own addresses */
            __attribute__((fallthrough));
        default:                           /* no MX records: the domain itself */
            rc = host_addrs(s, dns, d->host, 0, out, e) == SDNS_OK ? 0 : -1;
            break;
        }
        free(mx);
    }
    if (rc == 0)
        rc = loop_check(s, d, best_pref, out, e);
    if (rc == 0)
        smtp_addrs_order(out, s->randomize, s->addr_pref, s->balance, s->mx_address_limit, NULL,
                         NULL);
    return rc;
}
