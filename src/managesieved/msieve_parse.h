/*
 * msieve_parse.h - the ManageSieve protocol without I/O (msieve_parse.c):
 * RFC 5804 command lines with their arguments (atoms, quoted strings,
 * literals "{n}" and "{n+}"), script names, and the strings the server
 * writes. Untrusted input: every limit is explicit (fuzzed by
 * tests/fuzz/fuzz_managesieve.c).
 */
#ifndef YUBIN_MANAGESIEVED_MSIEVE_PARSE_H
#define YUBIN_MANAGESIEVED_MSIEVE_PARSE_H

#include <stddef.h>

struct buf;

#define MSIEVE_LINE_MAX   8192       /* a command line without its literals */
#define MSIEVE_NAME_MAX   31         /* a command name */
#define MSIEVE_ARGS_MAX   4
#define MSIEVE_DISCARD_MAX (64u * 1024 * 1024)  /* a literal too large that is skipped */
#define MSIEVE_SCRIPT_NAME_MAX 128   /* bytes of a script name */
#define MSIEVE_NAME_BYTES (MSIEVE_SCRIPT_NAME_MAX + 16)   /* its file name, with room */

enum msieve_arg_type { MSIEVE_ATOM, MSIEVE_STRING };

struct msieve_arg {
    enum msieve_arg_type type;
    char *s;                         /* NUL-terminated copy (a literal may hold NULs: len) */
    size_t len;
};

struct msieve_cmd {
    char name[MSIEVE_NAME_MAX + 1];  /* upper case */
    struct msieve_arg args[MSIEVE_ARGS_MAX];
    int nargs;
    /* MSIEVE_ERROR for a literal over literal_max: its size; *used ends at its
     * "{n+}" line, and the caller discards these bytes and the rest of the line */
    size_t too_large;
};

enum msieve_parse_result {
    MSIEVE_FATAL = -2,               /* cannot go on: too long, a literal too large */
    MSIEVE_ERROR = -1,               /* a bad command; *used skips its line */
    MSIEVE_NEED = 0,                 /* more input needed */
    MSIEVE_DONE = 1,                 /* *cmd filled; *used bytes were the command */
};

/*
 * Parse one command at the start of data[0..len). literal_max bounds a
 * literal's size. On DONE the arguments are copies (free with
 * managesieved_cmd_free); on ERROR and FATAL *err says why.
 */
enum msieve_parse_result managesieved_parse(const char *data, size_t len, size_t literal_max,
                                            struct msieve_cmd *cmd, size_t *used,
                                            const char **err);
void managesieved_cmd_free(struct msieve_cmd *cmd);

/*
 * A script name RFC 5804 allows and that is safe as a file name: 1 to
 * MSIEVE_SCRIPT_NAME_MAX bytes of UTF-8, no control characters (C0, DEL,
 * C1, U+2028, U+2029), no "/", not starting with "." (so never "." nor
 * ".."). 1 or 0.
 */
int managesieved_name_ok(const char *name, size_t len);

/* Write s as a ManageSieve string: quoted when it can be, else a literal "{n}\r\n...". */
void managesieved_put_string(struct buf *out, const char *s, size_t len);

#endif
