/*
 * fuzz_esmtp.c - the MAIL FROM / RCPT TO argument as smtpd reads it:
 * addr_parse_path() for the path, then esmtp_parse_params() for the ESMTP
 * parameters after it (SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH, NOTIFY,
 * ORCPT), both in src/lib/addr.c.
 *
 * Input: byte 0 holds flags (MAIL or RCPT, strict_rfc821_envelopes, the
 * announced extensions), the rest is the text after "FROM:" / "TO:".
 *
 * Invariants beyond "no crash":
 *  - the result is 0, 501 or 555, and an error has a "5.x.x" text;
 *  - only parameters of the command and of announced extensions are set;
 *    NOTIFY=NEVER never comes with another NOTIFY keyword;
 *  - decoded ENVID/ORCPT/AUTH values fit their limits;
 *  - round trip: the parameters written back in canonical form (xtext
 *    encoded) parse again to exactly the same struct esmtp_params.
 * max_len: 2048
 */
#include "fuzz.h"
#include "lib-mail/addr.h"
#include "lib/buf.h"

static int params_equal(const struct esmtp_params *a, const struct esmtp_params *b)
{
    return a->has_size == b->has_size && a->size == b->size && a->body == b->body &&
           a->smtputf8 == b->smtputf8 && a->ret == b->ret && a->has_envid == b->has_envid &&
           strcmp(a->envid, b->envid) == 0 && a->has_auth == b->has_auth &&
           strcmp(a->auth, b->auth) == 0 && a->notify == b->notify &&
           a->has_orcpt == b->has_orcpt && strcmp(a->orcpt_type, b->orcpt_type) == 0 &&
           strcmp(a->orcpt, b->orcpt) == 0;
}

/* Canonical text of p; 0, or -1 when an encoded value would exceed its limit. */
static int write_params(const struct esmtp_params *p, struct buf *out)
{
    char enc[4 * ESMTP_ORCPT_MAX + 4 * ADDR_MAX];
    if (p->has_size)
        buf_printf(out, " SIZE=%llu", p->size);
    if (p->body != ESMTP_BODY_NONE)
        buf_printf(out, " BODY=%s", p->body == ESMTP_BODY_8BITMIME ? "8BITMIME" : "7BIT");
    if (p->smtputf8)
        buf_puts(out, " SMTPUTF8");
    if (p->ret != ESMTP_RET_NONE)
        buf_printf(out, " RET=%s", p->ret == ESMTP_RET_FULL ? "FULL" : "HDRS");
    if (p->has_envid) {
        if (xtext_encode(p->envid, enc, sizeof(enc)) < 0 || strlen(enc) > ESMTP_ENVID_MAX ||
            !enc[0])
            return -1;
        buf_printf(out, " ENVID=%s", enc);
    }
    if (p->has_auth) {
        if (xtext_encode(p->auth, enc, sizeof(enc)) < 0 || !enc[0])
            return -1;
        buf_printf(out, " AUTH=%s", enc);
    }
    if (p->notify) {
        buf_puts(out, " NOTIFY=");
        const char *sep = "";
        static const struct { int bit; const char *name; } kw[] = {
            {ESMTP_NOTIFY_NEVER, "NEVER"}, {ESMTP_NOTIFY_SUCCESS, "SUCCESS"},
            {ESMTP_NOTIFY_FAILURE, "FAILURE"}, {ESMTP_NOTIFY_DELAY, "DELAY"}};
        for (size_t i = 0; i < ARRAY_LEN(kw); i++)
            if (p->notify & kw[i].bit) {
                buf_printf(out, "%s%s", sep, kw[i].name);
                sep = ",";
            }
    }
    if (p->has_orcpt) {
        if (xtext_encode(p->orcpt, enc, sizeof(enc)) < 0 || strlen(enc) > ESMTP_ORCPT_MAX ||
            !enc[0])
            return -1;
        buf_printf(out, " ORCPT=%s;%s", p->orcpt_type, enc);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_quiet();
    unsigned flags = data[0];
    int is_rcpt = flags & 1, strict = (flags >> 1) & 1;
    int allow = (int)(flags >> 3) & ESMTP_ALLOW_ALL;
    if (flags & 4)
        allow = ESMTP_ALLOW_ALL;
    char *line = fuzz_strndup(data + 1, size - 1);
    char addr[ADDR_MAX];
    char *params = NULL;
    const char *why = NULL;
    if (addr_parse_path(line, strict, 1, addr, sizeof(addr), &params, &why) < 0) {
        /* smtpd stops at a bad path; the parameter parser still gets the whole text here. */
        params = line;
    }
    struct esmtp_params p;
    char err[256];
    int code = esmtp_parse_params(params ? params : "", is_rcpt, allow, &p, err, sizeof(err));
    FUZZ_ASSERT(code == 0 || code == 501 || code == 555);
    if (code) {
        FUZZ_ASSERT(err[0] == '5' && err[1] == '.');
        free(line);
        return 0;
    }
    if (is_rcpt)
        FUZZ_ASSERT(!p.has_size && p.body == ESMTP_BODY_NONE && !p.smtputf8 &&
                    p.ret == ESMTP_RET_NONE && !p.has_envid && !p.has_auth);
    else
        FUZZ_ASSERT(!p.notify && !p.has_orcpt);
    if (!(allow & ESMTP_ALLOW_SIZE))
        FUZZ_ASSERT(!p.has_size);
    if (!(allow & ESMTP_ALLOW_8BITMIME))
        FUZZ_ASSERT(p.body == ESMTP_BODY_NONE);
    if (!(allow & ESMTP_ALLOW_SMTPUTF8))
        FUZZ_ASSERT(!p.smtputf8);
    if (!(allow & ESMTP_ALLOW_DSN))
        FUZZ_ASSERT(p.ret == ESMTP_RET_NONE && !p.has_envid && !p.notify && !p.has_orcpt);
    if (!(allow & ESMTP_ALLOW_AUTH))
        FUZZ_ASSERT(!p.has_auth);
    if (p.notify & ESMTP_NOTIFY_NEVER)
        FUZZ_ASSERT(p.notify == ESMTP_NOTIFY_NEVER);
    FUZZ_ASSERT(strlen(p.envid) <= ESMTP_ENVID_MAX && strlen(p.orcpt) <= ESMTP_ORCPT_MAX &&
                strlen(p.auth) <= ADDR_MAX && strlen(p.orcpt_type) < sizeof(p.orcpt_type));

    struct buf again;
    buf_init(&again, 0);
    buf_puts(&again, "");
    if (write_params(&p, &again) == 0) {
        struct esmtp_params q;
        char err2[256];
        int code2 = esmtp_parse_params(again.data, is_rcpt, allow, &q, err2, sizeof(err2));
        if (code2 != 0 || !params_equal(&p, &q)) {
            fprintf(stderr, "round trip: \"%s\" -> \"%s\" -> %d %s\n", params, again.data, code2,
                    code2 ? err2 : "");
            FUZZ_ASSERT(!"canonical parameters parse to the same values");
        }
    }
    buf_free(&again);
    free(line);
    return 0;
}
