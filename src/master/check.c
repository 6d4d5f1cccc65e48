/*
 * check.c - `yubin check`, and the system checks `yubin start` shares:
 * configuration errors and warnings with file:line, the users yubin runs
 * as, the queue directory, listen addresses, and (when the table module is
 * linked) every *_maps table, and the TLS configuration of every smtpd
 * service that uses TLS (certificates, keys, chains, SNI tables).
 */
#include "master/master.h"
#include "lib-table/matchlist.h"
#include "lib-route/resolve.h"
#include "lib-master/worker.h"
#include "lib-table/table.h"
#include "lib-tls/tls.h"
#include "lib-milter/milter.h"
#include "lib/util.h"

#include <errno.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *how_to_create(const char *user, char *buf, size_t len)
{
    snprintf(buf, len,
             "create it with: groupadd --system %s && useradd --system -g %s -d /nonexistent "
             "-s /usr/sbin/nologin %s",
             user, user, user);
    return buf;
}

int master_mail_owner(const struct config *cfg, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    if (geteuid() != 0) {
        *uid = getuid();
        *gid = getgid();
        return 0;
    }
    const char *owner = cfg_get(cfg, P_mail_owner);
    char how[256];
    if (!owner || !*owner) {
        snprintf(err, errlen, "mail_owner is empty: set it to an unprivileged user");
        return -1;
    }
    struct passwd *pw = getpwnam(owner);
    if (!pw) {
        snprintf(err, errlen, "mail_owner \"%s\": no such user; %s", owner,
                 how_to_create(owner, how, sizeof(how)));
        return -1;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        snprintf(err, errlen, "mail_owner \"%s\" has uid or gid 0: it must be an unprivileged "
                              "user of its own", owner);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static void check_users(const struct config *cfg, struct cfg_diags *d, int as_root)
{
    const char *main_cf = NULL;
    char err[512], how[256];
    uid_t uid;
    gid_t gid;
    int line = 0;
    if (as_root && master_mail_owner(cfg, &uid, &gid, err, sizeof(err)) < 0) {
        main_cf = cfg_set_where(cfg, P_mail_owner, &line);
        cfg_diags_add(d, 1, main_cf, line, "%s", err);
    }
    const char *privs = cfg_get(cfg, P_default_privs);
    struct passwd *pw = privs && *privs ? getpwnam(privs) : NULL;
    main_cf = cfg_set_where(cfg, P_default_privs, &line);
    if (!pw)
        cfg_diags_add(d, as_root, main_cf, line, "default_privs \"%s\": no such user; %s",
                      privs ? privs : "", how_to_create(privs ? privs : "nobody", how, sizeof(how)));
    else if (pw->pw_uid == 0)
        cfg_diags_add(d, as_root, main_cf, line, "default_privs \"%s\" is root: use an "
                      "unprivileged user such as nobody", privs);
    else if (as_root && strcmp(privs, cfg_get(cfg, P_mail_owner)) == 0)
        cfg_diags_add(d, 1, main_cf, line, "default_privs must not be the mail_owner (%s)", privs);
    const char *grp = cfg_get(cfg, P_setgid_group);
    if (as_root && grp && *grp && !getgrnam(grp)) {
        main_cf = cfg_set_where(cfg, P_setgid_group, &line);
        cfg_diags_add(d, 0, main_cf, line, "setgid_group \"%s\": no such group; create it with: "
                      "groupadd --system %s", grp, grp);
    }
}

/* queue_directory exists and is usable, or its nearest existing parent lets us create it. */
static void check_queue_dir(const struct config *cfg, struct cfg_diags *d)
{
    int line = 0;
    const char *where = cfg_set_where(cfg, P_queue_directory, &line);
    char *q = cfg_path(cfg, P_queue_directory);
    if (!q) {
        cfg_diags_add(d, 1, where, line, "queue_directory is empty");
        return;
    }
    struct stat st;
    if (stat(q, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            cfg_diags_add(d, 1, where, line, "queue_directory %s is not a directory", q);
        else if (access(q, W_OK | X_OK) < 0)
            cfg_diags_add(d, 1, where, line, "queue_directory %s is not writable: %s", q,
                          strerror(errno));
        free(q);
        return;
    }
    char *parent = xstrdup(q);
    for (;;) {
        char *slash = strrchr(parent, '/');
        if (!slash || slash == parent) {
            str_copy(parent, "/", 2);
            break;
        }
        *slash = '\0';
        if (stat(parent, &st) == 0)
            break;
    }
    if (access(parent, W_OK | X_OK) < 0)
        cfg_diags_add(d, 1, where, line, "queue_directory %s does not exist and cannot be "
                      "created: %s is not writable", q, parent);
    free(parent);
    free(q);
}

/* Every inet service has something to listen on. */
static void check_listen(const struct config *cfg, struct cfg_diags *d)
{
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        if (s->type != SVC_INET || cfg_service_role(s) != SVC_ROLE_RUN)
            continue;
        size_t n;
        char err[512];
        struct bind_addr *a = master_inet_addrs(cfg, s, &n, err, sizeof(err));
        if (!a)
            cfg_diags_add(d, 1, s->file, s->line, "service %s: %s", s->name, err);
        free(a);
    }
}

/* A diagnostic at the place the parameter was set (main.cf line or the -o line of svc). */
static void param_error(const struct config *cfg, const struct master_service *svc,
                        struct cfg_diags *d, int is_error, const char *param, const char *text)
{
    int line = 0;
    const char *file = cfg_set_where_by_name(cfg, param, &line);
    char main_cf[4200];
    if (!file && svc) {
        file = svc->file;
        line = svc->line;
    }
    if (!file) {
        str_fmt(main_cf, sizeof(main_cf), "%s/main.cf", cfg_dir(cfg));
        file = main_cf;
    }
    cfg_diags_add(d, is_error, file, line, "%s: %s", param, text);
}

/* Does this service's -o list set the parameter? */
static int service_overrides(const struct master_service *svc, const char *name)
{
    size_t n = strlen(name);
    for (char **o = svc->overrides; o && *o; o++)
        if (strncmp(*o, name, n) == 0 && (*o)[n] == '=')
            return 1;
    return 0;
}

/*
 * Lookup tables: every *_maps parameter yubin implements, the domain and
 * network lists (which may name tables), and the restriction lists of each
 * smtpd service (their access tables and syntax), with that service's -o
 * overrides. A daemon would run with such a table as a temporary failure
 * (mail deferred); check says so before it happens. The same for
 * header_checks(5) tables (*_checks).
 */
static void check_tables_one(const struct config *cfg, const struct master_service *svc,
                             struct cfg_diags *d, int strict)
{
    char err[1024];
    for (size_t i = 0; i < cfg_param_count(); i++) {
        const char *name = cfg_param_name(i);
        size_t n = strlen(name);
        int is_table = (n >= 6 && strcmp(name + n - 5, "_maps") == 0) ||
                       (n >= 7 && strcmp(name + n - 7, "_checks") == 0);
        if (!cfg_param_implemented(name) || !is_table)
            continue;
        if (strcmp(name, "proxy_read_maps") == 0)
            continue; /* names parameters' tables and other words: what proxymap may open */
        if (svc && !service_overrides(svc, name))
            continue; /* main.cf's value is checked once, without a service */
        struct maps *m = maps_open(cfg_get(cfg, (enum param_id)i), cfg, err, sizeof(err));
        if (!m)
            param_error(cfg, svc, d, strict, name, err);
        maps_close(m);
    }
    static const enum param_id domain_lists[] = {P_mydestination, P_virtual_alias_domains,
                                                 P_virtual_mailbox_domains, P_relay_domains};
    for (size_t i = 0; !svc && i < ARRAY_LEN(domain_lists); i++) {
        const char *name = cfg_param_name(domain_lists[i]);
        struct match_list *l = domain_list_new(cfg_get(cfg, domain_lists[i]), cfg,
                                               match_parent_style(cfg, name), err, sizeof(err));
        if (!l)
            param_error(cfg, svc, d, strict, name, err);
        match_list_free(l);
    }
    if (!svc) {
        struct match_list *l = addr_list_new(cfg_get(cfg, P_mynetworks), cfg, 0, err, sizeof(err));
        if (!l)
            param_error(cfg, svc, d, 1, "mynetworks", err);
        match_list_free(l);
    }
}

/* smtpd_milters, non_smtpd_milters and milter_default_action (main.cf or a service's -o). */
static void check_milters(const struct config *cfg, const struct master_service *svc,
                          struct cfg_diags *d, int strict)
{
    static const enum param_id lists[] = {P_smtpd_milters, P_non_smtpd_milters};
    char err[1024];
    for (size_t i = 0; i < ARRAY_LEN(lists); i++) {
        const char *name = cfg_param_name(lists[i]);
        if (svc && !service_overrides(svc, name))
            continue;
        struct milter_spec *v = NULL;
        int n = milter_specs_parse(cfg_get(cfg, lists[i]), &v, err, sizeof(err));
        if (n < 0)
            param_error(cfg, svc, d, strict, name, err);
        else
            milter_specs_free(v, (size_t)n);
    }
    const char *da = cfg_get(cfg, P_milter_default_action);
    if ((!svc || service_overrides(svc, "milter_default_action")) && !milter_action_valid(da)) {
        str_fmt(err, sizeof(err), "milter_default_action: bad value \"%s\" (accept, reject, "
                "tempfail or quarantine)", da);
        param_error(cfg, svc, d, strict, "milter_default_action", err);
    }
}

/* Each running service's own checks (worker_role.check), with its -o overrides. */
static void check_roles(const struct config *cfg, struct cfg_diags *d, int strict)
{
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        const struct worker_role *role = worker_role_find(s->command);
        if (cfg_service_role(s) != SVC_ROLE_RUN || !role || !role->check)
            continue;
        struct config *sc = config_load_lenient(cfg_dir(cfg));
        const struct master_service *ss = sc ? cfg_service_find(sc, s->name, s->type) : NULL;
        char err[1024];
        if (ss) {
            cfg_apply_service(sc, ss);
            if (role->check(sc, ss, err, sizeof(err)) < 0)
                cfg_diags_add(d, strict, s->file, s->line, "service %s: %s", s->name, err);
        }
        config_free(sc);
    }
}

/*
 * strict (yubin check): a table that cannot be opened is an error. At
 * start it is a warning: like Postfix, the daemons run and lookups that
 * need the table fail temporarily, so nothing is lost.
 */
static void check_tables(const struct config *cfg, struct cfg_diags *d, int strict)
{
    check_tables_one(cfg, NULL, d, strict);
    check_milters(cfg, NULL, d, strict);
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        if (cfg_service_role(s) != SVC_ROLE_RUN || strcmp(s->command, "smtpd") != 0)
            continue;
        struct config *sc = config_load_lenient(cfg_dir(cfg));
        const struct master_service *ss = sc ? cfg_service_find(sc, s->name, s->type) : NULL;
        if (ss) {
            cfg_apply_service(sc, ss);
            check_tables_one(sc, ss, d, strict);
            check_milters(sc, ss, d, strict);
        }
        config_free(sc);
    }
}

/* TLS findings for one service, placed where the parameter was set. */
struct tls_findings {
    struct cfg_diags *d;
    const struct config *scfg;            /* the service's configuration */
    const struct master_service *svc;
    char **seen;                          /* each text once, over all services */
    size_t nseen;
};

static void tls_finding(void *arg, int is_error, const char *param, const char *text)
{
    struct tls_findings *f = arg;
    for (size_t i = 0; i < f->nseen; i++)
        if (f->seen[i][0] == '0' + is_error && strcmp(f->seen[i] + 1, text) == 0)
            return;
    f->seen = xrealloc(f->seen, (f->nseen + 1) * sizeof(*f->seen));
    f->seen[f->nseen++] = xasprintf("%d%s", is_error, text);
    /* Where the parameter was set; else where this service turned TLS on. */
    static const enum param_id enablers[] = {P_smtpd_tls_wrappermode, P_smtpd_tls_security_level,
                                             P_smtpd_enforce_tls, P_smtpd_use_tls};
    int line = 0;
    const char *file = cfg_set_where_by_name(f->scfg, param, &line);
    for (size_t i = 0; !file && i < ARRAY_LEN(enablers); i++)
        file = cfg_set_where(f->scfg, enablers[i], &line);
    if (!file) {
        file = f->svc->file;
        line = f->svc->line;
    }
    int in_master = f->svc->file && strcmp(file, f->svc->file) == 0;
    cfg_diags_add(f->d, is_error, file, line, "%s%s%s%s", in_master ? "service " : "",
                  in_master ? f->svc->name : "", in_master ? ": " : "", text);
}

/*
 * Every smtpd service that uses TLS (main.cf or its -o overrides): the
 * checks tls_server_new would fail on, plus expiry warnings. Each service
 * gets its own copy of the configuration with its overrides applied.
 */
static void check_tls(const struct config *cfg, struct cfg_diags *d)
{
    struct tls_findings f = {.d = d};
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        if (cfg_service_role(s) != SVC_ROLE_RUN || strcmp(s->command, "smtpd") != 0)
            continue;
        struct config *sc = config_load_lenient(cfg_dir(cfg));
        const struct master_service *ss = sc ? cfg_service_find(sc, s->name, s->type) : NULL;
        if (ss) {
            cfg_apply_service(sc, ss);
            f.scfg = sc;
            f.svc = ss;
            tls_check_server(sc, tls_finding, &f);
        }
        config_free(sc);
    }
    for (size_t i = 0; i < f.nseen; i++)
        free(f.seen[i]);
    free(f.seen);
}

void master_check_system(const struct config *cfg, struct cfg_diags *d, int as_root, int strict)
{
    check_users(cfg, d, as_root);
    check_queue_dir(cfg, d);
    check_listen(cfg, d);
    check_tables(cfg, d, strict);
    check_roles(cfg, d, strict);
    check_tls(cfg, d);
}

int cmd_check(const char *confdir, int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: yubin [-c DIR] check\n");
        return 2;
    }
    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    int as_root = geteuid() == 0;
    if (cfg)
        master_check_system(cfg, &d, as_root, 1);
    cfg_diags_print(&d, stderr);
    size_t errors = cfg_diags_errors(&d), warnings = cfg_diags_warnings(&d);
    if (cfg && !as_root)
        printf("yubin: note: not running as root: single-user mode, every process runs as "
               "uid %ld and mail_owner is ignored\n", (long)getuid());
    /* Would `yubin start` refuse? Tables that cannot be opened do not stop it. */
    size_t blocking = errors;
    if (cfg && errors) {
        struct cfg_diags d2 = {0};
        master_check_system(cfg, &d2, as_root, 0);
        blocking = cfg_diags_errors(&d2);
        cfg_diags_free(&d2);
    }
    if (errors)
        printf("yubin: %zu error%s, %zu warning%s: %s\n", errors, errors == 1 ? "" : "s",
               warnings, warnings == 1 ? "" : "s",
               blocking ? "the mail system will not start"
                        : "the mail system would start, but mail that needs these tables is deferred");
    else if (warnings)
        printf("yubin: configuration OK (%zu warning%s)\n", warnings, warnings == 1 ? "" : "s");
    else
        printf("yubin: configuration OK\n");
    cfg_diags_free(&d);
    config_free(cfg);
    return errors ? 1 : 0;
}
