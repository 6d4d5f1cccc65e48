/*
 * main.c - `yubin [-c CONFIG_DIR] COMMAND ...`, and the sendmail, mailq
 * and newaliases personalities when invoked under those names.
 */
#include "cmd/commands.h"
#include "master/master.h"
#include "lib-master/worker.h"
#include "lib/log.h"
#include "lib/proctitle.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct command {
    const char *name;
    int (*fn)(const char *confdir, int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"start", cmd_start, "start the mail system in the background"},
    {"start-fg", cmd_start, "run in the foreground, logging to stderr"},
    {"stop", cmd_stop, "stop the mail system"},
    {"reload", cmd_reload, "re-read the configuration without dropping sessions"},
    {"status", cmd_status, "is the mail system running?"},
    {"check", cmd_check, "validate main.cf, master.cf, tables and directories"},
    {"conf", cmd_conf, "show or edit parameters (like postconf)"},
    {"map", cmd_map, "build or query a lookup table (like postmap)"},
    {"newaliases", cmd_newaliases, "rebuild the alias database"},
    {"queue", cmd_queue, "list, show, delete, hold, release, requeue, flush"},
    {"sendmail", cmd_sendmail, "submit a message (Sendmail compatible)"},
    {"pw", cmd_pw, "make a stored password for a passdb (like doveadm pw)"},
    {"deliver", cmd_deliver, "deliver a message to a mailbox, with Sieve (like dovecot-lda)"},
    {"quota-status", cmd_quota_status, "answer smtpd's policy requests about quotas (spawn)"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: yubin [-c CONFIG_DIR] COMMAND [ARGS...]\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_LEN(commands); i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    proctitle_init(argc, argv);
    worker_roles_set(yubin_roles);
    const char *confdir = getenv("YUBIN_CONFIG_DIR");
    if (!confdir || !*confdir)
        confdir = "/etc/yubin";
    log_init("yubin", "yubin");

    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "sendmail") == 0)
        return cmd_sendmail(confdir, argc, argv);
    if (strcmp(base, "mailq") == 0) {
        char *qargv[] = {"queue", "list", NULL};
        return cmd_queue(confdir, 2, qargv);
    }
    if (strcmp(base, "newaliases") == 0)
        return cmd_newaliases(confdir, argc, argv);

    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            confdir = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "-v") == 0) {
            log_set_verbose(log_verbose() + 1);
            i++;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("yubin %s\n", YUBIN_VERSION);
            return 0;
        } else {
            fprintf(stderr, "yubin: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    /* Not in the usage: the master starts its workers this way. */
    if (strcmp(argv[i], "worker") == 0)
        return cmd_worker(confdir, argc - i, argv + i);
    /* Not in the usage either: a test client for authentication servers. */
    if (strcmp(argv[i], "auth-test") == 0)
        return cmd_auth_test(confdir, argc - i, argv + i);
    for (size_t c = 0; c < ARRAY_LEN(commands); c++)
        if (strcmp(argv[i], commands[c].name) == 0)
            return commands[c].fn(confdir, argc - i, argv + i);
    fprintf(stderr, "yubin: unknown command \"%s\"\n", argv[i]);
    usage(stderr);
    return 2;
}
