/*
 * resolve.c - where does an address go? The trivial-rewrite role of
 * Postfix as a library: address classes, the recipient validity check
 * behind reject_unlisted_recipient, virtual alias expansion (cleanup),
 * local alias expansion (local(8)) and transport selection. See
 * resolve.h for the rules; Postfix's texts are kept where they exist.
 */
#include "lib-route/resolve.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib-table/table.h"
#include "lib/kvmap.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define RESOLVE_ADDR_MAX 1024     /* longer alias results: defer, as Postfix does at 1000 */
#define ALIAS_MAX_LEVEL 100
#define WARNED_MAX 1000
#define ADDR_DOMAIN_BUF 1024        /* domains are <= 255 bytes; longer ones never match */

struct resolver {
    const struct config *cfg;
    struct match_list *mydest, *valias_doms, *vmbox_doms, *relay_doms;
    struct maps *valias_maps, *vmbox_maps, *relay_rcpt_maps, *local_rcpt_maps, *alias_maps;
    struct maps *transport_maps;
    char *myorigin, *myhostname, *delim, *double_bounce;
    char *local_transport, *virtual_transport, *relay_transport, *default_transport;
    char *relayhost, *empty_rcpt;
    int propagate_virtual, propagate_alias, show_table, owner_special, expand_owner;
    int transport_parent;
    long expansion_limit, recursion_limit;
    struct net_addr *own;         /* inet_interfaces + proxy_interfaces */
    size_t nown;
    int own_done;
    struct kvmap warned;          /* "do not list domain in BOTH" warnings already given */
};

/* ------------------------------------------------------------ setup */

static char *param(const struct config *cfg, enum param_id name)
{
    const char *v = cfg_get(cfg, name);
    return xstrdup(v ? v : "");
}

static int open_list(const struct config *cfg, enum param_id name, struct match_list **l)
{
    char err[1024];
    *l = domain_list_new(cfg_get(cfg, name), cfg, match_parent_style(cfg, cfg_param_name(name)), err,
                         sizeof(err));
    if (!*l) {
        /* Like a table that cannot be opened: every match is a temporary failure,
         * so mail for these domains is deferred, never misrouted. */
        msg_error("%s: %s", cfg_param_name(name), err);
        *l = domain_list_new("fail:unavailable", cfg, 0, err, sizeof(err));
    }
    return *l ? 0 : -1;
}

static int open_maps(const struct config *cfg, enum param_id name, struct maps **m)
{
    *m = maps_open_tolerant(cfg_get(cfg, name), cfg, cfg_param_name(name));
    return 0;
}

static int in_list(const struct config *cfg, enum param_id param_name, const char *word)
{
    char **v = cfg_get_list(cfg, param_name);
    int found = 0;
    for (size_t i = 0; v[i]; i++)
        found |= str_ieq(v[i], word);
    strv_free(v);
    return found;
}

struct resolver *resolver_new(const struct config *cfg)
{
    struct resolver *r = xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    kvmap_init(&r->warned);
    r->myorigin = param(cfg, P_myorigin);
    r->myhostname = param(cfg, P_myhostname);
    r->delim = param(cfg, P_recipient_delimiter);
    r->double_bounce = param(cfg, P_double_bounce_sender);
    r->local_transport = param(cfg, P_local_transport);
    r->virtual_transport = param(cfg, P_virtual_transport);
    r->relay_transport = param(cfg, P_relay_transport);
    r->default_transport = param(cfg, P_default_transport);
    r->relayhost = param(cfg, P_relayhost);
    r->empty_rcpt = param(cfg, P_empty_address_recipient);
    r->propagate_virtual = in_list(cfg, P_propagate_unmatched_extensions, "virtual");
    r->propagate_alias = in_list(cfg, P_propagate_unmatched_extensions, "alias");
    r->show_table = cfg_get_bool(cfg, P_show_user_unknown_table_name);
    r->owner_special = cfg_get_bool(cfg, P_owner_request_special);
    r->expand_owner = cfg_get_bool(cfg, P_expand_owner_alias);
    r->transport_parent = match_parent_style(cfg, "transport_maps");
    r->expansion_limit = (long)cfg_get_int(cfg, P_virtual_alias_expansion_limit);
    r->recursion_limit = (long)cfg_get_int(cfg, P_virtual_alias_recursion_limit);
    if (open_list(cfg, P_mydestination, &r->mydest) < 0 ||
        open_list(cfg, P_virtual_alias_domains, &r->valias_doms) < 0 ||
        open_list(cfg, P_virtual_mailbox_domains, &r->vmbox_doms) < 0 ||
        open_list(cfg, P_relay_domains, &r->relay_doms) < 0 ||
        open_maps(cfg, P_virtual_alias_maps, &r->valias_maps) < 0 ||
        open_maps(cfg, P_virtual_mailbox_maps, &r->vmbox_maps) < 0 ||
        open_maps(cfg, P_relay_recipient_maps, &r->relay_rcpt_maps) < 0 ||
        open_maps(cfg, P_local_recipient_maps, &r->local_rcpt_maps) < 0 ||
        open_maps(cfg, P_alias_maps, &r->alias_maps) < 0 ||
        open_maps(cfg, P_transport_maps, &r->transport_maps) < 0) {
        resolver_free(r);
        return NULL;
    }
    return r;
}

void resolver_free(struct resolver *r)
{
    if (!r)
        return;
    match_list_free(r->mydest);
    match_list_free(r->valias_doms);
    match_list_free(r->vmbox_doms);
    match_list_free(r->relay_doms);
    maps_close(r->valias_maps);
    maps_close(r->vmbox_maps);
    maps_close(r->relay_rcpt_maps);
    maps_close(r->local_rcpt_maps);
    maps_close(r->alias_maps);
    maps_close(r->transport_maps);
    free(r->myorigin);
    free(r->myhostname);
    free(r->delim);
    free(r->double_bounce);
    free(r->local_transport);
    free(r->virtual_transport);
    free(r->relay_transport);
    free(r->default_transport);
    free(r->relayhost);
    free(r->empty_rcpt);
    free(r->own);
    kvmap_free(&r->warned);
    free(r);
}

/* ------------------------------------------------------ address classes */

static void add_own(struct resolver *r, const struct net_addr *a)
{
    r->own = xrealloc(r->own, (r->nown + 1) * sizeof(*r->own));
    r->own[r->nown++] = *a;
}

static void add_own_name(struct resolver *r, const char *name)
{
    struct net_addr a;
    if (net_addr_parse(name, &a, 1) == 0) {
        add_own(r, &a);
        return;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(name, NULL, &hints, &res) != 0) {
        msg_warn("inet_interfaces/proxy_interfaces: cannot resolve \"%s\"", name);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char txt[INET6_ADDRSTRLEN];
        const void *p = ai->ai_family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            inet_ntop(ai->ai_family, p, txt, sizeof(txt)) && net_addr_parse(txt, &a, 1) == 0)
            add_own(r, &a);
    }
    freeaddrinfo(res);
}

/* The addresses of inet_interfaces and proxy_interfaces ("all": every
 * interface address), found when the first address literal is seen. */
static void own_addresses(struct resolver *r)
{
    if (r->own_done)
        return;
    r->own_done = 1;
    const enum param_id lists[] = {P_inet_interfaces, P_proxy_interfaces};
    for (size_t k = 0; k < ARRAY_LEN(lists); k++) {
        char **v = cfg_get_list(r->cfg, lists[k]);
        for (size_t i = 0; v[i]; i++) {
            if (str_ieq(v[i], "all")) {
                struct ifaddrs *ifa = NULL;
                if (getifaddrs(&ifa) == 0) {
                    for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
                        char txt[INET6_ADDRSTRLEN];
                        int fam = p->ifa_addr ? p->ifa_addr->sa_family : 0;
                        if (fam != AF_INET && fam != AF_INET6)
                            continue;
                        const void *src =
                            fam == AF_INET
                                ? (const void *)&((struct sockaddr_in *)p->ifa_addr)->sin_addr
                                : (const void *)&((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr;
                        struct net_addr a;
                        if (inet_ntop(fam, src, txt, sizeof(txt)) &&
                            net_addr_parse(txt, &a, 1) == 0)
                            add_own(r, &a);
                    }
                    freeifaddrs(ifa);
                }
            } else if (str_ieq(v[i], "loopback-only")) {
                add_own_name(r, "127.0.0.1");
                add_own_name(r, "::1");
            } else {
                add_own_name(r, v[i]);
            }
        }
        strv_free(v);
    }
}

/* Is domain ours: $mydestination, or [address] of inet/proxy_interfaces?
 * 1, 0, or -1 on a table error. */
static int resolve_local(struct resolver *r, const char *domain)
{
    if (domain[0] == '[') {
        struct net_addr a;
        if (net_addr_parse(domain, &a, 1) < 0)
            return 0;
        own_addresses(r);
        for (size_t i = 0; i < r->nown; i++)
            if (r->own[i].family == a.family &&
                memcmp(r->own[i].a, a.a, a.family == AF_INET ? 4 : 16) == 0)
                return 1;
        return 0;
    }
    int m = domain_list_match(r->mydest, domain);
    if (m < 0)
        msg_warn("mydestination lookup failure");
    return m;
}

/* Lowercase, strip one trailing dot (Postfix resolve_local). */
static void norm_domain(char *dst, size_t size, const char *domain)
{
    table_fold(dst, domain, size);
    size_t n = strlen(dst);
    if (n > 1 && dst[n - 1] == '.' && dst[n - 2] != '.')
        dst[n - 1] = '\0';
}

static void warn_both(struct resolver *r, const char *domain, const char *p1, const char *p2)
{
    char key[600];
    str_fmt(key, sizeof(key), "%s %s %s", domain, p1, p2);
    if (r->warned.n >= WARNED_MAX || kvmap_put(&r->warned, key, "") == 0)
        msg_warn("do not list domain %s in BOTH %s and %s", domain, p1, p2);
}

/* Match a list, logging a lookup failure. */
static int list_match(struct match_list *l, const char *param_name, const char *domain)
{
    int m = domain_list_match(l, domain);
    if (m < 0)
        msg_warn("%s lookup failure", param_name);
    return m;
}

int resolve_domain_class(struct resolver *r, const char *domain)
{
    char d[ADDR_DOMAIN_BUF];
    if (!domain || !*domain)
        return AC_LOCAL;
    if (strlen(domain) >= sizeof(d))
        return AC_DEFAULT;
    norm_domain(d, sizeof(d), domain);
    /* First match wins, in Postfix's order; the other lists are only
     * consulted (errors ignored) to warn about domains listed twice. */
    int loc = resolve_local(r, d);
    if (loc < 0)
        return -1;
    if (loc) {
        if (domain_list_match(r->valias_doms, d) > 0)
            warn_both(r, d, "mydestination", "virtual_alias_domains");
        if (domain_list_match(r->vmbox_doms, d) > 0)
            warn_both(r, d, "mydestination", "virtual_mailbox_domains");
        return AC_LOCAL;
    }
    int va = list_match(r->valias_doms, "virtual_alias_domains", d);
    if (va < 0)
        return -1;
    if (va) {
        if (domain_list_match(r->vmbox_doms, d) > 0)
            warn_both(r, d, "virtual_alias_domains", "virtual_mailbox_domains");
        if (domain_list_match(r->relay_doms, d) > 0)
            warn_both(r, d, "virtual_alias_domains", "relay_domains");
        return AC_VIRTUAL_ALIAS;
    }
    int vm = list_match(r->vmbox_doms, "virtual_mailbox_domains", d);
    if (vm < 0)
        return -1;
    if (vm) {
        if (domain_list_match(r->relay_doms, d) > 0)
            warn_both(r, d, "virtual_mailbox_domains", "relay_domains");
        return AC_VIRTUAL_MAILBOX;
    }
    int rl = list_match(r->relay_doms, "relay_domains", d);
    if (rl < 0)
        return -1;
    return rl ? AC_RELAY : AC_DEFAULT;
}

int resolve_addr_class(struct resolver *r, const char *addr)
{
    const char *at = strrchr(addr, '@');
    return resolve_domain_class(r, at ? at + 1 : "");
}

/* -------------------------------------------------------- table lookups */

/* Postfix mail_addr_find(): localpart lookups only when the domain is
 * $myorigin or local. -1 on a table error. */
static int addr_flags(struct resolver *r, const char *addr)
{
    const char *at = strrchr(addr, '@');
    if (!at)
        return MAPS_ADDR_LOCALPART;
    char d[ADDR_DOMAIN_BUF];
    if (strlen(at + 1) >= sizeof(d))
        return MAPS_ADDR_DOMAIN;
    norm_domain(d, sizeof(d), at + 1);
    if (str_ieq(d, r->myorigin))
        return MAPS_ADDR_DOMAIN | MAPS_ADDR_LOCALPART;
    int loc = resolve_local(r, d);
    if (loc < 0)
        return -1;
    return MAPS_ADDR_DOMAIN | (loc ? MAPS_ADDR_LOCALPART : 0);
}

/* Look addr up in m with Postfix's default address search order. */
static int addr_find(struct resolver *r, struct maps *m, const char *addr, struct buf *res,
                     int *ext_used)
{
    if (maps_empty(m))
        return TABLE_NOTFOUND;
    int flags = addr_flags(r, addr);
    if (flags < 0)
        return TABLE_TEMPFAIL;
    return maps_lookup_addr(m, addr, r->delim, flags, res, ext_used);
}

/* ------------------------------------------------------------ transport */

static void set_text(char *dst, size_t len, const char *src)
{
    if (dst && len)
        str_copy(dst, src, len);
}

/* "transport:nexthop" -> transport and (when present) nexthop. */
static void split_transport(const char *value, char *t, size_t tlen, char *nh, size_t nlen,
                            int *has_nh)
{
    const char *colon = strchr(value, ':');
    size_t n = colon ? (size_t)(colon - value) : strlen(value);
    if (n >= tlen)
        n = tlen ? tlen - 1 : 0;
    if (tlen) {
        memcpy(t, value, n);
        t[n] = '\0';
    }
    *has_nh = colon && colon[1];
    if (*has_nh)
        set_text(nh, nlen, colon + 1);
}

/* transport(5) lookups. 1 found (transport/nexthop updated), 0 not, -1 error. */
static int transport_lookup(struct resolver *r, const char *addr, const char *domain,
                            char *transport, size_t tlen, char *nexthop, size_t nlen)
{
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    int rc = maps_find(r->transport_maps, addr, 0, &res);
    size_t ext = table_ext_offset(addr, llen, r->delim);
    if (rc == TABLE_NOTFOUND && ext) {
        char *bare = xasprintf("%.*s%s", (int)ext, addr, at ? at : "");
        rc = maps_find(r->transport_maps, bare, 1, &res);
        free(bare);
    }
    for (const char *name = domain; rc == TABLE_NOTFOUND && *name;) {
        rc = maps_find(r->transport_maps, name, 1, &res);
        const char *next = strchr(name + 1, '.');
        if (!next || domain[0] == '[')
            break;
        name = r->transport_parent ? next + 1 : next;
    }
    if (rc == TABLE_NOTFOUND)
        rc = maps_find(r->transport_maps, "*", 0, &res);
    if (rc == TABLE_TEMPFAIL) {
        msg_warn("transport_maps lookup failure");
        buf_free(&res);
        return -1;
    }
    if (rc == TABLE_FOUND) {
        char t[256], nh[1024];
        int has_nh;
        split_transport(buf_cstr(&res), t, sizeof(t), nh, sizeof(nh), &has_nh);
        if (*t) {
            set_text(transport, tlen, t);
            if (!has_nh)
                set_text(nexthop, nlen, domain);   /* transport without nexthop: reset */
        }
        if (has_nh)
            set_text(nexthop, nlen, nh);
    }
    buf_free(&res);
    return rc == TABLE_FOUND;
}

/* Strip a leading "5.1.1 " style status code from an error text. */
static const char *dsn_text(const char *s)
{
    if (isdigit((unsigned char)s[0]) && s[1] == '.') {
        const char *p = s;
        while (*p && !isspace((unsigned char)*p))
            p++;
        while (isspace((unsigned char)*p))
            p++;
        if (*p)
            return p;
    }
    return s;
}

int resolve_transport(struct resolver *r, const char *addr, char *transport, size_t tlen,
                      char *nexthop, size_t nlen, char *why, size_t whylen)
{
    set_text(why, whylen, "");
    char *owned = NULL;
    if (!*addr)   /* transport(5): the null recipient */
        addr = owned = xasprintf("%s@%s", r->empty_rcpt, r->myhostname);
    const char *at = strrchr(addr, '@');
    char domain[ADDR_DOMAIN_BUF];
    if (at && strlen(at + 1) < sizeof(domain))
        norm_domain(domain, sizeof(domain), at + 1);
    else
        str_copy(domain, at ? "" : r->myhostname, sizeof(domain));
    int cls = at ? resolve_domain_class(r, domain) : AC_LOCAL;
    if (cls < 0) {
        set_text(why, whylen, "address resolution failure");
        free(owned);
        return -1;
    }
    const char *channel = NULL, *param_name = NULL;
    set_text(nexthop, nlen, domain);
    switch (cls) {
    case AC_LOCAL:
        channel = r->local_transport;
        param_name = "local_transport";
        break;
    case AC_VIRTUAL_ALIAS: {
        char text[128];
        str_fmt(text, sizeof(text), "User unknown%s", r->show_table ? " in virtual alias table" : "");
        set_text(transport, tlen, "error");
        set_text(nexthop, nlen, text);
        set_text(why, whylen, text);
        free(owned);
        return 0;   /* transport_maps do not override this class */
    }
    case AC_VIRTUAL_MAILBOX:
        channel = r->virtual_transport;
        param_name = "virtual_transport";
        break;
    case AC_RELAY:
        channel = r->relay_transport;
        param_name = "relay_transport";
        break;
    default:
        channel = r->default_transport;
        param_name = "default_transport";
        break;
    }
    if ((cls == AC_RELAY || cls == AC_DEFAULT) && *r->relayhost)
        set_text(nexthop, nlen, r->relayhost);
    int has_nh;
    char tbuf[256];
    split_transport(channel, tbuf, sizeof(tbuf), nexthop, nlen, &has_nh);
    if (!*tbuf) {
        msg_warn("parameter %s: null transport is not allowed", param_name);
        set_text(why, whylen, "null transport");
        free(owned);
        return -1;
    }
    set_text(transport, tlen, tbuf);
    if (!maps_empty(r->transport_maps) &&
        transport_lookup(r, addr, domain, transport, tlen, nexthop, nlen) < 0) {
        set_text(why, whylen, "transport_maps lookup failure");
        free(owned);
        return -1;
    }
    if (transport && strcmp(transport, "error") == 0)
        set_text(why, whylen, dsn_text(nexthop ? nexthop : ""));
    free(owned);
    return 0;
}

/* ------------------------------------------------------ recipient check */

/* Does the localpart of addr equal name (case-insensitively)? */
static int local_is(const char *addr, const char *name)
{
    size_t n = strlen(name);
    return n && strncasecmp(addr, name, n) == 0 && (addr[n] == '@' || addr[n] == '\0');
}

int resolve_rcpt_known(struct resolver *r, const char *addr, char *why, size_t whylen)
{
    set_text(why, whylen, "");
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    int rc = addr_find(r, r->valias_maps, addr, &res, NULL);
    if (rc != TABLE_NOTFOUND) {
        buf_free(&res);
        if (rc == TABLE_TEMPFAIL)
            set_text(why, whylen, "virtual_alias_maps lookup failure");
        return rc == TABLE_FOUND ? 1 : -1;
    }
    char transport[64], nexthop[1024], twhy[1024];
    if (resolve_transport(r, addr, transport, sizeof(transport), nexthop, sizeof(nexthop), twhy,
                          sizeof(twhy)) < 0) {
        set_text(why, whylen, twhy);
        buf_free(&res);
        return -1;
    }
    if (strcmp(transport, "error") == 0) {
        set_text(why, whylen, twhy);
        buf_free(&res);
        return 0;
    }
    struct maps *m = NULL;
    const char *table = NULL, *what = NULL;
    switch (resolve_addr_class(r, addr)) {
    case AC_LOCAL:
        if (local_is(addr, r->double_bounce) || local_is(addr, "postmaster") ||
            local_is(addr, "mailer-daemon"))
            break;
        m = r->local_rcpt_maps;
        table = "local_recipient_maps";
        what = " in local recipient table";
        break;
    case AC_VIRTUAL_MAILBOX:
        m = r->vmbox_maps;
        table = "virtual_mailbox_maps";
        what = " in virtual mailbox table";
        break;
    case AC_RELAY:
        m = r->relay_rcpt_maps;
        table = "relay_recipient_maps";
        what = " in relay recipient table";
        break;
    case -1:
        set_text(why, whylen, "address resolution failure");
        buf_free(&res);
        return -1;
    default:
        break;
    }
    int known = 1;
    if (m && !maps_empty(m)) {
        rc = addr_find(r, m, addr, &res, NULL);
        if (rc == TABLE_TEMPFAIL) {
            char t[128];
            str_fmt(t, sizeof(t), "%s lookup failure", table);
            set_text(why, whylen, t);
            known = -1;
        } else if (rc == TABLE_NOTFOUND) {
            char t[128];
            str_fmt(t, sizeof(t), "User unknown%s", r->show_table ? what : "");
            set_text(why, whylen, t);
            known = 0;
        }
    }
    buf_free(&res);
    return known;
}

/* -------------------------------------------------- address list parsing */

/*
 * Split a lookup result into addresses: commas and blanks separate,
 * except inside "quotes"; a quoted localpart loses its quotes
 * ("a b"@x -> a b@x, internal form). Unterminated quotes: the rest is one
 * address.
 */
char **alias_split(const char *s)
{
    size_t n = 0, cap = 4;
    char **v = xmalloc(cap * sizeof(*v));
    struct buf cur;
    buf_init(&cur, 0);
    const char *p = s;
    for (;;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        buf_reset(&cur);
        buf_puts(&cur, "");
        int inq = 0;
        for (; *p && (inq || (*p != ',' && !isspace((unsigned char)*p))); p++) {
            if (*p == '"') {
                inq = !inq;
                continue;
            }
            if (inq && *p == '\\' && p[1])
                p++;
            buf_putc(&cur, *p);
        }
        if (n + 2 > cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = xstrdup(buf_cstr(&cur));
    }
    v[n] = NULL;
    buf_free(&cur);
    return v;
}

/* The extension (with its delimiter) of addr's localpart, or "". */
static void get_ext(struct resolver *r, const char *addr, char *ext, size_t len)
{
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    size_t off = table_ext_offset(addr, llen, r->delim);
    ext[0] = '\0';
    if (off && llen - off < len) {
        memcpy(ext, addr + off, llen - off);
        ext[llen - off] = '\0';
    }
}

/* user@domain + "+ext" -> user+ext@domain; "user" -> "user+ext". */
static char *add_ext(const char *a, const char *ext)
{
    const char *at = strrchr(a, '@');
    if (!at)
        return xasprintf("%s%s", a, ext);
    return xasprintf("%.*s%s%s", (int)(at - a), a, ext, at);
}

/* ---------------------------------------------------- virtual aliasing */

struct strv {
    char **v;
    size_t n, cap;
};

static void strv_push(struct strv *s, char *owned)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
}

static void been_here_add(struct kvmap *m, const char *addr)
{
    char *k = xstrdup(addr);
    str_lower(k);
    kvmap_put(m, k, "");
    free(k);
}

static int been_here(const struct kvmap *m, const char *addr)
{
    char *k = xstrdup(addr);
    str_lower(k);
    int r = kvmap_get(m, k) != NULL;
    free(k);
    return r;
}

/* One virtual_alias_maps lookup with result rewriting. 1 found (*res
 * set), 0 not found, -1 error. */
static int virtual_map(struct resolver *r, const char *addr, char ***res, char *why,
                       size_t whylen)
{
    struct buf val;
    buf_init(&val, TABLE_VALUE_MAX + 1);
    int ext_used = 0;
    int rc = addr_find(r, r->valias_maps, addr, &val, &ext_used);
    if (rc != TABLE_FOUND) {
        buf_free(&val);
        if (rc == TABLE_TEMPFAIL)
            set_text(why, whylen, "virtual_alias_maps lookup failure");
        return rc == TABLE_TEMPFAIL ? -1 : 0;
    }
    char ext[RESOLVE_ADDR_MAX];
    get_ext(r, addr, ext, sizeof(ext));
    if (!ext_used || !r->propagate_virtual)
        ext[0] = '\0';
    char **v = alias_split(buf_cstr(&val));
    buf_free(&val);
    const char *at = strrchr(addr, '@');
    for (size_t i = 0; v[i]; i++) {
        char *a = v[i];
        if (i == 0 && a[0] == '@') {
            /* "@otherdomain": the same localpart (as given) in otherdomain. */
            int llen = at ? (int)(at - addr) : (int)strlen(addr);
            v[i] = xasprintf("%.*s%s", llen, addr, a);
            free(a);
            continue;
        }
        if (ext[0]) {
            v[i] = add_ext(a, ext);
            free(a);
            a = v[i];
        }
        if (!strchr(a, '@')) {
            v[i] = xasprintf("%s@%s", a, r->myorigin);
            free(a);
        }
    }
    for (size_t i = 0; v[i]; i++) {
        if (strlen(v[i]) > RESOLVE_ADDR_MAX) {
            msg_warn("unreasonable virtual_alias_maps result %.300s... -- message not accepted, "
                     "try again later",
                     v[i]);
            set_text(why, whylen, "4.6.0 Alias expansion error");
            strv_free(v);
            return -1;
        }
    }
    if (!v[0]) {
        msg_warn("no recipient in virtual_alias_maps lookup result for %s", addr);
        set_text(why, whylen, "virtual_alias_maps lookup failure");
        strv_free(v);
        return -1;
    }
    *res = v;
    return 1;
}

int resolve_virtual_alias(struct resolver *r, const char *addr, char ***out, char *why,
                          size_t whylen)
{
    *out = NULL;
    set_text(why, whylen, "");
    struct strv list = {0};
    struct kvmap seen;
    kvmap_init(&seen);
    strv_push(&list, xstrdup(addr));
    int rc = 0;
    for (size_t arg = 0; arg < list.n && rc == 0; arg++) {
        if ((long)list.n > r->expansion_limit) {
            msg_warn("unreasonable virtual_alias_maps map expansion size for %s -- message not "
                     "accepted, try again later",
                     addr);
            set_text(why, whylen, "unreasonable virtual_alias_maps map expansion size");
            rc = -2;
            break;
        }
        for (long count = 0;; count++) {
            if (been_here(&seen, list.v[arg]))
                break;
            if (count >= r->recursion_limit) {
                msg_warn("unreasonable virtual_alias_maps map nesting for %s -- message not "
                         "accepted, try again later",
                         addr);
                set_text(why, whylen, "unreasonable virtual_alias_maps map nesting");
                rc = -2;
                break;
            }
            been_here_add(&seen, list.v[arg]);
            char **res = NULL;
            int f = virtual_map(r, list.v[arg], &res, why, whylen);
            if (f < 0) {
                rc = -1;
                break;
            }
            if (f == 0)
                break;
            char *lhs = list.v[arg];
            list.v[arg] = res[0];
            for (size_t i = 1; res[i]; i++)
                strv_push(&list, res[i]);
            for (size_t i = 0; res[i]; i++)
                if (str_ieq(lhs, res[i]))
                    been_here_add(&seen, lhs);   /* expands into itself: stop there */
            free(lhs);
            free(res);
        }
    }
    kvmap_free(&seen);
    if (rc < 0) {
        strv_free(list.v);
        return rc;
    }
    /* Final addresses, duplicates removed (case-insensitively), in order. */
    struct kvmap dup;
    kvmap_init(&dup);
    struct strv final = {0};
    for (size_t i = 0; i < list.n; i++) {
        if (been_here(&dup, list.v[i])) {
            free(list.v[i]);
            continue;
        }
        been_here_add(&dup, list.v[i]);
        strv_push(&final, list.v[i]);
    }
    kvmap_free(&dup);
    free(list.v);
    *out = final.v;
    return 0;
}

/* -------------------------------------------------------- local aliases */

struct aexp {
    struct resolver *r;
    struct alias_list *out;
    char *why;
    size_t whylen;
};

static void alias_add(struct aexp *x, enum alias_kind kind, const char *value, const char *alias,
                      const char *owner)
{
    struct alias_list *l = x->out;
    for (size_t i = 0; i < l->n; i++)   /* Postfix's duplicate filter */
        if (l->v[i].kind == kind && strcmp(l->v[i].value, value) == 0)
            return;
    l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
    struct alias_item *it = &l->v[l->n++];
    it->kind = kind;
    it->value = xstrdup(value);
    it->alias = xstrdup(alias ? alias : "");
    it->owner = owner ? xstrdup(owner) : NULL;
}

void alias_list_free(struct alias_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].value);
        free(l->v[i].alias);
        free(l->v[i].owner);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int expand_item(struct aexp *x, const char *raw, const char *alias, const char *owner,
                       const char *ext, int level);

/*
 * Expand the alias for local address addr (user[+ext][@domain]).
 * 1 expanded, 0 not an alias, -1/-2 errors.
 */
static int expand_name(struct aexp *x, const char *addr, const char *exp_from, int level)
{
    struct resolver *r = x->r;
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    char local[RESOLVE_ADDR_MAX];
    if (llen >= sizeof(local) || llen == 0)
        return 0;
    memcpy(local, addr, llen);
    local[llen] = '\0';
    str_lower(local);
    /* An alias that includes its own name delivers to that user (sendmail). */
    if (exp_from && strcasecmp(exp_from, local) == 0)
        return 0;
    if (level > ALIAS_MAX_LEVEL) {
        msg_warn("alias database loop for %s", local);
        char t[RESOLVE_ADDR_MAX + 64];
        str_fmt(t, sizeof(t), "alias database loop for %s", local);
        set_text(x->why, x->whylen, t);
        return -2;
    }
    struct buf val;
    buf_init(&val, TABLE_VALUE_MAX + 1);
    int ext_used = 0;
    int rc = maps_empty(r->alias_maps)
                 ? TABLE_NOTFOUND
                 : maps_lookup_addr(r->alias_maps, local, r->delim, 0, &val, &ext_used);
    if (rc != TABLE_FOUND) {
        buf_free(&val);
        if (rc == TABLE_TEMPFAIL) {
            set_text(x->why, x->whylen, "alias database unavailable");
            return -1;
        }
        return 0;
    }
    char name[RESOLVE_ADDR_MAX], ext[RESOLVE_ADDR_MAX] = "";
    str_copy(name, local, sizeof(name));
    if (ext_used) {
        size_t off = table_ext_offset(local, strlen(local), r->delim);
        if (off) {
            if (r->propagate_alias)
                str_copy(ext, local + off, sizeof(ext));
            name[off] = '\0';
        }
    }
    /* owner-NAME: where delivery problems for this list go. */
    char *owner = NULL;
    if (r->owner_special) {
        struct buf ob;
        buf_init(&ob, TABLE_VALUE_MAX + 1);
        char *oname = xasprintf("owner-%s", name);
        int orc = maps_lookup(r->alias_maps, oname, &ob);
        if (orc == TABLE_TEMPFAIL) {
            free(oname);
            buf_free(&ob);
            buf_free(&val);
            set_text(x->why, x->whylen, "alias database unavailable");
            return -1;
        }
        if (orc == TABLE_FOUND)
            owner = r->expand_owner ? xstrdup(buf_cstr(&ob))
                                    : xasprintf("%s@%s", oname, r->myorigin);
        free(oname);
        buf_free(&ob);
    }
    char **items = alias_split(buf_cstr(&val));
    buf_free(&val);
    if (!items[0]) {
        msg_warn("no recipient in alias lookup result for %s", name);
        set_text(x->why, x->whylen, "alias database unavailable");
        rc = -1;
    } else {
        rc = 0;
        for (size_t i = 0; items[i] && rc == 0; i++)
            rc = expand_item(x, items[i], name, owner, ext, level);
    }
    strv_free(items);
    free(owner);
    return rc < 0 ? rc : 1;
}

/* Classify one right-hand side element. */
static int expand_item(struct aexp *x, const char *raw, const char *alias, const char *owner,
                       const char *ext, int level)
{
    struct resolver *r = x->r;
    const char *item = raw;
    if (str_iprefix(item, ":include:")) {
        alias_add(x, ALIAS_INCLUDE, item + 9, alias, owner);
        return 0;
    }
    if (item[0] == '|') {
        alias_add(x, ALIAS_COMMAND, item + 1, alias, owner);
        return 0;
    }
    if (item[0] == '/') {
        alias_add(x, ALIAS_FILE, item, alias, owner);
        return 0;
    }
    int noalias = item[0] == '\\';
    if (noalias)
        item++;
    if (!*item)
        return 0;
    char *a = strchr(item, '@') ? xstrdup(item) : xasprintf("%s@%s", item, r->myorigin);
    int cls = resolve_addr_class(r, a);
    if (cls < 0) {
        set_text(x->why, x->whylen, "address resolution failure");
        free(a);
        return -1;
    }
    int rc = 0;
    if (cls == AC_LOCAL) {
        rc = noalias ? 0 : expand_name(x, a, alias, level + 1);
        if (rc == 0)
            alias_add(x, ALIAS_MAILBOX, a, alias, owner);
    } else {
        if (ext && *ext) {
            char *e = add_ext(a, ext);
            free(a);
            a = e;
        }
        alias_add(x, ALIAS_ADDRESS, a, alias, owner);
    }
    free(a);
    return rc < 0 ? rc : 0;
}

/* Split a right-hand side into elements: commas and blanks separate,
 * "quoted strings" stay whole and lose their quotes ("|cmd arg"). */
static int expand_text(struct aexp *x, const char *text, const char *alias, const char *owner,
                       const char *ext, int level)
{
    char **v = alias_split(text);
    int rc = 0;
    for (size_t i = 0; v[i] && rc == 0; i++)
        rc = expand_item(x, v[i], alias, owner, ext, level);
    strv_free(v);
    return rc;
}

int resolve_local_alias(struct resolver *r, const char *addr, struct alias_list *out,
                        char *why, size_t whylen)
{
    set_text(why, whylen, "");
    int cls = resolve_addr_class(r, addr);
    if (cls < 0) {
        set_text(why, whylen, "address resolution failure");
        return -1;
    }
    if (cls != AC_LOCAL)
        return 0;
    struct aexp x = {r, out, why, whylen};
    return expand_name(&x, addr, NULL, 0);
}

int alias_db_owner(const struct config *cfg, uid_t *uid, gid_t *gid)
{
    char **maps = cfg_get_list(cfg, P_alias_maps);
    int found = 0;
    for (char **p = maps; p && *p && !found; p++) {
        const char *colon = strchr(*p, ':');
        const char *path = colon ? colon + 1 : *p;
        if (*path != '/')
            continue;
        struct stat st;
        char *lmdb = xasprintf("%s.lmdb", path);
        found = stat(lmdb, &st) == 0 || stat(path, &st) == 0;
        free(lmdb);
        if (found) {
            *uid = st.st_uid;
            *gid = st.st_gid;
        }
    }
    strv_free(maps);
    if (!found)
        *uid = *gid = 0;
    return found;
}

int resolve_alias_text(struct resolver *r, const char *text, const char *alias,
                       struct alias_list *out, char *why, size_t whylen)
{
    set_text(why, whylen, "");
    struct aexp x = {r, out, why, whylen};
    /* As local(8) reads :include: and .forward files: line by line, and a
     * line that starts with '#' is a comment. */
    int rc = 0;
    const char *p = text;
    while (*p && rc == 0) {
        size_t n = strcspn(p, "\n");
        if (*p != '#' && n > 0) {
            char *line = xstrndup(p, n);
            rc = expand_text(&x, line, alias, NULL, NULL, 1);
            free(line);
        }
        p += n + (p[n] == '\n');
    }
    return rc;
}
