/*
 * maildrop.h - submission while the mail system is down.
 *
 * Owns: the maildrop/ directory's file format, writing a file there
 * (`yubin sendmail` when pickup cannot be reached) and replaying the
 * files to pickup once it runs (pickup's child), setting aside what is
 * malformed as maildrop/.bad.NAME. The format is described in maildrop.c.
 */
#ifndef YUBIN_MAILDROP_H
#define YUBIN_MAILDROP_H

#include "lib-queue/submit.h"

/* Write one message as the calling user. 0, or -1 with errno. */
int maildrop_write(const char *queue_dir, const char *sender, const struct submission *o,
                   const struct buf *msg);
/* Replay every complete file to pickup's socket. The number taken, -1 on error. */
int maildrop_run(const char *queue_dir, const char *sock, long long size_limit);
/* Is any file waiting? */
int maildrop_pending(const char *queue_dir);

#endif
