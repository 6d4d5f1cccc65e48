/*
 * test_imap_fetch.c - FETCH attribute lists (src/lib-imap/imap_fetch_items.c):
 * macros, simple items, BODY[section]<partial> and BODY.PEEK, RFC822.*,
 * BINARY/BINARY.PEEK/BINARY.SIZE, HEADER.FIELDS lists, reply names, \Seen,
 * CHANGEDSINCE/VANISHED modifiers, PREVIEW (LAZY), errors and limits.
 * Argument trees are built by tests/unit/imap_testargs.h; the cases include
 * the FETCH commands of the imaptest fetch, fetch-body and
 * fetch-binary-mime scripts.
 */
#include "lib-imap/imap_fetch_items.h"
#include "lib/buf.h"
#include "imap_testargs.h"
#include "t.h"

#include <string.h>

static struct targs ta;
static struct imap_fetch f;
static const char *err;

static int parse(const char *text)
{
    targs_free(&ta);
    imap_fetch_free(&f);
    err = NULL;
    struct imap_arg *args = targs_parse(&ta, text);
    if (!args) {
        fprintf(stderr, "test bug: cannot build args of %s\n", text);
        return -2;
    }
    int r = imap_fetch_parse(&f, args, &err);
    if (r < 0 && !err)
        return -3;
    return r;
}

static void test_macros(void)
{
    CHECK_INT(parse("ALL"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_ENVELOPE);
    CHECK_INT(parse("fast"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE);
    CHECK_INT(parse("Full"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE |
                       IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY);
    CHECK_INT(f.nbodies, 0);
    CHECK(!f.set_seen);
    /* Macros stand alone, never inside a list. */
    CHECK_INT(parse("(ALL)"), -1);
    CHECK_INT(parse("(FLAGS FAST)"), -1);
    CHECK_INT(parse("ALL FLAGS"), -1);
}

static void test_simple(void)
{
    CHECK_INT(parse("(FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE UID MODSEQ "
                    "EMAILID THREADID PREVIEW SAVEDATE)"), 0);
    CHECK_INT(f.attrs, 0xfff);
    CHECK_INT(f.nbodies, 0);
    CHECK_INT(parse("uid"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_UID);
    CHECK_INT(parse("(uid uid flags)"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_UID | IMAP_FETCH_FLAGS);
    CHECK_INT(parse("(PREVIEW (LAZY) UID)"), 0);
    CHECK(f.preview_lazy);
    CHECK_INT(f.attrs, IMAP_FETCH_PREVIEW | IMAP_FETCH_UID);
    CHECK_INT(parse("(PREVIEW (EAGER))"), -1);
    CHECK_INT(parse("(FLAGS (LAZY))"), -1);
}

static void test_rfc822(void)
{
    CHECK_INT(parse("rfc822.header"), 0);
    CHECK_INT(f.nbodies, 1);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_HEADER);
    CHECK(f.bodies[0].peek);
    CHECK(!f.set_seen);
    CHECK_STR(f.bodies[0].reply, "RFC822.HEADER");
    CHECK_INT(parse("rfc822.text"), 0);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_TEXT);
    CHECK(f.set_seen);
    CHECK_STR(f.bodies[0].reply, "RFC822.TEXT");
    CHECK_INT(parse("RFC822"), 0);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_FULL);
    CHECK(f.set_seen);
    CHECK_STR(f.bodies[0].reply, "RFC822");
    CHECK_INT(parse("RFC822.BOGUS"), -1);
}

static void test_body_sections(void)
{
    CHECK_INT(parse("body.peek[header]"), 0);
    CHECK_INT(f.nbodies, 1);
    CHECK_INT(f.bodies[0].kind, IMAP_FETCH_K_BODY);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_HEADER);
    CHECK(f.bodies[0].peek);
    CHECK(!f.set_seen);
    CHECK_STR(f.bodies[0].reply, "BODY[HEADER]");

    CHECK_INT(parse("(flags body.peek[text])"), 0);
    CHECK_INT(f.attrs, IMAP_FETCH_FLAGS);
    CHECK_STR(f.bodies[0].reply, "BODY[TEXT]");

    CHECK_INT(parse("(body[])"), 0);
    CHECK(!f.bodies[0].peek);
    CHECK(f.set_seen);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_FULL);
    CHECK_STR(f.bodies[0].reply, "BODY[]");

    CHECK_INT(parse("body.peek[text]<5.3>"), 0);
    CHECK(f.bodies[0].partial);
    CHECK_INT(f.bodies[0].offset, 5);
    CHECK_INT(f.bodies[0].length, 3);
    CHECK_STR(f.bodies[0].reply, "BODY[TEXT]<5>");
    CHECK_INT(parse("body.peek[]<0.9223372036854775807>"), 0);
    CHECK_INT(parse("body.peek[]<9223372036854775808.1>"), -1);

    CHECK_INT(parse("BODY[1.2.3]"), 0);
    CHECK_INT(f.bodies[0].nparts, 3);
    CHECK_INT(f.bodies[0].parts[0], 1);
    CHECK_INT(f.bodies[0].parts[2], 3);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_FULL);
    CHECK_STR(f.bodies[0].reply, "BODY[1.2.3]");

    CHECK_INT(parse("BODY.PEEK[2.MIME]"), 0);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_MIME);
    CHECK_STR(f.bodies[0].reply, "BODY[2.MIME]");
    CHECK_INT(parse("BODY.PEEK[2.1.HEADER]"), 0);
    CHECK_STR(f.bodies[0].reply, "BODY[2.1.HEADER]");
    CHECK_INT(parse("BODY.PEEK[3.text]<0.10>"), 0);
    CHECK_STR(f.bodies[0].reply, "BODY[3.TEXT]<0>");
}

static void test_header_fields(void)
{
    CHECK_INT(parse("body.peek[header.fields (from)]"), 0);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_HEADER_FIELDS);
    CHECK_INT(f.bodies[0].nfields, 1);
    CHECK_STR(f.bodies[0].fields[0], "from");
    CHECK_STR(f.bodies[0].reply, "BODY[HEADER.FIELDS (from)]");

    CHECK_INT(parse("(body.peek[header.fields (from from)])"), 0);
    CHECK_INT(f.bodies[0].nfields, 2);
    CHECK_INT(parse("body.peek[header.fields.not (date)]"), 0);
    CHECK_INT(f.bodies[0].section, IMAP_SECTION_HEADER_FIELDS_NOT);
    CHECK_STR(f.bodies[0].reply, "BODY[HEADER.FIELDS.NOT (date)]");

    CHECK_INT(parse("(body.peek[1.header.fields (from subject X-foo)])"), 0);
    CHECK_INT(f.bodies[0].nparts, 1);
    CHECK_INT(f.bodies[0].nfields, 3);
    CHECK_STR(f.bodies[0].fields[2], "X-foo");
    CHECK_STR(f.bodies[0].reply, "BODY[1.HEADER.FIELDS (from subject X-foo)]");

    /* Quoted names, with a ] inside quotes. */
    CHECK_INT(parse("BODY[HEADER.FIELDS (\"Subject\" \"X-a]b\")]<0.100>"), 0);
    CHECK_INT(f.bodies[0].nfields, 2);
    CHECK_STR(f.bodies[0].fields[0], "Subject");
    CHECK_STR(f.bodies[0].fields[1], "X-a]b");
    CHECK_STR(f.bodies[0].reply, "BODY[HEADER.FIELDS (Subject X-a]b)]<0>");
    CHECK(f.set_seen);

    /* A typical client request. */
    CHECK_INT(parse("(UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date "
                    "Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type "
                    "Reply-To)])"), 0);
    CHECK_INT(f.bodies[0].nfields, 14);
    CHECK_INT(f.attrs, IMAP_FETCH_UID | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_FLAGS);
}

static void test_binary(void)
{
    CHECK_INT(parse("(binary.peek[])"), 0);
    CHECK_INT(f.bodies[0].kind, IMAP_FETCH_K_BINARY);
    CHECK(f.bodies[0].peek);
    CHECK_STR(f.bodies[0].reply, "BINARY[]");
    CHECK_INT(parse("(binary.size[2.1])"), 0);
    CHECK_INT(f.bodies[0].kind, IMAP_FETCH_K_BINARY_SIZE);
    CHECK_INT(f.bodies[0].nparts, 2);
    CHECK(!f.set_seen);
    CHECK_STR(f.bodies[0].reply, "BINARY.SIZE[2.1]");
    CHECK_INT(parse("BINARY[1]<0.5>"), 0);
    CHECK(f.set_seen);
    CHECK_STR(f.bodies[0].reply, "BINARY[1]<0>");
    /* Only part numbers in a binary section; no partial on BINARY.SIZE. */
    CHECK_INT(parse("BINARY[HEADER]"), -1);
    CHECK_INT(parse("BINARY[1.TEXT]"), -1);
    CHECK_INT(parse("BINARY.SIZE[1]<0.5>"), -1);
    CHECK_INT(parse("BINARY.BOGUS[1]"), -1);
}

static void test_modifiers(void)
{
    CHECK_INT(parse("(FLAGS) (CHANGEDSINCE 12345)"), 0);
    CHECK(f.changedsince_set);
    CHECK_INT(f.changedsince, 12345);
    CHECK(f.attrs & IMAP_FETCH_MODSEQ);
    CHECK_INT(parse("(FLAGS) (CHANGEDSINCE 12345 VANISHED)"), 0);
    CHECK(f.vanished);
    CHECK_INT(parse("(FLAGS) (VANISHED CHANGEDSINCE 1)"), 0);
    CHECK_INT(parse("FLAGS (VANISHED)"), -1);
    CHECK_STR(err, "VANISHED requires CHANGEDSINCE");
    CHECK_INT(parse("FLAGS (CHANGEDSINCE)"), -1);
    CHECK_INT(parse("FLAGS (CHANGEDSINCE x)"), -1);
    CHECK_INT(parse("FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)"), -1);
    CHECK_INT(parse("FLAGS (CHANGEDSINCE 99999999999999999999)"), -1);
    CHECK_INT(parse("FLAGS (BOGUS)"), -1);
    CHECK_INT(parse("FLAGS (CHANGEDSINCE 1) (CHANGEDSINCE 1)"), -1);
    CHECK_INT(parse("FLAGS ()"), 0);
}

static void test_errors(void)
{
    static const char *const bad[] = {
        "", "()", "BOGUS", "(FLAGS BOGUS)", "\"FLAGS\"", "(\"FLAGS\")", "FLAGS UID",
        "BODY[", "BODY[]]", "BODY[HEADER", "BODY[BOGUS]", "BODY[MIME]", "BODY[0]", "BODY[1.0]",
        "BODY[1.]", "BODY[.1]", "BODY[1..2]", "BODY[4294967296]", "BODY[HEADER.FIELDS]",
        "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (a b]", "BODY[HEADER.FIELDS (a:b)]",
        "BODY[HEADER.FIELDS (\"\")]", "BODY[HEADER.FIELDS  (a)]", "BODY[HEADER.FIELDS (a  b)]",
        "BODY[HEADER.FIELDS (a) ]", "BODY[HEADER (a)]", "BODY[TEXT]<0.0>", "BODY[TEXT]<1>",
        "BODY[TEXT]<.1>", "BODY[TEXT]<1.1", "BODY[TEXT]<1.1>x", "BODY[TEXT]x", "BODYX[TEXT]",
        "BODY.PEEKX[]", "BODY[ HEADER]", "BODY[HEADER.FIELDS (\"a\\\"b\" \"c)]",
        "(FLAGS (LAZY))",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        t_current = bad[i];
        CHECK_INT(parse(bad[i]), -1);
        CHECK_INT(f.nbodies, 0);
        CHECK_INT(f.attrs, 0);
    }
    t_current = "test_errors";
}

/* Every FETCH attribute list of the imaptest scripts parses. */
static void test_imaptest_commands(void)
{
    static const struct {
        const char *cmd;
        int bad;
    } v[] = {
        {"(binary.peek[1] binary.peek[2] binary.peek[3] binary.peek[4] binary.peek[5])", 0},
        {"(binary.peek[1])", 0},
        {"(binary.peek[1]<0.10>)", 0},
        {"(binary.peek[1]<10.10>)", 0},
        {"(binary.peek[1]<15.10>)", 0},
        {"(binary.peek[1]<20.10>)", 0},
        {"(binary.peek[1]<40.100>)", 0},
        {"(binary.peek[2.1])", 0},
        {"(binary.peek[2.2])", 0},
        {"(binary.peek[2])", 0},
        {"(binary.peek[5]<0.10>)", 0},
        {"(binary.peek[5]<0.7>)", 0},
        {"(binary.peek[5]<0.8>)", 0},
        {"(binary.peek[5]<10.10>)", 0},
        {"(binary.peek[5]<15.100>)", 0},
        {"(binary.peek[5]<5.10>)", 0},
        {"(binary.peek[])", 0},
        {"(binary.size[1] binary.peek[1])", 0},
        {"(binary.size[1] binary.size[5])", 0},
        {"(binary.size[1])", 0},
        {"(binary.size[2.1])", 0},
        {"(binary.size[2.2])", 0},
        {"(binary.size[2] binary.size[3] binary.size[4])", 0},
        {"(binary.size[2])", 0},
        {"(binary.size[3] binary.peek[2])", 0},
        {"(binary.size[])", 0},
        {"(body.peek[1.1.1])", 0},
        {"(body.peek[1.1.HEADER])", 0},
        {"(body.peek[1.1.MIME])", 0},
        {"(body.peek[1.1.TEXT])", 0},
        {"(body.peek[1.1.header])", 0},
        {"(body.peek[1.1.text])", 0},
        {"(body.peek[1.1])", 0},
        {"(body.peek[1.2.HEADER])", 0},
        {"(body.peek[1.2.MIME])", 0},
        {"(body.peek[1.2.TEXT])", 0},
        {"(body.peek[1.2])", 0},
        {"(body.peek[1.header.fields (from subject X-foo)])", 0},
        {"(body.peek[1.header.fields.not (from subject X-foo)])", 0},
        {"(body.peek[1.header])", 0},
        {"(body.peek[1.mime])", 0},
        {"(body.peek[1.text])", 0},
        {"(body.peek[1])", 0},
        {"(body.peek[2.1.mime])", 0},
        {"(body.peek[2.1])", 0},
        {"(body.peek[2.2.mime])", 0},
        {"(body.peek[2.2])", 0},
        {"(body.peek[2.header.fields (from subject X-foo)])", 0},
        {"(body.peek[2.header.fields.not (from subject X-foo)])", 0},
        {"(body.peek[2.header])", 0},
        {"(body.peek[2.mime])", 0},
        {"(body.peek[2.text])", 0},
        {"(body.peek[2])", 0},
        {"(body.peek[])", 0},
        {"(body.peek[header.fields (from from)])", 0},
        {"(body.peek[header.fields (from)])", 0},
        {"(body.peek[text])", 0},
        {"(body[])", 0},
        {"(body[header])", 0},
        {"(flags body.peek[])", 0},
        {"(flags body.peek[text])", 0},
        {"(flags internaldate)", 0},
        {"(internaldate)", 0},
        {"(uid body.peek[])", 0},
        {"(uid body[])", 0},
        {"(uid flags)", 0},
        {"(uid)", 0},
        {"UID", 0},
        {"all", 0},
        {"body", 0},
        {"body.peek[]", 0},
        {"body.peek[header.fields (from subject)]", 0},
        {"body.peek[header.fields (from)]", 0},
        {"body.peek[header.fields (subject)]", 0},
        {"body.peek[header.fields (xyz)]", 0},
        {"body.peek[header.fields.not (date date)]", 0},
        {"body.peek[header.fields.not (date)]", 0},
        {"body.peek[header]", 0},
        {"body.peek[text]<0.1>", 0},
        {"body.peek[text]<0.3>", 0},
        {"body.peek[text]<3.3>", 0},
        {"body.peek[text]<5.1>", 0},
        {"body.peek[text]<5.2>", 0},
        {"body.peek[text]<5.3>", 0},
        {"body.peek[text]<6.1>", 0},
        {"body.peek[text]<6.2>", 0},
        {"body.peek[text]<7.1>", 0},
        {"envelope", 0},
        {"fast", 0},
        {"flags", 0},
        {"full", 0},
        {"modseq", 0},
        {"rfc822", 0},
        {"rfc822.header", 0},
        {"rfc822.size", 0},
        {"rfc822.text", 0},
        {"uid", 0},

    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        t_current = v[i].cmd;
        CHECK_INT(parse(v[i].cmd), v[i].bad ? -1 : 0);
    }
    t_current = "test_imaptest_commands";
}

static void test_limits(void)
{
    struct buf b;
    buf_init(&b, 0);
    buf_putc(&b, '(');
    for (int i = 0; i < IMAP_FETCH_MAX_ITEMS; i++)
        buf_puts(&b, "UID ");
    buf_putc(&b, ')');
    CHECK_INT(parse(b.data), 0);
    buf_reset(&b);
    buf_putc(&b, '(');
    for (int i = 0; i <= IMAP_FETCH_MAX_ITEMS; i++)
        buf_puts(&b, "UID ");
    buf_putc(&b, ')');
    CHECK_INT(parse(b.data), -1);
    CHECK_STR(err, "Too many FETCH attributes");

    buf_reset(&b);
    buf_puts(&b, "BODY[1");
    for (int i = 1; i < IMAP_FETCH_MAX_DEPTH; i++)
        buf_puts(&b, ".1");
    buf_puts(&b, "]");
    CHECK_INT(parse(b.data), 0);
    CHECK_INT(f.bodies[0].nparts, IMAP_FETCH_MAX_DEPTH);
    b.data[b.len - 1] = '\0';
    b.len--;
    buf_puts(&b, ".1]");
    CHECK_INT(parse(b.data), -1);
    CHECK_STR(err, "Section nested too deeply");

    buf_reset(&b);
    buf_puts(&b, "BODY[HEADER.FIELDS (");
    for (int i = 0; i <= IMAP_FETCH_MAX_FIELDS; i++)
        buf_printf(&b, "%sX-%d", i ? " " : "", i);
    buf_puts(&b, ")]");
    CHECK_INT(parse(b.data), -1);
    CHECK_STR(err, "Too many header field names");

    buf_reset(&b);
    buf_puts(&b, "BODY[HEADER.FIELDS (");
    for (int i = 0; i <= IMAP_FETCH_MAX_FIELD_LEN; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, ")]");
    CHECK_INT(parse(b.data), -1);
    buf_free(&b);
}

int main(void)
{
    T_RUN(test_macros);
    T_RUN(test_simple);
    T_RUN(test_rfc822);
    T_RUN(test_body_sections);
    T_RUN(test_header_fields);
    T_RUN(test_binary);
    T_RUN(test_modifiers);
    T_RUN(test_errors);
    T_RUN(test_imaptest_commands);
    T_RUN(test_limits);
    targs_free(&ta);
    imap_fetch_free(&f);
    return T_DONE();
}
