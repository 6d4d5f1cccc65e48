/*
 * imap_hdrwalk.h - the fields of a header section as Dovecot sees them
 * (internal to lib-imap's ENVELOPE and BODYSTRUCTURE code; header only).
 *
 * Owns: walking a header section with lib-mail's hdr_next() but, as
 * Dovecot does, not stopping at a line that is not a field: that line
 * (and its continuation lines) is skipped and the walk goes on to the
 * empty line or the end.
 */
#ifndef YUBIN_IMAP_HDRWALK_H
#define YUBIN_IMAP_HDRWALK_H

#include "lib-mail/header.h"

#include <string.h>

struct imap_hdrwalk {
    struct hdr_reader r;
    const char *end;
};

static inline void imap_hdrwalk_init(struct imap_hdrwalk *w, const char *h, size_t len)
{
    hdr_reader_init(&w->r, h, len, 0, 0);
    w->end = h + len;
}

static inline int imap_hdrwalk_next(struct imap_hdrwalk *w, struct hdr_field *f)
{
    for (;;) {
        if (hdr_next(&w->r, f))
            return 1;
        if (w->r.status != HDR_END_BODY)
            return 0;
        const char *p = w->r.p;              /* a line that is not a field: skip it */
        const char *lf = memchr(p, '\n', (size_t)(w->end - p));
        if (!lf)
            return 0;
        hdr_reader_init(&w->r, lf + 1, (size_t)(w->end - lf - 1), 0, 0);
    }
}

#endif
