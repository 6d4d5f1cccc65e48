/*
 * sieve_testsuite.c - a test-only program that runs one of Pigeonhole's
 * .svtest files with lib-sieve: it implements the commands and tests of
 * the vnd.dovecot.testsuite extension the files use (test, test_fail,
 * test_set, test_script_compile, test_script_run, test_result_action,
 * test_result_execute, test_result_reset, test_error, test_message
 * :folder, test_mailbox_create) as a caller's extension, and reports each
 * test.
 *
 * Usage: sieve_testsuite FILE.svtest
 *        sieve_testsuite -c FILE.sieve   (compile only, print the messages)
 * Prints "PASS name" / "FAIL name: why" per test and a summary line.
 * Exit: 0 every test passed, 1 a test failed or the file did not run,
 * 2 the file needs a capability or a testsuite command not implemented
 * (the script does not compile for that reason only).
 */
#include "lib-sieve/sieve.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stored {
    char *folder;
    char *flags;
    char *data;
    size_t len;
};

struct sent {                        /* what test_result_execute "sent" */
    char *from, *to, *data;
    size_t len;
};

struct suite {
    char dir[4096];
    char *message;                   /* current message */
    size_t message_len;
    char *env_from, *env_to, *env_auth;
    struct sieve_script *script;     /* test_script_compile */
    struct sieve_diag diag;          /* errors of the last compile or run */
    char **folders;                  /* test_mailbox_create */
    size_t nfolders;
    struct stored *store;            /* messages stored by test_result_execute */
    size_t nstore;
    struct sent *sent;               /* messages sent by it (redirect, vacation) */
    size_t nsent;
    int passed, failed;
    int in_test;
};

static struct suite S;
static const struct sieve_ext *suite_ext;

/* include: personal scripts in included/, global ones in included-global/, next to the .svtest. */
static int load_script(void *ctx, int global, const char *name, char **text, size_t *len)
{
    (void)ctx;
    char *path = xasprintf("%s/%s/%s.sieve", S.dir, global ? "included-global" : "included", name);
    *text = read_file(path, 1024 * 1024, len);
    free(path);
    return *text ? 0 : -1;
}
static const struct sieve_loader loader = { load_script, NULL };

static int folder_exists(const char *name);

static int exists_cb(void *ctx, const char *name)
{
    (void)ctx;
    return folder_exists(name);
}

static void suite_msg(struct sieve_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->data = S.message;
    m->len = S.message_len;
    m->env_from = S.env_from;
    m->env_to = S.env_to;
    m->env_auth = S.env_auth;
    m->mailbox_exists = exists_cb;
}

static void set_message(struct sieve_run *run, const char *data, size_t len)
{
    char *copy = xstrndup(data, len);
    free(S.message);
    S.message = copy;
    S.message_len = len;
    struct sieve_msg m;
    suite_msg(&m);
    sieve_run_set_msg(run, &m);
}

static void diag_add(const char *msg)
{
    S.diag.msgs = xrealloc(S.diag.msgs, (S.diag.n + 1) * sizeof(char *));
    S.diag.msgs[S.diag.n++] = xstrdup(msg);
    S.diag.errors++;
}

/* ---- commands ---- */

static int cmd_test(struct sieve_run *run, const struct sieve_node *n)
{
    char *name = sieve_run_string(run, n->pos[0]);
    sieve_run_reset_result(run);
    S.in_test = 1;
    int r = sieve_run_block(run, n->block, n->nblock);
    S.in_test = 0;
    if (r < 0) {
        printf("FAIL %s: %s\n", name, sieve_run_errmsg(run));
        S.failed++;
    } else {
        printf("PASS %s\n", name);
        S.passed++;
    }
    sieve_run_reset_result(run);
    free(name);
    return 0;
}

static int cmd_test_fail(struct sieve_run *run, const struct sieve_node *n)
{
    char *why = sieve_run_string(run, n->pos[0]);
    int r = sieve_run_error(run, n, "test_fail: %s", why);
    free(why);
    if (!S.in_test) {
        printf("FAIL (outside a test): %s\n", sieve_run_errmsg(run));
        S.failed++;
    }
    return r;
}

static int cmd_test_set(struct sieve_run *run, const struct sieve_node *n)
{
    char *what = sieve_run_string(run, n->pos[0]);
    char *val = sieve_run_string(run, n->pos[1]);
    int r = 0;
    char **slot = str_ieq(what, "envelope.from") ? &S.env_from
                : str_ieq(what, "envelope.to") ? &S.env_to
                : str_ieq(what, "envelope.auth") ? &S.env_auth : NULL;
    if (str_ieq(what, "message")) {
        set_message(run, val, strlen(val));
    } else if (slot) {
        free(*slot);
        *slot = xstrdup(val);
        struct sieve_msg m;
        suite_msg(&m);
        sieve_run_set_msg(run, &m);
    } else {
        r = sieve_run_error(run, n, "test_set: unknown object '%s'", what);
    }
    free(what);
    free(val);
    return r;
}

static int cmd_mailbox_create(struct sieve_run *run, const struct sieve_node *n)
{
    S.folders = xrealloc(S.folders, (S.nfolders + 1) * sizeof(char *));
    S.folders[S.nfolders++] = sieve_run_string(run, n->pos[0]);
    return 0;
}

static int folder_exists(const char *name)
{
    if (str_ieq(name, "INBOX"))
        return 1;
    for (size_t i = 0; i < S.nfolders; i++)
        if (sieve_folder_eq(S.folders[i], name))
            return 1;
    return 0;
}

static int cmd_result_reset(struct sieve_run *run, const struct sieve_node *n)
{
    (void)n;
    sieve_run_reset_result(run);
    sieve_run_set_flags(run, "");
    return 0;
}

/* test_message :folder NAME INDEX (a command, and a test that is true when it worked) */
static int cmd_message(struct sieve_run *run, const struct sieve_node *n)
{
    if (!n->tagv[0]) {       /* :smtp N */
        uint64_t i = n->pos[0]->num;
        if (i >= S.nsent)
            return sieve_run_error(run, n, "test_message: no sent message %llu",
                                   (unsigned long long)i);
        free(S.env_from);
        free(S.env_to);
        S.env_from = xstrdup(S.sent[i].from);
        S.env_to = xstrdup(S.sent[i].to);
        char *d = xstrndup(S.sent[i].data, S.sent[i].len);
        set_message(run, d, S.sent[i].len);
        free(d);
        return 0;
    }
    char *folder = sieve_run_string(run, n->tagv[0]);
    uint64_t want = n->pos[0]->num, seen = 0;
    int r = -1;
    for (size_t i = 0; i < S.nstore; i++) {
        if (!sieve_folder_eq(S.store[i].folder, folder))
            continue;
        if (seen++ == want) {
            char *d = xstrndup(S.store[i].data, S.store[i].len);
            set_message(run, d, S.store[i].len);
            sieve_run_set_flags(run, S.store[i].flags);
            free(d);
            r = 0;
            break;
        }
    }
    if (r < 0)
        r = sieve_run_error(run, n, "test_message: no message %llu in folder '%s'",
                            (unsigned long long)want, folder);
    free(folder);
    return r;
}

/* ---- tests ---- */

static int t_script_compile(struct sieve_run *run, const struct sieve_node *n)
{
    char *rel = sieve_run_string(run, n->pos[0]);
    char *path = xasprintf("%s/%s", S.dir, rel);
    free(rel);
    sieve_script_free(S.script);
    S.script = NULL;
    sieve_diag_free(&S.diag);
    size_t len;
    char *text = read_file(path, 1024 * 1024, &len);
    if (!text) {
        diag_add("script not found");
        free(path);
        return 0;
    }
    S.script = sieve_compile_with(text, len, NULL, suite_ext, 1, &loader, &S.diag);
    free(text);
    free(path);
    return S.script != NULL;
}

static int t_script_run(struct sieve_run *run, const struct sieve_node *n)
{
    sieve_diag_free(&S.diag);
    if (!S.script)
        return 0;
    struct sieve_msg m;
    suite_msg(&m);
    struct sieve_run *sub = sieve_run_new(S.script, &m, NULL);
    int r = sieve_run_script(sub);
    size_t nw;
    char *const *w = sieve_run_warnings(sub, &nw);
    for (size_t i = 0; i < nw; i++) {
        const char *p = strstr(w[i], "error: ");
        diag_add(p ? p + 7 : w[i]);
    }
    if (r < 0) {
        const char *e = sieve_run_errmsg(sub);
        const char *p = strstr(e, "error: ");
        diag_add(p ? p + 7 : e);
    }
    sieve_run_adopt_result(run, sub, n->tagv[0] != NULL);
    sieve_run_free(sub);
    return r == 0;
}

static const char *action_name(const struct sieve_action *a)
{
    switch (a->kind) {
    case SIEVE_ACT_KEEP: return "keep";
    case SIEVE_ACT_FILEINTO: return "store";
    case SIEVE_ACT_REDIRECT: return "redirect";
    case SIEVE_ACT_DISCARD: return "discard";
    case SIEVE_ACT_REJECT: return "reject";
    case SIEVE_ACT_EREJECT: return "reject";
    case SIEVE_ACT_VACATION: return "vacation";
    }
    return "?";
}

/* Values for test_result_action / test_error: all, or the :index'th (1-based). */
static int match_indexed(struct sieve_run *run, const struct sieve_node *n, char **all, size_t nall)
{
    if (n->tagv[0]) {
        uint64_t i = n->tagv[0]->num;
        if (i < 1 || i > nall)
            return 0;
        return sieve_run_match(run, n, &all[i - 1], 1, n->pos[0]);
    }
    return sieve_run_match(run, n, all, nall, n->pos[0]);
}

static int t_result_action(struct sieve_run *run, const struct sieve_node *n)
{
    const struct sieve_result *res = sieve_run_result(run);
    char **names = xcalloc(res->n + 1, sizeof(char *));
    for (size_t i = 0; i < res->n; i++)
        names[i] = xstrdup(action_name(&res->v[i]));
    int r = match_indexed(run, n, names, res->n);
    strv_free(names);
    return r;
}

static int t_error(struct sieve_run *run, const struct sieve_node *n)
{
    char **v = xcalloc(S.diag.n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < S.diag.n; i++) {
        const char *m = S.diag.msgs[i];
        if (strstr(m, ": warning: "))
            continue;
        const char *p = strstr(m, "error: ");
        v[k++] = xstrdup(p ? p + 7 : m);
    }
    int r = match_indexed(run, n, v, k);
    strv_free(v);
    return r;
}

static void add_sent(const char *from, const char *to, char *data, size_t len)
{
    S.sent = xrealloc(S.sent, (S.nsent + 1) * sizeof(*S.sent));
    S.sent[S.nsent].from = xstrdup(from);
    S.sent[S.nsent].to = xstrdup(to);
    S.sent[S.nsent].data = data;
    S.sent[S.nsent++].len = len;
}

/* A vacation reply or a redirected copy, as the LDA would send it. */
static void send_action(const struct sieve_action *a)
{
    struct sieve_msg m;
    suite_msg(&m);
    if (a->kind == SIEVE_ACT_VACATION) {
        char *out, *rcpt;
        size_t len;
        const char *why;
        if (sieve_vacation_compose(&m, a, NULL, &out, &len, &rcpt, &why) == 0) {
            add_sent("", rcpt, out, len);
            free(rcpt);
        }
        return;
    }
    const char *lt = strrchr(a->target, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char *to = lt && gt ? xstrndup(lt + 1, (size_t)(gt - lt - 1)) : xstrdup(a->target);
    add_sent(S.env_from ? S.env_from : "", to,
             xstrndup(S.message ? S.message : "", S.message_len), S.message_len);
    free(to);
}

/* Carry the result out: stores go into the suite's folders. */
static int t_result_execute(struct sieve_run *run, const struct sieve_node *n)
{
    (void)n;
    sieve_diag_free(&S.diag);
    for (size_t i = 0; i < S.nsent; i++) {     /* the dummy SMTP keeps one execution's mail */
        free(S.sent[i].from);
        free(S.sent[i].to);
        free(S.sent[i].data);
    }
    S.nsent = 0;
    struct sieve_result res;
    sieve_run_take_result(run, &res);
    int ok = 1;
    for (size_t i = 0; i < res.n && ok; i++) {
        const struct sieve_action *a = &res.v[i];
        if (a->kind == SIEVE_ACT_VACATION || a->kind == SIEVE_ACT_REDIRECT) {
            send_action(a);
            continue;
        }
        if (a->kind != SIEVE_ACT_KEEP && a->kind != SIEVE_ACT_FILEINTO)
            continue;
        const char *t = a->target;
        size_t tl = strlen(t);
        if (!tl || strstr(t, "//") || t[0] == '/' || t[tl - 1] == '/') {
            char *e = xasprintf("failed to store into mailbox '%s': invalid mailbox name", t);
            diag_add(e);
            free(e);
            ok = 0;
            break;
        }
        if (!folder_exists(t)) {
            if (!a->create) {
                char *e = xasprintf("failed to store into mailbox '%s': mailbox does not exist", t);
                diag_add(e);
                free(e);
                ok = 0;
                break;
            }
            S.folders = xrealloc(S.folders, (S.nfolders + 1) * sizeof(char *));
            S.folders[S.nfolders++] = xstrdup(t);
        }
        S.store = xrealloc(S.store, (S.nstore + 1) * sizeof(*S.store));
        S.store[S.nstore].folder = xstrdup(a->target);
        S.store[S.nstore].flags = xstrdup("");
        for (size_t f = 0; a->flags && a->flags[f]; f++) {
            char *j = xasprintf("%s%s%s", S.store[S.nstore].flags, f ? " " : "", a->flags[f]);
            free(S.store[S.nstore].flags);
            S.store[S.nstore].flags = j;
        }
        S.store[S.nstore].data = xstrndup(S.message ? S.message : "", S.message_len);
        S.store[S.nstore++].len = S.message_len;
    }
    sieve_result_free(&res);
    return ok;
}

static const struct sieve_tag_def index_tags[] = { { "index", 'N', NULL }, { NULL, 0, NULL } };
static const struct sieve_tag_def run_tags[] = { { "append_result", 0, NULL }, { NULL, 0, NULL } };
static const struct sieve_tag_def message_tags[] = { { "folder", 'S', NULL }, { "smtp", 0, NULL },
                                                     { NULL, 0, NULL } };

static int t_message(struct sieve_run *run, const struct sieve_node *n)
{
    return cmd_message(run, n) == 0;
}

static const struct sieve_cmd_def suite_defs[] = {
    { "test", 0, "vnd.dovecot.testsuite", "S", SIEVE_SIG_BLOCK, NULL, NULL, cmd_test },
    { "test_fail", 0, "vnd.dovecot.testsuite", "S", 0, NULL, NULL, cmd_test_fail },
    { "test_set", 0, "vnd.dovecot.testsuite", "SS", 0, NULL, NULL, cmd_test_set },
    { "test_mailbox_create", 0, "vnd.dovecot.testsuite", "S", 0, NULL, NULL, cmd_mailbox_create },
    { "test_result_reset", 0, "vnd.dovecot.testsuite", "", 0, NULL, NULL, cmd_result_reset },
    { "test_message", 0, "vnd.dovecot.testsuite", "N", 0, message_tags, NULL, cmd_message },
    { "test_message", 1, "vnd.dovecot.testsuite", "N", 0, message_tags, NULL, t_message },
    { "test_script_compile", 1, "vnd.dovecot.testsuite", "S", 0, NULL, NULL, t_script_compile },
    { "test_script_run", 1, "vnd.dovecot.testsuite", "", 0, run_tags, NULL, t_script_run },
    { "test_result_action", 1, "vnd.dovecot.testsuite", "L", SIEVE_SIG_MATCH, index_tags, NULL,
      t_result_action },
    { "test_result_execute", 1, "vnd.dovecot.testsuite", "", 0, NULL, NULL, t_result_execute },
    { "test_error", 1, "vnd.dovecot.testsuite", "L", SIEVE_SIG_MATCH, index_tags, NULL, t_error },
};
static const struct sieve_ext suite_ext_def = {
    "vnd.dovecot.testsuite", suite_defs, sizeof(suite_defs) / sizeof(suite_defs[0]),
};

static const char default_message[] =
    "From: sender@example.com\r\nTo: recipient@example.org\r\nSubject: Frop!\r\n\r\nFrop!\r\n";

/* Why the file did not compile: 2 when only unsupported capabilities or commands are at fault. */
static int unsupported_only(const struct sieve_diag *d)
{
    for (size_t i = 0; i < d->n; i++)
        if (strstr(d->msgs[i], "unknown Sieve capability"))
            return 1;
    for (size_t i = 0; i < d->n; i++)
        if (!strstr(d->msgs[i], "unknown Sieve capability") &&
            !strstr(d->msgs[i], "script compilation failed") &&
            !strstr(d->msgs[i], "unknown command 'test_") &&
            !strstr(d->msgs[i], "unknown test 'test_"))
            return 0;
    return d->n > 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "-c") == 0) {
        size_t n;
        char *t = read_file(argv[2], 1024 * 1024, &n);
        struct sieve_diag dd = { 0 };
        struct sieve_script *cs = t ? sieve_compile_with(t, n, NULL, &suite_ext_def, 1, &loader,
                                                         &dd) : NULL;
        for (size_t i = 0; i < dd.n; i++)
            printf("%s\n", dd.msgs[i]);
        printf("%s, %zu errors\n", cs ? "compiled" : "failed", dd.errors);
        sieve_script_free(cs);
        sieve_diag_free(&dd);
        free(t);
        return cs ? 0 : 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: sieve_testsuite FILE.svtest | -c FILE.sieve\n");
        return 1;
    }
    suite_ext = &suite_ext_def;
    str_copy(S.dir, argv[1], sizeof(S.dir));
    char *slash = strrchr(S.dir, '/');
    if (slash)
        *slash = '\0';
    else
        str_copy(S.dir, ".", sizeof(S.dir));
    size_t len;
    char *text = read_file(argv[1], 1024 * 1024, &len);
    if (!text) {
        perror(argv[1]);
        return 1;
    }
    S.message = xstrdup(default_message);
    S.message_len = strlen(default_message);
    S.env_from = xstrdup("sender@example.com");
    S.env_to = xstrdup("recipient@example.org");
    struct sieve_diag d = { 0 };
    struct sieve_script *s = sieve_compile_with(text, len, NULL, suite_ext, 1, &loader, &d);
    free(text);
    if (!s) {
        int unsup = unsupported_only(&d);
        for (size_t i = 0; i < d.n; i++)
            printf("%s %s\n", unsup ? "SKIP" : "ERROR", d.msgs[i]);
        sieve_diag_free(&d);
        return unsup ? 2 : 1;
    }
    struct sieve_msg m;
    suite_msg(&m);
    struct sieve_run *run = sieve_run_new(s, &m, NULL);
    int r = sieve_run_script(run);
    if (r < 0 && !S.failed) {
        printf("FAIL (script): %s\n", sieve_run_errmsg(run));
        S.failed++;
    }
    printf("summary: %d passed, %d failed\n", S.passed, S.failed);
    sieve_run_free(run);
    sieve_script_free(s);
    sieve_script_free(S.script);
    sieve_diag_free(&S.diag);
    return S.failed || !S.passed ? 1 : 0;
}
