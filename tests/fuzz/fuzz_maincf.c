/*
 * fuzz_maincf.c - main.cf: the logical line reader (ll_next: comments,
 * continuation lines), "name = value" lines, the load-time checks, $name
 * expansion (${name?text}, ${name:text}, ${name?{a}:{b}}, relational
 * forms), typed values, and `yubin conf -e` (config_edit_main), all in
 * src/lib/config.c and config_edit.c. The input is written as main.cf
 * into a per-process directory (master.cf absent: the built-in one).
 *
 * Invariants beyond "no crash":
 *  - config_load() returns NULL only with an error in the diagnostics;
 *    config_load_lenient() always gives a configuration;
 *  - every name cfg_set_names() lists is set and has a raw value; its
 *    expansion is bounded (CFG_VALUE_MAX) and typed getters work;
 *  - round trip: writing "name = raw value" for every parameter set
 *    into a fresh main.cf and loading it gives the same cfg_set_names(),
 *    the same raw and the same expanded values;
 *  - conf -e: after config_edit_main(myhostname = edited.example) the file
 *    still loads, myhostname has the new value and every other parameter
 *    keeps its raw value.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-conf/config.h"
#include "lib-conf/config_int.h"

#include <sys/stat.h>

static char dir_a[256], dir_b[256], path_a[300], path_b[300];

static void setup(void)
{
    if (dir_a[0])
        return;
    fuzz_quiet();
    str_fmt(dir_a, sizeof(dir_a), "%s/a", fuzz_dir());
    str_fmt(dir_b, sizeof(dir_b), "%s/b", fuzz_dir());
    FUZZ_ASSERT(mkdir(dir_a, 0700) == 0 && mkdir(dir_b, 0700) == 0);
    str_fmt(path_a, sizeof(path_a), "%s/main.cf", dir_a);
    str_fmt(path_b, sizeof(path_b), "%s/main.cf", dir_b);
}

static void use_values(const struct config *cfg, char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        const char *n = names[i];
        FUZZ_ASSERT(cfg_is_set_by_name(cfg, n));
        FUZZ_ASSERT(cfg_get_raw_by_name(cfg, n) != NULL);
        const char *err = NULL;
        const char *v = cfg_get_checked(cfg, n, &err);
        if (v)
            FUZZ_ASSERT(strlen(v) <= CFG_VALUE_MAX);
        int type, impl;
        char unit;
        cfg_param_info(cfg, n, &type, &unit, &impl);
        switch (type) {
        case PT_BOOL: (void)cfg_get_bool_by_name(cfg, n); break;
        case PT_INT: (void)cfg_get_int_by_name(cfg, n); break;
        case PT_TIME: (void)cfg_get_time_by_name(cfg, n); break;
        case PT_SIZE: (void)cfg_get_size_by_name(cfg, n); break;
        case PT_LIST: strv_free(cfg_get_list_by_name(cfg, n)); break;
        default: break;
        }
    }
}

static void same_values(const struct config *a, const struct config *b, char *const *names,
                        const char *except)
{
    for (size_t i = 0; names[i]; i++) {
        const char *n = names[i];
        if (except && strcmp(n, except) == 0)
            continue;
        const char *ra = cfg_get_raw_by_name(a, n), *rb = cfg_get_raw_by_name(b, n);
        if (!rb || strcmp(ra, rb) != 0) {
            fprintf(stderr, "%s: \"%s\" became \"%s\"\n", n, ra, rb ? rb : "(unset)");
            FUZZ_ASSERT(!"raw values survive");
        }
        if (!except) {
            const char *ea = cfg_get_by_name(a, n), *eb = cfg_get_by_name(b, n);
            if (!((!ea && !eb) || (ea && eb && strcmp(ea, eb) == 0))) {
                fprintf(stderr, "%s: expanded \"%s\" became \"%s\"\n", n, ea ? ea : "(null)",
                        eb ? eb : "(null)");
                FUZZ_ASSERT(!"expanded values survive");
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    fuzz_write_file(path_a, data, size);

    struct config *lenient = config_load_lenient(dir_a);
    FUZZ_ASSERT(lenient);
    config_free(lenient);

    struct cfg_diags diags = {0};
    struct config *cfg = config_load(dir_a, &diags);
    if (!cfg) {
        FUZZ_ASSERT(cfg_diags_errors(&diags) > 0);
        cfg_diags_free(&diags);
        return 0;
    }
    for (size_t i = 0; i < diags.n; i++) {
        char line[512];
        cfg_diag_format(&diags.v[i], line, sizeof(line));
    }
    cfg_diags_free(&diags);

    char **names = cfg_set_names(cfg);
    FUZZ_ASSERT(names);
    use_values(cfg, names);
    (void)cfg_get(cfg, P_myhostname);
    (void)cfg_get(cfg, P_mydestination);
    char *x = cfg_expand(cfg, "$myhostname ${mydomain?{$mydomain}:{none}} $(queue_directory)");
    free(x);

    /* Round trip through a written main.cf: every entry set, also the unknown and
     * unreferenced ones cfg_set_names() leaves out (writing only those would change
     * which user-defined names count as referenced). */
    struct buf text;
    buf_init(&text, 0);
    char **all = NULL;
    size_t nall = 0;
    for (size_t i = 0; i < cfg->map->cap; i++) {
        const struct centry *e = cfg->map->slots[i];
        if (!e || !e->value)
            continue;
        buf_printf(&text, "%s = %s\n", e->name, e->value);
        all = xrealloc(all, (nall + 2) * sizeof(*all));
        all[nall++] = xstrdup(e->name);
        all[nall] = NULL;
    }
    if (!all)
        all = xcalloc(1, sizeof(*all));
    fuzz_write_file(path_b, text.data ? text.data : "", text.len);
    buf_free(&text);
    struct cfg_diags d2 = {0};
    struct config *cfg2 = config_load(dir_b, &d2);
    if (!cfg2) {
        cfg_diags_print(&d2, stderr);
        FUZZ_ASSERT(!"a written main.cf loads again");
    }
    cfg_diags_free(&d2);
    char **names2 = cfg_set_names(cfg2);
    FUZZ_ASSERT(strv_len(names2) == strv_len(names));
    for (size_t i = 0; names[i]; i++)
        FUZZ_ASSERT(strcmp(names[i], names2[i]) == 0);
    same_values(cfg, cfg2, all, NULL);
    strv_free(names2);
    config_free(cfg2);

    /* conf -e on the original text. */
    char err[512] = "";
    if (config_edit_main(dir_a, "myhostname", "edited.example", err, sizeof(err)) == 0) {
        struct cfg_diags d3 = {0};
        struct config *cfg3 = config_load_lenient(dir_a);
        FUZZ_ASSERT(cfg3);
        const char *h = cfg_get_raw(cfg3, P_myhostname);
        FUZZ_ASSERT(h && strcmp(h, "edited.example") == 0);
        same_values(cfg, cfg3, all, "myhostname");
        config_free(cfg3);
        cfg_diags_free(&d3);
    }
    strv_free(all);
    strv_free(names);
    config_free(cfg);
    return 0;
}
