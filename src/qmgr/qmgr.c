/*
 * qmgr.c - the queue manager process.
 *
 * Owns: the message index (qid hash + four lists, see qmgr.h), the
 * qmgr socket, public/qmgr with Postfix's master.cf (writers' "N path off len qid" notifications,
 * `yubin queue` control requests "C verb arg", the master's "W" wakeup),
 * the start-up scan of the queue, the deferred queue's timer, the
 * periodic journal rescan that catches any notification that got lost,
 * and the idle hook that makes done marks durable in groups.
 */
#include "qmgr/qmgr_role.h"
#include "qmgr/qmgr.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib-route/resolve.h"
#include "lib-queue/queue_list.h"
#include "lib/util.h"
#include "lib-master/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLIENT_IN_MAX (256 * 1024)
#define QMGR_TICK_MS  1000
#define QMGR_GC_MS    (3600 * 1000)

/* ---- index ----------------------------------------------------------- */

static size_t qid_hash(const struct qmgr *q, const char *qid)
{
    uint32_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)qid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % q->nhash;
}

struct qmsg *qmgr_find(struct qmgr *q, const char *qid)
{
    for (struct qmsg *m = q->hash[qid_hash(q, qid)]; m; m = m->hnext)
        if (strcmp(m->qid, qid) == 0)
            return m;
    return NULL;
}

static void list_unlink(struct qmgr *q, struct qmsg *m)
{
    if (m->list == QL_NONE)
        return;
    if (m->prev)
        m->prev->next = m->next;
    else
        q->lists[m->list] = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        q->tails[m->list] = m->prev;
    q->counts[m->list]--;
    m->next = m->prev = NULL;
    m->list = QL_NONE;
}

/* Append at the tail so that lists keep arrival order (FIFO delivery). */
void qmgr_list_move(struct qmgr *q, struct qmsg *m, enum qlist to)
{
    list_unlink(q, m);
    m->list = to;
    m->next = NULL;
    m->prev = q->tails[to];
    if (m->prev)
        m->prev->next = m;
    else
        q->lists[to] = m;
    q->tails[to] = m;
    q->counts[to]++;
}

static void grow_hash(struct qmgr *q)
{
    size_t n = q->nhash * 2;
    struct qmsg **h = xcalloc(n, sizeof(*h));
    for (size_t i = 0; i < q->nhash; i++) {
        struct qmsg *m = q->hash[i];
        while (m) {
            struct qmsg *next = m->hnext;
            uint32_t hv = 2166136261u;
            for (const unsigned char *p = (const unsigned char *)m->qid; *p; p++)
                hv = (hv ^ *p) * 16777619u;
            m->hnext = h[hv % n];
            h[hv % n] = m;
            m = next;
        }
    }
    free(q->hash);
    q->hash = h;
    q->nhash = n;
}

static void expand_woken(void *arg);

struct qmsg *qmgr_add(struct qmgr *q, const struct qref *ref, const char *qid, int in_file,
                      enum qlist list)
{
    if (qmgr_find(q, qid))
        return NULL;
    if (q->nmsgs >= q->nhash)
        grow_hash(q);
    struct qmsg *m = xcalloc(1, sizeof(*m));
    table_wait_init(&m->tw, expand_woken, m);
    m->q = q;
    str_copy(m->qid, qid, sizeof(m->qid));
    m->ref = *ref;
    m->in_file = in_file;
    size_t h = qid_hash(q, qid);
    m->hnext = q->hash[h];
    q->hash[h] = m;
    q->nmsgs++;
    qmgr_list_move(q, m, list);
    return m;
}

void qmgr_forget(struct qmgr *q, struct qmsg *m)
{
    list_unlink(q, m);
    struct qmsg **pp = &q->hash[qid_hash(q, m->qid)];
    while (*pp && *pp != m)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = m->hnext;
    q->nmsgs--;
    table_wait_cancel(&m->tw);
    if (m->loaded)
        qenv_free(&m->env);
    free(m);
}

/* ---- activation ------------------------------------------------------------ */

/* A journal message that an access table put on HOLD goes to hold/ first. */
static int hold_on_arrival(struct qmgr *q, struct qmsg *m)
{
    const char *reason = qenv_attr(&m->env, "hold");
    if (!reason || m->in_file)
        return 0;
    struct qenvelope env;
    qenv_copy(&env, &m->env);
    qenv_set_attr(&env, "hold", NULL);
    struct qref newref;
    if (queue_copy_to_file(q->hold_dir, &env, &m->ref, &newref) < 0) {
        msg_warn("%s: cannot put message on hold: %s", m->qid, strerror(errno));
        qenv_free(&env);
        return 0;
    }
    qenv_free(&env);
    qmgr_mark_done(q, m, -1);
    /* reason points into the envelope that is freed here. */
    msg_info("%s: hold: %s", m->qid, *reason ? reason : "message held");
    qenv_free(&m->env);
    m->loaded = 0;
    m->ref = newref;
    m->in_file = 1;
    qmgr_list_move(q, m, QL_HOLD);
    return 1;
}

/*
 * Expand and route the recipients as one restartable step (table.h): when a
 * remote table must answer first, the units made so far are dropped and the
 * message is parked -- held like a job in flight, so nothing finishes or
 * frees it -- until expand_woken() runs the step again. Other messages are
 * delivered meanwhile.
 */
static void activate_expand(struct qmgr *q, struct qmsg *m)
{
    size_t before = m->ndlv;
    table_wait_begin(&m->tw);
    qmgr_expand_message(q, m);
    if (table_wait_end(&m->tw)) {
        while (m->ndlv > before)
            qmgr_dlv_free(&m->dlvs[--m->ndlv]);
        m->inflight++;
        return;
    }
    table_wait_done(&m->tw);
    for (size_t i = before; i < m->ndlv; i++)
        if (m->dlvs[i].state != DLV_PENDING)
            qmgr_finish_log_unit(q, m, &m->dlvs[i], NULL);
    qmgr_transport_submit(q, m);
}

static void expand_woken(void *arg)
{
    struct qmsg *m = arg;
    struct qmgr *q = m->q;
    INVARIANT(m->inflight > 0 && m->list == QL_ACTIVE);
    m->inflight--;
    if (m->deleted) {
        qmgr_finish_maybe(q, m);
        return;
    }
    activate_expand(q, m);
}

int qmgr_activate(struct qmgr *q, struct qmsg *m)
{
    /* A notification can arrive after a scan found and finished the record. */
    if (!m->in_file && queue_record_done(&m->ref) == 1) {
        qmgr_forget(q, m);
        return -1;
    }
    if (queue_ref_load(&m->ref, &m->env) < 0) {
        msg_warn("%s: cannot read queue file %s: %s", m->qid, m->ref.path, strerror(errno));
        qenv_free(&m->env);
        if (m->in_file && errno != ENOENT) {
            /* Keep it: a file we cannot read now may be readable later. */
            m->next_try_usec = now_usec() + q->min_backoff_us;
            qmgr_list_move(q, m, QL_DEFERRED);
            return -1;
        }
        qmgr_forget(q, m);
        return -1;
    }
    m->loaded = 1;
    if (hold_on_arrival(q, m))
        return 0;
    m->size = m->ref.content_length;
    m->t_active_ms = mono_msec();
    m->t_active_usec = now_usec();
    msg_info("%s: from=<%s>, size=%zu, nrcpt=%zu (queue active)", m->qid, m->env.sender,
             m->size, qenv_pending(&m->env));
    qmgr_list_move(q, m, QL_ACTIVE);
    activate_expand(q, m);
    return 0;
}

void qmgr_activate_more(struct qmgr *q)
{
    /* Completion can activate more, which can complete: no recursion, one loop. */
    if (q->activating)
        return;
    q->activating = 1;
    while (q->lists[QL_INCOMING] && q->counts[QL_ACTIVE] < QMGR_ACTIVE_LIMIT && !q->stopping) {
        struct qmsg *m = q->lists[QL_INCOMING];
        list_unlink(q, m);
        qmgr_activate(q, m);
    }
    q->activating = 0;
}

/* ---- scanning ----------------------------------------------------------------- */

static void scan_cb(const struct qref *ref, const struct qenvelope *env, size_t content_len,
                    const char *where, void *arg)
{
    (void)content_len;
    struct qmgr *q = arg;
    if (qmgr_find(q, env->qid))
        return;
    if (strcmp(where, "journal") == 0) {
        qmgr_add(q, ref, env->qid, 0, QL_INCOMING);
    } else if (strcmp(where, "hold") == 0) {
        qmgr_add(q, ref, env->qid, 1, QL_HOLD);
    } else {
        struct qmsg *m = qmgr_add(q, ref, env->qid, 1, QL_DEFERRED);
        if (m) {
            /* 0 (released or requeued while qmgr was down) means now; 0 is also
             * "no deferred mail" for earliest_deferred_usec, so use 1. */
            m->next_try_usec = env->next_try_usec ? env->next_try_usec : 1;
            if (!q->earliest_deferred_usec || m->next_try_usec < q->earliest_deferred_usec)
                q->earliest_deferred_usec = m->next_try_usec;
        }
    }
}

static void rescan_journal(struct qmgr *q)
{
    size_t before = q->nmsgs;
    if (queue_scan_flags(q->queue_dir, QUEUE_SCAN_NOFILES, scan_cb, q) < 0)
        msg_warn("cannot scan the queue journal: %s", strerror(errno));
    if (q->nmsgs > before)
        msg_info("queue rescan found %zu message(s) without notification", q->nmsgs - before);
    qmgr_activate_more(q);
}

/* Deferred messages whose time has come go back to incoming. */
static void run_deferred(struct qmgr *q, int all)
{
    uint64_t now = now_usec();
    if (!all && (!q->earliest_deferred_usec || now < q->earliest_deferred_usec))
        return;
    uint64_t earliest = 0;
    struct qmsg *m = q->lists[QL_DEFERRED];
    while (m) {
        struct qmsg *next = m->next;
        if (all || m->next_try_usec <= now) {
            m->next_try_usec = 0;
            qmgr_list_move(q, m, QL_INCOMING);
        } else if (!earliest || m->next_try_usec < earliest) {
            earliest = m->next_try_usec;
        }
        m = next;
    }
    q->earliest_deferred_usec = earliest;
    qmgr_activate_more(q);
}

/* Does the message wait for a recipient in domain? (deferred messages are not loaded) */
static int waits_for_domain(const struct qmsg *m, const char *domain)
{
    struct qenvelope env;
    size_t len;
    int found = 0;
    if (queue_read_envelope(&m->ref, &env, &len) == 0) {
        for (size_t i = 0; i < env.nrcpts && !found; i++) {
            const char *at = strrchr(env.rcpts[i].addr, '@');
            found = !env.rcpts[i].done && at && strcasecmp(at + 1, domain) == 0;
        }
    }
    qenv_free(&env);
    return found;
}

/* ETRN (smtpd) or `yubin queue flush DOMAIN`: retry now what waits for that domain. */
static size_t flush_domain(struct qmgr *q, const char *domain)
{
    size_t n = 0;
    struct qmsg *m = q->lists[QL_DEFERRED];
    while (m) {
        struct qmsg *next = m->next;
        if (waits_for_domain(m, domain)) {
            m->next_try_usec = 0;
            qmgr_list_move(q, m, QL_INCOMING);
            n++;
        }
        m = next;
    }
    if (n)
        msg_info("flush of deferred mail for %s: %zu message%s", domain, n, n == 1 ? "" : "s");
    qmgr_activate_more(q);
    return n;
}

static void tick(void *arg)
{
    struct qmgr *q = arg;
    run_deferred(q, 0);
    uint64_t now = ev_now(q->loop);
    if (now - q->last_rescan_ms >= q->queue_run_delay_ms) {
        q->last_rescan_ms = now;
        rescan_journal(q);
    }
    if (now - q->last_gc_ms >= QMGR_GC_MS) {
        q->last_gc_ms = now;
        queue_gc(q->queue_dir);
    }
    if (!q->stopping)
        ev_timer_add(q->loop, QMGR_TICK_MS, tick, q);
}

static void done_hook(void *arg)
{
    struct qmgr *q = arg;
    if (!q->dirty_done)
        return;
    q->dirty_done = 0;
    if (queue_done_sync(q->queue_dir) < 0)
        msg_warn("cannot sync the queue done logs: %s", strerror(errno));
}

/* ---- control requests ------------------------------------------------------------ */

/*
 * Each operation returns 1 if it changed the message, 0 if it did not
 * apply (e.g. release of a message that is not on hold), -1 on an error;
 * *why says what did not apply or failed.
 */
static int ctl_hold(struct qmgr *q, struct qmsg *m, const char **why)
{
    struct qref newref;
    *why = "cannot move the queue file to hold";
    switch (m->list) {
    case QL_HOLD:
        *why = "message is already on hold";
        return 0;
    case QL_ACTIVE:
        /* Deliveries in flight finish; what is left then goes to hold/. */
        m->hold_after = 1;
        msg_info("%s: placed on hold", m->qid);
        return 1;
    case QL_DEFERRED:
        if (!m->in_file || queue_move_file(&m->ref, q->hold_dir, NULL, &newref) < 0)
            return -1;
        m->ref = newref;
        break;
    case QL_INCOMING: {
        struct qenvelope env;
        if (queue_ref_load(&m->ref, &env) < 0) {
            qenv_free(&env);
            return -1;
        }
        int r = m->in_file ? queue_move_file(&m->ref, q->hold_dir, NULL, &newref)
                           : queue_copy_to_file(q->hold_dir, &env, &m->ref, &newref);
        qenv_free(&env);
        if (r < 0)
            return -1;
        if (!m->in_file)
            qmgr_mark_done(q, m, -1);
        m->ref = newref;
        m->in_file = 1;
        break;
    }
    default:
        return -1;
    }
    qmgr_list_move(q, m, QL_HOLD);
    msg_info("%s: placed on hold", m->qid);
    return 1;
}

static int ctl_release(struct qmgr *q, struct qmsg *m, const char **why)
{
    if (m->list != QL_HOLD) {
        if (m->hold_after) {        /* held while in flight: not in hold/ yet */
            m->hold_after = 0;
            msg_info("%s: released from hold", m->qid);
            return 1;
        }
        *why = "message is not on hold";
        return 0;
    }
    struct qref newref;
    if (queue_move_file(&m->ref, q->deferred_dir, NULL, &newref) < 0) {
        *why = "cannot move the queue file out of hold";
        return -1;
    }
    m->ref = newref;
    m->next_try_usec = 0;
    qmgr_list_move(q, m, QL_INCOMING);
    msg_info("%s: released from hold", m->qid);
    return 1;
}

static int ctl_requeue(struct qmgr *q, struct qmsg *m, const char **why)
{
    (void)q;
    if (m->list != QL_DEFERRED) {
        *why = m->list == QL_HOLD ? "message is on hold" : "message is not deferred";
        return 0;
    }
    m->next_try_usec = 0;
    qmgr_list_move(q, m, QL_INCOMING);
    msg_info("%s: requeued", m->qid);
    return 1;
}

static int ctl_one(struct qmgr *q, const char *verb, struct qmsg *m, const char **why)
{
    *why = "";
    if (strcmp(verb, "delete") == 0) {
        *why = "cannot remove the message";
        return qmgr_finish_delete(q, m) < 0 ? -1 : 1;
    }
    if (strcmp(verb, "hold") == 0)
        return ctl_hold(q, m, why);
    if (strcmp(verb, "release") == 0)
        return ctl_release(q, m, why);
    return ctl_requeue(q, m, why);
}

/* What postsuper says: "Deleted: 1 message". */
static const char *ctl_done_word(const char *verb)
{
    if (strcmp(verb, "delete") == 0)
        return "Deleted";
    if (strcmp(verb, "hold") == 0)
        return "Placed on hold";
    if (strcmp(verb, "release") == 0)
        return "Released from hold";
    return "Requeued";
}

static void control(struct qmgr *q, char *line, struct buf *out)
{
    char *verb = strtok(line, " ");
    char *arg = strtok(NULL, " ");
    if (!verb || !arg) {
        buf_puts(out, "ERR usage: C verb qid|ALL\n");
        return;
    }
    if (strcmp(verb, "flush") == 0) {
        size_t n = q->counts[QL_DEFERRED];
        if (strcmp(arg, "ALL") == 0)
            run_deferred(q, 1);
        else
            n = flush_domain(q, arg);
        buf_printf(out, "OK Flushed: %zu deferred message%s\n", n, n == 1 ? "" : "s");
        return;
    }
    if (strcmp(verb, "delete") && strcmp(verb, "hold") && strcmp(verb, "release") &&
        strcmp(verb, "requeue")) {
        buf_printf(out, "ERR unknown request: %s\n", verb);
        return;
    }
    size_t ok = 0, failed = 0;
    const char *why;
    if (strcmp(arg, "ALL") == 0) {
        /* Collect first: the operations move messages between lists. */
        size_t n = 0;
        struct qmsg **v = xcalloc(q->nmsgs + 1, sizeof(*v));
        for (int l = QL_INCOMING; l <= QL_HOLD; l++)
            for (struct qmsg *m = q->lists[l]; m; m = m->next)
                v[n++] = m;
        for (size_t i = 0; i < n; i++) {
            int r = ctl_one(q, verb, v[i], &why);
            if (r > 0) {
                ok++;
            } else if (r < 0) {
                msg_warn("%s: %s: %s", v[i]->qid, why, strerror(errno));
                failed++;
            }
        }
        free(v);
    } else {
        struct qmsg *m = qmgr_find(q, arg);
        if (!m) {
            buf_printf(out, "ERR %s: no such message\n", arg);
            return;
        }
        int r = ctl_one(q, verb, m, &why);
        if (r < 0)
            msg_warn("%s: %s: %s", arg, why, strerror(errno));
        if (r <= 0) {
            buf_printf(out, "ERR %s: %s\n", arg, why);
            qmgr_activate_more(q);
            return;
        }
        ok = 1;
    }
    qmgr_activate_more(q);
    buf_printf(out, "OK %s: %zu message%s", ctl_done_word(verb), ok, ok == 1 ? "" : "s");
    if (failed)
        buf_printf(out, "; %zu failed (see the mail log)", failed);
    buf_putc(out, '\n');
}

/* ---- the socket ---------------------------------------------------------------------- */

struct client {
    struct client *next;
    struct qmgr *q;
    struct conn *io;
    int ordinary;              /* an ordinary local user: "C list" and "C flush" only */
    uid_t uid;                 /* ... and who */
};

static struct client *clients;
static size_t nordinary;       /* connections of ordinary users, capped: they are strangers */
#define ORDINARY_MAX 32

static void client_close(struct client *c)
{
    if (c->ordinary)
        nordinary--;
    struct client **pp = &clients;
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    conn_free(c->io);
    free(c);
}

/* "N <path>\t<offset>\t<length>\t<qid>" from a writer. */
static int notification(struct qmgr *q, char *line)
{
    char *f[4];
    int n = 0;
    for (char *p = strtok(line, "\t"); p && n < 4; p = strtok(NULL, "\t"))
        f[n++] = p;
    if (n != 4 || !queue_id_valid(f[3]))
        return -1;
    size_t dl = strlen(q->queue_dir);
    if (strncmp(f[0], q->queue_dir, dl) != 0 || strncmp(f[0] + dl, "/journal/", 9) != 0 ||
        strstr(f[0], "/../"))
        return -1;
    struct qref ref;
    memset(&ref, 0, sizeof(ref));
    if (str_copy(ref.path, f[0], sizeof(ref.path)) >= sizeof(ref.path))
        return -1;
    char *end;
    ref.offset = (off_t)strtoll(f[1], &end, 10);
    if (*end || ref.offset < 0)
        return -1;
    ref.length = (size_t)strtoull(f[2], &end, 10);
    if (*end)
        return -1;
    qmgr_add(q, &ref, f[3], 0, QL_INCOMING);
    return 0;
}

/* authorized_mailq_users / authorized_flush_users (default static:anyone). */
static int user_may(uid_t uid, struct match_list *users)
{
    return user_list_match(users, (unsigned long)uid) == 1;
}

/*
 * "C list" from a user who may view the queue: a child process writes the
 * mailq report to the connection and exits (as Postfix's showq does), so a
 * large queue never stalls deliveries. The connection is ours no more.
 */
static void list_for_viewer(struct client *c)
{
    struct qmgr *q = c->q;
    pid_t pid = fork();
    if (pid == 0) {
        int fd = conn_fd(c->io);
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        FILE *f = fdopen(fd, "w");
        int rc = f && queue_print_list(f, q->queue_dir) == 0 ? 0 : 1;
        if (f && fclose(f) != 0)
            rc = 1;
        _exit(rc);
    }
    if (pid < 0)
        msg_warn("cannot fork for a queue listing: %s", strerror(errno));
    client_close(c);
}

static void on_sigchld(int signo, void *arg)
{
    (void)signo;
    (void)arg;
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

/* One request line; 0 go on, -1 the client is closed (by us or as it asked). */
static int client_line(struct client *c, char *line, int *got_new)
{
    struct qmgr *q = c->q;
    struct buf *out = conn_out(c->io);
    if (c->ordinary) {
        if (strcmp(line, "C list") == 0) {
            if (user_may(c->uid, q->mailq_users))
                list_for_viewer(c);
            else
                client_close(c);       /* the client says: not authorized */
            return -1;
        }
        if (strncmp(line, "C flush ", 8) != 0) {
            msg_warn("refused a request from uid %ld other than a queue listing or flush",
                     (long)c->uid);
            client_close(c);
            return -1;
        }
        if (!user_may(c->uid, q->flush_users)) {
            buf_puts(out, "ERR not authorized to flush the queue "
                          "(authorized_flush_users)\n");
            return 0;
        }
    }
    int bad = 0;
    if (line[0] == 'N' && line[1] == ' ') {
        bad = notification(q, line + 2) < 0;
        *got_new = 1;
    } else if (line[0] == 'C' && line[1] == ' ') {
        control(q, line + 2, out);
    } else if (line[0] == 'W' && line[1] == '\0') {
        run_deferred(q, 0);
    } else {
        bad = 1;
    }
    if (bad) {
        msg_warn("malformed request on the qmgr socket; closing that connection");
        client_close(c);
        if (*got_new)
            qmgr_activate_more(q);
        return -1;
    }
    return 0;
}

/* Requests read (one read per wakeup), or the socket became writable. */
static void client_ready(struct conn *io, void *arg)
{
    struct client *c = arg;
    struct qmgr *q = c->q;
    char *line;
    size_t len;
    enum conn_line_result r;
    int got_new = 0;
    while ((r = conn_line(io, &line, &len)) == CONN_LINE)
        if (client_line(c, line, &got_new) < 0)
            return;
    if (got_new)
        qmgr_activate_more(q);
    if (r == CONN_LONG || conn_flush(io) < 0) {
        client_close(c);               /* a request longer than the buffer, or a broken socket */
        return;
    }
    conn_update(io);
}

static void client_lost(struct conn *io, void *arg)
{
    (void)io;
    client_close(arg);
}

static const struct conn_cb client_cb = {.ready = client_ready, .lost = client_lost};

static void on_accept(int fd, int events, void *arg)
{
    (void)events;
    struct qmgr *q = arg;
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0)
            return;
        /* With Postfix's master.cf the socket is public/qmgr: only the mail system
         * itself (mail_owner) and root may notify or control the queue; other
         * users may list and flush it (client_line). */
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cl != sizeof(cred)) {
            msg_warn("rejected a qmgr connection without credentials: %s", strerror(errno));
            close(cfd);
            continue;
        }
        /* Others (mailq, sendmail -q) get what authorized_*_users allow. */
        int ordinary = cred.uid != 0 && cred.uid != geteuid();
        if (ordinary && nordinary >= ORDINARY_MAX) {
            msg_warn("too many queue requests from ordinary users; refused uid %ld",
                     (long)cred.uid);
            close(cfd);
            continue;
        }
        struct client *c = xcalloc(1, sizeof(*c));
        c->ordinary = ordinary;
        nordinary += (size_t)ordinary;
        c->uid = cred.uid;
        c->q = q;
        c->io = conn_new(cfd, CLIENT_IN_MAX, CLIENT_IN_MAX);
        /* Lines up to what the buffer holds; replies never stop the reading. */
        conn_set_lines(c->io, CLIENT_IN_MAX - 2, 0);
        conn_set_highwater(c->io, CLIENT_IN_MAX);
        conn_attach(c->io, q->loop, &client_cb, c);
        c->next = clients;
        clients = c;
        conn_update(c->io);
    }
}

static void on_sigterm(int signo, void *arg)
{
    (void)signo;
    struct qmgr *q = arg;
    q->stopping = 1;
    ev_loop_stop(q->loop);
}

/* ---- start ------------------------------------------------------------------------------ */

static uint64_t param_us(struct config *cfg, enum param_id name)
{
    long long s = cfg_get_time(cfg, name);
    return s > 0 ? (uint64_t)s * 1000000u : 1000000u;
}

static void read_params(struct qmgr *q, struct config *cfg)
{
    q->myhostname = xstrdup(cfg_get(cfg, P_myhostname));
    q->myorigin = xstrdup(cfg_get(cfg, P_myorigin));
    q->mail_name = xstrdup(cfg_get(cfg, P_mail_name));
    const char *d = cfg_get(cfg, P_recipient_delimiter);
    q->recipient_delimiter = xstrdup(d ? d : "");
    char err[512];
    const enum param_id users_params[] = {P_authorized_mailq_users, P_authorized_flush_users};
    struct match_list **users_dst[] = {&q->mailq_users, &q->flush_users};
    for (size_t i = 0; i < ARRAY_LEN(users_params); i++) {
        *users_dst[i] = domain_list_new(cfg_get(cfg, users_params[i]), cfg, 0, err, sizeof(err));
        if (!*users_dst[i])
            msg_warn("%s: %s; only root and %s are authorized", cfg_param_name(users_params[i]),
                     err, cfg_get(cfg, P_mail_owner));
    }
    q->min_backoff_us = param_us(cfg, P_minimal_backoff_time);
    q->max_backoff_us = param_us(cfg, P_maximal_backoff_time);
    if (q->max_backoff_us < q->min_backoff_us)
        q->max_backoff_us = q->min_backoff_us;
    q->max_lifetime_us = param_us(cfg, P_maximal_queue_lifetime);
    q->bounce_lifetime_us = param_us(cfg, P_bounce_queue_lifetime);
    long long dw = cfg_get_time(cfg, P_delay_warning_time);
    q->delay_warning_us = dw > 0 ? (uint64_t)dw * 1000000u : 0;
    q->queue_run_delay_ms = param_us(cfg, P_queue_run_delay) / 1000;
    long long bsl = cfg_get_size(cfg, P_bounce_size_limit);
    q->bounce_size_limit = (size_t)bsl;          /* >= 1 (params.def) */
    long long rl = cfg_get_int(cfg, P_default_destination_recipient_limit);
    q->rcpt_limit = rl > 0 && rl < 1000 ? (int)rl : 50;
}

int qmgr_main(struct worker *w)
{
    struct qmgr q;
    memset(&q, 0, sizeof(q));
    q.w = w;
    q.cfg = w->cfg;
    q.queue_dir = xstrdup(w->queue_dir);
    q.deferred_dir = xasprintf("%s/deferred", w->queue_dir);
    q.hold_dir = xasprintf("%s/hold", w->queue_dir);
    q.nhash = 1024;
    q.hash = xcalloc(q.nhash, sizeof(*q.hash));
    read_params(&q, w->cfg);
    signal(SIGPIPE, SIG_IGN);
    q.loop = ev_loop_new();
    table_async_init(q.loop, w->cfg);   /* remote tables never stall deliveries */
    q.resolver = resolver_new(w->cfg);
    q.qw = queue_writer_open(w->queue_dir, NULL);
    if (!q.qw)
        msg_fatal("cannot open the queue journal in %s: %s", w->queue_dir, strerror(errno));
    if (w->nlisten < 1)
        msg_fatal("qmgr: no listening socket");
    fd_set_nonblock(w->listen_fds[0], 1);
    ev_fd_add(q.loop, w->listen_fds[0], EV_READ, on_accept, &q);
    ev_signal_add(q.loop, SIGTERM, on_sigterm, &q);
    ev_signal_add(q.loop, SIGCHLD, on_sigchld, &q);
    ev_hook_add(q.loop, done_hook, &q);

    int n = queue_scan_flags(q.queue_dir, QUEUE_SCAN_FIX, scan_cb, &q);
    if (n < 0)
        msg_fatal("cannot scan the queue in %s: %s", q.queue_dir, strerror(errno));
    queue_done_sync(q.queue_dir);
    queue_gc(q.queue_dir);
    q.last_rescan_ms = q.last_gc_ms = ev_now(q.loop);
    if (n > 0)
        msg_info("queue scan: %d message(s) pending", n);
    qmgr_activate_more(&q);
    ev_timer_add(q.loop, QMGR_TICK_MS, tick, &q);

    int rc = ev_loop_run(q.loop);

    done_hook(&q);
    q.dirty_done = 1;
    done_hook(&q);
    while (clients)
        client_close(clients);
    qmgr_transport_free_all(&q);
    for (int l = QL_INCOMING; l <= QL_HOLD; l++)
        while (q.lists[l]) {
            struct qmsg *m = q.lists[l];
            for (size_t i = 0; i < m->ndlv; i++)
                qmgr_dlv_free(&m->dlvs[i]);
            free(m->dlvs);
            qmgr_forget(&q, m);
        }
    queue_writer_close(q.qw);
    resolver_free(q.resolver);
    queue_done_reset();
    ev_loop_free(q.loop);
    free(q.hash);
    free(q.queue_dir);
    free(q.deferred_dir);
    free(q.hold_dir);
    free(q.myhostname);
    free(q.myorigin);
    free(q.mail_name);
    free(q.recipient_delimiter);
    if (q.mailq_users)
        match_list_free(q.mailq_users);
    if (q.flush_users)
        match_list_free(q.flush_users);
    return rc == 0 ? 0 : 1;
}
