/*
 * xforward.c - XFORWARD (Postfix's XFORWARD_README): a content filter
 * that reinjects mail tells smtpd who the original client was, so the
 * Received: header, the "client=" log line and the queue's client
 * attributes (what pipe's ${client_address} and the next hop see) name
 * it instead of the filter. Only for clients in
 * smtpd_authorized_xforward_hosts; given before MAIL, it lasts one
 * transaction. Attributes: NAME ADDR PORT PROTO HELO (xtext-encoded;
 * [UNAVAILABLE] and [TEMPUNAVAIL] mean unknown); IDENT and SOURCE are
 * accepted and not used.
 */
#include "smtpd/smtpd.h"

#include "lib-conf/config.h"
#include "lib-mail/addr.h"
#include "lib-table/matchlist.h"
#include "lib/log.h"
#include "lib/util.h"

#include <string.h>
#include <strings.h>

#define XFORWARD_ATTRS_MAX 16              /* attributes on one command */

void smtpd_xforward_open(struct smtpd_server *srv)
{
    const char *v = cfg_get(srv->cfg, P_smtpd_authorized_xforward_hosts);
    char err[512];
    srv->xforward_hosts = v && *v ? addr_list_new(v, srv->cfg, 0, err, sizeof(err)) : NULL;
    if (v && *v && !srv->xforward_hosts)
        msg_warn("smtpd_authorized_xforward_hosts: %s", err);
}

void smtpd_xforward_close(struct smtpd_server *srv)
{
    match_list_free(srv->xforward_hosts);
    srv->xforward_hosts = NULL;
}

int smtpd_xforward_allowed(const struct session *s)
{
    return s->srv->xforward_hosts && !s->srv->local &&
           addr_list_match(s->srv->xforward_hosts, s->addr) == 1;
}

const char *smtpd_xf_name(const struct session *s)
{
    return s->xf.name[0] ? s->xf.name : s->name;
}

const char *smtpd_xf_addr(const struct session *s)
{
    return s->xf.addr[0] ? s->xf.addr : s->addr;
}

const char *smtpd_xf_port(const struct session *s)
{
    return s->xf.port[0] ? s->xf.port : s->port;
}

const char *smtpd_xf_helo(const struct session *s)
{
    return s->xf.helo[0] ? s->xf.helo : s->helo;
}

/* One NAME=value: 0, or -1 for a bad attribute (the reply is sent). */
static int take(struct session *s, const char *attr)
{
    const char *eq = strchr(attr, '=');
    char val[512];
    if (!eq || xtext_decode(eq + 1, strlen(eq + 1), val, sizeof(val)) < 0) {
        smtpd_session_error(s, "501 5.5.4 Bad XFORWARD attribute syntax: %.100s", attr);
        return -1;
    }
    size_t nl = (size_t)(eq - attr);
    int unknown = strcmp(val, "[UNAVAILABLE]") == 0 || strcmp(val, "[TEMPUNAVAIL]") == 0;
    struct { const char *name; char *dst; size_t len; } fields[] = {
        {"NAME", s->xf.name, sizeof(s->xf.name)}, {"ADDR", s->xf.addr, sizeof(s->xf.addr)},
        {"PORT", s->xf.port, sizeof(s->xf.port)}, {"HELO", s->xf.helo, sizeof(s->xf.helo)},
        {"PROTO", s->xf.proto, sizeof(s->xf.proto)},
    };
    for (size_t i = 0; i < ARRAY_LEN(fields); i++) {
        if (strlen(fields[i].name) != nl || strncasecmp(attr, fields[i].name, nl) != 0)
            continue;
        if (!unknown && (strlen(val) >= fields[i].len || !utf8_valid(val, strlen(val)) ||
                         strpbrk(val, "\r\n\t "))) {
            smtpd_session_error(s, "501 5.5.4 Bad XFORWARD attribute value: %.100s", attr);
            return -1;
        }
        str_copy(fields[i].dst, unknown ? (i == 0 ? "unknown" : "") : val, fields[i].len);
        return 0;
    }
    if ((nl == 5 && strncasecmp(attr, "IDENT", 5) == 0) ||
        (nl == 6 && strncasecmp(attr, "SOURCE", 6) == 0))
        return 0;
    smtpd_session_error(s, "501 5.5.4 Bad XFORWARD attribute name: %.*s", (int)nl, attr);
    return -1;
}

void smtpd_cmd_xforward(struct session *s, char *arg)
{
    if (s->in_mail) {
        smtpd_session_error(s, "503 5.5.1 Error: MAIL transaction in progress");
        return;
    }
    char *attrs[XFORWARD_ATTRS_MAX + 1], *save = NULL;
    size_t n = 0;
    for (char *t = strtok_r(arg, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == XFORWARD_ATTRS_MAX) {
            n = 0;                          /* too many: a syntax error */
            break;
        }
        attrs[n++] = t;
    }
    if (n == 0) {
        smtpd_session_error(s, "501 5.5.4 Syntax: XFORWARD attribute=value...");
        return;
    }
    struct xforward saved = s->xf;
    for (size_t i = 0; i < n; i++) {
        if (take(s, attrs[i]) < 0) {
            s->xf = saved;
            return;
        }
    }
    s->xf.set = 1;
    s->counts[CMD_XFORWARD][0]++;
    smtpd_session_reply(s, "250 2.0.0 Ok");
}
