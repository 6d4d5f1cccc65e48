/*
 * hashpool.h - password hashing off the event loop.
 *
 * Owns: a few threads that run the deliberately slow work of the auth
 * service (crypt(3), bcrypt, Argon2, PBKDF2 for SCRAM) so one expensive
 * hash never stalls other clients, and the hand-back of finished jobs to
 * the event loop (an eventfd), where their callbacks run.
 *
 * A job belongs to the pool from auth_hashpool_submit() until its callback
 * runs; the callback frees it (auth_hash_job_free). To abandon a job whose
 * requester went away, clear its arg and let the callback see that.
 */
#ifndef YUBIN_HASHPOOL_H
#define YUBIN_HASHPOOL_H

#include "auth/scheme.h"

#include <stddef.h>

struct evloop;
struct hashpool;

enum hash_job_kind {
    HASH_VERIFY,      /* result = auth_scheme_verify(stored, default_scheme, password) */
    HASH_SCRAM,       /* secret = auth_scram_from_password(password, salt, iterations) */
};

struct hash_job {
    enum hash_job_kind kind;
    /* input (owned by the job; passwords are wiped when freed) */
    char *stored;
    char *default_scheme;
    char *password;
    size_t pwlen;
    unsigned char salt[SCRAM_SALT_MAX];
    size_t saltlen;
    unsigned iterations;
    /* output */
    int result;                  /* SCHEME_MATCH / SCHEME_MISMATCH / SCHEME_ERROR */
    char err[128];
    struct scram_secret secret;
    /* completion, run on the event loop */
    void (*done)(struct hash_job *job);
    void *arg;
    struct hash_job *next;
};

/* threads: 0 = one per CPU, at most 8. */
struct hashpool *auth_hashpool_new(struct evloop *loop, int threads);
/* Stops the threads after the queued jobs; callbacks of unfinished jobs do not run. */
void auth_hashpool_free(struct hashpool *p);
void auth_hashpool_submit(struct hashpool *p, struct hash_job *job);
/* Jobs submitted and not yet called back. */
size_t auth_hashpool_pending(const struct hashpool *p);

struct hash_job *auth_hash_job_new(enum hash_job_kind kind);
void auth_hash_job_set_password(struct hash_job *job, const char *password, size_t pwlen);
void auth_hash_job_free(struct hash_job *job);

#endif
