/*
 * fuzz_sqlcf.c - the SQL tables' configuration and query building
 * (src/lib-table/table_sql.c): the .cf reader (sql_cf_read), the common
 * settings and the older select_field form (sql_common_init), the hosts
 * list and durations (sql_server_init), %-expansion of the query with
 * escaping (sql_expand, sql_escape_double), result_format (sql_format_result)
 * and table_open of pgsql: and mysql: files (which never connect).
 *
 * Input: byte 0 picks the dialect (sqlite-, pgsql- or mysql-style quotes)
 * and whether the file also goes through table_open; then the .cf text,
 * a NUL, and lookup keys, one per line (each also used as a result value).
 *
 * Invariants beyond "no crash":
 *  - injection: for a template accepted by sql_template_check, the quote
 *    state at the end of the expanded query equals the one at the end of
 *    the template without its %-expansions: whatever the key holds, it
 *    stays inside the literal it was put in (or the one made for it);
 *  - an expansion that is built is a C string of at most SQL_QUERY_MAX;
 *  - a formatted result never contains a NUL and only grows the output.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-table/table.h"
#include "lib-table/table_sql.h"

static const struct sql_dialect dialects[] = {
    {"'\"`[", "`]"},   /* sqlite */
    {"'\"", "\""},     /* pgsql */
    {"'\"`", "`"},     /* mysql */
};

/* The quote context after text (skipping %x sequences when template). */
static char quote_end(const struct sql_dialect *d, const char *s, int is_template)
{
    char q = 0;
    for (; *s; s++) {
        if (is_template && *s == '%' && s[1]) {
            s++;
            continue;
        }
        if (q)
            q = *s == q ? 0 : q;
        else if (strchr(d->openers, *s))
            q = *s == '[' ? ']' : *s;
    }
    return q;
}

static void check_key(const struct sql_common *c, const struct sql_dialect *d, const char *key)
{
    struct sql_key k;
    sql_key_split(key, &k);
    struct buf out;
    buf_init(&out, SQL_QUERY_MAX);
    int r = sql_expand(c->query, d, &k, sql_escape_double, NULL, &out);
    if (r > 0) {
        FUZZ_ASSERT(strlen(buf_cstr(&out)) == out.len && out.len <= SQL_QUERY_MAX);
        /* Identifier contexts are refused, so every expansion went into a
         * string literal whose quote it doubled. */
        FUZZ_ASSERT(quote_end(d, buf_cstr(&out), 0) == quote_end(d, c->query, 1));
    }
    buf_reset(&out);
    buf_puts(&out, "x");
    if (sql_format_result(c->result_format, key, &k, &out) >= 0)
        FUZZ_ASSERT(out.len >= 1 && strlen(buf_cstr(&out)) == out.len);
    buf_free(&out);
    sql_domain_ok(c, &k);
}

static void run_settings(const char *path, const struct sql_dialect *d, char *keys)
{
    struct sql_setting s[] = {SQL_COMMON_SETTINGS, {"hosts", NULL, 0}, {"retry_interval", NULL, 0},
                              {"idle_interval", NULL, 0}, {"timeout", NULL, 0}};
    char err[1024];
    if (sql_cf_read(path, "pgsql", s, ARRAY_LEN(s), SQL_CF_ERR_UNKNOWN, err, sizeof(err)) < 0) {
        sql_settings_free(s, ARRAY_LEN(s));
        return;
    }
    struct sql_common c;
    if (sql_common_init(&c, s, d, NULL, path, "", err, sizeof(err)) == 0) {
        for (char *save = NULL, *key = strtok_r(keys, "\n", &save); key;
             key = strtok_r(NULL, "\n", &save))
            check_key(&c, d, key);
    }
    sql_common_free(&c);
    struct sql_server sv;
    sql_server_init(&sv, s[SQL_COMMON_COUNT].value, s[SQL_COMMON_COUNT + 1].value,
                    s[SQL_COMMON_COUNT + 2].value, s[SQL_COMMON_COUNT + 3].value, 1, path, err,
                    sizeof(err));
    sql_server_free(&sv);
    sql_settings_free(s, ARRAY_LEN(s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    struct fuzz_in in = {data, size};
    unsigned mode = fuzz_byte(&in);
    const struct sql_dialect *d = &dialects[mode % 3];
    char *cf = fuzz_field(&in);
    char *keys = fuzz_strndup(in.p, in.n);
    char path[300];
    str_fmt(path, sizeof(path), "%s/sql.cf", fuzz_dir());
    fuzz_write_file(path, cf, strlen(cf));
    run_settings(path, d, keys);
    if (mode & 4) {
        /* The real types: parsing only, a table is never connected on open. */
        char spec[400], err[1024];
        str_fmt(spec, sizeof(spec), "%s:%s", (mode & 8) ? "mysql" : "pgsql", path);
        struct table *t = table_open(spec, NULL, err, sizeof(err));
        if (t)
            table_close(t);
    }
    free(keys);
    free(cf);
    return 0;
}
