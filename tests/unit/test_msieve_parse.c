/*
 * test_msieve_parse.c - the ManageSieve command parser
 * (src/managesieved/msieve_parse.c): commands with atoms, quoted strings
 * and literals, input arriving in pieces, errors and the literal limit,
 * script names, strings written by the server.
 */
#include "t.h"
#include "lib/buf.h"
#include "managesieved/msieve_parse.h"

#include <string.h>

static enum msieve_parse_result parse(const char *in, struct msieve_cmd *c, size_t *used)
{
    const char *err;
    return managesieved_parse(in, strlen(in), 100, c, used, &err);
}

static void test_commands(void)
{
    struct msieve_cmd c;
    size_t used;
    CHECK_INT(parse("listscripts\r\nNOOP\r\n", &c, &used), MSIEVE_DONE);
    CHECK_STR(c.name, "LISTSCRIPTS");
    CHECK_INT(c.nargs, 0);
    CHECK_INT(used, 13);
    managesieved_cmd_free(&c);
    CHECK_INT(parse("PUTSCRIPT \"a \\\"b\\\\\" {5+}\r\nkeep;\r\n", &c, &used), MSIEVE_DONE);
    CHECK_INT(c.nargs, 2);
    CHECK_STR(c.args[0].s, "a \"b\\");
    CHECK_INT(c.args[1].len, 5);
    CHECK_STR(c.args[1].s, "keep;");
    managesieved_cmd_free(&c);
    CHECK_INT(parse("HAVESPACE \"x\" 1234\r\n", &c, &used), MSIEVE_DONE);
    CHECK_INT(c.args[1].type, MSIEVE_ATOM);
    CHECK_STR(c.args[1].s, "1234");
    managesieved_cmd_free(&c);
    CHECK_INT(parse("CHECKSCRIPT {3}\r\nab\n\r\n", &c, &used), MSIEVE_DONE);
    CHECK_STR(c.args[0].s, "ab\n");
    managesieved_cmd_free(&c);
}

static void test_pieces(void)
{
    const char *in = "PUTSCRIPT \"n\" {12+}\r\nrequire \"x\";\r\n";
    size_t n = strlen(in);
    for (size_t k = 0; k < n; k++) {
        struct msieve_cmd c;
        size_t used;
        const char *err;
        CHECK_INT(managesieved_parse(in, k, 100, &c, &used, &err), MSIEVE_NEED);
    }
}

static void test_errors(void)
{
    struct msieve_cmd c;
    size_t used;
    const char *err;
    CHECK_INT(parse("BAD \"unterminated\r\nNOOP\r\n", &c, &used), MSIEVE_ERROR);
    CHECK_INT(used, strlen("BAD \"unterminated\r\n"));
    CHECK_INT(parse("X \"a\" \"b\" \"c\" \"d\" \"e\"\r\n", &c, &used), MSIEVE_ERROR);
    CHECK_INT(parse("X \"bad \\n escape\"\r\n", &c, &used), MSIEVE_ERROR);
    CHECK_INT(parse("X {x}\r\n", &c, &used), MSIEVE_ERROR);
    CHECK_INT(parse("1X\r\n", &c, &used), MSIEVE_ERROR);
    CHECK_INT(parse("PUTSCRIPT \"a\" {500+}\r\nxxx", &c, &used), MSIEVE_ERROR);
    CHECK_INT(c.too_large, 500);
    CHECK_INT(used, strlen("PUTSCRIPT \"a\" {500+}\r\n"));
    CHECK_INT(parse("PUTSCRIPT \"a\" {99999999999+}\r\n", &c, &used), MSIEVE_FATAL);
    char big[MSIEVE_LINE_MAX + 100];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CHECK_INT(managesieved_parse(big, strlen(big), 100, &c, &used, &err), MSIEVE_FATAL);
    memcpy(big, "NOOP ", 5);
    CHECK_INT(managesieved_parse(big, strlen(big), 100, &c, &used, &err), MSIEVE_FATAL);
}

static void test_names(void)
{
    CHECK_INT(managesieved_name_ok("main", 4), 1);
    CHECK_INT(managesieved_name_ok("B\xc3\xbcro rules", 11), 1);
    CHECK_INT(managesieved_name_ok("../x", 4), 0);
    CHECK_INT(managesieved_name_ok("a/b", 3), 0);
    CHECK_INT(managesieved_name_ok(".hidden", 7), 0);
    CHECK_INT(managesieved_name_ok("", 0), 0);
    CHECK_INT(managesieved_name_ok("a\x01", 2), 0);
    CHECK_INT(managesieved_name_ok("a\xc2\x85", 3), 0);          /* C1 NEL */
    CHECK_INT(managesieved_name_ok("a\xe2\x80\xa8", 4), 0);      /* U+2028 */
    CHECK_INT(managesieved_name_ok("\xff", 1), 0);
    CHECK_INT(managesieved_name_ok("a\0b", 3), 0);
}

static void test_strings(void)
{
    struct buf b;
    buf_init(&b, 0);
    managesieved_put_string(&b, "a\"b", 3);
    CHECK_STR(buf_cstr(&b), "\"a\\\"b\"");
    b.len = 0;
    managesieved_put_string(&b, "l1\r\nl2", 6);
    CHECK_STR(buf_cstr(&b), "{6}\r\nl1\r\nl2");
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_commands);
    T_RUN(test_pieces);
    T_RUN(test_errors);
    T_RUN(test_names);
    T_RUN(test_strings);
    return T_DONE();
}
