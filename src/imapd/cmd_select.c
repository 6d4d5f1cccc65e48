/*
 * cmd_select.c - the mail worker's SELECT EXAMINE CLOSE UNSELECT CHECK commands (see mailsess.h).
 *
 * Not written yet: each answers NO [UNAVAILABLE].
 */
#include "imapd/mailsess.h"

void imapd_cmd_select(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_examine(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_close(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_unselect(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_check(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}
