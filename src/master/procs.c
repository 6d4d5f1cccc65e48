/*
 * procs.c - the master's workers: starting them, noticing when they exit,
 * restarting them with back-off, wakeup events, and reload generations.
 *
 * A generation is one loaded configuration: for every service yubin runs,
 * cfg_service_procs() slots, each holding at most one worker process. A
 * reload starts a new generation on the (mostly re-used) listening
 * sockets and sends SIGTERM to the previous one, whose workers finish what
 * they are doing and exit; they are never restarted. Singletons (qmgr,
 * pickup) must never run twice: the new one starts only when the old one
 * has exited.
 *
 * A worker is this executable again: fork, move the service's listening
 * sockets to fds 3.., close everything else, exec /proc/self/exe -c DIR
 * worker SERVICE TYPE with YUBIN_LISTEN_FDS=n in the environment. An
 * smtpd inet worker also gets its service's session count region
 * (countregion.c) at fd 3+n, with YUBIN_COUNT_FD=3+n and
 * YUBIN_COUNT_SLOT=its slot.
 */
#include "master/master.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SELF_EXE "/proc/self/exe"

struct generation;
struct procs;

struct slot {
    struct svcrun *sr;
    pid_t pid;                  /* 0: not running */
    uint64_t started_ms;
    unsigned backoff_ms;        /* last restart delay */
    struct ev_timer *restart;
    int waiting;                /* singleton waiting for its predecessor to exit */
    int cr_slot;                /* slot in sr->cr of the running worker, -1: none */
};

struct svcrun {
    struct generation *gen;
    const struct master_service *svc;
    int *fds;
    size_t nfds;
    struct slot *slots;
    int nslots;
    struct ev_timer *wakeup;
    char *wake_path;
    struct count_region *cr;    /* smtpd inet services: shared session counts */
};

struct generation {
    struct procs *p;
    int id;
    struct config *cfg;
    struct svcrun *sv;
    size_t nsv;
    struct generation *next;    /* older generations still finishing */
};

struct procs {
    struct evloop *loop;
    int foreground, single_user;
    uid_t owner;
    gid_t group;
    int stopping;
    int next_id;
    struct generation *cur;
    struct generation *old;     /* list */
    struct ev_timer *kill_old;  /* SIGKILL old singletons that will not go */
    struct count_regions *regions;
};

/* ------------------------------------------------------------------ */
/* pure helpers                                                        */

char **master_worker_argv(const char *confdir, const struct master_service *svc)
{
    char **v = xcalloc(7, sizeof(*v));
    v[0] = xstrdup(svc->command && *svc->command ? svc->command : "yubin");  /* ps, until the
                                                                              * worker sets its title */
    v[1] = xstrdup("-c");
    v[2] = xstrdup(confdir);
    v[3] = xstrdup("worker");
    v[4] = xstrdup(svc->name);
    v[5] = xstrdup(cfg_svc_type_name(svc->type));
    return v;
}

static int env_wanted(const char *entry, char **imports)
{
    size_t n = strcspn(entry, "=");
    if (strncmp(entry, "YUBIN_", 6) == 0)
        return 1;
    /* Test builds: keep the sanitizer settings the harness chose. */
    static const char *const san[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
    for (size_t i = 0; i < ARRAY_LEN(san); i++)
        if (strlen(san[i]) == n && strncmp(entry, san[i], n) == 0)
            return 1;
    for (char **p = imports; *p; p++)
        if (!strchr(*p, '=') && strlen(*p) == n && strncmp(entry, *p, n) == 0)
            return 1;
    return 0;
}

char **master_clean_env(char *const *env, const char *import_list)
{
    char **imports = str_split_list(import_list ? import_list : "", NULL);
    size_t n = 0;
    char **v = xcalloc(strv_len(env) + strv_len(imports) + 1, sizeof(*v));
    for (char *const *e = env; e && *e; e++)
        if (env_wanted(*e, imports))
            v[n++] = xstrdup(*e);
    /* NAME=VALUE entries set the variable (overriding an inherited one). */
    for (char **p = imports; *p; p++) {
        const char *eq = strchr(*p, '=');
        if (!eq)
            continue;
        size_t nl = (size_t)(eq - *p);
        size_t i;
        for (i = 0; i < n; i++)
            if (strncmp(v[i], *p, nl) == 0 && v[i][nl] == '=')
                break;
        if (i < n) {
            free(v[i]);
            v[i] = xstrdup(*p);
        } else {
            v[n++] = xstrdup(*p);
        }
    }
    v[n] = NULL;
    strv_free(imports);
    return v;
}

unsigned master_backoff(unsigned prev_ms, uint64_t lived_ms)
{
    if (lived_ms >= 1000 || prev_ms == 0)
        return MASTER_RESTART_MS;
    unsigned next = prev_ms * 2;
    return next > MASTER_BACKOFF_MAX_MS ? MASTER_BACKOFF_MAX_MS : next;
}

/* ------------------------------------------------------------------ */
/* spawning                                                            */

static int is_singleton(const struct master_service *svc)
{
    return strcmp(svc->command, "qmgr") == 0 || strcmp(svc->command, "pickup") == 0;
}

static const char *svc_label(const struct master_service *svc, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", svc->name, cfg_svc_type_name(svc->type));
    return buf;
}

/* In the child: the count region (if any) for fd 3+n, its slot, in the environment. */
static void export_count_region(int fd, int slot)
{
    char nbuf[16];
    if (fd < 0) {
        unsetenv("YUBIN_COUNT_FD");
        unsetenv("YUBIN_COUNT_SLOT");
        return;
    }
    snprintf(nbuf, sizeof(nbuf), "%d", fd);
    setenv("YUBIN_COUNT_FD", nbuf, 1);
    snprintf(nbuf, sizeof(nbuf), "%d", slot);
    setenv("YUBIN_COUNT_SLOT", nbuf, 1);
}

/* In the child: listening fds to 3.., then the count region, nothing else open,
 * default signals, exec. */
static _Noreturn void exec_worker(const struct slot *slot, int foreground)
{
    const struct svcrun *sr = slot->sr;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    int n = (int)sr->nfds;
    int tmp[64];
    if (n > (int)ARRAY_LEN(tmp))
        n = (int)ARRAY_LEN(tmp);
    /* Move out of the way first: a listener or the region may already sit at 3..3+n. */
    for (int i = 0; i < n; i++)
        tmp[i] = fcntl(sr->fds[i], F_DUPFD, 3 + n);
    int region = slot->cr_slot >= 0 ? fcntl(count_region_fd(sr->cr), F_DUPFD, 3 + n) : -1;
    if (slot->cr_slot >= 0 && region < 0)
        _exit(127);
    for (int i = 0; i < n; i++)
        if (tmp[i] < 0 || dup2(tmp[i], 3 + i) < 0)
            _exit(127);
    if (region >= 0 && dup2(region, 3 + n) < 0)
        _exit(127);
    close_range(3 + (unsigned)n + (region >= 0), ~0U, 0);
    export_count_region(region >= 0 ? 3 + n : -1, slot->cr_slot);
    char nbuf[16];
    snprintf(nbuf, sizeof(nbuf), "%d", n);
    setenv("YUBIN_LISTEN_FDS", nbuf, 1);
    if (foreground)
        setenv("YUBIN_FOREGROUND", "1", 1);
    else
        unsetenv("YUBIN_FOREGROUND");
    char **argv = master_worker_argv(cfg_dir(sr->gen->cfg), sr->svc);
    execv(SELF_EXE, argv);
    /* Logging still works here: the log fd is gone, stderr may not be. */
    fprintf(stderr, "yubin: exec %s: %s\n", SELF_EXE, strerror(errno));
    _exit(127);
}

static void slot_start(struct slot *s)
{
    struct svcrun *sr = s->sr;
    struct procs *p = sr->gen->p;
    char label[160];
    s->waiting = 0;
    if (s->restart) {
        ev_timer_cancel(p->loop, s->restart);
        s->restart = NULL;
    }
    s->cr_slot = sr->cr ? count_region_take(sr->cr) : -1;
    if (sr->cr && s->cr_slot < 0)
        msg_warn("service %s: no free connection count slot; this process counts its own "
                 "sessions only", svc_label(sr->svc, label, sizeof(label)));
    pid_t pid = fork();
    if (pid < 0) {
        msg_warn("fork: %s; service %s not started", strerror(errno),
                 svc_label(sr->svc, label, sizeof(label)));
        s->cr_slot = -1;
        return;
    }
    if (pid == 0)
        exec_worker(s, p->foreground);
    s->pid = pid;
    if (s->cr_slot >= 0)
        count_region_own(sr->cr, s->cr_slot, pid);
    s->started_ms = mono_msec();
    msg_debug("service %s: started worker pid %ld", svc_label(sr->svc, label, sizeof(label)),
              (long)pid);
}

static void restart_due(void *arg)
{
    struct slot *s = arg;
    s->restart = NULL;
    if (!s->sr->gen->p->stopping && s->sr->gen == s->sr->gen->p->cur && !s->pid)
        slot_start(s);
}

/* ------------------------------------------------------------------ */
/* wakeup                                                              */

/* Postfix's wakeup: a short "W" request on the service's socket. */
static void wakeup_due(void *arg)
{
    struct svcrun *sr = arg;
    struct procs *p = sr->gen->p;
    sr->wakeup = NULL;
    if (p->stopping || sr->gen != p->cur)
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        str_copy(sun.sun_path, sr->wake_path, sizeof(sun.sun_path));
        if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
            (void)!write(fd, "W\n", 2);
        else
            msg_debug("wakeup %s: %s", sr->wake_path, strerror(errno));
        close(fd);
    }
    sr->wakeup = ev_timer_add(p->loop, (uint64_t)sr->svc->wakeup * 1000, wakeup_due, sr);
}

/* ------------------------------------------------------------------ */
/* generations                                                         */

static size_t gen_running(const struct generation *g)
{
    size_t n = 0;
    for (size_t i = 0; i < g->nsv; i++)
        for (int k = 0; k < g->sv[i].nslots; k++)
            n += g->sv[i].slots[k].pid != 0;
    return n;
}

static void gen_cancel_timers(struct generation *g)
{
    struct evloop *loop = g->p->loop;
    for (size_t i = 0; i < g->nsv; i++) {
        struct svcrun *sr = &g->sv[i];
        if (sr->wakeup) {
            ev_timer_cancel(loop, sr->wakeup);
            sr->wakeup = NULL;
        }
        for (int k = 0; k < sr->nslots; k++)
            if (sr->slots[k].restart) {
                ev_timer_cancel(loop, sr->slots[k].restart);
                sr->slots[k].restart = NULL;
            }
    }
}

static void gen_signal(struct generation *g, int sig)
{
    for (size_t i = 0; i < g->nsv; i++)
        for (int k = 0; k < g->sv[i].nslots; k++)
            if (g->sv[i].slots[k].pid)
                kill(g->sv[i].slots[k].pid, sig);
}

static void gen_free(struct generation *g)
{
    if (!g)
        return;
    gen_cancel_timers(g);
    for (size_t i = 0; i < g->nsv; i++) {
        free(g->sv[i].fds);
        free(g->sv[i].slots);
        free(g->sv[i].wake_path);
    }
    free(g->sv);
    config_free(g->cfg);
    free(g);
}

/* Is an older generation still running this singleton service? */
static struct slot *predecessor(struct procs *p, const struct master_service *svc)
{
    for (struct generation *g = p->old; g; g = g->next)
        for (size_t i = 0; i < g->nsv; i++) {
            const struct master_service *o = g->sv[i].svc;
            if (o->type == svc->type && strcmp(o->name, svc->name) == 0)
                for (int k = 0; k < g->sv[i].nslots; k++)
                    if (g->sv[i].slots[k].pid)
                        return &g->sv[i].slots[k];
        }
    return NULL;
}

static void kill_old_singletons(void *arg)
{
    struct procs *p = arg;
    p->kill_old = NULL;
    if (!p->cur)
        return;
    for (size_t i = 0; i < p->cur->nsv; i++)
        for (int k = 0; k < p->cur->sv[i].nslots; k++)
            if (p->cur->sv[i].slots[k].waiting) {
                struct slot *old = predecessor(p, p->cur->sv[i].svc);
                if (old) {
                    msg_warn("service %s: previous process %ld did not stop; killing it",
                             p->cur->sv[i].svc->name, (long)old->pid);
                    kill(old->pid, SIGKILL);
                }
            }
}

struct procs *procs_new(struct evloop *loop, int foreground, int single_user, uid_t owner,
                        gid_t group)
{
    struct procs *p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    p->foreground = foreground;
    p->single_user = single_user;
    p->owner = owner;
    p->group = group;
    p->next_id = 1;
    p->regions = count_regions_new();
    return p;
}

const struct config *procs_config(const struct procs *p)
{
    return p->cur ? p->cur->cfg : NULL;
}

int procs_start_generation(struct procs *p, struct listeners *ls, struct config *cfg, char *err,
                           size_t errlen)
{
    struct generation *g = xcalloc(1, sizeof(*g));
    g->p = p;
    g->cfg = cfg;
    g->id = p->next_id++;
    g->sv = xcalloc(cfg_service_count(cfg) + 1, sizeof(*g->sv));
    listeners_unmark(ls);
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *svc = cfg_service(cfg, i);
        int nprocs = cfg_service_procs(cfg, svc);
        if (cfg_service_role(svc) != SVC_ROLE_RUN || nprocs <= 0)
            continue;
        struct svcrun *sr = &g->sv[g->nsv];
        sr->gen = g;
        sr->svc = svc;
        sr->fds = listeners_for_service(ls, cfg, svc, p->owner, p->group, p->single_user,
                                        &sr->nfds, err, errlen);
        if (!sr->fds) {
            /* Keep every socket the running generation uses; drop only new ones. */
            for (size_t k = 0; p->cur && k < p->cur->nsv; k++)
                for (size_t f = 0; f < p->cur->sv[k].nfds; f++)
                    listeners_mark_fd(ls, p->cur->sv[k].fds[f]);
            listeners_close_unused(ls);
            g->cfg = NULL;
            gen_free(g);
            return -1;
        }
        if (svc->type == SVC_UNIX)
            sr->wake_path = master_unix_path(cfg, svc);
        sr->nslots = nprocs;
        sr->slots = xcalloc((size_t)nprocs, sizeof(*sr->slots));
        for (int k = 0; k < nprocs; k++) {
            sr->slots[k].sr = sr;
            sr->slots[k].cr_slot = -1;
        }
        g->nsv++;
    }
    /* Sockets the new configuration no longer uses. */
    listeners_close_unused(ls);

    /* Retire the running generation: it finishes its work and exits. */
    if (p->cur) {
        gen_cancel_timers(p->cur);
        gen_signal(p->cur, SIGTERM);
        if (gen_running(p->cur)) {
            p->cur->next = p->old;
            p->old = p->cur;
        } else {
            gen_free(p->cur);
        }
    }
    p->cur = g;
    /* The old generation's workers still own their count slots: counted on. */
    count_regions_unmark(p->regions);
    for (size_t i = 0; i < g->nsv; i++)
        g->sv[i].cr = count_region_get(p->regions, g->sv[i].svc, g->sv[i].nslots);
    count_regions_sweep(p->regions);
    int waiting = 0;
    for (size_t i = 0; i < g->nsv; i++) {
        struct svcrun *sr = &g->sv[i];
        for (int k = 0; k < sr->nslots; k++) {
            if (is_singleton(sr->svc) && predecessor(p, sr->svc)) {
                sr->slots[k].waiting = 1;
                waiting = 1;
            } else {
                slot_start(&sr->slots[k]);
            }
        }
        if (sr->svc->type == SVC_UNIX && sr->svc->wakeup > 0)
            sr->wakeup = ev_timer_add(p->loop, (uint64_t)sr->svc->wakeup * 1000, wakeup_due, sr);
    }
    if (waiting && !p->kill_old)
        p->kill_old = ev_timer_add(p->loop, MASTER_STOP_GRACE_MS, kill_old_singletons, p);
    return 0;
}

/* ------------------------------------------------------------------ */
/* exits                                                               */

static struct slot *find_slot(struct procs *p, pid_t pid, struct generation **gen)
{
    for (struct generation *g = p->cur; g; g = g == p->cur ? p->old : g->next)
        for (size_t i = 0; i < g->nsv; i++)
            for (int k = 0; k < g->sv[i].nslots; k++)
                if (g->sv[i].slots[k].pid == pid) {
                    *gen = g;
                    return &g->sv[i].slots[k];
                }
    return NULL;
}

/* A singleton of the current generation waiting for this service's old process. */
static void start_waiting(struct procs *p, const struct master_service *svc)
{
    if (!p->cur || p->stopping)
        return;
    for (size_t i = 0; i < p->cur->nsv; i++) {
        struct svcrun *sr = &p->cur->sv[i];
        if (sr->svc->type != svc->type || strcmp(sr->svc->name, svc->name) != 0)
            continue;
        for (int k = 0; k < sr->nslots; k++)
            if (sr->slots[k].waiting && !predecessor(p, sr->svc))
                slot_start(&sr->slots[k]);
    }
}

static void drop_finished_generations(struct procs *p)
{
    struct generation **pp = &p->old;
    while (*pp) {
        if (gen_running(*pp) == 0) {
            struct generation *dead = *pp;
            *pp = dead->next;
            gen_free(dead);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void child_exited(struct procs *p, pid_t pid, int status)
{
    struct generation *g;
    count_regions_exited(p->regions, pid);
    struct slot *s = find_slot(p, pid, &g);
    if (!s)
        return;
    uint64_t lived = mono_msec() - s->started_ms;
    s->pid = 0;
    s->cr_slot = -1;
    /* Postfix's wording, so existing log watchers keep working. */
    int asked = WIFSIGNALED(status) && (p->stopping || g != p->cur) &&
                (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL);
    if (WIFSIGNALED(status) && !asked)
        msg_warn("process %s pid %ld killed by signal %d", SELF_EXE, (long)pid, WTERMSIG(status));
    else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        msg_warn("process %s pid %ld exit status %d", SELF_EXE, (long)pid, WEXITSTATUS(status));

    const struct master_service *svc = s->sr->svc;
    if (g != p->cur) {
        start_waiting(p, svc);
        drop_finished_generations(p);
        return;
    }
    if (p->stopping)
        return;
    s->backoff_ms = master_backoff(s->backoff_ms, lived);
    if (lived < 1000) {
        char label[160];
        msg_warn("service %s (command %s): bad command startup -- throttling for %us",
                 svc_label(svc, label, sizeof(label)), svc->command, s->backoff_ms / 1000);
    }
    s->restart = ev_timer_add(p->loop, s->backoff_ms, restart_due, s);
}

void procs_reap(struct procs *p)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            if (pid < 0 && errno == EINTR)
                continue;
            break;
        }
        child_exited(p, pid, status);
    }
}

void procs_stop(struct procs *p)
{
    if (!p)
        return;
    p->stopping = 1;
    if (p->kill_old) {
        ev_timer_cancel(p->loop, p->kill_old);
        p->kill_old = NULL;
    }
    for (struct generation *g = p->cur; g; g = g == p->cur ? p->old : g->next) {
        gen_cancel_timers(g);
        gen_signal(g, SIGTERM);
    }
}

void procs_kill(struct procs *p)
{
    if (!p)
        return;
    for (struct generation *g = p->cur; g; g = g == p->cur ? p->old : g->next)
        gen_signal(g, SIGKILL);
}

size_t procs_running(const struct procs *p)
{
    size_t n = 0;
    for (const struct generation *g = p->cur; g; g = g == p->cur ? p->old : g->next)
        n += gen_running(g);
    return n;
}

void procs_free(struct procs *p)
{
    if (!p)
        return;
    if (p->kill_old)
        ev_timer_cancel(p->loop, p->kill_old);
    while (p->old) {
        struct generation *g = p->old;
        p->old = g->next;
        gen_free(g);
    }
    gen_free(p->cur);
    count_regions_free(p->regions);
    free(p);
}
