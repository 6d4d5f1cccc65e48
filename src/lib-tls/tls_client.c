/*
 * tls_client.c - the SMTP/LMTP client's TLS context (smtp_tls_* or
 * lmtp_tls_*): security levels none, may, encrypt, fingerprint, verify,
 * secure (no DANE: yubin has no DNSSEC-validating resolver), trust anchors
 * from PREFIX_tls_CAfile/CApath, an optional client certificate,
 * opportunistic versus mandatory protocols and ciphers per connection,
 * SNI (PREFIX_tls_servername), and certificate name matching against the
 * next hop (PREFIX_tls_verify_cert_match, PREFIX_tls_secure_cert_match).
 *
 * Sessions are not cached: every connection makes a full handshake.
 */
#include "lib-tls/tls_int.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

struct tls_client {
    SSL_CTX *ctx;
    char prefix[16];
    int loglevel;
    int fast_shutdown;
    int verify_depth;
    unsigned check_flags;
    const EVP_MD *fpt_md;
    struct tls_protocols prot_may, prot_mand;
    struct tls_ciphers ciph_may, ciph_mand, ciph_match;
    char *servername;          /* PREFIX_tls_servername */
    char **verify_match;       /* PREFIX_tls_verify_cert_match */
    char **secure_match;       /* PREFIX_tls_secure_cert_match */
    char **fpt_match;          /* PREFIX_tls_fingerprint_cert_match */
};

static void pname(char *buf, size_t len, const char *prefix, const char *suffix)
{
    str_fmt(buf, len, "%s_%s", prefix, suffix);
}

static int level_from_cfg(const struct config *cfg, const char *prefix, struct tls_report *r)
{
    char p[64];
    pname(p, sizeof(p), prefix, "tls_security_level");
    const char *lev = cfg_get_by_name(cfg, TLS_PARAM(p));
    if (lev && *lev) {
        if (str_ieq(lev, "dane")) {
            tls_report(r, 0, p, "%s = dane: yubin does not support DANE (no DNSSEC); using "
                       "\"may\"", p);
            return TLS_LEV_MAY;
        }
        int l = tls_level_parse(lev);
        if (l < 0) {
            tls_report(r, 1, p, "invalid %s value: \"%s\"%s", p, lev,
                       str_ieq(lev, "dane-only") ? " (DANE is not supported)" : "");
            return -1;
        }
        return l;
    }
    char e[64];
    pname(e, sizeof(e), prefix, "enforce_tls");
    if (cfg_get_bool_by_name(cfg, TLS_PARAM(e))) {
        pname(e, sizeof(e), prefix, "tls_enforce_peername");
        return cfg_get_bool_by_name(cfg, TLS_PARAM(e)) ? TLS_LEV_VERIFY : TLS_LEV_ENCRYPT;
    }
    pname(e, sizeof(e), prefix, "use_tls");
    return cfg_get_bool_by_name(cfg, TLS_PARAM(e)) ? TLS_LEV_MAY : TLS_LEV_NONE;
}

int tls_client_level(const struct config *cfg, const char *prefix, char *err, size_t errlen)
{
    struct tls_report r = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    return level_from_cfg(cfg, prefix, &r);
}

static struct tls_client *client_build(const struct config *cfg, const char *prefix,
                                       struct tls_report *r)
{
    tls_lib_init();
    if (strcmp(prefix, "smtp") != 0 && strcmp(prefix, "lmtp") != 0) {
        tls_report(r, 1, "smtp_tls_security_level", "TLS client: unknown prefix \"%s\"", prefix);
        return NULL;
    }
    struct tls_client *cl = xcalloc(1, sizeof(*cl));
    str_copy(cl->prefix, prefix, sizeof(cl->prefix));
    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (!cl->ctx)
        msg_fatal("SSL_CTX_new: out of memory");
    tls_ctx_common(cl->ctx);
    int ok = level_from_cfg(cfg, prefix, r) >= 0;
    char p[64], p2[64], p3[64];

    pname(p, sizeof(p), prefix, "tls_protocols");
    pname(p2, sizeof(p2), prefix, "tls_mandatory_protocols");
    if (tls_parse_protocols(cfg_get_by_name(cfg, TLS_PARAM(p)), p, &cl->prot_may, r) < 0 ||
        tls_parse_protocols(cfg_get_by_name(cfg, TLS_PARAM(p2)), p2, &cl->prot_mand, r) < 0)
        ok = 0;

    pname(p, sizeof(p), prefix, "tls_ciphers");
    pname(p2, sizeof(p2), prefix, "tls_exclude_ciphers");
    pname(p3, sizeof(p3), prefix, "tls_mandatory_exclude_ciphers");
    const char *ex_may[] = {p2, NULL}, *ex_mand[] = {p2, p3, NULL};
    char pm[64];
    pname(pm, sizeof(pm), prefix, "tls_mandatory_ciphers");
    if (tls_cipher_setup(cfg, p, ex_may, 0, &cl->ciph_may, r) < 0 ||
        tls_cipher_setup(cfg, pm, ex_mand, 0, &cl->ciph_mand, r) < 0 ||
        tls_cipher_setup(cfg, pm, ex_mand, 1, &cl->ciph_match, r) < 0)
        ok = 0;
    /* Validate the lists now, not at the first connection. */
    struct tls_ciphers *all[] = {&cl->ciph_may, &cl->ciph_mand};
    for (size_t i = 0; ok && i < ARRAY_LEN(all); i++)
        if (!SSL_CTX_set_cipher_list(cl->ctx, all[i]->list) ||
            !SSL_CTX_set_ciphersuites(cl->ctx, all[i]->suites)) {
            tls_report(r, 1, i ? pm : p, "%s: no usable cipher in \"%s\"", i ? pm : p,
                       all[i]->list);
            ok = 0;
        }
    ERR_clear_error();
    tls_ctx_set_curves(cl->ctx, cfg, r);

    if (tls_load_configured_certs(cl->ctx, cfg, prefix, r) < 0)
        ok = 0;
    if (tls_ctx_load_cas(cl->ctx, cfg, prefix, 0, r) < 0)
        ok = 0;
    /* Always verify so the result can be logged; tls_verify_cb keeps going. */
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_PEER, tls_verify_cb);
    pname(p, sizeof(p), prefix, "tls_scert_verifydepth");
    long long depth = cfg_get_int_by_name(cfg, TLS_PARAM(p));
    cl->verify_depth = depth < 0 ? 0 : depth > 100 ? 100 : (int)depth;
    SSL_CTX_set_verify_depth(cl->ctx, cl->verify_depth + 1);
    /* No client-side session cache (see the top of this file). */
    SSL_CTX_set_session_cache_mode(cl->ctx, SSL_SESS_CACHE_OFF);

    pname(p, sizeof(p), prefix, "tls_fingerprint_digest");
    if (!(cl->fpt_md = tls_digest(cfg, p, r)))
        ok = 0;
    pname(p, sizeof(p), prefix, "tls_loglevel");
    cl->loglevel = (int)cfg_get_int_by_name(cfg, TLS_PARAM(p));
    if (cl->loglevel >= 2)
        SSL_CTX_set_info_callback(cl->ctx, tls_info_cb);
    cl->fast_shutdown = cfg_get_bool(cfg, P_tls_fast_shutdown_enable);
    cl->check_flags = X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
    if (cfg_get_bool(cfg, P_tls_wildcard_matches_multiple_labels))
        cl->check_flags |= X509_CHECK_FLAG_MULTI_LABEL_WILDCARDS;
    pname(p, sizeof(p), prefix, "tls_servername");
    const char *sn = cfg_get_by_name(cfg, TLS_PARAM(p));
    cl->servername = xstrdup(sn ? sn : "");
    pname(p, sizeof(p), prefix, "tls_verify_cert_match");
    cl->verify_match = cfg_get_list_by_name(cfg, TLS_PARAM(p));
    pname(p, sizeof(p), prefix, "tls_secure_cert_match");
    cl->secure_match = cfg_get_list_by_name(cfg, TLS_PARAM(p));
    pname(p, sizeof(p), prefix, "tls_fingerprint_cert_match");
    cl->fpt_match = cfg_get_list_by_name(cfg, TLS_PARAM(p));
    ERR_clear_error();
    if (!ok) {
        tls_client_free(cl);
        return NULL;
    }
    return cl;
}

struct tls_client *tls_client_new(const struct config *cfg, const char *prefix, char *err,
                                  size_t errlen)
{
    struct tls_report r = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    return client_build(cfg, prefix, &r);
}

void tls_client_free(struct tls_client *cl)
{
    if (!cl)
        return;
    SSL_CTX_free(cl->ctx);
    tls_ciphers_free(&cl->ciph_may);
    tls_ciphers_free(&cl->ciph_mand);
    tls_ciphers_free(&cl->ciph_match);
    free(cl->servername);
    strv_free(cl->verify_match);
    strv_free(cl->secure_match);
    strv_free(cl->fpt_match);
    free(cl);
}

/* Names a server certificate must match: "hostname", "nexthop",
 * "dot-nexthop" (any subdomain) or literal names. */
static char **match_names(char *const *spec, const struct tls_client_peer *p)
{
    size_t n = strv_len(spec), k = 0;
    char **out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *s = spec[i];
        char *name = NULL;
        if (str_ieq(s, "hostname"))
            name = p->hostname && *p->hostname ? xstrdup(p->hostname) : NULL;
        else if (str_ieq(s, "nexthop"))
            name = p->nexthop && *p->nexthop ? xstrdup(p->nexthop) : NULL;
        else if (str_ieq(s, "dot-nexthop"))
            name = p->nexthop && *p->nexthop ? xasprintf(".%s", p->nexthop) : NULL;
        else
            name = xstrdup(s);
        if (!name)
            continue;
        size_t l = strlen(name);
        if (l > 1 && name[l - 1] == '.')
            name[l - 1] = '\0';   /* "example.com." */
        out[k++] = name;
    }
    return out;
}

struct tls_conn *tls_connect(struct tls_client *cl, int fd, const struct tls_client_peer *p)
{
    struct tls_conn *c = tls_conn_new(cl->ctx, fd, 0, p->namaddr);
    c->level = p->level;
    c->loglevel = cl->loglevel;
    c->fast_shutdown = cl->fast_shutdown;
    c->verify_depth = cl->verify_depth;
    c->fpt_md = cl->fpt_md;
    c->check_flags = cl->check_flags;
    int mandatory = p->level >= TLS_LEV_ENCRYPT;
    int match = p->level > TLS_LEV_ENCRYPT;
    const struct tls_ciphers *ci = match ? &cl->ciph_match : mandatory ? &cl->ciph_mand
                                                                       : &cl->ciph_may;
    if (tls_ssl_set_protocols(c->ssl, mandatory ? &cl->prot_mand : &cl->prot_may) < 0 ||
        !SSL_set_cipher_list(c->ssl, ci->list) || !SSL_set_ciphersuites(c->ssl, ci->suites)) {
        ERR_clear_error();   /* validated in tls_client_new; cannot happen */
        msg_warn("%s: cannot apply the TLS protocol or cipher settings", c->namaddr);
    }
    if (p->level == TLS_LEV_VERIFY)
        c->match_names = match_names(cl->verify_match, p);
    else if (p->level == TLS_LEV_SECURE)
        c->match_names = match_names(cl->secure_match, p);
    else if (p->level == TLS_LEV_FINGERPRINT)
        c->match_fpts = match_names(cl->fpt_match, p);
    /* SNI. */
    const char *sn = p->servername ? p->servername : cl->servername;
    const char *name = NULL;
    if (str_ieq(sn, "hostname"))
        name = p->hostname;
    else if (str_ieq(sn, "nexthop"))
        name = p->nexthop;
    else if (*sn)
        name = sn;
    /* Never an address literal; SSL_set_tlsext_host_name checks the rest. */
    if (name && *name && name[0] != '[' && strspn(name, "0123456789.") != strlen(name) &&
        !strchr(name, ':') && !SSL_set_tlsext_host_name(c->ssl, name)) {
        ERR_clear_error();
        msg_warn("%s: cannot send TLS SNI \"%s\"", c->namaddr, name);
    }
    SSL_set_connect_state(c->ssl);
    return c;
}

/* Fingerprints compare without case and with the colons optional. */
static int fpt_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == ':')
            a++;
        while (*b == ':')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        char x = *a++, y = *b++;
        if ((x | 0x20) != (y | 0x20))
            return 0;
    }
}

static int fpt_matches(const struct tls_conn *c)
{
    for (size_t i = 0; c->match_fpts && c->match_fpts[i]; i++)
        if ((c->peer_fpt && fpt_equal(c->match_fpts[i], c->peer_fpt)) ||
            (c->peer_pkey_fpt && fpt_equal(c->match_fpts[i], c->peer_pkey_fpt)))
            return 1;
    return 0;
}

static int name_matches(const struct tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    for (size_t i = 0; peer && c->match_names && c->match_names[i]; i++)
        if (X509_check_host(peer, c->match_names[i], 0, c->check_flags, NULL) == 1)
            return 1;
    return 0;
}

/* After the handshake: does the server certificate satisfy the level? */
int tls_client_check_peer(struct tls_conn *c)
{
    c->peer_verified = 0;
    if (c->level == TLS_LEV_FINGERPRINT) {
        c->peer_verified = c->peer_present && fpt_matches(c);
        if (!c->peer_verified) {
            str_copy(c->err, "Server certificate not verified", sizeof(c->err));
            msg_info("server certificate verification failed for %s: fingerprint %s matches "
                     "none of the configured fingerprints", c->namaddr,
                     c->peer_fpt ? c->peer_fpt : "(no certificate)");
            return -1;
        }
        return 0;
    }
    int matched = c->peer_trusted && name_matches(c);
    c->peer_verified = matched;
    if (c->level < TLS_LEV_VERIFY)
        return 0;
    if (!c->peer_present || !c->peer_trusted) {
        str_copy(c->err, "Server certificate not trusted", sizeof(c->err));
        msg_info("certificate verification failed for %s: %s", c->namaddr,
                 !c->peer_present ? "no certificate"
                 : c->verify_err != X509_V_OK ? X509_verify_cert_error_string(c->verify_err)
                 : X509_verify_cert_error_string(SSL_get_verify_result(c->ssl)));
        return -1;
    }
    if (!matched) {
        str_copy(c->err, "Server certificate not verified", sizeof(c->err));
        struct buf names;
        buf_init(&names, 4096);
        for (size_t i = 0; c->match_names && c->match_names[i]; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", c->match_names[i]);
        msg_info("server certificate verification failed for %s: CN=%s matches none of: %s",
                 c->namaddr, c->peer_cn ? c->peer_cn : "(none)",
                 names.len ? buf_cstr(&names) : "(no names)");
        buf_free(&names);
        return -1;
    }
    return 0;
}
