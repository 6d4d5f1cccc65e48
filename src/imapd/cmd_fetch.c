/*
 * cmd_fetch.c - the mail worker's FETCH / UID FETCH (see mailsess.h).
 *
 * Owns: one untagged FETCH per message with the items lib-imap's
 * imap_fetch_parse() found: FLAGS, UID, INTERNALDATE, RFC822.SIZE,
 * ENVELOPE, BODY, BODYSTRUCTURE (these three and the size cached in the
 * view's cache), BODY[section]<partial> and its RFC822 forms with bare LFs
 * sent as CRLF, HEADER.FIELDS (.NOT), BINARY[...] and BINARY.SIZE (RFC
 * 3516), MODSEQ and CHANGEDSINCE (RFC 7162), PREVIEW (RFC 8970), EMAILID
 * (RFC 8474, from the Maildir base name; THREADID NIL), SAVEDATE NIL; \Seen
 * set by a non-PEEK body item (not in a read-only mailbox), then FLAGS
 * sent. A message another session expunged meanwhile is left out (the
 * tagged reply says [EXPUNGEISSUED]). The message text is read once per
 * message and the output is flushed between messages when it grows past
 * selected.c's bound.
 */
#include "imapd/fetch_part.h"
#include "imapd/selected.h"

#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_envelope.h"
#include "lib-imap/imap_fetch_items.h"
#include "lib-imap/imap_hdrwalk.h"
#include "lib-imap/imap_preview.h"
#include "lib-imap/imap_quote.h"
#include "lib-imap/imap_seqset.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FETCH_MSG_MAX (1024u * 1024 * 1024)   /* a message read into memory */

/* One message being fetched: its text and tree, read when an item needs them. */
struct fmsg {
    struct msession *s;
    uint32_t uid;
    char *data;
    size_t len;
    int loaded, failed;
    struct imap_msg *tree;
};

static int load(struct fmsg *fm)
{
    if (fm->loaded)
        return fm->failed ? -1 : 0;
    fm->loaded = 1;
    struct storage_error e;
    int fd = mview_open_msg(fm->s->sel->v, fm->uid, &e);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size > FETCH_MSG_MAX) {
        if (fd >= 0)
            close(fd);
        fm->failed = 1;
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *d = xmalloc(cap);
    for (;;) {
        if (len == cap - 1) {
            if (cap > FETCH_MSG_MAX)
                break;
            cap *= 2;
            d = xrealloc(d, cap);
        }
        ssize_t r = read(fd, d + len, cap - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == (size_t)st.st_size)
            break;                     /* Maildir files do not grow: no read for the EOF */
    }
    close(fd);
    d[len] = '\0';
    fm->data = d;
    fm->len = len;
    return 0;
}

static struct imap_msg *tree(struct fmsg *fm)
{
    if (!fm->tree && load(fm) == 0)
        fm->tree = imap_msg_parse(fm->data, fm->len);
    return fm->tree;
}

static void fmsg_free(struct fmsg *fm)
{
    free(fm->data);
    if (fm->tree)
        imap_msg_free(fm->tree);
}

/* ------------------------------------------------------------------ */
/* items                                                               */

/* Append data with every bare LF as CRLF. */
static void put_crlf(struct buf *b, const char *d, size_t len)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (d[i] == '\n' && (i == 0 || d[i - 1] != '\r')) {
            buf_append(b, d + start, i - start);
            buf_puts(b, "\r\n");
            start = i + 1;
        }
    buf_append(b, d + start, len - start);
}

/* A cached text item, or computed by fn and put into the cache. */
static int cached(struct fmsg *fm, uint32_t field, struct buf *out,
                  int (*fn)(struct fmsg *fm, uint32_t field, struct buf *b))
{
    size_t len;
    const void *c = mview_cache_get(fm->s->sel->v, fm->uid, field, &len);
    if (c) {
        buf_append(out, c, len);
        return 0;
    }
    struct buf b;
    buf_init(&b, 64 * 1024 * 1024);
    int rc = fn(fm, field, &b);
    if (rc == 0) {
        mview_cache_put(fm->s->sel->v, fm->uid, field, b.data ? b.data : "", b.len);
        buf_append(out, b.data ? b.data : "", b.len);
    }
    buf_free(&b);
    return rc;
}

#define HEADER_CACHE_MAX (64u * 1024)   /* longer header blocks are read from the file */

/* The top-level header block as stored, from the cache or the file (and then cached). */
static int header_block(struct fmsg *fm, const char **h, size_t *hlen)
{
    const void *c = mview_cache_get(fm->s->sel->v, fm->uid, IMAPD_CACHE_HEADER, hlen);
    if (c) {
        *h = c;
        return 0;
    }
    struct imap_msg *m = tree(fm);
    size_t off, len;
    if (!m || imapd_fetch_range(m, NULL, 0, FETCH_PART_HEADER, &off, &len) < 0 ||
        off > fm->len || len > fm->len - off)
        return -1;
    *h = fm->data + off;
    *hlen = len;
    if (len <= HEADER_CACHE_MAX)
        mview_cache_put(fm->s->sel->v, fm->uid, IMAPD_CACHE_HEADER, *h, len);
    return 0;
}

static int make_struct(struct fmsg *fm, uint32_t field, struct buf *b)
{
    struct imap_msg *m = tree(fm);
    if (!m)
        return -1;
    if (field == IMAPD_CACHE_ENVELOPE) {
        const char *h;
        size_t hlen;
        (void)header_block(fm, &h, &hlen);  /* clients that ask for ENVELOPE ask for headers next */
        return imap_msg_envelope_write(m, b);
    }
    if (field == IMAPD_CACHE_PREVIEW)
        return imap_preview_write(m, fm->data, fm->len, b);
    return imap_bodystructure_write(m, field == IMAPD_CACHE_BODYSTRUCTURE, b);
}

static uint64_t vsize(struct fmsg *fm, const struct mmsg *m)
{
    if (m->vsize)
        return m->vsize;
    size_t len;
    const void *c = mview_cache_get(fm->s->sel->v, fm->uid, IMAPD_CACHE_VSIZE, &len);
    uint64_t v;
    if (c && len == sizeof(v)) {
        memcpy(&v, c, sizeof(v));
        return v;
    }
    if (load(fm) < 0)
        return m->size;
    v = fm->len;
    for (size_t i = 0; i < fm->len; i++)
        if (fm->data[i] == '\n' && (i == 0 || fm->data[i - 1] != '\r'))
            v++;
    mview_cache_put(fm->s->sel->v, fm->uid, IMAPD_CACHE_VSIZE, &v, sizeof(v));
    return v;
}

static void put_internaldate(struct buf *b, int64_t t)
{
    static const char *mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    buf_printf(b, "INTERNALDATE \"%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld\"", tm.tm_mday,
               mon[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
               off / 60, off % 60);
}

/* The fields of a header section named (or not named, with not) in the list. */
static void pick_fields(struct buf *out, const char *h, size_t len,
                        const struct imap_fetch_body *fb, int not)
{
    struct imap_hdrwalk w;
    struct hdr_field f;
    imap_hdrwalk_init(&w, h, len);
    while (imap_hdrwalk_next(&w, &f)) {
        int found = 0;
        for (size_t i = 0; i < fb->nfields && !found; i++)
            found = strlen(fb->fields[i]) == f.name_len &&
                    strncasecmp(fb->fields[i], f.start, f.name_len) == 0;
        if (found != not)
            put_crlf(out, f.start, f.len);
    }
    buf_puts(out, "\r\n");
}

/* The section's text (CRLF line ends) into out; -1 when the part does not exist. */
static int section_text(struct fmsg *fm, const struct imap_fetch_body *fb, struct buf *out)
{
    int fields = fb->section == IMAP_SECTION_HEADER_FIELDS ||
                 fb->section == IMAP_SECTION_HEADER_FIELDS_NOT;
    const char *h;
    size_t hlen;
    if (fb->nparts == 0 && (fb->section == IMAP_SECTION_HEADER || fields)) {
        if (header_block(fm, &h, &hlen) < 0)
            return -1;
        if (fields)
            pick_fields(out, h, hlen, fb, fb->section == IMAP_SECTION_HEADER_FIELDS_NOT);
        else
            put_crlf(out, h, hlen);
        return 0;
    }
    struct imap_msg *m = tree(fm);
    if (!m)
        return -1;
    enum fetch_part_kind k = FETCH_PART_BODY;
    switch (fb->section) {
    case IMAP_SECTION_FULL: k = FETCH_PART_BODY; break;
    case IMAP_SECTION_HEADER:
    case IMAP_SECTION_HEADER_FIELDS:
    case IMAP_SECTION_HEADER_FIELDS_NOT: k = FETCH_PART_HEADER; break;
    case IMAP_SECTION_TEXT: k = FETCH_PART_TEXT; break;
    case IMAP_SECTION_MIME: k = FETCH_PART_MIME; break;
    }
    size_t off, len;
    if (imapd_fetch_range(m, fb->parts, fb->nparts, k, &off, &len) < 0)
        return -1;
    if (off > fm->len || len > fm->len - off)
        return -1;
    if (fb->section == IMAP_SECTION_HEADER_FIELDS || fb->section == IMAP_SECTION_HEADER_FIELDS_NOT)
        pick_fields(out, fm->data + off, len, fb,
                    fb->section == IMAP_SECTION_HEADER_FIELDS_NOT);
    else
        put_crlf(out, fm->data + off, len);
    return 0;
}

/* <offset.length>: the bytes of b that are sent. */
static void partial(const struct imap_fetch_body *fb, const struct buf *b, const char **d,
                    size_t *len)
{
    *d = b->data ? b->data : "";
    *len = b->len;
    if (!fb->partial)
        return;
    uint64_t o = fb->offset < *len ? fb->offset : *len;
    uint64_t l = fb->length < *len - o ? fb->length : *len - o;
    *d += o;
    *len = (size_t)l;
}

/* BODY[...], BINARY[...], BINARY.SIZE[...]; 1 after an unknown CTE (NO [UNKNOWN-CTE]). */
static int put_body(struct fmsg *fm, const struct imap_fetch_body *fb, struct buf *out)
{
    struct buf b;
    buf_init(&b, 0);
    int rc = 0, r;
    if (fb->kind == IMAP_FETCH_K_BODY) {
        r = section_text(fm, fb, &b);
    } else {
        struct imap_msg *m = tree(fm);
        r = m ? imapd_fetch_binary(m, fb->parts, fb->nparts, fm->data, &b) : -1;
        if (r == -2)
            rc = 1;
    }
    /* as Dovecot names it: HEADER.FIELDS names in upper case */
    size_t at = out->len;
    buf_puts(out, fb->reply);
    if (fb->nfields)
        for (size_t i = at; i < out->len; i++)
            if (out->data[i] >= 'a' && out->data[i] <= 'z')
                out->data[i] = (char)(out->data[i] - 'a' + 'A');
    buf_putc(out, ' ');
    if (fb->kind == IMAP_FETCH_K_BINARY_SIZE) {
        buf_printf(out, "%zu", r == 0 ? b.len : (size_t)0);
    } else if (r < 0 && fb->kind == IMAP_FETCH_K_BODY) {
        buf_puts(out, "{0}\r\n");          /* no such part: empty, as Dovecot answers */
    } else {
        const char *d;
        size_t len;
        partial(fb, &b, &d, &len);
        if (fb->kind == IMAP_FETCH_K_BINARY && memchr(d, '\0', len))
            imap_write_literal8(out, d, len);
        else
            imap_write_literal(out, d, len);
    }
    buf_free(&b);
    return rc;
}

static void put_emailid(struct buf *out, const struct mmsg *m)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < m->baselen; i++)
        h = (h ^ (unsigned char)m->name[i]) * 1099511628211ull;
    buf_printf(out, "EMAILID (M%016llx)", (unsigned long long)h);
}

struct fetch_ctx {
    struct imap_fetch f;
    int set_seen;
    int unknown_cte;
    const struct imap_seqset *seen_now;  /* UIDs this FETCH made \Seen (FLAGS is sent) */
};

/* A body item without .PEEK: \Seen for every message that lacks it, in one change. */
static void set_seen(struct msession *s, const uint32_t *uids, size_t n, struct imap_seqset *now)
{
    uint32_t *todo = xmalloc((n ? n : 1) * sizeof(*todo));
    size_t k = 0, nm;
    const struct mmsg *m = mview_msgs(s->sel->v, &nm);
    for (size_t i = 0; i < n; i++) {
        long j = mview_find(s->sel->v, uids[i]);
        if (j >= 0 && !(m[j].flags & STORAGE_FLAG_SEEN)) {
            todo[k++] = uids[i];
            imap_seqset_add(now, uids[i], uids[i]);
        }
    }
    imap_seqset_normalize(now);
    struct storage_error e;
    if (k && mview_store(s->sel->v, todo, k, MVIEW_FLAGS_ADD, STORAGE_FLAG_SEEN, 0, &e) < 0)
        msg_warn("imap(%s): FETCH could not set \\Seen: %s", s->user, e.text);
    free(todo);
}

#define SP() do { if (n++) buf_putc(out, ' '); } while (0)

static void put_simple(struct fetch_ctx *fc, struct fmsg *fm, const struct mmsg *m,
                       int show_flags, struct buf *out, int *count)
{
    struct msession *s = fm->s;
    unsigned a = fc->f.attrs;
    int n = *count;
    if (a & IMAP_FETCH_UID) {
        SP();
        buf_printf(out, "UID %u", m->uid);
    }
    if ((a & IMAP_FETCH_FLAGS) || show_flags) {
        SP();
        buf_puts(out, "FLAGS ");
        imapd_sel_write_flags(s, out, m);
    }
    if (a & IMAP_FETCH_RFC822_SIZE) {
        SP();
        buf_printf(out, "RFC822.SIZE %llu", (unsigned long long)vsize(fm, m));
    }
    if (a & IMAP_FETCH_INTERNALDATE) {
        SP();
        put_internaldate(out, m->internaldate);
    }
    static const struct { unsigned bit; uint32_t field; const char *name; } st[] = {
        {IMAP_FETCH_ENVELOPE, IMAPD_CACHE_ENVELOPE, "ENVELOPE "},
        {IMAP_FETCH_BODY, IMAPD_CACHE_BODY, "BODY "},
        {IMAP_FETCH_BODYSTRUCTURE, IMAPD_CACHE_BODYSTRUCTURE, "BODYSTRUCTURE "},
    };
    for (size_t i = 0; i < ARRAY_LEN(st); i++)
        if (a & st[i].bit) {
            SP();
            buf_puts(out, st[i].name);
            if (cached(fm, st[i].field, out, make_struct) < 0)
                buf_puts(out, "NIL");
        }
    if (a & IMAP_FETCH_MODSEQ) {
        SP();
        buf_printf(out, "MODSEQ (%llu)", (unsigned long long)m->modseq);
    }
    if (a & IMAP_FETCH_EMAILID) {
        SP();
        put_emailid(out, m);
    }
    if (a & IMAP_FETCH_THREADID) {
        SP();
        buf_puts(out, "THREADID NIL");
    }
    if (a & IMAP_FETCH_SAVEDATE) {
        SP();
        buf_puts(out, "SAVEDATE NIL");
    }
    if (a & IMAP_FETCH_PREVIEW) {
        SP();
        buf_puts(out, "PREVIEW ");
        if (cached(fm, IMAPD_CACHE_PREVIEW, out, make_struct) < 0)
            buf_puts(out, "NIL");
    }
    *count = n;
}

/* One message's FETCH response; 0, or -1 when it is gone. */
static int fetch_one(struct fetch_ctx *fc, struct msession *s, uint32_t uid)
{
    struct msel *sel = s->sel;
    long k = mview_find(sel->v, uid);
    if (k < 0)
        return -1;
    size_t nm;
    const struct mmsg *m = &mview_msgs(sel->v, &nm)[k];
    if (fc->f.changedsince_set && m->modseq <= fc->f.changedsince)
        return 0;
    int show_flags = fc->seen_now && imap_seqset_contains(fc->seen_now, uid);
    struct fmsg fm = {.s = s, .uid = uid};
    struct buf *out = conn_out(s->c);
    buf_printf(out, "* %u FETCH (", imapd_sel_seq(s, uid));
    int n = 0;
    put_simple(fc, &fm, m, show_flags, out, &n);
    for (size_t i = 0; i < fc->f.nbodies; i++) {
        SP();
        if (put_body(&fm, &fc->f.bodies[i], out) == 1)
            fc->unknown_cte = 1;
    }
    buf_puts(out, ")\r\n");
    fmsg_free(&fm);
    return 0;
}

/*
 * UID FETCH ... (CHANGEDSINCE n VANISHED): the UIDs of the set that are
 * gone. There is no expunge history, so every missing UID below UIDNEXT is
 * named (RFC 7162 allows naming UIDs the client may already know are gone).
 */
static void send_vanished(struct msession *s, const struct imap_arg *a)
{
    const char *text, *err;
    uint32_t top = mview_uidnext(s->sel->v) - 1;
    struct imap_seqset set, gone;
    imap_seqset_init(&set);
    imap_seqset_init(&gone);
    if (!imap_arg_atom(a, &text) || !top ||
        imap_seqset_parse(&set, text, strlen(text), top, 0, &err) < 0) {
        imap_seqset_free(&set);
        return;
    }
    size_t nm, j = 0;
    const struct mmsg *m = mview_msgs(s->sel->v, &nm);
    for (size_t r = 0; r < set.count; r++) {
        uint64_t x = set.r[r].lo, hi = set.r[r].hi < top ? set.r[r].hi : top;
        while (j < nm && m[j].uid < x)
            j++;
        for (; x <= hi; x++) {
            while (j < nm && m[j].uid < x)
                j++;
            if (j < nm && m[j].uid == x)
                continue;
            uint64_t end = j < nm && m[j].uid <= hi ? m[j].uid - 1 : hi;
            imap_seqset_add(&gone, (uint32_t)x, (uint32_t)end);
            x = end;
        }
    }
    imap_seqset_normalize(&gone);
    struct buf b;
    buf_init(&b, 1024 * 1024);
    if (gone.count && imap_seqset_write(&b, &gone) == 0)
        imapd_reply(s->c, NULL, "VANISHED (EARLIER) %s", buf_cstr(&b));
    buf_free(&b);
    imap_seqset_free(&set);
    imap_seqset_free(&gone);
}

void imapd_cmd_fetch(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    uint32_t *uids;
    size_t n;
    const char *err;
    if (imapd_sel_uids(s, &args[0], uid, &uids, &n, &err) < 0) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command FETCH: %s", err);
        return;
    }
    struct fetch_ctx fc = {0};
    if (imap_fetch_parse(&fc.f, &args[1], &err) < 0) {
        free(uids);
        imapd_reply(s->c, tag, "BAD Error in IMAP command FETCH: %s", err);
        return;
    }
    if (fc.f.vanished && (!uid || !(s->enabled & MS_ENABLED_QRESYNC) || !fc.f.changedsince_set)) {
        free(uids);
        imap_fetch_free(&fc.f);
        imapd_reply(s->c, tag, "BAD Error in IMAP command FETCH: VANISHED not allowed here");
        return;
    }
    if (uid)
        fc.f.attrs |= IMAP_FETCH_UID;
    if (fc.f.changedsince_set)
        fc.f.attrs |= IMAP_FETCH_MODSEQ;
    if (fc.f.attrs & IMAP_FETCH_MODSEQ)
        s->enabled |= MS_ENABLED_CONDSTORE;
    fc.set_seen = fc.f.set_seen && !s->sel->readonly;
    if (fc.f.vanished)
        send_vanished(s, &args[0]);
    struct imap_seqset now;
    imap_seqset_init(&now);
    if (fc.set_seen) {
        set_seen(s, uids, n, &now);
        fc.seen_now = &now;
    }
    int gone = 0;
    for (size_t i = 0; i < n && !s->closing; i++) {
        if (fetch_one(&fc, s, uids[i]) < 0)
            gone = 1;
        imapd_sess_out_drain(s);
    }
    free(uids);
    imap_fetch_free(&fc.f);
    imap_seqset_free(&now);
    (void)mview_cache_flush(s->sel->v);  /* what this FETCH computed, for other sessions */
    if (s->closing)
        return;
    imapd_sel_sync(s, uid);
    if (fc.unknown_cte)
        imapd_reply(s->c, tag, "NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding.");
    else if (gone)
        imapd_reply(s->c, tag, "NO [EXPUNGEISSUED] Some of the requested messages no longer exist.");
    else
        imapd_reply(s->c, tag, "OK Fetch completed.");
}
