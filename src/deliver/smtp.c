/*
 * smtp.c - the smtp(8) delivery agent's process and its requests.
 *
 * Owns: smtp_main (master.cf command "smtp"; the services smtp and relay),
 * the agent's settings read once from main.cf (with the service's -o
 * overrides), and one delivery request end to end: open the queue file,
 * scan the content once (size, 8-bit), take the next hop from the request
 * ("nexthop" attribute, else the recipient domain), then try the servers
 * of each destination of the next-hop list and of smtp_fallback_relay
 * until every recipient is done or nothing is left to try. Recipients
 * without a final word get the last soft error they saw (deferred), or
 * the name service's verdict (bounced when the domain does not exist).
 */
#include "deliver/deliver_role.h"
#include "deliver/smtp.h"
#include "deliver/serve.h"
#include "lib-mail/addr.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "lib/util.h"
#include "lib-master/worker.h"
#include "lib-master/stopsig.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SMTP_REQUEST_TIMEOUT 300    /* seconds to read one request from qmgr */

/* ---- settings ---- */

/* Within int, for the session code: the table bounds timeouts from below only. */
static int param_time(const struct config *cfg, enum param_id name)
{
    long long v = cfg_get_time(cfg, name);
    return v < 0 ? 0 : v > 86400 ? 86400 : (int)v;
}

static int param_int(const struct config *cfg, enum param_id name)
{
    long long v = cfg_get_int(cfg, name);
    return v < 0 ? 0 : v > 1000000 ? 1000000 : (int)v;
}

static void add_own(struct smtp_settings *s, int family, const void *a)
{
    for (size_t i = 0; i < s->nown; i++)
        if (s->own[i].family == family && memcmp(s->own[i].a, a, family == AF_INET ? 4 : 16) == 0)
            return;
    s->own = xrealloc(s->own, (s->nown + 1) * sizeof(*s->own));
    memset(&s->own[s->nown], 0, sizeof(s->own[0]));
    s->own[s->nown].family = family;
    memcpy(s->own[s->nown].a, a, family == AF_INET ? 4 : 16);
    s->nown++;
}

static void add_own_sa(struct smtp_settings *s, const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        add_own(s, AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
    else if (sa->sa_family == AF_INET6)
        add_own(s, AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
}

/* An inet_interfaces/proxy_interfaces entry: address (maybe [bracketed]) or host name. */
static void add_own_name(struct smtp_settings *s, const char *name)
{
    char host[SMTP_HOST_MAX];
    size_t n = strlen(name);
    if (name[0] == '[' && n > 2 && name[n - 1] == ']')
        str_copy(host, name + 1, n - 1 < sizeof(host) ? n - 1 : sizeof(host));
    else
        str_copy(host, name, sizeof(host));
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        msg_warn("inet_interfaces: cannot find the address of \"%s\"", name);
        return;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
        add_own_sa(s, ai->ai_addr);
    freeaddrinfo(res);
}

static void own_addresses(struct smtp_settings *s, const struct config *cfg)
{
    static const enum param_id lists[] = {P_inet_interfaces, P_proxy_interfaces};
    for (size_t k = 0; k < ARRAY_LEN(lists); k++) {
        char **v = cfg_get_list(cfg, lists[k]);
        for (char **p = v; *p; p++) {
            if (str_ieq(*p, "all")) {
                struct ifaddrs *ifa = NULL;
                if (getifaddrs(&ifa) == 0) {
                    for (struct ifaddrs *i = ifa; i; i = i->ifa_next)
                        if (i->ifa_addr)
                            add_own_sa(s, i->ifa_addr);
                    freeifaddrs(ifa);
                }
            } else if (str_ieq(*p, "loopback-only")) {
                add_own_name(s, "127.0.0.1");
                add_own_name(s, "::1");
            } else {
                add_own_name(s, *p);
            }
        }
        strv_free(v);
    }
}

/* smtp_bind_address[6]: a numeric address, brackets allowed. 0, or -1 (warned). */
static int bind_param(const struct config *cfg, enum param_id name, int family,
                      struct sockaddr_storage *out)
{
    const char *v = cfg_get(cfg, name);
    if (!*v)
        return -1;
    char text[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(v);
    if (v[0] == '[' && n > 2 && v[n - 1] == ']')
        str_copy(text, v + 1, n - 1 < sizeof(text) ? n - 1 : sizeof(text));
    else
        str_copy(text, v, sizeof(text));
    struct smtp_addr a;
    if (smtp_addr_from_text(&a, text, NULL, 0) < 0 || a.sa.ss_family != family) {
        msg_warn("%s: bad numerical address \"%s\": ignored", cfg_param_name(name), v);
        return -1;
    }
    *out = a.sa;
    return 0;
}

/* Note 1 of smtp_bind_address: one non-loopback IPv4 inet_interfaces address is used. */
static void bind_from_interfaces(struct smtp_settings *s, const struct config *cfg)
{
    char **v = cfg_get_list(cfg, P_inet_interfaces);
    struct smtp_addr a;
    int n4 = 0, n6 = 0;
    struct sockaddr_storage a4, a6;
    for (char **p = v; *p; p++) {
        char text[INET6_ADDRSTRLEN + 8];
        size_t n = strlen(*p);
        if ((*p)[0] == '[' && n > 2 && (*p)[n - 1] == ']')
            str_copy(text, *p + 1, n - 1 < sizeof(text) ? n - 1 : sizeof(text));
        else
            str_copy(text, *p, sizeof(text));
        if (smtp_addr_from_text(&a, text, NULL, 0) < 0) {
            n4 = n6 = 2;                   /* names or "all": nothing automatic */
            break;
        }
        if (a.sa.ss_family == AF_INET) {
            n4++;
            a4 = a.sa;
        } else {
            n6++;
            a6 = a.sa;
        }
    }
    strv_free(v);
    if (!s->have_bind4 && n4 == 1 &&
        ((const unsigned char *)&((struct sockaddr_in *)&a4)->sin_addr)[0] != 127) {
        s->bind4 = a4;
        s->have_bind4 = 1;
    }
    if (!s->have_bind6 && n6 == 1 &&
        !IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a6)->sin6_addr)) {
        s->bind6 = a6;
        s->have_bind6 = 1;
    }
}

/*
 * The parameter an smtp_* setting is read from: itself, or for lmtp(8)
 * its lmtp_* twin (LHLO where SMTP says HELO/EHLO); one without a twin
 * stays smtp_*.
 */
static enum param_id agent_param(const struct smtp_settings *s, enum param_id p)
{
    static const char *const renamed[][2] = {
        {"smtp_helo_name", "lmtp_lhlo_name"},
        {"smtp_helo_timeout", "lmtp_lhlo_timeout"},
        {"smtp_discard_ehlo_keywords", "lmtp_discard_lhlo_keywords"},
    };
    const char *name = cfg_param_name(p);
    if (!s->lmtp || strncmp(name, "smtp_", 5) != 0)
        return p;
    char twin[128];
    str_fmt(twin, sizeof(twin), "lmtp_%s", name + 5);
    for (size_t i = 0; i < ARRAY_LEN(renamed); i++)
        if (strcmp(name, renamed[i][0]) == 0)
            str_copy(twin, renamed[i][1], sizeof(twin));
    for (size_t i = 0; i < cfg_param_count(); i++)
        if (strcmp(cfg_param_name(i), twin) == 0)
            return (enum param_id)i;
    return p;
}

#define SP(p) agent_param(s, (p))

int smtp_settings_init(struct smtp_settings *s, const struct config *cfg, const char *queue_dir,
                       struct tls_client *tls, int lmtp)
{
    memset(s, 0, sizeof(*s));
    s->lmtp = lmtp;
    s->queue_dir = queue_dir;
    str_copy(s->helo_name, cfg_get(cfg, SP(P_smtp_helo_name)), sizeof(s->helo_name));
    str_copy(s->known_ports, cfg_get(cfg, P_known_tcp_ports), sizeof(s->known_ports));
    const char *port = cfg_get(cfg, SP(P_smtp_tcp_port));
    if (smtp_port_parse(port, s->known_ports, &s->default_port) < 0) {
        msg_warn("%s: unknown service \"%s\": using %d", cfg_param_name(SP(P_smtp_tcp_port)), port,
                 lmtp ? 24 : 25);
        s->default_port = lmtp ? 24 : 25;
    }
    s->connect_timeout = param_time(cfg, SP(P_smtp_connect_timeout));
    s->helo_timeout = param_time(cfg, SP(P_smtp_helo_timeout));
    s->mail_timeout = param_time(cfg, SP(P_smtp_mail_timeout));
    s->rcpt_timeout = param_time(cfg, SP(P_smtp_rcpt_timeout));
    s->data_init_timeout = param_time(cfg, SP(P_smtp_data_init_timeout));
    s->data_xfer_timeout = param_time(cfg, SP(P_smtp_data_xfer_timeout));
    s->data_done_timeout = param_time(cfg, SP(P_smtp_data_done_timeout));
    s->quit_timeout = param_time(cfg, SP(P_smtp_quit_timeout));
    s->starttls_timeout = param_time(cfg, SP(P_smtp_starttls_timeout));
    s->mx_address_limit = param_int(cfg, SP(P_smtp_mx_address_limit));
    s->mx_session_limit = param_int(cfg, SP(P_smtp_mx_session_limit));
    s->randomize = cfg_get_bool(cfg, SP(P_smtp_randomize_addresses));
    const char *pref = cfg_get(cfg, SP(P_smtp_address_preference));
    s->addr_pref = str_ieq(pref, "ipv4") ? 4 : str_ieq(pref, "ipv6") ? 6 : 0;
    if (s->addr_pref == 0 && !str_ieq(pref, "any"))
        msg_warn("smtp_address_preference: unknown value \"%s\": using \"any\"", pref);
    s->balance = cfg_get_bool(cfg, SP(P_smtp_balance_inet_protocols));
    cfg_inet_protocols(cfg, &s->want4, &s->want6);
    const char *level = cfg_get(cfg, SP(P_smtp_dns_support_level));
    s->dns = !cfg_get_bool(cfg, P_disable_dns_lookups) && strcmp(level, "disabled") != 0;
    char **hl = cfg_get_list(cfg, SP(P_smtp_host_lookup));
    for (char **p = hl; *p; p++) {
        if (str_ieq(*p, "dns"))
            s->host_dns = 1;
        else if (str_ieq(*p, "native"))
            s->host_native = 1;
        else
            msg_warn("smtp_host_lookup: unknown mechanism \"%s\" ignored", *p);
    }
    strv_free(hl);
    if (!s->host_dns && !s->host_native)
        s->host_dns = 1;
    s->skip_5xx_greeting = cfg_get_bool(cfg, SP(P_smtp_skip_5xx_greeting));
    s->never_ehlo = !lmtp && cfg_get_bool(cfg, P_smtp_never_send_ehlo);
    s->send_xforward = cfg_get_bool(cfg, SP(P_smtp_send_xforward_command));
    s->xforward_timeout = param_time(cfg, SP(P_smtp_xforward_timeout));
    s->defer_if_no_mx_address = cfg_get_bool(cfg, SP(P_smtp_defer_if_no_mx_address_found));
    s->ignore_mx_lookup_error = cfg_get_bool(cfg, P_ignore_mx_lookup_error);
    s->line_limit = param_int(cfg, SP(P_smtp_line_length_limit));
    s->min_backoff = param_time(cfg, P_minimal_backoff_time);
    if (s->line_limit > 0 && s->line_limit < 40) {
        msg_warn("smtp_line_length_limit: %d is too small: using 40", s->line_limit);
        s->line_limit = 40;
    }
    char err[1024] = "";
    int tls_lev = tls_client_level(cfg, lmtp ? "lmtp" : "smtp", err, sizeof(err));
    if (tls_lev < 0) {
        msg_warn("%s", err);
        s->config_error = xstrdup(err);
        tls_lev = TLS_LEV_NONE;
    }
    s->tls_level = (enum tls_level)tls_lev;
    if (s->tls_level != TLS_LEV_NONE) {
        s->tls = tls ? tls : tls_client_new(cfg, lmtp ? "lmtp" : "smtp", err, sizeof(err));
        if (!s->tls)
            msg_warn("TLS client initialization failed: %s", err);
    } else {
        tls_client_free(tls);
    }
    s->fallback_relay = smtp_dest_split(cfg_get(cfg, SP(P_smtp_fallback_relay)));
    s->discard_ehlo = cfg_get_list(cfg, SP(P_smtp_discard_ehlo_keywords));
    for (char **p = s->discard_ehlo; *p; p++)
        str_lower(*p);
    s->have_bind4 = bind_param(cfg, SP(P_smtp_bind_address), AF_INET, &s->bind4) == 0;
    s->have_bind6 = bind_param(cfg, SP(P_smtp_bind_address6), AF_INET6, &s->bind6) == 0;
    bind_from_interfaces(s, cfg);
    own_addresses(s, cfg);
    if (!s->want4 && !s->want6 && !s->config_error)
        s->config_error = xstrdup("inet_protocols enables no address family");
    return s->config_error ? -1 : 0;
}

void smtp_settings_free(struct smtp_settings *s)
{
    tls_client_free(s->tls);
    strv_free(s->fallback_relay);
    strv_free(s->discard_ehlo);
    free(s->own);
    free(s->config_error);
    memset(s, 0, sizeof(*s));
}

/* ---- one request ---- */

static void all_final(struct smtp_job *j, const char *dsn, const char *text)
{
    for (size_t i = 0; i < j->nrcpts; i++)
        smtp_job_status(j, i, 1, dsn, "none", "%s", text);
}

/* Open and check the queue file; scan the content. 0, or -1 with every status set. */
static int job_open(struct smtp_job *j)
{
    const struct dreq *req = j->req;
    char text[600];
    /* qmgr cannot make us read other files: beneath the queue, no symlink, ours. */
    struct stat sb;
    j->fd = queue_open_beneath(j->set->queue_dir, req->path, geteuid(), &sb);
    if (j->fd < 0 && (errno == EXDEV || errno == ELOOP || errno == EPERM)) {
        msg_warn("%s: queue file %s is not a file of %s: request refused", req->qid, req->path,
                 j->set->queue_dir ? j->set->queue_dir : "the queue");
        all_final(j, "4.3.0", "bad queue file name");
        return -1;
    }
    if (j->fd < 0) {
        msg_warn("%s: cannot open queue file %s: %s", req->qid, req->path, strerror(errno));
        str_fmt(text, sizeof(text), "cannot open queue file: %s", strerror(errno));
        all_final(j, "4.3.0", text);
        return -1;
    }
    if ((unsigned long long)sb.st_size < (unsigned long long)req->offset + req->length) {
        msg_warn("%s: queue file %s is shorter than offset %lld + length %zu", req->qid,
                 req->path, (long long)req->offset, req->length);
        all_final(j, "4.3.0", "queue file is truncated");
        return -1;
    }
    if (smtp_content_scan(j->fd, req->offset, req->length, &j->size, &j->eightbit,
                          &j->hdr8bit) < 0) {
        msg_warn("%s: error reading queue file %s: %s", req->qid, req->path, strerror(errno));
        str_fmt(text, sizeof(text), "error reading queue file: %s", strerror(errno));
        all_final(j, "4.3.0", text);
        return -1;
    }
    return 0;
}

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s & 0x80)
            return 0;
    return 1;
}

/*
 * Request attributes: BODY, SMTPUTF8, DSN RET and ENVID, per-recipient
 * NOTIFY/ORCPT. Like Postfix, SMTPUTF8 is needed only when the sender
 * asked for it and the envelope or a header is not ASCII; a message
 * with only a UTF-8 body goes to servers without SMTPUTF8 too.
 */
/* "S" or "S.uuuuuu" seconds since the epoch, as microseconds; 0 when absent or bad. */
static long long attr_usec(const char *v)
{
    if (!v || !isdigit((unsigned char)*v))
        return 0;
    char *end;
    long long sec = strtoll(v, &end, 10);
    long long usec = 0;
    if (*end == '.') {
        int digits = 0;
        for (const char *p = end + 1; isdigit((unsigned char)*p) && digits < 6; p++, digits++)
            usec = usec * 10 + (*p - '0');
        for (; digits < 6; digits++)
            usec *= 10;
    }
    return sec > 0 && sec < 100000000000LL ? sec * 1000000LL + usec : 0;
}

static void job_attrs(struct smtp_job *j)
{
    const struct dreq *req = j->req;
    const char *v = dproto_attr(req, "body");
    if (v && str_ieq(v, "8BITMIME"))
        j->eightbit = 1;
    v = dproto_attr(req, "smtputf8");
    j->smtputf8 = v && strcmp(v, "1") == 0;
    j->arrival = attr_usec(dproto_attr(req, "arrival"));
    j->active = attr_usec(dproto_attr(req, "active"));
    int utf8 = j->hdr8bit || !is_ascii(req->sender ? req->sender : "");
    for (size_t i = 0; i < j->nrcpts && !utf8; i++)
        utf8 = !is_ascii(req->rcpts[i].addr);
    j->smtputf8_needed = j->smtputf8 && utf8;
    v = dproto_attr(req, "ret");
    j->ret = v && str_ieq(v, "FULL") ? "FULL" : v && str_ieq(v, "HDRS") ? "HDRS" : NULL;
    v = dproto_attr(req, "envid");
    if (!v || dproto_xtext_decode(v, j->envid, sizeof(j->envid)) < 0)
        j->envid[0] = '\0';
    for (size_t i = 0; i < j->nrcpts; i++)
        if (dproto_extra_parse(req->rcpts[i].extra, &j->rc[i].x) < 0)
            dproto_extra_init(&j->rc[i].x);
}

/*
 * Try the servers of one destination (last: no destination follows it).
 * Returns 1 when the fall-back relays must not be used after it (a final
 * verdict, or we are its MX host).
 */
/* lmtp: "unix:private/dovecot-lmtp" (relative to queue_directory) or "unix:/path". */
static void try_unix(struct smtp_job *j, const char *path)
{
    const struct smtp_settings *s = j->set;
    struct smtp_addr a;
    memset(&a, 0, sizeof(a));
    struct sockaddr_un *un = (struct sockaddr_un *)&a.sa;
    un->sun_family = AF_UNIX;
    char full[sizeof(un->sun_path) + 1];
    if (path[0] == '/')
        str_copy(full, path, sizeof(full));
    else
        str_fmt(full, sizeof(full), "%s/%s", s->queue_dir ? s->queue_dir : ".", path);
    if (!*path || strlen(full) >= sizeof(un->sun_path) ||
        strlen(path) >= sizeof(a.text)) {
        msg_warn("%s: bad LMTP socket path \"unix:%s\"", j->req->qid, path);
        for (size_t i = 0; i < j->nrcpts; i++)
            smtp_job_status(j, i, 0, "4.3.5", "none", "mail system configuration error");
        return;
    }
    str_copy(un->sun_path, full, sizeof(un->sun_path));
    a.salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(full) + 1);
    str_copy(a.host, s->helo_name, sizeof(a.host));
    str_copy(a.text, path, sizeof(a.text));
    j->final_server = 1;
    int counted = 0;
    smtp_session(j, &a, 0, path, &counted);
}

static int try_dest(struct smtp_job *j, const char *text, int last, struct dns **dns,
                    int *dns_tried)
{
    const struct smtp_settings *s = j->set;
    struct smtp_dest d;
    char err[600];
    if (s->lmtp && strncmp(text, "unix:", 5) == 0) {
        try_unix(j, text + 5);
        return 1;
    }
    if (s->lmtp && strncmp(text, "inet:", 5) == 0)
        text += 5;
    if (smtp_dest_parse(text, s->default_port, s->known_ports, &d, err, sizeof(err)) < 0) {
        msg_warn("%s: %s", j->req->qid, err);
        for (size_t i = 0; i < j->nrcpts; i++)
            smtp_job_status(j, i, 0, "4.3.5", "none", "mail system configuration error");
        return 0;
    }
    if (s->lmtp)
        d.mx = 0;                          /* LMTP never looks up MX records */
    if (s->dns && !d.literal && !*dns && !*dns_tried) {
        *dns_tried = 1;
        *dns = smtp_dns_new();             /* fresh per request: resolv.conf may change */
    }
    struct smtp_addr_list l = {0};
    struct smtp_err e;
    if (smtp_resolve(s, *dns, &d, &l, &e) < 0) {
        for (size_t i = 0; i < j->nrcpts; i++)
            smtp_job_status(j, i, e.final, e.dsn, "none", "%s", e.text);
        smtp_addr_list_free(&l);
        return e.final || e.self;
    }
    int sessions = 0;
    last |= e.self;
    for (size_t k = 0; k < l.n && smtp_job_pending(j); k++) {
        if (s->mx_session_limit > 0 && sessions >= s->mx_session_limit)
            break;
        j->final_server = last && (k + 1 == l.n || (s->mx_session_limit > 0 &&
                                                     sessions + 1 >= s->mx_session_limit));
        int counted = 0;
        smtp_session(j, &l.v[k], d.port, d.host, &counted);
        sessions += counted;
    }
    smtp_addr_list_free(&l);
    return e.self;
}

void smtp_deliver_request(const struct smtp_settings *s, const struct dreq *req,
                          struct dstatus *st)
{
    struct smtp_job j;
    memset(&j, 0, sizeof(j));
    j.set = s;
    j.req = req;
    j.st = st;
    j.nrcpts = req->nrcpts;
    j.fd = -1;
    j.rc = xcalloc(req->nrcpts ? req->nrcpts : 1, sizeof(*j.rc));
    for (size_t i = 0; i < req->nrcpts; i++) {
        j.rc[i].r = &req->rcpts[i];
        dstatus_set(&st[i], req->rcpts[i].idx, "4.3.0", "delivery was not attempted");
    }
    if (s->config_error) {
        all_final(&j, "4.3.5", "mail system configuration error");
        goto out;
    }
    if (job_open(&j) < 0)
        goto out;
    job_attrs(&j);

    /* The next hop: from qmgr, else the (shared) recipient domain. */
    const char *nexthop = dproto_attr(req, "nexthop");
    char domain[SMTP_HOST_MAX];
    if (!nexthop || !*nexthop) {
        str_copy(domain, req->nrcpts ? addr_domain(req->rcpts[0].addr) : "", sizeof(domain));
        nexthop = domain;
    }
    char **dests = smtp_dest_split(nexthop);
    struct dns *dns = NULL;
    int dns_tried = 0, no_fallback = 0;
    if (!dests[0])
        all_final(&j, "5.1.2", "recipient address has no domain");  /* nothing to route */
    size_t ndests = strv_len(dests), nfall = strv_len(s->fallback_relay);
    ndests = ndests < SMTP_DEST_MAX ? ndests : SMTP_DEST_MAX;
    nfall = nfall < SMTP_DEST_MAX ? nfall : SMTP_DEST_MAX;
    for (size_t k = 0; k < ndests && smtp_job_pending(&j); k++)
        no_fallback |= try_dest(&j, dests[k], k + 1 == ndests && nfall == 0, &dns, &dns_tried);
    strv_free(dests);
    for (size_t k = 0; !no_fallback && k < nfall && smtp_job_pending(&j); k++)
        try_dest(&j, s->fallback_relay[k], k + 1 == nfall, &dns, &dns_tried);
    smtp_dns_free(dns);
    /* What is left keeps its last word: deferred (4.x.x) or bounced (5.x.x). */
out:
    if (j.fd >= 0)
        close(j.fd);
    free(j.rc);
}

/* ---- the process ---- */

static void handle(void *ctx, const struct dreq *req, struct dstatus *st)
{
    smtp_deliver_request(ctx, req, st);
}

int smtp_main(struct worker *w)
{
    const char *name = w->svc && w->svc->name ? w->svc->name : "smtp";
    int lmtp = w->svc && w->svc->command && strcmp(w->svc->command, "lmtp") == 0;
    if (w->nlisten < 1)
        msg_fatal("%s: no listening socket", name);
    worker_stop_signals((const int[]){SIGTERM, 0});
    srandom((unsigned)(time(NULL) ^ ((unsigned)getpid() << 16)));
    struct smtp_settings s;
    struct tls_client *tls = w->tls_client;   /* made as root by the worker, or NULL */
    w->tls_client = NULL;
    if (smtp_settings_init(&s, w->cfg, w->queue_dir, tls, lmtp) < 0)
        msg_warn("%s: configuration error (%s): every delivery will be deferred", name,
                 s.config_error);
    deliver_serve_loop(name, w->listen_fds[0], SMTP_REQUEST_TIMEOUT, handle, &s);
    smtp_settings_free(&s);
    return 0;
}
