/*
 * thread_refs.c - THREAD=REFERENCES (see thread_refs.h). The steps are
 * RFC 5256's, numbered as there.
 */
#include "imapd/thread_refs.h"

#include "lib/kvmap.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define NONE (-1L)

struct cont {
    long msg;                        /* index into the messages, or NONE (a dummy) */
    long parent, child, next;        /* first child, next sibling */
};

struct tctx {
    const struct imapd_thread_msg *m;
    struct cont *c;
    size_t n, cap;
    struct kvmap ids;                /* msg-id -> container index (decimal) */
};

static long cont_new(struct tctx *t)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->c = xrealloc(t->c, t->cap * sizeof(*t->c));
    }
    t->c[t->n] = (struct cont){NONE, NONE, NONE, NONE};
    return (long)t->n++;
}

static long cont_of(struct tctx *t, const char *id, int create)
{
    const char *v = kvmap_get(&t->ids, id);
    if (v)
        return strtol(v, NULL, 10);
    if (!create)
        return NONE;
    long k = cont_new(t);
    char num[32];
    str_fmt(num, sizeof(num), "%ld", k);
    kvmap_put(&t->ids, id, num);
    return k;
}

/* Depth of k, or IMAPD_THREAD_DEPTH_MAX + 1 if a is found on the way up (a loop). */
static size_t depth_unless(const struct tctx *t, long k, long a)
{
    size_t d = 0;
    for (; k != NONE; k = t->c[k].parent, d++)
        if (k == a || d > IMAPD_THREAD_DEPTH_MAX)
            return IMAPD_THREAD_DEPTH_MAX + 1;
    return d;
}

static void unlink_cont(struct tctx *t, long k)
{
    long p = t->c[k].parent;
    if (p == NONE)
        return;
    long *pp = &t->c[p].child;
    while (*pp != NONE && *pp != k)
        pp = &t->c[*pp].next;
    if (*pp == k)
        *pp = t->c[k].next;
    t->c[k].parent = NONE;
    t->c[k].next = NONE;
}

static void add_child(struct tctx *t, long p, long k)
{
    t->c[k].parent = p;
    t->c[k].next = t->c[p].child;
    t->c[p].child = k;
}

/*
 * k leaves its parent; p becomes its parent unless that makes a loop or
 * too deep a chain (then k stays without one, as in Dovecot).
 */
static void set_parent(struct tctx *t, long k, long p)
{
    unlink_cont(t, k);
    if (p != NONE && depth_unless(t, p, k) < IMAPD_THREAD_DEPTH_MAX)
        add_child(t, p, k);
}

/* Step 1: containers for every message and every reference. */
static void link_message(struct tctx *t, size_t i)
{
    const struct imapd_thread_msg *m = &t->m[i];
    long prev = NONE;
    for (size_t j = 0; j < m->nrefs; j++) {
        long k = cont_of(t, m->refs[j], 1);
        if (prev != NONE && t->c[k].parent == NONE)
            set_parent(t, k, prev);              /* 1A: existing links stay */
        prev = k;
    }
    long self = m->msgid ? cont_of(t, m->msgid, 1) : NONE;
    if (self == NONE || t->c[self].msg != NONE)
        self = cont_new(t);                      /* 1B: no or a duplicate Message-ID */
    t->c[self].msg = (long)i;
    set_parent(t, self, prev);                   /* 1C */
}

/* The message a container stands for when sorting and gathering: its own or its first child's. */
static long rep(const struct tctx *t, long k)
{
    while (k != NONE && t->c[k].msg == NONE)
        k = t->c[k].child;
    return k == NONE ? NONE : t->c[k].msg;
}

/* Step 3: drop empty dummies, promote the children of the others (at the root: only one). */
static void prune(struct tctx *t, long p, int is_root, size_t depth)
{
    long k = t->c[p].child, keep = NONE, *tail = &keep;
    while (k != NONE) {
        long next = t->c[k].next;
        if (depth < IMAPD_THREAD_DEPTH_MAX + 2)
            prune(t, k, 0, depth + 1);
        struct cont *c = &t->c[k];
        int single = c->child != NONE && t->c[c->child].next == NONE;
        if (c->msg == NONE && (c->child == NONE || !is_root || single)) {
            for (long g = c->child; g != NONE; g = t->c[g].next) {
                t->c[g].parent = p;
                *tail = g;
                tail = &t->c[g].next;
            }
        } else {
            *tail = k;
            tail = &c->next;
        }
        *tail = NONE;
        k = next;
    }
    t->c[p].child = keep;
}

static const struct tctx *sort_t;

static int cont_cmp(const void *pa, const void *pb)
{
    long a = rep(sort_t, *(const long *)pa), b = rep(sort_t, *(const long *)pb);
    if (a == NONE || b == NONE)
        return (a == NONE) - (b == NONE);
    const struct imapd_thread_msg *x = &sort_t->m[a], *y = &sort_t->m[b];
    if (x->date != y->date)
        return x->date < y->date ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Steps 4 and 6: every level by sent date (a dummy: its first child's). */
static void sort_level(struct tctx *t, long p, size_t depth)
{
    size_t n = 0;
    for (long k = t->c[p].child; k != NONE; k = t->c[k].next) {
        if (depth < IMAPD_THREAD_DEPTH_MAX + 2)
            sort_level(t, k, depth + 1);
        n++;
    }
    if (n < 2)
        return;
    long *v = xmalloc(n * sizeof(long));
    n = 0;
    for (long k = t->c[p].child; k != NONE; k = t->c[k].next)
        v[n++] = k;
    sort_t = t;
    qsort(v, n, sizeof(long), cont_cmp);
    t->c[p].child = v[0];
    for (size_t i = 0; i < n; i++)
        t->c[v[i]].next = i + 1 < n ? v[i + 1] : NONE;
    free(v);
}

static const struct imapd_thread_msg *rep_msg(const struct tctx *t, long k)
{
    long r = rep(t, k);
    return r == NONE ? NULL : &t->m[r];
}

/* Step 5B: merge root container k into e, the subject's entry; returns the new entry. */
static long merge(struct tctx *t, long root, long e, long k)
{
    int kd = t->c[k].msg == NONE, ed = t->c[e].msg == NONE;
    unlink_cont(t, k);
    if (kd && ed) {
        while (t->c[k].child != NONE) {
            long g = t->c[k].child;
            unlink_cont(t, g);
            add_child(t, e, g);
        }
        return e;
    }
    if (ed || (!kd && rep_msg(t, k)->reply && !rep_msg(t, e)->reply)) {
        add_child(t, e, k);                  /* under the dummy; or Re: X under X */
        return e;
    }
    if (kd) {
        unlink_cont(t, e);
        add_child(t, k, e);
        add_child(t, root, k);
        return k;
    }
    long d = cont_new(t);
    unlink_cont(t, e);
    add_child(t, d, e);
    add_child(t, d, k);
    add_child(t, root, d);
    return d;
}

static int better_entry(const struct tctx *t, long cur, long k)
{
    int cd = t->c[cur].msg == NONE, kd = t->c[k].msg == NONE;
    if (!cd && kd)
        return 1;
    return rep_msg(t, cur)->reply && !rep_msg(t, k)->reply;
}

/* Step 5: gather the root set by base subject. */
static void gather(struct tctx *t, long root)
{
    size_t n = 0;
    for (long k = t->c[root].child; k != NONE; k = t->c[k].next)
        n++;
    long *roots = xmalloc((n ? n : 1) * sizeof(long)), *tab = xmalloc((n ? n : 1) * sizeof(long));
    struct kvmap subj;
    kvmap_init(&subj);
    n = 0;
    for (long k = t->c[root].child; k != NONE; k = t->c[k].next)
        roots[n++] = k;
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        const struct imapd_thread_msg *m = rep_msg(t, roots[i]);
        if (!m || !*m->subject)
            continue;
        char *key = xstrdup(m->subject);
        str_lower(key);
        const char *v = kvmap_get(&subj, key);
        if (!v) {
            char num[32];
            str_fmt(num, sizeof(num), "%zu", nt);
            kvmap_put(&subj, key, num);
            tab[nt++] = roots[i];
        } else if (better_entry(t, tab[strtoul(v, NULL, 10)], roots[i])) {
            tab[strtoul(v, NULL, 10)] = roots[i];
        }
        free(key);
    }
    for (size_t i = 0; i < n; i++) {
        const struct imapd_thread_msg *m = rep_msg(t, roots[i]);
        if (!m || !*m->subject)
            continue;
        char *key = xstrdup(m->subject);
        str_lower(key);
        size_t slot = strtoul(kvmap_get(&subj, key), NULL, 10);
        free(key);
        if (tab[slot] != roots[i])
            tab[slot] = merge(t, root, tab[slot], roots[i]);
    }
    kvmap_free(&subj);
    free(roots);
    free(tab);
}

static int write_chain(const struct tctx *t, long k, struct buf *out, size_t depth)
{
    int r = 0;
    const struct cont *c = &t->c[k];
    if (c->msg != NONE)
        r |= buf_printf(out, "%u", t->m[c->msg].num);
    if (c->child == NONE || depth > IMAPD_THREAD_DEPTH_MAX + 2)
        return r;
    if (c->msg != NONE && t->c[c->child].next == NONE) {
        r |= buf_putc(out, ' ');
        return r | write_chain(t, c->child, out, depth + 1);
    }
    if (c->msg != NONE)
        r |= buf_putc(out, ' ');
    for (long g = c->child; g != NONE; g = t->c[g].next) {
        r |= buf_putc(out, '(');
        r |= write_chain(t, g, out, depth + 1);
        r |= buf_putc(out, ')');
    }
    return r;
}

int imapd_thread_references(const struct imapd_thread_msg *m, size_t n, struct buf *out)
{
    struct tctx t = {.m = m};
    kvmap_init(&t.ids);
    long root = cont_new(&t);
    for (size_t i = 0; i < n; i++)
        link_message(&t, i);
    for (long k = 1; k < (long)t.n; k++)       /* step 2: the root set */
        if (t.c[k].parent == NONE)
            add_child(&t, root, k);
    prune(&t, root, 1, 0);
    sort_level(&t, root, 0);
    gather(&t, root);
    sort_level(&t, root, 0);
    int r = 0;
    for (long k = t.c[root].child; k != NONE; k = t.c[k].next) {
        r |= buf_putc(out, '(');
        r |= write_chain(&t, k, out, 0);
        r |= buf_putc(out, ')');
    }
    kvmap_free(&t.ids);
    free(t.c);
    return r < 0 ? -1 : 0;
}

void imapd_thread_msgids(const char *text, size_t len, char ***ids, size_t *nids, size_t max)
{
    const char *p = text, *end = text + len;
    while (p < end && *nids < max) {
        const char *lt = memchr(p, '<', (size_t)(end - p));
        if (!lt)
            return;
        const char *gt = memchr(lt, '>', (size_t)(end - lt));
        if (!gt)
            return;
        if (gt > lt + 1 && memchr(lt + 1, '@', (size_t)(gt - lt - 1))) {
            *ids = xrealloc(*ids, (*nids + 1) * sizeof(char *));
            (*ids)[(*nids)++] = xstrndup(lt + 1, (size_t)(gt - lt - 1));
        }
        p = gt + 1;
    }
}
