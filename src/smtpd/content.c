/*
 * content.c - see content.h.
 */
#include "smtpd/content.h"

#include <string.h>
#include <strings.h>

void smtpd_data_decoder_init(struct data_decoder *d, enum bare_nl_policy policy,
                       content_sink sink, void *arg)
{
    memset(d, 0, sizeof(*d));
    d->policy = policy;
    d->at_bol = 1;
    d->prev_crlf = 1;
    d->sink = sink;
    d->sink_arg = arg;
}

static int emit(struct data_decoder *d, const char *p, size_t n)
{
    return n == 0 ? 0 : d->sink(d->sink_arg, p, n);
}

/*
 * One complete line p[0..n) (without its LF); crlf says whether a CR
 * preceded the LF (already stripped from n).
 */
static enum data_status one_line(struct data_decoder *d, const char *p, size_t n, int crlf)
{
    int was_bol = d->at_bol;
    if (!crlf) {
        d->bare_lf_seen = 1;
        if (d->policy == BARE_NL_REJECT)
            return CD_BARE_LF;
    }
    if (was_bol && n == 1 && p[0] == '.' && crlf && d->prev_crlf)
        return CD_END;
    /* Dot unstuffing applies only to a line's first byte. */
    if (was_bol && n > 1 && p[0] == '.') {
        p++;
        n--;
    }
    if (emit(d, p, n) < 0 || emit(d, "\n", 1) < 0)
        return CD_SINK_ERROR;
    d->at_bol = 1;
    d->prev_crlf = crlf;
    return CD_MORE;
}

enum data_status smtpd_data_decode(struct data_decoder *d, const char *in, size_t len,
                             size_t hold_max, size_t *used)
{
    size_t pos = 0;
    *used = 0;
    while (pos < len) {
        const char *lf = memchr(in + pos, '\n', len - pos);
        if (!lf) {
            size_t rest = len - pos;
            if (rest < hold_max)
                break;
            /* A long line: pass on all but a trailing CR (it may pair with the next LF). */
            size_t n = rest;
            if (in[pos + n - 1] == '\r')
                n--;
            const char *p = in + pos;
            if (d->at_bol && n > 0 && p[0] == '.') {
                p++;
                n--;
                pos++;
            }
            if (emit(d, p, n) < 0)
                return CD_SINK_ERROR;
            pos += n;
            d->at_bol = 0;
            break;
        }
        size_t n = (size_t)(lf - (in + pos));
        int crlf = n > 0 && in[pos + n - 1] == '\r';
        enum data_status st = one_line(d, in + pos, crlf ? n - 1 : n, crlf);
        pos += n + 1;
        if (st != CD_MORE) {
            *used = pos;
            return st;
        }
    }
    *used = pos;
    return CD_MORE;
}

void smtpd_bdat_decoder_init(struct bdat_decoder *b, content_sink sink, void *arg)
{
    b->pending_cr = 0;
    b->sink = sink;
    b->sink_arg = arg;
}

int smtpd_bdat_decode(struct bdat_decoder *b, const char *in, size_t len)
{
    size_t start = 0;
    if (len == 0)
        return 0;
    if (b->pending_cr) {
        b->pending_cr = 0;
        if (in[0] == '\n') {
            if (b->sink(b->sink_arg, "\n", 1) < 0)
                return -1;
            start = 1;
        } else if (b->sink(b->sink_arg, "\r", 1) < 0) {
            return -1;
        }
    }
    size_t i = start, run = start;
    while (i < len) {
        if (in[i] == '\r') {
            if (i + 1 == len) {
                if (i > run && b->sink(b->sink_arg, in + run, i - run) < 0)
                    return -1;
                b->pending_cr = 1;
                return 0;
            }
            if (in[i + 1] == '\n') {
                if (i > run && b->sink(b->sink_arg, in + run, i - run) < 0)
                    return -1;
                run = i + 1; /* keep the LF */
                i += 2;
                continue;
            }
        }
        i++;
    }
    if (len > run && b->sink(b->sink_arg, in + run, len - run) < 0)
        return -1;
    return 0;
}

int smtpd_bdat_finish(struct bdat_decoder *b)
{
    if (b->pending_cr) {
        b->pending_cr = 0;
        return b->sink(b->sink_arg, "\r", 1);
    }
    return 0;
}

enum bare_nl_policy smtpd_bare_nl_policy_parse(const char *value)
{
    if (!value || strcasecmp(value, "normalize") == 0)
        return BARE_NL_NORMALIZE;
    if (strcasecmp(value, "yes") == 0 || strcasecmp(value, "reject") == 0)
        return BARE_NL_REJECT;
    return BARE_NL_ALLOW;
}
