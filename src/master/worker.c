/*
 * worker.c - the worker side of the master/worker contract (worker.h):
 * `yubin -c DIR worker SERVICE TYPE`, run by the master only.
 *
 * Loads the configuration, finds the master.cf service, applies its -o
 * overrides, names the log (yubin/smtpd[pid], or e.g.
 * yubin/submission/smtpd with -o syslog_name=yubin/submission), raises
 * the descriptor limit, drops privileges to mail_owner for unprivileged
 * services, and calls the role's entry point with the inherited
 * listening descriptors (fd 3 .., YUBIN_LISTEN_FDS of them).
 */
#include "lib-conf/config.h"
#include "lib-tls/tls.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "master/master.h"
#include "lib/util.h"
#include "lib-master/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int parse_type(const char *s, enum svc_type *t)
{
    static const enum svc_type all[] = {SVC_INET, SVC_UNIX, SVC_UNIX_DGRAM, SVC_FIFO, SVC_PASS};
    for (size_t i = 0; i < ARRAY_LEN(all); i++)
        if (strcmp(s, cfg_svc_type_name(all[i])) == 0) {
            *t = all[i];
            return 0;
        }
    return -1;
}

/* The TLS server context when this smtpd service uses TLS at all; NULL otherwise,
 * with *error set when it is wanted but cannot be made. */
static struct tls_server *worker_tls_server(const struct config *cfg, char **error)
{
    struct tls_smtpd_policy p;
    char err[1024] = "";
    if (tls_smtpd_policy(cfg, &p, err, sizeof(err)) < 0) {
        *error = xstrdup(err);
        return NULL;
    }
    if (p.level == TLS_LEV_NONE && !p.wrappermode)
        return NULL;
    struct tls_server *t = tls_server_new(cfg, err, sizeof(err));
    if (!t)
        *error = xstrdup(err);
    return t;
}

/* The smtp (or lmtp) client's TLS context, when it uses TLS: smtp_tls_cert_file's key
 * may be readable by root only, as with Postfix. NULL otherwise (smtp_main tries again). */
static struct tls_client *worker_tls_client(const struct config *cfg, const char *prefix)
{
    char err[1024] = "";
    int lev = tls_client_level(cfg, prefix, err, sizeof(err));
    if (lev < 0 || lev == TLS_LEV_NONE)
        return NULL;
    return tls_client_new(cfg, prefix, err, sizeof(err));
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            msg_warn("raise the open file limit to %llu: %s", (unsigned long long)rl.rlim_max,
                     strerror(errno));
    }
}

/* Root -> mail_owner, for good: groups first, then gid, then uid. */
static void drop_privileges(const struct config *cfg)
{
    const char *owner = cfg_get(cfg, P_mail_owner);
    char err[512];
    uid_t uid;
    gid_t gid;
    if (master_mail_owner(cfg, &uid, &gid, err, sizeof(err)) < 0)
        msg_fatal("%s", err);
    if (initgroups(owner, gid) < 0 && setgroups(1, &gid) < 0)
        msg_fatal("setgroups for %s: %s", owner, strerror(errno));
    if (setresgid(gid, gid, gid) < 0)
        msg_fatal("setgid %ld: %s", (long)gid, strerror(errno));
    if (setresuid(uid, uid, uid) < 0)
        msg_fatal("setuid %ld: %s", (long)uid, strerror(errno));
    if (setuid(0) == 0)
        msg_fatal("privileges were not dropped: still able to become root");
}

/* The descriptors the master passed: fd 3 .. 3+n-1. */
static int *inherited_fds(size_t *n)
{
    const char *v = getenv("YUBIN_LISTEN_FDS");
    long count = v ? strtol(v, NULL, 10) : 0;
    if (count < 0 || count > 64)
        msg_fatal("bad YUBIN_LISTEN_FDS \"%s\"", v);
    int *fds = xcalloc((size_t)count + 1, sizeof(*fds));
    for (long i = 0; i < count; i++) {
        int fd = 3 + (int)i;
        if (fcntl(fd, F_GETFD) < 0)
            msg_fatal("listening descriptor %d is not open", fd);
        fd_set_cloexec(fd, 1);  /* never leak into commands run by delivery agents */
        fds[i] = fd;
    }
    *n = (size_t)count;
    unsetenv("YUBIN_LISTEN_FDS");
    return fds;
}

/* The session count region after the listening fds (fd 3+nlisten), if the master passed one. */
static int inherited_count_region(size_t nlisten, int *slot)
{
    const char *v = getenv("YUBIN_COUNT_FD"), *sl = getenv("YUBIN_COUNT_SLOT");
    *slot = -1;
    if (!v)
        return -1;
    long fd = strtol(v, NULL, 10), k = sl ? strtol(sl, NULL, 10) : -1;
    if (fd != 3 + (long)nlisten || k < 0 || k > 65535 || fcntl((int)fd, F_GETFD) < 0)
        msg_fatal("bad YUBIN_COUNT_FD \"%s\" or YUBIN_COUNT_SLOT \"%s\"", v, sl ? sl : "");
    fd_set_cloexec((int)fd, 1);
    unsetenv("YUBIN_COUNT_FD");
    unsetenv("YUBIN_COUNT_SLOT");
    *slot = (int)k;
    return (int)fd;
}

int cmd_worker(const char *confdir, int argc, char **argv)
{
    enum svc_type type;
    if (argc != 3 || parse_type(argv[2], &type) < 0) {
        fprintf(stderr, "yubin: the worker command is run by the master process only\n");
        return 2;
    }
    const char *service = argv[1];
    int foreground = getenv("YUBIN_FOREGROUND") != NULL;
    unsetenv("YUBIN_FOREGROUND");
    size_t nfds;
    int *fds = inherited_fds(&nfds);
    int count_slot;
    int count_fd = inherited_count_region(nfds, &count_slot);

    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    if (!cfg) {
        log_set_dest(foreground, NULL);
        cfg_diags_log(&d);
        msg_fatal("%s: configuration errors; the master will retry", service);
    }
    cfg_diags_free(&d);
    const struct master_service *svc = cfg_service_find(cfg, service, type);
    if (!svc)
        msg_fatal("service %s/%s is not in %s/master.cf", service, argv[2], cfg_dir(cfg));
    cfg_apply_service(cfg, svc);

    log_init(cfg_get(cfg, P_syslog_name), svc->command);
    const char *maillog = cfg_get(cfg, P_maillog_file);
    log_set_dest(foreground && !(maillog && *maillog), maillog);

    const struct worker_role *role = worker_role_find(svc->command);
    int (*entry)(struct worker *) = role ? role->main : NULL;
    if (!entry)
        msg_fatal("service %s: command \"%s\" is not implemented by yubin", svc->name,
                  svc->command);
    raise_nofile();
    /* Keys are readable by root only: smtpd's TLS context is made before root is given up. */
    struct tls_server *tls = NULL;
    char *tls_error = NULL;
    struct tls_client *tls_client = NULL;
    if (strcmp(svc->command, "smtpd") == 0)
        tls = worker_tls_server(cfg, &tls_error);
    else if ((strcmp(svc->command, "smtp") == 0 || strcmp(svc->command, "lmtp") == 0) &&
             geteuid() == 0)
        tls_client = worker_tls_client(cfg, svc->command);
    int single_user = geteuid() != 0;
    struct worker w = {
        .cfg = cfg,
        .svc = svc,
        .listen_fds = fds,
        .nlisten = nfds,
        .foreground = foreground,
        .single_user = single_user,
        .queue_dir = cfg_path(cfg, P_queue_directory),
        .tls = tls,
        .tls_error = tls_error,
        .tls_client = tls_client,
        .count_fd = count_fd,
        .count_slot = count_slot,
    };
    if (role->prepare && role->prepare(&w) < 0)
        msg_fatal("service %s: cannot start", svc->name);
    if (!single_user && svc->unpriv)
        drop_privileges(cfg);

    /* ps and top show the role, as Postfix's "smtpd -n smtp -t inet" (the argv area,
     * where service and confdir point, is overwritten here) */
    proctitle_set(svc->command, "%s -n %s -t %s -c %s", svc->command, svc->name,
                  cfg_svc_type_name(svc->type), cfg_dir(cfg));
    int rc = entry(&w);
    if (w.count_fd >= 0)
        close(w.count_fd);
    tls_client_free(w.tls_client);
    tls_server_free(w.tls);
    free(tls_error);
    free(w.queue_dir);
    free(fds);
    config_free(cfg);
    return rc;
}
