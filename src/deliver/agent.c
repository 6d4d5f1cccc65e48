/*
 * agent.c - what the local and virtual agents share: their settings from
 * main.cf, handling one delivery request (open the queue file as root,
 * scan the headers once, hand each recipient to the agent's deliver
 * function from its row of deliver_agent_roles[]), and serving one qmgr
 * connection with dproto under timeouts. It never names an agent.
 */
#include "deliver/agent.h"
#include "lib-storage/quota.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "deliver/serve.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- settings ---- */

/*
 * Parameters come from the table (params.def) with its defaults and ranges;
 * `yubin check` has refused malformed and out-of-range values.
 */

/* A comma/space list of names mapped to bits; unknown names are warned about. */
static int param_mask(const struct config *cfg, enum param_id name, const char *const *names,
                      const int *bits, size_t n)
{
    char **v = cfg_get_list(cfg, name);
    int mask = 0;
    for (char **p = v; *p; p++) {
        size_t i;
        for (i = 0; i < n; i++)
            if (str_ieq(*p, names[i])) {
                mask |= bits[i];
                break;
            }
        if (i == n)
            msg_warn("%s: unknown value \"%s\" ignored", cfg_param_name(name), *p);
    }
    strv_free(v);
    return mask;
}

static int lock_mask(const struct config *cfg, enum param_id name)
{
    static const char *const names[] = {"fcntl", "flock", "dotlock"};
    static const int bits[] = {MBOX_LOCK_FCNTL, MBOX_LOCK_FLOCK, MBOX_LOCK_DOTLOCK};
    return param_mask(cfg, name, names, bits, ARRAY_LEN(names));
}

static int class_mask(const struct config *cfg, enum param_id name)
{
    static const char *const names[] = {"alias", "forward", "include"};
    static const int bits[] = {DCLASS_ALIAS, DCLASS_FORWARD, DCLASS_INCLUDE};
    return param_mask(cfg, name, names, bits, ARRAY_LEN(names));
}

/*
 * Open a maps parameter. A table that cannot be opened is logged and
 * answers every lookup with a temporary failure, so only the mail that
 * needs it is deferred (Postfix's behaviour), never bounced.
 */
static struct maps *open_maps(struct agent *a, enum param_id name)
{
    const char *v = cfg_get(a->cfg, name);
    if (!*v)
        return NULL;
    return maps_open_tolerant(v, a->cfg, cfg_param_name(name));
}

int deliver_agent_getpw_system(const char *name, uid_t uid, struct user_info *out, void *ctx)
{
    (void)ctx;
    struct passwd pw, *res = NULL;
    char buf[8192];
    int rc = name ? getpwnam_r(name, &pw, buf, sizeof(buf), &res)
                  : getpwuid_r(uid, &pw, buf, sizeof(buf), &res);
    if (rc != 0 && rc != ENOENT && rc != ESRCH && rc != EBADF && rc != EPERM) {
        msg_warn("cannot look up %s%s%ld: %s", name ? "user " : "uid ", name ? name : "",
                 name ? 0L : (long)uid, strerror(rc));
        return -1;
    }
    if (!res)
        return 0;
    memset(out, 0, sizeof(*out));
    str_copy(out->name, pw.pw_name, sizeof(out->name));
    out->uid = pw.pw_uid;
    out->gid = pw.pw_gid;
    str_copy(out->home, pw.pw_dir && *pw.pw_dir ? pw.pw_dir : "/", sizeof(out->home));
    str_copy(out->shell, pw.pw_shell && *pw.pw_shell ? pw.pw_shell : "/bin/sh", sizeof(out->shell));
    return 1;
}

int deliver_agent_init(struct agent *a, const struct config *cfg, enum agent_kind kind,
               int single_user, const char *queue_dir)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->cfg = cfg;
    a->single_user = single_user;
    a->queue_dir = queue_dir;
    a->getpw = deliver_agent_getpw_system;
    a->request_timeout = AGENT_REQUEST_TIMEOUT;
    for (const struct agent_role *r = deliver_agent_roles; r->name && !a->role; r++)
        if (r->kind == kind)
            a->role = r;
    INVARIANT(a->role != NULL);
    a->queue_owner = (uid_t)-1;
    struct user_info owner;
    if (single_user)
        a->queue_owner = getuid();
    else if (a->getpw(cfg_get(cfg, P_mail_owner), 0, &owner, NULL) == 1)
        a->queue_owner = owner.uid;
    str_copy(a->myorigin, cfg_get(cfg, P_myorigin), sizeof(a->myorigin));
    str_copy(a->rcpt_delim, cfg_get(cfg, P_recipient_delimiter), sizeof(a->rcpt_delim));
    a->enable_orig_rcpt = cfg_get_bool(cfg, P_enable_original_recipient);
    a->lock_attempts = (int)cfg_get_int(cfg, P_deliver_lock_attempts);
    a->lock_delay_ms = (unsigned)cfg_get_time_ms(cfg, P_deliver_lock_delay);
    a->stale_lock_time = (long)cfg_get_time(cfg, P_stale_lock_time);
    a->strict_owner = cfg_get_bool(cfg, P_strict_mailbox_ownership);

    if (kind == AGENT_PIPE) {
        a->export_env = cfg_get_list(cfg, P_export_environment);
        a->cmd_time_limit = (long)cfg_get_time(cfg, P_command_time_limit);
        return 0;
    }
    if (kind == AGENT_VIRTUAL) {
        a->vmbox = open_maps(a, P_virtual_mailbox_maps);
        a->vuid = open_maps(a, P_virtual_uid_maps);
        a->vgid = open_maps(a, P_virtual_gid_maps);
        a->vbase = xstrdup(cfg_get(cfg, P_virtual_mailbox_base));
        a->vmin_uid = (long)cfg_get_int(cfg, P_virtual_minimum_uid);
        a->vlimit = cfg_get_size(cfg, P_virtual_mailbox_limit);
        a->vlocks = lock_mask(cfg, P_virtual_mailbox_lock);
        a->vda = xcalloc(1, sizeof(*a->vda));
        char err[512];
        if (mquota_vda_init(a->vda, cfg, err, sizeof(err)) < 0)
            msg_warn("%s: quota limits not enforced", err);
        mquota_default_from_config(cfg);
        return 0;
    }
    a->mbox_cmd_maps = open_maps(a, P_mailbox_command_maps);
    a->mbox_transport_maps = open_maps(a, P_mailbox_transport_maps);
    a->mailbox_transport = xstrdup(cfg_get(cfg, P_mailbox_transport));
    a->alias_maps = open_maps(a, P_alias_maps);
    a->home_mailbox = xstrdup(cfg_get(cfg, P_home_mailbox));
    a->mailbox_command = xstrdup(cfg_get_raw(cfg, P_mailbox_command));
    a->spool_dir = xstrdup(cfg_get(cfg, P_mail_spool_directory));
    a->forward_path = xstrdup(cfg_get_raw(cfg, P_forward_path));
    a->exec_dir = xstrdup(cfg_get_raw(cfg, P_command_execution_directory));
    a->command_shell = xstrdup(cfg_get(cfg, P_local_command_shell));
    a->cmd_filter = xstrdup(cfg_get(cfg, P_command_expansion_filter));
    a->fwd_filter = xstrdup(cfg_get(cfg, P_forward_expansion_filter));
    a->dir_filter = xstrdup(cfg_get(cfg, P_execution_directory_expansion_filter));
    a->export_env = cfg_get_list(cfg, P_export_environment);
    a->mbox_limit = cfg_get_size(cfg, P_mailbox_size_limit);
    a->cmd_time_limit = (long)cfg_get_time(cfg, P_command_time_limit);
    a->allow_cmd = class_mask(cfg, P_allow_mail_to_commands);
    a->allow_file = class_mask(cfg, P_allow_mail_to_files);
    static const char *const dh_names[] = {"command", "file", "forward"};
    static const int dh_bits[] = {DH_COMMAND, DH_FILE, DH_FORWARD};
    a->dh_mask = param_mask(cfg, P_prepend_delivered_header, dh_names, dh_bits,
                            ARRAY_LEN(dh_names));
    a->mlocks = lock_mask(cfg, P_mailbox_delivery_lock);
    a->require_home = cfg_get_bool(cfg, P_require_home_directory);
    const char *privs = cfg_get(cfg, P_default_privs);
    struct user_info pw;
    if (a->getpw(privs, 0, &pw, NULL) == 1 && pw.uid != 0) {
        a->default_uid = pw.uid;
        a->default_gid = pw.gid;
    } else {
        msg_warn("default_privs: unknown or privileged user \"%s\": using uid/gid 65534", privs);
        a->default_uid = 65534;
        a->default_gid = 65534;
    }
    return 0;
}

void deliver_agent_free(struct agent *a)
{
    maps_close(a->vmbox);
    maps_close(a->vuid);
    maps_close(a->vgid);
    if (a->vda)
        mquota_vda_free(a->vda);
    free(a->vda);
    maps_close(a->mbox_cmd_maps);
    maps_close(a->mbox_transport_maps);
    free(a->mailbox_transport);
    maps_close(a->alias_maps);
    free(a->vbase);
    free(a->home_mailbox);
    free(a->mailbox_command);
    free(a->spool_dir);
    free(a->forward_path);
    free(a->exec_dir);
    free(a->command_shell);
    free(a->cmd_filter);
    free(a->fwd_filter);
    free(a->dir_filter);
    strv_free(a->export_env);
    memset(a, 0, sizeof(*a));
}

/* ---- one request ---- */

static void all_status(const struct dreq *req, struct dstatus *st, const char *dsn,
                       const char *text)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        dstatus_set(&st[i], req->rcpts[i].idx, dsn, "%s", text);
}

void deliver_agent_deliver_request(struct agent *a, const struct dreq *req, struct dstatus *st)
{
    char text[600];
    all_status(req, st, "4.3.0", "delivery was not attempted");
    /* qmgr cannot make us read other files: beneath the queue, no symlink, owned
     * by mail_owner (or root). */
    struct delivery d = {.a = a, .req = req, .fd = -1};
    struct stat sb;
    d.fd = queue_open_beneath(a->queue_dir, req->path, a->queue_owner, &sb);
    if (d.fd < 0 && (errno == EXDEV || errno == ELOOP || errno == EPERM)) {
        msg_warn("%s: queue file %s is not a file of %s: request refused", req->qid, req->path,
                 a->queue_dir ? a->queue_dir : "the queue");
        all_status(req, st, "4.3.0", "bad queue file name");
        return;
    }
    if (d.fd < 0) {
        msg_warn("%s: cannot open queue file %s: %s", req->qid, req->path, strerror(errno));
        str_fmt(text, sizeof(text), "cannot open queue file: %s", strerror(errno));
        all_status(req, st, "4.3.0", text);
        return;
    }
    if ((unsigned long long)sb.st_size < (unsigned long long)req->offset + req->length) {
        msg_warn("%s: queue file %s is shorter than offset %lld + length %zu", req->qid,
                 req->path, (long long)req->offset, req->length);
        all_status(req, st, "4.3.0", "queue file is truncated");
        close(d.fd);
        return;
    }
    if (deliver_scan_headers(&d) < 0) {
        msg_warn("%s: error reading queue file %s: %s", req->qid, req->path,
                 strerror(d.scan_error));
        str_fmt(text, sizeof(text), "error reading queue file: %s", strerror(d.scan_error));
        all_status(req, st, "4.3.0", text);
    } else if (a->role->deliver_all) {
        a->role->deliver_all(&d, st);
    } else {
        for (size_t i = 0; i < req->nrcpts; i++)
            a->role->deliver(&d, &req->rcpts[i], &st[i]);
    }
    close(d.fd);
    strv_free(d.delivered);
}

/* ---- the connection ---- */

void deliver_agent_serve_fn(void *agent, const struct dreq *req, struct dstatus *st)
{
    deliver_agent_deliver_request(agent, req, st);
}

int deliver_agent_serve(struct agent *a, int fd)
{
    return deliver_serve_connection(fd, a->request_timeout, deliver_agent_serve_fn, a);
}
