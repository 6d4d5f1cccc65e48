/*
 * imap_bodystructure.h - a message's MIME tree as IMAP sees it: BODY and
 * BODYSTRUCTURE (RFC 9051 7.5.2), ENVELOPE of the message and of every
 * message/rfc822 part, and the byte ranges FETCH BODY[section] and
 * BINARY[section] need (imap_section.h).
 *
 * Owns: building that tree from lib-mail's streaming MIME parser (offsets,
 * sizes, line counts) and each part's raw Content-* fields, read the way
 * Dovecot 2.3 reads them, so that the output matches Dovecot byte for
 * byte: Content-Type type/subtype with their case kept, parameters in
 * their order with RFC 2231 continuations merged but not decoded
 * ("name*" "utf-8''%E2%82%AC"), the default ("charset" "us-ascii") of
 * text parts, Content-ID/-Description/-Location/-MD5 raw without line
 * ends, Content-Language as a list, Content-Disposition with its
 * parameters; Content-* ignored in a message without MIME-Version or
 * Content-Type; a multipart without parts written as one empty text/plain
 * part; a message/rfc822 part that could not be parsed as a message
 * (base64-encoded, limits) written as application/octet-stream.
 *
 * Sizes count every bare LF as CRLF (IMAP sends messages with CRLF), so
 * the output is the same whether the stored file has LF or CRLF line ends.
 *
 * Limits: those of the MIME parser (mime.h: depth, parts, header size);
 * memory O(parts * header size), output at most a small multiple of the
 * message's header bytes.
 */
#ifndef YUBIN_IMAP_BODYSTRUCTURE_H
#define YUBIN_IMAP_BODYSTRUCTURE_H

#include "lib-mail/mime.h"

#include <stddef.h>

struct buf;

enum imap_part_kind {
    IMAP_PART_TEXT,                  /* text/ *: size and lines */
    IMAP_PART_BASIC,                 /* any other leaf: size */
    IMAP_PART_MESSAGE,               /* message/rfc822: envelope, body, lines */
    IMAP_PART_MULTIPART,             /* children, subtype */
};

struct imap_part {
    struct imap_part *parent, *children, *next;
    enum imap_part_kind kind;
    int hide_children;               /* multipart whose children Dovecot would not see
                                      * (an RFC 2231 boundary*=): written and addressed
                                      * as a multipart without parts */
    int message_root;                /* the message itself or the one inside a
                                      * message/rfc822 part (children[0] of it) */
    size_t index;                    /* mime.h order of appearance */
    size_t header_offset, body_offset, end_offset;   /* raw, in the input */
    size_t body_lf, body_bare_lf;
    enum mime_cte cte;               /* as the MIME parser understood it */
    char charset[64];                /* text parts: the charset parameter, "" if none */
    unsigned text_plain : 1;         /* text/plain (or no Content-Type) */
    unsigned no_ctype : 1;           /* no Content-Type (or not MIME): a default type */
    unsigned text_html : 1;          /* text/html */
    unsigned alternative : 1;        /* multipart/alternative */
    char *head;                      /* rendered type ... encoding, or the multipart subtype */
    char *ext;                       /* rendered extension data (BODYSTRUCTURE) */
    char *envelope;                  /* message roots: "(...)" */
};

struct imap_msg {
    struct imap_part *root;
    size_t size;                     /* bytes of input */
    int limits_hit;                  /* mime_limits_hit() */
};

struct imap_msg_parser;

/* Streaming: feed the message in chunks of any size. */
struct imap_msg_parser *imap_msg_parser_new(void);
void imap_msg_parser_feed(struct imap_msg_parser *p, const char *data, size_t len);
/* The tree (free with imap_msg_free); the parser is freed. */
struct imap_msg *imap_msg_parser_finish(struct imap_msg_parser *p);

struct imap_msg *imap_msg_parse(const char *data, size_t len);
/* Read fd from its current offset to its end. NULL on a read error (errno). */
struct imap_msg *imap_msg_parse_fd(int fd);
void imap_msg_free(struct imap_msg *m);

/*
 * Append BODYSTRUCTURE (extended != 0) or BODY, parenthesised: the text
 * after "BODYSTRUCTURE " in a FETCH response. 0, or -1 when out is full.
 */
int imap_bodystructure_write(const struct imap_msg *m, int extended, struct buf *out);
/* Append the message's ENVELOPE, parenthesised. 0, or -1 when out is full. */
int imap_msg_envelope_write(const struct imap_msg *m, struct buf *out);

/* Convenience: BODYSTRUCTURE or BODY of data[0..len). */
int imap_bodystructure(const char *data, size_t len, int extended, struct buf *out);

/* The part's body as IMAP counts it: raw bytes plus one per bare LF. */
size_t imap_part_size(const struct imap_part *p);

#endif
