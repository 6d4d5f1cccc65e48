/*
 * test_imap_parser.c - the IMAP command parser (src/lib-imap/imap_parser.c).
 *
 * Every case is parsed from one piece, from every split into two pieces
 * and byte by byte; the transcripts (commands, continuations, errors)
 * must agree with the expected one.
 */
#include "t.h"
#include "lib-imap/imap_parser.h"
#include "lib/buf.h"

#include <stdlib.h>

static void dump_args(struct buf *o, const struct imap_arg *a)
{
    for (; a->type != IMAP_ARG_EOL; a++) {
        buf_putc(o, ' ');
        switch (a->type) {
        case IMAP_ARG_ATOM:
            buf_printf(o, "%s%s", a->bracketed ? "b:" : "", a->str);
            CHECK_INT(strlen(a->str), a->len);
            break;
        case IMAP_ARG_QUOTED:
            buf_printf(o, "\"%s\"", a->str);
            break;
        case IMAP_ARG_LITERAL:
            if (a->streamed) {
                buf_printf(o, "<stream %zu>", a->len);
                break;
            }
            buf_printf(o, "%s{%zu}", a->literal8 ? "~" : "", a->len);
            for (size_t i = 0; i < a->len; i++)
                buf_putc(o, a->str[i] ? a->str[i] : '0');
            CHECK_INT(a->str[a->len], 0);
            break;
        case IMAP_ARG_LIST: {
            buf_puts(o, "(");
            size_t n = 0;
            while (a->list[n].type != IMAP_ARG_EOL)
                n++;
            CHECK_INT(a->count, n);
            dump_args(o, a->list);
            buf_puts(o, " )");
            break;
        }
        default:
            buf_puts(o, "?");
        }
    }
}

struct run {
    struct buf out;
    int stream;          /* stream mode: stream literals > 10 bytes, hold the others */
    size_t stream_left;  /* bytes of a streamed literal still to take */
};

static void event(struct run *r, struct imap_parser *p, enum imap_parse_result res)
{
    const char *tag = imap_parser_tag(p);
    switch (res) {
    case IMAP_PARSE_DONE:
        buf_printf(&r->out, "%s %s", tag, imap_parser_command(p));
        dump_args(&r->out, imap_parser_args(p));
        buf_puts(&r->out, "\n");
        imap_parser_reset(p);
        break;
    case IMAP_PARSE_CONTINUE:
        buf_puts(&r->out, "+\n");
        break;
    case IMAP_PARSE_ERROR:
        buf_printf(&r->out, "%s %s %s%s%s%s\n", tag ? tag : "*",
                   imap_parser_error_no(p) ? "NO" : "BAD",
                   imap_parser_error_code(p) ? "[" : "",
                   imap_parser_error_code(p) ? imap_parser_error_code(p) : "",
                   imap_parser_error_code(p) ? "] " : "", imap_parser_error(p));
        break;
    default:
        break;
    }
}

/* Stream mode: the caller's side of a literal. */
static enum imap_parse_result on_literal(struct run *r, struct imap_parser *p)
{
    uint64_t size;
    int sync, lit8;
    imap_parser_literal(p, &size, &sync, &lit8);
    if (size <= 10)
        return imap_parser_literal_hold(p);
    if (size > 100)
        return imap_parser_literal_refuse(p, "TOOBIG", "Too big for APPEND");
    buf_printf(&r->out, "stream %llu%s\n", (unsigned long long)size, sync ? " +" : "");
    r->stream_left = size;
    return IMAP_PARSE_NEED;
}

/* Feed one piece; the caller takes streamed literal bytes itself. */
static void feed(struct run *r, struct imap_parser *p, const char *data, size_t len)
{
    while (len > 0) {
        if (r->stream_left > 0) {
            size_t take = r->stream_left < len ? r->stream_left : len;
            buf_append(&r->out, data, 0);
            data += take;
            len -= take;
            r->stream_left -= take;
            if (r->stream_left == 0)
                imap_parser_literal_streamed(p);
            continue;
        }
        size_t used = 0;
        enum imap_parse_result res = imap_parser_feed(p, data, len, &used);
        CHECK(used <= len);
        data += used;
        len -= used;
        while (res == IMAP_PARSE_LITERAL)
            res = on_literal(r, p);
        event(r, p, res);
        if (res == IMAP_PARSE_NEED && used == 0 && r->stream_left == 0)
            break;
    }
}

static char *parse(const char *in, size_t len, size_t split, int bytewise, int stream,
                   const struct imap_parser_limits *lim)
{
    struct imap_parser *p = imap_parser_new(lim);
    imap_parser_stream_literals(p, stream);
    struct run r = { .stream = stream };
    buf_init(&r.out, 0);
    if (bytewise) {
        for (size_t i = 0; i < len; i++)
            feed(&r, p, in + i, 1);
    } else {
        feed(&r, p, in, split);
        feed(&r, p, in + split, len - split);
    }
    feed(&r, p, "", 0);
    imap_parser_free(p);
    char *s = strdup(buf_cstr(&r.out));
    buf_free(&r.out);
    return s;
}

static int check_case_lim(const char *in, size_t len, const char *expect, int stream,
                          const struct imap_parser_limits *lim)
{
    int ok = 1;
    for (size_t split = 0; split <= len; split++) {
        char *got = parse(in, len, split, 0, stream, lim);
        if (strcmp(got, expect) != 0) {
            fprintf(stderr, "split %zu of [%s]:\n got: [%s]\nwant: [%s]\n", split, in, got, expect);
            ok = 0;
        }
        free(got);
        if (!ok)
            return 0;
    }
    char *got = parse(in, len, 0, 1, stream, lim);
    if (strcmp(got, expect) != 0) {
        fprintf(stderr, "bytewise [%s]:\n got: [%s]\nwant: [%s]\n", in, got, expect);
        ok = 0;
    }
    free(got);
    return ok;
}

#define CASE(in, expect) CHECK(check_case_lim(in, sizeof(in) - 1, expect, 0, NULL))
#define CASE_S(in, expect) CHECK(check_case_lim(in, sizeof(in) - 1, expect, 1, NULL))
#define CASE_L(in, expect, lim) CHECK(check_case_lim(in, sizeof(in) - 1, expect, 0, lim))

static void test_simple(void)
{
    CASE("a1 NOOP\r\n", "a1 NOOP\n");
    CASE("a1 noop\n", "a1 noop\n");
    CASE("a1 LOGIN user pass\r\n", "a1 LOGIN user pass\n");
    CASE("a1 LOGIN \"us er\" \"p\\\"a\\\\ss\"\r\n", "a1 LOGIN \"us er\" \"p\"a\\ss\"\n");
    CASE("a1 SELECT \"\"\r\n", "a1 SELECT \"\"\n");
    CASE("A.2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
         "A.2 UID FETCH 1:* ( FLAGS b:BODY.PEEK[HEADER.FIELDS (From To)]<0.100> )\n");
    CASE("t STORE 1 +FLAGS (\\Seen \\Deleted)\r\n", "t STORE 1 +FLAGS ( \\Seen \\Deleted )\n");
    CASE("t X (() (a (b)) NIL)\r\n", "t X ( ( ) ( a ( b ) ) NIL )\n");
    CASE("a NOOP\r\nb NOOP\r\n", "a NOOP\nb NOOP\n");
    CASE("\r\n\r\na NOOP\r\n", "a NOOP\n");
    CASE("a LOGIN  user   pass \r\n", "a LOGIN user pass\n");
    CASE("a LIST \"\" ~foo\r\n", "a LIST \"\" ~foo\n");
    CASE("a LOGIN us]er pw\r\n", "a LOGIN us]er pw\n");
    CASE("a SELECT caf\xc3\xa9\r\n", "a SELECT caf\xc3\xa9\n");
    CASE("a FETCH 1 BINARY[1]\r\n", "a FETCH 1 b:BINARY[1]\n");
}

static void test_imaptest_atoms(void)
{
    /* imaptest's "atoms" script: every atom char, an unclosed '[', '}' */
    CASE("a select !#$&'+,-.0123456789:;<=>?@^_`|[}\r\n",
         "a select b:!#$&'+,-.0123456789:;<=>?@^_`|[}\n");
    CASE("a list \"\" !#$&'+,-.0123456789:;<=>?@^_`|[}%*\r\n",
         "a list \"\" b:!#$&'+,-.0123456789:;<=>?@^_`|[}%*\n");
    CASE("a list \"\" ~foo\r\nb select ~foo\r\n", "a list \"\" ~foo\nb select ~foo\n");
}

static void test_literals(void)
{
    CASE("a LOGIN {4}\r\nuser {4}\r\npass\r\n", "+\n+\na LOGIN {4}user {4}pass\n");
    CASE("a LOGIN {4+}\r\nuser {4+}\r\npass\r\n", "a LOGIN {4}user {4}pass\n");
    CASE("a X {0}\r\n {0+}\r\n\r\n", "+\na X {0} {0}\n");
    CASE("a X ~{3}\r\na\0b\r\n", "+\na X ~{3}a0b\n");
    CASE("a X ({2}\r\nab)\r\n", "+\na X ( {2}ab )\n");
    CASE("a X {3}\r\n\r\n)\r\n", "+\na X {3}\r\n)\n");
}

static void test_errors(void)
{
    CASE("a1\r\n", "a1 BAD Missing command\n");
    CASE("* NOOP\r\nb NOOP\r\n", "* BAD Invalid characters in tag\nb NOOP\n");
    CASE(" NOOP\r\n", "* BAD Missing tag\n");
    CASE("a NOOP \"abc\r\nb NOOP\r\n", "a BAD Missing '\"'\nb NOOP\n");
    CASE("a X \"a\\b\"\r\nb NOOP\r\n", "a BAD Invalid escape in quoted string\nb NOOP\n");
    CASE("a X (b\r\nc NOOP\r\n", "a BAD Missing ')'\nc NOOP\n");
    CASE("a X b)\r\n", "a BAD Unexpected ')'\n");
    CASE("a X (b)c\r\n", "a BAD Missing space between arguments\n");
    CASE("a X {1x}\r\nb NOOP\r\n", "a BAD Invalid literal size\nb NOOP\n");
    CASE("a X {}\r\nb NOOP\r\n", "a BAD Invalid literal size\nb NOOP\n");
    CASE("a X {1}x\r\nb NOOP\r\n", "a BAD Missing line end after literal size\nb NOOP\n");
    CASE("a X \x01\r\nb NOOP\r\n", "a BAD Invalid characters in atom\nb NOOP\n");
    CASE("a X b\rc\r\nd NOOP\r\n", "a BAD CR without LF\nd NOOP\n");
    CASE("a X \"b\0\"\r\nd NOOP\r\n", "a BAD NUL in quoted string\nd NOOP\n");
    CASE("a X a{1}\r\nd NOOP\r\n", "a BAD Invalid characters in atom\nd NOOP\n");
    CASE("a NO[OP\r\nd NOOP\r\n", "a BAD Invalid characters in command name\nd NOOP\n");
    /* the rest of a bad line holds a non-synchronizing literal: its data is skipped */
    CASE("a X ) {5+}\r\nb NOO\r\nc NOOP\r\n", "a BAD Unexpected ')'\nc NOOP\n");
    CASE("a X ) {5+}\r\nb NO {3+}\r\nx\r\n\r\nc NOOP\r\n", "a BAD Unexpected ')'\nc NOOP\n");
    /* a synchronizing one is not sent by the client: nothing to skip */
    CASE("a X ) {5}\r\nc NOOP\r\n", "a BAD Unexpected ')'\nc NOOP\n");
}

static void test_limits(void)
{
    struct imap_parser_limits lim;
    imap_parser_default_limits(&lim);
    lim.literal_max = 5;
    /* synchronizing: refused before the client sends it, tagged NO [TOOBIG] */
    CASE_L("a X {6}\r\nb NOOP\r\n", "a NO [TOOBIG] Literal too large\nb NOOP\n", &lim);
    CASE_L("a X {5}\r\nabcde\r\n", "+\na X {5}abcde\n", &lim);
    /* non-synchronizing: the client sends it anyway; it is skipped */
    CASE_L("a X {6+}\r\nabcdef\r\nb NOOP\r\n", "a BAD [TOOBIG] Literal too large\nb NOOP\n", &lim);
    CASE_L("a X {6+}\r\nabcdef {1+}\r\nx\r\nb NOOP\r\n",
           "a BAD [TOOBIG] Literal too large\nb NOOP\n", &lim);
    CASE_L("a X {99999999999999999999999}\r\nb NOOP\r\n",
           "a NO [TOOBIG] Literal too large\nb NOOP\n", &lim);

    imap_parser_default_limits(&lim);
    lim.nonsync_max = 4;   /* LITERAL- */
    CASE_L("a X {5+}\r\nabcde\r\nb NOOP\r\n",
           "a BAD [TOOBIG] Non-synchronizing literal too large\nb NOOP\n", &lim);
    CASE_L("a X {4+}\r\nabcd {5}\r\nabcde\r\n", "+\na X {4}abcd {5}abcde\n", &lim);

    imap_parser_default_limits(&lim);
    lim.line_max = 12;
    CASE_L("a X 12345\r\nb X 123456789\r\nc NOOP\r\n",
           "a X 12345\nb BAD [TOOBIG] Command line too long\nc NOOP\n", &lim);
    /* the limit is per line: literals start a new one */
    CASE_L("a X {2+}\r\nab 12345\r\n", "a X {2}ab 12345\n", &lim);

    imap_parser_default_limits(&lim);
    lim.command_max = 24;
    CASE_L("a X {15}\r\n", "a NO [TOOBIG] Literal too large\n", &lim);
    CASE_L("a X {2+}\r\nab {2+}\r\ncd 12345678\r\nb NOOP\r\n",
           "a BAD [TOOBIG] Command too long\nb NOOP\n", &lim);

    imap_parser_default_limits(&lim);
    lim.args_max = 3;
    CASE_L("a X 1 2 3\r\n", "a X 1 2 3\n", &lim);
    CASE_L("a X 1 2 3 4\r\nb NOOP\r\n", "a BAD Too many arguments\nb NOOP\n", &lim);
    CASE_L("a X (1 2) 3\r\nb NOOP\r\n", "a BAD Too many arguments\nb NOOP\n", &lim);

    imap_parser_default_limits(&lim);
    lim.depth_max = 2;
    CASE_L("a X ((1))\r\n", "a X ( ( 1 ) )\n", &lim);
    CASE_L("a X (((1)))\r\nb NOOP\r\n", "a BAD Too deeply nested lists\nb NOOP\n", &lim);
}

static void test_stream(void)
{
    /* APPEND: the message is streamed, small literals are held */
    CASE_S("a APPEND INBOX (\\Seen) {11}\r\nhello world\r\n",
           "stream 11 +\na APPEND INBOX ( \\Seen ) <stream 11>\n");
    CASE_S("a APPEND {5}\r\nINBOX {11+}\r\nhello world\r\n",
           "+\nstream 11\na APPEND {5}INBOX <stream 11>\n");
    CASE_S("a APPEND INBOX {11+}\r\nhello world {12}\r\nhello world!\r\n",
           "stream 11\nstream 12 +\na APPEND INBOX <stream 11> <stream 12>\n");
    CASE_S("a APPEND INBOX {2000}\r\nb NOOP\r\n", "a NO [TOOBIG] Too big for APPEND\nb NOOP\n");
    char big[200];
    int n = snprintf(big, sizeof(big), "a APPEND INBOX {101+}\r\n%0101d\r\nb NOOP\r\n", 0);
    CHECK(check_case_lim(big, (size_t)n, "a BAD [TOOBIG] Too big for APPEND\nb NOOP\n", 1, NULL));
}

static void test_args_so_far(void)
{
    struct imap_parser *p = imap_parser_new(NULL);
    imap_parser_stream_literals(p, 1);
    const char *in = "a APPEND Sent (\\Seen) {300}\r\n";
    size_t used;
    CHECK_INT(imap_parser_feed(p, in, strlen(in), &used), IMAP_PARSE_LITERAL);
    CHECK_INT(used, strlen(in));
    const struct imap_arg *a = imap_parser_args(p);
    CHECK_STR(imap_parser_command(p), "APPEND");
    CHECK_INT(a[0].type, IMAP_ARG_ATOM);
    CHECK_STR(a[0].str, "Sent");
    CHECK_INT(a[1].type, IMAP_ARG_LIST);
    CHECK_INT(a[1].count, 1);
    CHECK_INT(a[2].type, IMAP_ARG_EOL);
    uint64_t size;
    int sync, lit8;
    imap_parser_literal(p, &size, &sync, &lit8);
    CHECK_INT(size, 300);
    CHECK(sync);
    CHECK(!lit8);
    /* without an answer, the parser stays there */
    CHECK_INT(imap_parser_feed(p, "x", 1, &used), IMAP_PARSE_LITERAL);
    CHECK_INT(used, 0);
    imap_parser_literal_streamed(p);
    CHECK_INT(imap_parser_feed(p, "\r\n", 2, &used), IMAP_PARSE_DONE);
    a = imap_parser_args(p);
    CHECK(a[2].streamed);
    CHECK_INT(a[2].len, 300);
    CHECK(imap_arg_astring(&a[0], &in, NULL));
    imap_parser_free(p);
}

int main(void)
{
    T_RUN(test_simple);
    T_RUN(test_imaptest_atoms);
    T_RUN(test_literals);
    T_RUN(test_errors);
    T_RUN(test_limits);
    T_RUN(test_stream);
    T_RUN(test_args_so_far);
    return T_DONE();
}
