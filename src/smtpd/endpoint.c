/*
 * endpoint.c - the non-blocking connect to a policy service or a milter
 * (see endpoint.h).
 */
#include "smtpd/endpoint.h"
#include "lib/util.h"

#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* "host:port" or "[host]:port" into ss; a numeric host without the resolver. */
static int inet_addr_of(const char *hp, struct sockaddr_storage *ss, socklen_t *sl)
{
    const char *colon = strrchr(hp, ':');
    if (!colon) {
        errno = EINVAL;
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - hp);
    if (hp[0] == '[' && hl >= 2 && hp[hl - 1] == ']') {
        hp++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(host, hp, hl);
    host[hl] = 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV}, *res = NULL;
    if (getaddrinfo(hl ? host : "127.0.0.1", colon + 1, &hints, &res) != 0 || !res) {
        hints.ai_flags = 0;
        if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res) {
            errno = EHOSTUNREACH;
            return -1;
        }
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sl = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int unix_addr_of(const char *path, const char *queue_dir, struct sockaddr_storage *ss,
                        socklen_t *sl)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    sun->sun_family = AF_UNIX;
    int n = path[0] == '/' ? str_fmt(sun->sun_path, sizeof(sun->sun_path), "%s", path)
                           : str_fmt(sun->sun_path, sizeof(sun->sun_path), "%s/%s",
                                     queue_dir, path);
    if (n < 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    *sl = sizeof(*sun);
    return 0;
}

int smtpd_endpoint_connect(const char *name, const char *queue_dir)
{
    struct sockaddr_storage ss;
    socklen_t sl = 0;
    memset(&ss, 0, sizeof(ss));
    int r;
    if (strncmp(name, "inet:", 5) == 0)
        r = inet_addr_of(name + 5, &ss, &sl);
    else if (strncmp(name, "unix:", 5) == 0 || strncmp(name, "local:", 6) == 0)
        r = unix_addr_of(strchr(name, ':') + 1, queue_dir, &ss, &sl);
    else
        r = unix_addr_of(name, queue_dir, &ss, &sl);
    if (r < 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}
