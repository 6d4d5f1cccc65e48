/*
 * auth.h - the auth service: the one yubin process that checks passwords.
 *
 * master.cf:   auth  unix  -  -  n  -  1  auth
 * It listens on $queue_directory/private/auth (smtpd_sasl_path =
 * private/auth) and speaks the server side of the Dovecot authentication
 * protocol (authproto.h), so yubin's smtpd, a Postfix smtpd
 * (smtpd_sasl_type = dovecot) or Exim can use it. A second socket,
 * auth_userdb_socket (default private/auth-userdb), answers Dovecot
 * "auth-master" USER lookups for delivery and mail access.
 *
 * Parameters (yubin's own, see config_params.c):
 *   auth_passdb, auth_userdb       sources, passdb.h
 *   auth_default_pass_scheme       scheme of stored values without {SCHEME}
 *   auth_mechanisms                offered mechanisms, filtered by what the
 *                                  passdbs can serve (CRAM-MD5 and SCRAM need
 *                                  plaintext or their own stored form)
 *   auth_username_format, auth_username_chars, auth_default_realm
 *   auth_failure_delay             every failed attempt is answered no
 *                                  earlier than this after it began
 *   auth_penalty_limit             per-client-IP slowdown cap (0 = off)
 *   auth_disable_plaintext         refuse PLAIN/LOGIN unless the client
 *                                  says the channel is "secured"
 *
 * It runs as mail_owner like the other unprivileged services, so passwd-files
 * and sqlite databases must be readable by that user (e.g. root:yubin 0640).
 * Network-facing processes never open them: smtpd only relays base64 SASL
 * data over the socket (sasl_client.h).
 *
 * Security: unknown users cost a hash of a real-looking stored value, so
 * they answer as slowly as wrong passwords; failures are delayed with
 * timers (never sleep), so other clients are unaffected; a client IP
 * (IPv6: its /64) with n recent failures gets its next attempts started
 * no earlier than min(auth_penalty_limit, auth_failure_delay * 2^(n-1))
 * apart, however many it runs in parallel; passwords are never logged.
 *
 * Requests per client connection: at most 4,096 at a time (more are
 * refused with "FAIL ... reason=Too many requests" temp). A client forgets
 * one with "CANCEL\t<id>" (no reply follows); one that waits for the
 * client's next message is dropped with "reason=Authentication request
 * timed out" after 150 s, as Dovecot's auth server does.
 */
#ifndef YUBIN_AUTH_H
#define YUBIN_AUTH_H

#include <stddef.h>

struct config;
struct evloop;
struct worker;

struct auth_settings {
    const char *passdb;            /* auth_passdb */
    const char *userdb;            /* auth_userdb */
    const char *default_scheme;    /* auth_default_pass_scheme */
    const char *mechanisms;        /* auth_mechanisms */
    const char *username_format;   /* auth_username_format */
    const char *username_chars;    /* auth_username_chars ("" = any) */
    const char *default_realm;     /* auth_default_realm */
    const char *hostname;          /* myhostname, for CRAM-MD5 challenges */
    long long failure_delay_ms;    /* auth_failure_delay */
    long long penalty_limit_ms;    /* auth_penalty_limit */
    int disable_plaintext;         /* auth_disable_plaintext */
    int threads;                   /* hashing threads; 0 = one per CPU */
    long long client_wait_ms;      /* a request waits this long for the client's CONT
                                    * (0: 150 s); only tests change it */
};

/* The settings from a configuration (strings point into cfg). */
void auth_settings_from_config(const struct config *cfg, struct auth_settings *set);

struct auth_server;

/* cfg may be NULL (only sqlite: tables need it). */
struct auth_server *auth_server_new(const struct auth_settings *set, const struct config *cfg,
                                    struct evloop *loop, char *err, size_t errlen);
/* Closes every connection; pending requests are dropped. */
void auth_server_free(struct auth_server *s);
/* Accept clients on a listening socket; master = 1 for the userdb protocol. */
void auth_server_listen(struct auth_server *s, int fd, int master);
/* Serve one connected socket (taken over). */
void auth_server_add_conn(struct auth_server *s, int fd, int master);
/* Stop accepting; returns the number of requests still being worked on. */
size_t auth_server_shutdown(struct auth_server *s);
size_t auth_server_busy(const struct auth_server *s);
/* Requests held for clients, in any state (waiting for the client too). */
size_t auth_server_requests(const struct auth_server *s);

/* "2s", "500ms", "1m", "3" (seconds) -> milliseconds; -1 if malformed or above a day. */
int auth_parse_delay(const char *s, long long *ms);

/* Normalize a login name per auth_username_chars/format/realm: 0, or -1 if refused. */
int auth_username_normalize(const struct auth_settings *set, const char *in, char *out,
                            size_t outlen);

/* The master.cf role. */

#endif
