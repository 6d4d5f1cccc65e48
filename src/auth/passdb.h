/*
 * passdb.h - where the auth service finds users: password databases
 * (auth_passdb) and user databases (auth_userdb).
 *
 * Both parameters are lists of "type:name" sources, tried in order; the
 * first source that knows the user answers (a source that cannot be read
 * makes the lookup a temporary failure unless an earlier one answered).
 *
 * passwd-file:/path  Dovecot's passwd-file, the same file Dovecot reads:
 *     user:password:uid:gid:gecos:home:shell:extra_fields
 *   user may be "name@domain"; password is "{SCHEME}data" (scheme.h) or a
 *   bare value in auth_default_pass_scheme; trailing fields may be left
 *   out; "#" starts a comment line; extra_fields are space-separated
 *   "name=value" (or bare "name") items: "userdb_NAME=value" items are
 *   userdb fields (quota rules, mail location ...) returned by userdb
 *   lookups as "NAME=value", others are kept as passdb extra fields.
 *   The file is re-read when it changes (checked at most once a second);
 *   a line that does not parse is logged as "FILE:LINE: ..." and skipped;
 *   a file that cannot be read makes lookups fail temporarily.
 *
 * sql:/path and ldap:/path  Dovecot's dovecot-sql.conf.ext and
 *   dovecot-ldap.conf.ext (password_query/user_query; pass_filter/
 *   pass_attrs, user_filter/user_attrs, auth_bind): looked up as the
 *   tables dovecot-sql:/dovecot-ldap: (lib-table/table_dovecot.c), so
 *   through proxymap from the event loop. Columns or mapped attributes
 *   are the fields: password, and userdb_home/uid/gid/mail/quota_rule ...
 *   (passdb), home/uid/gid/mail/quota_rule ... (userdb), and nologin,
 *   nopassword, reason, allow_nets (auth.c acts on those).
 *
 * any other type (sqlite:, texthash:, hash:, lmdb:, inline:, ...):
 *   a yubin lookup table (table.h) queried with the user name as the key.
 *   As a passdb its value is
 *       PASSWORD [name=value ...]
 *   the first whitespace-separated word being the password (a bare value
 *   is in auth_default_pass_scheme, so plaintext passwords with blanks
 *   cannot be stored in a table; use {PLAIN.B64}) and the rest extra
 *   fields as in passwd-file. As a userdb the value is a list of fields
 *       uid=N gid=N home=/path [name=value ...]
 *   ("userdb_" prefixes are accepted and removed; a leading password
 *   word is skipped, so one table can serve as both). With sqlite:, make
 *   the query return that one string, e.g.
 *       query = SELECT password || ' uid=' || uid || ' home=' || home
 *               FROM users WHERE email = '%s'
 */
#ifndef YUBIN_PASSDB_H
#define YUBIN_PASSDB_H

#include <stddef.h>

struct config;

#define AUTHDB_FOUND     1
#define AUTHDB_NOTFOUND  0
#define AUTHDB_TEMPFAIL (-1)

/* One user as a source describes it. Strings are owned by the entry. */
struct auth_user {
    char *user;        /* the name as stored */
    char *password;    /* stored password value; NULL when the source has none */
    char *uid, *gid, *home;  /* NULL when absent */
    char **fields;     /* extra "name" / "name=value" items, NULL-terminated (never NULL) */
};
void auth_user_free(struct auth_user *u);

/* A list of sources (the value of auth_passdb or auth_userdb). */
struct authdb;

/*
 * Open every "type:name" in value (a Postfix list). cfg is used for table
 * parameters (sqlite:NAME). default_scheme is auth_default_pass_scheme.
 * Returns NULL with err set on the first source that cannot be opened.
 */
struct authdb *auth_db_open(const char *value, const struct config *cfg,
                           const char *default_scheme, char *err, size_t errlen);
void auth_db_close(struct authdb *db);
size_t auth_db_count(const struct authdb *db);

/* Password lookup: fills *out on AUTHDB_FOUND. */
int auth_db_lookup_pass(struct authdb *db, const char *user, struct auth_user *out);
/* User lookup: uid/gid/home and userdb fields ("userdb_" stripped) on AUTHDB_FOUND. */
int auth_db_lookup_user(struct authdb *db, const char *user, struct auth_user *out);

/*
 * SCHEME_CAN_* flags (scheme.h) some user of the list could use: decides
 * which challenge-response mechanisms are offered. For tables, whose
 * contents are not known in advance, only auth_default_pass_scheme counts.
 */
int auth_db_capabilities(struct authdb *db);

/*
 * A stored password value representative of the list (the first crypt or
 * Argon2 hash of a passwd-file, else the last one a lookup returned), or
 * NULL: unknown users are checked against it so they cost what real
 * users cost. The pointer is valid until the next lookup.
 */
const char *auth_db_sample_password(struct authdb *db);

/* --- exposed for tests ------------------------------------------------ */

/* Parse one passwd-file line into *out: 1 entry, 0 blank/comment, -1 error (err set). */
int auth_passwd_file_parse_line(const char *line, struct auth_user *out, char *err, size_t errlen);
/* Parse a table value: as a passdb (want_password) or as a userdb. 0, or -1 (err set). */
int auth_db_parse_table_value(const char *user, const char *value, int want_password,
                             struct auth_user *out, char *err, size_t errlen);
/* Parse an sql:/ldap: answer: TAB-separated name=value items. 0, or -1 (err set). */
int auth_db_parse_fields(const char *user, const char *value, int want_password,
                         struct auth_user *out, char *err, size_t errlen);

#endif
