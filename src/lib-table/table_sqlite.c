/*
 * table_sqlite.c - sqlite: tables (sqlite_table(5)). The name is a
 * configuration file in main.cf syntax with:
 *   dbpath           the SQLite database (opened read-only)
 *   query            SQL template: %s key, %u localpart (or whole key),
 *                    %d domain, %1..%9 domain labels from the right,
 *                    %S %U %D same as lowercase, %% a percent sign
 *   result_format    applied to each result row (default %s): %s %u %d of
 *                    the value, %S %U %D %1..%9 of the key
 *   domain           domain list: only user@domain keys in these domains
 *                    are looked up
 *   expansion_limit  more result rows than this: temporary failure
 *   (legacy) table, select_field, where_field, additional_conditions
 * sqlite:NAME (no leading / or .) reads NAME_dbpath, NAME_query ... from
 * main.cf instead.
 * Rows are joined with commas. A query whose key lacks a part the
 * template needs (%d of an unqualified key ...) is not run: not found.
 *
 * The key never reaches SQL unescaped: inside '...' quotes are doubled,
 * inside "..." double quotes are doubled, and an expansion outside any
 * quotes becomes a quoted string literal. Expansions inside [...] or
 * `...` identifiers are refused when the table is opened.
 */
#include "lib-table/table_impl.h"
#include "lib-table/table_sql.h"
#include "lib-table/matchlist.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

struct sqlite_priv {
    char *dbpath;
    struct sql_common c;
    sqlite3 *db;
    struct stat st;
    uint64_t last_check;
};

/* sqlite: quotes: '...' and "..." strings (doubling), `...` and [...] identifiers. */
static const struct sql_dialect sqlite_dialect = {"'\"`[", "`]"};

/* -------------------------------------------------------------- lookups */

static int db_open(struct sqlite_priv *p, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(p->dbpath, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        table_err(err, errlen, "open database %s: %s", p->dbpath,
                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 200);
    p->db = db;
    return 0;
}

static int check_reopen(struct table *t, struct sqlite_priv *p)
{
    uint64_t now = mono_msec();
    unsigned iv = table_check_interval();
    if (p->db && iv && now - p->last_check < iv)
        return 0;
    p->last_check = now;
    int ch = table_file_changed(p->dbpath, &p->st);
    if (ch == 0 && p->db)
        return 0;
    if (ch < 0) {
        msg_warn("%s: stat %s: %s", t->spec, p->dbpath, strerror(errno));
        return -1;
    }
    if (ch == 0)
        return -1;
    sqlite3_close(p->db);
    p->db = NULL;
    char err[512];
    if (db_open(p, err, sizeof(err)) < 0) {
        msg_warn("%s: %s", t->spec, err);
        return -1;
    }
    return 0;
}

static int sqlite_lookup(struct table *t, const char *key, struct buf *result)
{
    struct sqlite_priv *p = t->priv;
    struct sql_key k;
    sql_key_split(key, &k);
    int ok = sql_domain_ok(&p->c, &k);
    if (ok <= 0)
        return ok < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    struct buf sql;
    buf_init(&sql, SQL_QUERY_MAX);
    int b = sql_expand(p->c.query, &sqlite_dialect, &k, sql_escape_double, NULL, &sql);
    if (b <= 0) {
        buf_free(&sql);
        if (b < 0)
            msg_warn("%s: query for \"%s\" too long", t->spec, key);
        return b < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    }
    if (check_reopen(t, p) < 0) {
        buf_free(&sql);
        return TABLE_TEMPFAIL;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(p->db, sql.data, (int)sql.len, &st, NULL);
    if (rc != SQLITE_OK) {
        msg_warn("%s: query failed: %s", t->spec, sqlite3_errmsg(p->db));
        buf_free(&sql);
        return TABLE_TEMPFAIL;
    }
    struct sql_results res;
    sql_results_init(&res, &p->c, &k, result);
    int r = TABLE_NOTFOUND;
    const char *why = NULL;
    for (int row = 0; (rc = sqlite3_step(st)) == SQLITE_ROW; row++) {
        if (p->c.named && row > 0)
            continue;   /* named (dovecot-sql:): the first row counts */
        int ncol = p->c.named ? sqlite3_column_count(st) : 1, bad = 0;
        for (int j = 0; j < ncol && !bad; j++) {
            const char *v = (const char *)sqlite3_column_text(st, j);
            bad = (p->c.named ? sql_results_add_named(&res, sqlite3_column_name(st, j), v, &why)
                              : sql_results_add(&res, v, &why)) < 0;
        }
        if (bad) {
            msg_warn("%s: lookup of \"%s\": %s", t->spec, key, why);
            r = TABLE_TEMPFAIL;
            break;
        }
    }
    if (r != TABLE_TEMPFAIL && rc != SQLITE_DONE) {
        msg_warn("%s: query failed: %s", t->spec, sqlite3_errmsg(p->db));
        r = TABLE_TEMPFAIL;
    }
    if (r != TABLE_TEMPFAIL && res.count > 0)
        r = TABLE_FOUND;
    sqlite3_finalize(st);
    buf_free(&sql);
    if (r != TABLE_FOUND)
        buf_reset(result);
    return r;
}

static void sqlite_priv_free(struct sqlite_priv *p)
{
    sqlite3_close(p->db);
    sql_common_free(&p->c);
    free(p->dbpath);
    free(p);
}

static void sqlite_close(struct table *t)
{
    sqlite_priv_free(t->priv);
}

static const struct table_ops sqlite_ops = {sqlite_lookup, sqlite_close, NULL};

/* The settings: the common ones first (table_sql.h), then dbpath. */
#define P_DBPATH SQL_COMMON_COUNT
#define P_COUNT (SQL_COMMON_COUNT + 1)

/* Read the settings from the .cf file, or from main.cf for sqlite:NAME. */
static int sqlite_settings(struct table *t, const struct config *cfg, struct sql_setting *s,
                           int in_main_cf, char *err, size_t errlen)
{
    if (!in_main_cf)
        return sql_cf_read(t->name, "sqlite", s, P_COUNT, SQL_CF_WARN_UNKNOWN, err, errlen);
    /* sqlite_table(5) backwards compatibility: sqlite:NAME takes its
     * parameters from main.cf as NAME_dbpath, NAME_query ... */
    if (!cfg)
        return table_err(err, errlen, "sqlite:%s: main.cf parameters (%s_dbpath ...) need "
                         "the configuration; use sqlite:/path/to/file.cf", t->name, t->name);
    for (size_t i = 0; i < P_COUNT; i++)
        s[i].value = table_cfg_param(cfg, t->name, s[i].name);
    return 0;
}

static int sqlite_open(struct table *t, const struct config *cfg, const struct sql_preset *ps,
                       char *err, size_t errlen)
{
    struct sql_setting s[P_COUNT] = {SQL_COMMON_SETTINGS, {"dbpath", NULL, 0}};
    int in_main_cf = !ps && t->name[0] != '/' && t->name[0] != '.';
    char prefix[300];
    str_fmt(prefix, sizeof(prefix), "%s%s", in_main_cf ? t->name : "", in_main_cf ? "_" : "");
    struct sqlite_priv *p = xcalloc(1, sizeof(*p));
    int rc = ps ? sql_cf_fill(ps, t->spec, s, P_COUNT, err, errlen)
                : sqlite_settings(t, cfg, s, in_main_cf, err, errlen);
    if (rc == 0 && (!s[P_DBPATH].value || !*s[P_DBPATH].value))
        rc = table_err(err, errlen, "%s: missing \"%sdbpath\" parameter", t->name, prefix);
    if (rc == 0) {
        p->dbpath = xstrdup(s[P_DBPATH].value);
        rc = sql_common_init(&p->c, s, &sqlite_dialect, cfg, t->name, prefix, err, errlen);
        p->c.named = ps && ps->named;
    }
    if (rc == 0 && stat(p->dbpath, &p->st) < 0)
        rc = table_err(err, errlen, "open database %s: %s", p->dbpath, strerror(errno));
    if (rc == 0)
        rc = db_open(p, err, errlen);
    sql_settings_free(s, P_COUNT);
    if (rc < 0) {
        sqlite_priv_free(p);
        return -1;
    }
    p->last_check = mono_msec();
    t->priv = p;
    t->ops = &sqlite_ops;
    return 0;
}

int table_sqlite_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    return sqlite_open(t, cfg, NULL, err, errlen);
}

int table_sqlite_open_preset(struct table *t, const struct config *cfg,
                             const struct sql_preset *ps, char *err, size_t errlen)
{
    return sqlite_open(t, cfg, ps, err, errlen);
}
