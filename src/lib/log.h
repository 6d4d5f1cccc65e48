/*
 * log.h - Postfix-compatible mail logging.
 *
 * Owns: the log line format "MMM DD HH:MM:SS host yubin/ROLE[PID]: text",
 * where lines go (stderr when in the foreground, maillog_file when set,
 * otherwise syslog facility mail), and the process role name.
 * Existing maillog tools (pflogsumm, grep by queue ID) read these lines.
 */
#ifndef YUBIN_LOG_H
#define YUBIN_LOG_H

#include <stdarg.h>

enum log_dest { LOG_DEST_STDERR, LOG_DEST_FILE, LOG_DEST_SYSLOG };

/* role is e.g. "smtpd", "qmgr", "master"; syslog_name defaults to "yubin". */
void log_init(const char *syslog_name, const char *role);
void log_set_role(const char *role);
/* Direct logs: to_stderr overrides; otherwise file if maillog_file non-empty, else syslog. */
void log_set_dest(int to_stderr, const char *maillog_file);
/* Re-open the log file (after rotation / reload). */
void log_reopen(void);
const char *log_role(void);
void log_set_verbose(int level);
int log_verbose(void);

void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * INVARIANT(cond): a checked statement of what must hold where state
 * machines meet (the queue writer's commit, qmgr's jobs, the restriction
 * engine, the parsers' bounds). In every build, not only debug ones: when
 * it does not hold, the process logs "panic: FILE:LINE: invariant failed:
 * COND" and aborts (a core dump for the post-mortem; the master restarts
 * the worker). It is never for input a stranger controls: that gets an
 * answer, not an abort.
 */
#define INVARIANT(cond) \
    ((cond) ? (void)0 : invariant_failed(__FILE__, __LINE__, #cond))
_Noreturn void invariant_failed(const char *file, int line, const char *what);

#endif
