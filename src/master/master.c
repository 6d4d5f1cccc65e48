/*
 * master.c - the master process and the commands that talk to it:
 * `yubin start` (daemon), `start-fg` (foreground), `stop`, `reload`,
 * `status`.
 *
 * Start: load and check the configuration (errors: print them and do not
 * start), take the pid-file lock, create the queue tree, bind every
 * listening socket, start the workers, then sit in an event loop:
 * SIGCHLD reaps and restarts workers, SIGHUP reloads, SIGTERM (and SIGINT
 * in the foreground) stops. In daemon mode the parent waits until the
 * master is ready and reports its errors on the terminal.
 */
#include "lib-conf/config.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "master/master.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

struct master {
    char *confdir;
    int foreground;
    int single_user;
    uid_t owner;
    gid_t group;
    int pid_fd;
    char *pid_path;
    struct evloop *loop;
    struct listeners *ls;
    struct procs *procs;
    struct ev_timer *grace;     /* stopping: SIGKILL when it fires */
    int stopping;
};

/* ------------------------------------------------------------------ */
/* helpers                                                             */

/* Where the master logs: stderr in the foreground unless maillog_file is set. */
static void master_log_setup(const struct config *cfg, int foreground)
{
    const char *maillog = cfg_get(cfg, P_maillog_file);
    log_init(cfg_get(cfg, P_syslog_name), "master");
    log_set_dest(foreground && !(maillog && *maillog), maillog);
}

/* Keep only import_environment (and YUBIN_*), like Postfix's master. */
static void clean_environment(const struct config *cfg)
{
    char **keep = master_clean_env(environ, cfg_get(cfg, P_import_environment));
    clearenv();
    for (char **p = keep; *p; p++) {
        char *eq = strchr(*p, '=');
        if (!eq)
            continue;
        *eq = '\0';
        setenv(*p, eq + 1, 1);
    }
    strv_free(keep);
}

/* Load the configuration; print or log its diagnostics. NULL on errors. */
static struct config *load_checked(const char *confdir, int to_terminal)
{
    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    if (cfg)
        master_check_system(cfg, &d, geteuid() == 0, 0);
    if (to_terminal)
        cfg_diags_print(&d, stderr);
    else
        cfg_diags_log(&d);
    if (cfg && cfg_diags_errors(&d)) {
        config_free(cfg);
        cfg = NULL;
    }
    cfg_diags_free(&d);
    return cfg;
}

/* The pid file for stop/status: errors in main.cf must not prevent stopping. */
static char *pid_path_for(const char *confdir)
{
    struct config *cfg = config_load_lenient(confdir);
    char *path = master_pid_path(cfg);
    config_free(cfg);
    return path;
}

/* ------------------------------------------------------------------ */
/* the running master                                                  */

static void finish_stop(struct master *m)
{
    if (m->grace) {
        ev_timer_cancel(m->loop, m->grace);
        m->grace = NULL;
    }
    ev_loop_stop(m->loop);
}

static void grace_expired(void *arg)
{
    struct master *m = arg;
    m->grace = NULL;
    size_t n = procs_running(m->procs);
    if (n) {
        msg_warn("%zu worker process%s did not stop within %ds; killing", n, n == 1 ? "" : "es",
                 MASTER_STOP_GRACE_MS / 1000);
        procs_kill(m->procs);
    }
}

static void begin_stop(struct master *m, int sig)
{
    if (m->stopping)
        return;
    m->stopping = 1;
    msg_info("terminating on signal %d", sig);
    /* New connections are refused from now on; workers finish what they have. */
    listeners_close_all(m->ls, 0);
    procs_stop(m->procs);
    if (procs_running(m->procs) == 0) {
        finish_stop(m);
        return;
    }
    m->grace = ev_timer_add(m->loop, MASTER_STOP_GRACE_MS, grace_expired, m);
}

static void on_stop_signal(int sig, void *arg)
{
    begin_stop(arg, sig);
}

static void on_sigchld(int sig, void *arg)
{
    (void)sig;
    struct master *m = arg;
    procs_reap(m->procs);
    if (m->stopping && procs_running(m->procs) == 0)
        finish_stop(m);
}

static void on_reload(int sig, void *arg)
{
    (void)sig;
    struct master *m = arg;
    if (m->stopping)
        return;
    struct config *cfg = load_checked(m->confdir, 0);
    if (!cfg) {
        msg_warn("reload: configuration errors (above); keeping the running configuration");
        return;
    }
    char err[1024];
    uid_t uid;
    gid_t gid;
    if (!m->single_user && master_mail_owner(cfg, &uid, &gid, err, sizeof(err)) == 0 &&
        (uid != m->owner || gid != m->group))
        msg_warn("reload: mail_owner changed; restart yubin for that to take effect");
    char *q = cfg_path(cfg, P_queue_directory);
    if (q && master_queue_tree(q, m->owner, m->group, err, sizeof(err)) < 0) {
        msg_error("reload: %s; keeping the running configuration", err);
        free(q);
        config_free(cfg);
        return;
    }
    free(q);
    master_log_setup(cfg, m->foreground);
    log_reopen();
    if (procs_start_generation(m->procs, m->ls, cfg, err, sizeof(err)) < 0) {
        msg_error("reload: %s; keeping the running configuration", err);
        config_free(cfg);
        return;
    }
    msg_info("reload -- version %s, configuration %s", YUBIN_VERSION, cfg_dir(cfg));
}

/*
 * Everything up to the event loop. Returns 0, or -1 with err. Either way
 * cfg is no longer the caller's: the supervisor owns it, or it was freed.
 */
static int master_setup(struct master *m, struct config *cfg, char *err, size_t errlen)
{
    char *q = cfg_path(cfg, P_queue_directory);
    int r = q ? master_queue_tree(q, m->owner, m->group, err, errlen) : -1;
    if (!q)
        snprintf(err, errlen, "queue_directory is empty");
    free(q);
    if (r == 0) {
        m->pid_path = master_pid_path(cfg);
        pid_t running;
        m->pid_fd = master_pid_lock(m->pid_path, &running, err, errlen);
        r = m->pid_fd < 0 ? -1 : 0;
        if (r == 0 && master_pid_write(m->pid_fd, getpid()) < 0) {
            snprintf(err, errlen, "write %s: %s", m->pid_path, strerror(errno));
            r = -1;
        }
    }
    if (r < 0) {
        config_free(cfg);
        return -1;
    }
    m->loop = ev_loop_new();
    m->ls = listeners_new();
    m->procs = procs_new(m->loop, m->foreground, m->single_user, m->owner, m->group);
    ev_signal_add(m->loop, SIGTERM, on_stop_signal, m);
    ev_signal_add(m->loop, SIGINT, on_stop_signal, m);
    ev_signal_add(m->loop, SIGQUIT, on_stop_signal, m);
    ev_signal_add(m->loop, SIGHUP, on_reload, m);
    ev_signal_add(m->loop, SIGCHLD, on_sigchld, m);
    signal(SIGPIPE, SIG_IGN);
    if (procs_start_generation(m->procs, m->ls, cfg, err, errlen) < 0) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

static void master_cleanup(struct master *m)
{
    procs_free(m->procs);
    if (m->ls)
        listeners_close_all(m->ls, 1);
    listeners_free(m->ls);
    ev_loop_free(m->loop);
    if (m->pid_fd >= 0) {
        unlink(m->pid_path);
        close(m->pid_fd);
    }
    free(m->pid_path);
    free(m->confdir);
}

/* The daemon: new session, no terminal, cwd /. */
static int daemonize(int *ready_fd)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0) {
        /* The parent reports what the daemon says, then leaves. */
        close(pfd[1]);
        char buf[2048];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof(buf) - 1 &&
               ((n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0 ||
                (n < 0 && errno == EINTR)))
            if (n > 0)
                len += (size_t)n;
        buf[len] = '\0';
        if (len == 0) {
            fprintf(stderr, "yubin: the master process exited during start-up; see the log\n");
            _exit(1);
        }
        if (strncmp(buf, "OK ", 3) == 0) {
            printf("yubin: starting the mail system: PID: %s\n", buf + 3);
            fflush(stdout);
            _exit(0);
        }
        fprintf(stderr, "yubin: fatal: %s\n", buf);
        _exit(1);
    }
    close(pfd[0]);
    setsid();
    if (chdir("/") < 0)
        return -1;
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        if (null > 2)
            close(null);
    }
    *ready_fd = pfd[1];
    return 0;
}

static int run_master(const char *confdir, int foreground)
{
    struct config *cfg = load_checked(confdir, 1);
    if (!cfg) {
        fprintf(stderr, "yubin: fatal: configuration errors; the mail system was not started\n");
        return 1;
    }
    struct master m = {.foreground = foreground, .pid_fd = -1};
    m.confdir = xstrdup(cfg_dir(cfg));
    m.single_user = geteuid() != 0;
    char err[1024];
    if (master_mail_owner(cfg, &m.owner, &m.group, err, sizeof(err)) < 0) {
        fprintf(stderr, "yubin: fatal: %s\n", err);
        config_free(cfg);
        free(m.confdir);
        return 1;
    }
    /* Refuse early, on the terminal, when a master already runs. */
    char *pp = master_pid_path(cfg);
    pid_t running = master_running_pid(pp);
    free(pp);
    if (running) {
        fprintf(stderr, "yubin: fatal: the mail system is already running (PID %ld)\n",
                (long)running);
        config_free(cfg);
        free(m.confdir);
        return 1;
    }
    int ready_fd = -1;
    if (!foreground && daemonize(&ready_fd) < 0) {
        fprintf(stderr, "yubin: fatal: cannot become a daemon: %s\n", strerror(errno));
        config_free(cfg);
        free(m.confdir);
        return 1;
    }
    clean_environment(cfg);
    master_log_setup(cfg, foreground);
    if (m.single_user)
        msg_info("running as uid %ld without root privileges: single-user mode, mail_owner "
                 "is ignored", (long)getuid());
    int logs_on_stderr = foreground && !*cfg_get(cfg, P_maillog_file);
    if (master_setup(&m, cfg, err, sizeof(err)) < 0) {
        msg_error("%s", err);
        if (ready_fd >= 0)
            (void)!write(ready_fd, err, strlen(err));
        else if (!logs_on_stderr)
            fprintf(stderr, "yubin: fatal: %s\n", err);
        procs_stop(m.procs);    /* workers of a half-started master */
        procs_kill(m.procs);
        master_cleanup(&m);
        return 1;
    }
    msg_info("daemon started -- version %s, configuration %s", YUBIN_VERSION, m.confdir);
    if (ready_fd >= 0) {
        char ok[32];
        snprintf(ok, sizeof(ok), "OK %ld", (long)getpid());
        (void)!write(ready_fd, ok, strlen(ok));
        close(ready_fd);
    }
    ev_loop_run(m.loop);
    master_cleanup(&m);
    msg_info("stopped");
    return 0;
}

/* ------------------------------------------------------------------ */
/* commands                                                            */

int cmd_start(const char *confdir, int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "usage: yubin [-c DIR] %s\n", argv[0]);
        return 2;
    }
    return run_master(confdir, strcmp(argv[0], "start-fg") == 0);
}

int cmd_status(const char *confdir, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char *path = pid_path_for(confdir);
    pid_t pid = master_running_pid(path);
    free(path);
    if (pid > 0) {
        printf("yubin: the mail system is running: PID: %ld\n", (long)pid);
        return 0;
    }
    if (pid < 0) {
        printf("yubin: the mail system is running (its pid file does not name it)\n");
        return 0;
    }
    printf("yubin: the mail system is not running\n");
    return 1;
}

int cmd_stop(const char *confdir, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char *path = pid_path_for(confdir);
    pid_t pid = master_running_pid(path);
    if (pid <= 0) {
        free(path);
        fprintf(stderr, "yubin: fatal: the mail system is not running\n");
        return 1;
    }
    if (kill(pid, SIGTERM) < 0) {
        free(path);
        fprintf(stderr, "yubin: fatal: cannot signal the master (PID %ld): %s\n", (long)pid,
                strerror(errno));
        return 1;
    }
    printf("yubin: stopping the mail system\n");
    fflush(stdout);
    /* The master releases its pid-file lock last: wait for that. */
    uint64_t deadline = mono_msec() + MASTER_STOP_GRACE_MS + 20000;
    while (master_running_pid(path) && mono_msec() < deadline)
        usleep(100 * 1000);
    int still = master_running_pid(path) != 0;
    free(path);
    if (still) {
        fprintf(stderr, "yubin: the master (PID %ld) is still running\n", (long)pid);
        return 1;
    }
    printf("yubin: the mail system is stopped\n");
    return 0;
}

int cmd_reload(const char *confdir, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* Check first: a configuration the master would refuse is reported here. */
    struct config *cfg = load_checked(confdir, 1);
    if (!cfg) {
        fprintf(stderr, "yubin: fatal: configuration errors; not reloading\n");
        return 1;
    }
    char *path = master_pid_path(cfg);
    config_free(cfg);
    pid_t pid = master_running_pid(path);
    free(path);
    if (pid <= 0) {
        fprintf(stderr, "yubin: fatal: the mail system is not running\n");
        return 1;
    }
    if (kill(pid, SIGHUP) < 0) {
        fprintf(stderr, "yubin: fatal: cannot signal the master (PID %ld): %s\n", (long)pid,
                strerror(errno));
        return 1;
    }
    printf("yubin: refreshing the mail system\n");
    return 0;
}
