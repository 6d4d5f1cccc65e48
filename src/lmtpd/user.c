/*
 * user.c - who a recipient is, for the LMTP server and the LDA (lda.h):
 * the settings, the auth service's userdb (Dovecot's auth-master USER
 * lookup, blocking, one connection per lookup), the mail location, and
 * yubin's own virtual_mailbox_maps when the userdb cannot be asked or
 * names no mailbox.
 */
#include "lmtpd/lda.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-auth/authproto.h"
#include "lib-conf/config.h"
#include "lib-mail/addr.h"
#include "lib-table/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define USERDB_TIMEOUT_MS 30000

static char *dup_param(const struct config *cfg, enum param_id p)
{
    const char *v = cfg_get(cfg, p);
    return xstrdup(v ? v : "");
}

void lmtpd_lda_init(struct lmtpd_lda *l, const struct config *cfg, const char *prog)
{
    memset(l, 0, sizeof(*l));
    l->cfg = cfg;
    l->prog = prog;
    l->queue_dir = dup_param(cfg, P_queue_directory);
    const char *us = cfg_get(cfg, P_auth_userdb_socket);
    if (us && *us)
        l->userdb_socket = us[0] == '/' ? xstrdup(us) : xasprintf("%s/%s", l->queue_dir, us);
    l->myhostname = dup_param(cfg, P_myhostname);
    l->postmaster = dup_param(cfg, P_postmaster_address);
    mquota_default_from_config(cfg);   /* main.cf's quota_warning, VDA folders */
    l->rcpt_delim = dup_param(cfg, P_recipient_delimiter);
    l->mail_location = dup_param(cfg, P_mail_location);
    l->mail_uid = dup_param(cfg, P_mail_uid);
    l->mail_gid = dup_param(cfg, P_mail_gid);
    l->first_valid_uid = cfg_get_int(cfg, P_first_valid_uid);
    l->sieve = dup_param(cfg, P_sieve);
    l->sieve_before = cfg_get_list(cfg, P_sieve_before);
    l->sieve_after = cfg_get_list(cfg, P_sieve_after);
    l->autocreate = cfg_get_bool(cfg, P_lda_mailbox_autocreate);
    l->rcpt_check_quota = cfg_get_bool(cfg, P_lmtp_rcpt_check_quota);
    const char *vm = cfg_get(cfg, P_virtual_mailbox_maps);
    if (vm && *vm)
        l->vmbox = maps_open_tolerant(vm, cfg, "virtual_mailbox_maps");
    l->vbase = dup_param(cfg, P_virtual_mailbox_base);
}

void lmtpd_lda_free(struct lmtpd_lda *l)
{
    free(l->queue_dir);
    free(l->userdb_socket);
    free(l->myhostname);
    free(l->postmaster);
    free(l->rcpt_delim);
    free(l->mail_location);
    free(l->mail_uid);
    free(l->mail_gid);
    free(l->sieve);
    strv_free(l->sieve_before);
    strv_free(l->sieve_after);
    maps_close(l->vmbox);
    free(l->vbase);
    memset(l, 0, sizeof(*l));
}

/* ------------------------------------------------------------------ */
/* mail location                                                       */

static int put(char *out, size_t outlen, size_t *k, const char *s, size_t n)
{
    if (*k + n >= outlen)
        return -1;
    memcpy(out + *k, s, n);
    *k += n;
    out[*k] = '\0';
    return 0;
}

int lmtpd_expand_path(const char *tmpl, size_t plen, const char *user, const char *home,
                      char *out, size_t outlen)
{
    const char *at = strrchr(user, '@');
    size_t nlen = at ? (size_t)(at - user) : strlen(user);
    const char *dom = at ? at + 1 : "";
    size_t k = 0, i = 0;
    if (outlen < 2 || plen == 0)
        return -1;
    out[0] = '\0';
    if (tmpl[0] == '~' && (plen == 1 || tmpl[1] == '/')) {
        if (!home || !*home || put(out, outlen, &k, home, strlen(home)) < 0)
            return -1;
        i = 1;
    }
    for (; i < plen; i++) {
        int rc = 0;
        if (tmpl[i] != '%' || i + 1 >= plen) {
            rc = put(out, outlen, &k, tmpl + i, 1);
        } else {
            char c = tmpl[++i];
            if (c == 'u')
                rc = put(out, outlen, &k, user, strlen(user));
            else if (c == 'n')
                rc = put(out, outlen, &k, user, nlen);
            else if (c == 'd')
                rc = put(out, outlen, &k, dom, strlen(dom));
            else if (c == 'h')
                rc = (home && *home) ? put(out, outlen, &k, home, strlen(home)) : -1;
            else if (c == '%')
                rc = put(out, outlen, &k, "%", 1);
            else
                rc = -1;
        }
        if (rc < 0)
            return -1;
    }
    if (out[0] != '/')
        return -1;
    for (const char *p = out; (p = strstr(p, "/..")); p += 3)
        if (p[3] == '/' || p[3] == '\0')
            return -1;
    return 0;
}

int lmtpd_mail_location(const char *loc, const char *user, const char *home, char *out,
                        size_t outlen)
{
    if (strncmp(loc, "maildir:", 8) == 0)
        loc += 8;
    else if (strchr(loc, ':') && loc[0] != '/' && loc[0] != '~')
        return -1;                     /* mbox:, sdbox: ... */
    size_t plen = strcspn(loc, ":");   /* options such as :LAYOUT=fs are ignored */
    if (lmtpd_expand_path(loc, plen, user, home, out, outlen) < 0)
        return -1;
    size_t k = strlen(out);
    if (out[k - 1] != '/' && put(out, outlen, &k, "/", 1) < 0)
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* the userdb                                                          */

static int userdb_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Fields of a USER reply. */
struct udb_fields {
    char uid[32], gid[32], home[LMTPD_PATH_MAX], mail[LMTPD_PATH_MAX];
};

static void user_fields(char **f, int n, struct lmtpd_user *u, struct udb_fields *uf)
{
    str_copy(u->name, f[2], sizeof(u->name));
    for (int i = 3; i < n; i++) {
        if (strncmp(f[i], "uid=", 4) == 0)
            str_copy(uf->uid, f[i] + 4, sizeof(uf->uid));
        else if (strncmp(f[i], "gid=", 4) == 0)
            str_copy(uf->gid, f[i] + 4, sizeof(uf->gid));
        else if (strncmp(f[i], "home=", 5) == 0)
            str_copy(uf->home, f[i] + 5, sizeof(uf->home));
        else if (strncmp(f[i], "mail=", 5) == 0)
            str_copy(uf->mail, f[i] + 5, sizeof(uf->mail));
        else
            lmtpd_quota_field(u, f[i]);
    }
}

void lmtpd_quota_field(struct lmtpd_user *u, const char *field)
{
    char why[256];
    const char *v = strchr(field, '=');
    if (!v)
        return;
    size_t klen = (size_t)(v - field);
    v++;
    int rc = 0;
    if (klen >= 10 && strncmp(field, "quota_rule", 10) == 0 &&
        strspn(field + 10, "0123456789") == klen - 10) {
        rc = mquota_rule_parse(&u->quota, v, why, sizeof(why));
        u->have_quota = 1;
    } else if (klen == 11 && strncmp(field, "quota_grace", 11) == 0) {
        rc = mquota_grace_parse(&u->quota, v);
        str_copy(why, "bad quota_grace", sizeof(why));
    } else if (klen >= 13 && strncmp(field, "quota_warning", 13) == 0 && !u->quota.warn_percent) {
        rc = mquota_warning_parse(&u->quota, v);
        str_copy(why, "bad quota_warning", sizeof(why));
    }
    if (rc < 0)
        msg_warn("user %s: userdb field ignored: %s", u->name, why);
}

/*
 * Ask the userdb. 1 USER, 0 NOTFOUND, -1 FAIL, a broken conversation or
 * a socket nobody listens on; -2 no socket, or not ours to use.
 */
static int userdb_ask(const char *path, const char *user, struct lmtpd_user *u,
                      struct udb_fields *uf, char *why, size_t whylen)
{
    int fd = userdb_connect(path);
    if (fd < 0) {
        /* no auth service here, or its socket is not ours (the LDA as vmail): the
         * virtual mailbox maps decide; one that exists but does not answer is down */
        int e = errno;
        str_fmt(why, whylen, "userdb socket %s: %s", path, strerror(e));
        return e == ENOENT || e == EACCES || e == EPERM ? -2 : -1;
    }
    fd_set_nonblock(fd, 1);
    struct conn *c = conn_new(fd, AUTHPROTO_LINE_MAX + 2, 0);
    conn_set_lines(c, AUTHPROTO_LINE_MAX, 0);
    conn_deadline_in(c, USERDB_TIMEOUT_MS);
    struct buf req;
    buf_init(&req, AUTHPROTO_LINE_MAX);
    buf_puts(&req, "VERSION\t1\t0\nUSER\t1\t");
    authproto_escape(&req, user, strlen(user));
    buf_puts(&req, "\tservice=lmtp\n");
    int rc = -1;
    str_copy(why, "userdb lookup failed", whylen);
    if (conn_write_wait(c, req.data, req.len) == 0) {
        char *line;
        size_t len;
        while (conn_line_wait(c, &line, &len) == CONN_LINE) {
            char *f[AUTHPROTO_FIELDS_MAX];
            int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
            if (n < 2 || strcmp(f[0], "VERSION") == 0 || strcmp(f[0], "SPID") == 0 ||
                strcmp(f[1], "1") != 0)
                continue;               /* the greeting */
            if (strcmp(f[0], "USER") == 0 && n >= 3) {
                user_fields(f, n, u, uf);
                rc = 1;
            } else if (strcmp(f[0], "NOTFOUND") == 0) {
                rc = 0;
            } else {
                const char *r = authproto_param(f, n, 2, "reason");
                str_fmt(why, whylen, "userdb lookup failed%s%s", r ? ": " : "", r ? r : "");
            }
            break;
        }
    }
    buf_free(&req);
    conn_free(c);
    return rc;
}

/* The uid/gid: the userdb's, else mail_uid/mail_gid. */
static void user_ids(struct lmtpd_lda *l, const struct udb_fields *uf, struct lmtpd_user *u)
{
    long long uid, gid;
    if (id_parse(uf->uid[0] ? uf->uid : l->mail_uid, 0, &uid) == 0 &&
        id_parse(uf->gid[0] ? uf->gid : l->mail_gid, 1, &gid) == 0) {
        u->uid = (uid_t)uid;
        u->gid = (gid_t)gid;
        u->have_ids = 1;
    }
}

/* The mailbox from virtual_mailbox_maps: 1 found, 0 not, -1 lookup failure. */
static int virtual_mailbox(struct lmtpd_lda *l, const char *addr, struct lmtpd_user *u)
{
    if (!l->vmbox || maps_empty(l->vmbox))
        return 0;
    struct buf res;
    buf_init(&res, LMTPD_PATH_MAX);
    int ext_used = 0;
    int rc = maps_lookup_addr(l->vmbox, addr, l->rcpt_delim, MAPS_ADDR_DOMAIN, &res, &ext_used);
    int found = 0;
    if (rc == TABLE_TEMPFAIL) {
        found = -1;
    } else if (rc == TABLE_FOUND) {
        const char *v = buf_cstr(&res);
        size_t n = strlen(v);
        if (n > 0 && v[n - 1] == '/' && !strstr(v, "..") &&
            str_fmt(u->maildir, sizeof(u->maildir), "%s%s%s", v[0] == '/' ? "" : l->vbase,
                    v[0] == '/' || !*l->vbase || l->vbase[strlen(l->vbase) - 1] == '/' ? "" : "/",
                    v) == 0)
            found = 1;
        else
            found = -1;                 /* an mbox or a bad path: not for us */
    }
    buf_free(&res);
    return found;
}

int lmtpd_user_lookup(struct lmtpd_lda *l, const char *addr, struct lmtpd_user *u, char *why,
                      size_t whylen)
{
    memset(u, 0, sizeof(*u));
    char bare[LMTPD_ADDR_MAX], ext[LMTPD_ADDR_MAX];
    if (addr_strip_ext(addr, l->rcpt_delim, bare, sizeof(bare), ext, sizeof(ext)) < 0) {
        str_copy(why, "address too long", whylen);
        return -1;
    }
    str_lower(bare);
    str_copy(u->name, bare, sizeof(u->name));
    struct udb_fields uf;
    memset(&uf, 0, sizeof(uf));
    int rc = -2;
    if (l->userdb_socket)
        rc = userdb_ask(l->userdb_socket, bare, u, &uf, why, whylen);
    if (rc == -1 || rc == 0)
        return rc;
    str_copy(u->home, uf.home, sizeof(u->home));
    user_ids(l, &uf, u);
    const char *loc = uf.mail[0] ? uf.mail : l->mail_location;
    if (loc[0]) {
        if (lmtpd_mail_location(loc, u->name, u->home, u->maildir, sizeof(u->maildir)) < 0) {
            str_fmt(why, whylen, "unusable mail location \"%s\"", loc);
            return -1;
        }
        return 1;
    }
    /* no mail location: yubin's virtual mailboxes (the userdb, when reachable, said the user exists) */
    int v = virtual_mailbox(l, bare, u);
    if (v < 0) {
        str_copy(why, "virtual_mailbox_maps lookup failed or gave no Maildir", whylen);
        return -1;
    }
    if (v == 0 && rc == -2)
        return 0;
    if (v == 0) {
        str_copy(why, "no mail location for the user (mail_location, userdb mail=)", whylen);
        return -1;
    }
    if (!u->have_ids && getuid() != 0) {
        u->uid = getuid();             /* the LDA: its own uid owns the mail */
        u->gid = getgid();
        u->have_ids = 1;
    }
    return 1;
}
