/* Unit tests for the LDAP and Dovecot-conf pieces that need no server:
 * RFC 4515 filter and RFC 4514 DN escaping (lib-table/ldap_escape.c),
 * the dovecot-sql/ldap .conf.ext reader, connect strings and variable
 * translation (lib-table/dovecot_conf.c), ldap: and dovecot-*: table_open
 * errors, a lookup against a server that is not there (a temporary
 * failure), the auth_bind value, and auth's parser of sql:/ldap: answers
 * (auth/passdb.c). The servers: tests/integration/test_ldap.py,
 * test_sql_auth.py. */
#include "t.h"
#include "auth/passdb.h"
#include "lib-table/dovecot_conf.h"
#include "lib-table/ldap_conn.h"
#include "lib-table/ldap_escape.h"
#include "lib-table/table.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char err[1024];

static const char *write_file(const char *name, const char *text)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    FILE *f = fopen(p[i], "w");
    if (!f)
        return p[i];
    fputs(text, f);
    fclose(f);
    return p[i];
}

static const char *filter(const char *s, size_t len)
{
    static struct buf b;
    buf_free(&b);
    buf_init(&b, 4096);
    CHECK_INT(ldap_escape_filter(s, len, &b), 0);
    return buf_cstr(&b);
}

static const char *dn(const char *s)
{
    static struct buf b;
    buf_free(&b);
    buf_init(&b, 4096);
    CHECK_INT(ldap_escape_dn(s, strlen(s), &b), 0);
    return buf_cstr(&b);
}

static void test_filter_escape(void)
{
    CHECK_STR(filter("alice@example.org", 17), "alice@example.org");
    CHECK_STR(filter("*)(uid=*", 8), "\\2a\\29\\28uid=\\2a");
    CHECK_STR(filter("\\00", 3), "\\5c00");
    CHECK_STR(filter("a\0b", 3), "a\\00b");
    CHECK_STR(filter("x' OR '1'='1", 12), "x' OR '1'='1");
    CHECK_STR(filter("\xc3\xa9", 2), "\\c3\\a9");
    struct buf small;
    buf_init(&small, 4);
    CHECK_INT(ldap_escape_filter("((((", 4, &small), -1);
    buf_free(&small);
}

static void test_dn_escape(void)
{
    CHECK_STR(dn("alice"), "alice");
    CHECK_STR(dn("a,b+c=d"), "a\\,b\\+c\\=d");
    CHECK_STR(dn(" #x "), "\\ #x\\ ");
    CHECK_STR(dn("#x"), "\\#x");
    CHECK_STR(dn("a\"<>;\\"), "a\\\"\\<\\>\\;\\\\");
}

static void test_dconf_parse(void)
{
    struct dconf_item it[] = {{"driver", NULL, 0}, {"connect", NULL, 0},
                              {"password_query", NULL, 0}};
    const char *text = "# comment\n\ndriver = pgsql\nconnect = \"host=db dbname=mail\"\n"
                       "password_query = SELECT password \\\n  FROM mailbox \\\n"
                       "  WHERE username = '%u'\n";
    CHECK_INT(dconf_parse(text, strlen(text), "f.conf", it, 3, err, sizeof(err)), 0);
    CHECK_STR(dconf_get(it, 3, "driver"), "pgsql");
    CHECK_STR(dconf_get(it, 3, "connect"), "host=db dbname=mail");
    CHECK_STR(dconf_get(it, 3, "password_query"),
              "SELECT password FROM mailbox WHERE username = '%u'");
    CHECK_INT(it[2].line, 5);
    dconf_free(it, 3);
    text = "driver = pgsql\nconect = x\n";
    CHECK_INT(dconf_parse(text, strlen(text), "f.conf", it, 3, err, sizeof(err)), -1);
    CHECK_STR(err, "f.conf:2: unknown setting \"conect\"");
    dconf_free(it, 3);
    text = "driver\n";
    CHECK_INT(dconf_parse(text, strlen(text), "f.conf", it, 3, err, sizeof(err)), -1);
    CHECK_STR(err, "f.conf:1: missing '=' after the setting name");
    CHECK_INT(dconf_parse("a\0b", 3, "f.conf", it, 3, err, sizeof(err)), -1);
    dconf_free(it, 3);
}

static void test_dconf_connect(void)
{
    char **kv;
    CHECK_INT(dconf_connect_split("host=a host=/run/pg port=5 password='x y' user=\"u\"", &kv,
                                  err, sizeof(err)), 0);
    CHECK_INT(strv_len(kv), 10);
    CHECK_STR(kv[3], "/run/pg");
    CHECK_STR(kv[7], "x y");
    CHECK_STR(kv[9], "u");
    strv_free(kv);
    CHECK_INT(dconf_connect_split("host", &kv, err, sizeof(err)), -1);
    CHECK_INT(dconf_connect_split("password='open", &kv, err, sizeof(err)), -1);
}

static void test_dconf_template(void)
{
    struct buf b;
    buf_init(&b, 4096);
    CHECK_INT(dconf_template("u=%u n=%n d=%d %Lu %{user} %{domain} 100%%", &b, err, sizeof(err)),
              0);
    CHECK_STR(buf_cstr(&b), "u=%s n=%u d=%d %s %s %d 100%%");
    CHECK_INT(dconf_template("%w", &b, err, sizeof(err)), -1);
    CHECK_INT(dconf_template("%{password}", &b, err, sizeof(err)), -1);
    CHECK_INT(dconf_template("%{user", &b, err, sizeof(err)), -1);
    CHECK_INT(dconf_template("%", &b, err, sizeof(err)), -1);
    buf_free(&b);
}

static void test_open_errors(void)
{
    char spec[600];
    const char *p = write_file("bad.cf", "server_host = ldap://127.0.0.1:1\nserch_base = x\n");
    snprintf(spec, sizeof(spec), "ldap:%s", p);
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, ":2: unknown ldap parameter \"serch_base\"") != NULL);
    p = write_file("bad.cf", "server_host = http://x\n");
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "unsupported server") != NULL);
    p = write_file("bad.cf", "bind = maybe\n");
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "bad bind \"maybe\"") != NULL);
    p = write_file("bad.cf", "query = (uid=%s)\n");
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    p = write_file("d.conf", "driver = oracle\nconnect = /x.db\npassword_query = SELECT 1\n");
    snprintf(spec, sizeof(spec), "dovecot-sql:%s", p);
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "driver: \"oracle\" is not supported") != NULL);
    p = write_file("d.conf", "driver = pgsql\nconnect = host=db\npassword_query = '%w'\n");
    CHECK(table_open(spec, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "unsupported variable") != NULL);
}

/* A server that is not there: temporary failure, never "not found". */
static void test_no_server(void)
{
    char spec[600];
    const char *p = write_file("down.cf", "server_host = ldap://127.0.0.1:1\ntimeout = 1\n"
                                          "search_base = dc=x\nquery_filter = (mail=%s)\n");
    snprintf(spec, sizeof(spec), "ldap:%s", p);
    struct table *t = table_open(spec, NULL, err, sizeof(err));
    CHECK(t != NULL);
    struct buf b;
    buf_init(&b, 4096);
    if (t) {
        CHECK_INT(table_lookup(t, "alice@example.org", &b), TABLE_TEMPFAIL);
        table_close(t);
    }
    p = write_file("dl.conf", "uris = ldap://127.0.0.1:1\nbase = dc=x\nauth_bind = yes\n"
                              "auth_bind_userdn = uid=%n,ou=people,dc=x\n");
    snprintf(spec, sizeof(spec), "dovecot-ldap:%s", p);
    t = table_open(spec, NULL, err, sizeof(err));
    CHECK(t != NULL);
    if (t) {
        /* auth_bind_userdn: no search, the DN from the template (escaped). */
        CHECK_INT(table_lookup(t, "pass:a,b@example.org", &b), TABLE_FOUND);
        CHECK(strstr(buf_cstr(&b), ";dn=uid=a\\,b,ou=people,dc=x") != NULL);
        char why[256];
        CHECK_INT(ldapc_bind_check_spec(buf_cstr(&b) + 9, "pw", 2, why, sizeof(why)), -1);
        CHECK_INT(ldapc_bind_check_spec(buf_cstr(&b) + 9, "", 0, why, sizeof(why)), 0);
        CHECK_INT(table_lookup(t, "user:a@example.org", &b), TABLE_TEMPFAIL);
        CHECK_INT(table_lookup(t, "bad", &b), TABLE_NOTFOUND);
        table_close(t);
    }
    buf_free(&b);
}

static void test_auth_fields(void)
{
    struct auth_user u;
    CHECK_INT(auth_db_parse_fields("a@x", "user=a@x\tpassword={PLAIN}p w\tuserdb_home=/h\t"
                                          "nologin=y\treason=Moved away", 1, &u, err,
                                   sizeof(err)), 0);
    CHECK_STR(u.password, "{PLAIN}p w");
    CHECK_STR(u.fields[0], "userdb_home=/h");
    CHECK_STR(u.fields[1], "nologin=y");
    CHECK_STR(u.fields[2], "reason=Moved away");
    CHECK(u.fields[3] == NULL);
    auth_user_free(&u);
    CHECK_INT(auth_db_parse_fields("a@x", "home=/h\tuid=5\tuserdb_gid=6\tquota_rule=*:bytes=1",
                                   0, &u, err, sizeof(err)), 0);
    CHECK_STR(u.home, "/h");
    CHECK_STR(u.uid, "5");
    CHECK_STR(u.gid, "6");
    CHECK_STR(u.fields[0], "quota_rule=*:bytes=1");
    CHECK(u.password == NULL);
    auth_user_free(&u);
    CHECK_INT(auth_db_parse_fields("a@x", "home=relative", 0, &u, err, sizeof(err)), -1);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-ldap.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_filter_escape);
    T_RUN(test_dn_escape);
    T_RUN(test_dconf_parse);
    T_RUN(test_dconf_connect);
    T_RUN(test_dconf_template);
    T_RUN(test_open_errors);
    T_RUN(test_no_server);
    T_RUN(test_auth_fields);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return T_DONE();
}
