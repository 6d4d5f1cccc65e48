/*
 * qmgr.h - the queue manager's internal structures (not a public API).
 *
 * Owns: the in-memory picture of the queue. Every message qmgr knows is a
 * struct qmsg in exactly one list:
 *   incoming  known (notification or scan) but not loaded yet
 *   active    loaded; its recipients are being delivered
 *   deferred  waiting in deferred/ for its next try
 *   hold      in hold/ until released
 * An active message's recipients are expanded into delivery units
 * (struct dlv: one final address each, e.g. the targets of an alias);
 * units of the same transport and next hop travel together as one job
 * (struct job) over one connection to a delivery agent.
 *
 * Files: qmgr.c (process, sockets, scan, timers, control commands),
 * expand.c (recipients → delivery units), transport.c (agent
 * connections, dproto), finish.c (logging, deferral, bounces, removal).
 */
#ifndef YUBIN_QMGR_H
#define YUBIN_QMGR_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib-queue/queue.h"
#include "lib-table/table.h"

struct config;
struct evloop;
struct resolver;
struct worker;

#define QMGR_ACTIVE_LIMIT   20000    /* qmgr_message_active_limit */
#define QMGR_EXPAND_DEPTH   10       /* alias / .forward nesting */

enum qlist { QL_NONE, QL_INCOMING, QL_ACTIVE, QL_DEFERRED, QL_HOLD };

enum dlv_state { DLV_PENDING, DLV_INFLIGHT, DLV_SENT, DLV_DEFERRED, DLV_BOUNCED, DLV_FORWARDED };

struct dlv {
    int ridx;                  /* envelope recipient this unit came from */
    char *addr;                /* final address, or "|command", "/file" */
    char *rcpt;                /* "|command", "/file": the alias address they came from
                                  (name@domain), logged as to=<> and reported in DSNs */
    char *orig;                /* original recipient as received, for orig_to= and DSNs */
    char *extra;               /* dproto <extra> or NULL */
    char *transport;           /* master.cf service name */
    char *nexthop;
    int depth;                 /* alias/.forward nesting level */
    int unexpanded;            /* deferred before its aliases were expanded: expand on retry */
    enum dlv_state state;
    char dsn[16];
    char *text;                /* status text from the agent */
    char *relay;               /* relay= the agent reported (smtp: "host[addr]:port"), or NULL */
    int dsn_passed;            /* sent to a DSN-capable next hop: no success notice here */
};

struct qmsg {
    struct qmsg *hnext;        /* qid hash chain */
    struct qmsg *next, *prev;  /* list links */
    enum qlist list;
    char qid[QUEUE_ID_MAX];
    struct qref ref;
    int in_file;               /* deferred/ or hold/ file (else a journal record) */
    int loaded;
    struct qenvelope env;
    size_t size;
    struct dlv *dlvs;
    size_t ndlv, capdlv;
    int inflight;              /* jobs not yet answered */
    uint64_t t_active_ms;      /* monotonic, when activated */
    uint64_t t_active_usec;    /* wall clock, when activated (delays=a/...) */
    uint64_t next_try_usec;    /* deferred */
    int deleted;               /* deleted by the administrator while in flight */
    int hold_after;            /* put on hold once the jobs in flight return */
    struct table_wait tw;      /* the expansion waits for a remote table (parked) */
    struct qmgr *q;            /* for tw's wake-up */
};

struct job {
    struct job *next;
    struct qmsg *m;
    struct transport *t;
    size_t *units;             /* indexes into m->dlvs */
    size_t nunits;
    uint64_t t_queued_ms, t_sent_ms;
    uint64_t conn_ms;          /* connection setup time attributed to this job */
};

struct tconn {
    struct tconn *next;
    struct transport *t;
    struct conn *io;           /* lib/conn.h: the agent's socket and buffers */
    int connecting;            /* non-blocking connect not yet known to have worked */
    int going;                 /* the agent went away: gets no new job */
    struct job *job;
    uint64_t t_connect_ms;
};

struct transport {
    struct transport *next;
    struct qmgr *q;
    char *name;                /* master.cf service name */
    char *sock;                /* $queue_directory/private/<name> */
    int maxconn;
    int nconn;
    int rcpt_limit;            /* <name>_destination_recipient_limit: units per job */
    struct tconn *conns;
    struct job *qhead, **qtail;
    size_t qlen;
    uint64_t failing_since_ms; /* connects keep failing since (0 = fine) */
    struct ev_timer *retry;
};

struct qmgr {
    struct worker *w;
    struct match_list *mailq_users; /* authorized_mailq_users; NULL: nobody else */
    struct match_list *flush_users; /* authorized_flush_users; NULL: nobody else */
    struct config *cfg;
    struct evloop *loop;
    struct resolver *resolver;
    struct queue_writer *qw;   /* for bounces and notices */
    char *queue_dir, *deferred_dir, *hold_dir;
    struct qmsg **hash;
    size_t nhash, nmsgs;
    struct qmsg *lists[5];     /* heads, by enum qlist */
    struct qmsg *tails[5];
    size_t counts[5];
    int activating;            /* qmgr_activate_more() is running */
    uint64_t last_rescan_ms, last_gc_ms;
    struct transport *transports;
    int dirty_done;            /* done marks waiting for queue_done_sync */
    int stopping;
    uint64_t earliest_deferred_usec;

    /* Parameters. */
    char *myhostname, *myorigin, *mail_name, *recipient_delimiter;
    uint64_t min_backoff_us, max_backoff_us, max_lifetime_us, bounce_lifetime_us;
    uint64_t delay_warning_us; /* delay_warning_time; 0 = no delay warnings */
    uint64_t queue_run_delay_ms;
    size_t bounce_size_limit;
    int rcpt_limit;            /* default_destination_recipient_limit */
};

/* qmgr.c */
struct qmsg *qmgr_find(struct qmgr *q, const char *qid);
void qmgr_list_move(struct qmgr *q, struct qmsg *m, enum qlist to);
void qmgr_forget(struct qmgr *q, struct qmsg *m);
void qmgr_activate_more(struct qmgr *q);
int qmgr_activate(struct qmgr *q, struct qmsg *m);
struct qmsg *qmgr_add(struct qmgr *q, const struct qref *ref, const char *qid, int in_file,
                      enum qlist list);

/* expand.c */
void qmgr_expand_message(struct qmgr *q, struct qmsg *m);
size_t qmgr_expand_forward(struct qmgr *q, struct qmsg *m, size_t unit, const char *addrs);
/* local(8) passed the unit on to "transport:nexthop" (mailbox_transport). */
void qmgr_expand_pass(struct qmgr *q, struct qmsg *m, size_t unit, const char *to);
struct dlv *qmgr_dlv_new(struct qmsg *m, int ridx, const char *addr, const char *orig, int depth);
void qmgr_dlv_set_final(struct dlv *d, enum dlv_state st, const char *dsn, const char *text);
void qmgr_dlv_free(struct dlv *d);
/* The address a unit is logged and reported as: the alias for "|command" and "/file". */
const char *qmgr_dlv_rcpt(const struct dlv *d);

/* transport.c */
struct transport *qmgr_transport_get(struct qmgr *q, const char *name);
void qmgr_transport_submit(struct qmgr *q, struct qmsg *m);
void qmgr_transport_free_all(struct qmgr *q);
void qmgr_transport_kick(struct qmgr *q);

/* finish.c */
void qmgr_finish_log_unit(struct qmgr *q, struct qmsg *m, struct dlv *d, const struct job *job);
void qmgr_finish_maybe(struct qmgr *q, struct qmsg *m);
int qmgr_finish_delete(struct qmgr *q, struct qmsg *m);
void qmgr_mark_done(struct qmgr *q, struct qmsg *m, int idx);

#endif
