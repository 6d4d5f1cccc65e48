/*
 * mailloc.h - the mail location of a session (IMAP, POP3, ManageSieve): Dovecot's
 * mail_location syntax ("maildir:~/Maildir", "maildir:/var/vmail/%d/%n")
 * turned into the path of the user's Maildir.
 *
 * Owns: the format prefix (only maildir; a bare path is a Maildir too),
 * the variables %u (user), %n (its local part), %d (its domain), %h
 * (home), %% and their long forms %{user} %{username} %{domain} %{home},
 * the L modifier (%Ln: lower case), "~" at the start for the home, and
 * the options after the path: LAYOUT=maildir++ and INDEX= are accepted
 * (yubin keeps its index inside the Maildir, as Dovecot does without
 * INDEX=), anything else (INBOX=, CONTROL=, LAYOUT=fs ...) is refused
 * with a reason, since honouring it halfway would show the user other
 * folders or other UIDs than Dovecot does.
 */
#ifndef YUBIN_LIB_LOGIN_MAILLOC_H
#define YUBIN_LIB_LOGIN_MAILLOC_H

#include <stddef.h>

#define MAILLOC_PATH_MAX 1024

/*
 * Expand loc for user/home into out (an absolute path). 0, or -1 with *why
 * a short reason (unsupported format or option, a variable that expands to
 * nothing or to something with "/" or "..", a relative result, too long).
 */
int login_mailloc_expand(const char *loc, const char *user, const char *home, char *out,
                         size_t outlen, const char **why);

/*
 * The Maildir under home for Postfix's home_mailbox ("Maildir/"): 0 with
 * out set when home_mailbox names a Maildir (ends in "/"), 1 when it does
 * not (an mbox, or empty), -1 when home is not usable.
 */
int login_mailloc_home(const char *home_mailbox, const char *home, char *out, size_t outlen);

struct login_settings;
/*
 * The mail location of a user the userdb gave none (launcher): main.cf's
 * mail_location when set; else where virtual(8) delivers the user's mail
 * (virtual_mailbox_base + the virtual_mailbox_maps result, a Maildir when
 * it ends in "/"); else a home_mailbox Maildir under the home
 * ("maildir:~/Maildir/"); else "" (none: the session has no mailboxes).
 * Returns set->mail_location or out.
 */
const char *login_mail_location(const struct login_settings *set, const char *user,
                                const char *home, char *out, size_t outlen);

#endif
