/*
 * kvmap.c - see kvmap.h: open addressing with linear probing, FNV-1a.
 */
#include "lib/kvmap.h"
#include "lib/util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t kv_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void kvmap_init(struct kvmap *m)
{
    memset(m, 0, sizeof(*m));
}

static void kv_grow(struct kvmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    char **nk = xcalloc(ncap, sizeof(*nk));
    char **nv = xcalloc(ncap, sizeof(*nv));
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i])
            continue;
        size_t j = (size_t)kv_hash(m->keys[i]) & (ncap - 1);
        while (nk[j])
            j = (j + 1) & (ncap - 1);
        nk[j] = m->keys[i];
        nv[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = nk;
    m->vals = nv;
    m->cap = ncap;
}

int kvmap_put(struct kvmap *m, const char *key, const char *val)
{
    if ((m->n + 1) * 10 > m->cap * 7)
        kv_grow(m);
    size_t j = (size_t)kv_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0)
            return 1;
        j = (j + 1) & (m->cap - 1);
    }
    m->keys[j] = xstrdup(key);
    m->vals[j] = xstrdup(val);
    m->n++;
    return 0;
}

const char *kvmap_get(const struct kvmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t j = (size_t)kv_hash(key) & (m->cap - 1);
    while (m->keys[j]) {
        if (strcmp(m->keys[j], key) == 0)
            return m->vals[j];
        j = (j + 1) & (m->cap - 1);
    }
    return NULL;
}

void kvmap_free(struct kvmap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->keys[i]);
        free(m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

