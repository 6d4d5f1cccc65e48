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
#include "commands.h"
#include "addr.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define EX_USAGE    64
#define EX_DATAERR  65
#define EX_NOUSER   67
#define EX_SOFTWARE 70
#define EX_TEMPFAIL 75
#define EX_NOPERM   77

#define SENDMAIL_RCPT_MAX 10000

struct sm_opts {
    const char *sender;
    const char *fullname;
    int extract;             /* -t */
    int dot_ends;            /* no -i */
    int smtp_stdio;          /* -bs */
    const char *notify, *ret, *envid, *body;
    char **rcpts;
    size_t nrcpts, caprcpts;
};

static void add_rcpt(struct sm_opts *o, const char *a)
{
    if (o->nrcpts == o->caprcpts) {
        o->caprcpts = o->caprcpts ? o->caprcpts * 2 : 8;
        o->rcpts = xrealloc(o->rcpts, o->caprcpts * sizeof(*o->rcpts));
    }
    o->rcpts[o->nrcpts++] = xstrdup(a);
}

/* ---- the conversation with pickup --------------------------------------- */

struct conn {
    int fd;
    struct buf in;
};

static int conn_open(struct conn *c, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int saved = errno;
        close(c->fd);
        errno = saved;
        return -1;
    }
    buf_init(&c->in, 64 * 1024);
    return 0;
}

/* One reply; the last line's text goes to last. Returns the code, -1 on a broken connection. */
static int conn_reply(struct conn *c, char *last, size_t lastlen)
{
    for (;;) {
        char *nl = c->in.len ? memchr(c->in.data, '\n', c->in.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - c->in.data);
            int more = n > 3 && c->in.data[3] == '-';
            int code = n >= 3 ? atoi(c->in.data) : -1;
            if (last) {
                size_t tl = n > 4 ? n - 4 : 0;
                if (tl && c->in.data[n - 1] == '\r')
                    tl--;
                if (tl >= lastlen)
                    tl = lastlen - 1;
                memcpy(last, n > 4 ? c->in.data + 4 : "", tl);
                last[tl] = '\0';
            }
            buf_consume(&c->in, n + 1);
            if (!more)
                return code;
            continue;
        }
        if (buf_reserve(&c->in, 4096) < 0)
            return -1;
        ssize_t r = read(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len - 1);
        if (r <= 0)
            return -1;
        c->in.len += (size_t)r;
    }
}

static int conn_send(struct conn *c, const char *data, size_t len)
{
    return write_all(c->fd, data, len) < 0 ? -1 : 0;
}

static int command(struct conn *c, char *text, size_t textlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int command(struct conn *c, char *text, size_t textlen, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 8192);
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (r < 0 || buf_puts(&b, "\r\n") < 0 || conn_send(c, b.data, b.len) < 0) {
        buf_free(&b);
        return -1;
    }
    buf_free(&b);
    return conn_reply(c, text, textlen);
}

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

static int is_header(const char *line, size_t n, const char *name)
{
    size_t nl = strlen(name);
    return n > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':';
}

/*
 * -t: collect To/Cc/Bcc (or Resent-To/Cc/Bcc when Resent- headers exist)
 * from the primary header block and drop Bcc headers from the message.
 */
static int extract_recipients(struct buf *msg, struct sm_opts *o, const char *myorigin)
{
    int resent = 0;
    size_t pos = 0;
    for (pos = 0; pos < msg->len;) {
        char *nl = memchr(msg->data + pos, '\n', msg->len - pos);
        size_t n = nl ? (size_t)(nl - (msg->data + pos)) : msg->len - pos;
        if (n == 0)
            break;
        if (strncasecmp(msg->data + pos, "Resent-", 7) == 0)
            resent = 1;
        pos += n + 1;
    }
    const char *names[3] = {resent ? "Resent-To" : "To", resent ? "Resent-Cc" : "Cc",
                            resent ? "Resent-Bcc" : "Bcc"};
    struct buf out;
    buf_init(&out, 0);
    pos = 0;
    int in_body = 0;
    while (pos < msg->len) {
        char *nl = memchr(msg->data + pos, '\n', msg->len - pos);
        size_t n = nl ? (size_t)(nl - (msg->data + pos)) : msg->len - pos;
        const char *line = msg->data + pos;
        if (in_body || n == 0) {
            in_body = 1;
            buf_append(&out, line, msg->len - pos);
            break;
        }
        /* The logical header: this line and its continuation lines. */
        size_t end = pos + n + (nl ? 1 : 0);
        while (end < msg->len && (msg->data[end] == ' ' || msg->data[end] == '\t')) {
            char *nl2 = memchr(msg->data + end, '\n', msg->len - end);
            end = nl2 ? (size_t)(nl2 - msg->data) + 1 : msg->len;
        }
        int which = -1;
        for (int k = 0; k < 3; k++)
            if (is_header(line, n, names[k]))
                which = k;
        if (which >= 0) {
            size_t nlen = strlen(names[which]) + 1;
            char *value = xstrndup(line + nlen, end - pos - nlen);
            char **addrs = NULL;
            int cnt = addr_parse_header_list(value, SENDMAIL_RCPT_MAX, &addrs);
            free(value);
            if (cnt < 0) {
                fprintf(stderr, "sendmail: fatal: malformed %s: header\n", names[which]);
                buf_free(&out);
                return -1;
            }
            for (char **a = addrs; a && *a; a++) {
                char *q = qualify(*a, myorigin);
                add_rcpt(o, q);
                free(q);
            }
            strv_free(addrs);
        }
        if (which != 2)
            buf_append(&out, line, end - pos);
        pos = end;
    }
    buf_free(msg);
    *msg = out;
    return 0;
}

/* Dot-stuff and send the content with CRLF line endings. */
static int send_content(struct conn *c, const struct buf *msg)
{
    struct buf out;
    buf_init(&out, 0);
    size_t pos = 0;
    while (pos < msg->len) {
        char *nl = memchr(msg->data + pos, '\n', msg->len - pos);
        size_t n = nl ? (size_t)(nl - (msg->data + pos)) : msg->len - pos;
        if (n > 0 && msg->data[pos] == '.')
            buf_putc(&out, '.');
        buf_append(&out, msg->data + pos, n);
        buf_puts(&out, "\r\n");
        pos += n + 1;
        if (out.len > 65536) {
            if (conn_send(c, out.data, out.len) < 0) {
                buf_free(&out);
                return -1;
            }
            buf_reset(&out);
        }
    }
    buf_puts(&out, ".\r\n");
    int r = conn_send(c, out.data, out.len);
    buf_free(&out);
    return r;
}

static int has_8bit(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

static int submit(struct conn *c, const char *sender, struct sm_opts *o, const struct buf *msg)
{
    char text[1024];
    int code = conn_reply(c, text, sizeof(text));
    if (code == 554 && strstr(text, "authorized_submit_users")) {   /* pickup said no */
        struct passwd *pw = getpwuid(getuid());
        fprintf(stderr, "sendmail: fatal: User %s(%ld) is not allowed to submit mail\n",
                pw ? pw->pw_name : "?", (long)getuid());
        return EX_NOPERM;
    }
    if (code != 220)
        goto fail;
    code = command(c, text, sizeof(text), "EHLO localhost");
    if (code != 250)
        goto fail;
    int utf8 = has_8bit(sender);
    for (size_t i = 0; i < o->nrcpts; i++)
        utf8 |= has_8bit(o->rcpts[i]);
    char envid[256] = "";
    if (o->envid && xtext_encode(o->envid, envid, sizeof(envid)) < 0)
        envid[0] = '\0';
    code = command(c, text, sizeof(text), "MAIL FROM:<%s>%s%s%s%s%s%s%s", sender,
                   utf8 ? " SMTPUTF8" : "", o->ret ? " RET=" : "", o->ret ? o->ret : "",
                   envid[0] ? " ENVID=" : "", envid, o->body ? " BODY=" : "",
                   o->body ? o->body : "");
    if (code != 250)
        goto fail;
    for (size_t i = 0; i < o->nrcpts; i++) {
        code = command(c, text, sizeof(text), "RCPT TO:<%s>%s%s", o->rcpts[i],
                       o->notify ? " NOTIFY=" : "", o->notify ? o->notify : "");
        if (code != 250) {
            fprintf(stderr, "sendmail: %s: %d %s\n", o->rcpts[i], code, text);
            return code >= 500 ? EX_NOUSER : EX_TEMPFAIL;
        }
    }
    code = command(c, text, sizeof(text), "DATA");
    if (code != 354)
        goto fail;
    if (send_content(c, msg) < 0)
        goto broken;
    code = conn_reply(c, text, sizeof(text));
    if (code != 250)
        goto fail;
    command(c, NULL, 0, "QUIT");
    return 0;
fail:
    if (code < 0)
        goto broken;
    fprintf(stderr, "sendmail: fatal: %d %s\n", code, text);
    return code >= 500 ? EX_DATAERR : EX_TEMPFAIL;
broken:
    fprintf(stderr, "sendmail: fatal: lost connection with the pickup service\n");
    return EX_TEMPFAIL;
}

/* -bs: the caller speaks SMTP itself; relay both directions until either side closes. */
static int relay_stdio(struct conn *c)
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
            o->notify = optarg_of(argc, argv, &i, "-N");
        else if (strncmp(a, "-R", 2) == 0)
            o->ret = optarg_of(argc, argv, &i, "-R");
        else if (strncmp(a, "-V", 2) == 0)
            o->envid = optarg_of(argc, argv, &i, "-V");
        else if (strncmp(a, "-B", 2) == 0)
            o->body = optarg_of(argc, argv, &i, "-B");
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
    const char *myorigin = cfg_get(cfg, "myorigin");
    char *sock = xasprintf("%s/public/pickup", cfg_get(cfg, "queue_directory"));
    struct conn c;
    if (conn_open(&c, sock) < 0) {
        fprintf(stderr, "sendmail: fatal: cannot connect to %s: %s (is the mail system running?)\n",
                sock, strerror(errno));
        free(sock);
        config_free(cfg);
        return EX_TEMPFAIL;
    }
    free(sock);
    int rc;
    if (mode == 's') {
        rc = relay_stdio(&c);
    } else {
        for (int i = first; i < argc; i++) {
            char *q = qualify(argv[i], myorigin);
            add_rcpt(&o, q);
            free(q);
        }
        struct passwd *pw = getpwuid(getuid());
        char *sender = qualify(o.sender ? o.sender : pw ? pw->pw_name : "nobody", myorigin);
        struct buf msg;
        long long limit = cfg_get_size(cfg, "message_size_limit");   /* 0: no limit */
        buf_init(&msg, limit > 0 ? (size_t)limit + 1 : 0);
        rc = 0;
        if (read_message(&msg, o.dot_ends) < 0) {
            fprintf(stderr, "sendmail: fatal: message too large\n");
            rc = EX_DATAERR;
        } else if (o.extract && extract_recipients(&msg, &o, myorigin) < 0) {
            rc = EX_DATAERR;
        } else if (o.nrcpts == 0) {
            fprintf(stderr, "sendmail: fatal: no recipients specified\n");
            rc = EX_USAGE;
        } else {
            rc = submit(&c, sender, &o, &msg);
        }
        buf_free(&msg);
        free(sender);
    }
    close(c.fd);
    buf_free(&c.in);
    for (size_t i = 0; i < o.nrcpts; i++)
        free(o.rcpts[i]);
    free(o.rcpts);
    config_free(cfg);
    return rc;
}
