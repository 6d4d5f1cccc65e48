/*
 * hchecks.c - header_checks(5) in smtpd: the four tables, the content of
 * each message streamed through lib-mail/hcheck.c on its way into the
 * queue file, and the verdict turned into a reply or into the
 * transaction's actions, with cleanup(8)'s log lines:
 *   QID: reject: header Subject: ... from name[addr]; from=<s> to=<r>
 *   proto=ESMTP helo=<h>: 5.7.1 message content rejected
 * Postfix runs these in cleanup; yubin's cleanup is inside smtpd (and the
 * pickup service, which is smtpd in local mode), so they run here.
 */
#include "smtpd/smtpd.h"

#include "lib-conf/config.h"
#include "lib-mail/hcheck.h"
#include "lib-queue/queue.h"
#include "lib-table/table.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static const enum param_id hc_params[4] = {
    [HC_HEADER] = P_header_checks,
    [HC_MIME_HEADER] = P_mime_header_checks,
    [HC_NESTED_HEADER] = P_nested_header_checks,
    [HC_BODY] = P_body_checks,
};

void smtpd_hchecks_open(struct smtpd_server *srv)
{
    for (int i = 0; i < 4; i++) {
        const char *v = cfg_get(srv->cfg, hc_params[i]);
        srv->hc_maps[i] = v && *v ? maps_open_tolerant(v, srv->cfg, hcheck_class_name(i)) : NULL;
    }
    srv->hc_body_limit = cfg_get_size(srv->cfg, P_body_checks_size_limit);
}

void smtpd_hchecks_close(struct smtpd_server *srv)
{
    for (int i = 0; i < 4; i++) {
        if (srv->hc_maps[i])
            maps_close(srv->hc_maps[i]);
        srv->hc_maps[i] = NULL;
    }
}

static int hc_lookup(void *ctx, enum hc_class cls, const char *text, struct buf *result)
{
    struct session *s = ctx;
    struct maps *m = s->srv->hc_maps[cls];
    if (!m)
        return 0;
    int r = maps_lookup(m, text, result);
    if (r == TABLE_TEMPFAIL)
        msg_warn("%s: %s lookup error for \"%.100s\"", s->qid, hcheck_class_name(cls), text);
    return r == TABLE_FOUND ? 1 : r == TABLE_TEMPFAIL ? -1 : 0;
}

static void hc_log(void *ctx, const char *action, const char *what, const char *text,
                   const char *opt)
{
    struct session *s = ctx;
    char to[600] = "";
    if (s->nrcpts)
        str_fmt(to, sizeof(to), " to=<%s>", s->rcpts[0].addr);
    msg_info("%s: %s: %s %s from %s; from=<%s>%s proto=%s helo=<%s>%s%s", s->qid, action, what,
             text, s->namaddr, s->sender ? s->sender : "", to, s->esmtp ? "ESMTP" : "SMTP",
             s->helo, *opt ? ": " : "", opt);
}

void smtpd_hchecks_begin(struct session *s, int (*sink)(void *, const char *, size_t))
{
    smtpd_hchecks_abort(s);
    const struct smtpd_server *srv = s->srv;
    if (!srv->hc_maps[0] && !srv->hc_maps[1] && !srv->hc_maps[2] && !srv->hc_maps[3])
        return;
    struct hc_ops ops = {.lookup = hc_lookup, .emit = sink, .log = hc_log};
    s->hc = hcheck_new(&ops, s, srv->hc_body_limit);
}

void smtpd_hchecks_abort(struct session *s)
{
    hcheck_free(s->hc);
    s->hc = NULL;
}

static void take(char **dst, char **src)
{
    if (!*src)
        return;
    free(*dst);
    *dst = xstrdup(*src);
}

void smtpd_hchecks_flush(struct session *s)
{
    if (s->hc)
        hcheck_finish(s->hc);
}

int smtpd_hchecks_end(struct session *s)
{
    if (!s->hc)
        return 0;
    const struct hc_verdict *v = hcheck_verdict(s->hc);
    if (v->lookup_error) {
        smtpd_session_error(s, "451 4.3.0 Error: %s lookup failed", v->error_class);
        smtpd_session_reset_transaction(s);
        return -1;
    }
    if (v->reject) {
        smtpd_session_error(s, "%d %s", v->reject == 4 ? 451 : 550, v->reject_text);
        smtpd_session_reset_transaction(s);
        return -1;
    }
    struct restrict_actions *a = &s->actions;
    if (v->hold) {
        a->hold = 1;
        free(a->hold_reason);
        a->hold_reason = xstrdup(v->hold_text);
    }
    if (v->discard) {
        a->discard = 2;                  /* logged already, as cleanup logs it */
        free(a->discard_reason);
        a->discard_reason = xstrdup(v->discard_text);
    }
    char *filter = v->filter, *redirect = v->redirect;
    take(&a->filter, &filter);
    take(&a->redirect, &redirect);
    for (size_t i = 0; i < v->nbcc; i++)
        smtpd_add_bcc(s, v->bcc[i]);
    smtpd_hchecks_abort(s);
    return 0;
}
