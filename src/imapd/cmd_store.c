/*
 * cmd_store.c - the mail worker's STORE / UID STORE and EXPUNGE / UID
 * EXPUNGE (see mailsess.h).
 *
 * Owns: FLAGS, +FLAGS, -FLAGS and their .SILENT forms with system flags
 * and keywords (new keywords created, at most Maildir's 26 a folder), the
 * UNCHANGEDSINCE modifier (RFC 7162: messages changed since are left alone
 * and named in [MODIFIED]), the untagged FETCH FLAGS (with UID for UID
 * STORE, MODSEQ once CONDSTORE is on), and EXPUNGE of every \Deleted
 * message or of those in a UID set (RFC 4315), told as "* n EXPUNGE".
 * A read-only (EXAMINEd) mailbox refuses both.
 */
#include "imapd/selected.h"

#include "lib-imap/imap_seqset.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct store_req {
    enum mview_store_op op;
    int silent;
    int has_unchanged;
    uint64_t unchangedsince;
    unsigned flags;
    uint32_t keywords;
};

static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return 0;
}

/* (UNCHANGEDSINCE n); returns the arguments after it. */
static const struct imap_arg *parse_modifiers(const struct imap_arg *a, struct store_req *r,
                                              const char **err)
{
    const struct imap_arg *l;
    if (!imap_arg_list(a, &l))
        return a;
    for (; !imap_arg_is_eol(l); l += 2) {
        const char *name, *val;
        if (!imap_arg_atom(&l[0], &name) || strcasecmp(name, "UNCHANGEDSINCE") != 0 ||
            !imap_arg_atom(&l[1], &val) || parse_u64(val, &r->unchangedsince) < 0) {
            *err = "Invalid STORE modifiers.";
            return NULL;
        }
        r->has_unchanged = 1;
    }
    return a + 1;
}

static int parse_op(const char *op, struct store_req *r)
{
    size_t len = strlen(op);
    r->silent = len > 7 && strcasecmp(op + len - 7, ".SILENT") == 0;
    if (r->silent)
        len -= 7;
    if (len == 5 && strncasecmp(op, "FLAGS", 5) == 0)
        r->op = MVIEW_FLAGS_SET;
    else if (len == 6 && strncasecmp(op, "+FLAGS", 6) == 0)
        r->op = MVIEW_FLAGS_ADD;
    else if (len == 6 && strncasecmp(op, "-FLAGS", 6) == 0)
        r->op = MVIEW_FLAGS_REMOVE;
    else
        return -1;
    return 0;
}

/* Split uids into those unchanged since the modifier (kept) and modified ones. */
static size_t filter_unchanged(struct msession *s, const struct store_req *r, uint32_t *uids,
                               size_t n, uint32_t **modified, size_t *nmod)
{
    *modified = NULL;
    *nmod = 0;
    if (!r->has_unchanged)
        return n;
    size_t w = 0;
    const struct mmsg *msgs = mview_msgs(s->sel->v, &(size_t){0});
    for (size_t i = 0; i < n; i++) {
        long k = mview_find(s->sel->v, uids[i]);
        if (k >= 0 && msgs[k].modseq > r->unchangedsince) {
            *modified = xrealloc(*modified, (*nmod + 1) * sizeof(**modified));
            (*modified)[(*nmod)++] = uids[i];
        } else {
            uids[w++] = uids[i];
        }
    }
    return w;
}

static void tell(struct msession *s, const uint32_t *uids, size_t n, int uid,
                 const struct store_req *r)
{
    int modseq = (s->enabled & MS_ENABLED_CONDSTORE) != 0;
    if (r->silent && !modseq)
        return;
    size_t nm;
    const struct mmsg *msgs = mview_msgs(s->sel->v, &nm);
    for (size_t i = 0; i < n; i++) {
        long k = mview_find(s->sel->v, uids[i]);
        uint32_t seq = imapd_sel_seq(s, uids[i]);
        if (k < 0 || !seq)
            continue;
        struct buf *o = conn_out(s->c);
        buf_printf(o, "* %u FETCH (", seq);
        const char *sp = "";
        if (uid) {
            buf_printf(o, "UID %u", uids[i]);
            sp = " ";
        }
        if (!r->silent) {
            buf_printf(o, "%sFLAGS ", sp);
            imapd_sel_write_flags(s, o, &msgs[k]);
            sp = " ";
        }
        if (modseq)
            buf_printf(o, "%sMODSEQ (%llu)", sp, (unsigned long long)msgs[k].modseq);
        buf_puts(o, ")\r\n");
        imapd_sess_out_drain(s);
    }
}

void imapd_cmd_store(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    struct store_req r = {0};
    const char *err = "Invalid arguments.", *op;
    uint32_t *uids = NULL, *modified = NULL;
    size_t n, nmod;
    if (imapd_sel_uids(s, &args[0], uid, &uids, &n, &err) < 0) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command STORE: %s", err);
        return;
    }
    const struct imap_arg *a = parse_modifiers(&args[1], &r, &err);
    int no = 0;
    if (!a || !imap_arg_atom(&a[0], &op) || parse_op(op, &r) < 0 || imap_arg_is_eol(&a[1]) ||
        !imap_arg_is_eol(&a[2]) ||
        (!s->sel->readonly &&
         imapd_sel_parse_flags(s, &a[1], r.op != MVIEW_FLAGS_REMOVE, &r.flags, &r.keywords,
                               &err, &no) < 0)) {
        free(uids);
        imapd_reply(s->c, tag, "%s Error in IMAP command STORE: %s", no ? "NO" : "BAD",
                    a && !no && err ? err : err);
        return;
    }
    if (s->sel->readonly) {
        free(uids);
        imapd_reply(s->c, tag, "NO [READ-ONLY] Mailbox is read-only.");
        return;
    }
    if (r.has_unchanged)
        s->enabled |= MS_ENABLED_CONDSTORE;
    n = filter_unchanged(s, &r, uids, n, &modified, &nmod);
    struct storage_error e;
    if (n && mview_store(s->sel->v, uids, n, r.op, r.flags, r.keywords, &e) < 0) {
        free(uids);
        free(modified);
        imapd_sess_reply_storage(s, tag, "STORE", &e);
        return;
    }
    imapd_sel_sync(s, uid);            /* first: "* FLAGS" when a keyword was added */
    tell(s, uids, n, uid, &r);
    free(uids);
    if (nmod) {
        struct buf set;
        buf_init(&set, 1024 * 1024);
        if (uid)
            imap_seqset_write_nums(&set, modified, nmod);
        else {
            for (size_t i = 0; i < nmod; i++)
                modified[i] = imapd_sel_seq(s, modified[i]);
            imap_seqset_write_nums(&set, modified, nmod);
        }
        imapd_reply(s->c, tag, "OK [MODIFIED %s] Conditional STORE failed", buf_cstr(&set));
        buf_free(&set);
    } else {
        imapd_reply(s->c, tag, "OK Store completed.");
    }
    free(modified);
}

void imapd_cmd_expunge(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    uint32_t *uids = NULL;
    size_t n = 0;
    const char *err;
    if (uid && imapd_sel_uids(s, &args[0], 1, &uids, &n, &err) < 0) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command EXPUNGE: %s", err);
        return;
    }
    if (!imap_arg_is_eol(&args[uid ? 1 : 0])) {
        free(uids);
        imapd_reply(s->c, tag, "BAD Invalid arguments.");
        return;
    }
    if (s->sel->readonly) {
        free(uids);
        imapd_reply(s->c, tag, "NO [READ-ONLY] Mailbox is read-only.");
        return;
    }
    struct mview_changes ch = {0};
    struct storage_error e;
    int rc = (uid && n == 0) ? 0 : mview_expunge(s->sel->v, uid ? uids : NULL, n, &ch, &e);
    free(uids);
    if (rc < 0) {
        imapd_sess_reply_storage(s, tag, "EXPUNGE", &e);
        return;
    }
    mview_changes_free(&ch);
    imapd_sel_sync(s, 1);
    imapd_reply(s->c, tag, "OK Expunge completed.");
}
