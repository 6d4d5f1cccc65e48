/*
 * fuzz_smtp_reply.c - what a remote SMTP server says to yubin's SMTP
 * client (src/deliver/smtp_reply.c): reply lines, multi-line replies,
 * garbage lines, the enhanced status code (smtp_reply_line,
 * smtp_dsn_prefix), and the status text made from a reply
 * (smtp_text_said). Replies come from servers on the Internet, so every
 * byte is untrusted.
 *
 * Input: lines separated by LF (a CR before the LF is dropped, lines are
 * cut at SMTP_LINE_MAX as the session's reader does); a new reply starts
 * after each complete one.
 *
 * Invariants beyond "no crash":
 *  - a reply completes only on a "DDD" or "DDD " line, with that code;
 *    -1 only past SMTP_REPLY_LINES_MAX lines;
 *  - the enhanced code is "C.x.y" with C the class of the code (2, 4 or
 *    5; 3xx gives 2.0.0 and other classes 4.0.0), each part 1..3 digits;
 *  - the kept text is a printable C string of len bytes, within
 *    SMTP_REPLY_MAX, and the status text made from it fits its buffer.
 * max_len: 16384
 */
#include "fuzz.h"
#include "deliver/smtp.h"

#include <ctype.h>

static void check_dsn(const char *dsn, int code)
{
    char want = code / 100 == 2 || code / 100 == 3 ? '2' : code / 100 == 5 ? '5' : '4';
    FUZZ_ASSERT(dsn[0] == want && dsn[1] == '.');
    FUZZ_ASSERT(smtp_dsn_prefix(dsn, want) == strlen(dsn));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    struct smtp_reply r;
    smtp_reply_init(&r);
    size_t i = 0;
    char line[SMTP_LINE_MAX + 1];
    while (i < size) {
        const uint8_t *nl = memchr(data + i, '\n', size - i);
        size_t n = nl ? (size_t)(nl - (data + i)) : size - i;
        size_t use = n;
        if (use > 0 && data[i + use - 1] == '\r')
            use--;
        if (use > SMTP_LINE_MAX)
            use = SMTP_LINE_MAX;
        memcpy(line, data + i, use);
        line[use] = '\0';
        i += n + 1;
        int nlines = r.nlines;
        int rc = smtp_reply_line(&r, line, use);
        FUZZ_ASSERT(rc >= -1 && rc <= 1);
        FUZZ_ASSERT(r.len == strlen(r.text) && r.len < SMTP_REPLY_MAX);
        for (size_t k = 0; k < r.len; k++)
            FUZZ_ASSERT((unsigned char)r.text[k] >= 0x20 && r.text[k] != 0x7f);
        if (rc == -1) {
            FUZZ_ASSERT(nlines >= SMTP_REPLY_LINES_MAX);
            smtp_reply_init(&r);
            continue;
        }
        if (rc == 0)
            continue;
        FUZZ_ASSERT(use >= 3 && isdigit((unsigned char)line[0]) &&
                    isdigit((unsigned char)line[1]) && isdigit((unsigned char)line[2]));
        FUZZ_ASSERT(use == 3 || line[3] == ' ');
        FUZZ_ASSERT(r.code == (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0'));
        check_dsn(r.dsn, r.code);
        char said[SMTP_REPLY_MAX + 256];
        smtp_text_said(said, sizeof(said), "mx.example.com[192.0.2.1]", &r, "RCPT TO");
        FUZZ_ASSERT(strlen(said) < sizeof(said));
        smtp_reply_init(&r);
    }
    /* smtp_dsn_prefix on its own, every class. */
    char *s = fuzz_strndup(data, size < 64 ? size : 64);
    for (const char *c = "2345"; *c; c++) {
        size_t dl = smtp_dsn_prefix(s, *c);
        FUZZ_ASSERT(dl <= strlen(s));
        if (dl)
            FUZZ_ASSERT(s[0] == *c && (s[dl] == '\0' || s[dl] == ' ' || s[dl] == '\t'));
    }
    free(s);
    return 0;
}
