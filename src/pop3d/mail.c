/*
 * mail.c - the pop3d mail worker: runs as one mailbox owner (never root),
 * one event loop, every logged-in POP3 session of that uid the launcher
 * gives it.
 *
 * Owns: the TRANSACTION and UPDATE states (RFC 1939): the INBOX as it was
 * at login (messages delivered later are not seen; one expunged meanwhile
 * by IMAP answers -ERR, the others are still served), STAT LIST RETR DELE
 * NOOP RSET TOP UIDL CAPA QUIT, sizes with CRLF line ends (cached under
 * the same cache field as IMAP's RFC822.SIZE), dot-stuffed streaming of
 * RETR/TOP without holding the message in memory, UIDL values from
 * pop3_uidl_format, \Seen for retrieved messages (pop3_no_flag_updates)
 * and the deletions, both only at QUIT (\Seen also when the client just
 * goes away, as Dovecot), the lock against a second POP3 session of the
 * same mailbox (-ERR [IN-USE]), the autologout (pop3d_timeout), and
 * telling the launcher when a session ends.
 */
#include "pop3d/pop3d.h"

#include "lib-login/mailloc.h"
#include "lib-login/mailworker.h"
#include "lib-storage/mailbox.h"
#include "lib-storage/storage.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "pop3d/pop3_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define MAIL_IN_MAX       (64 * 1024)
#define MAIL_OUT_MAX      (4 * 1024 * 1024)
#define SEND_HIGH_WATER   (256 * 1024)    /* RETR refills the output below this */
#define READ_CHUNK        (64 * 1024)
#define BAD_COMMANDS_MAX  20              /* as Dovecot's pop3 */
#define CACHE_VSIZE       4               /* imapd's IMAPD_CACHE_VSIZE: 8 bytes, host order */
#define LOCK_FILE         "yubin-pop3.lock"

struct pmsg {
    uint32_t uid;
    uint64_t size;                        /* octets as sent: CRLF line ends */
    char *base;                           /* the Maildir base name (%f) */
    int deleted, retrieved;
};

/* A RETR or TOP being sent. */
struct psend {
    int fd;
    int in_header;
    long lines;                           /* body lines still to send (-1: all) */
    int bol;                              /* at the start of a line */
    char last;                            /* the last byte sent */
};

struct pop3_server;

struct psession {
    struct pop3_server *srv;
    struct conn *c;
    char *user, *home, *mail;
    char rip[64];
    struct mstore *st;
    struct mview *v;
    int lockfd;
    struct pmsg *msgs;
    size_t n;
    uint32_t uidvalidity;
    int closing, bad;
    struct psend *send;
    struct psession *next, *prev;
};

struct pop3_server {
    struct login_worker w;               /* first: the loop, the launcher, the count */
    const struct pop3d_settings *set;
    struct psession *sessions;
};

static void session_end(struct psession *s);
static void session_process(struct psession *s);

static void reply(struct psession *s, const char *text)
{
    conn_printf(s->c, "%s\r\n", text);
}

/* ------------------------------------------------------------------ */
/* the mailbox at login                                                */

/* Size with CRLF line ends: from the file name (W=), the cache, or the text. */
static uint64_t msg_vsize(struct psession *s, const struct mmsg *m)
{
    if (m->vsize)
        return m->vsize;
    size_t len;
    const void *c = mview_cache_get(s->v, m->uid, CACHE_VSIZE, &len);
    uint64_t v;
    if (c && len == sizeof(v)) {
        memcpy(&v, c, sizeof(v));
        return v;
    }
    struct storage_error e;
    int fd = mview_open_msg(s->v, m->uid, &e);
    if (fd < 0)
        return m->size;
    char buf[READ_CHUNK];
    char prev = 0;
    ssize_t r;
    v = 0;
    while ((r = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            if (buf[i] == '\n' && prev != '\r')
                v++;
            prev = buf[i];
        }
        v += (uint64_t)r;
    }
    close(fd);
    if (r < 0)
        return m->size;
    mview_cache_put(s->v, m->uid, CACHE_VSIZE, &v, sizeof(v));
    return v;
}

/* One POP3 session per mailbox: a lock held while the session lives. */
static int lock_mailbox(struct psession *s)
{
    int dfd = open(mstore_root(s->st), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    s->lockfd = openat(dfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    close(dfd);
    if (s->lockfd < 0)
        return -1;
    if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(s->lockfd);
        s->lockfd = -1;
        errno = e;
        return -1;
    }
    return 0;
}

/* Open the INBOX; 0, or -1 after the reply that ends the session. */
static int inbox_open(struct psession *s)
{
    char path[MAILLOC_PATH_MAX];
    const char *why;
    if (!s->mail || !*s->mail ||
        login_mailloc_expand(s->mail, s->user, s->home ? s->home : "", path, sizeof(path),
                             &why) < 0) {
        msg_warn("pop3(%s): no usable mail location \"%s\"", s->user, s->mail ? s->mail : "");
        reply(s, "-ERR [SYS/PERM] No mail location is configured for this user.");
        return -1;
    }
    struct storage_error e;
    s->st = mstore_open(path, 1, &e);
    if (!s->st) {
        msg_warn("pop3(%s): cannot open the Maildir %s: %s", s->user, path, e.text);
        reply(s, "-ERR [SYS/TEMP] Internal error occurred. "
              "Refer to server log for more information.");
        return -1;
    }
    if (lock_mailbox(s) < 0) {
        if (errno == EWOULDBLOCK)
            reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
        else
            reply(s, "-ERR [SYS/TEMP] Cannot lock the mailbox.");
        msg_info("pop3(%s): mailbox locked: %s", s->user, strerror(errno));
        return -1;
    }
    s->v = mview_open(s->st, "INBOX", &e);
    if (!s->v) {
        msg_warn("pop3(%s): cannot open INBOX: %s", s->user, e.text);
        reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox.");
        return -1;
    }
    size_t n;
    const struct mmsg *m = mview_msgs(s->v, &n);
    s->uidvalidity = mview_uidvalidity(s->v);
    s->msgs = xcalloc(n ? n : 1, sizeof(*s->msgs));
    for (size_t i = 0; i < n; i++) {
        s->msgs[i].uid = m[i].uid;
        s->msgs[i].base = xstrndup(m[i].name, m[i].baselen);
    }
    s->n = n;
    /* sizes after the copy: mview_msgs() pointers may move while the cache is filled */
    for (size_t i = 0; i < s->n; i++) {
        m = mview_msgs(s->v, &n);
        long k = mview_find(s->v, s->msgs[i].uid);
        s->msgs[i].size = k >= 0 ? msg_vsize(s, &m[k]) : 0;
    }
    mview_cache_flush(s->v);              /* the sizes are there for IMAP sessions at once */
    return 0;
}

/* UPDATE (expunge set) or the end of a session without QUIT: \Seen, deletions. */
static int inbox_update(struct psession *s, int expunge)
{
    uint32_t *seen = xcalloc(s->n ? s->n : 1, sizeof(uint32_t));
    uint32_t *del = xcalloc(s->n ? s->n : 1, sizeof(uint32_t));
    size_t nseen = 0, ndel = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (expunge && s->msgs[i].deleted)
            del[ndel++] = s->msgs[i].uid;
        else if (s->msgs[i].retrieved && !s->srv->set->no_flag_updates)
            seen[nseen++] = s->msgs[i].uid;
    }
    struct storage_error e;
    int rc = 0;
    if (nseen && mview_store(s->v, seen, nseen, MVIEW_FLAGS_ADD, STORAGE_FLAG_SEEN, 0, &e) < 0) {
        msg_warn("pop3(%s): setting \\Seen: %s", s->user, e.text);
        rc = -1;
    }
    if (ndel) {
        struct mview_changes ch;
        if (mview_store(s->v, del, ndel, MVIEW_FLAGS_ADD, STORAGE_FLAG_DELETED, 0, &e) < 0 ||
            mview_expunge(s->v, del, ndel, &ch, &e) < 0) {
            msg_warn("pop3(%s): expunging: %s", s->user, e.text);
            rc = -1;
        } else {
            mview_changes_free(&ch);
        }
    }
    free(seen);
    free(del);
    for (size_t i = 0; i < s->n; i++)
        s->msgs[i].retrieved = 0;
    return rc;
}

/* ------------------------------------------------------------------ */
/* sending a message                                                   */

static void send_stop(struct psession *s)
{
    if (!s->send)
        return;
    if (s->send->fd >= 0)
        close(s->send->fd);
    free(s->send);
    s->send = NULL;
}

/* Copy one chunk, CRLF line ends and dot-stuffing; 1 when TOP's lines are all sent. */
static int send_chunk(struct psend *p, struct buf *o, const char *d, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char ch = d[i];
        if (p->bol && ch == '.')
            buf_putc(o, '.');
        if (ch == '\n' && p->last != '\r')
            buf_putc(o, '\r');
        buf_putc(o, ch);
        p->last = ch;
        if (ch != '\n') {
            p->bol = p->bol && ch == '\r';
            continue;
        }
        int empty = p->bol;
        p->bol = 1;
        if (p->in_header && empty) {
            p->in_header = 0;             /* the empty line ends the header */
            if (p->lines == 0)
                return 1;
        } else if (!p->in_header && p->lines > 0 && --p->lines == 0) {
            return 1;
        }
    }
    return 0;
}

/* Fill the output up to SEND_HIGH_WATER; at the end, the terminating ".". */
static void send_pump(struct psession *s)
{
    struct psend *p = s->send;
    char buf[READ_CHUNK];
    int done = 0;
    while (!done && conn_out_len(s->c) < SEND_HIGH_WATER) {
        ssize_t r = read(p->fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r < 0)
                msg_warn("pop3(%s): reading a message: %s", s->user, strerror(errno));
            done = 1;
            break;
        }
        done = send_chunk(p, conn_out(s->c), buf, (size_t)r);
    }
    if (!done)
        return;
    if (!p->bol)
        buf_puts(conn_out(s->c), "\r\n");
    buf_puts(conn_out(s->c), ".\r\n");
    send_stop(s);
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

static uint64_t total_size(const struct psession *s, size_t *count)
{
    uint64_t t = 0;
    *count = 0;
    for (size_t i = 0; i < s->n; i++)
        if (!s->msgs[i].deleted) {
            t += s->msgs[i].size;
            ++*count;
        }
    return t;
}

/* The message an argument names: NULL after replying -ERR. */
static struct pmsg *msg_arg(struct psession *s, const char *arg)
{
    uint32_t k;
    if (pop3d_parse_number(arg, &k) < 0) {
        reply(s, "-ERR Invalid message number.");
        s->bad++;
        return NULL;
    }
    if (k == 0 || k > s->n) {
        reply(s, "-ERR There's no message with that number.");
        return NULL;
    }
    if (s->msgs[k - 1].deleted) {
        reply(s, "-ERR Message is deleted.");
        return NULL;
    }
    return &s->msgs[k - 1];
}

typedef void pop3_cmd_fn(struct psession *s, const struct pop3_cmd *c);

static void cmd_capa(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    buf_puts(conn_out(s->c), "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n"
             "AUTH-RESP-CODE\r\n.\r\n");
}

static void cmd_stat(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    size_t n;
    uint64_t t = total_size(s, &n);
    conn_printf(s->c, "+OK %zu %llu\r\n", n, (unsigned long long)t);
}

/* LIST and UIDL take at most one argument. */
static int one_arg_at_most(struct psession *s, const struct pop3_cmd *c)
{
    if (c->nargs <= 1)
        return 1;
    reply(s, "-ERR Too many arguments.");
    s->bad++;
    return 0;
}

static void cmd_list(struct psession *s, const struct pop3_cmd *c)
{
    if (!one_arg_at_most(s, c))
        return;
    if (c->nargs == 1) {
        struct pmsg *m = msg_arg(s, c->args[0]);
        if (m)
            conn_printf(s->c, "+OK %zu %llu\r\n", (size_t)(m - s->msgs) + 1,
                        (unsigned long long)m->size);
        return;
    }
    size_t n;
    uint64_t t = total_size(s, &n);
    struct buf *o = conn_out(s->c);
    buf_printf(o, "+OK %zu messages (%llu octets)\r\n", n, (unsigned long long)t);
    for (size_t i = 0; i < s->n; i++)
        if (!s->msgs[i].deleted)
            buf_printf(o, "%zu %llu\r\n", i + 1, (unsigned long long)s->msgs[i].size);
    buf_puts(o, ".\r\n");
}

static void put_uidl(struct psession *s, struct buf *o, size_t i, const char *prefix)
{
    char u[96];
    const struct pmsg *m = &s->msgs[i];
    if (pop3d_uidl(s->srv->set->uidl_format, m->uid, s->uidvalidity, m->base, strlen(m->base),
                   u, sizeof(u)) < 0)
        pop3d_uidl("%08Xu%08Xv", m->uid, s->uidvalidity, "", 0, u, sizeof(u));
    buf_printf(o, "%s%zu %s\r\n", prefix, i + 1, u);
}

static void cmd_uidl(struct psession *s, const struct pop3_cmd *c)
{
    struct buf *o = conn_out(s->c);
    if (!one_arg_at_most(s, c))
        return;
    if (c->nargs == 1) {
        struct pmsg *m = msg_arg(s, c->args[0]);
        if (m)
            put_uidl(s, o, (size_t)(m - s->msgs), "+OK ");
        return;
    }
    buf_puts(o, "+OK\r\n");
    for (size_t i = 0; i < s->n; i++)
        if (!s->msgs[i].deleted)
            put_uidl(s, o, i, "");
    buf_puts(o, ".\r\n");
}

/* RETR (lines < 0) and TOP. */
static void send_start(struct psession *s, struct pmsg *m, long lines)
{
    struct storage_error e;
    int fd = mview_open_msg(s->v, m->uid, &e);
    if (fd < 0) {
        if (e.err == ENOENT)
            reply(s, "-ERR Message was expunged by another session.");
        else
            reply(s, "-ERR [SYS/TEMP] Cannot read the message.");
        return;
    }
    s->send = xcalloc(1, sizeof(*s->send));
    *s->send = (struct psend){.fd = fd, .in_header = 1, .lines = lines, .bol = 1};
    if (lines < 0) {
        conn_printf(s->c, "+OK %llu octets\r\n", (unsigned long long)m->size);
        s->send->in_header = 0;           /* no TOP counting */
        m->retrieved = 1;
    } else {
        reply(s, "+OK");
    }
    send_pump(s);
}

static void cmd_retr(struct psession *s, const struct pop3_cmd *c)
{
    if (c->nargs != 1) {
        reply(s, "-ERR RETR needs a message number.");
        s->bad++;
        return;
    }
    struct pmsg *m = msg_arg(s, c->args[0]);
    if (m)
        send_start(s, m, -1);
}

static void cmd_top(struct psession *s, const struct pop3_cmd *c)
{
    uint32_t lines;
    if (c->nargs != 2 || pop3d_parse_number(c->args[1], &lines) < 0) {
        reply(s, "-ERR TOP needs a message number and a line count.");
        s->bad++;
        return;
    }
    struct pmsg *m = msg_arg(s, c->args[0]);
    if (m)
        send_start(s, m, (long)lines);
}

static void cmd_dele(struct psession *s, const struct pop3_cmd *c)
{
    if (c->nargs != 1) {
        reply(s, "-ERR DELE needs a message number.");
        s->bad++;
        return;
    }
    struct pmsg *m = msg_arg(s, c->args[0]);
    if (!m)
        return;
    m->deleted = 1;
    reply(s, "+OK Marked to be deleted.");
}

static void cmd_noop(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    reply(s, "+OK");
}

static void cmd_rset(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    for (size_t i = 0; i < s->n; i++)
        s->msgs[i].deleted = 0;
    reply(s, "+OK");
}

static void cmd_quit(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    size_t ndel = 0;
    for (size_t i = 0; i < s->n; i++)
        ndel += s->msgs[i].deleted != 0;
    if (inbox_update(s, 1) < 0)
        reply(s, "-ERR [SYS/TEMP] Some deleted messages were not removed.");
    else if (ndel)
        reply(s, "+OK Logging out, messages deleted.");
    else
        reply(s, "+OK Logging out.");
    s->closing = 1;
}

static void cmd_logged_in(struct psession *s, const struct pop3_cmd *c)
{
    (void)c;
    reply(s, "-ERR Already logged in.");
    s->bad++;
}

static const struct {
    const char *name;
    pop3_cmd_fn *fn;
} commands[] = {
    {"CAPA", cmd_capa}, {"STAT", cmd_stat}, {"LIST", cmd_list}, {"UIDL", cmd_uidl},
    {"RETR", cmd_retr}, {"TOP", cmd_top}, {"DELE", cmd_dele}, {"NOOP", cmd_noop},
    {"RSET", cmd_rset}, {"QUIT", cmd_quit}, {"USER", cmd_logged_in}, {"PASS", cmd_logged_in},
    {"AUTH", cmd_logged_in}, {"STLS", cmd_logged_in}, {"APOP", cmd_logged_in},
};

static void run_line(struct psession *s, char *line, size_t len)
{
    struct pop3_cmd c;
    const char *err;
    if (pop3d_parse_line(line, len, &c, &err) < 0) {
        conn_printf(s->c, "-ERR %s\r\n", err);
        s->bad++;
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        if (strcmp(c.name, commands[i].name) == 0) {
            commands[i].fn(s, &c);
            return;
        }
    reply(s, "-ERR Unknown command.");
    s->bad++;
}

/* ------------------------------------------------------------------ */
/* sessions                                                            */

/* One command line from the input: 1 run, 0 need more. */
static int next_command(struct psession *s)
{
    char *data;
    size_t len = conn_peek(s->c, &data);
    if (len == 0)
        return 0;
    char *nl = memchr(data, '\n', len);
    if (!nl) {
        if (len > POP3_LINE_MAX + 2) {
            reply(s, "-ERR Line too long.");
            conn_consume(s->c, len);
            s->closing = 1;
            return 1;
        }
        return 0;
    }
    size_t n = (size_t)(nl - data), take = n + 1;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    if (n > POP3_LINE_MAX) {
        conn_consume(s->c, take);
        conn_printf(s->c, "-ERR Line too long.\r\n");
        s->closing = 1;
        return 1;
    }
    char *line = xstrndup(data, n);
    conn_consume(s->c, take);
    run_line(s, line, n);
    free(line);
    if (s->bad >= BAD_COMMANDS_MAX && !s->closing) {
        reply(s, "-ERR Too many bad commands.");
        s->closing = 1;
    }
    return 1;
}

static void session_process(struct psession *s)
{
    for (;;) {
        if (s->send)
            send_pump(s);
        /* pipelined commands wait while a message is being sent (PIPELINING keeps order) */
        while (!s->closing && !s->send && next_command(s))
            ;
        if (conn_flush(s->c) < 0 || (s->closing && conn_out_len(s->c) == 0)) {
            session_end(s);
            return;
        }
        /* all of it went out at once: no writable event will come, so refill now */
        if (!s->send || conn_out_len(s->c) > 0)
            break;
    }
    conn_want_input(s->c, !s->closing && !s->send);
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
    struct psession *s = arg;
    if (s->closing) {
        session_end(s);
        return;
    }
    send_stop(s);
    reply(s, "-ERR Disconnected for inactivity.");
    s->closing = 1;
    conn_deadline_in(s->c, 10000);
    session_process(s);
}

static const struct conn_cb session_cb = {
    .ready = on_ready, .lost = on_lost, .deadline = on_deadline,
};

static void session_end(struct psession *s)
{
    struct pop3_server *srv = s->srv;
    send_stop(s);
    if (s->v) {
        inbox_update(s, 0);              /* \Seen of what was retrieved; no deletions */
        mview_close(s->v);
    }
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->st)
        mstore_close(s->st);
    for (size_t i = 0; i < s->n; i++)
        free(s->msgs[i].base);
    free(s->msgs);
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
    free(s->mail);
    free(s);
}

/* SESSION user home mail rip lip tls tag, with the client's fd and what it pipelined */
static void session_start(struct login_worker *w, struct login_msg *m)
{
    struct pop3_server *srv = (struct pop3_server *)w;
    char **f = m->fields;
    struct psession *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->lockfd = -1;
    s->user = xstrdup(f[1]);
    s->home = xstrdup(f[2]);
    s->mail = xstrdup(f[3]);
    str_copy(s->rip, f[4], sizeof(s->rip));
    s->c = login_worker_session(w, m, MAIL_IN_MAX, MAIL_OUT_MAX, &session_cb, s,
                                srv->set->l.timeout_ms);
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    if (inbox_open(s) < 0) {
        if (s->v) {
            mview_close(s->v);
            s->v = NULL;
        }
        s->closing = 1;
    } else {
        reply(s, "+OK Logged in.");
    }
    session_process(s);
}

static void stop_sessions(struct login_worker *w)
{
    struct pop3_server *srv = (struct pop3_server *)w;
    for (struct psession *s = srv->sessions; s; s = s->next) {
        send_stop(s);
        reply(s, "-ERR Server shutting down.");
        conn_flush(s->c);
    }
    while (srv->sessions)
        session_end(srv->sessions);
}

void pop3d_mail_run(int sock, const struct login_settings *lset, uid_t uid, void *ctx)
{
    (void)lset;
    struct pop3_server srv = {
        .w = {.role = "pop3d", .start = session_start, .stop = stop_sessions},
        .set = ctx,
    };
    login_worker_run(&srv.w, sock, uid);
}
