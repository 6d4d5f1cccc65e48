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

struct buf;

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
 *
 * Details (what smtpd needs to answer exactly as Postfix):
 *  - Return values: 0, or one of ADDR_E_* (all negative, so "< 0" works).
 *    *why is the sender flavour of the reply text (dsn + text, no code);
 *    addr_path_reply() gives the code and the text for MAIL or RCPT.
 *  - "<>" gives addr "" (the null sender). RCPT callers must refuse it
 *    (Postfix: "501 5.1.3 Bad recipient address syntax").
 *  - Source routes "<@a,@b:user@c>" are checked and dropped (RFC 5321 4.1.2).
 *  - A quoted local part is unquoted: <"a b"@x> gives "a b@x";
 *    addr_external() quotes it again. One trailing dot of the domain is
 *    dropped ("u@example.com." gives "u@example.com").
 *  - Unqualified "<user>" is accepted (reject_non_fqdn_* decides later).
 *  - allow_utf8 is smtputf8_enable: like Postfix, UTF-8 is accepted whether
 *    or not this MAIL command carries SMTPUTF8; invalid UTF-8 gives
 *    ADDR_E_UTF8. Without allow_utf8 any 8-bit byte is a syntax error.
 *  - strict (strict_rfc821_envelopes=yes) requires <...>. In both modes a
 *    space after the colon is fine and "<a@b>x" is an error; without strict,
 *    a bare "a@b" and blanks just inside the brackets are tolerated.
 *  - Dots in an unquoted local part are not policed (a..b@x, a.@x occur in
 *    real mail; Postfix accepts them); an empty local part is refused.
 */
#define ADDR_E_SYNTAX  (-1)  /* 501 5.1.7 Bad sender / 501 5.1.3 Bad recipient address syntax */
#define ADDR_E_EMPTY   (-2)  /* nothing after the colon: 501 5.5.4 Syntax: MAIL FROM:<address> */
#define ADDR_E_UTF8    (-3)  /* 500 5.5.2 Error: bad UTF-8 syntax */
int addr_parse_path(char *line, int strict, int allow_utf8, char *addr, size_t addrlen,
                    char **params, const char **why);
/* The reply for an addr_parse_path() error: *code gets 501/500, returns "5.1.3 ..." text. */
const char *addr_path_reply(int err, int is_rcpt, int *code);

/* Is s[0..len) well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF)? */
int utf8_valid(const char *s, size_t len);

/*
 * ESMTP parameters of MAIL FROM / RCPT TO (RFC 1870 SIZE, RFC 6152 BODY,
 * RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID/NOTIFY/ORCPT, RFC 4954 AUTH).
 * Keywords are case-insensitive. xtext values are decoded (RFC 3461 4).
 */
#define ESMTP_NOTIFY_NEVER   0x1
#define ESMTP_NOTIFY_SUCCESS 0x2
#define ESMTP_NOTIFY_FAILURE 0x4
#define ESMTP_NOTIFY_DELAY   0x8
#define ESMTP_ENVID_MAX 100   /* RFC 3461 4.4 */
#define ESMTP_ORCPT_MAX 500   /* RFC 3461 4.2 */

/* Which extensions the server announced (others are "Unsupported option"). */
#define ESMTP_ALLOW_SIZE     0x1
#define ESMTP_ALLOW_8BITMIME 0x2
#define ESMTP_ALLOW_SMTPUTF8 0x4
#define ESMTP_ALLOW_DSN      0x8
#define ESMTP_ALLOW_AUTH     0x10  /* without it AUTH= is ignored, as Postfix does */
#define ESMTP_ALLOW_ALL      0x1f

enum esmtp_body { ESMTP_BODY_NONE, ESMTP_BODY_7BIT, ESMTP_BODY_8BITMIME };
enum esmtp_ret { ESMTP_RET_NONE, ESMTP_RET_FULL, ESMTP_RET_HDRS };

struct esmtp_params {
    int has_size;
    unsigned long long size;      /* saturates at ULLONG_MAX: the caller answers 552 */
    enum esmtp_body body;
    int smtputf8;
    enum esmtp_ret ret;
    int has_envid;
    char envid[ESMTP_ENVID_MAX + 1];           /* decoded */
    int has_auth;
    char auth[ADDR_MAX + 1];                   /* decoded; "<>" for none */
    int notify;                                /* ESMTP_NOTIFY_* bits, 0 = not given */
    int has_orcpt;
    char orcpt_type[32];                       /* "rfc822", "utf-8" ... */
    char orcpt[ESMTP_ORCPT_MAX + 1];           /* decoded address */
};

/*
 * Parse the parameters (what addr_parse_path left in *params). is_rcpt
 * selects the RCPT keywords (NOTIFY, ORCPT) instead of the MAIL ones.
 * Returns 0, or the SMTP reply code (501, 555) with err set to the rest of
 * Postfix's reply, e.g. 555 "5.5.4 Unsupported option: FOO=bar",
 * 501 "5.5.4 Bad message size syntax", 501 "5.5.4 Error: Bad NOTIFY parameter syntax".
 * Repeated keywords are refused (bad syntax of that keyword).
 */
int esmtp_parse_params(const char *params, int is_rcpt, int allow, struct esmtp_params *p,
                       char *err, size_t errlen);
/* Encode s as xtext (RFC 3461) into out; -1 if it does not fit. */
int xtext_encode(const char *s, char *out, size_t outlen);
/* Decode xtext; -1 on bad syntax or if it does not fit. */
int xtext_decode(const char *s, size_t len, char *out, size_t outlen);

/* Split an internal address at the last '@'. Domain is "" when absent. */
void addr_split(const char *addr, char *local, size_t llen, char *domain, size_t dlen);
/* Domain of addr (after last '@'), or "" — pointer into addr. */
const char *addr_domain(const char *addr);
/* Quote a local part for SMTP/headers if needed: "a b"@x (RFC 5321 dot-string
 * rules). 0, or -1 if out is too small. */
int addr_external(const char *addr, char *out, size_t outlen);
/* The same, malloc'd (any length). */
char *addr_external_dup(const char *addr);
/* Is local[0..len) not a dot-atom, so it must be quoted? (8-bit bytes are
 * atext: SMTPUTF8; an empty local part needs quotes.) */
int addr_local_needs_quoting(const char *local, size_t len);
/* Append local[0..len) as a quoted string: '"', '\\' escaped. 0 or -1 (full). */
int addr_quote_local(struct buf *out, const char *local, size_t len);
/*
 * Remove an extension: user+foo@d -> user@d, with delimiter set delims.
 * The extension starts at the first character of the local part that is in
 * delims; a delimiter at the very start does not split, and postmaster,
 * mailer-daemon and double-bounce are never split (Postfix's rules; the
 * owner-/-request special cases belong to the caller). Returns 1 if
 * removed (ext gets the extension without the delimiter), 0 if not (out
 * gets addr unchanged), -1 if out is too small.
 */
int addr_strip_ext(const char *addr, const char *delims, char *out, size_t outlen, char *ext, size_t extlen);

/*
 * Hostname checks used by restrictions, as Postfix's valid_hostname():
 * labels of letters, digits, '-' and '_', 1..63 bytes, no '-' at either
 * end of a label, at most 255 bytes, one trailing dot allowed, and not all
 * numeric ("1.2.3.4" is an address, not a name: reject_invalid_helo_hostname
 * accepts it through ipv4_valid(), reject_non_fqdn_helo_hostname rejects it).
 */
int hostname_valid(const char *name);
int hostname_is_fqdn(const char *name);   /* valid and has a dot before the last label */
/* "[1.2.3.4]" or "[IPv6:...]" address literal check. */
int addr_literal_valid(const char *name);
/* Dotted-quad IPv4 address (inet_pton rules). */
int ipv4_valid(const char *s);
/* A mail domain: hostname_valid() or an address literal; utf8 permits U-labels. */
int domain_valid(const char *name, int allow_utf8);

/* RFC 5322 header address lists: lib-mail/addrlist.h. */

#endif
