/*
 * bcc.c - always_bcc, sender_bcc_maps and recipient_bcc_maps: the extra
 * recipients Postfix's cleanup adds to each message (canonical(5)
 * search order: user@domain, user for local domains, @domain), with
 * NOTIFY=NEVER, as a BCC action of header_checks adds them too. Not after
 * receive_override_options = no_address_mappings (the reinjection
 * service of a content filter), as in Postfix. A table that fails defers
 * the message.
 */
#include "smtpd/smtpd.h"

#include "lib-conf/config.h"
#include "lib-queue/queue.h"
#include "lib-route/resolve.h"
#include "lib-table/table.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

void smtpd_bcc_open(struct smtpd_server *srv)
{
    srv->always_bcc = xstrdup(cfg_get(srv->cfg, P_always_bcc));
    const char *v = cfg_get(srv->cfg, P_sender_bcc_maps);
    srv->sender_bcc = v && *v ? maps_open_tolerant(v, srv->cfg, "sender_bcc_maps") : NULL;
    v = cfg_get(srv->cfg, P_recipient_bcc_maps);
    srv->recipient_bcc = v && *v ? maps_open_tolerant(v, srv->cfg, "recipient_bcc_maps") : NULL;
}

void smtpd_bcc_close(struct smtpd_server *srv)
{
    free(srv->always_bcc);
    srv->always_bcc = NULL;
    if (srv->sender_bcc)
        maps_close(srv->sender_bcc);
    if (srv->recipient_bcc)
        maps_close(srv->recipient_bcc);
    srv->sender_bcc = srv->recipient_bcc = NULL;
}

void smtpd_add_bcc(struct session *s, const char *addr)
{
    for (size_t i = 0; i < s->nrcpts; i++)
        if (strcmp(s->rcpts[i].addr, addr) == 0)
            return;
    if (s->nrcpts == s->caprcpts) {
        s->caprcpts = s->caprcpts ? s->caprcpts * 2 : 4;
        s->rcpts = xrealloc(s->rcpts, s->caprcpts * sizeof(*s->rcpts));
    }
    s->rcpts[s->nrcpts++] = (struct smtp_rcpt){.addr = xstrdup(addr), .notify = DSN_NOTIFY_NEVER};
}

/* One lookup: 1 found (result added), 0 not, -1 failed. */
static int lookup(struct session *s, struct maps *m, const char *addr)
{
    if (!m || !*addr)
        return 0;
    int flags = MAPS_ADDR_DOMAIN;
    if (s->srv->resolver && resolve_addr_class(s->srv->resolver, addr) == AC_LOCAL)
        flags |= MAPS_ADDR_LOCALPART;
    struct buf res;
    buf_init(&res, 4096);
    int r = maps_lookup_addr(m, addr, cfg_get(s->srv->cfg, P_recipient_delimiter), flags, &res,
                             NULL);
    if (r == TABLE_FOUND && res.len)
        smtpd_add_bcc(s, buf_cstr(&res));
    buf_free(&res);
    return r == TABLE_TEMPFAIL ? -1 : r == TABLE_FOUND;
}

int smtpd_bcc_apply(struct session *s)
{
    struct smtpd_server *srv = s->srv;
    if (srv->overrides & SMTPD_RO_NO_ADDRESS_MAPS)
        return 0;
    if (srv->always_bcc && *srv->always_bcc)
        smtpd_add_bcc(s, srv->always_bcc);
    const char *failed = NULL;
    if (lookup(s, srv->sender_bcc, s->sender ? s->sender : "") < 0)
        failed = "sender_bcc_maps";
    size_t n = s->nrcpts;                /* not the copies just added */
    for (size_t i = 0; i < n && !failed; i++)
        if (lookup(s, srv->recipient_bcc, s->rcpts[i].addr) < 0)
            failed = "recipient_bcc_maps";
    if (!failed)
        return 0;
    msg_warn("%s: %s lookup failed", s->qid, failed);
    smtpd_session_error(s, "451 4.3.0 Error: %s lookup failed", failed);
    smtpd_session_reset_transaction(s);
    return -1;
}
