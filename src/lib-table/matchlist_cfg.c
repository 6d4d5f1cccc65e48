/*
 * matchlist_cfg.c - the configuration side of match lists: which
 * parameters use "parent domain matches subdomains" semantics. Kept apart
 * from matchlist.c so that programs using lists without a main.cf do not
 * need the config module.
 */
#include "lib-table/matchlist.h"
#include "lib-conf/config.h"
#include "lib/util.h"

#include <pwd.h>
#include <string.h>

int match_parent_style(const struct config *cfg, const char *param)
{
    if (!cfg)
        return 0;
    char **v = cfg_get_list(cfg, P_parent_domain_matches_subdomains);
    int found = 0;
    for (size_t i = 0; v && v[i]; i++)
        if (strcmp(v[i], param) == 0)
            found = MATCH_F_PARENT;
    strv_free(v);
    return found;
}

int user_list_match(struct match_list *l, unsigned long uid)
{
    if (!l)
        return 0;
    struct passwd *pw = getpwuid((uid_t)uid);
    char name[256];
    if (pw)
        str_copy(name, pw->pw_name, sizeof(name));
    else
        str_fmt(name, sizeof(name), "%lu", uid);
    return domain_list_match(l, name);
}
