/*
 * imap_quote.c - atoms, quoted strings and literals in server replies.
 * See imap_quote.h.
 */
#include "lib-imap/imap_quote.h"
#include "lib-imap/imap_utf7.h"

#include <string.h>
#include <strings.h>

/* ASTRING-CHAR: ATOM-CHAR or "]". */
static int astring_char(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return 0;
    return !strchr("(){%*\"\\", c);
}

int imap_is_astring_atom(const char *s, size_t len)
{
    if (len == 0 || (len == 3 && strncasecmp(s, "NIL", 3) == 0))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!astring_char((unsigned char)s[i]))
            return 0;
    return 1;
}

int imap_is_quotable(const char *s, size_t len, int flags)
{
    int eight = 0;
    if (len > IMAP_QUOTED_MAX)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == 0 || c == '\r' || c == '\n')
            return 0;
        if (c >= 0x80)
            eight = 1;
    }
    if (!eight)
        return 1;
    return (flags & IMAP_QUOTE_UTF8) && imap_utf8_valid(s, len);
}

int imap_write_quoted(struct buf *b, const char *s, size_t len)
{
    if (buf_putc(b, '"') < 0)
        return -1;
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '"' && s[i] != '\\')
            continue;
        if (buf_append(b, s + start, i - start) < 0 || buf_putc(b, '\\') < 0)
            return -1;
        start = i;
    }
    if (buf_append(b, s + start, len - start) < 0)
        return -1;
    return buf_putc(b, '"');
}

int imap_write_literal(struct buf *b, const char *s, size_t len)
{
    if (buf_printf(b, "{%zu}\r\n", len) < 0)
        return -1;
    return buf_append(b, s, len);
}

int imap_write_literal8(struct buf *b, const char *s, size_t len)
{
    if (buf_printf(b, "~{%zu}\r\n", len) < 0)
        return -1;
    return buf_append(b, s, len);
}

int imap_write_string(struct buf *b, const char *s, size_t len, int flags)
{
    if (imap_is_quotable(s, len, flags))
        return imap_write_quoted(b, s, len);
    return imap_write_literal(b, s, len);
}

int imap_write_nstring(struct buf *b, const char *s, size_t len, int flags)
{
    if (!s)
        return buf_puts(b, "NIL");
    return imap_write_string(b, s, len, flags);
}

int imap_write_astring(struct buf *b, const char *s, size_t len, int flags)
{
    if (imap_is_astring_atom(s, len))
        return buf_append(b, s, len);
    return imap_write_string(b, s, len, flags);
}

int imap_write_nstring_z(struct buf *b, const char *s, int flags)
{
    return imap_write_nstring(b, s, s ? strlen(s) : 0, flags);
}

int imap_write_astring_z(struct buf *b, const char *s, int flags)
{
    return imap_write_astring(b, s, strlen(s), flags);
}
