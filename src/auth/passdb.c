/*
 * passdb.c - password and user databases for the auth service: Dovecot
 * passwd-files and yubin lookup tables, tried in order (see passdb.h).
 */
#include "auth/passdb.h"
#include "auth/scheme.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define PWFILE_MAX_SIZE   (64u << 20)  /* 64 MiB: millions of users */
#define PWFILE_LINE_MAX   16384
#define USER_NAME_MAX     255
#define FIELDS_MAX        128
#define RECHECK_MS        1000

void auth_user_free(struct auth_user *u)
{
    if (!u)
        return;
    free(u->user);
    if (u->password) {
        memset(u->password, 0, strlen(u->password));
        free(u->password);
    }
    free(u->uid);
    free(u->gid);
    free(u->home);
    strv_free(u->fields);
    memset(u, 0, sizeof(*u));
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char *dup_or_null(const char *s, size_t n)
{
    return n ? xstrndup(s, n) : NULL;
}

static int valid_user_name(const char *s, size_t n)
{
    if (n == 0 || n > USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7f || c == ':')
            return 0;
    }
    return 1;
}

/* uid/gid: a number or a system account name. */
static int valid_id(const char *s)
{
    if (!s)
        return 1;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return 0;
    return strlen(s) <= 64;
}

/* Append the blank-separated items of text to a NULL-terminated vector. */
static int add_fields(char ***v, size_t *n, const char *text, char *err, size_t errlen)
{
    const char *p = text;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        const char *e = p;
        while (*e && *e != ' ' && *e != '\t')
            e++;
        if (*n >= FIELDS_MAX) {
            set_err(err, errlen, "more than %d extra fields", FIELDS_MAX);
            return -1;
        }
        if (*p == '=') {
            set_err(err, errlen, "extra field without a name");
            return -1;
        }
        *v = xrealloc(*v, (*n + 2) * sizeof(**v));
        (*v)[(*n)++] = xstrndup(p, (size_t)(e - p));
        (*v)[*n] = NULL;
        p = e;
    }
    return 0;
}

static int check_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] < ' ' && s[i] != '\t') || s[i] == 0x7f)
            return -1;
    return 0;
}

int auth_passwd_file_parse_line(const char *line, struct auth_user *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(line);
    if (len && line[len - 1] == '\r')
        len--;
    size_t lead = 0;
    while (lead < len && (line[lead] == ' ' || line[lead] == '\t'))
        lead++;
    if (lead == len || line[lead] == '#')
        return 0;
    if (len > PWFILE_LINE_MAX) {
        set_err(err, errlen, "line too long");
        return -1;
    }
    if (check_control(line, len) < 0) {
        set_err(err, errlen, "control character in line");
        return -1;
    }
    /* Seven ':' separate eight fields; the last (extra fields) keeps any further ':'. */
    const char *f[8] = {0};
    size_t fl[8] = {0};
    const char *p = line, *end = line + len;
    int nf = 0;
    while (nf < 8) {
        const char *colon = nf < 7 ? memchr(p, ':', (size_t)(end - p)) : NULL;
        f[nf] = p;
        fl[nf] = (size_t)((colon ? colon : end) - p);
        nf++;
        if (!colon)
            break;
        p = colon + 1;
    }
    if (!valid_user_name(f[0], fl[0])) {
        set_err(err, errlen, "bad user name");
        return -1;
    }
    out->user = xstrndup(f[0], fl[0]);
    out->password = nf > 1 ? dup_or_null(f[1], fl[1]) : NULL;
    out->uid = nf > 2 ? dup_or_null(f[2], fl[2]) : NULL;
    out->gid = nf > 3 ? dup_or_null(f[3], fl[3]) : NULL;
    out->home = nf > 5 ? dup_or_null(f[5], fl[5]) : NULL;
    out->fields = xcalloc(1, sizeof(char *));
    if (!valid_id(out->uid) || !valid_id(out->gid)) {
        set_err(err, errlen, "bad uid or gid field");
        goto fail;
    }
    if (out->home && out->home[0] != '/') {
        set_err(err, errlen, "home directory is not an absolute path");
        goto fail;
    }
    if (out->password && strchr(out->password, '\t')) {
        set_err(err, errlen, "TAB in password field");
        goto fail;
    }
    if (nf > 7) {
        char *extra = xstrndup(f[7], fl[7]);
        size_t n = 0;
        int rc = add_fields(&out->fields, &n, extra, err, errlen);
        free(extra);
        if (rc < 0)
            goto fail;
    }
    return 1;
fail:
    auth_user_free(out);
    return -1;
}

/* "uid=1 gid=2 home=/x mail=..." (userdb) or "PASSWORD field ..." (passdb). */
int auth_db_parse_table_value(const char *user, const char *value, int want_password,
                             struct auth_user *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (check_control(value, strlen(value)) < 0) {
        set_err(err, errlen, "control character in value");
        return -1;
    }
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *e = p;
    while (*e && *e != ' ' && *e != '\t')
        e++;
    /* The first word is a password unless it is clearly a field (userdb use). */
    int first_is_password = want_password || (e > p && (*p == '{' || !memchr(p, '=', (size_t)(e - p))));
    out->user = xstrdup(user);
    out->fields = xcalloc(1, sizeof(char *));
    if (first_is_password) {
        if (want_password)
            out->password = dup_or_null(p, (size_t)(e - p));
        p = e;
    }
    char **items = xcalloc(1, sizeof(char *));
    size_t n = 0;
    if (add_fields(&items, &n, p, err, errlen) < 0) {
        strv_free(items);
        auth_user_free(out);
        return -1;
    }
    size_t nf = 0;
    for (size_t i = 0; i < n; i++) {
        char *it = items[i];
        const char *name = it;
        if (!want_password && strncmp(name, "userdb_", 7) == 0)
            name += 7;
        char **slot = NULL;
        if (!want_password) {
            if (strncmp(name, "uid=", 4) == 0)
                slot = &out->uid;
            else if (strncmp(name, "gid=", 4) == 0)
                slot = &out->gid;
            else if (strncmp(name, "home=", 5) == 0)
                slot = &out->home;
        }
        if (slot) {
            free(*slot);
            const char *v = strchr(name, '=') + 1;
            *slot = *v ? xstrdup(v) : NULL;
        } else {
            out->fields = xrealloc(out->fields, (nf + 2) * sizeof(char *));
            out->fields[nf++] = xstrdup(name);
            out->fields[nf] = NULL;
        }
    }
    strv_free(items);
    if (!valid_id(out->uid) || !valid_id(out->gid) || (out->home && out->home[0] != '/')) {
        set_err(err, errlen, "bad uid, gid or home field");
        auth_user_free(out);
        return -1;
    }
    return 0;
}

/* Split s at TABs (empty items dropped). */
static char **split_tabs(const char *s)
{
    size_t n = 0;
    char **v = xcalloc(1, sizeof(char *));
    while (*s) {
        const char *e = strchr(s, '\t');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len && n < FIELDS_MAX + 8) {
            v = xrealloc(v, (n + 2) * sizeof(char *));
            v[n++] = xstrndup(s, len);
            v[n] = NULL;
        }
        s += len + (e ? 1 : 0);
    }
    return v;
}

/* "name=value<TAB>name=value" from an sql:/ldap: source (table_dovecot.c). */
int auth_db_parse_fields(const char *user, const char *value, int want_password,
                         struct auth_user *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->user = xstrdup(user);
    out->fields = xcalloc(1, sizeof(char *));
    size_t nf = 0;
    char **items = split_tabs(value);
    for (size_t i = 0; items[i]; i++) {
        char *it = items[i], *eq = strchr(it, '=');
        const char *name = it, *v = eq ? eq + 1 : "";
        size_t nl = eq ? (size_t)(eq - it) : strlen(it);
        if (!want_password && nl > 7 && strncmp(name, "userdb_", 7) == 0) {
            name += 7;
            nl -= 7;
        }
        char **slot = NULL;
        if (want_password && nl == 8 && !strncmp(name, "password", 8))
            slot = &out->password;
        else if (nl == 4 && !strncmp(name, "user", 4))
            continue;   /* Dovecot may rename the user; yubin keeps the login name */
        else if (!want_password && nl == 3 && !strncmp(name, "uid", 3))
            slot = &out->uid;
        else if (!want_password && nl == 3 && !strncmp(name, "gid", 3))
            slot = &out->gid;
        else if (!want_password && nl == 4 && !strncmp(name, "home", 4))
            slot = &out->home;
        if (slot) {
            free(*slot);
            *slot = *v ? xstrdup(v) : NULL;
        } else if (nf < FIELDS_MAX && nl) {
            out->fields = xrealloc(out->fields, (nf + 2) * sizeof(char *));
            out->fields[nf++] = xstrdup(name);
            out->fields[nf] = NULL;
        }
    }
    strv_free(items);
    if (!valid_id(out->uid) || !valid_id(out->gid) || (out->home && out->home[0] != '/')) {
        set_err(err, errlen, "bad uid, gid or home field");
        auth_user_free(out);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* passwd-file                                                         */

struct pwfile {
    char *path;
    int loaded;            /* entries reflect the file */
    int broken;            /* the file could not be read: lookups fail temporarily */
    struct stat st;
    uint64_t checked;      /* mono_msec of the last stat */
    struct auth_user *v;   /* sorted by user */
    size_t n;
    int caps;
    const char *sample;    /* points into v */
};

static void pwfile_clear(struct pwfile *pf)
{
    for (size_t i = 0; i < pf->n; i++)
        auth_user_free(&pf->v[i]);
    free(pf->v);
    pf->v = NULL;
    pf->n = 0;
    pf->caps = 0;
    pf->sample = NULL;
}

struct sort_item {
    struct auth_user u;
    int line;
};

static int cmp_item(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    int c = strcmp(x->u.user, y->u.user);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int is_expensive(const char *stored, const char *default_scheme)
{
    char name[SCHEME_NAME_MAX];
    const char *data;
    if (auth_scheme_split(stored, default_scheme, name, sizeof(name), &data) < 0)
        return 0;
    return strstr(name, "CRYPT") || strncmp(name, "ARGON2", 6) == 0 ||
           strcmp(name, "SCRAM-SHA-256") == 0;
}

static int scheme_known_value(const char *stored, const char *default_scheme)
{
    char name[SCHEME_NAME_MAX];
    const char *data;
    return auth_scheme_split(stored, default_scheme, name, sizeof(name), &data) == 0 &&
           auth_scheme_known(name);
}

static int pwfile_load(struct pwfile *pf, const char *default_scheme)
{
    size_t len;
    errno = 0;
    char *text = read_file(pf->path, PWFILE_MAX_SIZE, &len);
    if (!text) {
        msg_error("passwd-file %s: cannot read: %s", pf->path,
                  errno ? strerror(errno) : "file too large");
        return -1;
    }
    struct sort_item *items = NULL;
    size_t n = 0, cap = 0;
    int lineno = 0;
    char *p = text, *end = text + len;
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *le = nl ? nl : end;
        lineno++;
        char err[128];
        struct auth_user u;
        int rc;
        if (memchr(p, '\0', (size_t)(le - p))) {
            rc = -1;
            str_copy(err, "NUL byte in line", sizeof(err));
        } else {
            *le = '\0';
            rc = auth_passwd_file_parse_line(p, &u, err, sizeof(err));
        }
        if (rc < 0)
            msg_warn("%s:%d: %s; line ignored", pf->path, lineno, err);
        if (rc > 0) {
            if (u.password && !scheme_known_value(u.password, default_scheme))
                msg_warn("%s:%d: user %s: unknown password scheme", pf->path, lineno, u.user);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                items = xrealloc(items, cap * sizeof(*items));
            }
            items[n].u = u;
            items[n].line = lineno;
            n++;
        }
        p = le + 1;
    }
    memset(text, 0, len);
    free(text);
    if (n)
        qsort(items, n, sizeof(*items), cmp_item);
    pwfile_clear(pf);
    pf->v = xcalloc(n ? n : 1, sizeof(*pf->v));
    for (size_t i = 0; i < n; i++) {
        if (pf->n && strcmp(pf->v[pf->n - 1].user, items[i].u.user) == 0) {
            msg_warn("%s:%d: duplicate user %s; the first entry is used", pf->path,
                     items[i].line, items[i].u.user);
            auth_user_free(&items[i].u);
            continue;
        }
        pf->v[pf->n++] = items[i].u;
    }
    free(items);
    for (size_t i = 0; i < pf->n; i++) {
        const char *pw = pf->v[i].password;
        if (!pw)
            continue;
        pf->caps |= auth_scheme_capabilities(pw, default_scheme);
        if (!pf->sample || (!is_expensive(pf->sample, default_scheme) &&
                            is_expensive(pw, default_scheme)))
            pf->sample = pw;
    }
    pf->loaded = 1;
    return 0;
}

/* Re-read the file if it changed (at most one stat per RECHECK_MS). */
static void pwfile_refresh(struct pwfile *pf, const char *default_scheme, int force)
{
    uint64_t now = mono_msec();
    if (!force && pf->loaded && now - pf->checked < RECHECK_MS)
        return;
    if (!force && pf->broken && now - pf->checked < RECHECK_MS)
        return;
    pf->checked = now;
    struct stat st;
    if (stat(pf->path, &st) < 0) {
        if (!pf->broken)
            msg_error("passwd-file %s: %s", pf->path, strerror(errno));
        pf->broken = 1;
        return;
    }
    if (pf->loaded && !pf->broken && st.st_ino == pf->st.st_ino && st.st_dev == pf->st.st_dev &&
        st.st_size == pf->st.st_size && st.st_mtim.tv_sec == pf->st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == pf->st.st_mtim.tv_nsec)
        return;
    if (pwfile_load(pf, default_scheme) < 0) {
        pf->broken = 1;
        return;
    }
    if (pf->broken || force)
        msg_info("passwd-file %s: %zu users", pf->path, pf->n);
    else
        msg_info("passwd-file %s changed: %zu users", pf->path, pf->n);
    pf->broken = 0;
    pf->st = st;
}

static const struct auth_user *pwfile_find(struct pwfile *pf, const char *user)
{
    size_t lo = 0, hi = pf->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(user, pf->v[mid].user);
        if (c == 0)
            return &pf->v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static char *dup_opt(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* Copy an entry; for userdb use, "userdb_" fields only, prefix removed. */
static void copy_user(const struct auth_user *src, struct auth_user *dst, int userdb)
{
    memset(dst, 0, sizeof(*dst));
    dst->user = xstrdup(src->user);
    dst->password = userdb ? NULL : dup_opt(src->password);
    dst->uid = dup_opt(src->uid);
    dst->gid = dup_opt(src->gid);
    dst->home = dup_opt(src->home);
    size_t n = strv_len(src->fields), k = 0;
    dst->fields = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *f = src->fields[i];
        int is_userdb = strncmp(f, "userdb_", 7) == 0;
        if (userdb && !is_userdb)
            continue;
        if (!userdb && is_userdb)
            continue;
        dst->fields[k++] = xstrdup(userdb ? f + 7 : f);
    }
}

/* ------------------------------------------------------------------ */
/* the list                                                            */

enum src_type { SRC_PWFILE, SRC_TABLE, SRC_DOVECOT };

struct source {
    enum src_type type;
    char *spec;
    struct pwfile pf;
    void *table;   /* struct table * (passdb_table.c) */
};

struct authdb {
    struct source *v;
    size_t n;
    char *default_scheme;
    char *last_sample;
};

/* Table sources live in passdb_table.c (lookup tables, table.h). */
void *auth_db_table_open(const char *spec, const struct config *cfg, char *err, size_t errlen);
void auth_db_table_close(void *t);
int auth_db_table_lookup(void *t, const char *key, char **value);

struct authdb *auth_db_open(const char *value, const struct config *cfg,
                           const char *default_scheme, char *err, size_t errlen)
{
    struct authdb *db = xcalloc(1, sizeof(*db));
    db->default_scheme = xstrdup(default_scheme && *default_scheme ? default_scheme : "CRYPT");
    if (!auth_scheme_known(db->default_scheme)) {
        set_err(err, errlen, "auth_default_pass_scheme: unknown password scheme \"%s\"",
                db->default_scheme);
        auth_db_close(db);
        return NULL;
    }
    size_t count;
    char **items = str_split_list(value ? value : "", &count);
    db->v = xcalloc(count ? count : 1, sizeof(*db->v));
    for (size_t i = 0; i < count; i++) {
        struct source *s = &db->v[db->n];
        s->spec = xstrdup(items[i]);
        if (strncmp(items[i], "passwd-file:", 12) == 0) {
            const char *path = items[i] + 12;
            if (path[0] != '/') {
                set_err(err, errlen, "%s: the passwd-file path must be absolute", items[i]);
                free(s->spec);
                goto fail;
            }
            s->type = SRC_PWFILE;
            s->pf.path = xstrdup(path);
            db->n++;
            pwfile_refresh(&s->pf, db->default_scheme, 1);
        } else {
            int dovecot = strncasecmp(items[i], "sql:", 4) == 0 ||
                          strncasecmp(items[i], "ldap:", 5) == 0;
            s->type = dovecot ? SRC_DOVECOT : SRC_TABLE;
            s->table = auth_db_table_open(items[i], cfg, err, errlen);
            if (!s->table) {
                free(s->spec);
                goto fail;
            }
            db->n++;
        }
    }
    strv_free(items);
    return db;
fail:
    strv_free(items);
    auth_db_close(db);
    return NULL;
}

void auth_db_close(struct authdb *db)
{
    if (!db)
        return;
    for (size_t i = 0; i < db->n; i++) {
        struct source *s = &db->v[i];
        if (s->type == SRC_PWFILE) {
            pwfile_clear(&s->pf);
            free(s->pf.path);
        } else {
            auth_db_table_close(s->table);
        }
        free(s->spec);
    }
    free(db->v);
    free(db->default_scheme);
    if (db->last_sample) {
        memset(db->last_sample, 0, strlen(db->last_sample));
        free(db->last_sample);
    }
    free(db);
}

size_t auth_db_count(const struct authdb *db)
{
    return db ? db->n : 0;
}

static int lookup(struct authdb *db, const char *user, struct auth_user *out, int userdb)
{
    int tempfail = 0;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; db && i < db->n; i++) {
        struct source *s = &db->v[i];
        if (s->type == SRC_PWFILE) {
            pwfile_refresh(&s->pf, db->default_scheme, 0);
            if (s->pf.broken) {
                tempfail = 1;
                continue;
            }
            const struct auth_user *u = pwfile_find(&s->pf, user);
            if (!u)
                continue;
            copy_user(u, out, userdb);
            if (out->password && strncmp(out->password, "{LDAP-BIND}", 11) == 0) {
                free(out->password);   /* only an ldap: source may ask for a bind */
                out->password = NULL;
            }
            return AUTHDB_FOUND;
        }
        char *value = NULL, key[USER_NAME_MAX + 8];
        if (s->type == SRC_DOVECOT)
            str_fmt(key, sizeof(key), "%s:%s", userdb ? "user" : "pass", user);
        int rc = auth_db_table_lookup(s->table, s->type == SRC_DOVECOT ? key : user, &value);
        if (rc < 0) {
            tempfail = 1;
            continue;
        }
        if (rc == 0)
            continue;
        char err[128];
        rc = s->type == SRC_DOVECOT
                 ? auth_db_parse_fields(user, value, !userdb, out, err, sizeof(err))
                 : auth_db_parse_table_value(user, value, !userdb, out, err, sizeof(err));
        /* Only an ldap: source with auth_bind says "bind to check the password". */
        if (rc == 0 && out->password && strncmp(out->password, "{LDAP-BIND}", 11) == 0 &&
            strncasecmp(s->spec, "ldap:", 5) != 0) {
            auth_user_free(out);
            str_copy(err, "unusable stored password", sizeof(err));
            rc = -1;
        }
        memset(value, 0, strlen(value));
        free(value);
        if (rc < 0) {
            msg_warn("%s: user %s: %s", s->spec, user, err);
            tempfail = 1;
            continue;
        }
        if (!userdb && out->password && is_expensive(out->password, db->default_scheme)) {
            free(db->last_sample);
            db->last_sample = xstrdup(out->password);
        }
        return AUTHDB_FOUND;
    }
    return tempfail ? AUTHDB_TEMPFAIL : AUTHDB_NOTFOUND;
}

int auth_db_lookup_pass(struct authdb *db, const char *user, struct auth_user *out)
{
    return lookup(db, user, out, 0);
}

int auth_db_lookup_user(struct authdb *db, const char *user, struct auth_user *out)
{
    return lookup(db, user, out, 1);
}

int auth_db_capabilities(struct authdb *db)
{
    int caps = 0;
    for (size_t i = 0; db && i < db->n; i++) {
        struct source *s = &db->v[i];
        if (s->type == SRC_PWFILE) {
            pwfile_refresh(&s->pf, db->default_scheme, 0);
            caps |= s->pf.caps;
        } else {
            caps |= auth_scheme_capabilities("x", db->default_scheme);
        }
    }
    return caps;
}

const char *auth_db_sample_password(struct authdb *db)
{
    for (size_t i = 0; db && i < db->n; i++)
        if (db->v[i].type == SRC_PWFILE && db->v[i].pf.sample)
            return db->v[i].pf.sample;
    return db ? db->last_sample : NULL;
}
