/* stub */
#include "commands.h"
#include <stdio.h>
int cmd_sendmail(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
