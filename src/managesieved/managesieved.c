/*
 * managesieved.c - the managesieved role's entry points
 * (managesieved_role.h): the settings, what is done while still root (the
 * launcher first, then the TLS context from the smtpd_tls_* parameters),
 * the front end's loop; and what the front end and the workers share: the
 * capability lines and the reply writer.
 */
#include "managesieved/managesieved_role.h"

#include "lib-conf/config.h"
#include "lib-master/worker.h"
#include "lib-sieve/sieve.h"
#include "lib-tls/tls.h"
#include "lib/buf.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"
#include "managesieved/managesieved.h"
#include "managesieved/msieve_parse.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct managesieved_settings settings;
static int launcher_fd = -1;
static char *tls_error;

static void settings_read(const struct config *cfg, const char *queue_dir)
{
    login_settings_read(cfg, queue_dir, &settings.l);
    settings.l.role = "managesieved";
    settings.l.service = "sieve";
    settings.l.wrappermode = 0;
    settings.l.client_limit = cfg_get_int(cfg, P_managesieved_client_limit);
    settings.l.login_client_limit = cfg_get_int(cfg, P_managesieved_login_client_limit);
    settings.l.login_timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_managesieved_login_timeout);
    settings.l.timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_managesieved_timeout);
    settings.l.line_max = MSIEVE_LINE_MAX;
    const char *s = cfg_get(cfg, P_sieve);
    settings.sieve = xstrdup(s && *s ? s : "~/.dovecot.sieve");
    settings.sieve_dir = xstrdup(cfg_get(cfg, P_sieve_dir));
    settings.max_script_size = (uint64_t)cfg_get_size(cfg, P_sieve_max_script_size);
    settings.max_scripts = cfg_get_int(cfg, P_sieve_quota_max_scripts);
    settings.max_storage = (uint64_t)cfg_get_size(cfg, P_sieve_quota_max_storage);
}

int managesieved_prepare(struct worker *w)
{
    settings_read(w->cfg, w->queue_dir);
    int closing[66];
    size_t n = 0;
    for (size_t i = 0; i < w->nlisten && n < 64; i++)
        closing[n++] = w->listen_fds[i];
    closing[n++] = w->count_fd;
    launcher_fd = login_launcher_start(&settings.l, managesieved_mail_run, &settings, closing, n);
    if (launcher_fd < 0) {
        msg_error("cannot start the managesieved launcher");
        return -1;
    }
    const char *c = cfg_get(w->cfg, P_smtpd_tls_cert_file);
    const char *ch = cfg_get(w->cfg, P_smtpd_tls_chain_files);
    if ((c && *c) || (ch && *ch)) {
        char err[1024] = "";
        w->tls = tls_server_new(w->cfg, err, sizeof(err));
        if (!w->tls) {
            tls_error = xstrdup(err);
            msg_warn("TLS is not available: %s", tls_error);
        }
    }
    return 0;
}

int managesieved_main(struct worker *w)
{
    if (launcher_fd < 0)
        msg_fatal("managesieved: the launcher was not started");
    int rc = managesieved_login_run(&settings, w->listen_fds, w->nlisten, w->tls, tls_error,
                                    launcher_fd);
    close(launcher_fd);
    free(tls_error);
    free(settings.sieve);
    free(settings.sieve_dir);
    login_settings_free(&settings.l);
    return rc;
}

void managesieved_capability(struct buf *out, const char *sasl, int starttls)
{
    const char *caps = sieve_capabilities();
    buf_puts(out, "\"IMPLEMENTATION\" \"yubin\"\r\n\"SIEVE\" ");
    managesieved_put_string(out, caps, strlen(caps));
    buf_puts(out, "\r\n");
    if (strstr(caps, "enotify"))
        buf_puts(out, "\"NOTIFY\" \"mailto\"\r\n");
    if (sasl) {
        buf_puts(out, "\"SASL\" ");
        managesieved_put_string(out, sasl, strlen(sasl));
        buf_puts(out, "\r\n");
    }
    if (starttls)
        buf_puts(out, "\"STARTTLS\"\r\n");
    buf_puts(out, "\"VERSION\" \"1.0\"\r\n");
}

void managesieved_reply(struct conn *c, const char *result, const char *code, const char *text)
{
    struct buf *o = conn_out(c);
    buf_puts(o, result);
    if (code && *code)
        buf_printf(o, " (%s)", code);
    if (text) {
        buf_putc(o, ' ');
        managesieved_put_string(o, text, strlen(text));
    }
    buf_puts(o, "\r\n");
}
