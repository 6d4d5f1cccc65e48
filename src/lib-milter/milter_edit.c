/*
 * milter_edit.c - the modifications a milter asks for at end of message,
 * applied to a message held in memory with LF line ends (see milter.h):
 * add, insert, change and delete headers (indexes count as libmilter's
 * peers count them), and replace the body. Text from the milter has its
 * CR LF pairs turned into LF, so the queue file keeps one line-end form.
 */
#include "lib-milter/milter.h"
#include "lib/util.h"

#include <string.h>
#include <strings.h>

size_t milter_header_end(const char *msg, size_t len)
{
    size_t pos = 0;
    while (pos < len && msg[pos] != '\n') {
        const char *nl = memchr(msg + pos, '\n', len - pos);
        if (!nl)
            return len;
        pos = (size_t)(nl - msg) + 1;
    }
    return pos;
}

void milter_hdr_iter_init(struct milter_hdr_iter *it, const char *msg, size_t len)
{
    it->msg = msg;
    it->end = milter_header_end(msg, len);
    it->pos = 0;
}

/* The end of the header starting at pos (after its last continuation line's LF). */
static size_t header_span_end(const char *msg, size_t end, size_t pos)
{
    do {
        const char *nl = memchr(msg + pos, '\n', end - pos);
        pos = nl ? (size_t)(nl - msg) + 1 : end;
    } while (pos < end && (msg[pos] == ' ' || msg[pos] == '\t'));
    return pos;
}

int milter_hdr_next(struct milter_hdr_iter *it, const char **name, size_t *nlen,
                    const char **value, size_t *vlen)
{
    while (it->pos < it->end) {
        size_t start = it->pos, stop = header_span_end(it->msg, it->end, start);
        it->pos = stop;
        const char *colon = memchr(it->msg + start, ':', stop - start);
        if (!colon)
            continue;       /* not a header line: skipped, as a milter could not name it */
        *name = it->msg + start;
        *nlen = (size_t)(colon - *name);
        while (*nlen > 0 && ((*name)[*nlen - 1] == ' ' || (*name)[*nlen - 1] == '\t'))
            (*nlen)--;
        *value = colon + 1;
        *vlen = (size_t)(it->msg + stop - *value);
        if (*vlen > 0 && (*value)[*vlen - 1] == '\n')
            (*vlen)--;
        return 1;
    }
    return 0;
}

/* "Name: value\n" with CR LF in the value made LF; a continuation line keeps its indent. */
static void header_text(struct buf *t, const char *name, const char *value, int leadspc)
{
    buf_puts(t, name);
    buf_putc(t, ':');
    if (!leadspc)
        buf_putc(t, ' ');
    for (const char *p = value; *p; p++) {
        if (*p == '\r' && p[1] == '\n')
            continue;
        buf_putc(t, *p);
    }
    buf_putc(t, '\n');
}

/* Replace msg[at..at+old) with data[0..len). */
static int splice(struct buf *msg, size_t at, size_t old, const char *data, size_t len)
{
    if (len > old && buf_reserve(msg, len - old) < 0)
        return -1;
    memmove(msg->data + at + len, msg->data + at + old, msg->len - at - old);
    if (len)
        memcpy(msg->data + at, data, len);
    msg->len = msg->len - old + len;
    msg->data[msg->len] = '\0';
    return 0;
}

static int insert_text(struct buf *msg, size_t at, const char *name, const char *value,
                       int leadspc)
{
    struct buf t;
    buf_init(&t, 0);
    header_text(&t, name, value, leadspc);
    int r = splice(msg, at, 0, t.data, t.len);
    buf_free(&t);
    return r;
}

int milter_hdr_add(struct buf *msg, const char *name, const char *value, int leadspc)
{
    return insert_text(msg, milter_header_end(msg->data, msg->len), name, value, leadspc);
}

int milter_hdr_insert(struct buf *msg, uint32_t idx, const char *name, const char *value,
                      int leadspc)
{
    struct milter_hdr_iter it;
    milter_hdr_iter_init(&it, msg->data, msg->len);
    const char *n, *v;
    size_t nl, vl, at = it.end;
    for (uint32_t i = 0;; i++) {
        size_t start = it.pos;
        if (!milter_hdr_next(&it, &n, &nl, &v, &vl))
            break;
        if (i == idx) {
            at = (size_t)(n - msg->data);
            break;
        }
        (void)start;
    }
    return insert_text(msg, at, name, value, leadspc);
}

int milter_hdr_change(struct buf *msg, uint32_t idx, const char *name, const char *value,
                      int leadspc)
{
    if (idx == 0)
        idx = 1;
    struct milter_hdr_iter it;
    milter_hdr_iter_init(&it, msg->data, msg->len);
    const char *n, *v;
    size_t nl, vl;
    uint32_t seen = 0;
    size_t namelen = strlen(name);
    while (milter_hdr_next(&it, &n, &nl, &v, &vl)) {
        if (nl != namelen || strncasecmp(n, name, nl) != 0 || ++seen != idx)
            continue;
        size_t start = (size_t)(n - msg->data), stop = it.pos;
        struct buf t;
        buf_init(&t, 0);
        if (*value)
            header_text(&t, name, value, leadspc);
        int r = splice(msg, start, stop - start, t.data, t.len);
        buf_free(&t);
        return r;
    }
    return *value ? milter_hdr_add(msg, name, value, leadspc) : 0;
}

int milter_body_replace(struct buf *msg, const char *body, size_t len)
{
    size_t hend = milter_header_end(msg->data, msg->len);
    size_t bstart = hend < msg->len ? hend + 1 : hend;    /* past the empty line */
    struct buf t;
    buf_init(&t, 0);
    if (hend >= msg->len)
        buf_putc(&t, '\n');
    for (size_t i = 0; i < len; i++) {
        if (body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')
            continue;
        buf_putc(&t, body[i]);
    }
    int r = splice(msg, bstart, msg->len - bstart, t.data, t.len);
    buf_free(&t);
    return r;
}
