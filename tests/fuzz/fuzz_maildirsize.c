/*
 * fuzz_maildirsize.c - the Maildir++ quota file and rule values
 * (src/lib-storage/quota.c): mquota_parse on "maildirsize" (written by
 * anyone who shares the Maildir: Courier, Dovecot, a user with shell
 * access), and mquota_rule_parse / mquota_grace_parse /
 * mquota_warning_parse on userdb values.
 *
 * Input: the whole input is one maildirsize file; its first line (up to
 * a NUL or LF, at most 600 bytes) is also tried as a quota_rule, a
 * quota_grace and a quota_warning value.
 *
 * Invariants beyond "no crash":
 *  - an accepted file ends in LF, has no line over MQUOTA_LINE_MAX bytes,
 *    and its limits are not negative;
 *  - the writer's lines read back: mquota_format_limits of the parsed
 *    limits followed by mquota_format_change of the totals parses to the
 *    same limits and totals (one line);
 *  - rules: at most MQUOTA_FOLDERS folder rules, limits not negative.
 * max_len: 8192
 */
#include "fuzz.h"
#include "lib-storage/quota.h"

static void check_file(const char *s, size_t n)
{
    struct mquota_file f;
    if (mquota_parse(s, n, &f) < 0)
        return;
    FUZZ_ASSERT(n > 0 && s[n - 1] == '\n');
    FUZZ_ASSERT(f.limit_bytes >= 0 && f.limit_count >= 0);
    char text[2 * MQUOTA_LINE_MAX];
    int a = mquota_format_limits(text, sizeof(text), f.limit_bytes, f.limit_count);
    FUZZ_ASSERT(a > 0);
    int b = mquota_format_change(text + a, sizeof(text) - (size_t)a, f.bytes, f.count);
    FUZZ_ASSERT(b > 0);
    struct mquota_file g;
    FUZZ_ASSERT(mquota_parse(text, (size_t)(a + b), &g) == 0);
    FUZZ_ASSERT(g.limit_bytes == f.limit_bytes);
    FUZZ_ASSERT(g.limit_count == f.limit_count || f.limit_count == 0);
    FUZZ_ASSERT(g.bytes == f.bytes && g.count == f.count && g.lines == 1);
}

static void check_rules(const char *s, size_t n)
{
    char v[601];
    size_t k = 0;
    while (k < n && k < sizeof(v) - 1 && s[k] && s[k] != '\n') {
        v[k] = s[k];
        k++;
    }
    v[k] = '\0';
    struct mquota_rules r;
    memset(&r, 0, sizeof(r));
    char why[256];
    for (int i = 0; i < 10; i++)       /* the same rule again and again: folders fill up */
        mquota_rule_parse(&r, v, why, sizeof(why));
    FUZZ_ASSERT(r.nfolders <= MQUOTA_FOLDERS);
    FUZZ_ASSERT(r.bytes >= 0 || r.set);
    mquota_grace_parse(&r, v);
    mquota_warning_parse(&r, v);
    FUZZ_ASSERT(r.warn_percent >= 0 && r.warn_percent <= 100);
    struct mquota q = {r.bytes > 0 ? r.bytes : 0, r.count > 0 ? r.count : 0, 0, 0};
    mquota_over(&q, &r, v, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_quiet();
    check_file((const char *)data, size);
    check_rules((const char *)data, size);
    return 0;
}
