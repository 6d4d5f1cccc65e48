/*
 * expand.c - from envelope recipients to delivery units.
 *
 * Owns Postfix's address rewriting as qmgr applies it: a REDIRECT
 * action replaces the recipients, virtual_alias_maps expand recursively
 * (resolve_virtual_alias), addresses in local domains go through
 * alias_maps (aliases(5): addresses, "|command", "/file", "\user"),
 * and each final address gets a transport (resolve_transport); a content
 * filter (the envelope's "filter": content_filter or a FILTER action)
 * takes every final address before alias_maps, and "no_address_mappings"
 * (receive_override_options on the reinjection service) skips
 * virtual_alias_maps, as Postfix's cleanup does after a filter. Units are
 * de-duplicated per message, as Postfix suppresses duplicate recipients.
 * A table that cannot be read, or a virtual alias expansion over
 * virtual_alias_expansion_limit / virtual_alias_recursion_limit, defers the
 * recipient (expanded again on retry, as Postfix's cleanup says "try again
 * later"); an aliases(5) loop bounces it.
 */
#include "qmgr/qmgr.h"
#include "lib-conf/config.h"
#include "lib-queue/dproto.h"
#include "lib/log.h"
#include "lib-route/resolve.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

struct dlv *qmgr_dlv_new(struct qmsg *m, int ridx, const char *addr, const char *orig, int depth)
{
    if (m->ndlv == m->capdlv) {
        m->capdlv = m->capdlv ? m->capdlv * 2 : 4;
        m->dlvs = xrealloc(m->dlvs, m->capdlv * sizeof(*m->dlvs));
    }
    struct dlv *d = &m->dlvs[m->ndlv++];
    memset(d, 0, sizeof(*d));
    d->ridx = ridx;
    d->addr = xstrdup(addr);
    d->orig = xstrdup(orig ? orig : addr);
    d->depth = depth;
    d->state = DLV_PENDING;
    return d;
}

void qmgr_dlv_free(struct dlv *d)
{
    free(d->addr);
    free(d->rcpt);
    free(d->orig);
    free(d->extra);
    free(d->transport);
    free(d->nexthop);
    free(d->text);
    free(d->relay);
}

const char *qmgr_dlv_rcpt(const struct dlv *d)
{
    return d->rcpt ? d->rcpt : d->addr;
}

void qmgr_dlv_set_final(struct dlv *d, enum dlv_state st, const char *dsn, const char *text)
{
    INVARIANT(st == DLV_SENT || st == DLV_DEFERRED || st == DLV_BOUNCED || st == DLV_FORWARDED);
    INVARIANT(dsn && (dsn[0] == '2' || dsn[0] == '4' || dsn[0] == '5'));
    d->state = st;
    str_copy(d->dsn, dsn, sizeof(d->dsn));
    free(d->text);
    d->text = xstrdup(text ? text : "");
}

/* The address a recipient was received as (ORCPT when given, for DSNs and orig_to=). */
static const char *original_of(const struct qrcpt *r)
{
    if (r->orcpt) {
        const char *semi = strchr(r->orcpt, ';');
        if (semi && semi[1])
            return semi + 1;
    }
    return r->addr;
}

static int unit_exists(const struct qmsg *m, const char *addr, const char *extra)
{
    for (size_t i = 0; i < m->ndlv; i++) {
        const struct dlv *d = &m->dlvs[i];
        if (d->state == DLV_FORWARDED)
            continue;
        if (strcmp(d->addr, addr) == 0 &&
            strcmp(d->extra ? d->extra : "-", extra ? extra : "-") == 0)
            return 1;
    }
    return 0;
}

/* Give a final address its transport; "error" bounces, "discard" is done at once. */
static void route_unit(struct qmgr *q, struct qmsg *m, struct dlv *d)
{
    char transport[64], nexthop[512], why[512] = "";
    const char *filter = qenv_attr(&m->env, "filter");
    int r = resolve_transport(q->resolver, d->addr, transport, sizeof(transport), nexthop,
                              sizeof(nexthop), why, sizeof(why));
    if (r < 0) {
        qmgr_dlv_set_final(d, DLV_DEFERRED, "4.3.0", "address resolver failure");
        return;
    }
    if (filter && *filter && strcmp(transport, "error") != 0) {
        /* FILTER transport:nexthop from an access table overrides the route. */
        const char *colon = strchr(filter, ':');
        size_t tl = colon ? (size_t)(colon - filter) : strlen(filter);
        if (tl > 0 && tl < sizeof(transport)) {
            memcpy(transport, filter, tl);
            transport[tl] = '\0';
            str_copy(nexthop, colon ? colon + 1 : "", sizeof(nexthop));
        }
    }
    if (strcmp(transport, "error") == 0) {
        qmgr_dlv_set_final(d, DLV_BOUNCED, "5.1.1", why[0] ? why : nexthop[0] ? nexthop : "unknown user");
        return;
    }
    if (strcmp(transport, "discard") == 0) {
        qmgr_dlv_set_final(d, DLV_SENT, "2.0.0", nexthop[0] ? nexthop : "discarded");
        return;
    }
    d->transport = xstrdup(transport);
    d->nexthop = xstrdup(nexthop);
}

static void expand_addr(struct qmgr *q, struct qmsg *m, int ridx, const char *addr,
                        const char *orig, int depth);

/*
 * An alias target "|cmd" or "/file" (kind "command" or "file"), or a local
 * mailbox (kind NULL, direct): delivered by the local agent. alias is the
 * alias as an address (name@domain): the recipient the command or file
 * sees (RECIPIENT, Delivered-To:) and the one logged, as local(8) does.
 * include is the :include: file that listed the target (class include).
 * The request carries no privileges: the local agent works them out from
 * the alias database or the include file itself, and checks that the
 * target is really listed there.
 */
static void add_alias_target(struct qmgr *q, struct qmsg *m, int ridx, const char *target,
                             const char *orig, const char *alias, const char *kind, int direct,
                             const char *cls, const char *include, int depth)
{
    struct dextra x;
    dproto_extra_init(&x);
    str_copy(x.alias, alias, sizeof(x.alias));
    if (kind)
        str_copy(x.target, kind, sizeof(x.target));
    if (include && strlen(include) < sizeof(x.include))
        str_copy(x.include, include, sizeof(x.include));
    x.direct = direct;
    if (cls)
        str_copy(x.cls, cls, sizeof(x.cls));
    char extra[2048];
    if ((include && strlen(include) >= sizeof(x.include)) ||
        dproto_extra_format(&x, extra, sizeof(extra)) < 0) {
        struct dlv *d = qmgr_dlv_new(m, ridx, target, orig, depth);
        qmgr_dlv_set_final(d, DLV_BOUNCED, "5.3.0", "alias target too long");
        return;
    }
    if (unit_exists(m, target, extra))
        return;
    struct dlv *d = qmgr_dlv_new(m, ridx, target, orig, depth);
    d->extra = xstrdup(extra);
    if (!direct && *alias)
        d->rcpt = xstrdup(alias);
    /* Alias targets always go to the local transport of the alias's domain. */
    char transport[64], nexthop[512], why[256];
    if (resolve_transport(q->resolver, alias, transport, sizeof(transport), nexthop,
                          sizeof(nexthop), why, sizeof(why)) < 0 || strcmp(transport, "error") == 0)
        str_copy(transport, "local", sizeof(transport));
    d->transport = xstrdup(transport);
    d->nexthop = xstrdup(nexthop);
}

#define INCLUDE_MAX (1024 * 1024)

static void expand_items(struct qmgr *q, struct qmsg *m, int ridx, const char *orig,
                         const char *top, struct alias_list *l, const char *cls,
                         const char *include, int depth);

/*
 * The alias an item came from, as an address. The resolver names aliases
 * by their localpart: the alias looked up for the recipient `top` is top
 * itself (its domain and any extension, the recipient local(8) would see);
 * a nested alias was reached as NAME@$myorigin.
 */
static char *alias_address(struct qmgr *q, const char *top, const char *name)
{
    const char *at = strrchr(top, '@');
    size_t llen = at ? (size_t)(at - top) : strlen(top);
    size_t cut = *q->recipient_delimiter ? strcspn(top, q->recipient_delimiter) : llen;
    if (cut > llen)
        cut = llen;
    size_t nlen = strlen(name);
    if (!*name || (nlen == llen && strncasecmp(top, name, llen) == 0) ||
        (cut > 0 && nlen == cut && strncasecmp(top, name, cut) == 0))
        return xstrdup(top);
    if (strchr(name, '@'))
        return xstrdup(name);
    return xasprintf("%s@%s", name, q->myorigin);
}

/* A unit deferred before its expansion finished: the retry expands it again. */
static void defer_unexpanded(struct qmsg *m, int ridx, const char *addr, const char *orig,
                             int depth, const char *text)
{
    struct dlv *d = qmgr_dlv_new(m, ridx, addr, orig, depth);
    d->unexpanded = 1;
    qmgr_dlv_set_final(d, DLV_DEFERRED, "4.3.0", text);
}

/* ":include:/file": read it here (as mail_owner); the local agent runs its commands and
 * files with the owner's rights, opening the file again itself. */
static void expand_include(struct qmgr *q, struct qmsg *m, int ridx, const char *orig,
                           const char *top, const struct alias_item *it, int depth)
{
    struct stat st;
    char *text = NULL;
    char *alias = alias_address(q, top, it->alias ? it->alias : "");
    int fd = open(it->value, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd >= 0) {
        /* read from the descriptor that was checked, never the path again */
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            text = read_fd(fd, INCLUDE_MAX, NULL);
        else
            errno = EINVAL;
        int saved = errno;
        close(fd);
        errno = saved;
    }
    if (!text) {
        char why[600];
        str_fmt(why, sizeof(why), "cannot open include file %s: %s", it->value, strerror(errno));
        defer_unexpanded(m, ridx, alias, orig, depth, why);
        free(alias);
        return;
    }
    struct alias_list l = {0};
    char why[512] = "";
    int r = resolve_alias_text(q->resolver, text, it->alias ? it->alias : "", &l, why, sizeof(why));
    free(text);
    if (r == -1) {
        defer_unexpanded(m, ridx, alias, orig, depth, why);
    } else if (r < 0) {
        struct dlv *d = qmgr_dlv_new(m, ridx, alias, orig, depth);
        qmgr_dlv_set_final(d, DLV_BOUNCED, "5.4.6", why);
    } else {
        expand_items(q, m, ridx, orig, top, &l, "include", it->value, depth + 1);
    }
    alias_list_free(&l);
    free(alias);
}

static void expand_items(struct qmgr *q, struct qmsg *m, int ridx, const char *orig,
                         const char *top, struct alias_list *l, const char *cls,
                         const char *include, int depth)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct alias_item *it = &l->v[i];
        char *alias = alias_address(q, top, it->alias ? it->alias : "");
        switch (it->kind) {
        case ALIAS_ADDRESS:
            expand_addr(q, m, ridx, it->value, orig, depth + 1);
            break;
        case ALIAS_MAILBOX:
            add_alias_target(q, m, ridx, it->value, orig, alias, NULL, 1, NULL, NULL, depth);
            break;
        case ALIAS_COMMAND: {
            char *target = xasprintf("|%s", it->value);
            add_alias_target(q, m, ridx, target, orig, alias, "command", 0, cls, include, depth);
            free(target);
            break;
        }
        case ALIAS_FILE:
            add_alias_target(q, m, ridx, it->value, orig, alias, "file", 0, cls, include, depth);
            break;
        case ALIAS_INCLUDE:
            if (depth + 1 > QMGR_EXPAND_DEPTH) {
                struct dlv *d = qmgr_dlv_new(m, ridx, alias, orig, depth);
                qmgr_dlv_set_final(d, DLV_BOUNCED, "5.4.6", "include file nesting too deep");
            } else {
                expand_include(q, m, ridx, orig, top, it, depth + 1);
            }
            break;
        }
        free(alias);
    }
}

/*
 * aliases(5) for an address in a local domain. Returns 1 if the alias
 * produced units (or a final status), 0 if there is no alias (deliver to
 * the local user).
 */
static int expand_local_alias(struct qmgr *q, struct qmsg *m, int ridx, const char *addr,
                              const char *orig, int depth)
{
    struct alias_list l = {0};
    char why[512] = "";
    int r = resolve_local_alias(q->resolver, addr, &l, why, sizeof(why));
    if (r == 0) {
        alias_list_free(&l);
        return 0;
    }
    if (r == -1) {
        defer_unexpanded(m, ridx, addr, orig, depth, why[0] ? why : "alias database unavailable");
    } else if (r < 0) {
        struct dlv *d = qmgr_dlv_new(m, ridx, addr, orig, depth);
        qmgr_dlv_set_final(d, DLV_BOUNCED, "5.4.6", why[0] ? why : "alias database loop");
    } else {
        expand_items(q, m, ridx, orig, addr, &l, "alias", NULL, depth);
    }
    alias_list_free(&l);
    return 1;
}

static void expand_addr(struct qmgr *q, struct qmsg *m, int ridx, const char *addr,
                        const char *orig, int depth)
{
    if (depth > QMGR_EXPAND_DEPTH) {
        struct dlv *d = qmgr_dlv_new(m, ridx, addr, orig, depth);
        qmgr_dlv_set_final(d, DLV_BOUNCED, "5.4.6", "mail forwarding loop");
        return;
    }
    char **out = NULL;
    char why[512] = "";
    /* no_address_mappings (the reinjection service after a content filter):
     * virtual_alias_maps were applied before the filter. */
    const char *nomap = qenv_attr(&m->env, "no_address_mappings");
    const char *filter = qenv_attr(&m->env, "filter");
    int r = 0;
    if (nomap && *nomap) {
        out = xcalloc(2, sizeof(*out));
        out[0] = xstrdup(addr);
    } else {
        r = resolve_virtual_alias(q->resolver, addr, &out, why, sizeof(why));
    }
    if (r == -1) {
        defer_unexpanded(m, ridx, addr, orig, depth,
                         why[0] ? why : "virtual alias table lookup failure");
        return;
    }
    if (r == -2) {
        /* Postfix's cleanup: "message not accepted, try again later" (4.6.0), so the
         * administrator can fix the table or the limit; the retry expands again. */
        char text[600];
        str_fmt(text, sizeof(text), "Alias expansion error: %s",
                why[0] ? why : "virtual alias expansion failed");
        struct dlv *d = qmgr_dlv_new(m, ridx, addr, orig, depth);
        d->unexpanded = 1;
        qmgr_dlv_set_final(d, DLV_DEFERRED, "4.6.0", text);
        return;
    }
    for (char **p = out; p && *p; p++) {
        /* A content filter gets the local recipients as they are: aliases(5)
         * are local(8)'s business after the filter, as in Postfix. */
        if (!(filter && *filter) && resolve_addr_class(q->resolver, *p) == AC_LOCAL &&
            expand_local_alias(q, m, ridx, *p, orig, depth))
            continue;
        if (unit_exists(m, *p, NULL))
            continue;
        struct dlv *d = qmgr_dlv_new(m, ridx, *p, orig, depth);
        route_unit(q, m, d);
    }
    strv_free(out);
}

void qmgr_expand_message(struct qmgr *q, struct qmsg *m)
{
    const char *redirect = qenv_attr(&m->env, "redirect");
    for (size_t i = 0; i < m->env.nrcpts; i++) {
        struct qrcpt *r = &m->env.rcpts[i];
        if (r->done)
            continue;
        const char *orig = original_of(r);
        if (redirect && *redirect) {
            expand_addr(q, m, (int)i, redirect, orig, 0);
        } else if (r->flags & QRCPT_EXPANDED) {
            /* Already rewritten before it was deferred: route only. */
            if (unit_exists(m, r->addr, NULL))
                continue;
            struct dlv *d = qmgr_dlv_new(m, (int)i, r->addr, orig, 0);
            route_unit(q, m, d);
        } else {
            expand_addr(q, m, (int)i, r->addr, orig, 0);
        }
    }
}

/*
 * local(8)'s mailbox_transport: the agent answered "pass transport:nexthop".
 * The unit is done (as a forwarded one, not logged); the same address
 * goes to that transport as a new unit.
 */
void qmgr_expand_pass(struct qmgr *q, struct qmsg *m, size_t unit, const char *to)
{
    (void)q;
    struct dlv *d = &m->dlvs[unit];
    const char *colon = strchr(to, ':');
    size_t tl = colon ? (size_t)(colon - to) : strlen(to);
    if (d->transport && strlen(d->transport) == tl && strncmp(d->transport, to, tl) == 0) {
        /* mailbox_transport naming the local transport itself would go round forever */
        qmgr_dlv_set_final(d, DLV_DEFERRED, "4.3.5",
                           "mail system configuration error: mailbox_transport loops back");
        return;
    }
    int ridx = d->ridx, depth = d->depth;
    char *addr = xstrdup(d->addr), *orig = xstrdup(d->orig);
    char *rcpt = d->rcpt ? xstrdup(d->rcpt) : NULL;
    qmgr_dlv_set_final(d, DLV_FORWARDED, "2.0.0", to);
    struct dlv *e = qmgr_dlv_new(m, ridx, addr, orig, depth);   /* may move m->dlvs */
    e->transport = xstrndup(to, tl);
    e->nexthop = xstrdup(colon ? colon + 1 : "");
    e->rcpt = rcpt;
    free(addr);
    free(orig);
}

/* ~/.forward of a local user: the agent answered "forward" with more addresses. */
size_t qmgr_expand_forward(struct qmgr *q, struct qmsg *m, size_t unit, const char *addrs)
{
    char **list = dproto_forward_split(addrs);
    size_t before = m->ndlv;
    struct dlv *d = &m->dlvs[unit];
    int ridx = d->ridx, depth = d->depth;
    char *orig = xstrdup(d->orig);
    qmgr_dlv_set_final(d, DLV_FORWARDED, "2.0.0", addrs);
    for (char **p = list; p && *p; p++)
        expand_addr(q, m, ridx, *p, orig, depth + 1);
    if (!list) {
        struct dlv *e = qmgr_dlv_new(m, ridx, m->dlvs[unit].addr, orig, depth);
        qmgr_dlv_set_final(e, DLV_BOUNCED, "5.3.0", "malformed forward list");
    }
    strv_free(list);
    free(orig);
    return m->ndlv - before;
}
