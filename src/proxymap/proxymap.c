/*
 * proxymap.c - the proxymap service (Postfix's proxymap(8), read-only):
 * a small pool of blocking processes where lookups that may be slow run,
 * so that the event-loop processes (smtpd, qmgr, auth) never wait for a
 * remote table. Clients: lib-table/table_async.c; protocol:
 * lib-table/tableproto.h; socket I/O: proxymap_io.c.
 *
 * Owns: which tables may be opened here and keeping them open. A client
 * names a table by its spec; the service opens only tables that the
 * configuration lists in proxy_read_maps (Postfix's default lists every
 * parameter that holds tables), so a stranger who reaches the socket
 * cannot make it open arbitrary files: as in Postfix, an element
 * "proxy:TYPE:NAME" approves TYPE:NAME; yubin also approves remote types
 * (socketmap:, pgsql:, mysql:, ldap:) written without proxy:, because event-loop processes send
 * those here whether they carry the prefix or not. Anything else is
 * answered "denied" and logged.
 *
 * Each process serves one connection (one request) at a time and waits
 * in place for the table: master.cf's process limit is the number of
 * lookups that may be slow at once.
 */
#include "proxymap/proxymap.h"
#include "proxymap/proxymap_role.h"
#include "lib-conf/config.h"
#include "lib-master/stopsig.h"
#include "lib-master/worker.h"
#include "lib-table/table.h"
#include "lib-table/tableproto.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

struct pmap_open {
    char *spec;
    struct table *t;
    struct pmap_open *next;
};

struct pmap_tables {
    const struct config *cfg;
    char **approved;            /* specs, without proxy: */
    size_t napproved;
    struct pmap_open *open;
};

/* Types whose lookups are always sent here from event loops (table.h TABLE_F_REMOTE). */
static int remote_type(const char *spec)
{
    return strncasecmp(spec, "socketmap:", 10) == 0 || strncasecmp(spec, "pgsql:", 6) == 0 ||
           strncasecmp(spec, "mysql:", 6) == 0 || strncasecmp(spec, "ldap:", 5) == 0 ||
           strncasecmp(spec, "dovecot-", 8) == 0;
}

struct pmap_tables *proxymap_tables_new(const struct config *cfg)
{
    struct pmap_tables *pt = xcalloc(1, sizeof(*pt));
    pt->cfg = cfg;
    const char *v = cfg_get(cfg, P_proxy_read_maps);
    size_t n = 0;
    char **list = str_split_list(v ? v : "", &n);
    pt->approved = xcalloc(n + 1, sizeof(*pt->approved));
    for (size_t i = 0; i < n; i++) {
        const char *s = list[i];
        int proxied = 0;
        while (strncasecmp(s, "proxy:", 6) == 0) {
            s += 6;
            proxied = 1;
        }
        /* sql:FILE is only ever an auth source (dovecot-sql.conf.ext). */
        if (strchr(s, ':') && (proxied || remote_type(s) || strncasecmp(s, "sql:", 4) == 0))
            pt->approved[pt->napproved++] = xstrdup(s);
    }
    strv_free(list);
    return pt;
}

void proxymap_tables_free(struct pmap_tables *pt)
{
    if (!pt)
        return;
    while (pt->open) {
        struct pmap_open *o = pt->open;
        pt->open = o->next;
        table_close(o->t);
        free(o->spec);
        free(o);
    }
    for (size_t i = 0; i < pt->napproved; i++)
        free(pt->approved[i]);
    free(pt->approved);
    free(pt);
}

int proxymap_approved(const struct pmap_tables *pt, const char *spec)
{
    /* The auth service asks for its sql:FILE / ldap:FILE sources as
     * dovecot-sql:FILE / dovecot-ldap:FILE (table_dovecot.c). */
    if (strncasecmp(spec, "dovecot-sql:", 12) == 0 || strncasecmp(spec, "dovecot-ldap:", 13) == 0)
        spec += 8;
    for (size_t i = 0; i < pt->napproved; i++)
        if (strcmp(pt->approved[i], spec) == 0)
            return 1;
    return 0;
}

/* The open table for spec (opened on first use), or NULL with err. */
static struct table *pmap_table(struct pmap_tables *pt, const char *spec, char *err,
                                size_t errlen)
{
    for (struct pmap_open *o = pt->open; o; o = o->next)
        if (strcmp(o->spec, spec) == 0)
            return o->t;
    struct table *t = table_open(spec, pt->cfg, err, errlen);
    if (!t)
        return NULL;
    struct pmap_open *o = xcalloc(1, sizeof(*o));
    o->spec = xstrdup(spec);
    o->t = t;
    o->next = pt->open;
    pt->open = o;
    return t;
}

void proxymap_answer(struct pmap_tables *pt, char *line, size_t len, struct buf *reply)
{
    struct tproto_request req;
    const char *why;
    buf_reset(reply);
    if (tproto_request_parse(line, len, &req, &why) < 0) {
        msg_warn("malformed proxymap request: %s", why);
        tproto_reply_encode(reply, TP_TEMPFAIL, "malformed request");
        return;
    }
    if (!proxymap_approved(pt, req.spec)) {
        msg_warn("request for unapproved table: \"%s\" (not in proxy_read_maps)", req.spec);
        tproto_reply_encode(reply, TP_DENIED, "table not approved by proxy_read_maps");
        return;
    }
    char err[512];
    struct table *t = pmap_table(pt, req.spec, err, sizeof(err));
    if (!t) {
        msg_warn("%s", err);
        tproto_reply_encode(reply, TP_TEMPFAIL, "table cannot be opened");
        return;
    }
    struct buf value;
    buf_init(&value, TPROTO_VALUE_MAX + 1);
    int rc = req.exact ? table_lookup_exact(t, req.key, &value) : table_lookup(t, req.key, &value);
    if (rc == TABLE_FOUND)
        tproto_reply_encode(reply, TP_FOUND, buf_cstr(&value));
    else if (rc == TABLE_NOTFOUND)
        tproto_reply_encode(reply, TP_NOTFOUND, "");
    else
        tproto_reply_encode(reply, TP_TEMPFAIL, "table lookup failed");
    buf_free(&value);
}

int proxymap_main(struct worker *w)
{
    worker_stop_signals((const int[]){SIGTERM, SIGINT, 0});
    struct pmap_tables *pt = proxymap_tables_new(w->cfg);
    msg_info("proxymap ready: %zu approved table(s)", pt->napproved);
    while (w->nlisten > 0) {
        int fd = worker_accept(w->listen_fds[0], SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno)
                msg_warn("accept: %s", strerror(errno));
            break;
        }
        proxymap_serve(fd, pt);
    }
    proxymap_tables_free(pt);
    return 0;
}
