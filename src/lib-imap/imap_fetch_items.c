/*
 * imap_fetch_items.c - parsing FETCH attributes and modifiers.
 * See imap_fetch_items.h.
 */
#include "lib-imap/imap_fetch_items.h"
#include "lib-imap/imap_quote.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define E_SYNTAX "Invalid FETCH attribute"

static const struct {
    const char *name;
    unsigned bit;
} simple_items[] = {
    {"FLAGS", IMAP_FETCH_FLAGS},
    {"INTERNALDATE", IMAP_FETCH_INTERNALDATE},
    {"RFC822.SIZE", IMAP_FETCH_RFC822_SIZE},
    {"ENVELOPE", IMAP_FETCH_ENVELOPE},
    {"BODY", IMAP_FETCH_BODY},
    {"BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE},
    {"UID", IMAP_FETCH_UID},
    {"MODSEQ", IMAP_FETCH_MODSEQ},
    {"EMAILID", IMAP_FETCH_EMAILID},
    {"THREADID", IMAP_FETCH_THREADID},
    {"PREVIEW", IMAP_FETCH_PREVIEW},
    {"SAVEDATE", IMAP_FETCH_SAVEDATE},
};

#define MACRO_FAST (IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE)
#define MACRO_ALL (MACRO_FAST | IMAP_FETCH_ENVELOPE)
#define MACRO_FULL (MACRO_ALL | IMAP_FETCH_BODY)

static void body_free(struct imap_fetch_body *b)
{
    for (size_t i = 0; i < b->nfields; i++)
        free(b->fields[i]);
    free(b->fields);
    free(b->reply);
}

void imap_fetch_free(struct imap_fetch *f)
{
    for (size_t i = 0; i < f->nbodies; i++)
        body_free(&f->bodies[i]);
    free(f->bodies);
    memset(f, 0, sizeof(*f));
}

static int word_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/* A number64 (0 .. 2^63-1) at s[*i]; nz requires >= 1. */
static int parse_num64(const char *s, size_t len, size_t *i, int nz, uint64_t *out)
{
    size_t p = *i;
    uint64_t v = 0;
    if (p >= len || s[p] < '0' || s[p] > '9')
        return -1;
    while (p < len && s[p] >= '0' && s[p] <= '9') {
        if (v > (UINT64_C(0x7fffffffffffffff) - (uint64_t)(s[p] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t)(s[p] - '0');
        p++;
    }
    if (nz && v == 0)
        return -1;
    *i = p;
    *out = v;
    return 0;
}

/* RFC 5322 ftext: printable ASCII except ':' and space. */
static int field_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > IMAP_FETCH_MAX_FIELD_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
            return 0;
    return 1;
}

/* One header field name (atom or quoted string) at s[*i], into b. */
static int parse_field(const char *s, size_t len, size_t *i, struct buf *name)
{
    size_t p = *i;
    buf_reset(name);
    if (p < len && s[p] == '"') {
        for (p++; p < len && s[p] != '"'; p++) {
            if (s[p] == '\\' && ++p == len)
                return -1;
            if (buf_putc(name, s[p]) < 0)
                return -1;
        }
        if (p == len)
            return -1;
        p++;
    } else {
        size_t start = p;
        while (p < len && s[p] != ' ' && s[p] != ')' && s[p] != '(' && s[p] != '"')
            p++;
        if (buf_append(name, s + start, p - start) < 0)
            return -1;
    }
    if (!field_name_ok(name->data ? name->data : "", name->len))
        return -1;
    *i = p;
    return 0;
}

/* " (" name *(SP name) ")" at s[*i], to the end of the section. */
static int parse_field_list(struct imap_fetch_body *b, const char *s, size_t len, size_t *i,
                            const char **err)
{
    size_t p = *i;
    if (p + 2 > len || s[p] != ' ' || s[p + 1] != '(')
        return -1;
    p += 2;
    struct buf name;
    buf_init(&name, IMAP_FETCH_MAX_FIELD_LEN + 1);
    int r = -1;
    for (;;) {
        if (b->nfields == IMAP_FETCH_MAX_FIELDS) {
            *err = "Too many header field names";
            break;
        }
        if (parse_field(s, len, &p, &name) < 0)
            break;
        b->fields = xrealloc(b->fields, (b->nfields + 1) * sizeof(*b->fields));
        b->fields[b->nfields++] = xstrndup(name.data, name.len);
        if (p < len && s[p] == ')') {
            *i = p + 1;
            r = 0;
            break;
        }
        if (p >= len || s[p] != ' ')
            break;
        p++;
    }
    buf_free(&name);
    return r;
}

/* section-part: nz-number *("." nz-number), stopping before a keyword. */
static int parse_parts(struct imap_fetch_body *b, const char *s, size_t len, size_t *i,
                       const char **err)
{
    size_t p = *i;
    while (p < len && s[p] >= '0' && s[p] <= '9') {
        uint64_t v;
        if (b->nparts == IMAP_FETCH_MAX_DEPTH) {
            *err = "Section nested too deeply";
            return -1;
        }
        if (parse_num64(s, len, &p, 1, &v) < 0 || v > UINT32_MAX)
            return -1;
        b->parts[b->nparts++] = (uint32_t)v;
        if (p < len && s[p] == '.')
            p++;
        else
            break;
    }
    /* "1." followed by nothing is not a section. */
    if (b->nparts && s[p - 1] == '.' && p == len)
        return -1;
    *i = p;
    return 0;
}

/* The text between the brackets of BODY[...] / BINARY[...]. */
static int parse_section(struct imap_fetch_body *b, const char *s, size_t len, const char **err)
{
    size_t p = 0;
    if (parse_parts(b, s, len, &p, err) < 0)
        return -1;
    if (p == len)
        return 0;
    if (b->kind != IMAP_FETCH_K_BODY)
        return -1;
    const char *kw = s + p;
    size_t kwlen = 0;
    while (p + kwlen < len && s[p + kwlen] != ' ')
        kwlen++;
    p += kwlen;
    if (word_is(kw, kwlen, "HEADER")) {
        b->section = IMAP_SECTION_HEADER;
    } else if (word_is(kw, kwlen, "TEXT")) {
        b->section = IMAP_SECTION_TEXT;
    } else if (word_is(kw, kwlen, "MIME") && b->nparts > 0) {
        b->section = IMAP_SECTION_MIME;
    } else if (word_is(kw, kwlen, "HEADER.FIELDS") || word_is(kw, kwlen, "HEADER.FIELDS.NOT")) {
        b->section = kwlen == 13 ? IMAP_SECTION_HEADER_FIELDS : IMAP_SECTION_HEADER_FIELDS_NOT;
        if (parse_field_list(b, s, len, &p, err) < 0)
            return -1;
    } else {
        return -1;
    }
    return p == len ? 0 : -1;
}

/* The end of the bracketed section starting after '[' (quotes respected). */
static size_t section_end(const char *s, size_t len, size_t start)
{
    int q = 0;
    for (size_t p = start; p < len; p++) {
        if (q && s[p] == '\\' && p + 1 < len)
            p++;
        else if (s[p] == '"')
            q = !q;
        else if (!q && s[p] == ']')
            return p;
    }
    return len;
}

static int parse_partial(struct imap_fetch_body *b, const char *s, size_t len, size_t p)
{
    if (p == len)
        return 0;
    if (b->kind == IMAP_FETCH_K_BINARY_SIZE || s[p] != '<')
        return -1;
    p++;
    if (parse_num64(s, len, &p, 0, &b->offset) < 0 || p >= len || s[p] != '.')
        return -1;
    p++;
    if (parse_num64(s, len, &p, 1, &b->length) < 0 || p + 1 != len || s[p] != '>')
        return -1;
    b->partial = 1;
    return 0;
}

static const char *const section_names[] = {
    [IMAP_SECTION_FULL] = "", [IMAP_SECTION_HEADER] = "HEADER",
    [IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS", [IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
    [IMAP_SECTION_TEXT] = "TEXT", [IMAP_SECTION_MIME] = "MIME",
};

/* The reply name: BODY[1.HEADER.FIELDS (From)]<0>, BINARY[1], BINARY.SIZE[2]. */
static void make_reply(struct imap_fetch_body *b)
{
    struct buf r;
    buf_init(&r, 0);
    buf_puts(&r, b->kind == IMAP_FETCH_K_BODY ? "BODY[" : b->kind == IMAP_FETCH_K_BINARY ? "BINARY[" : "BINARY.SIZE[");
    for (unsigned i = 0; i < b->nparts; i++)
        buf_printf(&r, "%s%u", i ? "." : "", b->parts[i]);
    if (b->section != IMAP_SECTION_FULL)
        buf_printf(&r, "%s%s", b->nparts ? "." : "", section_names[b->section]);
    if (b->nfields) {
        buf_puts(&r, " (");
        for (size_t i = 0; i < b->nfields; i++) {
            if (i)
                buf_putc(&r, ' ');
            imap_write_astring_z(&r, b->fields[i], 0);
        }
        buf_putc(&r, ')');
    }
    buf_putc(&r, ']');
    if (b->partial)
        buf_printf(&r, "<%llu>", (unsigned long long)b->offset);
    b->reply = xstrndup(r.data, r.len);
    buf_free(&r);
}

static struct imap_fetch_body *add_body(struct imap_fetch *f)
{
    f->bodies = xrealloc(f->bodies, (f->nbodies + 1) * sizeof(*f->bodies));
    struct imap_fetch_body *b = &f->bodies[f->nbodies++];
    memset(b, 0, sizeof(*b));
    return b;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: BODY[], BODY.PEEK[HEADER], BODY[TEXT]. */
static int parse_rfc822(struct imap_fetch *f, const char *s, size_t len)
{
    enum imap_section sec;
    int peek = 0;
    if (word_is(s, len, "RFC822"))
        sec = IMAP_SECTION_FULL;
    else if (word_is(s, len, "RFC822.HEADER"))
        sec = IMAP_SECTION_HEADER, peek = 1;
    else if (word_is(s, len, "RFC822.TEXT"))
        sec = IMAP_SECTION_TEXT;
    else
        return -1;
    struct imap_fetch_body *b = add_body(f);
    b->kind = IMAP_FETCH_K_BODY;
    b->section = sec;
    b->peek = (unsigned)peek;
    b->reply = xstrndup(s, len);
    for (char *c = b->reply; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    if (!peek)
        f->set_seen = 1;
    return 0;
}

static int parse_content(struct imap_fetch *f, const char *s, size_t len, const char **err)
{
    const char *lb = memchr(s, '[', len);
    size_t plen = (size_t)(lb - s);
    struct imap_fetch_body tmp;
    memset(&tmp, 0, sizeof(tmp));
    if (word_is(s, plen, "BODY") || word_is(s, plen, "BODY.PEEK"))
        tmp.kind = IMAP_FETCH_K_BODY;
    else if (word_is(s, plen, "BINARY") || word_is(s, plen, "BINARY.PEEK"))
        tmp.kind = IMAP_FETCH_K_BINARY;
    else if (word_is(s, plen, "BINARY.SIZE"))
        tmp.kind = IMAP_FETCH_K_BINARY_SIZE;
    else
        return -1;
    tmp.peek = plen > 5 && (s[plen - 1] == 'K' || s[plen - 1] == 'k') ? 1 : 0;
    if (tmp.kind == IMAP_FETCH_K_BINARY_SIZE)
        tmp.peek = 1;
    size_t end = section_end(s, len, plen + 1);
    if (end == len || parse_section(&tmp, s + plen + 1, end - plen - 1, err) < 0 ||
        parse_partial(&tmp, s, len, end + 1) < 0) {
        body_free(&tmp);
        return -1;
    }
    make_reply(&tmp);
    *add_body(f) = tmp;
    if (!tmp.peek)
        f->set_seen = 1;
    return 0;
}

static int parse_item(struct imap_fetch *f, const struct imap_arg *a, const char **err)
{
    const char *s;
    if (!imap_arg_atom(a, &s))
        return -1;
    size_t len = a->len;
    if (memchr(s, '[', len))
        return parse_content(f, s, len, err);
    for (size_t i = 0; i < sizeof(simple_items) / sizeof(simple_items[0]); i++) {
        if (word_is(s, len, simple_items[i].name)) {
            f->attrs |= simple_items[i].bit;
            return 0;
        }
    }
    return parse_rfc822(f, s, len);
}

static int is_atom(const struct imap_arg *a, const char *word)
{
    const char *s;
    return imap_arg_atom(a, &s) && word_is(s, a->len, word);
}

/* PREVIEW (LAZY) (RFC 8970). */
static int parse_preview_mods(struct imap_fetch *f, const struct imap_arg *list, const char **err)
{
    for (const struct imap_arg *a = list; !imap_arg_is_eol(a); a++) {
        if (!is_atom(a, "LAZY")) {
            *err = "Invalid PREVIEW modifier";
            return -1;
        }
        f->preview_lazy = 1;
    }
    return 0;
}

static int parse_list(struct imap_fetch *f, const struct imap_arg *list, const char **err)
{
    size_t n = 0;
    for (const struct imap_arg *a = list; !imap_arg_is_eol(a); a++) {
        if (++n > IMAP_FETCH_MAX_ITEMS) {
            *err = "Too many FETCH attributes";
            return -1;
        }
        if (parse_item(f, a, err) < 0)
            return -1;
        if (a[1].type == IMAP_ARG_LIST && is_atom(a, "PREVIEW")) {
            a++;
            if (parse_preview_mods(f, a->list, err) < 0)
                return -1;
        }
    }
    if (n == 0) {
        *err = "Empty FETCH attribute list";
        return -1;
    }
    return 0;
}

static int parse_modifiers(struct imap_fetch *f, const struct imap_arg *list, const char **err)
{
    for (const struct imap_arg *a = list; !imap_arg_is_eol(a); a++) {
        const char *s;
        if (!imap_arg_atom(a, &s)) {
            *err = "Invalid FETCH modifier";
            return -1;
        }
        if (word_is(s, a->len, "CHANGEDSINCE") && !f->changedsince_set) {
            const char *v;
            size_t i = 0;
            a++;
            if (!imap_arg_atom(a, &v) || parse_num64(v, a->len, &i, 0, &f->changedsince) < 0 ||
                i != a->len) {
                *err = "Invalid CHANGEDSINCE value";
                return -1;
            }
            f->changedsince_set = 1;
            f->attrs |= IMAP_FETCH_MODSEQ;
        } else if (word_is(s, a->len, "VANISHED") && !f->vanished) {
            f->vanished = 1;
        } else {
            *err = "Invalid FETCH modifier";
            return -1;
        }
    }
    if (f->vanished && !f->changedsince_set) {
        *err = "VANISHED requires CHANGEDSINCE";
        return -1;
    }
    return 0;
}

static int parse_args(struct imap_fetch *f, const struct imap_arg *args, const char **err)
{
    const struct imap_arg *list;
    const char *s;
    *err = E_SYNTAX;
    if (imap_arg_list(&args[0], &list)) {
        if (parse_list(f, list, err) < 0)
            return -1;
    } else if (imap_arg_atom(&args[0], &s) && word_is(s, args[0].len, "ALL")) {
        f->attrs |= MACRO_ALL;
    } else if (imap_arg_atom(&args[0], &s) && word_is(s, args[0].len, "FAST")) {
        f->attrs |= MACRO_FAST;
    } else if (imap_arg_atom(&args[0], &s) && word_is(s, args[0].len, "FULL")) {
        f->attrs |= MACRO_FULL;
    } else if (imap_arg_is_eol(&args[0]) || parse_item(f, &args[0], err) < 0) {
        return -1;
    }
    args++;
    if (imap_arg_list(args, &list)) {
        if (parse_modifiers(f, list, err) < 0)
            return -1;
        args++;
    }
    if (!imap_arg_is_eol(args)) {
        *err = "Unexpected arguments after FETCH attributes";
        return -1;
    }
    return 0;
}

int imap_fetch_parse(struct imap_fetch *f, const struct imap_arg *args, const char **err)
{
    memset(f, 0, sizeof(*f));
    if (parse_args(f, args, err) < 0) {
        imap_fetch_free(f);
        return -1;
    }
    return 0;
}
