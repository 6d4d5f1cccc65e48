/* Unit tests for addr.c: SMTP paths, ESMTP parameters, header address lists,
 * quoting, extensions and hostname syntax. Expected results were checked
 * against Postfix 3.7 where yubin follows it (see the comments). */
#include "t.h"
#include "lib-mail/addr.h"
#include "lib-mail/addrlist.h"
#include "lib/util.h"

#include <stdlib.h>

struct path_case {
    const char *in;
    int strict, utf8;
    int rc;
    const char *addr;     /* expected internal form when rc == 0 */
    const char *params;   /* expected rest */
};

static const struct path_case path_cases[] = {
    /* plain forms */
    {"<a@b.test>", 0, 0, 0, "a@b.test", ""},
    {" <a@b.test>", 0, 0, 0, "a@b.test", ""},            /* space after colon: Postfix ok */
    {" <a@b.test>", 1, 0, 0, "a@b.test", ""},            /* ... even when strict */
    {"a@b.test", 0, 0, 0, "a@b.test", ""},               /* no brackets, lenient */
    {" a@b.test SIZE=10", 0, 0, 0, "a@b.test", "SIZE=10"},
    {"a@b.test", 1, 0, ADDR_E_SYNTAX, NULL, NULL},       /* strict needs <> */
    {"<>", 0, 0, 0, "", ""},
    {"<>", 1, 0, 0, "", ""},
    {"<> SIZE=100", 1, 0, 0, "", "SIZE=100"},
    {"< >", 0, 0, 0, "", ""},                            /* Postfix: ok */
    {"< >", 1, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"< a@b.test >", 0, 0, 0, "a@b.test", ""},
    {"", 0, 0, ADDR_E_EMPTY, NULL, NULL},
    {"   ", 0, 0, ADDR_E_EMPTY, NULL, NULL},
    {"<a@b.test> SIZE=100 BODY=8BITMIME", 0, 0, 0, "a@b.test", "SIZE=100 BODY=8BITMIME"},
    {"<a@b.test>  \t SIZE=1", 1, 0, 0, "a@b.test", "SIZE=1"},
    {"<a@b.test>\t", 0, 0, 0, "a@b.test", ""},
    {"<a@b.test>x", 0, 0, ADDR_E_SYNTAX, NULL, NULL},   /* Postfix: 501 5.1.7 */
    {"<a@b.test>SIZE=1", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@b.test> x", 0, 0, 0, "a@b.test", "x"},          /* smtpd: 555 Unsupported option */
    {"<postmaster>", 0, 0, 0, "postmaster", ""},          /* unqualified: accepted */
    {"<U@C.Test>", 0, 0, 0, "U@C.Test", ""},              /* case kept */
    /* quoting */
    {"<\"a b\"@c.test>", 0, 0, 0, "a b@c.test", ""},
    {"<\"a b\"@c.test>", 1, 0, 0, "a b@c.test", ""},
    {"\"a b\"@c.test", 0, 0, 0, "a b@c.test", ""},
    {"<\"a\\\"b\"@c.test>", 0, 0, 0, "a\"b@c.test", ""},
    {"<\"a\\\\b\"@c.test>", 0, 0, 0, "a\\b@c.test", ""},
    {"<\"ab\"@c.test>", 0, 0, 0, "ab@c.test", ""},
    {"<\"a@b\"@c.test>", 0, 0, 0, "a@b@c.test", ""},
    {"<\"a>b\"@c.test>", 0, 0, 0, "a>b@c.test", ""},
    {"<\"a@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},  /* unbalanced quote */
    {"<\"a\\\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a\"b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a.\"b\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},  /* empty local part */
    {"<\"a\tb\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a\\\tb\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    /* unquoted local parts */
    {"<a b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a..b@c.test>", 0, 0, 0, "a..b@c.test", ""},        /* real-world; Postfix ok */
    {"<.a@c.test>", 0, 0, 0, ".a@c.test", ""},
    {"<a.@c.test>", 0, 0, 0, "a.@c.test", ""},
    {"<a%b@c.test>", 0, 0, 0, "a%b@c.test", ""},
    {"<a!b@c.test>", 0, 0, 0, "a!b@c.test", ""},
    {"<a+ext@c.test>", 0, 0, 0, "a+ext@c.test", ""},
    {"<a{b}|c~d'e@c.test>", 0, 0, 0, "a{b}|c~d'e@c.test", ""},
    {"<a(b)@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a\\b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a,b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a;b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a[b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@b@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},      /* empty local part */
    {"<u@>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},           /* @ without domain */
    {"<@>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@c.test", 0, 0, ADDR_E_SYNTAX, NULL, NULL},      /* unbalanced < */
    {"u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<<u@c.test>>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@c.test> <v@c.test>", 0, 0, 0, "u@c.test", "<v@c.test>"},
    /* fuzz_addr: an unqualified quoted local part holding '@' would read as u@domain */
    {"<\"a b@c.test\">", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a amcl@route.example,{{{\">", 1, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a@b\"@c.test>", 0, 0, 0, "a@b@c.test", ""},
    /* domains */
    {"<a@b.test.>", 0, 0, 0, "a@b.test", ""},             /* trailing dot dropped */
    {"<a@.>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@c..test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@.c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@-c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@c-.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@_c.test>", 0, 0, 0, "a@_c.test", ""},            /* Postfix allows '_' */
    {"<a@1.2.3.4>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},     /* numeric: needs brackets */
    {"<a@c.test:>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@c test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[1.2.3.4]>", 0, 0, 0, "u@[1.2.3.4]", ""},
    {"<u@[IPv6:::1]>", 0, 0, 0, "u@[IPv6:::1]", ""},
    {"<u@[ipv6:2001:db8::1]>", 0, 0, 0, "u@[ipv6:2001:db8::1]", ""},
    {"<u@[IPv6:1.2.3.4]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[::1]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[999.1.1.1]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[1.2.3]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[foo]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[1.2.3.4>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@1.2.3.4]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<u@[]>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    /* source routes: accepted and dropped */
    {"<@x.test,@y.test:u@c.test>", 0, 0, 0, "u@c.test", ""},
    {"<@x.test:u@c.test>", 1, 0, 0, "u@c.test", ""},
    {"<@x.test:>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@x.test,u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@x.test u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@-x.test:u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@x.test,:u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<@:u@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    /* controls and NUL: never */
    {"<a\tb@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a\rb@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a\nb@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a\x01@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a\x7f@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<a@c\x1b.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a\rb\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\"a\\\rb\"@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    /* 8-bit and SMTPUTF8 */
    {"<\xc3\xa9@c.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},   /* 8-bit without SMTPUTF8 */
    {"<\xc3\xa9@c.test>", 0, 1, 0, "\xc3\xa9@c.test", ""},
    {"<\"a \xc3\xa9\"@c.test>", 0, 1, 0, "a \xc3\xa9@c.test", ""},
    {"<u@\xc3\xa9.test>", 0, 1, 0, "u@\xc3\xa9.test", ""},
    {"<u@\xc3\xa9.test>", 0, 0, ADDR_E_SYNTAX, NULL, NULL},
    {"<\xff@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL},
    {"<\xc3@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL},         /* truncated sequence */
    {"<\xc0\xaf@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL},     /* overlong '/' */
    {"<\xed\xa0\x80@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL}, /* surrogate */
    {"<\xf4\x90\x80\x80@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL}, /* > U+10FFFF */
    {"<u@\xe2\x82.test>", 0, 1, ADDR_E_UTF8, NULL, NULL},
    {"<\"\\\xff\"@c.test>", 0, 1, ADDR_E_UTF8, NULL, NULL},
};

static void test_paths(void)
{
    for (size_t i = 0; i < ARRAY_LEN(path_cases); i++) {
        const struct path_case *c = &path_cases[i];
        char line[1024], addr[ADDR_MAX + 1], *params = NULL;
        const char *why = NULL;
        str_copy(line, c->in, sizeof(line));
        int rc = addr_parse_path(line, c->strict, c->utf8, addr, sizeof(addr), &params, &why);
        if (rc != c->rc)
            fprintf(stderr, "case %zu: [%s] strict=%d utf8=%d\n", i, c->in, c->strict, c->utf8);
        CHECK_INT(rc, c->rc);
        if (rc == 0 && c->rc == 0) {
            CHECK_STR(addr, c->addr);
            CHECK_STR(params, c->params);
        }
        if (rc != 0)
            CHECK(why != NULL && why[0] != 0);
    }
}

static void test_path_limits(void)
{
    char line[2048], addr[ADDR_MAX + 1], *params;
    const char *why;
    char local[300];

    /* 256-byte local part: the limit */
    memset(local, 'a', 256);
    local[256] = 0;
    str_fmt(line, sizeof(line), "<%s@c.test>", local);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), 0);
    CHECK_INT(strlen(addr), 256 + 7);
    /* 257: too long */
    memset(local, 'a', 257);
    local[257] = 0;
    str_fmt(line, sizeof(line), "<%s@c.test>", local);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
    CHECK_STR(why, "5.1.7 Bad sender address syntax");

    /* domain: 253 + dot ok, 256 not */
    char dom[400];
    size_t n = 0;
    while (n + 2 <= 252) {
        dom[n++] = 'a';
        dom[n++] = '.';
    }
    dom[n++] = 'b';
    dom[n] = 0;                     /* 253 bytes */
    str_fmt(line, sizeof(line), "<u@%s>", dom);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), 0);
    str_fmt(line, sizeof(line), "<u@aaa%s>", dom);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
    /* a 64-byte label */
    char label[80];
    memset(label, 'x', 64);
    label[64] = 0;
    str_fmt(line, sizeof(line), "<u@%s.test>", label);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
    label[63] = 0;
    str_fmt(line, sizeof(line), "<u@%s.test>", label);
    CHECK_INT(addr_parse_path(line, 0, 0, addr, sizeof(addr), &params, &why), 0);

    /* huge input: refused, no overflow */
    char big[1500];
    memset(big, 'a', sizeof(big) - 1);
    big[0] = '<';
    big[sizeof(big) - 2] = '>';
    big[sizeof(big) - 1] = 0;
    CHECK_INT(addr_parse_path(big, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
    big[sizeof(big) - 2] = 'a';
    CHECK_INT(addr_parse_path(big, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
    big[0] = 'a';
    CHECK_INT(addr_parse_path(big, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);

    /* output buffer too small: an error, never truncation */
    str_copy(line, "<abcdef@c.test>", sizeof(line));
    CHECK_INT(addr_parse_path(line, 0, 0, addr, 8, &params, &why), ADDR_E_SYNTAX);

    /* embedded NUL: the C string ends there, leaving "<a" */
    char nul[] = "<a\0b@c.test>";
    CHECK_INT(addr_parse_path(nul, 0, 0, addr, sizeof(addr), &params, &why), ADDR_E_SYNTAX);
}

static void test_path_reply(void)
{
    int code;
    CHECK_STR(addr_path_reply(ADDR_E_SYNTAX, 0, &code), "5.1.7 Bad sender address syntax");
    CHECK_INT(code, 501);
    CHECK_STR(addr_path_reply(ADDR_E_SYNTAX, 1, &code), "5.1.3 Bad recipient address syntax");
    CHECK_INT(code, 501);
    CHECK_STR(addr_path_reply(ADDR_E_EMPTY, 1, &code), "5.5.4 Syntax: RCPT TO:<address>");
    CHECK_STR(addr_path_reply(ADDR_E_EMPTY, 0, &code), "5.5.4 Syntax: MAIL FROM:<address>");
    CHECK_INT(code, 501);
    CHECK_STR(addr_path_reply(ADDR_E_UTF8, 0, &code), "5.5.2 Error: bad UTF-8 syntax");
    CHECK_INT(code, 500);
}

static void test_params_mail(void)
{
    struct esmtp_params p;
    char err[256];
    CHECK_INT(esmtp_parse_params("", 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 0);
    CHECK_INT(p.has_size, 0);
    CHECK_INT(esmtp_parse_params("SIZE=123 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=ab+2Bc AUTH=<>",
                                 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 0);
    CHECK_INT(p.has_size, 1);
    CHECK_INT(p.size, 123);
    CHECK_INT(p.body, ESMTP_BODY_8BITMIME);
    CHECK_INT(p.smtputf8, 1);
    CHECK_INT(p.ret, ESMTP_RET_HDRS);
    CHECK_STR(p.envid, "ab+c");
    CHECK_INT(p.has_auth, 1);
    CHECK_STR(p.auth, "<>");
    CHECK_INT(esmtp_parse_params("size=5 body=7bit ret=full", 0, ESMTP_ALLOW_ALL, &p, err,
                                 sizeof(err)), 0);
    CHECK_INT(p.body, ESMTP_BODY_7BIT);
    CHECK_INT(p.ret, ESMTP_RET_FULL);
    CHECK_INT(esmtp_parse_params("SIZE=99999999999999999999999999", 0, ESMTP_ALLOW_ALL, &p, err,
                                 sizeof(err)), 0);
    CHECK(p.size == ~0ULL);

    struct { const char *in; int code; const char *err; } bad[] = {
        {"SIZE=abc", 501, "5.5.4 Bad message size syntax"},
        {"SIZE=", 501, "5.5.4 Bad message size syntax"},
        {"SIZE", 501, "5.5.4 Bad message size syntax"},
        {"SIZE=-1", 501, "5.5.4 Bad message size syntax"},
        {"SIZE=1 SIZE=2", 501, "5.5.4 Bad message size syntax"},
        {"BODY=BINARYMIME", 555, "5.5.4 Unsupported option: BODY=BINARYMIME"},
        {"BODY=foo", 555, "5.5.4 Unsupported option: BODY=foo"},
        {"BODY=7BIT BODY=8BITMIME", 501, "5.5.4 Bad BODY parameter syntax"},
        {"RET=FOO", 501, "5.5.4 Bad RET parameter syntax"},
        {"RET=FULL RET=HDRS", 501, "5.5.4 Bad RET parameter syntax"},
        {"RET", 501, "5.5.4 Bad RET parameter syntax"},
        {"ENVID=abc+2", 501, "5.5.4 Bad ENVID parameter syntax"},
        {"ENVID=abc+2b", 501, "5.5.4 Bad ENVID parameter syntax"},   /* lower-case hex */
        {"ENVID=a+00b", 501, "5.5.4 Bad ENVID parameter syntax"},    /* NUL */
        {"ENVID=a+09b", 501, "5.5.4 Bad ENVID parameter syntax"},    /* control characters */
        {"ENVID=a+0Ab", 501, "5.5.4 Bad ENVID parameter syntax"},
        {"AUTH=a+0Db@c", 501, "5.5.4 Bad AUTH parameter syntax"},
        {"ENVID=", 501, "5.5.4 Bad ENVID parameter syntax"},
        {"ENVID=a ENVID=b", 501, "5.5.4 Bad ENVID parameter syntax"},
        {"SMTPUTF8=x", 555, "5.5.4 Unsupported option: SMTPUTF8=x"},
        {"NOTIFY=NEVER", 555, "5.5.4 Unsupported option: NOTIFY=NEVER"},
        {"XFOO", 555, "5.5.4 Unsupported option: XFOO"},
        {"=x", 555, "5.5.4 Unsupported option: =x"},
        {"SIZE=1 FOO=bar BODY=7BIT", 555, "5.5.4 Unsupported option: FOO=bar"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int code = esmtp_parse_params(bad[i].in, 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err));
        if (code != bad[i].code)
            fprintf(stderr, "params case %s\n", bad[i].in);
        CHECK_INT(code, bad[i].code);
        CHECK_STR(err, bad[i].err);
    }
    /* ENVID length limit (RFC 3461: 100) */
    char env[200];
    memset(env, 'x', sizeof(env));
    memcpy(env, "ENVID=", 6);
    env[6 + 100] = 0;
    CHECK_INT(esmtp_parse_params(env, 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 0);
    env[6 + 100] = 'x';
    env[6 + 101] = 0;
    CHECK_INT(esmtp_parse_params(env, 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 501);
    /* extensions not announced */
    CHECK_INT(esmtp_parse_params("SMTPUTF8", 0, ESMTP_ALLOW_SIZE, &p, err, sizeof(err)), 555);
    CHECK_STR(err, "5.5.4 Unsupported option: SMTPUTF8");
    CHECK_INT(esmtp_parse_params("RET=FULL", 0, ESMTP_ALLOW_SIZE, &p, err, sizeof(err)), 555);
    CHECK_INT(esmtp_parse_params("AUTH=+", 0, ESMTP_ALLOW_SIZE, &p, err, sizeof(err)), 0);
    CHECK_INT(p.has_auth, 0);
    CHECK_INT(esmtp_parse_params("AUTH=+", 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 501);
    /* an absurd unknown keyword is echoed shortened */
    char longkw[1000];
    memset(longkw, 'K', sizeof(longkw) - 1);
    longkw[sizeof(longkw) - 1] = 0;
    CHECK_INT(esmtp_parse_params(longkw, 0, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 555);
    CHECK(strlen(err) < 240);
}

static void test_params_rcpt(void)
{
    struct esmtp_params p;
    char err[256];
    CHECK_INT(esmtp_parse_params("NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@c.test", 1,
                                 ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 0);
    CHECK_INT(p.notify, ESMTP_NOTIFY_SUCCESS | ESMTP_NOTIFY_FAILURE);
    CHECK_INT(p.has_orcpt, 1);
    CHECK_STR(p.orcpt_type, "rfc822");
    CHECK_STR(p.orcpt, "a+b@c.test");
    CHECK_INT(esmtp_parse_params("notify=never", 1, ESMTP_ALLOW_ALL, &p, err, sizeof(err)), 0);
    CHECK_INT(p.notify, ESMTP_NOTIFY_NEVER);
    CHECK_INT(esmtp_parse_params("NOTIFY=delay,success,failure", 1, ESMTP_ALLOW_ALL, &p, err,
                                 sizeof(err)), 0);
    CHECK_INT(p.notify, 14);

    struct { const char *in; int code; const char *err; } bad[] = {
        {"NOTIFY=BAD", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY=", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY=SUCCESS,NEVER", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY=SUCCESS,", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY=SUCCESS,SUCCESS", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"NOTIFY=NEVER NOTIFY=NEVER", 501, "5.5.4 Error: Bad NOTIFY parameter syntax"},
        {"ORCPT=foo", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc822;a+2xb@c", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc822;", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=;a@b", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc 822;a@b", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        /* fuzz_dproto: a TAB in ORCPT travelled to the delivery agents as "+09", which
         * they refuse (a local recipient was deferred as a malformed request) */
        {"ORCPT=rfc822;a+09b@c", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc822;a+0Ab@c", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc822;a+7Fb@c", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"ORCPT=rfc822;a@b ORCPT=rfc822;a@b", 501, "5.5.4 Error: Bad ORCPT parameter syntax"},
        {"SIZE=1", 555, "5.5.4 Unsupported option: SIZE=1"},
        {"FOO=bar", 555, "5.5.4 Unsupported option: FOO=bar"},
        {"RET=FULL", 555, "5.5.4 Unsupported option: RET=FULL"},
    };
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        int code = esmtp_parse_params(bad[i].in, 1, ESMTP_ALLOW_ALL, &p, err, sizeof(err));
        if (code != bad[i].code)
            fprintf(stderr, "params case %s\n", bad[i].in);
        CHECK_INT(code, bad[i].code);
        CHECK_STR(err, bad[i].err);
    }
}

static void test_xtext(void)
{
    char out[64];
    CHECK_INT(xtext_encode("a+b=c d\x01", out, sizeof(out)), 0);
    CHECK_STR(out, "a+2Bb+3Dc+20d+01");
    char back[64];
    CHECK_INT(xtext_decode(out, strlen(out), back, sizeof(back)), 0);
    CHECK_STR(back, "a+b=c d\x01");
    CHECK_INT(xtext_encode("abcdef", out, 6), -1);
    CHECK_INT(xtext_decode("abcdef", 6, out, 6), -1);
    CHECK_INT(xtext_decode("ab+", 3, out, sizeof(out)), -1);
    CHECK_INT(xtext_decode("ab+4", 4, out, sizeof(out)), -1);
    CHECK_INT(xtext_decode("a b", 3, out, sizeof(out)), -1);
}

static void test_split_external(void)
{
    char l[64], d[64], out[128];
    addr_split("a@b@c.test", l, sizeof(l), d, sizeof(d));
    CHECK_STR(l, "a@b");
    CHECK_STR(d, "c.test");
    addr_split("root", l, sizeof(l), d, sizeof(d));
    CHECK_STR(l, "root");
    CHECK_STR(d, "");
    addr_split("verylonglocalpart@x", l, 5, d, sizeof(d));
    CHECK_STR(l, "very");
    CHECK_STR(addr_domain("u@x.test"), "x.test");
    CHECK_STR(addr_domain("u"), "");

    struct { const char *in, *out; } q[] = {
        {"a@b.test", "a@b.test"},
        {"a.b+c@b.test", "a.b+c@b.test"},
        {"a b@c.test", "\"a b\"@c.test"},
        {"a\"b@c.test", "\"a\\\"b\"@c.test"},
        {"a\\b@c.test", "\"a\\\\b\"@c.test"},
        {"a..b@c.test", "\"a..b\"@c.test"},
        {".a@c.test", "\".a\"@c.test"},
        {"a.@c.test", "\"a.\"@c.test"},
        {"a@b@c.test", "\"a@b\"@c.test"},
        {"postmaster", "postmaster"},
        {"a b", "\"a b\""},
        {"", ""},
        {"\xc3\xa9@c.test", "\xc3\xa9@c.test"},
    };
    for (size_t i = 0; i < ARRAY_LEN(q); i++) {
        CHECK_INT(addr_external(q[i].in, out, sizeof(out)), 0);
        CHECK_STR(out, q[i].out);
    }
    CHECK_INT(addr_external("a b@c.test", out, 10), -1);

    /* round trip through the path parser */
    char line[256], addr[ADDR_MAX + 1], *params;
    const char *why;
    str_fmt(line, sizeof(line), "<%s>", "\"a \\\"q\\\" b\"@c.test");
    CHECK_INT(addr_parse_path(line, 1, 0, addr, sizeof(addr), &params, &why), 0);
    CHECK_STR(addr, "a \"q\" b@c.test");
    CHECK_INT(addr_external(addr, out, sizeof(out)), 0);
    CHECK_STR(out, "\"a \\\"q\\\" b\"@c.test");
}

static void test_strip_ext(void)
{
    char out[128], ext[64];
    CHECK_INT(addr_strip_ext("user+foo@d.test", "+", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(out, "user@d.test");
    CHECK_STR(ext, "foo");
    CHECK_INT(addr_strip_ext("user+foo+bar@d.test", "+", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(out, "user@d.test");
    CHECK_STR(ext, "foo+bar");
    /* a set: the first delimiter character found wins */
    CHECK_INT(addr_strip_ext("user-a+b@d.test", "+-", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(out, "user@d.test");
    CHECK_STR(ext, "a+b");
    CHECK_INT(addr_strip_ext("user+a-b@d.test", "-+", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(ext, "a-b");
    CHECK_INT(addr_strip_ext("user@d.test", "+", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_STR(out, "user@d.test");
    CHECK_STR(ext, "");
    CHECK_INT(addr_strip_ext("user+foo@d.test", "", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_STR(out, "user+foo@d.test");
    CHECK_INT(addr_strip_ext("user+foo@d.test", NULL, out, sizeof(out), NULL, 0), 0);
    CHECK_INT(addr_strip_ext("user+@d.test", "+", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(out, "user@d.test");
    CHECK_STR(ext, "");
    CHECK_INT(addr_strip_ext("+foo@d.test", "+", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_STR(out, "+foo@d.test");
    CHECK_INT(addr_strip_ext("user+foo", "+", out, sizeof(out), ext, sizeof(ext)), 1);
    CHECK_STR(out, "user");
    /* the delimiter in the domain is not an extension */
    CHECK_INT(addr_strip_ext("user@d-x.test", "-", out, sizeof(out), ext, sizeof(ext)), 0);
    /* never split */
    CHECK_INT(addr_strip_ext("MAILER-DAEMON@d.test", "-", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_STR(out, "MAILER-DAEMON@d.test");
    CHECK_INT(addr_strip_ext("double-bounce", "-", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_INT(addr_strip_ext("postmaster@d", "s", out, sizeof(out), ext, sizeof(ext)), 0);
    CHECK_INT(addr_strip_ext("mailer-daemonx@d", "-", out, sizeof(out), ext, sizeof(ext)), 1);
    /* too small */
    CHECK_INT(addr_strip_ext("user+foo@d.test", "+", out, 5, ext, sizeof(ext)), -1);
    CHECK_INT(addr_strip_ext("user+foo@d.test", "+", out, sizeof(out), ext, 3), -1);
}

static void test_hostnames(void)
{
    /* results as Postfix's reject_invalid_helo_hostname / valid_hostname */
    const char *good[] = {"a", "b.test", "b.test.", "_b.test", "b_.test", "foo.123", "123.test",
                          "x.123", "xn--bcher-kva.test", "a-b.c", "1-2.test"};
    const char *badh[] = {"", ".", "-b.test", "b-.test", "b..test", ".b.test", "1.2.3.4",
                          "1.2.3.456", "1", "fo%o.test", "a:b.test", "foo bar", "[1.2.3.4]",
                          "\xc3\xa9.test", "a-", "b.test..", "a\n.test"};
    for (size_t i = 0; i < ARRAY_LEN(good); i++) {
        if (!hostname_valid(good[i]))
            fprintf(stderr, "good: %s\n", good[i]);
        CHECK(hostname_valid(good[i]));
    }
    for (size_t i = 0; i < ARRAY_LEN(badh); i++) {
        if (hostname_valid(badh[i]))
            fprintf(stderr, "bad: %s\n", badh[i]);
        CHECK(!hostname_valid(badh[i]));
    }
    char name[300];
    memset(name, 'a', 63);
    strcpy(name + 63, ".test");
    CHECK(hostname_valid(name));
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    CHECK(!hostname_valid(name));
    /* total length: 255 ok, 256 not */
    size_t n = 0;
    while (n < 254) {
        name[n++] = 'a';
        name[n++] = '.';
    }
    name[n - 1] = 'b';
    name[n] = 0;                   /* 254 bytes */
    CHECK_INT(strlen(name), 254);
    CHECK(hostname_valid(name));
    name[n] = 'c';
    name[n + 1] = 0;
    CHECK(hostname_valid(name));   /* 255 */
    name[n + 1] = 'd';
    name[n + 2] = 0;
    CHECK(!hostname_valid(name));  /* 256 */

    CHECK(hostname_is_fqdn("a.b"));
    CHECK(hostname_is_fqdn("a.b."));
    CHECK(!hostname_is_fqdn("foo"));
    CHECK(!hostname_is_fqdn("foo."));
    CHECK(!hostname_is_fqdn("1.2.3.4"));
    CHECK(!hostname_is_fqdn("a..b"));

    CHECK(addr_literal_valid("[1.2.3.4]"));
    CHECK(addr_literal_valid("[IPv6:::1]"));
    CHECK(addr_literal_valid("[ipv6:2001:db8::1]"));
    CHECK(addr_literal_valid("[IPv6:::ffff:1.2.3.4]"));
    CHECK(!addr_literal_valid("[::1]"));
    CHECK(!addr_literal_valid("[1.2.3]"));
    CHECK(!addr_literal_valid("[1.2.3.4"));
    CHECK(!addr_literal_valid("1.2.3.4]"));
    CHECK(!addr_literal_valid("[]"));
    CHECK(!addr_literal_valid("[IPv6:]"));
    CHECK(!addr_literal_valid("[IPv6:1.2.3.4]"));
    CHECK(!addr_literal_valid("[256.1.1.1]"));
    CHECK(!addr_literal_valid("[1.2.3.4 ]"));
    CHECK(!addr_literal_valid("[IPv6:1:2:3:4:5:6:7:8:9:0:1:2:3:4:5:6:7:8:9:0:1:2:3:4:5:6:7:8:9:0]"));
    CHECK(ipv4_valid("1.2.3.4"));
    CHECK(!ipv4_valid("1.2.3"));

    CHECK(domain_valid("\xc3\xa9.test", 1));
    CHECK(!domain_valid("\xc3\xa9.test", 0));
    CHECK(!domain_valid("\xc3.test", 1));
    CHECK(domain_valid("[1.2.3.4]", 0));
}

static void test_utf8(void)
{
    CHECK(utf8_valid("", 0));
    CHECK(utf8_valid("abc", 3));
    CHECK(utf8_valid("\xe6\x97\xa5\xe6\x9c\xac", 6));
    CHECK(utf8_valid("\xf0\x9f\x93\xa7", 4));
    CHECK(!utf8_valid("\xf0\x9f\x93", 3));
    CHECK(!utf8_valid("\x80", 1));
    CHECK(!utf8_valid("\xc1\xbf", 2));
    CHECK(!utf8_valid("\xe0\x80\xaf", 3));
    CHECK(!utf8_valid("\xf8\x88\x80\x80\x80", 5));
}

static int hdr(const char *in, const char *expect)
{
    char **v = NULL;
    int n = addr_parse_header_list(in, 50, &v);
    char joined[1024] = "";
    if (n < 0) {
        str_copy(joined, "ERROR", sizeof(joined));
    } else {
        for (int i = 0; i < n; i++) {
            size_t l = strlen(joined);
            str_fmt(joined + l, sizeof(joined) - l, "%s%s", i ? "|" : "", v[i]);
        }
        strv_free(v);
    }
    if (strcmp(joined, expect) != 0) {
        fprintf(stderr, "header [%s]: expected [%s], got [%s]\n", in, expect, joined);
        return 0;
    }
    return 1;
}

static void test_header_list(void)
{
    CHECK(hdr("a@b.test", "a@b.test"));
    CHECK(hdr("  a@b.test  ", "a@b.test"));
    CHECK(hdr("a@b.test, c@d.test", "a@b.test|c@d.test"));
    CHECK(hdr("John Doe <jd@x.test>", "jd@x.test"));
    CHECK(hdr("\"Doe, John\" <jd@x.test>, other@y.test", "jd@x.test|other@y.test"));
    CHECK(hdr("jd@x.test (John Doe)", "jd@x.test"));
    CHECK(hdr("(c1) jd (c2) @ (c3) x.test (c4 (nested) )", "jd@x.test"));
    CHECK(hdr("John Q. Public <jqp@x.test>", "jqp@x.test"));
    CHECK(hdr("\"a b\"@x.test", "a b@x.test"));
    CHECK(hdr("\"a\\\"b\"@x.test", "a\"b@x.test"));
    CHECK(hdr("a.b.c@x.test", "a.b.c@x.test"));
    CHECK(hdr("u@[1.2.3.4]", "u@[1.2.3.4]"));
    CHECK(hdr("root", "root"));
    CHECK(hdr("Root <root>", "root"));
    CHECK(hdr("friends: a@x.test, B <b@y.test>;, c@z.test", "a@x.test|b@y.test|c@z.test"));
    CHECK(hdr("undisclosed-recipients:;", ""));
    CHECK(hdr("", ""));
    CHECK(hdr(" , ,a@b.test,,", "a@b.test"));
    CHECK(hdr("<@r1.test,@r2.test:u@x.test>", "u@x.test"));
    CHECK(hdr("x <>", ""));
    CHECK(hdr("a@b.test,\r\n\tc@d.test", "a@b.test|c@d.test"));
    CHECK(hdr("=?UTF-8?Q?J=C3=B6rg?= <j@x.test>", "j@x.test"));
    CHECK(hdr("J\xc3\xb6rg <j\xc3\xb6@x.test>", "j\xc3\xb6@x.test"));
    /* malformed or hostile */
    CHECK(hdr("John Doe", "ERROR"));
    CHECK(hdr("john doe@x.test", "ERROR"));
    CHECK(hdr("<a@b.test", "ERROR"));
    CHECK(hdr("a@b.test>", "ERROR"));
    CHECK(hdr("<a@b.test> trailing", "ERROR"));
    CHECK(hdr("<<a@b.test>>", "ERROR"));
    CHECK(hdr("\"unterminated@x.test", "ERROR"));
    CHECK(hdr("a@b.test (unterminated", "ERROR"));
    CHECK(hdr("a@[1.2.3.4", "ERROR"));
    CHECK(hdr("g: a@b.test", "ERROR"));
    CHECK(hdr("a@b.test;", "ERROR"));
    CHECK(hdr("g1: g2: a@b.test;;", "ERROR"));
    CHECK(hdr("a@", "ERROR"));
    CHECK(hdr("@b.test", "ERROR"));
    CHECK(hdr("a@b..test", "ERROR"));
    CHECK(hdr("a\x01@b.test", "ERROR"));
    CHECK(hdr("\"a\x01\"@b.test", "ERROR"));
    CHECK(hdr("j\xff@x.test", "ERROR"));
    char deep[200];
    memset(deep, '(', 100);
    memset(deep + 100, ')', 99);
    deep[199] = 0;
    CHECK(hdr(deep, "ERROR"));
    memset(deep, '(', 40);
    memset(deep + 40, ')', 40);
    str_copy(deep + 80, "a@b.test", sizeof(deep) - 80);
    CHECK(hdr(deep, "ERROR"));       /* nesting over the limit */
    memset(deep, '(', 10);
    memset(deep + 10, ')', 10);
    str_copy(deep + 20, "a@b.test", sizeof(deep) - 20);
    CHECK(hdr(deep, "a@b.test"));

    /* limits: max addresses, long tokens */
    char **v;
    CHECK_INT(addr_parse_header_list("a@x, b@x, c@x", 2, &v), -1);
    CHECK(v == NULL);
    CHECK_INT(addr_parse_header_list("a@x, b@x", 2, &v), 2);
    strv_free(v);
    char *big = xmalloc(100000);
    memset(big, 'a', 99999);
    big[99999] = 0;
    CHECK_INT(addr_parse_header_list(big, 50, &v), -1);
    for (size_t i = 0; i + 2 < 99999; i += 2) {
        big[i] = 'a';
        big[i + 1] = ',';
    }
    CHECK_INT(addr_parse_header_list(big, 50, &v), -1);     /* more than max */
    CHECK_INT(addr_parse_header_list(big, 100000, &v), 50000);
    strv_free(v);
    free(big);
}

/* The structured items as IMAP's ENVELOPE shows them:
 * (name route mailbox host), NIL for none, "!" after an invalid one. */
static int items(const char *in, int flags, const char *expect)
{
    struct addr_items it;
    char got[2048] = "";
    int n = addr_items_parse(in, 20, flags, &it);
    if (n < 0)
        str_copy(got, "ERROR", sizeof(got));
    for (int i = 0; i < n; i++) {
        const struct addr_item *a = &it.v[i];
        size_t l = strlen(got);
        str_fmt(got + l, sizeof(got) - l, "(%s %s %s %s)%s", a->name ? a->name : "NIL",
                a->route ? a->route : "NIL", a->mailbox ? a->mailbox : "NIL",
                a->domain ? a->domain : "NIL", a->invalid ? "!" : "");
    }
    if (n >= 0)
        addr_items_free(&it);
    if (strcmp(got, expect) != 0) {
        fprintf(stderr, "items [%s]: expected [%s], got [%s]\n", in, expect, got);
        return 0;
    }
    return 1;
}

static void test_address_items(void)
{
    /* Dovecot imaptest's fetch-envelope messages */
    CHECK(items("From Real <fromuser@fromdomain.org>", 0,
                "(From Real NIL fromuser fromdomain.org)"));
    CHECK(items("user@domain (Real Name)", 0, "(Real Name NIL user domain)"));
    CHECK(items("group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;", 0,
                "(NIL NIL group NIL)(NIL NIL g1 d1.org)(NIL NIL g2 d2.org)(NIL NIL NIL NIL)"
                "(NIL NIL group2 NIL)(NIL NIL g3 d3.org)(NIL NIL NIL NIL)"));
    CHECK(items("group:;, group2: (foo) ;", 0,
                "(NIL NIL group NIL)(NIL NIL NIL NIL)(NIL NIL group2 NIL)(NIL NIL NIL NIL)"));
    CHECK(items("<@route:user@domain>", 0, "(NIL @route user domain)"));
    CHECK(items("", 0, ""));
    /* names: quotes removed, words joined, dots glued, encoded words kept */
    CHECK(items("\"Doe, John\" <jd@x.test>", 0, "(Doe, John NIL jd x.test)"));
    CHECK(items("John  Q.\r\n Public <jqp@x.test>", 0, "(John Q. Public NIL jqp x.test)"));
    CHECK(items("=?UTF-8?Q?J=C3=B6rg?= <j@x.test>", 0, "(=?UTF-8?Q?J=C3=B6rg?= NIL j x.test)"));
    CHECK(items("A <a@x.test> (comment)", 0, "(A NIL a x.test)"));
    CHECK(items("<a@x.test> (comment (nested))", 0, "(comment (nested) NIL a x.test)"));
    CHECK(items("<@r1.test,@r2.test:u@x.test>", 0, "(NIL @r1.test,@r2.test u x.test)"));
    CHECK(items("\"a b\"@[1.2.3.4]", 0, "(NIL NIL a b [1.2.3.4])"));
    CHECK(items("root", 0, "(NIL NIL root NIL)"));
    /* lenient: always an answer, with Dovecot's placeholders */
    CHECK(items("root", ADDRLIST_LENIENT, "(NIL NIL root MISSING_DOMAIN)!"));
    CHECK(items("John Doe", ADDRLIST_LENIENT, "(NIL NIL John Doe MISSING_DOMAIN)!"));
    CHECK(items("@b.test", ADDRLIST_LENIENT, "(NIL NIL MISSING_MAILBOX b.test)!"));
    CHECK(items("a@", ADDRLIST_LENIENT, "(NIL NIL a MISSING_DOMAIN)!"));
    CHECK(items("x <>", ADDRLIST_LENIENT, "(x NIL MISSING_MAILBOX MISSING_DOMAIN)!"));
    CHECK(items("x <>", 0, ""));
    CHECK(items("<a@b.test", ADDRLIST_LENIENT, "(NIL NIL a b.test)"));
    CHECK(items("a@b.test>", ADDRLIST_LENIENT, "(NIL NIL a b.test)"));
    CHECK(items("\"unterminated@x.test", ADDRLIST_LENIENT,
                "(NIL NIL unterminated@x.test MISSING_DOMAIN)!"));
    CHECK(items("a@b.test (unterminated", ADDRLIST_LENIENT, "(unterminated NIL a b.test)"));
    CHECK(items("g: a@b.test", ADDRLIST_LENIENT, "(NIL NIL g NIL)(NIL NIL a b.test)(NIL NIL NIL NIL)"));
    CHECK(items("g: a@b.test", 0, "ERROR"));
    CHECK(items("a@b.test;, c@d.test", ADDRLIST_LENIENT, "(NIL NIL a b.test)(NIL NIL c d.test)"));
    CHECK(items("g1: g2: a@b.test;;", ADDRLIST_LENIENT,
                "(NIL NIL g1 NIL)(NIL NIL NIL NIL)(NIL NIL g2 NIL)(NIL NIL a b.test)(NIL NIL NIL NIL)"));
    CHECK(items("a\x01@b.test", ADDRLIST_LENIENT, "(NIL NIL a b.test)"));
    CHECK(items("a\x7f@b.test", ADDRLIST_LENIENT, "(NIL NIL a b.test)"));
    CHECK(items("john doe@x.test", ADDRLIST_LENIENT, "(NIL NIL john doe x.test)!"));
    /* limits: strict counts addresses, lenient stops after max items */
    char many[200] = "";
    for (int i = 0; i < 30; i++)
        str_fmt(many + strlen(many), sizeof(many) - strlen(many), "%sa", i ? "," : "");
    struct addr_items it;
    CHECK_INT(addr_items_parse(many, 20, 0, &it), -1);
    CHECK(it.n == 0 && it.v == NULL);
    CHECK_INT(addr_items_parse(many, 20, ADDRLIST_LENIENT, &it), 20);
    addr_items_free(&it);
    char *big = xmalloc(10000);
    memset(big, 'a', 9999);
    big[9999] = 0;
    CHECK_INT(addr_items_parse(big, 20, 0, &it), -1);
    CHECK_INT(addr_items_parse(big, 20, ADDRLIST_LENIENT, &it), 1);
    CHECK(it.v[0].invalid && strlen(it.v[0].mailbox) < ADDRLIST_ELEM_TEXT);
    addr_items_free(&it);
    for (size_t i = 0; i < 9999; i++)
        big[i] = i % 2 ? '.' : 'a';
    CHECK_INT(addr_items_parse(big, 20, ADDRLIST_LENIENT, &it), 1);   /* token limit */
    CHECK(it.v[0].invalid);
    addr_items_free(&it);
    memset(big, '(', 9999);
    CHECK_INT(addr_items_parse(big, 20, 0, &it), -1);
    CHECK_INT(addr_items_parse(big, 20, ADDRLIST_LENIENT, &it), 0);
    free(big);
}

/* Random strings from an alphabet of troublesome bytes: no crash, no
 * overflow (ASan), results always NUL-terminated and within limits. */
static void test_random_inputs(void)
{
    static const char alpha[] = "<>\"\\@.:,;()[] \tab\r\n\x01\x7f\xc3\xa9\xff%!+=IPv6:0123456789";
    unsigned seed = 12345;
    char line[300], addr[ADDR_MAX + 1], *params;
    const char *why;
    int ok = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = (seed = seed * 1103515245 + 12345) % (sizeof(line) - 1);
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245 + 12345;
            line[i] = alpha[(seed >> 16) % (sizeof(alpha) - 1)];
        }
        line[n] = 0;
        char copy[300];
        memcpy(copy, line, n + 1);
        if (addr_parse_path(copy, iter & 1, iter & 2, addr, sizeof(addr), &params, &why) == 0) {
            ok++;
            CHECK(strlen(addr) <= ADDR_MAX);
            char ext[ADDR_MAX * 2 + 4];
            CHECK_INT(addr_external(addr, ext, sizeof(ext)), 0);
        }
        char **v;
        struct addr_items lax;
        CHECK(addr_items_parse(line, 20, ADDRLIST_LENIENT, &lax) >= 0);
        addr_items_free(&lax);
        int k = addr_parse_header_list(line, 20, &v);
        if (k >= 0) {
            for (int i = 0; i < k; i++)
                CHECK(strlen(v[i]) <= ADDR_MAX);
            strv_free(v);
        }
        struct esmtp_params p;
        char err[256];
        esmtp_parse_params(line, iter & 1, ESMTP_ALLOW_ALL, &p, err, sizeof(err));
        hostname_valid(line);
        addr_literal_valid(line);
    }
    CHECK(ok > 0);              /* some random strings are valid paths */
}

int main(void)
{
    T_RUN(test_paths);
    T_RUN(test_path_limits);
    T_RUN(test_path_reply);
    T_RUN(test_params_mail);
    T_RUN(test_params_rcpt);
    T_RUN(test_xtext);
    T_RUN(test_split_external);
    T_RUN(test_strip_ext);
    T_RUN(test_hostnames);
    T_RUN(test_utf8);
    T_RUN(test_header_list);
    T_RUN(test_address_items);
    T_RUN(test_random_inputs);
    return T_DONE();
}
