/*
 * test_passdb.c - passwd-file lines (good, partial, hostile), loading,
 * duplicates, reloading on change, unreadable files as temporary
 * failures, table values as passdb and userdb, source order,
 * capabilities and the sample password.
 */
#include "auth/passdb.h"
#include "auth/scheme.h"
#include "t.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[] = "/tmp/test_passdb.XXXXXX";

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void test_parse_line(void)
{
    struct auth_user u;
    char err[128];
    CHECK_INT(auth_passwd_file_parse_line("alice@example.com:{PLAIN}pw:1000:1001:Alice A:/home/alice:"
                                     "/bin/sh:userdb_mail=maildir:~/Maildir quota=1G nopassword",
                                     &u, err, sizeof(err)),
              1);
    CHECK_STR(u.user, "alice@example.com");
    CHECK_STR(u.password, "{PLAIN}pw");
    CHECK_STR(u.uid, "1000");
    CHECK_STR(u.gid, "1001");
    CHECK_STR(u.home, "/home/alice");
    CHECK_INT(strv_len(u.fields), 3);
    CHECK_STR(u.fields[0], "userdb_mail=maildir:~/Maildir");   /* ':' kept in the last field */
    CHECK_STR(u.fields[2], "nopassword");
    auth_user_free(&u);

    /* Trailing fields may be missing; empty ones are absent. */
    CHECK_INT(auth_passwd_file_parse_line("bob:{SHA512-CRYPT}$6$x$y", &u, err, sizeof(err)), 1);
    CHECK_STR(u.user, "bob");
    CHECK(u.uid == NULL && u.gid == NULL && u.home == NULL);
    CHECK(u.fields && u.fields[0] == NULL);
    auth_user_free(&u);
    CHECK_INT(auth_passwd_file_parse_line("carol::::::\r", &u, err, sizeof(err)), 1);
    CHECK(u.password == NULL);
    auth_user_free(&u);
    CHECK_INT(auth_passwd_file_parse_line("dave", &u, err, sizeof(err)), 1);
    auth_user_free(&u);
    CHECK_INT(auth_passwd_file_parse_line("eve:pw:vmail:mail", &u, err, sizeof(err)), 1);
    CHECK_STR(u.uid, "vmail");
    auth_user_free(&u);

    /* Comments and blank lines. */
    CHECK_INT(auth_passwd_file_parse_line("# alice:x", &u, err, sizeof(err)), 0);
    CHECK_INT(auth_passwd_file_parse_line("   ", &u, err, sizeof(err)), 0);
    CHECK_INT(auth_passwd_file_parse_line("", &u, err, sizeof(err)), 0);
    CHECK_INT(auth_passwd_file_parse_line("  # indented comment", &u, err, sizeof(err)), 0);

    /* Hostile lines. */
    static const char *const bad[] = {
        ":nouser:1:1",                       /* empty user */
        "a b:pw",                            /* blank in the user */
        "a\x01:pw",                          /* control character */
        "alice:pw:1000;rm:1000",             /* bad uid */
        "alice:pw:1000:1000::relative/home", /* relative home */
        "alice:pw\x7f:1",                    /* DEL */
        "alice:pw:1:1::/h::=novalue",        /* field without a name */
        "alice:p\tw:1:1",                    /* TAB in the password */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CHECK_INT(auth_passwd_file_parse_line(bad[i], &u, err, sizeof(err)), -1);
        CHECK(err[0] != '\0');
    }
    char longname[400];
    memset(longname, 'a', 300);
    strcpy(longname + 300, ":pw");
    CHECK_INT(auth_passwd_file_parse_line(longname, &u, err, sizeof(err)), -1);
    char *huge = xmalloc(20000);
    memset(huge, 'x', 19999);
    huge[19999] = '\0';
    huge[1] = ':';
    CHECK_INT(auth_passwd_file_parse_line(huge, &u, err, sizeof(err)), -1);
    free(huge);
    /* Too many extra fields. */
    struct buf many;
    buf_init(&many, 0);
    buf_puts(&many, "x:pw:1:1::/h::");
    for (int i = 0; i < 200; i++)
        buf_printf(&many, "f%d=1 ", i);
    CHECK_INT(auth_passwd_file_parse_line(many.data, &u, err, sizeof(err)), -1);
    buf_free(&many);
}

static void test_table_value(void)
{
    struct auth_user u;
    char err[128];
    CHECK_INT(auth_db_parse_table_value("a@b", "{PLAIN}pw uid=5 home=/h allow_nets=10/8", 1, &u,
                                       err, sizeof(err)),
              0);
    CHECK_STR(u.password, "{PLAIN}pw");
    CHECK(u.uid == NULL);             /* passdb use: uid= is just an extra field */
    CHECK_INT(strv_len(u.fields), 3);
    auth_user_free(&u);
    /* userdb use: the password word is skipped, userdb_ prefixes go. */
    CHECK_INT(auth_db_parse_table_value("a@b", "{PLAIN}pw userdb_uid=5 gid=6 home=/h mail=x", 0,
                                       &u, err, sizeof(err)),
              0);
    CHECK(u.password == NULL);
    CHECK_STR(u.uid, "5");
    CHECK_STR(u.gid, "6");
    CHECK_STR(u.home, "/h");
    CHECK_INT(strv_len(u.fields), 1);
    CHECK_STR(u.fields[0], "mail=x");
    auth_user_free(&u);
    CHECK_INT(auth_db_parse_table_value("a@b", "uid=5 gid=6", 0, &u, err, sizeof(err)), 0);
    CHECK_STR(u.uid, "5");
    auth_user_free(&u);
    /* A bare crypt hash is a password. */
    CHECK_INT(auth_db_parse_table_value("a@b", "$6$salt$hash", 1, &u, err, sizeof(err)), 0);
    CHECK_STR(u.password, "$6$salt$hash");
    auth_user_free(&u);
    /* Base64 padding in a password is not a field. */
    CHECK_INT(auth_db_parse_table_value("a@b", "{SSHA512}abc= uid=1", 0, &u, err, sizeof(err)), 0);
    CHECK_STR(u.uid, "1");
    auth_user_free(&u);
    CHECK_INT(auth_db_parse_table_value("a@b", "pw\x01 x", 1, &u, err, sizeof(err)), -1);
    CHECK_INT(auth_db_parse_table_value("a@b", "uid=1;x", 0, &u, err, sizeof(err)), -1);
    CHECK_INT(auth_db_parse_table_value("a@b", "home=rel", 0, &u, err, sizeof(err)), -1);
}

static void test_file_source(void)
{
    char spec[300], err[256];
    write_file("users",
               "# users\n"
               "alice@example.com:{PLAIN}alicepw:1000:1000::/home/alice::userdb_quota=1G note=x\n"
               "bob:{SHA512-CRYPT}$6$saltsalt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789./abcdefghijklmnopqrstuv\n"
               "bad user:pw\n"
               "\n"
               "alice@example.com:{PLAIN}second:1:1\n"
               "carol::\n"
               "dan:{CRAM-MD5}99f8fbc95358982b24895db1bb9b90e9b5b25b0daeaee1ad9575e0b7d77a3f2f\n"
               "no newline at end:x");
    snprintf(spec, sizeof(spec), "passwd-file:%s/users", dir);
    struct authdb *db = auth_db_open(spec, NULL, "CRYPT", err, sizeof(err));
    CHECK(db != NULL);
    if (!db)
        return;
    struct auth_user u;
    CHECK_INT(auth_db_lookup_pass(db, "alice@example.com", &u), AUTHDB_FOUND);
    CHECK_STR(u.password, "{PLAIN}alicepw");   /* the first of the duplicates */
    CHECK_INT(strv_len(u.fields), 1);          /* passdb: userdb_ fields left out */
    CHECK_STR(u.fields[0], "note=x");
    auth_user_free(&u);
    CHECK_INT(auth_db_lookup_user(db, "alice@example.com", &u), AUTHDB_FOUND);
    CHECK(u.password == NULL);
    CHECK_STR(u.home, "/home/alice");
    CHECK_INT(strv_len(u.fields), 1);
    CHECK_STR(u.fields[0], "quota=1G");
    auth_user_free(&u);
    CHECK_INT(auth_db_lookup_pass(db, "ALICE@example.com", &u), AUTHDB_NOTFOUND);
    CHECK_INT(auth_db_lookup_pass(db, "bad user", &u), AUTHDB_NOTFOUND);
    CHECK_INT(auth_db_lookup_pass(db, "carol", &u), AUTHDB_FOUND);
    CHECK(u.password == NULL);
    auth_user_free(&u);
    CHECK_INT(auth_db_lookup_pass(db, "nobody", &u), AUTHDB_NOTFOUND);
    /* PLAIN and CRAM-MD5 entries: every challenge-response mechanism is possible. */
    CHECK_INT(auth_db_capabilities(db), SCHEME_CAN_PLAIN | SCHEME_CAN_CRAM | SCHEME_CAN_SCRAM);
    /* The sample is the expensive crypt value, not the plaintext. */
    CHECK(auth_db_sample_password(db) && strncmp(auth_db_sample_password(db), "{SHA512-CRYPT}", 14) == 0);

    /* Change the file: new content after the recheck interval. */
    write_file("users", "zed:{SHA512-CRYPT}$6$x$y\n");
    struct stat st;
    char path[300];
    snprintf(path, sizeof(path), "%s/users", dir);
    stat(path, &st);
    struct timespec ts[2] = {{time(NULL) + 5, 0}, {time(NULL) + 5, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
    usleep(1100 * 1000);
    CHECK_INT(auth_db_lookup_pass(db, "alice@example.com", &u), AUTHDB_NOTFOUND);
    CHECK_INT(auth_db_lookup_pass(db, "zed", &u), AUTHDB_FOUND);
    auth_user_free(&u);
    CHECK_INT(auth_db_capabilities(db), 0);

    /* The file disappears: temporary failure, never "unknown user". */
    unlink(path);
    usleep(1100 * 1000);
    CHECK_INT(auth_db_lookup_pass(db, "zed", &u), AUTHDB_TEMPFAIL);
    CHECK_INT(auth_db_lookup_pass(db, "nobody", &u), AUTHDB_TEMPFAIL);
    /* And comes back. */
    write_file("users", "zed:{PLAIN}z\n");
    usleep(1100 * 1000);
    CHECK_INT(auth_db_lookup_pass(db, "zed", &u), AUTHDB_FOUND);
    auth_user_free(&u);
    auth_db_close(db);

    /* A source list: the first that knows the user answers; a broken one only matters
     * when no other source knows the user. */
    write_file("a", "u1:{PLAIN}one\n");
    write_file("b", "u1:{PLAIN}two\nu2:{PLAIN}three\n");
    char list[1024];
    snprintf(list, sizeof(list), "passwd-file:%s/a, passwd-file:%s/missing passwd-file:%s/b", dir,
             dir, dir);
    db = auth_db_open(list, NULL, NULL, err, sizeof(err));
    CHECK(db != NULL);
    CHECK_INT(auth_db_count(db), 3);
    CHECK_INT(auth_db_lookup_pass(db, "u1", &u), AUTHDB_FOUND);
    CHECK_STR(u.password, "{PLAIN}one");
    auth_user_free(&u);
    CHECK_INT(auth_db_lookup_pass(db, "u2", &u), AUTHDB_FOUND);
    CHECK_STR(u.password, "{PLAIN}three");
    auth_user_free(&u);
    CHECK_INT(auth_db_lookup_pass(db, "u3", &u), AUTHDB_TEMPFAIL);
    auth_db_close(db);

    /* Tables: inline: as a passdb; the value's first word is the password. */
    db = auth_db_open("inline:{ {x@y.z={PLAIN}pw uid=7 home=/x}, {q@y.z=broken\x01} }", NULL,
                     "PLAIN", err, sizeof(err));
    CHECK(db != NULL);
    if (db) {
        CHECK_INT(auth_db_lookup_pass(db, "x@y.z", &u), AUTHDB_FOUND);
        CHECK_STR(u.password, "{PLAIN}pw");
        auth_user_free(&u);
        CHECK_INT(auth_db_lookup_user(db, "x@y.z", &u), AUTHDB_FOUND);
        CHECK_STR(u.uid, "7");
        CHECK_STR(u.home, "/x");
        auth_user_free(&u);
        CHECK_INT(auth_db_lookup_pass(db, "nobody@y.z", &u), AUTHDB_NOTFOUND);
        /* default scheme PLAIN: plaintext mechanisms are possible */
        CHECK(auth_db_capabilities(db) & SCHEME_CAN_CRAM);
        auth_db_close(db);
    }

    /* Errors when opening. */
    CHECK(auth_db_open("passwd-file:relative/path", NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "absolute") != NULL);
    CHECK(auth_db_open("nosuchtype:/x", NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(auth_db_open("noprefix", NULL, NULL, err, sizeof(err)) == NULL);
    CHECK(auth_db_open("", NULL, "NOSUCHSCHEME", err, sizeof(err)) == NULL);
    db = auth_db_open("", NULL, NULL, err, sizeof(err));
    CHECK(db && auth_db_count(db) == 0);
    CHECK_INT(auth_db_lookup_pass(db, "x", &u), AUTHDB_NOTFOUND);
    CHECK(auth_db_sample_password(db) == NULL);
    auth_db_close(db);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    T_RUN(test_parse_line);
    T_RUN(test_table_value);
    T_RUN(test_file_source);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup failed\n");
    return T_DONE();
}
