/*
 * settings.c - what the parts of imapd share: its settings (lib-login's
 * common ones plus IMAP's own), the parser limits before and after login,
 * the post-login capability list and the reply writers.
 */
#include "imapd/imapd.h"

#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- settings ---- */

void imapd_settings_read(const struct config *cfg, const char *queue_dir,
                         struct imapd_settings *set)
{
    memset(set, 0, sizeof(*set));
    login_settings_read(cfg, queue_dir, &set->l);
    set->l.role = "imapd";
    set->l.service = "imap";
    set->l.wrappermode = cfg_get_bool(cfg, P_imapd_tls_wrappermode);
    set->l.client_limit = cfg_get_int(cfg, P_imapd_client_limit);
    set->l.login_client_limit = cfg_get_int(cfg, P_imapd_login_client_limit);
    set->l.login_timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_imapd_login_timeout);
    set->l.timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_imapd_timeout);
    set->line_max = (size_t)cfg_get_int(cfg, P_imap_max_line_length);
    set->l.line_max = set->line_max;
    set->capability = xstrdup(cfg_get(cfg, P_imap_capability));
    set->idle_notify_ms = (uint64_t)cfg_get_time_ms(cfg, P_imap_idle_notify_interval);
}

void imapd_settings_free(struct imapd_settings *set)
{
    login_settings_free(&set->l);
    free(set->capability);
    memset(set, 0, sizeof(*set));
}

void imapd_parser_limits(const struct imapd_settings *set, int logged_in,
                         struct imap_parser_limits *lim)
{
    imap_parser_default_limits(lim);
    lim->line_max = set->line_max;
    lim->command_max = logged_in ? 4 * set->line_max : set->line_max + 16384;
    lim->literal_max = logged_in ? set->line_max : 8192;
    lim->args_max = logged_in ? 10000 : 32;
    lim->depth_max = logged_in ? 32 : 4;
}

/* IMAP4rev1 and what the mail worker implements today. */
/*
 * What the mail worker's commands implement (Dovecot's order where it has
 * them). CONDSTORE and QRESYNC work once enabled but are not announced yet:
 * imaptest's esearch-condstore misses the untagged OK [HIGHESTMODSEQ] of a
 * first CONDSTORE-enabling FETCH. BINARY APPEND is not there yet.
 */
#define CAPA_POST                                                                        \
    "IMAP4rev1 LITERAL+ ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "            \
    "THREAD=ORDEREDSUBJECT MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED " \
    "ESEARCH SEARCHRES LIST-STATUS MOVE PREVIEW STATUS=SIZE SPECIAL-USE "           \
    "QUOTA UTF8=ACCEPT"

void imapd_capability_post(const struct imapd_settings *set, struct buf *out)
{
    const char *c = set->capability ? set->capability : "";
    if (*c && *c != '+') {
        buf_puts(out, c);
        return;
    }
    buf_puts(out, CAPA_POST);
    if (*c == '+' && c[1]) {
        buf_putc(out, ' ');
        buf_puts(out, c + 1);
    }
}

/* ---- replies ---- */

void imapd_reply(struct conn *c, const char *tag, const char *fmt, ...)
{
    struct buf *o = conn_out(c);
    buf_puts(o, tag && *tag ? tag : "*");
    buf_putc(o, ' ');
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(o, fmt, ap);
    va_end(ap);
    buf_puts(o, "\r\n");
}

void imapd_reply_parse_error(struct conn *c, struct imap_parser *p)
{
    const char *code = imap_parser_error_code(p);
    imapd_reply(c, imap_parser_tag(p), "%s %s%s%s%s", imap_parser_error_no(p) ? "NO" : "BAD",
                code ? "[" : "", code ? code : "", code ? "] " : "", imap_parser_error(p));
}

void imapd_reply_id(struct conn *c)
{
    imapd_reply(c, NULL, "ID (\"name\" \"yubin\")");
}
