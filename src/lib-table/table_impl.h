/*
 * table_impl.h - internals shared by table.c and the per-type table files
 * (table_file.c, table_lmdb.c, table_regexp.c, table_cidr.c,
 * table_sqlite.c). Not for use outside the tables module.
 *
 * Owns: the table object and its per-type operations, the reader of
 * Postfix source files (logical lines, comments, continuation lines,
 * limits), the postmap "key whitespace value" and aliases(5) line
 * parsers, and a small in-memory string map.
 */
#ifndef YUBIN_TABLE_IMPL_H
#define YUBIN_TABLE_IMPL_H

#include "lib-table/table.h"
#include "lib/kvmap.h"
#include "lib/buf.h"

#include <stdio.h>
#include <stdint.h>
#include <sys/stat.h>

struct table_ops {
    /* key is already folded when the table folds keys. */
    int (*lookup)(struct table *t, const char *key, struct buf *result);
    void (*close)(struct table *t);
    /* Optional (postmap -s). */
    int (*iterate)(struct table *t, table_iter_fn fn, void *arg, char *err, size_t errlen);
};

struct table {
    char *spec;       /* as given to table_open, minus any proxy: prefix */
    char *type;
    char *name;
    int flags;        /* TABLE_F_* */
    int fold;         /* fold keys to lowercase before lookup */
    int refs;         /* shared handles: table_open of the same spec */
    const struct config *cfg; /* as given to table_open (sqlite: main.cf parameters) */
    const struct table_ops *ops;
    void *priv;
    struct table *next_open; /* registry of open tables */
};

/* Error helper: format into err (may be NULL/0). Returns -1. */
int table_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Per-type constructors: fill t->flags, t->fold, t->ops, t->priv. 0 / -1 + err. */
int table_static_open(struct table *t, char *err, size_t errlen);
int table_inline_open(struct table *t, char *err, size_t errlen);
int table_texthash_open(struct table *t, char *err, size_t errlen);
int table_unix_open(struct table *t, char *err, size_t errlen);
int table_fail_open(struct table *t, char *err, size_t errlen);
int table_union_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
int table_lmdb_open(struct table *t, char *err, size_t errlen);
int table_regexp_open(struct table *t, int pcre, char *err, size_t errlen);
int table_cidr_open(struct table *t, char *err, size_t errlen);
int table_sqlite_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
int table_socketmap_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
int table_pgsql_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
int table_mysql_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
int table_ldap_open(struct table *t, const struct config *cfg, char *err, size_t errlen);
/* The auth service's sql:/ldap: sources (table_dovecot.c). */
int table_dovecot_sql_open(struct table *t, char *err, size_t errlen);
int table_dovecot_ldap_open(struct table *t, char *err, size_t errlen);

/* table_async.c: is this remote lookup to be sent to proxymap (1), or made
 * in place (0)? When 1, *rc is the result (TABLE_PENDING or an answer). */
int table_async_lookup(struct table *t, const char *key, struct buf *result, int *rc);

/*
 * Source file reader: logical lines as Postfix's readllines() makes them.
 * Blank lines and lines whose first non-blank is '#' are skipped; a line
 * that starts with whitespace continues the previous logical line (its
 * newline is dropped, its leading whitespace kept). Physical and logical
 * lines are limited to TSRC_LINE_MAX bytes.
 */
#define TSRC_LINE_MAX (TABLE_KEY_MAX + TABLE_VALUE_MAX + 64)

struct tsrc {
    char *name;           /* file name, or the table spec for inline text */
    FILE *fp;
    int own_fp;           /* fclose at tsrc_close */
    const char *mem;      /* in-memory text (inline {...} rules) */
    size_t memlen, mempos;
    int lineno;           /* physical lines consumed */
    struct buf phys;      /* a physical line read ahead */
    int pending;          /* phys holds an unconsumed line */
    int pending_lineno;
    int eof;
};

int tsrc_open_file(struct tsrc *s, const char *path, char *err, size_t errlen);
void tsrc_open_mem(struct tsrc *s, const char *name, const char *text);
/* Read from an open stream (stdin for yubin map -i); not closed by tsrc_close. */
void tsrc_open_fp(struct tsrc *s, const char *name, FILE *fp);
/* 1: out holds a logical line starting at *lineno; 0: end; -1: error in err. */
int tsrc_next(struct tsrc *s, struct buf *out, int *lineno, char *err, size_t errlen);
void tsrc_close(struct tsrc *s);

/*
 * Turn "{ {rule 1}, {rule 2} }" (regexp:{...}, cidr:{...}, Postfix 3.7
 * inline specification) into "rule 1\nrule 2\n". NULL with err on bad
 * braces.
 */
char *table_inline_rules(const char *name, char *err, size_t errlen);
/* Strip one level of "{ ... }" and surrounding whitespace; NULL if unbalanced. */
char *table_unbrace(const char *s);

/*
 * "key whitespace value" (postmap(1) INPUT FILE FORMAT). The key ends at
 * the first whitespace outside "double quotes" (quotes stay part of the
 * key, as in Postfix). Modifies line. 0, or -1 with *why.
 */
int table_parse_kv(char *line, char **key, char **value, const char **why);
/*
 * aliases(5): "name: value, value". The name may be quoted and loses its
 * quotes; the value is normalised like postalias does (", " between
 * elements, runs of blanks outside quotes become one space). value is
 * written to out. 0, or -1 with *why.
 */
int table_parse_alias(char *line, char **name, struct buf *value, const char **why);


/* main.cf parameter PREFIX_NAME if set (sqlite:PREFIX), else NULL; caller frees. */
char *table_cfg_param(const struct config *cfg, const char *prefix, const char *name);

/* Has the file changed since *st (inode, size, times)? Updates *st.
 * 1 changed, 0 same, -1 stat failed (errno set). */
int table_file_changed(const char *path, struct stat *st);
/* Current check interval in ms (table_set_check_interval). */
unsigned table_check_interval(void);

#endif
