/*
 * auth.c - the auth service (see auth.h): client connections speaking the
 * Dovecot authentication protocol, userdb ("auth-master") connections,
 * authentication requests driven through the mechanisms (mech.h), user
 * lookups (passdb.h), hashing off the loop (hashpool.h), failure delays
 * and per-IP penalties with timers, CANCEL and the expiry of requests whose
 * client went quiet, and the master.cf entry point.
 */
#include "auth/auth_role.h"
#include "auth/auth.h"
#include "lib-auth/authproto.h"
#include "lib/base64.h"
#include "lib/conn.h"
#include "lib-conf/config.h"
#include "lib/evloop.h"
#include "auth/hashpool.h"
#include "lib/log.h"
#include "auth/mech.h"
#include "auth/passdb.h"
#include "auth/scheme.h"
#include "lib/util.h"
#include "lib-master/worker.h"
#include "lib-table/table.h"
#include "lib-table/matchlist.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#define CONN_OUT_MAX        (1u << 20)   /* a client that does not read is dropped */
#define CONN_REQUESTS_MAX   4096
/* Requests of one client address (its ip_limit_key) on one connection, in any
 * state, a cancelled one still hashing included: one client can only fill its
 * own share, never the connection every client of an smtpd shares. */
#define RIP_REQUESTS_MAX    32
#define CLIENT_WAIT_MS      (150 * 1000)  /* Dovecot's MASTER_AUTH_SERVER_TIMEOUT_SECS */
#define SWEEP_MS            (30 * 1000)
#define PENALTY_FORGET_MS   (60 * 60 * 1000)
#define PENALTY_TABLE_MAX   65536
#define PENALTY_BUCKETS     4096
#define USER_MAX            256
#define RESPONSE_MAX        12288         /* decoded SASL message (Postfix's response limit) */
/* Successful logins (AUTH without "nologin") wait this long for the master's
 * REQUEST, at most LOGINS_MAX of them (the oldest go first). */
#define LOGIN_KEEP_MS       (30 * 1000)
#define LOGINS_MAX          8192

/* ------------------------------------------------------------------ */
/* settings                                                            */

int auth_parse_delay(const char *s, long long *ms)
{
    char *end;
    if (!s || !*s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || v > 86400000LL)
        return -1;
    long long mult;
    if (!*end || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else
        return -1;
    *ms = v * mult;
    return *ms <= 86400000LL ? 0 : -1;
}

void auth_settings_from_config(const struct config *cfg, struct auth_settings *set)
{
    memset(set, 0, sizeof(*set));
    set->passdb = cfg_get(cfg, P_auth_passdb);
    set->userdb = cfg_get(cfg, P_auth_userdb);
    set->default_scheme = cfg_get(cfg, P_auth_default_pass_scheme);
    set->mechanisms = cfg_get(cfg, P_auth_mechanisms);
    set->username_format = cfg_get(cfg, P_auth_username_format);
    set->username_chars = cfg_get(cfg, P_auth_username_chars);
    set->default_realm = cfg_get(cfg, P_auth_default_realm);
    set->hostname = cfg_get(cfg, P_myhostname);
    const enum param_id names[] = {P_auth_failure_delay, P_auth_penalty_limit};
    long long *dst[] = {&set->failure_delay_ms, &set->penalty_limit_ms};
    for (int i = 0; i < 2; i++) {
        const char *v = cfg_get(cfg, names[i]);
        if (auth_parse_delay(v, dst[i]) < 0) {
            /* the table's default ("2s", "15s") */
            const char *def = cfg_param_default_by_name(cfg, cfg_param_name(names[i]));
            msg_warn("%s: bad time value \"%.40s\" (a number with an optional unit ms, s, m); "
                     "using %s", cfg_param_name(names[i]), v, def);
            if (auth_parse_delay(def, dst[i]) < 0)
                *dst[i] = 0;
        }
    }
    set->disable_plaintext = cfg_get_bool(cfg, P_auth_disable_plaintext);
}

/* ------------------------------------------------------------------ */
/* user names                                                          */

int auth_username_normalize(const struct auth_settings *set, const char *in, char *out,
                            size_t outlen)
{
    size_t n = strlen(in);
    if (n == 0 || n >= USER_MAX)
        return -1;
    const char *allowed = set->username_chars ? set->username_chars
                                              : cfg_param_builtin(P_auth_username_chars);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c < 0x20 || c == 0x7f || c == '\t')
            return -1;
        if (*allowed && !strchr(allowed, c))
            return -1;
    }
    char full[USER_MAX * 2];
    if (!strchr(in, '@') && set->default_realm && *set->default_realm)
        snprintf(full, sizeof(full), "%s@%s", in, set->default_realm);
    else
        str_copy(full, in, sizeof(full));
    const char *at = strchr(full, '@');
    size_t local_len = at ? (size_t)(at - full) : strlen(full);
    const char *domain = at ? at + 1 : "";

    const char *fmt = set->username_format && *set->username_format ? set->username_format : "%u";
    struct buf b;
    buf_init(&b, USER_MAX);
    int bad = 0;
    for (const char *p = fmt; !bad && *p; p++) {
        if (*p != '%') {
            bad = buf_putc(&b, *p) < 0;
            continue;
        }
        p++;
        int lower = 0, upper = 0;
        if (*p == 'L' || *p == 'U') {
            lower = *p == 'L';
            upper = *p == 'U';
            p++;
        }
        if (!*p) {   /* the format ends in "%", "%L" or "%U": never step past its NUL */
            bad = 1;
            break;
        }
        const char *src;
        size_t len;
        switch (*p) {
        case 'u': src = full; len = strlen(full); break;
        case 'n': src = full; len = local_len; break;
        case 'd': src = domain; len = strlen(domain); break;
        case '%': src = "%"; len = 1; break;
        default: bad = 1; continue;
        }
        for (size_t i = 0; i < len && !bad; i++) {
            char c = src[i];
            if (lower)
                c = (char)tolower((unsigned char)c);
            else if (upper)
                c = (char)toupper((unsigned char)c);
            bad = buf_putc(&b, c) < 0;
        }
    }
    int rc = -1;
    if (!bad && b.len > 0 && b.len < outlen) {
        memcpy(out, b.data, b.len + 1);
        rc = 0;
    }
    buf_free(&b);
    return rc;
}

/* Printable form of an untrusted name for the log. */
static void log_safe(const char *in, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; in && in[i] && o + 1 < outlen && i < 128; i++) {
        unsigned char c = (unsigned char)in[i];
        out[o++] = (c >= 0x20 && c < 0x7f && c != '<' && c != '>') ? (char)c : '?';
    }
    out[o] = '\0';
}

/* ------------------------------------------------------------------ */
/* penalties per client IP                                             */

struct penalty {
    char key[IP_KEY_MAX];         /* ip_limit_key(): IPv4, or IPv6 /64 */
    unsigned failures;
    uint64_t last_failure;
    uint64_t next_slot;      /* earliest start of the next attempt */
    struct penalty *next;
};

struct penalty_table {
    struct penalty *buckets[PENALTY_BUCKETS];
    size_t count;
    int full_logged;
};

static unsigned bucket_of(const char *key)
{
    unsigned h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % PENALTY_BUCKETS;
}

static void penalty_sweep(struct penalty_table *t, uint64_t now, uint64_t keep_ms)
{
    for (size_t b = 0; b < PENALTY_BUCKETS; b++) {
        struct penalty **pp = &t->buckets[b];
        while (*pp) {
            struct penalty *e = *pp;
            if (now - e->last_failure > keep_ms && e->next_slot <= now) {
                *pp = e->next;
                free(e);
                t->count--;
            } else {
                pp = &e->next;
            }
        }
    }
}

static struct penalty *penalty_find(struct penalty_table *t, const char *key, int create,
                                    uint64_t now)
{
    unsigned b = bucket_of(key);
    for (struct penalty *e = t->buckets[b]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    if (!create)
        return NULL;
    if (t->count >= PENALTY_TABLE_MAX) {
        penalty_sweep(t, now, PENALTY_FORGET_MS);
        if (t->count >= PENALTY_TABLE_MAX)
            penalty_sweep(t, now, 60 * 1000);
        if (t->count >= PENALTY_TABLE_MAX) {
            if (!t->full_logged)
                msg_warn("auth penalty table is full (%d client addresses)", PENALTY_TABLE_MAX);
            t->full_logged = 1;
            return NULL;
        }
    }
    struct penalty *e = xcalloc(1, sizeof(*e));
    str_copy(e->key, key, sizeof(e->key));
    e->next = t->buckets[b];
    t->buckets[b] = e;
    t->count++;
    return e;
}

static void penalty_free_all(struct penalty_table *t)
{
    penalty_sweep(t, UINT64_MAX / 2, 0);
    for (size_t b = 0; b < PENALTY_BUCKETS; b++)
        while (t->buckets[b]) {
            struct penalty *e = t->buckets[b];
            t->buckets[b] = e->next;
            free(e);
        }
    t->count = 0;
}

/* ------------------------------------------------------------------ */
/* server state                                                        */

enum req_state {
    REQ_PENALTY,     /* waiting for its start slot */
    REQ_CLIENT,      /* waiting for the client's CONT */
    REQ_BUSY,        /* a hash job is running */
    REQ_DELAY,       /* failure reply waits for auth_failure_delay */
    REQ_TABLE,       /* its passdb lookup waits for a remote table (table.h) */
};

struct auth_conn;

struct auth_req {
    struct auth_conn *conn;
    unsigned id;
    const struct auth_mech_info *info;
    struct mech *mech;
    enum req_state state;
    char *service, *rip, *lip;
    int secured, no_penalty, nologin;
    unsigned char *initial;      /* decoded initial response, held during a penalty wait */
    size_t initial_len;
    int has_initial;
    char user[USER_MAX];         /* normalized, once known */
    char fail_reason[160];       /* for the log */
    uint64_t started;
    int cancelled;               /* the client sent CANCEL while a hash job ran */
    struct ev_timer *timer;      /* penalty wait, failure delay, or the client's time to continue */
    struct hash_job *job;
    struct scram_secret secret;  /* stored SCRAM credentials while the PBKDF2 ballast runs */
    int have_secret;             /* SCRAM: 0 none (fake), 1 stored (secret), 2 from plaintext (job) */
    int no_password;             /* unknown user or no stored password: never succeeds */
    int passdb_nologin;          /* the passdb said "nologin": refused after the password */
    char passdb_reason[160];     /* its "reason" */
    struct table_wait tw;        /* REQ_TABLE: the passdb lookup runs again when woken */
    void (*resume)(struct auth_req *r);
    enum req_state state_before; /* REQ_TABLE: the state to go back to */
    struct auth_req *next;
};

struct auth_conn {
    struct auth_server *srv;
    struct conn *io;             /* the socket: lines in, replies out */
    int master;                  /* userdb protocol */
    int got_version;
    int closing;
    unsigned long cpid;
    char cookie[33];             /* sent in the greeting (client connections) */
    struct auth_req *reqs;
    size_t nreqs;
    struct ev_timer *close_timer;  /* closing noticed outside ac_ready */
    int in_io;
    struct auth_conn *next;
};

struct listener {
    struct auth_server *srv;
    int fd;
    int master;
};

/* A successful login kept for the master's REQUEST (Dovecot's master protocol). */
struct auth_login {
    unsigned long cpid;          /* the client connection's CPID */
    unsigned id;                 /* the request id on that connection */
    char cookie[33];             /* that connection's cookie */
    char user[USER_MAX];
    uint64_t expires;
    struct auth_login *next;
};

struct auth_server {
    struct auth_settings set;
    struct auth_login *logins, **logins_tail;
    size_t nlogins;
    char *set_strings[8];        /* owned copies of the setting strings */
    struct evloop *loop;
    struct authdb *passdb, *userdb;
    int mech_enabled[MECH_COUNT];
    unsigned char salt_key[32];  /* fake and plaintext-derived SCRAM salts */
    unsigned char plain_salt_key[32];
    struct hashpool *pool;
    struct auth_conn *conns;
    unsigned next_cuid;
    struct penalty_table penalties;
    struct listener listeners[8];
    size_t nlisteners;
    struct ev_timer *sweep;
    char *dummy;                 /* a real SHA512-CRYPT value of a random password */
    int shutting_down;
};

static void ac_close(struct auth_conn *c);
static void req_free(struct auth_req *r);
static void req_begin(struct auth_req *r);
static void req_result(struct auth_req *r, enum mech_result res, struct buf *out);

/* ------------------------------------------------------------------ */
/* output                                                              */

static void close_later(void *arg)
{
    struct auth_conn *c = arg;
    c->close_timer = NULL;
    ac_close(c);
}

/* Mark for closing; outside ac_ready the close happens from a timer. */
static void ac_fail(struct auth_conn *c)
{
    c->closing = 1;
    if (!c->in_io && !c->close_timer)
        c->close_timer = ev_timer_add(c->srv->loop, 0, close_later, c);
}

/* Write what the socket takes now; the rest waits for writability. */
static void ac_flush(struct auth_conn *c)
{
    if (conn_flush(c->io) < 0) {
        ac_fail(c);
        return;
    }
    conn_update(c->io);
}

static void ac_send(struct auth_conn *c, const char *line, size_t len)
{
    if (c->closing)
        return;
    struct buf *out = conn_out(c->io);
    if (buf_append(out, line, len) < 0 || buf_putc(out, '\n') < 0) {
        msg_warn("auth client does not read its replies; disconnecting");
        ac_fail(c);
        return;
    }
    ac_flush(c);
}

/* "CMD\tid\t..." with the extra fields escaped. */
static void reply(struct auth_req *r, const char *cmd, const char *const *fields, size_t n)
{
    if (r->cancelled)
        return;   /* the client forgot the id: say nothing (Dovecot does the same) */
    struct buf b;
    buf_init(&b, AUTHPROTO_LINE_MAX);
    buf_printf(&b, "%s\t%u", cmd, r->id);
    for (size_t i = 0; i < n; i++) {
        if (!fields[i])
            continue;
        buf_putc(&b, '\t');
        authproto_escape(&b, fields[i], strlen(fields[i]));
    }
    ac_send(r->conn, b.data, b.len);
    buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* requests                                                            */

static struct auth_req *req_find(struct auth_conn *c, unsigned id)
{
    for (struct auth_req *r = c->reqs; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void req_unlink(struct auth_req *r)
{
    struct auth_conn *c = r->conn;
    for (struct auth_req **pp = &c->reqs; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            c->nreqs--;
            return;
        }
}

static void req_free(struct auth_req *r)
{
    if (!r)
        return;
    if (r->timer)
        ev_timer_cancel(r->conn->srv->loop, r->timer);
    table_wait_cancel(&r->tw);
    if (r->job)
        r->job->arg = NULL;   /* the pool's callback frees it */
    auth_mech_free(r->mech);
    free(r->service);
    free(r->rip);
    free(r->lip);
    if (r->initial) {
        OPENSSL_cleanse(r->initial, r->initial_len);
        free(r->initial);
    }
    OPENSSL_cleanse(&r->secret, sizeof(r->secret));
    free(r);
}

static void req_done(struct auth_req *r)
{
    req_unlink(r);
    req_free(r);
}

static const char *user_for_log(struct auth_req *r, char *buf, size_t len)
{
    if (r->user[0])
        log_safe(r->user, buf, len);
    else if (r->mech && auth_mech_user(r->mech))
        log_safe(auth_mech_user(r->mech), buf, len);
    else
        str_copy(buf, "", len);
    return buf;
}

static void log_result(struct auth_req *r, int ok, const char *reason)
{
    char user[160], rip[64];
    user_for_log(r, user, sizeof(user));
    log_safe(r->rip ? r->rip : "", rip, sizeof(rip));
    if (ok)
        msg_info("ok: user=<%s>, method=%s, rip=%s, service=%s", user, r->info->name,
                 rip[0] ? rip : "unknown", r->service);
    else
        msg_info("failed: user=<%s>, method=%s, rip=%s, service=%s, reason=%s", user,
                 r->info->name, rip[0] ? rip : "unknown", r->service, reason);
}

static uint64_t penalty_ms(const struct auth_server *s, unsigned failures)
{
    if (failures == 0 || s->set.penalty_limit_ms <= 0)
        return 0;
    uint64_t base = s->set.failure_delay_ms > 0 ? (uint64_t)s->set.failure_delay_ms : 1000;
    uint64_t p = base;
    for (unsigned i = 1; i < failures && p < (uint64_t)s->set.penalty_limit_ms; i++)
        p *= 2;
    return p < (uint64_t)s->set.penalty_limit_ms ? p : (uint64_t)s->set.penalty_limit_ms;
}

static void penalty_record(struct auth_req *r, int failed)
{
    struct auth_server *s = r->conn->srv;
    if (!r->rip || !*r->rip || r->no_penalty || s->set.penalty_limit_ms <= 0)
        return;
    char key[sizeof(((struct penalty *)0)->key)];
    ip_limit_key(r->rip, key, sizeof(key));
    uint64_t now = ev_now(s->loop);
    struct penalty *e = penalty_find(&s->penalties, key, failed, now);
    if (!e)
        return;
    if (failed) {
        if (now - e->last_failure > PENALTY_FORGET_MS)
            e->failures = 0;
        if (e->failures < 64)
            e->failures++;
        e->last_failure = now;
    } else {
        e->failures = 0;
        e->next_slot = 0;
    }
}

static void send_fail(struct auth_req *r, const char *client_reason, int temp)
{
    const char *f[4] = {0};
    char userf[USER_MAX + 8], reasonf[200];
    const char *u = r->user[0] ? r->user : (r->mech ? auth_mech_user(r->mech) : NULL);
    if (u && *u) {
        snprintf(userf, sizeof(userf), "user=%s", u);
        f[0] = userf;
    }
    if (client_reason) {
        snprintf(reasonf, sizeof(reasonf), "reason=%s", client_reason);
        f[1] = reasonf;
    }
    if (temp)
        f[2] = "temp";
    reply(r, "FAIL", f, 3);
}

static void delayed_fail(void *arg)
{
    struct auth_req *r = arg;
    r->timer = NULL;
    send_fail(r, NULL, 0);
    req_done(r);
}

/* A credentials failure: counted for the penalty, answered after the failure delay. */
static void req_fail_auth(struct auth_req *r, const char *log_reason)
{
    struct auth_server *s = r->conn->srv;
    log_result(r, 0, log_reason);
    penalty_record(r, 1);
    uint64_t now = mono_msec();
    uint64_t due = r->started + (uint64_t)(s->set.failure_delay_ms > 0 ? s->set.failure_delay_ms : 0);
    r->state = REQ_DELAY;
    if (due <= now || s->shutting_down || r->cancelled) {
        delayed_fail(r);
        return;
    }
    r->timer = ev_timer_add(s->loop, due - now, delayed_fail, r);
}

/* A refusal that reveals nothing about credentials: answered at once. */
static void req_fail_now(struct auth_req *r, const char *log_reason, const char *client_reason,
                         int temp)
{
    log_result(r, 0, log_reason);
    send_fail(r, client_reason, temp);
    req_done(r);
}

static void logins_expire(struct auth_server *s, uint64_t now, size_t keep)
{
    while (s->logins && (s->logins->expires <= now || s->nlogins > keep)) {
        struct auth_login *l = s->logins;
        s->logins = l->next;
        if (!s->logins)
            s->logins_tail = &s->logins;
        s->nlogins--;
        OPENSSL_cleanse(l, sizeof(*l));
        free(l);
    }
}

/* A login (no "nologin"): the master may ask who it was, once, for a while. */
static void login_keep(struct auth_req *r)
{
    struct auth_server *s = r->conn->srv;
    if (r->nologin || r->conn->master || !r->conn->cookie[0])
        return;
    uint64_t now = mono_msec();
    logins_expire(s, now, LOGINS_MAX - 1);
    struct auth_login *l = xcalloc(1, sizeof(*l));
    l->cpid = r->conn->cpid;
    l->id = r->id;
    str_copy(l->cookie, r->conn->cookie, sizeof(l->cookie));
    str_copy(l->user, r->user, sizeof(l->user));
    l->expires = now + LOGIN_KEEP_MS;
    *s->logins_tail = l;
    s->logins_tail = &l->next;
    s->nlogins++;
}

static void req_success(struct auth_req *r)
{
    log_result(r, 1, NULL);
    penalty_record(r, 0);
    login_keep(r);
    char userf[USER_MAX + 8];
    snprintf(userf, sizeof(userf), "user=%s", r->user);
    const char *f[1] = {userf};
    reply(r, "OK", f, 1);
    req_done(r);
}

/* Normalize auth_mech_user() into r->user; -1 (and the request failed) if refused. */
static int req_set_user(struct auth_req *r)
{
    const char *raw = auth_mech_user(r->mech);
    if (!raw || auth_username_normalize(&r->conn->srv->set, raw, r->user, sizeof(r->user)) < 0) {
        r->user[0] = '\0';
        req_fail_auth(r, "user name contains disallowed characters or is too long");
        return -1;
    }
    return 0;
}

static void hash_done(struct hash_job *job);

static struct hash_job *req_job(struct auth_req *r, enum hash_job_kind kind)
{
    struct hash_job *j = auth_hash_job_new(kind);
    j->done = hash_done;
    j->arg = r;
    r->job = j;
    r->state = REQ_BUSY;
    return j;
}

/* A stored value to hash for users without one, so they cost the same. */
static char *dummy_stored(struct auth_server *s)
{
    const char *sample = auth_db_sample_password(s->passdb);
    return xstrdup(sample ? sample : s->dummy ? s->dummy : "{PLAIN}x");
}

/*
 * The request's user in the passdb: AUTHDB_FOUND (u filled) or
 * AUTHDB_NOTFOUND, or -1 when the request has already been answered (a bad
 * user name, or a temporary passdb failure).
 */
static int req_lookup_pass(struct auth_req *r, struct auth_user *u,
                           void (*resume)(struct auth_req *r))
{
    if (req_set_user(r) < 0)
        return -1;
    table_wait_begin(&r->tw);
    int rc = auth_db_lookup_pass(r->conn->srv->passdb, r->user, u);
    if (table_wait_end(&r->tw)) {
        /* A remote table answers later: park the request, run resume() again then. */
        auth_user_free(u);
        r->resume = resume;
        r->state_before = r->state;
        r->state = REQ_TABLE;
        return -1;
    }
    table_wait_done(&r->tw);
    if (rc == AUTHDB_TEMPFAIL) {
        req_fail_now(r, "passdb lookup failed temporarily", "Temporary authentication failure",
                     1);
        return -1;
    }
    return rc;
}

static void req_table_woken(void *arg)
{
    struct auth_req *r = arg;
    INVARIANT(r->state == REQ_TABLE);
    r->state = r->state_before;
    r->resume(r);
}

/* A passdb extra field: its value ("" for a bare name), or NULL. */
static const char *user_field(const struct auth_user *u, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; u->fields && u->fields[i]; i++)
        if (!strncmp(u->fields[i], name, nl) && (!u->fields[i][nl] || u->fields[i][nl] == '='))
            return u->fields[i][nl] ? u->fields[i] + nl + 1 : "";
    return NULL;
}

/* A field that is set: present, and not "n", "no", "0" or empty-after-'='. */
static int field_set(const char *v)
{
    return v && strcasecmp(v, "n") && strcasecmp(v, "no") && strcmp(v, "0") &&
           strcasecmp(v, "false");
}

/* allow_nets=a/n,b/m: is the client's address in one of them? */
static int allowed_net(const struct auth_req *r, const char *nets)
{
    struct net_addr a;
    if (!r->rip || net_addr_parse(r->rip, &a, 1) < 0)
        return 0;
    size_t n;
    char **v = str_split_list(nets, &n);
    int ok = 0;
    for (size_t i = 0; i < n && !ok; i++) {
        struct net_pattern np;
        char why[128];
        ok = net_pattern_parse(v[i], &np, why, sizeof(why)) == 0 && net_pattern_match(&np, &a);
    }
    strv_free(v);
    return ok;
}

/* Dovecot's passdb extra fields: nologin/reason, allow_nets, nopassword. */
static void passdb_fields(struct auth_req *r, struct auth_user *u, const char *pw, size_t pwlen)
{
    const char *reason = user_field(u, "reason");
    const char *nets = user_field(u, "allow_nets");
    r->passdb_nologin = field_set(user_field(u, "nologin"));
    str_copy(r->passdb_reason, reason ? reason : "", sizeof(r->passdb_reason));
    if (nets && !allowed_net(r, nets)) {
        free(u->password);   /* never succeeds: costs what a mismatch costs */
        u->password = NULL;
        str_copy(r->fail_reason, "client address not in allow_nets", sizeof(r->fail_reason));
        return;
    }
    if (field_set(user_field(u, "nopassword")) && !u->password) {
        struct buf b;
        buf_init(&b, 16384);
        buf_printf(&b, "{PLAIN.B64}");
        base64_encode(&b, pw, pwlen);
        u->password = xstrdup(buf_cstr(&b));
        OPENSSL_cleanse(b.data, b.cap);
        buf_free(&b);
    }
}

static void verify_password(struct auth_req *r)
{
    struct auth_server *s = r->conn->srv;
    struct auth_user u;
    int rc = req_lookup_pass(r, &u, verify_password);
    if (rc < 0)
        return;
    struct hash_job *j = req_job(r, HASH_VERIFY);
    size_t pwlen;
    const char *pw = auth_mech_password(r->mech, &pwlen);
    auth_hash_job_set_password(j, pw, pwlen);
    j->default_scheme = xstrdup(s->set.default_scheme);
    if (rc == AUTHDB_FOUND)
        passdb_fields(r, &u, pw, pwlen);
    if (rc == AUTHDB_FOUND && u.password) {
        j->stored = xstrdup(u.password);
        str_copy(r->fail_reason, "password mismatch", sizeof(r->fail_reason));
    } else {
        j->stored = dummy_stored(s);
        r->no_password = 1;
        str_copy(r->fail_reason, rc == AUTHDB_FOUND ? "user has no password" : "unknown user",
                 sizeof(r->fail_reason));
    }
    auth_user_free(&u);
    auth_hashpool_submit(s->pool, j);
}

static void cram_lookup(struct auth_req *r)
{
    struct auth_server *s = r->conn->srv;
    struct auth_user u;
    int rc = req_lookup_pass(r, &u, cram_lookup);
    if (rc < 0)
        return;
    unsigned char ctx[CRAM_CTX_LEN];
    int have = rc == AUTHDB_FOUND && u.password &&
               auth_scheme_get_cram_md5(u.password, s->set.default_scheme, ctx) == 1;
    auth_user_free(&u);
    enum mech_result res = auth_mech_cram_check(r->mech, have ? ctx : NULL);
    OPENSSL_cleanse(ctx, sizeof(ctx));
    if (res != MECH_SUCCESS)
        str_copy(r->fail_reason,
                 rc != AUTHDB_FOUND ? "unknown user"
                 : have            ? "password mismatch"
                                   : "no CRAM-MD5 credentials for the user",
                 sizeof(r->fail_reason));
    req_result(r, res, NULL);
}

static void scram_lookup(struct auth_req *r)
{
    struct auth_server *s = r->conn->srv;
    struct auth_user u;
    int rc = req_lookup_pass(r, &u, scram_lookup);
    if (rc < 0)
        return;
    /*
     * Every path runs one PBKDF2 in the pool: a user with stored SCRAM
     * secrets, one with a plaintext password, and an unknown user all
     * answer after the same work.
     */
    struct hash_job *j = req_job(r, HASH_SCRAM);
    j->iterations = SCRAM_ITER_MIN;
    j->saltlen = 16;
    auth_mech_scram_salt(s->plain_salt_key, sizeof(s->plain_salt_key), r->user, j->salt);
    struct buf plain;
    buf_init(&plain, 4096);
    r->have_secret = 0;
    if (rc == AUTHDB_FOUND && u.password &&
        auth_scheme_get_scram(u.password, s->set.default_scheme, &r->secret) == 1) {
        r->have_secret = 1;   /* stored: the job's result is only ballast */
        auth_hash_job_set_password(j, "x", 1);
        str_copy(r->fail_reason, "password mismatch", sizeof(r->fail_reason));
    } else if (rc == AUTHDB_FOUND && u.password &&
               auth_scheme_get_plaintext(u.password, s->set.default_scheme, &plain) == 1) {
        r->have_secret = 2;   /* derive from the plaintext */
        auth_hash_job_set_password(j, plain.data ? plain.data : "", plain.len);
        str_copy(r->fail_reason, "password mismatch", sizeof(r->fail_reason));
    } else {
        unsigned char rnd[16];
        RAND_bytes(rnd, sizeof(rnd));
        auth_hash_job_set_password(j, (const char *)rnd, sizeof(rnd));
        str_copy(r->fail_reason,
                 rc == AUTHDB_FOUND ? "no SCRAM credentials for the user" : "unknown user",
                 sizeof(r->fail_reason));
    }
    if (plain.data)
        OPENSSL_cleanse(plain.data, plain.cap);
    buf_free(&plain);
    auth_user_free(&u);
    auth_hashpool_submit(s->pool, j);
}

static void hash_done(struct hash_job *j)
{
    struct auth_req *r = j->arg;
    if (!r) {   /* the request went away */
        auth_hash_job_free(j);
        return;
    }
    r->job = NULL;
    struct auth_server *s = r->conn->srv;
    if (j->kind == HASH_VERIFY) {
        int unknown = r->no_password;
        int result = j->result;
        if (result == SCHEME_ERROR && !unknown) {
            char user[160];
            msg_warn("user %s: bad stored password: %s", user_for_log(r, user, sizeof(user)),
                     j->err);
            str_copy(r->fail_reason, "stored password is unusable", sizeof(r->fail_reason));
        }
        auth_hash_job_free(j);
        if (!unknown && result == SCHEME_MATCH && r->passdb_nologin)
            req_fail_now(r, "passdb: nologin",
                         r->passdb_reason[0] ? r->passdb_reason : "Login disabled", 0);
        else if (!unknown && result == SCHEME_MATCH)
            req_success(r);
        else
            req_fail_auth(r, r->fail_reason);
        return;
    }
    /* HASH_SCRAM */
    struct buf out;
    buf_init(&out, AUTHPROTO_LINE_MAX);
    const struct scram_secret *sec = NULL;
    if (r->have_secret == 1)
        sec = &r->secret;
    else if (r->have_secret == 2)
        sec = &j->secret;
    enum mech_result res =
        auth_mech_scram_first(r->mech, sec, s->salt_key, sizeof(s->salt_key), &out);
    auth_hash_job_free(j);
    req_result(r, res, &out);
    buf_free(&out);
}

/* The client took too long to continue: tell it, and forget the request. */
static void client_wait_expired(void *arg)
{
    struct auth_req *r = arg;
    r->timer = NULL;
    const char *f[1] = {"reason=Authentication request timed out"};
    reply(r, "FAIL", f, 1);
    req_done(r);
}

/* Send a challenge ("CONT\tid\t<base64>") and wait, for a while, for the client's answer. */
static void req_challenge(struct auth_req *r, struct buf *out)
{
    if (r->cancelled) {   /* a SCRAM step finished after CANCEL */
        req_done(r);
        return;
    }
    struct buf b;
    buf_init(&b, AUTHPROTO_LINE_MAX);
    if (out)
        base64_encode(&b, out->data ? out->data : "", out->len);
    r->state = REQ_CLIENT;
    /* An empty challenge is still a field: "CONT\tid\t". */
    struct buf line;
    buf_init(&line, AUTHPROTO_LINE_MAX);
    buf_printf(&line, "CONT\t%u\t%s", r->id, b.data ? b.data : "");
    ac_send(r->conn, line.data, line.len);
    buf_free(&line);
    buf_free(&b);
    struct auth_server *s = r->conn->srv;
    uint64_t wait = s->set.client_wait_ms > 0 ? (uint64_t)s->set.client_wait_ms : CLIENT_WAIT_MS;
    r->timer = ev_timer_add(s->loop, wait, client_wait_expired, r);
}

/* Act on what a mechanism step asked for. */
static void req_result(struct auth_req *r, enum mech_result res, struct buf *out)
{
    switch (res) {
    case MECH_CONTINUE:
        req_challenge(r, out);
        return;
    case MECH_VERIFY:
        verify_password(r);
        return;
    case MECH_NEED_CRAM:
        cram_lookup(r);
        return;
    case MECH_NEED_SCRAM:
        scram_lookup(r);
        return;
    case MECH_SUCCESS:
        if (!r->user[0] && req_set_user(r) < 0)
            return;
        req_success(r);
        return;
    case MECH_FAIL:
        if (auth_mech_failed_protocol(r->mech)) {
            req_fail_now(r, auth_mech_error(r->mech), NULL, 0);
            return;
        }
        if (!r->user[0] && auth_mech_user(r->mech))
            auth_username_normalize(&r->conn->srv->set, auth_mech_user(r->mech), r->user,
                                    sizeof(r->user));
        req_fail_auth(r, r->fail_reason[0] ? r->fail_reason : auth_mech_error(r->mech));
        return;
    }
}

static void req_begin(struct auth_req *r)
{
    r->started = mono_msec();
    struct buf out;
    buf_init(&out, AUTHPROTO_LINE_MAX);
    enum mech_result res = auth_mech_step(r->mech, r->has_initial ? r->initial : NULL,
                                     r->initial_len, &out);
    if (r->initial) {
        OPENSSL_cleanse(r->initial, r->initial_len);
        free(r->initial);
        r->initial = NULL;
        r->initial_len = 0;
    }
    req_result(r, res, &out);
    buf_free(&out);
}

static void penalty_wait_done(void *arg)
{
    struct auth_req *r = arg;
    r->timer = NULL;
    req_begin(r);
}

/* ------------------------------------------------------------------ */
/* client protocol                                                     */

static int parse_id(const char *s, unsigned *id)
{
    if (!*s || strlen(s) > 10)
        return -1;
    unsigned long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 0xffffffffULL)
        return -1;
    *id = (unsigned)v;
    return 0;
}

/* Decode base64 SASL data into a new buffer; -1 if invalid or too long. */
static int decode_resp(const char *b64, unsigned char **out, size_t *outlen)
{
    struct buf b;
    buf_init(&b, RESPONSE_MAX + 4);
    if (base64_decode(b64, strlen(b64), &b) < 0) {
        if (b.data)
            OPENSSL_cleanse(b.data, b.cap);
        buf_free(&b);
        return -1;
    }
    *outlen = b.len;
    *out = (unsigned char *)(b.data ? b.data : xstrdup(""));
    return 0;
}

static int plaintext_refused(struct auth_req *r)
{
    struct auth_server *s = r->conn->srv;
    if (!s->set.disable_plaintext || !r->info->plaintext || r->secured)
        return 0;
    /* Like Dovecot: a connection from the host itself counts as secured. */
    if (r->rip && r->lip && *r->rip && strcmp(r->rip, r->lip) == 0)
        return 0;
    return 1;
}

/* Requests on c from the same client address (IPv6: the same /64) as rip. */
static size_t rip_requests(const struct auth_conn *c, const char *rip)
{
    char key[IP_KEY_MAX], other[IP_KEY_MAX];
    ip_limit_key(rip, key, sizeof(key));
    size_t n = 0;
    for (const struct auth_req *q = c->reqs; q; q = q->next) {
        if (!q->rip || !*q->rip)
            continue;
        ip_limit_key(q->rip, other, sizeof(other));
        n += strcmp(key, other) == 0;
    }
    return n;
}

static int handle_auth(struct auth_conn *c, char **f, int n)
{
    struct auth_server *s = c->srv;
    unsigned id;
    if (n < 3 || parse_id(f[1], &id) < 0) {
        msg_warn("auth client sent a malformed AUTH command; disconnecting");
        return -1;
    }
    if (req_find(c, id)) {
        msg_warn("auth client reused request id %u; disconnecting", id);
        return -1;
    }
    struct auth_req *r = xcalloc(1, sizeof(*r));
    table_wait_init(&r->tw, req_table_woken, r);
    r->conn = c;
    r->id = id;
    const char *service = authproto_param(f, n, 3, "service");
    const char *rip = authproto_param(f, n, 3, "rip");
    const char *lip = authproto_param(f, n, 3, "lip");
    r->service = xstrdup(service && *service ? service : "unknown");
    r->rip = rip ? xstrdup(rip) : NULL;
    r->lip = lip ? xstrdup(lip) : NULL;
    r->secured = authproto_param(f, n, 3, "secured") != NULL;
    r->no_penalty = authproto_param(f, n, 3, "no-penalty") != NULL;
    r->nologin = authproto_param(f, n, 3, "nologin") != NULL;
    r->info = auth_mech_find(f[2]);
    r->next = c->reqs;
    c->reqs = r;
    c->nreqs++;
    if (!r->info || !s->mech_enabled[r->info->id]) {
        static const struct auth_mech_info unknown = {MECH_PLAIN, "?", "", 0, 0};
        r->info = &unknown;
        req_fail_now(r, "unsupported mechanism", "Unsupported authentication mechanism", 0);
        return 0;
    }
    if (!service || !*service) {
        req_fail_now(r, "no service", "Missing service", 0);
        return 0;
    }
    if (c->nreqs > CONN_REQUESTS_MAX) {
        req_fail_now(r, "too many requests on one connection", "Too many requests", 1);
        return 0;
    }
    if (r->rip && *r->rip && rip_requests(c, r->rip) > RIP_REQUESTS_MAX) {
        req_fail_now(r, "too many requests from this address", "Too many requests", 1);
        return 0;
    }
    if (s->shutting_down) {
        req_fail_now(r, "shutting down", "Authentication service is restarting", 1);
        return 0;
    }
    if (plaintext_refused(r)) {
        req_fail_now(r, "plaintext authentication disallowed",
                     "Plaintext authentication disallowed on non-secure (SSL/TLS) connections.",
                     0);
        return 0;
    }
    const char *resp = authproto_param(f, n, 3, "resp");
    if (resp && *resp) {
        if (decode_resp(resp, &r->initial, &r->initial_len) < 0) {
            req_fail_now(r, "invalid base64 data in initial response",
                         "Invalid base64 data in initial response", 0);
            return 0;
        }
        r->has_initial = 1;
    }
    r->mech = auth_mech_new(r->info->id, s->set.hostname);

    /* Penalty: attempts from an IP with recent failures start spaced out. */
    uint64_t now = mono_msec();
    if (r->rip && *r->rip && !r->no_penalty && s->set.penalty_limit_ms > 0) {
        char key[sizeof(((struct penalty *)0)->key)];
        ip_limit_key(r->rip, key, sizeof(key));
        struct penalty *e = penalty_find(&s->penalties, key, 0, now);
        if (e && now - e->last_failure <= PENALTY_FORGET_MS && e->failures > 0) {
            uint64_t p = penalty_ms(s, e->failures);
            uint64_t start = now + p;
            if (e->next_slot > start)
                start = e->next_slot;
            if (start - now > 4 * (uint64_t)s->set.penalty_limit_ms + 60000) {
                req_fail_now(r, "too many parallel attempts from this address", NULL, 0);
                return 0;
            }
            e->next_slot = start + p;
            r->state = REQ_PENALTY;
            r->timer = ev_timer_add(s->loop, start - now, penalty_wait_done, r);
            return 0;
        }
    }
    req_begin(r);
    return 0;
}

static int handle_cont(struct auth_conn *c, char **f, int n)
{
    unsigned id;
    if (n < 2 || parse_id(f[1], &id) < 0) {
        msg_warn("auth client sent a malformed CONT command; disconnecting");
        return -1;
    }
    struct auth_req *r = req_find(c, id);
    if (!r) {
        /* It may have timed out or been answered: tell the client, keep the connection. */
        struct buf b;
        buf_init(&b, 64);
        buf_printf(&b, "FAIL\t%u\treason=Authentication request timed out", id);
        ac_send(c, b.data, b.len);
        buf_free(&b);
        return 0;
    }
    if (r->state != REQ_CLIENT) {
        msg_warn("auth client sent CONT for request %u while it was being processed; "
                 "disconnecting", id);
        return -1;
    }
    if (r->timer) {
        ev_timer_cancel(c->srv->loop, r->timer);
        r->timer = NULL;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    if (n >= 3 && *f[2] && decode_resp(f[2], &data, &len) < 0) {
        req_fail_now(r, "invalid base64 data in continued response",
                     "Invalid base64 data in continued response", 0);
        return 0;
    }
    /* The failure delay runs from the client's last message, when the credentials are complete. */
    r->started = mono_msec();
    struct buf out;
    buf_init(&out, AUTHPROTO_LINE_MAX);
    enum mech_result res = auth_mech_step(r->mech, data ? data : (const unsigned char *)"", len, &out);
    if (data) {
        OPENSSL_cleanse(data, len);
        free(data);
    }
    req_result(r, res, &out);
    buf_free(&out);
    return 0;
}

/*
 * CANCEL: the client gave up on a request (its SMTP client answered "*" or
 * went away); forget it without a reply, in whatever state it is. A running
 * hash job cannot be stopped: such a request stays (and counts against the
 * connection) until the job ends, its result still counts for the
 * penalty, and nothing is sent for it.
 */
static void handle_cancel(struct auth_conn *c, char **f, int n)
{
    unsigned id;
    struct auth_req *r = n > 1 && parse_id(f[1], &id) == 0 ? req_find(c, id) : NULL;
    if (!r || r->cancelled)
        return;
    if (r->state == REQ_BUSY) {
        r->cancelled = 1;
        return;
    }
    req_done(r);
}

static int handle_client_line(struct auth_conn *c, char *line)
{
    char *f[AUTHPROTO_FIELDS_MAX];
    int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
    if (n < 1) {
        msg_warn("auth client sent a malformed line; disconnecting");
        return -1;
    }
    if (strcmp(f[0], "VERSION") == 0) {
        if (n < 3 || strcmp(f[1], "1") != 0) {
            msg_warn("auth client speaks protocol version %s, not 1; disconnecting",
                     n > 1 ? f[1] : "?");
            return -1;
        }
        c->got_version = 1;
        return 0;
    }
    if (!c->got_version) {
        msg_warn("auth client did not start with VERSION; disconnecting");
        return -1;
    }
    if (strcmp(f[0], "CPID") == 0) {
        c->cpid = n > 1 ? strtoul(f[1], NULL, 10) : 0;
        return 0;
    }
    if (strcmp(f[0], "AUTH") == 0)
        return handle_auth(c, f, n);
    if (strcmp(f[0], "CONT") == 0)
        return handle_cont(c, f, n);
    if (strcmp(f[0], "CANCEL") == 0) {
        handle_cancel(c, f, n);
        return 0;
    }
    char safe[32];
    log_safe(f[0], safe, sizeof(safe));
    msg_warn("auth client sent unknown command \"%s\"; disconnecting", safe);
    return -1;
}

/* ------------------------------------------------------------------ */
/* userdb ("auth-master") protocol                                     */

static int numeric_id(const char *v, int is_group, char *out, size_t outlen)
{
    if (!v)
        return 0;
    if (isdigit((unsigned char)v[0])) {
        for (const char *p = v; *p; p++)
            if (!isdigit((unsigned char)*p))
                return -1;
        str_copy(out, v, outlen);
        return 1;
    }
    char buf[4096];
    if (is_group) {
        struct group gr, *res = NULL;
        if (getgrnam_r(v, &gr, buf, sizeof(buf), &res) != 0 || !res)
            return -1;
        snprintf(out, outlen, "%lu", (unsigned long)res->gr_gid);
    } else {
        struct passwd pw, *res = NULL;
        if (getpwnam_r(v, &pw, buf, sizeof(buf), &res) != 0 || !res)
            return -1;
        snprintf(out, outlen, "%lu", (unsigned long)res->pw_uid);
    }
    return 1;
}

static void master_reply(struct auth_conn *c, const char *cmd, unsigned id, const char *user,
                         char *const *fields)
{
    struct buf b;
    buf_init(&b, AUTHPROTO_LINE_MAX);
    buf_printf(&b, "%s\t%u", cmd, id);
    if (user) {
        buf_putc(&b, '\t');
        authproto_escape(&b, user, strlen(user));
    }
    for (size_t i = 0; fields && fields[i]; i++) {
        buf_putc(&b, '\t');
        authproto_escape(&b, fields[i], strlen(fields[i]));
    }
    if (b.len >= AUTHPROTO_LINE_MAX - 1) {
        buf_reset(&b);
        buf_printf(&b, "FAIL\t%u\treason=userdb reply too long", id);
    }
    ac_send(c, b.data, b.len);
    buf_free(&b);
}

static void master_user(struct auth_conn *c, unsigned id, const char *name)
{
    struct auth_server *s = c->srv;
    char user[USER_MAX], safe[160];
    if (auth_username_normalize(&s->set, name, user, sizeof(user)) < 0) {
        master_reply(c, "NOTFOUND", id, NULL, NULL);
        return;
    }
    struct auth_user u;
    int rc = auth_db_lookup_user(s->userdb, user, &u);
    if (rc == AUTHDB_NOTFOUND) {
        master_reply(c, "NOTFOUND", id, NULL, NULL);
        return;
    }
    if (rc == AUTHDB_TEMPFAIL) {
        char *f[] = {"reason=userdb lookup failed temporarily", NULL};
        master_reply(c, "FAIL", id, NULL, f);
        return;
    }
    char uid[32] = "", gid[32] = "";
    if (numeric_id(u.uid, 0, uid, sizeof(uid)) < 0 || numeric_id(u.gid, 1, gid, sizeof(gid)) < 0) {
        log_safe(user, safe, sizeof(safe));
        msg_warn("userdb: user %s: unknown uid or gid", safe);
        char *f[] = {"reason=invalid uid or gid", NULL};
        master_reply(c, "FAIL", id, NULL, f);
        auth_user_free(&u);
        return;
    }
    size_t nf = strv_len(u.fields);
    char **fields = xcalloc(nf + 4, sizeof(char *));
    size_t k = 0;
    if (uid[0])
        fields[k++] = xasprintf("uid=%s", uid);
    if (gid[0])
        fields[k++] = xasprintf("gid=%s", gid);
    if (u.home)
        fields[k++] = xasprintf("home=%s", u.home);
    for (size_t i = 0; i < nf; i++)
        fields[k++] = xstrdup(u.fields[i]);
    master_reply(c, "USER", id, u.user, fields);
    strv_free(fields);
    auth_user_free(&u);
}

/* Equal strings, in time that does not depend on where they differ. */
static int cookie_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb || la == 0)
        return 0;
    return CRYPTO_memcmp(a, b, la) == 0;
}

/*
 * REQUEST <id> <client-pid> <client-request-id> <cookie>: who logged in
 * with that request on the client connection with that CPID and cookie.
 * Answered once (USER with the userdb fields, or NOTFOUND when the userdb
 * does not know the user); then, or after LOGIN_KEEP_MS, FAIL. Logins
 * whose AUTH said "nologin" (yubin's smtpd does: it never asks) are not
 * kept.
 */
static void master_request(struct auth_conn *c, unsigned id, char **f, int n)
{
    struct auth_server *s = c->srv;
    unsigned long cpid;
    unsigned rid;
    char *end;
    if (n < 5 || parse_id(f[3], &rid) < 0) {
        char *fl[] = {"reason=malformed REQUEST", NULL};
        master_reply(c, "FAIL", id, NULL, fl);
        return;
    }
    errno = 0;
    cpid = strtoul(f[2], &end, 10);
    logins_expire(s, mono_msec(), LOGINS_MAX);
    struct auth_login **pp = &s->logins, *l = NULL;
    if (!errno && !*end)
        for (; *pp; pp = &(*pp)->next)
            if ((*pp)->cpid == cpid && (*pp)->id == rid) {
                l = *pp;
                break;
            }
    if (!l) {
        /* Dovecot: an unknown (or expired, or already answered) request is a FAIL */
        char *fl[] = {"reason=unknown or expired login request", NULL};
        master_reply(c, "FAIL", id, NULL, fl);
        return;
    }
    if (!cookie_eq(l->cookie, f[4])) {
        msg_warn("auth master REQUEST for client pid %lu request %u: wrong cookie", cpid, rid);
        char *fl[] = {"reason=invalid cookie", NULL};
        master_reply(c, "FAIL", id, NULL, fl);
        return;
    }
    *pp = l->next;
    if (s->logins_tail == &l->next)
        s->logins_tail = pp;
    s->nlogins--;
    char user[USER_MAX];
    str_copy(user, l->user, sizeof(user));
    OPENSSL_cleanse(l, sizeof(*l));
    free(l);
    master_user(c, id, user);
}

static int handle_master_line(struct auth_conn *c, char *line)
{
    char *f[AUTHPROTO_FIELDS_MAX];
    int n = authproto_split(line, f, AUTHPROTO_FIELDS_MAX);
    if (n < 1)
        return -1;
    if (strcmp(f[0], "VERSION") == 0) {
        if (n < 2 || strcmp(f[1], "1") != 0)
            return -1;
        c->got_version = 1;
        return 0;
    }
    if (!c->got_version)
        return -1;
    unsigned id;
    if (n < 2 || parse_id(f[1], &id) < 0)
        return -1;
    if (strcmp(f[0], "USER") == 0 && n >= 3) {
        master_user(c, id, f[2]);
        return 0;
    }
    if (strcmp(f[0], "REQUEST") == 0) {
        master_request(c, id, f, n);
        return 0;
    }
    if (strcmp(f[0], "PASS") == 0 || strcmp(f[0], "LIST") == 0) {
        char *fl[] = {"reason=not supported by yubin", NULL};
        master_reply(c, "FAIL", id, NULL, fl);
        return 0;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

/* The server's greeting: VERSION, MECHs, SPID, CUID, COOKIE, DONE (userdb: VERSION, SPID). */
static void ac_greet(struct auth_conn *c)
{
    struct auth_server *s = c->srv;
    struct buf b;
    buf_init(&b, 0);
    if (c->master) {
        buf_printf(&b, "VERSION\t%d\t%d\nSPID\t%ld", AUTHPROTO_MAJOR, AUTHPROTO_MASTER_MINOR,
                   (long)getpid());
        ac_send(c, b.data, b.len);
        buf_free(&b);
        return;
    }
    buf_printf(&b, "VERSION\t%d\t%d\n", AUTHPROTO_MAJOR, AUTHPROTO_MINOR);
    int caps = auth_db_capabilities(s->passdb);
    for (int i = 0; i < MECH_COUNT; i++) {
        const struct auth_mech_info *m = auth_mech_info((enum mech_id)i);
        if (!s->mech_enabled[i] || (m->need_caps && !(caps & m->need_caps)))
            continue;
        buf_printf(&b, "MECH\t%s\t%s\n", m->name, m->props);
    }
    unsigned char cookie[16];
    RAND_bytes(cookie, sizeof(cookie));
    for (size_t i = 0; i < sizeof(cookie); i++)
        snprintf(c->cookie + 2 * i, 3, "%02x", cookie[i]);
    buf_printf(&b, "SPID\t%ld\nCUID\t%u\nCOOKIE\t%s", (long)getpid(), ++s->next_cuid,
               c->cookie);
    buf_puts(&b, "\nDONE");
    ac_send(c, b.data, b.len);
    buf_free(&b);
}

/* One line: CR removed, dispatched by protocol; a NUL in it is "binary". */
static void ac_line(struct auth_conn *c, char *line, size_t len)
{
    if (memchr(line, '\0', len)) {
        msg_warn("auth client sent an overlong or binary line; disconnecting");
        c->closing = 1;
        return;
    }
    if (len > 0 && line[len - 1] == '\r')
        line[len - 1] = '\0';
    int rc = c->master ? handle_master_line(c, line) : handle_client_line(c, line);
    if (rc < 0)
        c->closing = 1;
}

/* The connection read (one read per wakeup) or became writable. */
static void ac_ready(struct conn *io, void *arg)
{
    struct auth_conn *c = arg;
    c->in_io = 1;
    if (conn_out_len(io) > 0 && conn_flush(io) < 0)
        c->closing = 1;
    char *line;
    size_t len;
    enum conn_line_result r = CONN_NEED;
    while (!c->closing && (r = conn_line(io, &line, &len)) == CONN_LINE)
        ac_line(c, line, len);
    if (!c->closing && r == CONN_LONG) {
        msg_warn("auth client sent an overlong or binary line; disconnecting");
        c->closing = 1;
    }
    c->in_io = 0;
    if (c->closing)
        ac_close(c);
    else
        conn_update(io);
}

static void ac_lost(struct conn *io, void *arg)
{
    (void)io;
    struct auth_conn *c = arg;
    c->closing = 1;
    if (!c->in_io)
        ac_close(c);
}

static const struct conn_cb ac_cb = {.ready = ac_ready, .lost = ac_lost};

static void ac_close(struct auth_conn *c)
{
    struct auth_server *s = c->srv;
    if (c->close_timer)
        ev_timer_cancel(s->loop, c->close_timer);
    (void)conn_flush(c->io);   /* what the socket takes now; the rest is lost */
    while (c->reqs) {
        struct auth_req *r = c->reqs;
        c->reqs = r->next;
        req_free(r);
    }
    conn_free(c->io);
    for (struct auth_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    free(c);
}

void auth_server_add_conn(struct auth_server *s, int fd, int master)
{
    fd_set_nonblock(fd, 1);
    fd_set_cloexec(fd, 1);
    struct auth_conn *c = xcalloc(1, sizeof(*c));
    c->srv = s;
    c->master = master;
    /* A line of AUTHPROTO_LINE_MAX bytes or more (LF included) is overlong;
     * the CR is removed by ac_line, so it counts, as it always did. */
    c->io = conn_new(fd, AUTHPROTO_LINE_MAX + 4096, CONN_OUT_MAX);
    conn_set_lines(c->io, AUTHPROTO_LINE_MAX - 1, 0);
    /* Keep reading a client that does not read its replies until its queue
     * overflows: it is then disconnected (ac_send), as before. */
    conn_set_highwater(c->io, CONN_OUT_MAX);
    conn_attach(c->io, s->loop, &ac_cb, c);
    c->next = s->conns;
    s->conns = c;
    ac_greet(c);
    if (c->closing)
        ac_close(c);
    else
        conn_update(c->io);
}

static void on_accept(int fd, int events, void *arg)
{
    (void)events;
    struct listener *l = arg;
    for (int i = 0; i < 64; i++) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED)
                msg_warn("accept: %s", strerror(errno));
            return;
        }
        auth_server_add_conn(l->srv, c, l->master);
    }
}

void auth_server_listen(struct auth_server *s, int fd, int master)
{
    if (s->nlisteners >= ARRAY_LEN(s->listeners))
        msg_fatal("auth: too many listening sockets");
    struct listener *l = &s->listeners[s->nlisteners++];
    l->srv = s;
    l->fd = fd;
    l->master = master;
    fd_set_nonblock(fd, 1);
    if (ev_fd_add(s->loop, fd, EV_READ, on_accept, l) < 0)
        msg_fatal("auth: cannot watch listening socket: %s", strerror(errno));
}

/* Forget old penalty entries. */
static void sweep(void *arg)
{
    struct auth_server *s = arg;
    s->sweep = NULL;
    penalty_sweep(&s->penalties, mono_msec(), PENALTY_FORGET_MS);
    logins_expire(s, mono_msec(), LOGINS_MAX);
    s->sweep = ev_timer_add(s->loop, SWEEP_MS, sweep, s);
}

static int parse_mechanisms(struct auth_server *s, const char *list, char *err, size_t errlen)
{
    size_t n;
    char **v = str_split_list(list ? list : "", &n);
    for (size_t i = 0; i < n; i++) {
        const struct auth_mech_info *m = auth_mech_find(v[i]);
        if (!m) {
            snprintf(err, errlen, "auth_mechanisms: unsupported mechanism \"%s\"", v[i]);
            strv_free(v);
            return -1;
        }
        s->mech_enabled[m->id] = 1;
    }
    strv_free(v);
    return 0;
}

struct auth_server *auth_server_new(const struct auth_settings *set, const struct config *cfg,
                                    struct evloop *loop, char *err, size_t errlen)
{
    struct auth_server *s = xcalloc(1, sizeof(*s));
    s->logins_tail = &s->logins;
    s->loop = loop;
    s->set = *set;
    /* Own the strings: settings may point into a configuration that goes away. */
    const char **fields[] = {&s->set.passdb, &s->set.userdb, &s->set.default_scheme,
                             &s->set.mechanisms, &s->set.username_format,
                             &s->set.username_chars, &s->set.default_realm, &s->set.hostname};
    for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
        s->set_strings[i] = xstrdup(*fields[i] ? *fields[i] : "");
        *fields[i] = s->set_strings[i];
    }
    if (!*s->set.default_scheme)
        s->set.default_scheme = "CRYPT";
    if (parse_mechanisms(s, s->set.mechanisms, err, errlen) < 0)
        goto fail;
    char e[256];
    s->passdb = auth_db_open(s->set.passdb, cfg, s->set.default_scheme, e, sizeof(e));
    if (!s->passdb) {
        snprintf(err, errlen, "auth_passdb: %s", e);
        goto fail;
    }
    /* The same sources serve both (the default): share them, read files once. */
    s->userdb = strcmp(s->set.userdb, s->set.passdb) == 0
                    ? s->passdb
                    : auth_db_open(s->set.userdb, cfg, s->set.default_scheme, e, sizeof(e));
    if (!s->userdb) {
        snprintf(err, errlen, "auth_userdb: %s", e);
        goto fail;
    }
    if (auth_db_count(s->passdb) == 0)
        msg_warn("auth_passdb is empty: every authentication will fail");
    RAND_bytes(s->salt_key, sizeof(s->salt_key));
    RAND_bytes(s->plain_salt_key, sizeof(s->plain_salt_key));
    unsigned char rnd[16];
    RAND_bytes(rnd, sizeof(rnd));
    char gen_err[128];
    s->dummy = auth_scheme_generate("SHA512-CRYPT", (const char *)rnd, sizeof(rnd) - 1, 0, gen_err,
                               sizeof(gen_err));
    if (!s->dummy) {
        /* A NUL in the random bytes: use a printable password instead. */
        s->dummy = auth_scheme_generate("SHA512-CRYPT", "yubin-dummy-password", 20, 0, gen_err,
                                   sizeof(gen_err));
    }
    s->pool = auth_hashpool_new(loop, set->threads);
    s->sweep = ev_timer_add(loop, SWEEP_MS, sweep, s);
    return s;
fail:
    auth_server_free(s);
    return NULL;
}

size_t auth_server_requests(const struct auth_server *s)
{
    size_t n = 0;
    for (const struct auth_conn *c = s->conns; c; c = c->next)
        n += c->nreqs;
    return n;
}

size_t auth_server_busy(const struct auth_server *s)
{
    size_t n = 0;
    for (struct auth_conn *c = s->conns; c; c = c->next)
        for (struct auth_req *r = c->reqs; r; r = r->next)
            if (r->state != REQ_CLIENT)
                n++;
    return n;
}

size_t auth_server_shutdown(struct auth_server *s)
{
    s->shutting_down = 1;
    /* Answer what only waits for a timer now, so the process can leave soon. */
    for (struct auth_conn *c = s->conns; c; c = c->next) {
        struct auth_req *r = c->reqs;
        while (r) {
            struct auth_req *next = r->next;
            if (r->state == REQ_DELAY || r->state == REQ_PENALTY) {
                ev_timer_cancel(s->loop, r->timer);
                r->timer = NULL;
                if (r->state == REQ_DELAY)
                    delayed_fail(r);
                else
                    req_fail_now(r, "shutting down", "Authentication service is restarting", 1);
            }
            r = next;
        }
    }
    for (size_t i = 0; i < s->nlisteners; i++) {
        if (s->listeners[i].fd >= 0) {
            ev_fd_del(s->loop, s->listeners[i].fd);
            close(s->listeners[i].fd);
            s->listeners[i].fd = -1;
        }
    }
    return auth_server_busy(s);
}

void auth_server_free(struct auth_server *s)
{
    if (!s)
        return;
    while (s->conns)
        ac_close(s->conns);
    for (size_t i = 0; i < s->nlisteners; i++)
        if (s->listeners[i].fd >= 0) {
            ev_fd_del(s->loop, s->listeners[i].fd);
            close(s->listeners[i].fd);
        }
    if (s->sweep)
        ev_timer_cancel(s->loop, s->sweep);
    auth_hashpool_free(s->pool);
    if (s->userdb != s->passdb)
        auth_db_close(s->userdb);
    auth_db_close(s->passdb);
    penalty_free_all(&s->penalties);
    logins_expire(s, UINT64_MAX, 0);
    free(s->dummy);
    for (size_t i = 0; i < ARRAY_LEN(s->set_strings); i++)
        free(s->set_strings[i]);
    OPENSSL_cleanse(s->salt_key, sizeof(s->salt_key));
    OPENSSL_cleanse(s->plain_salt_key, sizeof(s->plain_salt_key));
    free(s);
}

/* ------------------------------------------------------------------ */
/* the master.cf role                                                  */

struct auth_main_state {
    struct evloop *loop;
    struct auth_server *srv;
    struct ev_timer *grace;
    uint64_t stop_started;
    int stopping;
};

#define DRAIN_MAX_MS 10000

/* After SIGTERM: leave when no request is being worked on (hashing), or after DRAIN_MAX_MS. */
static void check_drained(void *arg)
{
    struct auth_main_state *st = arg;
    st->grace = NULL;
    if (auth_server_busy(st->srv) == 0 || mono_msec() - st->stop_started > DRAIN_MAX_MS) {
        ev_loop_stop(st->loop);
        return;
    }
    st->grace = ev_timer_add(st->loop, 50, check_drained, st);
}

static void on_term(int signo, void *arg)
{
    (void)signo;
    struct auth_main_state *st = arg;
    if (st->stopping)
        return;
    st->stopping = 1;
    st->stop_started = mono_msec();
    auth_server_shutdown(st->srv);
    check_drained(st);
}

/* The userdb socket: created by the auth process itself next to its own. */
static int userdb_listen(struct worker *w, char **path_out)
{
    const char *p = cfg_get(w->cfg, P_auth_userdb_socket);
    *path_out = NULL;
    if (!p || !*p)
        return -1;
    char *path = p[0] == '/' ? xstrdup(p) : xasprintf("%s/%s", w->queue_dir, p);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        msg_error("auth_userdb_socket %s: path too long", path);
        free(path);
        return -1;
    }
    str_copy(sa.sun_path, path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        free(path);
        return -1;
    }
    unlink(path);
    mode_t old = umask(0077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
        msg_error("auth_userdb_socket %s: %s", path, strerror(errno));
        close(fd);
        free(path);
        return -1;
    }
    *path_out = path;
    return fd;
}

int auth_main(struct worker *w)
{
    signal(SIGPIPE, SIG_IGN);
    struct auth_settings set;
    auth_settings_from_config(w->cfg, &set);
    struct evloop *loop = ev_loop_new();
    table_async_init(loop, w->cfg);   /* remote passdb tables never stall other logins */
    char err[512];
    struct auth_server *srv = auth_server_new(&set, w->cfg, loop, err, sizeof(err));
    if (!srv)
        msg_fatal("%s", err);
    for (size_t i = 0; i < w->nlisten; i++)
        auth_server_listen(srv, w->listen_fds[i], 0);
    char *userdb_path = NULL;
    int ufd = userdb_listen(w, &userdb_path);
    if (ufd >= 0)
        auth_server_listen(srv, ufd, 1);
    struct auth_main_state st = {.loop = loop, .srv = srv};
    ev_signal_add(loop, SIGTERM, on_term, &st);
    ev_signal_add(loop, SIGINT, on_term, &st);
    msg_info("auth service ready: %zu passdb, %zu userdb source(s)%s%s",
             auth_db_count(srv->passdb), auth_db_count(srv->userdb),
             userdb_path ? ", userdb socket " : "", userdb_path ? userdb_path : "");
    ev_loop_run(loop);
    if (st.grace)
        ev_timer_cancel(loop, st.grace);
    /* Listening sockets belong to the master (or were closed by shutdown). */
    for (size_t i = 0; i < srv->nlisteners; i++)
        srv->listeners[i].fd = -1;
    auth_server_free(srv);
    free(userdb_path);
    ev_loop_free(loop);
    return 0;
}
