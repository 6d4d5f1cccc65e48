/*
 * test_imapd.c - the imapd role's pieces that need no network: the
 * parser limits and the post-login capability list (the hand-off
 * messages moved to lib-login with their tests: test_login_handoff.c).
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
    T_RUN(test_limits_and_capability);
    return T_DONE();
}
