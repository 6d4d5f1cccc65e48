/*
 * tls.c - the parts of the TLS module shared by server and client:
 * OpenSSL setup, Postfix's protocol and cipher-grade syntax, CA loading,
 * the connection object (handshake, read, write, shutdown), peer
 * certificate facts, and Postfix's log and Received: texts.
 * Server contexts are in tls_server.c, client contexts in tls_client.c,
 * certificate files in tls_certs.c, `yubin check` in tls_check.c.
 */
#include "lib-tls/tls_int.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

int tls_conn_index = -1;

void tls_lib_init(void)
{
    if (tls_conn_index >= 0)
        return;
    if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS | OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL))
        msg_fatal("cannot initialize the OpenSSL library");
    tls_conn_index = SSL_get_ex_new_index(0, "yubin tls_conn", NULL, NULL, NULL);
    if (tls_conn_index < 0)
        msg_fatal("cannot allocate an OpenSSL ex_data index");
}

/* ------------------------------------------------------------------ */
/* reporting configuration problems                                    */

void tls_report(struct tls_report *r, int is_error, const char *param, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (is_error)
        r->errors++;
    if (r->fn) {
        r->fn(r->arg, is_error, param, text);
    } else if (is_error) {
        if (r->errors == 1 && r->err && r->errlen)
            str_copy(r->err, text, r->errlen);
        else
            msg_warn("%s", text);
    } else {
        msg_warn("%s", text);
    }
}

/* ------------------------------------------------------------------ */
/* security levels                                                     */

static const char *const level_names[] = {
    [TLS_LEV_NONE] = "none",       [TLS_LEV_MAY] = "may",       [TLS_LEV_ENCRYPT] = "encrypt",
    [TLS_LEV_FINGERPRINT] = "fingerprint", [TLS_LEV_VERIFY] = "verify", [TLS_LEV_SECURE] = "secure",
};

const char *tls_level_name(enum tls_level level)
{
    if ((unsigned)level < ARRAY_LEN(level_names))
        return level_names[level];
    return "unknown";
}

int tls_level_parse(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(level_names); i++)
        if (str_ieq(s, level_names[i]))
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* protocols: ">=TLSv1.2", "<=0304", "!TLSv1.1", "TLSv1.2" ...          */

static const struct {
    const char *name;
    int version;
    uint64_t no_op;
} protocols[] = {
    {"SSLv2", 0x0200, 0},
    {"SSLv3", SSL3_VERSION, SSL_OP_NO_SSLv3},
    {"TLSv1", TLS1_VERSION, SSL_OP_NO_TLSv1},
    {"TLSv1.1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {"TLSv1.2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {"TLSv1.3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
};

static int protocol_by_name(const char *s)
{
    for (size_t i = 0; i < ARRAY_LEN(protocols); i++)
        if (str_ieq(s, protocols[i].name))
            return (int)i;
    return -1;
}

/* A bound: a protocol name, or hex "0303", "303", "0x0303". 0 if invalid. */
static int protocol_bound(const char *s)
{
    int i = protocol_by_name(s);
    if (i >= 0)
        return protocols[i].version;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    size_t n = strlen(p);
    if (n < 1 || n > 4 || strspn(p, "0123456789abcdefABCDEF") != n)
        return 0;
    int v = (int)strtol(p, NULL, 16);
    return v >= 0x0300 ? v : 0;
}

int tls_parse_protocols(const char *value, const char *param, struct tls_protocols *p,
                        struct tls_report *r)
{
    unsigned include = 0, exclude = 0;
    int min = 0, max = 0;
    memset(p, 0, sizeof(*p));
    char *copy = xstrdup(value ? value : "");
    int rc = 0;
    for (char *save = NULL, *tok = strtok_r(copy, " \t\r\n,:", &save); tok;
         tok = strtok_r(NULL, " \t\r\n,:", &save)) {
        if (tok[0] == '>' || tok[0] == '<') {
            int v = tok[1] == '=' ? protocol_bound(tok + 2) : 0;
            if (!v) {
                tls_report(r, 1, param, "invalid %s value: \"%s\"", param, tok);
                rc = -1;
                break;
            }
            if (v > TLS1_3_VERSION) {
                /* Postfix: a version OpenSSL does not know fails to set the bound. */
                tls_report(r, 0, param, "%s: protocol version %s is not supported by this "
                           "OpenSSL: bound not set", param, tok + 2);
                continue;
            }
            if (tok[0] == '>')
                min = v;
            else
                max = v;
            continue;
        }
        int neg = tok[0] == '!';
        int i = protocol_by_name(tok + neg);
        if (i < 0) {
            tls_report(r, 1, param, "invalid %s value: unknown protocol \"%s\"", param, tok + neg);
            rc = -1;
            break;
        }
        if (neg)
            exclude |= 1u << i;
        else
            include |= 1u << i;
    }
    free(copy);
    if (rc < 0)
        return -1;
    int lo = 0, hi = 0;
    for (size_t i = 1; i < ARRAY_LEN(protocols); i++) {   /* SSLv2: never */
        int v = protocols[i].version;
        int ok = (!include || (include & (1u << i))) && !(exclude & (1u << i)) &&
                 (!min || v >= min) && (!max || v <= max);
        if (ok) {
            if (!lo)
                lo = v;
            hi = v;
        }
    }
    if (!lo || hi < TLS1_VERSION) {
        tls_report(r, 1, param, "%s = %s leaves no TLS protocol version enabled", param,
                   value);
        return -1;
    }
    if (lo < TLS1_VERSION)
        lo = TLS1_VERSION;   /* SSLv3 is gone from OpenSSL 3 */
    p->min = lo;
    p->max = hi;
    for (size_t i = 1; i < ARRAY_LEN(protocols); i++) {
        int v = protocols[i].version;
        if (v > lo && v < hi &&
            ((include && !(include & (1u << i))) || (exclude & (1u << i))))
            p->no_ops |= protocols[i].no_op;
    }
    return 0;
}

int tls_ctx_set_protocols(SSL_CTX *ctx, const struct tls_protocols *p)
{
    if (!SSL_CTX_set_min_proto_version(ctx, p->min) || !SSL_CTX_set_max_proto_version(ctx, p->max))
        return -1;
    SSL_CTX_set_options(ctx, p->no_ops);
    return 0;
}

int tls_ssl_set_protocols(SSL *ssl, const struct tls_protocols *p)
{
    if (!SSL_set_min_proto_version(ssl, p->min) || !SSL_set_max_proto_version(ssl, p->max))
        return -1;
    SSL_set_options(ssl, p->no_ops);
    return 0;
}

/* ------------------------------------------------------------------ */
/* cipher grades                                                       */

static const char default_tls13_suites[] =
    "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

static const char *const cipher_grades[] = {"export", "low", "medium", "high", "null"};

int tls_cipher_setup(const struct config *cfg, const char *grade_param,
                     const char *const *excl_params, int exclude_anull,
                     struct tls_ciphers *out, struct tls_report *r)
{
    memset(out, 0, sizeof(*out));
    const char *grade = cfg_get_by_name(cfg, TLS_PARAM(grade_param));
    grade = grade ? grade : "";
    size_t g;
    for (g = 0; g < ARRAY_LEN(cipher_grades); g++)
        if (str_ieq(grade, cipher_grades[g]))
            break;
    if (g == ARRAY_LEN(cipher_grades)) {
        tls_report(r, 1, grade_param, "invalid %s value: \"%s\" (use export, low, medium, "
                   "high or null)", grade_param, grade);
        return -1;
    }
    char pname[64];
    str_fmt(pname, sizeof(pname), "tls_%s_cipherlist", cipher_grades[g]);
    const char *base = cfg_get_by_name(cfg, TLS_PARAM(pname));
    if (!base || !*base) {
        tls_report(r, 1, pname, "%s is empty", pname);
        return -1;
    }
    struct buf list, suites;
    buf_init(&list, 0);
    buf_init(&suites, 0);
    buf_puts(&list, base);
    /* TLS 1.3 suites are not graded (all are "high"); a suite named in an
     * exclusion list is dropped. */
    char *all = xstrdup(default_tls13_suites);
    char **excluded = NULL;
    size_t nexcl = 0;
    int rc = 0;
    for (size_t i = 0; excl_params && excl_params[i] && rc == 0; i++) {
        char **toks = cfg_get_list_by_name(cfg, TLS_PARAM(excl_params[i]));
        for (size_t j = 0; toks[j]; j++) {
            const char *t = toks[j];
            if (strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                          "+-_.=") != strlen(t) || t[0] == '+') {
                tls_report(r, 1, excl_params[i], "invalid %s element: \"%s\"", excl_params[i], t);
                rc = -1;
                break;
            }
            if (str_iprefix(t, "TLS_")) {
                excluded = xrealloc(excluded, (nexcl + 1) * sizeof(*excluded));
                excluded[nexcl++] = xstrdup(t);
            } else {
                buf_printf(&list, ":!%s", t);
            }
        }
        strv_free(toks);
    }
    if (exclude_anull)
        buf_puts(&list, ":!aNULL");
    for (char *save = NULL, *s = strtok_r(all, ":", &save); s; s = strtok_r(NULL, ":", &save)) {
        size_t k;
        for (k = 0; k < nexcl; k++)
            if (str_ieq(s, excluded[k]))
                break;
        if (k == nexcl)
            buf_printf(&suites, "%s%s", suites.len ? ":" : "", s);
    }
    for (size_t k = 0; k < nexcl; k++)
        free(excluded[k]);
    free(excluded);
    free(all);
    if (rc < 0) {
        buf_free(&list);
        buf_free(&suites);
        return -1;
    }
    out->list = xstrdup(buf_cstr(&list));
    out->suites = xstrdup(buf_cstr(&suites));
    buf_free(&list);
    buf_free(&suites);
    return 0;
}

void tls_ciphers_free(struct tls_ciphers *c)
{
    free(c->list);
    free(c->suites);
    c->list = c->suites = NULL;
}

const EVP_MD *tls_digest(const struct config *cfg, const char *param, struct tls_report *r)
{
    const char *name = cfg_get_by_name(cfg, TLS_PARAM(param));
    const EVP_MD *md = name && *name ? EVP_get_digestbyname(name) : NULL;
    if (!md)
        tls_report(r, 1, param, "invalid %s value: \"%s\" is not a digest algorithm (use "
                   "sha256, sha1, md5 ...)", param, name ? name : "");
    return md;
}

void tls_fingerprint(const EVP_MD *md, const unsigned char *der, size_t len, char *out,
                     size_t outlen)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    out[0] = '\0';
    if (!EVP_Digest(der, len, d, &n, md, NULL))
        return;
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (unsigned i = 0; i < n && o + 4 <= outlen; i++) {
        if (i)
            out[o++] = ':';
        out[o++] = hex[d[i] >> 4];
        out[o++] = hex[d[i] & 15];
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* context setup shared by server and client                           */

void tls_ctx_common(SSL_CTX *ctx)
{
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* SMTP has its own end markers, so a peer that drops TCP without
     * close_notify is just a closed connection; renegotiation is never
     * needed by mail and only costs CPU. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
}

int tls_ctx_load_cas(SSL_CTX *ctx, const struct config *cfg, const char *prefix,
                     int send_names, struct tls_report *r)
{
    char pfile[64], ppath[64];
    str_fmt(pfile, sizeof(pfile), "%s_tls_CAfile", prefix);
    str_fmt(ppath, sizeof(ppath), "%s_tls_CApath", prefix);
    const char *file = cfg_get_by_name(cfg, TLS_PARAM(pfile));
    const char *path = cfg_get_by_name(cfg, TLS_PARAM(ppath));
    if (file && !*file)
        file = NULL;
    if (path && !*path)
        path = NULL;
    if (file) {
        /* Read it ourselves first for a clear message (OpenSSL's is not). */
        size_t len;
        char *pem = tls_read_pem(file, pfile, &len, r);
        if (!pem)
            return -1;
        free(pem);
        if (!SSL_CTX_load_verify_locations(ctx, file, NULL)) {
            unsigned long e = ERR_peek_last_error();
            tls_report(r, 1, pfile, "%s %s: no CA certificates loaded: %s", pfile, file,
                       e ? ERR_reason_error_string(e) : "bad PEM");
            ERR_clear_error();
            return -1;
        }
        if (send_names) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(file);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
            ERR_clear_error();
        }
    }
    if (path) {
        if (access(path, R_OK | X_OK) < 0) {
            tls_report(r, 1, ppath, "%s %s: %s", ppath, path, strerror(errno));
            return -1;
        }
        if (!SSL_CTX_load_verify_locations(ctx, NULL, path)) {
            tls_report(r, 1, ppath, "%s %s: cannot use this CA directory", ppath, path);
            ERR_clear_error();
            return -1;
        }
    }
    if (cfg_get_bool(cfg, P_tls_append_default_CA) && !SSL_CTX_set_default_verify_paths(ctx)) {
        tls_report(r, 0, "tls_append_default_CA", "cannot load the system CA certificates");
        ERR_clear_error();
    }
    return 0;
}

void tls_ctx_set_curves(SSL_CTX *ctx, const struct config *cfg, struct tls_report *r)
{
    char **names = cfg_get_list(cfg, P_tls_eecdh_auto_curves);
    struct buf ok;
    buf_init(&ok, 4096);
    SSL_CTX *probe = SSL_CTX_new(TLS_method());
    for (size_t i = 0; names[i] && probe; i++) {
        if (strchr(names[i], ':') || !SSL_CTX_set1_groups_list(probe, names[i])) {
            /* Postfix skips curves the library does not know. */
            tls_report(r, 0, "tls_eecdh_auto_curves", "tls_eecdh_auto_curves: ignoring "
                       "unknown or unsupported curve \"%s\"", names[i]);
            ERR_clear_error();
            continue;
        }
        buf_printf(&ok, "%s%s", ok.len ? ":" : "", names[i]);
    }
    SSL_CTX_free(probe);
    if (ok.len && !SSL_CTX_set1_groups_list(ctx, buf_cstr(&ok)))
        ERR_clear_error();
    else if (!ok.len && names[0])
        tls_report(r, 0, "tls_eecdh_auto_curves", "tls_eecdh_auto_curves: no supported "
                   "curve; using OpenSSL's defaults");
    buf_free(&ok);
    strv_free(names);
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

struct tls_conn *tls_conn_new(SSL_CTX *ctx, int fd, int is_server, const char *namaddr)
{
    struct tls_conn *c = xcalloc(1, sizeof(*c));
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        msg_fatal("SSL_new: out of memory");
    c->fd = fd;
    c->is_server = is_server;
    c->namaddr = xstrdup(namaddr && *namaddr ? namaddr : "unknown");
    c->verify_err = X509_V_OK;
    c->verify_depth = 9;
    c->fast_shutdown = 1;
    SSL_set_ex_data(c->ssl, tls_conn_index, c);
    if (!SSL_set_fd(c->ssl, fd))
        msg_fatal("SSL_set_fd: out of memory");
    return c;
}

int tls_verify_cb(int ok, X509_STORE_CTX *xs)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tls_conn *c = ssl ? SSL_get_ex_data(ssl, tls_conn_index) : NULL;
    if (!c)
        return ok;
    int depth = X509_STORE_CTX_get_error_depth(xs);
    if (ok && depth > c->verify_depth) {
        X509_STORE_CTX_set_error(xs, X509_V_ERR_CERT_CHAIN_TOO_LONG);
        ok = 0;
    }
    if (!ok && c->verify_err == X509_V_OK) {
        c->verify_err = X509_STORE_CTX_get_error(xs);
        c->verify_err_depth = depth;
        if (c->verify_err == X509_V_OK)
            c->verify_err = X509_V_ERR_UNSPECIFIED;
    }
    /* Untrusted certificates are still useful (fingerprints for
     * check_ccert_access); only a required one must verify. */
    return c->require_trusted ? ok : 1;
}

void tls_info_cb(const SSL *ssl, int where, int ret)
{
    struct tls_conn *c = SSL_get_ex_data(ssl, tls_conn_index);
    if (!c || c->loglevel < 2)
        return;
    const char *op = c->is_server ? "SSL_accept" : "SSL_connect";
    if (where & SSL_CB_LOOP)
        msg_info("%s: %s:%s", c->namaddr, op, SSL_state_string_long(ssl));
    else if (where & SSL_CB_ALERT)
        msg_info("%s: SSL3 alert %s:%s:%s", c->namaddr, (where & SSL_CB_READ) ? "read" : "write",
                 SSL_alert_type_string_long(ret), SSL_alert_desc_string_long(ret));
    else if ((where & SSL_CB_EXIT) && ret == 0)
        msg_info("%s: %s:failed in %s", c->namaddr, op, SSL_state_string_long(ssl));
}

/* A printable copy of an X509 name entry: NULL if absent or if it has a NUL. */
static char *name_text(const X509_NAME *name, int nid)
{
    int pos = name ? X509_NAME_get_index_by_NID(name, nid, -1) : -1;
    if (pos < 0)
        return NULL;
    const ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, pos));
    unsigned char *utf8 = NULL;
    int n = s ? ASN1_STRING_to_UTF8(&utf8, s) : -1;
    if (n < 0)
        return NULL;
    if (memchr(utf8, '\0', (size_t)n)) {
        OPENSSL_free(utf8);
        return NULL;
    }
    size_t len = (size_t)n < TLS_NAME_MAX ? (size_t)n : TLS_NAME_MAX;
    char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = utf8[i];
        out[i] = ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    out[len] = '\0';
    OPENSSL_free(utf8);
    return out;
}

/* Record what the peer certificate says (also for resumed sessions). */
static void peer_facts(struct tls_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    if (!peer)
        return;
    c->peer_present = 1;
    c->peer_trusted = SSL_get_verify_result(c->ssl) == X509_V_OK && c->verify_err == X509_V_OK;
    c->peer_verified = c->peer_trusted;   /* client side refines this */
    c->peer_cn = name_text(X509_get_subject_name(peer), NID_commonName);
    c->issuer_cn = name_text(X509_get_issuer_name(peer), NID_commonName);
    if (!c->issuer_cn)
        c->issuer_cn = name_text(X509_get_issuer_name(peer), NID_organizationName);
    if (c->fpt_md) {
        char fpt[TLS_FPT_MAX];
        unsigned char *der = NULL;
        int n = i2d_X509(peer, &der);
        if (n > 0) {
            tls_fingerprint(c->fpt_md, der, (size_t)n, fpt, sizeof(fpt));
            c->peer_fpt = xstrdup(fpt);
        }
        OPENSSL_free(der);
        der = NULL;
        n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(peer), &der);
        if (n > 0) {
            tls_fingerprint(c->fpt_md, der, (size_t)n, fpt, sizeof(fpt));
            c->peer_pkey_fpt = xstrdup(fpt);
        }
        OPENSSL_free(der);
    }
}

/* OpenSSL's reason for a failed call, and the error queue as warnings. */
static void fail_reason(struct tls_conn *c, int sslerr, int ret, int saved_errno)
{
    unsigned long e;
    const char *file, *func, *data;
    int line, flags, logged = 0;
    char reason[200] = "";
    if (sslerr == SSL_ERROR_SSL) {
        e = ERR_peek_last_error();
        if (e && ERR_reason_error_string(e))
            str_copy(reason, ERR_reason_error_string(e), sizeof(reason));
        if (ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED && c->verify_err != X509_V_OK)
            str_fmt(reason, sizeof(reason), "certificate verify failed: %s (depth %d)",
                    X509_verify_cert_error_string(c->verify_err), c->verify_err_depth);
    } else if (sslerr == SSL_ERROR_SYSCALL) {
        if (ret == 0 || saved_errno == 0)
            str_copy(reason, "lost connection", sizeof(reason));
        else
            str_copy(reason, strerror(saved_errno), sizeof(reason));
    } else if (sslerr == SSL_ERROR_ZERO_RETURN) {
        str_copy(reason, "lost connection", sizeof(reason));
    }
    if (!*reason)
        str_fmt(reason, sizeof(reason), "error %d", sslerr);
    str_copy(c->err, reason, sizeof(c->err));
    while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
        if (logged++ < 8) {
            char buf[256];
            ERR_error_string_n(e, buf, sizeof(buf));
            msg_warn("TLS library problem: %s:%s:%d:%s", buf, file ? file : "", line,
                     (flags & ERR_TXT_STRING) && data ? data : "");
        }
    }
}

static void handshake_failed(struct tls_conn *c, int sslerr, int ret, int saved_errno)
{
    fail_reason(c, sslerr, ret, saved_errno);
    c->state = TLS_ST_FAILED;
    if (c->is_server)
        msg_info("SSL_accept error from %s: %s", c->namaddr, c->err);
    else
        msg_info("SSL_connect error to %s: %s", c->namaddr, c->err);
}

int tls_handshake(struct tls_conn *c)
{
    if (c->state == TLS_ST_FAILED)
        return TLS_ERROR;
    if (c->state != TLS_ST_HANDSHAKE)
        return TLS_OK;
    ERR_clear_error();
    errno = 0;
    int ret = SSL_do_handshake(c->ssl);
    if (ret == 1) {
        peer_facts(c);
        if (!c->is_server && tls_client_check_peer(c) < 0) {
            c->state = TLS_ST_FAILED;
            return TLS_ERROR;
        }
        c->state = TLS_ST_OPEN;
        if (c->loglevel >= 1)
            tls_log_established(c, NULL);
        return TLS_OK;
    }
    int saved = errno;
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    handshake_failed(c, e, ret, saved);
    return TLS_ERROR;
}

int tls_handshake_wait(struct tls_conn *c, int timeout_ms)
{
    uint64_t deadline = mono_msec() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        int r = tls_handshake(c);
        if (r == TLS_OK || r == TLS_ERROR)
            return r;
        uint64_t now = mono_msec();
        if (now >= deadline) {
            str_copy(c->err, "handshake timed out", sizeof(c->err));
            c->state = TLS_ST_FAILED;
            msg_info("%s %s: handshake timed out", c->is_server ? "SSL_accept error from" :
                     "SSL_connect error to", c->namaddr);
            return TLS_ERROR;
        }
        struct pollfd pfd = {.fd = c->fd, .events = r == TLS_WANT_READ ? POLLIN : POLLOUT};
        int n = poll(&pfd, 1, (int)(deadline - now));
        if (n < 0 && errno != EINTR) {
            str_copy(c->err, strerror(errno), sizeof(c->err));
            c->state = TLS_ST_FAILED;
            return TLS_ERROR;
        }
    }
}

/* Map a failed SSL_read/SSL_write. */
static ssize_t io_result(struct tls_conn *c, int ret, int *want)
{
    int saved = errno;
    int e = SSL_get_error(c->ssl, ret);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        *want = TLS_WANT_READ;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        *want = TLS_WANT_WRITE;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        c->state = TLS_ST_CLOSED;
        *want = TLS_OK;
        return 0;
    case SSL_ERROR_SYSCALL:
        if (saved == 0 || ret == 0) {   /* EOF without close_notify */
            c->state = TLS_ST_CLOSED;
            *want = TLS_OK;
            return 0;
        }
        /* fall through */
    default:
        fail_reason(c, e, ret, saved);
        c->state = TLS_ST_FAILED;
        *want = TLS_ERROR;
        return -1;
    }
}

ssize_t tls_read(struct tls_conn *c, void *buf, size_t len, int *want)
{
    *want = TLS_OK;
    if (c->state == TLS_ST_FAILED) {
        *want = TLS_ERROR;
        return -1;
    }
    if (c->state == TLS_ST_CLOSED)
        return 0;
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        len = INT32_MAX;
    ERR_clear_error();
    errno = 0;
    size_t got = 0;
    int ret = SSL_read_ex(c->ssl, buf, len, &got);
    if (ret == 1)
        return (ssize_t)got;
    return io_result(c, ret, want);
}

ssize_t tls_write(struct tls_conn *c, const void *buf, size_t len, int *want)
{
    *want = TLS_OK;
    if (c->state == TLS_ST_FAILED || c->state == TLS_ST_CLOSED) {
        *want = TLS_ERROR;
        if (!*c->err)
            str_copy(c->err, "connection closed", sizeof(c->err));
        return -1;
    }
    if (len == 0)
        return 0;
    if (len > INT32_MAX)
        len = INT32_MAX;
    ERR_clear_error();
    errno = 0;
    size_t put = 0;
    int ret = SSL_write_ex(c->ssl, buf, len, &put);
    if (ret == 1)
        return (ssize_t)put;
    ssize_t r = io_result(c, ret, want);
    if (r == 0) {   /* cannot write to a closed connection */
        *want = TLS_ERROR;
        return -1;
    }
    return r;
}

int tls_pending(struct tls_conn *c)
{
    if (!c || !c->ssl || c->state != TLS_ST_OPEN)
        return 0;
    int n = SSL_pending(c->ssl);
    return n > 0 ? n : SSL_has_pending(c->ssl) ? 1 : 0;   /* a record not yet decrypted */
}

int tls_shutdown(struct tls_conn *c)
{
    if (c->state == TLS_ST_FAILED || c->state == TLS_ST_HANDSHAKE)
        return TLS_ERROR;   /* nothing sensible to say: just close */
    ERR_clear_error();
    int ret = SSL_shutdown(c->ssl);
    if (ret == 1 || (ret == 0 && c->fast_shutdown)) {
        c->state = TLS_ST_CLOSED;
        return TLS_OK;
    }
    if (ret == 0)
        return TLS_WANT_READ;   /* wait for the peer's close_notify */
    int e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    ERR_clear_error();
    c->state = TLS_ST_FAILED;
    return TLS_ERROR;
}

void tls_free(struct tls_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    free(c->namaddr);
    strv_free(c->match_names);
    strv_free(c->match_fpts);
    free(c->peer_cn);
    free(c->issuer_cn);
    free(c->peer_fpt);
    free(c->peer_pkey_fpt);
    free(c->sni);
    free(c);
}

int tls_conn_fd(const struct tls_conn *c) { return c->fd; }
const char *tls_conn_error(const struct tls_conn *c) { return c->err; }
const char *tls_conn_protocol(const struct tls_conn *c) { return SSL_get_version(c->ssl); }
int tls_conn_reused(const struct tls_conn *c) { return SSL_session_reused(c->ssl); }
const char *tls_conn_sni(const struct tls_conn *c) { return c->sni; }
int tls_conn_peer_present(const struct tls_conn *c) { return c->peer_present; }
int tls_conn_peer_trusted(const struct tls_conn *c) { return c->peer_trusted; }
int tls_conn_peer_verified(const struct tls_conn *c) { return c->peer_verified; }
const char *tls_conn_peer_fingerprint(const struct tls_conn *c) { return c->peer_fpt; }
const char *tls_conn_peer_pkey_fingerprint(const struct tls_conn *c) { return c->peer_pkey_fpt; }
const char *tls_conn_peer_cn(const struct tls_conn *c) { return c->peer_cn; }
const char *tls_conn_issuer_cn(const struct tls_conn *c) { return c->issuer_cn; }

const char *tls_conn_cipher(const struct tls_conn *c)
{
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    return ci ? SSL_CIPHER_get_name(ci) : "(NONE)";
}

int tls_conn_bits(const struct tls_conn *c, int *alg_bits)
{
    int alg = 0;
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->ssl);
    int bits = ci ? SSL_CIPHER_get_bits(ci, &alg) : 0;
    if (alg_bits)
        *alg_bits = alg;
    return bits;
}

/* ------------------------------------------------------------------ */
/* key exchange and signature details (Postfix 3.4+ log and Received:)  */

/* "P-256" for NIST curves, else OpenSSL's short name. */
static const char *curve_name(const EVP_PKEY *pk, char *buf, size_t len)
{
    char group[64];
    size_t glen = 0;
    if (!EVP_PKEY_get_group_name(pk, group, sizeof(group), &glen))
        return NULL;
    int nid = OBJ_sn2nid(group);
    if (nid == NID_undef)
        nid = OBJ_ln2nid(group);
    const char *nist = nid != NID_undef ? EC_curve_nid2nist(nid) : NULL;
    str_copy(buf, nist ? nist : group, len);
    return buf;
}

static void kex_text(SSL *ssl, struct buf *b)
{
    /* The group first: after a TLS 1.2 handshake the server no longer has
     * the ephemeral keys. */
    char cbuf[64];
    int nid = SSL_get_negotiated_group(ssl);
    if (nid > 0 && !(nid & TLSEXT_nid_unknown)) {
        const char *nist = EC_curve_nid2nist(nid);
        if (nid == NID_X25519 || nid == NID_X448)
            buf_printf(b, " key-exchange %s", OBJ_nid2sn(nid));
        else if (nist)
            buf_printf(b, " key-exchange ECDHE (%s)", nist);
        else if (nid == NID_ffdhe2048 || nid == NID_ffdhe3072 || nid == NID_ffdhe4096 ||
                 nid == NID_ffdhe6144 || nid == NID_ffdhe8192)
            buf_printf(b, " key-exchange DHE (%s bits)", OBJ_nid2sn(nid) + 6);
        else if (OBJ_nid2sn(nid))
            buf_printf(b, " key-exchange ECDHE (%s)", OBJ_nid2sn(nid));
        return;
    }
    EVP_PKEY *pk = NULL;
    if ((!SSL_get_peer_tmp_key(ssl, &pk) && !SSL_get_tmp_key(ssl, &pk)) || !pk) {
        ERR_clear_error();
        return;
    }
    switch (EVP_PKEY_get_base_id(pk)) {
    case EVP_PKEY_DH:
        buf_printf(b, " key-exchange DHE (%d bits)", EVP_PKEY_get_bits(pk));
        break;
    case EVP_PKEY_EC:
        if (curve_name(pk, cbuf, sizeof(cbuf)))
            buf_printf(b, " key-exchange ECDHE (%s)", cbuf);
        else
            buf_puts(b, " key-exchange ECDHE");
        break;
    case EVP_PKEY_X25519:
        buf_puts(b, " key-exchange X25519");
        break;
    case EVP_PKEY_X448:
        buf_puts(b, " key-exchange X448");
        break;
    default:
        break;
    }
    EVP_PKEY_free(pk);
    ERR_clear_error();
}

/* "server-signature RSA-PSS (2048 bits) server-digest SHA256" for one side. */
static void sig_text(const char *who, EVP_PKEY *key, int sig_type, int sig_md, struct buf *b)
{
    if (!key)
        return;
    const char *name;
    char cbuf[64];
    const char *param = NULL;
    int bits = 0;
    int type = sig_type != NID_undef ? sig_type : EVP_PKEY_get_base_id(key);
    switch (type) {
    case EVP_PKEY_RSA: name = "RSA"; bits = EVP_PKEY_get_bits(key); break;
    case EVP_PKEY_RSA_PSS: name = "RSA-PSS"; bits = EVP_PKEY_get_bits(key); break;
    case EVP_PKEY_DSA: name = "DSA"; bits = EVP_PKEY_get_bits(key); break;
    case EVP_PKEY_EC: name = "ECDSA"; param = curve_name(key, cbuf, sizeof(cbuf)); break;
    case EVP_PKEY_ED25519: name = "ED25519"; break;
    case EVP_PKEY_ED448: name = "ED448"; break;
    default: name = OBJ_nid2sn(type); break;
    }
    if (!name)
        return;
    buf_printf(b, " %s-signature %s", who, name);
    if (param)
        buf_printf(b, " (%s)", param);
    else if (bits)
        buf_printf(b, " (%d bits)", bits);
    if (sig_md != NID_undef && OBJ_nid2sn(sig_md))
        buf_printf(b, " %s-digest %s", who, OBJ_nid2sn(sig_md));
}

/* " key-exchange ... server-signature ... [client-signature ...]" */
static void params_text(const struct tls_conn *c, struct buf *b)
{
    SSL *ssl = c->ssl;
    kex_text(ssl, b);
    if (SSL_session_reused(ssl))
        return;   /* no signatures in an abbreviated handshake */
    int ltype = NID_undef, lmd = NID_undef, ptype = NID_undef, pmd = NID_undef;
    EVP_PKEY *local = SSL_get_privatekey(ssl);
    X509 *peer = SSL_get0_peer_certificate(ssl);
    EVP_PKEY *peer_key = peer ? X509_get0_pubkey(peer) : NULL;
    if (local) {
        if (!SSL_get_signature_type_nid(ssl, &ltype))
            ltype = NID_undef;
        if (!SSL_get_signature_nid(ssl, &lmd))
            lmd = NID_undef;
    }
    if (peer_key) {
        if (!SSL_get_peer_signature_type_nid(ssl, &ptype))
            ptype = NID_undef;
        if (!SSL_get_peer_signature_nid(ssl, &pmd))
            pmd = NID_undef;
    }
    /* A certificate is sent but no signature made by it in TLS <= 1.2 with RSA key exchange. */
    if (c->is_server) {
        sig_text("server", local, ltype, lmd, b);
        if (peer_key)
            sig_text("client", peer_key, ptype, pmd, b);
    } else {
        sig_text("server", peer_key, ptype, pmd, b);
        if (local && (ltype != NID_undef || lmd != NID_undef))
            sig_text("client", local, ltype, lmd, b);
    }
    ERR_clear_error();
}

void tls_received_info(const struct tls_conn *c, char *out, size_t len)
{
    struct buf b;
    buf_init(&b, 0);
    int alg = 0, bits = tls_conn_bits(c, &alg);
    buf_printf(&b, "(using %s with cipher %s (%d/%d bits)", tls_conn_protocol(c),
               tls_conn_cipher(c), bits, alg);
    params_text(c, &b);
    buf_putc(&b, ')');
    str_copy(out, buf_cstr(&b), len);
    buf_free(&b);
}

void tls_received_ccert_info(const struct tls_conn *c, char *out, size_t len)
{
    if (c->peer_present)
        snprintf(out, len, "(Client CN \"%s\", Issuer \"%s\" (%s))",
                 c->peer_cn ? c->peer_cn : "", c->issuer_cn ? c->issuer_cn : "",
                 c->peer_trusted ? "verified OK" : "not verified");
    else if (c->ask_ccert)
        str_copy(out, "(Client did not present a certificate)", len);
    else
        str_copy(out, "(No client certificate requested)", len);
}

void tls_log_established(const struct tls_conn *c, const char *namaddr)
{
    const char *trust = !c->peer_present   ? "Anonymous"
                        : c->peer_verified && !c->is_server ? "Verified"
                        : c->peer_trusted  ? "Trusted"
                                           : "Untrusted";
    struct buf b;
    buf_init(&b, 0);
    int alg = 0, bits = tls_conn_bits(c, &alg);
    params_text(c, &b);
    if (c->is_server)
        msg_info("%s TLS connection established from %s%s%s: %s with cipher %s (%d/%d bits)%s",
                 trust, namaddr ? namaddr : c->namaddr, c->sni ? " to " : "", c->sni ? c->sni : "",
                 tls_conn_protocol(c), tls_conn_cipher(c), bits, alg, buf_cstr(&b));
    else
        msg_info("%s TLS connection established to %s: %s with cipher %s (%d/%d bits)%s", trust,
                 namaddr ? namaddr : c->namaddr, tls_conn_protocol(c), tls_conn_cipher(c), bits,
                 alg, buf_cstr(&b));
    buf_free(&b);
}
