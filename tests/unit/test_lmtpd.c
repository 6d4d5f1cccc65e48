/*
 * test_lmtpd.c - the LMTP server's and LDA's parsing and delivery core:
 * the DATA decoder, mail locations, and Sieve at delivery into a
 * temporary Maildir (fileinto, discard, reject, sieve_before order, a
 * broken script keeping the message in INBOX).
 */
#include "t.h"
#include "lmtpd/lmtpd.h"
#include "lib/util.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void decode_all(const char *in, size_t step, const char *want, int want_done)
{
    struct buf out;
    buf_init(&out, 0);
    struct lmtpd_data d;
    lmtpd_data_init(&d, &out, 0);
    size_t len = strlen(in), pos = 0, have = 0;
    int done = 0;
    char pend[4096];
    /* feed in steps, keeping what the decoder did not consume */
    while (!done && pos < len) {
        size_t n = len - pos < step ? len - pos : step;
        memcpy(pend + have, in + pos, n);
        have += n;
        pos += n;
        size_t used = lmtpd_data_feed(&d, pend, have, &done);
        memmove(pend, pend + used, have - used);
        have -= used;
    }
    CHECK_INT(done, want_done);
    CHECK_STR(buf_cstr(&out), want);
    buf_free(&out);
}

static void test_data_decoder(void)
{
    const char *msg = "Subject: x\r\n\r\n..dot\r\n.\r\nnot this\r\n";
    for (size_t step = 1; step < 8; step++)
        decode_all(msg, step, "Subject: x\n\n.dot\n", 1);
    decode_all("a\nb\n.\n", 1, "a\nb\n", 1);                  /* bare LF */
    decode_all("a\rb\r\n.\r\n", 2, "a\rb\n", 1);              /* a bare CR is data */
    decode_all("line\r\n.x\r\n", 3, "line\nx\n", 0);          /* no end yet */
    decode_all(".\r\n", 1, "", 1);
    /* the size limit: counted, not kept */
    struct buf out;
    buf_init(&out, 0);
    struct lmtpd_data d;
    lmtpd_data_init(&d, &out, 4);
    int done = 0;
    const char *big = "0123456789\r\n.\r\n";
    CHECK_INT(lmtpd_data_feed(&d, big, strlen(big), &done), strlen(big));
    CHECK(done && d.too_big);
    CHECK_INT(d.total, 11);
    buf_free(&out);
    char crlf[] = "a\r\nb\r\r\nc\r";
    size_t n = lmtpd_crlf_to_lf(crlf, strlen(crlf));
    CHECK_INT(n, 7);
    CHECK(memcmp(crlf, "a\nb\r\nc\r", 7) == 0);
}

static void test_mail_location(void)
{
    char out[256];
    CHECK_INT(lmtpd_mail_location("maildir:~/Maildir", "a@x.test", "/home/a", out, sizeof(out)), 0);
    CHECK_STR(out, "/home/a/Maildir/");
    CHECK_INT(lmtpd_mail_location("maildir:/srv/%d/%n:LAYOUT=fs", "bob@x.test", "", out,
                                  sizeof(out)), 0);
    CHECK_STR(out, "/srv/x.test/bob/");
    CHECK_INT(lmtpd_mail_location("/var/mail/%u/", "c", NULL, out, sizeof(out)), 0);
    CHECK_STR(out, "/var/mail/c/");
    CHECK_INT(lmtpd_mail_location("maildir:%h/M%%", "c", "/h", out, sizeof(out)), 0);
    CHECK_STR(out, "/h/M%/");
    CHECK_INT(lmtpd_mail_location("maildir:~/Maildir", "a", "", out, sizeof(out)), -1);
    CHECK_INT(lmtpd_mail_location("mbox:~/mail", "a", "/h", out, sizeof(out)), -1);
    CHECK_INT(lmtpd_mail_location("maildir:/srv/%n", "../x@d", "", out, sizeof(out)), -1);
    CHECK_INT(lmtpd_mail_location("maildir:relative/%n", "a", "", out, sizeof(out)), -1);
    CHECK_INT(lmtpd_mail_location("maildir:/srv/%z", "a", "", out, sizeof(out)), -1);
    CHECK_INT(lmtpd_mail_location("maildir:/srv/%u", "a", "", out, 7), -1);
    CHECK_INT(lmtpd_expand_path("~/.dovecot.sieve", 16, "a", "/home/a", out, sizeof(out)), 0);
    CHECK_STR(out, "/home/a/.dovecot.sieve");
}

/* ---- Sieve at delivery, into a temporary Maildir ---- */

static char base[] = "/tmp/yubin-lmtpd-XXXXXX";

static int count(const char *sub)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/Maildir/%s", base, sub);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", base, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void deliver(struct lmtpd_lda *l, const struct lmtpd_user *u, const char *subject,
                    struct lmtpd_result *r)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "From: a@b.test\nTo: u@x.test\nSubject: %s\n\nbody\n", subject);
    struct lmtpd_msg m = {.data = msg, .len = strlen(msg), .sender = "a@b.test",
                          .rcpt = "u@x.test", .arrival = 1, .log_id = "test"};
    lmtpd_deliver(l, u, &m, NULL, r);
}

static void test_sieve_delivery(void)
{
    CHECK(mkdtemp(base) != NULL);
    struct lmtpd_lda l;
    memset(&l, 0, sizeof(l));
    l.queue_dir = base;
    l.sieve = "~/user.sieve";
    l.autocreate = 1;
    char *before[] = {xasprintf("%s/before.sieve", base), NULL};
    l.sieve_before = before;
    struct lmtpd_user u;
    memset(&u, 0, sizeof(u));
    str_copy(u.name, "u@x.test", sizeof(u.name));
    str_copy(u.home, base, sizeof(u.home));
    snprintf(u.maildir, sizeof(u.maildir), "%s/Maildir/", base);
    struct lmtpd_result r;

    /* no scripts: INBOX, new/ */
    deliver(&l, &u, "plain", &r);
    CHECK_INT(r.outcome, LMTPD_DELIVERED);
    CHECK_INT(count("new"), 1);

    write_file("before.sieve", "require \"fileinto\";\n"
               "if header :is \"subject\" \"junk\" { fileinto \"Junk\"; stop; }\n");
    write_file("user.sieve", "require [\"fileinto\", \"reject\"];\n"
               "if header :is \"subject\" \"list\" { fileinto \"Lists\"; }\n"
               "elsif header :is \"subject\" \"gone\" { discard; }\n"
               "elsif header :is \"subject\" \"no\" { reject \"not here\"; }\n");
    deliver(&l, &u, "junk", &r);                 /* before: Junk, the user's script not run */
    CHECK_INT(r.outcome, LMTPD_DELIVERED);
    CHECK_INT(count(".Junk/new"), 1);
    deliver(&l, &u, "list", &r);
    CHECK_INT(count(".Lists/new"), 1);
    deliver(&l, &u, "gone", &r);
    CHECK_INT(r.outcome, LMTPD_DELIVERED);
    deliver(&l, &u, "no", &r);
    CHECK_INT(r.outcome, LMTPD_REJECTED);
    CHECK_STR(r.text, "not here");
    CHECK_INT(count("new"), 1);                  /* nothing else reached INBOX */

    /* a script that does not compile: INBOX, every time (the cache remembers) */
    write_file("user.sieve", "fileinto \"X\";\n");
    deliver(&l, &u, "list", &r);
    deliver(&l, &u, "list", &r);
    CHECK_INT(r.outcome, LMTPD_DELIVERED);
    CHECK_INT(count("new"), 3);
    CHECK_INT(count(".Lists/new"), 1);

    /* the mailbox quota */
    write_file("Maildir/maildirsize", "50S\n40 1\n");
    CHECK_INT(lmtpd_quota_exceeded(&u, 5, &r), 0);
    CHECK_INT(lmtpd_quota_exceeded(&u, 20, &r), 1);
    CHECK_STR(r.dsn, "5.2.2");
    free(before[0]);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
    CHECK_INT(system(cmd), 0);
}

int main(void)
{
    T_RUN(test_data_decoder);
    T_RUN(test_mail_location);
    T_RUN(test_sieve_delivery);
    return T_DONE();
}
