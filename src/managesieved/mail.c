/*
 * mail.c - the managesieved mail worker: runs as one mailbox owner (never
 * root), one event loop, every logged-in ManageSieve session of that uid.
 *
 * Owns: the authenticated state's commands (RFC 5804): PUTSCRIPT and
 * CHECKSCRIPT (compiled with lib-sieve; errors answered as NO with the
 * compiler's "line N: ..." text), GETSCRIPT, LISTSCRIPTS, SETACTIVE,
 * DELETESCRIPT (the active script refused), RENAMESCRIPT, HAVESPACE,
 * CAPABILITY, NOOP, LOGOUT; script names checked (managesieved_name_ok);
 * the quota on scripts (sieve_max_script_size, sieve_quota_max_scripts,
 * sieve_quota_max_storage, Pigeonhole's names and response codes
 * QUOTA/MAXSIZE, QUOTA/MAXSCRIPTS, QUOTA/MAXSTORAGE); the autologout
 * (managesieved_timeout); telling the launcher when a session ends. The
 * files themselves are scripts.c's.
 */
#include "managesieved/managesieved.h"

#include "lib-login/mailworker.h"
#include "lib-sieve/sieve.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "managesieved/msieve_parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAIL_OUT_MAX      (4 * 1024 * 1024)
#define BAD_COMMANDS_MAX  20

struct sieve_server;

struct ssession {
    struct sieve_server *srv;
    struct conn *c;
    char *user, *home;
    char rip[64];
    struct msieve_store *st;
    int closing, bad;
    size_t discard;                      /* bytes of a literal too large still to skip */
    int discard_eol;                     /* then skip through the end of its line */
    struct ssession *next, *prev;
};

struct sieve_server {
    struct login_worker w;               /* first: the loop, the launcher, the count */
    const struct managesieved_settings *set;
    struct ssession *sessions;
};

static void session_end(struct ssession *s);

static void reply(struct ssession *s, const char *result, const char *code, const char *text)
{
    managesieved_reply(s->c, result, code, text);
}

/* ------------------------------------------------------------------ */
/* arguments                                                           */

/* Argument i is a string: its text, else NULL after NO. */
static const char *str_arg(struct ssession *s, const struct msieve_cmd *c, int i)
{
    if (i >= c->nargs || c->args[i].type != MSIEVE_STRING) {
        reply(s, "NO", NULL, "Invalid arguments.");
        s->bad++;
        return NULL;
    }
    return c->args[i].s;
}

/* A script name argument, checked: NULL after NO. */
static const char *name_arg(struct ssession *s, const struct msieve_cmd *c, int i)
{
    const char *n = str_arg(s, c, i);
    if (n && (strlen(n) != c->args[i].len || !managesieved_name_ok(n, c->args[i].len))) {
        reply(s, "NO", NULL, "Invalid script name.");
        return NULL;
    }
    return n;
}

static void storage_failed(struct ssession *s, const char *what)
{
    if (errno == ENOENT) {
        reply(s, "NO", "NONEXISTENT", "There is no script by that name.");
        return;
    }
    msg_warn("managesieve(%s): %s: %s", s->user, what, strerror(errno));
    reply(s, "NO", "TRYLATER", "Internal error occurred. Refer to server log for more "
          "information.");
}

/* ------------------------------------------------------------------ */
/* quota and compiling                                                 */

/* name (may be new) with size bytes fits the quota: 1, or 0 after NO. */
static int fits(struct ssession *s, const char *name, uint64_t size)
{
    const struct managesieved_settings *set = s->srv->set;
    if (set->max_script_size && size > set->max_script_size) {
        reply(s, "NO", "QUOTA/MAXSIZE", "Script is too large.");
        return 0;
    }
    uint64_t bytes;
    size_t count;
    long long own;
    managesieved_store_usage(s->st, name, &bytes, &count, &own);
    if (set->max_scripts > 0 && own < 0 && (long long)count + 1 > set->max_scripts) {
        reply(s, "NO", "QUOTA/MAXSCRIPTS", "Too many scripts.");
        return 0;
    }
    uint64_t after = bytes - (own > 0 ? (uint64_t)own : 0) + size;
    if (set->max_storage && after > set->max_storage) {
        reply(s, "NO", "QUOTA/MAXSTORAGE", "Not enough storage for the script.");
        return 0;
    }
    return 1;
}

/* Compile the text: 1, or 0 after NO with the compiler's messages. */
static int compiles(struct ssession *s, const char *text, size_t len)
{
    if (memchr(text, '\0', len)) {
        reply(s, "NO", NULL, "line 1: error: the script contains a NUL byte.");
        return 0;
    }
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    struct sieve_diag diag;
    memset(&diag, 0, sizeof(diag));
    struct sieve_script *sc = sieve_compile(text, len, &lim, NULL, 0, &diag);
    if (sc) {
        sieve_script_free(sc);
        sieve_diag_free(&diag);
        return 1;
    }
    struct buf msg;
    buf_init(&msg, 64 * 1024);
    for (size_t i = 0; i < diag.n; i++) {
        if (i)
            buf_puts(&msg, "\r\n");
        buf_puts(&msg, diag.msgs[i]);
    }
    if (msg.len == 0)
        buf_puts(&msg, "line 1: error: the script does not compile.");
    reply(s, "NO", NULL, buf_cstr(&msg));
    buf_free(&msg);
    sieve_diag_free(&diag);
    return 0;
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

typedef void sieve_cmd_fn(struct ssession *s, const struct msieve_cmd *c);

static void cmd_capability(struct ssession *s, const struct msieve_cmd *c)
{
    (void)c;
    managesieved_capability(conn_out(s->c), NULL, 0);
    reply(s, "OK", NULL, "Capability completed.");
}

static void cmd_noop(struct ssession *s, const struct msieve_cmd *c)
{
    if (c->nargs == 1 && c->args[0].type == MSIEVE_STRING) {
        struct buf *o = conn_out(s->c);
        buf_puts(o, "OK (TAG ");
        managesieved_put_string(o, c->args[0].s, c->args[0].len);
        buf_puts(o, ") \"Done\"\r\n");
        return;
    }
    reply(s, "OK", NULL, "NOOP completed.");
}

static void cmd_logout(struct ssession *s, const struct msieve_cmd *c)
{
    (void)c;
    reply(s, "OK", NULL, "Logout completed.");
    s->closing = 1;
}

static void cmd_havespace(struct ssession *s, const struct msieve_cmd *c)
{
    const char *name = name_arg(s, c, 0);
    if (!name)
        return;
    char *end;
    if (c->nargs != 2 || c->args[1].type != MSIEVE_ATOM) {
        reply(s, "NO", NULL, "Invalid arguments.");
        return;
    }
    errno = 0;
    unsigned long long size = strtoull(c->args[1].s, &end, 10);
    if (errno || *end || !*c->args[1].s) {
        reply(s, "NO", NULL, "Invalid script size.");
        return;
    }
    if (fits(s, name, size))
        reply(s, "OK", NULL, "Putscript would succeed.");
}

static void cmd_putscript(struct ssession *s, const struct msieve_cmd *c)
{
    const char *name = name_arg(s, c, 0);
    const char *text = name ? str_arg(s, c, 1) : NULL;
    if (!text)
        return;
    size_t len = c->args[1].len;
    if (!fits(s, name, len) || !compiles(s, text, len))
        return;
    if (managesieved_store_put(s->st, name, text, len) < 0) {
        storage_failed(s, "storing a script");
        return;
    }
    reply(s, "OK", NULL, "Putscript completed.");
}

static void cmd_checkscript(struct ssession *s, const struct msieve_cmd *c)
{
    const char *text = str_arg(s, c, 0);
    if (!text)
        return;
    if (s->srv->set->max_script_size && c->args[0].len > s->srv->set->max_script_size) {
        reply(s, "NO", "QUOTA/MAXSIZE", "Script is too large.");
        return;
    }
    if (compiles(s, text, c->args[0].len))
        reply(s, "OK", NULL, "Script is valid.");
}

static void cmd_getscript(struct ssession *s, const struct msieve_cmd *c)
{
    const char *name = name_arg(s, c, 0);
    if (!name)
        return;
    struct buf text;
    buf_init(&text, (size_t)s->srv->set->max_script_size + 65536);
    if (managesieved_store_get(s->st, name, &text) < 0) {
        storage_failed(s, "reading a script");
    } else {
        struct buf *o = conn_out(s->c);
        buf_printf(o, "{%zu}\r\n", text.len);
        buf_append(o, text.data, text.len);
        buf_puts(o, "\r\n");
        reply(s, "OK", NULL, "Getscript completed.");
    }
    buf_free(&text);
}

static void cmd_listscripts(struct ssession *s, const struct msieve_cmd *c)
{
    (void)c;
    size_t n;
    char *active;
    char **v = managesieved_store_list(s->st, &n, &active);
    struct buf *o = conn_out(s->c);
    for (size_t i = 0; i < n; i++) {
        managesieved_put_string(o, v[i], strlen(v[i]));
        buf_puts(o, active && strcmp(active, v[i]) == 0 ? " ACTIVE\r\n" : "\r\n");
    }
    free(active);
    strv_free(v);
    reply(s, "OK", NULL, "Listscripts completed.");
}

static void cmd_setactive(struct ssession *s, const struct msieve_cmd *c)
{
    const char *name = str_arg(s, c, 0);
    if (!name)
        return;
    if (*name && !managesieved_name_ok(name, c->args[0].len)) {
        reply(s, "NO", NULL, "Invalid script name.");
        return;
    }
    if (managesieved_store_activate(s->st, name) < 0) {
        if (errno == EEXIST)
            reply(s, "NO", NULL, "The active script's path holds a file that is not a link.");
        else
            storage_failed(s, "activating a script");
        return;
    }
    reply(s, "OK", NULL, *name ? "Setactive completed." : "No script is active now.");
}

static void cmd_deletescript(struct ssession *s, const struct msieve_cmd *c)
{
    const char *name = name_arg(s, c, 0);
    if (!name)
        return;
    if (managesieved_store_is_active(s->st, name)) {
        reply(s, "NO", "ACTIVE", "You may not delete an active script.");
        return;
    }
    if (managesieved_store_delete(s->st, name) < 0)
        storage_failed(s, "deleting a script");
    else
        reply(s, "OK", NULL, "Deletescript completed.");
}

static void cmd_renamescript(struct ssession *s, const struct msieve_cmd *c)
{
    const char *from = name_arg(s, c, 0);
    const char *to = from ? name_arg(s, c, 1) : NULL;
    if (!to)
        return;
    if (managesieved_store_rename(s->st, from, to) < 0) {
        if (errno == EEXIST)
            reply(s, "NO", "ALREADYEXISTS", "A script with that name already exists.");
        else
            storage_failed(s, "renaming a script");
        return;
    }
    reply(s, "OK", NULL, "Renamescript completed.");
}

static void cmd_logged_in(struct ssession *s, const struct msieve_cmd *c)
{
    (void)c;
    reply(s, "NO", NULL, "Already logged in.");
}

static const struct {
    const char *name;
    sieve_cmd_fn *fn;
} commands[] = {
    {"CAPABILITY", cmd_capability}, {"NOOP", cmd_noop}, {"LOGOUT", cmd_logout},
    {"HAVESPACE", cmd_havespace}, {"PUTSCRIPT", cmd_putscript},
    {"CHECKSCRIPT", cmd_checkscript}, {"GETSCRIPT", cmd_getscript},
    {"LISTSCRIPTS", cmd_listscripts}, {"SETACTIVE", cmd_setactive},
    {"DELETESCRIPT", cmd_deletescript}, {"RENAMESCRIPT", cmd_renamescript},
    {"AUTHENTICATE", cmd_logged_in}, {"STARTTLS", cmd_logged_in},
};

static void run(struct ssession *s, const struct msieve_cmd *c)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(c->name, commands[i].name) == 0) {
            commands[i].fn(s, c);
            return;
        }
    reply(s, "NO", NULL, "Unknown command.");
    s->bad++;
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

static size_t literal_max(const struct sieve_server *srv)
{
    return srv->set->max_script_size ? (size_t)srv->set->max_script_size : 1024 * 1024;
}

/* Skip what is left of a command whose literal was too large: 1 progress, 0 need more. */
static int discard_input(struct ssession *s, char *data, size_t len)
{
    if (s->discard) {
        size_t n = len < s->discard ? len : s->discard;
        conn_consume(s->c, n);
        s->discard -= n;
        s->discard_eol = s->discard == 0;
        return n > 0;
    }
    char *nl = memchr(data, '\n', len);
    conn_consume(s->c, nl ? (size_t)(nl - data) + 1 : len);
    s->discard_eol = !nl;
    return nl != NULL;
}

/* One command from the input: 1 run, 0 need more. */
static int next_command(struct ssession *s)
{
    char *data;
    size_t len = conn_peek(s->c, &data), used = 0;
    if (len == 0)
        return 0;
    if (s->discard || s->discard_eol)
        return discard_input(s, data, len);
    struct msieve_cmd cmd;
    const char *err;
    enum msieve_parse_result r = managesieved_parse(data, len, literal_max(s->srv), &cmd, &used,
                                                    &err);
    if (r == MSIEVE_NEED)
        return 0;
    if (r == MSIEVE_FATAL) {
        reply(s, "BYE", NULL, err);
        conn_consume(s->c, len);
        s->closing = 1;
        return 1;
    }
    conn_consume(s->c, used);
    if (r == MSIEVE_ERROR && cmd.too_large) {
        reply(s, "NO", "QUOTA/MAXSIZE", "Script is too large.");
        s->discard = cmd.too_large;
        s->discard_eol = s->discard == 0;
    } else if (r == MSIEVE_ERROR) {
        reply(s, "NO", NULL, err);
        s->bad++;
    } else {
        run(s, &cmd);
    }
    managesieved_cmd_free(&cmd);
    if (s->bad >= BAD_COMMANDS_MAX && !s->closing) {
        reply(s, "BYE", NULL, "Too many invalid commands.");
        s->closing = 1;
    }
    return 1;
}

static void session_process(struct ssession *s)
{
    while (!s->closing && next_command(s))
        ;
    if (conn_flush(s->c) < 0 || (s->closing && conn_out_len(s->c) == 0)) {
        session_end(s);
        return;
    }
    if (s->closing)
        conn_want_input(s->c, 0);
    conn_update(s->c);
}

static void on_ready(struct conn *c, void *arg)
{
    (void)c;
    session_process(arg);
}

static void on_lost(struct conn *c, void *arg)
{
    (void)c;
    session_end(arg);
}

static void on_deadline(struct conn *c, void *arg)
{
    (void)c;
    struct ssession *s = arg;
    if (s->closing) {
        session_end(s);
        return;
    }
    reply(s, "BYE", NULL, "Disconnected for inactivity.");
    s->closing = 1;
    conn_deadline_in(s->c, 10000);
    session_process(s);
}

static const struct conn_cb session_cb = {
    .ready = on_ready, .lost = on_lost, .deadline = on_deadline,
};

static void session_end(struct ssession *s)
{
    struct sieve_server *srv = s->srv;
    managesieved_store_close(s->st);
    conn_free(s->c);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    login_worker_session_end(&srv->w, s->user, s->rip);
    free(s->user);
    free(s->home);
    free(s);
}

/* SESSION user home mail rip lip tls tag, with the client's fd and what it pipelined */
static void session_start(struct login_worker *w, struct login_msg *m)
{
    struct sieve_server *srv = (struct sieve_server *)w;
    char **f = m->fields;
    struct ssession *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->user = xstrdup(f[1]);
    s->home = xstrdup(f[2]);
    str_copy(s->rip, f[4], sizeof(s->rip));
    s->c = login_worker_session(w, m, literal_max(srv) + MSIEVE_LINE_MAX + 1024, MAIL_OUT_MAX,
                                &session_cb, s, srv->set->l.timeout_ms);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    const char *why = "";
    s->st = managesieved_store_open(srv->set, s->user, s->home, &why);
    if (!s->st) {
        msg_warn("managesieve(%s): the Sieve scripts are unavailable: %s", s->user, why);
        reply(s, "NO", "TRYLATER", "Internal error occurred. Refer to server log for more "
              "information.");
        s->closing = 1;
    } else {
        reply(s, "OK", NULL, "Logged in.");
    }
    session_process(s);
}

static void stop_sessions(struct login_worker *w)
{
    struct sieve_server *srv = (struct sieve_server *)w;
    for (struct ssession *s = srv->sessions; s; s = s->next) {
        reply(s, "BYE", NULL, "Server shutting down.");
        conn_flush(s->c);
    }
    while (srv->sessions)
        session_end(srv->sessions);
}

void managesieved_mail_run(int sock, const struct login_settings *lset, uid_t uid, void *ctx)
{
    (void)lset;
    struct sieve_server srv = {
        .w = {.role = "managesieved", .start = session_start, .stop = stop_sessions},
        .set = ctx,
    };
    login_worker_run(&srv.w, sock, uid);
}
