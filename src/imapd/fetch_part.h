/*
 * fetch_part.h - FETCH's access to lib-imap's section addressing, kept in
 * its own file because imap_section.h and imap_fetch_items.h both name
 * their section kinds IMAP_SECTION_* and cannot share a translation unit.
 */
#ifndef YUBIN_IMAPD_FETCH_PART_H
#define YUBIN_IMAPD_FETCH_PART_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct imap_msg;

enum fetch_part_kind { FETCH_PART_BODY, FETCH_PART_HEADER, FETCH_PART_TEXT, FETCH_PART_MIME };

/* The raw byte range of a section of m; 0, or -1 when there is no such part. */
int imapd_fetch_range(const struct imap_msg *m, const uint32_t *parts, unsigned nparts,
                      enum fetch_part_kind kind, size_t *off, size_t *len);
/*
 * BINARY[parts]: the part's decoded content appended to out. 0, -1 for no
 * such part (or out full), -2 for an unknown Content-Transfer-Encoding.
 */
int imapd_fetch_binary(const struct imap_msg *m, const uint32_t *parts, unsigned nparts,
                       const char *msg, struct buf *out);

#endif
