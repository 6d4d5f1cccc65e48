/*
 * config_int.h - private to the config module (config*.c): the in-memory
 * configuration, the parameter map and the shared line reader.
 */
#ifndef YUBIN_CONFIG_INT_H
#define YUBIN_CONFIG_INT_H

#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib-conf/config_params.h"

#define CFG_FILE_MAX    (4u * 1024 * 1024) /* main.cf / master.cf size */
#define CFG_LINE_MAX    (1024u * 1024)     /* one logical line */
#define CFG_VALUE_MAX   (1024u * 1024)     /* one expanded value */
#define CFG_NAME_MAX    256                /* one parameter name */
#define CFG_DEPTH_MAX   64                 /* nested $name expansion */

/* One parameter name: its explicit value (if set) and cached expansions. */
struct centry {
    char *name;
    char *value;        /* explicit value (main.cf, cfg_set), NULL if not set */
    char *file;         /* where value came from (NULL for cfg_set) */
    int line;
    char *expanded;     /* cache for cfg_get() */
    char *experr;       /* first expansion error of that value, or NULL */
    char *dyn;          /* cache for a run-time computed default */
    char *dflt_exp;     /* cache for cfg_param_default_by_name() */
    unsigned char has_exp, has_dyn, has_dflt, expanding, referenced;
};

/* Open-addressing hash map name -> centry, plus memory freed with the config. */
struct cmap {
    struct centry **slots;
    size_t cap, n;
    char **grave;       /* strings handed out earlier and invalidated since */
    size_t ngrave, capgrave;
};

struct config {
    char *dir;          /* absolute configuration directory */
    char *main_path;    /* DIR/main.cf */
    char *master_path;  /* DIR/master.cf, or the built-in default's label */
    struct cmap *map;
    struct master_service **svcs;
    size_t nsvcs;
    char *service_name; /* set by cfg_apply_service ($service_name) */
};

struct centry *cmap_get(struct cmap *m, const char *name, int create);
void cmap_free(struct cmap *m);
/* Drop every cached expansion (after a value changed); pointers stay valid. */
void cmap_invalidate(struct cmap *m);

/*
 * Logical lines, the way Postfix reads main.cf and master.cf: '#' lines and
 * blank lines are skipped, a line starting with whitespace continues the
 * previous one (joined with one space), trailing whitespace is dropped.
 */
struct llreader {
    const char *p, *end;
    const char *file;
    int lineno;
};
void ll_init(struct llreader *r, const char *file, const char *text, size_t len);
/* Next logical line (malloc'd) and its first physical line number; NULL at EOF. */
char *ll_next(struct llreader *r, int *line, struct cfg_diags *d);

/* master.cf (config_master.c) */
/* Read cfg->dir/master.cf, or the built-in default when it is missing or builtin is set. */
int cfg_master_load(struct config *cfg, struct cfg_diags *d, int builtin);
void cfg_master_free(struct config *cfg);
/* "<service>_<suffix>" of a master.cf service; NULL if name is not one. */
const struct svc_param_def *cfg_svc_param(const struct config *cfg, const char *name);

/* Run-time defaults (config_sys.c). Caller frees. */
char *cfg_sys_hostname_default(const struct config *cfg);
char *cfg_sys_domain_default(const struct config *cfg);
char *cfg_sys_mynetworks(const struct config *cfg);

/* Values (config.c), shared with the validators. */
int cfg_parse_bool(const char *s, int *out);
int cfg_parse_int(const char *s, long long *out);
int cfg_parse_time(const char *s, char unit, long long *seconds);
int cfg_parse_size(const char *s, long long *out);
int cfg_valid_name(const char *s, size_t len);
/* Expanded value and its expansion error (NULL if none). */
const char *cfg_get_checked(const struct config *cfg, const char *name, const char **err);
/* Type, unit and implemented flag of a name (table or per-service); 0 if unknown. */
int cfg_param_info(const struct config *cfg, const char *name, int *type, char *unit, int *impl);
/* Scan a raw value for $name references; cb(name, len, conditional, arg). */
void cfg_scan_refs(const char *value, void (*cb)(const char *name, size_t len, int cond, void *arg),
                   void *arg);

#endif
