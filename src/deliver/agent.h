/*
 * agent.h - the narrow API the local and virtual delivery agents share.
 *
 * Owns: the agent's settings (read once from main.cf at start), the
 * per-request state, the table of agents (struct agent_role: one row per
 * master.cf command, whose deliver function agent.c calls for each
 * recipient), and the building blocks a delivery uses: privilege
 * switching (privs.c), the message stream with the prepended
 * Return-Path/X-Original-To/Delivered-To headers (copy.c), delivery into
 * a Maildir or mbox through lib-storage (store.c), external commands
 * (command.c). virtual.c and local.c implement the two agents on top and
 * use only this header; agent.c never names them; deliver.c runs the
 * process, holds the table and speaks dproto.
 */
#ifndef YUBIN_DELIVER_AGENT_H
#define YUBIN_DELIVER_AGENT_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

struct mquota_vda;
struct mquota_rules;

#include "lib-queue/dproto.h"
#include "lib-storage/storage.h"         /* MBOX_LOCK_* */

struct config;
struct maps;
struct agent_role;
struct pipe_spec;

enum agent_kind { AGENT_VIRTUAL, AGENT_LOCAL, AGENT_PIPE };

/* allow_mail_to_commands / allow_mail_to_files classes. */
#define DCLASS_ALIAS   0x1
#define DCLASS_FORWARD 0x2
#define DCLASS_INCLUDE 0x4

/* prepend_delivered_header contexts. */
#define DH_COMMAND 0x1
#define DH_FILE    0x2
#define DH_FORWARD 0x4

/* Seconds allowed for reading one complete request. */
#define AGENT_REQUEST_TIMEOUT 300

struct user_info {
    char name[256];
    uid_t uid;
    gid_t gid;
    char home[1024];
    char shell[256];
};

/*
 * Password lookups go through a hook so tests can supply users. By name
 * (name != NULL) or by uid. Returns 1 found, 0 no such user, -1 error.
 */
typedef int (*agent_getpw_fn)(const char *name, uid_t uid, struct user_info *out, void *ctx);

struct agent {
    enum agent_kind kind;
    const struct config *cfg;
    int single_user;                 /* no uid switching */
    const char *queue_dir;           /* content paths must lie below it (NULL: any) */
    uid_t queue_owner;               /* owner of queue files: mail_owner ((uid_t)-1: any) */
    char myorigin[256];
    char rcpt_delim[32];
    int enable_orig_rcpt;
    int lock_attempts;
    unsigned lock_delay_ms;
    long stale_lock_time;
    int request_timeout;

    /* virtual(8) */
    struct maps *vmbox, *vuid, *vgid;
    char *vbase;
    long vmin_uid;
    long long vlimit;
    int vlocks;
    struct mquota_vda *vda;          /* the VDA patch's quota settings (quota.h) */

    /* local(8) */
    struct maps *mbox_cmd_maps;
    struct maps *mbox_transport_maps;  /* mailbox_transport_maps */
    char *mailbox_transport;
    struct maps *alias_maps;         /* to check the alias targets qmgr sends */
    char *home_mailbox, *mailbox_command, *spool_dir, *forward_path, *exec_dir;
    char *command_shell, *cmd_filter, *fwd_filter, *dir_filter;
    char **export_env;
    long long mbox_limit;
    long cmd_time_limit;
    int allow_cmd, allow_file, dh_mask, mlocks, strict_owner, require_home;
    uid_t default_uid;
    gid_t default_gid;

    /* pipe(8) */
    const struct pipe_spec *pipe;

    agent_getpw_fn getpw;
    void *getpw_ctx;
    const struct agent_role *role;   /* this agent's row of deliver_agent_roles[] */
};

/* One request being served. */
struct delivery {
    struct agent *a;
    const struct dreq *req;
    int fd;                          /* the queue file, opened before any uid switch */
    char **delivered;                /* Delivered-To: values in the message, lowercased */
    size_t ndelivered;
    int scan_error;                  /* errno if the header scan failed */
};

/* copy_opts.transform: what pipe(8) flags do to the content. */
#define COPY_DOT_STUFF   0x1         /* '.': a line starting with "." gets another "." */
#define COPY_QUOTE_FROM  0x2         /* '>': a line starting with "From " gets ">" */
#define COPY_BLANK_END   0x4         /* 'B': an empty line after the message */
#define COPY_CRLF        0x8         /* eol=\r\n: every line ends in CR LF */

/* What to put around the content (Postfix's mail_copy flags). */
struct copy_opts {
    const char *from_sender;         /* non-NULL: "From <sender> <date>" first line (commands) */
    const char *return_path;         /* NULL: none; "" is <> */
    const char *orig_to;             /* X-Original-To: or NULL */
    const char *delivered_to;        /* Delivered-To: or NULL */
    unsigned transform;              /* COPY_* */
};

/* ---- agent.c ---- */
/* Read the settings and open the tables (an unopenable table defers what needs it). */
int deliver_agent_init(struct agent *a, const struct config *cfg, enum agent_kind kind,
               int single_user, const char *queue_dir);
void deliver_agent_free(struct agent *a);
/* Deliver one parsed request; st[i] receives the status of req->rcpts[i]. */
void deliver_agent_deliver_request(struct agent *a, const struct dreq *req, struct dstatus *st);
/*
 * Serve one qmgr connection with deliver_serve_connection() (serve.h): requests
 * until EOF, a protocol error, a timeout, or SIGTERM between requests.
 * Returns 0 on EOF/stop, -1 otherwise.
 */
int deliver_agent_serve(struct agent *a, int fd);
/* deliver_agent_deliver_request() as a serve.h handler (ctx: the struct agent). */
void deliver_agent_serve_fn(void *agent, const struct dreq *req, struct dstatus *st);
int deliver_agent_getpw_system(const char *name, uid_t uid, struct user_info *out, void *ctx);

/* ---- privs.c ---- */
/* Become uid/gid (effective; real and saved stay root). extra_gid (or -1) is added as a supplementary group. */
int deliver_priv_become(const struct agent *a, uid_t uid, gid_t gid, gid_t extra_gid);
/* deliver_priv_become, logging a failure with the queue ID. */
int deliver_become(const struct delivery *d, uid_t uid, gid_t gid, gid_t extra_gid);
/* Back to root; fatal when impossible. */
void deliver_priv_restore(const struct agent *a);
/* In a child: give up root for good. */
int deliver_priv_drop_for_good(const struct agent *a, uid_t uid, gid_t gid);

/* ---- copy.c ---- */
struct msgstream;
struct msgstream *deliver_msgstream_open(const struct delivery *d, const struct copy_opts *o);
/* Next bytes of the transformed message; 0 at the end, -1 on a read error (errno). */
ssize_t deliver_msgstream_read(struct msgstream *ms, char *buf, size_t cap);
/* Bytes the whole stream yields. */
size_t deliver_msgstream_size(const struct msgstream *ms);
void deliver_msgstream_close(struct msgstream *ms);
/* The message's arrival time (request attribute "arrival"), or now. */
time_t deliver_arrival(const struct delivery *d);
/* Scan the message headers for Delivered-To: (once per request). */
int deliver_scan_headers(struct delivery *d);
/* Is addr already in a Delivered-To: header? */
int deliver_is_loop(const struct delivery *d, const char *addr);

/* ---- store.c ---- */
/* A mailbox: path ending in '/' is a Maildir, anything else an mbox file. */
struct store_target {
    const char *path;
    const char *user;                /* for texts: "cannot update mailbox X for user Y" */
    uid_t uid;
    gid_t gid;
    int locks;                       /* MBOX_LOCK_* */
    long long limit;                 /* 0 = none (Maildir: message size, mbox: file size) */
    int is_file;                     /* alias /file target: "cannot append message to file" */
    int spool;                       /* in mail_spool_directory: create/lock with the dir's rights */
    int strict_owner;
    /* Maildir++ quota (virtual with virtual_maildir_extended): NULL none */
    const struct mquota_rules *quota;
    const char *quota_text;          /* the over-quota status text */
    int quota_bounce;                /* 5.2.2 (virtual_overquota_bounce), else 4.2.2 */
};
/* Deliver the message as t's owner (caller holds root; switches itself); st gets the outcome. */
void deliver_agent_store(struct delivery *d, int idx, const struct store_target *t,
                 const struct copy_opts *o, struct dstatus *st);

/* ---- command.c ---- */
struct command_spec {
    const char *command;             /* for the shell, or (argv set) the program for texts */
    char *const *argv;               /* non-NULL: run argv[0] with argv, no shell (pipe(8)) */
    const char *service;             /* pipe(8): "delivered via <service> service" */
    long time_limit;                 /* seconds; 0: command_time_limit */
    uid_t uid;
    gid_t gid;
    const char *cwd;                 /* NULL or "": home or "/" */
    char **env;                      /* NULL-terminated "NAME=value" */
    long long fsize_limit;           /* RLIMIT_FSIZE, 0 = none */
};
/* Run command (as root: forks and drops privileges in the child). */
void deliver_command(struct delivery *d, int idx, const struct command_spec *c,
                     const struct copy_opts *o, struct dstatus *st);

/* ---- the agents: deliver.c's table ---- */
typedef void agent_deliver_fn(struct delivery *d, const struct dreq_rcpt *r, struct dstatus *st);
/* The whole request at once (pipe(8) runs one command for all its recipients). */
typedef void agent_request_fn(struct delivery *d, struct dstatus *st);
struct agent_role {
    const char *name;                /* master.cf command */
    enum agent_kind kind;
    agent_deliver_fn *deliver;       /* one recipient of a request, or */
    agent_request_fn *deliver_all;   /* every recipient at once */
};
/* One row per agent, ended by a NULL name. */
extern const struct agent_role deliver_agent_roles[];

#endif
