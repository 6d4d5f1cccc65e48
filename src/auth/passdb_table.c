/*
 * passdb_table.c - lookup tables (table.h) as auth sources: the glue
 * between passdb.c and the table module.
 *
 * Until the table module is part of this tree, only passwd-file sources
 * are available and any other type is refused when the auth service
 * starts, with a clear message.
 */
#include "util.h"

#include <stdio.h>

struct config;

void *authdb_table_open(const char *spec, const struct config *cfg, char *err, size_t errlen);
void authdb_table_close(void *t);
int authdb_table_lookup(void *t, const char *key, char **value);

void *authdb_table_open(const char *spec, const struct config *cfg, char *err, size_t errlen)
{
    (void)cfg;
    snprintf(err, errlen, "%s: lookup tables are not available as auth sources yet", spec);
    return NULL;
}

void authdb_table_close(void *t)
{
    (void)t;
}

int authdb_table_lookup(void *t, const char *key, char **value)
{
    (void)t;
    (void)key;
    *value = NULL;
    return -1;
}
