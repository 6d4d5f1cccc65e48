"""managesieved (RFC 5804) on lib-login's front end -> launcher -> mail
worker path, driven by a small Python client: the greeting's
capabilities, STARTTLS before plaintext SASL, AUTHENTICATE PLAIN with an
initial response, PUTSCRIPT with a compile error answered "line N",
LISTSCRIPTS/GETSCRIPT/SETACTIVE/RENAMESCRIPT/DELETESCRIPT, Pigeonhole's
layout (~/sieve/NAME.sieve, ~/.dovecot.sieve -> sieve/NAME.sieve) run by
the LMTP server at delivery, quota refusals, and names that try to leave
the script directory."""
import base64
import shutil
import os
import socket
import ssl
import subprocess

import pytest

from conftest import free_port, wait_port
from ldatest import LMTP, lda_instance, message, wait_folder, wait_ready


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


class Sieve:
    """A ManageSieve client: responses as (result, code-and-text line, data lines)."""

    def __init__(self, port, host="127.0.0.1"):
        self.s = socket.create_connection((host, port), timeout=15)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode()

    def read(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out.decode()

    def response(self):
        data = []
        while True:
            ln = self.line()
            if ln.startswith(("OK", "NO", "BYE")):
                word = ln.split(" ", 1)[0]
                rest = ln[len(word):].strip()
                if rest.endswith("}") and "{" in rest:     # a literal text
                    n = int(rest[rest.rindex("{") + 1:-1])
                    rest = rest[:rest.rindex("{")] + self.read(n)
                    self.line()
                return word, rest, data
            if ln.startswith("{") and ln.endswith("}"):
                data.append(self.read(int(ln[1:-1])))
                assert self.line() == ""
                continue
            data.append(ln)

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.response()

    def starttls(self):
        r = self.cmd("STARTTLS")
        assert r[0] == "OK", r
        self.s = ctx().wrap_socket(self.s)
        return self.response()                 # the capabilities again

    def login(self, user="alice@example.test", pw="pw-alice"):
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        return self.cmd('AUTHENTICATE "PLAIN" "%s"' % ir)

    def put(self, name, text):
        b = text.encode()
        self.s.sendall(("PUTSCRIPT %s {%d+}\r\n" % (quote(name), len(b))).encode() + b + b"\r\n")
        return self.response()


def started(instance, tmp_path, main=None):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True)
    local, remote = free_port(), free_port()
    params = {"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key}
    params.update(main or {})
    inst = lda_instance(instance, tmp_path, main=params, master_extra=(
        "127.0.0.1:%d inet n - n - - managesieved\n"
        "127.0.0.2:%d inet n - n - - managesieved\n" % (local, remote)))
    inst.start()
    wait_ready(inst)
    assert wait_port(local) and wait_port(remote, host="127.0.0.2")
    inst.sieve_local, inst.sieve_remote = local, remote
    return inst


def caps(lines):
    out = {}
    for ln in lines:
        parts = ln.split('" "')
        out[parts[0].strip('"')] = parts[1].strip('"') if len(parts) > 1 else ""
    return out


def test_greeting_starttls_and_plaintext_refused(instance, tmp_path):
    inst = started(instance, tmp_path)
    c = Sieve(inst.sieve_remote, host="127.0.0.2")
    word, _, lines = c.response()
    cp = caps(lines)
    assert word == "OK"
    assert cp["IMPLEMENTATION"] and cp["VERSION"] == "1.0" and "STARTTLS" in cp
    assert "fileinto" in cp["SIEVE"].split()
    assert "PLAIN" not in cp.get("SASL", "").split()          # no plaintext before TLS
    r = c.login()
    assert r[0] == "NO", r
    cp = caps(c.starttls()[2])
    assert "PLAIN" in cp["SASL"].split() and "STARTTLS" not in cp
    assert c.login()[0] == "OK"
    assert c.cmd("LISTSCRIPTS") == ("OK", '"Listscripts completed."', [])
    assert c.cmd("LOGOUT")[0] == "OK"


def test_scripts_activation_and_delivery(instance, tmp_path):
    inst = started(instance, tmp_path)
    c = Sieve(inst.sieve_local)
    c.response()
    r = c.login("alice@example.test", "wrong")
    assert r[0] == "NO"
    assert c.login()[0] == "OK"
    r = c.put("broken", 'require "fileinto";\nfileinto "x"\nthis is broken;\n')
    assert r[0] == "NO" and "line 2" in r[1], r
    r = c.cmd("CHECKSCRIPT {9+}\r\nkeep;\r\nx")
    assert r[0] == "NO", r
    good = 'require "fileinto";\nif header :contains "subject" "report" { fileinto "Reports"; }\n'
    assert c.put("rules", good)[0] == "OK"
    assert c.put("other", "keep;\n")[0] == "OK"
    assert sorted(c.cmd("LISTSCRIPTS")[2]) == ['"other"', '"rules"']
    assert c.cmd('SETACTIVE "rules"')[0] == "OK"
    assert sorted(c.cmd("LISTSCRIPTS")[2]) == ['"other"', '"rules" ACTIVE']
    home = os.path.join(inst.home, "alice")
    assert os.readlink(os.path.join(home, ".dovecot.sieve")) == "sieve/rules.sieve"
    word, _, data = c.cmd('GETSCRIPT "rules"')
    assert word == "OK" and data == [good]
    r = c.cmd('DELETESCRIPT "rules"')
    assert r[0] == "NO" and "(ACTIVE)" in r[1], r
    assert c.cmd('RENAMESCRIPT "other" "rules"')[1].startswith("(ALREADYEXISTS)")
    assert c.cmd('RENAMESCRIPT "rules" "main"')[0] == "OK"
    assert os.readlink(os.path.join(home, ".dovecot.sieve")) == "sieve/main.sieve"
    assert c.cmd('DELETESCRIPT "other"')[0] == "OK"
    assert c.cmd('DELETESCRIPT "other"')[1].startswith("(NONEXISTENT)")
    assert c.cmd('NOOP "tag1"') == ("OK", '(TAG "tag1") "Done"', [])
    # the LMTP server runs what ManageSieve activated
    os.makedirs(os.path.join(home, "Maildir", ".Reports"), exist_ok=True)
    subprocess.run(["chown", "-R", "%d:%d" % (inst.vuid, inst.vgid),
                    os.path.join(home, "Maildir")], check=True)
    m = LMTP(inst.lmtp_socket)
    m.reply()
    m.cmd("LHLO client.test")
    m.cmd("MAIL FROM:<carol@client.test>")
    assert m.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert m.cmd("DATA")[0] == 354
    m.send(message(subject="monthly report") + ".\r\n")
    assert m.reply()[0] == 250
    [msg] = wait_folder(inst, "alice", 1, name="Reports")
    assert b"Subject: monthly report" in msg
    assert c.cmd('SETACTIVE ""')[0] == "OK"
    assert not os.path.lexists(os.path.join(home, ".dovecot.sieve"))
    c.cmd("LOGOUT")


def test_hand_written_script_kept_as_dovecot_orig(instance, tmp_path):
    inst = started(instance, tmp_path)
    home = os.path.join(inst.home, "alice")
    with open(os.path.join(home, ".dovecot.sieve"), "w") as f:
        f.write("keep;\n")
    c = Sieve(inst.sieve_local)
    c.response()
    assert c.login()[0] == "OK"
    assert c.put("new", "discard;\n")[0] == "OK"
    assert c.cmd('SETACTIVE "new"')[0] == "OK"
    assert sorted(c.cmd("LISTSCRIPTS")[2]) == ['"dovecot.orig"', '"new" ACTIVE']
    assert c.cmd('GETSCRIPT "dovecot.orig"')[2] == ["keep;\n"]
    c.cmd("LOGOUT")


def test_quota_and_names(instance, tmp_path):
    inst = started(instance, tmp_path, main={"sieve_quota_max_scripts": "2",
                                             "sieve_max_script_size": "2048",
                                             "sieve_quota_max_storage": "3000"})
    c = Sieve(inst.sieve_local)
    c.response()
    assert c.login()[0] == "OK"
    big = "# " + "x" * 2100 + "\nkeep;\n"
    r = c.put("big", big)
    assert r[0] == "NO" and r[1].startswith("(QUOTA/MAXSIZE)"), r
    assert c.cmd('HAVESPACE "big" 5000')[1].startswith("(QUOTA/MAXSIZE)")
    assert c.cmd('HAVESPACE "a" 100')[0] == "OK"
    half = "# " + "y" * 1600 + "\nkeep;\n"
    assert c.put("a", half)[0] == "OK"
    r = c.put("b", half)
    assert r[0] == "NO" and r[1].startswith("(QUOTA/MAXSTORAGE)"), r
    assert c.put("b", "keep;\n")[0] == "OK"
    r = c.put("c", "keep;\n")
    assert r[0] == "NO" and r[1].startswith("(QUOTA/MAXSCRIPTS)"), r
    assert c.put("a", "discard;\n")[0] == "OK"          # replacing needs no new slot
    for name in ("../x", "a/b", ".hidden", "..", "", "x\x01y"):
        r = c.put(name, "keep;\n")
        assert r[0] == "NO", (name, r)
        assert c.cmd("GETSCRIPT %s" % quote(name))[0] == "NO"
    assert c.cmd('SETACTIVE "../a"')[0] == "NO"
    assert c.cmd('SETACTIVE "missing"')[1].startswith("(NONEXISTENT)")
    assert not os.path.exists(os.path.join(inst.home, "alice", "x.sieve"))
    assert sorted(os.listdir(os.path.join(inst.home, "alice", "sieve"))) == ["a.sieve",
                                                                              "b.sieve"]
    c.cmd("LOGOUT")


def sieve_connect(inst, *args):
    """Debian's sieve-connect (STARTTLS, then PLAIN) with alice's password on a pipe."""
    r, w = os.pipe()
    os.write(w, b"pw-alice\n")
    os.close(w)
    try:
        return subprocess.run(["sieve-connect", "-s", "127.0.0.1", "-p", str(inst.sieve_local),
                               "-u", "alice@example.test", "--passwordfd", str(r),
                               "--notlsverify", "--authmech", "PLAIN"] + list(args),
                              pass_fds=(r,), capture_output=True, text=True, timeout=60)
    finally:
        os.close(r)


@pytest.mark.skipif(not shutil.which("sieve-connect"), reason="Debian's sieve-connect is not "
                    "installed (scripts/deps.sh lists it)")
def test_sieve_connect(instance, tmp_path):
    inst = started(instance, tmp_path)
    local = tmp_path / "rules.sieve"
    local.write_text('require "fileinto";\nfileinto "Archive";\n')
    r = sieve_connect(inst, "--upload", "--localsieve", str(local), "--remotesieve", "rules")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(inst, "--activate", "--remotesieve", "rules")
    assert r.returncode == 0, r.stdout + r.stderr
    r = sieve_connect(inst, "--list")
    assert r.returncode == 0 and "rules" in r.stdout and "ACTIVE" in r.stdout.upper(), \
        r.stdout + r.stderr
    out = tmp_path / "back.sieve"
    r = sieve_connect(inst, "--download", "--remotesieve", "rules", "--localsieve", str(out))
    assert r.returncode == 0 and out.read_text() == local.read_text(), r.stdout + r.stderr
    assert os.readlink(os.path.join(inst.home, "alice", ".dovecot.sieve")) == "sieve/rules.sieve"
