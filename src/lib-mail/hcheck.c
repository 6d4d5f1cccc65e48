/*
 * hcheck.c - see hcheck.h.
 */
#include "lib-mail/hcheck.h"
#include "lib-mail/header.h"
#include "lib-mail/mime.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct hcheck {
    struct hc_ops ops;
    void *ctx;
    size_t body_limit;
    struct mime_parser *mp;
    struct buf line;                 /* the physical line being assembled */
    int piece;                       /* the current line was passed on in pieces */
    int piece_header;                /* ... and it is a header line */
    struct buf hdr;                  /* the logical header being assembled */
    int hdr_cls;                     /* its enum hc_class, or -1 when it is not inspected */
    int hdr_raw;                     /* the current header was too long: passed on as it comes */
    size_t body_bytes;               /* body bytes of the current part inspected */
    int stopped;                     /* REJECT or DISCARD: nothing more is looked up */
    int out_err;
    struct buf result;
    struct hc_verdict v;
};

const char *hcheck_class_name(enum hc_class cls)
{
    switch (cls) {
    case HC_HEADER: return "header_checks";
    case HC_MIME_HEADER: return "mime_header_checks";
    case HC_NESTED_HEADER: return "nested_header_checks";
    case HC_BODY: return "body_checks";
    }
    return "?";
}

struct hcheck *hcheck_new(const struct hc_ops *ops, void *ctx, size_t body_limit)
{
    struct hcheck *h = xcalloc(1, sizeof(*h));
    h->ops = *ops;
    h->ctx = ctx;
    h->body_limit = body_limit;
    h->mp = mime_parser_new(0, NULL, NULL);
    buf_init(&h->line, HC_LINE_MAX + 1);
    buf_init(&h->hdr, HC_HEADER_MAX + 1);
    buf_init(&h->result, 4096);
    h->hdr_cls = -1;
    return h;
}

void hcheck_free(struct hcheck *h)
{
    if (!h)
        return;
    mime_parser_free(h->mp);
    buf_free(&h->line);
    buf_free(&h->hdr);
    buf_free(&h->result);
    free(h->v.filter);
    free(h->v.redirect);
    for (size_t i = 0; i < h->v.nbcc; i++)
        free(h->v.bcc[i]);
    free(h->v.bcc);
    free(h);
}

const struct hc_verdict *hcheck_verdict(const struct hcheck *h)
{
    return &h->v;
}

static void emit(struct hcheck *h, const char *data, size_t len)
{
    if (!h->out_err && len && h->ops.emit(h->ctx, data, len) < 0)
        h->out_err = 1;
}

/* ---- actions ---- */

/* "5.7.1 text" from an action's text: its own DSN code when it starts with one. */
static void dsn_text(char *out, size_t outlen, const char *text, const char *deftext)
{
    const char *t = *text ? text : deftext;
    size_t i = 0;
    int ok = isdigit((unsigned char)t[i]) && t[++i] == '.';
    for (int part = 0; ok && part < 2; part++) {
        size_t d = 0;
        while (isdigit((unsigned char)t[i + 1 + d]) && d < 3)
            d++;
        ok = d > 0 && (part == 1 || t[i + 1 + d] == '.');
        i += 1 + d;
    }
    if (ok && (t[i] == ' ' || t[i] == '\0')) {
        str_copy(out, t, outlen);
        if (out[0] != '4' && out[0] != '5') {
            msg_warn("header/body checks: bad DSN class in \"%s\" - need 4.x.x or 5.x.x", t);
            out[0] = '4';
        }
        return;
    }
    str_fmt(out, outlen, "5.7.1 %s", t);
}

/* The matched text for a log line: control characters as spaces, at most 200 bytes. */
static void log_action(struct hcheck *h, const char *action, enum hc_class cls, const char *text,
                       const char *opt)
{
    if (!h->ops.log)
        return;
    char shown[201];
    size_t n = 0;
    for (; text[n] && n < sizeof(shown) - 1; n++)
        shown[n] = (unsigned char)text[n] < 32 || text[n] == 127 ? ' ' : text[n];
    shown[n] = '\0';
    h->ops.log(h->ctx, action, cls == HC_BODY ? "body" : "header", shown, opt);
}

static int is_header_text(const char *t)
{
    return hdr_field_name_len(t, strlen(t)) > 0;
}

enum line_fate { LINE_KEEP, LINE_DROP, LINE_REPLACE, LINE_PREPEND };

static char *dup_word(const char *s)
{
    size_t n = strcspn(s, " \t");
    return n ? xstrndup(s, n) : NULL;
}

/* Apply one table result to the verdict; what becomes of the line. */
static enum line_fate apply(struct hcheck *h, enum hc_class cls, const char *text, const char *res,
                            const char **repl)
{
    size_t wl = strcspn(res, " \t");
    const char *opt = res + wl;
    while (*opt == ' ' || *opt == '\t')
        opt++;
#define IS(w) (wl == sizeof(w) - 1 && strncasecmp(res, w, wl) == 0)
    if (IS("REJECT")) {
        dsn_text(h->v.reject_text, sizeof(h->v.reject_text), opt, "message content rejected");
        h->v.reject = h->v.reject_text[0] == '4' ? 4 : 5;
        h->stopped = 1;
        log_action(h, "reject", cls, text, h->v.reject_text);
    } else if (IS("DISCARD")) {
        h->v.discard = 1;
        str_copy(h->v.discard_text, opt, sizeof(h->v.discard_text));
        h->stopped = 1;
        log_action(h, "discard", cls, text, opt);
    } else if (IS("HOLD")) {
        h->v.hold = 1;
        str_copy(h->v.hold_text, opt, sizeof(h->v.hold_text));
        log_action(h, "hold", cls, text, opt);
    } else if (IS("WARN")) {
        log_action(h, "warning", cls, text, opt);
    } else if (IS("INFO")) {
        log_action(h, "info", cls, text, opt);
    } else if (IS("IGNORE")) {
        return LINE_DROP;
    } else if (IS("STRIP")) {
        log_action(h, "strip", cls, text, opt);
        return LINE_DROP;
    } else if (IS("FILTER") || IS("REDIRECT") || IS("BCC")) {
        char *w = dup_word(opt);
        if (!w || (IS("FILTER") && !strchr(w, ':'))) {
            msg_warn("%s: bad %.*s action: \"%s\"", hcheck_class_name(cls), (int)wl, res, opt);
            free(w);
            return LINE_KEEP;
        }
        if (IS("FILTER")) {
            free(h->v.filter);
            h->v.filter = w;
            log_action(h, "filter", cls, text, w);
        } else if (IS("REDIRECT")) {
            free(h->v.redirect);
            h->v.redirect = w;
            log_action(h, "redirect", cls, text, w);
        } else if (h->v.nbcc < HC_BCC_MAX) {
            h->v.bcc = xrealloc(h->v.bcc, (h->v.nbcc + 1) * sizeof(*h->v.bcc));
            h->v.bcc[h->v.nbcc++] = w;
        } else {
            free(w);
        }
    } else if (IS("PREPEND") || IS("REPLACE")) {
        if (!*opt || (cls != HC_BODY && !is_header_text(opt))) {
            msg_warn("%s: bad %.*s text: \"%s\"", hcheck_class_name(cls), (int)wl, res, opt);
            return LINE_KEEP;
        }
        *repl = opt;
        return IS("PREPEND") ? LINE_PREPEND : LINE_REPLACE;
    } else if (!IS("DUNNO") && !IS("OK")) {
        msg_warn("%s: unknown action: \"%s\"", hcheck_class_name(cls), res);
    }
#undef IS
    return LINE_KEEP;
}

/* Inspect text (a logical header or body line without its final line end), then
 * pass on raw[0..rawlen) (the same with line ends) as the action says. */
static void inspect(struct hcheck *h, enum hc_class cls, const char *text, const char *raw,
                    size_t rawlen)
{
    enum line_fate fate = LINE_KEEP;
    const char *repl = NULL;
    if (!h->stopped) {
        buf_reset(&h->result);
        int r = h->ops.lookup(h->ctx, cls, text, &h->result);
        if (r < 0 && !h->v.lookup_error) {
            h->v.lookup_error = 1;
            str_copy(h->v.error_class, hcheck_class_name(cls), sizeof(h->v.error_class));
        } else if (r > 0) {
            fate = apply(h, cls, text, buf_cstr(&h->result), &repl);
        }
    }
    if (fate == LINE_PREPEND || fate == LINE_REPLACE) {
        emit(h, repl, strlen(repl));
        emit(h, "\n", 1);
    }
    if (fate == LINE_KEEP || fate == LINE_PREPEND)
        emit(h, raw, rawlen);
}

/* ---- headers ---- */

static int is_mime_header(const char *t)
{
    return strncasecmp(t, "Content-", 8) == 0 || strncasecmp(t, "MIME-Version:", 13) == 0;
}

/* The pending logical header is complete. */
static void finish_header(struct hcheck *h)
{
    if (h->hdr.len == 0)
        return;
    if (h->hdr_cls < 0) {
        emit(h, h->hdr.data, h->hdr.len);
    } else {
        size_t n = h->hdr.len;
        while (n > 0 && (h->hdr.data[n - 1] == '\n' || h->hdr.data[n - 1] == '\r'))
            n--;
        char *text = xstrndup(h->hdr.data, n);
        inspect(h, (enum hc_class)h->hdr_cls, text, h->hdr.data, h->hdr.len);
        free(text);
    }
    buf_reset(&h->hdr);
}

static void start_header(struct hcheck *h, const char *p, size_t n, int depth, int nested)
{
    h->hdr_raw = 0;
    if (is_mime_header(p))
        h->hdr_cls = HC_MIME_HEADER;
    else if (depth == 0)
        h->hdr_cls = HC_HEADER;
    else if (nested)
        h->hdr_cls = HC_NESTED_HEADER;
    else
        h->hdr_cls = -1;
    buf_append(&h->hdr, p, n);
}

/* Add to the pending header; one that grows too long goes out unchecked. */
static void add_to_header(struct hcheck *h, const char *p, size_t n)
{
    if (h->hdr_raw) {
        emit(h, p, n);
        return;
    }
    if (h->hdr.len + n > HC_HEADER_MAX) {
        emit(h, h->hdr.data, h->hdr.len);
        buf_reset(&h->hdr);
        emit(h, p, n);
        h->hdr_raw = 1;
        return;
    }
    buf_append(&h->hdr, p, n);
}

/* A header-section line (or the first piece of one) p[0..n) with its line end. */
static void header_line(struct hcheck *h, const char *p, size_t n, int first, int depth,
                        int nested)
{
    int fold = n > 0 && (p[0] == ' ' || p[0] == '\t');
    if (!first || (fold && (h->hdr.len || h->hdr_raw))) {
        add_to_header(h, p, n);
        return;
    }
    finish_header(h);
    h->hdr_raw = 0;
    if (hdr_field_name_len(p, n) > 0)
        start_header(h, p, n, depth, nested);
    else
        emit(h, p, n);                   /* the empty line, or a line that is no field */
}

/* ---- body ---- */

static void body_line(struct hcheck *h, const char *p, size_t n, int first)
{
    finish_header(h);
    size_t tl = n;
    while (tl > 0 && (p[tl - 1] == '\n' || p[tl - 1] == '\r'))
        tl--;
    if (!first || h->body_bytes >= h->body_limit) {
        emit(h, p, n);
        return;
    }
    h->body_bytes += n;
    char *text = xstrndup(p, tl);
    inspect(h, HC_BODY, text, p, n);
    free(text);
}

/* ---- input ---- */

/* One physical line, or a piece of a long one (eol: it ends the line). */
static void one_line(struct hcheck *h, const char *p, size_t n, int eol)
{
    int first = !h->piece, depth = 0, nested = 0;
    if (first) {
        h->piece_header = mime_next_in_header(h->mp, &depth, &nested);
        if (h->piece_header)
            h->body_bytes = 0;
    }
    if (h->piece_header)
        header_line(h, p, n, first, depth, nested);
    else
        body_line(h, p, n, first);
    mime_feed(h->mp, p, n);
    h->piece = !eol;
}

int hcheck_feed(struct hcheck *h, const char *data, size_t len)
{
    while (len > 0) {
        const char *lf = memchr(data, '\n', len);
        size_t take = lf ? (size_t)(lf - data) + 1 : len;
        size_t room = HC_LINE_MAX - h->line.len;
        if (take > room)
            take = room;
        if (h->line.len == 0 && lf && take == (size_t)(lf - data) + 1) {
            one_line(h, data, take, 1);          /* a whole line: no copy */
        } else {
            buf_append(&h->line, data, take);
            int eol = h->line.data[h->line.len - 1] == '\n';
            if (eol || h->line.len >= HC_LINE_MAX) {
                one_line(h, h->line.data, h->line.len, eol);
                buf_reset(&h->line);
            }
        }
        data += take;
        len -= take;
    }
    return h->out_err ? -1 : 0;
}

int hcheck_finish(struct hcheck *h)
{
    if (h->line.len) {
        one_line(h, h->line.data, h->line.len, 1);
        buf_reset(&h->line);
    }
    finish_header(h);
    mime_finish(h->mp);
    return h->out_err ? -1 : 0;
}
