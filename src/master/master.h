/*
 * master.h - the master process (start, stop, reload, supervision), its
 * listening sockets, the checks shared by `yubin check` and `yubin
 * start`, and the helpers the worker side uses. The commands at the top
 * are the role's public API (src/cmd calls them); the rest is private to
 * src/master and its unit tests.
 */
#ifndef YUBIN_MASTER_H
#define YUBIN_MASTER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib-conf/config.h"

/* ---- the commands (src/cmd/main.c); argv[0] is the command name; exit status ---- */

int cmd_start(const char *confdir, int argc, char **argv);      /* start, start-fg */
int cmd_stop(const char *confdir, int argc, char **argv);
int cmd_reload(const char *confdir, int argc, char **argv);
int cmd_status(const char *confdir, int argc, char **argv);
int cmd_check(const char *confdir, int argc, char **argv);
/* Hidden: `yubin -c DIR worker SERVICE TYPE`, run by the master only (worker.c). */
int cmd_worker(const char *confdir, int argc, char **argv);

#define MASTER_LISTEN_BACKLOG 1024
#define MASTER_STOP_GRACE_MS  10000   /* SIGTERM -> SIGKILL when stopping */
#define MASTER_RESTART_MS     1000    /* restart delay after a worker exits */
#define MASTER_BACKOFF_MAX_MS 10000   /* ... growing to this when it keeps dying at once */

/* ---- check.c: the checks `yubin check` runs; start runs the fatal ones too ---- */

/*
 * mail_owner / default_privs exist, mail_owner is not root (errors when
 * running as root, notes otherwise), queue_directory exists or can be
 * created, lookup tables open. Adds to diags.
 */
/* strict: `yubin check` (unopenable tables are errors); else start (they are warnings). */
void master_check_system(const struct config *cfg, struct cfg_diags *d, int as_root, int strict);
/* The uid/gid processes run as: mail_owner when root, else the invoking user. */
int master_mail_owner(const struct config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* ---- setup.c: the queue tree and the pid file ---- */

/* Create queue_directory and its subdirectories (owner/group for the mail_owner ones). */
int master_queue_tree(const char *queue_dir, uid_t owner, gid_t group, char *err, size_t errlen);
/* Path of the pid file: $queue_directory/pid/master.pid. Caller frees. */
char *master_pid_path(const struct config *cfg);
/* Lock the pid file (flock LOCK_EX|LOCK_NB). fd >= 0, or -1 with *running_pid set if locked. */
int master_pid_lock(const char *path, pid_t *running_pid, char *err, size_t errlen);
int master_pid_write(int fd, pid_t pid);
/* PID of the running master (its pid file is locked), or 0. */
pid_t master_running_pid(const char *path);

/* ---- listen.c: listening sockets, kept across reloads ---- */

struct listener;
struct listeners;

/* One address to bind: family AF_INET/AF_INET6 and a numeric address. */
struct bind_addr {
    int family;
    char addr[64];
    char port[16];
};

/*
 * The TCP addresses an inet service binds: its own host, or every address
 * of inet_interfaces (all / loopback-only / list), filtered by
 * inet_protocols. Returns a malloc'd array (count in *n) or NULL with err.
 */
struct bind_addr *master_inet_addrs(const struct config *cfg, const struct master_service *svc,
                                    size_t *n, char *err, size_t errlen);
/* UNIX socket path of a unix service: queue_directory/private|public/NAME. Caller frees. */
char *master_unix_path(const struct config *cfg, const struct master_service *svc);

struct listeners *listeners_new(void);
/* Mark every listener unused (start of a reload). */
void listeners_unmark(struct listeners *ls);
/*
 * The listening fds of a service: reused when an identical socket is open,
 * bound otherwise. Returns a malloc'd fd array (count in *n), or NULL with err.
 */
int *listeners_for_service(struct listeners *ls, const struct config *cfg,
                           const struct master_service *svc, uid_t owner, gid_t group,
                           int single_user, size_t *n, char *err, size_t errlen);
/* Mark the listener with this fd as used. */
void listeners_mark_fd(struct listeners *ls, int fd);
/* Close (and unlink) listeners nobody marked since listeners_unmark. */
void listeners_close_unused(struct listeners *ls);
/* Close every listener; unlink UNIX sockets when unlink_paths. */
void listeners_close_all(struct listeners *ls, int unlink_paths);
void listeners_free(struct listeners *ls);

/* ---- countregion.c: shared session counts of smtpd services (conncount.h) ---- */

struct count_regions;
struct count_region;

struct count_regions *count_regions_new(void);
void count_regions_free(struct count_regions *rs);
/* Start of a generation: no region is wanted yet. */
void count_regions_unmark(struct count_regions *rs);
/*
 * The region of an smtpd inet service, with at least nprocs free slots
 * (kept, or replaced by a larger one); NULL for other services, or when no
 * region can be made (its workers then count per process).
 */
struct count_region *count_region_get(struct count_regions *rs, const struct master_service *svc,
                                      int nprocs);
/* End of a generation's start: retire the regions no service wanted. */
void count_regions_sweep(struct count_regions *rs);
/* A free slot, cleared, for a worker about to start: its index, or -1. */
int count_region_take(struct count_region *r);
/* That worker's pid, once forked. */
void count_region_own(struct count_region *r, int slot, pid_t pid);
int count_region_fd(const struct count_region *r);
/* A worker exited: clear its slot so its sessions stop counting, free it. */
void count_regions_exited(struct count_regions *rs, pid_t pid);

/* ---- procs.c: workers ---- */

/* argv for a worker: yubin -c CONFDIR worker SERVICE TYPE (NULL terminated, malloc'd). */
char **master_worker_argv(const char *confdir, const struct master_service *svc);
/*
 * The environment the master and its workers keep (Postfix's
 * import_environment: NAME or NAME=VALUE entries), plus YUBIN_* and the
 * sanitizer runtime options of test builds. Returns a malloc'd vector.
 */
char **master_clean_env(char *const *env, const char *import_list);
/* Restart delay after a worker that lived lived_ms exited; prev_ms is the last delay (0 = none). */
unsigned master_backoff(unsigned prev_ms, uint64_t lived_ms);

/*
 * The supervisor: generations of workers. A generation is one loaded
 * configuration with a process slot per worker; reload starts a new
 * generation and asks the old one to finish (SIGTERM).
 */
struct evloop;
struct procs;

struct procs *procs_new(struct evloop *loop, int foreground, int single_user, uid_t owner,
                        gid_t group);
/*
 * Bind what cfg needs (reusing open sockets), start its workers, retire
 * the previous generation. Takes ownership of cfg on success; on failure
 * (err set) nothing changes and the caller still owns cfg.
 */
int procs_start_generation(struct procs *p, struct listeners *ls, struct config *cfg, char *err,
                           size_t errlen);
/* Reap exited children (SIGCHLD); restart current-generation workers. */
void procs_reap(struct procs *p);
/* Stopping: no more restarts, SIGTERM to every worker. */
void procs_stop(struct procs *p);
/* SIGKILL every worker still running. */
void procs_kill(struct procs *p);
size_t procs_running(const struct procs *p);
const struct config *procs_config(const struct procs *p);
void procs_free(struct procs *p);

#endif
