/*
 * content.h - turning SMTP DATA and BDAT bytes into stored message content.
 *
 * Owns: the end-of-data rules that make SMTP smuggling impossible, dot
 * unstuffing, line-ending normalisation (stored content uses LF), bare
 * newline policy (smtpd_forbid_bare_newline), and BDAT chunk decoding.
 *
 * End of DATA is exactly <CR><LF>.<CR><LF>: a line "." terminated by CRLF
 * whose preceding line also ended in CRLF (or that is the first line).
 * "\n.\n", "\r\n.\n", "\n.\r\n" and "\r.\r" are content, never the end.
 *
 * The decoder is incremental: feed it whatever arrived, it consumes what
 * it could decide about and leaves an incomplete tail (at most a partial
 * line) for the next call.
 */
#ifndef YUBIN_SMTPD_CONTENT_H
#define YUBIN_SMTPD_CONTENT_H

#include <stddef.h>

/* smtpd_forbid_bare_newline */
enum bare_nl_policy { BARE_NL_ALLOW, BARE_NL_NORMALIZE, BARE_NL_REJECT };

/* Where decoded bytes go. Returns 0, or -1 to stop (the decoder then reports CD_SINK_ERROR). */
typedef int (*content_sink)(void *arg, const char *data, size_t len);

struct data_decoder {
    enum bare_nl_policy policy;
    int at_bol;          /* next byte starts a line */
    int prev_crlf;       /* the previous line ended in CRLF (or no line yet) */
    int bare_lf_seen;    /* for logging */
    content_sink sink;
    void *sink_arg;
};

enum data_status {
    CD_MORE = 0,        /* consumed what it could; need more input */
    CD_END,             /* end of data seen; *used includes the terminator */
    CD_BARE_LF,         /* policy REJECT and a bare LF arrived */
    CD_SINK_ERROR
};

void smtpd_data_decoder_init(struct data_decoder *d, enum bare_nl_policy policy,
                       content_sink sink, void *arg);
/*
 * Decode from in[0..len). *used gets the number of bytes consumed (the
 * caller drops them from its input buffer). Partial lines shorter than
 * `hold_max` are left unconsumed to be completed later; longer ones are
 * passed on in pieces (a long line is content, not an error).
 */
enum data_status smtpd_data_decode(struct data_decoder *d, const char *in, size_t len,
                             size_t hold_max, size_t *used);

/* BDAT chunks: raw bytes, CRLF → LF, a CR at a chunk end may pair with a LF in the next. */
struct bdat_decoder {
    int pending_cr;
    content_sink sink;
    void *sink_arg;
};

void smtpd_bdat_decoder_init(struct bdat_decoder *b, content_sink sink, void *arg);
int smtpd_bdat_decode(struct bdat_decoder *b, const char *in, size_t len);
/* End of the last chunk: flush a pending CR. */
int smtpd_bdat_finish(struct bdat_decoder *b);

enum bare_nl_policy smtpd_bare_nl_policy_parse(const char *value);

#endif
