/*
 * test_mech.c - the SASL mechanism state machines on the server side,
 * driven by the client side (climech) and by hand-made hostile messages:
 * PLAIN authzid rules, LOGIN, CRAM-MD5 (RFC 2195), SCRAM-SHA-256
 * (RFC 5802/7677: GS2 flags, channel binding refused, nonces, proofs,
 * the server signature, fake users).
 */
#include "auth/climech.h"
#include "auth/mech.h"
#include "auth/scheme.h"
#include "t.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

static enum mech_result step(struct mech *m, const char *data, size_t len, struct buf *out)
{
    buf_reset(out);
    return auth_mech_step(m, (const unsigned char *)data, len, out);
}

static void test_plain(void)
{
    struct buf out;
    buf_init(&out, 4096);
    struct mech *m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(step(m, "\0alice\0secret", 13, &out), MECH_VERIFY);
    CHECK_STR(auth_mech_user(m), "alice");
    size_t pl;
    const char *pw = auth_mech_password(m, &pl);
    CHECK_INT(pl, 6);
    CHECK(memcmp(pw, "secret", 6) == 0);
    auth_mech_free(m);

    m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(step(m, "alice\0alice\0secret", 18, &out), MECH_VERIFY);   /* authzid = authcid */
    auth_mech_free(m);
    m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(step(m, "admin\0alice\0secret", 18, &out), MECH_FAIL);     /* another identity */
    CHECK(!auth_mech_failed_protocol(m));
    CHECK_STR(auth_mech_user(m), "alice");
    CHECK(strstr(auth_mech_error(m), "authorization") != NULL);
    auth_mech_free(m);

    /* No initial response: an empty challenge asks for it, once. */
    m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
    CHECK_INT(out.len, 0);
    CHECK_INT(step(m, "\0bob\0pw", 7, &out), MECH_VERIFY);
    auth_mech_free(m);
    m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
    CHECK_INT(step(m, "", 0, &out), MECH_FAIL);
    auth_mech_free(m);

    static const struct { const char *d; size_t n; } bad[] = {
        {"alicesecret", 11}, {"\0alicesecret", 12}, {"\0alice\0sec\0ret", 14},
        {"\0\0secret", 8},   {"\0alice\0", 7},      {"x", 1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = auth_mech_new(MECH_PLAIN, "mx");
        enum mech_result r = step(m, bad[i].d, bad[i].n, &out);
        /* An empty password is the passdb's business; everything else is malformed. */
        if (i == 4) {
            CHECK_INT(r, MECH_VERIFY);
        } else {
            CHECK_INT(r, MECH_FAIL);
            CHECK(auth_mech_failed_protocol(m));
        }
        /* A failed mechanism stays failed. */
        CHECK_INT(step(m, "\0a\0b", 4, &out), r == MECH_FAIL ? MECH_FAIL : MECH_FAIL);
        auth_mech_free(m);
    }
    char big[2000] = {0};
    memcpy(big + 1, "alice", 5);
    memset(big + 7, 'p', 1500);
    m = auth_mech_new(MECH_PLAIN, "mx");
    CHECK_INT(step(m, big, 1507, &out), MECH_FAIL);   /* password over the limit */
    auth_mech_free(m);
    buf_free(&out);
}

static void test_login(void)
{
    struct buf out;
    buf_init(&out, 4096);
    struct mech *m = auth_mech_new(MECH_LOGIN, "mx");
    CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
    CHECK_STR(buf_cstr(&out), "Username:");
    CHECK_INT(step(m, "alice", 5, &out), MECH_CONTINUE);
    CHECK_STR(buf_cstr(&out), "Password:");
    CHECK_INT(step(m, "secret", 6, &out), MECH_VERIFY);
    CHECK_STR(auth_mech_user(m), "alice");
    CHECK_INT(step(m, "more", 4, &out), MECH_FAIL);
    auth_mech_free(m);
    /* The initial response is the user name. */
    m = auth_mech_new(MECH_LOGIN, "mx");
    CHECK_INT(step(m, "bob", 3, &out), MECH_CONTINUE);
    CHECK_STR(buf_cstr(&out), "Password:");
    CHECK_INT(step(m, "", 0, &out), MECH_VERIFY);   /* empty password: checked, fails there */
    auth_mech_free(m);
    m = auth_mech_new(MECH_LOGIN, "mx");
    CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
    CHECK_INT(step(m, "", 0, &out), MECH_FAIL);
    CHECK(auth_mech_failed_protocol(m));
    auth_mech_free(m);
    m = auth_mech_new(MECH_LOGIN, "mx");
    CHECK_INT(step(m, "a\0b", 3, &out), MECH_FAIL);
    auth_mech_free(m);
    m = auth_mech_new(MECH_LOGIN, "mx");
    CHECK_INT(step(m, "bob", 3, &out), MECH_CONTINUE);
    CHECK_INT(step(m, "p\0w", 3, &out), MECH_FAIL);
    auth_mech_free(m);
    buf_free(&out);
}

static void test_cram(void)
{
    struct buf out, resp;
    buf_init(&out, 4096);
    buf_init(&resp, 4096);
    unsigned char ctx[CRAM_CTX_LEN], other[CRAM_CTX_LEN];
    auth_cram_md5_context("tanstaaftanstaaf", 16, ctx);
    auth_cram_md5_context("wrong", 5, other);

    for (int variant = 0; variant < 3; variant++) {
        struct mech *m = auth_mech_new(MECH_CRAM_MD5, "mx.example");
        CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
        const char *ch = buf_cstr(&out);
        CHECK(ch[0] == '<' && strstr(ch, "@mx.example>") != NULL);
        struct climech *c = auth_climech_new("CRAM-MD5", "tim user", "tanstaaftanstaaf", NULL);
        buf_reset(&resp);
        CHECK_INT(auth_climech_step(c, (const unsigned char *)out.data, out.len, &resp), 0);
        auth_climech_free(c);
        CHECK_INT(step(m, resp.data, resp.len, &out), MECH_NEED_CRAM);
        CHECK_STR(auth_mech_user(m), "tim user");   /* spaces allowed in the name */
        enum mech_result r = auth_mech_cram_check(m, variant == 0 ? ctx : variant == 1 ? other : NULL);
        CHECK_INT(r, variant == 0 ? MECH_SUCCESS : MECH_FAIL);
        if (variant)
            CHECK(!auth_mech_failed_protocol(m));
        auth_mech_free(m);
    }
    static const char *const bad[] = {
        "tim b913a602c7eda7a495b4e6e7334d3890x",
        "tim B913A602C7EDA7A495B4E6E7334D3890",
        "timb913a602c7eda7a495b4e6e7334d3890",
        " b913a602c7eda7a495b4e6e7334d3890",
        "b913a602c7eda7a495b4e6e7334d3890",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct mech *m = auth_mech_new(MECH_CRAM_MD5, "mx");
        auth_mech_step(m, NULL, 0, &out);
        CHECK_INT(step(m, bad[i], strlen(bad[i]), &out), MECH_FAIL);
        auth_mech_free(m);
    }
    struct mech *m = auth_mech_new(MECH_CRAM_MD5, "mx");
    CHECK_INT(step(m, "initial", 7, &out), MECH_FAIL);   /* no initial response allowed */
    auth_mech_free(m);
    buf_free(&out);
    buf_free(&resp);
}

/* Run SCRAM between climech(user, password) and the server mechanism. */
static enum mech_result scram_run(const char *user, const char *client_pw, const char *authzid,
                                  const struct scram_secret *secret, int *server_verified)
{
    static const unsigned char key[32] = {1, 2, 3};
    struct buf a, b;
    buf_init(&a, 8192);
    buf_init(&b, 8192);
    struct climech *c = auth_climech_new("SCRAM-SHA-256", user, client_pw, authzid);
    struct mech *m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
    auth_climech_initial(c, &a);
    enum mech_result r = auth_mech_step(m, (unsigned char *)a.data, a.len, &b);
    if (r == MECH_NEED_SCRAM) {
        buf_reset(&b);
        r = auth_mech_scram_first(m, secret, key, sizeof(key), &b);
    }
    if (r == MECH_CONTINUE) {
        buf_reset(&a);
        auth_climech_step(c, (unsigned char *)b.data, b.len, &a);
        buf_reset(&b);
        r = auth_mech_step(m, (unsigned char *)a.data, a.len, &b);
    }
    if (r == MECH_CONTINUE) {
        buf_reset(&a);
        int ok = auth_climech_step(c, (unsigned char *)b.data, b.len, &a) == 0;
        if (server_verified)
            *server_verified = ok && auth_climech_server_verified(c);
        buf_reset(&b);
        r = auth_mech_step(m, (unsigned char *)"", 0, &b);
    }
    auth_climech_free(c);
    auth_mech_free(m);
    buf_free(&a);
    buf_free(&b);
    return r;
}

static void test_scram(void)
{
    unsigned char salt[16] = "0123456789abcdef";
    struct scram_secret sec;
    auth_scram_from_password("pencil", 6, salt, sizeof(salt), 4096, &sec);
    int verified = 0;
    CHECK_INT(scram_run("user", "pencil", NULL, &sec, &verified), MECH_SUCCESS);
    CHECK(verified);
    CHECK_INT(scram_run("user", "pencil", "user", &sec, NULL), MECH_SUCCESS);
    CHECK_INT(scram_run("user", "pencil", "admin", &sec, NULL), MECH_FAIL);
    CHECK_INT(scram_run("user", "crayon", NULL, &sec, NULL), MECH_FAIL);
    CHECK_INT(scram_run("user", "pencil", NULL, NULL, NULL), MECH_FAIL);   /* unknown user */
    CHECK_INT(scram_run("a,b=c", "pencil", NULL, &sec, NULL), MECH_SUCCESS); /* saslname escapes */

    /* The fake salt is stable per user, so probing reveals nothing. */
    static const unsigned char key[32] = {1, 2, 3};
    unsigned char s1[16], s2[16], s3[16];
    auth_mech_scram_salt(key, sizeof(key), "ghost", s1);
    auth_mech_scram_salt(key, sizeof(key), "ghost", s2);
    auth_mech_scram_salt(key, sizeof(key), "other", s3);
    CHECK(memcmp(s1, s2, 16) == 0 && memcmp(s1, s3, 16) != 0);

    struct buf out;
    buf_init(&out, 8192);
    /* Hostile client-first messages. */
    static const char *const bad_first[] = {
        "p=tls-unique,,n=user,r=abc",   /* channel binding: refused */
        "x,,n=user,r=abc",
        "n,n=user,r=abc",
        "n,,m=ext,n=user,r=abc",
        "n,,r=abc,n=user",
        "n,,n=,r=abc",
        "n,,n=us=er,r=abc",             /* bad escape */
        "n,,n=us=2,r=abc",
        "n,,n=user,r=",
        "n,,n=user,r=a b",
        "n,,n=user",
        "n,a=,n=user",
        "n,,",
    };
    for (size_t i = 0; i < sizeof(bad_first) / sizeof(bad_first[0]); i++) {
        struct mech *m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
        enum mech_result r = step(m, bad_first[i], strlen(bad_first[i]), &out);
        if (r != MECH_FAIL)
            fprintf(stderr, "  accepted: %s\n", bad_first[i]);
        CHECK_INT(r, MECH_FAIL);
        CHECK(auth_mech_failed_protocol(m));
        auth_mech_free(m);
    }
    struct mech *m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
    step(m, "p=tls-server-end-point,,n=u,r=x", 31, &out);
    CHECK(strstr(auth_mech_error(m), "channel binding") != NULL);
    auth_mech_free(m);

    /* "y,," is accepted (client supports binding, thinks we do not). */
    m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
    CHECK_INT(step(m, "y,,n=user,r=abc", 15, &out), MECH_NEED_SCRAM);
    buf_reset(&out);
    CHECK_INT(auth_mech_scram_first(m, &sec, key, sizeof(key), &out), MECH_CONTINUE);
    CHECK(strncmp(buf_cstr(&out), "r=abc", 5) == 0 && strstr(buf_cstr(&out), ",i=4096"));
    /* c= must repeat the GS2 header: "biws" is "n,,", not "y,,". */
    char final[256];
    const char *r = strstr(buf_cstr(&out), "r=") + 2;
    const char *comma = strchr(r, ',');
    snprintf(final, sizeof(final), "c=biws,r=%.*s,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
             (int)(comma - r), r);
    CHECK_INT(step(m, final, strlen(final), &out), MECH_FAIL);
    CHECK(strstr(auth_mech_error(m), "channel binding") != NULL);
    auth_mech_free(m);

    /* Nonce must be the combined one. */
    m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
    step(m, "n,,n=user,r=abc", 15, &out);
    buf_reset(&out);
    auth_mech_scram_first(m, &sec, key, sizeof(key), &out);
    const char *f2 = "c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    CHECK_INT(step(m, f2, strlen(f2), &out), MECH_FAIL);
    CHECK(strstr(auth_mech_error(m), "nonce") != NULL);
    auth_mech_free(m);

    /* Empty initial response: the server asks for client-first. */
    m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
    CHECK_INT(auth_mech_step(m, NULL, 0, &out), MECH_CONTINUE);
    CHECK_INT(step(m, "n,,n=user,r=abc", 15, &out), MECH_NEED_SCRAM);
    auth_mech_free(m);

    /* Malformed proofs. */
    const char *proofs[] = {"p=short", "p=!!!!", "", "x=1"};
    for (size_t i = 0; i < 4; i++) {
        m = auth_mech_new(MECH_SCRAM_SHA_256, "mx");
        step(m, "n,,n=user,r=abc", 15, &out);
        buf_reset(&out);
        auth_mech_scram_first(m, &sec, key, sizeof(key), &out);
        r = strstr(buf_cstr(&out), "r=") + 2;
        comma = strchr(r, ',');
        snprintf(final, sizeof(final), "c=biws,r=%.*s,%s", (int)(comma - r), r, proofs[i]);
        CHECK_INT(step(m, final, strlen(final), &out), MECH_FAIL);
        auth_mech_free(m);
    }
    buf_free(&out);
    CHECK(auth_mech_find("scram-sha-256") != NULL);
    CHECK(auth_mech_find("DIGEST-MD5") == NULL);
    CHECK_STR(auth_mech_info(MECH_CRAM_MD5)->props, "dictionary\tactive");
}

int main(void)
{
    T_RUN(test_plain);
    T_RUN(test_login);
    T_RUN(test_cram);
    T_RUN(test_scram);
    return T_DONE();
}
