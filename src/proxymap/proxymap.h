/*
 * proxymap.h - inside the proxymap service: the approval of tables
 * (proxymap.c) and the socket I/O of one connection (proxymap_io.c).
 */
#ifndef YUBIN_PROXYMAP_H
#define YUBIN_PROXYMAP_H

#include <signal.h>
#include <stddef.h>

struct config;
struct pmap_tables;

/* The tables proxy_read_maps approves (see proxymap.c). */
struct pmap_tables *proxymap_tables_new(const struct config *cfg);
void proxymap_tables_free(struct pmap_tables *pt);
int proxymap_approved(const struct pmap_tables *pt, const char *spec);

/*
 * Answer one request line (without LF; line[len] is writable) into reply
 * (a complete reply line). Never fails: every problem is a reply.
 */
struct buf;
void proxymap_answer(struct pmap_tables *pt, char *line, size_t len, struct buf *reply);

/* proxymap_io.c: read one request, answer it, close fd. */
void proxymap_serve(int fd, struct pmap_tables *pt);

#endif
