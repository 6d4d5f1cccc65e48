/*
 * login.c - the managesieved front end ("managesieve-login"): ManageSieve's
 * words for lib-login's front end (lib-login/frontend.h), which owns the
 * connections, TLS, the auth service and the hand-off.
 *
 * Owns: the greeting (the capability lines, then OK), the commands before
 * login (CAPABILITY STARTTLS AUTHENTICATE NOOP LOGOUT; RFC 5804), the
 * capabilities sent again after STARTTLS, SASL challenges as quoted
 * strings and the client's answers ("*" cancels), the plaintext policy's
 * words (no plaintext mechanisms before TLS unless local or
 * disable_plaintext_auth = no), and the replies to failed logins.
 */
#include "managesieved/managesieved.h"

#include "lib-login/frontend.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/util.h"
#include "managesieved/msieve_parse.h"

#include <stdlib.h>
#include <string.h>

#define BAD_COMMANDS_MAX 10
#define LOGIN_LITERAL_MAX 16384      /* an AUTHENTICATE argument */

struct sieve_fe {
    int bad;
};

static void capability(struct login_fe *s)
{
    struct buf m;
    buf_init(&m, 4096);
    login_fe_mechs(s, &m);
    managesieved_capability(conn_out(login_fe_conn(s)), buf_cstr(&m),
                            login_fe_starttls_offered(s));
    buf_free(&m);
}

static void bad(struct login_fe *s, struct sieve_fe *p, const char *text)
{
    managesieved_reply(login_fe_conn(s), "NO", NULL, text);
    if (++p->bad >= BAD_COMMANDS_MAX) {
        managesieved_reply(login_fe_conn(s), "BYE", NULL, "Too many invalid commands.");
        login_fe_close(s);
    }
}

static void cmd_authenticate(struct login_fe *s, struct sieve_fe *p, struct msieve_cmd *c)
{
    if (c->nargs < 1 || c->nargs > 2 || c->args[0].type != MSIEVE_STRING ||
        (c->nargs == 2 && c->args[1].type != MSIEVE_STRING)) {
        bad(s, p, "Invalid AUTHENTICATE arguments.");
        return;
    }
    const char *mech = c->args[0].s;
    if (!login_fe_mech_offered(s, mech)) {
        if (!login_fe_plaintext_ok(s) && (str_ieq(mech, "PLAIN") || str_ieq(mech, "LOGIN")))
            managesieved_reply(login_fe_conn(s), "NO", "ENCRYPT-NEEDED",
                               "Plaintext authentication disallowed on non-secure "
                               "(SSL/TLS) connections.");
        else
            bad(s, p, "Unsupported authentication mechanism.");
        return;
    }
    login_fe_auth(s, "", mech, c->nargs == 2 ? c->args[1].s : NULL, NULL);
}

static void run(struct login_fe *s, struct sieve_fe *p, struct msieve_cmd *c)
{
    struct conn *cn = login_fe_conn(s);
    if (strcmp(c->name, "CAPABILITY") == 0) {
        capability(s);
        managesieved_reply(cn, "OK", NULL, "Capability completed.");
    } else if (strcmp(c->name, "NOOP") == 0) {
        if (c->nargs == 1 && c->args[0].type == MSIEVE_STRING) {
            struct buf *o = conn_out(cn);
            buf_puts(o, "OK (TAG ");
            managesieved_put_string(o, c->args[0].s, c->args[0].len);
            buf_puts(o, ") \"Done\"\r\n");
        } else {
            managesieved_reply(cn, "OK", NULL, "NOOP completed.");
        }
    } else if (strcmp(c->name, "LOGOUT") == 0) {
        managesieved_reply(cn, "OK", NULL, "Logout completed.");
        login_fe_close(s);
    } else if (strcmp(c->name, "STARTTLS") == 0) {
        if (!login_fe_starttls_offered(s)) {
            bad(s, p, login_fe_tls(s) ? "TLS is already active." : "TLS is not available.");
            return;
        }
        managesieved_reply(cn, "OK", NULL, "Begin TLS negotiation now.");
        login_fe_starttls(s);
    } else if (strcmp(c->name, "AUTHENTICATE") == 0) {
        cmd_authenticate(s, p, c);
    } else {
        bad(s, p, "Unknown command or not logged in.");
    }
}

static void *sess_new(struct login_fe *s)
{
    (void)s;
    return xcalloc(1, sizeof(struct sieve_fe));
}

static void greet(struct login_fe *s, void *ps)
{
    (void)ps;
    capability(s);
    managesieved_reply(login_fe_conn(s), "OK", NULL, "yubin ready.");
}

static void tls_ready(struct login_fe *s, void *ps)
{
    greet(s, ps);                    /* RFC 5804 2.2: the capabilities again after TLS */
}

static int command(struct login_fe *s, void *ps)
{
    struct conn *c = login_fe_conn(s);
    char *data;
    size_t len = conn_peek(c, &data), used = 0;
    if (len == 0)
        return 0;
    struct msieve_cmd cmd;
    const char *err;
    enum msieve_parse_result r = managesieved_parse(data, len, LOGIN_LITERAL_MAX, &cmd, &used,
                                                    &err);
    if (r == MSIEVE_NEED)
        return 0;
    if (r == MSIEVE_FATAL || (r == MSIEVE_ERROR && cmd.too_large)) {
        managesieved_reply(c, "BYE", NULL, err);
        conn_consume(c, len);
        login_fe_close(s);
        return 1;
    }
    conn_consume(c, used);
    if (r == MSIEVE_ERROR)
        bad(s, ps, err);
    else
        run(s, ps, &cmd);
    managesieved_cmd_free(&cmd);
    return 1;
}

static void challenge(struct login_fe *s, void *ps, const char *b64)
{
    (void)ps;
    struct buf *o = conn_out(login_fe_conn(s));
    managesieved_put_string(o, b64, strlen(b64));
    buf_puts(o, "\r\n");
}

/* The answer: a quoted string; "*" (quoted) cancels. */
static int response(void *ps, char *line, const char **b64)
{
    (void)ps;
    size_t n = strlen(line);
    if (n < 2 || line[0] != '"' || line[n - 1] != '"' || memchr(line + 1, '"', n - 2) ||
        memchr(line + 1, '\\', n - 2))
        return -1;
    line[n - 1] = '\0';
    *b64 = line + 1;
    return strcmp(line + 1, "*") == 0;
}

static void auth_result(struct login_fe *s, void *ps, enum login_auth_result r)
{
    (void)ps;
    struct conn *c = login_fe_conn(s);
    switch (r) {
    case LOGIN_AUTH_FAILED:
        managesieved_reply(c, "NO", NULL, "Authentication failed.");
        break;
    case LOGIN_AUTH_TEMPFAIL:
        managesieved_reply(c, "NO", "TRYLATER", "Temporary authentication failure.");
        break;
    case LOGIN_AUTH_ABORTED:
        managesieved_reply(c, "NO", NULL, "Authentication aborted by client.");
        break;
    case LOGIN_AUTH_MALFORMED:
        managesieved_reply(c, "NO", NULL, "Invalid response to the challenge.");
        break;
    case LOGIN_AUTH_INTERNAL:
        managesieved_reply(c, "NO", "TRYLATER", "Internal error occurred. "
                           "Refer to server log for more information.");
        break;
    }
}

static void bye(struct login_fe *s, void *ps, enum login_bye why)
{
    (void)ps;
    static const char *const text[] = {
        [LOGIN_BYE_TIMEOUT] = "Disconnected for inactivity.",
        [LOGIN_BYE_PIPELINED] = "Too much input pipelined after login.",
        [LOGIN_BYE_AUTH_LONG] = "Authentication response too long.",
        [LOGIN_BYE_USERIP] = "Maximum number of connections from user+IP exceeded.",
    };
    managesieved_reply(login_fe_conn(s), "BYE", NULL, text[why]);
}

static const struct login_proto sieve_proto = {
    .sess_new = sess_new, .sess_free = free, .greet = greet, .command = command,
    .tls_ready = tls_ready, .challenge = challenge, .response = response,
    .auth_result = auth_result, .bye = bye,
};

int managesieved_login_run(const struct managesieved_settings *set, int *listen_fds,
                           size_t nlisten, struct tls_server *tls, const char *tls_error,
                           int launcher)
{
    return login_fe_run(&set->l, &sieve_proto, listen_fds, nlisten, tls, tls_error, launcher);
}
