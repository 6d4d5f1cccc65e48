/*
 * scheme.c - password schemes: verification, generation, and the
 * credentials CRAM-MD5 and SCRAM-SHA-256 need. See scheme.h for the
 * stored formats.
 *
 * crypt(3) schemes go through libxcrypt's crypt_rn (reentrant, NULL on
 * failure instead of a "*0" string); Argon2 through libargon2 (OpenSSL
 * 3.0 has no Argon2 KDF; it arrived in 3.2); digests, HMAC, PBKDF2 and
 * random bytes through OpenSSL.
 */
#define OPENSSL_SUPPRESS_DEPRECATED /* MD5_CTX: CRAM-MD5 contexts are raw MD5 states */
#include "auth/scheme.h"
#include "lib/base64.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-table/ldap_conn.h"

#include <argon2.h>
#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/rand.h>

enum kind {
    K_CRYPT,     /* crypt(3); prefix restricts the accepted settings */
    K_ARGON2,
    K_DIGEST,    /* H(password) */
    K_SDIGEST,   /* H(password || salt) || salt */
    K_PLAIN,
    K_CRAM,
    K_SCRAM,
};

enum enc { ENC_DEFAULT, ENC_B64, ENC_HEX };

struct scheme_def {
    const char *name;
    enum kind kind;
    const char *arg;   /* crypt: required prefix(es) "|"-separated; digest: OpenSSL name; argon2: variant */
    int generate;
};

static const struct scheme_def schemes[] = {
    {"SHA512-CRYPT", K_CRYPT, "$6$", 1},
    {"SHA256-CRYPT", K_CRYPT, "$5$", 1},
    {"BLF-CRYPT", K_CRYPT, "$2y$|$2b$|$2a$", 1},
    {"MD5-CRYPT", K_CRYPT, "$1$", 0},
    {"DES-CRYPT", K_CRYPT, "", 0},
    {"CRYPT", K_CRYPT, "", 0},
    {"ARGON2ID", K_ARGON2, "argon2id", 1},
    {"ARGON2I", K_ARGON2, "argon2i", 1},
    {"SSHA512", K_SDIGEST, "SHA512", 1},
    {"SSHA256", K_SDIGEST, "SHA256", 0},
    {"SSHA", K_SDIGEST, "SHA1", 0},
    {"SHA512", K_DIGEST, "SHA512", 0},
    {"SHA256", K_DIGEST, "SHA256", 0},
    {"SHA1", K_DIGEST, "SHA1", 0},
    {"SHA", K_DIGEST, "SHA1", 0},
    {"PLAIN", K_PLAIN, NULL, 1},
    {"CLEAR", K_PLAIN, NULL, 1},
    {"CLEARTEXT", K_PLAIN, NULL, 1},
    {"CRAM-MD5", K_CRAM, NULL, 1},
    {"HMAC-MD5", K_CRAM, NULL, 1},
    {"SCRAM-SHA-256", K_SCRAM, NULL, 1},
};

/* Largest accepted stored value and password: far beyond any real one. */
#define STORED_MAX   4096
#define PASSWORD_MAX 4096
/* Argon2 parameters a stored value may ask for (memory in KiB). */
#define ARGON2_M_MAX (1u << 20)
#define ARGON2_T_MAX 64u
#define ARGON2_P_MAX 16u

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        str_copy(err, msg, errlen);
}

int auth_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    /* Hash both so the comparison is fixed-size and leaks no length. */
    unsigned char da[32], db[32];
    unsigned int n;
    EVP_Digest(a, alen, da, &n, EVP_sha256(), NULL);
    EVP_Digest(b, blen, db, &n, EVP_sha256(), NULL);
    int eq = CRYPTO_memcmp(da, db, sizeof(da)) == 0;
    OPENSSL_cleanse(da, sizeof(da));
    OPENSSL_cleanse(db, sizeof(db));
    return eq && alen == blen;
}

/* ------------------------------------------------------------------ */
/* names                                                               */

static const struct scheme_def *find_scheme(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(schemes); i++)
        if (str_ieq(name, schemes[i].name))
            return &schemes[i];
    return NULL;
}

/* "SHA512.HEX" -> name "SHA512", ENC_HEX. -1 on an unknown suffix. */
static int split_encoding(const char *full, char *name, size_t namelen, enum enc *enc)
{
    if (str_copy(name, full, namelen) >= namelen)
        return -1;
    *enc = ENC_DEFAULT;
    char *dot = strchr(name, '.');
    if (!dot)
        return 0;
    *dot = '\0';
    const char *suffix = dot + 1;
    if (str_ieq(suffix, "HEX"))
        *enc = ENC_HEX;
    else if (str_ieq(suffix, "B64") || str_ieq(suffix, "BASE64"))
        *enc = ENC_B64;
    else
        return -1;
    return 0;
}

int auth_scheme_known(const char *scheme)
{
    char name[SCHEME_NAME_MAX];
    enum enc enc;
    return split_encoding(scheme, name, sizeof(name), &enc) == 0 && find_scheme(name) != NULL;
}

int auth_scheme_can_generate(const char *scheme)
{
    char name[SCHEME_NAME_MAX];
    enum enc enc;
    if (split_encoding(scheme, name, sizeof(name), &enc) < 0)
        return 0;
    const struct scheme_def *d = find_scheme(name);
    return d && d->generate;
}

const char *auth_scheme_names(void)
{
    static char list[512];
    if (!list[0]) {
        size_t off = 0;
        for (size_t i = 0; i < ARRAY_LEN(schemes); i++) {
            int n = snprintf(list + off, sizeof(list) - off, "%s%s", i ? " " : "", schemes[i].name);
            if (n < 0 || (size_t)n >= sizeof(list) - off)
                break;
            off += (size_t)n;
        }
    }
    return list;
}

/* The scheme of a bare value (no "{...}"). */
static const char *implicit_scheme(const char *data, const char *default_scheme)
{
    if (strncmp(data, "$argon2id$", 10) == 0)
        return "ARGON2ID";
    if (strncmp(data, "$argon2i$", 9) == 0)
        return "ARGON2I";
    return default_scheme && *default_scheme ? default_scheme : "CRYPT";
}

/* Full split keeping the encoding suffix: "{SSHA512.HEX}x" -> "SSHA512.HEX", "x". */
static int split_full(const char *stored, const char *default_scheme, char *scheme,
                      size_t schemelen, const char **data)
{
    if (stored[0] == '{') {
        const char *end = strchr(stored, '}');
        if (!end || end == stored + 1 || (size_t)(end - stored - 1) >= schemelen)
            return -1;
        for (const char *p = stored + 1; p < end; p++)
            if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
                return -1;
        memcpy(scheme, stored + 1, (size_t)(end - stored - 1));
        scheme[end - stored - 1] = '\0';
        *data = end + 1;
    } else {
        if (str_copy(scheme, implicit_scheme(stored, default_scheme), schemelen) >= schemelen)
            return -1;
        *data = stored;
    }
    for (char *p = scheme; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return 0;
}

int auth_scheme_split(const char *stored, const char *default_scheme, char *scheme, size_t schemelen,
                 const char **data)
{
    char full[SCHEME_NAME_MAX];
    enum enc enc;
    if (split_full(stored, default_scheme, full, sizeof(full), data) < 0 ||
        split_encoding(full, scheme, schemelen, &enc) < 0)
        return -1;
    return 0;
}

/* Resolve stored -> definition, encoding and data. */
static const struct scheme_def *resolve(const char *stored, const char *default_scheme,
                                        enum enc *enc, const char **data, char *err,
                                        size_t errlen)
{
    char full[SCHEME_NAME_MAX], name[SCHEME_NAME_MAX];
    if (strlen(stored) > STORED_MAX) {
        set_err(err, errlen, "stored password is too long");
        return NULL;
    }
    if (split_full(stored, default_scheme, full, sizeof(full), data) < 0 ||
        split_encoding(full, name, sizeof(name), enc) < 0) {
        set_err(err, errlen, "malformed {SCHEME} prefix");
        return NULL;
    }
    const struct scheme_def *d = find_scheme(name);
    if (!d) {
        char msg[96];
        snprintf(msg, sizeof(msg), "unknown password scheme %s", name);
        set_err(err, errlen, msg);
    }
    return d;
}

/* ------------------------------------------------------------------ */
/* encodings                                                           */

/* Decode hex; returns length or -1. */
static long hex_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax)
{
    if (inlen % 2 || inlen / 2 > outmax)
        return -1;
    for (size_t i = 0; i < inlen; i += 2) {
        int hi = hex_value((unsigned char)in[i]), lo = hex_value((unsigned char)in[i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (long)(inlen / 2);
}

static void hex_encode(struct buf *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        buf_putc(out, digits[p[i] >> 4]);
        buf_putc(out, digits[p[i] & 15]);
    }
}

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hex_value((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* crypt(3)                                                            */

static int prefix_allowed(const char *data, const char *prefixes)
{
    if (!*prefixes)
        return 1;
    const char *p = prefixes;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (strncmp(data, p, n) == 0)
            return 1;
        p += n + (bar ? 1 : 0);
    }
    return 0;
}

static int verify_crypt(const struct scheme_def *d, const char *data, const char *pw, size_t pwlen,
                        char *err, size_t errlen)
{
    if (!prefix_allowed(data, d->arg) || !*data) {
        set_err(err, errlen, "malformed crypt value for its scheme");
        return SCHEME_ERROR;
    }
    if (strcmp(d->name, "DES-CRYPT") == 0 && strlen(data) != 13) {
        set_err(err, errlen, "malformed DES-CRYPT value");
        return SCHEME_ERROR;
    }
    /* crypt(3) stops at NUL: a password with NUL must not match its prefix. */
    if (memchr(pw, '\0', pwlen))
        return SCHEME_MISMATCH;
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    char *phrase = xstrndup(pw, pwlen);
    const char *h = crypt_rn(phrase, data, cd, (int)sizeof(*cd));
    int rc;
    if (!h || h[0] == '*') {
        set_err(err, errlen, "crypt(3) rejected the stored value");
        rc = SCHEME_ERROR;
    } else {
        rc = auth_secret_equal(h, strlen(h), data, strlen(data)) ? SCHEME_MATCH : SCHEME_MISMATCH;
    }
    OPENSSL_cleanse(phrase, pwlen);
    free(phrase);
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return rc;
}

static char *generate_crypt(const struct scheme_def *d, const char *pw, size_t pwlen,
                            unsigned rounds, char *err, size_t errlen)
{
    if (memchr(pw, '\0', pwlen)) {
        set_err(err, errlen, "crypt(3) schemes cannot store a password containing NUL");
        return NULL;
    }
    char prefix[8];
    const char *bar = strchr(d->arg, '|');
    size_t n = bar ? (size_t)(bar - d->arg) : strlen(d->arg);
    memcpy(prefix, d->arg, n);
    prefix[n] = '\0';
    unsigned long count = rounds;
    if (strcmp(d->name, "BLF-CRYPT") == 0) {
        if (rounds && (rounds < 4 || rounds > 31)) {
            set_err(err, errlen, "BLF-CRYPT cost must be between 4 and 31");
            return NULL;
        }
        if (!rounds)
            count = 5;   /* doveadm pw's default cost */
    } else if (rounds && (rounds < 1000 || rounds > 999999999)) {
        set_err(err, errlen, "crypt rounds must be between 1000 and 999999999");
        return NULL;
    }
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn(prefix, count, NULL, 0, setting, (int)sizeof(setting))) {
        set_err(err, errlen, "crypt_gensalt failed");
        return NULL;
    }
    struct crypt_data *cd = xcalloc(1, sizeof(*cd));
    char *phrase = xstrndup(pw, pwlen);
    const char *h = crypt_rn(phrase, setting, cd, (int)sizeof(*cd));
    char *out = NULL;
    if (!h || h[0] == '*')
        set_err(err, errlen, "crypt(3) failed");
    else
        out = xasprintf("{%s}%s", d->name, h);
    OPENSSL_cleanse(phrase, pwlen);
    free(phrase);
    OPENSSL_cleanse(cd, sizeof(*cd));
    free(cd);
    return out;
}

/* ------------------------------------------------------------------ */
/* Argon2                                                              */

/* "$argon2id$v=19$m=65536,t=3,p=1$salt$hash": check the variant and bound the cost. */
static int argon2_params_ok(const char *data, const char *variant)
{
    size_t vl = strlen(variant);
    if (data[0] != '$' || strncmp(data + 1, variant, vl) != 0 || data[1 + vl] != '$')
        return 0;
    const char *p = data + 2 + vl;
    if (strncmp(p, "v=", 2) == 0) {
        p = strchr(p, '$');
        if (!p)
            return 0;
        p++;
    }
    unsigned long m, t, par;
    int used = 0;
    if (sscanf(p, "m=%lu,t=%lu,p=%lu%n", &m, &t, &par, &used) != 3 || p[used] != '$')
        return 0;
    return m >= 8 && m <= ARGON2_M_MAX && t >= 1 && t <= ARGON2_T_MAX && par >= 1 &&
           par <= ARGON2_P_MAX;
}

static int verify_argon2(const struct scheme_def *d, const char *data, const char *pw,
                         size_t pwlen, char *err, size_t errlen)
{
    if (!argon2_params_ok(data, d->arg)) {
        set_err(err, errlen, "malformed or too costly Argon2 value");
        return SCHEME_ERROR;
    }
    argon2_type t = strcmp(d->arg, "argon2id") == 0 ? Argon2_id : Argon2_i;
    int rc = argon2_verify(data, pw, pwlen, t);
    if (rc == ARGON2_OK)
        return SCHEME_MATCH;
    if (rc == ARGON2_VERIFY_MISMATCH)
        return SCHEME_MISMATCH;
    set_err(err, errlen, argon2_error_message(rc));
    return SCHEME_ERROR;
}

static char *generate_argon2(const struct scheme_def *d, const char *pw, size_t pwlen,
                             unsigned rounds, char *err, size_t errlen)
{
    /* Dovecot's defaults: ARGON2ID m=64 MiB t=3, ARGON2I m=32 MiB t=4; 16-byte salt, 32-byte hash. */
    int id = strcmp(d->arg, "argon2id") == 0;
    uint32_t m = id ? 65536 : 32768, t = rounds ? rounds : (id ? 3 : 4), p = 1;
    if (t > ARGON2_T_MAX) {
        set_err(err, errlen, "Argon2 rounds must be between 1 and 64");
        return NULL;
    }
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        set_err(err, errlen, "no random bytes");
        return NULL;
    }
    size_t enclen = argon2_encodedlen(t, m, p, sizeof(salt), 32, id ? Argon2_id : Argon2_i);
    char *enc = xmalloc(enclen + 1);
    int rc = id ? argon2id_hash_encoded(t, m, p, pw, pwlen, salt, sizeof(salt), 32, enc, enclen)
                : argon2i_hash_encoded(t, m, p, pw, pwlen, salt, sizeof(salt), 32, enc, enclen);
    char *out = NULL;
    if (rc != ARGON2_OK)
        set_err(err, errlen, argon2_error_message(rc));
    else
        out = xasprintf("{%s}%s", d->name, enc);
    free(enc);
    return out;
}

/* ------------------------------------------------------------------ */
/* digests                                                             */

static long decode_binary(const char *data, enum enc enc, size_t expect_unsalted,
                          unsigned char *out, size_t outmax)
{
    size_t n = strlen(data);
    if (enc == ENC_HEX || (enc == ENC_DEFAULT && expect_unsalted && n == expect_unsalted * 2 &&
                           all_hex(data, n)))
        return hex_decode(data, n, out, outmax);
    return base64_decode_to(data, n, out, outmax);
}

static void digest(const char *md_name, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char *out, unsigned *outlen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_get_digestbyname(md_name), NULL) ||
        !EVP_DigestUpdate(ctx, a, alen) || (blen && !EVP_DigestUpdate(ctx, b, blen)) ||
        !EVP_DigestFinal_ex(ctx, out, outlen))
        msg_fatal("OpenSSL digest %s failed", md_name);
    EVP_MD_CTX_free(ctx);
}

static int verify_digest(const struct scheme_def *d, enum enc enc, const char *data,
                         const char *pw, size_t pwlen, char *err, size_t errlen)
{
    const EVP_MD *md = EVP_get_digestbyname(d->arg);
    size_t mdlen = (size_t)EVP_MD_get_size(md);
    unsigned char stored[EVP_MAX_MD_SIZE + 256];
    long n = decode_binary(data, enc, d->kind == K_DIGEST ? mdlen : 0, stored, sizeof(stored));
    if (n < 0 || (d->kind == K_DIGEST && (size_t)n != mdlen) ||
        (d->kind == K_SDIGEST && (size_t)n <= mdlen)) {
        set_err(err, errlen, "malformed digest value for its scheme");
        return SCHEME_ERROR;
    }
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl;
    if (d->kind == K_DIGEST)
        digest(d->arg, pw, pwlen, NULL, 0, h, &hl);
    else
        digest(d->arg, pw, pwlen, stored + mdlen, (size_t)n - mdlen, h, &hl);
    int eq = CRYPTO_memcmp(h, stored, mdlen) == 0;
    OPENSSL_cleanse(h, sizeof(h));
    return eq ? SCHEME_MATCH : SCHEME_MISMATCH;
}

static char *generate_sdigest(const struct scheme_def *d, enum enc enc, const char *full,
                              const char *pw, size_t pwlen, char *err, size_t errlen)
{
    unsigned char raw[EVP_MAX_MD_SIZE + 16];
    unsigned hl;
    const size_t saltlen = 16;
    unsigned char salt[16];
    if (RAND_bytes(salt, sizeof(salt)) != 1) {
        set_err(err, errlen, "no random bytes");
        return NULL;
    }
    digest(d->arg, pw, pwlen, salt, saltlen, raw, &hl);
    memcpy(raw + hl, salt, saltlen);
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "{%s}", full);
    if (enc == ENC_HEX)
        hex_encode(&b, raw, hl + saltlen);
    else
        base64_encode(&b, raw, hl + saltlen);
    return b.data;
}

/* ------------------------------------------------------------------ */
/* PLAIN                                                               */

/* Decode a PLAIN value per its encoding into out (may contain NUL). */
static int plain_decode(const char *data, enum enc enc, struct buf *out)
{
    size_t n = strlen(data);
    if (enc == ENC_HEX) {
        if (n % 2 || buf_reserve(out, n / 2) < 0)
            return -1;
        long r = hex_decode(data, n, (unsigned char *)out->data + out->len, n / 2);
        if (r < 0)
            return -1;
        out->len += (size_t)r;
        out->data[out->len] = '\0';
        return 0;
    }
    if (enc == ENC_B64)
        return base64_decode(data, n, out);
    return buf_append(out, data, n);
}

/* ------------------------------------------------------------------ */
/* CRAM-MD5                                                            */

static void put_le32(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static unsigned get_le32(const unsigned char *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8 | (unsigned)p[2] << 16 | (unsigned)p[3] << 24;
}

void auth_cram_md5_context(const char *password, size_t pwlen, unsigned char ctx[CRAM_CTX_LEN])
{
    unsigned char key[64] = {0}, pad[64];
    if (pwlen > 64)
        MD5((const unsigned char *)password, pwlen, key);   /* RFC 2104: long keys are hashed */
    else if (pwlen)
        memcpy(key, password, pwlen);
    MD5_CTX c;
    /* Dovecot's order: the outer (opad) state first, then the inner (ipad) one. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 64; i++)
            pad[i] = key[i] ^ (pass == 0 ? 0x5c : 0x36);
        MD5_Init(&c);
        MD5_Update(&c, pad, 64);
        put_le32(ctx + pass * 16, c.A);
        put_le32(ctx + pass * 16 + 4, c.B);
        put_le32(ctx + pass * 16 + 8, c.C);
        put_le32(ctx + pass * 16 + 12, c.D);
    }
    OPENSSL_cleanse(key, sizeof(key));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(&c, sizeof(c));
}

/* Resume an MD5 computation after one 64-byte block with the given state. */
static void md5_resume(MD5_CTX *c, const unsigned char state[16])
{
    memset(c, 0, sizeof(*c));
    c->A = get_le32(state);
    c->B = get_le32(state + 4);
    c->C = get_le32(state + 8);
    c->D = get_le32(state + 12);
    c->Nl = 64 * 8;
}

void auth_cram_md5_digest(const unsigned char ctx[CRAM_CTX_LEN], const void *challenge, size_t len,
                     unsigned char out[16])
{
    MD5_CTX c;
    unsigned char inner[16];
    md5_resume(&c, ctx + 16);
    MD5_Update(&c, challenge, len);
    MD5_Final(inner, &c);
    md5_resume(&c, ctx);
    MD5_Update(&c, inner, sizeof(inner));
    MD5_Final(out, &c);
    OPENSSL_cleanse(&c, sizeof(c));
}

static int cram_decode(const char *data, enum enc enc, unsigned char ctx[CRAM_CTX_LEN])
{
    size_t n = strlen(data);
    long r = enc == ENC_B64 ? base64_decode_to(data, n, ctx, CRAM_CTX_LEN)
                            : hex_decode(data, n, ctx, CRAM_CTX_LEN);
    return r == CRAM_CTX_LEN ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* SCRAM-SHA-256                                                       */

void auth_scram_from_password(const char *password, size_t pwlen, const unsigned char *salt,
                         size_t saltlen, unsigned iterations, struct scram_secret *out)
{
    unsigned char salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
    unsigned int n;
    if (saltlen > SCRAM_SALT_MAX)
        saltlen = SCRAM_SALT_MAX;
    PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen, (int)iterations, EVP_sha256(),
                      sizeof(salted), salted);
    HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Client Key", 10,
         client_key, &n);
    EVP_Digest(client_key, sizeof(client_key), out->stored_key, &n, EVP_sha256(), NULL);
    HMAC(EVP_sha256(), salted, sizeof(salted), (const unsigned char *)"Server Key", 10,
         out->server_key, &n);
    out->iterations = iterations;
    memcpy(out->salt, salt, saltlen);
    out->saltlen = saltlen;
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
}

/* "4096,salt,StoredKey,ServerKey" */
static int scram_parse(const char *data, struct scram_secret *out)
{
    char copy[512];
    if (str_copy(copy, data, sizeof(copy)) >= sizeof(copy))
        return -1;
    char *f[4];
    char *p = copy;
    for (int i = 0; i < 4; i++) {
        f[i] = p;
        char *comma = strchr(p, ',');
        if (i < 3) {
            if (!comma)
                return -1;
            *comma = '\0';
            p = comma + 1;
        } else if (comma) {
            return -1;
        }
    }
    char *end;
    if (!isdigit((unsigned char)f[0][0]))
        return -1;
    unsigned long it = strtoul(f[0], &end, 10);
    if (*end || it < 1 || it > SCRAM_ITER_MAX)
        return -1;
    long sl = base64_decode_to(f[1], strlen(f[1]), out->salt, SCRAM_SALT_MAX);
    if (sl <= 0 ||
        base64_decode_to(f[2], strlen(f[2]), out->stored_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN ||
        base64_decode_to(f[3], strlen(f[3]), out->server_key, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
        return -1;
    out->iterations = (unsigned)it;
    out->saltlen = (size_t)sl;
    return 0;
}

static char *scram_format(const struct scram_secret *s, const char *name)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "{%s}%u,", name, s->iterations);
    base64_encode(&b, s->salt, s->saltlen);
    buf_putc(&b, ',');
    base64_encode(&b, s->stored_key, SCRAM_KEY_LEN);
    buf_putc(&b, ',');
    base64_encode(&b, s->server_key, SCRAM_KEY_LEN);
    return b.data;
}

static int verify_scram(const char *data, const char *pw, size_t pwlen, char *err, size_t errlen)
{
    struct scram_secret s, t;
    if (scram_parse(data, &s) < 0) {
        set_err(err, errlen, "malformed SCRAM-SHA-256 value");
        return SCHEME_ERROR;
    }
    auth_scram_from_password(pw, pwlen, s.salt, s.saltlen, s.iterations, &t);
    int eq = CRYPTO_memcmp(s.stored_key, t.stored_key, SCRAM_KEY_LEN) == 0;
    OPENSSL_cleanse(&t, sizeof(t));
    OPENSSL_cleanse(&s, sizeof(s));
    return eq ? SCHEME_MATCH : SCHEME_MISMATCH;
}

/* ------------------------------------------------------------------ */
/* public                                                              */

int auth_scheme_verify(const char *stored, const char *default_scheme, const char *password,
                  size_t pwlen, char *err, size_t errlen)
{
    enum enc enc;
    const char *data;
    if (strncmp(stored, LDAPC_BIND_SCHEME, strlen(LDAPC_BIND_SCHEME)) == 0) {
        /* ldap: passdb with auth_bind: the directory checks the password (passdb.c
         * accepts this value only from such a source). */
        if (pwlen > PASSWORD_MAX || memchr(password, '\0', pwlen))
            return SCHEME_MISMATCH;
        char why[256] = "";
        int b = ldapc_bind_check_spec(stored, password, pwlen, why, sizeof(why));
        if (b < 0)
            set_err(err, errlen, why);
        return b > 0 ? SCHEME_MATCH : b == 0 ? SCHEME_MISMATCH : SCHEME_ERROR;
    }
    const struct scheme_def *d = resolve(stored, default_scheme, &enc, &data, err, errlen);
    if (!d)
        return SCHEME_ERROR;
    if (pwlen > PASSWORD_MAX)
        return SCHEME_MISMATCH;
    switch (d->kind) {
    case K_CRYPT:
        return verify_crypt(d, data, password, pwlen, err, errlen);
    case K_ARGON2:
        return verify_argon2(d, data, password, pwlen, err, errlen);
    case K_DIGEST:
    case K_SDIGEST:
        return verify_digest(d, enc, data, password, pwlen, err, errlen);
    case K_PLAIN: {
        struct buf b;
        buf_init(&b, STORED_MAX);
        int rc = SCHEME_ERROR;
        if (plain_decode(data, enc, &b) < 0)
            set_err(err, errlen, "malformed PLAIN value for its encoding");
        else
            rc = auth_secret_equal(b.data ? b.data : "", b.len, password, pwlen) ? SCHEME_MATCH
                                                                             : SCHEME_MISMATCH;
        if (b.data)
            OPENSSL_cleanse(b.data, b.cap);
        buf_free(&b);
        return rc;
    }
    case K_CRAM: {
        unsigned char want[CRAM_CTX_LEN], got[CRAM_CTX_LEN];
        if (cram_decode(data, enc, want) < 0) {
            set_err(err, errlen, "malformed CRAM-MD5 value");
            return SCHEME_ERROR;
        }
        auth_cram_md5_context(password, pwlen, got);
        int eq = CRYPTO_memcmp(want, got, CRAM_CTX_LEN) == 0;
        OPENSSL_cleanse(got, sizeof(got));
        return eq ? SCHEME_MATCH : SCHEME_MISMATCH;
    }
    case K_SCRAM:
        return verify_scram(data, password, pwlen, err, errlen);
    }
    return SCHEME_ERROR;
}

char *auth_scheme_generate(const char *scheme, const char *password, size_t pwlen, unsigned rounds,
                      char *err, size_t errlen)
{
    char full[SCHEME_NAME_MAX], name[SCHEME_NAME_MAX];
    enum enc enc;
    if (str_copy(full, scheme, sizeof(full)) >= sizeof(full) ||
        split_encoding(full, name, sizeof(name), &enc) < 0) {
        set_err(err, errlen, "unknown password scheme");
        return NULL;
    }
    for (char *p = full; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    const struct scheme_def *d = find_scheme(name);
    if (!d || !d->generate) {
        char msg[96];
        snprintf(msg, sizeof(msg), "%s password scheme %s", d ? "cannot generate the" : "unknown",
                 name);
        set_err(err, errlen, msg);
        return NULL;
    }
    if (pwlen > PASSWORD_MAX) {
        set_err(err, errlen, "password is too long");
        return NULL;
    }
    switch (d->kind) {
    case K_CRYPT:
        return generate_crypt(d, password, pwlen, rounds, err, errlen);
    case K_ARGON2:
        return generate_argon2(d, password, pwlen, rounds, err, errlen);
    case K_SDIGEST:
        return generate_sdigest(d, enc, full, password, pwlen, err, errlen);
    case K_PLAIN: {
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "{%s}", full);
        if (enc == ENC_HEX)
            hex_encode(&b, (const unsigned char *)password, pwlen);
        else if (enc == ENC_B64)
            base64_encode(&b, password, pwlen);
        else if (memchr(password, '\0', pwlen) || memchr(password, '\n', pwlen)) {
            set_err(err, errlen, "use PLAIN.B64 for a password with NUL or newline");
            buf_free(&b);
            return NULL;
        } else
            buf_append(&b, password, pwlen);
        return b.data;
    }
    case K_CRAM: {
        unsigned char ctx[CRAM_CTX_LEN];
        auth_cram_md5_context(password, pwlen, ctx);
        struct buf b;
        buf_init(&b, 0);
        buf_printf(&b, "{%s}", full);
        if (enc == ENC_B64)
            base64_encode(&b, ctx, sizeof(ctx));
        else
            hex_encode(&b, ctx, sizeof(ctx));
        OPENSSL_cleanse(ctx, sizeof(ctx));
        return b.data;
    }
    case K_SCRAM: {
        unsigned it = rounds ? rounds : SCRAM_ITER_MIN;
        if (it < SCRAM_ITER_MIN || it > SCRAM_ITER_MAX) {
            set_err(err, errlen, "SCRAM iterations must be between 4096 and 10000000");
            return NULL;
        }
        unsigned char salt[16];
        if (RAND_bytes(salt, sizeof(salt)) != 1) {
            set_err(err, errlen, "no random bytes");
            return NULL;
        }
        struct scram_secret s;
        auth_scram_from_password(password, pwlen, salt, sizeof(salt), it, &s);
        char *out = scram_format(&s, d->name);
        OPENSSL_cleanse(&s, sizeof(s));
        return out;
    }
    case K_DIGEST:
        break;
    }
    set_err(err, errlen, "cannot generate this scheme");
    return NULL;
}

int auth_scheme_get_plaintext(const char *stored, const char *default_scheme, struct buf *out)
{
    enum enc enc;
    const char *data;
    const struct scheme_def *d = resolve(stored, default_scheme, &enc, &data, NULL, 0);
    if (!d)
        return -1;
    if (d->kind != K_PLAIN)
        return 0;
    return plain_decode(data, enc, out) < 0 ? -1 : 1;
}

int auth_scheme_get_cram_md5(const char *stored, const char *default_scheme,
                        unsigned char ctx[CRAM_CTX_LEN])
{
    enum enc enc;
    const char *data;
    const struct scheme_def *d = resolve(stored, default_scheme, &enc, &data, NULL, 0);
    if (!d)
        return -1;
    if (d->kind == K_CRAM)
        return cram_decode(data, enc, ctx) < 0 ? -1 : 1;
    if (d->kind != K_PLAIN)
        return 0;
    struct buf b;
    buf_init(&b, STORED_MAX);
    int rc = plain_decode(data, enc, &b) < 0 ? -1 : 1;
    if (rc == 1)
        auth_cram_md5_context(b.data ? b.data : "", b.len, ctx);
    if (b.data)
        OPENSSL_cleanse(b.data, b.cap);
    buf_free(&b);
    return rc;
}

int auth_scheme_get_scram(const char *stored, const char *default_scheme, struct scram_secret *out)
{
    enum enc enc;
    const char *data;
    const struct scheme_def *d = resolve(stored, default_scheme, &enc, &data, NULL, 0);
    if (!d)
        return -1;
    if (d->kind != K_SCRAM)
        return 0;
    return scram_parse(data, out) < 0 ? -1 : 1;
}

int auth_scheme_capabilities(const char *stored, const char *default_scheme)
{
    enum enc enc;
    const char *data;
    const struct scheme_def *d = resolve(stored, default_scheme, &enc, &data, NULL, 0);
    if (!d)
        return 0;
    switch (d->kind) {
    case K_PLAIN:
        return SCHEME_CAN_PLAIN | SCHEME_CAN_CRAM | SCHEME_CAN_SCRAM;
    case K_CRAM:
        return SCHEME_CAN_CRAM;
    case K_SCRAM:
        return SCHEME_CAN_SCRAM;
    default:
        return 0;
    }
}
