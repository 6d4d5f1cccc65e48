/*
 * restrict.h - smtpd access restrictions, evaluated with Postfix semantics.
 *
 * Owns: parsing the smtpd_*_restrictions lists and smtpd_restriction_classes
 * at worker start, and evaluating them for a session at each stage.
 * Evaluation may need DNS (reject_unknown_*_domain, reverse lookups), so it
 * is asynchronous: restrict_eval() either answers at once or returns
 * RESTRICT_PENDING and calls cb later from the event loop.
 *
 * smtpd_delay_reject=yes (default): client, helo and sender restrictions are
 * evaluated at RCPT TO time (the session calls restrict_eval for stages
 * CLIENT, HELO, SENDER, then RELAY and RECIPIENT, at RCPT), as Postfix does.
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
    RV_PENDING       /* only as a return of restrict_eval: callback will follow */
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
};

struct restrict_result {
    enum restrict_verdict verdict;
    int code;                    /* 450, 554 ... */
    char dsn[16];                /* "5.7.1" */
    char text[512];              /* e.g. "<x@y>: Relay access denied" */
    int warn_only;               /* warn_if_reject applied: log, do not reject */
};

typedef void (*restrict_cb)(const struct restrict_result *res, void *arg);

/* Parse all restriction lists of cfg; NULL with err on a syntax error. */
struct restrictions *restrictions_new(const struct config *cfg, struct dns *dns,
                                      struct resolver *resolver, char *err, size_t errlen);
void restrictions_free(struct restrictions *r);

/*
 * Evaluate the list for `stage`. Returns RV_PERMIT/RV_REJECT/RV_DEFER with
 * *res filled in, or RV_PENDING (cb(res, arg) is called later, exactly
 * once, unless restrict_cancel(r, arg) is called first).
 * actions accumulates PREPEND/HOLD/DISCARD/REDIRECT/FILTER.
 */
enum restrict_verdict restrict_eval(struct restrictions *r, enum restrict_stage stage,
                                    const struct restrict_input *in,
                                    struct restrict_actions *actions,
                                    struct restrict_result *res, restrict_cb cb, void *arg);
void restrict_cancel(struct restrictions *r, void *arg);
void restrict_actions_reset(struct restrict_actions *a);

/* Is the client in mynetworks? (also used for XCLIENT-free relay decisions) */
int restrict_client_in_mynetworks(struct restrictions *r, const char *client_addr);

#endif
