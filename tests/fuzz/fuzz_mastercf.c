/*
 * fuzz_mastercf.c - master.cf (src/lib/config_master.c): the eight
 * columns, inet "host:port" names, unix socket names, y/n/- columns,
 * wakeup and maxproc, the command with its -o overrides (braced
 * "{ name = value }" too) and arguments; then what the master and the
 * workers do with a service: cfg_service_role, cfg_service_procs,
 * cfg_unix_socket_path and cfg_apply_service. The input is written as
 * master.cf next to a small fixed main.cf in a per-process directory.
 *
 * Invariants beyond "no crash":
 *  - config_load() returns NULL only with an error in the diagnostics;
 *  - each service has a name, a command, NULL-terminated args and
 *    overrides, every override is "name=value" with a valid name, and no
 *    two services share name and type;
 *  - an inet service has a port; a unix service's socket path lies under
 *    queue_directory;
 *  - after cfg_apply_service() every override's value is the raw value;
 *  - round trip: services written back as master.cf lines (columns,
 *    command, "-o { name = value }") parse to the same columns, command
 *    and overrides.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-conf/config.h"
#include "lib-conf/config_int.h"

#include <sys/stat.h>

static char dir_a[256], dir_b[256], master_a[300], master_b[300];

static void setup(void)
{
    if (dir_a[0])
        return;
    fuzz_quiet();
    str_fmt(dir_a, sizeof(dir_a), "%s/a", fuzz_dir());
    str_fmt(dir_b, sizeof(dir_b), "%s/b", fuzz_dir());
    FUZZ_ASSERT(mkdir(dir_a, 0700) == 0 && mkdir(dir_b, 0700) == 0);
    static const char main_cf[] = "queue_directory = /var/spool/yubin-fuzz\n"
                                  "myhostname = mx.example.test\n";
    char p[300];
    str_fmt(p, sizeof(p), "%s/main.cf", dir_a);
    fuzz_write_file(p, main_cf, sizeof(main_cf) - 1);
    str_fmt(p, sizeof(p), "%s/main.cf", dir_b);
    fuzz_write_file(p, main_cf, sizeof(main_cf) - 1);
    str_fmt(master_a, sizeof(master_a), "%s/master.cf", dir_a);
    str_fmt(master_b, sizeof(master_b), "%s/master.cf", dir_b);
}

static char col(char c)
{
    return c ? c : '-';
}

/* One service as a master.cf line; 0, or -1 when it cannot be written back plainly. */
static int write_service(const struct master_service *s, struct buf *out)
{
    if (strpbrk(s->name, " \t{}#") || strpbrk(s->command, " \t{}#") || s->command[0] == '-')
        return -1;
    buf_printf(out, "%s %s %c %c %c ", s->name, cfg_svc_type_name(s->type), col(s->private_col),
               col(s->unpriv_col), col(s->chroot_col));
    if (s->wakeup_default)
        buf_puts(out, "-");
    else
        buf_printf(out, "%d%s", s->wakeup, s->wakeup_if_used ? "?" : "");
    if (s->maxproc_default)
        buf_puts(out, " -");
    else
        buf_printf(out, " %d", s->maxproc);
    buf_printf(out, " %s", s->command);
    for (size_t i = 0; s->overrides[i]; i++) {
        const char *o = s->overrides[i];
        if (strpbrk(o, "{}\n") || o[strlen(o) - 1] == ' ' || o[strlen(o) - 1] == '\t')
            return -1;
        const char *eq = strchr(o, '=');
        if (eq[1] == ' ' || eq[1] == '\t')
            return -1;
        buf_printf(out, " -o { %.*s = %s }", (int)(eq - o), o, eq + 1);
    }
    buf_puts(out, "\n");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fuzz_write_file(master_a, data, size);
    struct cfg_diags diags = {0};
    struct config *cfg = config_load(dir_a, &diags);
    if (!cfg) {
        FUZZ_ASSERT(cfg_diags_errors(&diags) > 0);
        cfg_diags_free(&diags);
        return 0;
    }
    cfg_diags_free(&diags);
    const char *qdir = cfg_get(cfg, P_queue_directory);
    size_t n = cfg_service_count(cfg);
    struct buf text;
    buf_init(&text, 0);
    buf_puts(&text, "");
    int writable = 1;
    for (size_t i = 0; i < n; i++) {
        const struct master_service *s = cfg_service(cfg, i);
        FUZZ_ASSERT(s && s->name && s->name[0] && s->command && s->args && s->overrides);
        FUZZ_ASSERT(cfg_service_find(cfg, s->name, s->type) == s);
        for (size_t j = 0; s->overrides[j]; j++) {
            const char *eq = strchr(s->overrides[j], '=');
            FUZZ_ASSERT(eq && cfg_valid_name(s->overrides[j], (size_t)(eq - s->overrides[j])));
        }
        (void)strv_len(s->args);
        (void)cfg_service_role(s);
        FUZZ_ASSERT(cfg_service_procs(cfg, s) >= 0);
        if (s->type == SVC_INET)
            FUZZ_ASSERT(s->port && s->port[0]);
        if (s->type == SVC_UNIX) {
            char *p = cfg_unix_socket_path(cfg, s->name);
            FUZZ_ASSERT(p && strncmp(p, qdir, strlen(qdir)) == 0);
            free(p);
        }
        if (writable && write_service(s, &text) < 0)
            writable = 0;
    }
    /* Apply each service's overrides (as its worker does) in turn. */
    for (size_t i = 0; i < n; i++) {
        const struct master_service *s = cfg_service(cfg, i);
        cfg_apply_service(cfg, s);
        for (size_t j = 0; s->overrides[j]; j++) {
            const char *eq = strchr(s->overrides[j], '=');
            char name[CFG_NAME_MAX];
            str_copy(name, s->overrides[j], (size_t)(eq - s->overrides[j]) + 1 < sizeof(name)
                                                ? (size_t)(eq - s->overrides[j]) + 1
                                                : sizeof(name));
            /* A later -o of the same name won inside the service already. */
            const char *raw = cfg_get_raw_by_name(cfg, name);
            FUZZ_ASSERT(raw && strcmp(raw, eq + 1) == 0);
            (void)cfg_get_by_name(cfg, name);
        }
    }
    if (writable) {
        fuzz_write_file(master_b, text.data, text.len);
        struct cfg_diags d2 = {0};
        struct config *cfg2 = config_load(dir_b, &d2);
        if (!cfg2) {
            cfg_diags_print(&d2, stderr);
            fprintf(stderr, "written:\n%s", text.data);
            FUZZ_ASSERT(!"written master.cf loads again");
        }
        cfg_diags_free(&d2);
        FUZZ_ASSERT(cfg_service_count(cfg2) == n);
        for (size_t i = 0; i < n; i++) {
            const struct master_service *a = cfg_service(cfg, i), *b = cfg_service(cfg2, i);
            int same = strcmp(a->name, b->name) == 0 && a->type == b->type &&
                       a->private_ == b->private_ && a->unpriv == b->unpriv &&
                       a->chroot == b->chroot && a->wakeup == b->wakeup &&
                       a->maxproc == b->maxproc && strcmp(a->command, b->command) == 0 &&
                       strv_len(a->overrides) == strv_len(b->overrides);
            for (size_t j = 0; same && a->overrides[j]; j++)
                same = strcmp(a->overrides[j], b->overrides[j]) == 0;
            if (!same) {
                fprintf(stderr, "service %s/%s written as:\n%s", a->name,
                        cfg_svc_type_name(a->type), text.data);
                FUZZ_ASSERT(!"master.cf round trip");
            }
        }
        config_free(cfg2);
    }
    buf_free(&text);
    config_free(cfg);
    return 0;
}
