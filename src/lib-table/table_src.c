/*
 * table_src.c - reading Postfix table source text: logical lines
 * (comments, blank lines, continuation lines, line limits), the postmap
 * "key whitespace value" and aliases(5) "name: value" line formats, the
 * Postfix 3.7 inline rule lists "{ {rule}, {rule} }", a small string map
 * for in-memory tables, and file change detection for reopening.
 */
#include "lib-table/table_impl.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- logical lines */

int tsrc_open_file(struct tsrc *s, const char *path, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->fp = fopen(path, "re");
    if (!s->fp)
        return table_err(err, errlen, "open %s: %s", path, strerror(errno));
    s->own_fp = 1;
    s->name = xstrdup(path);
    buf_init(&s->phys, TSRC_LINE_MAX + 1);
    return 0;
}

void tsrc_open_fp(struct tsrc *s, const char *name, FILE *fp)
{
    memset(s, 0, sizeof(*s));
    s->fp = fp;
    s->name = xstrdup(name);
    buf_init(&s->phys, TSRC_LINE_MAX + 1);
}

void tsrc_open_mem(struct tsrc *s, const char *name, const char *text)
{
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->mem = text;
    s->memlen = strlen(text);
    buf_init(&s->phys, TSRC_LINE_MAX + 1);
}

void tsrc_close(struct tsrc *s)
{
    if (s->fp && s->own_fp)
        fclose(s->fp);
    s->fp = NULL;
    free(s->name);
    s->name = NULL;
    buf_free(&s->phys);
}

static int src_getc(struct tsrc *s)
{
    if (s->fp)
        return getc_unlocked(s->fp);
    if (s->mempos >= s->memlen)
        return EOF;
    return (unsigned char)s->mem[s->mempos++];
}

/* Read one physical line into s->phys (without the newline). */
static int read_phys(struct tsrc *s, char *err, size_t errlen)
{
    if (s->pending)
        return 1;
    if (s->eof)
        return 0;
    buf_reset(&s->phys);
    int c, got = 0;
    while ((c = src_getc(s)) != EOF) {
        got = 1;
        if (c == '\n')
            break;
        if (c == '\0')
            return table_err(err, errlen, "%s:%d: NUL character in line", s->name,
                             s->lineno + 1);
        if (buf_putc(&s->phys, (char)c) < 0)
            return table_err(err, errlen, "%s:%d: line too long (more than %d bytes)", s->name,
                             s->lineno + 1, TSRC_LINE_MAX);
    }
    if (s->fp && ferror(s->fp))
        return table_err(err, errlen, "read %s: %s", s->name, strerror(errno));
    if (!got) {
        s->eof = 1;
        return 0;
    }
    if (s->phys.len && s->phys.data[s->phys.len - 1] == '\r')
        s->phys.data[--s->phys.len] = '\0';
    s->lineno++;
    s->pending = 1;
    s->pending_lineno = s->lineno;
    return 1;
}

int tsrc_next(struct tsrc *s, struct buf *out, int *lineno, char *err, size_t errlen)
{
    int started = 0;
    buf_reset(out);
    for (;;) {
        int r = read_phys(s, err, errlen);
        if (r < 0)
            return -1;
        if (r == 0)
            return started;
        const char *p = buf_cstr(&s->phys);
        const char *q = p;
        while (*q && isspace((unsigned char)*q))
            q++;
        if (*q == '\0' || *q == '#') {          /* blank or comment: skipped */
            s->pending = 0;
            continue;
        }
        if (q != p) {                           /* continuation line */
            if (!started)
                return table_err(err, errlen,
                                 "%s:%d: logical line must not start with whitespace",
                                 s->name, s->pending_lineno);
        } else if (started) {
            return 1;                           /* next logical line: keep it pending */
        } else {
            started = 1;
            *lineno = s->pending_lineno;
        }
        if (buf_append(out, s->phys.data, s->phys.len) < 0 || out->len > TSRC_LINE_MAX)
            return table_err(err, errlen, "%s:%d: line too long (more than %d bytes)", s->name,
                             *lineno, TSRC_LINE_MAX);
        s->pending = 0;
    }
}

/* ------------------------------------------------------- line formats */

int table_parse_kv(char *line, char **key, char **value, const char **why)
{
    char *p = line;
    while (*p && isspace((unsigned char)*p))
        p++;
    char *k = p;
    int inq = 0;
    for (; *p; p++) {
        if (inq) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                inq = 0;
        } else if (*p == '"') {
            inq = 1;
        } else if (isspace((unsigned char)*p)) {
            break;
        }
    }
    if (inq) {
        *why = "unbalanced '\"' in key";
        return -1;
    }
    if (*p)
        *p++ = '\0';
    char *v = str_trim(p);
    if (*k == '\0' || *v == '\0') {
        *why = "expected format: key whitespace value";
        return -1;
    }
    if (strlen(k) > TABLE_KEY_MAX) {
        *why = "key too long";
        return -1;
    }
    if (strlen(v) > TABLE_VALUE_MAX) {
        *why = "value too long";
        return -1;
    }
    *key = k;
    *value = v;
    return 0;
}

/* Append one alias value element with blank runs outside quotes squeezed. */
static int put_element(struct buf *out, const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (!len)
        return 0;
    if (out->len && buf_puts(out, ", ") < 0)
        return -1;
    int inq = 0, blank = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!inq && isspace((unsigned char)c)) {
            blank = 1;
            continue;
        }
        if (blank && buf_putc(out, ' ') < 0)
            return -1;
        blank = 0;
        if (buf_putc(out, c) < 0)
            return -1;
        if (inq && c == '\\' && i + 1 < len) {
            if (buf_putc(out, s[++i]) < 0)
                return -1;
        } else if (c == '"') {
            inq = !inq;
        }
    }
    return 0;
}

int table_parse_alias(char *line, char **name, struct buf *value, const char **why)
{
    char *p = line;
    int inq = 0;
    for (; *p; p++) {
        if (inq) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                inq = 0;
        } else if (*p == '"') {
            inq = 1;
        } else if (*p == ':') {
            break;
        }
    }
    if (*p != ':') {
        *why = inq ? "unbalanced '\"' in alias name" : "need name:value pair";
        return -1;
    }
    *p = '\0';
    char *rhs = p + 1;
    /* Unquote the name in place: "Quoted Name" -> Quoted Name. */
    char *src = str_trim(line), *dst = src;
    for (inq = 0; *src; src++) {
        if (*src == '"') {
            inq = !inq;
            continue;
        }
        if (inq && *src == '\\' && src[1])
            src++;
        *dst++ = *src;
    }
    *dst = '\0';
    char *n = str_trim(line);
    if (*n == '\0') {
        *why = "missing alias name before ':'";
        return -1;
    }
    if (strlen(n) > TABLE_KEY_MAX) {
        *why = "alias name too long";
        return -1;
    }
    buf_reset(value);
    const char *start = rhs;
    for (p = rhs, inq = 0;; p++) {
        if (inq) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                inq = 0;
            else if (*p == '\0')
                break;
            continue;
        }
        if (*p == '"') {
            inq = 1;
        } else if (*p == ',' || *p == '\0') {
            if (put_element(value, start, (size_t)(p - start)) < 0) {
                *why = "alias value too long";
                return -1;
            }
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    if (inq) {
        *why = "unbalanced '\"' in alias value";
        return -1;
    }
    if (value->len == 0) {
        *why = "missing alias value after ':'";
        return -1;
    }
    *name = n;
    return 0;
}

/* ----------------------------------------------------- inline {...} text */

char *table_unbrace(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n < 2 || s[0] != '{' || s[n - 1] != '}')
        return NULL;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{')
            depth++;
        else if (s[i] == '}' && --depth == 0 && i != n - 1)
            return NULL;   /* "{a} {b}" is two groups, not one */
    }
    if (depth != 0)
        return NULL;
    char *r = xstrndup(s + 1, n - 2);
    char *t = str_trim(r);
    memmove(r, t, strlen(t) + 1);
    return r;
}

char *table_inline_rules(const char *name, char *err, size_t errlen)
{
    char *inner = table_unbrace(name);
    if (!inner) {
        table_err(err, errlen, "bad inline rule list: expected \"{ {rule}, {rule} ... }\"");
        return NULL;
    }
    size_t n = 0;
    char **v = str_split_list(inner, &n);
    free(inner);
    struct buf out;
    buf_init(&out, 0);
    buf_puts(&out, "");
    for (size_t i = 0; i < n; i++) {
        char *rule = table_unbrace(v[i]);
        if (!rule) {
            table_err(err, errlen, "rule %zu: expected \"{ rule }\", got \"%s\"", i + 1, v[i]);
            strv_free(v);
            buf_free(&out);
            return NULL;
        }
        buf_puts(&out, rule);
        buf_putc(&out, '\n');
        free(rule);
    }
    strv_free(v);
    return out.data;
}

/* ------------------------------------------------------------ kvmap */

/* --------------------------------------------------- change detection */

static unsigned check_interval_ms = 1000;

void table_set_check_interval(unsigned ms)
{
    check_interval_ms = ms;
}

unsigned table_check_interval(void)
{
    return check_interval_ms;
}

int table_file_changed(const char *path, struct stat *old)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    int changed = st.st_dev != old->st_dev || st.st_ino != old->st_ino ||
                  st.st_size != old->st_size ||
                  st.st_mtim.tv_sec != old->st_mtim.tv_sec ||
                  st.st_mtim.tv_nsec != old->st_mtim.tv_nsec ||
                  st.st_ctim.tv_sec != old->st_ctim.tv_sec ||
                  st.st_ctim.tv_nsec != old->st_ctim.tv_nsec;
    *old = st;
    return changed;
}
