/*
 * managesieved.h - what the parts of the managesieved role share: its
 * settings (lib-login's common ones and the Sieve storage and quota), the
 * capability list, the reply writer, and the parts: the front end's
 * callbacks (login.c), the mail worker (mail.c) and the script store
 * (scripts.c).
 */
#ifndef YUBIN_MANAGESIEVED_H
#define YUBIN_MANAGESIEVED_H

#include "lib-login/login.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct buf;
struct conn;
struct tls_server;

struct managesieved_settings {
    struct login_settings l;
    char *sieve;                     /* the active script (a symlink), ~/.dovecot.sieve */
    char *sieve_dir;                 /* the scripts, ~/sieve */
    uint64_t max_script_size;        /* sieve_max_script_size */
    long long max_scripts;           /* sieve_quota_max_scripts (0: no limit) */
    uint64_t max_storage;            /* sieve_quota_max_storage (0: no limit) */
};

/* The capability lines (no OK): SASL and STARTTLS only when given (before login). */
void managesieved_capability(struct buf *out, const char *sasl, int starttls);
/* "OK|NO|BYE [(code)] "text"\r\n" */
void managesieved_reply(struct conn *c, const char *result, const char *code, const char *text);

int managesieved_login_run(const struct managesieved_settings *set, int *listen_fds,
                           size_t nlisten, struct tls_server *tls, const char *tls_error,
                           int launcher);
void managesieved_mail_run(int sock, const struct login_settings *set, uid_t uid, void *ctx);

/* ---- the script store (scripts.c) ---- */

struct msieve_store;

/*
 * The user's store: sieve_dir and the active link expanded for user/home
 * (created when missing). NULL with *why.
 */
struct msieve_store *managesieved_store_open(const struct managesieved_settings *set,
                                             const char *user, const char *home,
                                             const char **why);
void managesieved_store_close(struct msieve_store *st);
/* The scripts' names (malloc'd vector, *n of them; free with strv_free) and the active one. */
char **managesieved_store_list(struct msieve_store *st, size_t *n, char **active);
/* Total bytes of the scripts, and how many there are; name's own size when it exists (else -1). */
void managesieved_store_usage(struct msieve_store *st, const char *name, uint64_t *bytes,
                              size_t *count, long long *own);
/* 0 or -1 with errno (ENOENT: no such script). */
int managesieved_store_get(struct msieve_store *st, const char *name, struct buf *out);
int managesieved_store_put(struct msieve_store *st, const char *name, const char *text,
                           size_t len);
int managesieved_store_delete(struct msieve_store *st, const char *name);
int managesieved_store_rename(struct msieve_store *st, const char *from, const char *to);
/* Make name the active script ("" : none). */
int managesieved_store_activate(struct msieve_store *st, const char *name);
/* 1 when name is the active script. */
int managesieved_store_is_active(struct msieve_store *st, const char *name);

#endif
