/*
 * test_authproto.c - the Dovecot auth protocol line codec: tab-escaping
 * both ways, field splitting, "resp=" ending the parameters, line reading
 * with limits, hostile input.
 */
#include "lib-auth/authproto.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

static void test_escape(void)
{
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(authproto_escape(&b, "a\tb\nc\rd\001e\0f", 11), 0);
    CHECK_INT(b.len, 16);
    CHECK(memcmp(b.data, "a\001tb\001nc\001rd\0011e\0010f", 16) == 0);
    /* Round trip, NUL included. */
    char copy[32];
    memcpy(copy, b.data, b.len + 1);
    CHECK_INT(authproto_unescape(copy), 11);
    CHECK(memcmp(copy, "a\tb\nc\rd\001e\0f", 11) == 0);
    buf_free(&b);

    char s1[] = "plain";
    CHECK_INT(authproto_unescape(s1), 5);
    CHECK_STR(s1, "plain");
    char s2[] = "x\001";          /* a lone trailing escape is dropped */
    CHECK_INT(authproto_unescape(s2), 1);
    CHECK_STR(s2, "x");
    char s3[] = "\001z\001\001";  /* unknown escapes stand for the character */
    authproto_unescape(s3);
    CHECK_STR(s3, "z\001");
    /* Output limits hold. */
    buf_init(&b, 4);
    CHECK_INT(authproto_escape(&b, "\t\t\t", 3), -1);
    buf_free(&b);
}

static void test_split(void)
{
    char line[] = "AUTH\t1\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=10.0.0.1\tsecured"
                  "\tresp=AGFsaWNlAHNlY3JldA==\tsecured=late";
    char *f[AUTHPROTO_FIELDS_MAX];
    int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
    CHECK_INT(n, 10);
    CHECK_STR(f[0], "AUTH");
    CHECK_STR(authproto_param(f, n, 3, "service"), "smtp");
    CHECK_STR(authproto_param(f, n, 3, "nologin"), "");
    CHECK_STR(authproto_param(f, n, 3, "rip"), "10.0.0.1");
    CHECK_STR(authproto_param(f, n, 3, "resp"), "AGFsaWNlAHNlY3JldA==");
    CHECK_STR(authproto_param(f, n, 3, "secured"), "");
    CHECK(authproto_param(f, n, 3, "valid-client-cert") == NULL);
    CHECK(authproto_param(f, n, 3, "r") == NULL);      /* no prefix matches */
    CHECK(authproto_param(f, n, 3, "servic") == NULL);

    /* Everything after resp= is ignored: a parameter smuggled there is not seen. */
    char line2[] = "AUTH\t2\tPLAIN\tservice=smtp\tresp=\tno-penalty";
    n = authproto_split(line2, f, AUTHPROTO_FIELDS_MAX);
    CHECK(authproto_param(f, n, 3, "no-penalty") == NULL);
    CHECK_STR(authproto_param(f, n, 3, "resp"), "");

    /* Escaped values come back unescaped; an escaped NUL is refused. */
    char line3[] = "OK\t7\tuser=al\001tice\treason=x\001ny";
    n = authproto_split(line3, f, AUTHPROTO_FIELDS_MAX);
    CHECK_INT(n, 4);
    CHECK_STR(authproto_param(f, n, 2, "user"), "al\tice");
    CHECK_STR(authproto_param(f, n, 2, "reason"), "x\ny");
    char line4[] = "OK\t7\tuser=al\0010ice";
    CHECK_INT(authproto_split(line4, f, AUTHPROTO_FIELDS_MAX), -2);

    /* Too many fields. */
    char many[400];
    memset(many, '\t', 300);
    many[300] = '\0';
    CHECK_INT(authproto_split(many, f, AUTHPROTO_FIELDS_MAX), -1);
    char empty[] = "";
    CHECK_INT(authproto_split(empty, f, AUTHPROTO_FIELDS_MAX), 1);
    CHECK_STR(f[0], "");
}

static void test_getline(void)
{
    struct buf in;
    buf_init(&in, AUTHPROTO_LINE_MAX + 100);
    char *line;
    CHECK_INT(authproto_getline(&in, &line), -1);
    buf_puts(&in, "VERSION\t1\t2\nCPID\t12");
    long n = authproto_getline(&in, &line);
    CHECK_INT(n, 11);
    CHECK_STR(line, "VERSION\t1\t2");
    buf_consume(&in, (size_t)n + 1);
    CHECK_INT(authproto_getline(&in, &line), -1);   /* partial */
    buf_puts(&in, "3\n\n");
    n = authproto_getline(&in, &line);
    CHECK_STR(line, "CPID\t123");
    buf_consume(&in, (size_t)n + 1);
    CHECK_INT(authproto_getline(&in, &line), 0);    /* empty line */
    buf_consume(&in, 1);
    /* NUL inside a line */
    buf_append(&in, "AB\0C\n", 5);
    CHECK_INT(authproto_getline(&in, &line), -2);
    buf_reset(&in);
    /* No LF within the limit */
    char *big = malloc(AUTHPROTO_LINE_MAX + 10);
    memset(big, 'x', AUTHPROTO_LINE_MAX + 10);
    buf_append(&in, big, AUTHPROTO_LINE_MAX + 10);
    CHECK_INT(authproto_getline(&in, &line), -2);
    buf_reset(&in);
    /* A line of exactly the limit minus LF is accepted. */
    buf_append(&in, big, AUTHPROTO_LINE_MAX - 1);
    buf_putc(&in, '\n');
    CHECK_INT(authproto_getline(&in, &line), AUTHPROTO_LINE_MAX - 1);
    free(big);
    buf_free(&in);
}

int main(void)
{
    T_RUN(test_escape);
    T_RUN(test_split);
    T_RUN(test_getline);
    return T_DONE();
}
