/*
 * mdeliver.c - folders opened for delivery (mdeliver.h).
 */
#include "lib-storage/mdeliver.h"
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_dir(struct mview *v, const char *name)
{
    if (str_ieq(name, "INBOX")) {
        str_copy(v->name, "INBOX", sizeof(v->name));
        v->dirfd = openat(v->st->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else {
        char dir[MSTORE_NAME_MAX + 2];
        str_copy(v->name, name, sizeof(v->name));
        str_fmt(dir, sizeof(dir), ".%s", name);
        v->dirfd = openat(v->st->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    return v->dirfd;
}

struct mview *mview_open_deliver(struct mstore *st, const char *name, struct storage_error *err)
{
    memset(err, 0, sizeof(*err));
    if (!str_ieq(name, "INBOX") && !mstore_name_ok(name))
        return mview_open(st, name, err);       /* reports the bad name */
    struct mview *v = xcalloc(1, sizeof(*v));
    v->st = st;
    v->dirfd = v->curfd = v->newfd = -1;
    struct stat sb;
    if (open_dir(v, name) < 0 || fstatat(v->dirfd, UIDLIST_FILE, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
        mview_close(v);
        return mview_open(st, name, err);        /* new folder, or none: the full open */
    }
    v->curfd = openat(v->dirfd, "cur", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    v->newfd = openat(v->dirfd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (v->curfd < 0 || v->newfd < 0) {
        mview_close(v);
        return mview_open(st, name, err);
    }
    mkeywords_read(v->dirfd, &v->kw);
    return v;
}
