/*
 * cmd_folder.c - the mail worker's LIST LSUB CREATE DELETE RENAME SUBSCRIBE
 * UNSUBSCRIBE NAMESPACE STATUS ENABLE GETQUOTA GETQUOTAROOT commands (see
 * mailsess.h).
 *
 * Owns: the one namespace (prefix "", separator "." as Dovecot shows a
 * Maildir++ store, INBOX its root), LIST patterns ("*", "%", INBOX in any
 * case) and LIST-EXTENDED (RFC 5258: selection SUBSCRIBED, RECURSIVEMATCH,
 * SPECIAL-USE; return SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS of RFC
 * 5819), the attributes Dovecot gives (\HasChildren / \HasNoChildren
 * always, \Noselect for a name that only is a parent, special-use by
 * name), STATUS items (RFC 9051, HIGHESTMODSEQ of RFC 7162, SIZE of RFC
 * 8438), ENABLE (RFC 5161), and the Maildir++ quota as the QUOTA extension
 * shows it (RFC 9208: STORAGE in KiB, MESSAGE).
 */
#include "imapd/selected.h"

#include "lib-imap/imap_quote.h"
#include "lib-imap/imap_utf7.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SEP '.'
#define PATTERN_MAX 1024
#define LIST_PATTERNS_MAX 64

/* ------------------------------------------------------------------ */
/* patterns                                                            */

/* name matches pattern ("*" anything, "%" anything but the separator). O(n*m). */
static int pattern_match(const char *pat, const char *name)
{
    size_t n = strlen(name);
    unsigned char row[4 * MSTORE_NAME_MAX + 2], next[4 * MSTORE_NAME_MAX + 2];
    if (n + 1 > sizeof(row))
        return 0;
    memset(row, 0, n + 1);
    row[0] = 1;
    for (const char *p = pat; *p; p++) {
        memset(next, 0, n + 1);
        if (*p == '*' || *p == '%') {
            int on = 0;
            for (size_t i = 0; i <= n; i++) {
                if (i > 0 && *p == '%' && name[i - 1] == SEP)
                    on = 0;              /* "%" does not cross a separator */
                if (row[i])
                    on = 1;
                next[i] = (unsigned char)on;
            }
        } else {
            for (size_t i = 0; i < n; i++)
                if (row[i] && name[i] == *p)
                    next[i + 1] = 1;
        }
        memcpy(row, next, n + 1);
    }
    return row[n];
}

/* ref + pattern, with an INBOX prefix in any case made "INBOX". */
static int full_pattern(const char *ref, const char *pat, char *out, size_t outlen)
{
    size_t rl = strlen(ref), pl = strlen(pat);
    if (rl + pl + 1 > outlen)
        return -1;
    if (pl && pat[0] == SEP && rl && ref[rl - 1] == SEP)
        rl--;
    memcpy(out, ref, rl);
    memcpy(out + rl, pat, pl + 1);
    if (strncasecmp(out, "INBOX", 5) == 0 && (out[5] == '\0' || out[5] == SEP))
        memcpy(out, "INBOX", 5);
    return 0;
}

/* The wire form of a storage name (mUTF-7 stays, UTF-8 when enabled). */
static void wire_name(const struct msession *s, const char *name, char *out, size_t outlen)
{
    str_copy(out, name, outlen);
    if (!(s->enabled & MS_ENABLED_UTF8))
        return;
    struct buf b;
    buf_init(&b, outlen);
    if (imap_utf7_to_utf8(name, strlen(name), &b) == 0 && b.len < outlen)
        str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* STATUS items                                                        */

#define ST_MESSAGES 0x01
#define ST_RECENT 0x02
#define ST_UIDNEXT 0x04
#define ST_UIDVALIDITY 0x08
#define ST_UNSEEN 0x10
#define ST_HIGHESTMODSEQ 0x20
#define ST_SIZE 0x40
#define ST_DELETED 0x80

static const struct {
    const char *name;
    unsigned bit;
} status_items[] = {
    {"MESSAGES", ST_MESSAGES}, {"RECENT", ST_RECENT},   {"UIDNEXT", ST_UIDNEXT},
    {"UIDVALIDITY", ST_UIDVALIDITY}, {"UNSEEN", ST_UNSEEN}, {"HIGHESTMODSEQ", ST_HIGHESTMODSEQ},
    {"SIZE", ST_SIZE},         {"DELETED", ST_DELETED},
};

/* The items as asked, in order (bits[] of count *n). */
static int parse_status_items(const struct imap_arg *a, unsigned *order, size_t *n, unsigned *all,
                              const char **bad)
{
    const struct imap_arg *l;
    *n = 0;
    *all = 0;
    if (!imap_arg_list(a, &l) || imap_arg_is_eol(l))
        return -1;
    for (; !imap_arg_is_eol(l); l++) {
        const char *it;
        if (!imap_arg_atom(l, &it))
            return -1;
        size_t k = 0;
        while (k < ARRAY_LEN(status_items) && strcasecmp(it, status_items[k].name) != 0)
            k++;
        if (k == ARRAY_LEN(status_items)) {
            *bad = it;
            return -1;
        }
        if (!(*all & status_items[k].bit) && *n < ARRAY_LEN(status_items))
            order[(*n)++] = (unsigned)k;
        *all |= status_items[k].bit;
    }
    return 0;
}

static int status_get(struct msession *s, const char *name, struct mstatus *st,
                      struct storage_error *e)
{
    if (mstore_status(s->st, name, st, e) < 0)
        return -1;
    if (s->sel && strcmp(s->sel->name, name) == 0)
        st->recent = imapd_sel_nrecent(s);   /* ours, as Dovecot counts them for the session */
    return 0;
}

static void write_status(struct msession *s, const char *name, const struct mstatus *st,
                         const unsigned *order, size_t n)
{
    struct buf *o = conn_out(s->c);
    buf_puts(o, "* STATUS ");
    imapd_sess_write_mailbox(s, o, name);
    buf_puts(o, " (");
    for (size_t i = 0; i < n; i++) {
        unsigned long long v = 0;
        switch (status_items[order[i]].bit) {
        case ST_MESSAGES: v = st->messages; break;
        case ST_RECENT: v = st->recent; break;
        case ST_UIDNEXT: v = st->uidnext; break;
        case ST_UIDVALIDITY: v = st->uidvalidity; break;
        case ST_UNSEEN: v = st->unseen; break;
        case ST_HIGHESTMODSEQ: v = st->highest_modseq; break;
        case ST_SIZE: v = st->size; break;
        case ST_DELETED: v = st->deleted; break;
        }
        buf_printf(o, "%s%s %llu", i ? " " : "", status_items[order[i]].name, v);
    }
    buf_puts(o, ")\r\n");
}

void imapd_cmd_status(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    char name[MSTORE_NAME_MAX + 1];
    unsigned order[ARRAY_LEN(status_items)], all;
    size_t n;
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    const char *bad = NULL;
    if (parse_status_items(&args[1], order, &n, &all, &bad) < 0 || !imap_arg_is_eol(&args[2])) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command STATUS: %s%s",
                    bad ? "Invalid status item " : "Status items must be a list", bad ? bad : "");
        return;
    }
    struct mstatus st;
    struct storage_error e;
    if (status_get(s, name, &st, &e) < 0) {
        if (e.err == ENOENT)
            imapd_reply(s->c, tag, "NO Mailbox doesn't exist: %s", args[0].str);
        else
            imapd_sess_reply_storage(s, tag, args[0].str, &e);
        return;
    }
    if (all & ST_HIGHESTMODSEQ)
        s->enabled |= MS_ENABLED_CONDSTORE;
    write_status(s, name, &st, order, n);
    imapd_reply(s->c, tag, "OK Status completed.");
}

/* ------------------------------------------------------------------ */
/* LIST                                                                */

#define SEL_SUBSCRIBED 0x1
#define SEL_RECURSIVE 0x2
#define SEL_SPECIAL 0x4
#define RET_SUBSCRIBED 0x10
#define RET_CHILDREN 0x20
#define RET_SPECIAL 0x40
#define RET_STATUS 0x80

struct list_req {
    unsigned opts;
    char pats[LIST_PATTERNS_MAX][PATTERN_MAX];
    size_t npats;
    unsigned st_order[ARRAY_LEN(status_items)], st_all;
    size_t st_n;
    int lsub;
};

static int parse_selection(const struct imap_arg *a, struct list_req *r)
{
    const struct imap_arg *l;
    if (!imap_arg_list(a, &l))
        return 0;
    for (; !imap_arg_is_eol(l); l++) {
        const char *o;
        if (!imap_arg_atom(l, &o))
            return -1;
        if (strcasecmp(o, "SUBSCRIBED") == 0)
            r->opts |= SEL_SUBSCRIBED | RET_SUBSCRIBED;
        else if (strcasecmp(o, "RECURSIVEMATCH") == 0)
            r->opts |= SEL_RECURSIVE;
        else if (strcasecmp(o, "SPECIAL-USE") == 0)
            r->opts |= SEL_SPECIAL | RET_SPECIAL;
        else if (strcasecmp(o, "REMOTE") != 0)
            return -1;
    }
    if ((r->opts & SEL_RECURSIVE) && !(r->opts & (SEL_SUBSCRIBED | SEL_SPECIAL)))
        return -1;
    return 1;
}

static int parse_return(const struct imap_arg *a, struct list_req *r)
{
    const struct imap_arg *l;
    if (!imap_arg_list(a, &l))
        return -1;
    for (; !imap_arg_is_eol(l); l++) {
        const char *o;
        if (!imap_arg_atom(l, &o))
            return -1;
        if (strcasecmp(o, "SUBSCRIBED") == 0)
            r->opts |= RET_SUBSCRIBED;
        else if (strcasecmp(o, "CHILDREN") == 0)
            r->opts |= RET_CHILDREN;
        else if (strcasecmp(o, "SPECIAL-USE") == 0)
            r->opts |= RET_SPECIAL;
        else if (strcasecmp(o, "STATUS") == 0) {
            r->opts |= RET_STATUS;
            const char *bad;
            if (parse_status_items(++l, r->st_order, &r->st_n, &r->st_all, &bad) < 0)
                return -1;
        } else
            return -1;
    }
    return 0;
}

static int add_pattern(struct msession *s, struct list_req *r, const char *ref,
                       const struct imap_arg *a)
{
    const char *p;
    if (!imap_arg_astring(a, &p, NULL) || r->npats == LIST_PATTERNS_MAX)
        return -1;
    char tmp[PATTERN_MAX];
    if (full_pattern(ref, p, tmp, sizeof(tmp)) < 0)
        return -1;
    (void)s;
    str_copy(r->pats[r->npats++], tmp, PATTERN_MAX);
    return 0;
}

static int parse_list(struct msession *s, const struct imap_arg *a, struct list_req *r)
{
    int sel = parse_selection(a, r);
    if (sel < 0)
        return -1;
    a += sel;
    const char *ref;
    const struct imap_arg *l;
    if (!imap_arg_astring(&a[0], &ref, NULL))
        return -1;
    if (imap_arg_list(&a[1], &l)) {
        for (; !imap_arg_is_eol(l); l++)
            if (add_pattern(s, r, ref, l) < 0)
                return -1;
        if (r->npats == 0)
            return -1;
    } else if (add_pattern(s, r, ref, &a[1]) < 0) {
        return -1;
    }
    a += 2;
    if (imap_arg_is_eol(a))
        return 0;
    const char *kw;
    if (!imap_arg_atom(a, &kw) || strcasecmp(kw, "RETURN") != 0 || parse_return(&a[1], r) < 0 ||
        !imap_arg_is_eol(&a[2]))
        return -1;
    return 0;
}

static int any_match(const struct list_req *r, const char *wire)
{
    for (size_t i = 0; i < r->npats; i++)
        if (pattern_match(r->pats[i], wire))
            return 1;
    return 0;
}

static int is_subscribed(char **subs, size_t nsubs, const char *name)
{
    for (size_t i = 0; i < nsubs; i++)
        if (strcmp(subs[i], name) == 0)
            return 1;
    return 0;
}

/*
 * RECURSIVEMATCH's CHILDINFO (RFC 5258 3.5): a subscribed descendant of
 * name that the patterns do not list itself.
 */
static int childinfo_subscribed(struct msession *s, const struct list_req *r, char **subs,
                                size_t nsubs, const char *name)
{
    size_t len = strlen(name);
    char wire[4 * MSTORE_NAME_MAX + 2];
    for (size_t i = 0; i < nsubs; i++) {
        if (strncmp(subs[i], name, len) != 0 || subs[i][len] != SEP)
            continue;
        wire_name(s, subs[i], wire, sizeof(wire));
        if (!any_match(r, wire))
            return 1;
    }
    return 0;
}

static void list_line(struct msession *s, const struct list_req *r, const char *name,
                      unsigned attrs, int nonexistent, int childinfo)
{
    struct buf *o = conn_out(s->c);
    buf_printf(o, "* %s (", r->lsub ? "LSUB" : "LIST");
    const char *sp = "";
#define ATTR(t) do { buf_puts(o, sp); buf_puts(o, t); sp = " "; } while (0)
    if (nonexistent)
        ATTR("\\NonExistent");
    else if (attrs & MFOLDER_NOSELECT)
        ATTR("\\Noselect");
    if ((attrs & MFOLDER_SUBSCRIBED) && (r->opts & RET_SUBSCRIBED))
        ATTR("\\Subscribed");
    if (!r->lsub && !nonexistent)
        ATTR(attrs & MFOLDER_CHILDREN ? "\\HasChildren" : "\\HasNoChildren");
    if (!r->lsub) {
        static const struct { unsigned bit; const char *n; } su[] = {
            {MFOLDER_SENT, "\\Sent"}, {MFOLDER_DRAFTS, "\\Drafts"}, {MFOLDER_TRASH, "\\Trash"},
            {MFOLDER_JUNK, "\\Junk"}, {MFOLDER_ARCHIVE, "\\Archive"},
        };
        for (size_t i = 0; i < ARRAY_LEN(su); i++)
            if (attrs & su[i].bit)
                ATTR(su[i].n);
    }
#undef ATTR
    buf_printf(o, ") \"%c\" ", SEP);
    imapd_sess_write_mailbox(s, o, name);
    if (childinfo)
        buf_puts(o, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
    buf_puts(o, "\r\n");
    if ((r->opts & RET_STATUS) && !nonexistent && !(attrs & MFOLDER_NOSELECT)) {
        struct mstatus st;
        struct storage_error e;
        if (status_get(s, name, &st, &e) == 0)
            write_status(s, name, &st, r->st_order, r->st_n);
    }
}

/* Subscribed names that are no folder (SUBSCRIBED selection: \NonExistent). */
static void list_missing_subscribed(struct msession *s, const struct list_req *r, char **subs,
                                    size_t nsubs, const struct mfolder *f, size_t nf)
{
    for (size_t i = 0; i < nsubs; i++) {
        size_t k = 0;
        while (k < nf && strcmp(f[k].name, subs[i]) != 0)
            k++;
        char wire[4 * MSTORE_NAME_MAX + 2];
        wire_name(s, subs[i], wire, sizeof(wire));
        if (k == nf && any_match(r, wire))
            list_line(s, r, subs[i], MFOLDER_SUBSCRIBED, 1, 0);
    }
}

static void do_list(struct msession *s, const char *tag, struct list_req *r)
{
    struct mfolder *f;
    size_t nf;
    char **subs = NULL;
    size_t nsubs = 0;
    struct storage_error e;
    if (mstore_list(s->st, &f, &nf, &e) < 0) {
        imapd_sess_reply_storage(s, tag, "LIST", &e);
        return;
    }
    if (r->opts & (RET_SUBSCRIBED | SEL_SUBSCRIBED))
        mstore_subscriptions(s->st, &subs, &nsubs, &e);
    for (size_t i = 0; i < nf; i++) {
        char wire[4 * MSTORE_NAME_MAX + 2];
        wire_name(s, f[i].name, wire, sizeof(wire));
        if (is_subscribed(subs, nsubs, f[i].name))
            f[i].attrs |= MFOLDER_SUBSCRIBED;
        int childinfo = 0;
        if ((r->opts & SEL_SUBSCRIBED) && !(f[i].attrs & MFOLDER_SUBSCRIBED)) {
            /* RECURSIVEMATCH: a parent of subscribed names, with CHILDINFO */
            childinfo = (r->opts & SEL_RECURSIVE) &&
                        childinfo_subscribed(s, r, subs, nsubs, f[i].name);
            if (!childinfo)
                continue;
        }
        if ((r->opts & SEL_SPECIAL) && !(f[i].attrs & 0xff))
            continue;
        if (!any_match(r, wire))
            continue;
        list_line(s, r, f[i].name, f[i].attrs, 0, childinfo);
        imapd_sess_out_drain(s);
    }
    if (r->opts & SEL_SUBSCRIBED)
        list_missing_subscribed(s, r, subs, nsubs, f, nf);
    mstore_strv_free(subs, nsubs);
    free(f);
    imapd_reply(s->c, tag, "OK List completed.");
}

/* Already sent in this LSUB (names are few: a linear look is fine). */
static int seen_name(char **sent, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(sent[i], name) == 0)
            return 1;
    return 0;
}

/*
 * LSUB: the subscribed names that match, and the parents of subscribed
 * names that match when the child does not ("%"), as \Noselect (RFC 3501).
 */
static void do_lsub(struct msession *s, const char *tag, struct list_req *r)
{
    char **subs = NULL;
    size_t nsubs = 0, nsent = 0;
    struct storage_error e;
    if (mstore_subscriptions(s->st, &subs, &nsubs, &e) < 0) {
        imapd_sess_reply_storage(s, tag, "LSUB", &e);
        return;
    }
    char **sent = xcalloc(nsubs + 1, sizeof(*sent));
    char wire[4 * MSTORE_NAME_MAX + 2];
    for (size_t i = 0; i < nsubs; i++) {
        wire_name(s, subs[i], wire, sizeof(wire));
        if (any_match(r, wire)) {
            list_line(s, r, subs[i], 0, 0, 0);
            continue;
        }
        char parent[MSTORE_NAME_MAX + 1];
        str_copy(parent, subs[i], sizeof(parent));
        for (char *dot = strrchr(parent, SEP); dot; dot = strrchr(parent, SEP)) {
            *dot = '\0';
            wire_name(s, parent, wire, sizeof(wire));
            if (is_subscribed(subs, nsubs, parent) || seen_name(sent, nsent, parent) ||
                !any_match(r, wire))
                continue;
            list_line(s, r, parent, MFOLDER_NOSELECT, 0, 0);
            sent[nsent++] = xstrdup(parent);
            break;
        }
    }
    for (size_t i = 0; i < nsent; i++)
        free(sent[i]);
    free(sent);
    mstore_strv_free(subs, nsubs);
    imapd_reply(s->c, tag, "OK Lsub completed.");
}

static void list_or_lsub(struct msession *s, const char *tag, const struct imap_arg *args,
                         int lsub)
{
    if (imapd_sess_no_store(s, tag))
        return;
    struct list_req *r = xcalloc(1, sizeof(*r));
    r->lsub = lsub;
    int bad = lsub ? (parse_selection(args, r) != 0) : 0;
    if (!bad)
        bad = parse_list(s, args, r) < 0;
    if (bad) {
        imapd_reply(s->c, tag, "BAD Invalid %s arguments.", lsub ? "LSUB" : "LIST");
        free(r);
        return;
    }
    if (r->npats == 1 && r->pats[0][0] == '\0' && !lsub) {
        /* the hierarchy separator and the root */
        imapd_reply(s->c, NULL, "LIST (\\Noselect) \"%c\" \"\"", SEP);
        imapd_reply(s->c, tag, "OK List completed.");
    } else if (lsub) {
        do_lsub(s, tag, r);
    } else {
        do_list(s, tag, r);
    }
    free(r);
}

void imapd_cmd_list(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    list_or_lsub(s, tag, args, 0);
}

void imapd_cmd_lsub(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    list_or_lsub(s, tag, args, 1);
}

/* ------------------------------------------------------------------ */
/* CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE                          */

/* A mailbox argument for CREATE: a trailing separator is dropped. */
static int create_name(struct msession *s, const char *tag, const struct imap_arg *a, char *out,
                       size_t outlen)
{
    struct imap_arg copy = *a;
    char tmp[4 * MSTORE_NAME_MAX + 2];
    if ((a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL) &&
        a->len > 1 && a->len < sizeof(tmp) && a->str[a->len - 1] == SEP) {
        memcpy(tmp, a->str, a->len - 1);
        tmp[a->len - 1] = '\0';
        copy.str = tmp;
        copy.len = a->len - 1;
    }
    return imapd_sess_mailbox_arg(s, tag, &copy, out, outlen);
}

void imapd_cmd_create(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    char name[MSTORE_NAME_MAX + 1];
    if (create_name(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    struct storage_error e;
    if (mstore_create(s->st, name, &e) < 0) {
        imapd_sess_reply_storage(s, tag, args[0].str, &e);
        return;
    }
    imapd_reply(s->c, tag, "OK Create completed.");
}

void imapd_cmd_delete(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    char name[MSTORE_NAME_MAX + 1];
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    if (strcmp(name, "INBOX") == 0) {
        imapd_reply(s->c, tag, "NO INBOX can't be deleted.");
        return;
    }
    if (s->sel && strcmp(s->sel->name, name) == 0) {
        imapd_sel_close(s);
        imapd_reply(s->c, NULL, "OK [CLOSED] Previous mailbox closed.");
    }
    struct storage_error e;
    if (mstore_delete(s->st, name, &e) < 0) {
        imapd_sess_reply_storage(s, tag, args[0].str, &e);
        return;
    }
    imapd_reply(s->c, tag, "OK Delete completed.");
}

/* name is a folder (a \\Noselect parent counts: it has children to move). */
static int folder_exists(struct msession *s, const char *name)
{
    struct mfolder *f;
    size_t n;
    struct storage_error e;
    if (mstore_list(s->st, &f, &n, &e) < 0)
        return 1;                      /* let the rename say what is wrong */
    int found = 0;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(f[i].name, name) == 0;
    free(f);
    return found;
}

void imapd_cmd_rename(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    char from[MSTORE_NAME_MAX + 1], to[MSTORE_NAME_MAX + 1];
    if (imapd_sess_mailbox_arg(s, tag, &args[0], from, sizeof(from)) < 0 ||
        create_name(s, tag, &args[1], to, sizeof(to)) < 0)
        return;
    if (strcmp(from, "INBOX") == 0) {
        imapd_reply(s->c, tag, "NO [CANNOT] Renaming INBOX isn't supported.");
        return;
    }
    if (strcmp(to, "INBOX") == 0) {
        imapd_reply(s->c, tag, "NO [ALREADYEXISTS] Mailbox already exists");
        return;
    }
    struct storage_error e;
    if (!folder_exists(s, from)) {
        imapd_reply(s->c, tag, "NO [NONEXISTENT] Mailbox doesn't exist: %s", args[0].str);
        return;
    }
    if (mstore_rename(s->st, from, to, &e) < 0) {
        if (e.err == EINVAL)
            imapd_reply(s->c, tag, "NO Can't rename mailbox under its own child.");
        else if (e.err == EEXIST)
            imapd_reply(s->c, tag, "NO [ALREADYEXISTS] Target mailbox already exists");
        else
            imapd_sess_reply_storage(s, tag, args[0].str, &e);
        return;
    }
    imapd_reply(s->c, tag, "OK Rename completed.");
}

static void subscribe(struct msession *s, const char *tag, const struct imap_arg *args, int on)
{
    char name[MSTORE_NAME_MAX + 1];
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    struct storage_error e;
    if (on && !folder_exists(s, name)) {
        imapd_reply(s->c, tag, "NO Mailbox doesn't exist: %s", args[0].str);
        return;
    }
    if (mstore_subscribe(s->st, name, on, &e) < 0) {
        imapd_sess_reply_storage(s, tag, args[0].str, &e);
        return;
    }
    imapd_reply(s->c, tag, "OK %s completed.", on ? "Subscribe" : "Unsubscribe");
}

void imapd_cmd_subscribe(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    subscribe(s, tag, args, 1);
}

void imapd_cmd_unsubscribe(struct msession *s, const char *tag, const struct imap_arg *args,
                           int uid)
{
    (void)uid;
    subscribe(s, tag, args, 0);
}

/* ------------------------------------------------------------------ */
/* NAMESPACE ENABLE QUOTA                                              */

void imapd_cmd_namespace(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    (void)args;
    imapd_reply(s->c, NULL, "NAMESPACE ((\"\" \"%c\")) NIL NIL", SEP);
    imapd_reply(s->c, tag, "OK Namespace completed.");
}

void imapd_cmd_enable(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    if (imap_arg_is_eol(&args[0])) {
        imapd_reply(s->c, tag, "BAD Missing arguments.");
        return;
    }
    char line[256] = "";
    size_t len = 0;
    for (const struct imap_arg *a = args; !imap_arg_is_eol(a); a++) {
        const char *ext;
        if (!imap_arg_atom(a, &ext)) {
            imapd_reply(s->c, tag, "BAD Invalid arguments.");
            return;
        }
        unsigned bit = strcasecmp(ext, "CONDSTORE") == 0     ? MS_ENABLED_CONDSTORE
                       : strcasecmp(ext, "QRESYNC") == 0     ? MS_ENABLED_QRESYNC
                       : strcasecmp(ext, "UTF8=ACCEPT") == 0 ? MS_ENABLED_UTF8
                                                             : 0;
        if (!bit || (s->enabled & bit))
            continue;
        s->enabled |= bit;
        if (bit == MS_ENABLED_QRESYNC)
            s->enabled |= MS_ENABLED_CONDSTORE;
        for (const char *p = ext; *p && len + 2 < sizeof(line); p++)
            line[len++] = (char)toupper((unsigned char)*p);
        line[len++] = ' ';
        line[len] = '\0';
    }
    if (len)
        line[len - 1] = '\0';
    imapd_reply(s->c, NULL, "ENABLED%s%s", len ? " " : "", line);
    imapd_reply(s->c, tag, "OK Enabled.");
}

#define QUOTA_ROOT "User quota"

static void send_quota(struct msession *s)
{
    struct mquota q;
    if (mstore_quota(s->st, &q) < 0) {
        imapd_reply(s->c, NULL, "QUOTA \"%s\" ()", QUOTA_ROOT);
        return;
    }
    char items[128] = "";
    size_t len = 0;
    if (q.limit_bytes > 0)
        len += (size_t)snprintf(items, sizeof(items), "STORAGE %lld %lld",
                                (q.bytes + 1023) / 1024, q.limit_bytes / 1024);   /* as Dovecot */
    if (q.limit_count > 0)
        snprintf(items + len, sizeof(items) - len, "%sMESSAGE %lld %lld", len ? " " : "",
                 q.count, q.limit_count);
    imapd_reply(s->c, NULL, "QUOTA \"%s\" (%s)", QUOTA_ROOT, items);
}

void imapd_cmd_getquotaroot(struct msession *s, const char *tag, const struct imap_arg *args,
                            int uid)
{
    (void)uid;
    char name[MSTORE_NAME_MAX + 1];
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0)
        return;
    struct buf *o = conn_out(s->c);
    buf_puts(o, "* QUOTAROOT ");
    imapd_sess_write_mailbox(s, o, name);
    buf_puts(o, " \"" QUOTA_ROOT "\"\r\n");
    send_quota(s);
    imapd_reply(s->c, tag, "OK Getquotaroot completed.");
}

void imapd_cmd_getquota(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    const char *root;
    if (!imap_arg_astring(&args[0], &root, NULL)) {
        imapd_reply(s->c, tag, "BAD Invalid arguments.");
        return;
    }
    if (imapd_sess_no_store(s, tag))
        return;
    if (strcmp(root, QUOTA_ROOT) != 0) {
        imapd_reply(s->c, tag, "NO Quota root doesn't exist.");
        return;
    }
    send_quota(s);
    imapd_reply(s->c, tag, "OK Getquota completed.");
}
