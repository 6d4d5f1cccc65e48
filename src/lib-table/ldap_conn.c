/*
 * ldap_conn.c - a kept connection to an LDAP directory on libldap
 * (see ldap_conn.h).
 */
#include "lib-table/ldap_conn.h"
#include "lib-table/table_impl.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ldap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define URIS_MAX 4096

void ldapc_init(struct ldapc *c, const char *spec)
{
    /* libldap's one-time global set-up, done here on the opening thread:
     * auth_bind checks later run on the hash pool's threads. */
    static int ready;
    int version;
    if (!ready && ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version) == LDAP_OPT_SUCCESS)
        ready = 1;
    memset(c, 0, sizeof(*c));
    c->spec = spec;
    c->version = 3;
    c->require_cert = -1;
    c->bind = LDAPC_BIND_SIMPLE;
    c->timeout_ms = 10000;
}

void ldapc_free(struct ldapc *c)
{
    ldapc_disconnect(c);
    free(c->uris);
    free(c->ca_file);
    free(c->ca_dir);
    free(c->cert);
    free(c->key);
    free(c->bind_dn);
    if (c->bind_pw) {
        memset(c->bind_pw, 0, strlen(c->bind_pw));
        free(c->bind_pw);
    }
    free(c->sasl_mechs);
    free(c->sasl_realm);
    free(c->sasl_authz_id);
    memset(c, 0, sizeof(*c));
}

/* One server_host item as a URI appended to out. */
static int host_uri(const char *item, unsigned port, struct buf *out, char *err, size_t errlen)
{
    if (out->len && buf_putc(out, ' ') < 0)
        return table_err(err, errlen, "server list too long");
    if (strncasecmp(item, "ldap://", 7) == 0 || strncasecmp(item, "ldaps://", 8) == 0 ||
        strncasecmp(item, "ldapi://", 8) == 0) {
        if (ldap_is_ldap_url(item) == 0 && strncasecmp(item, "ldapi://", 8) != 0)
            return table_err(err, errlen, "bad LDAP URL \"%s\"", item);
        return buf_append(out, item, strlen(item)) < 0 ? table_err(err, errlen, "too long") : 0;
    }
    if (strstr(item, "://"))
        return table_err(err, errlen, "unsupported server \"%s\" (ldap://, ldaps://, ldapi://)",
                         item);
    for (const char *p = item; *p; p++)
        if (*p == '/' || *p == '?' || *p == '%' || *p == ' ')
            return table_err(err, errlen, "bad server host \"%s\"", item);
    int r = strchr(item, ':') && item[0] != '[' && strchr(item, ':') == strrchr(item, ':')
                ? buf_printf(out, "ldap://%s", item)
                : buf_printf(out, "ldap://%s:%u", item, port);
    return r < 0 ? table_err(err, errlen, "server list too long") : 0;
}

int ldapc_set_hosts(struct ldapc *c, const char *list, unsigned port, char *err, size_t errlen)
{
    size_t n = 0;
    char **items = str_split_list(list ? list : "", &n);
    struct buf out;
    buf_init(&out, URIS_MAX);
    int rc = n ? 0 : table_err(err, errlen, "no LDAP server given");
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = host_uri(items[i], port ? port : 389, &out, err, errlen);
    strv_free(items);
    if (rc == 0) {
        free(c->uris);
        c->uris = xstrdup(buf_cstr(&out));
    }
    buf_free(&out);
    return rc;
}

void ldapc_disconnect(struct ldapc *c)
{
    if (c->ld)
        ldap_unbind_ext_s(c->ld, NULL, NULL);
    c->ld = NULL;
}

/* ------------------------------------------------------------ connect */

static void set_why(char *why, size_t whylen, const char *what, int rc)
{
    str_fmt(why, whylen, "%s: %s", what, ldap_err2string(rc));
}

static int tls_options(const struct ldapc *c, LDAP *ld, char *why, size_t whylen)
{
    int rc = LDAP_SUCCESS;
    if (c->ca_file)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file);
    if (rc == LDAP_SUCCESS && c->ca_dir)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTDIR, c->ca_dir);
    if (rc == LDAP_SUCCESS && c->cert)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CERTFILE, c->cert);
    if (rc == LDAP_SUCCESS && c->key)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_KEYFILE, c->key);
    if (rc == LDAP_SUCCESS && c->require_cert >= 0) {
        int v = c->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &v);
    }
    int zero = 0;
    if (rc == LDAP_SUCCESS)
        rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero);
    if (rc != LDAP_SUCCESS)
        set_why(why, whylen, "TLS settings", rc);
    return rc == LDAP_SUCCESS ? 0 : -1;
}

static struct timeval timeout_tv(const struct ldapc *c)
{
    return (struct timeval){(time_t)(c->timeout_ms / 1000),
                            (suseconds_t)(c->timeout_ms % 1000) * 1000};
}

/* A handle with the options of c, not yet bound. NULL with why. */
static LDAP *open_handle(const struct ldapc *c, char *why, size_t whylen)
{
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, c->uris);
    if (rc != LDAP_SUCCESS) {
        set_why(why, whylen, "ldap_initialize", rc);
        return NULL;
    }
    struct timeval tv = timeout_tv(c);
    int off = 0;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &c->version);
    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
    ldap_set_option(ld, LDAP_OPT_DEREF, &c->deref);
    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    ldap_set_option(ld, LDAP_OPT_RESTART, &off);
    if (tls_options(c, ld, why, whylen) < 0) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return NULL;
    }
    if (c->start_tls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
        set_why(why, whylen, "StartTLS", rc);
        ldap_unbind_ext_s(ld, NULL, NULL);
        return NULL;
    }
    return ld;
}

/*
 * Cyrus SASL's prompt record (sasl/sasl.h, whose header is not installed
 * with libldap-dev; the layout has been stable since Cyrus SASL 2.0) and
 * the prompt ids the interaction answers from the table's settings.
 */
struct sasl_prompt {
    unsigned long id;
    const char *challenge, *prompt, *defresult;
    const void *result;
    unsigned len;
};
#define SASL_PROMPT_END      0UL
#define SASL_PROMPT_USER     0x4001UL   /* authorization id: sasl_authz_id */
#define SASL_PROMPT_AUTHNAME 0x4002UL   /* authentication id: bind_dn */
#define SASL_PROMPT_PASS     0x4004UL   /* bind_pw */
#define SASL_PROMPT_REALM    0x4008UL   /* sasl_realm */

static int sasl_answer(LDAP *ld, unsigned flags, void *defaults, void *interact)
{
    (void)ld, (void)flags;
    const struct ldapc *c = defaults;
    for (struct sasl_prompt *p = interact; p && p->id != SASL_PROMPT_END; p++) {
        const char *v = p->id == SASL_PROMPT_USER       ? c->sasl_authz_id
                        : p->id == SASL_PROMPT_AUTHNAME ? c->bind_dn
                        : p->id == SASL_PROMPT_PASS     ? c->bind_pw
                        : p->id == SASL_PROMPT_REALM    ? c->sasl_realm
                                                        : NULL;
        v = v ? v : p->defresult ? p->defresult : "";
        p->result = v;
        p->len = (unsigned)strlen(v);
    }
    return LDAP_SUCCESS;
}

/* A bind as dn (simple), or with the table's own credentials (simple or SASL). */
static int do_bind(const struct ldapc *c, LDAP *ld, const char *dn, const char *pw, size_t pwlen)
{
    if (c->bind == LDAPC_BIND_SASL && !dn)
        return ldap_sasl_interactive_bind_s(ld, NULL, c->sasl_mechs ? c->sasl_mechs : "EXTERNAL",
                                            NULL, NULL, LDAP_SASL_QUIET, sasl_answer, (void *)c);
    struct berval cred = {(ber_len_t)pwlen, (char *)pw};
    return ldap_sasl_bind_s(ld, dn ? dn : "", LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

static int ldapc_connect(struct ldapc *c, char *why, size_t whylen)
{
    LDAP *ld = open_handle(c, why, whylen);
    if (!ld)
        return -1;
    if (c->bind != LDAPC_BIND_NONE) {
        const char *pw = c->bind_pw ? c->bind_pw : "";
        int rc = do_bind(c, ld, c->bind == LDAPC_BIND_SASL ? NULL : c->bind_dn, pw, strlen(pw));
        if (rc != LDAP_SUCCESS) {
            set_why(why, whylen, "bind", rc);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return -1;
        }
    }
    c->ld = ld;
    return 0;
}

/* ------------------------------------------------------------- search */

/* Errors after which the connection is not to be used again. */
static int conn_error(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR ||
           rc == LDAP_DECODING_ERROR || rc == LDAP_ENCODING_ERROR;
}

static int search_once(struct ldapc *c, const char *base, int scope, const char *filter,
                       char **attrs, int sizelimit, LDAPMessage **res, char *why, size_t whylen)
{
    static const int scopes[] = {LDAP_SCOPE_BASE, LDAP_SCOPE_ONELEVEL, LDAP_SCOPE_SUBTREE};
    struct timeval tv = timeout_tv(c);
    *res = NULL;
    int rc = ldap_search_ext_s(c->ld, base, scopes[scope], filter, attrs, 0, NULL, NULL, &tv,
                               sizelimit, res);
    if (rc == LDAP_SUCCESS)
        return 0;
    if (rc == LDAP_NO_SUCH_OBJECT) {
        ldap_msgfree(*res);
        *res = NULL;
        return 0;
    }
    set_why(why, whylen, "search", rc);
    ldap_msgfree(*res);
    *res = NULL;
    return conn_error(rc) ? -2 : -1;
}

int ldapc_search(struct ldapc *c, const char *base, int scope, const char *filter,
                 char **attrs, int sizelimit, void **res, char *why, size_t whylen)
{
    INVARIANT(scope >= LDAPC_SCOPE_BASE && scope <= LDAPC_SCOPE_SUB);
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->ld != NULL;
        if (!reused && ldapc_connect(c, why, whylen) < 0)
            return -1;
        LDAPMessage *m;
        int r = search_once(c, base, scope, filter, attrs, sizelimit, &m, why, whylen);
        if (r == 0) {
            *res = m;
            return 0;
        }
        if (r == -1)
            return -1;
        ldapc_disconnect(c);   /* broken: never used again */
        if (!reused)
            return -1;
        msg_info("%s: connection lost (%s); reconnecting", c->spec, why);
    }
    return -1;
}

void ldapc_res_free(void *res)
{
    if (res)
        ldap_msgfree(res);
}

void *ldapc_first(struct ldapc *c, void *res)
{
    return res ? ldap_first_entry(c->ld, res) : NULL;
}

void *ldapc_next(struct ldapc *c, void *entry)
{
    return ldap_next_entry(c->ld, entry);
}

char *ldapc_dn(struct ldapc *c, void *entry)
{
    return ldap_get_dn(c->ld, entry);
}

void ldapc_str_free(char *s)
{
    if (s)
        ldap_memfree(s);
}

char **ldapc_values(struct ldapc *c, void *entry, const char *attr)
{
    struct berval **v = ldap_get_values_len(c->ld, entry, attr);
    size_t n = v ? (size_t)ldap_count_values_len(v) : 0, k = 0;
    char **out = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        if (memchr(v[i]->bv_val, '\0', v[i]->bv_len))
            continue;
        out[k++] = xstrndup(v[i]->bv_val, v[i]->bv_len);
    }
    ldap_value_free_len(v);
    return out;
}

/* ---------------------------------------------------------- auth_bind */

int ldapc_bind_check(const struct ldapc *c, const char *dn, const char *pw, size_t pwlen,
                     char *why, size_t whylen)
{
    if (!dn || !*dn || pwlen == 0)
        return 0;   /* an empty password would be an anonymous bind: never a login */
    LDAP *ld = open_handle(c, why, whylen);
    if (!ld)
        return -1;
    int rc = do_bind(c, ld, dn, pw, pwlen);
    ldap_unbind_ext_s(ld, NULL, NULL);
    if (rc == LDAP_SUCCESS)
        return 1;
    if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
        rc == LDAP_INVALID_DN_SYNTAX || rc == LDAP_NO_SUCH_OBJECT)
        return 0;
    set_why(why, whylen, "bind", rc);
    return -1;
}

char *ldapc_bind_spec(const struct ldapc *c, const char *dn)
{
    return xasprintf("%sv=%d;t=%u;tls=%d;req=%d;ca=%s;uris=%s;dn=%s", LDAPC_BIND_SCHEME,
                     c->version, c->timeout_ms, c->start_tls, c->require_cert,
                     c->ca_file ? c->ca_file : "", c->uris ? c->uris : "", dn);
}

/* The text of "name=" in spec up to the next ';' (the DN: to the end). */
static char *spec_item(const char *spec, const char *name, int last)
{
    size_t nl = strlen(name);
    for (const char *p = spec; p && *p; p = strchr(p, ';') ? strchr(p, ';') + 1 : NULL) {
        if (strncmp(p, name, nl) == 0 && p[nl] == '=') {
            const char *v = p + nl + 1, *e = last ? v + strlen(v) : strchr(v, ';');
            return xstrndup(v, e ? (size_t)(e - v) : strlen(v));
        }
        if (strncmp(p, "dn=", 3) == 0)
            break;
    }
    return NULL;
}

int ldapc_bind_check_spec(const char *spec, const char *pw, size_t pwlen, char *why,
                          size_t whylen)
{
    if (strncmp(spec, LDAPC_BIND_SCHEME, strlen(LDAPC_BIND_SCHEME)) == 0)
        spec += strlen(LDAPC_BIND_SCHEME);
    struct ldapc c;
    ldapc_init(&c, "auth_bind");
    char *v = spec_item(spec, "v", 0), *t = spec_item(spec, "t", 0);
    char *tls = spec_item(spec, "tls", 0), *req = spec_item(spec, "req", 0);
    c.ca_file = spec_item(spec, "ca", 0);
    c.uris = spec_item(spec, "uris", 0);
    char *dn = spec_item(spec, "dn", 1);
    int rc = -1;
    if (v && t && tls && req && c.uris && dn) {
        c.version = atoi(v);
        c.timeout_ms = (unsigned)strtoul(t, NULL, 10);
        c.start_tls = atoi(tls);
        c.require_cert = atoi(req);
        if (c.ca_file && !*c.ca_file) {
            free(c.ca_file);
            c.ca_file = NULL;
        }
        c.bind = LDAPC_BIND_SIMPLE;
        rc = ldapc_bind_check(&c, dn, pw, pwlen, why, whylen);
    } else {
        str_copy(why, "malformed auth_bind value", whylen);
    }
    free(v), free(t), free(tls), free(req), free(dn);
    ldapc_free(&c);
    return rc;
}
