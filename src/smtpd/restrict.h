/*
 * restrict.h - smtpd access restrictions, evaluated with Postfix semantics.
 *
 * Owns: parsing the smtpd_*_restrictions lists and smtpd_restriction_classes
 * at worker start, and evaluating them for a session at each stage.
 * Evaluation may need DNS (reject_unknown_*_domain, reverse lookups), so it
 * is asynchronous: smtpd_restrict_eval() either answers at once or returns
 * RESTRICT_PENDING and calls cb later from the event loop.
 *
 * smtpd_delay_reject=yes (default): client, helo and sender restrictions are
 * evaluated at RCPT TO time (the session calls smtpd_restrict_eval for stages
 * CLIENT, HELO, SENDER, then RELAY and RECIPIENT, at RCPT), as Postfix does.
 *
 * How a session drives it (Postfix smtpd_check.c semantics):
 *  - connect/HELO/MAIL (smtpd_delay_reject=no) or the first RCPT (=yes):
 *    RS_CLIENT, RS_HELO (skipped: PERMIT when no HELO was given), RS_SENDER.
 *    A stage that answers RV_PERMIT need not be evaluated again (the
 *    session may cache it; client/helo per session, sender per MAIL).
 *  - every RCPT: RS_RELAY then RS_RECIPIENT. RS_RECIPIENT evaluates the
 *    relay list itself when RS_RELAY was not called for this recipient, so
 *    calling RS_RECIPIENT alone is safe (never an open relay).
 *    RS_RECIPIENT also applies smtpd_reject_unlisted_recipient (after the
 *    lists, even after an explicit permit), and RS_SENDER applies
 *    smtpd_reject_unlisted_sender.
 *  - DATA: RS_DATA; end of message: RS_END_OF_DATA; ETRN: RS_ETRN.
 *  - defer_if_permit (the restriction, DEFER_IF_PERMIT results, and
 *    temporary DNS failures with reject_tempfail_action=defer_if_permit)
 *    carries over from the client, helo and sender stages and becomes a
 *    deferral only at the end of RCPT/DATA/END-OF-DATA/ETRN when nothing
 *    rejected; this state lives in struct restrict_actions, so use one
 *    struct per session (smtpd_restrict_actions_reset() per transaction keeps
 *    the client/helo part).
 *  - warn_if_reject, WARN, INFO, HOLD, DISCARD ... are logged here in
 *    Postfix's format ("NOQUEUE: reject_warning: RCPT from ..."); a
 *    warn_if_reject'ed rejection does not end the list, so verdicts never
 *    carry warn_only.
 *  - A reply with code 421 or 521 (from an access table) means: send it
 *    and disconnect.
 *  - After DISCARD, RS_RELAY/RS_RECIPIENT/RS_DATA/RS_END_OF_DATA permit
 *    everything for the rest of the transaction (Postfix does the same).
 *
 * Not implemented (accepted in main.cf with a warning at start, then
 * ignored): reject_unverified_sender/recipient, check_*_a_access,
 * check_*_mx_access, check_*_ns_access. "sleep N" is a no-op.
 * Client certificates (smtpd_tls_ask_ccert): permit_tls_all_clientcerts
 * needs a chain trusted by smtpd_tls_CAfile/CApath; permit_tls_clientcerts
 * (relay_clientcerts) and check_ccert_access match the certificate's
 * fingerprint, then its public key's, trusted or not, as Postfix does.
 * check_policy_service answers with smtpd_policy_service_default_action.
 * permit_mx_backup permits only authorized destinations (no MX lookup).
 * The BCC access action is logged and ignored. smtpd_reject_footer is not
 * appended.
 */
#ifndef YUBIN_RESTRICT_H
#define YUBIN_RESTRICT_H

#include <stddef.h>

struct config;
struct dns;
struct resolver;
struct restrictions;

enum restrict_stage {
    RS_CLIENT, RS_HELO, RS_SENDER, RS_RELAY, RS_RECIPIENT, RS_DATA, RS_END_OF_DATA, RS_ETRN
};

enum restrict_verdict {
    RV_PERMIT = 0,   /* go on (also "nothing matched") */
    RV_REJECT,       /* code/dsn/text filled in */
    RV_DEFER,        /* 4xx */
    RV_PENDING       /* only as a return of smtpd_restrict_eval: callback will follow */
};

/* What the restrictions may look at; owned by the session, valid during eval. */
struct restrict_input {
    const char *client_addr;     /* "127.0.0.1" */
    const char *client_name;     /* verified reverse name or "unknown" */
    const char *helo;            /* NULL if none */
    const char *sender;          /* NULL before MAIL, "" for <> */
    const char *recipient;       /* current RCPT (NULL outside RCPT) */
    const char *sasl_username;   /* NULL if not authenticated */
    const char *protocol;        /* "SMTP", "ESMTP" */
    const char *etrn_domain;
    /* Added with restrict.c; zero/NULL means "not known" and is safe. */
    const char *reverse_client_name; /* unverified PTR name or "unknown"; NULL: client_name */
    int client_name_status;      /* DNS_OK/DNS_NOTFOUND/DNS_TEMPFAIL (dns.h) of client_name;
                                  * 0 with client_name "unknown" counts as NOTFOUND */
    int reverse_name_status;     /* same for reverse_client_name */
    int encrypted;               /* TLS is active (reject_plaintext_session) */
    int unauth_pipelining;       /* the session saw improper pipelining */
    int ccert_trusted;           /* the client certificate chains to smtpd_tls_CAfile/CApath */
    const char *ccert_fingerprint;      /* smtpd_tls_fingerprint_digest of the client
                                         * certificate ("AB:CD:..."), NULL: none presented */
    const char *ccert_pkey_fingerprint; /* the same digest of its public key */
    int nrcpt;                   /* recipients accepted so far in this transaction */
    const char *queue_id;        /* for log lines; NULL: "NOQUEUE" */
    const char *command;         /* for log lines ("RCPT", "EHLO" ...); NULL: from the stage */
    /* For policy servers (check_policy_service); NULL/0: sent empty. */
    const char *instance;        /* one per mail transaction */
    const char *sasl_method;
    const char *client_port;
    const char *tls_protocol, *tls_cipher;
    int tls_bits;
    long long size;              /* MAIL SIZE=, or the message size at END-OF-MESSAGE */
};

/* Side effects an access(5) action can ask for (kept per message). */
struct restrict_actions {
    char *prepend[8];            /* PREPEND header lines (malloc'd) */
    size_t nprepend;
    int hold;                    /* HOLD */
    int discard;                 /* DISCARD */
    char *redirect;              /* REDIRECT addr */
    char *filter;                /* FILTER transport:dest */
    char *hold_reason, *discard_reason;
    /* Evaluation state carried between stages; restrict.c's business.
     * smtpd_restrict_actions_reset() keeps the client and helo parts. */
    struct restrict_defer {
        int active;
        int code;
        char dsn[16];
        char text[512];
    } dip_client, dip_helo, dip_sender, dip_relay, dir_relay;
    int dip_client_set, dip_helo_set, dip_sender_set;   /* those stages were evaluated */
    char *relay_rcpt;            /* the recipient RS_RELAY was evaluated for */
};

struct restrict_result {
    enum restrict_verdict verdict;
    int code;                    /* 450, 554 ... */
    char dsn[16];                /* "5.7.1" */
    char text[512];              /* e.g. "<x@y>: Relay access denied" */
    int warn_only;               /* never set: warn_if_reject is handled inside (see above) */
};

typedef void (*restrict_cb)(const struct restrict_result *res, void *arg);

/* Parse all restriction lists of cfg; NULL with err on a syntax error. */
/* Ask policy servers through p (policy.h) instead of answering
 * smtpd_policy_service_default_action; p outlives r. */
struct smtpd_policy;
void smtpd_restrict_set_policy(struct restrictions *r, struct smtpd_policy *p);

struct restrictions *smtpd_restrictions_new(const struct config *cfg, struct dns *dns,
                                      struct resolver *resolver, char *err, size_t errlen);
void smtpd_restrictions_free(struct restrictions *r);

/*
 * Evaluate the list for `stage`. Returns RV_PERMIT/RV_REJECT/RV_DEFER with
 * *res filled in, or RV_PENDING (cb(res, arg) is called later, exactly
 * once, unless smtpd_restrict_cancel(r, arg) is called first).
 * actions accumulates PREPEND/HOLD/DISCARD/REDIRECT/FILTER.
 */
enum restrict_verdict smtpd_restrict_eval(struct restrictions *r, enum restrict_stage stage,
                                    const struct restrict_input *in,
                                    struct restrict_actions *actions,
                                    struct restrict_result *res, restrict_cb cb, void *arg);
void smtpd_restrict_cancel(struct restrictions *r, void *arg);
/* New transaction: free message actions, keep the session's client/helo state. */
void smtpd_restrict_actions_reset(struct restrict_actions *a);
/* Session end: free everything (the struct may be reused after memset 0). */
void smtpd_restrict_actions_free(struct restrict_actions *a);

/* Is the client in mynetworks? (also used for XCLIENT-free relay decisions) */
int smtpd_restrict_client_in_mynetworks(struct restrictions *r, const char *client_addr);

/* receive_override_options keywords (Postfix's; no_milters turns off smtpd_milters). */
#define SMTPD_RO_NO_UNKNOWN_RCPT    0x1   /* no_unknown_recipient_checks */
#define SMTPD_RO_NO_ADDRESS_MAPS    0x2   /* no_address_mappings: qmgr skips virtual_alias_maps */
#define SMTPD_RO_NO_HEADER_BODY     0x4   /* no_header_body_checks */
#define SMTPD_RO_NO_MILTERS         0x8   /* no_milters */
/* The receive_override_options of cfg (unknown words are logged). */
unsigned smtpd_receive_overrides(const struct config *cfg);

#endif
