/*
 * imap_mimefields.h - a part's Content-* header fields as BODYSTRUCTURE
 * reports them (internal to imap_bodystructure.c).
 *
 * Owns: reading Content-Type, -Transfer-Encoding, -Disposition, -Language,
 * -ID, -Description, -Location, -MD5 and MIME-Version from one header
 * section the way Dovecot 2.3 does (its RFC 822 tokens, comments and
 * quoted strings, its RFC 2231 merge that keeps the encoded form, the
 * first field of each name counting), and rendering the pieces of the
 * BODYSTRUCTURE entry from them.
 */
#ifndef YUBIN_IMAP_MIMEFIELDS_H
#define YUBIN_IMAP_MIMEFIELDS_H

#include <stddef.h>

struct buf;

struct mf_params {
    char **kv;                       /* kv[2i] name, kv[2i+1] value */
    size_t n;
};

struct mime_fields {
    int have_ctype;                  /* a Content-Type field was seen */
    int mime_version;                /* a MIME-Version field was seen */
    char *ctype_full;                /* "type/subtype" as far as it parsed */
    char *type, *subtype;            /* NULL without Content-Type */
    struct mf_params params;
    char *cte, *id, *desc, *md5, *location, *disposition;
    struct mf_params dparams;
    char **lang;                     /* NULL-terminated, or NULL */
};

/* Read the header section h[0..len) (a leading mbox "From " line skipped). */
void mime_fields_read(struct mime_fields *mf, const char *h, size_t len, int skip_from);
/* Forget every Content-* value (a part that is not MIME). */
void mime_fields_clear(struct mime_fields *mf);
void mime_fields_free(struct mime_fields *mf);

/* "(name value ...)" or NIL; with_charset adds "charset" "us-ascii" when absent. */
void mf_params_write(struct buf *out, const struct mf_params *p, int with_charset);
/* " disposition language location": the tail every BODYSTRUCTURE entry has. */
void mf_common_write(struct buf *out, const struct mime_fields *mf);

#endif
