/*
 * tls_certs.c - keys and certificate chains for server and client
 * contexts, Postfix's way:
 *   PREFIX_tls_chain_files   files that, concatenated, hold key1, cert1,
 *                            [issuers1], key2, cert2, ... (one chain per
 *                            algorithm: RSA, ECDSA, Ed25519 ...)
 *   PREFIX_tls_cert_file + PREFIX_tls_key_file, dcert/dkey, eccert/eckey
 *                            the legacy per-algorithm pairs (the key may be
 *                            in the certificate file)
 *   tls_server_sni_maps values: base64 of the PEM (postmap -F) or a list
 *                            of files.
 * Every file is read with a size limit and every problem names the
 * parameter and the file. Encrypted keys are refused (no pass phrases).
 */
#include "lib-tls/tls_int.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

char *tls_read_pem(const char *path, const char *param, size_t *len, struct tls_report *r)
{
    char *data = read_file(path, TLS_FILE_MAX, len);
    if (!data) {
        if (errno == EFBIG)
            tls_report(r, 1, param, "%s %s: file too large (limit %d bytes)", param, path,
                       TLS_FILE_MAX);
        else
            tls_report(r, 1, param, "%s %s: %s", param, path, strerror(errno));
    }
    return data;
}

/* "RSA", "ECDSA" ...: at most one chain per algorithm. */
static const char *key_algorithm(const EVP_PKEY *k)
{
    switch (EVP_PKEY_get_base_id(k)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS: return "RSA";
    case EVP_PKEY_EC: return "ECDSA";
    case EVP_PKEY_DSA: return "DSA";
    case EVP_PKEY_ED25519: return "Ed25519";
    case EVP_PKEY_ED448: return "Ed448";
    default: return "other";
    }
}

static void time_text(const ASN1_TIME *t, char *buf, size_t len)
{
    struct tm tm;
    if (!t || !ASN1_TIME_to_tm(t, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm))
        str_copy(buf, "(unknown date)", len);
}

/* Validity warnings for a leaf certificate (expired: always; soon: yubin check). */
static void check_leaf(X509 *x, const char *label, const char *param, int server,
                       struct tls_report *r)
{
    char when[64];
    const ASN1_TIME *na = X509_get0_notAfter(x), *nb = X509_get0_notBefore(x);
    int pday = 0, psec = 0;
    if (X509_cmp_current_time(na) < 0) {
        time_text(na, when, sizeof(when));
        tls_report(r, 0, param, "%s: the certificate expired on %s", label, when);
    } else if (r->check && ASN1_TIME_diff(&pday, &psec, NULL, na) && pday < 30) {
        time_text(na, when, sizeof(when));
        tls_report(r, 0, param, "%s: the certificate expires on %s (in %d day%s)", label, when,
                   pday, pday == 1 ? "" : "s");
    }
    if (X509_cmp_current_time(nb) > 0) {
        time_text(nb, when, sizeof(when));
        tls_report(r, 0, param, "%s: the certificate is not valid before %s", label, when);
    }
    if (r->check && server && X509_check_purpose(x, X509_PURPOSE_SSL_SERVER, 0) != 1)
        tls_report(r, 0, param, "%s: the certificate is not usable by a TLS server (key usage "
                   "or extended key usage)", label);
    ERR_clear_error();
}

/*
 * One PEM object: a key or a certificate (*key / *cert set), or nothing
 * for parameters. 1 object, 0 end of data, -1 error (reported).
 */
static int pem_next(BIO *bio, const char *label, const char *param, EVP_PKEY **key, X509 **cert,
                    struct tls_report *r)
{
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    *key = NULL;
    *cert = NULL;
    ERR_set_mark();
    if (!PEM_read_bio(bio, &name, &header, &data, &len)) {
        unsigned long e = ERR_peek_last_error();
        ERR_pop_to_mark();
        if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
            return 0;
        tls_report(r, 1, param, "%s: malformed PEM data%s%s", label, e ? ": " : "",
                   e ? ERR_reason_error_string(e) : "");
        return -1;
    }
    ERR_pop_to_mark();
    int rc = 1;
    const unsigned char *p = data;
    size_t nlen = strlen(name);
    if (strcmp(name, "CERTIFICATE") == 0 || strcmp(name, "X509 CERTIFICATE") == 0 ||
        strcmp(name, "TRUSTED CERTIFICATE") == 0) {
        *cert = name[0] == 'T' ? d2i_X509_AUX(NULL, &p, len) : d2i_X509(NULL, &p, len);
        if (!*cert) {
            tls_report(r, 1, param, "%s: cannot decode a certificate", label);
            rc = -1;
        }
    } else if (nlen >= 11 && strcmp(name + nlen - 11, "PRIVATE KEY") == 0) {
        if (strstr(name, "ENCRYPTED") || (header && strstr(header, "ENCRYPTED"))) {
            tls_report(r, 1, param, "%s: the private key is encrypted; keys with a pass "
                       "phrase are not supported", label);
            rc = -1;
        } else {
            *key = d2i_AutoPrivateKey(NULL, &p, len);
            if (!*key) {
                tls_report(r, 1, param, "%s: cannot decode the private key (%s)", label, name);
                rc = -1;
            }
        }
    } else if (nlen >= 10 && strcmp(name + nlen - 10, "PARAMETERS") == 0) {
        rc = 1;   /* "EC PARAMETERS" before an EC key, DH parameters: not ours */
    } else {
        tls_report(r, 1, param, "%s: unexpected PEM object \"%s\"", label, name);
        rc = -1;
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    ERR_clear_error();
    return rc;
}

/* A chain being assembled: key, leaf, issuers. */
struct chain {
    SSL_CTX *ctx;
    const char *param;
    struct tls_report *r;
    int server;
    EVP_PKEY *key;
    char *key_label;
    X509 *leaf;
    char *leaf_label;
    STACK_OF(X509) *issuers;
    const char *seen[8];
    int nseen;
    int loaded;
};

static void chain_reset(struct chain *ch)
{
    EVP_PKEY_free(ch->key);
    X509_free(ch->leaf);
    sk_X509_pop_free(ch->issuers, X509_free);
    free(ch->key_label);
    free(ch->leaf_label);
    ch->key = NULL;
    ch->leaf = NULL;
    ch->issuers = NULL;
    ch->key_label = ch->leaf_label = NULL;
}

/* Install the chain collected so far (if any). */
static int chain_finish(struct chain *ch)
{
    int rc = 0;
    if (!ch->key && !ch->leaf)
        return 0;
    if (!ch->leaf) {
        tls_report(ch->r, 1, ch->param, "%s: the private key is not followed by its "
                   "certificate", ch->key_label);
        rc = -1;
    } else if (!ch->key) {
        tls_report(ch->r, 1, ch->param, "%s: certificate without a private key before it",
                   ch->leaf_label);
        rc = -1;
    } else if (X509_check_private_key(ch->leaf, ch->key) != 1) {
        if (strcmp(ch->leaf_label, ch->key_label) == 0)
            tls_report(ch->r, 1, ch->param, "%s: the private key does not match the certificate",
                       ch->leaf_label);
        else
            tls_report(ch->r, 1, ch->param, "%s: the private key (from %s) does not match the "
                       "certificate", ch->leaf_label, ch->key_label);
        rc = -1;
    } else {
        const char *alg = key_algorithm(ch->key);
        for (int i = 0; i < ch->nseen; i++)
            if (strcmp(ch->seen[i], alg) == 0) {
                tls_report(ch->r, 1, ch->param, "%s: more than one %s key and certificate",
                           ch->key_label, alg);
                rc = -1;
            }
        if (rc == 0) {
            check_leaf(ch->leaf, ch->leaf_label, ch->param, ch->server, ch->r);
            ERR_clear_error();
            if (SSL_CTX_use_cert_and_key(ch->ctx, ch->leaf, ch->key, ch->issuers, 1) != 1) {
                unsigned long e = ERR_peek_last_error();
                tls_report(ch->r, 1, ch->param, "%s: cannot use this key and certificate: %s",
                           ch->leaf_label, e ? ERR_reason_error_string(e) : "unknown error");
                ERR_clear_error();
                rc = -1;
            } else {
                if (ch->nseen < (int)ARRAY_LEN(ch->seen))
                    ch->seen[ch->nseen++] = alg;
                ch->loaded++;
            }
        }
    }
    chain_reset(ch);
    return rc;
}

/* Feed one object to the chain state machine. Takes ownership. */
static int chain_add(struct chain *ch, const char *label, EVP_PKEY *key, X509 *cert)
{
    if (key) {
        if (chain_finish(ch) < 0) {
            EVP_PKEY_free(key);
            return -1;
        }
        ch->key = key;
        ch->key_label = xstrdup(label);
        return 0;
    }
    if (!cert)
        return 0;
    if (!ch->leaf) {
        if (!ch->key) {
            tls_report(ch->r, 1, ch->param, "%s: certificate without a private key before it "
                       "(each key must come immediately before its certificate)", label);
            X509_free(cert);
            return -1;
        }
        ch->leaf = cert;
        ch->leaf_label = xstrdup(label);
        return 0;
    }
    if (!ch->issuers)
        ch->issuers = sk_X509_new_null();
    if (!ch->issuers || !sk_X509_push(ch->issuers, cert))
        msg_fatal("out of memory");
    return 0;
}

static BIO *src_bio(const struct tls_pem_src *s)
{
    BIO *bio = BIO_new_mem_buf(s->data, (int)s->len);
    if (!bio)
        msg_fatal("BIO_new_mem_buf: out of memory");
    return bio;
}

int tls_load_chains(SSL_CTX *ctx, const struct tls_pem_src *src, size_t n, const char *param,
                    struct tls_report *r)
{
    struct chain ch = {.ctx = ctx, .param = param, .r = r,
                       .server = SSL_CTX_get_ssl_method(ctx) == TLS_server_method()};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        BIO *bio = src_bio(&src[i]);
        int objects = 0;
        for (;;) {
            EVP_PKEY *key;
            X509 *cert;
            int got = pem_next(bio, src[i].label, param, &key, &cert, r);
            if (got <= 0) {
                rc = got;
                break;
            }
            objects++;
            if (chain_add(&ch, src[i].label, key, cert) < 0) {
                rc = -1;
                break;
            }
        }
        BIO_free(bio);
        if (rc == 0 && objects == 0) {
            tls_report(r, 1, param, "%s: no PEM key or certificate found", src[i].label);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = chain_finish(&ch);
    chain_reset(&ch);
    if (rc == 0 && ch.loaded == 0) {
        tls_report(r, 1, param, "%s: no key and certificate found", n ? src[0].label : param);
        rc = -1;
    }
    return rc < 0 ? -1 : ch.loaded;
}

int tls_load_pair(SSL_CTX *ctx, const struct tls_pem_src *cert, const char *cert_param,
                  const struct tls_pem_src *key, const char *key_param, struct tls_report *r)
{
    struct chain ch = {.ctx = ctx, .param = cert_param, .r = r,
                       .server = SSL_CTX_get_ssl_method(ctx) == TLS_server_method()};
    int rc = 0;
    /* The first private key of the key file. */
    BIO *bio = src_bio(key);
    for (;;) {
        EVP_PKEY *k;
        X509 *x;
        int got = pem_next(bio, key->label, key_param, &k, &x, r);
        X509_free(x);
        if (got < 0)
            rc = -1;
        if (got <= 0)
            break;
        if (k) {
            ch.key = k;
            ch.key_label = xstrdup(key->label);
            break;
        }
    }
    BIO_free(bio);
    if (rc == 0 && !ch.key) {
        tls_report(r, 1, key_param, "%s: no private key found", key->label);
        rc = -1;
    }
    /* Leaf and issuers from the certificate file. */
    bio = src_bio(cert);
    while (rc == 0) {
        EVP_PKEY *k;
        X509 *x;
        int got = pem_next(bio, cert->label, cert_param, &k, &x, r);
        EVP_PKEY_free(k);
        if (got < 0)
            rc = -1;
        if (got <= 0)
            break;
        if (x && chain_add(&ch, cert->label, NULL, x) < 0)
            rc = -1;
    }
    BIO_free(bio);
    if (rc == 0 && !ch.leaf) {
        tls_report(r, 1, cert_param, "%s: no certificate found", cert->label);
        rc = -1;
    }
    if (rc == 0)
        rc = chain_finish(&ch);
    chain_reset(&ch);
    return rc;
}

/* Read and load one legacy pair; 1 loaded, 0 not configured, -1 error. */
static int load_legacy(SSL_CTX *ctx, const struct config *cfg, const char *prefix,
                       const char *cert_name, const char *key_name, struct tls_report *r)
{
    char cparam[64], kparam[64];
    str_fmt(cparam, sizeof(cparam), "%s_tls_%s", prefix, cert_name);
    str_fmt(kparam, sizeof(kparam), "%s_tls_%s", prefix, key_name);
    const char *cfile = cfg_get_by_name(cfg, TLS_PARAM(cparam));
    const char *kfile = cfg_get_by_name(cfg, TLS_PARAM(kparam));
    if (!cfile || !*cfile || strcmp(cfile, "none") == 0)
        return 0;
    if (!kfile || !*kfile)
        kfile = cfile;
    size_t clen, klen;
    char *cdata = tls_read_pem(cfile, cparam, &clen, r);
    if (!cdata)
        return -1;
    char *kdata = strcmp(kfile, cfile) == 0 ? cdata : tls_read_pem(kfile, kparam, &klen, r);
    if (!kdata) {
        free(cdata);
        return -1;
    }
    if (kdata == cdata)
        klen = clen;
    char *clabel = xasprintf("%s %s", cparam, cfile);
    char *klabel = xasprintf("%s %s", kparam, kfile);
    struct tls_pem_src cs = {clabel, cdata, clen}, ks = {klabel, kdata, klen};
    int rc = tls_load_pair(ctx, &cs, cparam, &ks, kparam, r);
    if (kdata != cdata) {
        OPENSSL_cleanse(kdata, klen);
        free(kdata);
    }
    OPENSSL_cleanse(cdata, clen);
    free(cdata);
    free(clabel);
    free(klabel);
    return rc < 0 ? -1 : 1;
}

int tls_load_configured_certs(SSL_CTX *ctx, const struct config *cfg, const char *prefix,
                              struct tls_report *r)
{
    char param[64];
    str_fmt(param, sizeof(param), "%s_tls_chain_files", prefix);
    char **files = cfg_get_list_by_name(cfg, TLS_PARAM(param));
    if (!files[0]) {
        strv_free(files);
        int total = 0;
        static const char *const pairs[][2] = {
            {"cert_file", "key_file"}, {"dcert_file", "dkey_file"}, {"eccert_file", "eckey_file"}};
        for (size_t i = 0; i < ARRAY_LEN(pairs); i++) {
            int n = load_legacy(ctx, cfg, prefix, pairs[i][0], pairs[i][1], r);
            if (n < 0)
                return -1;
            total += n;
        }
        return total;
    }
    static const char *const legacy[] = {"cert_file", "dcert_file", "eccert_file"};
    for (size_t i = 0; i < ARRAY_LEN(legacy); i++) {
        char lp[64];
        str_fmt(lp, sizeof(lp), "%s_tls_%s", prefix, legacy[i]);
        const char *v = cfg_get_by_name(cfg, TLS_PARAM(lp));
        if (v && *v)
            tls_report(r, 0, lp, "%s is set: ignoring the legacy %s", param, lp);
    }
    size_t n = strv_len(files);
    struct tls_pem_src *src = xcalloc(n, sizeof(*src));
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        src[i].label = xasprintf("%s %s", param, files[i]);
        char *data = tls_read_pem(files[i], param, &src[i].len, r);
        if (!data) {
            rc = -1;
            break;
        }
        src[i].data = data;
    }
    if (rc == 0)
        rc = tls_load_chains(ctx, src, n, param, r);
    for (size_t i = 0; i < n; i++) {
        if (src[i].data) {
            OPENSSL_cleanse((void *)src[i].data, src[i].len);
            free((void *)src[i].data);
        }
        free((void *)src[i].label);
    }
    free(src);
    strv_free(files);
    return rc;
}

/* Strict base64 (postmap -F values have no line breaks). */
static int b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    if (inlen == 0 || inlen % 4 != 0)
        return -1;
    unsigned char *buf = xmalloc(inlen / 4 * 3 + 1);
    int n = EVP_DecodeBlock(buf, (const unsigned char *)in, (int)inlen);
    if (n < 0) {
        free(buf);
        return -1;
    }
    /* EVP_DecodeBlock counts the bytes that padding stands for. */
    size_t len = (size_t)n;
    if (in[inlen - 1] == '=')
        len--;
    if (in[inlen - 2] == '=')
        len--;
    buf[len] = '\0';
    *out = buf;
    *outlen = len;
    return 0;
}

int tls_sni_value_pem(const char *value, const char *what, char **pem, size_t *len,
                      struct tls_report *r)
{
    static const char param[] = "tls_server_sni_maps";
    const char *v = value;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t' || v[vlen - 1] == '\n'))
        vlen--;
    *pem = NULL;
    *len = 0;
    if (vlen == 0) {
        tls_report(r, 1, param, "%s: empty value", what);
        return -1;
    }
    /* An indexed table built with "yubin map -F" (or SQL etc.): base64 of the PEM. */
    if (v[0] != '/' && strcspn(v, " \t,") >= vlen) {
        unsigned char *dec;
        size_t dlen;
        if (b64_decode(v, vlen, &dec, &dlen) == 0) {
            if (memmem(dec, dlen, "-----BEGIN", 10)) {
                *pem = (char *)dec;
                *len = dlen;
                return 0;
            }
            OPENSSL_cleanse(dec, dlen);
            free(dec);
        }
    }
    /* Otherwise a list of files (inline:, texthash:, regexp: ... tables). */
    char *copy = xstrndup(v, vlen);
    char **files = str_split_list(copy, NULL);
    free(copy);
    struct buf all;
    buf_init(&all, 0);
    int rc = 0;
    for (size_t i = 0; files[i] && rc == 0; i++) {
        if (files[i][0] != '/') {
            tls_report(r, 1, param, "%s: \"%s\" is neither base64 PEM data (yubin map -F) nor "
                       "an absolute file name", what, files[i]);
            rc = -1;
            break;
        }
        size_t flen;
        char *data = tls_read_pem(files[i], param, &flen, r);
        if (!data) {
            rc = -1;
            break;
        }
        if (all.len + flen + 1 > TLS_FILE_MAX * 4) {
            tls_report(r, 1, param, "%s: the files are too large", what);
            rc = -1;
        } else {
            buf_append(&all, data, flen);
            buf_putc(&all, '\n');
        }
        OPENSSL_cleanse(data, flen);
        free(data);
    }
    strv_free(files);
    if (rc < 0) {
        if (all.data)
            OPENSSL_cleanse(all.data, all.len);
        buf_free(&all);
        return -1;
    }
    *len = all.len;
    *pem = xstrdup(buf_cstr(&all));
    OPENSSL_cleanse(all.data, all.len);
    buf_free(&all);
    return 0;
}
