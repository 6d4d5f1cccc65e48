/*
 * psc_dnsbl.c - the DNSBL test: one A query per distinct domain of
 * postscreen_dnsbl_sites for the client's reversed address, answers
 * matched against each site's reply filter, weights summed into the
 * client's score. Every query is asked through lib-dns in this event loop
 * (Postfix needs its dnsblog processes for this). The smallest TTL of the
 * answers that listed the client bounds how long a pass is remembered
 * (postscreen_dnsbl_min_ttl .. postscreen_dnsbl_max_ttl).
 */
#include "postscreen/psc.h"
#include "lib-dns/dns.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct psc_query {
    struct psc_session *s;
    size_t site;                    /* the first site with this domain */
    void (*done)(struct psc_session *s);
    struct psc_query *next;
};

static int reversed(const char *addr, char *out, size_t outlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        sl = sizeof(*in);
    } else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        sl = sizeof(*in6);
    } else {
        return -1;
    }
    (void)sl;
    char ptr[DNS_NAME_MAX + 1];
    if (dns_ptr_name((struct sockaddr *)&ss, ptr, sizeof(ptr)) < 0)
        return -1;
    char *suffix = strstr(ptr, ".in-addr.arpa");
    if (!suffix)
        suffix = strstr(ptr, ".ip6.arpa");
    if (!suffix)
        return -1;
    *suffix = '\0';
    str_copy(out, ptr, outlen);
    return 0;
}

static void score_answer(struct psc_session *s, size_t first, const struct dns_answer *a)
{
    struct psc_server *srv = s->srv;
    for (size_t i = first; i < srv->nsites; i++) {
        const struct psc_dnsbl_site *site = &srv->sites[i];
        if (strcmp(site->domain, srv->sites[first].domain) != 0)
            continue;
        int hit = 0;
        for (size_t r = 0; r < a->n && !hit; r++)
            hit = a->rr[r].type == DNS_T_A &&
                  (!site->filter[0] || dns_reply_filter_match(site->filter, a->rr[r].text));
        if (!hit)
            continue;
        s->dnsbl_score += site->weight;
        if (site->weight > s->dnsbl_best) {
            s->dnsbl_best = site->weight;
            s->dnsbl_name = site->domain;
        }
        for (size_t r = 0; r < a->n; r++)
            if (a->rr[r].ttl && (!s->dnsbl_ttl || a->rr[r].ttl < s->dnsbl_ttl))
                s->dnsbl_ttl = a->rr[r].ttl;
    }
}

static void unlink_query(struct psc_query *q)
{
    for (struct psc_query **pp = &q->s->queries; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

static void answered(const struct dns_answer *a, void *arg)
{
    struct psc_query *q = arg;
    struct psc_session *s = q->s;
    unlink_query(q);
    if (a->status == DNS_OK)
        score_answer(s, q->site, a);
    void (*done)(struct psc_session *) = q->done;
    free(q);
    INVARIANT(s->dnsbl_pending > 0);
    if (--s->dnsbl_pending == 0) {
        s->dnsbl_done = 1;
        done(s);
    }
}

void psc_dnsbl_start(struct psc_session *s, void (*done)(struct psc_session *s))
{
    struct psc_server *srv = s->srv;
    char rev[DNS_NAME_MAX + 1];
    s->dnsbl_score = 0;
    s->dnsbl_ttl = 0;
    s->dnsbl_name = NULL;
    s->dnsbl_best = 0;
    if (reversed(s->addr, rev, sizeof(rev)) < 0 || !srv->dns) {
        s->dnsbl_done = 1;
        return;
    }
    for (size_t i = 0; i < srv->nsites; i++) {
        size_t j = 0;
        while (j < i && strcmp(srv->sites[j].domain, srv->sites[i].domain) != 0)
            j++;
        if (j < i)
            continue;   /* one query per domain; every site of it is scored on the answer */
        char name[2 * DNS_NAME_MAX + 2];
        if (str_fmt(name, sizeof(name), "%s.%s", rev, srv->sites[i].domain) < 0 ||
            strlen(name) > DNS_NAME_MAX)
            continue;
        struct psc_query *q = xcalloc(1, sizeof(*q));
        q->s = s;
        q->site = i;
        q->done = done;
        q->next = s->queries;
        s->queries = q;
        s->dnsbl_pending++;
        dns_query(srv->dns, name, DNS_T_A, answered, q);
    }
    if (s->dnsbl_pending == 0)
        s->dnsbl_done = 1;
}

void psc_dnsbl_cancel(struct psc_session *s)
{
    while (s->queries) {
        struct psc_query *q = s->queries;
        s->queries = q->next;
        dns_cancel(s->srv->dns, q);
        free(q);
    }
    s->dnsbl_pending = 0;
}
