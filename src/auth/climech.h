/*
 * climech.h - the client side of PLAIN, LOGIN, CRAM-MD5 and SCRAM-SHA-256,
 * for `yubin auth-test` and the tests: what an SMTP client would send.
 * Data in and out is decoded (not base64).
 */
#ifndef YUBIN_CLIMECH_H
#define YUBIN_CLIMECH_H

#include "lib/buf.h"

struct climech;

/* authzid may be NULL. NULL for an unsupported mechanism. */
struct climech *auth_climech_new(const char *mech, const char *user, const char *password,
                            const char *authzid);
void auth_climech_free(struct climech *c);
/* The initial response: 1 and out filled, 0 when the mechanism has none. */
int auth_climech_initial(struct climech *c, struct buf *out);
/* Answer a challenge: 0 and out filled, or -1 (bad challenge, server signature mismatch). */
int auth_climech_step(struct climech *c, const unsigned char *challenge, size_t len, struct buf *out);
/* SCRAM: did the server prove it knows the password? */
int auth_climech_server_verified(const struct climech *c);

#endif
