/*
 * imap_search.c - SEARCH programs: parsing into a key tree, IMAP dates,
 * per-message evaluation. See imap_search.h.
 */
#include "lib-imap/imap_search.h"
#include "lib-imap/imap_quote.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- IMAP dates ---- */

int32_t imap_days_from_civil(int y, unsigned m, unsigned d)
{
    /* Proleptic Gregorian, March-based years (Howard Hinnant's method). */
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

static unsigned days_in_month(int y, unsigned m)
{
    static const unsigned char dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dim[m - 1] + (m == 2 && leap);
}

int imap_date_parse(const char *s, size_t len, int32_t *days)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    size_t i = 0;
    unsigned d = 0, m = 0;
    int y = 0;
    while (i < len && i < 2 && s[i] >= '0' && s[i] <= '9')
        d = d * 10 + (unsigned)(s[i++] - '0');
    /* d{1,2} "-" Mon "-" yyyy */
    if (i == 0 || len != i + 9 || s[i] != '-' || s[i + 4] != '-')
        return -1;
    for (unsigned k = 0; k < 12; k++)
        if (strncasecmp(s + i + 1, months + 3 * k, 3) == 0)
            m = k + 1;
    for (size_t k = i + 5; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        y = y * 10 + (s[k] - '0');
    }
    if (m == 0 || d == 0 || d > days_in_month(y, m))
        return -1;
    *days = imap_days_from_civil(y, m, d);
    return 0;
}

/* ---- parsing ---- */

struct sp {
    struct imap_search *s;
    const struct imap_search_params *p;
    const char **err;
};

static int bad(struct sp *c, const char *why)
{
    *c->err = why;
    return IMAP_SEARCH_BAD;
}

static int word_is(const struct imap_arg *a, const char *word)
{
    const char *s;
    return imap_arg_atom(a, &s) && strcasecmp(s, word) == 0;
}

static void key_free(struct imap_search_key *k)
{
    while (k) {
        struct imap_search_key *next = k->next;
        key_free(k->child);
        free(k->str);
        free(k->str2);
        imap_seqset_free(&k->set);
        free(k);
        k = next;
    }
}

void imap_search_free(struct imap_search *s)
{
    key_free(s->root);
    memset(s, 0, sizeof(*s));
}

static struct imap_search_key *new_key(struct sp *c, enum imap_sk_type type)
{
    if (c->s->nkeys >= IMAP_SEARCH_MAX_KEYS) {
        *c->err = "Too many search keys";
        return NULL;
    }
    c->s->nkeys++;
    struct imap_search_key *k = xcalloc(1, sizeof(*k));
    k->type = type;
    imap_seqset_init(&k->set);
    return k;
}

/* A number64 (or nz-number when nz) from an atom. */
static int arg_number(const struct imap_arg *a, int nz, uint64_t *out)
{
    const char *s;
    uint64_t v = 0;
    if (!imap_arg_atom(a, &s) || a->len == 0 || a->len > 19)
        return -1;
    for (size_t i = 0; i < a->len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT64_C(0x7fffffffffffffff) || (nz && v == 0))
        return -1;
    *out = v;
    return 0;
}

/* RFC 5322 field name: printable ASCII except ':' (and space). */
static int field_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 256)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || s[i] == ':')
            return 0;
    return 1;
}

enum argk { A_NONE, A_STR, A_DATE, A_NUM, A_NZNUM };

static const struct simple_key {
    const char *name;
    enum imap_sk_type type;
    enum argk arg;
    unsigned flag;
    unsigned not;
    const char *field;          /* HEADER keys: the field */
} simple_keys[] = {
    {"ALL", IMAP_SK_ALL, A_NONE, 0, 0, NULL},
    {"ANSWERED", IMAP_SK_FLAG, A_NONE, IMAP_SF_ANSWERED, 0, NULL},
    {"DELETED", IMAP_SK_FLAG, A_NONE, IMAP_SF_DELETED, 0, NULL},
    {"DRAFT", IMAP_SK_FLAG, A_NONE, IMAP_SF_DRAFT, 0, NULL},
    {"FLAGGED", IMAP_SK_FLAG, A_NONE, IMAP_SF_FLAGGED, 0, NULL},
    {"SEEN", IMAP_SK_FLAG, A_NONE, IMAP_SF_SEEN, 0, NULL},
    {"RECENT", IMAP_SK_FLAG, A_NONE, IMAP_SF_RECENT, 0, NULL},
    {"OLD", IMAP_SK_FLAG, A_NONE, IMAP_SF_RECENT, 1, NULL},
    {"UNANSWERED", IMAP_SK_FLAG, A_NONE, IMAP_SF_ANSWERED, 1, NULL},
    {"UNDELETED", IMAP_SK_FLAG, A_NONE, IMAP_SF_DELETED, 1, NULL},
    {"UNDRAFT", IMAP_SK_FLAG, A_NONE, IMAP_SF_DRAFT, 1, NULL},
    {"UNFLAGGED", IMAP_SK_FLAG, A_NONE, IMAP_SF_FLAGGED, 1, NULL},
    {"UNSEEN", IMAP_SK_FLAG, A_NONE, IMAP_SF_SEEN, 1, NULL},
    {"SAVEDATESUPPORTED", IMAP_SK_SAVEDATESUPPORTED, A_NONE, 0, 0, NULL},
    {"KEYWORD", IMAP_SK_KEYWORD, A_STR, 0, 0, NULL},
    {"UNKEYWORD", IMAP_SK_KEYWORD, A_STR, 0, 1, NULL},
    {"BCC", IMAP_SK_HEADER, A_STR, 0, 0, "Bcc"},
    {"CC", IMAP_SK_HEADER, A_STR, 0, 0, "Cc"},
    {"FROM", IMAP_SK_HEADER, A_STR, 0, 0, "From"},
    {"TO", IMAP_SK_HEADER, A_STR, 0, 0, "To"},
    {"SUBJECT", IMAP_SK_HEADER, A_STR, 0, 0, "Subject"},
    {"BODY", IMAP_SK_BODY, A_STR, 0, 0, NULL},
    {"TEXT", IMAP_SK_TEXT, A_STR, 0, 0, NULL},
    {"EMAILID", IMAP_SK_EMAILID, A_STR, 0, 0, NULL},
    {"THREADID", IMAP_SK_THREADID, A_STR, 0, 0, NULL},
    {"BEFORE", IMAP_SK_BEFORE, A_DATE, 0, 0, NULL},
    {"ON", IMAP_SK_ON, A_DATE, 0, 0, NULL},
    {"SINCE", IMAP_SK_SINCE, A_DATE, 0, 0, NULL},
    {"SENTBEFORE", IMAP_SK_SENTBEFORE, A_DATE, 0, 0, NULL},
    {"SENTON", IMAP_SK_SENTON, A_DATE, 0, 0, NULL},
    {"SENTSINCE", IMAP_SK_SENTSINCE, A_DATE, 0, 0, NULL},
    {"SAVEDBEFORE", IMAP_SK_SAVEDBEFORE, A_DATE, 0, 0, NULL},
    {"SAVEDON", IMAP_SK_SAVEDON, A_DATE, 0, 0, NULL},
    {"SAVEDSINCE", IMAP_SK_SAVEDSINCE, A_DATE, 0, 0, NULL},
    {"LARGER", IMAP_SK_LARGER, A_NUM, 0, 0, NULL},
    {"SMALLER", IMAP_SK_SMALLER, A_NUM, 0, 0, NULL},
    {"OLDER", IMAP_SK_OLDER, A_NZNUM, 0, 0, NULL},
    {"YOUNGER", IMAP_SK_YOUNGER, A_NZNUM, 0, 0, NULL},
};

static int simple_arg(struct sp *c, const struct simple_key *sk, const struct imap_arg *a,
                      struct imap_search_key *k)
{
    const char *s;
    size_t len;
    switch (sk->arg) {
    case A_NONE:
        return 0;
    case A_STR:
        if (imap_arg_is_eol(a) || !imap_arg_astring(a, &s, &len))
            return bad(c, "Missing or invalid search string");
        if (memchr(s, '\0', len))
            return bad(c, "NUL in search string");
        if (sk->field) {
            k->str = xstrdup(sk->field);
            k->str2 = xstrndup(s, len);
            k->addr = sk->type == IMAP_SK_HEADER && strcmp(sk->field, "Subject") != 0;
        } else {
            k->str = xstrndup(s, len);
        }
        return 1;
    case A_DATE:
        if (a->type == IMAP_ARG_LIST || imap_arg_is_eol(a) || !imap_arg_astring(a, &s, &len) ||
            imap_date_parse(s, len, &k->day) < 0)
            return bad(c, "Invalid search date");
        return 1;
    case A_NUM:
    case A_NZNUM:
        if (arg_number(a, sk->arg == A_NZNUM, &k->num) < 0)
            return bad(c, "Invalid search number");
        return 1;
    }
    return bad(c, "Invalid search key");
}

static int parse_key(struct sp *c, const struct imap_arg **ap, int depth, struct imap_search_key **out);

/* Keys until the end of args, as the children of parent (an AND). */
static int parse_key_list(struct sp *c, const struct imap_arg *args, int depth,
                          struct imap_search_key *parent)
{
    struct imap_search_key **tail = &parent->child;
    const struct imap_arg *a = args;
    if (imap_arg_is_eol(a))
        return bad(c, "Missing search key");
    while (!imap_arg_is_eol(a)) {
        int r = parse_key(c, &a, depth, tail);
        if (r < 0)
            return r;
        tail = &(*tail)->next;
    }
    return 0;
}

static int parse_seqset(struct sp *c, const struct imap_arg *a, int uid, struct imap_search_key *k)
{
    const char *s;
    if (!imap_arg_atom(a, &s))
        return bad(c, "Invalid sequence set");
    uint32_t star = uid ? c->p->uid_star : c->p->msg_count;
    if (imap_seqset_parse(&k->set, s, a->len, star, c->p->allow_searchres, c->err) < 0)
        return IMAP_SEARCH_BAD;
    if (k->set.searchres)
        c->s->uses_searchres = 1;
    return 0;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162). */
static int parse_modseq(struct sp *c, const struct imap_arg **ap, struct imap_search_key *k)
{
    const struct imap_arg *a = *ap;
    const char *s;
    size_t len;
    if (imap_arg_string(a, &s, &len)) {
        if (len == 0 || len > 256 || memchr(s, '\0', len))
            return bad(c, "Invalid MODSEQ entry name");
        k->str = xstrndup(s, len);
        a++;
        k->entry_type = word_is(a, "priv") ? IMAP_MODSEQ_PRIV
                      : word_is(a, "shared") ? IMAP_MODSEQ_SHARED
                      : word_is(a, "all") ? IMAP_MODSEQ_ALL : IMAP_MODSEQ_ENTRY_NONE;
        if (k->entry_type == IMAP_MODSEQ_ENTRY_NONE)
            return bad(c, "Invalid MODSEQ entry type");
        a++;
    }
    if (arg_number(a, 0, &k->num) < 0)
        return bad(c, "Invalid MODSEQ value");
    c->s->uses_modseq = 1;
    *ap = a + 1;
    return 0;
}

static int parse_special(struct sp *c, const struct imap_arg **ap, int depth, struct imap_search_key *k)
{
    const struct imap_arg *a = *ap;
    const char *s, *v;
    size_t len, vlen;
    if (word_is(a, "NOT")) {
        *ap = a + 1;
        k->type = IMAP_SK_AND;
        k->not = 1;
        return parse_key(c, ap, depth + 1, &k->child);
    }
    if (word_is(a, "OR")) {
        *ap = a + 1;
        k->type = IMAP_SK_OR;
        int r = parse_key(c, ap, depth + 1, &k->child);
        return r < 0 ? r : parse_key(c, ap, depth + 1, &k->child->next);
    }
    if (word_is(a, "NEW")) {
        /* RECENT UNSEEN */
        k->type = IMAP_SK_AND;
        if (!(k->child = new_key(c, IMAP_SK_FLAG)) || !(k->child->next = new_key(c, IMAP_SK_FLAG)))
            return IMAP_SEARCH_BAD;
        k->child->flag = IMAP_SF_RECENT;
        k->child->next->flag = IMAP_SF_SEEN;
        k->child->next->not = 1;
        *ap = a + 1;
        return 0;
    }
    if (word_is(a, "HEADER")) {
        if (imap_arg_is_eol(a + 1) || !imap_arg_astring(a + 1, &s, &len) || !field_name_ok(s, len) ||
            imap_arg_is_eol(a + 2) || !imap_arg_astring(a + 2, &v, &vlen) || memchr(v, '\0', vlen))
            return bad(c, "Invalid HEADER search key");
        k->type = IMAP_SK_HEADER;
        k->str = xstrndup(s, len);
        k->str2 = xstrndup(v, vlen);
        *ap = a + 3;
        return 0;
    }
    if (word_is(a, "UID")) {
        k->type = IMAP_SK_UIDSET;
        *ap = a + 2;
        return parse_seqset(c, a + 1, 1, k);
    }
    if (word_is(a, "MODSEQ")) {
        k->type = IMAP_SK_MODSEQ;
        *ap = a + 1;
        return parse_modseq(c, ap, k);
    }
    return 1;   /* not special */
}

static int parse_key(struct sp *c, const struct imap_arg **ap, int depth, struct imap_search_key **out)
{
    const struct imap_arg *a = *ap;
    const struct imap_arg *list;
    const char *s;
    if (depth > IMAP_SEARCH_MAX_DEPTH)
        return bad(c, "Search program nested too deeply");
    if (imap_arg_is_eol(a))
        return bad(c, "Missing search key");
    struct imap_search_key *k = *out = new_key(c, IMAP_SK_ALL);
    if (!k)
        return IMAP_SEARCH_BAD;
    if (imap_arg_list(a, &list)) {
        k->type = IMAP_SK_AND;
        *ap = a + 1;
        return parse_key_list(c, list, depth + 1, k);
    }
    if (!imap_arg_atom(a, &s))
        return bad(c, "Invalid search key");
    if ((s[0] >= '0' && s[0] <= '9') || s[0] == '*' || s[0] == '$') {
        k->type = IMAP_SK_SEQSET;
        *ap = a + 1;
        return parse_seqset(c, a, 0, k);
    }
    int r = parse_special(c, ap, depth, k);
    if (r <= 0)
        return r;
    for (size_t i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]); i++) {
        const struct simple_key *sk = &simple_keys[i];
        if (strcasecmp(s, sk->name) != 0)
            continue;
        k->type = sk->type;
        k->flag = sk->flag;
        k->not = sk->not & 1;
        r = simple_arg(c, sk, a + 1, k);
        if (r < 0)
            return r;
        *ap = a + 1 + r;
        return 0;
    }
    return bad(c, "Unknown search key");
}

/* PARTIAL range: "a:b" or "-a:-b", a and b non-zero, either order. */
static int parse_partial(struct sp *c, const struct imap_arg *a)
{
    const char *s, *colon;
    if (!imap_arg_atom(a, &s) || !(colon = strchr(s, ':')))
        return bad(c, "Invalid PARTIAL range");
    int neg = s[0] == '-';
    int64_t v[2];
    const char *part[2] = {s, colon + 1};
    size_t plen[2] = {(size_t)(colon - s), a->len - (size_t)(colon - s) - 1};
    for (int i = 0; i < 2; i++) {
        struct imap_arg tmp = {.type = IMAP_ARG_ATOM};
        if (plen[i] < 1 || (part[i][0] == '-') != neg)
            return bad(c, "Invalid PARTIAL range");
        char num[24];
        size_t off = neg ? 1 : 0;
        if (plen[i] - off >= sizeof(num) || plen[i] - off > 10)
            return bad(c, "Invalid PARTIAL range");
        memcpy(num, part[i] + off, plen[i] - off);
        num[plen[i] - off] = '\0';
        tmp.str = num;
        tmp.len = plen[i] - off;
        uint64_t u;
        if (arg_number(&tmp, 1, &u) < 0 || u > UINT32_MAX)
            return bad(c, "Invalid PARTIAL range");
        v[i] = neg ? -(int64_t)u : (int64_t)u;
    }
    /* Keep |lo| <= |hi|. */
    int swap = neg ? v[0] < v[1] : v[0] > v[1];
    c->s->partial_lo = swap ? v[1] : v[0];
    c->s->partial_hi = swap ? v[0] : v[1];
    c->s->ret |= IMAP_SR_PARTIAL;
    return 0;
}

static int parse_return_opts(struct sp *c, const struct imap_arg *list)
{
    static const struct {
        const char *name;
        unsigned bit;
    } opts[] = {{"MIN", IMAP_SR_MIN}, {"MAX", IMAP_SR_MAX}, {"ALL", IMAP_SR_ALL},
                {"COUNT", IMAP_SR_COUNT}, {"SAVE", IMAP_SR_SAVE}};
    for (const struct imap_arg *a = list; !imap_arg_is_eol(a); a++) {
        if (word_is(a, "PARTIAL")) {
            if (c->s->ret & IMAP_SR_PARTIAL)
                return bad(c, "PARTIAL given twice");
            if (parse_partial(c, ++a) < 0)
                return IMAP_SEARCH_BAD;
            continue;
        }
        size_t i;
        for (i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
            if (word_is(a, opts[i].name))
                break;
        if (i == sizeof(opts) / sizeof(opts[0]))
            return bad(c, "Unknown RETURN option");
        if (opts[i].bit == IMAP_SR_SAVE && !c->p->allow_searchres)
            return bad(c, "RETURN (SAVE) not supported");
        c->s->ret |= opts[i].bit;
    }
    if (c->s->ret == 0)
        c->s->ret = IMAP_SR_ALL;
    return 0;
}

int imap_search_parse_return(struct imap_search *s, const struct imap_arg *args,
                             const struct imap_search_params *p, size_t *used, const char **err)
{
    struct sp c = {s, p, err};
    const struct imap_arg *list;
    *used = 0;
    if (!word_is(args, "RETURN"))
        return 0;
    if (!p->allow_return)
        return bad(&c, "RETURN not supported");
    if (!imap_arg_list(args + 1, &list))
        return bad(&c, "Invalid RETURN options");
    s->esearch = 1;
    if (parse_return_opts(&c, list) < 0)
        return IMAP_SEARCH_BAD;
    *used = 2;
    return 0;
}

int imap_search_parse_charset(const struct imap_arg *arg, const char **err)
{
    const char *cs;
    if (imap_arg_is_eol(arg) || !imap_arg_astring(arg, &cs, NULL)) {
        *err = "Missing charset";
        return IMAP_SEARCH_BAD;
    }
    if (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "US-ASCII") == 0)
        return 0;
    *err = "Unsupported charset";
    return IMAP_SEARCH_BADCHARSET;
}

int imap_search_parse_keys(struct imap_search *s, const struct imap_arg *args,
                           const struct imap_search_params *p, const char **err)
{
    struct sp c = {s, p, err};
    if (!s->root) {
        s->root = new_key(&c, IMAP_SK_AND);
        if (!s->root)
            return IMAP_SEARCH_BAD;
    }
    return parse_key_list(&c, args, 0, s->root);
}

int imap_search_parse(struct imap_search *s, const struct imap_arg *args,
                      const struct imap_search_params *p, const char **err)
{
    size_t used;
    memset(s, 0, sizeof(*s));
    int r = imap_search_parse_return(s, args, p, &used, err);
    if (r == 0) {
        args += used;
        if (word_is(args, "CHARSET")) {
            r = imap_search_parse_charset(args + 1, err);
            args += 2;
        }
    }
    if (r == 0)
        r = imap_search_parse_keys(s, args, p, err);
    if (r < 0)
        imap_search_free(s);
    return r;
}

/* ---- evaluation ---- */

static int has_keyword(const struct imap_search_msg *m, const char *kw)
{
    for (const char *const *k = m->keywords; k && *k; k++)
        if (strcasecmp(*k, kw) == 0)
            return 1;
    return 0;
}

static int cmp_day(enum imap_sk_type base, int32_t have, int32_t want)
{
    switch (base) {
    case IMAP_SK_BEFORE:
        return have < want;
    case IMAP_SK_ON:
        return have == want;
    default:
        return have >= want;
    }
}

static int set_match(const struct imap_search_key *k, const struct imap_search_msg *m, uint32_t n)
{
    if (k->set.searchres)
        return m->saved && imap_seqset_contains(m->saved, m->uid);
    return imap_seqset_contains(&k->set, n);
}

/* Seconds since INTERNALDATE, saturated. */
static int64_t age(const struct imap_search_msg *m)
{
    int64_t a;
    if (__builtin_sub_overflow(m->now, m->internal_time, &a))
        return m->now > m->internal_time ? INT64_MAX : INT64_MIN;
    return a;
}

static int cb_result(int r)
{
    return r > 0;
}

static int match_one(const struct imap_search_key *k, const struct imap_search_msg *m)
{
    switch (k->type) {
    case IMAP_SK_ALL:
        return 1;
    case IMAP_SK_AND:
        for (const struct imap_search_key *c = k->child; c; c = c->next)
            if (!imap_search_match(c, m))
                return 0;
        return 1;
    case IMAP_SK_OR:
        for (const struct imap_search_key *c = k->child; c; c = c->next)
            if (imap_search_match(c, m))
                return 1;
        return 0;
    case IMAP_SK_SEQSET:
        return set_match(k, m, m->seq);
    case IMAP_SK_UIDSET:
        return set_match(k, m, m->uid);
    case IMAP_SK_FLAG:
        return (m->flags & k->flag) != 0;
    case IMAP_SK_KEYWORD:
        return has_keyword(m, k->str);
    case IMAP_SK_BEFORE:
    case IMAP_SK_ON:
    case IMAP_SK_SINCE:
        return cmp_day(k->type, m->internal_day, k->day);
    case IMAP_SK_SENTBEFORE:
    case IMAP_SK_SENTON:
    case IMAP_SK_SENTSINCE:
        return m->have_sent_day &&
               cmp_day(IMAP_SK_BEFORE + (k->type - IMAP_SK_SENTBEFORE), m->sent_day, k->day);
    case IMAP_SK_SAVEDBEFORE:
    case IMAP_SK_SAVEDON:
    case IMAP_SK_SAVEDSINCE:
        return m->have_save_day &&
               cmp_day(IMAP_SK_BEFORE + (k->type - IMAP_SK_SAVEDBEFORE), m->save_day, k->day);
    case IMAP_SK_SAVEDATESUPPORTED:
        return m->have_save_day;
    case IMAP_SK_LARGER:
        return m->size > k->num;
    case IMAP_SK_SMALLER:
        return m->size < k->num;
    case IMAP_SK_HEADER:
        return m->header_match && cb_result(m->header_match(m->ctx, k->str, k->str2, k->addr));
    case IMAP_SK_BODY:
    case IMAP_SK_TEXT:
        return m->body_match && cb_result(m->body_match(m->ctx, k->str, k->type == IMAP_SK_TEXT));
    case IMAP_SK_MODSEQ:
        return m->modseq >= k->num;
    case IMAP_SK_OLDER:
        return age(m) > (int64_t)k->num;
    case IMAP_SK_YOUNGER:
        return age(m) <= (int64_t)k->num;
    case IMAP_SK_EMAILID:
        return m->emailid && strcmp(m->emailid, k->str) == 0;
    case IMAP_SK_THREADID:
        return m->threadid && strcmp(m->threadid, k->str) == 0;
    }
    return 0;
}

int imap_search_match(const struct imap_search_key *k, const struct imap_search_msg *m)
{
    return match_one(k, m) != (int)k->not;
}

/* ---- the ESEARCH reply ---- */

/* PARTIAL: the results at positions lo..hi (1-based; negative from the end). */
static int write_partial(struct buf *b, const struct imap_search *s, const uint32_t *nums, size_t n)
{
    int64_t lo = s->partial_lo, hi = s->partial_hi;
    if (buf_printf(b, " PARTIAL (%lld:%lld ", (long long)lo, (long long)hi) < 0)
        return -1;
    /* As 0-based [first, last] positions, clamped to the results. */
    int64_t first = lo > 0 ? lo - 1 : (int64_t)n + hi;
    int64_t last = lo > 0 ? hi - 1 : (int64_t)n + lo;
    if (first < 0)
        first = 0;
    if (last >= (int64_t)n)
        last = (int64_t)n - 1;
    if (first > last)
        return buf_puts(b, "NIL)");
    if (imap_seqset_write_nums(b, nums + first, (size_t)(last - first + 1)) < 0)
        return -1;
    return buf_putc(b, ')');
}

int imap_search_write_esearch(struct buf *b, const char *tag, int uid, const struct imap_search *s,
                              const uint32_t *nums, size_t n, uint64_t modseq)
{
    int r = buf_puts(b, "* ESEARCH");
    if (r == 0 && tag) {
        r = buf_puts(b, " (TAG ");
        if (r == 0)
            r = imap_write_quoted(b, tag, strlen(tag));
        if (r == 0)
            r = buf_putc(b, ')');
    }
    if (r == 0 && uid)
        r = buf_puts(b, " UID");
    if (r == 0 && n && (s->ret & IMAP_SR_MIN))
        r = buf_printf(b, " MIN %u", nums[0]);
    if (r == 0 && n && (s->ret & IMAP_SR_MAX))
        r = buf_printf(b, " MAX %u", nums[n - 1]);
    if (r == 0 && n && (s->ret & IMAP_SR_ALL)) {
        r = buf_puts(b, " ALL ");
        if (r == 0)
            r = imap_seqset_write_nums(b, nums, n);
    }
    if (r == 0 && (s->ret & IMAP_SR_COUNT))
        r = buf_printf(b, " COUNT %zu", n);
    if (r == 0 && (s->ret & IMAP_SR_PARTIAL))
        r = write_partial(b, s, nums, n);
    if (r == 0 && modseq)
        r = buf_printf(b, " MODSEQ %llu", (unsigned long long)modseq);
    return r;
}
