/*
 * cmd_select.c - the mail worker's SELECT EXAMINE CLOSE UNSELECT CHECK
 * commands (see mailsess.h).
 *
 * Owns: opening a folder's view for a session with the untagged data
 * Dovecot sends (FLAGS, PERMANENTFLAGS, EXISTS, RECENT, UNSEEN,
 * UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ) and its words, the CONDSTORE and
 * QRESYNC select parameters (RFC 7162: without an expunge history, VANISHED
 * (EARLIER) names every UID of the client's known set that is gone), \Recent
 * claims (not for EXAMINE), "[CLOSED]" when a selected mailbox is replaced,
 * CLOSE's silent expunge.
 */
#include "imapd/selected.h"

#include "lib-imap/imap_seqset.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct qresync {
    int given;
    uint32_t uidvalidity;
    uint64_t modseq;
    struct imap_seqset known;          /* known-uids, empty: all */
};

static int parse_u64(const struct imap_arg *a, uint64_t *v)
{
    const char *s;
    if (!imap_arg_atom(a, &s) || !*s)
        return -1;
    uint64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}

/* (QRESYNC (uidvalidity modseq [known-uids [seq-match]])) */
static int parse_qresync(const struct imap_arg *l, struct qresync *q, const char **err)
{
    const struct imap_arg *p;
    uint64_t uv, ms;
    *err = "Invalid QRESYNC parameters";
    if (!imap_arg_list(l, &p) || parse_u64(&p[0], &uv) < 0 || uv == 0 || uv > UINT32_MAX ||
        parse_u64(&p[1], &ms) < 0)
        return -1;
    q->given = 1;
    q->uidvalidity = (uint32_t)uv;
    q->modseq = ms;
    const char *set;
    if (imap_arg_is_eol(&p[2]))
        return 0;
    if (!imap_arg_atom(&p[2], &set) ||
        imap_seqset_parse(&q->known, set, strlen(set), UINT32_MAX, 0, err) < 0)
        return -1;
    return 0;
}

/* The select parameters; CONDSTORE enables it, QRESYNC needs ENABLE QRESYNC. */
static int parse_params(struct msession *s, const struct imap_arg *a, struct qresync *q,
                        const char **err)
{
    const struct imap_arg *l;
    if (imap_arg_is_eol(a))
        return 0;
    if (!imap_arg_list(a, &l) || !imap_arg_is_eol(&a[1])) {
        *err = "Invalid arguments.";
        return -1;
    }
    for (; !imap_arg_is_eol(l); l++) {
        const char *name;
        if (!imap_arg_atom(l, &name)) {
            *err = "Invalid select parameter";
            return -1;
        }
        if (strcasecmp(name, "CONDSTORE") == 0) {
            s->enabled |= MS_ENABLED_CONDSTORE;
        } else if (strcasecmp(name, "QRESYNC") == 0) {
            if (!(s->enabled & MS_ENABLED_QRESYNC)) {
                *err = "QRESYNC not enabled";
                return -1;
            }
            if (parse_qresync(++l, q, err) < 0)
                return -1;
        } else {
            *err = "Unknown select parameter";
            return -1;
        }
    }
    return 0;
}

static void send_state(struct msession *s)
{
    struct msel *sel = s->sel;
    struct buf *o = conn_out(s->c);
    buf_puts(o, "* FLAGS ");
    imapd_sel_write_all_flags(s, o, 0);
    buf_puts(o, "\r\n");
    if (sel->readonly) {
        buf_puts(o, "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n");
    } else {
        buf_puts(o, "* OK [PERMANENTFLAGS ");
        imapd_sel_write_all_flags(s, o, 1);
        buf_puts(o, "] Flags permitted.\r\n");
    }
    imapd_reply(s->c, NULL, "%zu EXISTS", sel->n);
    imapd_reply(s->c, NULL, "%u RECENT", imapd_sel_nrecent(s));
    size_t n;
    const struct mmsg *m = mview_msgs(sel->v, &n);
    for (size_t i = 0; i < n; i++)
        if (!(m[i].flags & STORAGE_FLAG_SEEN)) {
            imapd_reply(s->c, NULL, "OK [UNSEEN %zu] First unseen.", i + 1);
            break;
        }
    imapd_reply(s->c, NULL, "OK [UIDVALIDITY %u] UIDs valid", mview_uidvalidity(sel->v));
    imapd_reply(s->c, NULL, "OK [UIDNEXT %u] Predicted next UID", mview_uidnext(sel->v));
    if (s->enabled & MS_ENABLED_CONDSTORE)      /* as Dovecot: only once CONDSTORE is on */
        imapd_reply(s->c, NULL, "OK [HIGHESTMODSEQ %llu] Highest",
                    (unsigned long long)mview_highest_modseq(sel->v));
}

/* QRESYNC: what the client missed since its modseq. */
static void send_qresync(struct msession *s, struct qresync *q)
{
    struct msel *sel = s->sel;
    if (q->uidvalidity != mview_uidvalidity(sel->v))
        return;
    uint32_t top = mview_uidnext(sel->v) - 1;
    if (q->known.count == 0 && top)
        imap_seqset_add(&q->known, 1, top);
    imap_seqset_normalize(&q->known);
    /* UIDs the client knows that are gone (no history: every one of them) */
    struct buf gone;
    buf_init(&gone, 1024 * 1024);
    struct imap_seqset vanished;
    imap_seqset_init(&vanished);
    for (size_t r = 0; r < q->known.count; r++) {
        uint32_t lo = q->known.r[r].lo, hi = q->known.r[r].hi < top ? q->known.r[r].hi : top;
        if (lo > hi)
            continue;
        uint64_t x = lo;
        size_t i = 0, j = sel->n;
        while (i < j) {                /* first known UID >= lo */
            size_t mid = i + (j - i) / 2;
            if (sel->uids[mid] < lo)
                i = mid + 1;
            else
                j = mid;
        }
        for (; i < sel->n && sel->uids[i] <= hi; i++) {
            if (sel->uids[i] > x)
                imap_seqset_add(&vanished, (uint32_t)x, sel->uids[i] - 1);
            x = (uint64_t)sel->uids[i] + 1;
        }
        if (x <= hi)
            imap_seqset_add(&vanished, (uint32_t)x, hi);
    }
    imap_seqset_normalize(&vanished);
    if (vanished.count && imap_seqset_write(&gone, &vanished) == 0)
        imapd_reply(s->c, NULL, "VANISHED (EARLIER) %s", buf_cstr(&gone));
    imap_seqset_free(&vanished);
    buf_free(&gone);
    size_t n;
    const struct mmsg *m = mview_msgs(sel->v, &n);
    for (size_t k = 0; k < n; k++) {
        if (m[k].modseq <= q->modseq || !imapd_sel_seq(s, m[k].uid))
            continue;
        struct buf *o = conn_out(s->c);
        buf_printf(o, "* %u FETCH (UID %u FLAGS ", imapd_sel_seq(s, m[k].uid), m[k].uid);
        imapd_sel_write_flags(s, o, &m[k]);
        buf_printf(o, " MODSEQ (%llu))\r\n", (unsigned long long)m[k].modseq);
        imapd_sess_out_drain(s);
    }
}

/* EXAMINE shows the messages still \Recent without claiming them: the newest STATUS RECENT. */
static uint32_t unclaimed_recent(struct msession *s)
{
    struct mstatus st;
    struct storage_error e;
    struct msel *sel = s->sel;
    if (mstore_status(s->st, sel->name, &st, &e) < 0 || st.recent == 0 || st.recent > sel->n)
        return 0;
    return sel->uids[sel->n - st.recent];
}

static void do_select(struct msession *s, const char *tag, const struct imap_arg *args,
                      int readonly)
{
    char name[MSTORE_NAME_MAX + 1];
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    struct qresync q = {0};
    imap_seqset_init(&q.known);
    const char *err;
    if (parse_params(s, &args[1], &q, &err) < 0) {
        imapd_reply(s->c, tag, "BAD %s", err);
        imap_seqset_free(&q.known);
        return;
    }
    if (s->sel) {
        imapd_sel_close(s);
        imapd_reply(s->c, NULL, "OK [CLOSED] Previous mailbox closed.");
    }
    struct storage_error e;
    struct mview *v = mview_open(s->st, name, &e);
    if (!v && e.err == ENOENT) {
        imapd_reply(s->c, tag, "NO Mailbox doesn't exist: %s", args[0].str);   /* Dovecot's words */
        imap_seqset_free(&q.known);
        return;
    }
    if (!v) {
        imapd_sess_reply_storage(s, tag, args[0].str, &e);
        imap_seqset_free(&q.known);
        return;
    }
    struct msel *sel = xcalloc(1, sizeof(*sel));
    sel->v = v;
    str_copy(sel->name, name, sizeof(sel->name));
    sel->readonly = readonly;
    imap_seqset_init(&sel->saved);
    imap_seqset_init(&sel->recent);
    s->sel = sel;
    uint32_t first = readonly ? 0 : mview_claim_recent(v, &e);
    size_t n;
    const struct mmsg *m = mview_msgs(v, &n);
    sel->cap = n ? n : 16;
    sel->uids = xmalloc(sel->cap * sizeof(*sel->uids));
    for (size_t i = 0; i < n; i++)
        sel->uids[i] = m[i].uid;
    sel->n = n;
    if (readonly)
        first = unclaimed_recent(s);
    imapd_sel_add_recent(s, first, mview_uidnext(v) - 1);
    for (unsigned i = 0; i < MSTORE_KEYWORDS; i++)
        if (mview_keyword(v, i))
            sel->nkeywords = i + 1;
    send_state(s);
    if (q.given)
        send_qresync(s, &q);
    imap_seqset_free(&q.known);
    imapd_reply(s->c, tag, "OK [%s] %s completed", readonly ? "READ-ONLY" : "READ-WRITE",
                readonly ? "Examine" : "Select");
}

void imapd_cmd_select(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    do_select(s, tag, args, 0);
}

void imapd_cmd_examine(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    do_select(s, tag, args, 1);
}

void imapd_cmd_close(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    if (!imap_arg_is_eol(&args[0])) {
        imapd_reply(s->c, tag, "BAD Invalid arguments.");
        return;
    }
    if (!s->sel->readonly) {
        struct mview_changes ch = {0};
        struct storage_error e;
        if (mview_expunge(s->sel->v, NULL, 0, &ch, &e) == 0)
            mview_changes_free(&ch);
    }
    imapd_sel_close(s);
    imapd_reply(s->c, tag, "OK Close completed.");
}

void imapd_cmd_unselect(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    if (!imap_arg_is_eol(&args[0])) {
        imapd_reply(s->c, tag, "BAD Invalid arguments.");
        return;
    }
    imapd_sel_close(s);
    imapd_reply(s->c, tag, "OK Unselect completed.");
}

void imapd_cmd_check(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    (void)args;
    imapd_sel_sync(s, 1);
    imapd_reply(s->c, tag, "OK Check completed.");
}
