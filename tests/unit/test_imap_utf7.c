/*
 * test_imap_utf7.c - modified UTF-7 mailbox names (src/lib-imap/imap_utf7.c):
 * the RFC 3501 examples both ways, surrogate pairs, "&", the strict
 * rejections (non-canonical and ill-formed input), strict UTF-8 decoding
 * and the UTF-8 mailbox name validator.
 */
#include "lib-imap/imap_utf7.h"
#include "lib/util.h"
#include "t.h"

#include <string.h>

static char out7[512];

static const char *to7(const char *s)
{
    struct buf b;
    buf_init(&b, sizeof(out7) - 1);
    int r = imap_utf8_to_utf7(s, strlen(s), &b);
    str_copy(out7, r < 0 ? "ERR" : buf_cstr(&b), sizeof(out7));
    buf_free(&b);
    return out7;
}

static const char *to8(const char *s)
{
    struct buf b;
    buf_init(&b, sizeof(out7) - 1);
    int r = imap_utf7_to_utf8(s, strlen(s), &b);
    str_copy(out7, r < 0 ? "ERR" : buf_cstr(&b), sizeof(out7));
    buf_free(&b);
    CHECK_INT(imap_utf7_valid(s, strlen(s)), r == 0);
    return out7;
}

static void test_pairs(void)
{
    static const char *const v[][2] = {
        {"", ""},
        {"INBOX", "INBOX"},
        {"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
         "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
        {"\xe2\x98\xba!", "&Jjo-!"},
        {"Hi Mom -\xe2\x98\xba-!", "Hi Mom -&Jjo--!"},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-"},
        {"p\xc3\xa4\xc3\xa4", "p&AOQA5A-"},
        {"&", "&-"},
        {"a&b&&", "a&-b&-&-"},
        {"\xc3\xa4&", "&AOQ-&-"},
        {"&\xc3\xa4", "&-&AOQ-"},
        {"\xf0\x9f\x98\x80", "&2D3eAA-"},
        {"\xc3\xa4\xf0\x9f\x98\x80", "&AOTYPd4A-"},
        {"\xc3\xa4\xc3\xb6\x01", "&AOQA9gAB-"},
        {"\x7f", "&AH8-"},
        {"tab\there", "tab&AAk-here"},
        {"-", "-"},
        {"~/.,+-", "~/.,+-"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        t_current = v[i][1];
        CHECK_STR(to7(v[i][0]), v[i][1]);
        CHECK_STR(to8(v[i][1]), v[i][0]);
    }
    t_current = "test_pairs";
}

static void test_bad_utf7(void)
{
    static const char *const bad[] = {
        "&",            /* bare shift */
        "a&",           /* bare shift at the end */
        "&AOQ",         /* no closing '-' */
        "&AGE-",        /* printable 'a' encoded */
        "&ACY-",        /* '&' encoded */
        "&ACA-",        /* space encoded */
        "&AOQ-&AOQ-",   /* two runs side by side */
        "&AOR-",        /* non-zero leftover bits */
        "&AOQA-",       /* a whole useless base64 character */
        "&AOQAAA-",     /* NUL encoded */
        "&AAA-",        /* NUL encoded */
        "&2D0-",        /* lone high surrogate */
        "&2D3YPQ-",     /* high surrogate followed by high surrogate */
        "&3gA-",        /* lone low surrogate */
        "&3gDYPQ-",     /* reversed pair */
        "&2D0AQQ-",     /* high surrogate then a BMP character */
        "&AO/-",        /* '/' is not modified base64 */
        "&AOQ=-",       /* no padding */
        "&AO Q-",       /* space inside */
        "p\xc3\xa4",    /* raw 8-bit */
        "a\x01" "b",    /* raw control */
        "a\x7f",        /* raw DEL */
        "&-&",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        CHECK_STR(to8(bad[i]), "ERR");
    }
    /* NUL inside the length is a raw control byte. */
    CHECK_INT(imap_utf7_valid("a\0b", 3), 0);
    t_current = "test_bad_utf7";
}

static void test_bad_utf8(void)
{
    static const char *const bad[] = {
        "\xc3",                 /* truncated */
        "\xc3(",                /* bad continuation */
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong */
        "\xf0\x80\x80\xaf",     /* overlong */
        "\xed\xa0\x80",         /* surrogate D800 */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "\xff",
        "\x80",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK_STR(to7(bad[i]), "ERR");
        CHECK(!imap_utf8_valid(bad[i], strlen(bad[i])));
        CHECK(!imap_mailbox_utf8_valid(bad[i], strlen(bad[i])));
    }
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(imap_utf8_to_utf7("a\0b", 3, &b), -1);
    buf_free(&b);
    CHECK(imap_utf8_valid("\xf4\x8f\xbf\xbf", 4));
    uint32_t cp = 0;
    CHECK_INT(imap_utf8_next("\xe2\x82\xac", 3, &cp), 3);
    CHECK_INT(cp, 0x20ac);
    CHECK_INT(imap_utf8_next("\xe2\x82\xac", 2, &cp), -1);
    CHECK_INT(imap_utf8_next("", 0, &cp), -1);
}

static void test_mailbox_utf8(void)
{
    CHECK(imap_mailbox_utf8_valid("INBOX", 5));
    CHECK(imap_mailbox_utf8_valid("", 0));
    CHECK(imap_mailbox_utf8_valid("Entw\xc3\xbcrfe/\xe6\x97\xa5\xe6\x9c\xac", 16));
    CHECK(imap_mailbox_utf8_valid("\xf0\x9f\x98\x80", 4));
    CHECK(!imap_mailbox_utf8_valid("a\tb", 3));
    CHECK(!imap_mailbox_utf8_valid("a\0b", 3));
    CHECK(!imap_mailbox_utf8_valid("a\x7f", 2));
    CHECK(!imap_mailbox_utf8_valid("\xc2\x85", 2));         /* NEL, a C1 control */
    CHECK(!imap_mailbox_utf8_valid("\xe2\x80\xa8", 3));     /* LINE SEPARATOR */
    CHECK(!imap_mailbox_utf8_valid("\xe2\x80\xa9", 3));
    CHECK(!imap_mailbox_utf8_valid("\xef\xbf\xbf", 3));
    CHECK(imap_mailbox_utf8_valid("\xc2\xa0", 2));          /* NBSP is fine */
}

static void test_limit(void)
{
    struct buf b;
    buf_init(&b, 4);
    CHECK_INT(imap_utf8_to_utf7("\xe6\x97\xa5\xe6\x9c\xac", 6, &b), -1);
    buf_reset(&b);
    CHECK_INT(imap_utf7_to_utf8("&ZeVnLIqe-", 10, &b), -1);
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_pairs);
    T_RUN(test_bad_utf7);
    T_RUN(test_bad_utf8);
    T_RUN(test_mailbox_utf8);
    T_RUN(test_limit);
    return T_DONE();
}
