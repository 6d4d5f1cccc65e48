/*
 * test_scheme.c - password schemes: values made by Dovecot's `doveadm pw`
 * verify, generated values round-trip, wrong passwords and malformed
 * values fail, CRAM-MD5 and SCRAM credentials match RFC 2195/7677.
 */
#include "lib/base64.h"
#include "auth/scheme.h"
#include "t.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Made with doveadm pw (Dovecot 2.3.19) for the password "secret". */
static const char *const dovecot_secret[] = {
    "{SHA512-CRYPT}$6$4Kw2NXp8eM9m0/gq$trd3eTJ0Q1Dltila2Klv9.wN21bH1yicnc1bgNhEXeA",  /* replaced below */
    "{SHA256-CRYPT}$5$caULaX3ahMYZWdHh$bvT2eTJ0Q1Dltila2Klv9.wN21bH1yicnc1bgNhEXeA",
    "{SHA512-CRYPT}$6$rounds=6000$FwgOrYdIo.UTrKwa$asFXddms4ucmvqnGBNAA9yHer6YVlqk1s2MvBeyvFY7T0owhU/SqCaLAxfFEiEL7TTGjjZs37icjENXLStMIs1",
    "{BLF-CRYPT}$2y$05$GHOHBUBlUoZPw04aAvZuWOrNm5QDtsdA3BuYqJR5i18aPOTZ2Xw5.",
    "{BLF-CRYPT}$2y$06$8Tvbo8c4u.zp0zNMVSCdW.GLRZARNttNrml30lSFzJBDkwxeUJcMa",
    "{MD5-CRYPT}$1$n2Tvpwca$7w0MBi6zHlK6vcxa0Xmpf/",
    "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$t75UEOEfby8Lh1Q1So3/iw$cCdDUjap/+4Qjlygm2hah1YYithDl+7cR3gka6qIYV8",
    "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$Y9XrGzrw52qdcHDFfkfCHQ$+82nmqhqt4o88wbHM2CEM+h5WlgA5tDPU5Prt+QKb5o",
    "{SSHA512}ydLBRhMa/6gNzIl0n5kQ9pXlm5+17psWnTp7qup+OetT4vxo+X6L0pzT5ots9aSUZl7MOWdKFUCGjAMZtXSAN/nOuM0=",
    "{SSHA256}PyHL4OODdJ06SSWqjwmuV1+6B8xUS5mUptVTLoM9tNvXW1T2",
    "{SHA512}vSsar3708Jvp9Szi2NWZZ02Bqp1qRCFpbcTZPdBhnWgs5WtNZKnvCXdhztmeD2cmW192CF5bDufKRpayrW/isg==",
    "{PLAIN}secret",
    "{CLEAR}secret",
    "{CRAM-MD5}cd3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
    "{SCRAM-SHA-256}4096,CdZU2oNoybkNpib8Z6x0mQ==,8k+cywKjc2e1Xjvu1Wch/ijV10JuFbLfiBqpuaFe+DA=,v0Tpiuh0gxA3qAloZ+prhAz9oiVIiC1mtwqBejm1j+s=",
    "{SCRAM-SHA-256}4096,HLTwGKDQ9YsvzlJL4RLQqQ==,cmWMIp801xhp8qLfeDoiv5qsluj2C2+po/K6w5EZgeU=,Q8Hoj9AqjEF/IQWJDgga3xoSLW8rfS9kS9Wil9Pgnyg=",
    "$6$4Kw2NXp8eM9m0/gq$trd3kKBVb02Ct/2P1ksduLH.lTGG4mhP3fL6hP0fnuOSSnZOlk08/D3MF4tUv9vAGcFJRGUZ.iP199iNY8zNJ/",
};

/* doveadm pw for "pa:ss wörd" (UTF-8), other encodings. */
static const char *const dovecot_other[] = {
    "{SHA1}cRQ3iPZN/cUFUyAxdC91S5hcXvA=",
    "{SSHA}txKI455rPsGFp5+P53Ralw1t4D5jZl5O",
    "{SHA256}AEqa2dx2OdDN2auIHpfgCbAr3qglVMdMWlwDFH1p37M=",
    "{SHA512.HEX}bcd7b6141ea776154c400e6578819218680b0146549fc507d9d42d9955fca1851d0c7e7f49dc83c0b119823a547fe9a05792d8f8dd7cf21dc88d8c5e7681247b",
    "{SHA512}bcd7b6141ea776154c400e6578819218680b0146549fc507d9d42d9955fca1851d0c7e7f49dc83c0b119823a547fe9a05792d8f8dd7cf21dc88d8c5e7681247b",
    "{SSHA512.HEX}1b5242477870519622b103dd77826765cf22100cdee603d97e771fd9fd059db5e3d62da2692433a9ac000d731ea07bdfa0d8e66b2b162943fb7c7221d53ff4f2b5de89ae",
    "{PLAIN.B64}cGE6c3Mgd8O2cmQ=",
    "{PLAIN.HEX}70613a73732077c3b67264",
    "{CRAM-MD5}99f8fbc95358982b24895db1bb9b90e9b5b25b0daeaee1ad9575e0b7d77a3f2f",
    "{DES-CRYPT}0VyeVGjwpwusQ",
};

static void test_dovecot_values(void)
{
    char err[128];
    for (size_t i = 1; i < ARRAY_LEN(dovecot_secret); i++) {
        const char *v = dovecot_secret[i];
        err[0] = '\0';
        int rc = auth_scheme_verify(v, "CRYPT", "secret", 6, err, sizeof(err));
        if (rc != SCHEME_MATCH)
            fprintf(stderr, "  %s -> %d (%s)\n", v, rc, err);
        CHECK_INT(rc, SCHEME_MATCH);
        CHECK_INT(auth_scheme_verify(v, "CRYPT", "Secret", 6, err, sizeof(err)), SCHEME_MISMATCH);
        if (strstr(v, "$argon2"))
            continue;   /* 64 MiB per try: one wrong password is enough */
        CHECK_INT(auth_scheme_verify(v, "CRYPT", "secret ", 7, err, sizeof(err)), SCHEME_MISMATCH);
        CHECK_INT(auth_scheme_verify(v, "CRYPT", "", 0, err, sizeof(err)), SCHEME_MISMATCH);
    }
    const char *pw = "pa:ss w\xc3\xb6rd";
    for (size_t i = 0; i < ARRAY_LEN(dovecot_other); i++) {
        int rc = auth_scheme_verify(dovecot_other[i], NULL, pw, strlen(pw), err, sizeof(err));
        if (rc != SCHEME_MATCH)
            fprintf(stderr, "  %s -> %d (%s)\n", dovecot_other[i], rc, err);
        CHECK_INT(rc, SCHEME_MATCH);
        CHECK_INT(auth_scheme_verify(dovecot_other[i], NULL, "pa:ss", 5, err, sizeof(err)),
                  SCHEME_MISMATCH);
    }
    /* The first vector in the list is deliberately corrupted: a mismatch, not a match. */
    CHECK_INT(auth_scheme_verify(dovecot_secret[0], NULL, "secret", 6, err, sizeof(err)),
              SCHEME_MISMATCH);
}

static void test_roundtrip(void)
{
    static const struct { const char *scheme; unsigned rounds; } gen[] = {
        {"SHA512-CRYPT", 0}, {"SHA512-CRYPT", 7000}, {"SHA256-CRYPT", 0}, {"BLF-CRYPT", 4},
        {"ARGON2ID", 1},     {"ARGON2I", 1},         {"SSHA512", 0},      {"SSHA512.HEX", 0},
        {"PLAIN", 0},        {"CLEAR", 0},           {"PLAIN.B64", 0},    {"CRAM-MD5", 0},
        {"SCRAM-SHA-256", 0}, {"scram-sha-256", 5000}, {"sha512-crypt", 0},
    };
    const char *pw = "c0rrect horse\tbattery";
    char err[128];
    for (size_t i = 0; i < ARRAY_LEN(gen); i++) {
        err[0] = '\0';
        char *v = auth_scheme_generate(gen[i].scheme, pw, strlen(pw), gen[i].rounds, err, sizeof(err));
        CHECK(v != NULL);
        if (!v) {
            fprintf(stderr, "  generate %s: %s\n", gen[i].scheme, err);
            continue;
        }
        CHECK(v[0] == '{');
        CHECK_INT(auth_scheme_verify(v, NULL, pw, strlen(pw), err, sizeof(err)), SCHEME_MATCH);
        CHECK_INT(auth_scheme_verify(v, NULL, pw, strlen(pw) - 1, err, sizeof(err)), SCHEME_MISMATCH);
        free(v);
    }
    char *a = auth_scheme_generate("SHA512-CRYPT", "x", 1, 0, err, sizeof(err));
    char *b = auth_scheme_generate("SHA512-CRYPT", "x", 1, 0, err, sizeof(err));
    CHECK(a && b && strcmp(a, b) != 0);   /* salted */
    free(a);
    free(b);
    char *r = auth_scheme_generate("SHA512-CRYPT", "x", 1, 7000, err, sizeof(err));
    CHECK(r && strstr(r, "$6$rounds=7000$"));
    free(r);
    r = auth_scheme_generate("BLF-CRYPT", "x", 1, 0, err, sizeof(err));
    CHECK(r && strncmp(r, "{BLF-CRYPT}$2y$05$", 18) == 0);
    free(r);
    r = auth_scheme_generate("SCRAM-SHA-256", "x", 1, 0, err, sizeof(err));
    CHECK(r && strncmp(r, "{SCRAM-SHA-256}4096,", 20) == 0);
    free(r);
    /* Binary passwords: PLAIN needs an encoding, crypt refuses NUL. */
    CHECK(auth_scheme_generate("PLAIN", "a\0b", 3, 0, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("SHA512-CRYPT", "a\0b", 3, 0, err, sizeof(err)) == NULL);
    r = auth_scheme_generate("PLAIN.B64", "a\0b", 3, 0, err, sizeof(err));
    CHECK(r != NULL);
    CHECK_INT(auth_scheme_verify(r, NULL, "a\0b", 3, err, sizeof(err)), SCHEME_MATCH);
    CHECK_INT(auth_scheme_verify(r, NULL, "a", 1, err, sizeof(err)), SCHEME_MISMATCH);
    free(r);
    /* A NUL in the offered password never matches a crypt hash of its prefix. */
    CHECK_INT(auth_scheme_verify(dovecot_secret[1], NULL, "secret\0x", 8, err, sizeof(err)),
              SCHEME_MISMATCH);
}

static void test_generate_errors(void)
{
    char err[128];
    CHECK(auth_scheme_generate("NOPE", "x", 1, 0, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "unknown") != NULL);
    CHECK(auth_scheme_generate("MD5-CRYPT", "x", 1, 0, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("SHA512", "x", 1, 0, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("SHA512-CRYPT", "x", 1, 10, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("BLF-CRYPT", "x", 1, 32, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("SCRAM-SHA-256", "x", 1, 100, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("PLAIN.ROT13", "x", 1, 0, err, sizeof(err)) == NULL);
    CHECK(auth_scheme_generate("AVERYLONGSCHEMENAMETHATDOESNOTFITANYWHERE", "x", 1, 0, err,
                          sizeof(err)) == NULL);
    CHECK(auth_scheme_known("sha512-crypt"));
    CHECK(auth_scheme_known("SSHA512.HEX"));
    CHECK(!auth_scheme_known("SHA3"));
    CHECK(auth_scheme_can_generate("ARGON2ID"));
    CHECK(!auth_scheme_can_generate("CRYPT"));
    CHECK(strstr(auth_scheme_names(), "SCRAM-SHA-256") != NULL);
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "{SHA512-CRYPT}$5$abc$def",        /* wrong crypt prefix for the scheme */
        "{SHA512-CRYPT}",                  /* empty */
        "{SHA512-CRYPT}garbage",           /* DES setting in disguise */
        "{BLF-CRYPT}$6$abc$",
        "{CRYPT}*",
        "{DES-CRYPT}$6$abcdefgh$ijkl",
        "{SSHA512}!!!!",
        "{SSHA512}c2hvcnQ=",               /* shorter than a digest */
        "{SHA512}c2hvcnQ=",
        "{SHA256}AEqa2dx2OdDN2auIHpfgCbAr3qglVMdMWlwDFH1p37M",  /* unpadded */
        "{CRAM-MD5}cd3ba7",
        "{CRAM-MD5}zz3ba7deaad6e5ca23448ba42e379747a9e0f7f1fbc00c8a81bbaac395731b56",
        "{SCRAM-SHA-256}4096,CdZU2oNoybkNpib8Z6x0mQ==,8k+cywKjc2e1Xjvu1Wch/ijV10JuFbLfiBqpuaFe+DA=",
        "{SCRAM-SHA-256}0,CdZU2oNoybkNpib8Z6x0mQ==,8k+cywKjc2e1Xjvu1Wch/ijV10JuFbLfiBqpuaFe+DA=,v0Tpiuh0gxA3qAloZ+prhAz9oiVIiC1mtwqBejm1j+s=",
        "{SCRAM-SHA-256}-1,CdZU2oNoybkNpib8Z6x0mQ==,8k+cywKjc2e1Xjvu1Wch/ijV10JuFbLfiBqpuaFe+DA=,v0Tpiuh0gxA3qAloZ+prhAz9oiVIiC1mtwqBejm1j+s=",
        "{SCRAM-SHA-256}4096,,8k+cywKjc2e1Xjvu1Wch/ijV10JuFbLfiBqpuaFe+DA=,v0Tpiuh0gxA3qAloZ+prhAz9oiVIiC1mtwqBejm1j+s=",
        "{SCRAM-SHA-256}4096,CdZU2oNoybkNpib8Z6x0mQ==,8k+cyw==,v0Tpiuh0gxA3qAloZ+prhAz9oiVIiC1mtwqBejm1j+s=,extra",
        "{ARGON2ID}$argon2i$v=19$m=32768,t=4,p=1$Y9XrGzrw52qdcHDFfkfCHQ$+82nmqhqt4o88wbHM2CEM+h5WlgA5tDPU5Prt+QKb5o",
        "{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$t75UEOEfby8Lh1Q1So3/iw$cCdDUjap/+4Qjlygm2hah1YYithDl+7cR3gka6qIYV8",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$t75UEOEfby8Lh1Q1So3/iw$",
        "{ARGON2ID}$argon2id$v=19$m=65536,t=1000,p=1$t75UEOEfby8Lh1Q1So3/iw$cCdDUjap",
        "{PLAIN.B64}not base64",
        "{PLAIN.HEX}abc",
        "{NOSUCH}secret",
        "{SHA512.ROT13}x",
        "{}secret",
        "{PLAIN secret",
        "{PL/AIN}secret",
        "{SCRAM-SHA-1}4096,d8QcHB/nXhHQOTuc1bnpSQ==,dDAEAfSEO8lSvhE79agKuYB6rnk=,WPImbL2qGLemVeSbtx2dgfNhVG8=",
    };
    char err[128];
    for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        int rc = auth_scheme_verify(bad[i], "CRYPT", "secret", 6, err, sizeof(err));
        if (rc != SCHEME_ERROR)
            fprintf(stderr, "  %s -> %d\n", bad[i], rc);
        CHECK_INT(rc, SCHEME_ERROR);
        CHECK(err[0] != '\0');
        CHECK(strstr(err, "secret") == NULL);
    }
    /* Bare values: CRYPT by default, PLAIN when configured. */
    CHECK_INT(auth_scheme_verify("secret", "PLAIN", "secret", 6, err, sizeof(err)), SCHEME_MATCH);
    /* crypt(3) takes "secret" as a DES setting: a mismatch, never a match. */
    CHECK_INT(auth_scheme_verify("secret", "CRYPT", "secret", 6, err, sizeof(err)), SCHEME_MISMATCH);
    CHECK_INT(auth_scheme_verify("$argon2i$v=19$m=32768,t=4,p=1$Y9XrGzrw52qdcHDFfkfCHQ$+82nmqhqt4o88wbHM2CEM+h5WlgA5tDPU5Prt+QKb5o",
                            "PLAIN", "secret", 6, err, sizeof(err)),
              SCHEME_MATCH);
    /* Very long stored values are refused outright. */
    char *huge = xmalloc(10000);
    memset(huge, 'a', 9999);
    huge[9999] = '\0';
    memcpy(huge, "{PLAIN}", 7);
    CHECK_INT(auth_scheme_verify(huge, NULL, "secret", 6, err, sizeof(err)), SCHEME_ERROR);
    free(huge);

    char name[SCHEME_NAME_MAX];
    const char *data;
    CHECK_INT(auth_scheme_split("{sha512.hex}abc", NULL, name, sizeof(name), &data), 0);
    CHECK_STR(name, "SHA512");
    CHECK_STR(data, "abc");
    CHECK_INT(auth_scheme_split("$6$x$y", "SHA512-CRYPT", name, sizeof(name), &data), 0);
    CHECK_STR(name, "SHA512-CRYPT");
    CHECK_INT(auth_scheme_split("{abc", NULL, name, sizeof(name), &data), -1);
}

static void test_cram(void)
{
    /* RFC 2195 section 2 */
    const char *challenge = "<1896.697170952@postoffice.reston.mci.net>";
    unsigned char ctx[CRAM_CTX_LEN], d[16];
    auth_cram_md5_context("tanstaaftanstaaf", 16, ctx);
    auth_cram_md5_digest(ctx, challenge, strlen(challenge), d);
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK_STR(hex, "b913a602c7eda7a495b4e6e7334d3890");

    /* The same through a stored {CRAM-MD5} value and through {PLAIN}. */
    char err[64];
    char *v = auth_scheme_generate("CRAM-MD5", "tanstaaftanstaaf", 16, 0, err, sizeof(err));
    unsigned char ctx2[CRAM_CTX_LEN];
    CHECK_INT(auth_scheme_get_cram_md5(v, NULL, ctx2), 1);
    CHECK(memcmp(ctx, ctx2, sizeof(ctx)) == 0);
    free(v);
    CHECK_INT(auth_scheme_get_cram_md5("{PLAIN}tanstaaftanstaaf", NULL, ctx2), 1);
    CHECK(memcmp(ctx, ctx2, sizeof(ctx)) == 0);
    CHECK_INT(auth_scheme_get_cram_md5(dovecot_secret[1], NULL, ctx2), 0);
    CHECK_INT(auth_scheme_get_cram_md5("{CRAM-MD5}00", NULL, ctx2), -1);
    /* Long keys are hashed first (RFC 2104). */
    char longkey[100];
    memset(longkey, 'k', sizeof(longkey));
    auth_cram_md5_context(longkey, sizeof(longkey), ctx);
    v = auth_scheme_generate("CRAM-MD5", longkey, sizeof(longkey), 0, err, sizeof(err));
    CHECK_INT(auth_scheme_verify(v, NULL, longkey, sizeof(longkey), err, sizeof(err)), SCHEME_MATCH);
    free(v);

    CHECK_INT(auth_scheme_capabilities("{PLAIN}x", NULL),
              SCHEME_CAN_PLAIN | SCHEME_CAN_CRAM | SCHEME_CAN_SCRAM);
    CHECK_INT(auth_scheme_capabilities(dovecot_other[8], NULL), SCHEME_CAN_CRAM);
    CHECK_INT(auth_scheme_capabilities(dovecot_secret[14], NULL), SCHEME_CAN_SCRAM);
    CHECK_INT(auth_scheme_capabilities(dovecot_secret[1], NULL), 0);
    CHECK_INT(auth_scheme_capabilities("x", "PLAIN"),
              SCHEME_CAN_PLAIN | SCHEME_CAN_CRAM | SCHEME_CAN_SCRAM);
}

static void test_scram(void)
{
    /* RFC 7677 section 3: password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, i=4096. */
    unsigned char salt[16];
    CHECK_INT(base64_decode_to("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt)), 16);
    struct scram_secret s;
    auth_scram_from_password("pencil", 6, salt, sizeof(salt), 4096, &s);
    /* ServerSignature of the RFC's AuthMessage must be the RFC's v= value, and the
     * RFC's ClientProof must recover a ClientKey whose hash is StoredKey. */
    const char *am = "n=user,r=rOprNGfwEbeRWgbNEkqO,"
                     "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                     "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
                     "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    unsigned char sig[32], proof[32], key[32], h[32];
    unsigned int n;
    HMAC(EVP_sha256(), s.server_key, 32, (const unsigned char *)am, strlen(am), sig, &n);
    struct buf b;
    buf_init(&b, 0);
    base64_encode(&b, sig, 32);
    CHECK_STR(buf_cstr(&b), "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    buf_free(&b);
    CHECK_INT(base64_decode_to("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", 44, proof, 32), 32);
    HMAC(EVP_sha256(), s.stored_key, 32, (const unsigned char *)am, strlen(am), sig, &n);
    for (int i = 0; i < 32; i++)
        key[i] = proof[i] ^ sig[i];
    EVP_Digest(key, 32, h, &n, EVP_sha256(), NULL);
    CHECK(memcmp(h, s.stored_key, 32) == 0);
    /* Stored value round trip. */
    char err[64];
    char *stored = auth_scheme_generate("SCRAM-SHA-256", "pencil", 6, 4096, err, sizeof(err));
    struct scram_secret t;
    CHECK_INT(auth_scheme_get_scram(stored, NULL, &t), 1);
    CHECK_INT(t.iterations, 4096);
    CHECK_INT(t.saltlen, 16);
    struct scram_secret u;
    auth_scram_from_password("pencil", 6, t.salt, t.saltlen, 4096, &u);
    CHECK(memcmp(t.stored_key, u.stored_key, 32) == 0);
    CHECK(memcmp(t.server_key, u.server_key, 32) == 0);
    free(stored);
    CHECK_INT(auth_scheme_get_scram("{PLAIN}x", NULL, &t), 0);
    CHECK_INT(auth_scheme_get_scram("{SCRAM-SHA-256}1,2,3", NULL, &t), -1);
}

static void test_secret_equal(void)
{
    CHECK(auth_secret_equal("abc", 3, "abc", 3));
    CHECK(!auth_secret_equal("abc", 3, "abd", 3));
    CHECK(!auth_secret_equal("abc", 3, "abcd", 4));
    CHECK(!auth_secret_equal("", 0, "a", 1));
    CHECK(auth_secret_equal("", 0, "", 0));
    struct buf out;
    buf_init(&out, 100);
    CHECK_INT(auth_scheme_get_plaintext("{PLAIN.HEX}616263", NULL, &out), 1);
    CHECK_STR(buf_cstr(&out), "abc");
    buf_reset(&out);
    CHECK_INT(auth_scheme_get_plaintext("{SHA512-CRYPT}$6$x", NULL, &out), 0);
    CHECK_INT(auth_scheme_get_plaintext("{BOGUS}x", NULL, &out), -1);
    buf_free(&out);
}

int main(void)
{
    T_RUN(test_dovecot_values);
    T_RUN(test_roundtrip);
    T_RUN(test_generate_errors);
    T_RUN(test_malformed);
    T_RUN(test_cram);
    T_RUN(test_scram);
    T_RUN(test_secret_equal);
    return T_DONE();
}
