/*
 * quota.h - the Maildir++ quota ("maildirsize", the format Courier and
 * Dovecot's quota=maildir keep), one implementation for every writer.
 *
 * Owns:
 *  - the maildirsize format: a first line of limits ("1024000S,100C"; 0 or
 *    missing: no limit), then lines "<bytes> <count>" each a change
 *    (parser and writer, unit-tested and fuzzed);
 *  - the rules: Dovecot's quota_rule values (`*:storage=1G`,
 *    `*:messages=N`, `*:bytes=N`, `Trash:storage=+100M`, `Trash:ignore`)
 *    and quota_grace, or the Postfix VDA patch's limit in bytes;
 *  - reading the use: the file is recalculated (every folder's new/ and
 *    cur/ summed from the S= of the names, or stat) when it is missing and
 *    a limit is known, over 5120 bytes, has a malformed line, or its limit
 *    line differs from the rules (Dovecot's rules). A recalculation runs
 *    under Dovecot's dotlock "maildirsize.lock" and replaces the file by
 *    rename; a change is one O_APPEND write of one short line (Courier's
 *    lock-free scheme), so writers never wait for each other;
 *  - counting changes: lib-storage itself calls mquota_note() when a
 *    message is saved (storage_save_finish on a Maildir), copied, moved or
 *    expunged, so delivery, LMTP, the LDA, IMAP and POP3 all keep the file
 *    exact. Folders a rule ignores (Trash:ignore, virtual_trash_count = no)
 *    are neither counted nor recalculated.
 *
 * Rules come from the caller: per store (mstore_set_quota_rules), per
 * mailbox_open (storage_location.quota), else the process default
 * (mquota_set_default: main.cf's VDA settings). Without rules a writer
 * still updates an existing maildirsize and keeps its limits.
 */
#ifndef YUBIN_QUOTA_H
#define YUBIN_QUOTA_H

#include <stddef.h>

#define MQUOTA_FILE "maildirsize"
#define MQUOTA_LOCK "maildirsize.lock"
#define MQUOTA_RECALC_SIZE 5120          /* Courier's and Dovecot's limit on the file */
#define MQUOTA_FILE_MAX (1 << 20)        /* larger is read as malformed */
#define MQUOTA_LINE_MAX 128              /* one line of the file */
#define MQUOTA_FOLDERS 8                 /* per-folder rules */
#define MQUOTA_NAME_MAX 255

/* What a maildirsize file says. */
struct mquota_file {
    long long limit_bytes, limit_count;  /* 0: none */
    long long bytes, count;              /* sum of the lines after the first */
    size_t lines;                        /* lines after the first */
};

/* 0, or -1 when the text is malformed (the caller recalculates). */
int mquota_parse(const char *text, size_t len, struct mquota_file *f);
/* The first line ("NS" or "NS,NC", with its LF). Length, or -1 when out is too small. */
int mquota_format_limits(char *out, size_t outlen, long long bytes, long long count);
/* A change line ("-1234 -1\n"). Length, or -1. */
int mquota_format_change(char *out, size_t outlen, long long bytes, long long count);

struct mquota_folder_rule {
    char name[MQUOTA_NAME_MAX + 1];      /* "Trash" (IMAP name, '.' separated) */
    int ignore;                          /* not counted at all */
    long long add_bytes, add_count;      /* added to the limits for saves into it */
};

struct mquota_rules {
    int set;                             /* the limits are known (written into the file) */
    long long bytes, count;              /* 0: none */
    long long grace_bytes;               /* quota_grace (bytes) */
    int grace_percent;                   /* quota_grace in %, when given so */
    int warn_percent;                    /* a warning when the use crosses it; 0 none */
    int inbox_only;                      /* only INBOX counts (virtual_mailbox_limit_inbox) */
    size_t nfolders;
    struct mquota_folder_rule folders[MQUOTA_FOLDERS];
};

/*
 * Add one quota_rule value to r ("*:storage=1G", "Trash:ignore",
 * "Trash:storage=+100M", "*:messages=1000", "*:bytes=123",
 * "Trash:storage=+10%" of the "*" limit). storage= counts kilobytes
 * without a unit, bytes= bytes (Dovecot's units). 0, or -1 with why.
 */
int mquota_rule_parse(struct mquota_rules *r, const char *value, char *why, size_t whylen);
/* quota_grace: "10%" or a size ("10M"). 0, or -1. */
int mquota_grace_parse(struct mquota_rules *r, const char *value);
/* "storage=90%" (a quota_warning's first word): r->warn_percent. 0, or -1. */
int mquota_warning_parse(struct mquota_rules *r, const char *value);
/* Sizes as Dovecot writes them: "1G", "100M", "512k", "10b", "2048" (unit_def bytes per unit). */
int mquota_size_parse(const char *s, long long unit_def, long long *out);

/* 1 when the folder ("INBOX", "Trash") is ignored by the rules. */
int mquota_ignored(const struct mquota_rules *r, const char *folder);

/* The rules used when a caller gives none (NULL clears). */
void mquota_set_default(const struct mquota_rules *r);
const struct mquota_rules *mquota_default(void);

/* The use of one Maildir. */
struct mquota {
    long long limit_bytes, limit_count;  /* 0: none */
    long long bytes, count;
};

/*
 * Read the quota of the Maildir root (recalculating as the module header
 * says). 0; 1 when there is no quota at all (no file, no rules); -1 on
 * an error reading it.
 */
int mquota_get(const char *root, const struct mquota_rules *r, struct mquota *q);
/* The file only, as it is (no recalculation, nothing written). 0, or -1 (missing, malformed). */
int mquota_read(const char *root, struct mquota *q);
/* Recalculate now (under the dotlock) and return the new use. */
int mquota_recalc(const char *root, const struct mquota_rules *r, struct mquota *q);

/*
 * Would saving size bytes (one message) into folder go over? 1 yes, 0 no.
 * With grace, the last message may go over by the grace when the use is
 * below the limit (Dovecot's quota_grace).
 */
int mquota_over(const struct mquota *q, const struct mquota_rules *r, const char *folder,
                long long size);

/*
 * A change in folder of the Maildir root: one line appended when
 * maildirsize exists (a recalculation follows when the file grew over
 * 5120 bytes); when it does not and r sets limits, the file is made by
 * counting the Maildir. Returns 1 when the change made the use cross the rules'
 * warning threshold upwards (the warn hook was called), else 0.
 */
int mquota_note(const char *root, const char *folder, const struct mquota_rules *r,
                long long bytes, long long count);

struct buf;
/* The warning message (headers and body, LF line ends) from `from` to rcpt. */
void mquota_warning_message(struct buf *b, const char *from, const char *rcpt,
                            const struct mquota *q, int percent);

/*
 * Called by mquota_note() when a change crosses the warning threshold
 * upwards (one call per crossing: the warning is sent once). The process
 * sets it with the context of the delivery under way (the recipient).
 */
typedef void mquota_warn_fn(void *ctx, const char *root, const struct mquota *q, int percent);
void mquota_set_warn_hook(mquota_warn_fn *fn, void *ctx);

/*
 * The Postfix VDA patch's settings (quota_conf.c), read by the virtual
 * agent and smtpd. With virtual_maildir_extended = yes a Maildir's quota
 * is the recipient's virtual_mailbox_limit_maps value (bytes, 0 none),
 * else virtual_mailbox_limit; virtual_mailbox_limit_override = yes lets
 * the map's value also replace virtual_mailbox_limit as the largest
 * message; virtual_mailbox_limit_inbox = yes counts INBOX only;
 * virtual_trash_count = no leaves virtual_trash_name out; over quota is
 * virtual_overquota_bounce ? 552 5.2.2 : 452 4.2.2 with
 * virtual_maildir_limit_message (or the recipient's from
 * virtual_maildir_limit_message_maps).
 */
struct config;
struct maps;
struct mquota_vda {
    int extended, bounce, inbox_only, override, trash_count;
    long long limit;                     /* virtual_mailbox_limit */
    char trash[MQUOTA_NAME_MAX + 1];     /* virtual_trash_name without its leading '.' */
    char *message;                       /* virtual_maildir_limit_message */
    struct maps *limit_maps, *message_maps;
    int warn_percent;                    /* quota_warning */
};
/* 0, or -1 with err (a table that cannot be opened). */
int mquota_vda_init(struct mquota_vda *v, const struct config *cfg, char *err, size_t errlen);
void mquota_vda_free(struct mquota_vda *v);
/* The rules without a limit (folders, warning): every role's process default. */
void mquota_vda_base(const struct mquota_vda *v, struct mquota_rules *r);
/* Set the process default from main.cf (mquota_set_default), when extended. */
void mquota_default_from_config(const struct config *cfg);
/*
 * The recipient's rules and over-quota text: TABLE_FOUND, TABLE_TEMPFAIL
 * or TABLE_PENDING (lib-table's codes; a remote table's answer comes later).
 * file_limit: the largest message (virtual_mailbox_limit or, with
 * override, the map's value).
 */
int mquota_vda_rules(const struct mquota_vda *v, const char *rcpt, const char *delim,
                     struct mquota_rules *r, long long *file_limit, char *msg, size_t msglen);

#endif
