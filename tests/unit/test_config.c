/*
 * test_config.c - main.cf / master.cf parsing, expansion, typed values,
 * diagnostics with file:line, defaults, service overrides and conf -e.
 */
#include "lib-conf/config.h"
#include "lib-conf/config_params.h"
#include "t.h"
#include "lib/util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];

static void write_text(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static char *read_text(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    return read_file(path, 1 << 20, NULL);
}

static void remove_file(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
}

/* Load main.cf text (and master.cf text, or none for the built-in one). */
static struct config *load(const char *main_cf, const char *master_cf, struct cfg_diags *d)
{
    write_text("main.cf", main_cf);
    if (master_cf)
        write_text("master.cf", master_cf);
    else
        remove_file("master.cf");
    return config_load(tmpdir, d);
}

/* Is there a diagnostic of this severity at this line whose text contains s? */
static int has_diag(const struct cfg_diags *d, int is_error, const char *file_suffix, int line,
                    const char *s)
{
    for (size_t i = 0; i < d->n; i++) {
        const struct cfg_diag *g = &d->v[i];
        if (g->is_error != is_error || g->line != line || !strstr(g->text, s))
            continue;
        size_t fl = g->file ? strlen(g->file) : 0, sl = strlen(file_suffix);
        if (fl >= sl && strcmp(g->file + fl - sl, file_suffix) == 0)
            return 1;
    }
    return 0;
}

static void dump(const struct cfg_diags *d)
{
    cfg_diags_print(d, stderr);
}

#define BASE "myhostname = mx.example.test\n"

/* ---------------------------------------------------------------- main.cf */

static void test_main_syntax(void)
{
    struct cfg_diags d = {0};
    struct config *c = load("# comment\n"
                            "\n"
                            "   # indented comment\n"
                            "myhostname=mx.example.test\n"
                            "mydestination = a,\n"
                            "  b\n"
                            "# a comment inside a continued line\n"
                            "\n"
                            "\tc\n"
                            "myorigin    =    example.test   \n"
                            "relayhost = [first]:25\n"
                            "relayhost = [second]:25\n"
                            "home_mailbox =\n",
                            NULL, &d);
    CHECK(c != NULL);
    if (!c) {
        dump(&d);
        return;
    }
    CHECK_STR(cfg_get(c, P_myhostname), "mx.example.test");
    CHECK_STR(cfg_get_raw(c, P_mydestination), "a, b c");
    CHECK_STR(cfg_get(c, P_myorigin), "example.test");
    CHECK_STR(cfg_get(c, P_relayhost), "[second]:25");
    CHECK(has_diag(&d, 0, "main.cf", 12, "overriding earlier entry: relayhost=[first]:25"));
    CHECK_STR(cfg_get(c, P_home_mailbox), "");
    CHECK(cfg_is_set(c, P_home_mailbox));
    CHECK(!cfg_is_set(c, P_mailbox_command));
    int line = 0;
    CHECK(cfg_set_where(c, P_mydestination, &line) != NULL);
    CHECK_INT(line, 5);
    CHECK_INT(cfg_diags_errors(&d), 0);
    config_free(c);
    cfg_diags_free(&d);
}

static void test_main_errors(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "mydestination = a,\n"
                            "   b\n"
                            "just_a_name\n"          /* line 4 */
                            "bad$name = 1\n"         /* line 5 */
                            "= value\n"              /* line 6 */
                            "ok = 1\n",
                            NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 4, "missing '=' after parameter name \"just_a_name\""));
    CHECK(has_diag(&d, 1, "main.cf", 5, "bad parameter name"));
    CHECK(has_diag(&d, 1, "main.cf", 6, "missing parameter name"));
    CHECK_INT(cfg_diags_errors(&d), 3);
    cfg_diags_free(&d);

    /* A continuation line before any parameter: warned and ignored, like Postfix. */
    c = load("  stray = 1\n" BASE, NULL, &d);
    CHECK(c != NULL);
    CHECK(has_diag(&d, 0, "main.cf", 1, "must not start with whitespace"));
    config_free(c);
    cfg_diags_free(&d);

    /* A NUL byte and a missing main.cf are errors, not crashes. */
    char path[512];
    snprintf(path, sizeof(path), "%s/main.cf", tmpdir);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CREAT, 0644);
    CHECK(write(fd, "a = b\0c\n", 8) == 8);
    close(fd);
    c = config_load(tmpdir, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 0, "NUL"));
    cfg_diags_free(&d);
    unlink(path);
    c = config_load(tmpdir, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 0, "cannot read"));
    cfg_diags_free(&d);

    /* A logical line over the limit. */
    size_t big = 1100 * 1024;
    char *text = xmalloc(big + 64);
    memcpy(text, "mydestination = ", 16);
    memset(text + 16, 'a', big);
    memcpy(text + 16 + big, "\nok=1\n", 7);
    c = load(text, NULL, &d);
    free(text);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 1, "longer than"));
    cfg_diags_free(&d);
}

/* ---------------------------------------------------------------- expansion */

static void test_expansion_forms(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "full = yes\n"
                            "empty =\n"
                            "e1 = $full\n"
                            "e2 = ${full}\n"
                            "e3 = $(full)\n"
                            "e4 = [${full?text}] [${empty?text}]\n"
                            "e5 = [${full:text}] [${empty:text}]\n"
                            "e6 = [${full?{a b}:{c d}}] [${empty?{a b}:{c d}}]\n"
                            "e7 = [${full?{set}}] [${empty:{unset}}]\n"
                            "e8 = [${empty?{a}:plain text}]\n"
                            "e9 = cost $$5 and $$full\n"
                            "e10 = [$nonexistent_param] [${nonexistent_param}]\n"
                            "e11 = ${full?{$myhostname}:{nothing}}\n"
                            "e12 = $full$full-$(full)_x\n"
                            "e13 = ${full?:colon in text}\n"
                            "e14 = $full\n"
                            "e15 = $full\n"
                            "e16 = ${{$full} == {yes} ? {eq} : {ne}} ${{a} != {a} ? {ne} : {eq}}\n"
                            "e17 = ${{10} < {9} ? {lt} : {ge}} ${{b} < {a} ? {lt} : {ge}}\n"
                            "e18 = ${{3.10} >level {3.6} ? {newer} : {older}} "
                            "${{3.10} > {3.6} ? {gt} : {le}}\n"
                            "e19 = ${{$compatibility_level} <level {2} ? {old} : {new}}\n"
                            "e20 = ${ { 1 } <= { 1 } ? { yes } : { no } }\n"
                            "e21 = ${{1} >= {2} ? {yes}}\n"
                            "e22 = ${full?{outer ${empty?{x}:{inner}}}}\n"
                            "e23 = ${{007} == {7} ? {num} : {str}}\n",
                            NULL, &d);
    CHECK(c != NULL);
    if (!c) {
        dump(&d);
        return;
    }
    CHECK_STR(cfg_get_by_name(c, "e1"), "yes");
    CHECK_STR(cfg_get_by_name(c, "e2"), "yes");
    CHECK_STR(cfg_get_by_name(c, "e3"), "yes");
    CHECK_STR(cfg_get_by_name(c, "e4"), "[text] []");
    CHECK_STR(cfg_get_by_name(c, "e5"), "[] [text]");
    CHECK_STR(cfg_get_by_name(c, "e6"), "[a b] [c d]");
    CHECK_STR(cfg_get_by_name(c, "e7"), "[set] [unset]");
    CHECK_STR(cfg_get_by_name(c, "e8"), "[plain text]");
    CHECK_STR(cfg_get_by_name(c, "e9"), "cost $5 and $full");
    CHECK_STR(cfg_get_by_name(c, "e10"), "[] []");
    CHECK_STR(cfg_get_by_name(c, "e11"), "mx.example.test");
    CHECK_STR(cfg_get_by_name(c, "e12"), "yesyes-yes_x");
    CHECK_STR(cfg_get_by_name(c, "e13"), ":colon in text");

    CHECK_STR(cfg_get_by_name(c, "e16"), "eq eq");
    CHECK_STR(cfg_get_by_name(c, "e17"), "ge ge");
    CHECK_STR(cfg_get_by_name(c, "e18"), "newer le");
    CHECK_STR(cfg_get_by_name(c, "e19"), "new");
    CHECK_STR(cfg_get_by_name(c, "e20"), "yes");
    CHECK_STR(cfg_get_by_name(c, "e21"), "");
    CHECK_STR(cfg_get_by_name(c, "e22"), "outer inner");
    CHECK_STR(cfg_get_by_name(c, "e23"), "num");
    /* Raw values stay raw. */
    CHECK_STR(cfg_get_raw_by_name(c, "e2"), "${full}");
    /* Expanding arbitrary text. */
    char *x = cfg_expand(c, "<$myhostname ${full?on}>");
    CHECK_STR(x, "<mx.example.test on>");
    free(x);
    /* The reference to $nonexistent_param is reported, conditional tests are not. */
    CHECK(has_diag(&d, 0, "main.cf", 13, "reference to undefined parameter $nonexistent_param"));
    CHECK(!has_diag(&d, 0, "main.cf", 8, "undefined"));
    config_free(c);
    cfg_diags_free(&d);
}

static void test_expansion_errors(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "loop_a = x $loop_b\n"          /* 2 */
                            "loop_b = ${loop_c}\n"          /* 3 */
                            "loop_c = $loop_a\n"            /* 4 */
                            "self = $self\n"                /* 5 */
                            "unclosed = ${myhostname\n"     /* 6 */
                            "noname = ${}\n"                /* 7 */
                            "badop = ${myhostname!x}\n"     /* 8 */
                            "badrel = ${{a} =~ {b} ? {x}}\n" /* 9 */
                            "badlevel = ${{x} <level {1} ? {a} : {b}}\n" /* 10 */
                            "junk = ${myhostname?{a} junk}\n" /* 11 */
                            "lone = trailing $\n"              /* 12 */
                            "lone2 = $% literal\n",            /* 13 */
                            NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 2, "recursion loop"));
    CHECK(has_diag(&d, 1, "main.cf", 5, "recursion loop: $self -> $self"));
    CHECK(has_diag(&d, 1, "main.cf", 6, "missing '}'"));
    CHECK(has_diag(&d, 1, "main.cf", 7, "bad parameter name"));
    CHECK(has_diag(&d, 1, "main.cf", 8, "unexpected \"!\""));
    CHECK(has_diag(&d, 1, "main.cf", 9, "malformed relational expression"));
    CHECK(has_diag(&d, 1, "main.cf", 10, "bad compatibility level"));
    CHECK(has_diag(&d, 1, "main.cf", 11, "unexpected text"));
    CHECK(has_diag(&d, 1, "main.cf", 12, "'$' without a parameter name"));
    CHECK(has_diag(&d, 1, "main.cf", 13, "'$' without a parameter name"));
    cfg_diags_free(&d);

    /* Too deep. */
    char text[8192];
    size_t off = 0;
    off += (size_t)snprintf(text + off, sizeof(text) - off, BASE);
    for (int i = 0; i < 100; i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "deep%d = $deep%d\n", i, i + 1);
    snprintf(text + off, sizeof(text) - off, "deep100 = bottom\n");
    c = load(text, NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 2, "nested more than"));
    cfg_diags_free(&d);

    /* Too big: each level multiplies the size by 16. */
    c = load(BASE
             "b0 = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
             "b1 = $b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0$b0\n"
             "b2 = $b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1$b1\n"
             "b3 = $b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2$b2\n"
             "b4 = $b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3$b3\n"
             "b5 = $b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4$b4\n",
             NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 7, "longer than"));
    cfg_diags_free(&d);

    /* A loop made at run time (cfg_set) does not crash; it expands to nothing. */
    c = load(BASE, NULL, &d);
    CHECK(c != NULL);
    if (c) {
        cfg_set(c, "ping", "a $pong");
        cfg_set(c, "pong", "b $ping");
        const char *v = cfg_get_by_name(c, "ping");
        CHECK(v != NULL && strncmp(v, "a b", 3) == 0);
        config_free(c);
    }
    cfg_diags_free(&d);
}

static void test_set_invalidates(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE "mydomain = example.test\n", NULL, &d);
    CHECK(c != NULL);
    if (!c)
        return;
    const char *before = cfg_get(c, P_mydestination);
    CHECK_STR(before, "mx.example.test, localhost.example.test, localhost");
    cfg_set(c, "myhostname", "other.example.test");
    CHECK_STR(cfg_get(c, P_mydestination), "other.example.test, localhost.example.test, localhost");
    CHECK_STR(cfg_get(c, P_smtpd_banner), "other.example.test ESMTP yubin");
    /* The pointer handed out earlier is still valid. */
    CHECK_STR(before, "mx.example.test, localhost.example.test, localhost");
    CHECK(cfg_is_set(c, P_myhostname));
    config_free(c);
    cfg_diags_free(&d);
}

/* ---------------------------------------------------------------- values */

static void test_typed_values(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "smtpd_timeout = 30\n"
                            "smtp_connect_timeout = 5m\n"
                            "minimal_backoff_time = 2h\n"
                            "maximal_queue_lifetime = 1d\n"
                            "bounce_queue_lifetime = 1w\n"
                            "delay_warning_time = 4\n"
                            "queue_run_delay = 10s\n"
                            "smtpd_error_sleep_time = 2\n"
                            "message_size_limit = 0\n"
                            "smtpd_helo_required = yes\n"
                            "disable_vrfy_command = true\n"
                            "strict_rfc821_envelopes = NO\n"
                            "smtpd_recipient_limit = 50\n"
                            "hopcount_limit = $smtpd_recipient_limit\n"
                            "mydestination = a, b c,,d {e f}\n",
                            NULL, &d);
    CHECK(c != NULL);
    if (!c) {
        dump(&d);
        return;
    }
    CHECK_INT(cfg_get_time(c, P_smtpd_timeout), 30);
    CHECK_INT(cfg_get_time(c, P_smtp_connect_timeout), 300);
    CHECK_INT(cfg_get_time(c, P_minimal_backoff_time), 7200);
    CHECK_INT(cfg_get_time(c, P_maximal_queue_lifetime), 86400);
    CHECK_INT(cfg_get_time(c, P_bounce_queue_lifetime), 604800);
    CHECK_INT(cfg_get_time(c, P_delay_warning_time), 4 * 3600); /* default unit h */
    CHECK_INT(cfg_get_time(c, P_queue_run_delay), 10);
    CHECK_INT(cfg_get_time_ms(c, P_smtpd_error_sleep_time), 2000);
    CHECK_INT(cfg_get_size(c, P_message_size_limit), 0);
    CHECK_INT(cfg_get_bool(c, P_smtpd_helo_required), 1);
    CHECK_INT(cfg_get_bool(c, P_disable_vrfy_command), 1);
    CHECK_INT(cfg_get_bool(c, P_strict_rfc821_envelopes), 0);
    CHECK_INT(cfg_get_int(c, P_smtpd_recipient_limit), 50);
    CHECK_INT(cfg_get_int(c, P_hopcount_limit), 50);
    /* Defaults with units and expressions. */
    CHECK_INT(cfg_get_time(c, P_maximal_backoff_time), 4000);
    CHECK_INT(cfg_get_int(c, P_smtpd_hard_error_limit), 20);
    CHECK_INT(cfg_get_bool(c, P_smtputf8_enable), 1);
    CHECK_INT(cfg_get_size(c, P_mailbox_size_limit), 51200000);
    char **v = cfg_get_list(c, P_mydestination);
    CHECK_INT(strv_len(v), 5);
    CHECK_STR(v[0], "a");
    CHECK_STR(v[3], "d");
    CHECK_STR(v[4], "{e f}");
    strv_free(v);
    v = cfg_get_list(c, P_relay_domains);
    CHECK_INT(strv_len(v), 0);
    strv_free(v);
    /* A bad value set at run time falls back to the default. */
    cfg_set(c, "smtpd_timeout", "soon");
    CHECK_INT(cfg_get_time(c, P_smtpd_timeout), 300);
    config_free(c);
    cfg_diags_free(&d);
}

static void test_bad_values(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "smtpd_timeout = 3x\n"              /* 2 */
                            "smtp_helo_timeout = 5mm\n"         /* 3 */
                            "smtpd_recipient_limit = many\n"    /* 4 */
                            "smtpd_helo_required = perhaps\n"   /* 5 */
                            "message_size_limit = 10M\n"        /* 6 */
                            "hopcount_limit = 99999999999999999999999\n" /* 7 */
                            "queue_run_delay = -5\n"            /* 8 */
                            "address_verify_poll_delay = junk\n",  /* 9: not implemented: ignored */
                            NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 2, "smtpd_timeout: bad time value \"3x\""));
    CHECK(has_diag(&d, 1, "main.cf", 3, "bad time value"));
    CHECK(has_diag(&d, 1, "main.cf", 4, "smtpd_recipient_limit: bad numerical value \"many\""));
    CHECK(has_diag(&d, 1, "main.cf", 5, "bad boolean value"));
    CHECK(has_diag(&d, 1, "main.cf", 6, "bad size value"));
    CHECK(has_diag(&d, 1, "main.cf", 7, "bad numerical value"));
    CHECK(has_diag(&d, 1, "main.cf", 8, "bad time value"));
    CHECK(!has_diag(&d, 1, "main.cf", 9, "bad"));
    CHECK(has_diag(&d, 0, "main.cf", 9, "not implemented"));
    CHECK_INT(cfg_diags_errors(&d), 7);
    /* The formatted diagnostic reads FILE:LINE: error: TEXT. */
    char line[1024];
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].line == 2) {
            cfg_diag_format(&d.v[i], line, sizeof(line));
            CHECK(strstr(line, "/main.cf:2: error: smtpd_timeout: bad time value \"3x\"") != NULL);
        }
    cfg_diags_free(&d);
}

static void test_defaults(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE, NULL, &d);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(d.n, 0);
    CHECK_INT(cfg_get_int(c, P_smtpd_recipient_limit), 1000);
    CHECK_INT(cfg_get_size(c, P_message_size_limit), 10240000);
    CHECK_INT(cfg_get_time(c, P_smtpd_timeout), 300);
    CHECK_INT(cfg_get_int(c, P_default_process_limit), 100);
    CHECK_STR(cfg_get(c, P_mydomain), "example.test");
    CHECK_STR(cfg_get(c, P_mydestination), "mx.example.test, localhost.example.test, localhost");
    CHECK_STR(cfg_get(c, P_myorigin), "mx.example.test");
    CHECK_STR(cfg_get(c, P_compatibility_level), "3.6");
    CHECK_STR(cfg_get(c, P_mynetworks_style), "host");
    CHECK_STR(cfg_get(c, P_relay_domains), "");
    CHECK_STR(cfg_get(c, P_smtpd_relay_restrictions),
              "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination");
    CHECK_STR(cfg_get(c, P_queue_directory), "/var/spool/yubin");
    CHECK_STR(cfg_get(c, P_data_directory), "/var/lib/yubin");
    CHECK_STR(cfg_get(c, P_mail_owner), "yubin");
    CHECK_STR(cfg_get(c, P_setgid_group), "yubin");
    CHECK_STR(cfg_get(c, P_syslog_name), "yubin");
    CHECK_STR(cfg_get(c, P_mail_name), "yubin");
    CHECK_STR(cfg_get(c, P_smtpd_banner), "mx.example.test ESMTP yubin");
    CHECK_STR(cfg_get(c, P_smtpd_forbid_bare_newline), "normalize");
    CHECK_STR(cfg_get(c, P_alias_maps), "hash:/etc/aliases");
    CHECK_STR(cfg_get(c, P_local_transport), "local:mx.example.test");
    CHECK_STR(cfg_get(c, P_smtpd_tls_security_level), "");
    CHECK_STR(cfg_get(c, P_smtp_tls_fingerprint_digest), "sha256");
    CHECK_STR(cfg_get_raw(c, P_smtpd_timeout), "${stress?{10}:{300}}s");
    char *real = realpath(tmpdir, NULL);
    CHECK_STR(cfg_get(c, P_config_directory), real);
    CHECK_STR(cfg_dir(c), real);
    char *p = cfg_path(c, P_process_id_directory);
    CHECK_STR(p, "/var/spool/yubin/pid");
    free(p);
    free(real);
    /* mynetworks (host style) trusts loopback first. */
    const char *mn = cfg_get(c, P_mynetworks);
    CHECK(mn && strncmp(mn, "127.0.0.0/8", 11) == 0);
    /* The catalogue: sorted, every Postfix name, implemented flags. */
    CHECK(cfg_param_count() > 800);
    for (size_t i = 1; i < cfg_param_count(); i++)
        CHECK(strcmp(cfg_param_name(i - 1), cfg_param_name(i)) < 0);
    CHECK(cfg_param_implemented("smtpd_recipient_limit"));
    CHECK(cfg_param_implemented("virtual_mailbox_maps"));
    CHECK(!cfg_param_implemented("lmtp_sasl_auth_enable"));
    CHECK(!cfg_param_implemented("address_verify_map"));
    CHECK(cfg_param_implemented("smtpd_milters"));
    CHECK(!cfg_param_implemented("no_such_parameter"));
    CHECK(cfg_param_known(c, "lmtp_sasl_auth_enable"));
    CHECK(cfg_param_known(c, "relay_destination_concurrency_limit")); /* built-in master.cf */
    CHECK(!cfg_param_known(c, "nosuch_destination_concurrency_limit"));
    CHECK_STR(cfg_get_by_name(c, "relay_destination_concurrency_limit"), "20");
    CHECK_STR(cfg_get(c, P_local_destination_concurrency_limit), "2");
    CHECK_STR(cfg_param_default_by_name(c, "mydestination"),
              "mx.example.test, localhost.example.test, localhost");
    CHECK(cfg_get_by_name(c, "no_such_parameter") == NULL);
    CHECK(cfg_get_raw_by_name(c, "no_such_parameter") == NULL);
    config_free(c);
    cfg_diags_free(&d);

    /* Without myhostname: an FQDN from the system or NAME.localdomain; mydomain follows. */
    c = load("", NULL, &d);
    CHECK(c != NULL);
    if (c) {
        const char *h = cfg_get(c, P_myhostname), *dm = cfg_get(c, P_mydomain);
        CHECK(h && strchr(h, '.'));
        CHECK(dm && strcmp(dm, strchr(h, '.') + 1) == 0);
        config_free(c);
    }
    cfg_diags_free(&d);
    /* A short explicit myhostname: mydomain falls back to localdomain. */
    c = load("myhostname = shorty\n", NULL, &d);
    CHECK(c && strcmp(cfg_get(c, P_mydomain), "localdomain") == 0);
    config_free(c);
    cfg_diags_free(&d);
    /* $mydomain inside myhostname, mydomain not set: empty there (Postfix reads
     * myhostname first), whichever of the two is expanded first (a fuzz find). */
    for (int order = 0; order < 2; order++) {
        c = load("myhostname = mx.$mydomain.example.test\n", NULL, &d);
        CHECK(c != NULL);
        if (c) {
            const char *first = cfg_get(c, order ? P_mydomain : P_myhostname);
            CHECK(first != NULL);
            CHECK_STR(cfg_get(c, P_myhostname), "mx..example.test");
            CHECK_STR(cfg_get(c, P_mydomain), ".example.test");
            config_free(c);
        }
        cfg_diags_free(&d);
    }
    /* compatibility_level below 2: Postfix's old defaults. */
    c = load(BASE "compatibility_level = 0\n", NULL, &d);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(cfg_get(c, P_mynetworks_style), "subnet");
        CHECK_STR(cfg_get(c, P_relay_domains), "mx.example.test, localhost.example.test, localhost");
        CHECK_INT(cfg_get_bool(c, P_smtputf8_enable), 0);
        config_free(c);
    }
    cfg_diags_free(&d);
}

static void test_unknown_parameters(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "foo = bar\n"                                   /* 2 */
                            "address_verify_map = x\n"                      /* 3 */
                            "lmtp_sasl_auth_enable = yes\n"                 /* 4 */
                            "biff = yes\n"                                  /* 5: = default */
                            "my_restrictions = permit_mynetworks, reject\n" /* 6 */
                            "smtpd_recipient_restrictions = $my_restrictions\n"
                            "smtpd_restriction_classes = strict\n"          /* 8 */
                            "strict = reject\n"                             /* 9 */
                            "relay_destination_concurrency_limit = 5\n"     /* 10 */
                            "relay_destination_rate_delay = 1s\n"           /* 11 */
                            "mydestination = $myhostname $undefined_thing\n", /* 12 */
                            NULL, &d);
    CHECK(c != NULL);
    CHECK(has_diag(&d, 0, "main.cf", 2,
                   "unknown parameter \"foo\" (not a Postfix or yubin parameter; ignored)"));
    CHECK(has_diag(&d, 0, "main.cf", 3,
                   "parameter \"address_verify_map\" is not implemented by yubin and is ignored"));
    CHECK(has_diag(&d, 0, "main.cf", 4, "\"lmtp_sasl_auth_enable\" is not implemented"));
    CHECK(!has_diag(&d, 0, "main.cf", 5, "biff"));
    CHECK(!has_diag(&d, 0, "main.cf", 6, "my_restrictions"));
    CHECK(!has_diag(&d, 0, "main.cf", 9, "strict"));
    CHECK(!has_diag(&d, 0, "main.cf", 10, "relay"));
    CHECK(has_diag(&d, 0, "main.cf", 11, "relay_destination_rate_delay\" is not implemented"));
    CHECK(has_diag(&d, 0, "main.cf", 12, "mydestination: reference to undefined parameter $undefined_thing"));
    CHECK_INT(cfg_diags_errors(&d), 0);
    if (c) {
        CHECK_INT(cfg_get_int_by_name(c, "relay_destination_concurrency_limit"), 5);
        CHECK_STR(cfg_get(c, P_smtpd_recipient_restrictions), "permit_mynetworks, reject");
        char **names = cfg_set_names(c);
        int has_foo = 0, has_my = 0;
        for (char **p = names; *p; p++) {
            has_foo |= strcmp(*p, "foo") == 0;
            has_my |= strcmp(*p, "my_restrictions") == 0;
        }
        CHECK(!has_foo);
        CHECK(has_my);
        strv_free(names);
        config_free(c);
    }
    cfg_diags_free(&d);
}

/* ---------------------------------------------------------------- master.cf */

static void test_master_columns(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE "default_process_limit = 42\n",
                            "# master.cf\n"
                            "smtp      inet  n       -       n       -       -       smtpd\n"  /* 2 */
                            "127.0.0.1:2525 inet n - n - 3 smtpd\n"                            /* 3 */
                            "  -o smtpd_tls_security_level=encrypt\n"
                            "  -o { smtpd_client_restrictions = permit_mynetworks, reject }\n"
                            "  -osyslog_name=yubin/submission\n"
                            "  -o smtpd_helo_restrictions=\n"
                            "[::1]:2526 inet n - n - - smtpd -o address_verify_map=x\n"  /* 8 */
                            "submission inet n - n - - smtpd\n"                                /* 9 */
                            "pickup    unix  n       -       n       60      1       pickup\n" /* 10 */
                            "qmgr      unix  n       -       n       300?    1       qmgr\n"   /* 11 */
                            "virtual   unix  -       n       n       -       -       virtual\n"
                            "local     unix  y       y       n       0       20      local\n"
                            "relay     unix  -       -       n       -       -       smtp\n"
                            "   -o smtp_helo_timeout=5 -o smtp_helo_timeout=7\n"
                            "cleanup   unix  n       -       n       -       0       cleanup\n"
                            "rewrite   unix  -       -       n       -       -       trivial-rewrite\n"
                            "maildrop  unix  -       n       n       -       -       pipe\n"  /* 18 */
                            "  flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient} -o x\n"
                            "smtpd     pass  -       -       n       -       -       smtpd\n"  /* 20 */
                            "postlog   unix-dgram n  -       n       -       1       postlogd\n"
                            "chrooted  unix  -       -       y       -       -       smtp\n",   /* 22 */
                            &d);
    CHECK(c != NULL);
    if (!c) {
        dump(&d);
        return;
    }
    CHECK_INT(cfg_service_count(c), 15);
    const struct master_service *s = cfg_service_find(c, "smtp", SVC_INET);
    CHECK(s != NULL);
    if (s) {
        CHECK(s->host == NULL);
        CHECK_STR(s->port, "smtp");
        CHECK_INT(s->private_, 0);
        CHECK_INT(s->unpriv, 1);
        CHECK_INT(s->chroot, 0);
        CHECK_INT(s->maxproc, 42);
        CHECK_INT(s->maxproc_default, 1);
        CHECK_STR(s->command, "smtpd");
        CHECK_INT(s->line, 2);
        CHECK_INT(cfg_service_role(s), SVC_ROLE_RUN);
    }
    s = cfg_service_find(c, "127.0.0.1:2525", SVC_INET);
    CHECK(s != NULL);
    if (s) {
        CHECK_STR(s->host, "127.0.0.1");
        CHECK_STR(s->port, "2525");
        CHECK_INT(s->maxproc, 3);
        CHECK_INT(strv_len(s->overrides), 4);
        CHECK_STR(s->overrides[0], "smtpd_tls_security_level=encrypt");
        CHECK_STR(s->overrides[1], "smtpd_client_restrictions=permit_mynetworks, reject");
        CHECK_STR(s->overrides[2], "syslog_name=yubin/submission");
        CHECK_STR(s->overrides[3], "smtpd_helo_restrictions=");
        CHECK_INT(strv_len(s->args), 0);
        CHECK_INT(cfg_service_procs(c, s), 3 < sysconf(_SC_NPROCESSORS_ONLN) ? 3 : sysconf(_SC_NPROCESSORS_ONLN));
    }
    s = cfg_service_find(c, "[::1]:2526", SVC_INET);
    CHECK(s && strcmp(s->host, "::1") == 0 && strcmp(s->port, "2526") == 0);
    s = cfg_service_find(c, "submission", SVC_INET);
    CHECK(s && s->host == NULL && strcmp(s->port, "submission") == 0);
    s = cfg_service_find(c, "pickup", SVC_UNIX);
    CHECK(s && s->wakeup == 60 && !s->wakeup_if_used && cfg_service_procs(c, s) == 1);
    s = cfg_service_find(c, "qmgr", SVC_UNIX);
    CHECK(s && s->wakeup == 300 && s->wakeup_if_used && s->private_ == 0);
    s = cfg_service_find(c, "virtual", SVC_UNIX);
    CHECK(s && s->unpriv == 0 && s->private_ == 1 && s->private_col == '-');
    CHECK(s && cfg_service_procs(c, s) == 8);
    s = cfg_service_find(c, "local", SVC_UNIX);
    CHECK(s && s->wakeup == 0 && !s->wakeup_default && s->maxproc == 20);
    CHECK(s && cfg_service_procs(c, s) == 8);
    s = cfg_service_find(c, "relay", SVC_UNIX);
    CHECK(s && strv_len(s->overrides) == 1 && strcmp(s->overrides[0], "smtp_helo_timeout=7") == 0);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_RUN);
    s = cfg_service_find(c, "cleanup", SVC_UNIX);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_BUILTIN && cfg_service_procs(c, s) == 0);
    s = cfg_service_find(c, "rewrite", SVC_UNIX);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_BUILTIN);
    s = cfg_service_find(c, "maildrop", SVC_UNIX);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_RUN && cfg_service_procs(c, s) == 4);
    CHECK(s && strv_len(s->args) == 7 && strcmp(s->args[3], "-d") == 0 &&
          strcmp(s->args[5], "-o") == 0 && strv_len(s->overrides) == 0);
    /* issue 11: the smtpd behind postscreen runs (it was "not implemented" before) */
    s = cfg_service_find(c, "smtpd", SVC_PASS);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_RUN);
    s = cfg_service_find(c, "postlog", SVC_UNIX_DGRAM);
    CHECK(s && cfg_service_role(s) == SVC_ROLE_BUILTIN);
    CHECK(!has_diag(&d, 0, "master.cf", 18, "not implemented"));        /* pipe(8) runs */
    CHECK(!has_diag(&d, 0, "master.cf", 20, "not implemented"));
    CHECK(has_diag(&d, 0, "master.cf", 22, "service chrooted: chroot is not implemented"));
    CHECK(!has_diag(&d, 0, "master.cf", 16, "cleanup"));
    /* -o names are checked like main.cf names, at master.cf:LINE. */
    CHECK(!has_diag(&d, 0, "master.cf", 3, "smtpd_tls_security_level"));   /* implemented */
    CHECK(has_diag(&d, 0, "master.cf", 8, "\"address_verify_map\" is not implemented"));
    CHECK_INT(cfg_diags_errors(&d), 0);
    /* Per-service parameter names exist for every service. */
    CHECK(cfg_param_known(c, "maildrop_destination_recipient_limit"));
    config_free(c);
    cfg_diags_free(&d);
}

static void test_master_errors(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE,
                            "smtp inet n - n - - smtpd\n"               /* 1 */
                            "short unix n - n\n"                        /* 2 */
                            "x tcp n - n - - smtpd\n"                   /* 3 */
                            "y unix maybe - n - - qmgr\n"               /* 4 */
                            "z unix n - n - lots qmgr\n"                /* 5 */
                            "w unix n - n soon - qmgr\n"                /* 6 */
                            "# comment\n"
                            "nosuchport inet n - n - - smtpd\n"         /* 8 */
                            "::1:25 inet n - n - - smtpd\n"             /* 9 */
                            "[::1 inet n - n - - smtpd\n"               /* 10 */
                            "bad/name unix n - n - - qmgr\n"            /* 11 */
                            "smtp inet n - n - - smtpd\n"               /* 12 */
                            "o1 unix n - n - - smtp -o\n"               /* 13 */
                            "o2 unix n - n - - smtp -o novalue\n"       /* 14 */
                            "o3 unix n - n - - smtp -o {a = b\n"        /* 15 */
                            "o4 unix n - n - - smtp\n"                  /* 16 */
                            "   -o smtp_helo_timeout=never\n"           /* 17 (continues 16) */
                            "0 inet n - n - - smtpd\n"                  /* 18 */
                            "70000 inet n - n - - smtpd\n",             /* 19 */
                            &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "master.cf", 2, "expected 8 columns"));
    CHECK(has_diag(&d, 1, "master.cf", 3, "bad service type \"tcp\""));
    CHECK(has_diag(&d, 1, "master.cf", 4, "bad private column \"maybe\""));
    CHECK(has_diag(&d, 1, "master.cf", 5, "bad maxproc column \"lots\""));
    CHECK(has_diag(&d, 1, "master.cf", 6, "bad wakeup column \"soon\""));
    CHECK(has_diag(&d, 1, "master.cf", 8, "unknown port or service \"nosuchport\""));
    CHECK(has_diag(&d, 1, "master.cf", 9, "[address]:port"));
    CHECK(has_diag(&d, 1, "master.cf", 10, "bad inet service name"));
    CHECK(has_diag(&d, 1, "master.cf", 11, "bad unix service name"));
    CHECK(has_diag(&d, 1, "master.cf", 12, "duplicate service smtp/inet (first defined at line 1)"));
    CHECK(has_diag(&d, 1, "master.cf", 13, "-o at the end"));
    CHECK(has_diag(&d, 1, "master.cf", 14, "expected name=value"));
    CHECK(has_diag(&d, 1, "master.cf", 15, "missing '}'"));
    CHECK(has_diag(&d, 1, "master.cf", 16, "smtp_helo_timeout: bad time value \"never\""));
    CHECK(has_diag(&d, 1, "master.cf", 18, "unknown port"));
    CHECK(has_diag(&d, 1, "master.cf", 19, "unknown port"));
    CHECK_INT(cfg_diags_errors(&d), 16);
    cfg_diags_free(&d);
}

static void test_master_builtin(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE, NULL, &d);
    CHECK(c != NULL);
    if (!c)
        return;
    CHECK_INT(d.n, 0);      /* no chroot warnings for the built-in table */
    CHECK_INT(cfg_service_count(c), 7);
    static const char *const names[] = {"smtp", "pickup", "qmgr", "virtual", "local", "smtp", "relay"};
    static const char *const cmds[] = {"smtpd", "pickup", "qmgr", "virtual", "local", "smtp", "smtp"};
    for (size_t i = 0; i < 7 && i < cfg_service_count(c); i++) {
        CHECK_STR(cfg_service(c, i)->name, names[i]);
        CHECK_STR(cfg_service(c, i)->command, cmds[i]);
        CHECK_INT(cfg_service_role(cfg_service(c, i)), SVC_ROLE_RUN);
    }
    const struct master_service *s = cfg_service_find(c, "smtp", SVC_INET);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(s && cfg_service_procs(c, s) == (cpus > 100 ? 100 : cpus));
    CHECK(cfg_service_find(c, "qmgr", SVC_UNIX)->wakeup == 300);
    CHECK(cfg_service_find(c, "smtp", SVC_UNIX) != cfg_service_find(c, "smtp", SVC_INET));
    CHECK(cfg_service_find(c, "nosuch", SVC_UNIX) == NULL);
    char *sp = cfg_unix_socket_path(c, "pickup");
    CHECK_STR(sp, "/var/spool/yubin/public/pickup");
    free(sp);
    sp = cfg_unix_socket_path(c, "virtual");
    CHECK_STR(sp, "/var/spool/yubin/private/virtual");
    free(sp);
    sp = cfg_unix_socket_path(c, "not-in-master-cf");
    CHECK_STR(sp, "/var/spool/yubin/private/not-in-master-cf");
    free(sp);
    config_free(c);
    cfg_diags_free(&d);
}

static void test_apply_service(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "mua_client_restrictions = permit_sasl_authenticated, reject\n"
                            "smtpd_banner = $myhostname ESMTP $mail_name ($service_name)\n",
                            "smtp inet n - n - - smtpd\n"
                            "sub unix n - n - - smtpd -o myhostname=sub.example.test\n"
                            "  -o smtpd_client_restrictions=$mua_client_restrictions\n"
                            "  -o syslog_name=yubin/$service_name\n"
                            "  -o smtpd_timeout=10s\n"
                            "  -o nosuch_param=1\n",
                            &d);
    CHECK(c != NULL);
    if (!c) {
        dump(&d);
        return;
    }
    CHECK(has_diag(&d, 0, "master.cf", 2, "unknown parameter \"nosuch_param\""));
    CHECK(!has_diag(&d, 0, "main.cf", 2, "mua_client_restrictions"));
    const struct master_service *s = cfg_service_find(c, "sub", SVC_UNIX);
    CHECK(s != NULL);
    if (s) {
        cfg_apply_service(c, s);
        CHECK_STR(cfg_get(c, P_myhostname), "sub.example.test");
        CHECK_STR(cfg_get(c, P_smtpd_banner), "sub.example.test ESMTP yubin (sub)");
        CHECK_STR(cfg_get(c, P_smtpd_client_restrictions), "permit_sasl_authenticated, reject");
        CHECK_STR(cfg_get(c, P_syslog_name), "yubin/sub");
        CHECK_STR(cfg_get(c, P_mydestination), "sub.example.test, localhost.example.test, localhost");
        CHECK_INT(cfg_get_time(c, P_smtpd_timeout), 10);
    }
    config_free(c);
    cfg_diags_free(&d);
}

/* ---------------------------------------------------------------- conf -e */

static void test_edit_main(void)
{
    char err[256];
    write_text("main.cf", "# top comment\n"
                          "mydestination = a,\n"
                          "    b\n"
                          "# middle comment\n"
                          "myorigin = x\n"
                          "\n"
                          "relayhost = old\n"
                          "   # comment inside a continued definition\n"
                          "   [more]:25\n"
                          "# end");
    CHECK_INT(config_edit_main(tmpdir, "mydestination", "  new, value  ", err, sizeof(err)), 0);
    CHECK_INT(config_edit_main(tmpdir, "relayhost", "[smarthost]:587", err, sizeof(err)), 0);
    CHECK_INT(config_edit_main(tmpdir, "smtpd_banner", "$myhostname ESMTP", err, sizeof(err)), 0);
    char *t = read_text("main.cf");
    CHECK_STR(t, "# top comment\n"
                 "mydestination = new, value\n"
                 "# middle comment\n"
                 "myorigin = x\n"
                 "\n"
                 "   # comment inside a continued definition\n"
                 "relayhost = [smarthost]:587\n"
                 "# end\n"
                 "smtpd_banner = $myhostname ESMTP\n");
    free(t);
    /* Duplicates are all replaced, like postconf -e. */
    write_text("main.cf", "a = 1\nb = 2\na = 3\n");
    CHECK_INT(config_edit_main(tmpdir, "a", "9", err, sizeof(err)), 0);
    t = read_text("main.cf");
    CHECK_STR(t, "a = 9\nb = 2\na = 9\n");
    free(t);
    /* Similar names are left alone. */
    write_text("main.cf", "ab = 1\na_b = 2\n");
    CHECK_INT(config_edit_main(tmpdir, "a", "3", err, sizeof(err)), 0);
    t = read_text("main.cf");
    CHECK_STR(t, "ab = 1\na_b = 2\na = 3\n");
    free(t);
    /* Bad input is refused and the file is untouched. */
    CHECK(config_edit_main(tmpdir, "bad name", "x", err, sizeof(err)) < 0);
    CHECK(strstr(err, "bad parameter name") != NULL);
    CHECK(config_edit_main(tmpdir, "a", "x\ny = z", err, sizeof(err)) < 0);
    t = read_text("main.cf");
    CHECK_STR(t, "ab = 1\na_b = 2\na = 3\n");
    free(t);
    /* A missing main.cf is created; the result loads. */
    remove_file("main.cf");
    CHECK_INT(config_edit_main(tmpdir, "myhostname", "mx.example.test", err, sizeof(err)), 0);
    struct cfg_diags d = {0};
    remove_file("master.cf");
    struct config *c = config_load(tmpdir, &d);
    CHECK(c && strcmp(cfg_get(c, P_myhostname), "mx.example.test") == 0);
    config_free(c);
    cfg_diags_free(&d);
    /* No temporary files are left behind. */
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls -a %s | grep -q tmp", tmpdir);
    CHECK(system(cmd) != 0);
}

static void test_lenient_load(void)
{
    write_text("main.cf", "queue_directory = /srv/q\nbroken line\nsmtpd_timeout = never\n");
    write_text("master.cf", "smtp inet n - n\n");
    struct config *c = config_load_lenient(tmpdir);
    CHECK(c != NULL);
    CHECK_STR(cfg_get(c, P_queue_directory), "/srv/q");
    CHECK_INT(cfg_service_count(c), 7);     /* unusable master.cf: the built-in one */
    config_free(c);
    remove_file("master.cf");
}

static void test_defaults_config(void)
{
    write_text("main.cf", "this is not valid\n");
    remove_file("master.cf");
    struct config *c = config_defaults(tmpdir);
    CHECK(c != NULL);
    CHECK_STR(cfg_param_default_raw_by_name(c, "smtpd_recipient_limit"), "1000");
    CHECK_STR(cfg_param_default_raw_by_name(c, "mydestination"), "$myhostname, localhost.$mydomain, localhost");
    CHECK_INT(cfg_service_count(c), 7);
    config_free(c);
}

/* ---------------------------------------------------------------- params.def */

/* The constants index the table, which is sorted and searched by name. */
static void test_param_constants(void)
{
    CHECK_INT(cfg_param_count(), P__COUNT);
    CHECK_STR(cfg_param_name(P_smtpd_recipient_limit), "smtpd_recipient_limit");
    CHECK_STR(cfg_param_name(P_2bounce_notice_recipient), "2bounce_notice_recipient");
    CHECK_STR(cfg_param_name(P_lmtp_tls_CAfile), "lmtp_tls_CAfile");
    CHECK_STR(cfg_param_name(P__COUNT - 1), cfg_param_table[cfg_param_table_len - 1].name);
    for (size_t i = 0; i < P__COUNT; i++) {
        CHECK(cfg_param_def(cfg_param_name(i)) == &cfg_param_table[i]);
        if (i > 0)
            CHECK(strcmp(cfg_param_name(i - 1), cfg_param_name(i)) < 0);
        const struct param_def *r = &cfg_param_table[i];
        CHECK(r->min <= r->max);
        /* Ranges only where `yubin check` enforces them. */
        if (r->min != NOMIN || r->max != NOMAX)
            CHECK((r->flags & IMPL) &&
                  (r->type == PT_INT || r->type == PT_TIME || r->type == PT_SIZE));
    }
    CHECK_STR(cfg_param_builtin(P_auth_mechanisms), "plain, login, cram-md5, scram-sha-256");
    CHECK(cfg_param_builtin(P_myhostname) == NULL);     /* computed at run time */
}

/* Every default is the table's, valid for its type and inside its range. */
static void test_param_defaults_in_range(void)
{
    write_text("main.cf", BASE);
    remove_file("master.cf");
    struct config *c = config_defaults(tmpdir);
    CHECK(c != NULL);
    for (size_t i = 0; i < P__COUNT; i++) {
        const struct param_def *r = &cfg_param_table[i];
        if (!(r->flags & IMPL))
            continue;
        CHECK_STR(cfg_get_raw(c, i), cfg_param_default_raw_by_name(c, r->name));
        long long v;
        if (r->type == PT_INT)
            v = cfg_get_int(c, i);
        else if (r->type == PT_TIME)
            v = cfg_get_time(c, i);
        else if (r->type == PT_SIZE)
            v = cfg_get_size(c, i);
        else
            continue;
        if (v < r->min || v > r->max)
            fprintf(stderr, "%s: default %lld outside %lld..%lld\n", r->name, v, r->min, r->max);
        CHECK(v >= r->min && v <= r->max);
    }
    CHECK_INT(cfg_get_int(c, P_smtpd_recipient_limit), 1000);
    CHECK_INT(cfg_get_int(c, P_reject_code), 554);
    CHECK_INT(cfg_get_size(c, P_bounce_size_limit), 50000);
    CHECK_INT(cfg_get_time(c, P_maximal_queue_lifetime), 5 * 86400);
    CHECK_STR(cfg_get(c, P_auth_mechanisms), "plain, login, cram-md5, scram-sha-256");
    config_free(c);
}

/* Values outside the table's range stop the load, with file:line. */
static void test_param_ranges(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE
                            "smtpd_recipient_limit = 0\n"          /* 2: >= 1 */
                            "maximal_queue_lifetime = 101d\n"      /* 3: <= 100d */
                            "reject_code = 250\n"                  /* 4: 400..599 */
                            "smtpd_timeout = 0s\n"                 /* 5: >= 1 */
                            "bounce_size_limit = 0\n"              /* 6: >= 1 */
                            "line_length_limit = 511\n"            /* 7: >= 512 */
                            "defer_code = 600\n"                   /* 8: 400..599 */
                            "bounce_queue_lifetime = 100d\n"       /* 9: the maximum: fine */
                            "queue_minfree = 0\n"                  /* 10: the minimum: fine */
                            "smtpd_error_sleep_time = 0\n"         /* 11: fine */
                            "address_verify_poll_count = 0\n",     /* 12: not implemented */
                            NULL, &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 2,
                   "smtpd_recipient_limit: value \"0\" is out of range (must be >= 1)"));
    CHECK(has_diag(&d, 1, "main.cf", 3,
                   "maximal_queue_lifetime: value \"101d\" is out of range (must be between 0 "
                   "and 8640000 seconds)"));
    CHECK(has_diag(&d, 1, "main.cf", 4, "reject_code: value \"250\" is out of range (must be "
                   "between 400 and 599)"));
    CHECK(has_diag(&d, 1, "main.cf", 5, "smtpd_timeout: value \"0s\" is out of range"));
    CHECK(has_diag(&d, 1, "main.cf", 6, "bounce_size_limit: value \"0\" is out of range"));
    CHECK(has_diag(&d, 1, "main.cf", 7, "line_length_limit: value \"511\" is out of range"));
    CHECK(has_diag(&d, 1, "main.cf", 8, "defer_code: value \"600\" is out of range"));
    CHECK_INT(cfg_diags_errors(&d), 7);
    char line[1024] = "";
    for (size_t i = 0; i < d.n; i++)
        if (d.v[i].line == 2)
            cfg_diag_format(&d.v[i], line, sizeof(line));
    CHECK(strstr(line, "/main.cf:2: error: smtpd_recipient_limit: value \"0\" is out of range")
          != NULL);
    cfg_diags_free(&d);

    /* A value that reaches the range through $name, and a -o override. */
    c = load(BASE "few = 0\nsmtpd_recipient_limit = $few\n",
             "smtp inet n - n - - smtpd\n"
             "submission inet n - n - - smtpd -o smtpd_timeout=0\n", &d);
    CHECK(c == NULL);
    CHECK(has_diag(&d, 1, "main.cf", 3, "smtpd_recipient_limit: value \"0\" is out of range"));
    CHECK(has_diag(&d, 1, "master.cf", 2, "smtpd_timeout: value \"0\" is out of range"));
    cfg_diags_free(&d);

    /* Where no check ran (cfg_set), the getter logs and uses the default. */
    c = load(BASE, NULL, &d);
    CHECK(c != NULL);
    cfg_set(c, "smtpd_recipient_limit", "0");
    cfg_set(c, "maximal_queue_lifetime", "200d");
    cfg_set(c, "reject_code", "250");
    CHECK_INT(cfg_get_int(c, P_smtpd_recipient_limit), 1000);
    CHECK_INT(cfg_get_time(c, P_maximal_queue_lifetime), 5 * 86400);
    CHECK_INT(cfg_get_int(c, P_reject_code), 554);
    cfg_set(c, "smtpd_recipient_limit", "1");
    CHECK_INT(cfg_get_int(c, P_smtpd_recipient_limit), 1);
    config_free(c);
    cfg_diags_free(&d);
}

/* Reading a parameter with the getter of another type is an invariant failure. */
static void test_param_type_invariant(void)
{
    struct cfg_diags d = {0};
    struct config *c = load(BASE, NULL, &d);
    CHECK(c != NULL);
    for (int k = 0; k < 4; k++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0)
                dup2(fd, 2);
            if (k == 0)
                (void)cfg_get_int(c, P_myhostname);         /* a string */
            else if (k == 1)
                (void)cfg_get_bool(c, P_smtpd_recipient_limit);
            else if (k == 2)
                (void)cfg_get_time(c, P_message_size_limit);
            else
                (void)cfg_get(c, (enum param_id)P__COUNT);  /* no such row */
            _exit(0);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    }
    /* Any type reads as a string or a list. */
    CHECK_STR(cfg_get(c, P_smtpd_recipient_limit), "1000");
    char **v = cfg_get_list(c, P_smtpd_recipient_limit);
    CHECK(v[0] && strcmp(v[0], "1000") == 0 && !v[1]);
    strv_free(v);
    config_free(c);
    cfg_diags_free(&d);
}

int main(void)
{
    str_copy(tmpdir, "/tmp/yubin-test-config.XXXXXX", sizeof(tmpdir));
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    T_RUN(test_main_syntax);
    T_RUN(test_main_errors);
    T_RUN(test_expansion_forms);
    T_RUN(test_expansion_errors);
    T_RUN(test_set_invalidates);
    T_RUN(test_typed_values);
    T_RUN(test_bad_values);
    T_RUN(test_defaults);
    T_RUN(test_unknown_parameters);
    T_RUN(test_master_columns);
    T_RUN(test_master_errors);
    T_RUN(test_master_builtin);
    T_RUN(test_apply_service);
    T_RUN(test_edit_main);
    T_RUN(test_lenient_load);
    T_RUN(test_defaults_config);
    T_RUN(test_param_constants);
    T_RUN(test_param_defaults_in_range);
    T_RUN(test_param_ranges);
    T_RUN(test_param_type_invariant);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return T_DONE();
}
