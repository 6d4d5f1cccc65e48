/*
 * ldap_conn.h - one connection to an LDAP directory, as the ldap: table
 * (ldap_table(5)) and the auth service's ldap: passdb/userdb
 * (dovecot-ldap.conf.ext) use it. Internal to the tables module.
 *
 * Owns: the server list (one libldap URI list: ldap://, ldaps://,
 * ldapi://; libldap tries them in order), protocol version, alias
 * dereferencing, StartTLS and the TLS CA/certificate options, the bind
 * (none; simple with bind_dn/bind_pw; SASL with sasl_mechs, bind_dn as
 * the authentication id, bind_pw, sasl_realm, sasl_authz_id), the timeout of the
 * connect and of every operation, the connection kept between lookups
 * and reopened once at once when a reused one turns out broken (the
 * server restarted), and the one-shot "does this DN bind with this
 * password" check of auth_bind.
 *
 * Every failure (no server, timeout, an error answer) is reported with a
 * reason and is a temporary failure for the caller: never "not found".
 */
#ifndef YUBIN_LDAP_CONN_H
#define YUBIN_LDAP_CONN_H

#include <stddef.h>

#define LDAPC_BIND_NONE   0
#define LDAPC_BIND_SIMPLE 1
#define LDAPC_BIND_SASL   2

struct ldapc {
    const char *spec;       /* the table's, for log lines */
    char *uris;             /* space-separated URI list */
    int version;            /* 2 or 3 */
    int deref;              /* LDAP_DEREF_* (0..3) */
    int start_tls;
    int require_cert;       /* -1: libldap's default; 0 never; 1 demand */
    char *ca_file, *ca_dir, *cert, *key;
    int bind;               /* LDAPC_BIND_* */
    char *bind_dn, *bind_pw;
    char *sasl_mechs;       /* bind = sasl: the mechanisms (EXTERNAL, PLAIN ...) */
    char *sasl_realm, *sasl_authz_id;
    unsigned timeout_ms;
    void *ld;               /* LDAP *, NULL when not connected */
};

/* Defaults: version 3, no deref, no TLS, simple bind, 10s. */
void ldapc_init(struct ldapc *c, const char *spec);
void ldapc_free(struct ldapc *c);
/*
 * Turn a list of server_host-style items ("host", "host:port",
 * ldap://..., ldaps://..., ldapi://...) into c->uris; port is used for
 * items without one. 0, or -1 with err.
 */
int ldapc_set_hosts(struct ldapc *c, const char *list, unsigned port, char *err, size_t errlen);
void ldapc_disconnect(struct ldapc *c);

#define LDAPC_SCOPE_BASE 0
#define LDAPC_SCOPE_ONE  1
#define LDAPC_SCOPE_SUB  2

/*
 * Search; the answer's entries are visited with ldapc_first/next and its
 * values with ldapc_values. 0 (*res set; NULL when the base does not
 * exist), or -1 with why (the caller fails temporarily). Connects when
 * needed and retries once on a new connection when a reused one fails.
 */
int ldapc_search(struct ldapc *c, const char *base, int scope, const char *filter,
                 char **attrs, int sizelimit, void **res, char *why, size_t whylen);
void ldapc_res_free(void *res);
/* Entries of a search answer (NULL at the end). */
void *ldapc_first(struct ldapc *c, void *res);
void *ldapc_next(struct ldapc *c, void *entry);
/* The entry's DN (free with ldapc_str_free). */
char *ldapc_dn(struct ldapc *c, void *entry);
void ldapc_str_free(char *s);
/* Values of attr in entry, each NUL-terminated: a NULL-terminated vector
 * (free with strv_free), never NULL. Values holding NUL are skipped. */
char **ldapc_values(struct ldapc *c, void *entry, const char *attr);

/*
 * Does dn bind with password on the servers of c (a new connection, not
 * c's)? 1 yes, 0 invalid credentials, -1 failure (why set). Safe to call
 * from another thread than the one using c->ld.
 */
int ldapc_bind_check(const struct ldapc *c, const char *dn, const char *pw, size_t pwlen,
                     char *why, size_t whylen);

/*
 * auth_bind: the servers and TLS settings of c and a DN as one string
 * ("v=3;t=MS;tls=0;req=-1;ca=PATH;uris=URIS;dn=DN", after "{LDAP-BIND}"
 * in the passdb answer), and the bind check from such a string: 1, 0 or
 * -1 as ldapc_bind_check. NULL / -1 when it does not parse.
 */
#define LDAPC_BIND_SCHEME "{LDAP-BIND}"
char *ldapc_bind_spec(const struct ldapc *c, const char *dn);
int ldapc_bind_check_spec(const char *spec, const char *pw, size_t pwlen, char *why,
                          size_t whylen);

#endif
