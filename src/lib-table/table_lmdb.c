/*
 * table_lmdb.c - hash: and lmdb: tables (both are FILE.lmdb) and building
 * them from postmap/aliases(5) source (yubin map, newaliases).
 *
 * Readers open the file read-only without LMDB's lock file
 * (MDB_RDONLY|MDB_NOSUBDIR|MDB_NOLOCK). That is only safe because a file
 * is never modified in place: the builder writes FILE.lmdb.tmp (under an
 * flock, so two builders cannot interleave), syncs it and rename()s it
 * over FILE.lmdb. Readers stat the path at most once per check interval
 * and reopen when the inode changed. Keys and values are stored with a
 * terminating NUL, like Postfix's lmdb tables; lookups also try without
 * it, so files built by postmap -n work too.
 */
#include "lib-table/table_impl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

struct lmdb_priv {
    char *path;       /* FILE.lmdb */
    char *source;     /* FILE */
    char *type;       /* hash or lmdb, for messages */
    MDB_env *env;
    MDB_txn *txn;     /* reset between lookups, renewed for each */
    MDB_dbi dbi;
    struct stat st;
    uint64_t last_check;
};

static void env_close(struct lmdb_priv *p)
{
    if (p->txn)
        mdb_txn_abort(p->txn);
    if (p->env)
        mdb_env_close(p->env);
    p->txn = NULL;
    p->env = NULL;
}

/* Open FILE.lmdb read-only. A file shorter than its own last page would
 * make reads fault (SIGBUS), so that is refused as corrupt. */
static int open_ro(const char *path, MDB_env **envp, MDB_txn **txnp, MDB_dbi *dbip, char *err,
                   size_t errlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOSUBDIR | MDB_NOLOCK, 0644);
    if (rc == 0) {
        MDB_envinfo info;
        MDB_stat ms;
        struct stat st;
        if (mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &ms) == 0 &&
            stat(path, &st) == 0 &&
            (uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize) {
            mdb_env_close(env);
            return table_err(err, errlen, "open %s: file is truncated or corrupt", path);
        }
    }
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, dbip);
    if (rc != 0) {
        const char *why = rc > 0 ? strerror(rc) : mdb_strerror(rc);
        if (txn)
            mdb_txn_abort(txn);
        if (env)
            mdb_env_close(env);
        return table_err(err, errlen, "open %s: %s", path, why);
    }
    mdb_txn_reset(txn);
    *envp = env;
    *txnp = txn;
    return 0;
}

static void warn_if_stale(const struct lmdb_priv *p)
{
    struct stat src;
    if (stat(p->source, &src) == 0 &&
        (src.st_mtim.tv_sec > p->st.st_mtim.tv_sec ||
         (src.st_mtim.tv_sec == p->st.st_mtim.tv_sec &&
          src.st_mtim.tv_nsec > p->st.st_mtim.tv_nsec)))
        msg_warn("database %s is older than source file %s", p->path, p->source);
}

/* Reopen when the file was replaced. Returns 0 when p->env is usable. */
static int check_reopen(struct lmdb_priv *p)
{
    uint64_t now = mono_msec();
    unsigned iv = table_check_interval();
    if (p->env && iv && now - p->last_check < iv)
        return 0;
    p->last_check = now;
    int ch = table_file_changed(p->path, &p->st);
    if (ch < 0) {
        if (p->env)
            msg_warn("%s:%s: stat %s: %s", p->type, p->source, p->path, strerror(errno));
        env_close(p);
        return -1;
    }
    if (ch == 0)
        return p->env ? 0 : -1;   /* a broken file stays broken until it changes */
    env_close(p);
    char err[512];
    if (open_ro(p->path, &p->env, &p->txn, &p->dbi, err, sizeof(err)) < 0) {
        msg_warn("%s:%s: %s", p->type, p->source, err);
        return -1;
    }
    warn_if_stale(p);
    return 0;
}

static int put_val(struct buf *result, const MDB_val *v)
{
    size_t n = v->mv_size;
    const char *d = v->mv_data;
    if (n && d[n - 1] == '\0')
        n--;
    if (memchr(d, '\0', n))
        return -1;
    return buf_append(result, d, n);
}

static int lmdb_lookup(struct table *t, const char *key, struct buf *result)
{
    struct lmdb_priv *p = t->priv;
    if (check_reopen(p) < 0)
        return TABLE_TEMPFAIL;
    int rc = mdb_txn_renew(p->txn);
    if (rc != 0) {
        msg_warn("%s: %s: %s", t->spec, p->path, mdb_strerror(rc));
        return TABLE_TEMPFAIL;
    }
    MDB_val k = {strlen(key) + 1, (void *)key}, v;
    rc = mdb_get(p->txn, p->dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        k.mv_size--;
        rc = mdb_get(p->txn, p->dbi, &k, &v);
    }
    int r = TABLE_NOTFOUND;
    if (rc == 0) {
        r = put_val(result, &v) < 0 ? TABLE_TEMPFAIL : TABLE_FOUND;
        if (r == TABLE_TEMPFAIL)
            msg_warn("%s: bad or too long value for key \"%s\"", t->spec, key);
    } else if (rc != MDB_NOTFOUND) {
        msg_warn("%s: lookup of \"%s\" in %s: %s", t->spec, key, p->path, mdb_strerror(rc));
        r = TABLE_TEMPFAIL;
    }
    mdb_txn_reset(p->txn);
    if (r != TABLE_FOUND)
        buf_reset(result);
    return r;
}

static int lmdb_iterate(struct table *t, table_iter_fn fn, void *arg, char *err, size_t errlen)
{
    struct lmdb_priv *p = t->priv;
    if (check_reopen(p) < 0)
        return table_err(err, errlen, "%s: database %s is not usable", t->spec, p->path);
    int rc = mdb_txn_renew(p->txn);
    MDB_cursor *c = NULL;
    if (rc == 0)
        rc = mdb_cursor_open(p->txn, p->dbi, &c);
    struct buf kb, vb;
    buf_init(&kb, TABLE_KEY_MAX + 1);
    buf_init(&vb, TABLE_VALUE_MAX + 1);
    MDB_val k, v;
    MDB_cursor_op op = MDB_FIRST;
    while (rc == 0 && (rc = mdb_cursor_get(c, &k, &v, op)) == 0) {
        op = MDB_NEXT;
        buf_reset(&kb);
        buf_reset(&vb);
        if (put_val(&kb, &k) < 0 || put_val(&vb, &v) < 0)
            continue;
        if (fn(buf_cstr(&kb), buf_cstr(&vb), arg))
            break;
    }
    buf_free(&kb);
    buf_free(&vb);
    if (c)
        mdb_cursor_close(c);
    mdb_txn_reset(p->txn);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return table_err(err, errlen, "%s: %s", p->path, mdb_strerror(rc));
    return 0;
}

static void free_priv(struct lmdb_priv *p)
{
    free(p->path);
    free(p->source);
    free(p->type);
    free(p);
}

static void lmdb_close(struct table *t)
{
    struct lmdb_priv *p = t->priv;
    env_close(p);
    free_priv(p);
}

static const struct table_ops lmdb_ops = {lmdb_lookup, lmdb_close, lmdb_iterate};

int table_lmdb_open(struct table *t, char *err, size_t errlen)
{
    struct lmdb_priv *p = xcalloc(1, sizeof(*p));
    p->source = xstrdup(t->name);
    p->path = xasprintf("%s.lmdb", t->name);
    p->type = xstrdup(t->type);
    if (stat(p->path, &p->st) < 0) {
        if (errno == ENOENT)
            table_err(err, errlen, "open %s: %s; run yubin map %s:%s", p->path, strerror(errno),
                      t->type, t->name);
        else
            table_err(err, errlen, "open %s: %s", p->path, strerror(errno));
        free_priv(p);
        return -1;
    }
    if (open_ro(p->path, &p->env, &p->txn, &p->dbi, err, errlen) < 0) {
        free_priv(p);
        return -1;
    }
    p->last_check = mono_msec();
    warn_if_stale(p);
    t->priv = p;
    t->ops = &lmdb_ops;
    return 0;
}

/* ------------------------------------------------------------ building */

struct entry {
    char *key;
    char *val;
    int lineno;
};

struct entries {
    struct entry *v;
    size_t n, cap;
    size_t bytes;
    const char *name;   /* source name for duplicate warnings */
};

static void entries_add(struct entries *e, const char *key, const char *val, int lineno)
{
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 256;
        e->v = xrealloc(e->v, e->cap * sizeof(*e->v));
    }
    e->v[e->n].key = xstrdup(key);
    e->v[e->n].val = xstrdup(val);
    e->v[e->n].lineno = lineno;
    e->n++;
    e->bytes += strlen(key) + strlen(val) + 2;
}

static void entries_free(struct entries *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].key);
        free(e->v[i].val);
    }
    free(e->v);
}

/* postmap -F: the value lists files; store base64 of their contents. */
static int files_value(const char *list, struct buf *out, char *why, size_t whylen)
{
    size_t n = 0;
    char **files = str_split_list(list, &n);
    struct buf all;
    buf_init(&all, TABLE_VALUE_MAX / 4 * 3);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = 0;
        char *data = read_file(files[i], TABLE_VALUE_MAX, &len);
        if (!data) {
            rc = table_err(why, whylen, "%s: %s", files[i], strerror(errno));
            break;
        }
        if (all.len && all.data[all.len - 1] != '\n' && buf_putc(&all, '\n') < 0)
            rc = -1;
        if (rc == 0 && buf_append(&all, data, len) < 0)
            rc = table_err(why, whylen, "file contents too large (more than %d bytes)",
                           TABLE_VALUE_MAX / 4 * 3);
        free(data);
    }
    strv_free(files);
    buf_reset(out);
    if (rc == 0 && table_b64_encode(all.data ? all.data : "", all.len, out) < 0)
        rc = table_err(why, whylen, "value too large");
    buf_free(&all);
    return rc;
}

static int read_entries(struct tsrc *src, int flags, struct entries *e, char *err, size_t errlen)
{
    struct buf line, val;
    buf_init(&line, 0);
    buf_init(&val, TABLE_VALUE_MAX + 1);
    int lineno = 0, r;
    char why[512];
    while ((r = tsrc_next(src, &line, &lineno, err, errlen)) > 0) {
        char *key, *v;
        const char *what = NULL;
        if (flags & TABLE_BUILD_ALIASES) {
            if (table_parse_alias(line.data, &key, &val, &what) < 0)
                goto bad;
            v = val.data;
        } else {
            if (table_parse_kv(line.data, &key, &v, &what) < 0)
                goto bad;
            if (flags & TABLE_BUILD_FILES) {
                if (files_value(v, &val, why, sizeof(why)) < 0) {
                    what = why;
                    goto bad;
                }
                v = val.data;
            }
        }
        if (flags & TABLE_BUILD_FOLD)
            str_lower(key);
        entries_add(e, key, v, lineno);
        continue;
    bad:
        r = table_err(err, errlen, "%s:%d: %s", src->name, lineno, what);
        break;
    }
    buf_free(&line);
    buf_free(&val);
    return r < 0 ? -1 : 0;
}

static int add_existing(const char *key, const char *value, void *arg)
{
    entries_add(arg, key, value, 0);
    return 0;
}

/* Entries of an existing FILE.lmdb (postmap -i / -d). Missing file: none. */
static int read_existing(const char *dbpath, struct entries *e, char *err, size_t errlen)
{
    if (access(dbpath, F_OK) < 0 && errno == ENOENT)
        return 0;
    struct lmdb_priv p = {0};
    p.path = (char *)dbpath;
    p.source = (char *)dbpath;
    p.type = (char *)"lmdb";
    if (open_ro(dbpath, &p.env, &p.txn, &p.dbi, err, errlen) < 0)
        return -1;
    struct table t = {0};
    t.spec = (char *)dbpath;
    t.priv = &p;
    stat(dbpath, &p.st);
    p.last_check = mono_msec();
    int rc = lmdb_iterate(&t, add_existing, e, err, errlen);
    env_close(&p);
    return rc;
}

static int mdb_fail(int rc, const char *path, char *err, size_t errlen)
{
    return table_err(err, errlen, "%s: %s", path, rc > 0 ? strerror(rc) : mdb_strerror(rc));
}

/* Write all entries into a fresh LMDB file at tmp. Returns 0, an LMDB
 * error code (MDB_MAP_FULL: retry bigger), or -1 with err. */
static int write_env(const char *tmp, size_t mapsize, const struct entries *e, size_t first_new,
                     char *const *del, int flags, int warn, int *changed, char *err, size_t errlen)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(env, mapsize);
    if (rc == 0)
        rc = mdb_env_open(env, tmp, MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0600);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &dbi);
    int nchanged = 0;
    for (size_t i = 0; rc == 0 && i < e->n; i++) {
        const struct entry *en = &e->v[i];
        MDB_val k = {strlen(en->key) + 1, en->key}, v = {strlen(en->val) + 1, en->val};
        unsigned pflags = (flags & TABLE_BUILD_REPLACE) ? 0 : MDB_NOOVERWRITE;
        rc = mdb_put(txn, dbi, &k, &v, pflags);
        if (rc == MDB_KEYEXIST) {
            rc = 0;
            if (warn && !(flags & TABLE_BUILD_QUIET))
                msg_warn("%s:%d: duplicate entry: \"%s\"", e->name, en->lineno, en->key);
        } else if (rc == 0 && i >= first_new) {
            nchanged++;
        }
    }
    for (size_t i = 0; rc == 0 && del && del[i]; i++) {
        char key[TABLE_KEY_MAX + 1];
        str_copy(key, del[i], sizeof(key));
        if (flags & TABLE_BUILD_FOLD)
            str_lower(key);
        MDB_val k = {strlen(key) + 1, key};
        rc = mdb_del(txn, dbi, &k, NULL);
        if (rc == MDB_NOTFOUND) {
            k.mv_size--;
            rc = mdb_del(txn, dbi, &k, NULL);
        }
        if (rc == 0)
            nchanged++;
        else if (rc == MDB_NOTFOUND)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc == 0)
        rc = mdb_env_sync(env, 1);
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    if (rc == MDB_MAP_FULL)
        return rc;
    if (rc != 0)
        return mdb_fail(rc, tmp, err, errlen);
    if (changed)
        *changed = nchanged;
    return 0;
}

/* Open and lock PATH.tmp; make sure the locked file is still the one at
 * that name (a builder that held the lock may have renamed it away). */
static int lock_tmp(const char *tmp, char *err, size_t errlen)
{
    for (int tries = 0; tries < 100; tries++) {
        int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return table_err(err, errlen, "open %s: %s", tmp, strerror(errno));
        if (flock(fd, LOCK_EX) < 0) {
            close(fd);
            return table_err(err, errlen, "lock %s: %s", tmp, strerror(errno));
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(tmp, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd);
    }
    return table_err(err, errlen, "lock %s: file keeps changing", tmp);
}

static int write_db(const char *dbpath, const struct stat *perm_from, const struct entries *e,
                    size_t first_new, char *const *del, int flags, int *changed, char *err,
                    size_t errlen)
{
    char *tmp = xasprintf("%s.tmp", dbpath);
    int fd = lock_tmp(tmp, err, errlen);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t mapsize = ((size_t)64 << 20) + e->bytes * 4;
    int rc = -1;
    for (int attempt = 0; attempt < 8; attempt++, mapsize *= 4) {
        if (ftruncate(fd, 0) < 0) {
            rc = table_err(err, errlen, "truncate %s: %s", tmp, strerror(errno));
            break;
        }
        rc = write_env(tmp, mapsize, e, first_new, del, flags, attempt == 0, changed, err,
                       errlen);
        if (rc != MDB_MAP_FULL)
            break;
    }
    if (rc == MDB_MAP_FULL)
        rc = mdb_fail(rc, tmp, err, errlen);
    if (rc == 0) {
        /* postmap: same group/other read permissions as the source; owned
         * by the source's owner when we run as root. */
        mode_t mode = 0644;
        if (perm_from)
            mode = 0600 | (perm_from->st_mode & 0044);
        if (fchmod(fd, mode) < 0 ||
            (perm_from && geteuid() == 0 && fchown(fd, perm_from->st_uid, perm_from->st_gid) < 0))
            rc = table_err(err, errlen, "set permissions of %s: %s", tmp, strerror(errno));
    }
    if (rc == 0 && rename(tmp, dbpath) < 0)
        rc = table_err(err, errlen, "rename %s to %s: %s", tmp, dbpath, strerror(errno));
    if (rc == 0) {
        char *d = xstrdup(dbpath);
        fsync_dir(dirname(d));
        free(d);
    } else {
        unlink(tmp);
    }
    close(fd);
    free(tmp);
    return rc;
}

int table_build_ex(const char *spec, int flags, FILE *in, char *const *del_keys, int *changed,
                   char *err, size_t errlen)
{
    const char *s = spec;
    while (strncasecmp(s, "proxy:", 6) == 0)
        s += 6;
    const char *name = s, *colon = strchr(s, ':');
    if (colon) {
        size_t tl = (size_t)(colon - s);
        if (!((tl == 4 && strncasecmp(s, "hash", 4) == 0) ||
              (tl == 4 && strncasecmp(s, "lmdb", 4) == 0)))
            return table_err(err, errlen,
                             "%s: cannot build tables of type \"%.*s\" (only hash: and lmdb:)",
                             spec, (int)tl, s);
        name = colon + 1;
    }
    if (!*name)
        return table_err(err, errlen, "%s: missing file name", spec);
    if (changed)
        *changed = 0;

    char *dbpath = xasprintf("%s.lmdb", name);
    struct entries e = {0};
    e.name = name;
    struct stat src_st, *perm_from = NULL;
    int rc = 0;
    size_t first_new = 0;
    if (flags & TABLE_BUILD_UPDATE) {
        rc = read_existing(dbpath, &e, err, errlen);
        first_new = e.n;
        if (stat(dbpath, &src_st) == 0)
            perm_from = &src_st;
        if (rc == 0 && in) {
            struct tsrc src;
            tsrc_open_fp(&src, "-", in);
            e.name = "-";
            rc = read_entries(&src, flags, &e, err, errlen);
            tsrc_close(&src);
        }
    } else {
        struct tsrc src;
        rc = tsrc_open_file(&src, name, err, errlen);
        if (rc == 0) {
            if (fstat(fileno(src.fp), &src_st) == 0)
                perm_from = &src_st;
            rc = read_entries(&src, flags, &e, err, errlen);
            tsrc_close(&src);
        }
        /* postalias: the Sendmail-compatible "@" entry marks a complete database. */
        if (rc == 0 && (flags & TABLE_BUILD_ALIASES))
            entries_add(&e, "@", "@", 0);
    }
    if (rc == 0)
        rc = write_db(dbpath, perm_from, &e, first_new, del_keys, flags, changed, err, errlen);
    entries_free(&e);
    free(dbpath);
    return rc < 0 ? -1 : 0;
}

int table_build(const char *spec, int fold_case, int is_aliases, char *err, size_t errlen)
{
    int flags = (fold_case ? TABLE_BUILD_FOLD : 0) | (is_aliases ? TABLE_BUILD_ALIASES : 0);
    return table_build_ex(spec, flags, NULL, NULL, NULL, err, errlen);
}
