/*
 * tls_server.c - the SMTP server's TLS context (smtpd_tls_* parameters):
 * security policy, protocols and cipher grades (mandatory ones when TLS is
 * required), server chains, client certificate requests, DH and curves,
 * stateless session tickets, and SNI (tls_server_sni_maps) with one cached
 * SSL_CTX per certificate chain.
 *
 * Session resumption: RFC 5077 / TLS 1.3 stateless tickets whose keys
 * live in this process only. A new key is made every
 * smtpd_tls_session_cache_timeout seconds; tickets sealed with the
 * previous key are still accepted (and renewed) for one more period, so a
 * ticket is good for at least one period and never more than two. Keys
 * never leave memory. Each smtpd process has its own keys, so a client
 * resumes when it reaches the same process again; that is the price of not
 * having Postfix's tlsmgr. smtpd_tls_session_cache_database is accepted
 * and not used: tickets make a server-side cache unnecessary.
 */
#include "lib-tls/tls_int.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#define SNI_CACHE_MAX     256      /* chains loaded on demand (pinned ones do not count) */
#define SNI_RETRY_SECONDS 60       /* after a value failed to load */
#define TICKET_MIN        120      /* Postfix: at least 2 minutes ... */
#define TICKET_MAX        (100 * 86400)   /* ... and at most 100 days */
#define SID_CONTEXT       "yubin/smtpd"

struct ticket_key {
    unsigned char name[16];
    unsigned char cipher_key[EVP_MAX_KEY_LENGTH];
    unsigned char hmac_key[32];
    int64_t created;               /* monotonic seconds */
};

struct sni_entry {
    unsigned char digest[32];      /* SHA-256 of the table value */
    SSL_CTX *ctx;                  /* NULL: failed to load at `failed_at` */
    int64_t failed_at;
    uint64_t used;                 /* LRU clock */
    int pinned;                    /* preloaded from a runtime table */
};

struct tls_server {
    SSL_CTX *ctx;
    struct tls_smtpd_policy policy;
    const EVP_MD *fpt_md;
    int fast_shutdown;
    int verify_depth;
    EVP_PKEY *dh;                  /* smtpd_tls_dh1024_param_file, NULL: automatic */
    /* tickets */
    EVP_CIPHER *ticket_cipher;
    int64_t ticket_lifetime;       /* seconds, 0: no tickets */
    struct ticket_key keys[2];     /* [0] current, [1] previous */
    int nkeys;
    /* SNI */
    struct table **sni_tables;
    size_t nsni_tables;
    struct sni_entry *sni;
    size_t nsni, sni_cap;
    uint64_t sni_clock;
};

static int64_t mono_sec(void)
{
    return (int64_t)(mono_msec() / 1000);
}

/* ------------------------------------------------------------------ */
/* policy                                                              */

static int policy_build(const struct config *cfg, struct tls_smtpd_policy *p,
                        struct tls_report *r)
{
    memset(p, 0, sizeof(*p));
    const char *lev = cfg_get(cfg, P_smtpd_tls_security_level);
    if (lev && *lev) {
        int l = tls_level_parse(lev);
        int dane = str_ieq(lev, "dane") || str_ieq(lev, "dane-only");
        if (l < 0 && !dane) {
            tls_report(r, 1, "smtpd_tls_security_level", "invalid smtpd_tls_security_level "
                       "value: \"%s\" (use none, may or encrypt)", lev);
            return -1;
        }
        if (dane || l > TLS_LEV_ENCRYPT) {
            tls_report(r, 0, "smtpd_tls_security_level", "smtpd_tls_security_level = %s is "
                       "not supported by the SMTP server: using \"encrypt\"", lev);
            l = TLS_LEV_ENCRYPT;
        }
        p->level = (enum tls_level)l;
    } else if (cfg_get_bool(cfg, P_smtpd_enforce_tls)) {
        p->level = TLS_LEV_ENCRYPT;
    } else if (cfg_get_bool(cfg, P_smtpd_use_tls)) {
        p->level = TLS_LEV_MAY;
    } else {
        p->level = TLS_LEV_NONE;
    }
    p->wrappermode = cfg_get_bool(cfg, P_smtpd_tls_wrappermode);
    if (p->wrappermode)
        p->level = TLS_LEV_ENCRYPT;   /* the security level is ignored: TLS from the start */
    int req = cfg_get_bool(cfg, P_smtpd_tls_req_ccert);
    if (req && p->level < TLS_LEV_ENCRYPT && p->level > TLS_LEV_NONE)
        tls_report(r, 0, "smtpd_tls_req_ccert", "smtpd_tls_req_ccert = yes requires "
                   "smtpd_tls_security_level = encrypt: ignored");
    p->require_ccert = req && p->level >= TLS_LEV_ENCRYPT;
    p->ask_ccert = cfg_get_bool(cfg, P_smtpd_tls_ask_ccert) || p->require_ccert;
    p->auth_only = cfg_get_bool(cfg, P_smtpd_tls_auth_only) || p->level >= TLS_LEV_ENCRYPT;
    p->received_header = cfg_get_bool(cfg, P_smtpd_tls_received_header);
    p->starttls_timeout_ms = cfg_get_time_ms(cfg, P_smtpd_starttls_timeout);
    p->loglevel = (int)cfg_get_int(cfg, P_smtpd_tls_loglevel);
    return 0;
}

int tls_smtpd_policy(const struct config *cfg, struct tls_smtpd_policy *p, char *err,
                     size_t errlen)
{
    struct tls_report r = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    return policy_build(cfg, p, &r);
}

/* ------------------------------------------------------------------ */
/* session tickets                                                     */

static int ticket_key_new(struct tls_server *s, struct ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 ||
        RAND_priv_bytes(k->cipher_key, sizeof(k->cipher_key)) != 1 ||
        RAND_priv_bytes(k->hmac_key, sizeof(k->hmac_key)) != 1)
        return -1;
    (void)s;
    k->created = mono_sec();
    return 0;
}

/* The key to seal new tickets with, rotating when it is one period old. */
static struct ticket_key *ticket_key_current(struct tls_server *s)
{
    int64_t now = mono_sec();
    if (s->nkeys == 0 || now >= s->keys[0].created + s->ticket_lifetime) {
        struct ticket_key fresh;
        if (ticket_key_new(s, &fresh) < 0)
            return NULL;
        if (s->nkeys > 0)
            s->keys[1] = s->keys[0];
        s->keys[0] = fresh;
        OPENSSL_cleanse(&fresh, sizeof(fresh));
        s->nkeys = s->nkeys > 0 ? 2 : 1;
    }
    return &s->keys[0];
}

static int ticket_mac_init(EVP_MAC_CTX *hctx, struct ticket_key *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k->hmac_key, sizeof(k->hmac_key)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params);
}

static int ticket_cb(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *ectx,
                     EVP_MAC_CTX *hctx, int enc)
{
    struct tls_server *s = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    if (!s || !s->ticket_lifetime)
        return 0;
    if (enc) {
        struct ticket_key *k = ticket_key_current(s);
        int ivlen = EVP_CIPHER_get_iv_length(s->ticket_cipher);
        if (!k || ivlen < 0 || ivlen > EVP_MAX_IV_LENGTH || RAND_bytes(iv, ivlen) != 1)
            return 0;   /* no ticket this time */
        memcpy(name, k->name, sizeof(k->name));
        if (!EVP_EncryptInit_ex(ectx, s->ticket_cipher, NULL, k->cipher_key, iv) ||
            !ticket_mac_init(hctx, k))
            return -1;
        return 1;
    }
    int64_t now = mono_sec();
    for (int i = 0; i < s->nkeys; i++) {
        struct ticket_key *k = &s->keys[i];
        if (memcmp(name, k->name, sizeof(k->name)) != 0)
            continue;
        if (now >= k->created + 2 * s->ticket_lifetime)
            return 0;   /* expired key: full handshake */
        if (!ticket_mac_init(hctx, k) ||
            !EVP_DecryptInit_ex(ectx, s->ticket_cipher, NULL, k->cipher_key, iv))
            return -1;
        /* 2: valid, but issue a new ticket under the current key. */
        return i == 0 && now < k->created + s->ticket_lifetime ? 1 : 2;
    }
    return 0;
}

static int tickets_setup(struct tls_server *s, const struct config *cfg, struct tls_report *r)
{
    long long t = cfg_get_time(cfg, P_smtpd_tls_session_cache_timeout);
    if (t <= 0) {
        s->ticket_lifetime = 0;
    } else {
        if (t < TICKET_MIN)
            t = TICKET_MIN;
        if (t > TICKET_MAX) {
            tls_report(r, 0, "smtpd_tls_session_cache_timeout", "smtpd_tls_session_cache_timeout"
                       " is more than 100 days: using 100 days");
            t = TICKET_MAX;
        }
        s->ticket_lifetime = t;
        const char *cname = cfg_get(cfg, P_tls_session_ticket_cipher);
        s->ticket_cipher = cname && *cname ? EVP_CIPHER_fetch(NULL, cname, NULL) : NULL;
        if (s->ticket_cipher && ((EVP_CIPHER_get_flags(s->ticket_cipher) & EVP_CIPH_FLAG_AEAD_CIPHER) ||
                                 EVP_CIPHER_get_key_length(s->ticket_cipher) > EVP_MAX_KEY_LENGTH ||
                                 EVP_CIPHER_get_key_length(s->ticket_cipher) < 16 ||
                                 EVP_CIPHER_get_iv_length(s->ticket_cipher) > EVP_MAX_IV_LENGTH)) {
            EVP_CIPHER_free(s->ticket_cipher);
            s->ticket_cipher = NULL;
        }
        if (!s->ticket_cipher) {
            ERR_clear_error();
            tls_report(r, 0, "tls_session_ticket_cipher", "tls_session_ticket_cipher = %s is "
                       "not a usable cipher: TLS session tickets are disabled",
                       cname ? cname : "");
            s->ticket_lifetime = 0;
        }
    }
    if (s->ticket_lifetime) {
        SSL_CTX_set_tlsext_ticket_key_evp_cb(s->ctx, ticket_cb);
        SSL_CTX_set_timeout(s->ctx, (long)s->ticket_lifetime);
        /* Session IDs are still issued (smtpd_tls_always_issue_session_ids)
         * but nothing is stored under them: resumption is by ticket. */
        long mode = cfg_get_bool(cfg, P_smtpd_tls_always_issue_session_ids)
                        ? SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL
                        : SSL_SESS_CACHE_OFF;
        SSL_CTX_set_session_cache_mode(s->ctx, mode);
    } else {
        SSL_CTX_set_options(s->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_num_tickets(s->ctx, 0);
        SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* context pieces                                                      */

static int dh_setup(struct tls_server *s, const struct config *cfg, struct tls_report *r)
{
    const char *file = cfg_get(cfg, P_smtpd_tls_dh1024_param_file);
    if (!file || !*file || strcmp(file, "auto") == 0)
        return 0;
    size_t len;
    char *pem = tls_read_pem(file, "smtpd_tls_dh1024_param_file", &len, r);
    if (!pem)
        return -1;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *dh = bio ? PEM_read_bio_Parameters(bio, NULL) : NULL;
    BIO_free(bio);
    free(pem);
    if (!dh || EVP_PKEY_get_base_id(dh) != EVP_PKEY_DH) {
        tls_report(r, 0, "smtpd_tls_dh1024_param_file", "smtpd_tls_dh1024_param_file %s: no DH "
                   "parameters: using OpenSSL's automatic choice", file);
        EVP_PKEY_free(dh);
        ERR_clear_error();
        return 0;
    }
    s->dh = dh;
    return 0;
}

/* What every server context (default and SNI) needs besides its certificates. */
static void ctx_shared(struct tls_server *s, SSL_CTX *ctx)
{
    SSL_CTX_set_app_data(ctx, s);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)SID_CONTEXT, strlen(SID_CONTEXT));
    if (s->dh && EVP_PKEY_up_ref(s->dh)) {
        if (!SSL_CTX_set0_tmp_dh_pkey(ctx, s->dh))
            EVP_PKEY_free(s->dh);
    } else {
        SSL_CTX_set_dh_auto(ctx, 1);
    }
    if (s->ticket_lifetime)
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}

/* A context for one SNI chain: shares the default context's trust store
 * and CA names (SSL_set_SSL_CTX switches those too). */
static SSL_CTX *sni_ctx_new(struct tls_server *s, const char *pem, size_t len, const char *label,
                            struct tls_report *r)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        msg_fatal("SSL_CTX_new: out of memory");
    tls_ctx_common(ctx);
    SSL_CTX_set_security_level(ctx, SSL_CTX_get_security_level(s->ctx));
    ctx_shared(s, ctx);
    SSL_CTX_set1_cert_store(ctx, SSL_CTX_get_cert_store(s->ctx));
    STACK_OF(X509_NAME) *cas = SSL_CTX_get_client_CA_list(s->ctx);
    if (cas && sk_X509_NAME_num(cas) > 0)
        SSL_CTX_set_client_CA_list(ctx, SSL_dup_CA_list(cas));
    struct tls_pem_src src = {label, pem, len};
    if (tls_load_chains(ctx, &src, 1, "tls_server_sni_maps", r) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* ------------------------------------------------------------------ */
/* SNI                                                                 */

/* A plausible DNS name: LDH labels, no empty label, at most 253 bytes. */
static int sni_valid(const char *name)
{
    size_t n = strlen(name), label = 0;
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (ch == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                   (ch >= '0' && ch <= '9') || ch == '-' || ch == '_') {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static void value_digest(const char *value, unsigned char out[32])
{
    unsigned int n = 0;
    if (!EVP_Digest(value, strlen(value), out, &n, EVP_sha256(), NULL))
        memset(out, 0, 32);
}

static struct sni_entry *sni_find(struct tls_server *s, const unsigned char d[32])
{
    for (size_t i = 0; i < s->nsni; i++)
        if (memcmp(s->sni[i].digest, d, 32) == 0)
            return &s->sni[i];
    return NULL;
}

/* A slot for a new entry, evicting the least recently used unpinned one. */
static struct sni_entry *sni_slot(struct tls_server *s)
{
    size_t unpinned = 0, victim = SIZE_MAX;
    for (size_t i = 0; i < s->nsni; i++)
        if (!s->sni[i].pinned) {
            unpinned++;
            if (victim == SIZE_MAX || s->sni[i].used < s->sni[victim].used)
                victim = i;
        }
    if (unpinned >= SNI_CACHE_MAX && victim != SIZE_MAX) {
        SSL_CTX_free(s->sni[victim].ctx);   /* connections using it hold a reference */
        memset(&s->sni[victim], 0, sizeof(s->sni[victim]));
        return &s->sni[victim];
    }
    if (s->nsni == s->sni_cap) {
        s->sni_cap = s->sni_cap ? s->sni_cap * 2 : 16;
        s->sni = xrealloc(s->sni, s->sni_cap * sizeof(*s->sni));
    }
    struct sni_entry *e = &s->sni[s->nsni++];
    memset(e, 0, sizeof(*e));
    return e;
}

/* The context for a table value, loading it if needed; NULL on errors (reported). */
static SSL_CTX *sni_ctx_for(struct tls_server *s, const char *value, const char *what,
                            int pin, struct tls_report *r)
{
    unsigned char d[32];
    value_digest(value, d);
    struct sni_entry *e = sni_find(s, d);
    int64_t now = mono_sec();
    if (e && (e->ctx || now < e->failed_at + SNI_RETRY_SECONDS)) {
        e->used = ++s->sni_clock;
        if (!e->ctx)
            tls_report(r, 1, "tls_server_sni_maps", "%s: the certificate chain did not load "
                       "(see earlier warnings)", what);
        return e->ctx;
    }
    char *pem;
    size_t len;
    SSL_CTX *ctx = NULL;
    if (tls_sni_value_pem(value, what, &pem, &len, r) == 0) {
        ctx = sni_ctx_new(s, pem, len, what, r);
        OPENSSL_cleanse(pem, len);
        free(pem);
    }
    if (!e)
        e = sni_slot(s);
    memcpy(e->digest, d, 32);
    e->ctx = ctx;
    e->failed_at = ctx ? 0 : now;
    e->used = ++s->sni_clock;
    e->pinned = pin;
    return ctx;
}

static int sni_callback(SSL *ssl, int *alert, void *arg)
{
    struct tls_server *s = arg;
    struct tls_conn *c = SSL_get_ex_data(ssl, tls_conn_index);
    const char *raw = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!raw || !*raw || !c)
        return SSL_TLSEXT_ERR_NOACK;
    char name[TLS_NAME_MAX];
    size_t n = strlen(raw);
    if (!sni_valid(raw) || n >= sizeof(name)) {
        for (size_t i = 0; i < sizeof(name) - 1 && raw[i]; i++)
            name[i] = raw[i] > 0x20 && raw[i] < 0x7f ? raw[i] : '?';
        name[n < sizeof(name) - 1 ? n : sizeof(name) - 1] = '\0';
        msg_warn("TLS SNI from %s is invalid: %s", c->namaddr, name);
        return SSL_TLSEXT_ERR_NOACK;
    }
    str_copy(name, raw, sizeof(name));
    str_lower(name);
    struct buf value;
    buf_init(&value, TABLE_VALUE_MAX + 1);
    int found = TABLE_NOTFOUND;
    /* The name, then ".parent" for each ancestor domain (Postfix). */
    for (const char *key = name; key && found == TABLE_NOTFOUND; key = strchr(key + 1, '.'))
        for (size_t i = 0; i < s->nsni_tables && found == TABLE_NOTFOUND; i++) {
            buf_reset(&value);
            found = table_lookup(s->sni_tables[i], key, &value);
        }
    if (found == TABLE_TEMPFAIL) {
        msg_warn("TLS SNI %s from %s: tls_server_sni_maps lookup error: aborting the handshake",
                 name, c->namaddr);
        buf_free(&value);
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (found != TABLE_FOUND) {
        msg_info("TLS SNI %s from %s not matched, using default chain", name, c->namaddr);
        buf_free(&value);
        return SSL_TLSEXT_ERR_NOACK;
    }
    char what[TLS_NAME_MAX + 40];
    str_fmt(what, sizeof(what), "tls_server_sni_maps %s", name);
    struct tls_report r = {0};   /* problems are logged */
    SSL_CTX *ctx = sni_ctx_for(s, buf_cstr(&value), what, 0, &r);
    buf_free(&value);
    if (!ctx) {
        msg_warn("TLS SNI %s from %s: no usable certificate chain: aborting the handshake", name,
                 c->namaddr);
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    free(c->sni);
    c->sni = xstrdup(name);
    return SSL_TLSEXT_ERR_OK;
}

/* Types whose values are lists of files, read when the table is opened. */
static int sni_runtime_table(const struct table *t)
{
    static const char *const indexed[] = {"hash", "lmdb", "btree", "cdb", "dbm", "sdbm",
                                          "sqlite", "mysql", "pgsql", "ldap"};
    const char *type = table_type(t);
    for (size_t i = 0; i < ARRAY_LEN(indexed); i++)
        if (str_ieq(type, indexed[i]))
            return 0;
    return 1;
}

struct sni_preload {
    struct tls_server *s;
    struct table *t;
    struct tls_report *r;
    int pin;
    int failed;
};

static int sni_preload_one(const char *key, const char *value, void *arg)
{
    struct sni_preload *p = arg;
    char what[TLS_NAME_MAX + 80];
    str_fmt(what, sizeof(what), "tls_server_sni_maps %s entry \"%.*s\"", table_spec(p->t),
            TLS_NAME_MAX / 2, key);
    const char *k = key[0] == '.' ? key + 1 : key;
    if (!sni_valid(k))
        tls_report(p->r, 0, "tls_server_sni_maps", "%s: not a domain name or .domain: never "
                   "matches", what);
    if (!sni_ctx_for(p->s, value, what, p->pin, p->r))
        p->failed = 1;
    return 0;
}

/*
 * Open tls_server_sni_maps. Entries of runtime tables (inline:,
 * texthash: ...) name files that are read now, while the process still
 * has the privileges to read keys; check mode also loads every entry of
 * indexed tables.
 */
static int sni_setup(struct tls_server *s, const struct config *cfg, struct tls_report *r)
{
    char **specs = cfg_get_list(cfg, P_tls_server_sni_maps);
    int rc = 0;
    for (size_t i = 0; specs[i] && rc == 0; i++) {
        char err[512];
        struct table *t = table_open(specs[i], cfg, err, sizeof(err));
        if (!t) {
            tls_report(r, 1, "tls_server_sni_maps", "tls_server_sni_maps: %s", err);
            rc = -1;
            break;
        }
        s->sni_tables = xrealloc(s->sni_tables, (s->nsni_tables + 1) * sizeof(*s->sni_tables));
        s->sni_tables[s->nsni_tables++] = t;
        int runtime = sni_runtime_table(t);
        if (!runtime && !r->check)
            continue;
        struct sni_preload p = {.s = s, .t = t, .r = r, .pin = runtime};
        if (table_iterate(t, sni_preload_one, &p, err, sizeof(err)) < 0 && runtime &&
            !(table_flags(t) & TABLE_F_PATTERN))
            tls_report(r, 0, "tls_server_sni_maps", "tls_server_sni_maps %s: %s: files are read "
                       "when a client asks for them", specs[i], err);
        if (p.failed)
            rc = -1;
    }
    strv_free(specs);
    if (rc == 0 && s->nsni_tables) {
        SSL_CTX_set_tlsext_servername_callback(s->ctx, sni_callback);
        SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* the server                                                          */

static struct tls_server *server_build(const struct config *cfg, struct tls_report *r)
{
    tls_lib_init();
    struct tls_server *s = xcalloc(1, sizeof(*s));
    if (policy_build(cfg, &s->policy, r) < 0) {
        free(s);
        return NULL;
    }
    s->ctx = SSL_CTX_new(TLS_server_method());
    if (!s->ctx)
        msg_fatal("SSL_CTX_new: out of memory");
    tls_ctx_common(s->ctx);
    int enforce = s->policy.level >= TLS_LEV_ENCRYPT;
    int ok = 1;

    /* Protocols and ciphers: the mandatory set when TLS is required. */
    const char *pparam = enforce ? "smtpd_tls_mandatory_protocols" : "smtpd_tls_protocols";
    struct tls_protocols prot;
    if (tls_parse_protocols(cfg_get_by_name(cfg, TLS_PARAM(pparam)), pparam, &prot, r) < 0 ||
        tls_ctx_set_protocols(s->ctx, &prot) < 0)
        ok = 0;
    const char *gparam = enforce ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers";
    const char *excl[] = {"smtpd_tls_exclude_ciphers",
                          enforce ? "smtpd_tls_mandatory_exclude_ciphers" : NULL, NULL};
    struct tls_ciphers ciphers;
    if (ok && tls_cipher_setup(cfg, gparam, excl, s->policy.ask_ccert, &ciphers, r) == 0) {
        if (!SSL_CTX_set_cipher_list(s->ctx, ciphers.list) ||
            !SSL_CTX_set_ciphersuites(s->ctx, ciphers.suites)) {
            tls_report(r, 1, gparam, "%s: no usable cipher in \"%s\" (after the exclusions)",
                       gparam, ciphers.list);
            ok = 0;
        }
        tls_ciphers_free(&ciphers);
    } else {
        ok = 0;
    }
    ERR_clear_error();
    if (cfg_get_bool(cfg, P_tls_preempt_cipherlist))
        SSL_CTX_set_options(s->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
    tls_ctx_set_curves(s->ctx, cfg, r);
    /* The remaining steps are independent: run them all, so that
     * `yubin check` reports every problem at once. */
    if (dh_setup(s, cfg, r) < 0)
        ok = 0;
    if (tickets_setup(s, cfg, r) < 0)
        ok = 0;
    ctx_shared(s, s->ctx);

    /* Certificates: the server chains, the CAs for client certificates. */
    int n = tls_load_configured_certs(s->ctx, cfg, "smtpd", r);
    const char *cf = cfg_get(cfg, P_smtpd_tls_cert_file);
    if (n < 0) {
        ok = 0;
    } else if (n == 0 && !(cf && strcmp(cf, "none") == 0)) {
        tls_report(r, 1, "smtpd_tls_chain_files", "no server certificate: set "
                   "smtpd_tls_chain_files (or smtpd_tls_cert_file and smtpd_tls_key_file)");
        ok = 0;
    }
    if (tls_ctx_load_cas(s->ctx, cfg, "smtpd", 1, r) < 0)
        ok = 0;
    if (s->policy.ask_ccert) {
        int mode = SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE;
        if (s->policy.require_ccert)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(s->ctx, mode, tls_verify_cb);
    }
    long long depth = cfg_get_int(cfg, P_smtpd_tls_ccert_verifydepth);
    s->verify_depth = depth < 0 ? 0 : depth > 100 ? 100 : (int)depth;
    /* One more than Postfix's depth so tls_verify_cb sees and names the excess. */
    SSL_CTX_set_verify_depth(s->ctx, s->verify_depth + 1);
    if (!(s->fpt_md = tls_digest(cfg, "smtpd_tls_fingerprint_digest", r)))
        ok = 0;
    s->fast_shutdown = cfg_get_bool(cfg, P_tls_fast_shutdown_enable);
    if (s->policy.loglevel >= 2)
        SSL_CTX_set_info_callback(s->ctx, tls_info_cb);
    if (sni_setup(s, cfg, r) < 0)
        ok = 0;
    ERR_clear_error();
    if (!ok) {
        tls_server_free(s);
        return NULL;
    }
    return s;
}

struct tls_server *tls_server_new(const struct config *cfg, char *err, size_t errlen)
{
    struct tls_report r = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    return server_build(cfg, &r);
}

void tls_server_free(struct tls_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nsni; i++)
        SSL_CTX_free(s->sni[i].ctx);
    free(s->sni);
    for (size_t i = 0; i < s->nsni_tables; i++)
        table_close(s->sni_tables[i]);
    free(s->sni_tables);
    SSL_CTX_free(s->ctx);
    EVP_PKEY_free(s->dh);
    EVP_CIPHER_free(s->ticket_cipher);
    OPENSSL_cleanse(s->keys, sizeof(s->keys));
    free(s);
}

void tls_server_age_tickets(struct tls_server *s, long long seconds)
{
    for (int i = 0; i < s->nkeys; i++)
        s->keys[i].created -= seconds;
}

int tls_server_loglevel(const struct tls_server *s)
{
    return s->policy.loglevel;
}

struct tls_conn *tls_accept(struct tls_server *s, int fd, const char *namaddr)
{
    struct tls_conn *c = tls_conn_new(s->ctx, fd, 1, namaddr);
    c->loglevel = s->policy.loglevel;
    c->fast_shutdown = s->fast_shutdown;
    c->verify_depth = s->verify_depth;
    c->require_trusted = s->policy.require_ccert;
    c->ask_ccert = s->policy.ask_ccert;
    c->fpt_md = s->fpt_md;
    SSL_set_accept_state(c->ssl);
    return c;
}

/* ------------------------------------------------------------------ */
/* yubin check                                                         */

static void ignore_report(void *arg, int is_error, const char *param, const char *text)
{
    (void)arg, (void)is_error, (void)param, (void)text;
}

int tls_check_server(const struct config *cfg, tls_check_fn fn, void *arg)
{
    struct tls_report r = {.fn = fn, .arg = arg, .check = 1};
    struct tls_smtpd_policy p;
    struct tls_report quiet = {.fn = ignore_report};
    if (policy_build(cfg, &p, &quiet) == 0 && p.level == TLS_LEV_NONE)
        return 0;   /* TLS is not used: nothing to check */
    struct tls_server *s = server_build(cfg, &r);
    tls_server_free(s);
    return r.errors;
}
