/*
 * table_socketmap.c - socketmap: tables (socketmap_table(5)), the first
 * table type that answers from another process and may be slow.
 *
 *   socketmap:inet:HOST:PORT:NAME      socketmap:inet:[::1]:PORT:NAME
 *   socketmap:unix:/PATH:NAME
 *
 * A lookup sends the netstring "NAME KEY" and reads one netstring reply
 * (tableproto.h). The connection stays open for the next lookup and is
 * reopened once when the server closed it in between. Every step (connect,
 * write, read) shares one deadline, socketmap_timeout (yubin's parameter,
 * default 100s: Postfix's built-in value); a timeout, a refused
 * connection or a malformed reply is a temporary failure, never "not
 * found". The connection is a lib/conn.h connection in blocking mode.
 * Like regexp: and cidr:, a socketmap sees only full keys (Postfix sends
 * it no partial ones), and its keys are not folded.
 *
 * This file waits in place: inside event-loop processes (smtpd, qmgr,
 * auth) the lookups are sent to the proxymap service instead
 * (table_async.c), so only the blocking workers there, and the command
 * line, ever run this code.
 */
#include "lib-table/table_impl.h"
#include "lib-table/tableproto.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCKMAP_DEFAULT_TIMEOUT_MS 100000

struct sockmap {
    char *host;         /* inet */
    char *port;
    char *path;         /* unix */
    char *map;          /* NAME */
    struct conn *io;    /* the open connection (lib/conn.h, blocking mode), or NULL */
    unsigned timeout_ms;
};

/* ------------------------------------------------------------- parsing */

static int parse_endpoint(struct sockmap *s, const char *name, char *err, size_t errlen)
{
    const char *last = strrchr(name, ':');
    if (!last || !last[1])
        return table_err(err, errlen, "expected inet:host:port:name or unix:/path:name");
    s->map = xstrdup(last + 1);
    if (strncmp(name, "unix:", 5) == 0) {
        if (last <= name + 5)
            return table_err(err, errlen, "missing socket path in unix:/path:name");
        s->path = xstrndup(name + 5, (size_t)(last - name - 5));
        if (strlen(s->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return table_err(err, errlen, "socket path too long");
        return 0;
    }
    if (strncmp(name, "inet:", 5) != 0)
        return table_err(err, errlen, "expected inet:host:port:name or unix:/path:name");
    const char *hp = name + 5;
    size_t hplen = (size_t)(last - hp);
    const char *pc = NULL;
    for (size_t i = hplen; i-- > 0;)
        if (hp[i] == ':') {
            pc = hp + i;
            break;
        }
    if (!pc || pc == hp || pc + 1 == last)
        return table_err(err, errlen, "expected inet:host:port:name");
    size_t hlen = (size_t)(pc - hp);
    if (hp[0] == '[' && hlen >= 2 && hp[hlen - 1] == ']')
        s->host = xstrndup(hp + 1, hlen - 2);
    else
        s->host = xstrndup(hp, hlen);
    s->port = xstrndup(pc + 1, (size_t)(last - pc - 1));
    return 0;
}

/* ----------------------------------------------------------------- I/O */

static int remaining(uint64_t deadline)
{
    uint64_t now = mono_msec();
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Wait for fd to be ready for events before the deadline. 0, or -1 (errno ETIMEDOUT). */
static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int ms = remaining(deadline);
        if (ms == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int n = poll(&p, 1, ms);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_addr(const struct sockaddr *sa, socklen_t salen, uint64_t deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, sa, salen) == 0)
        return fd;
    if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr == 0)
            return fd;
        errno = soerr ? soerr : EIO;
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

static int sockmap_connect(struct sockmap *s, uint64_t deadline)
{
    if (s->path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        str_copy(sun.sun_path, s->path, sizeof(sun.sun_path));
        return connect_addr((struct sockaddr *)&sun, sizeof(sun), deadline);
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(s->host, s->port, &hints, &res);
    if (rc != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
        fd = connect_addr(ai->ai_addr, ai->ai_addrlen, deadline);
    freeaddrinfo(res);
    return fd;
}

/* Read one netstring reply; its payload at *off, *plen in the connection's
 * input (conn_peek). 0, or -1 with errno (EPIPE: closed before any byte,
 * ETIMEDOUT), or -2 malformed (why). */
static int read_reply(struct conn *c, size_t *off, size_t *plen, const char **why)
{
    for (;;) {
        char *data;
        size_t n = conn_peek(c, &data), used;
        int r = netstring_decode(data, n, SOCKMAP_REPLY_MAX, off, plen, &used, why);
        if (r > 0)
            return 0;
        if (r < 0)
            return -2;
        int f = conn_fill_wait(c);
        if (f == 1)
            continue;
        if (f == CONN_EOF) {
            errno = n ? ECONNRESET : EPIPE;
        } else if (f == CONN_TIMEOUT) {
            errno = ETIMEDOUT;
        } else if (n >= SOCKMAP_REPLY_MAX) {
            *why = "reply too long";
            return -2;
        }
        return -1;
    }
}

static void sockmap_disconnect(struct sockmap *s)
{
    conn_free(s->io);
    s->io = NULL;
}

/* One attempt on the current (or a new) connection. */
static int sockmap_try(struct table *t, struct sockmap *s, const struct buf *req,
                       struct buf *result, uint64_t deadline, int *retry)
{
    int reused = s->io != NULL;
    *retry = 0;
    if (!s->io) {
        int fd = sockmap_connect(s, deadline);
        if (fd < 0) {
            msg_warn("%s: cannot connect: %s", t->spec, strerror(errno));
            return TABLE_TEMPFAIL;
        }
        s->io = conn_new(fd, SOCKMAP_REPLY_MAX + 16, 0);
    }
    conn_deadline_at(s->io, deadline);
    size_t off = 0, plen = 0;
    const char *why = "";
    int rc = conn_write_wait(s->io, req->data, req->len);
    if (rc < 0 && conn_timed_out(s->io))
        errno = ETIMEDOUT;
    if (rc == 0)
        rc = read_reply(s->io, &off, &plen, &why);
    if (rc < 0) {
        int e = errno;
        sockmap_disconnect(s);
        if (rc == -1 && reused && (e == EPIPE || e == ECONNRESET)) {
            *retry = 1;   /* the server closed an idle connection */
        } else if (rc == -1) {
            msg_warn("%s: lookup failed: %s", t->spec,
                     e == ETIMEDOUT ? "timeout" : strerror(e));
        } else {
            msg_warn("%s: %s", t->spec, why);
        }
        return TABLE_TEMPFAIL;
    }
    char reason[300], *data;
    conn_peek(s->io, &data);
    rc = sockmap_parse_reply(data + off, plen, result, reason, sizeof(reason));
    if (rc == TABLE_TEMPFAIL)
        msg_warn("%s: %s", t->spec, reason);
    conn_discard_input(s->io);         /* one reply per request: anything more is noise */
    return rc;
}

static int sockmap_lookup(struct table *t, const char *key, struct buf *result)
{
    struct sockmap *s = t->priv;
    struct buf req;
    buf_init(&req, TABLE_KEY_MAX + strlen(s->map) + 32);
    char *q = xasprintf("%s %s", s->map, key);
    int ok = netstring_encode(&req, q, strlen(q));
    free(q);
    if (ok < 0) {
        buf_free(&req);
        return TABLE_NOTFOUND;
    }
    uint64_t deadline = mono_msec() + s->timeout_ms;
    int retry, rc = sockmap_try(t, s, &req, result, deadline, &retry);
    if (retry)
        rc = sockmap_try(t, s, &req, result, deadline, &retry);
    buf_free(&req);
    if (rc != TABLE_FOUND)
        buf_reset(result);
    return rc;
}

static void sockmap_close(struct table *t)
{
    struct sockmap *s = t->priv;
    if (!s)
        return;
    sockmap_disconnect(s);
    free(s->host);
    free(s->port);
    free(s->path);
    free(s->map);
    free(s);
}

static const struct table_ops sockmap_ops = {sockmap_lookup, sockmap_close, NULL};

int table_socketmap_open(struct table *t, const struct config *cfg, char *err, size_t errlen)
{
    struct sockmap *s = xcalloc(1, sizeof(*s));
    s->timeout_ms = SOCKMAP_DEFAULT_TIMEOUT_MS;
    if (cfg) {
        long long sec = cfg_get_time(cfg, P_socketmap_timeout);
        if (sec > 0)
            s->timeout_ms = sec > 86400 ? 86400000u : (unsigned)sec * 1000u;
    }
    t->priv = s;
    t->ops = &sockmap_ops;
    if (parse_endpoint(s, t->name, err, errlen) < 0) {
        sockmap_close(t);
        t->priv = NULL;
        return -1;
    }
    t->flags = TABLE_F_PATTERN | TABLE_F_REMOTE;
    t->fold = 0;
    return 0;
}
