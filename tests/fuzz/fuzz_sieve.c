/*
 * fuzz_sieve.c - Sieve scripts as lib-sieve compiles and runs them
 * (src/lib-sieve/): the lexer (numbers, quoted and multi-line strings,
 * comments), the parser (lists, tests, blocks, nesting and count limits),
 * validation (require, signatures, comparators, match types, address
 * parts, encoded characters) and, for scripts that compile, the
 * interpreter against a message taken from the input: header, address,
 * envelope and string tests, :matches and :regex, variables, imap4flags,
 * the result's duplicate and conflict rules. A user's script is untrusted
 * (ManageSieve uploads it).
 *
 * Input: the script up to the first NUL byte; after it, the message.
 *
 * Invariants beyond "no crash":
 *  - a script that does not compile has at least one error message, each
 *    starting with "line N: error: ";
 *  - a run either fails with a message or gives at most max_actions + 1
 *    actions (the implicit keep), every store action naming its folder;
 *  - compiling the same bytes twice gives the same verdict.
 * max_len: 16384
 */
#include "fuzz.h"
#include "lib-sieve/sieve.h"

static int exists_cb(void *ctx, const char *name)
{
    (void)ctx;
    return name[0] == 'I';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    const uint8_t *z = memchr(data, 0, size);
    size_t slen = z ? (size_t)(z - data) : size;
    const char *msg = z ? (const char *)z + 1 : "From: a@b.example\r\nTo: c@d.example\r\n\r\nx\r\n";
    size_t mlen = z ? size - slen - 1 : strlen(msg);
    struct sieve_limits lim;
    sieve_limits_default(&lim);
    struct sieve_diag d = { 0 };
    struct sieve_script *s = sieve_compile((const char *)data, slen, &lim, NULL, 0, &d);
    if (!s) {
        FUZZ_ASSERT(d.n > 0);
        for (size_t i = 0; i < d.n; i++)
            FUZZ_ASSERT(strncmp(d.msgs[i], "line ", 5) == 0 && strstr(d.msgs[i], ": error: "));
    }
    struct sieve_script *again = sieve_compile((const char *)data, slen, &lim, NULL, 0, NULL);
    FUZZ_ASSERT((s == NULL) == (again == NULL));
    sieve_script_free(again);
    sieve_diag_free(&d);
    if (!s)
        return 0;
    struct sieve_msg m = { msg, mlen, "sender@example.com", "rcpt+tag@example.org", "user",
                           exists_cb, NULL };
    struct sieve_result res;
    char *err = NULL;
    if (sieve_execute(s, &m, &lim, &res, &err) < 0) {
        FUZZ_ASSERT(err != NULL);
        free(err);
    } else {
        FUZZ_ASSERT(res.n <= lim.max_actions + 1);
        for (size_t i = 0; i < res.n; i++)
            if (res.v[i].kind == SIEVE_ACT_KEEP || res.v[i].kind == SIEVE_ACT_FILEINTO)
                FUZZ_ASSERT(res.v[i].target != NULL);
        sieve_result_free(&res);
    }
    sieve_script_free(s);
    return 0;
}
