/*
 * pop3d_role.h - the POP3 server role (master.cf command "pop3d"): the
 * unprivileged front end ("pop3-login"), the root launcher it forks, and
 * the mail workers serving logged-in sessions as the mailbox owner, all
 * on lib-login. See docs/ARCHITECTURE.md "POP3".
 */
#ifndef YUBIN_POP3D_ROLE_H
#define YUBIN_POP3D_ROLE_H

#include <stddef.h>

struct config;
struct worker;
struct master_service;

/* Still root: fork the launcher, make the TLS server context. */
int pop3d_prepare(struct worker *w);
/* The front end's event loop. */
int pop3d_main(struct worker *w);
/* yubin check: the service's settings. */
int pop3d_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen);

#endif
