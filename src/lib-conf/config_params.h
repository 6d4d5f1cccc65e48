/*
 * config_params.h - private to the config module: the parameter table.
 *
 * One entry per Postfix 3.7 parameter name (and yubin's own), with its
 * raw default (may reference $other parameters; NULL when computed at run
 * time), its value type, its range and whether yubin implements it. The
 * rows are in params.def; cfg_param_table[P_name] is the row of P_name.
 */
#ifndef YUBIN_CONFIG_PARAMS_H
#define YUBIN_CONFIG_PARAMS_H

#include "lib-conf/params.h"

#include <limits.h>
#include <stddef.h>

enum param_type { PT_STR, PT_BOOL, PT_INT, PT_TIME, PT_SIZE, PT_LIST };

#define KNOWN 0x0 /* Postfix knows it; yubin accepts it and warns it is ignored */
#define IMPL  0x1 /* yubin implements it */
#define DYN   0x2 /* default computed at run time (hostname, interfaces, -c dir) */

#define NOMIN LLONG_MIN /* no lower bound */
#define NOMAX LLONG_MAX /* no upper bound */

struct param_def {
    const char *name;
    const char *def;     /* raw default; NULL for DYN */
    unsigned char type;  /* enum param_type */
    char unit;           /* PT_TIME: default unit s m h d w */
    unsigned char flags; /* IMPL, DYN */
    long long min, max;  /* PT_INT, PT_SIZE, PT_TIME (seconds): the valid range */
};

/* Per-transport parameters "<service>_<suffix>" for master.cf services. */
struct svc_param_def {
    const char *suffix;  /* e.g. "destination_concurrency_limit" */
    const char *def;     /* e.g. "$default_destination_concurrency_limit" */
    unsigned char type;
    char unit;
    unsigned char pipe_only; /* only listed for pipe(8) services */
};

extern const struct param_def cfg_param_table[];
extern const size_t cfg_param_table_len;
extern const struct svc_param_def cfg_svc_param_table[];
extern const size_t cfg_svc_param_table_len;

/* Binary search of cfg_param_table (sorted by name); NULL if unknown. */
const struct param_def *cfg_param_def(const char *name);

#endif
