/*
 * pop3_parse.c - POP3 command lines, message numbers and UIDL values
 * (see pop3_parse.h). No I/O, no allocation.
 */
#include "pop3d/pop3_parse.h"

#include "lib/util.h"

#include <stdio.h>
#include <string.h>

#define POP3_ARG_MAX 255          /* RFC 2449: 40 octets per argument; Dovecot allows more */
#define UIDL_MAX     70           /* RFC 1939 */

int pop3d_parse_line(char *line, size_t len, struct pop3_cmd *cmd, const char **err)
{
    memset(cmd, 0, sizeof(*cmd));
    if (len == 0 || len > POP3_LINE_MAX || memchr(line, '\0', len)) {
        *err = len == 0 ? "Empty command." : "Invalid command.";
        return -1;
    }
    size_t n = 0;
    while (n < len && line[n] != ' ') {
        char ch = line[n];
        if (n >= POP3_NAME_MAX || !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'))) {
            *err = "Unknown command.";
            return -1;
        }
        cmd->name[n] = (ch >= 'a' && ch <= 'z') ? (char)(ch - 'a' + 'A') : ch;
        n++;
    }
    if (n == 0) {
        *err = "Unknown command.";
        return -1;
    }
    cmd->name[n] = '\0';
    int long_ok = strcmp(cmd->name, "AUTH") == 0 || strcmp(cmd->name, "PASS") == 0;
    if (n == len) {
        cmd->rest = line + len;
        return 0;
    }
    char *p = line + n + 1;
    cmd->rest = p;
    if (strcmp(cmd->name, "PASS") == 0)
        return 0;                  /* the password is the rest of the line, spaces and all */
    char *end = line + len;
    while (p < end) {
        char *sp = memchr(p, ' ', (size_t)(end - p));
        char *e = sp ? sp : end;
        if (e == p || cmd->nargs >= POP3_ARGS_MAX ||
            (!long_ok && (size_t)(e - p) > POP3_ARG_MAX)) {
            *err = e == p ? "Invalid arguments." : "Too many or too long arguments.";
            return -1;
        }
        *e = '\0';
        cmd->args[cmd->nargs++] = p;
        p = e + 1;
        if (sp && p == end) {
            *err = "Invalid arguments.";
            return -1;
        }
    }
    return 0;
}

int pop3d_parse_number(const char *s, uint32_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        if (s[i] < '0' || s[i] > '9' || i >= 10)
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i == 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* One conversion at fmt (after '%'): its length, with the spec filled; 0 if invalid. */
struct conv {
    int zero, width, hex;       /* hex: 0, 'x' or 'X' */
    char var;
};

static size_t conv_parse(const char *fmt, struct conv *cv)
{
    size_t i = 0;
    memset(cv, 0, sizeof(*cv));
    if (fmt[i] == '0') {
        cv->zero = 1;
        i++;
    }
    while (fmt[i] >= '0' && fmt[i] <= '9') {
        cv->width = cv->width * 10 + (fmt[i] - '0');
        if (cv->width > UIDL_MAX)
            return 0;
        i++;
    }
    if (fmt[i] == 'x' || fmt[i] == 'X')
        cv->hex = fmt[i++];
    cv->var = fmt[i];
    if (cv->var != 'u' && cv->var != 'v' && cv->var != 'f' && cv->var != '%')
        return 0;
    return i + 1;
}

int pop3d_uidl_format_ok(const char *fmt)
{
    char out[UIDL_MAX + 1];
    return *fmt && pop3d_uidl(fmt, 1, 1, "x", 1, out, sizeof(out)) == 0;
}

static int put_number(char *out, size_t outlen, size_t *o, const struct conv *cv, uint32_t v)
{
    char num[16];
    /* Dovecot's var_expand writes lower-case hex for both x and X */
    int w = snprintf(num, sizeof(num), cv->hex ? "%x" : "%u", v);
    if (w < 0)
        return -1;
    for (int pad = cv->width - w; pad > 0; pad--) {
        if (*o + 1 >= outlen)
            return -1;
        out[(*o)++] = cv->zero ? '0' : ' ';
    }
    if (*o + (size_t)w >= outlen)
        return -1;
    memcpy(out + *o, num, (size_t)w);
    *o += (size_t)w;
    return 0;
}

int pop3d_uidl(const char *fmt, uint32_t uid, uint32_t uidvalidity, const char *base,
               size_t baselen, char *out, size_t outlen)
{
    size_t o = 0;
    if (outlen > UIDL_MAX + 1)
        outlen = UIDL_MAX + 1;
    for (size_t i = 0; fmt[i]; ) {
        if (fmt[i] != '%') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = fmt[i++];
            continue;
        }
        struct conv cv;
        size_t n = conv_parse(fmt + i + 1, &cv);
        if (n == 0)
            return -1;
        i += 1 + n;
        if (cv.var == '%') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '%';
        } else if (cv.var == 'f') {
            if (o + baselen >= outlen)
                return -1;
            memcpy(out + o, base, baselen);
            o += baselen;
        } else if (put_number(out, outlen, &o, &cv, cv.var == 'u' ? uid : uidvalidity) < 0) {
            return -1;
        }
    }
    out[o] = '\0';
    if (o == 0)
        return -1;
    for (size_t i = 0; i < o; i++)
        if (out[i] < 0x21 || out[i] > 0x7e)
            return -1;
    return 0;
}
