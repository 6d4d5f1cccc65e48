/*
 * commands.h - the `yubin` command line: one function per subcommand.
 *
 * Every command gets the configuration directory (-c, default /etc/yubin)
 * and its own argv, with argv[0] the command name. Returns the exit status.
 */
#ifndef YUBIN_COMMANDS_H
#define YUBIN_COMMANDS_H

#include <stdio.h>

int cmd_start(const char *confdir, int argc, char **argv);      /* start, start-fg (src/master) */
int cmd_stop(const char *confdir, int argc, char **argv);
int cmd_reload(const char *confdir, int argc, char **argv);
int cmd_status(const char *confdir, int argc, char **argv);
int cmd_check(const char *confdir, int argc, char **argv);
int cmd_conf(const char *confdir, int argc, char **argv);       /* src/cmd/conf.c */
int cmd_map(const char *confdir, int argc, char **argv);        /* src/cmd/map.c */
int cmd_newaliases(const char *confdir, int argc, char **argv); /* src/cmd/map.c */
int cmd_queue(const char *confdir, int argc, char **argv);      /* src/cmd/queue.c */
int cmd_sendmail(const char *confdir, int argc, char **argv);   /* src/cmd/sendmail.c */
int cmd_pw(const char *confdir, int argc, char **argv);         /* src/cmd/pw.c */
/*
 * The queue listing in mailq format, written to f: what `yubin queue list`
 * prints, and what qmgr's "C list" answers to users who may not read the
 * queue themselves (authorized_mailq_users). 0, or -1 (message on stderr).
 */
int queue_print_list(FILE *f, const char *queue_dir);
/*
 * pickup's side of the maildrop (src/cmd/sendmail.c): hand every complete
 * file in $queue_directory/maildrop to the pickup socket sock, as its
 * owner (XUID), and remove it; set aside what is malformed or refused as
 * maildrop/.bad.NAME. Returns how many were taken, -1 if the directory
 * cannot be read. Blocking: pickup runs it in a child process.
 */
int sendmail_maildrop_run(const char *queue_dir, const char *sock, long long size_limit);
/* Is anything waiting in maildrop/? */
int sendmail_maildrop_pending(const char *queue_dir);
/* Hidden: `yubin auth-test [-m MECH] SOCKET USER PASSWORD`, a Dovecot-protocol client (src/cmd/pw.c). */
int cmd_auth_test(const char *confdir, int argc, char **argv);
/* Hidden: `yubin -c DIR worker SERVICE TYPE`, run by the master only (src/master/worker.c). */
int cmd_worker(const char *confdir, int argc, char **argv);

#endif
