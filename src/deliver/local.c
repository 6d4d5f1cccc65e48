/*
 * local.c - the local(8) delivery agent for mydestination recipients.
 *
 * qmgr has already expanded alias_maps; this agent receives either
 *   - a local user "user[+ext]@domain": ~/.forward (forward_path), then
 *     mailbox_command_maps / mailbox_command, home_mailbox, or the spool
 *     file mail_spool_directory/user, in Postfix's order of precedence;
 *   - an alias target "|command" or "/file/name" (or "/dir/" Maildir),
 *     marked target=command|file by qmgr's expansion (dproto.h): this
 *     agent checks that alias_maps or the :include: file really lists it
 *     and runs it as that table's or file's owner (default_privs for
 *     root, the owner's primary group), subject to allow_mail_to_commands
 *     / allow_mail_to_files. An unmarked recipient is always a user name.
 * Addresses listed in a ~/.forward are handed back to qmgr (reply class
 * "forward"); commands and files listed there are delivered here, with
 * the user's privileges.
 */
#include "deliver/agent.h"
#include "deliver/local.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-route/resolve.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORWARD_FILE_MAX (64 * 1024)
#define INCLUDE_DEPTH_MAX 3
#define EXPAND_DEPTH_MAX 10

/* The recipient as local(8) sees it. */
struct lrcpt {
    char *addr;                 /* full address, lowercased */
    char *local;                /* localpart (with extension) */
    char *user;                 /* localpart without extension */
    char *ext;                  /* extension or "" */
    char *domain;
    const char *orig;           /* original recipient */
    struct user_info pw;        /* the account (or alias owner) */
};

static void lrcpt_free(struct lrcpt *lr)
{
    free(lr->addr);
    free(lr->local);
    free(lr->user);
    free(lr->ext);
    free(lr->domain);
}

/* Split addr into local/user/ext/domain per recipient_delimiter. */
static void lrcpt_init(struct lrcpt *lr, const struct agent *a, const char *addr, const char *orig)
{
    memset(lr, 0, sizeof(*lr));
    lr->addr = xstrdup(addr);
    str_lower(lr->addr);
    const char *at = strrchr(lr->addr, '@');
    lr->local = at ? xstrndup(lr->addr, (size_t)(at - lr->addr)) : xstrdup(lr->addr);
    lr->domain = xstrdup(at ? at + 1 : "");
    size_t cut = *a->rcpt_delim ? strcspn(lr->local, a->rcpt_delim) : strlen(lr->local);
    if (cut > 0 && lr->local[cut]) {
        lr->user = xstrndup(lr->local, cut);
        lr->ext = xstrdup(lr->local + cut + 1);
    } else {
        lr->user = xstrdup(lr->local);
        lr->ext = xstrdup("");
    }
    lr->orig = orig && *orig ? orig : addr;
}

/* ---- $name expansion for forward_path / command_execution_directory ---- */

static const char *lvar(const struct lrcpt *lr, const struct agent *a, const char *name)
{
    if (strcmp(name, "user") == 0) return lr->user;
    if (strcmp(name, "home") == 0) return lr->pw.home;
    if (strcmp(name, "shell") == 0) return lr->pw.shell;
    if (strcmp(name, "recipient") == 0) return lr->addr;
    if (strcmp(name, "extension") == 0) return lr->ext;
    if (strcmp(name, "domain") == 0) return lr->domain;
    if (strcmp(name, "local") == 0) return lr->local;
    if (strcmp(name, "recipient_delimiter") == 0) return a->rcpt_delim;
    return a->cfg ? cfg_get_by_name(a->cfg, name) : NULL;
}

/* Append value, replacing characters outside filter by '_'. */
static void put_filtered(struct buf *b, const char *v, const char *filter)
{
    for (; *v; v++)
        buf_putc(b, filter && *filter && !strchr(filter, *v) ? '_' : *v);
}

/* Find the end of a {text} or plain text up to stop chars, honouring nested braces. */
static const char *skip_text(const char *p, const char *stops)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}') {
            if (depth == 0)
                return p;
            depth--;
        } else if (depth == 0 && strchr(stops, *p))
            return p;
    }
    return p;
}

static int expand_into(struct buf *b, const char *s, size_t n, const struct lrcpt *lr,
                       const struct agent *a, const char *filter, int depth);

/* Expand a conditional's text: "{text}" or bare text. */
static int expand_part(struct buf *b, const char *s, size_t n, const struct lrcpt *lr,
                       const struct agent *a, const char *filter, int depth)
{
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}')
        return expand_into(b, s + 1, n - 2, lr, a, filter, depth + 1);
    return expand_into(b, s, n, lr, a, filter, depth + 1);
}

static int expand_into(struct buf *b, const char *s, size_t n, const struct lrcpt *lr,
                       const struct agent *a, const char *filter, int depth)
{
    if (depth > EXPAND_DEPTH_MAX)
        return -1;
    const char *end = s + n;
    for (const char *p = s; p < end;) {
        if (*p != '$') {
            buf_putc(b, *p++);
            continue;
        }
        p++;
        if (p < end && *p == '$') {
            buf_putc(b, *p++);
            continue;
        }
        char name[64];
        size_t nl = 0;
        if (p < end && (*p == '{' || *p == '(')) {
            char close = *p == '{' ? '}' : ')';
            const char *q = ++p;
            while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
                q++;
            nl = (size_t)(q - p);
            if (nl == 0 || nl >= sizeof(name))
                return -1;
            memcpy(name, p, nl);
            name[nl] = '\0';
            const char *val = lvar(lr, a, name);
            int defined = val && *val;
            if (q < end && *q == close) {
                if (defined)
                    put_filtered(b, val, filter);
                p = q + 1;
            } else if (q < end && (*q == '?' || *q == ':')) {
                char op = *q++;
                const char *t1 = q, *e1 = skip_text(q, ":}");
                const char *t2 = NULL, *e2 = NULL;
                if (op == '?' && e1 < end && *e1 == ':') {      /* ${name?{a}:{b}} */
                    t2 = e1 + 1;
                    e2 = skip_text(t2, "}");
                } else {
                    e1 = skip_text(q, "}");
                }
                const char *stop = e2 ? e2 : e1;
                if (stop >= end || *stop != '}' || stop > end)
                    return -1;
                if (op == '?' && defined)
                    expand_part(b, t1, (size_t)(e1 - t1), lr, a, filter, depth);
                else if (op == '?' && t2)
                    expand_part(b, t2, (size_t)(e2 - t2), lr, a, filter, depth);
                else if (op == ':' && !defined)
                    expand_part(b, t1, (size_t)(e1 - t1), lr, a, filter, depth);
                p = stop + 1;
            } else {
                return -1;
            }
        } else {
            const char *q = p;
            while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
                q++;
            nl = (size_t)(q - p);
            if (nl == 0 || nl >= sizeof(name))
                return -1;
            memcpy(name, p, nl);
            name[nl] = '\0';
            const char *val = lvar(lr, a, name);
            if (val)
                put_filtered(b, val, filter);
            p = q;
        }
    }
    return 0;
}

static char *expand(const char *s, const struct lrcpt *lr, const struct agent *a,
                    const char *filter)
{
    struct buf b;
    buf_init(&b, 8192);
    buf_puts(&b, "");
    if (expand_into(&b, s, strlen(s), lr, a, filter, 0) < 0) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* ---- commands ---- */

static void env_add(char ***env, size_t *n, const char *name, const char *value,
                    const char *filter)
{
    struct buf b;
    buf_init(&b, 0);
    buf_printf(&b, "%s=", name);
    put_filtered(&b, value ? value : "", filter);
    *env = xrealloc(*env, (*n + 2) * sizeof(**env));
    (*env)[(*n)++] = b.data;
    (*env)[*n] = NULL;
}

/* Postfix's command environment (local(8) "EXTERNAL COMMAND DELIVERY"). */
static char **command_env(const struct delivery *d, const struct lrcpt *lr,
                          const struct user_info *pw)
{
    const struct agent *a = d->a;
    const char *f = a->cmd_filter;
    char **env = NULL;
    size_t n = 0;
    env_add(&env, &n, "PATH", "/usr/bin:/bin", NULL);
    for (char **e = a->export_env; e && *e; e++) {
        const char *v = getenv(*e);
        if (v)
            env_add(&env, &n, *e, v, NULL);
    }
    env_add(&env, &n, "HOME", pw->home, f);
    env_add(&env, &n, "LOGNAME", pw->name, f);
    env_add(&env, &n, "USER", lr->user, f);
    env_add(&env, &n, "SHELL", pw->shell, f);
    env_add(&env, &n, "LOCAL", lr->local, f);
    env_add(&env, &n, "DOMAIN", lr->domain, f);
    env_add(&env, &n, "EXTENSION", lr->ext, f);
    env_add(&env, &n, "RECIPIENT", lr->addr, f);
    env_add(&env, &n, "SENDER", d->req->sender, f);
    env_add(&env, &n, "ORIGINAL_RECIPIENT", lr->orig, f);
    static const char *const client[][2] = {
        {"client_address", "CLIENT_ADDRESS"}, {"helo_name", "CLIENT_HELO"},
        {"client_name", "CLIENT_HOSTNAME"},   {"protocol", "CLIENT_PROTOCOL"},
        {"sasl_method", "SASL_METHOD"},       {"sasl_sender", "SASL_SENDER"},
        {"sasl_username", "SASL_USERNAME"},
    };
    for (size_t i = 0; i < ARRAY_LEN(client); i++) {
        const char *v = dproto_attr(d->req, client[i][0]);
        if (v && *v)
            env_add(&env, &n, client[i][1], v, f);
    }
    return env;
}

/* Root never runs commands or writes files for mail: default_privs does. */
static void unroot(const struct agent *a, uid_t *uid, gid_t *gid)
{
    if (*uid == 0) {
        *uid = a->default_uid;
        *gid = a->default_gid;
    }
}

static void run_command(struct delivery *d, int idx, const char *cmd, const struct lrcpt *lr,
                        uid_t uid, gid_t gid, const char *delivered, struct dstatus *st)
{
    struct agent *a = d->a;
    unroot(a, &uid, &gid);
    struct user_info pw = lr->pw;
    if (pw.uid != uid) {               /* alias owner / default_privs: their passwd entry */
        memset(&pw, 0, sizeof(pw));
        if (a->getpw(NULL, uid, &pw, a->getpw_ctx) != 1) {
            str_copy(pw.home, "/", sizeof(pw.home));
            str_copy(pw.shell, "/bin/sh", sizeof(pw.shell));
        }
    }
    char *cwd = NULL;
    if (a->exec_dir && *a->exec_dir) {
        cwd = expand(a->exec_dir, lr, a, a->dir_filter);
        if (!cwd) {
            msg_warn("%s: bad command_execution_directory: %s", d->req->qid, a->exec_dir);
            dstatus_set(st, idx, "4.3.5", "mail system configuration error");
            return;
        }
    }
    char **env = command_env(d, lr, &pw);
    struct command_spec c = {.command = cmd, .uid = uid, .gid = gid, .cwd = cwd, .env = env,
                             .fsize_limit = a->mbox_limit};
    struct copy_opts o = {.from_sender = d->req->sender, .return_path = d->req->sender,
                          .orig_to = a->enable_orig_rcpt ? lr->orig : NULL,
                          .delivered_to = (a->dh_mask & DH_COMMAND) ? delivered : NULL};
    deliver_command(d, idx, &c, &o, st);
    strv_free(env);
    free(cwd);
}

/* ---- files ---- */

static void deliver_file(struct delivery *d, int idx, const char *path, const struct lrcpt *lr,
                         uid_t uid, gid_t gid, const char *delivered, struct dstatus *st)
{
    struct agent *a = d->a;
    if (strcmp(path, "/dev/null") == 0) {
        dstatus_set(st, idx, "2.0.0", "delivered to file: /dev/null");
        return;
    }
    unroot(a, &uid, &gid);
    const char *dt = (a->dh_mask & DH_FILE) ? delivered : NULL;
    const char *orig = a->enable_orig_rcpt ? lr->orig : NULL;
    struct copy_opts o = {.return_path = d->req->sender, .orig_to = orig, .delivered_to = dt};
    struct store_target t = {.path = path, .user = lr->user, .uid = uid, .gid = gid,
                             .locks = a->mlocks, .limit = a->mbox_limit, .is_file = 1};
    deliver_agent_store(d, idx, &t, &o, st);
}

/* ---- alias targets from qmgr ---- */

static int class_bit(const char *cls)
{
    if (strcmp(cls, "forward") == 0)
        return DCLASS_FORWARD;
    if (strcmp(cls, "include") == 0)
        return DCLASS_INCLUDE;
    return DCLASS_ALIAS;
}

/* Does text (an alias value, or an :include: file read line by line) list target? */
static int text_lists(const char *text, const char *target, int by_line)
{
    int found = 0;
    for (const char *p = text; *p && !found;) {
        size_t n = by_line ? strcspn(p, "\n") : strlen(p);
        if (!(by_line && *p == '#') && n > 0) {
            char *line = xstrndup(p, n);
            char **v = alias_split(line);
            for (char **e = v; *e && !found; e++)
                found = strcmp(*e, target) == 0;
            strv_free(v);
            free(line);
        }
        p += n + (p[n] == '\n');
    }
    return found;
}

/*
 * class=alias: alias_maps must list the target for the alias, and the
 * alias database's owner runs it. 0 ok (*uid set), or -1 with st filled.
 */
static int alias_target_owner(struct delivery *d, const struct dreq_rcpt *r, const char *alias,
                              uid_t *uid, struct dstatus *st)
{
    struct agent *a = d->a;
    const char *at = strrchr(alias, '@');
    char *local = at ? xstrndup(alias, (size_t)(at - alias)) : xstrdup(alias);
    str_lower(local);
    struct buf val;
    buf_init(&val, TABLE_VALUE_MAX + 1);
    int ext_used = 0;
    int rc = a->alias_maps ? maps_lookup_addr(a->alias_maps, local, a->rcpt_delim, 0, &val,
                                              &ext_used)
                           : TABLE_NOTFOUND;
    int listed = rc == TABLE_FOUND && text_lists(buf_cstr(&val), r->addr, 0);
    buf_free(&val);
    free(local);
    if (rc == TABLE_TEMPFAIL) {
        dstatus_set(st, r->idx, "4.3.0", "alias database unavailable");
        return -1;
    }
    if (!listed) {
        msg_warn("%s: %s is not an alias target of %s in alias_maps: not delivered",
                 d->req->qid, r->addr, alias);
        dstatus_set(st, r->idx, "4.3.5", "mail system configuration error");
        return -1;
    }
    gid_t gid;
    alias_db_owner(a->cfg, uid, &gid);
    return 0;
}

/*
 * class=include: the :include: file, opened here (never through a
 * symlink), must list the target; its owner runs it. 0 or -1 with st.
 */
static int include_target_owner(struct delivery *d, const struct dreq_rcpt *r, const char *path,
                                uid_t *uid, struct dstatus *st)
{
    int fd = *path == '/' ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
                          : -1;
    struct stat sb;
    char *text = NULL;
    if (fd >= 0 && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        text = read_fd(fd, FORWARD_FILE_MAX * 16, NULL);
    int err = errno;
    if (fd >= 0)
        close(fd);
    if (!text) {
        msg_warn("%s: cannot open include file %s: %s", d->req->qid, path,
                 fd >= 0 ? "not a regular file" : strerror(err));
        dstatus_set(st, r->idx, "4.3.0", "cannot open include file %s", path);
        return -1;
    }
    int listed = text_lists(text, r->addr, 1);
    free(text);
    if (!listed) {
        msg_warn("%s: %s is not listed in include file %s: not delivered", d->req->qid,
                 r->addr, path);
        dstatus_set(st, r->idx, "4.3.5", "mail system configuration error");
        return -1;
    }
    *uid = sb.st_uid;
    return 0;
}

/*
 * The privileges of an alias or include target, decided here and never
 * taken from the request: the owner found above (default_privs for root),
 * with that account's primary group. 0 or -1 with st filled.
 */
static int target_privileges(struct delivery *d, const struct dreq_rcpt *r,
                             const struct dextra *x, const char *alias, uid_t *uid, gid_t *gid,
                             struct dstatus *st)
{
    struct agent *a = d->a;
    int rc = strcmp(x->cls, "include") == 0
                 ? include_target_owner(d, r, x->include, uid, st)
                 : alias_target_owner(d, r, alias, uid, st);
    if (rc < 0)
        return -1;
    if (a->single_user) {
        *uid = getuid();
        *gid = getgid();
        return 0;
    }
    if (*uid == 0 || *uid == a->default_uid) {
        *uid = a->default_uid;
        *gid = a->default_gid;
        return 0;
    }
    struct user_info pw;
    if (a->getpw(NULL, *uid, &pw, a->getpw_ctx) != 1) {
        msg_warn("%s: no passwd entry for uid %ld, the owner of %s's target %s", d->req->qid,
                 (long)*uid, alias, r->addr);
        dstatus_set(st, r->idx, "4.3.5", "mail system configuration error");
        return -1;
    }
    *gid = pw.gid;
    return 0;
}

static void deliver_alias_target(struct delivery *d, const struct dreq_rcpt *r,
                                 const struct dextra *x, struct dstatus *st)
{
    struct agent *a = d->a;
    int idx = r->idx;
    const char *alias = *x->alias ? x->alias : (*r->orig ? r->orig : r->addr);
    int is_cmd = strcmp(x->target, "command") == 0;
    int cls = class_bit(x->cls);
    if (r->addr[0] != (is_cmd ? '|' : '/') || cls == DCLASS_FORWARD ||
        (cls == DCLASS_INCLUDE) != (x->include[0] != '\0')) {
        msg_warn("%s: malformed alias target %s for %s", d->req->qid, r->addr, alias);
        dstatus_set(st, idx, "4.3.5", "mail system configuration error");
        return;
    }
    if (is_cmd && !(a->allow_cmd & cls)) {
        dstatus_set(st, idx, "5.7.1", "mail to command is restricted");
        return;
    }
    if (!is_cmd && !(a->allow_file & cls) && strcmp(r->addr, "/dev/null") != 0) {
        dstatus_set(st, idx, "5.7.1", "mail to file is restricted");
        return;
    }
    struct lrcpt lr;
    lrcpt_init(&lr, a, alias, r->orig);
    uid_t uid;
    gid_t gid;
    if (deliver_is_loop(d, lr.addr))
        dstatus_set(st, idx, "5.4.6", "mail forwarding loop for %s", lr.addr);
    else if (target_privileges(d, r, x, lr.addr, &uid, &gid, st) == 0) {
        lr.pw.uid = (uid_t)-1;           /* no account of its own: env from the owner */
        if (is_cmd)
            run_command(d, idx, r->addr + 1, &lr, uid, gid, lr.addr, st);
        else
            deliver_file(d, idx, r->addr, &lr, uid, gid, lr.addr, st);
    }
    lrcpt_free(&lr);
}

/* ---- the user's mailbox ---- */

static void deliver_mailbox(struct delivery *d, int idx, const struct lrcpt *lr,
                            struct dstatus *st)
{
    struct agent *a = d->a;
    uid_t uid = lr->pw.uid;
    gid_t gid = lr->pw.gid;
    const char *orig = a->enable_orig_rcpt ? lr->orig : NULL;
    const char *dt = (a->dh_mask & DH_FILE) ? lr->addr : NULL;
    struct copy_opts o = {.return_path = d->req->sender, .orig_to = orig, .delivered_to = dt};

    char *cmd = NULL;
    if (a->mbox_cmd_maps) {
        struct buf res;
        buf_init(&res, 4096);
        int ext_used = 0;
        int rc = maps_lookup_addr(a->mbox_cmd_maps, lr->addr, a->rcpt_delim, MAPS_ADDR_LOCALPART,
                                  &res, &ext_used);
        if (rc == TABLE_TEMPFAIL) {
            buf_free(&res);
            msg_warn("%s: recipient %s: mailbox_command_maps lookup failure", d->req->qid, lr->addr);
            dstatus_set(st, idx, "4.3.0", "mail system configuration error: mailbox_command_maps lookup failure");
            return;
        }
        if (rc == TABLE_FOUND && *buf_cstr(&res))
            cmd = xstrdup(buf_cstr(&res));
        buf_free(&res);
    }
    if (!cmd && a->mailbox_command && *a->mailbox_command)
        cmd = xstrdup(a->mailbox_command);
    if (cmd) {
        run_command(d, idx, cmd, lr, uid, gid, lr->addr, st);
        free(cmd);
        return;
    }
    if (a->home_mailbox && *a->home_mailbox) {
        char *path = xasprintf("%s/%s", lr->pw.home, a->home_mailbox);
        struct store_target t = {.path = path, .user = lr->user, .uid = uid, .gid = gid,
                                 .locks = a->mlocks, .limit = a->mbox_limit,
                                 .strict_owner = a->strict_owner};
        deliver_agent_store(d, idx, &t, &o, st);
        free(path);
        return;
    }
    char *path = xasprintf("%s/%s", a->spool_dir, lr->user);
    struct store_target t = {.path = path, .user = lr->user, .uid = uid, .gid = gid,
                             .locks = a->mlocks, .limit = a->mbox_limit, .spool = 1,
                             .strict_owner = a->strict_owner};
    deliver_agent_store(d, idx, &t, &o, st);
    free(path);
}

/* ---- ~/.forward ---- */

/* Outcome of a .forward expansion. */
struct fwd {
    char **addrs;
    size_t naddrs;
    int self;                      /* deliver to the user's own mailbox too */
    int delivered;                 /* a command or file got the message */
    struct dstatus worst;          /* first deferral, else first bounce */
    int have_worst;
    struct dstatus last_ok;
};

static void fwd_result(struct fwd *f, const struct dstatus *s)
{
    if (s->dsn[0] == '2') {
        f->delivered = 1;
        f->last_ok = *s;
        return;
    }
    if (!f->have_worst || (s->dsn[0] == '4' && f->worst.dsn[0] == '5')) {
        f->worst = *s;
        f->have_worst = 1;
    }
}

/*
 * Read a .forward-like file with the user's privileges. Returns the
 * text (caller frees), NULL with *missing=1 when it does not exist,
 * NULL with *missing=0 on an error worth deferring for (logged).
 */
static char *read_forward_file(struct delivery *d, const struct lrcpt *lr, const char *path,
                               int *missing)
{
    struct agent *a = d->a;
    *missing = 0;
    if (deliver_become(d, lr->pw.uid, lr->pw.gid, (gid_t)-1) < 0)
        return NULL;
    /* read with the user's rights, so following a symlink reveals nothing new */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    int err = errno;
    deliver_priv_restore(a);
    if (fd < 0) {
        if (err == ENOENT || err == ENOTDIR) {
            *missing = 1;
        } else if (err == EACCES || err == ELOOP || err == ENAMETOOLONG) {
            msg_warn("%s: cannot open %s: %s: ignored", d->req->qid, path, strerror(err));
            *missing = 1;
        } else {
            msg_warn("%s: cannot open %s: %s", d->req->qid, path, strerror(err));
        }
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (!a->single_user && sb.st_uid != lr->pw.uid && sb.st_uid != 0)) {
        msg_warn("%s: %s is not a regular file owned by %s: ignored", d->req->qid, path,
                 lr->pw.name);
        close(fd);
        *missing = 1;
        return NULL;
    }
    if (sb.st_size > FORWARD_FILE_MAX) {
        msg_warn("%s: %s is larger than %d bytes: ignored", d->req->qid, path, FORWARD_FILE_MAX);
        close(fd);
        *missing = 1;
        return NULL;
    }
    char *text = xmalloc((size_t)sb.st_size + 1);
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t n = read(fd, text + got, (size_t)sb.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    text[got] = '\0';
    return text;
}

/*
 * Split a .forward / :include: text into entries: separated by commas
 * and newlines outside double quotes, '#' lines are comments, quotes
 * around an entry are removed ("|/usr/bin/procmail -f-").
 */
static char **forward_entries(const char *text)
{
    char **v = NULL;
    size_t n = 0;
    const char *p = text;
    while (*p) {
        if (*p == '#' && (p == text || p[-1] == '\n')) {
            p += strcspn(p, "\n");
            continue;
        }
        struct buf e;
        buf_init(&e, 0);
        buf_puts(&e, "");
        int quoted = 0;
        for (; *p; p++) {
            if (*p == '"') {
                quoted = !quoted;
                continue;
            }
            if (*p == '\\' && quoted && p[1]) {
                buf_putc(&e, *++p);
                continue;
            }
            if (!quoted && (*p == ',' || *p == '\n'))
                break;
            buf_putc(&e, *p);
        }
        if (*p)
            p++;
        char *t = str_trim(e.data);
        if (*t) {
            v = xrealloc(v, (n + 2) * sizeof(*v));
            v[n++] = xstrdup(t);
            v[n] = NULL;
        }
        buf_free(&e);
    }
    return v;
}

static int is_self(const struct lrcpt *lr, const char *e)
{
    if (*e == '\\')
        e++;
    const char *at = strrchr(e, '@');
    size_t llen = at ? (size_t)(at - e) : strlen(e);
    if (at && strcasecmp(e, lr->addr) == 0)
        return 1;
    return !at && llen == strlen(lr->user) && strncasecmp(e, lr->user, llen) == 0;
}

static void add_forward(struct fwd *f, const struct agent *a, const char *e)
{
    char *addr = strchr(e, '@') ? xstrdup(e) : xasprintf("%s@%s", e, a->myorigin);
    for (size_t i = 0; i < f->naddrs; i++)
        if (strcasecmp(f->addrs[i], addr) == 0) {
            free(addr);
            return;
        }
    f->addrs = xrealloc(f->addrs, (f->naddrs + 2) * sizeof(*f->addrs));
    f->addrs[f->naddrs++] = addr;
    f->addrs[f->naddrs] = NULL;
}

static void expand_forward_text(struct delivery *d, int idx, const struct lrcpt *lr,
                                const char *text, int cls, int depth, struct fwd *f)
{
    struct agent *a = d->a;
    char **entries = forward_entries(text);
    for (char **ep = entries; ep && *ep; ep++) {
        const char *e = *ep;
        struct dstatus s;
        if (is_self(lr, e)) {
            f->self = 1;
        } else if (e[0] == '|') {
            if (!(a->allow_cmd & cls))
                dstatus_set(&s, idx, "5.7.1", "mail to command is restricted");
            else
                run_command(d, idx, e + 1, lr, lr->pw.uid, lr->pw.gid, lr->addr, &s);
            fwd_result(f, &s);
        } else if (e[0] == '/') {
            if (!(a->allow_file & cls) && strcmp(e, "/dev/null") != 0)
                dstatus_set(&s, idx, "5.7.1", "mail to file is restricted");
            else
                deliver_file(d, idx, e, lr, lr->pw.uid, lr->pw.gid, lr->addr, &s);
            fwd_result(f, &s);
        } else if (strncasecmp(e, ":include:", 9) == 0) {
            const char *path = e + 9;
            while (*path == ' ')
                path++;
            int missing;
            char *inc = depth < INCLUDE_DEPTH_MAX && *path == '/'
                            ? read_forward_file(d, lr, path, &missing) : NULL;
            if (inc) {
                expand_forward_text(d, idx, lr, inc, DCLASS_INCLUDE, depth + 1, f);
                free(inc);
            } else {
                dstatus_set(&s, idx, depth >= INCLUDE_DEPTH_MAX ? "5.4.6" : "4.3.0",
                            "cannot open include file %s", path);
                fwd_result(f, &s);
            }
        } else {
            add_forward(f, a, *e == '\\' ? e + 1 : e);
        }
    }
    strv_free(entries);
}

/*
 * Try forward_path. Returns 1 when a .forward decided the outcome (st
 * filled), 0 when there is none (deliver to the mailbox).
 */
static int try_forward(struct delivery *d, int idx, const struct lrcpt *lr, struct dstatus *st)
{
    struct agent *a = d->a;
    if (!a->forward_path || !*a->forward_path)
        return 0;
    char *expanded = expand(a->forward_path, lr, a, a->fwd_filter);
    if (!expanded) {
        msg_warn("%s: bad forward_path: %s", d->req->qid, a->forward_path);
        dstatus_set(st, idx, "4.3.5", "mail system configuration error");
        return 1;
    }
    char **paths = str_split_list(expanded, NULL);
    free(expanded);
    char *text = NULL;
    for (char **p = paths; *p && !text; p++) {
        int missing;
        text = read_forward_file(d, lr, *p, &missing);
        if (!text && !missing) {
            dstatus_set(st, idx, "4.3.0", "cannot read forward file %s", *p);
            strv_free(paths);
            return 1;
        }
    }
    strv_free(paths);
    if (!text)
        return 0;
    struct fwd f = {0};
    expand_forward_text(d, idx, lr, text, DCLASS_FORWARD, 0, &f);
    free(text);
    if (!f.naddrs && !f.delivered && !f.have_worst) {
        /* empty .forward (or only the user): plain mailbox delivery */
        strv_free(f.addrs);
        return 0;
    }
    if (f.self) {
        struct dstatus s;
        deliver_mailbox(d, idx, lr, &s);
        fwd_result(&f, &s);
    }
    if (f.have_worst) {
        *st = f.worst;
    } else if (f.naddrs) {
        st->idx = idx;
        str_copy(st->cls, "forward", sizeof(st->cls));
        str_copy(st->dsn, "2.0.0", sizeof(st->dsn));
        if (dproto_forward_join(f.addrs, f.naddrs, st->text, sizeof(st->text)) < 0 ||
            strlen(st->text) > DPROTO_LINE_MAX - 64)
            dstatus_set(st, idx, "5.3.0", "too many addresses in ~/.forward");
    } else {
        *st = f.last_ok;
    }
    strv_free(f.addrs);
    return 1;
}

/* require_home_directory: can the user reach the home directory? */
static int home_accessible(const struct delivery *d, const struct lrcpt *lr)
{
    const struct agent *a = d->a;
    if (deliver_become(d, lr->pw.uid, lr->pw.gid, (gid_t)-1) < 0)
        return 0;
    struct stat sb;
    int ok = stat(lr->pw.home, &sb) == 0 && S_ISDIR(sb.st_mode);
    deliver_priv_restore(a);
    return ok;
}

/*
 * mailbox_transport_maps / mailbox_transport: the mailbox is another
 * transport's business (Dovecot over LMTP, in the guides): tell qmgr to
 * route the recipient there ("pass"). As in Postfix this comes before
 * the passwd lookup, and after ~/.forward. 1 when st is set (passed, or a
 * table failed), 0 when neither is set.
 */
static int mailbox_pass(struct delivery *d, int idx, const struct lrcpt *lr, struct dstatus *st)
{
    const struct agent *a = d->a;
    char *to = NULL;
    if (a->mbox_transport_maps) {
        struct buf res;
        buf_init(&res, 4096);
        int rc = maps_lookup_addr(a->mbox_transport_maps, lr->addr, a->rcpt_delim,
                                  MAPS_ADDR_LOCALPART, &res, NULL);
        if (rc == TABLE_TEMPFAIL) {
            buf_free(&res);
            msg_warn("%s: recipient %s: mailbox_transport_maps lookup failure", d->req->qid,
                     lr->addr);
            dstatus_set(st, idx, "4.3.0",
                        "mail system configuration error: mailbox_transport_maps lookup failure");
            return 1;
        }
        if (rc == TABLE_FOUND && *buf_cstr(&res))
            to = xstrdup(buf_cstr(&res));
        buf_free(&res);
    }
    if (!to && a->mailbox_transport && *a->mailbox_transport)
        to = xstrdup(a->mailbox_transport);
    if (!to)
        return 0;
    if (to[0] == ':' || strchr(to, ' ') || strlen(to) >= sizeof(st->text)) {
        msg_warn("%s: bad mailbox_transport value \"%s\"", d->req->qid, to);
        dstatus_set(st, idx, "4.3.5", "mail system configuration error");
    } else {
        st->idx = idx;
        str_copy(st->cls, "pass", sizeof(st->cls));
        str_copy(st->dsn, "2.0.0", sizeof(st->dsn));
        str_fmt(st->text, sizeof(st->text), "%s%s", to, strchr(to, ':') ? "" : ":");
        st->relay[0] = '\0';
    }
    free(to);
    return 1;
}

static void deliver_user(struct delivery *d, const struct dreq_rcpt *r, const struct dextra *x,
                         struct dstatus *st)
{
    struct agent *a = d->a;
    int idx = r->idx;
    struct lrcpt lr;
    lrcpt_init(&lr, a, r->addr, r->orig);
    if (deliver_is_loop(d, lr.addr)) {
        dstatus_set(st, idx, "5.4.6", "mail forwarding loop for %s", lr.addr);
        goto out;
    }
    int rc = a->getpw(lr.user, 0, &lr.pw, a->getpw_ctx);
    if (rc < 0) {
        dstatus_set(st, idx, "4.3.0", "cannot look up user %s", lr.user);
        goto out;
    }
    if (rc == 0) {
        if (!mailbox_pass(d, idx, &lr, st))
            dstatus_set(st, idx, "5.1.1", "unknown user: \"%s\"", lr.local);
        goto out;
    }
    if (a->single_user) {
        lr.pw.uid = getuid();
        lr.pw.gid = getgid();
    }
    if (a->require_home && !home_accessible(d, &lr)) {
        dstatus_set(st, idx, "4.3.0", "cannot access home directory %s", lr.pw.home);
        goto out;
    }
    if (!x->direct && try_forward(d, idx, &lr, st))
        goto out;
    if (mailbox_pass(d, idx, &lr, st))
        goto out;
    deliver_mailbox(d, idx, &lr, st);
out:
    lrcpt_free(&lr);
}

void deliver_local(struct delivery *d, const struct dreq_rcpt *r, struct dstatus *st)
{
    struct dextra x;
    if (dproto_extra_parse(r->extra, &x) < 0) {
        dstatus_set(st, r->idx, "4.3.0", "malformed delivery request");
        return;
    }
    /* Only qmgr's alias expansion marks a target; any other recipient is a user
     * name, even one that starts with '|' or '/' (then an unknown user). */
    if (x.target[0])
        deliver_alias_target(d, r, &x, st);
    else
        deliver_user(d, r, &x, st);
}
