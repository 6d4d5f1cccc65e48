/* Unit tests for hcheck.c: header_checks(5) classes and actions over
 * streamed content. The "tables" are rules: a class, a substring the text
 * must contain, and the action. */
#include "t.h"
#include "lib-mail/hcheck.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>

struct rule {
    enum hc_class cls;
    const char *needle;
    const char *action;
};

struct run {
    const struct rule *rules;
    size_t nrules;
    struct buf out;
    struct buf log;
    struct buf seen;                     /* "<class>|<text>\n" for every lookup */
    int fail_lookups;
};

static int fake_lookup(void *ctx, enum hc_class cls, const char *text, struct buf *result)
{
    struct run *r = ctx;
    buf_printf(&r->seen, "%d|%s\n", (int)cls, text);
    if (r->fail_lookups)
        return -1;
    for (size_t i = 0; i < r->nrules; i++)
        if (r->rules[i].cls == cls && strstr(text, r->rules[i].needle)) {
            buf_printf(result, "%s", r->rules[i].action);
            return 1;
        }
    return 0;
}

static int fake_emit(void *ctx, const char *data, size_t len)
{
    struct run *r = ctx;
    return buf_append(&r->out, data, len);
}

static void fake_log(void *ctx, const char *action, const char *what, const char *text,
                     const char *opt)
{
    struct run *r = ctx;
    buf_printf(&r->log, "%s: %s %s: %s\n", action, what, text, opt);
}

static const struct hc_ops ops = {fake_lookup, fake_emit, fake_log};

/* Feed msg in pieces of step bytes (0: all at once). */
static struct hcheck *run_msg(struct run *r, const struct rule *rules, size_t n, const char *msg,
                              size_t step, size_t body_limit)
{
    memset(r, 0, sizeof(*r));
    r->rules = rules;
    r->nrules = n;
    buf_init(&r->out, 0);
    buf_init(&r->log, 0);
    buf_init(&r->seen, 0);
    struct hcheck *h = hcheck_new(&ops, r, body_limit);
    size_t len = strlen(msg);
    if (!step)
        step = len ? len : 1;
    for (size_t off = 0; off < len; off += step)
        CHECK_INT(hcheck_feed(h, msg + off, off + step > len ? len - off : step), 0);
    CHECK_INT(hcheck_finish(h), 0);
    return h;
}

static void done(struct run *r, struct hcheck *h)
{
    hcheck_free(h);
    buf_free(&r->out);
    buf_free(&r->log);
    buf_free(&r->seen);
}

static const char plain[] =
    "Received: from x\n\tby y\n"
    "Subject: buy cheap pills\n"
    "From: a@b.test\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain\n"
    "\n"
    "hello\n"
    "visit http://spam.example/ now\n";

static void test_no_match_is_unchanged(void)
{
    static const size_t steps[] = {0, 1, 3, 7};
    for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
        struct run r;
        struct hcheck *h = run_msg(&r, NULL, 0, plain, steps[i], 51200);
        CHECK_STR(buf_cstr(&r.out), plain);
        /* every logical header once (folded ones whole), every body line once */
        CHECK_STR(buf_cstr(&r.seen), "0|Received: from x\n\tby y\n"
                                     "0|Subject: buy cheap pills\n"
                                     "0|From: a@b.test\n"
                                     "1|MIME-Version: 1.0\n"
                                     "1|Content-Type: text/plain\n"
                                     "3|hello\n"
                                     "3|visit http://spam.example/ now\n");
        const struct hc_verdict *v = hcheck_verdict(h);
        CHECK(!v->reject && !v->discard && !v->hold && !v->lookup_error);
        done(&r, h);
    }
}

static void test_reject(void)
{
    static const struct rule rules[] = {{HC_HEADER, "cheap pills", "REJECT no pills here"}};
    struct run r;
    struct hcheck *h = run_msg(&r, rules, 1, plain, 5, 51200);
    const struct hc_verdict *v = hcheck_verdict(h);
    CHECK_INT(v->reject, 5);
    CHECK_STR(v->reject_text, "5.7.1 no pills here");
    CHECK_STR(buf_cstr(&r.log), "reject: header Subject: buy cheap pills: 5.7.1 no pills here\n");
    /* nothing looked up after the reject; the content still flows */
    CHECK(strstr(buf_cstr(&r.seen), "From:") == NULL);
    CHECK_STR(buf_cstr(&r.out), plain);
    done(&r, h);

    static const struct rule r2[] = {{HC_BODY, "spam.example", "REJECT 4.7.0 try later"}};
    h = run_msg(&r, r2, 1, plain, 0, 51200);
    CHECK_INT(hcheck_verdict(h)->reject, 4);
    CHECK_STR(hcheck_verdict(h)->reject_text, "4.7.0 try later");
    done(&r, h);

    static const struct rule r3[] = {{HC_BODY, "spam.example", "REJECT"}};
    h = run_msg(&r, r3, 1, plain, 0, 51200);
    CHECK_STR(hcheck_verdict(h)->reject_text, "5.7.1 message content rejected");
    done(&r, h);
}

static void test_edits(void)
{
    static const struct rule rules[] = {
        {HC_HEADER, "Received:", "IGNORE"},
        {HC_HEADER, "Subject:", "REPLACE Subject: [SPAM] pills"},
        {HC_HEADER, "From:", "PREPEND X-Checked: yes"},
        {HC_BODY, "hello", "REPLACE hi"},
        {HC_BODY, "spam.example", "STRIP link removed"},
        {HC_MIME_HEADER, "Content-Type", "REPLACE not a header"},   /* refused: kept */
    };
    struct run r;
    struct hcheck *h = run_msg(&r, rules, ARRAY_LEN(rules), plain, 2, 51200);
    CHECK_STR(buf_cstr(&r.out), "Subject: [SPAM] pills\n"
                                "X-Checked: yes\n"
                                "From: a@b.test\n"
                                "MIME-Version: 1.0\n"
                                "Content-Type: text/plain\n"
                                "\n"
                                "hi\n");
    CHECK_STR(buf_cstr(&r.log), "strip: body visit http://spam.example/ now: link removed\n");
    done(&r, h);
}

static void test_collected_actions(void)
{
    static const struct rule rules[] = {
        {HC_HEADER, "Subject:", "HOLD look at this"},
        {HC_HEADER, "From:", "BCC audit@example.test"},
        {HC_MIME_HEADER, "MIME-Version", "FILTER smtp:[127.0.0.1]:10025"},
        {HC_BODY, "hello", "REDIRECT trap@example.test"},
        {HC_BODY, "visit", "WARN a link"},
        {HC_BODY, "nothing", "DISCARD"},
    };
    struct run r;
    struct hcheck *h = run_msg(&r, rules, ARRAY_LEN(rules), plain, 0, 51200);
    const struct hc_verdict *v = hcheck_verdict(h);
    CHECK(v->hold && !v->discard && !v->reject);
    CHECK_STR(v->hold_text, "look at this");
    CHECK_INT(v->nbcc, 1);
    CHECK_STR(v->nbcc ? v->bcc[0] : NULL, "audit@example.test");
    CHECK_STR(v->filter, "smtp:[127.0.0.1]:10025");
    CHECK_STR(v->redirect, "trap@example.test");
    CHECK(strstr(buf_cstr(&r.log), "warning: body visit http://spam.example/ now: a link\n"));
    CHECK(strstr(buf_cstr(&r.log), "hold: header Subject: buy cheap pills: look at this\n"));
    CHECK_STR(buf_cstr(&r.out), plain);
    done(&r, h);
}

static const char mime_msg[] =
    "Subject: outer\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\n"
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain\n"
    "X-Part: one\n"
    "\n"
    "part one\n"
    "--XX\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner body\n"
    "--XX--\n"
    "epilogue\n";

static void test_mime_classes(void)
{
    struct run r;
    struct hcheck *h = run_msg(&r, NULL, 0, mime_msg, 4, 51200);
    CHECK_STR(buf_cstr(&r.out), mime_msg);
    CHECK_STR(buf_cstr(&r.seen), "0|Subject: outer\n"
                                 "1|Content-Type: multipart/mixed; boundary=\"XX\"\n"
                                 "3|preamble\n"
                                 "3|--XX\n"
                                 "1|Content-Type: text/plain\n"   /* X-Part: not inspected */
                                 "3|part one\n"
                                 "3|--XX\n"
                                 "1|Content-Type: message/rfc822\n"
                                 "2|Subject: inner\n"
                                 "1|Content-Type: text/plain\n"
                                 "3|inner body\n"
                                 "3|--XX--\n"
                                 "3|epilogue\n");
    done(&r, h);
}

static void test_limits(void)
{
    /* body_checks_size_limit: each part's first bytes only */
    struct run r;
    struct hcheck *h = run_msg(&r, NULL, 0, "Subject: s\n\n0123456789\nabcdefghij\nlast\n", 0, 11);
    CHECK_STR(buf_cstr(&r.seen), "0|Subject: s\n3|0123456789\n");
    done(&r, h);

    /* An over-long body line: its start inspected, all of it passed on. */
    size_t n = HC_LINE_MAX + 5000;
    char *msg = xmalloc(n + 20);
    memcpy(msg, "Subject: s\n\n", 12);
    memset(msg + 12, 'a', n);
    memcpy(msg + 12 + n, "\nend\n", 6);
    static const struct rule rules[] = {{HC_BODY, "end", "REPLACE fin"}};
    h = run_msg(&r, rules, 1, msg, 1000, 1000000);
    CHECK_INT(r.out.len, 12 + n + 1 + 4);
    CHECK(r.out.len > 4 && memcmp(r.out.data + r.out.len - 4, "fin\n", 4) == 0);
    done(&r, h);
    /* An over-long folded header goes out unchecked, whole. */
    struct buf big;
    buf_init(&big, 0);
    buf_printf(&big, "X-Long: start\n");
    while (big.len <= HC_HEADER_MAX)
        buf_printf(&big, "\t%099d\n", 7);
    buf_printf(&big, "Subject: t\n\nbody\n");
    h = run_msg(&r, NULL, 0, buf_cstr(&big), 777, 51200);
    CHECK_STR(buf_cstr(&r.out), buf_cstr(&big));
    CHECK(strstr(buf_cstr(&r.seen), "0|X-Long:") == NULL);
    CHECK(strstr(buf_cstr(&r.seen), "0|Subject: t\n") != NULL);
    done(&r, h);
    buf_free(&big);
    free(msg);
}

static void test_lookup_error(void)
{
    struct run r;
    memset(&r, 0, sizeof(r));
    buf_init(&r.out, 0);
    buf_init(&r.log, 0);
    buf_init(&r.seen, 0);
    r.fail_lookups = 1;
    struct hcheck *h = hcheck_new(&ops, &r, 51200);
    CHECK_INT(hcheck_feed(h, plain, strlen(plain)), 0);
    CHECK_INT(hcheck_finish(h), 0);
    CHECK(hcheck_verdict(h)->lookup_error);
    CHECK_STR(hcheck_verdict(h)->error_class, "header_checks");
    CHECK_STR(buf_cstr(&r.out), plain);
    done(&r, h);
}

int main(void)
{
    T_RUN(test_no_match_is_unchanged);
    T_RUN(test_reject);
    T_RUN(test_edits);
    T_RUN(test_collected_actions);
    T_RUN(test_mime_classes);
    T_RUN(test_limits);
    T_RUN(test_lookup_error);
    return T_DONE();
}
