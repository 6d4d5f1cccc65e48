/*
 * Unit tests for smtpd restrictions (restrict.c): table-driven cases that
 * build a main.cf, restriction lists and inline: access tables, run the
 * stages a session runs at RCPT (client, helo, sender, relay, recipient)
 * and compare the reply with what Postfix 3.7 answers for the same setup.
 * The expected strings of the non-DNS cases were taken from a live Postfix
 * 3.7.11 given the same main.cf (XCLIENT stood in for client names); the
 * DNS-dependent ones (unknown domains, null MX, DNSBL replies) follow
 * Postfix's documentation and default_rbl_reply. DNS-based restrictions run
 * against the fake DNS server of fakedns.h through a real event loop.
 */
#include "t.h"
#include "fakedns.h"
#include "lib-conf/config.h"
#include "lib-dns/dns.h"
#include "lib/evloop.h"
#include "lib-route/resolve.h"
#include "smtpd/restrict.h"
#include "lib/util.h"

#include <stdlib.h>
#include <sys/stat.h>

static const struct fake_rr zone[] = {
    {"mx.test", FAKE_MX, "10 mail.mx.test"},
    {"x.test", FAKE_A, "192.0.2.1"},
    {"nullmx.test", FAKE_MX, "0 ."},
    {"servfail.test", 0, "!SERVFAIL"},
    {"2.0.0.127.bl.test", FAKE_A, "127.0.0.2"},
    {"2.0.0.127.bl.test", FAKE_A, "127.0.0.4"},
    {"2.0.0.127.bl.test", FAKE_TXT, "Listed, see http://bl.test/"},
    {"spam.test.rhs.test", FAKE_A, "127.0.0.2"},
    {"5.0.0.127.bl.test", FAKE_A, "127.0.0.2"},
    {"5.0.0.127.bl.test", FAKE_TXT, "bad\x01reason \xc3\xa9"},
    {"2.0.0.127.wl.test", FAKE_A, "127.0.0.5"},
    {"3.0.0.127.slow.test", 0, "!DROP"},
};

static char dir[64];
static int ncfg;
static struct evloop *loop;
static struct dns *dns;

struct ctx {
    struct config *cfg;
    struct resolver *res;
    struct restrictions *r;
    char err[1024];
};

static const char base_cf[] =
    "compatibility_level = 3.6\n"
    "myhostname = mx.example.test\n"
    "mydomain = example.test\n"
    "myorigin = example.test\n"
    "mydestination = $myhostname, localhost, local.test\n"
    "inet_interfaces = 127.0.0.1\n"
    "mynetworks = 10.0.0.0/8\n"
    "alias_maps =\n"
    "alias_database =\n"
    "local_recipient_maps = inline:{known=x, postmaster=x}\n"
    "virtual_alias_domains = valias.test\n"
    "virtual_alias_maps = inline:{a@valias.test=known@local.test}\n"
    "virtual_mailbox_domains = vmbox.test\n"
    "virtual_mailbox_maps = inline:{box@vmbox.test=box/}\n"
    "relay_domains = relay.test\n";

static void ctx_load(struct ctx *c, const char *extra)
{
    char sub[128], path[160];
    memset(c, 0, sizeof(*c));
    str_fmt(sub, sizeof(sub), "%s/cf%d", dir, ncfg++);
    mkdir(sub, 0755);
    str_fmt(path, sizeof(path), "%s/main.cf", sub);
    FILE *f = fopen(path, "w");
    fputs(base_cf, f);
    fputs(extra, f);
    fclose(f);
    struct cfg_diags d = {0};
    c->cfg = config_load(sub, &d);
    for (size_t i = 0; !c->cfg && i < d.n; i++)
        fprintf(stderr, "%s:%d: %s\n", d.v[i].file, d.v[i].line, d.v[i].text);
    cfg_diags_free(&d);
    if (!c->cfg) {
        fprintf(stderr, "config_load failed for [%s]\n", extra);
        exit(1);
    }
    c->res = resolver_new(c->cfg);
    if (!c->res) {
        fprintf(stderr, "resolver_new failed\n");
        exit(1);
    }
    c->r = smtpd_restrictions_new(c->cfg, dns, c->res, c->err, sizeof(c->err));
}

static void ctx_free(struct ctx *c)
{
    smtpd_restrictions_free(c->r);
    resolver_free(c->res);
    config_free(c->cfg);
}

/* ---- running stages ---- */

struct waiter {
    int called;
    struct restrict_result res;
};

static void done_cb(const struct restrict_result *res, void *arg)
{
    struct waiter *w = arg;
    w->called++;
    w->res = *res;
    ev_loop_stop(loop);
}

static int pending_seen;

static void guard_cb(void *arg)
{
    (void)arg;
    fprintf(stderr, "test_restrict: callback never came\n");
    ev_loop_stop(loop);
}

static enum restrict_verdict eval(struct ctx *c, enum restrict_stage st,
                                  const struct restrict_input *in, struct restrict_actions *a,
                                  struct restrict_result *res)
{
    struct waiter w = {0};
    enum restrict_verdict v = smtpd_restrict_eval(c->r, st, in, a, res, done_cb, &w);
    if (v != RV_PENDING)
        return v;
    pending_seen++;
    CHECK_INT(w.called, 0);                /* never from inside smtpd_restrict_eval */
    struct ev_timer *g = ev_timer_add(loop, 5000, guard_cb, NULL);
    ev_loop_run(loop);
    ev_timer_cancel(loop, g);
    CHECK_INT(w.called, 1);
    *res = w.res;
    return res->verdict;
}

static void fmt_result(enum restrict_verdict v, const struct restrict_result *res, char *out,
                       size_t len)
{
    if (v == RV_PERMIT)
        str_copy(out, "OK", len);
    else
        str_fmt(out, len, "%d %s %s", res->code, res->dsn, res->text);
}

/* What a session does at RCPT with smtpd_delay_reject=yes. */
static const char *session_rcpt(struct ctx *c, const struct restrict_input *in,
                                struct restrict_actions *a, char *out, size_t len)
{
    static const enum restrict_stage stages[] = {RS_CLIENT, RS_HELO, RS_SENDER, RS_RELAY,
                                                 RS_RECIPIENT};
    struct restrict_result res;
    for (size_t i = 0; i < ARRAY_LEN(stages); i++) {
        enum restrict_verdict v = eval(c, stages[i], in, a, &res);
        if (v != RV_PERMIT) {
            fmt_result(v, &res, out, len);
            return out;
        }
    }
    str_copy(out, "OK", len);
    return out;
}

static struct restrict_input input(const char *rcpt)
{
    struct restrict_input in;
    memset(&in, 0, sizeof(in));
    in.client_addr = "127.0.0.1";
    in.client_name = "localhost";
    in.helo = "x.test";
    in.sender = "s@x.test";
    in.recipient = rcpt;
    in.protocol = "ESMTP";
    return in;
}

struct rcase {
    const char *sender;   /* NULL: s@x.test */
    const char *rcpt;
    const char *expect;
};

/* Run RCPT cases under one configuration, each with fresh per-message state. */
static void run_cases(const char *cf, const struct rcase *cases, size_t n)
{
    struct ctx c;
    ctx_load(&c, cf);
    if (!c.r) {
        fprintf(stderr, "smtpd_restrictions_new: %s\n", c.err);
        CHECK(c.r != NULL);
        ctx_free(&c);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct restrict_input in = input(cases[i].rcpt);
        if (cases[i].sender)
            in.sender = cases[i].sender;
        struct restrict_actions a;
        memset(&a, 0, sizeof(a));
        char out[700];
        session_rcpt(&c, &in, &a, out, sizeof(out));
        if (strcmp(out, cases[i].expect) != 0)
            fprintf(stderr, "config [%s] rcpt <%s>:\n", cf, cases[i].rcpt);
        CHECK_STR(out, cases[i].expect);
        smtpd_restrict_actions_free(&a);
    }
    ctx_free(&c);
}

#define RUN(cf, ...) do { static const struct rcase _c[] = {__VA_ARGS__}; \
    run_cases(cf, _c, ARRAY_LEN(_c)); } while (0)

/* ---- tests ---- */

static void test_generic(void)
{
    RUN("smtpd_client_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied"});
    RUN("smtpd_client_restrictions = defer\n",
        {NULL, "known@local.test", "450 4.3.2 <localhost[127.0.0.1]>: Client host rejected: Try again later"});
    RUN("smtpd_helo_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <x.test>: Helo command rejected: Access denied"});
    RUN("smtpd_sender_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <s@x.test>: Sender address rejected: Access denied"},
        {"", "known@local.test", "554 5.7.1 <>: Sender address rejected: Access denied"});
    RUN("smtpd_recipient_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"},
        {NULL, "unknown@local.test", "554 5.7.1 <unknown@local.test>: Recipient address rejected: Access denied"},
        {NULL, "x@relay.test", "554 5.7.1 <x@relay.test>: Recipient address rejected: Access denied"},
        /* the default relay restrictions come first */
        {NULL, "x@other.test", "454 4.7.1 <x@other.test>: Relay access denied"});
    RUN("smtpd_recipient_restrictions = defer\n",
        {NULL, "known@local.test", "450 4.3.2 <known@local.test>: Recipient address rejected: Try again later"});
    RUN("smtpd_recipient_restrictions = defer_if_permit\n",
        {NULL, "known@local.test", "450 4.7.0 <known@local.test>: Recipient address rejected: defer_if_permit requested"},
        /* the deferral wins over the implicit unlisted-recipient check */
        {NULL, "unknown@local.test", "450 4.7.0 <unknown@local.test>: Recipient address rejected: defer_if_permit requested"});
    RUN("smtpd_recipient_restrictions = defer_if_reject, reject\n",
        {NULL, "known@local.test", "450 4.7.0 <known@local.test>: Recipient address rejected: defer_if_reject requested"});
    RUN("smtpd_recipient_restrictions = warn_if_reject, reject, check_recipient_access inline:{ {known@local.test=REJECT second} }\n",
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: second"},
        {NULL, "postmaster@local.test", "OK"});
    RUN("smtpd_recipient_restrictions = warn_if_reject, defer_if_permit, permit\n",
        /* warn_if_reject does not touch a defer_if_permit */
        {NULL, "known@local.test", "450 4.7.0 <known@local.test>: Recipient address rejected: defer_if_permit requested"});
    RUN("smtpd_recipient_restrictions = permit, reject\n",
        {NULL, "known@local.test", "OK"},
        /* an explicit permit does not skip smtpd_reject_unlisted_recipient */
        {NULL, "unknown@local.test", "550 5.1.1 <unknown@local.test>: Recipient address rejected: User unknown in local recipient table"});
    RUN("smtpd_recipient_restrictions = reject\nsoft_bounce = yes\n",
        {NULL, "known@local.test", "454 4.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_recipient_restrictions = reject\nreject_code = 550\n",
        {NULL, "known@local.test", "550 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
}

static void test_relay(void)
{
    RUN("smtpd_relay_restrictions = reject_unauth_destination\n",
        {NULL, "known@local.test", "OK"},
        {NULL, "x@other.test", "554 5.7.1 <x@other.test>: Relay access denied"},
        {NULL, "x@relay.test", "OK"},
        {NULL, "x@sub.relay.test", "OK"},
        {NULL, "a@valias.test", "OK"},
        {NULL, "b@valias.test", "550 5.1.1 <b@valias.test>: Recipient address rejected: User unknown in virtual alias table"},
        {NULL, "box@vmbox.test", "OK"},
        {NULL, "nobox@vmbox.test", "550 5.1.1 <nobox@vmbox.test>: Recipient address rejected: User unknown in virtual mailbox table"},
        {NULL, "unknown@local.test", "550 5.1.1 <unknown@local.test>: Recipient address rejected: User unknown in local recipient table"},
        {NULL, "x%y@local.test", "554 5.7.1 <x%y@local.test>: Relay access denied"},
        {NULL, "x@y@local.test", "554 5.7.1 <x@y@local.test>: Relay access denied"},
        {NULL, "x!y@local.test", "554 5.7.1 <x!y@local.test>: Relay access denied"},
        {NULL, "postmaster", "OK"},
        {NULL, "nobody", "550 5.1.1 <nobody>: Recipient address rejected: User unknown in local recipient table"},
        {NULL, "x@[1.2.3.4]", "554 5.7.1 <x@[1.2.3.4]>: Relay access denied"},
        {NULL, "known@LOCAL.TEST", "OK"},
        {NULL, "known@sub.local.test", "554 5.7.1 <known@sub.local.test>: Relay access denied"});
    RUN("smtpd_relay_restrictions = defer_unauth_destination\nrelay_domains_reject_code = 553\n",
        {NULL, "x@other.test", "453 4.7.1 <x@other.test>: Relay access denied"});
    RUN("allow_percent_hack = no\nswap_bangpath = no\n",
        {NULL, "x%y@local.test", "550 5.1.1 <x%y@local.test>: Recipient address rejected: User unknown in local recipient table"},
        {NULL, "x!y@local.test", "550 5.1.1 <x!y@local.test>: Recipient address rejected: User unknown in local recipient table"});
    RUN("smtpd_recipient_restrictions = permit_auth_destination, reject\n",
        {NULL, "known@local.test", "OK"},
        {NULL, "x@relay.test", "OK"},
        {NULL, "x@other.test", "454 4.7.1 <x@other.test>: Relay access denied"});
    /* Pre-2.10 style: everything in smtpd_recipient_restrictions */
    RUN("smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n",
        {NULL, "known@local.test", "OK"},
        {NULL, "x@other.test", "554 5.7.1 <x@other.test>: Relay access denied"});
    /* relay list evaluated after the recipient list (compatibility_level < 3.6) */
    RUN("smtpd_relay_before_recipient_restrictions = no\nsmtpd_recipient_restrictions = reject\n",
        {NULL, "x@other.test", "554 5.7.1 <x@other.test>: Recipient address rejected: Access denied"});

    /* permit_mynetworks: the implicit unlisted check still applies */
    struct ctx c;
    ctx_load(&c, "smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n");
    CHECK(c.r != NULL);
    struct restrict_input in = input("unknown@local.test");
    in.client_addr = "10.1.1.1";
    in.client_name = "unknown";
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    char out[700];
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "550 5.1.1 <unknown@local.test>: Recipient address rejected: User unknown in local recipient table");
    in.recipient = "x@other.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK(smtpd_restrict_client_in_mynetworks(c.r, "10.9.9.9"));
    CHECK(!smtpd_restrict_client_in_mynetworks(c.r, "127.0.0.1"));
    /* RS_RECIPIENT alone still applies the relay list: never an open relay */
    struct restrict_result res;
    in = input("x@other.test");
    CHECK_INT(eval(&c, RS_RECIPIENT, &in, &a, &res), RV_REJECT);
    CHECK_STR(res.text, "<x@other.test>: Relay access denied");
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_access_actions(void)
{
    const char *cf =
        "local_recipient_maps =\n"
        "smtpd_recipient_restrictions = check_recipient_access inline:{ "
        "{a@local.test=REJECT}, {b@local.test=REJECT go away}, {c@local.test=DEFER}, "
        "{d@local.test=DEFER later}, {e@local.test=550 5.1.1 no such}, {f@local.test=550 no such}, "
        "{g@local.test=450 busy}, {h@local.test=DEFER_IF_PERMIT dip}, {i@local.test=DEFER_IF_REJECT dir}, "
        "{j@local.test=OK}, {k@local.test=DUNNO}, {l@local.test=12345}, {m@local.test=421 bye}, "
        "{n@local.test=550 5.1.0 sender}, {o@local.test=4.5.6 weird}, {p@local.test=599 x}, "
        "{q@local.test=WARN careful}, {r@local.test=bogus_restriction}, "
        "{s@local.test=reject_unauth_destination}, {z@local.test=INFO fyi}, "
        "{aa@local.test=REJECT 4.1.1 odd}, {ab@local.test=DEFER 5.1.1 odd}, "
        "{ac@local.test=REJECT   spaces }, {ad@local.test=ok}, {ae@local.test=reject}, "
        "{af@local.test=550}, {ah@local.test=550 5.1.1}, {ai@local.test=250 ok}, "
        "{ak@local.test=PERMIT}, {an@local.test=DEFER_IF_PERMIT}, {ao@local.test=DEFER_IF_REJECT}, "
        "{ap@local.test=y@local.test}, {aq@local.test=permit_mynetworks, reject}, "
        "{k2@local.test=DUNNO} }, "
        "check_recipient_access inline:{ {h@local.test=reject}, {i@local.test=reject}, "
        "{an@local.test=reject}, {ao@local.test=reject}, {k@local.test=REJECT second table}, "
        "{k2=REJECT user part} }\n";
    RUN(cf,
        {NULL, "a@local.test", "554 5.7.1 <a@local.test>: Recipient address rejected: Access denied"},
        {NULL, "b@local.test", "554 5.7.1 <b@local.test>: Recipient address rejected: go away"},
        {NULL, "c@local.test", "450 4.7.1 <c@local.test>: Recipient address rejected: Access denied"},
        {NULL, "d@local.test", "450 4.7.1 <d@local.test>: Recipient address rejected: later"},
        {NULL, "e@local.test", "550 5.1.1 <e@local.test>: Recipient address rejected: no such"},
        {NULL, "f@local.test", "550 5.7.1 <f@local.test>: Recipient address rejected: no such"},
        {NULL, "g@local.test", "450 4.7.1 <g@local.test>: Recipient address rejected: busy"},
        {NULL, "h@local.test", "554 5.7.1 <h@local.test>: Recipient address rejected: Access denied"},
        {NULL, "i@local.test", "450 4.7.1 <i@local.test>: Recipient address rejected: dir"},
        {NULL, "j@local.test", "OK"},
        {NULL, "k@local.test", "554 5.7.1 <k@local.test>: Recipient address rejected: second table"},
        {NULL, "l@local.test", "OK"},
        {NULL, "m@local.test", "421 4.7.1 <m@local.test>: Recipient address rejected: bye"},
        {NULL, "n@local.test", "550 5.1.0 <n@local.test>: Recipient address rejected: sender"},
        {NULL, "o@local.test", "451 4.3.5 Server configuration error"},
        {NULL, "p@local.test", "599 5.7.1 <p@local.test>: Recipient address rejected: x"},
        {NULL, "q@local.test", "OK"},
        {NULL, "r@local.test", "451 4.3.5 Server configuration error"},
        {NULL, "s@local.test", "OK"},
        {NULL, "z@local.test", "OK"},
        {NULL, "aa@local.test", "554 5.1.1 <aa@local.test>: Recipient address rejected: odd"},
        {NULL, "ab@local.test", "450 4.1.1 <ab@local.test>: Recipient address rejected: odd"},
        {NULL, "ac@local.test", "554 5.7.1 <ac@local.test>: Recipient address rejected: spaces"},
        {NULL, "ad@local.test", "OK"},
        {NULL, "ae@local.test", "554 5.7.1 <ae@local.test>: Recipient address rejected: Access denied"},
        {NULL, "af@local.test", "OK"},
        {NULL, "ah@local.test", "550 5.1.1 <ah@local.test>: Recipient address rejected: Access denied"},
        {NULL, "ai@local.test", "451 4.3.5 Server configuration error"},
        {NULL, "ak@local.test", "OK"},
        {NULL, "an@local.test", "554 5.7.1 <an@local.test>: Recipient address rejected: Access denied"},
        {NULL, "ao@local.test", "450 4.7.1 <ao@local.test>: Recipient address rejected: Service unavailable"},
        /* a result that is neither action nor restriction */
        {NULL, "ap@local.test", "451 4.3.5 Server configuration error"},
        /* restrictions as a result, evaluated in the recipient's context */
        {NULL, "aq@local.test", "554 5.7.1 <aq@local.test>: Recipient address rejected: Access denied"},
        /* DUNNO stops the search in that table (user@ is not tried) */
        {NULL, "k2@local.test", "OK"},
        {NULL, "k2@other.local.test", "454 4.7.1 <k2@other.local.test>: Relay access denied"});

    /* HOLD, DISCARD, FILTER, REDIRECT, PREPEND go to the actions */
    struct ctx c;
    ctx_load(&c, "local_recipient_maps =\n"
                 "smtpd_recipient_restrictions = check_recipient_access inline:{ "
                 "{t@local.test=HOLD}, {al@local.test=HOLD why}, {u@local.test=DISCARD gone}, "
                 "{v@local.test=FILTER smtp:[1.2.3.4]}, {w@local.test=REDIRECT x@y.test}, "
                 "{x@local.test=PREPEND X-Foo: bar}, {x2@local.test=PREPEND bad header}, "
                 "{y@local.test=BCC b@y.test}, {f2@local.test=FILTER nocolon} }, "
                 "check_recipient_access inline:{ {t@local.test=reject}, {al@local.test=reject} }\n");
    CHECK(c.r != NULL);
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    char out[700];
    struct restrict_input in = input("v@local.test");
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK_STR(a.filter, "smtp:[1.2.3.4]");
    in.recipient = "f2@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK_STR(a.filter, "smtp:[1.2.3.4]");
    in.recipient = "w@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK_STR(a.redirect, "x@y.test");
    in.recipient = "x@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    in.recipient = "x2@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK_INT(a.nprepend, 1);
    CHECK_STR(a.prepend[0], "X-Foo: bar");
    in.recipient = "y@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    in.recipient = "t@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "554 5.7.1 <t@local.test>: Recipient address rejected: Access denied");
    CHECK_INT(a.hold, 1);
    CHECK_STR(a.hold_reason, "<t@local.test>: Recipient address triggers HOLD action");
    in.recipient = "al@local.test";
    session_rcpt(&c, &in, &a, out, sizeof(out));
    CHECK_STR(a.hold_reason, "<al@local.test>: Recipient address why");
    /* DISCARD accepts, and every later recipient of the message too */
    in.recipient = "u@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    CHECK_INT(a.discard, 1);
    CHECK_STR(a.discard_reason, "<u@local.test>: Recipient address gone");
    in.recipient = "t@local.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    in.recipient = "nobody@other.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    /* a new transaction forgets all of it */
    smtpd_restrict_actions_reset(&a);
    CHECK_INT(a.discard, 0);
    CHECK_INT(a.hold, 0);
    CHECK_INT(a.nprepend, 0);
    CHECK(a.filter == NULL && a.redirect == NULL);
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "454 4.7.1 <nobody@other.test>: Relay access denied");
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_dsn_fix(void)
{
    const char *cf =
        "smtpd_sender_restrictions = check_sender_access inline:{ {a1@x.test=550 5.1.1 t}, "
        "{a2@x.test=550 5.1.2 t}, {a3@x.test=550 5.1.3 t}, {a4@x.test=550 5.1.4 t}, "
        "{a5@x.test=550 5.1.5 t}, {a6@x.test=550 5.1.6 t}, {a7@x.test=550 5.1.7 t}, "
        "{a8@x.test=550 5.1.8 t}, {a9@x.test=550 5.1.9 t}, {a0@x.test=450 4.1.0 t}, "
        "{b1@x.test=550 5.2.1 t}, {b2@x.test=550 5.7.1 t}, {b3@x.test=550 5.1.10 t} }\n"
        "smtpd_recipient_restrictions = check_recipient_access inline:{ {a1@local.test=550 5.1.1 t}, "
        "{a7@local.test=550 5.1.7 t}, {a8@local.test=550 5.1.8 t}, {a9@local.test=550 5.1.9 t} }\n";
    RUN(cf,
        {"a1@x.test", "known@local.test", "550 5.1.7 <a1@x.test>: Sender address rejected: t"},
        {"a2@x.test", "known@local.test", "550 5.1.8 <a2@x.test>: Sender address rejected: t"},
        {"a3@x.test", "known@local.test", "550 5.1.7 <a3@x.test>: Sender address rejected: t"},
        {"a4@x.test", "known@local.test", "550 5.1.7 <a4@x.test>: Sender address rejected: t"},
        {"a5@x.test", "known@local.test", "550 5.1.0 <a5@x.test>: Sender address rejected: t"},
        {"a6@x.test", "known@local.test", "550 5.1.7 <a6@x.test>: Sender address rejected: t"},
        {"a7@x.test", "known@local.test", "550 5.1.7 <a7@x.test>: Sender address rejected: t"},
        {"a8@x.test", "known@local.test", "550 5.1.8 <a8@x.test>: Sender address rejected: t"},
        {"a9@x.test", "known@local.test", "550 5.1.0 <a9@x.test>: Sender address rejected: t"},
        {"a0@x.test", "known@local.test", "450 4.1.0 <a0@x.test>: Sender address rejected: t"},
        {"b1@x.test", "known@local.test", "550 5.2.1 <b1@x.test>: Sender address rejected: t"},
        {"b2@x.test", "known@local.test", "550 5.7.1 <b2@x.test>: Sender address rejected: t"},
        {"b3@x.test", "known@local.test", "550 5.1.0 <b3@x.test>: Sender address rejected: t"},
        {NULL, "a1@local.test", "550 5.1.1 <a1@local.test>: Recipient address rejected: t"},
        {NULL, "a7@local.test", "550 5.1.3 <a7@local.test>: Recipient address rejected: t"},
        {NULL, "a8@local.test", "550 5.1.2 <a8@local.test>: Recipient address rejected: t"},
        {NULL, "a9@local.test", "550 5.1.0 <a9@local.test>: Recipient address rejected: t"});

    /* non-address subjects: x.1.y becomes x.0.0 */
    struct ctx c;
    ctx_load(&c, "smtpd_helo_restrictions = check_helo_access inline:{ {h1.test=550 5.1.1 t}, "
                 "{h3.test=550 5.2.1 t} }\n");
    CHECK(c.r != NULL);
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    char out[700];
    struct restrict_input in = input("known@local.test");
    in.helo = "h1.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "550 5.0.0 <h1.test>: Helo command rejected: t");
    memset(&a, 0, sizeof(a));
    in.helo = "h3.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "550 5.2.1 <h3.test>: Helo command rejected: t");
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_classes(void)
{
    const char *cf =
        "smtpd_restriction_classes = myclass, other\n"
        "myclass = check_recipient_access inline:{ {known@local.test=REJECT in class} }, permit\n"
        "other = reject_unauth_destination\n"
        "smtpd_recipient_restrictions = check_sender_access inline:{s@x.test=myclass}, reject\n";
    RUN(cf,
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: in class"},
        {NULL, "postmaster@local.test", "OK"},
        {"t@x.test", "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_restriction_classes = myclass\nmyclass = permit\nsmtpd_recipient_restrictions = myclass, reject\n",
        {NULL, "known@local.test", "OK"});
    /* a class that refers to another; a reject inside a sender-access result
     * is worded for the sender */
    RUN("smtpd_restriction_classes = outer, inner\nouter = inner\ninner = reject\n"
        "smtpd_recipient_restrictions = check_sender_access inline:{s@x.test=outer}, permit\n",
        {NULL, "known@local.test", "554 5.7.1 <s@x.test>: Sender address rejected: Access denied"});
    /* a class loop is a configuration error at run time, not a crash */
    RUN("smtpd_restriction_classes = c1, c2\nc1 = c2\nc2 = c1\n"
        "smtpd_recipient_restrictions = c1, reject\n",
        {NULL, "known@local.test", "451 4.3.5 Server configuration error"});
}

static void test_unlisted(void)
{
    RUN("smtpd_reject_unlisted_sender = yes\nrelay_recipient_maps = inline:{ok@relay.test=x}\n",
        {"unknown@local.test", "known@local.test", "550 5.1.0 <unknown@local.test>: Sender address rejected: User unknown in local recipient table"},
        {"b@valias.test", "known@local.test", "550 5.1.7 <b@valias.test>: Sender address rejected: User unknown in virtual alias table"},
        {"nobox@vmbox.test", "known@local.test", "550 5.1.0 <nobox@vmbox.test>: Sender address rejected: User unknown in virtual mailbox table"},
        {"no@relay.test", "known@local.test", "550 5.1.0 <no@relay.test>: Sender address rejected: User unknown in relay recipient table"},
        {"", "no@relay.test", "550 5.1.1 <no@relay.test>: Recipient address rejected: User unknown in relay recipient table"},
        {"", "ok@relay.test", "OK"},
        {"someone@other.test", "known@local.test", "OK"});
    RUN("smtpd_sender_restrictions = reject_unlisted_sender\nsmtpd_recipient_restrictions = reject_unlisted_recipient\n",
        {"unknown@local.test", "known@local.test", "550 5.1.0 <unknown@local.test>: Sender address rejected: User unknown in local recipient table"},
        {NULL, "unknown@local.test", "550 5.1.1 <unknown@local.test>: Recipient address rejected: User unknown in local recipient table"});
    RUN("smtpd_reject_unlisted_recipient = no\n",
        {NULL, "unknown@local.test", "OK"});
    RUN("unknown_local_recipient_reject_code = 450\nunknown_virtual_alias_reject_code = 551\n",
        {NULL, "unknown@local.test", "450 4.1.1 <unknown@local.test>: Recipient address rejected: User unknown in local recipient table"},
        {NULL, "b@valias.test", "551 5.1.1 <b@valias.test>: Recipient address rejected: User unknown in virtual alias table"});
    /* sender restrictions come before the recipient check */
    RUN("smtpd_sender_restrictions = reject\n",
        {NULL, "unknown@local.test", "554 5.7.1 <s@x.test>: Sender address rejected: Access denied"});
}

static void test_defer_carry(void)
{
    RUN("smtpd_client_restrictions = defer_if_permit\nsmtpd_recipient_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_client_restrictions = defer_if_permit\n",
        {NULL, "known@local.test", "450 4.7.0 <localhost[127.0.0.1]>: Client host rejected: defer_if_permit requested"});
    RUN("smtpd_client_restrictions = defer_if_reject\nsmtpd_recipient_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_relay_restrictions = defer_if_reject, permit\nsmtpd_recipient_restrictions = reject\n",
        {NULL, "known@local.test", "450 4.7.0 <known@local.test>: Recipient address rejected: defer_if_reject requested"});
    RUN("smtpd_relay_restrictions = defer_if_permit, permit\nsmtpd_recipient_restrictions = reject\n",
        {NULL, "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_helo_restrictions = defer_if_permit\nsmtpd_sender_restrictions = check_sender_access inline:{ {s@x.test=DEFER_IF_PERMIT later} }\n",
        /* the first reason is kept */
        {NULL, "known@local.test", "450 4.7.0 <x.test>: Helo command rejected: defer_if_permit requested"});

    /* smtpd_delay_reject = no: client stage at connect, its deferral at RCPT */
    struct ctx c;
    ctx_load(&c, "smtpd_delay_reject = no\nsmtpd_client_restrictions = defer_if_permit\n");
    CHECK(c.r != NULL);
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    struct restrict_result res;
    struct restrict_input in = input(NULL);
    in.helo = NULL;
    in.sender = NULL;
    CHECK_INT(eval(&c, RS_CLIENT, &in, &a, &res), RV_PERMIT);
    in.helo = "x.test";
    CHECK_INT(eval(&c, RS_HELO, &in, &a, &res), RV_PERMIT);
    in.sender = "s@x.test";
    CHECK_INT(eval(&c, RS_SENDER, &in, &a, &res), RV_PERMIT);
    in.recipient = "known@local.test";
    CHECK_INT(eval(&c, RS_RELAY, &in, &a, &res), RV_PERMIT);
    CHECK_INT(eval(&c, RS_RECIPIENT, &in, &a, &res), RV_DEFER);
    CHECK_STR(res.text, "<localhost[127.0.0.1]>: Client host rejected: defer_if_permit requested");
    /* the next transaction still carries the client's deferral */
    smtpd_restrict_actions_reset(&a);
    CHECK_INT(eval(&c, RS_SENDER, &in, &a, &res), RV_PERMIT);
    CHECK_INT(eval(&c, RS_RECIPIENT, &in, &a, &res), RV_DEFER);
    CHECK_INT(eval(&c, RS_DATA, &in, &a, &res), RV_DEFER);
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_helo_sender_misc(void)
{
    const char *cf =
        "smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname\n"
        "smtpd_sender_restrictions = reject_non_fqdn_sender\n"
        "smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_multi_recipient_bounce\n";
    struct ctx c;
    ctx_load(&c, cf);
    CHECK(c.r != NULL);
    struct {
        const char *helo, *sender, *rcpt;
        int nrcpt;
        const char *expect;
    } cases[] = {
        {"[1.2.3.4]", "s@[1.2.3.4]", "known@local.test", 0, "OK"},
        {"foo", "s@x.test", "known@local.test", 0, "504 5.5.2 <foo>: Helo command rejected: need fully-qualified hostname"},
        {"1.2.3.4", "s@x.test", "known@local.test", 0, "504 5.5.2 <1.2.3.4>: Helo command rejected: need fully-qualified hostname"},
        {"[1.2.3]", "s@x.test", "known@local.test", 0, "501 5.5.2 <[1.2.3]>: Helo command rejected: invalid ip address"},
        {"[::1]", "s@x.test", "known@local.test", 0, "501 5.5.2 <[::1]>: Helo command rejected: invalid ip address"},
        {"a..b", "s@x.test", "known@local.test", 0, "501 5.5.2 <a..b>: Helo command rejected: Invalid name"},
        {"1.2.3.456", "s@x.test", "known@local.test", 0, "501 5.5.2 <1.2.3.456>: Helo command rejected: Invalid name"},
        {"x.test", "s", "known@local.test", 0, "504 5.5.2 <s>: Sender address rejected: need fully-qualified address"},
        {"x.test", "s@foo", "known@local.test", 0, "504 5.5.2 <s@foo>: Sender address rejected: need fully-qualified address"},
        {"x.test", "", "known", 0, "504 5.5.2 <known>: Recipient address rejected: need fully-qualified address"},
        {"x.test", "", "known@local.test", 0, "OK"},
        {"x.test", "", "postmaster@local.test", 1, "550 5.5.3 <postmaster@local.test>: Recipient address rejected: Multi-recipient bounce"},
        {"x.test", "s@x.test", "postmaster@local.test", 1, "OK"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct restrict_input in = input(cases[i].rcpt);
        in.helo = cases[i].helo;
        in.sender = cases[i].sender;
        in.nrcpt = cases[i].nrcpt;
        struct restrict_actions a;
        memset(&a, 0, sizeof(a));
        char out[700];
        CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), cases[i].expect);
        smtpd_restrict_actions_free(&a);
    }
    ctx_free(&c);

    /* DATA, END-OF-DATA and ETRN stages */
    ctx_load(&c, "smtpd_data_restrictions = reject_unauth_pipelining, reject_multi_recipient_bounce\n"
                 "smtpd_end_of_data_restrictions = reject\n"
                 "smtpd_etrn_restrictions = check_etrn_access inline:{ {ok.test=OK} }, reject\n");
    CHECK(c.r != NULL);
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    struct restrict_result res;
    struct restrict_input in = input(NULL);
    char out[700];
    in.sender = "";
    in.nrcpt = 2;
    fmt_result(eval(&c, RS_DATA, &in, &a, &res), &res, out, sizeof(out));
    CHECK_STR(out, "550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce");
    in.nrcpt = 1;
    CHECK_INT(eval(&c, RS_DATA, &in, &a, &res), RV_PERMIT);
    in.unauth_pipelining = 1;
    fmt_result(eval(&c, RS_DATA, &in, &a, &res), &res, out, sizeof(out));
    CHECK_STR(out, "503 5.5.0 <DATA>: Data command rejected: Improper use of SMTP command pipelining");
    fmt_result(eval(&c, RS_END_OF_DATA, &in, &a, &res), &res, out, sizeof(out));
    CHECK_STR(out, "554 5.7.1 <END-OF-MESSAGE>: End-of-data rejected: Access denied");
    in.etrn_domain = "foo.test";
    fmt_result(eval(&c, RS_ETRN, &in, &a, &res), &res, out, sizeof(out));
    CHECK_STR(out, "554 5.7.1 <foo.test>: Etrn command rejected: Access denied");
    in.etrn_domain = "ok.test";
    CHECK_INT(eval(&c, RS_ETRN, &in, &a, &res), RV_PERMIT);
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_client(void)
{
    struct ctx c;
    struct restrict_actions a;
    char out[700];
    struct {
        const char *cf, *name, *rev, *addr;
        int status, rev_status;
        const char *expect;
    } cases[] = {
        {"smtpd_client_restrictions = reject_unknown_client_hostname\n", "unknown", NULL,
         "192.0.2.1", 0, 0, "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]"},
        {"smtpd_client_restrictions = reject_unknown_client_hostname\nsmtpd_recipient_restrictions = reject\n",
         "unknown", NULL, "192.0.2.1", DNS_TEMPFAIL, 0,
         "450 4.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]"},
        {"smtpd_client_restrictions = reject_unknown_client_hostname\nunknown_client_reject_code = 550\n",
         "unknown", "foo.test", "192.0.2.1", DNS_NOTFOUND, DNS_OK,
         "550 5.7.25 Client host rejected: cannot find your hostname, [192.0.2.1]"},
        {"smtpd_client_restrictions = reject_unknown_client_hostname\n", "ok.test", NULL,
         "192.0.2.1", DNS_OK, 0, "OK"},
        {"smtpd_client_restrictions = reject_unknown_reverse_client_hostname\nunknown_client_reject_code = 550\n",
         "unknown", "unknown", "192.0.2.1", DNS_NOTFOUND, DNS_NOTFOUND,
         "550 5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]"},
        {"smtpd_client_restrictions = reject_unknown_reverse_client_hostname\n",
         "unknown", "unknown", "192.0.2.1", DNS_TEMPFAIL, DNS_TEMPFAIL,
         "450 4.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.1]"},
        {"smtpd_client_restrictions = reject_unknown_reverse_client_hostname\n",
         "unknown", "foo.test", "192.0.2.1", DNS_NOTFOUND, DNS_OK, "OK"},
        {"smtpd_client_restrictions = check_reverse_client_hostname_access inline:{ {foo.test=REJECT rev}, {192.0.2.1=REJECT addr} }\n",
         "unknown", "foo.test", "192.0.2.1", DNS_NOTFOUND, DNS_OK,
         "554 5.7.1 <foo.test>: Unverified Client host rejected: rev"},
        {"smtpd_client_restrictions = permit_inet_interfaces, reject\n", "localhost", NULL,
         "127.0.0.1", DNS_OK, 0, "OK"},
        {"smtpd_client_restrictions = permit_inet_interfaces, reject\n", "unknown", NULL,
         "10.9.9.9", DNS_NOTFOUND, 0, "554 5.7.1 <unknown[10.9.9.9]>: Client host rejected: Access denied"},
        {"smtpd_client_restrictions = permit_mynetworks, reject\n", "unknown", NULL,
         "10.9.9.9", DNS_NOTFOUND, 0, "OK"},
        {"smtpd_client_restrictions = permit_sasl_authenticated, reject\n", "unknown", NULL,
         "10.9.9.9", DNS_NOTFOUND, 0, "554 5.7.1 <unknown[10.9.9.9]>: Client host rejected: Access denied"},
        {"smtpd_client_restrictions = reject_plaintext_session\n", "unknown", NULL,
         "10.9.9.9", DNS_NOTFOUND, 0, "450 4.7.1 Session encryption is required"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        ctx_load(&c, cases[i].cf);
        CHECK(c.r != NULL);
        struct restrict_input in = input("known@local.test");
        in.client_name = cases[i].name;
        in.reverse_client_name = cases[i].rev;
        in.client_addr = cases[i].addr;
        in.client_name_status = cases[i].status;
        in.reverse_name_status = cases[i].rev_status;
        memset(&a, 0, sizeof(a));
        session_rcpt(&c, &in, &a, out, sizeof(out));
        if (strcmp(out, cases[i].expect))
            fprintf(stderr, "client case %zu\n", i);
        CHECK_STR(out, cases[i].expect);
        smtpd_restrict_actions_free(&a);
        ctx_free(&c);
    }

    /* check_client_access: name, parent domains, address, networks; DUNNO stops */
    const char *cf = "smtpd_client_restrictions = check_client_access inline:{ {192.0.2=REJECT net}, "
                     "{ok.example=OK}, {bad.example=REJECT name}, {.sub.example=REJECT parent}, "
                     "{10.0.0.5=DUNNO}, {10.0=REJECT ten}, {unknown=REJECT unk}, {zzz.test=DUNNO}, "
                     "{test=REJECT tld} }\n";
    struct { const char *name, *addr, *expect; } cc[] = {
        {"unknown", "192.0.2.1", "554 5.7.1 <unknown[192.0.2.1]>: Client host rejected: unk"},
        {"bad.example", "10.0.0.1", "554 5.7.1 <bad.example[10.0.0.1]>: Client host rejected: name"},
        {"x.bad.example", "172.16.0.1", "554 5.7.1 <x.bad.example[172.16.0.1]>: Client host rejected: name"},
        /* parent style: ".sub.example" is not a key that is looked up */
        {"a.sub.example", "10.0.0.1", "554 5.7.1 <a.sub.example[10.0.0.1]>: Client host rejected: ten"},
        {"ok.example", "192.0.2.3", "OK"},
        {"zzz.test", "10.0.0.5", "OK"},
        {"zzz.test", "10.0.0.6", "OK"},
        {"yyy.test", "10.0.0.5", "554 5.7.1 <yyy.test[10.0.0.5]>: Client host rejected: tld"},
        {"yyy.other", "10.0.0.6", "554 5.7.1 <yyy.other[10.0.0.6]>: Client host rejected: ten"},
        {"yyy.other", "10.0.0.5", "OK"},
        {"yyy.other", "10.1.0.6", "OK"},
        {"yyy.other", "192.0.2.77", "554 5.7.1 <yyy.other[192.0.2.77]>: Client host rejected: net"},
    };
    ctx_load(&c, cf);
    CHECK(c.r != NULL);
    for (size_t i = 0; i < ARRAY_LEN(cc); i++) {
        struct restrict_input in = input("known@local.test");
        in.client_name = cc[i].name;
        in.client_addr = cc[i].addr;
        memset(&a, 0, sizeof(a));
        session_rcpt(&c, &in, &a, out, sizeof(out));
        CHECK_STR(out, cc[i].expect);
        smtpd_restrict_actions_free(&a);
    }
    ctx_free(&c);
    /* without smtpd_access_maps in parent_domain_matches_subdomains */
    ctx_load(&c, "parent_domain_matches_subdomains =\n"
                 "smtpd_client_restrictions = check_client_access inline:{ {.sub.example=REJECT parent}, "
                 "{example=REJECT tld} }\n");
    CHECK(c.r != NULL);
    struct restrict_input in = input("known@local.test");
    in.client_name = "a.sub.example";
    memset(&a, 0, sizeof(a));
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "554 5.7.1 <a.sub.example[127.0.0.1]>: Client host rejected: parent");
    in.client_name = "sub.example";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_sender_access_order(void)
{
    const char *cf =
        "recipient_delimiter = +\n"
        "smtpd_sender_restrictions = check_sender_access inline:{ {a+b@x.test=REJECT full}, "
        "{a@x.test=REJECT noext}, {y.test=REJECT dom}, {c@=REJECT user}, {<>=REJECT null}, "
        "{d+e@=REJECT userext}, {sub.z.test=DUNNO}, {z.test=REJECT z} }\n";
    RUN(cf,
        {"a+b@x.test", "known@local.test", "554 5.7.1 <a+b@x.test>: Sender address rejected: full"},
        {"a+c@x.test", "known@local.test", "554 5.7.1 <a+c@x.test>: Sender address rejected: noext"},
        {"q@y.test", "known@local.test", "554 5.7.1 <q@y.test>: Sender address rejected: dom"},
        {"q@sub.y.test", "known@local.test", "554 5.7.1 <q@sub.y.test>: Sender address rejected: dom"},
        {"c@w.test", "known@local.test", "554 5.7.1 <c@w.test>: Sender address rejected: user"},
        {"c+d@w.test", "known@local.test", "554 5.7.1 <c+d@w.test>: Sender address rejected: user"},
        {"", "known@local.test", "554 5.7.1 <>: Sender address rejected: null"},
        {"d+e@w.test", "known@local.test", "554 5.7.1 <d+e@w.test>: Sender address rejected: userext"},
        {"d+f@w.test", "known@local.test", "OK"},
        {"q@a.sub.z.test", "known@local.test", "OK"},
        {"q@b.z.test", "known@local.test", "554 5.7.1 <q@b.z.test>: Sender address rejected: z"},
        {"A@X.TEST", "known@local.test", "554 5.7.1 <A@X.TEST>: Sender address rejected: noext"});
    RUN("smtpd_helo_restrictions = check_helo_access inline:{ {x.test=REJECT h}, {[1.2.3.4]=REJECT lit}, {1.2.3.4=REJECT addr} }\n",
        {NULL, "known@local.test", "554 5.7.1 <x.test>: Helo command rejected: h"});
}

static void test_login_mismatch(void)
{
    struct ctx c;
    /* without SASL the check does nothing (Postfix) */
    RUN("smtpd_sender_login_maps = inline:{ {alice@x.test=alice} }\n"
        "smtpd_sender_restrictions = reject_sender_login_mismatch\n",
        {"alice@x.test", "known@local.test", "OK"});
    ctx_load(&c, "smtpd_sasl_auth_enable = yes\n"
                 "smtpd_sender_login_maps = inline:{ {alice@x.test=alice}, {@shared.test=bob, carol} }\n"
                 "smtpd_sender_restrictions = reject_sender_login_mismatch\n");
    CHECK(c.r != NULL);
    struct {
        const char *sender, *login, *expect;
    } cases[] = {
        {"alice@x.test", "alice", "OK"},
        {"alice@x.test", "bob", "553 5.7.1 <alice@x.test>: Sender address rejected: not owned by user bob"},
        {"alice@x.test", NULL, "553 5.7.1 <alice@x.test>: Sender address rejected: not logged in"},
        {"any@shared.test", "carol", "OK"},
        {"nobody@else.test", NULL, "OK"},
        {"nobody@else.test", "bob", "553 5.7.1 <nobody@else.test>: Sender address rejected: not owned by user bob"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct restrict_input in = input("known@local.test");
        in.sender = cases[i].sender;
        in.sasl_username = cases[i].login;
        struct restrict_actions a;
        memset(&a, 0, sizeof(a));
        char out[700];
        CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), cases[i].expect);
        smtpd_restrict_actions_free(&a);
    }
    ctx_free(&c);
}

static void test_config_errors(void)
{
    struct {
        const char *cf, *err;
    } cases[] = {
        {"smtpd_relay_restrictions = permit_mynetworks\nsmtpd_recipient_restrictions = permit_mynetworks\n",
         "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least "
         "one working instance of: reject_unauth_destination, defer_unauth_destination, reject, "
         "defer, defer_if_permit or check_relay_domains"},
        {"smtpd_relay_restrictions = warn_if_reject reject_unauth_destination\n",
         "in parameter smtpd_relay_restrictions or smtpd_recipient_restrictions, specify at least "
         "one working instance of: reject_unauth_destination, defer_unauth_destination, reject, "
         "defer, defer_if_permit or check_relay_domains"},
        {"smtpd_recipient_restrictions = permit_foo\n",
         "smtpd_recipient_restrictions: unknown restriction \"permit_foo\""},
        {"smtpd_client_restrictions = check_client_access\n",
         "smtpd_client_restrictions: restriction \"check_client_access\" needs an argument"},
        {"smtpd_sender_restrictions = reject_rbl_client\n",
         "smtpd_sender_restrictions: restriction \"reject_rbl_client\" needs an argument"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test=127.0.0\n",
         "smtpd_client_restrictions: reject_rbl_client: bad DNS list reply filter \"127.0.0\""},
        {"smtpd_client_restrictions = sleep x\n",
         "smtpd_client_restrictions: sleep: bad number \"x\""},
        {"smtpd_restriction_classes = nosuch\n",
         "smtpd_restriction_classes: restriction class \"nosuch\" has no parameter \"nosuch\" in main.cf"},
        {"smtpd_restriction_classes = cls\ncls = reject_bogus\n",
         "cls: unknown restriction \"reject_bogus\""},
        {"unknown_address_tempfail_action = maybe\n",
         "unknown_address_tempfail_action: bad value \"maybe\" (specify defer or defer_if_permit)"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct ctx c;
        ctx_load(&c, cases[i].cf);
        CHECK(c.r == NULL);
        CHECK_STR(c.err, cases[i].err);
        ctx_free(&c);
    }
    /* a table that cannot be opened names the parameter and the table */
    struct ctx c;
    ctx_load(&c, "smtpd_client_restrictions = check_client_access nosuchtype:/x\n");
    CHECK(c.r == NULL);
    CHECK(strncmp(c.err, "smtpd_client_restrictions: check_client_access nosuchtype:/x: ", 62) == 0);
    ctx_free(&c);
    /* the unimplemented Postfix restrictions are accepted (and ignored) */
    ctx_load(&c, "smtpd_recipient_restrictions = reject_unverified_recipient, "
                 "check_recipient_mx_access inline:{x=y}, permit\n");
    CHECK(c.r != NULL);
    ctx_free(&c);
}

/* ---- DNS-based restrictions ---- */

static void test_dns_checks(void)
{
    int before = pending_seen;
    RUN("smtpd_sender_restrictions = reject_unknown_sender_domain\n",
        {"s@mx.test", "known@local.test", "OK"},
        {"s@nx.test", "known@local.test", "450 4.1.8 <s@nx.test>: Sender address rejected: Domain not found"},
        {"s@nullmx.test", "known@local.test", "550 5.7.27 <s@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)"},
        {"s@servfail.test", "known@local.test", "450 4.4.3 <s@servfail.test>: Sender address rejected: Domain not found"},
        {"s@local.test", "known@local.test", "OK"},
        {"s@[192.0.2.1]", "known@local.test", "OK"},
        {"", "known@local.test", "OK"});
    CHECK(pending_seen > before);
    RUN("smtpd_sender_restrictions = reject_unknown_sender_domain\nsmtpd_recipient_restrictions = reject\n",
        /* a temporary failure defers only when nothing else rejects */
        {"s@servfail.test", "known@local.test", "554 5.7.1 <known@local.test>: Recipient address rejected: Access denied"});
    RUN("smtpd_sender_restrictions = reject_unknown_sender_domain\nsmtpd_recipient_restrictions = reject\n"
        "unknown_address_tempfail_action = defer\n",
        {"s@servfail.test", "known@local.test", "450 4.4.3 <s@servfail.test>: Sender address rejected: Domain not found"});
    RUN("smtpd_sender_restrictions = reject_unknown_sender_domain\nunknown_address_reject_code = 550\n",
        {"s@nx.test", "known@local.test", "550 5.1.8 <s@nx.test>: Sender address rejected: Domain not found"});
    RUN("smtpd_relay_restrictions = permit, reject_unauth_destination\n"
        "smtpd_recipient_restrictions = reject_unknown_recipient_domain\n",
        {NULL, "x@nx.test", "450 4.1.2 <x@nx.test>: Recipient address rejected: Domain not found"},
        {NULL, "x@nullmx.test", "556 5.1.10 <x@nullmx.test>: Recipient address rejected: Domain nullmx.test does not accept mail (nullMX)"},
        {NULL, "x@mx.test", "OK"},
        {NULL, "x@relay.test", "450 4.1.2 <x@relay.test>: Recipient address rejected: Domain not found"},
        {NULL, "box@vmbox.test", "OK"});
    RUN("smtpd_helo_restrictions = reject_unknown_helo_hostname\n",
        {NULL, "known@local.test", "OK"});
    struct ctx c;
    ctx_load(&c, "smtpd_helo_restrictions = reject_unknown_helo_hostname\n");
    CHECK(c.r != NULL);
    struct restrict_input in = input("known@local.test");
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    char out[700];
    in.helo = "nx.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "450 4.7.1 <nx.test>: Helo command rejected: Host not found");
    memset(&a, 0, sizeof(a));
    in.helo = "servfail.test";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)),
              "450 4.7.1 <servfail.test>: Helo command rejected: Host not found");
    memset(&a, 0, sizeof(a));
    in.helo = "[192.0.2.1]";
    CHECK_STR(session_rcpt(&c, &in, &a, out, sizeof(out)), "OK");
    smtpd_restrict_actions_free(&a);
    ctx_free(&c);
}

static void test_rbl(void)
{
    struct {
        const char *cf, *addr, *name, *sender, *expect;
    } cases[] = {
        {"smtpd_client_restrictions = reject_rbl_client bl.test\n", "127.0.0.2", "localhost", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed, see http://bl.test/"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test\n", "127.0.0.1", "localhost", "s@x.test", "OK"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test=127.0.0.4\n", "127.0.0.2", "localhost", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed, see http://bl.test/"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test=127.0.0.[5..9]\n", "127.0.0.2", "localhost", "s@x.test", "OK"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test=127.0.0.[1;3..4]\n", "127.0.0.2", "localhost", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed, see http://bl.test/"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test, reject\n", "127.0.0.1", "localhost", "s@x.test",
         "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied"},
        {"smtpd_client_restrictions = reject_rbl_client servfail.test, reject_rbl_client bl.test\n", "127.0.0.2", "localhost", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [127.0.0.2] blocked using bl.test; Listed, see http://bl.test/"},
        {"smtpd_sender_restrictions = reject_rhsbl_sender rhs.test\n", "127.0.0.1", "localhost", "s@spam.test",
         "554 5.7.1 Service unavailable; Sender address [s@spam.test] blocked using rhs.test"},
        {"smtpd_client_restrictions = reject_rhsbl_client rhs.test\n", "127.0.0.1", "spam.test", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [spam.test] blocked using rhs.test"},
        {"smtpd_client_restrictions = reject_rbl_client bl.test\nmaps_rbl_reject_code = 550\n"
         "rbl_reply_maps = inline:{ {bl.test=$$rbl_code 5.7.9 go away $$client_address $${rbl_reason?yes} $${rbl_reason:no} $${rbl_nosuch:dflt}$$rbl_nosuch.} }\n",
         "127.0.0.2", "localhost", "s@x.test", "550 5.7.9 go away 127.0.0.2 yes  dflt."},
        {"smtpd_client_restrictions = reject_rbl_client bl.test\n"
         "default_rbl_reply = $rbl_code Blocked ${rbl_reason?[$rbl_reason]}\n",
         "127.0.0.2", "localhost", "s@x.test", "554 5.7.1 Blocked [Listed, see http://bl.test/]"},
        /* smtpd_expansion_filter: what the list says is not trusted */
        {"smtpd_client_restrictions = reject_rbl_client bl.test\n", "127.0.0.5", "localhost", "s@x.test",
         "554 5.7.1 Service unavailable; Client host [127.0.0.5] blocked using bl.test; bad_reason __"},
        {"smtpd_client_restrictions = permit_dnswl_client wl.test, reject\n", "127.0.0.2", "localhost", "s@x.test", "OK"},
        {"smtpd_client_restrictions = permit_dnswl_client wl.test, reject\n", "127.0.0.1", "localhost", "s@x.test",
         "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied"},
        {"smtpd_relay_restrictions = permit_dnswl_client wl.test, reject_unauth_destination\n", "127.0.0.2", "localhost", "s@x.test",
         "554 5.7.1 <x@other.test>: Relay access denied"},
        {"smtpd_client_restrictions = warn_if_reject, reject_rbl_client bl.test\n", "127.0.0.2", "localhost", "s@x.test", "OK"},
    };
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct ctx c;
        ctx_load(&c, cases[i].cf);
        CHECK(c.r != NULL);
        if (!c.r) {
            fprintf(stderr, "%s\n", c.err);
            ctx_free(&c);
            continue;
        }
        struct restrict_input in = input(strstr(cases[i].cf, "dnswl_client wl.test, reject_unauth") ?
                                             "x@other.test" : "known@local.test");
        in.client_addr = cases[i].addr;
        in.client_name = cases[i].name;
        in.sender = cases[i].sender;
        struct restrict_actions a;
        memset(&a, 0, sizeof(a));
        char out[700];
        session_rcpt(&c, &in, &a, out, sizeof(out));
        if (strcmp(out, cases[i].expect))
            fprintf(stderr, "rbl case %zu\n", i);
        CHECK_STR(out, cases[i].expect);
        smtpd_restrict_actions_free(&a);
        ctx_free(&c);
    }
}

static int cancelled_called;

static void never_cb(const struct restrict_result *res, void *arg)
{
    (void)res;
    (void)arg;
    cancelled_called++;
}

static void stop_cb(void *arg)
{
    (void)arg;
    ev_loop_stop(loop);
}

static void test_cancel(void)
{
    struct ctx c;
    ctx_load(&c, "smtpd_client_restrictions = reject_rbl_client slow.test, reject\n");
    CHECK(c.r != NULL);
    struct restrict_input in = input("known@local.test");
    in.client_addr = "127.0.0.3";
    struct restrict_actions a;
    memset(&a, 0, sizeof(a));
    struct restrict_result res;
    int session;
    CHECK_INT(smtpd_restrict_eval(c.r, RS_CLIENT, &in, &a, &res, never_cb, &session), RV_PENDING);
    smtpd_restrict_cancel(c.r, &session);
    ev_timer_add(loop, 800, stop_cb, NULL);   /* longer than the DNS timeout */
    ev_loop_run(loop);
    CHECK_INT(cancelled_called, 0);
    CHECK_INT(dns_pending(dns), 0);

    /* not cancelled: a DNS list that times out lists nobody; the list goes on */
    CHECK_INT(eval(&c, RS_CLIENT, &in, &a, &res), RV_REJECT);
    CHECK_STR(res.text, "<localhost[127.0.0.3]>: Client host rejected: Access denied");

    /* freeing the restrictions with an evaluation pending: no callback */
    CHECK_INT(smtpd_restrict_eval(c.r, RS_CLIENT, &in, &a, &res, never_cb, &session), RV_PENDING);
    ctx_free(&c);
    ev_timer_add(loop, 800, stop_cb, NULL);
    ev_loop_run(loop);
    CHECK_INT(cancelled_called, 0);
    smtpd_restrict_actions_free(&a);
}

static void rm_rf(const char *path)
{
    char cmd[256];
    str_fmt(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", path);
}

int main(void)
{
    str_copy(dir, "/tmp/yubin-restrict-XXXXXX", sizeof(dir));
    if (!mkdtemp(dir))
        return 2;
    char hosts[128];
    str_fmt(hosts, sizeof(hosts), "%s/hosts", dir);
    FILE *f = fopen(hosts, "w");
    fputs("127.0.0.1 localhost\n", f);
    fclose(f);
    setenv("YUBIN_DNS_HOSTS", hosts, 1);
    fakedns_start(zone, ARRAY_LEN(zone));
    loop = ev_loop_new();
    dns = dns_new_opts(loop, 300, 1);

    T_RUN(test_generic);
    T_RUN(test_relay);
    T_RUN(test_access_actions);
    T_RUN(test_dsn_fix);
    T_RUN(test_classes);
    T_RUN(test_unlisted);
    T_RUN(test_defer_carry);
    T_RUN(test_helo_sender_misc);
    T_RUN(test_client);
    T_RUN(test_sender_access_order);
    T_RUN(test_login_mismatch);
    T_RUN(test_config_errors);
    T_RUN(test_dns_checks);
    T_RUN(test_rbl);
    T_RUN(test_cancel);

    dns_free(dns);
    ev_loop_free(loop);
    fakedns_stop();
    rm_rf(dir);
    return T_DONE();
}
