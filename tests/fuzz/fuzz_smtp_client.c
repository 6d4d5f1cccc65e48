/*
 * fuzz_smtp_client.c - a whole delivery by yubin's SMTP client
 * (src/deliver/smtp.c, smtp_session.c, smtp_reply.c, smtp_data.c:
 * smtp_deliver_request) against a server on 127.0.0.1 that answers with
 * the input: the greeting, EHLO keywords (SIZE, PIPELINING, DSN,
 * SMTPUTF8, 8BITMIME, AUTH ...), HELO fallback, pipelined MAIL/RCPT/DATA
 * replies, multi-line and malformed replies, a connection closed at any
 * point. Remote servers are untrusted; this is where their bytes go.
 *
 * Input: byte 0 picks the request (1..4 recipients with and without
 * NOTIFY/ORCPT, SMTPUTF8, RET/ENVID, smtp_never_send_ehlo, a line length
 * limit); the rest is everything the server says, sent at once before
 * the server stops writing (the client reads it as the replies to what it
 * sends, in order) and then reads the client's side until it closes.
 *
 * Invariants beyond "no crash":
 *  - every recipient gets exactly one status with its idx, a class among
 *    sent, passed, deferred and bounced, and an enhanced code of the
 *    matching class (2, 4 or 5);
 *  - each status can be sent back to qmgr: dproto_format_status() accepts
 *    it and dproto_parse_status() reads back the same idx, class, code and
 *    relay (texts from the server are untrusted: they must not break the
 *    delivery protocol).
 * max_len: 8192
 */
#include "fuzz.h"
#include "deliver/smtp.h"
#include "lib-queue/dproto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

static int listen_fd = -1;
static unsigned port;
static char qfile[300];
static const char content[] = "Received: from x\nSubject: t\n\n.dot\nbody \xe9\n..two\n";

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const uint8_t *reply;
static size_t reply_len;

/* The server: every connection gets the current input, then is read until the client closes. */
static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        /* A copy, taken under the lock: the input is gone once its delivery returned
         * (a connection the client gave up on may be accepted only after that). */
        pthread_mutex_lock(&lock);
        size_t n = reply ? reply_len : 0;
        uint8_t *p = malloc(n ? n : 1);
        if (!p)
            abort();
        if (n)
            memcpy(p, reply, n);
        pthread_mutex_unlock(&lock);
        size_t off = 0;
        while (off < n) {
            ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        free(p);
        shutdown(fd, SHUT_WR);
        char tmp[16384];
        while (recv(fd, tmp, sizeof(tmp), 0) > 0)
            ;
        close(fd);
    }
}

static void setup(void)
{
    if (listen_fd >= 0)
        return;
    fuzz_quiet();
    signal(SIGPIPE, SIG_IGN);
    str_fmt(qfile, sizeof(qfile), "%s/queuefile", fuzz_dir());
    fuzz_write_file(qfile, content, sizeof(content) - 1);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    socklen_t len = sizeof(sin);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(listen_fd, 16) < 0 || getsockname(listen_fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("fuzz smtp server");
        abort();
    }
    port = ntohs(sin.sin_port);
    pthread_t th;
    if (pthread_create(&th, NULL, server, NULL) != 0)
        abort();
    pthread_detach(th);
}

static void settings(struct smtp_settings *s, unsigned flags)
{
    memset(s, 0, sizeof(*s));
    str_copy(s->helo_name, "client.example", sizeof(s->helo_name));
    str_copy(s->known_ports, "smtp=25, submission=587", sizeof(s->known_ports));
    s->default_port = 25;
    s->connect_timeout = 5;
    s->helo_timeout = s->mail_timeout = s->rcpt_timeout = s->data_init_timeout = 5;
    s->data_xfer_timeout = s->data_done_timeout = s->quit_timeout = s->starttls_timeout = 5;
    s->mx_address_limit = 5;
    s->mx_session_limit = 2;
    s->want4 = 1;
    s->skip_5xx_greeting = (flags >> 4) & 1;
    s->never_ehlo = (flags >> 5) & 1;
    s->line_limit = (flags >> 6) & 1 ? 20 : 998;
    s->tls_level = TLS_LEV_NONE;
    static char *none[] = {NULL};
    s->fallback_relay = none;
    s->discard_ehlo = none;
}

static int class_digit(const char *cls)
{
    if (strcmp(cls, "sent") == 0 || strcmp(cls, "passed") == 0)
        return '2';
    if (strcmp(cls, "deferred") == 0)
        return '4';
    if (strcmp(cls, "bounced") == 0)
        return '5';
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    setup();
    unsigned flags = data[0];
    pthread_mutex_lock(&lock);
    reply = data + 1;
    reply_len = size - 1;
    pthread_mutex_unlock(&lock);

    struct smtp_settings s;
    settings(&s, flags);
    struct dreq r;
    dproto_init_request(&r);
    str_copy(r.qid, "FUZZQID", sizeof(r.qid));
    str_copy(r.path, qfile, sizeof(r.path));
    r.offset = 0;
    r.length = sizeof(content) - 1;
    r.sender = xstrdup(flags & 8 ? "" : "sender@example.org");
    char nh[64];
    str_fmt(nh, sizeof(nh), "[127.0.0.1]:%u", port);
    dproto_add_attr(&r, "nexthop", nh);
    if (flags & 4) {
        dproto_add_attr(&r, "smtputf8", "1");
        dproto_add_attr(&r, "body", "8BITMIME");
    }
    if (flags & 0x80) {
        dproto_add_attr(&r, "ret", "HDRS");
        dproto_add_attr(&r, "envid", "id+2B1");
    }
    static const char *const rcpts[][2] = {
        {"a@x.test", "notify=6,orcpt=rfc822;A+2Bold@x.test"},
        {"b c@x.test", "-"},
        {"\xc3\xa9@x.test", "notify=1"},
        {"d@x.test", "notify=14"},
    };
    size_t n = 1 + (flags & 3);
    for (size_t i = 0; i < n; i++)
        dproto_add_rcpt(&r, (int)(10 + i), rcpts[i][0], rcpts[i][0], rcpts[i][1]);
    struct dstatus st[4];
    memset(st, 0, sizeof(st));
    smtp_deliver_request(&s, &r, st);
    pthread_mutex_lock(&lock);
    reply = NULL;
    reply_len = 0;
    pthread_mutex_unlock(&lock);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(st[i].idx == (int)(10 + i));
        int d = class_digit(st[i].cls);
        if (!d || st[i].dsn[0] != d) {
            fprintf(stderr, "recipient %zu: class \"%s\", dsn \"%s\"\n", i, st[i].cls, st[i].dsn);
            FUZZ_ASSERT(!"a known class with a matching enhanced code");
        }
        char line[DPROTO_LINE_MAX + 16];
        if (dproto_format_status(&st[i], line, sizeof(line)) < 0) {
            fprintf(stderr, "status not sendable: %s %s %s [%s]\n", st[i].cls, st[i].dsn,
                    st[i].text, st[i].relay);
            FUZZ_ASSERT(!"statuses can be sent back to qmgr");
        }
        struct dstatus back;
        memset(&back, 0, sizeof(back));
        FUZZ_ASSERT(dproto_parse_status(line, &back) == 1);
        FUZZ_ASSERT(back.idx == st[i].idx && strcmp(back.cls, st[i].cls) == 0 &&
                    strcmp(back.dsn, st[i].dsn) == 0 && strcmp(back.relay, st[i].relay) == 0);
        if (getenv("FUZZ_TRACE"))
            fprintf(stderr, "%s", line);
    }
    dproto_free_request(&r);
    return 0;
}
