/* TEMPORARY stand-in for restrict.c while it is being written: mynetworks,
 * relay control and unlisted recipients only. Removed when restrict.c lands. */
#include "restrict.h"
#include "config.h"
#include "matchlist.h"
#include "resolve.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct restrictions {
    struct match_list *mynetworks;
    struct resolver *resolver;
};

struct restrictions *restrictions_new(const struct config *cfg, struct dns *dns,
                                      struct resolver *resolver, char *err, size_t errlen)
{
    (void)dns;
    struct restrictions *r = xcalloc(1, sizeof(*r));
    r->resolver = resolver;
    r->mynetworks = addr_list_new(cfg_get(cfg, "mynetworks"), cfg, 0, err, errlen);
    if (!r->mynetworks) {
        free(r);
        return NULL;
    }
    return r;
}

void restrictions_free(struct restrictions *r)
{
    if (!r)
        return;
    match_list_free(r->mynetworks);
    free(r);
}

enum restrict_verdict restrict_eval(struct restrictions *r, enum restrict_stage stage,
                                    const struct restrict_input *in,
                                    struct restrict_actions *actions,
                                    struct restrict_result *res, restrict_cb cb, void *arg)
{
    (void)actions; (void)cb; (void)arg;
    res->verdict = RV_PERMIT;
    if (stage == RS_RELAY) {
        if (addr_list_match(r->mynetworks, in->client_addr) == 1)
            return RV_PERMIT;
        int c = resolve_addr_class(r->resolver, in->recipient);
        if (c == AC_DEFAULT) {
            res->verdict = RV_DEFER;
            res->code = 454;
            str_copy(res->dsn, "4.7.1", sizeof(res->dsn));
            str_fmt(res->text, sizeof(res->text), "<%s>: Relay access denied", in->recipient);
            return RV_DEFER;
        }
    }
    if (stage == RS_RECIPIENT) {
        char why[256] = "";
        int k = resolve_rcpt_known(r->resolver, in->recipient, why, sizeof(why));
        if (k == 0) {
            res->verdict = RV_REJECT;
            res->code = 550;
            str_copy(res->dsn, "5.1.1", sizeof(res->dsn));
            str_fmt(res->text, sizeof(res->text), "<%s>: Recipient address rejected: %s",
                    in->recipient, why);
            return RV_REJECT;
        }
    }
    return RV_PERMIT;
}

void restrict_cancel(struct restrictions *r, void *arg) { (void)r; (void)arg; }
void restrict_actions_reset(struct restrict_actions *a)
{
    for (size_t i = 0; i < a->nprepend; i++)
        free(a->prepend[i]);
    free(a->redirect);
    free(a->filter);
    free(a->hold_reason);
    free(a->discard_reason);
    memset(a, 0, sizeof(*a));
}
int restrict_client_in_mynetworks(struct restrictions *r, const char *client_addr)
{
    return addr_list_match(r->mynetworks, client_addr) == 1;
}
