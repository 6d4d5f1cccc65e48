/* Unit tests for what the SQL tables share (src/lib-table/table_sql.c):
 * the .cf reader and its file:line errors, the common settings and the
 * older select_field form, %-expansion and quoting contexts, result_format
 * and comma joining, expansion_limit, hosts lists, durations, the
 * connect/retry policy; and pgsql:/mysql: table_open errors and temporary
 * failures without a server. The servers themselves:
 * tests/integration/test_sql_tables.py. */
#include "t.h"
#include "lib-table/table.h"
#include "lib-table/table_sql.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char err[1024];

static const char *write_cf(const char *name, const char *text)
{
    static char p[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    FILE *f = fopen(p[i], "w");
    if (!f) {
        perror(p[i]);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return p[i];
}

static const struct sql_dialect pg = {"'\"", "\""};
static const struct sql_dialect my = {"'\"`", "`"};

/* An escape that shows what it was given: {quote-context|text}. */
static int show_escape(void *ctx, const char *s, size_t len, char quote, struct buf *out)
{
    (void)ctx;
    char q[2] = {quote ? quote : '0', 0};
    if (buf_puts(out, "{") < 0 || buf_puts(out, q) < 0 || buf_puts(out, "|") < 0 ||
        buf_append(out, s, len) < 0 || buf_puts(out, "}") < 0)
        return -1;
    return 0;
}

static const char *expand(const char *tmpl, const struct sql_dialect *d, const char *key,
                          sql_escape_fn esc)
{
    static struct buf out;
    static char text[4096];
    buf_init(&out, 8192);
    struct sql_key k;
    sql_key_split(key, &k);
    int r = sql_expand(tmpl, d, &k, esc, NULL, &out);
    str_fmt(text, sizeof(text), "%d:%s", r, r > 0 ? buf_cstr(&out) : "");
    buf_free(&out);
    return text;
}

static void test_key_parts(void)
{
    CHECK_STR(expand("%s %u %d", &pg, "joe@mail.example.com", show_escape),
              "1:{0|joe@mail.example.com} {0|joe} {0|mail.example.com}");
    CHECK_STR(expand("%1.%2.%3 %S %U %D", &pg, "joe@mail.example.com", show_escape),
              "1:{0|com}.{0|example}.{0|mail} {0|joe@mail.example.com} {0|joe} "
              "{0|mail.example.com}");
    /* Parts the key lacks: the query is not run. */
    CHECK_STR(expand("%4", &pg, "joe@mail.example.com", show_escape), "0:");
    CHECK_STR(expand("%d", &pg, "joe", show_escape), "0:");
    CHECK_STR(expand("%1", &pg, "joe", show_escape), "0:");
    CHECK_STR(expand("%u", &pg, "joe", show_escape), "1:{0|joe}");     /* whole key */
    CHECK_STR(expand("%u", &pg, "@example.com", show_escape), "0:");   /* empty localpart */
    CHECK_STR(expand("%d", &pg, "joe@", show_escape), "0:");
    CHECK_STR(expand("%s", &pg, "", show_escape), "0:");
    /* The last '@' splits. */
    CHECK_STR(expand("%u|%d", &pg, "a@b@c.example", show_escape), "1:{0|a@b}|{0|c.example}");
}

static void test_quote_contexts(void)
{
    CHECK_STR(expand("WHERE a='%s' AND b=\"%u\" AND c=%d AND d='100%%'", &my, "x@y", show_escape),
              "1:WHERE a='{'|x@y}' AND b=\"{\"|x}\" AND c={0|y} AND d='100%'");
    /* The context comes back after a closed quote; identifiers are refused. */
    CHECK_STR(expand("SELECT `col` FROM t WHERE a=%s", &my, "k", show_escape),
              "1:SELECT `col` FROM t WHERE a={0|k}");
    CHECK_INT(sql_template_check("SELECT `%s`", &my, 1, "query", err, sizeof(err)), -1);
    CHECK(strstr(err, "identifier") != NULL);
    CHECK_INT(sql_template_check("SELECT \"%s\"", &pg, 1, "query", err, sizeof(err)), -1);
    CHECK_INT(sql_template_check("SELECT \"%s\"", &my, 1, "query", err, sizeof(err)), 0);
    CHECK_INT(sql_template_check("SELECT '%x'", &my, 1, "query", err, sizeof(err)), -1);
    CHECK(strstr(err, "unknown \"%x\"") != NULL);
    CHECK_INT(sql_template_check("SELECT 100%", &my, 1, "query", err, sizeof(err)), -1);
    CHECK_INT(sql_template_check("%% %s %1 %9 %S", &pg, 1, "query", err, sizeof(err)), 0);
    /* result_format may use any context. */
    CHECK_INT(sql_template_check("\"%s\"", &pg, 0, "result_format", err, sizeof(err)), 0);
}

static void test_escape_double(void)
{
    const struct sql_dialect sq = {"'\"`[", "`]"};
    CHECK_STR(expand("a='%s'", &sq, "o'brien", sql_escape_double), "1:a='o''brien'");
    CHECK_STR(expand("a=%s", &sq, "x' OR '1'='1", sql_escape_double), "1:a='x'' OR ''1''=''1'");
    CHECK_STR(expand("a=\"%s\"", &sq, "q\"q", sql_escape_double), "1:a=\"q\"\"q\"");
}

static const char *results(const char *fmt, long limit, const char *key, const char **values,
                           int *rc)
{
    static char text[1024];
    struct sql_common c = {.result_format = (char *)fmt, .expansion_limit = limit};
    struct sql_key k;
    sql_key_split(key, &k);
    struct buf out;
    buf_init(&out, 4096);
    struct sql_results r;
    sql_results_init(&r, &c, &k, &out);
    const char *why = NULL;
    *rc = 0;
    for (; *values; values++) {
        const char *v = strcmp(*values, "NULL") == 0 ? NULL : *values;
        if (sql_results_add(&r, v, &why) < 0) {
            *rc = -1;
            break;
        }
    }
    str_fmt(text, sizeof(text), "%ld:%s", r.count, buf_cstr(&out));
    buf_free(&out);
    return text;
}

static void test_results(void)
{
    int rc;
    const char *v1[] = {"a@x.example", "NULL", "", "b@y.example", NULL};
    CHECK_STR(results("%s", 0, "k@d.example", v1, &rc), "2:a@x.example,b@y.example");
    CHECK_INT(rc, 0);
    CHECK_STR(results("%u+%D:%U", 0, "k@d.example", v1, &rc), "2:a+d.example:k,b+d.example:k");
    /* %d of a value without a domain skips that value only. */
    const char *v2[] = {"plain", "c@z.example", NULL};
    CHECK_STR(results("<%d>", 0, "k", v2, &rc), "1:<z.example>");
    CHECK_STR(results("100%%-%s", 0, "k", v2, &rc), "2:100%-plain,100%-c@z.example");
    const char *v3[] = {"1", "2", "3", NULL};
    results("%s", 2, "k", v3, &rc);
    CHECK_INT(rc, -1);                                  /* over expansion_limit */
    CHECK_STR(results("%s", 3, "k", v3, &rc), "3:1,2,3");
    CHECK_INT(rc, 0);
}

static void test_cf_reader(void)
{
    struct sql_setting s[] = {SQL_COMMON_SETTINGS, {"hosts", NULL, 0}};
    size_t n = ARRAY_LEN(s);
    const char *p = write_cf("a.cf", "# comment\n\nhosts = one\nquery = SELECT a\n"
                                     "  FROM t WHERE b='%s'\nhosts = two three\n");
    CHECK_INT(sql_cf_read(p, "pgsql", s, n, SQL_CF_ERR_UNKNOWN, err, sizeof(err)), 0);
    CHECK_STR(sql_setting(s, n, "hosts")->value, "two three");   /* the last one counts */
    CHECK_INT(sql_setting(s, n, "hosts")->line, 6);
    CHECK_STR(s[0].value, "SELECT a  FROM t WHERE b='%s'");
    sql_settings_free(s, n);
    p = write_cf("b.cf", "hosts = x\n\npasword = secret\n");
    CHECK_INT(sql_cf_read(p, "mysql", s, n, SQL_CF_ERR_UNKNOWN, err, sizeof(err)), -1);
    CHECK(strstr(err, "b.cf:3: unknown mysql parameter \"pasword\"") != NULL);
    sql_settings_free(s, n);
    CHECK_INT(sql_cf_read(p, "sqlite", s, n, SQL_CF_WARN_UNKNOWN, err, sizeof(err)), 0);
    sql_settings_free(s, n);
    p = write_cf("c.cf", "hosts = x\nno equals here\n");
    CHECK_INT(sql_cf_read(p, "pgsql", s, n, SQL_CF_ERR_UNKNOWN, err, sizeof(err)), -1);
    CHECK(strstr(err, "c.cf:2: missing '='") != NULL);
    sql_settings_free(s, n);
    CHECK_INT(sql_cf_read("/nonexistent/x.cf", "pgsql", s, n, 1, err, sizeof(err)), -1);
}

static int common(const char *text, struct sql_common *c)
{
    struct sql_setting s[] = {SQL_COMMON_SETTINGS};
    const char *p = write_cf("common.cf", text);
    int rc = sql_cf_read(p, "pgsql", s, ARRAY_LEN(s), 1, err, sizeof(err));
    if (rc == 0)
        rc = sql_common_init(c, s, &pg, NULL, p, "", err, sizeof(err));
    sql_settings_free(s, ARRAY_LEN(s));
    return rc;
}

static void test_common_settings(void)
{
    struct sql_common c;
    CHECK_INT(common("table = domain\nselect_field = domain\nwhere_field = domain\n"
                     "additional_conditions = and active = '1'\n", &c), 0);
    CHECK_STR(c.query, "SELECT domain FROM domain WHERE domain = '%s' and active = '1'");
    CHECK_STR(c.result_format, "%s");
    sql_common_free(&c);
    CHECK_INT(common("query = SELECT 1\ntable = ignored\nexpansion_limit = 5\n"
                     "result_format = smtp:[%s]\n", &c), 0);
    CHECK_STR(c.query, "SELECT 1");
    CHECK_INT(c.expansion_limit, 5);
    sql_common_free(&c);
    CHECK_INT(common("table = t\n", &c), -1);
    CHECK(strstr(err, "missing \"query\" parameter") != NULL);
    sql_common_free(&c);
    CHECK_INT(common("query = SELECT 1\nexpansion_limit = -1\n", &c), -1);
    sql_common_free(&c);
    CHECK_INT(common("query = SELECT 1\nresult_format = %q\n", &c), -1);
    sql_common_free(&c);
    /* domain: only user@listed-domain keys are looked up. */
    CHECK_INT(common("query = SELECT 1\ndomain = example.com, example.org\n", &c), 0);
    struct sql_key k;
    sql_key_split("joe@example.org", &k);
    CHECK_INT(sql_domain_ok(&c, &k), 1);
    sql_key_split("joe@example.net", &k);
    CHECK_INT(sql_domain_ok(&c, &k), 0);
    sql_key_split("example.com", &k);
    CHECK_INT(sql_domain_ok(&c, &k), 0);
    sql_key_split("@example.com", &k);
    CHECK_INT(sql_domain_ok(&c, &k), 0);
    sql_common_free(&c);
}

static void test_hosts(void)
{
    struct sql_host *h;
    size_t n;
    CHECK_INT(sql_hosts_parse("unix:/run/db.sock inet:db1.example:3307, db2.example:5433 db3 "
                              "[::1]:5432 ::1 postgresql://u@h/db?sslmode=require",
                              1, &h, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 7);
    CHECK_INT(h[0].kind, SQL_HOST_UNIX);
    CHECK_STR(h[0].host, "/run/db.sock");
    CHECK_INT(h[1].kind, SQL_HOST_INET);
    CHECK_STR(h[1].host, "db1.example");
    CHECK_INT(h[1].port, 3307);
    CHECK_STR(h[2].host, "db2.example");
    CHECK_INT(h[2].port, 5433);
    CHECK_STR(h[3].host, "db3");
    CHECK_INT(h[3].port, 0);
    CHECK_STR(h[4].host, "::1");
    CHECK_INT(h[4].port, 5432);
    CHECK_STR(h[5].host, "::1");
    CHECK_INT(h[6].kind, SQL_HOST_URI);
    CHECK_STR(h[6].spec, "postgresql://u@h/db?sslmode=require");
    struct sql_server sv = {.hosts = h, .nhosts = n};
    sql_server_free(&sv);
    CHECK_INT(sql_hosts_parse("postgresql://h/db", 0, &h, &n, err, sizeof(err)), -1);
    CHECK_INT(sql_hosts_parse("db:99999", 0, &h, &n, err, sizeof(err)), -1);
    CHECK(strstr(err, "bad port") != NULL);
    CHECK_INT(sql_hosts_parse("unix:relative", 0, &h, &n, err, sizeof(err)), -1);
    CHECK_INT(sql_hosts_parse("", 0, &h, &n, err, sizeof(err)), -1);
    CHECK(strstr(err, "missing \"hosts\"") != NULL);
    CHECK_INT(sql_duration_ms("60"), 60000);
    CHECK_INT(sql_duration_ms("2s"), 2000);
    CHECK_INT(sql_duration_ms("3m"), 180000);
    CHECK_INT(sql_duration_ms("1h"), 3600000);
    CHECK_INT(sql_duration_ms("1x"), -1);
    CHECK_INT(sql_duration_ms("-1"), -1);
    CHECK_INT(sql_duration_ms(""), -1);
}

/* A fake driver: hosts named "up" connect, others fail. */
static int connects;
static int fake_connect(void *ctx, const struct sql_host *h, char *why, size_t whylen)
{
    (void)ctx;
    connects++;
    if (strcmp(h->host, "up") == 0)
        return 0;
    str_copy(why, "refused", whylen);
    return -1;
}

static void test_retry_policy(void)
{
    struct sql_server sv;
    char why[512];
    CHECK_INT(sql_server_init(&sv, "down1 up", "1h", "0", NULL, 0, "t.cf", err, sizeof(err)),
              0);
    CHECK_INT(sv.timeout_ms, 10000);
    connects = 0;
    CHECK_INT(sql_server_connect(&sv, "pgsql:t.cf", fake_connect, NULL, why, sizeof(why)), 1);
    CHECK_INT(connects, 2);
    CHECK(sv.hosts[0].dead_until > 0);
    /* The failed host is skipped within retry_interval. */
    connects = 0;
    CHECK_INT(sql_server_connect(&sv, "pgsql:t.cf", fake_connect, NULL, why, sizeof(why)), 1);
    CHECK_INT(connects, 1);
    CHECK_INT(sql_server_idle(&sv), 0);                 /* idle_interval 0: never */
    sv.hosts[1].host[0] = 'x';                          /* now both fail */
    connects = 0;
    CHECK_INT(sql_server_connect(&sv, "pgsql:t.cf", fake_connect, NULL, why, sizeof(why)), -1);
    CHECK_INT(connects, 1);
    CHECK(strstr(why, "refused") != NULL);
    connects = 0;
    CHECK_INT(sql_server_connect(&sv, "pgsql:t.cf", fake_connect, NULL, why, sizeof(why)), -1);
    CHECK_INT(connects, 0);                             /* all within retry_interval */
    CHECK(strstr(why, "retry_interval") != NULL);
    sql_server_free(&sv);
    CHECK_INT(sql_server_init(&sv, "h", "x", NULL, NULL, 0, "t.cf", err, sizeof(err)), -1);
    CHECK(strstr(err, "retry_interval") != NULL);
    sql_server_free(&sv);
    CHECK_INT(sql_server_init(&sv, "h", NULL, NULL, "0", 0, "t.cf", err, sizeof(err)), -1);
    sql_server_free(&sv);
}

static void expect_open_error(const char *type, const char *text, const char *frag)
{
    char spec[600];
    snprintf(spec, sizeof(spec), "%s:%s", type, write_cf("bad.cf", text));
    err[0] = '\0';
    struct table *t = table_open(spec, NULL, err, sizeof(err));
    CHECK(t == NULL);
    if (t)
        table_close(t);
    if (!strstr(err, frag)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, frag);
        CHECK(0);
    }
}

static void test_open_and_unreachable(void)
{
    const char *types[] = {"pgsql", "mysql"};
    for (size_t i = 0; i < 2; i++) {
        const char *ty = types[i];
        expect_open_error(ty, "hosts = h\nquery = SELECT 1\nbogus = 1\n", "bad.cf:3: unknown");
        expect_open_error(ty, "hosts = h\n", "missing \"query\"");
        expect_open_error(ty, "query = SELECT 1\n", "missing \"hosts\"");
        expect_open_error(ty, "hosts = h\nquery = SELECT '%z'\n", "unknown \"%z\"");
        expect_open_error(ty, "hosts = h:0\nquery = SELECT 1\n", "bad port");
        expect_open_error(ty, "hosts = h\nquery = SELECT 1\nidle_interval = soon\n",
                          "idle_interval");
        /* Opening does not connect; a lookup with nobody listening is a
         * temporary failure, never "not found". */
        char spec[600];
        snprintf(spec, sizeof(spec), "%s:%s", ty,
                 write_cf(i ? "my.cf" : "pg.cf",
                          "hosts = inet:127.0.0.1:1\nuser = u\npassword = p\ndbname = d\n"
                          "query = SELECT a FROM t WHERE k='%s'\nretry_interval = 0\n"));
        struct table *t = table_open(spec, NULL, err, sizeof(err));
        CHECK(t != NULL);
        if (!t)
            continue;
        CHECK(table_flags(t) & TABLE_F_REMOTE);
        struct buf res;
        buf_init(&res, 0);
        CHECK_INT(table_lookup(t, "joe@example.com", &res), TABLE_TEMPFAIL);
        CHECK_INT(table_lookup(t, "joe@example.com", &res), TABLE_TEMPFAIL);
        buf_free(&res);
        table_close(t);
    }
    expect_open_error("mysql", "hosts = h\nquery = SELECT 1\ntls_verify_cert = maybe\n",
                      "expected yes or no");
    expect_open_error("mysql", "hosts = postgresql://h/db\nquery = SELECT 1\n", "URIs");
    expect_open_error("pgsql", "hosts = h\nquery = SELECT \"%s\"\n", "identifier");
    expect_open_error("pgsql", "hosts = h\nquery = SELECT a FROM t WHERE b = E'%s'\n", "E'");
    expect_open_error("pgsql", "hosts = h\nquery = SELECT a FROM t WHERE b = e'x%u'\n", "E'");
    expect_open_error("pgsql", "hosts = h\nquery = SELECT $$%s$$\n", "dollar");
    expect_open_error("pgsql", "hosts = h\nquery = SELECT $q$%s$q$\n", "dollar");
    /* Not E-strings, not dollar quotes: accepted. */
    const char *fine[] = {"SELECT a FROM t WHERE b = '%s' AND c = E'\\n'",
                          "SELECT e FROM t WHERE type'%s' IS NOT NULL",
                          "SELECT col$1 FROM t WHERE b = '%s' AND c ~ '^x$'"};
    for (size_t i = 0; i < ARRAY_LEN(fine); i++) {
        char text[300], spec[600];
        snprintf(text, sizeof(text), "hosts = h\nquery = %s\n", fine[i]);
        snprintf(spec, sizeof(spec), "pgsql:%s", write_cf("fine.cf", text));
        struct table *t = table_open(spec, NULL, err, sizeof(err));
        CHECK(t != NULL);
        if (!t)
            fprintf(stderr, "  %s: %s\n", fine[i], err);
        table_close(t);
    }
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-sql.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_key_parts);
    T_RUN(test_quote_contexts);
    T_RUN(test_escape_double);
    T_RUN(test_results);
    T_RUN(test_cf_reader);
    T_RUN(test_common_settings);
    T_RUN(test_hosts);
    T_RUN(test_retry_policy);
    T_RUN(test_open_and_unreachable);
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", dir);
    return T_DONE();
}
