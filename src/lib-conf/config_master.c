/*
 * config_master.c - master.cf: the eight columns, -o overrides, the
 * built-in default used when master.cf is missing, what yubin does with
 * each service (run it, do its job internally, or warn it is not
 * implemented) and how many processes it gets.
 */
#include "lib-conf/config_int.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MASTER_BUILTIN_LABEL "(built-in master.cf)"

/* Used when DIR/master.cf does not exist. */
static const char builtin_master_cf[] =
    "smtp      inet  n       -       y       -       -       smtpd\n"
    "pickup    unix  n       -       y       60      1       pickup\n"
    "qmgr      unix  n       -       n       300     1       qmgr\n"
    "virtual   unix  -       n       n       -       -       virtual\n"
    "local     unix  -       n       n       -       -       local\n"
    "smtp      unix  -       -       y       -       -       smtp\n"
    "relay     unix  -       -       y       -       -       smtp\n";

/* Commands yubin runs, and Postfix services whose work yubin does internally. */
static const char *const run_commands[] = {"smtpd", "pickup", "qmgr", "virtual", "local", "smtp",
                                           "lmtp", "auth", "proxymap", "pipe", "spawn", "imapd",
                                           "pop3d", "managesieved",
                                           "lmtpd", "postscreen"};
static const char *const builtin_commands[] = {
    "cleanup", "trivial-rewrite", "bounce", "defer", "trace", "verify", "flush", "proxywrite",
    "showq", "anvil", "scache", "tlsmgr", "postlog", "postlogd", "error", "retry", "discard",
    "dnsblog", "tlsproxy",   /* postscreen does its DNS itself (lib-dns) and no TLS proxying */
};

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

const char *cfg_svc_type_name(enum svc_type t)
{
    switch (t) {
    case SVC_INET: return "inet";
    case SVC_UNIX: return "unix";
    case SVC_UNIX_DGRAM: return "unix-dgram";
    case SVC_FIFO: return "fifo";
    case SVC_PASS: return "pass";
    }
    return "?";
}

enum svc_role cfg_service_role(const struct master_service *svc)
{
    if (in_list(svc->command, builtin_commands, ARRAY_LEN(builtin_commands)))
        return SVC_ROLE_BUILTIN;
    /* pass: the smtpd that postscreen hands accepted connections to (passfd.h). */
    if (svc->type == SVC_PASS && strcmp(svc->command, "smtpd") == 0)
        return SVC_ROLE_RUN;
    if (svc->type == SVC_PASS || svc->type == SVC_FIFO || svc->type == SVC_UNIX_DGRAM)
        return SVC_ROLE_UNSUPPORTED;
    if (in_list(svc->command, run_commands, ARRAY_LEN(run_commands)))
        return SVC_ROLE_RUN;
    return SVC_ROLE_UNSUPPORTED;
}

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int cfg_service_procs(const struct config *cfg, const struct master_service *svc)
{
    (void)cfg;
    if (cfg_service_role(svc) != SVC_ROLE_RUN)
        return 0;
    const char *c = svc->command;
    int maxproc = svc->maxproc;   /* 0 = no limit */
    int cap;
    if (strcmp(c, "smtpd") == 0)
        cap = online_cpus();
    else if (strcmp(c, "pickup") == 0 || strcmp(c, "qmgr") == 0)
        return 1;
    else if (strcmp(c, "postscreen") == 0)
        return 1;   /* one process owns every client's screening state, as Postfix's */
    else if (strcmp(c, "auth") == 0)
        return 1;   /* one process owns the penalty state and the passdb caches */
    else if (strcmp(c, "virtual") == 0 || strcmp(c, "local") == 0 || strcmp(c, "smtp") == 0 ||
             strcmp(c, "lmtp") == 0 || strcmp(c, "proxymap") == 0 ||
             strcmp(c, "lmtpd") == 0)
        cap = 8;
    else if (strcmp(c, "pipe") == 0 || strcmp(c, "spawn") == 0)
        cap = 4;    /* started with the system like every agent: Postfix's stock master.cf
                     * has six pipe services that most sites never use */
    else
        return 1;
    int n = (maxproc > 0 && maxproc < cap) ? maxproc : cap;
    return n > 0 ? n : 1;
}

size_t cfg_service_count(const struct config *cfg)
{
    return cfg->nsvcs;
}

const struct master_service *cfg_service(const struct config *cfg, size_t i)
{
    return i < cfg->nsvcs ? cfg->svcs[i] : NULL;
}

const struct master_service *cfg_service_find(const struct config *cfg, const char *name,
                                              enum svc_type type)
{
    for (size_t i = 0; i < cfg->nsvcs; i++)
        if (cfg->svcs[i]->type == type && strcmp(cfg->svcs[i]->name, name) == 0)
            return cfg->svcs[i];
    return NULL;
}

const struct svc_param_def *cfg_svc_param(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nsvcs; i++) {
        const char *sn = cfg->svcs[i]->name;
        size_t n = strlen(sn);
        if (strncmp(name, sn, n) != 0 || name[n] != '_')
            continue;
        for (size_t j = 0; j < cfg_svc_param_table_len; j++)
            if (strcmp(name + n + 1, cfg_svc_param_table[j].suffix) == 0)
                return &cfg_svc_param_table[j];
    }
    return NULL;
}

char *cfg_unix_socket_path(const struct config *cfg, const char *service)
{
    const struct master_service *s = cfg_service_find(cfg, service, SVC_UNIX);
    char *q = cfg_path(cfg, P_queue_directory);
    if (!q)
        return NULL;
    char *p = xasprintf("%s/%s/%s", q, !s || s->private_ ? "private" : "public", service);
    free(q);
    return p;
}

static void service_free(struct master_service *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->command);
    strv_free(s->args);
    strv_free(s->overrides);
    free(s->host);
    free(s->port);
    free(s->file);
    free(s);
}

void cfg_master_free(struct config *cfg)
{
    for (size_t i = 0; i < cfg->nsvcs; i++)
        service_free(cfg->svcs[i]);
    free(cfg->svcs);
    cfg->svcs = NULL;
    cfg->nsvcs = 0;
}

/* ------------------------------------------------------------------ */
/* columns                                                             */

struct mparse {
    const char *file;
    int line;
    struct cfg_diags *d;
    int failed;
};

static void merr(struct mparse *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void merr(struct mparse *m, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    cfg_diags_add(m->d, 1, m->file, m->line, "%s", text);
    m->failed = 1;
}

static int yes_no_col(struct mparse *m, const char *what, const char *s, int dflt, char *col)
{
    if (strcmp(s, "-") == 0) {
        *col = '-';
        return dflt;
    }
    if (strcmp(s, "y") == 0 || strcmp(s, "n") == 0) {
        *col = s[0];
        return s[0] == 'y';
    }
    merr(m, "bad %s column \"%.40s\" (expected y, n or -)", what, s);
    *col = '-';
    return dflt;
}

/* Port numbers or names from /etc/services; a few names work without that file. */
static int valid_port(const char *port)
{
    long long n;
    if (isdigit((unsigned char)port[0]))
        return cfg_parse_size(port, &n) == 0 && n > 0 && n <= 65535;
    if (getservbyname(port, "tcp"))
        return 1;
    static const char *const known[] = {"smtp", "submission", "smtps", "submissions", "lmtp"};
    return in_list(port, known, ARRAY_LEN(known));
}

/* inet service names: port, host:port, [ipv6]:port. */
static void parse_inet_name(struct mparse *m, struct master_service *s)
{
    const char *n = s->name, *port;
    if (n[0] == '[') {
        const char *close = strchr(n, ']');
        if (!close || close[1] != ':' || close == n + 1) {
            merr(m, "bad inet service name \"%.80s\" (expected [address]:port)", n);
            return;
        }
        s->host = xstrndup(n + 1, (size_t)(close - n - 1));
        port = close + 2;
    } else {
        const char *colon = strrchr(n, ':');
        if (colon && memchr(n, ':', (size_t)(colon - n))) {
            merr(m, "bad inet service name \"%.80s\" (write IPv6 addresses as [address]:port)", n);
            return;
        }
        if (colon) {
            if (colon > n)
                s->host = xstrndup(n, (size_t)(colon - n));
            port = colon + 1;
        } else {
            port = n;
        }
    }
    if (!*port || !valid_port(port)) {
        merr(m, "bad inet service name \"%.80s\": unknown port or service \"%.40s\"", n, port);
        return;
    }
    s->port = xstrdup(port);
}

static int valid_socket_name(const char *n)
{
    if (!*n || n[0] == '.' || strlen(n) > 100)
        return 0;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && !strchr("._-", *n))
            return 0;
    return 1;
}

static int parse_type(const char *s, enum svc_type *t)
{
    static const struct { const char *name; enum svc_type t; } types[] = {
        {"inet", SVC_INET}, {"unix", SVC_UNIX}, {"unix-dgram", SVC_UNIX_DGRAM},
        {"fifo", SVC_FIFO}, {"pass", SVC_PASS},
    };
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        if (strcmp(s, types[i].name) == 0) {
            *t = types[i].t;
            return 0;
        }
    return -1;
}

/* Split on whitespace; "{ ... }" (nesting allowed) is one word. */
static char **split_words(struct mparse *m, const char *s, size_t *count)
{
    size_t cap = 16, n = 0;
    char **v = xmalloc(cap * sizeof(*v));
    const char *p = s;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        if (*p == '{') {
            int depth = 0;
            for (; *p; p++) {
                if (*p == '{')
                    depth++;
                else if (*p == '}' && --depth == 0)
                    break;
            }
            if (!*p) {
                merr(m, "missing '}' in \"%.60s\"", start);
                break;
            }
            p++;
        } else {
            while (*p && !isspace((unsigned char)*p))
                p++;
        }
        if (n + 2 > cap) {
            cap *= 2;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = xstrndup(start, (size_t)(p - start));
    }
    v[n] = NULL;
    *count = n;
    return v;
}

/* "{ text }" -> "text" (Postfix 3.0 master.cf quoting). */
static char *unbrace(const char *w)
{
    size_t n = strlen(w);
    if (n >= 2 && w[0] == '{' && w[n - 1] == '}') {
        char *t = xstrndup(w + 1, n - 2);
        char *r = xstrdup(str_trim(t));
        free(t);
        return r;
    }
    return xstrdup(w);
}

static void strv_push(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/* One -o argument: "name=value" or "{ name = value }". */
static void parse_override(struct mparse *m, struct master_service *s, const char *w, char ***ov,
                           size_t *nov)
{
    int braced = w[0] == '{';
    char *t = unbrace(w);
    char *eq = strchr(t, '=');
    if (!eq) {
        merr(m, "-o %.60s: expected name=value", t);
        free(t);
        return;
    }
    *eq = '\0';
    char *name = str_trim(t), *value = eq + 1;
    if (braced)
        value = str_trim(value);
    if (!cfg_valid_name(name, strlen(name))) {
        merr(m, "-o %.60s: bad parameter name", name);
        free(t);
        return;
    }
    /* A later -o for the same name wins, like a later main.cf line. */
    size_t nl = strlen(name);
    for (size_t i = 0; i < *nov; i++)
        if (strncmp((*ov)[i], name, nl) == 0 && (*ov)[i][nl] == '=') {
            free((*ov)[i]);
            (*ov)[i] = xasprintf("%s=%s", name, value);
            free(t);
            return;
        }
    strv_push(ov, nov, xasprintf("%s=%s", name, value));
    free(t);
    (void)s;
}

static void parse_command(struct mparse *m, struct master_service *s, char **w, size_t nw)
{
    char **args = xcalloc(1, sizeof(*args)), **ov = xcalloc(1, sizeof(*ov));
    size_t nargs = 0, nov = 0;
    s->command = xstrdup(w[0]);
    size_t i = 1;
    /* Options come first (getopt); from the first other word on, all are arguments. */
    for (; i < nw; i++) {
        if (strcmp(w[i], "-o") == 0) {
            if (i + 1 >= nw) {
                merr(m, "-o at the end of the line needs name=value");
                break;
            }
            parse_override(m, s, w[++i], &ov, &nov);
        } else if (strncmp(w[i], "-o", 2) == 0) {
            parse_override(m, s, w[i] + 2, &ov, &nov);
        } else if (w[i][0] == '-' && w[i][1]) {
            strv_push(&args, &nargs, xstrdup(w[i]));
        } else {
            break;
        }
    }
    for (; i < nw; i++)
        strv_push(&args, &nargs, unbrace(w[i]));
    s->args = args;
    s->overrides = ov;
}

static struct master_service *parse_service(struct config *cfg, struct mparse *m, const char *text)
{
    size_t nw;
    char **w = split_words(m, text, &nw);
    if (m->failed) {
        strv_free(w);
        return NULL;
    }
    if (nw < 8) {
        merr(m, "expected 8 columns (service type private unpriv chroot wakeup maxproc "
                "command), found %zu", nw);
        strv_free(w);
        return NULL;
    }
    struct master_service *s = xcalloc(1, sizeof(*s));
    s->file = xstrdup(m->file);
    s->line = m->line;
    s->name = xstrdup(w[0]);
    if (parse_type(w[1], &s->type) < 0)
        merr(m, "bad service type \"%.40s\" (expected inet, unix, unix-dgram, fifo or pass)", w[1]);
    else if (s->type == SVC_INET)
        parse_inet_name(m, s);
    else if (!valid_socket_name(s->name))
        merr(m, "bad %s service name \"%.60s\"", w[1], s->name);
    s->private_ = yes_no_col(m, "private", w[2], 1, &s->private_col);
    s->unpriv = yes_no_col(m, "unpriv", w[3], 1, &s->unpriv_col);
    s->chroot = yes_no_col(m, "chroot", w[4], 0, &s->chroot_col);

    long long n;
    if (strcmp(w[5], "-") == 0) {
        s->wakeup_default = 1;
    } else {
        char *t = xstrdup(w[5]);
        size_t tl = strlen(t);
        if (tl > 1 && t[tl - 1] == '?') {
            s->wakeup_if_used = 1;
            t[tl - 1] = '\0';
        }
        if (cfg_parse_size(t, &n) < 0 || n > 86400 * 365)
            merr(m, "bad wakeup column \"%.40s\" (expected seconds, seconds? or -)", w[5]);
        else
            s->wakeup = (int)n;
        free(t);
    }
    if (strcmp(w[6], "-") == 0) {
        s->maxproc_default = 1;
        long long dp = cfg_get_int(cfg, P_default_process_limit);
        s->maxproc = dp > 0 && dp < 100000 ? (int)dp : 100;
    } else if (cfg_parse_size(w[6], &n) < 0 || n > 100000) {
        merr(m, "bad maxproc column \"%.40s\" (expected a number or -)", w[6]);
    } else {
        s->maxproc = (int)n;
    }
    parse_command(m, s, w + 7, nw - 7);
    strv_free(w);
    /* Old master.cf files (the FreeBSD guide) run pickup and qmgr on FIFOs:
     * the same service on yubin's UNIX socket; `conf -M` still says fifo. */
    if (!m->failed && s->type == SVC_FIFO && s->command &&
        (strcmp(s->command, "pickup") == 0 || strcmp(s->command, "qmgr") == 0)) {
        s->type = SVC_UNIX;
        s->written_fifo = 1;
    }
    if (m->failed) {
        service_free(s);
        return NULL;
    }
    return s;
}

/* Warnings about what yubin will not do with a service that parsed fine. */
static void service_warnings(struct mparse *m, const struct master_service *s, int real_file)
{
    enum svc_role role = cfg_service_role(s);
    if (s->type == SVC_PASS && role != SVC_ROLE_RUN && role != SVC_ROLE_BUILTIN)
        cfg_diags_add(m->d, 0, m->file, m->line,
                      "service %s: type pass is implemented for smtpd only; the service is not "
                      "started", s->name);
    else if (s->type == SVC_FIFO && role != SVC_ROLE_BUILTIN)
        cfg_diags_add(m->d, 0, m->file, m->line,
                      "service %s: type fifo is not implemented by yubin (use unix); the service "
                      "is not started", s->name);
    else if (role == SVC_ROLE_UNSUPPORTED)
        cfg_diags_add(m->d, 0, m->file, m->line,
                      "service %s: command \"%s\" is not implemented by yubin; the service is "
                      "not started", s->name, s->command);
    if (role == SVC_ROLE_RUN && real_file && s->chroot)
        cfg_diags_add(m->d, 0, m->file, m->line,
                      "service %s: chroot is not implemented; the service runs unchrooted%s",
                      s->name, s->unpriv ? " as mail_owner" : "");
    if (role == SVC_ROLE_RUN && s->type == SVC_INET && s->wakeup)
        cfg_diags_add(m->d, 0, m->file, m->line,
                      "service %s: wakeup applies to unix services only (ignored)", s->name);
}

static void parse_master_text(struct config *cfg, const char *file, const char *text, size_t len,
                              struct cfg_diags *d, int real_file)
{
    struct llreader r;
    ll_init(&r, file, text, len);
    int line;
    char *l;
    while ((l = ll_next(&r, &line, d))) {
        struct mparse m = {file, line, d, 0};
        struct master_service *s = parse_service(cfg, &m, l);
        free(l);
        if (!s)
            continue;
        const struct master_service *dup = cfg_service_find(cfg, s->name, s->type);
        if (dup) {
            merr(&m, "duplicate service %s/%s (first defined at line %d)", s->name,
                 cfg_svc_type_name(s->type), dup->line);
            service_free(s);
            continue;
        }
        service_warnings(&m, s, real_file);
        cfg->svcs = xrealloc(cfg->svcs, (cfg->nsvcs + 1) * sizeof(*cfg->svcs));
        cfg->svcs[cfg->nsvcs++] = s;
    }
}

int cfg_master_load(struct config *cfg, struct cfg_diags *d, int builtin)
{
    char *path = xasprintf("%s/master.cf", cfg->dir);
    size_t len = 0;
    char *text = builtin ? NULL : read_file(path, CFG_FILE_MAX, &len);
    size_t before = cfg_diags_errors(d);
    free(cfg->master_path);
    if (!text && !builtin && errno != ENOENT) {
        cfg_diags_add(d, 1, path, 0, "cannot read: %s",
                      errno == EFBIG ? "file too large" : strerror(errno));
        cfg->master_path = path;
        return -1;
    }
    if (!text) {
        cfg->master_path = xstrdup(MASTER_BUILTIN_LABEL);
        free(path);
        parse_master_text(cfg, cfg->master_path, builtin_master_cf, sizeof(builtin_master_cf) - 1,
                          d, 0);
    } else {
        cfg->master_path = path;
        if (memchr(text, '\0', len))
            cfg_diags_add(d, 1, path, 0, "file contains a NUL byte");
        else
            parse_master_text(cfg, path, text, len, d, 1);
        free(text);
    }
    return cfg_diags_errors(d) > before ? -1 : 0;
}
