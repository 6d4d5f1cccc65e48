/*
 * Unit tests for the message parser: header.c (fields, folding, limits,
 * RFC 2047, charsets) and mime.c (part trees, offsets and line counts,
 * decoding, RFC 2231 parameters, limits), and every message of the MIME
 * corpora in ../shared/conformance (YUBIN_SHARED overrides the path): each
 * parses, fed whole or in small pieces it gives the same tree, and the
 * limits hold.
 */
#include "t.h"
#include "lib/buf.h"
#include "lib-mail/header.h"
#include "lib-mail/mime.h"
#include "lib/util.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

/* ---- header.c ---- */

static void test_fields(void)
{
    const char *msg = "Subject: one\r\n two\r\nX-A:b\nTo: a@b,\n\tc@d\n\nbody: not a field\n";
    struct hdr_reader r;
    struct hdr_field f;
    hdr_reader_init(&r, msg, strlen(msg), 0, 0);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK(hdr_name_is(&f, "subject"));
    CHECK_INT((int)f.len, 20);
    struct buf b;
    buf_init(&b, 0);
    hdr_unfold(&f, &b);
    CHECK_STR(buf_cstr(&b), "one two");
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK(hdr_name_is(&f, "X-A"));
    CHECK_INT((int)f.value_len, 1);
    CHECK_INT(hdr_next(&r, &f), 1);
    buf_reset(&b);
    hdr_unfold(&f, &b);
    CHECK_STR(buf_cstr(&b), "a@b,\tc@d");
    CHECK_INT(hdr_next(&r, &f), 0);
    CHECK_INT(r.status, HDR_END_BLANK);
    CHECK_STR(msg + hdr_section_length(&r), "body: not a field\n");
    CHECK_INT(hdr_next(&r, &f), 0);          /* stays at the end */

    /* a line that is no field starts the body; the end of input; limits */
    const char *m2 = "A: 1\nnot a header\nB: 2\n";
    hdr_reader_init(&r, m2, strlen(m2), 0, 0);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT(hdr_next(&r, &f), 0);
    CHECK_INT(r.status, HDR_END_BODY);
    CHECK_INT((int)hdr_section_length(&r), 5);
    hdr_reader_init(&r, "A: 1\nB: 2", 9, 0, 0);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT((int)f.value_len, 2);
    CHECK_INT(hdr_next(&r, &f), 0);
    CHECK_INT(r.status, HDR_END_INPUT);
    hdr_reader_init(&r, "A: 1\nB: 2\nC: 3\n\n", 16, 2, 0);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT(hdr_next(&r, &f), 0);
    CHECK_INT(r.status, HDR_TOO_MANY);
    const char *m3 = "A: 1\nB: 2\n 3\n 4\n\n";
    hdr_reader_init(&r, m3, strlen(m3), 0, 8);
    CHECK_INT(hdr_next(&r, &f), 1);
    CHECK_INT(hdr_next(&r, &f), 0);
    CHECK_INT(r.status, HDR_TOO_LONG);
    /* names: printable ASCII without ':', bounded */
    CHECK_INT((int)hdr_field_name_len("X-Y: z", 6), 3);
    CHECK_INT((int)hdr_field_name_len("X Y: z", 6), 0);
    CHECK_INT((int)hdr_field_name_len(": z", 3), 0);
    char longname[HDR_NAME_MAX + 3];
    memset(longname, 'a', sizeof(longname));
    longname[HDR_NAME_MAX + 1] = ':';
    CHECK_INT((int)hdr_field_name_len(longname, HDR_NAME_MAX + 2), 0);
    longname[HDR_NAME_MAX] = ':';
    CHECK_INT((int)hdr_field_name_len(longname, HDR_NAME_MAX + 1), HDR_NAME_MAX);
    buf_free(&b);
}

static void decode(const char *in, const char *want)
{
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(hdr_decode_words(in, strlen(in), &b), 0);
    CHECK_STR(buf_cstr(&b), want);
    buf_free(&b);
}

static void test_encoded_words(void)
{
    decode("=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9");
    decode("=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>",
           "Andr\xc3\xa9 Pirard <PIRARD@vm1.ulg.ac.be>");
    decode("=?utf-8?b?44GT44KT44Gr44Gh44Gv?=", "\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf");
    /* white space between two encoded words goes, around plain text it stays */
    decode("=?us-ascii?q?a?= =?us-ascii?q?b?=  c", "ab  c");
    decode("x =?us-ascii?q?a_b?=\r\n =?us-ascii?Q?c?=", "x a bc");
    /* RFC 2231 language in the charset */
    decode("=?us-ascii*en?q?hi?=", "hi");
    /* malformed or unknown: left as they are */
    decode("=?nosuch-charset?q?x?=", "=?nosuch-charset?q?x?=");
    decode("=?utf-8?q?a=ZZ?=", "=?utf-8?q?a=ZZ?=");
    decode("=?utf-8?x?abc?=", "=?utf-8?x?abc?=");
    decode("=?utf-8?q?no end", "=?utf-8?q?no end");
    decode("=?utf-8?b?@@@@?=", "=?utf-8?b?@@@@?=");
    /* invalid UTF-8 inside a word becomes U+FFFD */
    decode("=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b");
    struct buf b;
    buf_init(&b, 0);
    CHECK_INT(charset_to_utf8("windows-1252", "\x80", 1, &b), 0);
    CHECK_STR(buf_cstr(&b), "\xe2\x82\xac");
    CHECK_INT(charset_to_utf8("no-such", "x", 1, &b), -1);
    buf_free(&b);
}

/* ---- mime.c ---- */

/* The tree as text: one line a part, "depth type/subtype cte hdr+body=end lines [filename]". */
struct tree {
    struct buf text;
    struct buf body;                 /* decoded bodies, "|" between parts */
};

static const char *cte_name(enum mime_cte c)
{
    static const char *const n[] = {"7bit", "8bit", "binary", "qp", "base64", "other"};
    return n[c];
}

static void t_start(void *ctx, const struct mime_part *p)
{
    struct tree *t = ctx;
    CHECK(p->header != NULL);
    (void)t;
}

static void t_body(void *ctx, const struct mime_part *p, const char *data, size_t len)
{
    struct tree *t = ctx;
    (void)p;
    buf_append(&t->body, data, len);
}

static void t_end(void *ctx, const struct mime_part *p)
{
    struct tree *t = ctx;
    buf_printf(&t->text, "%d %s/%s %s %zu+%zu=%zu %zu%s%s\n", p->depth, p->type, p->subtype,
               cte_name(p->cte), p->header_offset, p->body_offset, p->end_offset, p->lines,
               p->filename[0] ? " " : "", p->filename);
    if (!p->multipart && !p->message)
        buf_putc(&t->body, '|');
}

static const struct mime_callbacks tree_cb = {t_start, t_body, t_end};

/* Parse data fed in pieces of `step` bytes (0: all at once). */
static int parse(const char *data, size_t len, size_t step, int flags, struct tree *t)
{
    buf_init(&t->text, 0);
    buf_init(&t->body, 0);
    struct mime_parser *m = mime_parser_new(flags, &tree_cb, t);
    if (step == 0)
        step = len ? len : 1;
    for (size_t i = 0; i < len; i += step)
        mime_feed(m, data + i, len - i < step ? len - i : step);
    mime_finish(m);
    int hit = mime_limits_hit(m);
    mime_parser_free(m);
    return hit;
}

static void tree_free(struct tree *t)
{
    buf_free(&t->text);
    buf_free(&t->body);
}

static const char *MULTI =
    "From: a@b\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=E9 soft=\r\n"
    "break\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment;\r\n"
    " filename*0*=utf-8''%E2%82%AC;\r\n"
    " filename*1=\".txt\"\r\n"
    "\r\n"
    "aGVs\r\n"
    "bG8=\r\n"
    "--XX\r\n"
    "Content-Type: message/rfc822\r\n"
    "\r\n"
    "Subject: inner\r\n"
    "Content-Type: multipart/alternative; boundary=YY\r\n"
    "\r\n"
    "--YY\r\n"
    "\r\n"
    "plain\r\n"
    "--YY--\r\n"
    "--XX--\r\n"
    "epilogue\r\n";

static void test_multipart(void)
{
    struct tree t;
    CHECK_INT(parse(MULTI, strlen(MULTI), 0, MIME_UTF8, &t), 0);
    CHECK_STR(buf_cstr(&t.text),
              "1 text/plain qp 75+168=187 2\n"
              "1 application/octet-stream base64 195+358=368 2 \xe2\x82\xac.txt\n"
              "3 text/plain 7bit 482+484=489 1\n"
              "2 multipart/alternative 7bit 408+476=497 4\n"
              "1 message/rfc822 7bit 376+408=497 7\n"
              "0 multipart/mixed 7bit 0+59=517 28\n");
    CHECK_STR(buf_cstr(&t.body), "caf\xc3\xa9 softbreak|hello|plain|");
    /* the same in every split, and raw bodies without MIME_DECODE */
    for (size_t step = 1; step < 40; step++) {
        struct tree u;
        parse(MULTI, strlen(MULTI), step, MIME_UTF8, &u);
        CHECK_STR(buf_cstr(&u.text), buf_cstr(&t.text));
        CHECK_STR(buf_cstr(&u.body), buf_cstr(&t.body));
        tree_free(&u);
    }
    struct tree raw;
    parse(MULTI, strlen(MULTI), 7, 0, &raw);
    CHECK(strstr(buf_cstr(&raw.body), "aGVs\r\nbG8=|") != NULL);
    tree_free(&raw);
    tree_free(&t);
}

static void test_simple_and_odd(void)
{
    struct tree t;
    /* no header at all, no final line end */
    parse("\nbody", 5, 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text), "0 text/plain 7bit 0+1=5 1\n");
    tree_free(&t);
    /* only a header, ended by the input */
    parse("Subject: x\n", 11, 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text), "0 text/plain 7bit 0+11=11 0\n");
    tree_free(&t);
    /* an mbox "From " line heads the message's header section */
    const char *m = "From MAILER-DAEMON Fri Apr 06 16:46:09 2001\nContent-Type: multipart/report;"
        " boundary=R\n\n--R\n\nx\n--R--\n";
    parse(m, strlen(m), 0, MIME_DECODE, &t);
    CHECK(strstr(buf_cstr(&t.text), "0 multipart/report ") != NULL);
    CHECK(strstr(buf_cstr(&t.text), "1 text/plain ") != NULL);
    tree_free(&t);
    /* a multipart whose boundary never comes, and one without a boundary parameter */
    m = "Content-Type: multipart/mixed; boundary=Q\n\nonly text\n";
    parse(m, strlen(m), 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text), "0 multipart/mixed 7bit 0+43=53 1\n");
    tree_free(&t);
    m = "Content-Type: multipart/mixed\n\n--\n";
    parse(m, strlen(m), 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text), "0 multipart/mixed 7bit 0+31=34 1\n");
    CHECK_STR(buf_cstr(&t.body), "--\n|");
    tree_free(&t);
    /* a boundary line with trailing white space; an outer boundary closes inner parts */
    m = "Content-Type: multipart/mixed; boundary=O\n\n--O \t\n"
        "Content-Type: multipart/mixed; boundary=I\n\n--I\n\ninner\n--O--\n";
    parse(m, strlen(m), 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text),
              "2 text/plain 7bit 96+97=102 1\n"
              "1 multipart/mixed 7bit 49+92=102 3\n"
              "0 multipart/mixed 7bit 0+43=109 7\n");
    tree_free(&t);
    /* malformed Content-Type keeps the default; digest parts default to message/rfc822 */
    m = "Content-Type: multipart/digest; boundary=D\n\n--D\n\nSubject: in\n\nx\n--D\n"
        "Content-Type: bogus\n\ny\n--D--\n";
    parse(m, strlen(m), 0, MIME_DECODE, &t);
    CHECK_STR(buf_cstr(&t.text),
              "2 text/plain 7bit 49+62=63 1\n"
              "1 message/rfc822 7bit 48+49=63 3\n"
              "2 text/plain 7bit 89+89=90 1\n"
              "1 message/rfc822 7bit 68+89=90 1\n"
              "0 multipart/digest 7bit 0+44=97 10\n");
    tree_free(&t);
}

static void test_params(void)
{
    static const struct { const char *value, *name, *want; int rc; } c[] = {
        {"text/plain; charset=\"utf-8\"", "charset", "utf-8", 1},
        {"text/plain; CHARSET=us-ascii (comment)", "charset", "us-ascii", 1},
        {"text/plain;charset=\"a\\\"b\"", "charset", "a\"b", 1},
        {"text/plain; format=flowed", "charset", "", 0},
        {"attachment; filename*=iso-8859-1'en'%E9t%E9.txt", "filename", "\xc3\xa9t\xc3\xa9.txt", 1},
        {"attachment; filename*0=\"a b\"; filename*1=c; filename*2*=%41", "filename", "a bcA", 1},
        {"attachment; filename*1=c; filename*0=a", "filename", "ac", 1},
        {"attachment; filename*1=c", "filename", "", 1},
        {"x/y; a=1; a=2", "a", "1", 1},
        {"x/y; broken; b=2", "b", "2", 1},
    };
    for (size_t i = 0; i < ARRAY_LEN(c); i++) {
        struct buf b;
        buf_init(&b, 0);
        CHECK_INT(mime_param(c[i].value, strlen(c[i].value), c[i].name, &b), c[i].rc);
        CHECK_STR(buf_cstr(&b), c[i].want);
        buf_free(&b);
    }
}

static void test_limits(void)
{
    struct buf m;
    buf_init(&m, 0);
    /* nesting deeper than MIME_DEPTH_MAX */
    for (int i = 0; i < MIME_DEPTH_MAX + 10; i++)
        buf_printf(&m, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
    buf_puts(&m, "\nleaf\n");
    struct tree t;
    CHECK(parse(m.data, m.len, 0, MIME_DECODE, &t) & MIME_HIT_DEPTH);
    tree_free(&t);
    /* more parts than MIME_PARTS_MAX */
    buf_reset(&m);
    buf_puts(&m, "Content-Type: multipart/mixed; boundary=p\n\n");
    for (int i = 0; i < MIME_PARTS_MAX + 50; i++)
        buf_puts(&m, "--p\n\nx\n");
    buf_puts(&m, "--p--\n");
    struct mime_parser *mp = mime_parser_new(0, NULL, NULL);
    mime_feed(mp, m.data, m.len);
    mime_finish(mp);
    CHECK(mime_limits_hit(mp) & MIME_HIT_PARTS);
    CHECK_INT((int)mime_parts(mp), MIME_PARTS_MAX);
    mime_parser_free(mp);
    /* a header section over the limit, and an endless line */
    buf_reset(&m);
    while (m.len < MIME_HEADER_MAX + 100)
        buf_puts(&m, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
    buf_puts(&m, "\nbody\n");
    CHECK(parse(m.data, m.len, 0, MIME_DECODE, &t) & MIME_HIT_HEADER);
    tree_free(&t);
    buf_reset(&m);
    buf_puts(&m, "Content-Type: multipart/mixed; boundary=z\n\n--z\n\n");
    for (int i = 0; i < 100000; i++)
        buf_puts(&m, "--z-not-a-boundary ");
    buf_puts(&m, "\n--z--\n");
    CHECK_INT(parse(m.data, m.len, 4096, MIME_DECODE, &t), 0);
    CHECK(strstr(buf_cstr(&t.text), "1 text/plain") != NULL);
    tree_free(&t);
    buf_free(&m);
}

/* ---- the corpora ---- */

static int corpus_files;

static void corpus_file(const char *path)
{
    size_t len = 0;
    char *data = read_file(path, 16 * 1024 * 1024, &len);
    CHECK(data != NULL);
    if (!data)
        return;
    corpus_files++;
    struct tree whole, pieces;
    parse(data, len, 0, MIME_UTF8, &whole);
    parse(data, len, len > 200000 ? 4093 : 13, MIME_UTF8, &pieces);
    if (strcmp(buf_cstr(&whole.text), buf_cstr(&pieces.text)) != 0 ||
        strcmp(buf_cstr(&whole.body), buf_cstr(&pieces.body)) != 0)
        fprintf(stderr, "%s: pieces differ\n", path);
    CHECK_STR(buf_cstr(&pieces.text), buf_cstr(&whole.text));
    CHECK(whole.body.len == pieces.body.len);
    /* the message is one part at depth 0 that spans the whole input */
    const char *last = strrchr(buf_cstr(&whole.text), '\n');
    const char *prev = whole.text.len > 1 ? whole.text.data + whole.text.len - 2 : "";
    while (prev > whole.text.data && *prev != '\n')
        prev--;
    CHECK(last != NULL && strncmp(prev + (*prev == '\n'), "0 ", 2) == 0);
    char want[64];
    snprintf(want, sizeof(want), "=%zu ", len);
    CHECK(strstr(prev, want) != NULL);
    tree_free(&whole);
    tree_free(&pieces);
    free(data);
}

static void corpus_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode))
            corpus_dir(path);
        else if (strstr(e->d_name, ".txt") || strstr(e->d_name, ".eml") ||
                 strstr(e->d_name, ".mbox"))
            corpus_file(path);
    }
    closedir(d);
}

/* MIME_IMAP: Dovecot's reading of the tree (lib-imap's BODYSTRUCTURE). */
static void test_imap_mode(void)
{
    const char *msg = "Content-Type: multipart/mixed; boundary=b\n\n"
                      "--b junk\nnot a field\nContent-Type: message/rfc822\n"
                      "Content-Transfer-Encoding: base64\n\naGk=\n"
                      "--bb\nContent-Type: message/global\n\nSubject: x\n\nhi\n--b--\n";
    struct tree t;
    parse(msg, strlen(msg), 0, MIME_IMAP, &t);
    /* the header went on past "not a field"; the base64 message/rfc822 holds a
     * message (all header: "aGk=" is not followed by an empty line, and the line
     * end before the boundary is the boundary's, given to the part around);
     * message/global is a leaf; "--b junk" and "--bb" are boundaries */
    CHECK_STR(buf_cstr(&t.text), "2 text/plain 7bit 128+132=132 0\n"
                                 "1 message/rfc822 base64 52+128=133 1\n"
                                 "1 message/global 7bit 138+168=182 3\n"
                                 "0 multipart/mixed 7bit 0+43=189 13\n");
    tree_free(&t);
    /* the same without the flag: the header ends at "not a field" */
    parse(msg, strlen(msg), 0, 0, &t);
    CHECK(strstr(buf_cstr(&t.text), "message/rfc822") == NULL);
    tree_free(&t);
}

/* Line feeds, and those without a CR, of each body. */
static size_t lf_seen[4], bare_seen[4];

static void lf_end(void *ctx, const struct mime_part *p)
{
    (void)ctx;
    lf_seen[p->depth] = p->body_lf;
    bare_seen[p->depth] = p->body_bare_lf;
}

static void test_line_feeds(void)
{
    static const struct mime_callbacks cb = {NULL, NULL, lf_end};
    const char *msgs[] = {"S: x\n\na\nb\n", "S: x\r\n\r\na\r\nb\r\n", "S: x\n\na\r\nb\nc", "S: x\n\n"};
    size_t lf[] = {2, 2, 2, 0}, bare[] = {2, 0, 1, 0};
    for (size_t i = 0; i < 4; i++) {
        struct mime_parser *m = mime_parser_new(0, &cb, NULL);
        for (const char *c = msgs[i]; *c; c++)
            mime_feed(m, c, 1);                 /* a CR and its LF in different pieces */
        mime_finish(m);
        mime_parser_free(m);
        CHECK_INT(lf_seen[0], lf[i]);
        CHECK_INT(bare_seen[0], bare[i]);
    }
}

static void test_corpora(void)
{
    const char *shared = getenv("YUBIN_SHARED");
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/conformance/mime", shared && *shared ? shared : "../shared");
    corpus_dir(dir);
    snprintf(dir, sizeof(dir), "%s/conformance/imap", shared && *shared ? shared : "../shared");
    corpus_dir(dir);
    if (corpus_files < 50)
        fprintf(stderr, "test_mime: only %d corpus files under %s (set YUBIN_SHARED)\n",
                corpus_files, dir);
    CHECK(corpus_files >= 50);
}

int main(void)
{
    T_RUN(test_fields);
    T_RUN(test_encoded_words);
    T_RUN(test_multipart);
    T_RUN(test_simple_and_odd);
    T_RUN(test_params);
    T_RUN(test_limits);
    T_RUN(test_imap_mode);
    T_RUN(test_line_feeds);
    T_RUN(test_corpora);
    return T_DONE();
}
