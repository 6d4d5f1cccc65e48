/*
 * fuzz_smtpd.c - the SMTP server's command line and everything a client
 * can say to it, through smtpd's own session code (src/smtpd/session.c,
 * command.c, content.c): the command line reader (next_line: CRLF, bare
 * LF, over-long lines), the verb table, HELO/EHLO, MAIL FROM and RCPT TO
 * (addr_parse_path + esmtp_parse_params), DATA, BDAT (chunk sizes, LAST),
 * RSET, NOOP, VRFY, ETRN, HELP, QUIT, STARTTLS when unavailable, AUTH
 * (src/smtpd/auth.c, through sasl_client.c to yubin's auth service in the
 * same process, src/auth/: PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256, 334
 * round trips, "*"), XUID (pickup), the error and junk limits, and the
 * restrictions of a fixed main.cf (smtpd_restrictions_new, smtpd_restrict_eval
 * without DNS). Accepted messages really go into a queue journal in a
 * temporary queue directory (on tmpfs), which is emptied after every
 * input.
 *
 * Input: byte 0 holds flags (pickup or smtpd, restrictions on or off,
 * strict_rfc821_envelopes, smtputf8_enable, smtpd_forbid_bare_newline,
 * smtpd_helo_required, a small message_size_limit), byte 1 turns SMTP
 * AUTH on (bit 7) and seeds how the rest, the client's byte stream, is cut
 * into reads.
 *
 * Invariants beyond "no crash":
 *  - everything smtpd sends is a sequence of CRLF-terminated reply lines
 *    "DDD text" / "DDD-text" with D a digit and the first one 2..5, no
 *    bare CR or LF inside a line, each at most 1024 bytes;
 *  - the session ends cleanly (smtpd_session_destroy) whatever was sent;
 *  - what smtpd accepted can be queued: never "451 4.3.0 Error: queue file
 *    write error" (the queue writer refusing an envelope field).
 * FUZZ_TRACE=1 in the environment prints smtpd's replies (for seeds).
 * max_len: 8192
 */
#include "fuzz.h"
#include "auth/auth.h"
#include "lib-conf/config.h"
#include "lib/conn.h"
#include "lib/evloop.h"
#include "lib-queue/queue.h"
#include "lib-route/resolve.h"
#include "lib-auth/sasl_client.h"
#include "smtpd/smtpd.h"

#include <sys/un.h>

#include <dirent.h>
#include <errno.h>
#include <sys/socket.h>

static const char main_cf[] =
    "myhostname = mx.example.test\n"
    "mydomain = example.test\n"
    "mydestination = $myhostname, localhost, example.test\n"
    "mynetworks = 127.0.0.0/8\n"
    "alias_maps =\n"
    "local_recipient_maps = inline:{ user=1, root=1, postmaster=1, redir=1, defer=1 }\n"
    "virtual_mailbox_domains = virt.example\n"
    "virtual_mailbox_maps = inline:{ user@virt.example=x }\n"
    "virtual_alias_maps = inline:{ {alias@virt.example=user@virt.example} }\n"
    "smtpd_helo_restrictions = reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname,\n"
    "    check_helo_access inline:{ {bad.example=REJECT no}, {hold.example=HOLD} }\n"
    "smtpd_sender_restrictions = reject_non_fqdn_sender,\n"
    "    check_sender_access inline:{ {spam@example.org=DISCARD}, {pre@example.org=PREPEND X-Pre: yes},\n"
    "        {filt@example.org=FILTER smtp:[127.0.0.1]:10025}, {warn@example.org=WARN careful} }\n"
    "smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unlisted_recipient,\n"
    "    check_recipient_access inline:{ {redir@example.test=REDIRECT other@example.test},\n"
    "        {defer@example.test=DEFER_IF_PERMIT later} },\n"
    "    permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination\n"
    "smtpd_data_restrictions = reject_unauth_pipelining\n"
    "smtpd_end_of_data_restrictions = check_sender_access inline:{ {eod@example.org=REJECT eod} }\n"
    "smtpd_etrn_restrictions = permit_mynetworks, reject\n"
    "smtpd_delay_reject = yes\n"
    "smtpd_error_sleep_time = 0\n"
    "smtpd_hard_error_limit = 30\n"
    "smtpd_recipient_limit = 50\n";

static struct config *cfg;
static struct resolver *resolver;
static struct restrictions *restr;
static struct evloop *loop;
static struct queue_writer *qw;
static char qdir[256];
static struct auth_server *auth;
static struct sasl_client *sasl;

static void stop_loop(void *arg)
{
    *(int *)arg = 1;
    ev_loop_stop(loop);
}

/* One turn of the event loop, at most ms milliseconds (a fired timer is freed by the loop). */
static void run_once(unsigned ms)
{
    int fired = 0;
    struct ev_timer *t = ev_timer_add(loop, ms, stop_loop, &fired);
    ev_loop_run(loop);
    if (!fired)
        ev_timer_cancel(loop, t);
}

/* yubin's auth service in this process, and smtpd's connection to it. */
static void auth_start(const char *dir)
{
    char users[300], passdb[320], sock[300];
    str_fmt(users, sizeof(users), "%s/users", dir);
    static const char passwd[] = "bob:{PLAIN}bobpw\nuser@example.test:{PLAIN}secret\n";
    fuzz_write_file(users, passwd, sizeof(passwd) - 1);
    str_fmt(passdb, sizeof(passdb), "passwd-file:%s", users);
    struct auth_settings set = {
        .passdb = passdb, .userdb = passdb, .default_scheme = "PLAIN",
        .mechanisms = "plain login cram-md5 scram-sha-256", .username_format = "%Lu",
        .username_chars = "", .default_realm = "", .hostname = "mx.example.test",
        .failure_delay_ms = 0, .penalty_limit_ms = 0, .threads = 1,
    };
    char err[256];
    auth = auth_server_new(&set, NULL, loop, err, sizeof(err));
    if (!auth) {
        fprintf(stderr, "auth_server_new: %s\n", err);
        abort();
    }
    str_fmt(sock, sizeof(sock), "%s/auth", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    str_copy(sa.sun_path, sock, sizeof(sa.sun_path));
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 16) < 0) {
        perror(sock);
        abort();
    }
    auth_server_listen(auth, lfd, 0);
    sasl = saslc_new(loop, sock);
    for (int i = 0; i < 1000 && !saslc_ready(sasl); i++)
        run_once(1);
    FUZZ_ASSERT(saslc_ready(sasl));
}

static void setup(void)
{
    if (cfg)
        return;
    fuzz_quiet();
    const char *dir = fuzz_dir();
    char path[300];
    str_fmt(qdir, sizeof(qdir), "%s/queue", dir);
    str_fmt(path, sizeof(path), "%s/main.cf", dir);
    struct buf text;
    buf_init(&text, 0);
    buf_printf(&text, "%squeue_directory = %s\n", main_cf, qdir);
    fuzz_write_file(path, text.data, text.len);
    buf_free(&text);
    struct cfg_diags diags = {0};
    cfg = config_load(dir, &diags);
    if (!cfg || cfg_diags_errors(&diags)) {
        cfg_diags_print(&diags, stderr);
        abort();
    }
    cfg_diags_free(&diags);
    if (queue_dir_init(qdir, getuid(), getgid()) < 0) {
        perror(qdir);
        abort();
    }
    char err[512] = "";
    resolver = resolver_new(cfg);
    restr = smtpd_restrictions_new(cfg, NULL, resolver, err, sizeof(err));
    if (!restr) {
        fprintf(stderr, "smtpd_restrictions_new: %s\n", err);
        abort();
    }
    loop = ev_loop_new();
    auth_start(dir);
}

/* Empty the journal after an input that queued mail, so the disk use stays flat. */
static void queue_reset(void)
{
    if (!qw)
        return;
    int used = queue_writer_segment(qw) != NULL;
    queue_writer_close(qw);
    qw = NULL;
    if (!used)
        return;
    char jdir[300];
    str_fmt(jdir, sizeof(jdir), "%s/journal", qdir);
    DIR *d = opendir(jdir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        unlinkat(dirfd(d), e->d_name, 0);
    }
    closedir(d);
}

/* What smtpd.c's commit hook does after the event loop's iteration. */
static void commit(struct smtpd_server *srv)
{
    while (srv->commit_head) {
        struct session *list = srv->commit_head;
        srv->commit_head = NULL;
        srv->commit_tail = &srv->commit_head;
        int ok = queue_writer_commit(srv->qw) == 0;
        while (list) {
            struct session *s = list;
            list = s->commit_next;
            s->commit_next = NULL;
            smtpd_session_committed(s, ok);
        }
    }
}

static void drain(int fd, struct buf *out)
{
    char tmp[65536];
    ssize_t r;
    while ((r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0)
        FUZZ_ASSERT(buf_append(out, tmp, (size_t)r) == 0);
}

static void check_replies(const struct buf *out)
{
    size_t i = 0;
    while (i < out->len) {
        const char *line = out->data + i;
        const char *end = memchr(line, '\n', out->len - i);
        FUZZ_ASSERT(end && end > line && end[-1] == '\r');
        size_t n = (size_t)(end - line) - 1;
        FUZZ_ASSERT(n >= 3 && n <= 1024);
        FUZZ_ASSERT(line[0] >= '2' && line[0] <= '5');
        FUZZ_ASSERT(line[1] >= '0' && line[1] <= '9' && line[2] >= '0' && line[2] <= '9');
        FUZZ_ASSERT(n == 3 || line[3] == ' ' || line[3] == '-');
        FUZZ_ASSERT(memchr(line, '\r', n) == NULL);
        /* What smtpd accepted at MAIL and RCPT can be queued (the queue is on tmpfs):
         * the queue writer refusing the envelope means a parser let through what the
         * queue format cannot hold. */
        if (n >= 39 && memcmp(line, "451 4.3.0 Error: queue file write error", 39) == 0) {
            fprintf(stderr, "smtpd accepted an envelope the queue refuses\n");
            FUZZ_ASSERT(!"accepted mail can be queued");
        }
        i += n + 2;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    setup();
    unsigned flags = data[0];
    uint32_t seed = data[1];
    data += 2;
    size -= 2;
    if (!qw) {
        qw = queue_writer_open(qdir, NULL);
        FUZZ_ASSERT(qw);
    }

    struct smtpd_server srv;
    memset(&srv, 0, sizeof(srv));
    srv.cfg = cfg;
    srv.loop = loop;
    srv.qw = qw;
    srv.local = flags & 1;
    srv.resolver = srv.local ? NULL : resolver;
    srv.restr = !srv.local && (flags & 2) ? restr : NULL;
    srv.commit_tail = &srv.commit_head;
    srv.service = "smtp";
    srv.queue_dir = qdir;
    srv.myhostname = "mx.example.test";
    srv.mail_name = "yubin";
    srv.banner = "mx.example.test ESMTP yubin";
    srv.message_size_limit = flags & 0x80 ? 2000 : 10240000;
    srv.recipient_limit = 50;
    srv.soft_error_limit = 10;
    srv.hard_error_limit = 30;
    srv.junk_command_limit = 100;
    srv.error_sleep_ms = 0;
    srv.timeout_ms = 300000;
    srv.hopcount_limit = 50;
    srv.header_size_limit = 102400;
    srv.helo_required = (flags >> 6) & 1;
    srv.smtputf8_enable = !((flags >> 3) & 1);
    srv.strict_rfc821 = (flags >> 2) & 1;
    srv.delay_reject = 1;
    srv.bare_nl = (enum bare_nl_policy)(((flags >> 4) & 3) % 3);
    if ((seed & 0x80) && !srv.local) {
        srv.sasl = sasl;
        srv.sasl_opts = "noanonymous";
        srv.sasl_tls_opts = "noanonymous";
        srv.sasl_auth_header = 1;
    }

    int sv[2];
    FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    int big = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    fd_set_nonblock(sv[0], 1);
    smtpd_session_start(&srv, sv[0], srv.local ? "" : "192.0.2.7", srv.local ? "" : "40000", geteuid());

    struct buf out;
    buf_init(&out, 0);
    size_t off = 0;
    while (srv.sessions && off < size) {
        struct session *s = srv.sessions;
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 16) % 600;
        if (n > size - off)
            n = size - off;
        n = conn_feed(s->conn, data + off, n);
        if (n == 0)
            break;            /* smtpd would not read more either: its input is full */
        off += n;
        smtpd_session_resume(s);
        commit(&srv);
        /* An AUTH exchange goes on in the event loop (the auth service answers there). */
        for (int i = 0; i < 500 && srv.sessions && srv.sessions->state == SS_WAIT; i++) {
            run_once(i < 3 ? 0 : 1);
            commit(&srv);
        }
        drain(sv[1], &out);
    }
    if (srv.sessions)
        smtpd_session_destroy(srv.sessions, NULL);
    commit(&srv);
    FUZZ_ASSERT(srv.nsessions == 0 && !srv.commit_head);
    drain(sv[1], &out);
    close(sv[1]);
    if (getenv("FUZZ_TRACE"))
        fprintf(stderr, "%.*s", (int)out.len, out.data ? out.data : "");
    check_replies(&out);
    buf_free(&out);
    queue_reset();
    return 0;
}
