/*
 * handoff.c - the messages the parts of a login path pass each other (see
 * login.h): a text head of escaped fields, opaque bytes, and at most one
 * descriptor, as one SOCK_SEQPACKET datagram. Also the common settings
 * and the socket address helper.
 */
#include "lib-login/login.h"

#include "lib-auth/authproto.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- settings ---- */

void login_settings_read(const struct config *cfg, const char *queue_dir,
                         struct login_settings *set)
{
    memset(set, 0, sizeof(*set));
    set->queue_dir = xstrdup(queue_dir ? queue_dir : "");
    /* the auth service's socket where master.cf puts it (private/ or public/) */
    set->sasl_path = cfg_unix_socket_path(cfg, "auth");
    const char *u = cfg_get(cfg, P_auth_userdb_socket);
    set->userdb_path = xstrdup(u ? u : "");
    set->disable_plaintext = cfg_get_bool(cfg, P_disable_plaintext_auth);
    set->first_valid_uid = cfg_get_int(cfg, P_first_valid_uid);
    set->mail_uid = xstrdup(cfg_get(cfg, P_mail_uid));
    set->mail_gid = xstrdup(cfg_get(cfg, P_mail_gid));
    set->mail_location = xstrdup(cfg_get(cfg, P_mail_location));
    set->cfg = cfg;
    set->home_mailbox = xstrdup(cfg_get(cfg, P_home_mailbox));
    set->virtual_base = xstrdup(cfg_get(cfg, P_virtual_mailbox_base));
    set->rcpt_delim = xstrdup(cfg_get(cfg, P_recipient_delimiter));
    set->max_userip = cfg_get_int(cfg, P_mail_max_userip_connections);
}

void login_settings_free(struct login_settings *set)
{
    free(set->queue_dir);
    free(set->sasl_path);
    free(set->userdb_path);
    free(set->mail_uid);
    free(set->mail_gid);
    free(set->mail_location);
    free(set->home_mailbox);
    free(set->virtual_base);
    free(set->rcpt_delim);
    memset(set, 0, sizeof(*set));
}

/* ---- addresses ---- */

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    out[0] = '\0';
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)outlen);
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out,
                  (socklen_t)outlen);
    /* IPv4-mapped IPv6 addresses are shown as IPv4 */
    if (strncmp(out, "::ffff:", 7) == 0 && strchr(out + 7, '.'))
        memmove(out, out + 7, strlen(out + 7) + 1);
}

void login_sock_addrs(int fd, char *rip, size_t riplen, char *lip, size_t liplen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, rip, riplen);
    else
        rip[0] = '\0';
    len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        addr_text(&ss, lip, liplen);
    else
        lip[0] = '\0';
}

/* ---- messages ---- */

int login_msg_send(int sock, const char *const *fields, int nfields, const void *data,
                   size_t len, int fd)
{
    struct buf b;
    buf_init(&b, LOGIN_MSG_MAX);
    for (int i = 0; i < nfields; i++) {
        if (i)
            buf_putc(&b, '\t');
        const char *f = fields[i] ? fields[i] : "";
        authproto_escape(&b, f, strlen(f));
    }
    if (buf_putc(&b, '\n') < 0 || (len && buf_append(&b, data, len) < 0)) {
        buf_free(&b);
        errno = EMSGSIZE;
        return -1;
    }
    struct iovec iov = {.iov_base = b.data, .iov_len = b.len};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    memset(&ctl, 0, sizeof(ctl));
    if (fd >= 0) {
        mh.msg_control = ctl.space;
        mh.msg_controllen = sizeof(ctl.space);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    buf_free(&b);
    return n < 0 ? -1 : 0;
}

static int received_fd(struct msghdr *mh)
{
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (fd < 0)
                fd = f;
            else
                close(f);      /* one descriptor per message */
        }
    }
    return fd;
}

int login_msg_recv(int sock, struct login_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->fd = -1;
    char *buf = xmalloc(LOGIN_MSG_MAX + 1);
    struct iovec iov = {.iov_base = buf, .iov_len = LOGIN_MSG_MAX};
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                        .msg_controllen = sizeof(ctl.space)};
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        free(buf);
        return n == 0 ? 0 : -1;
    }
    m->fd = received_fd(&mh);
    buf[n] = '\0';
    char *nl = memchr(buf, '\n', (size_t)n);
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || !nl) {
        if (m->fd >= 0)
            close(m->fd);
        free(buf);
        errno = EPROTO;
        return -1;
    }
    *nl = '\0';
    m->head = buf;
    m->data = nl + 1;
    m->data_len = (size_t)(buf + n - (nl + 1));
    m->nfields = authproto_split(buf, m->fields, LOGIN_FIELDS_MAX);
    if (m->nfields < 1) {
        login_msg_free(m);
        errno = EPROTO;
        return -1;
    }
    return 1;
}

void login_msg_free(struct login_msg *m)
{
    if (m->fd >= 0)
        close(m->fd);
    free(m->head);
    memset(m, 0, sizeof(*m));
    m->fd = -1;
}
