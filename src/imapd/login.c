/*
 * login.c - the imapd front end ("imap-login"): IMAP's words for
 * lib-login's front end (lib-login/frontend.h), which owns the
 * connections, TLS, the auth service and the hand-off.
 *
 * Owns: the greeting and the pre-login CAPABILITY (LOGINDISABLED and no
 * plaintext mechanisms on a connection that is neither TLS nor from the
 * server's own address, as Dovecot), the commands allowed before login
 * (CAPABILITY NOOP LOGOUT ID STARTTLS LOGIN AUTHENTICATE; LOGIN is sent to
 * the auth service as PLAIN), SASL's "+ " continuations, and the replies
 * to a failed login or a forced end.
 */
#include "imapd/login.h"

#include "lib-login/frontend.h"
#include "lib/base64.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static const struct imapd_settings *imap_set;

static void capability_pre(struct login_fe *s, struct buf *out)
{
    buf_puts(out, "IMAP4rev1 SASL-IR LITERAL+ ID");
    if (login_fe_starttls_offered(s))
        buf_puts(out, " STARTTLS");
    struct buf m;
    buf_init(&m, 4096);
    login_fe_mechs(s, &m);
    size_t n;
    char **v = str_split_list(buf_cstr(&m), &n);
    for (size_t i = 0; i < n; i++)
        buf_printf(out, " AUTH=%s", v[i]);
    strv_free(v);
    buf_free(&m);
    if (!login_fe_plaintext_ok(s))
        buf_puts(out, " LOGINDISABLED");
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

static void cmd_capability(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    (void)a;
    struct buf capa;
    buf_init(&capa, 8192);
    capability_pre(s, &capa);
    imapd_reply(login_fe_conn(s), NULL, "CAPABILITY %s", buf_cstr(&capa));
    buf_free(&capa);
    imapd_reply(login_fe_conn(s), tag, "OK Pre-login capabilities listed, post-login capabilities have more.");
}

static void cmd_noop(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    (void)a;
    imapd_reply(login_fe_conn(s), tag, "OK NOOP completed.");
}

static void cmd_logout(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    (void)a;
    imapd_reply(login_fe_conn(s), NULL, "BYE Logging out");
    imapd_reply(login_fe_conn(s), tag, "OK Logout completed.");
    login_fe_close(s);
}

static void cmd_id(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    const struct imap_arg *l;
    if (!imap_arg_is_nil(&a[0]) && !imap_arg_list(&a[0], &l)) {
        imapd_reply(login_fe_conn(s), tag, "BAD Invalid ID parameters.");
        return;
    }
    imapd_reply_id(login_fe_conn(s));
    imapd_reply(login_fe_conn(s), tag, "OK ID completed.");
}

static void cmd_starttls(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    (void)a;
    if (login_fe_tls(s)) {
        imapd_reply(login_fe_conn(s), tag, "BAD TLS is already active.");
        return;
    }
    if (!login_fe_starttls_offered(s)) {
        imapd_reply(login_fe_conn(s), tag, "BAD TLS support isn't enabled.");
        return;
    }
    imapd_reply(login_fe_conn(s), tag, "OK Begin TLS negotiation now.");
    login_fe_starttls(s);
}

static void cmd_login(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    const char *user, *pass;
    size_t ulen, plen;
    if (!imap_arg_astring(&a[0], &user, &ulen) || !imap_arg_astring(&a[1], &pass, &plen) ||
        !imap_arg_is_eol(&a[2])) {
        imapd_reply(login_fe_conn(s), tag, "BAD Invalid arguments.");
        return;
    }
    if (!login_fe_plaintext_ok(s)) {
        imapd_reply(login_fe_conn(s), tag, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed on "
                    "non-secure (SSL/TLS) connections.");
        return;
    }
    if (memchr(user, '\0', ulen) || memchr(pass, '\0', plen)) {
        imapd_reply(login_fe_conn(s), tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
        return;
    }
    struct buf raw, b64;
    buf_init(&raw, 0);
    buf_init(&b64, 0);
    buf_putc(&raw, '\0');
    buf_append(&raw, user, ulen);
    buf_putc(&raw, '\0');
    buf_append(&raw, pass, plen);
    base64_encode(&b64, raw.data, raw.len);
    login_fe_auth(s, tag, "PLAIN", buf_cstr(&b64), "LOGIN");  /* the log names the command */
    explicit_bzero(raw.data, raw.len);
    explicit_bzero(b64.data, b64.len);
    buf_free(&raw);
    buf_free(&b64);
}

static void cmd_authenticate(struct login_fe *s, const char *tag, const struct imap_arg *a)
{
    const char *mech, *ir = NULL;
    if (!imap_arg_atom(&a[0], &mech) ||
        (!imap_arg_is_eol(&a[1]) && (!imap_arg_atom(&a[1], &ir) || !imap_arg_is_eol(&a[2])))) {
        imapd_reply(login_fe_conn(s), tag, "BAD Invalid arguments.");
        return;
    }
    if (!login_fe_mech_offered(s, mech)) {
        if (!login_fe_plaintext_ok(s) && (str_ieq(mech, "PLAIN") || str_ieq(mech, "LOGIN")))
            imapd_reply(login_fe_conn(s), tag, "NO [PRIVACYREQUIRED] Plaintext authentication disallowed "
                        "on non-secure (SSL/TLS) connections.");
        else
            imapd_reply(login_fe_conn(s), tag, "NO Unsupported authentication mechanism.");
        return;
    }
    if (ir && strcmp(ir, "=") == 0)
        ir = "";                      /* SASL-IR: an empty initial response */
    login_fe_auth(s, tag, mech, ir, NULL);
}

struct fe_cmd {
    const char *name;
    void (*fn)(struct login_fe *s, const char *tag, const struct imap_arg *args);
};

static const struct fe_cmd commands[] = {
    {"CAPABILITY", cmd_capability},
    {"NOOP", cmd_noop},
    {"LOGOUT", cmd_logout},
    {"ID", cmd_id},
    {"STARTTLS", cmd_starttls},
    {"LOGIN", cmd_login},
    {"AUTHENTICATE", cmd_authenticate},
};

static void run_command(struct login_fe *s, struct imap_parser *p)
{
    const char *tag = imap_parser_tag(p), *name = imap_parser_command(p);
    const struct imap_arg *args = imap_parser_args(p);
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (str_ieq(name, commands[i].name)) {
            commands[i].fn(s, tag, args);
            return;
        }
    imapd_reply(login_fe_conn(s), tag, "BAD Unknown command.");
}


/* ------------------------------------------------------------------ */
/* the callbacks                                                       */

static void *sess_new(struct login_fe *s)
{
    (void)s;
    struct imap_parser_limits lim;
    imapd_parser_limits(imap_set, 0, &lim);
    return imap_parser_new(&lim);
}

static void sess_free(void *ps)
{
    imap_parser_free(ps);
}

static void greet(struct login_fe *s, void *ps)
{
    (void)ps;
    struct buf capa;
    buf_init(&capa, 8192);
    capability_pre(s, &capa);
    imapd_reply(login_fe_conn(s), NULL, "OK [CAPABILITY %s] yubin ready.", buf_cstr(&capa));
    buf_free(&capa);
}

static int command(struct login_fe *s, void *ps)
{
    struct imap_parser *p = ps;
    struct conn *c = login_fe_conn(s);
    char *data;
    size_t len = conn_peek(c, &data), used = 0;
    if (len == 0)
        return 0;
    enum imap_parse_result r = imap_parser_feed(p, data, len, &used);
    conn_consume(c, used);
    if (r == IMAP_PARSE_CONTINUE)
        imapd_reply(c, "+", "OK");
    else if (r == IMAP_PARSE_ERROR)
        imapd_reply_parse_error(c, p);
    else if (r == IMAP_PARSE_DONE)
        run_command(s, p);
    else if (used == 0)
        return 0;
    return 1;
}

static void tls_started(struct login_fe *s, void *ps)
{
    (void)s;
    imap_parser_reset(ps);
}

static void challenge(struct login_fe *s, void *ps, const char *b64)
{
    (void)ps;
    imapd_reply(login_fe_conn(s), "+", "%s", b64);
}

static int response(void *ps, char *line, const char **b64)
{
    (void)ps;
    *b64 = line;
    return strcmp(line, "*") == 0;
}

static void auth_result(struct login_fe *s, void *ps, enum login_auth_result r)
{
    struct conn *c = login_fe_conn(s);
    (void)ps;
    const char *tag = login_fe_tag(s);
    switch (r) {
    case LOGIN_AUTH_FAILED:
        imapd_reply(c, tag, "NO [AUTHENTICATIONFAILED] Authentication failed.");
        break;
    case LOGIN_AUTH_TEMPFAIL:
        imapd_reply(c, tag, "NO [UNAVAILABLE] Temporary authentication failure.");
        break;
    case LOGIN_AUTH_ABORTED:
    case LOGIN_AUTH_MALFORMED:
        imapd_reply(c, tag, "BAD Authentication aborted by client.");
        break;
    case LOGIN_AUTH_INTERNAL:
        imapd_reply(c, tag, "NO [UNAVAILABLE] Internal error occurred. "
                    "Refer to server log for more information.");
        break;
    }
}

static void bye(struct login_fe *s, void *ps, enum login_bye why)
{
    (void)ps;
    struct conn *c = login_fe_conn(s);
    switch (why) {
    case LOGIN_BYE_TIMEOUT:
        imapd_reply(c, NULL, "BYE Disconnected for inactivity.");
        break;
    case LOGIN_BYE_PIPELINED:
        imapd_reply(c, NULL, "BYE Too much input pipelined after login.");
        break;
    case LOGIN_BYE_AUTH_LONG:
        imapd_reply(c, NULL, "BYE Authentication response too long.");
        break;
    case LOGIN_BYE_USERIP:
        imapd_reply(c, NULL, "BYE Maximum number of connections from user+IP exceeded "
                    "(mail_max_userip_connections=%lld)", login_fe_settings(s)->max_userip);
        break;
    }
}

static const struct login_proto imap_proto = {
    .sess_new = sess_new, .sess_free = sess_free, .greet = greet, .command = command,
    .tls_started = tls_started, .challenge = challenge, .response = response,
    .auth_result = auth_result, .bye = bye,
};

int imapd_login_run(const struct imapd_settings *set, int *listen_fds, size_t nlisten,
                    struct tls_server *tls, const char *tls_error, int launcher)
{
    imap_set = set;
    return login_fe_run(&set->l, &imap_proto, listen_fds, nlisten, tls, tls_error, launcher);
}
