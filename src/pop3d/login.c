/*
 * login.c - the pop3d front end ("pop3-login"): POP3's words for
 * lib-login's front end (lib-login/frontend.h), which owns the
 * connections, TLS, the auth service and the hand-off.
 *
 * Owns: the greeting, the AUTHORIZATION state's commands (CAPA USER PASS
 * AUTH STLS QUIT; RFC 1939, 2449, 2595, 5034), the plaintext policy's
 * words (USER/PASS and plaintext mechanisms refused before TLS unless
 * disable_plaintext_auth = no or the client is local, as IMAP), SASL's
 * "+ " continuations, RESP-CODES ([AUTH], [SYS/TEMP], [IN-USE]) on failed
 * logins, and the count of bad commands (the connection ends after
 * BAD_COMMANDS_MAX, as Dovecot's pop3-login).
 */
#include "pop3d/pop3d.h"

#include "lib-login/frontend.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/util.h"
#include "pop3d/pop3_parse.h"

#include <stdlib.h>
#include <string.h>

#define BAD_COMMANDS_MAX 10

struct pop3_fe {
    char *user;                      /* from USER, until PASS */
    int bad;                         /* bad commands so far */
};

static void reply(struct login_fe *s, const char *text)
{
    conn_printf(login_fe_conn(s), "%s\r\n", text);
}

static void bad_command(struct login_fe *s, struct pop3_fe *p, const char *text)
{
    conn_printf(login_fe_conn(s), "-ERR %s\r\n", text);
    if (++p->bad >= BAD_COMMANDS_MAX) {
        reply(s, "-ERR Too many bad commands.");
        login_fe_close(s);
    }
}

static const char *plaintext_refused =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.";

/* ------------------------------------------------------------------ */
/* commands                                                            */

static void cmd_capa(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    (void)p;
    (void)c;
    struct buf *o = conn_out(login_fe_conn(s));
    buf_puts(o, "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n");
    if (login_fe_plaintext_ok(s))
        buf_puts(o, "USER\r\n");
    struct buf m;
    buf_init(&m, 4096);
    login_fe_mechs(s, &m);
    if (m.len)
        buf_printf(o, "SASL %s\r\n", buf_cstr(&m));
    buf_free(&m);
    if (login_fe_starttls_offered(s))
        buf_puts(o, "STLS\r\n");
    buf_puts(o, ".\r\n");
}

static void cmd_user(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    if (c->nargs != 1) {
        bad_command(s, p, "USER needs one argument.");
        return;
    }
    if (!login_fe_plaintext_ok(s)) {
        reply(s, plaintext_refused);
        return;
    }
    free(p->user);
    p->user = xstrdup(c->args[0]);
    reply(s, "+OK");
}

static void cmd_pass(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    if (!p->user) {
        bad_command(s, p, "No username given.");
        return;
    }
    if (!login_fe_plaintext_ok(s)) {
        reply(s, plaintext_refused);
        return;
    }
    struct buf raw, b64;
    buf_init(&raw, 0);
    buf_init(&b64, 0);
    buf_putc(&raw, '\0');
    buf_puts(&raw, p->user);
    buf_putc(&raw, '\0');
    buf_puts(&raw, c->rest);
    base64_encode(&b64, raw.data, raw.len);
    login_fe_auth(s, "", "PLAIN", buf_cstr(&b64), "USER");
    explicit_bzero(raw.data, raw.len);
    explicit_bzero(b64.data, b64.len);
    buf_free(&raw);
    buf_free(&b64);
    free(p->user);
    p->user = NULL;
}

static void cmd_auth(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    if (c->nargs == 0) {             /* the mechanisms, as Dovecot and most servers */
        struct buf m;
        buf_init(&m, 4096);
        login_fe_mechs(s, &m);
        size_t n;
        char **v = str_split_list(buf_cstr(&m), &n);
        struct buf *o = conn_out(login_fe_conn(s));
        buf_puts(o, "+OK\r\n");
        for (size_t i = 0; i < n; i++)
            buf_printf(o, "%s\r\n", v[i]);
        buf_puts(o, ".\r\n");
        strv_free(v);
        buf_free(&m);
        return;
    }
    const char *mech = c->args[0], *ir = c->nargs > 1 ? c->args[1] : NULL;
    if (!login_fe_mech_offered(s, mech)) {
        if (!login_fe_plaintext_ok(s) && (str_ieq(mech, "PLAIN") || str_ieq(mech, "LOGIN")))
            reply(s, plaintext_refused);
        else
            bad_command(s, p, "Unsupported authentication mechanism.");
        return;
    }
    if (ir && strcmp(ir, "=") == 0)
        ir = "";                     /* RFC 5034: an empty initial response */
    login_fe_auth(s, "", mech, ir, NULL);
}

static void cmd_stls(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    (void)c;
    if (login_fe_tls(s)) {
        bad_command(s, p, "TLS is already active.");
        return;
    }
    if (!login_fe_starttls_offered(s)) {
        bad_command(s, p, "TLS support isn't enabled.");
        return;
    }
    reply(s, "+OK Begin TLS negotiation now.");
    login_fe_starttls(s);
}

static void cmd_quit(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c)
{
    (void)p;
    (void)c;
    reply(s, "+OK Logging out");
    login_fe_close(s);
}

struct fe_cmd {
    const char *name;
    void (*fn)(struct login_fe *s, struct pop3_fe *p, const struct pop3_cmd *c);
};

static const struct fe_cmd commands[] = {
    {"CAPA", cmd_capa}, {"USER", cmd_user}, {"PASS", cmd_pass},
    {"AUTH", cmd_auth}, {"STLS", cmd_stls}, {"QUIT", cmd_quit},
};

static void run_line(struct login_fe *s, struct pop3_fe *p, char *line, size_t len)
{
    struct pop3_cmd c;
    const char *err;
    if (pop3d_parse_line(line, len, &c, &err) < 0) {
        bad_command(s, p, err);
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(c.name, commands[i].name) == 0) {
            commands[i].fn(s, p, &c);
            return;
        }
    bad_command(s, p, "Unknown command.");
}

/* ------------------------------------------------------------------ */
/* the callbacks                                                       */

static void *sess_new(struct login_fe *s)
{
    (void)s;
    return xcalloc(1, sizeof(struct pop3_fe));
}

static void sess_free(void *ps)
{
    struct pop3_fe *p = ps;
    free(p->user);
    free(p);
}

static void greet(struct login_fe *s, void *ps)
{
    (void)ps;
    reply(s, "+OK yubin ready.");
}

static int command(struct login_fe *s, void *ps)
{
    struct conn *c = login_fe_conn(s);
    char *data;
    size_t len = conn_peek(c, &data);
    if (len == 0)
        return 0;
    char *nl = memchr(data, '\n', len);
    if (!nl) {
        if (len > POP3_LINE_MAX + 2) {
            reply(s, "-ERR Line too long.");
            conn_consume(c, len);
            login_fe_close(s);
            return 1;
        }
        return 0;
    }
    size_t n = (size_t)(nl - data), take = n + 1;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    if (n > POP3_LINE_MAX) {
        conn_consume(c, take);
        conn_printf(c, "-ERR Line too long.\r\n");
        login_fe_close(s);
        return 1;
    }
    char *line = xstrndup(data, n);
    conn_consume(c, take);
    run_line(s, ps, line, n);
    explicit_bzero(line, n);
    free(line);
    return 1;
}

static void challenge(struct login_fe *s, void *ps, const char *b64)
{
    (void)ps;
    conn_printf(login_fe_conn(s), "+ %s\r\n", b64);
}

static int response(void *ps, char *line, const char **b64)
{
    (void)ps;
    *b64 = line;
    return strcmp(line, "*") == 0;
}

static void auth_result(struct login_fe *s, void *ps, enum login_auth_result r)
{
    (void)ps;
    switch (r) {
    case LOGIN_AUTH_FAILED:
        reply(s, "-ERR [AUTH] Authentication failed.");
        break;
    case LOGIN_AUTH_TEMPFAIL:
        reply(s, "-ERR [SYS/TEMP] Temporary authentication failure.");
        break;
    case LOGIN_AUTH_ABORTED:
    case LOGIN_AUTH_MALFORMED:
        reply(s, "-ERR Authentication aborted by client.");
        break;
    case LOGIN_AUTH_INTERNAL:
        reply(s, "-ERR [SYS/TEMP] Internal error occurred. "
              "Refer to server log for more information.");
        break;
    }
}

static void bye(struct login_fe *s, void *ps, enum login_bye why)
{
    (void)ps;
    switch (why) {
    case LOGIN_BYE_TIMEOUT:
        reply(s, "-ERR Disconnected for inactivity.");
        break;
    case LOGIN_BYE_PIPELINED:
        reply(s, "-ERR Too much input pipelined after login.");
        break;
    case LOGIN_BYE_AUTH_LONG:
        reply(s, "-ERR Authentication response too long.");
        break;
    case LOGIN_BYE_USERIP:
        conn_printf(login_fe_conn(s), "-ERR [IN-USE] Maximum number of connections from "
                    "user+IP exceeded (mail_max_userip_connections=%lld)\r\n",
                    login_fe_settings(s)->max_userip);
        break;
    }
}

static const struct login_proto pop3_proto = {
    .sess_new = sess_new, .sess_free = sess_free, .greet = greet, .command = command,
    .challenge = challenge, .response = response, .auth_result = auth_result, .bye = bye,
};

int pop3d_login_run(const struct pop3d_settings *set, int *listen_fds, size_t nlisten,
                    struct tls_server *tls, const char *tls_error, int launcher)
{
    return login_fe_run(&set->l, &pop3_proto, listen_fds, nlisten, tls, tls_error, launcher);
}
