/* stub: replaced by the module owner */
#include "commands.h"
#include <stdio.h>
int cmd_map(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_newaliases(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
