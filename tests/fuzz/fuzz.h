/*
 * fuzz.h - helpers shared by the fuzz targets in tests/fuzz/ (header only:
 * each target is one translation unit, linked either with libFuzzer or
 * with replay.c).
 *
 * Owns: FUZZ_ASSERT (an invariant beyond "no crash": abort() with a
 * message, which both libFuzzer and the replay driver report), quiet
 * logging, a per-process temporary directory that is reused by every
 * input and removed at exit, writing an input into a file there, and a
 * small reader that takes bytes off the front of an input to choose modes.
 */
#ifndef YUBIN_FUZZ_H
#define YUBIN_FUZZ_H

#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { if (!(cond)) { \
    fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
    abort(); } } while (0)

/* Logs go nowhere (their formatting still runs). */
static inline void fuzz_quiet(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    log_init("yubin", "fuzz");
    log_set_dest(0, "/dev/null");
}

static char fuzz_dir_path[64];

static inline void fuzz_dir_cleanup(void)
{
    if (!fuzz_dir_path[0])
        return;
    char cmd[128];
    if (str_fmt(cmd, sizeof(cmd), "rm -rf '%s'", fuzz_dir_path) == 0 && system(cmd) != 0)
        fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

/*
 * A private directory for this process (created once, removed at exit).
 * On /dev/shm when there is one: targets that write queue files fsync,
 * which costs nothing on tmpfs.
 */
static inline const char *fuzz_dir(void)
{
    if (!fuzz_dir_path[0]) {
        str_copy(fuzz_dir_path, access("/dev/shm", W_OK) == 0 ? "/dev/shm/yubin-fuzz.XXXXXX"
                                                               : "/tmp/yubin-fuzz.XXXXXX",
                 sizeof(fuzz_dir_path));
        if (!mkdtemp(fuzz_dir_path)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_dir_cleanup);
    }
    return fuzz_dir_path;
}

/* Write data to path, replacing the file. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write_all(fd, data, len) < 0)) {
        perror(path);
        abort();
    }
    close(fd);
}

/* A NUL-terminated malloc'd copy of data (which may itself hold NULs). */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Take bytes off the front of the input. */
struct fuzz_in {
    const uint8_t *p;
    size_t n;
};

static inline unsigned fuzz_byte(struct fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The next piece up to a NUL byte (or the end), as a malloc'd string. */
static inline char *fuzz_field(struct fuzz_in *in)
{
    const uint8_t *z = memchr(in->p, 0, in->n);
    size_t len = z ? (size_t)(z - in->p) : in->n;
    char *s = fuzz_strndup(in->p, len);
    in->p += len + (z != NULL);
    in->n -= len + (z != NULL);
    return s;
}

#endif
