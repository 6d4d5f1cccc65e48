/*
 * postscreen_role.h - the postscreen role's entry points for the role table.
 */
#ifndef YUBIN_POSTSCREEN_ROLE_H
#define YUBIN_POSTSCREEN_ROLE_H

#include <stddef.h>

struct worker;
struct config;
struct master_service;

int postscreen_main(struct worker *w);
int postscreen_prepare(struct worker *w);
int postscreen_check_service(const struct config *cfg, const struct master_service *svc,
                             char *err, size_t errlen);

#endif
