/*
 * pop3d.c - the pop3d role's entry points (pop3d_role.h): the settings,
 * what is done while still root (the launcher is forked before anything
 * else, so it never holds a TLS key; then the TLS server context from the
 * smtpd_tls_* certificate parameters), and the front end's loop.
 */
#include "pop3d/pop3d_role.h"

#include "lib-conf/config.h"
#include "lib-master/worker.h"
#include "lib-storage/quota.h"
#include "lib-tls/tls.h"
#include "lib/log.h"
#include "lib/util.h"
#include "pop3d/pop3_parse.h"
#include "pop3d/pop3d.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_UIDL_FORMAT "%08Xu%08Xv"

static struct pop3d_settings settings;
static int launcher_fd = -1;
static char *tls_error;

static void settings_read(const struct config *cfg, const char *queue_dir)
{
    login_settings_read(cfg, queue_dir, &settings.l);
    settings.l.role = "pop3d";
    settings.l.service = "pop3";
    settings.l.wrappermode = cfg_get_bool(cfg, P_pop3d_tls_wrappermode);
    settings.l.client_limit = cfg_get_int(cfg, P_pop3d_client_limit);
    settings.l.login_client_limit = cfg_get_int(cfg, P_pop3d_login_client_limit);
    settings.l.login_timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_pop3d_login_timeout);
    settings.l.timeout_ms = (uint64_t)cfg_get_time_ms(cfg, P_pop3d_timeout);
    settings.l.line_max = POP3_LINE_MAX;
    const char *f = cfg_get(cfg, P_pop3_uidl_format);
    if (!f || !pop3d_uidl_format_ok(f)) {
        msg_warn("pop3_uidl_format \"%s\" is not supported (%%u %%v %%f only): using %s",
                 f ? f : "", DEFAULT_UIDL_FORMAT);
        f = DEFAULT_UIDL_FORMAT;
    }
    settings.uidl_format = xstrdup(f);
    settings.no_flag_updates = cfg_get_bool(cfg, P_pop3_no_flag_updates);
}

static int tls_configured(const struct config *cfg)
{
    const char *c = cfg_get(cfg, P_smtpd_tls_cert_file);
    const char *ch = cfg_get(cfg, P_smtpd_tls_chain_files);
    return (c && *c) || (ch && *ch);
}

int pop3d_prepare(struct worker *w)
{
    settings_read(w->cfg, w->queue_dir);
    mquota_default_from_config(w->cfg);   /* Trash rules for DELE's accounting, in the mail workers */
    int closing[66];
    size_t n = 0;
    for (size_t i = 0; i < w->nlisten && n < 64; i++)
        closing[n++] = w->listen_fds[i];
    closing[n++] = w->count_fd;
    launcher_fd = login_launcher_start(&settings.l, pop3d_mail_run, &settings, closing, n);
    if (launcher_fd < 0) {
        msg_error("cannot start the pop3d launcher");
        return -1;
    }
    if (tls_configured(w->cfg) || settings.l.wrappermode) {
        char err[1024] = "";
        w->tls = tls_server_new(w->cfg, err, sizeof(err));
        if (!w->tls)
            tls_error = xstrdup(err);
    }
    if (!w->tls && settings.l.wrappermode)
        msg_warn("pop3d_tls_wrappermode = yes but TLS is unavailable: %s",
                 tls_error ? tls_error : "no certificate configured");
    else if (tls_error)
        msg_warn("TLS is not available: %s", tls_error);
    return 0;
}

int pop3d_main(struct worker *w)
{
    if (launcher_fd < 0)
        msg_fatal("pop3d: the launcher was not started");
    int rc = pop3d_login_run(&settings, w->listen_fds, w->nlisten, w->tls, tls_error,
                             launcher_fd);
    close(launcher_fd);
    free(tls_error);
    free(settings.uidl_format);
    login_settings_free(&settings.l);
    return rc;
}

int pop3d_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen)
{
    (void)svc;
    if (cfg_get_bool(cfg, P_pop3d_tls_wrappermode) && !tls_configured(cfg)) {
        str_fmt(err, errlen, "pop3d_tls_wrappermode = yes needs a certificate: set "
                "smtpd_tls_cert_file");
        return -1;
    }
    const char *f = cfg_get(cfg, P_pop3_uidl_format);
    if (f && !pop3d_uidl_format_ok(f)) {
        str_fmt(err, errlen, "pop3_uidl_format \"%s\": only %%u, %%v, %%f and %%%% are "
                "supported", f);
        return -1;
    }
    return 0;
}
