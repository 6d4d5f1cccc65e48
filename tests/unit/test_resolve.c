/* Unit tests for address resolution (resolve.h): domain classes, the
 * recipient validity check, virtual alias expansion with loops and
 * limits, local alias expansion and transport selection, each loaded from
 * a temporary main.cf with config_load(). */
#include "t.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-route/resolve.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[256];
static char why[1024];
static struct config *cfgs[32];
static int ncfg;

static const char *path(const char *name)
{
    static char p[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", dir, name);
    return p[i];
}

static void write_file(const char *name, const char *text)
{
    FILE *f = fopen(path(name), "w");
    if (!f) {
        perror(name);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
}

static const char base_cf[] =
    "myhostname = mx.example.test\n"
    "mydomain = example.test\n"
    "mydestination = $myhostname, localhost, local.example\n"
    "inet_interfaces = 127.0.0.1\n"
    "proxy_interfaces = 192.0.2.10\n"
    "virtual_alias_domains = valias.example\n"
    "virtual_alias_maps = texthash:DIR/virtual\n"
    "virtual_mailbox_domains = vmbox.example, both.example\n"
    "virtual_mailbox_maps = texthash:DIR/vmailbox\n"
    "relay_domains = relay.example\n"
    "relay_recipient_maps = inline:{ known@relay.example=x }\n"
    "local_recipient_maps = proxy:unix:passwd.byname $alias_maps\n"
    "alias_maps = hash:DIR/aliases\n"
    "recipient_delimiter = +\n"
    "transport_maps = texthash:DIR/transport\n"
    "relayhost = [smarthost.example]:587\n";

/* Load a main.cf made of base_cf plus `extra` (later lines win). */
static struct resolver *make(const char *extra)
{
    char sub[300], text[4096];
    snprintf(sub, sizeof(sub), "%s/cf%d", dir, ncfg);
    mkdir(sub, 0755);
    snprintf(text, sizeof(text), "%s%s", base_cf, extra ? extra : "");
    /* DIR -> the test directory */
    char out[8192];
    size_t o = 0;
    for (const char *p = text; *p && o + 300 < sizeof(out); p++) {
        if (strncmp(p, "DIR", 3) == 0) {
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", dir);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    char mp[400];
    snprintf(mp, sizeof(mp), "%s/main.cf", sub);
    FILE *f = fopen(mp, "w");
    fputs(out, f);
    fclose(f);
    struct cfg_diags d = {0};
    struct config *cfg = config_load(sub, &d);
    if (!cfg)
        cfg_diags_print(&d, stderr);
    cfg_diags_free(&d);
    CHECK(cfg != NULL);
    if (!cfg)
        exit(1);
    cfgs[ncfg++] = cfg;
    struct resolver *r = resolver_new(cfg);
    CHECK(r != NULL);
    return r;
}

static void write_tables(void)
{
    write_file("virtual",
               "valias.example anything\n"
               "known@valias.example  target@remote.example\n"
               "list@valias.example   a@remote.example, b@remote.example known@valias.example\n"
               "self@valias.example   self@valias.example, other@remote.example\n"
               "loop1@valias.example  loop2@valias.example\n"
               "loop2@valias.example  loop1@valias.example\n"
               "user@ext.example      dest@remote.example\n"
               "@catch.example        catchall@remote.example\n"
               "@rewrite.example      @newdomain.example, extra@remote.example\n"
               "unq@valias.example    localuser\n"
               "\"quoted name\"@valias.example  \"q r\"@remote.example\n"
               "chain1@valias.example chain2@valias.example\n"
               "chain2@valias.example chain3@valias.example\n"
               "chain3@valias.example final@remote.example\n"
               "dup@valias.example    x@remote.example, X@remote.example, x@remote.example\n"
               "aliased@vmbox.example mbx@vmbox.example\n"
               "root@mx.example.test  root@mx.example.test\n");
    write_file("vmailbox", "mbx@vmbox.example  vmbox.example/mbx/\n");
    write_file("aliases",
               "root: admin, root\n"
               "admin: /var/log/admin.log, \"|/usr/bin/procmail -a x\", :include:/etc/list,\n"
               "  remote@remote.example\n"
               "list: a, b\n"
               "owner-list: listadmin\n"
               "a: \\a, a2@remote.example\n"
               "loopa: loopb\n"
               "loopb: loopa\n"
               "user: u@remote.example\n"
               "user+special: special@remote.example\n"
               "alias1: root\n");
    char err[1024], spec[600];
    snprintf(spec, sizeof(spec), "hash:%s", path("aliases"));
    if (table_build(spec, 1, 1, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    write_file("transport",
               "special@remote.example   smtp:[special.example]\n"
               "remote2.example          relay:[gw.example]:25\n"
               ".sub.example             uucp:subgw\n"
               "sub.example              smtp\n"
               "blocked.example          error:5.7.1 no mail for you\n"
               "nh.example               :[only-nexthop.example]\n"
               "keep.example             :\n");
}

static void test_classes(void)
{
    struct resolver *r = make(NULL);
    CHECK_INT(resolve_domain_class(r, "mx.example.test"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "MX.Example.TEST"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "localhost"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "local.example."), AC_LOCAL);   /* trailing dot */
    CHECK_INT(resolve_domain_class(r, "[127.0.0.1]"), AC_LOCAL);     /* inet_interfaces */
    CHECK_INT(resolve_domain_class(r, "[192.0.2.10]"), AC_LOCAL);    /* proxy_interfaces */
    CHECK_INT(resolve_domain_class(r, "[10.9.9.9]"), AC_DEFAULT);
    CHECK_INT(resolve_domain_class(r, "[IPv6:::1]"), AC_DEFAULT);
    CHECK_INT(resolve_domain_class(r, "valias.example"), AC_VIRTUAL_ALIAS);
    CHECK_INT(resolve_domain_class(r, "sub.valias.example"), AC_DEFAULT);
    CHECK_INT(resolve_domain_class(r, "vmbox.example"), AC_VIRTUAL_MAILBOX);
    CHECK_INT(resolve_domain_class(r, "relay.example"), AC_RELAY);
    CHECK_INT(resolve_domain_class(r, "sub.relay.example"), AC_RELAY);  /* parent style */
    CHECK_INT(resolve_domain_class(r, "other.example"), AC_DEFAULT);
    CHECK_INT(resolve_addr_class(r, "user"), AC_LOCAL);
    CHECK_INT(resolve_addr_class(r, "user@Local.Example"), AC_LOCAL);
    CHECK_INT(resolve_addr_class(r, "user@vmbox.example"), AC_VIRTUAL_MAILBOX);
    resolver_free(r);

    /* Conflicts: mydestination wins, then virtual alias, then mailbox (with a warning). */
    r = make("mydestination = $myhostname, both.example\n"
             "virtual_alias_domains = valias.example, both.example, va-and-vm.example\n"
             "virtual_mailbox_domains = vmbox.example, both.example, va-and-vm.example\n"
             "inet_interfaces = loopback-only\n");
    log_set_dest(0, path("warnings.log"));
    CHECK_INT(resolve_domain_class(r, "both.example"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "both.example"), AC_LOCAL);   /* warned once */
    CHECK_INT(resolve_domain_class(r, "va-and-vm.example"), AC_VIRTUAL_ALIAS);
    log_set_dest(1, "");
    char *logtext = read_file(path("warnings.log"), 1 << 20, NULL);
    CHECK(logtext != NULL);
    if (logtext) {
        const char *w1 = "do not list domain both.example in BOTH mydestination and "
                         "virtual_alias_domains";
        const char *first = strstr(logtext, w1);
        CHECK(first != NULL);
        CHECK(first && strstr(first + 1, w1) == NULL);
        CHECK(strstr(logtext, "do not list domain both.example in BOTH mydestination and "
                              "virtual_mailbox_domains") != NULL);
        CHECK(strstr(logtext, "do not list domain va-and-vm.example in BOTH "
                              "virtual_alias_domains and virtual_mailbox_domains") != NULL);
        free(logtext);
    }
    CHECK_INT(resolve_domain_class(r, "[127.0.0.1]"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "[::1]"), AC_LOCAL);
    resolver_free(r);

    /* virtual_alias_domains defaults to $virtual_alias_maps: a domain is a
     * virtual alias domain when it is a key there ("valias.example anything"). */
    r = make("virtual_alias_domains = $virtual_alias_maps\n");
    CHECK_INT(resolve_domain_class(r, "valias.example"), AC_VIRTUAL_ALIAS);
    CHECK_INT(resolve_domain_class(r, "catch.example"), AC_DEFAULT);  /* only "@catch.example" */
    resolver_free(r);

    /* A table that cannot be read: -1. */
    r = make("relay_domains = fail:down\n");
    CHECK_INT(resolve_domain_class(r, "mx.example.test"), AC_LOCAL);
    CHECK_INT(resolve_domain_class(r, "vmbox.example"), AC_VIRTUAL_MAILBOX);
    CHECK_INT(resolve_domain_class(r, "remote.example"), -1);
    resolver_free(r);

    /* resolver_new refuses configurations whose tables do not open. */
    char sub[300];
    snprintf(sub, sizeof(sub), "%s/cfbad", dir);
    mkdir(sub, 0755);
    char mp[400];
    snprintf(mp, sizeof(mp), "%s/main.cf", sub);
    FILE *f = fopen(mp, "w");
    fputs("myhostname = mx.example.test\nalias_maps = hash:/nonexistent/aliases\n", f);
    fclose(f);
    struct cfg_diags d = {0};
    struct config *cfg = config_load(sub, &d);
    cfg_diags_free(&d);
    CHECK(cfg != NULL);
    /* A table that cannot be opened does not stop a daemon: lookups that need it
     * fail temporarily (mail is deferred), as Postfix does. */
    struct resolver *broken = resolver_new(cfg);
    CHECK(broken != NULL);
    char why2[256] = "";
    CHECK_INT(resolve_rcpt_known(broken, "someone@mx.example.test", why2, sizeof(why2)), -1);
    resolver_free(broken);
    config_free(cfg);
}

static void expect_known(struct resolver *r, const char *addr, int want, const char *want_why)
{
    why[0] = '\0';
    int k = resolve_rcpt_known(r, addr, why, sizeof(why));
    if (k != want)
        fprintf(stderr, "  %s: known=%d (%s)\n", addr, k, why);
    CHECK_INT(k, want);
    if (want_why)
        CHECK_STR(why, want_why);
}

static void test_rcpt_known(void)
{
    struct resolver *r = make(NULL);
    expect_known(r, "root@mx.example.test", 1, NULL);          /* unix:passwd.byname */
    expect_known(r, "root+ext@mx.example.test", 1, NULL);      /* extension stripped */
    expect_known(r, "ROOT@MX.EXAMPLE.TEST", 1, NULL);
    expect_known(r, "root", 1, NULL);                          /* unqualified: local */
    expect_known(r, "alias1@localhost", 1, NULL);              /* $alias_maps */
    expect_known(r, "nosuchuser@mx.example.test", 0, "User unknown in local recipient table");
    expect_known(r, "postmaster@mx.example.test", 1, NULL);
    expect_known(r, "MAILER-DAEMON@mx.example.test", 1, NULL);
    expect_known(r, "double-bounce@mx.example.test", 1, NULL);
    expect_known(r, "known@valias.example", 1, NULL);
    expect_known(r, "unknown@valias.example", 0, "User unknown in virtual alias table");
    expect_known(r, "mbx@vmbox.example", 1, NULL);
    expect_known(r, "mbx+tag@vmbox.example", 1, NULL);
    expect_known(r, "aliased@vmbox.example", 1, NULL);         /* in virtual_alias_maps */
    expect_known(r, "other@vmbox.example", 0, "User unknown in virtual mailbox table");
    expect_known(r, "known@relay.example", 1, NULL);
    expect_known(r, "other@relay.example", 0, "User unknown in relay recipient table");
    expect_known(r, "anyone@remote.example", 1, NULL);
    expect_known(r, "x@blocked.example", 0, "no mail for you");   /* transport error: */
    /* @domain catch-alls in virtual_alias_maps make every address known. */
    expect_known(r, "whoever@catch.example", 1, NULL);
    resolver_free(r);

    r = make("show_user_unknown_table_name = no\n");
    expect_known(r, "nosuchuser@mx.example.test", 0, "User unknown");
    expect_known(r, "unknown@valias.example", 0, "User unknown");
    resolver_free(r);

    r = make("local_recipient_maps =\n");
    expect_known(r, "nosuchuser@mx.example.test", 1, NULL);    /* empty: accept all */
    resolver_free(r);

    r = make("virtual_mailbox_maps = fail:down\n");
    expect_known(r, "mbx@vmbox.example", -1, NULL);
    expect_known(r, "anyone@remote.example", 1, NULL);
    resolver_free(r);
    r = make("virtual_alias_maps = fail:down\n");
    expect_known(r, "anyone@remote.example", -1, NULL);       /* checked first for everyone */
    resolver_free(r);
    r = make("local_recipient_maps = unix:passwd.byname fail:down\n");
    expect_known(r, "root@mx.example.test", 1, NULL);
    expect_known(r, "nosuchuser@mx.example.test", -1, NULL);
    resolver_free(r);
}

/* Expand and compare with a "|"-joined list of addresses. */
static void expect_va(struct resolver *r, const char *addr, int want_rc, const char *want)
{
    char **out = NULL;
    why[0] = '\0';
    int rc = resolve_virtual_alias(r, addr, &out, why, sizeof(why));
    if (rc != want_rc)
        fprintf(stderr, "  %s: rc=%d (%s)\n", addr, rc, why);
    CHECK_INT(rc, want_rc);
    if (rc == 0) {
        char got[4096] = "";
        for (size_t i = 0; out && out[i]; i++) {
            if (i)
                strncat(got, "|", sizeof(got) - strlen(got) - 1);
            strncat(got, out[i], sizeof(got) - strlen(got) - 1);
        }
        CHECK_STR(got, want);
        strv_free(out);
    } else {
        CHECK(out == NULL);
    }
}

static void test_virtual_alias(void)
{
    struct resolver *r = make(NULL);
    expect_va(r, "known@valias.example", 0, "target@remote.example");
    expect_va(r, "KNOWN@VALIAS.EXAMPLE", 0, "target@remote.example");
    expect_va(r, "list@valias.example", 0,
              "a@remote.example|b@remote.example|target@remote.example");
    expect_va(r, "self@valias.example", 0, "self@valias.example|other@remote.example");
    expect_va(r, "loop1@valias.example", 0, "loop1@valias.example");
    expect_va(r, "user+foo@ext.example", 0, "dest+foo@remote.example");   /* propagated */
    expect_va(r, "user@ext.example", 0, "dest@remote.example");
    expect_va(r, "nobody+x@catch.example", 0, "catchall@remote.example");
    expect_va(r, "x@rewrite.example", 0, "x@newdomain.example|extra@remote.example");
    expect_va(r, "unq@valias.example", 0, "localuser@mx.example.test");    /* @$myorigin */
    expect_va(r, "quoted name@valias.example", 0, "q r@remote.example");
    expect_va(r, "chain1@valias.example", 0, "final@remote.example");
    expect_va(r, "dup@valias.example", 0, "x@remote.example");
    expect_va(r, "plain@remote.example", 0, "plain@remote.example");
    expect_va(r, "root@mx.example.test", 0, "root@mx.example.test");
    resolver_free(r);

    r = make("propagate_unmatched_extensions = canonical\n");
    expect_va(r, "user+foo@ext.example", 0, "dest@remote.example");
    resolver_free(r);
    r = make("myorigin = example.test\n");
    expect_va(r, "unq@valias.example", 0, "localuser@example.test");
    resolver_free(r);

    r = make("virtual_alias_recursion_limit = 2\n");
    expect_va(r, "known@valias.example", 0, "target@remote.example");
    expect_va(r, "chain1@valias.example", -2, NULL);
    CHECK(strstr(why, "nesting") != NULL);
    resolver_free(r);
    r = make("virtual_alias_expansion_limit = 2\n");
    expect_va(r, "self@valias.example", 0, "self@valias.example|other@remote.example");
    expect_va(r, "list@valias.example", -2, NULL);
    CHECK(strstr(why, "expansion size") != NULL);
    resolver_free(r);

    r = make("virtual_alias_maps = fail:down\n");
    expect_va(r, "known@valias.example", -1, NULL);
    CHECK(strstr(why, "virtual_alias_maps") != NULL);
    resolver_free(r);
    r = make("virtual_alias_maps =\n");
    expect_va(r, "known@valias.example", 0, "known@valias.example");
    resolver_free(r);
}

/* Render an alias list as "KIND:value[alias,owner]|...". */
static void expect_alias(struct resolver *r, const char *addr, int want_rc, const char *want)
{
    struct alias_list l = {0};
    why[0] = '\0';
    int rc = resolve_local_alias(r, addr, &l, why, sizeof(why));
    if (rc != want_rc)
        fprintf(stderr, "  %s: rc=%d (%s)\n", addr, rc, why);
    CHECK_INT(rc, want_rc);
    if (want) {
        static const char *kinds[] = {"ADDR", "MBOX", "CMD", "FILE", "INC"};
        char got[4096] = "";
        for (size_t i = 0; i < l.n; i++) {
            char one[600];
            snprintf(one, sizeof(one), "%s%s:%s[%s,%s]", i ? "|" : "", kinds[l.v[i].kind],
                     l.v[i].value, l.v[i].alias, l.v[i].owner ? l.v[i].owner : "-");
            strncat(got, one, sizeof(got) - strlen(got) - 1);
        }
        CHECK_STR(got, want);
    }
    alias_list_free(&l);
}

static void test_local_alias(void)
{
    struct resolver *r = make(NULL);
    expect_alias(r, "root@mx.example.test", 1,
                 "FILE:/var/log/admin.log[admin,-]|CMD:/usr/bin/procmail -a x[admin,-]|"
                 "INC:/etc/list[admin,-]|ADDR:remote@remote.example[admin,-]|"
                 "MBOX:root@mx.example.test[root,-]");
    expect_alias(r, "list@localhost", 1,
                 "MBOX:a@mx.example.test[a,-]|ADDR:a2@remote.example[a,-]|"
                 "MBOX:b@mx.example.test[list,owner-list@mx.example.test]");
    expect_alias(r, "nobody@mx.example.test", 0, "");
    expect_alias(r, "list@remote.example", 0, "");           /* not a local domain */
    expect_alias(r, "loopa@mx.example.test", -2, "");
    CHECK(strstr(why, "alias database loop for") != NULL);
    expect_alias(r, "user+special@mx.example.test", 1, "ADDR:special@remote.example[user+special,-]");
    expect_alias(r, "user+other@mx.example.test", 1, "ADDR:u@remote.example[user,-]");
    expect_alias(r, "USER@MX.EXAMPLE.TEST", 1, "ADDR:u@remote.example[user,-]");
    expect_alias(r, "user", 1, "ADDR:u@remote.example[user,-]");

    struct alias_list l = {0};
    CHECK_INT(resolve_alias_text(r, "x@remote.example, /tmp/f \"|cmd  arg\" list", "inc", &l,
                                 why, sizeof(why)), 0);
    CHECK_INT(l.n, 6);
    if (l.n == 6) {
        CHECK_INT(l.v[0].kind, ALIAS_ADDRESS);
        CHECK_INT(l.v[1].kind, ALIAS_FILE);
        CHECK_INT(l.v[2].kind, ALIAS_COMMAND);
        CHECK_STR(l.v[2].value, "cmd  arg");
        CHECK_INT(l.v[5].kind, ALIAS_MAILBOX);
        CHECK_STR(l.v[5].value, "b@mx.example.test");
    }
    alias_list_free(&l);
    /* :include: files: one entry list per line, '#' lines are comments. */
    CHECK_INT(resolve_alias_text(r, "# members, x@evil.example\nx@remote.example\n\n"
                                    "y@remote.example, z@remote.example\n#last", "inc", &l,
                                 why, sizeof(why)), 0);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.n ? l.v[0].value : "", "x@remote.example");
    CHECK_STR(l.n == 3 ? l.v[2].value : "", "z@remote.example");
    alias_list_free(&l);
    resolver_free(r);

    r = make("propagate_unmatched_extensions = alias\nexpand_owner_alias = yes\n");
    expect_alias(r, "user+other@mx.example.test", 1, "ADDR:u+other@remote.example[user,-]");
    expect_alias(r, "list@mx.example.test", 1,
                 "MBOX:a@mx.example.test[a,-]|ADDR:a2@remote.example[a,-]|"
                 "MBOX:b@mx.example.test[list,listadmin]");
    resolver_free(r);
    r = make("owner_request_special = no\n");
    expect_alias(r, "list@mx.example.test", 1,
                 "MBOX:a@mx.example.test[a,-]|ADDR:a2@remote.example[a,-]|"
                 "MBOX:b@mx.example.test[list,-]");
    resolver_free(r);
    r = make("alias_maps = fail:down\nlocal_recipient_maps =\n");
    expect_alias(r, "root@mx.example.test", -1, NULL);
    CHECK_STR(why, "alias database unavailable");
    resolver_free(r);
    r = make("alias_maps = inline:{ {x= , } }\nlocal_recipient_maps =\n");
    expect_alias(r, "x@mx.example.test", -1, NULL);
    resolver_free(r);
}

static void expect_tr(struct resolver *r, const char *addr, int want_rc, const char *want_t,
                      const char *want_nh, const char *want_why)
{
    char t[64] = "", nh[512] = "";
    why[0] = '\0';
    int rc = resolve_transport(r, addr, t, sizeof(t), nh, sizeof(nh), why, sizeof(why));
    if (rc != want_rc)
        fprintf(stderr, "  %s: rc=%d (%s)\n", addr, rc, why);
    CHECK_INT(rc, want_rc);
    if (want_t)
        CHECK_STR(t, want_t);
    if (want_nh)
        CHECK_STR(nh, want_nh);
    if (want_why)
        CHECK_STR(why, want_why);
}

static void test_transport(void)
{
    struct resolver *r = make(NULL);
    expect_tr(r, "root@localhost", 0, "local", "mx.example.test", "");
    expect_tr(r, "root", 0, "local", "mx.example.test", "");
    expect_tr(r, "x@vmbox.example", 0, "virtual", "vmbox.example", "");
    expect_tr(r, "x@valias.example", 0, "error", "User unknown in virtual alias table",
              "User unknown in virtual alias table");
    expect_tr(r, "x@relay.example", 0, "relay", "[smarthost.example]:587", "");
    expect_tr(r, "x@remote.example", 0, "smtp", "[smarthost.example]:587", "");
    expect_tr(r, "special@remote.example", 0, "smtp", "[special.example]", "");
    expect_tr(r, "special+ext@remote.example", 0, "smtp", "[special.example]", "");
    expect_tr(r, "x@remote2.example", 0, "relay", "[gw.example]:25", "");
    expect_tr(r, "x@a.sub.example", 0, "uucp", "subgw", "");
    expect_tr(r, "x@a.b.sub.example", 0, "uucp", "subgw", "");
    expect_tr(r, "x@sub.example", 0, "smtp", "sub.example", "");     /* nexthop reset */
    expect_tr(r, "x@blocked.example", 0, "error", "5.7.1 no mail for you", "no mail for you");
    expect_tr(r, "x@nh.example", 0, "smtp", "[only-nexthop.example]", "");
    expect_tr(r, "x@keep.example", 0, "smtp", "[smarthost.example]:587", "");
    expect_tr(r, "", 0, "local", "mx.example.test", "");   /* MAILER-DAEMON@$myhostname */
    resolver_free(r);

    r = make("relayhost =\nlocal_transport = local\nvirtual_transport = lmtp:unix:private/dovecot\n"
             "relay_transport = smtp:[relay-gw.example]\ntransport_maps =\n");
    expect_tr(r, "x@remote.example", 0, "smtp", "remote.example", "");
    expect_tr(r, "root@local.example", 0, "local", "local.example", "");
    expect_tr(r, "x@vmbox.example", 0, "lmtp", "unix:private/dovecot", "");
    expect_tr(r, "x@relay.example", 0, "smtp", "[relay-gw.example]", "");
    resolver_free(r);

    /* "*" matches everything, local domains included; parent style. */
    r = make("transport_maps = inline:{ {*=smtp:[wild.example]}, {example.net=relay:} }\n"
             "parent_domain_matches_subdomains = transport_maps\n");
    expect_tr(r, "root@localhost", 0, "smtp", "[wild.example]", "");
    expect_tr(r, "x@sub.example.net", 0, "relay", "sub.example.net", "");
    expect_tr(r, "x@valias.example", 0, "error", NULL, NULL);  /* never overridden */
    resolver_free(r);

    r = make("transport_maps = fail:down\n");
    expect_tr(r, "x@remote.example", -1, NULL, NULL, "transport_maps lookup failure");
    resolver_free(r);
    r = make("default_transport =\n");
    expect_tr(r, "x@remote.example", -1, NULL, NULL, NULL);
    resolver_free(r);
    r = make("mydestination = fail:down\n");
    expect_tr(r, "x@remote.example", -1, NULL, NULL, NULL);
    resolver_free(r);
}

/* sqlite:NAME with NAME_dbpath ... in main.cf, and maps_open_param(). */
static void test_sqlite_maincf(void)
{
    sqlite3 *db;
    CHECK_INT(sqlite3_open(path("users.db"), &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, "CREATE TABLE u (email TEXT, maildir TEXT);"
                               "INSERT INTO u VALUES ('sq@vmbox.example', 'vmbox.example/sq/');",
                           NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    struct resolver *r = make("vsql_dbpath = DIR/users.db\n"
                              "vsql_query = SELECT maildir FROM u WHERE email='%s'\n"
                              "virtual_mailbox_maps = sqlite:vsql\n");
    expect_known(r, "sq@vmbox.example", 1, NULL);
    expect_known(r, "nosq@vmbox.example", 0, "User unknown in virtual mailbox table");
    resolver_free(r);
    struct maps *m = maps_open_param(cfgs[ncfg - 1], P_virtual_mailbox_maps);
    CHECK(m != NULL);
    struct buf res;
    buf_init(&res, 0);
    CHECK_INT(maps_lookup(m, "SQ@vmbox.example", &res), TABLE_FOUND);
    CHECK_STR(buf_cstr(&res), "vmbox.example/sq/");
    buf_free(&res);
    maps_close(m);
    m = maps_open_param(cfgs[ncfg - 1], P_relay_domains);   /* a list of names, not tables */
    CHECK(m == NULL);
    /* Missing NAME_dbpath. */
    char sub[300], mp[400];
    snprintf(sub, sizeof(sub), "%s/cfsql", dir);
    mkdir(sub, 0755);
    snprintf(mp, sizeof(mp), "%s/main.cf", sub);
    FILE *f = fopen(mp, "w");
    fputs("myhostname = mx.example.test\nalias_maps =\nvirtual_mailbox_maps = sqlite:nothere\n",
          f);
    fclose(f);
    struct cfg_diags d = {0};
    struct config *cfg = config_load(sub, &d);
    cfg_diags_free(&d);
    CHECK(cfg != NULL);
    /* A table that cannot be opened does not stop a daemon: lookups that need it
     * fail temporarily (mail is deferred), as Postfix does. */
    struct resolver *broken = resolver_new(cfg);
    CHECK(broken != NULL);
    char why2[256] = "";
    CHECK_INT(resolve_rcpt_known(broken, "someone@elsewhere.test", why2, sizeof(why2)), -1);
    resolver_free(broken);
    config_free(cfg);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/yubin-test-resolve.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_tables();
    T_RUN(test_classes);
    T_RUN(test_rcpt_known);
    T_RUN(test_virtual_alias);
    T_RUN(test_local_alias);
    T_RUN(test_transport);
    T_RUN(test_sqlite_maincf);
    for (int i = 0; i < ncfg; i++)
        config_free(cfgs[i]);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return T_DONE();
}
