/*
 * auth.c - SMTP AUTH (RFC 4954) in the SMTP server.
 *
 * Owns: whether AUTH is offered (smtpd_sasl_auth_enable, smtpd_tls_auth_only,
 * smtpd_sasl_security_options / smtpd_sasl_tls_security_options,
 * broken_sasl_auth_clients), the AUTH command and its 334 round trips, and
 * what an authenticated session carries (sasl_method, sasl_username for
 * restrictions, the queue file and the logs). The password check itself
 * happens in the authentication server (yubin's auth service or a
 * Dovecot) through sasl_client.h: smtpd never sees a password database.
 *
 * Failures count as errors (smtpd_soft/hard_error_limit: a client that
 * keeps guessing is disconnected) and are logged the Postfix way, without
 * the password: "warning: host[addr]: SASL PLAIN authentication failed: ...".
 *
 * Exchanges in flight: the auth server holds each one for this smtpd's
 * single connection, which it caps (4,096 at a time in yubin's auth). So
 * an exchange that ends early ("*", a session that ends or times out) is
 * cancelled there (sasl_auth_cancel), a 334 left unanswered for
 * smtpd_timeout ends the session as a timeout, and one client address
 * (IPv6: its /64) may have at most AUTH_PER_CLIENT_MAX exchanges in flight
 * in this process: beyond that it alone gets 454.
 */
#include "smtpd/smtpd.h"
#include "lib-conf/config.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-auth/sasl_client.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define AUTH_PER_CLIENT_MAX 10
#define CLIENT_WAIT_MAX_MS  86400000LL

void smtpd_auth_setup(struct smtpd_server *srv)
{
    struct config *cfg = srv->cfg;
    if (srv->local || !cfg_get_bool(cfg, P_smtpd_sasl_auth_enable))
        return;
    const char *type = cfg_get(cfg, P_smtpd_sasl_type);
    if (type && strcasecmp(type, "dovecot") != 0) {
        msg_warn("smtpd_sasl_type = %s is not supported (only dovecot): SMTP AUTH is disabled", type);
        return;
    }
    char err[256];
    srv->sasl_opts = xstrdup(cfg_get(cfg, P_smtpd_sasl_security_options));
    srv->sasl_tls_opts = xstrdup(cfg_get(cfg, P_smtpd_sasl_tls_security_options));
    if (sasl_security_options_check(srv->sasl_opts, err, sizeof(err)) < 0 ||
        sasl_security_options_check(srv->sasl_tls_opts, err, sizeof(err)) < 0)
        msg_fatal("smtpd_sasl_security_options: %s", err);
    char *path = saslc_socket_path(srv->queue_dir, cfg_get(cfg, P_smtpd_sasl_path));
    srv->sasl = saslc_new(srv->loop, path);
    free(path);
    const char *service = cfg_get(cfg, P_smtpd_sasl_service);
    if (service && *service)
        saslc_set_service(srv->sasl, service);
    /* A 334 unanswered for smtpd_timeout is cancelled on the auth server too. */
    saslc_set_client_wait(srv->sasl, (unsigned)(srv->timeout_ms < CLIENT_WAIT_MAX_MS
                                                          ? srv->timeout_ms
                                                          : CLIENT_WAIT_MAX_MS));
    srv->tls_auth_only = cfg_get_bool(cfg, P_smtpd_tls_auth_only);
    srv->broken_sasl_clients = cfg_get_bool(cfg, P_broken_sasl_auth_clients);
    srv->sasl_auth_header = cfg_get_bool(cfg, P_smtpd_sasl_authenticated_header);
}

/* AUTH may be used here and now: enabled, not plaintext-forbidden, not done yet. */
static int auth_available(const struct session *s)
{
    const struct smtpd_server *srv = s->srv;
    return srv->sasl && !s->sasl_username && !(srv->tls_auth_only && !s->tls);
}

static int auth_mechs(struct session *s, struct buf *out)
{
    if (!auth_available(s))
        return 0;
    return saslc_mechs(s->srv->sasl, s->tls != NULL, s->srv->sasl_opts,
                             s->srv->sasl_tls_opts, out);
}

/* AUTH would be offered but the auth server's mechanisms are not known yet. */
int smtpd_auth_server_pending(const struct session *s)
{
    return auth_available(s) && !saslc_ready(s->srv->sasl);
}

void smtpd_auth_ehlo_keywords(struct session *s, struct buf *kw)
{
    struct buf m;
    buf_init(&m, 1024);
    if (auth_mechs(s, &m) > 0) {
        buf_printf(kw, "AUTH %s\n", m.data);
        /* Old Outlook and friends only understand the pre-RFC "AUTH=" form. */
        if (s->srv->broken_sasl_clients)
            buf_printf(kw, "AUTH=%s\n", m.data);
    }
    buf_free(&m);
}

static int mech_offered(struct session *s, const char *mech)
{
    struct buf m;
    buf_init(&m, 1024);
    int found = 0;
    if (auth_mechs(s, &m) > 0) {
        for (char *tok = strtok(m.data, " "); tok; tok = strtok(NULL, " "))
            if (strcasecmp(tok, mech) == 0)
                found = 1;
    }
    buf_free(&m);
    return found;
}

static void auth_done(void *arg, enum sasl_status st, const char *text)
{
    struct session *s = arg;
    if (st != SASL_CONT && s->state == SS_AUTH) {
        /* The exchange ended while the client still owed us an answer to
         * "334": it sat on it for smtpd_timeout. Replying now would be read
         * as the answer to its next line; end the session as a timeout. */
        s->sasl = NULL;
        smtpd_session_expire(s);
        return;
    }
    switch (st) {
    case SASL_CONT:
        /* The library holds on to the handle; the next client line answers it. */
        smtpd_session_reply(s, "334 %s", text ? text : "");
        s->state = SS_AUTH;
        smtpd_session_resume(s);
        return;
    case SASL_OK:
        s->sasl = NULL;
        s->sasl_username = xstrdup(text ? text : "");
        s->counts[CMD_AUTH][0]++;
        s->state = SS_COMMAND;
        smtpd_session_reply(s, "235 2.7.0 Authentication successful");
        break;
    case SASL_FAIL:
        s->sasl = NULL;
        s->state = SS_COMMAND;
        msg_warn("%s: SASL %s authentication failed: %s", s->namaddr, s->sasl_method,
                 text && *text ? text : "authentication failure");
        smtpd_session_error(s, "535 5.7.8 Error: authentication failed: %s",
                      text && *text ? text : "authentication failure");
        break;
    case SASL_TEMPFAIL:
        s->sasl = NULL;
        s->state = SS_COMMAND;
        msg_warn("%s: SASL %s authentication aborted: %s", s->namaddr, s->sasl_method,
                 text && *text ? text : "temporary failure");
        smtpd_session_error(s, "454 4.7.0 Temporary authentication failure: %s",
                      text && *text ? text : "try again later");
        break;
    }
    smtpd_session_resume(s);
}

/* AUTH before the auth server's mechanisms are known (no EHLO after STARTTLS
 * waited for them): wait like EHLO does, at most 2 s, then answer 454. */
static void auth_retry(void *arg)
{
    struct session *s = arg;
    s->wait_timer = NULL;
    char *a = s->auth_arg;
    s->auth_arg = NULL;
    s->state = SS_COMMAND;
    smtpd_cmd_auth(s, a ? a : (char *)"");
    free(a);
    smtpd_session_resume(s);
}

/* Sessions from s's address (IPv6: its /64) with an exchange in flight in this process. */
static int auth_in_flight(const struct session *s)
{
    char key[IP_KEY_MAX], other[IP_KEY_MAX];
    ip_limit_key(s->addr, key, sizeof(key));
    int n = 0;
    for (const struct session *t = s->srv->sessions; t; t = t->next) {
        if (!t->sasl)
            continue;
        ip_limit_key(t->addr, other, sizeof(other));
        n += strcmp(key, other) == 0;
    }
    return n;
}

void smtpd_cmd_auth(struct session *s, char *arg)
{
    struct smtpd_server *srv = s->srv;
    if (!srv->sasl || (srv->tls_auth_only && !s->tls)) {
        smtpd_session_error(s, "503 5.5.1 Error: authentication not enabled");
        return;
    }
    if (s->sasl_username) {
        smtpd_session_error(s, "503 5.5.1 Error: already authenticated");
        return;
    }
    if (s->in_mail) {
        smtpd_session_error(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    char *mech = strtok(arg, " ");
    char *ir = strtok(NULL, " ");
    if (!mech || strtok(NULL, " ") || strlen(mech) >= sizeof(s->sasl_method)) {
        smtpd_session_error(s, "501 5.5.4 Syntax: AUTH mechanism");
        return;
    }
    if (smtpd_auth_server_pending(s)) {
        if (s->auth_wait < 100) {
            s->auth_wait++;
            /* strtok cut arg at the first blank: put it back together. */
            s->auth_arg = ir ? xasprintf("%s %s", mech, ir) : xstrdup(mech);
            s->state = SS_WAIT;
            s->wait_timer = ev_timer_add(srv->loop, 20, auth_retry, s);
            return;
        }
        smtpd_session_error(s, "454 4.7.0 Temporary authentication failure: "
                         "authentication server not available");
        return;
    }
    /* Counted once per command: the waits above come back here. */
    if (smtpd_limits_event(s, CONNCOUNT_AUTH) < 0)
        return;
    if (!mech_offered(s, mech)) {
        smtpd_session_error(s, "504 5.5.4 Unsupported authentication mechanism");
        return;
    }
    int busy = auth_in_flight(s);
    if (busy >= AUTH_PER_CLIENT_MAX) {
        msg_warn("AUTH concurrency limit exceeded: %d from %s for service %s", busy + 1,
                 s->namaddr, srv->service ? srv->service : "smtp");
        smtpd_session_error(s, "454 4.7.0 Temporary authentication failure: "
                         "too many authentications in progress from %s", s->addr);
        return;
    }
    str_copy(s->sasl_method, mech, sizeof(s->sasl_method));
    for (char *p = s->sasl_method; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    /* "=" is an empty initial response (RFC 4954 4). */
    if (ir && strcmp(ir, "=") == 0)
        ir = "";
    s->state = SS_WAIT;
    s->sasl = sasl_auth_start(srv->sasl, s->sasl_method, ir, s->addr, NULL,
                              s->tls ? SASL_SECURED : 0, auth_done, s);
}

/* A line after "334": the client's base64 answer, or "*" to give up. */
void smtpd_auth_response(struct session *s, char *line)
{
    if (strcmp(line, "*") == 0) {
        smtpd_auth_abort(s);
        s->state = SS_COMMAND;
        msg_warn("%s: SASL %s authentication aborted", s->namaddr, s->sasl_method);
        smtpd_session_error(s, "501 5.7.0 Authentication aborted");
        return;
    }
    s->state = SS_WAIT;
    sasl_auth_continue(s->sasl, line);
}

void smtpd_auth_abort(struct session *s)
{
    if (s->sasl)
        sasl_auth_cancel(s->sasl);   /* tells the auth server (CANCEL) */
    s->sasl = NULL;
}

void smtpd_auth_session_end(struct session *s)
{
    smtpd_auth_abort(s);
    free(s->sasl_username);
    s->sasl_username = NULL;
    free(s->auth_arg);
    s->auth_arg = NULL;
}
