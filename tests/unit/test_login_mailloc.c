/*
 * test_login_mailloc.c - the mail location of a session
 * (src/lib-login/mailloc.c): Dovecot's mail_location syntax expanded for a
 * user and home, the options refused, and home_mailbox Maildirs.
 */
#include "t.h"
#include "lib-login/login.h"
#include "lib-login/mailloc.h"

#include <string.h>

static const char *ex(const char *loc, const char *user, const char *home)
{
    static char out[MAILLOC_PATH_MAX];
    const char *why = NULL;
    if (login_mailloc_expand(loc, user, home, out, sizeof(out), &why) < 0) {
        CHECK(why != NULL);
        return NULL;
    }
    return out;
}

static const char *why_of(const char *loc, const char *user, const char *home)
{
    char out[MAILLOC_PATH_MAX];
    const char *why = "";
    CHECK_INT(login_mailloc_expand(loc, user, home, out, sizeof(out), &why), -1);
    return why;
}

static void test_variables(void)
{
    CHECK_STR(ex("maildir:~/Maildir", "a@b.test", "/home/a"), "/home/a/Maildir");
    CHECK_STR(ex("maildir:~", "a@b.test", "/home/a"), "/home/a");
    CHECK_STR(ex("maildir:/var/vmail/%d/%n", "Alice@Example.Test", ""),
              "/var/vmail/Example.Test/Alice");
    CHECK_STR(ex("maildir:/var/vmail/%Ld/%Ln", "Alice@Example.Test", ""),
              "/var/vmail/example.test/alice");
    CHECK_STR(ex("maildir:/m/%u/x", "bob", ""), "/m/bob/x");
    CHECK_STR(ex("maildir:%h/Mail", "bob", "/h/bob"), "/h/bob/Mail");
    CHECK_STR(ex("maildir:/m/%{domain}/%{username}/%%", "u@d", ""), "/m/d/u/%");
    CHECK_STR(ex("maildir:/m/%{user}", "u@d", ""), "/m/u@d");
    /* a bare path is a Maildir too; options Dovecot users keep */
    CHECK_STR(ex("/srv/mail/%n", "u@d", ""), "/srv/mail/u");
    CHECK_STR(ex("maildir:~/Maildir:LAYOUT=maildir++", "u", "/h"), "/h/Maildir");
    CHECK_STR(ex("maildir:~/Maildir:INDEX=/var/idx/%u", "u", "/h"), "/h/Maildir");
}

static void test_refused(void)
{
    CHECK(strstr(why_of("mbox:~/mail:INBOX=/var/mail/%u", "u", "/h"), "only maildir"));
    CHECK(strstr(why_of("maildir:~/Maildir:LAYOUT=fs", "u", "/h"), "LAYOUT=maildir++"));
    CHECK(strstr(why_of("maildir:~/Maildir:INBOX=~/inbox", "u", "/h"), "INBOX="));
    CHECK(strstr(why_of("maildir:~/Maildir:CONTROL=/c", "u", "/h"), "not supported"));
    CHECK(strstr(why_of("maildir:~/Maildir", "u", ""), "home"));
    CHECK(strstr(why_of("maildir:%h/M", "u", ""), "variable"));
    CHECK(strstr(why_of("maildir:/m/%n", "../etc@d", ""), "variable"));
    CHECK(strstr(why_of("maildir:/m/%d", "u@a/b", ""), "variable"));
    CHECK(strstr(why_of("maildir:/m/%d", "u", ""), "variable"));     /* no domain */
    CHECK(strstr(why_of("maildir:/m/%q", "u", ""), "variable"));
    CHECK(strstr(why_of("maildir:/m/%", "u", ""), "end"));
    CHECK(strstr(why_of("maildir:rel/%u", "u", ""), "absolute"));
    CHECK(strstr(why_of("maildir:", "u", ""), "no path"));
    char big[MAILLOC_PATH_MAX + 10];
    memset(big, 'x', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    CHECK(strstr(why_of(big, "u", ""), "too long"));
}

static void test_home_mailbox(void)
{
    char out[MAILLOC_PATH_MAX];
    CHECK_INT(login_mailloc_home("Maildir/", "/home/u", out, sizeof(out)), 0);
    CHECK_STR(out, "/home/u/Maildir/");
    CHECK_INT(login_mailloc_home("Mailbox", "/home/u", out, sizeof(out)), 1);   /* an mbox */
    CHECK_INT(login_mailloc_home("", "/home/u", out, sizeof(out)), 1);
    CHECK_INT(login_mailloc_home("../x/", "/home/u", out, sizeof(out)), -1);
    CHECK_INT(login_mailloc_home("Maildir/", "relative", out, sizeof(out)), -1);
}

static void test_location_choice(void)
{
    struct login_settings set = {0};
    char out[MAILLOC_PATH_MAX + 16];
    set.mail_location = "maildir:~/M";
    CHECK_STR(login_mail_location(&set, "u", "/h", out, sizeof(out)), "maildir:~/M");
    set.mail_location = "";
    set.home_mailbox = "Maildir/";
    CHECK_STR(login_mail_location(&set, "u", "/h", out, sizeof(out)), "maildir:/h/Maildir/");
    CHECK_STR(login_mail_location(&set, "u", "", out, sizeof(out)), "");
    set.home_mailbox = "Mailbox";
    CHECK_STR(login_mail_location(&set, "u", "/h", out, sizeof(out)), "");
}

int main(void)
{
    T_RUN(test_variables);
    T_RUN(test_refused);
    T_RUN(test_home_mailbox);
    T_RUN(test_location_choice);
    return T_DONE();
}
