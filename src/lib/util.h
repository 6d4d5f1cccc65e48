/*
 * util.h - memory, string and small system helpers shared by every process.
 *
 * Owns: allocation wrappers that never return NULL (they log and exit),
 * bounded string copies, case-insensitive helpers, fd utilities, and the
 * key that per-client limits count an IP address under.
 * Nothing here allocates without bound; callers pass limits.
 */
#ifndef YUBIN_UTIL_H
#define YUBIN_UTIL_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#define YUBIN_VERSION "0.1.0"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Allocating printf; aborts on overflow of size_t only. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Copy at most size-1 bytes and NUL terminate; returns strlen(src) (truncated if >= size). */
size_t str_copy(char *dst, const char *src, size_t size);
/* Bounded snprintf that reports truncation: returns 0 on success, -1 if truncated. */
int str_fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void str_lower(char *s);
int str_ieq(const char *a, const char *b);
int str_nieq(const char *a, const char *b, size_t n);
/* True if s starts with prefix, case-insensitively. */
int str_iprefix(const char *s, const char *prefix);
/* The value of a hex digit (either case), or -1. */
int hex_value(int c);
/* Trim ASCII whitespace in place; returns s advanced past leading blanks. */
char *str_trim(char *s);

/*
 * Split a Postfix list ("a, b c,d") on commas and whitespace, honouring
 * {braces} as a single element (braces are kept). Returns a NULL-terminated
 * array of xstrdup'd strings; free with strv_free. *count may be NULL.
 */
char **str_split_list(const char *s, size_t *count);
void strv_free(char **v);
size_t strv_len(char *const *v);

/* File descriptor helpers. */
int fd_set_nonblock(int fd, int on);
int fd_set_cloexec(int fd, int on);
/* write() the whole buffer, retrying on EINTR; -1 on error. */
ssize_t write_all(int fd, const void *buf, size_t len);
/* fsync a directory by path. */
int fsync_dir(const char *path);
/* Read a whole (small) file into a NUL-terminated malloc'd buffer, at most max bytes. */
char *read_file(const char *path, size_t max, size_t *len_out);
/* The same from an open descriptor (read to its end; the caller closes it). */
char *read_fd(int fd, size_t max, size_t *len_out);
/* mkdir -p with mode; 0 on success. */
int mkdir_p(const char *path, mode_t mode);
/* A uid (group 0) or gid (group 1) written as a number or a user/group
 * name (mail_uid = vmail, userdb uid=5000): 0 with *out, -1 when neither. */
int id_parse(const char *s, int group, long long *out);

/*
 * The key per-client limits count an address under: IPv4 as is, IPv6 by
 * its /64 ("2001:db8:1:2::/64"), since one host owns a whole /64. Text
 * that is not an IPv6 address is copied as is (bounded by keylen).
 */
#define IP_KEY_MAX 56
void ip_limit_key(const char *ip, char *key, size_t keylen);

/* Monotonic and wall clocks. */
uint64_t now_usec(void);      /* CLOCK_REALTIME in microseconds */
uint64_t mono_msec(void);     /* CLOCK_MONOTONIC in milliseconds */

#endif
