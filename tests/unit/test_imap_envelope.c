/*
 * Unit tests for lib-imap/imap_envelope.c and the string writer it uses
 * (imap_bsquote.c): imaptest's fetch-envelope script against its mbox
 * (Dovecot's answers, compared as imaptest compares them: without regard
 * to case), and hand-made headers for folding, quoting, literals, the
 * defaults of sender and reply-to, and repeated fields.
 */
#include "t.h"
#include "imaptest_mbox.h"
#include "lib-imap/imap_bsquote.h"
#include "lib-imap/imap_envelope.h"
#include "lib/buf.h"

#include <strings.h>

static void env_check(const char *hdr, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(imap_envelope_write(hdr, strlen(hdr), &b), 0);
    CHECK_STR(buf_cstr(&b), want);
    buf_free(&b);
}

static void test_imaptest_fetch_envelope(void)
{
    struct buf msgs[IMAPTEST_MAX_MSGS];
    int nmsgs = imaptest_mbox("fetch-envelope", msgs, IMAPTEST_MAX_MSGS);
    CHECK_INT(nmsgs, 6);
    int nlines, checked = 0;
    char **lines = imaptest_script("fetch-envelope", &nlines);
    CHECK(lines != NULL);
    for (int i = 0; i < nlines; i++) {
        int seq, off = 0;
        if (sscanf(lines[i], "* %d FETCH (ENVELOPE %n", &seq, &off) != 1 || off == 0 ||
            seq < 1 || seq > nmsgs)
            continue;
        const char *want = lines[i] + off;
        size_t wl = strlen(want);
        wl -= wl > 0 && want[wl - 1] == '\r';
        wl -= wl > 0;                           /* the FETCH's own ')' */
        struct buf b;
        buf_init(&b, 0);
        imap_envelope_write(msgs[seq - 1].data, msgs[seq - 1].len, &b);
        t_checks++;
        if (b.len != wl || strncasecmp(b.data, want, wl) != 0) {
            t_failures++;
            fprintf(stderr, "fetch-envelope message %d:\n want %.*s\n got  %s\n", seq, (int)wl,
                    want, buf_cstr(&b));
        }
        checked++;
        buf_free(&b);
    }
    CHECK_INT(checked, 6);
    imaptest_free_script(lines, nlines);
    imaptest_free_msgs(msgs, nmsgs);
}

static void test_fields(void)
{
    env_check("Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nSubject: hi\r\nFrom: A <a@b.example>\r\n"
              "To: c@d, e@f\r\nCc: \"Real, Name\" <u@d>\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n",
              "(\"Mon, 7 Dec 2026 10:00:00 +0000\" \"hi\" ((\"A\" NIL \"a\" \"b.example\")) "
              "((\"A\" NIL \"a\" \"b.example\")) ((\"A\" NIL \"a\" \"b.example\")) "
              "((NIL NIL \"c\" \"d\")(NIL NIL \"e\" \"f\")) ((\"Real, Name\" NIL \"u\" \"d\")) "
              "NIL NIL \"<1@x>\")");
    /* nothing at all */
    env_check("\r\nbody\r\n", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    env_check("", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    /* the sender without a from: reply-to defaults to the (absent) from */
    env_check("Sender: s@t\n\n",
              "(NIL NIL NIL ((NIL NIL \"s\" \"t\")) NIL NIL NIL NIL NIL NIL)");
    /* the last field of a name counts, addresses of repeated fields are joined
     * (what Dovecot 2.3.19 answers) */
    env_check("Subject: one\nSubject: two\nDate: d1\nDate: d2\nMessage-ID: <m1>\nMessage-ID: <m2>\n"
              "From: a@b\nFrom: c@d\nSender: s@s\nSender: t@t\nTo: x@y\nTo: z@w\n"
              "In-Reply-To: <i1>\nIn-Reply-To: <i2>\n\nbody\n",
              "(\"d2\" \"two\" ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) "
              "((NIL NIL \"s\" \"s\")(NIL NIL \"t\" \"t\")) ((NIL NIL \"a\" \"b\")(NIL NIL \"c\" \"d\")) "
              "((NIL NIL \"x\" \"y\")(NIL NIL \"z\" \"w\")) NIL NIL \"<i2>\" \"<m2>\")");
    /* a comment inside <...> or after it is not a display name (Dovecot) */
    env_check("From: <user-from (comment)@ (comment) domain.org>\nTo: <a@b> (Name)\n\n",
              "(NIL NIL ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) "
              "((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL)");
    /* a line that is not a field does not end the header */
    env_check("X-A: 1\nnot a field\nSubject: after\n\n", "(NIL \"after\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_folding_and_quoting(void)
{
    /* a folded subject: white space collapsed, so a literal */
    env_check("Subject: hello\r\n\tworld  \r\n\r\n",
              "(NIL {11}\r\nhello world NIL NIL NIL NIL NIL NIL NIL NIL)");
    /* a folded Message-ID loses its line end only */
    env_check("Message-ID:\r\n <x@y>\r\n\r\n",
              "(NIL NIL NIL NIL NIL NIL NIL NIL NIL \" <x@y>\")");
    env_check("In-Reply-To: <a@b>\r\n\t<c@d>\r\n\r\n",
              "(NIL NIL NIL NIL NIL NIL NIL NIL \"<a@b>\t<c@d>\" NIL)");
    /* quotes: escaped in a date, a literal in a subject (cleaned for humans) */
    env_check("Date: a\"b\\c\n\n", "(\"a\\\"b\\\\c\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    env_check("Date: \"\"\"\"\"\n\n", "({5}\r\n\"\"\"\"\" NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    env_check("Subject: say \"hi\"\n\n", "(NIL {8}\r\nsay \"hi\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    /* 8-bit: a literal; RFC 2047 words stay as they are */
    env_check("Subject: caf\xc3\xa9\n\n", "(NIL {5}\r\ncaf\xc3\xa9 NIL NIL NIL NIL NIL NIL NIL NIL)");
    env_check("Subject: =?utf-8?q?caf=C3=A9?=\n\n",
              "(NIL \"=?utf-8?q?caf=C3=A9?=\" NIL NIL NIL NIL NIL NIL NIL NIL)");
    /* only white space */
    env_check("Subject:   \n\n", "(NIL \"\" NIL NIL NIL NIL NIL NIL NIL NIL)");
}

static void test_bsquote(void)
{
    struct buf b;
    buf_init(&b, 0);
    imap_bsq_nstring(&b, NULL, 0);
    buf_putc(&b, ' ');
    imap_bsq_string(&b, "a\r\nb", 4);
    buf_putc(&b, ' ');
    imap_bsq_nstring_nolf(&b, "a\r\nb\r\n c", 8);
    buf_putc(&b, ' ');
    imap_bsq_string(&b, "x\0y", 3);
    buf_putc(&b, ' ');
    imap_bsq_string_human(&b, "  a \t b  ", 9);
    buf_putc(&b, ' ');
    imap_bsq_string_human(&b, "plain text", 10);
    CHECK_STR(buf_cstr(&b), "NIL {4}\r\na\r\nb \"a b c\" {3}\r\nx\x80y {3}\r\na b \"plain text\"");
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_imaptest_fetch_envelope);
    T_RUN(test_fields);
    T_RUN(test_folding_and_quoting);
    T_RUN(test_bsquote);
    return T_DONE();
}
