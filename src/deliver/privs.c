/*
 * privs.c - privilege switching for the delivery agents.
 *
 * The agent runs as root and, for each delivery, sets its EFFECTIVE
 * uid/gid (and supplementary groups) to the mailbox owner, so every file
 * it creates belongs to that owner. The real and saved uids stay 0, which
 * is what allows switching back afterwards, and also means the mailbox
 * owner cannot send signals to the agent. Children that run commands give
 * up root completely. In single-user mode nothing switches.
 */
#include "deliver/agent.h"
#include "lib/log.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <unistd.h>

int deliver_priv_become(const struct agent *a, uid_t uid, gid_t gid, gid_t extra_gid)
{
    if (a->single_user)
        return 0;
    gid_t groups[2] = {gid, extra_gid};
    size_t ngroups = (extra_gid != (gid_t)-1 && extra_gid != gid) ? 2 : 1;
    if (setgroups(ngroups, groups) < 0 || setresgid((gid_t)-1, gid, (gid_t)-1) < 0 ||
        setresuid((uid_t)-1, uid, (uid_t)-1) < 0) {
        int saved = errno;
        deliver_priv_restore(a);
        errno = saved;
        return -1;
    }
    return 0;
}

int deliver_become(const struct delivery *d, uid_t uid, gid_t gid, gid_t extra_gid)
{
    if (deliver_priv_become(d->a, uid, gid, extra_gid) == 0)
        return 0;
    int saved = errno;
    msg_warn("%s: cannot switch to uid/gid %ld/%ld: %s", d->req->qid, (long)uid, (long)gid,
             strerror(saved));
    errno = saved;
    return -1;
}

void deliver_priv_restore(const struct agent *a)
{
    if (a->single_user)
        return;
    gid_t root_group = 0;
    if (setresuid((uid_t)-1, 0, (uid_t)-1) < 0 || setresgid((gid_t)-1, 0, (gid_t)-1) < 0 ||
        setgroups(1, &root_group) < 0)
        msg_fatal("cannot restore root privileges: %s", strerror(errno));
}

int deliver_priv_drop_for_good(const struct agent *a, uid_t uid, gid_t gid)
{
    if (a->single_user)
        return 0;
    if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    /* make sure root cannot be regained */
    if (uid != 0 && (setresuid((uid_t)-1, 0, (uid_t)-1) == 0 || geteuid() == 0))
        return -1;
    return 0;
}
