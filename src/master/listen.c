/*
 * listen.c - the master's listening sockets.
 *
 * inet services listen on their own host:port, or on every address of
 * inet_interfaces filtered by inet_protocols; unix services on
 * $queue_directory/private/NAME (0600, mail_owner) or public/NAME (0666).
 * Sockets are keyed by what they are bound to, so a reload that keeps a
 * service keeps its socket open: no connection is refused during reload.
 */
#include "master/master.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct listener {
    char *key;      /* "inet [addr]:port" or "unix /path" */
    int fd;
    char *path;     /* unix: the socket file */
    int used;
};

struct listeners {
    struct listener *v;
    size_t n;
};

/* ------------------------------------------------------------------ */
/* addresses                                                           */

static int port_number(const char *port, char *out, size_t outlen)
{
    long long n;
    if (port[0] >= '0' && port[0] <= '9') {
        char *end;
        n = strtoll(port, &end, 10);
        if (*end || n <= 0 || n > 65535)
            return -1;
    } else {
        struct servent *se = getservbyname(port, "tcp");
        if (se) {
            n = ntohs((uint16_t)se->s_port);
        } else {
            /* Without /etc/services the well-known mail ports still work. */
            static const struct { const char *name; int port; } known[] = {
                {"smtp", 25}, {"submission", 587}, {"smtps", 465}, {"submissions", 465},
                {"lmtp", 24},
            };
            n = -1;
            for (size_t i = 0; i < ARRAY_LEN(known); i++)
                if (strcmp(port, known[i].name) == 0)
                    n = known[i].port;
            if (n < 0)
                return -1;
        }
    }
    snprintf(out, outlen, "%d", (int)n);
    return 0;
}

static void add_addr(struct bind_addr **v, size_t *n, int family, const char *addr,
                     const char *port)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].family == family && strcmp((*v)[i].addr, addr) == 0)
            return;
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    struct bind_addr *b = &(*v)[(*n)++];
    b->family = family;
    str_copy(b->addr, addr, sizeof(b->addr));
    str_copy(b->port, port, sizeof(b->port));
}

/* A host name or numeric address ([brackets] allowed) -> addresses of the wanted families. */
static int resolve_host(const char *host, int want4, int want6, const char *port,
                        struct bind_addr **v, size_t *n, char *err, size_t errlen)
{
    char h[256];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']')
        str_copy(h, host + 1, len - 1 < sizeof(h) ? len - 1 : sizeof(h));
    else
        str_copy(h, host, sizeof(h));
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    hints.ai_family = want4 && want6 ? AF_UNSPEC : want6 ? AF_INET6 : AF_INET;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(h, NULL, &hints, &res);
    if (rc != 0) {
        /* Numeric addresses must work even without AI_ADDRCONFIG's blessing. */
        hints.ai_flags = AI_NUMERICHOST;
        rc = getaddrinfo(h, NULL, &hints, &res);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listen address \"%s\": %s", h, gai_strerror(rc));
        return -1;
    }
    int found = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char text[INET6_ADDRSTRLEN];
        if (ai->ai_family == AF_INET && want4)
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, text, sizeof(text));
        else if (ai->ai_family == AF_INET6 && want6)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr, text,
                      sizeof(text));
        else
            continue;
        add_addr(v, n, ai->ai_family, text, port);
        found = 1;
    }
    freeaddrinfo(res);
    if (!found) {
        snprintf(err, errlen, "listen address \"%s\" has no address allowed by inet_protocols", h);
        return -1;
    }
    return 0;
}

struct bind_addr *master_inet_addrs(const struct config *cfg, const struct master_service *svc,
                                    size_t *n, char *err, size_t errlen)
{
    struct bind_addr *v = NULL;
    char port[16];
    *n = 0;
    if (!svc->port || port_number(svc->port, port, sizeof(port)) < 0) {
        snprintf(err, errlen, "service %s: unknown port \"%s\"", svc->name,
                 svc->port ? svc->port : "");
        return NULL;
    }
    int want4, want6;
    cfg_inet_protocols(cfg, &want4, &want6);
    if (!want4 && !want6) {
        snprintf(err, errlen, "inet_protocols selects no usable protocol");
        return NULL;
    }
    if (svc->host) {
        if (resolve_host(svc->host, want4, want6, port, &v, n, err, errlen) < 0) {
            free(v);
            return NULL;
        }
        return v;
    }
    char **ifs = cfg_get_list(cfg, P_inet_interfaces);
    int ok = 1;
    for (char **p = ifs; *p && ok; p++) {
        if (str_ieq(*p, "all")) {
            if (want4)
                add_addr(&v, n, AF_INET, "0.0.0.0", port);
            if (want6)
                add_addr(&v, n, AF_INET6, "::", port);
        } else if (str_ieq(*p, "loopback-only")) {
            if (want4)
                add_addr(&v, n, AF_INET, "127.0.0.1", port);
            if (want6)
                add_addr(&v, n, AF_INET6, "::1", port);
        } else {
            ok = resolve_host(*p, want4, want6, port, &v, n, err, errlen) == 0;
        }
    }
    strv_free(ifs);
    if (ok && *n == 0) {
        snprintf(err, errlen, "inet_interfaces is empty: service %s has nothing to listen on",
                 svc->name);
        ok = 0;
    }
    if (!ok) {
        free(v);
        *n = 0;
        return NULL;
    }
    return v;
}

char *master_unix_path(const struct config *cfg, const struct master_service *svc)
{
    return cfg_unix_socket_path(cfg, svc->name);
}

/* ------------------------------------------------------------------ */
/* binding                                                             */

static int bind_inet(const struct bind_addr *b, char *err, size_t errlen)
{
    int fd = socket(b->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (b->family == AF_INET6) {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)atoi(b->port));
        inet_pton(AF_INET6, b->addr, &s6->sin6_addr);
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)atoi(b->port));
        inet_pton(AF_INET, b->addr, &s4->sin_addr);
        sl = sizeof(*s4);
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, MASTER_LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "bind %s%s%s:%s: %s", b->family == AF_INET6 ? "[" : "", b->addr,
                 b->family == AF_INET6 ? "]" : "", b->port, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int bind_unix(const char *path, int private_, uid_t owner, gid_t group, int single_user,
                     char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "socket path too long (max %zu bytes): %s",
                 sizeof(sun.sun_path) - 1, path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    /* A socket file left by a previous run: nobody listens on it any more. */
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (r < 0 || listen(fd, MASTER_LISTEN_BACKLOG) < 0) {
        snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (chmod(path, private_ ? 0600 : 0666) < 0 ||
        (!single_user && chown(path, owner, group) < 0)) {
        snprintf(err, errlen, "set owner/mode of %s: %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

struct listeners *listeners_new(void)
{
    return xcalloc(1, sizeof(struct listeners));
}

void listeners_unmark(struct listeners *ls)
{
    for (size_t i = 0; i < ls->n; i++)
        ls->v[i].used = 0;
}

void listeners_mark_fd(struct listeners *ls, int fd)
{
    for (size_t i = 0; i < ls->n; i++)
        if (ls->v[i].fd == fd)
            ls->v[i].used = 1;
}

static struct listener *find(struct listeners *ls, const char *key)
{
    for (size_t i = 0; i < ls->n; i++)
        if (strcmp(ls->v[i].key, key) == 0)
            return &ls->v[i];
    return NULL;
}

static int add_listener(struct listeners *ls, const char *key, int fd, const char *path)
{
    ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
    ls->v[ls->n] = (struct listener){xstrdup(key), fd, path ? xstrdup(path) : NULL, 1};
    ls->n++;
    return fd;
}

int *listeners_for_service(struct listeners *ls, const struct config *cfg,
                           const struct master_service *svc, uid_t owner, gid_t group,
                           int single_user, size_t *n, char *err, size_t errlen)
{
    int *fds = NULL;
    *n = 0;
    char e[512];
    if (svc->type == SVC_INET) {
        size_t na;
        struct bind_addr *a = master_inet_addrs(cfg, svc, &na, e, sizeof(e));
        if (!a) {
            snprintf(err, errlen, "%s", e);
            return NULL;
        }
        fds = xcalloc(na, sizeof(*fds));
        for (size_t i = 0; i < na; i++) {
            char key[160];
            snprintf(key, sizeof(key), "inet [%s]:%s", a[i].addr, a[i].port);
            struct listener *l = find(ls, key);
            int fd = l ? l->fd : bind_inet(&a[i], e, sizeof(e));
            if (fd < 0) {
                snprintf(err, errlen, "service %s/inet: %s", svc->name, e);
                free(a);
                free(fds);
                *n = 0;
                return NULL;
            }
            if (l)
                l->used = 1;
            else
                add_listener(ls, key, fd, NULL);
            fds[(*n)++] = fd;
        }
        free(a);
        return fds;
    }
    /* pass services listen on a UNIX socket too (private/NAME), as in Postfix. */
    if (svc->type != SVC_UNIX && svc->type != SVC_PASS) {
        snprintf(err, errlen, "service %s: type %s is not supported", svc->name,
                 cfg_svc_type_name(svc->type));
        return NULL;
    }
    char *path = master_unix_path(cfg, svc);
    if (!path) {
        snprintf(err, errlen, "queue_directory is not set");
        return NULL;
    }
    char key[4200];
    snprintf(key, sizeof(key), "unix %s %o", path, svc->private_ ? 0600 : 0666);
    struct listener *l = find(ls, key);
    int fd = l ? l->fd : bind_unix(path, svc->private_, owner, group, single_user, e, sizeof(e));
    if (fd < 0) {
        snprintf(err, errlen, "service %s/unix: %s", svc->name, e);
        free(path);
        return NULL;
    }
    if (l)
        l->used = 1;
    else
        add_listener(ls, key, fd, path);
    free(path);
    fds = xmalloc(sizeof(*fds));
    fds[0] = fd;
    *n = 1;
    return fds;
}

static void close_one(struct listener *l, int unlink_path)
{
    close(l->fd);
    if (unlink_path && l->path)
        unlink(l->path);
    free(l->key);
    free(l->path);
}

void listeners_close_unused(struct listeners *ls)
{
    size_t out = 0;
    for (size_t i = 0; i < ls->n; i++) {
        if (ls->v[i].used) {
            ls->v[out++] = ls->v[i];
            continue;
        }
        /* Another listener may have re-bound the same path with a new mode. */
        int shared = 0;
        for (size_t j = 0; j < ls->n; j++)
            if (j != i && ls->v[j].used && ls->v[j].path && ls->v[i].path &&
                strcmp(ls->v[j].path, ls->v[i].path) == 0)
                shared = 1;
        close_one(&ls->v[i], !shared);
    }
    ls->n = out;
}

void listeners_close_all(struct listeners *ls, int unlink_paths)
{
    for (size_t i = 0; i < ls->n; i++)
        close_one(&ls->v[i], unlink_paths);
    ls->n = 0;
}

void listeners_free(struct listeners *ls)
{
    if (!ls)
        return;
    listeners_close_all(ls, 0);
    free(ls->v);
    free(ls);
}
