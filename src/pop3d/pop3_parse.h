/*
 * pop3_parse.h - the POP3 protocol without I/O (pop3_parse.c): a command
 * line split into its name and arguments, message-number arguments, and
 * the UIDL value in Dovecot's pop3_uidl_format. Untrusted input: every
 * function bounds what it reads and writes (fuzzed by tests/fuzz/fuzz_pop3.c).
 */
#ifndef YUBIN_POP3D_POP3_PARSE_H
#define YUBIN_POP3D_POP3_PARSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * A command line's limit without CRLF. RFC 2449 allows 255 octets, except
 * for AUTH's initial response and the answers to its challenges (RFC 5034),
 * which carry base64 SASL data.
 */
#define POP3_LINE_MAX     8192
#define POP3_NAME_MAX     8       /* command names are 3 or 4 letters */
#define POP3_ARGS_MAX     2

struct pop3_cmd {
    char name[POP3_NAME_MAX + 1];   /* upper case */
    const char *args[POP3_ARGS_MAX];
    int nargs;
    const char *rest;               /* everything after "NAME " (PASS takes it whole) */
};

/*
 * Split one line (CRLF removed, NUL-terminated, len bytes) in place. 0, or
 * -1 with *err (an empty line, a NUL byte, a name that is not 1-8 ASCII
 * letters, more than POP3_ARGS_MAX arguments, an argument over 255 bytes
 * except for AUTH and PASS).
 */
int pop3d_parse_line(char *line, size_t len, struct pop3_cmd *cmd, const char **err);

/* A message number "1".."4294967295" (digits only): 0 with *out, or -1. */
int pop3d_parse_number(const char *s, uint32_t *out);

/* pop3_uidl_format is one pop3d_uidl can expand (%u %v %f, %%, width, x/X). */
int pop3d_uidl_format_ok(const char *fmt);

/*
 * The UIDL of a message: fmt with %u (UID), %v (UIDVALIDITY), %f (the
 * Maildir file's base name) and %%; a conversion may have a zero flag and
 * width ("%08"), and x/X for hexadecimal (lower case for both, as Dovecot's
 * var_expand writes it: "%08Xu%08Xv" gives "000000016b16bb05"). The
 * result must be 1-70 printable ASCII characters (RFC 1939): 0, or -1.
 */
int pop3d_uidl(const char *fmt, uint32_t uid, uint32_t uidvalidity, const char *base,
               size_t baselen, char *out, size_t outlen);

#endif
