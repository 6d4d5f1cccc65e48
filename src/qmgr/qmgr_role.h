/*
 * qmgr_role.h - the public API of src/qmgr (the queue manager): what src/cmd/roles.c hands the master.
 * Everything else in the folder is the role's own business.
 */
#ifndef YUBIN_QMGR_ROLE_H
#define YUBIN_QMGR_ROLE_H

#include <stddef.h>

struct config;
struct worker;

int qmgr_main(struct worker *w);     /* master.cf "qmgr" */

#endif
