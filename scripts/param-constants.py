#!/usr/bin/env python3
"""Rewrite main.cf parameter names written as string literals into the
constants of src/lib-conf/params.h, in place.

    cfg_get_int(cfg, "smtpd_recipient_limit")  ->  cfg_get_int(cfg, P_smtpd_recipient_limit)

Usage: scripts/param-constants.py [--check] FILE_OR_DIR...

It rewrites the second argument of the config getters (cfg_get, cfg_get_raw,
cfg_get_int, cfg_get_bool, cfg_get_time, cfg_get_time_ms, cfg_get_size,
cfg_get_list, cfg_is_set, cfg_set_where, cfg_path) and of the helper
functions listed in HELPERS below (static functions in the role folders that
take a parameter constant), when the literal is a name of params.def. A
literal that is not in the table (a per-service name such as
"relay_destination_concurrency_limit", a user-defined name) goes to the
*_by_name getter instead and is listed on stderr, to be looked at: it may
also be a misspelling. cfg_param_default(_raw) take names only and become
cfg_param_default(_raw)_by_name.

Arrays of names (const char *names[] = {"a", "b"}) and other literals are
not rewritten: --literals lists every literal that is a parameter name, for
a person to look at (most are log text). With --check nothing is written;
the exit status is 1 if a getter or helper call still has a literal name.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GETTERS = ["cfg_get", "cfg_get_raw", "cfg_get_int", "cfg_get_bool", "cfg_get_time",
           "cfg_get_time_ms", "cfg_get_size", "cfg_get_list", "cfg_is_set", "cfg_set_where",
           "cfg_path"]
# Helpers whose second argument is a parameter: they take an enum param_id.
HELPERS = ["param_int", "param_bool", "param_str", "param_us", "tempfail_action", "param_or",
           "agent_param", "agent_param_raw", "local_param", "smtp_param", "smtp_time_ms",
           "smtp_int", "param_time", "bind_param", "lock_mask", "class_mask", "open_list", "open_maps", "list_param",
           "check_tls_pair", "table_param", "maps_open_param", "param", "in_list"]  # not match_parent_style: "smtpd_access_maps" is no parameter
# One argument: anything up to a comma at depth 0 (parentheses may nest once).
ARG = r'(?:[^,()"]|\([^()]*\))+'


def table_names():
    names = set()
    with open(os.path.join(ROOT, "src/lib-conf/params.def")) as f:
        for line in f:
            m = re.match(r"PARAM\(([A-Za-z0-9_]+),", line)
            if m:
                names.add(m.group(1))
    return names


def convert(text, names, path, notes):
    funcs = "|".join(sorted(GETTERS + HELPERS, key=len, reverse=True))
    call = re.compile(r'\b(' + funcs + r')\((\s*' + ARG + r',\s*)"([A-Za-z0-9_]+)"')

    def sub(m):
        fn, lead, name = m.groups()
        line = text.count("\n", 0, m.start()) + 1
        if name in names:
            return "%s(%sP_%s" % (fn, lead, name)
        if fn in GETTERS:
            notes.append('%s:%d: "%s" is not in params.def: %s_by_name' % (path, line, name, fn))
            return '%s_by_name(%s"%s"' % (fn, lead, name)
        notes.append('%s:%d: "%s" is not in params.def: left alone' % (path, line, name))
        return m.group(0)

    text = call.sub(sub, text)
    text = re.sub(r"\bcfg_param_default(_raw)?\(", lambda m: "cfg_param_default%s_by_name(" %
                  (m.group(1) or ""), text)
    return text


def leftovers(text, names, path):
    out = []
    for i, line in enumerate(text.split("\n"), 1):
        for lit in re.findall(r'"([A-Za-z0-9_]+)"', line):
            if lit in names and "_" in lit and not re.search(r'P_' + lit, line):
                out.append('%s:%d: literal parameter name "%s": %s' % (path, i, lit, line.strip()))
    return out


def files(args):
    for a in args:
        if os.path.isdir(a):
            for d, _, fs in os.walk(a):
                for f in sorted(fs):
                    if f.endswith((".c", ".h")):
                        yield os.path.join(d, f)
        else:
            yield a


def main(argv):
    check = "--check" in argv
    literals = "--literals" in argv
    args = [a for a in argv if a not in ("--check", "--literals")]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    names = table_names()
    notes, left = [], []
    for path in files(args):
        if path.endswith(("lib-conf/params.def", "lib-conf/params.h", "lib-conf/config.h")):
            continue
        with open(path) as f:
            text = f.read()
        new = convert(text, names, path, notes)
        if new != text:
            if check:
                left.append("%s: has getter calls with literal names" % path)
            else:
                with open(path, "w") as f:
                    f.write(new)
        if literals:
            left += leftovers(new, names, path)
    for n in notes + left:
        print(n, file=sys.stderr)
    return 1 if check and left else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
