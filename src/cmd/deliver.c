/*
 * deliver.c - `yubin deliver`, the local delivery agent (LDA): a drop-in
 * for Dovecot's dovecot-lda in Postfix pipe transports and
 * mailbox_command:
 *
 *   yubin deliver [-c DIR] -d USER [-f SENDER] [-a ADDRESS] [-m FOLDER] [-e] [-p FILE]
 *
 * The message comes on standard input (or from FILE). It runs as the
 * calling user (the pipe service's user=) and never needs root: started
 * as root, it becomes the user the userdb names before touching the
 * mailbox. Delivery (user lookup, Sieve, saving) is lmtpd/lda.h's, the
 * same code as the LMTP server's.
 *
 * Exit status as dovecot-lda(1): 0 delivered (or discarded, or rejected
 * with a notice sent to the sender); 67 EX_NOUSER no such user; 75
 * EX_TEMPFAIL try again later; with -e a rejection (Sieve reject, or a
 * full mailbox) is written to standard error and the status is 77
 * EX_NOPERM, so the MTA bounces the message itself; 64 EX_USAGE.
 */
#include "cmd/commands.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-conf/config.h"
#include "lib-mail/dsn.h"
#include "lmtpd/lda.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define LDA_MSG_MAX (1LL << 30)        /* without message_size_limit */

struct lda_opts {
    const char *user, *sender, *address, *folder, *file;
    int stderr_reject;
};

static int usage(void)
{
    fprintf(stderr, "usage: yubin deliver [-c DIR] -d USER [-f SENDER] [-a ADDRESS] "
                    "[-m FOLDER] [-e] [-p FILE]\n");
    return EX_USAGE;
}

static int parse(int argc, char **argv, struct lda_opts *o, const char **confdir)
{
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:d:f:a:m:ep:kr:")) != -1) {
        switch (opt) {
        case 'c': *confdir = optarg; break;
        case 'd': o->user = optarg; break;
        case 'f': o->sender = optarg; break;
        case 'a': o->address = optarg; break;
        case 'm': o->folder = optarg; break;
        case 'e': o->stderr_reject = 1; break;
        case 'p': o->file = optarg; break;
        case 'k': case 'r': break;     /* dovecot-lda options without effect here */
        default: return -1;
        }
    }
    return optind == argc && o->user && *o->user ? 0 : -1;
}

/* The message, LF line ends, without a leading mbox "From " line. NULL on error. */
static char *read_message(const char *file, long long max, size_t *len)
{
    int fd = file ? open(file, O_RDONLY | O_CLOEXEC) : 0;
    if (fd < 0)
        return NULL;
    struct buf b;
    buf_init(&b, (size_t)max + 1);
    char chunk[65536];
    ssize_t n;
    int bad = 0;
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || buf_append(&b, chunk, (size_t)n) < 0) {
            bad = 1;
            break;
        }
    }
    if (file)
        close(fd);
    if (bad) {
        buf_free(&b);
        return NULL;
    }
    size_t k = 0, start = 0;
    if (b.len >= 5 && memcmp(b.data, "From ", 5) == 0) {
        char *nl = memchr(b.data, '\n', b.len);
        start = nl ? (size_t)(nl - b.data) + 1 : b.len;
    }
    for (size_t i = start; i < b.len; i++)
        if (!(b.data[i] == '\r' && i + 1 < b.len && b.data[i + 1] == '\n'))
            b.data[k++] = b.data[i];
    if (b.data)
        b.data[k] = '\0';
    *len = k;
    return b.data ? b.data : xstrdup("");
}

/* The envelope sender: -f, else the message's Return-Path:, else <>. */
static char *sender_of(const char *given, const char *msg)
{
    if (given)
        return xstrdup(strcmp(given, "<>") == 0 ? "" : given);
    if (str_iprefix(msg, "Return-Path:")) {
        const char *lt = strchr(msg, '<'), *nl = strchr(msg, '\n');
        const char *gt = lt ? strchr(lt, '>') : NULL;
        if (lt && gt && (!nl || gt < nl))
            return xstrndup(lt + 1, (size_t)(gt - lt - 1));
    }
    return xstrdup("");
}

/* Started as root: become the user for good. 0, or -1. */
static int drop_root(const struct lmtpd_user *u)
{
    if (getuid() != 0 && geteuid() != 0)
        return 0;
    if (!u->have_ids || u->uid == 0) {
        fprintf(stderr, "yubin deliver: refusing to deliver as root (no uid for %s)\n", u->name);
        return -1;
    }
    gid_t g = u->gid;
    if (setgroups(1, &g) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
        setresuid(u->uid, u->uid, u->uid) < 0) {
        fprintf(stderr, "yubin deliver: cannot switch to uid %ld: %s\n", (long)u->uid,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* A rejection notice to the sender: 0 sent (or not due: the null sender), -1 failed. */
static int send_rejection(struct lmtpd_lda *l, const struct lmtpd_msg *m, const char *reason)
{
    if (!m->sender[0])
        return 0;                      /* never to the null sender: the message is dropped */
    char date[64];
    dsn_format_date(time(NULL), date, sizeof(date));
    size_t hlen = m->len;
    const char *end = NULL;
    for (const char *p = m->data; (p = strstr(p, "\n\n")); p++) {
        end = p + 1;
        break;
    }
    if (end)
        hlen = (size_t)(end - m->data);
    char *text = xasprintf("From: Mail Delivery Subsystem <%s>\nTo: <%s>\n"
                           "Subject: Rejected: message to <%s>\nDate: %s\n"
                           "Auto-Submitted: auto-replied (rejected)\nPrecedence: bulk\n"
                           "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
                           "Your message to <%s> was automatically rejected:\n%s\n\n"
                           "--- the headers of your message ---\n%.*s",
                           l->postmaster, m->sender, m->rcpt, date, m->rcpt, reason,
                           (int)(hlen > 65536 ? 65536 : hlen), m->data);
    int rc = lmtpd_submit(l, "", m->sender, text, strlen(text), m->log_id);
    free(text);
    return rc;
}

/*
 * The exit status. A refusal (ereject, a full mailbox) with -e is status 77
 * with the reason on stderr; otherwise, and for reject always, a notice goes
 * to the sender, and when it cannot be sent the message is kept in INBOX
 * (dovecot-lda and Pigeonhole do the same).
 */
static int outcome_status(struct lmtpd_lda *l, const struct lmtpd_user *u,
                          const struct lmtpd_msg *m, const struct lda_opts *o,
                          struct lmtpd_result *r)
{
    switch (r->outcome) {
    case LMTPD_DELIVERED:
        msg_info("%s: to=<%s>, relay=deliver, status=sent (%s)", m->log_id, m->rcpt, r->text);
        return 0;
    case LMTPD_TEMPFAIL:
        msg_warn("%s: to=<%s>, relay=deliver, status=deferred (%s)", m->log_id, m->rcpt, r->text);
        fprintf(stderr, "%s\n", r->text);
        return EX_TEMPFAIL;
    case LMTPD_FAILED:
        if (strcmp(r->dsn, "5.2.2") != 0) {
            fprintf(stderr, "%s\n", r->text);
            return EX_TEMPFAIL;
        }
        /* a full mailbox is rejected as dovecot-lda does */
        __attribute__((fallthrough));
    case LMTPD_REJECTED:
    default:
        msg_info("%s: to=<%s>, relay=deliver, status=rejected (%s)", m->log_id, m->rcpt,
                 r->text);
        if (o->stderr_reject && (r->outcome != LMTPD_REJECTED || r->ereject)) {
            fprintf(stderr, "%s\n", r->text);
            return EX_NOPERM;
        }
        if (send_rejection(l, m, r->text) == 0)
            return 0;
        msg_warn("%s: rejection notice not sent: keeping the message in INBOX", m->log_id);
        lmtpd_keep(l, u, m, r);
        return r->outcome == LMTPD_DELIVERED ? 0 : EX_TEMPFAIL;
    }
}

static int run(struct config *cfg, const struct lda_opts *o)
{
    struct lmtpd_lda l;
    lmtpd_lda_init(&l, cfg, "deliver");
    l.lda = 1;
    struct lmtpd_user u;
    char why[512];
    int rc = EX_TEMPFAIL;
    char *data = NULL, *sender = NULL;
    int found = lmtpd_user_lookup(&l, o->user, &u, why, sizeof(why));
    if (found <= 0) {
        if (found == 0)
            fprintf(stderr, "yubin deliver: user %s: no such user\n", o->user);
        else
            fprintf(stderr, "yubin deliver: user %s: %s\n", o->user, why);
        msg_warn("user %s: %s", o->user, found == 0 ? "no such user" : why);
        rc = found == 0 ? EX_NOUSER : EX_TEMPFAIL;
        goto out;
    }
    if (drop_root(&u) < 0)
        goto out;
    long long max = cfg_get_size(cfg, P_message_size_limit);
    size_t len = 0;
    data = read_message(o->file, max > 0 ? max : LDA_MSG_MAX, &len);
    if (!data) {
        fprintf(stderr, "yubin deliver: cannot read the message: %s\n",
                errno ? strerror(errno) : "too large");
        goto out;
    }
    sender = sender_of(o->sender, data);
    char log_id[32];
    snprintf(log_id, sizeof(log_id), "deliver(%ld)", (long)getpid());
    const char *rcpt = o->address ? o->address : o->user;
    struct lmtpd_msg m = {.data = data, .len = len, .sender = sender, .rcpt = rcpt,
                          .orig_rcpt = o->address, .arrival = time(NULL), .log_id = log_id,
                          .lda = 1};
    struct lmtpd_result r;
    if (!lmtpd_quota_exceeded(&u, (long long)len, &r))
        lmtpd_deliver(&l, &u, &m, o->folder, &r);
    rc = outcome_status(&l, &u, &m, o, &r);
out:
    free(data);
    free(sender);
    lmtpd_lda_free(&l);
    return rc;
}

int cmd_deliver(const char *confdir, int argc, char **argv)
{
    struct lda_opts o;
    memset(&o, 0, sizeof(o));
    if (parse(argc, argv, &o, &confdir) < 0)
        return usage();
    struct cfg_diags diags = {0};
    struct config *cfg = config_load(confdir, &diags);
    cfg_diags_free(&diags);
    if (!cfg) {
        fprintf(stderr, "yubin deliver: cannot read the configuration in %s\n", confdir);
        return EX_TEMPFAIL;
    }
    log_init(cfg_get(cfg, P_syslog_name), "deliver");
    const char *maillog = cfg_get(cfg, P_maillog_file);
    log_set_dest(0, maillog);
    int rc = run(cfg, &o);
    config_free(cfg);
    return rc;
}
