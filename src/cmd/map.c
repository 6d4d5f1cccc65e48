/*
 * map.c - `yubin map` (like postmap(1)) and `yubin newaliases` (like
 * newaliases/postalias(1)).
 *
 *   yubin map [-fFrw] [TYPE:]FILE...      build FILE.lmdb from FILE (hash: or lmdb:;
 *                                         other types are opened to check their syntax)
 *   yubin map [-fF] -q KEY TYPE:NAME...   print the first value found
 *   yubin map [-fF] -q - TYPE:NAME...     keys from stdin, "key<TAB>value" per hit
 *   yubin map [-F] -s TYPE:NAME...        list every entry
 *   yubin map [-frw] -i [TYPE:]FILE       add "key value" lines from stdin
 *   yubin map [-f] -d KEY [TYPE:]FILE     delete KEY ("-": keys from stdin)
 *   yubin newaliases                      build every $alias_database
 *
 * Exit status: 0 success / found, 1 not found (-q, -d), 2 errors (usage,
 * bad tables, temporary lookup failures). postmap uses 1 for both; 2 lets
 * scripts tell "not there" from "broken".
 */
#include "cmd/commands.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_NOTFOUND 1
#define EXIT_TROUBLE 2

struct map_opts {
    int fold;          /* -f turns off */
    int files;         /* -F */
    int replace;       /* -r */
    int quiet;         /* -w */
    int incremental;   /* -i */
    int list;          /* -s */
    const char *query; /* -q */
    const char *del;   /* -d */
};

static void map_usage(void)
{
    fprintf(stderr,
            "usage: yubin map [-fFrw] [TYPE:]FILE...\n"
            "       yubin map [-fF] -q KEY|- TYPE:NAME...\n"
            "       yubin map [-F] -s TYPE:NAME...\n"
            "       yubin map [-frw] -i [TYPE:]FILE < entries\n"
            "       yubin map [-f] -d KEY|- [TYPE:]FILE\n");
}

/* "FILE" means "hash:FILE" (default_database_type). */
static char *full_spec(const char *arg)
{
    const char *s = arg;
    while (strncasecmp(s, "proxy:", 6) == 0)
        s += 6;
    if (s[0] == '/' || s[0] == '.' || !strchr(s, ':'))
        return xasprintf("hash:%s", arg);
    return xstrdup(arg);
}

static int buildable(const char *spec)
{
    const char *s = spec;
    while (strncasecmp(s, "proxy:", 6) == 0)
        s += 6;
    return str_iprefix(s, "hash:") || str_iprefix(s, "lmdb:");
}

/* Print a value, base64-decoding it first with -F. */
static void print_value(const struct map_opts *o, const char *key, const char *value)
{
    if (key)
        printf("%s\t", key);
    if (o->files) {
        struct buf dec;
        buf_init(&dec, 0);
        if (table_b64_decode(value, &dec) == 0) {
            fwrite(dec.data ? dec.data : "", 1, dec.len, stdout);
            if (key || !dec.len || dec.data[dec.len - 1] != '\n')
                putchar('\n');
        } else {
            fprintf(stderr, "yubin: warning: value for \"%s\" is not base64\n", key ? key : "");
            printf("%s\n", value);
        }
        buf_free(&dec);
    } else {
        printf("%s\n", value);
    }
}

/* Open every table named on the command line. */
static struct table **open_all(char **names, int n, const struct config *cfg)
{
    struct table **t = xcalloc((size_t)n + 1, sizeof(*t));
    for (int i = 0; i < n; i++) {
        char err[1024];
        char *spec = full_spec(names[i]);
        t[i] = table_open(spec, cfg, err, sizeof(err));
        free(spec);
        if (!t[i]) {
            fprintf(stderr, "yubin: fatal: %s\n", err);
            for (int j = 0; j < i; j++)
                table_close(t[j]);
            free(t);
            return NULL;
        }
    }
    return t;
}

static void close_all(struct table **t)
{
    for (size_t i = 0; t && t[i]; i++)
        table_close(t[i]);
    free(t);
}

/* Search the tables for key: TABLE_FOUND with the value in res, or the
 * first error. */
static int lookup_all(struct table **t, const struct map_opts *o, const char *key,
                      struct buf *res)
{
    int r = TABLE_NOTFOUND;
    for (size_t i = 0; t[i] && r == TABLE_NOTFOUND; i++)
        r = o->fold ? table_lookup(t[i], key, res) : table_lookup_exact(t[i], key, res);
    if (r == TABLE_TEMPFAIL)
        fprintf(stderr, "yubin: warning: lookup of \"%s\" failed (temporary error)\n", key);
    return r;
}

static int do_query(const struct map_opts *o, char **names, int n, const struct config *cfg)
{
    struct table **t = open_all(names, n, cfg);
    if (!t)
        return EXIT_TROUBLE;
    struct buf res;
    buf_init(&res, TABLE_VALUE_MAX + 1);
    int rc = EXIT_NOTFOUND, trouble = 0;
    if (strcmp(o->query, "-") != 0) {
        int r = lookup_all(t, o, o->query, &res);
        if (r == TABLE_FOUND) {
            print_value(o, NULL, buf_cstr(&res));
            rc = 0;
        }
        trouble = r == TABLE_TEMPFAIL;
    } else {
        struct buf line;
        buf_init(&line, TABLE_KEY_MAX + 2);
        int c, toolong = 0;
        while ((c = getchar()) != EOF || line.len) {
            if (c != '\n' && c != EOF) {
                if (buf_putc(&line, (char)c) < 0)
                    toolong = 1;
                continue;
            }
            if (line.len && line.data[line.len - 1] == '\r')
                line.data[--line.len] = '\0';
            if (toolong) {
                fprintf(stderr, "yubin: warning: key longer than %d bytes skipped\n",
                        TABLE_KEY_MAX);
            } else {
                int r = lookup_all(t, o, buf_cstr(&line), &res);
                if (r == TABLE_FOUND) {
                    print_value(o, buf_cstr(&line), buf_cstr(&res));
                    rc = 0;
                }
                trouble |= r == TABLE_TEMPFAIL;
            }
            toolong = 0;
            buf_reset(&line);
            if (c == EOF)
                break;
        }
        buf_free(&line);
    }
    buf_free(&res);
    close_all(t);
    fflush(stdout);
    return trouble ? EXIT_TROUBLE : rc;
}

static int list_one(const char *key, const char *value, void *arg)
{
    print_value(arg, key, value);
    return 0;
}

static int do_list(const struct map_opts *o, char **names, int n, const struct config *cfg)
{
    struct table **t = open_all(names, n, cfg);
    if (!t)
        return EXIT_TROUBLE;
    int rc = 0;
    for (size_t i = 0; t[i]; i++) {
        char err[1024];
        if (table_iterate(t[i], list_one, (void *)o, err, sizeof(err)) < 0) {
            fprintf(stderr, "yubin: fatal: %s\n", err);
            rc = EXIT_TROUBLE;
        }
    }
    close_all(t);
    fflush(stdout);
    return rc;
}

static int build_flags(const struct map_opts *o)
{
    return (o->fold ? TABLE_BUILD_FOLD : 0) | (o->files ? TABLE_BUILD_FILES : 0) |
           (o->replace ? TABLE_BUILD_REPLACE : 0) | (o->quiet ? TABLE_BUILD_QUIET : 0);
}

static int do_build(const struct map_opts *o, char **names, int n, const struct config *cfg)
{
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char err[1024];
        char *spec = full_spec(names[i]);
        if (!buildable(spec)) {
            /* Nothing to build: open it, which checks the syntax. */
            struct table *t = table_open(spec, cfg, err, sizeof(err));
            if (!t) {
                fprintf(stderr, "yubin: fatal: %s\n", err);
                rc = EXIT_TROUBLE;
            }
            table_close(t);
        } else if (table_build_ex(spec, build_flags(o), NULL, NULL, NULL, err, sizeof(err)) < 0) {
            fprintf(stderr, "yubin: fatal: %s\n", err);
            rc = EXIT_TROUBLE;
        }
        free(spec);
    }
    return rc;
}

static int do_update(const struct map_opts *o, char **names, int n)
{
    if (n != 1) {
        map_usage();
        return EXIT_TROUBLE;
    }
    char *spec = full_spec(names[0]);
    char err[1024];
    int flags = build_flags(o) | TABLE_BUILD_UPDATE;
    int changed = 0, rc;
    if (!buildable(spec)) {
        fprintf(stderr, "yubin: fatal: %s: only hash: and lmdb: tables can be updated\n", spec);
        free(spec);
        return EXIT_TROUBLE;
    }
    if (o->del) {
        char **keys;
        if (strcmp(o->del, "-") == 0) {
            struct buf all;
            buf_init(&all, 64 << 20);
            int c;
            while ((c = getchar()) != EOF)
                if (buf_putc(&all, c == '\r' ? '\n' : (char)c) < 0)
                    break;
            keys = xcalloc(1, sizeof(*keys));
            /* one key per line; blanks inside a key are kept */
            size_t cnt = 0;
            for (char *line = all.data, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                    *next++ = '\0';
                if (!*line)
                    continue;
                keys = xrealloc(keys, (cnt + 2) * sizeof(*keys));
                keys[cnt++] = xstrdup(line);
                keys[cnt] = NULL;
            }
            buf_free(&all);
        } else {
            keys = xcalloc(2, sizeof(*keys));
            keys[0] = xstrdup(o->del);
        }
        rc = table_build_ex(spec, flags, NULL, keys, &changed, err, sizeof(err));
        strv_free(keys);
        if (rc == 0 && changed == 0)
            rc = EXIT_NOTFOUND;
    } else {
        rc = table_build_ex(spec, flags, stdin, NULL, &changed, err, sizeof(err));
    }
    if (rc < 0) {
        fprintf(stderr, "yubin: fatal: %s\n", err);
        rc = EXIT_TROUBLE;
    }
    free(spec);
    return rc;
}

/* Configuration for table_open (sqlite: ...); a missing or broken main.cf
 * does not stop yubin map, which mostly works on files named on the
 * command line. */
static struct config *load_cfg_quiet(const char *confdir)
{
    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    cfg_diags_free(&d);
    return cfg;
}

int cmd_map(const char *confdir, int argc, char **argv)
{
    struct map_opts o = {.fold = 1};
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        for (const char *f = argv[i] + 1; *f; f++) {
            switch (*f) {
            case 'f': o.fold = 0; break;
            case 'F': o.files = 1; break;
            case 'r': o.replace = 1; break;
            case 'w': o.quiet = 1; break;
            case 'i': o.incremental = 1; break;
            case 's': o.list = 1; break;
            case 'n': case 'N': case 'o': case 'p': case 'u': case 'U': case 'v': break;
            case 'c':
            case 'q':
            case 'd': {
                const char *val = f[1] ? f + 1 : (i + 1 < argc ? argv[++i] : NULL);
                if (!val) {
                    map_usage();
                    return EXIT_TROUBLE;
                }
                if (*f == 'c')
                    confdir = val;
                else if (*f == 'q')
                    o.query = val;
                else
                    o.del = val;
                goto next_arg;   /* the rest of this argument was the value */
            }
            default:
                fprintf(stderr, "yubin: map: unknown option -%c\n", *f);
                map_usage();
                return EXIT_TROUBLE;
            }
        }
    next_arg:;
    }
    argc -= i;
    argv += i;
    int modes = !!o.query + o.list + o.incremental + !!o.del;
    if (argc < 1 || modes > 1) {
        map_usage();
        return EXIT_TROUBLE;
    }
    if (o.query || o.list) {
        struct config *cfg = load_cfg_quiet(confdir);
        int rc = o.query ? do_query(&o, argv, argc, cfg) : do_list(&o, argv, argc, cfg);
        config_free(cfg);
        return rc;
    }
    if (o.incremental || o.del)
        return do_update(&o, argv, argc);
    struct config *cfg = load_cfg_quiet(confdir);
    int rc = do_build(&o, argv, argc, cfg);
    config_free(cfg);
    return rc;
}

/* newaliases: build every hash:/lmdb: table in $alias_database. */
int cmd_newaliases(const char *confdir, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            confdir = argv[++i];
        } else if (strcmp(argv[i], "-v") != 0) {
            fprintf(stderr, "usage: yubin [-c DIR] newaliases\n");
            return EXIT_TROUBLE;
        }
    }
    struct cfg_diags d = {0};
    struct config *cfg = config_load(confdir, &d);
    cfg_diags_print(&d, stderr);
    cfg_diags_free(&d);
    if (!cfg)
        return EXIT_TROUBLE;
    char **dbs = cfg_get_list(cfg, P_alias_database);
    int rc = 0;
    for (size_t k = 0; dbs[k]; k++) {
        char err[1024];
        char *spec = full_spec(dbs[k]);
        if (!buildable(spec)) {
            fprintf(stderr, "yubin: warning: alias_database %s: cannot build this table type\n",
                    dbs[k]);
        } else if (table_build_ex(spec, TABLE_BUILD_FOLD | TABLE_BUILD_ALIASES, NULL, NULL, NULL,
                                  err, sizeof(err)) < 0) {
            fprintf(stderr, "yubin: fatal: %s\n", err);
            rc = EXIT_TROUBLE;
        }
        free(spec);
    }
    strv_free(dbs);
    config_free(cfg);
    return rc;
}
