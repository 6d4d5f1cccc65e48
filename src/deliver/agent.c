/*
 * agent.c - what the local and virtual agents share: their settings from
 * main.cf, handling one delivery request (open the queue file as root,
 * scan the headers once, deliver each recipient), and serving one qmgr
 * connection with dproto under timeouts.
 */
#include "deliver/agent.h"
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

static const char *param(const struct config *cfg, const char *name, const char *def)
{
    const char *v = cfg ? cfg_get(cfg, name) : NULL;
    return v ? v : def;
}

/* Unexpanded value: for parameters local(8) expands itself or never expands. */
static const char *param_raw(const struct config *cfg, const char *name, const char *def)
{
    const char *v = cfg ? cfg_get_raw(cfg, name) : NULL;
    return v ? v : def;
}

static long long param_int(const struct config *cfg, const char *name, long long def)
{
    const char *v = param(cfg, name, NULL);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || *end || n < 0) {
        msg_warn("%s: bad numerical value \"%s\": using %lld", name, v, def);
        return def;
    }
    return n;
}

/* Postfix time value: number with optional unit s m h d w (default seconds). */
static long long param_time(const struct config *cfg, const char *name, long long def_sec,
                            int want_ms)
{
    const char *v = param(cfg, name, NULL);
    long long scale = want_ms ? 1000 : 1;
    if (!v || !*v)
        return def_sec * scale;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    long long unit = 1;
    if (!errno && end != v && n >= 0) {
        switch (*end) {
        case '\0': case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 604800; break;
        default: unit = 0;
        }
        if (unit && (*end == '\0' || end[1] == '\0'))
            return n * unit * scale;
    }
    msg_warn("%s: bad time value \"%s\": using %llds", name, v, def_sec);
    return def_sec * scale;
}

static int param_bool(const struct config *cfg, const char *name, int def)
{
    const char *v = param(cfg, name, NULL);
    if (!v || !*v)
        return def;
    if (str_ieq(v, "yes") || str_ieq(v, "true") || strcmp(v, "1") == 0)
        return 1;
    if (str_ieq(v, "no") || str_ieq(v, "false") || strcmp(v, "0") == 0)
        return 0;
    msg_warn("%s: bad boolean value \"%s\": using %s", name, v, def ? "yes" : "no");
    return def;
}

/* A comma/space list of names mapped to bits; unknown names are warned about. */
static int param_mask(const struct config *cfg, const char *name, const char *def,
                      const char *const *names, const int *bits, size_t n)
{
    char **v = str_split_list(param(cfg, name, def), NULL);
    int mask = 0;
    for (char **p = v; *p; p++) {
        size_t i;
        for (i = 0; i < n; i++)
            if (str_ieq(*p, names[i])) {
                mask |= bits[i];
                break;
            }
        if (i == n)
            msg_warn("%s: unknown value \"%s\" ignored", name, *p);
    }
    strv_free(v);
    return mask;
}

static int lock_mask(const struct config *cfg, const char *name)
{
    static const char *const names[] = {"fcntl", "flock", "dotlock"};
    static const int bits[] = {MBOX_LOCK_FCNTL, MBOX_LOCK_FLOCK, MBOX_LOCK_DOTLOCK};
    return param_mask(cfg, name, "fcntl, dotlock", names, bits, ARRAY_LEN(names));
}

static int class_mask(const struct config *cfg, const char *name)
{
    static const char *const names[] = {"alias", "forward", "include"};
    static const int bits[] = {DCLASS_ALIAS, DCLASS_FORWARD, DCLASS_INCLUDE};
    return param_mask(cfg, name, "alias, forward", names, bits, ARRAY_LEN(names));
}

/*
 * Open a maps parameter. A table that cannot be opened is logged and
 * answers every lookup with a temporary failure, so only the mail that
 * needs it is deferred (Postfix's behaviour), never bounced.
 */
static struct maps *open_maps(struct agent *a, const char *name)
{
    const char *v = param(a->cfg, name, "");
    if (!*v)
        return NULL;
    return maps_open_tolerant(v, a->cfg, name);
}

int agent_getpw_system(const char *name, uid_t uid, struct user_info *out, void *ctx)
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

/* Host name for Maildir file names: '/' -> "\057", ':' -> "\072". */
static void maildir_hostname(char *out, size_t outlen)
{
    char host[256];
    if (gethostname(host, sizeof(host)) < 0)
        str_copy(host, "localhost", sizeof(host));
    host[sizeof(host) - 1] = '\0';
    size_t o = 0;
    for (const char *p = host; *p && o + 5 < outlen; p++) {
        if (*p == '/' || *p == ':') {
            memcpy(out + o, *p == '/' ? "\\057" : "\\072", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

int agent_init(struct agent *a, const struct config *cfg, enum agent_kind kind,
               int single_user, const char *queue_dir)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->cfg = cfg;
    a->single_user = single_user;
    a->queue_dir = queue_dir;
    a->getpw = agent_getpw_system;
    a->request_timeout = AGENT_REQUEST_TIMEOUT;
    a->queue_owner = (uid_t)-1;
    struct user_info owner;
    if (single_user)
        a->queue_owner = getuid();
    else if (a->getpw(param(cfg, "mail_owner", "yubin"), 0, &owner, NULL) == 1)
        a->queue_owner = owner.uid;
    maildir_hostname(a->maildir_host, sizeof(a->maildir_host));
    str_copy(a->myorigin, param(cfg, "myorigin", param(cfg, "myhostname", "localhost")),
             sizeof(a->myorigin));
    str_copy(a->rcpt_delim, param(cfg, "recipient_delimiter", ""), sizeof(a->rcpt_delim));
    a->enable_orig_rcpt = param_bool(cfg, "enable_original_recipient", 1);
    a->lock_attempts = (int)param_int(cfg, "deliver_lock_attempts", 20);
    if (a->lock_attempts < 1)
        a->lock_attempts = 1;
    a->lock_delay_ms = (unsigned)param_time(cfg, "deliver_lock_delay", 1, 1);
    a->stale_lock_time = (long)param_time(cfg, "stale_lock_time", 500, 0);
    a->strict_owner = param_bool(cfg, "strict_mailbox_ownership", 1);

    if (kind == AGENT_VIRTUAL) {
        a->vmbox = open_maps(a, "virtual_mailbox_maps");
        a->vuid = open_maps(a, "virtual_uid_maps");
        a->vgid = open_maps(a, "virtual_gid_maps");
        a->vbase = xstrdup(param(cfg, "virtual_mailbox_base", ""));
        a->vmin_uid = (long)param_int(cfg, "virtual_minimum_uid", 100);
        a->vlimit = param_int(cfg, "virtual_mailbox_limit", 51200000);
        a->vlocks = lock_mask(cfg, "virtual_mailbox_lock");
        return 0;
    }
    a->mbox_cmd_maps = open_maps(a, "mailbox_command_maps");
    a->alias_maps = open_maps(a, "alias_maps");
    a->home_mailbox = xstrdup(param(cfg, "home_mailbox", ""));
    a->mailbox_command = xstrdup(param_raw(cfg, "mailbox_command", ""));
    a->spool_dir = xstrdup(param(cfg, "mail_spool_directory", "/var/mail"));
    a->forward_path = xstrdup(param_raw(cfg, "forward_path",
                                        "$home/.forward${recipient_delimiter}${extension}, $home/.forward"));
    a->exec_dir = xstrdup(param_raw(cfg, "command_execution_directory", ""));
    a->command_shell = xstrdup(param(cfg, "local_command_shell", ""));
    static const char filter[] =
        "1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    a->cmd_filter = xstrdup(param(cfg, "command_expansion_filter", filter));
    a->fwd_filter = xstrdup(param(cfg, "forward_expansion_filter", filter));
    a->dir_filter = xstrdup(param(cfg, "execution_directory_expansion_filter", filter));
    a->export_env = str_split_list(param(cfg, "export_environment", "TZ MAIL_CONFIG LANG"), NULL);
    a->mbox_limit = param_int(cfg, "mailbox_size_limit", 51200000);
    a->cmd_time_limit = (long)param_time(cfg, "command_time_limit", 1000, 0);
    a->allow_cmd = class_mask(cfg, "allow_mail_to_commands");
    a->allow_file = class_mask(cfg, "allow_mail_to_files");
    static const char *const dh_names[] = {"command", "file", "forward"};
    static const int dh_bits[] = {DH_COMMAND, DH_FILE, DH_FORWARD};
    a->dh_mask = param_mask(cfg, "prepend_delivered_header", "command, file, forward", dh_names,
                            dh_bits, ARRAY_LEN(dh_names));
    a->mlocks = lock_mask(cfg, "mailbox_delivery_lock");
    a->require_home = param_bool(cfg, "require_home_directory", 0);
    const char *privs = param(cfg, "default_privs", "nobody");
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

void agent_free(struct agent *a)
{
    maps_close(a->vmbox);
    maps_close(a->vuid);
    maps_close(a->vgid);
    maps_close(a->mbox_cmd_maps);
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

const char *errno_dsn(int err, const char *def)
{
    if (err == EDQUOT || err == EFBIG)
        return "5.2.2";                /* over quota or size limit: bounce, as Postfix */
    if (err == ENOSPC || err == EIO)
        return "4.3.0";                /* the system, not the mailbox: try again later */
    return def;
}

/* ---- one request ---- */

static void all_status(const struct dreq *req, struct dstatus *st, const char *dsn,
                       const char *text)
{
    for (size_t i = 0; i < req->nrcpts; i++)
        dstatus_set(&st[i], req->rcpts[i].idx, dsn, "%s", text);
}

void agent_deliver_request(struct agent *a, const struct dreq *req, struct dstatus *st)
{
    char text[600];
    all_status(req, st, "4.3.0", "delivery was not attempted");
    /* qmgr cannot make us read other files: beneath the queue, no symlink, owned
     * by mail_owner (or root). */
    struct delivery d = {.a = a, .req = req, .fd = -1};
    d.fd = queue_open_beneath(a->queue_dir, req->path, a->queue_owner);
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
    struct stat sb;
    if (fstat(d.fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (unsigned long long)sb.st_size < (unsigned long long)req->offset + req->length) {
        msg_warn("%s: queue file %s is shorter than offset %lld + length %zu", req->qid,
                 req->path, (long long)req->offset, req->length);
        all_status(req, st, "4.3.0", "queue file is truncated");
        close(d.fd);
        return;
    }
    if (delivery_scan_headers(&d) < 0) {
        msg_warn("%s: error reading queue file %s: %s", req->qid, req->path,
                 strerror(d.scan_error));
        str_fmt(text, sizeof(text), "error reading queue file: %s", strerror(d.scan_error));
        all_status(req, st, "4.3.0", text);
    } else {
        for (size_t i = 0; i < req->nrcpts; i++) {
            if (a->kind == AGENT_VIRTUAL)
                virtual_deliver(&d, &req->rcpts[i], &st[i]);
            else
                local_deliver(&d, &req->rcpts[i], &st[i]);
        }
    }
    close(d.fd);
    strv_free(d.delivered);
}

/* ---- the connection ---- */

void agent_serve_fn(void *agent, const struct dreq *req, struct dstatus *st)
{
    agent_deliver_request(agent, req, st);
}

int agent_serve(struct agent *a, int fd)
{
    return serve_connection(fd, a->request_timeout, agent_serve_fn, a);
}
