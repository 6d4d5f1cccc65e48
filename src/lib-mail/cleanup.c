/*
 * cleanup.c - see cleanup.h.
 */
#include "lib-mail/cleanup.h"
#include "lib-mail/header.h"
#include "lib/util.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static void note_header(struct header_info *hi, const struct hdr_field *f)
{
    const char *h = f->start;
    size_t n = f->len, nl = f->name_len;
    if (nl == 8 && strncasecmp(h, "Received", 8) == 0)
        hi->received_count++;
    else if (nl == 4 && strncasecmp(h, "Date", 4) == 0)
        hi->has_date = 1;
    else if (nl == 4 && strncasecmp(h, "From", 4) == 0)
        hi->has_from = 1;
    else if (nl == 11 && strncasecmp(h, "Resent-From", 11) == 0)
        hi->has_resent_from = 1;
    else if (nl == 10 && strncasecmp(h, "Message-ID", 10) == 0) {
        hi->has_message_id = 1;
        const char *v = h + nl + 1, *end = h + n;
        while (v < end && isspace((unsigned char)*v))
            v++;
        while (end > v && isspace((unsigned char)end[-1]))
            end--;
        size_t vl = (size_t)(end - v);
        if (vl >= sizeof(hi->message_id))
            vl = sizeof(hi->message_id) - 1;
        memcpy(hi->message_id, v, vl);
        hi->message_id[vl] = '\0';
        /* Never let folded whitespace reach a log line. */
        for (char *p = hi->message_id; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
    }
    if (n > hi->longest_header)
        hi->longest_header = n;
}

void cleanup_scan_headers(const char *content, size_t len, struct header_info *hi)
{
    memset(hi, 0, sizeof(*hi));
    struct hdr_reader r;
    struct hdr_field f;
    hdr_reader_init(&r, content, len, 0, 0);
    while (hdr_next(&r, &f)) {
        note_header(hi, &f);
        hi->header_bytes = (size_t)(f.start + f.len - content);
    }
}

void rfc5322_date(char *out, size_t outlen, time_t t)
{
    struct tm tm;
    localtime_r(&t, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    char base[64];
    strftime(base, sizeof(base), "%a, %d %b %Y %H:%M:%S", &tm);
    char zone[16];
    strftime(zone, sizeof(zone), "%Z", &tm);
    str_fmt(out, outlen, "%s %c%02ld%02ld (%s)", base, sign, off / 60, off % 60, zone);
}

int cleanup_received(struct buf *out, const struct received_info *ri)
{
    char date[80];
    rfc5322_date(date, sizeof(date), ri->when);
    int r = 0;
    if (ri->helo && *ri->helo)
        r |= buf_printf(out, "Received: from %s (%s [%s])\n", ri->helo, ri->client_name,
                        ri->client_addr);
    else
        r |= buf_printf(out, "Received: from %s [%s]\n", ri->client_name, ri->client_addr);
    if (ri->tls_info && *ri->tls_info)
        r |= buf_printf(out, "\t%s\n", ri->tls_info);
    r |= buf_printf(out, "\tby %s (%s) with %s id %s", ri->myhostname, ri->mail_name,
                    ri->protocol, ri->qid);
    if (ri->for_rcpt)
        r |= buf_printf(out, "\n\tfor <%s>; %s\n", ri->for_rcpt, date);
    else
        r |= buf_printf(out, ";\n\t%s\n", date);
    return r < 0 ? -1 : 0;
}

int cleanup_missing_headers(struct buf *out, const struct header_info *hi, const char *qid,
                            const char *myhostname, const char *sender, time_t when)
{
    int r = 0;
    if (!hi->has_date) {
        char date[80];
        rfc5322_date(date, sizeof(date), when);
        r |= buf_printf(out, "Date: %s\n", date);
    }
    if (!hi->has_message_id) {
        struct tm tm;
        gmtime_r(&when, &tm);
        char stamp[32];
        strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
        r |= buf_printf(out, "Message-Id: <%s.%s@%s>\n", stamp, qid, myhostname);
    }
    if (!hi->has_from && !hi->has_resent_from && sender && *sender)
        r |= buf_printf(out, "From: %s\n", sender);
    return r < 0 ? -1 : 0;
}
