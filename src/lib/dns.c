/*
 * dns.c - asynchronous DNS for mail on the event loop (see dns.h).
 *
 * One c-ares channel per struct dns. c-ares tells us which sockets it wants
 * watched through the socket-state callback; we register them with the
 * evloop and feed readiness back with ares_process_fd(). Its retransmission
 * timeouts are driven by one evloop timer re-armed from ares_timeout()
 * after every call into c-ares.
 *
 * A lookup (struct dns_req) may need several queries in a row (MX, then A,
 * then AAAA; PTR, then forward A/AAAA). Finished lookups go to a done queue
 * that a zero-delay timer delivers, so user callbacks never run inside
 * c-ares or inside the dns_* call that started them, and a callback may
 * freely start or cancel other lookups.
 */
#include "dns.h"
#include "addr.h"
#include "evloop.h"
#include "log.h"
#include "util.h"
#include "buf.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DNS_TXT_MAX    4096
#define DNS_HOSTS_MAX  (4 * 1024 * 1024)   /* ignore absurdly large hosts files */

enum dns_kind { DK_DOMAIN, DK_REVERSE, DK_A, DK_A_ALL, DK_TXT };
enum dns_stage { ST_MX, ST_A, ST_AAAA, ST_PTR, ST_FWD, ST_TXT };

struct dns_req {
    struct dns *d;
    struct dns_req *prev, *next;   /* d->active (in c-ares) or d->done queue */
    dns_cb cb;
    void *arg;
    enum dns_kind kind;
    enum dns_stage stage;
    int cancelled;
    int status;
    char *result;                  /* malloc'd, or NULL */
    char name[ADDR_DOMAIN_MAX + 2];
    /* reverse lookups */
    int family;
    unsigned char addr[16];
    char addrtext[INET6_ADDRSTRLEN];
    char ptr[ADDR_DOMAIN_MAX + 2];
};

struct dns_list {
    struct dns_req *head, *tail;
};

struct dns {
    struct evloop *loop;
    ares_channel ch;
    struct ev_timer *timer;        /* c-ares retransmissions */
    struct ev_timer *deliver;      /* done queue */
    struct dns_list active, done;
    int npending;                  /* not yet delivered nor cancelled */
    int *fds;                      /* sockets we registered with the loop */
    size_t nfds, capfds;
    int freeing;
    /* hosts file cache */
    char *hosts_path;
    char *hosts;
    time_t hosts_mtime;
    off_t hosts_size;
    ino_t hosts_ino;
};

/* ---------- lists ---------- */

static void list_push(struct dns_list *l, struct dns_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_remove(struct dns_list *l, struct dns_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->next = r->prev = NULL;
}

static void req_free(struct dns_req *r)
{
    free(r->result);
    free(r);
}

/* ---------- event loop glue ---------- */

static void dns_arm(struct dns *d);

static void fd_ready(int fd, int events, void *arg)
{
    struct dns *d = arg;
    ares_process_fd(d->ch, (events & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (events & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    dns_arm(d);
}

static ssize_t fd_index(struct dns *d, int fd)
{
    for (size_t i = 0; i < d->nfds; i++)
        if (d->fds[i] == fd)
            return (ssize_t)i;
    return -1;
}

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct dns *d = data;
    int ev = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    ssize_t i = fd_index(d, fd);
    if (ev == 0) {
        if (i >= 0) {
            ev_fd_del(d->loop, fd);
            d->fds[i] = d->fds[--d->nfds];
        }
        return;
    }
    if (i >= 0) {
        ev_fd_mod(d->loop, fd, ev);
        return;
    }
    if (ev_fd_add(d->loop, fd, ev, fd_ready, d) < 0) {
        msg_warn("dns: cannot watch resolver socket %d", fd);
        return;
    }
    if (d->nfds == d->capfds) {
        d->capfds = d->capfds ? d->capfds * 2 : 8;
        d->fds = xrealloc(d->fds, d->capfds * sizeof(*d->fds));
    }
    d->fds[d->nfds++] = fd;
}

static void timer_fired(void *arg)
{
    struct dns *d = arg;
    d->timer = NULL;               /* the loop frees fired timers */
    ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_arm(d);
}

/* Re-arm the retransmission timer from c-ares' idea of the next timeout. */
static void dns_arm(struct dns *d)
{
    struct timeval tv, *tvp;
    if (d->timer) {
        ev_timer_cancel(d->loop, d->timer);
        d->timer = NULL;
    }
    if (d->freeing || !d->active.head)
        return;
    tvp = ares_timeout(d->ch, NULL, &tv);
    if (tvp) {
        uint64_t ms = (uint64_t)tvp->tv_sec * 1000 + ((uint64_t)tvp->tv_usec + 999) / 1000;
        d->timer = ev_timer_add(d->loop, ms, timer_fired, d);
    }
}

/* ---------- delivery ---------- */

static void deliver(void *arg)
{
    struct dns *d = arg;
    struct dns_req *r;
    d->deliver = NULL;
    /* Pop one at a time: a callback may start or cancel other lookups. */
    while ((r = d->done.head) != NULL) {
        list_remove(&d->done, r);
        if (!r->cancelled) {
            d->npending--;
            r->cb(r->status, r->result, r->arg);
        }
        req_free(r);
    }
}

/* The lookup is finished: queue it for delivery. */
static void req_done(struct dns_req *r, int status, const char *result)
{
    struct dns *d = r->d;
    list_remove(&d->active, r);
    if (r->cancelled || d->freeing) {
        req_free(r);
        return;
    }
    r->status = status;
    free(r->result);
    r->result = result ? xstrdup(result) : NULL;
    list_push(&d->done, r);
    if (!d->deliver)
        d->deliver = ev_timer_add(d->loop, 0, deliver, d);
}

/* ---------- results ---------- */

static int map_status(int st)
{
    switch (st) {
    case ARES_SUCCESS:
        return DNS_OK;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
        return DNS_NOTFOUND;
    default:                       /* SERVFAIL, REFUSED, timeout, bad reply ... */
        return DNS_TEMPFAIL;
    }
}

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

static void req_query(struct dns_req *r, const char *name, int type)
{
    ares_query(r->d->ch, name, ns_c_in, type, query_cb, r);
}

/* Does the A/AAAA answer contain the client address? 1 yes, 0 no, -1 parse error. */
static int fwd_matches(struct dns_req *r, const unsigned char *abuf, int alen)
{
    if (r->family == AF_INET) {
        struct ares_addrttl at[64];
        int n = (int)ARRAY_LEN(at);
        if (ares_parse_a_reply(abuf, alen, NULL, at, &n) != ARES_SUCCESS)
            return -1;
        for (int i = 0; i < n; i++)
            if (memcmp(&at[i].ipaddr, r->addr, 4) == 0)
                return 1;
    } else {
        struct ares_addr6ttl at[64];
        int n = (int)ARRAY_LEN(at);
        if (ares_parse_aaaa_reply(abuf, alen, NULL, at, &n) != ARES_SUCCESS)
            return -1;
        for (int i = 0; i < n; i++)
            if (memcmp(&at[i].ip6addr, r->addr, 16) == 0)
                return 1;
    }
    return 0;
}

static int hosts_forward(struct dns *d, const char *name, int family, const unsigned char *addr);

/* Forward-confirm r->ptr: hosts file first, then DNS. */
static void reverse_forward(struct dns_req *r)
{
    int h = hosts_forward(r->d, r->ptr, r->family, r->addr);
    if (h == 1) {
        req_done(r, DNS_OK, r->ptr);
        return;
    }
    if (h == 0) {
        msg_warn("hostname %s does not resolve to address %s", r->ptr, r->addrtext);
        req_done(r, DNS_NOTFOUND, r->ptr);
        return;
    }
    r->stage = ST_FWD;
    req_query(r, r->ptr, r->family == AF_INET ? ns_t_a : ns_t_aaaa);
}

static void on_domain(struct dns_req *r, int status, const unsigned char *abuf, int alen)
{
    int st = map_status(status);
    if (st != DNS_OK) {
        if (st == DNS_TEMPFAIL || status == ARES_ENOTFOUND) {
            req_done(r, st, NULL);         /* NXDOMAIN: no point asking for A */
        } else if (r->stage == ST_MX) {
            r->stage = ST_A;
            req_query(r, r->name, ns_t_a);
        } else if (r->stage == ST_A) {
            r->stage = ST_AAAA;
            req_query(r, r->name, ns_t_aaaa);
        } else {
            req_done(r, DNS_NOTFOUND, NULL);
        }
        return;
    }
    if (r->stage == ST_MX) {
        struct ares_mx_reply *mx = NULL, *best = NULL;
        int prc = ares_parse_mx_reply(abuf, alen, &mx);
        if (prc == ARES_SUCCESS) {
            int nullmx = 0;
            for (struct ares_mx_reply *m = mx; m; m = m->next) {
                if (!m->host || m->host[0] == 0 || strcmp(m->host, ".") == 0)
                    nullmx = 1;
                else if (!best || m->priority < best->priority)
                    best = m;
            }
            if (nullmx)
                req_done(r, DNS_NOTFOUND, ".");
            else if (best)
                req_done(r, DNS_OK, best->host);
            else
                prc = ARES_ENODATA;
            ares_free_data(mx);
            if (prc == ARES_SUCCESS)
                return;
        }
        if (map_status(prc) == DNS_TEMPFAIL) {
            req_done(r, DNS_TEMPFAIL, NULL);
        } else {
            r->stage = ST_A;       /* answer without MX records (a CNAME only ...) */
            req_query(r, r->name, ns_t_a);
        }
        return;
    }
    /* A or AAAA answer: the domain exists for mail if it has an address. */
    int prc;
    if (r->stage == ST_A) {
        struct ares_addrttl at[8];
        int n = (int)ARRAY_LEN(at);
        prc = ares_parse_a_reply(abuf, alen, NULL, at, &n);
        if (prc == ARES_SUCCESS && n == 0)
            prc = ARES_ENODATA;
    } else {
        struct ares_addr6ttl at[8];
        int n = (int)ARRAY_LEN(at);
        prc = ares_parse_aaaa_reply(abuf, alen, NULL, at, &n);
        if (prc == ARES_SUCCESS && n == 0)
            prc = ARES_ENODATA;
    }
    if (prc == ARES_SUCCESS)
        req_done(r, DNS_OK, r->name);
    else if (map_status(prc) == DNS_TEMPFAIL)
        req_done(r, DNS_TEMPFAIL, NULL);
    else if (r->stage == ST_A) {
        r->stage = ST_AAAA;
        req_query(r, r->name, ns_t_aaaa);
    } else
        req_done(r, DNS_NOTFOUND, NULL);
}

static void on_reverse(struct dns_req *r, int st, const unsigned char *abuf, int alen)
{
    if (r->stage == ST_PTR) {
        struct hostent *he = NULL;
        if (st == DNS_OK) {
            int prc = ares_parse_ptr_reply(abuf, alen, r->addr, r->family == AF_INET ? 4 : 16,
                                           r->family, &he);
            st = map_status(prc);
        }
        if (st != DNS_OK) {
            req_done(r, st, NULL);
            return;
        }
        str_copy(r->ptr, he->h_name ? he->h_name : "", sizeof(r->ptr));
        ares_free_hostent(he);
        size_t n = strlen(r->ptr);
        if (n > 1 && r->ptr[n - 1] == '.')
            r->ptr[n - 1] = 0;
        if (!hostname_valid(r->ptr)) {
            msg_warn("%s: malformed domain name in PTR record", r->addrtext);
            req_done(r, DNS_NOTFOUND, NULL);
            return;
        }
        reverse_forward(r);
        return;
    }
    /* ST_FWD */
    if (st == DNS_OK) {
        int m = fwd_matches(r, abuf, alen);
        if (m == 1) {
            req_done(r, DNS_OK, r->ptr);
            return;
        }
        st = m == 0 ? DNS_NOTFOUND : DNS_TEMPFAIL;
    }
    if (st == DNS_NOTFOUND)
        msg_warn("hostname %s does not resolve to address %s", r->ptr, r->addrtext);
    else
        msg_warn("hostname %s does not resolve to address %s: temporary failure",
                 r->ptr, r->addrtext);
    req_done(r, st, r->ptr);
}

static void on_a(struct dns_req *r, int st, const unsigned char *abuf, int alen)
{
    if (st != DNS_OK) {
        req_done(r, st, NULL);
        return;
    }
    struct ares_addrttl at[64];
    int n = (int)ARRAY_LEN(at);
    int prc = ares_parse_a_reply(abuf, alen, NULL, at, &n);
    if (prc == ARES_SUCCESS && n == 0)
        prc = ARES_ENODATA;
    if (prc != ARES_SUCCESS) {
        req_done(r, map_status(prc), NULL);
        return;
    }
    struct buf out;
    buf_init(&out, ARRAY_LEN(at) * (INET_ADDRSTRLEN + 1));
    for (int i = 0; i < (r->kind == DK_A ? 1 : n); i++) {
        char t[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &at[i].ipaddr, t, sizeof(t));
        buf_printf(&out, "%s%s", i ? " " : "", t);
    }
    req_done(r, DNS_OK, buf_cstr(&out));
    buf_free(&out);
}

static void on_txt(struct dns_req *r, int st, const unsigned char *abuf, int alen)
{
    if (st != DNS_OK) {
        req_done(r, st, NULL);
        return;
    }
    struct ares_txt_ext *txt = NULL;
    int prc = ares_parse_txt_reply_ext(abuf, alen, &txt);
    if (prc != ARES_SUCCESS) {
        req_done(r, map_status(prc), NULL);
        return;
    }
    struct buf b;
    buf_init(&b, DNS_TXT_MAX);
    for (struct ares_txt_ext *t = txt; t; t = t->next) {
        if (t->record_start && b.len > 0 && buf_putc(&b, '\n') < 0)
            break;
        if (buf_append(&b, t->txt, t->length) < 0)
            break;
    }
    ares_free_data(txt);
    req_done(r, DNS_OK, buf_cstr(&b));
    buf_free(&b);
}

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct dns_req *r = arg;
    (void)timeouts;
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || r->cancelled ||
        r->d->freeing) {
        list_remove(&r->d->active, r);
        req_free(r);
        return;
    }
    int st = map_status(status);
    switch (r->kind) {
    case DK_DOMAIN:
        on_domain(r, status, abuf, alen);
        break;
    case DK_REVERSE:
        on_reverse(r, st, abuf, alen);
        break;
    case DK_A:
    case DK_A_ALL:
        on_a(r, st, abuf, alen);
        break;
    case DK_TXT:
        on_txt(r, st, abuf, alen);
        break;
    }
}

/* ---------- hosts file ---------- */

/* Reload the hosts file when it changed; NULL when there is none. */
static const char *hosts_text(struct dns *d)
{
    struct stat st;
    if (stat(d->hosts_path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DNS_HOSTS_MAX) {
        free(d->hosts);
        d->hosts = NULL;
        d->hosts_mtime = 0;
        return NULL;
    }
    if (d->hosts && st.st_mtime == d->hosts_mtime && st.st_size == d->hosts_size &&
        st.st_ino == d->hosts_ino)
        return d->hosts;
    free(d->hosts);
    d->hosts = read_file(d->hosts_path, DNS_HOSTS_MAX, NULL);
    d->hosts_mtime = st.st_mtime;
    d->hosts_size = st.st_size;
    d->hosts_ino = st.st_ino;
    return d->hosts;
}

/*
 * Walk the hosts file: for each line, fn(addr field, names ...). Fields are
 * copied into bounded buffers; a line with an over-long field is skipped.
 * fn returns nonzero to stop.
 */
typedef int (*hosts_fn)(int family, const unsigned char *a, char **names, int nnames, void *ctx);

static void hosts_walk(struct dns *d, hosts_fn fn, void *ctx)
{
    const char *p = hosts_text(d);
    if (!p)
        return;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        char line[1024];
        if (len < sizeof(line)) {
            memcpy(line, p, len);
            line[len] = 0;
            char *hash = strchr(line, '#');
            if (hash)
                *hash = 0;
            char *save = NULL, *f[34];
            int nf = 0;
            for (char *t = strtok_r(line, " \t\r", &save); t && nf < (int)ARRAY_LEN(f);
                 t = strtok_r(NULL, " \t\r", &save))
                f[nf++] = t;
            unsigned char a[16];
            if (nf >= 2) {
                if (inet_pton(AF_INET, f[0], a) == 1) {
                    if (fn(AF_INET, a, f + 1, nf - 1, ctx))
                        return;
                } else if (inet_pton(AF_INET6, f[0], a) == 1) {
                    if (fn(AF_INET6, a, f + 1, nf - 1, ctx))
                        return;
                }
            }
        }
        if (!eol)
            break;
        p = eol + 1;
    }
}

struct hosts_rev_ctx {
    int family;
    const unsigned char *addr;
    char *out;
    size_t outlen;
    int found;
};

static int hosts_rev_fn(int family, const unsigned char *a, char **names, int nnames, void *ctx)
{
    struct hosts_rev_ctx *c = ctx;
    (void)nnames;
    if (family != c->family || memcmp(a, c->addr, family == AF_INET ? 4 : 16) != 0)
        return 0;
    str_copy(c->out, names[0], c->outlen);
    c->found = 1;
    return 1;
}

static int hosts_reverse(struct dns *d, int family, const unsigned char *addr, char *out,
                         size_t outlen)
{
    struct hosts_rev_ctx c = {family, addr, out, outlen, 0};
    hosts_walk(d, hosts_rev_fn, &c);
    return c.found;
}

struct hosts_fwd_ctx {
    const char *name;
    int family;
    const unsigned char *addr;
    int named, match;
};

static int hosts_fwd_fn(int family, const unsigned char *a, char **names, int nnames, void *ctx)
{
    struct hosts_fwd_ctx *c = ctx;
    for (int i = 0; i < nnames; i++) {
        if (str_ieq(names[i], c->name)) {
            c->named = 1;
            if (family == c->family && memcmp(a, c->addr, family == AF_INET ? 4 : 16) == 0) {
                c->match = 1;
                return 1;
            }
        }
    }
    return 0;
}

/* 1: name listed with this address; 0: name listed, other addresses; -1: not listed. */
static int hosts_forward(struct dns *d, const char *name, int family, const unsigned char *addr)
{
    struct hosts_fwd_ctx c = {name, family, addr, 0, 0};
    hosts_walk(d, hosts_fwd_fn, &c);
    return c.match ? 1 : c.named ? 0 : -1;
}

/* ---------- public API ---------- */

struct dns *dns_new(struct evloop *loop)
{
    return dns_new_opts(loop, 0, 0);
}

struct dns *dns_new_opts(struct evloop *loop, int timeout_ms, int tries)
{
    static int lib_ready;
    struct ares_options o;
    int mask = ARES_OPT_SOCK_STATE_CB;
    int rc;

    if (!lib_ready) {
        if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS)
            msg_fatal("ares_library_init: %s", ares_strerror(rc));
        lib_ready = 1;
    }
    struct dns *d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    memset(&o, 0, sizeof(o));
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = d;
    if (timeout_ms > 0) {
        o.timeout = timeout_ms;
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (tries > 0) {
        o.tries = tries;
        mask |= ARES_OPT_TRIES;
    }
    if ((rc = ares_init_options(&d->ch, &o, mask)) != ARES_SUCCESS)
        msg_fatal("dns: resolver initialization failed: %s", ares_strerror(rc));
    const char *servers = getenv("YUBIN_DNS_SERVERS");
    if (servers && *servers) {
        if ((rc = ares_set_servers_ports_csv(d->ch, servers)) != ARES_SUCCESS)
            msg_fatal("dns: bad YUBIN_DNS_SERVERS \"%s\": %s", servers, ares_strerror(rc));
    }
    const char *hosts = getenv("YUBIN_DNS_HOSTS");
    d->hosts_path = xstrdup(hosts && *hosts ? hosts : "/etc/hosts");
    return d;
}

void dns_free(struct dns *d)
{
    if (!d)
        return;
    d->freeing = 1;
    ares_destroy(d->ch);           /* calls back with ARES_EDESTRUCTION: requests freed */
    while (d->active.head) {       /* in case c-ares did not */
        struct dns_req *r = d->active.head;
        list_remove(&d->active, r);
        req_free(r);
    }
    while (d->done.head) {
        struct dns_req *r = d->done.head;
        list_remove(&d->done, r);
        req_free(r);
    }
    for (size_t i = 0; i < d->nfds; i++)
        ev_fd_del(d->loop, d->fds[i]);
    if (d->timer)
        ev_timer_cancel(d->loop, d->timer);
    if (d->deliver)
        ev_timer_cancel(d->loop, d->deliver);
    free(d->fds);
    free(d->hosts);
    free(d->hosts_path);
    free(d);
}

static struct dns_req *req_new(struct dns *d, enum dns_kind kind, const char *name, dns_cb cb,
                               void *arg)
{
    struct dns_req *r = xcalloc(1, sizeof(*r));
    r->d = d;
    r->kind = kind;
    r->cb = cb;
    r->arg = arg;
    str_copy(r->name, name ? name : "", sizeof(r->name));
    list_push(&d->active, r);
    d->npending++;
    return r;
}

/* Names c-ares should never see: empty, too long, or with bytes DNS cannot carry here. */
static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > ADDR_DOMAIN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 0x7f)
            return 0;
    }
    return 1;
}

static void start(struct dns_req *r, enum dns_stage stage, int type)
{
    struct dns *d = r->d;          /* r may be gone when ares_query returns */
    r->stage = stage;
    if (!name_ok(r->name)) {
        req_done(r, DNS_NOTFOUND, NULL);
        return;
    }
    req_query(r, r->name, type);
    dns_arm(d);
}

void dns_domain_exists(struct dns *d, const char *domain, dns_cb cb, void *arg)
{
    start(req_new(d, DK_DOMAIN, domain, cb, arg), ST_MX, ns_t_mx);
}

void dns_lookup_a(struct dns *d, const char *name, dns_cb cb, void *arg)
{
    start(req_new(d, DK_A, name, cb, arg), ST_A, ns_t_a);
}

void dns_lookup_a_all(struct dns *d, const char *name, dns_cb cb, void *arg)
{
    start(req_new(d, DK_A_ALL, name, cb, arg), ST_A, ns_t_a);
}

void dns_lookup_txt(struct dns *d, const char *name, dns_cb cb, void *arg)
{
    start(req_new(d, DK_TXT, name, cb, arg), ST_TXT, ns_t_txt);
}

int dns_ptr_name(const struct sockaddr *sa, char *out, size_t outlen)
{
    const unsigned char *a;
    if (sa->sa_family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        return str_fmt(out, outlen, "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
    static const char hex[] = "0123456789abcdef";
    char buf[80];
    size_t n = 0;
    for (int i = 15; i >= 0; i--) {
        buf[n++] = hex[a[i] & 15];
        buf[n++] = '.';
        buf[n++] = hex[a[i] >> 4];
        buf[n++] = '.';
    }
    buf[n] = 0;
    return str_fmt(out, outlen, "%sip6.arpa", buf);
}

void dns_reverse(struct dns *d, const struct sockaddr *sa, socklen_t salen, dns_cb cb, void *arg)
{
    struct dns_req *r = req_new(d, DK_REVERSE, "", cb, arg);
    r->stage = ST_PTR;
    if (sa->sa_family == AF_INET && salen >= (socklen_t)sizeof(struct sockaddr_in)) {
        r->family = AF_INET;
        memcpy(r->addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && salen >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            r->family = AF_INET;
            memcpy(r->addr, a6->s6_addr + 12, 4);
        } else {
            r->family = AF_INET6;
            memcpy(r->addr, a6->s6_addr, 16);
        }
    } else {
        req_done(r, DNS_NOTFOUND, NULL);
        return;
    }
    inet_ntop(r->family, r->addr, r->addrtext, sizeof(r->addrtext));

    /* hosts file first, as "hosts: files dns" */
    if (hosts_reverse(d, r->family, r->addr, r->ptr, sizeof(r->ptr))) {
        reverse_forward(r);
        dns_arm(d);
        return;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = (sa_family_t)r->family;
    if (r->family == AF_INET)
        memcpy(&((struct sockaddr_in *)(void *)&ss)->sin_addr, r->addr, 4);
    else
        memcpy(&((struct sockaddr_in6 *)(void *)&ss)->sin6_addr, r->addr, 16);
    dns_ptr_name((struct sockaddr *)&ss, r->name, sizeof(r->name));
    req_query(r, r->name, ns_t_ptr);
    dns_arm(d);
}

void dns_cancel(struct dns *d, void *arg)
{
    for (struct dns_req *r = d->active.head; r; r = r->next)
        if (r->arg == arg && !r->cancelled) {
            r->cancelled = 1;
            d->npending--;
        }
    for (struct dns_req *r = d->done.head; r; r = r->next)
        if (r->arg == arg && !r->cancelled) {
            r->cancelled = 1;
            d->npending--;
        }
}

int dns_pending(const struct dns *d)
{
    return d->npending;
}
