/*
 * milter.h - the Sendmail milter protocol (version 2 to 6), without I/O.
 *
 * Owns: the wire format of the protocol's packets (a 32-bit length, a
 * command byte, the data), encoding of every command the MTA sends
 * (option negotiation, macros, connect, helo, mail, rcpt, data, unknown,
 * header, end of header, body, end of message, abort, quit), decoding and
 * validation of every reply a milter sends (the negotiation reply with its
 * macro lists, accept/continue/discard/reject/tempfail/replycode/progress/
 * skip/quarantine and the modifications), the milter list syntax of
 * main.cf (`inet:host:port`, `unix:path`, `{ name, key=value ... }`), and
 * the edits a milter asks for on a message held in memory with LF line
 * ends (milter_edit.c). Sockets, timeouts and policy belong to the user
 * (smtpd/milter.c).
 */
#ifndef YUBIN_MILTER_H
#define YUBIN_MILTER_H

#include "lib/buf.h"

#include <stddef.h>
#include <stdint.h>

/* Commands (MTA -> milter). */
#define SMFIC_ABORT    'A'
#define SMFIC_BODY     'B'
#define SMFIC_CONNECT  'C'
#define SMFIC_MACRO    'D'
#define SMFIC_BODYEOB  'E'
#define SMFIC_HELO     'H'
#define SMFIC_QUIT_NC  'K'
#define SMFIC_HEADER   'L'
#define SMFIC_MAIL     'M'
#define SMFIC_EOH      'N'
#define SMFIC_OPTNEG   'O'
#define SMFIC_QUIT     'Q'
#define SMFIC_RCPT     'R'
#define SMFIC_DATA     'T'
#define SMFIC_UNKNOWN  'U'

/* Replies (milter -> MTA). */
#define SMFIR_ADDRCPT     '+'
#define SMFIR_DELRCPT     '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN    '4'
#define SMFIR_ACCEPT      'a'
#define SMFIR_REPLBODY    'b'
#define SMFIR_CONTINUE    'c'
#define SMFIR_DISCARD     'd'
#define SMFIR_CHGFROM     'e'
#define SMFIR_CONN_FAIL   'f'
#define SMFIR_ADDHEADER   'h'
#define SMFIR_INSHEADER   'i'
#define SMFIR_SETSYMLIST  'l'
#define SMFIR_CHGHEADER   'm'
#define SMFIR_PROGRESS    'p'
#define SMFIR_QUARANTINE  'q'
#define SMFIR_REJECT      'r'
#define SMFIR_SKIP        's'
#define SMFIR_TEMPFAIL    't'
#define SMFIR_REPLYCODE   'y'

/* Actions a milter may take (negotiated). */
#define SMFIF_ADDHDRS     0x01
#define SMFIF_CHGBODY     0x02
#define SMFIF_ADDRCPT     0x04
#define SMFIF_DELRCPT     0x08
#define SMFIF_CHGHDRS     0x10
#define SMFIF_QUARANTINE  0x20
#define SMFIF_CHGFROM     0x40
#define SMFIF_ADDRCPT_PAR 0x80
#define SMFIF_SETSYMLIST  0x100
#define MILTER_ACTIONS    0x1ff   /* what yubin offers: all of them */

/* Protocol flags (negotiated): stages not sent, replies not expected. */
#define SMFIP_NOCONNECT   0x1
#define SMFIP_NOHELO      0x2
#define SMFIP_NOMAIL      0x4
#define SMFIP_NORCPT      0x8
#define SMFIP_NOBODY      0x10
#define SMFIP_NOHDRS      0x20
#define SMFIP_NOEOH       0x40
#define SMFIP_NR_HDR      0x80
#define SMFIP_NOUNKNOWN   0x100
#define SMFIP_NODATA      0x200
#define SMFIP_SKIP        0x400
#define SMFIP_RCPT_REJ    0x800
#define SMFIP_NR_CONN     0x1000
#define SMFIP_NR_HELO     0x2000
#define SMFIP_NR_MAIL     0x4000
#define SMFIP_NR_RCPT     0x8000
#define SMFIP_NR_DATA     0x10000
#define SMFIP_NR_UNKN     0x20000
#define SMFIP_NR_EOH      0x40000
#define SMFIP_NR_BODY     0x80000
#define SMFIP_HDR_LEADSPC 0x100000
/* What yubin offers: everything but RCPT_REJ and the large-buffer flags. */
#define MILTER_PROTO_V6   0x1ff7ff
#define MILTER_PROTO_V2   0x7f

/* Macro stages (SMFIM_*), the index of milter_neg.macros. */
enum milter_stage {
    MS_CONNECT = 0, MS_HELO, MS_MAIL, MS_RCPT, MS_DATA, MS_EOM, MS_EOH, MS_COUNT
};

#define MILTER_CHUNK      65535        /* body bytes per SMFIC_BODY */
#define MILTER_PKT_MAX    (1024 * 1024) /* largest packet accepted from a milter */
#define MILTER_REPLY_LINES 16          /* lines of a multi-line SMFIR_REPLYCODE */

/* One decoded packet; data points into the caller's buffer. */
struct milter_pkt {
    char cmd;
    const char *data;
    size_t len;
};

/*
 * Take one packet from in[0..avail): 1 (p, *used set), 0 incomplete, -1
 * malformed (a length of 0 or above MILTER_PKT_MAX).
 */
int milter_pkt_decode(const char *in, size_t avail, struct milter_pkt *p, size_t *used);

/* Building packets: begin returns the mark that end patches the length at. */
size_t milter_pkt_begin(struct buf *out, char cmd);
void milter_pkt_end(struct buf *out, size_t mark);
void milter_put_u32(struct buf *out, uint32_t v);
void milter_put_str(struct buf *out, const char *s);   /* with its NUL */
/* A whole packet of len bytes. */
void milter_put_pkt(struct buf *out, char cmd, const void *data, size_t len);

void milter_put_optneg(struct buf *out, uint32_t version, uint32_t actions, uint32_t proto);
/* SMFIC_MACRO for stage cmd (the command letter), names[i] = values[i]. */
void milter_put_macros(struct buf *out, char cmd, const char *const *names,
                       const char *const *values, size_t n);
/* family: 'U', 'L', '4', '6' (SMFIA_*). */
void milter_put_connect(struct buf *out, const char *hostname, char family, unsigned port,
                        const char *addr);
/* MAIL/RCPT: "<addr>" then each ESMTP argument. */
void milter_put_envelope(struct buf *out, char cmd, const char *addr, const char *const *args,
                         size_t nargs);
void milter_put_header(struct buf *out, const char *name, const char *value);

/* The negotiation reply. */
struct milter_neg {
    uint32_t version, actions, proto;
    const char *macros[MS_COUNT];    /* requested macro lists, or NULL (NUL-terminated in data) */
};
int milter_neg_parse(const struct milter_pkt *p, struct milter_neg *n);

/* A reply, validated: strings point into the packet's data and end in NUL there. */
struct milter_reply {
    char cmd;
    uint32_t index;          /* INSHEADER, CHGHEADER */
    const char *s1, *s2;     /* header name/value; address/args; reason; reply text */
    const char *body;        /* REPLBODY */
    size_t body_len;
    int code;                /* REPLYCODE: 4xx or 5xx */
};
/* 0, or -1 when the reply is malformed or unknown. */
int milter_reply_parse(const struct milter_pkt *p, struct milter_reply *r);
/*
 * The lines of a REPLYCODE text ("550-5.7.1 one\r\n550 5.7.1 two"): each
 * line's text after the code and separator into lines[i] (the caller's
 * storage, NUL-terminated, at most linesz bytes each). Returns the count
 * (1..MILTER_REPLY_LINES), or -1 when a line does not carry the same code.
 */
int milter_reply_lines(const char *text, int code, char lines[][512], int maxlines);

/* ---- main.cf milter lists ---- */

struct milter_spec {
    char *name;                      /* "inet:host:port", "unix:/path", "local:path" */
    long long connect_ms, command_ms, content_ms;   /* -1: the global parameter */
    char *default_action;            /* NULL: the global parameter */
    int protocol;                    /* 0: the global parameter */
};
/*
 * Parse a milter list ("inet:a:1, { unix:/s, command_timeout=5s }"): the
 * count, specs allocated in *out; -1 with *err set on a syntax error.
 */
int milter_specs_parse(const char *list, struct milter_spec **out, char *err, size_t errlen);
void milter_specs_free(struct milter_spec *v, size_t n);
/* accept, reject, tempfail, quarantine: 1, else 0. */
int milter_action_valid(const char *a);

/* ---- edits on a message in memory (LF line ends; milter_edit.c) ---- */

/* Offset just after the last header line (where the empty line or body starts). */
size_t milter_header_end(const char *msg, size_t len);
/* Append a header at the end of the header block. */
int milter_hdr_add(struct buf *msg, const char *name, const char *value, int leadspc);
/* Insert as header number idx (0: the first). */
int milter_hdr_insert(struct buf *msg, uint32_t idx, const char *name, const char *value,
                      int leadspc);
/* Change the idx-th (1-based) header called name; an empty value deletes it; none: add. */
int milter_hdr_change(struct buf *msg, uint32_t idx, const char *name, const char *value,
                      int leadspc);
/* Replace the body (the data after the header block and its empty line) with CRLF text. */
int milter_body_replace(struct buf *msg, const char *body, size_t len);

/* Walk the headers: each call gives the next header's name and value (unfolded text kept). */
struct milter_hdr_iter {
    const char *msg;
    size_t end, pos;
};
void milter_hdr_iter_init(struct milter_hdr_iter *it, const char *msg, size_t len);
/* 1 and name/value (pointers into msg, lengths), or 0 at the end. */
int milter_hdr_next(struct milter_hdr_iter *it, const char **name, size_t *nlen,
                    const char **value, size_t *vlen);

#endif
