/*
 * Unit tests for the TLS module (tls.h): Postfix protocol and cipher
 * syntax, server contexts from smtpd_tls_* parameters (chain files, legacy
 * pairs, bad files), real handshakes over a non-blocking socketpair driven
 * by a small poll loop (protocol limits, cipher grades, RSA/ECDSA chain
 * choice by signature algorithms, SNI from inline:, texthash: and
 * "yubin map -F" tables, client certificates and fingerprints, session
 * tickets, garbage input), the client side (levels may .. secure,
 * fingerprint), Postfix's log and Received: texts, and `yubin check`.
 * Keys and certificates are made here with the OpenSSL API.
 */
#include "t.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-table/table.h"
#include "lib-tls/tls.h"
#include "lib-tls/tls_int.h"
#include "lib/util.h"

#include <errno.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static char dir[256];
static char logpath[512];
static char err[1024];

/* Formatted text in one of a few rotating static buffers (no leaks in tests). */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char b[8][2048];
    static int i;
    i = (i + 1) % 8;
    va_list ap;
    va_start(ap, f);
    vsnprintf(b[i], sizeof(b[i]), f, ap);
    va_end(ap);
    return b[i];
}

static const char *path(const char *name)
{
    static char p[16][512];
    static int i;
    i = (i + 1) % 16;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

/* ------------------------------------------------------------------ */
/* logs                                                                */

static char *log_text(void)
{
    size_t len;
    char *t = read_file(logpath, 16 * 1024 * 1024, &len);
    return t ? t : xstrdup("");
}

static int log_has(const char *needle)
{
    char *t = log_text();
    int r = strstr(t, needle) != NULL;
    if (!r)
        fprintf(stderr, "log has no \"%s\"; log:\n%s\n", needle, t);
    free(t);
    return r;
}

static void log_clear(void)
{
    if (getenv("YUBIN_TEST_KEEP"))
        return;
    if (truncate(logpath, 0) < 0)
        perror("truncate");
}

/* ------------------------------------------------------------------ */
/* keys and certificates                                               */

static EVP_PKEY *rsa_key, *ec_key, *ec_key2, *ca_key, *client_key, *sni_key;
static X509 *ca_cert;
static long serial = 1;

static void add_ext(X509 *x, X509V3_CTX *v3, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, v3, nid, value);
    if (!e || !X509_add_ext(x, e, -1)) {
        fprintf(stderr, "extension %d=%s failed\n", nid, value);
        exit(1);
    }
    X509_EXTENSION_free(e);
}

struct cert_opts {
    const char *cn;
    const char *san;        /* "DNS:a,DNS:b" */
    X509 *issuer;           /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    int ca;
    long from_days, to_days;
    const char *eku;        /* extendedKeyUsage */
};

static X509 *make_cert(EVP_PKEY *key, const struct cert_opts *o)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), o->from_days * 86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), (o->to_days ? o->to_days : 365) * 86400L);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)o->cn, -1, -1, 0);
    X509_set_issuer_name(x, o->issuer ? X509_get_subject_name(o->issuer) : n);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, o->issuer ? o->issuer : x, x, NULL, NULL, 0);
    add_ext(x, &v3, NID_basic_constraints, o->ca ? "critical,CA:TRUE" : "CA:FALSE");
    add_ext(x, &v3, NID_subject_key_identifier, "hash");
    if (o->ca)
        add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (o->san)
        add_ext(x, &v3, NID_subject_alt_name, o->san);
    if (o->eku)
        add_ext(x, &v3, NID_ext_key_usage, o->eku);
    if (!X509_sign(x, o->issuer_key ? o->issuer_key : key, EVP_sha256())) {
        fprintf(stderr, "X509_sign failed\n");
        exit(1);
    }
    return x;
}

/* Write key (optional) then certs (NULL-terminated) to dir/name. */
static const char *write_pem(const char *name, EVP_PKEY *key, X509 *c1, X509 *c2)
{
    const char *p = path(name);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(1);
    }
    if (key)
        PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    if (c1)
        PEM_write_X509(f, c1);
    if (c2)
        PEM_write_X509(f, c2);
    fclose(f);
    return p;
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (!f) {
        perror(name);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static char *pem_text(EVP_PKEY *key, X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    if (key)
        PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    if (cert)
        PEM_write_bio_X509(b, cert);
    char *data;
    long n = BIO_get_mem_data(b, &data);
    char *out = xstrndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

/* Fingerprint as Postfix prints it, computed independently. */
static void cert_fpt(X509 *x, const EVP_MD *md, char *out, size_t len)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n;
    X509_digest(x, md, d, &n);
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++) {
        char h[4];
        snprintf(h, sizeof(h), "%s%02X", i ? ":" : "", d[i]);
        strncat(out, h, len - strlen(out) - 1);
    }
}

/* Fixed material: an RSA and an ECDSA server chain, a CA and a client. */
static X509 *rsa_cert, *ec_cert, *ca_signed_server, *client_cert, *selfsigned_client;
static const char *rsa_pem, *ec_pem, *ca_pem, *client_pem, *casrv_pem;

static void make_material(void)
{
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ec_key2 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    client_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    sni_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa_key || !ec_key || !ec_key2 || !ca_key || !client_key || !sni_key) {
        fprintf(stderr, "key generation failed\n");
        exit(1);
    }
    rsa_cert = make_cert(rsa_key, &(struct cert_opts){.cn = "mail.test", .san = "DNS:mail.test"});
    ec_cert = make_cert(ec_key, &(struct cert_opts){.cn = "mail.test", .san = "DNS:mail.test"});
    ca_cert = make_cert(ca_key, &(struct cert_opts){.cn = "Test CA", .ca = 1, .to_days = 3650});
    ca_signed_server = make_cert(ec_key2, &(struct cert_opts){
        .cn = "mx.example.com", .san = "DNS:mx.example.com,DNS:*.w.example.com",
        .issuer = ca_cert, .issuer_key = ca_key, .eku = "serverAuth"});
    client_cert = make_cert(client_key, &(struct cert_opts){
        .cn = "client.test", .issuer = ca_cert, .issuer_key = ca_key, .eku = "clientAuth"});
    selfsigned_client = make_cert(client_key, &(struct cert_opts){.cn = "self.test"});
    static char paths[6][512];
    rsa_pem = paths[0], ec_pem = paths[1], ca_pem = paths[2];
    client_pem = paths[3], casrv_pem = paths[5];
    str_copy(paths[0], write_pem("rsa.pem", rsa_key, rsa_cert, NULL), 512);
    str_copy(paths[1], write_pem("ec.pem", ec_key, ec_cert, NULL), 512);
    str_copy(paths[2], write_pem("ca.pem", NULL, ca_cert, NULL), 512);
    str_copy(paths[3], write_pem("client.pem", client_key, client_cert, NULL), 512);
    str_copy(paths[4], write_pem("selfclient.pem", client_key, selfsigned_client, NULL), 512);
    str_copy(paths[5], write_pem("casrv.pem", ec_key2, ca_signed_server, ca_cert), 512);
}

/* ------------------------------------------------------------------ */
/* configurations                                                      */

static struct config *mkcfg(const char *const *kv)
{
    struct config *c = config_defaults(dir);
    for (size_t i = 0; kv && kv[i]; i += 2)
        cfg_set(c, kv[i], kv[i + 1]);
    return c;
}

/* A server from name/value pairs; NULL-terminated. Fails the test if it does not build. */
static struct tls_server *server(const char *const *kv)
{
    struct config *c = mkcfg(kv);
    struct tls_server *s = tls_server_new(c, err, sizeof(err));
    if (!s)
        fprintf(stderr, "tls_server_new: %s\n", err);
    config_free(c);
    return s;
}

/* The error tls_server_new gives (and NULL from it), or NULL if it built. */
static const char *server_error(const char *const *kv)
{
    struct config *c = mkcfg(kv);
    struct tls_server *s = tls_server_new(c, err, sizeof(err));
    config_free(c);
    if (s) {
        tls_server_free(s);
        return NULL;
    }
    return err;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ------------------------------------------------------------------ */
/* driving both ends over a socketpair                                 */

struct side {
    struct tls_conn *tc;  /* ours */
    SSL *raw;             /* or a plain OpenSSL peer */
    int fd;
    int state;            /* 0 running, 1 done, -1 failed */
    int want;
};

static void side_step(struct side *s)
{
    if (s->state)
        return;
    if (s->tc) {
        int r = tls_handshake(s->tc);
        if (r == TLS_OK)
            s->state = 1;
        else if (r == TLS_ERROR)
            s->state = -1;
        else
            s->want = r;
        return;
    }
    ERR_clear_error();
    int r = SSL_do_handshake(s->raw);
    if (r == 1) {
        s->state = 1;
        return;
    }
    int e = SSL_get_error(s->raw, r);
    if (e == SSL_ERROR_WANT_READ)
        s->want = TLS_WANT_READ;
    else if (e == SSL_ERROR_WANT_WRITE)
        s->want = TLS_WANT_WRITE;
    else
        s->state = -1;
    ERR_clear_error();
}

/* Run both handshakes until each is done or failed. 0 if both succeeded. */
static int run(struct side *a, struct side *b)
{
    for (int iter = 0; iter < 10000; iter++) {
        side_step(a);
        side_step(b);
        struct side *v[2] = {a, b};
        for (int i = 0; i < 2; i++)
            if (v[i]->state < 0 && v[i]->fd >= 0) {
                shutdown(v[i]->fd, SHUT_RDWR);   /* let the other end see EOF */
            }
        if (a->state && b->state)
            break;
        struct pollfd p[2];
        int n = 0;
        for (int i = 0; i < 2; i++)
            if (!v[i]->state)
                p[n++] = (struct pollfd){.fd = v[i]->fd,
                                         .events = v[i]->want == TLS_WANT_WRITE ? POLLOUT : POLLIN};
        if (poll(p, (nfds_t)n, 3000) == 0) {
            fprintf(stderr, "handshake stuck\n");
            return -3;
        }
    }
    return a->state == 1 && b->state == 1 ? 0 : -1;
}

static int pair[2];

static void new_pair(void)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0) {
        perror("socketpair");
        exit(1);
    }
    fd_set_nonblock(pair[0], 1);
    fd_set_nonblock(pair[1], 1);
}

static void close_pair(void)
{
    close(pair[0]);
    close(pair[1]);
}

/* A plain OpenSSL client. */
struct raw_opts {
    int min, max;              /* protocol bounds, 0: default */
    int seclevel0;
    const char *sigalgs;
    const char *ciphers;       /* TLS <= 1.2 */
    const char *suites;        /* TLS 1.3 */
    const char *sni;
    EVP_PKEY *key;             /* client certificate */
    X509 *cert;
    SSL_SESSION *session;      /* resume */
};

static SSL *raw_client(int fd, const struct raw_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (o->seclevel0)
        SSL_CTX_set_security_level(ctx, 0);
    if (o->min)
        SSL_CTX_set_min_proto_version(ctx, o->min);
    if (o->max)
        SSL_CTX_set_max_proto_version(ctx, o->max);
    if (o->ciphers && !SSL_CTX_set_cipher_list(ctx, o->ciphers))
        fprintf(stderr, "bad test cipher list %s\n", o->ciphers);
    if (o->suites)
        SSL_CTX_set_ciphersuites(ctx, o->suites);
    if (o->sigalgs && !SSL_CTX_set1_sigalgs_list(ctx, o->sigalgs))
        fprintf(stderr, "bad test sigalgs %s\n", o->sigalgs);
    if (o->cert) {
        SSL_CTX_use_certificate(ctx, o->cert);
        SSL_CTX_use_PrivateKey(ctx, o->key);
    }
    /* No client cache: freeing a context flushes its cache, and OpenSSL
     * marks flushed sessions as not resumable. SSL_get1_session still works. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL *ssl = SSL_new(ctx);
    SSL_CTX_free(ctx);   /* the SSL holds a reference */
    SSL_set_fd(ssl, fd);
    if (o->sni)
        SSL_set_tlsext_host_name(ssl, o->sni);
    if (o->session)
        SSL_set_session(ssl, o->session);
    SSL_set_connect_state(ssl);
    ERR_clear_error();
    return ssl;
}

/* One connection of a raw client to server s; the conns are returned for inspection. */
struct hs {
    struct side srv, cli;
    int rc;
};

static struct hs handshake_raw(struct tls_server *s, const struct raw_opts *o)
{
    struct hs h;
    memset(&h, 0, sizeof(h));
    new_pair();
    h.srv.tc = tls_accept(s, pair[0], "client.test[127.0.0.1]");
    h.srv.fd = pair[0];
    h.cli.raw = raw_client(pair[1], o);
    h.cli.fd = pair[1];
    h.rc = run(&h.srv, &h.cli);
    return h;
}

static void hs_free(struct hs *h)
{
    if (h->cli.raw && h->cli.state == 1) {
        SSL_shutdown(h->cli.raw);
    }
    tls_free(h->srv.tc);
    tls_free(h->cli.tc);
    SSL_free(h->cli.raw);
    close_pair();
}

/* Move len bytes from one end to the other with non-blocking I/O. */
static int raw_read_all(SSL *ssl, int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        if (SSL_read_ex(ssl, buf + got, len - got, &n) == 1) {
            got += n;
            continue;
        }
        int e = SSL_get_error(ssl, 0);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            return -1;
        struct pollfd p = {.fd = fd, .events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT};
        if (poll(&p, 1, 3000) == 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* tests: syntax                                                       */

static int quiet_errors;
static void collect(void *arg, int is_error, const char *param, const char *text)
{
    struct buf *b = arg;
    buf_printf(b, "%s|%s|%s\n", is_error ? "E" : "W", param, text);
    if (is_error)
        quiet_errors++;
}

static int protos(const char *v, struct tls_protocols *p, struct buf *out)
{
    struct tls_report r = {.fn = collect, .arg = out};
    buf_reset(out);
    return tls_parse_protocols(v, "smtpd_tls_protocols", p, &r);
}

static void test_protocol_syntax(void)
{
    struct tls_protocols p;
    struct buf out;
    buf_init(&out, 0);
    CHECK_INT(protos(">=TLSv1", &p, &out), 0);
    CHECK_INT(p.min, TLS1_VERSION);
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK_INT(p.no_ops, 0);
    CHECK_INT(protos("", &p, &out), 0);
    CHECK_INT(p.min, TLS1_VERSION);
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK_INT(protos("!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", &p, &out), 0);
    CHECK_INT(p.min, TLS1_2_VERSION);
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK_INT(protos(">=TLSv1.2, <=TLSv1.3", &p, &out), 0);
    CHECK_INT(p.min, TLS1_2_VERSION);
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK_INT(protos("<=TLSv1.2", &p, &out), 0);
    CHECK_INT(p.max, TLS1_2_VERSION);
    CHECK_INT(protos("TLSv1.2", &p, &out), 0);   /* inclusion list */
    CHECK_INT(p.min, TLS1_2_VERSION);
    CHECK_INT(p.max, TLS1_2_VERSION);
    CHECK_INT(protos("TLSv1:TLSv1.3", &p, &out), 0);   /* colons separate too; a hole */
    CHECK_INT(p.min, TLS1_VERSION);
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK_INT(p.no_ops, SSL_OP_NO_TLSv1_1 | SSL_OP_NO_TLSv1_2);
    CHECK_INT(protos(">=TLSv1 !TLSv1.2", &p, &out), 0);   /* mixed syntax */
    CHECK_INT(p.no_ops, SSL_OP_NO_TLSv1_2);
    CHECK_INT(protos(">=0x0303", &p, &out), 0);
    CHECK_INT(p.min, TLS1_2_VERSION);
    CHECK_INT(protos(">=303", &p, &out), 0);
    CHECK_INT(p.min, TLS1_2_VERSION);
    CHECK_INT(protos(">=TLSv1.2, <=0305", &p, &out), 0);   /* unknown to OpenSSL: warning */
    CHECK_INT(p.max, TLS1_3_VERSION);
    CHECK(strstr(buf_cstr(&out), "W|smtpd_tls_protocols|") != NULL);
    CHECK_INT(protos("tlsv1.3", &p, &out), 0);   /* case-insensitive like Postfix */
    CHECK_INT(p.min, TLS1_3_VERSION);
    /* errors */
    CHECK_INT(protos("TLSv9", &p, &out), -1);
    CHECK(strstr(buf_cstr(&out), "E|smtpd_tls_protocols|invalid smtpd_tls_protocols value: "
                                 "unknown protocol \"TLSv9\"") != NULL);
    CHECK_INT(protos(">=", &p, &out), -1);
    CHECK_INT(protos(">TLSv1.2", &p, &out), -1);
    CHECK_INT(protos(">= TLSv1.2", &p, &out), -1);   /* no space allowed after >= */
    CHECK_INT(protos("=>TLSv1.2", &p, &out), -1);
    CHECK_INT(protos(">=zz", &p, &out), -1);
    CHECK_INT(protos(">=0x12345", &p, &out), -1);
    CHECK_INT(protos("!TLSv1.2 !TLSv1.3 <=TLSv1.1 >=TLSv1.2", &p, &out), -1);
    CHECK(strstr(buf_cstr(&out), "leaves no TLS protocol") != NULL);
    CHECK_INT(protos("SSLv3", &p, &out), -1);   /* SSLv3 only: nothing OpenSSL 3 can do */
    CHECK_INT(protos("!!TLSv1", &p, &out), -1);
    buf_free(&out);
}

static void test_cipher_syntax(void)
{
    struct buf out;
    buf_init(&out, 0);
    struct tls_report r = {.fn = collect, .arg = &out};
    struct tls_ciphers c;
    struct config *cfg = mkcfg(KV("smtpd_tls_exclude_ciphers", "MD5, DES+MD5 TLS_AES_256_GCM_SHA384",
                                  "smtpd_tls_mandatory_exclude_ciphers", "kEDH+aRSA"));
    const char *ex[] = {"smtpd_tls_exclude_ciphers", "smtpd_tls_mandatory_exclude_ciphers", NULL};
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", ex, 1, &c, &r), 0);
    CHECK_STR(c.list, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:!MD5:!DES+MD5:!kEDH+aRSA:!aNULL");
    CHECK_STR(c.suites, "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
    tls_ciphers_free(&c);
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", NULL, 0, &c, &r), 0);
    CHECK_STR(c.list, "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH");
    CHECK_STR(c.suites, "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256");
    tls_ciphers_free(&c);
    cfg_set(cfg, "smtpd_tls_ciphers", "HIGH");   /* grade names are case-insensitive */
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", NULL, 0, &c, &r), 0);
    CHECK_STR(c.list, "aNULL:-aNULL:HIGH:@STRENGTH");
    tls_ciphers_free(&c);
    cfg_set(cfg, "tls_high_cipherlist", "HIGH:!aNULL");
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", NULL, 0, &c, &r), 0);
    CHECK_STR(c.list, "HIGH:!aNULL");
    tls_ciphers_free(&c);
    cfg_set(cfg, "smtpd_tls_ciphers", "super");
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", NULL, 0, &c, &r), -1);
    CHECK(strstr(buf_cstr(&out), "E|smtpd_tls_ciphers|invalid smtpd_tls_ciphers value: \"super\"") != NULL);
    cfg_set(cfg, "smtpd_tls_ciphers", "medium");
    cfg_set(cfg, "smtpd_tls_exclude_ciphers", "AES:!x");
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", ex, 0, &c, &r), -1);
    CHECK(strstr(buf_cstr(&out), "invalid smtpd_tls_exclude_ciphers element: \"AES:!x\"") != NULL);
    cfg_set(cfg, "smtpd_tls_exclude_ciphers", "+AES");
    CHECK_INT(tls_cipher_setup(cfg, "smtpd_tls_ciphers", ex, 0, &c, &r), -1);
    config_free(cfg);
    buf_free(&out);
}

static void test_policy(void)
{
    struct tls_smtpd_policy p;
    struct config *c = mkcfg(NULL);
    CHECK_INT(tls_smtpd_policy(c, &p, err, sizeof(err)), 0);
    CHECK_INT(p.level, TLS_LEV_NONE);
    CHECK_INT(p.wrappermode, 0);
    CHECK_INT(p.starttls_timeout_ms, 300000);
    CHECK_INT(p.loglevel, 0);
    cfg_set(c, "smtpd_use_tls", "yes");
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_MAY);
    CHECK_INT(p.auth_only, 0);
    cfg_set(c, "smtpd_enforce_tls", "yes");
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_ENCRYPT);
    CHECK_INT(p.auth_only, 1);
    cfg_set(c, "smtpd_tls_security_level", "may");   /* overrides the obsolete ones */
    cfg_set(c, "smtpd_tls_req_ccert", "yes");
    log_clear();
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_MAY);
    CHECK_INT(p.require_ccert, 0);   /* ignored with a warning */
    CHECK_INT(p.ask_ccert, 0);
    CHECK(log_has("smtpd_tls_req_ccert = yes requires smtpd_tls_security_level = encrypt"));
    cfg_set(c, "smtpd_tls_security_level", "ENCRYPT");
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_ENCRYPT);
    CHECK_INT(p.require_ccert, 1);
    CHECK_INT(p.ask_ccert, 1);
    cfg_set(c, "smtpd_tls_security_level", "verify");
    log_clear();
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_ENCRYPT);
    CHECK(log_has("smtpd_tls_security_level = verify is not supported by the SMTP server: "
                  "using \"encrypt\""));
    cfg_set(c, "smtpd_tls_security_level", "none");
    cfg_set(c, "smtpd_tls_wrappermode", "yes");
    cfg_set(c, "smtpd_starttls_timeout", "20s");
    cfg_set(c, "smtpd_tls_received_header", "yes");
    cfg_set(c, "smtpd_tls_loglevel", "2");
    tls_smtpd_policy(c, &p, err, sizeof(err));
    CHECK_INT(p.level, TLS_LEV_ENCRYPT);
    CHECK_INT(p.wrappermode, 1);
    CHECK_INT(p.starttls_timeout_ms, 20000);
    CHECK_INT(p.received_header, 1);
    CHECK_INT(p.loglevel, 2);
    cfg_set(c, "smtpd_tls_security_level", "sometimes");
    CHECK_INT(tls_smtpd_policy(c, &p, err, sizeof(err)), -1);
    CHECK_STR(err, "invalid smtpd_tls_security_level value: \"sometimes\" (use none, may or encrypt)");
    config_free(c);
    /* client levels */
    c = mkcfg(NULL);
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_NONE);
    cfg_set(c, "smtp_use_tls", "yes");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_MAY);
    cfg_set(c, "smtp_enforce_tls", "yes");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_VERIFY);
    cfg_set(c, "smtp_tls_enforce_peername", "no");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_ENCRYPT);
    cfg_set(c, "smtp_tls_security_level", "secure");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_SECURE);
    cfg_set(c, "smtp_tls_security_level", "dane");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), TLS_LEV_MAY);
    cfg_set(c, "smtp_tls_security_level", "dane-only");
    CHECK_INT(tls_client_level(c, "smtp", err, sizeof(err)), -1);
    CHECK(strstr(err, "DANE is not supported") != NULL);
    CHECK_STR(tls_level_name(TLS_LEV_FINGERPRINT), "fingerprint");
    CHECK_INT(tls_level_parse("Verify"), TLS_LEV_VERIFY);
    CHECK_INT(tls_level_parse("x"), -1);
    config_free(c);
}

/* ------------------------------------------------------------------ */
/* tests: building server contexts                                     */

static void test_server_files(void)
{
    const char *e;
    /* key in the certificate file (smtpd_tls_key_file defaults to $smtpd_tls_cert_file) */
    struct tls_server *s = server(KV("smtpd_tls_cert_file", rsa_pem));
    CHECK(s != NULL);
    tls_server_free(s);
    /* separate key file */
    const char *k = write_pem("k.pem", rsa_key, NULL, NULL);
    const char *c = write_pem("c.pem", NULL, rsa_cert, NULL);
    s = server(KV("smtpd_tls_cert_file", c, "smtpd_tls_key_file", k,
                  "smtpd_tls_eccert_file", ec_pem));
    CHECK(s != NULL);
    tls_server_free(s);

    e = server_error(KV("smtpd_tls_cert_file", c, "smtpd_tls_key_file", path("nokey.pem")));
    CHECK(e && strstr(e, "smtpd_tls_key_file ") && strstr(e, "nokey.pem: No such file or directory"));
    e = server_error(KV("smtpd_tls_cert_file", path("nocert.pem")));
    CHECK(e && strstr(e, "smtpd_tls_cert_file ") && strstr(e, "nocert.pem: No such file"));
    /* the key of another certificate */
    const char *k2 = write_pem("k2.pem", ec_key, NULL, NULL);
    const char *c2 = write_pem("c2.pem", NULL, ec_cert, NULL);
    e = server_error(KV("smtpd_tls_cert_file", c2, "smtpd_tls_key_file", path("k.pem")));
    CHECK(e && strstr(e, "does not match the certificate"));
    CHECK(e && strstr(e, "c2.pem: the private key (from smtpd_tls_key_file "));
    (void)k2;
    /* a certificate file without a key, key defaulting to it */
    e = server_error(KV("smtpd_tls_cert_file", c));
    CHECK(e && strstr(e, "c.pem: no private key found"));
    /* no certificates at all */
    e = server_error(KV("smtpd_tls_security_level", "may"));
    CHECK_STR(e, "no server certificate: set smtpd_tls_chain_files (or smtpd_tls_cert_file and "
                 "smtpd_tls_key_file)");
    /* garbage, empty, encrypted keys */
    write_text("garbage.pem", "hello world\n");
    e = server_error(KV("smtpd_tls_chain_files", path("garbage.pem")));
    CHECK(e && strstr(e, "garbage.pem: no PEM key or certificate found"));
    write_text("broken.pem", "-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n");
    e = server_error(KV("smtpd_tls_chain_files", path("broken.pem")));
    CHECK(e && strstr(e, "broken.pem: "));
    write_text("other.pem", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n");
    e = server_error(KV("smtpd_tls_chain_files", path("other.pem")));
    CHECK(e && strstr(e, "unexpected PEM object \"FOO\""));
    FILE *f = fopen(path("enc.pem"), "w");
    PEM_write_PrivateKey(f, rsa_key, EVP_aes_128_cbc(), (unsigned char *)"secret", 6, NULL, NULL);
    PEM_write_X509(f, rsa_cert);
    fclose(f);
    e = server_error(KV("smtpd_tls_chain_files", path("enc.pem")));
    CHECK(e && strstr(e, "the private key is encrypted"));
    /* chain files: order, duplicates */
    const char *bad_order = write_pem("order.pem", NULL, rsa_cert, NULL);
    e = server_error(KV("smtpd_tls_chain_files", bad_order));
    CHECK(e && strstr(e, "certificate without a private key before it"));
    e = server_error(KV("smtpd_tls_chain_files", k));
    CHECK(e && strstr(e, "the private key is not followed by its certificate"));
    char *twice = xasprintf("%s %s", rsa_pem, rsa_pem);
    e = server_error(KV("smtpd_tls_chain_files", twice));
    free(twice);
    CHECK(e && strstr(e, "more than one RSA key and certificate"));
    /* key file then certificate file: separate files concatenated */
    s = server(KV("smtpd_tls_chain_files", fmt("%s, %s", k, c)));
    CHECK(s != NULL);
    tls_server_free(s);
    /* chain files win over the legacy parameters, with a warning */
    log_clear();
    s = server(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_cert_file", path("nocert.pem")));
    CHECK(s != NULL);
    CHECK(log_has("smtpd_tls_chain_files is set: ignoring the legacy smtpd_tls_cert_file"));
    tls_server_free(s);
    /* settings */
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_protocols", "TLSv1.4"));
    CHECK(e && strstr(e, "invalid smtpd_tls_protocols value"));
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_fingerprint_digest", "sha999"));
    CHECK(e && strstr(e, "invalid smtpd_tls_fingerprint_digest value"));
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_CAfile", path("noca.pem")));
    CHECK(e && strstr(e, "smtpd_tls_CAfile ") && strstr(e, "noca.pem: No such file"));
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_CAfile", path("garbage.pem")));
    CHECK(e && strstr(e, "no CA certificates loaded"));
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_ciphers", "high",
                        "smtpd_tls_exclude_ciphers", "ALL"));
    CHECK(e && strstr(e, "no usable cipher"));
    /* accepted: DH file (or auto), session cache database, unknown curves dropped */
    const char *dh = path("notdh.pem");
    write_text("notdh.pem", "not dh\n");
    log_clear();
    s = server(KV("smtpd_tls_chain_files", ec_pem, "smtpd_tls_dh1024_param_file", dh,
                  "smtpd_tls_session_cache_database", "btree:/nonexistent/cache",
                  "tls_eecdh_auto_curves", "X25519 nosuchcurve prime256v1"));
    CHECK(s != NULL);
    CHECK(log_has("no DH parameters: using OpenSSL's automatic choice"));
    CHECK(log_has("ignoring unknown or unsupported curve \"nosuchcurve\""));
    tls_server_free(s);
    /* a real DH parameter file: DHE works with it */
    {
        EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        EVP_PKEY *params = NULL;
        CHECK(pc && EVP_PKEY_paramgen_init(pc) == 1 && EVP_PKEY_CTX_set_dh_nid(pc, NID_ffdhe2048) == 1 &&
              EVP_PKEY_paramgen(pc, &params) == 1);
        FILE *df = fopen(path("dh2048.pem"), "w");
        BIO *bio = BIO_new_fp(df, BIO_NOCLOSE);
        PEM_write_bio_Parameters(bio, params);
        BIO_free(bio);
        fclose(df);
        EVP_PKEY_free(params);
        EVP_PKEY_CTX_free(pc);
        s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_dh1024_param_file",
                      path("dh2048.pem")));
        CHECK(s != NULL);
        if (s) {
            new_pair();
            struct tls_conn *dc = tls_accept(s, pair[0], "x[127.0.0.1]");
            SSL *cli = raw_client(pair[1], &(struct raw_opts){.max = TLS1_2_VERSION,
                                                           .ciphers = "DHE-RSA-AES256-GCM-SHA384"});
            struct side a = {.tc = dc, .fd = pair[0]}, b = {.raw = cli, .fd = pair[1]};
            CHECK_INT(run(&a, &b), 0);
            CHECK_STR(tls_conn_cipher(dc), "DHE-RSA-AES256-GCM-SHA384");
            tls_free(dc);
            SSL_free(cli);
            close_pair();
            tls_server_free(s);
        }
    }
    s = server(KV("smtpd_tls_cert_file", "none"));   /* Postfix: explicitly certificate-less */
    CHECK(s != NULL);
    tls_server_free(s);
}

/* ------------------------------------------------------------------ */
/* tests: handshakes                                                   */

static void test_handshake_basic(void)
{
    struct tls_server *s = server(KV("smtpd_tls_cert_file", rsa_pem, "smtpd_tls_loglevel", "1"));
    if (!s)
        return;
    log_clear();
    struct hs h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.3");
    CHECK_STR(tls_conn_cipher(h.srv.tc), "TLS_AES_256_GCM_SHA384");
    int alg = 0;
    CHECK_INT(tls_conn_bits(h.srv.tc, &alg), 256);
    CHECK_INT(alg, 256);
    CHECK_INT(tls_conn_peer_present(h.srv.tc), 0);
    CHECK(tls_conn_peer_fingerprint(h.srv.tc) == NULL);
    CHECK(tls_conn_sni(h.srv.tc) == NULL);
    char info[512];
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) "
                    "key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)");
    tls_received_ccert_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(No client certificate requested)");
    CHECK(log_has("Anonymous TLS connection established from client.test[127.0.0.1]: TLSv1.3 "
                  "with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 "
                  "server-signature RSA-PSS (2048 bits) server-digest SHA256\n"));
    /* data both ways, larger than the socket buffers, with want handling */
    size_t big = 3 * 1024 * 1024 + 17;
    char *out = xmalloc(big), *in = xmalloc(big);
    for (size_t i = 0; i < big; i++)
        out[i] = (char)(i * 7 + 3);
    size_t sent = 0, got = 0;
    int want = 0, loops = 0;
    while ((sent < big || got < big) && loops++ < 100000) {
        if (sent < big) {
            ssize_t n = tls_write(h.srv.tc, out + sent, big - sent, &want);
            if (n > 0)
                sent += (size_t)n;
            else
                CHECK(want == TLS_WANT_WRITE || want == TLS_WANT_READ);
        }
        size_t n = 0;
        while (got < big && SSL_read_ex(h.cli.raw, in + got, big - got, &n) == 1)
            got += n;
    }
    CHECK_INT(got, big);
    CHECK(memcmp(in, out, big) == 0);
    /* client to server, several records; tls_pending shows buffered plaintext */
    const char msg[] = "EHLO client.test\r\nMAIL FROM:<a@b>\r\n";
    size_t w;
    CHECK_INT(SSL_write_ex(h.cli.raw, msg, sizeof(msg) - 1, &w), 1);
    char rb[8];
    ssize_t n;
    struct pollfd pfd = {.fd = pair[0], .events = POLLIN};
    poll(&pfd, 1, 3000);
    n = tls_read(h.srv.tc, rb, sizeof(rb), &want);
    CHECK_INT(n, 8);
    CHECK(memcmp(rb, "EHLO cli", 8) == 0);
    CHECK_INT(tls_pending(h.srv.tc), (int)sizeof(msg) - 1 - 8);
    char rest[64];
    n = tls_read(h.srv.tc, rest, sizeof(rest), &want);
    CHECK_INT(n, (ssize_t)sizeof(msg) - 1 - 8);
    CHECK_INT(tls_pending(h.srv.tc), 0);
    n = tls_read(h.srv.tc, rest, sizeof(rest), &want);
    CHECK_INT(n, -1);
    CHECK_INT(want, TLS_WANT_READ);
    /* orderly close: close_notify from the client, then EOF */
    SSL_shutdown(h.cli.raw);
    poll(&pfd, 1, 3000);
    n = tls_read(h.srv.tc, rest, sizeof(rest), &want);
    CHECK_INT(n, 0);
    CHECK_INT(tls_shutdown(h.srv.tc), TLS_OK);
    n = tls_write(h.srv.tc, "x", 1, &want);
    CHECK_INT(n, -1);
    CHECK_INT(want, TLS_ERROR);
    free(out);
    free(in);
    hs_free(&h);

    /* a peer that drops TCP without close_notify: plain EOF */
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_INT(h.rc, 0);
    shutdown(pair[1], SHUT_RDWR);
    n = tls_read(h.srv.tc, rest, sizeof(rest), &want);
    CHECK_INT(n, 0);
    hs_free(&h);
    tls_server_free(s);
}

static void test_protocols(void)
{
    struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem));
    if (!s)
        return;
    /* A TLS 1.0/1.1-only client fails against the default ">=TLSv1": OpenSSL's
     * security level (2 on Debian) no longer allows TLS < 1.2. */
    log_clear();
    struct hs h = handshake_raw(s, &(struct raw_opts){.min = TLS1_VERSION, .max = TLS1_1_VERSION,
                                                      .seclevel0 = 1});
    CHECK(h.rc != 0);
    CHECK_INT(h.srv.state, -1);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: "));
    CHECK(strlen(tls_conn_error(h.srv.tc)) > 0);
    hs_free(&h);
    /* a TLS 1.2 client */
    h = handshake_raw(s, &(struct raw_opts){.max = TLS1_2_VERSION});
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.2");
    hs_free(&h);
    tls_server_free(s);

    /* the server limits */
    const char *limits[][2] = {{"<=TLSv1.2", "TLSv1.2"}, {"!TLSv1.3", "TLSv1.2"},
                               {">=TLSv1.2, <=TLSv1.2", "TLSv1.2"}, {">=0x0304", "TLSv1.3"},
                               {"TLSv1.2 TLSv1.3", "TLSv1.3"}};
    for (size_t i = 0; i < ARRAY_LEN(limits); i++) {
        s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_protocols", limits[i][0]));
        if (!s)
            continue;
        h = handshake_raw(s, &(struct raw_opts){0});
        CHECK_INT(h.rc, 0);
        CHECK_STR(tls_conn_protocol(h.srv.tc), limits[i][1]);
        hs_free(&h);
        tls_server_free(s);
    }
    /* a TLS 1.3-only client against "<=TLSv1.2" */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_protocols", "<=TLSv1.2"));
    h = handshake_raw(s, &(struct raw_opts){.min = TLS1_3_VERSION});
    CHECK(h.rc != 0);
    hs_free(&h);
    tls_server_free(s);
    /* mandatory protocols apply when TLS is required (encrypt, wrapper mode) */
    const char *const opp[] = {"smtpd_tls_chain_files", rsa_pem, "smtpd_tls_mandatory_protocols",
                               "<=TLSv1.2", "smtpd_tls_security_level", "may", NULL};
    s = server(opp);
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.3");
    hs_free(&h);
    tls_server_free(s);
    const char *const mand[] = {"smtpd_tls_chain_files", rsa_pem, "smtpd_tls_mandatory_protocols",
                                "<=TLSv1.2", "smtpd_tls_security_level", "encrypt", NULL};
    s = server(mand);
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.2");
    hs_free(&h);
    tls_server_free(s);
    const char *const wrap[] = {"smtpd_tls_chain_files", rsa_pem, "smtpd_tls_mandatory_protocols",
                                "<=TLSv1.2", "smtpd_tls_wrappermode", "yes", NULL};
    s = server(wrap);
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.2");
    hs_free(&h);
    tls_server_free(s);
}

static void test_cipher_grades(void)
{
    /* TLS 1.2: the client prefers AES-GCM; exclusions take it away */
    const struct raw_opts tls12 = {.max = TLS1_2_VERSION};
    struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem));
    struct hs h = handshake_raw(s, &tls12);
    CHECK_STR(tls_conn_cipher(h.srv.tc), "ECDHE-RSA-AES256-GCM-SHA384");
    hs_free(&h);
    tls_server_free(s);
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_exclude_ciphers", "AESGCM"));
    h = handshake_raw(s, &tls12);
    CHECK_INT(h.rc, 0);
    CHECK(strstr(tls_conn_cipher(h.srv.tc), "GCM") == NULL);
    hs_free(&h);
    tls_server_free(s);
    /* mandatory exclusions only when TLS is required */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_mandatory_exclude_ciphers", "AESGCM"));
    h = handshake_raw(s, &tls12);
    CHECK(strstr(tls_conn_cipher(h.srv.tc), "GCM") != NULL);
    hs_free(&h);
    tls_server_free(s);
    const char *const enc[] = {"smtpd_tls_chain_files", rsa_pem, "smtpd_tls_security_level",
                               "encrypt", "smtpd_tls_mandatory_exclude_ciphers", "AESGCM, CHACHA20",
                               NULL};
    s = server(enc);
    h = handshake_raw(s, &tls12);
    CHECK_INT(h.rc, 0);
    CHECK(strstr(tls_conn_cipher(h.srv.tc), "GCM") == NULL);
    CHECK(strstr(tls_conn_cipher(h.srv.tc), "CHACHA") == NULL);
    hs_free(&h);
    tls_server_free(s);
    /* the "null" grade has nothing a normal client offers */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ciphers", "null",
                  "smtpd_tls_protocols", "<=TLSv1.2"));
    log_clear();
    h = handshake_raw(s, &tls12);
    CHECK(h.rc != 0);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: no shared cipher"));
    hs_free(&h);
    tls_server_free(s);
    /* "high" with a client that only has a cipher outside it */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ciphers", "high",
                  "tls_high_cipherlist", "HIGH:!AES128"));
    h = handshake_raw(s, &(struct raw_opts){.max = TLS1_2_VERSION,
                                            .ciphers = "ECDHE-RSA-AES128-GCM-SHA256"});
    CHECK(h.rc != 0);
    hs_free(&h);
    tls_server_free(s);
    /* TLS 1.3 suites named in an exclusion list */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_exclude_ciphers",
                  "TLS_AES_256_GCM_SHA384"));
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_protocol(h.srv.tc), "TLSv1.3");
    CHECK(strcmp(tls_conn_cipher(h.srv.tc), "TLS_AES_256_GCM_SHA384") != 0);
    hs_free(&h);
    tls_server_free(s);
    /* tls_preempt_cipherlist: the server's order wins */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "tls_preempt_cipherlist", "yes",
                  "tls_medium_cipherlist", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384"));
    h = handshake_raw(s, &tls12);
    CHECK_STR(tls_conn_cipher(h.srv.tc), "ECDHE-RSA-AES128-GCM-SHA256");
    hs_free(&h);
    tls_server_free(s);
}

/* RSA and ECDSA chains together; the client's signature algorithms choose. */
static void test_chain_selection(void)
{
    struct tls_server *s = server(KV("smtpd_tls_chain_files", fmt("%s, %s", rsa_pem, ec_pem)));
    if (!s)
        return;
    char info[512];
    struct hs h = handshake_raw(s, &(struct raw_opts){.sigalgs = "ECDSA+SHA256"});
    CHECK_INT(h.rc, 0);
    X509 *peer = SSL_get0_peer_certificate(h.cli.raw);
    CHECK(peer && EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) == EVP_PKEY_EC);
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK(strstr(info, " server-signature ECDSA (P-256) server-digest SHA256)") != NULL);
    hs_free(&h);
    h = handshake_raw(s, &(struct raw_opts){.sigalgs = "rsa_pss_rsae_sha256"});
    CHECK_INT(h.rc, 0);
    peer = SSL_get0_peer_certificate(h.cli.raw);
    CHECK(peer && EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) == EVP_PKEY_RSA);
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK(strstr(info, " server-signature RSA-PSS (2048 bits) server-digest SHA256)") != NULL);
    hs_free(&h);
    /* TLS 1.2: the cipher's authentication picks the chain */
    h = handshake_raw(s, &(struct raw_opts){.max = TLS1_2_VERSION,
                                            .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"});
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_cipher(h.srv.tc), "ECDHE-ECDSA-AES128-GCM-SHA256");
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(using TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 (128/128 bits) "
                    "key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256)");
    hs_free(&h);
    h = handshake_raw(s, &(struct raw_opts){.max = TLS1_2_VERSION, .ciphers = "kRSA",
                                            .sigalgs = NULL});
    CHECK_INT(h.rc, 0);   /* RSA key exchange: no key-exchange or signature details */
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK(strncmp(info, "(using TLSv1.2 with cipher AES256-GCM-SHA384 (256/256 bits)", 59) == 0);
    CHECK(strstr(info, "key-exchange") == NULL);
    hs_free(&h);
    tls_server_free(s);
}

/* ------------------------------------------------------------------ */
/* SNI                                                                 */

static X509 *sni_cert_a, *sni_cert_b;

static const char *peer_cn(SSL *ssl)
{
    static char cn[256];
    X509 *p = SSL_get0_peer_certificate(ssl);
    cn[0] = '\0';
    if (p)
        X509_NAME_get_text_by_NID(X509_get_subject_name(p), NID_commonName, cn, sizeof(cn));
    return cn;
}

static void sni_expect(struct tls_server *s, const char *name, const char *cn, const char *matched)
{
    struct hs h = handshake_raw(s, &(struct raw_opts){.sni = name});
    CHECK_INT(h.rc, 0);
    CHECK_STR(peer_cn(h.cli.raw), cn);
    if (matched)
        CHECK_STR(tls_conn_sni(h.srv.tc), matched);
    else
        CHECK(tls_conn_sni(h.srv.tc) == NULL);
    hs_free(&h);
}

static void test_sni(void)
{
    sni_cert_a = make_cert(sni_key, &(struct cert_opts){.cn = "a.example.com"});
    sni_cert_b = make_cert(sni_key, &(struct cert_opts){.cn = "b.example.org"});
    const char *a = write_pem("sni-a.pem", sni_key, sni_cert_a, NULL);
    const char *b_key = write_pem("sni-b.key", sni_key, NULL, NULL);
    const char *b_crt = write_pem("sni-b.crt", NULL, sni_cert_b, NULL);
    /* texthash: values are lists of files (key first, then the chain) */
    char *th = xasprintf("a.example.com %s\n.example.org %s, %s\n", a, b_key, b_crt);
    write_text("sni.txt", th);
    free(th);
    char *spec = xasprintf("texthash:%s", path("sni.txt"));
    struct tls_server *s = server(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", spec,
                                     "smtpd_tls_loglevel", "1"));
    free(spec);
    if (s) {
        log_clear();
        sni_expect(s, "a.example.com", "a.example.com", "a.example.com");
        CHECK(log_has("TLS connection established from client.test[127.0.0.1] to a.example.com: TLSv1.3"));
        sni_expect(s, "A.Example.COM", "a.example.com", "a.example.com");
        sni_expect(s, "x.example.org", "b.example.org", "x.example.org");     /* parent .example.org */
        sni_expect(s, "y.x.example.org", "b.example.org", "y.x.example.org");
        log_clear();
        sni_expect(s, "example.org", "mail.test", NULL);    /* ".example.org" is for subdomains */
        CHECK(log_has("TLS SNI example.org from client.test[127.0.0.1] not matched, using default chain"));
        sni_expect(s, "b.example.com", "mail.test", NULL);
        sni_expect(s, NULL, "mail.test", NULL);
        log_clear();
        sni_expect(s, "bad name!", "mail.test", NULL);
        CHECK(log_has("TLS SNI from client.test[127.0.0.1] is invalid: bad?name!"));
        tls_server_free(s);
    }
    /* base64 PEM in a runtime table (as LDAP/SQL tables hold it) */
    {
        char *pem = pem_text(sni_key, sni_cert_a);
        struct buf b64;
        buf_init(&b64, 0);
        table_b64_encode(pem, strlen(pem), &b64);
        char *line = xasprintf("c.example.net %s\n", buf_cstr(&b64));
        write_text("sni64.txt", line);
        spec = xasprintf("texthash:%s", path("sni64.txt"));
        s = server(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", spec));
        if (s) {
            sni_expect(s, "c.example.net", "a.example.com", "c.example.net");
            tls_server_free(s);
        }
        free(spec);
        free(line);
        free(pem);
        buf_free(&b64);
    }
    /* inline: table */
    spec = xasprintf("inline:{ {a.example.com = %s} }", a);
    s = server(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", spec));
    free(spec);
    if (s) {
        sni_expect(s, "a.example.com", "a.example.com", "a.example.com");
        tls_server_free(s);
    }
    /* an indexed table built like "yubin map -F": base64 values */
    char *src = xasprintf("a.example.com %s\nbroken.example.com %s\n", a, path("garbage.pem"));
    write_text("sni-idx", src);
    free(src);
    write_text("garbage.pem", "hello world\n");
    spec = xasprintf("lmdb:%s", path("sni-idx"));
    if (table_build_ex(spec, TABLE_BUILD_FOLD | TABLE_BUILD_FILES, NULL, NULL, NULL, err,
                       sizeof(err)) < 0) {
        fprintf(stderr, "table_build_ex: %s\n", err);
        CHECK(0);
    }
    s = server(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", spec));
    if (s) {
        sni_expect(s, "a.example.com", "a.example.com", "a.example.com");
        sni_expect(s, "a.example.com", "a.example.com", "a.example.com");   /* cached */
        log_clear();
        struct hs h = handshake_raw(s, &(struct raw_opts){.sni = "broken.example.com"});
        CHECK(h.rc != 0);   /* a matching entry that does not load: no silent fallback */
        CHECK(log_has("TLS SNI broken.example.com from client.test[127.0.0.1]: no usable certificate chain"));
        hs_free(&h);
        tls_server_free(s);
    }
    /* runtime tables are read at start: errors stop the server */
    write_text("sni-bad.txt", "x.example.net /nonexistent/sni.pem\n");
    char *bad = xasprintf("texthash:%s", path("sni-bad.txt"));
    const char *e = server_error(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", bad));
    CHECK(e && strstr(e, "tls_server_sni_maps /nonexistent/sni.pem: No such file or directory"));
    free(bad);
    e = server_error(KV("smtpd_tls_chain_files", ec_pem, "tls_server_sni_maps", "nosuchtype:/x"));
    CHECK(e && strstr(e, "tls_server_sni_maps: "));
    /* yubin check reads the indexed table too and names the broken entry */
    struct buf out;
    buf_init(&out, 0);
    struct config *c = mkcfg(KV("smtpd_tls_security_level", "may", "smtpd_tls_chain_files", ec_pem,
                                "tls_server_sni_maps", spec));
    CHECK(tls_check_server(c, collect, &out) >= 1);
    CHECK(strstr(buf_cstr(&out), "entry \"broken.example.com\"") != NULL);
    config_free(c);
    buf_free(&out);
    free(spec);
}

/* ------------------------------------------------------------------ */
/* client certificates                                                 */

static void test_client_certs(void)
{
    char want_fpt[200], info[512];
    cert_fpt(client_cert, EVP_sha256(), want_fpt, sizeof(want_fpt));
    struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                                     "smtpd_tls_CAfile", ca_pem, "smtpd_tls_loglevel", "1"));
    if (!s)
        return;
    log_clear();
    struct hs h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_present(h.srv.tc), 1);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 1);
    CHECK_INT(tls_conn_peer_verified(h.srv.tc), 1);
    CHECK_STR(tls_conn_peer_fingerprint(h.srv.tc), want_fpt);
    CHECK_INT(strlen(tls_conn_peer_fingerprint(h.srv.tc)), 32 * 3 - 1);
    CHECK(tls_conn_peer_pkey_fingerprint(h.srv.tc) != NULL);
    CHECK(strcmp(tls_conn_peer_pkey_fingerprint(h.srv.tc), want_fpt) != 0);
    CHECK_STR(tls_conn_peer_cn(h.srv.tc), "client.test");
    CHECK_STR(tls_conn_issuer_cn(h.srv.tc), "Test CA");
    tls_received_ccert_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(Client CN \"client.test\", Issuer \"Test CA\" (verified OK))");
    tls_received_info(h.srv.tc, info, sizeof(info));
    CHECK(strstr(info, " client-signature ECDSA (P-256) client-digest SHA256)") != NULL);
    CHECK(log_has("Trusted TLS connection established from client.test[127.0.0.1]: TLSv1.3"));
    /* the CA names are sent in the certificate request */
    STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(h.cli.raw);
    CHECK(names && sk_X509_NAME_num(names) == 1);
    hs_free(&h);
    /* public key fingerprint: digest of the SubjectPublicKeyInfo */
    {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(client_key, &der);
        char fp[200];
        tls_fingerprint(EVP_sha256(), der, (size_t)n, fp, sizeof(fp));
        OPENSSL_free(der);
        h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
        CHECK_STR(tls_conn_peer_pkey_fingerprint(h.srv.tc), fp);
        hs_free(&h);
    }
    /* a certificate from elsewhere: present, untrusted, still fingerprinted */
    log_clear();
    h = handshake_raw(s, &(struct raw_opts){.cert = selfsigned_client, .key = client_key});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_present(h.srv.tc), 1);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 0);
    CHECK(tls_conn_peer_fingerprint(h.srv.tc) != NULL);
    tls_received_ccert_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(Client CN \"self.test\", Issuer \"self.test\" (not verified))");
    CHECK(log_has("Untrusted TLS connection established from client.test[127.0.0.1]"));
    hs_free(&h);
    /* no certificate */
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_present(h.srv.tc), 0);
    tls_received_ccert_info(h.srv.tc, info, sizeof(info));
    CHECK_STR(info, "(Client did not present a certificate)");
    hs_free(&h);
    tls_server_free(s);

    /* with an SNI chain: the same CAs verify the client */
    {
        char *spec = xasprintf("inline:{ {mx.example.com = %s} }", casrv_pem);
        s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                      "smtpd_tls_CAfile", ca_pem, "tls_server_sni_maps", spec));
        free(spec);
        h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key,
                                                .sni = "mx.example.com"});
        CHECK_INT(h.rc, 0);
        CHECK_STR(tls_conn_sni(h.srv.tc), "mx.example.com");
        CHECK_STR(peer_cn(h.cli.raw), "mx.example.com");
        CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 1);
        names = SSL_get_client_CA_list(h.cli.raw);
        CHECK(names && sk_X509_NAME_num(names) == 1);
        hs_free(&h);
        tls_server_free(s);
    }
    /* verification depth: 0 allows only the leaf itself */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                  "smtpd_tls_CAfile", ca_pem, "smtpd_tls_ccert_verifydepth", "0"));
    h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 0);
    hs_free(&h);
    tls_server_free(s);

    /* md5 fingerprints (smtpd_tls_fingerprint_digest) */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                  "smtpd_tls_fingerprint_digest", "md5"));
    cert_fpt(client_cert, EVP_md5(), want_fpt, sizeof(want_fpt));
    h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
    CHECK_STR(tls_conn_peer_fingerprint(h.srv.tc), want_fpt);
    CHECK_INT(strlen(want_fpt), 47);
    hs_free(&h);
    tls_server_free(s);

    /* required (level encrypt + smtpd_tls_req_ccert): no or untrusted certificate fails */
    const char *const req[] = {"smtpd_tls_chain_files", rsa_pem, "smtpd_tls_security_level",
                               "encrypt", "smtpd_tls_req_ccert", "yes", "smtpd_tls_CAfile",
                               ca_pem, NULL};
    s = server(req);
    h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 1);
    hs_free(&h);
    log_clear();
    h = handshake_raw(s, &(struct raw_opts){0});
    CHECK(h.rc != 0);
    CHECK_INT(h.srv.state, -1);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: peer did not return a certificate"));
    hs_free(&h);
    log_clear();
    h = handshake_raw(s, &(struct raw_opts){.cert = selfsigned_client, .key = client_key});
    CHECK(h.rc != 0);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: certificate verify failed: "));
    hs_free(&h);
    tls_server_free(s);
}

/* ------------------------------------------------------------------ */
/* session tickets                                                     */

/* Handshake, read a line from the server (which delivers TLS 1.3 tickets),
 * return the client's session. */
static SSL_SESSION *session_from(struct tls_server *s, SSL_SESSION *resume, int max, int *reused)
{
    struct hs h = handshake_raw(s, &(struct raw_opts){.session = resume, .max = max});
    SSL_SESSION *out = NULL;
    *reused = -1;
    if (h.rc == 0) {
        int want;
        CHECK_INT(tls_write(h.srv.tc, "220 ok\r\n", 8, &want), 8);
        char buf[8];
        CHECK_INT(raw_read_all(h.cli.raw, pair[1], buf, 8), 0);
        *reused = tls_conn_reused(h.srv.tc);
        CHECK_INT(SSL_session_reused(h.cli.raw), *reused);
        out = SSL_get1_session(h.cli.raw);
    }
    hs_free(&h);
    return out;
}

static void test_tickets(void)
{
    int reused;
    const int versions[] = {0, TLS1_2_VERSION};
    for (size_t v = 0; v < ARRAY_LEN(versions); v++) {
        struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem));
        if (!s)
            return;
        SSL_SESSION *sess = session_from(s, NULL, versions[v], &reused);
        CHECK_INT(reused, 0);
        CHECK(sess && SSL_SESSION_is_resumable(sess));
        SSL_SESSION *again = session_from(s, sess, versions[v], &reused);
        CHECK_INT(reused, 1);
        SSL_SESSION_free(again);
        /* another process (other keys) cannot open the ticket: full handshake */
        struct tls_server *other = server(KV("smtpd_tls_chain_files", rsa_pem));
        again = session_from(other, sess, versions[v], &reused);
        CHECK_INT(reused, 0);
        SSL_SESSION_free(again);
        tls_server_free(other);
        /* one period later: a new key seals new tickets; the old ticket still works once more */
        tls_server_age_tickets(s, 3601);
        again = session_from(s, sess, versions[v], &reused);
        CHECK_INT(reused, 1);
        SSL_SESSION_free(again);
        /* two periods after its key was made, a ticket is refused */
        SSL_SESSION *fresh = session_from(s, NULL, versions[v], &reused);
        tls_server_age_tickets(s, 3601);
        again = session_from(s, sess, versions[v], &reused);
        CHECK_INT(reused, 0);
        SSL_SESSION_free(again);
        SSL_SESSION_free(sess);
        SSL_SESSION_free(fresh);
        tls_server_free(s);
    }
    /* smtpd_tls_session_cache_timeout = 0: no resumption at all */
    struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem,
                                     "smtpd_tls_session_cache_timeout", "0"));
    SSL_SESSION *sess = session_from(s, NULL, 0, &reused);
    SSL_SESSION *again = session_from(s, sess, 0, &reused);
    CHECK_INT(reused, 0);
    SSL_SESSION_free(sess);
    SSL_SESSION_free(again);
    tls_server_free(s);
    /* a resumed session keeps the client certificate facts */
    s = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                  "smtpd_tls_CAfile", ca_pem));
    struct hs h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key});
    int want;
    tls_write(h.srv.tc, "220 ok\r\n", 8, &want);
    char buf[8];
    raw_read_all(h.cli.raw, pair[1], buf, 8);
    sess = SSL_get1_session(h.cli.raw);
    char fpt[200];
    str_copy(fpt, tls_conn_peer_fingerprint(h.srv.tc), sizeof(fpt));
    hs_free(&h);
    h = handshake_raw(s, &(struct raw_opts){.cert = client_cert, .key = client_key, .session = sess});
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_reused(h.srv.tc), 1);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 1);
    CHECK_STR(tls_conn_peer_fingerprint(h.srv.tc), fpt);
    hs_free(&h);
    SSL_SESSION_free(sess);
    tls_server_free(s);
}

/* ------------------------------------------------------------------ */
/* hostile input                                                       */

static void test_garbage(void)
{
    struct tls_server *s = server(KV("smtpd_tls_chain_files", rsa_pem));
    if (!s)
        return;
    const char *inputs[] = {"EHLO client.test\r\n", "GET / HTTP/1.0\r\n\r\n",
                            "\x16\x03\x01\xff\xff", "\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",
                            "\x80\x80\x01\x03\x01"};
    for (size_t i = 0; i < ARRAY_LEN(inputs); i++) {
        log_clear();
        new_pair();
        struct tls_conn *c = tls_accept(s, pair[0], "client.test[127.0.0.1]");
        size_t len = strlen(inputs[i]);
        if (i >= 2)
            len = i == 2 ? 5 : i == 3 ? 10 : 5;
        CHECK_INT(write(pair[1], inputs[i], len), (ssize_t)len);
        if (i == 2 || i == 4)
            shutdown(pair[1], SHUT_WR);   /* truncated record, then EOF */
        int r = TLS_WANT_READ;
        for (int k = 0; k < 10 && r == TLS_WANT_READ; k++)
            r = tls_handshake(c);
        CHECK_INT(r, TLS_ERROR);
        CHECK_INT(tls_handshake(c), TLS_ERROR);   /* stays failed */
        CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: "));
        int want;
        char b[4];
        CHECK_INT(tls_read(c, b, sizeof(b), &want), -1);
        CHECK_INT(want, TLS_ERROR);
        CHECK_INT(tls_shutdown(c), TLS_ERROR);
        tls_free(c);
        close_pair();
    }
    log_clear();
    new_pair();
    struct tls_conn *c = tls_accept(s, pair[0], "client.test[127.0.0.1]");
    CHECK_INT(tls_handshake(c), TLS_WANT_READ);   /* nothing yet: never blocks */
    close(pair[1]);
    CHECK_INT(tls_handshake(c), TLS_ERROR);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: lost connection"));
    CHECK_STR(tls_conn_error(c), "lost connection");
    tls_free(c);
    close(pair[0]);
    /* the plaintext message names OpenSSL's reason */
    log_clear();
    new_pair();
    c = tls_accept(s, pair[0], "client.test[127.0.0.1]");
    CHECK_INT(write(pair[1], "EHLO x\r\n", 8), 8);
    CHECK_INT(tls_handshake(c), TLS_ERROR);
    CHECK(log_has("SSL_accept error from client.test[127.0.0.1]: wrong version number"));
    CHECK(log_has("warning: TLS library problem: error:"));
    tls_free(c);
    close_pair();
    tls_free(NULL);
    tls_server_free(s);
}

/* ------------------------------------------------------------------ */
/* the client side                                                     */

static struct hs handshake_ours(struct tls_server *s, struct tls_client *cl,
                                const struct tls_client_peer *p)
{
    struct hs h;
    memset(&h, 0, sizeof(h));
    new_pair();
    h.srv.tc = tls_accept(s, pair[0], "client.test[127.0.0.1]");
    h.srv.fd = pair[0];
    h.cli.tc = tls_connect(cl, pair[1], p);
    h.cli.fd = pair[1];
    h.rc = run(&h.srv, &h.cli);
    return h;
}

static struct tls_client *client(const char *const *kv)
{
    struct config *c = mkcfg(kv);
    struct tls_client *cl = tls_client_new(c, "smtp", err, sizeof(err));
    if (!cl)
        fprintf(stderr, "tls_client_new: %s\n", err);
    config_free(c);
    return cl;
}

static void test_client(void)
{
    struct tls_server *s = server(KV("smtpd_tls_chain_files", casrv_pem));
    struct tls_server *self = server(KV("smtpd_tls_chain_files", rsa_pem));
    struct tls_client *cl = client(KV("smtp_tls_CAfile", ca_pem, "smtp_tls_loglevel", "1"));
    if (!s || !self || !cl)
        return;
    struct tls_client_peer p = {.level = TLS_LEV_MAY, .nexthop = "example.com",
                                .hostname = "mx.example.com", .namaddr = "mx.example.com[192.0.2.1]:25"};
    log_clear();
    struct hs h = handshake_ours(s, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_trusted(h.cli.tc), 1);
    CHECK_STR(tls_conn_peer_cn(h.cli.tc), "mx.example.com");
    CHECK(log_has("TLS connection established to mx.example.com[192.0.2.1]:25: TLSv1.3 with cipher"));
    char info[512];
    tls_received_info(h.cli.tc, info, sizeof(info));
    CHECK(strstr(info, "server-signature ECDSA (P-256) server-digest SHA256)") != NULL);
    /* data over our own client */
    int want;
    CHECK_INT(tls_write(h.cli.tc, "EHLO x\r\n", 8, &want), 8);
    char buf[16];
    struct pollfd pfd = {.fd = pair[0], .events = POLLIN};
    poll(&pfd, 1, 3000);
    CHECK_INT(tls_read(h.srv.tc, buf, sizeof(buf), &want), 8);
    hs_free(&h);
    /* may: an untrusted server is fine */
    h = handshake_ours(self, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_trusted(h.cli.tc), 0);
    CHECK_INT(tls_conn_peer_verified(h.cli.tc), 0);
    hs_free(&h);
    /* verify: CA-signed and hostname matches */
    p.level = TLS_LEV_VERIFY;
    log_clear();
    h = handshake_ours(s, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_verified(h.cli.tc), 1);
    CHECK(log_has("Verified TLS connection established to mx.example.com[192.0.2.1]:25"));
    hs_free(&h);
    /* verify: wrong host name */
    p.hostname = "mx.example.net";
    log_clear();
    h = handshake_ours(s, cl, &p);
    CHECK(h.rc != 0);
    CHECK_INT(h.cli.state, -1);
    CHECK_STR(tls_conn_error(h.cli.tc), "Server certificate not verified");
    CHECK(log_has("server certificate verification failed for mx.example.com[192.0.2.1]:25"));
    hs_free(&h);
    /* verify: untrusted */
    p.hostname = "mx.example.com";
    h = handshake_ours(self, cl, &p);
    CHECK(h.rc != 0);
    CHECK_STR(tls_conn_error(h.cli.tc), "Server certificate not trusted");
    hs_free(&h);
    /* secure: nexthop, dot-nexthop (any subdomain of the next hop) */
    p.level = TLS_LEV_SECURE;
    p.hostname = "ignored.example.net";
    h = handshake_ours(s, cl, &p);
    CHECK_INT(h.rc, 0);
    hs_free(&h);
    p.nexthop = "example.org";
    h = handshake_ours(s, cl, &p);
    CHECK(h.rc != 0);
    hs_free(&h);
    /* wildcards: *.w.example.com matches several labels (tls_wildcard_matches_multiple_labels) */
    p.level = TLS_LEV_VERIFY;
    p.hostname = "a.b.w.example.com";
    h = handshake_ours(s, cl, &p);
    CHECK_INT(h.rc, 0);
    hs_free(&h);
    tls_client_free(cl);
    cl = client(KV("smtp_tls_CAfile", ca_pem, "tls_wildcard_matches_multiple_labels", "no"));
    h = handshake_ours(s, cl, &p);
    CHECK(h.rc != 0);
    hs_free(&h);
    p.hostname = "b.w.example.com";
    h = handshake_ours(s, cl, &p);
    CHECK_INT(h.rc, 0);
    hs_free(&h);
    tls_client_free(cl);
    /* fingerprint level */
    char fpt[200];
    cert_fpt(rsa_cert, EVP_sha256(), fpt, sizeof(fpt));
    /* colons optional, case-insensitive */
    char loose[200];
    size_t lo = 0;
    for (const char *q = fpt; *q && lo + 1 < sizeof(loose); q++)
        if (*q != ':')
            loose[lo++] = (char)(*q | 0x20);
    loose[lo] = '\0';
    cl = client(KV("smtp_tls_fingerprint_cert_match", fmt("00:11, %s", loose)));
    p.level = TLS_LEV_FINGERPRINT;
    h = handshake_ours(self, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_verified(h.cli.tc), 1);
    hs_free(&h);
    h = handshake_ours(s, cl, &p);
    CHECK(h.rc != 0);
    hs_free(&h);
    tls_client_free(cl);
    /* mandatory protocols from level encrypt up */
    struct tls_server *old = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_protocols",
                                       "<=TLSv1.2"));
    cl = client(KV("smtp_tls_mandatory_protocols", ">=TLSv1.3"));
    p.level = TLS_LEV_MAY;
    h = handshake_ours(old, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_protocol(h.cli.tc), "TLSv1.2");
    hs_free(&h);
    p.level = TLS_LEV_ENCRYPT;
    h = handshake_ours(old, cl, &p);
    CHECK(h.rc != 0);
    hs_free(&h);
    tls_client_free(cl);
    tls_server_free(old);
    /* SNI from smtp_tls_servername */
    char *spec = xasprintf("inline:{ {mx.example.com = %s} }", casrv_pem);
    struct tls_server *sni = server(KV("smtpd_tls_chain_files", rsa_pem, "tls_server_sni_maps", spec));
    free(spec);
    cl = client(KV("smtp_tls_servername", "hostname"));
    p.level = TLS_LEV_MAY;
    p.hostname = "mx.example.com";
    h = handshake_ours(sni, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_STR(tls_conn_sni(h.srv.tc), "mx.example.com");
    CHECK_STR(tls_conn_peer_cn(h.cli.tc), "mx.example.com");
    hs_free(&h);
    p.servername = "";   /* per-connection override: no SNI */
    h = handshake_ours(sni, cl, &p);
    CHECK(tls_conn_sni(h.srv.tc) == NULL);
    hs_free(&h);
    tls_client_free(cl);
    tls_server_free(sni);
    /* client certificate from smtp_tls_chain_files */
    struct tls_server *ask = server(KV("smtpd_tls_chain_files", rsa_pem, "smtpd_tls_ask_ccert", "yes",
                                       "smtpd_tls_CAfile", ca_pem));
    cl = client(KV("smtp_tls_chain_files", client_pem));
    p.servername = NULL;
    h = handshake_ours(ask, cl, &p);
    CHECK_INT(h.rc, 0);
    CHECK_INT(tls_conn_peer_trusted(h.srv.tc), 1);
    CHECK_STR(tls_conn_peer_cn(h.srv.tc), "client.test");
    hs_free(&h);
    tls_client_free(cl);
    tls_server_free(ask);
    /* the poll(2) helper: TLS 1.3 lets the client finish once the server has
     * answered; a server that never answers is a timeout */
    cl = client(NULL);
    new_pair();
    struct tls_conn *sc = tls_accept(self, pair[0], "client.test[127.0.0.1]");
    struct tls_conn *cc = tls_connect(cl, pair[1], &p);
    CHECK_INT(tls_handshake(cc), TLS_WANT_READ);
    CHECK_INT(tls_handshake(sc), TLS_WANT_READ);
    CHECK_INT(tls_handshake_wait(cc, 3000), TLS_OK);
    tls_free(sc);
    tls_free(cc);
    close_pair();
    new_pair();
    cc = tls_connect(cl, pair[1], &p);
    uint64_t t0 = mono_msec();
    log_clear();
    CHECK_INT(tls_handshake_wait(cc, 200), TLS_ERROR);
    CHECK(mono_msec() - t0 >= 200);
    CHECK_STR(tls_conn_error(cc), "handshake timed out");
    CHECK(log_has("SSL_connect error to mx.example.com[192.0.2.1]:25: handshake timed out"));
    tls_free(cc);
    close_pair();
    /* bad client settings */
    tls_client_free(cl);
    struct config *c = mkcfg(KV("smtp_tls_protocols", "TLSv2"));
    CHECK(tls_client_new(c, "smtp", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "invalid smtp_tls_protocols value") != NULL);
    cfg_set(c, "smtp_tls_protocols", "");
    cfg_set(c, "smtp_tls_CAfile", "/nonexistent/ca.pem");
    CHECK(tls_client_new(c, "smtp", err, sizeof(err)) == NULL);
    CHECK(strstr(err, "smtp_tls_CAfile /nonexistent/ca.pem: No such file") != NULL);
    config_free(c);
    tls_server_free(s);
    tls_server_free(self);
}

/* ------------------------------------------------------------------ */
/* yubin check                                                         */

static void test_check(void)
{
    struct buf out;
    buf_init(&out, 0);
    /* TLS off: nothing is looked at */
    struct config *c = mkcfg(KV("smtpd_tls_cert_file", "/nonexistent"));
    CHECK_INT(tls_check_server(c, collect, &out), 0);
    CHECK_STR(buf_cstr(&out), "");
    config_free(c);
    /* a missing key names the parameter and the file */
    c = mkcfg(KV("smtpd_tls_security_level", "may", "smtpd_tls_cert_file", path("c.pem"),
                 "smtpd_tls_key_file", "/nonexistent/key.pem"));
    CHECK_INT(tls_check_server(c, collect, &out), 1);
    CHECK_STR(buf_cstr(&out), "E|smtpd_tls_key_file|smtpd_tls_key_file /nonexistent/key.pem: "
                              "No such file or directory\n");
    config_free(c);
    /* several problems at once */
    buf_reset(&out);
    c = mkcfg(KV("smtpd_use_tls", "yes", "smtpd_tls_chain_files", ec_pem, "smtpd_tls_protocols",
                 "TLSv9", "smtpd_tls_CAfile", "/nonexistent/ca.pem"));
    CHECK_INT(tls_check_server(c, collect, &out), 2);
    CHECK(strstr(buf_cstr(&out), "E|smtpd_tls_protocols|") != NULL);
    CHECK(strstr(buf_cstr(&out), "E|smtpd_tls_CAfile|") != NULL);
    config_free(c);
    /* expiry and usage warnings */
    EVP_PKEY *k = ec_key;
    X509 *expired = make_cert(k, &(struct cert_opts){.cn = "old.test", .from_days = -30, .to_days = -1});
    X509 *soon = make_cert(k, &(struct cert_opts){.cn = "soon.test", .to_days = 10});
    X509 *client_only = make_cert(k, &(struct cert_opts){.cn = "c.test", .eku = "clientAuth"});
    write_pem("expired.pem", k, expired, NULL);
    write_pem("soon.pem", k, soon, NULL);
    write_pem("clientonly.pem", k, client_only, NULL);
    const char *files[] = {"expired.pem", "soon.pem", "clientonly.pem"};
    const char *want[] = {"the certificate expired on ", "the certificate expires on ",
                          "not usable by a TLS server"};
    for (size_t i = 0; i < 3; i++) {
        buf_reset(&out);
        c = mkcfg(KV("smtpd_tls_wrappermode", "yes", "smtpd_tls_chain_files", path(files[i])));
        CHECK_INT(tls_check_server(c, collect, &out), 0);
        CHECK(strstr(buf_cstr(&out), "W|smtpd_tls_chain_files|") != NULL);
        CHECK(strstr(buf_cstr(&out), want[i]) != NULL);
        config_free(c);
    }
    X509_free(expired);
    X509_free(soon);
    X509_free(client_only);
    /* a good configuration: silence */
    buf_reset(&out);
    c = mkcfg(KV("smtpd_tls_security_level", "encrypt", "smtpd_tls_chain_files",
                 fmt("%s %s", rsa_pem, ec_pem)));
    CHECK_INT(tls_check_server(c, collect, &out), 0);
    CHECK_STR(buf_cstr(&out), "");
    config_free(c);
    buf_free(&out);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-tls.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(logpath, sizeof(logpath), "%s/maillog", dir);
    signal(SIGPIPE, SIG_IGN);   /* as every yubin process: EPIPE, not death */
    log_init("yubin", "smtpd");
    log_set_dest(0, logpath);
    make_material();
    T_RUN(test_protocol_syntax);
    T_RUN(test_cipher_syntax);
    T_RUN(test_policy);
    T_RUN(test_server_files);
    T_RUN(test_handshake_basic);
    T_RUN(test_protocols);
    T_RUN(test_cipher_grades);
    T_RUN(test_chain_selection);
    T_RUN(test_sni);
    T_RUN(test_client_certs);
    T_RUN(test_tickets);
    T_RUN(test_garbage);
    T_RUN(test_client);
    T_RUN(test_check);
    if (getenv("YUBIN_TEST_KEEP"))   /* look at the files and the log afterwards */
        printf("kept %s\n", dir);
    else
        nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    return T_DONE();
}
