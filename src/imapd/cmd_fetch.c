/*
 * cmd_fetch.c - the mail worker's FETCH commands (see mailsess.h).
 *
 * Not written yet: each answers NO [UNAVAILABLE].
 */
#include "imapd/mailsess.h"

void imapd_cmd_fetch(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}
