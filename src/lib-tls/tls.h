/*
 * tls.h - TLS on OpenSSL 3 for the SMTP server (STARTTLS, RFC 3207, and
 * wrapper mode on port 465) and the SMTP client, configured with
 * Postfix's parameters and semantics (postconf(5)).
 *
 * Owns: server and client SSL contexts built from smtpd_tls_* / smtp_tls_*
 * (and the shared tls_*) parameters, certificate chain loading
 * (smtpd_tls_chain_files, the legacy cert/key pairs, tls_server_sni_maps),
 * Postfix's protocol syntax (">=TLSv1.2", "!TLSv1.1", "<=0304") and cipher
 * grades, session tickets, one non-blocking connection object per TCP
 * connection, the peer certificate facts smtpd restrictions need
 * (fingerprints, CN), Postfix's log lines and Received: text, and the
 * certificate checks of `yubin check`.
 *
 * Non-blocking use from an event loop (the fd is the connection's socket,
 * already non-blocking; nothing here ever blocks on it):
 *
 *     c = tls_accept(server, fd, "host[addr]");      // after "220 Ready to start TLS"
 *     on every readiness event:
 *         switch (tls_handshake(c)) {
 *         case TLS_WANT_READ:  wait for EV_READ;  break;
 *         case TLS_WANT_WRITE: wait for EV_WRITE; break;
 *         case TLS_ERROR:      tls_free(c); close(fd); break;  // already logged
 *         case TLS_OK:         session continues over tls_read/tls_write
 *         }
 *
 * tls_read/tls_write return bytes, 0 for end of stream (read), or -1 with
 * *want set to TLS_WANT_READ / TLS_WANT_WRITE (wait for that readiness on
 * the fd: a read may need to write and a write may need to read) or
 * TLS_ERROR. After a TLS_WANT_* from tls_write, call it again with the
 * same bytes (the buffer may have moved). Decrypted bytes can be buffered
 * inside OpenSSL where epoll cannot see them: after a read, loop while
 * tls_pending(c) > 0 before waiting for the fd again. After the handshake
 * completes, try a read at once: a TLS 1.3 client may already have sent
 * its next command.
 *
 * STARTTLS: the caller must discard (or reject) any plaintext it has
 * already buffered after the STARTTLS command line before calling
 * tls_accept (command injection, CVE-2011-0411), and must forget the EHLO
 * state afterwards (RFC 3207 section 4.2).
 *
 * Timeouts are the caller's: use smtpd_starttls_timeout (returned in
 * struct tls_smtpd_policy) as the limit for the whole handshake.
 *
 * Privileges and reload: tls_server_new reads the key files, which are
 * normally readable by root only, and the files named in runtime SNI
 * tables. Call it before dropping privileges, once per worker process; a
 * context is never re-read. `yubin reload` restarts the workers, so new
 * certificates are picked up by the new generation; sessions of the old
 * generation finish with the old ones.
 *
 * The process must ignore SIGPIPE (OpenSSL writes to the socket with
 * write(2)); every yubin daemon does.
 *
 * Not thread-safe: one event-loop thread per process, like everything else.
 */
#ifndef YUBIN_TLS_H
#define YUBIN_TLS_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct tls_server;
struct tls_client;
struct tls_conn;

/* Results of tls_handshake, tls_shutdown and the *want of tls_read/tls_write. */
#define TLS_OK          0
#define TLS_WANT_READ   1
#define TLS_WANT_WRITE  2
#define TLS_ERROR     (-1)

/* Security levels, Postfix's names. The server uses NONE, MAY and ENCRYPT. */
enum tls_level {
    TLS_LEV_NONE,
    TLS_LEV_MAY,
    TLS_LEV_ENCRYPT,
    TLS_LEV_FINGERPRINT,   /* client: smtp_tls_fingerprint_cert_match */
    TLS_LEV_VERIFY,        /* client: trusted chain + smtp_tls_verify_cert_match */
    TLS_LEV_SECURE,        /* client: trusted chain + smtp_tls_secure_cert_match */
};
const char *tls_level_name(enum tls_level level);
/* "none", "may", ... (case-insensitive); -1 if unknown. "dane" and
 * "dane-only" are not supported: see tls_client_level(). */
int tls_level_parse(const char *s);

/* ------------------------------------------------------------------ */
/* Server                                                              */

/*
 * What smtpd does with TLS, from its (service) configuration:
 *   level            smtpd_tls_security_level, else the obsolete
 *                    smtpd_enforce_tls (encrypt) / smtpd_use_tls (may);
 *                    "fingerprint", "verify", "secure" mean encrypt (with a
 *                    warning, as Postfix). With smtpd_tls_wrappermode the
 *                    level is ENCRYPT: TLS from the first byte.
 *   wrappermode      smtpd_tls_wrappermode: start with tls_accept, no STARTTLS
 *   ask_ccert        smtpd_tls_ask_ccert, or require_ccert
 *   require_ccert    smtpd_tls_req_ccert at level encrypt (ignored with a
 *                    warning when TLS is optional, as Postfix): the
 *                    handshake fails without a trusted client certificate
 *   auth_only        smtpd_tls_auth_only, implied by level encrypt: offer
 *                    AUTH only after STARTTLS
 *   received_header  smtpd_tls_received_header: add tls_received_info()
 *                    and tls_received_ccert_info() to Received:
 *   starttls_timeout_ms  smtpd_starttls_timeout, the caller's handshake limit
 *   loglevel         smtpd_tls_loglevel
 * Returns 0, or -1 with a message in err (bad security level).
 */
struct tls_smtpd_policy {
    enum tls_level level;
    int wrappermode;
    int ask_ccert;
    int require_ccert;
    int auth_only;
    int received_header;
    long long starttls_timeout_ms;
    int loglevel;
};
int tls_smtpd_policy(const struct config *cfg, struct tls_smtpd_policy *p, char *err,
                     size_t errlen);

/*
 * The server context for one smtpd service (cfg has the service's -o
 * overrides applied). Reads every key, certificate, CA and SNI chain now.
 * Returns NULL with a message naming the parameter and file in err when
 * something is wrong, e.g.
 *   "smtpd_tls_key_file /etc/yubin/key.pem: Permission denied"
 *   "smtpd_tls_chain_files /etc/yubin/rsa.pem: the private key does not match the certificate"
 * The protocol and cipher settings are the mandatory ones
 * (smtpd_tls_mandatory_*) when TLS is required (level encrypt or wrapper
 * mode), else the opportunistic ones.
 */
struct tls_server *tls_server_new(const struct config *cfg, char *err, size_t errlen);
void tls_server_free(struct tls_server *s);
int tls_server_loglevel(const struct tls_server *s);

/*
 * Start the server side of TLS on fd (a connected, non-blocking socket).
 * namaddr ("host[addr]") is used in log lines. Never NULL (allocation
 * failures are fatal); errors show up in tls_handshake.
 */
struct tls_conn *tls_accept(struct tls_server *s, int fd, const char *namaddr);

/* ------------------------------------------------------------------ */
/* Client                                                              */

/*
 * The client context for prefix "smtp" or "lmtp" (smtp_tls_* or
 * lmtp_tls_* parameters): CA files, client certificate (optional),
 * protocols and cipher grades (opportunistic and mandatory), SNI, name
 * matching. Returns NULL with err on bad files or settings.
 */
struct tls_client *tls_client_new(const struct config *cfg, const char *prefix, char *err,
                                  size_t errlen);
void tls_client_free(struct tls_client *cl);

/*
 * The configured default level: PREFIX_tls_security_level, else the
 * obsolete PREFIX_enforce_tls (+ PREFIX_tls_enforce_peername: verify,
 * else encrypt) / PREFIX_use_tls (may). "dane" means "may" and
 * "dane-only" is an error: yubin does not do DANE (no DNSSEC resolver).
 * Returns the level, or -1 with err.
 */
int tls_client_level(const struct config *cfg, const char *prefix, char *err, size_t errlen);

/* One outgoing connection. */
struct tls_client_peer {
    enum tls_level level;     /* MAY and up (NONE: do not call tls_connect) */
    const char *nexthop;      /* the next-hop domain (e.g. "example.com"), for
                                 "nexthop"/"dot-nexthop" matching and SNI */
    const char *hostname;     /* the server's name (MX host), for "hostname" */
    const char *namaddr;      /* "host[addr]:port" for log lines */
    const char *servername;   /* SNI; NULL: from PREFIX_tls_servername
                                 ("hostname", "nexthop", a name, or empty: none) */
};

/*
 * Start the client side on fd (connected; blocking or non-blocking).
 * With a blocking fd tls_handshake() runs the whole handshake at once; or
 * use tls_handshake_wait(). At levels fingerprint, verify and secure
 * tls_handshake() fails (and logs why) unless the server certificate
 * matches; at may and encrypt it is only recorded (tls_conn_peer_*).
 */
struct tls_conn *tls_connect(struct tls_client *cl, int fd, const struct tls_client_peer *p);

/* ------------------------------------------------------------------ */
/* Connections (both sides)                                            */

/*
 * Advance the handshake. TLS_OK when it is complete (then logs the
 * "... TLS connection established ..." line at loglevel >= 1), TLS_WANT_*
 * to be called again when the fd is ready, TLS_ERROR when it failed: the
 * failure was logged ("SSL_accept error from host[addr]: reason" /
 * "SSL_connect error to host[addr]: reason" plus OpenSSL's error queue as
 * "TLS library problem" warnings) and tls_conn_error() says why. After
 * TLS_ERROR the connection is unusable: tls_free() it and close the fd.
 */
int tls_handshake(struct tls_conn *c);
/* The whole handshake within timeout_ms (poll(2) on the fd): TLS_OK or TLS_ERROR. */
int tls_handshake_wait(struct tls_conn *c, int timeout_ms);

ssize_t tls_read(struct tls_conn *c, void *buf, size_t len, int *want);
ssize_t tls_write(struct tls_conn *c, const void *buf, size_t len, int *want);
/* Decrypted bytes buffered inside OpenSSL (read them before polling the fd). */
int tls_pending(struct tls_conn *c);
/*
 * Send close_notify. TLS_OK when done, TLS_WANT_* to call again, TLS_ERROR
 * (give up: just close). With tls_fast_shutdown_enable = yes (the
 * default) it does not wait for the peer's close_notify.
 */
int tls_shutdown(struct tls_conn *c);
/* Free the connection; the fd is the caller's to close. NULL is fine. */
void tls_free(struct tls_conn *c);

/*
 * Make t the I/O layer of connection c (lib/conn.h): from now on c reads
 * and writes through TLS, and c owns t (conn_free / conn_layer_drop free
 * it). The plaintext input c had buffered is discarded (the STARTTLS
 * injection rule); returns how many bytes, for the caller's log. Then
 * conn_handshake() or conn_handshake_wait().
 */
struct conn;
size_t tls_conn_attach(struct conn *c, struct tls_conn *t);
/* The handshake of an attached t, blocking (conn_handshake_wait): TLS_OK or TLS_ERROR (logged). */
int tls_conn_handshake_wait(struct conn *c, struct tls_conn *t, int timeout_ms);

int tls_conn_fd(const struct tls_conn *c);
/* Why the handshake or the last read/write failed ("" if it did not). */
const char *tls_conn_error(const struct tls_conn *c);

/* After a successful handshake: */
const char *tls_conn_protocol(const struct tls_conn *c);     /* "TLSv1.3" */
const char *tls_conn_cipher(const struct tls_conn *c);       /* "TLS_AES_256_GCM_SHA384" */
int tls_conn_bits(const struct tls_conn *c, int *alg_bits);  /* 256 (and 256) */
int tls_conn_reused(const struct tls_conn *c);               /* session resumed (ticket) */
/* Server: the SNI name the client sent and that matched tls_server_sni_maps, or NULL. */
const char *tls_conn_sni(const struct tls_conn *c);

/*
 * The peer certificate (server: the client certificate, if one was asked
 * for and sent; client: the server certificate):
 *   present        a certificate was sent
 *   trusted        its chain verified against the CAs (server:
 *                  smtpd_tls_CAfile/CApath): permit_tls_clientcerts,
 *                  permit_tls_all_clientcerts require this
 *   verified       client side: trusted and the name matched (level
 *                  verify/secure) or the fingerprint matched (level
 *                  fingerprint); server side: same as trusted
 *   fingerprint    digest of the certificate (DER) with
 *                  smtpd_tls_fingerprint_digest (smtp_tls_... on the
 *                  client), "AB:CD:..." upper case hex as Postfix, for
 *                  check_ccert_access and relay_clientcerts
 *   pkey_fingerprint  the same digest of the public key (SubjectPublicKeyInfo)
 *   cn, issuer_cn  subject and issuer CommonName (issuer: Organization
 *                  when it has no CN), printable ASCII (others as '?')
 * Strings are NULL when there is no certificate (cn: or no CN).
 */
int tls_conn_peer_present(const struct tls_conn *c);
int tls_conn_peer_trusted(const struct tls_conn *c);
int tls_conn_peer_verified(const struct tls_conn *c);
const char *tls_conn_peer_fingerprint(const struct tls_conn *c);
const char *tls_conn_peer_pkey_fingerprint(const struct tls_conn *c);
const char *tls_conn_peer_cn(const struct tls_conn *c);
const char *tls_conn_issuer_cn(const struct tls_conn *c);

/*
 * Received: header text, Postfix's format (one line; Postfix folds before
 * " key-exchange", i.e. "...bits)\n\t key-exchange ..."):
 *   "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *     key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)"
 * and the client certificate part (server side), one of
 *   "(No client certificate requested)"
 *   "(Client did not present a certificate)"
 *   "(Client CN \"name\", Issuer \"CA name\" (verified OK))"  / "(not verified)"
 */
void tls_received_info(const struct tls_conn *c, char *out, size_t len);
void tls_received_ccert_info(const struct tls_conn *c, char *out, size_t len);

/*
 * The summary line, as Postfix logs it at loglevel >= 1 (tls_handshake
 * already calls this; namaddr NULL means the one given to tls_accept /
 * tls_connect):
 *   "Anonymous TLS connection established from host[addr]: TLSv1.3 with cipher
 *    TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature
 *    RSA-PSS (2048 bits) server-digest SHA256"
 * Server: Anonymous (no client certificate), Untrusted, Trusted;
 * " to SNI-NAME" after the address when an SNI name matched.
 * Client: "... established to host[addr]:port: ...", Anonymous,
 * Untrusted, Trusted, Verified.
 */
void tls_log_established(const struct tls_conn *c, const char *namaddr);

/* ------------------------------------------------------------------ */
/* Configuration checks (yubin check)                                  */

/*
 * Check the TLS configuration of one smtpd service (cfg with its
 * overrides applied): every problem tls_server_new would refuse to start
 * with, plus warnings (certificates that expired or expire within 30 days,
 * certificates not usable for a server, settings Postfix also ignores).
 * Each finding goes to fn with the parameter it concerns (never NULL).
 * Returns the number of errors.
 */
typedef void (*tls_check_fn)(void *arg, int is_error, const char *param, const char *text);
int tls_check_server(const struct config *cfg, tls_check_fn fn, void *arg);

#endif
