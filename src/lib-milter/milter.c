/*
 * milter.c - the milter protocol's packets: encoding of commands,
 * decoding and validation of replies, and main.cf's milter lists (see
 * milter.h). Every length and string a milter sends is checked against
 * the packet before it is used: a peer that lies about a length gets its
 * packet refused, never read past.
 */
#include "lib-milter/milter.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static uint32_t get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

int milter_pkt_decode(const char *in, size_t avail, struct milter_pkt *p, size_t *used)
{
    if (avail < 4)
        return 0;
    uint32_t len = get_u32(in);
    if (len == 0 || len > MILTER_PKT_MAX)
        return -1;
    if (avail - 4 < len)
        return 0;
    p->cmd = in[4];
    p->data = in + 5;
    p->len = len - 1;
    *used = 4 + (size_t)len;
    return 1;
}

void milter_put_u32(struct buf *out, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    buf_append(out, b, 4);
}

void milter_put_str(struct buf *out, const char *s)
{
    buf_append(out, s, strlen(s) + 1);
}

size_t milter_pkt_begin(struct buf *out, char cmd)
{
    size_t mark = out->len;
    milter_put_u32(out, 0);
    buf_putc(out, cmd);
    return mark;
}

void milter_pkt_end(struct buf *out, size_t mark)
{
    INVARIANT(out->len >= mark + 5);
    uint32_t len = (uint32_t)(out->len - mark - 4);
    unsigned char *p = (unsigned char *)out->data + mark;
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
}

void milter_put_pkt(struct buf *out, char cmd, const void *data, size_t len)
{
    size_t m = milter_pkt_begin(out, cmd);
    if (len)
        buf_append(out, data, len);
    milter_pkt_end(out, m);
}

void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t proto)
{
    size_t m = milter_pkt_begin(out, SMFIC_OPTNEG);
    milter_put_u32(out, version);
    milter_put_u32(out, actions);
    milter_put_u32(out, proto);
    milter_pkt_end(out, m);
}

void milter_put_macros(struct buf *out, char cmd, const char *const *names,
                       const char *const *values, size_t n)
{
    size_t m = milter_pkt_begin(out, SMFIC_MACRO);
    buf_putc(out, cmd);
    for (size_t i = 0; i < n; i++) {
        milter_put_str(out, names[i]);
        milter_put_str(out, values[i]);
    }
    milter_pkt_end(out, m);
}

void milter_put_connect(struct buf *out, const char *hostname, char family, unsigned port,
                        const char *addr)
{
    size_t m = milter_pkt_begin(out, SMFIC_CONNECT);
    milter_put_str(out, hostname);
    buf_putc(out, family);
    if (family != 'U') {
        unsigned char pb[2] = {(unsigned char)(port >> 8), (unsigned char)port};
        buf_append(out, pb, 2);
        milter_put_str(out, addr);
    }
    milter_pkt_end(out, m);
}

void milter_put_envelope(struct buf *out, char cmd, const char *addr, const char *const *args,
                         size_t nargs)
{
    size_t m = milter_pkt_begin(out, cmd);
    buf_putc(out, '<');
    buf_puts(out, addr);
    buf_putc(out, '>');
    buf_putc(out, '\0');
    for (size_t i = 0; i < nargs; i++)
        milter_put_str(out, args[i]);
    milter_pkt_end(out, m);
}

void milter_put_header(struct buf *out, const char *name, const char *value)
{
    size_t m = milter_pkt_begin(out, SMFIC_HEADER);
    milter_put_str(out, name);
    milter_put_str(out, value);
    milter_pkt_end(out, m);
}

/* ---- replies ---- */

/* The NUL-terminated string at data[*off]; NULL when it runs past len. */
static const char *take_str(const char *data, size_t len, size_t *off)
{
    if (*off >= len)
        return NULL;
    const char *s = data + *off;
    const char *nul = memchr(s, '\0', len - *off);
    if (!nul)
        return NULL;
    *off = (size_t)(nul - data) + 1;
    return s;
}

int milter_neg_parse(const struct milter_pkt *p, struct milter_neg *n)
{
    memset(n, 0, sizeof(*n));
    if (p->cmd != SMFIC_OPTNEG || p->len < 12)
        return -1;
    n->version = get_u32(p->data);
    n->actions = get_u32(p->data + 4);
    n->proto = get_u32(p->data + 8);
    size_t off = 12;
    /* Protocol 6: (stage, "macro list") pairs follow. */
    while (off + 4 <= p->len) {
        uint32_t st = get_u32(p->data + off);
        off += 4;
        const char *list = take_str(p->data, p->len, &off);
        if (!list || st >= MS_COUNT)
            return -1;
        n->macros[st] = list;
    }
    return off == p->len ? 0 : -1;
}

/* Strings that must fill the packet exactly: min of them, up to max. */
static int take_strs(const struct milter_pkt *p, size_t off, const char **a, const char **b,
                     int min)
{
    *a = take_str(p->data, p->len, &off);
    if (!*a)
        return -1;
    if (b) {
        *b = take_str(p->data, p->len, &off);
        if (!*b && min > 1)
            return -1;
    }
    return off == p->len ? 0 : -1;
}

static int parse_code(struct milter_reply *r)
{
    const char *t = r->s1;
    if (strlen(t) < 3 || (t[0] != '4' && t[0] != '5') || !isdigit((unsigned char)t[1]) ||
        !isdigit((unsigned char)t[2]) || (t[3] != ' ' && t[3] != '-' && t[3] != '\0'))
        return -1;
    r->code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
    char lines[MILTER_REPLY_LINES][512];
    return milter_reply_lines(t, r->code, lines, MILTER_REPLY_LINES) < 0 ? -1 : 0;
}

int milter_reply_parse(const struct milter_pkt *p, struct milter_reply *r)
{
    memset(r, 0, sizeof(*r));
    r->cmd = p->cmd;
    switch (p->cmd) {
    case SMFIR_ACCEPT:
    case SMFIR_CONTINUE:
    case SMFIR_DISCARD:
    case SMFIR_REJECT:
    case SMFIR_TEMPFAIL:
    case SMFIR_PROGRESS:
    case SMFIR_SKIP:
    case SMFIR_SHUTDOWN:
    case SMFIR_CONN_FAIL:
        return 0;       /* any data is ignored, as libmilter's peers do */
    case SMFIR_REPLYCODE:
        if (take_strs(p, 0, &r->s1, NULL, 1) < 0)
            return -1;
        return parse_code(r);
    case SMFIR_ADDHEADER:
        return take_strs(p, 0, &r->s1, &r->s2, 2);
    case SMFIR_INSHEADER:
    case SMFIR_CHGHEADER:
        if (p->len < 4)
            return -1;
        r->index = get_u32(p->data);
        return take_strs(p, 4, &r->s1, &r->s2, 2);
    case SMFIR_ADDRCPT:
    case SMFIR_DELRCPT:
    case SMFIR_QUARANTINE:
        return take_strs(p, 0, &r->s1, NULL, 1);
    case SMFIR_ADDRCPT_PAR:
    case SMFIR_CHGFROM:
        return take_strs(p, 0, &r->s1, &r->s2, 1);
    case SMFIR_REPLBODY:
        r->body = p->data;
        r->body_len = p->len;
        return 0;
    default:
        return -1;
    }
}

int milter_reply_lines(const char *text, int code, char lines[][512], int maxlines)
{
    int n = 0;
    const char *p = text;
    for (;;) {
        const char *eol = strchr(p, '\n');
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > 0 && p[ll - 1] == '\r')
            ll--;
        if (n >= maxlines || ll < 3)
            return -1;
        int c = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
            !isdigit((unsigned char)p[2]) || c != code)
            return -1;
        int more = ll > 3 && p[3] == '-';
        if (ll > 3 && p[3] != ' ' && p[3] != '-')
            return -1;
        if (more != (eol != NULL && eol[1] != '\0'))
            return -1;      /* "-" only before another line, and every other line needs it */
        size_t tl = ll > 4 ? ll - 4 : 0;
        if (tl >= 512)
            tl = 511;
        memcpy(lines[n], p + (ll > 4 ? 4 : ll), tl);
        lines[n][tl] = '\0';
        for (size_t i = 0; i < tl; i++)
            if ((unsigned char)lines[n][i] < 0x20 || lines[n][i] == 0x7f)
                lines[n][i] = ' ';
        n++;
        if (!more)
            return n;
        p = eol + 1;
    }
}

/* ---- main.cf lists ---- */

int milter_action_valid(const char *a)
{
    return strcmp(a, "accept") == 0 || strcmp(a, "reject") == 0 || strcmp(a, "tempfail") == 0 ||
           strcmp(a, "quarantine") == 0;
}

/* "10s", "2m", "30" (seconds): milliseconds, or -1. */
static long long parse_time_ms(const char *v)
{
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno || n < 0 || n > 100000000)
        return -1;
    long long unit = 1000;
    if (*end) {
        switch (*end) {
        case 's': unit = 1000; break;
        case 'm': unit = 60000; break;
        case 'h': unit = 3600000; break;
        case 'd': unit = 86400000; break;
        case 'w': unit = 7 * 86400000LL; break;
        default: return -1;
        }
        if (end[1])
            return -1;
    }
    return n * unit;
}

static int spec_setting(struct milter_spec *sp, const char *kv, char *err, size_t errlen)
{
    const char *eq = strchr(kv, '=');
    if (!eq) {
        str_fmt(err, errlen, "milter %s: \"%s\": expected name=value", sp->name, kv);
        return -1;
    }
    size_t kl = (size_t)(eq - kv);
    const char *v = eq + 1;
    long long *t = NULL;
    if (kl == 15 && strncmp(kv, "connect_timeout", kl) == 0)
        t = &sp->connect_ms;
    else if (kl == 15 && strncmp(kv, "command_timeout", kl) == 0)
        t = &sp->command_ms;
    else if (kl == 15 && strncmp(kv, "content_timeout", kl) == 0)
        t = &sp->content_ms;
    if (t) {
        *t = parse_time_ms(v);
        if (*t < 0) {
            str_fmt(err, errlen, "milter %s: bad time value \"%s\"", sp->name, kv);
            return -1;
        }
        return 0;
    }
    if (kl == 14 && strncmp(kv, "default_action", kl) == 0) {
        if (!milter_action_valid(v)) {
            str_fmt(err, errlen, "milter %s: bad default_action \"%s\"", sp->name, v);
            return -1;
        }
        free(sp->default_action);
        sp->default_action = xstrdup(v);
        return 0;
    }
    if (kl == 8 && strncmp(kv, "protocol", kl) == 0) {
        sp->protocol = atoi(v);
        if (sp->protocol < 2 || sp->protocol > 6) {
            str_fmt(err, errlen, "milter %s: bad protocol \"%s\"", sp->name, v);
            return -1;
        }
        return 0;
    }
    str_fmt(err, errlen, "milter %s: unknown setting \"%.*s\"", sp->name, (int)kl, kv);
    return -1;
}

static int name_ok(const char *n)
{
    return (strncmp(n, "inet:", 5) == 0 && strrchr(n + 5, ':') && strrchr(n + 5, ':')[1]) ||
           (strncmp(n, "unix:", 5) == 0 && n[5]) || (strncmp(n, "local:", 6) == 0 && n[6]);
}

/* The next word of s at *pos: separators are commas and white space; "{", "}" are words. */
static int next_word(const char *s, size_t *pos, char *w, size_t wlen)
{
    size_t i = *pos;
    while (s[i] && (s[i] == ',' || isspace((unsigned char)s[i])))
        i++;
    if (!s[i])
        return 0;
    size_t n = 0;
    if (s[i] == '{' || s[i] == '}') {
        w[n++] = s[i++];
    } else {
        while (s[i] && s[i] != ',' && s[i] != '{' && s[i] != '}' && !isspace((unsigned char)s[i])) {
            if (n + 1 >= wlen)
                return -1;
            w[n++] = s[i++];
        }
        /* "name = value" inside braces: join the three words */
        size_t j = i;
        while (s[j] == ' ' || s[j] == '\t')
            j++;
        if (s[j] == '=' || (n > 0 && w[n - 1] == '=')) {
            if (s[j] == '=') {
                if (n + 1 >= wlen)
                    return -1;
                w[n++] = '=';
                j++;
            }
            while (s[j] == ' ' || s[j] == '\t')
                j++;
            while (s[j] && s[j] != ',' && s[j] != '}' && !isspace((unsigned char)s[j])) {
                if (n + 1 >= wlen)
                    return -1;
                w[n++] = s[j++];
            }
            i = j;
        }
    }
    w[n] = '\0';
    *pos = i;
    return 1;
}

static struct milter_spec *spec_new(struct milter_spec **v, size_t *n, const char *name)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    struct milter_spec *sp = &(*v)[(*n)++];
    *sp = (struct milter_spec){.name = xstrdup(name), .connect_ms = -1, .command_ms = -1,
                               .content_ms = -1};
    return sp;
}

int milter_specs_parse(const char *list, struct milter_spec **out, char *err, size_t errlen)
{
    struct milter_spec *v = NULL;
    size_t n = 0, pos = 0;
    char w[1024];
    int r, in_group = 0;
    struct milter_spec *cur = NULL;
    while ((r = next_word(list, &pos, w, sizeof(w))) > 0) {
        if (strcmp(w, "{") == 0) {
            if (in_group)
                goto bad_brace;
            in_group = 1;
            cur = NULL;
        } else if (strcmp(w, "}") == 0) {
            if (!in_group || !cur)
                goto bad_brace;
            in_group = 0;
        } else if (in_group && cur) {
            if (spec_setting(cur, w, err, errlen) < 0)
                goto fail;
        } else {
            if (!name_ok(w)) {
                str_fmt(err, errlen, "bad milter name \"%s\": expected inet:host:port, "
                        "unix:path or local:path", w);
                goto fail;
            }
            cur = spec_new(&v, &n, w);
        }
    }
    if (r < 0) {
        str_fmt(err, errlen, "milter list: a word is too long");
        goto fail;
    }
    if (in_group)
        goto bad_brace;
    *out = v;
    return (int)n;
bad_brace:
    str_fmt(err, errlen, "milter list: unbalanced or empty \"{ ... }\"");
fail:
    milter_specs_free(v, n);
    *out = NULL;
    return -1;
}

void milter_specs_free(struct milter_spec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].default_action);
    }
    free(v);
}
