/*
 * selected.c - the selected mailbox of a mail-worker session and the
 * helpers every mailbox command uses (see mailsess.h and selected.h).
 *
 * Owns: opening the user's store from the mail location; the session's
 * own list of UIDs (sequence numbers) and bringing it up to date with
 * mview_sync() only where the client may be told (EXPUNGE only when
 * allowed; EXISTS, RECENT and FETCH FLAGS of other sessions' changes at
 * every sync); \Recent; sequence-set arguments; mailbox-name arguments and
 * names on the wire (mUTF-7, or UTF-8 after ENABLE UTF8=ACCEPT); flag
 * lists; storage errors as Dovecot words them; and bounding the output a
 * long command queues.
 */
#include "imapd/selected.h"

#include "lib-login/mailloc.h"
#include "lib-imap/imap_quote.h"
#include "lib-imap/imap_utf7.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A command's queued output above this is flushed before it goes on. */
#define SESS_OUT_BOUND (1024 * 1024)
/* How long a client may read nothing while a long reply waits for it. */
#define SESS_DRAIN_WAIT_MS 60000

/* ------------------------------------------------------------------ */
/* the store                                                           */

int imapd_sess_open_store(struct msession *s)
{
    s->st = NULL;
    if (!s->mail || !*s->mail) {
        msg_info("imap(%s): no mail location (userdb mail=, mail_location, "
                 "virtual_mailbox_maps or home_mailbox): mailbox commands are unavailable",
                 s->user);
        return 0;
    }
    char path[MAILLOC_PATH_MAX];
    const char *why;
    if (login_mailloc_expand(s->mail, s->user, s->home ? s->home : "", path, sizeof(path),
                             &why) < 0) {
        msg_warn("imap(%s): mail location \"%s\": %s", s->user, s->mail, why);
        return -1;
    }
    struct storage_error e;
    s->st = mstore_open(path, 1, &e);
    if (!s->st) {
        msg_warn("imap(%s): cannot open the Maildir %s: %s", s->user, path, e.text);
        return -1;
    }
    return 0;
}

int imapd_sess_no_store(struct msession *s, const char *tag)
{
    if (s->st)
        return 0;
    imapd_reply(s->c, tag, "NO [UNAVAILABLE] No mail location is configured for this user.");
    return 1;
}

void imapd_sel_close(struct msession *s)
{
    if (s->idle)
        imapd_cmd_idle_stop(s);
    if (!s->sel)
        return;
    mview_close(s->sel->v);
    imap_seqset_free(&s->sel->saved);
    imap_seqset_free(&s->sel->recent);
    free(s->sel->uids);
    free(s->sel);
    s->sel = NULL;
}

static size_t lower_bound(const struct msel *sel, uint32_t uid);

/* ------------------------------------------------------------------ */
/* flags                                                               */

static const struct {
    unsigned bit;
    const char *name;
} sysflags[] = {
    {STORAGE_FLAG_ANSWERED, "\\Answered"}, {STORAGE_FLAG_FLAGGED, "\\Flagged"},
    {STORAGE_FLAG_DELETED, "\\Deleted"},   {STORAGE_FLAG_SEEN, "\\Seen"},
    {STORAGE_FLAG_DRAFT, "\\Draft"},
};

int imapd_sel_recent(const struct msession *s, uint32_t uid)
{
    return s->sel && imap_seqset_contains(&s->sel->recent, uid);
}

uint32_t imapd_sel_nrecent(const struct msession *s)
{
    const struct msel *sel = s->sel;
    if (!sel)
        return 0;
    uint32_t n = 0;
    for (size_t r = 0; r < sel->recent.count; r++)
        for (size_t i = lower_bound(sel, sel->recent.r[r].lo);
             i < sel->n && sel->uids[i] <= sel->recent.r[r].hi; i++)
            n++;
    return n;
}

void imapd_sel_add_recent(struct msession *s, uint32_t lo, uint32_t hi)
{
    struct msel *sel = s->sel;
    if (!lo || lo > hi)
        return;
    imap_seqset_add(&sel->recent, lo, hi);
    imap_seqset_normalize(&sel->recent);
    if (!sel->first_recent || lo < sel->first_recent)
        sel->first_recent = lo;
}

int imapd_sel_write_flags(const struct msession *s, struct buf *b, const struct mmsg *m)
{
    int rc = buf_putc(b, '(');
    const char *sp = "";
    for (size_t i = 0; i < ARRAY_LEN(sysflags); i++)
        if (m->flags & sysflags[i].bit) {
            rc |= buf_printf(b, "%s%s", sp, sysflags[i].name);
            sp = " ";
        }
    if (imapd_sel_recent(s, m->uid)) {
        rc |= buf_printf(b, "%s\\Recent", sp);
        sp = " ";
    }
    for (unsigned i = 0; i < MSTORE_KEYWORDS; i++) {
        const char *kw = (m->keywords >> i) & 1 ? mview_keyword(s->sel->v, i) : NULL;
        if (kw) {
            rc |= buf_printf(b, "%s%s", sp, kw);
            sp = " ";
        }
    }
    rc |= buf_putc(b, ')');
    return rc < 0 ? -1 : 0;
}

static unsigned count_keywords(const struct mview *v)
{
    unsigned n = 0;
    for (unsigned i = 0; i < MSTORE_KEYWORDS; i++)
        if (mview_keyword(v, i))
            n = i + 1;
    return n;
}

int imapd_sel_write_all_flags(const struct msession *s, struct buf *b, int permanent)
{
    int rc = buf_puts(b, "(\\Answered \\Flagged \\Deleted \\Seen \\Draft");
    for (unsigned i = 0; i < MSTORE_KEYWORDS; i++) {
        const char *kw = mview_keyword(s->sel->v, i);
        if (kw)
            rc |= buf_printf(b, " %s", kw);
    }
    if (permanent && count_keywords(s->sel->v) < MSTORE_KEYWORDS)
        rc |= buf_puts(b, " \\*");
    rc |= buf_putc(b, ')');
    return rc < 0 ? -1 : 0;
}

/* A keyword is an atom without the characters flag-keyword excludes. */
static int keyword_ok(const char *k)
{
    if (!*k || strlen(k) > MSTORE_KEYWORD_MAX)
        return 0;
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f || strchr("(){%*\"\\]", *p))
            return 0;
    return 1;
}

static int parse_one_flag(struct msession *s, const char *f, int create, unsigned *flags,
                          uint32_t *kw, const char **err, int *no)
{
    if (f[0] == '\\') {
        for (size_t i = 0; i < ARRAY_LEN(sysflags); i++)
            if (strcasecmp(f, sysflags[i].name) == 0) {
                *flags |= sysflags[i].bit;
                return 0;
            }
        if (strcasecmp(f, "\\Recent") == 0) {
            *err = "Invalid system flag \\RECENT";
            return -1;
        }
        *err = "Invalid system flag";
        return -1;
    }
    if (!keyword_ok(f)) {
        *err = "Invalid characters in keyword";
        return -1;
    }
    struct storage_error e;
    int bit = mview_keyword_bit(s->sel->v, f, create, &e);
    if (bit < 0) {
        if (create) {
            *no = 1;
            *err = "Too many keywords in this mailbox (Maildir has 26 keyword letters)";
            return -1;
        }
        return 0;                      /* unknown keyword: nothing to change */
    }
    *kw |= (uint32_t)1 << bit;
    return 0;
}

int imapd_sel_parse_flags(struct msession *s, const struct imap_arg *a, int create,
                          unsigned *flags, uint32_t *keywords, const char **err, int *no)
{
    *flags = 0;
    *keywords = 0;
    *no = 0;
    const struct imap_arg *l;
    const char *f;
    if (imap_arg_atom(a, &f))
        return parse_one_flag(s, f, create, flags, keywords, err, no);
    if (!imap_arg_list(a, &l)) {
        *err = "Flags list expected";
        return -1;
    }
    for (; !imap_arg_is_eol(l); l++) {
        if (!imap_arg_atom(l, &f)) {
            *err = "Flags list contains non-atoms.";
            return -1;
        }
        if (parse_one_flag(s, f, create, flags, keywords, err, no) < 0)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* sync                                                                */

static void tell_flags(struct msession *s, uint32_t seq, const struct mmsg *m)
{
    struct buf *o = conn_out(s->c);
    buf_printf(o, "* %u FETCH (", seq);
    buf_puts(o, "FLAGS ");
    imapd_sel_write_flags(s, o, m);
    if (s->enabled & (MS_ENABLED_CONDSTORE | MS_ENABLED_QRESYNC))
        buf_printf(o, " MODSEQ (%llu)", (unsigned long long)m->modseq);
    buf_puts(o, ")\r\n");
}

/* Drop UIDs the view no longer has, telling the client "* n EXPUNGE". */
static void apply_expunges(struct msession *s, const struct mmsg *m, size_t nm)
{
    struct msel *sel = s->sel;
    size_t j = 0, w = 0;
    for (size_t i = 0; i < sel->n; i++) {
        uint32_t u = sel->uids[i];
        while (j < nm && m[j].uid < u)
            j++;
        if (j < nm && m[j].uid == u) {
            sel->uids[w++] = u;
            continue;
        }
        imapd_reply(s->c, NULL, "%zu EXPUNGE", w + 1);
    }
    sel->n = w;
}

static void add_uid(struct msel *sel, uint32_t uid)
{
    if (sel->n == sel->cap) {
        sel->cap = sel->cap ? sel->cap * 2 : 64;
        sel->uids = xrealloc(sel->uids, sel->cap * sizeof(*sel->uids));
    }
    sel->uids[sel->n++] = uid;
}

/* Claim \Recent for what was added (SELECT only): what this claim got. */
static void claim_recent(struct msession *s)
{
    struct msel *sel = s->sel;
    if (sel->readonly)
        return;
    struct storage_error e;
    uint32_t first = mview_claim_recent(sel->v, &e);
    imapd_sel_add_recent(s, first, mview_uidnext(sel->v) - 1);
}

static void tell_keywords(struct msession *s)
{
    unsigned nk = count_keywords(s->sel->v);
    if (nk == s->sel->nkeywords)
        return;
    s->sel->nkeywords = nk;
    struct buf *o = conn_out(s->c);
    buf_puts(o, "* FLAGS ");
    imapd_sel_write_all_flags(s, o, 0);
    buf_puts(o, "\r\n");
    if (!s->sel->readonly) {
        buf_puts(o, "* OK [PERMANENTFLAGS ");
        imapd_sel_write_all_flags(s, o, 1);
        buf_puts(o, "] Flags permitted.\r\n");
    }
}

void imapd_sel_sync(struct msession *s, int allow_expunge)
{
    struct msel *sel = s->sel;
    if (!sel)
        return;
    struct mview_changes ch;
    struct storage_error e;
    if (mview_sync(sel->v, &ch, &e) < 0) {
        msg_warn("imap(%s): sync of %s failed: %s", s->user, sel->name, e.text);
        return;
    }
    if (ch.uidvalidity_changed) {
        mview_changes_free(&ch);
        imapd_reply(s->c, NULL, "BYE Mailbox UIDVALIDITY changed");
        imapd_sel_close(s);
        s->closing = 1;
        return;
    }
    size_t nm;
    const struct mmsg *m = mview_msgs(sel->v, &nm);
    if (allow_expunge)
        apply_expunges(s, m, nm);
    tell_keywords(s);
    uint32_t last = sel->n ? sel->uids[sel->n - 1] : 0;
    size_t before = sel->n;
    for (size_t j = 0; j < nm; j++)
        if (m[j].uid > last)
            add_uid(sel, m[j].uid);
    if (sel->n != before) {
        claim_recent(s);
        imapd_reply(s->c, NULL, "%zu EXISTS", sel->n);
        imapd_reply(s->c, NULL, "%u RECENT", imapd_sel_nrecent(s));
    }
    m = mview_msgs(sel->v, &nm);
    for (size_t i = 0; i < ch.nchanged; i++) {
        uint32_t seq = imapd_sel_seq(s, ch.changed[i]);
        long k = seq ? mview_find(sel->v, ch.changed[i]) : -1;
        if (k >= 0 && ch.changed[i] <= last)
            tell_flags(s, seq, &m[k]);
    }
    mview_changes_free(&ch);
}

/* ------------------------------------------------------------------ */
/* sequence numbers and sets                                           */

uint32_t imapd_sel_seq(const struct msession *s, uint32_t uid)
{
    const struct msel *sel = s->sel;
    if (!sel)
        return 0;
    size_t lo = 0, hi = sel->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sel->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < sel->n && sel->uids[lo] == uid ? (uint32_t)(lo + 1) : 0;
}

/* First index whose UID is >= uid. */
static size_t lower_bound(const struct msel *sel, uint32_t uid)
{
    size_t lo = 0, hi = sel->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sel->uids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct uidvec {
    uint32_t *v;
    size_t n, cap;
};

static void vec_push(struct uidvec *u, uint32_t x)
{
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->v = xrealloc(u->v, u->cap * sizeof(*u->v));
    }
    u->v[u->n++] = x;
}

/* The UIDs of a set of UIDs that the session knows. */
static void uids_of_uidset(const struct msel *sel, const struct imap_seqset *set, struct uidvec *out)
{
    for (size_t r = 0; r < set->count; r++)
        for (size_t i = lower_bound(sel, set->r[r].lo); i < sel->n && sel->uids[i] <= set->r[r].hi;
             i++)
            vec_push(out, sel->uids[i]);
}

int imapd_sel_uids(struct msession *s, const struct imap_arg *a, int uid, uint32_t **uids,
                   size_t *n, const char **err)
{
    struct msel *sel = s->sel;
    *uids = NULL;
    *n = 0;
    const char *text;
    if (!sel) {
        *err = "No mailbox selected.";
        return -1;
    }
    if (!imap_arg_atom(a, &text)) {
        *err = "Invalid messageset";
        return -1;
    }
    uint32_t star = uid ? (sel->n ? sel->uids[sel->n - 1] : 0) : (uint32_t)sel->n;
    struct imap_seqset set;
    imap_seqset_init(&set);
    if (imap_seqset_parse(&set, text, strlen(text), star, 1, err) < 0) {
        imap_seqset_free(&set);
        return -1;
    }
    struct uidvec out = {0};
    if (set.searchres) {
        uids_of_uidset(sel, &sel->saved, &out);
    } else if (uid) {
        uids_of_uidset(sel, &set, &out);
    } else {
        if (imap_seqset_max(&set) > sel->n) {
            imap_seqset_free(&set);
            *err = "Invalid messageset";
            return -1;
        }
        for (size_t r = 0; r < set.count; r++)
            for (uint64_t q = set.r[r].lo; q <= set.r[r].hi; q++)
                vec_push(&out, sel->uids[q - 1]);
    }
    imap_seqset_free(&set);
    *uids = out.v;
    *n = out.n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* replies                                                             */

void imapd_sess_reply_storage(struct msession *s, const char *tag, const char *what,
                              const struct storage_error *e)
{
    switch (e->err) {
    case ENOENT:
        imapd_reply(s->c, tag, "NO [NONEXISTENT] Mailbox doesn't exist: %s", what);
        return;
    case EEXIST:
        imapd_reply(s->c, tag, "NO [ALREADYEXISTS] Mailbox already exists");
        return;
    case EACCES:
    case EPERM:
    case EROFS:
        imapd_reply(s->c, tag, "NO [NOPERM] Permission denied");
        return;
    case EDQUOT:
    case EFBIG:
        imapd_reply(s->c, tag, "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)");
        return;
    case ENOSPC:
        imapd_reply(s->c, tag, "NO [OVERQUOTA] Not enough disk space");
        return;
    case ENOTEMPTY:
        imapd_reply(s->c, tag, "NO [INUSE] Mailbox has children, delete them first");
        return;
    case EINVAL:
    case ENAMETOOLONG:
        imapd_reply(s->c, tag, "NO [CANNOT] Invalid mailbox name");
        return;
    default:
        if (strcmp(e->dsn, "5.2.2") == 0) {
            imapd_reply(s->c, tag, "NO [OVERQUOTA] Quota exceeded (mailbox for user is full)");
            return;
        }
        msg_warn("imap(%s): %s: %s", s->user, what, e->text);
        imapd_reply(s->c, tag, "NO [SERVERBUG] Internal error occurred. "
                               "Refer to server log for more information.");
    }
}

int imapd_sess_mailbox_arg(struct msession *s, const char *tag, const struct imap_arg *a,
                           char *out, size_t outlen)
{
    const char *name;
    size_t len;
    if (!imap_arg_astring(a, &name, &len)) {
        imapd_reply(s->c, tag, "BAD Invalid arguments.");
        return -1;
    }
    if (imapd_sess_no_store(s, tag))
        return -1;
    if (len == 0 || memchr(name, '\0', len)) {
        imapd_reply(s->c, tag, "NO [CANNOT] Invalid mailbox name: Name is empty");
        return -1;
    }
    struct buf b;
    buf_init(&b, outlen);
    int ok;
    if (strcasecmp(name, "INBOX") == 0) {
        ok = buf_puts(&b, "INBOX") == 0;
    } else if (s->enabled & MS_ENABLED_UTF8) {
        ok = imap_mailbox_utf8_valid(name, len) && imap_utf8_to_utf7(name, len, &b) == 0;
    } else {
        ok = imap_utf7_valid(name, len) && buf_append(&b, name, len) == 0;
        if (!ok) {
            buf_free(&b);
            imapd_reply(s->c, tag, "NO Mailbox name is not valid mUTF-7");
            return -1;
        }
    }
    /* "inbox.x" is a child of INBOX, as Dovecot's namespace shows it */
    if (ok && b.len > 6 && strncasecmp(b.data, "INBOX.", 6) == 0)
        memcpy(b.data, "INBOX", 5);
    ok = ok && b.len < outlen && mstore_name_ok(buf_cstr(&b));
    if (!ok) {
        buf_free(&b);
        imapd_reply(s->c, tag, "NO [CANNOT] Invalid mailbox name");
        return -1;
    }
    str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
    return 0;
}

int imapd_sess_write_mailbox(const struct msession *s, struct buf *b, const char *name)
{
    if (!(s->enabled & MS_ENABLED_UTF8))
        return imap_write_astring_z(b, name, 0);
    struct buf u;
    buf_init(&u, 4 * MSTORE_NAME_MAX + 16);
    int rc = imap_utf7_to_utf8(name, strlen(name), &u) == 0
                 ? imap_write_astring(b, u.data ? u.data : "", u.len, IMAP_QUOTE_UTF8)
                 : imap_write_astring_z(b, name, 0);
    buf_free(&u);
    return rc;
}

/* ------------------------------------------------------------------ */
/* output                                                              */

int imapd_sess_out_drain(struct msession *s)
{
    if (conn_out_len(s->c) < SESS_OUT_BOUND)
        return 0;
    while (conn_out_len(s->c) >= SESS_OUT_BOUND / 2) {
        if (conn_flush(s->c) < 0)
            goto gone;
        if (conn_out_len(s->c) < SESS_OUT_BOUND / 2)
            break;
        struct pollfd p = {.fd = conn_fd(s->c), .events = POLLOUT};
        int r = poll(&p, 1, SESS_DRAIN_WAIT_MS);   /* other sessions of this uid wait meanwhile */
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            msg_info("imap(%s): the client reads no replies: disconnecting", s->user);
            goto gone;
        }
    }
    return 0;
gone:
    s->closing = 1;
    return -1;
}
