/*
 * smtp_reply.c - what an SMTP server says, and what the client reports.
 *
 * A reply is one or more lines "DDD-text" ending with "DDD text" (or a
 * bare "DDD"). Lines that do not look like that are kept as text and
 * reading goes on, as Postfix does. The enhanced status code (RFC 3463)
 * comes from the last line when its class matches the reply code, else
 * it is derived from the code ("4.0.0"). Status texts have Postfix's
 * wording: "host mx.example.com[192.0.2.1] said: 550 5.1.1 <u@x>: ...
 * (in reply to RCPT TO command)", the lines of a multi-line reply
 * joined with spaces.
 */
#include "deliver/smtp.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void smtp_reply_init(struct smtp_reply *r)
{
    memset(r, 0, sizeof(*r));
}

size_t smtp_dsn_prefix(const char *text, char cls)
{
    const char *p = text;
    if (*p != cls || p[1] != '.')
        return 0;
    p += 2;
    for (int part = 0; part < 2; part++) {
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 4) {
            p++;
            n++;
        }
        if (n == 0 || n > 3)
            return 0;
        if (part == 0 && *p++ != '.')
            return 0;
    }
    if (*p && *p != ' ' && *p != '\t')
        return 0;
    return (size_t)(p - text);
}

/* Append bytes to the kept text, flattening control characters. */
static void append(struct smtp_reply *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n && r->len + 1 < sizeof(r->text); i++) {
        unsigned char c = (unsigned char)s[i];
        r->text[r->len++] = (c < 32 || c == 127) ? ' ' : (char)c;
    }
    r->text[r->len] = '\0';
}

int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len)
{
    if (r->nlines >= SMTP_REPLY_LINES_MAX)
        return -1;
    if (r->nlines++ > 0)
        append(r, " ", 1);
    append(r, line, len);
    int three = len >= 3 && isdigit((unsigned char)line[0]) && isdigit((unsigned char)line[1]) &&
                isdigit((unsigned char)line[2]) && (len == 3 || !isdigit((unsigned char)line[3]));
    if (!three || (len > 3 && line[3] != ' ' && line[3] != '-')) {
        r->garbage++;
        return 0;
    }
    if (len > 3 && line[3] == '-')
        return 0;
    r->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    char cls = line[0];
    if (cls != '2' && cls != '3' && cls != '4' && cls != '5')
        cls = '4';                         /* 1xx, 0xx, 6xx...: nothing we can rely on */
    char rest[32] = "";
    if (len > 4) {
        size_t n = len - 4 < sizeof(rest) - 1 ? len - 4 : sizeof(rest) - 1;
        memcpy(rest, line + 4, n);
        rest[n] = '\0';
    }
    size_t dl = cls == '3' ? 0 : smtp_dsn_prefix(rest, cls);
    if (dl > 0 && dl < sizeof(r->dsn)) {
        memcpy(r->dsn, rest, dl);
        r->dsn[dl] = '\0';
    } else {
        str_fmt(r->dsn, sizeof(r->dsn), "%c.0.0", cls == '3' ? '2' : cls);
    }
    return 1;
}

void smtp_text_said(char *out, size_t outlen, const char *namaddr, const struct smtp_reply *r,
                    const char *command)
{
    str_fmt(out, outlen, "host %s said: %s (in reply to %s command)", namaddr, r->text, command);
}

void smtp_namaddr(char *out, size_t outlen, const struct smtp_addr *a, unsigned port, int with_port)
{
    if (with_port && a->sa.ss_family != AF_UNIX)
        str_fmt(out, outlen, "%s[%s]:%u", a->host, a->text, port);
    else
        str_fmt(out, outlen, "%s[%s]", a->host, a->text);
}
