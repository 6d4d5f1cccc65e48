/*
 * imaptest_mbox.h - reading imaptest's scripted tests in unit tests
 * (header only). The tests live in ../shared/conformance/imap/imaptest-tests
 * (YUBIN_SHARED overrides ../shared); their format is scripted_test.md
 * there.
 *
 * An .mbox holds the messages a script appends: each starts after a
 * "From " separator line and runs to the next one, with every LF sent as
 * CRLF (imaptest appends them so). A script's expected untagged replies
 * are lines "* N FETCH (...)"; a literal is written "{{{" newline ...
 * newline "}}}", its lines joined by CRLF, or "~{{{" ... "}}}" for the
 * bytes of the script as they are (line ends LF, CRs written out).
 * Script lines keep their CR, if any.
 */
#ifndef YUBIN_IMAPTEST_MBOX_H
#define YUBIN_IMAPTEST_MBOX_H

#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IMAPTEST_MAX_MSGS 64

static const char *imaptest_dir(void)
{
    static char dir[512];
    const char *shared = getenv("YUBIN_SHARED");
    snprintf(dir, sizeof(dir), "%s/conformance/imap/imaptest-tests",
             shared && *shared ? shared : "../shared");
    return dir;
}

/* The whole file, NUL-terminated; NULL when it cannot be read. */
static char *imaptest_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_puts(&b, "");
    *len = b.len;
    return b.data;
}

/* "From user@domain  Fri Feb 22 17:06:23 2008": "From ", a word, a date ending in a year. */
static int imaptest_is_from_line(const char *s, size_t n)
{
    if (n < 10 || memcmp(s, "From ", 5) != 0 || memchr(s, ':', 5 + strcspn(s + 5, " ")) != NULL)
        return 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        n--;
    return n >= 4 && s[n - 1] >= '0' && s[n - 1] <= '9' && s[n - 4] >= '1' && s[n - 4] <= '2';
}

/* The messages of name.mbox (LF made CRLF) into msgs[]; their count. */
static int imaptest_mbox(const char *name, struct buf *msgs, int max)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.mbox", imaptest_dir(), name);
    size_t len;
    char *data = imaptest_slurp(path, &len);
    if (!data)
        return -1;
    int n = -1;
    for (size_t off = 0; off < len;) {
        const char *lf = memchr(data + off, '\n', len - off);
        size_t ll = lf ? (size_t)(lf - (data + off)) + 1 : len - off;
        if (imaptest_is_from_line(data + off, ll)) {
            if (n + 1 >= max)
                break;
            buf_init(&msgs[++n], 0);
        } else if (n >= 0) {
            size_t cl = ll - (lf != NULL);
            if (cl > 0 && data[off + cl - 1] == '\r')
                cl--;
            buf_append(&msgs[n], data + off, cl);
            if (lf)
                buf_puts(&msgs[n], "\r\n");
        }
        off += ll;
    }
    free(data);
    return n + 1;
}

static void imaptest_free_msgs(struct buf *msgs, int n)
{
    for (int i = 0; i < n; i++)
        buf_free(&msgs[i]);
}

/* The lines of a script (NUL-terminated strings, line ends removed). */
static char **imaptest_script(const char *name, int *count)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", imaptest_dir(), name);
    size_t len;
    char *data = imaptest_slurp(path, &len);
    *count = 0;
    if (!data)
        return NULL;
    char **lines = calloc(len + 2, sizeof(char *));
    for (char *l = data; l < data + len;) {
        char *lf = memchr(l, '\n', (size_t)(data + len - l));
        char *end = lf ? lf : data + len;
        *end = '\0';                      /* a CR stays: ~{{{ literals are raw bytes */
        lines[(*count)++] = strdup(l);
        l = end + 1;
    }
    free(data);
    return lines;
}

static void imaptest_free_script(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

#endif
