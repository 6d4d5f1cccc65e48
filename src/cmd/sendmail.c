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
#include "header.h"
#include "log.h"
#include "util.h"

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

/* A byte below 0x20 (CR, LF, TAB ...) or DEL. */
static int has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

/*
 * The values that go into the command lines of the dialogue with pickup:
 * the name of the first one with a control character (a CR or LF would
 * end the line and start a command of its own), or NULL when all are clean.
 */
static const char *unsafe_value(const char *sender, const struct sm_opts *o)
{
    if (has_control(sender))
        return "sender address";
    for (size_t i = 0; i < o->nrcpts; i++)
        if (has_control(o->rcpts[i]))
            return "recipient address";
    const char *opt[4] = {o->notify, o->ret, o->envid, o->body};
    const char *name[4] = {"-N value", "-R value", "-V value", "-B value"};
    for (int i = 0; i < 4; i++)
        if (opt[i] && has_control(opt[i]))
            return name[i];
    return NULL;
}

/* xuid >= 0: pickup's maildrop replay names the user who dropped the message. */
static int submit(struct conn *c, const char *sender, struct sm_opts *o, const struct buf *msg,
                  long xuid)
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
    if (xuid >= 0) {
        code = command(c, text, sizeof(text), "XUID %ld", xuid);
        if (code != 250)
            goto fail;
    }
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

/* ---- maildrop: submission while the mail system is down ------------------------ */

/*
 * When pickup cannot be reached, the message goes into
 * $queue_directory/maildrop (mode 1733 and owned by mail_owner: anyone may
 * create a file there, nobody else may list or remove it), as Postfix's
 * postdrop does, and pickup hands it to itself once it runs. The file
 * belongs to the submitting user, so its owner is who sent it. It is
 * written with mode 0200, fsync'd, and only then made 0644: pickup takes
 * nothing else. Format (one item per line, values xtext-encoded):
 *
 *   yubin-maildrop 1
 *   sender <address>           ("" for <>)
 *   rcpt <address>             (one per recipient)
 *   notify|ret|envid|body <value>   (optional)
 *   <empty line>
 *   <the message with LF line endings>
 *
 * Anyone can write such a file: a value that decodes to a control
 * character ("+0D+0A") makes it malformed, as it would otherwise put a
 * line of its own into the SMTP dialogue that replays it to pickup.
 */
#define MAILDROP_MAGIC "yubin-maildrop 1\n"
#define MAILDROP_HEAD_MAX (SENDMAIL_RCPT_MAX * 1100 + 4096)

static int drop_item(struct buf *b, const char *name, const char *value)
{
    if (!value)
        return 0;
    size_t cap = strlen(value) * 3 + 1;
    char *x = xmalloc(cap);
    int r = xtext_encode(value, x, cap) < 0 ? -1 : buf_printf(b, "%s %s\n", name, x);
    free(x);
    return r;
}

static int maildrop_write(const char *queue_dir, const char *sender, const struct sm_opts *o,
                          const struct buf *msg)
{
    struct buf b;
    buf_init(&b, 0);
    int bad = buf_puts(&b, MAILDROP_MAGIC) < 0 || drop_item(&b, "sender", sender) < 0;
    for (size_t i = 0; i < o->nrcpts && !bad; i++)
        bad = drop_item(&b, "rcpt", o->rcpts[i]) < 0;
    bad |= drop_item(&b, "notify", o->notify) < 0 || drop_item(&b, "ret", o->ret) < 0 ||
           drop_item(&b, "envid", o->envid) < 0 || drop_item(&b, "body", o->body) < 0 ||
           buf_putc(&b, '\n') < 0 || buf_append(&b, msg->data ? msg->data : "", msg->len) < 0;
    if (bad) {
        buf_free(&b);
        errno = EINVAL;
        return -1;
    }
    unsigned char rnd[12];
    char name[64], path[4096];
    int fd = -1;
    for (int tries = 0; tries < 10 && fd < 0; tries++) {
        if (getentropy(rnd, sizeof(rnd)) < 0)
            break;
        size_t n = 0;
        for (size_t i = 0; i < sizeof(rnd); i++)
            n += (size_t)snprintf(name + n, sizeof(name) - n, "%02x", rnd[i]);
        if (str_fmt(path, sizeof(path), "%s/maildrop/%s", queue_dir, name) < 0)
            break;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0200);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        buf_free(&b);
        return -1;
    }
    int rc = write_all(fd, b.data, b.len) < 0 || fsync(fd) < 0 || fchmod(fd, 0644) < 0 ||
             fsync(fd) < 0 ? -1 : 0;
    int saved = errno;
    close(fd);
    if (rc < 0)
        unlink(path);
    buf_free(&b);
    errno = saved;
    return rc;
}

/* One parsed maildrop file. */
struct dropped {
    char *sender;
    struct sm_opts o;
    struct buf msg;
};

static void dropped_free(struct dropped *d)
{
    free(d->sender);
    for (size_t i = 0; i < d->o.nrcpts; i++)
        free(d->o.rcpts[i]);
    free(d->o.rcpts);
    free((char *)d->o.notify);
    free((char *)d->o.ret);
    free((char *)d->o.envid);
    free((char *)d->o.body);
    buf_free(&d->msg);
}

static int dropped_parse(const char *data, size_t len, struct dropped *d)
{
    memset(d, 0, sizeof(*d));
    size_t ml = strlen(MAILDROP_MAGIC);
    if (len < ml || memcmp(data, MAILDROP_MAGIC, ml) != 0)
        return -1;
    size_t pos = ml;
    for (;;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        if (!nl || (size_t)(nl - data) - pos > 8192)
            return -1;
        size_t n = (size_t)(nl - (data + pos));
        const char *line = data + pos;
        pos += n + 1;
        if (n == 0)
            break;
        const char *sp = memchr(line, ' ', n);
        if (!sp)
            return -1;
        size_t kl = (size_t)(sp - line), vl = n - kl - 1;
        char *v = xmalloc(vl + 1);
        /* Decoded, a value must not hold what could break a command line to pickup. */
        if (xtext_decode(sp + 1, vl, v, vl + 1) < 0 || has_control(v)) {
            free(v);
            return -1;
        }
        const char **slot = NULL;
        if (kl == 6 && memcmp(line, "sender", 6) == 0 && !d->sender)
            d->sender = v, v = NULL;
        else if (kl == 4 && memcmp(line, "rcpt", 4) == 0 && d->o.nrcpts < SENDMAIL_RCPT_MAX)
            add_rcpt(&d->o, v);
        else if (kl == 6 && memcmp(line, "notify", 6) == 0)
            slot = &d->o.notify;
        else if (kl == 3 && memcmp(line, "ret", 3) == 0)
            slot = &d->o.ret;
        else if (kl == 5 && memcmp(line, "envid", 5) == 0)
            slot = &d->o.envid;
        else if (kl == 4 && memcmp(line, "body", 4) == 0)
            slot = &d->o.body;
        else {
            free(v);
            return -1;
        }
        if (slot) {
            if (*slot) {
                free(v);
                return -1;
            }
            *slot = v;
            v = NULL;
        }
        free(v);
    }
    if (!d->sender || d->o.nrcpts == 0)
        return -1;
    buf_init(&d->msg, 0);
    return buf_append(&d->msg, data + pos, len - pos) < 0 ? -1 : 0;
}

/* Take one maildrop file: 1 done (or set aside), 0 try again later. */
static int maildrop_take(int dfd, const char *name, const char *sock, long long limit)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 1;                      /* gone */
    if (S_ISREG(st.st_mode) && (st.st_mode & 07777) != 0644) {
        /* Still being written (0200); one left for a day was abandoned by its writer. */
        if (st.st_mtime < time(NULL) - 86400 && unlinkat(dfd, name, 0) == 0)
            msg_warn("maildrop/%s: removed an incomplete file from uid %ld", name,
                     (long)st.st_uid);
        return 1;
    }
    const char *why = NULL;
    int fd = -1;
    if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
        why = "not a regular file with one link";
    } else {
        struct stat st2;
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st2) < 0 || st2.st_ino != st.st_ino ||
            st2.st_dev != st.st_dev || st2.st_uid != st.st_uid || st2.st_nlink != 1)
            why = "changed while it was opened";
        else if (limit > 0 && st.st_size > limit + MAILDROP_HEAD_MAX)
            why = "larger than message_size_limit";
    }
    struct buf raw;
    buf_init(&raw, 0);
    struct dropped d;
    memset(&d, 0, sizeof(d));
    if (!why) {
        char chunk[65536];
        ssize_t r;
        while ((r = read(fd, chunk, sizeof(chunk))) > 0)
            if (buf_append(&raw, chunk, (size_t)r) < 0)
                break;
        if (r != 0 || (off_t)raw.len != st.st_size)
            why = "read error";
        else if (dropped_parse(raw.data, raw.len, &d) < 0)
            why = "malformed";
    }
    if (fd >= 0)
        close(fd);
    buf_free(&raw);
    int rc = 1;
    if (!why) {
        struct conn c;
        if (conn_open(&c, sock) < 0) {
            rc = 0;
        } else {
            /* pickup may be going away under us: never wait for it forever. */
            struct timeval tv = {.tv_sec = 120};
            setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            int r = submit(&c, d.sender, &d.o, &d.msg, (long)st.st_uid);
            close(c.fd);
            buf_free(&c.in);
            if (r == 0) {
                if (unlinkat(dfd, name, 0) < 0)
                    msg_warn("maildrop/%s: remove: %s", name, strerror(errno));
            } else if (r == EX_TEMPFAIL) {
                rc = 0;
            } else {
                why = "refused by pickup";
            }
        }
    }
    dropped_free(&d);
    if (why) {
        /* Set aside, never silently lost: ".bad.NAME" stays for the administrator. */
        char bad[300];
        str_fmt(bad, sizeof(bad), ".bad.%s", name);
        msg_warn("maildrop/%s from uid %ld: %s; kept as maildrop/%s", name, (long)st.st_uid,
                 why, bad);
        if (renameat(dfd, name, dfd, bad) < 0)
            msg_warn("maildrop/%s: rename: %s", name, strerror(errno));
    }
    return rc;
}

int sendmail_maildrop_run(const char *queue_dir, const char *sock, long long size_limit)
{
    char dir[4096];
    if (str_fmt(dir, sizeof(dir), "%s/maildrop", queue_dir) < 0)
        return -1;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dp = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dp) {
        msg_warn("open %s: %s", dir, strerror(errno));
        if (dfd >= 0)
            close(dfd);
        return -1;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!maildrop_take(dfd, de->d_name, sock, size_limit))
            break;                     /* pickup is busy or going away: next round */
        n++;
    }
    closedir(dp);
    return n;
}

int sendmail_maildrop_pending(const char *queue_dir)
{
    char dir[4096];
    if (str_fmt(dir, sizeof(dir), "%s/maildrop", queue_dir) < 0)
        return 0;
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    int any = 0;
    struct dirent *de;
    while (!any && (de = readdir(dp)) != NULL)
        any = de->d_name[0] != '.';
    closedir(dp);
    return any;
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
    int down = 0;
    if (conn_open(&c, sock) < 0) {
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
        buf_init(&c.in, 0);
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
        const char *bad;
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
        } else if ((bad = unsafe_value(sender, &o)) != NULL) {
            fprintf(stderr, "sendmail: fatal: control character in %s\n", bad);
            rc = EX_DATAERR;
        } else if (down) {
            char *qd = cfg_path(cfg, "queue_directory");
            if (maildrop_write(qd, sender, &o, &msg) < 0) {
                fprintf(stderr, "sendmail: fatal: the mail system is down and %s/maildrop is "
                        "not writable: %s\n", qd, strerror(errno));
                rc = EX_TEMPFAIL;
            }
            free(qd);
        } else {
            rc = submit(&c, sender, &o, &msg, -1);
        }
        buf_free(&msg);
        free(sender);
    }
    if (c.fd >= 0)
        close(c.fd);
    buf_free(&c.in);
    for (size_t i = 0; i < o.nrcpts; i++)
        free(o.rcpts[i]);
    free(o.rcpts);
    config_free(cfg);
    return rc;
}
