/*
 * policy.h - smtpd's client of policy servers (check_policy_service, the
 * protocol of Postfix's SMTPD_POLICY_README).
 *
 * Owns: the connections to the servers named after check_policy_service
 * (inet:host:port, unix:/path, unix:private/name or private/name under the
 * queue directory), kept open and reused one request at a time
 * (smtpd_policy_service_max_idle, _max_ttl, _request_limit), the request
 * and reply framing (name=value lines ended by an empty line; the reply's
 * "action=" attribute), the deadline of a request
 * (smtpd_policy_service_timeout), and the retries
 * (smtpd_policy_service_try_limit, _retry_delay), each failure logged as
 * "warning: problem talking to server NAME: why". What the action means
 * is the restrictions' business (restrict.c applies it as an access(5)
 * result, or smtpd_policy_service_default_action when the server failed).
 */
#ifndef YUBIN_SMTPD_POLICY_H
#define YUBIN_SMTPD_POLICY_H

struct config;
struct evloop;
struct smtpd_policy;

#define SMTPD_POLICY_REQUEST_MAX 16384   /* one request's attributes */
#define SMTPD_POLICY_REPLY_MAX   8192    /* one reply's attributes */

/* ok: the server answered, action is its "action=" value (never NULL then). */
typedef void (*smtpd_policy_cb)(void *arg, int ok, const char *action);

struct smtpd_policy *smtpd_policy_new(struct evloop *loop, const struct config *cfg,
                                      const char *queue_dir);
void smtpd_policy_free(struct smtpd_policy *p);

/*
 * Ask server (as written after check_policy_service) with request (the
 * attribute lines, each ending in LF, without the final empty line). The
 * callback always comes later from the event loop, never from inside this
 * call. arg identifies the question for smtpd_policy_cancel().
 */
void smtpd_policy_ask(struct smtpd_policy *p, const char *server, const char *request,
                      smtpd_policy_cb cb, void *arg);
/* Forget every question asked with arg (its callback will not come). */
void smtpd_policy_cancel(struct smtpd_policy *p, void *arg);

#endif
