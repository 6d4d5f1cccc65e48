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
    char *query;
    char *result_format;
    long expansion_limit;
    struct match_list *domains;
    sqlite3 *db;
    struct stat st;
    uint64_t last_check;
};

#define SQL_MAX (TABLE_KEY_MAX * 4 + 65536)

/* ------------------------------------------------------- configuration */

struct cf_param {
    const char *name;
    char *value;
};

static int read_cf(const char *path, struct cf_param *params, size_t n, char *err,
                   size_t errlen)
{
    struct tsrc src;
    if (tsrc_open_file(&src, path, err, errlen) < 0)
        return -1;
    struct buf line;
    buf_init(&line, 0);
    int lineno = 0, r, rc = 0;
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        char *eq = strchr(line.data, '=');
        if (!eq) {
            rc = table_err(err, errlen, "%s:%d: missing '=' after parameter name", path, lineno);
            break;
        }
        *eq = '\0';
        char *name = str_trim(line.data), *value = str_trim(eq + 1);
        size_t i;
        for (i = 0; i < n; i++)
            if (strcmp(params[i].name, name) == 0)
                break;
        if (i == n) {
            msg_warn("%s:%d: unknown sqlite parameter \"%s\" ignored", path, lineno, name);
            continue;
        }
        free(params[i].value);
        params[i].value = xstrdup(value);
    }
    if (r < 0)
        rc = -1;
    buf_free(&line);
    tsrc_close(&src);
    return rc;
}

/* Which % expansions may appear where. */
static int check_template(const char *tmpl, int is_query, const char *what, char *err,
                          size_t errlen)
{
    char quote = 0;
    for (const char *p = tmpl; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
        } else if (*p == '\'' || *p == '"' || *p == '`') {
            quote = *p;
        } else if (*p == '[') {
            quote = ']';
        }
        if (*p != '%')
            continue;
        p++;
        if (!*p || !strchr("%sudSUD123456789", *p))
            return table_err(err, errlen, "invalid %s template: unknown \"%%%c\"", what,
                             *p ? *p : ' ');
        if (is_query && *p != '%' && (quote == '`' || quote == ']'))
            return table_err(err, errlen,
                             "%s: %%%c inside an identifier quote is not supported", what, *p);
    }
    return 0;
}

/* ----------------------------------------------------------- expanding */

struct key_parts {
    const char *key;
    const char *local;      /* localpart (not NUL-terminated) or NULL */
    size_t llen;
    const char *domain;     /* after '@', or NULL */
};

static void split_key(const char *key, struct key_parts *k)
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

/* Text for %c of k; 0 with *s and *len set, -1 when the query must be
 * suppressed (the key has no such part). */
static int part_of(const struct key_parts *k, char c, const char **s, size_t *len)
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
    default: {                   /* %1 .. %9: labels from the right */
        if (!k->domain || !*k->domain)
            return -1;
        int want = c - '0';
        const char *end = k->domain + strlen(k->domain);
        for (int i = 1;; i++) {
            const char *dot = end;
            while (dot > k->domain && dot[-1] != '.')
                dot--;
            if (i == want) {
                *s = dot;
                *len = (size_t)(end - dot);
                return *len ? 0 : -1;
            }
            if (dot == k->domain)
                return -1;
            end = dot - 1;
        }
    }
    }
}

/* Append text quoted for the SQL context `quote` ('\'', '"' or 0). */
static int put_sql(struct buf *out, const char *s, size_t len, char quote)
{
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

/* 1 built, 0 suppressed, -1 too long. */
static int build_query(const char *tmpl, const struct key_parts *k, struct buf *out)
{
    char quote = 0;
    buf_reset(out);
    for (const char *p = tmpl; *p; p++) {
        if (*p != '%') {
            if (quote) {
                if (*p == quote)
                    quote = 0;
            } else if (*p == '\'' || *p == '"' || *p == '`') {
                quote = *p;
            } else if (*p == '[') {
                quote = ']';
            }
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
        if (part_of(k, *p, &s, &len) < 0)
            return 0;
        if (put_sql(out, s, len, quote) < 0)
            return -1;
    }
    return 1;
}

/* Apply result_format to one value. 1 appended, 0 skipped, -1 too long. */
static int format_result(const char *fmt, const char *value, const struct key_parts *k,
                         struct buf *out)
{
    struct key_parts v;
    split_key(value, &v);
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
        const char *s;
        size_t len;
        int r;
        if (*p == '%') {
            s = "%";
            len = 1;
            r = 0;
        } else if (islower((unsigned char)*p)) {
            r = part_of(&v, *p, &s, &len);
        } else {
            r = part_of(k, *p, &s, &len);
        }
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
    struct key_parts k;
    split_key(key, &k);
    if (p->domains) {
        /* Only user@domain keys with a listed domain are worth a query. */
        if (!k.domain || !k.llen || !*k.domain)
            return TABLE_NOTFOUND;
        int m = domain_list_match(p->domains, k.domain);
        if (m < 0)
            return TABLE_TEMPFAIL;
        if (m == 0)
            return TABLE_NOTFOUND;
    }
    struct buf sql;
    buf_init(&sql, SQL_MAX);
    int b = build_query(p->query, &k, &sql);
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
    long count = 0;
    int r = TABLE_NOTFOUND;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        if (!v || !*v)
            continue;   /* NULL or empty values are skipped */
        int f = format_result(p->result_format, (const char *)v, &k, result);
        if (f < 0) {
            msg_warn("%s: result for \"%s\" too long", t->spec, key);
            r = TABLE_TEMPFAIL;
            break;
        }
        if (f > 0 && p->expansion_limit > 0 && ++count > p->expansion_limit) {
            msg_warn("%s: lookup of \"%s\": result exceeds expansion_limit %ld", t->spec, key,
                     p->expansion_limit);
            r = TABLE_TEMPFAIL;
            break;
        }
        if (f > 0)
            r = TABLE_FOUND;
    }
    if (r != TABLE_TEMPFAIL && rc != SQLITE_DONE) {
        msg_warn("%s: query failed: %s", t->spec, sqlite3_errmsg(p->db));
        r = TABLE_TEMPFAIL;
    }
    sqlite3_finalize(st);
    buf_free(&sql);
    if (r != TABLE_FOUND)
        buf_reset(result);
    return r;
}

static void sqlite_priv_free(struct sqlite_priv *p)
{
    sqlite3_close(p->db);
    match_list_free(p->domains);
    free(p->dbpath);
    free(p->query);
    free(p->result_format);
    free(p);
}

static void sqlite_close(struct table *t)
{
    sqlite_priv_free(t->priv);
}

static const struct table_ops sqlite_ops = {sqlite_lookup, sqlite_close, NULL};

enum { P_DBPATH, P_QUERY, P_RESULT_FORMAT, P_DOMAIN, P_EXPANSION_LIMIT, P_TABLE, P_SELECT,
       P_WHERE, P_ADDITIONAL, P_COUNT };

int table_sqlite_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    struct cf_param params[P_COUNT] = {
        {"dbpath", NULL},         {"query", NULL},        {"result_format", NULL},
        {"domain", NULL},         {"expansion_limit", NULL}, {"table", NULL},
        {"select_field", NULL},   {"where_field", NULL},  {"additional_conditions", NULL},
    };
    int rc = 0;
    struct sqlite_priv *p = xcalloc(1, sizeof(*p));
    if (t->name[0] != '/' && t->name[0] != '.') {
        /* sqlite_table(5) backwards compatibility: sqlite:NAME takes its
         * parameters from main.cf as NAME_dbpath, NAME_query ... */
        if (!cfg)
            rc = table_err(err, errlen, "sqlite:%s: main.cf parameters (%s_dbpath ...) need "
                           "the configuration; use sqlite:/path/to/file.cf", t->name, t->name);
        for (size_t i = 0; rc == 0 && i < P_COUNT; i++)
            params[i].value = table_cfg_param(cfg, t->name, params[i].name);
    } else {
        rc = read_cf(t->name, params, P_COUNT, err, errlen);
    }
    int in_main_cf = t->name[0] != '/' && t->name[0] != '.';
    if (rc == 0 && (!params[P_DBPATH].value || !*params[P_DBPATH].value))
        rc = table_err(err, errlen, "%s: missing \"%s%sdbpath\" parameter", t->name,
                       in_main_cf ? t->name : "", in_main_cf ? "_" : "");
    if (rc == 0) {
        p->dbpath = xstrdup(params[P_DBPATH].value);
        if (params[P_QUERY].value && *params[P_QUERY].value) {
            p->query = xstrdup(params[P_QUERY].value);
        } else if (params[P_TABLE].value && params[P_SELECT].value && params[P_WHERE].value) {
            p->query = xasprintf("SELECT %s FROM %s WHERE %s = '%%s' %s", params[P_SELECT].value,
                                 params[P_TABLE].value, params[P_WHERE].value,
                                 params[P_ADDITIONAL].value ? params[P_ADDITIONAL].value : "");
        } else {
            rc = table_err(err, errlen, "%s: missing \"%s%squery\" parameter", t->name,
                           in_main_cf ? t->name : "", in_main_cf ? "_" : "");
        }
    }
    if (rc == 0)
        p->result_format = xstrdup(params[P_RESULT_FORMAT].value ? params[P_RESULT_FORMAT].value
                                                                  : "%s");
    if (rc == 0) {
        const char *lim = params[P_EXPANSION_LIMIT].value;
        char *end = NULL;
        p->expansion_limit = lim ? strtol(lim, &end, 10) : 0;
        if (lim && (*lim == '\0' || *end || p->expansion_limit < 0))
            rc = table_err(err, errlen, "%s: bad expansion_limit \"%s\"", t->name, lim);
    }
    if (rc == 0)
        rc = check_template(p->query, 1, "query", err, errlen);
    if (rc == 0)
        rc = check_template(p->result_format, 0, "result_format", err, errlen);
    if (rc == 0 && params[P_DOMAIN].value && *params[P_DOMAIN].value) {
        char why[512];
        p->domains = domain_list_new(params[P_DOMAIN].value, cfg, 0, why, sizeof(why));
        if (!p->domains)
            rc = table_err(err, errlen, "%s: domain: %s", t->name, why);
    }
    if (rc == 0 && stat(p->dbpath, &p->st) < 0)
        rc = table_err(err, errlen, "open database %s: %s", p->dbpath, strerror(errno));
    if (rc == 0)
        rc = db_open(p, err, errlen);
    for (size_t i = 0; i < P_COUNT; i++)
        free(params[i].value);
    if (rc < 0) {
        sqlite_priv_free(p);
        return -1;
    }
    p->last_check = mono_msec();
    t->priv = p;
    t->ops = &sqlite_ops;
    return 0;
}
