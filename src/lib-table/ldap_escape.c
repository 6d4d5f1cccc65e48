/*
 * ldap_escape.c - RFC 4515 filter and RFC 4514 DN value escaping
 * (see ldap_escape.h).
 */
#include "lib-table/ldap_escape.h"

#include <string.h>

static int put_hex(struct buf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char e[3] = {'\\', hex[c >> 4], hex[c & 15]};
    return buf_append(out, e, 3);
}

int ldap_escape_filter(const char *s, size_t len, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        /* RFC 4515 needs only * ( ) \ NUL; the rest of the controls and
         * non-ASCII are escaped too so filters stay printable in logs. */
        int esc = c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20 || c >= 0x7f;
        if ((esc ? put_hex(out, c) : buf_putc(out, (char)c)) < 0)
            return -1;
    }
    return 0;
}

int ldap_escape_dn(const char *s, size_t len, struct buf *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int r;
        if (c < 0x20 || c == 0x7f)
            r = put_hex(out, c);
        else if (strchr("\"+,;<>\\=", c) || (i == 0 && (c == ' ' || c == '#')) ||
                 (i + 1 == len && c == ' '))
            r = buf_putc(out, '\\') < 0 ? -1 : buf_putc(out, (char)c);
        else
            r = buf_putc(out, (char)c);
        if (r < 0)
            return -1;
    }
    return 0;
}
