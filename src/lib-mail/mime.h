/*
 * mime.h - the streaming MIME parser (RFC 2045, 2046, 2231).
 *
 * Owns: walking a message's tree of parts as its bytes arrive, in chunks
 * of any size: multipart nesting, message/rfc822 inside a part; each
 * part's Content-Type (type, subtype, charset, boundary),
 * Content-Transfer-Encoding and Content-Disposition (filename); its raw
 * offsets, sizes and line counts (what IMAP's BODYSTRUCTURE reports); and
 * its body, optionally decoded (base64, quoted-printable) and, for text
 * parts, converted to UTF-8. Parameters follow RFC 2231 (continuations,
 * charset'language'%XX) and RFC 2047 words in filenames.
 *
 * Limits (depth, number of parts, size of one header section, length of a
 * line held while looking for a boundary) bound memory whatever the input:
 * past a limit the rest is the body of the part being read, never an
 * error, and mime_limits_hit() says which limit was reached. Memory is
 * O(depth * (header limit + line limit)), never O(message).
 *
 * IMAP's ENVELOPE/BODYSTRUCTURE, header_checks, milters, DKIM and Sieve
 * all use this parser and header.h.
 */
#ifndef YUBIN_MIME_H
#define YUBIN_MIME_H

#include <stddef.h>

struct buf;

#define MIME_DEPTH_MAX     20          /* nesting of multiparts and message/rfc822 */
#define MIME_PARTS_MAX     1000        /* parts in one message */
#define MIME_HEADER_MAX    (256 * 1024) /* one part's header section */
#define MIME_LINE_MAX      8192        /* longer lines are passed on in pieces */
#define MIME_BOUNDARY_MAX  200         /* RFC 2046 says 70; some mailers write more */

/* mime_limits_hit() bits */
#define MIME_HIT_DEPTH   0x1
#define MIME_HIT_PARTS   0x2
#define MIME_HIT_HEADER  0x4

/* mime_parser_new() flags */
#define MIME_DECODE  0x1               /* part_body gets decoded bytes (else raw) */
#define MIME_UTF8    0x2               /* and text parts converted to UTF-8 */
/*
 * Read the tree as IMAP servers (Dovecot) do, so that BODYSTRUCTURE and
 * part numbers agree with theirs: a header section ends only at an empty
 * line (a line that is not a field is a broken field of the header); a
 * line is a boundary when it starts with "--boundary" (the longest open
 * boundary that matches wins); only message/rfc822 holds a message, and
 * it does whatever its transfer encoding.
 */
#define MIME_IMAP    0x4

enum mime_cte { MIME_7BIT, MIME_8BIT, MIME_BINARY, MIME_QP, MIME_BASE64, MIME_CTE_OTHER };

struct mime_part {
    int depth;                         /* 0: the message itself */
    size_t index;                      /* order of appearance; 0: the message */
    char type[64], subtype[64];        /* lowercased; text/plain by default */
    char charset[64];                  /* "" when not given */
    char boundary[MIME_BOUNDARY_MAX + 1]; /* multipart: the boundary in use, else "" */
    enum mime_cte cte;
    char disposition[32];              /* "inline", "attachment" or "" (lowercased) */
    char filename[256];                /* UTF-8, "" when none */
    int multipart;                     /* children follow (boundary in use) */
    int message;                       /* message/rfc822 with the message parsed as a child */
    /* raw offsets in the input, known at part_end */
    size_t header_offset, body_offset, end_offset;
    size_t lines;                      /* lines of the raw body */
    size_t body_lf;                    /* line feeds in the raw body (IMAP's line count) */
    size_t body_bare_lf;               /* of which not preceded by CR (IMAP's sizes count
                                        * each as CRLF: size + body_bare_lf) */
    /* the header section, during part_start only (not NUL-terminated) */
    const char *header;
    size_t header_len;
};

struct mime_callbacks {
    /* the part's header section has been read */
    void (*part_start)(void *ctx, const struct mime_part *p);
    /* body bytes of a part without children (decoded with MIME_DECODE) */
    void (*part_body)(void *ctx, const struct mime_part *p, const char *data, size_t len);
    /* the part ended: offsets and lines are final */
    void (*part_end)(void *ctx, const struct mime_part *p);
};

struct mime_parser;

/* cb members may be NULL. */
struct mime_parser *mime_parser_new(int flags, const struct mime_callbacks *cb, void *ctx);
void mime_feed(struct mime_parser *m, const char *data, size_t len);
/* End of input: every open part ends. */
void mime_finish(struct mime_parser *m);
int mime_limits_hit(const struct mime_parser *m);
size_t mime_parts(const struct mime_parser *m);
/*
 * Where the next complete line fed goes: 1 when it is read as part of a
 * header section (*depth: its part's level, 0 for the message's own
 * header; *nested: the part is an attached message, the child of a
 * message/rfc822 part), 0 when it is body, preamble, epilogue or a
 * boundary. For callers that look at a message line by line while they
 * feed it (header_checks).
 */
int mime_next_in_header(const struct mime_parser *m, int *depth, int *nested);
void mime_parser_free(struct mime_parser *m);

/*
 * A parameter of a Content-Type or Content-Disposition value ("text/plain;
 * charset=utf-8"): RFC 2045 tokens or quoted strings, RFC 2231
 * continuations (name*0, name*1*) and charset'language'%XX values
 * (converted to UTF-8). Returns 1 with the value appended to out, 0 when
 * absent, -1 when out is full.
 */
int mime_param(const char *value, size_t len, const char *name, struct buf *out);

#endif
