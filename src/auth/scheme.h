/*
 * scheme.h - password schemes in Dovecot's "{SCHEME}data" notation.
 *
 * Owns: verifying a password against a stored value, generating stored
 * values (`yubin pw`), and deriving the credentials the challenge-response
 * mechanisms need (CRAM-MD5 HMAC contexts, SCRAM-SHA-256 keys).
 *
 * Schemes (the stored forms are Dovecot's, so passwd-files move between
 * Dovecot and yubin unchanged; * = yubin can also generate it):
 *   SHA512-CRYPT*  "$6$[rounds=N$]salt$hash"       crypt(3) via libxcrypt
 *   SHA256-CRYPT*  "$5$[rounds=N$]salt$hash"
 *   BLF-CRYPT*     "$2y$NN$..." (also $2b$, $2a$)  bcrypt, cost NN
 *   MD5-CRYPT      "$1$salt$hash"                  verify only
 *   CRYPT          anything crypt(3) accepts       verify only
 *   ARGON2ID*, ARGON2I*  "$argon2id$v=19$m=KiB,t=N,p=N$salt$hash"  libargon2
 *   SSHA512*, SSHA256, SSHA   base64(H(password || salt) || salt)
 *   SHA512, SHA256, SHA1 (SHA)  base64(H(password)), or hex
 *   PLAIN*, CLEAR, CLEARTEXT   the password itself
 *   CRAM-MD5* (HMAC-MD5)  hex of the HMAC-MD5 outer then inner MD5 states,
 *                  each as four little-endian 32-bit words (64 hex digits);
 *                  usable for CRAM-MD5 without knowing the password
 *   SCRAM-SHA-256*  "iterations,base64(salt),base64(StoredKey),base64(ServerKey)"
 * A ".HEX" or ".B64"/".BASE64" suffix on the scheme name selects the
 * encoding of PLAIN and the digest schemes, as in Dovecot.
 *
 * A stored value without "{SCHEME}" uses the default scheme given by the
 * caller (auth_default_pass_scheme, Dovecot's default_pass_scheme), except
 * that "$argon2..." is always Argon2.
 *
 * Comparisons of secrets are constant-time (CRYPTO_memcmp over fixed-size
 * digests), and every buffer that held a password or key is wiped.
 */
#ifndef YUBIN_SCHEME_H
#define YUBIN_SCHEME_H

#include "lib/buf.h"

#include <stddef.h>

#define SCHEME_MATCH     1
#define SCHEME_MISMATCH  0
#define SCHEME_ERROR    (-1)   /* malformed stored value or unknown scheme */

#define SCHEME_NAME_MAX  32

/*
 * Verify password (pwlen bytes, may contain NUL) against stored. Returns
 * SCHEME_MATCH, SCHEME_MISMATCH, or SCHEME_ERROR with a reason in err
 * (never containing the password or the stored value).
 */
int auth_scheme_verify(const char *stored, const char *default_scheme, const char *password,
                  size_t pwlen, char *err, size_t errlen);

/*
 * A new stored value "{SCHEME}data" for password. rounds: 0 = the scheme's
 * default (crypt rounds, bcrypt cost, Argon2 passes, SCRAM iterations).
 * Returns NULL with err set for unknown or verify-only schemes.
 */
char *auth_scheme_generate(const char *scheme, const char *password, size_t pwlen, unsigned rounds,
                      char *err, size_t errlen);

/* Is this a scheme name yubin knows (verify)? can it generate it? */
int auth_scheme_known(const char *scheme);
int auth_scheme_can_generate(const char *scheme);
/* Space-separated list of every known scheme, for `yubin pw -l`. */
const char *auth_scheme_names(void);

/*
 * Split stored into its upper-cased scheme name (without encoding suffix)
 * and data. Returns 0, or -1 if "{...}" is malformed or the name too long.
 */
int auth_scheme_split(const char *stored, const char *default_scheme, char *scheme, size_t schemelen,
                 const char **data);

/* What a stored value can serve: mechanisms need more than verification. */
#define SCHEME_CAN_PLAIN  0x1   /* the plaintext is recoverable (PLAIN, CLEAR) */
#define SCHEME_CAN_CRAM   0x2   /* CRAM-MD5 contexts available */
#define SCHEME_CAN_SCRAM  0x4   /* SCRAM-SHA-256 keys available */
int auth_scheme_capabilities(const char *stored, const char *default_scheme);

/* The plaintext of a PLAIN/CLEAR value: 1 and out filled, 0 if not plaintext, -1 malformed. */
int auth_scheme_get_plaintext(const char *stored, const char *default_scheme, struct buf *out);

/* CRAM-MD5: the 32-byte (outer, inner) MD5 state pair of HMAC-MD5 keyed by the password. */
#define CRAM_CTX_LEN 32
void auth_cram_md5_context(const char *password, size_t pwlen, unsigned char ctx[CRAM_CTX_LEN]);
/* From a stored value: 1 and ctx filled (CRAM-MD5 or plaintext), 0 unavailable, -1 malformed. */
int auth_scheme_get_cram_md5(const char *stored, const char *default_scheme,
                        unsigned char ctx[CRAM_CTX_LEN]);
/* HMAC-MD5(challenge) from a context. */
void auth_cram_md5_digest(const unsigned char ctx[CRAM_CTX_LEN], const void *challenge, size_t len,
                     unsigned char digest[16]);

/* SCRAM-SHA-256 server secrets (RFC 5802 section 3, RFC 7677). */
#define SCRAM_KEY_LEN   32
#define SCRAM_SALT_MAX  64
#define SCRAM_ITER_MIN  4096        /* RFC 7677's minimum; also Dovecot's default */
#define SCRAM_ITER_MAX  10000000
struct scram_secret {
    unsigned iterations;
    unsigned char salt[SCRAM_SALT_MAX];
    size_t saltlen;
    unsigned char stored_key[SCRAM_KEY_LEN];
    unsigned char server_key[SCRAM_KEY_LEN];
};
/* From a stored SCRAM-SHA-256 value: 1 and out filled, 0 other scheme, -1 malformed. */
int auth_scheme_get_scram(const char *stored, const char *default_scheme, struct scram_secret *out);
/* Derive from a password (PBKDF2-HMAC-SHA-256: slow by design). */
void auth_scram_from_password(const char *password, size_t pwlen, const unsigned char *salt,
                         size_t saltlen, unsigned iterations, struct scram_secret *out);

/* Constant-time comparison of two strings of possibly different lengths. */
int auth_secret_equal(const void *a, size_t alen, const void *b, size_t blen);

#endif
