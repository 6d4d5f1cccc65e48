/*
 * storage.h - mailboxes on disk: Maildir and mbox, opened and written
 * with the caller's privileges.
 *
 * Owns: where a mailbox is (a location: a path whose trailing '/' says
 * Maildir, as Postfix's home_mailbox and virtual_mailbox_maps do), its
 * Maildir++ folders (".Folder/" with a "maildirfolder" file, created on
 * demand), mbox locking (dotlock, fcntl, flock), saving one message from
 * a stream with flags and a received time, and the durability rule:
 * storage_save_finish() returns 0 only when the message and the
 * directory entry that names it are on disk (fsync), so a caller may
 * answer 250 on it. A failed or aborted save leaves nothing behind (a
 * Maildir tmp/ file is removed, an mbox is truncated back).
 *
 * Privileges: this library never switches users and never needs root.
 * The caller becomes the mailbox owner first (the delivery agents do,
 * in src/deliver/privs.c); an IMAP or LMTP server runs as that owner
 * anyway. Final path components are never followed through a symlink
 * (Maildir files and mbox files are opened O_NOFOLLOW).
 *
 * Errors: every failure fills a struct storage_error with an errno, an
 * RFC 3463 enhanced status code (4.x.x: try again later; 5.x.x: do not)
 * and a short text of what failed, for the caller to put into its own
 * reply ("maildir delivery failed: <text>", "cannot update mailbox ...
 * <text>"). A failure of the caller's own stream is marked as such, so
 * the caller can report its own read error.
 *
 * Users: the virtual and local delivery agents (src/deliver/store.c);
 * next the LMTP server, IMAP APPEND and Sieve fileinto.
 */
#ifndef YUBIN_STORAGE_H
#define YUBIN_STORAGE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

enum storage_format { STORAGE_MAILDIR, STORAGE_MBOX };

struct mquota_rules;

/* mbox locking methods (virtual_mailbox_lock, mailbox_delivery_lock). */
#define MBOX_LOCK_FCNTL   0x1
#define MBOX_LOCK_FLOCK   0x2
#define MBOX_LOCK_DOTLOCK 0x4

/* struct storage_location flags. */
#define STORAGE_LOC_CHOWN_NEW    0x1   /* a new mbox file is handed to uid/gid (caller is root) */
#define STORAGE_LOC_STRICT_OWNER 0x2   /* an existing mbox file must belong to uid */

/* Longest mailbox path, folder name, and error text. */
#define STORAGE_PATH_MAX   4096
#define STORAGE_FOLDER_MAX 255
#define STORAGE_TEXT_MAX   4400

struct storage_location {
    enum storage_format format;
    const char *path;                /* Maildir directory or mbox file */
    const char *log_id;              /* prefix of log lines (a queue ID), or NULL */
    long long limit;                 /* Maildir: largest message; mbox: largest file; 0 none */
    unsigned flags;                  /* STORAGE_LOC_* */
    uid_t uid;                       /* the owner, for STORAGE_LOC_* */
    gid_t gid;
    /* mbox locking */
    int locks;                       /* MBOX_LOCK_* */
    int lock_attempts;               /* deliver_lock_attempts (at least 1) */
    unsigned lock_delay_ms;          /* deliver_lock_delay */
    long stale_lock_time;            /* seconds after which a dotlock is removed */
    /* Maildir++ quota rules (quota.h) for the changes a save notes; NULL: the default */
    const struct mquota_rules *quota;
};

struct storage_error {
    int err;                         /* errno of the failure */
    int source;                      /* the caller's stream failed, not the mailbox */
    char dsn[8];                     /* "4.2.0", "5.2.2" ... */
    char text[STORAGE_TEXT_MAX];     /* what failed: "create maildir: Permission denied" */
};

/* 1 for a temporary failure (4.x.x), 0 for a permanent one. */
int storage_error_temporary(const struct storage_error *e);

/* errno -> enhanced status: quota/size 5.2.2, disk full/EIO 4.3.0, anything else def. */
const char *storage_errno_dsn(int err, const char *def);

/* The trailing-slash rule: "dir/" is a Maildir, anything else an mbox file. */
enum storage_format storage_format_of(const char *path);

/* mailbox_open() flags. */
#define STORAGE_OPEN_CREATE 0x1          /* create a missing Maildir or folder */

struct mailbox;

/*
 * Open the mailbox at loc, or its Maildir++ folder (NULL or "" for the
 * mailbox itself; "Work" or "Work.Sub" is ".Work/" or ".Work.Sub/").
 * An mbox is locked from here to mailbox_close(); mbox files have no
 * folders. NULL with err filled on failure.
 */
struct mailbox *mailbox_open(const struct storage_location *loc, const char *folder, int flags,
                             struct storage_error *err);
void mailbox_close(struct mailbox *box);

/* Message flags (IMAP system flags); a Maildir stores them as ":2,<letters>". */
#define STORAGE_FLAG_ANSWERED 0x01       /* R */
#define STORAGE_FLAG_FLAGGED  0x02       /* F */
#define STORAGE_FLAG_DELETED  0x04       /* T */
#define STORAGE_FLAG_SEEN     0x08       /* S */
#define STORAGE_FLAG_DRAFT    0x10       /* D */

struct storage_save_opts {
    unsigned flags;                  /* STORAGE_FLAG_*: none puts a Maildir message in new/ */
    time_t received;                 /* for the mbox "From " line; 0: now */
    const char *sender;              /* envelope sender for the mbox "From " line ("" <>) */
    long long size;                  /* bytes the caller will write, or -1 when unknown */
};

struct storage_save;

/* Start saving one message into box. NULL with err filled on failure. */
struct storage_save *storage_save_begin(struct mailbox *box, const struct storage_save_opts *o,
                                        struct storage_error *err);
/* Add message bytes. 0, or -1 with err filled (then call storage_save_abort()). */
int storage_save_write(struct storage_save *s, const void *data, size_t len,
                       struct storage_error *err);

/* The caller's stream: up to cap bytes into buf; 0 at the end, -1 with errno on error. */
typedef ssize_t storage_read_fn(void *ctx, char *buf, size_t cap);
/* storage_save_write() of everything read() gives. A read failure sets err->source. */
int storage_save_stream(struct storage_save *s, storage_read_fn *read, void *ctx,
                        struct storage_error *err);

/*
 * Make the message durable and visible; frees s. 0 with the message's
 * name in id (Maildir: the file name in new/ or cur/; mbox: "mbox:<offset>"),
 * or -1 with err filled and nothing left behind.
 */
int storage_save_finish(struct storage_save *s, char *id, size_t idlen, struct storage_error *err);
/* Drop the message being saved (nothing is left behind); frees s. */
void storage_save_abort(struct storage_save *s);

/* Test hook: replaces write(2) for message data (NULL restores it). */
typedef ssize_t storage_write_fn(int fd, const void *buf, size_t len);
void storage_set_write_hook(storage_write_fn *fn);

#endif
