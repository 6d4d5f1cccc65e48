/*
 * limits.c - how many sessions one client, and one process, may hold, and
 * how fast a client may connect, send, add recipients, start TLS and AUTH.
 *
 * Owns:
 *  - smtpd_client_connection_count_limit (Postfix: enforced by anvil):
 *    sessions per client address, counted across every process of this
 *    smtpd service in the region the master shares with them
 *    (src/lib/conncount.h). A client that matches
 *    smtpd_client_event_limit_exceptions ($mynetworks) is not counted.
 *    The check runs after the reverse lookup, before the greeting, as in
 *    Postfix: the session counts itself, so the 51st of a limit of 50 gets
 *    "421 4.7.0 <myhostname> Error: too many connections from <addr>".
 *    pickup (local submission) is never counted. A process's table holds
 *    CONNCOUNT_ENTRIES addresses; should a window of it be full (thousands
 *    of distinct clients in one process), the client is refused like one
 *    over the session cap below rather than let in uncounted.
 *  - the rate limits (Postfix: anvil): smtpd_client_connection_rate_limit
 *    (checked at connect, with the count: "421 4.7.0 <myhostname> Error:
 *    too many connections from <addr>"), smtpd_client_message_rate_limit
 *    (at MAIL: "450 4.7.1 Error: too much mail from <addr>"),
 *    smtpd_client_recipient_rate_limit (at RCPT: "450 4.7.1 Error: too
 *    many recipients from <addr>"), smtpd_client_auth_rate_limit (at
 *    AUTH: "450 4.7.1 Error: too many AUTH commands from <addr>") and
 *    smtpd_client_new_tls_session_rate_limit (after a handshake that made
 *    a new session, resumed ones are free: "421 4.7.0 <myhostname> Error:
 *    too many new TLS sessions from <addr>", then the session ends). Each
 *    counts events per anvil_rate_time_unit across the service's processes
 *    (conncount.h), logs "<what> rate limit exceeded: N from host[addr]
 *    for service S", and spares smtpd_client_event_limit_exceptions. IPv6
 *    clients are counted by their smtpd_client_ipv6_prefix_length prefix.
 *  - the session cap of this process: every session costs up to two
 *    descriptors (its socket and, for a large message, a spill file), and
 *    max(SMTPD_FD_RESERVE, 10%) of RLIMIT_NOFILE is kept for everything
 *    else (queue segments, the qmgr and auth sockets, DNS, tables, logs).
 *    A connection beyond the cap is accepted, answered "421 4.3.2 All
 *    server ports are busy" (postscreen's words) and closed, so a flood
 *    never drives the process into EMFILE and the listen queue keeps
 *    moving. Other smtpd processes of the service take what they can.
 */
#include "smtpd/smtpd.h"
#include "lib-conf/config.h"
#include "lib-master/conncount.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib/util.h"
#include "lib-master/worker.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUSY_WARN_INTERVAL_MS 60000
#define BUSY_REPLY "421 4.3.2 All server ports are busy"

/* Sessions this process may hold with its descriptor limit. */
static size_t session_cap(void)
{
    struct rlimit rl;
    unsigned long long n = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        n = rl.rlim_cur == RLIM_INFINITY ? 1ull << 20 : (unsigned long long)rl.rlim_cur;
    unsigned long long reserve = n / 10 > SMTPD_FD_RESERVE ? n / 10 : SMTPD_FD_RESERVE;
    if (n <= reserve + 2)
        return 1;
    return (size_t)((n - reserve) / 2);
}

/* The shared region from the master, or a table of our own. */
static struct conncount *count_table(struct worker *w)
{
    if (w->count_fd < 0)
        return conncount_private();
    char err[256];
    struct conncount *c = conncount_attach(w->count_fd, (unsigned)w->count_slot, err, sizeof(err));
    close(w->count_fd);
    w->count_fd = -1;
    if (c)
        return c;
    msg_warn("%s; smtpd_client_connection_count_limit is counted in this process only", err);
    return conncount_private();
}

void smtpd_limits_setup(struct smtpd_server *srv)
{
    srv->max_sessions = session_cap();
    if (srv->local)
        return;
    /* 0..: the parameters' ranges, enforced when the configuration is read. */
    srv->conn_count_limit = cfg_get_int(srv->cfg, P_smtpd_client_connection_count_limit);
    srv->rate_limit[CONNCOUNT_CONN] = cfg_get_int(srv->cfg, P_smtpd_client_connection_rate_limit);
    srv->rate_limit[CONNCOUNT_MAIL] = cfg_get_int(srv->cfg, P_smtpd_client_message_rate_limit);
    srv->rate_limit[CONNCOUNT_RCPT] = cfg_get_int(srv->cfg, P_smtpd_client_recipient_rate_limit);
    srv->rate_limit[CONNCOUNT_NEWTLS] =
        cfg_get_int(srv->cfg, P_smtpd_client_new_tls_session_rate_limit);
    srv->rate_limit[CONNCOUNT_AUTH] = cfg_get_int(srv->cfg, P_smtpd_client_auth_rate_limit);
    srv->rate_unit_s = (unsigned)cfg_get_time(srv->cfg, P_anvil_rate_time_unit);
    int any = srv->conn_count_limit > 0;
    for (int i = 0; i < CONNCOUNT_EVENTS; i++)
        any |= srv->rate_limit[i] > 0;
    if (!any)
        return;
    char err[512] = "";
    const char *param = "smtpd_client_event_limit_exceptions";
    srv->limit_exceptions = host_list_new(cfg_get(srv->cfg, P_smtpd_client_event_limit_exceptions),
                                          srv->cfg,
                                          match_parent_style(srv->cfg, param) ? MATCH_F_PARENT : 0,
                                          err, sizeof(err));
    if (!srv->limit_exceptions)
        msg_warn("%s: %s; no client is excepted from the limits", param, err);
    srv->conns = count_table(srv->w);
    conncount_set_ipv6_prefix(srv->conns,
                              (unsigned)cfg_get_int(srv->cfg, P_smtpd_client_ipv6_prefix_length));
}

void smtpd_limits_free(struct smtpd_server *srv)
{
    conncount_free(srv->conns);
    srv->conns = NULL;
    if (srv->limit_exceptions)
        match_list_free(srv->limit_exceptions);
    srv->limit_exceptions = NULL;
}

/* At most one warning a minute: a flood must not flood the log too. */
static void warn_busy(struct smtpd_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warn_busy(struct smtpd_server *srv, const char *fmt, ...)
{
    uint64_t now = ev_now(srv->loop);
    if (srv->busy_warned_ms && now - srv->busy_warned_ms < BUSY_WARN_INTERVAL_MS)
        return;
    srv->busy_warned_ms = now;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    msg_warn("%s", line);
}

int smtpd_limits_accept_ok(struct smtpd_server *srv, int fd)
{
    if (srv->nsessions < srv->max_sessions)
        return 1;
    warn_busy(srv, "service \"%s\" has reached its session limit %zu (the open file limit "
              "leaves room for no more): new clients get \"" BUSY_REPLY "\"",
              srv->service, srv->max_sessions);
    /* Non-blocking socket, one short line: it fits, or the client gets nothing. */
    (void)!send(fd, BUSY_REPLY "\r\n", sizeof(BUSY_REPLY "\r\n") - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    return 0;
}

static void refuse(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(struct session *s, const char *fmt, ...)
{
    char line[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->state = SS_COMMAND;
    smtpd_session_reply(s, "%s", line);
    smtpd_session_close_after_reply(s);
    smtpd_session_resume(s);
}

int smtpd_limits_session_begin(struct session *s)
{
    struct smtpd_server *srv = s->srv;
    if (!srv->conns || net_addr_parse(s->addr, &s->caddr, 1) < 0)
        return 0;
    /* Postfix: a table that fails leaves the client counted (and logs why). */
    if (host_list_match(srv->limit_exceptions, s->name, s->addr) == 1)
        return 0;
    s->limited = 1;
    if (srv->conn_count_limit > 0) {
        if (conncount_add(srv->conns, &s->caddr) < 0) {
            warn_busy(srv, "service \"%s\": the connection count table of this process is full; "
                      "new clients get \"" BUSY_REPLY "\"", srv->service);
            refuse(s, BUSY_REPLY);
            return -1;
        }
        s->counted = 1;
        unsigned n = conncount_total(srv->conns, &s->caddr);
        if (n > srv->conn_count_limit) {
            msg_warn("Connection concurrency limit exceeded: %u from %s for service %s", n,
                     s->namaddr, srv->service);
            refuse(s, "421 4.7.0 %s Error: too many connections from %s", srv->myhostname,
                   s->addr);
            return -1;
        }
    }
    return smtpd_limits_event(s, CONNCOUNT_CONN);
}

/* The rates anvil limits: what the log and the reply call them. */
static const struct {
    const char *log;             /* "<log> rate limit exceeded: N from host[addr] ..." */
    const char *reply;           /* reply format: %s the client address */
} rate_texts[CONNCOUNT_EVENTS] = {
    [CONNCOUNT_CONN] = {"Connection", NULL},
    [CONNCOUNT_MAIL] = {"Message delivery request", "450 4.7.1 Error: too much mail from %s"},
    [CONNCOUNT_RCPT] = {"Recipient address", "450 4.7.1 Error: too many recipients from %s"},
    [CONNCOUNT_NEWTLS] = {"New TLS session", NULL},
    [CONNCOUNT_AUTH] = {"AUTH command", "450 4.7.1 Error: too many AUTH commands from %s"},
};

int smtpd_limits_event(struct session *s, enum conncount_event ev)
{
    struct smtpd_server *srv = s->srv;
    INVARIANT((unsigned)ev < CONNCOUNT_EVENTS);
    if (!s->limited || srv->rate_limit[ev] <= 0)
        return 0;
    unsigned n = conncount_event(srv->conns, &s->caddr, ev, srv->rate_unit_s);
    if (n <= srv->rate_limit[ev])
        return 0;
    msg_warn("%s rate limit exceeded: %u from %s for service %s", rate_texts[ev].log, n,
             s->namaddr, srv->service);
    if (ev == CONNCOUNT_CONN) {
        refuse(s, "421 4.7.0 %s Error: too many connections from %s", srv->myhostname, s->addr);
    } else if (ev == CONNCOUNT_NEWTLS) {
        smtpd_session_reply(s, "421 4.7.0 %s Error: too many new TLS sessions from %s",
                            srv->myhostname, s->addr);
        smtpd_session_close_after_reply(s);
    } else {
        smtpd_session_error(s, rate_texts[ev].reply, s->addr);
    }
    return -1;
}

void smtpd_limits_session_end(struct session *s)
{
    if (!s->counted)
        return;
    conncount_remove(s->srv->conns, &s->caddr);
    s->counted = 0;
}
