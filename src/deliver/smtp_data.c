/*
 * smtp_data.c - the message content as SMTP DATA sends it.
 *
 * The queue keeps the content with LF line ends; on the wire every line
 * ends with CR LF, a line that starts with "." gets another "." (RFC 5321
 * 4.5.2), lines longer than smtp_line_length_limit are broken by
 * inserting CR LF SPACE (Postfix's way, kind to MIME), and the message
 * ends with ".\r\n" after a final CR LF. The conversion is a small state
 * machine over chunks, so a 10 MB message streams through a fixed buffer.
 */
#include "smtp.h"

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
}

size_t smtp_stuff_bound(size_t n)
{
    /* per input byte at most 4 out (a line break "\r\n " before it), whatever the limit */
    return 4 * n + 8;
}

size_t smtp_stuff(struct smtp_stuff *s, const char *in, size_t n, char *out)
{
    size_t o = 0;
    if (n)
        s->any = 1;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            s->bol = 1;
            s->col = 0;
            continue;
        }
        if (s->limit && s->col >= s->limit) {
            /* the line goes on past the limit: continue it on a new line */
            out[o++] = '\r';
            out[o++] = '\n';
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

int smtp_content_scan(int fd, off_t off, size_t len, unsigned long long *size, int *eightbit,
                      int *hdr8bit)
{
    char *buf = malloc(SCAN_CHUNK);
    if (!buf)
        return -1;
    unsigned long long lines = 0;
    int high = 0, hdr_high = 0, in_header = 1;
    char last = '\n';
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
        for (ssize_t i = 0; i < got; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c == '\n') {
                /* an empty line ends the header section */
                if (in_header && (i > 0 ? buf[i - 1] == '\n' : last == '\n'))
                    in_header = 0;
                lines++;
            }
            high |= c & 0x80;
            if (in_header)
                hdr_high |= c & 0x80;
        }
        last = buf[got - 1];
        done += (size_t)got;
    }
    free(buf);
    *size = (unsigned long long)len + lines + (len > 0 && last != '\n' ? 2 : 0);
    *eightbit = high != 0;
    if (hdr8bit)
        *hdr8bit = hdr_high != 0;
    return 0;
}
