/*
 * restrict.c - smtpd access restrictions with Postfix semantics (see
 * restrict.h for how a session drives it).
 *
 * Owns: parsing smtpd_*_restrictions and smtpd_restriction_classes into
 * lists of compiled restrictions at worker start (unknown names, missing
 * arguments and unopenable tables are errors naming the parameter), the
 * "no relay restriction" safety check, and evaluation: first permit or
 * reject wins within a list, a class or an access(5) result that names
 * restrictions is a nested list, defer_if_permit / defer_if_reject /
 * warn_if_reject state, access(5) actions, DNS-based checks (unknown
 * domains, HELO names, DNSBL/RHSBL) that suspend the evaluation and resume
 * it where it stopped, and the implicit smtpd_reject_unlisted_* checks.
 * Table lookups suspend the same way: each restriction (and the implicit
 * unlisted checks) runs as a step of the evaluation's struct table_wait
 * (lib-table/table.h); when a remote table's answer must come from the
 * proxymap service, the step's outcome is dropped without side effects
 * (reply() does nothing while a lookup is pending) and the same
 * restriction runs again when the answer is there.
 *
 * Reply texts and codes are Postfix 3.7's, checked against a live Postfix
 * where possible (tests/unit/test_restrict.c quotes them).
 */
#include "smtpd/smtpd_role.h"
#include "smtpd/restrict.h"
#include "smtpd/policy.h"
#include "smtpd/quota_rcpt.h"
#include "lib-mail/addr.h"
#include "lib/buf.h"
#include "lib-conf/config.h"
#include "lib-dns/dns.h"
#include "lib/log.h"
#include "lib-table/matchlist.h"
#include "lib-route/resolve.h"
#include "lib-table/table.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define RESTRICT_DEPTH      32      /* nested classes / access results */
#define RESTRICT_CACHE      256     /* access results parsed as restriction lists */
#define RESTRICT_VALUE_MAX  (64 * 1024)
#define RESTRICT_PREPEND_MAX 8

/* ------------------------------------------------------------------ */
/* The restrictions we know                                             */

enum rop {
    OP_PERMIT, OP_REJECT, OP_DEFER, OP_DEFER_IF_PERMIT, OP_DEFER_IF_REJECT, OP_WARN_IF_REJECT,
    OP_SLEEP, OP_UNAUTH_PIPELINING, OP_MULTI_RCPT_BOUNCE, OP_PLAINTEXT, OP_POLICY,
    OP_MYNETWORKS, OP_INET_INTERFACES, OP_SASL_AUTH,
    OP_CLIENT_ACCESS, OP_REV_CLIENT_ACCESS, OP_HELO_ACCESS, OP_SENDER_ACCESS,
    OP_RCPT_ACCESS, OP_ETRN_ACCESS, OP_SASL_ACCESS,
    OP_UNKNOWN_CLIENT, OP_UNKNOWN_REV_CLIENT,
    OP_RBL_CLIENT, OP_RHSBL_CLIENT, OP_RHSBL_REV_CLIENT, OP_RHSBL_HELO, OP_RHSBL_SENDER,
    OP_RHSBL_RCPT, OP_DNSWL_CLIENT, OP_RHSWL_CLIENT,
    OP_INVALID_HELO, OP_NON_FQDN_HELO, OP_UNKNOWN_HELO,
    OP_NON_FQDN_SENDER, OP_UNKNOWN_SENDER_DOMAIN, OP_UNLISTED_SENDER,
    OP_LOGIN_MISMATCH, OP_AUTH_LOGIN_MISMATCH, OP_UNAUTH_LOGIN_MISMATCH, OP_KNOWN_LOGIN_MISMATCH,
    OP_NON_FQDN_RCPT, OP_UNKNOWN_RCPT_DOMAIN, OP_UNLISTED_RCPT,
    OP_REJECT_UNAUTH_DEST, OP_DEFER_UNAUTH_DEST, OP_PERMIT_AUTH_DEST, OP_PERMIT_MX_BACKUP,
    OP_TLS_CLIENTCERTS, OP_TLS_ALL_CLIENTCERTS, OP_CCERT_ACCESS,
    OP_UNIMPLEMENTED,               /* valid in Postfix, not here: warned at start, ignored */
    OP_CLASS
};

enum rarg { ARG_NONE, ARG_TABLE, ARG_DOMAIN, ARG_NUM, ARG_WORD };

struct rdef {
    const char *name;
    enum rop op;
    enum rarg arg;
};

static const struct rdef rdefs[] = {
    {"permit", OP_PERMIT, ARG_NONE},
    {"reject", OP_REJECT, ARG_NONE},
    {"defer", OP_DEFER, ARG_NONE},
    {"defer_if_permit", OP_DEFER_IF_PERMIT, ARG_NONE},
    {"defer_if_reject", OP_DEFER_IF_REJECT, ARG_NONE},
    {"warn_if_reject", OP_WARN_IF_REJECT, ARG_NONE},
    {"sleep", OP_SLEEP, ARG_NUM},
    {"reject_unauth_pipelining", OP_UNAUTH_PIPELINING, ARG_NONE},
    {"reject_multi_recipient_bounce", OP_MULTI_RCPT_BOUNCE, ARG_NONE},
    {"reject_plaintext_session", OP_PLAINTEXT, ARG_NONE},
    {"check_policy_service", OP_POLICY, ARG_WORD},
    {"permit_mynetworks", OP_MYNETWORKS, ARG_NONE},
    {"permit_inet_interfaces", OP_INET_INTERFACES, ARG_NONE},
    {"permit_sasl_authenticated", OP_SASL_AUTH, ARG_NONE},
    {"permit_tls_clientcerts", OP_TLS_CLIENTCERTS, ARG_NONE},
    {"permit_tls_all_clientcerts", OP_TLS_ALL_CLIENTCERTS, ARG_NONE},
    {"check_ccert_access", OP_CCERT_ACCESS, ARG_TABLE},
    {"check_client_access", OP_CLIENT_ACCESS, ARG_TABLE},
    {"check_reverse_client_hostname_access", OP_REV_CLIENT_ACCESS, ARG_TABLE},
    {"check_helo_access", OP_HELO_ACCESS, ARG_TABLE},
    {"check_sender_access", OP_SENDER_ACCESS, ARG_TABLE},
    {"check_recipient_access", OP_RCPT_ACCESS, ARG_TABLE},
    {"check_etrn_access", OP_ETRN_ACCESS, ARG_TABLE},
    {"check_sasl_access", OP_SASL_ACCESS, ARG_TABLE},
    {"reject_unknown_client_hostname", OP_UNKNOWN_CLIENT, ARG_NONE},
    {"reject_unknown_client", OP_UNKNOWN_CLIENT, ARG_NONE},
    {"reject_unknown_reverse_client_hostname", OP_UNKNOWN_REV_CLIENT, ARG_NONE},
    {"reject_rbl_client", OP_RBL_CLIENT, ARG_DOMAIN},
    {"reject_rhsbl_client", OP_RHSBL_CLIENT, ARG_DOMAIN},
    {"reject_rhsbl_reverse_client", OP_RHSBL_REV_CLIENT, ARG_DOMAIN},
    {"reject_rhsbl_helo", OP_RHSBL_HELO, ARG_DOMAIN},
    {"reject_rhsbl_sender", OP_RHSBL_SENDER, ARG_DOMAIN},
    {"reject_rhsbl_recipient", OP_RHSBL_RCPT, ARG_DOMAIN},
    {"permit_dnswl_client", OP_DNSWL_CLIENT, ARG_DOMAIN},
    {"permit_rhswl_client", OP_RHSWL_CLIENT, ARG_DOMAIN},
    {"reject_invalid_helo_hostname", OP_INVALID_HELO, ARG_NONE},
    {"reject_invalid_hostname", OP_INVALID_HELO, ARG_NONE},
    {"reject_non_fqdn_helo_hostname", OP_NON_FQDN_HELO, ARG_NONE},
    {"reject_non_fqdn_hostname", OP_NON_FQDN_HELO, ARG_NONE},
    {"reject_unknown_helo_hostname", OP_UNKNOWN_HELO, ARG_NONE},
    {"reject_unknown_hostname", OP_UNKNOWN_HELO, ARG_NONE},
    {"reject_non_fqdn_sender", OP_NON_FQDN_SENDER, ARG_NONE},
    {"reject_unknown_sender_domain", OP_UNKNOWN_SENDER_DOMAIN, ARG_NONE},
    {"reject_unlisted_sender", OP_UNLISTED_SENDER, ARG_NONE},
    {"reject_sender_login_mismatch", OP_LOGIN_MISMATCH, ARG_NONE},
    {"reject_authenticated_sender_login_mismatch", OP_AUTH_LOGIN_MISMATCH, ARG_NONE},
    {"reject_unauthenticated_sender_login_mismatch", OP_UNAUTH_LOGIN_MISMATCH, ARG_NONE},
    {"reject_known_sender_login_mismatch", OP_KNOWN_LOGIN_MISMATCH, ARG_NONE},
    {"reject_non_fqdn_recipient", OP_NON_FQDN_RCPT, ARG_NONE},
    {"reject_unknown_recipient_domain", OP_UNKNOWN_RCPT_DOMAIN, ARG_NONE},
    {"reject_unlisted_recipient", OP_UNLISTED_RCPT, ARG_NONE},
    {"check_recipient_maps", OP_UNLISTED_RCPT, ARG_NONE},
    {"reject_unauth_destination", OP_REJECT_UNAUTH_DEST, ARG_NONE},
    {"defer_unauth_destination", OP_DEFER_UNAUTH_DEST, ARG_NONE},
    {"permit_auth_destination", OP_PERMIT_AUTH_DEST, ARG_NONE},
    {"permit_mx_backup", OP_PERMIT_MX_BACKUP, ARG_NONE},
    /* Postfix features yubin does not have: accepted, warned about, ignored. */
    {"reject_unverified_sender", OP_UNIMPLEMENTED, ARG_NONE},
    {"reject_unverified_recipient", OP_UNIMPLEMENTED, ARG_NONE},
    {"check_client_a_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_client_mx_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_client_ns_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_reverse_client_hostname_a_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_reverse_client_hostname_mx_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_reverse_client_hostname_ns_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_helo_a_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_helo_mx_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_helo_ns_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_sender_a_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_sender_mx_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_sender_ns_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_recipient_a_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_recipient_mx_access", OP_UNIMPLEMENTED, ARG_WORD},
    {"check_recipient_ns_access", OP_UNIMPLEMENTED, ARG_WORD},
};

static const struct rdef *rdef_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(rdefs); i++)
        if (str_ieq(rdefs[i].name, name))
            return &rdefs[i];
    return NULL;
}

/* The restrictions that protect against relaying (Postfix's startup check). */
static int op_is_relay_guard(enum rop op)
{
    return op == OP_REJECT || op == OP_DEFER || op == OP_DEFER_IF_PERMIT ||
           op == OP_REJECT_UNAUTH_DEST || op == OP_DEFER_UNAUTH_DEST;
}

/* ------------------------------------------------------------------ */
/* Compiled lists                                                      */

struct rlist;

struct rnode {
    enum rop op;
    char *name;                 /* as written */
    char *arg;                  /* table spec, DNSBL domain[=filter], policy service ... */
    struct maps *maps;
    struct rlist *cls;          /* OP_CLASS */
    char *rbl_domain;           /* DNSBL zone without the filter */
    char *rbl_filter;           /* "127.0.0.[2..11]" or NULL */
};

struct rlist {
    char *param;                /* parameter (or class) it came from, for messages */
    struct rnode *v;
    size_t n;
};

struct rclass {
    char *name;
    struct rlist *list;
};

struct rcache {
    char *text;
    struct rlist *list;
};

struct eval;

struct restrictions {
    const struct config *cfg;
    struct dns *dns;
    struct resolver *resolver;
    struct rlist *lists[RS_ETRN + 1];
    struct rclass *classes;
    size_t nclasses;
    struct rcache cache[RESTRICT_CACHE];
    size_t ncache;
    struct match_list *mynetworks;
    struct match_list *interfaces;
    struct maps *rbl_reply_maps;
    struct maps *sender_login_maps;
    struct maps *relay_clientcerts;
    struct eval *evals;         /* pending asynchronous evaluations */
    /* parameters, read once */
    int delay_reject, reject_unlisted_rcpt, reject_unlisted_sender, relay_first;
    int no_unknown_rcpt;        /* receive_override_options = no_unknown_recipient_checks */
    int soft_bounce, parent_access, percent_hack, bang_path, sasl_enable;
    int reject_code, defer_code, access_reject_code, access_defer_code, relay_code;
    int unknown_addr_code, unknown_client_code, unknown_helo_code, invalid_helo_code;
    int non_fqdn_code, rbl_code, multi_bounce_code, plaintext_code;
    int unknown_local_code, unknown_valias_code, unknown_vmbox_code, unknown_relay_code;
    int addr_tempfail_defer, helo_tempfail_defer;   /* 1: "defer", 0: "defer_if_permit" */
    char *null_key, *delim, *myorigin, *default_rbl_reply, *expansion_filter;
    char *policy_default, *sasl_local_domain, *policy_context;
    struct smtpd_policy *policy;    /* check_policy_service; NULL: the default action */
    struct smtpd_quota *quota;      /* the VDA quota at RCPT (quota_rcpt.h); NULL: none */
};

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

static void rlist_free(struct rlist *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        struct rnode *n = &l->v[i];
        free(n->name);
        free(n->arg);
        free(n->rbl_domain);
        free(n->rbl_filter);
        if (n->maps)
            maps_close(n->maps);
    }
    free(l->v);
    free(l->param);
    free(l);
}

static struct rclass *class_find(struct restrictions *r, const char *name)
{
    for (size_t i = 0; i < r->nclasses; i++)
        if (strcmp(r->classes[i].name, name) == 0)
            return &r->classes[i];
    return NULL;
}

/* "zone" or "zone=127.0.0.2" or "zone=127.0.[0..255].[2;4]" */
static int parse_rbl_arg(struct rnode *n, char *err, size_t errlen, const char *param)
{
    const char *eq = strchr(n->arg, '=');
    size_t dlen = eq ? (size_t)(eq - n->arg) : strlen(n->arg);
    n->rbl_domain = xstrndup(n->arg, dlen);
    if (dlen == 0 || !hostname_valid(n->rbl_domain)) {
        str_fmt(err, errlen, "%s: %s: bad DNS list domain \"%s\"", param, n->name, n->arg);
        return -1;
    }
    if (eq) {
        n->rbl_filter = xstrdup(eq + 1);
        if (dns_reply_filter_valid(n->rbl_filter) < 0) {
            str_fmt(err, errlen, "%s: %s: bad DNS list reply filter \"%s\"", param, n->name,
                    n->rbl_filter);
            return -1;
        }
    }
    return 0;
}

/*
 * Parse a restriction list. runtime: the list comes from an access table
 * result (tables are opened now; errors are only logged by the caller).
 */
static struct rlist *parse_list(struct restrictions *r, const char *param, const char *value,
                                char *err, size_t errlen)
{
    size_t count;
    char **tok = str_split_list(value ? value : "", &count);
    struct rlist *l = xcalloc(1, sizeof(*l));
    l->param = xstrdup(param);
    l->v = xcalloc(count + 1, sizeof(*l->v));
    for (size_t i = 0; i < count; i++) {
        struct rnode *n = &l->v[l->n];
        const struct rdef *d = rdef_find(tok[i]);
        struct rclass *c = d ? NULL : class_find(r, tok[i]);
        if (!d && !c) {
            str_fmt(err, errlen, "%s: unknown restriction \"%s\"", param, tok[i]);
            goto bad;
        }
        n->name = xstrdup(tok[i]);
        l->n++;
        if (c) {
            n->op = OP_CLASS;
            n->cls = c->list;         /* filled in once every class is known */
            continue;
        }
        n->op = d->op;
        if (d->arg == ARG_NONE)
            continue;
        if (i + 1 >= count) {
            str_fmt(err, errlen, "%s: restriction \"%s\" needs an argument", param, tok[i]);
            goto bad;
        }
        n->arg = xstrdup(tok[++i]);
        switch (d->arg) {
        case ARG_TABLE: {
            char terr[512];
            n->maps = maps_open(n->arg, r->cfg, terr, sizeof(terr));
            if (!n->maps) {
                str_fmt(err, errlen, "%s: %s %s: %s", param, n->name, n->arg, terr);
                goto bad;
            }
            break;
        }
        case ARG_DOMAIN:
            if (parse_rbl_arg(n, err, errlen, param) < 0)
                goto bad;
            break;
        case ARG_NUM:
            for (const char *p = n->arg; *p; p++)
                if (!isdigit((unsigned char)*p)) {
                    str_fmt(err, errlen, "%s: %s: bad number \"%s\"", param, n->name, n->arg);
                    goto bad;
                }
            break;
        default:
            break;
        }
    }
    strv_free(tok);
    return l;
bad:
    strv_free(tok);
    rlist_free(l);
    return NULL;
}

static const enum param_id stage_id[] = {
    [RS_CLIENT] = P_smtpd_client_restrictions,
    [RS_HELO] = P_smtpd_helo_restrictions,
    [RS_SENDER] = P_smtpd_sender_restrictions,
    [RS_RELAY] = P_smtpd_relay_restrictions,
    [RS_RECIPIENT] = P_smtpd_recipient_restrictions,
    [RS_DATA] = P_smtpd_data_restrictions,
    [RS_END_OF_DATA] = P_smtpd_end_of_data_restrictions,
    [RS_ETRN] = P_smtpd_etrn_restrictions,
};
#define stage_param(s) cfg_param_name(stage_id[s])

/* Postfix refuses to receive mail unless relaying is guarded somewhere. */
static int relay_guarded(const struct rlist *l)
{
    for (size_t i = 0; l && i < l->n; i++) {
        int warned = i > 0 && l->v[i - 1].op == OP_WARN_IF_REJECT;
        if (op_is_relay_guard(l->v[i].op) && !warned)
            return 1;
    }
    return 0;
}

/* Reply codes are 400..599 (params.def): `yubin check` refuses others. */
static int param_int(const struct config *cfg, enum param_id p)
{
    return (int)cfg_get_int(cfg, p);
}

static char *param_str(const struct config *cfg, enum param_id p)
{
    return xstrdup(cfg_get(cfg, p));
}

/* "defer" (1) or "defer_if_permit" (0) */
static int tempfail_action(const struct config *cfg, enum param_id name, char *err, size_t errlen)
{
    const char *v = cfg_get(cfg, name);
    if (!v || !*v || str_ieq(v, "defer_if_permit"))
        return 0;
    if (str_ieq(v, "defer"))
        return 1;
    str_fmt(err, errlen, "%s: bad value \"%s\" (specify defer or defer_if_permit)",
            cfg_param_name(name), v);
    return -1;
}

/* C-like escapes of smtpd_expansion_filter: \t \n \r \\ \NNN (octal). */
static char *unescape(const char *v)
{
    if (!v)
        return xstrdup("");
    char *out = xmalloc(strlen(v) + 1), *o = out;
    for (const char *p = v; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p;
            continue;
        }
        p++;
        if (*p >= '0' && *p <= '7') {
            int n = 0, k = 0;
            while (k < 3 && *p >= '0' && *p <= '7') {
                n = n * 8 + (*p++ - '0');
                k++;
            }
            p--;
            if (n > 0 && n < 256)
                *o++ = (char)n;
        } else {
            *o++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p == 'r' ? '\r' : *p;
        }
    }
    *o = 0;
    return out;
}

/* inet_interfaces and proxy_interfaces as an address list. */
static struct match_list *interfaces_list(const struct config *cfg, char *err, size_t errlen)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    const enum param_id names[] = {P_inet_interfaces, P_proxy_interfaces};
    for (size_t k = 0; k < ARRAY_LEN(names); k++) {
        char **v = cfg_get_list(cfg, names[k]);
        for (char **p = v; *p; p++) {
            unsigned char a[16];
            if (str_ieq(*p, "all")) {
                struct ifaddrs *ifa = NULL, *i;
                if (getifaddrs(&ifa) == 0) {
                    for (i = ifa; i; i = i->ifa_next) {
                        char t[INET6_ADDRSTRLEN];
                        if (!i->ifa_addr)
                            continue;
                        if (i->ifa_addr->sa_family == AF_INET) {
                            inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
                                      t, sizeof(t));
                            buf_printf(&b, "%s ", t);
                        } else if (i->ifa_addr->sa_family == AF_INET6) {
                            inet_ntop(AF_INET6,
                                      &((struct sockaddr_in6 *)(void *)i->ifa_addr)->sin6_addr, t,
                                      sizeof(t));
                            buf_printf(&b, "[%s] ", t);
                        }
                    }
                    freeifaddrs(ifa);
                }
            } else if (str_ieq(*p, "loopback-only")) {
                buf_puts(&b, "127.0.0.1 [::1] ");
            } else if (inet_pton(AF_INET, *p, a) == 1) {
                buf_printf(&b, "%s ", *p);
            } else if (inet_pton(AF_INET6, *p, a) == 1) {
                buf_printf(&b, "[%s] ", *p);
            } else if ((*p)[0] == '[') {
                buf_printf(&b, "%s ", *p);
            }
            /* host names: not resolved here (Postfix resolves them at start) */
        }
        strv_free(v);
    }
    struct match_list *l = addr_list_new(buf_cstr(&b), cfg, 0, err, errlen);
    buf_free(&b);
    return l;
}

struct restrictions *smtpd_restrictions_new(const struct config *cfg, struct dns *dns,
                                      struct resolver *resolver, char *err, size_t errlen)
{
    struct restrictions *r = xcalloc(1, sizeof(*r));
    char e2[512];
    r->cfg = cfg;
    r->dns = dns;
    r->resolver = resolver;

    /* Classes: names first, so that classes may refer to each other. */
    char **cls = cfg_get_list(cfg, P_smtpd_restriction_classes);
    r->nclasses = strv_len(cls);
    r->classes = xcalloc(r->nclasses + 1, sizeof(*r->classes));
    for (size_t i = 0; i < r->nclasses; i++) {
        r->classes[i].name = xstrdup(cls[i]);
        r->classes[i].list = xcalloc(1, sizeof(struct rlist));
        if (rdef_find(cls[i]))
            msg_warn("smtpd_restriction_classes: class name \"%s\" hides a restriction", cls[i]);
    }
    strv_free(cls);
    for (size_t i = 0; i < r->nclasses; i++) {
        const char *v = cfg_get_by_name(cfg, r->classes[i].name);
        if (!v) {
            str_fmt(err, errlen, "smtpd_restriction_classes: restriction class \"%s\" has no "
                    "parameter \"%s\" in main.cf", r->classes[i].name, r->classes[i].name);
            goto bad;
        }
        struct rlist *l = parse_list(r, r->classes[i].name, v, err, errlen);
        if (!l)
            goto bad;
        /* move into the placeholder that class references already point to */
        *r->classes[i].list = *l;
        free(l);
    }
    for (int s = RS_CLIENT; s <= RS_ETRN; s++) {
        r->lists[s] = parse_list(r, stage_param(s), cfg_get(cfg, stage_id[s]), err, errlen);
        if (!r->lists[s])
            goto bad;
    }
    if (!relay_guarded(r->lists[RS_RELAY]) && !relay_guarded(r->lists[RS_RECIPIENT])) {
        str_fmt(err, errlen, "in parameter smtpd_relay_restrictions or "
                "smtpd_recipient_restrictions, specify at least one working instance of: "
                "reject_unauth_destination, defer_unauth_destination, reject, defer, "
                "defer_if_permit or check_relay_domains");
        goto bad;
    }
    for (int s = RS_CLIENT; s <= RS_ETRN; s++)
        for (size_t i = 0; i < r->lists[s]->n; i++)
            if (r->lists[s]->v[i].op == OP_UNIMPLEMENTED)
                msg_warn("%s: restriction \"%s\" is not implemented by yubin and is ignored",
                         stage_param(s), r->lists[s]->v[i].name);
            else if (r->lists[s]->v[i].op == OP_PERMIT_MX_BACKUP)
                msg_warn("%s: permit_mx_backup is not implemented by yubin; it permits only "
                         "authorized destinations", stage_param(s));

    r->mynetworks = addr_list_new(cfg_get(cfg, P_mynetworks), cfg, 0, e2, sizeof(e2));
    if (!r->mynetworks) {
        str_fmt(err, errlen, "mynetworks: %s", e2);
        goto bad;
    }
    r->interfaces = interfaces_list(cfg, e2, sizeof(e2));
    if (!r->interfaces) {
        str_fmt(err, errlen, "inet_interfaces: %s", e2);
        goto bad;
    }
    const enum param_id maps_params[] = {P_rbl_reply_maps, P_smtpd_sender_login_maps,
                                         P_relay_clientcerts};
    struct maps **maps_dst[] = {&r->rbl_reply_maps, &r->sender_login_maps,
                                &r->relay_clientcerts};
    for (size_t i = 0; i < ARRAY_LEN(maps_params); i++) {
        const char *v = cfg_get(cfg, maps_params[i]);
        if (v && *v) {
            *maps_dst[i] = maps_open(v, cfg, e2, sizeof(e2));
            if (!*maps_dst[i]) {
                str_fmt(err, errlen, "%s: %s", cfg_param_name(maps_params[i]), e2);
                goto bad;
            }
        }
    }

    r->delay_reject = cfg_get_bool(cfg, P_smtpd_delay_reject);
    r->reject_unlisted_rcpt = cfg_get_bool(cfg, P_smtpd_reject_unlisted_recipient);
    r->reject_unlisted_sender = cfg_get_bool(cfg, P_smtpd_reject_unlisted_sender);
    r->no_unknown_rcpt = (smtpd_receive_overrides(cfg) & SMTPD_RO_NO_UNKNOWN_RCPT) != 0;
    r->relay_first = cfg_get_bool(cfg, P_smtpd_relay_before_recipient_restrictions);
    r->soft_bounce = cfg_get_bool(cfg, P_soft_bounce);
    r->sasl_enable = cfg_get_bool(cfg, P_smtpd_sasl_auth_enable);
    r->percent_hack = cfg_get_bool(cfg, P_allow_percent_hack);
    r->bang_path = cfg_get_bool(cfg, P_swap_bangpath);
    r->parent_access = match_parent_style(cfg, "smtpd_access_maps");
    r->reject_code = param_int(cfg, P_reject_code);
    r->defer_code = param_int(cfg, P_defer_code);
    r->access_reject_code = param_int(cfg, P_access_map_reject_code);
    r->access_defer_code = param_int(cfg, P_access_map_defer_code);
    r->relay_code = param_int(cfg, P_relay_domains_reject_code);
    r->unknown_addr_code = param_int(cfg, P_unknown_address_reject_code);
    r->unknown_client_code = param_int(cfg, P_unknown_client_reject_code);
    r->unknown_helo_code = param_int(cfg, P_unknown_hostname_reject_code);
    r->invalid_helo_code = param_int(cfg, P_invalid_hostname_reject_code);
    r->non_fqdn_code = param_int(cfg, P_non_fqdn_reject_code);
    r->rbl_code = param_int(cfg, P_maps_rbl_reject_code);
    r->multi_bounce_code = param_int(cfg, P_multi_recipient_bounce_reject_code);
    r->plaintext_code = param_int(cfg, P_plaintext_reject_code);
    r->unknown_local_code = param_int(cfg, P_unknown_local_recipient_reject_code);
    r->unknown_valias_code = param_int(cfg, P_unknown_virtual_alias_reject_code);
    r->unknown_vmbox_code = param_int(cfg, P_unknown_virtual_mailbox_reject_code);
    r->unknown_relay_code = param_int(cfg, P_unknown_relay_recipient_reject_code);
    if ((r->addr_tempfail_defer = tempfail_action(cfg, P_unknown_address_tempfail_action, err,
                                                  errlen)) < 0 ||
        (r->helo_tempfail_defer = tempfail_action(cfg, P_unknown_helo_hostname_tempfail_action,
                                                  err, errlen)) < 0)
        goto bad;
    r->null_key = param_str(cfg, P_smtpd_null_access_lookup_key);
    r->delim = param_str(cfg, P_recipient_delimiter);
    r->myorigin = param_str(cfg, P_myorigin);
    r->default_rbl_reply = xstrdup(cfg_get_raw(cfg, P_default_rbl_reply));
    r->expansion_filter = unescape(cfg_get_raw(cfg, P_smtpd_expansion_filter));
    r->policy_default = param_str(cfg, P_smtpd_policy_service_default_action);
    r->policy_context = param_str(cfg, P_smtpd_policy_service_policy_context);
    r->sasl_local_domain = param_str(cfg, P_smtpd_sasl_local_domain);
    err[0] = '\0';
    r->quota = smtpd_quota_new(cfg, err, errlen);
    if (!r->quota && err[0])
        goto bad;
    return r;
bad:
    smtpd_restrictions_free(r);
    return NULL;
}

static void eval_free(struct eval *e);

void smtpd_restrictions_free(struct restrictions *r)
{
    if (!r)
        return;
    while (r->evals)
        eval_free(r->evals);
    for (int s = RS_CLIENT; s <= RS_ETRN; s++)
        rlist_free(r->lists[s]);
    for (size_t i = 0; i < r->nclasses; i++) {
        free(r->classes[i].name);
        rlist_free(r->classes[i].list);
    }
    free(r->classes);
    for (size_t i = 0; i < r->ncache; i++) {
        free(r->cache[i].text);
        rlist_free(r->cache[i].list);
    }
    match_list_free(r->mynetworks);
    match_list_free(r->interfaces);
    if (r->rbl_reply_maps)
        maps_close(r->rbl_reply_maps);
    if (r->sender_login_maps)
        maps_close(r->sender_login_maps);
    if (r->relay_clientcerts)
        maps_close(r->relay_clientcerts);
    free(r->null_key);
    free(r->delim);
    free(r->myorigin);
    free(r->default_rbl_reply);
    free(r->expansion_filter);
    free(r->policy_default);
    free(r->policy_context);
    free(r->sasl_local_domain);
    smtpd_quota_free(r->quota);
    free(r);
}

int smtpd_restrict_client_in_mynetworks(struct restrictions *r, const char *client_addr)
{
    return client_addr && addr_list_match(r->mynetworks, client_addr) == 1;
}

/* ------------------------------------------------------------------ */
/* Evaluation state                                                    */

enum subj_kind { SK_CLIENT, SK_HELO, SK_SENDER, SK_RCPT, SK_OTHER };

/* What a reply is about: "<name>: Class rejected: ..." */
struct subject {
    const char *name;
    const char *cls;
    enum subj_kind kind;
};

struct frame {
    struct rlist *list;
    size_t i;
    int owned;                  /* free the list when the frame ends */
    struct subject subj;        /* subj.name is name_copy */
    char *name_copy;
};

/* Node results */
enum nres { N_DUNNO, N_PERMIT, N_REJECT, N_PENDING, N_PUSHED, N_WARN_SET,
            N_RETRY /* run the restriction where the evaluation stopped again */ };

struct eval {
    struct restrictions *r;
    struct eval *prev, *next;
    enum restrict_stage stage;
    struct restrict_input in;
    char *strs[16];             /* our copies of the input strings */
    struct restrict_actions *act;
    restrict_cb cb;
    void *arg;
    struct restrict_result res;
    struct rlist *plan[2];
    int nplan, iplan;
    struct frame stack[RESTRICT_DEPTH];
    int depth;
    int warn;                   /* warn_if_reject: the depth that set it, 0 = off */
    struct restrict_defer dip, dir;
    int rcpt_checked, sender_checked;   /* explicit reject_unlisted_* ran */
    int permitted;              /* a list ended with an explicit permit */
    struct table_wait tw;       /* table lookups of the current restriction */
    /* a suspended node */
    const struct rnode *pnode;
    struct subject psubj;
    int pstep;
    char pquery[ADDR_DOMAIN_MAX + 80];
    char pwhat[ADDR_MAX + 1];
};

static const char *cmd_name(const struct eval *e)
{
    if (e->in.command)
        return e->in.command;
    switch (e->stage) {
    case RS_CLIENT: return "CONNECT";
    case RS_HELO: return "HELO";
    case RS_SENDER: return "MAIL";
    case RS_RELAY:
    case RS_RECIPIENT: return "RCPT";
    case RS_DATA: return "DATA";
    case RS_END_OF_DATA: return "END-OF-MESSAGE";
    case RS_ETRN: return "ETRN";
    }
    return "CONNECT";
}

/* Postfix's log_whatsup(): "NOQUEUE: what: RCPT from name[addr]: text; from=<> to=<> proto= helo=<>" */
static void log_whatsup(const struct eval *e, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void log_whatsup(const struct eval *e, const char *what, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    struct buf b;
    buf_init(&b, 4096);
    buf_printf(&b, "%s: %s: %s from %s[%s]: %s;", e->in.queue_id ? e->in.queue_id : "NOQUEUE",
               what, cmd_name(e), e->in.client_name ? e->in.client_name : "unknown",
               e->in.client_addr ? e->in.client_addr : "unknown", text);
    if (e->in.sender)
        buf_printf(&b, " from=<%s>", e->in.sender);
    if (e->in.recipient)
        buf_printf(&b, " to=<%s>", e->in.recipient);
    if (e->in.protocol)
        buf_printf(&b, " proto=%s", e->in.protocol);
    if (e->in.helo)
        buf_printf(&b, " helo=<%s>", e->in.helo);
    msg_info("%s", buf_cstr(&b));
    buf_free(&b);
}

/* Is dsn "D.D.D" with D of 1-3 digits (first one 2, 4 or 5)? Returns its length or 0. */
static size_t dsn_len(const char *s)
{
    size_t i = 0;
    if (s[0] != '2' && s[0] != '4' && s[0] != '5')
        return 0;
    i = 1;
    for (int part = 0; part < 2; part++) {
        if (s[i] != '.')
            return 0;
        size_t j = ++i;
        while (isdigit((unsigned char)s[i]) && i - j < 3)
            i++;
        if (i == j)
            return 0;
    }
    return (s[i] == 0 || s[i] == ' ' || s[i] == '\t') ? i : 0;
}

/*
 * Postfix's smtpd_dsn_fix(): an access table or DNSBL reply does not know
 * what it is used for, so X.1.Y address codes are turned into the sender,
 * recipient or non-address flavour of the subject at hand.
 */
static void dsn_fix(char *dsn, enum subj_kind k)
{
    static const char snd[] = "0787707780", rcp[] = "0123456320";
    if (dsn[1] != '.' || dsn[2] != '1' || dsn[3] != '.')
        return;
    int micro = (isdigit((unsigned char)dsn[4]) && dsn[5] == 0) ? dsn[4] - '0' : 9;
    if (k == SK_SENDER) {
        dsn[4] = snd[micro];
        dsn[5] = 0;
    } else if (k == SK_RCPT) {
        dsn[4] = rcp[micro];
        dsn[5] = 0;
    } else {
        dsn[2] = '0';
        dsn[4] = '0';
        dsn[5] = 0;
    }
}

/*
 * Every reject-type result goes through here (Postfix smtpd_check_reject):
 * warn_if_reject turns it into a log line, defer_if_reject into a deferral,
 * soft_bounce makes 5xx 4xx. text is the whole reply text after the DSN.
 */
static enum nres reply(struct eval *e, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum nres reply(struct eval *e, int code, const char *dsn, const char *fmt, ...)
{
    char text[sizeof(e->res.text)];
    char d[16];
    va_list ap;
    if (e->tw.pending)
        return N_DUNNO;                       /* the step is void: it runs again */
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    str_copy(d, dsn, sizeof(d));
    d[0] = (char)('0' + code / 100);          /* class digit follows the code */
    if (e->warn) {
        log_whatsup(e, "reject_warning", "%d %s %s", code, d, text);
        return N_DUNNO;
    }
    if (code / 100 == 5 && e->dir.active) {
        code = e->dir.code;
        str_copy(d, e->dir.dsn, sizeof(d));
        str_copy(text, e->dir.text, sizeof(text));
    }
    if (code / 100 == 5 && e->r->soft_bounce) {
        code -= 100;
        d[0] = '4';
    }
    e->res.verdict = code / 100 == 4 ? RV_DEFER : RV_REJECT;
    e->res.code = code;
    str_copy(e->res.dsn, d, sizeof(e->res.dsn));
    str_copy(e->res.text, text, sizeof(e->res.text));
    e->res.warn_only = 0;
    return N_REJECT;
}

/* Remember a conditional deferral; the first reason wins. */
static void defer_if(struct restrict_defer *df, int code, const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void defer_if(struct restrict_defer *df, int code, const char *dsn, const char *fmt, ...)
{
    if (df->active)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(df->text, sizeof(df->text), fmt, ap);
    va_end(ap);
    df->active = 1;
    df->code = code;
    str_copy(df->dsn, dsn, sizeof(df->dsn));
    df->dsn[0] = (char)('0' + code / 100);
}

/* A reply whose text is "<name>: Class rejected: detail". */
static enum nres reject_subj(struct eval *e, const struct subject *s, int code, const char *dsn,
                             const char *detail)
{
    return reply(e, code, dsn, "<%s>: %s rejected: %s", s->name, s->cls, detail);
}

static enum nres config_error(struct eval *e, const struct subject *s)
{
    if (s)
        return reject_subj(e, s, 451, "4.3.5", "Server configuration error");
    return reply(e, 451, "4.3.5", "Server configuration error");
}

/* ------------------------------------------------------------------ */
/* Helpers on addresses                                                */

/* Address used for table lookups: unqualified addresses get @$myorigin. */
static void lookup_addr(const struct eval *e, const char *addr, char *out, size_t outlen)
{
    if (*addr && !strchr(addr, '@'))
        str_fmt(out, outlen, "%s@%s", addr, e->r->myorigin);
    else
        str_copy(out, addr, outlen);
}

/* Does the local part carry sender-specified routing (user@elsewhere@domain)? */
static int routed(const struct eval *e, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    for (size_t i = 0; i < n; i++) {
        if (addr[i] == '@' || (addr[i] == '%' && e->r->percent_hack) ||
            (addr[i] == '!' && e->r->bang_path))
            return 1;
    }
    return 0;
}

/* 1 authorized destination, 0 not, -1 temporary failure. */
static int auth_destination(const struct eval *e, const char *rcpt)
{
    if (!e->r->resolver)
        return 0;
    int c = resolve_addr_class(e->r->resolver, rcpt);
    if (c < 0)
        return -1;
    return c != AC_DEFAULT && !routed(e, rcpt);
}

static enum nres lookup_failure(struct eval *e, const char *name)
{
    return reply(e, 451, "4.3.0", "<%s>: Temporary lookup failure", name);
}

/* ------------------------------------------------------------------ */
/* Access tables                                                       */

static enum nres push_list(struct eval *e, struct rlist *l, int owned, const struct subject *s);

/* Parse an access result that names restrictions, with a small cache. */
static struct rlist *result_list(struct eval *e, const char *value, int *owned)
{
    struct restrictions *r = e->r;
    for (size_t i = 0; i < r->ncache; i++)
        if (strcmp(r->cache[i].text, value) == 0) {
            *owned = 0;
            return r->cache[i].list;
        }
    char err[512];
    struct rlist *l = parse_list(r, "access table result", value, err, sizeof(err));
    if (!l) {
        msg_warn("%s", err);
        return NULL;
    }
    if (r->ncache < RESTRICT_CACHE) {
        r->cache[r->ncache].text = xstrdup(value);
        r->cache[r->ncache].list = l;
        r->ncache++;
        *owned = 0;
    } else {
        *owned = 1;
    }
    return l;
}

/* "Name: value" */
static int header_ok(const char *h)
{
    const char *p = h;
    while (*p && *p != ':' && (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f)
        p++;
    if (p == h || *p != ':')
        return 0;
    for (; *p; p++)
        if ((unsigned char)*p < ' ' && *p != '\t')
            return 0;
    return 1;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v ? xstrdup(v) : NULL;
}

/*
 * Apply an access(5) result (Postfix check_table_result). The caller has
 * stopped looking up further keys: a table hit, even DUNNO, ends the search.
 */
static enum nres access_result(struct eval *e, const struct subject *s, const char *value_in,
                               const char *table)
{
    char value[1024];
    str_copy(value, value_in, sizeof(value));
    char *v = str_trim(value);
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        v[--n] = 0;
    if (*v == 0) {
        msg_warn("%s lookup of %s returns an empty string result", table, s->name);
        return config_error(e, s);
    }
    char *rest = v;
    while (*rest && *rest != ' ' && *rest != '\t')
        rest++;
    size_t wlen = (size_t)(rest - v);
    char word[64];
    str_copy(word, v, wlen + 1 < sizeof(word) ? wlen + 1 : sizeof(word));
    rest = str_trim(rest);
    int alldig = 1;
    for (const char *p = v; *p; p++)
        if (!isdigit((unsigned char)*p))
            alldig = 0;

    if (str_ieq(word, "OK") || alldig)
        return N_PERMIT;
    if (str_ieq(word, "DUNNO"))
        return N_DUNNO;

    int code = 0;
    const char *dflt_dsn = NULL, *dflt_text = "Access denied";
    if (str_ieq(word, "REJECT")) {
        code = e->r->access_reject_code;
        dflt_dsn = "5.7.1";
    } else if (str_ieq(word, "DEFER")) {
        code = e->r->access_defer_code;
        dflt_dsn = "4.7.1";
    } else if (wlen == 3 && (word[0] == '4' || word[0] == '5') && isdigit((unsigned char)word[1]) &&
               isdigit((unsigned char)word[2])) {
        code = atoi(word);
        dflt_dsn = word[0] == '4' ? "4.7.1" : "5.7.1";
    }
    if (code) {
        char dsn[16];
        size_t dl = dsn_len(rest);
        if (dl && dl < sizeof(dsn)) {
            memcpy(dsn, rest, dl);
            dsn[dl] = 0;
            rest = str_trim(rest + dl);
        } else {
            str_copy(dsn, dflt_dsn, sizeof(dsn));
        }
        dsn[0] = (char)('0' + code / 100);
        dsn_fix(dsn, s->kind);
        return reject_subj(e, s, code, dsn, *rest ? rest : dflt_text);
    }
    if (str_ieq(word, "DEFER_IF_REJECT") || str_ieq(word, "DEFER_IF_PERMIT")) {
        struct restrict_defer *df = word[9] == 'R' || word[9] == 'r' ? &e->dir : &e->dip;
        char dsn[16];
        size_t dl = dsn_len(rest);
        if (dl && dl < sizeof(dsn)) {
            memcpy(dsn, rest, dl);
            dsn[dl] = 0;
            rest = str_trim(rest + dl);
        } else {
            str_copy(dsn, "4.7.1", sizeof(dsn));
        }
        dsn[0] = '4';
        dsn_fix(dsn, s->kind);
        defer_if(df, e->r->access_defer_code, dsn, "<%s>: %s rejected: %s", s->name, s->cls,
                 *rest ? rest : "Service unavailable");
        return N_DUNNO;
    }
    if (str_ieq(word, "PREPEND")) {
        if (!header_ok(rest)) {
            msg_warn("access table %s: bad PREPEND header text \"%s\" -- need "
                     "\"headername: headervalue\"", table, rest);
        } else if (e->act->nprepend >= RESTRICT_PREPEND_MAX) {
            msg_warn("access table %s: too many PREPEND actions; \"%s\" ignored", table, rest);
        } else {
            e->act->prepend[e->act->nprepend++] = xstrdup(rest);
        }
        return N_DUNNO;
    }
    if (str_ieq(word, "HOLD") || str_ieq(word, "DISCARD")) {
        int hold = word[0] == 'H' || word[0] == 'h';
        char why[600];
        if (*rest)
            str_fmt(why, sizeof(why), "<%s>: %s %s", s->name, s->cls, rest);
        else
            str_fmt(why, sizeof(why), "<%s>: %s triggers %s action", s->name, s->cls,
                    hold ? "HOLD" : "DISCARD");
        log_whatsup(e, hold ? "hold" : "discard", "%s", why);
        if (hold) {
            e->act->hold = 1;
            set_str(&e->act->hold_reason, why);
            return N_DUNNO;
        }
        e->act->discard = 1;
        set_str(&e->act->discard_reason, why);
        return N_PERMIT;              /* accepted, and the rest of the mail too */
    }
    if (str_ieq(word, "REDIRECT") || str_ieq(word, "FILTER") || str_ieq(word, "BCC")) {
        int filter = word[0] == 'F' || word[0] == 'f', bcc = word[0] == 'B' || word[0] == 'b';
        if (!*rest || (filter && !strchr(rest, ':'))) {
            msg_warn("access table %s: bad %s argument \"%s\" -- ignored", table, word, rest);
            return N_DUNNO;
        }
        str_lower(word);
        log_whatsup(e, word, "<%s>: %s triggers %s %s", s->name, s->cls,
                    filter ? "FILTER" : bcc ? "BCC" : "REDIRECT", rest);
        if (bcc)
            msg_warn("access table %s: the BCC action is not implemented by yubin; ignored",
                     table);
        else
            set_str(filter ? &e->act->filter : &e->act->redirect, rest);
        return N_DUNNO;
    }
    if (str_ieq(word, "WARN") || str_ieq(word, "INFO")) {
        log_whatsup(e, word[0] == 'W' || word[0] == 'w' ? "warn" : "info", "%s", rest);
        return N_DUNNO;
    }
    /* Restriction names or classes. */
    size_t count;
    char **tok = str_split_list(v, &count);
    for (size_t i = 0; i < count; i++) {
        if (!rdef_find(tok[i]) && !class_find(e->r, tok[i])) {
            msg_warn("unknown smtpd restriction: \"%s\"", tok[i]);
            strv_free(tok);
            return config_error(e, NULL);
        }
        const struct rdef *d = rdef_find(tok[i]);
        if (d && d->arg != ARG_NONE)
            i++;
    }
    strv_free(tok);
    int owned;
    struct rlist *l = result_list(e, v, &owned);
    if (!l)
        return config_error(e, NULL);
    return push_list(e, l, owned, s);
}

/* One key against the maps: FOUND (value in b), NOTFOUND or TEMPFAIL. */
static int find(struct maps *m, const char *key, int partial, struct buf *b)
{
    buf_reset(b);
    return maps_find(m, key, partial, b);
}

/*
 * Look up a host name and its parent domains (Postfix check_domain_access):
 * "a.b.c", then "b.c", "c" (parent style) or ".b.c", ".c". *found is set
 * on a hit. Address literals are looked up as they are.
 */
static int domain_lookup(struct eval *e, struct maps *m, const char *name, struct buf *b)
{
    int rc = find(m, name, 0, b);
    if (rc != TABLE_NOTFOUND || name[0] == '[')
        return rc;
    for (const char *p = strchr(name, '.'); p && p[1]; p = strchr(p + 1, '.')) {
        rc = find(m, e->r->parent_access ? p + 1 : p, 1, b);
        if (rc != TABLE_NOTFOUND)
            return rc;
    }
    return TABLE_NOTFOUND;
}

/* The client address, then networks: 1.2.3, 1.2, 1 (IPv6: drop ":part"s). */
static int address_lookup(struct maps *m, const char *addr, struct buf *b)
{
    char a[INET6_ADDRSTRLEN + 8];
    str_copy(a, addr, sizeof(a));
    int rc = find(m, a, 0, b);
    if (rc != TABLE_NOTFOUND)
        return rc;
    int v6 = strchr(a, ':') != NULL;
    for (;;) {
        char *cut = strrchr(a, v6 ? ':' : '.');
        if (!cut || cut == a)
            break;
        *cut = 0;
        if (v6 && cut > a && cut[-1] == ':')
            cut[-1] = 0;
        if (!*a)
            break;
        rc = find(m, a, 1, b);
        if (rc != TABLE_NOTFOUND)
            return rc;
    }
    return TABLE_NOTFOUND;
}

static enum nres table_hit(struct eval *e, const struct subject *s, int rc, struct buf *b,
                           const struct rnode *n)
{
    if (rc == TABLE_FOUND)
        return access_result(e, s, buf_cstr(b), n->arg);
    if (rc == TABLE_PENDING)
        return N_DUNNO;                       /* void: the restriction runs again */
    if (rc == TABLE_TEMPFAIL) {
        msg_warn("%s: table lookup problem for %s", n->arg, s->name);
        return config_error(e, s);
    }
    return N_DUNNO;
}

/* check_client_access / check_reverse_client_hostname_access */
static enum nres check_namaddr(struct eval *e, const struct rnode *n, const char *name,
                               const struct subject *s)
{
    struct buf b;
    buf_init(&b, RESTRICT_VALUE_MAX);
    int rc = TABLE_NOTFOUND;
    if (name && *name)
        rc = domain_lookup(e, n->maps, name, &b);
    if (rc == TABLE_NOTFOUND && e->in.client_addr)
        rc = address_lookup(n->maps, e->in.client_addr, &b);
    enum nres res = table_hit(e, s, rc, &b, n);
    buf_free(&b);
    return res;
}

/* check_sender_access / check_recipient_access */
static enum nres check_mail_access(struct eval *e, const struct rnode *n, const char *addr,
                                   const struct subject *s)
{
    struct buf b;
    int rc;
    buf_init(&b, RESTRICT_VALUE_MAX);
    if (*addr == 0) {
        rc = find(n->maps, e->r->null_key, 0, &b);
    } else {
        char key[ADDR_MAX + ADDR_DOMAIN_MAX + 2];
        lookup_addr(e, addr, key, sizeof(key));
        buf_reset(&b);
        rc = maps_lookup_addr(n->maps, key, e->r->delim,
                              MAPS_ADDR_ACCESS | (e->r->parent_access ? MAPS_ADDR_PARENT : 0),
                              &b, NULL);
    }
    enum nres res = table_hit(e, s, rc, &b, n);
    buf_free(&b);
    return res;
}

/* ------------------------------------------------------------------ */
/* DNS lists                                                           */

/* One-level $name expansion of a reply template with smtpd_expansion_filter. */
struct rbl_attrs {
    const char *names[20];
    const char *values[20];
    size_t n;
};

static const char *attr_value(const struct rbl_attrs *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->names[i]) == len && strncmp(a->names[i], name, len) == 0)
            return a->values[i];
    return NULL;
}

static void expand_template(const struct eval *e, const char *t, size_t len,
                            const struct rbl_attrs *a, struct buf *out, int depth)
{
    for (size_t i = 0; i < len; i++) {
        if (t[i] != '$' || i + 1 >= len) {
            buf_putc(out, t[i]);
            continue;
        }
        const char *name;
        size_t nlen;
        const char *cond = NULL;
        size_t clen = 0;
        char op = 0;
        if (t[i + 1] == '{' || t[i + 1] == '(') {
            char close = t[i + 1] == '{' ? '}' : ')';
            size_t j = i + 2, lvl = 1;
            name = t + j;
            while (j < len && (isalnum((unsigned char)t[j]) || t[j] == '_'))
                j++;
            nlen = (size_t)(t + j - name);
            if (j < len && (t[j] == '?' || t[j] == ':')) {
                op = t[j];
                cond = t + j + 1;
                for (j++; j < len; j++) {
                    if (t[j] == '{' || t[j] == '(')
                        lvl++;
                    else if ((t[j] == '}' || t[j] == ')') && --lvl == 0)
                        break;
                }
                clen = (size_t)(t + j - cond);
            }
            if (j >= len || t[j] != close) {
                buf_append(out, t + i, len - i);   /* unbalanced: keep as is */
                return;
            }
            i = j;
        } else {
            size_t j = i + 1;
            name = t + j;
            while (j < len && (isalnum((unsigned char)t[j]) || t[j] == '_'))
                j++;
            nlen = (size_t)(t + j - name);
            if (nlen == 0) {
                buf_putc(out, '$');
                continue;
            }
            i = j - 1;
        }
        const char *v = attr_value(a, name, nlen);
        if (op == '?') {
            if (v && *v && depth < 2)
                expand_template(e, cond, clen, a, out, depth + 1);
        } else if (op == ':') {
            if ((!v || !*v) && depth < 2)
                expand_template(e, cond, clen, a, out, depth + 1);
        } else if (v) {
            for (const char *p = v; *p; p++)
                buf_putc(out, (*e->r->expansion_filter && !strchr(e->r->expansion_filter, *p)) ?
                                  '_' : *p);
        }
    }
}

static const char *rbl_class_name(enum rop op)
{
    switch (op) {
    case OP_RHSBL_HELO: return "Helo command";
    case OP_RHSBL_SENDER: return "Sender address";
    case OP_RHSBL_RCPT: return "Recipient address";
    case OP_RHSBL_REV_CLIENT: return "Unverified Client host";
    default: return "Client host";
    }
}

/* Build the DNSBL reply from rbl_reply_maps or default_rbl_reply. */
static enum nres rbl_reply(struct eval *e, const char *reason)
{
    const struct rnode *n = e->pnode;
    struct restrictions *r = e->r;
    char code[8], rdomain[ADDR_DOMAIN_MAX + 1] = "", sdomain[ADDR_DOMAIN_MAX + 1] = "";
    char rname[ADDR_LOCAL_MAX + 1] = "", sname[ADDR_LOCAL_MAX + 1] = "";
    char client[600];
    str_fmt(code, sizeof(code), "%d", r->rbl_code);
    str_fmt(client, sizeof(client), "%s[%s]", e->in.client_name ? e->in.client_name : "unknown",
            e->in.client_addr ? e->in.client_addr : "unknown");
    if (e->in.recipient)
        addr_split(e->in.recipient, rname, sizeof(rname), rdomain, sizeof(rdomain));
    if (e->in.sender)
        addr_split(e->in.sender, sname, sizeof(sname), sdomain, sizeof(sdomain));
    struct rbl_attrs a = {
        {"client", "client_address", "client_name", "reverse_client_name", "helo_name",
         "rbl_class", "rbl_code", "rbl_domain", "rbl_reason", "rbl_what", "recipient",
         "recipient_domain", "recipient_name", "sender", "sender_domain", "sender_name"},
        {client, e->in.client_addr ? e->in.client_addr : "",
         e->in.client_name ? e->in.client_name : "unknown",
         e->in.reverse_client_name ? e->in.reverse_client_name :
             (e->in.client_name ? e->in.client_name : "unknown"),
         e->in.helo ? e->in.helo : "", rbl_class_name(n->op), code, n->rbl_domain,
         reason ? reason : "", e->pwhat,
         e->in.recipient ? (*e->in.recipient ? e->in.recipient : "<>") : "", rdomain,
         e->in.recipient ? (*e->in.recipient ? rname : "<>") : "",
         e->in.sender ? (*e->in.sender ? e->in.sender : "<>") : "", sdomain,
         e->in.sender ? (*e->in.sender ? sname : "<>") : ""},
        16};
    struct buf tmpl, out;
    buf_init(&tmpl, 4096);
    buf_init(&out, 4096);
    int rc = TABLE_NOTFOUND;
    if (r->rbl_reply_maps)
        rc = maps_find(r->rbl_reply_maps, n->rbl_domain, 0, &tmpl);
    if (rc != TABLE_FOUND) {
        buf_reset(&tmpl);
        buf_puts(&tmpl, r->default_rbl_reply);
    }
    expand_template(e, tmpl.data, tmpl.len, &a, &out, 0);
    const char *t = buf_cstr(&out);
    enum nres res;
    if (!(t[0] == '4' || t[0] == '5') || !isdigit((unsigned char)t[1]) ||
        !isdigit((unsigned char)t[2]) || (t[3] != ' ' && t[3] != 0)) {
        msg_warn("DNSBL reply template for %s does not start with a 4xx or 5xx code: \"%s\"",
                 n->rbl_domain, t);
        res = config_error(e, NULL);
    } else {
        int c = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
        const char *rest = t[3] ? t + 4 : t + 3;
        char dsn[16];
        size_t dl = dsn_len(rest);
        if (dl && dl < sizeof(dsn)) {
            memcpy(dsn, rest, dl);
            dsn[dl] = 0;
            rest += dl;
            while (*rest == ' ')
                rest++;
        } else {
            str_copy(dsn, "5.7.1", sizeof(dsn));
        }
        dsn[0] = t[0];
        dsn_fix(dsn, n->op == OP_RHSBL_SENDER ? SK_SENDER : n->op == OP_RHSBL_RCPT ? SK_RCPT :
                                                                                      SK_CLIENT);
        res = reply(e, c, dsn, "%s", rest);
    }
    buf_free(&tmpl);
    buf_free(&out);
    return res;
}

static void dns_done(int status, const char *result, void *arg);

/*
 * Start a DNSBL/DNSWL query: "d.c.b.a.zone" for client addresses (nibbles
 * for IPv6), "name.zone" for the right-hand-side lists.
 */
static enum nres rbl_start(struct eval *e, const struct rnode *n, const struct subject *s)
{
    char what[ADDR_MAX + 1] = "", name[ADDR_DOMAIN_MAX + 1] = "";
    switch (n->op) {
    case OP_RBL_CLIENT:
    case OP_DNSWL_CLIENT: {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        const char *ca = e->in.client_addr ? e->in.client_addr : "";
        char rev[ADDR_DOMAIN_MAX + 1];
        if (inet_pton(AF_INET, ca, &((struct sockaddr_in *)(void *)&ss)->sin_addr) == 1)
            ss.ss_family = AF_INET;
        else if (inet_pton(AF_INET6, ca, &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr) == 1)
            ss.ss_family = AF_INET6;
        else
            return N_DUNNO;
        if (dns_ptr_name((struct sockaddr *)&ss, rev, sizeof(rev)) < 0)
            return N_DUNNO;
        /* strip in-addr.arpa / ip6.arpa */
        char *suffix = strstr(rev, ss.ss_family == AF_INET ? ".in-addr.arpa" : ".ip6.arpa");
        if (suffix)
            *suffix = 0;
        str_copy(name, rev, sizeof(name));
        str_copy(what, ca, sizeof(what));
        break;
    }
    case OP_RHSBL_CLIENT:
    case OP_RHSWL_CLIENT:
    case OP_RHSBL_REV_CLIENT: {
        const char *cn = n->op == OP_RHSBL_REV_CLIENT && e->in.reverse_client_name ?
                             e->in.reverse_client_name : e->in.client_name;
        if (!cn || str_ieq(cn, "unknown") || !hostname_valid(cn))
            return N_DUNNO;
        str_copy(name, cn, sizeof(name));
        str_copy(what, cn, sizeof(what));
        break;
    }
    case OP_RHSBL_HELO:
        if (!e->in.helo || !hostname_valid(e->in.helo))
            return N_DUNNO;
        str_copy(name, e->in.helo, sizeof(name));
        str_copy(what, e->in.helo, sizeof(what));
        break;
    case OP_RHSBL_SENDER:
    case OP_RHSBL_RCPT: {
        const char *addr = n->op == OP_RHSBL_SENDER ? e->in.sender : e->in.recipient;
        const char *d = addr ? addr_domain(addr) : "";
        if (!*d || d[0] == '[')
            return N_DUNNO;
        str_copy(name, d, sizeof(name));
        str_copy(what, addr, sizeof(what));   /* "an email address whose domain was listed" */
        break;
    }
    default:
        return N_DUNNO;
    }
    size_t nl = strlen(name);
    if (nl && name[nl - 1] == '.')
        name[nl - 1] = 0;
    if (str_fmt(e->pquery, sizeof(e->pquery), "%s.%s", name, n->rbl_domain) < 0)
        return N_DUNNO;
    str_copy(e->pwhat, what, sizeof(e->pwhat));
    if (!e->r->dns)
        return N_DUNNO;
    e->pnode = n;
    e->psubj = *s;
    e->pstep = 0;
    dns_lookup_a_all(e->r->dns, e->pquery, dns_done, e);
    return N_PENDING;
}

/* ------------------------------------------------------------------ */
/* Policy servers (check_policy_service, policy.h)                     */

static void policy_attr(struct buf *b, const char *name, const char *value)
{
    buf_printf(b, "%s=", name);
    for (const char *p = value ? value : ""; *p; p++)
        buf_putc(b, *p == '\n' || *p == '\r' ? ' ' : *p);   /* one attribute, one line */
    buf_putc(b, '\n');
}

/* The attributes of SMTPD_POLICY_README, in its order. */
static void policy_request(const struct eval *e, struct buf *b)
{
    const struct restrict_input *in = &e->in;
    char num[32];
    policy_attr(b, "request", "smtpd_access_policy");
    policy_attr(b, "protocol_state", cmd_name(e));
    policy_attr(b, "protocol_name", in->protocol ? in->protocol : "SMTP");
    policy_attr(b, "helo_name", in->helo);
    policy_attr(b, "queue_id", in->queue_id);
    policy_attr(b, "sender", in->sender);
    policy_attr(b, "recipient", in->recipient);
    str_fmt(num, sizeof(num), "%d", in->nrcpt);
    policy_attr(b, "recipient_count", num);
    policy_attr(b, "client_address", in->client_addr);
    policy_attr(b, "client_name", in->client_name);
    policy_attr(b, "reverse_client_name",
                in->reverse_client_name ? in->reverse_client_name : in->client_name);
    policy_attr(b, "instance", in->instance);
    policy_attr(b, "sasl_method", in->sasl_username ? in->sasl_method : NULL);
    policy_attr(b, "sasl_username", in->sasl_username);
    policy_attr(b, "sasl_sender", NULL);
    str_fmt(num, sizeof(num), "%lld", in->size);
    policy_attr(b, "size", num);
    policy_attr(b, "ccert_subject", NULL);
    policy_attr(b, "ccert_issuer", NULL);
    policy_attr(b, "ccert_fingerprint", in->ccert_fingerprint);
    policy_attr(b, "ccert_pubkey_fingerprint", in->ccert_pkey_fingerprint);
    policy_attr(b, "encryption_protocol", in->tls_protocol);
    policy_attr(b, "encryption_cipher", in->tls_cipher);
    str_fmt(num, sizeof(num), "%d", in->tls_bits);
    policy_attr(b, "encryption_keysize", num);
    policy_attr(b, "etrn_domain", in->etrn_domain);
    policy_attr(b, "stress", NULL);
    policy_attr(b, "compatibility_level", cfg_get(e->r->cfg, P_compatibility_level));
    policy_attr(b, "mail_version", cfg_get(e->r->cfg, P_mail_version));
    policy_attr(b, "client_port", in->client_port);
    policy_attr(b, "policy_context", e->r->policy_context);
}

static void eval_continue(struct eval *e, enum nres rc);

static void policy_done(void *arg, int ok, const char *action)
{
    struct eval *e = arg;
    INVARIANT(e->depth > 0 && e->depth <= RESTRICT_DEPTH);
    INVARIANT(e->r->evals == e || e->prev != NULL);
    enum nres rc = ok ? access_result(e, &e->psubj, action, e->pnode->arg)
                      : access_result(e, &e->psubj, e->r->policy_default,
                                      "smtpd_policy_service_default_action");
    eval_continue(e, rc);
}

static enum nres policy_start(struct eval *e, const struct rnode *n, const struct subject *s)
{
    struct buf b;
    buf_init(&b, SMTPD_POLICY_REQUEST_MAX);
    policy_request(e, &b);
    if (b.len == 0 || b.len + 1 >= SMTPD_POLICY_REQUEST_MAX) {
        buf_free(&b);
        msg_warn("check_policy_service %s: request too long", n->arg);
        return access_result(e, s, e->r->policy_default, "smtpd_policy_service_default_action");
    }
    e->pnode = n;
    e->psubj = *s;
    e->pstep = 0;
    smtpd_policy_ask(e->r->policy, n->arg, buf_cstr(&b), policy_done, e);
    buf_free(&b);
    return N_PENDING;
}

void smtpd_restrict_set_policy(struct restrictions *r, struct smtpd_policy *p)
{
    r->policy = p;
}

/* ------------------------------------------------------------------ */
/* The restrictions                                                    */

static enum nres unknown_domain_start(struct eval *e, const struct rnode *n, const char *addr,
                                      const struct subject *s)
{
    if (!addr || !*addr || !strchr(addr, '@'))
        return N_DUNNO;                       /* null sender, unqualified: ours */
    const char *d = addr_domain(addr);
    if (!*d || d[0] == '[')
        return N_DUNNO;
    if (e->r->resolver) {
        int c = resolve_domain_class(e->r->resolver, d);
        if (c < 0)
            return lookup_failure(e, addr);
        if (c == AC_LOCAL || c == AC_VIRTUAL_ALIAS || c == AC_VIRTUAL_MAILBOX)
            return N_DUNNO;                   /* we are the final destination */
    }
    if (!e->r->dns)
        return N_DUNNO;
    e->pnode = n;
    e->psubj = *s;
    e->pstep = 0;
    str_copy(e->pquery, d, sizeof(e->pquery));
    str_copy(e->pwhat, addr, sizeof(e->pwhat));
    dns_domain_exists(e->r->dns, d, dns_done, e);
    return N_PENDING;
}

static enum nres unknown_domain_done(struct eval *e, int status, const char *result)
{
    const struct subject *s = &e->psubj;
    int sender = e->pnode->op == OP_UNKNOWN_SENDER_DOMAIN;
    if (status == DNS_OK)
        return N_DUNNO;
    if (status == DNS_NOTFOUND && result && strcmp(result, ".") == 0) {
        char detail[ADDR_DOMAIN_MAX + 64];
        str_fmt(detail, sizeof(detail), "Domain %s does not accept mail (nullMX)", e->pquery);
        return reject_subj(e, s, sender ? 550 : 556, sender ? "5.7.27" : "5.1.10", detail);
    }
    if (status == DNS_NOTFOUND)
        return reject_subj(e, s, e->r->unknown_addr_code, sender ? "4.1.8" : "4.1.2",
                           "Domain not found");
    if (e->r->addr_tempfail_defer)
        return reject_subj(e, s, 450, "4.4.3", "Domain not found");
    defer_if(&e->dip, 450, "4.4.3", "<%s>: %s rejected: Domain not found", s->name, s->cls);
    return N_DUNNO;
}

static enum nres unknown_helo_done(struct eval *e, int status, const char *result)
{
    const struct subject *s = &e->psubj;
    if (status == DNS_OK || (status == DNS_NOTFOUND && result && strcmp(result, ".") == 0))
        return N_DUNNO;
    if (status == DNS_NOTFOUND)
        return reject_subj(e, s, e->r->unknown_helo_code, "4.7.1", "Host not found");
    if (e->r->helo_tempfail_defer)
        return reject_subj(e, s, 450, "4.7.1", "Host not found");
    defer_if(&e->dip, 450, "4.7.1", "<%s>: %s rejected: Host not found", s->name, s->cls);
    return N_DUNNO;
}

/* Continue a suspended node with its DNS answer. */
static enum nres node_resume(struct eval *e, int status, const char *result)
{
    const struct rnode *n = e->pnode;
    switch (n->op) {
    case OP_UNKNOWN_SENDER_DOMAIN:
    case OP_UNKNOWN_RCPT_DOMAIN:
        return unknown_domain_done(e, status, result);
    case OP_UNKNOWN_HELO:
        return unknown_helo_done(e, status, result);
    default:
        break;
    }
    /* DNS lists */
    int white = n->op == OP_DNSWL_CLIENT || n->op == OP_RHSWL_CLIENT;
    if (e->pstep == 1)                        /* the TXT answer: reply */
        return rbl_reply(e, status == DNS_OK ? result : NULL);
    if (status == DNS_TEMPFAIL) {
        if (white)
            defer_if(&e->dir, 450, "4.7.1", "<%s>: %s rejected: Service unavailable",
                     e->psubj.name, e->psubj.cls);
        return N_DUNNO;                       /* a list that does not answer lists nobody */
    }
    if (status != DNS_OK || !result)
        return N_DUNNO;
    int listed = !n->rbl_filter;
    if (n->rbl_filter) {
        char addrs[1100];
        str_copy(addrs, result, sizeof(addrs));
        char *save = NULL;
        for (char *a = strtok_r(addrs, " ", &save); a && !listed; a = strtok_r(NULL, " ", &save))
            listed = dns_reply_filter_match(n->rbl_filter, a);
    }
    if (!listed)
        return N_DUNNO;
    if (white) {
        /* never override reject_unauth_destination */
        if ((e->stage == RS_RELAY || e->stage == RS_RECIPIENT) && e->in.recipient &&
            auth_destination(e, e->in.recipient) != 1)
            return N_DUNNO;
        return N_PERMIT;
    }
    e->pstep = 1;
    dns_lookup_txt(e->r->dns, e->pquery, dns_done, e);
    return N_PENDING;
}

static enum nres unlisted(struct eval *e, const char *addr, int sender, const struct subject *s)
{
    char why[256] = "";
    if (!e->r->resolver || !addr || !*addr || (!sender && e->r->no_unknown_rcpt))
        return N_DUNNO;
    int k = resolve_rcpt_known(e->r->resolver, addr, why, sizeof(why));
    if (k == 1)
        return N_DUNNO;
    if (k < 0)
        return lookup_failure(e, addr);
    int c = resolve_addr_class(e->r->resolver, addr);
    int code = c == AC_VIRTUAL_ALIAS ? e->r->unknown_valias_code :
               c == AC_VIRTUAL_MAILBOX ? e->r->unknown_vmbox_code :
               c == AC_RELAY ? e->r->unknown_relay_code : e->r->unknown_local_code;
    /* Postfix: x.1.1 for recipients; senders get x.1.0, except that the
     * virtual alias case comes out as x.1.7 (its x.1.1 passes the sender DSN fix). */
    const char *dsn = !sender ? "5.1.1" : c == AC_VIRTUAL_ALIAS ? "5.1.7" : "5.1.0";
    return reject_subj(e, s, code, dsn, why[0] ? why : "User unknown");
}

/* The recipient's Maildir over its VDA quota (quota_rcpt.h): refused now, not bounced later. */
static enum nres over_quota(struct eval *e)
{
    struct smtpd_quota_reply q;
    int rc = smtpd_quota_check(e->r->quota, e->in.recipient, e->in.size, &q);
    if (rc == -1)
        return lookup_failure(e, e->in.recipient);
    if (rc != 1)
        return N_DUNNO;                       /* fine, or pending: the step runs again */
    return reply(e, q.code, q.dsn, "<%s>: Recipient address rejected: %s", e->in.recipient,
                 q.text);
}

/* smtpd_sender_login_maps owners of the sender, as a list; NULL when none. */
static char **sender_owners(struct eval *e, int *tempfail)
{
    *tempfail = 0;
    if (!e->r->sender_login_maps || !e->in.sender || !*e->in.sender)
        return NULL;
    struct buf b;
    buf_init(&b, RESTRICT_VALUE_MAX);
    char key[ADDR_MAX + ADDR_DOMAIN_MAX + 2];
    lookup_addr(e, e->in.sender, key, sizeof(key));
    int rc = maps_lookup_addr(e->r->sender_login_maps, key, e->r->delim, MAPS_ADDR_DOMAIN, &b,
                              NULL);
    char **v = NULL;
    if (rc == TABLE_FOUND)
        v = str_split_list(buf_cstr(&b), NULL);
    else if (rc == TABLE_TEMPFAIL)
        *tempfail = 1;
    buf_free(&b);
    return v;
}

static enum nres login_mismatch(struct eval *e, const struct rnode *n, const struct subject *s)
{
    if (!e->r->sasl_enable || !e->in.sender || !*e->in.sender)
        return N_DUNNO;                       /* Postfix: a no-op without SASL */
    int tempfail;
    char **owners = sender_owners(e, &tempfail);
    enum nres res = N_DUNNO;
    const char *login = e->in.sasl_username;
    int check_auth = n->op != OP_UNAUTH_LOGIN_MISMATCH;
    int check_unauth = n->op != OP_AUTH_LOGIN_MISMATCH;
    if (tempfail) {
        res = lookup_failure(e, e->in.sender);
    } else if (n->op == OP_KNOWN_LOGIN_MISMATCH && !owners) {
        res = N_DUNNO;
    } else if (login && check_auth) {
        int owned = 0;
        for (char **p = owners; p && *p && !owned; p++)
            owned = str_ieq(*p, login);
        if (!owned) {
            char detail[600];
            str_fmt(detail, sizeof(detail), "not owned by user %s", login);
            res = reject_subj(e, s, 553, "5.7.1", detail);
        }
    } else if (!login && check_unauth && owners) {
        res = reject_subj(e, s, 553, "5.7.1", "not logged in");
    }
    strv_free(owners);
    return res;
}

static enum nres relay_check(struct eval *e, const struct rnode *n, const struct subject *s)
{
    if (!e->in.recipient)
        return N_DUNNO;
    int a = auth_destination(e, e->in.recipient);
    if (a < 0)
        return lookup_failure(e, e->in.recipient);
    if (n->op == OP_PERMIT_AUTH_DEST || n->op == OP_PERMIT_MX_BACKUP)
        return a ? N_PERMIT : N_DUNNO;
    if (a)
        return N_DUNNO;
    (void)s;
    if (n->op == OP_DEFER_UNAUTH_DEST)
        return reply(e, 400 + e->r->relay_code % 100, "4.7.1", "<%s>: Relay access denied",
                     e->in.recipient);
    return reply(e, e->r->relay_code, "5.7.1", "<%s>: Relay access denied", e->in.recipient);
}

/*
 * Client certificates (Postfix: permit_tls_clientcerts, check_ccert_access):
 * the certificate's fingerprint, then its public key's, both with
 * smtpd_tls_fingerprint_digest. A certificate needs no trusted chain to be
 * matched by fingerprint; without TLS or a certificate nothing matches.
 */
static int ccert_find(const struct eval *e, struct maps *m, struct buf *b)
{
    const char *keys[] = {e->in.ccert_fingerprint, e->in.ccert_pkey_fingerprint};
    int rc = TABLE_NOTFOUND;
    for (size_t i = 0; i < ARRAY_LEN(keys) && rc == TABLE_NOTFOUND; i++)
        if (keys[i] && *keys[i])
            rc = find(m, keys[i], 0, b);
    return rc;
}

static enum nres ccert_listed(struct eval *e)
{
    if (!e->in.ccert_fingerprint || !e->r->relay_clientcerts)
        return N_DUNNO;
    struct buf b;
    buf_init(&b, RESTRICT_VALUE_MAX);
    int rc = ccert_find(e, e->r->relay_clientcerts, &b);
    buf_free(&b);
    if (rc == TABLE_TEMPFAIL) {
        msg_warn("relay_clientcerts: table lookup problem for %s", e->in.ccert_fingerprint);
        return config_error(e, NULL);
    }
    return rc == TABLE_FOUND ? N_PERMIT : N_DUNNO;
}

static enum nres check_ccert(struct eval *e, const struct rnode *n, const struct subject *s)
{
    if (!e->in.ccert_fingerprint)
        return N_DUNNO;
    struct buf b;
    buf_init(&b, RESTRICT_VALUE_MAX);
    enum nres res = table_hit(e, s, ccert_find(e, n->maps, &b), &b, n);
    buf_free(&b);
    return res;
}

static const char *client_addr(const struct eval *e)
{
    return e->in.client_addr ? e->in.client_addr : "unknown";
}

/* Evaluate one restriction. */
/* "name[addr]" of the client, the subject of client-side access checks. */
static void client_namaddr(const struct eval *e, char *out, size_t outlen)
{
    str_fmt(out, outlen, "%s[%s]", e->in.client_name ? e->in.client_name : "unknown",
            client_addr(e));
}

static enum nres node_eval(struct eval *e, const struct rnode *n, const struct subject *s)
{
    struct restrictions *r = e->r;
    char namaddr[600];
    switch (n->op) {
    case OP_PERMIT:
        return N_PERMIT;
    case OP_REJECT:
        return reject_subj(e, s, r->reject_code, "5.7.1", "Access denied");
    case OP_DEFER:
        return reject_subj(e, s, r->defer_code, "4.3.2", "Try again later");
    case OP_DEFER_IF_PERMIT:
        defer_if(&e->dip, r->defer_code, "4.7.0", "<%s>: %s rejected: defer_if_permit requested",
                 s->name, s->cls);
        return N_DUNNO;
    case OP_DEFER_IF_REJECT:
        defer_if(&e->dir, r->defer_code, "4.7.0", "<%s>: %s rejected: defer_if_reject requested",
                 s->name, s->cls);
        return N_DUNNO;
    case OP_WARN_IF_REJECT:
        if (!e->warn)
            e->warn = e->depth;
        return N_WARN_SET;
    case OP_SLEEP:
    case OP_UNIMPLEMENTED:
        return N_DUNNO;
    case OP_UNAUTH_PIPELINING:
        if (e->in.unauth_pipelining)
            return reject_subj(e, s, 503, "5.5.0", "Improper use of SMTP command pipelining");
        return N_DUNNO;
    case OP_MULTI_RCPT_BOUNCE: {
        int before_data = e->stage != RS_DATA && e->stage != RS_END_OF_DATA;
        if (e->in.sender && !*e->in.sender &&
            (before_data ? e->in.nrcpt >= 1 : e->in.nrcpt > 1))
            return reject_subj(e, s, r->multi_bounce_code, "5.5.3", "Multi-recipient bounce");
        return N_DUNNO;
    }
    case OP_PLAINTEXT:
        if (!e->in.encrypted)
            return reply(e, r->plaintext_code, "4.7.1", "Session encryption is required");
        return N_DUNNO;
    case OP_POLICY:
        if (!r->policy)
            return access_result(e, s, r->policy_default, "smtpd_policy_service_default_action");
        return policy_start(e, n, s);
    case OP_MYNETWORKS:
        return e->in.client_addr && addr_list_match(r->mynetworks, e->in.client_addr) == 1 ?
                   N_PERMIT : N_DUNNO;
    case OP_INET_INTERFACES:
        return e->in.client_addr && addr_list_match(r->interfaces, e->in.client_addr) == 1 ?
                   N_PERMIT : N_DUNNO;
    case OP_SASL_AUTH:
        return e->in.sasl_username && *e->in.sasl_username ? N_PERMIT : N_DUNNO;
    case OP_TLS_ALL_CLIENTCERTS:
        return e->in.ccert_fingerprint && e->in.ccert_trusted ? N_PERMIT : N_DUNNO;
    case OP_TLS_CLIENTCERTS:
        return ccert_listed(e);
    case OP_CCERT_ACCESS: {
        client_namaddr(e, namaddr, sizeof(namaddr));
        struct subject cs = {namaddr, "Client certificate", SK_CLIENT};
        return check_ccert(e, n, &cs);
    }
    case OP_CLIENT_ACCESS: {
        struct subject cs = {namaddr, "Client host", SK_CLIENT};
        client_namaddr(e, namaddr, sizeof(namaddr));
        return check_namaddr(e, n, e->in.client_name ? e->in.client_name : "unknown", &cs);
    }
    case OP_REV_CLIENT_ACCESS: {
        const char *rn = e->in.reverse_client_name ? e->in.reverse_client_name :
                         e->in.client_name ? e->in.client_name : "unknown";
        struct subject cs = {rn, "Unverified Client host", SK_CLIENT};
        return check_namaddr(e, n, rn, &cs);
    }
    case OP_HELO_ACCESS: {
        if (!e->in.helo)
            return N_DUNNO;
        struct subject hs = {e->in.helo, "Helo command", SK_HELO};
        struct buf b;
        buf_init(&b, RESTRICT_VALUE_MAX);
        enum nres res = table_hit(e, &hs, domain_lookup(e, n->maps, e->in.helo, &b), &b, n);
        buf_free(&b);
        return res;
    }
    case OP_ETRN_ACCESS: {
        if (!e->in.etrn_domain)
            return N_DUNNO;
        struct subject es = {e->in.etrn_domain, "Etrn command", SK_OTHER};
        struct buf b;
        buf_init(&b, RESTRICT_VALUE_MAX);
        enum nres res = table_hit(e, &es, domain_lookup(e, n->maps, e->in.etrn_domain, &b), &b,
                                  n);
        buf_free(&b);
        return res;
    }
    case OP_SASL_ACCESS: {
        if (!e->in.sasl_username || !*e->in.sasl_username)
            return N_DUNNO;
        char key[600];
        if (*r->sasl_local_domain && !strchr(e->in.sasl_username, '@'))
            str_fmt(key, sizeof(key), "%s@%s", e->in.sasl_username, r->sasl_local_domain);
        else
            str_copy(key, e->in.sasl_username, sizeof(key));
        client_namaddr(e, namaddr, sizeof(namaddr));
        struct subject cs = {namaddr, "Client host", SK_CLIENT};
        struct buf b;
        buf_init(&b, RESTRICT_VALUE_MAX);
        enum nres res = table_hit(e, &cs, find(n->maps, key, 0, &b), &b, n);
        buf_free(&b);
        return res;
    }
    case OP_SENDER_ACCESS: {
        if (!e->in.sender)
            return N_DUNNO;
        struct subject ss = {e->in.sender, "Sender address", SK_SENDER};
        return check_mail_access(e, n, e->in.sender, &ss);
    }
    case OP_RCPT_ACCESS: {
        if (!e->in.recipient)
            return N_DUNNO;
        struct subject rs = {e->in.recipient, "Recipient address", SK_RCPT};
        return check_mail_access(e, n, e->in.recipient, &rs);
    }
    case OP_UNKNOWN_CLIENT: {
        const char *cn = e->in.client_name ? e->in.client_name : "unknown";
        int st = e->in.client_name_status;
        if (st == 0 && str_ieq(cn, "unknown"))
            st = DNS_NOTFOUND;
        if (st == DNS_TEMPFAIL)
            return reply(e, 450, "4.7.25", "Client host rejected: cannot find your hostname, [%s]",
                         client_addr(e));
        if (st != DNS_OK)
            return reply(e, r->unknown_client_code, "5.7.25",
                         "Client host rejected: cannot find your hostname, [%s]", client_addr(e));
        return N_DUNNO;
    }
    case OP_UNKNOWN_REV_CLIENT: {
        const char *rn = e->in.reverse_client_name ? e->in.reverse_client_name :
                         e->in.client_name ? e->in.client_name : "unknown";
        int st = e->in.reverse_client_name ? e->in.reverse_name_status : e->in.client_name_status;
        if (st == 0 && str_ieq(rn, "unknown"))
            st = DNS_NOTFOUND;
        if (st == DNS_TEMPFAIL)
            return reply(e, 450, "4.7.1",
                         "Client host rejected: cannot find your reverse hostname, [%s]",
                         client_addr(e));
        if (st != DNS_OK)
            return reply(e, r->unknown_client_code, "5.7.1",
                         "Client host rejected: cannot find your reverse hostname, [%s]",
                         client_addr(e));
        return N_DUNNO;
    }
    case OP_RBL_CLIENT:
    case OP_RHSBL_CLIENT:
    case OP_RHSBL_REV_CLIENT:
    case OP_RHSBL_HELO:
    case OP_RHSBL_SENDER:
    case OP_RHSBL_RCPT:
    case OP_DNSWL_CLIENT:
    case OP_RHSWL_CLIENT:
        return rbl_start(e, n, s);
    case OP_INVALID_HELO: {
        if (!e->in.helo)
            return N_DUNNO;
        struct subject hs = {e->in.helo, "Helo command", SK_HELO};
        if (e->in.helo[0] == '[') {
            if (!addr_literal_valid(e->in.helo))
                return reject_subj(e, &hs, r->invalid_helo_code, "5.5.2", "invalid ip address");
        } else if (!hostname_valid(e->in.helo) && !ipv4_valid(e->in.helo)) {
            return reject_subj(e, &hs, r->invalid_helo_code, "5.5.2", "Invalid name");
        }
        return N_DUNNO;
    }
    case OP_NON_FQDN_HELO: {
        if (!e->in.helo || e->in.helo[0] == '[')
            return N_DUNNO;
        struct subject hs = {e->in.helo, "Helo command", SK_HELO};
        if (!hostname_is_fqdn(e->in.helo))
            return reject_subj(e, &hs, r->non_fqdn_code, "5.5.2", "need fully-qualified hostname");
        return N_DUNNO;
    }
    case OP_UNKNOWN_HELO: {
        if (!e->in.helo || e->in.helo[0] == '[' || !e->r->dns)
            return N_DUNNO;
        struct subject hs = {e->in.helo, "Helo command", SK_HELO};
        e->pnode = n;
        e->psubj = hs;
        e->pstep = 0;
        str_copy(e->pquery, e->in.helo, sizeof(e->pquery));
        dns_domain_exists(e->r->dns, e->in.helo, dns_done, e);
        return N_PENDING;
    }
    case OP_NON_FQDN_SENDER:
    case OP_NON_FQDN_RCPT: {
        int snd = n->op == OP_NON_FQDN_SENDER;
        const char *addr = snd ? e->in.sender : e->in.recipient;
        if (!addr || !*addr)
            return N_DUNNO;
        const char *d = addr_domain(addr);
        struct subject as = {addr, snd ? "Sender address" : "Recipient address",
                             snd ? SK_SENDER : SK_RCPT};
        if (d[0] != '[' && (!strchr(addr, '@') || !hostname_is_fqdn(d)))
            return reject_subj(e, &as, r->non_fqdn_code, "5.5.2", "need fully-qualified address");
        return N_DUNNO;
    }
    case OP_UNKNOWN_SENDER_DOMAIN: {
        if (!e->in.sender)
            return N_DUNNO;
        struct subject ss = {e->in.sender, "Sender address", SK_SENDER};
        return unknown_domain_start(e, n, e->in.sender, &ss);
    }
    case OP_UNKNOWN_RCPT_DOMAIN: {
        if (!e->in.recipient)
            return N_DUNNO;
        struct subject rs = {e->in.recipient, "Recipient address", SK_RCPT};
        return unknown_domain_start(e, n, e->in.recipient, &rs);
    }
    case OP_UNLISTED_SENDER: {
        if (!e->in.sender)
            return N_DUNNO;
        e->sender_checked = 1;
        struct subject ss = {e->in.sender, "Sender address", SK_SENDER};
        return unlisted(e, e->in.sender, 1, &ss);
    }
    case OP_UNLISTED_RCPT: {
        if (!e->in.recipient)
            return N_DUNNO;
        e->rcpt_checked = 1;
        struct subject rs = {e->in.recipient, "Recipient address", SK_RCPT};
        return unlisted(e, e->in.recipient, 0, &rs);
    }
    case OP_LOGIN_MISMATCH:
    case OP_AUTH_LOGIN_MISMATCH:
    case OP_UNAUTH_LOGIN_MISMATCH:
    case OP_KNOWN_LOGIN_MISMATCH: {
        if (!e->in.sender)
            return N_DUNNO;
        struct subject ss = {e->in.sender, "Sender address", SK_SENDER};
        return login_mismatch(e, n, &ss);
    }
    case OP_REJECT_UNAUTH_DEST:
    case OP_DEFER_UNAUTH_DEST:
    case OP_PERMIT_AUTH_DEST:
    case OP_PERMIT_MX_BACKUP:
        return relay_check(e, n, s);
    case OP_CLASS:
        return push_list(e, n->cls, 0, s);
    }
    return N_DUNNO;
}

/* ------------------------------------------------------------------ */
/* The evaluation loop                                                 */

static enum nres push_list(struct eval *e, struct rlist *l, int owned, const struct subject *s)
{
    if (e->depth >= RESTRICT_DEPTH) {
        msg_warn("%s: too many levels of restriction classes or access table results",
                 l->param);
        if (owned)
            rlist_free(l);
        return config_error(e, NULL);
    }
    INVARIANT(e->depth < RESTRICT_DEPTH);
    struct frame *f = &e->stack[e->depth++];
    f->list = l;
    f->i = 0;
    f->owned = owned;
    f->subj = *s;
    f->name_copy = xstrdup(s->name ? s->name : "");
    f->subj.name = f->name_copy;
    return N_PUSHED;
}

static void pop_frame(struct eval *e)
{
    INVARIANT(e->depth > 0);
    struct frame *f = &e->stack[--e->depth];
    if (f->owned)
        rlist_free(f->list);
    f->list = NULL;
    free(f->name_copy);
    f->name_copy = NULL;
}

/* The restriction at the top frame finished without a decision. */
static void node_done(struct eval *e, int clear_warn)
{
    struct frame *f = &e->stack[e->depth - 1];
    f->i++;
    if (clear_warn && e->warn >= e->depth)
        e->warn = 0;
}

static void stage_subject(struct eval *e, struct subject *s, char *buf, size_t len)
{
    switch (e->stage) {
    case RS_CLIENT:
        str_fmt(buf, len, "%s[%s]", e->in.client_name ? e->in.client_name : "unknown",
                client_addr(e));
        *s = (struct subject){buf, "Client host", SK_CLIENT};
        break;
    case RS_HELO:
        *s = (struct subject){e->in.helo ? e->in.helo : "", "Helo command", SK_HELO};
        break;
    case RS_SENDER:
        *s = (struct subject){e->in.sender ? e->in.sender : "", "Sender address", SK_SENDER};
        break;
    case RS_RELAY:
    case RS_RECIPIENT:
        *s = (struct subject){e->in.recipient ? e->in.recipient : "", "Recipient address",
                              SK_RCPT};
        break;
    case RS_DATA:
        *s = (struct subject){"DATA", "Data command", SK_OTHER};
        break;
    case RS_END_OF_DATA:
        *s = (struct subject){"END-OF-MESSAGE", "End-of-data", SK_OTHER};
        break;
    case RS_ETRN:
        *s = (struct subject){e->in.etrn_domain ? e->in.etrn_domain : "", "Etrn command",
                              SK_OTHER};
        break;
    }
}

/* After the lists: deferrals that were waiting, implicit checks, saved state. */
static enum restrict_verdict finish(struct eval *e)
{
    struct restrict_actions *a = e->act;
    struct restrictions *r = e->r;
    char nb[600];
    struct subject s;
    stage_subject(e, &s, nb, sizeof(nb));
    e->res.verdict = RV_PERMIT;
    switch (e->stage) {
    case RS_CLIENT:
        a->dip_client = e->dip;
        a->dip_client_set = 1;
        break;
    case RS_HELO:
        a->dip_helo = e->dip;
        a->dip_helo_set = 1;
        break;
    case RS_SENDER:
        if (r->reject_unlisted_sender && !e->sender_checked && e->in.sender && *e->in.sender &&
            unlisted(e, e->in.sender, 1, &s) == N_REJECT)
            return e->res.verdict;
        a->dip_sender = e->dip;
        a->dip_sender_set = 1;
        break;
    case RS_RELAY:
        a->dip_relay = e->dip;
        a->dir_relay = e->dir;
        set_str(&a->relay_rcpt, e->in.recipient);
        break;
    case RS_RECIPIENT:
    case RS_DATA:
    case RS_END_OF_DATA:
    case RS_ETRN:
        if (e->stage == RS_RECIPIENT)
            set_str(&a->relay_rcpt, NULL);
        if (e->dip.active) {
            e->warn = 0;
            struct restrict_defer d = e->dip;
            e->dir.active = 0;
            return reply(e, d.code, d.dsn, "%s", d.text) == N_REJECT ? e->res.verdict : RV_PERMIT;
        }
        if (e->stage == RS_RECIPIENT && r->reject_unlisted_rcpt && !e->rcpt_checked &&
            !a->discard && unlisted(e, e->in.recipient, 0, &s) == N_REJECT)
            return e->res.verdict;
        if (e->stage == RS_RECIPIENT && !a->discard && over_quota(e) == N_REJECT)
            return e->res.verdict;
        break;
    }
    return RV_PERMIT;
}

/* Run until a verdict (1) or a pending DNS lookup (0). */
static int eval_run(struct eval *e, enum nres first)
{
    enum nres rc = first;
    char nb[600];
    for (;;) {
        if (rc == N_PENDING)
            return 0;
        /* N_RETRY, N_PUSHED: the restriction on top (or finish()) runs next */
        if (rc == N_REJECT) {
            while (e->depth)
                pop_frame(e);
            if (e->stage == RS_RECIPIENT || e->stage == RS_RELAY)
                set_str(&e->act->relay_rcpt, NULL);
            return 1;
        }
        if (rc == N_PERMIT) {
            while (e->depth)
                pop_frame(e);
            e->permitted = 1;
        } else if (rc == N_DUNNO || rc == N_WARN_SET) {
            if (e->depth)
                node_done(e, rc == N_DUNNO);
        }
        /* N_PUSHED: the new frame is on top */
        while (e->depth && e->stack[e->depth - 1].i >= e->stack[e->depth - 1].list->n) {
            pop_frame(e);                     /* a list ran out: no decision */
            if (e->depth)
                node_done(e, 1);
        }
        if (e->depth == 0) {
            if (e->iplan >= e->nplan) {
                table_wait_begin(&e->tw);
                enum restrict_verdict v = finish(e);
                if (table_wait_end(&e->tw))
                    return 0;                 /* table_woken() runs finish() again */
                table_wait_done(&e->tw);
                e->res.verdict = v;
                return 1;
            }
            struct subject s;
            stage_subject(e, &s, nb, sizeof(nb));
            e->warn = 0;
            rc = push_list(e, e->plan[e->iplan++], 0, &s);
            continue;
        }
        struct frame *f = &e->stack[e->depth - 1];
        table_wait_begin(&e->tw);
        rc = node_eval(e, &f->list->v[f->i], &f->subj);
        if (table_wait_end(&e->tw)) {
            INVARIANT(rc != N_PENDING);       /* never a DNS and a table wait at once */
            return 0;                         /* table_woken() runs the node again */
        }
        table_wait_done(&e->tw);
    }
}

static void eval_unlink(struct eval *e)
{
    struct restrictions *r = e->r;
    if (e->prev)
        e->prev->next = e->next;
    else if (r->evals == e)
        r->evals = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
}

static void eval_free(struct eval *e)
{
    eval_unlink(e);
    if (e->r->dns)
        dns_cancel(e->r->dns, e);
    smtpd_policy_cancel(e->r->policy, e);
    table_wait_cancel(&e->tw);
    while (e->depth)
        pop_frame(e);
    for (size_t i = 0; i < ARRAY_LEN(e->strs); i++)
        free(e->strs[i]);
    free(e);
}

/* Run a suspended evaluation on with rc; the callback when it is decided. */
static void eval_continue(struct eval *e, enum nres rc)
{
    if (!eval_run(e, rc))
        return;
    restrict_cb cb = e->cb;
    void *cbarg = e->arg;
    struct restrict_result res = e->res;
    eval_free(e);
    cb(&res, cbarg);
}

static void dns_done(int status, const char *result, void *arg)
{
    struct eval *e = arg;
    /* only a suspended evaluation, still linked (smtpd_restrict_cancel frees and unlinks) */
    INVARIANT(e->depth > 0 && e->depth <= RESTRICT_DEPTH);
    INVARIANT(e->r->evals == e || e->prev != NULL);
    eval_continue(e, node_resume(e, status, result));
}

/* A table answer for the suspended restriction (or finish()) arrived: run it again. */
static void table_woken(void *arg)
{
    struct eval *e = arg;
    INVARIANT(e->r->evals == e || e->prev != NULL);
    eval_continue(e, N_RETRY);
}

static const char *dup_in(struct eval *e, int slot, const char *s)
{
    if (!s)
        return NULL;
    e->strs[slot] = xstrdup(s);
    return e->strs[slot];
}

enum restrict_verdict smtpd_restrict_eval(struct restrictions *r, enum restrict_stage stage,
                                    const struct restrict_input *in,
                                    struct restrict_actions *actions,
                                    struct restrict_result *res, restrict_cb cb, void *arg)
{
    memset(res, 0, sizeof(*res));
    res->verdict = RV_PERMIT;
    /* Stages without their subject, and the rest of a discarded transaction. */
    if ((stage == RS_HELO && !in->helo) || (stage == RS_SENDER && !in->sender) ||
        ((stage == RS_RELAY || stage == RS_RECIPIENT) && !in->recipient) ||
        (stage == RS_ETRN && !in->etrn_domain))
        return RV_PERMIT;
    if (actions->discard && stage != RS_CLIENT && stage != RS_HELO && stage != RS_ETRN &&
        stage != RS_SENDER)
        return RV_PERMIT;
    if (stage == RS_RELAY && !r->relay_first)
        return RV_PERMIT;                 /* RS_RECIPIENT runs both lists, recipient first */

    struct eval *e = xcalloc(1, sizeof(*e));
    e->r = r;
    table_wait_init(&e->tw, table_woken, e);
    e->stage = stage;
    e->act = actions;
    e->cb = cb;
    e->arg = arg;
    e->in = *in;
    e->in.client_addr = dup_in(e, 0, in->client_addr);
    e->in.client_name = dup_in(e, 1, in->client_name);
    e->in.helo = dup_in(e, 2, in->helo);
    e->in.sender = dup_in(e, 3, in->sender);
    e->in.recipient = dup_in(e, 4, in->recipient);
    e->in.sasl_username = dup_in(e, 5, in->sasl_username);
    e->in.protocol = dup_in(e, 6, in->protocol);
    e->in.etrn_domain = dup_in(e, 7, in->etrn_domain);
    e->in.reverse_client_name = dup_in(e, 8, in->reverse_client_name);
    e->in.queue_id = dup_in(e, 9, in->queue_id);
    e->in.command = dup_in(e, 10, in->command);
    e->in.ccert_fingerprint = dup_in(e, 11, in->ccert_fingerprint);
    e->in.ccert_pkey_fingerprint = dup_in(e, 12, in->ccert_pkey_fingerprint);
    e->in.instance = dup_in(e, 13, in->instance);
    e->in.sasl_method = dup_in(e, 14, in->sasl_method);
    e->in.client_port = dup_in(e, 15, in->client_port);
    /* tls_protocol and tls_cipher are static strings of the TLS library's. */

    /* Where the defer_if_permit state starts (Postfix carries it client -> helo -> sender -> rcpt). */
    struct restrict_defer none = {0};
    const struct restrict_defer *sender_dip = actions->dip_sender_set ? &actions->dip_sender :
                                              actions->dip_helo_set ? &actions->dip_helo :
                                              actions->dip_client_set ? &actions->dip_client : &none;
    switch (stage) {
    case RS_CLIENT:
        e->dip = none;
        e->plan[e->nplan++] = r->lists[RS_CLIENT];
        break;
    case RS_HELO:
        e->dip = actions->dip_client_set ? actions->dip_client : none;
        e->plan[e->nplan++] = r->lists[RS_HELO];
        break;
    case RS_SENDER:
        e->dip = actions->dip_helo_set ? actions->dip_helo :
                 actions->dip_client_set ? actions->dip_client : none;
        e->plan[e->nplan++] = r->lists[RS_SENDER];
        break;
    case RS_RELAY:
        e->dip = *sender_dip;
        e->plan[e->nplan++] = r->lists[RS_RELAY];
        break;
    case RS_RECIPIENT:
        if (r->relay_first && actions->relay_rcpt && strcmp(actions->relay_rcpt, in->recipient) == 0) {
            e->dip = actions->dip_relay;
            e->dir = actions->dir_relay;
            e->plan[e->nplan++] = r->lists[RS_RECIPIENT];
        } else if (r->relay_first) {
            e->dip = *sender_dip;
            e->plan[e->nplan++] = r->lists[RS_RELAY];
            e->plan[e->nplan++] = r->lists[RS_RECIPIENT];
        } else {
            e->dip = *sender_dip;
            e->plan[e->nplan++] = r->lists[RS_RECIPIENT];
            e->plan[e->nplan++] = r->lists[RS_RELAY];
        }
        break;
    case RS_DATA:
    case RS_END_OF_DATA:
        e->dip = *sender_dip;
        e->plan[e->nplan++] = r->lists[stage];
        break;
    case RS_ETRN:
        e->dip = actions->dip_helo_set ? actions->dip_helo :
                 actions->dip_client_set ? actions->dip_client : none;
        e->plan[e->nplan++] = r->lists[RS_ETRN];
        break;
    }

    e->next = r->evals;
    if (r->evals)
        r->evals->prev = e;
    r->evals = e;
    if (!eval_run(e, N_DUNNO))
        return RV_PENDING;
    *res = e->res;
    eval_free(e);
    return res->verdict;
}

void smtpd_restrict_cancel(struct restrictions *r, void *arg)
{
    struct eval *e = r->evals;
    while (e) {
        struct eval *next = e->next;
        if (e->arg == arg)
            eval_free(e);
        e = next;
    }
}

static void free_message_actions(struct restrict_actions *a)
{
    for (size_t i = 0; i < a->nprepend; i++)
        free(a->prepend[i]);
    a->nprepend = 0;
    set_str(&a->redirect, NULL);
    set_str(&a->filter, NULL);
    set_str(&a->hold_reason, NULL);
    set_str(&a->discard_reason, NULL);
    set_str(&a->relay_rcpt, NULL);
    a->hold = a->discard = 0;
}

void smtpd_restrict_actions_reset(struct restrict_actions *a)
{
    free_message_actions(a);
    memset(&a->dip_sender, 0, sizeof(a->dip_sender));
    memset(&a->dip_relay, 0, sizeof(a->dip_relay));
    memset(&a->dir_relay, 0, sizeof(a->dir_relay));
    a->dip_sender_set = 0;
}

void smtpd_restrict_actions_free(struct restrict_actions *a)
{
    free_message_actions(a);
    memset(a, 0, sizeof(*a));
}

int smtpd_check_service(const struct config *cfg, const struct master_service *svc, char *err,
                        size_t errlen)
{
    (void)svc;
    /* Syntax, and the access tables named in the lists (no resolver: tables only). */
    struct restrictions *rs = smtpd_restrictions_new(cfg, NULL, NULL, err, errlen);
    smtpd_restrictions_free(rs);
    return rs ? 0 : -1;
}

unsigned smtpd_receive_overrides(const struct config *cfg)
{
    static const struct { const char *word; unsigned bit; } words[] = {
        {"no_unknown_recipient_checks", SMTPD_RO_NO_UNKNOWN_RCPT},
        {"no_address_mappings", SMTPD_RO_NO_ADDRESS_MAPS},
        {"no_header_body_checks", SMTPD_RO_NO_HEADER_BODY},
        {"no_milters", SMTPD_RO_NO_MILTERS},
    };
    unsigned bits = 0;
    char **v = cfg_get_list(cfg, P_receive_override_options);
    for (char **p = v; *p; p++) {
        size_t i = 0;
        while (i < ARRAY_LEN(words) && !str_ieq(*p, words[i].word))
            i++;
        if (i < ARRAY_LEN(words))
            bits |= words[i].bit;
        else
            msg_warn("receive_override_options: unknown keyword \"%s\" ignored", *p);
    }
    strv_free(v);
    return bits;
}
