/*
 * mime.c - the streaming MIME parser (see mime.h).
 *
 * The input is cut into lines (a line longer than MIME_LINE_MAX is passed
 * on in pieces; only the start of a line can be a boundary). Open parts
 * form a stack of levels: level 0 is the message, the deepest level
 * receives the lines. A line that is a boundary of an open multipart
 * closes every level below it. Each level in its body keeps the line end
 * of its last line "held": it belongs to the body unless the next line is
 * a boundary that closes the level (RFC 2046 5.1.1: the CRLF before a
 * boundary is part of the boundary), so offsets, sizes and line counts are
 * exact without ever looking back.
 */
#include "lib-mail/mime.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib-mail/header.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OUT_CHUNK 4096

/* Streaming conversion of a text part to UTF-8. */
struct conv {
    iconv_t cd;                      /* (iconv_t)-1: copy as it is */
    char carry[16];                  /* an incomplete sequence from the last chunk */
    size_t ncarry;
};

struct level {
    struct mime_part part;
    int in_header;
    struct buf hdr;                  /* the header section while it is read */
    int closed;                      /* multipart: the close delimiter was seen */
    /* the body region */
    size_t cend;                     /* end of what is committed */
    size_t nlf;                      /* line feeds committed */
    int last_lf;                     /* the last committed byte is a line feed */
    int last_cr;                     /* the last committed byte is a carriage return */
    size_t nbare;                    /* line feeds committed without a CR before them */
    char held[2];                    /* the last line's end, not yet committed */
    size_t nheld;
    int held_boundary_eol;           /* it ends a boundary line of this level's own */
    size_t hdr_eol;                  /* line end length of the last header line taken */
    size_t blank_eol;                /* of the empty line that ended the header, or 0 */
    /* decoding (the deepest level only) */
    unsigned b64_acc;
    int b64_bits;
    int qp_soft;                     /* the last QP line ended with '=' */
    int text;                        /* convert to UTF-8 */
    struct conv conv;
};

struct mime_parser {
    int flags;
    struct mime_callbacks cb;
    void *ctx;
    struct level lv[MIME_DEPTH_MAX + 1];
    int top;                         /* the deepest open level */
    size_t nparts;
    int hit;
    struct buf line;                 /* a partial line */
    int line_cont;                   /* line continues one passed on in pieces */
    size_t offset;                   /* input offset of line.data[0] */
    int finished;
};

/* ---- output of the deepest level ---- */

static void conv_open(struct conv *c, const char *charset)
{
    c->ncarry = 0;
    c->cd = (iconv_t)-1;
    char cs[64];
    str_copy(cs, *charset ? charset : "us-ascii", sizeof(cs));
    char *star = strchr(cs, '*');
    if (star)
        *star = '\0';
    c->cd = iconv_open("UTF-8", strcasecmp(cs, "us-ascii") == 0 ? "UTF-8" : cs);
}

static void conv_close(struct conv *c)
{
    if (c->cd != (iconv_t)-1)
        iconv_close(c->cd);
    c->cd = (iconv_t)-1;
}

static void deliver(struct mime_parser *m, const struct level *l, const char *data, size_t n)
{
    if (n > 0 && m->cb.part_body)
        m->cb.part_body(m->ctx, &l->part, data, n);
}

/* Convert and deliver; at_end flushes an incomplete sequence as U+FFFD. */
static void conv_out(struct mime_parser *m, struct level *l, const char *data, size_t n,
                     int at_end)
{
    struct conv *c = &l->conv;
    if (c->cd == (iconv_t)-1) {
        struct buf b;
        buf_init(&b, 0);
        charset_to_utf8("utf-8", data, n, &b);
        deliver(m, l, b.data, b.len);
        buf_free(&b);
        return;
    }
    char in[OUT_CHUNK + sizeof(c->carry)], out[OUT_CHUNK * 4];
    while (n > 0 || (at_end && c->ncarry > 0)) {
        size_t take = n < OUT_CHUNK ? n : OUT_CHUNK;
        memcpy(in, c->carry, c->ncarry);
        memcpy(in + c->ncarry, data, take);
        size_t ileft = c->ncarry + take;
        data += take;
        n -= take;
        c->ncarry = 0;
        char *ip = in;
        while (ileft > 0) {
            char *op = out;
            size_t oleft = sizeof(out);
            size_t r = iconv(c->cd, &ip, &ileft, &op, &oleft);
            int err = r == (size_t)-1 ? errno : 0;
            deliver(m, l, out, sizeof(out) - oleft);
            if (err == EINVAL && !(at_end && n == 0) && ileft < sizeof(c->carry)) {
                memcpy(c->carry, ip, ileft);      /* incomplete: wait for more */
                c->ncarry = ileft;
                break;
            }
            if (err == EILSEQ || err == EINVAL) {
                deliver(m, l, "\xef\xbf\xbd", 3);
                ip++;
                ileft--;
            } else if (err && err != E2BIG) {
                break;
            }
        }
    }
}

static void out_decoded(struct mime_parser *m, struct level *l, const char *data, size_t n)
{
    if (l->text)
        conv_out(m, l, data, n, 0);
    else
        deliver(m, l, data, n);
}

/* Body bytes of the deepest level: decode as its encoding says. is_eol: a line end. */
static void body_out(struct mime_parser *m, struct level *l, const char *data, size_t n,
                     int is_eol)
{
    if (!(m->flags & MIME_DECODE)) {
        deliver(m, l, data, n);
        return;
    }
    char out[OUT_CHUNK];
    size_t o = 0;
    if (l->part.cte == MIME_BASE64) {
        for (size_t i = 0; i < n; i++) {
            int v = base64_value((unsigned char)data[i]);
            if (v < 0)
                continue;            /* line ends, padding and garbage are skipped */
            l->b64_acc = (l->b64_acc << 6) | (unsigned)v;
            l->b64_bits += 6;
            if (l->b64_bits >= 8) {
                l->b64_bits -= 8;
                out[o++] = (char)((l->b64_acc >> l->b64_bits) & 0xff);
                if (o == sizeof(out)) {
                    out_decoded(m, l, out, o);
                    o = 0;
                }
            }
        }
        out_decoded(m, l, out, o);
        return;
    }
    if (l->part.cte != MIME_QP) {
        out_decoded(m, l, data, n);
        return;
    }
    if (is_eol) {
        if (!l->qp_soft)
            out_decoded(m, l, data, n);
        l->qp_soft = 0;
        return;
    }
    /* trailing white space of a line is not content (RFC 2045 6.7 (3)) */
    while (n > 0 && (data[n - 1] == ' ' || data[n - 1] == '\t' || data[n - 1] == '\r'))
        n--;
    l->qp_soft = n > 0 && data[n - 1] == '=';
    if (l->qp_soft)
        n--;
    for (size_t i = 0; i < n; i++) {
        char c = data[i];
        int hi, lo;
        if (c == '=' && i + 2 < n &&
            (hi = hex_value((unsigned char)data[i + 1])) >= 0 &&
            (lo = hex_value((unsigned char)data[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        out[o++] = c;
        if (o == sizeof(out)) {
            out_decoded(m, l, out, o);
            o = 0;
        }
    }
    out_decoded(m, l, out, o);
}

/* ---- the body regions of the open levels ---- */

static int is_leaf(const struct level *l)
{
    return !l->part.multipart && !l->part.message;
}

static void commit_held(struct mime_parser *m, struct level *l, int deepest)
{
    if (l->nheld == 0)
        return;
    if (deepest && is_leaf(l))
        body_out(m, l, l->held, l->nheld, 1);
    l->cend += l->nheld;
    l->nlf += l->held[l->nheld - 1] == '\n';
    l->nbare += l->nheld == 1 && l->held[0] == '\n' && !l->last_cr;
    l->last_lf = l->held[l->nheld - 1] == '\n';
    l->last_cr = 0;
    l->nheld = 0;
}

/* A line (content + line end) in the body of levels 0..hi. */
static void account(struct mime_parser *m, int hi, const char *data, size_t clen, size_t elen)
{
    for (int i = 0; i <= hi; i++) {
        struct level *l = &m->lv[i];
        INVARIANT(!l->in_header);
        int deepest = i == m->top;
        commit_held(m, l, deepest);
        if (clen > 0) {
            if (deepest && is_leaf(l))
                body_out(m, l, data, clen, 0);
            l->cend += clen;
            l->last_lf = 0;
            l->last_cr = data[clen - 1] == '\r';
        }
        memcpy(l->held, data + clen, elen);
        l->nheld = elen;
        l->held_boundary_eol = 0;
    }
}

static void close_level(struct mime_parser *m, int i, int drop_held)
{
    struct level *l = &m->lv[i];
    if (!drop_held)
        commit_held(m, l, i == m->top);
    l->nheld = 0;
    if (l->text && is_leaf(l) && (m->flags & MIME_DECODE))
        conv_out(m, l, "", 0, 1);
    conv_close(&l->conv);
    l->part.end_offset = l->cend;
    l->part.lines = l->nlf + (l->cend > l->part.body_offset && !l->last_lf);
    l->part.body_lf = l->nlf;
    l->part.body_bare_lf = l->nbare;
    if (m->cb.part_end)
        m->cb.part_end(m->ctx, &l->part);
    buf_free(&l->hdr);
}

/* ---- headers ---- */

static void unfold_value(const struct hdr_field *f, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    hdr_unfold(f, &b);
    str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
}

static void token_lower(const char **p, char *out, size_t outlen)
{
    size_t n = 0;
    while (**p && (isalnum((unsigned char)**p) || strchr("!#$%&'*+-.^_`{|}~", **p))) {
        if (n + 1 < outlen)
            out[n++] = (char)tolower((unsigned char)**p);
        (*p)++;
    }
    out[n] = '\0';
}

static void param_into(const struct hdr_field *f, const char *name, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    if (mime_param(f->value, f->value_len, name, &b) == 1)
        str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
}

static void content_type(struct mime_part *p, const struct hdr_field *f)
{
    char v[256];
    unfold_value(f, v, sizeof(v));
    const char *s = v;
    char type[64], sub[64];
    token_lower(&s, type, sizeof(type));
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s != '/')
        return;                      /* malformed: the default stays (RFC 2045 5.2) */
    s++;
    while (*s == ' ' || *s == '\t')
        s++;
    token_lower(&s, sub, sizeof(sub));
    if (!*type || !*sub)
        return;
    str_copy(p->type, type, sizeof(p->type));
    str_copy(p->subtype, sub, sizeof(p->subtype));
    param_into(f, "charset", p->charset, sizeof(p->charset));
    param_into(f, "boundary", p->boundary, sizeof(p->boundary));
    if (!p->filename[0])
        param_into(f, "name", p->filename, sizeof(p->filename));
}

static void content_cte(struct mime_part *p, const struct hdr_field *f)
{
    char v[64];
    unfold_value(f, v, sizeof(v));
    static const struct { const char *name; enum mime_cte cte; } t[] = {
        {"7bit", MIME_7BIT}, {"8bit", MIME_8BIT}, {"binary", MIME_BINARY},
        {"quoted-printable", MIME_QP}, {"base64", MIME_BASE64},
    };
    char *semi = strpbrk(v, " \t;(");
    if (semi)
        *semi = '\0';
    p->cte = MIME_CTE_OTHER;
    for (size_t i = 0; i < ARRAY_LEN(t); i++)
        if (strcasecmp(v, t[i].name) == 0)
            p->cte = t[i].cte;
}

static void content_disposition(struct mime_part *p, const struct hdr_field *f)
{
    char v[256];
    unfold_value(f, v, sizeof(v));
    const char *s = v;
    token_lower(&s, p->disposition, sizeof(p->disposition));
    char name[256] = "";
    param_into(f, "filename", name, sizeof(name));
    if (name[0])
        str_copy(p->filename, name, sizeof(p->filename));
}

static void parse_part_header(struct level *l, const struct level *parent, int imap)
{
    struct mime_part *p = &l->part;
    int digest = parent && parent->part.multipart && strcmp(parent->part.subtype, "digest") == 0;
    str_copy(p->type, digest ? "message" : "text", sizeof(p->type));
    str_copy(p->subtype, digest ? "rfc822" : "plain", sizeof(p->subtype));
    const char *h = l->hdr.data ? l->hdr.data : "";
    size_t hl = l->hdr.len;
    if (l->part.depth == 0 && hl >= 5 && memcmp(h, "From ", 5) == 0) {
        const char *lf = memchr(h, '\n', hl);     /* the mbox "From " line */
        size_t skip = lf ? (size_t)(lf - h) + 1 : hl;
        h += skip;
        hl -= skip;
    }
    struct hdr_reader r;
    struct hdr_field f;
    hdr_reader_init(&r, h, hl, 0, 0);
    for (;;) {
        while (hdr_next(&r, &f)) {
            if (hdr_name_is(&f, "Content-Type"))
                content_type(p, &f);
            else if (hdr_name_is(&f, "Content-Transfer-Encoding"))
                content_cte(p, &f);
            else if (hdr_name_is(&f, "Content-Disposition"))
                content_disposition(p, &f);
        }
        /* MIME_IMAP: a line that is not a field is skipped, the header goes on */
        const char *lf = r.status == HDR_END_BODY && imap ? memchr(r.p, '\n', (size_t)(r.end - r.p))
                                                          : NULL;
        if (!lf)
            break;
        hdr_reader_init(&r, lf + 1, (size_t)(r.end - lf - 1), 0, 0);
    }
    /* a filename may be an RFC 2047 word (not standard, but everywhere) */
    if (strstr(p->filename, "=?")) {
        struct buf b;
        buf_init(&b, sizeof(p->filename) * 4);
        hdr_decode_words(p->filename, strlen(p->filename), &b);
        str_copy(p->filename, buf_cstr(&b), sizeof(p->filename));
        buf_free(&b);
    }
}

static void open_level(struct mime_parser *m, int i, size_t header_offset)
{
    INVARIANT(i <= MIME_DEPTH_MAX);
    struct level *l = &m->lv[i];
    memset(l, 0, sizeof(*l));
    l->conv.cd = (iconv_t)-1;
    buf_init(&l->hdr, MIME_HEADER_MAX);
    l->in_header = 1;
    l->part.depth = i;
    l->part.index = m->nparts++;
    l->part.header_offset = header_offset;
    m->top = i;
}

/* The header section of the deepest level is complete; its body starts at body_offset. */
static void end_header(struct mime_parser *m, size_t body_offset)
{
    int i = m->top;
    struct level *l = &m->lv[i];
    parse_part_header(l, i > 0 ? &m->lv[i - 1] : NULL, (m->flags & MIME_IMAP) != 0);
    l->in_header = 0;
    l->part.body_offset = l->cend = body_offset;
    struct mime_part *p = &l->part;
    int room = i < MIME_DEPTH_MAX;
    if (strcmp(p->type, "multipart") == 0 && p->boundary[0]) {
        p->multipart = room;
    } else if (strcmp(p->type, "message") == 0 &&
               ((m->flags & MIME_IMAP) ? strcmp(p->subtype, "rfc822") == 0
                                       : (strcmp(p->subtype, "rfc822") == 0 ||
                                          strcmp(p->subtype, "global") == 0) &&
                                         p->cte != MIME_BASE64 && p->cte != MIME_QP)) {
        p->message = room && m->nparts < MIME_PARTS_MAX;
        if (room && !p->message)
            m->hit |= MIME_HIT_PARTS;
    }
    if (!room && (strcmp(p->type, "multipart") == 0 || strcmp(p->type, "message") == 0))
        m->hit |= MIME_HIT_DEPTH;
    if (!p->multipart)
        p->boundary[0] = '\0';
    l->text = is_leaf(l) && (m->flags & MIME_UTF8) && strcmp(p->type, "text") == 0;
    if (l->text)
        conv_open(&l->conv, p->charset);
    p->header = l->hdr.data ? l->hdr.data : "";
    p->header_len = l->hdr.len;
    if (m->cb.part_start)
        m->cb.part_start(m->ctx, p);
    p->header = NULL;
    p->header_len = 0;
    buf_free(&l->hdr);
    if (p->message)
        open_level(m, i + 1, body_offset);
}

/* A line while the deepest level reads its header. 1 when the line was taken. */
static int header_line(struct mime_parser *m, const char *data, size_t len, size_t clen,
                       size_t start)
{
    struct level *l = &m->lv[m->top];
    if (clen == 0 && len > 0) {                 /* the empty line */
        if (m->top > 0)
            account(m, m->top - 1, data, clen, len - clen);
        l->blank_eol = len;
        end_header(m, start + len);
        return 1;
    }
    int field = hdr_field_name_len(data, clen) > 0;
    int cont = l->hdr.len > 0 && clen > 0 && (data[0] == ' ' || data[0] == '\t');
    /* an mbox "From " line before the message's first field is part of its header */
    field |= m->top == 0 && start == 0 && clen >= 5 && memcmp(data, "From ", 5) == 0;
    if (!field && !cont && !(m->flags & MIME_IMAP)) {
        end_header(m, start);                   /* no empty line: the body starts here */
        return 0;
    }
    if (buf_append(&l->hdr, data, len) < 0) {
        m->hit |= MIME_HIT_HEADER;
        end_header(m, start);
        return 0;
    }
    if (m->top > 0)
        account(m, m->top - 1, data, clen, len - clen);
    l->hdr_eol = len - clen;
    return 1;
}

/* ---- boundaries ---- */

/* Is the line a boundary of level i? 1 delimiter, 2 close delimiter, 0 no.
 * prefix (MIME_IMAP): anything may follow the boundary. */
static int boundary_of(const struct level *l, const char *data, size_t clen, int prefix)
{
    size_t bl = strlen(l->part.boundary);
    if (clen < bl + 2 || data[0] != '-' || data[1] != '-' ||
        memcmp(data + 2, l->part.boundary, bl) != 0)
        return 0;
    const char *p = data + 2 + bl, *end = data + clen;
    int close = end - p >= 2 && p[0] == '-' && p[1] == '-';
    if (close)
        p += 2;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
        p++;
    return p == end || prefix ? 1 + close : 0;
}

static int find_boundary(const struct mime_parser *m, const char *data, size_t clen, int *close)
{
    if (clen < 2 || data[0] != '-' || data[1] != '-')
        return -1;
    int prefix = (m->flags & MIME_IMAP) != 0, found = -1;
    size_t found_len = 0;
    for (int i = m->top; i >= 0; i--) {
        const struct level *l = &m->lv[i];
        if (l->in_header || !l->part.multipart || l->closed)
            continue;
        int b = boundary_of(l, data, clen, prefix);
        if (!b)
            continue;
        if (!prefix) {
            *close = b == 2;
            return i;
        }
        size_t bl = strlen(l->part.boundary);
        if (found < 0 || bl > found_len) {      /* the longest match, innermost first */
            found = i;
            found_len = bl;
            *close = b == 2;
        }
    }
    return found;
}

static void on_boundary(struct mime_parser *m, int L, int close, const char *data, size_t clen,
                        size_t elen, size_t start)
{
    /* The line end before a boundary belongs to the boundary, except (MIME_IMAP,
     * as Dovecot counts) when it ends a boundary line of the part being closed:
     * then it stays in that part and the parts around it that close too. */
    int keep = 0, imap = (m->flags & MIME_IMAP) != 0;
    while (m->top > L) {
        struct level *l = &m->lv[m->top];
        /* a part that ends before its header did: empty body */
        size_t cut = l->in_header ? l->hdr_eol : 0;
        while (m->lv[m->top].in_header)
            end_header(m, start);
        if (!cut && l->cend == l->part.body_offset && l->nheld == 0)
            cut = l->blank_eol;                 /* an empty body right after the header */
        if (imap && cut && !keep) {
            /* Dovecot: the header's last line end is the boundary's; the part
             * around gets it */
            l->part.body_offset -= cut;
            l->cend = l->part.body_offset;
            keep = 1;
        } else {
            keep |= imap && l->held_boundary_eol;
        }
        close_level(m, m->top, !keep);
        m->top--;
    }
    account(m, L, data, clen, elen);
    m->lv[L].held_boundary_eol = 1;
    if (close) {
        m->lv[L].closed = 1;
        return;
    }
    if (m->nparts >= MIME_PARTS_MAX) {
        m->hit |= MIME_HIT_PARTS;
        m->lv[L].closed = 1;                    /* the rest is the multipart's epilogue */
        return;
    }
    open_level(m, L + 1, m->offset);
}

/* ---- lines ---- */

static void process_line(struct mime_parser *m, const char *data, size_t len, int has_eol)
{
    size_t start = m->offset;
    m->offset += len;
    size_t clen = len;
    if (has_eol) {
        clen--;
        if (clen > 0 && data[clen - 1] == '\r')
            clen--;
    }
    int cont = m->line_cont;
    m->line_cont = !has_eol;
    int close;
    int L = cont ? -1 : find_boundary(m, data, clen, &close);
    if (L >= 0) {
        on_boundary(m, L, close, data, clen, len - clen, start);
        return;
    }
    /* Each pass ends a header section or takes the line; a message/rfc822 part
     * opens a deeper level (bounded by MIME_DEPTH_MAX) whose header may take it. */
    while (m->lv[m->top].in_header) {
        if (!cont && header_line(m, data, len, clen, start))
            return;
        if (m->lv[m->top].in_header && cont)
            end_header(m, start);            /* a piece of an over-long header line */
    }
    account(m, m->top, data, clen, len - clen);
}

struct mime_parser *mime_parser_new(int flags, const struct mime_callbacks *cb, void *ctx)
{
    struct mime_parser *m = xcalloc(1, sizeof(*m));
    m->flags = flags & MIME_UTF8 ? flags | MIME_DECODE : flags;
    if (cb)
        m->cb = *cb;
    m->ctx = ctx;
    buf_init(&m->line, MIME_LINE_MAX + 1);
    open_level(m, 0, 0);
    return m;
}

void mime_feed(struct mime_parser *m, const char *data, size_t len)
{
    INVARIANT(!m->finished);
    while (len > 0) {
        const char *lf = memchr(data, '\n', len);
        size_t n = lf ? (size_t)(lf - data) + 1 : len;
        if (m->line.len == 0 && lf) {
            process_line(m, data, n, 1);       /* whole line in the input: no copy */
        } else {
            size_t room = MIME_LINE_MAX - m->line.len;
            size_t take = n < room ? n : room;
            buf_append(&m->line, data, take);
            n = take;
            int eol = m->line.data[m->line.len - 1] == '\n';
            if (eol || m->line.len >= MIME_LINE_MAX) {
                process_line(m, m->line.data, m->line.len, eol);
                buf_reset(&m->line);
            }
        }
        data += n;
        len -= n;
    }
}

void mime_finish(struct mime_parser *m)
{
    if (m->finished)
        return;
    if (m->line.len > 0)
        process_line(m, m->line.data, m->line.len, 0);
    buf_reset(&m->line);
    while (m->lv[m->top].in_header)             /* the input ended in a header section */
        end_header(m, m->offset);
    for (; m->top >= 0; m->top--)
        close_level(m, m->top, 0);
    m->top = 0;
    m->finished = 1;
}

int mime_limits_hit(const struct mime_parser *m)
{
    return m->hit;
}

size_t mime_parts(const struct mime_parser *m)
{
    return m->nparts;
}

int mime_next_in_header(const struct mime_parser *m, int *depth, int *nested)
{
    const struct level *l = &m->lv[m->top];
    *depth = m->top;
    *nested = m->top > 0 && m->lv[m->top - 1].part.message;
    return l->in_header && !m->line_cont && m->line.len == 0;
}

void mime_parser_free(struct mime_parser *m)
{
    if (!m)
        return;
    if (!m->finished)
        for (int i = 0; i <= m->top; i++) {
            conv_close(&m->lv[i].conv);
            buf_free(&m->lv[i].hdr);
        }
    buf_free(&m->line);
    free(m);
}

/* ---- parameters ---- */

/* Skip white space and (nested) comments. */
static const char *skip_cfws(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (*p == '(')
            depth++;
        else if (*p == ')' && depth > 0)
            depth--;
        else if (*p == '\\' && depth > 0 && p + 1 < end)
            p++;
        else if (!depth && !isspace((unsigned char)*p))
            break;
        p++;
    }
    return p;
}

/* One parameter value (token or quoted string) into v. */
static const char *param_value(const char *p, const char *end, struct buf *v)
{
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end)
                p++;
            if (*p != '\r' && *p != '\n')
                buf_putc(v, *p);
        }
        return p < end ? p + 1 : p;
    }
    while (p < end && *p != ';' && !isspace((unsigned char)*p) && *p != '(')
        buf_putc(v, *p++);
    return p;
}

/* RFC 2231 extended value "charset'lang'%XX..." (or a continuation's %XX) to UTF-8. */
static int ext_value(const char *v, size_t n, int first, char *charset, size_t cslen,
                     struct buf *raw)
{
    const char *p = v, *end = v + n;
    if (first) {
        const char *q1 = memchr(p, '\'', n);
        const char *q2 = q1 ? memchr(q1 + 1, '\'', (size_t)(end - q1 - 1)) : NULL;
        if (!q2)
            return -1;
        size_t cl = (size_t)(q1 - p) < cslen ? (size_t)(q1 - p) : cslen - 1;
        memcpy(charset, p, cl);
        charset[cl] = '\0';
        p = q2 + 1;
    }
    for (; p < end; p++) {
        int hi, lo;
        if (*p == '%' && end - p >= 3 && (hi = hex_value((unsigned char)p[1])) >= 0 &&
            (lo = hex_value((unsigned char)p[2])) >= 0) {
            if (buf_putc(raw, (char)(hi * 16 + lo)) < 0)
                return -1;
            p += 2;
        } else if (buf_putc(raw, *p) < 0) {
            return -1;
        }
    }
    return 0;
}

#define PARAM_SECTIONS 64

int mime_param(const char *value, size_t len, const char *name, struct buf *out)
{
    const char *p = value, *end = value + len;
    size_t nl = strlen(name);
    struct buf plain, raw, sect[PARAM_SECTIONS];
    int have_plain = 0, have_sect = 0, ext[PARAM_SECTIONS];
    size_t nsect = 0;
    char charset[64] = "";
    buf_init(&plain, 64 * 1024);
    for (size_t i = 0; i < PARAM_SECTIONS; i++) {
        buf_init(&sect[i], 64 * 1024);
        ext[i] = -1;
    }
    /* skip the type/subtype (or disposition) */
    while (p < end && *p != ';')
        p++;
    while (p < end) {
        p = skip_cfws(p + (*p == ';'), end);
        const char *k = p;
        while (p < end && *p != '=' && *p != ';' && !isspace((unsigned char)*p))
            p++;
        size_t kl = (size_t)(p - k);
        p = skip_cfws(p, end);
        if (p >= end || *p != '=') {
            while (p < end && *p != ';')
                p++;
            continue;
        }
        p = skip_cfws(p + 1, end);
        struct buf v;
        buf_init(&v, 64 * 1024);
        p = param_value(p, end, &v);
        if (kl == nl && strncasecmp(k, name, nl) == 0 && !have_plain) {
            buf_append(&plain, buf_cstr(&v), v.len);
            have_plain = 1;
        } else if (kl > nl && strncasecmp(k, name, nl) == 0 && k[nl] == '*') {
            /* name*, name*0, name*0*, name*1 ... */
            const char *s = k + nl + 1, *kend = k + kl;
            size_t idx = 0;
            int star_ext = 0, digits = 0;
            while (s < kend && isdigit((unsigned char)*s) && idx < PARAM_SECTIONS) {
                idx = idx * 10 + (size_t)(*s++ - '0');
                digits = 1;
            }
            if (s < kend && *s == '*') {
                star_ext = 1;
                s++;
            }
            if (!digits)
                star_ext = 1;            /* "name*=" is an extended single value */
            if (s == kend && idx < PARAM_SECTIONS && ext[idx] < 0) {
                buf_append(&sect[idx], buf_cstr(&v), v.len);
                ext[idx] = star_ext;
                have_sect = 1;
                if (idx + 1 > nsect)
                    nsect = idx + 1;
            }
        }
        buf_free(&v);
        while (p < end && *p != ';')
            p++;
    }
    int rc = 0;
    if (have_sect) {
        buf_init(&raw, 64 * 1024);
        for (size_t i = 0; i < nsect && ext[i] >= 0; i++) {
            if (ext[i])
                ext_value(buf_cstr(&sect[i]), sect[i].len, i == 0, charset, sizeof(charset),
                          &raw);
            else
                buf_append(&raw, buf_cstr(&sect[i]), sect[i].len);
        }
        if (charset_to_utf8(*charset ? charset : "utf-8", buf_cstr(&raw), raw.len, out) < 0)
            charset_to_utf8("utf-8", buf_cstr(&raw), raw.len, out);
        buf_free(&raw);
        rc = 1;
    } else if (have_plain) {
        rc = buf_append(out, buf_cstr(&plain), plain.len) < 0 ? -1 : 1;
    }
    buf_free(&plain);
    for (size_t i = 0; i < PARAM_SECTIONS; i++)
        buf_free(&sect[i]);
    return rc;
}
