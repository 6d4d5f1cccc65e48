/*
 * queue_list.h - the queue as a list of messages, and mailq's report.
 *
 * Owns: collecting every message of the queue (journal records, deferred
 * and hold files) with its envelope and size, and printing them in
 * Postfix's mailq format. Used by `yubin queue` (src/cmd) and by qmgr,
 * which answers ordinary users' "C list" with the same report.
 */
#ifndef YUBIN_QUEUE_LIST_H
#define YUBIN_QUEUE_LIST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib-queue/queue.h"

struct queue_entry {
    struct qref ref;
    char where[12];           /* journal, deferred, hold */
    struct qenvelope env;
    size_t size;
};

struct queue_entries {
    struct queue_entry *v;
    size_t n, cap;
    const char *only;         /* a queue ID, "ALL"/NULL for every message */
};

/* flags: QUEUE_SCAN_FIX only when acting on the files (qmgr is down). 0 or -1 (errno). */
int queue_entries_load(const char *queue_dir, const char *only, int flags,
                       struct queue_entries *es);
void queue_entries_free(struct queue_entries *es);
/* "Mon Nov 23 13:01:25", as mailq prints the arrival time. */
void queue_format_time(uint64_t usec, char *out, size_t len);
/* mailq's report of the whole queue. 0, or -1 when the queue cannot be read. */
int queue_print_list(FILE *f, const char *queue_dir);

#endif
