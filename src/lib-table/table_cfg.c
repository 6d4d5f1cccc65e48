/*
 * table_cfg.c - the configuration side of tables: maps_open_param()
 * (a maps list from a main.cf parameter) and main.cf-style parameters of
 * sqlite: tables ("sqlite:name" reads name_dbpath, name_query ...).
 */
#include "lib-table/table_impl.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>

struct maps *maps_open_param(const struct config *cfg, enum param_id param)
{
    char err[1024];
    const char *v = cfg_get(cfg, param);
    struct maps *m = maps_open(v ? v : "", cfg, err, sizeof(err));
    if (!m)
        msg_error("%s: %s", cfg_param_name(param), err);
    return m;
}

char *table_cfg_param(const struct config *cfg, const char *prefix, const char *name)
{
    char *full = xasprintf("%s_%s", prefix, name);
    const char *v = cfg_is_set_by_name(cfg, full) ? cfg_get_by_name(cfg, full) : NULL;
    free(full);
    return v ? xstrdup(v) : NULL;
}
