/*
 * submit.h - local submission: SMTP over pickup's UNIX socket.
 *
 * Owns: the client side of the conversation with the pickup service
 * ($queue_directory/public/pickup), used by `yubin sendmail` and by
 * pickup's own replay of maildrop files: EHLO, XUID (replays only), MAIL
 * with SMTPUTF8/RET/ENVID/BODY, RCPT with NOTIFY, DATA with dot-stuffing
 * and CRLF. pickup learns the user from SO_PEERCRED. Results are
 * sysexits(3) codes; what went wrong is written to stderr the way
 * sendmail reports it ("sendmail: fatal: ...").
 */
#ifndef YUBIN_SUBMIT_H
#define YUBIN_SUBMIT_H

#include <stddef.h>

#include "lib/buf.h"

struct conn;

#define SUBMIT_RCPT_MAX 10000

/* What is submitted besides the sender and the message. */
struct submission {
    char **rcpts;
    size_t nrcpts, caprcpts;
    const char *notify, *ret, *envid, *body;   /* -N -R -V -B, or NULL */
};

/* A connection to pickup: fd (for sendmail -bs, which relays raw bytes)
 * and the connection object the dialogue reads and writes through. */
struct submit_conn {
    int fd;
    struct conn *conn;
};

void submission_add_rcpt(struct submission *o, const char *addr);
/* Is there a byte below 0x20 (CR, LF, TAB ...) or DEL? */
int submission_has_control(const char *s);
/*
 * The values that go into the command lines of the dialogue with pickup:
 * the name of the first one with a control character (a CR or LF would
 * end the line and start a command of its own), or NULL when all are clean.
 */
const char *submission_unsafe_value(const char *sender, const struct submission *o);

/* Connect to pickup's socket. 0, or -1 with errno (c->fd is -1 then). */
int submit_open(struct submit_conn *c, const char *path);
void submit_close(struct submit_conn *c);
/* Give up on a reply or a write after secs seconds of silence (0: never). */
void submit_set_timeout(struct submit_conn *c, unsigned secs);
/* One reply; the last line's text goes to last. Returns the code, -1 on a broken connection. */
int submit_reply(struct submit_conn *c, char *last, size_t lastlen);
/*
 * The whole transaction after connecting (banner first). xuid >= 0:
 * pickup's maildrop replay names the user who dropped the message.
 * Returns 0 (queued) or a sysexits(3) code: EX_TEMPFAIL, EX_DATAERR,
 * EX_NOUSER, EX_NOPERM.
 */
int submit_message(struct submit_conn *c, const char *sender, const struct submission *o,
                   const struct buf *msg, long xuid);

#endif
