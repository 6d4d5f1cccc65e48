/*
 * psc_cache.c - postscreen_cache_map: for each client address, when each
 * test it passed expires ("pregreet;dnsbl;pipelining;non-smtp;bare-newline"
 * as Unix times, Postfix's layout). Stored in LMDB at FILE.lmdb whatever
 * the type written (btree:, hash:, lmdb:, as Postfix's default names
 * btree:), written by this one process; each update is its own small
 * transaction. Entries whose every test expired longer than
 * postscreen_cache_retention_time ago are removed at
 * postscreen_cache_cleanup_interval.
 */
#include "postscreen/psc.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PSC_CACHE_MAPSIZE (256u << 20)   /* address space only; the file grows as used */
#define PSC_CACHE_VALUE_MAX 128

struct psc_cache {
    MDB_env *env;
    MDB_dbi dbi;
    char *path;
};

struct psc_cache *psc_cache_open(const char *spec, char *err, size_t errlen)
{
    const char *colon = strchr(spec, ':');
    if (!colon || colon[1] != '/') {
        str_fmt(err, errlen, "postscreen_cache_map: expected TYPE:/absolute/path, not \"%.100s\"",
                spec);
        return NULL;
    }
    size_t tl = (size_t)(colon - spec);
    if (!(tl == 5 && strncmp(spec, "btree", 5) == 0) && !(tl == 4 && strncmp(spec, "hash", 4) == 0) &&
        !(tl == 4 && strncmp(spec, "lmdb", 4) == 0)) {
        str_fmt(err, errlen, "postscreen_cache_map: unsupported type \"%.*s\" (btree, hash or lmdb)",
                (int)tl, spec);
        return NULL;
    }
    struct psc_cache *c = xcalloc(1, sizeof(*c));
    c->path = xasprintf("%s.lmdb", colon + 1);
    int rc = mdb_env_create(&c->env);
    if (rc == 0)
        rc = mdb_env_set_mapsize(c->env, PSC_CACHE_MAPSIZE);
    if (rc == 0)
        rc = mdb_env_open(c->env, c->path, MDB_NOSUBDIR | MDB_NOSYNC, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, NULL, 0, &c->dbi);
    if (rc == 0)
        rc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    if (rc != 0) {
        str_fmt(err, errlen, "postscreen_cache_map: %s: %s", c->path, mdb_strerror(rc));
        psc_cache_close(c);
        return NULL;
    }
    return c;
}

void psc_cache_close(struct psc_cache *c)
{
    if (!c)
        return;
    if (c->env)
        mdb_env_close(c->env);
    free(c->path);
    free(c);
}

static int parse_value(const char *v, size_t len, time_t expire[PSC_T_COUNT])
{
    char text[PSC_CACHE_VALUE_MAX];
    if (len >= sizeof(text))
        return -1;
    memcpy(text, v, len);
    text[len] = '\0';
    char *p = text;
    for (int i = 0; i < PSC_T_COUNT; i++) {
        char *end;
        long long t = strtoll(p, &end, 10);
        if (end == p || t < 0 || (*end != ';' && *end != '\0') ||
            (*end == '\0' && i != PSC_T_COUNT - 1))
            return -1;
        expire[i] = (time_t)t;
        p = *end ? end + 1 : end;
    }
    return 0;
}

int psc_cache_get(struct psc_cache *c, const char *addr, time_t expire[PSC_T_COUNT])
{
    MDB_txn *txn;
    if (!c || mdb_txn_begin(c->env, NULL, MDB_RDONLY, &txn) != 0)
        return 0;
    MDB_val k = {strlen(addr), (void *)addr}, v;
    int found = mdb_get(txn, c->dbi, &k, &v) == 0 && parse_value(v.mv_data, v.mv_size, expire) == 0;
    mdb_txn_abort(txn);
    return found;
}

void psc_cache_put(struct psc_cache *c, const char *addr, const time_t expire[PSC_T_COUNT])
{
    if (!c)
        return;
    char text[PSC_CACHE_VALUE_MAX];
    str_fmt(text, sizeof(text), "%lld;%lld;%lld;%lld;%lld", (long long)expire[0],
            (long long)expire[1], (long long)expire[2], (long long)expire[3],
            (long long)expire[4]);
    MDB_txn *txn;
    int rc = mdb_txn_begin(c->env, NULL, 0, &txn);
    if (rc == 0) {
        MDB_val k = {strlen(addr), (void *)addr}, v = {strlen(text), text};
        rc = mdb_put(txn, c->dbi, &k, &v, 0);
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0)
        msg_warn("postscreen_cache_map %s: cannot update %s: %s", c->path, addr, mdb_strerror(rc));
}

void psc_cache_cleanup(struct psc_cache *c, time_t now, long long retention)
{
    if (!c)
        return;
    MDB_txn *txn;
    MDB_cursor *cur;
    if (mdb_txn_begin(c->env, NULL, 0, &txn) != 0)
        return;
    if (mdb_cursor_open(txn, c->dbi, &cur) != 0) {
        mdb_txn_abort(txn);
        return;
    }
    size_t kept = 0, dropped = 0;
    MDB_val k, v;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        time_t e[PSC_T_COUNT];
        int stale = parse_value(v.mv_data, v.mv_size, e) < 0;
        if (!stale) {
            time_t last = 0;
            for (int i = 0; i < PSC_T_COUNT; i++)
                if (e[i] > last)
                    last = e[i];
            stale = (long long)last + retention < (long long)now;
        }
        if (stale && mdb_cursor_del(cur, 0) == 0)
            dropped++;
        else
            kept++;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (mdb_txn_commit(txn) == 0)
        msg_info("cache %s full cleanup: retained=%zu dropped=%zu entries", c->path, kept, dropped);
}
