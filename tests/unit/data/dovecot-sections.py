#!/usr/bin/env python3
"""
dovecot-sections.py - record what Dovecot answers to FETCH BODY[section] and
BINARY[section] for every message of ../shared/conformance/mime, for part
paths up to three numbers deep (1..3 each): BODY[p], BODY[p.MIME],
BODY[p.HEADER], BODY[p.TEXT], BINARY[p], and BODY[HEADER], BODY[TEXT].
test_imap_bodystructure.c compares lib-imap's ranges (sent with bare LF as
CRLF, as FETCH sends them) and BINARY decoding with it.

Needs what dovecot-ref.py needs (it reuses its setup). Usage, from the
worktree root:

    python3 tests/unit/data/dovecot-sections.py > tests/unit/data/dovecot-sections.ref

Output: one line per item, "path<TAB>ITEM<TAB>length<TAB>fnv1a-64 (hex)"
of the value's bytes (a literal's content, a quoted string unescaped; NIL
is length 0), or "path<TAB>ITEM<TAB>NO" when the FETCH failed.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("ref", os.path.join(HERE, "dovecot-ref.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return h


def paths():
    out = []
    for a in range(1, 4):
        out.append("%d" % a)
        for b in range(1, 4):
            out.append("%d.%d" % (a, b))
            for c in range(1, 4):
                out.append("%d.%d.%d" % (a, b, c))
    return out


def value_bytes(v):
    if v.startswith(b"{") or v.startswith(b"~{"):
        return v[v.index(b"\r\n") + 2:]
    if v.startswith(b'"'):
        out, i = bytearray(), 1
        while v[i:i + 1] != b'"':
            if v[i:i + 1] == b"\\":
                i += 1
            out += v[i:i + 1]
            i += 1
        return bytes(out)
    return b""                                   # NIL


def session(d, commands):
    env = dict(os.environ, USER="nobody", HOME=d)
    data = b"a select INBOX\r\n" + b"".join(commands) + b"z logout\r\n"
    return subprocess.run(["/usr/lib/dovecot/imap", "-c", os.path.join(d, "dovecot.conf")],
                          input=data, capture_output=True, env=env, timeout=120).stdout


def fetch_items(out, start):
    """name -> value of the "* 1 FETCH (" response at start."""
    vals, i = {}, start + len(b"* 1 FETCH (")
    while out[i:i + 1] != b")":
        sp = out.index(b" ", i)
        name = out[i:sp].decode()
        end = ref.value_end(out, sp + 1)
        vals[name] = out[sp + 1:end]
        i = end + (out[end:end + 1] == b" ")
    return vals


def main():
    d = tempfile.mkdtemp(prefix="dovecot-sect.")
    os.chmod(d, 0o755)
    w = sys.stdout
    try:
        for sub in ("run", "state"):
            os.makedirs(os.path.join(d, sub))
        with open(os.path.join(d, "dovecot.conf"), "w") as f:
            f.write(ref.CONF.format(d=d))
        for path in ref.corpus_files():
            md = os.path.join(d, "Maildir")
            shutil.rmtree(md, ignore_errors=True)
            for sub in ("cur", "new", "tmp"):
                os.makedirs(os.path.join(md, sub))
            shutil.copyfile(os.path.join(ref.CORPUS, path), os.path.join(md, "cur", "1.msg:2,"))
            subprocess.run(["chown", "-R", "65534:65534", md], check=True)
            body = ["HEADER", "TEXT"]
            for p in paths():
                body += [p, p + ".MIME", p + ".HEADER", p + ".TEXT"]
            cmd = b"b fetch 1 (" + b" ".join(b"BODY.PEEK[%s]" % s.encode() for s in body) + b")\r\n"
            out = session(d, [cmd])
            if b"\r\nb OK" not in out:
                continue                        # Dovecot failed on this message
            vals = fetch_items(out, out.index(b"* 1 FETCH (BODY["))
            for s in body:
                v = value_bytes(vals["BODY[%s]" % s])
                w.write("%s\tBODY[%s]\t%d\t%016x\n" % (path, s, len(v), fnv1a(v)))
            # BINARY of the parts that exist, one session each (Dovecot answers
            # only the first BINARY of a session here)
            for p in paths():
                if not value_bytes(vals["BODY[%s.MIME]" % p]) and not value_bytes(vals["BODY[%s]" % p]):
                    continue
                out = session(d, [b"c fetch 1 (BINARY.PEEK[%s])\r\n" % p.encode()])
                if b"\r\nc OK" not in out:
                    w.write("%s\tBINARY[%s]\tNO\n" % (path, p))
                    continue
                start = out.find(b"* 1 FETCH (BINARY[")
                v = value_bytes(fetch_items(out, start)["BINARY[%s]" % p]) if start >= 0 else b""
                w.write("%s\tBINARY[%s]\t%d\t%016x\n" % (path, p, len(v), fnv1a(v)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
