/*
 * table_file.c - the simple table types: static:, inline:{...},
 * texthash: (a postmap source file read into memory at open), unix:
 * (passwd.byname, group.byname via getpwnam/getgrnam), fail: (always a
 * temporary failure; for tests) and unionmap:{...}.
 */
#include "lib-table/table_impl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

static int put_result(struct table *t, struct buf *result, const char *v)
{
    if (buf_puts(result, v) < 0) {
        msg_warn("%s: lookup result too long", t->spec);
        buf_reset(result);
        return TABLE_TEMPFAIL;
    }
    return TABLE_FOUND;
}

/* ------------------------------------------------------------ static: */

static int static_lookup(struct table *t, const char *key, struct buf *result)
{
    (void)key;
    return put_result(t, result, t->priv);
}

static void free_priv(struct table *t)
{
    free(t->priv);
}

static const struct table_ops static_ops = {static_lookup, free_priv, NULL};

int table_static_open(struct table *t, char *err, size_t errlen)
{
    const char *v = t->name;
    char *val;
    if (v[0] == '{') {
        val = table_unbrace(v);
        if (!val)
            return table_err(err, errlen, "bad static:{...} syntax: unbalanced braces");
    } else {
        val = xstrdup(v);
    }
    t->priv = val;
    t->ops = &static_ops;
    t->fold = 0;
    return 0;
}

/* ------------------------------------------------- inline:, texthash: */

static int kv_lookup(struct table *t, const char *key, struct buf *result)
{
    const char *v = kvmap_get(t->priv, key);
    if (!v)
        return TABLE_NOTFOUND;
    return put_result(t, result, v);
}

static int kv_iterate(struct table *t, table_iter_fn fn, void *arg, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct kvmap *m = t->priv;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && fn(m->keys[i], m->vals[i], arg))
            break;
    return 0;
}

static void kv_close(struct table *t)
{
    kvmap_free(t->priv);
    free(t->priv);
}

static const struct table_ops kv_ops = {kv_lookup, kv_close, kv_iterate};

int table_inline_open(struct table *t, char *err, size_t errlen)
{
    char *inner = table_unbrace(t->name);
    if (!inner)
        return table_err(err, errlen, "expected inline:{ key=value, ... }");
    size_t n = 0;
    char **v = str_split_list(inner, &n);
    free(inner);
    struct kvmap *m = xmalloc(sizeof(*m));
    kvmap_init(m);
    for (size_t i = 0; i < n; i++) {
        char *item = v[i][0] == '{' ? table_unbrace(v[i]) : xstrdup(v[i]);
        char *eq = item ? strchr(item, '=') : NULL;
        if (!eq) {
            table_err(err, errlen, "\"%s\": need \"key=value\"", v[i]);
            free(item);
            strv_free(v);
            kvmap_free(m);
            free(m);
            return -1;
        }
        *eq = '\0';
        char *key = str_trim(item), *val = str_trim(eq + 1);
        if (!*key || strlen(key) > TABLE_KEY_MAX) {
            table_err(err, errlen, "\"%s\": bad key", v[i]);
            free(item);
            strv_free(v);
            kvmap_free(m);
            free(m);
            return -1;
        }
        char folded[TABLE_KEY_MAX + 1];
        table_fold(folded, key, sizeof(folded));
        if (kvmap_put(m, folded, val))
            msg_warn("%s: duplicate entry: \"%s\"", t->spec, folded);
        free(item);
    }
    strv_free(v);
    t->priv = m;
    t->ops = &kv_ops;
    return 0;
}

int table_texthash_open(struct table *t, char *err, size_t errlen)
{
    struct tsrc src;
    if (tsrc_open_file(&src, t->name, err, errlen) < 0)
        return -1;
    struct kvmap *m = xmalloc(sizeof(*m));
    kvmap_init(m);
    struct buf line;
    buf_init(&line, 0);
    int lineno = 0, r;
    while ((r = tsrc_next(&src, &line, &lineno, err, errlen)) > 0) {
        char *key, *val;
        const char *why;
        if (table_parse_kv(line.data, &key, &val, &why) < 0) {
            table_err(err, errlen, "%s:%d: %s", t->name, lineno, why);
            r = -1;
            break;
        }
        char folded[TABLE_KEY_MAX + 1];
        table_fold(folded, key, sizeof(folded));
        if (kvmap_put(m, folded, val))
            msg_warn("%s:%d: duplicate entry: \"%s\"", t->name, lineno, folded);
    }
    buf_free(&line);
    tsrc_close(&src);
    if (r < 0) {
        kvmap_free(m);
        free(m);
        return -1;
    }
    t->priv = m;
    t->ops = &kv_ops;
    return 0;
}

/* -------------------------------------------------------------- unix: */

/* getpw*()/getgr*() report "no such entry" with any of these. */
static int nss_notfound(int e)
{
    return e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM;
}

static int unix_passwd_lookup(struct table *t, const char *key, struct buf *result)
{
    errno = 0;
    struct passwd *pw = getpwnam(key);
    if (!pw) {
        if (nss_notfound(errno))
            return TABLE_NOTFOUND;
        msg_warn("%s: lookup of \"%s\": %s", t->spec, key, strerror(errno));
        return TABLE_TEMPFAIL;
    }
    if (buf_printf(result, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name, pw->pw_passwd,
                   (long)pw->pw_uid, (long)pw->pw_gid, pw->pw_gecos ? pw->pw_gecos : "",
                   pw->pw_dir, pw->pw_shell) < 0)
        return TABLE_TEMPFAIL;
    return TABLE_FOUND;
}

static int unix_group_lookup(struct table *t, const char *key, struct buf *result)
{
    errno = 0;
    struct group *gr = getgrnam(key);
    if (!gr) {
        if (nss_notfound(errno))
            return TABLE_NOTFOUND;
        msg_warn("%s: lookup of \"%s\": %s", t->spec, key, strerror(errno));
        return TABLE_TEMPFAIL;
    }
    if (buf_printf(result, "%s:%s:%ld:", gr->gr_name, gr->gr_passwd, (long)gr->gr_gid) < 0)
        return TABLE_TEMPFAIL;
    for (char **m = gr->gr_mem; m && *m; m++)
        if ((m != gr->gr_mem && buf_putc(result, ',') < 0) || buf_puts(result, *m) < 0)
            return TABLE_TEMPFAIL;
    return TABLE_FOUND;
}

static const struct table_ops unix_passwd_ops = {unix_passwd_lookup, NULL, NULL};
static const struct table_ops unix_group_ops = {unix_group_lookup, NULL, NULL};

int table_unix_open(struct table *t, char *err, size_t errlen)
{
    if (strcmp(t->name, "passwd.byname") == 0)
        t->ops = &unix_passwd_ops;
    else if (strcmp(t->name, "group.byname") == 0)
        t->ops = &unix_group_ops;
    else
        return table_err(err, errlen, "unknown unix: table \"%s\" (passwd.byname or group.byname)",
                         t->name);
    return 0;
}

/* -------------------------------------------------------------- fail: */

static int fail_lookup(struct table *t, const char *key, struct buf *result)
{
    (void)t;
    (void)key;
    (void)result;
    return TABLE_TEMPFAIL;
}

static const struct table_ops fail_ops = {fail_lookup, NULL, NULL};

int table_fail_open(struct table *t, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    t->ops = &fail_ops;
    return 0;
}

/* ---------------------------------------------------------- unionmap: */

struct union_priv {
    size_t n;
    struct table **t;
};

static int union_lookup(struct table *t, const char *key, struct buf *result)
{
    struct union_priv *u = t->priv;
    struct buf one;
    buf_init(&one, TABLE_VALUE_MAX);
    int found = 0;
    for (size_t i = 0; i < u->n; i++) {
        int r = table_lookup(u->t[i], key, &one);
        if (r == TABLE_TEMPFAIL || r == TABLE_PENDING) {
            buf_free(&one);
            buf_reset(result);
            return r;
        }
        if (r == TABLE_FOUND) {
            if ((found && buf_putc(result, ',') < 0) || buf_append(result, one.data, one.len) < 0) {
                msg_warn("%s: lookup result too long", t->spec);
                buf_free(&one);
                buf_reset(result);
                return TABLE_TEMPFAIL;
            }
            found = 1;
        }
    }
    buf_free(&one);
    return found ? TABLE_FOUND : TABLE_NOTFOUND;
}

static void union_close(struct table *t)
{
    struct union_priv *u = t->priv;
    for (size_t i = 0; i < u->n; i++)
        table_close(u->t[i]);
    free(u->t);
    free(u);
}

static const struct table_ops union_ops = {union_lookup, union_close, NULL};

int table_union_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    char *inner = table_unbrace(t->name);
    if (!inner)
        return table_err(err, errlen, "expected unionmap:{ type:name, ... }");
    size_t n = 0;
    char **v = str_split_list(inner, &n);
    free(inner);
    if (n == 0) {
        strv_free(v);
        return table_err(err, errlen, "empty unionmap:{}");
    }
    struct union_priv *u = xcalloc(1, sizeof(*u));
    u->t = xcalloc(n, sizeof(*u->t));
    for (size_t i = 0; i < n; i++) {
        char *spec = v[i][0] == '{' ? table_unbrace(v[i]) : xstrdup(v[i]);
        struct table *sub = spec ? table_open(spec, cfg, err, errlen) : NULL;
        free(spec);
        if (!sub) {
            strv_free(v);
            t->priv = u;
            union_close(t);
            t->priv = NULL;
            return -1;
        }
        u->t[u->n++] = sub;
        /* Sub-tables fold (or not) by themselves. */
        if (sub->flags & TABLE_F_PATTERN)
            t->flags = TABLE_F_PATTERN;
    }
    strv_free(v);
    t->priv = u;
    t->ops = &union_ops;
    t->fold = 0;
    return 0;
}
