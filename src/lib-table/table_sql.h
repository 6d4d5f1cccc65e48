/*
 * table_sql.h - what the SQL table types (sqlite:, pgsql:, mysql:) share.
 * Internal to the tables module.
 *
 * Owns: the .cf reader of sqlite_table(5), pgsql_table(5) and
 * mysql_table(5) ("name = value" lines, file:line errors), the settings
 * every SQL type has (query or the older select_field/table/where_field/
 * additional_conditions form, result_format, domain, expansion_limit),
 * %-expansion of the query with the value escaped through the driver's
 * callback, result_format and the joining of rows and columns with
 * commas, the `domain` filter, the `hosts` list, and the connection
 * policy of the server types (retry_interval, idle_interval, timeout).
 *
 * Quoting: the template is scanned for string and identifier quotes of
 * the dialect. An expansion inside a string literal is escaped by the
 * driver; one outside any quotes is turned into a string literal; one
 * inside an identifier quote is refused when the table is opened.
 */
#ifndef YUBIN_TABLE_SQL_H
#define YUBIN_TABLE_SQL_H

#include "lib-table/table.h"
#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

struct config;
struct match_list;

#define SQL_QUERY_MAX (TABLE_KEY_MAX * 4 + 65536)

/* One setting of a .cf file: name, value (NULL when absent), its line. */
struct sql_setting {
    const char *name;
    char *value;
    int line;
};

/* How strict the reader is about names it does not know. */
#define SQL_CF_WARN_UNKNOWN 0   /* log and go on (sqlite:, as before) */
#define SQL_CF_ERR_UNKNOWN  1   /* an error "file:line: unknown ..." */

/*
 * Settings given in memory instead of a .cf file: the auth service's
 * dovecot-sql: builds a pgsql:/mysql:/sqlite: table from dovecot-sql.conf.ext.
 * kv: name, value, name, value, ..., NULL. named: the result is the first
 * row as "column=value" items separated by TABs (sql_results_add_named).
 */
struct sql_preset {
    const char *const *kv;
    int named;
};
int table_pgsql_open_preset(struct table *t, const struct config *cfg,
                            const struct sql_preset *ps, char *err, size_t errlen);
int table_mysql_open_preset(struct table *t, const struct config *cfg,
                            const struct sql_preset *ps, char *err, size_t errlen);
int table_sqlite_open_preset(struct table *t, const struct config *cfg,
                             const struct sql_preset *ps, char *err, size_t errlen);
/* Fill s[0..n) from ps->kv; unknown names are errors naming `where`. */
int sql_cf_fill(const struct sql_preset *ps, const char *where, struct sql_setting *s, size_t n,
                char *err, size_t errlen);

/* Read path into s[0..n). 0, or -1 with "path:line: ..." in err. */
int sql_cf_read(const char *path, const char *type, struct sql_setting *s, size_t n, int strict,
                char *err, size_t errlen);
void sql_settings_free(struct sql_setting *s, size_t n);
/* The setting called name in s[0..n), or NULL. */
struct sql_setting *sql_setting(struct sql_setting *s, size_t n, const char *name);

/* The quoting of one SQL dialect. */
struct sql_dialect {
    const char *openers;    /* characters that open a quote: ' " ` [ */
    const char *refused;    /* contexts (closing characters) where %-expansions are refused */
};

/* A lookup key split for %s %u %d %1..%9. */
struct sql_key {
    const char *key;
    const char *local;      /* localpart (not NUL-terminated) or NULL */
    size_t llen;
    const char *domain;     /* after the last '@', or NULL */
};
void sql_key_split(const char *key, struct sql_key *k);
/* Text of %c ('s','u','d','1'..'9', either case) of k: 0, or -1 when the
 * key has no such part (the query is not run / the result is skipped). */
int sql_key_part(const struct sql_key *k, char c, const char **s, size_t *len);

/* Append s[0..len) to out as SQL text for the context `quote` (0: outside
 * quotes, the callback makes a literal; '\'' or '"': inside that string).
 * 0, or -1 (cannot be escaped: too long or invalid for the database). */
typedef int (*sql_escape_fn)(void *ctx, const char *s, size_t len, char quote, struct buf *out);

/* Check a template: unknown %x, and expansions in refused contexts (is_query). */
int sql_template_check(const char *tmpl, const struct sql_dialect *d, int is_query,
                       const char *what, char *err, size_t errlen);
/* Expand the query for k. 1 built, 0 not to be run (a part is missing),
 * -1 too long or not escapable. */
int sql_expand(const char *tmpl, const struct sql_dialect *d, const struct sql_key *k,
               sql_escape_fn esc, void *ctx, struct buf *out);
/* Standard escaping by doubling the quote character (SQLite). */
int sql_escape_double(void *ctx, const char *s, size_t len, char quote, struct buf *out);

/* What every SQL table has. */
struct sql_common {
    char *query;
    char *result_format;
    long expansion_limit;
    struct match_list *domains;
    const struct sql_dialect *dialect;
    int named;              /* sql_preset.named: column=value items of the first row */
};

/* The common settings, in this order, at the start of each type's list. */
#define SQL_COMMON_SETTINGS {"query", NULL, 0}, {"result_format", NULL, 0}, {"domain", NULL, 0}, \
    {"expansion_limit", NULL, 0}, {"table", NULL, 0}, {"select_field", NULL, 0}, \
    {"where_field", NULL, 0}, {"additional_conditions", NULL, 0}
#define SQL_COMMON_COUNT 8

/* Fill c from s[0..SQL_COMMON_COUNT). `where` names the file in errors;
 * `prefix` is put before setting names in them ("" or "NAME_"). */
int sql_common_init(struct sql_common *c, struct sql_setting *s, const struct sql_dialect *d,
                    const struct config *cfg, const char *where, const char *prefix, char *err,
                    size_t errlen);
void sql_common_free(struct sql_common *c);
/* The domain filter: 1 look the key up, 0 not a candidate, -1 failure. */
int sql_domain_ok(const struct sql_common *c, const struct sql_key *k);

/* Collecting results: one value (NULL or "" skipped) at a time. */
struct sql_results {
    const struct sql_common *c;
    const struct sql_key *k;
    struct buf *out;
    long count;
};
void sql_results_init(struct sql_results *r, const struct sql_common *c, const struct sql_key *k,
                      struct buf *out);
/* 0 ok, -1 too long or over expansion_limit (why set). */
int sql_results_add(struct sql_results *r, const char *value, const char **why);
/* named mode: "column=value", TAB-separated. 0 ok, -1 (why set): a
 * control character in the value, or too long. */
int sql_results_add_named(struct sql_results *r, const char *column, const char *value,
                          const char **why);
/* result_format for one value: 1 appended, 0 skipped, -1 too long. */
int sql_format_result(const char *fmt, const char *value, const struct sql_key *k,
                      struct buf *out);

/* ----------------------------------------------------------- servers */

#define SQL_HOST_INET 1
#define SQL_HOST_UNIX 2
#define SQL_HOST_URI  3     /* postgresql://... (pgsql only) */

struct sql_host {
    char *spec;             /* as written, for log lines */
    int kind;
    char *host;             /* inet: name or address; unix: path; uri: the URI */
    unsigned port;          /* 0: the driver's default */
    uint64_t dead_until;    /* mono_msec(): skip until then after a failed connect */
};

/* Connection policy and hosts of pgsql: and mysql:. */
struct sql_server {
    struct sql_host *hosts;
    size_t nhosts;
    unsigned retry_ms;      /* retry_interval: a host that failed is skipped this long */
    unsigned idle_ms;       /* idle_interval: a connection unused this long is closed */
    unsigned timeout_ms;    /* timeout (yubin): connect and each query */
    uint64_t last_used;
    int current;            /* index of the connected host, -1 none */
};

/* "hosts" (whitespace or comma separated; unix:/path, inet:host[:port],
 * host[:port], [v6addr]:port, and postgresql:// URIs when allow_uri). */
int sql_hosts_parse(const char *value, int allow_uri, struct sql_host **hosts, size_t *n,
                    char *err, size_t errlen);
/* Parse hosts, retry_interval, idle_interval and timeout (values may be NULL). */
int sql_server_init(struct sql_server *sv, const char *hosts, const char *retry,
                    const char *idle, const char *timeout, int allow_uri, const char *where,
                    char *err, size_t errlen);
void sql_server_free(struct sql_server *sv);
/* A duration "60", "60s", "2m", "1h" (whole seconds) in ms; -1 on error. */
long long sql_duration_ms(const char *s);

/*
 * Connect to the first usable host, as Postfix does: hosts that failed
 * within retry_interval are skipped; each failure is logged with the
 * table's name and marks the host. connect() returns 0 or -1 with a reason
 * in why. Returns the host index or -1 (why: the last reason).
 */
typedef int (*sql_connect_fn)(void *ctx, const struct sql_host *h, char *why, size_t whylen);
int sql_server_connect(struct sql_server *sv, const char *table, sql_connect_fn connect,
                       void *ctx, char *why, size_t whylen);
/* Has the connection been idle past idle_interval (it should be closed)? */
int sql_server_idle(const struct sql_server *sv);

/*
 * A driver's side of one lookup (pgsql, mysql): whether it holds a
 * connection, closing it, connecting (sql_server_connect's callback), and
 * one query attempt on the connection, which returns a TABLE_* result or 2:
 * the reused connection was gone, try once more on a new one.
 */
struct sql_driver {
    int (*connected)(void *ctx);
    void (*disconnect)(void *ctx);
    sql_connect_fn connect;
    int (*attempt)(void *ctx, const struct sql_key *k, const char *key, int reused,
                   struct buf *result);
};
/*
 * One lookup as every SQL table does it: the key's parts, the domain
 * filter, an idle connection closed, connect, and at most two attempts
 * (a reused connection found dead is replaced once). table: the spec for
 * log lines.
 */
int sql_lookup_run(const struct sql_common *c, struct sql_server *sv, const char *table,
                   const struct sql_driver *d, void *ctx, const char *key, struct buf *result);

#endif
