/*
 * sasl_client.h - SMTP AUTH for smtpd through a Dovecot-protocol
 * authentication server: yubin's auth service (private/auth) or a real
 * Dovecot (/run/dovecot/auth-client), like Postfix's smtpd_sasl_type =
 * dovecot.
 *
 * Owns: one non-blocking connection per process on the event loop, the
 * handshake (VERSION, MECH ..., DONE), the mechanism list filtered by
 * smtpd_sasl_security_options, authentication requests multiplexed over
 * the connection by id, CONT round trips, timeouts, CANCEL for requests
 * given up before the server answered them finally, and reconnecting when
 * the server goes away. SASL data stays base64 end to end: what the SMTP
 * client sends after "AUTH MECH" or in reply to a 334 goes to the server
 * as is, and CONT data from the server is what smtpd sends after "334 ".
 *
 * Typical use in smtpd:
 *
 *   char *path = saslc_socket_path(queue_dir, cfg_get(cfg, P_smtpd_sasl_path));
 *   struct sasl_client *sc = saslc_new(loop, path);      at worker start
 *
 *   EHLO:  struct buf m; buf_init(&m, 512);
 *          if (saslc_mechs(sc, tls_active, cfg_get(cfg, P_smtpd_sasl_security_options),
 *                                cfg_get(cfg, P_smtpd_sasl_tls_security_options), &m) > 0)
 *              reply "250-AUTH <m>"
 *   AUTH PLAIN [ir]:
 *          s->sasl = sasl_auth_start(sc, "PLAIN", ir_or_NULL, rip, lip,
 *                                    tls_active ? SASL_SECURED : 0, on_sasl, s);
 *          ("AUTH PLAIN =" means an empty initial response: pass "".)
 *   on_sasl(s, SASL_CONT, b64):    reply "334 <b64>", read a line L;
 *                                  L == "*" -> sasl_auth_cancel(s->sasl), "501 5.7.0 Authentication aborted"
 *                                  else sasl_auth_continue(s->sasl, L)
 *   on_sasl(s, SASL_OK, user):     "235 2.7.0 Authentication successful"; sasl_username = user
 *   on_sasl(s, SASL_FAIL, reason): "535 5.7.8 Error: authentication failed: <reason or
 *                                  "authentication failure">" (Postfix's wording)
 *   on_sasl(s, SASL_TEMPFAIL, r):  "454 4.7.0 Temporary authentication failure: <r>"
 *   session ends mid-exchange:     sasl_auth_cancel(s->sasl)
 *   no answer to a 334 in time:    on_sasl(s, SASL_TEMPFAIL, "authentication exchange timed out")
 *                                  (see saslc_set_client_wait)
 *
 * Giving up (sasl_auth_cancel, a timeout, bad data from either side) sends
 * "CANCEL\t<id>" when the server holds the request, so abandoned exchanges
 * do not pile up there (Dovecot and yubin's auth service refuse new
 * requests on a connection with thousands pending). Replies that arrive
 * later for that id, from a server without CANCEL or crossing it, are
 * dropped.
 *
 * After SASL_OK, SASL_FAIL or SASL_TEMPFAIL the handle is freed by the
 * library: do not touch it again (no cancel). Callbacks never run inside
 * sasl_auth_start/continue/cancel; they run from the event loop. Do not
 * call saslc_free from a callback.
 */
#ifndef YUBIN_SASL_CLIENT_H
#define YUBIN_SASL_CLIENT_H

#include "lib/buf.h"

struct evloop;
struct sasl_client;
struct sasl_auth;

enum sasl_status {
    SASL_CONT,       /* text: base64 challenge (may be "") */
    SASL_OK,         /* text: the authenticated user name (printable) */
    SASL_FAIL,       /* text: reason to show the client, or NULL */
    SASL_TEMPFAIL,   /* text: what went wrong (server unreachable, timeout, "temp" failure) */
};

typedef void (*sasl_cb)(void *arg, enum sasl_status status, const char *text);

/* Flags for sasl_auth_start. */
#define SASL_SECURED          0x1   /* TLS (Dovecot's "secured") */
#define SASL_VALID_CLIENT_CERT 0x2  /* a verified client certificate */
#define SASL_LOGIN            0x4   /* a login (imapd): the server keeps a success for
                                     * the master's REQUEST (no "nologin") */

/*
 * socket_path: the server's UNIX socket (see saslc_socket_path).
 * Connects right away, in the background; reconnects when needed.
 */
struct sasl_client *saslc_new(struct evloop *loop, const char *socket_path);
/* Pending requests are dropped without callbacks. */
void saslc_free(struct sasl_client *c);
/* The "service=" value; default "smtp" (smtpd_sasl_service). */
void saslc_set_service(struct sasl_client *c, const char *service);
/* Seconds to wait for a server reply before SASL_TEMPFAIL; default 60. */
void saslc_set_timeout(struct sasl_client *c, unsigned seconds);
/*
 * Milliseconds the caller's client may take to answer a SASL_CONT
 * challenge (sasl_auth_continue); then the request is cancelled and
 * reported as SASL_TEMPFAIL "authentication exchange timed out". smtpd
 * passes smtpd_timeout; default (and 0) 300 s.
 */
void saslc_set_client_wait(struct sasl_client *c, unsigned ms);
/* Has the handshake completed (mechanisms known)? */
int saslc_ready(const struct sasl_client *c);

/*
 * Append the mechanisms to announce ("PLAIN LOGIN") to out, filtered by
 * Postfix's security options (noplaintext, noactive, nodictionary,
 * noanonymous, mutual_auth, forward_secrecy): tls_security_options apply
 * when tls_active (NULL: same as security_options). Returns how many; 0
 * while not connected (smtpd then offers no AUTH), which also triggers a
 * reconnect attempt.
 */
int saslc_mechs(struct sasl_client *c, int tls_active, const char *security_options,
                      const char *tls_security_options, struct buf *out);
/* Validate a security options value: 0, or -1 with err naming the bad word. */
int sasl_security_options_check(const char *options, char *err, size_t errlen);

/*
 * Start one authentication. initial_resp_b64: the SMTP initial response
 * (NULL: none; "": empty). rip/lip: client and server IP addresses (may be
 * NULL). Never returns NULL: problems (bad arguments, server down,
 * mechanism not offered) are reported through cb.
 */
struct sasl_auth *sasl_auth_start(struct sasl_client *c, const char *mech,
                                  const char *initial_resp_b64, const char *rip,
                                  const char *lip, int flags, sasl_cb cb, void *arg);
/* The client's answer to a SASL_CONT challenge (base64, "" allowed). */
void sasl_auth_continue(struct sasl_auth *a, const char *resp_b64);
/* Abandon: no more callbacks for this handle, which is freed; the server is
 * told (CANCEL) if it holds the request. */
void sasl_auth_cancel(struct sasl_auth *a);

/*
 * Inside the SASL_OK callback of a SASL_LOGIN request: what the master
 * side needs to ask the server who logged in (Dovecot's "REQUEST id pid
 * id cookie" on the auth-master socket): the request id, this process's
 * pid (sent as CPID) and the connection's COOKIE (hex). 0, or -1 outside
 * such a callback or when the server sent no COOKIE.
 */
int saslc_login_ref(const struct sasl_client *c, unsigned *id, unsigned long *cpid,
                          const char **cookie);

/*
 * smtpd_sasl_path -> socket path: "unix:" is dropped; absolute paths are
 * kept; relative ones ("private/auth") are taken relative to queue_dir,
 * as Postfix does. Caller frees.
 */
char *saslc_socket_path(const char *queue_dir, const char *sasl_path);

#endif
