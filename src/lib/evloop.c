/*
 * evloop.c - see evloop.h.
 *
 * Timers live in a binary min-heap keyed by expiry; cancelled timers are
 * removed from the heap at once so a long-lived session that re-arms its
 * idle timer on every command does not leak heap slots.
 */
#include "lib/evloop.h"
#include "lib/util.h"
#include "lib/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct fd_watch {
    ev_fd_cb cb;
    void *arg;
    int events;
    int active;
};

struct ev_timer {
    uint64_t when;
    ev_timer_cb cb;
    void *arg;
    size_t idx;
};

struct ev_hook {
    int id;
    ev_hook_cb cb;
    void *arg;
};

struct sig_watch {
    ev_signal_cb cb;
    void *arg;
};

struct evloop {
    int epfd;
    int stop;
    uint64_t now;
    struct fd_watch *fds;
    size_t nfds;
    struct ev_timer **heap;
    size_t nheap, capheap;
    struct ev_hook *hooks;
    size_t nhooks;
    int next_hook_id;
    int sigfd;
    sigset_t sigmask;
    struct sig_watch sigs[65];
};

struct evloop *ev_loop_new(void)
{
    struct evloop *l = xcalloc(1, sizeof(*l));
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        msg_fatal("epoll_create1: %s", strerror(errno));
    l->sigfd = -1;
    sigemptyset(&l->sigmask);
    l->now = mono_msec();
    l->next_hook_id = 1;
    return l;
}

void ev_loop_free(struct evloop *l)
{
    if (!l)
        return;
    close(l->epfd);
    if (l->sigfd >= 0)
        close(l->sigfd);
    for (size_t i = 0; i < l->nheap; i++)
        free(l->heap[i]);
    free(l->heap);
    free(l->fds);
    free(l->hooks);
    free(l);
}

uint64_t ev_now(struct evloop *l)
{
    return l->now;
}

void ev_loop_stop(struct evloop *l)
{
    l->stop = 1;
}

static uint32_t to_epoll(int events)
{
    uint32_t e = 0;
    if (events & EV_READ)
        e |= EPOLLIN | EPOLLRDHUP;
    if (events & EV_WRITE)
        e |= EPOLLOUT;
    return e;
}

int ev_fd_add(struct evloop *l, int fd, int events, ev_fd_cb cb, void *arg)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= l->nfds) {
        size_t n = l->nfds ? l->nfds : 64;
        while (n <= (size_t)fd)
            n *= 2;
        l->fds = xrealloc(l->fds, n * sizeof(*l->fds));
        memset(l->fds + l->nfds, 0, (n - l->nfds) * sizeof(*l->fds));
        l->nfds = n;
    }
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    l->fds[fd] = (struct fd_watch){.cb = cb, .arg = arg, .events = events, .active = 1};
    return 0;
}

int ev_fd_mod(struct evloop *l, int fd, int events)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].active)
        return -1;
    if (l->fds[fd].events == events)
        return 0;
    struct epoll_event ev = {.events = to_epoll(events), .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -1;
    l->fds[fd].events = events;
    return 0;
}

void ev_fd_del(struct evloop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].active)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd].active = 0;
    l->fds[fd].cb = NULL;
}

/* --- timer heap --- */

static void heap_swap(struct evloop *l, size_t a, size_t b)
{
    struct ev_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->idx = a;
    l->heap[b]->idx = b;
}

static void heap_up(struct evloop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->when <= l->heap[i]->when)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

static void heap_down(struct evloop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->when < l->heap[m]->when)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->when < l->heap[m]->when)
            m = c + 1;
        if (m == i)
            break;
        heap_swap(l, i, m);
        i = m;
    }
}

struct ev_timer *ev_timer_add(struct evloop *l, uint64_t ms, ev_timer_cb cb, void *arg)
{
    struct ev_timer *t = xmalloc(sizeof(*t));
    t->when = mono_msec() + ms;
    t->cb = cb;
    t->arg = arg;
    if (l->nheap == l->capheap) {
        l->capheap = l->capheap ? l->capheap * 2 : 64;
        l->heap = xrealloc(l->heap, l->capheap * sizeof(*l->heap));
    }
    t->idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->idx);
    return t;
}

static void heap_remove(struct evloop *l, size_t i)
{
    l->nheap--;
    if (i != l->nheap) {
        l->heap[i] = l->heap[l->nheap];
        l->heap[i]->idx = i;
        heap_down(l, i);
        heap_up(l, i);
    }
}

void ev_timer_cancel(struct evloop *l, struct ev_timer *t)
{
    if (!t)
        return;
    heap_remove(l, t->idx);
    free(t);
}

int ev_hook_add(struct evloop *l, ev_hook_cb cb, void *arg)
{
    l->hooks = xrealloc(l->hooks, (l->nhooks + 1) * sizeof(*l->hooks));
    int id = l->next_hook_id++;
    l->hooks[l->nhooks++] = (struct ev_hook){.id = id, .cb = cb, .arg = arg};
    return id;
}

void ev_hook_del(struct evloop *l, int id)
{
    for (size_t i = 0; i < l->nhooks; i++) {
        if (l->hooks[i].id == id) {
            memmove(&l->hooks[i], &l->hooks[i + 1], (l->nhooks - i - 1) * sizeof(*l->hooks));
            l->nhooks--;
            return;
        }
    }
}

static void sig_ready(int fd, int events, void *arg)
{
    (void)events;
    struct evloop *l = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int s = (int)si.ssi_signo;
        if (s > 0 && s < 65 && l->sigs[s].cb)
            l->sigs[s].cb(s, l->sigs[s].arg);
    }
}

int ev_signal_add(struct evloop *l, int signo, ev_signal_cb cb, void *arg)
{
    if (signo <= 0 || signo >= 65)
        return -1;
    l->sigs[signo] = (struct sig_watch){.cb = cb, .arg = arg};
    sigaddset(&l->sigmask, signo);
    if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
        return -1;
    if (l->sigfd < 0) {
        l->sigfd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (l->sigfd < 0)
            return -1;
        return ev_fd_add(l, l->sigfd, EV_READ, sig_ready, l);
    }
    return signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC) < 0 ? -1 : 0;
}

static void run_timers(struct evloop *l)
{
    l->now = mono_msec();
    while (l->nheap > 0 && l->heap[0]->when <= l->now) {
        struct ev_timer *t = l->heap[0];
        heap_remove(l, 0);
        ev_timer_cb cb = t->cb;
        void *arg = t->arg;
        free(t);
        cb(arg);
    }
}

static void run_hooks(struct evloop *l)
{
    /* Hooks may add or remove hooks; iterate over a snapshot of ids. */
    size_t n = l->nhooks;
    if (!n)
        return;
    int ids[64];
    if (n > ARRAY_LEN(ids))
        n = ARRAY_LEN(ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = l->hooks[i].id;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < l->nhooks; j++) {
            if (l->hooks[j].id == ids[i]) {
                l->hooks[j].cb(l->hooks[j].arg);
                break;
            }
        }
    }
}

int ev_loop_run(struct evloop *l)
{
    struct epoll_event evs[256];
    l->stop = 0;
    while (!l->stop) {
        int timeout = -1;
        l->now = mono_msec();
        if (l->nheap > 0)
            timeout = l->heap[0]->when <= l->now ? 0 : (int)(l->heap[0]->when - l->now);
        int n = epoll_wait(l->epfd, evs, (int)ARRAY_LEN(evs), timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            msg_error("epoll_wait: %s", strerror(errno));
            return -1;
        }
        l->now = mono_msec();
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if ((size_t)fd >= l->nfds || !l->fds[fd].active)
                continue;
            int e = 0;
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                e |= EV_READ;
            if (evs[i].events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                e |= EV_WRITE;
            e &= l->fds[fd].events | ((evs[i].events & (EPOLLHUP | EPOLLERR)) ? EV_READ : 0);
            if (e && l->fds[fd].cb)
                l->fds[fd].cb(fd, e, l->fds[fd].arg);
        }
        run_timers(l);
        run_hooks(l);
    }
    return 0;
}
