/*
 * proxymap_io.c - the socket side of one proxymap process: waiting for a
 * connection (SIGTERM ends the wait), reading the one request line under
 * a deadline, writing the reply. Kept apart from proxymap.c so that it
 * moves onto the connection layer in one piece.
 */
#include "proxymap/proxymap.h"
#include "lib-table/tableproto.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"


#define PMAP_IO_TIMEOUT_MS 10000    /* a client sends its request at once */

/*
 * One request on fd, in blocking mode (lib/conn.h): the line, under a
 * deadline, then the reply. fd is closed.
 */
void proxymap_serve(int fd, struct pmap_tables *pt)
{
    struct conn *c = conn_new(fd, TPROTO_REQUEST_MAX + 2, TPROTO_REPLY_MAX + 2);
    conn_set_lines(c, TPROTO_REQUEST_MAX, 0);
    conn_deadline_in(c, PMAP_IO_TIMEOUT_MS);
    char *line;
    size_t len;
    enum conn_line_result r = conn_line_wait(c, &line, &len);
    if (r == CONN_LINE) {
        struct buf out;
        buf_init(&out, TPROTO_REPLY_MAX + 1);
        proxymap_answer(pt, line, len, &out);
        conn_deadline_in(c, PMAP_IO_TIMEOUT_MS);
        (void)conn_write_wait(c, out.data, out.len);   /* a client gone: nothing to tell */
        buf_free(&out);
    } else if (r == CONN_LONG) {
        msg_warn("proxymap request too long");
    } else if (r == CONN_TIMEOUT) {
        msg_warn("proxymap request timed out");
    } else if (r == CONN_ERROR) {
        msg_warn("proxymap request cut off");
    }
    conn_free(c);
}
