/*
 * kvmap.h - the one string hash map.
 *
 * Owns: a map from NUL-terminated keys to values, both copied; the first
 * insert of a key wins. Used by texthash:/inline: tables, the address
 * resolver and anything else that needs a set or a dictionary of strings.
 */
#ifndef YUBIN_KVMAP_H
#define YUBIN_KVMAP_H

#include <stddef.h>

struct kvmap {
    size_t cap, n;
    char **keys;
    char **vals;
};

void kvmap_init(struct kvmap *m);
/* 0 inserted, 1 key already present (kept the old value). */
int kvmap_put(struct kvmap *m, const char *key, const char *val);
const char *kvmap_get(const struct kvmap *m, const char *key);
void kvmap_free(struct kvmap *m);

#endif
