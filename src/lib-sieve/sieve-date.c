/*
 * sieve-date.c - the date and currentdate tests (RFC 5260): RFC 5322
 * dates read from a header field (for Received:, the date after the last
 * ';'), converted to a zone (":zone +hhmm", ":originalzone", or the
 * server's local zone), and the date parts year, month, day, date, julian,
 * hour, minute, second, time, iso8601, std11, zone and weekday.
 *
 * Owns: date parsing and formatting for Sieve; which fields are read
 * (with :index) is sieve_header_fields' in sieve-run.c.
 */
#include "lib-sieve/sieve-int.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sdate {
    time_t t;                        /* UTC seconds */
    int zone;                        /* minutes east of UTC */
};

static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                      "Sep", "Oct", "Nov", "Dec" };
static const char *const wdays[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };

static const char *skip_cfws(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
        if (*p != '(')
            return p;
        int depth = 0;
        do {
            if (*p == '(')
                depth++;
            else if (*p == ')')
                depth--;
            p++;
        } while (*p && depth > 0);
    }
}

static int read_num(const char **pp, int min_digits, int max_digits, int *out)
{
    const char *p = *pp;
    int n = 0, v = 0;
    while (isdigit((unsigned char)*p) && n < max_digits) {
        v = v * 10 + (*p++ - '0');
        n++;
    }
    if (n < min_digits)
        return -1;
    *pp = p;
    *out = v;
    return 0;
}

/* "[Wed,] 29 Jul 2009 18:21:44 +0300": 0, or -1 when it is no date. */
static int parse_date(const char *s, struct sdate *d)
{
    const char *p = skip_cfws(s);
    if (isalpha((unsigned char)*p)) {        /* day of week */
        while (isalpha((unsigned char)*p))
            p++;
        p = skip_cfws(p);
        if (*p++ != ',')
            return -1;
        p = skip_cfws(p);
    }
    int day, year, hour, min, sec = 0, mon = -1;
    if (read_num(&p, 1, 2, &day) < 0)
        return -1;
    p = skip_cfws(p);
    for (int i = 0; i < 12; i++)
        if (str_nieq(p, months[i], 3))
            mon = i;
    if (mon < 0)
        return -1;
    p = skip_cfws(p + 3);
    if (read_num(&p, 2, 4, &year) < 0)
        return -1;
    if (year < 50)
        year += 2000;
    else if (year < 1000)
        year += 1900;
    p = skip_cfws(p);
    if (read_num(&p, 2, 2, &hour) < 0 || *p++ != ':' || read_num(&p, 2, 2, &min) < 0)
        return -1;
    if (*p == ':') {
        p++;
        if (read_num(&p, 2, 2, &sec) < 0)
            return -1;
    }
    p = skip_cfws(p);
    int zone = 0;
    if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, hhmm;
        if (read_num(&p, 4, 4, &hhmm) < 0)
            return -1;
        zone = sign * ((hhmm / 100) * 60 + hhmm % 100);
    } else if (!(str_nieq(p, "GMT", 3) || str_nieq(p, "UT", 2) || *p == 'Z')) {
        return -1;
    }
    if (day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    d->t = timegm(&tm) - (time_t)zone * 60;
    d->zone = zone;
    return 0;
}

/* "+hhmm" / "-hhmm": 0 with minutes, or -1. */
static int parse_zone(const char *s, int *out)
{
    if ((s[0] != '+' && s[0] != '-') || strlen(s) != 5)
        return -1;
    for (int i = 1; i < 5; i++)
        if (!isdigit((unsigned char)s[i]))
            return -1;
    int hh = (s[1] - '0') * 10 + (s[2] - '0'), mm = (s[3] - '0') * 10 + (s[4] - '0');
    if (mm > 59)
        return -1;
    *out = (s[0] == '-' ? -1 : 1) * (hh * 60 + mm);
    return 0;
}

static int local_zone(time_t t)
{
    struct tm lt;
    localtime_r(&t, &lt);
    return (int)(lt.tm_gmtoff / 60);
}

/* The date part of d seen in zone; malloc'd, or NULL for an unknown part. */
static char *date_part(const struct sdate *d, int zone, const char *part)
{
    time_t t = d->t + (time_t)zone * 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    char zs[8];
    int az = zone < 0 ? -zone : zone;
    str_fmt(zs, sizeof(zs), "%c%02d%02d", zone < 0 ? '-' : '+', az / 60, az % 60);
    if (str_ieq(part, "year"))
        return xasprintf("%04d", tm.tm_year + 1900);
    if (str_ieq(part, "month"))
        return xasprintf("%02d", tm.tm_mon + 1);
    if (str_ieq(part, "day"))
        return xasprintf("%02d", tm.tm_mday);
    if (str_ieq(part, "date"))
        return xasprintf("%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    if (str_ieq(part, "julian"))     /* the Modified Julian Day */
        return xasprintf("%lld", (long long)((t >= 0 ? t : t - 86399) / 86400) + 40587);
    if (str_ieq(part, "hour"))
        return xasprintf("%02d", tm.tm_hour);
    if (str_ieq(part, "minute"))
        return xasprintf("%02d", tm.tm_min);
    if (str_ieq(part, "second"))
        return xasprintf("%02d", tm.tm_sec);
    if (str_ieq(part, "time"))
        return xasprintf("%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (str_ieq(part, "iso8601"))
        return xasprintf("%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         zone < 0 ? '-' : '+', az / 60, az % 60);
    if (str_ieq(part, "std11"))
        return xasprintf("%s, %d %s %04d %02d:%02d:%02d %s", wdays[tm.tm_wday], tm.tm_mday,
                         months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         zs);
    if (str_ieq(part, "zone"))
        return xstrdup(zs);
    if (str_ieq(part, "weekday"))
        return xasprintf("%d", tm.tm_wday);
    return NULL;
}

static const char *const date_parts[] = { "year", "month", "day", "date", "julian", "hour",
    "minute", "second", "time", "iso8601", "std11", "zone", "weekday", NULL };

/* :zone is tagv[0], :originalzone tagv[1]; the date part is pos[partpos]. */
static int check_date_common(struct sieve_check *c, struct sieve_node *n, size_t partpos)
{
    if (n->tagv[0] && n->tagv[1]) {
        sieve_check_error(c, n->line, "the :zone and :originalzone tags cannot be used together");
        return -1;
    }
    int z;
    if (n->tagv[0] && !strstr(n->tagv[0]->strs[0], "${") &&
        parse_zone(n->tagv[0]->strs[0], &z) < 0) {
        sieve_check_error(c, n->line, "invalid time zone for :zone");
        return -1;
    }
    const char *part = n->pos[partpos]->strs[0];
    int ok = strstr(part, "${") != NULL;
    for (size_t i = 0; date_parts[i] && !ok; i++)
        ok = str_ieq(part, date_parts[i]);
    if (!ok) {
        sieve_check_error(c, n->line, "invalid date part");
        return -1;
    }
    return 0;
}

int sieve_check_date(struct sieve_check *c, struct sieve_node *n)
{
    return check_date_common(c, n, 1);
}

int sieve_check_currentdate(struct sieve_check *c, struct sieve_node *n)
{
    return check_date_common(c, n, 0);
}

/* The zone to show d in: :zone, the original one, or local time. */
static int target_zone(struct sieve_run *run, const struct sieve_node *n, const struct sdate *d)
{
    int z = 0;
    if (n->tagv[0]) {
        char *zs = sieve_run_string(run, n->tagv[0]);
        int bad = parse_zone(zs, &z) < 0;
        free(zs);
        if (!bad)
            return z;
    }
    if (n->tagv[1])
        return d->zone;
    return local_zone(d->t);
}

int sieve_exec_date(struct sieve_run *run, const struct sieve_node *n)
{
    char *name = sieve_run_string(run, n->pos[0]);
    char *part = sieve_run_string(run, n->pos[1]);
    char *names[2] = { name, NULL };
    char **fields = sieve_header_fields(run, names, 0, n->tagv[2], n->tagv[3] != NULL);
    char **vals = xcalloc(strv_len(fields) + 1, sizeof(char *));
    size_t nv = 0;
    for (size_t i = 0; fields[i]; i++) {
        const char *text = fields[i];
        if (str_ieq(name, "received")) {
            const char *semi = strrchr(text, ';');
            if (!semi)
                continue;
            text = semi + 1;
        }
        struct sdate d;
        if (parse_date(text, &d) < 0)
            continue;
        char *v = date_part(&d, target_zone(run, n, &d), part);
        if (v)
            vals[nv++] = v;
    }
    int r = sieve_run_match(run, n, vals, nv, n->pos[2]);
    strv_free(vals);
    strv_free(fields);
    free(name);
    free(part);
    return r;
}

int sieve_exec_currentdate(struct sieve_run *run, const struct sieve_node *n)
{
    struct sdate d;
    d.t = time(NULL);
    d.zone = local_zone(d.t);
    char *part = sieve_run_string(run, n->pos[0]);
    char *v = date_part(&d, target_zone(run, n, &d), part);
    free(part);
    char *vals[2] = { v, NULL };
    int r = sieve_run_match(run, n, vals, v ? 1 : 0, n->pos[1]);
    free(v);
    return r;
}
