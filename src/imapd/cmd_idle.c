/*
 * cmd_idle.c - the mail worker's IDLE commands (see mailsess.h).
 *
 * Not written yet: each answers NO [UNAVAILABLE].
 */
#include "imapd/mailsess.h"

void imapd_cmd_idle(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)args;
    (void)uid;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
}

size_t imapd_cmd_idle_input(struct msession *s, const char *data, size_t len)
{
    (void)s;
    (void)data;
    return len;
}

void imapd_cmd_idle_stop(struct msession *s)
{
    s->idle = NULL;
}
