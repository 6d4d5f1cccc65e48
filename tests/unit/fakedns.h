/*
 * fakedns.h - a tiny authoritative DNS responder for unit tests.
 *
 * Runs in a thread on 127.0.0.1 (UDP, ephemeral port) and answers from a
 * canned zone, so DNS code is tested against real packets through c-ares
 * without ever asking a server off this machine. Usage:
 *
 *   static const struct fake_rr zone[] = {
 *       {"mx.test", FAKE_MX, "10 mail.mx.test"},
 *       {"a.test", FAKE_A, "192.0.2.1"},
 *       {"broken.test", 0, "!SERVFAIL"},      // any type; also !NXDOMAIN !REFUSED !DROP
 *       {"slow.test", FAKE_A, "!DROP"},        // this type only
 *   };
 *   int port = fakedns_start(zone, n);  ... setenv YUBIN_DNS_SERVERS ...
 *   fakedns_stop();
 *
 * A name that appears in the zone with other types gets NOERROR/no data;
 * a name not in the zone gets NXDOMAIN. One CNAME level is followed.
 * TXT data: character-strings separated by '|'.
 */
#ifndef YUBIN_FAKEDNS_H
#define YUBIN_FAKEDNS_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_A     1
#define FAKE_CNAME 5
#define FAKE_PTR   12
#define FAKE_MX    15
#define FAKE_TXT   16
#define FAKE_AAAA  28

struct fake_rr {
    const char *name;
    int type;              /* 0: any type (only with "!" rcodes) */
    const char *data;
};

static struct {
    const struct fake_rr *zone;
    size_t n;
    int fd, stop[2];
    pthread_t th;
    volatile int queries;
    char last_qname[256];
    volatile int last_qtype;
} fakedns;

/* Append a domain name in wire form; 0 on success. */
static int fakedns_put_name(unsigned char *p, size_t *off, size_t cap, const char *name)
{
    const char *s = name;
    while (*s && strcmp(s, ".") != 0) {
        const char *dot = strchr(s, '.');
        size_t len = dot ? (size_t)(dot - s) : strlen(s);
        if (len == 0 || len > 63 || *off + len + 1 >= cap)
            return -1;
        p[(*off)++] = (unsigned char)len;
        memcpy(p + *off, s, len);
        *off += len;
        s += len;
        if (*s == '.')
            s++;
    }
    if (*off + 1 > cap)
        return -1;
    p[(*off)++] = 0;
    return 0;
}

static int fakedns_put_rr(unsigned char *p, size_t *off, size_t cap, const char *owner,
                          const struct fake_rr *rr)
{
    unsigned char rd[600];
    size_t rdlen = 0;
    switch (rr->type) {
    case FAKE_A:
        if (inet_pton(AF_INET, rr->data, rd) != 1)
            return -1;
        rdlen = 4;
        break;
    case FAKE_AAAA:
        if (inet_pton(AF_INET6, rr->data, rd) != 1)
            return -1;
        rdlen = 16;
        break;
    case FAKE_MX: {
        int pref = atoi(rr->data);
        const char *host = strchr(rr->data, ' ');
        rd[0] = (unsigned char)(pref >> 8);
        rd[1] = (unsigned char)pref;
        rdlen = 2;
        if (!host || fakedns_put_name(rd, &rdlen, sizeof(rd), host + 1) < 0)
            return -1;
        break;
    }
    case FAKE_PTR:
    case FAKE_CNAME:
        if (fakedns_put_name(rd, &rdlen, sizeof(rd), rr->data) < 0)
            return -1;
        break;
    case FAKE_TXT: {
        const char *s = rr->data;
        for (;;) {
            const char *bar = strchr(s, '|');
            size_t len = bar ? (size_t)(bar - s) : strlen(s);
            if (len > 255 || rdlen + len + 1 > sizeof(rd))
                return -1;
            rd[rdlen++] = (unsigned char)len;
            memcpy(rd + rdlen, s, len);
            rdlen += len;
            if (!bar)
                break;
            s = bar + 1;
        }
        break;
    }
    default:
        return -1;
    }
    if (fakedns_put_name(p, off, cap, owner) < 0 || *off + 10 + rdlen > cap)
        return -1;
    unsigned char *h = p + *off;
    h[0] = 0;
    h[1] = (unsigned char)rr->type;
    h[2] = 0;
    h[3] = 1;                                  /* IN */
    h[4] = 0; h[5] = 0; h[6] = 0x0e; h[7] = 0x10;   /* TTL 3600 */
    h[8] = (unsigned char)(rdlen >> 8);
    h[9] = (unsigned char)rdlen;
    memcpy(h + 10, rd, rdlen);
    *off += 10 + rdlen;
    return 0;
}

/* Build the reply to one query; returns its length, 0 to stay silent. */
static size_t fakedns_answer(const unsigned char *q, size_t qlen, unsigned char *p, size_t cap)
{
    char qname[256];
    size_t off = 12, nlen = 0;
    if (qlen < 17)
        return 0;
    while (off < qlen && q[off] != 0) {
        size_t l = q[off++];
        if (l > 63 || off + l > qlen || nlen + l + 2 > sizeof(qname))
            return 0;
        if (nlen)
            qname[nlen++] = '.';
        memcpy(qname + nlen, q + off, l);
        nlen += l;
        off += l;
    }
    qname[nlen] = 0;
    off++;
    if (off + 4 > qlen)
        return 0;
    int qtype = q[off] << 8 | q[off + 1];
    off += 4;
    size_t qend = off;
    snprintf(fakedns.last_qname, sizeof(fakedns.last_qname), "%s", qname);
    fakedns.last_qtype = qtype;

    int rcode = 0, exists = 0, ancount = 0;
    memcpy(p, q, qend);                        /* header + question */
    size_t po = qend;
    const char *owner = qname;
    for (int pass = 0; pass < 2; pass++) {
        const char *cname = NULL;
        for (size_t i = 0; i < fakedns.n; i++) {
            const struct fake_rr *rr = &fakedns.zone[i];
            if (strcasecmp(rr->name, owner) != 0)
                continue;
            exists = 1;
            if (rr->data[0] == '!' && (rr->type == 0 || rr->type == qtype)) {
                if (strcmp(rr->data, "!DROP") == 0)
                    return 0;
                rcode = strcmp(rr->data, "!NXDOMAIN") == 0 ? 3 :
                        strcmp(rr->data, "!REFUSED") == 0 ? 5 : 2;
                goto done;
            }
            if (rr->data[0] == '!')
                continue;
            if (rr->type == qtype || (rr->type == FAKE_CNAME && qtype != FAKE_CNAME)) {
                if (fakedns_put_rr(p, &po, cap, owner, rr) < 0)
                    return 0;
                ancount++;
                if (rr->type == FAKE_CNAME)
                    cname = rr->data;
            }
        }
        if (!cname)
            break;
        owner = cname;
    }
    if (!exists)
        rcode = 3;
done:
    if (rcode)
        po = qend, ancount = 0;
    p[2] = 0x84 | (q[2] & 0x01);               /* QR, AA, RD copied */
    p[3] = (unsigned char)(0x80 | rcode);      /* RA */
    p[6] = (unsigned char)(ancount >> 8);
    p[7] = (unsigned char)ancount;
    p[8] = p[9] = p[10] = p[11] = 0;
    return po;
}

static void *fakedns_run(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd pf[2] = {{fakedns.fd, POLLIN, 0}, {fakedns.stop[0], POLLIN, 0}};
        if (poll(pf, 2, -1) < 0)
            continue;
        if (pf[1].revents)
            return NULL;
        unsigned char q[1500], p[1500];
        struct sockaddr_storage from;
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(fakedns.fd, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
        if (n <= 0)
            continue;
        __atomic_add_fetch(&fakedns.queries, 1, __ATOMIC_SEQ_CST);
        size_t r = fakedns_answer(q, (size_t)n, p, 512);
        if (r)
            sendto(fakedns.fd, p, r, 0, (struct sockaddr *)&from, flen);
    }
}

static int fakedns_start(const struct fake_rr *zone, size_t n)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    fakedns.zone = zone;
    fakedns.n = n;
    fakedns.queries = 0;
    fakedns.fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fakedns.fd < 0 || bind(fakedns.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        getsockname(fakedns.fd, (struct sockaddr *)&sin, &len) < 0 || pipe(fakedns.stop) < 0) {
        perror("fakedns");
        exit(2);
    }
    pthread_create(&fakedns.th, NULL, fakedns_run, NULL);
    char env[64];
    snprintf(env, sizeof(env), "127.0.0.1:%d", ntohs(sin.sin_port));
    setenv("YUBIN_DNS_SERVERS", env, 1);
    return ntohs(sin.sin_port);
}

static void fakedns_stop(void)
{
    if (write(fakedns.stop[1], "x", 1) != 1)
        perror("fakedns stop");
    pthread_join(fakedns.th, NULL);
    close(fakedns.fd);
    close(fakedns.stop[0]);
    close(fakedns.stop[1]);
}

#endif
