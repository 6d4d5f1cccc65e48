/*
 * submit.c - see submit.h.
 */
#include "lib-queue/submit.h"
#include "lib-mail/addr.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

void submission_add_rcpt(struct submission *o, const char *a)
{
    if (o->nrcpts == o->caprcpts) {
        o->caprcpts = o->caprcpts ? o->caprcpts * 2 : 8;
        o->rcpts = xrealloc(o->rcpts, o->caprcpts * sizeof(*o->rcpts));
    }
    o->rcpts[o->nrcpts++] = xstrdup(a);
}

#define SUBMIT_LINE_MAX (64 * 1024)

void submit_close(struct submit_conn *c)
{
    if (c->conn)
        conn_free(c->conn);          /* closes the fd */
    else if (c->fd >= 0)
        close(c->fd);
    c->conn = NULL;
    c->fd = -1;
}

int submit_open(struct submit_conn *c, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    c->conn = NULL;
    if (str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        c->fd = -1;
        errno = ENAMETOOLONG;
        return -1;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        int saved = errno;
        close(c->fd);
        c->fd = -1;
        errno = saved;
        return -1;
    }
    c->conn = conn_new(c->fd, SUBMIT_LINE_MAX, 0);
    conn_set_lines(c->conn, SUBMIT_LINE_MAX - 1, 0);
    return 0;
}

void submit_set_timeout(struct submit_conn *c, unsigned secs)
{
    if (!c->conn)
        return;
    conn_set_idle(c->conn, (uint64_t)secs * 1000);
    if (secs)
        conn_deadline_in(c->conn, (uint64_t)secs * 1000);
    else
        conn_deadline_clear(c->conn);
}

int submit_reply(struct submit_conn *c, char *last, size_t lastlen)
{
    if (!c->conn)
        return -1;
    for (;;) {
        char *line;
        size_t n;
        if (conn_line_wait(c->conn, &line, &n) != CONN_LINE)
            return -1;               /* broken, silent too long, or a line over the limit */
        if (n && line[n - 1] == '\r')
            n--;
        int more = n > 3 && line[3] == '-';
        int code = n >= 3 ? atoi(line) : -1;
        if (last) {
            size_t tl = n > 4 ? n - 4 : 0;
            if (tl >= lastlen)
                tl = lastlen - 1;
            memcpy(last, n > 4 ? line + 4 : "", tl);
            last[tl] = '\0';
        }
        if (!more)
            return code;
    }
}

static int submit_send(struct submit_conn *c, const char *data, size_t len)
{
    return c->conn && conn_write_wait(c->conn, data, len) == 0 ? 0 : -1;
}

static int command(struct submit_conn *c, char *text, size_t textlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int command(struct submit_conn *c, char *text, size_t textlen, const char *fmt, ...)
{
    struct buf b;
    buf_init(&b, 8192);
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (r < 0 || buf_puts(&b, "\r\n") < 0 || submit_send(c, b.data, b.len) < 0) {
        buf_free(&b);
        return -1;
    }
    buf_free(&b);
    return submit_reply(c, text, textlen);
}

/* Dot-stuff and send the content with CRLF line endings. */
static int send_content(struct submit_conn *c, const struct buf *msg)
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
            if (submit_send(c, out.data, out.len) < 0) {
                buf_free(&out);
                return -1;
            }
            buf_reset(&out);
        }
    }
    buf_puts(&out, ".\r\n");
    int r = submit_send(c, out.data, out.len);
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

int submission_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

const char *submission_unsafe_value(const char *sender, const struct submission *o)
{
    if (submission_has_control(sender))
        return "sender address";
    for (size_t i = 0; i < o->nrcpts; i++)
        if (submission_has_control(o->rcpts[i]))
            return "recipient address";
    const char *opt[4] = {o->notify, o->ret, o->envid, o->body};
    const char *name[4] = {"-N value", "-R value", "-V value", "-B value"};
    for (int i = 0; i < 4; i++)
        if (opt[i] && submission_has_control(opt[i]))
            return name[i];
    return NULL;
}

int submit_message(struct submit_conn *c, const char *sender, const struct submission *o,
                   const struct buf *msg, long xuid)
{
    char text[1024];
    int code = submit_reply(c, text, sizeof(text));
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
    code = submit_reply(c, text, sizeof(text));
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

