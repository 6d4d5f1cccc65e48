/*
 * cmd_copy.c - the mail worker's COPY, MOVE and APPEND commands (see
 * mailsess.h).
 *
 * Owns: COPY / UID COPY with [COPYUID] (RFC 4315), MOVE / UID MOVE (RFC
 * 6851: the untagged OK [COPYUID] and the EXPUNGEs), [TRYCREATE] when the
 * target does not exist; APPEND with flags, INTERNALDATE and MULTIAPPEND
 * (RFC 3502), [APPENDUID], EXISTS when the target is selected.
 *
 * APPEND's message literals are streamed (the parser runs in stream
 * mode): when the parser stops at a literal of an APPEND, the target is
 * opened and a save begun, the literal's bytes go from the connection
 * straight to storage_save_write() (imapd_cmd_append_input), and the
 * command's handler, called once the whole command has been read,
 * finishes the saves and assigns UIDs. Memory stays at the connection's
 * input buffer whatever the message's size; a message may be at most
 * APPEND_SIZE_MAX bytes. Errors found while streaming (a bad flag, a
 * storage failure) are remembered and answered by the handler; a target
 * that does not exist refuses the literal at once (NO [TRYCREATE]).
 */
#include "imapd/mailsess.h"
#include "imapd/msgtext.h"

#include "lib-imap/imap_utf7.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Dovecot's quota_exceeded_message */
#define QUOTA_TEXT "Quota exceeded (mailbox for user is full)"

/* Largest APPEND message (Dovecot has no limit by default; we want one). */
#define APPEND_SIZE_MAX (256ULL * 1024 * 1024)
#define UIDSET_TEXT_MAX (8u * 1024 * 1024)

/* ---- COPY / MOVE ---- */

static int is_selected(const struct msession *s, const char *name)
{
    return s->sel && strcmp(s->sel->name, name) == 0;
}

/*
 * The view of name (the selected one's when it is selected, unless a view
 * of its own is wanted: MOVE within the selected mailbox); NULL after replying.
 */
static struct mview *target_view(struct msession *s, const char *tag, const char *name,
                                 int *own, int separate)
{
    *own = 0;
    if (is_selected(s, name) && !separate)
        return s->sel->v;
    struct storage_error e;
    struct mview *v = mview_open(s->st, name, &e);
    if (!v && e.err == ENOENT)
        imapd_reply(s->c, tag, "NO [TRYCREATE] Mailbox doesn't exist: %s", name);
    else if (!v)
        imapd_sess_reply_storage(s, tag, name, &e);
    *own = v != NULL;
    return v;
}

/* "uidvalidity src dst" of the pairs that were copied; returns how many. */
static size_t write_copyuid(struct buf *b, struct mview *dst, const uint32_t *uids,
                            const uint32_t *newuids, size_t n)
{
    uint32_t *src = xmalloc((n ? n : 1) * sizeof(uint32_t));
    uint32_t *dstu = xmalloc((n ? n : 1) * sizeof(uint32_t));
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (newuids[i]) {
            src[k] = uids[i];
            dstu[k++] = newuids[i];
        }
    buf_printf(b, "%u ", mview_uidvalidity(dst));
    imap_seqset_write_nums(b, src, k);
    buf_putc(b, ' ');
    imap_seqset_write_nums(b, dstu, k);
    free(src);
    free(dstu);
    return k;
}

static void copy_done(struct msession *s, const char *tag, struct mview *dst, const uint32_t *uids,
                      const uint32_t *newuids, size_t n, int move)
{
    struct buf set;
    buf_init(&set, UIDSET_TEXT_MAX);
    size_t k = write_copyuid(&set, dst, uids, newuids, n);
    if (k == 0) {
        imapd_sel_sync(s, 1);
        imapd_reply(s->c, tag, "OK No messages found.");
    } else if (move) {
        imapd_reply(s->c, NULL, "OK [COPYUID %s] Moved UIDs.", buf_cstr(&set));
        imapd_sel_sync(s, 1);
        imapd_reply(s->c, tag, "OK Move completed.");
    } else {
        imapd_sel_sync(s, 1);
        imapd_reply(s->c, tag, "OK [COPYUID %s] Copy completed.", buf_cstr(&set));
    }
    buf_free(&set);
}

/* Would n more messages of size bytes in folder go over the user's quota? */
static int imapd_over_quota(struct msession *s, const char *folder, long long size, long long n)
{
    struct mquota q;
    if (n <= 0 || mstore_quota(s->st, &q) < 0)
        return 0;
    const struct mquota_rules *r = mstore_quota_rules(s->st);
    /* the last message is checked the way one delivery is: all but it first */
    q.count += n - 1;
    return mquota_over(&q, r ? r : mquota_default(), folder, size);
}

/* The bytes of the UIDs in the selected folder's view. */
static long long uids_size(struct msession *s, const uint32_t *uids, size_t n, long long *count)
{
    long long sum = 0;
    *count = 0;
    size_t nm;
    const struct mmsg *m = mview_msgs(s->sel->v, &nm);
    for (size_t i = 0; i < n; i++) {
        long k = mview_find(s->sel->v, uids[i]);
        if (k >= 0 && (size_t)k < nm) {
            sum += (long long)m[k].size;
            (*count)++;
        }
    }
    return sum;
}

/* COPY (and MOVE out of a folder the quota does not count) over the quota: answered NO. */
static int copy_over_quota(struct msession *s, const char *tag, const char *name,
                           const uint32_t *uids, size_t n, int move)
{
    const struct mquota_rules *r = mstore_quota_rules(s->st);
    if (!r)
        r = mquota_default();
    if (move && !mquota_ignored(r, s->sel->name))
        return 0;                      /* moved within the quota: no change */
    long long count;
    long long size = uids_size(s, uids, n, &count);
    if (!imapd_over_quota(s, name, size, count))
        return 0;
    imapd_reply(s->c, tag, "NO [OVERQUOTA] %s", QUOTA_TEXT);
    return 1;
}

static void copy_or_move(struct msession *s, const char *tag, const struct imap_arg *args,
                         int uid, int move)
{
    const char *err = NULL;
    uint32_t *uids = NULL;
    size_t n = 0;
    char name[MSTORE_NAME_MAX + 1];
    if (imap_arg_is_eol(&args[0]) || imap_arg_is_eol(&args[1]) || !imap_arg_is_eol(&args[2])) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command %s: Invalid arguments.",
                    move ? "MOVE" : "COPY");
        return;
    }
    if (imapd_sel_uids(s, &args[0], uid, &uids, &n, &err) < 0) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command %s: %s", move ? "MOVE" : "COPY",
                    err ? err : "Invalid messageset");
        return;
    }
    if (imapd_sess_mailbox_arg(s, tag, &args[1], name, sizeof(name)) < 0) {
        free(uids);
        return;
    }
    int own = 0;
    struct mview *dst = NULL;
    if (move && s->sel->readonly)
        imapd_reply(s->c, tag, "NO [READ-ONLY] Mailbox is read-only.");
    else if (n == 0)
        imapd_reply(s->c, tag, "OK No messages found.");
    else if (!copy_over_quota(s, tag, name, uids, n, move))
        dst = target_view(s, tag, name, &own, move);
    if (dst) {
        uint32_t *newuids = xcalloc(n, sizeof(uint32_t));
        struct storage_error e;
        int rc = move ? mview_move(s->sel->v, uids, n, dst, newuids, &e)
                      : mview_copy(s->sel->v, uids, n, dst, newuids, &e);
        if (rc < 0)
            imapd_sess_reply_storage(s, tag, name, &e);
        else
            copy_done(s, tag, dst, uids, newuids, n, move);
        free(newuids);
        if (own)
            mview_close(dst);
    }
    free(uids);
}

void imapd_cmd_copy(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    copy_or_move(s, tag, args, uid, 0);
}

void imapd_cmd_move(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    copy_or_move(s, tag, args, uid, 1);
}

/* ---- APPEND: the optional arguments of one message ---- */

struct append_opts {
    unsigned flags;                        /* STORAGE_FLAG_* */
    const struct imap_arg *keywords[MSTORE_KEYWORDS + 1];
    size_t nkeywords;
    int64_t date;                          /* 0: now */
};

static int system_flag(const char *f, unsigned *bit)
{
    static const struct { const char *name; unsigned bit; } sys[] = {
        {"\\Answered", STORAGE_FLAG_ANSWERED}, {"\\Flagged", STORAGE_FLAG_FLAGGED},
        {"\\Deleted", STORAGE_FLAG_DELETED}, {"\\Seen", STORAGE_FLAG_SEEN},
        {"\\Draft", STORAGE_FLAG_DRAFT},
    };
    for (size_t i = 0; i < ARRAY_LEN(sys); i++)
        if (str_ieq(f, sys[i].name)) {
            *bit = sys[i].bit;
            return 1;
        }
    return 0;
}

static int parse_flags(const struct imap_arg *list, struct append_opts *o, const char **err)
{
    for (const struct imap_arg *a = list; !imap_arg_is_eol(a); a++) {
        const char *f;
        unsigned bit;
        if (!imap_arg_atom(a, &f) || !*f)
            return *err = "Invalid flags", -1;
        if (system_flag(f, &bit))
            o->flags |= bit;
        else if (f[0] == '\\')
            return *err = "Invalid system flag", -1;
        else if (o->nkeywords >= MSTORE_KEYWORDS)
            return *err = "Too many keywords", -1;
        else
            o->keywords[o->nkeywords++] = a;
    }
    return 0;
}

/*
 * The optional flag list and date-time at args[*i], before a message:
 * 0 with *i at the message, or -1 with *err.
 */
static int parse_opts(const struct imap_arg *args, size_t *i, struct append_opts *o,
                      const char **err)
{
    const struct imap_arg *l;
    memset(o, 0, sizeof(*o));
    if (imap_arg_list(&args[*i], &l)) {
        if (parse_flags(l, o, err) < 0)
            return -1;
        (*i)++;
    }
    if (args[*i].type == IMAP_ARG_QUOTED) {
        if (imapd_mt_imap_datetime(args[*i].str, args[*i].len, &o->date) < 0)
            return *err = "Invalid date-time", -1;
        (*i)++;
    }
    return 0;
}

static uint32_t keyword_bits(struct mview *v, const struct append_opts *o)
{
    uint32_t bits = 0;
    for (size_t i = 0; i < o->nkeywords; i++) {
        struct storage_error e;
        int b = mview_keyword_bit(v, o->keywords[i]->str, 1, &e);
        if (b >= 0)
            bits |= 1u << b;
    }
    return bits;
}

/* ---- APPEND: the state kept while its literals stream ---- */

struct append_msg {
    struct storage_save *save;             /* while its bytes come; NULL when done or failed */
    uint32_t keywords;
    uint32_t uid;                          /* once saved */
    int failed;
    struct storage_error err;
};

struct append_state {
    char name[MSTORE_NAME_MAX + 1];
    struct mview *v;                       /* the target, or NULL (decided by the handler) */
    int own_view;
    struct append_msg *msgs;
    size_t n, cap;
    uint64_t left;                         /* bytes of the current literal still to come */
};

static void append_state_free(struct append_state *a)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->msgs[i].save)
            storage_save_abort(a->msgs[i].save);
    if (a->own_view)
        mview_close(a->v);
    free(a->msgs);
    free(a);
}

void imapd_cmd_append_stop(struct msession *s)
{
    if (s->append)
        append_state_free(s->append);
    s->append = NULL;
}

/*
 * The storage name of a mailbox argument without replying, by the rules of
 * imapd_sess_mailbox_arg (selected.c), which the handler applies again and
 * answers by; -1 when it will refuse the name.
 */
static int quiet_mailbox_name(const struct msession *s, const struct imap_arg *a, char *out,
                              size_t outlen)
{
    const char *str;
    size_t len;
    if (!imap_arg_astring(a, &str, &len) || len == 0 || memchr(str, '\0', len))
        return -1;
    struct buf b;
    buf_init(&b, outlen);
    int ok;
    if (str_ieq(str, "INBOX"))
        ok = buf_puts(&b, "INBOX") == 0;
    else if (s->enabled & MS_ENABLED_UTF8)
        ok = imap_mailbox_utf8_valid(str, len) && imap_utf8_to_utf7(str, len, &b) == 0;
    else
        ok = imap_utf7_valid(str, len) && buf_append(&b, str, len) == 0;
    if (ok && b.len > 6 && strncasecmp(b.data, "INBOX.", 6) == 0)
        memcpy(b.data, "INBOX", 5);
    ok = ok && b.len < outlen && mstore_name_ok(buf_cstr(&b));
    if (ok)
        str_copy(out, buf_cstr(&b), outlen);
    buf_free(&b);
    return ok ? 0 : -1;
}

/*
 * The first message literal: find the target. ERROR (refused) when it does
 * not exist and the client waits for "+"; a non-synchronizing literal is
 * taken and dropped, and the handler answers.
 */
static enum imap_parse_result append_open(struct msession *s, const struct imap_arg *args,
                                          int sync)
{
    struct append_state *a = xcalloc(1, sizeof(*a));
    s->append = a;
    if (!s->st || quiet_mailbox_name(s, &args[0], a->name, sizeof(a->name)) < 0)
        return IMAP_PARSE_NEED;
    if (is_selected(s, a->name)) {
        a->v = s->sel->v;
        return IMAP_PARSE_NEED;
    }
    struct storage_error e;
    a->v = mview_open(s->st, a->name, &e);
    a->own_view = a->v != NULL;
    if (!a->v && e.err == ENOENT && sync) {
        char text[MSTORE_NAME_MAX + 64];
        str_fmt(text, sizeof(text), "Mailbox doesn't exist: %s", a->name);
        imapd_cmd_append_stop(s);
        return imap_parser_literal_refuse(s->p, "TRYCREATE", text);
    }
    return IMAP_PARSE_NEED;
}

/* Where this literal's optional arguments start: after the mailbox or the last message. */
static size_t opts_start(const struct imap_arg *args, size_t n)
{
    size_t start = 1;
    for (size_t i = 1; i < n; i++)
        if (args[i].type == IMAP_ARG_LITERAL)
            start = i + 1;
    return start;
}

static void append_begin_msg(struct append_state *a, const struct imap_arg *args, size_t nargs,
                             uint64_t size)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->msgs = xrealloc(a->msgs, a->cap * sizeof(*a->msgs));
    }
    struct append_msg *m = &a->msgs[a->n++];
    memset(m, 0, sizeof(*m));
    size_t i = opts_start(args, nargs);
    struct append_opts o;
    const char *err;
    if (!a->v || parse_opts(args, &i, &o, &err) < 0 || i != nargs) {
        m->failed = 1;                     /* the handler replies */
        return;
    }
    struct storage_save_opts so = {.flags = o.flags, .received = (time_t)o.date,
                                   .size = (long long)size};
    m->keywords = keyword_bits(a->v, &o);
    m->save = mview_append_begin(a->v, &so, &m->err);
    m->failed = m->save == NULL;
}

/*
 * A message's bytes are all there: make it durable and give it its UID
 * now (lib-storage saves one message of a folder at a time, so MULTIAPPEND
 * is not atomic: messages before a failing one stay).
 */
static void append_end_msg(struct append_state *a, struct append_msg *m)
{
    struct storage_save *sv = m->save;
    m->save = NULL;
    if (sv && mview_append_finish(a->v, sv, m->keywords, &m->uid, &m->err) < 0)
        m->failed = 1;
}

enum imap_parse_result imapd_cmd_append_literal(struct msession *s)
{
    const char *cmd = imap_parser_command(s->p);
    const struct imap_arg *args = imap_parser_args(s->p);
    size_t nargs = 0;
    while (!imap_arg_is_eol(&args[nargs]))
        nargs++;
    if (!cmd || !str_ieq(cmd, "APPEND") || nargs == 0)
        return imap_parser_literal_hold(s->p);   /* not a message: an ordinary literal */
    uint64_t size;
    int sync, lit8;
    imap_parser_literal(s->p, &size, &sync, &lit8);
    if (size > APPEND_SIZE_MAX) {
        imapd_cmd_append_stop(s);
        return imap_parser_literal_refuse(s->p, "TOOBIG", "Message too large.");
    }
    if (!s->append) {
        enum imap_parse_result r = append_open(s, args, sync);
        if (r != IMAP_PARSE_NEED)
            return r;
    }
    struct append_state *a = s->append;
    if (a->v && imapd_over_quota(s, a->name, (long long)size, 1)) {
        imapd_cmd_append_stop(s);
        return imap_parser_literal_refuse(s->p, "OVERQUOTA", QUOTA_TEXT);
    }
    append_begin_msg(a, args, nargs, size);
    a->left = size;
    if (size == 0) {
        append_end_msg(a, &a->msgs[a->n - 1]);
        imap_parser_literal_streamed(s->p);
    }
    return sync ? IMAP_PARSE_CONTINUE : IMAP_PARSE_NEED;
}

size_t imapd_cmd_append_input(struct msession *s, const char *data, size_t len)
{
    struct append_state *a = s->append;
    if (!a || a->left == 0)
        return 0;
    size_t take = len < a->left ? len : (size_t)a->left;
    struct append_msg *m = &a->msgs[a->n - 1];
    if (m->save && storage_save_write(m->save, data, take, &m->err) < 0) {
        storage_save_abort(m->save);
        m->save = NULL;
        m->failed = 1;
    }
    a->left -= take;
    if (a->left == 0) {
        append_end_msg(a, m);
        imap_parser_literal_streamed(s->p);
    }
    return take;
}

/* ---- APPEND: the handler ---- */

/* A message whose literal was held by the parser (stream mode off): save it now. */
static void append_held(struct append_state *a, const struct imap_arg *msg,
                        const struct append_opts *o)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->msgs = xrealloc(a->msgs, a->cap * sizeof(*a->msgs));
    }
    struct append_msg *m = &a->msgs[a->n++];
    memset(m, 0, sizeof(*m));
    struct storage_save_opts so = {.flags = o->flags, .received = (time_t)o->date,
                                   .size = (long long)msg->len};
    m->keywords = keyword_bits(a->v, o);
    m->save = mview_append_begin(a->v, &so, &m->err);
    if (m->save && storage_save_write(m->save, msg->str, msg->len, &m->err) < 0) {
        storage_save_abort(m->save);
        m->save = NULL;
    }
    m->failed = m->save == NULL;
    append_end_msg(a, m);
}

/* Every message saved: APPENDUID. Replies. */
static void append_reply(struct msession *s, const char *tag, struct append_state *a)
{
    uint32_t *uids = xcalloc(a->n ? a->n : 1, sizeof(uint32_t));
    for (size_t i = 0; i < a->n; i++) {
        struct append_msg *m = &a->msgs[i];
        if (m->failed && m->err.err == 0) {
            imapd_reply(s->c, tag, "NO [SERVERBUG] Append failed.");
            free(uids);
            return;
        }
        if (m->failed || !m->uid) {
            imapd_sess_reply_storage(s, tag, a->name, &m->err);
            free(uids);
            return;
        }
        uids[i] = m->uid;
    }
    if (s->sel && is_selected(s, a->name))
        imapd_sel_sync(s, 1);
    struct buf set;
    buf_init(&set, UIDSET_TEXT_MAX);
    imap_seqset_write_nums(&set, uids, a->n);
    imapd_reply(s->c, tag, "OK [APPENDUID %u %s] Append completed.", mview_uidvalidity(a->v),
                buf_cstr(&set));
    buf_free(&set);
    free(uids);
}

/* Check the arguments after the mailbox and collect the messages' keywords. */
static int append_walk(struct append_state *a, const struct imap_arg *args, const char **err)
{
    size_t i = 1, k = 0;
    do {
        struct append_opts o;
        if (parse_opts(args, &i, &o, err) < 0)
            return -1;
        const struct imap_arg *msg = &args[i];
        if (msg->type != IMAP_ARG_LITERAL && msg->type != IMAP_ARG_QUOTED)
            return *err = "Invalid arguments.", -1;
        if (!msg->streamed && a->v)
            append_held(a, msg, &o);
        if (k++ >= a->n)
            return *err = "Invalid arguments.", -1;
        i++;
    } while (!imap_arg_is_eol(&args[i]));
    return 0;
}

void imapd_cmd_append(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    char name[MSTORE_NAME_MAX + 1];
    const char *err = NULL;
    if (imap_arg_is_eol(&args[0]) || imap_arg_is_eol(&args[1])) {
        imapd_cmd_append_stop(s);
        imapd_reply(s->c, tag, "BAD Error in IMAP command APPEND: Invalid arguments.");
        return;
    }
    if (imapd_sess_mailbox_arg(s, tag, &args[0], name, sizeof(name)) < 0) {
        imapd_cmd_append_stop(s);
        return;
    }
    if (!s->append) {
        s->append = xcalloc(1, sizeof(struct append_state));
        str_copy(((struct append_state *)s->append)->name, name, sizeof(name));
    }
    struct append_state *a = s->append;
    int own = 0;
    if (!a->v || strcmp(a->name, name) != 0) {
        if (a->own_view)
            mview_close(a->v);
        a->own_view = 0;
        a->v = target_view(s, tag, name, &own, 0);
        a->own_view = own;
        str_copy(a->name, name, sizeof(a->name));
        if (!a->v) {
            imapd_cmd_append_stop(s);
            return;
        }
    }
    if (append_walk(a, args, &err) < 0)
        imapd_reply(s->c, tag, "BAD Error in IMAP command APPEND: %s", err);
    else
        append_reply(s, tag, a);
    imapd_cmd_append_stop(s);
}
