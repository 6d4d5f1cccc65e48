/*
 * selected.c - the selected mailbox of a mail-worker session and the
 * helpers every mailbox command uses (see mailsess.h).
 *
 * Not written yet: the store is not opened, nothing is ever selected.
 */
#include "imapd/mailsess.h"

#include <stdlib.h>

int imapd_sess_open_store(struct msession *s)
{
    s->st = NULL;
    return 0;
}

void imapd_sel_close(struct msession *s)
{
    if (s->idle)
        imapd_cmd_idle_stop(s);
    if (!s->sel)
        return;
    mview_close(s->sel->v);
    imap_seqset_free(&s->sel->saved);
    free(s->sel->uids);
    free(s->sel);
    s->sel = NULL;
}

void imapd_sel_sync(struct msession *s, int allow_expunge)
{
    (void)s;
    (void)allow_expunge;
}

int imapd_sel_uids(struct msession *s, const struct imap_arg *a, int uid, uint32_t **uids,
                 size_t *n, const char **err)
{
    (void)s;
    (void)a;
    (void)uid;
    *uids = NULL;
    *n = 0;
    *err = "No mailbox selected";
    return -1;
}

uint32_t imapd_sel_seq(const struct msession *s, uint32_t uid)
{
    (void)s;
    (void)uid;
    return 0;
}

void imapd_sess_reply_storage(struct msession *s, const char *tag, const char *what,
                            const struct storage_error *e)
{
    (void)e;
    imapd_reply(s->c, tag, "NO [SERVERBUG] %s failed.", what);
}

int imapd_sess_mailbox_arg(struct msession *s, const char *tag, const struct imap_arg *a,
                         char *out, size_t outlen)
{
    (void)a;
    (void)out;
    (void)outlen;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] Mailbox access is not available yet.");
    return -1;
}
