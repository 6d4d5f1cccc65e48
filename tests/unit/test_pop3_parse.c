/*
 * test_pop3_parse.c - the POP3 command parser (src/pop3d/pop3_parse.c):
 * command lines, message numbers, and UIDL values in Dovecot's
 * pop3_uidl_format (the default's output checked against what Debian's
 * Dovecot 2.3 gives for the same UID and UIDVALIDITY).
 */
#include "t.h"
#include "lib/util.h"
#include "pop3d/pop3_parse.h"

#include <string.h>

static int parse(const char *text, struct pop3_cmd *c, char *buf, size_t buflen)
{
    const char *err;
    str_copy(buf, text, buflen);
    return pop3d_parse_line(buf, strlen(buf), c, &err);
}

static void test_lines(void)
{
    struct pop3_cmd c;
    char b[POP3_LINE_MAX + 2];
    CHECK_INT(parse("stat", &c, b, sizeof(b)), 0);
    CHECK_STR(c.name, "STAT");
    CHECK_INT(c.nargs, 0);
    CHECK_INT(parse("TOP 1 10", &c, b, sizeof(b)), 0);
    CHECK_STR(c.name, "TOP");
    CHECK_INT(c.nargs, 2);
    CHECK_STR(c.args[0], "1");
    CHECK_STR(c.args[1], "10");
    CHECK_INT(parse("PASS secret with  spaces ", &c, b, sizeof(b)), 0);
    CHECK_STR(c.rest, "secret with  spaces ");
    CHECK_INT(parse("AUTH PLAIN AGFsaWNlAHB3", &c, b, sizeof(b)), 0);
    CHECK_STR(c.args[1], "AGFsaWNlAHB3");
    CHECK_INT(parse("", &c, b, sizeof(b)), -1);
    CHECK_INT(parse(" STAT", &c, b, sizeof(b)), -1);
    CHECK_INT(parse("ST4T", &c, b, sizeof(b)), -1);
    CHECK_INT(parse("TOOLONGNAME", &c, b, sizeof(b)), -1);
    CHECK_INT(parse("TOP 1 2 3", &c, b, sizeof(b)), -1);
    CHECK_INT(parse("TOP 1  2", &c, b, sizeof(b)), -1);
    CHECK_INT(parse("LIST 1 ", &c, b, sizeof(b)), -1);
    char longarg[400];
    memset(longarg, 'a', sizeof(longarg) - 1);
    longarg[sizeof(longarg) - 1] = '\0';
    char line[420] = "USER ";
    strcat(line, longarg);
    CHECK_INT(parse(line, &c, b, sizeof(b)), -1);
    char nul[] = "STAT\0x";
    const char *err;
    CHECK_INT(pop3d_parse_line(nul, 6, &c, &err), -1);
}

static void test_numbers(void)
{
    uint32_t v;
    CHECK_INT(pop3d_parse_number("1", &v), 0);
    CHECK_INT(v, 1);
    CHECK_INT(pop3d_parse_number("4294967295", &v), 0);
    CHECK_INT(v, 4294967295u);
    CHECK_INT(pop3d_parse_number("4294967296", &v), -1);
    CHECK_INT(pop3d_parse_number("99999999999", &v), -1);
    CHECK_INT(pop3d_parse_number("", &v), -1);
    CHECK_INT(pop3d_parse_number("-1", &v), -1);
    CHECK_INT(pop3d_parse_number("+1", &v), -1);
    CHECK_INT(pop3d_parse_number("1x", &v), -1);
}

static void test_uidl(void)
{
    char out[80];
    /* Dovecot 2.3.19's pop3 with the default format, UID 1, UIDVALIDITY 0x6b16bb05 */
    CHECK_INT(pop3d_uidl("%08Xu%08Xv", 1, 0x6b16bb05, "", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "000000016b16bb05");
    CHECK_INT(pop3d_uidl("%u.%v", 12, 34, "", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "12.34");
    CHECK_INT(pop3d_uidl("%f", 1, 1, "1700.M1P2.host", 14, out, sizeof(out)), 0);
    CHECK_STR(out, "1700.M1P2.host");
    CHECK_INT(pop3d_uidl("%%%4u", 7, 1, "", 0, out, sizeof(out)), -1);    /* spaces: not printable */
    CHECK_INT(pop3d_uidl("%04u", 7, 1, "", 0, out, sizeof(out)), 0);
    CHECK_STR(out, "0007");
    CHECK_INT(pop3d_uidl("%m", 1, 1, "", 0, out, sizeof(out)), -1);      /* md5: not supported */
    CHECK_INT(pop3d_uidl("%99u", 1, 1, "", 0, out, sizeof(out)), -1);
    CHECK_INT(pop3d_uidl("", 1, 1, "", 0, out, sizeof(out)), -1);
    CHECK_INT(pop3d_uidl_format_ok("%08Xu%08Xv"), 1);
    CHECK_INT(pop3d_uidl_format_ok("%g"), 0);
    CHECK_INT(pop3d_uidl_format_ok("%"), 0);
}

int main(void)
{
    T_RUN(test_lines);
    T_RUN(test_numbers);
    T_RUN(test_uidl);
    return T_DONE();
}
