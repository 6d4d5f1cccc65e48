/*
 * stopsig.h - how a blocking worker (a delivery agent, proxymap) waits
 * and stops.
 *
 * Owns: the stop signals of processes that serve one connection at a
 * time in blocking mode. worker_stop_signals() installs a handler
 * without SA_RESTART for the given signals (SIGTERM: the master's
 * graceful stop), ignores SIGPIPE, and blocks the stop signals except
 * while the process waits (worker_wait_mask(), for ppoll and
 * lib/conn.h's conn_wait), so a stop is seen either before a wait or as
 * the wait's EINTR, never lost between the check and the wait.
 */
#ifndef YUBIN_STOPSIG_H
#define YUBIN_STOPSIG_H

#include <signal.h>

/* Install once. sigs: the stop signals, ended by 0. */
void worker_stop_signals(const int *sigs);
/* A stop signal arrived. */
int worker_stopping(void);
/* The signal mask to wait with: the stop signals deliverable (before
 * worker_stop_signals(), as in unit tests: the empty set). */
const sigset_t *worker_wait_mask(void);

/*
 * Wait for a connection on the listening socket lfd and accept it
 * (accept4 flags, e.g. SOCK_CLOEXEC). The new fd; -1 with errno 0 when a
 * stop signal arrived; -1 with errno when poll or accept failed (another
 * process taking the connection is not a failure: the wait goes on).
 */
int worker_accept(int lfd, int flags);

#endif
