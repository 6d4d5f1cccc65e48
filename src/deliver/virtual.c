/*
 * virtual.c - the virtual(8) delivery agent: mailboxes for
 * virtual_mailbox_domains, found with virtual_mailbox_maps (virtual(5)
 * search order: user+ext@domain, user@domain, @domain), under
 * virtual_mailbox_base, owned by the uid/gid from virtual_uid_maps and
 * virtual_gid_maps. A result ending in "/" is a Maildir, anything else
 * an mbox file (written by lib-storage through deliver_agent_store()).
 */
#include "deliver/agent.h"
#include "deliver/virtual.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib-conf/config.h"
#include "lib-queue/submit.h"
#include "lib-storage/quota.h"
#include "lib-storage/storage.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Strict decimal id: 0 .. INT_MAX. */
static int parse_id(const char *s, long *out)
{
    if (!*s || strlen(s) > 10)
        return -1;
    long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    if (v > INT_MAX)
        return -1;
    *out = v;
    return 0;
}

/*
 * A ".." component in a virtual_mailbox_maps result: the mailbox would
 * not be below virtual_mailbox_base. Results built from the local part
 * ($1 of a regexp or pcre table, %u of an SQL query) carry whatever the
 * client put there: "x/../../../y"@example.com.
 */
static int has_dotdot(const char *path)
{
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.')
            return 1;
        p += n;
        p += strspn(p, "/");
    }
    return 0;
}

/*
 * Look up the uid or gid of rcpt in maps. Returns 0, or -1 after
 * logging why (the caller defers with "mail system configuration error").
 */
static int lookup_id(struct delivery *d, struct maps *m, const char *param, const char *rcpt,
                     const char *what, long *out)
{
    const struct agent *a = d->a;
    if (!m || maps_empty(m)) {
        msg_warn("%s: recipient %s: %s is empty", d->req->qid, rcpt, param);
        return -1;
    }
    struct buf res;
    buf_init(&res, 1024);
    int ext_used = 0;
    int rc = maps_lookup_addr(m, rcpt, a->rcpt_delim, MAPS_ADDR_DOMAIN, &res, &ext_used);
    if (rc == TABLE_TEMPFAIL)
        msg_warn("%s: recipient %s: %s lookup failure", d->req->qid, rcpt, param);
    else if (rc == TABLE_NOTFOUND)
        msg_warn("%s: recipient %s: %s not found in %s", d->req->qid, rcpt, what, param);
    else if (parse_id(buf_cstr(&res), out) < 0) {
        msg_warn("%s: recipient %s: bad %s %s in %s", d->req->qid, rcpt, what, buf_cstr(&res),
                 param);
        rc = TABLE_NOTFOUND;
    }
    buf_free(&res);
    return rc == TABLE_FOUND ? 0 : -1;
}

/*
 * The VDA patch's quota for a Maildir (virtual_maildir_extended): the
 * rules, the text and whether to bounce into t. 0, or -1 when a table failed.
 */
static int quota_target(struct delivery *d, const char *rcpt, struct store_target *t,
                        struct mquota_rules *rules, char *text, size_t textlen)
{
    const struct agent *a = d->a;
    if (!a->vda || !a->vda->extended || storage_format_of(t->path) != STORAGE_MAILDIR)
        return 0;
    long long file_limit;
    int rc = mquota_vda_rules(a->vda, rcpt, a->rcpt_delim, rules, &file_limit, text, textlen);
    if (rc != TABLE_FOUND) {
        msg_warn("%s: recipient %s: virtual_mailbox_limit_maps lookup failure", d->req->qid,
                 rcpt);
        return -1;
    }
    t->limit = file_limit;
    t->quota = rules;
    t->quota_text = text;
    t->quota_bounce = a->vda->bounce;
    return 0;
}

/* A new message from sender to rcpt through pickup (LF line ends in b). */
static void submit_warning(struct delivery *d, const char *sender, const char *rcpt,
                           struct buf *b)
{
    const char *qdir = d->a->queue_dir ? d->a->queue_dir : cfg_get(d->a->cfg, P_queue_directory);
    char *sock = xasprintf("%s/public/pickup", qdir);
    struct submit_conn c;
    if (submit_open(&c, sock) < 0) {
        msg_warn("%s: cannot submit the quota warning to <%s>: %s: %s", d->req->qid, rcpt, sock,
                 strerror(errno));
        free(sock);
        return;
    }
    submit_set_timeout(&c, 60);
    struct submission o;
    memset(&o, 0, sizeof(o));
    submission_add_rcpt(&o, rcpt);
    int ex = submit_message(&c, sender, &o, b, -1);
    if (ex != 0)
        msg_warn("%s: quota warning to <%s> not submitted (status %d)", d->req->qid, rcpt, ex);
    for (size_t i = 0; i < o.nrcpts; i++)
        free(o.rcpts[i]);
    free(o.rcpts);
    submit_close(&c);
    free(sock);
}

struct quota_warn_ctx {
    struct delivery *d;
    const char *rcpt;
};

/* quota_warning: a message to the recipient, once, through pickup. */
static void quota_warn(void *ctx, const char *root, const struct mquota *q, int percent)
{
    const struct quota_warn_ctx *w = ctx;
    msg_info("%s: %s: quota warning: %d%% of the quota of %s used", w->d->req->qid, w->rcpt,
             percent, root);
    struct buf b;
    buf_init(&b, 0);
    char from[300];
    str_fmt(from, sizeof(from), "MAILER-DAEMON@%s", w->d->a->myorigin);
    mquota_warning_message(&b, from, w->rcpt, q, percent);
    submit_warning(w->d, "", w->rcpt, &b);
    buf_free(&b);
}

void deliver_virtual(struct delivery *d, const struct dreq_rcpt *r, struct dstatus *st)
{
    struct agent *a = d->a;
    int idx = r->idx;
    char *rcpt = xstrdup(r->addr);
    str_lower(rcpt);

    if (deliver_is_loop(d, rcpt)) {
        dstatus_set(st, idx, "5.4.6", "mail forwarding loop for %s", rcpt);
        free(rcpt);
        return;
    }
    struct buf res;
    buf_init(&res, 4096);
    int ext_used = 0;
    int rc = a->vmbox ? maps_lookup_addr(a->vmbox, rcpt, a->rcpt_delim, MAPS_ADDR_DOMAIN, &res,
                                         &ext_used)
                      : TABLE_NOTFOUND;
    if (rc == TABLE_TEMPFAIL) {
        msg_warn("%s: recipient %s: virtual_mailbox_maps lookup failure", d->req->qid, rcpt);
        dstatus_set(st, idx, "4.3.0", "mail system configuration error: virtual_mailbox_maps lookup failure");
        goto out;
    }
    if (rc != TABLE_FOUND || !*buf_cstr(&res)) {
        dstatus_set(st, idx, "5.1.1", "unknown user: \"%s\"", rcpt);
        goto out;
    }
    if (has_dotdot(buf_cstr(&res))) {
        msg_warn("%s: recipient %s: mailbox %s from virtual_mailbox_maps has a \"..\" "
                 "component: refusing delivery outside virtual_mailbox_base", d->req->qid, rcpt,
                 buf_cstr(&res));
        dstatus_set(st, idx, "5.1.1", "invalid mailbox path for \"%s\"", rcpt);
        goto out;
    }

    long uid = (long)getuid(), gid = (long)getgid();
    if (!a->single_user) {
        if (lookup_id(d, a->vuid, "virtual_uid_maps", rcpt, "uid", &uid) < 0 ||
            lookup_id(d, a->vgid, "virtual_gid_maps", rcpt, "gid", &gid) < 0) {
            dstatus_set(st, idx, "4.3.5", "mail system configuration error");
            goto out;
        }
        if (uid < a->vmin_uid) {
            msg_warn("%s: recipient %s: uid %ld from virtual_uid_maps is below "
                     "virtual_minimum_uid %ld: refusing delivery", d->req->qid, rcpt, uid,
                     a->vmin_uid);
            dstatus_set(st, idx, "4.3.5", "mail system configuration error");
            goto out;
        }
    }
    char *path = xasprintf("%s/%s", a->vbase, buf_cstr(&res));
    const char *orig = a->enable_orig_rcpt ? (*r->orig ? r->orig : r->addr) : NULL;
    struct copy_opts o = {.return_path = d->req->sender, .orig_to = orig, .delivered_to = rcpt};
    struct store_target t = {.path = path, .user = rcpt, .uid = (uid_t)uid, .gid = (gid_t)gid,
                             .locks = a->vlocks, .limit = a->vlimit,
                             .strict_owner = a->strict_owner};
    struct mquota_rules rules;
    char qtext[512];
    if (quota_target(d, rcpt, &t, &rules, qtext, sizeof(qtext)) < 0) {
        dstatus_set(st, idx, "4.3.0", "mail system configuration error: "
                    "virtual_mailbox_limit_maps lookup failure");
        free(path);
        goto out;
    }
    struct quota_warn_ctx w = {d, rcpt};
    mquota_set_warn_hook(quota_warn, &w);
    deliver_agent_store(d, idx, &t, &o, st);
    mquota_set_warn_hook(NULL, NULL);
    free(path);
out:
    buf_free(&res);
    free(rcpt);
}
