/*
 * dotlock.c - Dovecot-compatible dotlocks and atomic file replacement for
 * the Maildir control files (dovecot-uidlist, dovecot-keywords,
 * subscriptions, yubin.index).
 *
 * A lock is the file "<name>" holding "<pid>:<host>", written to a temp
 * file first and link()ed to the name (so a lock is never seen empty), as
 * Dovecot's dotlocks are, so Dovecot and yubin exclude each other. A lock is stale when its owner is a dead process on this
 * host (kill -9 of a holder frees it at once) or when it has not been
 * touched for DOTLOCK_STALE_SEC seconds (Dovecot's uidlist timeout). A
 * stale lock is broken by renaming it aside and checking that the file
 * moved is the one judged stale (same inode); a live lock taken by mistake
 * is linked back.
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DOTLOCK_STALE_SEC 120

static const char *host_name(void)
{
    static char host[256];
    if (!host[0] && gethostname(host, sizeof(host) - 1) < 0)
        str_copy(host, "localhost", sizeof(host));
    return host;
}

/* 1 when the lock dirfd/name (inode *ino) is stale. */
static int lock_stale(int dirfd, const char *name, ino_t *ino)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    char buf[300];
    ssize_t n = -1;
    if (fstat(fd, &st) == 0)
        n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return 0;
    buf[n] = '\0';
    *ino = st.st_ino;
    char *colon = strchr(buf, ':');
    if (colon) {
        *colon = '\0';
        char *nl = strchr(colon + 1, '\n');
        if (nl)
            *nl = '\0';
        long pid = strtol(buf, NULL, 10);
        if (pid > 0 && strcmp(colon + 1, host_name()) == 0)
            return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
    }
    return time(NULL) - st.st_mtime > DOTLOCK_STALE_SEC;
}

static void break_stale(int dirfd, const char *name, ino_t ino)
{
    char aside[MSTORE_FILE_MAX];
    str_fmt(aside, sizeof(aside), "%s.stale.%ld", name, (long)getpid());
    if (renameat(dirfd, name, dirfd, aside) < 0)
        return;
    struct stat st;
    if (fstatat(dirfd, aside, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_ino != ino)
        linkat(dirfd, aside, dirfd, name, 0);    /* not the stale one: give it back */
    unlinkat(dirfd, aside, 0);
}

/* A temp file holding "<pid>:<host>", to be linked to the lock name (never an empty lock). */
static int make_candidate(int dirfd, const char *name, char *tmp, size_t tmplen)
{
    char content[320];
    str_fmt(content, sizeof(content), "%ld:%s", (long)getpid(), host_name());
    /* one name per process: a leftover of a killed process is reused, not piled up */
    str_fmt(tmp, tmplen, "%s.%ld.tmp", name, (long)getpid());
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, content, strlen(content)) < 0 ? -1 : 0;
    close(fd);
    if (rc < 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

int mstore_dotlock_take(int dirfd, const char *name, unsigned timeout_ms)
{
    char tmp[MSTORE_FILE_MAX];
    if (make_candidate(dirfd, name, tmp, sizeof(tmp)) < 0)
        return -1;
    uint64_t start = mono_msec();
    unsigned delay_us = 1000;
    int rc = -1;
    for (;;) {
        if (linkat(dirfd, tmp, dirfd, name, 0) == 0) {
            rc = 0;
            break;
        }
        if (errno != EEXIST)
            break;
        ino_t ino = 0;
        if (lock_stale(dirfd, name, &ino)) {
            break_stale(dirfd, name, ino);
            continue;
        }
        if (mono_msec() - start > timeout_ms) {
            errno = EAGAIN;
            break;
        }
        usleep(delay_us);
        if (delay_us < 20000)
            delay_us *= 2;
    }
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    errno = e;
    return rc;
}

void mstore_dotlock_release(int dirfd, const char *name)
{
    unlinkat(dirfd, name, 0);
}

static int dir_sync(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int mstore_file_replace(int dirfd, const char *name, const void *data, size_t len, int sync)
{
    /*
     * Callers hold the file's lock (or write identical bytes), so one temp
     * name per file will do, and a leftover of a killed writer is simply
     * overwritten next time.
     */
    char tmp[MSTORE_FILE_MAX];
    str_fmt(tmp, sizeof(tmp), "%s.yubin-tmp", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, data, len) < 0 || (sync && fdatasync(fd) < 0)) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    close(fd);
    if (renameat(dirfd, tmp, dirfd, name) < 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    return sync ? dir_sync(dirfd) : 0;
}
