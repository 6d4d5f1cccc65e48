/*
 * test_imapd.c - the imapd role's pieces that need no network: the
 * hand-off messages between the front end, the launcher and the mail
 * workers (src/imapd/handoff.c), the parser limits and the post-login
 * capability list.
 */
#include "t.h"
#include "imapd/imapd.h"
#include "lib/buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    CHECK_INT(imapd_msg_send(sv[0], f, 6, data, sizeof(data) - 1, pipefd[1]), 0);
    struct imapd_msg m;
    CHECK_INT(imapd_msg_recv(sv[1], &m), 1);
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
    imapd_msg_free(&m);
    CHECK_INT(m.fd, -1);
    /* no descriptor, no data */
    const char *end[] = {"END"};
    CHECK_INT(imapd_msg_send(sv[0], end, 1, NULL, 0, -1), 0);
    CHECK_INT(imapd_msg_recv(sv[1], &m), 1);
    CHECK_INT(m.nfields, 1);
    CHECK_INT(m.fd, -1);
    CHECK_INT(m.data_len, 0);
    imapd_msg_free(&m);
    /* a message without the head's LF is refused; EOF is 0 */
    CHECK_INT(send(sv[0], "no newline", 10, 0), 10);
    CHECK_INT(imapd_msg_recv(sv[1], &m), -1);
    CHECK_INT(errno, EPROTO);
    close(sv[0]);
    CHECK_INT(imapd_msg_recv(sv[1], &m), 0);
    close(sv[1]);
    close(pipefd[0]);
    close(pipefd[1]);
}

static void test_msg_too_big(void)
{
    int sv[2];
    CHECK_INT(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
    size_t n = IMAPD_MSG_MAX + 1;
    char *big = malloc(n);
    memset(big, 'x', n);
    const char *f[] = {"SESSION"};
    CHECK_INT(imapd_msg_send(sv[0], f, 1, big, n, -1), -1);
    CHECK_INT(errno, EMSGSIZE);
    free(big);
    close(sv[0]);
    close(sv[1]);
}

static void test_limits_and_capability(void)
{
    struct imapd_settings set;
    memset(&set, 0, sizeof(set));
    set.line_max = 65536;
    struct imap_parser_limits pre, post;
    imapd_parser_limits(&set, 0, &pre);
    imapd_parser_limits(&set, 1, &post);
    CHECK_INT(pre.line_max, 65536);
    CHECK(pre.literal_max < post.literal_max);   /* LOGIN's literals are small */
    CHECK(pre.args_max < post.args_max);
    struct buf b;
    buf_init(&b, 0);
    set.capability = "";
    imapd_capability_post(&set, &b);
    CHECK_STR(buf_cstr(&b), "IMAP4rev1 LITERAL+ ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED ESEARCH SEARCHRES LIST-STATUS MOVE PREVIEW STATUS=SIZE SPECIAL-USE QUOTA UTF8=ACCEPT");
    buf_reset(&b);
    set.capability = "+XAPPLEPUSHSERVICE";
    imapd_capability_post(&set, &b);
    CHECK_STR(buf_cstr(&b), "IMAP4rev1 LITERAL+ ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED ESEARCH SEARCHRES LIST-STATUS MOVE PREVIEW STATUS=SIZE SPECIAL-USE QUOTA UTF8=ACCEPT XAPPLEPUSHSERVICE");
    buf_reset(&b);
    set.capability = "IMAP4rev1";
    imapd_capability_post(&set, &b);
    CHECK_STR(buf_cstr(&b), "IMAP4rev1");
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_msg_roundtrip);
    T_RUN(test_msg_too_big);
    T_RUN(test_limits_and_capability);
    return T_DONE();
}
