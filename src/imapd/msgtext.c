/*
 * msgtext.c - dates and text matching over a message for SEARCH, SORT
 * and APPEND (see msgtext.h).
 */
#include "imapd/msgtext.h"

#include "lib-imap/imap_hdrwalk.h"
#include "lib-imap/imap_search.h"
#include "lib-mail/addrlist.h"
#include "lib-mail/header.h"
#include "lib-mail/mime.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define MT_CHUNK 65536
#define MT_VALUE_MAX (64 * 1024)             /* one decoded field value */

/* ---- dates ---- */

static const char *const months[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                       "jul", "aug", "sep", "oct", "nov", "dec"};

struct cursor {
    const char *p, *end;
};

/* Skip white space, commas and (nested) comments. */
static void skip_cfws(struct cursor *c)
{
    int depth = 0;
    while (c->p < c->end) {
        char ch = *c->p;
        if (ch == '(')
            depth++;
        else if (ch == ')' && depth > 0)
            depth--;
        else if (depth == 0 && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n' && ch != ',')
            return;
        c->p++;
    }
}

static int read_num(struct cursor *c, int maxdigits, int *out)
{
    int v = 0, n = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9' && n < maxdigits) {
        v = v * 10 + (*c->p - '0');
        c->p++;
        n++;
    }
    *out = v;
    return n;
}

static size_t read_alpha(struct cursor *c, char *out, size_t outlen)
{
    size_t n = 0;
    while (c->p < c->end && ((*c->p | 0x20) >= 'a' && (*c->p | 0x20) <= 'z')) {
        if (n + 1 < outlen)
            out[n++] = (char)(*c->p | 0x20);
        c->p++;
    }
    out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

static int month_of(const char *name)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(name, months[i], 3) == 0 && strlen(name) >= 3)
            return i + 1;
    return 0;
}

/* Zone offset in minutes: "+0200", "-0700", UT/GMT/Z and the US zones of RFC 5322 4.3. */
static int read_zone(struct cursor *c, int *minutes)
{
    *minutes = 0;
    if (c->p >= c->end)
        return 0;
    if (*c->p == '+' || *c->p == '-') {
        int sign = *c->p == '-' ? -1 : 1, v;
        c->p++;
        if (read_num(c, 4, &v) != 4 || v % 100 > 59)
            return -1;
        *minutes = sign * ((v / 100) * 60 + v % 100);
        return 0;
    }
    static const struct { const char *name; int hours; } zones[] = {
        {"ut", 0}, {"gmt", 0}, {"z", 0}, {"est", -5}, {"edt", -4}, {"cst", -6},
        {"cdt", -5}, {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7},
    };
    char name[8];
    read_alpha(c, name, sizeof(name));
    for (size_t i = 0; i < ARRAY_LEN(zones); i++)
        if (strcmp(name, zones[i].name) == 0)
            *minutes = zones[i].hours * 60;
    return 0;
}

static int read_time(struct cursor *c, int *h, int *m, int *s)
{
    *s = 0;
    if (read_num(c, 2, h) < 1 || c->p >= c->end || *c->p != ':')
        return -1;
    c->p++;
    if (read_num(c, 2, m) != 2)
        return -1;
    if (c->p < c->end && *c->p == ':') {
        c->p++;
        if (read_num(c, 2, s) != 2)
            return -1;
    }
    return *h > 23 || *m > 59 || *s > 60 ? -1 : 0;
}

static int64_t to_epoch(int32_t day, int h, int m, int s, int zone_min)
{
    return (int64_t)day * 86400 + h * 3600 + m * 60 + s - (int64_t)zone_min * 60;
}

static int valid_day(int y, int mon, int d)
{
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon < 1 || mon > 12 || d < 1 || d > mdays[mon - 1])
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(mon == 2 && d == 29 && !leap);
}

int imapd_mt_rfc5322_date(const char *s, size_t len, int64_t *t, int32_t *day)
{
    struct cursor c = {s, s + len};
    char word[16];
    skip_cfws(&c);
    const char *save = c.p;
    if (read_alpha(&c, word, sizeof(word)) > 0) {
        skip_cfws(&c);                    /* a day name (and its comma) */
    } else {
        c.p = save;
    }
    int d, y, h, mi, se, zone;
    if (read_num(&c, 2, &d) < 1)
        return -1;
    skip_cfws(&c);
    if (c.p < c.end && *c.p == '-')
        c.p++;
    if (read_alpha(&c, word, sizeof(word)) < 3)
        return -1;
    int mon = month_of(word);
    skip_cfws(&c);
    if (c.p < c.end && *c.p == '-')
        c.p++;
    int yd = read_num(&c, 4, &y);
    if (yd < 2 || !mon)
        return -1;
    if (yd == 2)
        y += y < 50 ? 2000 : 1900;
    else if (yd == 3)
        y += 1900;
    if (!valid_day(y, mon, d))
        return -1;
    skip_cfws(&c);
    if (read_time(&c, &h, &mi, &se) < 0)
        return -1;
    skip_cfws(&c);
    if (read_zone(&c, &zone) < 0)
        zone = 0;
    *day = imap_days_from_civil(y, (unsigned)mon, (unsigned)d);
    *t = to_epoch(*day, h, mi, se, zone);
    return 0;
}

int imapd_mt_imap_datetime(const char *s, size_t len, int64_t *t)
{
    /* date-day-fixed "-" date-month "-" date-year SP time SP zone */
    if (len != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[20] != ' ')
        return -1;
    char tmp[27];
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (tmp[0] == ' ')
        tmp[0] = '0';
    int32_t day;
    if (imap_date_parse(tmp, 11, &day) < 0)
        return -1;
    struct cursor c = {tmp + 12, tmp + len};
    int h, m, sec, zone;
    if (read_time(&c, &h, &m, &sec) < 0 || c.p != tmp + 20)
        return -1;
    c.p++;
    if ((*c.p != '+' && *c.p != '-') || read_zone(&c, &zone) < 0 || c.p != c.end)
        return -1;
    *t = to_epoch(day, h, m, sec, zone);
    return 0;
}

/* ---- matching ---- */

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

/* Case-insensitive (ASCII) search; hay may hold NUL bytes. */
static int ci_find_bytes(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    if (nlen == 0)
        return 1;
    for (size_t i = 0; i + nlen <= hlen; i++) {
        size_t j = 0;
        while (j < nlen && ascii_lower(hay[i + j]) == ascii_lower(needle[j]))
            j++;
        if (j == nlen)
            return 1;
    }
    return 0;
}

int imapd_mt_ci_find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    return ci_find_bytes(hay, hlen, needle, nlen);
}

int imapd_mt_read_header(int fd, struct buf *out)
{
    char chunk[8192];
    off_t off = 0;
    while (out->len < IMAPD_MT_HEADER_MAX) {
        size_t want = sizeof(chunk);
        if (want > IMAPD_MT_HEADER_MAX - out->len)
            want = IMAPD_MT_HEADER_MAX - out->len;
        ssize_t n = pread(fd, chunk, want, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        size_t from = out->len > 3 ? out->len - 3 : 0;
        if (buf_append(out, chunk, (size_t)n) < 0)
            return 0;
        off += n;
        for (size_t i = from; i + 1 < out->len; i++) {
            const char *d = out->data;
            size_t end = 0;
            if (i == 0 && (d[0] == '\n' || (d[0] == '\r' && d[1] == '\n')))
                end = d[0] == '\n' ? 1 : 2;
            else if (d[i] == '\n' && d[i + 1] == '\n')
                end = i + 2;
            else if (d[i] == '\n' && d[i + 1] == '\r' && i + 2 < out->len && d[i + 2] == '\n')
                end = i + 3;
            if (end) {
                out->len = end;
                out->data[end] = '\0';
                return 0;
            }
        }
    }
    return 0;
}

/* The decoded value of field f appended to out. */
static int field_value(const struct hdr_field *f, struct buf *out)
{
    struct buf raw;
    buf_init(&raw, MT_VALUE_MAX);
    int r = hdr_unfold(f, &raw);
    if (hdr_decode_words(raw.data ? raw.data : "", raw.len, out) < 0)
        r = -1;
    buf_free(&raw);
    return r;
}

int imapd_mt_header_value(const char *hdr, size_t len, const char *name, struct buf *out)
{
    struct imap_hdrwalk w;
    struct hdr_field f;
    imap_hdrwalk_init(&w, hdr, len);
    while (imap_hdrwalk_next(&w, &f))
        if (hdr_name_is(&f, name))
            return field_value(&f, out) < 0 ? -1 : 1;
    return 0;
}

int imapd_mt_header_raw(const char *hdr, size_t len, const char *name, struct buf *out)
{
    struct imap_hdrwalk w;
    struct hdr_field f;
    imap_hdrwalk_init(&w, hdr, len);
    while (imap_hdrwalk_next(&w, &f))
        if (hdr_name_is(&f, name))
            return hdr_unfold(&f, out) < 0 ? -1 : 1;
    return 0;
}

int imapd_mt_header_match(const char *hdr, size_t len, const char *name, const char *substr)
{
    struct imap_hdrwalk w;
    struct hdr_field f;
    size_t nlen = strlen(substr);
    struct buf v;
    buf_init(&v, MT_VALUE_MAX);
    imap_hdrwalk_init(&w, hdr, len);
    int found = 0;
    while (!found && imap_hdrwalk_next(&w, &f)) {
        if (name && !hdr_name_is(&f, name))
            continue;
        if (nlen == 0) {
            found = 1;
            break;
        }
        buf_reset(&v);
        if (!name) {
            buf_append(&v, f.start, f.name_len);
            buf_puts(&v, ": ");
        }
        field_value(&f, &v);
        found = ci_find_bytes(v.data ? v.data : "", v.len, substr, nlen);
    }
    buf_free(&v);
    return found;
}

#define MT_ADDRESSES_MAX 1000              /* addresses of one field matched */

/* The addresses of one field's value, each written out and matched. */
static int addresses_match(const char *value, const char *substr, size_t nlen)
{
    struct addr_items it;
    struct buf a;
    buf_init(&a, MT_VALUE_MAX);
    addr_items_parse(value, MT_ADDRESSES_MAX, ADDRLIST_LENIENT, &it);
    int found = 0;
    for (size_t i = 0; i < it.n && !found; i++) {
        const struct addr_item *x = &it.v[i];
        buf_reset(&a);
        if (x->kind == ADDR_ITEM_GROUP_END)
            continue;
        if (x->kind == ADDR_ITEM_GROUP_START) {
            buf_puts(&a, x->mailbox ? x->mailbox : "");
        } else {
            if (x->name && *x->name) {
                hdr_decode_words(x->name, strlen(x->name), &a);
                buf_puts(&a, " ");
            }
            buf_printf(&a, "<%s@%s>", x->mailbox ? x->mailbox : "", x->domain ? x->domain : "");
        }
        found = ci_find_bytes(a.data ? a.data : "", a.len, substr, nlen);
    }
    addr_items_free(&it);
    buf_free(&a);
    return found;
}

int imapd_mt_address_match(const char *hdr, size_t len, const char *name, const char *substr)
{
    struct imap_hdrwalk w;
    struct hdr_field f;
    size_t nlen = strlen(substr);
    struct buf v;
    buf_init(&v, MT_VALUE_MAX);
    imap_hdrwalk_init(&w, hdr, len);
    int found = 0;
    while (!found && imap_hdrwalk_next(&w, &f)) {
        if (!hdr_name_is(&f, name))
            continue;
        buf_reset(&v);
        hdr_unfold(&f, &v);
        found = nlen == 0 || addresses_match(buf_cstr(&v), substr, nlen);
    }
    buf_free(&v);
    return found;
}

/* ---- the body ---- */

struct body_search {
    const char *needle;
    size_t nlen;
    int in_text;                       /* the current part is text */
    int found;
    struct buf win;                    /* the last nlen - 1 bytes, then the new chunk */
};

static void bs_part_start(void *ctx, const struct mime_part *p)
{
    struct body_search *b = ctx;
    b->in_text = strcmp(p->type, "text") == 0;
    buf_reset(&b->win);
}

static void bs_part_body(void *ctx, const struct mime_part *p, const char *data, size_t len)
{
    (void)p;
    struct body_search *b = ctx;
    if (b->found || !b->in_text)
        return;
    while (len > 0 && !b->found) {
        size_t take = len > MT_CHUNK ? MT_CHUNK : len;
        buf_append(&b->win, data, take);
        data += take;
        len -= take;
        b->found = ci_find_bytes(b->win.data, b->win.len, b->needle, b->nlen);
        if (b->win.len >= b->nlen)
            buf_consume(&b->win, b->win.len - (b->nlen - 1));
    }
}

int imapd_mt_body_match(int fd, const char *substr)
{
    struct body_search b = {.needle = substr, .nlen = strlen(substr), .in_text = 1};
    if (b.nlen == 0)
        return 1;
    buf_init(&b.win, b.nlen + MT_CHUNK + 16);
    const struct mime_callbacks cb = {.part_start = bs_part_start, .part_body = bs_part_body};
    struct mime_parser *m = mime_parser_new(MIME_DECODE | MIME_UTF8 | MIME_IMAP, &cb, &b);
    char *chunk = xmalloc(MT_CHUNK);
    off_t off = 0;
    int rc = 0;
    while (!b.found) {
        ssize_t n = pread(fd, chunk, MT_CHUNK, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -1;
        if (n <= 0)
            break;
        off += n;
        mime_feed(m, chunk, (size_t)n);
    }
    if (!b.found && rc == 0)
        mime_finish(m);
    mime_parser_free(m);
    free(chunk);
    buf_free(&b.win);
    return rc < 0 ? -1 : b.found;
}
