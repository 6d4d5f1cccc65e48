/*
 * authproto.c - see authproto.h.
 */
#include "lib-auth/authproto.h"

#include <string.h>

int authproto_escape(struct buf *out, const char *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char esc = 0;
        switch (src[i]) {
        case '\001': esc = '1'; break;
        case '\t': esc = 't'; break;
        case '\r': esc = 'r'; break;
        case '\n': esc = 'n'; break;
        case '\0': esc = '0'; break;
        default: break;
        }
        if (esc) {
            if (buf_putc(out, '\001') < 0 || buf_putc(out, esc) < 0)
                return -1;
        } else if (buf_putc(out, src[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

size_t authproto_unescape(char *s)
{
    char *d = s, *p = s;
    while (*p) {
        if (*p != '\001') {
            *d++ = *p++;
            continue;
        }
        p++;
        if (!*p)
            break;   /* a lone trailing escape character is dropped */
        switch (*p) {
        case '1': *d++ = '\001'; break;
        case 't': *d++ = '\t'; break;
        case 'r': *d++ = '\r'; break;
        case 'n': *d++ = '\n'; break;
        case '0': *d++ = '\0'; break;
        default: *d++ = *p; break;
        }
        p++;
    }
    *d = '\0';
    return (size_t)(d - s);
}

int authproto_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n >= max)
            return -1;
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    for (int i = 0; i < n; i++) {
        size_t before = strlen(fields[i]);
        if (!memchr(fields[i], '\001', before))
            continue;
        size_t after = authproto_unescape(fields[i]);
        if (strlen(fields[i]) != after)
            return -2;   /* an escaped NUL */
    }
    return n;
}

const char *authproto_param(char *const *fields, int n, int start, const char *name)
{
    size_t nl = strlen(name);
    for (int i = start; i < n; i++) {
        const char *f = fields[i];
        if (strncmp(f, name, nl) == 0 && (f[nl] == '=' || f[nl] == '\0'))
            return f[nl] == '=' ? f + nl + 1 : f + nl;
        if (strncmp(f, "resp=", 5) == 0)
            return NULL;
    }
    return NULL;
}

long authproto_getline(struct buf *in, char **line)
{
    size_t scan = in->len < AUTHPROTO_LINE_MAX ? in->len : AUTHPROTO_LINE_MAX;
    char *lf = scan ? memchr(in->data, '\n', scan) : NULL;
    if (!lf)
        return in->len >= AUTHPROTO_LINE_MAX ? -2 : -1;
    size_t len = (size_t)(lf - in->data);
    if (memchr(in->data, '\0', len))
        return -2;
    *lf = '\0';
    *line = in->data;
    return (long)len;
}
