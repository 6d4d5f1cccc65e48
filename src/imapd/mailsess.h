/*
 * mailsess.h - what the mail worker's command files share: the session
 * after login, its selected mailbox, and the helpers every command of the
 * authenticated and selected states uses.
 *
 * Files of the mail worker (each owns its commands' rows):
 *   mail.c        sessions from the launcher, the command table, dispatch
 *                 (UID prefix included), autologout, BYE on shutdown
 *   selected.c    the selected mailbox: sequence numbers, sync and the
 *                 untagged EXISTS/EXPUNGE/FETCH it sends, sequence-set
 *                 arguments, storage errors as replies, mailbox-name
 *                 arguments, opening the store (mail_location)
 *   cmd_folder.c  LIST LSUB CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE
 *                 NAMESPACE STATUS ENABLE GETQUOTA GETQUOTAROOT
 *   cmd_select.c  SELECT EXAMINE CLOSE UNSELECT CHECK NOOP's sync
 *   cmd_fetch.c   FETCH / UID FETCH
 *   cmd_store.c   STORE / UID STORE, EXPUNGE / UID EXPUNGE
 *   cmd_search.c  SEARCH SORT THREAD (and their UID forms)
 *   cmd_copy.c    COPY MOVE (and UID forms), APPEND
 *   cmd_idle.c    IDLE
 *
 * Sequence numbers are the session's own: sel->uids[] is what this client
 * has been told (RFC 9051 section 7.5: no EXPUNGE during FETCH, STORE or
 * SEARCH; a message another session expunged keeps its number until the
 * client may be told).
 */
#ifndef YUBIN_IMAPD_MAILSESS_H
#define YUBIN_IMAPD_MAILSESS_H

#include "imapd/imapd.h"
#include "lib-imap/imap_arg.h"
#include "lib-imap/imap_seqset.h"
#include "lib-login/mailworker.h"
#include "lib-storage/mailbox.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct evloop;
struct mail_server;

/* ENABLE'd extensions (RFC 5161). */
#define MS_ENABLED_CONDSTORE 0x1
#define MS_ENABLED_QRESYNC   0x2
#define MS_ENABLED_UTF8      0x4         /* UTF8=ACCEPT: mailbox names are UTF-8 */

/* The selected mailbox. */
struct msel {
    struct mview *v;
    char name[MSTORE_NAME_MAX + 1];      /* storage name (mUTF-7) */
    int readonly;                        /* EXAMINE */
    uint32_t *uids;                      /* sequence number i + 1 is uids[i] */
    size_t n, cap;
    uint32_t first_recent;               /* UIDs >= this are \Recent here (0: none) */
    struct imap_seqset saved;            /* SEARCHRES "$" (UIDs) */
    unsigned nkeywords;                  /* keywords the client was told in FLAGS */
    struct imap_seqset recent;           /* UIDs \Recent here exactly (first_recent: its lowest;
                                            imapd_sel_recent() asks it) */
};

struct msession {
    struct mail_server *srv;
    struct conn *c;
    struct imap_parser *p;
    char *user, *home, *mail;            /* mail: the userdb's mail location, or "" */
    char rip[64], lip[64];
    int tls;
    int closing;
    unsigned enabled;                    /* MS_ENABLED_* */
    struct mstore *st;                   /* the user's store, opened at session start */
    struct msel *sel;                    /* NULL unless a mailbox is selected */
    void *idle;                          /* cmd_idle.c's state while IDLE runs, else NULL */
    void *append;                        /* cmd_copy.c's state while APPEND streams, else NULL */
    struct msession *next, *prev;
};

struct mail_server {
    struct login_worker w;               /* first: the loop, the launcher, the count */
    const struct imapd_settings *set;
    struct msession *sessions;
};

/*
 * A command handler. uid is 1 for the "UID <cmd>" form. args are the
 * command's arguments (after the UID sub-command's name), ended by EOL.
 */
typedef void mail_cmd_fn(struct msession *s, const char *tag, const struct imap_arg *args,
                         int uid);

/* cmd_folder.c */
mail_cmd_fn imapd_cmd_list, imapd_cmd_lsub, imapd_cmd_create, imapd_cmd_delete, imapd_cmd_rename,
    imapd_cmd_subscribe, imapd_cmd_unsubscribe, imapd_cmd_namespace, imapd_cmd_status, imapd_cmd_enable,
    imapd_cmd_getquota, imapd_cmd_getquotaroot;
/* cmd_select.c */
mail_cmd_fn imapd_cmd_select, imapd_cmd_examine, imapd_cmd_close, imapd_cmd_unselect, imapd_cmd_check;
/* cmd_fetch.c */
mail_cmd_fn imapd_cmd_fetch;
/* cmd_store.c */
mail_cmd_fn imapd_cmd_store, imapd_cmd_expunge;
/* cmd_search.c */
mail_cmd_fn imapd_cmd_search, imapd_cmd_sort, imapd_cmd_thread;
/* cmd_copy.c */
mail_cmd_fn imapd_cmd_copy, imapd_cmd_move, imapd_cmd_append;
/*
 * cmd_copy.c: APPEND streams its message literals. The parser runs in
 * stream mode; when it stops at a literal (IMAP_PARSE_LITERAL),
 * imapd_cmd_append_literal decides (an APPEND message is streamed, any
 * other literal held) and returns the result to act on (CONTINUE: send
 * "+ OK"). While s->append is set, input goes to imapd_cmd_append_input
 * first: it returns the bytes it took (0: none wanted, feed the parser).
 * imapd_cmd_append_stop drops what is left (a parse error, the session ends).
 */
enum imap_parse_result imapd_cmd_append_literal(struct msession *s);
size_t imapd_cmd_append_input(struct msession *s, const char *data, size_t len);
void imapd_cmd_append_stop(struct msession *s);
/* cmd_idle.c */
mail_cmd_fn imapd_cmd_idle;
/*
 * cmd_idle.c: input arriving while s->idle is set goes here instead of
 * the parser ("DONE"); returns the bytes used.
 */
size_t imapd_cmd_idle_input(struct msession *s, const char *data, size_t len);
/* cmd_idle.c: the session ends or the mailbox is closed while idling. */
void imapd_cmd_idle_stop(struct msession *s);

/* ---- selected.c ---- */

/* Open s->st from the session's mail location (mail_location rules). 0 or -1 (logged). */
int imapd_sess_open_store(struct msession *s);
/* Close the selected mailbox (no EXPUNGE; CLOSE expunges first itself). */
void imapd_sel_close(struct msession *s);
/*
 * Sync the view and tell the client: "* n EXPUNGE" (only when
 * allow_expunge), "* n EXISTS", "* n RECENT", "* n FETCH (FLAGS ...)" for
 * flag changes by others. When expunges may not be sent, their numbers stay
 * until a later call may. "* BYE" and closing when UIDVALIDITY changed.
 */
void imapd_sel_sync(struct msession *s, int allow_expunge);
/*
 * A sequence-set argument (sequence numbers, or UIDs when uid) as a sorted
 * list of UIDs the session knows ("$" is the saved result). 0, or -1 with
 * *err for a BAD reply. *uids is malloc'd (free it).
 */
int imapd_sel_uids(struct msession *s, const struct imap_arg *a, int uid, uint32_t **uids,
                 size_t *n, const char **err);
/* Sequence number of uid as the client knows it, or 0. */
uint32_t imapd_sel_seq(const struct msession *s, uint32_t uid);
/* The tagged NO for a storage failure ([NONEXISTENT], [NOPERM], [OVERQUOTA], [SERVERBUG] ...). */
void imapd_sess_reply_storage(struct msession *s, const char *tag, const char *what,
                            const struct storage_error *e);
/*
 * A mailbox-name argument as the storage name (INBOX case-folded; mUTF-7
 * checked, or UTF-8 converted when UTF8=ACCEPT is enabled). 0, or -1 after
 * replying BAD/NO with tag.
 */
int imapd_sess_mailbox_arg(struct msession *s, const char *tag, const struct imap_arg *a,
                         char *out, size_t outlen);

#endif
