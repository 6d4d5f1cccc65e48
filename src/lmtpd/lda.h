/*
 * lda.h - final delivery of one message to one user, with Sieve: what the
 * LMTP server (lmtpd.c, session.c) and the LDA `yubin deliver`
 * (src/cmd/deliver.c) share.
 *
 * Owns:
 *  - the settings both read from main.cf (Dovecot's names: sieve,
 *    sieve_before, sieve_after, lda_mailbox_autocreate, mail_location,
 *    mail_uid, mail_gid, first_valid_uid; Postfix's recipient_delimiter);
 *  - finding the user (user.c): the auth service's userdb (Dovecot's
 *    auth-master USER lookup on auth_userdb_socket), its uid, gid, home
 *    and mail location; when that socket cannot be reached (the LDA runs
 *    as vmail and the socket belongs to mail_owner) or gives no mail
 *    location, yubin's own virtual_mailbox_maps below virtual_mailbox_base;
 *  - the mail location ("maildir:~/Maildir", "maildir:/srv/%d/%n") made a
 *    Maildir path (lmtpd_mail_location, unit-tested);
 *  - saving (store.c): Return-Path:, Delivered-To: and X-Original-To:
 *    prepended, the message appended to a folder through lib-storage's
 *    mailbox.h so it gets its UID at once (IMAP sees it), imap4flags flags
 *    and keywords set, Maildir++ quota ("maildirsize") checked and kept
 *    up to date;
 *  - Sieve (sieve.c): sieve_before scripts, the user's, sieve_after,
 *    compiled once per process and file version (path, mtime, size), run
 *    in sequence as Pigeonhole runs them (a script that cancels the
 *    implicit keep ends the sequence), then the actions carried out:
 *    keep/fileinto (a missing folder is created with lda_mailbox_autocreate
 *    or :create, else the message goes to INBOX), discard, reject/ereject
 *    (the caller answers), redirect and vacation (submitted to the queue
 *    through pickup, as `yubin sendmail` does), with the vacation
 *    database a small per-user file. A script that does not compile or
 *    fails at run time is logged and the message kept in INBOX: a broken
 *    script never loses mail.
 *
 * Privileges: nothing here switches users. The caller runs as the
 * mailbox owner while calling lmtpd_deliver() (lmtpd switches its
 * effective uid around the call; the LDA is started as that user).
 */
#ifndef YUBIN_LMTPD_LDA_H
#define YUBIN_LMTPD_LDA_H

#include "lib-storage/quota.h"

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct config;
struct maps;

#define LMTPD_ADDR_MAX 1024
#define LMTPD_PATH_MAX 4096
#define LMTPD_TEXT_MAX 512

/* Settings, read once per process (lmtpd_lda_init). */
struct lmtpd_lda {
    const struct config *cfg;
    const char *prog;                 /* log prefix of the LDA ("yubin deliver"), or NULL */
    char *queue_dir;
    char *userdb_socket;              /* absolute path, or NULL: no userdb */
    char *myhostname, *postmaster;
    char *rcpt_delim;
    char *mail_location, *mail_uid, *mail_gid;
    long long first_valid_uid;
    char *sieve;                      /* the user's script ("~/.dovecot.sieve"), or "" */
    char **sieve_before, **sieve_after;
    int autocreate;                   /* lda_mailbox_autocreate */
    int rcpt_check_quota;             /* lmtp_rcpt_check_quota */
    struct maps *vmbox;               /* virtual_mailbox_maps (fallback) */
    char *vbase;                      /* virtual_mailbox_base */
    int lda;                          /* 1: the LDA (reject notices sent by us) */
};

void lmtpd_lda_init(struct lmtpd_lda *l, const struct config *cfg, const char *prog);
void lmtpd_lda_free(struct lmtpd_lda *l);

/* A user as delivery sees it. */
struct lmtpd_user {
    char name[LMTPD_ADDR_MAX];        /* the userdb's name for the user */
    uid_t uid;
    gid_t gid;
    int have_ids;                     /* uid/gid known (userdb, mail_uid, or virtual maps) */
    char home[LMTPD_PATH_MAX];        /* "" when none */
    char maildir[LMTPD_PATH_MAX];     /* the Maildir root, ending in '/' */
    struct mquota_rules quota;        /* the userdb's quota_rule*, quota_grace, quota_warning */
    int have_quota;                   /* a quota_rule came (else main.cf's VDA default) */
};

/* One userdb field of the quota (quota_rule, quota_rule2 ..., quota_grace, quota_warning). */
void lmtpd_quota_field(struct lmtpd_user *u, const char *field);
/* The rules of u: its own, else the process default (NULL). */
const struct mquota_rules *lmtpd_quota_rules(const struct lmtpd_user *u);

/*
 * Who is addr? 1 found (u filled), 0 no such user, -1 temporary failure
 * (why says what). The userdb is asked for the address without its
 * recipient_delimiter extension.
 */
int lmtpd_user_lookup(struct lmtpd_lda *l, const char *addr, struct lmtpd_user *u, char *why,
                      size_t whylen);

/*
 * The Maildir root of a Dovecot mail location: "maildir:PATH[:OPTIONS]"
 * (or a bare PATH) with "~/" the home and %u (user), %n (local part), %d
 * (domain), %h (home), %% expanded. 0, or -1 (unsupported format, no home
 * for "~", too long).
 */
int lmtpd_mail_location(const char *loc, const char *user, const char *home, char *out,
                        size_t outlen);
/* The same expansion of tmpl[0..plen) into an absolute path, without the trailing '/'. */
int lmtpd_expand_path(const char *tmpl, size_t plen, const char *user, const char *home,
                      char *out, size_t outlen);

/* One message as delivery sees it: LF line ends, no Return-Path yet. */
struct lmtpd_msg {
    const char *data;
    size_t len;
    const char *sender;               /* envelope sender, "" for <> */
    const char *rcpt;                 /* the recipient address as given */
    const char *orig_rcpt;            /* ORCPT / -a, or NULL */
    const char *received;             /* a Received: header field (with its LF), or NULL */
    time_t arrival;
    const char *log_id;               /* prefix for log lines (session id) */
    int lda;                          /* the LDA: the MTA added Delivered-To (pipe flag D);
                                       * Return-Path only when the message has none */
};

enum lmtpd_outcome {
    LMTPD_DELIVERED,                  /* stored (or discarded, redirected) */
    LMTPD_TEMPFAIL,                   /* 4.x.x: try again later */
    LMTPD_FAILED,                     /* 5.x.x: storage said no for good (quota) */
    LMTPD_REJECTED,                   /* a Sieve reject: text is the reason */
};

struct lmtpd_result {
    enum lmtpd_outcome outcome;
    int ereject;                      /* REJECTED by ereject (a protocol-level refusal) */
    char dsn[8];
    char text[LMTPD_TEXT_MAX];
};

/* Over the user's Maildir++ quota with a message of size bytes? 1 yes (r filled), 0 no. */
int lmtpd_quota_exceeded(const struct lmtpd_user *u, long long size, struct lmtpd_result *r);

/*
 * Deliver m to u: Sieve, then the actions. folder: the default folder
 * (the LDA's -m), NULL for INBOX. Runs as the mailbox owner.
 */
void lmtpd_deliver(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                   const char *folder, struct lmtpd_result *r);

/* Keep m in INBOX with the headers lmtpd_deliver() adds, no Sieve (the LDA, when a
 * rejection notice cannot be sent). */
void lmtpd_keep(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                struct lmtpd_result *r);

/* ---- store.c (for sieve.c) ---- */
/* Save into folder with flags (imap4flags names, may be NULL). 0, or -1 with r; ENOENT-missing: *missing. */
int lmtpd_store(struct lmtpd_lda *l, const struct lmtpd_user *u, const struct lmtpd_msg *m,
                const char *folder, char *const *flags, int create, int *missing,
                struct lmtpd_result *r);
/* Submit msg from sender to rcpt through pickup. 0, or -1 (logged). */
int lmtpd_submit(struct lmtpd_lda *l, const char *sender, const char *rcpt, const char *msg,
                 size_t len, const char *log_id);

/* ---- sieve.c ---- */
/* Run the scripts and carry out their actions (falls back to INBOX on any script error). */
void lmtpd_sieve_deliver(struct lmtpd_lda *l, const struct lmtpd_user *u,
                         const struct lmtpd_msg *m, const char *folder, struct lmtpd_result *r);

void lmtpd_result_set(struct lmtpd_result *r, enum lmtpd_outcome o, const char *dsn,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
