/*
 * maildrop.c - see maildrop.h.
 */
#include "lib-queue/maildrop.h"
#include "lib-mail/addr.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

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
#define MAILDROP_HEAD_MAX (SUBMIT_RCPT_MAX * 1100 + 4096)

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

int maildrop_write(const char *queue_dir, const char *sender, const struct submission *o,
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
    struct submission o;
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
        if (xtext_decode(sp + 1, vl, v, vl + 1) < 0 || submission_has_control(v)) {
            free(v);
            return -1;
        }
        const char **slot = NULL;
        if (kl == 6 && memcmp(line, "sender", 6) == 0 && !d->sender)
            d->sender = v, v = NULL;
        else if (kl == 4 && memcmp(line, "rcpt", 4) == 0 && d->o.nrcpts < SUBMIT_RCPT_MAX)
            submission_add_rcpt(&d->o, v);
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
        struct submit_conn c;
        if (submit_open(&c, sock) < 0) {
            rc = 0;
        } else {
            /* pickup may be going away under us: never wait for it forever. */
            submit_set_timeout(&c, 120);
            int r = submit_message(&c, d.sender, &d.o, &d.msg, (long)st.st_uid);
            submit_close(&c);
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

int maildrop_run(const char *queue_dir, const char *sock, long long size_limit)
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

int maildrop_pending(const char *queue_dir)
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

