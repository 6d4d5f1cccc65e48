/*
 * fuzz_imap_parser.c - the IMAP command parser (src/lib-imap/imap_parser.c),
 * which reads what any client sends before and after login.
 *
 * Input: byte 0 picks the mode: bit 0 stream mode (literals above 8 bytes
 * streamed by the harness, above 64 refused, the others held), bit 1
 * small limits (lines 40, commands 200, 12 arguments, depth 3, literals
 * 16, LITERAL- at 8), bits 2-7 the size of the pieces of the second run.
 * The rest is what the client sends.
 *
 * Invariants beyond "no crash":
 *  - the input parsed in one piece and in pieces of every size gives the
 *    same commands, continuations and errors (the transcript);
 *  - the parser never uses more bytes than it was given, and it uses all
 *    of them unless it stops for a result;
 *  - the tree: lists' counts match their elements, strings are
 *    NUL-terminated at their length, atoms are non-empty and hold no SP
 *    outside [...], lists nest no deeper and hold no more arguments than
 *    the limits;
 *  - errors have a text; a NO is only a refused synchronizing literal.
 * FUZZ_TRACE=1 in the environment prints the transcript.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-imap/imap_parser.h"
#include "lib/buf.h"

static struct imap_parser_limits lim;

/* Returns the number of arguments at every depth; *direct: at this one. */
static size_t check_args(const struct imap_arg *a, unsigned depth, struct buf *o, size_t *direct)
{
    size_t n = 0;
    *direct = 0;
    FUZZ_ASSERT(depth <= lim.depth_max);
    for (; a->type != IMAP_ARG_EOL; a++, n++, (*direct)++) {
        buf_putc(o, ' ');
        switch (a->type) {
        case IMAP_ARG_ATOM:
            FUZZ_ASSERT(a->len > 0 && a->str[a->len] == '\0' && strlen(a->str) == a->len);
            if (!a->bracketed)
                FUZZ_ASSERT(!memchr(a->str, ' ', a->len));
            buf_append(o, a->str, a->len);
            break;
        case IMAP_ARG_QUOTED:
            FUZZ_ASSERT(a->str[a->len] == '\0' && strlen(a->str) == a->len);
            buf_printf(o, "\"%s\"", a->str);
            break;
        case IMAP_ARG_LITERAL:
            if (!a->streamed) {
                FUZZ_ASSERT(a->str[a->len] == '\0');
                FUZZ_ASSERT(a->len <= lim.literal_max);
            }
            buf_printf(o, "{%zu%s}", a->len, a->streamed ? "s" : "");
            buf_append(o, a->str, a->streamed ? 0 : a->len);
            break;
        case IMAP_ARG_LIST: {
            buf_putc(o, '(');
            size_t c;
            n += check_args(a->list, depth + 1, o, &c);
            FUZZ_ASSERT(c == a->count);
            buf_putc(o, ')');
            break;
        }
        default:
            FUZZ_ASSERT(0);
        }
    }
    FUZZ_ASSERT(n <= lim.args_max);
    return n;
}

struct run {
    struct buf out;
    size_t stream_left;
};

static void event(struct run *r, struct imap_parser *p, enum imap_parse_result res)
{
    if (res == IMAP_PARSE_DONE) {
        FUZZ_ASSERT(imap_parser_tag(p) && imap_parser_command(p));
        buf_printf(&r->out, "%s %s", imap_parser_tag(p), imap_parser_command(p));
        check_args(imap_parser_args(p), 0, &r->out, &(size_t){0});
        buf_putc(&r->out, '\n');
    } else if (res == IMAP_PARSE_CONTINUE) {
        buf_puts(&r->out, "+\n");
    } else if (res == IMAP_PARSE_ERROR) {
        FUZZ_ASSERT(imap_parser_error(p)[0]);
        buf_printf(&r->out, "%s %s %s\n", imap_parser_tag(p) ? imap_parser_tag(p) : "*",
                   imap_parser_error_no(p) ? "NO" : "BAD", imap_parser_error(p));
    }
}

static enum imap_parse_result on_literal(struct run *r, struct imap_parser *p)
{
    uint64_t size;
    int sync, lit8;
    imap_parser_literal(p, &size, &sync, &lit8);
    check_args(imap_parser_args(p), 0, &r->out, &(size_t){0});
    if (size <= 8)
        return imap_parser_literal_hold(p);
    if (size > 64)
        return imap_parser_literal_refuse(p, "TOOBIG", "too big");
    buf_printf(&r->out, "stream %zu\n", (size_t)size);
    r->stream_left = (size_t)size;
    return IMAP_PARSE_NEED;
}

static void feed(struct run *r, struct imap_parser *p, const char *data, size_t len)
{
    while (len > 0) {
        if (r->stream_left > 0) {
            size_t take = r->stream_left < len ? r->stream_left : len;
            data += take;
            len -= take;
            r->stream_left -= take;
            if (r->stream_left == 0)
                imap_parser_literal_streamed(p);
            continue;
        }
        size_t used = 0;
        enum imap_parse_result res = imap_parser_feed(p, data, len, &used);
        FUZZ_ASSERT(used <= len);
        if (res == IMAP_PARSE_NEED)
            FUZZ_ASSERT(used == len);
        data += used;
        len -= used;
        while (res == IMAP_PARSE_LITERAL)
            res = on_literal(r, p);
        if (res == IMAP_PARSE_ERROR && imap_parser_error_no(p))
            FUZZ_ASSERT(imap_parser_error_code(p) != NULL);
        event(r, p, res);
    }
}

static char *run_all(const char *in, size_t len, size_t piece, int stream)
{
    struct imap_parser *p = imap_parser_new(&lim);
    imap_parser_stream_literals(p, stream);
    struct run r = { .stream_left = 0 };
    buf_init(&r.out, 0);
    for (size_t i = 0; i < len; i += piece)
        feed(&r, p, in + i, len - i < piece ? len - i : piece);
    imap_parser_free(p);
    char *s = xstrdup(buf_cstr(&r.out));
    buf_free(&r.out);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *in = (const char *)data + 1;
    size_t len = size - 1;
    imap_parser_default_limits(&lim);
    if (mode & 2) {
        lim.line_max = 40;
        lim.command_max = 200;
        lim.args_max = 12;
        lim.depth_max = 3;
        lim.literal_max = 16;
        lim.nonsync_max = 8;
    }
    int stream = mode & 1;
    size_t piece = (mode >> 2) + 1;
    char *whole = run_all(in, len, len ? len : 1, stream);
    char *split = run_all(in, len, piece, stream);
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "%s", whole);
    if (strcmp(whole, split) != 0)
        fprintf(stderr, "whole:\n%s\npieces of %zu:\n%s\n", whole, piece, split);
    FUZZ_ASSERT(strcmp(whole, split) == 0);
    free(whole);
    free(split);
    return 0;
}
