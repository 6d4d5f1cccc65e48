/*
 * passfd.h - handing an accepted client connection to another process
 * (master.cf service type "pass", Postfix's postscreen -> smtpd).
 *
 * Owns the one message of that hand-off, sent over a UNIX stream socket
 * that the receiving service listens on ($queue_directory/private/NAME):
 * the client's descriptor (SCM_RIGHTS) with one text line
 *     "CLIENT_ADDR CLIENT_PORT SERVER_ADDR SERVER_PORT\n"
 * so the receiver knows the client as the sender saw it (after an upstream
 * PROXY header, the proxy's client, not the proxy). Nothing is answered:
 * the sender closes its end after the message.
 */
#ifndef YUBIN_PASSFD_H
#define YUBIN_PASSFD_H

#include <stddef.h>

#define PASSFD_LINE_MAX 256     /* the attribute line, with its LF */
#define PASSFD_ADDR_MAX 64
#define PASSFD_PORT_MAX 8

struct passfd_info {
    char client_addr[PASSFD_ADDR_MAX], client_port[PASSFD_PORT_MAX];
    char server_addr[PASSFD_ADDR_MAX], server_port[PASSFD_PORT_MAX];
};

/* Send fd and the attributes over sock: 0, or -1 with errno (EAGAIN: try later). */
int passfd_send(int sock, int fd, const struct passfd_info *info);
/*
 * Receive one hand-off from sock: 1 with *fd (non-blocking, close-on-exec)
 * and *info, 0 when nothing has arrived yet, -1 on error or a malformed
 * message (any descriptor received is closed).
 */
int passfd_recv(int sock, int *fd, struct passfd_info *info);
/* Parse the attribute line (without or with its LF): 0 or -1. */
int passfd_parse(const char *line, struct passfd_info *info);

#endif
