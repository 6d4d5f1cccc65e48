/*
 * queue.h - the durable mail queue.
 *
 * Owns: queue IDs (Postfix long form), the on-disk record format, the
 * journal writer with group commit, reading a queued message back, the
 * per-recipient "done" logs, deferred/hold files, the scan used at
 * start-up to rebuild the set of pending messages, removal of finished
 * segments, and the text protocol `yubin queue` speaks to qmgr.
 *
 * ------------------------------------------------------------------------
 * Layout under queue_directory (queue_dir_init)
 *
 *   journal/J<epoch>.<pid>.<n>  append-only segments, one writer process
 *                               each (smtpd, pickup, qmgr for bounces).
 *   journal/J<...>.done         done log of that segment (qmgr).
 *   journal/.J<...>             a segment being created (never read).
 *   deferred/<qid>              one message waiting for a retry;
 *   hold/<qid>                  one message on hold. Same file format as
 *                               a segment holding exactly one record.
 *   deferred/<qid>.done, hold/<qid>.done   done log of that file.
 *   deferred/.<qid>.<pid>.tmp   a file being written (never read).
 *   tmp/                        spill files of large messages being
 *                               received (queue_tmpfile: O_TMPFILE, so a
 *                               crash leaves nothing behind).
 *   maildrop/                   mode 1733: `yubin sendmail` while the system is down;
 *                               pickup takes the files (src/cmd/sendmail.c).
 *   private/, public/           UNIX sockets.
 *   pid/                        master.pid
 *
 * ------------------------------------------------------------------------
 * File format (all integers little-endian)
 *
 * Every segment and every deferred/hold file starts with a 32-byte file
 * header:
 *     0  4  magic "YBQF"
 *     4  1  version (1)
 *     5  1  kind: 1 = journal segment, 2 = single-message file
 *     6  2  zero
 *     8  8  salt: 64 random bits, unique per file
 *    16  8  creation time, microseconds since the epoch
 *    24  4  zero
 *    28  4  CRC32C of bytes 0..27
 * followed by records, back to back. A record:
 *     0  4  magic "YBQR"
 *     4  1  version (1)
 *     5  1  type: 1 = message, 2 = seal (see below)
 *     6  2  zero
 *     8  8  total record length: header + envelope + content
 *    16  4  envelope length
 *    20  4  message: CRC32C of the content (plain, unseeded)
 *           seal: low 32 bits of the seal's own offset
 *    24  4  seal: high 32 bits of the seal's own offset; message: zero
 *    28  4  CRC32C of bytes 0..27 and the envelope, seeded with the salt
 *   32  ..  envelope (text, see below), then content: the message exactly
 *           as the caller gave it (LF line endings), never parsed here.
 *
 * Seeding the header CRC with the file's salt means a record can only
 * verify inside the file it was written to: stale blocks of a removed
 * segment that reappear in a new file after a power loss (ext4 without a
 * journal gives no ordering of data and size) never look valid.
 *
 * Validity: a reader walks records from offset 32. A record whose magic,
 * version, type, lengths or header CRC do not verify, or that extends
 * past the end of the file, ends the valid part of the segment: nothing
 * after it is trusted (it was never acknowledged; a warning is logged
 * unless the segment is still held by its writer, where it is simply a
 * record being written).
 *
 * Content CRC: verified by queue_read() and queue_open_content(). The
 * scan verifies it only where a record can be acknowledged-looking but
 * torn: in a segment that no writer holds and that has no seal (the
 * writer died, or the machine did). A seal record is appended by the
 * writer when it closes or rotates a segment after an fdatasync covered
 * every record before it; a sealed segment, or one a live writer holds,
 * is scanned reading envelopes only (skipping content by its length).
 *
 * Envelope: text lines "<key> <value>\n", no NUL anywhere, order fixed:
 *     V 1                               envelope version
 *     Q <qid>
 *     T <arrival_usec>
 *     S <sender>                        empty value for <>
 *     E <envid>                         only when envid != NULL
 *     F <ret_full> <smtputf8> <eightbit>
 *     C <defer_count> <next_try_usec>
 *     A <name>=<value>                  zero or more, in order
 *     R <notify> <flags> <done> <addr>  one or more, then per recipient:
 *     O <orcpt>                           optional, when orcpt != NULL
 *     D <status>                          optional, when status != NULL
 *     X <reason>                          optional, when reason != NULL
 * Numbers are decimal. Values never contain CR, LF or NUL (the writer
 * refuses such envelopes with EINVAL); addresses may contain spaces.
 * Limits below (QUEUE_*_MAX) are enforced on write and on read.
 *
 * ------------------------------------------------------------------------
 * Writing and group commit (struct queue_writer)
 *
 * Each writing process opens one writer. queue_writer_add() appends one
 * record to the writer's current segment with one writev() (retrying
 * partial writes); nothing is durable yet. The caller runs
 * queue_writer_commit() from an event-loop idle hook: ONE fdatasync makes
 * every record added since the previous commit durable, and only then may
 * the sessions waiting for it answer 250. If add fails the message is not
 * queued (answer 4xx); the segment is truncated back to the end of the
 * last good record and the next add starts a new segment. If commit
 * fails, every message added since the previous commit must be answered
 * 4xx; they are truncated away when possible and the writer moves to a
 * new segment. An offset is never reused within a segment (a scan may
 * have seen what was there, and done marks are keyed by offset).
 *
 * A segment is created as journal/.J<...> with O_CREAT|O_EXCL|O_APPEND,
 * locked with flock(LOCK_EX), given its file header (fdatasync'd, so a
 * bad header is corruption, never a crash artefact), then linked to its
 * final name J<...> (link fails instead of replacing an existing name)
 * and the journal directory is fsync'd before any record in it can be
 * acknowledged. The writer keeps the lock while the segment is current;
 * qmgr removes a segment only when it can take the lock (the writer has
 * moved on or died) and every record is done. The writer rotates to a new
 * segment at add time when the current one exceeds QUEUE_SEGMENT_SIZE or
 * QUEUE_SEGMENT_AGE_MS; rotation with uncommitted records fdatasyncs the
 * old segment first. queue_writer_rotate_if_idle() (call it from a timer,
 * e.g. every 60 s) closes an old segment when nothing is pending, so qmgr
 * can remove it once it is finished. Closing (rotation, close) seals the
 * segment.
 *
 * Notification: after a successful commit the writer tells qmgr about
 * every committed record over notify_sock (qmgr's UNIX stream socket,
 * see "Control protocol" for where it is), one line each:
 *     N <path>\t<offset>\t<length>\t<qid>\n
 * <path> is the segment's absolute path, <offset>/<length> locate the
 * record (struct qref). The socket is connected lazily and non-blocking;
 * a write that would block is buffered (up to 1 MB) and retried at the
 * next commit or queue_writer_flush_notify(); EPIPE reconnects once. A
 * notification that cannot be delivered is dropped and NEVER fails the
 * commit: qmgr finds every committed record anyway with queue_scan() at
 * start and when it rescans periodically (qmgr should rescan the journal
 * every few minutes). The scan may also report a record a live
 * writer added but has not committed yet (or whose commit then failed):
 * delivery is at-least-once, such a record is delivered although its
 * client got a 4xx and will probably retry.
 *
 * Large messages: smtpd spills content above ~256 KB to queue_tmpfile()
 * (computing queue_crc32c() on the way if it likes) and hands the fd to
 * queue_writer_add_fd(); the record is still one contiguous record.
 *
 * ------------------------------------------------------------------------
 * Done logs and removal (qmgr only)
 *
 * queue_mark_done() appends a 16-byte entry to "<path>.done":
 *     0  8  record offset
 *     8  4  recipient index, or -1 for the whole record
 *    12  4  CRC32C of bytes 0..11 seeded with the salt of <path>
 * queue_done_sync() makes every entry since the previous sync durable
 * (fdatasync of each dirty .done file, directory fsync for new ones).
 * Entries are verified one by one (a bad one is skipped: it is either
 * torn or garbage, never a valid mark); a partial entry at the end is
 * ignored and truncated away before the next append. A record is done
 * when it has a -1 entry, or an entry for every recipient. qmgr writes -1
 * when it finishes a message. When every record of a segment has a -1
 * entry and the segment is closed (flock(LOCK_EX|LOCK_NB) succeeds), the
 * segment and its .done file are removed (queue_done_sync(), queue_gc()).
 *
 * Deferred and hold files: queue_write_file()/queue_copy_to_file() write
 * dir/<qid> atomically (tmp, fsync, rename, fsync dir). Such a file
 * supersedes a journal record with the same qid: the scan reports only
 * the file (with QUEUE_SCAN_FIX it also marks the journal record done).
 * qmgr's order when deferring a journal message: queue_copy_to_file()
 * into deferred/, then queue_mark_done(journal ref, -1). queue_mark_done()
 * of a deferred/hold file with idx -1 first syncs pending done entries
 * (so the journal record can never come back) and then removes the file
 * and its .done (the directory fsync follows at the next
 * queue_done_sync()). Per-recipient entries for a file go to its .done
 * log; queue_update_file() rewrites a file (new envelope, same content),
 * which gives it a new salt and so retires its old .done entries.
 *
 * Delivery is at-least-once: a crash between delivery and the .done sync
 * can deliver a message twice, never zero times.
 *
 * ------------------------------------------------------------------------
 * Typical use
 *
 * smtpd/pickup: w = queue_writer_open(queue_dir, qmgr socket) once; at
 *   end of DATA queue_writer_add[v|_fd]() (4xx on -1) and park the
 *   session; an ev_hook calls queue_writer_commit() once per loop
 *   iteration and answers every parked session 250 (0) or 451 (-1); a
 *   60 s timer calls queue_writer_rotate_if_idle(); at exit
 *   queue_writer_close().
 * qmgr at start: queue_scan_flags(QUEUE_SCAN_FIX) to learn every pending
 *   message, queue_done_sync(), queue_gc(); then for each "N" line
 *   queue_ref_load() (envelope + content location for dproto). For each
 *   finished recipient queue_mark_done(ref, idx), for a finished message
 *   queue_mark_done(ref, -1); an ev_hook calls queue_done_sync() when
 *   something was marked, and a ~10 s timer calls it too. A record can be
 *   reported by both a notification and a scan: dedupe by (path,
 *   offset). To defer: queue_copy_to_file(deferred/) (or
 *   queue_update_file() when it already is a file), then
 *   queue_mark_done(journal ref, -1). Periodically: a rescan (finds
 *   records whose notification was lost) and queue_gc().
 *
 * ------------------------------------------------------------------------
 * Control protocol (`yubin queue` -> qmgr, over qmgr's socket)
 *
 * qmgr's socket is private/qmgr, or public/qmgr when master.cf's qmgr
 * line has private = n (Postfix's default master.cf does); clients try
 * the one master.cf names first, then the other. The same socket carries
 * the writers' "N ..." lines. qmgr must accept both kinds of line only
 * from uid 0 or mail_owner (SO_PEERCRED), and accept an "N" path only
 * when it lies in its own journal/ directory. A control client
 * sends one request line per operation and reads one reply line:
 *     C <verb> <qid|ALL>\n
 *     verb: delete | hold | release | requeue | flush
 *     ("flush" takes "ALL", or a domain: retry the deferred mail with a
 *     recipient in that domain, for ETRN and postqueue -s; requeue = retry
 *     now, like postqueue -i)
 * reply:
 *     OK <text>\n       e.g. "OK Deleted: 3 messages" (postsuper's words)
 *     ERR <text>\n      e.g. "ERR 4ZxMzF3TQSz9sPg: no such message"
 * Lines are at most QUEUE_CTL_LINE_MAX bytes. Several requests may follow
 * on one connection; qmgr answers them in order.
 * When qmgr is not running (connect fails), `yubin queue` acts on the
 * files directly: delete (done mark / remove file), hold (copy to hold/,
 * mark the journal record done; deferred/ -> hold/ by rename), release
 * and requeue (rewrite into deferred/ with next_try 0); flush needs qmgr.
 * This must not race a starting qmgr; an administrator runs it while the
 * mail system is down, like postsuper.
 */
#ifndef YUBIN_QUEUE_H
#define YUBIN_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/buf.h"

#define QUEUE_ID_MAX 32

/* Field limits, enforced when writing and when reading. */
#define QUEUE_ADDR_MAX      2048       /* bytes in an address or ORCPT */
#define QUEUE_ENVID_MAX     512
#define QUEUE_ATTR_MAX      8192       /* bytes in "name=value" */
#define QUEUE_ATTR_NAME_MAX 64
#define QUEUE_ATTRS_MAX     256
#define QUEUE_REASON_MAX    2048       /* per-recipient reason / status */
#define QUEUE_RCPTS_MAX     100000
#define QUEUE_ENVELOPE_MAX  (64u * 1024 * 1024)
#define QUEUE_CONTENT_MAX   ((uint64_t)1 << 40)

/* Writer defaults (queue_writer_set_limits changes them). */
#define QUEUE_SEGMENT_SIZE   (64u * 1024 * 1024)
#define QUEUE_SEGMENT_AGE_MS (10u * 60 * 1000)

#define QUEUE_CTL_LINE_MAX 1024

/* DSN NOTIFY flags (RFC 3461). 0 = not specified (Postfix: FAILURE|DELAY). */
#define DSN_NOTIFY_NEVER   0x1
#define DSN_NOTIFY_SUCCESS 0x2
#define DSN_NOTIFY_FAILURE 0x4
#define DSN_NOTIFY_DELAY   0x8

/* Recipient status kept in the record / done log. */
enum rcpt_status { RCPT_PENDING = 0, RCPT_DONE = 1 };

/* struct qrcpt.flags: bits 0..15 defined here, 16..30 free for qmgr. */
#define QRCPT_EXPANDED 0x1   /* virtual_alias_maps/alias_maps already applied */

struct qrcpt {
    char *addr;          /* envelope recipient (after rewriting), never "" */
    char *orcpt;         /* ORCPT= value (xtext-decoded "rfc822;addr") or NULL */
    int notify;          /* DSN_NOTIFY_* */
    int done;            /* RCPT_DONE once delivered or bounced */
    unsigned flags;      /* QRCPT_* (added: qmgr's per-recipient state) */
    char *status;        /* added: last enhanced status ("4.4.1") or NULL */
    char *reason;        /* added: last deferral reason (shown by mailq) or NULL */
};

/* An envelope: everything but the content. */
struct qenvelope {
    char qid[QUEUE_ID_MAX];
    uint64_t arrival_usec;     /* wall clock of arrival */
    char *sender;              /* "" for the null sender <> */
    struct qrcpt *rcpts;
    size_t nrcpts;
    char *envid;               /* DSN ENVID or NULL */
    int ret_full;              /* DSN RET=FULL (1) / HDRS (0) / unset (-1) */
    int smtputf8;
    int eightbit;              /* BODY=8BITMIME */
    char **attrs;              /* extra "name=value" (client_name, client_address,
                                  helo_name, protocol, sasl_username, log_ident,
                                  rewrite_context, filter, redirect, hold...)
                                  NULL terminated */
    size_t nattrs;
    int defer_count;           /* delivery attempts so far (deferred files) */
    uint64_t next_try_usec;    /* deferred files: earliest next attempt */
    size_t rcpt_cap;           /* internal: allocated rcpts (use qenv_add_rcpt) */
};

/* qenv_init: empty envelope (sender "", ret_full -1). */
void qenv_init(struct qenvelope *e);
void qenv_free(struct qenvelope *e);
/* Deep copy; dst must not hold anything (it is overwritten). */
void qenv_copy(struct qenvelope *dst, const struct qenvelope *src);
void qenv_set_sender(struct qenvelope *e, const char *sender);
void qenv_set_envid(struct qenvelope *e, const char *envid);   /* NULL clears */
/* Returns the new recipient (changed from void) so flags etc. can be set. */
struct qrcpt *qenv_add_rcpt(struct qenvelope *e, const char *addr, const char *orcpt, int notify);
/* Set/replace reason and status of a recipient (NULL clears). */
void qrcpt_set_reason(struct qrcpt *r, const char *status, const char *reason);
/* Set name=value, replacing an existing attribute of that name; value NULL removes it. */
void qenv_set_attr(struct qenvelope *e, const char *name, const char *value);
const char *qenv_attr(const struct qenvelope *e, const char *name);
/* Number of recipients not done. */
size_t qenv_pending(const struct qenvelope *e);

/*
 * Envelope text codec (see the format above). encode appends to out and
 * returns 0, or -1 with errno EINVAL (bad field) / EMSGSIZE (a limit).
 * decode parses exactly len bytes into a fresh *e (qenv_free it even on
 * error) and returns 0, or -1 with a static reason in *why.
 */
int qenv_encode(const struct qenvelope *e, struct buf *out);
int qenv_decode(const char *data, size_t len, struct qenvelope *e, const char **why);

/*
 * Generate a new queue ID in Postfix's long form (enable_long_queue_ids):
 * 6 chars of seconds and 4 of microseconds in base 52, then 'z', then the
 * pid in base 51 (Postfix puts the queue file's inode there); alphabet
 * 0-9, consonants B-Z, consonants b-z ('z' excluded after the separator).
 * e.g. "4jY5fs2Q7rz1bXx". IDs sort by time (string order = time order),
 * strictly increase within a process and differ between processes.
 */
void queue_new_id(char *out, size_t outlen);
/* 1 if s looks like a queue ID: 1..QUEUE_ID_MAX-1 chars of [0-9A-Za-z]. */
int queue_id_valid(const char *s);
/* Arrival time (seconds) encoded in a long queue ID, or -1. */
long long queue_id_time(const char *qid);

/* CRC32C (Castagnoli), hardware accelerated when the CPU has SSE4.2. */
uint32_t queue_crc32c(uint32_t crc, const void *data, size_t len);

/* Where a message lives: a journal record or a per-message file. */
struct qref {
    char path[512];        /* absolute path of the segment or deferred/hold file */
    off_t offset;          /* record offset within path */
    size_t length;         /* record length in bytes */
    /* added: where the content is (for dproto DELIVER); 0/0 when unknown,
       queue_ref_load() fills them in. */
    off_t content_offset;
    size_t content_length;
};

/* ---- writing ---- */

struct queue_writer;

/*
 * Open a writer for this process (no segment is created until the first
 * add). notify_sock: path of qmgr's socket (private/qmgr), or NULL.
 * NULL with errno on a bad queue_dir.
 */
struct queue_writer *queue_writer_open(const char *queue_dir, const char *notify_sock);
/* Commits nothing: records added since the last commit are truncated away. Seals and closes. */
void queue_writer_close(struct queue_writer *w);
/* Rotation thresholds (0 = keep the current value). */
void queue_writer_set_limits(struct queue_writer *w, uint64_t max_size, uint64_t max_age_ms);

/*
 * Append one message (envelope + content) to the current segment with one
 * writev(). Not durable yet. On success fills *ref and returns 0; on error
 * (ENOSPC, EIO, EINVAL for a bad envelope, EMSGSIZE...) returns -1 with
 * errno set and the message is not queued: the caller answers 4xx.
 */
int queue_writer_add(struct queue_writer *w, const struct qenvelope *env,
                     const char *content, size_t len, struct qref *ref);
/* Same, content in pieces (e.g. Received: header + body). */
int queue_writer_addv(struct queue_writer *w, const struct qenvelope *env,
                      const struct iovec *content, int iovcnt, struct qref *ref);
/*
 * Same, content = len bytes of fd from offset off (read with pread; fd is
 * not moved). content_crc: queue_crc32c(0, ...) of those bytes if the
 * caller computed it while writing the spill file, else NULL (one extra
 * read pass). The copy is checked against the CRC; a mismatch (the file
 * changed) fails with EIO.
 */
int queue_writer_add_fd(struct queue_writer *w, const struct qenvelope *env,
                        int fd, off_t off, size_t len, const uint32_t *content_crc,
                        struct qref *ref);
/*
 * Same, content = prefix[0..plen) followed by len bytes of fd from off:
 * smtpd's own header lines (Received: ...) in memory, the client's data
 * spilled to a queue_tmpfile(). fd_crc: CRC32C of the fd part only if known
 * (used only when plen is 0), else NULL.
 */
int queue_writer_add_spill(struct queue_writer *w, const struct qenvelope *env,
                           const char *prefix, size_t plen, int fd, off_t off, size_t len,
                           const uint32_t *fd_crc, struct qref *ref);
/* Number of messages added but not yet committed. */
size_t queue_writer_pending(const struct queue_writer *w);
/*
 * Make every added message durable with one fdatasync, then tell qmgr
 * about them. Returns 0 on success; -1 if the data could not be synced
 * (every pending message must then be answered 4xx).
 */
int queue_writer_commit(struct queue_writer *w);
/* Close (seal) the current segment if nothing is pending and it is too old or big. 1 if closed. */
int queue_writer_rotate_if_idle(struct queue_writer *w);
/* Retry buffered notifications (e.g. from a timer). */
void queue_writer_flush_notify(struct queue_writer *w);
/* Path of the current segment, or NULL (tests, logging). */
const char *queue_writer_segment(const struct queue_writer *w);

/* A spill file for a large incoming message: O_TMPFILE in tmp/ (O_RDWR). -1 on error. */
int queue_tmpfile(const char *queue_dir);

/* ---- reading ---- */

/*
 * Read the record at ref: parse the envelope into *env and append the
 * content to *content (subject to its limit). Both CRCs are verified.
 * Returns 0, or -1 if the record is missing or corrupt (errno ENOENT,
 * EBADMSG for corrupt, EMSGSIZE for a buffer limit, other I/O errors);
 * *env must be qenv_free'd in every case.
 */
int queue_read(const struct qref *ref, struct qenvelope *env, struct buf *content);
/* Envelope only (for listing); content_len gets the message size. */
int queue_read_envelope(const struct qref *ref, struct qenvelope *env, size_t *content_len);
/* Same, and fills ref->length (when 0), ref->content_offset and ref->content_length. */
int queue_ref_load(struct qref *ref, struct qenvelope *env);
/*
 * Stream the content without copying it into memory: returns an O_RDONLY
 * fd on the file and where the content is. The content CRC is verified
 * (one streaming read pass) before returning. env may be NULL. The caller
 * closes *fd. Delivery agents open it before switching to the mailbox
 * owner (the queue is mail_owner's, mode 0700).
 */
int queue_open_content(const struct qref *ref, struct qenvelope *env,
                       int *fd, off_t *offset, size_t *len);
/*
 * Open the queue file a delivery request names (agents, which must not be
 * made to read anything else): path must lie beneath queue_dir and is
 * resolved without following a symlink in any component (openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or component by component where
 * the kernel lacks it); it must be a regular file owned by owner or root
 * (owner (uid_t)-1: any). queue_dir NULL: any path, last component not
 * followed (unit tests). Returns the descriptor, or -1 with errno (EXDEV
 * outside the queue, ELOOP through a symlink, EPERM wrong owner or type);
 * *st (may be NULL) receives the file's status, already read for the checks.
 */
struct stat;
int queue_open_beneath(const char *queue_dir, const char *path, uid_t owner, struct stat *st);

/* ---- deferred and hold files ---- */

/*
 * Write a complete single-message file dir/<env->qid> (dir = the deferred
 * or hold directory), atomically: tmp + fsync + rename + dir fsync. An
 * existing file of that name is replaced.
 */
int queue_write_file(const char *dir, const struct qenvelope *env, const char *content,
                     size_t len, struct qref *ref);
/* Same, content copied from an existing record src (journal or file), without loading it. */
int queue_copy_to_file(const char *dir, const struct qenvelope *env, const struct qref *src,
                       struct qref *ref);
/*
 * Rewrite the file at ref with a new envelope (same qid, same content):
 * atomic replace; its old .done entries no longer apply. *newref gets the
 * new location (may be ref itself).
 */
int queue_update_file(const struct qref *ref, const struct qenvelope *env, struct qref *newref);
/*
 * Move a deferred/hold file to dir (e.g. hold/ -> deferred/). env NULL:
 * rename (both directories fsync'd); otherwise rewritten with env. The
 * source and its .done are removed. Fails with EEXIST if dir/<qid> exists.
 */
int queue_move_file(const struct qref *ref, const char *dir, const struct qenvelope *env,
                    struct qref *newref);

/* ---- scanning and completion ---- */

/* Called for each pending message found by queue_scan. env and ref are only valid during the call. */
typedef void (*queue_scan_cb)(const struct qref *ref, const struct qenvelope *env,
                              size_t content_len, const char *where /* "journal","deferred","hold" */,
                              void *arg);
/*
 * Visit every message not fully done, in journal order (segments by
 * name, records by offset), then deferred/ and hold/ (by name). Records
 * that are done (-1 entry, or every recipient done) are skipped; done
 * recipients come with rcpts[i].done = 1. A journal record whose qid has
 * a deferred/ or hold/ file is skipped (the file is reported). A qid in
 * both deferred/ and hold/ is reported once, as held. Torn or corrupt
 * tails are skipped (logged). Returns the number of messages reported,
 * or -1 if the queue directory cannot be read.
 */
int queue_scan(const char *queue_dir, queue_scan_cb cb, void *arg);
#define QUEUE_SCAN_FIX      0x1   /* qmgr: mark superseded / all-recipients-done
                                     journal records done (-1); then queue_done_sync() */
#define QUEUE_SCAN_VERIFY   0x2   /* verify content CRC of every journal record */
#define QUEUE_SCAN_NOFILES  0x4   /* journal only */
int queue_scan_flags(const char *queue_dir, int flags, queue_scan_cb cb, void *arg);

/*
 * Completion log (qmgr, or `yubin queue` while qmgr is down). Marks
 * recipient idx of the message at ref as done (idx = -1: the whole
 * message is done). Appended to "<ref->path>.done"; made durable by
 * queue_done_sync(). For a deferred/hold file, idx -1 removes the file
 * (after syncing pending entries). qid is used for logging only (may be
 * NULL). queue_dir is the queue directory (unused paths are derived from
 * ref->path). Returns 0 or -1 with errno.
 */
int queue_mark_done(const char *queue_dir, const struct qref *ref, const char *qid, int idx);
/*
 * Is the journal record at ref finished (it has a -1 entry, or its segment
 * is gone)? 1 yes, 0 no (also for deferred/hold files), -1 error. qmgr
 * asks before it activates a record a late notification names: the scan
 * may have found and finished that record already.
 */
int queue_record_done(const struct qref *ref);
/*
 * Make every mark since the last sync durable (fdatasync of each dirty
 * .done file, fsync of directories with new or removed files), then
 * remove the closed segments whose records are all done. A segment that
 * was still held by its writer is looked at again every few seconds, so
 * call this also from a timer (every ~10 s; it costs nothing when there
 * is nothing to do). 0, or -1 if a sync failed (marks may be lost:
 * at-least-once).
 */
int queue_done_sync(const char *queue_dir);
/*
 * Housekeeping for qmgr (at start after the scan, then e.g. hourly):
 * remove closed segments whose records are all done, abandoned ".J"
 * segments being created, .done files without their segment/file, stale
 * tmp files (> 1 day) and tmp files of interrupted deferred writes (> 1
 * hour). Returns the number of segments removed, -1 on error.
 */
int queue_gc(const char *queue_dir);
/* Forget all cached done state and close its files (tests; qmgr at exit). */
void queue_done_reset(void);

/*
 * Initialise the queue directory tree: journal deferred hold tmp maildrop
 * private pid (mode 0700) and public (0755, sockets there are 0666),
 * owned by owner:group ((uid_t)-1 / (gid_t)-1 leave ownership alone).
 * Existing directories get their mode and owner corrected; symlinks are
 * refused. 0, or -1 with errno (the failing path is logged).
 */
int queue_dir_init(const char *queue_dir, uid_t owner, gid_t group);

#endif
