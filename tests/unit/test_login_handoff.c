/*
 * test_login_handoff.c - the hand-off messages between a login path's
 * front end, launcher and mail workers (src/lib-login/handoff.c; these
 * tests were test_imapd.c's before the code moved to lib-login).
 */
#include "t.h"
#include "lib-login/login.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_msg_roundtrip(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    int pipefd[2];
    CHECK_INT(pipe(pipefd), 0);
    /* fields with a TAB, an LF and an empty one; binary data; a descriptor */
    const char *f[] = {"LOGIN", "7", "a\tb", "line\nbreak", "", "tag.1"};
    static const char data[] = "x1 NOOP\r\n\0binary";
    CHECK_INT(login_msg_send(sv[0], f, 6, data, sizeof(data) - 1, pipefd[1]), 0);
    struct login_msg m;
    CHECK_INT(login_msg_recv(sv[1], &m), 1);
    CHECK_INT(m.nfields, 6);
    CHECK_STR(m.fields[0], "LOGIN");
    CHECK_STR(m.fields[2], "a\tb");
    CHECK_STR(m.fields[3], "line\nbreak");
    CHECK_STR(m.fields[4], "");
    CHECK_STR(m.fields[5], "tag.1");
    CHECK_INT(m.data_len, sizeof(data) - 1);
    CHECK(memcmp(m.data, data, sizeof(data) - 1) == 0);
    CHECK(m.fd >= 0);
    /* the descriptor is the pipe's write end: what goes in comes out */
    CHECK_INT(write(m.fd, "z", 1), 1);
    char c = 0;
    CHECK_INT(read(pipefd[0], &c, 1), 1);
    CHECK_INT(c, 'z');
    login_msg_free(&m);
    CHECK_INT(m.fd, -1);
    /* no descriptor, no data */
    const char *end[] = {"END"};
    CHECK_INT(login_msg_send(sv[0], end, 1, NULL, 0, -1), 0);
    CHECK_INT(login_msg_recv(sv[1], &m), 1);
    CHECK_INT(m.nfields, 1);
    CHECK_INT(m.fd, -1);
    CHECK_INT(m.data_len, 0);
    login_msg_free(&m);
    /* a message without the head's LF is refused; EOF is 0 */
    CHECK_INT(send(sv[0], "no newline", 10, 0), 10);
    CHECK_INT(login_msg_recv(sv[1], &m), -1);
    CHECK_INT(errno, EPROTO);
    close(sv[0]);
    CHECK_INT(login_msg_recv(sv[1], &m), 0);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_msg_too_big(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    size_t n = LOGIN_MSG_MAX + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    const char *f[] = {"SESSION"};
    CHECK_INT(login_msg_send(sv[0], f, 1, big, n, -1), -1);
    CHECK_INT(errno, EMSGSIZE);
    free(big);
    close(sv[0]);
    close(sv[1]);
}

int main(void)
{
    T_RUN(test_msg_roundtrip);
    T_RUN(test_msg_too_big);
    return T_DONE();
}
