/*
 * Unit tests for lib-imap/imap_bodystructure.c (BODY, BODYSTRUCTURE),
 * imap_mimefields.c (Content-* fields as Dovecot reads them) and
 * imap_section.c (BODY[section] ranges, BINARY decoding):
 *  - imaptest's fetch-bodystructure, fetch-body, fetch-body-mime,
 *    fetch-body-message-rfc822*, fetch-binary-mime* scripts against their
 *    mboxes (Dovecot's answers, compared without regard to case as
 *    imaptest does; partial fetches and HEADER.FIELDS are the FETCH
 *    code's and skipped);
 *  - hand-made messages for parameters, RFC 2231, defaults, odd trees,
 *    and LF-only files giving the same sizes as CRLF ones;
 *  - every message of ../shared/conformance/mime parses and gives a
 *    well-formed list (balanced parentheses, literals of the right size).
 */
#include "t.h"
#include "imaptest_mbox.h"
#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_preview.h"
#include "lib-imap/imap_section.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>

static void bs_check(const char *msg, int ext, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(imap_bodystructure(msg, strlen(msg), ext, &b), 0);
    CHECK_STR(buf_cstr(&b), want);
    buf_free(&b);
}

/* ---- well-formedness: what the fuzz target checks too ---- */

/* 1 when s[0..len) is one parenthesised list of NIL, numbers, quoted strings, literals. */
static int well_formed(const char *s, size_t len)
{
    int depth = 0;
    size_t i = 0;
    if (len == 0 || s[0] != '(')
        return 0;
    while (i < len) {
        char c = s[i];
        if (c == '(') {
            depth++;
            i++;
        } else if (c == ')') {
            if (--depth < 0)
                return 0;
            i++;
            if (depth == 0)
                return i == len;
        } else if (c == ' ') {
            i++;
        } else if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if (s[i] == '\\')
                    i++;
                if (i >= len || s[i] == '\r' || s[i] == '\n' || (unsigned char)s[i] >= 0x80)
                    return 0;
            }
            if (i >= len)
                return 0;
            i++;
        } else if (c == '{') {
            size_t n = 0;
            for (i++; i < len && isdigit((unsigned char)s[i]); i++)
                n = n * 10 + (size_t)(s[i] - '0');
            if (i + 3 > len || memcmp(s + i, "}\r\n", 3) != 0 || i + 3 + n > len ||
                memchr(s + i + 3, '\0', n))
                return 0;
            i += 3 + n;
        } else if (isdigit((unsigned char)c)) {
            while (i < len && isdigit((unsigned char)s[i]))
                i++;
        } else if (len - i >= 3 && memcmp(s + i, "NIL", 3) == 0) {
            i += 3;
        } else {
            return 0;
        }
    }
    return 0;
}

/* ---- imaptest scripts ---- */

static void test_imaptest_fetch_bodystructure(void)
{
    struct buf msgs[IMAPTEST_MAX_MSGS];
    int nmsgs = imaptest_mbox("fetch-bodystructure", msgs, IMAPTEST_MAX_MSGS);
    CHECK_INT(nmsgs, 1);
    int nlines, checked = 0;
    char **lines = imaptest_script("fetch-bodystructure", &nlines);
    for (int i = 0; i < nlines; i++) {
        int seq, off = 0, ext = 0;
        if (sscanf(lines[i], "* %d FETCH (BODY %n", &seq, &off) != 1 || off == 0) {
            off = 0;
            if (sscanf(lines[i], "* %d FETCH (BODYSTRUCTURE %n", &seq, &off) != 1 || off == 0)
                continue;
            ext = 1;
        }
        if (seq < 1 || seq > nmsgs)
            continue;
        const char *want = lines[i] + off;
        size_t wl = strlen(want);
        wl -= wl > 0 && want[wl - 1] == '\r';
        wl -= wl > 0;                           /* the FETCH's own ')' */
        struct buf b;
        buf_init(&b, 0);
        imap_bodystructure(msgs[seq - 1].data, msgs[seq - 1].len, ext, &b);
        t_checks++;
        if (b.len != wl || strncasecmp(b.data, want, wl) != 0) {
            t_failures++;
            fprintf(stderr, "fetch-bodystructure %d:\n want %.*s\n got  %s\n", seq, (int)wl,
                    want, buf_cstr(&b));
        }
        checked++;
        buf_free(&b);
    }
    CHECK_INT(checked, 1);
    imaptest_free_script(lines, nlines);
    imaptest_free_msgs(msgs, nmsgs);
}

/* What FETCH would send for item (body[SPEC] or binary[SPEC]) of msg; -1 to skip. */
static int section_text(const struct buf *msg, const char *item, size_t il, struct buf *out,
                        int *unknown_cte)
{
    int binary = il > 7 && strncasecmp(item, "binary[", 7) == 0;
    int body = il > 5 && strncasecmp(item, "body[", 5) == 0;
    const char *rb = memchr(item, ']', il);
    if ((!binary && !body) || !rb || rb + 1 != item + il)
        return -1;                           /* partial <n>, rfc822.*, ... */
    const char *spec = item + (binary ? 7 : 5);
    struct imap_section_spec sp;
    size_t used;
    if (imap_section_parse(spec, (size_t)(rb - spec), &sp, &used) < 0)
        return -2;
    if (sp.header_fields)
        return -1;                           /* the FETCH code's */
    struct imap_msg *m = imap_msg_parse(msg->data, msg->len);
    struct imap_section s;
    int rc = imap_section_find(m, &sp, &s);
    if (rc == 0 && binary) {
        rc = imap_binary_decode(&s, msg->data, out);
        *unknown_cte = rc == IMAP_BINARY_UNKNOWN_CTE;
    } else if (rc == 0) {
        buf_append(out, msg->data + s.offset, s.len);
    }
    imap_msg_free(m);
    return rc;
}

static int sections_checked;

static void expect_literal(const char *script, const struct buf *msg, const char *item, size_t il,
                           const struct buf *want)
{
    struct buf got;
    buf_init(&got, 0);
    int unknown = 0;
    int rc = section_text(msg, item, il, &got, &unknown);
    if (rc != -1) {
        sections_checked++;
        t_checks++;
        if (rc < 0 || got.len != want->len || memcmp(got.data, want->data, got.len) != 0) {
            t_failures++;
            fprintf(stderr, "%s %.*s (rc %d):\n want [%s]\n got  [%s]\n", script, (int)il, item,
                    rc, buf_cstr((struct buf *)want), buf_cstr(&got));
        }
    }
    buf_free(&got);
}

/* "binary.size[X] N" items of an expected reply line. */
static void expect_sizes(const char *script, const struct buf *msg, const char *line)
{
    for (const char *p = line; (p = strcasestr(p, "binary.size[")) != NULL; p++) {
        const char *rb = strchr(p, ']');
        unsigned long n;
        if (!rb || sscanf(rb + 1, " %lu", &n) != 1)
            continue;
        struct buf item, got;
        buf_init(&item, 0);
        buf_init(&got, 0);
        buf_puts(&item, "binary[");
        buf_append(&item, p + 12, (size_t)(rb + 1 - (p + 12)));
        int unknown = 0;
        int rc = section_text(msg, item.data, item.len, &got, &unknown);
        sections_checked++;
        t_checks++;
        if (rc < 0 || got.len != n) {
            t_failures++;
            fprintf(stderr, "%s %s: size %zu, want %lu\n", script, item.data, got.len, n);
        }
        buf_free(&item);
        buf_free(&got);
    }
}

/* The item name just before " {{{" or " ~{{{" at the end of line (after "(" or "} "). */
static int literal_item(const char *line, const char **item, size_t *il, int *raw)
{
    size_t n = strlen(line);
    if (n > 0 && line[n - 1] == '\r')
        n--;
    if (n < 5 || strncmp(line + n - 3, "{{{", 3) != 0)
        return 0;
    const char *end = line + n - 3;
    *raw = end > line && end[-1] == '~';
    if (*raw)
        end--;
    if (end == line || end[-1] != ' ')
        return 0;
    end--;
    const char *s = end;
    while (s > line && s[-1] != '(' && s[-1] != ' ')
        s--;
    *item = s;
    *il = (size_t)(end - s);
    return 1;
}

static void run_section_script(const char *name)
{
    struct buf msgs[IMAPTEST_MAX_MSGS];
    int nmsgs = imaptest_mbox(name, msgs, IMAPTEST_MAX_MSGS);
    CHECK(nmsgs >= 1);
    int nlines;
    char **lines = imaptest_script(name, &nlines);
    CHECK(lines != NULL);
    int seq = 0;
    for (int i = 0; i < nlines; i++) {
        const char *l = lines[i];
        int s;
        if (sscanf(l, "* %d fetch", &s) == 1 || sscanf(l, "* %d FETCH", &s) == 1)
            seq = s;
        if (seq < 1 || seq > nmsgs)
            continue;
        if (l[0] == '*')
            expect_sizes(name, &msgs[seq - 1], l);
        const char *item;
        size_t il;
        int raw;
        while (literal_item(l, &item, &il, &raw)) {
            struct buf want;
            buf_init(&want, 0);
            int first = 1;
            for (i++; i < nlines && strncmp(lines[i], "}}}", 3) != 0; i++) {
                size_t n = strlen(lines[i]);
                if (!raw && n > 0 && lines[i][n - 1] == '\r')
                    n--;
                if (!first)
                    buf_puts(&want, raw ? "\n" : "\r\n");
                buf_append(&want, lines[i], n);
                first = 0;
            }
            expect_literal(name, &msgs[seq - 1], item, il, &want);
            buf_free(&want);
            if (i >= nlines)
                break;
            l = lines[i];                    /* "}}} binary[2] {{{" continues */
        }
    }
    imaptest_free_script(lines, nlines);
    imaptest_free_msgs(msgs, nmsgs);
}

static void test_imaptest_sections(void)
{
    static const char *const scripts[] = {
        "fetch-body", "fetch-body-mime", "fetch-body-message-rfc822",
        "fetch-body-message-rfc822-mime", "fetch-body-message-rfc822-x2",
        "fetch-binary-mime", "fetch-binary-mime-base64", "fetch-binary-mime-qp",
    };
    sections_checked = 0;
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        run_section_script(scripts[i]);
    printf("imaptest sections checked: %d\n", sections_checked);
    CHECK(sections_checked >= 60);
}

/* ---- hand-made messages ---- */

#define TEXT_PLAIN "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\""

static void test_simple(void)
{
    const char *crlf = "From: a@b\r\nSubject: x\r\n\r\nhello\r\nworld\r\n";
    const char *lf = "From: a@b\nSubject: x\n\nhello\nworld\n";
    bs_check(crlf, 0, "(" TEXT_PLAIN " 14 2)");
    bs_check(lf, 0, "(" TEXT_PLAIN " 14 2)");
    bs_check(lf, 1, "(" TEXT_PLAIN " 14 2 NIL NIL NIL NIL)");
    /* no body, no header */
    bs_check("", 1, "(" TEXT_PLAIN " 0 0 NIL NIL NIL NIL)");
    bs_check("Subject: x\r\n\r\nno line end", 0, "(" TEXT_PLAIN " 11 0)");
    /* Content-* without MIME-Version and Content-Type count for nothing */
    bs_check("Content-Transfer-Encoding: base64\r\nContent-ID: <x>\r\n\r\naGk=\r\n", 0,
             "(" TEXT_PLAIN " 6 1)");
    bs_check("MIME-Version: 1.0\r\nContent-Transfer-Encoding: BASE64\r\n\r\naGk=\r\n", 0,
             "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"BASE64\" 6 1)");
}

static void test_params(void)
{
    bs_check("Content-Type: text/plain; charset=\"utf-8\" junk; format=flowed\r\n\r\nx", 0,
             "(\"text\" \"plain\" (\"charset\" \"utf-8\" \"format\" \"flowed\") NIL NIL \"7bit\" 1 0)");
    bs_check("Content-Type: text/plain (a comment) ; (another)\r\n charset=us-ascii\r\n\r\n", 0,
             "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
    bs_check("Content-Type: Image/GIF; name=\"x\\\"y\"\r\n\r\n", 0,
             "(\"Image\" \"GIF\" (\"name\" \"x\\\"y\") NIL NIL \"7bit\" 0)");
    /* RFC 2231: merged, left encoded; out of order sections are sorted */
    bs_check("Content-Type: application/x; name*1*=%41b; name*0=\"a%\"\r\n\r\n", 0,
             "(\"application\" \"x\" (\"name*\" \"''a%25%41b\") NIL NIL \"7bit\" 0)");
    bs_check("Content-Type: application/x; title*=utf-8''%E2%82%AC; a=b\r\n\r\n", 0,
             "(\"application\" \"x\" (\"a\" \"b\" \"title*\" \"utf-8''%E2%82%AC\") NIL NIL \"7bit\" 0)");
    /* a missing section: each kept under its own name */
    bs_check("Content-Type: application/x; n*0=a; n*2=c\r\n\r\n", 0,
             "(\"application\" \"x\" (\"n*0\" \"a\" \"n*2\" \"c\") NIL NIL \"7bit\" 0)");
    /* 8-bit and line ends: literals */
    bs_check("Content-Type: application/x; name=\"caf\xc3\xa9\"\r\n\r\n", 0,
             "(\"application\" \"x\" (\"name\" {5}\r\ncaf\xc3\xa9) NIL NIL \"7bit\" 0)");
    /* broken type: as far as it parsed */
    bs_check("Content-Type: text\r\n\r\nabc\r\n", 0,
             "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)");
}

static void test_multipart(void)
{
    const char *msg =
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"; foo=bar\r\n"
        "Content-Language: en, fr\r\n"
        "\r\n"
        "preamble\r\n"
        "--b1\r\n"
        "Content-Type: TEXT/html; CHARSET=utf-8\r\n"
        "Content-ID: <id1>\r\n"
        "Content-Description: desc\r\n"
        "Content-Transfer-Encoding: QUOTED-PRINTABLE\r\n"
        "Content-Disposition: attachment; filename=\"f.html\"\r\n"
        "Content-Location: http://x/\r\n"
        "Content-MD5: abc==\r\n"
        "\r\n"
        "<p>hi</p>\r\n"
        "--b1\r\n"
        "Content-Type: application/octet-stream\r\n"
        "\r\n"
        "xyz\r\n"
        "--b1\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "Subject: inner\r\n"
        "From: i@j\r\n"
        "\r\n"
        "inner body\r\n"
        "--b1--\r\n"
        "epilogue\r\n";
    const char *part1 = "(\"TEXT\" \"html\" (\"CHARSET\" \"utf-8\") \"<id1>\" \"desc\" "
                        "\"QUOTED-PRINTABLE\" 9 0";
    const char *part1x = " \"abc==\" (\"attachment\" (\"filename\" \"f.html\")) NIL \"http://x/\")";
    const char *part2 = "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 3";
    const char *env = "(NIL \"inner\" ((NIL NIL \"i\" \"j\")) ((NIL NIL \"i\" \"j\")) "
                      "((NIL NIL \"i\" \"j\")) NIL NIL NIL NIL NIL)";
    char want[2048];
    snprintf(want, sizeof(want),
             "(%s%s%s NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 39 %s "
             "(" TEXT_PLAIN " 10 0 NIL NIL NIL NIL) 3 NIL NIL NIL NIL) \"mixed\" "
             "(\"boundary\" \"b1\" \"foo\" \"bar\") NIL (\"en\" \"fr\") NIL)",
             part1, part1x, part2, env);
    bs_check(msg, 1, want);
    snprintf(want, sizeof(want),
             "(%s)%s)(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 39 %s (" TEXT_PLAIN
             " 10 0) 3) \"mixed\")", part1, part2, env);
    bs_check(msg, 0, want);

    struct imap_msg *m = imap_msg_parse(msg, strlen(msg));
    struct buf b;
    buf_init(&b, 0);
    imap_msg_envelope_write(m, &b);
    CHECK_STR(buf_cstr(&b), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    imap_msg_free(m);
    buf_free(&b);
}

static void test_odd_trees(void)
{
    /* a multipart without parts, or without a boundary: one empty text/plain */
    bs_check("Content-Type: multipart/mixed; boundary=x\r\n\r\nno parts here\r\n", 1,
             "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
             " \"mixed\" (\"boundary\" \"x\") NIL NIL NIL)");
    bs_check("Content-Type: multipart/alternative\r\n\r\nx\r\n", 0,
             "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"alternative\")");
    /* message/rfc822 in base64 is parsed as a message all the same (as Dovecot does) */
    bs_check("Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n", 0,
             "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 6 (NIL NIL NIL NIL NIL NIL NIL NIL NIL "
             "NIL) (" TEXT_PLAIN " 0 0) 1)");
    /* multipart/digest: parts without Content-Type are messages */
    bs_check("Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: s\r\n\r\nb\r\n"
             "--d--\r\n", 0,
             "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 15 (NIL \"s\" NIL NIL NIL NIL NIL NIL "
             "NIL NIL) (" TEXT_PLAIN " 1 0) 2) \"digest\")");
}

/* Messages and what Dovecot 2.3.19 answered for their BODYSTRUCTURE. */
static void test_dovecot_cases(void)
{
    static const char *const cases[][2] = {
        {"MIME-Version: 1.0\nContent-Type: text/\n\nx\n",
         "(\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: /plain\n\nx\n",
         "(\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: text/plain junk; a=b\n\nx\n",
         "(\"\" \"\" NIL NIL NIL \"7bit\" 3 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: text\n\nx\n",
         "(\"text\" \"\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: text /plain\n\nx\n",
         "(" TEXT_PLAIN " 3 1 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: text/plain; =b; c\n\nx\n",
         "(\"text\" \"plain\" (\"\" \"b\" \"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: text/plain; a=\"unterminated\n\nx\n",
         "(" TEXT_PLAIN " 3 1 NIL NIL NIL NIL)"},
        {"MIME-Version: 1.0\nContent-Type: multipart/mixed junk; boundary=b\n\n--b\n\nx\n--b--\n",
         "(\"\" \"\" NIL NIL NIL \"7bit\" 17 NIL NIL NIL NIL)"},
        /* a boundary only has to start the line */
        {"Content-Type: multipart/mixed; boundary=b\n\n--b junk\nContent-Type: text/html\n\nhi\n--b--\n",
         "((\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0 NIL NIL NIL NIL) \"mixed\" "
         "(\"boundary\" \"b\") NIL NIL NIL)"},
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--bb\nmore\n--b--\n",
         "((" TEXT_PLAIN " 2 0 NIL NIL NIL NIL)(" TEXT_PLAIN " 0 0 NIL NIL NIL NIL) \"mixed\" "
         "(\"boundary\" \"b\") NIL NIL NIL)"},
        /* an RFC 2231 boundary does not split */
        {"Content-Type: multipart/mixed; boundary*=x\n\n--x\n\nhi\n--x--\n",
         "((" TEXT_PLAIN " 0 0 NIL NIL NIL NIL) \"mixed\" (\"boundary*\" \"x\") NIL NIL NIL)"},
        {"Content-Type: text/plain; name*=utf-8''%E2%82%AC; a*0=x; a*1=y\nContent-Disposition: inline\n"
         "Content-Disposition: attachment; filename=z\nContent-Language: en-US , fr\n\nx\n",
         "(\"text\" \"plain\" (\"a\" \"xy\" \"name*\" \"utf-8''%E2%82%AC\" \"charset\" \"us-ascii\") NIL NIL "
         "\"7bit\" 3 1 NIL (\"attachment\" (\"filename\" \"z\")) (\"en-US\" \"fr\") NIL)"},
        {"Content-Type: message/global\n\nSubject: x\n\nhi\n",
         "(\"message\" \"global\" NIL NIL NIL \"7bit\" 18 NIL NIL NIL NIL)"},
        {"Content-Type: text/plain\nContent-Type: text/html\n\nx",
         "(" TEXT_PLAIN " 1 0 NIL NIL NIL NIL)"},
        /* no empty line: everything is header */
        {"From: a@b\nSubject: s\ncounter to RFC 2822, no separating line\n",
         "(" TEXT_PLAIN " 0 0 NIL NIL NIL NIL)"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        bs_check(cases[i][0], 1, cases[i][1]);
}

/* PREVIEW: messages and what Dovecot 2.3.19 answered (PREVIEW=FUZZY). */
static void test_preview(void)
{
    static const char *const cases[][2] = {
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: image/png\n\nxx\n--b\nContent-Type: text/plain\n\nhello there\n--b--\n",
         "\"hello there\""},
        {"Content-Type: message/rfc822\n\nSubject: x\n\ninner text\n",
         "\"\""},
        {"Subject: x\n\n> quoted line\n>  another\n",
         "\">quoted line another\""},
        {"Content-Type: text/html\n\n<html><head><style>p {x}</style><title>T</title></head><body><p>Hello &amp; welcome&nbsp;here &lt;3 &#233;t&eacute;</p><blockquote>quoted</blockquote><br>next<script>var a;</script> end</body></html>\n",
         "{41}\r\nT Hello & welcome\xc2""\xa0""here <3 \xc3""\xa9""t\xc3""\xa9"" next end"},
        {"Subject: x\n\n   leading   spaces\n\n\tand\ttabs  \n> q\nafter quote\n",
         "\"leading spaces and tabs after quote\""},
        {"Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 =\nsoft\n",
         "{10}\r\ncaf\xc3""\xa9"" soft"},
        {"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/html\n\n<b>bold</b> text\n--b\nContent-Type: text/plain\n\nplain text\n--b--\n",
         "\"plain text\""},
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/html\n\n<b>bold</b> text\n--b\nContent-Type: text/plain\n\nplain text\n--b--\n",
         "\"bold text\""},
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: in\n\ninner\n--b\nContent-Type: image/png\n\nxx\n--b--\n",
         "\"\""},
        {"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/plain\n\nsecond\n--b--\n",
         "\"\""},
        {"Content-Type: text/html\n\nfoo<b>bar</b>baz<br>next<p>para</p><!-- comment -->x&#65;&#x42;&unknown;&copy;<div>d</div>\n",
         "{29}\r\nfoo bar baz next para xAB\xc2""\xa9"" d"},
        {"Subject: x\n\nword word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word \n",
         "\"word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word\""},
        {"Content-Type: text/html\n\n<HTML><BODY>A<BLOCKQUOTE type=cite>q</BLOCKQUOTE>B &lt;tag&gt; <a href=\"x\">link</a></BODY></HTML>\n",
         "\"A B <tag> link\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *msg = cases[i][0];
        struct imap_msg *m = imap_msg_parse(msg, strlen(msg));
        struct buf b;
        buf_init(&b, 0);
        CHECK_INT(imap_preview_write(m, msg, strlen(msg), &b), 0);
        CHECK_STR(buf_cstr(&b), cases[i][1]);
        buf_free(&b);
        imap_msg_free(m);
    }
}

static void test_sections(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                      "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin\r\n--b\r\n"
                      "Content-Type: text/plain\r\n\r\nplain\r\n--b--\r\n";
    struct imap_msg *m = imap_msg_parse(msg, strlen(msg));
    struct imap_section_spec sp;
    struct imap_section s;
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(imap_section_parse("1", 1, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), 0);
    CHECK_INT(imap_binary_decode(&s, msg, &b), IMAP_BINARY_UNKNOWN_CTE);
    CHECK_INT(imap_section_parse("2", 1, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), 0);
    CHECK_INT(imap_binary_decode(&s, msg, &b), 0);
    CHECK_STR(buf_cstr(&b), "plain");
    CHECK_INT(imap_section_parse("3", 1, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), -1);
    CHECK_INT(imap_section_parse("2.HEADER", 8, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), -1);       /* not a message/rfc822 */
    CHECK_INT(imap_section_parse("2.1", 3, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), 0);         /* the part itself (Dovecot) */
    CHECK_INT(imap_section_parse("2.2", 3, &sp, NULL), 0);
    CHECK_INT(imap_section_find(m, &sp, &s), -1);
    size_t used = 0;
    CHECK_INT(imap_section_parse("1.HEADER.FIELDS (a b)", 21, &sp, &used), 0);
    CHECK(sp.header_fields && sp.kind == IMAP_SECTION_HEADER && used == 15);
    CHECK_INT(imap_section_parse("1.", 2, &sp, NULL), -1);
    CHECK_INT(imap_section_parse("0", 1, &sp, NULL), -1);
    CHECK_INT(imap_section_parse("MIME", 4, &sp, NULL), -1);
    CHECK_INT(imap_section_parse("1.FOO", 5, &sp, NULL), -1);
    imap_msg_free(m);
    buf_free(&b);
}

/* ---- corpora ---- */

static int corpus_files;

static void corpus_file(const char *path)
{
    size_t len;
    char *data = imaptest_slurp(path, &len);
    if (!data)
        return;
    corpus_files++;
    for (int ext = 0; ext <= 1; ext++) {
        struct buf b;
        buf_init(&b, 0);
        CHECK_INT(imap_bodystructure(data, len, ext, &b), 0);
        t_checks++;
        if (!well_formed(b.data, b.len)) {
            t_failures++;
            fprintf(stderr, "%s: not well formed: %s\n", path, buf_cstr(&b));
        }
        buf_free(&b);
    }
    struct imap_msg *m = imap_msg_parse(data, len);
    struct buf e;
    buf_init(&e, 0);
    imap_msg_envelope_write(m, &e);
    CHECK(well_formed(e.data, e.len));
    buf_free(&e);
    imap_msg_free(m);
    free(data);
}

static void corpus_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            corpus_dir(path);
        else if (S_ISREG(st.st_mode) && !strstr(de->d_name, ".md") && !strstr(de->d_name, "COPY") &&
                 !strstr(de->d_name, "LICENSE"))
            corpus_file(path);
    }
    closedir(d);
}

static void test_corpora(void)
{
    const char *shared = getenv("YUBIN_SHARED");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/conformance/mime", shared && *shared ? shared : "../shared");
    corpus_files = 0;
    corpus_dir(dir);
    CHECK(corpus_files >= 50);
}

/* ---- Dovecot's own answers (tests/unit/data/dovecot-ref.py recorded them) ---- */

static int ref_mismatches;

/* A corpus file, or "imaptest/NAME.mbox#N": the Nth message of an imaptest mbox. */
static char *ref_message(const char *path, size_t *len)
{
    const char *shared = getenv("YUBIN_SHARED");
    char full[1024], name[256];
    int n;
    if (sscanf(path, "imaptest/%255[^#]#%d", name, &n) == 2) {
        static struct buf msgs[IMAPTEST_MAX_MSGS];
        static char cached[256];
        static int nmsgs;
        if (strcmp(cached, name) != 0) {
            imaptest_free_msgs(msgs, nmsgs);
            str_copy(cached, name, sizeof(cached));
            name[strlen(name) - 5] = '\0';            /* ".mbox" */
            nmsgs = imaptest_mbox(name, msgs, IMAPTEST_MAX_MSGS);
        }
        if (n < 1 || n > nmsgs)
            return NULL;
        *len = msgs[n - 1].len;
        char *copy = malloc(*len + 1);
        memcpy(copy, msgs[n - 1].data, *len + 1);
        return copy;
    }
    snprintf(full, sizeof(full), "%s/conformance/mime/%s", shared && *shared ? shared : "../shared",
             path);
    return imaptest_slurp(full, len);
}

static void ref_compare(const char *path, const char *item, const char *want, size_t wl)
{
    size_t len;
    char *data = ref_message(path, &len);
    t_checks++;
    if (!data) {
        ref_mismatches++;
        fprintf(stderr, "%s: cannot read\n", path);
        return;
    }
    struct imap_msg *m = imap_msg_parse(data, len);
    struct buf b;
    buf_init(&b, 0);
    if (strcmp(item, "ENVELOPE") == 0)
        imap_msg_envelope_write(m, &b);
    else if (strcmp(item, "PREVIEW") == 0)
        imap_preview_write(m, data, len, &b);
    else
        imap_bodystructure_write(m, strcmp(item, "BODYSTRUCTURE") == 0, &b);
    if (b.len != wl || memcmp(b.data, want, wl) != 0) {
        ref_mismatches++;
        fprintf(stderr, "%s %s:\n dovecot %.*s\n yubin   %s\n", path, item, (int)wl, want,
                buf_cstr(&b));
    }
    buf_free(&b);
    imap_msg_free(m);
    free(data);
}

static void test_dovecot_reference(void)
{
    size_t len;
    char *ref = imaptest_slurp("tests/unit/data/dovecot-bodystructure.ref", &len);
    CHECK(ref != NULL);
    if (!ref)
        return;
    int entries = 0;
    ref_mismatches = 0;
    for (char *p = ref; p < ref + len;) {
        char path[512], item[32];
        size_t vl;
        int off = 0;
        if (sscanf(p, "%511[^\t]\t%31[^\t]\t%zu\n%n", path, item, &vl, &off) != 3 || off == 0 ||
            (size_t)off + vl > (size_t)(ref + len - p))
            break;
        ref_compare(path, item, p + off, vl);
        entries++;
        p += off + vl + 1;
    }
    printf("dovecot reference: %d values, %d differ\n", entries, ref_mismatches);
    CHECK(entries >= 600);
    CHECK_INT(ref_mismatches, 0);
    free(ref);
}

/* ---- Dovecot's BODY[section] and BINARY[section] (dovecot-sections.py) ---- */

static unsigned long long fnv1a(const char *d, size_t n)
{
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)d[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* What FETCH sends of a raw range: every bare LF as CRLF. */
static void crlf(struct buf *out, const char *d, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r'))
            buf_putc(out, '\r');
        buf_putc(out, d[i]);
    }
}

static int sect_mismatches, sect_skipped, sect_dovecot_failed;

/* One recorded item of a message: want_len < 0 for a NO. */
static void sect_compare(const char *path, const struct imap_msg *m, const char *msg,
                         const char *item, long want_len, unsigned long long want_hash)
{
    int binary = strncmp(item, "BINARY[", 7) == 0;
    const char *spec = item + (binary ? 7 : 5);
    const char *rb = strchr(spec, ']');
    struct imap_section_spec sp;
    struct imap_section s;
    struct buf got;
    buf_init(&got, 0);
    int rc = -1;
    if (rb && imap_section_parse(spec, (size_t)(rb - spec), &sp, NULL) == 0)
        rc = imap_section_find(m, &sp, &s);
    if (rc == 0 && binary && want_len < 0) {
        sect_dovecot_failed++;           /* Dovecot's own errors (msg_15, msg_39) */
        buf_free(&got);
        return;
    }
    if (rc == 0 && binary &&
        (s.part->kind == IMAP_PART_MULTIPART || s.part->kind == IMAP_PART_MESSAGE)) {
        sect_skipped++;                  /* Dovecot decodes the parts inside: not done */
        buf_free(&got);
        return;
    }
    if (rc == 0 && binary) {
        struct buf dec;
        buf_init(&dec, 0);
        rc = imap_binary_decode(&s, msg, &dec);
        buf_append(&got, dec.data ? dec.data : "", dec.len);
        buf_free(&dec);
    } else if (rc == 0) {
        crlf(&got, msg + s.offset, s.len);
    }
    t_checks++;
    int ok = want_len < 0 ? rc == IMAP_BINARY_UNKNOWN_CTE || rc == -1
                          : (long)got.len == want_len && fnv1a(got.data ? got.data : "", got.len) == want_hash;
    if (!ok) {
        sect_mismatches++;
        fprintf(stderr, "%s %s: dovecot %ld bytes, yubin %zu (rc %d)\n", path, item, want_len,
                got.len, rc);
    }
    buf_free(&got);
}

static void test_dovecot_sections(void)
{
    size_t len;
    char *ref = imaptest_slurp("tests/unit/data/dovecot-sections.ref", &len);
    CHECK(ref != NULL);
    if (!ref)
        return;
    const char *shared = getenv("YUBIN_SHARED");
    char cur[512] = "", full[1024];
    char *msg = NULL;
    size_t msglen = 0;
    struct imap_msg *m = NULL;
    int entries = 0;
    sect_mismatches = sect_skipped = sect_dovecot_failed = 0;
    for (char *line = ref, *eol; line < ref + len; line = eol + 1) {
        eol = strchr(line, '\n');
        if (!eol)
            break;
        *eol = '\0';
        char path[512], item[64], lenbuf[32];
        unsigned long long hash = 0;
        if (sscanf(line, "%511[^\t]\t%63[^\t]\t%31[^\t]\t%llx", path, item, lenbuf, &hash) < 3)
            continue;
        if (strcmp(path, cur) != 0) {
            imap_msg_free(m);
            free(msg);
            str_copy(cur, path, sizeof(cur));
            snprintf(full, sizeof(full), "%s/conformance/mime/%s",
                     shared && *shared ? shared : "../shared", path);
            msg = imaptest_slurp(full, &msglen);
            m = msg ? imap_msg_parse(msg, msglen) : NULL;
        }
        if (!m)
            continue;
        sect_compare(path, m, msg, item, strcmp(lenbuf, "NO") == 0 ? -1 : atol(lenbuf), hash);
        entries++;
    }
    imap_msg_free(m);
    free(msg);
    printf("dovecot sections: %d values, %d differ, %d BINARY of multipart/message not compared, "
           "%d where Dovecot failed\n", entries, sect_mismatches, sect_skipped, sect_dovecot_failed);
    CHECK(entries >= 9000);
    CHECK_INT(sect_mismatches, 0);
    free(ref);
}

int main(void)
{
    T_RUN(test_dovecot_reference);
    T_RUN(test_dovecot_sections);
    T_RUN(test_imaptest_fetch_bodystructure);
    T_RUN(test_imaptest_sections);
    T_RUN(test_simple);
    T_RUN(test_params);
    T_RUN(test_multipart);
    T_RUN(test_odd_trees);
    T_RUN(test_dovecot_cases);
    T_RUN(test_preview);
    T_RUN(test_sections);
    T_RUN(test_corpora);
    return T_DONE();
}
