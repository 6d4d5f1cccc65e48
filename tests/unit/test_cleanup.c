/* Unit tests for src/cleanup/cleanup.c. */
#include "t.h"
#include "lib-mail/cleanup.h"

#include <stdlib.h>
#include <string.h>

static void test_scan_headers(void)
{
    const char *m = "Received: from a\n\tby b\nreceived: x\nFrom: A <a@x>\n"
                    "Message-ID:  <id@x>  \nSubject: hi\n folded\n\nReceived: not a header\n";
    struct header_info hi;
    cleanup_scan_headers(m, strlen(m), &hi);
    CHECK_INT(hi.received_count, 2);
    CHECK(hi.has_from);
    CHECK(!hi.has_date);
    CHECK(hi.has_message_id);
    CHECK_STR(hi.message_id, "<id@x>");
    CHECK_INT(hi.header_bytes, strstr(m, "\n\n") - m + 1); /* without the blank line */
}

static void test_scan_no_headers(void)
{
    struct header_info hi;
    cleanup_scan_headers("just a body line\nReceived: x\n", 29, &hi);
    CHECK_INT(hi.received_count, 0);
    CHECK_INT(hi.header_bytes, 0);
    cleanup_scan_headers("", 0, &hi);
    CHECK_INT(hi.received_count, 0);
    /* A header block without a body or final newline. */
    cleanup_scan_headers("Received: a\nReceived: b", 23, &hi);
    CHECK_INT(hi.received_count, 2);
    /* Leading continuation line is body. */
    cleanup_scan_headers(" x\nReceived: a\n", 15, &hi);
    CHECK_INT(hi.received_count, 0);
}

static void test_message_id_is_log_safe(void)
{
    const char *m = "Message-ID: <a\n\tb@x>\n\n";
    struct header_info hi;
    cleanup_scan_headers(m, strlen(m), &hi);
    CHECK(strchr(hi.message_id, '\n') == NULL);
    CHECK(strchr(hi.message_id, '\t') == NULL);
}

static void test_received(void)
{
    struct buf b;
    buf_init(&b, 0);
    struct received_info ri = {.helo = "client.test", .client_name = "localhost",
                               .client_addr = "127.0.0.1", .myhostname = "mx.example.test",
                               .mail_name = "yubin", .protocol = "ESMTP", .qid = "4AbCdEf",
                               .for_rcpt = "bob@example.test", .when = 0};
    CHECK_INT(cleanup_received(&b, &ri), 0);
    CHECK(strncmp(buf_cstr(&b), "Received: from client.test (localhost [127.0.0.1])\n"
                               "\tby mx.example.test (yubin) with ESMTP id 4AbCdEf\n"
                               "\tfor <bob@example.test>; ", 124) == 0);
    CHECK(b.data[b.len - 1] == '\n');
    buf_free(&b);
}

static void test_missing_headers(void)
{
    struct buf b;
    buf_init(&b, 0);
    struct header_info hi;
    memset(&hi, 0, sizeof(hi));
    CHECK_INT(cleanup_missing_headers(&b, &hi, "QID1", "h.test", "u@h.test", 86400), 0);
    CHECK(strstr(buf_cstr(&b), "Date: ") != NULL);
    CHECK(strstr(buf_cstr(&b), "Message-Id: <19700102000000.QID1@h.test>\n") != NULL);
    CHECK(strstr(buf_cstr(&b), "From: u@h.test\n") != NULL);
    buf_reset(&b);
    hi.has_date = hi.has_message_id = hi.has_from = 1;
    CHECK_INT(cleanup_missing_headers(&b, &hi, "QID1", "h.test", "u@h.test", 0), 0);
    CHECK_INT(b.len, 0);
    buf_free(&b);
}

static void test_date_format(void)
{
    setenv("TZ", "UTC", 1);
    char d[80];
    rfc5322_date(d, sizeof(d), 0);
    CHECK_STR(d, "Thu, 01 Jan 1970 00:00:00 +0000 (UTC)");
}

int main(void)
{
    T_RUN(test_scan_headers);
    T_RUN(test_scan_no_headers);
    T_RUN(test_message_id_is_log_safe);
    T_RUN(test_received);
    T_RUN(test_missing_headers);
    T_RUN(test_date_format);
    return T_DONE();
}
