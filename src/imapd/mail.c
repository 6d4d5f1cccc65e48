/*
 * mail.c - the imapd mail worker: runs as one mailbox owner (never root),
 * one event loop, every logged-in session of that uid the launcher gives
 * it.
 *
 * Owns: receiving sessions from the launcher (the client's socket, or the
 * worker end of the front end's TLS relay, with the user, home, mail
 * location and the login command's tag), the tagged OK of the login with
 * the post-login capabilities, the command table of the authenticated and
 * selected states, the autologout (imapd_timeout), telling the launcher
 * when a session ends, and "* BYE" on shutdown.
 *
 * The mailbox commands are rows of the table; their handlers live in the
 * cmd_*.c files (mailsess.h says which); a row's flags say which state it
 * needs and whether "UID <cmd>" exists.
 */
#include "imapd/mailsess.h"

#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define MAIL_IN_MAX    (1024 * 1024)
#define MAIL_OUT_MAX   (4 * 1024 * 1024)

static void session_end(struct msession *s);

/* ------------------------------------------------------------------ */
/* commands                                                            */

#define MC_SELECTED 0x1            /* needs a selected mailbox */

static void cmd_capability(struct msession *s, const char *tag, const struct imap_arg *a, int uid)
{
    (void)uid;
    (void)a;
    struct buf capa;
    buf_init(&capa, 8192);
    imapd_capability_post(s->srv->set, &capa);
    imapd_reply(s->c, NULL, "CAPABILITY %s", buf_cstr(&capa));
    buf_free(&capa);
    imapd_reply(s->c, tag, "OK Capability completed.");
}

static void cmd_noop(struct msession *s, const char *tag, const struct imap_arg *a, int uid)
{
    (void)uid;
    (void)a;
    if (s->sel)
        imapd_sel_sync(s, 1);
    imapd_reply(s->c, tag, "OK NOOP completed.");
}

static void cmd_logout(struct msession *s, const char *tag, const struct imap_arg *a, int uid)
{
    (void)uid;
    (void)a;
    imapd_reply(s->c, NULL, "BYE Logging out");
    imapd_reply(s->c, tag, "OK Logout completed.");
    s->closing = 1;
}

static void cmd_id(struct msession *s, const char *tag, const struct imap_arg *a, int uid)
{
    (void)uid;
    const struct imap_arg *l;
    if (!imap_arg_is_nil(&a[0]) && !imap_arg_list(&a[0], &l)) {
        imapd_reply(s->c, tag, "BAD Invalid ID parameters.");
        return;
    }
    imapd_reply_id(s->c);
    imapd_reply(s->c, tag, "OK ID completed.");
}

static void cmd_logged_in(struct msession *s, const char *tag, const struct imap_arg *a, int uid)
{
    (void)uid;
    (void)a;
    imapd_reply(s->c, tag, "BAD Already logged in.");
}

#define MC_UID 0x2                 /* also "UID <name>" */

struct mail_cmd {
    const char *name;
    unsigned flags;
    mail_cmd_fn *fn;
};

static const struct mail_cmd commands[] = {
    {"CAPABILITY", 0, cmd_capability},
    {"NOOP", 0, cmd_noop},
    {"LOGOUT", 0, cmd_logout},
    {"ID", 0, cmd_id},
    {"LOGIN", 0, cmd_logged_in},
    {"AUTHENTICATE", 0, cmd_logged_in},
    {"STARTTLS", 0, cmd_logged_in},
    {"SELECT", 0, imapd_cmd_select},
    {"EXAMINE", 0, imapd_cmd_examine},
    {"CREATE", 0, imapd_cmd_create},
    {"DELETE", 0, imapd_cmd_delete},
    {"RENAME", 0, imapd_cmd_rename},
    {"SUBSCRIBE", 0, imapd_cmd_subscribe},
    {"UNSUBSCRIBE", 0, imapd_cmd_unsubscribe},
    {"LIST", 0, imapd_cmd_list},
    {"LSUB", 0, imapd_cmd_lsub},
    {"NAMESPACE", 0, imapd_cmd_namespace},
    {"STATUS", 0, imapd_cmd_status},
    {"APPEND", 0, imapd_cmd_append},
    {"ENABLE", 0, imapd_cmd_enable},
    {"GETQUOTA", 0, imapd_cmd_getquota},
    {"GETQUOTAROOT", 0, imapd_cmd_getquotaroot},
    {"IDLE", 0, imapd_cmd_idle},
    {"CHECK", MC_SELECTED, imapd_cmd_check},
    {"CLOSE", MC_SELECTED, imapd_cmd_close},
    {"UNSELECT", MC_SELECTED, imapd_cmd_unselect},
    {"EXPUNGE", MC_SELECTED | MC_UID, imapd_cmd_expunge},
    {"SEARCH", MC_SELECTED | MC_UID, imapd_cmd_search},
    {"SORT", MC_SELECTED | MC_UID, imapd_cmd_sort},
    {"THREAD", MC_SELECTED | MC_UID, imapd_cmd_thread},
    {"FETCH", MC_SELECTED | MC_UID, imapd_cmd_fetch},
    {"STORE", MC_SELECTED | MC_UID, imapd_cmd_store},
    {"COPY", MC_SELECTED | MC_UID, imapd_cmd_copy},
    {"MOVE", MC_SELECTED | MC_UID, imapd_cmd_move},
};

static const struct mail_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (str_ieq(name, commands[i].name))
            return &commands[i];
    return NULL;
}

static void run_command(struct msession *s)
{
    const char *tag = imap_parser_tag(s->p), *name = imap_parser_command(s->p);
    const struct imap_arg *args = imap_parser_args(s->p);
    int uid = 0;
    if (str_ieq(name, "UID")) {
        if (!imap_arg_atom(&args[0], &name)) {
            imapd_reply(s->c, tag, "BAD UID needs a command.");
            return;
        }
        args++;
        uid = 1;
    }
    const struct mail_cmd *cmd = find_command(name);
    if (!cmd || (uid && !(cmd->flags & MC_UID)))
        imapd_reply(s->c, tag, "BAD Unknown command.");
    else if ((cmd->flags & MC_SELECTED) && !s->sel)
        imapd_reply(s->c, tag, "BAD No mailbox selected.");
    else
        cmd->fn(s, tag, args, uid);
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

static void session_process(struct msession *s)
{
    while (!s->closing) {
        char *data;
        size_t len = conn_peek(s->c, &data), used = 0;
        if (len == 0)
            break;
        if (s->append) {
            size_t n = imapd_cmd_append_input(s, data, len);
            if (n > 0) {
                conn_consume(s->c, n);
                continue;
            }
        }
        if (s->idle) {
            size_t n = imapd_cmd_idle_input(s, data, len);
            conn_consume(s->c, n);
            if (n == 0)
                break;
            continue;
        }
        enum imap_parse_result r = imap_parser_feed(s->p, data, len, &used);
        conn_consume(s->c, used);
        if (r == IMAP_PARSE_LITERAL)
            r = imapd_cmd_append_literal(s);
        if (r == IMAP_PARSE_ERROR)
            imapd_cmd_append_stop(s);
        if (r == IMAP_PARSE_CONTINUE)
            imapd_reply(s->c, "+", "OK");
        else if (r == IMAP_PARSE_ERROR)
            imapd_reply_parse_error(s->c, s->p);
        else if (r == IMAP_PARSE_DONE) {
            run_command(s);
            imapd_cmd_append_stop(s);
        }
        else if (used == 0)
            break;
    }
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
    struct msession *s = arg;
    if (s->closing) {
        session_end(s);
        return;
    }
    imapd_reply(s->c, NULL, "BYE Disconnected for inactivity.");
    s->closing = 1;
    conn_deadline_in(s->c, 10000);
    session_process(s);
}

static const struct conn_cb session_cb = {
    .ready = on_ready, .lost = on_lost, .deadline = on_deadline,
};

static void session_end(struct msession *s)
{
    struct mail_server *srv = s->srv;
    imapd_cmd_append_stop(s);
    imapd_sel_close(s);
    if (s->st)
        mstore_close(s->st);
    conn_free(s->c);
    imap_parser_free(s->p);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    login_worker_session_end(&srv->w, s->user, s->rip);
    free(s->user);
    free(s->home);
    free(s->mail);
    free(s);
}

/* SESSION user home mail rip lip tls tag, with the client's fd and what it pipelined */
static void session_start(struct login_worker *w, struct login_msg *m)
{
    struct mail_server *srv = (struct mail_server *)w;
    char **f = m->fields;
    struct msession *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->user = xstrdup(f[1]);
    s->home = xstrdup(f[2]);
    s->mail = xstrdup(f[3]);
    str_copy(s->rip, f[4], sizeof(s->rip));
    str_copy(s->lip, f[5], sizeof(s->lip));
    s->tls = strcmp(f[6], "1") == 0;
    struct imap_parser_limits lim;
    imapd_parser_limits(srv->set, 1, &lim);
    s->p = imap_parser_new(&lim);
    imap_parser_stream_literals(s->p, 1);   /* APPEND streams its messages (cmd_copy.c) */
    s->c = login_worker_session(w, m, MAIL_IN_MAX, MAIL_OUT_MAX, &session_cb, s,
                                srv->set->l.timeout_ms);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    if (imapd_sess_open_store(s) < 0) {
        imapd_reply(s->c, f[7], "NO [SERVERBUG] Internal error occurred. "
                                "Refer to server log for more information.");
        s->closing = 1;
        session_process(s);
        return;
    }
    struct buf capa;
    buf_init(&capa, 8192);
    imapd_capability_post(srv->set, &capa);
    imapd_reply(s->c, f[7], "OK [CAPABILITY %s] Logged in", buf_cstr(&capa));
    buf_free(&capa);
    session_process(s);
}

static void stop_sessions(struct login_worker *w)
{
    struct mail_server *srv = (struct mail_server *)w;
    for (struct msession *s = srv->sessions; s; s = s->next) {
        imapd_reply(s->c, NULL, "BYE Server shutting down.");
        conn_flush(s->c);
    }
    while (srv->sessions)
        session_end(srv->sessions);
}

void imapd_mail_run(int sock, const struct login_settings *lset, uid_t uid, void *ctx)
{
    (void)lset;
    struct mail_server srv = {
        .w = {.role = "imapd", .start = session_start, .stop = stop_sessions},
        .set = ctx,
    };
    login_worker_run(&srv.w, sock, uid);
}
