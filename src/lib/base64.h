/*
 * base64.h - RFC 4648 base64, strict.
 *
 * Owns: encoding and strict decoding of the standard alphabet (with '='
 * padding), as SASL (RFC 4422/4954) and the Dovecot authentication
 * protocol carry it. Decoding rejects whitespace, wrong padding, stray
 * characters and non-zero trailing bits, so two different strings never
 * decode to the same bytes. The unpadded variant is for "$argon2id$"
 * style hashes.
 */
#ifndef YUBIN_BASE64_H
#define YUBIN_BASE64_H

#include "lib/buf.h"

#include <stddef.h>

/* Append the encoding of data to out (padded). 0, or -1 if out's limit is hit. */
int base64_encode(struct buf *out, const void *data, size_t len);
/* Same without '=' padding. */
int base64_encode_nopad(struct buf *out, const void *data, size_t len);
/*
 * Decode in[0..inlen) and append the bytes to out. Returns 0, or -1 when
 * the input is not canonical padded base64 (or out's limit is hit).
 * The empty string decodes to nothing.
 */
int base64_decode(const char *in, size_t inlen, struct buf *out);
/* Same, for input without padding (length % 4 != 1). */
int base64_decode_nopad(const char *in, size_t inlen, struct buf *out);
/* Decode into a fixed array: returns the length, or -1 (invalid, or more than outmax bytes). */
long base64_decode_to(const char *in, size_t inlen, unsigned char *outp, size_t outmax);

/* The 6-bit value of one base64 character, or -1 (padding, white space, others). */
int base64_value(unsigned char c);

#endif
