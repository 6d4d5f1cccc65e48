/*
 * cmd_idle.c - the mail worker's IDLE command (RFC 2177; see mailsess.h).
 *
 * Owns: "+ idling", watching the selected folder while the client idles
 * (inotify on its new/ and cur/ through mview_dirfd, a short delay so a
 * burst of renames gives one sync, and a sync every
 * imap_idle_notify_interval in case inotify missed something, e.g. on
 * NFS), the untagged EXISTS/EXPUNGE/FETCH that imapd_sel_sync sends, the
 * "* OK Still here" keepalive at the same interval (Dovecot's), DONE and
 * its tagged OK. The autologout (mail.c's deadline on reads) still runs:
 * keepalives are output and do not move it.
 */
#include "imapd/mailsess.h"

#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#define IDLE_TAG_MAX 256
#define IDLE_DEBOUNCE_MS 100              /* after a change: let a burst of renames finish */
#define IDLE_LINE_MAX 1024                /* what may come before "DONE"'s line end */
#define IDLE_NOTIFY_DEFAULT_MS 120000     /* imap_idle_notify_interval's default */

struct idle_state {
    struct msession *s;
    char tag[IDLE_TAG_MAX];
    int ifd;                               /* inotify, or -1 */
    struct ev_timer *tick;                 /* keepalive and periodic sync */
    struct ev_timer *soon;                 /* a change was seen: sync shortly */
    uint64_t started;
};

static void idle_sync(struct idle_state *st)
{
    struct msession *s = st->s;
    if (s->sel)
        imapd_sel_sync(s, 1);
    /* the sync may have closed the mailbox (and stopped IDLE): only s is used after it */
    conn_flush(s->c);
    conn_update(s->c);
}

static void on_soon(void *arg)
{
    struct idle_state *st = arg;
    st->soon = NULL;
    idle_sync(st);
}

static uint64_t notify_ms(const struct msession *s)
{
    return s->srv->set->idle_notify_ms ? s->srv->set->idle_notify_ms : IDLE_NOTIFY_DEFAULT_MS;
}

static void on_tick(void *arg)
{
    struct idle_state *st = arg;
    struct msession *s = st->s;
    st->tick = ev_timer_add(s->srv->w.loop, notify_ms(s), on_tick, st);
    imapd_reply(s->c, NULL, "OK Still here");
    idle_sync(st);
}

static void on_inotify(int fd, int events, void *arg)
{
    (void)events;
    struct idle_state *st = arg;
    char ev[4096];
    ssize_t n;
    do
        n = read(fd, ev, sizeof(ev));
    while (n > 0 || (n < 0 && errno == EINTR));
    if (!st->soon)
        st->soon = ev_timer_add(st->s->srv->w.loop, IDLE_DEBOUNCE_MS, on_soon, st);
}

static void watch_folder(struct idle_state *st)
{
    struct msession *s = st->s;
    if (!s->sel)
        return;
    st->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (st->ifd < 0) {
        msg_warn("IDLE: inotify_init1: %s", strerror(errno));
        return;
    }
    static const char *const sub[] = {"new", "cur"};
    for (size_t i = 0; i < ARRAY_LEN(sub); i++) {
        char path[64];
        str_fmt(path, sizeof(path), "/proc/self/fd/%d/%s", mview_dirfd(s->sel->v), sub[i]);
        if (inotify_add_watch(st->ifd, path, IN_CREATE | IN_DELETE | IN_MOVED_FROM |
                                                 IN_MOVED_TO | IN_ONLYDIR) < 0)
            msg_warn("IDLE: inotify_add_watch %s: %s", sub[i], strerror(errno));
    }
    ev_fd_add(s->srv->w.loop, st->ifd, EV_READ, on_inotify, st);
}

void imapd_cmd_idle(struct msession *s, const char *tag, const struct imap_arg *args, int uid)
{
    (void)uid;
    if (!imap_arg_is_eol(&args[0])) {
        imapd_reply(s->c, tag, "BAD Error in IMAP command IDLE: Unexpected arguments.");
        return;
    }
    INVARIANT(s->idle == NULL);
    struct idle_state *st = xcalloc(1, sizeof(*st));
    st->s = s;
    st->ifd = -1;
    st->started = mono_msec();
    str_copy(st->tag, tag, sizeof(st->tag));
    s->idle = st;
    if (s->sel)
        imapd_sel_sync(s, 1);
    if (s->idle != st)
        return;                            /* the sync closed the mailbox (BYE) */
    imapd_reply(s->c, "+", "idling");
    watch_folder(st);
    st->tick = ev_timer_add(s->srv->w.loop, notify_ms(s), on_tick, st);
}

/* "DONE" ends IDLE with OK; anything else with BAD. */
size_t imapd_cmd_idle_input(struct msession *s, const char *data, size_t len)
{
    struct idle_state *st = s->idle;
    const char *lf = memchr(data, '\n', len);
    if (!lf && len < IDLE_LINE_MAX)
        return 0;                          /* wait for the line's end */
    size_t used = lf ? (size_t)(lf - data) + 1 : len;
    size_t n = lf ? (size_t)(lf - data) : len;
    if (n > 0 && data[n - 1] == '\r')
        n--;
    char tag[IDLE_TAG_MAX];
    str_copy(tag, st->tag, sizeof(tag));
    uint64_t ms = mono_msec() - st->started;
    imapd_cmd_idle_stop(s);
    if (n == 4 && strncasecmp(data, "DONE", 4) == 0) {
        if (s->sel)
            imapd_sel_sync(s, 1);
        imapd_reply(s->c, tag, "OK Idle completed (0.001 + %llu.%03llu secs).",
                    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
    } else {
        imapd_reply(s->c, tag, "BAD Expected DONE.");
    }
    return used;
}

void imapd_cmd_idle_stop(struct msession *s)
{
    struct idle_state *st = s->idle;
    if (!st)
        return;
    s->idle = NULL;
    if (st->tick)
        ev_timer_cancel(s->srv->w.loop, st->tick);
    if (st->soon)
        ev_timer_cancel(s->srv->w.loop, st->soon);
    if (st->ifd >= 0) {
        ev_fd_del(s->srv->w.loop, st->ifd);
        close(st->ifd);
    }
    free(st);
}
