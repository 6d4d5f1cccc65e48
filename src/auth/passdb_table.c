/*
 * passdb_table.c - yubin lookup tables (table.h) as auth sources: the
 * glue between passdb.c and the table module. The key is the normalized
 * login name; the value's format is described in passdb.h.
 */
#include "lib-table/table.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct config;

void *auth_db_table_open(const char *spec, const struct config *cfg, char *err, size_t errlen);
void auth_db_table_close(void *t);
int auth_db_table_lookup(void *t, const char *key, char **value);

#define VALUE_MAX 8192

void *auth_db_table_open(const char *spec, const struct config *cfg, char *err, size_t errlen)
{
    if (!strchr(spec, ':')) {
        snprintf(err, errlen, "%s: expected type:name (passwd-file:/path, sqlite:/path.cf, ...)",
                 spec);
        return NULL;
    }
    /* sql:FILE and ldap:FILE are Dovecot's .conf.ext files (table_dovecot.c). */
    if (strncasecmp(spec, "sql:", 4) == 0 || strncasecmp(spec, "ldap:", 5) == 0) {
        char *dspec = xasprintf("dovecot-%s", spec);
        void *t = table_open(dspec, cfg, err, errlen);
        free(dspec);
        return t;
    }
    return table_open(spec, cfg, err, errlen);
}

void auth_db_table_close(void *t)
{
    table_close(t);
}

/* 1 found (*value allocated), 0 not found, -1 temporary failure. */
int auth_db_table_lookup(void *t, const char *key, char **value)
{
    struct buf b;
    buf_init(&b, VALUE_MAX);
    *value = NULL;
    int rc = table_lookup(t, key, &b);
    if (rc == TABLE_FOUND) {
        *value = xstrdup(buf_cstr(&b));
        memset(b.data, 0, b.cap);
    }
    buf_free(&b);
    return rc == TABLE_FOUND ? 1 : rc == TABLE_NOTFOUND ? 0 : -1;
}
