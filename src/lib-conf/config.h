/*
 * config.h - main.cf and master.cf, read the way Postfix reads them.
 *
 * Owns: parsing main.cf (comments, continuation lines, name = value),
 * parameter expansion ($name, ${name}, $(name), ${name?text}, ${name:text},
 * ${name?{text}:{text}}), the table of Postfix 3.7 defaults for every
 * parameter yubin implements, the list of Postfix parameters it knows but
 * does not implement (reported by `yubin check` with file:line), and
 * master.cf (eight columns, -o overrides applied per service).
 *
 * Values returned by cfg_get*() are fully expanded. A struct config is
 * immutable after load except through cfg_set() (used to apply a
 * service's -o overrides in the worker that runs that service).
 */
#ifndef YUBIN_CONFIG_H
#define YUBIN_CONFIG_H

#include "lib-conf/params.h"

#include <stddef.h>
#include <stdio.h>

/* Diagnostics collected while loading; errors stop the start, warnings do not. */
struct cfg_diag {
    int is_error;
    char *file;
    int line;
    char *text;
};

struct cfg_diags {
    struct cfg_diag *v;
    size_t n;
};

void cfg_diags_add(struct cfg_diags *d, int is_error, const char *file, int line,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
size_t cfg_diags_errors(const struct cfg_diags *d);
size_t cfg_diags_warnings(const struct cfg_diags *d);
void cfg_diags_free(struct cfg_diags *d);
/* "FILE:LINE: error: text" (or "FILE: warning: text" without a line). */
void cfg_diag_format(const struct cfg_diag *g, char *out, size_t outlen);
/* Print every diagnostic, one per line, to f (e.g. stderr). */
void cfg_diags_print(const struct cfg_diags *d, FILE *f);
/* Log every diagnostic through msg_error / msg_warn. */
void cfg_diags_log(const struct cfg_diags *d);

enum svc_type { SVC_INET, SVC_UNIX, SVC_UNIX_DGRAM, SVC_FIFO, SVC_PASS };

struct master_service {
    char *name;          /* column 1, e.g. "smtp", "127.0.0.1:2525", "submission" */
    enum svc_type type;  /* column 2 */
    int private_;        /* column 3: y (default) / n */
    int unpriv;          /* column 4: y (default) / n */
    int chroot;          /* column 5 */
    int wakeup;          /* column 6: seconds, 0 = none */
    int maxproc;         /* column 7: "-" = default_process_limit */
    char *command;       /* column 8, first word: "smtpd", "qmgr", "virtual" ... */
    char **args;         /* remaining words of the command, NULL terminated, -o removed */
    char **overrides;    /* "name=value" pairs from -o, NULL terminated */
    char *host;          /* inet: listen host or NULL for inet_interfaces */
    char *port;          /* inet: port or service name */
    char *file;
    int line;
    /* yubin additions: the columns as written, for `yubin conf -M` */
    char private_col;    /* 'y', 'n' or '-' */
    char unpriv_col;
    char chroot_col;
    int wakeup_if_used;  /* wakeup column ends in '?' */
    int written_fifo;    /* type fifo in master.cf, run as unix (pickup, qmgr) */
    int wakeup_default;  /* wakeup column was '-' */
    int maxproc_default; /* maxproc column was '-' */
};

/* What yubin does with a master.cf service (by its command, column 8). */
enum svc_role {
    SVC_ROLE_RUN,         /* yubin runs it: smtpd pickup qmgr virtual local smtp auth */
    SVC_ROLE_BUILTIN,     /* a Postfix internal service whose job yubin does inside
                             its own processes (cleanup, trivial-rewrite, bounce ...):
                             accepted silently, not started */
    SVC_ROLE_UNSUPPORTED, /* pipe, lmtp, postscreen, unknown commands, pass/fifo types */
};
enum svc_role cfg_service_role(const struct master_service *svc);
const char *cfg_svc_type_name(enum svc_type t);

struct config;

/*
 * Load DIR/main.cf and DIR/master.cf. Missing master.cf uses the built-in
 * default master.cf. Returns NULL only on errors (listed in diags);
 * warnings (unknown parameters ...) are also listed in diags.
 */
struct config *config_load(const char *dir, struct cfg_diags *diags);
/*
 * Whatever can be read, errors ignored (bad lines skipped, no checks):
 * for `yubin stop` and `status`, which must work with a broken main.cf.
 */
struct config *config_load_lenient(const char *dir);
/* Built-in defaults only (main.cf not read; master.cf if it parses, else the built-in one): `yubin conf -d`. */
struct config *config_defaults(const char *dir);
void config_free(struct config *cfg);
const char *cfg_dir(const struct config *cfg);

/*
 * Parameters by constant (params.h: P_name for every row of params.def).
 * The typed getters check, in every build, that the parameter has that
 * type in the table (INVARIANT): cfg_get_int() on a string parameter
 * aborts with file:line. Integer, size and time values are within the
 * table's min..max: `yubin check` rejects others, and a value that is out
 * of range or malformed at run time is logged and replaced by the default.
 */
/* Expanded value; never NULL (a default computed at run time may be ""). */
const char *cfg_get(const struct config *cfg, enum param_id p);
/* Raw (unexpanded) value as written in main.cf or the default. */
const char *cfg_get_raw(const struct config *cfg, enum param_id p);
long long cfg_get_int(const struct config *cfg, enum param_id p);     /* PT_INT */
int cfg_get_bool(const struct config *cfg, enum param_id p);          /* PT_BOOL: yes/no/true/false/1/0 */
long long cfg_get_time(const struct config *cfg, enum param_id p);    /* PT_TIME, seconds; units s m h d w */
long long cfg_get_time_ms(const struct config *cfg, enum param_id p); /* PT_TIME, milliseconds */
long long cfg_get_size(const struct config *cfg, enum param_id p);    /* PT_SIZE */
/* Split value on commas/whitespace (Postfix list); caller strv_free()s. */
char **cfg_get_list(const struct config *cfg, enum param_id p);
/* Is the parameter explicitly set in main.cf (or by cfg_set)? */
int cfg_is_set(const struct config *cfg, enum param_id p);
/* Where a parameter was set: file and line (0 for cfg_set); NULL if not set. */
const char *cfg_set_where(const struct config *cfg, enum param_id p, int *line);

/*
 * Parameters by a name known only at run time: names read from main.cf or
 * the command line (`yubin conf`, -o), per-service parameters
 * "<service>_<suffix>" of master.cf services (cfg_svc_param_table),
 * restriction classes, "<table>_<name>" table parameters, $name in local(8)
 * templates, TLS names composed from a role prefix. Same meaning as
 * the getters above; an unknown name yields NULL (0 for the typed ones).
 */
const char *cfg_get_by_name(const struct config *cfg, const char *name);
const char *cfg_get_raw_by_name(const struct config *cfg, const char *name);
long long cfg_get_int_by_name(const struct config *cfg, const char *name);
long long cfg_get_time_by_name(const struct config *cfg, const char *name);
int cfg_get_bool_by_name(const struct config *cfg, const char *name);
long long cfg_get_size_by_name(const struct config *cfg, const char *name);
char **cfg_get_list_by_name(const struct config *cfg, const char *name);
int cfg_is_set_by_name(const struct config *cfg, const char *name);
const char *cfg_set_where_by_name(const struct config *cfg, const char *name, int *line);

/* Set a parameter in memory (service -o override, or command line). */
void cfg_set(struct config *cfg, const char *name, const char *value);
/* Apply a service's -o overrides. Values may reference $main_cf_param. */
void cfg_apply_service(struct config *cfg, const struct master_service *svc);

/* Expand $name references in an arbitrary string against cfg. Caller frees. */
char *cfg_expand(const struct config *cfg, const char *text);

/* Iterate all known parameter names (implemented or not), sorted: i is an enum param_id. */
size_t cfg_param_count(void);
const char *cfg_param_name(size_t i);
/* Expanded default of a name (table or per-service); NULL if it has none. */
const char *cfg_param_default_by_name(const struct config *cfg, const char *name);
/* Raw default (as `postconf -d` prints it); NULL if the name has no default. */
const char *cfg_param_default_raw_by_name(const struct config *cfg, const char *name);
/* The table's raw default of a constant, without a config; NULL for defaults computed at run time. */
const char *cfg_param_builtin(enum param_id p);
int cfg_param_implemented(const char *name);
/* Known to yubin: a Postfix 3.7 parameter, or "<service>_<suffix>" of a master.cf service. */
int cfg_param_known(const struct config *cfg, const char *name);
/*
 * Names explicitly set in main.cf (or by cfg_set) that are valid, sorted;
 * includes user-defined parameters referenced elsewhere. Caller strv_free()s.
 */
char **cfg_set_names(const struct config *cfg);

/* inet_protocols: which address families to use (IPv6 only if the kernel has it). */
void cfg_inet_protocols(const struct config *cfg, int *want4, int *want6);

/* master.cf */
size_t cfg_service_count(const struct config *cfg);
const struct master_service *cfg_service(const struct config *cfg, size_t i);
const struct master_service *cfg_service_find(const struct config *cfg, const char *name,
                                              enum svc_type type);
/*
 * The UNIX socket of a unix service: $queue_directory/private/NAME, or
 * public/NAME when its private column is n (Postfix's qmgr and pickup are
 * public). Services not in master.cf are taken as private. Caller frees.
 */
char *cfg_unix_socket_path(const struct config *cfg, const char *service);
/* Worker processes the master runs for this service (see ARCHITECTURE.md). */
int cfg_service_procs(const struct config *cfg, const struct master_service *svc);

/* Paths derived from config: queue_directory and friends; caller frees. */
char *cfg_path(const struct config *cfg, enum param_id p);

/* Edit main.cf in place: set name = value (conf -e). 0 on success. */
int config_edit_main(const char *dir, const char *name, const char *value, char *err, size_t errlen);

#endif
