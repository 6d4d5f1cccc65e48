/*
 * queue_env.c - queue envelopes (struct qenvelope), their text encoding
 * inside a record, queue IDs and the CRC32C used by every queue file.
 * The formats are specified in queue.h.
 */
#include "lib-queue/queue_int.h"
#include "lib/util.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- envelopes in memory ---- */

void qenv_init(struct qenvelope *e)
{
    memset(e, 0, sizeof(*e));
    e->sender = xstrdup("");
    e->ret_full = -1;
}

static void rcpt_free(struct qrcpt *r)
{
    free(r->addr);
    free(r->orcpt);
    free(r->status);
    free(r->reason);
}

void qenv_free(struct qenvelope *e)
{
    free(e->sender);
    free(e->envid);
    for (size_t i = 0; i < e->nrcpts; i++)
        rcpt_free(&e->rcpts[i]);
    free(e->rcpts);
    for (size_t i = 0; i < e->nattrs; i++)
        free(e->attrs[i]);
    free(e->attrs);
    memset(e, 0, sizeof(*e));
    e->ret_full = -1;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void qenv_copy(struct qenvelope *dst, const struct qenvelope *src)
{
    *dst = *src;
    dst->sender = xstrdup(src->sender ? src->sender : "");
    dst->envid = dup_or_null(src->envid);
    dst->rcpt_cap = src->nrcpts;
    dst->rcpts = xcalloc(src->nrcpts ? src->nrcpts : 1, sizeof(*dst->rcpts));
    for (size_t i = 0; i < src->nrcpts; i++) {
        const struct qrcpt *s = &src->rcpts[i];
        struct qrcpt *d = &dst->rcpts[i];
        *d = *s;
        d->addr = xstrdup(s->addr);
        d->orcpt = dup_or_null(s->orcpt);
        d->status = dup_or_null(s->status);
        d->reason = dup_or_null(s->reason);
    }
    dst->attrs = xcalloc(src->nattrs + 1, sizeof(char *));
    for (size_t i = 0; i < src->nattrs; i++)
        dst->attrs[i] = xstrdup(src->attrs[i]);
}

void qenv_set_sender(struct qenvelope *e, const char *sender)
{
    free(e->sender);
    e->sender = xstrdup(sender ? sender : "");
}

void qenv_set_envid(struct qenvelope *e, const char *envid)
{
    free(e->envid);
    e->envid = dup_or_null(envid);
}

struct qrcpt *qenv_add_rcpt(struct qenvelope *e, const char *addr, const char *orcpt, int notify)
{
    size_t n = e->nrcpts;
    if (n >= e->rcpt_cap) {
        e->rcpt_cap = e->rcpt_cap ? e->rcpt_cap * 2 : 4;
        e->rcpts = xrealloc(e->rcpts, e->rcpt_cap * sizeof(*e->rcpts));
    }
    struct qrcpt *r = &e->rcpts[n];
    memset(r, 0, sizeof(*r));
    r->addr = xstrdup(addr);
    r->orcpt = dup_or_null(orcpt);
    r->notify = notify;
    e->nrcpts = n + 1;
    return r;
}

void qrcpt_set_reason(struct qrcpt *r, const char *status, const char *reason)
{
    free(r->status);
    free(r->reason);
    r->status = dup_or_null(status);
    r->reason = dup_or_null(reason);
}

static size_t attr_name_len(const char *attr)
{
    const char *eq = strchr(attr, '=');
    return eq ? (size_t)(eq - attr) : strlen(attr);
}

void qenv_set_attr(struct qenvelope *e, const char *name, const char *value)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < e->nattrs; i++) {
        if (attr_name_len(e->attrs[i]) == nlen && memcmp(e->attrs[i], name, nlen) == 0) {
            free(e->attrs[i]);
            if (value) {
                e->attrs[i] = xasprintf("%s=%s", name, value);
            } else {
                memmove(&e->attrs[i], &e->attrs[i + 1], (e->nattrs - i) * sizeof(char *));
                e->nattrs--;
            }
            return;
        }
    }
    if (!value)
        return;
    e->attrs = xrealloc(e->attrs, (e->nattrs + 2) * sizeof(char *));
    e->attrs[e->nattrs++] = xasprintf("%s=%s", name, value);
    e->attrs[e->nattrs] = NULL;
}

const char *qenv_attr(const struct qenvelope *e, const char *name)
{
    size_t nlen = strlen(name);
    for (size_t i = 0; i < e->nattrs; i++)
        if (attr_name_len(e->attrs[i]) == nlen && memcmp(e->attrs[i], name, nlen) == 0)
            return e->attrs[i] + nlen + (e->attrs[i][nlen] == '=');
    return NULL;
}

size_t qenv_pending(const struct qenvelope *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->nrcpts; i++)
        if (!e->rcpts[i].done)
            n++;
    return n;
}

/* ---- envelope text codec ---- */

/* A value may not contain CR, LF or NUL and must fit max. */
static int value_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return 0;
    return strpbrk(s, "\r\n") == NULL;
}

static int attr_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > QUEUE_ATTR_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

int queue_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= QUEUE_ID_MAX - 1 ||
            !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            return 0;
    }
    return n > 0;
}

int qenv_encode(const struct qenvelope *e, struct buf *out)
{
    const char *sender = e->sender ? e->sender : "";
    if (!queue_id_valid(e->qid) || !value_ok(sender, QUEUE_ADDR_MAX) ||
        (e->envid && !value_ok(e->envid, QUEUE_ENVID_MAX)))
        goto inval;
    if (e->nrcpts == 0 || e->nrcpts > QUEUE_RCPTS_MAX || e->nattrs > QUEUE_ATTRS_MAX) {
        errno = e->nrcpts == 0 ? EINVAL : EMSGSIZE;
        return -1;
    }
    size_t start = out->len;
    int r = 0;
    r |= buf_printf(out, "V 1\nQ %s\nT %llu\nS %s\n", e->qid,
                    (unsigned long long)e->arrival_usec, sender);
    if (e->envid)
        r |= buf_printf(out, "E %s\n", e->envid);
    r |= buf_printf(out, "F %d %d %d\nC %d %llu\n", e->ret_full, e->smtputf8, e->eightbit,
                    e->defer_count, (unsigned long long)e->next_try_usec);
    for (size_t i = 0; i < e->nattrs; i++) {
        const char *a = e->attrs[i];
        if (!a || !strchr(a, '=') || !attr_name_ok(a, attr_name_len(a)) ||
            !value_ok(a, QUEUE_ATTR_MAX))
            goto inval_reset;
        r |= buf_printf(out, "A %s\n", a);
    }
    for (size_t i = 0; i < e->nrcpts; i++) {
        const struct qrcpt *rc = &e->rcpts[i];
        if (!rc->addr || !*rc->addr || !value_ok(rc->addr, QUEUE_ADDR_MAX) ||
            (rc->orcpt && !value_ok(rc->orcpt, QUEUE_ADDR_MAX)) ||
            (rc->status && !value_ok(rc->status, QUEUE_REASON_MAX)) ||
            (rc->reason && !value_ok(rc->reason, QUEUE_REASON_MAX)) || rc->flags > INT_MAX)
            goto inval_reset;
        r |= buf_printf(out, "R %d %u %d %s\n", rc->notify, rc->flags, rc->done, rc->addr);
        if (rc->orcpt)
            r |= buf_printf(out, "O %s\n", rc->orcpt);
        if (rc->status)
            r |= buf_printf(out, "D %s\n", rc->status);
        if (rc->reason)
            r |= buf_printf(out, "X %s\n", rc->reason);
    }
    if (r != 0 || out->len - start > QUEUE_ENVELOPE_MAX) {
        out->len = start;
        if (out->data)
            out->data[start] = '\0';
        errno = EMSGSIZE;
        return -1;
    }
    return 0;
inval_reset:
    out->len = start;
    if (out->data)
        out->data[start] = '\0';
inval:
    errno = EINVAL;
    return -1;
}

/* Parse a decimal integer that must fill [s, end) exactly. */
static int parse_ll(const char *s, const char *end, long long min, long long max, long long *v)
{
    if (s >= end || end - s > 20)
        return -1;
    char tmp[24];
    memcpy(tmp, s, (size_t)(end - s));
    tmp[end - s] = '\0';
    if (!(tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9')))
        return -1;
    char *ep;
    errno = 0;
    long long x = strtoll(tmp, &ep, 10);
    if (errno || *ep || ep == tmp || x < min || x > max)
        return -1;
    *v = x;
    return 0;
}

static int parse_u64(const char *s, const char *end, uint64_t *v)
{
    if (s >= end || end - s > 20)
        return -1;
    uint64_t x = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *v = x;
    return 0;
}

/* Split [s,end) into n space-separated integer fields (ints). */
static int parse_ints(const char *s, const char *end, int *out, int n)
{
    for (int i = 0; i < n; i++) {
        const char *sp = i < n - 1 ? memchr(s, ' ', (size_t)(end - s)) : end;
        if (!sp)
            return -1;
        long long v;
        if (parse_ll(s, sp, INT_MIN, INT_MAX, &v) < 0)
            return -1;
        out[i] = (int)v;
        s = sp + 1;
    }
    return 0;
}

static char *dup_range(const char *s, const char *end)
{
    return xstrndup(s, (size_t)(end - s));
}

int qenv_decode(const char *data, size_t len, struct qenvelope *e, const char **why)
{
    qenv_init(e);
    const char *p = data, *end = data + len;
    /* Order state: 0 want V, 1 want Q, 2 want T, 3 want S, 4 want E/F, 5 want C, 6 attrs/rcpts. */
    int state = 0;
    struct qrcpt *last = NULL;
    int last_has = 0;   /* bits: 1 O, 2 D, 4 X */
    *why = NULL;
    if (len > QUEUE_ENVELOPE_MAX) {
        *why = "envelope too long";
        return -1;
    }
    if (memchr(data, '\0', len)) {
        *why = "NUL in envelope";
        return -1;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            *why = "unterminated envelope line";
            return -1;
        }
        if (nl - p < 2 || p[1] != ' ') {
            *why = "malformed envelope line";
            return -1;
        }
        if (memchr(p, '\r', (size_t)(nl - p))) {
            *why = "CR in envelope";
            return -1;
        }
        char key = p[0];
        const char *v = p + 2, *ve = nl;
        size_t vlen = (size_t)(ve - v);
        long long ll;
        int ints[3];
        switch (key) {
        case 'V':
            if (state != 0 || parse_ll(v, ve, 1, 1, &ll) < 0)
                goto bad;
            state = 1;
            break;
        case 'Q':
            if (state != 1 || vlen == 0 || vlen >= QUEUE_ID_MAX)
                goto bad;
            memcpy(e->qid, v, vlen);
            e->qid[vlen] = '\0';
            if (!queue_id_valid(e->qid))
                goto bad;
            state = 2;
            break;
        case 'T':
            if (state != 2 || parse_u64(v, ve, &e->arrival_usec) < 0)
                goto bad;
            state = 3;
            break;
        case 'S':
            if (state != 3 || vlen > QUEUE_ADDR_MAX)
                goto bad;
            free(e->sender);
            e->sender = dup_range(v, ve);
            state = 4;
            break;
        case 'E':
            if (state != 4 || e->envid || vlen > QUEUE_ENVID_MAX)
                goto bad;
            e->envid = dup_range(v, ve);
            break;
        case 'F':
            if (state != 4 || parse_ints(v, ve, ints, 3) < 0)
                goto bad;
            e->ret_full = ints[0];
            e->smtputf8 = ints[1];
            e->eightbit = ints[2];
            state = 5;
            break;
        case 'C': {
            const char *sp = memchr(v, ' ', vlen);
            if (state != 5 || !sp || parse_ll(v, sp, INT_MIN, INT_MAX, &ll) < 0 ||
                parse_u64(sp + 1, ve, &e->next_try_usec) < 0)
                goto bad;
            e->defer_count = (int)ll;
            state = 6;
            break;
        }
        case 'A': {
            const char *eq = memchr(v, '=', vlen);
            if (state != 6 || e->nrcpts > 0 || !eq || !attr_name_ok(v, (size_t)(eq - v)) ||
                vlen > QUEUE_ATTR_MAX || e->nattrs >= QUEUE_ATTRS_MAX)
                goto bad;
            e->attrs = xrealloc(e->attrs, (e->nattrs + 2) * sizeof(char *));
            e->attrs[e->nattrs++] = dup_range(v, ve);
            e->attrs[e->nattrs] = NULL;
            break;
        }
        case 'R': {
            /* R <notify> <flags> <done> <addr> */
            const char *f[3];
            const char *q = v;
            for (int i = 0; i < 3; i++) {
                const char *sp = memchr(q, ' ', (size_t)(ve - q));
                if (!sp)
                    goto bad;
                f[i] = q;
                q = sp + 1;
            }
            long long notify, flags, done;
            if (state != 6 || e->nrcpts >= QUEUE_RCPTS_MAX ||
                parse_ll(f[0], f[1] - 1, INT_MIN, INT_MAX, &notify) < 0 ||
                parse_ll(f[1], f[2] - 1, 0, INT_MAX, &flags) < 0 ||
                parse_ll(f[2], q - 1, INT_MIN, INT_MAX, &done) < 0 || q >= ve ||
                (size_t)(ve - q) > QUEUE_ADDR_MAX)
                goto bad;
            char *addr = dup_range(q, ve);
            last = qenv_add_rcpt(e, addr, NULL, (int)notify);
            free(addr);
            last->flags = (unsigned)flags;
            last->done = (int)done;
            last_has = 0;
            break;
        }
        case 'O':
        case 'D':
        case 'X': {
            int bit = key == 'O' ? 1 : key == 'D' ? 2 : 4;
            /* Fields after R come in the order O, D, X, each at most once. */
            if (!last || (last_has & ~(bit - 1)) ||
                vlen > (key == 'O' ? QUEUE_ADDR_MAX : QUEUE_REASON_MAX))
                goto bad;
            char **dst = key == 'O' ? &last->orcpt : key == 'D' ? &last->status : &last->reason;
            *dst = dup_range(v, ve);
            last_has |= bit;
            break;
        }
        default:
            goto bad;
        }
        p = nl + 1;
    }
    if (state != 6 || e->nrcpts == 0) {
        *why = "incomplete envelope";
        return -1;
    }
    return 0;
bad:
    *why = "malformed envelope line";
    return -1;
}

/* ---- queue IDs ---- */

/* Postfix's alphabets: digits and consonants; base 51 leaves out 'z'. */
static const char qid_chars[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz";

static size_t encode_base(char *out, uint64_t v, unsigned base, size_t pad)
{
    char tmp[32];
    size_t n = 0;
    do {
        tmp[n++] = qid_chars[v % base];
        v /= base;
    } while (v && n < sizeof(tmp));
    while (n < pad && n < sizeof(tmp))
        tmp[n++] = '0';
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

void queue_new_id(char *out, size_t outlen)
{
    static uint64_t last_usec;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t t = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    /* Strictly increasing within this process: two IDs never share a microsecond. */
    if (t <= last_usec)
        t = last_usec + 1;
    last_usec = t;
    char id[QUEUE_ID_MAX];
    size_t n = encode_base(id, t / 1000000u, 52, 6);
    n += encode_base(id + n, t % 1000000u, 52, 4);
    id[n++] = 'z';
    n += encode_base(id + n, (uint64_t)getpid(), 51, 1);
    id[n] = '\0';
    str_copy(out, id, outlen);
}

long long queue_id_time(const char *qid)
{
    long long v = 0;
    if (strlen(qid) < 11 || qid[10] != 'z')
        return -1;
    for (int i = 0; i < 6; i++) {
        const char *c = strchr(qid_chars, qid[i]);
        if (!c || !*c)
            return -1;
        v = v * 52 + (c - qid_chars);
    }
    return v;
}

/* ---- CRC32C ---- */

static uint32_t crc_table[8][256];
static int crc_ready;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
    crc_ready = 1;
}

/* Slicing-by-8 over the reflected Castagnoli polynomial. */
static uint32_t crc_sw(uint32_t c, const uint8_t *p, size_t n)
{
    if (!crc_ready)
        crc_init();
    while (n >= 8) {
        uint32_t lo = c ^ q_get32(p);
        uint32_t hi = q_get32(p + 4);
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}

static int have_sse42(void)
{
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    }
    return cached;
}
#endif

uint32_t queue_crc32c(uint32_t crc, const void *data, size_t len)
{
    uint32_t c = ~crc;
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_sse42())
        return ~crc_hw(c, data, len);
#endif
    return ~crc_sw(c, data, len);
}

/* Test hook: the table-driven path regardless of the CPU. */
uint32_t queue_crc32c_sw(uint32_t crc, const void *data, size_t len);
uint32_t queue_crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    return ~crc_sw(~crc, data, len);
}

uint64_t q_random64(void)
{
    uint64_t v;
    if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
        return v;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    v = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid();
    return v;
}
