/*
 * roles.c - every role this program can play, by master.cf command: the
 * one place that names them all (see lib-master/worker.h).
 */
#include "cmd/commands.h"
#include "auth/auth_role.h"
#include "deliver/deliver_role.h"
#include "imapd/imapd_role.h"
#include "lib-master/worker.h"
#include "lmtpd/lmtpd_role.h"
#include "postscreen/postscreen_role.h"
#include "pop3d/pop3d_role.h"
#include "managesieved/managesieved_role.h"
#include "proxymap/proxymap_role.h"
#include "qmgr/qmgr_role.h"
#include "smtpd/smtpd_role.h"

#include <stddef.h>

static const struct worker_role roles[] = {
    {"smtpd", smtpd_main, smtpd_check_service, NULL},
    {"pickup", pickup_main, NULL, NULL},
    {"qmgr", qmgr_main, NULL, NULL},
    {"virtual", deliver_main, NULL, NULL},
    {"local", deliver_main, NULL, NULL},
    {"pipe", deliver_main, deliver_check_service, NULL},
    {"smtp", smtp_main, NULL, NULL},
    {"lmtp", smtp_main, NULL, NULL},
    {"spawn", deliver_spawn_main, deliver_check_service, NULL},
    {"auth", auth_main, NULL, NULL},
    {"proxymap", proxymap_main, NULL, NULL},
    {"imapd", imapd_main, imapd_check_service, imapd_prepare},
    {"lmtpd", lmtpd_main, NULL, NULL},
    {"postscreen", postscreen_main, postscreen_check_service, postscreen_prepare},
    {"pop3d", pop3d_main, pop3d_check_service, pop3d_prepare},
    {"managesieved", managesieved_main, NULL, managesieved_prepare},
    {NULL, NULL, NULL, NULL},
};

const struct worker_role *const yubin_roles = roles;
