/*
 * table_dovecot.c - the auth service's sql: and ldap: sources as lookup
 * tables: dovecot-sql:FILE (dovecot-sql.conf.ext) and dovecot-ldap:FILE
 * (dovecot-ldap.conf.ext). Being tables, they are looked up through
 * proxymap from auth's event loop like every remote table (table_async.c).
 *
 * Keys are "pass:USER" (the passdb lookup) and "user:USER" (the userdb
 * lookup). The value is a list of "name=value" items separated by TABs:
 * the columns of the first row (SQL), or the mapped attributes of the
 * first entry (LDAP, pass_attrs/user_attrs "ldapAttr=field" and
 * "=field=template"). A password without {SCHEME} gets
 * default_pass_scheme's. With auth_bind = yes the password item is
 * "{LDAP-BIND}" + ldapc_bind_spec(): the auth service checks it by
 * binding as the entry's DN (or auth_bind_userdn) with the password.
 *
 * dovecot-sql.conf.ext: driver (pgsql, mysql: connect has host= (several),
 * port=, dbname=, user=, password=, connect_timeout=; sqlite: connect is
 * the database file, opened read-only), password_query,
 * user_query, iterate_query (accepted, unused), default_pass_scheme.
 * dovecot-ldap.conf.ext: uris, hosts, dn, dnpass, sasl_bind, sasl_mech,
 * tls, tls_ca_cert_file, tls_ca_cert_dir, tls_cert_file, tls_key_file,
 * tls_require_cert, ldap_version, base, deref, scope, pass_attrs, sasl_realm,
 * sasl_authz_id,
 * pass_filter, user_attrs, user_filter, auth_bind, auth_bind_userdn,
 * default_pass_scheme (iterate_*, blocking, debug_level, ldaprc_path
 * accepted, unused). Variables: %u %n %d (dovecot_conf.h), escaped for
 * SQL by the driver, for filters by RFC 4515, for DNs by RFC 4514.
 */
#include "lib-table/table_impl.h"
#include "lib-table/table_sql.h"
#include "lib-table/dovecot_conf.h"
#include "lib-table/ldap_conn.h"
#include "lib-table/ldap_escape.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DV_VALUE_MAX TABLE_VALUE_MAX

/* "pass:USER" / "user:USER": 1 passdb, 0 userdb, -1 malformed. */
static int key_kind(const char *key, const char **user)
{
    if (strncmp(key, "pass:", 5) == 0 || strncmp(key, "user:", 5) == 0) {
        *user = key + 5;
        return **user ? key[0] == 'p' : -1;
    }
    return -1;
}

/* Prefix the password item with {default_pass_scheme} when it has none. */
static int add_scheme(struct buf *result, const char *scheme)
{
    if (!scheme)
        return 0;
    const char *s = buf_cstr(result);
    const char *pw = strncmp(s, "password=", 9) == 0 ? s : strstr(s, "\tpassword=");
    if (!pw)
        return 0;
    pw += pw == s ? 9 : 10;
    if (*pw == '{' || *pw == '\t' || !*pw)
        return 0;
    struct buf out;
    buf_init(&out, DV_VALUE_MAX);
    int rc = buf_append(&out, s, (size_t)(pw - s)) < 0 ||
             buf_printf(&out, "{%s}%s", scheme, pw) < 0 ? -1 : 0;
    if (rc == 0) {
        buf_reset(result);
        rc = buf_append(result, out.data, out.len);
    }
    buf_free(&out);
    return rc;
}

/* =================================================================== SQL */

struct dsql {
    struct table pass, user;    /* the driver's tables (not in table.c's registry) */
    int have_pass, have_user;
    char *scheme;
};

static int dsql_lookup(struct table *t, const char *key, struct buf *result)
{
    struct dsql *d = t->priv;
    const char *user;
    int kind = key_kind(key, &user);
    if (kind < 0 || (kind && !d->have_pass) || (!kind && !d->have_user))
        return TABLE_NOTFOUND;
    struct table *sub = kind ? &d->pass : &d->user;
    int rc = sub->ops->lookup(sub, user, result);
    if (rc == TABLE_FOUND && kind && add_scheme(result, d->scheme) < 0)
        rc = TABLE_TEMPFAIL;
    return rc;
}

static void dsql_free(struct dsql *d)
{
    if (d->have_pass)
        d->pass.ops->close(&d->pass);
    if (d->have_user)
        d->user.ops->close(&d->user);
    free(d->pass.spec);
    free(d->user.spec);
    free(d->scheme);
    free(d);
}

static void dsql_close(struct table *t)
{
    dsql_free(t->priv);
}

static const struct table_ops dsql_ops = {dsql_lookup, dsql_close, NULL};

enum { DS_DRIVER, DS_CONNECT, DS_SCHEME, DS_PASSQ, DS_USERQ, DS_ITERQ, DS_COUNT };

/* connect = ... into the settings of the pgsql:/mysql: driver. */
static int connect_kv(const char *connect, struct buf *hosts, char **kv, size_t *nkv,
                      char *err, size_t errlen)
{
    char **c;
    if (dconf_connect_split(connect ? connect : "", &c, err, errlen) < 0)
        return -1;
    const char *port = NULL;
    for (size_t i = 0; c[i]; i += 2)
        if (!strcmp(c[i], "port"))
            port = c[i + 1];
    int rc = 0;
    for (size_t i = 0; rc == 0 && c[i]; i += 2) {
        const char *k = c[i], *v = c[i + 1];
        if (!strcmp(k, "host")) {
            if (hosts->len)
                buf_putc(hosts, ' ');
            rc = v[0] == '/' ? buf_printf(hosts, "unix:%s", v)
                 : port      ? buf_printf(hosts, "inet:%s:%s", v, port)
                             : buf_printf(hosts, "inet:%s", v);
        } else if (!strcmp(k, "dbname") || !strcmp(k, "user") || !strcmp(k, "password")) {
            kv[(*nkv)++] = xstrdup(k);
            kv[(*nkv)++] = xstrdup(v);
        } else if (!strcmp(k, "connect_timeout")) {
            kv[(*nkv)++] = xstrdup("timeout");
            kv[(*nkv)++] = xstrdup(v);
        } else if (strcmp(k, "port") != 0) {
            rc = table_err(err, errlen, "connect: unsupported setting \"%s\"", k);
        }
        if (*nkv > 8)
            rc = table_err(err, errlen, "connect: too many settings");
    }
    strv_free(c);
    if (rc == 0 && !hosts->len)
        rc = table_err(err, errlen, "connect: no host=");
    return rc < 0 ? -1 : 0;
}

/* One driver table for one query. */
static int dsql_sub(struct table *sub, const struct table *t, const char *driver,
                    const char *query, const char *what, char **kv, size_t nkv,
                    const char *hosts, char *err, size_t errlen)
{
    struct buf q;
    buf_init(&q, SQL_QUERY_MAX);
    int rc = dconf_template(query, &q, err, errlen);
    const char *v[24];
    size_t n = 0;
    for (size_t i = 0; i < nkv; i++)
        v[n++] = kv[i];
    v[n++] = "query";
    v[n++] = buf_cstr(&q);
    v[n++] = "hosts";
    v[n++] = hosts;
    v[n] = NULL;
    if (!strcmp(driver, "sqlite"))
        v[n - 2] = "dbpath";   /* connect = /path/to/db */
    sub->spec = xasprintf("%s(%s)", t->spec, what);
    sub->name = t->name;
    sub->type = t->type;
    struct sql_preset ps = {v, 1};
    char why[512];
    if (rc == 0) {
        rc = !strcmp(driver, "pgsql")   ? table_pgsql_open_preset(sub, t->cfg, &ps, why, sizeof(why))
             : !strcmp(driver, "mysql") ? table_mysql_open_preset(sub, t->cfg, &ps, why, sizeof(why))
                                        : table_sqlite_open_preset(sub, t->cfg, &ps, why,
                                                                   sizeof(why));
        if (rc < 0)
            table_err(err, errlen, "%s: %s", what, why);
    }
    buf_free(&q);
    return rc;
}

static int dsql_build(struct table *t, struct dsql *d, struct dconf_item *it, char *err,
                      size_t errlen)
{
    const char *driver = it[DS_DRIVER].value;
    if (!driver || (strcmp(driver, "pgsql") && strcmp(driver, "mysql") && strcmp(driver, "sqlite")))
        return table_err(err, errlen, "driver: \"%s\" is not supported (pgsql, mysql, sqlite)",
                         driver ? driver : "");
    if (!it[DS_PASSQ].value && !it[DS_USERQ].value)
        return table_err(err, errlen, "neither password_query nor user_query is set");
    struct buf hosts;
    buf_init(&hosts, 4096);
    char *kv[12] = {0};
    size_t nkv = 0;
    int rc = 0;
    if (!strcmp(driver, "sqlite"))   /* connect is the database file; "hosts" becomes dbpath */
        rc = buf_printf(&hosts, "%s", it[DS_CONNECT].value ? it[DS_CONNECT].value : "") < 0
                 ? table_err(err, errlen, "connect too long")
                 : 0;
    else
        rc = connect_kv(it[DS_CONNECT].value, &hosts, kv, &nkv, err, errlen);
    if (rc == 0 && it[DS_PASSQ].value) {
        rc = dsql_sub(&d->pass, t, driver, it[DS_PASSQ].value, "password_query", kv, nkv,
                      buf_cstr(&hosts), err, errlen);
        d->have_pass = rc == 0;
    }
    if (rc == 0 && it[DS_USERQ].value) {
        rc = dsql_sub(&d->user, t, driver, it[DS_USERQ].value, "user_query", kv, nkv,
                      buf_cstr(&hosts), err, errlen);
        d->have_user = rc == 0;
    }
    for (size_t i = 0; i < nkv; i++)
        free(kv[i]);
    buf_free(&hosts);
    return rc;
}

static int read_conf(const char *path, struct dconf_item *it, size_t n, char *err, size_t errlen)
{
    size_t len;
    char *text = read_file(path, DCONF_SIZE_MAX, &len);
    if (!text)
        return table_err(err, errlen, "%s: cannot read", path);
    int rc = dconf_parse(text, len, path, it, n, err, errlen);
    memset(text, 0, len);
    free(text);
    return rc;
}

int table_dovecot_sql_open(struct table *t, char *err, size_t errlen)
{
    struct dconf_item it[DS_COUNT] = {
        {"driver", NULL, 0},         {"connect", NULL, 0},    {"default_pass_scheme", NULL, 0},
        {"password_query", NULL, 0}, {"user_query", NULL, 0}, {"iterate_query", NULL, 0},
    };
    struct dsql *d = xcalloc(1, sizeof(*d));
    int rc = read_conf(t->name, it, DS_COUNT, err, errlen);
    char why[600];
    if (rc == 0 && (rc = dsql_build(t, d, it, why, sizeof(why))) < 0)
        table_err(err, errlen, "%s: %s", t->name, why);
    if (it[DS_SCHEME].value && *it[DS_SCHEME].value)
        d->scheme = xstrdup(it[DS_SCHEME].value);
    dconf_free(it, DS_COUNT);
    if (rc < 0) {
        dsql_free(d);
        return -1;
    }
    t->priv = d;
    t->ops = &dsql_ops;
    t->flags = TABLE_F_REMOTE;
    t->fold = 0;
    return 0;
}

/* ================================================================== LDAP */

struct dattr {
    char *ldap;         /* attribute, or NULL for a "=field=template" item */
    char *field;
    char *tmpl;         /* the template of a static item (table form) */
};

struct dldap {
    const char *spec;
    struct ldapc conn;
    char *base, *pass_filter, *user_filter, *bind_userdn, *scheme;
    int scope, auth_bind;
    struct dattr *pass, *user;
    size_t npass, nuser;
    char **pass_ldap, **user_ldap;  /* attribute names for the searches */
};

/* "uid=user,userPassword=password,=userdb_home=/var/mail/%d/%n". */
static int parse_attrs(const char *v, struct dattr **out, size_t *n, char ***names, char *err,
                       size_t errlen)
{
    size_t count = 0;
    char **items = str_split_list(v ? v : "", &count);   /* commas and blanks */
    struct dattr *a = xcalloc(count + 1, sizeof(*a));
    *names = xcalloc(count + 1, sizeof(char *));
    size_t k = 0, nn = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        char *it = items[i], *eq = strchr(it, '=');
        if (it[0] == '=') {
            char *eq2 = strchr(it + 1, '=');
            struct buf b;
            buf_init(&b, 4096);
            if (!eq2 || eq2 == it + 1)
                rc = table_err(err, errlen, "bad attribute item \"%s\"", it);
            else
                rc = dconf_template(eq2 + 1, &b, err, errlen);
            a[k].field = xstrndup(it + 1, (size_t)(eq2 ? eq2 - it - 1 : 0));
            a[k++].tmpl = xstrdup(buf_cstr(&b));
            buf_free(&b);
            continue;
        }
        a[k].ldap = xstrndup(it, eq ? (size_t)(eq - it) : strlen(it));
        a[k].field = xstrdup(eq && eq[1] ? eq + 1 : a[k].ldap);
        (*names)[nn++] = a[k++].ldap;
    }
    strv_free(items);
    *out = a;
    *n = k;
    return rc;
}

static void free_attrs(struct dattr *a, size_t n, char **names)
{
    for (size_t i = 0; i < n; i++) {
        free(a[i].ldap);
        free(a[i].field);
        free(a[i].tmpl);
    }
    free(a);
    free(names);
}

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

static int esc_none(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    (void)ctx, (void)quote;
    return buf_append(out, s, len);
}

static const struct sql_dialect no_quotes = {"", ""};

/* Append "field=value" to result. */
static int add_item(struct buf *result, const char *field, const char *value)
{
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return -1;
    if (result->len && buf_putc(result, '\t') < 0)
        return -1;
    return buf_printf(result, "%s=%s", field, value);
}

static int add_items(struct dldap *d, void *e, const struct dattr *a, size_t n,
                     const struct sql_key *k, int skip_password, struct buf *result)
{
    for (size_t i = 0; i < n; i++) {
        if (skip_password && !strcmp(a[i].field, "password"))
            continue;
        int rc = 0;
        if (a[i].tmpl) {
            struct buf v;
            buf_init(&v, 4096);
            if (sql_expand(a[i].tmpl, &no_quotes, k, esc_none, NULL, &v) > 0)
                rc = add_item(result, a[i].field, buf_cstr(&v));
            buf_free(&v);
        } else if (e) {
            char **v = ldapc_values(&d->conn, e, a[i].ldap);
            if (v[0])
                rc = add_item(result, a[i].field, v[0]);
            strv_free(v);
        }
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* auth_bind: the password item that makes auth bind as dn. */
static int add_bind(struct dldap *d, const char *dn, struct buf *result)
{
    char *spec = ldapc_bind_spec(&d->conn, dn);
    int rc = add_item(result, "password", spec);
    free(spec);
    return rc;
}

static int dldap_search(struct dldap *d, const struct sql_key *k, int pass, struct buf *result)
{
    struct buf filter, base;
    buf_init(&filter, TABLE_KEY_MAX * 3 + 4096);
    buf_init(&base, TABLE_KEY_MAX * 3 + 4096);
    int rc = TABLE_NOTFOUND;
    char why[512] = "key too long";
    void *res = NULL;
    int b = sql_expand(pass ? d->pass_filter : d->user_filter, &no_quotes, k, esc_filter, NULL,
                       &filter);
    if (b > 0)
        b = sql_expand(d->base, &no_quotes, k, esc_dn, NULL, &base);
    if (b < 0)
        rc = TABLE_TEMPFAIL;
    if (b > 0 && ldapc_search(&d->conn, buf_cstr(&base), d->scope, buf_cstr(&filter),
                              pass ? d->pass_ldap : d->user_ldap, 2, &res, why, sizeof(why)) < 0)
        rc = TABLE_TEMPFAIL;
    void *e = rc == TABLE_NOTFOUND && b > 0 ? ldapc_first(&d->conn, res) : NULL;
    if (e && ldapc_next(&d->conn, e)) {
        str_copy(why, "more than one entry matches", sizeof(why));
        rc = TABLE_TEMPFAIL;
    } else if (e) {
        rc = TABLE_FOUND;
        int bind = pass && d->auth_bind;
        char *dn = bind ? ldapc_dn(&d->conn, e) : NULL;
        if ((bind && add_bind(d, dn ? dn : "", result) < 0) ||
            add_items(d, e, pass ? d->pass : d->user, pass ? d->npass : d->nuser, k, bind,
                      result) < 0) {
            str_copy(why, "result too long or with control characters", sizeof(why));
            rc = TABLE_TEMPFAIL;
        }
        ldapc_str_free(dn);
    }
    if (rc == TABLE_TEMPFAIL)
        msg_warn("%s: lookup of \"%s\": %s", d->spec, k->key, why);
    ldapc_res_free(res);
    buf_free(&filter);
    buf_free(&base);
    return rc;
}

static int dldap_lookup(struct table *t, const char *key, struct buf *result)
{
    struct dldap *d = t->priv;
    const char *user;
    int kind = key_kind(key, &user);
    if (kind < 0)
        return TABLE_NOTFOUND;
    struct sql_key k;
    sql_key_split(user, &k);
    buf_reset(result);
    if (kind && d->auth_bind && d->bind_userdn) {
        /* The DN comes from the template: no search, no fields but the bind. */
        struct buf dn;
        buf_init(&dn, TABLE_KEY_MAX * 3 + 4096);
        int b = sql_expand(d->bind_userdn, &no_quotes, &k, esc_dn, NULL, &dn);
        int rc = b <= 0 ? (b < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND)
                 : add_bind(d, buf_cstr(&dn), result) < 0 ||
                           add_items(d, NULL, d->pass, d->npass, &k, 1, result) < 0
                     ? TABLE_TEMPFAIL
                     : TABLE_FOUND;
        buf_free(&dn);
        return rc;
    }
    int rc = dldap_search(d, &k, kind, result);
    if (rc == TABLE_FOUND && kind && !d->auth_bind && add_scheme(result, d->scheme) < 0)
        rc = TABLE_TEMPFAIL;
    if (rc != TABLE_FOUND)
        buf_reset(result);
    return rc;
}

static void dldap_free(struct dldap *d)
{
    ldapc_free(&d->conn);
    free(d->base);
    free(d->pass_filter);
    free(d->user_filter);
    free(d->bind_userdn);
    free(d->scheme);
    free_attrs(d->pass, d->npass, d->pass_ldap);
    free_attrs(d->user, d->nuser, d->user_ldap);
    free(d);
}

static void dldap_close(struct table *t)
{
    dldap_free(t->priv);
}

static const struct table_ops dldap_ops = {dldap_lookup, dldap_close, NULL};

enum { DL_URIS, DL_HOSTS, DL_DN, DL_DNPASS, DL_SASL_BIND, DL_SASL_MECH, DL_TLS, DL_CA_FILE,
       DL_CA_DIR, DL_CERT, DL_KEY, DL_REQUIRE, DL_VERSION, DL_BASE, DL_DEREF, DL_SCOPE,
       DL_PASS_ATTRS, DL_PASS_FILTER, DL_USER_ATTRS, DL_USER_FILTER, DL_AUTH_BIND,
       DL_BIND_USERDN, DL_SCHEME, DL_ITER_ATTRS, DL_ITER_FILTER, DL_BLOCKING, DL_DEBUG,
       DL_LDAPRC, DL_TIMEOUT, DL_SASL_REALM, DL_SASL_AUTHZ, DL_COUNT };

static int yes(const char *v)
{
    return v && (!strcasecmp(v, "yes") || !strcasecmp(v, "y") || !strcmp(v, "1"));
}

static int pick(const char *v, const char *const *names, int dflt)
{
    if (!v || !*v)
        return dflt;
    for (int i = 0; names[i]; i++)
        if (!strcasecmp(v, names[i]))
            return i;
    return -1;
}

static int dldap_conn(struct dldap *d, struct dconf_item *it, char *err, size_t errlen)
{
    struct ldapc *c = &d->conn;
    const char *uris = it[DL_URIS].value ? it[DL_URIS].value : it[DL_HOSTS].value;
    if (ldapc_set_hosts(c, uris ? uris : "localhost", 389, err, errlen) < 0)
        return -1;
    static const char *const derefs[] = {"never", "searching", "finding", "always", NULL};
    c->deref = pick(it[DL_DEREF].value, derefs, 0);
    c->version = it[DL_VERSION].value ? atoi(it[DL_VERSION].value) : 3;
    if (c->deref < 0 || (c->version != 2 && c->version != 3))
        return table_err(err, errlen, "bad deref or ldap_version");
    long long tmo = it[DL_TIMEOUT].value ? sql_duration_ms(it[DL_TIMEOUT].value) : 10000;
    if (tmo < 1000)
        return table_err(err, errlen, "bad timeout (at least 1s)");
    c->timeout_ms = (unsigned)tmo;
    c->start_tls = yes(it[DL_TLS].value);
    static const char *const req[] = {"never", "allow", "try", "demand", "hard", NULL};
    int r = pick(it[DL_REQUIRE].value, req, -1);
    c->require_cert = r < 0 ? -1 : r >= 3;
    c->bind = yes(it[DL_SASL_BIND].value) ? LDAPC_BIND_SASL : LDAPC_BIND_SIMPLE;
    char **dst[] = {&c->bind_dn, &c->bind_pw, &c->ca_file, &c->ca_dir, &c->cert, &c->key,
                    &c->sasl_mechs, &c->sasl_realm, &c->sasl_authz_id};
    int idx[] = {DL_DN, DL_DNPASS, DL_CA_FILE, DL_CA_DIR, DL_CERT, DL_KEY, DL_SASL_MECH,
                 DL_SASL_REALM, DL_SASL_AUTHZ};
    for (size_t i = 0; i < ARRAY_LEN(idx); i++)
        if (it[idx[i]].value && *it[idx[i]].value)
            *dst[i] = xstrdup(it[idx[i]].value);
    return 0;
}

static char *tmpl_dup(const char *v, const char *dflt, const char *what, char *err,
                      size_t errlen)
{
    struct buf b;
    buf_init(&b, 8192);
    char why[256];
    char *out = NULL;
    if (dconf_template(v ? v : dflt, &b, why, sizeof(why)) == 0)
        out = xstrdup(buf_cstr(&b));
    else
        table_err(err, errlen, "%s: %s", what, why);
    buf_free(&b);
    return out;
}

static int dldap_build(struct dldap *d, struct dconf_item *it, char *err, size_t errlen)
{
    if (dldap_conn(d, it, err, errlen) < 0)
        return -1;
    static const char *const scopes[] = {"base", "onelevel", "subtree", NULL};
    d->scope = pick(it[DL_SCOPE].value, scopes, LDAPC_SCOPE_SUB);
    if (d->scope < 0)
        return table_err(err, errlen, "bad scope (base, onelevel, subtree)");
    d->auth_bind = yes(it[DL_AUTH_BIND].value);
    const char *dflt_filter = "(&(objectClass=posixAccount)(uid=%u))";
    if (!(d->base = tmpl_dup(it[DL_BASE].value, "", "base", err, errlen)) ||
        !(d->pass_filter = tmpl_dup(it[DL_PASS_FILTER].value, dflt_filter, "pass_filter", err,
                                    errlen)) ||
        !(d->user_filter = tmpl_dup(it[DL_USER_FILTER].value, dflt_filter, "user_filter", err,
                                    errlen)))
        return -1;
    if (it[DL_BIND_USERDN].value &&
        !(d->bind_userdn = tmpl_dup(it[DL_BIND_USERDN].value, "", "auth_bind_userdn", err,
                                    errlen)))
        return -1;
    if (it[DL_SCHEME].value && *it[DL_SCHEME].value)
        d->scheme = xstrdup(it[DL_SCHEME].value);
    char why[256];
    if (parse_attrs(it[DL_PASS_ATTRS].value ? it[DL_PASS_ATTRS].value
                                            : "uid=user,userPassword=password",
                    &d->pass, &d->npass, &d->pass_ldap, why, sizeof(why)) < 0 ||
        parse_attrs(it[DL_USER_ATTRS].value ? it[DL_USER_ATTRS].value
                                            : "homeDirectory=home,uidNumber=uid,gidNumber=gid",
                    &d->user, &d->nuser, &d->user_ldap, why, sizeof(why)) < 0)
        return table_err(err, errlen, "pass_attrs/user_attrs: %s", why);
    return 0;
}

int table_dovecot_ldap_open(struct table *t, char *err, size_t errlen)
{
    static const char *const names[DL_COUNT] = {
        "uris", "hosts", "dn", "dnpass", "sasl_bind", "sasl_mech", "tls", "tls_ca_cert_file",
        "tls_ca_cert_dir", "tls_cert_file", "tls_key_file", "tls_require_cert", "ldap_version",
        "base", "deref", "scope", "pass_attrs", "pass_filter", "user_attrs", "user_filter",
        "auth_bind", "auth_bind_userdn", "default_pass_scheme", "iterate_attrs",
        "iterate_filter", "blocking", "debug_level", "ldaprc_path", "timeout", "sasl_realm",
        "sasl_authz_id",
    };
    struct dconf_item it[DL_COUNT];
    for (size_t i = 0; i < DL_COUNT; i++)
        it[i] = (struct dconf_item){names[i], NULL, 0};
    struct dldap *d = xcalloc(1, sizeof(*d));
    d->spec = t->spec;
    ldapc_init(&d->conn, t->spec);
    int rc = read_conf(t->name, it, DL_COUNT, err, errlen);
    char why[600];
    if (rc == 0 && (rc = dldap_build(d, it, why, sizeof(why))) < 0)
        table_err(err, errlen, "%s: %s", t->name, why);
    dconf_free(it, DL_COUNT);
    if (rc < 0) {
        dldap_free(d);
        return -1;
    }
    t->priv = d;
    t->ops = &dldap_ops;
    t->flags = TABLE_F_REMOTE;
    t->fold = 0;
    return 0;
}
