/*
 * imapd_role.h - the IMAP server role (master.cf command "imapd"): the
 * unprivileged front end ("imap-login"), the root launcher it forks, and
 * the mail workers that serve logged-in sessions as the mailbox owner.
 * See docs/ARCHITECTURE.md "IMAP".
 */
#ifndef YUBIN_IMAPD_ROLE_H
#define YUBIN_IMAPD_ROLE_H

#include <stddef.h>

struct config;
struct worker;

/* Still root: fork the launcher, make the TLS server context. */
int imapd_prepare(struct worker *w);
/* The front end's event loop. */
int imapd_main(struct worker *w);
/* yubin check: the service's settings. */
struct master_service;
int imapd_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen);

#endif
