/* test_sieve.c - lib-sieve: lexer, parser, validation, interpreter, result rules. */
#include "t.h"
#include "lib-sieve/sieve.h"
#include "lib/util.h"

#include <stdlib.h>

static struct sieve_diag D;

static struct sieve_script *compile(const char *src)
{
    sieve_diag_free(&D);
    return sieve_compile(src, strlen(src), NULL, NULL, 0, &D);
}

/* Compile must fail; the first message must contain want. */
static int fails_with(const char *src, const char *want)
{
    struct sieve_script *s = compile(src);
    if (s) {
        sieve_script_free(s);
        return 0;
    }
    if (D.n == 0 || !strstr(D.msgs[0], want)) {
        fprintf(stderr, "  got: %s\n", D.n ? D.msgs[0] : "(no message)");
        return 0;
    }
    return 1;
}

static const char MSG[] =
    "From: Alice Example <alice+lists@example.com>\r\n"
    "To: bob@example.org, carol@Example.NET\r\n"
    "Subject: =?UTF-8?Q?caf=C3=A9?= order\r\n"
    "X-Spam: yes\r\n"
    "X-Spam: no\r\n"
    "\r\n"
    "Body text.\r\n";

/* Run src against MSG; the actions as "kind:target" joined by spaces, or "ERROR". */
static char *run(const char *src)
{
    static char out[1024];
    struct sieve_script *s = compile(src);
    if (!s) {
        str_fmt(out, sizeof(out), "COMPILE %s", D.n ? D.msgs[0] : "");
        return out;
    }
    struct sieve_msg m = { MSG, sizeof(MSG) - 1, "alice@example.com", "bob@example.org", NULL,
                           NULL, NULL };
    struct sieve_result res;
    char *err = NULL;
    static const char *const kinds[] = { "keep", "fileinto", "redirect", "discard", "reject",
                                         "ereject", "vacation" };
    out[0] = '\0';
    if (sieve_execute(s, &m, NULL, &res, &err) < 0) {
        str_fmt(out, sizeof(out), "ERROR %s", err);
        free(err);
    } else {
        for (size_t i = 0; i < res.n; i++) {
            size_t len = strlen(out);
            str_fmt(out + len, sizeof(out) - len, "%s%s:%s%s", i ? " " : "", kinds[res.v[i].kind],
                    res.v[i].target ? res.v[i].target : "", res.v[i].implicit ? "(implicit)" : "");
            for (size_t f = 0; res.v[i].flags && res.v[i].flags[f]; f++) {
                len = strlen(out);
                str_fmt(out + len, sizeof(out) - len, "%s%s", f ? "," : "[", res.v[i].flags[f]);
                if (!res.v[i].flags[f + 1])
                    str_fmt(out + strlen(out), sizeof(out) - strlen(out), "]");
            }
        }
        sieve_result_free(&res);
    }
    sieve_script_free(s);
    return out;
}

static void test_lexer(void)
{
    CHECK_STR(run("if size :over 1K { discard; }"), "keep:INBOX(implicit)");
    CHECK_STR(run("if size :under 1k { discard; }"), "discard:");
    CHECK(fails_with("if size :over 99999999999999999999G { stop; }", "number is too large"));
    CHECK(fails_with("keep;\n\n\"unterminated", "line 3: error: end of file before end of quoted"));
    CHECK(fails_with("keep; /* never closed", "line 1: error: end of file before end of bracket"));
    CHECK(fails_with("keep;\nkeep @;", "line 2: error: unexpected character(s) starting with '@'"));
    CHECK(fails_with("require \"fileinto\";\nfileinto text: # c\nline\n", "line 4: error: "
                     "end of file before end of multi-line"));
    CHECK(fails_with("require \"fileinto\";\nfileinto text: x\n.\n;", "line 2: error: invalid "
                     "character after text:"));
    /* escapes and dot-unstuffing */
    CHECK_STR(run("require \"fileinto\"; fileinto \"a\\\\b\\\"c\\d\";"), "fileinto:a\\b\"cd");
    CHECK_STR(run("require \"fileinto\";\nfileinto text:\n..x\n.y\n.\n;"), "fileinto:.x\r\n.y\r\n");
    CHECK_STR(run("# comment\nkeep; # more\n/* block\n comment */ discard;"), "keep:INBOX discard:");
}

static void test_limits(void)
{
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    lim.max_depth = 3;
    const char *deep = "if true { if true { if true { if true { keep; } } } }";
    CHECK(sieve_compile(deep, strlen(deep), &lim, NULL, 0, NULL) == NULL);
    const char *nots = "if not not not not true { keep; }";
    CHECK(sieve_compile(nots, strlen(nots), &lim, NULL, 0, NULL) == NULL);
    sieve_limits_default(&lim);
    lim.max_commands = 3;
    const char *many = "keep; keep; keep; keep;";
    CHECK(sieve_compile(many, strlen(many), &lim, NULL, 0, NULL) == NULL);
    sieve_limits_default(&lim);
    lim.max_string = 8;
    const char *lng = "redirect \"someone@example.com\";";
    CHECK(sieve_compile(lng, strlen(lng), &lim, NULL, 0, NULL) == NULL);
    sieve_limits_default(&lim);
    lim.max_script = 4;
    CHECK(sieve_compile(many, strlen(many), &lim, NULL, 0, NULL) == NULL);
    sieve_limits_default(&lim);
    lim.max_list = 2;
    const char *list = "if header :is [\"a\",\"b\",\"c\"] \"x\" { keep; }";
    CHECK(sieve_compile(list, strlen(list), &lim, NULL, 0, NULL) == NULL);
    /* NUL bytes and stray bytes are errors, not crashes */
    CHECK(sieve_compile("keep\0;", 6, NULL, NULL, 0, NULL) == NULL);
}

static void test_parse_errors(void)
{
    CHECK(fails_with("keep;\nif true keep;", "line 2: error: the if command requires a command "
                     "block"));
    CHECK(fails_with("keep\nstop;", "line 1: error: missing semicolon after the keep command"));
    CHECK(fails_with("keep true;", "line 1: error: the keep command accepts no sub-tests"));
    CHECK(fails_with("if header \"a\" :is \"b\" { }", "unexpected tagged argument ':is'"));
    CHECK(fails_with("keep;\n\nkeep \"a\" {", "line 3: error: end of file before end of compound"));
    CHECK(fails_with("keep;\nkeep [ 1 ];", "line 2: error: expecting string after '['"));
    CHECK(fails_with("if true {\n keep;\n", "end of file before end of compound block"));
    CHECK(fails_with("if anyof(true, ) { keep; }", "expecting test identifier"));
    CHECK(fails_with("if header [\"a\" \"b\"] \"x\" { keep; }", "expecting ',' or end of string"));
    CHECK(fails_with("}", "unexpected '}'"));
    /* several errors are reported, each with its line */
    CHECK(compile("keep @;\nstop %;\n") == NULL);
    CHECK_INT(D.errors, 5);         /* garbage and where it was found, twice, and the closing one */
}

static void test_validation(void)
{
    CHECK(fails_with("fileinto \"x\";", "unknown command 'fileinto'"));
    CHECK(fails_with("require \"frobnicate\";", "unknown Sieve capability 'frobnicate'"));
    CHECK(fails_with("keep;\nrequire \"fileinto\";", "line 2: error: require command can only"));
    CHECK(fails_with("if header :frop \"a\" \"b\" { keep; }", "unknown tagged argument ':frop'"));
    CHECK(fails_with("if header \"a\" { keep; }", "requires 2 positional"));
    CHECK(fails_with("if header :comparator \"i;frop\" \"a\" \"b\" { keep; }", "unknown comparator"));
    CHECK(fails_with("if header :regex \"a\" \"b\" { keep; }", "unknown tagged argument ':regex'"));
    CHECK(fails_with("if address :count \"eq\" \"to\" \"1\" { keep; }", "unknown tagged"));
    CHECK(fails_with("require \"relational\"; if address :value \"xx\" \"to\" \"1\" { keep; }",
                     "invalid relational match"));
    CHECK(fails_with("if address :user \"to\" \"x\" { keep; }", "unknown tagged argument ':user'"));
    CHECK(fails_with("if size 10 { keep; }", "accepts no more than 0 positional"));
    CHECK(fails_with("if size :over 1 :under 2 { keep; }", "either the :under or the :over"));
    CHECK(fails_with("elsif true { keep; }", "must follow an if"));
    CHECK(fails_with("if true;", "requires a command block"));
    CHECK(fails_with("keep { stop; }", "does not accept a command block"));
    CHECK(fails_with("if allof true { keep; }", "requires a test list"));
    CHECK(fails_with("if address \"subject\" \"x\" { keep; }", "not known to contain addresses"));
    CHECK(fails_with("redirect \"not an address\";", "redirect address is invalid"));
    CHECK(fails_with("require \"comparator-i;ascii-numeric\";\n"
                     "if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }",
                     "does not support"));
    struct sieve_script *s = compile("require [\"fileinto\", \"variables\", \"imap4flags\", "
                                     "\"relational\", \"subaddress\", \"regex\", \"copy\"];");
    CHECK(s != NULL);
    sieve_script_free(s);
}

static void test_actions(void)
{
    CHECK_STR(run(""), "keep:INBOX(implicit)");
    CHECK_STR(run("discard;"), "discard:");
    CHECK_STR(run("require \"fileinto\"; fileinto \"A\"; fileinto \"A\"; keep; fileinto \"inbox\";"),
              "fileinto:A keep:INBOX");
    CHECK_STR(run("require [\"fileinto\", \"copy\"]; fileinto :copy \"A\";"),
              "fileinto:A keep:INBOX(implicit)");
    CHECK_STR(run("redirect \"x@example.net\"; redirect \"X <x@EXAMPLE.net>\";"),
              "redirect:x@example.net");
    CHECK_STR(run("require \"copy\"; redirect :copy \"x@example.net\";"),
              "redirect:x@example.net keep:INBOX(implicit)");
    CHECK_STR(run("require \"reject\"; reject \"no\";"), "reject:no");
    CHECK(strncmp(run("require \"reject\"; keep; reject \"no\";"), "ERROR line 1", 12) == 0);
    CHECK(strncmp(run("require \"ereject\"; ereject \"no\"; keep;"), "ERROR", 5) == 0);
    CHECK_STR(run("keep; stop; discard;"), "keep:INBOX");
    CHECK_STR(run("if false { discard; } elsif true { stop; } else { discard; }"),
              "keep:INBOX(implicit)");
    CHECK_STR(run("require [\"imap4flags\", \"fileinto\"]; setflag \"\\\\Seen\"; addflag [\"$a\", "
                  "\"\\\\seen $b\"]; removeflag \"$a\"; fileinto \"F\"; keep :flags \"x\";"),
              "fileinto:F[\\Seen,$b] keep:INBOX[x]");
    /* a repeated store takes the last flags; INBOX in any case is one mailbox */
    CHECK_STR(run("require [\"imap4flags\", \"fileinto\"]; fileinto :flags \"a\" \"inbox.X\"; "
                  "fileinto :flags \"b\" \"INBOX.X\"; fileinto \"Inbox\";"),
              "fileinto:inbox.X[b] fileinto:Inbox");
}

static void test_tests(void)
{
    CHECK_STR(run("if header :contains \"subject\" \"CAFÉ\" { discard; }"), "keep:INBOX(implicit)");
    CHECK_STR(run("if header :contains \"subject\" \"café\" { discard; }"), "discard:");
    CHECK_STR(run("if header :is \"x-spam\" \"no\" { discard; }"), "discard:");
    CHECK_STR(run("if exists [\"from\", \"x-none\"] { discard; }"), "keep:INBOX(implicit)");
    CHECK_STR(run("if address :domain :is \"to\" \"example.net\" { discard; }"), "discard:");
    CHECK_STR(run("if address :localpart :is \"from\" \"alice+lists\" { discard; }"), "discard:");
    CHECK_STR(run("require \"subaddress\"; if address :detail \"from\" \"lists\" { discard; }"),
              "discard:");
    CHECK_STR(run("require \"envelope\"; if envelope :domain \"from\" \"example.com\" { discard; }"),
              "discard:");
    CHECK_STR(run("if anyof(false, not true) { discard; }"), "keep:INBOX(implicit)");
    CHECK_STR(run("if allof(true, header :matches \"to\" \"*@example.org*\") { discard; }"),
              "discard:");
    CHECK_STR(run("require [\"relational\", \"comparator-i;ascii-numeric\"]; if header :count "
                  "\"eq\" :comparator \"i;ascii-numeric\" \"x-spam\" \"2\" { discard; }"),
              "discard:");
    CHECK_STR(run("require \"regex\"; if header :regex \"subject\" \"^caf.+ord\" { discard; }"),
              "discard:");
}

static void test_variables(void)
{
    CHECK_STR(run("require [\"variables\", \"fileinto\"]; set :upperfirst \"f\" \"box\"; "
                  "fileinto \"${f}.${undefined}x\";"), "fileinto:Box.x");
    CHECK_STR(run("require [\"variables\", \"fileinto\"]; if header :matches \"from\" \"*<*+*@*>\" "
                  "{ fileinto \"${2}/${3}/${4}\"; }"), "fileinto:alice/lists/example.com");
    CHECK_STR(run("require [\"variables\", \"fileinto\"]; set :length \"n\" \"héllo\"; "
                  "fileinto \"${n}\";"), "fileinto:5");
    CHECK_STR(run("require [\"encoded-character\", \"fileinto\"]; "
                  "fileinto \"${hex:41 42}${unicode:e9}\";"), "fileinto:AB\xc3\xa9");
    /* without the variables extension ${...} stays as it is */
    CHECK_STR(run("require \"fileinto\"; fileinto \"${x}\";"), "fileinto:${x}");
}

static void test_vacation(void)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    const char *why = NULL;
    struct sieve_msg m = { MSG, sizeof(MSG) - 1, "alice@example.com", "bob@example.org", NULL,
                           NULL, NULL };
    CHECK_INT(sieve_vacation_allowed(&m, &a, NULL, &why), 1);
    m.env_from = "";
    CHECK_INT(sieve_vacation_allowed(&m, &a, NULL, &why), 0);
    m.env_from = "MAILER-DAEMON@example.com";
    CHECK_INT(sieve_vacation_allowed(&m, &a, NULL, &why), 0);
    m.env_from = "alice@example.com";
    m.env_to = "dave@example.org";
    CHECK_INT(sieve_vacation_allowed(&m, &a, NULL, &why), 0);
    const char *own[] = { "carol@example.net", NULL };
    CHECK_INT(sieve_vacation_allowed(&m, &a, own, &why), 1);
    static const char list[] = "To: bob@example.org\r\nList-Id: <x.example.org>\r\n\r\n";
    struct sieve_msg l = { list, sizeof(list) - 1, "a@example.com", "bob@example.org", NULL,
                           NULL, NULL };
    CHECK_INT(sieve_vacation_allowed(&l, &a, NULL, &why), 0);
    static const char auto_[] = "To: bob@example.org\r\nAuto-Submitted: auto-replied\r\n\r\n";
    struct sieve_msg au = { auto_, sizeof(auto_) - 1, "a@example.com", "bob@example.org", NULL,
                            NULL, NULL };
    CHECK_INT(sieve_vacation_allowed(&au, &a, NULL, &why), 0);
    /* the reply: to the sender, from the address the message was sent to, encoded subject */
    static const char orig[] = "From: Alice <alice@example.com>\r\nTo: bob@example.org\r\n"
                               "Subject: caf\xc3\xa9 order\r\nMessage-ID: <1@example.com>\r\n\r\nhi\r\n";
    struct sieve_msg om = { orig, sizeof(orig) - 1, "alice@example.com", "<bob@example.org>",
                            NULL, NULL, NULL };
    char *out = NULL, *rcpt = NULL;
    size_t olen;
    a.reason = (char *)"Away until Monday.";
    CHECK_INT(sieve_vacation_compose(&om, &a, NULL, &out, &olen, &rcpt, &why), 0);
    CHECK_STR(rcpt, "alice@example.com");
    CHECK(out && strstr(out, "To: <alice@example.com>\r\n"));
    CHECK(out && strstr(out, "From: <bob@example.org>\r\n"));
    CHECK(out && strstr(out, "Subject: =?utf-8?B?"));
    CHECK(out && strstr(out, "In-Reply-To: <1@example.com>\r\n"));
    CHECK(out && strstr(out, "Auto-Submitted: auto-replied"));
    CHECK(out && strstr(out, "\r\n\r\nAway until Monday.\r\n"));
    free(out);
    free(rcpt);
    om.env_from = "";
    CHECK_INT(sieve_vacation_compose(&om, &a, NULL, &out, &olen, &rcpt, &why), -1);
    CHECK(out == NULL);
    CHECK_STR(run("require \"vacation\"; vacation :days 3 :subject \"Away\" \"Gone\";"),
              "vacation: keep:INBOX(implicit)");
    CHECK(strncmp(run("require \"vacation\"; vacation \"a\"; vacation \"b\";"), "ERROR", 5) == 0);
}

static int load(void *ctx, int global, const char *name, char **text, size_t *len)
{
    (void)ctx;
    static const char *const scripts[][2] = {
        { "spam", "require [\"fileinto\", \"variables\", \"include\"]; global \"seen\";\n"
                  "set \"seen\" \"${seen}s\"; if header :is \"x-spam\" \"yes\" "
                  "{ fileinto \"Junk\"; return; } discard;" },
        { "loop", "require \"include\"; include \"loop\";" },
        { "broken", "keep\n" },
    };
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
        if (!global && strcmp(name, scripts[i][0]) == 0) {
            *text = xstrdup(scripts[i][1]);
            *len = strlen(*text);
            return 0;
        }
    return -1;
}

static void test_include(void)
{
    static const struct sieve_loader ld = { load, NULL };
    const char *src = "require [\"include\", \"variables\", \"fileinto\"]; global \"seen\";\n"
                      "include \"spam\"; include :once \"spam\"; include :optional \"none\";\n"
                      "fileinto \"${seen}\";";
    struct sieve_script *s = sieve_compile_with(src, strlen(src), NULL, NULL, 0, &ld, NULL);
    CHECK(s != NULL);
    struct sieve_msg m = { MSG, sizeof(MSG) - 1, "a@example.com", "b@example.org", NULL, NULL, NULL };
    struct sieve_result res;
    CHECK_INT(sieve_execute(s, &m, NULL, &res, NULL), 0);
    CHECK_INT(res.n, 2);
    if (res.n == 2) {
        CHECK_STR(res.v[0].target, "Junk");
        CHECK_STR(res.v[1].target, "s");
    }
    sieve_result_free(&res);
    sieve_script_free(s);
    sieve_diag_free(&D);
    const char *loop = "require \"include\"; include \"loop\";";
    CHECK(sieve_compile_with(loop, strlen(loop), NULL, NULL, 0, &ld, &D) == NULL);
    CHECK(D.n > 0 && strstr(D.msgs[0], "circular include"));
    sieve_diag_free(&D);
    const char *missing = "require \"include\";\ninclude \"nothing\";";
    CHECK(sieve_compile_with(missing, strlen(missing), NULL, NULL, 0, &ld, &D) == NULL);
    CHECK(D.n > 0 && strstr(D.msgs[0], "line 2: error: included personal script 'nothing' does "
                            "not exist"));
    const char *broken = "require \"include\"; include \"broken\";";
    CHECK(sieve_compile_with(broken, strlen(broken), NULL, NULL, 0, &ld, NULL) == NULL);
}

static const char MIME_MSG[] =
    "From: a@example.com\r\nDate: Mon, 20 Jul 2009 21:44:43 +0300\r\n"
    "Received: from x by y; Tue, 21 Jul 2009 02:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n"
    "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    "Y2Fmw6kgb3JkZXI=\r\n"
    "--b\r\nContent-Type: text/html\r\n\r\n<p>Hello <b>world</b></p>\r\n--b--\r\n";

static int run_mime(const char *src)
{
    struct sieve_script *s = compile(src);
    if (!s)
        return -2;
    struct sieve_msg m = { MIME_MSG, sizeof(MIME_MSG) - 1, "a@example.com", "b@example.org", NULL,
                           NULL, NULL };
    struct sieve_result res;
    int r = sieve_execute(s, &m, NULL, &res, NULL);
    int discarded = 0;
    for (size_t i = 0; r == 0 && i < res.n; i++)
        discarded |= res.v[i].kind == SIEVE_ACT_DISCARD;
    if (r == 0)
        sieve_result_free(&res);
    sieve_script_free(s);
    return r < 0 ? -1 : discarded;
}

static void test_body_date(void)
{
    CHECK_INT(run_mime("require \"body\"; if body :text :contains \"café\" { discard; }"), 1);
    CHECK_INT(run_mime("require \"body\"; if body :text :contains \"<b>\" { discard; }"), 0);
    CHECK_INT(run_mime("require \"body\"; if body :text :contains \"Hello world\" { discard; }"), 1);
    CHECK_INT(run_mime("require \"body\"; if body :raw :contains \"Y2Fmw6k\" { discard; }"), 1);
    CHECK_INT(run_mime("require \"body\"; if body :content \"text/html\" :contains \"<b>\" "
                       "{ discard; }"), 1);
    CHECK_INT(run_mime("require \"body\"; if body :content \"image\" :contains \"\" { discard; }"),
              0);
    CHECK_INT(run_mime("require \"date\"; if date :originalzone \"date\" \"iso8601\" "
                       "\"2009-07-20T21:44:43+03:00\" { discard; }"), 1);
    CHECK_INT(run_mime("require \"date\"; if date :zone \"+0000\" \"date\" \"time\" \"18:44:43\" "
                       "{ discard; }"), 1);
    CHECK_INT(run_mime("require \"date\"; if date :zone \"-0300\" \"received\" \"date\" "
                       "\"2009-07-21\" { discard; }"), 0);
    CHECK_INT(run_mime("require \"date\"; if date :originalzone \"date\" \"weekday\" \"1\" "
                       "{ discard; }"), 1);
    CHECK_INT(run_mime("require \"date\"; if currentdate :matches \"year\" \"2*\" { discard; }"), 1);
    CHECK_INT(run_mime("require \"date\"; if date \"date\" \"fortnight\" \"1\" { discard; }"), -2);
    CHECK_INT(run_mime("require [\"index\", \"date\"]; if header :last \"from\" \"x\" { stop; }"),
              -2);
    /* a bad literal regex fails the compile; one from a variable only fails to match */
    CHECK_INT(run_mime("require \"regex\"; if header :regex \"from\" \"a(\" { stop; }"), -2);
    CHECK_INT(run_mime("require [\"regex\", \"variables\"]; set \"r\" \"a(\"; "
                       "if header :regex \"from\" \"${r}\" { stop; } discard;"), 1);
}

int main(void)
{
    T_RUN(test_lexer);
    T_RUN(test_limits);
    T_RUN(test_parse_errors);
    T_RUN(test_validation);
    T_RUN(test_actions);
    T_RUN(test_tests);
    T_RUN(test_variables);
    T_RUN(test_vacation);
    T_RUN(test_include);
    T_RUN(test_body_date);
    sieve_diag_free(&D);
    return T_DONE();
}
