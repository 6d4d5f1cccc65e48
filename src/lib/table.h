/*
 * table.h - lookup tables ("type:name"), as Postfix's dictionaries.
 *
 * Owns: opening tables by their "type:name" spec, simple key lookup, the
 * "maps" list type used for parameters like virtual_alias_maps, and
 * Postfix's address search order for access(5), virtual(5), aliases(5)
 * and canonical(5) tables.
 *
 * Types: static:, inline:{...}, texthash:, hash: and lmdb: (LMDB files
 * built by `yubin map`, reopened when rebuilt), regexp: and pcre: (PCRE2),
 * cidr:, unionmap:{...}, sqlite: (sqlite_table(5) .cf file), and
 * passwd-file is NOT a table (see auth).
 */
#ifndef YUBIN_TABLE_H
#define YUBIN_TABLE_H

#include "buf.h"

struct config;
struct table;

/* Lookup results. */
#define TABLE_FOUND     1
#define TABLE_NOTFOUND  0
#define TABLE_TEMPFAIL  (-1)   /* database down, file unreadable: defer, never drop */

/* Table flags (from the type). */
#define TABLE_F_PATTERN 0x1    /* regexp/pcre/cidr: matched with the full key only */
#define TABLE_F_FIXED   0x2    /* static/inline etc. */

/*
 * Open a table. cfg may be NULL (no parameter expansion in sql .cf).
 * Returns NULL with a message in err on failure (e.g. "regexp:/x line 3: ...").
 */
struct table *table_open(const char *spec, const struct config *cfg, char *err, size_t errlen);
void table_close(struct table *t);
/* Exact-key lookup. Keys are folded to lowercase for non-pattern tables
 * (Postfix's default dict flags). result receives the value. */
int table_lookup(struct table *t, const char *key, struct buf *result);
int table_flags(const struct table *t);
const char *table_spec(const struct table *t);

/* A list of tables, searched in order. */
struct maps;
/* Open the tables listed in parameter value `value` (already expanded). */
struct maps *maps_open(const char *value, const struct config *cfg, char *err, size_t errlen);
/* Convenience: maps_open(cfg_get(cfg, param)). Logs and returns NULL on error. */
struct maps *maps_open_param(const struct config *cfg, const char *param);
void maps_close(struct maps *m);
int maps_empty(const struct maps *m);
int maps_lookup(struct maps *m, const char *key, struct buf *result);

/*
 * Address lookup with Postfix's search order:
 *   user+ext@domain, user@domain, user+ext (local domains / flags), user,
 *   @domain, and (MAPS_ADDR_PARENT) parent domains .domain for access maps.
 * `delim` is recipient_delimiter (may be "" or NULL). flags below.
 * On TABLE_FOUND, *ext_used is set to 1 if the match dropped the extension
 * (so callers can re-append it, as virtual alias expansion does).
 */
#define MAPS_ADDR_LOCALPART  0x1  /* also try bare localpart (aliases, local_recipient_maps) */
#define MAPS_ADDR_DOMAIN     0x2  /* also try @domain (virtual) */
#define MAPS_ADDR_ACCESS     0x4  /* access(5): user@domain, domain, parent domains, user@ */
#define MAPS_ADDR_PARENT     0x8  /* with ACCESS: parent_domain_matches_subdomains style */
int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, int flags,
                     struct buf *result, int *ext_used);

/* Build an indexed table (postmap): TYPE:FILE -> FILE.lmdb / FILE.db. */
int table_build(const char *spec, int fold_case, int is_aliases, char *err, size_t errlen);

#endif
