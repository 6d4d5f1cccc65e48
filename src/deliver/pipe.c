/*
 * pipe.c - the pipe delivery agent (Postfix's pipe(8)): the message to an
 * external program, run directly (no shell) as the user= of its master.cf
 * line, with the arguments of argv= expanded per request:
 *
 *   dovecot unix - n n - - pipe flags=DRhu user=vmail:vmail
 *       argv=/usr/lib/dovecot/dovecot-lda -f ${sender} -d ${recipient}
 *
 * Owns: parsing the line's attributes (flags=, user=, argv=, size=, eol=,
 * null_sender=, directory=; Postfix's names and meanings), the $name
 * expansion of argv (${name}, $name and {$name}: sender, recipient,
 * original_recipient, user, extension, domain, mailbox, nexthop,
 * client_address, client_hostname, client_helo, client_protocol,
 * sasl_method, sasl_username, sasl_sender, queue_id, size), an argument
 * with a per-recipient name repeated once per recipient of the request,
 * and what the flags do: F (From_ line), R (Return-Path:), D
 * (Delivered-To:, with loop detection), O (X-Original-To:), B (empty line
 * at the end), '.' (dot-stuffing), '>' (">From " quoting), h and u (case
 * folding of the recipients' domains and local parts, $domain and $nexthop
 * in the arguments), q (quoting the addresses in the arguments), X (final
 * delivery). Running the program,
 * its time limit (<service>_time_limit) and what its exit status means
 * (sysexits: 75 defers, other failures bounce with its output) are
 * command.c's.
 */
#include "deliver/agent.h"
#include "deliver/pipe.h"
#include "lib-conf/config.h"
#include "lib-mail/addr.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_ARGS_MAX  256               /* arguments after expansion */
#define PIPE_ARG_MAX   8192              /* one expanded argument */

/* pipe_spec.flags */
#define PF_DELIVERED 0x01                /* D */
#define PF_ORIG_TO   0x02                /* O */
#define PF_FROM      0x04                /* F */
#define PF_RETURN    0x08                /* R */
#define PF_FINAL     0x10                /* X */
#define PF_FOLD_HOST 0x20                /* h */
#define PF_FOLD_USER 0x40                /* u */
#define PF_QUOTE     0x80                /* q */

static int parse_flags(const char *v, struct pipe_spec *p, char *err, size_t errlen)
{
    for (; *v; v++) {
        switch (*v) {
        case 'B': p->transform |= COPY_BLANK_END; break;
        case 'D': p->flags |= PF_DELIVERED; break;
        case 'F': p->flags |= PF_FROM; break;
        case 'O': p->flags |= PF_ORIG_TO; break;
        case 'R': p->flags |= PF_RETURN; break;
        case 'X': p->flags |= PF_FINAL; break;
        case 'h': p->flags |= PF_FOLD_HOST; break;
        case 'q': p->flags |= PF_QUOTE; break;
        case 'u': p->flags |= PF_FOLD_USER; break;
        case '.': p->transform |= COPY_DOT_STUFF; break;
        case '>': p->transform |= COPY_QUOTE_FROM; break;
        default:
            str_fmt(err, errlen, "unknown flag '%c' in flags=%s", *v, v);
            return -1;
        }
    }
    return 0;
}

static int parse_user(const char *v, struct pipe_spec *p, char *err, size_t errlen)
{
    char name[256];
    str_copy(name, v, sizeof(name));
    char *group = strchr(name, ':');
    if (group)
        *group++ = '\0';
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        str_fmt(err, errlen, "user= command-line attribute: unknown user name: %s", name);
        return -1;
    }
    p->uid = pw->pw_uid;
    p->gid = pw->pw_gid;
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (!gr) {
            str_fmt(err, errlen, "user= command-line attribute: unknown group name: %s", group);
            return -1;
        }
        p->gid = gr->gr_gid;
    }
    if (p->uid == 0 || p->gid == 0) {
        str_fmt(err, errlen, "user= command-line attribute specifies root privileges: %s", v);
        return -1;
    }
    p->user_set = 1;
    return 0;
}

int deliver_pipe_parse(const struct config *cfg, const char *service, char *const *args,
                       int single_user, struct pipe_spec *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->service = service;
    p->null_sender = "MAILER-DAEMON";
    p->directory = cfg_get(cfg, P_queue_directory);
    char name[300];
    str_fmt(name, sizeof(name), "%s_time_limit", service);
    p->time_limit = (long)cfg_get_time_by_name(cfg, name);
    size_t i = 0;
    for (; args && args[i]; i++) {
        const char *a = args[i];
        if (strncmp(a, "argv=", 5) == 0)
            break;
        const char *eq = strchr(a, '=');
        if (!eq) {
            str_fmt(err, errlen, "unknown attribute: %s", a);
            return -1;
        }
        const char *v = eq + 1;
        size_t nl = (size_t)(eq - a);
        if (nl == 5 && strncmp(a, "flags", 5) == 0) {
            if (parse_flags(v, p, err, errlen) < 0)
                return -1;
        } else if (nl == 4 && strncmp(a, "user", 4) == 0) {
            if (parse_user(v, p, err, errlen) < 0)
                return -1;
        } else if (nl == 4 && strncmp(a, "size", 4) == 0) {
            char *end;
            p->size_limit = strtoll(v, &end, 10);
            if (*end || p->size_limit < 0) {
                str_fmt(err, errlen, "size= command-line attribute: bad size: %s", v);
                return -1;
            }
        } else if (nl == 3 && strncmp(a, "eol", 3) == 0) {
            if (strcmp(v, "\\r\\n") == 0)
                p->transform |= COPY_CRLF;
            else if (strcmp(v, "\\n") != 0) {
                str_fmt(err, errlen, "eol= command-line attribute: unsupported: %s", v);
                return -1;
            }
        } else if (nl == 11 && strncmp(a, "null_sender", 11) == 0) {
            p->null_sender = v;
        } else if (nl == 9 && strncmp(a, "directory", 9) == 0) {
            p->directory = v;
        } else {
            str_fmt(err, errlen, "unknown attribute name: %.*s", (int)nl, a);
            return -1;
        }
    }
    if (!args || !args[i] || !args[i][5]) {
        str_fmt(err, errlen, "missing argv= command-line attribute");
        return -1;
    }
    if (!p->user_set && !single_user) {
        str_fmt(err, errlen, "missing user= command-line attribute");
        return -1;
    }
    p->argv = (char *const *)&args[i];   /* argv[0] is "argv=program" */
    if (p->argv[0][5] != '/') {
        str_fmt(err, errlen, "argv= command-line attribute: not an absolute path: %s",
                p->argv[0] + 5);
        return -1;
    }
    return 0;
}

/* ---- expansion ---- */

struct rcpt_parts {
    char addr[1024], orig[1024];
    char user[512], ext[512], mailbox[512], domain[512];
};

static void fold(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* An address as the flags want it in an argument (h and u fold recipients, not the sender). */
static void arg_addr(const struct pipe_spec *p, const char *addr, int recipient, char *out,
                     size_t outlen)
{
    char local[512], domain[512];
    addr_split(addr, local, sizeof(local), domain, sizeof(domain));
    if (recipient && (p->flags & PF_FOLD_USER))
        fold(local);
    if (recipient && (p->flags & PF_FOLD_HOST))
        fold(domain);
    char joined[1100];
    str_fmt(joined, sizeof(joined), domain[0] ? "%s@%s" : "%s", local, domain);
    if (p->flags & PF_QUOTE) {
        char *q = addr_external_dup(joined);
        str_copy(out, q, outlen);
        free(q);
    } else {
        str_copy(out, joined, outlen);
    }
}

static void split_rcpt(const struct pipe_spec *p, const struct agent *a,
                       const struct dreq_rcpt *r, struct rcpt_parts *rp)
{
    arg_addr(p, r->addr, 1, rp->addr, sizeof(rp->addr));
    arg_addr(p, r->orig && *r->orig ? r->orig : r->addr, 1, rp->orig, sizeof(rp->orig));
    char local[512];
    addr_split(r->addr, local, sizeof(local), rp->domain, sizeof(rp->domain));
    if (p->flags & PF_FOLD_USER)
        fold(local);
    if (p->flags & PF_FOLD_HOST)
        fold(rp->domain);
    str_copy(rp->mailbox, local, sizeof(rp->mailbox));
    str_copy(rp->user, local, sizeof(rp->user));
    rp->ext[0] = '\0';
    for (const char *c = a->rcpt_delim; *c; c++) {
        char *cut = strchr(rp->user, *c);
        if (cut && cut != rp->user) {
            str_copy(rp->ext, cut + 1, sizeof(rp->ext));
            *cut = '\0';
            break;
        }
    }
}

static const char *const per_rcpt_names[] = {
    "recipient", "original_recipient", "user", "extension", "domain", "mailbox",
};

/* The value of $name, or NULL for an unknown name. rp: this recipient. */
static const char *macro_value(const struct delivery *d, const struct pipe_spec *p,
                               const char *name, const struct rcpt_parts *rp, char *tmp,
                               size_t tmplen)
{
    const struct dreq *req = d->req;
    if (strcmp(name, "sender") == 0) {
        if (!req->sender || !*req->sender)
            return p->null_sender;
        arg_addr(p, req->sender, 0, tmp, tmplen);
        return tmp;
    }
    if (strcmp(name, "recipient") == 0)
        return rp->addr;
    if (strcmp(name, "original_recipient") == 0)
        return rp->orig;
    if (strcmp(name, "user") == 0)
        return rp->user;
    if (strcmp(name, "extension") == 0)
        return rp->ext;
    if (strcmp(name, "domain") == 0)
        return rp->domain;
    if (strcmp(name, "mailbox") == 0)
        return rp->mailbox;
    if (strcmp(name, "queue_id") == 0)
        return req->qid;
    if (strcmp(name, "size") == 0) {
        str_fmt(tmp, tmplen, "%zu", req->length);
        return tmp;
    }
    if (strcmp(name, "nexthop") == 0) {
        const char *v = dproto_attr(req, "nexthop");
        str_copy(tmp, v ? v : "", tmplen);
        if (p->flags & PF_FOLD_HOST)
            fold(tmp);
        return tmp;
    }
    static const char *const attrs[][2] = {
        {"client_address", "client_address"}, {"client_hostname", "client_name"},
        {"client_helo", "helo_name"},         {"client_protocol", "protocol"},
        {"sasl_method", "sasl_method"},       {"sasl_username", "sasl_username"},
        {"sasl_sender", "sasl_sender"},
    };
    for (size_t i = 0; i < ARRAY_LEN(attrs); i++)
        if (strcmp(name, attrs[i][0]) == 0) {
            const char *v = dproto_attr(req, attrs[i][1]);
            return v ? v : "";
        }
    return NULL;
}

/* The name at s ("${name}", "$name", "{$name}"): its length in *used, or 0 for none. */
static size_t macro_name(const char *s, char *name, size_t namelen, size_t *used)
{
    const char *n = NULL, *end = NULL;
    if (s[0] == '$' && s[1] == '{') {
        n = s + 2;
        end = strchr(n, '}');
        *used = end ? (size_t)(end - s) + 1 : 0;
    } else if (s[0] == '{' && s[1] == '$') {
        n = s + 2;
        end = strchr(n, '}');
        *used = end ? (size_t)(end - s) + 1 : 0;
    } else if (s[0] == '$') {
        n = s + 1;
        end = n;
        while (*end == '_' || isalnum((unsigned char)*end))
            end++;
        *used = (size_t)(end - s);
    }
    if (!n || !end || end == n || (size_t)(end - n) >= namelen)
        return 0;
    memcpy(name, n, (size_t)(end - n));
    name[end - n] = '\0';
    return (size_t)(end - n);
}

static int has_per_rcpt(const char *tmpl)
{
    for (size_t k = 0; k < ARRAY_LEN(per_rcpt_names); k++) {
        char pat[3][64];
        str_fmt(pat[0], sizeof(pat[0]), "${%s}", per_rcpt_names[k]);
        str_fmt(pat[1], sizeof(pat[1]), "{$%s}", per_rcpt_names[k]);
        str_fmt(pat[2], sizeof(pat[2]), "$%s", per_rcpt_names[k]);
        for (int j = 0; j < 3; j++) {
            const char *hit = strstr(tmpl, pat[j]);
            size_t l = strlen(pat[j]);
            if (hit && (j < 2 || !(hit[l] == '_' || isalnum((unsigned char)hit[l]))))
                return 1;
        }
    }
    return 0;
}

/* One argument from its template. -1 (with why) for an unknown name or too long. */
static int expand_arg(const struct delivery *d, const struct pipe_spec *p, const char *tmpl,
                      const struct rcpt_parts *rp, struct buf *out, const char **why)
{
    buf_reset(out);
    for (const char *s = tmpl; *s;) {
        char name[64], tmp[1100];
        size_t used = 0;
        if ((*s == '$' || *s == '{') && macro_name(s, name, sizeof(name), &used) && used) {
            const char *v = macro_value(d, p, name, rp, tmp, sizeof(tmp));
            if (!v) {
                *why = "unknown $name in argv=";
                return -1;
            }
            buf_puts(out, v);
            s += used;
            continue;
        }
        buf_putc(out, *s++);
    }
    if (out->len >= PIPE_ARG_MAX) {
        *why = "argument too long";
        return -1;
    }
    return 0;
}

/* The argument vector for the request's recipients; NULL (with why) on error. */
static char **build_argv(const struct delivery *d, const struct pipe_spec *p,
                         const struct rcpt_parts *rps, size_t nr, const char **why)
{
    char **argv = xcalloc(PIPE_ARGS_MAX + 1, sizeof(char *));
    size_t n = 0;
    struct buf b;
    buf_init(&b, PIPE_ARG_MAX + 1);
    for (size_t i = 0; p->argv[i]; i++) {
        const char *tmpl = i == 0 ? p->argv[0] + 5 : p->argv[i];
        size_t reps = i > 0 && has_per_rcpt(tmpl) ? nr : 1;
        for (size_t k = 0; k < reps; k++) {
            if (n >= PIPE_ARGS_MAX) {
                *why = "too many arguments";
                goto fail;
            }
            if (expand_arg(d, p, tmpl, &rps[k], &b, why) < 0)
                goto fail;
            argv[n++] = xstrdup(buf_cstr(&b));
        }
    }
    buf_free(&b);
    return argv;
fail:
    buf_free(&b);
    strv_free(argv);
    return NULL;
}

/* ---- delivery ---- */

static void all_same(const struct dreq *req, struct dstatus *st, const struct dstatus *first)
{
    for (size_t i = 1; i < req->nrcpts; i++) {
        int idx = st[i].idx;
        st[i] = *first;
        st[i].idx = idx;
    }
}

static char **pipe_env(const struct agent *a)
{
    size_t n = 0;
    char **env = xcalloc(2 + strv_len(a->export_env), sizeof(char *));
    env[n++] = xstrdup("PATH=/usr/bin:/bin");
    for (char **e = a->export_env; e && *e; e++) {
        const char *v = getenv(*e);
        if (v && strcmp(*e, "PATH") != 0)
            env[n++] = xasprintf("%s=%s", *e, v);
    }
    env[n] = NULL;
    return env;
}

void deliver_pipe_request(struct delivery *d, struct dstatus *st)
{
    const struct agent *a = d->a;
    const struct pipe_spec *p = a->pipe;
    const struct dreq *req = d->req;
    for (size_t i = 0; i < req->nrcpts; i++)
        st[i].idx = req->rcpts[i].idx;
    if (!p || p->error[0]) {
        dstatus_set(&st[0], st[0].idx, "4.3.5", "mail system configuration error");
        all_same(req, st, &st[0]);
        return;
    }
    if ((p->flags & (PF_DELIVERED | PF_ORIG_TO)) && req->nrcpts > 1) {
        msg_warn("%s: flags D and O need %s_destination_recipient_limit = 1", req->qid,
                 p->service);
        dstatus_set(&st[0], st[0].idx, "4.3.5", "mail system configuration error");
        all_same(req, st, &st[0]);
        return;
    }
    if (p->size_limit > 0 && (long long)req->length > p->size_limit) {
        dstatus_set(&st[0], st[0].idx, "5.2.3", "message file too big");
        all_same(req, st, &st[0]);
        return;
    }
    const struct dreq_rcpt *r0 = &req->rcpts[0];
    if ((p->flags & PF_DELIVERED) && deliver_is_loop(d, r0->addr)) {
        dstatus_set(&st[0], st[0].idx, "5.4.6", "mail forwarding loop for %s", r0->addr);
        return;
    }
    struct rcpt_parts *rps = xcalloc(req->nrcpts, sizeof(*rps));
    for (size_t i = 0; i < req->nrcpts; i++)
        split_rcpt(p, a, &req->rcpts[i], &rps[i]);
    const char *why = NULL;
    char **argv = build_argv(d, p, rps, req->nrcpts, &why);
    free(rps);
    if (!argv) {
        msg_warn("%s: %s service: %s", req->qid, p->service, why);
        dstatus_set(&st[0], st[0].idx, "4.3.5", "mail system configuration error");
        all_same(req, st, &st[0]);
        return;
    }
    char **env = pipe_env(a);
    struct command_spec c = {.command = argv[0], .argv = argv, .service = p->service,
                             .time_limit = p->time_limit, .uid = p->uid, .gid = p->gid,
                             .cwd = p->directory, .env = env};
    struct copy_opts o = {
        .from_sender = (p->flags & PF_FROM) ? req->sender : NULL,
        .return_path = (p->flags & PF_RETURN) ? req->sender : NULL,
        .orig_to = (p->flags & PF_ORIG_TO) ? (r0->orig && *r0->orig ? r0->orig : r0->addr) : NULL,
        .delivered_to = (p->flags & PF_DELIVERED) ? r0->addr : NULL,
        .transform = p->transform,
    };
    deliver_command(d, st[0].idx, &c, &o, &st[0]);
    all_same(req, st, &st[0]);
    strv_free(env);
    strv_free(argv);
}
