/*
 * etrn.c - what ETRN (RFC 1985) does once smtpd_etrn_restrictions let it
 * through. As Postfix, only fast_flush_domains (default $relay_domains)
 * are served: another domain gets "459 <domain>: service unavailable".
 * For a served domain qmgr is asked to retry the deferred mail for it now
 * ("C flush DOMAIN" on its socket, see queue.h). The request is sent
 * without waiting for qmgr's answer, so a busy qmgr never stalls the other
 * sessions of this worker; a qmgr that cannot be reached gets "458 Unable
 * to queue messages".
 */
#include "smtpd/smtpd.h"
#include "lib-conf/config.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib-queue/queue.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* fast_flush_domains, opened at the first ETRN; a worker's configuration never changes. */
static struct match_list *flush_domains;

/* 1 the domain is served, 0 not, -1 the list cannot be read. */
static int etrn_domain_served(struct smtpd_server *srv, const char *domain)
{
    if (!flush_domains) {
        char err[512];
        flush_domains = domain_list_new(cfg_get(srv->cfg, P_fast_flush_domains), srv->cfg,
                                        match_parent_style(srv->cfg, "fast_flush_domains"), err,
                                        sizeof(err));
        if (!flush_domains) {
            msg_warn("fast_flush_domains: %s", err);
            return -1;
        }
    }
    return domain_list_match(flush_domains, domain);
}

/* Send "C flush DOMAIN" to qmgr. 0, or -1 with errno. */
static int etrn_tell_qmgr(struct smtpd_server *srv, const char *domain)
{
    char line[QUEUE_CTL_LINE_MAX];
    if (str_fmt(line, sizeof(line), "C flush %s\n", domain) < 0) {
        errno = EMSGSIZE;
        return -1;
    }
    char *path = cfg_unix_socket_path(srv->cfg, "qmgr");
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int toolong = str_copy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path);
    free(path);
    if (toolong) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int rc = -1;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 &&
        send(fd, line, strlen(line), MSG_NOSIGNAL) == (ssize_t)strlen(line))
        rc = 0;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

void smtpd_etrn_request(struct session *s, const char *domain)
{
    int served = etrn_domain_served(s->srv, domain);
    if (served < 0) {
        smtpd_session_error(s, "458 Unable to queue messages");
        return;
    }
    if (served == 0) {
        msg_warn("reject: ETRN %.100s... from %s", domain, s->namaddr);
        smtpd_session_error(s, "459 <%s>: service unavailable", domain);
        return;
    }
    if (etrn_tell_qmgr(s->srv, domain) < 0) {
        msg_warn("unable to talk to the queue manager: %s", strerror(errno));
        smtpd_session_error(s, "458 Unable to queue messages");
        return;
    }
    s->counts[CMD_ETRN][0]++;
    smtpd_session_reply(s, "250 Queuing started");
}
