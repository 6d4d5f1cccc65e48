#!/usr/bin/env python3
"""
dovecot-ref.py - record what Dovecot answers to FETCH (BODY BODYSTRUCTURE
ENVELOPE PREVIEW) for every message of ../shared/conformance/mime and of
the imaptest .mbox files (split and made CRLF as imaptest appends them), as
the reference test_imap_bodystructure.c compares lib-imap's output with.

Needs Debian's dovecot-imapd and root (Dovecot's imap process runs
pre-authenticated on a pipe, as uid 65534, on a scratch Maildir holding one
message at a time). Usage, from the worktree root:

    python3 tests/unit/data/dovecot-ref.py > tests/unit/data/dovecot-bodystructure.ref

Output: for each message and item, a line "path<TAB>ITEM<TAB>length" and
then exactly length bytes of the item's value (IMAP syntax, literals and
all) and a newline. path is relative to conformance/mime, or
"imaptest/NAME.mbox#N" for the Nth message of an imaptest mbox.
"""
import os
import shutil
import subprocess
import sys
import tempfile

SHARED = os.environ.get("YUBIN_SHARED") or "../shared"
CORPUS = os.path.join(SHARED, "conformance/mime")
ITEMS = ("BODY", "BODYSTRUCTURE", "ENVELOPE", "PREVIEW")

CONF = """protocols = imap
mail_location = maildir:{d}/Maildir
ssl = no
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/log
mail_uid = 65534
mail_gid = 65534
first_valid_uid = 1
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home={d}
}}
"""


IMAPTEST = os.path.join(SHARED, "conformance/imap/imaptest-tests")


def is_from_line(line):
    """imaptest_mbox.h's test: "From ", a word without ':', a date ending in a year."""
    if len(line) < 10 or not line.startswith(b"From ") or b":" in line[5:].split(b" ")[0]:
        return False
    t = line.rstrip(b"\r\n")
    return len(t) >= 4 and t[-1:].isdigit() and t[-4:-3] in (b"1", b"2")


def mbox_messages(name):
    """The messages of an imaptest .mbox, LF made CRLF (as imaptest appends them)."""
    msgs = []
    with open(os.path.join(IMAPTEST, name), "rb") as f:
        for line in f.read().splitlines(keepends=True):
            if is_from_line(line):
                msgs.append(bytearray())
            elif msgs:
                eol = line.endswith(b"\n")
                msgs[-1] += line.rstrip(b"\r\n") + (b"\r\n" if eol else b"")
    return [bytes(m) for m in msgs]


def imaptest_items():
    """(key, bytes) of every message of every imaptest .mbox: key "imaptest/NAME.mbox#N"."""
    out = []
    for name in sorted(os.listdir(IMAPTEST)):
        if name.endswith(".mbox"):
            for n, m in enumerate(mbox_messages(name), 1):
                out.append(("imaptest/%s#%d" % (name, n), m))
    return out


def corpus_files():
    out = []
    for root, dirs, files in os.walk(CORPUS):
        dirs.sort()
        for f in sorted(files):
            if f.startswith(".") or ".md" in f or "COPY" in f or "LICENSE" in f:
                continue
            out.append(os.path.relpath(os.path.join(root, f), CORPUS))
    return sorted(out)


def value_end(data, i):
    """The end of the IMAP value starting at data[i] (a list, string, literal, atom)."""
    depth = 0
    while i < len(data):
        c = data[i:i + 1]
        if c == b"(":
            depth += 1
            i += 1
        elif c == b")":
            depth -= 1
            i += 1
            if depth <= 0:
                return i
        elif c == b'"':
            i += 1
            while data[i:i + 1] != b'"':
                i += 2 if data[i:i + 1] == b"\\" else 1
            i += 1
            if depth == 0:
                return i
        elif c == b"{" or (c == b"~" and data[i + 1:i + 2] == b"{"):
            i += c == b"~"
            close = data.index(b"}", i)
            n = int(data[i + 1:close])
            i = close + 3 + n
            if depth == 0:
                return i
        elif c == b" ":
            i += 1
        else:
            while data[i:i + 1] not in (b" ", b")", b""):
                i += 1
            if depth == 0:
                return i
    raise ValueError("unterminated value")


def fetch(d, path, data=None):
    md = os.path.join(d, "Maildir")
    shutil.rmtree(md, ignore_errors=True)
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    if data is None:
        shutil.copyfile(os.path.join(CORPUS, path), os.path.join(md, "cur", "1.msg:2,"))
    else:
        with open(os.path.join(md, "cur", "1.msg:2,"), "wb") as f:
            f.write(data)
    subprocess.run(["chown", "-R", "65534:65534", md], check=True)
    cmd = b"a select INBOX\r\nb fetch 1 (BODY BODYSTRUCTURE ENVELOPE PREVIEW)\r\nc logout\r\n"
    env = dict(os.environ, USER="nobody", HOME=d)
    out = subprocess.run(["/usr/lib/dovecot/imap", "-c", os.path.join(d, "dovecot.conf")],
                         input=cmd, capture_output=True, env=env, timeout=60).stdout
    if b"* 1 FETCH (" not in out:
        sys.exit("%s: no FETCH answer:\n%s" % (path, out.decode(errors="replace")))
    start = out.index(b"* 1 FETCH (") + len(b"* 1 FETCH (")
    vals, i = {}, start
    while out[i:i + 1] != b")":
        sp = out.index(b" ", i)
        name = out[i:sp].decode()
        end = value_end(out, sp + 1)
        vals[name] = out[sp + 1:end]
        i = end + (out[end:end + 1] == b" ")
    return vals


def main():
    d = tempfile.mkdtemp(prefix="dovecot-ref.")
    os.chmod(d, 0o755)
    try:
        for sub in ("run", "state"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(CONF.format(d=d))
        w = sys.stdout.buffer
        items = [(p, None) for p in corpus_files()] + imaptest_items()
        for path, data in items:
            vals = fetch(d, path, data)
            for item in ITEMS:
                v = vals[item]
                w.write(b"%s\t%s\t%d\n" % (path.encode(), item.encode(), len(v)))
                w.write(v + b"\n")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
