/*
 * dovecot_conf.c - Dovecot .conf.ext files, connect strings and
 * variables (see dovecot_conf.h).
 */
#include "lib-table/dovecot_conf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dc_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int dc_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

const char *dconf_get(const struct dconf_item *items, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].name, name) == 0)
            return items[i].value;
    return NULL;
}

void dconf_free(struct dconf_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(items[i].value);
        items[i].value = NULL;
    }
}

/* One logical line "name = value". */
static int setting(char *line, int lineno, const char *path, struct dconf_item *items, size_t n,
                   char *err, size_t errlen)
{
    char *eq = strchr(line, '=');
    if (!eq)
        return dc_err(err, errlen, "%s:%d: missing '=' after the setting name", path, lineno);
    *eq = '\0';
    char *name = str_trim(line), *value = str_trim(eq + 1);
    size_t vl = strlen(value);
    if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
        value[vl - 1] = '\0';
        value++;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i].name, name) == 0) {
            free(items[i].value);
            items[i].value = xstrdup(value);
            items[i].line = lineno;
            return 0;
        }
    }
    return dc_err(err, errlen, "%s:%d: unknown setting \"%.64s\"", path, lineno, name);
}

/* Is the physical line [p, e) a comment or blank? */
static int skip_line(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p == e || *p == '#';
}

int dconf_parse(const char *text, size_t len, const char *path, struct dconf_item *items,
                size_t n, char *err, size_t errlen)
{
    if (len > DCONF_SIZE_MAX)
        return dc_err(err, errlen, "%s: file too large", path);
    if (memchr(text, '\0', len))
        return dc_err(err, errlen, "%s: NUL byte in file", path);
    struct buf line;
    buf_init(&line, DCONF_LINE_MAX);
    const char *p = text, *end = text + len;
    int lineno = 0, start = 0, rc = 0, cont = 0;
    while (rc == 0 && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        lineno++;
        int blank = skip_line(p, e);
        int indented = p < e && (*p == ' ' || *p == '\t');
        if (!blank && line.len && !cont && !indented) {
            rc = setting(line.data, start, path, items, n, err, errlen);
            buf_reset(&line);
        }
        if (!blank) {
            if (!line.len)
                start = lineno;
            while (line.len && p < e && (*p == ' ' || *p == '\t'))
                p++;   /* a continued line joins with one blank */
            while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
                e--;
            cont = e > p && e[-1] == '\\';
            if (cont)
                e--;
            while (cont && e > p && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (rc == 0 && ((line.len && buf_putc(&line, ' ') < 0) ||
                            buf_append(&line, p, (size_t)(e - p)) < 0))
                rc = dc_err(err, errlen, "%s:%d: line too long", path, lineno);
        }
        p = nl ? nl + 1 : end;
    }
    if (rc == 0 && line.len)
        rc = setting(line.data, start, path, items, n, err, errlen);
    buf_free(&line);
    return rc;
}

int dconf_connect_split(const char *s, char ***kv, char *err, size_t errlen)
{
    size_t cap = 8, k = 0;
    char **v = xcalloc(cap + 1, sizeof(char *));
    const char *p = s;
    int rc = 0;
    while (rc == 0 && *p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *eq = p;
        while (*eq && *eq != '=' && !isspace((unsigned char)*eq))
            eq++;
        if (*eq != '=' || eq == p) {
            rc = dc_err(err, errlen, "connect: expected key=value at \"%.32s\"", p);
            break;
        }
        const char *vs = eq + 1, *ve;
        char q = (*vs == '\'' || *vs == '"') ? *vs : 0;
        if (q) {
            vs++;
            ve = strchr(vs, q);
            if (!ve) {
                rc = dc_err(err, errlen, "connect: unterminated quote");
                break;
            }
        } else {
            ve = vs;
            while (*ve && !isspace((unsigned char)*ve))
                ve++;
        }
        if (k + 2 > cap) {
            cap *= 2;
            v = xrealloc(v, (cap + 1) * sizeof(char *));
        }
        v[k++] = xstrndup(p, (size_t)(eq - p));
        v[k++] = xstrndup(vs, (size_t)(ve - vs));
        v[k] = NULL;
        p = q ? ve + 1 : ve;
    }
    if (rc < 0) {
        strv_free(v);
        return -1;
    }
    *kv = v;
    return 0;
}

/* %{name}: the table variable for a long name, or 0. */
static char long_var(const char *name, size_t len)
{
    static const struct { const char *name; char var; } vars[] = {
        {"user", 's'}, {"username", 'u'}, {"domain", 'd'},
        {"original_user", 's'}, {"original_username", 'u'}, {"original_domain", 'd'},
    };
    for (size_t i = 0; i < ARRAY_LEN(vars); i++)
        if (strlen(vars[i].name) == len && strncmp(vars[i].name, name, len) == 0)
            return vars[i].var;
    return 0;
}

int dconf_template(const char *in, struct buf *out, char *err, size_t errlen)
{
    buf_reset(out);
    for (const char *p = in; *p; p++) {
        if (*p != '%') {
            if (buf_putc(out, *p) < 0)
                return dc_err(err, errlen, "template too long");
            continue;
        }
        p++;
        while (*p == 'L' || *p == 'E')   /* lowercase (names are already), escape (always) */
            p++;
        char var = 0;
        if (*p == '%') {
            var = '%';
        } else if (*p == 'u' || *p == 'n' || *p == 'd') {
            var = *p == 'u' ? 's' : *p == 'n' ? 'u' : 'd';
        } else if (*p == '{') {
            const char *close = strchr(p, '}');
            var = close ? long_var(p + 1, (size_t)(close - p - 1)) : 0;
            if (!var)
                return dc_err(err, errlen, "unsupported variable \"%%%.32s\"", p);
            p = close;
        } else {
            return dc_err(err, errlen, "unsupported variable \"%%%c\" (yubin has %%u %%n %%d)",
                          *p ? *p : ' ');
        }
        char v[2] = {'%', var};
        if (buf_append(out, v, 2) < 0)
            return dc_err(err, errlen, "template too long");
    }
    return 0;
}
