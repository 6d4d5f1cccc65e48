/*
 * mech.c - SASL mechanisms, server side (see mech.h).
 */
#include "auth/mech.h"
#include "lib/base64.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* Longest identity and password yubin accepts in a SASL message. */
#define NAME_MAX_LEN 255
#define PASS_MAX_LEN 1024
#define NONCE_MAX    256

static const struct auth_mech_info mechs[MECH_COUNT] = {
    {MECH_PLAIN, "PLAIN", "plaintext", 1, 0},
    {MECH_LOGIN, "LOGIN", "plaintext", 1, 0},
    {MECH_CRAM_MD5, "CRAM-MD5", "dictionary\tactive", 0, SCHEME_CAN_CRAM},
    {MECH_SCRAM_SHA_256, "SCRAM-SHA-256", "mutual-auth", 0, SCHEME_CAN_SCRAM},
};

const struct auth_mech_info *auth_mech_info(enum mech_id id)
{
    return (unsigned)id < MECH_COUNT ? &mechs[id] : NULL;
}

const struct auth_mech_info *auth_mech_find(const char *name)
{
    for (int i = 0; i < MECH_COUNT; i++)
        if (str_ieq(name, mechs[i].name))
            return &mechs[i];
    return NULL;
}

struct mech {
    enum mech_id id;
    int state;
    char *user;
    char *password;
    size_t pwlen;
    const char *error;
    int protocol_error;
    char *hostname;
    /* CRAM-MD5 */
    char *challenge;
    unsigned char digest[16];
    /* SCRAM */
    char *gs2_header;       /* "n,," as sent, for the c= check */
    char *client_first_bare;
    char *nonce;            /* client nonce, then the combined nonce */
    char *server_first;
    struct scram_secret secret;
    int fake;
};

struct mech *auth_mech_new(enum mech_id id, const char *hostname)
{
    struct mech *m = xcalloc(1, sizeof(*m));
    m->id = id;
    m->hostname = xstrdup(hostname && *hostname ? hostname : "localhost");
    return m;
}

static void free_secret_str(char *s, size_t n)
{
    if (s) {
        OPENSSL_cleanse(s, n);
        free(s);
    }
}

void auth_mech_free(struct mech *m)
{
    if (!m)
        return;
    free(m->user);
    free_secret_str(m->password, m->pwlen);
    free(m->hostname);
    free(m->challenge);
    free(m->gs2_header);
    free(m->client_first_bare);
    free(m->nonce);
    free(m->server_first);
    OPENSSL_cleanse(&m->secret, sizeof(m->secret));
    OPENSSL_cleanse(m->digest, sizeof(m->digest));
    free(m);
}

const char *auth_mech_user(const struct mech *m)
{
    return m->user;
}

const char *auth_mech_password(const struct mech *m, size_t *pwlen)
{
    *pwlen = m->pwlen;
    return m->password ? m->password : "";
}

const char *auth_mech_error(const struct mech *m)
{
    return m->error ? m->error : "authentication failed";
}

int auth_mech_failed_protocol(const struct mech *m)
{
    return m->protocol_error;
}

static enum mech_result fail(struct mech *m, const char *why, int protocol)
{
    m->error = why;
    m->protocol_error = protocol;
    m->state = -1;
    return MECH_FAIL;
}

static int valid_name(const unsigned char *p, size_t n)
{
    if (n == 0 || n > NAME_MAX_LEN || memchr(p, '\0', n))
        return 0;
    return 1;
}

/* ------------------------------------------------------------------ */
/* PLAIN                                                               */

static enum mech_result plain_step(struct mech *m, const unsigned char *d, size_t len,
                                   struct buf *out)
{
    (void)out;
    if (m->state >= 2)
        return fail(m, "unexpected PLAIN message", 1);
    if (!d || len == 0) {
        if (m->state++ > 0)
            return fail(m, "empty PLAIN message", 1);
        return MECH_CONTINUE;   /* ask for the message with an empty challenge */
    }
    const unsigned char *nul1 = memchr(d, '\0', len);
    if (!nul1)
        return fail(m, "malformed PLAIN message", 1);
    const unsigned char *authc = nul1 + 1;
    const unsigned char *nul2 = memchr(authc, '\0', len - (size_t)(authc - d));
    if (!nul2)
        return fail(m, "malformed PLAIN message", 1);
    const unsigned char *pw = nul2 + 1;
    size_t zlen = (size_t)(nul1 - d), clen = (size_t)(nul2 - authc), plen = len - (size_t)(pw - d);
    if (memchr(pw, '\0', plen))
        return fail(m, "malformed PLAIN message", 1);
    if (!valid_name(authc, clen) || plen > PASS_MAX_LEN)
        return fail(m, "malformed PLAIN message", 1);
    m->user = xstrndup((const char *)authc, clen);
    if (zlen && (zlen != clen || memcmp(d, authc, clen) != 0))
        return fail(m, "authorization identity differs from the authentication identity", 0);
    m->password = xmalloc(plen + 1);
    memcpy(m->password, pw, plen);
    m->password[plen] = '\0';
    m->pwlen = plen;
    m->state = 2;
    return MECH_VERIFY;
}

/* ------------------------------------------------------------------ */
/* LOGIN                                                               */

static enum mech_result login_step(struct mech *m, const unsigned char *d, size_t len,
                                   struct buf *out)
{
    switch (m->state) {
    case 0:
        if (!d || len == 0) {
            m->state = 1;
            buf_puts(out, "Username:");
            return MECH_CONTINUE;
        }
        /* An initial response is the user name. */
        /* fall through */
    case 1:
        if (!d || !valid_name(d, len))
            return fail(m, "bad LOGIN user name", 1);
        m->user = xstrndup((const char *)d, len);
        m->state = 2;
        buf_puts(out, "Password:");
        return MECH_CONTINUE;
    case 2:
        if ((d && memchr(d, '\0', len)) || len > PASS_MAX_LEN)
            return fail(m, "bad LOGIN password", 1);
        m->password = xmalloc(len + 1);
        if (len)
            memcpy(m->password, d, len);
        m->password[len] = '\0';
        m->pwlen = len;
        m->state = 3;
        return MECH_VERIFY;
    default:
        return fail(m, "unexpected LOGIN message", 1);
    }
}

/* ------------------------------------------------------------------ */
/* CRAM-MD5                                                            */

static enum mech_result cram_step(struct mech *m, const unsigned char *d, size_t len,
                                  struct buf *out)
{
    if (m->state == 0) {
        if (d && len)
            return fail(m, "CRAM-MD5 takes no initial response", 1);
        unsigned char r[8];
        RAND_bytes(r, sizeof(r));
        unsigned long long v;
        memcpy(&v, r, sizeof(v));
        m->challenge = xasprintf("<%llu.%lld@%s>", v % 10000000000000000000ULL,
                                 (long long)time(NULL), m->hostname);
        buf_puts(out, m->challenge);
        m->state = 1;
        return MECH_CONTINUE;
    }
    if (m->state != 1 || !d)
        return fail(m, "unexpected CRAM-MD5 message", 1);
    /* "user SP 32 lower-case hex digits"; the user name may contain spaces. */
    if (len < 34 || d[len - 33] != ' ')
        return fail(m, "malformed CRAM-MD5 response", 1);
    size_t ulen = len - 33;
    for (size_t i = 0; i < 32; i++) {
        unsigned char c = d[ulen + 1 + i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return fail(m, "malformed CRAM-MD5 response", 1);
        if (i % 2 == 0)
            m->digest[i / 2] = (unsigned char)(v << 4);
        else
            m->digest[i / 2] |= (unsigned char)v;
    }
    if (!valid_name(d, ulen))
        return fail(m, "malformed CRAM-MD5 response", 1);
    m->user = xstrndup((const char *)d, ulen);
    m->state = 2;
    return MECH_NEED_CRAM;
}

enum mech_result auth_mech_cram_check(struct mech *m, const unsigned char *ctx)
{
    if (m->id != MECH_CRAM_MD5 || m->state != 2)
        return fail(m, "unexpected CRAM-MD5 check", 0);
    unsigned char want[16];
    unsigned char dummy[CRAM_CTX_LEN] = {0};
    auth_cram_md5_digest(ctx ? ctx : dummy, m->challenge, strlen(m->challenge), want);
    int eq = CRYPTO_memcmp(want, m->digest, sizeof(want)) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    m->state = 3;
    if (!ctx)
        return fail(m, "no CRAM-MD5 credentials", 0);
    return eq ? MECH_SUCCESS : fail(m, "password mismatch", 0);
}

/* ------------------------------------------------------------------ */
/* SCRAM-SHA-256                                                       */

/* saslname: "=2C" is ',', "=3D" is '='; other '=' and ',' are invalid. */
static char *scram_decode_name(const char *s, size_t n)
{
    char *out = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ',' || s[i] == '\0') {
            free(out);
            return NULL;
        }
        if (s[i] == '=') {
            if (i + 2 < n && s[i + 1] == '2' && s[i + 2] == 'C')
                out[o++] = ',';
            else if (i + 2 < n && s[i + 1] == '3' && s[i + 2] == 'D')
                out[o++] = '=';
            else {
                free(out);
                return NULL;
            }
            i += 2;
            continue;
        }
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

static int printable_nonce(const char *s, size_t n)
{
    if (n == 0 || n > NONCE_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
            return 0;
    return 1;
}

static enum mech_result scram_client_first(struct mech *m, const char *d, size_t len)
{
    if (memchr(d, '\0', len))
        return fail(m, "malformed SCRAM client-first message", 1);
    /* gs2-header: cbind-flag "," [ "a=" saslname ] "," */
    if (len >= 2 && d[0] == 'p' && d[1] == '=')
        return fail(m, "channel binding is not supported", 1);
    if (len < 3 || (d[0] != 'n' && d[0] != 'y') || d[1] != ',')
        return fail(m, "malformed SCRAM GS2 header", 1);
    const char *comma = memchr(d + 2, ',', len - 2);
    if (!comma)
        return fail(m, "malformed SCRAM GS2 header", 1);
    char *authzid = NULL;
    if (comma > d + 2) {
        if (d[2] != 'a' || d[3] != '=' ||
            !(authzid = scram_decode_name(d + 4, (size_t)(comma - d - 4))))
            return fail(m, "malformed SCRAM authorization identity", 1);
    }
    m->gs2_header = xstrndup(d, (size_t)(comma + 1 - d));
    const char *bare = comma + 1;
    size_t blen = len - (size_t)(bare - d);
    m->client_first_bare = xstrndup(bare, blen);
    if (blen >= 2 && bare[0] == 'm' && bare[1] == '=') {
        free(authzid);
        return fail(m, "SCRAM mandatory extensions are not supported", 1);
    }
    /* n=saslname,r=nonce[,ext] */
    if (blen < 2 || bare[0] != 'n' || bare[1] != '=') {
        free(authzid);
        return fail(m, "malformed SCRAM client-first message", 1);
    }
    const char *nend = memchr(bare, ',', blen);
    if (!nend || (size_t)(nend - bare) + 3 > blen || nend[1] != 'r' || nend[2] != '=') {
        free(authzid);
        return fail(m, "malformed SCRAM client-first message", 1);
    }
    char *user = scram_decode_name(bare + 2, (size_t)(nend - bare - 2));
    if (!user || !valid_name((const unsigned char *)user, strlen(user))) {
        free(user);
        free(authzid);
        return fail(m, "malformed SCRAM user name", 1);
    }
    m->user = user;
    const char *r = nend + 3;
    const char *rend = memchr(r, ',', blen - (size_t)(r - bare));
    size_t rlen = rend ? (size_t)(rend - r) : blen - (size_t)(r - bare);
    if (!printable_nonce(r, rlen)) {
        free(authzid);
        return fail(m, "malformed SCRAM nonce", 1);
    }
    m->nonce = xstrndup(r, rlen);
    if (authzid && *authzid && strcmp(authzid, user) != 0) {
        free(authzid);
        return fail(m, "authorization identity differs from the authentication identity", 0);
    }
    free(authzid);
    m->state = 1;
    return MECH_NEED_SCRAM;
}

void auth_mech_scram_salt(const unsigned char *key, size_t keylen, const char *user,
                     unsigned char salt[16])
{
    unsigned char h[32];
    unsigned int n;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)user, strlen(user), h, &n);
    memcpy(salt, h, 16);
}

enum mech_result auth_mech_scram_first(struct mech *m, const struct scram_secret *secret,
                                  const unsigned char *fake_salt_key, size_t keylen,
                                  struct buf *out)
{
    if (m->id != MECH_SCRAM_SHA_256 || m->state != 1)
        return fail(m, "unexpected SCRAM lookup", 0);
    if (secret) {
        m->secret = *secret;
    } else {
        /* Unknown user: look like a real one with a stable fake salt. */
        memset(&m->secret, 0, sizeof(m->secret));
        m->secret.iterations = SCRAM_ITER_MIN;
        m->secret.saltlen = 16;
        auth_mech_scram_salt(fake_salt_key, keylen, m->user, m->secret.salt);
        RAND_bytes(m->secret.stored_key, SCRAM_KEY_LEN);
        m->fake = 1;
    }
    unsigned char rnd[18];
    RAND_bytes(rnd, sizeof(rnd));
    struct buf nb;
    buf_init(&nb, 0);
    buf_puts(&nb, m->nonce);
    base64_encode(&nb, rnd, sizeof(rnd));
    free(m->nonce);
    m->nonce = nb.data;
    struct buf sf;
    buf_init(&sf, 0);
    buf_printf(&sf, "r=%s,s=", m->nonce);
    base64_encode(&sf, m->secret.salt, m->secret.saltlen);
    buf_printf(&sf, ",i=%u", m->secret.iterations);
    m->server_first = sf.data;
    buf_puts(out, m->server_first);
    m->state = 2;
    return MECH_CONTINUE;
}

static enum mech_result scram_client_final(struct mech *m, const char *d, size_t len,
                                           struct buf *out)
{
    if (memchr(d, '\0', len))
        return fail(m, "malformed SCRAM client-final message", 1);
    /* c=base64(gs2-header),r=nonce[,ext...],p=proof -- proof last. */
    const char *p = NULL;
    for (size_t i = len; i-- > 0;)
        if (d[i] == ',') {
            p = d + i;
            break;
        }
    if (!p || (size_t)(d + len - p) < 4 || p[1] != 'p' || p[2] != '=')
        return fail(m, "malformed SCRAM client-final message", 1);
    size_t wlen = (size_t)(p - d);   /* client-final-message-without-proof */
    const char *proof_b64 = p + 3;
    size_t proof_len = len - (size_t)(proof_b64 - d);
    if (wlen < 2 || memcmp(d, "c=", 2) != 0)
        return fail(m, "malformed SCRAM client-final message", 1);
    const char *c_end = memchr(d, ',', wlen);
    if (!c_end)
        return fail(m, "malformed SCRAM client-final message", 1);
    struct buf cb;
    buf_init(&cb, 0);
    base64_encode(&cb, m->gs2_header, strlen(m->gs2_header));
    int cb_ok = (size_t)(c_end - d - 2) == cb.len && memcmp(d + 2, cb.data, cb.len) == 0;
    buf_free(&cb);
    if (!cb_ok)
        return fail(m, "SCRAM channel binding data mismatch", 1);
    const char *r = c_end + 1;
    size_t rest = wlen - (size_t)(r - d);
    if (rest < 2 || memcmp(r, "r=", 2) != 0)
        return fail(m, "malformed SCRAM client-final message", 1);
    const char *r_end = memchr(r, ',', rest);
    size_t rlen = (size_t)((r_end ? r_end : d + wlen) - r - 2);
    if (rlen != strlen(m->nonce) || memcmp(r + 2, m->nonce, rlen) != 0)
        return fail(m, "SCRAM nonce mismatch", 1);
    unsigned char proof[SCRAM_KEY_LEN];
    if (base64_decode_to(proof_b64, proof_len, proof, sizeof(proof)) != SCRAM_KEY_LEN)
        return fail(m, "malformed SCRAM proof", 1);

    struct buf am;
    buf_init(&am, 0);
    buf_printf(&am, "%s,%s,", m->client_first_bare, m->server_first);
    buf_append(&am, d, wlen);
    unsigned char sig[32], key[32], h[32];
    unsigned int n;
    HMAC(EVP_sha256(), m->secret.stored_key, SCRAM_KEY_LEN, (unsigned char *)am.data, am.len, sig,
         &n);
    for (int i = 0; i < 32; i++)
        key[i] = proof[i] ^ sig[i];
    EVP_Digest(key, sizeof(key), h, &n, EVP_sha256(), NULL);
    int eq = CRYPTO_memcmp(h, m->secret.stored_key, SCRAM_KEY_LEN) == 0;
    OPENSSL_cleanse(key, sizeof(key));
    if (!eq || m->fake) {
        buf_free(&am);
        return fail(m, m->fake ? "no SCRAM credentials" : "password mismatch", 0);
    }
    HMAC(EVP_sha256(), m->secret.server_key, SCRAM_KEY_LEN, (unsigned char *)am.data, am.len,
         sig, &n);
    buf_free(&am);
    buf_puts(out, "v=");
    base64_encode(out, sig, sizeof(sig));
    m->state = 3;
    return MECH_CONTINUE;
}

static enum mech_result scram_step(struct mech *m, const unsigned char *d, size_t len,
                                   struct buf *out)
{
    switch (m->state) {
    case 0:
        if (!d || len == 0) {
            m->state = 10;   /* asked for client-first once */
            return MECH_CONTINUE;
        }
        return scram_client_first(m, (const char *)d, len);
    case 10:
        if (!d || len == 0)
            return fail(m, "empty SCRAM client-first message", 1);
        return scram_client_first(m, (const char *)d, len);
    case 2:
        if (!d || len == 0)
            return fail(m, "empty SCRAM client-final message", 1);
        return scram_client_final(m, (const char *)d, len, out);
    case 3:
        /* The client acknowledges server-final with an empty response. */
        if (d && len)
            return fail(m, "unexpected data after SCRAM server-final", 1);
        m->state = 4;
        return MECH_SUCCESS;
    default:
        return fail(m, "unexpected SCRAM message", 1);
    }
}

enum mech_result auth_mech_step(struct mech *m, const unsigned char *data, size_t len,
                           struct buf *out)
{
    if (m->state < 0)
        return fail(m, auth_mech_error(m), m->protocol_error);
    switch (m->id) {
    case MECH_PLAIN: return plain_step(m, data, len, out);
    case MECH_LOGIN: return login_step(m, data, len, out);
    case MECH_CRAM_MD5: return cram_step(m, data, len, out);
    case MECH_SCRAM_SHA_256: return scram_step(m, data, len, out);
    case MECH_COUNT: break;
    }
    return fail(m, "unknown mechanism", 1);
}
