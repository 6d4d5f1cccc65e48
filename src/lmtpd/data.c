/*
 * data.c - the LMTP DATA decoder (lmtpd.h): SMTP's transparency rule
 * undone (RFC 5321 4.5.2), the end of data found, line ends made LF as
 * a Maildir keeps them. Pure: bytes in, bytes out, unit-tested.
 */
#include "lmtpd/lmtpd.h"

#include <string.h>

void lmtpd_data_init(struct lmtpd_data *d, struct buf *out, size_t max)
{
    memset(d, 0, sizeof(*d));
    d->out = out;
    d->max = max;
}

static void emit(struct lmtpd_data *d, const char *p, size_t n)
{
    d->total += n;
    if (d->too_big || (d->max && d->out->len + n > d->max)) {
        d->too_big = 1;
        return;
    }
    if (buf_append(d->out, p, n) < 0)
        d->too_big = 1;
}

size_t lmtpd_data_feed(struct lmtpd_data *d, const char *p, size_t n, int *done)
{
    size_t i = 0;
    *done = 0;
    while (i < n) {
        if (!d->mid_line && p[i] == '.') {
            /* ".\r\n" or ".\n" ends the data; any other leading dot is dropped */
            if (i + 1 >= n || (p[i + 1] == '\r' && i + 2 >= n))
                return i;              /* cannot tell yet */
            if (p[i + 1] == '\n') {
                *done = 1;
                return i + 2;
            }
            if (p[i + 1] == '\r' && p[i + 2] == '\n') {
                *done = 1;
                return i + 3;
            }
            i++;
        }
        const char *lf = memchr(p + i, '\n', n - i);
        if (!lf) {
            size_t end = n;
            if (p[end - 1] == '\r')
                end--;                 /* maybe the CR of a CR LF */
            emit(d, p + i, end - i);
            d->mid_line = 1;
            return end > i ? end : i;
        }
        size_t len = (size_t)(lf - (p + i));
        size_t keep = len > 0 && p[i + len - 1] == '\r' ? len - 1 : len;
        emit(d, p + i, keep);
        emit(d, "\n", 1);
        d->mid_line = 0;
        i += len + 1;
    }
    return i;
}

size_t lmtpd_crlf_to_lf(char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!(p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))
            p[k++] = p[i];
    return k;
}
