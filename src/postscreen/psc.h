/*
 * psc.h - postscreen's internals: the server (parameters, tables, DNS, the
 * cache) and one screened client session. Postfix's postscreen(8) in one
 * event-driven process: before-220 tests (pregreet, DNSBL), the dummy SMTP
 * engine's deep tests after 220 (pipelining, non-SMTP command, bare
 * newline), the cache of passed tests, and the hand-off of a client that
 * passed to the smtpd "pass" service (lib-master/passfd.h).
 */
#ifndef YUBIN_PSC_H
#define YUBIN_PSC_H

#include "postscreen/psc_parse.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct config;
struct evloop;
struct ev_timer;
struct dns;
struct conn;
struct maps;
struct table;
struct match_list;
struct psc_cache;
struct psc_query;

/* The tests a client can pass, each with its own expiry in the cache. */
enum psc_test { PSC_T_PREGR, PSC_T_DNSBL, PSC_T_PIPEL, PSC_T_NSMTP, PSC_T_BARLF, PSC_T_COUNT };

#define PSC_LINE_MAX 2048          /* a command line in the dummy engine (line_length_limit) */
#define PSC_PEEK_MAX 1024          /* bytes looked at for PREGREET */
#define PSC_REPLY_MAX 512          /* a reply made for one client */
#define PSC_NAME_MAX 255           /* HELO name, envelope address kept for the log */

struct psc_server {
    struct config *cfg;
    struct evloop *loop;
    struct dns *dns;
    struct psc_cache *cache;
    struct match_list *mynetworks;
    struct maps *access;            /* the tables of postscreen_access_list */
    int access_mynetworks;          /* permit_mynetworks in it */
    struct maps *reply_map;         /* postscreen_dnsbl_reply_map */
    struct table *forbidden;        /* the table in postscreen_forbidden_commands, if any */
    char **forbidden_words;         /* its plain words (CONNECT GET POST) */
    struct psc_dnsbl_site sites[PSC_DNSBL_SITES_MAX];
    size_t nsites;
    int *listen_fds;
    size_t nlisten;
    char *pass_path;                /* the smtpd pass service's socket */
    int stopping;
    size_t nsessions;
    struct psc_session *sessions;

    /* parameters */
    char *myhostname, *banner, *teaser, *reject_footer;
    uint64_t greet_wait_ms, cmd_time_ms, proxy_timeout_ms, watchdog_ms;
    long long greet_ttl, dnsbl_min_ttl, dnsbl_max_ttl, pipel_ttl, nsmtp_ttl, barlf_ttl;
    long long cache_retention, cache_cleanup;
    enum psc_action greet_action, deny_action, dnsbl_action, pipel_action, nsmtp_action,
        barlf_action;
    int pipel_enable, nsmtp_enable, barlf_enable, disable_vrfy, helo_required;
    int use_tls, enforce_tls, proxy_haproxy, respectful;
    long long dnsbl_threshold, dnsbl_allow_threshold;
    long long cmd_count_limit, pre_queue_limit, post_queue_limit, client_count_limit;
    long long message_size_limit;
};

enum psc_phase { PSC_PROXY, PSC_EARLY, PSC_SMTP, PSC_DONE };

struct psc_session {
    struct psc_server *srv;
    struct psc_session *next, *prev;
    int fd;
    enum psc_phase phase;
    char addr[64], port[8], saddr[64], sport[8];
    uint64_t start_ms;              /* of the current test phase */
    const char *test_name;          /* for HANGUP: "tests before SMTP handshake" ... */
    struct ev_timer *timer;
    int watching;                   /* fd registered with the loop (early phases) */

    /* tests */
    time_t expire[PSC_T_COUNT];     /* from the cache: passed until then */
    unsigned todo, pass, fail;      /* bit (1 << enum psc_test) */
    int is_new;                     /* not in the cache (or expired): PASS NEW */
    int noforward;                  /* never goes to smtpd (enforce/drop or deep tests) */
    int pregr_done;
    struct psc_query *queries;      /* DNSBL queries without an answer (psc_dnsbl.c) */
    int dnsbl_pending;              /* how many */
    int dnsbl_done;
    int dnsbl_score;
    unsigned dnsbl_ttl;             /* smallest TTL of the listing answers; 0 none */
    const char *dnsbl_name;         /* the site named in the reply: the highest weight */
    int dnsbl_best;                 /* its weight */
    const char *rcpt_reply;         /* what RCPT gets in the dummy engine */
    char *reply_buf;                /* a reply made for this client (psc_reply_set) */
    const char *final_reply;        /* drop: sent before closing */
    int x21;                        /* the next command gets final_reply */

    /* dummy SMTP engine */
    struct conn *conn;
    int helo_seen, mail_seen, esmtp;
    char *helo, *sender;            /* NULL until given */
    long long ncmds;
    const char *where;              /* the last command, for the log */
};

/* postscreen.c */
void psc_conclude(struct psc_session *s);
void psc_hangup(struct psc_session *s);
void psc_session_free(struct psc_session *s);
void psc_log_delay(const struct psc_session *s, char *out, size_t outlen);
/* Make s->reply_buf (replacing the last one) and return it. */
const char *psc_reply_set(struct psc_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* psc_dnsbl.c */
void psc_dnsbl_start(struct psc_session *s, void (*done)(struct psc_session *s));
void psc_dnsbl_cancel(struct psc_session *s);

/* psc_smtpd.c */
void psc_smtpd_start(struct psc_session *s);
void psc_smtpd_stop(struct psc_session *s);

/* psc_cache.c: expiry times of the tests of one address. */
struct psc_cache *psc_cache_open(const char *spec, char *err, size_t errlen);
void psc_cache_close(struct psc_cache *c);
int psc_cache_get(struct psc_cache *c, const char *addr, time_t expire[PSC_T_COUNT]);
void psc_cache_put(struct psc_cache *c, const char *addr, const time_t expire[PSC_T_COUNT]);
/* Remove entries whose every test expired more than retention seconds ago. */
void psc_cache_cleanup(struct psc_cache *c, time_t now, long long retention);

#endif
