/*
 * serve.h - the process side of a delivery agent, independent of what the
 * agent does: wait for qmgr connections on the service's listening socket,
 * read dproto requests one at a time under a timeout, hand each to a
 * handler, write the status lines back; SIGTERM ends the process between
 * requests, never during one.
 *
 * Every delivery agent uses it: local and virtual (deliver.c, agent.c)
 * and smtp.
 */
#ifndef YUBIN_DELIVER_SERVE_H
#define YUBIN_DELIVER_SERVE_H

#include <signal.h>

#include "lib-queue/dproto.h"

/* Deliver one complete request; st[i] (zeroed) receives the status of req->rcpts[i]. */
typedef void (*serve_fn)(void *ctx, const struct dreq *req, struct dstatus *st);

/* Call lib-master/stopsig.h worker_stop_signals() with SIGTERM first. */

/*
 * Serve one qmgr connection until EOF, a protocol error, a timeout, or
 * stop (checked between requests). request_timeout: seconds allowed to
 * read one whole request once it has begun. 0 on EOF/stop, -1 otherwise.
 */
int deliver_serve_connection(int fd, int request_timeout, serve_fn fn, void *ctx);

/*
 * Accept connections on lfd (shared with the other processes of the
 * service) and serve them one after another until SIGTERM. name is used
 * in log messages.
 */
void deliver_serve_loop(const char *name, int lfd, int request_timeout, serve_fn fn, void *ctx);

#endif
