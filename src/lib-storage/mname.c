/*
 * mname.c - Maildir file names as Dovecot reads and writes them:
 * "<base>:2,<info>", the base name stable for the life of the message
 * (it is what dovecot-uidlist records), info letters in ASCII order: the
 * system flags D F R S T, then keywords a..z (indexes into
 * dovecot-keywords). Other letters (P, "passed", and any a program may
 * use) are kept through flag changes. ",S=<size>" and ",W=<vsize>" in the
 * base name give the file size and the size with CRLF line ends without a
 * stat().
 */
#include "lib-storage/mstore_int.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

static const struct {
    unsigned bit;
    char c;
} flag_letters[] = {
    {STORAGE_FLAG_DRAFT, 'D'}, {STORAGE_FLAG_FLAGGED, 'F'}, {STORAGE_FLAG_ANSWERED, 'R'},
    {STORAGE_FLAG_SEEN, 'S'},  {STORAGE_FLAG_DELETED, 'T'},
};

void mname_parse(const char *name, unsigned *flags, uint32_t *keywords, size_t *baselen)
{
    const char *colon = strchr(name, ':');
    *baselen = colon ? (size_t)(colon - name) : strlen(name);
    *flags = 0;
    *keywords = 0;
    if (!colon || strncmp(colon, ":2,", 3) != 0)
        return;
    for (const char *p = colon + 3; *p; p++) {
        if (*p >= 'a' && *p <= 'z') {
            *keywords |= 1u << (*p - 'a');
            continue;
        }
        for (size_t i = 0; i < ARRAY_LEN(flag_letters); i++)
            if (*p == flag_letters[i].c)
                *flags |= flag_letters[i].bit;
    }
}

static uint64_t field_value(const char *name, size_t baselen, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = name; p + klen <= name + baselen; p++) {
        p = memchr(p, ',', (size_t)(name + baselen - p));
        if (!p || p + klen > name + baselen)
            return 0;
        if (memcmp(p, key, klen) == 0) {
            uint64_t v = 0;
            const char *q = p + klen;
            if (q >= name + baselen || *q < '0' || *q > '9')
                return 0;
            for (; q < name + baselen && *q >= '0' && *q <= '9'; q++)
                v = v * 10 + (uint64_t)(*q - '0');
            return v;
        }
    }
    return 0;
}

void mname_sizes(const char *name, size_t baselen, uint64_t *size, uint64_t *vsize)
{
    *size = field_value(name, baselen, ",S=");
    *vsize = field_value(name, baselen, ",W=");
}

/* Info letters of old (a file name, or NULL) that are neither DFRST nor keywords (P, ...). */
static size_t other_letters(const char *old, char *out, size_t cap)
{
    const char *info = old ? strstr(old, ":2,") : NULL;
    size_t o = 0;
    for (const char *p = info ? info + 3 : ""; *p && o < cap; p++)
        if (*p > ' ' && *p < 'a' && *p != ',' && !strchr("DFRST", *p))
            out[o++] = *p;
    return o;
}

static int cmp_char(const void *a, const void *b)
{
    return *(const char *)a - *(const char *)b;
}

int mname_make(char *out, size_t outlen, const char *base, size_t baselen, unsigned flags,
               uint32_t keywords)
{
    return mname_remake(out, outlen, base, baselen, flags, keywords, NULL);
}

int mname_remake(char *out, size_t outlen, const char *base, size_t baselen, unsigned flags,
                 uint32_t keywords, const char *old)
{
    char info[3 + 64 + MSTORE_KEYWORDS + 1];
    size_t o = 3;
    memcpy(info, ":2,", 3);
    for (size_t i = 0; i < ARRAY_LEN(flag_letters); i++)
        if (flags & flag_letters[i].bit)
            info[o++] = flag_letters[i].c;
    o += other_letters(old, info + o, 32);
    qsort(info + 3, o - 3, 1, cmp_char);    /* ASCII order, as readers expect */
    for (int i = 0; i < MSTORE_KEYWORDS; i++)
        if (keywords & (1u << i))
            info[o++] = (char)('a' + i);
    info[o] = '\0';
    if (baselen > 0x7fffffff)
        return -1;
    return str_fmt(out, outlen, "%.*s%s", (int)baselen, base, info);
}
