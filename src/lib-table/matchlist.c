/*
 * matchlist.c - Postfix match lists (domain lists, network address lists
 * and host lists of names or addresses) and IPv4/IPv6 network patterns.
 * See matchlist.h for the syntax.
 */
#include "lib-table/matchlist.h"
#include "lib-table/table.h"
#include "lib-table/table_impl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum { M_NAME, M_TABLE, M_NET };

struct match_item {
    int type;
    int negate;
    char *name;               /* M_NAME: lowercased pattern */
    struct table *t;          /* M_TABLE */
    struct net_pattern net;   /* M_NET */
};

enum { L_DOMAIN, L_ADDR, L_HOST };

struct match_list {
    int kind;                 /* L_DOMAIN, L_ADDR, L_HOST */
    int flags;
    const struct config *cfg;
    struct match_item *v;
    size_t n, cap;
};

#define MATCH_FILE_DEPTH 10

/* ---------------------------------------------------- network patterns */

static int parse_plain_addr(const char *s, struct net_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, s, a->a) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, s, a->a) == 1) {
        a->family = AF_INET6;
        return 0;
    }
    return -1;
}

int net_addr_parse(const char *s, struct net_addr *a, int map_v4)
{
    char tmp[80];
    size_t n = strlen(s);
    if (n >= sizeof(tmp))
        return -1;
    if (s[0] == '[') {
        if (n < 3 || s[n - 1] != ']')
            return -1;
        memcpy(tmp, s + 1, n - 2);
        tmp[n - 2] = '\0';
        if (strncasecmp(tmp, "IPv6:", 5) == 0)
            memmove(tmp, tmp + 5, strlen(tmp + 5) + 1);
    } else {
        memcpy(tmp, s, n + 1);
    }
    if (parse_plain_addr(tmp, a) < 0)
        return -1;
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (map_v4 && a->family == AF_INET6 && memcmp(a->a, mapped, 12) == 0) {
        memmove(a->a, a->a + 12, 4);
        memset(a->a + 4, 0, 12);
        a->family = AF_INET;
    }
    return 0;
}

static int bits_of(const struct net_addr *a)
{
    return a->family == AF_INET ? 32 : 128;
}

int net_pattern_parse(const char *s, struct net_pattern *np, char *why, size_t whylen)
{
    char addr[80], len[8] = "";
    size_t n = strlen(s);
    const char *slash;
    if (n >= sizeof(addr))
        return table_err(why, whylen, "bad address pattern: \"%.80s\"", s);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close)
            return table_err(why, whylen, "missing ']' in address pattern \"%s\"", s);
        size_t al = (size_t)(close - s - 1);
        memcpy(addr, s + 1, al);
        addr[al] = '\0';
        const char *rest = close + 1;
        char *inner_slash = strchr(addr, '/');
        if (inner_slash) {                        /* [addr/len] */
            if (*rest || str_copy(len, inner_slash + 1, sizeof(len)) >= sizeof(len))
                return table_err(why, whylen, "bad address pattern: \"%s\"", s);
            *inner_slash = '\0';
        } else if (*rest == '/') {                /* [addr]/len */
            if (str_copy(len, rest + 1, sizeof(len)) >= sizeof(len))
                return table_err(why, whylen, "bad prefix length in \"%s\"", s);
        } else if (*rest) {
            return table_err(why, whylen, "bad address pattern: \"%s\"", s);
        }
    } else if ((slash = strchr(s, '/'))) {
        memcpy(addr, s, (size_t)(slash - s));
        addr[slash - s] = '\0';
        if (str_copy(len, slash + 1, sizeof(len)) >= sizeof(len))
            return table_err(why, whylen, "bad prefix length in \"%s\"", s);
    } else {
        memcpy(addr, s, n + 1);
    }
    if (parse_plain_addr(addr, &np->net) < 0)
        return table_err(why, whylen, "bad address pattern: \"%s\"", s);
    int maxbits = bits_of(&np->net);
    np->plen = maxbits;
    if (len[0] || strchr(s, '/')) {
        char *end;
        if (!isdigit((unsigned char)len[0]))
            return table_err(why, whylen, "bad prefix length in \"%s\"", s);
        long l = strtol(len, &end, 10);
        if (*end || l < 0 || l > maxbits)
            return table_err(why, whylen, "bad prefix length in \"%s\"", s);
        np->plen = (int)l;
    }
    /* The bits after the prefix must be zero (Postfix refuses them too). */
    struct net_addr masked = np->net;
    for (int b = np->plen; b < maxbits; b++)
        masked.a[b / 8] &= (unsigned char)~(0x80 >> (b % 8));
    if (memcmp(masked.a, np->net.a, 16) != 0) {
        char txt[INET6_ADDRSTRLEN];
        inet_ntop(masked.family, masked.a, txt, sizeof(txt));
        return table_err(why, whylen,
                         "non-null host address bits in \"%s\", perhaps you should use "
                         "\"%s%s%s/%d\" instead",
                         s, s[0] == '[' ? "[" : "", txt, s[0] == '[' ? "]" : "", np->plen);
    }
    return 0;
}

int net_pattern_match(const struct net_pattern *np, const struct net_addr *a)
{
    if (np->net.family != a->family)
        return 0;
    int full = np->plen / 8, rest = np->plen % 8;
    if (memcmp(np->net.a, a->a, (size_t)full) != 0)
        return 0;
    if (rest) {
        unsigned char mask = (unsigned char)(0xff << (8 - rest));
        if ((np->net.a[full] & mask) != (a->a[full] & mask))
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------- parsing */

static struct match_item *add_item(struct match_list *l)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    struct match_item *it = &l->v[l->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

static int is_table_pattern(const struct match_list *l, const char *p)
{
    if (l->kind != L_DOMAIN && p[0] == '[')
        return 0;
    return strchr(p, ':') != NULL;
}

static int parse_value(struct match_list *l, const char *value, int negate, int depth,
                       const char *where, char *err, size_t errlen);

static int parse_file(struct match_list *l, const char *path, int negate, int depth, char *err,
                      size_t errlen)
{
    if (depth >= MATCH_FILE_DEPTH)
        return table_err(err, errlen, "%s: /file/name patterns nested too deeply", path);
    struct tsrc src;
    if (tsrc_open_file(&src, path, err, errlen) < 0)
        return -1;
    struct buf line;
    buf_init(&line, 0);
    int lineno = 0, r, rc = 0;
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        char where[600];
        str_fmt(where, sizeof(where), "%s:%d", path, lineno);
        if (parse_value(l, line.data, negate, depth + 1, where, err, errlen) < 0) {
            rc = -1;
            break;
        }
    }
    if (r < 0)
        rc = -1;
    buf_free(&line);
    tsrc_close(&src);
    return rc;
}

/* Host lists: an address or network pattern (the rest are host names). */
static int looks_numeric(const char *p)
{
    if (p[0] == '[' || strchr(p, '/'))
        return 1;
    struct net_addr a;
    return net_addr_parse(p, &a, 0) == 0;
}

static int parse_value(struct match_list *l, const char *value, int negate, int depth,
                       const char *where, char *err, size_t errlen)
{
    char **v = str_split_list(value, NULL);
    int rc = 0;
    for (size_t i = 0; v[i] && rc == 0; i++) {
        const char *p = v[i];
        int neg = negate;
        while (*p == '!') {
            neg = !neg;
            p++;
        }
        if (*p == '\0') {
            rc = table_err(err, errlen, "%s%s\"%s\": empty pattern", where ? where : "",
                           where ? ": " : "", v[i]);
        } else if (*p == '/') {
            rc = parse_file(l, p, neg, depth, err, errlen);
        } else if (is_table_pattern(l, p)) {
            struct table *t = table_open(p, l->cfg, err, errlen);
            if (!t) {
                rc = -1;
            } else {
                struct match_item *it = add_item(l);
                it->type = M_TABLE;
                it->negate = neg;
                it->t = t;
            }
        } else if (l->kind == L_ADDR || (l->kind == L_HOST && looks_numeric(p))) {
            struct match_item *it = add_item(l);
            char why[300];
            if (net_pattern_parse(p, &it->net, why, sizeof(why)) < 0) {
                l->n--;
                rc = table_err(err, errlen, "%s%s%s", where ? where : "", where ? ": " : "", why);
            } else {
                it->type = M_NET;
                it->negate = neg;
            }
        } else {
            struct match_item *it = add_item(l);
            it->type = M_NAME;
            it->negate = neg;
            it->name = xstrdup(p);
            str_lower(it->name);
        }
    }
    strv_free(v);
    return rc;
}

static struct match_list *list_new(int kind, const char *value, const struct config *cfg,
                                   int flags, char *err, size_t errlen)
{
    struct match_list *l = xcalloc(1, sizeof(*l));
    l->kind = kind;
    l->flags = flags;
    l->cfg = cfg;
    if (parse_value(l, value ? value : "", 0, 0, NULL, err, errlen) < 0) {
        match_list_free(l);
        return NULL;
    }
    return l;
}

struct match_list *domain_list_new(const char *value, const struct config *cfg, int flags,
                                   char *err, size_t errlen)
{
    return list_new(L_DOMAIN, value, cfg, flags, err, errlen);
}

struct match_list *addr_list_new(const char *value, const struct config *cfg, int flags,
                                 char *err, size_t errlen)
{
    return list_new(L_ADDR, value, cfg, flags, err, errlen);
}

struct match_list *host_list_new(const char *value, const struct config *cfg, int flags,
                                 char *err, size_t errlen)
{
    return list_new(L_HOST, value, cfg, flags, err, errlen);
}

void match_list_free(struct match_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        table_close(l->v[i].t);
    }
    free(l->v);
    free(l);
}

int match_list_empty(const struct match_list *l)
{
    return !l || l->n == 0;
}

/* ------------------------------------------------------------ matching */

/* A table entry matches the name or (fixed-key tables only) a parent:
 * "example.com", "com" with the parent style, ".example.com", ".com"
 * without. */
static int table_match_domain(const struct match_list *l, struct table *t, const char *name,
                              struct buf *res)
{
    for (const char *entry = name; *entry;) {
        if (entry == name || !(table_flags(t) & TABLE_F_PATTERN)) {
            int r = table_lookup(t, entry, res);
            if (r != TABLE_NOTFOUND)
                return r;
        }
        const char *next = strchr(entry + 1, '.');
        if (!next)
            break;
        entry = (l->flags & MATCH_F_PARENT) ? next + 1 : next;
    }
    return TABLE_NOTFOUND;
}

static int name_match(const struct match_list *l, const char *pat, const char *name)
{
    if (strcmp(name, pat) == 0)
        return 1;
    size_t nl = strlen(name), pl = strlen(pat);
    if (nl <= pl)
        return 0;
    const char *tail = name + nl - pl;
    if (l->flags & MATCH_F_PARENT)
        return tail[-1] == '.' && strcmp(tail, pat) == 0;
    return pat[0] == '.' && strcmp(tail, pat) == 0;
}

int domain_list_match(struct match_list *l, const char *domain)
{
    if (!l)
        return 0;
    char name[TABLE_KEY_MAX + 1];
    if (strlen(domain) > TABLE_KEY_MAX)
        return 0;
    table_fold(name, domain, sizeof(name));
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    int result = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct match_item *it = &l->v[i];
        int m = 0;
        if (it->type == M_NAME) {
            m = name_match(l, it->name, name);
        } else if (it->type == M_TABLE) {
            int r = table_match_domain(l, it->t, name, &res);
            if (r == TABLE_TEMPFAIL) {
                msg_warn("%s: table lookup problem for \"%s\"", table_spec(it->t), name);
                result = -1;
                break;
            }
            m = r == TABLE_FOUND;
        }
        if (m) {
            result = !it->negate;
            break;
        }
    }
    buf_free(&res);
    return result;
}

int addr_list_match(struct match_list *l, const char *addr)
{
    if (!l)
        return 0;
    struct net_addr a;
    if (net_addr_parse(addr, &a, 1) < 0)
        return 0;
    char txt[INET6_ADDRSTRLEN];
    inet_ntop(a.family, a.a, txt, sizeof(txt));
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    int result = 0;
    for (size_t i = 0; i < l->n; i++) {
        const struct match_item *it = &l->v[i];
        int m = 0;
        if (it->type == M_NET) {
            m = net_pattern_match(&it->net, &a);
        } else if (it->type == M_TABLE) {
            int r = table_lookup(it->t, txt, &res);
            if (r == TABLE_TEMPFAIL) {
                msg_warn("%s: table lookup problem for \"%s\"", table_spec(it->t), txt);
                result = -1;
                break;
            }
            m = r == TABLE_FOUND;
        }
        if (m) {
            result = !it->negate;
            break;
        }
    }
    buf_free(&res);
    return result;
}

/* One host list item against the client: 1 match, 0 no match, -1 table failure. */
static int host_item_match(const struct match_list *l, const struct match_item *it,
                           const char *name, const struct net_addr *a, const char *txt,
                           struct buf *res)
{
    if (it->type == M_NET)
        return a && net_pattern_match(&it->net, a);
    if (it->type == M_NAME)
        return name[0] && name_match(l, it->name, name);
    int r = name[0] ? table_match_domain(l, it->t, name, res) : TABLE_NOTFOUND;
    if (r == TABLE_NOTFOUND && a)
        r = table_lookup(it->t, txt, res);
    if (r == TABLE_TEMPFAIL) {
        msg_warn("%s: table lookup problem for \"%s\"", table_spec(it->t),
                 name[0] ? name : txt);
        return -1;
    }
    return r == TABLE_FOUND;
}

int host_list_match(struct match_list *l, const char *name, const char *addr)
{
    if (!l)
        return 0;
    char folded[TABLE_KEY_MAX + 1] = "";
    if (name && strlen(name) <= TABLE_KEY_MAX)
        table_fold(folded, name, sizeof(folded));
    struct net_addr a;
    char txt[INET6_ADDRSTRLEN] = "";
    int have_addr = addr && net_addr_parse(addr, &a, 1) == 0;
    if (have_addr)
        inet_ntop(a.family, a.a, txt, sizeof(txt));
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    int result = 0;
    for (size_t i = 0; i < l->n; i++) {
        int m = host_item_match(l, &l->v[i], folded, have_addr ? &a : NULL, txt, &res);
        if (m != 0) {
            result = m < 0 ? -1 : !l->v[i].negate;
            break;
        }
    }
    buf_free(&res);
    return result;
}
