/*
 * imap_mimefields.c - Content-* fields read as Dovecot reads them (see
 * imap_mimefields.h).
 *
 * The tokenizer follows RFC 822 with Dovecot's leniency: white space and
 * (nested) comments are skipped between tokens, a MIME token is atext
 * without "/", "=", "?" but with ".", a broken parameter is skipped one
 * byte at a time until the next ";".
 */
#include "lib-imap/imap_mimefields.h"
#include "lib-imap/imap_bsquote.h"
#include "lib-imap/imap_hdrwalk.h"
#include "lib-mail/header.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- the tokenizer ---- */

struct rp {
    const char *p, *end;
};

static int is_atext(unsigned char c)
{
    return c >= 0x80 || isalnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int is_token(unsigned char c)
{
    return c == '.' || (is_atext(c) && c != '/' && c != '=' && c != '?');
}

/* At '(': 1 when input remains after the comment, 0 at the end, -1 unclosed. */
static int skip_comment(struct rp *r)
{
    int level = 1;
    for (r->p++; r->p < r->end; r->p++) {
        if (*r->p == '(') {
            level++;
        } else if (*r->p == ')') {
            if (--level == 0) {
                r->p++;
                return r->p < r->end;
            }
        } else if (*r->p == '\\') {
            if (++r->p >= r->end)
                return -1;
        }
    }
    return -1;
}

/* 1 when input remains, 0 at the end, -1 on an unclosed comment. */
static int skip_lwsp(struct rp *r)
{
    while (r->p < r->end) {
        char c = *r->p;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            r->p++;
            continue;
        }
        if (c != '(')
            break;
        if (skip_comment(r) < 0)
            return -1;
    }
    return r->p < r->end;
}

static int token(struct rp *r, struct buf *out)
{
    const char *s = r->p;
    while (r->p < r->end && is_token((unsigned char)*r->p))
        r->p++;
    buf_append(out, s, (size_t)(r->p - s));
    return r->p < r->end ? skip_lwsp(r) : 0;
}

static int atom(struct rp *r, struct buf *out)
{
    if (r->p >= r->end || !is_atext((unsigned char)*r->p))
        return -1;
    const char *s = r->p;
    while (r->p < r->end && is_atext((unsigned char)*r->p))
        r->p++;
    buf_append(out, s, (size_t)(r->p - s));
    return r->p < r->end ? skip_lwsp(r) : 0;
}

/* At '"': the unescaped content, folds removed. */
static int quoted(struct rp *r, struct buf *out)
{
    for (r->p++; r->p < r->end; r->p++) {
        char c = *r->p;
        if (c == '"') {
            r->p++;
            return skip_lwsp(r);
        }
        if (c == '\n') {
            if (out->len > 0 && out->data[out->len - 1] == '\r')
                out->data[--out->len] = '\0';
            continue;
        }
        if (c == '\\' && ++r->p >= r->end)
            return -1;
        buf_putc(out, *r->p);
    }
    return -1;
}

/*
 * "type/subtype" into out; < 0 when it is broken, parameters are then not
 * read. As Dovecot 2.3: a type alone at the end stays ("text"), any other
 * break (no subtype, something else than ";" after it) empties out.
 */
static int content_type(struct rp *r, struct buf *out)
{
    if (skip_lwsp(r) <= 0)
        return -1;
    int rc = token(r, out);
    if (rc <= 0 || out->len == 0)
        return -1;
    if (*r->p != '/' || (r->p++, skip_lwsp(r) <= 0)) {
        buf_reset(out);
        return -1;
    }
    buf_putc(out, '/');
    size_t sub = out->len;
    rc = token(r, out);
    if (rc < 0 || out->len == sub || (rc > 0 && *r->p != ';')) {
        buf_reset(out);
        return -1;
    }
    return rc;
}

/* One "; key=value": 1, 0 at the end, -1 broken. */
static int param(struct rp *r, struct buf *key, struct buf *value)
{
    buf_reset(key);
    buf_reset(value);
    if (r->p >= r->end)
        return 0;
    if (*r->p != ';')
        return -1;
    r->p++;
    if (skip_lwsp(r) <= 0 || token(r, key) <= 0 || *r->p != '=')
        return -1;
    r->p++;
    int rc = skip_lwsp(r);
    if (rc <= 0) {
        /* no value */
    } else if (*r->p == '"') {
        rc = quoted(r, value);
    } else if (*r->p == '=') {
        /* name==?utf-8?b?...?= (broken, but seen) */
        while (r->p < r->end && !strchr("; \t\r\n", *r->p))
            buf_putc(value, *r->p++);
    } else {
        rc = token(r, value);
    }
    return rc < 0 ? -1 : 1;
}

/* ---- parameters, RFC 2231 merged the way Dovecot merges them ---- */

static void params_add(struct mf_params *p, const char *k, const char *v)
{
    p->kv = xrealloc(p->kv, (p->n + 1) * 2 * sizeof(char *));
    p->kv[p->n * 2] = xstrdup(k);
    p->kv[p->n * 2 + 1] = xstrdup(v);
    p->n++;
}

struct sect {
    char *key, *value;
    unsigned idx;
    int extended;
};

static int sect_cmp(const void *a, const void *b)
{
    const struct sect *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* "name*", "name*N", "name*N*": 1 with s filled, else 0 (an ordinary parameter). */
static int sect_parse(const char *key, const char *value, struct sect *s)
{
    const char *star = strchr(key, '*');
    if (!star)
        return 0;
    const char *p = star;
    unsigned idx = 0;
    if (p[1] != '\0') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++)
            idx = idx * 10 + (unsigned)(*p - '0');
    }
    s->extended = *p == '*';
    if (s->extended)
        p++;
    if (*p != '\0')
        return 0;
    s->key = xmalloc((size_t)(star - key) + 1);
    memcpy(s->key, key, (size_t)(star - key));
    s->key[star - key] = '\0';
    s->value = xstrdup(value);
    s->idx = idx;
    return 1;
}

static void sect_merge(struct mf_params *out, struct sect *v, size_t n)
{
    qsort(v, n, sizeof(*v), sect_cmp);
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0, next; i < n; i = next) {
        int ok = 1, ext = 0;
        unsigned want = 0;
        for (next = i; next < n && strcasecmp(v[i].key, v[next].key) == 0; next++) {
            ok &= v[next].idx == want++;
            ext |= v[next].extended;
        }
        buf_reset(&b);
        if (!ok) {
            for (size_t j = i; j < next; j++) {
                buf_reset(&b);
                buf_printf(&b, v[j].extended ? "%s*%u*" : "%s*%u", v[j].key, v[j].idx);
                params_add(out, buf_cstr(&b), v[j].value);
            }
            continue;
        }
        if (ext && !v[i].extended)
            buf_puts(&b, "''");
        for (size_t j = i; j < next; j++) {
            for (const char *c = v[j].value; *c; c++) {
                if (*c == '%' && ext && !v[j].extended)
                    buf_puts(&b, "%25");
                else
                    buf_putc(&b, *c);
            }
        }
        struct buf k;
        buf_init(&k, 0);
        buf_printf(&k, ext ? "%s*" : "%s", v[i].key);
        params_add(out, buf_cstr(&k), buf_cstr(&b));
        buf_free(&k);
    }
    buf_free(&b);
}

static void params_read(struct rp *r, struct mf_params *out)
{
    struct buf key, value;
    buf_init(&key, 0);
    buf_init(&value, 0);
    struct sect *v = NULL;
    size_t n = 0;
    int rc;
    while ((rc = param(r, &key, &value)) != 0) {
        if (rc < 0) {
            if (r->p >= r->end)
                break;
            r->p++;                          /* skip a byte and try again */
            continue;
        }
        struct sect s;
        if (sect_parse(buf_cstr(&key), buf_cstr(&value), &s)) {
            v = xrealloc(v, (n + 1) * sizeof(*v));
            v[n++] = s;
        } else {
            params_add(out, buf_cstr(&key), buf_cstr(&value));
        }
    }
    if (n > 0)
        sect_merge(out, v, n);
    for (size_t i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].value);
    }
    free(v);
    buf_free(&key);
    buf_free(&value);
}

static void params_free(struct mf_params *p)
{
    for (size_t i = 0; i < p->n * 2; i++)
        free(p->kv[i]);
    free(p->kv);
    p->kv = NULL;
    p->n = 0;
}

/* ---- the fields ---- */

/* The value as Dovecot's header parser hands it over: blanks after the colon
 * skipped, the value cut at a NUL byte (Dovecot's values are C strings). */
static char *value_dup(const struct hdr_field *f, struct rp *r)
{
    const char *p = f->value, *end = f->value + f->value_len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t n = (size_t)(end - p);
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    if (r) {
        r->p = s;
        r->end = s + strlen(s);
    }
    return s;
}

static void read_ctype(struct mime_fields *mf, const struct hdr_field *f)
{
    struct rp r;
    char *v = value_dup(f, &r);
    struct buf t;
    buf_init(&t, 0);
    skip_lwsp(&r);
    int rc = content_type(&r, &t);
    const char *full = buf_cstr(&t), *slash = strchr(full, '/');
    mf->ctype_full = xstrdup(full);
    mf->type = xstrdup(full);
    mf->type[slash ? (size_t)(slash - full) : strlen(full)] = '\0';
    mf->subtype = xstrdup(slash ? slash + 1 : "");
    if (rc >= 0)
        params_read(&r, &mf->params);
    buf_free(&t);
    free(v);
}

static void read_cte(struct mime_fields *mf, const struct hdr_field *f)
{
    struct rp r;
    char *v = value_dup(f, &r);
    struct buf t;
    buf_init(&t, 0);
    skip_lwsp(&r);
    if (token(&r, &t) >= 0 && skip_lwsp(&r) == 0 && t.len > 0)
        mf->cte = xstrdup(buf_cstr(&t));
    buf_free(&t);
    free(v);
}

static void read_disposition(struct mime_fields *mf, const struct hdr_field *f)
{
    struct rp r;
    char *v = value_dup(f, &r);
    struct buf t;
    buf_init(&t, 0);
    skip_lwsp(&r);
    if (token(&r, &t) >= 0) {
        free(mf->disposition);
        params_free(&mf->dparams);
        mf->disposition = xstrdup(buf_cstr(&t));
        params_read(&r, &mf->dparams);
    }
    buf_free(&t);
    free(v);
}

static void read_language(struct mime_fields *mf, const struct hdr_field *f)
{
    struct rp r;
    char *v = value_dup(f, &r);
    struct buf t;
    buf_init(&t, 0);
    size_t n = 0;
    skip_lwsp(&r);
    while (atom(&r, &t) >= 0) {
        mf->lang = xrealloc(mf->lang, (n + 2) * sizeof(char *));
        mf->lang[n++] = xstrdup(buf_cstr(&t));
        mf->lang[n] = NULL;
        buf_reset(&t);
        if (r.p >= r.end || *r.p != ',')
            break;
        r.p++;
        skip_lwsp(&r);
    }
    buf_free(&t);
    free(v);
}

static void read_field(struct mime_fields *mf, const struct hdr_field *f)
{
    if (hdr_name_is(f, "MIME-Version")) {
        mf->mime_version = 1;
    } else if (hdr_name_is(f, "Content-Type")) {
        if (!mf->have_ctype)
            read_ctype(mf, f);
        mf->have_ctype = 1;
    } else if (hdr_name_is(f, "Content-Transfer-Encoding")) {
        if (!mf->cte)
            read_cte(mf, f);
    } else if (hdr_name_is(f, "Content-Disposition")) {
        if (mf->dparams.n == 0)            /* Dovecot: until one with parameters */
            read_disposition(mf, f);
    } else if (hdr_name_is(f, "Content-Language")) {
        if (!mf->lang)
            read_language(mf, f);
    } else if (hdr_name_is(f, "Content-ID")) {
        if (!mf->id)
            mf->id = value_dup(f, NULL);
    } else if (hdr_name_is(f, "Content-Description")) {
        if (!mf->desc)
            mf->desc = value_dup(f, NULL);
    } else if (hdr_name_is(f, "Content-Location")) {
        if (!mf->location)
            mf->location = value_dup(f, NULL);
    } else if (hdr_name_is(f, "Content-MD5")) {
        if (!mf->md5)
            mf->md5 = value_dup(f, NULL);
    }
}

void mime_fields_read(struct mime_fields *mf, const char *h, size_t len, int skip_from)
{
    memset(mf, 0, sizeof(*mf));
    if (skip_from && len >= 5 && memcmp(h, "From ", 5) == 0) {
        const char *lf = memchr(h, '\n', len);
        size_t skip = lf ? (size_t)(lf - h) + 1 : len;
        h += skip;
        len -= skip;
    }
    struct imap_hdrwalk w;
    struct hdr_field f;
    imap_hdrwalk_init(&w, h, len);
    while (imap_hdrwalk_next(&w, &f))
        if (f.name_len >= 8 && (strncasecmp(f.start, "Content-", 8) == 0 ||
                                strncasecmp(f.start, "MIME-Version", f.name_len) == 0))
            read_field(mf, &f);
}

void mime_fields_clear(struct mime_fields *mf)
{
    int mv = mf->mime_version, ct = mf->have_ctype;
    mime_fields_free(mf);
    mf->mime_version = mv;
    mf->have_ctype = ct;
}

void mime_fields_free(struct mime_fields *mf)
{
    free(mf->ctype_full);
    free(mf->type);
    free(mf->subtype);
    params_free(&mf->params);
    free(mf->cte);
    free(mf->id);
    free(mf->desc);
    free(mf->md5);
    free(mf->location);
    free(mf->disposition);
    params_free(&mf->dparams);
    for (size_t i = 0; mf->lang && mf->lang[i]; i++)
        free(mf->lang[i]);
    free(mf->lang);
    memset(mf, 0, sizeof(*mf));
}

/* ---- rendering ---- */

static void put_str(struct buf *out, const char *s)
{
    imap_bsq_string(out, s, strlen(s));
}

void mf_params_write(struct buf *out, const struct mf_params *p, int with_charset)
{
    if (!with_charset && p->n == 0) {
        buf_puts(out, "NIL");
        return;
    }
    int seen = 0;
    buf_putc(out, '(');
    for (size_t i = 0; i < p->n; i++) {
        if (i > 0)
            buf_putc(out, ' ');
        seen |= strcasecmp(p->kv[i * 2], "charset") == 0;
        put_str(out, p->kv[i * 2]);
        buf_putc(out, ' ');
        put_str(out, p->kv[i * 2 + 1]);
    }
    if (with_charset && !seen)
        buf_puts(out, p->n ? " \"charset\" \"us-ascii\"" : "\"charset\" \"us-ascii\"");
    buf_putc(out, ')');
}

void mf_common_write(struct buf *out, const struct mime_fields *mf)
{
    buf_putc(out, ' ');
    if (!mf->disposition) {
        buf_puts(out, "NIL");
    } else {
        buf_putc(out, '(');
        put_str(out, mf->disposition);
        buf_putc(out, ' ');
        mf_params_write(out, &mf->dparams, 0);
        buf_putc(out, ')');
    }
    buf_putc(out, ' ');
    if (!mf->lang) {
        buf_puts(out, "NIL");
    } else {
        buf_putc(out, '(');
        for (size_t i = 0; mf->lang[i]; i++) {
            if (i > 0)
                buf_putc(out, ' ');
            put_str(out, mf->lang[i]);
        }
        buf_putc(out, ')');
    }
    buf_putc(out, ' ');
    imap_bsq_nstring_nolf(out, mf->location, mf->location ? strlen(mf->location) : 0);
}
