/*
 * pop3d.h - what the parts of the pop3d role share: its settings
 * (lib-login's common ones and POP3's own) and the two halves, the front
 * end's callbacks (login.c) and the mail worker (mail.c).
 */
#ifndef YUBIN_POP3D_H
#define YUBIN_POP3D_H

#include "lib-login/login.h"

#include <stdint.h>
#include <sys/types.h>

struct tls_server;

struct pop3d_settings {
    struct login_settings l;
    char *uidl_format;              /* pop3_uidl_format */
    int no_flag_updates;            /* pop3_no_flag_updates: RETR/TOP do not set \Seen */
};

/* The front end's loop (login.c). */
int pop3d_login_run(const struct pop3d_settings *set, int *listen_fds, size_t nlisten,
                    struct tls_server *tls, const char *tls_error, int launcher);
/* The mail worker's loop (mail.c; a login_worker_fn, ctx the pop3d_settings). */
void pop3d_mail_run(int sock, const struct login_settings *set, uid_t uid, void *ctx);

#endif
