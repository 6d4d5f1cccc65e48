/*
 * addr.h - mail addresses as they appear in SMTP and in headers.
 *
 * Owns: parsing RFC 5321 reverse-path/forward-path with ESMTP parameters,
 * quoting and unquoting local parts, splitting user/domain, recipient
 * delimiter extension handling, and FQDN/hostname syntax checks.
 */
#ifndef YUBIN_ADDR_H
#define YUBIN_ADDR_H

#include <stddef.h>

#define ADDR_MAX 512          /* bytes, whole path incl. brackets (RFC 5321: 256 + slack) */
#define ADDR_LOCAL_MAX 256
#define ADDR_DOMAIN_MAX 255

/*
 * Parse "<addr> PARAM=VAL ..." after "MAIL FROM:" or "RCPT TO:".
 * Accepts the Postfix-tolerated forms (optional space after the colon,
 * missing brackets when strict_rfc821_envelopes=no). On success, addr gets
 * the internal (unquoted) form, params points into the input line at the
 * first ESMTP parameter (or to ""). Returns 0, or -1 with *why set to a
 * static diagnostic such as "5.1.7 Bad sender address syntax".
 * allow_utf8 permits UTF-8 in the address (SMTPUTF8).
 */
int addr_parse_path(char *line, int strict, int allow_utf8, char *addr, size_t addrlen,
                    char **params, const char **why);

/* Split an internal address at the last '@'. Domain is "" when absent. */
void addr_split(const char *addr, char *local, size_t llen, char *domain, size_t dlen);
/* Domain of addr (after last '@'), or "" — pointer into addr. */
const char *addr_domain(const char *addr);
/* Quote a local part for SMTP/headers if needed: "a b"@x. */
int addr_external(const char *addr, char *out, size_t outlen);
/* Remove an extension: user+foo@d -> user@d, with delimiter set delims. Returns 1 if removed. */
int addr_strip_ext(const char *addr, const char *delims, char *out, size_t outlen, char *ext, size_t extlen);

/* Hostname checks used by restrictions. */
int hostname_valid(const char *name);     /* RFC 1035 labels */
int hostname_is_fqdn(const char *name);   /* valid and contains a dot */
/* "[1.2.3.4]" or "[IPv6:...]" address literal check. */
int addr_literal_valid(const char *name);

#endif
