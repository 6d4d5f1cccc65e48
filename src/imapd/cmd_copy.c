/*
 * cmd_copy.c - the mail worker's COPY MOVE APPEND commands (see mailsess.h).
 *
 * Not written yet: each answers NO [UNAVAILABLE].
 */
#include "imapd/mailsess.h"

void imapd_cmd_copy(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_move(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

void imapd_cmd_append(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}
