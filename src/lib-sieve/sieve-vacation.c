/*
 * sieve-vacation.c - the reply a vacation action sends (RFC 5230 5,
 * RFC 3834 3): To the envelope sender, From the :from address or the
 * recipient's address found in the message, Subject from :subject or
 * "Auto: " and the original one (RFC 2047-encoded when not ASCII),
 * In-Reply-To and References, Auto-Submitted: auto-replied, the reason as
 * a text/plain UTF-8 body (or as the MIME entity with :mime). Sent with
 * the null envelope sender.
 *
 * Owns: composing the message; sending it (through yubin's queue) and
 * remembering whom was answered when are the caller's.
 */
#include "lib-sieve/sieve-int.h"
#include "lib-mail/addrlist.h"
#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#define REPLY_MAX (1024 * 1024)

/* The first of addrs that appears in the message's recipient headers, or NULL. */
static char *find_recipient(struct sieve_run *run, char *const *addrs)
{
    static const char *const hdrs[] = { "to", "cc", "bcc", "resent-to", "resent-cc",
                                        "resent-bcc", NULL };
    for (size_t h = 0; hdrs[h]; h++) {
        char **vals = sieve_header_values(run, hdrs[h], 0);
        char *found = NULL;
        for (size_t i = 0; vals[i] && !found; i++) {
            struct addr_items it;
            addr_items_parse(vals[i], 256, ADDRLIST_LENIENT, &it);
            for (size_t k = 0; k < it.n && !found; k++) {
                if (it.v[k].kind != ADDR_ITEM_MAILBOX || !it.v[k].domain)
                    continue;
                char *full = xasprintf("%s@%s", it.v[k].mailbox, it.v[k].domain);
                for (size_t j = 0; addrs[j] && !found; j++)
                    if (str_ieq(full, addrs[j]))
                        found = xstrdup(addrs[j]);
                free(full);
            }
            addr_items_free(&it);
        }
        strv_free(vals);
        if (found)
            return found;
    }
    return NULL;
}

/* Append "Name: value" with value RFC 2047 B-encoded (UTF-8) when it is not ASCII. */
static void put_header_text(struct buf *b, const char *name, const char *value)
{
    int ascii = 1;
    for (const char *p = value; *p; p++)
        ascii &= (unsigned char)*p < 0x80 && *p != '\r' && *p != '\n';
    if (ascii) {
        buf_printf(b, "%s: %s\r\n", name, value);
        return;
    }
    buf_printf(b, "%s:", name);
    const char *p = value;
    while (*p) {
        size_t n = 0;
        while (p[n] && n < 45) {     /* whole UTF-8 characters, <= 75 bytes encoded */
            size_t cl = 1;
            while (p[n + cl] && ((unsigned char)p[n + cl] & 0xc0) == 0x80)
                cl++;
            if (n + cl > 45 && n)
                break;
            n += cl;
        }
        buf_puts(b, p == value ? " =?utf-8?B?" : "\r\n =?utf-8?B?");
        base64_encode(b, p, n);
        buf_puts(b, "?=");
        p += n;
    }
    buf_puts(b, "\r\n");
}

static char *bare_path(const char *s)
{
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
        return xstrndup(s + 1, n - 2);
    return xstrdup(s);
}

int sieve_vacation_compose(const struct sieve_msg *msg, const struct sieve_action *a,
                           const char *const *own, char **out, size_t *outlen, char **rcpt,
                           const char **why)
{
    *out = *rcpt = NULL;
    if (!sieve_vacation_allowed(msg, a, own, why))
        return -1;
    struct sieve_script dummy;
    memset(&dummy, 0, sizeof(dummy));
    struct sieve_run *run = sieve_run_new(&dummy, msg, NULL);
    size_t na = 1 + strv_len((char *const *)own) + strv_len(a->addresses);
    char **addrs = xcalloc(na + 1, sizeof(char *));
    size_t k = 0;
    if (msg->env_to)
        addrs[k++] = bare_path(msg->env_to);
    for (size_t i = 0; own && own[i]; i++)
        addrs[k++] = xstrdup(own[i]);
    for (size_t i = 0; a->addresses && a->addresses[i]; i++)
        addrs[k++] = xstrdup(a->addresses[i]);
    char *me = find_recipient(run, addrs);
    strv_free(addrs);
    char **subj = sieve_header_values(run, "subject", 1);
    char **msgid = sieve_header_values(run, "message-id", 0);
    char **refs = sieve_header_values(run, "references", 0);
    struct buf b;
    buf_init(&b, REPLY_MAX);
    *rcpt = bare_path(msg->env_from);
    buf_printf(&b, "To: <%s>\r\n", *rcpt);
    if (a->from)
        buf_printf(&b, "From: %s\r\n", a->from);
    else if (me || msg->env_to)
        buf_printf(&b, "From: <%s>\r\n", me ? me : msg->env_to);
    char *subject = a->subject ? xstrdup(a->subject)
                  : xasprintf("Auto: %s", subj[0] ? subj[0] : "");
    put_header_text(&b, "Subject", subject);
    free(subject);
    if (msgid[0]) {
        buf_printf(&b, "In-Reply-To: %s\r\n", msgid[0]);
        buf_printf(&b, "References: %s%s%s\r\n", refs[0] ? refs[0] : "", refs[0] ? " " : "",
                   msgid[0]);
    }
    buf_puts(&b, "Auto-Submitted: auto-replied (vacation)\r\nPrecedence: bulk\r\n"
                 "MIME-Version: 1.0\r\n");
    if (a->mime) {
        buf_puts(&b, a->reason ? a->reason : "");
    } else {
        buf_puts(&b, "Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n\r\n");
        buf_puts(&b, a->reason ? a->reason : "");
        buf_puts(&b, "\r\n");
    }
    *outlen = b.len;
    *out = xstrndup(buf_cstr(&b), b.len);
    buf_free(&b);
    free(me);
    strv_free(subj);
    strv_free(msgid);
    strv_free(refs);
    sieve_run_free(run);
    return 0;
}
