/*
 * copy.c - the message as a delivery agent writes it.
 *
 * Owns: reading the content bytes from the queue file (pread, in chunks,
 * never the whole message in memory), the lines a delivery prepends
 * ("From " envelope line, Return-Path:, X-Original-To:, Delivered-To:),
 * ">From " quoting and the final empty line of mbox format, and the scan
 * of the message headers for Delivered-To: used for loop detection.
 */
#include "deliver/agent.h"
#include "lib-mail/addr.h"
#include "lib/buf.h"
#include "lib-mail/header.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define HEADER_LINE_MAX 4096        /* logical header line kept for matching */
#define HEADER_SCAN_MAX (1024 * 1024) /* header bytes read for the loop check */
#define DELIVERED_MAX 1000          /* Delivered-To: values remembered */

static ssize_t pread_full(int fd, char *buf, size_t len, off_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, buf + got, len - got, off + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0) {
            errno = EIO;             /* the queue file is shorter than qmgr said */
            return -1;
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* The prepended lines, as one string. */
static char *make_prefix(const struct delivery *d, const struct copy_opts *o)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "");
    if (o->from_sender) {
        const char *arr = dproto_attr(d->req, "arrival");
        time_t t = arr ? (time_t)strtoll(arr, NULL, 10) : 0;
        if (t <= 0)
            t = time(NULL);
        struct tm tm;
        char date[64];
        localtime_r(&t, &tm);
        strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        char *s = *o->from_sender ? addr_external_dup(o->from_sender) : xstrdup("MAILER-DAEMON");
        buf_printf(&b, "From %s %s\n", s, date);
        free(s);
    }
    if (o->return_path) {
        char *s = addr_external_dup(o->return_path);
        buf_printf(&b, "Return-Path: <%s>\n", s);
        free(s);
    }
    if (o->orig_to && *o->orig_to) {
        char *s = addr_external_dup(o->orig_to);
        buf_printf(&b, "X-Original-To: %s\n", s);
        free(s);
    }
    if (o->delivered_to && *o->delivered_to) {
        char *s = addr_external_dup(o->delivered_to);
        buf_printf(&b, "Delivered-To: %s\n", s);
        free(s);
    }
    return b.data;
}

size_t copy_output_size(const struct delivery *d, const struct copy_opts *o)
{
    char *p = make_prefix(d, o);
    size_t n = strlen(p) + d->req->length;
    free(p);
    return n;
}

/* ---- the stream ---- */

struct msgstream {
    int fd;
    off_t off;                       /* next content byte to read */
    size_t left;                     /* content bytes not read yet */
    char *prefix;
    size_t plen, ppos;
    int quote, final_blank;
    char raw[CHUNK];
    size_t rlen, rpos;
    int bol;                         /* next content byte starts a line */
    char last;                       /* last content byte emitted */
    int tail;                        /* 0 content, 1 final newline check, 2 blank line, 3 done */
};

struct msgstream *msgstream_open(const struct delivery *d, const struct copy_opts *o)
{
    struct msgstream *ms = xcalloc(1, sizeof(*ms));
    ms->fd = d->fd;
    ms->off = d->req->offset;
    ms->left = d->req->length;
    ms->prefix = make_prefix(d, o);
    ms->plen = strlen(ms->prefix);
    ms->quote = o->quote_from;
    ms->final_blank = o->final_blank;
    ms->bol = 1;
    ms->last = '\n';
    return ms;
}

void msgstream_close(struct msgstream *ms)
{
    if (!ms)
        return;
    free(ms->prefix);
    free(ms);
}

/* Keep unread bytes, read more content. -1 on a read error. */
static int refill(struct msgstream *ms)
{
    size_t keep = ms->rlen - ms->rpos;
    memmove(ms->raw, ms->raw + ms->rpos, keep);
    ms->rpos = 0;
    ms->rlen = keep;
    size_t want = sizeof(ms->raw) - keep;
    if (want > ms->left)
        want = ms->left;
    if (want == 0)
        return 0;
    if (pread_full(ms->fd, ms->raw + keep, want, ms->off) < 0)
        return -1;
    ms->off += (off_t)want;
    ms->left -= want;
    ms->rlen += want;
    return 0;
}

ssize_t msgstream_read(struct msgstream *ms, char *buf, size_t cap)
{
    size_t o = 0;
    while (o < cap) {
        if (ms->ppos < ms->plen) {
            size_t n = ms->plen - ms->ppos;
            if (n > cap - o)
                n = cap - o;
            memcpy(buf + o, ms->prefix + ms->ppos, n);
            ms->ppos += n;
            o += n;
            continue;
        }
        if (ms->tail == 0) {
            size_t avail = ms->rlen - ms->rpos;
            /* quoting needs 5 bytes of lookahead at a line start */
            if ((avail == 0 || (ms->quote && ms->bol && avail < 5)) && ms->left > 0) {
                if (refill(ms) < 0)
                    return -1;
                avail = ms->rlen - ms->rpos;
            }
            if (avail == 0) {
                ms->tail = 1;
                continue;
            }
            const char *p = ms->raw + ms->rpos;
            if (ms->quote && ms->bol && avail >= 5 && memcmp(p, "From ", 5) == 0) {
                buf[o++] = '>';
                ms->bol = 0;         /* the line itself follows, unquoted */
                continue;
            }
            const char *nl = memchr(p, '\n', avail);
            size_t n = nl ? (size_t)(nl - p) + 1 : avail;
            if (n > cap - o)
                n = cap - o;
            memcpy(buf + o, p, n);
            o += n;
            ms->rpos += n;
            ms->last = p[n - 1];
            ms->bol = ms->last == '\n';
            continue;
        }
        if (ms->tail == 1) {
            ms->tail = 2;
            if (ms->final_blank && ms->last != '\n') {
                buf[o++] = '\n';
                ms->last = '\n';
            }
            continue;
        }
        if (ms->tail == 2) {
            ms->tail = 3;
            if (ms->final_blank)
                buf[o++] = '\n';
            continue;
        }
        break;
    }
    return (ssize_t)o;
}

int copy_to_fd(const struct delivery *d, const struct copy_opts *o, int fd, int *read_error)
{
    struct msgstream *ms = msgstream_open(d, o);
    char *buf = xmalloc(CHUNK);
    int rc = 0;
    *read_error = 0;
    for (;;) {
        ssize_t n = msgstream_read(ms, buf, CHUNK);
        if (n < 0) {
            *read_error = 1;
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (write_all(fd, buf, (size_t)n) < 0) {
            rc = -1;
            break;
        }
    }
    int saved = errno;
    free(buf);
    msgstream_close(ms);
    errno = saved;
    return rc;
}

/* ---- Delivered-To: scan ---- */

static void note_delivered(struct delivery *d, const struct hdr_field *f)
{
    if (!hdr_name_is(f, "Delivered-To") || d->ndelivered >= DELIVERED_MAX)
        return;
    struct buf v;
    buf_init(&v, HEADER_LINE_MAX);
    hdr_unfold(f, &v);
    char *t = xstrdup(buf_cstr(&v));
    str_lower(t);
    d->delivered = xrealloc(d->delivered, (d->ndelivered + 2) * sizeof(*d->delivered));
    d->delivered[d->ndelivered++] = t;
    d->delivered[d->ndelivered] = NULL;
    buf_free(&v);
}

int delivery_scan_headers(struct delivery *d)
{
    /* The header section, read chunk by chunk until it ends (cleanup keeps it
     * within header_size_limit; HEADER_SCAN_MAX bounds what a loop check reads). */
    struct buf head;
    buf_init(&head, HEADER_SCAN_MAX);
    size_t left = d->req->length;
    off_t off = d->req->offset;
    int rc = 0;
    while (left > 0 && head.len < HEADER_SCAN_MAX) {
        size_t want = left < CHUNK ? left : CHUNK;
        if (want > HEADER_SCAN_MAX - head.len)
            want = HEADER_SCAN_MAX - head.len;
        if (buf_reserve(&head, want) < 0 ||
            pread_full(d->fd, head.data + head.len, want, off) < 0) {
            d->scan_error = errno ? errno : ENOMEM;
            rc = -1;
            break;
        }
        size_t from = head.len > 0 ? head.len - 1 : 0;
        head.len += want;
        head.data[head.len] = '\0';
        off += (off_t)want;
        left -= want;
        if (memmem(head.data + from, head.len - from, "\n\n", 2) || head.data[0] == '\n')
            break;                       /* the section ended in this chunk */
    }
    if (rc == 0) {
        struct hdr_reader r;
        struct hdr_field f;
        hdr_reader_init(&r, head.data ? head.data : "", head.len, 0, 0);
        while (hdr_next(&r, &f))
            note_delivered(d, &f);
    }
    buf_free(&head);
    return rc;
}

int delivery_is_loop(const struct delivery *d, const char *addr)
{
    char *ext = addr_external_dup(addr);      /* Delivered-To: holds the quoted form */
    int found = 0;
    for (size_t i = 0; i < d->ndelivered && !found; i++)
        found = strcasecmp(d->delivered[i], addr) == 0 || strcasecmp(d->delivered[i], ext) == 0;
    free(ext);
    return found;
}
