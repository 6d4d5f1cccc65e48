/*
 * hcheck.h - Postfix's built-in content inspection (header_checks(5)):
 * header_checks, mime_header_checks, nested_header_checks and
 * body_checks applied to a message as it streams by.
 *
 * Owns: cutting the content (LF line ends, as queued) into logical
 * headers and body lines; telling the classes apart with the MIME parser
 * (mime.h): the message's own headers go to header_checks, MIME headers
 * (MIME-Version, Content-*) anywhere to mime_header_checks, the headers
 * of an attached message (the child of a message/rfc822 part) to
 * nested_header_checks, every other line (body text, boundaries,
 * preamble) to body_checks, at most body_checks_size_limit bytes of each
 * part's body; the actions of header_checks(5) (REJECT, WARN, IGNORE,
 * DISCARD, DUNNO, OK, HOLD, REDIRECT, BCC, FILTER, PREPEND, REPLACE,
 * INFO, STRIP) applied to the output and collected into a verdict.
 * Headers of the parts of a multipart (other than MIME headers) are not
 * inspected, as in Postfix.
 *
 * The tables are the caller's: a lookup callback answers per class (the
 * text is the logical header with its folding line ends, or the body
 * line, without the final line end). After REJECT or DISCARD nothing more
 * is looked up; the content still flows to the output.
 *
 * Limits: a logical header longer than HC_HEADER_MAX and a body line
 * longer than HC_LINE_MAX are passed on unchecked (beyond their first
 * HC_LINE_MAX bytes for a body line).
 */
#ifndef YUBIN_HCHECK_H
#define YUBIN_HCHECK_H

#include "lib/buf.h"

#include <stddef.h>

#define HC_HEADER_MAX (100 * 1024)      /* one logical header inspected (header_size_limit) */
#define HC_LINE_MAX   (64 * 1024)       /* one body line inspected */
#define HC_TEXT_MAX   1000              /* REJECT/HOLD/... texts kept */
#define HC_BCC_MAX    100               /* BCC actions per message */

enum hc_class { HC_HEADER, HC_MIME_HEADER, HC_NESTED_HEADER, HC_BODY };

struct hc_ops {
    /* 1 found (result holds the action), 0 not found, -1 lookup error. */
    int (*lookup)(void *ctx, enum hc_class cls, const char *text, struct buf *result);
    /* Bytes of the output; -1 stops the output (an error the caller keeps). */
    int (*emit)(void *ctx, const char *data, size_t len);
    /*
     * An action to log: action is "reject", "discard", "hold", "warning",
     * "info", "strip", "filter", "redirect" or "bcc"; what is "header" or
     * "body"; text the matched header or line (control characters made
     * spaces, at most 200 bytes); opt the action's text ("" when none).
     */
    void (*log)(void *ctx, const char *action, const char *what, const char *text,
                const char *opt);
};

struct hc_verdict {
    int reject;                          /* 0, or 4 / 5: the reply's class */
    char reject_text[HC_TEXT_MAX];       /* "5.7.1 message content rejected" */
    int discard;
    char discard_text[HC_TEXT_MAX];
    int hold;
    char hold_text[HC_TEXT_MAX];
    char *filter;                        /* FILTER transport:destination, or NULL */
    char *redirect;                      /* REDIRECT address, or NULL */
    char **bcc;                          /* BCC addresses */
    size_t nbcc;
    int lookup_error;                    /* a table failed: defer the message */
    char error_class[32];                /* its parameter name */
};

struct hcheck;

struct hcheck *hcheck_new(const struct hc_ops *ops, void *ctx, size_t body_limit);
/* Content bytes in any pieces. -1 when the output failed. */
int hcheck_feed(struct hcheck *h, const char *data, size_t len);
/* End of the content: what is held is checked and passed on. */
int hcheck_finish(struct hcheck *h);
const struct hc_verdict *hcheck_verdict(const struct hcheck *h);
void hcheck_free(struct hcheck *h);

/* The parameter name of a class ("header_checks" ...), for log lines. */
const char *hcheck_class_name(enum hc_class cls);

#endif
