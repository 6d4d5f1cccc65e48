/*
 * sieve-int.h - what the lib-sieve modules share with each other and not
 * with callers: the parser's entry point, diagnostics, tree freeing and
 * the built-in command table.
 */
#ifndef YUBIN_SIEVE_INT_H
#define YUBIN_SIEVE_INT_H

#include "lib-sieve/sieve.h"

/* Diagnostics collected while compiling. */
struct sieve_diagctx {
    struct sieve_diag *d;            /* may be NULL: only counted */
    size_t errors;
    size_t max_errors;
    int last_line;                   /* of the last error */
};
void sieve_diag_add(struct sieve_diagctx *dc, int line, int warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse script into top-level commands; 0, or -1 after errors were reported. */
int sieve_parse(const char *script, size_t len, const struct sieve_limits *lim,
                struct sieve_diagctx *dc, struct sieve_node ***cmds, size_t *ncmds);
void sieve_node_free(struct sieve_node *n);
void sieve_nodes_free(struct sieve_node **v, size_t n);

/* Validation (sieve-check.c). */
int sieve_check_script(struct sieve_script *s, const struct sieve_limits *lim,
                       struct sieve_diagctx *dc);
int sieve_script_requires(const struct sieve_script *s, const char *cap);

/* The core's commands and tests. */
extern const struct sieve_cmd_def sieve_core_defs[];
extern const size_t sieve_core_ndefs;

/* Variables and encoded characters (sieve-run.c). */
int sieve_var_name_ok(const char *s, size_t len);
/* RFC 5228 2.4.2.4: decode "${hex:..}" / "${unicode:..}"; malloc'd result, NULL if malformed. */
char *sieve_decode_encoded(const char *s);

/* The interpreter's state (sieve-run.c); commands in sieve-cmds.c use it. */
#define SIEVE_MATCH_VARS 33            /* ${0}..${32}, as Pigeonhole */
struct sieve_var {
    char *name;                      /* lower case */
    char *value;
};
struct sieve_vars {
    struct sieve_var *v;
    size_t n;
};
struct sieve_run {
    const struct sieve_script *s;
    const struct sieve_script *cur;  /* the script running now (an included one) */
    struct sieve_vars globals;       /* "global" variables and imap4flags' internal flags */
    char **once;                     /* scripts included with :once that ran */
    size_t nonce;
    size_t include_depth;
    struct sieve_msg msg;
    const struct sieve_limits *lim;
    struct sieve_limits deflim;
    struct sieve_result res;
    struct sieve_vars locals;        /* the current script's variables */
    char *match[SIEVE_MATCH_VARS];   /* ${0}..${9} */
    char *err;
    char **warnings;                 /* runtime problems that did not stop the script */
    size_t nwarnings;
    void *user;
};
#define SIEVE_RUN_RETURN 2           /* the include extension's "return" */
#define SIEVE_INCLUDE_MAX_DEPTH 10     /* Pigeonhole's sieve_include_max_nesting_depth */
#define SIEVE_INCLUDE_MAX 255          /* and sieve_include_max_includes */
/* include: load and compile the named script into n->priv (sieve-check.c). */
int sieve_check_include(struct sieve_check *c, struct sieve_node *n, const char *name, int global,
                        int optional, int once);
void sieve_check_global(struct sieve_check *c, const char *name);
/* set: a variable name (namespace, length, the per-script limit): 0 or -1 (reported). */
int sieve_check_variable(struct sieve_check *c, int line, const char *name);
/* Run an included script in its own variable scope: 0, 1 (stop) or -1. */
int sieve_run_included(struct sieve_run *run, const struct sieve_script *inc);
/* Variables: the value (never NULL) and setting one ("global.x", declared globals, locals). */
const char *sieve_var_get(struct sieve_run *run, const char *name);
void sieve_var_set(struct sieve_run *run, const char *name, const char *value);
/* Add an action, with the duplicate and conflict rules: 0 or -1 (runtime error). */
int sieve_result_add(struct sieve_run *run, const struct sieve_node *n, struct sieve_action *a);
/* Header field values of name (unfolded, decoded, trimmed); NULL-terminated, strv_free. */
char **sieve_header_values(struct sieve_run *run, const char *name, int decode);
void sieve_check_error(struct sieve_check *c, int line, const char *msg);
int sieve_check_requires(struct sieve_check *c, const char *cap);

/* imap4flags' internal variable (a name no script can write) and splitting flag strings. */
#define SIEVE_FLAGS_VAR "#flags"
char **sieve_split_flags(const char *s);

/*
 * The fields of all names, in message order per name (names first to
 * last); with index (RFC 5260 :index N, from the end with last) only that one.
 */
char **sieve_header_fields(struct sieve_run *run, char *const *names, int decode,
                           const struct sieve_arg *index, int last);

/* date and currentdate (sieve-date.c). */
int sieve_exec_date(struct sieve_run *run, const struct sieve_node *n);
int sieve_exec_currentdate(struct sieve_run *run, const struct sieve_node *n);
int sieve_check_date(struct sieve_check *c, struct sieve_node *n);
int sieve_check_currentdate(struct sieve_check *c, struct sieve_node *n);

/* The body test (sieve-body.c). */
int sieve_exec_body(struct sieve_run *run, const struct sieve_node *n);
int sieve_check_body(struct sieve_check *c, struct sieve_node *n);

/* Address helper: the part of local@domain (subaddress separator '+'); malloc'd or NULL. */
char *sieve_address_part(enum sieve_ap ap, const char *local, const char *domain);

#endif
