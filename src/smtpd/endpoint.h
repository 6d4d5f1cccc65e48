/*
 * endpoint.h - connecting to the servers smtpd consults while a session
 * waits: policy services (check_policy_service) and milters.
 *
 * Owns: the endpoint syntax both share, "inet:host:port",
 * "inet:[host]:port" (an empty host is 127.0.0.1), "unix:path",
 * "local:path" or a bare path (relative paths are under queue_directory,
 * as Postfix has them), and the non-blocking connect.
 */
#ifndef YUBIN_SMTPD_ENDPOINT_H
#define YUBIN_SMTPD_ENDPOINT_H

/* A socket connecting to name (the connect may be in progress), or -1 with errno. */
int smtpd_endpoint_connect(const char *name, const char *queue_dir);

#endif
