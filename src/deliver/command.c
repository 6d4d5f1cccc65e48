/*
 * command.c - delivery to external commands (mailbox_command, alias and
 * .forward "|command" targets; pipe(8)'s argv).
 *
 * The command runs through the shell ("/bin/sh -c", or
 * local_command_shell), or for pipe(8) directly as an argument vector, in
 * its own process group, with the privileges it
 * was given (never root: callers map root to default_privs), a clean
 * environment, the message on standard input and standard output/error
 * captured (a bounded amount) for the status text. It is killed when it
 * exceeds command_time_limit. Exit status follows <sysexits.h>: 0 is
 * delivered, EX_TEMPFAIL/EX_OSERR and signals defer, other codes bounce;
 * output that starts with an enhanced status code overrides the code,
 * except that a temporary exit status keeps the delivery temporary.
 */
#include "deliver/agent.h"
#include "lib/log.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUTPUT_KEEP 1024           /* bytes of command output kept for the status text */
#define PIPE_CHUNK (64 * 1024)

struct sysexit {
    int code;
    const char *dsn;
    const char *text;
};

/* <sysexits.h> codes and what they mean for the sender. */
static const struct sysexit sysexits[] = {
    {64, "5.3.0", "command line usage error"},
    {65, "5.6.0", "data format error"},
    {66, "5.3.0", "cannot open input"},
    {67, "5.1.1", "user unknown"},
    {68, "5.1.2", "host name unknown"},
    {69, "5.3.0", "service unavailable"},
    {70, "5.3.0", "internal software error"},
    {71, "4.3.0", "system resource problem"},
    {72, "5.3.0", "critical OS file missing"},
    {73, "5.2.0", "can't create user output file"},
    {74, "5.3.0", "input/output error"},
    {75, "4.3.0", "temporary failure"},
    {76, "5.5.0", "remote error in protocol"},
    {77, "5.7.0", "permission denied"},
    {78, "5.3.5", "local configuration error"},
};

/* Does text start with an enhanced status code "4.x.x " or "5.x.x "? Copies it to dsn. */
static int leading_dsn(const char *text, char *dsn, size_t dsnlen)
{
    const char *p = text;
    if (*p != '4' && *p != '5')
        return 0;
    p++;
    for (int part = 0; part < 2; part++) {
        if (*p++ != '.')
            return 0;
        int n = 0;
        while (isdigit((unsigned char)*p) && n < 4) {
            p++;
            n++;
        }
        if (n == 0 || n > 3)
            return 0;
    }
    if (*p != ' ' && *p != '\0')
        return 0;
    if ((size_t)(p - text) >= dsnlen)
        return 0;
    memcpy(dsn, text, (size_t)(p - text));
    dsn[p - text] = '\0';
    return 1;
}

/* In the child: become the command. Never returns. */
static _Noreturn void run_child(const struct delivery *d, const struct command_spec *c,
                                int in_fd, int out_fd)
{
    const struct agent *a = d->a;
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < NSIG; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(75);
    long maxfd = sysconf(_SC_OPEN_MAX);
    if (close_range(3, ~0U, 0) < 0)
        for (long fd = 3; fd < (maxfd > 0 && maxfd < 65536 ? maxfd : 1024); fd++)
            close((int)fd);
    if (c->fsize_limit > 0) {
        struct rlimit rl = {(rlim_t)c->fsize_limit, (rlim_t)c->fsize_limit};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    if (deliver_priv_drop_for_good(a, c->uid, c->gid) < 0) {
        dprintf(1, "cannot set privileges to uid/gid %ld/%ld: %s", (long)c->uid, (long)c->gid,
                strerror(errno));
        _exit(75);
    }
    const char *cwd = c->cwd && *c->cwd ? c->cwd : "/";
    if (chdir(cwd) < 0) {
        dprintf(1, "cannot change to directory %s: %s", cwd, strerror(errno));
        _exit(75);
    }
    if (c->argv) {
        execve(c->argv[0], c->argv, c->env);
        dprintf(1, "cannot execute %s: %s", c->argv[0], strerror(errno));
        _exit(75);                     /* a configuration problem: keep the mail */
    }
    const char *shell = a->command_shell && *a->command_shell ? a->command_shell : "/bin/sh";
    char *argv[] = {(char *)shell, "-c", (char *)c->command, NULL};
    execve(shell, argv, c->env);
    dprintf(1, "cannot execute %s: %s", shell, strerror(errno));
    _exit(71);
}

/* Command output as one line for a status text. */
static void flatten_output(char *s)
{
    char *o = s;
    int space = 1;
    for (char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 32 || ch == 127)
            ch = ' ';
        if (ch == ' ' && space)
            continue;
        space = ch == ' ';
        *o++ = (char)ch;
    }
    while (o > s && o[-1] == ' ')
        o--;
    *o = '\0';
}

struct io {
    struct msgstream *ms;
    char *buf;
    size_t blen, bpos;
    int in_fd, out_fd;
    int read_error;
    char out[OUTPUT_KEEP + 1];
    size_t olen;
};

/* Feed the command's standard input; close it at the end of the message. */
static int feed(struct io *io)
{
    if (io->bpos == io->blen) {
        ssize_t got = deliver_msgstream_read(io->ms, io->buf, PIPE_CHUNK);
        if (got < 0) {
            io->read_error = errno;
            return -1;
        }
        io->blen = (size_t)got;
        io->bpos = 0;
    }
    if (io->blen == 0) {
        close(io->in_fd);                 /* end of message: EOF for the command */
        io->in_fd = -1;
        return 0;
    }
    ssize_t w = write(io->in_fd, io->buf + io->bpos, io->blen - io->bpos);
    if (w > 0) {
        io->bpos += (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        close(io->in_fd);                 /* EPIPE: it stopped reading; its exit status decides */
        io->in_fd = -1;
    }
    return 0;
}

/* Read what the command printed (keep the first OUTPUT_KEEP bytes). 1 while open. */
static int drain(struct io *io)
{
    for (;;) {
        char tmp[4096];
        ssize_t r = read(io->out_fd, tmp, sizeof(tmp));
        if (r > 0) {
            size_t keep = (size_t)r;
            if (keep > OUTPUT_KEEP - io->olen)
                keep = OUTPUT_KEEP - io->olen;
            memcpy(io->out + io->olen, tmp, keep);
            io->olen += keep;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            return 1;
        close(io->out_fd);
        io->out_fd = -1;
        return 0;
    }
}

/*
 * Run the I/O until the command exits or the deadline passes. Returns 1
 * exited (*wstatus set), 0 timed out, -1 error.
 */
static int supervise(struct io *io, pid_t pid, uint64_t deadline, int *wstatus)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int rc = -1;
    for (;;) {
        uint64_t now = mono_msec();
        if (now >= deadline) {
            rc = 0;
            break;
        }
        uint64_t left = deadline - now;
        struct pollfd p[3];
        int n = 0, iw = -1, ir = -1;
        if (io->in_fd >= 0) {
            p[n] = (struct pollfd){.fd = io->in_fd, .events = POLLOUT};
            iw = n++;
        }
        if (io->out_fd >= 0) {
            p[n] = (struct pollfd){.fd = io->out_fd, .events = POLLIN};
            ir = n++;
        }
        if (pidfd >= 0)
            p[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        /* without a pidfd, look at the child every 10 ms */
        int timeout = (int)(pidfd >= 0 ? (left > 60000 ? 60000 : left) : (left > 10 ? 10 : left));
        if (poll(p, (nfds_t)n, timeout) < 0 && errno != EINTR)
            break;
        if (iw >= 0 && (p[iw].revents & (POLLOUT | POLLERR | POLLHUP)) && feed(io) < 0)
            break;
        if (ir >= 0 && (p[ir].revents & (POLLIN | POLLERR | POLLHUP)))
            drain(io);
        pid_t w = waitpid(pid, wstatus, WNOHANG);
        if (w == pid) {
            /* collect output already written; grandchildren holding the pipe do not delay us */
            if (io->out_fd >= 0)
                drain(io);
            rc = 1;
            break;
        }
        if (w < 0 && errno != EINTR)
            break;
    }
    if (pidfd >= 0)
        close(pidfd);
    return rc;
}

/* Turn the wait status into a delivery status. */
static void command_status(struct dstatus *st, int idx, const struct command_spec *c, int wstatus,
                           const char *output)
{
    const char *sep = *output ? ". Command output: " : "";
    if (WIFSIGNALED(wstatus)) {
        dstatus_set(st, idx, "4.3.0", "Command died with signal %d: \"%s\"%s%s",
                    WTERMSIG(wstatus), c->command, sep, output);
        return;
    }
    int code = WEXITSTATUS(wstatus);
    if (code == 0) {
        if (c->service)
            dstatus_set(st, idx, "2.0.0", "delivered via %s service", c->service);
        else
            dstatus_set(st, idx, "2.0.0", "delivered to command: %s", c->command);
        return;
    }
    char dsn[16];
    if (leading_dsn(output, dsn, sizeof(dsn))) {
        /* A status that says "try again" (EX_TEMPFAIL, EX_OSERR) never becomes a bounce. */
        for (size_t i = 0; i < ARRAY_LEN(sysexits); i++)
            if (sysexits[i].code == code && sysexits[i].dsn[0] == '4')
                dsn[0] = '4';
        dstatus_set(st, idx, dsn, "%s", output);
        return;
    }
    for (size_t i = 0; i < ARRAY_LEN(sysexits); i++)
        if (sysexits[i].code == code) {
            dstatus_set(st, idx, sysexits[i].dsn, "%s%s%s", sysexits[i].text, sep, output);
            return;
        }
    dstatus_set(st, idx, "5.3.0", "Command died with status %d: \"%s\"%s%s", code, c->command,
                sep, output);
}

void deliver_command(struct delivery *d, int idx, const struct command_spec *c,
                     const struct copy_opts *o, struct dstatus *st)
{
    const struct agent *a = d->a;
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0) {
        dstatus_set(st, idx, "4.3.0", "cannot create pipe: %s", strerror(errno));
        return;
    }
    if (pipe2(out, O_CLOEXEC) < 0) {
        dstatus_set(st, idx, "4.3.0", "cannot create pipe: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        dstatus_set(st, idx, "4.3.0", "cannot fork: %s", strerror(errno));
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        return;
    }
    if (pid == 0)
        run_child(d, c, in[0], out[1]);
    close(in[0]);
    close(out[1]);
    fd_set_nonblock(in[1], 1);
    fd_set_nonblock(out[0], 1);

    struct io io = {.ms = deliver_msgstream_open(d, o), .buf = xmalloc(PIPE_CHUNK),
                    .in_fd = in[1], .out_fd = out[0]};
    long limit = c->time_limit > 0 ? c->time_limit : a->cmd_time_limit;
    uint64_t deadline = mono_msec() + (uint64_t)limit * 1000u;
    int wstatus = 0;
    int rc = supervise(&io, pid, deadline, &wstatus);
    int err = errno;
    if (rc != 1) {
        /* timed out or failed: the whole process group goes */
        kill(-pid, SIGKILL);
        while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
    }
    if (io.in_fd >= 0)
        close(io.in_fd);
    if (io.out_fd >= 0)
        close(io.out_fd);
    io.out[io.olen] = '\0';
    flatten_output(io.out);
    const char *sep = io.olen ? ". Command output: " : "";
    if (rc == 0)
        dstatus_set(st, idx, "4.3.0", "Command time limit exceeded: \"%s\"%s%s", c->command, sep,
                    io.out);
    else if (io.read_error) {
        msg_warn("%s: error reading queue file %s: %s", d->req->qid, d->req->path,
                 strerror(io.read_error));
        dstatus_set(st, idx, "4.3.0", "error reading queue file: %s", strerror(io.read_error));
    } else if (rc < 0)
        dstatus_set(st, idx, "4.3.0", "error running command \"%s\": %s", c->command,
                    strerror(err));
    else
        command_status(st, idx, c, wstatus, io.out);
    free(io.buf);
    deliver_msgstream_close(io.ms);
}
