/*
 * smtp.h - the smtp(8) delivery agent: yubin's SMTP client for relayed
 * mail, with Postfix's semantics (master.cf command "smtp"; the services
 * "smtp" and "relay" both run it).
 *
 * One process serves one qmgr connection at a time and one delivery
 * request at a time (serve.h); a request is one message for recipients
 * that share a next hop (the "nexthop" attribute of dproto.h). The agent
 * finds the servers for that next hop (MX, then A/AAAA; [host] without
 * MX), talks SMTP to them in preference order until every recipient has a
 * final status or the servers are exhausted, and answers one status line
 * per recipient with Postfix's texts and relay=host[addr]:port.
 *
 * The same agent is lmtp(8) (master.cf command "lmtp"): LHLO instead of
 * EHLO (no HELO fall-back), one reply per accepted recipient after the
 * data (RFC 2033), next hops "unix:/path" or "unix:private/name" (under
 * queue_directory, relay=myhostname[private/name]), "inet:host:port",
 * "[host]:port" or "host:port" (port lmtp_tcp_port, 24; never MX), and
 * every setting under its lmtp_* name.
 *
 * Files:
 *   smtp.c          process entry (smtp_main), settings from main.cf, one request
 *   smtp_dest.c     next-hop syntax, ports, our own addresses, server list order
 *   smtp_dns.c      MX, A, AAAA through the resolver (dns.h, blocking mode), native lookups
 *   smtp_reply.c    server replies (multi-line, enhanced codes) and status texts
 *   smtp_data.c     message content: size/8-bit scan, LF->CRLF, dot-stuffing
 *   smtp_session.c  one SMTP session: connect, greeting, EHLO, STARTTLS, MAIL/RCPT/DATA
 */
#ifndef YUBIN_DELIVER_SMTP_H
#define YUBIN_DELIVER_SMTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "lib-queue/dproto.h"
#include "lib-tls/tls.h"

struct config;

#define SMTP_HOST_MAX   256       /* a host or domain name, NUL included */
#define SMTP_NAMADDR_MAX (SMTP_HOST_MAX + 64)
#define SMTP_REPLY_MAX  2048      /* reply text kept for status texts */
#define SMTP_LINE_MAX   4096      /* longest reply line we read (longer: rest dropped) */
#define SMTP_REPLY_LINES_MAX 1000 /* a reply with more lines is a protocol error */
#define SMTP_DEST_MAX   32        /* destinations in one next-hop list */
#define SMTP_ADDR_TEXT_MAX 110    /* an address as text: IPv6, or a UNIX socket path */

/* ---- settings (smtp.c) ---- */

struct smtp_own_addr {            /* one of our own addresses (loop detection) */
    int family;
    unsigned char a[16];
};

struct smtp_settings {
    int lmtp;                     /* lmtp(8): LHLO, per-recipient replies, lmtp_* names */
    char helo_name[SMTP_HOST_MAX]; /* smtp_helo_name / lmtp_lhlo_name */
    char known_ports[512];        /* known_tcp_ports */
    unsigned default_port;        /* smtp_tcp_port */
    int connect_timeout;          /* seconds; 0: the kernel's */
    int helo_timeout, mail_timeout, rcpt_timeout, data_init_timeout;
    int data_xfer_timeout, data_done_timeout, quit_timeout, starttls_timeout;
    int mx_address_limit;         /* 0 = no limit */
    int mx_session_limit;         /* 0 = no limit */
    int randomize;                /* smtp_randomize_addresses */
    int addr_pref;                /* smtp_address_preference: 0 any, 4, 6 */
    int balance;                  /* smtp_balance_inet_protocols */
    int want4, want6;             /* inet_protocols */
    int dns;                      /* DNS lookups enabled (disable_dns_lookups, smtp_dns_support_level) */
    int host_dns, host_native;    /* smtp_host_lookup */
    int skip_5xx_greeting;
    int never_ehlo;
    int send_xforward;            /* smtp_send_xforward_command */
    int xforward_timeout;         /* smtp_xforward_timeout */
    int defer_if_no_mx_address;
    int ignore_mx_lookup_error;
    int line_limit;               /* smtp_line_length_limit, 0 = none */
    long min_backoff;             /* minimal_backoff_time: "may" falls back to plaintext
                                     only for mail that waited at least this long */
    enum tls_level tls_level;     /* smtp_tls_security_level (tls_client_level) */
    struct tls_client *tls;       /* NULL: TLS unavailable (or not wanted) */
    char **fallback_relay;        /* smtp_fallback_relay (NULL-terminated) */
    char **discard_ehlo;          /* smtp_discard_ehlo_keywords, lowercase */
    struct sockaddr_storage bind4, bind6;
    int have_bind4, have_bind6;
    struct smtp_own_addr *own;    /* inet_interfaces + proxy_interfaces */
    size_t nown;
    const char *queue_dir;        /* queue files must lie below it (NULL: any) */
    char *config_error;           /* set: defer everything, say why */
};

/* tls: a client context made before privileges were dropped (taken over), or NULL.
 * lmtp: read the lmtp_* parameters and speak LMTP. */
int smtp_settings_init(struct smtp_settings *s, const struct config *cfg, const char *queue_dir,
                       struct tls_client *tls, int lmtp);
void smtp_settings_free(struct smtp_settings *s);

/* ---- next hops (smtp_dest.c) ---- */

struct smtp_dest {
    char host[SMTP_HOST_MAX];     /* domain, host name, or numeric address */
    unsigned port;
    int mx;                       /* 1: look up MX records (domain form) */
    int literal;                  /* host is a numeric address */
};

/*
 * Parse one destination: "domain", "domain:port", "[host]", "[host]:port",
 * "[address]", "[ipv6:address]:port". port names come from
 * known_tcp_ports ("smtp=25, ...") or services(5). 0, or -1 with err.
 */
int smtp_dest_parse(const char *text, unsigned default_port, const char *known_ports,
                    struct smtp_dest *d, char *err, size_t errlen);
/* A port: decimal 1..65535, a known_tcp_ports name, or a services(5) name. 0 or -1. */
int smtp_port_parse(const char *s, const char *known_ports, unsigned *port);
/* Split a next-hop list on commas and white space (Postfix 3.5). NULL-terminated strv. */
char **smtp_dest_split(const char *list);

/* One server address to try. */
struct smtp_addr {
    struct sockaddr_storage sa;   /* port filled in when connecting */
    socklen_t salen;
    int pref;                     /* MX preference (0 for [host] and A/AAAA fallback) */
    char host[SMTP_HOST_MAX];     /* server name for texts ("mx.example.com") */
    char text[SMTP_ADDR_TEXT_MAX]; /* "192.0.2.1", or a UNIX socket as named ("private/x") */
};

struct smtp_addr_list {
    struct smtp_addr *v;
    size_t n, cap;
};

void smtp_addr_list_add(struct smtp_addr_list *l, const struct smtp_addr *a);
void smtp_addr_list_free(struct smtp_addr_list *l);
/* Fill a from a numeric address (v4, v6, "ipv6:..."); 0 or -1. */
int smtp_addr_from_text(struct smtp_addr *a, const char *text, const char *host, int pref);
/* Is a one of our own addresses? */
int smtp_addr_is_own(const struct smtp_settings *s, const struct smtp_addr *a);

/* An MX record. */
struct smtp_mx {
    int pref;
    char host[SMTP_HOST_MAX];
};

/*
 * Order MX records: by preference, equal preferences in random order when
 * randomize is set (rnd() gives random numbers; NULL uses random()).
 */
void smtp_mx_sort(struct smtp_mx *mx, size_t n, int randomize, unsigned (*rnd)(void *),
                  void *ctx);
/*
 * Order a server address list the way the SMTP client tries it: stable by
 * preference; equal preferences shuffled (randomize), then the preferred
 * family first (addr_pref 4/6); cut to limit (0 = none), keeping one
 * address of each family when balance is set and both exist.
 */
void smtp_addrs_order(struct smtp_addr_list *l, int randomize, int addr_pref, int balance,
                      int limit, unsigned (*rnd)(void *), void *ctx);
/*
 * MX loop check: if one of our own addresses is in l, drop every address
 * with that preference or worse. Returns 1 when something was dropped
 * (the caller says "loops back to myself" when nothing is left).
 */
int smtp_addrs_truncate_self(const struct smtp_settings *s, struct smtp_addr_list *l);

/* ---- DNS (smtp_dns.c) ---- */

enum { SDNS_OK, SDNS_NOTFOUND, SDNS_NODATA, SDNS_TEMPFAIL, SDNS_NULLMX };

struct dns;
/* A blocking channel of the one resolver (dns.h). NULL on failure. */
struct dns *smtp_dns_new(void);
void smtp_dns_free(struct dns *d);
/* MX records of name, unsorted (*mx malloc'd, caller frees). SDNS_*. */
int smtp_dns_mx(struct dns *d, const char *name, struct smtp_mx **mx, size_t *n);
/* A (family AF_INET) or AAAA records of name appended to l with host/pref. SDNS_*. */
int smtp_dns_addr(struct dns *d, const char *name, int family, const char *host, int pref,
                  struct smtp_addr_list *l);
/* Postfix's text for a DNS result: "Host not found", "Host not found, try again" ... */
const char *smtp_dns_strerror(int status);

/* Why a destination has no usable server. */
struct smtp_err {
    char dsn[16];
    char text[1024];
    int final;                    /* no fall-back relay (null MX, mail loop) */
    int self;                     /* we are an MX host of the destination: no fall-back relay */
};

/*
 * The server addresses for d, in the order to try them (MX lookup,
 * address lookups, loop check when the port is 25, limits). 0 with a non-empty list, or -1
 * with err set (dsn 4.x.x: try later; 5.x.x: the destination does not
 * exist for mail). dns is NULL when DNS lookups are disabled or the
 * resolver could not be set up (then lookups that need it fail softly).
 */
int smtp_resolve(const struct smtp_settings *s, struct dns *dns, const struct smtp_dest *d,
                 struct smtp_addr_list *out, struct smtp_err *err);

/* ---- replies and texts (smtp_reply.c) ---- */

struct smtp_reply {
    int code;                     /* of the last line; 0 while incomplete */
    char dsn[16];                 /* enhanced code, or "X.0.0" from the code */
    char text[SMTP_REPLY_MAX];    /* every line with its code, joined by ' ' */
    size_t len;
    int nlines;
    int garbage;                  /* lines that were not "DDD[ -]text" */
};

void smtp_reply_init(struct smtp_reply *r);
/*
 * Add one reply line (without CR LF). Returns 1 when the reply is
 * complete ("DDD " or "DDD"), 0 when more lines follow ("DDD-" or
 * garbage, kept as text, as Postfix does), -1 when the reply has more
 * than SMTP_REPLY_LINES_MAX lines.
 */
int smtp_reply_line(struct smtp_reply *r, const char *line, size_t len);
/* Enhanced status code x.y.z at the start of text whose class is cls ('2','4','5'): its length, else 0. */
size_t smtp_dsn_prefix(const char *text, char cls);

/* "host mx.example.com[192.0.2.1] said: 550 5.1.1 ... (in reply to RCPT TO command)" */
void smtp_text_said(char *out, size_t outlen, const char *namaddr, const struct smtp_reply *r,
                    const char *command);
/* "mx.example.com[192.0.2.1]" and "mx.example.com[192.0.2.1]:25" */
void smtp_namaddr(char *out, size_t outlen, const struct smtp_addr *a, unsigned port, int with_port);

/* ---- content (smtp_data.c) ---- */

/* LF -> CRLF, dot-stuffing and line length limit over a stream of chunks. */
struct smtp_stuff {
    int bol;                      /* at the beginning of a line */
    size_t col;                   /* bytes on the current output line */
    size_t limit;                 /* 0 = none */
    int any;                      /* some content seen */
    int broke;                    /* a line was broken (logged once per message) */
    int after_cr;                 /* the last byte was a CR (a LF next ends the same line) */
};

void smtp_stuff_init(struct smtp_stuff *s, size_t line_limit);
/* Output size bound for n input bytes. */
size_t smtp_stuff_bound(size_t n);
/*
 * Convert in[0..n) into out (room: smtp_stuff_bound(n)); returns bytes
 * written. LF, CR LF and a bare CR each become one CR LF.
 */
size_t smtp_stuff(struct smtp_stuff *s, const char *in, size_t n, char *out);
/* End of the message: CR LF if the last line was not terminated, then ".\r\n" (room: 8). */
size_t smtp_stuff_end(struct smtp_stuff *s, char *out);

/*
 * Read the content once: its size as sent (CRLF line ends, without the
 * dot-stuffing), whether it has 8-bit bytes, and whether its header
 * section has (hdr8bit may be NULL). 0, or -1 with errno.
 */
int smtp_content_scan(int fd, off_t off, size_t len, unsigned long long *size, int *eightbit,
                      int *hdr8bit);

/* ---- one delivery request (smtp.c, smtp_session.c) ---- */

struct smtp_rcpt {
    const struct dreq_rcpt *r;
    struct dextra x;              /* notify / orcpt */
    int final;                    /* st holds the final word */
    int have_status;              /* st holds the latest (soft or tentative) word */
    int accepted;                 /* RCPT accepted in the current session */
};

struct smtp_job {
    const struct smtp_settings *set;
    const struct dreq *req;
    struct dstatus *st;           /* st[i] for req->rcpts[i] */
    struct smtp_rcpt *rc;
    size_t nrcpts;
    int fd;                       /* the queue file */
    unsigned long long size;      /* content size with CRLF */
    int eightbit;                 /* BODY=8BITMIME: declared, or 8-bit content */
    int smtputf8;                 /* the sender asked for SMTPUTF8 */
    int smtputf8_needed;          /* ... and the envelope or a header is not ASCII */
    int hdr8bit;                  /* 8-bit bytes in the header section */
    const char *ret;              /* "FULL", "HDRS" or NULL */
    char envid[256];              /* decoded, "" when none */
    int final_server;             /* no server is tried after this one */
    long long arrival;            /* microseconds since the epoch, 0 when unknown */
    long long active;             /* when this attempt began (qmgr's active queue), in
                                   * microseconds, 0: unknown */
};

/* Recipients without a final status. */
size_t smtp_job_pending(const struct smtp_job *j);
/* Give pending recipient i a status (final: it is done; otherwise the latest soft word). */
void smtp_job_status(struct smtp_job *j, size_t i, int final, const char *dsn, const char *relay,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The same for every pending recipient (only_accepted: those accepted in this session). */
void smtp_job_status_all(struct smtp_job *j, int only_accepted, int final, const char *dsn,
                         const char *relay, const char *text);

enum smtp_sess_result {
    SMTP_SESS_NEXT,               /* recipients left with soft errors: try another server */
    SMTP_SESS_DONE,               /* nothing left to try for (or a hard failure of the site) */
};

/*
 * One SMTP session with server a (port): deliver to the pending
 * recipients. *counted is set when the session got through EHLO (and
 * TLS), as smtp_mx_session_limit counts. nexthop: the destination as
 * given (for TLS name checks and SNI). At security level "may" a failed
 * TLS handshake is followed by a second session in plaintext.
 */
enum smtp_sess_result smtp_session(struct smtp_job *j, const struct smtp_addr *a, unsigned port,
                                   const char *nexthop, int *counted);

/* Deliver one request: st[i] gets the status of req->rcpts[i]. */
void smtp_deliver_request(const struct smtp_settings *s, const struct dreq *req,
                          struct dstatus *st);

#endif
