/*
 * storage_int.h - what storage.c shares with the two formats (maildir.c,
 * mbox.c) and nobody else: the mailbox and save objects and the table of
 * operations each format fills in.
 */
#ifndef YUBIN_STORAGE_INT_H
#define YUBIN_STORAGE_INT_H

#include "lib-storage/storage.h"

#include <stdarg.h>

#define STORAGE_UNIQUE_MAX 768           /* a Maildir unique name */
#define STORAGE_CHUNK (64 * 1024)        /* stream reads and mbox output buffering */

struct storage_ops {
    int (*open)(struct mailbox *box, const char *folder, int flags, struct storage_error *err);
    void (*close)(struct mailbox *box);
    int (*begin)(struct storage_save *s, struct storage_error *err);
    int (*write)(struct storage_save *s, const char *data, size_t len, struct storage_error *err);
    int (*finish)(struct storage_save *s, char *id, size_t idlen, struct storage_error *err);
    void (*abort)(struct storage_save *s);
};

struct mailbox {
    const struct storage_ops *ops;
    struct storage_location loc;     /* the caller's; loc.log_id and loc.quota outlive the box */
    char root[STORAGE_PATH_MAX];     /* loc.path points here */
    char path[STORAGE_PATH_MAX];     /* Maildir: the (folder) directory with a final '/'; mbox: the file */
    int fd;                          /* Maildir: that directory; mbox: the file (locked) */
    int dotlocked;                   /* mbox: path.lock is ours */
    off_t end;                       /* mbox: the file's length before the current save */
    int saving;                      /* a storage_save is open */
    char folder[STORAGE_FOLDER_MAX + 1]; /* Maildir: the folder ("" the INBOX), for the quota */
};

struct storage_save {
    struct mailbox *box;
    struct storage_save_opts o;
    long long in_bytes;              /* bytes the caller gave */
    long long out_bytes;             /* bytes written to the file */
    int fd;                          /* Maildir: the tmp/ file; mbox: box->fd */
    /* Maildir */
    char unique[STORAGE_UNIQUE_MAX];
    char tmpname[STORAGE_UNIQUE_MAX + 64];
    /* mbox */
    long long from_len;              /* length of the "From " line */
    char *out;                       /* output buffer (STORAGE_CHUNK) */
    size_t outlen;
    int bol;                         /* the next input byte starts a line */
    char held[5];                    /* a line start that may become "From " */
    size_t nheld;
    char last;                       /* last byte written */
};

extern const struct storage_ops storage_maildir_ops;
extern const struct storage_ops storage_mbox_ops;

/* Fill err: errno err_no, its status (storage_errno_dsn(err_no, def)), "what: strerror". */
void storage_fail(struct storage_error *e, int err_no, const char *def, const char *what);
/* Fill err with an explicit status and text. */
void storage_failf(struct storage_error *e, int err_no, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* msg_warn() with the location's log ID in front. */
void storage_warn(const struct mailbox *box, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A new Maildir unique base name "<sec>.M<usec>P<pid>Q<n>.<host>" (maildir.c). */
void storage_maildir_unique(char *out, size_t outlen);
/* write(2) of all of buf through the test hook. 0, or -1 with errno. */
int storage_write_all(int fd, const void *buf, size_t len);

#endif
