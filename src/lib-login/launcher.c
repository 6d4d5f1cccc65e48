/*
 * launcher.c - the launcher of a login path (login.h): a root child of
 * the front end that turns a login into a session in a mail worker
 * running as the mailbox owner.
 *
 * Owns: asking the auth service who logged in (Dovecot's master
 * "REQUEST id cpid auth-id cookie" on the auth-userdb socket: the uid,
 * gid, home and mail location come from its answer, never from the front
 * end), refusing uid 0 and uids below first_valid_uid, the mail workers
 * (one or more per uid/gid pair, each holding up to <role>_client_limit
 * sessions; forked here, then setgroups/setgid/setuid), passing each
 * session to one, and ending the workers when the front end goes away.
 *
 * The REQUESTs go over one connection on the launcher's event loop,
 * answered in any order (by id), each within 10 seconds; the connection is
 * made again when the auth service went away.
 */
#include "lib-login/login.h"
#include "lib-login/mailloc.h"

#include "lib-auth/authproto.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "lib/util.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define USERDB_TIMEOUT_MS 10000

struct mail_worker {
    uid_t uid;
    gid_t gid;
    pid_t pid;
    int sock;
    long long sessions;
    struct mail_worker *next;
};

/* Sessions of one user from one address (mail_max_userip_connections). */
struct userip {
    pid_t pid;                      /* the mail worker holding them */
    char user[256], ip[64];
    long long n;
    struct userip *next;
};

/* A login waiting for the auth service's answer to its REQUEST. */
struct pending {
    struct launcher *l;
    unsigned id;                    /* of the REQUEST */
    struct login_msg m;             /* the front end's LOGIN, with the client's fd */
    struct ev_timer *timer;
    struct pending *next;
};

struct launcher {
    const struct login_settings *set;
    login_worker_fn *run;           /* the protocol's mail worker loop */
    void *ctx;
    struct conn *udb;               /* to the auth service's userdb socket; NULL: down */
    struct pending *pending;
    struct userip *userips;
    struct evloop *loop;
    int fe;                         /* the front end's socket */
    struct mail_worker *workers;
    unsigned next_req;
    char why[256];
};

/* The user's record from the auth service's answer. */
struct login_user {
    char user[256], home[1024], mail[1024], uid[32], gid[32];
};

/* ------------------------------------------------------------------ */
/* the auth service                                                    */

static int userdb_connect(const struct login_settings *set)
{
    char path[512];
    if (set->userdb_path[0] == '/')
        str_copy(path, set->userdb_path, sizeof(path));
    else
        snprintf(path, sizeof(path), "%s/%s", set->queue_dir, set->userdb_path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void user_fields(char **f, int n, struct login_user *u)
{
    str_copy(u->user, f[2], sizeof(u->user));
    for (int i = 3; i < n; i++) {
        if (strncmp(f[i], "uid=", 4) == 0)
            str_copy(u->uid, f[i] + 4, sizeof(u->uid));
        else if (strncmp(f[i], "gid=", 4) == 0)
            str_copy(u->gid, f[i] + 4, sizeof(u->gid));
        else if (strncmp(f[i], "home=", 5) == 0)
            str_copy(u->home, f[i] + 5, sizeof(u->home));
        else if (strncmp(f[i], "mail=", 5) == 0)
            str_copy(u->mail, f[i] + 5, sizeof(u->mail));
    }
}

/* ------------------------------------------------------------------ */
/* uids                                                                */

/* The uid and gid a session runs as: 0, or -1 with why. */
static int session_ids(const struct login_settings *set, const struct login_user *u, uid_t *uid,
                       gid_t *gid, const char **why)
{
    long long v, g;
    if (id_parse(u->uid[0] ? u->uid : set->mail_uid, 0, &v) < 0) {
        *why = "no uid for the user (userdb uid= or mail_uid)";
        return -1;
    }
    if (id_parse(u->gid[0] ? u->gid : set->mail_gid, 1, &g) < 0) {
        *why = "no gid for the user (userdb gid= or mail_gid)";
        return -1;
    }
    if (v == 0) {
        *why = "refusing to serve mail as root (uid 0)";
        return -1;
    }
    if (v < set->first_valid_uid) {
        *why = "the user's uid is below first_valid_uid";
        return -1;
    }
    if (g == 0) {
        *why = "refusing to serve mail with gid 0";
        return -1;
    }
    if (geteuid() != 0 && (uid_t)v != geteuid()) {
        *why = "single-user mode: only the instance's own uid can be served";
        return -1;
    }
    *uid = (uid_t)v;
    *gid = (gid_t)g;
    return 0;
}

/* ------------------------------------------------------------------ */
/* mail workers                                                        */

static void on_worker(int fd, int events, void *arg);
static void userip_end(struct launcher *l, pid_t pid, const char *user, const char *ip);

static void close_others(struct launcher *l, int keep)
{
    close(l->fe);
    for (struct mail_worker *w = l->workers; w; w = w->next)
        if (w->sock != keep)
            close(w->sock);
}

static _Noreturn void worker_child(struct launcher *l, int sock, uid_t uid, gid_t gid)
{
    close_others(l, sock);
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    signal(SIGCHLD, SIG_DFL);
    if (geteuid() == 0) {
        if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
            setresuid(uid, uid, uid) < 0)
            msg_fatal("mail worker: cannot become uid %lu gid %lu: %s", (unsigned long)uid,
                      (unsigned long)gid, strerror(errno));
        if (setuid(0) == 0)
            msg_fatal("mail worker: privileges were not dropped");
    }
    proctitle_set(l->set->role, "%s: mail uid=%lu", l->set->role, (unsigned long)uid);
    l->run(sock, l->set, uid, l->ctx);
    _exit(0);
}

static struct mail_worker *worker_fork(struct launcher *l, uid_t uid, gid_t gid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return NULL;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    if (pid == 0) {
        close(sv[0]);
        worker_child(l, sv[1], uid, gid);
    }
    close(sv[1]);
    struct mail_worker *w = xcalloc(1, sizeof(*w));
    w->uid = uid;
    w->gid = gid;
    w->pid = pid;
    w->sock = sv[0];
    fd_set_nonblock(w->sock, 1);
    ev_fd_add(l->loop, w->sock, EV_READ, on_worker, l);
    w->next = l->workers;
    l->workers = w;
    return w;
}

static struct mail_worker *worker_for(struct launcher *l, uid_t uid, gid_t gid)
{
    for (struct mail_worker *w = l->workers; w; w = w->next)
        if (w->uid == uid && w->gid == gid && w->sessions < l->set->client_limit)
            return w;
    return worker_fork(l, uid, gid);
}

static void worker_remove(struct launcher *l, struct mail_worker *gone)
{
    for (struct mail_worker **pp = &l->workers; *pp; pp = &(*pp)->next)
        if (*pp == gone) {
            *pp = gone->next;
            userip_end(l, gone->pid, NULL, NULL);
            ev_fd_del(l->loop, gone->sock);
            close(gone->sock);
            free(gone);
            return;
        }
}

/* Sessions of user from ip in all workers. */
static long long userip_count(struct launcher *l, const char *user, const char *ip)
{
    long long n = 0;
    for (struct userip *u = l->userips; u; u = u->next)
        if (strcmp(u->user, user) == 0 && strcmp(u->ip, ip) == 0)
            n += u->n;
    return n;
}

static void userip_add(struct launcher *l, pid_t pid, const char *user, const char *ip)
{
    for (struct userip *u = l->userips; u; u = u->next)
        if (u->pid == pid && strcmp(u->user, user) == 0 && strcmp(u->ip, ip) == 0) {
            u->n++;
            return;
        }
    struct userip *u = xcalloc(1, sizeof(*u));
    u->pid = pid;
    str_copy(u->user, user, sizeof(u->user));
    str_copy(u->ip, ip, sizeof(u->ip));
    u->n = 1;
    u->next = l->userips;
    l->userips = u;
}

/* A session ended (user and ip given), or a worker is gone (user NULL: all of its). */
static void userip_end(struct launcher *l, pid_t pid, const char *user, const char *ip)
{
    struct userip **pp = &l->userips;
    while (*pp) {
        struct userip *u = *pp;
        int match = u->pid == pid && (!user || (strcmp(u->user, user) == 0 &&
                                                strcmp(u->ip, ip) == 0));
        if (match && (!user || --u->n <= 0)) {
            *pp = u->next;
            free(u);
            if (user)
                return;
            continue;
        }
        if (match)
            return;
        pp = &u->next;
    }
}

/* A worker says a session ended, or it is gone. */
static void on_worker(int fd, int events, void *arg)
{
    (void)events;
    struct launcher *l = arg;
    struct mail_worker *w = l->workers;
    while (w && w->sock != fd)
        w = w->next;
    if (!w)
        return;
    for (;;) {
        struct login_msg m;
        int r = login_msg_recv(fd, &m);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            worker_remove(l, w);
            return;
        }
        if (strcmp(m.fields[0], "END") == 0 && w->sessions > 0) {
            w->sessions--;
            if (m.nfields >= 3)
                userip_end(l, w->pid, m.fields[1], m.fields[2]);
        }
        login_msg_free(&m);
    }
}

/* ------------------------------------------------------------------ */
/* logins                                                              */

static void answer(struct launcher *l, const char *sid, const char *result, const char *a,
                   const char *b)
{
    const char *f[] = {result, sid, a, b};
    if (login_msg_send(l->fe, f, b ? 4 : 3, NULL, 0, -1) < 0)
        msg_warn("launcher: cannot answer the front end: %s", strerror(errno));
}

/* The auth service answered: give the session to a mail worker. */
static void login_finish(struct launcher *l, struct login_msg *m, const struct login_user *u)
{
    char **f = m->fields;
    const char *why;
    uid_t uid;
    gid_t gid;
    if (session_ids(l->set, u, &uid, &gid, &why) < 0) {
        msg_warn("login from %s as %s refused: %s", f[5], u->user, why);
        answer(l, f[1], "FAIL", why, NULL);
        return;
    }
    if (l->set->max_userip > 0 && userip_count(l, u->user, f[5]) >= l->set->max_userip) {
        msg_info("login of %s from %s refused: mail_max_userip_connections=%lld reached",
                 u->user, f[5], l->set->max_userip);
        answer(l, f[1], "FAIL", "Maximum number of connections from user+IP exceeded", "LIMIT");
        return;
    }
    char loc[MAILLOC_PATH_MAX + 16];
    const char *mail = u->mail[0] ? u->mail : login_mail_location(l->set, u->user, u->home, loc,
                                                                  sizeof(loc));
    struct mail_worker *w = worker_for(l, uid, gid);
    const char *sf[] = {"SESSION", u->user, u->home, mail, f[5], f[6], f[7], f[8]};
    if (!w || login_msg_send(w->sock, sf, 8, m->data, m->data_len, m->fd) < 0) {
        msg_warn("launcher: cannot pass the session of %s to a mail worker: %s", u->user,
                 strerror(errno));
        answer(l, f[1], "FAIL", "no mail worker", NULL);
        return;
    }
    w->sessions++;
    userip_add(l, w->pid, u->user, f[5]);
    char pid[24];
    snprintf(pid, sizeof(pid), "%ld", (long)w->pid);
    answer(l, f[1], "OK", u->user, pid);
}

static void pending_free(struct pending *p)
{
    struct launcher *l = p->l;
    for (struct pending **pp = &l->pending; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    if (p->timer)
        ev_timer_cancel(l->loop, p->timer);
    login_msg_free(&p->m);
    free(p);
}

static void pending_fail(struct pending *p, const char *why)
{
    char **f = p->m.fields;
    msg_warn("login from %s refused: %s", f[5], why);
    answer(p->l, f[1], "FAIL", why, NULL);
    pending_free(p);
}

static void pending_timeout(void *arg)
{
    struct pending *p = arg;
    p->timer = NULL;
    pending_fail(p, "no answer from the auth service");
}

/* USER / NOTFOUND / FAIL <id> ... from the auth service. */
static void udb_answer(struct launcher *l, char **f, int n)
{
    if (n < 2 || (strcmp(f[0], "USER") != 0 && strcmp(f[0], "NOTFOUND") != 0 &&
                  strcmp(f[0], "FAIL") != 0))
        return;                             /* VERSION, SPID */
    unsigned id = (unsigned)strtoul(f[1], NULL, 10);
    struct pending *p = l->pending;
    while (p && p->id != id)
        p = p->next;
    if (!p)
        return;
    if (strcmp(f[0], "USER") == 0 && n >= 3) {
        struct login_user u;
        memset(&u, 0, sizeof(u));
        user_fields(f, n, &u);
        login_finish(l, &p->m, &u);
        pending_free(p);
    } else if (strcmp(f[0], "NOTFOUND") == 0) {
        pending_fail(p, "the user is unknown to the auth service's userdb");
    } else {
        const char *reason = authproto_param(f, n, 2, "reason");
        snprintf(l->why, sizeof(l->why), "the auth service refused the login: %s",
                 reason ? reason : "no reason given");
        pending_fail(p, l->why);
    }
}

static void udb_close(struct launcher *l, const char *why)
{
    if (l->udb) {
        conn_free(l->udb);
        l->udb = NULL;
    }
    while (l->pending)
        pending_fail(l->pending, why);
}

static void udb_ready(struct conn *c, void *arg)
{
    struct launcher *l = arg;
    char *line;
    size_t len;
    enum conn_line_result r;
    while ((r = conn_line(c, &line, &len)) == CONN_LINE || r == CONN_LONG) {
        if (r == CONN_LONG)
            continue;
        char *f[AUTHPROTO_FIELDS_MAX];
        int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
        if (n > 0)
            udb_answer(l, f, n);
        if (l->udb != c)
            return;
    }
    if (conn_flush(c) < 0) {
        udb_close(l, "lost the connection to the auth service");
        return;
    }
    conn_update(c);
}

static void udb_lost(struct conn *c, void *arg)
{
    (void)c;
    udb_close(arg, "lost the connection to the auth service");
}

static const struct conn_cb udb_cb = {.ready = udb_ready, .lost = udb_lost};

static int udb_open(struct launcher *l)
{
    if (l->udb)
        return 0;
    int fd = userdb_connect(l->set);
    if (fd < 0) {
        msg_warn("auth userdb socket %s: %s", l->set->userdb_path, strerror(errno));
        return -1;
    }
    fd_set_nonblock(fd, 1);
    l->udb = conn_new(fd, AUTHPROTO_LINE_MAX + 16, 1024 * 1024);
    conn_set_lines(l->udb, AUTHPROTO_LINE_MAX, 0);
    conn_attach(l->udb, l->loop, &udb_cb, l);
    conn_printf(l->udb, "VERSION\t1\t0\n");
    return 0;
}

/* s is non-empty, short, and made of the characters in set. */
static int all_chars(const char *s, const char *set)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, set) == n;
}

/* LOGIN sid auth-id cpid cookie rip lip tls tag method, with the client's fd:
 * ask the auth service who it is (the message is kept until it answers). */
static void handle_login(struct launcher *l, struct login_msg *m)
{
    char **f = m->fields;
    /* the front end is not trusted: what goes into the REQUEST line is checked */
    if (m->nfields < 10 || m->fd < 0 || !all_chars(f[2], "0123456789") ||
        !all_chars(f[3], "0123456789") || !all_chars(f[4], "0123456789abcdefABCDEF")) {
        msg_warn("launcher: malformed hand-off from the front end");
        if (m->nfields >= 2)
            answer(l, f[1], "FAIL", "malformed hand-off", NULL);
        return;
    }
    if (udb_open(l) < 0) {
        answer(l, f[1], "FAIL", "cannot reach the auth service's userdb socket", NULL);
        return;
    }
    struct pending *p = xcalloc(1, sizeof(*p));
    p->l = l;
    do
        p->id = ++l->next_req;
    while (p->id == 0);
    p->m = *m;                    /* the pending request owns the message now */
    m->head = NULL;
    m->fd = -1;
    p->next = l->pending;
    l->pending = p;
    p->timer = ev_timer_add(l->loop, USERDB_TIMEOUT_MS, pending_timeout, p);
    f = p->m.fields;
    conn_printf(l->udb, "REQUEST\t%u\t%s\t%s\t%s\n", p->id, f[3], f[2], f[4]);
    if (conn_flush(l->udb) < 0) {
        udb_close(l, "lost the connection to the auth service");
        return;
    }
    conn_update(l->udb);
}

static void on_front_end(int fd, int events, void *arg)
{
    (void)events;
    struct launcher *l = arg;
    for (;;) {
        struct login_msg m;
        int r = login_msg_recv(fd, &m);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            ev_loop_stop(l->loop);     /* the front end is gone */
            return;
        }
        if (strcmp(m.fields[0], "LOGIN") == 0)
            handle_login(l, &m);
        login_msg_free(&m);
    }
}

static void on_sigchld(int signo, void *arg)
{
    (void)signo;
    struct launcher *l = arg;
    pid_t pid;
    int status;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
            msg_warn("mail worker %ld killed by signal %d", (long)pid, WTERMSIG(status));
        for (struct mail_worker *w = l->workers; w; w = w->next)
            if (w->pid == pid) {
                worker_remove(l, w);
                break;
            }
    }
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    (void)arg;
    /* the front end decides: the launcher stops when it goes away */
}

static _Noreturn void launcher_run(int fe, const struct login_settings *set,
                                   login_worker_fn *run, void *ctx)
{
    struct launcher l = {.set = set, .fe = fe, .run = run, .ctx = ctx};
    proctitle_set(set->role, "%s: launcher", set->role);
    l.loop = ev_loop_new();
    fd_set_nonblock(fe, 1);
    ev_fd_add(l.loop, fe, EV_READ, on_front_end, &l);
    ev_signal_add(l.loop, SIGCHLD, on_sigchld, &l);
    ev_signal_add(l.loop, SIGTERM, on_sigterm, &l);
    ev_loop_run(l.loop);
    udb_close(&l, "shutting down");
    /* the front end stopped: so do the sessions (Dovecot's shutdown_clients) */
    for (struct mail_worker *w = l.workers; w; w = w->next)
        kill(w->pid, SIGTERM);
    _exit(0);
}

int login_launcher_start(const struct login_settings *set, login_worker_fn *run, void *ctx,
                         int *close_in_child, size_t nclose)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        close(sv[0]);
        for (size_t i = 0; i < nclose; i++)
            if (close_in_child[i] >= 0)
                close(close_in_child[i]);
        launcher_run(sv[1], set, run, ctx);
    }
    close(sv[1]);
    return sv[0];
}
