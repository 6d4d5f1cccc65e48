/* Unit tests for lookup tables (table.h): every type, source syntax
 * errors with line numbers, case folding, building and reopening LMDB
 * files, sqlite quoting, and the maps address search orders. */
#include "t.h"
#include "lib-table/table.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char err[1024];
static struct buf res;

static const char *path(const char *name)
{
    static char p[8][512];
    static int i;
    i = (i + 1) % 8;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (!f) {
        perror(name);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static char *spec(const char *type, const char *name)
{
    static char s[8][600];
    static int i;
    i = (i + 1) % 8;
    snprintf(s[i], sizeof(s[i]), "%s:%s", type, path(name));
    return s[i];
}

/* Look up key; returns the result code, value in res. */
static int q(struct table *t, const char *key)
{
    return table_lookup(t, key, &res);
}

#define CHECK_FOUND(t, key, want) do { CHECK_INT(q(t, key), TABLE_FOUND); \
    CHECK_STR(buf_cstr(&res), want); } while (0)
#define CHECK_NOTFOUND(t, key) CHECK_INT(q(t, key), TABLE_NOTFOUND)

/* table_open must fail with an error mentioning every fragment. */
static void expect_open_error(const char *s, const char *frag1, const char *frag2)
{
    err[0] = '\0';
    struct table *t = table_open(s, NULL, err, sizeof(err));
    CHECK(t == NULL);
    if (t)
        table_close(t);
    if (frag1 && !strstr(err, frag1)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, frag1);
        CHECK(0);
    }
    if (frag2 && !strstr(err, frag2)) {
        fprintf(stderr, "  error \"%s\" lacks \"%s\"\n", err, frag2);
        CHECK(0);
    }
}

static struct table *open_ok(const char *s)
{
    err[0] = '\0';
    struct table *t = table_open(s, NULL, err, sizeof(err));
    if (!t)
        fprintf(stderr, "  open %s: %s\n", s, err);
    CHECK(t != NULL);
    return t;
}

static int count_entry(const char *k, const char *v, void *arg)
{
    (void)k;
    (void)v;
    (*(int *)arg)++;
    return 0;
}

/* ------------------------------------------------------------ simple */

static void test_static_inline(void)
{
    struct table *t = open_ok("static:OK");
    CHECK_FOUND(t, "anything", "OK");
    table_close(t);
    t = open_ok("static:{ text with spaces }");
    CHECK_FOUND(t, "x", "text with spaces");
    table_close(t);
    expect_open_error("static:{ unbalanced", "static", NULL);

    t = open_ok("inline:{ Key1=value1, { key2 = value with spaces }, k3=a=b }");
    CHECK_FOUND(t, "key1", "value1");
    CHECK_FOUND(t, "KEY1", "value1");       /* keys fold */
    CHECK_FOUND(t, "key2", "value with spaces");
    CHECK_FOUND(t, "k3", "a=b");
    CHECK_NOTFOUND(t, "value1");
    table_close(t);
    expect_open_error("inline:{ novalue }", "need \"key=value\"", NULL);
    expect_open_error("inline:key=value", "inline:{", NULL);
    expect_open_error("unknowntype:x", "unsupported lookup table type", NULL);
    expect_open_error("nocolon", "expected type:name", NULL);
    expect_open_error("hash:", "missing table name", NULL);
}

static void test_fail_unix_proxy_shared(void)
{
    struct table *t = open_ok("fail:whatever");
    CHECK_INT(q(t, "x"), TABLE_TEMPFAIL);
    table_close(t);
    t = open_ok("proxy:unix:passwd.byname");
    CHECK_STR(table_spec(t), "unix:passwd.byname");
    CHECK_INT(q(t, "root"), TABLE_FOUND);
    CHECK(strncmp(buf_cstr(&res), "root:", 5) == 0);
    CHECK(strstr(buf_cstr(&res), ":0:0:") != NULL);
    CHECK_INT(q(t, "ROOT"), TABLE_FOUND);     /* folded like every fixed table */
    CHECK_NOTFOUND(t, "no-such-user-yubin-test");
    struct table *t2 = open_ok("unix:passwd.byname");
    CHECK(t2 == t);                           /* one shared handle */
    table_close(t2);
    CHECK_INT(q(t, "root"), TABLE_FOUND);     /* still open: reference counted */
    table_close(t);
    expect_open_error("unix:shadow.byname", "passwd.byname", NULL);
}

static void test_texthash(void)
{
    write_file("th",
               "# comment\n"
               "Foo bar\n"
               "foo second-ignored\n"
               "\n"
               "multi one\n"
               "\ttwo\n"
               "   # indented comment is a comment\n"
               "  three\n"
               "\"quoted key\" q\n"
               "crlf value\r\n"
               "spaced    value with   spaces   \n");
    struct table *t = open_ok(spec("texthash", "th"));
    CHECK_FOUND(t, "foo", "bar");           /* first entry wins */
    CHECK_FOUND(t, "FOO", "bar");
    CHECK_FOUND(t, "multi", "one\ttwo  three");
    CHECK_FOUND(t, "\"quoted key\"", "q");  /* quotes are part of the key (postmap) */
    CHECK_NOTFOUND(t, "quoted key");
    CHECK_FOUND(t, "crlf", "value");
    CHECK_FOUND(t, "spaced", "value with   spaces");
    int n = 0;
    CHECK_INT(table_iterate(t, count_entry, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 5);
    table_close(t);

    write_file("th-bad1", "a b\n  leading\nok x\n");  /* continuation is fine */
    t = open_ok(spec("texthash", "th-bad1"));
    CHECK_FOUND(t, "a", "b  leading");
    table_close(t);
    write_file("th-bad2", "\n\n  leading x\n");
    expect_open_error(spec("texthash", "th-bad2"), "th-bad2:3:", "must not start with whitespace");
    write_file("th-bad3", "a b\nnovalue\n");
    expect_open_error(spec("texthash", "th-bad3"), "th-bad3:2:", "key whitespace value");
    write_file("th-bad4", "# x\n\"unbalanced v\n");
    expect_open_error(spec("texthash", "th-bad4"), "th-bad4:2:", "unbalanced");
    expect_open_error(spec("texthash", "does-not-exist"), "does-not-exist", "No such file");

    /* Line limits: a key longer than TABLE_KEY_MAX is refused with its line. */
    char *big = xmalloc(TABLE_KEY_MAX + 100);
    memset(big, 'k', TABLE_KEY_MAX + 10);
    strcpy(big + TABLE_KEY_MAX + 10, " v\n");
    FILE *f = fopen(path("th-long"), "w");
    fputs("ok v\n", f);
    fputs(big, f);
    fclose(f);
    expect_open_error(spec("texthash", "th-long"), "th-long:2:", "key too long");
    /* A physical line over the line limit. */
    f = fopen(path("th-huge"), "w");
    for (int i = 0; i < TABLE_VALUE_MAX / 1000 + 20; i++) {
        memset(big, 'v', 1000);
        big[1000] = '\0';
        fputs(i == 0 ? "k " : "", f);
        fputs(big, f);
    }
    fputs("\n", f);
    fclose(f);
    expect_open_error(spec("texthash", "th-huge"), "th-huge:1:", "line too long");
    free(big);
    /* NUL bytes are refused. */
    f = fopen(path("th-nul"), "w");
    fwrite("a b\nc d\0e\n", 1, 10, f);
    fclose(f);
    expect_open_error(spec("texthash", "th-nul"), "th-nul:2:", "NUL");
}

/* ---------------------------------------------------------- lmdb/hash */

static void test_lmdb_build_lookup(void)
{
    write_file("virtual", "# virtual\nUser@Example.COM  local1\nexample.com anything\n"
                          "dup first\ndup second\n@example.net catch\n");
    CHECK_INT(table_build(spec("hash", "virtual"), 1, 0, err, sizeof(err)), 0);
    struct stat st;
    CHECK_INT(stat(path("virtual.lmdb"), &st), 0);
    CHECK(access(path("virtual.lmdb.tmp"), F_OK) < 0);
    CHECK(access(path("virtual.lmdb-lock"), F_OK) < 0);
    struct table *t = open_ok(spec("hash", "virtual"));
    CHECK_FOUND(t, "user@example.com", "local1");
    CHECK_FOUND(t, "USER@EXAMPLE.COM", "local1");
    CHECK_FOUND(t, "dup", "first");
    CHECK_FOUND(t, "@example.net", "catch");
    CHECK_NOTFOUND(t, "nobody@example.com");
    int n = 0;
    CHECK_INT(table_iterate(t, count_entry, &n, err, sizeof(err)), 0);
    CHECK_INT(n, 4);
    table_close(t);
    /* lmdb: and hash: read the same file. */
    t = open_ok(spec("lmdb", "virtual"));
    CHECK_FOUND(t, "example.com", "anything");
    table_close(t);

    /* Without folding (postmap -f) keys keep their case. */
    write_file("nofold", "MixedCase v\n");
    CHECK_INT(table_build_ex(spec("lmdb", "nofold"), 0, NULL, NULL, NULL, err, sizeof(err)), 0);
    t = open_ok(spec("lmdb", "nofold"));
    CHECK_NOTFOUND(t, "MixedCase");   /* lookups fold, the key did not: not found, as postmap */
    table_close(t);

    /* Missing database: tell the admin what to run. */
    write_file("nodb", "a b\n");
    expect_open_error(spec("hash", "nodb"), "nodb.lmdb: No such file or directory",
                      "run yubin map hash:");
    /* Syntax errors name file:line and leave no database behind. */
    write_file("bad", "a b\n\nc\n");
    CHECK_INT(table_build(spec("hash", "bad"), 1, 0, err, sizeof(err)), -1);
    CHECK(strstr(err, "bad:3:") != NULL);
    CHECK(access(path("bad.lmdb"), F_OK) < 0);
    CHECK(access(path("bad.lmdb.tmp"), F_OK) < 0);
    CHECK_INT(table_build(spec("regexp", "bad"), 1, 0, err, sizeof(err)), -1);
    CHECK(strstr(err, "only hash: and lmdb:") != NULL);
    CHECK_INT(table_build(spec("hash", "missing-source"), 1, 0, err, sizeof(err)), -1);
    CHECK(strstr(err, "No such file") != NULL);
}

static void test_lmdb_rebuild_while_open(void)
{
    write_file("rebuild", "key old\n");
    CHECK_INT(table_build(spec("hash", "rebuild"), 1, 0, err, sizeof(err)), 0);
    struct table *t = open_ok(spec("hash", "rebuild"));
    CHECK_FOUND(t, "key", "old");
    table_set_check_interval(0);
    write_file("rebuild", "key new\nadded yes\n");
    CHECK_INT(table_build(spec("hash", "rebuild"), 1, 0, err, sizeof(err)), 0);
    CHECK_FOUND(t, "key", "new");
    CHECK_FOUND(t, "added", "yes");

    /* A corrupt replacement: temporary failure, never "not found". */
    write_file("garbage", "this is not an lmdb file at all, just some text........\n");
    CHECK_INT(rename(path("garbage"), path("rebuild.lmdb")), 0);
    CHECK_INT(q(t, "key"), TABLE_TEMPFAIL);
    CHECK_INT(q(t, "nokey"), TABLE_TEMPFAIL);
    /* ... until it is rebuilt. */
    CHECK_INT(table_build(spec("hash", "rebuild"), 1, 0, err, sizeof(err)), 0);
    CHECK_FOUND(t, "key", "new");
    /* Removed database: temporary failure. */
    CHECK_INT(unlink(path("rebuild.lmdb")), 0);
    CHECK_INT(q(t, "key"), TABLE_TEMPFAIL);
    CHECK_INT(table_build(spec("hash", "rebuild"), 1, 0, err, sizeof(err)), 0);
    CHECK_FOUND(t, "key", "new");
    table_close(t);

    /* With the default interval a rebuild is seen within a second. */
    table_set_check_interval(1000);
    t = open_ok(spec("hash", "rebuild"));
    write_file("rebuild", "key newest\n");
    CHECK_INT(table_build(spec("hash", "rebuild"), 1, 0, err, sizeof(err)), 0);
    usleep(1100 * 1000);
    CHECK_FOUND(t, "key", "newest");
    table_close(t);
    table_set_check_interval(0);

    /* Opening a corrupt file is an error; a truncated one too. */
    write_file("corrupt.lmdb", "garbage garbage garbage garbage garbage garbage garbage\n");
    expect_open_error(spec("hash", "corrupt"), "corrupt.lmdb", NULL);
    write_file("trunc", "a b\n");
    CHECK_INT(table_build(spec("hash", "trunc"), 1, 0, err, sizeof(err)), 0);
    CHECK_INT(truncate(path("trunc.lmdb"), 8192), 0);
    expect_open_error(spec("hash", "trunc"), "trunc.lmdb", NULL);
}

/* Postfix builds keys and values with a trailing NUL; postmap -n without.
 * Both must be readable. */
static void test_lmdb_foreign_file(void)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    CHECK_INT(mdb_env_create(&env), 0);
    CHECK_INT(mdb_env_open(env, path("foreign.lmdb"), MDB_NOSUBDIR | MDB_NOLOCK, 0644), 0);
    CHECK_INT(mdb_txn_begin(env, NULL, 0, &txn), 0);
    CHECK_INT(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k1 = {5, "nonul"}, v1 = {5, "value"};
    MDB_val k2 = {5, "null"}, v2 = {5, "with"};
    CHECK_INT(mdb_put(txn, dbi, &k1, &v1, 0), 0);
    CHECK_INT(mdb_put(txn, dbi, &k2, &v2, 0), 0);
    CHECK_INT(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    struct table *t = open_ok(spec("lmdb", "foreign"));
    CHECK_FOUND(t, "nonul", "value");
    CHECK_FOUND(t, "null", "with");
    table_close(t);
}

static void test_aliases_build(void)
{
    write_file("aliases", "# aliases\n"
                          "Root: admin,   other ,third\n"
                          "\t fourth\n"
                          "\"Quoted Name\" : x\n"
                          "prog: \"|/usr/bin/cmd  arg\", /var/mail/file\n"
                          "inc: :include:/etc/list\n");
    CHECK_INT(table_build(spec("hash", "aliases"), 1, 1, err, sizeof(err)), 0);
    struct table *t = open_ok(spec("hash", "aliases"));
    CHECK_FOUND(t, "root", "admin, other, third fourth");
    CHECK_FOUND(t, "quoted name", "x");
    CHECK_FOUND(t, "prog", "\"|/usr/bin/cmd  arg\", /var/mail/file");
    CHECK_FOUND(t, "inc", ":include:/etc/list");
    CHECK_FOUND(t, "@", "@");   /* sendmail-compatible completeness marker */
    table_close(t);
    write_file("aliases-bad", "ok: x\nnocolon here\n");
    CHECK_INT(table_build(spec("hash", "aliases-bad"), 1, 1, err, sizeof(err)), -1);
    CHECK(strstr(err, "aliases-bad:2:") && strstr(err, "need name:value pair"));
    write_file("aliases-bad2", "ok: x\n\nempty:\n");
    CHECK_INT(table_build(spec("hash", "aliases-bad2"), 1, 1, err, sizeof(err)), -1);
    CHECK(strstr(err, "aliases-bad2:3:") && strstr(err, "missing alias value"));
    write_file("aliases-bad3", ": x\n");
    CHECK_INT(table_build(spec("hash", "aliases-bad3"), 1, 1, err, sizeof(err)), -1);
    CHECK(strstr(err, "aliases-bad3:1:") && strstr(err, "missing alias name"));
}

static void test_build_files_update(void)
{
    write_file("cert1.pem", "-----BEGIN X-----\nAAAA\n-----END X-----\n");
    write_file("key1.pem", "KEYDATA");
    char src[1200];
    snprintf(src, sizeof(src), "mail.example.com %s, %s\n", path("key1.pem"), path("cert1.pem"));
    write_file("sni", src);
    CHECK_INT(table_build_ex(spec("hash", "sni"), TABLE_BUILD_FOLD | TABLE_BUILD_FILES, NULL,
                             NULL, NULL, err, sizeof(err)), 0);
    struct table *t = open_ok(spec("hash", "sni"));
    CHECK_INT(q(t, "mail.example.com"), TABLE_FOUND);
    struct buf dec;
    buf_init(&dec, 0);
    CHECK_INT(table_b64_decode(buf_cstr(&res), &dec), 0);
    CHECK_STR(buf_cstr(&dec), "KEYDATA\n-----BEGIN X-----\nAAAA\n-----END X-----\n");
    buf_free(&dec);
    table_close(t);
    snprintf(src, sizeof(src), "x %s\n", path("no-such.pem"));
    write_file("sni-bad", src);
    CHECK_INT(table_build_ex(spec("hash", "sni-bad"), TABLE_BUILD_FILES, NULL, NULL, NULL, err,
                             sizeof(err)), -1);
    CHECK(strstr(err, "sni-bad:1:") && strstr(err, "no-such.pem"));

    /* postmap -i: add from a stream; existing entries stay; duplicates
     * keep the old value unless TABLE_BUILD_REPLACE. */
    write_file("upd", "a 1\nb 2\n");
    CHECK_INT(table_build(spec("hash", "upd"), 1, 0, err, sizeof(err)), 0);
    FILE *in = fmemopen((void *)"C 3\na 9\n", 8, "r");
    int changed = -1;
    CHECK_INT(table_build_ex(spec("hash", "upd"), TABLE_BUILD_FOLD | TABLE_BUILD_UPDATE, in,
                             NULL, &changed, err, sizeof(err)), 0);
    fclose(in);
    CHECK_INT(changed, 1);
    t = open_ok(spec("hash", "upd"));
    CHECK_FOUND(t, "a", "1");
    CHECK_FOUND(t, "b", "2");
    CHECK_FOUND(t, "c", "3");
    in = fmemopen((void *)"a 9\n", 4, "r");
    CHECK_INT(table_build_ex(spec("hash", "upd"),
                             TABLE_BUILD_FOLD | TABLE_BUILD_UPDATE | TABLE_BUILD_REPLACE, in,
                             NULL, &changed, err, sizeof(err)), 0);
    fclose(in);
    CHECK_FOUND(t, "a", "9");
    /* postmap -d */
    char *del[] = {"B", "nothere", NULL};
    CHECK_INT(table_build_ex(spec("hash", "upd"), TABLE_BUILD_FOLD | TABLE_BUILD_UPDATE, NULL,
                             del, &changed, err, sizeof(err)), 0);
    CHECK_INT(changed, 1);
    CHECK_NOTFOUND(t, "b");
    CHECK_FOUND(t, "c", "3");
    table_close(t);
    /* -i on a database that does not exist yet creates it. */
    in = fmemopen((void *)"x y\n", 4, "r");
    CHECK_INT(table_build_ex(spec("lmdb", "fresh"), TABLE_BUILD_FOLD | TABLE_BUILD_UPDATE, in,
                             NULL, &changed, err, sizeof(err)), 0);
    fclose(in);
    t = open_ok(spec("lmdb", "fresh"));
    CHECK_FOUND(t, "x", "y");
    table_close(t);
}

static void test_b64(void)
{
    struct buf b;
    buf_init(&b, 0);
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                              {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        buf_reset(&b);
        CHECK_INT(table_b64_encode(cases[i][0], strlen(cases[i][0]), &b), 0);
        CHECK_STR(buf_cstr(&b), cases[i][1]);
        buf_reset(&b);
        CHECK_INT(table_b64_decode(cases[i][1], &b), 0);
        CHECK_STR(buf_cstr(&b), cases[i][0]);
    }
    buf_reset(&b);
    CHECK_INT(table_b64_decode("Zm9v!", &b), -1);
    buf_reset(&b);
    CHECK_INT(table_b64_decode("Zg==Zg", &b), -1);
    buf_free(&b);
}

/* ------------------------------------------------------- regexp/pcre */

static void test_regexp(void)
{
    write_file("re", "# test\n"
                     "/^(.*)@(example\\.com)$/  user=$1 dom=${2} paren=$(1) dollar=$$ \n"
                     "/^CASE$/i  case-sensitive\n"
                     "if /^x/\n"
                     "/y$/ xy\n"
                     "if !/^xa/\n"
                     "/z/ x-z-not-xa\n"
                     "endif\n"
                     "!/q/ x-without-q\n"
                     "endif\n"
                     "#/^multi/ commented\n"
                     "/^multi/\n"
                     "  continued result\n"
                     "/^(a)|(b)$/ opt[$1][$2]\n"
                     "|^pipe/delim|  pipe\n"
                     "/^basic\\(x\\)+$/x bre=$1\n");
    struct table *t = open_ok(spec("regexp", "re"));
    CHECK_INT(table_flags(t) & TABLE_F_PATTERN, TABLE_F_PATTERN);
    CHECK_FOUND(t, "foo@example.com", "user=foo dom=example.com paren=foo dollar=$");
    CHECK_FOUND(t, "FOO@EXAMPLE.COM", "user=FOO dom=EXAMPLE.COM paren=FOO dollar=$");  /* no folding */
    CHECK_NOTFOUND(t, "case");
    CHECK_FOUND(t, "CASE", "case-sensitive");
    CHECK_FOUND(t, "xy", "xy");
    CHECK_FOUND(t, "xbz", "x-z-not-xa");
    CHECK_FOUND(t, "xaz", "x-without-q");
    CHECK_NOTFOUND(t, "xaq");
    CHECK_NOTFOUND(t, "yz");                /* outside the if: nothing */
    CHECK_FOUND(t, "multi", "continued result");
    CHECK_FOUND(t, "a", "opt[a][]");        /* unmatched group: empty */
    CHECK_FOUND(t, "b", "opt[][b]");
    CHECK_FOUND(t, "pipe/delim", "pipe");
    CHECK_FOUND(t, "basicx+", "bre=x");    /* x flag: POSIX basic syntax, + is literal */
    CHECK_NOTFOUND(t, "basicxxx");
    table_close(t);

    struct { const char *text, *frag; } bad[] = {
        {"/a/ ok\n/b(/ broken\n", "re-bad:2:"},
        {"/a/q result\n", "unknown regexp flag \"q\""},
        {"/a/s result\n", "unknown regexp flag \"s\""},
        {"if /a/\n/b/ c\n", "IF has no matching ENDIF"},
        {"/a/ b\nendif\n", "re-bad:2: ENDIF without matching IF"},
        {"/(a)/ $2\n", "out of range replacement index \"2\""},
        {"/(a)/ $0\n", "out of range replacement index \"0\""},
        {"/(a)/ $name\n", "non-numeric replacement index"},
        {"!/(a)/ $1\n", "negative match"},
        {"/a/\n", "no result text"},
        {"/a result\n", "missing closing delimiter"},
        {"abc result\n", "expected a pattern"},
        {"if /a/ extra\nendif\n", "extra text after IF"},
        {"if /a/\nendif extra\n", "extra text after ENDIF"},
        {"/a/ ${1\n", "bad $ substitution"},
        {"  /a/ b\n", "must not start with whitespace"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        write_file("re-bad", bad[i].text);
        expect_open_error(spec("regexp", "re-bad"), bad[i].frag, "re-bad:");
    }
    /* Inline form (Postfix 3.7). */
    t = open_ok("regexp:{ {/^a(.)$/ got-$1}, { /^b/ bee } }");
    CHECK_FOUND(t, "ax", "got-x");
    CHECK_FOUND(t, "bcd", "bee");
    table_close(t);
    expect_open_error("regexp:{ {/a/ b}, /c/ d }", "expected \"{ rule }\"", NULL);
    expect_open_error("regexp:{ {/a/ b}, {/a(/ b} }", "rule 2: error in regular expression", NULL);
}

static void test_pcre(void)
{
    write_file("pc", "/^a.b$/ dotall\n"
                     "/^a.c$/s not-dotall\n"
                     "/^ x y $/x extended\n"
                     "/^(\\d+)-(?:x)$/ digits=$1\n"
                     "/^Case$/i sensitive\n"
                     "/a+?b/U ungreedy-flag\n"
                     "/anch/A anchored\n"
                     "/^tail$/E endonly\n"
                     "/^(a+)+$/ catastrophic\n");
    struct table *t = open_ok(spec("pcre", "pc"));
    CHECK_FOUND(t, "a\nb", "dotall");
    CHECK_NOTFOUND(t, "a\nc");
    CHECK_FOUND(t, "xy", "extended");
    CHECK_FOUND(t, "123-x", "digits=123");
    CHECK_FOUND(t, "Case", "sensitive");
    CHECK_NOTFOUND(t, "case");
    CHECK_FOUND(t, "anchor", "anchored");
    CHECK_NOTFOUND(t, "xanch");
    CHECK_FOUND(t, "tail", "endonly");
    CHECK_NOTFOUND(t, "tail\n");
    /* A hostile key cannot make a pattern run away: it is a temporary
     * failure, not a hang and not "not found". */
    char evil[64];
    memset(evil, 'a', 40);
    strcpy(evil + 40, "!");
    CHECK_INT(q(t, evil), TABLE_TEMPFAIL);
    table_close(t);
    write_file("pc-bad", "/a/Z b\n");
    expect_open_error(spec("pcre", "pc-bad"), "unknown pcre flag \"Z\"", "pc-bad:1:");
    t = open_ok("pcre:{{/^(.+)@example\\.org$/ $1}}");
    CHECK_FOUND(t, "joe@example.org", "joe");
    table_close(t);
}

/* -------------------------------------------------------------- cidr */

static void test_cidr(void)
{
    write_file("cidr", "192.168.1.1   exact\n"
                       "192.168.0.0/16 net16\n"
                       "if 172.16.0.0/12\n"
                       "172.16.1.0/24 inner\n"
                       "endif\n"
                       "2001:db8::/32 v6net\n"
                       "[2001:db9::1] v6exact\n"
                       "[2001:dba::]/48 v6br\n"
                       "if !10.0.0.0/8\n"
                       "0.0.0.0/0 not-ten\n"
                       "endif\n"
                       "!11.0.0.0/8 also-not-eleven\n");
    struct table *t = open_ok(spec("cidr", "cidr"));
    CHECK_FOUND(t, "192.168.1.1", "exact");
    CHECK_FOUND(t, "192.168.2.2", "net16");
    CHECK_FOUND(t, "172.16.1.5", "inner");
    CHECK_FOUND(t, "172.17.1.1", "not-ten");
    CHECK_FOUND(t, "2001:db8::5", "v6net");
    CHECK_FOUND(t, "2001:DB8:0:0::5", "v6net");
    CHECK_FOUND(t, "2001:db9::1", "v6exact");
    CHECK_FOUND(t, "2001:dba:0:0::1", "v6br");
    CHECK_FOUND(t, "10.0.0.1", "also-not-eleven");
    CHECK_FOUND(t, "::1", "also-not-eleven");
    CHECK_NOTFOUND(t, "[192.168.1.1]");
    CHECK_NOTFOUND(t, "foo.example.com");
    CHECK_NOTFOUND(t, "");
    table_close(t);
    write_file("cidr2", "11.0.0.0/8 eleven\n");
    t = open_ok(spec("cidr", "cidr2"));
    CHECK_NOTFOUND(t, "::ffff:11.1.1.1");   /* Postfix keeps this IPv6 */
    CHECK_FOUND(t, "11.1.1.1", "eleven");
    table_close(t);

    struct { const char *text, *frag; } bad[] = {
        {"1.2.3.4 ok\n10.1.2.3/8 x\n",
         "cidr-bad:2: non-null host address bits in \"10.1.2.3/8\", perhaps you should use "
         "\"10.0.0.0/8\" instead"},
        {"1.2.3.0/33 x\n", "bad prefix length"},
        {"1.2.3/24 x\n", "bad address pattern"},
        {"1.2.3.4\n", "no result text"},
        {"if 1.2.3.4\n", "IF has no matching ENDIF"},
        {"endif\n", "ENDIF without matching IF"},
        {"if 1.0.0.0/8 junk\nendif\n", "extra text after IF"},
        {"[::1 x\n", "missing ']'"},
        {"2001:db8::1/64 x\n", "non-null host address bits"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        write_file("cidr-bad", bad[i].text);
        expect_open_error(spec("cidr", "cidr-bad"), bad[i].frag, "cidr-bad:");
    }
    t = open_ok("cidr:{ {10.0.0.0/8 ten}, {::/0 six} }");
    CHECK_FOUND(t, "10.9.9.9", "ten");
    CHECK_FOUND(t, "fe80::1", "six");
    table_close(t);
}

/* ------------------------------------------------------------ union */

static void test_unionmap(void)
{
    struct table *t = open_ok("unionmap:{ inline:{a=1, b=2}, inline:{a=3}, static:s }");
    CHECK_FOUND(t, "a", "1,3,s");
    CHECK_FOUND(t, "B", "2,s");
    table_close(t);
    t = open_ok("unionmap:{inline:{a=1}, fail:x}");
    CHECK_INT(q(t, "a"), TABLE_TEMPFAIL);
    table_close(t);
    t = open_ok("unionmap:{inline:{a=1}, inline:{b=2}}");
    CHECK_NOTFOUND(t, "c");
    table_close(t);
    expect_open_error("unionmap:{ inline:{a=1}, bogus:x }", "bogus", NULL);
    expect_open_error("unionmap:inline:{a=1}", "unionmap:{", NULL);
}

/* ------------------------------------------------------------ sqlite */

static void sql_exec(sqlite3 *db, const char *sql)
{
    char *e = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &e) != SQLITE_OK) {
        fprintf(stderr, "sql: %s: %s\n", sql, e);
        CHECK(0);
    }
    sqlite3_free(e);
}

static void test_sqlite(void)
{
    sqlite3 *db;
    CHECK_INT(sqlite3_open(path("mail.db"), &db), SQLITE_OK);
    sql_exec(db, "CREATE TABLE alias (address TEXT, goto TEXT);"
                 "INSERT INTO alias VALUES ('joe@example.com', 'joe@other.example');"
                 "INSERT INTO alias VALUES ('list@example.com', 'a@x.example');"
                 "INSERT INTO alias VALUES ('list@example.com', 'b@x.example');"
                 "INSERT INTO alias VALUES ('o''brien@example.com', 'quote-ok');"
                 "INSERT INTO alias VALUES ('many@example.com', '1');"
                 "INSERT INTO alias VALUES ('many@example.com', '2');"
                 "INSERT INTO alias VALUES ('many@example.com', '3');"
                 "CREATE TABLE domains (name TEXT);"
                 "INSERT INTO domains VALUES ('example.com');");
    sqlite3_close(db);
    char cf[2000];
    snprintf(cf, sizeof(cf),
             "# sqlite_table(5)\n"
             "dbpath = %s\n"
             "query = SELECT goto FROM alias\n"
             "    WHERE address='%%s'\n"
             "expansion_limit = 2\n",
             path("mail.db"));
    write_file("alias.cf", cf);
    struct table *t = open_ok(spec("sqlite", "alias.cf"));
    CHECK_FOUND(t, "joe@example.com", "joe@other.example");
    CHECK_FOUND(t, "JOE@Example.COM", "joe@other.example");   /* folded */
    CHECK_FOUND(t, "list@example.com", "a@x.example,b@x.example");
    CHECK_FOUND(t, "o'brien@example.com", "quote-ok");
    /* Injection attempts match nothing and break nothing. */
    CHECK_NOTFOUND(t, "x' OR '1'='1");
    CHECK_NOTFOUND(t, "x'; DROP TABLE alias; --");
    CHECK_FOUND(t, "joe@example.com", "joe@other.example");
    CHECK_INT(q(t, "many@example.com"), TABLE_TEMPFAIL);    /* expansion_limit */
    table_close(t);

    /* Expansions outside quotes are quoted; %u %d %1 %2; result_format;
     * the domain restriction. */
    snprintf(cf, sizeof(cf),
             "dbpath = %s\n"
             "query = SELECT goto FROM alias WHERE address = %%u || '@' || \"%%d\" "
             "AND '%%2' = 'example' AND %%1 = 'com'\n"
             "result_format = <%%s|%%u|%%d|%%U|%%S>\n"
             "domain = example.com, sqlite-unused.example\n",
             path("mail.db"));
    write_file("fmt.cf", cf);
    t = open_ok(spec("sqlite", "fmt.cf"));
    CHECK_FOUND(t, "joe@example.com", "<joe@other.example|joe|other.example|joe|joe@example.com>");
    CHECK_NOTFOUND(t, "joe@example.net");      /* not in domain list: no query */
    CHECK_NOTFOUND(t, "joe");                  /* unqualified: no query */
    CHECK_NOTFOUND(t, "@example.com");         /* empty localpart */
    /* The row is found, but %d of an unqualified value skips it. */
    CHECK_NOTFOUND(t, "o'brien@example.com");
    table_close(t);

    /* A query error (missing table) is a temporary failure. */
    snprintf(cf, sizeof(cf), "dbpath = %s\nquery = SELECT x FROM nosuchtable WHERE y='%%s'\n",
             path("mail.db"));
    write_file("broken.cf", cf);
    t = open_ok(spec("sqlite", "broken.cf"));
    CHECK_INT(q(t, "a"), TABLE_TEMPFAIL);
    table_close(t);

    /* Legacy parameters. */
    snprintf(cf, sizeof(cf),
             "dbpath = %s\ntable = domains\nselect_field = name\nwhere_field = name\n",
             path("mail.db"));
    write_file("legacy.cf", cf);
    t = open_ok(spec("sqlite", "legacy.cf"));
    CHECK_FOUND(t, "example.com", "example.com");
    CHECK_NOTFOUND(t, "example.net");
    table_close(t);

    snprintf(cf, sizeof(cf), "dbpath = %s\nquery = SELECT '%%x'\n", path("mail.db"));
    write_file("bad1.cf", cf);
    expect_open_error(spec("sqlite", "bad1.cf"), "unknown \"%x\"", NULL);
    snprintf(cf, sizeof(cf), "dbpath = %s\nquery = SELECT [%%s] FROM t\n", path("mail.db"));
    write_file("bad2.cf", cf);
    expect_open_error(spec("sqlite", "bad2.cf"), "identifier", NULL);
    write_file("bad3.cf", "query = SELECT 1\n");
    expect_open_error(spec("sqlite", "bad3.cf"), "missing \"dbpath\"", NULL);
    snprintf(cf, sizeof(cf), "dbpath = %s\nquery = SELECT 1\nno equals sign\n", path("mail.db"));
    write_file("bad4.cf", cf);
    expect_open_error(spec("sqlite", "bad4.cf"), "bad4.cf:3:", "missing '='");
    write_file("bad5.cf", "dbpath = /nonexistent/yubin.db\nquery = SELECT 1\n");
    expect_open_error(spec("sqlite", "bad5.cf"), "/nonexistent/yubin.db", NULL);
    expect_open_error("sqlite:relative", "relative_dbpath", NULL);

    /* A database replaced by garbage: temporary failure. */
    table_set_check_interval(0);
    snprintf(cf, sizeof(cf), "dbpath = %s\nquery = SELECT name FROM domains WHERE name='%%s'\n",
             path("copy.db"));
    write_file("copy.cf", cf);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "cp %s %s", path("mail.db"), path("copy.db"));
    CHECK_INT(system(cmd), 0);
    t = open_ok(spec("sqlite", "copy.cf"));
    CHECK_FOUND(t, "example.com", "example.com");
    write_file("copy.new", "garbage, definitely not a database file, garbage garbage garbage");
    CHECK_INT(rename(path("copy.new"), path("copy.db")), 0);
    CHECK_INT(q(t, "example.com"), TABLE_TEMPFAIL);
    table_close(t);
}

/* -------------------------------------------------------------- maps */

static void test_maps(void)
{
    struct maps *m = maps_open("inline:{a=first}, inline:{a=second, b=two} static:{any}", NULL, err,
                               sizeof(err));
    CHECK(m != NULL);
    CHECK_INT(maps_count(m), 3);
    CHECK_INT(maps_lookup(m, "a", &res), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "first");
    CHECK_INT(maps_lookup(m, "b", &res), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "two");
    CHECK_INT(maps_lookup(m, "zzz", &res), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "any");
    maps_close(m);
    /* An error in an earlier table stops the search. */
    m = maps_open("inline:{x=1} fail:down inline:{a=1}", NULL, err, sizeof(err));
    CHECK_INT(maps_lookup(m, "x", &res), TABLE_FOUND);
    CHECK_INT(maps_lookup(m, "a", &res), TABLE_TEMPFAIL);
    maps_close(m);
    m = maps_open("", NULL, err, sizeof(err));
    CHECK(m && maps_empty(m));
    CHECK_INT(maps_lookup(m, "a", &res), TABLE_NOTFOUND);
    maps_close(m);
    CHECK(maps_open("inline:{a=1}, nosuch:x", NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "nosuch") != NULL);
}

static int addr(struct maps *m, const char *a, const char *delim, int flags, int *ext)
{
    return maps_lookup_addr(m, a, delim, flags, &res, ext);
}

static void test_addr_virtual_order(void)
{
    int ext;
    /* Each key form in its own table entry, to see which one wins. */
    struct maps *m = maps_open(
        "inline:{ user+foo@example.com=full, user@example.com=bare, user+foo=local-ext, "
        "user=local, @example.com=catchall, other=other-local }",
        NULL, err, sizeof(err));
    CHECK_INT(addr(m, "user+foo@example.com", "+", MAPS_ADDR_LOCALPART | MAPS_ADDR_DOMAIN, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "full");
    CHECK_INT(ext, 0);
    CHECK_INT(addr(m, "user+bar@example.com", "+", MAPS_ADDR_DOMAIN, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "bare");
    CHECK_INT(ext, 1);
    CHECK_INT(addr(m, "User+Bar@Example.COM", "+", MAPS_ADDR_DOMAIN, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "bare");
    /* No delimiter configured: user+bar is a plain localpart. */
    CHECK_INT(addr(m, "user+bar@example.com", "", MAPS_ADDR_DOMAIN, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "catchall");
    CHECK_INT(ext, 0);
    /* Localpart lookups only when the caller says the domain is local. */
    CHECK_INT(addr(m, "other@example.org", "+", MAPS_ADDR_DOMAIN, &ext), TABLE_NOTFOUND);
    CHECK_INT(addr(m, "other@example.org", "+", MAPS_ADDR_LOCALPART, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "other-local");
    CHECK_INT(addr(m, "user+foo@example.org", "+", MAPS_ADDR_LOCALPART, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "local-ext");
    CHECK_INT(ext, 0);
    CHECK_INT(addr(m, "user+zzz@example.org", "+", MAPS_ADDR_LOCALPART, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "local");
    CHECK_INT(ext, 1);
    /* @domain: the extension is not used. */
    CHECK_INT(addr(m, "nobody+x@example.com", "+", MAPS_ADDR_DOMAIN, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "catchall");
    CHECK_INT(ext, 0);
    CHECK_INT(addr(m, "nobody@example.com", "+", 0, &ext), TABLE_NOTFOUND);
    /* Bare localparts (alias lookups): user+ext, then user. */
    CHECK_INT(addr(m, "user+foo", "+", 0, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "local-ext");
    CHECK_INT(addr(m, "user+x", "+", 0, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "local");
    CHECK_INT(ext, 1);
    /* Several delimiter characters: the first one found splits. */
    CHECK_INT(addr(m, "user-x+y@example.com", "-+", MAPS_ADDR_DOMAIN, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "bare");
    CHECK_INT(ext, 1);
    /* NULL ext_used is allowed. */
    CHECK_INT(maps_lookup_addr(m, "user@example.com", NULL, 0, &res, NULL), TABLE_FOUND);
    maps_close(m);

    /* Pattern tables see only the full address, once. */
    m = maps_open("regexp:{ {/^user$/ localpart-seen}, {/^@/ at-domain-seen}, "
                  "{/^user@example\\.com$/ bare-seen}, {/^user\\+foo@/ full} }",
                  NULL, err, sizeof(err));
    CHECK(m != NULL);
    CHECK_INT(addr(m, "user+foo@example.com", "+", MAPS_ADDR_LOCALPART | MAPS_ADDR_DOMAIN, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "full");
    CHECK_INT(addr(m, "user+bar@example.com", "+", MAPS_ADDR_LOCALPART | MAPS_ADDR_DOMAIN, &ext),
              TABLE_NOTFOUND);
    CHECK_INT(addr(m, "user@example.com", "+", MAPS_ADDR_LOCALPART | MAPS_ADDR_DOMAIN, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "bare-seen");
    maps_close(m);

    /* Errors stop the search and are reported as such. */
    m = maps_open("fail:x", NULL, err, sizeof(err));
    CHECK_INT(addr(m, "a+b@c", "+", MAPS_ADDR_LOCALPART | MAPS_ADDR_DOMAIN, &ext), TABLE_TEMPFAIL);
    maps_close(m);

    /* Localparts that need quoting are tried quoted first, then as is. */
    m = maps_open("inline:{ {\"a b\"@example.com = quoted}, {c d@example.com = unquoted} }", NULL,
                  err, sizeof(err));
    CHECK_INT(addr(m, "a b@example.com", "+", 0, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "quoted");
    CHECK_INT(addr(m, "c d@example.com", "+", 0, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "unquoted");
    maps_close(m);
}

static void test_addr_access_order(void)
{
    int ext;
    struct maps *m = maps_open(
        "inline:{ user+foo@sub.example.com=full, user@sub.example.com=bare, "
        "sub.example.com=domain, example.com=parent, .example.com=dotparent, "
        "user+foo@=localext-at, user@=local-at, com=tld }",
        NULL, err, sizeof(err));
    CHECK_INT(addr(m, "user+foo@sub.example.com", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "full");
    CHECK_INT(addr(m, "user+bar@sub.example.com", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "bare");
    CHECK_INT(ext, 1);
    CHECK_INT(addr(m, "x@sub.example.com", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "domain");
    /* Parent domains: ".example.com" without, "example.com" with the parent style. */
    CHECK_INT(addr(m, "x@a.b.example.com", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "dotparent");
    CHECK_INT(addr(m, "x@a.b.example.com", "+", MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "parent");
    CHECK_INT(addr(m, "x@example.org", "+", MAPS_ADDR_ACCESS, &ext), TABLE_NOTFOUND);
    CHECK_INT(addr(m, "x@example.com", "+", MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "parent");
    CHECK_INT(addr(m, "x@zzz.com", "+", MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "tld");
    CHECK_INT(addr(m, "user+foo@elsewhere.org", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "localext-at");
    CHECK_INT(addr(m, "user+zz@elsewhere.org", "+", MAPS_ADDR_ACCESS, &ext), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "local-at");
    CHECK_INT(ext, 1);
    /* The domain beats user@ (documented order). */
    CHECK_INT(addr(m, "user@sub2.example.com", "+", MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT, &ext),
              TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "parent");
    /* Address literals are not split into parent "domains". */
    CHECK_INT(addr(m, "nobody@[10.0.0.com]", "+", MAPS_ADDR_ACCESS | MAPS_ADDR_PARENT, &ext),
              TABLE_NOTFOUND);
    maps_close(m);
}

static void test_ext_offset(void)
{
    CHECK_INT(table_ext_offset("user+foo", 8, "+"), 4);
    CHECK_INT(table_ext_offset("user+foo", 8, ""), 0);
    CHECK_INT(table_ext_offset("user+foo", 8, NULL), 0);
    CHECK_INT(table_ext_offset("+foo", 4, "+"), 0);
    CHECK_INT(table_ext_offset("user+", 5, "+"), 4);
    CHECK_INT(table_ext_offset("user", 4, "+"), 0);
    CHECK_INT(table_ext_offset("a-b+c", 5, "+-"), 1);
    CHECK_INT(table_ext_offset("owner-list", 10, "-"), 0);
    CHECK_INT(table_ext_offset("list-request", 12, "-"), 0);
    CHECK_INT(table_ext_offset("owner-list", 10, "+"), 0);
    CHECK_INT(table_ext_offset("list-x", 6, "-"), 4);
    CHECK_INT(table_ext_offset("-request", 8, "-"), 0);
    CHECK_INT(table_ext_offset("Postmaster", 10, "a-z"), 0);
    CHECK_INT(table_ext_offset("MAILER-DAEMON", 13, "-"), 0);
    CHECK_INT(table_ext_offset("double-bounce", 13, "-"), 0);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-table.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    buf_init(&res, TABLE_VALUE_MAX + 1);
    table_set_check_interval(0);
    T_RUN(test_static_inline);
    T_RUN(test_fail_unix_proxy_shared);
    T_RUN(test_texthash);
    T_RUN(test_lmdb_build_lookup);
    T_RUN(test_lmdb_rebuild_while_open);
    T_RUN(test_lmdb_foreign_file);
    T_RUN(test_aliases_build);
    T_RUN(test_build_files_update);
    T_RUN(test_b64);
    T_RUN(test_regexp);
    T_RUN(test_pcre);
    T_RUN(test_cidr);
    T_RUN(test_unionmap);
    T_RUN(test_sqlite);
    T_RUN(test_maps);
    T_RUN(test_addr_virtual_order);
    T_RUN(test_addr_access_order);
    T_RUN(test_ext_offset);
    buf_free(&res);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return T_DONE();
}
