/*
 * imap_bsquote.c - IMAP strings for ENVELOPE and BODYSTRUCTURE (see
 * imap_bsquote.h).
 */
#include "lib-imap/imap_bsquote.h"
#include "lib/buf.h"

#include <string.h>

#define QUOTED_MAX_ESCAPES 4         /* past this a literal is shorter */

static void put_literal(struct buf *out, const char *s, size_t len)
{
    buf_printf(out, "{%zu}\r\n", len);
    for (size_t i = 0; i < len; i++)
        buf_putc(out, s[i] ? s[i] : (char)0x80);
}

static void put_quoted(struct buf *out, const char *s, size_t len)
{
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc(out, '\\');
        buf_putc(out, s[i]);
    }
    buf_putc(out, '"');
}

void imap_bsq_string(struct buf *out, const char *s, size_t len)
{
    unsigned escapes = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c == '"' || c == '\\') && ++escapes <= QUOTED_MAX_ESCAPES)
            continue;
        if (c == '"' || c == '\\' || c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
            put_literal(out, s, len);
            return;
        }
    }
    put_quoted(out, s, len);
}

void imap_bsq_nstring(struct buf *out, const char *s, size_t len)
{
    if (!s)
        buf_puts(out, "NIL");
    else
        imap_bsq_string(out, s, len);
}

static int is_blank_or_eol(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void imap_bsq_nstring_nolf(struct buf *out, const char *s, size_t len)
{
    if (!s || (!memchr(s, '\r', len) && !memchr(s, '\n', len))) {
        imap_bsq_nstring(out, s, len);
        return;
    }
    struct buf t;
    buf_init(&t, 0);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\r' && s[i] != '\n')
            buf_putc(&t, s[i]);
        else if (i + 1 < len && !is_blank_or_eol(s[i + 1]))
            buf_putc(&t, ' ');
    }
    imap_bsq_string(out, t.data ? t.data : "", t.len);
    buf_free(&t);
}

void imap_bsq_string_human(struct buf *out, const char *s, size_t len)
{
    /* the first pass: is anything to change? */
    int modify = 0, lwsp = 1, prefix = 1;
    size_t removed = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            modify |= c != ' ';
            if (lwsp) {
                modify = 1;
                removed++;
            }
            lwsp = 1;
        } else {
            modify |= c == 0 || c == '"' || c == '\\' || c >= 0x80;
            lwsp = 0;
            prefix = 0;
        }
    }
    if (lwsp && len > 0 && !prefix) {
        modify = 1;
        removed++;
    }
    if (!modify) {
        buf_putc(out, '"');
        buf_append(out, s, len);
        buf_putc(out, '"');
        return;
    }
    if (removed == len) {
        buf_puts(out, "\"\"");
        return;
    }
    buf_printf(out, "{%zu}\r\n", len - removed);
    lwsp = 1;
    size_t start = out->len;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            if (!lwsp)
                buf_putc(out, ' ');
            lwsp = 1;
        } else {
            buf_putc(out, c ? (char)c : (char)0x80);
            lwsp = 0;
        }
    }
    if (lwsp && out->len > start)
        out->len--;                      /* the trailing space */
    if (out->cap > 0)
        out->data[out->len] = '\0';
}
