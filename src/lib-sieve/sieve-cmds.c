/*
 * sieve-cmds.c - the commands and tests of the core language (RFC 5228)
 * and of the extensions yubin supports: fileinto, envelope, variables
 * (RFC 5229), imap4flags (RFC 5232), copy (RFC 3894), relational and
 * subaddress (match types and address parts are in sieve-check.c),
 * reject/ereject (RFC 5429), mailbox (RFC 5490), regex, vacation
 * (RFC 5230, 6131), and the RFC 3834 rules about when not to answer.
 *
 * Owns: the table sieve_core_defs (signatures) and each entry's check
 * and run function. Actions only go into the result.
 */
#include "lib-sieve/sieve-int.h"
#include "lib-mail/addr.h"
#include "lib-mail/addrlist.h"
#include "lib/util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define T(n) (n)->tagv

/* ---- flags (imap4flags) ---- */

char **sieve_split_flags(const char *s)
{
    char **v = xcalloc(1, sizeof(char *));
    size_t n = 0;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        const char *st = s;
        while (*s && !(*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
            s++;
        if (s == st)
            break;
        int dup = 0;
        for (size_t i = 0; i < n; i++)
            dup |= strlen(v[i]) == (size_t)(s - st) && str_nieq(v[i], st, (size_t)(s - st));
        if (dup)
            continue;
        v = xrealloc(v, (n + 2) * sizeof(char *));
        v[n++] = xstrndup(st, (size_t)(s - st));
        v[n] = NULL;
    }
    return v;
}

/* All flags of a list of flag strings, joined by one space. */
static char *join_flags(char **lists)
{
    struct { char *s; size_t n; } acc = { xstrdup(""), 0 };
    for (size_t i = 0; lists && lists[i]; i++) {
        char *t = xasprintf("%s %s", acc.s, lists[i]);
        free(acc.s);
        acc.s = t;
    }
    char **v = sieve_split_flags(acc.s);
    free(acc.s);
    char *out = xstrdup("");
    for (size_t i = 0; v[i]; i++) {
        char *t = xasprintf("%s%s%s", out, *out ? " " : "", v[i]);
        free(out);
        out = t;
    }
    strv_free(v);
    return out;
}

/* The flag variable a command works on (its optional first argument) and the flag list. */
static void flag_args(const struct sieve_node *n, const struct sieve_arg **var,
                      const struct sieve_arg **list)
{
    *var = n->pos[1] ? n->pos[0] : NULL;
    *list = n->pos[1] ? n->pos[1] : n->pos[0];
}

static int exec_flagcmd(struct sieve_run *run, const struct sieve_node *n)
{
    const struct sieve_arg *va, *la;
    flag_args(n, &va, &la);
    char *vname = va ? sieve_run_string(run, va) : xstrdup(SIEVE_FLAGS_VAR);
    char **given = sieve_run_strlist(run, la);
    char *add = join_flags(given);
    strv_free(given);
    char *result;
    if (strcmp(n->name, "setflag") == 0) {
        result = xstrdup(add);
    } else {
        char *both[3] = { (char *)sieve_var_get(run, vname), add, NULL };
        if (strcmp(n->name, "addflag") == 0) {
            result = join_flags(both);
        } else {
            char **have = sieve_split_flags(both[0]), **gone = sieve_split_flags(add);
            result = xstrdup("");
            for (size_t i = 0; have[i]; i++) {
                int drop = 0;
                for (size_t k = 0; gone[k]; k++)
                    drop |= str_ieq(have[i], gone[k]);
                if (drop)
                    continue;
                char *t = xasprintf("%s%s%s", result, *result ? " " : "", have[i]);
                free(result);
                result = t;
            }
            strv_free(have);
            strv_free(gone);
        }
    }
    sieve_var_set(run, vname, result);
    free(result);
    free(add);
    free(vname);
    return 0;
}

static int exec_hasflag(struct sieve_run *run, const struct sieve_node *n)
{
    const struct sieve_arg *va, *la;
    flag_args(n, &va, &la);
    char *all;
    if (va) {
        char **names = sieve_run_strlist(run, va);
        char **vals = xcalloc(strv_len(names) + 1, sizeof(char *));
        for (size_t i = 0; names[i]; i++)
            vals[i] = xstrdup(sieve_var_get(run, names[i]));
        all = join_flags(vals);
        strv_free(vals);
        strv_free(names);
    } else {
        all = xstrdup(sieve_var_get(run, SIEVE_FLAGS_VAR));
    }
    char **have = sieve_split_flags(all);
    free(all);
    /* every key is a flag string too: "b A" means the flags b and A */
    char **keys = sieve_run_strlist(run, la);
    char *kj = join_flags(keys);
    strv_free(keys);
    struct sieve_arg ka;
    memset(&ka, 0, sizeof(ka));
    ka.kind = SIEVE_ARG_LIST;
    ka.strs = sieve_split_flags(kj);
    ka.nstrs = strv_len(ka.strs);
    free(kj);
    int r = sieve_run_match(run, n, have, strv_len(have), &ka);
    strv_free(ka.strs);
    strv_free(have);
    return r;
}

/* The flags a keep or fileinto stores with. */
static char **action_flags(struct sieve_run *run, const struct sieve_arg *flags)
{
    if (flags) {
        char **given = sieve_run_strlist(run, flags);
        char *j = join_flags(given);
        strv_free(given);
        char **v = sieve_split_flags(j);
        free(j);
        return v;
    }
    if (!sieve_script_requires(run->s, "imap4flags"))
        return NULL;
    return sieve_split_flags(sieve_var_get(run, SIEVE_FLAGS_VAR));
}

/* ---- actions ---- */

static const struct sieve_tag_def keep_tags[] = { { "flags", 'L', "imap4flags" }, { NULL, 0, NULL } };
static const struct sieve_tag_def fileinto_tags[] = {
    { "flags", 'L', "imap4flags" }, { "copy", 0, "copy" }, { "create", 0, "mailbox" },
    { NULL, 0, NULL } };
static const struct sieve_tag_def redirect_tags[] = { { "copy", 0, "copy" }, { NULL, 0, NULL } };

static int exec_keep(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = SIEVE_ACT_KEEP;
    a.target = xstrdup("INBOX");
    a.flags = action_flags(run, T(n)[0]);
    return sieve_result_add(run, n, &a);
}

static int exec_fileinto(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = SIEVE_ACT_FILEINTO;
    a.target = sieve_run_string(run, n->pos[0]);
    if (!utf8_valid(a.target, strlen(a.target))) {
        free(a.target);
        return sieve_run_error(run, n, "fileinto: invalid folder name (not UTF-8)");
    }
    a.flags = action_flags(run, T(n)[0]);
    a.copy = T(n)[1] != NULL;
    a.create = T(n)[2] != NULL;
    return sieve_result_add(run, n, &a);
}

/* One RFC 5322 mailbox with a domain ("Name <a@b>" or "a @ b"): its addr-spec, or NULL. */
static char *redirect_address(const char *s)
{
    struct addr_items it;
    char *r = NULL;
    if (addr_items_parse(s, 2, 0, &it) == 1 && it.v[0].kind == ADDR_ITEM_MAILBOX &&
        it.v[0].domain && it.v[0].mailbox && *it.v[0].mailbox) {
        int ascii = 1;       /* no SMTPUTF8 for redirect yet */
        for (const char *q = it.v[0].mailbox; *q; q++)
            ascii &= (unsigned char)*q < 0x80;
        if (ascii)
            r = xasprintf("%s@%s", it.v[0].mailbox, it.v[0].domain);
    }
    addr_items_free(&it);
    return r;
}

static int address_ok(const char *s)
{
    char *a = redirect_address(s);
    free(a);
    return a != NULL;
}

static int exec_redirect(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = SIEVE_ACT_REDIRECT;
    a.target = sieve_run_string(run, n->pos[0]);
    a.copy = T(n)[0] != NULL;
    if (!address_ok(a.target)) {
        int r = sieve_run_error(run, n, "specified redirect address '%s' is invalid", a.target);
        free(a.target);
        return r;
    }
    return sieve_result_add(run, n, &a);
}

static int check_redirect(struct sieve_check *c, struct sieve_node *n)
{
    const char *s = n->pos[0]->strs[0];
    if (strstr(s, "${") && sieve_check_requires(c, "variables"))
        return 0;
    if (!address_ok(s)) {
        sieve_check_error(c, n->line, "specified redirect address is invalid");
        return -1;
    }
    return 0;
}

static int check_fileinto(struct sieve_check *c, struct sieve_node *n)
{
    const char *s = n->pos[0]->strs[0];
    if (!utf8_valid(s, strlen(s))) {
        sieve_check_error(c, n->line, "fileinto: invalid folder name (not UTF-8)");
        return -1;
    }
    return 0;
}

static int exec_discard(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = SIEVE_ACT_DISCARD;
    return sieve_result_add(run, n, &a);
}

static int exec_reject(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = strcmp(n->name, "ereject") == 0 ? SIEVE_ACT_EREJECT : SIEVE_ACT_REJECT;
    a.target = sieve_run_string(run, n->pos[0]);
    return sieve_result_add(run, n, &a);
}

static int exec_stop(struct sieve_run *run, const struct sieve_node *n)
{
    (void)run;
    (void)n;
    return 1;
}

/* ---- vacation ---- */

static const struct sieve_tag_def vacation_tags[] = {
    { "days", 'N', NULL }, { "seconds", 'N', "vacation-seconds" }, { "subject", 'S', NULL },
    { "from", 'S', NULL }, { "addresses", 'L', NULL }, { "mime", 0, NULL },
    { "handle", 'S', NULL }, { NULL, 0, NULL } };

static int check_vacation(struct sieve_check *c, struct sieve_node *n)
{
    if (T(n)[0] && T(n)[1]) {
        sieve_check_error(c, n->line, "vacation: :days and :seconds cannot be used together");
        return -1;
    }
    const char *from = T(n)[3] ? T(n)[3]->strs[0] : NULL;
    if (from && !(strstr(from, "${") && sieve_check_requires(c, "variables")) &&
        !address_ok(from)) {
        sieve_check_error(c, n->line, "vacation: the :from address is invalid");
        return -1;
    }
    return 0;
}

static int exec_vacation(struct sieve_run *run, const struct sieve_node *n)
{
    struct sieve_action a;
    memset(&a, 0, sizeof(a));
    a.kind = SIEVE_ACT_VACATION;
    a.copy = 1;
    a.seconds = T(n)[1] ? T(n)[1]->num : (T(n)[0] ? T(n)[0]->num : 7) * 86400;
    if (!T(n)[1] && a.seconds < 86400)
        a.seconds = 86400;
    a.subject = T(n)[2] ? sieve_run_string(run, T(n)[2]) : NULL;
    a.from = T(n)[3] ? sieve_run_string(run, T(n)[3]) : NULL;
    a.addresses = T(n)[4] ? sieve_run_strlist(run, T(n)[4]) : NULL;
    a.mime = T(n)[5] != NULL;
    a.reason = sieve_run_string(run, n->pos[0]);
    a.handle = T(n)[6] ? sieve_run_string(run, T(n)[6]) : NULL;
    return sieve_result_add(run, n, &a);
}

/* Does any address of header name in msg equal one of addrs (case-insensitive)? */
static int header_has_address(struct sieve_run *run, const char *name, char *const *addrs)
{
    char **vals = sieve_header_values(run, name, 0);
    int found = 0;
    for (size_t i = 0; vals[i] && !found; i++) {
        struct addr_items it;
        addr_items_parse(vals[i], 256, ADDRLIST_LENIENT, &it);
        for (size_t k = 0; k < it.n && !found; k++) {
            if (it.v[k].kind != ADDR_ITEM_MAILBOX || !it.v[k].domain)
                continue;
            char *full = xasprintf("%s@%s", it.v[k].mailbox, it.v[k].domain);
            for (size_t j = 0; addrs[j] && !found; j++)
                found = str_ieq(full, addrs[j]);
            free(full);
        }
        addr_items_free(&it);
    }
    strv_free(vals);
    return found;
}

int sieve_vacation_allowed(const struct sieve_msg *msg, const struct sieve_action *a,
                           const char *const *own, const char **why)
{
    struct sieve_script dummy;
    memset(&dummy, 0, sizeof(dummy));
    struct sieve_run *run = sieve_run_new(&dummy, msg, NULL);
    const char *from = msg->env_from ? msg->env_from : "";
    int ok = 0;
    char **v = NULL;
    if (!*from)
        *why = "the envelope sender is null";
    else if (str_iprefix(from, "mailer-daemon@") || str_iprefix(from, "owner-") ||
             strstr(from, "-request@"))
        *why = "the sender is a mailer daemon or a list";
    else if ((v = sieve_header_values(run, "auto-submitted", 0))[0] && !str_ieq(v[0], "no"))
        *why = "the message is auto-submitted";
    else if (strv_free(v), (v = sieve_header_values(run, "precedence", 0))[0] &&
             (str_ieq(v[0], "bulk") || str_ieq(v[0], "list") || str_ieq(v[0], "junk")))
        *why = "the message has a bulk precedence";
    else if (strv_free(v), (v = sieve_header_values(run, "list-id", 0))[0])
        *why = "the message comes from a mailing list";
    else {
        size_t n = 1 + strv_len((char *const *)own) + strv_len(a ? a->addresses : NULL);
        char **addrs = xcalloc(n + 1, sizeof(char *));
        size_t k = 0;
        if (msg->env_to) {
            size_t tl = strlen(msg->env_to);
            addrs[k++] = tl >= 2 && msg->env_to[0] == '<' && msg->env_to[tl - 1] == '>'
                       ? xstrndup(msg->env_to + 1, tl - 2) : xstrdup(msg->env_to);
        }
        for (size_t i = 0; own && own[i]; i++)
            addrs[k++] = xstrdup(own[i]);
        for (size_t i = 0; a && a->addresses && a->addresses[i]; i++)
            addrs[k++] = xstrdup(a->addresses[i]);
        static const char *const hdrs[] = { "to", "cc", "bcc", "resent-to", "resent-cc",
                                            "resent-bcc", NULL };
        for (size_t i = 0; hdrs[i] && !ok; i++)
            ok = header_has_address(run, hdrs[i], addrs);
        strv_free(addrs);
        if (!ok)
            *why = "none of the recipient's addresses is in the message's recipient headers";
    }
    strv_free(v);
    sieve_run_free(run);
    return ok;
}

/* ---- variables ---- */

static const struct sieve_tag_def set_tags[] = {
    { "lower", 0, NULL }, { "upper", 0, NULL }, { "lowerfirst", 0, NULL },
    { "upperfirst", 0, NULL }, { "quotewildcard", 0, NULL }, { "quoteregex", 0, "regex" },
    { "length", 0, NULL }, { NULL, 0, NULL } };

static int check_set(struct sieve_check *c, struct sieve_node *n)
{
    if (sieve_check_variable(c, n->line, n->pos[0]->strs[0]) < 0)
        return -1;
    if ((T(n)[0] && T(n)[1]) || (T(n)[2] && T(n)[3])) {
        sieve_check_error(c, n->line, "set: modifiers of the same precedence used together");
        return -1;
    }
    return 0;
}

static char *quote_chars(const char *s, const char *special)
{
    size_t n = strlen(s);
    char *o = xmalloc(2 * n + 1), *q = o;
    for (; *s; s++) {
        if (strchr(special, *s))
            *q++ = '\\';
        *q++ = *s;
    }
    *q = '\0';
    return o;
}

static size_t utf8_count(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int exec_set(struct sieve_run *run, const struct sieve_node *n)
{
    char *v = sieve_run_string(run, n->pos[1]);
    if (T(n)[0])
        str_lower(v);
    for (char *p = v; T(n)[1] && *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (T(n)[2] && *v)
        v[0] = (char)tolower((unsigned char)v[0]);
    if (T(n)[3] && *v)
        v[0] = (char)toupper((unsigned char)v[0]);
    if (T(n)[4] || T(n)[5]) {
        char *q = quote_chars(v, T(n)[4] ? "*?\\" : "*?\\.+^$|()[]{}");
        free(v);
        v = q;
    }
    if (T(n)[6]) {
        char *l = xasprintf("%zu", utf8_count(v));
        free(v);
        v = l;
    }
    if (strlen(v) > run->lim->max_string)
        v[run->lim->max_string] = '\0';
    sieve_var_set(run, n->pos[0]->strs[0], v);
    free(v);
    return 0;
}

static int exec_string(struct sieve_run *run, const struct sieve_node *n)
{
    char **src = sieve_run_strlist(run, n->pos[0]);
    size_t nsrc = strv_len(src);
    /* :count counts the non-empty strings (RFC 5229 5) */
    if (n->mt == SIEVE_MT_COUNT) {
        size_t k = 0;
        for (size_t i = 0; i < nsrc; i++)
            if (*src[i])
                src[k++] = src[i];
            else
                free(src[i]);
        src[k] = NULL;
        nsrc = k;
    }
    int r = sieve_run_match(run, n, src, nsrc, n->pos[1]);
    strv_free(src);
    return r;
}

/* ---- tests ---- */

static int exec_true(struct sieve_run *run, const struct sieve_node *n)
{
    (void)run;
    return strcmp(n->name, "true") == 0;
}

static int exec_not(struct sieve_run *run, const struct sieve_node *n)
{
    int r = n->tests[0]->def->exec(run, n->tests[0]);
    return r < 0 ? r : !r;
}

static int exec_allany(struct sieve_run *run, const struct sieve_node *n)
{
    int all = strcmp(n->name, "allof") == 0;
    for (size_t i = 0; i < n->ntests; i++) {
        int r = n->tests[i]->def->exec(run, n->tests[i]);
        if (r < 0)
            return r;
        if (all ? !r : r)
            return r;
    }
    return all;
}

static int exec_exists(struct sieve_run *run, const struct sieve_node *n)
{
    char **names = sieve_run_strlist(run, n->pos[0]);
    int r = 1;
    for (size_t i = 0; names[i] && r; i++) {
        char **v = sieve_header_values(run, names[i], 0);
        r = v[0] != NULL;
        strv_free(v);
    }
    strv_free(names);
    return r;
}

static int exec_header(struct sieve_run *run, const struct sieve_node *n)
{
    char **names = sieve_run_strlist(run, n->pos[0]);
    char **all = sieve_header_fields(run, names, 1, T(n)[0], T(n)[1] != NULL);
    strv_free(names);
    int r = sieve_run_match(run, n, all, strv_len(all), n->pos[1]);
    strv_free(all);
    return r;
}

static void push(char ***v, size_t *n, char *s)
{
    if (!s)
        return;
    *v = xrealloc(*v, (*n + 2) * sizeof(char *));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

static const char *const address_headers[] = {
    "from", "to", "cc", "bcc", "sender", "reply-to", "resent-from", "resent-to", "resent-cc",
    "resent-bcc", "resent-sender", "resent-reply-to", "return-path", "delivered-to",
    "disposition-notification-to", "envelope-to", "errors-to", "for-approval", "for-handling",
    "for-comment", "x-original-to", "x-envelope-to", "approved", "mail-followup-to",
    "mail-reply-to", "original-recipient", "x-beenthere", NULL };

static int check_address(struct sieve_check *c, struct sieve_node *n)
{
    for (size_t i = 0; i < n->pos[0]->nstrs; i++) {
        const char *h = n->pos[0]->strs[i];
        int ok = strstr(h, "${") != NULL;
        for (size_t k = 0; address_headers[k] && !ok; k++)
            ok = str_ieq(h, address_headers[k]);
        if (!ok) {
            char msg[256];
            str_fmt(msg, sizeof(msg), "specified header '%s' is not allowed for the address test "
                    "(not known to contain addresses)", h);
            sieve_check_error(c, n->line, msg);
            return -1;
        }
    }
    return 0;
}

static int exec_address(struct sieve_run *run, const struct sieve_node *n)
{
    char **names = sieve_run_strlist(run, n->pos[0]);
    char **vals = xcalloc(1, sizeof(char *));
    size_t nv = 0;
    {
        char **hv = sieve_header_fields(run, names, 0, T(n)[0], T(n)[1] != NULL);
        for (size_t k = 0; hv[k]; k++) {
            struct addr_items it;
            addr_items_parse(hv[k], 1024, ADDRLIST_LENIENT, &it);
            int raw = it.n == 0;
            for (size_t j = 0; j < it.n; j++) {
                const struct addr_item *a = &it.v[j];
                if (a->kind != ADDR_ITEM_MAILBOX)
                    continue;
                const char *mb = a->mailbox ? a->mailbox : "";
                int bad = a->invalid || !a->domain || !*mb;
                for (const char *q = mb; *q && !bad; q++)
                    bad = (unsigned char)*q >= 0x80;
                raw |= bad;
                if (!bad)
                    push(&vals, &nv, sieve_address_part(n->ap, mb, a->domain));
            }
            /* what is not a valid address is matched as it is by :all only */
            if (raw && n->ap == SIEVE_AP_ALL)
                push(&vals, &nv, xstrdup(hv[k]));
            addr_items_free(&it);
        }
        strv_free(hv);
    }
    strv_free(names);
    int r = sieve_run_match(run, n, vals, nv, n->pos[1]);
    strv_free(vals);
    return r;
}

static int check_envelope(struct sieve_check *c, struct sieve_node *n)
{
    for (size_t i = 0; i < n->pos[0]->nstrs; i++) {
        const char *p = n->pos[0]->strs[i];
        if (!str_ieq(p, "from") && !str_ieq(p, "to") && !str_ieq(p, "auth") && !strstr(p, "${")) {
            sieve_check_error(c, n->line, "specified envelope part is not supported by the "
                              "envelope test");
            return -1;
        }
    }
    return 0;
}

static int domain_ok(const char *d, size_t n)
{
    if (n >= 2 && d[0] == '[' && d[n - 1] == ']')
        return 1;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '.') {
            if (!label)
                return 0;
            label = 0;
        } else if (isalnum((unsigned char)d[i]) || d[i] == '-' || d[i] == '_') {
            label++;
        } else {
            return 0;
        }
    }
    return label > 0;
}

static int local_ok(const char *l, size_t n)
{
    if (n >= 2 && l[0] == '"' && l[n - 1] == '"')
        return 1;
    if (!n)
        return 0;
    /* dots anywhere: real mail has "japanese..local." parts */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)l[i];
        if (c <= ' ' || c >= 0x7f || strchr("()<>[]:;@\\,\"", c))
            return 0;
    }
    return 1;
}

/*
 * An SMTP path (RFC 5321 4.1.2), with or without <>, source route
 * ignored: 1 with *local (malloc'd) and *domain (malloc'd or NULL for a
 * bare local part in <>), 0 for the null path, -1 when malformed.
 */
static int parse_path(const char *s, char **local, char **domain)
{
    size_t n = strlen(s);
    int br = n && s[0] == '<';
    if (br != (n && s[n - 1] == '>'))
        return -1;
    if (br) {
        s++;
        n -= 2;
    }
    if (!n)
        return 0;
    if (s[0] == '@') {
        const char *colon = memchr(s, ':', n);
        if (!colon)
            return -1;
        const char *p = s;
        while (p < colon) {
            if (*p != '@')
                return -1;
            const char *e = p + 1;
            while (e < colon && *e != ',')
                e++;
            if (!domain_ok(p + 1, (size_t)(e - p - 1)))
                return -1;
            p = e < colon ? e + 1 : e;
        }
        n -= (size_t)(colon + 1 - s);
        s = colon + 1;
    }
    const char *at = memrchr(s, '@', n);
    if (!at) {
        if (!br || !local_ok(s, n))
            return -1;
        *local = xstrndup(s, n);
        *domain = NULL;
        return 1;
    }
    if (!local_ok(s, (size_t)(at - s)) || !domain_ok(at + 1, (size_t)(s + n - at - 1)))
        return -1;
    *local = xstrndup(s, (size_t)(at - s));
    *domain = xstrndup(at + 1, (size_t)(s + n - at - 1));
    return 1;
}

static int exec_envelope(struct sieve_run *run, const struct sieve_node *n)
{
    char **parts = sieve_run_strlist(run, n->pos[0]);
    char **vals = xcalloc(1, sizeof(char *));
    size_t nv = 0;
    for (size_t i = 0; parts[i]; i++) {
        const char *e = str_ieq(parts[i], "from") ? run->msg.env_from
                      : str_ieq(parts[i], "to") ? run->msg.env_to
                      : str_ieq(parts[i], "auth") ? run->msg.env_auth : NULL;
        if (!e)
            continue;
        char *local = NULL, *domain = NULL;
        int r;
        if (str_ieq(parts[i], "auth") && !strchr(e, '@')) {   /* an identity, not a path */
            local = xstrdup(e);
            r = 1;
        } else {
            r = parse_path(e, &local, &domain);
        }
        if (r == 0)      /* the null reverse-path: "" for every part (RFC 5228 5.4) */
            push(&vals, &nv, xstrdup(""));
        else if (r > 0)
            push(&vals, &nv, sieve_address_part(n->ap, local, domain));
        free(local);
        free(domain);
    }
    strv_free(parts);
    int r = sieve_run_match(run, n, vals, nv, n->pos[1]);
    strv_free(vals);
    return r;
}

static const struct sieve_tag_def size_tags[] = { { "over", 'N', NULL }, { "under", 'N', NULL },
                                                  { NULL, 0, NULL } };

static int check_size(struct sieve_check *c, struct sieve_node *n)
{
    if (!T(n)[0] == !T(n)[1]) {
        sieve_check_error(c, n->line, "the size test requires either the :under or the :over "
                          "tag");
        return -1;
    }
    return 0;
}

static int exec_size(struct sieve_run *run, const struct sieve_node *n)
{
    uint64_t sz = run->msg.len;
    return T(n)[0] ? sz > T(n)[0]->num : sz < T(n)[1]->num;
}

static int exec_mailboxexists(struct sieve_run *run, const struct sieve_node *n)
{
    char **names = sieve_run_strlist(run, n->pos[0]);
    int r = 1;
    for (size_t i = 0; names[i] && r; i++)
        r = run->msg.mailbox_exists && run->msg.mailbox_exists(run->msg.ctx, names[i]) > 0;
    strv_free(names);
    return r;
}

/* ---- include (RFC 6609) ---- */

static const struct sieve_tag_def include_tags[] = {
    { "personal", 0, NULL }, { "global", 0, NULL }, { "once", 0, NULL }, { "optional", 0, NULL },
    { NULL, 0, NULL } };

static int check_include(struct sieve_check *c, struct sieve_node *n)
{
    if (T(n)[0] && T(n)[1]) {
        sieve_check_error(c, n->line, "include: :personal and :global cannot be used together");
        return -1;
    }
    const char *name = n->pos[0]->strs[0];
    if (!*name || strchr(name, '/') || !utf8_valid(name, strlen(name))) {
        sieve_check_error(c, n->line, "include: invalid script name");
        return -1;
    }
    return sieve_check_include(c, n, name, T(n)[1] != NULL, T(n)[3] != NULL, T(n)[2] != NULL);
}

static int exec_include(struct sieve_run *run, const struct sieve_node *n)
{
    const struct sieve_script *inc = n->priv;
    if (!inc)            /* :optional and missing */
        return 0;
    /* :once: not again if it ran before, with or without :once (RFC 6609 3.2) */
    char *key = xasprintf("%c:%s", inc->global ? 'g' : 'p', inc->name);
    int seen = 0;
    for (size_t i = 0; i < run->nonce && !seen; i++)
        seen = strcmp(run->once[i], key) == 0;
    if (seen) {
        free(key);
        if (T(n)[2])
            return 0;
    } else {
        run->once = xrealloc(run->once, (run->nonce + 1) * sizeof(char *));
        run->once[run->nonce++] = key;
    }
    if (run->include_depth >= 2 * SIEVE_INCLUDE_MAX_DEPTH)
        return sieve_run_error(run, n, "include: nested too deep at run time");
    return sieve_run_included(run, inc);
}

static int check_global(struct sieve_check *c, struct sieve_node *n)
{
    if (!sieve_check_requires(c, "variables")) {
        sieve_check_error(c, n->line, "the global command requires the variables extension");
        return -1;
    }
    for (size_t i = 0; i < n->pos[0]->nstrs; i++) {
        const char *v = n->pos[0]->strs[i];
        if (!sieve_var_name_ok(v, strlen(v))) {
            sieve_check_error(c, n->line, "global: invalid variable name");
            return -1;
        }
        sieve_check_global(c, v);
    }
    return 0;
}

static int exec_nothing(struct sieve_run *run, const struct sieve_node *n)
{
    (void)run;
    (void)n;
    return 0;
}

static int exec_return(struct sieve_run *run, const struct sieve_node *n)
{
    (void)run;
    (void)n;
    return SIEVE_RUN_RETURN;
}

static const struct sieve_tag_def body_tags[] = {
    { "raw", 0, NULL }, { "content", 'L', NULL }, { "text", 0, NULL }, { NULL, 0, NULL } };

static const struct sieve_tag_def index_tags[] = {
    { "index", 'N', "index" }, { "last", 0, "index" }, { NULL, 0, NULL } };
static const struct sieve_tag_def date_tags[] = {
    { "zone", 'S', NULL }, { "originalzone", 0, NULL }, { "index", 'N', "index" },
    { "last", 0, "index" }, { NULL, 0, NULL } };
static const struct sieve_tag_def currentdate_tags[] = {
    { "zone", 'S', NULL }, { NULL, 0, NULL } };

#define M SIEVE_SIG_MATCH
#define A SIEVE_SIG_ADDR

const struct sieve_cmd_def sieve_core_defs[] = {
    { "require", 0, NULL, "L", 0, NULL, NULL, NULL },
    { "if", 0, NULL, "", SIEVE_SIG_TEST1 | SIEVE_SIG_BLOCK, NULL, NULL, NULL },
    { "elsif", 0, NULL, "", SIEVE_SIG_TEST1 | SIEVE_SIG_BLOCK, NULL, NULL, NULL },
    { "else", 0, NULL, "", SIEVE_SIG_BLOCK, NULL, NULL, NULL },
    { "stop", 0, NULL, "", 0, NULL, NULL, exec_stop },
    { "keep", 0, NULL, "", 0, keep_tags, NULL, exec_keep },
    { "discard", 0, NULL, "", 0, NULL, NULL, exec_discard },
    { "redirect", 0, NULL, "S", 0, redirect_tags, check_redirect, exec_redirect },
    { "fileinto", 0, "fileinto", "S", 0, fileinto_tags, check_fileinto, exec_fileinto },
    { "reject", 0, "reject", "S", 0, NULL, NULL, exec_reject },
    { "ereject", 0, "ereject", "S", 0, NULL, NULL, exec_reject },
    { "vacation", 0, "vacation", "S", 0, vacation_tags, check_vacation, exec_vacation },
    { "set", 0, "variables", "SS", 0, set_tags, check_set, exec_set },
    { "setflag", 0, "imap4flags", "LL", SIEVE_SIG_OPTPOS, NULL, NULL, exec_flagcmd },
    { "addflag", 0, "imap4flags", "LL", SIEVE_SIG_OPTPOS, NULL, NULL, exec_flagcmd },
    { "removeflag", 0, "imap4flags", "LL", SIEVE_SIG_OPTPOS, NULL, NULL, exec_flagcmd },
    { "include", 0, "include", "S", 0, include_tags, check_include, exec_include },
    { "global", 0, "include", "L", 0, NULL, check_global, exec_nothing },
    { "return", 0, "include", "", 0, NULL, NULL, exec_return },
    { "true", 1, NULL, "", 0, NULL, NULL, exec_true },
    { "false", 1, NULL, "", 0, NULL, NULL, exec_true },
    { "not", 1, NULL, "", SIEVE_SIG_TEST1, NULL, NULL, exec_not },
    { "allof", 1, NULL, "", SIEVE_SIG_TESTS, NULL, NULL, exec_allany },
    { "anyof", 1, NULL, "", SIEVE_SIG_TESTS, NULL, NULL, exec_allany },
    { "exists", 1, NULL, "L", 0, NULL, NULL, exec_exists },
    { "header", 1, NULL, "LL", M, index_tags, NULL, exec_header },
    { "address", 1, NULL, "LL", M | A, index_tags, check_address, exec_address },
    { "envelope", 1, "envelope", "LL", M | A, NULL, check_envelope, exec_envelope },
    { "size", 1, NULL, "", 0, size_tags, check_size, exec_size },
    { "string", 1, "variables", "LL", M | SIEVE_SIG_OCTET, NULL, NULL, exec_string },
    { "hasflag", 1, "imap4flags", "LL", M | SIEVE_SIG_OPTPOS, NULL, NULL, exec_hasflag },
    { "body", 1, "body", "L", M | SIEVE_SIG_NOVARS, body_tags, sieve_check_body, sieve_exec_body },
    { "date", 1, "date", "SSL", M, date_tags, sieve_check_date, sieve_exec_date },
    { "currentdate", 1, "date", "SL", M, currentdate_tags, sieve_check_currentdate,
      sieve_exec_currentdate },
    { "mailboxexists", 1, "mailbox", "L", 0, NULL, NULL, exec_mailboxexists },
};
const size_t sieve_core_ndefs = sizeof(sieve_core_defs) / sizeof(sieve_core_defs[0]);
