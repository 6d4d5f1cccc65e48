/*
 * log.c - see log.h.
 *
 * Each line is written with one write() so concurrent processes appending
 * to the same maillog_file (opened O_APPEND) never interleave mid-line.
 */
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char log_name[64] = "yubin";
static char log_rolename[64] = "yubin";
static enum log_dest log_dest = LOG_DEST_STDERR;
static char log_file[1024];
static int log_fd = -1;
static int log_verbose_level;
static char log_host[256];

void log_init(const char *syslog_name, const char *role)
{
    if (syslog_name && *syslog_name)
        str_copy(log_name, syslog_name, sizeof(log_name));
    if (role)
        str_copy(log_rolename, role, sizeof(log_rolename));
    if (gethostname(log_host, sizeof(log_host)) < 0)
        str_copy(log_host, "localhost", sizeof(log_host));
    log_host[sizeof(log_host) - 1] = '\0';
    char *dot = strchr(log_host, '.');
    if (dot)
        *dot = '\0';
}

void log_set_role(const char *role)
{
    str_copy(log_rolename, role, sizeof(log_rolename));
    if (log_dest == LOG_DEST_SYSLOG) {
        closelog();
        log_dest = LOG_DEST_STDERR;
        log_set_dest(0, "");
    }
}

const char *log_role(void)
{
    return log_rolename;
}

void log_set_verbose(int level)
{
    log_verbose_level = level;
}

int log_verbose(void)
{
    return log_verbose_level;
}

void log_reopen(void)
{
    if (log_dest != LOG_DEST_FILE)
        return;
    int fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return;
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
}

void log_set_dest(int to_stderr, const char *maillog_file)
{
    if (to_stderr) {
        log_dest = LOG_DEST_STDERR;
        return;
    }
    if (maillog_file && *maillog_file && strcmp(maillog_file, "/dev/stdout") != 0 &&
        strcmp(maillog_file, "/dev/stderr") != 0) {
        log_dest = LOG_DEST_FILE;
        str_copy(log_file, maillog_file, sizeof(log_file));
        log_reopen();
        return;
    }
    if (maillog_file && *maillog_file) {
        log_dest = LOG_DEST_STDERR;
        return;
    }
    static char ident[160];
    str_fmt(ident, sizeof(ident), "%s/%s", log_name, log_rolename);
    openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
    log_dest = LOG_DEST_SYSLOG;
}

static void vlog(int prio, const char *tag, const char *fmt, va_list ap)
{
    char text[4096];
    int saved = errno;
    int off = 0;
    if (tag)
        off = snprintf(text, sizeof(text), "%s: ", tag);
    vsnprintf(text + off, sizeof(text) - (size_t)off, fmt, ap);
    /* Never let a stranger's bytes forge log lines. */
    for (char *p = text; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            *p = '?';
    if (log_dest == LOG_DEST_SYSLOG) {
        syslog(prio, "%s", text);
        errno = saved;
        return;
    }
    char line[4400];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    int n = snprintf(line, sizeof(line), "%s %s %s/%s[%ld]: %s\n", stamp, log_host, log_name,
                     log_rolename, (long)getpid(), text);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    int fd = (log_dest == LOG_DEST_FILE && log_fd >= 0) ? log_fd : STDERR_FILENO;
    (void)!write(fd, line, (size_t)n);
    errno = saved;
}

void msg_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_INFO, NULL, fmt, ap);
    va_end(ap);
}

void msg_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_WARNING, "warning", fmt, ap);
    va_end(ap);
}

void msg_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_ERR, "error", fmt, ap);
    va_end(ap);
}

void msg_debug(const char *fmt, ...)
{
    if (!log_verbose_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_DEBUG, NULL, fmt, ap);
    va_end(ap);
}

void invariant_failed(const char *file, int line, const char *what)
{
    msg_error("panic: %s:%d: invariant failed: %s", file, line, what);
    abort();
}

void msg_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(LOG_CRIT, "fatal", fmt, ap);
    va_end(ap);
    exit(1);
}
