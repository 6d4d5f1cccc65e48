/* stub: replaced by the module owner */
#include "commands.h"
#include <stdio.h>
int cmd_start(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_stop(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_reload(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_status(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
int cmd_check(const char *confdir, int argc, char **argv) { (void)confdir; (void)argc; (void)argv; fprintf(stderr, "not implemented yet\n"); return 1; }
