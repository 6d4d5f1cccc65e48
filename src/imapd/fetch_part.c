/*
 * fetch_part.c - section ranges and BINARY decoding for FETCH (see
 * fetch_part.h).
 */
#include "imapd/fetch_part.h"

#include "lib-imap/imap_bodystructure.h"
#include "lib-imap/imap_section.h"

static int find(const struct imap_msg *m, const uint32_t *parts, unsigned nparts,
                enum imap_section_kind kind, struct imap_section *out)
{
    struct imap_section_spec spec = {.depth = nparts, .kind = kind};
    if (nparts > IMAP_SECTION_DEPTH_MAX)
        return -1;
    for (unsigned i = 0; i < nparts; i++)
        spec.path[i] = parts[i];
    return imap_section_find(m, &spec, out);
}

int imapd_fetch_range(const struct imap_msg *m, const uint32_t *parts, unsigned nparts,
                      enum fetch_part_kind kind, size_t *off, size_t *len)
{
    static const enum imap_section_kind map[] = {
        [FETCH_PART_BODY] = IMAP_SECTION_BODY, [FETCH_PART_HEADER] = IMAP_SECTION_HEADER,
        [FETCH_PART_TEXT] = IMAP_SECTION_TEXT, [FETCH_PART_MIME] = IMAP_SECTION_MIME,
    };
    struct imap_section s;
    if (find(m, parts, nparts, map[kind], &s) < 0)
        return -1;
    *off = s.offset;
    *len = s.len;
    return 0;
}

int imapd_fetch_binary(const struct imap_msg *m, const uint32_t *parts, unsigned nparts,
                       const char *msg, struct buf *out)
{
    struct imap_section s;
    if (find(m, parts, nparts, IMAP_SECTION_BODY, &s) < 0)
        return -1;
    int r = imap_binary_decode(&s, msg, out);
    return r == IMAP_BINARY_UNKNOWN_CTE ? -2 : r < 0 ? -1 : 0;
}
