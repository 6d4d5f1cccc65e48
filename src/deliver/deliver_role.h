/*
 * deliver_role.h - the public API of src/deliver (the delivery agents): what src/cmd/roles.c hands the master.
 * Everything else in the folder is the role's own business.
 */
#ifndef YUBIN_DELIVER_ROLE_H
#define YUBIN_DELIVER_ROLE_H

#include <stddef.h>

struct config;
struct worker;

int deliver_main(struct worker *w);  /* master.cf "local", "virtual" (svc->command says which) */
int smtp_main(struct worker *w);     /* master.cf "smtp": SMTP client for relayed mail */
int deliver_spawn_main(struct worker *w); /* master.cf "spawn": a program per connection */
struct master_service;
/* yubin check: the user= and argv= of a pipe or spawn line. */
int deliver_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                          size_t errlen);

#endif
