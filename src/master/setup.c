/*
 * setup.c - what the master prepares on disk: the queue tree and the pid
 * file that marks the running master.
 *
 * The running master holds flock(LOCK_EX) on $queue_directory/pid/master.pid
 * for its whole life; "is it running?" is "is that file locked?", so a
 * stale pid file left by a crash never blocks a start.
 */
#include "master/master.h"
#include "lib-queue/queue.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * The queue tree (docs/ARCHITECTURE.md). When the queue module provides
 * queue_dir_init(), this is the one place to call it instead.
 */
int master_queue_tree(const char *queue_dir, uid_t owner, gid_t group, char *err, size_t errlen)
{
    if (mkdir_p(queue_dir, 0755) < 0) {
        snprintf(err, errlen, "create queue_directory %s: %s", queue_dir, strerror(errno));
        return -1;
    }
    int root = geteuid() == 0;
    if (queue_dir_init(queue_dir, root ? owner : (uid_t)-1, root ? group : (gid_t)-1) < 0) {
        int saved = errno;
        /* Name the culprit: usually a file or a symlink where a directory belongs. */
        static const char *const subs[] = {"journal", "deferred", "hold", "tmp", "maildrop",
                                           "private", "public", "pid"};
        for (size_t i = 0; i < ARRAY_LEN(subs); i++) {
            char path[4096];
            struct stat st;
            if (str_fmt(path, sizeof(path), "%s/%s", queue_dir, subs[i]) == 0 &&
                (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))) {
                snprintf(err, errlen, "%s: not a directory (or missing): %s", path, strerror(saved));
                return -1;
            }
        }
        snprintf(err, errlen, "initialise queue_directory %s: %s", queue_dir, strerror(saved));
        return -1;
    }
    return 0;
}

char *master_pid_path(const struct config *cfg)
{
    char *q = cfg_path(cfg, P_queue_directory);
    if (!q)
        q = xstrdup("/var/spool/yubin");
    char *p = xasprintf("%s/pid/master.pid", q);
    free(q);
    return p;
}

static pid_t read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long v = strtol(buf, NULL, 10);
    return v > 0 ? (pid_t)v : 0;
}

int master_pid_lock(const char *path, pid_t *running_pid, char *err, size_t errlen)
{
    *running_pid = 0;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            *running_pid = read_pid(fd);
            if (!*running_pid)
                *running_pid = -1;
            snprintf(err, errlen, "the mail system is already running (PID %ld)",
                     (long)*running_pid);
        } else {
            snprintf(err, errlen, "lock %s: %s", path, strerror(e));
        }
        close(fd);
        return -1;
    }
    return fd;
}

int master_pid_write(int fd, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%11ld\n", (long)pid);   /* Postfix's format */
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}

pid_t master_running_pid(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    pid_t pid = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
        pid = read_pid(fd);
        if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
            pid = -1;   /* locked, but by someone we cannot name */
    }
    close(fd);
    return pid;
}
