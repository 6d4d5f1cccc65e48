/*
 * config_edit.c - `yubin conf -e`: set name = value in main.cf in place.
 *
 * Every other line is kept byte for byte (comments, blank lines, other
 * parameters and their continuation lines). Each existing definition of
 * the name (with its continuation lines) is replaced, like postconf -e;
 * a name not yet defined is appended. The new file is written next to
 * the old one, fsync'd and renamed over it, so a crash leaves either the
 * old or the new main.cf.
 */
#include "lib-conf/config_int.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Does the physical line [s,e) start a logical line defining name? */
static int defines(const char *s, const char *e, const char *name)
{
    size_t n = strlen(name);
    if (s == e || isspace((unsigned char)*s) || *s == '#')
        return 0;
    if ((size_t)(e - s) < n || memcmp(s, name, n) != 0)
        return 0;
    const char *p = s + n;
    while (p < e && isspace((unsigned char)*p) && *p != '\n')
        p++;
    return p < e && *p == '=';
}

static int blank_or_comment(const char *s, const char *e)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    return s == e || *s == '#';
}

static const char *line_end(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? nl + 1 : end;
}

static int write_atomically(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    struct stat st;
    int have_st = stat(path, &st) == 0;
    char *tmp = xasprintf("%s.yubin-tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "create %s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    if (have_st) {
        (void)!fchmod(fd, st.st_mode & 07777);
        if (geteuid() == 0)
            (void)!fchown(fd, st.st_uid, st.st_gid);
    } else {
        (void)!fchmod(fd, 0644);
    }
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        snprintf(err, errlen, "write %s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        free(tmp);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    fsync_dir(slash ? dir : ".");
    free(dir);
    return 0;
}

int config_edit_main(const char *dir, const char *name, const char *value, char *err, size_t errlen)
{
    if (!cfg_valid_name(name, strlen(name))) {
        snprintf(err, errlen, "bad parameter name \"%.60s\"", name);
        return -1;
    }
    if (strpbrk(value, "\r\n")) {
        snprintf(err, errlen, "%s: the value must be on one line", name);
        return -1;
    }
    char *path = xasprintf("%s/main.cf", dir);
    size_t len = 0;
    char *old = read_file(path, CFG_FILE_MAX, &len);
    if (!old && errno != ENOENT) {
        snprintf(err, errlen, "read %s: %s", path, strerror(errno));
        free(path);
        return -1;
    }
    while (*value && isspace((unsigned char)*value))
        value++;
    char *v = xstrdup(value);
    char *def = xasprintf("%s = %s\n", name, str_trim(v));
    free(v);

    struct buf out;
    buf_init(&out, 0);
    const char *p = old ? old : "", *end = p + len;
    int replaced = 0;
    while (p < end) {
        const char *e = line_end(p, end);
        if (!defines(p, e, name)) {
            buf_append(&out, p, (size_t)(e - p));
            p = e;
            continue;
        }
        /* Skip the definition and its continuation lines; keep comments in between. */
        struct buf kept;
        buf_init(&kept, 0);
        const char *q = e;
        while (q < end) {
            const char *qe = line_end(q, end);
            if (blank_or_comment(q, qe)) {
                const char *r = qe;       /* comments stay unless more continuation follows */
                while (r < end && blank_or_comment(r, line_end(r, end)))
                    r = line_end(r, end);
                if (r < end && isspace((unsigned char)*r)) {
                    for (const char *c = q; c < r; c = line_end(c, end)) {
                        const char *ce = line_end(c, end);
                        if (!blank_or_comment(c, ce) || memchr(c, '#', (size_t)(ce - c)))
                            buf_append(&kept, c, (size_t)(ce - c));
                    }
                    q = r;
                    continue;
                }
                break;
            }
            if (!isspace((unsigned char)*q))
                break;
            q = qe;
        }
        buf_append(&out, kept.data ? kept.data : "", kept.len);
        buf_free(&kept);
        buf_puts(&out, def);
        replaced = 1;
        p = q;
    }
    if (!replaced) {
        if (out.len && out.data[out.len - 1] != '\n')
            buf_putc(&out, '\n');
        buf_puts(&out, def);
    }
    int r = write_atomically(path, out.data ? out.data : "", out.len, err, errlen);
    buf_free(&out);
    free(def);
    free(old);
    free(path);
    return r;
}
