/*
 * table_sql.c - the part of sqlite:, pgsql: and mysql: tables that does
 * not depend on the database: the .cf reader, %-expansion with escaping
 * through the driver, result_format and joining results, the domain
 * filter, the hosts list and the connect/retry policy. See table_sql.h.
 */
#include "lib-table/table_sql.h"
#include "lib-table/table_impl.h"
#include "lib-table/matchlist.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the .cf */

struct sql_setting *sql_setting(struct sql_setting *s, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    return NULL;
}

/* One "name = value" line. 0, or -1 with err. */
static int cf_line(char *line, int lineno, const char *path, const char *type,
                   struct sql_setting *s, size_t n, int strict, char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return table_err(err, errlen, "%s:%d: missing '=' after parameter name", path, lineno);
    *eq = '\0';
    char *name = str_trim(line), *value = str_trim(eq + 1);
    struct sql_setting *st = sql_setting(s, n, name);
    if (!st) {
        if (strict)
            return table_err(err, errlen, "%s:%d: unknown %s parameter \"%s\"", path, lineno,
                             type, name);
        msg_warn("%s:%d: unknown %s parameter \"%s\" ignored", path, lineno, type, name);
        return 0;
    }
    free(st->value);
    st->value = xstrdup(value);
    st->line = lineno;
    return 0;
}

int sql_cf_read(const char *path, const char *type, struct sql_setting *s, size_t n, int strict,
                char *err, size_t errlen)
{
    struct tsrc src;
    if (tsrc_open_file(&src, path, err, errlen) < 0)
        return -1;
    struct buf line;
    buf_init(&line, 0);
    int lineno = 0, r, rc = 0;
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        rc = cf_line(line.data, lineno, path, type, s, n, strict, err, errlen);
        if (rc < 0)
            break;
    }
    if (r < 0)
        rc = -1;
    buf_free(&line);
    tsrc_close(&src);
    return rc;
}

int sql_cf_fill(const struct sql_preset *ps, const char *where, struct sql_setting *s, size_t n,
                char *err, size_t errlen)
{
    for (size_t i = 0; ps->kv[i] && ps->kv[i + 1]; i += 2) {
        struct sql_setting *st = sql_setting(s, n, ps->kv[i]);
        if (!st)
            return table_err(err, errlen, "%s: unknown setting \"%s\"", where, ps->kv[i]);
        free(st->value);
        st->value = xstrdup(ps->kv[i + 1]);
        st->line = 0;
    }
    return 0;
}

void sql_settings_free(struct sql_setting *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(s[i].value);
        s[i].value = NULL;
    }
}

/* ---------------------------------------------------------- the key */

void sql_key_split(const char *key, struct sql_key *k)
{
    k->key = key;
    const char *at = strrchr(key, '@');
    if (at) {
        k->local = key;
        k->llen = (size_t)(at - key);
        k->domain = at + 1;
    } else {
        k->local = NULL;
        k->llen = 0;
        k->domain = NULL;
    }
}

/* %1..%9: the want-th label of domain counted from the right. */
static int domain_label(const char *domain, int want, const char **s, size_t *len)
{
    const char *end = domain + strlen(domain);
    for (int i = 1;; i++) {
        const char *dot = end;
        while (dot > domain && dot[-1] != '.')
            dot--;
        if (i == want) {
            *s = dot;
            *len = (size_t)(end - dot);
            return *len ? 0 : -1;
        }
        if (dot == domain)
            return -1;
        end = dot - 1;
    }
}

int sql_key_part(const struct sql_key *k, char c, const char **s, size_t *len)
{
    switch (tolower((unsigned char)c)) {
    case 's':
        *s = k->key;
        *len = strlen(k->key);
        return **s ? 0 : -1;
    case 'u':
        if (!k->domain) {
            *s = k->key;
            *len = strlen(k->key);
            return 0;
        }
        *s = k->local;
        *len = k->llen;
        return k->llen ? 0 : -1;
    case 'd':
        if (!k->domain || !*k->domain)
            return -1;
        *s = k->domain;
        *len = strlen(k->domain);
        return 0;
    default:
        if (!k->domain || !*k->domain || c < '1' || c > '9')
            return -1;
        return domain_label(k->domain, c - '0', s, len);
    }
}

/* ------------------------------------------------------ templates */

/* The quote context after character c (0: none; else the closing char). */
static char quote_next(const struct sql_dialect *d, char quote, char c)
{
    if (quote)
        return c == quote ? 0 : quote;
    if (c && strchr(d->openers, c))
        return c == '[' ? ']' : c;
    return 0;
}

int sql_template_check(const char *tmpl, const struct sql_dialect *d, int is_query,
                       const char *what, char *err, size_t errlen)
{
    char quote = 0;
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            quote = quote_next(d, quote, *p);
            continue;
        }
        p++;
        if (!*p || !strchr("%sudSUD123456789", *p))
            return table_err(err, errlen, "invalid %s template: unknown \"%%%c\"", what,
                             *p ? *p : ' ');
        if (is_query && *p != '%' && quote && strchr(d->refused, quote))
            return table_err(err, errlen,
                             "%s: %%%c inside an identifier quote is not supported", what, *p);
    }
    return 0;
}

int sql_expand(const char *tmpl, const struct sql_dialect *d, const struct sql_key *k,
               sql_escape_fn esc, void *ctx, struct buf *out)
{
    char quote = 0;
    buf_reset(out);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            quote = quote_next(d, quote, *p);
            if (buf_putc(out, *p) < 0)
                return -1;
            continue;
        }
        p++;
        if (*p == '%') {
            if (buf_putc(out, '%') < 0)
                return -1;
            continue;
        }
        const char *s;
        size_t len;
        if (sql_key_part(k, *p, &s, &len) < 0)
            return 0;
        if (esc(ctx, s, len, quote, out) < 0)
            return -1;
    }
    return 1;
}

int sql_escape_double(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    (void)ctx;
    char q = quote ? quote : '\'';
    if (!quote && buf_putc(out, q) < 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == q && buf_putc(out, q) < 0)
            return -1;
        if (buf_putc(out, s[i]) < 0)
            return -1;
    }
    if (!quote && buf_putc(out, q) < 0)
        return -1;
    return 0;
}

/* --------------------------------------------------------- results */

int sql_format_result(const char *fmt, const char *value, const struct sql_key *k,
                      struct buf *out)
{
    struct sql_key v;
    sql_key_split(value, &v);
    size_t mark = out->len;
    if (mark && buf_putc(out, ',') < 0)
        return -1;
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            if (buf_putc(out, *p) < 0)
                return -1;
            continue;
        }
        p++;
        const char *s = "%";
        size_t len = 1;
        int r = 0;
        if (*p != '%')
            r = sql_key_part(islower((unsigned char)*p) ? &v : k, *p, &s, &len);
        if (r < 0) {
            out->len = mark;   /* this result is skipped */
            if (out->data)
                out->data[mark] = '\0';
            return 0;
        }
        if (buf_append(out, s, len) < 0)
            return -1;
    }
    return 1;
}

void sql_results_init(struct sql_results *r, const struct sql_common *c, const struct sql_key *k,
                      struct buf *out)
{
    r->c = c;
    r->k = k;
    r->out = out;
    r->count = 0;
    buf_reset(out);
}

int sql_results_add(struct sql_results *r, const char *value, const char **why)
{
    if (!value || !*value)
        return 0;   /* NULL or empty values are skipped */
    int f = sql_format_result(r->c->result_format, value, r->k, r->out);
    if (f < 0) {
        *why = "result too long";
        return -1;
    }
    if (f > 0 && ++r->count > r->c->expansion_limit && r->c->expansion_limit > 0) {
        *why = "result exceeds expansion_limit";
        return -1;
    }
    return 0;
}

int sql_results_add_named(struct sql_results *r, const char *column, const char *value,
                          const char **why)
{
    if (!value)
        return 0;
    for (const char *p = value; *p; p++) {
        if ((unsigned char)*p < ' ' || *p == 0x7f) {
            *why = "control character in a result column";
            return -1;
        }
    }
    if ((r->out->len && buf_putc(r->out, '\t') < 0) ||
        buf_printf(r->out, "%s=%s", column, value) < 0) {
        *why = "result too long";
        return -1;
    }
    r->count++;
    return 0;
}

/* -------------------------------------------------- common settings */

enum { C_QUERY, C_RESULT_FORMAT, C_DOMAIN, C_EXPANSION_LIMIT, C_TABLE, C_SELECT, C_WHERE,
       C_ADDITIONAL };

static int common_query(struct sql_common *c, struct sql_setting *s, const char *where,
                        const char *prefix, char *err, size_t errlen)
{
    if (s[C_QUERY].value && *s[C_QUERY].value) {
        c->query = xstrdup(s[C_QUERY].value);
    } else if (s[C_TABLE].value && s[C_SELECT].value && s[C_WHERE].value) {
        c->query = xasprintf("SELECT %s FROM %s WHERE %s = '%%s' %s", s[C_SELECT].value,
                             s[C_TABLE].value, s[C_WHERE].value,
                             s[C_ADDITIONAL].value ? s[C_ADDITIONAL].value : "");
    } else {
        return table_err(err, errlen, "%s: missing \"%squery\" parameter", where, prefix);
    }
    return 0;
}

int sql_common_init(struct sql_common *c, struct sql_setting *s, const struct sql_dialect *d,
                    const struct config *cfg, const char *where, const char *prefix, char *err,
                    size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->dialect = d;
    if (common_query(c, s, where, prefix, err, errlen) < 0)
        return -1;
    c->result_format = xstrdup(s[C_RESULT_FORMAT].value ? s[C_RESULT_FORMAT].value : "%s");
    const char *lim = s[C_EXPANSION_LIMIT].value;
    char *end = NULL;
    c->expansion_limit = lim ? strtol(lim, &end, 10) : 0;
    if (lim && (*lim == '\0' || *end || c->expansion_limit < 0))
        return table_err(err, errlen, "%s: bad expansion_limit \"%s\"", where, lim);
    if (sql_template_check(c->query, d, 1, "query", err, errlen) < 0 ||
        sql_template_check(c->result_format, d, 0, "result_format", err, errlen) < 0)
        return -1;
    if (s[C_DOMAIN].value && *s[C_DOMAIN].value) {
        char why[512];
        c->domains = domain_list_new(s[C_DOMAIN].value, cfg, 0, why, sizeof(why));
        if (!c->domains)
            return table_err(err, errlen, "%s: domain: %s", where, why);
    }
    return 0;
}

void sql_common_free(struct sql_common *c)
{
    match_list_free(c->domains);
    free(c->query);
    free(c->result_format);
    memset(c, 0, sizeof(*c));
}

int sql_domain_ok(const struct sql_common *c, const struct sql_key *k)
{
    if (!c->domains)
        return 1;
    /* Only user@domain keys with a listed domain are worth a query. */
    if (!k->domain || !k->llen || !*k->domain)
        return 0;
    int m = domain_list_match(c->domains, k->domain);
    return m < 0 ? -1 : m > 0;
}

/* ----------------------------------------------------------- hosts */

long long sql_duration_ms(const char *s)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v > 86400 * 7)
        return -1;
    long long mult = 1000;
    if (*end == 'm')
        mult = 60000;
    else if (*end == 'h')
        mult = 3600000;
    if (*end == 's' || *end == 'm' || *end == 'h')
        end++;
    return *end ? -1 : v * mult;
}

/* "host", "host:port", "[addr]:port", "[addr]" into h (inet). */
static int parse_inet(struct sql_host *h, const char *s, char *err, size_t errlen)
{
    const char *colon = NULL, *end = s + strlen(s);
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || (rb[1] && rb[1] != ':'))
            return table_err(err, errlen, "bad host \"%s\"", h->spec);
        h->host = xstrndup(s + 1, (size_t)(rb - s - 1));
        colon = rb[1] ? rb + 1 : NULL;
    } else {
        colon = strchr(s, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL;   /* a bare IPv6 address */
        h->host = xstrndup(s, (size_t)((colon ? colon : end) - s));
    }
    if (colon) {
        char *pend;
        long p = strtol(colon + 1, &pend, 10);
        if (!colon[1] || *pend || p <= 0 || p > 65535)
            return table_err(err, errlen, "bad port in host \"%s\"", h->spec);
        h->port = (unsigned)p;
    }
    if (!*h->host)
        return table_err(err, errlen, "bad host \"%s\"", h->spec);
    return 0;
}

static int parse_host(struct sql_host *h, const char *s, int allow_uri, char *err, size_t errlen)
{
    h->spec = xstrdup(s);
    if (strncmp(s, "unix:", 5) == 0) {
        h->kind = SQL_HOST_UNIX;
        h->host = xstrdup(s + 5);
        if (h->host[0] != '/')
            return table_err(err, errlen, "host \"%s\": unix: needs an absolute path", s);
        return 0;
    }
    if (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0) {
        if (!allow_uri)
            return table_err(err, errlen, "host \"%s\": URIs are for pgsql: tables", s);
        h->kind = SQL_HOST_URI;
        h->host = xstrdup(s);
        return 0;
    }
    h->kind = SQL_HOST_INET;
    return parse_inet(h, strncmp(s, "inet:", 5) == 0 ? s + 5 : s, err, errlen);
}

static void hosts_free(struct sql_host *hosts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(hosts[i].spec);
        free(hosts[i].host);
    }
    free(hosts);
}

int sql_hosts_parse(const char *value, int allow_uri, struct sql_host **hosts, size_t *n,
                    char *err, size_t errlen)
{
    size_t count = 0;
    char **list = str_split_list(value ? value : "", &count);
    struct sql_host *h = xcalloc(count + 1, sizeof(*h));
    int rc = 0;
    char why[512];
    for (size_t i = 0; rc == 0 && i < count; i++)
        if (parse_host(&h[i], list[i], allow_uri, why, sizeof(why)) < 0)
            rc = table_err(err, errlen, "hosts: %s", why);
    strv_free(list);
    if (rc == 0 && count == 0)
        rc = table_err(err, errlen, "missing \"hosts\" parameter");
    if (rc < 0) {
        hosts_free(h, count);
        return -1;
    }
    *hosts = h;
    *n = count;
    return 0;
}

static int duration_setting(const char *value, long long dflt, const char *name, unsigned *ms,
                            const char *where, char *err, size_t errlen)
{
    long long v = value ? sql_duration_ms(value) : dflt;
    if (v < 0)
        return table_err(err, errlen, "%s: bad %s \"%s\" (seconds, or with s, m, h)", where,
                         name, value);
    *ms = (unsigned)v;
    return 0;
}

int sql_server_init(struct sql_server *sv, const char *hosts, const char *retry,
                    const char *idle, const char *timeout, int allow_uri, const char *where,
                    char *err, size_t errlen)
{
    memset(sv, 0, sizeof(*sv));
    sv->current = -1;
    char why[600];
    if (sql_hosts_parse(hosts, allow_uri, &sv->hosts, &sv->nhosts, why, sizeof(why)) < 0)
        return table_err(err, errlen, "%s: %s", where, why);
    if (duration_setting(retry, 60000, "retry_interval", &sv->retry_ms, where, err, errlen) < 0 ||
        duration_setting(idle, 60000, "idle_interval", &sv->idle_ms, where, err, errlen) < 0 ||
        duration_setting(timeout, 10000, "timeout", &sv->timeout_ms, where, err, errlen) < 0)
        return -1;
    if (sv->timeout_ms < 1000)
        return table_err(err, errlen, "%s: timeout must be at least 1s", where);
    return 0;
}

void sql_server_free(struct sql_server *sv)
{
    hosts_free(sv->hosts, sv->nhosts);
    memset(sv, 0, sizeof(*sv));
    sv->current = -1;
}

int sql_server_connect(struct sql_server *sv, const char *table, sql_connect_fn connect,
                       void *ctx, char *why, size_t whylen)
{
    uint64_t now = mono_msec();
    str_copy(why, "every host failed within retry_interval", whylen);
    for (size_t i = 0; i < sv->nhosts; i++) {
        struct sql_host *h = &sv->hosts[i];
        if (h->dead_until > now)
            continue;
        char reason[512];
        if (connect(ctx, h, reason, sizeof(reason)) == 0) {
            h->dead_until = 0;
            sv->current = (int)i;
            sv->last_used = mono_msec();
            return (int)i;
        }
        msg_warn("%s: cannot connect to %s: %s", table, h->spec, reason);
        str_fmt(why, whylen, "%s: %s", h->spec, reason);
        h->dead_until = mono_msec() + sv->retry_ms;
    }
    return -1;
}

int sql_server_idle(const struct sql_server *sv)
{
    return sv->current >= 0 && sv->idle_ms && mono_msec() - sv->last_used > sv->idle_ms;
}

int sql_lookup_run(const struct sql_common *c, struct sql_server *sv, const char *table,
                   const struct sql_driver *d, void *ctx, const char *key, struct buf *result)
{
    struct sql_key k;
    sql_key_split(key, &k);
    int ok = sql_domain_ok(c, &k);
    if (ok <= 0)
        return ok < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    if (sql_server_idle(sv))
        d->disconnect(ctx);
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = d->connected(ctx);
        char why[600];
        if (!reused && sql_server_connect(sv, table, d->connect, ctx, why, sizeof(why)) < 0) {
            msg_warn("%s: lookup of \"%s\": no database server available (%s)", table, key,
                     why);
            return TABLE_TEMPFAIL;
        }
        int rc = d->attempt(ctx, &k, key, reused, result);
        if (rc != 2)
            return rc;
    }
    return TABLE_TEMPFAIL;
}
