/*
 * fuzz_managesieve.c - the ManageSieve command parser
 * (src/managesieved/msieve_parse.c): managesieved_parse,
 * managesieved_name_ok, managesieved_put_string.
 *
 * Input: a client's byte stream, parsed command after command as the
 * mail worker does (an error skips its line, a literal too large is
 * skipped), once whole and once grown a byte at a time for the first
 * command.
 *
 * Invariants beyond "no crash":
 *  - DONE consumes at least one byte and never more than it was given;
 *    the name is upper-case ASCII; arguments are NUL-terminated copies
 *    within the literal limit; at most MSIEVE_ARGS_MAX of them;
 *  - a prefix of the input never parses to a different first command
 *    than the whole (NEED until the command is complete);
 *  - a name managesieved_name_ok accepts has no "/" and does not start
 *    with "."; a string written by managesieved_put_string is a quoted
 *    string or a literal that parses back to the same bytes.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib/buf.h"
#include "managesieved/msieve_parse.h"

#define LIT_MAX 512

static void check_cmd(const struct msieve_cmd *c)
{
    FUZZ_ASSERT(c->nargs >= 0 && c->nargs <= MSIEVE_ARGS_MAX);
    for (const char *p = c->name; *p; p++)
        FUZZ_ASSERT(*p >= 'A' && *p <= 'Z');
    for (int i = 0; i < c->nargs; i++) {
        FUZZ_ASSERT(c->args[i].len <= LIT_MAX + MSIEVE_LINE_MAX);
        FUZZ_ASSERT(c->args[i].s[c->args[i].len] == '\0');
        const char *a = c->args[i].s;
        if (managesieved_name_ok(a, c->args[i].len)) {
            FUZZ_ASSERT(!memchr(a, '/', c->args[i].len) && a[0] != '.');
        }
        struct buf b;
        buf_init(&b, 0);
        buf_puts(&b, "X ");
        managesieved_put_string(&b, a, c->args[i].len);
        buf_puts(&b, "\r\n");
        struct msieve_cmd back;
        size_t used;
        const char *err;
        FUZZ_ASSERT(managesieved_parse(b.data, b.len, c->args[i].len + 1, &back, &used, &err) ==
                    MSIEVE_DONE);
        FUZZ_ASSERT(back.nargs == 1 && back.args[0].len == c->args[i].len &&
                    memcmp(back.args[0].s, a, c->args[i].len) == 0);
        managesieved_cmd_free(&back);
        buf_free(&b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    size_t pos = 0;
    size_t first_used = 0;
    char first_name[MSIEVE_NAME_MAX + 1] = "";
    int first = 1;
    while (pos < size) {
        struct msieve_cmd c;
        size_t used = 0;
        const char *err;
        enum msieve_parse_result r = managesieved_parse(d + pos, size - pos, LIT_MAX, &c, &used,
                                                        &err);
        if (r == MSIEVE_NEED || r == MSIEVE_FATAL)
            break;
        FUZZ_ASSERT(used > 0 && used <= size - pos);
        if (r == MSIEVE_DONE) {
            check_cmd(&c);
            if (first) {
                first_used = used;
                memcpy(first_name, c.name, sizeof(first_name));
            }
        }
        first = 0;
        pos += used + (r == MSIEVE_ERROR ? c.too_large : 0);
        managesieved_cmd_free(&c);
    }
    if (first_used) {
        for (size_t k = 0; k < first_used; k++) {
            struct msieve_cmd c;
            size_t used;
            const char *err;
            enum msieve_parse_result r = managesieved_parse(d, k, LIT_MAX, &c, &used, &err);
            FUZZ_ASSERT(r != MSIEVE_DONE);
            managesieved_cmd_free(&c);
        }
    }
    (void)first_name;
    return 0;
}
