/*
 * postscreen.c - the postscreen role (Postfix's postscreen(8)): owns the
 * listening smtp socket (`smtp inet n - n - 1 postscreen`), each client's
 * screening session from accept to its end, the before-220 tests
 * (postscreen_access_list, PREGREET with the 220- teaser, the DNSBL score),
 * the decision (PASS NEW, PASS OLD, enforce, drop) and the hand-off of a
 * client that may talk to the real smtpd: its descriptor goes to the
 * `smtpd pass` service named by smtpd_service_name (lib-master/passfd.h),
 * which greets it. One process, one event loop for every client; DNS
 * through lib-dns (no dnsblog); no TLS in postscreen (no tlsproxy): the
 * dummy engine does not offer STARTTLS, smtpd does after the hand-off.
 */
#include "postscreen/postscreen_role.h"
#include "postscreen/psc.h"
#include "lib-conf/config.h"
#include "lib-dns/dns.h"
#include "lib-master/passfd.h"
#include "lib-master/worker.h"
#include "lib-table/matchlist.h"
#include "lib-table/table.h"
#include "lib/buf.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define PSC_T_BIT(t) (1u << (t))
#define PSC_EARLY_BITS (PSC_T_BIT(PSC_T_PREGR) | PSC_T_BIT(PSC_T_DNSBL))
#define PSC_DEEP_BITS (PSC_T_BIT(PSC_T_PIPEL) | PSC_T_BIT(PSC_T_NSMTP) | PSC_T_BIT(PSC_T_BARLF))

static struct psc_server *server;   /* for the signal handler and the cleanup timer */

/* ---- small helpers --------------------------------------------------------------- */

void psc_log_delay(const struct psc_session *s, char *out, size_t outlen)
{
    uint64_t now = ev_now(s->srv->loop);
    psc_format_delay(now > s->start_ms ? now - s->start_ms : 0, out, outlen);
}

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
    }
}

const char *psc_reply_set(struct psc_session *s, const char *fmt, ...)
{
    char text[PSC_REPLY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    free(s->reply_buf);
    s->reply_buf = xstrdup(text);
    return s->reply_buf;
}

/* One reply, written at once and never waited for (a client that does not
 * read loses it, as with Postfix's non-blocking psc_send_reply). */
static void send_now(int fd, const char *text)
{
    ssize_t w = send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
}

static void stop_watching(struct psc_session *s)
{
    if (s->watching)
        ev_fd_del(s->srv->loop, s->fd);
    s->watching = 0;
    if (s->timer)
        ev_timer_cancel(s->srv->loop, s->timer);
    s->timer = NULL;
}

void psc_session_free(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    stop_watching(s);
    psc_dnsbl_cancel(s);
    psc_smtpd_stop(s);
    if (s->fd >= 0)
        close(s->fd);
    free(s->reply_buf);
    free(s->helo);
    free(s->sender);
    if (s->prev)
        s->prev->next = s->next;
    else
        srv->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    srv->nsessions--;
    free(s);
    if (srv->stopping && srv->nsessions == 0)
        ev_loop_stop(srv->loop);
}

static size_t sessions_from(struct psc_server *srv, const char *addr)
{
    size_t n = 0;
    for (struct psc_session *s = srv->sessions; s; s = s->next)
        n += strcmp(s->addr, addr) == 0;
    return n;
}

/* ---- the end of a session ---------------------------------------------------------- */

static void hand_off(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    str_copy(sun.sun_path, srv->pass_path, sizeof(sun.sun_path));
    struct passfd_info info;
    str_copy(info.client_addr, s->addr, sizeof(info.client_addr));
    str_copy(info.client_port, s->port, sizeof(info.client_port));
    str_copy(info.server_addr, s->saddr, sizeof(info.server_addr));
    str_copy(info.server_port, s->sport, sizeof(info.server_port));
    if (sock < 0 || connect(sock, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        msg_warn("cannot connect to service %s: %s", srv->pass_path, strerror(errno));
        send_now(s->fd, "421 4.3.2 All server ports are busy\r\n");
    } else if (passfd_send(sock, s->fd, &info) < 0) {
        msg_warn("cannot pass connection to service %s: %s", srv->pass_path, strerror(errno));
        send_now(s->fd, "421 4.3.2 No system resources\r\n");
    }
    if (sock >= 0)
        close(sock);
    psc_session_free(s);
}

static void update_cache(struct psc_session *s)
{
    if (s->pass && s->srv->cache)
        psc_cache_put(s->srv->cache, s->addr, s->expire);
}

void psc_conclude(struct psc_session *s)
{
    if (s->fail)
        s->pass = 0;
    if (s->todo && (s->pass & s->todo) == s->todo)
        msg_info("PASS %s [%s]:%s", s->is_new ? "NEW" : "OLD", s->addr, s->port);
    update_cache(s);
    s->phase = PSC_DONE;
    if (!s->noforward) {
        hand_off(s);
        return;
    }
    if (s->final_reply)
        send_now(s->fd, s->final_reply);
    msg_info("DISCONNECT [%s]:%s", s->addr, s->port);
    psc_session_free(s);
}

void psc_hangup(struct psc_session *s)
{
    char d[32];
    psc_log_delay(s, d, sizeof(d));
    msg_info("HANGUP after %s from [%s]:%s in %s", d, s->addr, s->port, s->test_name);
    s->noforward = 1;
    s->final_reply = NULL;
    psc_conclude(s);
}

/* Drop: the reply, then DISCONNECT. */
static void drop(struct psc_session *s, const char *reply)
{
    s->noforward = 1;
    s->final_reply = reply;
    psc_conclude(s);
}

static void enforce(struct psc_session *s, const char *reply)
{
    s->noforward = 1;
    s->rcpt_reply = reply;
}

/* ---- the before-220 tests ------------------------------------------------------------ */

static void pass_test(struct psc_session *s, enum psc_test t, long long ttl)
{
    s->pass |= PSC_T_BIT(t);
    s->expire[t] = time(NULL) + (time_t)ttl;
}

/* A DNSBL score at or below postscreen_dnsbl_allowlist_threshold (< 0) skips the rest. */
static void allowlist_other_tests(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    if (srv->dnsbl_allow_threshold >= 0 || s->dnsbl_score > srv->dnsbl_allow_threshold)
        return;
    const long long ttl[PSC_T_COUNT] = {srv->greet_ttl, 0, srv->pipel_ttl, srv->nsmtp_ttl,
                                        srv->barlf_ttl};
    for (int t = 0; t < PSC_T_COUNT; t++)
        if (t != PSC_T_DNSBL && (s->todo & PSC_T_BIT(t)) && !(s->fail & PSC_T_BIT(t)))
            pass_test(s, (enum psc_test)t, ttl[t]);
    s->pregr_done = 1;
}

static void early_end(struct psc_session *s);

static void early_timer(void *arg)
{
    struct psc_session *s = arg;
    s->timer = NULL;
    early_end(s);
}

static void early_check_done(struct psc_session *s)
{
    int pregr_waiting = (s->todo & PSC_T_BIT(PSC_T_PREGR)) && !s->pregr_done;
    int dnsbl_waiting = (s->todo & PSC_T_BIT(PSC_T_DNSBL)) && !s->dnsbl_done;
    if (!pregr_waiting && !dnsbl_waiting) {
        if (s->timer)
            ev_timer_cancel(s->srv->loop, s->timer);
        /* Not from inside the DNS callback: end on a zero timer. */
        s->timer = ev_timer_add(s->srv->loop, 0, early_timer, s);
    }
}

static void dnsbl_done(struct psc_session *s)
{
    allowlist_other_tests(s);
    early_check_done(s);
}

static void early_read(int fd, int events, void *arg)
{
    (void)events;
    struct psc_session *s = arg;
    struct psc_server *srv = s->srv;
    char data[PSC_PEEK_MAX];
    ssize_t n = recv(fd, data, sizeof(data) - 1, MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    ev_fd_del(srv->loop, fd);
    s->watching = 0;
    if (n <= 0) {
        psc_hangup(s);
        return;
    }
    char d[32], text[PSC_PEEK_MAX * 4 + 1];
    psc_log_delay(s, d, sizeof(d));
    psc_escape(data, (size_t)n, 100, text, sizeof(text));
    msg_info("PREGREET %zd after %s from [%s]:%s: %s", n, d, s->addr, s->port, text);
    s->fail |= PSC_T_BIT(PSC_T_PREGR);
    s->pregr_done = 1;
    switch (srv->greet_action) {
    case PSC_ACT_DROP:
        drop(s, "521 5.5.1 Protocol error\r\n");
        return;
    case PSC_ACT_ENFORCE:
        enforce(s, "550 5.5.1 Protocol error\r\n");
        break;
    case PSC_ACT_IGNORE:
        s->fail &= ~PSC_T_BIT(PSC_T_PREGR);   /* not passed either: tested again next time */
        break;
    }
    early_check_done(s);
}

static void dnsbl_verdict(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    if (s->dnsbl_pending)
        psc_dnsbl_cancel(s);   /* the greet wait is over: the partial score counts */
    if (s->dnsbl_score < srv->dnsbl_threshold) {
        long long ttl = s->dnsbl_ttl ? (long long)s->dnsbl_ttl : srv->dnsbl_max_ttl;
        if (ttl < srv->dnsbl_min_ttl)
            ttl = srv->dnsbl_min_ttl;
        if (ttl > srv->dnsbl_max_ttl)
            ttl = srv->dnsbl_max_ttl;
        pass_test(s, PSC_T_DNSBL, ttl);
        return;
    }
    msg_info("DNSBL rank %d for [%s]:%s", s->dnsbl_score, s->addr, s->port);
    s->fail |= PSC_T_BIT(PSC_T_DNSBL);
    const char *name = s->dnsbl_name ? s->dnsbl_name : "";
    struct buf b;
    buf_init(&b, 512);
    if (srv->reply_map && maps_lookup(srv->reply_map, name, &b) == TABLE_FOUND)
        name = buf_cstr(&b);
    const char *r = psc_reply_set(s, "%s 5.7.1 Service unavailable; client [%s] blocked using %s\r\n",
                                  srv->dnsbl_action == PSC_ACT_DROP ? "521" : "550", s->addr,
                                  name);
    buf_free(&b);
    if (srv->dnsbl_action == PSC_ACT_DROP)
        drop(s, r);
    else if (srv->dnsbl_action == PSC_ACT_ENFORCE)
        enforce(s, r);
    else
        s->fail &= ~PSC_T_BIT(PSC_T_DNSBL);
}

static void early_end(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    stop_watching(s);
    if ((s->todo & PSC_T_BIT(PSC_T_PREGR)) && !(s->fail & PSC_T_BIT(PSC_T_PREGR)) &&
        !(s->pass & PSC_T_BIT(PSC_T_PREGR)) && !s->pregr_done)
        pass_test(s, PSC_T_PREGR, srv->greet_ttl);
    if (s->todo & PSC_T_BIT(PSC_T_DNSBL)) {
        dnsbl_verdict(s);
        if (s->phase == PSC_DONE)
            return;   /* dropped */
    }
    if (s->noforward || (s->pass & (s->todo & PSC_DEEP_BITS)) != (s->todo & PSC_DEEP_BITS))
        psc_smtpd_start(s);
    else
        psc_conclude(s);
}

static void early_start(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    s->phase = PSC_EARLY;
    s->test_name = "tests before SMTP handshake";
    s->start_ms = ev_now(srv->loop);
    if ((s->todo & PSC_T_BIT(PSC_T_PREGR)) && srv->teaser)
        send_now(s->fd, srv->teaser);
    if (s->todo & PSC_T_BIT(PSC_T_DNSBL))
        psc_dnsbl_start(s, dnsbl_done);
    if (s->todo & PSC_T_BIT(PSC_T_PREGR)) {
        if (ev_fd_add(srv->loop, s->fd, EV_READ, early_read, s) == 0)
            s->watching = 1;
    } else {
        s->pregr_done = 1;
    }
    s->timer = ev_timer_add(srv->loop, srv->greet_wait_ms, early_timer, s);
    if (s->dnsbl_done && (s->todo & PSC_T_BIT(PSC_T_DNSBL)))
        dnsbl_done(s);
}

/* ---- a new client ------------------------------------------------------------------ */

/* postscreen_access_list: 1 permit, -1 reject, 0 neither (DUNNO, no match). */
static int access_check(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    if (srv->access_mynetworks && srv->mynetworks && addr_list_match(srv->mynetworks, s->addr) > 0)
        return 1;
    if (!srv->access)
        return 0;
    struct buf b;
    buf_init(&b, 1024);
    int r = 0;
    int rc = maps_lookup(srv->access, s->addr, &b);
    if (rc == TABLE_FOUND) {
        const char *v = buf_cstr(&b);
        size_t n = strcspn(v, " \t");
        if (n == 6 && str_nieq(v, "permit", 6))
            r = 1;
        else if (n == 6 && str_nieq(v, "reject", 6))
            r = -1;
        else if (!(n == 5 && str_nieq(v, "dunno", 5)))
            msg_warn("postscreen_access_list: unknown action \"%.60s\" for [%s]", v, s->addr);
    } else if (rc == TABLE_TEMPFAIL) {
        msg_warn("postscreen_access_list: lookup error for [%s]", s->addr);
    }
    buf_free(&b);
    return r;
}

static void tests_to_do(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    time_t now = time(NULL);
    s->is_new = !psc_cache_get(srv->cache, s->addr, s->expire);
    const int enabled[PSC_T_COUNT] = {1, srv->nsites > 0, srv->pipel_enable, srv->nsmtp_enable,
                                      srv->barlf_enable};
    s->todo = 0;
    for (int t = 0; t < PSC_T_COUNT; t++) {
        if (!enabled[t])
            continue;
        if (s->expire[t] <= now)
            s->todo |= PSC_T_BIT(t);
    }
}

static void session_begin(struct psc_session *s)
{
    struct psc_server *srv = s->srv;
    msg_info("CONNECT from [%s]:%s to [%s]:%s", s->addr, s->port, s->saddr, s->sport);
    if (srv->client_count_limit > 0 &&
        sessions_from(srv, s->addr) > (size_t)srv->client_count_limit) {
        msg_info("NOQUEUE: reject: CONNECT from [%s]:%s: too many connections", s->addr, s->port);
        drop(s, psc_reply_set(s, "421 4.7.0 %s Error: too many connections from %s\r\n",
                              srv->myhostname, s->addr));
        return;
    }
    s->rcpt_reply = "450 4.3.2 Service currently unavailable\r\n";
    int acc = access_check(s);
    if (acc > 0) {
        msg_info("%s [%s]:%s", srv->respectful ? "ALLOWLISTED" : "WHITELISTED", s->addr, s->port);
        s->phase = PSC_DONE;
        hand_off(s);
        return;
    }
    if (acc < 0) {
        msg_info("%s [%s]:%s", srv->respectful ? "DENYLISTED" : "BLACKLISTED", s->addr, s->port);
        if (srv->deny_action == PSC_ACT_DROP) {
            drop(s, "521 5.3.2 Service currently unavailable\r\n");
            return;
        }
        if (srv->deny_action == PSC_ACT_ENFORCE)
            enforce(s, "550 5.3.2 Service currently unavailable\r\n");
    }
    tests_to_do(s);
    if (!s->todo && !s->noforward) {
        msg_info("PASS OLD [%s]:%s", s->addr, s->port);
        s->phase = PSC_DONE;
        hand_off(s);
        return;
    }
    if (s->todo & PSC_EARLY_BITS)
        early_start(s);
    else
        psc_smtpd_start(s);
}

/* ---- the upstream PROXY header -------------------------------------------------------- */

static void proxy_timer(void *arg)
{
    struct psc_session *s = arg;
    s->timer = NULL;
    msg_warn("haproxy read: time limit exceeded");
    s->noforward = 1;
    psc_session_free(s);
}

static void proxy_read(int fd, int events, void *arg)
{
    (void)events;
    struct psc_session *s = arg;
    unsigned char head[PSC_PROXY_V2_MAX];
    ssize_t n = recv(fd, head, sizeof(head), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    struct psc_proxy px;
    char err[160] = "unexpected end of input";
    int r = n > 0 ? psc_proxy_parse(head, (size_t)n, &px, err, sizeof(err)) : -1;
    if (r == 0)
        return;
    if (r < 0 || recv(fd, head, (size_t)r, 0) != r) {
        msg_warn("haproxy read: %s from [%s]:%s", err, s->addr, s->port);
        psc_session_free(s);
        return;
    }
    stop_watching(s);
    if (!px.local) {
        str_copy(s->addr, px.client_addr, sizeof(s->addr));
        str_copy(s->port, px.client_port, sizeof(s->port));
        str_copy(s->saddr, px.server_addr, sizeof(s->saddr));
        str_copy(s->sport, px.server_port, sizeof(s->sport));
    }
    session_begin(s);
}

/* ---- accepting --------------------------------------------------------------------------- */

static void new_session(struct psc_server *srv, int fd)
{
    struct psc_session *s = xcalloc(1, sizeof(*s));
    s->srv = srv;
    s->fd = fd;
    s->next = srv->sessions;
    if (s->next)
        s->next->prev = s;
    srv->sessions = s;
    srv->nsessions++;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        sockaddr_text(&ss, s->addr, sizeof(s->addr), s->port, sizeof(s->port));
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        sockaddr_text(&ss, s->saddr, sizeof(s->saddr), s->sport, sizeof(s->sport));
    if (!srv->proxy_haproxy) {
        session_begin(s);
        return;
    }
    s->phase = PSC_PROXY;
    if (ev_fd_add(srv->loop, fd, EV_READ, proxy_read, s) == 0)
        s->watching = 1;
    s->timer = ev_timer_add(srv->loop, srv->proxy_timeout_ms, proxy_timer, s);
}

static void on_accept(int fd, int events, void *arg)
{
    (void)events;
    struct psc_server *srv = arg;
    for (int i = 0; i < 64 && !srv->stopping; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int c = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                msg_warn("accept: %s", strerror(errno));
            return;
        }
        if (srv->pre_queue_limit > 0 && srv->nsessions >= (size_t)srv->pre_queue_limit) {
            char a[64], p[8];
            sockaddr_text(&ss, a, sizeof(a), p, sizeof(p));
            msg_info("NOQUEUE: reject: CONNECT from [%s]:%s: all screening ports busy", a, p);
            send_now(c, "421 4.3.2 All screening ports are busy\r\n");
            close(c);
            continue;
        }
        new_session(srv, c);
    }
}

/* ---- configuration ------------------------------------------------------------------------ */

static int action_param(const struct config *cfg, enum param_id p, const char *name,
                        enum psc_action *act, char *err, size_t errlen)
{
    const char *v = cfg_get(cfg, p);
    if (psc_action_parse(v, act) < 0) {
        str_fmt(err, errlen, "bad %s value: %.60s (expected ignore, enforce or drop)", name, v);
        return -1;
    }
    return 0;
}

static int read_actions(struct psc_server *srv, const struct config *cfg, char *err, size_t errlen)
{
    return action_param(cfg, P_postscreen_greet_action, "postscreen_greet_action",
                        &srv->greet_action, err, errlen) < 0 ||
                   action_param(cfg, P_postscreen_denylist_action, "postscreen_denylist_action",
                                &srv->deny_action, err, errlen) < 0 ||
                   action_param(cfg, P_postscreen_dnsbl_action, "postscreen_dnsbl_action",
                                &srv->dnsbl_action, err, errlen) < 0 ||
                   action_param(cfg, P_postscreen_pipelining_action,
                                "postscreen_pipelining_action", &srv->pipel_action, err,
                                errlen) < 0 ||
                   action_param(cfg, P_postscreen_non_smtp_command_action,
                                "postscreen_non_smtp_command_action", &srv->nsmtp_action, err,
                                errlen) < 0 ||
                   action_param(cfg, P_postscreen_bare_newline_action,
                                "postscreen_bare_newline_action", &srv->barlf_action, err,
                                errlen) < 0
               ? -1
               : 0;
}

/* postscreen_access_list: permit_mynetworks and tables, in order (yubin checks
 * permit_mynetworks first: a table can still say REJECT for other addresses). */
static int open_access(struct psc_server *srv, const struct config *cfg, char *err, size_t errlen)
{
    size_t n;
    char **items = str_split_list(cfg_get(cfg, P_postscreen_access_list), &n);
    struct buf tables;
    buf_init(&tables, 0);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i], "permit_mynetworks") == 0) {
            srv->access_mynetworks = 1;
            continue;
        }
        if (!strchr(items[i], ':')) {
            str_fmt(err, errlen, "postscreen_access_list: unknown item \"%.60s\"", items[i]);
            strv_free(items);
            buf_free(&tables);
            return -1;
        }
        buf_printf(&tables, "%s%s", tables.len ? " " : "", items[i]);
    }
    strv_free(items);
    int rc = 0;
    if (tables.len) {
        srv->access = maps_open(buf_cstr(&tables), cfg, err, errlen);
        rc = srv->access ? 0 : -1;
    }
    buf_free(&tables);
    return rc;
}

static int read_lists(struct psc_server *srv, const struct config *cfg, char *err, size_t errlen)
{
    char e[512];
    int n = psc_dnsbl_sites_parse(cfg_get(cfg, P_postscreen_dnsbl_sites), srv->sites,
                                  PSC_DNSBL_SITES_MAX, e, sizeof(e));
    if (n < 0) {
        str_fmt(err, errlen, "postscreen_dnsbl_sites: %s", e);
        return -1;
    }
    srv->nsites = (size_t)n;
    srv->mynetworks = addr_list_new(cfg_get(cfg, P_mynetworks), cfg, 0, e, sizeof(e));
    if (!srv->mynetworks) {
        str_fmt(err, errlen, "mynetworks: %s", e);
        return -1;
    }
    if (open_access(srv, cfg, err, errlen) < 0)
        return -1;
    const char *rm = cfg_get(cfg, P_postscreen_dnsbl_reply_map);
    if (*rm && !(srv->reply_map = maps_open(rm, cfg, e, sizeof(e)))) {
        str_fmt(err, errlen, "postscreen_dnsbl_reply_map: %s", e);
        return -1;
    }
    return 0;
}

/* postscreen_forbidden_commands: words and tables (default CONNECT GET POST regexp:...). */
static int read_forbidden(struct psc_server *srv, const struct config *cfg, char *err,
                          size_t errlen)
{
    size_t n;
    char **items = str_split_list(cfg_get(cfg, P_postscreen_forbidden_commands), &n);
    char **words = xcalloc(n + 1, sizeof(*words));
    size_t nw = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (strchr(items[i], ':') && !srv->forbidden) {
            srv->forbidden = table_open(items[i], cfg, err, errlen);
            rc = srv->forbidden ? 0 : -1;
        } else {
            words[nw++] = xstrdup(items[i]);
        }
    }
    strv_free(items);
    srv->forbidden_words = words;
    return rc;
}

static void read_numbers(struct psc_server *srv, const struct config *cfg)
{
    srv->greet_wait_ms = (uint64_t)cfg_get_time_ms(cfg, P_postscreen_greet_wait);
    srv->cmd_time_ms = (uint64_t)cfg_get_time_ms(cfg, P_postscreen_command_time_limit);
    srv->proxy_timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_postscreen_upstream_proxy_timeout);
    srv->watchdog_ms = (uint64_t)cfg_get_time_ms(cfg, P_postscreen_watchdog_timeout);
    srv->greet_ttl = cfg_get_time(cfg, P_postscreen_greet_ttl);
    srv->dnsbl_min_ttl = cfg_get_time(cfg, P_postscreen_dnsbl_min_ttl);
    srv->dnsbl_max_ttl = cfg_get_time(cfg, P_postscreen_dnsbl_max_ttl);
    srv->pipel_ttl = cfg_get_time(cfg, P_postscreen_pipelining_ttl);
    srv->nsmtp_ttl = cfg_get_time(cfg, P_postscreen_non_smtp_command_ttl);
    srv->barlf_ttl = cfg_get_time(cfg, P_postscreen_bare_newline_ttl);
    srv->cache_retention = cfg_get_time(cfg, P_postscreen_cache_retention_time);
    srv->cache_cleanup = cfg_get_time(cfg, P_postscreen_cache_cleanup_interval);
    srv->pipel_enable = cfg_get_bool(cfg, P_postscreen_pipelining_enable);
    srv->nsmtp_enable = cfg_get_bool(cfg, P_postscreen_non_smtp_command_enable);
    srv->barlf_enable = cfg_get_bool(cfg, P_postscreen_bare_newline_enable);
    srv->disable_vrfy = cfg_get_bool(cfg, P_postscreen_disable_vrfy_command);
    srv->helo_required = cfg_get_bool(cfg, P_postscreen_helo_required);
    srv->use_tls = cfg_get_bool(cfg, P_postscreen_use_tls);
    srv->enforce_tls = cfg_get_bool(cfg, P_postscreen_enforce_tls);
    const char *lev = cfg_get(cfg, P_postscreen_tls_security_level);
    if (*lev)
        srv->enforce_tls = str_ieq(lev, "encrypt") || str_ieq(lev, "verify") ||
                           str_ieq(lev, "secure") || str_ieq(lev, "fingerprint");
    srv->respectful = cfg_get_bool(cfg, P_respectful_logging);
    srv->proxy_haproxy = str_ieq(cfg_get(cfg, P_postscreen_upstream_proxy_protocol), "haproxy");
    srv->dnsbl_threshold = cfg_get_int(cfg, P_postscreen_dnsbl_threshold);
    srv->dnsbl_allow_threshold = cfg_get_int(cfg, P_postscreen_dnsbl_allowlist_threshold);
    srv->cmd_count_limit = cfg_get_int(cfg, P_postscreen_command_count_limit);
    srv->pre_queue_limit = cfg_get_int(cfg, P_postscreen_pre_queue_limit);
    srv->post_queue_limit = cfg_get_int(cfg, P_postscreen_post_queue_limit);
    srv->client_count_limit = cfg_get_int(cfg, P_postscreen_client_connection_count_limit);
    srv->message_size_limit = cfg_get_size(cfg, P_message_size_limit);
    if (srv->cmd_time_ms == 0)
        srv->cmd_time_ms = 300000;
}

static int read_params(struct psc_server *srv, struct config *cfg, char *err, size_t errlen)
{
    srv->cfg = cfg;
    srv->myhostname = xstrdup(cfg_get(cfg, P_myhostname));
    srv->banner = xstrdup(cfg_get(cfg, P_smtpd_banner));
    srv->reject_footer = xstrdup(cfg_get(cfg, P_postscreen_reject_footer));
    const char *t = cfg_get(cfg, P_postscreen_greet_banner);
    srv->teaser = *t ? xasprintf("220-%.400s\r\n", t) : NULL;
    read_numbers(srv, cfg);
    const char *proto = cfg_get(cfg, P_postscreen_upstream_proxy_protocol);
    if (*proto && !srv->proxy_haproxy) {
        str_fmt(err, errlen, "unsupported postscreen_upstream_proxy_protocol value: %.60s", proto);
        return -1;
    }
    if (read_actions(srv, cfg, err, errlen) < 0 || read_lists(srv, cfg, err, errlen) < 0 ||
        read_forbidden(srv, cfg, err, errlen) < 0)
        return -1;
    return 0;
}

static void free_params(struct psc_server *srv)
{
    if (srv->mynetworks)
        match_list_free(srv->mynetworks);
    if (srv->access)
        maps_close(srv->access);
    if (srv->reply_map)
        maps_close(srv->reply_map);
    if (srv->forbidden)
        table_close(srv->forbidden);
    strv_free(srv->forbidden_words);
    free(srv->myhostname);
    free(srv->banner);
    free(srv->reject_footer);
    free(srv->teaser);
}

int postscreen_check_service(const struct config *cfg, const struct master_service *svc,
                             char *err, size_t errlen)
{
    (void)svc;
    struct psc_server srv;
    memset(&srv, 0, sizeof(srv));
    int rc = read_params(&srv, (struct config *)cfg, err, errlen);
    free_params(&srv);
    return rc;
}

/* ---- the cache's directory (as root, before privileges are dropped) ------------------------- */

static char *cache_spec(const struct config *cfg)
{
    const char *spec = cfg_get(cfg, P_postscreen_cache_map);
    while (*spec == ' ' || *spec == '\t')
        spec++;
    if (strncmp(spec, "proxy:", 6) == 0)
        spec += 6;   /* postscreen is the cache's only writer: no proxywrite needed */
    return xstrdup(spec);
}

int postscreen_prepare(struct worker *w)
{
    char *spec = cache_spec(w->cfg);
    char *colon = strchr(spec, ':');
    char *slash = colon ? strrchr(colon + 1, '/') : NULL;
    if (slash && slash > colon + 1) {
        *slash = '\0';
        if (mkdir(colon + 1, 0755) == 0 && !w->single_user) {
            struct passwd *pw = getpwnam(cfg_get(w->cfg, P_mail_owner));
            if (pw && chown(colon + 1, pw->pw_uid, pw->pw_gid) < 0)
                msg_warn("chown %s: %s", colon + 1, strerror(errno));
        }
    }
    free(spec);
    return 0;
}

/* ---- running -------------------------------------------------------------------------------- */

static void cleanup_tick(void *arg)
{
    struct psc_server *srv = arg;
    psc_cache_cleanup(srv->cache, time(NULL), srv->cache_retention);
    if (!srv->stopping)
        ev_timer_add(srv->loop, (uint64_t)srv->cache_cleanup * 1000, cleanup_tick, srv);
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct psc_server *srv = arg;
    if (srv->stopping)
        return;
    srv->stopping = 1;
    for (size_t i = 0; i < srv->nlisten; i++) {
        ev_fd_del(srv->loop, srv->listen_fds[i]);
        close(srv->listen_fds[i]);
    }
    /* Screening sessions are short (greet wait, a few commands): end them now. */
    while (srv->sessions)
        psc_session_free(srv->sessions);
    ev_loop_stop(srv->loop);
}

static void open_cache(struct psc_server *srv)
{
    char *spec = cache_spec(srv->cfg);
    if (*spec) {
        char err[512];
        srv->cache = psc_cache_open(spec, err, sizeof(err));
        if (!srv->cache)
            msg_warn("%s; clients are not remembered", err);
    }
    free(spec);
    if (srv->cache && srv->cache_cleanup > 0)
        ev_timer_add(srv->loop, (uint64_t)srv->cache_cleanup * 1000, cleanup_tick, srv);
}

int postscreen_main(struct worker *w)
{
    struct psc_server srv;
    memset(&srv, 0, sizeof(srv));
    server = &srv;
    char err[512] = "";
    if (read_params(&srv, w->cfg, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    signal(SIGPIPE, SIG_IGN);
    srv.loop = ev_loop_new();
    long long to = cfg_get_time_ms(w->cfg, P_postscreen_dnsbl_timeout);
    srv.dns = srv.nsites ? dns_new_opts(srv.loop, to > 0 ? (int)to : 10000, 1) : NULL;
    char *pass = cfg_unix_socket_path(w->cfg, cfg_get(w->cfg, P_smtpd_service_name));
    srv.pass_path = pass;
    open_cache(&srv);
    srv.listen_fds = w->listen_fds;
    srv.nlisten = w->nlisten;
    ev_signal_add(srv.loop, SIGTERM, on_sigterm, &srv);
    for (size_t i = 0; i < w->nlisten; i++) {
        fd_set_nonblock(w->listen_fds[i], 1);
        if (ev_fd_add(srv.loop, w->listen_fds[i], EV_READ, on_accept, &srv) < 0)
            msg_fatal("cannot watch listening socket: %s", strerror(errno));
    }
    int rc = ev_loop_run(srv.loop);
    while (srv.sessions)
        psc_session_free(srv.sessions);
    psc_cache_close(srv.cache);
    dns_free(srv.dns);
    ev_loop_free(srv.loop);
    free_params(&srv);
    free(pass);
    server = NULL;
    return rc == 0 ? 0 : 1;
}
