/*
 * table_pgsql.c - pgsql: tables (pgsql_table(5)) with libpq. The name is
 * a .cf file in main.cf syntax with the SQL settings every SQL table has
 * (table_sql.h: query, result_format, domain, expansion_limit, the older
 * select_field/table/where_field/additional_conditions) and:
 *   hosts            tried in order: unix:/dir (or the socket file
 *                    /dir/.s.PGSQL.PORT), inet:host:port, host:port, host,
 *                    or a postgresql:// URI (libpq's, with sslmode=...
 *                    and the other connection parameters: TLS is set there)
 *   user, password, dbname   (not used with a URI: it carries its own)
 *   encoding         client_encoding (default UTF8)
 *   retry_interval   a host that failed is skipped this long (60s)
 *   idle_interval    a connection unused this long is closed (60s)
 *   timeout          yubin: limit of the connect and of each query (10s)
 *   select_function  (legacy) SELECT FUNCTION('%s')
 *
 * Owns: the connection to the server (opened at the first lookup, kept,
 * reconnected at once when a reused connection turns out broken) and the
 * query with its deadline. Every failure - no server, a timeout, an SQL
 * error - is logged with the table's name and is a temporary failure.
 * Values from the client are escaped with PQescapeStringConn.
 *
 * Lookups block: event-loop processes send them to proxymap (TABLE_F_REMOTE).
 */
#include "lib-table/table_impl.h"
#include "lib-table/table_sql.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

struct pgsql_priv {
    const char *spec;           /* the table's, for log lines */
    struct sql_common c;
    struct sql_server sv;
    char *user, *password, *dbname, *encoding;
    PGconn *conn;
};

/* '...' strings are escaped; "..." are identifiers: expansions refused there. */
static const struct sql_dialect pgsql_dialect = {"'\"", "\""};

/* Part of an identifier or a keyword (a $ or E after one quotes nothing). */
static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/*
 * Quotes the escaping cannot cover: in E'...' a backslash escapes the
 * quote (PQescapeStringConn leaves backslashes alone when
 * standard_conforming_strings is on), and $tag$...$tag$ has no escapes.
 * A query with an expansion inside an E-string, or with dollar quoting
 * at all, is refused when the table is opened.
 */
static int pg_query_check(const char *q, char *err, size_t errlen)
{
    int in_str = 0, estr = 0;
    for (const char *p = q; *p; p++) {
        char prev = p > q ? p[-1] : ' ';
        if (in_str) {
            if (*p == '\'' )
                in_str = 0;
            else if (*p == '%' && p[1] && p[1] != '%' && estr)
                return table_err(err, errlen, "query: %%%c inside an E'...' string is not "
                                 "supported (use '...')", p[1]);
            if (*p == '%' && p[1])
                p++;
            continue;
        }
        if (*p == '\'') {
            in_str = 1;
            estr = (prev == 'E' || prev == 'e') && (p - q < 2 || !ident_char(p[-2]));
        } else if (*p == '$' && !ident_char(prev)) {
            return table_err(err, errlen, "query: dollar quoting is not supported (use '...')");
        } else if (*p == '%' && p[1]) {
            p++;
        }
    }
    return 0;
}

/* ------------------------------------------------------------ connect */

static void pg_disconnect(struct pgsql_priv *p)
{
    if (p->conn)
        PQfinish(p->conn);
    p->conn = NULL;
    p->sv.current = -1;
}

/* The first line of libpq's last error, without its newline. */
static void pg_reason(PGconn *conn, char *why, size_t whylen)
{
    const char *m = conn ? PQerrorMessage(conn) : "out of memory";
    size_t n = strcspn(m, "\n");
    str_fmt(why, whylen, "%.*s", (int)n, *m ? m : "unknown error");
}

/* host/port for a unix: path: a directory, or a .s.PGSQL.PORT socket in one. */
static void pg_unix_path(const char *path, char *dir, size_t dirlen, char *port, size_t portlen)
{
    const char *slash = strrchr(path, '/');
    port[0] = '\0';
    if (slash && strncmp(slash + 1, ".s.PGSQL.", 9) == 0) {
        str_fmt(dir, dirlen, "%.*s", (int)(slash > path ? slash - path : 1), path);
        str_copy(port, slash + 10, portlen);
    } else {
        str_copy(dir, path, dirlen);
    }
}

/* libpq's connection keywords for one host. */
struct pg_params {
    const char *kw[12], *val[12];
    size_t n;
    char host[1024], port[16], timeout[16];
};

static void pg_param(struct pg_params *pp, const char *kw, const char *val)
{
    if (!val || pp->n + 1 >= ARRAY_LEN(pp->kw))
        return;
    pp->kw[pp->n] = kw;
    pp->val[pp->n++] = val;
    pp->kw[pp->n] = NULL;
    pp->val[pp->n] = NULL;
}

static void pg_params(const struct pgsql_priv *p, const struct sql_host *h, struct pg_params *pp)
{
    memset(pp, 0, sizeof(*pp));
    str_fmt(pp->timeout, sizeof(pp->timeout), "%u", (p->sv.timeout_ms + 999) / 1000);
    if (h->kind == SQL_HOST_URI) {
        pg_param(pp, "dbname", h->host);   /* expanded by libpq: the URI's own settings */
    } else {
        if (h->kind == SQL_HOST_UNIX) {
            pg_unix_path(h->host, pp->host, sizeof(pp->host), pp->port, sizeof(pp->port));
        } else {
            str_copy(pp->host, h->host, sizeof(pp->host));
            if (h->port)
                str_fmt(pp->port, sizeof(pp->port), "%u", h->port);
        }
        pg_param(pp, "host", pp->host);
        pg_param(pp, "port", pp->port[0] ? pp->port : NULL);
        pg_param(pp, "dbname", p->dbname);
        pg_param(pp, "user", p->user);
        pg_param(pp, "password", p->password);
    }
    pg_param(pp, "connect_timeout", pp->timeout);
    pg_param(pp, "client_encoding", p->encoding);
    pg_param(pp, "fallback_application_name", "yubin");
}

static int pg_connect(void *ctx, const struct sql_host *h, char *why, size_t whylen)
{
    struct pgsql_priv *p = ctx;
    struct pg_params pp;
    pg_params(p, h, &pp);
    PGconn *conn = PQconnectdbParams(pp.kw, pp.val, h->kind == SQL_HOST_URI);
    if (!conn || PQstatus(conn) != CONNECTION_OK) {
        pg_reason(conn, why, whylen);
        PQfinish(conn);
        return -1;
    }
    p->conn = conn;
    return 0;
}

/* -------------------------------------------------------------- query */

static int pg_escape(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    struct pgsql_priv *p = ctx;
    if (quote == '"' || len > TABLE_KEY_MAX)
        return -1;
    char tmp[2 * TABLE_KEY_MAX + 1];
    int error = 0;
    size_t n = PQescapeStringConn(p->conn, tmp, s, len, &error);
    if (error)
        return -1;   /* not valid in the client encoding: cannot be in the table */
    if (!quote && buf_putc(out, '\'') < 0)
        return -1;
    if (buf_append(out, tmp, n) < 0)
        return -1;
    return quote ? 0 : buf_putc(out, '\'');
}

/* Wait until the answer is complete. 0, -1 (connection failed), PG_TIMEOUT. */
#define PG_GONE    (-1)
#define PG_REFUSED (-2)
#define PG_TIMEOUT (-3)
static int pg_wait(struct pgsql_priv *p, uint64_t deadline, char *why, size_t whylen)
{
    while (PQisBusy(p->conn)) {
        uint64_t now = mono_msec();
        if (now >= deadline) {
            str_fmt(why, whylen, "query timed out after %us", p->sv.timeout_ms / 1000);
            return PG_TIMEOUT;
        }
        struct pollfd pfd = {PQsocket(p->conn), POLLIN, 0};
        int r = poll(&pfd, 1, (int)(deadline - now));
        if (r < 0 && errno != EINTR) {
            str_fmt(why, whylen, "poll: %s", strerror(errno));
            return -1;
        }
        if (r > 0 && !PQconsumeInput(p->conn)) {
            pg_reason(p->conn, why, whylen);
            return -1;
        }
    }
    return 0;
}

/*
 * Run sql. 0: *res holds the first result (the caller clears it);
 * PG_GONE: the connection is unusable; PG_TIMEOUT: no answer in time;
 * PG_REFUSED: the server refused the query (the connection stays).
 */
static int pg_query(struct pgsql_priv *p, const char *sql, PGresult **res, char *why,
                    size_t whylen)
{
    *res = NULL;
    uint64_t deadline = mono_msec() + p->sv.timeout_ms;
    if (!PQsendQuery(p->conn, sql)) {
        pg_reason(p->conn, why, whylen);
        return -1;
    }
    PGresult *r;
    int w;
    while ((w = pg_wait(p, deadline, why, whylen)) == 0 && (r = PQgetResult(p->conn)) != NULL) {
        if (!*res)
            *res = r;
        else
            PQclear(r);
    }
    if (w == 0 && PQstatus(p->conn) != CONNECTION_OK) {
        pg_reason(p->conn, why, whylen);
        w = PG_GONE;
    }
    if (w < 0) {
        PQclear(*res);
        *res = NULL;
        return w;
    }
    ExecStatusType st = *res ? PQresultStatus(*res) : PGRES_FATAL_ERROR;
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        return 0;
    const char *m = *res ? PQresultErrorMessage(*res) : "no result";
    str_fmt(why, whylen, "query failed: %.*s", (int)strcspn(m, "\n"), m);
    PQclear(*res);
    *res = NULL;
    return PG_REFUSED;
}

/* Every non-NULL column of every row. TABLE_* result. */
static int pg_collect(struct pgsql_priv *p, PGresult *res, const struct sql_key *k,
                      const char *key, struct buf *result)
{
    struct sql_results r;
    sql_results_init(&r, &p->c, k, result);
    const char *why;
    for (int i = 0; i < PQntuples(res) && !(p->c.named && i > 0); i++) {
        for (int j = 0; j < PQnfields(res); j++) {
            if (PQgetisnull(res, i, j))
                continue;
            if ((p->c.named ? sql_results_add_named(&r, PQfname(res, j), PQgetvalue(res, i, j), &why)
                            : sql_results_add(&r, PQgetvalue(res, i, j), &why)) < 0) {
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

/* One attempt on a connection. TABLE_* result, or 2: retry on a new connection. */
static int pg_attempt(void *ctx, const struct sql_key *k, const char *key, int reused,
                      struct buf *result)
{
    struct pgsql_priv *p = ctx;
    struct buf sql;
    buf_init(&sql, SQL_QUERY_MAX);
    int b = sql_expand(p->c.query, &pgsql_dialect, k, pg_escape, p, &sql);
    if (b <= 0) {
        buf_free(&sql);
        if (b < 0)
            msg_warn("%s: lookup of \"%s\": key too long or not valid in the client encoding",
                     p->spec, key);
        return b < 0 ? TABLE_TEMPFAIL : TABLE_NOTFOUND;
    }
    PGresult *res;
    char why[512];
    const char *host = p->sv.hosts[p->sv.current].spec;
    int q = pg_query(p, sql.data, &res, why, sizeof(why));
    buf_free(&sql);
    if (q == 0) {
        p->sv.last_used = mono_msec();
        int rc = pg_collect(p, res, k, key, result);
        PQclear(res);
        return rc;
    }
    msg_warn("%s: lookup of \"%s\" on %s: %s%s", p->spec, key, host, why,
             q == PG_GONE && reused ? " (reconnecting)" : "");
    if (q == PG_REFUSED)
        return TABLE_TEMPFAIL;
    /* A server that does not answer in time is skipped like one that refuses. */
    if (q == PG_TIMEOUT)
        p->sv.hosts[p->sv.current].dead_until = mono_msec() + p->sv.retry_ms;
    pg_disconnect(p);
    return reused && q == PG_GONE ? 2 : TABLE_TEMPFAIL;
}

static int pg_connected(void *ctx)
{
    return ((struct pgsql_priv *)ctx)->conn != NULL;
}

static void pg_disconnect_cb(void *ctx)
{
    pg_disconnect(ctx);
}

static const struct sql_driver pgsql_driver = {pg_connected, pg_disconnect_cb, pg_connect,
                                               pg_attempt};

static int pgsql_lookup(struct table *t, const char *key, struct buf *result)
{
    struct pgsql_priv *p = t->priv;
    return sql_lookup_run(&p->c, &p->sv, p->spec, &pgsql_driver, p, key, result);
}

/* --------------------------------------------------------------- open */

static void pgsql_priv_free(struct pgsql_priv *p)
{
    pg_disconnect(p);
    sql_common_free(&p->c);
    sql_server_free(&p->sv);
    free(p->user);
    free(p->password);
    free(p->dbname);
    free(p->encoding);
    free(p);
}

static void pgsql_close(struct table *t)
{
    pgsql_priv_free(t->priv);
}

static const struct table_ops pgsql_ops = {pgsql_lookup, pgsql_close, NULL};

enum { P_HOSTS = SQL_COMMON_COUNT, P_USER, P_PASSWORD, P_DBNAME, P_ENCODING, P_RETRY, P_IDLE,
       P_TIMEOUT, P_SELECT_FUNCTION, P_COUNT };

static char *opt_dup(const struct sql_setting *s)
{
    return s->value && *s->value ? xstrdup(s->value) : NULL;
}

static int pgsql_open(struct table *t, const struct config *cfg, const struct sql_preset *ps,
                      char *err, size_t errlen)
{
    struct sql_setting s[P_COUNT] = {
        SQL_COMMON_SETTINGS,   {"hosts", NULL, 0},          {"user", NULL, 0},
        {"password", NULL, 0}, {"dbname", NULL, 0},         {"encoding", NULL, 0},
        {"retry_interval", NULL, 0}, {"idle_interval", NULL, 0}, {"timeout", NULL, 0},
        {"select_function", NULL, 0},
    };
    struct pgsql_priv *p = xcalloc(1, sizeof(*p));
    p->spec = t->spec;
    p->sv.current = -1;
    int rc = ps ? sql_cf_fill(ps, t->spec, s, P_COUNT, err, errlen)
                : sql_cf_read(t->name, "pgsql", s, P_COUNT, SQL_CF_ERR_UNKNOWN, err, errlen);
    if (rc == 0 && s[P_SELECT_FUNCTION].value && !s[0].value)
        s[0].value = xasprintf("SELECT %s('%%s')", s[P_SELECT_FUNCTION].value);
    if (rc == 0)
        rc = sql_common_init(&p->c, s, &pgsql_dialect, cfg, t->name, "", err, errlen);
    p->c.named = ps && ps->named;
    if (rc == 0)
        rc = pg_query_check(p->c.query, err, errlen);
    if (rc == 0)
        rc = sql_server_init(&p->sv, s[P_HOSTS].value, s[P_RETRY].value, s[P_IDLE].value,
                             s[P_TIMEOUT].value, 1, t->name, err, errlen);
    p->user = opt_dup(&s[P_USER]);
    p->password = opt_dup(&s[P_PASSWORD]);
    p->dbname = opt_dup(&s[P_DBNAME]);
    p->encoding = xstrdup(s[P_ENCODING].value && *s[P_ENCODING].value ? s[P_ENCODING].value
                                                                       : "UTF8");
    sql_settings_free(s, P_COUNT);
    if (rc < 0) {
        pgsql_priv_free(p);
        return -1;
    }
    t->priv = p;
    t->ops = &pgsql_ops;
    t->flags = TABLE_F_REMOTE;
    return 0;
}

int table_pgsql_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    return pgsql_open(t, cfg, NULL, err, errlen);
}

int table_pgsql_open_preset(struct table *t, const struct config *cfg,
                            const struct sql_preset *ps, char *err, size_t errlen)
{
    return pgsql_open(t, cfg, ps, err, errlen);
}
