/*
 * test_base64.c - RFC 4648 vectors, strictness (padding, alphabet,
 * trailing bits), limits.
 */
#include "lib/base64.h"
#include "t.h"

#include <string.h>

static void test_vectors(void)
{
    static const char *const v[][2] = {
        {"", ""},         {"f", "Zg=="},        {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct buf b;
        buf_init(&b, 100);
        CHECK_INT(base64_encode(&b, v[i][0], strlen(v[i][0])), 0);
        CHECK_STR(buf_cstr(&b), v[i][1]);
        buf_reset(&b);
        CHECK_INT(base64_decode(v[i][1], strlen(v[i][1]), &b), 0);
        CHECK_STR(buf_cstr(&b), v[i][0]);
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(base64_encode_nopad(&b, "fo", 2), 0);
    CHECK_STR(buf_cstr(&b), "Zm8");
    buf_reset(&b);
    CHECK_INT(base64_decode_nopad("Zm8", 3, &b), 0);
    CHECK_STR(buf_cstr(&b), "fo");
    buf_reset(&b);
    /* Binary with NUL survives. */
    CHECK_INT(base64_decode("AGFsaWNlAHNlY3JldA==", 20, &b), 0);
    CHECK_INT(b.len, 13);
    CHECK(memcmp(b.data, "\0alice\0secret", 13) == 0);
    buf_free(&b);
}

static void test_strict(void)
{
    static const char *const bad[] = {
        "Zg", "Zg=", "Zg===", "Z===", "Zm9v\n", " Zm9v", "Zm9v====", "Zh==", "Zm9=",
        "Zm=v", "Zm9*", "=Zm9", "Zm9vYg=a", "A",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct buf b;
        buf_init(&b, 100);
        buf_puts(&b, "keep");
        CHECK_INT(base64_decode(bad[i], strlen(bad[i]), &b), -1);
        CHECK_STR(buf_cstr(&b), "keep");   /* nothing appended on failure */
        buf_free(&b);
    }
    struct buf b;
    buf_init(&b, 100);
    CHECK_INT(base64_decode_nopad("Zg==", 4, &b), -1);
    CHECK_INT(base64_decode_nopad("Z", 1, &b), -1);
    buf_free(&b);
    /* Limits: decoding into a small buffer fails instead of growing. */
    buf_init(&b, 4);
    CHECK_INT(base64_decode("Zm9vYmFy", 8, &b), -1);
    buf_free(&b);
    unsigned char out[3];
    CHECK_INT(base64_decode_to("Zm9v", 4, out, 3), 3);
    CHECK_INT(base64_decode_to("Zm9vYg==", 8, out, 3), -1);
    CHECK_INT(base64_decode_to("!!!!", 4, out, 3), -1);
}

int main(void)
{
    T_RUN(test_vectors);
    T_RUN(test_strict);
    return T_DONE();
}
