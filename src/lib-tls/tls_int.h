/*
 * tls_int.h - private to the TLS module (tls*.c): the connection object,
 * settings shared by the server and client contexts, certificate loading,
 * and the reporter through which configuration problems reach either the
 * log (tls_server_new) or `yubin check` (tls_check_server).
 */
#ifndef YUBIN_TLS_INT_H
#define YUBIN_TLS_INT_H

#include "lib-tls/tls.h"
#include "lib-conf/config.h"
#include "lib/log.h"

#include <stdint.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define TLS_FILE_MAX   (1024 * 1024)   /* one PEM file (key, chain, CA bundle) */
#define TLS_NAME_MAX   256             /* CN, SNI, host names */
#define TLS_FPT_MAX    (EVP_MAX_MD_SIZE * 3 + 1)

/*
 * A parameter name lib-tls composes at run time from the role's prefix
 * ("smtpd", "smtp", "lmtp") and a suffix, for the *_by_name getters: it
 * must be a parameter of the table (checked in every build), so that a
 * misspelled suffix fails at the first use rather than reading nothing.
 */
#define TLS_PARAM(name) (INVARIANT(cfg_param_known(NULL, (name))), (name))

/* Where configuration problems go. */
struct tls_report {
    tls_check_fn fn;      /* NULL: warnings to msg_warn, first error to err */
    void *arg;
    int check;            /* yubin check: also expiry and usage warnings */
    int errors;
    char *err;
    size_t errlen;
};
void tls_report(struct tls_report *r, int is_error, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Protocol versions allowed by a Postfix protocol list. */
struct tls_protocols {
    int min, max;         /* SSL_CTX_set_min/max_proto_version (0: no bound) */
    uint64_t no_ops;      /* SSL_OP_NO_* for versions excluded in between */
};
int tls_parse_protocols(const char *value, const char *param, struct tls_protocols *p,
                        struct tls_report *r);
int tls_ctx_set_protocols(SSL_CTX *ctx, const struct tls_protocols *p);
int tls_ssl_set_protocols(SSL *ssl, const struct tls_protocols *p);

/* Cipher lists for a grade and exclusions (tls_set_ciphers in Postfix). */
struct tls_ciphers {
    char *list;           /* TLS <= 1.2 cipher string */
    char *suites;         /* TLS 1.3 ciphersuites */
};
/* grade_param: e.g. "smtpd_tls_mandatory_ciphers"; excl: NULL-terminated
 * parameter names; exclude_anull: certificates are needed. */
int tls_cipher_setup(const struct config *cfg, const char *grade_param,
                     const char *const *excl_params, int exclude_anull,
                     struct tls_ciphers *out, struct tls_report *r);
void tls_ciphers_free(struct tls_ciphers *c);

/* The digest of PARAM (smtpd_tls_fingerprint_digest ...), NULL + report if unknown. */
const EVP_MD *tls_digest(const struct config *cfg, const char *param, struct tls_report *r);

/* OpenSSL-wide setup, once. */
void tls_lib_init(void);
/* The SSL ex_data slot holding the struct tls_conn. */
extern int tls_conn_index;

/* Common context options (modes, renegotiation off, unexpected EOF = EOF). */
void tls_ctx_common(SSL_CTX *ctx);
/* CAfile/CApath (and the system CAs with tls_append_default_CA). send_names:
 * send the CAfile's subject names in CertificateRequest (server). */
int tls_ctx_load_cas(SSL_CTX *ctx, const struct config *cfg, const char *prefix,
                     int send_names, struct tls_report *r);
/* tls_eecdh_auto_curves: the supported ones, in order. */
void tls_ctx_set_curves(SSL_CTX *ctx, const struct config *cfg, struct tls_report *r);

/*
 * Certificate chains. A source is one PEM text (a file's contents or an
 * SNI table value) with a label for messages.
 */
struct tls_pem_src {
    const char *label;    /* "smtpd_tls_chain_files /etc/yubin/rsa.pem" */
    const char *data;
    size_t len;
};
/* smtpd_tls_chain_files semantics: the sources concatenated must be
 * key1, cert1, [chain1], key2, cert2, ... Returns the number of chains
 * loaded into ctx (>= 1), or -1 with a report naming the source. */
int tls_load_chains(SSL_CTX *ctx, const struct tls_pem_src *src, size_t n, const char *param,
                    struct tls_report *r);
/* Legacy pair: certificates (leaf first, then issuers) from cert, the first
 * private key of key. 0 or -1 + report. */
int tls_load_pair(SSL_CTX *ctx, const struct tls_pem_src *cert, const char *cert_param,
                  const struct tls_pem_src *key, const char *key_param, struct tls_report *r);
/* Read a PEM file for PARAM (bounded); NULL + report naming param and file. */
char *tls_read_pem(const char *path, const char *param, size_t *len, struct tls_report *r);
/* Load the server or client certificates configured under PREFIX ("smtpd",
 * "smtp"): PREFIX_tls_chain_files, else the cert/key, dcert/dkey and
 * eccert/eckey pairs. Returns the number of chains (0: none configured), -1 on errors. */
int tls_load_configured_certs(SSL_CTX *ctx, const struct config *cfg, const char *prefix,
                              struct tls_report *r);
/* Values of SNI tables: base64 PEM (postmap -F) or a list of files. *pem is
 * malloc'd. 0 or -1 + report (param: tls_server_sni_maps). */
int tls_sni_value_pem(const char *value, const char *what, char **pem, size_t *len,
                      struct tls_report *r);

/* Fingerprint "AB:CD:.." of DER bytes. */
void tls_fingerprint(const EVP_MD *md, const unsigned char *der, size_t len, char *out,
                     size_t outlen);

/* One connection. */
enum tls_conn_state { TLS_ST_HANDSHAKE, TLS_ST_OPEN, TLS_ST_CLOSING, TLS_ST_CLOSED,
                      TLS_ST_FAILED };

struct tls_conn {
    SSL *ssl;
    int fd;
    int is_server;
    enum tls_conn_state state;
    int loglevel;
    int fast_shutdown;
    char *namaddr;
    char err[256];

    /* verification while handshaking */
    int verify_depth;      /* Postfix depth: levels 0..depth allowed */
    int require_trusted;   /* fail the handshake on verification errors */
    int verify_err;        /* first X509_V_ERR_*, X509_V_OK if none */
    int verify_err_depth;
    int ask_ccert;         /* server: a client certificate was requested */

    /* client */
    enum tls_level level;
    char **match_names;    /* verify/secure: names the certificate must match */
    char **match_fpts;     /* fingerprint level */
    unsigned check_flags;  /* X509_CHECK_FLAG_* */

    /* results, after the handshake */
    const EVP_MD *fpt_md;
    int peer_present, peer_trusted, peer_verified;
    char *peer_cn, *issuer_cn, *peer_fpt, *peer_pkey_fpt;
    char *sni;             /* server: matched SNI name */
};

struct tls_conn *tls_conn_new(SSL_CTX *ctx, int fd, int is_server, const char *namaddr);
int tls_verify_cb(int ok, X509_STORE_CTX *xs);
/* OpenSSL's info callback for loglevel >= 2. */
void tls_info_cb(const SSL *ssl, int where, int ret);
/* Client side: after the handshake, match the level's names/fingerprints. */
int tls_client_check_peer(struct tls_conn *c);

/* Tests only: pretend the ticket keys were made `seconds` earlier. */
void tls_server_age_tickets(struct tls_server *s, long long seconds);

#endif
