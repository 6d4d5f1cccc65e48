/*
 * mech.h - server side of the SASL mechanisms the auth service offers:
 * PLAIN (RFC 4616), LOGIN (the de-facto "Username:"/"Password:"
 * exchange), CRAM-MD5 (RFC 2195) and SCRAM-SHA-256 (RFC 5802, RFC 7677).
 *
 * Owns: parsing client messages and producing server challenges, as pure
 * state machines: no I/O, no user lookups, no password hashing. Each step
 * tells the caller what it needs next (verify a password, look up CRAM-MD5
 * or SCRAM credentials) and the caller feeds the answer back. Data given
 * to and returned by steps is decoded (not base64).
 *
 * Authorization identities: an authzid must be empty or equal to the
 * authentication identity (yubin has no master users); anything else
 * fails. SCRAM channel binding is not offered: "n" and "y" GS2 flags are
 * accepted, "p=..." is refused.
 */
#ifndef YUBIN_MECH_H
#define YUBIN_MECH_H

#include "lib/buf.h"
#include "auth/scheme.h"

#include <stddef.h>

enum mech_id { MECH_PLAIN, MECH_LOGIN, MECH_CRAM_MD5, MECH_SCRAM_SHA_256, MECH_COUNT };

struct auth_mech_info {
    enum mech_id id;
    const char *name;       /* "PLAIN" */
    const char *props;      /* Dovecot MECH properties, TAB-separated: "plaintext" */
    int plaintext;          /* the password crosses the wire */
    int need_caps;          /* SCHEME_CAN_* a passdb must offer; 0 = any verifiable password */
};
const struct auth_mech_info *auth_mech_info(enum mech_id id);
/* By SASL name, case-insensitively; NULL if unknown. */
const struct auth_mech_info *auth_mech_find(const char *name);

enum mech_result {
    MECH_CONTINUE,      /* send out as a challenge, wait for the next response */
    MECH_VERIFY,        /* check auth_mech_user()/auth_mech_password() against the passdb */
    MECH_NEED_CRAM,     /* look up auth_mech_user()'s CRAM-MD5 context, then auth_mech_cram_check() */
    MECH_NEED_SCRAM,    /* look up auth_mech_user()'s SCRAM secret, then auth_mech_scram_first() */
    MECH_SUCCESS,       /* authenticated as auth_mech_user() */
    MECH_FAIL,          /* failed; auth_mech_error() says why (for the log, not the client) */
};

struct mech;

/* hostname goes into CRAM-MD5 challenges. */
struct mech *auth_mech_new(enum mech_id id, const char *hostname);
void auth_mech_free(struct mech *m);

/*
 * Feed the client's next message (data == NULL: the AUTH command had no
 * initial response). On MECH_CONTINUE, out holds the challenge.
 */
enum mech_result auth_mech_step(struct mech *m, const unsigned char *data, size_t len,
                           struct buf *out);

/* The authentication identity (raw, as the client sent it); NULL before it is known. */
const char *auth_mech_user(const struct mech *m);
/* The password for MECH_VERIFY (may contain NUL; pwlen set). */
const char *auth_mech_password(const struct mech *m, size_t *pwlen);
/* Why the last step failed. */
const char *auth_mech_error(const struct mech *m);
/* Did the failure come from the client's protocol use (bad encoding ...) rather than credentials? */
int auth_mech_failed_protocol(const struct mech *m);

/* CRAM-MD5: ctx NULL when the user has no usable credentials. */
enum mech_result auth_mech_cram_check(struct mech *m, const unsigned char *ctx);

/*
 * SCRAM: the user's secret, or NULL (unknown user, no SCRAM credentials):
 * the exchange then continues with a fake salt derived from fake_salt_key
 * and fails at the end, so it reveals nothing. out gets server-first.
 */
enum mech_result auth_mech_scram_first(struct mech *m, const struct scram_secret *secret,
                                  const unsigned char *fake_salt_key, size_t keylen,
                                  struct buf *out);
/* A salt for user derived from key: for fake secrets and for secrets made from plaintext. */
void auth_mech_scram_salt(const unsigned char *key, size_t keylen, const char *user,
                     unsigned char salt[16]);

#endif
