/*
 * login.h - the imapd front end (login.c): the event loop of the process
 * the master runs, serving clients until they have logged in.
 */
#ifndef YUBIN_IMAPD_LOGIN_H
#define YUBIN_IMAPD_LOGIN_H

#include "imapd/imapd.h"

struct tls_server;

/* Serve the listening sockets until SIGTERM; launcher: the socket to the launcher. */
int imapd_login_run(const struct imapd_settings *set, int *listen_fds, size_t nlisten,
                    struct tls_server *tls, const char *tls_error, int launcher);

#endif
