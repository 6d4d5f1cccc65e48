/*
 * dproto.c - the delivery request protocol (see dproto.h): encoding and
 * strict parsing of requests, replies, the <extra> field and forward
 * lists. Both ends use these functions, so a field that would break the
 * framing is refused when it is written, and again when it is read.
 */
#include "lib-queue/dproto.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FIELDS 8

/* A field may not contain framing bytes. */
static int field_ok(const char *s)
{
    for (; *s; s++)
        if (*s == '\t' || *s == '\r' || *s == '\n')
            return 0;
    return 1;
}

/* Strict unsigned decimal: digits only, no sign, no overflow past max. */
static int parse_num(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;
    if (!*s || strlen(s) > 20)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int qid_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 32)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s))
            return 0;
    return 1;
}

/* Enhanced status code x.y.z: x in {2,4,5}, y 0-999, z 0-999. */
static int dsn_ok(const char *s)
{
    if ((s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
        return 0;
    s += 2;
    for (int part = 0; part < 2; part++) {
        int n = 0;
        while (isdigit((unsigned char)*s) && n < 4) {
            s++;
            n++;
        }
        if (n == 0 || n > 3)
            return 0;
        if (part == 0 && *s++ != '.')
            return 0;
    }
    return *s == '\0';
}

/*
 * Split a line (trailing "\n" removed) in place on TABs. Returns the
 * number of fields, or -1 if there are more than max or the line holds
 * CR or is too long.
 */
static int split_line(char *line, char **f, int max)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\n')
        line[--len] = '\0';
    if (len + 1 > DPROTO_LINE_MAX || strchr(line, '\r') || strchr(line, '\n'))
        return -1;
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t)
            break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

/* ---- xtext ---- */

static int xtext_plain(unsigned char c)
{
    return c >= 33 && c <= 126 && c != '+' && c != '=' && c != ',';
}

int dproto_xtext_encode(const char *in, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    if (outlen == 0)
        return -1;
    out[0] = '\0';
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        /* What dproto_xtext_decode() refuses is not written either: no field carries
         * TAB, CR or LF, not even encoded. */
        if (*p == '\t' || *p == '\r' || *p == '\n') {
            out[0] = '\0';
            return -1;
        }
        size_t need = xtext_plain(*p) ? 1 : 3;
        if (o + need >= outlen) {
            out[0] = '\0';
            return -1;
        }
        if (need == 1) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '+';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

int dproto_xtext_decode(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '+') {
            int h = hex_value(p[1]), l = h < 0 ? -1 : hex_value(p[2]);
            if (h < 0 || l < 0)
                return -1;
            c = h * 16 + l;
            if (c == 0 || c == '\t' || c == '\r' || c == '\n')
                return -1;
            p += 2;
        } else if (!xtext_plain((unsigned char)c)) {
            return -1;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = (char)c;
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* ---- requests ---- */

void dproto_init_request(struct dreq *r)
{
    memset(r, 0, sizeof(*r));
}

void dproto_free_request(struct dreq *r)
{
    for (size_t i = 0; i < r->nrcpts; i++) {
        free(r->rcpts[i].addr);
        free(r->rcpts[i].orig);
        free(r->rcpts[i].extra);
    }
    free(r->rcpts);
    for (size_t i = 0; i < r->nattrs; i++) {
        free(r->attrs[i].name);
        free(r->attrs[i].value);
    }
    free(r->attrs);
    free(r->sender);
    dproto_init_request(r);
}

const char *dproto_attr(const struct dreq *r, const char *name)
{
    for (size_t i = 0; i < r->nattrs; i++)
        if (strcmp(r->attrs[i].name, name) == 0)
            return r->attrs[i].value;
    return NULL;
}

void dproto_add_rcpt(struct dreq *r, int idx, const char *addr, const char *orig,
                     const char *extra)
{
    r->rcpts = xrealloc(r->rcpts, (r->nrcpts + 1) * sizeof(*r->rcpts));
    struct dreq_rcpt *rc = &r->rcpts[r->nrcpts++];
    rc->idx = idx;
    rc->addr = xstrdup(addr);
    rc->orig = xstrdup(orig ? orig : "");
    rc->extra = xstrdup(extra && *extra ? extra : "-");
}

void dproto_add_attr(struct dreq *r, const char *name, const char *value)
{
    r->attrs = xrealloc(r->attrs, (r->nattrs + 1) * sizeof(*r->attrs));
    r->attrs[r->nattrs].name = xstrdup(name);
    r->attrs[r->nattrs].value = xstrdup(value);
    r->nattrs++;
}

/*
 * An attribute value as it goes on the wire: control characters (TAB, CR
 * and LF included) and DEL become '?', as Postfix's printable() does. The
 * values are informational (client_name, helo_name, sasl_username ...):
 * an odd byte in one must not fail the whole request, nor reach an agent
 * or a command's environment raw. malloc'd.
 */
static char *attr_value_clean(const char *v)
{
    char *c = xstrdup(v);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return c;
}

/* Append one line to b, refusing over-long lines. */
static int put_line(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int put_line(struct buf *b, const char *fmt, ...)
{
    size_t before = b->len;
    va_list ap;
    va_start(ap, fmt);
    int r = buf_vprintf(b, fmt, ap);
    va_end(ap);
    if (r < 0 || b->len - before > DPROTO_LINE_MAX)
        return -1;
    return 0;
}

char *dproto_encode_request(const struct dreq *r)
{
    const char *sender = r->sender ? r->sender : "";
    if (!qid_ok(r->qid) || !r->path[0] || !field_ok(r->path) || !field_ok(sender) ||
        r->nrcpts == 0 || r->nrcpts > DPROTO_RCPT_MAX || r->nattrs > DPROTO_ATTR_MAX ||
        r->offset < 0)
        return NULL;
    struct buf b;
    buf_init(&b, 0);
    int bad = put_line(&b, "DELIVER\t%s\t%s\t%lld\t%zu\n", r->qid, r->path,
                       (long long)r->offset, r->length);
    bad |= put_line(&b, "S\t%s\n", sender);
    for (size_t i = 0; i < r->nattrs && !bad; i++) {
        const struct dreq_attr *a = &r->attrs[i];
        if (!*a->name || !field_ok(a->name)) {
            bad = 1;
        } else {
            char *v = attr_value_clean(a->value);
            bad |= put_line(&b, "A\t%s\t%s\n", a->name, v);
            free(v);
        }
    }
    for (size_t i = 0; i < r->nrcpts && !bad; i++) {
        const struct dreq_rcpt *rc = &r->rcpts[i];
        const char *orig = rc->orig ? rc->orig : "";
        const char *extra = rc->extra && *rc->extra ? rc->extra : "-";
        struct dextra x;
        if (rc->idx < 0 || !rc->addr || !*rc->addr || !field_ok(rc->addr) || !field_ok(orig) ||
            dproto_extra_parse(extra, &x) < 0)
            bad = 1;
        else
            bad |= put_line(&b, "R\t%d\t%s\t%s\t%s\n", rc->idx, rc->addr, orig, extra);
    }
    bad |= put_line(&b, ".\n");
    if (bad) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

static int req_error(struct dreq *r, const char *why)
{
    r->error = why;
    return -1;
}

static int parse_deliver(struct dreq *r, char **f, int n)
{
    unsigned long long off, len;
    if (n != 5 || strcmp(f[0], "DELIVER") != 0)
        return req_error(r, "expected DELIVER line");
    if (!qid_ok(f[1]))
        return req_error(r, "bad queue ID");
    if (f[2][0] != '/' || strlen(f[2]) >= sizeof(r->path))
        return req_error(r, "bad path");
    if (parse_num(f[3], (unsigned long long)LLONG_MAX, &off) < 0 ||
        parse_num(f[4], (unsigned long long)SSIZE_MAX, &len) < 0)
        return req_error(r, "bad content offset or length");
    str_copy(r->qid, f[1], sizeof(r->qid));
    str_copy(r->path, f[2], sizeof(r->path));
    r->offset = (off_t)off;
    r->length = (size_t)len;
    r->state = 1;
    return 0;
}

static int parse_rcpt(struct dreq *r, char **f, int n)
{
    unsigned long long idx;
    struct dextra x;
    if (n != 5)
        return req_error(r, "bad R line");
    if (parse_num(f[1], INT_MAX, &idx) < 0)
        return req_error(r, "bad recipient index");
    if (!*f[2])
        return req_error(r, "empty recipient");
    if (!*f[4] || dproto_extra_parse(f[4], &x) < 0)
        return req_error(r, "bad recipient extra field");
    if (r->nrcpts >= DPROTO_RCPT_MAX)
        return req_error(r, "too many recipients");
    for (size_t i = 0; i < r->nrcpts; i++)
        if (r->rcpts[i].idx == (int)idx)
            return req_error(r, "duplicate recipient index");
    dproto_add_rcpt(r, (int)idx, f[2], f[3], f[4]);
    return 0;
}

int dproto_parse_request_line(struct dreq *r, const char *line)
{
    if (r->state == 2)
        return req_error(r, "request already complete");
    if (strlen(line) >= DPROTO_LINE_MAX + 1)
        return req_error(r, "line too long");
    char copy[DPROTO_LINE_MAX + 1];
    str_copy(copy, line, sizeof(copy));
    char *f[MAX_FIELDS];
    int n = split_line(copy, f, MAX_FIELDS);
    if (n < 0)
        return req_error(r, "malformed line");
    if (r->state == 0)
        return parse_deliver(r, f, n) < 0 ? -1 : 0;
    if (strcmp(f[0], "S") == 0) {
        if (n != 2)
            return req_error(r, "bad S line");
        if (r->sender)
            return req_error(r, "duplicate sender");
        r->sender = xstrdup(f[1]);
        return 0;
    }
    if (strcmp(f[0], "A") == 0) {
        if (n != 3 || !*f[1])
            return req_error(r, "bad A line");
        if (r->nattrs >= DPROTO_ATTR_MAX)
            return req_error(r, "too many attributes");
        dproto_add_attr(r, f[1], f[2]);
        return 0;
    }
    if (strcmp(f[0], "R") == 0)
        return parse_rcpt(r, f, n);
    if (strcmp(f[0], ".") == 0 && n == 1) {
        if (!r->sender)
            return req_error(r, "request without sender");
        if (r->nrcpts == 0)
            return req_error(r, "request without recipients");
        r->state = 2;
        return 1;
    }
    return req_error(r, "unknown request line");
}

/* ---- <extra> ---- */

void dproto_extra_init(struct dextra *x)
{
    memset(x, 0, sizeof(*x));
    str_copy(x->cls, "alias", sizeof(x->cls));
}

static int parse_id(const char *v, long *out)
{
    unsigned long long n;
    if (parse_num(v, 0x7fffffffULL, &n) < 0)
        return -1;
    *out = (long)n;
    return 0;
}

int dproto_extra_parse(const char *s, struct dextra *x)
{
    dproto_extra_init(x);
    if (!s || !*s || strcmp(s, "-") == 0)
        return 0;
    if (strlen(s) >= DPROTO_LINE_MAX || !field_ok(s))
        return -1;
    char copy[DPROTO_LINE_MAX];
    str_copy(copy, s, sizeof(copy));
    int seen_alias = 0, seen_target = 0, seen_include = 0, seen_class = 0, seen_direct = 0;
    int seen_notify = 0, seen_orcpt = 0;
    char *save = NULL;
    /* strtok_r would merge empty items; refuse them explicitly. */
    if (copy[0] == ',' || copy[strlen(copy) - 1] == ',' || strstr(copy, ",,"))
        return -1;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || eq == item)
            return -1;
        *eq = '\0';
        const char *k = item, *v = eq + 1;
        char val[DPROTO_ORCPT_MAX];
        if (dproto_xtext_decode(v, val, sizeof(val)) < 0)
            return -1;
        if (strcmp(k, "alias") == 0 && !seen_alias++) {
            if (!*val || strlen(val) >= sizeof(x->alias))
                return -1;
            str_copy(x->alias, val, sizeof(x->alias));
        } else if (strcmp(k, "target") == 0 && !seen_target++) {
            if (strcmp(val, "command") != 0 && strcmp(val, "file") != 0)
                return -1;
            str_copy(x->target, val, sizeof(x->target));
        } else if (strcmp(k, "include") == 0 && !seen_include++) {
            if (val[0] != '/' || strlen(val) >= sizeof(x->include))
                return -1;
            str_copy(x->include, val, sizeof(x->include));
        } else if (strcmp(k, "class") == 0 && !seen_class++) {
            if (strcmp(val, "alias") != 0 && strcmp(val, "include") != 0 &&
                strcmp(val, "forward") != 0)
                return -1;
            str_copy(x->cls, val, sizeof(x->cls));
        } else if (strcmp(k, "direct") == 0 && !seen_direct++) {
            if (strcmp(val, "1") != 0 && strcmp(val, "0") != 0)
                return -1;
            x->direct = val[0] == '1';
        } else if (strcmp(k, "notify") == 0 && !seen_notify++) {
            long n;
            if (parse_id(val, &n) < 0 || n < 1 || n > 15)
                return -1;
            x->notify = (int)n;
        } else if (strcmp(k, "orcpt") == 0 && !seen_orcpt++) {
            if (!*val)
                return -1;
            str_copy(x->orcpt, val, sizeof(x->orcpt));
        } else {
            return -1;          /* unknown or repeated key */
        }
    }
    return 0;
}

int dproto_extra_format(const struct dextra *x, char *out, size_t outlen)
{
    struct buf b;
    buf_init(&b, DPROTO_LINE_MAX);
    int bad = 0;
    if (x->alias[0]) {
        char enc[3 * sizeof(x->alias)];
        bad |= dproto_xtext_encode(x->alias, enc, sizeof(enc));
        bad |= buf_printf(&b, "alias=%s", enc);
    }
    if (x->target[0])
        bad |= buf_printf(&b, "%starget=%s", b.len ? "," : "", x->target);
    if (x->include[0]) {
        char enc[3 * sizeof(x->include)];
        bad |= dproto_xtext_encode(x->include, enc, sizeof(enc));
        bad |= buf_printf(&b, "%sinclude=%s", b.len ? "," : "", enc);
    }
    if (x->cls[0] && strcmp(x->cls, "alias") != 0)
        bad |= buf_printf(&b, "%sclass=%s", b.len ? "," : "", x->cls);
    if (x->direct)
        bad |= buf_printf(&b, "%sdirect=1", b.len ? "," : "");
    if (x->notify)
        bad |= buf_printf(&b, "%snotify=%d", b.len ? "," : "", x->notify);
    if (x->orcpt[0]) {
        char enc[3 * sizeof(x->orcpt)];
        bad |= dproto_xtext_encode(x->orcpt, enc, sizeof(enc));
        bad |= buf_printf(&b, "%sorcpt=%s", b.len ? "," : "", enc);
    }
    if (!bad && b.len == 0)
        bad |= buf_puts(&b, "-");
    if (bad || b.len >= outlen) {
        buf_free(&b);
        return -1;
    }
    memcpy(out, b.data, b.len + 1);
    buf_free(&b);
    return 0;
}

/* ---- replies ---- */

static const char *class_for_dsn(const char *dsn)
{
    switch (dsn[0]) {
    case '2': return "sent";
    case '4': return "deferred";
    default: return "bounced";
    }
}

void dstatus_set(struct dstatus *s, int idx, const char *dsn, const char *fmt, ...)
{
    s->idx = idx;
    str_copy(s->dsn, dsn_ok(dsn) ? dsn : "4.3.0", sizeof(s->dsn));
    str_copy(s->cls, class_for_dsn(s->dsn), sizeof(s->cls));
    s->relay[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->text, sizeof(s->text), fmt, ap);
    va_end(ap);
}

void dstatus_set_relay(struct dstatus *s, const char *relay)
{
    str_copy(s->relay, relay ? relay : "", sizeof(s->relay));
}

/* A relay field: printable, no spaces, bounded (s may be garbage: look at most max bytes). */
static int relay_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == 0 || n == max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
            return 0;
    return 1;
}

static int class_matches(const char *cls, const char *dsn)
{
    if (strcmp(cls, "sent") == 0 || strcmp(cls, "passed") == 0 || strcmp(cls, "forward") == 0 ||
        strcmp(cls, "pass") == 0)
        return dsn[0] == '2';
    if (strcmp(cls, "deferred") == 0)
        return dsn[0] == '4';
    if (strcmp(cls, "bounced") == 0)
        return dsn[0] == '5';
    return 0;
}

int dproto_format_status(const struct dstatus *s, char *out, size_t outlen)
{
    if (s->idx < 0 || !dsn_ok(s->dsn) || !class_matches(s->cls, s->dsn))
        return -1;
    int is_forward = strcmp(s->cls, "forward") == 0;
    int n = snprintf(out, outlen, "S\t%d\t%s\t%s\t", s->idx, s->cls, s->dsn);
    if (n < 0 || (size_t)n >= outlen)
        return -1;
    size_t o = (size_t)n;
    size_t room = outlen < DPROTO_LINE_MAX ? outlen : DPROTO_LINE_MAX;
    /* The relay goes last; the text gives way to it when the line is full. */
    size_t rlen = 0;
    if (!is_forward && relay_ok(s->relay, sizeof(s->relay)))
        rlen = strlen(s->relay) + 1;
    if (o + rlen + 2 >= room)
        rlen = 0;
    room -= rlen;
    for (const char *p = s->text; *p; p++) {
        if (o + 2 >= room) {              /* keep space for "\n" and NUL */
            if (is_forward)
                return -1;
            break;
        }
        unsigned char c = (unsigned char)*p;
        out[o++] = (c < 32 || c == 127) ? ' ' : (char)c;
    }
    if (rlen) {
        out[o++] = '\t';
        memcpy(out + o, s->relay, rlen - 1);
        o += rlen - 1;
    }
    out[o++] = '\n';
    out[o] = '\0';
    return 0;
}

int dproto_parse_status(const char *line, struct dstatus *s)
{
    if (strlen(line) > DPROTO_LINE_MAX)
        return -1;
    char copy[DPROTO_LINE_MAX + 1];
    str_copy(copy, line, sizeof(copy));
    char *f[MAX_FIELDS];
    int n = split_line(copy, f, MAX_FIELDS);
    if (n == 1 && strcmp(f[0], ".") == 0)
        return 0;
    unsigned long long idx;
    if ((n != 5 && n != 6) || strcmp(f[0], "S") != 0 || parse_num(f[1], INT_MAX, &idx) < 0 ||
        strlen(f[2]) >= sizeof(s->cls) || strlen(f[3]) >= sizeof(s->dsn) ||
        !dsn_ok(f[3]) || !class_matches(f[2], f[3]))
        return -1;
    if (n == 6 && (strcmp(f[2], "forward") == 0 || strcmp(f[2], "pass") == 0 ||
                   !relay_ok(f[5], sizeof(s->relay))))
        return -1;
    /* "pass": the text is "transport:nexthop", a master.cf service name first */
    if (strcmp(f[2], "pass") == 0 && (f[4][0] == '\0' || f[4][0] == ':' || strchr(f[4], ' ')))
        return -1;
    s->idx = (int)idx;
    str_copy(s->cls, f[2], sizeof(s->cls));
    str_copy(s->dsn, f[3], sizeof(s->dsn));
    str_copy(s->text, f[4], sizeof(s->text));
    str_copy(s->relay, n == 6 ? f[5] : "", sizeof(s->relay));
    if (strcmp(s->cls, "forward") == 0) {
        char **v = dproto_forward_split(s->text);
        if (!v)
            return -1;
        strv_free(v);
    }
    return 1;
}

/* ---- forward lists ---- */

int dproto_forward_join(char *const *addrs, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    if (n == 0 || outlen == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!*addrs[i])
            return -1;
        if (i > 0) {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = ',';
        }
        if (dproto_xtext_encode(addrs[i], out + o, outlen - o) < 0)
            return -1;
        o += strlen(out + o);
    }
    out[o] = '\0';
    return 0;
}

char **dproto_forward_split(const char *text)
{
    if (!*text || text[0] == ',' || text[strlen(text) - 1] == ',' || strstr(text, ",,"))
        return NULL;
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    char **v = xcalloc(n + 1, sizeof(*v));
    size_t k = 0;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, ",");
        char item[DPROTO_LINE_MAX], dec[DPROTO_LINE_MAX];
        if (len >= sizeof(item)) {
            strv_free(v);
            return NULL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (dproto_xtext_decode(item, dec, sizeof(dec)) < 0 || !*dec) {
            strv_free(v);
            return NULL;
        }
        v[k++] = xstrdup(dec);
        p += len;
        if (*p == ',')
            p++;
    }
    v[k] = NULL;
    return v;
}
