/*
 * quota_rcpt.h - smtpd's quota check at RCPT (like Dovecot's quota-status
 * policy service): a recipient of the virtual agent whose Maildir is over
 * its Postfix VDA quota (virtual_maildir_extended = yes) is refused at
 * once, 552 5.2.2 (virtual_overquota_bounce = yes) or 452 4.2.2, with
 * virtual_maildir_limit_message, so no bounce is made later.
 *
 * The lookups (virtual_mailbox_maps, virtual_mailbox_limit_maps,
 * virtual_maildir_limit_message_maps) go through lib-table inside the
 * restriction step, so a remote table answers TABLE_PENDING and the step
 * runs again (docs/ARCHITECTURE.md, "Lookups that may wait"). The
 * maildirsize file is only read, never recalculated or written here: a
 * Maildir smtpd cannot read, or without maildirsize, is not checked
 * (delivery checks it again anyway).
 */
#ifndef YUBIN_SMTPD_QUOTA_RCPT_H
#define YUBIN_SMTPD_QUOTA_RCPT_H

#include <stddef.h>

struct config;
struct smtpd_quota;

/* NULL when there is nothing to check (no VDA quota, or virtual_transport is not virtual). */
struct smtpd_quota *smtpd_quota_new(const struct config *cfg, char *err, size_t errlen);
void smtpd_quota_free(struct smtpd_quota *q);

struct smtpd_quota_reply {
    int code;                   /* 452 or 552 */
    char dsn[8];
    char text[512];
};

/*
 * Is rcpt over quota with a message of size bytes (0: unknown)?
 * 0 no, 1 yes (rep filled), -1 a table failed, -2 an answer is pending.
 */
int smtpd_quota_check(struct smtpd_quota *q, const char *rcpt, long long size,
                      struct smtpd_quota_reply *rep);

#endif
