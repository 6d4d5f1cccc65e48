/*
 * test_imap_quote.c - writing IMAP strings (src/lib-imap/imap_quote.c):
 * atoms for safe astrings, quoted strings with escapes, literals for
 * 8-bit/CR/LF/long/NUL values, UTF-8 in quoted strings only when allowed,
 * NIL for NULL, and the buffer limit.
 */
#include "lib-imap/imap_quote.h"
#include "lib/util.h"
#include "t.h"

#include <string.h>

enum kind { ASTR, STR, NSTR };
static char got[4096];

static const char *w(enum kind k, const char *s, size_t len, int flags)
{
    struct buf b;
    buf_init(&b, sizeof(got) - 1);
    int r = k == ASTR ? imap_write_astring(&b, s, len, flags)
          : k == STR  ? imap_write_string(&b, s, len, flags)
                      : imap_write_nstring(&b, s, len, flags);
    if (r < 0)
        str_copy(got, "ERR", sizeof(got));
    else
        memcpy(got, b.data ? b.data : "", b.len + 1);
    buf_free(&b);
    return got;
}
#define WZ(k, s, f) w(k, s, strlen(s), f)

static void test_astring(void)
{
    CHECK_STR(WZ(ASTR, "INBOX", 0), "INBOX");
    CHECK_STR(WZ(ASTR, "[Gmail]/Sent]", 0), "[Gmail]/Sent]");
    CHECK_STR(WZ(ASTR, "a.b-c_d+e&f~g", 0), "a.b-c_d+e&f~g");
    CHECK_STR(WZ(ASTR, "", 0), "\"\"");
    CHECK_STR(WZ(ASTR, "NIL", 0), "\"NIL\"");
    CHECK_STR(WZ(ASTR, "nil", 0), "\"nil\"");
    CHECK_STR(WZ(ASTR, "NILS", 0), "NILS");
    CHECK_STR(WZ(ASTR, "two words", 0), "\"two words\"");
    CHECK_STR(WZ(ASTR, "a(b", 0), "\"a(b\"");
    CHECK_STR(WZ(ASTR, "a)b", 0), "\"a)b\"");
    CHECK_STR(WZ(ASTR, "a{b", 0), "\"a{b\"");
    CHECK_STR(WZ(ASTR, "50%", 0), "\"50%\"");
    CHECK_STR(WZ(ASTR, "a*", 0), "\"a*\"");
    CHECK_STR(WZ(ASTR, "say \"hi\"", 0), "\"say \\\"hi\\\"\"");
    CHECK_STR(WZ(ASTR, "back\\slash", 0), "\"back\\\\slash\"");
    CHECK_STR(WZ(ASTR, "tab\tx", 0), "\"tab\tx\"");
    CHECK_STR(WZ(ASTR, "\x7f", 0), "\"\x7f\"");
    CHECK(imap_is_astring_atom("x]", 2));
    CHECK(!imap_is_astring_atom("x y", 3));
}

static void test_string(void)
{
    CHECK_STR(WZ(STR, "INBOX", 0), "\"INBOX\"");
    CHECK_STR(WZ(STR, "", 0), "\"\"");
    CHECK_STR(WZ(STR, "\"", 0), "\"\\\"\"");
    CHECK_STR(WZ(STR, "\\\\", 0), "\"\\\\\\\\\"");
    CHECK_STR(WZ(STR, "line\r\nbreak", 0), "{11}\r\nline\r\nbreak");
    CHECK_STR(WZ(STR, "lf\n", 0), "{3}\r\nlf\n");
    CHECK_STR(WZ(STR, "cr\r", 0), "{3}\r\ncr\r");
    /* 8-bit: literal unless UTF-8 is allowed and it is valid UTF-8. */
    CHECK_STR(WZ(STR, "gr\xc3\xbc\xc3\x9f", 0), "{6}\r\ngr\xc3\xbc\xc3\x9f");
    CHECK_STR(WZ(STR, "gr\xc3\xbc\xc3\x9f", IMAP_QUOTE_UTF8), "\"gr\xc3\xbc\xc3\x9f\"");
    CHECK_STR(WZ(STR, "bad\xff", IMAP_QUOTE_UTF8), "{4}\r\nbad\xff");
    CHECK_STR(WZ(STR, "\xc0\xaf", IMAP_QUOTE_UTF8), "{2}\r\n\xc0\xaf");
    CHECK_STR(WZ(ASTR, "gr\xc3\xbc\xc3\x9f", IMAP_QUOTE_UTF8), "\"gr\xc3\xbc\xc3\x9f\"");
    /* NUL goes in a literal (length-checked). */
    CHECK_STR(w(STR, "a\0b", 3, 0), "{3}\r\na");
    CHECK(memcmp(got, "{3}\r\na\0b", 9) == 0);
}

static void test_long(void)
{
    char s[IMAP_QUOTED_MAX + 2];
    memset(s, 'x', sizeof(s));
    s[IMAP_QUOTED_MAX] = '\0';
    const char *r = w(STR, s, IMAP_QUOTED_MAX, 0);
    CHECK(r[0] == '"' && strlen(r) == IMAP_QUOTED_MAX + 2);
    s[IMAP_QUOTED_MAX] = 'x';
    s[IMAP_QUOTED_MAX + 1] = '\0';
    r = w(STR, s, IMAP_QUOTED_MAX + 1, 0);
    CHECK(strncmp(r, "{1025}\r\nxxx", 11) == 0);
    /* Long atoms stay atoms in an astring. */
    r = w(ASTR, s, IMAP_QUOTED_MAX + 1, 0);
    CHECK(r[0] == 'x' && strlen(r) == IMAP_QUOTED_MAX + 1);
}

static void test_nstring(void)
{
    CHECK_STR(w(NSTR, NULL, 0, 0), "NIL");
    CHECK_STR(WZ(NSTR, "NIL", 0), "\"NIL\"");
    CHECK_STR(WZ(NSTR, "", 0), "\"\"");
    CHECK_STR(WZ(NSTR, "x\ny", 0), "{3}\r\nx\ny");
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(imap_write_nstring_z(&b, NULL, 0), 0);
    CHECK_INT(buf_putc(&b, ' '), 0);
    CHECK_INT(imap_write_nstring_z(&b, "Subject", 0), 0);
    CHECK_INT(buf_putc(&b, ' '), 0);
    CHECK_INT(imap_write_astring_z(&b, "Sent Items", 0), 0);
    CHECK_STR(buf_cstr(&b), "NIL \"Subject\" \"Sent Items\"");
    buf_reset(&b);
    CHECK_INT(imap_write_literal8(&b, "\0\1", 2), 0);
    CHECK_INT(b.len, 8);
    CHECK(memcmp(b.data, "~{2}\r\n\0\1", 8) == 0);
    buf_free(&b);
}

static void test_limit(void)
{
    struct buf b;
    buf_init(&b, 5);
    CHECK_INT(imap_write_string(&b, "abcdef", 6, 0), -1);
    buf_reset(&b);
    CHECK_INT(imap_write_literal(&b, "a\r\n", 3), -1);
    buf_reset(&b);
    CHECK_INT(imap_write_quoted(&b, "abc", 3), 0);
    CHECK_STR(buf_cstr(&b), "\"abc\"");
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_astring);
    T_RUN(test_string);
    T_RUN(test_long);
    T_RUN(test_nstring);
    T_RUN(test_limit);
    return T_DONE();
}
