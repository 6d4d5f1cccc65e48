/*
 * table.c - lookup tables: opening "type:name" specs, the shared-handle
 * registry, key folding and limits, the maps list type and Postfix's
 * address search orders (maps_lookup_addr). The table types themselves
 * live in table_file.c (static, inline, texthash, unix, fail, unionmap),
 * table_lmdb.c (hash, lmdb, and building them), table_regexp.c (regexp,
 * pcre), table_cidr.c, table_sqlite.c, table_pgsql.c and table_mysql.c (the
 * SQL types share table_sql.c), table_socketmap.c. Source-file reading
 * helpers are in table_src.c.
 */
#include "lib-table/table_impl.h"
#include "lib-mail/addr.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int table_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void table_fold(char *dst, const char *src, size_t size)
{
    size_t i = 0;
    if (!size)
        return;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/*
 * Registry of open tables. The same spec opened twice in one process (a
 * common case: $alias_maps inside local_recipient_maps) shares one handle,
 * as Postfix's dict_handle() does, so a big texthash: is loaded once.
 */
static struct table *open_tables;

struct type_entry {
    const char *type;
    int kind;
};

enum { K_STATIC, K_INLINE, K_TEXTHASH, K_LMDB, K_REGEXP, K_PCRE, K_CIDR, K_UNION,
       K_SQLITE, K_UNIX, K_FAIL, K_SOCKETMAP, K_PGSQL, K_MYSQL, K_LDAP, K_DOVECOT_SQL, K_DOVECOT_LDAP };

static const struct type_entry types[] = {
    {"static", K_STATIC},     {"inline", K_INLINE}, {"texthash", K_TEXTHASH},
    {"hash", K_LMDB},         {"lmdb", K_LMDB},     {"regexp", K_REGEXP},
    {"pcre", K_PCRE},         {"cidr", K_CIDR},     {"unionmap", K_UNION},
    {"sqlite", K_SQLITE},     {"unix", K_UNIX},     {"fail", K_FAIL},
    {"socketmap", K_SOCKETMAP}, {"pgsql", K_PGSQL},   {"mysql", K_MYSQL},
    {"ldap", K_LDAP}, {"dovecot-sql", K_DOVECOT_SQL}, {"dovecot-ldap", K_DOVECOT_LDAP},
};

struct table *table_open(const char *spec, const struct config *cfg, char *err, size_t errlen)
{
    const char *s = spec;
    /* proxy:type:name: remote types are served by the proxymap service in
     * event-loop processes whether written with proxy: or not
     * (table_async.c); local files answer at once and are opened here. */
    while (strncasecmp(s, "proxy:", 6) == 0)
        s += 6;
    const char *colon = strchr(s, ':');
    if (!colon || colon == s) {
        table_err(err, errlen, "table \"%s\": expected type:name", spec);
        return NULL;
    }
    size_t tlen = (size_t)(colon - s);
    const struct type_entry *te = NULL;
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        if (strlen(types[i].type) == tlen && strncasecmp(types[i].type, s, tlen) == 0)
            te = &types[i];
    if (!te) {
        table_err(err, errlen,
                  "table \"%s\": unsupported lookup table type \"%.*s\" (supported: static inline "
                  "texthash hash lmdb regexp pcre cidr unionmap sqlite pgsql mysql ldap socketmap "
                  "unix fail)",
                  spec, (int)tlen, s);
        return NULL;
    }
    if (colon[1] == '\0' && te->kind != K_STATIC) {
        table_err(err, errlen, "table \"%s\": missing table name after \"%s:\"", spec, te->type);
        return NULL;
    }
    for (struct table *o = open_tables; o; o = o->next_open) {
        if (strcmp(o->spec, s) == 0 && o->cfg == cfg) {
            o->refs++;
            return o;
        }
    }

    struct table *t = xcalloc(1, sizeof(*t));
    t->spec = xstrdup(s);
    t->type = xstrdup(te->type);
    t->name = xstrdup(colon + 1);
    t->refs = 1;
    t->cfg = cfg;
    t->flags = TABLE_F_FIXED;
    t->fold = 1;
    char why[1024];
    why[0] = '\0';
    int rc;
    switch (te->kind) {
    case K_STATIC: rc = table_static_open(t, why, sizeof(why)); break;
    case K_INLINE: rc = table_inline_open(t, why, sizeof(why)); break;
    case K_TEXTHASH: rc = table_texthash_open(t, why, sizeof(why)); break;
    case K_LMDB: rc = table_lmdb_open(t, why, sizeof(why)); break;
    case K_REGEXP: rc = table_regexp_open(t, 0, why, sizeof(why)); break;
    case K_PCRE: rc = table_regexp_open(t, 1, why, sizeof(why)); break;
    case K_CIDR: rc = table_cidr_open(t, why, sizeof(why)); break;
    case K_UNION: rc = table_union_open(t, cfg, why, sizeof(why)); break;
    case K_SQLITE: rc = table_sqlite_open(t, cfg, why, sizeof(why)); break;
    case K_UNIX: rc = table_unix_open(t, why, sizeof(why)); break;
    case K_SOCKETMAP: rc = table_socketmap_open(t, cfg, why, sizeof(why)); break;
    case K_PGSQL: rc = table_pgsql_open(t, cfg, why, sizeof(why)); break;
    case K_MYSQL: rc = table_mysql_open(t, cfg, why, sizeof(why)); break;
    case K_LDAP: rc = table_ldap_open(t, cfg, why, sizeof(why)); break;
    case K_DOVECOT_SQL: rc = table_dovecot_sql_open(t, why, sizeof(why)); break;
    case K_DOVECOT_LDAP: rc = table_dovecot_ldap_open(t, why, sizeof(why)); break;
    default: rc = table_fail_open(t, why, sizeof(why)); break;
    }
    if (rc < 0) {
        table_err(err, errlen, "%s: %s", t->spec, why[0] ? why : "cannot open table");
        free(t->spec);
        free(t->type);
        free(t->name);
        free(t);
        return NULL;
    }
    t->next_open = open_tables;
    open_tables = t;
    return t;
}

void table_close(struct table *t)
{
    if (!t || --t->refs > 0)
        return;
    for (struct table **pp = &open_tables; *pp; pp = &(*pp)->next_open) {
        if (*pp == t) {
            *pp = t->next_open;
            break;
        }
    }
    if (t->ops && t->ops->close)
        t->ops->close(t);
    free(t->spec);
    free(t->type);
    free(t->name);
    free(t);
}

/* The lookup itself, key already folded: in place, or through proxymap. */
static int lookup_key(struct table *t, const char *key, struct buf *result)
{
    int rc;
    if ((t->flags & TABLE_F_REMOTE) && table_async_lookup(t, key, result, &rc))
        return rc;
    return t->ops->lookup(t, key, result);
}

int table_lookup(struct table *t, const char *key, struct buf *result)
{
    buf_reset(result);
    size_t klen = strlen(key);
    if (klen > TABLE_KEY_MAX)
        return TABLE_NOTFOUND;   /* can never be in a table: sources refuse such keys */
    if (!t->fold)
        return lookup_key(t, key, result);
    char folded[TABLE_KEY_MAX + 1];
    table_fold(folded, key, sizeof(folded));
    return lookup_key(t, folded, result);
}

int table_lookup_exact(struct table *t, const char *key, struct buf *result)
{
    buf_reset(result);
    if (strlen(key) > TABLE_KEY_MAX)
        return TABLE_NOTFOUND;
    return lookup_key(t, key, result);
}

int table_flags(const struct table *t)
{
    return t->flags;
}

const char *table_spec(const struct table *t)
{
    return t->spec;
}

const char *table_type(const struct table *t)
{
    return t->type;
}

const char *table_name(const struct table *t)
{
    return t->name;
}

int table_iterate(struct table *t, table_iter_fn fn, void *arg, char *err, size_t errlen)
{
    if (!t->ops->iterate)
        return table_err(err, errlen, "%s: table type \"%s\" does not support listing", t->spec,
                         t->type);
    return t->ops->iterate(t, fn, arg, err, errlen);
}

/* ---------------------------------------------------------------- maps */

struct maps {
    size_t n;
    struct table **t;
};

struct maps *maps_open(const char *value, const struct config *cfg, char *err, size_t errlen)
{
    size_t n = 0;
    char **v = str_split_list(value ? value : "", &n);
    struct maps *m = xcalloc(1, sizeof(*m));
    m->t = xcalloc(n ? n : 1, sizeof(*m->t));
    for (size_t i = 0; i < n; i++) {
        struct table *t = table_open(v[i], cfg, err, errlen);
        if (!t) {
            strv_free(v);
            maps_close(m);
            return NULL;
        }
        m->t[m->n++] = t;
    }
    strv_free(v);
    return m;
}

struct maps *maps_open_tolerant(const char *value, const struct config *cfg, const char *what)
{
    size_t n = 0;
    char **v = str_split_list(value ? value : "", &n);
    struct maps *m = xcalloc(1, sizeof(*m));
    m->t = xcalloc(n ? n : 1, sizeof(*m->t));
    for (size_t i = 0; i < n; i++) {
        char err[1024];
        struct table *t = table_open(v[i], cfg, err, sizeof(err));
        if (!t) {
            msg_error("%s: %s", what, err);
            t = table_open("fail:unavailable", NULL, err, sizeof(err));
        }
        if (t)
            m->t[m->n++] = t;
    }
    strv_free(v);
    return m;
}

void maps_close(struct maps *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        table_close(m->t[i]);
    free(m->t);
    free(m);
}

int maps_empty(const struct maps *m)
{
    return !m || m->n == 0;
}

size_t maps_count(const struct maps *m)
{
    return m ? m->n : 0;
}

struct table *maps_table(const struct maps *m, size_t i)
{
    return m && i < m->n ? m->t[i] : NULL;
}

int maps_find(struct maps *m, const char *key, int partial, struct buf *result)
{
    if (!m)
        return TABLE_NOTFOUND;
    for (size_t i = 0; i < m->n; i++) {
        /* Postfix: partial keys (user, @domain, parent domains ...) are
         * never shown to pattern tables, which see the full key only. */
        if (partial && (m->t[i]->flags & TABLE_F_PATTERN))
            continue;
        int r = table_lookup(m->t[i], key, result);
        if (r != TABLE_NOTFOUND)
            return r;   /* found, or the first error stops the search */
    }
    buf_reset(result);
    return TABLE_NOTFOUND;
}

int maps_lookup(struct maps *m, const char *key, struct buf *result)
{
    return maps_find(m, key, 0, result);
}

/* ------------------------------------------------------ address search */

size_t table_ext_offset(const char *local, size_t len, const char *delims)
{
    if (!delims || !*delims || len == 0)
        return 0;
    /* Never split these (Postfix split_addr). */
    static const char *const keep[] = {"postmaster", "mailer-daemon", "double-bounce"};
    for (size_t i = 0; i < ARRAY_LEN(keep); i++)
        if (strlen(keep[i]) == len && strncasecmp(local, keep[i], len) == 0)
            return 0;
    /* owner_request_special: owner-list and list-request stay whole. */
    if (strchr(delims, '-')) {
        if (len >= 6 && strncasecmp(local, "owner-", 6) == 0)
            return 0;
        if (len > 8 && strncasecmp(local + len - 8, "-request", 8) == 0)
            return 0;
    }
    size_t i = 0;
    while (i < len && !strchr(delims, local[i]))
        i++;
    if (i == 0 || i >= len)
        return 0;
    return i;
}

struct addr_query {
    struct maps *m;
    struct buf *result;
    struct buf key;
    int quote;          /* try the quoted localpart form first */
};

/* Look up local[0..llen) + suffix (suffix: "@domain", "@" or ""). */
static int try_key(struct addr_query *q, const char *local, size_t llen, const char *suffix,
                   int partial)
{
    int r;
    if (q->quote && addr_local_needs_quoting(local, llen)) {
        buf_reset(&q->key);
        int ok = addr_quote_local(&q->key, local, llen);
        if (ok == 0)
            ok = buf_puts(&q->key, suffix);
        if (ok == 0) {
            r = maps_find(q->m, buf_cstr(&q->key), partial, q->result);
            if (r != TABLE_NOTFOUND)
                return r;
        }
    }
    buf_reset(&q->key);
    if (buf_append(&q->key, local, llen) < 0 || buf_puts(&q->key, suffix) < 0)
        return TABLE_NOTFOUND;   /* longer than any key can be */
    return maps_find(q->m, buf_cstr(&q->key), partial, q->result);
}

#define FULL 0
#define PARTIAL 1

int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, int flags,
                     struct buf *result, int *ext_used)
{
    int dummy;
    if (!ext_used)
        ext_used = &dummy;
    *ext_used = 0;
    buf_reset(result);
    if (maps_empty(m))
        return TABLE_NOTFOUND;

    struct addr_query q = {m, result, {0}, !(flags & MAPS_ADDR_ACCESS)};
    buf_init(&q.key, TABLE_KEY_MAX + 1);
    const char *at = strrchr(addr, '@');
    size_t llen = at ? (size_t)(at - addr) : strlen(addr);
    const char *suffix = at ? at : "";          /* "@domain" */
    size_t ext = table_ext_offset(addr, llen, delim);
    int r;

    /* 1: the full address, the only key pattern tables see. */
    r = try_key(&q, addr, llen, suffix, FULL);
    /* 2: without the extension. */
    if (r == TABLE_NOTFOUND && ext) {
        r = try_key(&q, addr, ext, suffix, PARTIAL);
        if (r == TABLE_FOUND)
            *ext_used = 1;
    }
    if (r != TABLE_NOTFOUND || !at)
        goto done;

    if (flags & MAPS_ADDR_ACCESS) {
        /* 3: domain and parent domains. */
        const char *domain = at + 1;
        const char *name = domain;
        while (*name) {
            r = maps_find(m, name, PARTIAL, result);
            if (r != TABLE_NOTFOUND || domain[0] == '[')
                break;
            const char *next = strchr(name + 1, '.');
            if (!next)
                break;
            name = (flags & MAPS_ADDR_PARENT) ? next + 1 : next;
        }
        /* 4, 5: user+ext@ and user@. */
        if (r == TABLE_NOTFOUND)
            r = try_key(&q, addr, llen, "@", PARTIAL);
        if (r == TABLE_NOTFOUND && ext) {
            r = try_key(&q, addr, ext, "@", PARTIAL);
            if (r == TABLE_FOUND)
                *ext_used = 1;
        }
        goto done;
    }

    /* 3, 4: the bare localpart, when the caller says the domain is ours. */
    if (flags & MAPS_ADDR_LOCALPART) {
        r = try_key(&q, addr, llen, "", PARTIAL);
        if (r == TABLE_NOTFOUND && ext) {
            r = try_key(&q, addr, ext, "", PARTIAL);
            if (r == TABLE_FOUND)
                *ext_used = 1;
        }
        if (r != TABLE_NOTFOUND)
            goto done;
    }
    /* 5: @domain (the extension is not propagated from a catch-all). */
    if (flags & MAPS_ADDR_DOMAIN)
        r = maps_find(m, at, PARTIAL, result);

done:
    buf_free(&q.key);
    if (r != TABLE_FOUND) {
        *ext_used = 0;
        if (r == TABLE_NOTFOUND)
            buf_reset(result);
    }
    return r;
}

/* -------------------------------------------------------------- base64 */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int table_b64_encode(const void *data, size_t len, struct buf *out)
{
    const unsigned char *p = data;
    char q[4];
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        q[0] = b64chars[(v >> 18) & 63];
        q[1] = b64chars[(v >> 12) & 63];
        q[2] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        q[3] = i + 2 < len ? b64chars[v & 63] : '=';
        if (buf_append(out, q, 4) < 0)
            return -1;
    }
    return 0;
}

int table_b64_decode(const char *in, struct buf *out)
{
    unsigned v = 0;
    int bits = 0, pad = 0;
    for (const char *p = in; *p; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (*p == '=') {
            pad++;
            continue;
        }
        const char *c = strchr(b64chars, *p);
        if (!c || pad)
            return -1;
        v = (v << 6) | (unsigned)(c - b64chars);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (buf_putc(out, (char)((v >> bits) & 0xff)) < 0)
                return -1;
        }
    }
    if (pad > 2 || bits >= 6)
        return -1;
    return 0;
}
