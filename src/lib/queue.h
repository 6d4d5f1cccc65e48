/*
 * queue.h - the durable mail queue.
 *
 * Owns: queue IDs (Postfix long form), the on-disk record format, the
 * journal writer with group commit, reading a queued message back, the
 * per-recipient "done" log, deferred/hold files, and the scan used at
 * start-up to rebuild the set of pending messages.
 *
 * Layout under queue_directory:
 *   journal/J<epoch>.<pid>.<n>     append-only segments written by one
 *                                  process each (smtpd, qmgr for bounces,
 *                                  pickup). A record = one message.
 *   journal/J<...>.done            qmgr's per-segment log of finished
 *                                  recipients/messages.
 *   deferred/<qid>, hold/<qid>     one file per message that left the
 *                                  fast path (retry later, or held);
 *                                  same record format, written by qmgr.
 *   private/, public/              UNIX sockets (qmgr, delivery agents,
 *                                  pickup).
 *   pid/                           master.pid
 *
 * Durability contract: queue_writer_commit() returns 0 only after every
 * message finished since the previous commit is on disk (fdatasync of the
 * segment; the segment's directory entry was fsync'd when the segment was
 * created). Only then may smtpd answer 250. A record whose length or
 * checksum does not verify (a crash mid-write) is ignored by readers: it
 * was never acknowledged.
 */
#ifndef YUBIN_QUEUE_H
#define YUBIN_QUEUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define QUEUE_ID_MAX 32

/* DSN NOTIFY flags (RFC 3461). 0 = not specified (Postfix: FAILURE|DELAY). */
#define DSN_NOTIFY_NEVER   0x1
#define DSN_NOTIFY_SUCCESS 0x2
#define DSN_NOTIFY_FAILURE 0x4
#define DSN_NOTIFY_DELAY   0x8

/* Recipient status kept in the record / done log. */
enum rcpt_status { RCPT_PENDING = 0, RCPT_DONE = 1 };

struct qrcpt {
    char *addr;          /* envelope recipient (after rewriting) */
    char *orcpt;         /* ORCPT= value (xtext-decoded "rfc822;addr") or NULL */
    int notify;          /* DSN_NOTIFY_* */
    int done;            /* RCPT_DONE once delivered or bounced */
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
                                  filter, redirect, hold...) NULL terminated */
    size_t nattrs;
    int defer_count;           /* delivery attempts so far (deferred files) */
    uint64_t next_try_usec;    /* deferred files: earliest next attempt */
};

void qenv_init(struct qenvelope *e);
void qenv_free(struct qenvelope *e);
void qenv_add_rcpt(struct qenvelope *e, const char *addr, const char *orcpt, int notify);
void qenv_set_attr(struct qenvelope *e, const char *name, const char *value);
const char *qenv_attr(const struct qenvelope *e, const char *name);

/* Generate a new Postfix long-form queue ID (e.g. "4ZxMzF3TQSz9sPg"). */
void queue_new_id(char *out, size_t outlen);

/* Where a message lives: a journal record or a per-message file. */
struct qref {
    char path[512];        /* absolute path of the segment or deferred/hold file */
    off_t offset;          /* record offset within path */
    size_t length;         /* record length in bytes */
};

/* ---- writing ---- */

struct queue_writer;

/*
 * Open a writer for this process. Segments are rotated by size and age.
 * notify_sock: path of qmgr's socket (private/qmgr), or NULL.
 */
struct queue_writer *queue_writer_open(const char *queue_dir, const char *notify_sock);
void queue_writer_close(struct queue_writer *w);

/*
 * Append one message (envelope + content) to the current segment with one
 * writev(). Not durable yet. On success fills *ref and returns 0; on error
 * (ENOSPC, EIO...) returns -1 with errno set and the message is not queued:
 * the caller answers 4xx.
 */
int queue_writer_add(struct queue_writer *w, const struct qenvelope *env,
                     const char *content, size_t len, struct qref *ref);
/* Number of messages added but not yet committed. */
size_t queue_writer_pending(const struct queue_writer *w);
/*
 * Make every added message durable with one fdatasync, then tell qmgr
 * about them. Returns 0 on success; -1 if the data could not be synced
 * (every pending message must then be answered 4xx).
 */
int queue_writer_commit(struct queue_writer *w);

/* ---- reading ---- */

/*
 * Read the record at ref: parse the envelope into *env and return the
 * content in *content (malloc'd buffer). Returns 0, or -1 if the record is
 * missing or corrupt.
 */
int queue_read(const struct qref *ref, struct qenvelope *env, struct buf *content);
/* Envelope only (for listing); content_len gets the message size. */
int queue_read_envelope(const struct qref *ref, struct qenvelope *env, size_t *content_len);

/* Write a complete single-message file (deferred/hold), atomically: tmp + fsync + rename + dir fsync. */
int queue_write_file(const char *dir, const struct qenvelope *env, const char *content,
                     size_t len, struct qref *ref);

/* ---- scanning and completion ---- */

/* Called for each pending message found by queue_scan. */
typedef void (*queue_scan_cb)(const struct qref *ref, const struct qenvelope *env,
                              size_t content_len, const char *where /* "journal","deferred","hold" */,
                              void *arg);
/* Visit every message not fully done, in journal order, then deferred/ and hold/. */
int queue_scan(const char *queue_dir, queue_scan_cb cb, void *arg);

/*
 * Completion log (qmgr only). Marks recipient `idx` of the message at ref
 * as done (idx = -1: the whole message is done). Appended to the
 * segment's .done file; made durable by queue_done_sync(). When every
 * message of a closed segment is done the segment and its .done file are
 * removed. For deferred/hold files, "done" removes the file.
 */
int queue_mark_done(const char *queue_dir, const struct qref *ref, const char *qid, int idx);
int queue_done_sync(const char *queue_dir);

/* Initialise the queue directory tree (journal, deferred, hold, private, public, pid). */
int queue_dir_init(const char *queue_dir, uid_t owner, gid_t group);

#endif
