/*
 * mstore_int.h - what the IMAP half of lib-storage (folders.c, dotlock.c,
 * uidlist.c, mindex.c, mview.c) shares and nobody else: the store, the
 * dotlock, Dovecot's uidlist and keywords files, Maildir file names, and
 * yubin's index records.
 */
#ifndef YUBIN_MSTORE_INT_H
#define YUBIN_MSTORE_INT_H

#include "lib-storage/mailbox.h"
#include "lib-storage/storage_int.h"

#include <sys/stat.h>

#define MSTORE_FILE_MAX 1024              /* a Maildir file name */

struct mstore {
    char root[STORAGE_PATH_MAX];
    int fd;                               /* the root directory */
    struct mquota_rules *quota;           /* mstore_set_quota_rules(), or NULL: the default */
};

/* Note a change of the Maildir++ quota in folder (quota.h, with the store's rules). */
void mstore_quota_note(struct mstore *st, const char *folder, long long bytes, long long count);

/* ---- dotlock.c ---- */

/* Create dirfd/name exclusively ("<pid>:<host>" in it); wait up to timeout_ms for others. */
int mstore_dotlock_take(int dirfd, const char *name, unsigned timeout_ms);
void mstore_dotlock_release(int dirfd, const char *name);
/* Write data into dirfd/name through a temp file and rename; with sync, fsync file and directory. */
int mstore_file_replace(int dirfd, const char *name, const void *data, size_t len, int sync);

/* ---- uidlist.c ---- */

struct uidlist_entry {
    uint32_t uid;
    char *ext;                            /* extension fields ("S123 W456") or NULL */
    char *base;                           /* base name: the file name before ':' */
};

struct uidlist {
    uint32_t uidvalidity, next_uid;
    char guid[33];
    struct uidlist_entry *e;              /* ascending uid */
    size_t n, cap;
    struct stat st;                       /* of the file read (st_ino 0: none) */
};

/* Read dirfd/dovecot-uidlist; a missing file gives an empty list (uidvalidity 0). */
int uidlist_read(int dirfd, struct uidlist *ul);
int uidlist_parse(struct uidlist *ul, const char *text, size_t len);
void uidlist_free(struct uidlist *ul);
/* Write it (new uidvalidity and guid first when uidvalidity is 0). Caller holds the lock. */
int uidlist_write(int dirfd, struct uidlist *ul);
/* Append entries [from, n) to the file as Dovecot does (rewrites it when it changed meanwhile). */
int uidlist_append(int dirfd, struct uidlist *ul, size_t from);
void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base, size_t baselen);
/* Index of the entry with this base name, using a sorted copy made by uidlist_index(). */
struct uidlist_index {
    size_t *order;                        /* entries sorted by base name */
    size_t n;
};
void uidlist_index(const struct uidlist *ul, struct uidlist_index *ix);
long uidlist_lookup(const struct uidlist *ul, const struct uidlist_index *ix, const char *base,
                    size_t baselen);
void uidlist_index_free(struct uidlist_index *ix);

#define UIDLIST_FILE "dovecot-uidlist"
#define UIDLIST_LOCK "dovecot-uidlist.lock"
#define UIDLIST_LOCK_TIMEOUT_MS 30000

/* dovecot-keywords: names[i] for letter 'a' + i. */
struct keywords {
    char *names[MSTORE_KEYWORDS];
};
int mkeywords_read(int dirfd, struct keywords *kw);
int mkeywords_write(int dirfd, const struct keywords *kw);
void mkeywords_free(struct keywords *kw);

/* ---- Maildir file names (mview.c) ---- */


/* Flags and keywords from name's ":2,<info>"; the base name's length. */
void mname_parse(const char *name, unsigned *flags, uint32_t *keywords, size_t *baselen);
/* ,S=<size> and ,W=<vsize> from the base name; 0 when absent. */
void mname_sizes(const char *name, size_t baselen, uint64_t *size, uint64_t *vsize);
/* base + ":2," + flag letters (ASCII order) + keyword letters. */
int mname_make(char *out, size_t outlen, const char *base, size_t baselen, unsigned flags,
               uint32_t keywords);
/* The same, keeping old's info letters that are neither flags nor keywords ("P"). */
int mname_remake(char *out, size_t outlen, const char *base, size_t baselen, unsigned flags,
                 uint32_t keywords, const char *old);

/* ---- mindex.c: yubin.index ---- */

struct mindex {
    uint32_t uidvalidity, next_uid;
    uint32_t first_recent_uid;            /* UIDs below were \Recent in some session already */
    char guid[33];                        /* the uidlist's mailbox GUID (OBJECTID MAILBOXID) */
    uint64_t highest_modseq;              /* largest MODSEQ given out */
    uint64_t reserved_modseq;             /* durable ceiling: nothing above it was given out */
    char boot_id[40];                     /* the boot that wrote it */
    int64_t new_mtime_ns, cur_mtime_ns;   /* new/ and cur/ when they were last read */
    struct stat uidlist_st;               /* dovecot-uidlist then (ino, size, mtime) */
    struct mmsg *m;                       /* ascending uid; names owned */
    size_t n, cap;
    struct stat file_st;                  /* yubin.index as read */
    int sync_needed;                      /* the reservation moved: fsync the next write */
};

#define MINDEX_FILE "yubin.index"
#define MINDEX_CACHE "yubin.cache"

/* Read dirfd/yubin.index; -1 when missing or damaged (the caller rebuilds). */
int mindex_read(int dirfd, struct mindex *ix);
/* Write it (temp file and rename; fsync when the MODSEQ reservation moves). */
int mindex_write(int dirfd, struct mindex *ix);
/* The next MODSEQ to give out: above everything given out before, even across a crash. */
uint64_t mindex_next_modseq(struct mindex *ix);
void mindex_free(struct mindex *ix);
void mindex_clear(struct mindex *ix);
void mindex_push(struct mindex *ix, const struct mmsg *m);
/* A floor for MODSEQ when the index was lost: the clock in microseconds. */
uint64_t mindex_modseq_floor(void);
/* The current boot's id ("" when unknown). */
const char *mindex_boot_id(void);


/* ---- mcache.c: yubin.cache ---- */

struct mcache_ent {
    uint32_t uid, field;
    uint32_t seq;                         /* later records win */
    uint32_t priv;                        /* data is in priv (this process's puts), else the map */
    size_t off, len;                      /* record header offset (map) or data offset (priv) */
};

struct mcache {
    int dirfd;
    uint32_t uidvalidity;
    int loaded;
    const char *map;                      /* the file as mapped at load (shared page cache) */
    size_t map_len;
    char *priv;                           /* blobs put since, in this process */
    size_t priv_len, priv_cap;
    int have_file;                        /* the file exists with this UIDVALIDITY */
    struct mcache_ent *e;
    size_t n, ecap;
    uint32_t seq;
    uint32_t *slot;                       /* open-addressing index: 1 + entry, 0 empty */
    size_t nslot;                         /* a power of two, at least twice n */
    int wfd, wopen;                       /* the file opened for appending, when wopen */
    char *wbuf;                           /* records not yet written (one write per batch) */
    size_t wlen, wcap;
};

void mcache_init(struct mcache *c, int dirfd, uint32_t uidvalidity);
const void *mcache_get(struct mcache *c, uint32_t uid, uint32_t field, size_t *len);
int mcache_put(struct mcache *c, uint32_t uid, uint32_t field, const void *data, size_t len);
int mcache_flush(struct mcache *c);
void mcache_free(struct mcache *c);

/* FNV-1a, 64 bits: the checksum of index and cache records. */
uint64_t mstore_hash(const void *data, size_t len, uint64_t h);
#define MSTORE_HASH_INIT 0xcbf29ce484222325ULL

/* ---- mview.c, mview_ops.c: a folder's view ---- */

struct mview {
    struct mstore *st;
    char name[MSTORE_NAME_MAX + 1];
    int dirfd, curfd, newfd;              /* the folder, its cur/ and new/ */
    struct mindex ix;                     /* the messages as last synced (= yubin.index) */
    struct uidlist ul;                    /* dovecot-uidlist as last read under the lock */
    struct keywords kw;
    struct mcache cache;
    struct mview_changes pending;         /* found by syncs, not yet returned */
    size_t cap_exp, cap_add, cap_chg;
    struct mailbox *box;                  /* for appends, opened on first use */
    time_t append_received;               /* INTERNALDATE of the append under way, or 0 */
    unsigned scans;
};

/* Same inode, size and mtime: a control file nobody rewrote or appended to. */
int mstore_same_file(const struct stat *a, const struct stat *b);
int mview_lock(struct mview *v, struct storage_error *err);
void mview_unlock(struct mview *v);
/* Bring v->ix up to date (holding the lock); differences go to v->pending. */
int mview_sync_locked(struct mview *v, struct storage_error *err);
/* The current name in cur/ of the message with this base name; 0, or -1 when gone. */
int mview_find_base(struct mview *v, const char *base, size_t baselen, char *out, size_t outlen);
/* Record uid as expunged in v->pending (forgotten when it was never reported). */
void mview_pending_expunge(struct mview *v, uint32_t uid, int *reported);
void mview_pending_add(struct mview *v, uint32_t uid);
void mstore_uidset_put(uint32_t **a, size_t *n, size_t *cap, uint32_t uid);

#endif
