/*
 * sendmail.c - `yubin sendmail` (also installed as `sendmail`): the
 * Sendmail-compatible way for local programs to submit mail.
 *
 * Owns: Sendmail's command line (-t -f -F -i -oi -bs -bm -bp -bi -q -N
 * -R -V -B -r and ignored -o options), reading the message from stdin
 * (a line "." ends it unless -i), -t recipients from To:/Cc:/Bcc: (Bcc:
 * removed), qualifying bare names with @$myorigin, and the hand-off: SMTP
 * over the local socket $queue_directory/public/pickup, where the pickup
 * service learns the submitting user from the socket itself
 * (SO_PEERCRED). Nothing goes through port 25.
 *
 * Exit status follows sysexits(3): 0 queued, 75 (EX_TEMPFAIL) when the
 * mail system is not running or answers 4xx, 65/67 for bad input, 77 when
 * authorized_submit_users does not list the user.
 */
#include "cmd/commands.h"
#include "lib-mail/addr.h"
#include "lib-mail/addrlist.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib-mail/header.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib-queue/maildrop.h"
#include "lib-queue/submit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>


struct sm_opts {
    const char *sender;
    const char *fullname;
    int extract;             /* -t */
    int dot_ends;            /* no -i */
    int smtp_stdio;          /* -bs */
    struct submission s;     /* recipients, -N -R -V -B */
};

/* ---- the message -------------------------------------------------------- */

/* Read stdin as lines with LF endings; "." alone ends it when dot_ends. */
static int read_message(struct buf *msg, int dot_ends)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        if (dot_ends && len == 1 && line[0] == '.')
            break;
        if (buf_append(msg, line, len) < 0 || buf_putc(msg, '\n') < 0) {
            free(line);
            return -1;
        }
    }
    free(line);
    return 0;
}

/* Qualify "user" as "user@$myorigin"; "" and "<>" stay the null sender. */
static char *qualify(const char *a, const char *myorigin)
{
    if (!*a || strcmp(a, "<>") == 0)
        return xstrdup("");
    if (strchr(a, '@') || !myorigin || !*myorigin)
        return xstrdup(a);
    return xasprintf("%s@%s", a, myorigin);
}

/*
 * -t: collect To/Cc/Bcc (or Resent-To/Cc/Bcc when Resent- headers exist)
 * from the primary header block and drop Bcc headers from the message.
 */
static int extract_recipients(struct buf *msg, struct sm_opts *o, const char *myorigin)
{
    struct hdr_reader r;
    struct hdr_field f;
    int resent = 0;
    hdr_reader_init(&r, msg->data ? msg->data : "", msg->len, 0, 0);
    while (hdr_next(&r, &f))
        resent |= f.name_len > 7 && strncasecmp(f.start, "Resent-", 7) == 0;
    const char *names[3] = {resent ? "Resent-To" : "To", resent ? "Resent-Cc" : "Cc",
                            resent ? "Resent-Bcc" : "Bcc"};
    struct buf out;
    buf_init(&out, 0);
    hdr_reader_init(&r, msg->data ? msg->data : "", msg->len, 0, 0);
    while (hdr_next(&r, &f)) {
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (hdr_name_is(&f, names[k]))
                which = k;
        if (which >= 0) {
            char *value = xstrndup(f.value, f.value_len);
            char **addrs = NULL;
            int cnt = addr_parse_header_list(value, SUBMIT_RCPT_MAX, &addrs);
            free(value);
            if (cnt < 0) {
                fprintf(stderr, "sendmail: fatal: malformed %s: header\n", names[which]);
                buf_free(&out);
                return -1;
            }
            for (char **a = addrs; a && *a; a++) {
                char *q = qualify(*a, myorigin);
                submission_add_rcpt(&o->s, q);
                free(q);
            }
            strv_free(addrs);
        }
        if (which != 2)
            buf_append(&out, f.start, f.len);
    }
    size_t body = (size_t)(r.p - r.base);        /* the empty line, if any, and the body */
    if (r.status == HDR_END_BLANK) {
        body--;
        if (body > 0 && msg->data[body - 1] == '\r')
            body--;
    }
    buf_append(&out, msg->data + body, msg->len - body);
    buf_free(msg);
    *msg = out;
    return 0;
}

/* -bs: the caller speaks SMTP itself; relay both directions until either side closes. */
static int relay_stdio(struct submit_conn *c)
{
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = c->fd, .events = POLLIN}};
    char b[16384];
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return EX_SOFTWARE;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(c->fd, b, sizeof(b));
            if (r <= 0)
                return 0;
            if (write_all(STDOUT_FILENO, b, (size_t)r) < 0)
                return EX_SOFTWARE;
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(STDIN_FILENO, b, sizeof(b));
            if (r <= 0) {
                shutdown(c->fd, SHUT_WR);
                p[0].fd = -1;
            } else if (write_all(c->fd, b, (size_t)r) < 0) {
                return EX_TEMPFAIL;
            }
        }
    }
}

/* ---- options ---------------------------------------------------------------- */

/* Value of "-xVALUE" or "-x VALUE". */
static const char *optarg_of(int argc, char **argv, int *i, const char *opt)
{
    if (argv[*i][strlen(opt)])
        return argv[*i] + strlen(opt);
    if (*i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_args(int argc, char **argv, struct sm_opts *o, const char **confdir, int *mode)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-t") == 0)
            o->extract = 1;
        else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
            o->dot_ends = 0;
        else if (strcmp(a, "-bs") == 0)
            *mode = 's';
        else if (strcmp(a, "-bp") == 0)
            *mode = 'p';
        else if (strcmp(a, "-bi") == 0 || strcmp(a, "-I") == 0)
            *mode = 'i';
        else if (strcmp(a, "-bm") == 0 || strcmp(a, "-v") == 0 || strcmp(a, "-n") == 0)
            continue;
        else if (strncmp(a, "-q", 2) == 0)
            *mode = 'q';
        else if (strncmp(a, "-f", 2) == 0 || strncmp(a, "-r", 2) == 0)
            o->sender = optarg_of(argc, argv, &i, a[1] == 'f' ? "-f" : "-r");
        else if (strncmp(a, "-F", 2) == 0)
            o->fullname = optarg_of(argc, argv, &i, "-F");
        else if (strncmp(a, "-N", 2) == 0)
            o->s.notify = optarg_of(argc, argv, &i, "-N");
        else if (strncmp(a, "-R", 2) == 0)
            o->s.ret = optarg_of(argc, argv, &i, "-R");
        else if (strncmp(a, "-V", 2) == 0)
            o->s.envid = optarg_of(argc, argv, &i, "-V");
        else if (strncmp(a, "-B", 2) == 0)
            o->s.body = optarg_of(argc, argv, &i, "-B");
        else if (strncmp(a, "-C", 2) == 0) {
            const char *d = optarg_of(argc, argv, &i, "-C");
            *confdir = d ? d : "";
        }
        else if (strncmp(a, "-o", 2) == 0 || strncmp(a, "-L", 2) == 0 ||
                 strncmp(a, "-O", 2) == 0 || strncmp(a, "-X", 2) == 0) {
            /* Sendmail options yubin has no use for; -oXvalue forms take no separate argument. */
            if ((a[1] == 'L' || a[1] == 'O' || a[1] == 'X') && !a[2])
                i++;
            continue;
        } else {
            fprintf(stderr, "sendmail: fatal: unknown option %s\n", a);
            return -1;
        }
        if (!*confdir || ((a[1] == 'f' || a[1] == 'r') && !o->sender)) {
            fprintf(stderr, "sendmail: fatal: option %s needs a value\n", a);
            return -1;
        }
    }
    return i;
}

int cmd_sendmail(const char *confdir, int argc, char **argv)
{
    struct sm_opts o;
    memset(&o, 0, sizeof(o));
    o.dot_ends = 1;
    int mode = 'm';
    int first = parse_args(argc, argv, &o, &confdir, &mode);
    if (first < 0)
        return EX_USAGE;
    if (mode == 'p') {
        char *qargv[] = {"queue", "list", NULL};
        return cmd_queue(confdir, 2, qargv);
    }
    if (mode == 'i')
        return cmd_newaliases(confdir, 1, argv);
    if (mode == 'q') {
        char *qargv[] = {"queue", "flush", NULL};
        return cmd_queue(confdir, 2, qargv);
    }
    struct cfg_diags diags = {0};
    struct config *cfg = config_load(confdir, &diags);
    cfg_diags_free(&diags);
    if (!cfg) {
        fprintf(stderr, "sendmail: fatal: cannot read the configuration in %s\n", confdir);
        return EX_TEMPFAIL;
    }
    const char *myorigin = cfg_get(cfg, P_myorigin);
    char *sock = xasprintf("%s/public/pickup", cfg_get(cfg, P_queue_directory));
    struct submit_conn c;
    int down = 0;
    if (submit_open(&c, sock) < 0) {
        /* Not running: the message waits in maildrop/ (not for -bs, which needs a server). */
        down = errno == ENOENT || errno == ECONNREFUSED;
        if (!down || mode == 's') {
            fprintf(stderr, "sendmail: fatal: cannot connect to %s: %s (is the mail system running?)\n",
                    sock, strerror(errno));
            free(sock);
            config_free(cfg);
            return EX_TEMPFAIL;
        }
        c.fd = -1;
        c.conn = NULL;
    }
    free(sock);
    int rc;
    if (mode == 's') {
        rc = relay_stdio(&c);
    } else {
        for (int i = first; i < argc; i++) {
            char *q = qualify(argv[i], myorigin);
            submission_add_rcpt(&o.s, q);
            free(q);
        }
        struct passwd *pw = getpwuid(getuid());
        char *sender = qualify(o.sender ? o.sender : pw ? pw->pw_name : "nobody", myorigin);
        struct buf msg;
        const char *bad;
        long long limit = cfg_get_size(cfg, P_message_size_limit);   /* 0: no limit */
        buf_init(&msg, limit > 0 ? (size_t)limit + 1 : 0);
        rc = 0;
        if (read_message(&msg, o.dot_ends) < 0) {
            fprintf(stderr, "sendmail: fatal: message too large\n");
            rc = EX_DATAERR;
        } else if (o.extract && extract_recipients(&msg, &o, myorigin) < 0) {
            rc = EX_DATAERR;
        } else if (o.s.nrcpts == 0) {
            fprintf(stderr, "sendmail: fatal: no recipients specified\n");
            rc = EX_USAGE;
        } else if ((bad = submission_unsafe_value(sender, &o.s)) != NULL) {
            fprintf(stderr, "sendmail: fatal: control character in %s\n", bad);
            rc = EX_DATAERR;
        } else if (down) {
            char *qd = cfg_path(cfg, P_queue_directory);
            if (maildrop_write(qd, sender, &o.s, &msg) < 0) {
                fprintf(stderr, "sendmail: fatal: the mail system is down and %s/maildrop is "
                        "not writable: %s\n", qd, strerror(errno));
                rc = EX_TEMPFAIL;
            }
            free(qd);
        } else {
            rc = submit_message(&c, sender, &o.s, &msg, -1);
        }
        buf_free(&msg);
        free(sender);
    }
    submit_close(&c);
    for (size_t i = 0; i < o.s.nrcpts; i++)
        free(o.s.rcpts[i]);
    free(o.s.rcpts);
    config_free(cfg);
    return rc;
}
