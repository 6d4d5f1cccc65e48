/*
 * lmtpd_role.h - the LMTP server role (master.cf command "lmtpd") and
 * what the LDA `yubin deliver` uses of it (lmtpd/lda.h: finding the
 * user, Sieve, saving).
 */
#ifndef YUBIN_LMTPD_ROLE_H
#define YUBIN_LMTPD_ROLE_H

struct worker;

/* The process: serves LMTP connections on the service's socket(s) until SIGTERM. */
int lmtpd_main(struct worker *w);

#endif
