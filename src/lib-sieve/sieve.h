/*
 * sieve.h - the Sieve mail filtering language (RFC 5228): compile a
 * script, run it against one message, get the list of actions.
 *
 * Owns: the public API of lib-sieve and the shapes extension writers
 * see (the syntax tree, command definitions, the run context). The
 * library performs no action itself: the caller (LDA, LMTP server, the
 * conformance runner) gets a list of actions and carries them out.
 *
 * The pieces:
 *  - sieve-parse.c: lexer and parser (RFC 5228 section 8) into a tree;
 *  - sieve-check.c: the command/test table and validation ("compile"):
 *    require, argument signatures, comparators, match types, address parts;
 *  - sieve-match.c: comparators and match types (:is :contains :matches
 *    :regex :count :value);
 *  - sieve-run.c: the interpreter and the result (actions, duplicates,
 *    implicit keep), variables.
 *
 * A caller may add commands and tests (the test-only vnd.dovecot.testsuite
 * extension does) through struct sieve_ext.
 */
#ifndef YUBIN_SIEVE_H
#define YUBIN_SIEVE_H

#include <stddef.h>
#include <stdint.h>

/* Limits (sieve_limits_default fills them). */
struct sieve_limits {
    size_t max_script;       /* bytes of script */
    size_t max_string;       /* bytes of one string */
    size_t max_depth;        /* nesting of blocks and tests */
    size_t max_commands;     /* commands and tests in one script */
    size_t max_list;         /* items in one string list */
    size_t max_actions;      /* actions in one result */
    size_t max_redirects;    /* redirect actions in one result */
    size_t max_errors;       /* errors reported before giving up */
};
void sieve_limits_default(struct sieve_limits *l);

/* ---- syntax tree ---- */

enum sieve_arg_kind { SIEVE_ARG_NUMBER, SIEVE_ARG_STRING, SIEVE_ARG_LIST, SIEVE_ARG_TAG };

struct sieve_arg {
    enum sieve_arg_kind kind;
    int line;
    uint64_t num;            /* NUMBER */
    char *tag;               /* TAG, without the ':' */
    char **strs;             /* STRING (one) and LIST: NULL-terminated */
    size_t nstrs;
};

struct sieve_cmd_def;

/* What validation found in a command's arguments. */
enum sieve_cmp { SIEVE_CMP_CASEMAP, SIEVE_CMP_OCTET, SIEVE_CMP_NUMERIC };
enum sieve_mt { SIEVE_MT_IS, SIEVE_MT_CONTAINS, SIEVE_MT_MATCHES, SIEVE_MT_REGEX,
                SIEVE_MT_COUNT, SIEVE_MT_VALUE };
enum sieve_rel { SIEVE_REL_GT, SIEVE_REL_GE, SIEVE_REL_LT, SIEVE_REL_LE, SIEVE_REL_EQ,
                 SIEVE_REL_NE };
enum sieve_ap { SIEVE_AP_ALL, SIEVE_AP_LOCAL, SIEVE_AP_DOMAIN, SIEVE_AP_USER, SIEVE_AP_DETAIL };

#define SIEVE_MAX_TAGS 16
#define SIEVE_MAX_POS  4

struct sieve_node {
    char *name;
    int line;
    int is_test;
    struct sieve_arg *args;
    size_t nargs;
    struct sieve_node **tests;       /* one test, or a test list */
    size_t ntests;
    int test_list;                   /* tests came in "( ... )" */
    struct sieve_node **block;
    size_t nblock;
    int has_block;
    /* filled by validation */
    const struct sieve_cmd_def *def;
    enum sieve_cmp cmp;
    enum sieve_mt mt;
    enum sieve_rel rel;
    enum sieve_ap ap;
    const struct sieve_arg *tagv[SIEVE_MAX_TAGS];   /* per def->tags[i]: its value (or the tag) */
    const struct sieve_arg *pos[SIEVE_MAX_POS];     /* positional arguments */
    void *priv;                      /* per-command compiled data (a regex...) */
    void (*priv_free)(void *);
};

/* ---- command definitions ---- */

struct sieve_run;
struct sieve_check;

/* Value kinds in signatures: 'S' string, 'L' string list (or one string), 'N' number, 0 none. */
struct sieve_tag_def {
    const char *name;
    char value;
    const char *ext;                 /* extension that must be required, or NULL */
};

#define SIEVE_SIG_MATCH   0x01       /* takes :comparator and a match type */
#define SIEVE_SIG_ADDR    0x02       /* takes an address part */
#define SIEVE_SIG_TEST1   0x04       /* takes exactly one test */
#define SIEVE_SIG_TESTS   0x08       /* takes a test list */
#define SIEVE_SIG_BLOCK   0x10       /* takes a block */
#define SIEVE_SIG_OPTPOS  0x20       /* the last positional argument is optional */
#define SIEVE_SIG_OCTET   0x40       /* the default comparator is i;octet (Pigeonhole's "string") */
#define SIEVE_SIG_NOVARS  0x80       /* a match does not set ${0}..${N} (body, as Pigeonhole) */

/*
 * A command's or test's run function: commands return 0 (go on), 1 (stop
 * the script) or -1 (runtime error, message set with sieve_run_error);
 * tests return 1 (true), 0 (false) or -1.
 */
typedef int (*sieve_exec_fn)(struct sieve_run *run, const struct sieve_node *n);
/* Extra validation after the signature matched: 0, or -1 with an error reported. */
typedef int (*sieve_check_fn)(struct sieve_check *c, struct sieve_node *n);

struct sieve_cmd_def {
    const char *name;
    int is_test;
    const char *ext;                 /* extension that must be required, or NULL for core */
    const char *pos;                 /* positional signature, e.g. "LL" */
    unsigned flags;                  /* SIEVE_SIG_* */
    const struct sieve_tag_def *tags; /* NULL-name terminated, or NULL */
    sieve_check_fn check;
    sieve_exec_fn exec;
};

/* Extra extensions a caller brings (the test suite's). */
struct sieve_ext {
    const char *name;                /* capability string for require */
    const struct sieve_cmd_def *defs;
    size_t ndefs;
};

/* ---- compiling ---- */

/* How include (RFC 6609) finds scripts: 0 with a malloc'd text, -1 not found. */
struct sieve_loader {
    int (*load)(void *ctx, int global, const char *name, char **text, size_t *len);
    void *ctx;
};

struct sieve_script {
    char *name;                      /* for include: the name it was included by, or NULL */
    int global;                      /* included with :global */
    const struct sieve_script *parent;
    const struct sieve_loader *loader;
    size_t *nincludes;               /* includes compiled so far, shared with the parent */
    size_t own_nincludes;
    char **globals;                  /* variables declared "global" */
    size_t nglobals;
    struct sieve_node **cmds;
    size_t ncmds;
    char **required;                 /* capabilities named by require */
    size_t nrequired;
    const struct sieve_ext *exts;
    size_t nexts;
};

struct sieve_diag {
    char **msgs;                     /* "line N: error: ..." */
    size_t n;
    size_t errors, warnings;
};
void sieve_diag_free(struct sieve_diag *d);

/*
 * Compile script[0..len) ("name" appears in messages only). Returns the
 * script, or NULL with the errors in diag (diag may be NULL). Extra
 * extensions (may be NULL/0) stay referenced by the script.
 */
struct sieve_script *sieve_compile(const char *script, size_t len, const struct sieve_limits *lim,
                                   const struct sieve_ext *exts, size_t nexts,
                                   struct sieve_diag *diag);
/* The same with a loader for include (loader may be NULL: include finds nothing). */
struct sieve_script *sieve_compile_with(const char *script, size_t len,
                                        const struct sieve_limits *lim,
                                        const struct sieve_ext *exts, size_t nexts,
                                        const struct sieve_loader *loader,
                                        struct sieve_diag *diag);
void sieve_script_free(struct sieve_script *s);
/* Is capability cap known (to the core or to exts)? */
int sieve_capability_known(const char *cap, const struct sieve_ext *exts, size_t nexts);
/* Space-separated list of the capabilities the library supports. */
const char *sieve_capabilities(void);

/* ---- running ---- */

enum sieve_action_kind {
    SIEVE_ACT_KEEP, SIEVE_ACT_FILEINTO, SIEVE_ACT_REDIRECT, SIEVE_ACT_DISCARD,
    SIEVE_ACT_REJECT, SIEVE_ACT_EREJECT, SIEVE_ACT_VACATION,
};

struct sieve_action {
    enum sieve_action_kind kind;
    char *target;                    /* folder (KEEP: "INBOX"), address, or reason */
    char **flags;                    /* imap4flags for KEEP/FILEINTO, NULL-terminated or NULL */
    int copy;                        /* :copy */
    int create;                      /* :create */
    int implicit;                    /* KEEP: the implicit keep */
    /* vacation */
    char *subject, *from, *handle, *reason;
    char **addresses;
    int mime;
    uint64_t seconds;
    int line;
};

struct sieve_result {
    struct sieve_action *v;
    size_t n;
    int keep_cancelled;              /* the implicit keep was cancelled */
};
void sieve_result_free(struct sieve_result *r);
/* Same mailbox? Names are compared exactly, except an INBOX first component in any case. */
int sieve_folder_eq(const char *a, const char *b);

/* The message and its envelope, as the caller sees them. */
struct sieve_msg {
    const char *data;                /* header and body, LF or CRLF */
    size_t len;
    const char *env_from;            /* "" for the null sender */
    const char *env_to;
    const char *env_auth;            /* or NULL */
    /* mailboxexists (RFC 5490); NULL: no mailbox exists */
    int (*mailbox_exists)(void *ctx, const char *name);
    void *ctx;
};

/*
 * RFC 3834 / RFC 5230: may a vacation reply be sent for msg? 1 yes, 0 no
 * with *why set: null or mailer-daemon sender, Auto-Submitted other than
 * "no", List-Id/List-* or Precedence bulk/list/junk headers, or none of
 * the recipient's addresses (env_to, own, the action's :addresses) in
 * To/Cc/Bcc/Resent-*. Remembering whom was answered when is the caller's.
 */
int sieve_vacation_allowed(const struct sieve_msg *msg, const struct sieve_action *a,
                           const char *const *own, const char **why);
/*
 * The reply for a vacation action (RFC 5230 5): 0 with *out (*outlen
 * bytes, CRLF lines, malloc'd) to be sent from the null sender to *rcpt
 * (malloc'd); -1 with *why when no reply is to be sent
 * (sieve_vacation_allowed).
 */
int sieve_vacation_compose(const struct sieve_msg *msg, const struct sieve_action *a,
                           const char *const *own, char **out, size_t *outlen, char **rcpt,
                           const char **why);

/*
 * Run script against msg: fills res (with the implicit keep added at the
 * end when it was not cancelled). Returns 0, or -1 on a runtime error
 * (message in *err, malloc'd): the caller then keeps the message in INBOX.
 */
int sieve_execute(const struct sieve_script *s, const struct sieve_msg *msg,
                  const struct sieve_limits *lim, struct sieve_result *res, char **err);

/* ---- for extension writers ---- */

struct sieve_run *sieve_run_new(const struct sieve_script *s, const struct sieve_msg *msg,
                                const struct sieve_limits *lim);
void sieve_run_free(struct sieve_run *run);
/* Run the whole script: 0, or -1 (runtime error, see sieve_run_errmsg). */
int sieve_run_script(struct sieve_run *run);
/* Run a block: 0, 1 (stop) or -1. */
int sieve_run_block(struct sieve_run *run, struct sieve_node *const *cmds, size_t n);
/* Add the implicit keep when due and hand the result over (run keeps an empty one). */
void sieve_run_take_result(struct sieve_run *run, struct sieve_result *out);
const struct sieve_result *sieve_run_result(const struct sieve_run *run);
void sieve_run_reset_result(struct sieve_run *run);
/* Move from's result into run's (replacing it, or appended with the duplicate rules). */
void sieve_run_adopt_result(struct sieve_run *run, struct sieve_run *from, int append);
/* Replace the message (the caller keeps the storage alive) or an envelope part. */
void sieve_run_set_msg(struct sieve_run *run, const struct sieve_msg *msg);
int sieve_run_error(struct sieve_run *run, const struct sieve_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *sieve_run_errmsg(const struct sieve_run *run);
/* Problems that did not stop the run (an invalid regex from a variable...): "line N: error: ..." */
char *const *sieve_run_warnings(const struct sieve_run *run, size_t *n);
/* imap4flags' internal flags (space-separated), as a stored message's flags are seen. */
void sieve_run_set_flags(struct sieve_run *run, const char *flags);
/* Opaque pointer for the extension. */
void sieve_run_set_user(struct sieve_run *run, void *user);
void *sieve_run_user(const struct sieve_run *run);
/* Argument values with variables expanded (malloc'd; free with strv_free / free). */
char **sieve_run_strlist(struct sieve_run *run, const struct sieve_arg *a);
char *sieve_run_string(struct sieve_run *run, const struct sieve_arg *a);
/* Match values against n's keys (pos[keypos]) with n's comparator and match type: 1/0/-1. */
int sieve_run_match(struct sieve_run *run, const struct sieve_node *n, char *const *values,
                    size_t nvalues, const struct sieve_arg *keys);

/* ---- matching (sieve-match.c) ---- */

/* Compare with a comparator: <0, 0, >0. */
int sieve_cmp_compare(enum sieve_cmp cmp, const char *a, const char *b);
/* :matches with captures: caps[0..9] malloc'd when caps != NULL and it matched. */
int sieve_glob(enum sieve_cmp cmp, const char *pat, const char *s, char **caps, size_t ncaps);
int sieve_rel_holds(enum sieve_rel rel, int c);
int sieve_rel_parse(const char *s, enum sieve_rel *out);

#endif
