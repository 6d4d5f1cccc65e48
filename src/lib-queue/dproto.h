/*
 * dproto.h - the delivery request protocol between qmgr and the delivery
 * agents (local, virtual, smtp), over the agent's UNIX socket private/<service>.
 *
 * qmgr keeps connections open and sends one request at a time per
 * connection; an agent process serves one connection at a time. Text,
 * line based, every line (including its "\n") at most DPROTO_LINE_MAX
 * bytes, fields separated by TAB. No field may contain TAB, CR, LF or
 * NUL: the encoder refuses such values and the parser rejects the line
 * (addresses with those bytes are refused at SMTP time anyway), except
 * in attribute values, where the encoder replaces every control
 * character (and DEL) by '?' instead.
 *
 * Request (qmgr -> agent):
 *   DELIVER\t<qid>\t<path>\t<content_offset>\t<content_length>\n
 *   S\t<sender>\n                       exactly once; "" for <>
 *   A\t<name>\t<value>\n                zero or more attributes
 *   R\t<idx>\t<recipient>\t<original recipient>\t<extra>\n   one or more
 *   .\n
 *
 *   <path> is the absolute path of the journal segment or deferred/hold
 *   file; <content_offset>/<content_length> locate the message CONTENT
 *   (headers + body, LF line endings) inside it, so the agent never
 *   parses queue records: it preads those bytes and nothing else.
 *   <qid> is [A-Za-z0-9]{1,31}. <idx> is qmgr's handle for the recipient
 *   (decimal, 0..INT_MAX), unique within one request; replies quote it.
 *   <original recipient> is the address as received (before aliasing),
 *   possibly "" when unknown. At most DPROTO_RCPT_MAX recipients.
 *
 *   Attributes (unknown names are ignored by agents):
 *     arrival          arrival time, seconds since the epoch ("S" or "S.uuuuuu")
 *     active           when this delivery attempt began (the message entered
 *                      qmgr's active queue), seconds since the epoch, as arrival
 *     smtputf8         "1" when the message needs SMTPUTF8 (the client asked for it)
 *     body             "8BITMIME" when the client declared BODY=8BITMIME
 *     nexthop          the next hop every recipient of the request shares
 *                      (qmgr groups jobs by transport and next hop): the
 *                      recipient domain, relayhost, or the ":nexthop" of
 *                      a transport_maps result, e.g. "example.com",
 *                      "[mail.example.com]:587". Absent or "" when unknown.
 *     envid            DSN ENVID (RFC 3461), xtext-encoded as <extra>
 *                      values are; absent when the client gave none
 *     ret              DSN RET: "FULL" or "HDRS"; absent when not given
 *     client_name, client_address, helo_name, protocol,
 *     sasl_method, sasl_username, sasl_sender
 *                      exported to commands as CLIENT_HOSTNAME,
 *                      CLIENT_ADDRESS, CLIENT_HELO, CLIENT_PROTOCOL,
 *                      SASL_METHOD, SASL_USERNAME, SASL_SENDER
 *
 *   <extra> is "-" for an ordinary recipient (virtual mailbox, or a
 *   local user "user@domain"). Otherwise it is a comma-separated list of
 *   key=value pairs, values xtext-encoded (RFC 3461 "+XX", additionally
 *   encoding ',' and '='), order free, each key at most once:
 *     alias=<address>   the local address whose alias expansion produced
 *                       this recipient; it becomes Delivered-To: and the
 *                       $RECIPIENT/$LOCAL/... of a command
 *     target=command|file
 *                       set by qmgr's alias expansion, and only there: this
 *                       recipient is the "|command" or "/file" (or "/dir/")
 *                       target itself. Without it, a recipient that merely
 *                       starts with '|' or '/' is a user name like any other
 *                       (a remote sender's address never becomes a command).
 *     include=<path>    with class=include: the :include: file that listed
 *                       the target. The agent opens it itself: its owner
 *                       gives the privileges, and the target must be listed
 *                       in it.
 *     class=alias|include
 *                       where the target came from, checked against
 *                       allow_mail_to_commands / allow_mail_to_files
 *                       (default alias). For class=alias the agent checks
 *                       that alias_maps lists the target for <alias> and
 *                       runs it as the owner of the alias database
 *                       (default_privs when that is root). Privileges never
 *                       come from the request: the root-run agent decides
 *                       them (uid from the file's owner, gid from that
 *                       uid's passwd entry).
 *     direct=1          "\user" alias target: deliver to the user's
 *                       mailbox, do not read ~/.forward
 *     notify=<n>        DSN NOTIFY given by the client, the DSN_NOTIFY_*
 *                       bits of queue.h in decimal (1 NEVER, 2 SUCCESS,
 *                       4 FAILURE, 8 DELAY); absent when not given
 *     orcpt=<type;addr> DSN ORCPT (decoded "rfc822;user@example.com");
 *                       absent when unknown (the SMTP client then sends
 *                       "rfc822;" + <original recipient>)
 *   For alias targets, <recipient> is the target itself:
 *   "|/usr/bin/procmail -a x", "/var/log/all-mail", "/srv/box/" (maildir),
 *   or "user@domain" with direct=1.
 *
 * Reply (agent -> qmgr), one line per recipient in any order, then a dot:
 *   S\t<idx>\t<class>\t<dsn>\t<text>\n
 *   S\t<idx>\t<class>\t<dsn>\t<text>\t<relay>\n
 *     class: "sent" (dsn 2.x.x), "deferred" (4.x.x), "bounced" (5.x.x),
 *            "passed" (2.x.x): sent to a server that announced DSN and
 *            was given the recipient's NOTIFY/ORCPT, so success notices
 *            are its business from now on (qmgr sends none),
 *            "forward" (2.x.x): the recipient's ~/.forward lists other
 *            addresses; <text> is that list, comma-separated, each
 *            address xtext-encoded as above (dproto_forward_split()).
 *            qmgr resolves and delivers to those addresses instead;
 *            "|command" and "/file" entries of the .forward file have
 *            already been delivered by the agent,
 *            "pass" (2.x.x): deliver this recipient through another
 *            transport; <text> is "transport:nexthop" (local(8)'s
 *            mailbox_transport: qmgr routes the address there),
 *     dsn:   enhanced status, e.g. 2.0.0, 4.2.2, 5.1.1
 *     text:  e.g. "delivered to maildir", "unknown user: \"x@y\""
 *     relay: optional, what qmgr logs as relay= (the transport name when
 *            absent): the SMTP client reports "mx.example.com[192.0.2.1]:25",
 *            or "none" when no server was reached. 1..DPROTO_RELAY_MAX-1
 *            printable bytes without spaces; never sent with "forward".
 *   .\n
 * A connection that does not complete a request in time is closed by
 * the agent; qmgr treats a lost connection as "deferred" for every
 * recipient of the request that has no status yet.
 */
#ifndef YUBIN_DPROTO_H
#define YUBIN_DPROTO_H

#include <stddef.h>
#include <sys/types.h>

#define DPROTO_LINE_MAX 4096
#define DPROTO_RCPT_MAX 1000
#define DPROTO_ATTR_MAX 64
#define DPROTO_RELAY_MAX 320     /* "host[address]:port" */
#define DPROTO_ORCPT_MAX 1024

struct dreq_rcpt {
    int idx;                 /* qmgr's handle, unique within the request */
    char *addr;              /* recipient (alias targets: "|cmd", "/file") */
    char *orig;              /* original recipient ("" when unknown) */
    char *extra;             /* "-" or key=value list, see above */
};

struct dreq_attr {
    char *name;
    char *value;
};

struct dreq {
    char qid[32];
    char path[512];
    off_t offset;            /* content offset within path */
    size_t length;           /* content length */
    char *sender;            /* "" for the null sender; NULL until the S line */
    struct dreq_attr *attrs;
    size_t nattrs;
    struct dreq_rcpt *rcpts;
    size_t nrcpts;
    /* parser state */
    int state;               /* 0 = want DELIVER, 1 = in request, 2 = complete */
    const char *error;       /* static text after -1 from the parser */
};

struct dstatus {
    int idx;
    char cls[16];            /* sent / deferred / bounced / forward */
    char dsn[16];
    char text[DPROTO_LINE_MAX];
    char relay[DPROTO_RELAY_MAX]; /* "" = none reported (dstatus_set clears it) */
};

/* Parsed <extra> field. */
struct dextra {
    char alias[512];         /* "" when absent */
    char target[16];         /* "command", "file" or "" (not an alias target) */
    char include[1024];      /* class=include: the file that listed the target, or "" */
    char cls[16];            /* "alias" (default), "include", "forward" */
    int direct;
    int notify;              /* DSN_NOTIFY_* bits, 0 when absent */
    char orcpt[DPROTO_ORCPT_MAX]; /* "" when absent */
};

/* ---- requests ---- */

/* Zero a request before parsing into it (or memset it to 0). */
void dproto_init_request(struct dreq *r);
/*
 * Encode into a malloc'd string (caller frees). NULL when a field holds
 * TAB/CR/LF/NUL, a line would exceed DPROTO_LINE_MAX, the qid is not
 * alphanumeric, there are no recipients or more than DPROTO_RCPT_MAX.
 * Attribute values are the exception: their control characters and DEL
 * are sent as '?'. r->sender NULL is sent as "". NULL/"" extra is sent as "-".
 */
char *dproto_encode_request(const struct dreq *r);
/*
 * Parse one line (with or without its trailing "\n") into r. Returns 1
 * when the request is complete ('.'), 0 for more, -1 on error (r->error
 * says why; the connection should be dropped).
 */
int dproto_parse_request_line(struct dreq *r, const char *line);
void dproto_free_request(struct dreq *r);
/* Value of attribute name, or NULL. */
const char *dproto_attr(const struct dreq *r, const char *name);
/* Add a recipient / attribute when building a request (strings are copied). */
void dproto_add_rcpt(struct dreq *r, int idx, const char *addr, const char *orig,
                     const char *extra);
void dproto_add_attr(struct dreq *r, const char *name, const char *value);

/* <extra>: parse ("-", NULL and "" give the defaults) / format ("-" when empty). 0 or -1. */
int dproto_extra_parse(const char *s, struct dextra *x);
void dproto_extra_init(struct dextra *x);
int dproto_extra_format(const struct dextra *x, char *out, size_t outlen);

/* ---- replies ---- */

/*
 * Format "S\t...\n" into out. Control characters in text are replaced
 * by spaces and an over-long text is truncated (except for class
 * "forward", which fails instead). 0, or -1 on a bad class/dsn.
 */
int dproto_format_status(const struct dstatus *s, char *out, size_t outlen);
/* Parse "S\t..." line; returns 1 for a status, 0 for the terminating ".", -1 on error. */
int dproto_parse_status(const char *line, struct dstatus *s);
/* Fill s (idx, class derived from the dsn's first digit, text printf-style; relay ""). */
void dstatus_set(struct dstatus *s, int idx, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Set the relay field (truncated to fit; NULL clears it). */
void dstatus_set_relay(struct dstatus *s, const char *relay);

/* ---- forward lists and xtext ---- */

/* Join addresses for a "forward" status text. 0, or -1 if it does not fit. */
int dproto_forward_join(char *const *addrs, size_t n, char *out, size_t outlen);
/* Split a "forward" text into a NULL-terminated strv (strv_free), NULL if malformed. */
char **dproto_forward_split(const char *text);
/*
 * xtext with ',' and '=' also encoded. encode: 0, or -1 (out gets "") when it does not fit
 * or s holds TAB, CR or LF, which decode refuses; decode: 0 or -1 (malformed).
 */
int dproto_xtext_encode(const char *in, char *out, size_t outlen);
int dproto_xtext_decode(const char *in, char *out, size_t outlen);

#endif
