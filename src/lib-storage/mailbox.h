/*
 * mailbox.h - the mailbox as an IMAP server needs it, over a Maildir laid
 * out as Dovecot lays it out (Maildir++), so a Maildir moves between
 * Dovecot and yubin without new UIDs.
 *
 * Owns:
 *  - the store (struct mstore): one user's Maildir root, opened once; every
 *    path below it is reached with openat() from the root's descriptor
 *    and O_NOFOLLOW, so a symlink inside the Maildir never leads out;
 *  - folders: INBOX is the root, "Work.Sub" is ".Work.Sub/" (names are raw
 *    bytes, mUTF-7 as Dovecot stores them: the IMAP layer converts); list,
 *    create (with "maildirfolder"), delete, rename (with children), the
 *    "subscriptions" file (Dovecot's "V\t2" format), special-use by name;
 *  - the view of one folder (struct mview): its messages sorted by UID, a
 *    sync that reports what changed since the last one (new UIDs, expunged
 *    UIDs, flag changes) so IMAP can send EXISTS/EXPUNGE/FETCH, flag
 *    changes (renames), expunge, copy, move, append and reading.
 *
 * UIDs, UIDVALIDITY and keywords live in Dovecot's files ("dovecot-uidlist",
 * "dovecot-keywords"), changed only under Dovecot's "dovecot-uidlist.lock"
 * dotlock and replaced by rename after fsync, so a UID is never given to
 * two messages within one UIDVALIDITY, even across a kill -9 at any point.
 * yubin's own "yubin.index" (flags, keywords, sizes, INTERNALDATE, MODSEQ,
 * file names) and "yubin.cache" (opaque blobs per UID and field) are caches:
 * deleted or damaged, they are rebuilt from the Maildir and the uidlist.
 * MODSEQ never goes backwards (see mindex.c).
 *
 * No I/O other than the filesystem; no user switching: the caller runs as
 * the mailbox owner. Errors fill a struct storage_error (storage.h); err
 * is ENOENT for a folder or message that does not exist.
 *
 * Typical use by an IMAP session:
 *   st = mstore_open(home_maildir, 1, &err)            after login
 *   LIST: mstore_list(); STATUS: mstore_status(); CREATE/DELETE/RENAME,
 *     (UN)SUBSCRIBE, LSUB: mstore_create() ... mstore_subscriptions()
 *   SELECT: v = mview_open(st, name); uids = mview_msgs(); first recent =
 *     mview_claim_recent() (not for EXAMINE); UIDVALIDITY, UIDNEXT,
 *     HIGHESTMODSEQ from the accessors
 *   NOOP/IDLE/after each command: mview_sync() -> EXPUNGE for "expunged",
 *     EXISTS for "added", FETCH FLAGS for "changed"; BYE when
 *     uidvalidity_changed; IDLE may watch mview_dirfd()'s new/ and cur/
 *   FETCH: mview_find(uid) for flags, sizes, dates; mview_open_msg() for
 *     the text; mview_cache_get/put() for ENVELOPE, BODYSTRUCTURE ...
 *   STORE: mview_keyword_bit() then mview_store(); EXPUNGE/UID EXPUNGE:
 *     mview_expunge(); COPY/MOVE: mview_copy()/mview_move() (COPYUID);
 *     APPEND: mview_append_begin(), storage_save_write(), _finish (APPENDUID)
 * A view must be used by one session at a time; any number of views,
 * processes, yubin's delivery agents and Dovecot may share the folder.
 */
#ifndef YUBIN_MAILBOX_H
#define YUBIN_MAILBOX_H

#include "lib-storage/quota.h"
#include "lib-storage/storage.h"

#include <stdint.h>

#define MSTORE_NAME_MAX 255             /* a folder name, bytes (its directory is ".<name>") */
#define MSTORE_KEYWORDS 26               /* Maildir keyword letters a..z */
#define MSTORE_KEYWORD_MAX 128           /* a keyword name */

/* ---- the store and its folders ---- */

struct mstore;

/* Open the Maildir at root (created, with tmp/new/cur, when create is set). */
struct mstore *mstore_open(const char *root, int create, struct storage_error *err);
void mstore_close(struct mstore *st);
const char *mstore_root(const struct mstore *st);

/* 1 when name is a folder name this layer accepts ("INBOX" in any case is the root). */
int mstore_name_ok(const char *name);

/* Special-use attributes, from the folder's (top-level) name. */
#define MFOLDER_SENT      0x01
#define MFOLDER_DRAFTS    0x02
#define MFOLDER_TRASH     0x04
#define MFOLDER_JUNK      0x08
#define MFOLDER_ARCHIVE   0x10
/* Other attributes of a listed folder. */
#define MFOLDER_NOSELECT  0x100          /* only a parent of existing folders ("Work" of ".Work.Sub") */
#define MFOLDER_CHILDREN  0x200          /* has child folders */
#define MFOLDER_SUBSCRIBED 0x400

unsigned mstore_special_use(const char *name);

struct mfolder {
    char name[MSTORE_NAME_MAX + 1];      /* "INBOX", "Work.Sub" */
    unsigned attrs;                      /* MFOLDER_* */
};

/* All folders (INBOX first, then by name), with parents that exist only as a prefix. */
int mstore_list(struct mstore *st, struct mfolder **out, size_t *n, struct storage_error *err);

int mstore_create(struct mstore *st, const char *name, struct storage_error *err);
/* Delete the folder (not its children, which stay). INBOX cannot be deleted. */
int mstore_delete(struct mstore *st, const char *name, struct storage_error *err);
/* Rename the folder and its children ("A" -> "B" moves ".A.x" to ".B.x"). */
int mstore_rename(struct mstore *st, const char *from, const char *to, struct storage_error *err);

/* The subscribed names (Dovecot's subscriptions file). Free with mstore_strv_free(). */
int mstore_subscriptions(struct mstore *st, char ***names, size_t *n, struct storage_error *err);
int mstore_subscribe(struct mstore *st, const char *name, int on, struct storage_error *err);
void mstore_strv_free(char **v, size_t n);

/*
 * Maildir++ quota ("maildirsize", quota.h): limits (0 none) and use, with
 * the store's rules (recalculated when missing or stale). 0; -1 when
 * there is no quota (no file and no rules) or it cannot be read.
 */
int mstore_quota(struct mstore *st, struct mquota *q);
/* The rules for this store's quota (copied; NULL: the process default). */
void mstore_set_quota_rules(struct mstore *st, const struct mquota_rules *r);
const struct mquota_rules *mstore_quota_rules(const struct mstore *st);

/* ---- one folder's messages ---- */

struct mmsg {
    uint32_t uid;
    unsigned flags;                      /* STORAGE_FLAG_* */
    uint32_t keywords;                   /* bit i: keyword i of mview_keyword() */
    uint64_t size;                       /* bytes of the file (RFC822.SIZE with CRLF: vsize) */
    uint64_t vsize;                      /* size with CRLF line ends when known (W=), else 0 */
    int64_t internaldate;                /* seconds: the file's mtime */
    uint64_t modseq;
    char *name;                          /* the file name in cur/ (base name + ":2,<info>") */
    size_t baselen;                      /* the base name is name[0..baselen) */
};

struct mview;

/* Open a folder's view and sync it once. NULL with err filled on failure. */
struct mview *mview_open(struct mstore *st, const char *name, struct storage_error *err);
void mview_close(struct mview *v);

uint32_t mview_uidvalidity(const struct mview *v);
uint32_t mview_uidnext(const struct mview *v);
uint64_t mview_highest_modseq(const struct mview *v);
/*
 * The messages as last synced, sorted by UID. Every call that changes the
 * folder (mview_store, _expunge, _copy into it, _move) syncs first, so this
 * array may already lack messages whose expunge the client has not been
 * told: the IMAP layer keeps its own UID list for sequence numbers and
 * applies what mview_sync() returns when it may send EXPUNGE/EXISTS
 * (a UID it does not know in "expunged" is to be ignored). Pointers into
 * the array are valid until the next call on the view.
 */
const struct mmsg *mview_msgs(const struct mview *v, size_t *n);
/* Index of uid in mview_msgs(), or -1. */
long mview_find(const struct mview *v, uint32_t uid);
/* Keyword name of bit i, or NULL. */
const char *mview_keyword(const struct mview *v, unsigned i);
/*
 * Bit of a keyword name (case-insensitive), added to dovecot-keywords when
 * missing and create is set; -1 when unknown, or full: Maildir has 26
 * keyword letters per folder (Dovecot keeps more only in its own index).
 */
int mview_keyword_bit(struct mview *v, const char *name, int create, struct storage_error *err);

/* What a sync found; arrays owned by the struct, freed with mview_changes_free(). */
struct mview_changes {
    uint32_t *expunged;                  /* UIDs gone, ascending */
    size_t nexpunged;
    uint32_t *added;                     /* new UIDs, ascending */
    size_t nadded;
    uint32_t *changed;                   /* UIDs whose flags or keywords changed */
    size_t nchanged;
    int uidvalidity_changed;             /* the uidlist was recreated: start over */
};
/* Bring the view up to date with the disk; cheap when nothing changed. */
int mview_sync(struct mview *v, struct mview_changes *ch, struct storage_error *err);
void mview_changes_free(struct mview_changes *ch);

enum mview_store_op { MVIEW_FLAGS_SET, MVIEW_FLAGS_ADD, MVIEW_FLAGS_REMOVE };
/*
 * Change flags and keywords of the given UIDs (renames in cur/; a file
 * moved meanwhile is looked up again by its base name, an expunged one is
 * skipped). Changed messages get a new MODSEQ.
 */
int mview_store(struct mview *v, const uint32_t *uids, size_t n, enum mview_store_op op,
                unsigned flags, uint32_t keywords, struct storage_error *err);
/* Remove messages with \Deleted (all, or only those in uids when uids != NULL). */
int mview_expunge(struct mview *v, const uint32_t *uids, size_t n, struct mview_changes *ch,
                  struct storage_error *err);
/* Hard-link messages into dst with new UIDs (newuids[i] for uids[i], 0 if it was gone). */
int mview_copy(struct mview *v, const uint32_t *uids, size_t n, struct mview *dst,
               uint32_t *newuids, struct storage_error *err);
/* mview_copy() then remove the originals. */
int mview_move(struct mview *v, const uint32_t *uids, size_t n, struct mview *dst,
               uint32_t *newuids, struct storage_error *err);

/*
 * APPEND: a storage_save (storage.h) into this folder; o->received, when
 * set, becomes the INTERNALDATE (the file's mtime, as Dovecot keeps it).
 * Finish makes the message durable, adds the keywords and assigns the UID
 * under the lock (UIDPLUS APPENDUID); the message shows in the view at the
 * next mview_sync().
 */
struct storage_save *mview_append_begin(struct mview *v, const struct storage_save_opts *o,
                                        struct storage_error *err);
int mview_append_finish(struct mview *v, struct storage_save *s, uint32_t keywords,
                        uint32_t *uid, struct storage_error *err);

/* Open a message for reading (O_RDONLY); -1 with err (ENOENT when it was expunged). */
int mview_open_msg(struct mview *v, uint32_t uid, struct storage_error *err);

/* The cache: opaque blobs per (uid, field), e.g. ENVELOPE, BODYSTRUCTURE. */
const void *mview_cache_get(struct mview *v, uint32_t uid, uint32_t field, size_t *len);
int mview_cache_put(struct mview *v, uint32_t uid, uint32_t field, const void *data, size_t len);
/* Write what mview_cache_put() gathered (it writes in batches; closing the view writes the rest). */
int mview_cache_flush(struct mview *v);

/* The mailbox GUID of dovecot-uidlist (32 hex digits; OBJECTID's MAILBOXID). */
const char *mview_guid(const struct mview *v);

/*
 * \Recent as Dovecot counts it: the first session to claim a message gets
 * it. Returns the first UID that is recent for the caller (every UID from
 * it up to the current UIDNEXT - 1); later claims by anyone start above.
 * SELECT calls it once, and again after a sync that added messages;
 * EXAMINE does not. 0 on error.
 */
uint32_t mview_claim_recent(struct mview *v, struct storage_error *err);

/* STATUS of a folder without selecting it (opens its view: cheap when its index is current). */
struct mstatus {
    uint32_t messages, recent, unseen, deleted, uidnext, uidvalidity;
    uint64_t highest_modseq;
    uint64_t size;                       /* STATUS=SIZE: W= sizes where known, else file sizes */
};
int mstore_status(struct mstore *st, const char *name, struct mstatus *s,
                  struct storage_error *err);

/* The folder's directory (for inotify on "/proc/self/fd/<fd>/new", IDLE). */
int mview_dirfd(const struct mview *v);
const char *mview_name(const struct mview *v);

/* Statistics for tests and benchmarks: directory scans done by this view. */
unsigned mview_scans(const struct mview *v);

#endif
