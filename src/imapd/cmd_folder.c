/*
 * cmd_folder.c - the mail worker's LIST LSUB CREATE DELETE RENAME SUBSCRIBE
 * UNSUBSCRIBE NAMESPACE STATUS ENABLE GETQUOTA GETQUOTAROOT commands (see
 * mailsess.h).
 *
 * Not written yet: each answers NO [UNAVAILABLE].
 */
#include "imapd/mailsess.h"

void imapd_cmd_list(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_lsub(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_create(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_delete(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_rename(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_subscribe(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_unsubscribe(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_namespace(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_status(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_enable(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_getquota(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_getquotaroot(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}
