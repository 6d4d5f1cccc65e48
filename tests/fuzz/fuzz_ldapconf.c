/*
 * fuzz_ldapconf.c - what the LDAP tables and the auth service's sql:/ldap:
 * sources build from text they are given: the Dovecot .conf.ext reader,
 * connect strings and variable translation (lib-table/dovecot_conf.c),
 * RFC 4515/4514 escaping (lib-table/ldap_escape.c), and table_open of
 * ldap:, dovecot-ldap: and dovecot-sql: files (which never connect).
 *
 * Input: byte 0 picks which table type also parses the text; then the
 * file text, a NUL, and client values, one per line.
 *
 * Invariants beyond "no crash":
 *  - a filter-escaped value holds no '*', '(', ')', NUL, control or
 *    non-ASCII byte, every '\' starts a two-hex-digit escape, and
 *    decoding it gives the value back: a client value can only ever be an
 *    exact assertion value;
 *  - a DN-escaped value has no unescaped ',', '+', '=', ';', '<', '>',
 *    '"' or '\' and decodes back to the value;
 *  - a translated template only holds %s %u %d %% expansions.
 * max_len: 4096
 */
#include "fuzz.h"
#include "lib-table/dovecot_conf.h"
#include "lib-table/ldap_escape.h"
#include "lib-table/table.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void check_filter(const char *v, size_t len)
{
    struct buf b;
    buf_init(&b, 4 * len + 16);
    FUZZ_ASSERT(ldap_escape_filter(v, len, &b) == 0);
    const char *s = b.data ? b.data : "";
    size_t k = 0;
    for (size_t i = 0; i < b.len; i++, k++) {
        unsigned char c = (unsigned char)s[i];
        FUZZ_ASSERT(c >= 0x20 && c < 0x7f && c != '*' && c != '(' && c != ')');
        if (c == '\\') {
            FUZZ_ASSERT(i + 2 < b.len);
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            FUZZ_ASSERT(h >= 0 && l >= 0 && (char)(h * 16 + l) == v[k]);
            i += 2;
        } else {
            FUZZ_ASSERT(k < len && (char)c == v[k]);
        }
    }
    FUZZ_ASSERT(k == len);
    buf_free(&b);
}

static void check_dn(const char *v, size_t len)
{
    struct buf b;
    buf_init(&b, 4 * len + 16);
    FUZZ_ASSERT(ldap_escape_dn(v, len, &b) == 0);
    const char *s = b.data ? b.data : "";
    size_t k = 0;
    for (size_t i = 0; i < b.len; i++, k++) {
        FUZZ_ASSERT(!strchr(",+=;<>\"", s[i]) || s[i] == '\0');
        if (s[i] == '\\') {
            FUZZ_ASSERT(i + 1 < b.len);
            int h = hexval(s[i + 1]), l = i + 2 < b.len ? hexval(s[i + 2]) : -1;
            if (h >= 0 && l >= 0 && !strchr("\"+,;<>\\= #", s[i + 1])) {
                FUZZ_ASSERT((char)(h * 16 + l) == v[k]);
                i += 2;
            } else {
                FUZZ_ASSERT(s[i + 1] == v[k]);
                i += 1;
            }
        } else {
            FUZZ_ASSERT(s[i] == v[k]);
        }
    }
    FUZZ_ASSERT(k == len);
    buf_free(&b);
}

static void check_template(const char *t)
{
    struct buf b;
    buf_init(&b, DCONF_LINE_MAX);
    char err[256];
    if (dconf_template(t, &b, err, sizeof(err)) == 0) {
        const char *s = buf_cstr(&b);
        for (const char *p = strchr(s, '%'); p; p = strchr(p + 2, '%'))
            FUZZ_ASSERT(p[1] == 's' || p[1] == 'u' || p[1] == 'd' || p[1] == '%');
    }
    buf_free(&b);
}

static void run_conf(const char *text)
{
    struct dconf_item it[] = {{"driver", NULL, 0}, {"connect", NULL, 0},
                              {"password_query", NULL, 0}, {"pass_filter", NULL, 0}};
    char err[512];
    if (dconf_parse(text, strlen(text), "fuzz.conf", it, ARRAY_LEN(it), err, sizeof(err)) == 0) {
        char **kv;
        if (it[1].value && dconf_connect_split(it[1].value, &kv, err, sizeof(err)) == 0) {
            FUZZ_ASSERT(strv_len(kv) % 2 == 0);
            strv_free(kv);
        }
        for (size_t i = 2; i < ARRAY_LEN(it); i++)
            if (it[i].value)
                check_template(it[i].value);
    }
    dconf_free(it, ARRAY_LEN(it));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    struct fuzz_in in = {data, size};
    unsigned mode = fuzz_byte(&in);
    char *conf = fuzz_field(&in);
    char *values = fuzz_strndup(in.p, in.n);
    run_conf(conf);
    check_template(conf);
    for (char *save = NULL, *v = strtok_r(values, "\n", &save); v; v = strtok_r(NULL, "\n", &save)) {
        check_filter(v, strlen(v));
        check_dn(v, strlen(v));
    }
    check_filter((const char *)in.p, in.n);   /* with NULs */
    if (mode & 1) {
        static const char *const types[] = {"ldap", "dovecot-ldap", "dovecot-sql", "ldap"};
        char path[300], spec[400], err[1024];
        str_fmt(path, sizeof(path), "%s/t.cf", fuzz_dir());
        fuzz_write_file(path, conf, strlen(conf));
        str_fmt(spec, sizeof(spec), "%s:%s", types[(mode >> 1) & 3], path);
        struct table *t = table_open(spec, NULL, err, sizeof(err));
        if (t)
            table_close(t);
    }
    free(values);
    free(conf);
    return 0;
}
