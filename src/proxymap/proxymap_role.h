/*
 * proxymap_role.h - the public API of src/proxymap (the proxymap
 * service): what src/cmd/roles.c hands the master.
 */
#ifndef YUBIN_PROXYMAP_ROLE_H
#define YUBIN_PROXYMAP_ROLE_H

struct worker;

int proxymap_main(struct worker *w);   /* master.cf "proxymap" */

#endif
