/*
 * proctitle.c - see proctitle.h.
 *
 * The argv strings lie one after another in the process's memory; the
 * kernel reports that area as /proc/PID/cmdline. Writing the new title
 * over it (and zeroing the rest) changes what ps shows without moving the
 * environment, so the title may never be longer than the original area.
 */
#include "lib/proctitle.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

static char *area;
static size_t area_len;

void proctitle_init(int argc, char **argv)
{
    if (argc < 1 || !argv[0])
        return;
    char *end = argv[0] + strlen(argv[0]);
    for (int i = 1; i < argc && argv[i] == end + 1; i++)
        end = argv[i] + strlen(argv[i]);
    area = argv[0];
    area_len = (size_t)(end - area);       /* without the final NUL */
}

void proctitle_set(const char *name, const char *fmt, ...)
{
    char comm[16];
    str_copy(comm, name, sizeof(comm));
    prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (!area || area_len == 0)
        return;
    char title[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(title, sizeof(title), fmt, ap);
    va_end(ap);
    size_t n = strlen(title);
    if (n > area_len)
        n = area_len;
    memcpy(area, title, n);
    memset(area + n, 0, area_len + 1 - n);
}
