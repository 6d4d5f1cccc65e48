/*
 * ldap_escape.h - escaping client values for LDAP.
 *
 * Owns: RFC 4515 filter value escaping (the characters * ( ) \ NUL and
 * every byte outside printable ASCII become \XX, so a value can only ever
 * be an exact assertion value) and RFC 4514 DN attribute value escaping
 * (for search_base and auth_bind_userdn templates). Pure functions, no
 * libldap: unit-tested and fuzzed (tests/fuzz/fuzz_ldapconf.c).
 */
#ifndef YUBIN_LDAP_ESCAPE_H
#define YUBIN_LDAP_ESCAPE_H

#include "lib/buf.h"

#include <stddef.h>

/* Append s[0..len) as an RFC 4515 assertion value. 0, or -1 (buffer limit). */
int ldap_escape_filter(const char *s, size_t len, struct buf *out);
/* Append s[0..len) as an RFC 4514 attribute value. 0, or -1 (buffer limit). */
int ldap_escape_dn(const char *s, size_t len, struct buf *out);

#endif
