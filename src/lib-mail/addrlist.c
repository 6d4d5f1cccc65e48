/*
 * addrlist.c - RFC 5322 address lists (see addrlist.h).
 *
 * A tokenizer in the style of RFC 5322 3.2 (atoms, quoted strings, domain
 * literals, specials; comments and folding white space dropped, the last
 * comment remembered) collects the tokens of one list element, bounded;
 * the list walker finds element, group and angle boundaries; each element
 * is then read as "phrase <route:addr-spec>" or as a bare addr-spec. The
 * input is untrusted: one forward scan, explicit bounds, no recursion.
 */
#include "lib-mail/addrlist.h"
#include "lib-mail/addr.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

enum tok_type { T_ATOM, T_QSTRING, T_DLITERAL, T_SPECIAL };

#define SPECIALS    "()<>@,;:\\\".[]"
#define COMMENT_MAX 512

struct tok {
    enum tok_type type;
    char special;
    size_t off, len;        /* text in the element buffer */
};

struct elem {
    struct tok tok[ADDRLIST_ELEM_TOKENS];
    size_t ntok;
    char text[ADDRLIST_ELEM_TEXT];
    size_t tlen;
    char comment[COMMENT_MAX];  /* the element's last comment, outer parens removed */
    int has_comment;
    int in_angle;               /* between '<' and '>': comments there are no name */
    int overflow;               /* lenient: tokens or text were dropped */
    int lenient;
};

static void elem_reset(struct elem *e)
{
    e->ntok = e->tlen = 0;
    e->has_comment = e->overflow = e->in_angle = 0;
    e->comment[0] = 0;
}

static int tok_is(const struct tok *t, char special)
{
    return t->type == T_SPECIAL && t->special == special;
}

/* Read one comment starting at '('; returns the position after it, or
 * NULL (strict) when it is unbalanced or nested too deep. */
static const char *read_comment(const char *s, struct elem *e)
{
    size_t clen = 0;
    int depth = 0;
    char keep[COMMENT_MAX];
    int angle = e->in_angle && e->lenient;     /* "<a (c) @b>": not a name (Dovecot) */
    if (angle)
        memcpy(keep, e->comment, sizeof(keep));
    do {
        if (*s == 0) {
            if (!e->lenient)
                return NULL;
            break;                             /* lenient: closed at the end */
        }
        if (*s == '\\' && s[1]) {
            s++;
        } else if (*s == '(') {
            if (++depth > ADDRLIST_COMMENT_DEPTH && !e->lenient)
                return NULL;
            if (depth == 1) {
                s++;
                continue;
            }
        } else if (*s == ')' && --depth == 0) {
            s++;
            break;
        }
        if (*s != '\r' && *s != '\n' && clen + 1 < sizeof(e->comment))
            e->comment[clen++] = *s;
        s++;
    } while (depth > 0);
    e->comment[clen] = 0;
    if (angle)
        memcpy(e->comment, keep, sizeof(keep));
    else
        e->has_comment = 1;
    return s;
}

/* Skip white space, folding and comments; NULL when malformed (strict). */
static const char *skip_cfws(const char *s, struct elem *e)
{
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s != '(')
            return s;
        if ((s = read_comment(s, e)) == NULL)
            return NULL;
    }
}

static int elem_putc(struct elem *e, char c)
{
    if (e->tlen + 1 >= sizeof(e->text)) {
        e->overflow = 1;
        return e->lenient ? 0 : -1;
    }
    e->text[e->tlen++] = c;
    return 0;
}

/* A control character: an error in strict mode, kept in lenient mode. */
static int bad_ctl(const struct elem *e, unsigned char b)
{
    return !e->lenient && ((b < 0x20 && b != '\t') || b == 0x7f);
}

static const char *read_quoted(const char *s, struct elem *e, char open)
{
    char close = open == '"' ? '"' : ']';
    if (open == '[' && elem_putc(e, '[') < 0)
        return NULL;
    for (s++; *s != close; s++) {
        if (*s == 0) {
            if (!e->lenient)
                return NULL;                   /* unbalanced quote or bracket */
            break;
        }
        if (*s == '\\' && s[1])
            s++;
        else if (*s == '\r' || *s == '\n')
            continue;                          /* unfold */
        if (bad_ctl(e, (unsigned char)*s) || elem_putc(e, *s) < 0)
            return NULL;
    }
    if (open == '[' && elem_putc(e, ']') < 0)
        return NULL;
    return *s ? s + 1 : s;
}

/*
 * Read the next token into e. Returns the new position, or NULL on
 * malformed input (strict); *end is set at the end of the value.
 */
static const char *next_token(const char *s, struct elem *e, int *end)
{
    *end = 0;
    for (;;) {
        if ((s = skip_cfws(s, e)) == NULL)
            return NULL;
        unsigned char b = (unsigned char)*s;
        if (!e->lenient || b == 0 || (b >= 0x20 && b != 0x7f))
            break;
        s++;                                   /* lenient: a stray control byte */
    }
    if (*s == 0) {
        *end = 1;
        return s;
    }
    if (e->ntok >= ADDRLIST_ELEM_TOKENS) {
        if (!e->lenient)
            return NULL;
        e->overflow = 1;
        e->ntok--;                             /* reuse the last slot */
    }
    struct tok *t = &e->tok[e->ntok];
    unsigned char c = (unsigned char)*s;
    t->off = e->tlen;
    t->special = 0;
    if (c == '"' || c == '[') {
        t->type = c == '"' ? T_QSTRING : T_DLITERAL;
        if ((s = read_quoted(s, e, (char)c)) == NULL)
            return NULL;
    } else if (strchr(SPECIALS, c)) {
        t->type = T_SPECIAL;
        t->special = (char)c;
        e->in_angle = c == '<' ? 1 : c == '>' ? 0 : e->in_angle;
        s++;
    } else if (c < 0x20 || c == 0x7f) {
        return NULL;
    } else {
        t->type = T_ATOM;
        while ((unsigned char)*s > 0x20 && *s != 0x7f && !strchr(SPECIALS, *s))
            if (elem_putc(e, *s++) < 0)
                return NULL;
    }
    t->len = e->tlen - t->off;
    e->text[e->tlen] = 0;
    e->ntok++;
    return s;
}

/* ---------- building items ---------- */

struct text {
    char buf[ADDRLIST_ELEM_TEXT];
    size_t len;
    int overflow;
};

static void text_add(struct text *t, const char *s, size_t n)
{
    INVARIANT(t->len < sizeof(t->buf));
    size_t room = sizeof(t->buf) - 1 - t->len;
    if (n > room) {
        t->overflow = 1;
        n = room;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void text_tok(struct text *t, const struct elem *e, const struct tok *k)
{
    if (k->type == T_SPECIAL)
        text_add(t, &k->special, 1);
    else
        text_add(t, e->text + k->off, k->len);
}

/* A phrase: words joined by one space, a '.' glued to the word before. */
static char *phrase_text(const struct elem *e, const struct tok *tok, size_t n)
{
    struct text t = {.len = 0};
    t.buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (t.len > 0 && !tok_is(&tok[i], '.'))
            text_add(&t, " ", 1);
        text_tok(&t, e, &tok[i]);
    }
    return t.len ? xstrdup(t.buf) : NULL;
}

/* Strict: a display name is words and dots only. */
static int phrase_valid(const struct tok *tok, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tok[i].type == T_SPECIAL && !tok_is(&tok[i], '.'))
            return 0;
    return 1;
}

/*
 * tok[0..n) is an addr-spec: word *("." word) ["@" domain]. Strict mode
 * checks it as sendmail -t always has (dots in the local part tolerated,
 * two words or an empty part refused, domain syntax checked); lenient
 * mode joins what is there and marks what is missing.
 */
static int addr_spec(const struct elem *e, const struct tok *tok, size_t n, struct addr_item *it)
{
    struct text local = {.len = 0}, dom = {.len = 0};
    size_t i = 0;
    int want_word = 1, words = 0, bad = 0;
    local.buf[0] = dom.buf[0] = 0;
    for (; i < n && !tok_is(&tok[i], '@'); i++) {
        if (tok_is(&tok[i], '.')) {
            text_add(&local, ".", 1);
            want_word = 1;
            continue;
        }
        if (!want_word || tok[i].type == T_SPECIAL || tok[i].type == T_DLITERAL) {
            bad = 1;                           /* "john doe@x": two words */
            if (!e->lenient)
                return -1;
            if (!want_word)
                text_add(&local, " ", 1);
        }
        text_tok(&local, e, &tok[i]);
        want_word = 0;
        words++;
    }
    int has_at = i < n;
    for (i++; i < n; i++) {
        if (tok[i].type == T_QSTRING || (tok[i].type == T_SPECIAL && !tok_is(&tok[i], '.'))) {
            bad = 1;
            if (!e->lenient)
                return -1;
        }
        text_tok(&dom, e, &tok[i]);
    }
    if (!e->lenient) {
        if (words == 0 || local.len == 0 || local.overflow || dom.overflow)
            return -1;
        if (has_at && (dom.len == 0 || !domain_valid(dom.buf, 1)))
            return -1;
        if (local.len + 1 + dom.len > ADDR_MAX)
            return -1;
        it->mailbox = xstrdup(local.buf);
        it->domain = has_at ? xstrdup(dom.buf) : NULL;
        return 0;
    }
    it->invalid = bad || local.len == 0 || dom.len == 0 || local.overflow || dom.overflow;
    it->mailbox = xstrdup(local.len ? local.buf : ADDRLIST_MISSING_MAILBOX);
    it->domain = xstrdup(dom.len ? dom.buf : ADDRLIST_MISSING_DOMAIN);
    return 0;
}

/* The route of "<@a,@b:user@host>": tok[0..n) up to the ':'. */
static size_t route_len(const struct tok *tok, size_t n)
{
    if (n == 0 || !tok_is(&tok[0], '@'))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (tok_is(&tok[i], ':'))
            return i + 1;
    return 0;
}

static void item_clear(struct addr_item *it)
{
    free(it->name);
    free(it->route);
    free(it->mailbox);
    free(it->domain);
    memset(it, 0, sizeof(*it));
}

/*
 * Read one element (its tokens, separator removed) into it. Returns 1 for
 * an item, 0 for nothing ("a, , b", "<>" in strict mode), -1 malformed.
 */
static int element(const struct elem *e, struct addr_item *it)
{
    const struct tok *tok = e->tok;
    size_t ntok = e->ntok, lt, gt;

    memset(it, 0, sizeof(*it));
    it->kind = ADDR_ITEM_MAILBOX;
    if (ntok == 0)
        return 0;
    for (lt = 0; lt < ntok && !tok_is(&tok[lt], '<'); lt++)
        ;
    if (lt == ntok) {                          /* bare addr-spec */
        if (addr_spec(e, tok, ntok, it) < 0)
            return -1;
    } else {
        for (gt = lt + 1; gt < ntok && !tok_is(&tok[gt], '>'); gt++)
            ;
        if (!e->lenient && (gt != ntok - 1 || !phrase_valid(tok, lt)))
            return -1;                         /* no '>', text after it, specials in the name */
        it->name = phrase_text(e, tok, lt);
        size_t a = lt + 1, r = route_len(tok + a, gt - a);
        if (r == 0 && a < gt && tok_is(&tok[a], '@') && !e->lenient)
            return -1;                         /* a route without its ':' */
        if (r > 1) {
            struct text t = {.len = 0};
            for (size_t i = a; i < a + r - 1; i++)
                text_tok(&t, e, &tok[i]);
            it->route = xstrdup(t.buf);
        }
        a += r;
        if (a == gt && !e->lenient) {
            item_clear(it);
            return 0;                          /* "<>" in a header: nothing to send to */
        }
        if (a == gt) {
            it->mailbox = xstrdup(ADDRLIST_MISSING_MAILBOX);
            it->domain = xstrdup(ADDRLIST_MISSING_DOMAIN);
            it->invalid = 1;
        } else if (addr_spec(e, tok + a, gt - a, it) < 0) {
            item_clear(it);
            return -1;
        }
    }
    /* a comment names a bare addr-spec; lenient mode (Dovecot's reading) gives
     * "<a@b> (c)" no name */
    if (!it->name && e->has_comment && e->comment[0] && (!e->lenient || lt == ntok))
        it->name = xstrdup(e->comment);
    if (e->overflow)
        it->invalid = 1;
    if (!e->lenient) {
        char full[ADDR_MAX + 2];
        str_fmt(full, sizeof(full), "%s%s%s", it->mailbox, it->domain ? "@" : "",
                it->domain ? it->domain : "");
        if (!utf8_valid(full, strlen(full))) {
            item_clear(it);
            return -1;
        }
    }
    return 1;
}

/* ---------- the list walker ---------- */

struct walk {
    struct addr_items *out;
    size_t max, cap, addrs;
    int lenient;
};

/* Append an item; 0, or -1 when over the limit (strict: an error). */
static int push(struct walk *w, struct addr_item *it)
{
    if (it->kind == ADDR_ITEM_MAILBOX && !w->lenient && w->addrs >= w->max)
        return -1;
    if (w->lenient && w->out->n >= w->max)
        return -1;
    if (w->out->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->out->v = xrealloc(w->out->v, w->cap * sizeof(*w->out->v));
    }
    w->out->v[w->out->n++] = *it;
    if (it->kind == ADDR_ITEM_MAILBOX)
        w->addrs++;
    memset(it, 0, sizeof(*it));
    return 0;
}

static int push_group(struct walk *w, enum addr_item_kind kind, char *name)
{
    struct addr_item it = {.kind = kind, .mailbox = name};
    if (push(w, &it) < 0) {
        free(name);
        return -1;
    }
    return 0;
}

/* End of one element: build and append its item. 1 = stop (lenient limit). */
static int flush(struct walk *w, struct elem *e)
{
    struct addr_item it;
    int rc = element(e, &it);
    elem_reset(e);
    if (rc < 0)
        return -1;
    if (rc > 0 && push(w, &it) < 0) {
        item_clear(&it);
        return w->lenient ? 1 : -1;
    }
    return 0;
}

/* Returns 0 at the end of the list, -1 malformed (strict). */
static int walk_list(struct walk *w, const char *s, struct elem *e)
{
    int in_group = 0, in_angle = 0, end = 0;
    while (!end) {
        if ((s = next_token(s, e, &end)) == NULL)
            return -1;
        struct tok *t = end ? NULL : &e->tok[e->ntok - 1];
        if (t && tok_is(t, '<')) {
            if (in_angle && !w->lenient)
                return -1;
            if (in_angle)
                e->ntok--;
            in_angle = 1;
            continue;
        }
        if (t && tok_is(t, '>')) {
            if (!in_angle && !w->lenient)
                return -1;
            if (!in_angle)
                e->ntok--;
            in_angle = 0;
            continue;
        }
        if (in_angle && !end)
            continue;                          /* ',' and ':' of a route stay inside */
        if (t && tok_is(t, ':')) {
            if (in_group && !w->lenient)
                return -1;                     /* groups do not nest */
            if (in_group && push_group(w, ADDR_ITEM_GROUP_END, NULL) < 0)
                return w->lenient ? 0 : -1;
            in_group = 1;
            char *name = phrase_text(e, e->tok, e->ntok - 1);
            elem_reset(e);
            if (push_group(w, ADDR_ITEM_GROUP_START, name ? name : xstrdup("")) < 0)
                return w->lenient ? 0 : -1;
            continue;
        }
        if (t && !tok_is(t, ',') && !tok_is(t, ';'))
            continue;
        int group_end = t && tok_is(t, ';');
        if (group_end && !in_group && !w->lenient)
            return -1;
        if (in_angle && !w->lenient)
            return -1;
        if (t)
            e->ntok--;                         /* drop the separator */
        in_angle = 0;
        int rc = flush(w, e);
        if (rc != 0)
            return rc > 0 ? 0 : -1;
        if ((group_end || end) && in_group) {
            if (end && !w->lenient)
                return -1;                     /* a group without its ';' */
            in_group = 0;
            if (push_group(w, ADDR_ITEM_GROUP_END, NULL) < 0)
                return w->lenient ? 0 : -1;
        }
    }
    return 0;
}

int addr_items_parse(const char *value, size_t max, int flags, struct addr_items *out)
{
    struct elem *e = xmalloc(sizeof(*e));
    struct walk w = {.out = out, .max = max, .lenient = (flags & ADDRLIST_LENIENT) != 0};

    out->v = NULL;
    out->n = 0;
    elem_reset(e);
    e->lenient = w.lenient;
    int rc = walk_list(&w, value, e);
    free(e);
    if (rc < 0) {
        INVARIANT(!w.lenient);
        addr_items_free(out);
        return -1;
    }
    return (int)out->n;
}

void addr_items_free(struct addr_items *items)
{
    for (size_t i = 0; i < items->n; i++)
        item_clear(&items->v[i]);
    free(items->v);
    items->v = NULL;
    items->n = 0;
}

int addr_parse_header_list(const char *value, size_t max, char ***out)
{
    struct addr_items items;
    *out = NULL;
    if (addr_items_parse(value, max, 0, &items) < 0)
        return -1;
    char **v = xcalloc(items.n + 1, sizeof(*v));
    size_t n = 0;
    for (size_t i = 0; i < items.n; i++) {
        const struct addr_item *it = &items.v[i];
        if (it->kind != ADDR_ITEM_MAILBOX)
            continue;
        char buf[ADDR_MAX + 2];
        str_fmt(buf, sizeof(buf), "%s%s%s", it->mailbox, it->domain ? "@" : "",
                it->domain ? it->domain : "");
        v[n++] = xstrdup(buf);
    }
    addr_items_free(&items);
    *out = v;
    return (int)n;
}
