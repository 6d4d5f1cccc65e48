/*
 * copy.c - the message as a delivery agent writes it.
 *
 * Owns: reading the content bytes from the queue file (pread, in chunks,
 * never the whole message in memory), the lines a delivery prepends
 * ("From " envelope line for commands, Return-Path:, X-Original-To:,
 * Delivered-To:), and the scan of the message headers for Delivered-To:
 * used for loop detection, and the content transforms of pipe(8)'s flags
 * (dot-stuffing, ">From " quoting, a final empty line, CR LF line ends).
 * The mbox format itself (its "From " line, ">From " quoting, the final
 * empty line) is lib-storage's.
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

time_t deliver_arrival(const struct delivery *d)
{
    const char *arr = dproto_attr(d->req, "arrival");
    time_t t = arr ? (time_t)strtoll(arr, NULL, 10) : 0;
    return t > 0 ? t : time(NULL);
}

/* The prepended lines, as one string. */
static char *make_prefix(const struct delivery *d, const struct copy_opts *o)
{
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "");
    if (o->from_sender) {
        time_t t = deliver_arrival(d);
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
    if (!(o->transform & COPY_CRLF))
        return b.data;
    struct buf c;
    buf_init(&c, 0);
    buf_puts(&c, "");
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] == '\n')
            buf_putc(&c, '\r');
        buf_putc(&c, b.data[i]);
    }
    buf_free(&b);
    return c.data;
}

/* ---- the stream ---- */

struct msgstream {
    unsigned transform;              /* COPY_*: 0 copies the content as it is */
    int bol;                         /* transform: at the beginning of a line */
    char out[4];                     /* transform: bytes made but not handed out yet */
    size_t olen, opos;
    int ended;                       /* transform: the end (COPY_BLANK_END) was made */
    int fd;
    off_t off;                       /* next content byte to read */
    size_t left;                     /* content bytes not read yet */
    char *prefix;
    size_t plen, ppos;
    size_t size;                     /* prefix + content */
    char raw[CHUNK];
    size_t rlen, rpos;
};

struct msgstream *deliver_msgstream_open(const struct delivery *d, const struct copy_opts *o)
{
    /* not calloc: zeroing the 64 KB read buffer cost more than the rest of a delivery */
    struct msgstream *ms = xmalloc(sizeof(*ms));
    ms->rlen = ms->rpos = ms->ppos = 0;
    ms->transform = o->transform;
    ms->bol = 1;
    ms->olen = ms->opos = 0;
    ms->ended = 0;
    ms->fd = d->fd;
    ms->off = d->req->offset;
    ms->left = d->req->length;
    ms->prefix = make_prefix(d, o);
    ms->plen = strlen(ms->prefix);
    ms->size = ms->plen + d->req->length;
    return ms;
}

size_t deliver_msgstream_size(const struct msgstream *ms)
{
    return ms->size;
}

void deliver_msgstream_close(struct msgstream *ms)
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

/*
 * The next content byte through the transform into ms->out (one to three
 * bytes). 0, 1 at the end of the content, -1 on a read error.
 */
static int transform_next(struct msgstream *ms)
{
    if (ms->rpos == ms->rlen || (ms->bol && (ms->transform & COPY_QUOTE_FROM) &&
                                 ms->rlen - ms->rpos < 5 && ms->left > 0)) {
        if (refill(ms) < 0)
            return -1;
        if (ms->rpos == ms->rlen) {
            if (!ms->ended && (ms->transform & COPY_BLANK_END)) {
                ms->ended = 1;
                if (ms->transform & COPY_CRLF)
                    ms->out[ms->olen++] = '\r';
                ms->out[ms->olen++] = '\n';
                return 0;
            }
            return 1;
        }
    }
    char ch = ms->raw[ms->rpos++];
    if (ms->bol) {
        if ((ms->transform & COPY_DOT_STUFF) && ch == '.')
            ms->out[ms->olen++] = '.';
        else if ((ms->transform & COPY_QUOTE_FROM) && ch == 'F' &&
                 ms->rlen - ms->rpos >= 4 && memcmp(ms->raw + ms->rpos, "rom ", 4) == 0)
            ms->out[ms->olen++] = '>';
    }
    if (ch == '\n' && (ms->transform & COPY_CRLF))
        ms->out[ms->olen++] = '\r';
    ms->out[ms->olen++] = ch;
    ms->bol = ch == '\n';
    return 0;
}

ssize_t deliver_msgstream_read(struct msgstream *ms, char *buf, size_t cap)
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
        if (ms->transform) {
            if (ms->opos == ms->olen) {
                ms->opos = ms->olen = 0;
                int r = transform_next(ms);
                if (r < 0)
                    return -1;
                if (r > 0)
                    break;
            }
            buf[o++] = ms->out[ms->opos++];
            continue;
        }
        if (ms->rpos == ms->rlen) {
            if (ms->left == 0)
                break;
            if (refill(ms) < 0)
                return -1;
        }
        size_t n = ms->rlen - ms->rpos;
        if (n > cap - o)
            n = cap - o;
        memcpy(buf + o, ms->raw + ms->rpos, n);
        ms->rpos += n;
        o += n;
    }
    return (ssize_t)o;
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

int deliver_scan_headers(struct delivery *d)
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

int deliver_is_loop(const struct delivery *d, const char *addr)
{
    char *ext = addr_external_dup(addr);      /* Delivered-To: holds the quoted form */
    int found = 0;
    for (size_t i = 0; i < d->ndelivered && !found; i++)
        found = strcasecmp(d->delivered[i], addr) == 0 || strcasecmp(d->delivered[i], ext) == 0;
    free(ext);
    return found;
}
