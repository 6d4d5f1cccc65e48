/*
 * mdeliver.h - a folder opened for delivery only (the LMTP server, the
 * LDA): appends with UIDs (mview_append_begin/finish of mailbox.h) and
 * keywords (mview_keyword_bit), without reading the folder.
 *
 * mview_open() syncs the whole folder (it scans new/ and cur/ and moves
 * new mail to cur/, as an IMAP session must); a delivery needs none of
 * that. When the folder already has its dovecot-uidlist, this opens the
 * directories and keywords only, so a delivery costs the same in a
 * folder of ten messages or a million, and what it saves stays in new/
 * (with its UID in dovecot-uidlist: IMAP sessions see it at their next
 * sync). A folder without a uidlist yet gets a normal mview_open().
 * The view must not be used for anything but appends and keyword bits;
 * close it with mview_close().
 */
#ifndef YUBIN_MDELIVER_H
#define YUBIN_MDELIVER_H

#include "lib-storage/mailbox.h"

struct mview *mview_open_deliver(struct mstore *st, const char *name, struct storage_error *err);

#endif
