/*
 * tls_conn.c - TLS as a layer of the connection object (lib/conn.h).
 *
 * Owns: the translation between lib-tls's TLS_WANT_* / TLS_ERROR and the
 * layer interface conn.c drives. Everything else (when to wait for which
 * readiness, draining what OpenSSL holds, discarding the plaintext read
 * before the layer was installed) is conn.c's, written once there.
 */
#include "lib-tls/tls.h"
#include "lib-tls/tls_int.h"
#include "lib/conn.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>

_Static_assert(TLS_WANT_READ == CONN_WANT_READ && TLS_WANT_WRITE == CONN_WANT_WRITE,
               "TLS and connection wants agree");

static int want_of(int want)
{
    return want == TLS_WANT_READ || want == TLS_WANT_WRITE ? want : 0;
}

static ssize_t layer_read(void *ctx, void *buf, size_t len, int *want)
{
    int w = 0;
    ssize_t n = tls_read(ctx, buf, len, &w);
    *want = n < 0 ? want_of(w) : 0;
    if (n < 0 && !*want)
        errno = ECONNRESET;
    return n;
}

static ssize_t layer_write(void *ctx, const void *buf, size_t len, int *want)
{
    int w = 0;
    ssize_t n = tls_write(ctx, buf, len, &w);
    *want = n < 0 ? want_of(w) : 0;
    if (n < 0 && !*want)
        errno = ECONNRESET;
    return n;
}

static int layer_pending(void *ctx)
{
    return tls_pending(ctx);
}

static int layer_handshake(void *ctx)
{
    int r = tls_handshake(ctx);
    if (r == TLS_OK)
        return 0;
    return want_of(r) ? r : -1;
}

static void layer_shutdown(void *ctx)
{
    (void)tls_shutdown(ctx);
}

static void layer_release(void *ctx)
{
    tls_free(ctx);
}

static const struct conn_io_ops tls_layer = {
    .name = "tls",
    .read = layer_read,
    .write = layer_write,
    .pending = layer_pending,
    .handshake = layer_handshake,
    .shutdown = layer_shutdown,
    .release = layer_release,
};

size_t tls_conn_attach(struct conn *c, struct tls_conn *t)
{
    return conn_layer_install(c, &tls_layer, t);
}

int tls_conn_handshake_wait(struct conn *c, struct tls_conn *t, int timeout_ms)
{
    int r = conn_handshake_wait(c, timeout_ms);
    if (r == -2) {
        str_copy(t->err, "handshake timed out", sizeof(t->err));
        t->state = TLS_ST_FAILED;
        msg_info("%s %s: handshake timed out", t->is_server ? "SSL_accept error from" :
                 "SSL_connect error to", t->namaddr);
    }
    return r == 0 ? TLS_OK : TLS_ERROR;
}
