/*
 * dns.c - the resolver (see dns.h).
 *
 * One c-ares channel per struct dns, set up by channel_init() for both
 * modes. Every question is built here with the AD bit set (RFC 6840 5.7,
 * so a validating resolver reports what it validated) and every reply is
 * parsed here (dns_parse_answer), so all record types come with TTLs.
 *
 * Event-loop mode: c-ares tells us which sockets it wants
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
#include "lib-dns/dns.h"
#include "lib-mail/addr.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/buf.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DNS_TXT_MAX    4096
#define DNS_HOSTS_MAX  (4 * 1024 * 1024)   /* ignore absurdly large hosts files */

enum dns_kind { DK_DOMAIN, DK_REVERSE, DK_A, DK_A_ALL, DK_TXT, DK_TYPED };
enum dns_stage { ST_MX, ST_A, ST_AAAA, ST_PTR, ST_FWD, ST_TXT, ST_TYPED };

struct dns_req {
    struct dns *d;
    struct dns_req *prev, *next;   /* d->active (in c-ares) or d->done queue */
    dns_cb cb;
    dns_answer_cb acb;             /* DK_TYPED */
    struct dns_answer answer;      /* DK_TYPED: what acb gets */
    int qtype;                     /* DK_TYPED */
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
    dns_answer_free(&r->answer);
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
    if (!d->loop)
        return;                    /* blocking mode polls ares_getsock() itself */
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
    if (d->freeing || !d->active.head || !d->loop)
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
            if (r->kind == DK_TYPED)
                r->acb(&r->answer, r->arg);
            else
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

/* ---------- typed answers ---------- */

void dns_answer_free(struct dns_answer *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->rr[i].data);
    free(a->rr);
    a->rr = NULL;
    a->n = 0;
}

static unsigned get16(const unsigned char *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

/*
 * Expand the (possibly compressed) name at p; its length in the message goes
 * to *used. 0, -1 malformed, 1 (host_only) a name no host has.
 */
static int get_name(const unsigned char *msg, size_t len, const unsigned char *p, char *out,
                    size_t outlen, long *used, int host_only)
{
    char *name = NULL;
    if (ares_expand_name(p, msg, (int)len, &name, used) != ARES_SUCCESS)
        return -1;
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        name[--n] = '\0';
    int ok = n < outlen;
    /* c-ares writes bytes no host name has ('.' inside a label, controls) as
     * "\." or "\DDD": such a target names no host we could reach */
    int odd = host_only && strchr(name, '\\') != NULL;
    if (ok)
        memcpy(out, name, n + 1);
    ares_free_string(name);
    return !ok ? -1 : odd ? 1 : 0;
}

/* TXT: the character-strings of one record joined. */
static int get_txt(struct dns_rr *rr, const unsigned char *p, size_t rdlen)
{
    rr->data = xmalloc(rdlen + 1);
    for (size_t i = 0; i < rdlen;) {
        size_t sl = p[i++];
        if (sl > rdlen - i)
            return -1;
        if (rr->len + sl <= DNS_RDATA_MAX) {
            memcpy(rr->data + rr->len, p + i, sl);
            rr->len += sl;
        }
        i += sl;
    }
    rr->data[rr->len] = '\0';
    return 0;
}

/* The data of one record of the asked type. 0, 1 to skip it (a target no host
 * has, as Postfix skips them), or -1 when malformed. */
static int get_rdata(const unsigned char *msg, size_t len, const unsigned char *p, size_t rdlen,
                     struct dns_rr *rr)
{
    long used;
    switch (rr->type) {
    case DNS_T_A:
    case DNS_T_AAAA: {
        size_t al = rr->type == DNS_T_A ? 4 : 16;
        if (rdlen != al)
            return -1;
        rr->family = rr->type == DNS_T_A ? AF_INET : AF_INET6;
        memcpy(rr->addr, p, al);
        inet_ntop(rr->family, rr->addr, rr->text, sizeof(rr->text));
        return 0;
    }
    case DNS_T_MX:
        if (rdlen < 3)
            return -1;
        rr->pref = (int)get16(p);
        return get_name(msg, len, p + 2, rr->name, sizeof(rr->name), &used, 1);
    case DNS_T_SRV:
        if (rdlen < 7)
            return -1;
        rr->pref = (int)get16(p);
        rr->weight = (int)get16(p + 2);
        rr->port = (int)get16(p + 4);
        return get_name(msg, len, p + 6, rr->name, sizeof(rr->name), &used, 1);
    case DNS_T_PTR:
    case DNS_T_CNAME:
        return get_name(msg, len, p, rr->name, sizeof(rr->name), &used, 1);
    case DNS_T_TXT:
        return get_txt(rr, p, rdlen);
    case DNS_T_TLSA:
        if (rdlen < 3 || rdlen - 3 > DNS_RDATA_MAX)
            return -1;
        rr->usage = p[0];
        rr->selector = p[1];
        rr->mtype = p[2];
        rr->len = rdlen - 3;
        rr->data = xmalloc(rr->len + 1);
        memcpy(rr->data, p + 3, rr->len);
        rr->data[rr->len] = '\0';
        return 0;
    default:
        return -1;
    }
}

int dns_parse_answer(const unsigned char *msg, size_t len, int qtype, struct dns_answer *out)
{
    memset(out, 0, sizeof(*out));
    out->status = DNS_TEMPFAIL;
    if (len < 12 || len > 65535)
        return out->status;
    out->ad = (msg[3] & 0x20) != 0;
    unsigned rcode = msg[3] & 0x0f, qd = get16(msg + 4), an = get16(msg + 6);
    if (rcode == 3)
        return out->status = DNS_NOTFOUND;
    if (rcode != 0)
        return out->status;
    const unsigned char *p = msg + 12, *end = msg + len;
    char name[DNS_NAME_MAX + 2];
    long used;
    for (unsigned i = 0; i < qd; i++) {
        if (get_name(msg, len, p, name, sizeof(name), &used, 0) < 0 || used > end - p ||
            end - p - used < 4)
            return out->status;
        p += used + 4;
    }
    out->rr = xcalloc(DNS_RR_MAX, sizeof(*out->rr));
    for (unsigned i = 0; i < an; i++) {
        if (get_name(msg, len, p, name, sizeof(name), &used, 0) < 0 || used > end - p ||
            end - p - used < 10)
            goto malformed;
        p += used;
        int type = (int)get16(p), cls = (int)get16(p + 2);
        unsigned ttl = (unsigned)get16(p + 4) << 16 | get16(p + 6);
        size_t rdlen = get16(p + 8);
        p += 10;
        if (rdlen > (size_t)(end - p))
            goto malformed;
        if (type == qtype && cls == ns_c_in && out->n < DNS_RR_MAX) {
            struct dns_rr *rr = &out->rr[out->n];
            rr->type = type;
            rr->ttl = ttl > 0x7fffffffu ? 0 : ttl;     /* RFC 2181 8: "positive values" */
            int rc = get_rdata(msg, len, p, rdlen, rr);
            if (rc != 0) {
                free(rr->data);
                memset(rr, 0, sizeof(*rr));
                if (rc < 0)
                    goto malformed;
            } else {
                out->n++;
            }
        }
        p += rdlen;
    }
    out->status = out->n ? DNS_OK : DNS_NODATA;
    return out->status;
malformed:
    dns_answer_free(out);
    out->status = DNS_TEMPFAIL;
    return out->status;
}

/* The answer to one c-ares query, whatever the outcome. */
static void answer_from(int status, const unsigned char *abuf, int alen, int qtype,
                        struct dns_answer *out)
{
    if (status == ARES_SUCCESS && abuf && alen > 0) {
        dns_parse_answer(abuf, (size_t)alen, qtype, out);
        return;
    }
    memset(out, 0, sizeof(*out));
    switch (status) {
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
        out->status = DNS_NOTFOUND;
        break;
    case ARES_ENODATA:
        out->status = DNS_NODATA;
        break;
    default:                       /* SERVFAIL, REFUSED, timeout, bad reply ... */
        out->status = DNS_TEMPFAIL;
    }
}

/* The composite lookups' view: no data is "not found". */
static int simple_status(const struct dns_answer *a)
{
    return a->status == DNS_NODATA ? DNS_NOTFOUND : a->status;
}

static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen);

/* Send one question with RD and AD set; cb(arg, ...) as ares_query's. */
static void send_query(struct dns *d, const char *name, int type, ares_callback cb, void *arg)
{
    unsigned char *q = NULL;
    int qlen = 0;
    int rc = ares_create_query(name, ns_c_in, type, 0, 1, &q, &qlen, 0);
    if (rc != ARES_SUCCESS || qlen < 12) {
        if (q)
            ares_free_string(q);
        cb(arg, rc == ARES_SUCCESS ? ARES_EBADQUERY : rc, 0, NULL, 0);
        return;
    }
    q[3] |= 0x20;                  /* AD: tell us what the resolver validated */
    ares_send(d->ch, q, qlen, cb, arg);
    ares_free_string(q);
}

static void req_query(struct dns_req *r, const char *name, int type)
{
    r->qtype = type;
    send_query(r->d, name, type, query_cb, r);
}

/* Does the A/AAAA answer contain the client address? */
static int fwd_matches(const struct dns_req *r, const struct dns_answer *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->rr[i].family == r->family &&
            memcmp(a->rr[i].addr, r->addr, r->family == AF_INET ? 4 : 16) == 0)
            return 1;
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

/* MX, else A, else AAAA: does the domain exist for mail? */
static void on_domain(struct dns_req *r, const struct dns_answer *a)
{
    if (a->status == DNS_TEMPFAIL || a->status == DNS_NOTFOUND) {
        req_done(r, a->status, NULL);      /* NXDOMAIN: no point asking for A */
        return;
    }
    if (a->status == DNS_OK && r->stage == ST_MX) {
        const struct dns_rr *best = NULL;
        for (size_t i = 0; i < a->n; i++) {
            if (!a->rr[i].name[0]) {
                req_done(r, DNS_NOTFOUND, ".");   /* null MX (RFC 7505) */
                return;
            }
            if (!best || a->rr[i].pref < best->pref)
                best = &a->rr[i];
        }
        req_done(r, DNS_OK, best->name);
        return;
    }
    if (a->status == DNS_OK) {
        req_done(r, DNS_OK, r->name);      /* an address: the domain exists for mail */
        return;
    }
    if (r->stage == ST_MX) {               /* no MX records (a CNAME only ...) */
        r->stage = ST_A;
        req_query(r, r->name, ns_t_a);
    } else if (r->stage == ST_A) {
        r->stage = ST_AAAA;
        req_query(r, r->name, ns_t_aaaa);
    } else {
        req_done(r, DNS_NOTFOUND, NULL);
    }
}

static void on_reverse(struct dns_req *r, const struct dns_answer *a)
{
    int st = simple_status(a);
    if (r->stage == ST_PTR) {
        if (st != DNS_OK) {
            req_done(r, st, NULL);
            return;
        }
        str_copy(r->ptr, a->rr[0].name, sizeof(r->ptr));
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
        if (fwd_matches(r, a)) {
            req_done(r, DNS_OK, r->ptr);
            return;
        }
        st = DNS_NOTFOUND;
    }
    if (st == DNS_NOTFOUND)
        msg_warn("hostname %s does not resolve to address %s", r->ptr, r->addrtext);
    else
        msg_warn("hostname %s does not resolve to address %s: temporary failure",
                 r->ptr, r->addrtext);
    req_done(r, st, r->ptr);
}

static void on_a(struct dns_req *r, const struct dns_answer *a)
{
    if (a->status != DNS_OK) {
        req_done(r, simple_status(a), NULL);
        return;
    }
    struct buf out;
    buf_init(&out, DNS_RR_MAX * (INET_ADDRSTRLEN + 1));
    for (size_t i = 0; i < (r->kind == DK_A ? 1 : a->n); i++)
        buf_printf(&out, "%s%s", i ? " " : "", a->rr[i].text);
    req_done(r, DNS_OK, buf_cstr(&out));
    buf_free(&out);
}

static void on_txt(struct dns_req *r, const struct dns_answer *a)
{
    if (a->status != DNS_OK) {
        req_done(r, simple_status(a), NULL);
        return;
    }
    struct buf b;
    buf_init(&b, DNS_TXT_MAX);
    for (size_t i = 0; i < a->n; i++) {
        if (i > 0 && buf_putc(&b, '\n') < 0)
            break;
        if (buf_append(&b, (const char *)a->rr[i].data, a->rr[i].len) < 0)
            break;
    }
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
    struct dns_answer a;
    answer_from(status, abuf, alen, r->qtype, &a);
    switch (r->kind) {
    case DK_DOMAIN:
        on_domain(r, &a);
        break;
    case DK_REVERSE:
        on_reverse(r, &a);
        break;
    case DK_A:
    case DK_A_ALL:
        on_a(r, &a);
        break;
    case DK_TXT:
        on_txt(r, &a);
        break;
    case DK_TYPED:
        r->answer = a;                     /* the callback gets it; req_free frees it */
        a.rr = NULL;
        a.n = 0;
        req_done(r, r->answer.status, NULL);
        break;
    }
    dns_answer_free(&a);
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

/* One channel set-up for both modes. 0, or -1 with err set. */
static int channel_init(struct dns *d, int timeout_ms, int tries, char *err, size_t errlen)
{
    static int lib_ready;
    struct ares_options o;
    int mask = ARES_OPT_SOCK_STATE_CB;
    int rc;
    if (!lib_ready) {
        if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
            str_fmt(err, errlen, "ares_library_init: %s", ares_strerror(rc));
            return -1;
        }
        lib_ready = 1;
    }
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
    if ((rc = ares_init_options(&d->ch, &o, mask)) != ARES_SUCCESS) {
        str_fmt(err, errlen, "dns: resolver initialization failed: %s", ares_strerror(rc));
        return -1;
    }
    const char *servers = getenv("YUBIN_DNS_SERVERS");
    if (servers && *servers && (rc = ares_set_servers_ports_csv(d->ch, servers)) != ARES_SUCCESS) {
        str_fmt(err, errlen, "dns: bad YUBIN_DNS_SERVERS \"%s\": %s", servers, ares_strerror(rc));
        ares_destroy(d->ch);
        return -1;
    }
    const char *hosts = getenv("YUBIN_DNS_HOSTS");
    d->hosts_path = xstrdup(hosts && *hosts ? hosts : "/etc/hosts");
    return 0;
}

struct dns *dns_new_opts(struct evloop *loop, int timeout_ms, int tries)
{
    char err[512];
    struct dns *d = xcalloc(1, sizeof(*d));
    d->loop = loop;
    if (channel_init(d, timeout_ms, tries, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    return d;
}

struct dns *dns_new_blocking(int timeout_ms, int tries)
{
    char err[512];
    struct dns *d = xcalloc(1, sizeof(*d));
    if (channel_init(d, timeout_ms, tries, err, sizeof(err)) < 0) {
        msg_warn("%s", err);
        free(d);
        return NULL;
    }
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
    INVARIANT(d->loop || (d->nfds == 0 && !d->timer && !d->deliver));
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

void dns_query(struct dns *d, const char *name, int type, dns_answer_cb cb, void *arg)
{
    INVARIANT(d->loop);
    struct dns_req *r = req_new(d, DK_TYPED, name, NULL, arg);
    r->acb = cb;
    r->answer.status = DNS_NOTFOUND;       /* what a name never sent gets */
    start(r, ST_TYPED, type);
}

/* Blocking mode: wait for the channel's one outstanding query. */
static void wait_channel(struct dns *d, const int *done)
{
    while (!*done) {
        ares_socket_t socks[ARES_GETSOCK_MAXNUM];
        /* the bit tests by hand: c-ares' macros shift a signed 1 into the sign bit */
        unsigned bits = (unsigned)ares_getsock(d->ch, socks, ARES_GETSOCK_MAXNUM);
        struct pollfd p[ARES_GETSOCK_MAXNUM];
        int n = 0;
        for (unsigned i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
            short ev = (short)(((bits >> i) & 1u ? POLLIN : 0) |
                               ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
            if (ev)
                p[n++] = (struct pollfd){.fd = socks[i], .events = ev};
        }
        struct timeval tv, *tvp = ares_timeout(d->ch, NULL, &tv);
        if (n == 0 && !tvp) {
            ares_cancel(d->ch);            /* nothing to wait for: should not happen */
            return;
        }
        int ms = tvp ? (int)(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000) : 1000;
        int rc = poll(p, (nfds_t)n, ms);
        if (rc < 0 && errno != EINTR) {
            ares_cancel(d->ch);
            return;
        }
        if (rc <= 0) {
            ares_process_fd(d->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (!p[i].revents)
                continue;
            int rd = (p[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
            int wr = (p[i].revents & POLLOUT) != 0;
            ares_process_fd(d->ch, rd ? p[i].fd : ARES_SOCKET_BAD, wr ? p[i].fd : ARES_SOCKET_BAD);
        }
    }
}

struct wait_ctx {
    int done;
    int qtype;
    struct dns_answer *out;
};

static void wait_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    struct wait_ctx *w = arg;
    (void)timeouts;
    if (w->done)
        return;
    answer_from(status, abuf, alen, w->qtype, w->out);
    w->done = 1;
}

int dns_query_wait(struct dns *d, const char *name, int type, struct dns_answer *out)
{
    INVARIANT(!d->loop);
    memset(out, 0, sizeof(*out));
    out->status = DNS_NOTFOUND;
    if (!name_ok(name))
        return out->status;
    struct wait_ctx w = {0, type, out};
    send_query(d, name, type, wait_cb, &w);
    wait_channel(d, &w.done);
    if (!w.done) {                         /* cancelled: c-ares called back, or will not */
        out->status = DNS_TEMPFAIL;
        w.done = 1;
    }
    return out->status;
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

/* ---------- DNS list reply filters ---------- */

int dns_reply_filter_valid(const char *filter)
{
    /* four octet patterns: digits, or [a;b..c] */
    int octets = 1, br = 0;
    for (const char *p = filter; *p; p++) {
        if (*p == '[' && !br)
            br = 1;
        else if (*p == ']' && br)
            br = 0;
        else if (*p == '.' && !br)
            octets++;
        else if (!isdigit((unsigned char)*p) && !(br && (*p == ';' || *p == '.')))
            return -1;
    }
    return !br && octets == 4 ? 0 : -1;
}

/* Does one octet value match a pattern: a number or "[a;b..c;...]"? */
static int octet_match(const char *pat, size_t plen, int val)
{
    if (plen >= 2 && pat[0] == '[' && pat[plen - 1] == ']') {
        const char *p = pat + 1, *end = pat + plen - 1;
        while (p < end) {
            const char *semi = memchr(p, ';', (size_t)(end - p));
            const char *e = semi ? semi : end;
            int lo = 0, hi;
            const char *q = p;
            while (q < e && isdigit((unsigned char)*q) && lo < 1000)
                lo = lo * 10 + (*q++ - '0');
            hi = lo;
            if (q + 1 < e && q[0] == '.' && q[1] == '.') {
                hi = 0;
                for (q += 2; q < e && isdigit((unsigned char)*q) && hi < 1000; q++)
                    hi = hi * 10 + (*q - '0');
            }
            if (val >= lo && val <= hi)
                return 1;
            p = e + 1;
        }
        return 0;
    }
    int n = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)pat[i]) || n >= 1000)
            return 0;
        n = n * 10 + (pat[i] - '0');
    }
    return plen > 0 && n == val;
}

int dns_reply_filter_match(const char *filter, const char *addr)
{
    unsigned char a[4];
    if (inet_pton(AF_INET, addr, a) != 1)
        return 0;
    const char *p = filter;
    for (int i = 0; i < 4; i++) {
        /* the next '.' outside [...] ends this octet pattern */
        const char *q = p;
        int br = 0;
        while (*q && (br || *q != '.')) {
            if (*q == '[')
                br = 1;
            else if (*q == ']')
                br = 0;
            else if (br && *q == '.' && q[1] == '.') {
                q += 2;
                continue;
            }
            q++;
        }
        if (!octet_match(p, (size_t)(q - p), a[i]))
            return 0;
        if (i < 3 && *q != '.')
            return 0;
        p = q + 1;
    }
    return 1;
}
