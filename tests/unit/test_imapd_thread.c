/*
 * test_imapd_thread.c - THREAD=REFERENCES (src/imapd/thread_refs.c):
 * chains and siblings, missing parents (dummies kept at the root with
 * several children, promoted otherwise), subject gathering (Re: X under
 * X, a dummy for equal subjects), loops, duplicate Message-IDs, the order
 * by date then sequence, a chain deeper than the limit, msg-id parsing.
 */
#include "imapd/thread_refs.h"
#include "lib/buf.h"
#include "t.h"

#include <stdlib.h>
#include <string.h>

#define M(n, date, id, subj, reply, ...) \
    {n, n, date, id, (const char *const[]){__VA_ARGS__}, \
     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *) - 1, subj, reply}

static char out[4096];

static const char *run(const struct imapd_thread_msg *m, size_t n)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK_INT(imapd_thread_references(m, n, &b), 0);
    strncpy(out, b.data ? b.data : "", sizeof(out) - 1);
    buf_free(&b);
    return out;
}

static void test_chains(void)
{
    const struct imapd_thread_msg m[] = {
        M(1, 10, "a@x", "x", 0, NULL),
        M(2, 20, "b@x", "x", 1, "a@x", NULL),
        M(3, 30, "c@x", "x", 1, "a@x", "b@x", NULL),
        M(4, 40, "d@x", "x", 1, "a@x", NULL),
        M(5, 5, "e@x", "other", 0, NULL),
    };
    CHECK_STR(run(m, 5), "(5)(1 (2 3)(4))");
    CHECK_STR(run(m, 0), "");
}

static void test_dummies(void)
{
    const struct imapd_thread_msg two[] = {
        M(1, 10, "b@x", "y", 1, "a@x", NULL),
        M(2, 20, "c@x", "y", 1, "a@x", NULL),
    };
    CHECK_STR(run(two, 2), "((1)(2))");
    const struct imapd_thread_msg one[] = {M(1, 10, "b@x", "y", 1, "zz@x", "a@x", NULL)};
    CHECK_STR(run(one, 1), "(1)");
    /* a missing message in the middle of a chain disappears */
    const struct imapd_thread_msg mid[] = {
        M(1, 10, "a@x", "z", 0, NULL),
        M(2, 20, "c@x", "z", 1, "a@x", "b@x", NULL),
    };
    CHECK_STR(run(mid, 2), "(1 2)");
}

static void test_subjects(void)
{
    const struct imapd_thread_msg re[] = {
        M(1, 10, "a@x", "hello", 0, NULL),
        M(2, 20, "b@x", "hello", 1, NULL),
        M(3, 30, "c@x", "bye", 0, NULL),
    };
    CHECK_STR(run(re, 3), "(1 2)(3)");
    const struct imapd_thread_msg same[] = {
        M(1, 10, "a@x", "Hello", 0, NULL),
        M(2, 20, "b@x", "hello", 0, NULL),
    };
    CHECK_STR(run(same, 2), "((1)(2))");
    const struct imapd_thread_msg nosubj[] = {
        M(1, 10, "a@x", "", 0, NULL),
        M(2, 20, "b@x", "", 0, NULL),
    };
    CHECK_STR(run(nosubj, 2), "(1)(2)");
}

static void test_loops_and_duplicates(void)
{
    const struct imapd_thread_msg loop[] = {
        M(1, 10, "a@x", "l", 0, "b@x", NULL),
        M(2, 20, "b@x", "m", 0, "a@x", NULL),
    };
    CHECK_STR(run(loop, 2), "(2 1)");
    const struct imapd_thread_msg self[] = {M(1, 10, "a@x", "s", 0, "a@x", NULL)};
    CHECK_STR(run(self, 1), "(1)");
    const struct imapd_thread_msg dup[] = {
        M(1, 10, "a@x", "p", 0, NULL),
        M(2, 20, "a@x", "q", 0, NULL),
        M(3, 30, "r@x", "r", 1, "a@x", NULL),
    };
    CHECK_STR(run(dup, 3), "(1 3)(2)");
    const struct imapd_thread_msg noid[] = {
        M(2, 10, NULL, "t", 0, NULL),
        M(1, 10, NULL, "u", 0, NULL),
    };
    CHECK_STR(run(noid, 2), "(1)(2)");          /* equal dates: by sequence */
}

static void test_deep_chain(void)
{
    size_t n = 3000;
    struct imapd_thread_msg *m = calloc(n, sizeof(*m));
    char (*ids)[16] = calloc(n, 16);
    const char **refs = calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        snprintf(ids[i], 16, "%zu@x", i);
        m[i] = (struct imapd_thread_msg){.num = (uint32_t)i + 1, .seq = (uint32_t)i + 1,
                                         .date = (int64_t)i, .msgid = ids[i], .subject = "deep"};
        if (i) {
            refs[i] = ids[i - 1];
            m[i].refs = &refs[i];
            m[i].nrefs = 1;
        }
    }
    struct buf b;
    buf_init(&b, 1 << 20);
    CHECK_INT(imapd_thread_references(m, n, &b), 0);
    /* cut at the depth limit: the pieces share a subject and gather under a dummy */
    CHECK(b.len > 0 && strncmp(b.data, "((1 2 3 ", 8) == 0);
    CHECK(strstr(b.data, ")(") != NULL);
    CHECK(b.data[b.len - 1] == ')');
    buf_free(&b);
    free(m);
    free(ids);
    free(refs);
}

static void test_msgids(void)
{
    char **ids = NULL;
    size_t n = 0;
    const char *s = "<a@b> (comment <not>) <c@d>\r\n <e@f";
    imapd_thread_msgids(s, strlen(s), &ids, &n, 10);
    CHECK_INT(n, 2);
    CHECK_STR(ids[0], "a@b");
    CHECK_STR(ids[1], "c@d");
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

int main(void)
{
    T_RUN(test_chains);
    T_RUN(test_dummies);
    T_RUN(test_subjects);
    T_RUN(test_loops_and_duplicates);
    T_RUN(test_deep_chain);
    T_RUN(test_msgids);
    return T_DONE();
}
