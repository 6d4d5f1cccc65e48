/*
 * table_mysql.c - mysql: tables (mysql_table(5)) with MariaDB's
 * Connector/C (libmariadb), for MySQL and MariaDB servers. The name is a
 * .cf file in main.cf syntax with the SQL settings every SQL table has
 * (table_sql.h: query, result_format, domain, expansion_limit, the older
 * select_field/table/where_field/additional_conditions) and:
 *   hosts              tried in order: unix:/path, inet:host:port,
 *                      host:port, host
 *   user, password, dbname
 *   option_file, option_group   MySQL option files (group default: client)
 *   require_result_set a query without a result set is an error (yes)
 *   tls_cert_file, tls_key_file, tls_CAfile, tls_CApath, tls_ciphers:
 *                      any of them turns TLS on, and then it is required
 *   tls_verify_cert    check the server's name in its certificate (no)
 *   retry_interval     a host that failed is skipped this long (60s)
 *   idle_interval      a connection unused this long is closed (60s)
 *   timeout            yubin: limit of the connect and of each read/write (10s)
 *
 * Owns: the connection (opened at the first lookup, kept, reconnected at
 * once when a reused connection turns out broken) and the query. Every
 * failure is logged with the table's name and is a temporary failure.
 * Values from the client are escaped with mysql_real_escape_string.
 *
 * Lookups block: event-loop processes send them to proxymap (TABLE_F_REMOTE).
 */
#include "lib-table/table_impl.h"
#include "lib-table/table_sql.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errmsg.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mysql_priv {
    const char *spec;           /* the table's, for log lines */
    struct sql_common c;
    struct sql_server sv;
    char *user, *password, *dbname, *option_file, *option_group;
    char *tls_cert, *tls_key, *tls_ca, *tls_capath, *tls_ciphers;
    int tls_verify, require_result_set;
    MYSQL *db;
};

/* '...' and "..." are strings (escaped alike); `...` identifiers: refused. */
static const struct sql_dialect mysql_dialect = {"'\"`", "`"};

/* ------------------------------------------------------------ connect */

static void my_disconnect(struct mysql_priv *p)
{
    if (p->db)
        mysql_close(p->db);
    p->db = NULL;
    p->sv.current = -1;
}

static void my_options(struct mysql_priv *p, MYSQL *db)
{
    unsigned tmo = (p->sv.timeout_ms + 999) / 1000;
    mysql_options(db, MYSQL_OPT_CONNECT_TIMEOUT, &tmo);
    mysql_options(db, MYSQL_OPT_READ_TIMEOUT, &tmo);
    mysql_options(db, MYSQL_OPT_WRITE_TIMEOUT, &tmo);
    mysql_options(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (p->option_file)
        mysql_options(db, MYSQL_READ_DEFAULT_FILE, p->option_file);
    if (p->option_group)
        mysql_options(db, MYSQL_READ_DEFAULT_GROUP, p->option_group);
    if (p->tls_cert || p->tls_key || p->tls_ca || p->tls_capath || p->tls_ciphers) {
        my_bool yes = 1, verify = (my_bool)p->tls_verify;
        mysql_ssl_set(db, p->tls_key, p->tls_cert, p->tls_ca, p->tls_capath, p->tls_ciphers);
        mysql_options(db, MYSQL_OPT_SSL_ENFORCE, &yes);
        mysql_options(db, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
}

static int my_connect(void *ctx, const struct sql_host *h, char *why, size_t whylen)
{
    struct mysql_priv *p = ctx;
    MYSQL *db = mysql_init(NULL);
    if (!db) {
        str_copy(why, "out of memory", whylen);
        return -1;
    }
    my_options(p, db);
    const char *host = h->kind == SQL_HOST_UNIX ? "localhost" : h->host;
    const char *sock = h->kind == SQL_HOST_UNIX ? h->host : NULL;
    unsigned port = h->kind == SQL_HOST_INET ? h->port : 0;
    if (!mysql_real_connect(db, host, p->user, p->password, p->dbname, port, sock,
                            CLIENT_MULTI_RESULTS)) {
        str_fmt(why, whylen, "%s", mysql_error(db));
        mysql_close(db);
        return -1;
    }
    p->db = db;
    return 0;
}

/* -------------------------------------------------------------- query */

static int my_escape(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    struct mysql_priv *p = ctx;
    if (quote == '`' || len > TABLE_KEY_MAX)
        return -1;
    char tmp[2 * TABLE_KEY_MAX + 1];
    unsigned long n = mysql_real_escape_string(p->db, tmp, s, (unsigned long)len);
    if (n == (unsigned long)-1)
        return -1;
    if (!quote && buf_putc(out, '\'') < 0)
        return -1;
    if (buf_append(out, tmp, n) < 0)
        return -1;
    return quote ? 0 : buf_putc(out, '\'');
}

/* Did the last error mean the connection is gone? */
static int my_conn_error(MYSQL *db)
{
    unsigned e = mysql_errno(db);
    return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
           e == CR_CONN_HOST_ERROR || e == CR_COMMANDS_OUT_OF_SYNC;
}

/* Every non-NULL column of every row. TABLE_* result. */
static int my_collect(struct mysql_priv *p, MYSQL_RES *res, const struct sql_key *k,
                      const char *key, struct buf *result)
{
    struct sql_results r;
    sql_results_init(&r, &p->c, k, result);
    unsigned nf = mysql_num_fields(res);
    MYSQL_FIELD *fields = mysql_fetch_fields(res);
    MYSQL_ROW row;
    const char *why;
    for (int i = 0; (row = mysql_fetch_row(res)) != NULL; i++) {
        if (p->c.named && i > 0)
            continue;   /* the rest is drained: the first row counts */
        for (unsigned j = 0; j < nf; j++) {
            if (row[j] && (p->c.named ? sql_results_add_named(&r, fields[j].name, row[j], &why)
                                      : sql_results_add(&r, row[j], &why)) < 0) {
                msg_warn("%s: lookup of \"%s\": %s", p->spec, key, why);
                buf_reset(result);
                return TABLE_TEMPFAIL;
            }
        }
    }
    if (r.count == 0)
        buf_reset(result);
    return r.count ? TABLE_FOUND : TABLE_NOTFOUND;
}

/* Read the results of the query just sent: the first result set counts,
 * later ones (stored procedures) are drained. TABLE_*, or -3 with why. */
static int my_results(struct mysql_priv *p, const struct sql_key *k, const char *key,
                      struct buf *result, char *why, size_t whylen)
{
    int rc = -3;
    MYSQL_RES *res = mysql_store_result(p->db);
    if (res) {
        rc = my_collect(p, res, k, key, result);
        mysql_free_result(res);
    } else if (mysql_field_count(p->db) != 0) {
        str_fmt(why, whylen, "reading the result: %s", mysql_error(p->db));
    } else if (p->require_result_set) {
        str_copy(why, "the query returned no result set (require_result_set = yes)", whylen);
    } else {
        rc = TABLE_NOTFOUND;
    }
    int more;
    while ((more = mysql_next_result(p->db)) == 0) {
        MYSQL_RES *extra = mysql_store_result(p->db);
        if (extra)
            mysql_free_result(extra);
    }
    if (more > 0 && rc != -3) {
        str_fmt(why, whylen, "%s", mysql_error(p->db));
        rc = -3;
    }
    return rc;
}

/* One attempt on a connection. TABLE_* result, or 2: retry on a new connection. */
static int my_attempt(void *ctx, const struct sql_key *k, const char *key, int reused,
                      struct buf *result)
{
    struct mysql_priv *p = ctx;
    struct buf sql;
    buf_init(&sql, SQL_QUERY_MAX);
    int b = sql_expand(p->c.query, &mysql_dialect, k, my_escape, p, &sql);
    if (b <= 0) {
        buf_free(&sql);
        if (b < 0)
            msg_warn("%s: lookup of \"%s\": key too long or cannot be escaped", p->spec, key);
        return b < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    }
    char why[512];
    const char *host = p->sv.hosts[p->sv.current].spec;
    uint64_t start = mono_msec();
    int rc = -3;
    if (mysql_real_query(p->db, sql.data, (unsigned long)sql.len) != 0)
        str_fmt(why, sizeof(why), "query failed: %s", mysql_error(p->db));
    else
        rc = my_results(p, k, key, result, why, sizeof(why));
    buf_free(&sql);
    if (rc != -3) {
        p->sv.last_used = mono_msec();
        return rc;
    }
    buf_reset(result);
    int gone = my_conn_error(p->db);
    int timed_out = gone && mono_msec() - start + 500 >= p->sv.timeout_ms;
    msg_warn("%s: lookup of \"%s\" on %s: %s%s", p->spec, key, host, why,
             timed_out ? " (timeout)" : gone && reused ? " (reconnecting)" : "");
    if (!gone)
        return TABLE_TEMPFAIL;
    if (timed_out)
        p->sv.hosts[p->sv.current].dead_until = mono_msec() + p->sv.retry_ms;
    my_disconnect(p);
    return reused && !timed_out ? 2 : TABLE_TEMPFAIL;
}

static int my_connected(void *ctx)
{
    return ((struct mysql_priv *)ctx)->db != NULL;
}

static void my_disconnect_cb(void *ctx)
{
    my_disconnect(ctx);
}

static const struct sql_driver mysql_driver = {my_connected, my_disconnect_cb, my_connect,
                                               my_attempt};

static int mysql_lookup(struct table *t, const char *key, struct buf *result)
{
    struct mysql_priv *p = t->priv;
    return sql_lookup_run(&p->c, &p->sv, p->spec, &mysql_driver, p, key, result);
}

/* --------------------------------------------------------------- open */

static void mysql_priv_free(struct mysql_priv *p)
{
    my_disconnect(p);
    sql_common_free(&p->c);
    sql_server_free(&p->sv);
    char *strs[] = {p->user,    p->password, p->dbname,     p->option_file, p->option_group,
                    p->tls_cert, p->tls_key,  p->tls_ca,     p->tls_capath,  p->tls_ciphers};
    for (size_t i = 0; i < ARRAY_LEN(strs); i++)
        free(strs[i]);
    free(p);
}

static void mysql_table_close(struct table *t)
{
    mysql_priv_free(t->priv);
}

static const struct table_ops mysql_ops = {mysql_lookup, mysql_table_close, NULL};

enum { M_HOSTS = SQL_COMMON_COUNT, M_USER, M_PASSWORD, M_DBNAME, M_OPTION_FILE, M_OPTION_GROUP,
       M_REQUIRE_RESULT_SET, M_TLS_CERT, M_TLS_KEY, M_TLS_CA, M_TLS_CAPATH, M_TLS_CIPHERS,
       M_TLS_VERIFY, M_RETRY, M_IDLE, M_TIMEOUT, M_COUNT };

static char *opt_dup(const struct sql_setting *s)
{
    return s->value && *s->value ? xstrdup(s->value) : NULL;
}

/* yes/no (also true/false, 1/0): 1, 0, or -1 with err. */
static int bool_setting(const struct sql_setting *s, int dflt, const char *where, char *err,
                        size_t errlen)
{
    if (!s->value)
        return dflt;
    if (!strcasecmp(s->value, "yes") || !strcasecmp(s->value, "true") || !strcmp(s->value, "1"))
        return 1;
    if (!strcasecmp(s->value, "no") || !strcasecmp(s->value, "false") || !strcmp(s->value, "0"))
        return 0;
    return table_err(err, errlen, "%s:%d: %s: expected yes or no, not \"%s\"", where, s->line,
                     s->name, s->value);
}

static void mysql_strings(struct mysql_priv *p, struct sql_setting *s)
{
    p->user = opt_dup(&s[M_USER]);
    p->password = opt_dup(&s[M_PASSWORD]);
    p->dbname = opt_dup(&s[M_DBNAME]);
    p->option_file = opt_dup(&s[M_OPTION_FILE]);
    /* Postfix 3.2 and later read the [client] group unless told otherwise. */
    p->option_group = s[M_OPTION_GROUP].value ? opt_dup(&s[M_OPTION_GROUP]) : xstrdup("client");
    p->tls_cert = opt_dup(&s[M_TLS_CERT]);
    p->tls_key = opt_dup(&s[M_TLS_KEY]);
    p->tls_ca = opt_dup(&s[M_TLS_CA]);
    p->tls_capath = opt_dup(&s[M_TLS_CAPATH]);
    p->tls_ciphers = opt_dup(&s[M_TLS_CIPHERS]);
}

static int mysql_open(struct table *t, const struct config *cfg, const struct sql_preset *ps,
                      char *err, size_t errlen)
{
    struct sql_setting s[M_COUNT] = {
        SQL_COMMON_SETTINGS,          {"hosts", NULL, 0},          {"user", NULL, 0},
        {"password", NULL, 0},        {"dbname", NULL, 0},         {"option_file", NULL, 0},
        {"option_group", NULL, 0},    {"require_result_set", NULL, 0},
        {"tls_cert_file", NULL, 0},   {"tls_key_file", NULL, 0},   {"tls_CAfile", NULL, 0},
        {"tls_CApath", NULL, 0},      {"tls_ciphers", NULL, 0},    {"tls_verify_cert", NULL, 0},
        {"retry_interval", NULL, 0},  {"idle_interval", NULL, 0},  {"timeout", NULL, 0},
    };
    struct mysql_priv *p = xcalloc(1, sizeof(*p));
    p->spec = t->spec;
    p->sv.current = -1;
    int rc = ps ? sql_cf_fill(ps, t->spec, s, M_COUNT, err, errlen)
                : sql_cf_read(t->name, "mysql", s, M_COUNT, SQL_CF_ERR_UNKNOWN, err, errlen);
    if (rc == 0)
        rc = sql_common_init(&p->c, s, &mysql_dialect, cfg, t->name, "", err, errlen);
    p->c.named = ps && ps->named;
    if (rc == 0)
        rc = sql_server_init(&p->sv, s[M_HOSTS].value, s[M_RETRY].value, s[M_IDLE].value,
                             s[M_TIMEOUT].value, 0, t->name, err, errlen);
    if (rc == 0 && (p->tls_verify = bool_setting(&s[M_TLS_VERIFY], 0, t->name, err, errlen)) < 0)
        rc = -1;
    if (rc == 0 && (p->require_result_set =
                        bool_setting(&s[M_REQUIRE_RESULT_SET], 1, t->name, err, errlen)) < 0)
        rc = -1;
    mysql_strings(p, s);
    sql_settings_free(s, M_COUNT);
    if (rc < 0) {
        mysql_priv_free(p);
        return -1;
    }
    t->priv = p;
    t->ops = &mysql_ops;
    t->flags = TABLE_F_REMOTE;
    return 0;
}

int table_mysql_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    return mysql_open(t, cfg, NULL, err, errlen);
}

int table_mysql_open_preset(struct table *t, const struct config *cfg,
                            const struct sql_preset *ps, char *err, size_t errlen)
{
    return mysql_open(t, cfg, ps, err, errlen);
}
