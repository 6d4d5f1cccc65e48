/*
 * queue_list.c - see queue_list.h.
 */
#include "lib-queue/queue_list.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>


static void collect(const struct qref *ref, const struct qenvelope *env, size_t content_len,
                    const char *where, void *arg)
{
    struct queue_entries *es = arg;
    if (es->only && strcmp(es->only, "ALL") != 0 && strcmp(es->only, env->qid) != 0)
        return;
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 64;
        es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
    }
    struct queue_entry *e = &es->v[es->n++];
    memset(e, 0, sizeof(*e));
    e->ref = *ref;
    str_copy(e->where, where, sizeof(e->where));
    qenv_copy(&e->env, env);
    e->size = content_len;
}

void queue_entries_free(struct queue_entries *es)
{
    for (size_t i = 0; i < es->n; i++)
        qenv_free(&es->v[i].env);
    free(es->v);
    es->v = NULL;
    es->n = es->cap = 0;
}

int queue_entries_load(const char *queue_dir, const char *only, int flags,
                       struct queue_entries *es)
{
    memset(es, 0, sizeof(*es));
    es->only = only;
    return queue_scan_flags(queue_dir, flags, collect, es) < 0 ? -1 : 0;
}

/* ---- list (mailq) ---- */

void queue_format_time(uint64_t usec, char *out, size_t len)
{
    time_t t = (time_t)(usec / 1000000u);
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(out, len, "%a %b %e %H:%M:%S", &tm) == 0)
        str_copy(out, "?", len);
}

static void print_entry(FILE *f, const struct queue_entry *e)
{
    char when[64], id[QUEUE_ID_MAX + 2];
    char mark = strcmp(e->where, "hold") == 0 ? '!' : strcmp(e->where, "journal") == 0 ? '*' : 0;
    if (mark)
        str_fmt(id, sizeof(id), "%s%c", e->env.qid, mark);
    else
        str_copy(id, e->env.qid, sizeof(id));
    queue_format_time(e->env.arrival_usec, when, sizeof(when));
    fprintf(f, "%-17s %8zu %s %s\n", id, e->size, when,
            *e->env.sender ? e->env.sender : "MAILER-DAEMON");
    const char *last_reason = NULL;
    for (size_t i = 0; i < e->env.nrcpts; i++) {
        const struct qrcpt *r = &e->env.rcpts[i];
        if (r->done)
            continue;
        if (r->reason && *r->reason && (!last_reason || strcmp(last_reason, r->reason) != 0))
            fprintf(f, "%23s(%s)\n", "", r->reason);
        last_reason = r->reason;
        fprintf(f, "%47s%s\n", "", r->addr);
    }
    fputc('\n', f);
}

int queue_print_list(FILE *f, const char *queue_dir)
{
    struct queue_entries es;
    if (queue_entries_load(queue_dir, NULL, 0, &es) < 0)
        return -1;
    if (es.n == 0) {
        fprintf(f, "Mail queue is empty\n");
        queue_entries_free(&es);
        return 0;
    }
    unsigned long long bytes = 0;
    fprintf(f, "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n");
    for (size_t i = 0; i < es.n; i++) {
        print_entry(f, &es.v[i]);
        bytes += es.v[i].size;
    }
    fprintf(f, "-- %llu Kbytes in %zu Request%s.\n", bytes / 1024, es.n, es.n == 1 ? "" : "s");
    queue_entries_free(&es);
    return 0;
}

