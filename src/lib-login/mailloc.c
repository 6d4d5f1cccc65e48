/*
 * mailloc.c - mail_location expansion (see mailloc.h).
 */
#include "lib-login/mailloc.h"

#include "lib-login/login.h"
#include "lib-conf/params.h"
#include "lib-conf/config.h"
#include "lib-table/table.h"
#include "lib/log.h"

#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A variable's value: user parts may not contain "/" nor be "." or "..". */
static int var_value(char name, const char *user, const char *home, const char **v, size_t *len)
{
    const char *at = strrchr(user, '@');
    switch (name) {
    case 'u':
        *v = user;
        *len = strlen(user);
        break;
    case 'n':
        *v = user;
        *len = at ? (size_t)(at - user) : strlen(user);
        break;
    case 'd':
        *v = at ? at + 1 : "";
        *len = strlen(*v);
        break;
    case 'h':
        *v = home;
        *len = strlen(home);
        return *len ? 0 : -1;
    default:
        return -1;
    }
    if (*len == 0 || memchr(*v, '/', *len) || (*len == 1 && **v == '.') ||
        (*len == 2 && memcmp(*v, "..", 2) == 0))
        return -1;
    return 0;
}

static char long_name(const char *p, size_t len)
{
    static const struct { const char *n; char c; } names[] = {
        {"user", 'u'}, {"username", 'n'}, {"domain", 'd'}, {"home", 'h'},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i].n) == len && memcmp(names[i].n, p, len) == 0)
            return names[i].c;
    return 0;
}

/* Expand path[0..len) into b. */
static int expand(const char *p, size_t len, const char *user, const char *home, struct buf *b,
                  const char **why)
{
    size_t i = 0;
    if (len && p[0] == '~' && (len == 1 || p[1] == '/')) {
        if (!*home) {
            *why = "\"~\" in the mail location but the user has no home directory";
            return -1;
        }
        if (buf_puts(b, home) < 0)
            goto toolong;
        i = 1;
    }
    for (; i < len; i++) {
        if (p[i] != '%') {
            if (buf_putc(b, p[i]) < 0)
                goto toolong;
            continue;
        }
        if (++i >= len) {
            *why = "a \"%\" at the end of the mail location";
            return -1;
        }
        if (p[i] == '%') {
            if (buf_putc(b, '%') < 0)
                goto toolong;
            continue;
        }
        int lower = 0;
        if (p[i] == 'L' && i + 1 < len) {
            lower = 1;
            i++;
        }
        char name = p[i];
        if (name == '{') {
            const char *end = memchr(p + i, '}', len - i);
            name = end ? long_name(p + i + 1, (size_t)(end - p - i - 1)) : 0;
            if (end)
                i = (size_t)(end - p);
        }
        const char *v;
        size_t vlen;
        if (!name || var_value(name, user, home, &v, &vlen) < 0) {
            *why = "a mail location variable is unknown or its value unusable here "
                   "(empty, or with \"/\" or \"..\")";
            return -1;
        }
        for (size_t k = 0; k < vlen; k++)
            if (buf_putc(b, lower ? (char)tolower((unsigned char)v[k]) : v[k]) < 0)
                goto toolong;
    }
    return 0;
toolong:
    *why = "the mail location is too long";
    return -1;
}

/* The options after the path. */
static int check_option(const char *o, size_t len, const char **why)
{
    if (len == 0)
        return 0;
    if (len > 7 && strncasecmp(o, "LAYOUT=", 7) == 0) {
        if (len - 7 == 9 && strncasecmp(o + 7, "maildir++", 9) == 0)
            return 0;
        *why = "only LAYOUT=maildir++ is supported in the mail location";
        return -1;
    }
    if (len >= 6 && strncasecmp(o, "INDEX=", 6) == 0)
        return 0;                      /* our index lives in the Maildir; Dovecot's is its own */
    if (len >= 6 && strncasecmp(o, "INBOX=", 6) == 0) {
        *why = "INBOX= in the mail location is not supported (INBOX is the Maildir's root)";
        return -1;
    }
    *why = "an option in the mail location is not supported (only LAYOUT=maildir++ and INDEX=)";
    return -1;
}

int login_mailloc_expand(const char *loc, const char *user, const char *home, char *out,
                         size_t outlen, const char **why)
{
    const char *p = loc;
    const char *colon = strchr(p, ':');
    if (colon && colon > p && !memchr(p, '/', (size_t)(colon - p))) {
        if ((size_t)(colon - p) != 7 || strncasecmp(p, "maildir", 7) != 0) {
            *why = "only maildir mail locations are supported";
            return -1;
        }
        p = colon + 1;
    }
    const char *end = strchr(p, ':');
    size_t plen = end ? (size_t)(end - p) : strlen(p);
    while (end) {
        const char *o = end + 1;
        end = strchr(o, ':');
        if (check_option(o, end ? (size_t)(end - o) : strlen(o), why) < 0)
            return -1;
    }
    if (plen == 0) {
        *why = "the mail location has no path";
        return -1;
    }
    struct buf b;
    buf_init(&b, outlen);
    int rc = expand(p, plen, user, home, &b, why);
    if (rc == 0 && buf_cstr(&b)[0] != '/') {
        *why = "the mail location is not an absolute path";
        rc = -1;
    }
    if (rc == 0 && b.len + 1 > outlen) {
        *why = "the mail location is too long";
        rc = -1;
    }
    if (rc == 0)
        str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
    return rc;
}

int login_mailloc_home(const char *home_mailbox, const char *home, char *out, size_t outlen)
{
    size_t n = strlen(home_mailbox);
    if (n == 0 || home_mailbox[n - 1] != '/')
        return 1;
    if (home[0] != '/' || strstr(home_mailbox, "..") || home_mailbox[0] == '/')
        return -1;
    int r = snprintf(out, outlen, "%s/%s", home, home_mailbox);
    return r < 0 || (size_t)r >= outlen ? -1 : 0;
}

/* The virtual_mailbox_maps result for user as a Maildir location, or 1 when none. */
static int virtual_location(const struct login_settings *set, const char *user, char *out,
                            size_t outlen)
{
    static struct maps *vmaps;
    static int opened;
    if (!set->cfg || !set->virtual_base || !*set->virtual_base || !strchr(user, '@'))
        return 1;
    if (!opened) {
        opened = 1;
        const char *spec = cfg_get(set->cfg, P_virtual_mailbox_maps);
        if (spec && *spec)
            vmaps = maps_open_tolerant(spec, set->cfg, "virtual_mailbox_maps");
    }
    if (!vmaps)
        return 1;
    struct buf res;
    buf_init(&res, MAILLOC_PATH_MAX);
    int rc = 1;
    if (maps_lookup_addr(vmaps, user, set->rcpt_delim, MAPS_ADDR_DOMAIN, &res, NULL) ==
        TABLE_FOUND) {
        const char *r = buf_cstr(&res);
        size_t n = strlen(r);
        if (n && r[n - 1] == '/' && r[0] != '/' && !strstr(r, "..")) {
            int w = snprintf(out, outlen, "maildir:%s/%s", set->virtual_base, r);
            rc = w < 0 || (size_t)w >= outlen ? 1 : 0;
        } else if (n) {
            msg_info("%s(%s): virtual_mailbox_maps gives \"%s\": not a Maildir (no trailing "
                     "\"/\", or \"..\"): only Maildirs are served", set->service ? set->service : "mail",
                     user, r);
        }
    }
    buf_free(&res);
    return rc;
}

const char *login_mail_location(const struct login_settings *set, const char *user,
                                const char *home, char *out, size_t outlen)
{
    if (set->mail_location && *set->mail_location)
        return set->mail_location;
    out[0] = '\0';
    if (virtual_location(set, user, out, outlen) == 0)
        return out;
    char path[MAILLOC_PATH_MAX];
    if (home && *home && set->home_mailbox &&
        login_mailloc_home(set->home_mailbox, home, path, sizeof(path)) == 0) {
        int w = snprintf(out, outlen, "maildir:%s", path);
        if (w < 0 || (size_t)w >= outlen)
            out[0] = '\0';
        return out;
    }
    out[0] = '\0';
    return out;
}
