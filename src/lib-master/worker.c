/*
 * worker.c - the table of roles (see worker.h).
 */
#include "lib-master/worker.h"

#include <string.h>

static const struct worker_role *roles;

void worker_roles_set(const struct worker_role *r)
{
    roles = r;
}

const struct worker_role *worker_role_find(const char *command)
{
    for (const struct worker_role *r = roles; r && r->command; r++)
        if (strcmp(r->command, command) == 0)
            return r;
    return NULL;
}
