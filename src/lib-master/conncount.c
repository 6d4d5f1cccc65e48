/*
 * conncount.c - concurrent sessions per client address across the
 * processes of an smtpd service: the shared region's layout, the master's
 * part (make a region, clear a slot) and a worker's (own one slot, count
 * every slot). The rules that make it safe without locks are in
 * conncount.h.
 */
#include "lib-master/conncount.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "shared counters need lock-free 32-bit atomics");
_Static_assert((CONNCOUNT_ENTRIES & (CONNCOUNT_ENTRIES - 1)) == 0, "entries: a power of two");
_Static_assert(CONNCOUNT_WINDOW <= CONNCOUNT_ENTRIES, "window larger than the table");

#define CC_MAGIC     0x79636e63u   /* "yccn" */
#define CC_VERSION   2u
#define CC_PAGE      4096u         /* header size and slot alignment */
#define CC_MAX_SLOTS 4096u
#define CC_MASK      (CONNCOUNT_ENTRIES - 1u)

/* Invariants of the table: a violation is a bug in yubin, never client input. */
#define CC_ASSERT(cond)                                                                     \
    do {                                                                                    \
        if (!(cond))                                                                        \
            msg_fatal("conncount: invariant violated: %s (%s:%d)", #cond, __FILE__, __LINE__); \
    } while (0)

struct cc_header {
    uint32_t magic, version, nslots, nentries;
    uint64_t slot_bytes;
    uint64_t seed[2];
};

/*
 * An entry is live while its client has sessions in the owning process
 * (count > 0) or its rate window is open (until > now); a dead entry is
 * free for reuse.
 */
struct cc_entry {
    _Atomic uint32_t key[4];   /* the address as IPv6; IPv4 as ::ffff:a.b.c.d */
    _Atomic uint32_t count;    /* sessions of the owning process */
    _Atomic uint32_t until;    /* end of the rate window (monotonic seconds + 1); 0: none */
    _Atomic uint32_t rate[CONNCOUNT_EVENTS]; /* events of the owning process in the window */
};

struct conncount {
    unsigned char *base;       /* the region: header page, then the slots */
    size_t len;
    int mapped;                /* base is an mmap of the master's region (else malloc'd) */
    unsigned nslots, slot;     /* slot: the one this process owns */
    size_t slot_bytes;
    uint64_t seed[2];
    unsigned v6bits;           /* IPv6 clients are counted by this prefix (128: the address) */
};

static size_t slot_bytes(void)
{
    size_t n = (size_t)CONNCOUNT_ENTRIES * sizeof(struct cc_entry);
    return (n + CC_PAGE - 1) / CC_PAGE * CC_PAGE;
}

static size_t region_len(unsigned nslots)
{
    return CC_PAGE + (size_t)nslots * slot_bytes();
}

static void random_seed(uint64_t seed[2])
{
    if (getrandom(seed, 2 * sizeof(uint64_t), 0) == (ssize_t)(2 * sizeof(uint64_t)))
        return;
    seed[0] = now_usec() ^ ((uint64_t)getpid() << 32);
    seed[1] = mono_msec() * 0x9e3779b97f4a7c15ull;
}

/* ---- the master ------------------------------------------------------------ */

int conncount_region_new(unsigned nslots, char *err, size_t errlen)
{
    if (nslots == 0 || nslots > CC_MAX_SLOTS) {
        str_fmt(err, errlen, "connection count region: bad slot count %u", nslots);
        return -1;
    }
    int fd = memfd_create("yubin-conncount", MFD_CLOEXEC);
    if (fd < 0) {
        str_fmt(err, errlen, "memfd_create: %s", strerror(errno));
        return -1;
    }
    struct cc_header h = {.magic = CC_MAGIC, .version = CC_VERSION, .nslots = nslots,
                          .nentries = CONNCOUNT_ENTRIES, .slot_bytes = slot_bytes()};
    random_seed(h.seed);
    /* ftruncate gives zero-filled pages: every slot starts empty. */
    if (ftruncate(fd, (off_t)region_len(nslots)) < 0 ||
        pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
        str_fmt(err, errlen, "connection count region: %s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int conncount_slot_clear(int fd, unsigned slot)
{
    off_t off = (off_t)(CC_PAGE + (size_t)slot * slot_bytes());
    off_t len = (off_t)slot_bytes();
    /* Punching a hole in a memfd frees the pages; they read back as zeros. */
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len) == 0)
        return 0;
    static const unsigned char zero[CC_PAGE];
    for (off_t done = 0; done < len; done += (off_t)sizeof(zero))
        if (pwrite(fd, zero, sizeof(zero), off + done) != (ssize_t)sizeof(zero))
            return -1;
    return 0;
}

/* ---- a worker ---------------------------------------------------------------- */

static int header_ok(const struct cc_header *h, size_t len, unsigned slot)
{
    return h->magic == CC_MAGIC && h->version == CC_VERSION && h->nentries == CONNCOUNT_ENTRIES &&
           h->slot_bytes == slot_bytes() && h->nslots > 0 && h->nslots <= CC_MAX_SLOTS &&
           len == region_len(h->nslots) && slot < h->nslots;
}

struct conncount *conncount_attach(int fd, unsigned slot, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)CC_PAGE) {
        str_fmt(err, errlen, "connection count region: not a region");
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    void *base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        str_fmt(err, errlen, "connection count region: mmap: %s", strerror(errno));
        return NULL;
    }
    const struct cc_header *h = base;
    if (!header_ok(h, len, slot)) {
        str_fmt(err, errlen, "connection count region: bad header or slot %u", slot);
        munmap(base, len);
        return NULL;
    }
    struct conncount *c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->len = len;
    c->mapped = 1;
    c->nslots = h->nslots;
    c->slot = slot;
    c->slot_bytes = (size_t)h->slot_bytes;
    memcpy(c->seed, h->seed, sizeof(c->seed));
    c->v6bits = 128;
    return c;
}

struct conncount *conncount_private(void)
{
    struct conncount *c = xcalloc(1, sizeof(*c));
    c->len = region_len(1);
    c->base = xcalloc(1, c->len);
    c->nslots = 1;
    c->slot = 0;
    c->slot_bytes = slot_bytes();
    random_seed(c->seed);
    c->v6bits = 128;
    return c;
}

void conncount_free(struct conncount *c)
{
    if (!c)
        return;
    if (c->mapped)
        munmap(c->base, c->len);
    else
        free(c->base);
    free(c);
}

/* ---- the table ------------------------------------------------------------------- */

void conncount_set_ipv6_prefix(struct conncount *c, unsigned bits)
{
    c->v6bits = bits > 128 ? 128 : bits;
}

static void key_of(const struct conncount *c, const struct net_addr *a, uint32_t k[4])
{
    unsigned char b[16] = {0};
    if (a->family == AF_INET) {
        b[10] = b[11] = 0xff;
        memcpy(b + 12, a->a, 4);
    } else {
        memcpy(b, a->a, 16);
        /* Keep the first v6bits bits: one client is one prefix. */
        for (unsigned i = 0; i < 16; i++) {
            unsigned keep = c->v6bits > i * 8 ? c->v6bits - i * 8 : 0;
            if (keep < 8)
                b[i] &= (unsigned char)(0xff00u >> keep);
        }
    }
    memcpy(k, b, sizeof(b));
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* The home entry: keyed by the region's random seed, so a client cannot pick
 * addresses that crowd one window. */
static size_t home_of(const struct conncount *c, const uint32_t k[4])
{
    uint64_t lo = ((uint64_t)k[0] << 32) | k[1], hi = ((uint64_t)k[2] << 32) | k[3];
    uint64_t h = mix64(lo ^ c->seed[0]);
    h = mix64(h ^ hi ^ c->seed[1]);
    return (size_t)(h & CC_MASK);
}

static struct cc_entry *slot_table(const struct conncount *c, unsigned slot)
{
    CC_ASSERT(slot < c->nslots);
    return (struct cc_entry *)(c->base + CC_PAGE + (size_t)slot * c->slot_bytes);
}

static int key_eq(struct cc_entry *e, const uint32_t k[4])
{
    for (int i = 0; i < 4; i++)
        if (atomic_load_explicit(&e->key[i], memory_order_relaxed) != k[i])
            return 0;
    return 1;
}

/* Monotonic seconds, offset by one so that 0 means "no window". */
static uint32_t now_s(void)
{
    return (uint32_t)(mono_msec() / 1000u) + 1u;
}

static int live(struct cc_entry *e, uint32_t now, memory_order mo)
{
    return atomic_load_explicit(&e->count, mo) > 0 || atomic_load_explicit(&e->until, mo) > now;
}

/* In this process's own slot: the live entry holding k, or NULL (and *free_e, the first dead one). */
static struct cc_entry *own_find(const struct conncount *c, const uint32_t k[4], uint32_t now,
                                 struct cc_entry **free_e)
{
    struct cc_entry *t = slot_table(c, c->slot);
    size_t home = home_of(c, k);
    *free_e = NULL;
    for (size_t i = 0; i < CONNCOUNT_WINDOW; i++) {
        struct cc_entry *e = &t[(home + i) & CC_MASK];
        if (!live(e, now, memory_order_relaxed)) {
            if (!*free_e)
                *free_e = e;
        } else if (key_eq(e, k)) {
            return e;
        }
    }
    return NULL;
}

/* Take the dead entry e for k: the key and zeroed rates first, then what makes it live. */
static void own_take(struct cc_entry *e, const uint32_t k[4])
{
    for (int i = 0; i < 4; i++)
        atomic_store_explicit(&e->key[i], k[i], memory_order_relaxed);
    for (int i = 0; i < CONNCOUNT_EVENTS; i++)
        atomic_store_explicit(&e->rate[i], 0, memory_order_relaxed);
    atomic_store_explicit(&e->until, 0, memory_order_relaxed);
}

int conncount_add(struct conncount *c, const struct net_addr *a)
{
    uint32_t k[4];
    key_of(c, a, k);
    struct cc_entry *free_e;
    struct cc_entry *e = own_find(c, k, now_s(), &free_e);
    if (e) {
        uint32_t n = atomic_load_explicit(&e->count, memory_order_relaxed);
        CC_ASSERT(n < UINT32_MAX);
        atomic_store_explicit(&e->count, n + 1, memory_order_release);
        return 0;
    }
    if (!free_e)
        return -1;
    /* The key first, then the count that makes readers look at it. */
    own_take(free_e, k);
    atomic_store_explicit(&free_e->count, 1, memory_order_release);
    return 0;
}

void conncount_remove(struct conncount *c, const struct net_addr *a)
{
    uint32_t k[4];
    key_of(c, a, k);
    struct cc_entry *free_e;
    struct cc_entry *e = own_find(c, k, now_s(), &free_e);
    CC_ASSERT(e != NULL);   /* every removed session was added */
    uint32_t n = atomic_load_explicit(&e->count, memory_order_relaxed);
    CC_ASSERT(n > 0);
    atomic_store_explicit(&e->count, n - 1, memory_order_release);
}

/*
 * Sum over every slot of a's entries: their sessions (ev < 0), or their
 * events of kind ev in windows still open.
 */
static unsigned sum_slots(const struct conncount *c, const struct net_addr *a, int ev)
{
    uint32_t k[4];
    key_of(c, a, k);
    size_t home = home_of(c, k);
    uint32_t now = now_s();
    /* Pairs with the same fence in the other workers: of two processes that
     * add the same client at once, at least one sees the other's count. */
    atomic_thread_fence(memory_order_seq_cst);
    unsigned long long sum = 0;
    for (unsigned s = 0; s < c->nslots; s++) {
        struct cc_entry *t = slot_table(c, s);
        for (size_t i = 0; i < CONNCOUNT_WINDOW; i++) {
            struct cc_entry *e = &t[(home + i) & CC_MASK];
            uint32_t n = ev < 0 ? atomic_load_explicit(&e->count, memory_order_acquire)
                         : atomic_load_explicit(&e->until, memory_order_acquire) > now
                             ? atomic_load_explicit(&e->rate[ev], memory_order_relaxed)
                             : 0;
            if (n > 0 && key_eq(e, k))
                sum += n;
        }
    }
    return sum > UINT32_MAX ? UINT32_MAX : (unsigned)sum;
}

unsigned conncount_total(const struct conncount *c, const struct net_addr *a)
{
    return sum_slots(c, a, -1);
}

unsigned conncount_event(struct conncount *c, const struct net_addr *a, enum conncount_event ev,
                         unsigned unit_s)
{
    CC_ASSERT((unsigned)ev < CONNCOUNT_EVENTS && unit_s > 0);
    uint32_t k[4];
    key_of(c, a, k);
    uint32_t now = now_s();
    struct cc_entry *free_e;
    struct cc_entry *e = own_find(c, k, now, &free_e);
    if (!e) {
        if (!free_e)
            return 0;          /* no room: not counted (the session cap refuses such floods) */
        own_take(free_e, k);
        e = free_e;
    }
    if (atomic_load_explicit(&e->until, memory_order_relaxed) <= now) {
        /* A new window, as anvil starts one at the first event after the last expired. */
        for (int i = 0; i < CONNCOUNT_EVENTS; i++)
            atomic_store_explicit(&e->rate[i], 0, memory_order_relaxed);
        uint64_t until = (uint64_t)now + unit_s;
        atomic_store_explicit(&e->until, until > UINT32_MAX ? UINT32_MAX : (uint32_t)until,
                              memory_order_release);
    }
    uint32_t n = atomic_load_explicit(&e->rate[ev], memory_order_relaxed);
    if (n < UINT32_MAX)
        atomic_store_explicit(&e->rate[ev], n + 1, memory_order_release);
    return conncount_rate(c, a, ev);
}

unsigned conncount_rate(const struct conncount *c, const struct net_addr *a,
                        enum conncount_event ev)
{
    CC_ASSERT((unsigned)ev < CONNCOUNT_EVENTS);
    return sum_slots(c, a, (int)ev);
}
