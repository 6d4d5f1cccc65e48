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
 * cidr:, unionmap:{...}, sqlite: (sqlite_table(5) .cf file), pgsql: and
 * mysql: (pgsql_table(5), mysql_table(5) .cf files: database servers),
 * socketmap: (socketmap_table(5): a server elsewhere, may be slow), and
 * passwd-file is NOT a table (see auth).
 *
 * Lookups that may wait: a process with an event loop calls
 * table_async_init(); from then on lookups in remote tables
 * (TABLE_F_REMOTE: socketmap:, pgsql:, mysql:, ldap:) made inside a "step"
 * of a struct table_wait are sent to the proxymap service and return
 * TABLE_PENDING at once. See "Restartable lookups" below.
 */
#ifndef YUBIN_TABLE_H
#define YUBIN_TABLE_H

#include "lib-conf/params.h"
#include "lib/buf.h"

#include <stdio.h>

struct config;
struct table;

/* Lookup results. */
#define TABLE_FOUND     1
#define TABLE_NOTFOUND  0
#define TABLE_TEMPFAIL  (-1)   /* database down, file unreadable: defer, never drop */
#define TABLE_PENDING   (-2)   /* the answer comes later (table_wait): re-run the step */

/* Table flags (from the type). */
#define TABLE_F_PATTERN 0x1    /* regexp/pcre/cidr: matched with the full key only */
#define TABLE_F_FIXED   0x2    /* static/inline etc. */
#define TABLE_F_REMOTE  0x4    /* answers from a server (socketmap:, pgsql:, mysql:, ldap:): may be slow */

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
struct maps *maps_open_param(const struct config *cfg, enum param_id param);
/*
 * Like maps_open(), for daemons: a table that cannot be opened is logged
 * ("what: error") and replaced by one whose every lookup is a temporary
 * failure, so mail that needs it is deferred and the process keeps
 * running, as Postfix does. Never NULL. `yubin check` uses maps_open().
 */
struct maps *maps_open_tolerant(const char *value, const struct config *cfg, const char *what);
void maps_close(struct maps *m);
int maps_empty(const struct maps *m);
int maps_lookup(struct maps *m, const char *key, struct buf *result);

/*
 * Address lookup with Postfix's search order. Each key is tried against
 * every table in order before the next key (Postfix maps_find). Pattern
 * tables (regexp, pcre, cidr) only ever see the first, full key. `delim`
 * is recipient_delimiter, a set of characters (may be "" or NULL).
 *
 * Default (virtual(5), canonical(5), aliases(5), local_recipient_maps):
 *   1. user+ext@domain         (the address as given)
 *   2. user@domain             (only when there is an extension)
 *   3. user+ext, 4. user       (MAPS_ADDR_LOCALPART: the caller sets it when
 *                               the domain is $myorigin, $mydestination or
 *                               an address literal of ours, or for a bare
 *                               localpart such as an alias name)
 *   5. @domain                 (MAPS_ADDR_DOMAIN)
 *   An address without @domain is looked up as user+ext, then user.
 *   Address localparts that need RFC 5322 quoting are tried quoted
 *   ("a b"@example.com) first, then as is.
 *
 * MAPS_ADDR_ACCESS (access(5), smtpd check_*_access):
 *   1. user+ext@domain, 2. user@domain,
 *   3. domain, then its parents: with MAPS_ADDR_PARENT (the table's
 *      parameter is in parent_domain_matches_subdomains) "example.com",
 *      "com"; without it ".example.com", ".com",
 *   4. user+ext@, 5. user@.
 *   The null sender is the caller's business (smtpd_null_access_lookup_key).
 *
 * On TABLE_FOUND, *ext_used (may be NULL) is set to 1 if the match dropped
 * the extension (steps 2 and 4 of the default order, 2 and 5 of ACCESS),
 * so callers can re-append it (propagate_unmatched_extensions); a match on
 * @domain never uses the extension, as in Postfix.
 */
#define MAPS_ADDR_LOCALPART  0x1  /* also try bare localpart (aliases, local_recipient_maps) */
#define MAPS_ADDR_DOMAIN     0x2  /* also try @domain (virtual) */
#define MAPS_ADDR_ACCESS     0x4  /* access(5): user@domain, domain, parent domains, user@ */
#define MAPS_ADDR_PARENT     0x8  /* with ACCESS: parent_domain_matches_subdomains style */
int maps_lookup_addr(struct maps *m, const char *addr, const char *delim, int flags,
                     struct buf *result, int *ext_used);

/* Build an indexed table (postmap): TYPE:FILE -> FILE.lmdb, written to
 * FILE.lmdb.tmp and renamed into place (readers never see a partial file).
 * fold_case: fold keys to lowercase (postmap default; -f turns it off).
 * is_aliases: aliases(5) source format ("name: value, ...") plus the
 * Sendmail-compatible "@" entry. Returns 0, or -1 with a message in err. */
int table_build(const char *spec, int fold_case, int is_aliases, char *err, size_t errlen);

/*
 * Everything below was added by the tables module; see table.c.
 */

/* table_lookup without case folding (postmap -f). */
int table_lookup_exact(struct table *t, const char *key, struct buf *result);

/* Limits: longer keys are never found; longer source lines are errors. */
#define TABLE_KEY_MAX   4096
#define TABLE_VALUE_MAX (1024 * 1024)

/* table_build with options (yubin map). */
#define TABLE_BUILD_FOLD     0x1  /* fold keys to lowercase */
#define TABLE_BUILD_ALIASES  0x2  /* aliases(5) format */
#define TABLE_BUILD_FILES    0x4  /* -F: value lists files; store base64 of their contents */
#define TABLE_BUILD_UPDATE   0x8  /* -i/-d: start from the existing FILE.lmdb */
#define TABLE_BUILD_REPLACE  0x10 /* -r: later duplicates replace earlier ones */
#define TABLE_BUILD_QUIET    0x20 /* -w: do not warn about duplicates */
/* Build (or update) FILE.lmdb. With TABLE_BUILD_UPDATE, entries are read
 * from `in` (postmap -i) instead of FILE, and `del_keys` (NULL-terminated,
 * may be NULL) are removed (postmap -d). *changed counts entries added or
 * removed when not NULL. */
int table_build_ex(const char *spec, int flags, FILE *in, char *const *del_keys,
                   int *changed, char *err, size_t errlen);

/* Iterate every entry (postmap -s). Not every type can: returns -1 with
 * err for pattern tables. fn returns nonzero to stop. */
typedef int (*table_iter_fn)(const char *key, const char *value, void *arg);
int table_iterate(struct table *t, table_iter_fn fn, void *arg, char *err, size_t errlen);

/* The type ("hash", "regexp", ...) and name (file or {...}) of a table. */
const char *table_type(const struct table *t);
const char *table_name(const struct table *t);

/* Base64 as used by postmap -F (no line breaks). decode returns -1 on bad input. */
int table_b64_encode(const void *data, size_t len, struct buf *out);
int table_b64_decode(const char *in, struct buf *out);

/* How often (milliseconds) an open lmdb:/hash: or sqlite: table checks
 * whether its file was replaced (default 1000; 0 = on every lookup). */
void table_set_check_interval(unsigned ms);

/* Split an address localpart at the first recipient_delimiter character,
 * the way Postfix does: postmaster, MAILER-DAEMON, double-bounce,
 * owner-* and *-request (with '-' in delims) are never split, nor is a
 * localpart that starts with a delimiter. Returns the offset of the
 * delimiter in local, or 0 when there is no extension. */
size_t table_ext_offset(const char *local, size_t local_len, const char *delims);

struct maps;
/* Number of tables and the i-th one (for diagnostics). */
size_t maps_count(const struct maps *m);
struct table *maps_table(const struct maps *m, size_t i);
/* maps_lookup with Postfix's "partial key" rule: when partial is nonzero,
 * pattern tables (regexp, pcre, cidr) are skipped. */
int maps_find(struct maps *m, const char *key, int partial, struct buf *result);

/* Fold ASCII to lowercase into dst (size >= strlen(src)+1), as table keys are folded. */
void table_fold(char *dst, const char *src, size_t size);

/*
 * Restartable lookups (table_async.c).
 *
 * A caller that must not wait (an event-loop process: smtpd, qmgr, auth)
 * runs each unit of work that looks things up -- a restriction, the
 * resolution of a recipient, a password lookup -- as a "step" of its
 * struct table_wait:
 *
 *     table_wait_begin(&w);
 *     ... straight-line code: table_lookup, maps_lookup_addr, resolve_*,
 *         domain_list_match ...
 *     if (table_wait_end(&w))
 *         return;                  // void: w.wake(w.arg) comes later
 *     table_wait_done(&w);         // the step's answers are used up
 *
 * Inside a step, a lookup in a remote table that this process has no
 * answer for returns TABLE_PENDING at once (callers above see it as an
 * error or a miss), and the question goes to the proxymap service. When
 * table_wait_end() says so, everything the step computed is void: the
 * caller parks the work and, when wake() is called from the event loop,
 * runs the same step again. The answers that arrived are kept in the
 * waiter until table_wait_done() or table_wait_cancel(), so the re-run
 * gets them at once and goes further (one more round trip per remote key
 * the step needs). Other lookups (files, LMDB, ...) always answer at once.
 * Outside a step, or in a process without table_async_init() (the
 * command line, the blocking delivery agents, proxymap itself), remote
 * tables are looked up in place and wait up to their own timeout.
 */
struct evloop;
struct table_answer;
struct table_req;

struct table_wait {
    void (*wake)(void *arg);
    void *arg;
    int pending;                    /* this step must wait: wake() will follow */
    int where;                      /* table_async.c: 0, waiting, or being woken */
    struct table_answer *answers;   /* answers that arrived for this step */
    unsigned nanswers;
    struct table_req *req;          /* the question it waits for */
    struct table_wait *next;        /* the other waiters of req (or to wake) */
};

/*
 * Send remote lookups of this process through the proxymap service on
 * loop: $queue_directory/private/$proxymap_service_name (or public/).
 * Without that socket (no proxymap in master.cf) lookups wait in place,
 * with one warning. Returns 1 when lookups may go pending, 0 otherwise.
 */
int table_async_init(struct evloop *loop, const struct config *cfg);
void table_wait_init(struct table_wait *w, void (*wake)(void *arg), void *arg);
void table_wait_begin(struct table_wait *w);
/* End the step; 1: it is void, wake() will be called; 0: results stand. */
int table_wait_end(struct table_wait *w);
/* The step is complete: drop the answers it collected. */
void table_wait_done(struct table_wait *w);
/* The owner goes away: no wake() after this; frees what w holds. */
void table_wait_cancel(struct table_wait *w);

#endif
