/*
 * imap_envelope.c - the IMAP ENVELOPE (see imap_envelope.h).
 */
#include "lib-imap/imap_envelope.h"
#include "lib-imap/imap_bsquote.h"
#include "lib-imap/imap_hdrwalk.h"
#include "lib-mail/addrlist.h"
#include "lib-mail/header.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

enum env_field {
    ENV_DATE, ENV_SUBJECT, ENV_FROM, ENV_SENDER, ENV_REPLY_TO,
    ENV_TO, ENV_CC, ENV_BCC, ENV_IN_REPLY_TO, ENV_MESSAGE_ID, ENV_FIELDS
};

static const char *const env_names[ENV_FIELDS] = {
    "Date", "Subject", "From", "Sender", "Reply-To",
    "To", "Cc", "Bcc", "In-Reply-To", "Message-ID",
};

struct env_value {
    const char *v;                   /* NULL: the field is absent */
    size_t len;
};

/* Every occurrence of one address field (Dovecot joins their addresses). */
struct env_addrs {
    struct env_value *v;
    size_t n;
};

/* The value as Dovecot's header parser gives it: blanks after the colon skipped. */
static struct env_value field_value(const struct hdr_field *f)
{
    const char *p = f->value, *end = f->value + f->value_len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    struct env_value v = {p, (size_t)(end - p)};
    return v;
}

static void write_addr(struct buf *out, const struct addr_item *a)
{
    buf_putc(out, '(');
    if (a->kind == ADDR_ITEM_MAILBOX && a->name)
        imap_bsq_string_human(out, a->name, strlen(a->name));
    else
        buf_puts(out, "NIL");
    buf_putc(out, ' ');
    const char *route = a->kind == ADDR_ITEM_MAILBOX ? a->route : NULL;
    const char *mbox = a->kind != ADDR_ITEM_GROUP_END ? a->mailbox : NULL;
    const char *domain = a->kind == ADDR_ITEM_MAILBOX ? a->domain : NULL;
    imap_bsq_nstring(out, route, route ? strlen(route) : 0);
    buf_putc(out, ' ');
    imap_bsq_nstring(out, mbox, mbox ? strlen(mbox) : 0);
    buf_putc(out, ' ');
    imap_bsq_nstring(out, domain, domain ? strlen(domain) : 0);
    buf_putc(out, ')');
}

/* The addresses of one field value into out; their count. */
static size_t write_value_addrs(struct buf *out, const struct env_value *v, size_t room)
{
    char *s = xmalloc(v->len + 1);
    memcpy(s, v->v, v->len);
    s[v->len] = '\0';
    struct addr_items items;
    int n = addr_items_parse(s, room, ADDRLIST_LENIENT, &items);
    free(s);
    for (size_t i = 0; n > 0 && i < items.n; i++)
        write_addr(out, &items.v[i]);
    addr_items_free(&items);
    return n > 0 ? (size_t)n : 0;
}

/* "(addr...)" of every occurrence; 0 (nothing written) when there is no address. */
static int write_addresses(struct buf *out, const struct env_addrs *a)
{
    struct buf t;
    buf_init(&t, 0);
    size_t total = 0;
    for (size_t i = 0; i < a->n && total < IMAP_ENVELOPE_ADDR_MAX; i++)
        total += write_value_addrs(&t, &a->v[i], IMAP_ENVELOPE_ADDR_MAX - total);
    if (total > 0) {
        buf_putc(out, '(');
        buf_append(out, t.data, t.len);
        buf_putc(out, ')');
    }
    buf_free(&t);
    return total > 0;
}

static void write_list(struct buf *out, const struct env_addrs *a, const struct env_addrs *dflt)
{
    if (write_addresses(out, a))
        return;
    if (!dflt || !write_addresses(out, dflt))
        buf_puts(out, "NIL");
}

static void envelope(const char *header, size_t len, struct buf *out)
{
    struct env_value f[ENV_FIELDS];
    struct env_addrs a[ENV_FIELDS];
    memset(f, 0, sizeof(f));
    memset(a, 0, sizeof(a));
    struct imap_hdrwalk w;
    struct hdr_field hf;
    imap_hdrwalk_init(&w, header, len);
    while (imap_hdrwalk_next(&w, &hf)) {
        for (int i = 0; i < ENV_FIELDS; i++) {
            if (!hdr_name_is(&hf, env_names[i]))
                continue;
            if (i >= ENV_FROM && i <= ENV_BCC) {
                a[i].v = xrealloc(a[i].v, (a[i].n + 1) * sizeof(*a[i].v));
                a[i].v[a[i].n++] = field_value(&hf);
            } else {
                f[i] = field_value(&hf);   /* the last one counts */
            }
        }
    }
    buf_putc(out, '(');
    imap_bsq_nstring_nolf(out, f[ENV_DATE].v, f[ENV_DATE].len);
    buf_putc(out, ' ');
    if (f[ENV_SUBJECT].v)
        imap_bsq_string_human(out, f[ENV_SUBJECT].v, f[ENV_SUBJECT].len);
    else
        buf_puts(out, "NIL");
    for (int i = ENV_FROM; i <= ENV_BCC; i++) {
        buf_putc(out, ' ');
        int dflt = i == ENV_SENDER || i == ENV_REPLY_TO;
        write_list(out, &a[i], dflt ? &a[ENV_FROM] : NULL);
    }
    buf_putc(out, ' ');
    imap_bsq_nstring_nolf(out, f[ENV_IN_REPLY_TO].v, f[ENV_IN_REPLY_TO].len);
    buf_putc(out, ' ');
    imap_bsq_nstring_nolf(out, f[ENV_MESSAGE_ID].v, f[ENV_MESSAGE_ID].len);
    buf_putc(out, ')');
    for (int i = 0; i < ENV_FIELDS; i++)
        free(a[i].v);
}

int imap_envelope_write(const char *header, size_t len, struct buf *out)
{
    struct buf t;                    /* unlimited: bounded by a multiple of len */
    buf_init(&t, 0);
    envelope(header, len, &t);
    int rc = buf_append(out, t.data, t.len);
    buf_free(&t);
    return rc;
}
