/*
 * quota_conf.c - the Maildir++ quota's settings from main.cf: the Postfix
 * VDA patch's virtual_* parameters and Dovecot's quota_warning (quota.h),
 * and the per-recipient limit from virtual_mailbox_limit_maps.
 */
#include "lib-storage/quota.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib-conf/config.h"
#include "lib-table/table.h"

#include <stdlib.h>
#include <string.h>

#define MQUOTA_VALUE_MAX 1024            /* a limit or message from a table */

static struct maps *open_if_set(const struct config *cfg, enum param_id p, char *err,
                                size_t errlen, int *bad)
{
    const char *v = cfg_get(cfg, p);
    if (!v || !*v)
        return NULL;
    char e2[512];
    struct maps *m = maps_open(v, cfg, e2, sizeof(e2));
    if (!m) {
        str_fmt(err, errlen, "%s: %s", cfg_param_name(p), e2);
        *bad = 1;
    }
    return m;
}

int mquota_vda_init(struct mquota_vda *v, const struct config *cfg, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    v->extended = cfg_get_bool(cfg, P_virtual_maildir_extended);
    v->bounce = cfg_get_bool(cfg, P_virtual_overquota_bounce);
    v->inbox_only = cfg_get_bool(cfg, P_virtual_mailbox_limit_inbox);
    v->override = cfg_get_bool(cfg, P_virtual_mailbox_limit_override);
    v->trash_count = cfg_get_bool(cfg, P_virtual_trash_count);
    v->limit = cfg_get_size(cfg, P_virtual_mailbox_limit);
    const char *t = cfg_get(cfg, P_virtual_trash_name);
    str_copy(v->trash, t[0] == '.' ? t + 1 : t, sizeof(v->trash));
    v->message = xstrdup(cfg_get(cfg, P_virtual_maildir_limit_message));
    struct mquota_rules r;
    memset(&r, 0, sizeof(r));
    if (mquota_warning_parse(&r, cfg_get(cfg, P_quota_warning)) == 0)
        v->warn_percent = r.warn_percent;
    if (!v->extended)
        return 0;
    int bad = 0;
    v->limit_maps = open_if_set(cfg, P_virtual_mailbox_limit_maps, err, errlen, &bad);
    v->message_maps = open_if_set(cfg, P_virtual_maildir_limit_message_maps, err, errlen, &bad);
    if (bad) {
        mquota_vda_free(v);
        return -1;
    }
    return 0;
}

void mquota_vda_free(struct mquota_vda *v)
{
    maps_close(v->limit_maps);
    maps_close(v->message_maps);
    free(v->message);
    memset(v, 0, sizeof(*v));
}

void mquota_vda_base(const struct mquota_vda *v, struct mquota_rules *r)
{
    memset(r, 0, sizeof(*r));
    r->warn_percent = v->warn_percent;
    r->inbox_only = v->inbox_only;
    if (!v->trash_count && v->trash[0]) {
        r->nfolders = 1;
        str_copy(r->folders[0].name, v->trash, sizeof(r->folders[0].name));
        r->folders[0].ignore = 1;
    }
}

void mquota_default_from_config(const struct config *cfg)
{
    struct mquota_vda v;
    char err[512];
    if (mquota_vda_init(&v, cfg, err, sizeof(err)) < 0)
        return;
    if (v.extended || v.warn_percent) {
        struct mquota_rules r;
        mquota_vda_base(&v, &r);
        if (!v.extended)
            r.nfolders = r.inbox_only = 0;
        mquota_set_default(&r);
    }
    mquota_vda_free(&v);
}

/* One lookup; the value into out when found. */
static int lookup(struct maps *m, const char *rcpt, const char *delim, char *out, size_t outlen)
{
    if (!m)
        return TABLE_NOTFOUND;
    struct buf b;
    buf_init(&b, MQUOTA_VALUE_MAX);
    int rc = maps_lookup_addr(m, rcpt, delim, MAPS_ADDR_DOMAIN, &b, NULL);
    if (rc == TABLE_FOUND)
        str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
    return rc;
}

int mquota_vda_rules(const struct mquota_vda *v, const char *rcpt, const char *delim,
                     struct mquota_rules *r, long long *file_limit, char *msg, size_t msglen)
{
    mquota_vda_base(v, r);
    *file_limit = v->limit;
    str_copy(msg, v->message, msglen);
    if (!v->extended)
        return TABLE_FOUND;
    char val[MQUOTA_VALUE_MAX];
    int rc = lookup(v->limit_maps, rcpt, delim, val, sizeof(val));
    if (rc == TABLE_TEMPFAIL || rc == TABLE_PENDING)
        return rc;
    long long limit = v->limit;
    if (rc == TABLE_FOUND && mquota_size_parse(str_trim(val), 1, &limit) < 0)
        limit = v->limit;              /* not a number: the default, as a NULL column */
    r->set = 1;
    r->bytes = limit;
    if (rc == TABLE_FOUND && v->override)
        *file_limit = limit;
    int mrc = lookup(v->message_maps, rcpt, delim, val, sizeof(val));
    if (mrc == TABLE_TEMPFAIL || mrc == TABLE_PENDING)
        return mrc;
    if (mrc == TABLE_FOUND && *val)
        str_copy(msg, val, msglen);
    return TABLE_FOUND;
}
