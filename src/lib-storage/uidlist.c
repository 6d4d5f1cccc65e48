/*
 * uidlist.c - Dovecot's "dovecot-uidlist" and "dovecot-keywords" files,
 * read and written in Dovecot's formats.
 *
 * dovecot-uidlist (version 3, Dovecot 1.1 and later):
 *   3 V<uidvalidity> N<next uid> G<guid, 32 hex digits>
 *   <uid> [<extension fields, e.g. S<size> W<vsize>>] :<file name>
 * Version 1 (Courier's "1 <uidvalidity> <next uid>", lines "<uid> <name>")
 * is read too. Messages are matched by base name (the file name before
 * ':'), so flag renames keep the UID. Dovecot appends lines without
 * updating the header, so the next UID is the larger of N and the last
 * UID + 1. Written only whole (dotlock.c's mstore_file_replace: temp file, fsync,
 * rename, fsync of the directory) by a holder of dovecot-uidlist.lock.
 *
 * dovecot-keywords: lines "<index> <name>", index 0..25 for the letters
 * a..z in the file names' info part.
 */
#include "lib-storage/mstore_int.h"
#include "lib/buf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define UIDLIST_MAX (256u << 20)

void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base, size_t baselen)
{
    if (ul->n == ul->cap) {
        ul->cap = ul->cap ? ul->cap * 2 : 64;
        ul->e = xrealloc(ul->e, ul->cap * sizeof(*ul->e));
    }
    ul->e[ul->n].uid = uid;
    ul->e[ul->n].ext = NULL;
    ul->e[ul->n].base = xstrndup(base, baselen);
    ul->n++;
    if (uid >= ul->next_uid)
        ul->next_uid = uid + 1;
}

void uidlist_free(struct uidlist *ul)
{
    for (size_t i = 0; i < ul->n; i++) {
        free(ul->e[i].ext);
        free(ul->e[i].base);
    }
    free(ul->e);
    memset(ul, 0, sizeof(*ul));
}

/* "3 V1 N2 G..." or "1 <uidvalidity> <next>": the version, or -1. */
static int parse_header(struct uidlist *ul, char *line)
{
    char *p = line;
    long ver = strtol(p, &p, 10);
    if (ver == 1) {
        unsigned long v = strtoul(p, &p, 10), nx = strtoul(p, &p, 10);
        ul->uidvalidity = (uint32_t)v;
        ul->next_uid = (uint32_t)nx;
        return 1;
    }
    if (ver != 3)
        return -1;
    while (*p) {
        while (*p == ' ')
            p++;
        char key = *p ? *p++ : 0;
        char *end = p;
        while (*end && *end != ' ')
            end++;
        if (key == 'V')
            ul->uidvalidity = (uint32_t)strtoul(p, NULL, 10);
        else if (key == 'N')
            ul->next_uid = (uint32_t)strtoul(p, NULL, 10);
        else if (key == 'G' && end - p == 32)
            memcpy(ul->guid, p, 32);
        p = end;
    }
    return ul->uidvalidity ? 3 : -1;
}

/* "<uid> [fields] :<name>" (v3) or "<uid> <name>" (v1). */
static int parse_line(struct uidlist *ul, char *line, int ver)
{
    char *p;
    unsigned long uid = strtoul(line, &p, 10);
    if (uid == 0 || uid > UINT32_MAX || *p != ' ')
        return -1;
    if (ul->n > 0 && uid <= ul->e[ul->n - 1].uid)
        return -1;                     /* UIDs ascend */
    char *name, *ext = NULL;
    if (ver == 1) {
        name = p + 1;
    } else {
        char *colon = strstr(p, " :");
        if (!colon)
            return -1;
        *colon = '\0';
        name = colon + 2;
        while (*p == ' ')
            p++;
        if (*p)
            ext = p;                   /* the fields between the UID and " :" */
    }
    size_t baselen = strcspn(name, ":");
    if (baselen == 0)
        return -1;
    uidlist_add(ul, (uint32_t)uid, name, baselen);
    if (ext)
        ul->e[ul->n - 1].ext = xstrdup(ext);
    return 0;
}

int uidlist_parse(struct uidlist *ul, const char *text, size_t len)
{
    /* an unterminated last line is a write cut short: its UID was never given out */
    while (len > 0 && text[len - 1] != '\n')
        len--;
    char *copy = xstrndup(text, len);
    char *save = NULL;
    int ver = -1, rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (ver < 0) {
            ver = parse_header(ul, line);
            if (ver < 0) {
                rc = -1;
                break;
            }
            continue;
        }
        if (parse_line(ul, line, ver) < 0) {
            rc = -1;
            break;
        }
    }
    free(copy);
    if (ver < 0)
        rc = -1;
    if (rc < 0) {
        uidlist_free(ul);
        errno = EINVAL;
    }
    return rc;
}

int uidlist_read(int dirfd, struct uidlist *ul)
{
    memset(ul, 0, sizeof(*ul));
    int fd = openat(dirfd, UIDLIST_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    struct stat st;
    size_t len = 0;
    char *text = fstat(fd, &st) == 0 ? read_fd(fd, UIDLIST_MAX, &len) : NULL;
    close(fd);
    if (!text)
        return -1;
    int rc = len ? uidlist_parse(ul, text, len) : 0;
    free(text);
    if (rc == 0)
        ul->st = st;
    return rc;
}

static void new_identity(struct uidlist *ul)
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        uint64_t t = now_usec() ^ ((uint64_t)getpid() << 40);
        for (size_t i = 0; i < sizeof(r); i++)
            r[i] = (unsigned char)(t >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    for (size_t i = 0; i < sizeof(r); i++)
        str_fmt(ul->guid + 2 * i, 3, "%02x", r[i]);
    if (ul->uidvalidity == 0) {
        /* the clock, but never twice the same from this process (a folder deleted and made anew) */
        static uint32_t last;
        uint32_t v = (uint32_t)time(NULL);
        if (v <= last)
            v = last + 1;
        last = v;
        ul->uidvalidity = v ? v : 1;
    }
    if (ul->next_uid == 0)
        ul->next_uid = 1;
}

int uidlist_write(int dirfd, struct uidlist *ul)
{
    if (ul->uidvalidity == 0 || !ul->guid[0])
        new_identity(ul);
    if (ul->next_uid == 0)
        ul->next_uid = 1;
    struct buf b;
    buf_init(&b, UIDLIST_MAX);
    int rc = buf_printf(&b, "3 V%u N%u G%s\n", ul->uidvalidity, ul->next_uid, ul->guid);
    for (size_t i = 0; i < ul->n && rc == 0; i++) {
        const struct uidlist_entry *e = &ul->e[i];
        rc = buf_printf(&b, "%u%s%s :%s\n", e->uid, e->ext ? " " : "", e->ext ? e->ext : "",
                        e->base);
    }
    if (rc == 0)
        rc = mstore_file_replace(dirfd, UIDLIST_FILE, b.data, b.len, 1);
    else
        errno = EFBIG;
    buf_free(&b);
    if (rc == 0)
        fstatat(dirfd, UIDLIST_FILE, &ul->st, AT_SYMLINK_NOFOLLOW);
    return rc;
}

int uidlist_append(int dirfd, struct uidlist *ul, size_t from)
{
    struct stat now;
    if (ul->st.st_ino == 0 || fstatat(dirfd, UIDLIST_FILE, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
        now.st_ino != ul->st.st_ino || now.st_size != ul->st.st_size)
        return uidlist_write(dirfd, ul);
    struct buf b;
    buf_init(&b, UIDLIST_MAX);
    int rc = 0;
    for (size_t i = from; i < ul->n && rc == 0; i++)
        rc = buf_printf(&b, "%u :%s\n", ul->e[i].uid, ul->e[i].base);
    int fd = rc == 0 ? openat(dirfd, UIDLIST_FILE, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (fd < 0 || write_all(fd, b.data, b.len) < 0 || fdatasync(fd) < 0 || fstat(fd, &ul->st) < 0)
        rc = -1;
    if (fd >= 0)
        close(fd);
    buf_free(&b);
    return rc;
}

/* ---- lookups by base name ---- */

static const struct uidlist *sort_ul;

static int cmp_base(const void *a, const void *b)
{
    return strcmp(sort_ul->e[*(const size_t *)a].base, sort_ul->e[*(const size_t *)b].base);
}

void uidlist_index(const struct uidlist *ul, struct uidlist_index *ix)
{
    ix->n = ul->n;
    ix->order = xmalloc((ul->n ? ul->n : 1) * sizeof(size_t));
    for (size_t i = 0; i < ul->n; i++)
        ix->order[i] = i;
    sort_ul = ul;
    qsort(ix->order, ix->n, sizeof(size_t), cmp_base);
    sort_ul = NULL;
}

long uidlist_lookup(const struct uidlist *ul, const struct uidlist_index *ix, const char *base,
                    size_t baselen)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const char *s = ul->e[ix->order[mid]].base;
        int c = strncmp(s, base, baselen);
        if (c == 0 && s[baselen] != '\0')
            c = 1;
        if (c == 0)
            return (long)ix->order[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

void uidlist_index_free(struct uidlist_index *ix)
{
    free(ix->order);
    ix->order = NULL;
    ix->n = 0;
}

/* ---- dovecot-keywords ---- */

int mkeywords_read(int dirfd, struct keywords *kw)
{
    memset(kw, 0, sizeof(*kw));
    int fd = openat(dirfd, "dovecot-keywords", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    size_t len = 0;
    char *text = read_fd(fd, 1 << 20, &len);
    close(fd);
    if (!text)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *p;
        long idx = strtol(line, &p, 10);
        if (p == line || *p != ' ' || idx < 0 || idx >= MSTORE_KEYWORDS || !p[1] ||
            strlen(p + 1) > MSTORE_KEYWORD_MAX || kw->names[idx])
            continue;
        kw->names[idx] = xstrdup(p + 1);
    }
    free(text);
    return 0;
}

int mkeywords_write(int dirfd, const struct keywords *kw)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    int rc = 0;
    for (int i = 0; i < MSTORE_KEYWORDS && rc == 0; i++)
        if (kw->names[i])
            rc = buf_printf(&b, "%d %s\n", i, kw->names[i]);
    if (rc == 0)
        rc = mstore_file_replace(dirfd, "dovecot-keywords", b.data, b.len, 1);
    buf_free(&b);
    return rc;
}

void mkeywords_free(struct keywords *kw)
{
    for (int i = 0; i < MSTORE_KEYWORDS; i++)
        free(kw->names[i]);
    memset(kw, 0, sizeof(*kw));
}
