/*
 * pipe.h - the pipe delivery agent (pipe.c): its master.cf attributes and
 * its delivery of a whole request.
 */
#ifndef YUBIN_DELIVER_PIPE_H
#define YUBIN_DELIVER_PIPE_H

#include <stddef.h>
#include <sys/types.h>

struct config;
struct delivery;
struct dstatus;

struct pipe_spec {
    const char *service;             /* master.cf service name */
    unsigned flags;                  /* PF_* (pipe.c) */
    unsigned transform;              /* COPY_* (agent.h) */
    uid_t uid;                       /* user= */
    gid_t gid;
    int user_set;
    char *const *argv;               /* argv[0] is "argv=/program", then its arguments */
    long long size_limit;            /* size=, 0: none */
    const char *null_sender;         /* null_sender=, default MAILER-DAEMON */
    const char *directory;           /* directory=, default $queue_directory */
    long time_limit;                 /* <service>_time_limit, seconds */
    char error[512];                 /* the line is wrong: every delivery defers */
};

/*
 * The attributes of a pipe line (args: the words after "pipe", as
 * master.cf gives them; they must outlive p). 0, or -1 with err.
 * single_user: running without root, user= may be left out.
 */
int deliver_pipe_parse(const struct config *cfg, const char *service, char *const *args,
                       int single_user, struct pipe_spec *p, char *err, size_t errlen);

/* Deliver the request with the agent's pipe_spec: one program run for all its recipients. */
void deliver_pipe_request(struct delivery *d, struct dstatus *st);

#endif
