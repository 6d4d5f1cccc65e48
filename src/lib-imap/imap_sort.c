/*
 * imap_sort.c - SORT criteria and the RFC 5256 base subject.
 * See imap_sort.h.
 */
#include "lib-imap/imap_sort.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name;
    enum imap_sort_key key;
} sort_keys[] = {
    {"ARRIVAL", IMAP_SORT_ARRIVAL}, {"CC", IMAP_SORT_CC}, {"DATE", IMAP_SORT_DATE},
    {"FROM", IMAP_SORT_FROM}, {"SIZE", IMAP_SORT_SIZE}, {"SUBJECT", IMAP_SORT_SUBJECT},
    {"TO", IMAP_SORT_TO}, {"DISPLAYFROM", IMAP_SORT_DISPLAYFROM}, {"DISPLAYTO", IMAP_SORT_DISPLAYTO},
};

static int find_key(const struct imap_arg *a, enum imap_sort_key *key)
{
    const char *s;
    if (!imap_arg_atom(a, &s))
        return -1;
    for (size_t i = 0; i < sizeof(sort_keys) / sizeof(sort_keys[0]); i++) {
        if (strcasecmp(s, sort_keys[i].name) == 0) {
            *key = sort_keys[i].key;
            return 0;
        }
    }
    return -1;
}

int imap_sort_parse_criteria(const struct imap_arg *arg, struct imap_sort_crit *crit, size_t *n,
                             const char **err)
{
    const struct imap_arg *a;
    const char *s;
    *n = 0;
    if (!imap_arg_list(arg, &a) || imap_arg_is_eol(a)) {
        *err = "Invalid sort criteria";
        return IMAP_SEARCH_BAD;
    }
    while (!imap_arg_is_eol(a)) {
        int reverse = imap_arg_atom(a, &s) && strcasecmp(s, "REVERSE") == 0;
        if (reverse)
            a++;
        if (*n == IMAP_SORT_MAX_CRITERIA) {
            *err = "Too many sort criteria";
            return IMAP_SEARCH_BAD;
        }
        if (imap_arg_is_eol(a) || find_key(a, &crit[*n].key) < 0) {
            *err = "Invalid sort criteria";
            return IMAP_SEARCH_BAD;
        }
        crit[*n].reverse = (unsigned)reverse;
        (*n)++;
        a++;
    }
    return 0;
}

int imap_sort_parse(const struct imap_arg *args, const struct imap_search_params *p,
                    struct imap_sort_crit *crit, size_t *n, struct imap_search *s, const char **err)
{
    size_t used;
    memset(s, 0, sizeof(*s));
    int r = imap_search_parse_return(s, args, p, &used, err);
    if (r == 0) {
        args += used;
        r = imap_sort_parse_criteria(args, crit, n, err);
    }
    if (r == 0)
        r = imap_search_parse_charset(args + 1, err);
    if (r == 0)
        r = imap_search_parse_keys(s, args + 2, p, err);
    if (r < 0)
        imap_search_free(s);
    return r;
}

/* ---- base subject ---- */

struct subj {
    char *s;        /* working copy, whitespace normalised */
    size_t b, e;    /* current text is s[b..e) */
    int reply;
};

static int is_wsp(char c)
{
    return c == ' ';
}

/* subj-blob at p: "[" *BLOBCHAR "]" *WSP. Returns the end, or 0. */
static size_t blob_end(const struct subj *t, size_t p)
{
    if (p >= t->e || t->s[p] != '[')
        return 0;
    for (p++; p < t->e && t->s[p] != ']'; p++)
        if (t->s[p] == '[')
            return 0;
    if (p == t->e)
        return 0;
    for (p++; p < t->e && is_wsp(t->s[p]); p++)
        ;
    return p;
}

/* subj-refwd at p: ("re" / "fw" ["d"]) *WSP [subj-blob] ":". Returns the end, or 0. */
static size_t refwd_end(const struct subj *t, size_t p)
{
    size_t left = t->e - p;
    if (left >= 2 && strncasecmp(t->s + p, "re", 2) == 0) {
        p += 2;
    } else if (left >= 2 && strncasecmp(t->s + p, "fw", 2) == 0) {
        p += 2;
        if (p < t->e && (t->s[p] == 'd' || t->s[p] == 'D'))
            p++;
    } else {
        return 0;
    }
    while (p < t->e && is_wsp(t->s[p]))
        p++;
    size_t q = blob_end(t, p);
    if (q)
        p = q;
    return p < t->e && t->s[p] == ':' ? p + 1 : 0;
}

/* Step 2: trailing "(fwd)" and WSP. */
static void strip_trailers(struct subj *t)
{
    for (;;) {
        if (t->e > t->b && is_wsp(t->s[t->e - 1])) {
            t->e--;
        } else if (t->e - t->b >= 5 && strncasecmp(t->s + t->e - 5, "(fwd)", 5) == 0) {
            t->e -= 5;
            t->reply = 1;
        } else {
            return;
        }
    }
}

/* Step 3: one subj-leader. Returns 1 if something was removed. */
static int strip_leader(struct subj *t)
{
    if (t->b < t->e && is_wsp(t->s[t->b])) {
        t->b++;
        return 1;
    }
    size_t p = t->b, q;
    while ((q = blob_end(t, p)) != 0)
        p = q;
    q = refwd_end(t, p);
    if (!q)
        return 0;
    t->b = q;
    t->reply = 1;
    return 1;
}

/* Step 4: a leading blob, if something non-blank is left after it. */
static int strip_blob(struct subj *t)
{
    size_t q = blob_end(t, t->b);
    if (!q)
        return 0;
    for (size_t p = q; p < t->e; p++) {
        if (!is_wsp(t->s[p])) {
            t->b = q;
            return 1;
        }
    }
    return 0;
}

/* Step 6: "[fwd:" ... "]". */
static int strip_fwd(struct subj *t)
{
    if (t->e - t->b < 6 || strncasecmp(t->s + t->b, "[fwd:", 5) != 0 || t->s[t->e - 1] != ']')
        return 0;
    t->b += 5;
    t->e -= 1;
    t->reply = 1;
    return 1;
}

/* Step 1: tabs, CR and LF become spaces; runs of spaces become one. */
static size_t normalise(const char *in, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i] == '\t' || in[i] == '\r' || in[i] == '\n' ? ' ' : in[i];
        if (c == ' ' && n && out[n - 1] == ' ')
            continue;
        out[n++] = c;
    }
    return n;
}

int imap_base_subject(const char *subj, size_t len, struct buf *out, int *is_reply_fwd)
{
    struct subj t = {0};
    if (buf_reserve(out, len) < 0)
        return -1;
    /* Work in the free space of out itself: no allocation of our own. */
    t.s = out->data + out->len;
    t.e = normalise(subj, len, t.s);
    do {
        strip_trailers(&t);
        int changed;
        do {
            changed = 0;
            while (strip_leader(&t))
                changed = 1;
            if (strip_blob(&t))
                changed = 1;
        } while (changed);
    } while (strip_fwd(&t));
    memmove(t.s, t.s + t.b, t.e - t.b);
    out->len += t.e - t.b;
    out->data[out->len] = '\0';
    if (is_reply_fwd)
        *is_reply_fwd = t.reply;
    return 0;
}
