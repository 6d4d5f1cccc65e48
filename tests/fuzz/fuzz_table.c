/*
 * fuzz_table.c - the table source formats (src/lib/table_src.c and the
 * table types that read files): the logical line reader (tsrc_next:
 * comments, continuation lines, NUL, over-long lines), postmap's
 * "key whitespace value" (table_parse_kv, texthash:), aliases(5)
 * "name: value, value" (table_parse_alias, as newaliases reads it),
 * cidr: (table_cidr.c), regexp: and pcre: (table_regexp.c, with
 * if/endif, flags and $n substitution), and inline specs: inline:{...},
 * cidr:{...}, regexp:{...}, pcre:{...} (table_inline_rules,
 * table_unbrace), the "/file/name" of match lists (src/lib/matchlist.c:
 * domain_list_new, addr_list_new: mydestination, mynetworks ...), and the
 * auth service's sources (src/auth/passdb.c): Dovecot passwd-files
 * (auth_db_open, auth_db_lookup_pass/user) and table values
 * (auth_db_parse_table_value).
 *
 * Input: byte 0 picks the format; the rest is the table text, optionally
 * followed by a NUL and lookup keys, one per line. File formats are
 * written into a per-process directory and opened with table_open().
 *
 * Invariants beyond "no crash":
 *  - texthash: every key that table_iterate() reports looks up (exactly,
 *    folded) to the value it reported;
 *  - kv lines: a parsed key is non-empty and ends at the first blank
 *    outside quotes, the value is non-empty and has no outer blanks;
 *  - aliases: the normalised value is a fixed point: parsing
 *    "name: <normalised value>" gives it back unchanged;
 *  - lookups of any key give FOUND, NOTFOUND or TEMPFAIL and a found
 *    value is a C string within the value limit.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-table/table.h"
#include "lib-table/table_impl.h"
#include "lib-table/matchlist.h"
#include "auth/passdb.h"

#include <ctype.h>

static char path[300];

struct iter_ctx {
    struct table *t;
    size_t n;
};

static int check_entry(const char *key, const char *value, void *arg)
{
    struct iter_ctx *c = arg;
    struct buf res;
    buf_init(&res, 0);
    int r = table_lookup(c->t, key, &res);
    if (r != TABLE_FOUND || strcmp(buf_cstr(&res), value) != 0) {
        fprintf(stderr, "key \"%s\": iterate says \"%s\", lookup %d \"%s\"\n", key, value, r,
                buf_cstr(&res));
        FUZZ_ASSERT(!"iterated entries look up to their values");
    }
    buf_free(&res);
    c->n++;
    return 0;
}

static void lookups(struct table *t, const char *keys)
{
    static const char *const fixed[] = {"user@example.com", "example.com", "192.0.2.1",
                                        "2001:db8::1", "", "a", "127.0.0.1", "root"};
    struct buf res;
    buf_init(&res, 0);
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        int r = table_lookup(t, fixed[i], &res);
        FUZZ_ASSERT(r == TABLE_FOUND || r == TABLE_NOTFOUND || r == TABLE_TEMPFAIL);
    }
    char *copy = xstrdup(keys);
    for (char *k = strtok(copy, "\n"); k; k = strtok(NULL, "\n")) {
        buf_reset(&res);
        int r = table_lookup(t, k, &res);
        FUZZ_ASSERT(r == TABLE_FOUND || r == TABLE_NOTFOUND || r == TABLE_TEMPFAIL);
        if (r == TABLE_FOUND)
            FUZZ_ASSERT(strlen(buf_cstr(&res)) <= TABLE_VALUE_MAX + 1024);
    }
    free(copy);
    buf_free(&res);
}

static void open_file_table(const char *type, const char *text, size_t len, const char *keys)
{
    fuzz_write_file(path, text, len);
    char spec[400], err[1024];
    str_fmt(spec, sizeof(spec), "%s:%s", type, path);
    struct table *t = table_open(spec, NULL, err, sizeof(err));
    if (!t)
        return;
    lookups(t, keys);
    if (strcmp(type, "texthash") == 0) {
        struct iter_ctx c = {t, 0};
        FUZZ_ASSERT(table_iterate(t, check_entry, &c, err, sizeof(err)) == 0);
    }
    table_close(t);
}

static void open_inline(const char *type, const char *text, const char *keys)
{
    char *spec = xasprintf("%s:%s", type, text);
    char err[1024];
    struct table *t = table_open(spec, NULL, err, sizeof(err));
    free(spec);
    if (!t)
        return;
    lookups(t, keys);
    table_close(t);
}

static void check_list(const char *text, size_t len, const char *keys, int addresses)
{
    fuzz_write_file(path, text, len);
    char err[1024];
    struct match_list *l = addresses ? addr_list_new(path, NULL, 0, err, sizeof(err))
                                     : domain_list_new(path, NULL, MATCH_F_PARENT, err,
                                                       sizeof(err));
    if (!l)
        return;
    static const char *const fixed[] = {"example.com", "sub.example.com", "192.0.2.1", "::1",
                                        "[::1]", "::ffff:10.0.0.1", "", "[IPv6:2001:db8::1]"};
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        int r = addresses ? addr_list_match(l, fixed[i]) : domain_list_match(l, fixed[i]);
        FUZZ_ASSERT(r >= -1 && r <= 1);
    }
    char *copy = xstrdup(keys);
    for (char *k = strtok(copy, "\n"); k; k = strtok(NULL, "\n")) {
        int r = addresses ? addr_list_match(l, k) : domain_list_match(l, k);
        FUZZ_ASSERT(r >= -1 && r <= 1);
    }
    free(copy);
    match_list_free(l);
}

static void check_passwd(const char *text, size_t len, const char *keys)
{
    fuzz_write_file(path, text, len);
    char spec[400], err[1024];
    str_fmt(spec, sizeof(spec), "passwd-file:%s", path);
    struct authdb *db = auth_db_open(spec, NULL, "CRYPT", err, sizeof(err));
    if (!db)
        return;
    (void)auth_db_count(db);
    (void)auth_db_capabilities(db);
    (void)auth_db_sample_password(db);
    char *copy = xstrdup(keys);
    for (char *k = strtok(copy, "\n"); k; k = strtok(NULL, "\n")) {
        struct auth_user u;
        memset(&u, 0, sizeof(u));
        int r = auth_db_lookup_pass(db, k, &u);
        FUZZ_ASSERT(r >= AUTHDB_TEMPFAIL && r <= AUTHDB_FOUND);
        if (r == AUTHDB_FOUND)
            FUZZ_ASSERT(u.user && u.fields);
        auth_user_free(&u);
        memset(&u, 0, sizeof(u));
        r = auth_db_lookup_user(db, k, &u);
        FUZZ_ASSERT(r >= AUTHDB_TEMPFAIL && r <= AUTHDB_FOUND);
        if (r == AUTHDB_FOUND)
            FUZZ_ASSERT(u.user && u.fields);
        auth_user_free(&u);
    }
    free(copy);
    auth_db_close(db);
    /* Each line also as a table value (passdb and userdb readings). */
    char *lines = xstrdup(text);
    for (char *l = strtok(lines, "\n"); l; l = strtok(NULL, "\n"))
        for (int want = 0; want < 2; want++) {
            struct auth_user u;
            memset(&u, 0, sizeof(u));
            if (auth_db_parse_table_value("user", l, want, &u, err, sizeof(err)) == 0)
                FUZZ_ASSERT(u.fields);
            auth_user_free(&u);
        }
    free(lines);
}

static void check_lines(const char *text, int aliases)
{
    struct tsrc src;
    tsrc_open_mem(&src, "fuzz", text);
    struct buf line, val, again;
    buf_init(&line, 0);
    buf_init(&val, TABLE_VALUE_MAX + 1);
    buf_init(&again, TABLE_VALUE_MAX + 1);
    int lineno = 0;
    char err[512];
    while (tsrc_next(&src, &line, &lineno, err, sizeof(err)) > 0) {
        FUZZ_ASSERT(line.len == strlen(line.data) && line.len <= TSRC_LINE_MAX);
        FUZZ_ASSERT(line.len > 0 && !isspace((unsigned char)line.data[0]));
        char *copy = xstrdup(line.data);
        const char *why = NULL;
        if (!aliases) {
            char *key, *value;
            if (table_parse_kv(copy, &key, &value, &why) == 0) {
                FUZZ_ASSERT(*key && *value);
                FUZZ_ASSERT(!isspace((unsigned char)value[0]) &&
                            !isspace((unsigned char)value[strlen(value) - 1]));
                FUZZ_ASSERT(strlen(key) <= TABLE_KEY_MAX);
            } else {
                FUZZ_ASSERT(why);
            }
        } else {
            char *name;
            if (table_parse_alias(copy, &name, &val, &why) == 0) {
                FUZZ_ASSERT(*name && val.len > 0 && val.len == strlen(val.data));
                char *line2 = xasprintf("x: %s", val.data);
                char *name2;
                const char *why2 = NULL;
                if (table_parse_alias(line2, &name2, &again, &why2) != 0 ||
                    strcmp(again.data, val.data) != 0) {
                    fprintf(stderr, "alias value \"%s\" normalises to \"%s\" (%s)\n", val.data,
                            why2 ? "" : again.data, why2 ? why2 : "");
                    FUZZ_ASSERT(!"normalised alias values are fixed points");
                }
                free(line2);
            } else {
                FUZZ_ASSERT(why);
            }
        }
        free(copy);
    }
    buf_free(&line);
    buf_free(&val);
    buf_free(&again);
    tsrc_close(&src);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_quiet();
    if (!path[0])
        str_fmt(path, sizeof(path), "%s/table", fuzz_dir());
    unsigned mode = data[0] % 12;
    data++;
    size--;
    const uint8_t *z = memchr(data, 0, size);
    size_t tlen = z ? (size_t)(z - data) : size;
    char *text = fuzz_strndup(data, tlen);
    char *keys = z ? fuzz_strndup(z + 1, size - tlen - 1) : xstrdup("");
    switch (mode) {
    case 0: open_file_table("texthash", text, tlen, keys); check_lines(text, 0); break;
    case 1: check_lines(text, 1); break;
    case 2: open_file_table("cidr", text, tlen, keys); break;
    case 3: open_file_table("regexp", text, tlen, keys); break;
    case 4: open_file_table("pcre", text, tlen, keys); break;
    case 5: open_inline("inline", text, keys); break;
    case 6: open_inline("cidr", text, keys); break;
    case 7: open_inline("regexp", text, keys); break;
    case 8: open_inline("pcre", text, keys); break;
    case 9: check_list(text, tlen, keys, 0); break;
    case 10: check_list(text, tlen, keys, 1); break;
    case 11: check_passwd(text, tlen, keys); break;
    }
    free(text);
    free(keys);
    return 0;
}
