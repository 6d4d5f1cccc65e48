/*
 * smtpd_role.h - the public API of src/smtpd (the SMTP server and pickup): what src/cmd/roles.c hands the master.
 * Everything else in the folder is the role's own business.
 */
#ifndef YUBIN_SMTPD_ROLE_H
#define YUBIN_SMTPD_ROLE_H

#include <stddef.h>

struct config;
struct worker;

int smtpd_main(struct worker *w);    /* master.cf "smtpd" */
int pickup_main(struct worker *w);   /* master.cf "pickup": yubin sendmail over public/pickup */
/* yubin check / start: the restriction lists and access tables of an smtpd service. */
struct master_service;
int smtpd_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen);

#endif
