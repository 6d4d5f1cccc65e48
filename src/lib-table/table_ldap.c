/*
 * table_ldap.c - ldap: tables (ldap_table(5)) on libldap. The name is a
 * .cf file in main.cf syntax:
 *   server_host       servers tried in order: host, host:port, ldap://,
 *                     ldaps://, ldapi://%2Fpath (default localhost)
 *   server_port       for items without a port (389)
 *   search_base       where to search; %s %u %d %1-%9 are DN-escaped
 *   scope             sub (default), one, base
 *   query_filter      RFC 4515 filter; %s %u %d %[1-9] (and %S %U %D) are
 *                     filter-escaped ((mailacceptinggeneralid=%s))
 *   result_attribute  attributes whose values are the result (maildrop)
 *   result_format, domain, expansion_limit   as for the SQL tables
 *   special_result_attribute   attributes holding DNs or ldap:// URLs
 *                     that are searched in turn (recursion_limit, 1000)
 *   leaf_result_attribute      returned only from entries without any
 *                     special_result_attribute value
 *   terminal_result_attribute  when an entry has one, only it is returned
 *   size_limit        entries a search may return (0: no limit)
 *   timeout           connect and each operation (10s)
 *   bind              yes (simple bind as bind_dn/bind_pw; anonymous when
 *                     bind_dn is empty), no, sasl (sasl_mechs, e.g. EXTERNAL
 *                     over ldapi://; bind_dn is the authentication id,
 *                     bind_pw, sasl_realm, sasl_authz_id)
 *   version           2 or 3 (yubin's default is 3: Postfix's 2 is refused
 *                     by today's slapd)
 *   dereference       0 never, 1 searching, 2 finding, 3 always
 *   start_tls, tls_ca_cert_file, tls_ca_cert_dir, tls_cert, tls_key,
 *   tls_require_cert
 * Settings of ldap_table(5) yubin has no use for (cache, chase_referrals,
 * debuglevel, tls_random_file ...) are accepted and ignored.
 *
 * Owns: the filter and base built from the key, the walk over entries
 * and their special/leaf/terminal attributes, the result. The connection
 * is ldap_conn.c's: every failure is a temporary one.
 *
 * Lookups block: event-loop processes send them to proxymap (TABLE_F_REMOTE).
 */
#include "lib-table/table_impl.h"
#include "lib-table/table_sql.h"
#include "lib-table/ldap_conn.h"
#include "lib-table/ldap_escape.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LDAP_FILTER_MAX (TABLE_KEY_MAX * 3 + 4096)

struct ldap_priv {
    const char *spec;
    struct sql_common c;        /* query (the filter), result_format, domain, expansion_limit */
    struct ldapc conn;
    char *base;
    int scope;
    char **result, **special, **leaf, **terminal;
    char **attrs;               /* all of the above, for the searches */
    int size_limit;
    long recursion_limit;
};

/* No quotes in filters: every expansion is escaped the same way. */
static const struct sql_dialect ldap_dialect = {"", ""};

static int esc_filter(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    (void)ctx, (void)quote;
    return ldap_escape_filter(s, len, out);
}

static int esc_dn(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    (void)ctx, (void)quote;
    return ldap_escape_dn(s, len, out);
}

/* --------------------------------------------------------------- walk */

struct walk {
    struct ldap_priv *p;
    struct sql_results r;
    const char *key;
    char why[512];
};

static int has_values(struct ldapc *c, void *e, char **attrs)
{
    for (size_t i = 0; attrs && attrs[i]; i++) {
        char **v = ldapc_values(c, e, attrs[i]);
        int any = v[0] != NULL;
        strv_free(v);
        if (any)
            return 1;
    }
    return 0;
}

/* Add the values of attrs in e. 0 or -1 (why set). */
static int add_values(struct walk *w, void *e, char **attrs)
{
    for (size_t i = 0; attrs && attrs[i]; i++) {
        char **v = ldapc_values(&w->p->conn, e, attrs[i]);
        int rc = 0;
        const char *why = NULL;
        for (size_t j = 0; rc == 0 && v[j]; j++)
            rc = sql_results_add(&w->r, v[j], &why);
        strv_free(v);
        if (rc < 0) {
            str_copy(w->why, why, sizeof(w->why));
            return -1;
        }
    }
    return 0;
}

static int walk_entries(struct walk *w, void *res, long depth);

/* Follow one special_result_attribute value: a DN or an ldap:// URL. */
static int follow(struct walk *w, const char *value, long depth)
{
    struct ldap_priv *p = w->p;
    if (depth >= p->recursion_limit) {
        str_fmt(w->why, sizeof(w->why), "recursion_limit %ld reached", p->recursion_limit);
        return -1;
    }
    const char *base = value, *filter = "(objectClass=*)";
    int scope = LDAPC_SCOPE_BASE;
    LDAPURLDesc *u = NULL;
    if (ldap_is_ldap_url(value)) {
        if (ldap_url_parse(value, &u) != LDAP_URL_SUCCESS) {
            msg_warn("%s: bad LDAP URL \"%s\" ignored", p->spec, value);
            return 0;
        }
        base = u->lud_dn ? u->lud_dn : "";
        filter = u->lud_filter ? u->lud_filter : filter;
        scope = u->lud_scope == LDAP_SCOPE_SUBTREE   ? LDAPC_SCOPE_SUB
                : u->lud_scope == LDAP_SCOPE_ONELEVEL ? LDAPC_SCOPE_ONE
                                                      : LDAPC_SCOPE_BASE;
    }
    void *res;
    int rc = ldapc_search(&p->conn, base, scope, filter, p->attrs, p->size_limit, &res, w->why,
                          sizeof(w->why));
    if (u)
        ldap_free_urldesc(u);
    if (rc < 0)
        return -1;
    rc = walk_entries(w, res, depth + 1);
    ldapc_res_free(res);
    return rc;
}

static int walk_entry(struct walk *w, void *e, long depth)
{
    struct ldap_priv *p = w->p;
    if (p->terminal && has_values(&p->conn, e, p->terminal))
        return add_values(w, e, p->terminal);
    if (add_values(w, e, p->result) < 0)
        return -1;
    int specials = 0;
    for (size_t i = 0; p->special && p->special[i]; i++) {
        char **v = ldapc_values(&p->conn, e, p->special[i]);
        int rc = 0;
        for (size_t j = 0; rc == 0 && v[j]; j++, specials++)
            rc = follow(w, v[j], depth);
        strv_free(v);
        if (rc < 0)
            return -1;
    }
    return specials ? 0 : add_values(w, e, p->leaf);
}

static int walk_entries(struct walk *w, void *res, long depth)
{
    for (void *e = ldapc_first(&w->p->conn, res); e; e = ldapc_next(&w->p->conn, e))
        if (walk_entry(w, e, depth) < 0)
            return -1;   /* the connection may be gone: stop before touching e again */
    return 0;
}

/* ------------------------------------------------------------- lookup */

/* Filter and base for the key: 1 built, 0 not to be run, -1 failure. */
static int build(struct ldap_priv *p, const struct sql_key *k, struct buf *filter,
                 struct buf *base)
{
    int r = sql_expand(p->c.query, &ldap_dialect, k, esc_filter, p, filter);
    if (r <= 0)
        return r;
    return sql_expand(p->base, &ldap_dialect, k, esc_dn, p, base);
}

static int ldap_lookup(struct table *t, const char *key, struct buf *result)
{
    struct ldap_priv *p = t->priv;
    struct sql_key k;
    sql_key_split(key, &k);
    int ok = sql_domain_ok(&p->c, &k);
    if (ok <= 0)
        return ok < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    struct buf filter, base;
    buf_init(&filter, LDAP_FILTER_MAX);
    buf_init(&base, LDAP_FILTER_MAX);
    int b = build(p, &k, &filter, &base);
    struct walk w = {.p = p, .key = key};
    int rc = TABLE_NOTFOUND;
    void *res = NULL;
    if (b < 0) {
        msg_warn("%s: lookup of \"%s\": key too long", p->spec, key);
        rc = TABLE_TEMPFAIL;
    } else if (b > 0) {
        sql_results_init(&w.r, &p->c, &k, result);
        int s = ldapc_search(&p->conn, buf_cstr(&base), p->scope, buf_cstr(&filter), p->attrs,
                             p->size_limit, &res, w.why, sizeof(w.why));
        if (s < 0 || walk_entries(&w, res, 0) < 0) {
            msg_warn("%s: lookup of \"%s\": %s", p->spec, key, w.why);
            rc = TABLE_TEMPFAIL;
        } else {
            rc = w.r.count ? TABLE_FOUND : TABLE_NOTFOUND;
        }
    }
    ldapc_res_free(res);
    if (rc != TABLE_FOUND)
        buf_reset(result);
    buf_free(&filter);
    buf_free(&base);
    return rc;
}

/* --------------------------------------------------------------- open */

static void ldap_priv_free(struct ldap_priv *p)
{
    ldapc_free(&p->conn);
    sql_common_free(&p->c);
    free(p->base);
    strv_free(p->result);
    strv_free(p->special);
    strv_free(p->leaf);
    strv_free(p->terminal);
    free(p->attrs);
    free(p);
}

static void ldap_close(struct table *t)
{
    ldap_priv_free(t->priv);
}

static const struct table_ops ldap_ops = {ldap_lookup, ldap_close, NULL};

enum { L_SERVER_HOST = SQL_COMMON_COUNT, L_SERVER_PORT, L_SEARCH_BASE, L_SCOPE, L_QUERY_FILTER,
       L_RESULT_ATTRIBUTE, L_SPECIAL, L_LEAF, L_TERMINAL, L_SIZE_LIMIT, L_TIMEOUT, L_BIND,
       L_BIND_DN, L_BIND_PW, L_VERSION, L_DEREF, L_START_TLS, L_TLS_CA_FILE, L_TLS_CA_DIR,
       L_TLS_CERT, L_TLS_KEY, L_TLS_REQUIRE, L_SASL_MECHS, L_SASL_REALM, L_SASL_AUTHZ,
       L_RECURSION, L_IGNORED };

static const char *const ignored_settings[] = {
    "cache", "cache_expiry", "cache_size", "chase_referrals", "debuglevel", "tls_random_file",
    "tls_cipher_suite", "sasl_minssf", "ldapsource",
};
#define L_COUNT (L_IGNORED + ARRAY_LEN(ignored_settings))

static int yes_no(const char *v, int dflt, int *out)
{
    if (!v || !*v)
        *out = dflt;
    else if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int int_setting(const char *v, long dflt, long min, long max, long *out)
{
    char *end;
    *out = v && *v ? strtol(v, &end, 10) : dflt;
    return (v && *v && *end) || *out < min || *out > max ? -1 : 0;
}

static char **attr_list(const char *v, const char *dflt)
{
    return str_split_list(v ? v : dflt, NULL);
}

static void collect_attrs(struct ldap_priv *p)
{
    char **lists[] = {p->result, p->special, p->leaf, p->terminal};
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_LEN(lists); i++)
        n += strv_len(lists[i]);
    p->attrs = xcalloc(n + 1, sizeof(char *));
    n = 0;
    for (size_t i = 0; i < ARRAY_LEN(lists); i++)
        for (size_t j = 0; lists[i][j]; j++)
            p->attrs[n++] = lists[i][j];
}

static int conn_settings(struct ldap_priv *p, struct sql_setting *s, const char *where,
                         char *err, size_t errlen)
{
    struct ldapc *c = &p->conn;
    long port, version, deref, timeout;
    int tls, req = -1;
    const char *bind = s[L_BIND].value;
    if (int_setting(s[L_SERVER_PORT].value, 389, 1, 65535, &port) < 0 ||
        int_setting(s[L_VERSION].value, 3, 2, 3, &version) < 0 ||
        int_setting(s[L_DEREF].value, 0, 0, 3, &deref) < 0 ||
        yes_no(s[L_START_TLS].value, 0, &tls) < 0 ||
        (s[L_TLS_REQUIRE].value && yes_no(s[L_TLS_REQUIRE].value, 0, &req) < 0))
        return table_err(err, errlen, "%s: bad server_port, version, dereference, start_tls or "
                         "tls_require_cert", where);
    timeout = sql_duration_ms(s[L_TIMEOUT].value ? s[L_TIMEOUT].value : "10");
    if (timeout < 1000)
        return table_err(err, errlen, "%s: bad timeout (at least 1s)", where);
    char why[512];
    if (ldapc_set_hosts(c, s[L_SERVER_HOST].value ? s[L_SERVER_HOST].value : "localhost",
                        (unsigned)port, why, sizeof(why)) < 0)
        return table_err(err, errlen, "%s: server_host: %s", where, why);
    c->version = (int)version;
    c->deref = (int)deref;
    c->start_tls = tls;
    c->require_cert = req;
    c->timeout_ms = (unsigned)timeout;
    if (!bind || !*bind || !strcasecmp(bind, "yes"))
        c->bind = LDAPC_BIND_SIMPLE;
    else if (!strcasecmp(bind, "no"))
        c->bind = LDAPC_BIND_NONE;
    else if (!strcasecmp(bind, "sasl"))
        c->bind = LDAPC_BIND_SASL;
    else
        return table_err(err, errlen, "%s: bad bind \"%s\" (yes, no, sasl)", where, bind);
    char **dst[] = {&c->bind_dn, &c->bind_pw, &c->ca_file, &c->ca_dir, &c->cert, &c->key,
                    &c->sasl_mechs, &c->sasl_realm, &c->sasl_authz_id};
    int idx[] = {L_BIND_DN, L_BIND_PW, L_TLS_CA_FILE, L_TLS_CA_DIR, L_TLS_CERT, L_TLS_KEY,
                 L_SASL_MECHS, L_SASL_REALM, L_SASL_AUTHZ};
    for (size_t i = 0; i < ARRAY_LEN(idx); i++)
        if (s[idx[i]].value && *s[idx[i]].value)
            *dst[i] = xstrdup(s[idx[i]].value);
    return 0;
}

static int search_settings(struct ldap_priv *p, struct sql_setting *s, const char *where,
                           char *err, size_t errlen)
{
    const char *scope = s[L_SCOPE].value;
    if (!scope || !*scope || !strcasecmp(scope, "sub"))
        p->scope = LDAPC_SCOPE_SUB;
    else if (!strcasecmp(scope, "one"))
        p->scope = LDAPC_SCOPE_ONE;
    else if (!strcasecmp(scope, "base"))
        p->scope = LDAPC_SCOPE_BASE;
    else
        return table_err(err, errlen, "%s: bad scope \"%s\" (sub, one, base)", where, scope);
    long size, rec;
    if (int_setting(s[L_SIZE_LIMIT].value, 0, 0, 1000000, &size) < 0 ||
        int_setting(s[L_RECURSION].value, 1000, 1, 100000, &rec) < 0)
        return table_err(err, errlen, "%s: bad size_limit or recursion_limit", where);
    p->size_limit = (int)size;
    p->recursion_limit = rec;
    p->base = xstrdup(s[L_SEARCH_BASE].value ? s[L_SEARCH_BASE].value : "");
    if (sql_template_check(p->base, &ldap_dialect, 1, "search_base", err, errlen) < 0)
        return -1;
    p->result = attr_list(s[L_RESULT_ATTRIBUTE].value, "maildrop");
    p->special = attr_list(s[L_SPECIAL].value, "");
    p->leaf = attr_list(s[L_LEAF].value, "");
    p->terminal = attr_list(s[L_TERMINAL].value, "");
    collect_attrs(p);
    return 0;
}

int table_ldap_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    struct sql_setting s[L_COUNT] = {
        SQL_COMMON_SETTINGS, {"server_host", NULL, 0}, {"server_port", NULL, 0},
        {"search_base", NULL, 0}, {"scope", NULL, 0}, {"query_filter", NULL, 0},
        {"result_attribute", NULL, 0}, {"special_result_attribute", NULL, 0},
        {"leaf_result_attribute", NULL, 0}, {"terminal_result_attribute", NULL, 0},
        {"size_limit", NULL, 0}, {"timeout", NULL, 0}, {"bind", NULL, 0}, {"bind_dn", NULL, 0},
        {"bind_pw", NULL, 0}, {"version", NULL, 0}, {"dereference", NULL, 0},
        {"start_tls", NULL, 0}, {"tls_ca_cert_file", NULL, 0}, {"tls_ca_cert_dir", NULL, 0},
        {"tls_cert", NULL, 0}, {"tls_key", NULL, 0}, {"tls_require_cert", NULL, 0},
        {"sasl_mechs", NULL, 0}, {"sasl_realm", NULL, 0}, {"sasl_authz_id", NULL, 0},
        {"recursion_limit", NULL, 0},
    };
    for (size_t i = 0; i < ARRAY_LEN(ignored_settings); i++)
        s[L_IGNORED + i].name = ignored_settings[i];
    struct ldap_priv *p = xcalloc(1, sizeof(*p));
    p->spec = t->spec;
    ldapc_init(&p->conn, t->spec);
    int rc = sql_cf_read(t->name, "ldap", s, L_COUNT, SQL_CF_ERR_UNKNOWN, err, errlen);
    if (rc == 0) {
        /* query_filter is the "query" of the shared settings; the SQL-only ones are refused. */
        for (int i = 4; i < SQL_COMMON_COUNT; i++)   /* table, select_field ... */
            if (s[i].value)
                rc = table_err(err, errlen, "%s:%d: unknown ldap parameter \"%s\"", t->name,
                               s[i].line, s[i].name);
        if (s[0].value)
            rc = table_err(err, errlen, "%s:%d: unknown ldap parameter \"query\" (query_filter)",
                           t->name, s[0].line);
    }
    if (rc == 0) {
        s[0].value = xstrdup(s[L_QUERY_FILTER].value ? s[L_QUERY_FILTER].value
                                                     : "(mailacceptinggeneralid=%s)");
        rc = sql_common_init(&p->c, s, &ldap_dialect, cfg, t->name, "", err, errlen);
    }
    if (rc == 0)
        rc = conn_settings(p, s, t->name, err, errlen);
    if (rc == 0)
        rc = search_settings(p, s, t->name, err, errlen);
    sql_settings_free(s, L_COUNT);
    if (rc < 0) {
        ldap_priv_free(p);
        return -1;
    }
    t->priv = p;
    t->ops = &ldap_ops;
    t->flags = TABLE_F_REMOTE;
    return 0;
}
