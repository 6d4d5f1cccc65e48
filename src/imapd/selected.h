/*
 * selected.h - more of selected.c's helpers, for the command files that
 * write mailbox names, flags and keywords (added beside mailsess.h so the
 * shared interface stays as it was).
 */
#ifndef YUBIN_IMAPD_SELECTED_H
#define YUBIN_IMAPD_SELECTED_H

#include "imapd/mailsess.h"

struct buf;

/* Fields of the view's cache (mview_cache_get/put) the mail worker keeps. */
#define IMAPD_CACHE_BODYSTRUCTURE 1      /* FETCH BODYSTRUCTURE's text */
#define IMAPD_CACHE_BODY          2      /* FETCH BODY's text */
#define IMAPD_CACHE_ENVELOPE      3      /* FETCH ENVELOPE's text */
#define IMAPD_CACHE_VSIZE         4      /* RFC822.SIZE (8 bytes, host order) */
#define IMAPD_CACHE_PREVIEW       5      /* PREVIEW's string */
#define IMAPD_CACHE_HEADER        6      /* the message's header block as stored (BODY[HEADER]) */

/* Append a storage name as the client sees it (mUTF-7, or UTF-8 after ENABLE UTF8=ACCEPT), quoted as needed. */
int imapd_sess_write_mailbox(const struct msession *s, struct buf *b, const char *name);
/* Append "(\Seen kw ...)" for a message of the selected mailbox (\Recent included). */
int imapd_sel_write_flags(const struct msession *s, struct buf *b, const struct mmsg *m);
/* Append the folder's flags list "(\Answered ... kw ...)" (SELECT's FLAGS). */
int imapd_sel_write_all_flags(const struct msession *s, struct buf *b, int permanent);
/*
 * A flag list (or a single flag atom) as system flags and keyword bits; new
 * keywords are created when create is set. 0, or -1 with *err for BAD (or
 * *no set for a NO: too many keywords, read-only).
 */
int imapd_sel_parse_flags(struct msession *s, const struct imap_arg *a, int create,
                          unsigned *flags, uint32_t *keywords, const char **err, int *no);
/* \Recent for uid in this session. */
int imapd_sel_recent(const struct msession *s, uint32_t uid);
/* Count of messages \Recent here. */
uint32_t imapd_sel_nrecent(const struct msession *s);
/* UIDs lo..hi became \Recent here (a claim; lo 0 or lo > hi: none). */
void imapd_sel_add_recent(struct msession *s, uint32_t lo, uint32_t hi);
/*
 * Flush the output when it is above a bound (a FETCH of many messages):
 * waits for the client to read, up to its deadline. 0, or -1 when the
 * client is gone or too slow (the session is then closing).
 */
int imapd_sess_out_drain(struct msession *s);
/* The store is missing (no mail location): replies NO [UNAVAILABLE] and returns 1. */
int imapd_sess_no_store(struct msession *s, const char *tag);

#endif
