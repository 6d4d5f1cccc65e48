/*
 * cmd_search.c - the mail worker's SEARCH, SORT and THREAD commands (see
 * mailsess.h).
 *
 * Owns: SEARCH / UID SEARCH (CHARSET, ESEARCH's RETURN (MIN MAX ALL COUNT
 * SAVE), SEARCHRES `$` kept in sel->saved, MODSEQ), SORT / UID SORT
 * (RFC 5256 with RFC 5957's DISPLAYFROM/DISPLAYTO; i;ascii-casemap) and
 * THREAD ORDEREDSUBJECT and REFERENCES (imapd/thread_refs.h). The program
 * is parsed by lib-imap/imap_search.h and evaluated per message of the
 * session's list (sel->uids): flags, sizes, dates and UIDs come from the view;
 * header and body keys read the message (imapd/msgtext.h) only when a key
 * needs it, the header section at most once per message.
 */
#include "imapd/mailsess.h"
#include "imapd/msgtext.h"
#include "imapd/selected.h"
#include "imapd/thread_refs.h"

#include "lib-imap/imap_search.h"
#include "lib-imap/imap_sort.h"
#include "lib-mail/addrlist.h"
#include "lib-mail/header.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SEARCH_KEYWORDS_MAX (MSTORE_KEYWORDS + 1)
#define SORT_TEXT_MAX 4096                 /* a sort key's text (subject, address) */

/* ---- one message as the evaluator sees it ---- */

struct msg_ctx {
    struct mview *v;
    uint32_t uid;
    int fd;                                /* -1: not opened yet, -2: failed */
    int have_hdr;
    struct buf hdr;
};

static void mctx_init(struct msg_ctx *c, struct mview *v, uint32_t uid)
{
    c->v = v;
    c->uid = uid;
    c->fd = -1;
    c->have_hdr = 0;
    buf_init(&c->hdr, IMAPD_MT_HEADER_MAX + 1);
}

static void mctx_done(struct msg_ctx *c)
{
    if (c->fd >= 0)
        close(c->fd);
    buf_free(&c->hdr);
}

static int mctx_fd(struct msg_ctx *c)
{
    if (c->fd == -1) {
        struct storage_error err;
        c->fd = mview_open_msg(c->v, c->uid, &err);
        if (c->fd < 0)
            c->fd = -2;
    }
    return c->fd;
}

/* The header section, read once; NULL when the message cannot be read. */
static const char *mctx_header(struct msg_ctx *c, size_t *len)
{
    if (!c->have_hdr) {
        int fd = mctx_fd(c);
        if (fd < 0 || imapd_mt_read_header(fd, &c->hdr) < 0)
            return NULL;
        c->have_hdr = 1;
    }
    *len = c->hdr.len;
    return c->hdr.data ? c->hdr.data : "";
}

static int cb_header(void *ctx, const char *field, const char *substr, int addr)
{
    size_t len;
    const char *h = mctx_header(ctx, &len);
    if (!h)
        return -1;
    return addr ? imapd_mt_address_match(h, len, field, substr)
                : imapd_mt_header_match(h, len, field, substr);
}

static int cb_body(void *ctx, const char *substr, int text)
{
    if (text) {
        size_t len;
        const char *h = mctx_header(ctx, &len);
        if (!h)
            return -1;
        if (imapd_mt_header_match(h, len, NULL, substr))
            return 1;
    }
    int fd = mctx_fd(ctx);
    return fd < 0 ? -1 : imapd_mt_body_match(fd, substr);
}

static int32_t local_day(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!localtime_r(&tt, &tm))
        return (int32_t)(t / 86400);
    return imap_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday);
}

/* The Date: field as UTC seconds and its own day; 0, or -1 when absent or unreadable. */
static int sent_date(struct msg_ctx *c, int64_t *t, int32_t *day)
{
    size_t len;
    const char *h = mctx_header(c, &len);
    if (!h)
        return -1;
    struct buf v;
    buf_init(&v, 4096);
    int r = imapd_mt_header_raw(h, len, "Date", &v) == 1 &&
                    imapd_mt_rfc5322_date(v.data, v.len, t, day) == 0 ? 0 : -1;
    buf_free(&v);
    return r;
}

static unsigned imap_flags(const struct msession *s, const struct mmsg *mm)
{
    unsigned f = 0;
    if (mm->flags & STORAGE_FLAG_ANSWERED)
        f |= IMAP_SF_ANSWERED;
    if (mm->flags & STORAGE_FLAG_FLAGGED)
        f |= IMAP_SF_FLAGGED;
    if (mm->flags & STORAGE_FLAG_DELETED)
        f |= IMAP_SF_DELETED;
    if (mm->flags & STORAGE_FLAG_SEEN)
        f |= IMAP_SF_SEEN;
    if (mm->flags & STORAGE_FLAG_DRAFT)
        f |= IMAP_SF_DRAFT;
    if (imapd_sel_recent(s, mm->uid))
        f |= IMAP_SF_RECENT;
    return f;
}

static int key_needs_sent(const struct imap_search_key *k)
{
    for (; k; k = k->next) {
        if (k->type == IMAP_SK_SENTBEFORE || k->type == IMAP_SK_SENTON ||
            k->type == IMAP_SK_SENTSINCE)
            return 1;
        if (k->child && key_needs_sent(k->child))
            return 1;
    }
    return 0;
}

/* ---- evaluating a program over the session's messages ---- */

struct matches {
    uint32_t *seqs, *uids;
    size_t n;
    uint64_t modseq;                       /* highest MODSEQ among them */
    uint64_t first_modseq, last_modseq;    /* of the lowest and the highest match */
};

static void matches_free(struct matches *r)
{
    free(r->seqs);
    free(r->uids);
    memset(r, 0, sizeof(*r));
}

/* Does message i (0-based sequence) match? Its MODSEQ in *modseq. */
static int eval_one(struct msession *s, const struct imap_search *q, size_t i, int need_sent,
                    int64_t now, uint64_t *modseq)
{
    struct msel *sel = s->sel;
    long k = mview_find(sel->v, sel->uids[i]);
    if (k < 0)
        return 0;                          /* expunged meanwhile: nothing to read */
    size_t nm;
    struct mmsg mm = mview_msgs(sel->v, &nm)[k];
    const char *kw[SEARCH_KEYWORDS_MAX];
    size_t nkw = 0;
    for (unsigned b = 0; b < MSTORE_KEYWORDS; b++)
        if ((mm.keywords & (1u << b)) && mview_keyword(sel->v, b))
            kw[nkw++] = mview_keyword(sel->v, b);
    kw[nkw] = NULL;
    struct msg_ctx c;
    mctx_init(&c, sel->v, mm.uid);
    struct imap_search_msg m = {
        .seq = (uint32_t)(i + 1), .uid = mm.uid, .flags = imap_flags(s, &mm), .keywords = kw,
        .size = mm.vsize ? mm.vsize : mm.size, .modseq = mm.modseq,
        .internal_time = mm.internaldate, .internal_day = local_day(mm.internaldate),
        .saved = &sel->saved, .now = now, .header_match = cb_header, .body_match = cb_body,
        .ctx = &c,
    };
    if (need_sent) {
        int64_t t;
        m.have_sent_day = 1;
        if (sent_date(&c, &t, &m.sent_day) < 0)
            m.sent_day = 0;                /* no usable Date: is 1970-01-01, as in Dovecot */
    }
    int r = imap_search_match(q->root, &m);
    mctx_done(&c);
    *modseq = mm.modseq;
    return r;
}

static void search_run(struct msession *s, const struct imap_search *q, struct matches *r)
{
    struct msel *sel = s->sel;
    memset(r, 0, sizeof(*r));
    r->seqs = xmalloc((sel->n ? sel->n : 1) * sizeof(uint32_t));
    r->uids = xmalloc((sel->n ? sel->n : 1) * sizeof(uint32_t));
    int need_sent = key_needs_sent(q->root);
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < sel->n; i++) {
        uint64_t ms = 0;
        if (!eval_one(s, q, i, need_sent, now, &ms))
            continue;
        r->seqs[r->n] = (uint32_t)(i + 1);
        r->uids[r->n++] = sel->uids[i];
        if (ms > r->modseq)
            r->modseq = ms;
        if (r->n == 1)
            r->first_modseq = ms;
        r->last_modseq = ms;
    }
}

/*
 * RFC 7162 3.1.5: the MODSEQ of an ESEARCH that returns only MIN and/or
 * MAX is the highest of those messages'; otherwise (ALL, COUNT, plain
 * SEARCH) the highest of every match.
 */
static uint64_t esearch_modseq(const struct imap_search *q, const struct matches *r)
{
    if (!q->esearch || (q->ret & (IMAP_SR_ALL | IMAP_SR_COUNT)) ||
        !(q->ret & (IMAP_SR_MIN | IMAP_SR_MAX)))
        return r->modseq;
    uint64_t a = (q->ret & IMAP_SR_MIN) ? r->first_modseq : 0;
    uint64_t b = (q->ret & IMAP_SR_MAX) ? r->last_modseq : 0;
    return a > b ? a : b;
}

static void save_result(struct msel *sel, const struct matches *r)
{
    imap_seqset_free(&sel->saved);
    imap_seqset_init(&sel->saved);
    for (size_t i = 0; i < r->n; i++)
        imap_seqset_add(&sel->saved, r->uids[i], r->uids[i]);
    imap_seqset_normalize(&sel->saved);
}

static void search_params(const struct msession *s, struct imap_search_params *p)
{
    const struct msel *sel = s->sel;
    memset(p, 0, sizeof(*p));
    p->msg_count = (uint32_t)sel->n;
    p->uid_star = sel->n ? sel->uids[sel->n - 1] : mview_uidnext(sel->v);
    p->allow_return = 1;
    p->allow_searchres = 1;
}

/* A parse failure as the reply Dovecot gives. */
static void reply_parse_error(struct msession *s, const char *tag, const char *cmd, int r,
                              const char *err)
{
    if (r == IMAP_SEARCH_BADCHARSET)
        imapd_reply(s->c, tag, "NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
    else
        imapd_reply(s->c, tag, "BAD Error in IMAP command %s: %s", cmd,
                    err ? err : "Invalid arguments.");
}

static void reply_done(struct msession *s, const char *tag, const char *what, uint64_t t0)
{
    uint64_t ms = mono_msec() - t0;
    imapd_reply(s->c, tag, "OK %s completed (%llu.%03llu + 0.000 secs).", what,
                (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
}

/* "* SEARCH n n n [(MODSEQ m)]" */
static void reply_search(struct msession *s, const uint32_t *nums, size_t n, uint64_t modseq,
                         const char *word)
{
    struct buf *o = conn_out(s->c);
    buf_printf(o, "* %s", word);
    for (size_t i = 0; i < n; i++) {
        buf_printf(o, " %u", nums[i]);
        if ((i & 1023) == 1023 && imapd_sess_out_drain(s) < 0)
            return;                        /* the client is gone */
    }
    if (modseq && n)
        buf_printf(o, " (MODSEQ %llu)", (unsigned long long)modseq);
    buf_puts(o, "\r\n");
}

void imapd_cmd_search(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    uint64_t t0 = mono_msec();
    struct imap_search_params p;
    struct imap_search q;
    const char *err = NULL;
    search_params(s, &p);
    int r = imap_search_parse(&q, args, &p, &err);
    if (r < 0) {
        const char *a0;
        if (imap_arg_atom(&args[0], &a0) && str_ieq(a0, "RETURN")) {
            imap_seqset_free(&s->sel->saved);      /* RFC 5182: a failed SAVE empties $ */
            imap_seqset_init(&s->sel->saved);
        }
        reply_parse_error(s, tag, "SEARCH", r, err);
        return;
    }
    struct matches m;
    search_run(s, &q, &m);
    if (q.esearch && (q.ret & IMAP_SR_SAVE))
        save_result(s->sel, &m);
    const uint32_t *nums = uid ? m.uids : m.seqs;
    uint64_t modseq = q.uses_modseq ? esearch_modseq(&q, &m) : 0;
    if (!q.esearch)
        reply_search(s, nums, m.n, modseq, "SEARCH");
    else if (q.ret != IMAP_SR_SAVE) {
        struct buf *o = conn_out(s->c);
        imap_search_write_esearch(o, tag, uid, &q, nums, m.n, modseq);
        buf_puts(o, "\r\n");
    }
    matches_free(&m);
    imap_search_free(&q);
    reply_done(s, tag, "Search", t0);
}

/* ---- SORT ---- */

struct sort_rec {
    uint32_t seq, uid;
    int64_t arrival, date;
    uint64_t size;
    char *text[IMAP_SORT_DISPLAYTO + 1];   /* per key: CC FROM SUBJECT TO DISPLAY* (or NULL) */
};

/* The first address of an address field: its mailbox (display 0), or display name/addr-spec. */
static char *first_address(const char *h, size_t len, const char *field, int display)
{
    struct buf raw, out;
    buf_init(&raw, SORT_TEXT_MAX);
    buf_init(&out, SORT_TEXT_MAX);
    if (imapd_mt_header_raw(h, len, field, &raw) == 1) {
        struct addr_items it;
        addr_items_parse(buf_cstr(&raw), 16, ADDRLIST_LENIENT, &it);
        for (size_t i = 0; i < it.n; i++) {
            const struct addr_item *a = &it.v[i];
            if (a->kind == ADDR_ITEM_GROUP_END)
                continue;
            /* a group counts by its name, as in Dovecot */
            int bare = a->kind == ADDR_ITEM_GROUP_START || !a->domain || !*a->domain ||
                       strcmp(a->domain, ADDRLIST_MISSING_DOMAIN) == 0;
            if (display && a->kind == ADDR_ITEM_MAILBOX && a->name && *a->name)
                hdr_decode_words(a->name, strlen(a->name), &out);
            else if (display && !bare)
                buf_printf(&out, "%s@%s", a->mailbox ? a->mailbox : "", a->domain);
            else
                buf_puts(&out, a->mailbox ? a->mailbox : "");
            break;
        }
        addr_items_free(&it);
    }
    char *r = xstrdup(buf_cstr(&out));
    buf_free(&raw);
    buf_free(&out);
    return r;
}

static char *base_subject(const char *h, size_t len)
{
    struct buf v, out;
    buf_init(&v, SORT_TEXT_MAX);
    buf_init(&out, SORT_TEXT_MAX);
    int fwd;
    if (imapd_mt_header_value(h, len, "Subject", &v) >= 0)
        imap_base_subject(buf_cstr(&v), v.len, &out, &fwd);
    char *r = xstrdup(buf_cstr(&out));
    buf_free(&v);
    buf_free(&out);
    return r;
}

static void sort_text(struct sort_rec *rec, enum imap_sort_key key, const char *h, size_t len)
{
    switch (key) {
    case IMAP_SORT_CC:
        rec->text[key] = first_address(h, len, "Cc", 0);
        break;
    case IMAP_SORT_FROM:
        rec->text[key] = first_address(h, len, "From", 0);
        break;
    case IMAP_SORT_TO:
        rec->text[key] = first_address(h, len, "To", 0);
        break;
    case IMAP_SORT_DISPLAYFROM:
        rec->text[key] = first_address(h, len, "From", 1);
        break;
    case IMAP_SORT_DISPLAYTO:
        rec->text[key] = first_address(h, len, "To", 1);
        break;
    case IMAP_SORT_SUBJECT:
        rec->text[key] = base_subject(h, len);
        break;
    default:
        break;
    }
}

static void sort_fill(struct msession *s, struct sort_rec *rec, const struct imap_sort_crit *crit,
                      size_t ncrit)
{
    struct msel *sel = s->sel;
    long k = mview_find(sel->v, rec->uid);
    size_t nm;
    if (k >= 0) {
        const struct mmsg *mm = &mview_msgs(sel->v, &nm)[k];
        rec->arrival = mm->internaldate;
        rec->size = mm->vsize ? mm->vsize : mm->size;
    }
    rec->date = rec->arrival;
    struct msg_ctx c;
    mctx_init(&c, sel->v, rec->uid);
    size_t len = 0;
    for (size_t i = 0; i < ncrit; i++) {
        enum imap_sort_key key = crit[i].key;
        if (key == IMAP_SORT_ARRIVAL || key == IMAP_SORT_SIZE || rec->text[key])
            continue;
        const char *h = k >= 0 ? mctx_header(&c, &len) : NULL;
        if (key == IMAP_SORT_DATE) {
            int64_t t;
            int32_t d;
            if (h && sent_date(&c, &t, &d) == 0)
                rec->date = t;
            continue;
        }
        sort_text(rec, key, h ? h : "", h ? len : 0);
    }
    mctx_done(&c);
}

/* i;ascii-casemap (RFC 4790): a-z compare as A-Z, so "[" and "_" sort before letters. */
static int casemap_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        unsigned char x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'a' && x <= 'z')
            x -= 32;
        if (y >= 'a' && y <= 'z')
            y -= 32;
        if (x != y || !x)
            return x < y ? -1 : x > y;
    }
}

static const struct imap_sort_crit *sort_crit;
static size_t sort_ncrit;

static int cmp_i64(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b;
}

static int sort_cmp(const void *pa, const void *pb)
{
    const struct sort_rec *a = pa, *b = pb;
    for (size_t i = 0; i < sort_ncrit; i++) {
        enum imap_sort_key key = sort_crit[i].key;
        int r;
        if (key == IMAP_SORT_ARRIVAL)
            r = cmp_i64(a->arrival, b->arrival);
        else if (key == IMAP_SORT_DATE)
            r = cmp_i64(a->date, b->date);
        else if (key == IMAP_SORT_SIZE)
            r = a->size < b->size ? -1 : a->size > b->size;
        else
            r = casemap_cmp(a->text[key] ? a->text[key] : "", b->text[key] ? b->text[key] : "");
        if (r)
            return sort_crit[i].reverse ? -r : r;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void sort_free(struct sort_rec *recs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < ARRAY_LEN(recs[i].text); k++)
            free(recs[i].text[k]);
    free(recs);
}

/* The matches as records sorted by crit. */
static struct sort_rec *sort_matches(struct msession *s, const struct matches *m,
                                     const struct imap_sort_crit *crit, size_t ncrit)
{
    struct sort_rec *recs = xcalloc(m->n ? m->n : 1, sizeof(*recs));
    for (size_t i = 0; i < m->n; i++) {
        recs[i].seq = m->seqs[i];
        recs[i].uid = m->uids[i];
        sort_fill(s, &recs[i], crit, ncrit);
    }
    sort_crit = crit;
    sort_ncrit = ncrit;
    qsort(recs, m->n, sizeof(*recs), sort_cmp);
    return recs;
}

void imapd_cmd_sort(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    uint64_t t0 = mono_msec();
    struct imap_search_params p;
    struct imap_search q;
    struct imap_sort_crit crit[IMAP_SORT_MAX_CRITERIA];
    size_t ncrit = 0;
    const char *err = NULL;
    search_params(s, &p);
    p.allow_return = 0;                    /* ESORT is not offered */
    int r = imap_sort_parse(args, &p, crit, &ncrit, &q, &err);
    if (r < 0) {
        reply_parse_error(s, tag, "SORT", r, err);
        return;
    }
    struct matches m;
    search_run(s, &q, &m);
    struct sort_rec *recs = sort_matches(s, &m, crit, ncrit);
    uint32_t *nums = xmalloc((m.n ? m.n : 1) * sizeof(uint32_t));
    for (size_t i = 0; i < m.n; i++)
        nums[i] = uid ? recs[i].uid : recs[i].seq;
    reply_search(s, nums, m.n, q.uses_modseq ? m.modseq : 0, "SORT");
    free(nums);
    sort_free(recs, m.n);
    matches_free(&m);
    imap_search_free(&q);
    reply_done(s, tag, "Sort", t0);
}

/* ---- THREAD ---- */

struct thread {
    size_t first, n;                       /* recs[first .. first + n) */
    int64_t date;
    uint32_t seq;
};

static int thread_cmp(const void *pa, const void *pb)
{
    const struct thread *a = pa, *b = pb;
    int r = cmp_i64(a->date, b->date);
    return r ? r : (a->seq < b->seq ? -1 : a->seq > b->seq);
}

/*
 * ORDEREDSUBJECT (RFC 5256): by base subject, then sent date; each run of
 * one base subject is a thread whose first message is the parent of the
 * others; threads in the order of their first messages' dates.
 */
static void thread_orderedsubject(struct msession *s, const struct sort_rec *recs, size_t n,
                                  int uid)
{
    struct thread *t = xcalloc(n ? n : 1, sizeof(*t));
    size_t nt = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcasecmp(recs[i].text[IMAP_SORT_SUBJECT],
                                 recs[i - 1].text[IMAP_SORT_SUBJECT]) != 0)
            t[nt++] = (struct thread){.first = i, .date = recs[i].date, .seq = recs[i].seq};
        t[nt - 1].n++;
    }
    qsort(t, nt, sizeof(*t), thread_cmp);
    struct buf *o = conn_out(s->c);
    buf_puts(o, nt ? "* THREAD " : "* THREAD");
    for (size_t k = 0; k < nt; k++) {
        const struct sort_rec *r = &recs[t[k].first];
        buf_printf(o, "(%u", uid ? r[0].uid : r[0].seq);
        if (t[k].n == 2)
            buf_printf(o, " %u", uid ? r[1].uid : r[1].seq);
        else
            for (size_t j = 1; j < t[k].n; j++)
                buf_printf(o, "%s(%u)", j == 1 ? " " : "", uid ? r[j].uid : r[j].seq);
        buf_putc(o, ')');
    }
    buf_puts(o, "\r\n");
    free(t);
}

#define THREAD_REFS_MAX 1000               /* msg-ids read from one References: */

struct thread_src {
    char **ids;                            /* References (or In-Reply-To) */
    size_t nids;
    char **mid;                            /* Message-ID (0 or 1) */
    size_t nmid;
    char *subject;
};

static void header_ids(const char *h, size_t len, const char *field, char ***ids, size_t *n,
                       size_t max)
{
    struct buf v;
    buf_init(&v, 1024 * 1024);
    if (imapd_mt_header_raw(h, len, field, &v) == 1)
        imapd_thread_msgids(buf_cstr(&v), v.len, ids, n, max);
    buf_free(&v);
}

/* What REFERENCES needs of one message: its ids, base subject and sent date. */
static void thread_fill(struct msession *s, uint32_t num, uint32_t seq, uint32_t uid,
                        struct imapd_thread_msg *tm, struct thread_src *src)
{
    struct sort_rec rec = {.seq = seq, .uid = uid};
    static const struct imap_sort_crit by_date = {IMAP_SORT_DATE, 0};
    sort_fill(s, &rec, &by_date, 1);
    struct msg_ctx c;
    mctx_init(&c, s->sel->v, uid);
    size_t len = 0;
    const char *h = mctx_header(&c, &len);
    int reply = 0;
    struct buf subj, base;
    buf_init(&subj, SORT_TEXT_MAX);
    buf_init(&base, SORT_TEXT_MAX);
    if (h) {
        header_ids(h, len, "Message-ID", &src->mid, &src->nmid, 1);
        header_ids(h, len, "References", &src->ids, &src->nids, THREAD_REFS_MAX);
        if (src->nids == 0)
            header_ids(h, len, "In-Reply-To", &src->ids, &src->nids, 1);
        if (imapd_mt_header_value(h, len, "Subject", &subj) >= 0)
            imap_base_subject(buf_cstr(&subj), subj.len, &base, &reply);
    }
    src->subject = xstrdup(buf_cstr(&base));
    buf_free(&subj);
    buf_free(&base);
    mctx_done(&c);
    *tm = (struct imapd_thread_msg){
        .num = num, .seq = seq, .date = rec.date, .msgid = src->nmid ? src->mid[0] : NULL,
        .refs = (const char *const *)src->ids, .nrefs = src->nids, .subject = src->subject,
        .reply = reply,
    };
}

static void thread_src_free(struct thread_src *src)
{
    for (size_t i = 0; i < src->nids; i++)
        free(src->ids[i]);
    for (size_t i = 0; i < src->nmid; i++)
        free(src->mid[i]);
    free(src->ids);
    free(src->mid);
    free(src->subject);
}

static void thread_references(struct msession *s, const struct matches *m, int uid)
{
    struct imapd_thread_msg *tm = xcalloc(m->n ? m->n : 1, sizeof(*tm));
    struct thread_src *src = xcalloc(m->n ? m->n : 1, sizeof(*src));
    for (size_t i = 0; i < m->n; i++)
        thread_fill(s, uid ? m->uids[i] : m->seqs[i], m->seqs[i], m->uids[i], &tm[i], &src[i]);
    struct buf *o = conn_out(s->c);
    buf_puts(o, m->n ? "* THREAD " : "* THREAD");
    imapd_thread_references(tm, m->n, o);
    buf_puts(o, "\r\n");
    for (size_t i = 0; i < m->n; i++)
        thread_src_free(&src[i]);
    free(src);
    free(tm);
}

/* THREAD algorithm charset keys: 0, or -1 after replying. */
static int thread_parse(struct msession *s, const char *tag, const struct imap_arg *args,
                        struct imap_search *q, int *refs)
{
    const char *alg, *err = NULL;
    struct imap_search_params p;
    search_params(s, &p);
    p.allow_return = 0;
    memset(q, 0, sizeof(*q));
    if (!imap_arg_atom(&args[0], &alg) || imap_arg_is_eol(&args[1])) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command THREAD: Invalid arguments.");
        return -1;
    }
    *refs = str_ieq(alg, "REFERENCES");
    if (!*refs && !str_ieq(alg, "ORDEREDSUBJECT")) {
        imapd_reply(s->c, tag, "BAD Unknown thread algorithm.");
        return -1;
    }
    int r = imap_search_parse_charset(&args[1], &err);
    if (r == 0)
        r = imap_search_parse_keys(q, &args[2], &p, &err);
    if (r < 0) {
        imap_search_free(q);
        reply_parse_error(s, tag, "THREAD", r, err);
    }
    return r < 0 ? -1 : 0;
}

void imapd_cmd_thread(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    uint64_t t0 = mono_msec();
    struct imap_search q;
    int refs;
    if (thread_parse(s, tag, args, &q, &refs) < 0)
        return;
    static const struct imap_sort_crit crit[] = {{IMAP_SORT_SUBJECT, 0}, {IMAP_SORT_DATE, 0}};
    struct matches m;
    search_run(s, &q, &m);
    if (refs) {
        thread_references(s, &m, uid);
    } else {
        struct sort_rec *recs = sort_matches(s, &m, crit, ARRAY_LEN(crit));
        thread_orderedsubject(s, recs, m.n, uid);
        sort_free(recs, m.n);
    }
    matches_free(&m);
    imap_search_free(&q);
    reply_done(s, tag, "Thread", t0);
}
