/*
 * countregion.c - the master's part of smtpd_client_connection_count_limit:
 * one shared region (src/lib/conncount.h) per smtpd inet service, and its
 * slots, one per worker process.
 *
 * Owns: making the regions, giving each smtpd worker a free slot when it
 * starts (cleared first), and clearing that slot again when the worker
 * exits, so a worker that crashed stops counting at once. A region is
 * kept across reloads: the previous generation's workers finish their
 * sessions in their slots while the new generation counts them too. When
 * a reload needs more slots than a region has (maxproc grew, or reloads
 * follow each other while old sessions linger), a larger region replaces
 * it; the old one is retired and closed when its last worker exits, and
 * only until then are the two generations' counts apart.
 */
#include "master/master.h"
#include "lib-master/conncount.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct count_region {
    char *key;                  /* "name/type" of the service */
    int fd;
    unsigned nslots;
    pid_t *owner;               /* per slot: the worker using it, 0 = free */
    int retired;                /* replaced, or its service is gone: no new workers */
    int used;                   /* wanted by the generation being started */
    struct count_region *next;
};

struct count_regions {
    struct count_region *list;
};

struct count_regions *count_regions_new(void)
{
    return xcalloc(1, sizeof(struct count_regions));
}

static void region_free(struct count_region *r)
{
    close(r->fd);
    free(r->owner);
    free(r->key);
    free(r);
}

void count_regions_free(struct count_regions *rs)
{
    if (!rs)
        return;
    while (rs->list) {
        struct count_region *r = rs->list;
        rs->list = r->next;
        region_free(r);
    }
    free(rs);
}

static unsigned owned(const struct count_region *r)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->nslots; i++)
        n += r->owner[i] != 0;
    return n;
}

/* Drop retired regions whose workers have all exited. */
static void drop_retired(struct count_regions *rs)
{
    struct count_region **pp = &rs->list;
    while (*pp) {
        struct count_region *r = *pp;
        if (r->retired && owned(r) == 0) {
            *pp = r->next;
            region_free(r);
        } else {
            pp = &r->next;
        }
    }
}

static struct count_region *region_new(struct count_regions *rs, const char *key, unsigned nslots)
{
    char err[256];
    int fd = conncount_region_new(nslots, err, sizeof(err));
    if (fd < 0) {
        msg_warn("service %s: %s; smtpd_client_connection_count_limit is counted per process",
                 key, err);
        return NULL;
    }
    struct count_region *r = xcalloc(1, sizeof(*r));
    r->key = xstrdup(key);
    r->fd = fd;
    r->nslots = nslots;
    r->owner = xcalloc(nslots, sizeof(*r->owner));
    r->next = rs->list;
    rs->list = r;
    return r;
}

struct count_region *count_region_get(struct count_regions *rs, const struct master_service *svc,
                                      int nprocs)
{
    if ((svc->type != SVC_INET && svc->type != SVC_PASS) || strcmp(svc->command, "smtpd") != 0 ||
        nprocs <= 0)
        return NULL;
    char key[160];
    str_fmt(key, sizeof(key), "%s/%s", svc->name, cfg_svc_type_name(svc->type));
    struct count_region *r = rs->list;
    while (r && (r->retired || strcmp(r->key, key) != 0))
        r = r->next;
    unsigned busy = r ? owned(r) : 0;
    if (r && r->nslots - busy >= (unsigned)nprocs) {
        r->used = 1;
        return r;
    }
    if (r)
        r->retired = 1;
    drop_retired(rs);
    /* Room for this generation and the next: a reload needs no new region. */
    unsigned want = 4 * (unsigned)nprocs;
    if (want < 2 * (busy + (unsigned)nprocs))
        want = 2 * (busy + (unsigned)nprocs);
    r = region_new(rs, key, want);
    if (r)
        r->used = 1;
    return r;
}

void count_regions_unmark(struct count_regions *rs)
{
    for (struct count_region *r = rs->list; r; r = r->next)
        r->used = 0;
}

void count_regions_sweep(struct count_regions *rs)
{
    for (struct count_region *r = rs->list; r; r = r->next)
        if (!r->used)
            r->retired = 1;
    drop_retired(rs);
}

int count_region_take(struct count_region *r)
{
    for (unsigned i = 0; i < r->nslots; i++)
        if (r->owner[i] == 0) {
            if (conncount_slot_clear(r->fd, i) < 0) {
                msg_warn("service %s: cannot clear a connection count slot", r->key);
                return -1;
            }
            return (int)i;
        }
    return -1;
}

void count_region_own(struct count_region *r, int slot, pid_t pid)
{
    if (slot >= 0 && (unsigned)slot < r->nslots)
        r->owner[slot] = pid;
}

int count_region_fd(const struct count_region *r)
{
    return r->fd;
}

void count_regions_exited(struct count_regions *rs, pid_t pid)
{
    for (struct count_region *r = rs->list; r; r = r->next)
        for (unsigned i = 0; i < r->nslots; i++)
            if (r->owner[i] == pid) {
                /* Its sessions are gone with it: they must stop counting now. */
                if (conncount_slot_clear(r->fd, i) < 0)
                    msg_warn("service %s: cannot clear a connection count slot", r->key);
                r->owner[i] = 0;
            }
    drop_retired(rs);
}
