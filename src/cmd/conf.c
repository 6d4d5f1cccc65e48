/*
 * conf.c - `yubin conf`: show or edit parameters, like postconf(1).
 *
 *   yubin conf [-dnxh] [NAME...]   parameters as "name = value" (raw unless -x)
 *   yubin conf -M [SERVICE[/TYPE]...]  master.cf services, normalized columns
 *   yubin conf -e NAME=VALUE...    edit main.cf in place
 *
 * Unknown NAMEs get a warning on stderr and exit status 0, as postconf
 * does; configuration errors give exit status 1.
 */
#include "cmd/commands.h"
#include "lib-conf/config.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct conf_opts {
    int defaults, only_set, expand, value_only, master, edit;
};

static void conf_usage(void)
{
    fprintf(stderr, "usage: yubin [-c DIR] conf [-d] [-n] [-x] [-h] [NAME...]\n"
                    "       yubin [-c DIR] conf -M [SERVICE[/TYPE]...]\n"
                    "       yubin [-c DIR] conf -e NAME=VALUE...\n");
}

static void print_param(const struct conf_opts *o, const char *name, const char *value)
{
    if (!value)
        value = "";
    if (o->value_only)
        printf("%s\n", value);
    else if (*value)
        printf("%s = %s\n", name, value);
    else
        printf("%s =\n", name);
}

static const char *value_of(const struct conf_opts *o, const struct config *cfg, const char *name)
{
    if (o->defaults)
        return o->expand ? cfg_param_default_by_name(cfg, name)
                         : cfg_param_default_raw_by_name(cfg, name);
    return o->expand ? cfg_get_by_name(cfg, name) : cfg_get_raw_by_name(cfg, name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Per-transport parameters postconf lists for delivery services in master.cf. */
static void add_service_params(const struct config *cfg, char ***v, size_t *n, size_t *cap)
{
    static const char *const agents[] = {"smtp", "lmtp", "local", "virtual", "pipe", "error"};
    static const char *const suffixes[] = {
        "delivery_slot_cost", "delivery_slot_discount", "delivery_slot_loan",
        "destination_concurrency_failed_cohort_limit", "destination_concurrency_limit",
        "destination_concurrency_negative_feedback", "destination_concurrency_positive_feedback",
        "destination_rate_delay", "destination_recipient_limit", "extra_recipient_limit",
        "initial_destination_concurrency", "minimum_delivery_slots", "recipient_limit",
        "recipient_refill_delay", "recipient_refill_limit", "time_limit", "transport_rate_delay",
    };
    for (size_t i = 0; i < cfg_service_count(cfg); i++) {
        const struct master_service *s = cfg_service(cfg, i);
        int agent = 0;
        for (size_t a = 0; a < ARRAY_LEN(agents); a++)
            agent |= strcmp(s->command, agents[a]) == 0;
        if (!agent || s->type != SVC_UNIX)
            continue;
        for (size_t k = 0; k < ARRAY_LEN(suffixes); k++) {
            if (strcmp(suffixes[k], "time_limit") == 0 && strcmp(s->command, "pipe") != 0)
                continue;
            char *name = xasprintf("%s_%s", s->name, suffixes[k]);
            if (*n + 2 > *cap) {
                *cap *= 2;
                *v = xrealloc(*v, *cap * sizeof(**v));
            }
            (*v)[(*n)++] = name;
        }
    }
}

/* Every name `yubin conf` lists: known parameters, per-service ones, user-defined ones. */
static char **all_names(const struct conf_opts *o, const struct config *cfg)
{
    size_t cap = cfg_param_count() + 64, n = 0;
    char **v = xmalloc(cap * sizeof(*v));
    for (size_t i = 0; i < cfg_param_count(); i++)
        v[n++] = xstrdup(cfg_param_name(i));
    add_service_params(cfg, &v, &n, &cap);
    if (!o->defaults) {
        char **set = cfg_set_names(cfg);
        for (char **p = set; *p; p++) {
            if (n + 2 > cap) {
                cap *= 2;
                v = xrealloc(v, cap * sizeof(*v));
            }
            v[n++] = xstrdup(*p);
        }
        strv_free(set);
    }
    qsort(v, n, sizeof(*v), cmp_str);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (out && strcmp(v[out - 1], v[i]) == 0) {
            free(v[i]);
            continue;
        }
        v[out++] = v[i];
    }
    v[out] = NULL;
    return v;
}

/* Postfix's -M layout: columns start at 0, 11, 17, 25, 33, 41, 49, 57; at least one space. */
static void print_service(const struct master_service *s)
{
    static const int stops[] = {11, 17, 25, 33, 41, 49, 57};
    char wake[32], maxproc[32], priv[2] = {s->private_col, 0}, unpriv[2] = {s->unpriv_col, 0},
         chroot[2] = {s->chroot_col, 0};
    if (s->wakeup_default)
        str_copy(wake, "-", sizeof(wake));
    else
        snprintf(wake, sizeof(wake), "%d%s", s->wakeup, s->wakeup_if_used ? "?" : "");
    if (s->maxproc_default)
        str_copy(maxproc, "-", sizeof(maxproc));
    else
        snprintf(maxproc, sizeof(maxproc), "%d", s->maxproc);
    const char *type = s->written_fifo ? "fifo" : cfg_svc_type_name(s->type);
    const char *cols[] = {s->name, type, priv, unpriv, chroot, wake, maxproc};
    int pos = 0;
    for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
        printf("%s", cols[i]);
        pos += (int)strlen(cols[i]);
        do {
            putchar(' ');
            pos++;
        } while (pos < stops[i]);
    }
    printf("%s", s->command);
    for (char **ov = s->overrides; ov && *ov; ov++) {
        const char *eq = strchr(*ov, '=');
        if (strpbrk(eq + 1, " \t"))
            printf(" -o {%.*s=%s}", (int)(eq - *ov), *ov, eq + 1);
        else
            printf(" -o %s", *ov);
    }
    for (char **a = s->args; a && *a; a++)
        printf(strpbrk(*a, " \t") ? " {%s}" : " %s", *a);
    putchar('\n');
}

static int service_selected(const struct master_service *s, int argc, char **argv)
{
    if (argc == 0)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *slash = strchr(argv[i], '/');
        size_t n = slash ? (size_t)(slash - argv[i]) : strlen(argv[i]);
        if (strlen(s->name) == n && strncmp(s->name, argv[i], n) == 0 &&
            (!slash || strcmp(slash + 1, cfg_svc_type_name(s->type)) == 0))
            return 1;
    }
    return 0;
}

static int conf_edit(const char *confdir, int argc, char **argv)
{
    int status = 0;
    if (argc == 0) {
        fprintf(stderr, "yubin: conf -e needs NAME=VALUE arguments\n");
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "yubin: conf -e: %s: expected NAME=VALUE\n", argv[i]);
            status = 1;
            continue;
        }
        char *name = xstrndup(argv[i], (size_t)(eq - argv[i]));
        char err[512];
        if (config_edit_main(confdir, str_trim(name), eq + 1, err, sizeof(err)) < 0) {
            fprintf(stderr, "yubin: conf -e: %s\n", err);
            status = 1;
        }
        free(name);
    }
    return status;
}

int cmd_conf(const char *confdir, int argc, char **argv)
{
    struct conf_opts o = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        for (const char *f = argv[i] + 1; *f; f++) {
            switch (*f) {
            case 'd': o.defaults = 1; break;
            case 'n': o.only_set = 1; break;
            case 'x': o.expand = 1; break;
            case 'h': o.value_only = 1; break;
            case 'M': o.master = 1; break;
            case 'e': o.edit = 1; break;
            default:
                fprintf(stderr, "yubin: conf: unknown option -%c\n", *f);
                conf_usage();
                return 2;
            }
        }
    }
    argc -= i;
    argv += i;
    if (o.edit)
        return conf_edit(confdir, argc, argv);

    struct cfg_diags d = {0};
    struct config *cfg;
    if (o.defaults) {
        cfg = config_defaults(confdir);
    } else {
        cfg = config_load(confdir, &d);
        cfg_diags_print(&d, stderr);
        cfg_diags_free(&d);
        if (!cfg)
            return 1;
    }

    if (o.master) {
        for (size_t k = 0; k < cfg_service_count(cfg); k++)
            if (service_selected(cfg_service(cfg, k), argc, argv))
                print_service(cfg_service(cfg, k));
    } else if (argc > 0) {
        for (int k = 0; k < argc; k++) {
            const char *v = value_of(&o, cfg, argv[k]);
            int known = cfg_param_known(cfg, argv[k]);
            if (!v || (!known && o.defaults) || (!known && !cfg_is_set_by_name(cfg, argv[k]))) {
                fprintf(stderr, "yubin: warning: %s: unknown parameter\n", argv[k]);
                continue;
            }
            print_param(&o, argv[k], v);
        }
    } else {
        char **names = o.only_set && !o.defaults ? cfg_set_names(cfg) : all_names(&o, cfg);
        for (char **p = names; *p; p++)
            print_param(&o, *p, value_of(&o, cfg, *p));
        strv_free(names);
    }
    config_free(cfg);
    return 0;
}
