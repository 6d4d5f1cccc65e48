/*
 * passfd.c - the "pass" hand-off message: a descriptor and its client's
 * addresses over a UNIX stream socket (see passfd.h).
 */
#include "lib-master/passfd.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int valid_word(const char *w, size_t max)
{
    size_t n = strlen(w);
    if (n == 0 || n >= max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (w[i] <= ' ' || w[i] > '~')
            return 0;
    return 1;
}

int passfd_send(int sock, int fd, const struct passfd_info *info)
{
    char line[PASSFD_LINE_MAX];
    if (!valid_word(info->client_addr, PASSFD_ADDR_MAX) ||
        !valid_word(info->client_port, PASSFD_PORT_MAX) ||
        !valid_word(info->server_addr, PASSFD_ADDR_MAX) ||
        !valid_word(info->server_port, PASSFD_PORT_MAX)) {
        errno = EINVAL;
        return -1;
    }
    int n = snprintf(line, sizeof(line), "%s %s %s %s\n", info->client_addr, info->client_port,
                     info->server_addr, info->server_port);
    if (n < 0 || (size_t)n >= sizeof(line)) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov = {line, (size_t)n};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    ssize_t w;
    do
        w = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -1;
    if (w != n) {   /* a UNIX stream socket takes a short message whole or not at all */
        errno = EIO;
        return -1;
    }
    return 0;
}

static int take_word(const char **p, char *out, size_t max)
{
    const char *s = *p;
    while (*s == ' ')
        s++;
    size_t n = strcspn(s, " \n");
    if (n == 0 || n >= max)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *p = s + n;
    return valid_word(out, max) ? 0 : -1;
}

int passfd_parse(const char *line, struct passfd_info *info)
{
    const char *p = line;
    if (take_word(&p, info->client_addr, sizeof(info->client_addr)) < 0 ||
        take_word(&p, info->client_port, sizeof(info->client_port)) < 0 ||
        take_word(&p, info->server_addr, sizeof(info->server_addr)) < 0 ||
        take_word(&p, info->server_port, sizeof(info->server_port)) < 0)
        return -1;
    if (*p == '\n')
        p++;
    return *p == '\0' ? 0 : -1;
}

int passfd_recv(int sock, int *fd, struct passfd_info *info)
{
    char line[PASSFD_LINE_MAX + 1];
    struct iovec iov = {line, PASSFD_LINE_MAX};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof(u.buf)};
    ssize_t r;
    do
        r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    int got = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&got, CMSG_DATA(cm), sizeof(int));
    line[r] = '\0';
    if (got < 0 || (mh.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) || r == 0 ||
        line[r - 1] != '\n' || passfd_parse(line, info) < 0) {
        if (got >= 0)
            close(got);
        errno = EPROTO;
        return -1;
    }
    fd_set_nonblock(got, 1);
    *fd = got;
    return 1;
}
