/*
 * pw.c - `yubin pw`, like `doveadm pw`: make or check a stored password
 * for a passwd-file or a passdb table; and the hidden `yubin auth-test`,
 * a Dovecot-protocol authentication client for trying an auth server
 * (yubin's or Dovecot's) by hand and in the tests.
 */
#include "auth/climech.h"
#include "auth/scheme.h"
#include "lib/base64.h"
#include "cmd/commands.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib-auth/sasl_client.h"
#include "lib/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define PW_MAX 1024

static void pw_usage(FILE *f)
{
    fprintf(f,
            "usage: yubin pw [-l] [-s SCHEME] [-r ROUNDS] [-p PASSWORD] [-t STORED] [-V]\n"
            "  -s SCHEME    password scheme (default SHA512-CRYPT); -l lists them\n"
            "  -r ROUNDS    crypt rounds, bcrypt cost, Argon2 passes or SCRAM iterations\n"
            "  -p PASSWORD  the password (visible to other users in ps: prefer the prompt)\n"
            "  -t STORED    check the password against a stored value instead\n"
            "  -V           verify the generated value before printing it\n"
            "Without -p the password is read twice from the terminal (without echo),\n"
            "or once from standard input when that is not a terminal.\n");
}

/* One line from fd, without echo when it is a terminal. */
static int read_line(int fd, const char *prompt, char *out, size_t outlen)
{
    struct termios old, noecho;
    int tty = isatty(fd);
    if (tty) {
        if (write(fd, prompt, strlen(prompt)) < 0)
            return -1;
        if (tcgetattr(fd, &old) == 0) {
            noecho = old;
            noecho.c_lflag &= ~(tcflag_t)ECHO;
            tcsetattr(fd, TCSAFLUSH, &noecho);
        } else {
            tty = 0;
        }
    }
    size_t n = 0;
    int rc = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0) {
            if (n == 0)
                rc = -1;
            break;
        }
        if (ch == '\n')
            break;
        if (n + 1 >= outlen) {
            rc = -2;
            continue;
        }
        out[n++] = ch;
    }
    if (n && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    if (tty) {
        tcsetattr(fd, TCSAFLUSH, &old);
        if (write(fd, "\n", 1) < 0)
            rc = rc ? rc : 0;
    }
    return rc;
}

static int get_password(char *pw, size_t len, int twice)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    int from_tty = fd >= 0 && isatty(STDIN_FILENO);
    if (!from_tty) {
        if (fd >= 0)
            close(fd);
        int rc = read_line(STDIN_FILENO, "", pw, len);
        if (rc == -2)
            fprintf(stderr, "yubin pw: password too long\n");
        return rc;
    }
    char again[PW_MAX];
    int rc = read_line(fd, "Enter new password: ", pw, len);
    if (rc == 0 && twice) {
        rc = read_line(fd, "Retype new password: ", again, sizeof(again));
        if (rc == 0 && strcmp(pw, again) != 0) {
            fprintf(stderr, "yubin pw: passwords don't match\n");
            rc = -1;
        }
    }
    OPENSSL_cleanse(again, sizeof(again));
    close(fd);
    if (rc == -2)
        fprintf(stderr, "yubin pw: password too long\n");
    return rc;
}

int cmd_pw(const char *confdir, int argc, char **argv)
{
    (void)confdir;
    const char *scheme = "SHA512-CRYPT", *stored = NULL;
    char pw[PW_MAX] = "";
    int have_pw = 0, verify = 0;
    unsigned rounds = 0;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "ls:r:p:t:Vh")) != -1) {
        switch (opt) {
        case 'l':
            printf("%s\n", auth_scheme_names());
            return 0;
        case 's':
            scheme = optarg;
            break;
        case 'r': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end || v == 0 || v > 1000000000UL) {
                fprintf(stderr, "yubin pw: bad rounds \"%s\"\n", optarg);
                return 2;
            }
            rounds = (unsigned)v;
            break;
        }
        case 'p':
            if (str_copy(pw, optarg, sizeof(pw)) >= sizeof(pw)) {
                fprintf(stderr, "yubin pw: password too long\n");
                return 2;
            }
            have_pw = 1;
            break;
        case 't':
            stored = optarg;
            break;
        case 'V':
            verify = 1;
            break;
        case 'h':
            pw_usage(stdout);
            return 0;
        default:
            pw_usage(stderr);
            return 2;
        }
    }
    if (optind != argc) {
        pw_usage(stderr);
        return 2;
    }
    if (!stored && !auth_scheme_can_generate(scheme)) {
        fprintf(stderr, "yubin pw: %s password scheme %s (try -l)\n",
                auth_scheme_known(scheme) ? "cannot generate the" : "unknown", scheme);
        return 2;
    }
    if (!have_pw && get_password(pw, sizeof(pw), !stored) < 0)
        return 1;
    if (!pw[0]) {
        fprintf(stderr, "yubin pw: empty passwords are not allowed\n");
        return 1;
    }
    char err[160];
    int rc = 0;
    if (stored) {
        int v = auth_scheme_verify(stored, "CRYPT", pw, strlen(pw), err, sizeof(err));
        if (v == SCHEME_MATCH) {
            printf("%s (verified)\n", stored);
        } else {
            fprintf(stderr, "yubin pw: verification failed: %s\n",
                    v == SCHEME_ERROR ? err : "password mismatch");
            rc = 1;
        }
    } else {
        char *out = auth_scheme_generate(scheme, pw, strlen(pw), rounds, err, sizeof(err));
        if (!out) {
            fprintf(stderr, "yubin pw: %s\n", err);
            rc = 1;
        } else if (verify && auth_scheme_verify(out, "CRYPT", pw, strlen(pw), err, sizeof(err)) !=
                                 SCHEME_MATCH) {
            fprintf(stderr, "yubin pw: the generated value does not verify\n");
            rc = 1;
        } else {
            printf("%s%s\n", out, verify ? " (verified)" : "");
        }
        free(out);
    }
    OPENSSL_cleanse(pw, sizeof(pw));
    return rc;
}

/* ------------------------------------------------------------------ */
/* auth-test                                                           */

struct auth_test {
    struct evloop *loop;
    struct sasl_client *client;
    struct climech *cm;
    struct sasl_auth *auth;
    int status;            /* exit status */
    int waited;
    const char *mech, *rip, *lip;
    int flags, list_mechs;
    char *initial_b64;
    int has_initial;
};

static void test_cb(void *arg, enum sasl_status st, const char *text)
{
    struct auth_test *t = arg;
    switch (st) {
    case SASL_CONT: {
        struct buf dec, out, enc;
        buf_init(&dec, 65536);
        buf_init(&out, 65536);
        buf_init(&enc, 65536);
        if (base64_decode(text, strlen(text), &dec) < 0 ||
            auth_climech_step(t->cm, (const unsigned char *)buf_cstr(&dec), dec.len, &out) < 0) {
            printf("ABORT bad challenge from the server\n");
            sasl_auth_cancel(t->auth);
            t->status = 1;
            ev_loop_stop(t->loop);
        } else {
            base64_encode(&enc, out.data ? out.data : "", out.len);
            sasl_auth_continue(t->auth, buf_cstr(&enc));
        }
        buf_free(&dec);
        buf_free(&out);
        buf_free(&enc);
        return;
    }
    case SASL_OK:
        printf("OK user=%s%s\n", text,
               str_ieq(t->mech, "SCRAM-SHA-256") && auth_climech_server_verified(t->cm)
                   ? " (server verified)" : "");
        t->status = 0;
        break;
    case SASL_FAIL:
        printf("FAIL%s%s\n", text ? " " : "", text ? text : "");
        t->status = 1;
        break;
    case SASL_TEMPFAIL:
        printf("TEMPFAIL%s%s\n", text ? " " : "", text ? text : "");
        t->status = 2;
        break;
    }
    ev_loop_stop(t->loop);
}

static void test_start(void *arg)
{
    struct auth_test *t = arg;
    if (!saslc_ready(t->client)) {
        if (++t->waited > 500) {
            printf("TEMPFAIL no handshake from the authentication server\n");
            t->status = 2;
            ev_loop_stop(t->loop);
            return;
        }
        ev_timer_add(t->loop, 10, test_start, t);
        return;
    }
    if (t->list_mechs) {
        struct buf m;
        buf_init(&m, 4096);
        saslc_mechs(t->client, 0, "", NULL, &m);
        printf("MECHS %s\n", buf_cstr(&m));
        buf_free(&m);
    }
    t->auth = sasl_auth_start(t->client, t->mech, t->has_initial ? t->initial_b64 : NULL, t->rip,
                              t->lip, t->flags, test_cb, t);
}

int cmd_auth_test(const char *confdir, int argc, char **argv)
{
    (void)confdir;
    struct auth_test t = {.mech = "PLAIN", .rip = "127.0.0.1", .lip = "127.0.0.1", .status = 2};
    const char *authzid = NULL, *service = "smtp";
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "m:a:r:l:S:sM")) != -1) {
        switch (opt) {
        case 'm': t.mech = optarg; break;
        case 'a': authzid = optarg; break;
        case 'r': t.rip = optarg; break;
        case 'l': t.lip = optarg; break;
        case 'S': service = optarg; break;
        case 's': t.flags |= SASL_SECURED; break;
        case 'M': t.list_mechs = 1; break;
        default:
            fprintf(stderr, "usage: yubin auth-test [-m MECH] [-a AUTHZID] [-r RIP] [-l LIP] "
                            "[-S SERVICE] [-s] [-M] SOCKET USER PASSWORD\n");
            return 2;
        }
    }
    if (argc - optind != 3) {
        fprintf(stderr, "usage: yubin auth-test [-m MECH] [-a AUTHZID] [-r RIP] [-l LIP] "
                        "[-S SERVICE] [-s] [-M] SOCKET USER PASSWORD\n");
        return 2;
    }
    t.cm = auth_climech_new(t.mech, argv[optind + 1], argv[optind + 2], authzid);
    if (!t.cm) {
        fprintf(stderr, "yubin auth-test: unsupported mechanism %s\n", t.mech);
        return 2;
    }
    log_set_dest(1, NULL);
    struct buf ir;
    buf_init(&ir, 65536);
    if (auth_climech_initial(t.cm, &ir) == 1) {
        struct buf enc;
        buf_init(&enc, 0);
        base64_encode(&enc, ir.data ? ir.data : "", ir.len);
        t.initial_b64 = enc.data ? enc.data : xstrdup("");
        t.has_initial = 1;
    }
    buf_free(&ir);
    t.loop = ev_loop_new();
    t.client = saslc_new(t.loop, argv[optind]);
    saslc_set_service(t.client, service);
    saslc_set_timeout(t.client, 30);
    ev_timer_add(t.loop, 0, test_start, &t);
    ev_loop_run(t.loop);
    fflush(stdout);
    saslc_free(t.client);
    auth_climech_free(t.cm);
    free(t.initial_b64);
    ev_loop_free(t.loop);
    return t.status;
}
