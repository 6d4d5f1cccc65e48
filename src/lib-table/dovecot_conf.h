/*
 * dovecot_conf.h - reading Dovecot's dovecot-sql.conf.ext and
 * dovecot-ldap.conf.ext, for the auth service's sql: and ldap: sources.
 *
 * Owns: the file syntax ("name = value", '#' comments, a trailing
 * backslash or a leading blank continues a line, a value in "double
 * quotes" loses them; unknown names are errors with file:line), the
 * "key=value key='v a l'" list of `connect`, and the translation of
 * Dovecot's variables in queries and filters (%u %n %d %% and the long
 * forms %{user} %{username} %{domain}, modifiers L and E accepted) into
 * the %s %u %d of the SQL/LDAP table templates, whose expansions are
 * escaped for the database. Pure: unit-tested and fuzzed.
 */
#ifndef YUBIN_DOVECOT_CONF_H
#define YUBIN_DOVECOT_CONF_H

#include "lib/buf.h"

#include <stddef.h>

#define DCONF_SIZE_MAX  (1u << 20)
#define DCONF_LINE_MAX  16384

struct dconf_item {
    const char *name;
    char *value;        /* NULL when absent */
    int line;
};

/* Parse text[0..len) into items[0..n) by name. 0, or -1 with "path:line: ..." in err. */
int dconf_parse(const char *text, size_t len, const char *path, struct dconf_item *items,
                size_t n, char *err, size_t errlen);
void dconf_free(struct dconf_item *items, size_t n);
/* The item called name, or NULL. */
const char *dconf_get(const struct dconf_item *items, size_t n, const char *name);

/* "host=a port=5 password='x y'" into a NULL-terminated key, value, key,
 * value ... vector (free with strv_free). 0, or -1 with err. */
int dconf_connect_split(const char *s, char ***kv, char *err, size_t errlen);

/* A Dovecot template into a table template. 0, or -1 with err
 * (unsupported variable, e.g. %w or %r). */
int dconf_template(const char *in, struct buf *out, char *err, size_t errlen);

#endif
