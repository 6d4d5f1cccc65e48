#!/usr/bin/env python3
"""check-symbols.py - the naming rule of the one binary, checked by `make check`.

All roles link into one executable, so a role's global functions and
variables share one namespace with every other role's and every library's.
The rule: a global symbol defined in a role folder either carries one of
that role's prefixes (smtpd_..., qmgr_..., auth_...) or is declared in the
role's public header (*_role.h, master/master.h); everything else is
static. No library defines a symbol with a role's prefix, and no two roles
share a prefix. An IMAP server's session_* or cmd_* can then never collide
with smtpd's.

Reads the objects of BUILD (default build/) with nm. Prints one line per
violation (object: symbol: what) and exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

# Role folder -> the prefixes its global symbols may carry.
ROLE_PREFIXES = {
    "master": ["master_"],
    "smtpd": ["smtpd_"],
    "qmgr": ["qmgr_"],
    # the delivery agents: local, virtual (deliver_) and the SMTP client,
    # Postfix's smtp(8) (smtp_; libraries must leave that prefix to it)
    "deliver": ["deliver_", "smtp_"],
    "auth": ["auth_"],
    "proxymap": ["proxymap_"],
    "postscreen": ["postscreen_", "psc_"],
    "imapd": ["imapd_"],
    "pop3d": ["pop3d_"],
    "managesieved": ["managesieved_"],
    "lmtpd": ["lmtpd_"],
    "cmd": ["cmd_", "yubin_"],
}
ALWAYS = {"main"}
PUBLIC_HEADERS = re.compile(r"(_role\.h|^master\.h)$")
DECL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def public_names(folder):
    """Identifiers declared (followed by '(' or as extern) in the role's
    public headers."""
    names = set()
    for f in os.listdir(folder):
        if PUBLIC_HEADERS.search(f):
            with open(os.path.join(folder, f)) as fh:
                text = fh.read()
            text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            names.update(DECL.findall(text))
            names.update(re.findall(r"\bextern\b[^;]*?\b([A-Za-z_][A-Za-z0-9_]*)\s*(?:\[[^]]*\])?\s*;",
                                    text))
    return names


def defined_globals(objs):
    if not objs:
        return []
    out = subprocess.run(["nm", "-g", "--defined-only", "-A"] + objs, capture_output=True,
                         text=True, check=True).stdout
    syms = []
    for line in out.splitlines():
        # "build/src/smtpd/x.o: 0000000000000000 T name"
        path, rest = line.split(":", 1)
        parts = rest.split()
        if len(parts) == 3 and parts[1] in "TDBRVWGSC":
            syms.append((path, parts[2]))
    return syms


def main(root, build):
    src = os.path.join(root, "src")
    errors = []
    seen_prefix = {}
    for role, prefixes in ROLE_PREFIXES.items():
        for p in prefixes:
            if p in seen_prefix:
                errors.append("prefix %s: given to both %s and %s" % (p, seen_prefix[p], role))
            seen_prefix[p] = role
    all_prefixes = tuple(seen_prefix)
    nsyms = 0
    for folder in sorted(os.listdir(src)):
        objdir = os.path.join(build, "src", folder)
        if not os.path.isdir(objdir):
            continue
        # only objects of sources that still exist (a removed file's .o may linger)
        objs = sorted(os.path.join(objdir, f) for f in os.listdir(objdir)
                      if f.endswith(".o") and os.path.exists(os.path.join(src, folder, f[:-2] + ".c")))
        syms = defined_globals(objs)
        nsyms += len(syms)
        is_lib = folder == "lib" or folder.startswith("lib-")
        if is_lib:
            for obj, name in syms:
                if name.startswith(all_prefixes):
                    errors.append("%s: %s: a library symbol with the prefix of role %s" % (
                        obj, name, seen_prefix[next(p for p in all_prefixes
                                                    if name.startswith(p))]))
            continue
        if folder not in ROLE_PREFIXES:
            errors.append("src/%s: a role folder without prefixes in scripts/check-symbols.py"
                          % folder)
            continue
        allowed = public_names(os.path.join(src, folder)) | ALWAYS
        own = tuple(ROLE_PREFIXES[folder])
        for obj, name in syms:
            if name.startswith(own) or name in allowed:
                continue
            errors.append("%s: %s: global but neither static, nor prefixed %s, nor declared "
                          "in the role's public header" % (obj, name, " or ".join(own)))
    for e in errors:
        print(e)
    if errors:
        print("check-symbols: %d violations" % len(errors))
        return 1
    print("check-symbols: %d global symbols, 0 violations" % nsyms)
    return 0


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    build = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build")
    sys.exit(main(root, build))
