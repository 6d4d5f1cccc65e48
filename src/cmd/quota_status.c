/*
 * quota_status.c - `yubin quota-status`: Dovecot's quota-status policy
 * service for smtpd, for the layout where the Maildirs belong to a mail
 * user smtpd cannot read as: run under `spawn` as that user,
 *
 *   quota-status unix - n n - - spawn user=vmail argv=/usr/sbin/yubin quota-status
 *   smtpd_recipient_restrictions = ... check_policy_service unix:private/quota-status
 *
 * It reads Postfix policy requests (name=value lines, an empty line) on
 * standard input and answers each with "action=552 5.2.2 <text>" (or 452
 * 4.2.2 without virtual_overquota_bounce) when the recipient's Maildir is
 * over its VDA quota with the request's size, else "action=DUNNO": the
 * same check smtpd makes itself when it may read the Maildir
 * (src/smtpd/quota_rcpt.c), with the same main.cf settings. Lines are
 * limited (QS_LINE_MAX); a longer one ends the conversation.
 */
#include "cmd/commands.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-conf/config.h"
#include "lib-storage/quota.h"
#include "lib-table/table.h"
#include "lib/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QS_LINE_MAX 2048
#define QS_ADDR_MAX 1024

struct qs {
    struct mquota_vda vda;
    struct maps *vmbox;
    const char *vbase, *delim;
};

/* The recipient's Maildir, or 0 when it has none (unknown, mbox). */
static int maildir_of(struct qs *q, const char *rcpt, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, QS_LINE_MAX);
    int rc = maps_lookup_addr(q->vmbox, rcpt, q->delim, MAPS_ADDR_DOMAIN, &b, NULL);
    const char *v = buf_cstr(&b);
    size_t n = strlen(v);
    int ok = rc == TABLE_FOUND && n > 0 && v[n - 1] == '/' && !strstr(v, "..") &&
             str_fmt(out, outlen, "%s/%s", q->vbase, v) == 0;
    buf_free(&b);
    return rc == TABLE_TEMPFAIL ? -1 : ok;
}

static void answer(struct qs *q, const char *rcpt, long long size)
{
    char path[4096], text[512];
    struct mquota_rules r;
    long long file_limit;
    int m = rcpt[0] ? maildir_of(q, rcpt, path, sizeof(path)) : 0;
    int rc = m == 1 ? mquota_vda_rules(&q->vda, rcpt, q->delim, &r, &file_limit, text,
                                       sizeof(text))
                    : TABLE_NOTFOUND;
    struct mquota use;
    if (m < 0 || rc == TABLE_TEMPFAIL) {
        printf("action=DEFER_IF_PERMIT 4.3.0 Temporary lookup failure\n\n");
    } else if (m == 1 && rc == TABLE_FOUND && mquota_get(path, &r, &use) == 0 &&
               (mquota_over(&use, &r, "INBOX", size) ||
                (size <= 0 && r.bytes > 0 && use.bytes >= r.bytes))) {
        printf("action=%s %s\n\n", q->vda.bounce ? "552 5.2.2" : "452 4.2.2", text);
        msg_info("quota-status: <%s>: over quota (%lld of %lld bytes)", rcpt, use.bytes,
                 use.limit_bytes);
    } else {
        printf("action=DUNNO\n\n");
    }
    fflush(stdout);
}

/* Serve requests until EOF. */
static int serve(struct qs *q)
{
    char line[QS_LINE_MAX], rcpt[QS_ADDR_MAX] = "";
    long long size = 0;
    while (fgets(line, sizeof(line), stdin)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            msg_warn("quota-status: request line too long");
            return 1;
        }
        line[--n] = '\0';
        if (n > 0 && line[n - 1] == '\r')
            line[--n] = '\0';
        if (n == 0) {
            answer(q, rcpt, size);
            rcpt[0] = '\0';
            size = 0;
        } else if (strncmp(line, "recipient=", 10) == 0) {
            str_copy(rcpt, line + 10, sizeof(rcpt));
            str_lower(rcpt);
        } else if (strncmp(line, "size=", 5) == 0) {
            size = strtoll(line + 5, NULL, 10);
        }
    }
    return 0;
}

int cmd_quota_status(const char *confdir, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct cfg_diags diags = {0};
    struct config *cfg = config_load(confdir, &diags);
    cfg_diags_free(&diags);
    if (!cfg) {
        fprintf(stderr, "yubin quota-status: cannot read the configuration in %s\n", confdir);
        return 75;
    }
    log_init(cfg_get(cfg, P_syslog_name), "quota-status");
    log_set_dest(0, cfg_get(cfg, P_maillog_file));
    struct qs q;
    memset(&q, 0, sizeof(q));
    char err[512];
    int rc = 1;
    if (mquota_vda_init(&q.vda, cfg, err, sizeof(err)) < 0) {
        msg_warn("quota-status: %s", err);
        goto out;
    }
    q.vmbox = maps_open_tolerant(cfg_get(cfg, P_virtual_mailbox_maps), cfg,
                                 "virtual_mailbox_maps");
    q.vbase = cfg_get(cfg, P_virtual_mailbox_base);
    q.delim = cfg_get(cfg, P_recipient_delimiter);
    rc = serve(&q);
    maps_close(q.vmbox);
    mquota_vda_free(&q.vda);
out:
    config_free(cfg);
    return rc;
}
