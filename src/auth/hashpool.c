/*
 * hashpool.c - see hashpool.h. Worker threads take jobs from a FIFO under
 * a mutex; finished jobs go to a done list and an eventfd wakes the loop.
 */
#include "auth/hashpool.h"
#include "lib/evloop.h"
#include "lib/log.h"
#include "lib/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MAX_THREADS 8

struct hashpool {
    struct evloop *loop;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct hash_job *head, *tail;   /* queued */
    struct hash_job *done;          /* finished, newest first */
    int stop;
    int efd;
    pthread_t threads[MAX_THREADS];
    int nthreads;
    size_t pending;
};

struct hash_job *auth_hash_job_new(enum hash_job_kind kind)
{
    struct hash_job *j = xcalloc(1, sizeof(*j));
    j->kind = kind;
    return j;
}

void auth_hash_job_set_password(struct hash_job *j, const char *password, size_t pwlen)
{
    if (j->password) {
        OPENSSL_cleanse(j->password, j->pwlen);
        free(j->password);
    }
    j->password = xmalloc(pwlen + 1);
    if (pwlen)
        memcpy(j->password, password, pwlen);
    j->password[pwlen] = '\0';
    j->pwlen = pwlen;
}

void auth_hash_job_free(struct hash_job *j)
{
    if (!j)
        return;
    if (j->password) {
        OPENSSL_cleanse(j->password, j->pwlen);
        free(j->password);
    }
    if (j->stored) {
        OPENSSL_cleanse(j->stored, strlen(j->stored));
        free(j->stored);
    }
    free(j->default_scheme);
    OPENSSL_cleanse(&j->secret, sizeof(j->secret));
    free(j);
}

static void run_job(struct hash_job *j)
{
    switch (j->kind) {
    case HASH_VERIFY:
        j->err[0] = '\0';
        j->result = auth_scheme_verify(j->stored ? j->stored : "", j->default_scheme,
                                  j->password ? j->password : "", j->pwlen, j->err,
                                  sizeof(j->err));
        break;
    case HASH_SCRAM:
        auth_scram_from_password(j->password ? j->password : "", j->pwlen, j->salt, j->saltlen,
                            j->iterations, &j->secret);
        j->result = SCHEME_MATCH;
        break;
    }
}

static void *worker(void *arg)
{
    struct hashpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stop)
            pthread_cond_wait(&p->cond, &p->lock);
        if (!p->head)
            break;   /* stopping and nothing left */
        struct hash_job *j = p->head;
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        run_job(j);
        pthread_mutex_lock(&p->lock);
        j->next = p->done;
        p->done = j;
        uint64_t one = 1;
        if (write(p->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            msg_warn("hash pool: eventfd write: %s", strerror(errno));
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void on_done(int fd, int events, void *arg)
{
    (void)events;
    struct hashpool *p = arg;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        msg_warn("hash pool: eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&p->lock);
    struct hash_job *list = p->done;
    p->done = NULL;
    pthread_mutex_unlock(&p->lock);
    /* Oldest first: reverse the list. */
    struct hash_job *rev = NULL;
    while (list) {
        struct hash_job *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        struct hash_job *n = rev->next;
        rev->next = NULL;
        p->pending--;
        rev->done(rev);
        rev = n;
    }
}

struct hashpool *auth_hashpool_new(struct evloop *loop, int threads)
{
    struct hashpool *p = xcalloc(1, sizeof(*p));
    p->loop = loop;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0)
        msg_fatal("eventfd: %s", strerror(errno));
    if (ev_fd_add(loop, p->efd, EV_READ, on_done, p) < 0)
        msg_fatal("hash pool: cannot watch its eventfd");
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)n : 1;
    }
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    for (int i = 0; i < threads; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker, p);
        if (rc != 0)
            msg_fatal("hash pool: pthread_create: %s", strerror(rc));
        p->nthreads++;
    }
    return p;
}

void auth_hashpool_free(struct hashpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = 1;
    /* Queued jobs are dropped: nobody will call them back. */
    struct hash_job *q = p->head;
    p->head = p->tail = NULL;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (q) {
        struct hash_job *n = q->next;
        auth_hash_job_free(q);
        q = n;
    }
    while (p->done) {
        struct hash_job *n = p->done->next;
        auth_hash_job_free(p->done);
        p->done = n;
    }
    ev_fd_del(p->loop, p->efd);
    close(p->efd);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

void auth_hashpool_submit(struct hashpool *p, struct hash_job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->pending++;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

size_t auth_hashpool_pending(const struct hashpool *p)
{
    return p->pending;
}
