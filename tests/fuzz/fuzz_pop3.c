/*
 * fuzz_pop3.c - the POP3 command parser (src/pop3d/pop3_parse.c):
 * pop3d_parse_line, pop3d_parse_number, pop3d_uidl / pop3d_uidl_format_ok.
 *
 * Input: the first byte picks the mode; the rest is a command line (what
 * a client sends, CRLF removed), or a pop3_uidl_format followed by a UID,
 * UIDVALIDITY and file name taken from the input.
 *
 * Invariants beyond "no crash":
 *  - an accepted line has an upper-case ASCII name of 1-8 letters, at most
 *    POP3_ARGS_MAX arguments, each non-empty, without spaces and inside
 *    the line; rest points inside the line;
 *  - an accepted number prints back to the same digits;
 *  - a UIDL value is 1-70 printable ASCII characters without spaces.
 * max_len: 9000
 */
#include "fuzz.h"
#include "pop3d/pop3_parse.h"

static void one_line(const uint8_t *data, size_t size)
{
    if (size > POP3_LINE_MAX + 8)
        size = POP3_LINE_MAX + 8;
    char *line = xmalloc(size + 1);
    memcpy(line, data, size);
    line[size] = '\0';
    struct pop3_cmd c;
    const char *err;
    if (pop3d_parse_line(line, size, &c, &err) == 0) {
        size_t n = strlen(c.name);
        FUZZ_ASSERT(n >= 1 && n <= POP3_NAME_MAX);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(c.name[i] >= 'A' && c.name[i] <= 'Z');
        FUZZ_ASSERT(c.nargs >= 0 && c.nargs <= POP3_ARGS_MAX);
        FUZZ_ASSERT(c.rest >= line && c.rest <= line + size);
        for (int i = 0; i < c.nargs; i++) {
            FUZZ_ASSERT(c.args[i] >= line && c.args[i] < line + size);
            FUZZ_ASSERT(*c.args[i] && !strchr(c.args[i], ' '));
        }
        uint32_t v;
        if (c.nargs > 0 && pop3d_parse_number(c.args[0], &v) == 0) {
            char back[16];
            snprintf(back, sizeof(back), "%u", v);
            FUZZ_ASSERT(strcmp(back, c.args[0]) == 0 || c.args[0][0] == '0');
        }
    }
    free(line);
}

static void one_uidl(const uint8_t *data, size_t size)
{
    if (size < 8)
        return;
    uint32_t uid, uv;
    memcpy(&uid, data, 4);
    memcpy(&uv, data + 4, 4);
    data += 8;
    size -= 8;
    const uint8_t *sep = memchr(data, '\n', size);
    size_t flen = sep ? (size_t)(sep - data) : size;
    char *fmt = xstrndup((const char *)data, flen);
    const char *base = sep ? (const char *)sep + 1 : "";
    size_t blen = sep ? size - flen - 1 : 0;
    char out[96];
    if (pop3d_uidl(fmt, uid, uv, base, blen, out, sizeof(out)) == 0) {
        size_t n = strlen(out);
        FUZZ_ASSERT(n >= 1 && n <= 70);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(out[i] > 0x20 && out[i] < 0x7f);
    }
    (void)pop3d_uidl_format_ok(fmt);
    free(fmt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        one_uidl(data + 1, size - 1);
    else
        one_line(data + 1, size - 1);
    return 0;
}
