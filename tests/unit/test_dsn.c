/* Unit tests for RFC 3464 delivery status notifications (dsn.c). */
#include "t.h"
#include "lib-mail/dsn.h"
#include "lib/util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *MSG =
    "Received: from client.example.org by mx.example.com\n"
    "From: Alice <alice@example.org>\n"
    "To: bob@example.com\n"
    "Subject: hello\n"
    "\n"
    "Body line 1\n"
    "--not-a-boundary\n"
    "Body line 3\n";

static struct dsn_config cfg = {"mx.example.com", "yubin", 50000};

/* A parsed report: top headers and up to 4 parts (each headers + body). */
struct report {
    char *all;
    char *top;               /* top-level header section */
    char boundary[128];
    char *part[4];
    int nparts;
    int closed;              /* saw the closing delimiter */
};

static void report_free(struct report *r)
{
    free(r->all);
    free(r->top);
    for (int i = 0; i < r->nparts; i++)
        free(r->part[i]);
    memset(r, 0, sizeof(*r));
}

/* Split the message at its boundary the way a MIME parser would (line based). */
static int report_parse(struct report *r, const char *msg)
{
    memset(r, 0, sizeof(*r));
    r->all = xstrdup(msg);
    const char *eoh = strstr(msg, "\n\n");
    if (!eoh)
        return -1;
    r->top = xstrndup(msg, (size_t)(eoh - msg) + 1);
    const char *b = strstr(r->top, "boundary=\"");
    if (!b)
        return -1;
    b += 10;
    size_t blen = strcspn(b, "\"");
    if (blen == 0 || blen >= sizeof(r->boundary))
        return -1;
    memcpy(r->boundary, b, blen);
    r->boundary[blen] = '\0';
    char delim[160], close[160];
    snprintf(delim, sizeof(delim), "\n--%s\n", r->boundary);
    snprintf(close, sizeof(close), "\n--%s--\n", r->boundary);
    const char *p = strstr(eoh + 1, delim);
    while (p && r->nparts < 4) {
        const char *start = p + strlen(delim);
        const char *next = strstr(start, delim);
        const char *end = strstr(start, close);
        if (next && (!end || next < end)) {
            r->part[r->nparts++] = xstrndup(start, (size_t)(next - start));
            p = next;
        } else if (end) {
            r->part[r->nparts++] = xstrndup(start, (size_t)(end - start));
            r->closed = strcmp(end + strlen(close), "") == 0;
            break;
        } else {
            break;
        }
    }
    return 0;
}

/* Body of a part (after its header section). */
static const char *part_body(const char *part)
{
    const char *e = strstr(part, "\n\n");
    return e ? e + 2 : "";
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

static struct dsn_envelope env_basic(void)
{
    struct dsn_envelope e = {"4ZxMzF3TQSz9sPg", "alice@example.org", "ENV123", DSN_RET_UNSET,
                             1700000000ull * 1000000u, 0};
    return e;
}

static int build(enum dsn_kind kind, const struct dsn_envelope *e, const struct dsn_rcpt *r,
                 size_t n, const struct dsn_content *c, struct report *rep)
{
    struct buf out;
    buf_init(&out, 0);
    char err[256] = "";
    int rc = dsn_build(&cfg, kind, e, r, n, c, &out, err, sizeof(err));
    if (rc == 0)
        report_parse(rep, buf_cstr(&out));
    else
        memset(rep, 0, sizeof(*rep));
    buf_free(&out);
    return rc;
}

static void test_bounce_structure(void)
{
    struct dsn_envelope e = env_basic();
    struct dsn_rcpt r[2] = {
        {"bob@example.com", "rfc822;Bob@Example.com", DSN_ACTION_FAILED, "5.1.1",
         "smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected", "mx.example.com",
         1700000100ull * 1000000u, 0},
        {"carol@example.net", NULL, DSN_ACTION_FAILED, "5.1.1", "unknown user: \"carol\"", NULL, 0, 0},
    };
    struct dsn_content c = {MSG, -1, NULL, 0, strlen(MSG)};
    struct report rep;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, r, 2, &c, &rep), 0);
    CHECK(strstr(rep.top, "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\n") != NULL);
    CHECK(strstr(rep.top, "\nTo: alice@example.org\n") != NULL);
    CHECK(strstr(rep.top, "\nSubject: Undelivered Mail Returned to Sender\n") != NULL);
    CHECK(strstr(rep.top, "\nAuto-Submitted: auto-replied\n") != NULL);
    CHECK(strstr(rep.top, "\nMIME-Version: 1.0\n") != NULL);
    CHECK(strstr(rep.top, "\nDate: ") != NULL);
    CHECK(strstr(rep.top, "\nMessage-ID: <") != NULL && strstr(rep.top, "@mx.example.com>\n") != NULL);
    CHECK(strstr(rep.top, "Content-Type: multipart/report; report-type=delivery-status;") != NULL);
    CHECK(strstr(rep.top, "Content-Transfer-Encoding") == NULL);     /* all ASCII */
    CHECK_INT(rep.nparts, 3);
    CHECK(rep.closed);
    /* the boundary occurs only as delimiters */
    char delim[160];
    snprintf(delim, sizeof(delim), "--%s", rep.boundary);
    CHECK_INT(count(rep.all, delim), 4);

    /* part 1: human readable, one line per recipient */
    CHECK(strstr(rep.part[0], "Content-Type: text/plain; charset=us-ascii\n") != NULL);
    CHECK(strstr(rep.part[0], "<bob@example.com>: failed, reported by mx.example.com: 550 5.1.1") != NULL);
    CHECK(strstr(rep.part[0], "<carol@example.net>: failed: unknown user: \"carol\"") != NULL);
    CHECK(strstr(rep.part[0], "postmaster@mx.example.com") != NULL);

    /* part 2: machine readable */
    const char *ds = rep.part[1];
    CHECK(strncmp(ds, "Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n",
                  strlen("Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n")) == 0);
    const char *body = part_body(ds);
    CHECK(strncmp(body, "Reporting-MTA: dns; mx.example.com\n", 35) == 0);
    CHECK(strstr(body, "X-Yubin-Queue-ID: 4ZxMzF3TQSz9sPg\n") != NULL);
    CHECK(strstr(body, "X-Yubin-Sender: rfc822; alice@example.org\n") != NULL);
    CHECK(strstr(body, "Original-Envelope-Id: ENV123\n") != NULL);
    CHECK(strstr(body, "Arrival-Date: ") != NULL);
    /* per-recipient groups are separated by blank lines */
    CHECK_INT(count(body, "\n\n"), 2);
    const char *g1 = strstr(body, "\n\nFinal-Recipient: rfc822; bob@example.com\n");
    const char *g2 = strstr(body, "\n\nFinal-Recipient: rfc822; carol@example.net\n");
    CHECK(g1 != NULL && g2 != NULL && g1 < g2);
    if (g1 && g2) {
        char *grp = xstrndup(g1, (size_t)(g2 - g1));
        CHECK(strstr(grp, "Original-Recipient: rfc822; Bob@Example.com\n") != NULL);
        CHECK(strstr(grp, "Action: failed\n") != NULL);
        CHECK(strstr(grp, "Status: 5.1.1\n") != NULL);
        CHECK(strstr(grp, "Remote-MTA: dns; mx.example.com\n") != NULL);
        CHECK(strstr(grp, "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected\n") != NULL);
        CHECK(strstr(grp, "Last-Attempt-Date: ") != NULL);
        CHECK(strstr(grp, "Will-Retry-Until") == NULL);
        free(grp);
        CHECK(strstr(g2, "Original-Recipient") == NULL);
        CHECK(strstr(g2, "Diagnostic-Code: X-Yubin; unknown user: \"carol\"\n") != NULL);
        CHECK(strstr(g2, "Remote-MTA") == NULL);
    }
    /* part 3: the full original, byte for byte (RET unset = full) */
    CHECK(strstr(rep.part[2], "Content-Type: message/rfc822\n\n") != NULL);
    CHECK_STR(part_body(rep.part[2]), MSG);
    report_free(&rep);
}

static void test_ret_hdrs_and_size_limit(void)
{
    struct dsn_envelope e = env_basic();
    struct dsn_rcpt r = {"bob@example.com", NULL, DSN_ACTION_FAILED, "5.2.2", "mailbox full", NULL, 0, 0};
    struct dsn_content c = {MSG, -1, NULL, 0, strlen(MSG)};
    const char *hdrs_end = strstr(MSG, "\n\n") + 1;
    char *hdrs = xstrndup(MSG, (size_t)(hdrs_end - MSG));
    struct report rep;

    e.ret = DSN_RET_HDRS;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_INT(rep.nparts, 3);
    CHECK(strstr(rep.part[2], "Content-Type: text/rfc822-headers\n\n") != NULL);
    CHECK_STR(part_body(rep.part[2]), hdrs);
    CHECK(strstr(rep.all, "Body line 1") == NULL);
    CHECK(strstr(rep.part[0], "The headers of your message are attached") != NULL);
    report_free(&rep);

    /* RET=FULL but larger than bounce_size_limit: headers only */
    e.ret = DSN_RET_FULL;
    cfg.bounce_size_limit = strlen(MSG) - 1;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.part[2], "Content-Type: text/rfc822-headers\n\n") != NULL);
    CHECK_STR(part_body(rep.part[2]), hdrs);
    report_free(&rep);
    /* exactly at the limit: the full message */
    cfg.bounce_size_limit = strlen(MSG);
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.part[2], "Content-Type: message/rfc822\n\n") != NULL);
    CHECK_STR(part_body(rep.part[2]), MSG);
    report_free(&rep);
    /* header section itself over the limit: cut at a line boundary */
    cfg.bounce_size_limit = 60;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_STR(part_body(rep.part[2]), "Received: from client.example.org by mx.example.com\n");
    report_free(&rep);
    /* nothing fits: no third part */
    cfg.bounce_size_limit = 10;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_INT(rep.nparts, 2);
    CHECK(rep.closed);
    report_free(&rep);
    cfg.bounce_size_limit = 50000;
    free(hdrs);
}

static void test_delay_and_success(void)
{
    struct dsn_envelope e = env_basic();
    e.envid = NULL;
    e.ret = DSN_RET_FULL;
    struct dsn_rcpt r = {"bob@example.com", NULL, DSN_ACTION_DELAYED, "4.4.1",
                         "connect to mx.example.com[192.0.2.1]:25: Connection timed out", NULL,
                         1700003600ull * 1000000u, 1700432000ull * 1000000u};
    struct dsn_content c = {MSG, -1, NULL, 0, strlen(MSG)};
    struct report rep;
    CHECK_INT(build(DSN_KIND_DELAY, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.top, "Subject: Delayed Mail (still being retried)\n") != NULL);
    CHECK(strstr(rep.part[1], "Action: delayed\n") != NULL);
    CHECK(strstr(rep.part[1], "Status: 4.4.1\n") != NULL);
    CHECK(strstr(rep.part[1], "Will-Retry-Until: ") != NULL);
    CHECK(strstr(rep.part[1], "Original-Envelope-Id") == NULL);
    CHECK(strstr(rep.part[0], "It will keep trying until") != NULL);
    /* delay warnings return headers only, even with RET=FULL */
    CHECK(strstr(rep.part[2], "Content-Type: text/rfc822-headers\n") != NULL);
    CHECK(strstr(rep.all, "Body line 1") == NULL);
    report_free(&rep);

    r.action = DSN_ACTION_DELIVERED;
    r.status = "2.0.0";
    r.diag = NULL;
    r.will_retry_until_usec = 0;
    CHECK_INT(build(DSN_KIND_SUCCESS, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.top, "Subject: Successful Mail Delivery Report\n") != NULL);
    CHECK(strstr(rep.part[1], "Action: delivered\n") != NULL);
    CHECK(strstr(rep.part[1], "Diagnostic-Code") == NULL);
    CHECK(strstr(rep.part[0], "<bob@example.com>: delivered (status 2.0.0)") != NULL);
    report_free(&rep);
}

static void test_smtputf8(void)
{
    const char *umsg = "From: J\xc3\xb6rg <j\xc3\xb6rg@example.de>\nSubject: gr\xc3\xbc\xc3\x9f\n\nHall\xc3\xb6\n";
    struct dsn_envelope e = env_basic();
    e.sender = "j\xc3\xb6rg@example.de";
    e.smtputf8 = 1;
    struct dsn_rcpt r = {"m\xc3\xbcller@example.com", "utf-8;m\xc3\xbcller@example.com", DSN_ACTION_FAILED,
                         "5.1.1", "unknown user", NULL, 0, 0};
    struct dsn_content c = {umsg, -1, NULL, 0, strlen(umsg)};
    struct report rep;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.top, "report-type=global-delivery-status;") != NULL);
    CHECK(strstr(rep.top, "Content-Transfer-Encoding: 8bit\n") != NULL);
    CHECK(strstr(rep.part[0], "charset=utf-8") != NULL);
    CHECK(strstr(rep.part[1], "Content-Type: message/global-delivery-status\n") != NULL);
    CHECK(strstr(rep.part[1], "Final-Recipient: utf-8; m\xc3\xbcller@example.com\n") != NULL);
    CHECK(strstr(rep.part[1], "Original-Recipient: utf-8; m\xc3\xbcller@example.com\n") != NULL);
    CHECK(strstr(rep.part[2], "Content-Type: message/global\n") != NULL);
    CHECK_STR(part_body(rep.part[2]), umsg);
    report_free(&rep);
    e.ret = DSN_RET_HDRS;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.part[2], "Content-Type: message/global-headers\n") != NULL);
    report_free(&rep);
}

static void test_hostile_text(void)
{
    struct dsn_envelope e = env_basic();
    e.envid = "x\nX-Injected: 1";
    struct dsn_rcpt r = {"bob@example.com", NULL, DSN_ACTION_FAILED, "5.0.0",
                         "smtp; 550 go away\r\n\r\n--fake-boundary--\nContent-Type: text/html", NULL, 0, 0};
    struct dsn_content c = {MSG, -1, NULL, 0, strlen(MSG)};
    struct report rep;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_INT(rep.nparts, 3);
    CHECK(strstr(rep.all, "\nX-Injected") == NULL);
    CHECK(strstr(rep.all, "\n--fake-boundary") == NULL);
    CHECK(strstr(rep.part[1], "Diagnostic-Code: smtp; 550 go away --fake-boundary-- Content-Type: text/html\n") != NULL);
    /* long texts are folded at blanks */
    report_free(&rep);
    r.diag = "smtp; 550-5.7.1 This message was rejected because the sending host is listed on a block list that we consult";
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.part[1], "Diagnostic-Code: smtp; 550-5.7.1 This message was rejected because the sending\n"
                              "\thost is listed on a block list that we consult\n") != NULL);
    /* a very long word is broken so that no line exceeds 998 bytes */
    char *longdiag = xmalloc(5000);
    memset(longdiag, 'x', 4999);
    longdiag[4999] = '\0';
    r.diag = longdiag;
    report_free(&rep);
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    int maxline = 0, cur = 0;
    for (const char *p = rep.all; *p; p++) {
        if (*p == '\n') {
            if (cur > maxline)
                maxline = cur;
            cur = 0;
        } else {
            cur++;
        }
    }
    CHECK(maxline <= 998);
    r.diag = "smtp; 550 no";
    free(longdiag);
    report_free(&rep);
    /* a quoted sender local part */
    e.sender = "john doe@example.org";
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK(strstr(rep.top, "\nTo: \"john doe\"@example.org\n") != NULL);
    report_free(&rep);
    /* fuzz_dsn: a long sender made the text part's "Message ..., sent by <...>:" line
     * longer than 998 bytes */
    char *longsender = xmalloc(1500);
    memset(longsender, 's', 1400);
    memcpy(longsender + 1400, "@example.org", 13);
    e.sender = longsender;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    maxline = cur = 0;
    for (const char *p = rep.all; *p; p++) {
        if (*p == '\n') {
            if (cur > maxline)
                maxline = cur;
            cur = 0;
        } else {
            cur++;
        }
    }
    CHECK(maxline <= 998);
    report_free(&rep);
    e.sender = "john doe@example.org";
    free(longsender);
    /* fuzz_dsn: the queue ID went into the MIME boundary as it was, line break and all */
    e.qid = "onl@ re[sdeh\r\nnk";
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_INT(rep.nparts, 3);
    CHECK(rep.closed);
    CHECK(strncmp(rep.boundary, "=_yubin_X_", 10) == 0);
    CHECK(strlen(rep.boundary) <= 70);
    report_free(&rep);
}

static void test_content_from_file(void)
{
    char dir[] = "/tmp/yubin-dsn-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char *path = xasprintf("%s/J1", dir);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECK(fd >= 0);
    const char *junk = "RECORD-HEADER-JUNK";
    CHECK(write(fd, junk, strlen(junk)) == (ssize_t)strlen(junk));
    CHECK(write(fd, MSG, strlen(MSG)) == (ssize_t)strlen(MSG));
    CHECK(write(fd, "TRAILER", 7) == 7);
    struct dsn_envelope e = env_basic();
    struct dsn_rcpt r = {"bob@example.com", NULL, DSN_ACTION_FAILED, "5.1.1", "x", NULL, 0, 0};
    struct dsn_content c = {NULL, fd, NULL, (off_t)strlen(junk), strlen(MSG)};
    struct report rep;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_STR(part_body(rep.part[2]), MSG);
    report_free(&rep);
    c.fd = -1;
    c.path = path;
    CHECK_INT(build(DSN_KIND_BOUNCE, &e, &r, 1, &c, &rep), 0);
    CHECK_STR(part_body(rep.part[2]), MSG);
    report_free(&rep);
    /* a truncated file is an error, not a short bounce */
    c.length = strlen(MSG) + 100;
    struct buf out;
    buf_init(&out, 0);
    char err[256] = "";
    CHECK_INT(dsn_build(&cfg, DSN_KIND_BOUNCE, &e, &r, 1, &c, &out, err, sizeof(err)), -1);
    CHECK(strstr(err, "unexpected end of file") != NULL);
    c.path = "/nonexistent/file";
    CHECK_INT(dsn_build(&cfg, DSN_KIND_BOUNCE, &e, &r, 1, &c, &out, err, sizeof(err)), -1);
    CHECK(strstr(err, "/nonexistent/file") != NULL);
    /* the null sender never gets a notification */
    e.sender = "";
    c.path = path;
    c.length = strlen(MSG);
    CHECK_INT(dsn_build(&cfg, DSN_KIND_BOUNCE, &e, &r, 1, &c, &out, err, sizeof(err)), -1);
    CHECK_INT(dsn_build(&cfg, DSN_KIND_BOUNCE, &e, &r, 0, &c, &out, err, sizeof(err)), -1);
    CHECK_INT(out.len, 0);
    buf_free(&out);
    close(fd);
    unlink(path);
    rmdir(dir);
    free(path);
}

/* Cross-check with an independent MIME parser when python3 is available. */
static void test_python_email_parses(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_python_email_parses: /usr/bin/python3 missing, skipped\n");
        return;
    }
    struct dsn_envelope e = env_basic();
    struct dsn_rcpt r[2] = {
        {"bob@example.com", NULL, DSN_ACTION_FAILED, "5.1.1", "smtp; 550 5.1.1 no such user",
         "mx.example.com", 0, 0},
        {"carol@example.net", NULL, DSN_ACTION_FAILED, "5.2.2", "mailbox full", NULL, 0, 0},
    };
    struct dsn_content c = {MSG, -1, NULL, 0, strlen(MSG)};
    struct buf out;
    buf_init(&out, 0);
    char err[256];
    CHECK_INT(dsn_build(&cfg, DSN_KIND_BOUNCE, &e, r, 2, &c, &out, err, sizeof(err)), 0);
    char tmpl[] = "/tmp/yubin-dsn-py-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    CHECK(write(fd, out.data, out.len) == (ssize_t)out.len);
    close(fd);
    char *cmd = xasprintf(
        "/usr/bin/python3 -c '"
        "import email, sys\n"
        "m = email.message_from_file(open(sys.argv[1]))\n"
        "assert m.get_content_type() == \"multipart/report\", m.get_content_type()\n"
        "assert m.get_param(\"report-type\") == \"delivery-status\"\n"
        "p = m.get_payload()\n"
        "assert [x.get_content_type() for x in p] == [\"text/plain\", \"message/delivery-status\", \"message/rfc822\"], [x.get_content_type() for x in p]\n"
        "ds = p[1].get_payload()\n"
        "assert len(ds) == 3, len(ds)\n"
        "assert ds[0][\"Reporting-MTA\"] == \"dns; mx.example.com\"\n"
        "assert ds[1][\"Final-Recipient\"] == \"rfc822; bob@example.com\"\n"
        "assert ds[2][\"Status\"] == \"5.2.2\"\n"
        "orig = p[2].get_payload()[0]\n"
        "assert orig[\"Subject\"] == \"hello\"\n"
        "assert orig.get_payload() == \"Body line 1\\n--not-a-boundary\\nBody line 3\\n\", repr(orig.get_payload())\n"
        "assert not m.defects and not p[0].defects, m.defects\n"
        "' %s", tmpl);
    int st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(cmd);
    unlink(tmpl);
    buf_free(&out);
}

int main(void)
{
    T_RUN(test_bounce_structure);
    T_RUN(test_ret_hdrs_and_size_limit);
    T_RUN(test_delay_and_success);
    T_RUN(test_smtputf8);
    T_RUN(test_hostile_text);
    T_RUN(test_content_from_file);
    T_RUN(test_python_email_parses);
    return T_DONE();
}
