/*
 * smtp_data.c - the message content as SMTP DATA sends it.
 *
 * The queue keeps the content with LF line ends; on the wire every line
 * ends with CR LF, a line that starts with "." gets another "." (RFC 5321
 * 4.5.2), lines longer than smtp_line_length_limit are broken by
 * inserting CR LF SPACE (Postfix's way, kind to MIME), and the message
 * ends with ".\r\n" after a final CR LF. The conversion is a small state
 * machine over chunks, so a 10 MB message streams through a fixed buffer.
 *
 * A CR in the content (smtpd keeps a bare CR as content) is a line end
 * on the wire too: it goes out as CR LF, with a LF right after it
 * belonging to the same line end, and a "." after it is stuffed. Sent
 * raw, "\r.\r" or "\r.\r\n" would end the DATA early at a next hop that
 * takes a bare CR for a line end (SMTP smuggling: what follows would be
 * read there as new commands).
 */
#include "deliver/smtp.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define SCAN_CHUNK (64 * 1024)

void smtp_stuff_init(struct smtp_stuff *s, size_t line_limit)
{
    s->bol = 1;
    s->col = 0;
    s->limit = line_limit;
    s->any = 0;
    s->broke = 0;
    s->after_cr = 0;
}

size_t smtp_stuff_bound(size_t n)
{
    /* per input byte at most 4 out (a line break "\r\n " before it), whatever the limit */
    return 4 * n + 8;
}

/* A line end: CR LF out, and the next byte starts a line. */
static size_t put_eol(struct smtp_stuff *s, char *out)
{
    out[0] = '\r';
    out[1] = '\n';
    s->bol = 1;
    s->col = 0;
    return 2;
}

size_t smtp_stuff(struct smtp_stuff *s, const char *in, size_t n, char *out)
{
    size_t o = 0;
    if (n)
        s->any = 1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        int after_cr = s->after_cr;
        s->after_cr = c == '\r';
        if (c == '\n' && after_cr)
            continue;               /* CR LF: one line end, already sent */
        if (c == '\n' || c == '\r') {
            o += put_eol(s, out + o);
            continue;
        }
        if (s->limit && s->col >= s->limit) {
            /* the line goes on past the limit: continue it on a new line */
            o += put_eol(s, out + o);
            out[o++] = ' ';
            s->col = 1;
            s->bol = 0;
            s->broke = 1;
        }
        if (s->bol && c == '.') {
            out[o++] = '.';
            s->col++;
        }
        out[o++] = c;
        s->col++;
        s->bol = 0;
    }
    return o;
}

size_t smtp_stuff_end(struct smtp_stuff *s, char *out)
{
    size_t o = 0;
    if (s->any && !s->bol) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o++] = '.';
    out[o++] = '\r';
    out[o++] = '\n';
    s->bol = 1;
    s->col = 0;
    return o;
}

/* What smtp_content_scan() learns, carried across chunks. */
struct scan_state {
    unsigned long long extra;   /* bytes the line ends add on the wire */
    int high, hdr_high, in_header;
    int bol;                    /* the next byte starts a line (as smtp_stuff() sees it) */
    char last;                  /* the previous byte */
};

static void scan_bytes(struct scan_state *sc, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        int crlf = c == '\n' && sc->last == '\r';
        sc->last = c;
        if (crlf) {
            sc->extra--;            /* the CR already counted this line end as 2 bytes */
            continue;
        }
        if (c == '\n' || c == '\r') {
            /* every line end goes out as CR LF; an empty line ends the header section */
            sc->extra++;
            if (sc->in_header && sc->bol)
                sc->in_header = 0;
            sc->bol = 1;
            continue;
        }
        sc->bol = 0;
        sc->high |= (unsigned char)c & 0x80;
        if (sc->in_header)
            sc->hdr_high |= (unsigned char)c & 0x80;
    }
}

int smtp_content_scan(int fd, off_t off, size_t len, unsigned long long *size, int *eightbit,
                      int *hdr8bit)
{
    char *buf = malloc(SCAN_CHUNK);
    if (!buf)
        return -1;
    struct scan_state sc = {.in_header = 1, .bol = 1, .last = '\n'};
    size_t done = 0;
    while (done < len) {
        size_t want = len - done < SCAN_CHUNK ? len - done : SCAN_CHUNK;
        ssize_t got = pread(fd, buf, want, off + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            int saved = got < 0 ? errno : EIO;
            free(buf);
            errno = saved;
            return -1;
        }
        scan_bytes(&sc, buf, (size_t)got);
        done += (size_t)got;
    }
    free(buf);
    *size = (unsigned long long)len + sc.extra + (len > 0 && !sc.bol ? 2 : 0);
    *eightbit = sc.high != 0;
    if (hdr8bit)
        *hdr8bit = sc.hdr_high != 0;
    return 0;
}
