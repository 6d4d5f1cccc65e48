/*
 * commands.h - the `yubin` command line: one function per subcommand.
 *
 * Every command gets the configuration directory (-c, default /etc/yubin)
 * and its own argv, with argv[0] the command name. Returns the exit status.
 */
#ifndef YUBIN_COMMANDS_H
#define YUBIN_COMMANDS_H

/* start, start-fg, stop, reload, status, check and worker: src/master/master.h */
int cmd_conf(const char *confdir, int argc, char **argv);       /* src/cmd/conf.c */
int cmd_map(const char *confdir, int argc, char **argv);        /* src/cmd/map.c */
int cmd_newaliases(const char *confdir, int argc, char **argv); /* src/cmd/map.c */
int cmd_queue(const char *confdir, int argc, char **argv);      /* src/cmd/queue.c */
int cmd_sendmail(const char *confdir, int argc, char **argv);   /* src/cmd/sendmail.c */
int cmd_pw(const char *confdir, int argc, char **argv);         /* src/cmd/pw.c */
int cmd_deliver(const char *confdir, int argc, char **argv);    /* src/cmd/deliver.c */
int cmd_quota_status(const char *confdir, int argc, char **argv); /* src/cmd/quota_status.c */
/* Hidden: `yubin auth-test [-m MECH] SOCKET USER PASSWORD`, a Dovecot-protocol client (src/cmd/pw.c). */
int cmd_auth_test(const char *confdir, int argc, char **argv);

/* Every role of the program (roles.c), handed to the master by main(). */
struct worker_role;
extern const struct worker_role *const yubin_roles;

#endif
