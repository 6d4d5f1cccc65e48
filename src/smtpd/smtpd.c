/*
 * smtpd.c - the SMTP server process (and pickup, its local twin).
 *
 * Owns: reading smtpd parameters once, accepting connections on the
 * sockets the master passed us, graceful stop on SIGTERM (stop accepting,
 * let sessions finish), and the group commit: sessions that completed a
 * message in this event-loop iteration wait in one list; an idle hook
 * makes all of them durable with one queue_writer_commit() (one
 * fdatasync) and then answers each "250 Ok: queued as".
 */
#include "smtpd/smtpd_role.h"
#include "smtpd/smtpd.h"
#include "smtpd/policy.h"
#include "lib-conf/config.h"
#include "lib-dns/dns.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib-table/table.h"
#include "lib-queue/queue.h"
#include "lib-route/resolve.h"
#include "lib-auth/sasl_client.h"
#include "lib/util.h"
#include "lib-master/worker.h"
#include "lib-queue/maildrop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- group commit ------------------------------------------------------ */

void smtpd_commit_enqueue(struct session *s)
{
    struct smtpd_server *srv = s->srv;
    s->commit_next = NULL;
    *srv->commit_tail = s;
    srv->commit_tail = &s->commit_next;
}

void smtpd_commit_forget(struct session *s)
{
    struct smtpd_server *srv = s->srv;
    struct session **pp = &srv->commit_head;
    while (*pp && *pp != s)
        pp = &(*pp)->commit_next;
    if (!*pp)
        return;
    *pp = s->commit_next;
    if (srv->commit_tail == &s->commit_next)
        srv->commit_tail = pp;
    s->commit_next = NULL;
}

static void commit_hook(void *arg)
{
    struct smtpd_server *srv = arg;
    /* Answering a session may process its pipelined next message, which
     * enqueues again: loop until nobody waits, so no one is left behind
     * until some unrelated event wakes the loop. */
    while (srv->commit_head) {
        struct session *list = srv->commit_head;
        srv->commit_head = NULL;
        srv->commit_tail = &srv->commit_head;
        int ok = queue_writer_commit(srv->qw) == 0;
        if (!ok)
            msg_warn("queue file write error: %s", strerror(errno));
        while (list) {
            struct session *s = list;
            list = s->commit_next;
            s->commit_next = NULL;
            smtpd_session_committed(s, ok);
        }
    }
}

/* ---- accepting ------------------------------------------------------------ */

static void sockaddr_text(const struct sockaddr_storage *ss, char *addr, size_t alen, char *port,
                          size_t plen)
{
    str_copy(addr, "unknown", alen);
    str_copy(port, "0", plen);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)alen);
        str_fmt(port, plen, "%u", ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], addr, (socklen_t)alen);
        else
            inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)alen);
        str_fmt(port, plen, "%u", ntohs(in6->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        str_copy(addr, "127.0.0.1", alen);
    }
}

static void resume_accept(void *arg);

struct listener {
    struct smtpd_server *srv;
    int fd;
    int paused;
};

static void on_accept(int fd, int events, void *arg)
{
    (void)events;
    struct listener *l = arg;
    struct smtpd_server *srv = l->srv;
    for (int i = 0; i < 64 && !srv->stopping; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: stop accepting for a moment instead of spinning. */
                msg_warn("accept: %s; pausing new connections", strerror(errno));
                ev_fd_del(srv->loop, fd);
                l->paused = 1;
                ev_timer_add(srv->loop, 200, resume_accept, l);
            }
            return;
        }
        if (srv->pass) {
            smtpd_pass_accept(srv, c);
            continue;
        }
        if (!smtpd_limits_accept_ok(srv, c))
            continue;
        char addr[64], port[8];
        sockaddr_text(&ss, addr, sizeof(addr), port, sizeof(port));
        uid_t uid = 0;
        if (ss.ss_family == AF_UNIX) {
            /* pickup trusts the uid for the sender; without it, no session
             * (never "root" by default). */
            if (fd_peer_cred(c, &uid, NULL, NULL) < 0) {
                msg_warn("cannot get the credentials of a local client: %s", strerror(errno));
                close(c);
                continue;
            }
        }
        smtpd_session_start(srv, c, addr, port, uid);
    }
}

static void resume_accept(void *arg)
{
    struct listener *l = arg;
    if (!l->paused || l->srv->stopping)
        return;
    l->paused = 0;
    ev_fd_add(l->srv->loop, l->fd, EV_READ, on_accept, l);
}

/* ---- stopping ---------------------------------------------------------------- */

static struct listener *listeners;
static size_t nlisteners;

static void hard_stop(void *arg)
{
    struct smtpd_server *srv = arg;
    msg_info("stopping with %zu sessions still open", srv->nsessions);
    ev_loop_stop(srv->loop);
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct smtpd_server *srv = arg;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    for (size_t i = 0; i < nlisteners; i++) {
        if (!listeners[i].paused)
            ev_fd_del(srv->loop, listeners[i].fd);
        close(listeners[i].fd);
    }
    if (srv->nsessions == 0)
        ev_loop_stop(srv->loop);
    else
        ev_timer_add(srv->loop, (uint64_t)srv->timeout_ms, hard_stop, srv);
}

/* ---- pickup: the maildrop ----------------------------------------------------- */

/*
 * Messages `yubin sendmail` left in maildrop/ while the system was down:
 * a child process (blocking file and socket I/O stays out of the event
 * loop) hands each one to this very pickup over its socket, as its owner,
 * shortly after start and then every MAILDROP_SCAN_MS.
 */
#define MAILDROP_SCAN_MS 30000
static pid_t maildrop_child;

static void maildrop_tick(void *arg)
{
    struct smtpd_server *srv = arg;
    if (srv->stopping)
        return;
    if (!maildrop_child && maildrop_pending(srv->queue_dir)) {
        char *sock = xasprintf("%s/public/pickup", srv->queue_dir);
        pid_t pid = fork();
        if (pid == 0) {
            /* The child must not keep pickup's socket alive after pickup is gone. */
            for (size_t i = 0; i < nlisteners; i++)
                close(listeners[i].fd);
            int n = maildrop_run(srv->queue_dir, sock, srv->message_size_limit);
            _exit(n < 0 ? 1 : 0);
        }
        if (pid < 0)
            msg_warn("cannot fork for the maildrop: %s", strerror(errno));
        else
            maildrop_child = pid;
        free(sock);
    }
    ev_timer_add(srv->loop, MAILDROP_SCAN_MS, maildrop_tick, srv);
}

static void on_sigchld(int signo, void *arg)
{
    (void)signo;
    (void)arg;
    pid_t pid;
    while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
        if (pid == maildrop_child)
            maildrop_child = 0;
}

/* ---- start --------------------------------------------------------------------- */

static void read_params(struct smtpd_server *srv, struct config *cfg)
{
    srv->myhostname = xstrdup(cfg_get(cfg, P_myhostname));
    srv->mail_name = xstrdup(cfg_get(cfg, P_mail_name));
    srv->banner = xstrdup(cfg_get(cfg, P_smtpd_banner));
    srv->message_size_limit = cfg_get_size(cfg, P_message_size_limit);
    srv->recipient_limit = cfg_get_int(cfg, P_smtpd_recipient_limit);
    srv->soft_error_limit = cfg_get_int(cfg, P_smtpd_soft_error_limit);
    srv->hard_error_limit = cfg_get_int(cfg, P_smtpd_hard_error_limit);
    srv->junk_command_limit = cfg_get_int(cfg, P_smtpd_junk_command_limit);
    srv->error_sleep_ms = cfg_get_time_ms(cfg, P_smtpd_error_sleep_time);
    srv->timeout_ms = cfg_get_time_ms(cfg, P_smtpd_timeout);
    srv->per_request_deadline = cfg_get_bool(cfg, P_smtpd_per_request_deadline);
    srv->min_data_rate = cfg_get_int(cfg, P_smtpd_min_data_rate);
    srv->hopcount_limit = cfg_get_int(cfg, P_hopcount_limit);
    srv->header_size_limit = cfg_get_size(cfg, P_header_size_limit);
    srv->queue_minfree = cfg_get_size(cfg, P_queue_minfree);
    srv->helo_required = cfg_get_bool(cfg, P_smtpd_helo_required);
    srv->disable_vrfy = cfg_get_bool(cfg, P_disable_vrfy_command);
    srv->smtputf8_enable = cfg_get_bool(cfg, P_smtputf8_enable);
    srv->strict_rfc821 = cfg_get_bool(cfg, P_strict_rfc821_envelopes);
    srv->delay_reject = cfg_get_bool(cfg, P_smtpd_delay_reject);
    srv->peername_lookup = cfg_get_bool(cfg, P_smtpd_peername_lookup);
    srv->bare_nl = smtpd_bare_nl_policy_parse(cfg_get(cfg, P_smtpd_forbid_bare_newline));
    srv->discard_ehlo = cfg_get_list(cfg, P_smtpd_discard_ehlo_keywords);
    srv->content_filter = xstrdup(cfg_get(cfg, P_content_filter));
    srv->overrides = smtpd_receive_overrides(cfg);
    if (srv->timeout_ms <= 0)
        srv->timeout_ms = 300000;
    if (srv->hard_error_limit <= 0)
        srv->hard_error_limit = 20;
    if (srv->recipient_limit <= 0)
        srv->recipient_limit = 1000;
    if (srv->min_data_rate < 1) {
        msg_warn("smtpd_min_data_rate: %lld is below the minimum 1; using 1", srv->min_data_rate);
        srv->min_data_rate = 1;
    }
}

static int smtpd_run(struct worker *w, int local)
{
    struct smtpd_server srv;
    memset(&srv, 0, sizeof(srv));
    srv.w = w;
    srv.cfg = w->cfg;
    srv.local = local;
    srv.pass = w->svc && w->svc->type == SVC_PASS;
    srv.commit_tail = &srv.commit_head;
    srv.service = xstrdup(w->svc ? w->svc->name : (local ? "pickup" : "smtp"));
    srv.queue_dir = xstrdup(w->queue_dir);
    read_params(&srv, w->cfg);
    if (!(srv.overrides & SMTPD_RO_NO_HEADER_BODY))
        smtpd_hchecks_open(&srv);
    smtpd_bcc_open(&srv);
    smtpd_xforward_open(&srv);
    smtpd_milter_setup(&srv);
    signal(SIGPIPE, SIG_IGN);
    if (!local) {
        char err[512] = "";
        if (tls_smtpd_policy(w->cfg, &srv.tlsp, err, sizeof(err)) < 0)
            msg_fatal("%s", err);
        srv.tls = w->tls;
        srv.tls_error = w->tls_error;
        if (!srv.tls && (srv.tlsp.level >= TLS_LEV_ENCRYPT || srv.tlsp.wrappermode))
            msg_warn("TLS is required on this service but unavailable: %s",
                     w->tls_error ? w->tls_error : "no certificate configured");
        else if (w->tls_error)
            msg_warn("TLS is not available: %s", w->tls_error);
    }

    srv.loop = ev_loop_new();
    char *notify = cfg_unix_socket_path(w->cfg, "qmgr");
    srv.qw = queue_writer_open(w->queue_dir, notify);
    free(notify);
    if (!srv.qw)
        msg_fatal("cannot open the queue journal in %s: %s", w->queue_dir, strerror(errno));
    if (local) {
        char err[512] = "";
        srv.submit_users = domain_list_new(cfg_get(w->cfg, P_authorized_submit_users), w->cfg, 0,
                                           err, sizeof(err));
        if (!srv.submit_users)
            msg_warn("authorized_submit_users: %s; only root and %s may submit mail", err,
                     cfg_get(w->cfg, P_mail_owner));
    } else {
        char err[512] = "";
        srv.dns = dns_new(srv.loop);
        table_async_init(srv.loop, w->cfg);   /* remote tables never stall the sessions */
        srv.resolver = resolver_new(w->cfg);
        srv.restr = smtpd_restrictions_new(w->cfg, srv.dns, srv.resolver, err, sizeof(err));
        if (!srv.restr)
            msg_fatal("%s", err);
        srv.policy = smtpd_policy_new(srv.loop, w->cfg, w->queue_dir);
        smtpd_restrict_set_policy(srv.restr, srv.policy);
    }
    smtpd_auth_setup(&srv);
    smtpd_limits_setup(&srv);
    ev_hook_add(srv.loop, commit_hook, &srv);
    ev_signal_add(srv.loop, SIGTERM, on_sigterm, &srv);
    if (local) {
        ev_signal_add(srv.loop, SIGCHLD, on_sigchld, &srv);
        ev_timer_add(srv.loop, 500, maildrop_tick, &srv);
    }

    listeners = xcalloc(w->nlisten ? w->nlisten : 1, sizeof(*listeners));
    nlisteners = w->nlisten;
    for (size_t i = 0; i < w->nlisten; i++) {
        listeners[i] = (struct listener){.srv = &srv, .fd = w->listen_fds[i]};
        fd_set_nonblock(w->listen_fds[i], 1);
        if (ev_fd_add(srv.loop, w->listen_fds[i], EV_READ, on_accept, &listeners[i]) < 0)
            msg_fatal("cannot watch listening socket: %s", strerror(errno));
    }
    int rc = ev_loop_run(srv.loop);

    while (srv.sessions)
        smtpd_session_destroy(srv.sessions, NULL);
    commit_hook(&srv);
    queue_writer_close(srv.qw);
    smtpd_restrictions_free(srv.restr);
    smtpd_hchecks_close(&srv);
    smtpd_bcc_close(&srv);
    smtpd_xforward_close(&srv);
    smtpd_milter_free(&srv);
    smtpd_policy_free(srv.policy);
    smtpd_limits_free(&srv);
    if (srv.submit_users)
        match_list_free(srv.submit_users);
    saslc_free(srv.sasl);
    free(srv.sasl_opts);
    free(srv.sasl_tls_opts);
    resolver_free(srv.resolver);
    dns_free(srv.dns);
    ev_loop_free(srv.loop);
    free(listeners);
    strv_free(srv.discard_ehlo);
    free(srv.content_filter);
    free(srv.myhostname);
    free(srv.mail_name);
    free(srv.banner);
    free(srv.service);
    free(srv.queue_dir);
    return rc == 0 ? 0 : 1;
}

int smtpd_main(struct worker *w)
{
    return smtpd_run(w, 0);
}

int pickup_main(struct worker *w)
{
    return smtpd_run(w, 1);
}
