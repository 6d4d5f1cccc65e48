/*
 * conncount.h - concurrent sessions and event rates per client address,
 * counted across the processes of one smtpd service: what Postfix's anvil
 * server counts (smtpd_client_connection_count_limit and the
 * smtpd_client_*_rate_limit parameters), without a server.
 *
 * Owns the layout of a shared memory region (a memfd) that the master
 * makes per smtpd service and passes to every smtpd worker it starts:
 *
 *   header (one page): magic, version, slot count, entries per slot, hash seed
 *   slot 0 .. nslots-1: one per worker process, page aligned, each a bounded
 *       open-addressing table of { client address, sessions, rate window
 *       end, events in the window per kind } entries
 *
 * Rules that keep it correct without locks:
 *   - a slot is written only by the worker that owns it; other workers
 *     only read it; the master clears a slot (no owner at that moment)
 *     before it starts a worker on it and after that worker exited, so
 *     the sessions of a crashed worker stop counting;
 *   - an entry is live while its count is > 0 or its rate window is open,
 *     else free; an address lives in at most one live entry per slot, within CONNCOUNT_WINDOW entries of
 *     its home (a keyed hash), so a lookup reads a fixed, small window and
 *     never follows chains that a concurrent writer could break;
 *   - rates: each process counts a client's events in its own window of
 *     anvil_rate_time_unit, opened by the first event after the last one
 *     closed (anvil's rule); a client's rate is the sum over the slots of
 *     the windows still open. So a client that spreads its connections
 *     over the processes is counted as one;
 *   - counts and keys are C11 atomics; the owner publishes a reused entry's
 *     key before its count (release), readers load the count first
 *     (acquire). A reader racing with the reuse of an entry may miscount
 *     by that one entry for that instant; a limit of N sessions is then
 *     enforced as N +/- 1 at worst, never unbounded.
 *
 * A worker without a region (the master could not make one, or had no
 * free slot) uses conncount_private(): the same table, counted within the
 * process only.
 */
#ifndef YUBIN_CONNCOUNT_H
#define YUBIN_CONNCOUNT_H

#include <stddef.h>

#include "lib-table/matchlist.h"

#define CONNCOUNT_ENTRIES 8192   /* per slot; a power of two */
#define CONNCOUNT_WINDOW  32     /* entries an address may occupy from its home */

struct conncount;

/* ---- the master ---- */

/* A new region with nslots slots: a memfd (close-on-exec), or -1 with err. */
int conncount_region_new(unsigned nslots, char *err, size_t errlen);
/* Zero one slot of a region (its owner is gone or not started yet). 0 or -1 (errno). */
int conncount_slot_clear(int fd, unsigned slot);

/* ---- a worker ---- */

/* Map the region fd (inherited from the master) and own slot. NULL with err. */
struct conncount *conncount_attach(int fd, unsigned slot, char *err, size_t errlen);
/* A table for this process alone. */
struct conncount *conncount_private(void);
/* Count IPv6 clients by their first bits (smtpd_client_ipv6_prefix_length); 128 by default. */
void conncount_set_ipv6_prefix(struct conncount *c, unsigned bits);
void conncount_free(struct conncount *c);

/* One more session from a: 0, or -1 when this process's table has no room. */
int conncount_add(struct conncount *c, const struct net_addr *a);
/* One session from a ended (it was added). */
void conncount_remove(struct conncount *c, const struct net_addr *a);
/* Sessions from a in every slot of the region, this process's included. */
unsigned conncount_total(const struct conncount *c, const struct net_addr *a);

/* The events whose rates are counted (anvil's). */
enum conncount_event {
    CONNCOUNT_CONN,            /* smtpd_client_connection_rate_limit */
    CONNCOUNT_MAIL,            /* smtpd_client_message_rate_limit */
    CONNCOUNT_RCPT,            /* smtpd_client_recipient_rate_limit */
    CONNCOUNT_NEWTLS,          /* smtpd_client_new_tls_session_rate_limit */
    CONNCOUNT_AUTH,            /* smtpd_client_auth_rate_limit */
    CONNCOUNT_EVENTS
};

/*
 * Count one event of kind ev from a (in a window of unit_s seconds) and
 * return a's rate across every slot, this event included; 0 when this
 * process's table has no room for a (not counted).
 */
unsigned conncount_event(struct conncount *c, const struct net_addr *a, enum conncount_event ev,
                         unsigned unit_s);
/* a's rate of ev across every slot, without counting anything. */
unsigned conncount_rate(const struct conncount *c, const struct net_addr *a,
                        enum conncount_event ev);

#endif
