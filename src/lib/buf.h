/*
 * buf.h - growable byte buffer with an explicit upper bound.
 *
 * Owns: the one buffer type used for protocol I/O, message content and
 * string building. Appends that would exceed buf->limit fail (return -1)
 * instead of growing, so a stranger cannot make us allocate without bound.
 */
#ifndef YUBIN_BUF_H
#define YUBIN_BUF_H

#include <stddef.h>
#include <stdarg.h>

struct buf {
    char *data;     /* always NUL terminated when cap > 0 */
    size_t len;
    size_t cap;
    size_t limit;   /* 0 = unlimited (internal use only) */
};

void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Return data as C string (never NULL). */
const char *buf_cstr(struct buf *b);

#endif
