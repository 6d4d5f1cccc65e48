/*
 * auth_role.h - the public API of src/auth (the authentication service): what src/cmd/roles.c hands the master.
 * Everything else in the folder is the role's own business.
 */
#ifndef YUBIN_AUTH_ROLE_H
#define YUBIN_AUTH_ROLE_H

#include <stddef.h>

struct config;
struct worker;

int auth_main(struct worker *w);     /* master.cf "auth" */

#endif
