/*
 * imapd.c - the imapd role's entry points (imapd_role.h): the settings,
 * what is done while still root (the launcher is forked before anything
 * else, so it never holds a TLS key; then the TLS server context, from
 * the smtpd_tls_* certificate parameters unless imapd_tls_cert_file and
 * imapd_tls_key_file override them), and the front end's loop.
 */
#include "imapd/imapd_role.h"

#include "imapd/imapd.h"
#include "imapd/login.h"
#include "lib-conf/config.h"
#include "lib-storage/quota.h"
#include "lib-master/worker.h"
#include "lib-tls/tls.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct imapd_settings settings;
static int launcher_fd = -1;
static char *tls_error;

/* The certificate parameters lib-tls reads for a server: imapd's own when set. */
static void tls_params(struct config *cfg)
{
    const char *cert = cfg_get(cfg, P_imapd_tls_cert_file);
    const char *key = cfg_get(cfg, P_imapd_tls_key_file);
    if (!cert || !*cert)
        return;
    char *c = xstrdup(cert), *k = xstrdup(key && *key ? key : cert);
    cfg_set(cfg, "smtpd_tls_cert_file", c);
    cfg_set(cfg, "smtpd_tls_key_file", k);
    cfg_set(cfg, "smtpd_tls_chain_files", "");
    free(c);
    free(k);
}

static int tls_configured(const struct config *cfg)
{
    const char *c = cfg_get(cfg, P_smtpd_tls_cert_file);
    const char *ch = cfg_get(cfg, P_smtpd_tls_chain_files);
    return (c && *c) || (ch && *ch);
}

int imapd_prepare(struct worker *w)
{
    imapd_settings_read(w->cfg, w->queue_dir, &settings);
    mquota_default_from_config(w->cfg);   /* inherited by the launcher's mail workers */
    int closing[66];
    size_t n = 0;
    for (size_t i = 0; i < w->nlisten && n < 64; i++)
        closing[n++] = w->listen_fds[i];
    closing[n++] = w->count_fd;
    launcher_fd = login_launcher_start(&settings.l, imapd_mail_run, &settings, closing, n);
    if (launcher_fd < 0) {
        msg_error("cannot start the imapd launcher");
        return -1;
    }
    tls_params(w->cfg);
    if (tls_configured(w->cfg) || settings.l.wrappermode) {
        char err[1024] = "";
        w->tls = tls_server_new(w->cfg, err, sizeof(err));
        if (!w->tls)
            tls_error = xstrdup(err);
    }
    if (!w->tls && settings.l.wrappermode)
        msg_warn("imapd_tls_wrappermode = yes but TLS is unavailable: %s",
                 tls_error ? tls_error : "no certificate configured");
    else if (tls_error)
        msg_warn("TLS is not available: %s", tls_error);
    return 0;
}

int imapd_main(struct worker *w)
{
    if (launcher_fd < 0)
        msg_fatal("imapd: the launcher was not started");
    int rc = imapd_login_run(&settings, w->listen_fds, w->nlisten, w->tls, tls_error,
                             launcher_fd);
    close(launcher_fd);
    free(tls_error);
    imapd_settings_free(&settings);
    return rc;
}

int imapd_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen)
{
    (void)svc;
    const char *cert = cfg_get(cfg, P_imapd_tls_cert_file);
    if (cfg_get_bool(cfg, P_imapd_tls_wrappermode) && !(cert && *cert) && !tls_configured(cfg)) {
        str_fmt(err, errlen, "imapd_tls_wrappermode = yes needs a certificate: set "
                "imapd_tls_cert_file or smtpd_tls_cert_file");
        return -1;
    }
    return 0;
}
