/*
 * queue.c - `yubin queue` and the `mailq` personality: list the queue in
 * Postfix's mailq format, show one message like postcat -q, and delete,
 * hold, release, requeue or flush messages.
 *
 * list and show read the queue files directly (they work while the mail
 * system is down). Users who cannot read the queue directory get the list
 * from qmgr ("C list", allowed by authorized_mailq_users) as Postfix's
 * postqueue gets it from showq; show stays with root and mail_owner.
 * The other commands ask the running qmgr over its socket with the
 * control protocol of queue.h (ordinary users: flush only, per
 * authorized_flush_users); when qmgr is not running,
 * delete/hold/release/requeue act on the queue files directly (as
 * postsuper does) and flush reports that the mail system is down.
 */
#include "cmd/commands.h"
#include "lib-mail/addr.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib-queue/queue.h"
#include "lib-queue/queue_list.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_TIMEOUT_MS 60000

/* Load the messages (only: a queue ID, or "ALL"), saying why not. */
static int load_entries(const char *queue_dir, const char *only, int flags,
                        struct queue_entries *es)
{
    if (queue_entries_load(queue_dir, only, flags, es) < 0) {
        fprintf(stderr, "yubin queue: cannot read the queue directory %s: %s\n", queue_dir,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int ctl_connect(const char *queue_dir, const struct config *cfg);

/*
 * An ordinary user cannot read the queue (it belongs to mail_owner): qmgr
 * lists it for them, as Postfix's showq does for postqueue -p.
 */
static int list_via_qmgr(const char *queue_dir, const struct config *cfg)
{
    int fd = ctl_connect(queue_dir, cfg);
    if (fd < 0) {
        /* EACCES: qmgr listens only in private/ (or nowhere): the same to a user. */
        if (errno == ENOENT || errno == ECONNREFUSED || errno == EACCES)
            fprintf(stderr, "mailq: fatal: Queue report unavailable - mail system is down\n");
        else
            fprintf(stderr, "mailq: fatal: connect to qmgr in %s: %s\n", queue_dir,
                    strerror(errno));
        return 1;
    }
    static const char req[] = "C list\n";
    struct conn *c = conn_new(fd, 8192 + 2, 0);
    conn_set_idle(c, CTL_TIMEOUT_MS);
    if (conn_write_wait(c, req, sizeof(req) - 1) < 0) {
        fprintf(stderr, "mailq: fatal: write to qmgr: %s\n", strerror(errno));
        conn_free(c);
        return 1;
    }
    int rc = 0, any = 0;
    for (;;) {
        char *data;
        size_t n = conn_peek(c, &data);
        if (n > 0) {
            any = 1;
            if (fwrite(data, 1, n, stdout) != n) {
                rc = 1;
                break;
            }
            conn_consume(c, n);
        }
        int f = conn_fill_wait(c);
        if (f == 1)
            continue;
        if (f != CONN_EOF || !any) {
            fprintf(stderr, "mailq: fatal: %s\n", any ? "the queue report was cut short" :
                    "not authorized to view the queue (authorized_mailq_users)");
            rc = 1;
        }
        break;
    }
    conn_free(c);
    return rc;
}

static int cmd_list(const char *queue_dir, const struct config *cfg)
{
    char sub[600];
    if (geteuid() != 0 && str_fmt(sub, sizeof(sub), "%s/journal", queue_dir) >= 0 &&
        access(sub, R_OK | X_OK) < 0 && errno == EACCES)
        return list_via_qmgr(queue_dir, cfg);
    return queue_print_list(stdout, queue_dir) < 0 ? 1 : 0;
}

/* ---- show (postcat -q) ---- */

static void notify_text(int n, char *out, size_t len)
{
    out[0] = '\0';
    if (n == 0) {
        str_copy(out, "(default)", len);
        return;
    }
    static const struct {
        int bit;
        const char *name;
    } names[] = {{DSN_NOTIFY_NEVER, "NEVER"}, {DSN_NOTIFY_SUCCESS, "SUCCESS"},
                 {DSN_NOTIFY_FAILURE, "FAILURE"}, {DSN_NOTIFY_DELAY, "DELAY"}};
    size_t used = 0;
    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        if (!(n & names[i].bit))
            continue;
        int w = snprintf(out + used, len - used, "%s%s", used ? "," : "", names[i].name);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

static int copy_content(const struct qref *ref)
{
    int fd;
    off_t off;
    size_t len;
    if (queue_open_content(ref, NULL, &fd, &off, &len) < 0)
        return -1;
    char buf[65536];
    fflush(stdout);
    while (len > 0) {
        size_t n = len < sizeof(buf) ? len : sizeof(buf);
        ssize_t r = pread(fd, buf, n, off);
        if (r <= 0) {
            close(fd);
            errno = r < 0 ? errno : EIO;
            return -1;
        }
        if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
            close(fd);
            return -1;
        }
        off += r;
        len -= (size_t)r;
    }
    close(fd);
    return 0;
}

static void show_entry(const struct queue_entry *e)
{
    const struct qenvelope *v = &e->env;
    char when[64];
    printf("*** ENVELOPE RECORDS %s offset %lld ***\n", e->ref.path, (long long)e->ref.offset);
    printf("queue_id: %s\n", v->qid);
    printf("queue_name: %s\n", e->where);
    printf("message_size: %zu\n", e->size);
    queue_format_time(v->arrival_usec, when, sizeof(when));
    time_t t = (time_t)(v->arrival_usec / 1000000u);
    struct tm tm;
    char year[8] = "";
    if (localtime_r(&t, &tm))
        strftime(year, sizeof(year), " %Y", &tm);
    printf("message_arrival_time: %s%s\n", when, year);
    if (v->defer_count || v->next_try_usec) {
        printf("defer_count: %d\n", v->defer_count);
        queue_format_time(v->next_try_usec, when, sizeof(when));
        printf("next_attempt_time: %s\n", v->next_try_usec ? when : "now");
    }
    if (v->envid)
        printf("named_attribute: envelope_id=%s\n", v->envid);
    if (v->ret_full >= 0)
        printf("named_attribute: ret_flags=%s\n", v->ret_full ? "FULL" : "HDRS");
    if (v->smtputf8)
        printf("named_attribute: smtputf8=yes\n");
    if (v->eightbit)
        printf("named_attribute: body_type=8BITMIME\n");
    for (size_t i = 0; i < v->nattrs; i++)
        printf("named_attribute: %s\n", v->attrs[i]);
    printf("sender: %s\n", v->sender);
    for (size_t i = 0; i < v->nrcpts; i++) {
        const struct qrcpt *r = &v->rcpts[i];
        char notify[64];
        notify_text(r->notify, notify, sizeof(notify));
        if (r->orcpt)
            printf("original_recipient: %s\n", r->orcpt);
        printf("named_attribute: notify_flags=%s\n", notify);
        if (r->flags)
            printf("named_attribute: recipient_flags=%#x\n", r->flags);
        printf("%s: %s\n", r->done ? "done_recipient" : "recipient", r->addr);
        if (r->status || r->reason)
            printf("delay_reason: %s%s%s\n", r->status ? r->status : "",
                   r->status && r->reason ? " " : "", r->reason ? r->reason : "");
    }
    printf("*** MESSAGE CONTENTS %s ***\n", e->ref.path);
    if (copy_content(&e->ref) < 0)
        fprintf(stderr, "yubin queue: %s: cannot read the message content: %s\n", v->qid,
                strerror(errno));
    fflush(stdout);
    printf("*** MESSAGE FILE END %s ***\n", e->ref.path);
}

static int cmd_show(const char *queue_dir, int argc, char **argv)
{
    int rc = 0;
    for (int i = 0; i < argc; i++) {
        struct queue_entries es;
        if (!queue_id_valid(argv[i]) || strcmp(argv[i], "ALL") == 0) {
            fprintf(stderr, "yubin queue: invalid queue ID \"%s\"\n", argv[i]);
            rc = 1;
            continue;
        }
        if (load_entries(queue_dir, argv[i], 0, &es) < 0)
            return 1;
        if (es.n == 0) {
            fprintf(stderr, "yubin queue: %s: no such message\n", argv[i]);
            rc = 1;
        }
        for (size_t k = 0; k < es.n; k++)
            show_entry(&es.v[k]);
        queue_entries_free(&es);
    }
    return rc;
}

/* ---- the control protocol ---- */

/* Connect to qmgr's socket; -1 with errno when qmgr is not there. */
static int ctl_connect(const char *queue_dir, const struct config *cfg)
{
    const char *dirs[3] = {"private", "public", NULL};
    /* master.cf says where qmgr listens (private column n: public/); try that first. */
    for (size_t i = 0; cfg && i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        if (s->type == SVC_UNIX && s->command && strcmp(s->command, "qmgr") == 0) {
            if (!s->private_) {
                dirs[0] = "public";
                dirs[1] = "private";
            }
            break;
        }
    }
    int err = ENOENT;
    for (int i = 0; dirs[i]; i++) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        if (str_fmt(sa.sun_path, sizeof(sa.sun_path), "%s/%s/qmgr", queue_dir, dirs[i]) < 0)
            continue;
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        /* Keep the most telling error: ECONNREFUSED beats ENOENT. */
        if (err == ENOENT || errno != ENOENT)
            err = errno;
        close(fd);
    }
    errno = err;
    return -1;
}

static int ctl_request(struct conn *c, const char *verb, const char *arg)
{
    char req[QUEUE_CTL_LINE_MAX], *reply;
    size_t len;
    enum conn_line_result lr = CONN_ERROR;
    conn_deadline_in(c, CTL_TIMEOUT_MS);
    if (str_fmt(req, sizeof(req), "C %s %s\n", verb, arg) < 0)
        errno = EMSGSIZE;
    else if (conn_write_wait(c, req, strlen(req)) == 0)
        lr = conn_line_wait(c, &reply, &len);
    if (lr != CONN_LINE) {
        if (lr == CONN_LONG)
            errno = EMSGSIZE;
        else if (lr == CONN_TIMEOUT)
            errno = ETIMEDOUT;
        else if (lr == CONN_EOF)
            errno = ECONNRESET;
        fprintf(stderr, "yubin queue: qmgr: %s\n", strerror(errno));
        return -1;
    }
    if (strncmp(reply, "OK", 2) == 0 && (reply[2] == ' ' || reply[2] == '\0')) {
        if (reply[2])
            printf("%s\n", reply + 3);
        return 0;
    }
    fprintf(stderr, "yubin queue: %s\n",
            strncmp(reply, "ERR ", 4) == 0 ? reply + 4 : reply);
    return 1;
}

/* ---- acting on the files while qmgr is down ---- */

static int offline_one(const char *queue_dir, const char *verb, struct queue_entry *e)
{
    char dir[512];
    const char *qid = e->env.qid;
    struct qref nref;
    if (strcmp(verb, "delete") == 0) {
        if (queue_mark_done(queue_dir, &e->ref, qid, -1) < 0)
            return -1;
        printf("%s: removed\n", qid);
        return 1;
    }
    if (strcmp(verb, "hold") == 0) {
        if (strcmp(e->where, "hold") == 0)
            return 0;
        str_fmt(dir, sizeof(dir), "%s/hold", queue_dir);
        if (strcmp(e->where, "journal") == 0) {
            if (queue_copy_to_file(dir, &e->env, &e->ref, &nref) < 0 ||
                queue_mark_done(queue_dir, &e->ref, qid, -1) < 0)
                return -1;
        } else if (queue_move_file(&e->ref, dir, NULL, &nref) < 0) {
            return -1;
        }
        printf("%s: placed on hold\n", qid);
        return 1;
    }
    if (strcmp(verb, "release") == 0 || strcmp(verb, "requeue") == 0) {
        int release = verb[2] == 'l';
        if (strcmp(e->where, release ? "hold" : "deferred") != 0)
            return 0;
        e->env.next_try_usec = 0;
        str_fmt(dir, sizeof(dir), "%s/deferred", queue_dir);
        int r = release ? queue_move_file(&e->ref, dir, &e->env, &nref)
                        : queue_update_file(&e->ref, &e->env, &nref);
        if (r < 0)
            return -1;
        printf("%s: %s\n", qid, release ? "released from hold" : "requeued");
        return 1;
    }
    errno = EINVAL;
    return -1;
}

static int offline(const char *queue_dir, const char *verb, int argc, char **argv)
{
    int rc = 0;
    size_t changed = 0;
    for (int i = 0; i < argc; i++) {
        struct queue_entries es;
        /* FIX: journal records superseded by a deferred/hold file are marked done
           first, so removing the file cannot bring them back. */
        if (load_entries(queue_dir, argv[i], QUEUE_SCAN_FIX, &es) < 0 ||
            queue_done_sync(queue_dir) < 0)
            return 1;
        if (es.n == 0 && strcmp(argv[i], "ALL") != 0) {
            fprintf(stderr, "yubin queue: %s: no such message\n", argv[i]);
            rc = 1;
        }
        for (size_t k = 0; k < es.n; k++) {
            int r = offline_one(queue_dir, verb, &es.v[k]);
            if (r < 0) {
                fprintf(stderr, "yubin queue: %s: %s: %s\n", es.v[k].env.qid, verb,
                        strerror(errno));
                rc = 1;
            } else {
                changed += (size_t)r;
            }
        }
        queue_entries_free(&es);
    }
    if (queue_done_sync(queue_dir) < 0)
        rc = 1;
    queue_done_reset();
    fprintf(stderr, "yubin queue: qmgr is not running: %s %zu message%s in the queue files\n",
            strcmp(verb, "delete") == 0 ? "deleted" : strcmp(verb, "hold") == 0 ? "held"
            : strcmp(verb, "release") == 0 ? "released" : "requeued",
            changed, changed == 1 ? "" : "s");
    return rc;
}

/* ---- dispatch ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: yubin queue list                   list the queue (mailq)\n"
            "       yubin queue show QID...            print a queued message\n"
            "       yubin queue delete QID...|ALL      remove messages\n"
            "       yubin queue hold QID...|ALL        put messages on hold\n"
            "       yubin queue release QID...|ALL     release held messages\n"
            "       yubin queue requeue QID...|ALL     retry deferred messages now\n"
            "       yubin queue flush [DOMAIN]         retry all deferred mail now (or only\n"
            "                                          the mail for DOMAIN, like ETRN)\n");
}

/*
 * Root works on the queue as the owner of its subdirectories (mail_owner;
 * the master creates them), as postsuper does: files written while qmgr is down must stay
 * readable by the mail system. Only the effective ids change, and
 * cmd_queue() changes them back when it is done.
 */
static int become_queue_owner(const char *queue_dir)
{
    struct stat sb;
    char sub[600];
    if (geteuid() != 0 || str_fmt(sub, sizeof(sub), "%s/deferred", queue_dir) < 0 ||
        stat(sub, &sb) < 0 || sb.st_uid == 0)
        return 0;
    if (setegid(sb.st_gid) < 0 || seteuid(sb.st_uid) < 0) {
        fprintf(stderr, "yubin queue: cannot switch to the queue owner (uid %ld): %s\n",
                (long)sb.st_uid, strerror(errno));
        return -1;
    }
    return 1;
}

static void back_to_root(void)
{
    if (seteuid(0) < 0 || setegid(0) < 0)
        fprintf(stderr, "yubin queue: cannot switch back to root: %s\n", strerror(errno));
}

static char *queue_dir_of(const char *confdir, struct config **cfgp)
{
    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    for (size_t i = 0; i < d.n; i++) {
        if (d.v[i].is_error) {
            char line[1024];
            cfg_diag_format(&d.v[i], line, sizeof(line));
            fprintf(stderr, "%s\n", line);
        }
    }
    cfg_diags_free(&d);
    if (!cfg)
        return NULL;
    char *q = cfg_path(cfg, P_queue_directory);
    if (!q) {
        fprintf(stderr, "yubin queue: queue_directory is not set\n");
        config_free(cfg);
        return NULL;
    }
    *cfgp = cfg;
    return q;
}

int cmd_queue(const char *confdir, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    static const char *const verbs[] = {"list", "show", "delete", "hold", "release",
                                        "requeue", "flush"};
    int known = 0;
    for (size_t i = 0; i < ARRAY_LEN(verbs); i++)
        known |= strcmp(verb, verbs[i]) == 0;
    if (!known) {
        fprintf(stderr, "yubin queue: unknown command \"%s\"\n", verb);
        usage(stderr);
        return 2;
    }
    int nargs = argc - 2;
    char **args = argv + 2;
    int wants_args = strcmp(verb, "list") != 0 && strcmp(verb, "flush") != 0;
    int is_flush = strcmp(verb, "flush") == 0;
    if (wants_args ? nargs < 1 : nargs > (is_flush ? 1 : 0)) {
        usage(stderr);
        return 2;
    }
    if (is_flush && nargs == 1 && !hostname_valid(args[0])) {
        fprintf(stderr, "yubin queue: invalid domain \"%s\"\n", args[0]);
        return 2;
    }
    for (int i = 0; i < nargs && !is_flush; i++) {
        if (strcmp(args[i], "ALL") != 0 && !queue_id_valid(args[i])) {
            fprintf(stderr, "yubin queue: invalid queue ID \"%s\"\n", args[i]);
            return 2;
        }
    }
    struct config *cfg = NULL;
    char *queue_dir = queue_dir_of(confdir, &cfg);
    if (!queue_dir)
        return 1;
    int switched = become_queue_owner(queue_dir);
    if (switched < 0) {
        free(queue_dir);
        config_free(cfg);
        return 1;
    }
    int rc;
    if (strcmp(verb, "list") == 0) {
        rc = cmd_list(queue_dir, cfg);
    } else if (strcmp(verb, "show") == 0) {
        rc = cmd_show(queue_dir, nargs, args);
    } else {
        int fd = ctl_connect(queue_dir, cfg);
        if (fd >= 0) {
            struct conn *c = conn_new(fd, QUEUE_CTL_LINE_MAX + 2, 0);
            conn_set_lines(c, QUEUE_CTL_LINE_MAX - 1, 0);
            rc = 0;
            if (is_flush) {
                rc = ctl_request(c, verb, nargs ? args[0] : "ALL") != 0;
            } else {
                for (int i = 0; i < nargs; i++)
                    if (ctl_request(c, verb, args[i]) != 0)
                        rc = 1;
            }
            conn_free(c);
        } else if (errno == ENOENT || errno == ECONNREFUSED) {
            if (strcmp(verb, "flush") == 0) {
                fprintf(stderr, "yubin queue: cannot flush: the mail system is down\n");
                rc = 1;
            } else {
                rc = offline(queue_dir, verb, nargs, args);
            }
        } else {
            fprintf(stderr, "yubin queue: connect to qmgr in %s: %s\n", queue_dir,
                    strerror(errno));
            rc = 1;
        }
    }
    if (switched)
        back_to_root();
    free(queue_dir);
    config_free(cfg);
    return rc;
}
