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
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void title(struct mail_server *srv)
{
    proctitle_set("imapd", "imapd: mail uid=%lu sessions=%zu", (unsigned long)srv->uid,
                  srv->nsessions);
}

static void session_end(struct msession *s)
{
    struct mail_server *srv = s->srv;
    if (srv->sock >= 0) {
        const char *f[] = {"END", s->user, s->rip};
        login_msg_send(srv->sock, f, 3, NULL, 0, -1);
    }
    imapd_cmd_append_stop(s);
    imapd_sel_close(s);
    if (s->st)
        mstore_close(s->st);
    conn_free(s->c);
    imap_parser_free(s->p);
    free(s->user);
    free(s->home);
    free(s->mail);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    free(s);
    title(srv);
    if (srv->nsessions == 0 && (srv->stopping || srv->sock < 0))
        ev_loop_stop(srv->loop);
}

/* SESSION user home mail rip lip tls tag, with the client's fd and what it pipelined */
static void session_start(struct mail_server *srv, struct login_msg *m)
{
    char **f = m->fields;
    if (m->nfields < 8 || m->fd < 0) {
        msg_warn("mail worker: malformed session from the launcher");
        return;
    }
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
    fd_set_nonblock(m->fd, 1);
    s->c = conn_new(m->fd, MAIL_IN_MAX, MAIL_OUT_MAX);
    m->fd = -1;
    conn_attach(s->c, srv->loop, &session_cb, s);
    conn_set_idle(s->c, srv->set->l.timeout_ms);
    conn_deadline_in(s->c, srv->set->l.timeout_ms);
    if (m->data_len)
        conn_feed(s->c, m->data, m->data_len);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    title(srv);
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

static void on_launcher(int fd, int events, void *arg)
{
    (void)events;
    struct mail_server *srv = arg;
    for (;;) {
        struct login_msg m;
        int r = login_msg_recv(fd, &m);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* the launcher is gone: serve the sessions we have, then exit */
            ev_fd_del(srv->loop, fd);
            close(fd);
            srv->sock = -1;
            if (srv->nsessions == 0)
                ev_loop_stop(srv->loop);
            return;
        }
        if (strcmp(m.fields[0], "SESSION") == 0)
            session_start(srv, &m);
        login_msg_free(&m);
    }
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct mail_server *srv = arg;
    srv->stopping = 1;
    for (struct msession *s = srv->sessions; s; s = s->next) {
        imapd_reply(s->c, NULL, "BYE Server shutting down.");
        conn_flush(s->c);
    }
    while (srv->sessions)
        session_end(srv->sessions);
    ev_loop_stop(srv->loop);
}

void imapd_mail_run(int sock, const struct login_settings *lset, uid_t uid, void *ctx)
{
    (void)lset;
    const struct imapd_settings *set = ctx;
    struct mail_server srv = {.set = set, .sock = sock, .uid = uid};
    signal(SIGPIPE, SIG_IGN);
    srv.loop = ev_loop_new();
    title(&srv);
    fd_set_nonblock(sock, 1);
    ev_fd_add(srv.loop, sock, EV_READ, on_launcher, &srv);
    ev_signal_add(srv.loop, SIGTERM, on_sigterm, &srv);
    ev_loop_run(srv.loop);
    _exit(0);
}
