/*
 * climech.c - SASL mechanisms, client side (see climech.h).
 */
#include "auth/climech.h"
#include "lib/base64.h"
#include "auth/scheme.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

enum cm { CM_PLAIN, CM_LOGIN, CM_CRAM, CM_SCRAM };

struct climech {
    enum cm kind;
    char *user, *password, *authzid;
    int step;
    char *client_first_bare;
    unsigned char server_sig[32];
    int verified;
};

struct climech *auth_climech_new(const char *mech, const char *user, const char *password,
                            const char *authzid)
{
    enum cm k;
    if (str_ieq(mech, "PLAIN"))
        k = CM_PLAIN;
    else if (str_ieq(mech, "LOGIN"))
        k = CM_LOGIN;
    else if (str_ieq(mech, "CRAM-MD5"))
        k = CM_CRAM;
    else if (str_ieq(mech, "SCRAM-SHA-256"))
        k = CM_SCRAM;
    else
        return NULL;
    struct climech *c = xcalloc(1, sizeof(*c));
    c->kind = k;
    c->user = xstrdup(user);
    c->password = xstrdup(password);
    c->authzid = authzid ? xstrdup(authzid) : NULL;
    return c;
}

void auth_climech_free(struct climech *c)
{
    if (!c)
        return;
    free(c->user);
    OPENSSL_cleanse(c->password, strlen(c->password));
    free(c->password);
    free(c->authzid);
    free(c->client_first_bare);
    free(c);
}

int auth_climech_server_verified(const struct climech *c)
{
    return c->verified;
}

/* SCRAM saslname: ',' -> =2C, '=' -> =3D */
static void scram_name(struct buf *out, const char *s)
{
    for (; *s; s++) {
        if (*s == ',')
            buf_puts(out, "=2C");
        else if (*s == '=')
            buf_puts(out, "=3D");
        else
            buf_putc(out, *s);
    }
}

int auth_climech_initial(struct climech *c, struct buf *out)
{
    switch (c->kind) {
    case CM_PLAIN:
        if (c->authzid)
            buf_puts(out, c->authzid);
        buf_putc(out, '\0');
        buf_puts(out, c->user);
        buf_putc(out, '\0');
        buf_puts(out, c->password);
        c->step = 1;
        return 1;
    case CM_SCRAM: {
        unsigned char rnd[18];
        RAND_bytes(rnd, sizeof(rnd));
        struct buf bare;
        buf_init(&bare, 0);
        buf_puts(&bare, "n=");
        scram_name(&bare, c->user);
        buf_puts(&bare, ",r=");
        base64_encode(&bare, rnd, sizeof(rnd));
        c->client_first_bare = bare.data;
        buf_puts(out, "n,");
        if (c->authzid) {
            buf_puts(out, "a=");
            scram_name(out, c->authzid);
        }
        buf_putc(out, ',');
        buf_puts(out, c->client_first_bare);
        c->step = 1;
        return 1;
    }
    default:
        return 0;
    }
}

/* "key=value" out of a SCRAM message; NULL if absent. */
static char *scram_attr(const char *msg, size_t len, char key)
{
    const char *p = msg, *end = msg + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *e = comma ? comma : end;
        if (e - p >= 2 && p[0] == key && p[1] == '=')
            return xstrndup(p + 2, (size_t)(e - p - 2));
        p = e + 1;
    }
    return NULL;
}

static int scram_final(struct climech *c, const char *sf, size_t len, struct buf *out)
{
    char *r = scram_attr(sf, len, 'r'), *s = scram_attr(sf, len, 's'), *i = scram_attr(sf, len, 'i');
    int rc = -1;
    unsigned char salt[SCRAM_SALT_MAX];
    long saltlen;
    const char *cnonce = strstr(c->client_first_bare, ",r=") + 3;
    if (!r || !s || !i || strncmp(r, cnonce, strlen(cnonce)) != 0 ||
        (saltlen = base64_decode_to(s, strlen(s), salt, sizeof(salt))) <= 0 || atoi(i) < 1)
        goto out;
    struct scram_secret sec;
    unsigned char salted[32], client_key[32], sig[32], proof[32];
    unsigned int n;
    PKCS5_PBKDF2_HMAC(c->password, (int)strlen(c->password), salt, (int)saltlen, atoi(i),
                      EVP_sha256(), 32, salted);
    HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, client_key, &n);
    EVP_Digest(client_key, 32, sec.stored_key, &n, EVP_sha256(), NULL);
    HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Server Key", 10, sec.server_key, &n);
    struct buf wp;
    buf_init(&wp, 0);
    buf_puts(&wp, "c=");
    struct buf gs2;
    buf_init(&gs2, 0);
    buf_puts(&gs2, "n,");
    if (c->authzid) {
        buf_puts(&gs2, "a=");
        scram_name(&gs2, c->authzid);
    }
    buf_putc(&gs2, ',');
    base64_encode(&wp, gs2.data, gs2.len);
    buf_free(&gs2);
    buf_printf(&wp, ",r=%s", r);
    struct buf am;
    buf_init(&am, 0);
    buf_printf(&am, "%s,", c->client_first_bare);
    buf_append(&am, sf, len);
    buf_printf(&am, ",%s", wp.data);
    HMAC(EVP_sha256(), sec.stored_key, 32, (unsigned char *)am.data, am.len, sig, &n);
    for (int k = 0; k < 32; k++)
        proof[k] = client_key[k] ^ sig[k];
    HMAC(EVP_sha256(), sec.server_key, 32, (unsigned char *)am.data, am.len, c->server_sig, &n);
    buf_free(&am);
    buf_append(out, wp.data, wp.len);
    buf_puts(out, ",p=");
    base64_encode(out, proof, 32);
    buf_free(&wp);
    OPENSSL_cleanse(salted, sizeof(salted));
    OPENSSL_cleanse(client_key, sizeof(client_key));
    rc = 0;
out:
    free(r);
    free(s);
    free(i);
    return rc;
}

int auth_climech_step(struct climech *c, const unsigned char *ch, size_t len, struct buf *out)
{
    switch (c->kind) {
    case CM_PLAIN:
        if (c->step == 0 && len == 0)
            return auth_climech_initial(c, out) ? 0 : -1;
        return -1;
    case CM_LOGIN:
        if (c->step == 0) {
            c->step = 1;
            buf_puts(out, c->user);
            return 0;
        }
        if (c->step == 1) {
            c->step = 2;
            buf_puts(out, c->password);
            return 0;
        }
        return -1;
    case CM_CRAM: {
        if (c->step != 0 || len == 0)
            return -1;
        unsigned char ctx[CRAM_CTX_LEN], d[16];
        auth_cram_md5_context(c->password, strlen(c->password), ctx);
        auth_cram_md5_digest(ctx, ch, len, d);
        buf_printf(out, "%s ", c->user);
        for (int i = 0; i < 16; i++)
            buf_printf(out, "%02x", d[i]);
        c->step = 1;
        return 0;
    }
    case CM_SCRAM:
        if (c->step == 0)   /* the server asked for client-first */
            return auth_climech_initial(c, out) ? 0 : -1;
        if (c->step == 1) {
            c->step = 2;
            return scram_final(c, (const char *)ch, len, out);
        }
        if (c->step == 2) {
            char *v = scram_attr((const char *)ch, len, 'v');
            unsigned char sig[32];
            int ok = v && base64_decode_to(v, strlen(v), sig, sizeof(sig)) == 32 &&
                     CRYPTO_memcmp(sig, c->server_sig, 32) == 0;
            free(v);
            c->step = 3;
            c->verified = ok;
            return ok ? 0 : -1;
        }
        return -1;
    }
    return -1;
}
