/*
 * imap_parser.h - the IMAP command parser (RFC 9051 section 9, RFC 7888
 * LITERAL+/LITERAL-, RFC 3516 literal8).
 *
 * Owns: turning the bytes of a client's command into a tag, a command
 * name and the argument tree of imap_arg.h, under limits on everything
 * (line length, total command size, number of arguments, list depth,
 * literal size), and the recovery after a bad command (skipping the rest
 * of the line, and the bytes of a non-synchronizing literal the client
 * sends without waiting). No I/O: the caller gives it bytes (from
 * conn_peek) and consumes what it says it used (conn_consume).
 *
 *   for (;;) {
 *       n = conn_peek(c, &data);
 *       r = imap_parser_feed(p, data, n, &used);  conn_consume(c, used);
 *       IMAP_PARSE_NEED      wait for more input
 *       IMAP_PARSE_CONTINUE  send "+ OK", go on feeding
 *       IMAP_PARSE_DONE      run imap_parser_tag/command/args; then imap_parser_reset
 *       IMAP_PARSE_ERROR     reply "<tag or *> BAD <error text>" (NO when
 *                            imap_parser_error_no(), with "[code] " when
 *                            imap_parser_error_code()); go on feeding: the
 *                            parser skips what is left of the bad command
 *                            by itself and then parses the next one
 *       IMAP_PARSE_LITERAL   (stream mode) see below
 *   }
 *
 * Stream mode (APPEND): with imap_parser_stream_literals(p, 1), the
 * parser stops after each literal's header ("{n}\r\n") and returns
 * IMAP_PARSE_LITERAL; imap_parser_literal() tells its size, and
 * imap_parser_args() the arguments so far. The caller then either
 *   - streams it: sends "+ OK" if it is synchronizing, takes the `size`
 *     bytes off the connection itself, calls imap_parser_literal_streamed()
 *     (an argument of type LITERAL with `streamed` set, str "" and len =
 *     size) and goes on feeding; or
 *   - holds it: imap_parser_literal_hold() makes the parser read it as in
 *     the normal mode (the return value is what feed would have returned);
 *   - or refuses it: imap_parser_literal_refuse() (returns IMAP_PARSE_ERROR).
 *
 * Strings in the tree are NUL-terminated copies owned by the parser, valid
 * until the next feed or reset.
 */
#ifndef YUBIN_IMAP_PARSER_H
#define YUBIN_IMAP_PARSER_H

#include "lib-imap/imap_arg.h"

#include <stddef.h>
#include <stdint.h>

struct imap_parser;

struct imap_parser_limits {
    size_t line_max;          /* bytes of one line between literals (CRLF included) */
    size_t command_max;       /* bytes of one command: its lines and the literals held */
    size_t args_max;          /* arguments at all depths, lists included */
    unsigned depth_max;       /* nesting of parenthesised lists */
    uint64_t literal_max;     /* largest literal held in memory */
    uint64_t nonsync_max;     /* largest {n+}: 4096 with only LITERAL-, 0 = literal_max */
};

/* 64 KB lines, 256 KB commands, 10000 arguments, depth 32, 64 KB literals, LITERAL+. */
void imap_parser_default_limits(struct imap_parser_limits *lim);

enum imap_parse_result {
    IMAP_PARSE_NEED = 0,      /* every byte used; more are needed */
    IMAP_PARSE_DONE,          /* one complete command */
    IMAP_PARSE_CONTINUE,      /* a synchronizing literal was accepted: send "+ OK" */
    IMAP_PARSE_LITERAL,       /* stream mode: stopped at a literal's data */
    IMAP_PARSE_ERROR,         /* a bad command: reply, then keep feeding */
};

struct imap_parser *imap_parser_new(const struct imap_parser_limits *lim);
void imap_parser_free(struct imap_parser *p);
/* Forget the command (after DONE); the limits and the mode stay. */
void imap_parser_reset(struct imap_parser *p);
void imap_parser_stream_literals(struct imap_parser *p, int on);

/* Parse; *used: how many bytes of data were taken (all unless a result stops early). */
enum imap_parse_result imap_parser_feed(struct imap_parser *p, const char *data, size_t len,
                                        size_t *used);

/* After DONE (and LITERAL, ERROR): the tag, NULL when it was bad or not yet read. */
const char *imap_parser_tag(const struct imap_parser *p);
/* The command name as sent (compare with strcasecmp), NULL if not yet read. */
const char *imap_parser_command(const struct imap_parser *p);
/* The arguments, ended by IMAP_ARG_EOL (after DONE; after LITERAL: those so far). */
const struct imap_arg *imap_parser_args(struct imap_parser *p);

/* After ERROR: the text for the reply, its response code ("TOOBIG") or NULL,
 * and whether the reply is a tagged NO (a refused literal) rather than BAD. */
const char *imap_parser_error(const struct imap_parser *p);
const char *imap_parser_error_code(const struct imap_parser *p);
int imap_parser_error_no(const struct imap_parser *p);
/* Whether the parser is still skipping the rest of a bad command. */
int imap_parser_skipping(const struct imap_parser *p);

/* Stream mode: the literal the parser stopped at. */
void imap_parser_literal(const struct imap_parser *p, uint64_t *size, int *sync, int *literal8);
void imap_parser_literal_streamed(struct imap_parser *p);
enum imap_parse_result imap_parser_literal_hold(struct imap_parser *p);
enum imap_parse_result imap_parser_literal_refuse(struct imap_parser *p, const char *code,
                                                  const char *text);

#endif
