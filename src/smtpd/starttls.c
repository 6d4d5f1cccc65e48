/*
 * starttls.c - TLS in the SMTP server: STARTTLS (RFC 3207) and wrapper
 * mode (smtps, port 465).
 *
 * Owns: whether STARTTLS is offered or required (smtpd_tls_security_level
 * none / may / encrypt), the STARTTLS command, the non-blocking handshake
 * with its own timeout (smtpd_starttls_timeout), and what a session
 * forgets when TLS starts.
 *
 * The command-injection rule: whatever plaintext the client sent after the
 * STARTTLS line (pipelined in the same packet) is thrown away, not read as
 * commands inside the TLS session (the connection does that when TLS is
 * installed, lib/conn.h; we log it); and the session state is reset (HELO,
 * transaction, authentication), so the client must say EHLO again.
 */
#include "smtpd/smtpd.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <string.h>

int smtpd_starttls_offered(const struct session *s)
{
    const struct smtpd_server *srv = s->srv;
    return !s->tls && !srv->local && srv->tls && srv->tlsp.level != TLS_LEV_NONE &&
           !srv->tlsp.wrappermode;
}

/* smtpd_tls_security_level = encrypt: no mail before TLS. */
int smtpd_starttls_required(const struct session *s)
{
    return !s->tls && !s->srv->local && s->srv->tlsp.level >= TLS_LEV_ENCRYPT;
}

/* RFC 3207 4.2: after the handshake the server forgets what the client told it. */
static void forget_plaintext_state(struct session *s)
{
    smtpd_session_reset_transaction(s);
    s->helo[0] = '\0';
    s->esmtp = 0;
    s->helo_ok = 0;
    s->client_ok = 0;
    smtpd_restrict_actions_free(&s->actions);
    smtpd_auth_session_end(s);
}

/* The handshake ended: 0 done, -1 failed (tls_handshake logged why), -2 timed out. */
void smtpd_starttls_done(struct session *s, int result)
{
    if (result == -2)
        msg_info("SSL_accept error from %s: timed out", s->namaddr);
    if (result != 0) {
        smtpd_session_destroy(s, NULL);
        return;
    }
    smtpd_session_deadline_reset(s);
    forget_plaintext_state(s);
    if (!tls_conn_reused(s->tls) && smtpd_limits_event(s, CONNCOUNT_NEWTLS) < 0) {
        s->greet_after_tls = 0;
        s->state = SS_COMMAND;
        smtpd_session_resume(s);
        return;
    }
    if (s->greet_after_tls) {
        s->greet_after_tls = 0;
        smtpd_session_greet(s);
        return;
    }
    /* A TLS 1.3 client may have sent EHLO with its last handshake flight. */
    s->state = SS_COMMAND;
    smtpd_session_resume(s);
}

void smtpd_starttls_begin(struct session *s)
{
    struct tls_conn *t = tls_accept(s->srv->tls, conn_fd(s->conn), s->namaddr);
    if (!t) {
        msg_warn("%s: cannot start TLS", s->namaddr);
        smtpd_session_destroy(s, NULL);
        return;
    }
    /* Anything the client pipelined after STARTTLS was plaintext: never a command. */
    size_t dropped = tls_conn_attach(s->conn, t);
    if (dropped > 0)
        msg_info("%s: discarding %zu bytes of plaintext sent after STARTTLS", s->namaddr,
                 dropped);
    s->tls = t;
    s->state = SS_HANDSHAKE;
    conn_block_input(s->conn, 0);
    long long ms = s->srv->tlsp.starttls_timeout_ms > 0 ? s->srv->tlsp.starttls_timeout_ms : 300000;
    conn_handshake(s->conn, (uint64_t)ms);
}

void smtpd_cmd_starttls(struct session *s, char *arg)
{
    if (*str_trim(arg)) {
        smtpd_session_error(s, "501 5.5.4 Syntax: STARTTLS");
        return;
    }
    if (s->tls) {
        smtpd_session_error(s, "554 5.5.1 Error: TLS already active");
        return;
    }
    if (s->srv->local || s->srv->tlsp.level == TLS_LEV_NONE || s->srv->tlsp.wrappermode) {
        smtpd_session_error(s, "502 5.5.1 Error: command not implemented");
        return;
    }
    if (!s->srv->tls) {
        msg_warn("%s: STARTTLS: TLS is not available: %s", s->namaddr,
                 s->srv->tls_error ? s->srv->tls_error : "no server certificate");
        smtpd_session_error(s, "454 4.7.0 TLS not available due to local problem");
        return;
    }
    s->counts[CMD_STARTTLS][0]++;
    smtpd_session_reply(s, "220 2.0.0 Ready to start TLS");
    /* smtpd_session_resume() sends the 220, then calls smtpd_starttls_begin(). */
    s->state = SS_STARTTLS;
}

/*
 * The TLS lines of our Received: header, folded as Postfix folds them:
 *   (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *    key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)
 *   (No client certificate requested)
 */
void smtpd_tls_received_text(const struct session *s, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!s->tls || !s->srv->tlsp.received_header)
        return;
    char info[512], ccert[512];
    tls_received_info(s->tls, info, sizeof(info));
    tls_received_ccert_info(s->tls, ccert, sizeof(ccert));
    char *kx = strstr(info, " key-exchange");
    if (kx) {
        *kx = '\0';
        str_fmt(out, outlen, "%s\n\t %s\n\t%s", info, kx + 1, ccert);
    } else {
        str_fmt(out, outlen, "%s\n\t%s", info, ccert);
    }
}
