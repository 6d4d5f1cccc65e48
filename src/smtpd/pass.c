/*
 * pass.c - smtpd as a master.cf "pass" service (`smtpd pass - - n - -
 * smtpd`): postscreen connects to our UNIX socket and hands over an
 * accepted client connection with the client's addresses
 * (lib-master/passfd.h). The client is then served exactly as one
 * accepted from a TCP socket, greeting included: postscreen never sends
 * the final 220 line of a client it passes.
 */
#include "smtpd/smtpd.h"
#include "lib-master/passfd.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PASS_WAIT_MS 10000   /* postscreen sends right after connecting */

struct pass_wait {
    struct smtpd_server *srv;
    int fd;
    struct ev_timer *timer;
};

int smtpd_pass_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *sl)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        *sl = sizeof(*in);
        return 0;
    }
    if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        *sl = sizeof(*in6);
        return 0;
    }
    return -1;
}

/* 1: handed over or failed for good (pw done), 0: nothing yet. */
static int pass_try(struct pass_wait *pw)
{
    int client = -1;
    struct passfd_info info;
    int r = passfd_recv(pw->fd, &client, &info);
    if (r == 0)
        return 0;
    if (r < 0) {
        msg_warn("bad connection hand-off on service %s: %s", pw->srv->service,
                 errno == EPROTO ? "malformed message" : strerror(errno));
        return 1;
    }
    if (pw->srv->stopping) {
        close(client);
        return 1;
    }
    if (smtpd_limits_accept_ok(pw->srv, client))
        smtpd_session_start(pw->srv, client, info.client_addr, info.client_port, 0);
    return 1;
}

static void pass_done(struct pass_wait *pw)
{
    if (pw->timer)
        ev_timer_cancel(pw->srv->loop, pw->timer);
    ev_fd_del(pw->srv->loop, pw->fd);
    close(pw->fd);
    free(pw);
}

static void pass_ready(int fd, int events, void *arg)
{
    (void)fd;
    (void)events;
    struct pass_wait *pw = arg;
    if (pass_try(pw))
        pass_done(pw);
}

static void pass_timeout(void *arg)
{
    struct pass_wait *pw = arg;
    pw->timer = NULL;
    msg_warn("connection hand-off on service %s: nothing received in %d s", pw->srv->service,
             PASS_WAIT_MS / 1000);
    pass_done(pw);
}

void smtpd_pass_accept(struct smtpd_server *srv, int fd)
{
    struct pass_wait *pw = xcalloc(1, sizeof(*pw));
    pw->srv = srv;
    pw->fd = fd;
    if (pass_try(pw)) {
        close(fd);
        free(pw);
        return;
    }
    if (ev_fd_add(srv->loop, fd, EV_READ, pass_ready, pw) < 0) {
        msg_warn("cannot watch a hand-off connection: %s", strerror(errno));
        close(fd);
        free(pw);
        return;
    }
    pw->timer = ev_timer_add(srv->loop, PASS_WAIT_MS, pass_timeout, pw);
}
