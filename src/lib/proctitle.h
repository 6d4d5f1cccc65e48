/*
 * proctitle.h - what ps, top and pidof show for a process.
 *
 * Owns: the process name (prctl PR_SET_NAME: top, pidof, /proc/PID/comm)
 * and the command line (the argv area: ps, pgrep -f), so that workers
 * started through /proc/self/exe show their role the way Postfix's do:
 * "smtpd -n smtp -t inet -c /etc/yubin" instead of "exe".
 */
#ifndef YUBIN_PROCTITLE_H
#define YUBIN_PROCTITLE_H

/* Remember main()'s argv area (call once, first thing in main). */
void proctitle_init(int argc, char **argv);
/*
 * Set the process name (at most 15 bytes are kept by the kernel) and the
 * command line, cut to the length of the original argv area.
 */
void proctitle_set(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
