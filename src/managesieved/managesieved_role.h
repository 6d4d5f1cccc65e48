/*
 * managesieved_role.h - the ManageSieve server role (master.cf command
 * "managesieved", RFC 5804, port 4190): the unprivileged front end
 * ("managesieve-login"), the root launcher it forks, and the mail workers
 * that manage a user's Sieve scripts as the mailbox owner, all on
 * lib-login. See docs/ARCHITECTURE.md "ManageSieve".
 */
#ifndef YUBIN_MANAGESIEVED_ROLE_H
#define YUBIN_MANAGESIEVED_ROLE_H

#include <stddef.h>

struct config;
struct worker;
struct master_service;

/* Still root: fork the launcher, make the TLS server context. */
int managesieved_prepare(struct worker *w);
/* The front end's event loop. */
int managesieved_main(struct worker *w);

#endif
