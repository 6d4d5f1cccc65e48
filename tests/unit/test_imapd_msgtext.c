/*
 * test_imapd_msgtext.c - the mail worker's message text helpers
 * (src/imapd/msgtext.c): RFC 5322 and IMAP dates, the header section
 * read with its bound, decoded field values, header and body matching
 * (RFC 2047 words, base64 and quoted-printable bodies, non-text parts
 * skipped, matches across read chunks).
 */
#include "imapd/msgtext.h"
#include "lib-imap/imap_search.h"
#include "lib/buf.h"
#include "t.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int tmpfile_with(const char *text, size_t len)
{
    char path[] = "/tmp/test_msgtext_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    if (write(fd, text, len) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

static void test_rfc5322_date(void)
{
    int64_t t;
    int32_t d;
    CHECK_INT(imapd_mt_rfc5322_date("Tue, 1 Jul 2003 10:52:37 +0200", 30, &t, &d), 0);
    CHECK_INT(t, 1057049557);
    CHECK_INT(d, imap_days_from_civil(2003, 7, 1));
    const char *s = "1 Jul 2003 00:30 +0200 (CEST)";
    CHECK_INT(imapd_mt_rfc5322_date(s, strlen(s), &t, &d), 0);
    CHECK_INT(d, imap_days_from_civil(2003, 7, 1));          /* its own zone's day */
    CHECK_INT(t, 1057012200);                                 /* 30 Jun 22:30 UTC */
    s = "Fri, 21 Nov 97 09:55:06 GMT";
    CHECK_INT(imapd_mt_rfc5322_date(s, strlen(s), &t, &d), 0);
    CHECK_INT(d, imap_days_from_civil(1997, 11, 21));
    s = "Mon, 4 Dec 2006 10:00:00 EST";
    CHECK_INT(imapd_mt_rfc5322_date(s, strlen(s), &t, &d), 0);
    CHECK_INT(t, 1165244400);
    static const char *const bad[] = {"", "yesterday", "31 Feb 2020 10:00:00 +0000",
                                      "1 Foo 2020 10:00 +0000", "1 Jan 2020", "1 Jan 2020 25:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_INT(imapd_mt_rfc5322_date(bad[i], strlen(bad[i]), &t, &d), -1);
}

static void test_imap_datetime(void)
{
    int64_t t;
    CHECK_INT(imapd_mt_imap_datetime("17-Jul-1996 02:44:25 -0700", 26, &t), 0);
    CHECK_INT(t, 837596665);
    CHECK_INT(imapd_mt_imap_datetime(" 7-Jul-1996 02:44:25 +0000", 26, &t), 0);
    CHECK_INT(t, 836707465);
    CHECK_INT(imapd_mt_imap_datetime("7-Jul-1996 02:44:25 +0000", 25, &t), -1);
    CHECK_INT(imapd_mt_imap_datetime("17-Jul-1996 02:44:25 0700 ", 26, &t), -1);
    CHECK_INT(imapd_mt_imap_datetime("17-Xyz-1996 02:44:25 +0700", 26, &t), -1);
}

static void test_ci_find(void)
{
    CHECK(imapd_mt_ci_find("Hello World", 11, "WORLD", 5));
    CHECK(imapd_mt_ci_find("abc", 3, "", 0));
    CHECK(!imapd_mt_ci_find("abc", 3, "abcd", 4));
    CHECK(imapd_mt_ci_find("a\0bXy", 5, "xY", 2));
}

static const char msg1[] =
    "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>\r\n"
    "To: a@example.com,\r\n b@example.com\r\n"
    "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n"
    " Berlin\r\n"
    "X-Empty:\r\n"
    "Content-Type: multipart/mixed; boundary=\"bb\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--bb\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "U2VjcmV0IHBhc3N3b3JkOiBzd29yZGZpc2g=\r\n"
    "--bb\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "binaryneedle\r\n"
    "--bb\r\n"
    "Content-Type: text/html; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<p>Sch=F6ne Gr=FC=DFe</p>\r\n"
    "--bb--\r\n";

static void test_header(void)
{
    int fd = tmpfile_with(msg1, sizeof(msg1) - 1);
    CHECK(fd >= 0);
    struct buf h;
    buf_init(&h, IMAPD_MT_HEADER_MAX + 1);
    CHECK_INT(imapd_mt_read_header(fd, &h), 0);
    CHECK(h.len > 0 && h.len < sizeof(msg1));
    CHECK(memcmp(h.data + h.len - 4, "\"\r\n\r\n", 4) != 0);
    CHECK(strstr(h.data, "preamble") == NULL);
    struct buf v;
    buf_init(&v, 4096);
    CHECK_INT(imapd_mt_header_value(h.data, h.len, "subject", &v), 1);
    CHECK_STR(buf_cstr(&v), "Grüße aus Berlin");
    buf_reset(&v);
    CHECK_INT(imapd_mt_header_value(h.data, h.len, "Cc", &v), 0);
    CHECK_INT(imapd_mt_header_raw(h.data, h.len, "From", &v), 1);
    CHECK_STR(buf_cstr(&v), "=?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>");
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "From", "jörg"), 1);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "FROM", "JOERG@"), 1);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "to", "b@EXAMPLE"), 1);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "to", "c@example"), 0);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "X-Empty", ""), 1);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, "X-Missing", ""), 0);
    CHECK_INT(imapd_mt_header_match(h.data, h.len, NULL, "subject: grü"), 1);
    buf_free(&v);
    buf_free(&h);
    close(fd);
}

static void test_addresses(void)
{
    const char *h = "From: user-from (c) @ (c) domain.org\r\n"
                    "To: grp: a@x.org, =?UTF-8?Q?J=C3=B6rg?= <b@y.org>;, other:;\r\n"
                    "Cc: x@y.org (Real Name)\r\n\r\n";
    size_t n = strlen(h);
    CHECK_INT(imapd_mt_address_match(h, n, "From", "user-from@domain.org"), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "To", "grp"), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "To", "OTHER"), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "To", "jörg <b@"), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "To", "c@z"), 0);
    CHECK_INT(imapd_mt_address_match(h, n, "Cc", "real name"), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "Cc", ""), 1);
    CHECK_INT(imapd_mt_address_match(h, n, "Bcc", ""), 0);
    CHECK_INT(imapd_mt_address_match(h, n, "From", "(c)"), 0);
}

static void test_body(void)
{
    int fd = tmpfile_with(msg1, sizeof(msg1) - 1);
    CHECK_INT(imapd_mt_body_match(fd, "SWORDFISH"), 1);      /* base64 decoded */
    CHECK_INT(imapd_mt_body_match(fd, "SCHÖNE"), 0);         /* ASCII folding only */
    CHECK_INT(imapd_mt_body_match(fd, "Schöne Grüße"), 1);   /* QP, latin-1 to UTF-8 */
    CHECK_INT(imapd_mt_body_match(fd, "binaryneedle"), 0);   /* not a text part */
    CHECK_INT(imapd_mt_body_match(fd, "U2VjcmV0"), 0);       /* raw base64 is not text */
    CHECK_INT(imapd_mt_body_match(fd, "Berlin"), 0);         /* the header is not body */
    close(fd);

    /* a needle across the 64 KB read chunks */
    size_t n = 200000;
    char *big = malloc(n + 64);
    const char *hdr = "Subject: big\r\n\r\n";
    size_t hl = strlen(hdr);
    memcpy(big, hdr, hl);
    memset(big + hl, 'x', n - hl);
    memcpy(big + 65536 - 3, "NeEdLe", 6);
    fd = tmpfile_with(big, n);
    CHECK_INT(imapd_mt_body_match(fd, "needle"), 1);
    CHECK_INT(imapd_mt_body_match(fd, "needlex"), 1);
    CHECK_INT(imapd_mt_body_match(fd, "xneedlexy"), 0);
    close(fd);
    free(big);
}

int main(void)
{
    T_RUN(test_rfc5322_date);
    T_RUN(test_imap_datetime);
    T_RUN(test_ci_find);
    T_RUN(test_header);
    T_RUN(test_addresses);
    T_RUN(test_body);
    return T_DONE();
}
