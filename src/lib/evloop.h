/*
 * evloop.h - the event loop every long-running worker is built on.
 *
 * Owns: an epoll set, a timer heap, signal delivery through signalfd, and
 * "idle hooks" run once per loop iteration after all ready events were
 * handled. Idle hooks are how group commit works: sessions that finished a
 * message in this iteration wait for one shared fdatasync, run from a hook.
 */
#ifndef YUBIN_EVLOOP_H
#define YUBIN_EVLOOP_H

#include <stdint.h>

#define EV_READ  0x1
#define EV_WRITE 0x2

struct evloop;
struct ev_timer;

typedef void (*ev_fd_cb)(int fd, int events, void *arg);
typedef void (*ev_timer_cb)(void *arg);
typedef void (*ev_hook_cb)(void *arg);
typedef void (*ev_signal_cb)(int signo, void *arg);

struct evloop *ev_loop_new(void);
void ev_loop_free(struct evloop *loop);
/* Run until ev_loop_stop(). Returns 0, or -1 on a fatal epoll error. */
int ev_loop_run(struct evloop *loop);
void ev_loop_stop(struct evloop *loop);
/* Cached monotonic time in milliseconds at the start of this iteration. */
uint64_t ev_now(struct evloop *loop);

/* Watch fd for events (EV_READ|EV_WRITE). One registration per fd. */
int ev_fd_add(struct evloop *loop, int fd, int events, ev_fd_cb cb, void *arg);
int ev_fd_mod(struct evloop *loop, int fd, int events);
/* Stop watching; safe to call from inside that fd's callback. */
void ev_fd_del(struct evloop *loop, int fd);

/* One-shot timer firing after ms milliseconds; cancel before it fires or never. */
struct ev_timer *ev_timer_add(struct evloop *loop, uint64_t ms, ev_timer_cb cb, void *arg);
void ev_timer_cancel(struct evloop *loop, struct ev_timer *t);

/* Called after each batch of ready events. Returns a handle id (>0). */
int ev_hook_add(struct evloop *loop, ev_hook_cb cb, void *arg);
void ev_hook_del(struct evloop *loop, int id);

/* Deliver signo through the loop (blocks it for normal delivery). */
int ev_signal_add(struct evloop *loop, int signo, ev_signal_cb cb, void *arg);

#endif
