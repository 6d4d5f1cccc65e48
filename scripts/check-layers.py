#!/usr/bin/env python3
"""check-layers.py - the include rules of src/, checked by `make check`.

Libraries (src/lib*) are layered: a library may include its own headers
and those of the libraries below it, never one above it and never a role.
Role folders (smtpd, qmgr, deliver, ...) may include libraries and their
own headers, never another role's. src/cmd sits on top and may include
anything. Every include of a project header names its folder
("lib-table/table.h"), so the rule can be read off the line.

Prints one line per violation (file:line: what) and exits 1 if there is
any; prints a summary line and exits 0 otherwise.
"""
import os
import re
import sys

# Lowest first. A library not listed here is an error: add it in its place.
LAYERS = [
    "lib",          # runtime: memory, strings, buffers, event loop, log, fds, inet names
    "lib-conf",     # main.cf / master.cf
    "lib-mail",     # message formats: addresses, headers, MIME, DSNs, Received:
    "lib-table",    # lookup tables and match lists
    "lib-dns",      # the resolver
    "lib-tls",      # OpenSSL contexts and connections
    "lib-route",    # address classes, aliases, transports (Postfix's trivial-rewrite)
    "lib-smtp",     # SMTP protocol pieces shared by server and client
    "lib-queue",    # the queue on disk, maildrop, delivery requests
    "lib-auth",     # the Dovecot auth protocol, password schemes
    "lib-master",   # the contract between master and workers, shared session counts
    "lib-imap",     # IMAP protocol pieces: arguments, sequence sets, mUTF-7, ENVELOPE, BODYSTRUCTURE
    "lib-storage",  # mailboxes: Maildir and mbox, folders, UIDs, index
    "lib-login",    # the login path of IMAP, POP3, ManageSieve: front end, launcher, hand-off
    "lib-milter",
    "lib-sieve",
    "lib-mailauth",
]
TOP = "cmd"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main(root):
    src = os.path.join(root, "src")
    errors = []
    files = 0
    for folder in sorted(os.listdir(src)):
        path = os.path.join(src, folder)
        if not os.path.isdir(path):
            continue
        is_lib = folder == "lib" or folder.startswith("lib-")
        if is_lib and folder not in LAYERS:
            errors.append("src/%s: library not in the layer list of %s" % (folder, __file__))
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith((".c", ".h")):
                continue
            files += 1
            rel = "src/%s/%s" % (folder, name)
            with open(os.path.join(path, name), errors="replace") as f:
                for lineno, line in enumerate(f, 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    why = check(folder, is_lib, m.group(1), src)
                    if why:
                        errors.append("%s:%d: %s" % (rel, lineno, why))
    for e in errors:
        print(e)
    print("check-layers: %d files, %d violations" % (files, len(errors)))
    return 1 if errors else 0


def check(folder, is_lib, target, src):
    if "/" not in target:
        return '"%s": name the folder ("%s/%s")' % (target, folder, target)
    tfolder = target.split("/", 1)[0]
    if not os.path.exists(os.path.join(src, target)):
        return '"%s": no such header' % target
    if tfolder == folder or folder == TOP:
        return None
    t_lib = tfolder == "lib" or tfolder.startswith("lib-")
    if not t_lib:
        return '"%s": %s may not include another role (%s)' % (
            target, "a library" if is_lib else "a role", tfolder)
    if tfolder not in LAYERS:
        return '"%s": library not in the layer list' % target
    if is_lib and LAYERS.index(tfolder) > LAYERS.index(folder):
        return '"%s": %s is above %s' % (target, tfolder, folder)
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
