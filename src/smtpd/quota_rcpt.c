/*
 * quota_rcpt.c - the quota check at RCPT (quota_rcpt.h).
 */
#include "smtpd/quota_rcpt.h"
#include "lib/buf.h"
#include "lib/util.h"
#include "lib-conf/config.h"
#include "lib-storage/quota.h"
#include "lib-table/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QUOTA_PATH_MAX 4096

struct smtpd_quota {
    struct mquota_vda vda;
    struct maps *vmbox;         /* virtual_mailbox_maps */
    char *vbase, *delim;
};

struct smtpd_quota *smtpd_quota_new(const struct config *cfg, char *err, size_t errlen)
{
    if (!cfg_get_bool(cfg, P_virtual_maildir_extended) ||
        strcmp(cfg_get(cfg, P_virtual_transport), "virtual") != 0 ||
        !*cfg_get(cfg, P_virtual_mailbox_maps))
        return NULL;
    struct smtpd_quota *q = xcalloc(1, sizeof(*q));
    if (mquota_vda_init(&q->vda, cfg, err, errlen) < 0) {
        free(q);
        return NULL;
    }
    q->vmbox = maps_open(cfg_get(cfg, P_virtual_mailbox_maps), cfg, err, errlen);
    if (!q->vmbox) {
        smtpd_quota_free(q);
        return NULL;
    }
    q->vbase = xstrdup(cfg_get(cfg, P_virtual_mailbox_base));
    q->delim = xstrdup(cfg_get(cfg, P_recipient_delimiter));
    return q;
}

void smtpd_quota_free(struct smtpd_quota *q)
{
    if (!q)
        return;
    mquota_vda_free(&q->vda);
    if (q->vmbox)
        maps_close(q->vmbox);
    free(q->vbase);
    free(q->delim);
    free(q);
}

/* The recipient's Maildir below virtual_mailbox_base: 1 found, 0 none (or mbox), or a table code. */
static int maildir_of(struct smtpd_quota *q, const char *rcpt, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, QUOTA_PATH_MAX);
    int rc = maps_lookup_addr(q->vmbox, rcpt, q->delim, MAPS_ADDR_DOMAIN, &b, NULL);
    int found = 0;
    if (rc == TABLE_FOUND) {
        const char *v = buf_cstr(&b);
        size_t n = strlen(v);
        found = n > 0 && v[n - 1] == '/' && !strstr(v, "..") &&
                str_fmt(out, outlen, "%s/%s", q->vbase, v) == 0;
    }
    buf_free(&b);
    return rc == TABLE_TEMPFAIL || rc == TABLE_PENDING ? rc : found;
}

int smtpd_quota_check(struct smtpd_quota *q, const char *rcpt, long long size,
                      struct smtpd_quota_reply *rep)
{
    if (!q || !rcpt || !*rcpt)
        return 0;
    char path[QUOTA_PATH_MAX];
    int m = maildir_of(q, rcpt, path, sizeof(path));
    if (m != 1)
        return m == TABLE_TEMPFAIL ? -1 : m == TABLE_PENDING ? -2 : 0;
    struct mquota_rules r;
    long long file_limit;
    int rc = mquota_vda_rules(&q->vda, rcpt, q->delim, &r, &file_limit, rep->text,
                              sizeof(rep->text));
    if (rc != TABLE_FOUND)
        return rc == TABLE_PENDING ? -2 : -1;
    struct mquota use;
    if (mquota_read(path, &use) < 0) {
        if (access(path, F_OK) == 0 || errno != ENOENT)
            return 0;                  /* not readable here, or not counted yet */
        memset(&use, 0, sizeof(use));  /* no Maildir yet: nothing used */
    }
    use.limit_bytes = r.bytes;         /* the limits of now, not the file's */
    use.limit_count = r.count;
    if (!mquota_over(&use, &r, "INBOX", size > 0 ? size : 0) &&
        !(size <= 0 && r.bytes > 0 && use.bytes >= r.bytes))
        return 0;
    rep->code = q->vda.bounce ? 552 : 452;
    str_copy(rep->dsn, q->vda.bounce ? "5.2.2" : "4.2.2", sizeof(rep->dsn));
    return 1;
}
