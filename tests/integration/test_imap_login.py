"""imapd before and at login: the greeting and capabilities, LOGINDISABLED
before TLS, STARTTLS and implicit TLS, LOGIN and AUTHENTICATE (SASL-IR)
through yubin's auth service, failed logins, malformed commands, and the
hand-off to a mail worker running as the user's uid (Python imaplib and
curl as clients)."""
import base64
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import time

import pytest

from conftest import IS_ROOT, YUBIN, free_port, wait_for, wait_port


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


@pytest.fixture
def imap(instance, tmp_path):
    """An instance with imap on 127.0.0.2 (a client from 127.0.0.1 is not
    'local', so plaintext logins are refused there), imap on 127.0.0.1 (the
    same address on both ends: as secure as TLS, as in Dovecot) and imaps."""
    def make(main=None):
        key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                       check=True, capture_output=True)
        if IS_ROOT:
            vuid, vgid = pwd.getpwnam("vmail").pw_uid, pwd.getpwnam("vmail").pw_gid
        else:
            vuid, vgid = os.getuid(), os.getgid()
        crypt = subprocess.run([YUBIN, "pw", "-s", "SHA512-CRYPT", "-p", "alicepw"],
                               capture_output=True, text=True, check=True).stdout.strip()
        users = tmp_path / "users"
        users.write_text("alice@example.test:%s:%d:%d::/var/mail/alice::\n"
                         "root@example.test:{PLAIN}rootpw:0:0::/root::\n"
                         % (crypt, vuid, vgid))
        os.chmod(users, 0o644)
        plain, local, imaps = free_port(), free_port(), free_port()
        params = {
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
            "auth_passdb": "passwd-file:%s" % users,
            "auth_failure_delay": "100ms",
            "first_valid_uid": "1" if vuid else "0",
        }
        params.update(main or {})
        extra = ("127.0.0.2:%d inet n - n - - imapd\n"
                 "127.0.0.1:%d inet n - n - - imapd\n"
                 "127.0.0.1:%d inet n - n - - imapd -o imapd_tls_wrappermode=yes\n"
                 "auth unix - - n - 1 auth\n" % (plain, local, imaps))
        inst = instance(main=params, master_extra=extra)
        inst.plain, inst.local, inst.imaps = plain, local, imaps
        inst.vuid = vuid
        inst.start()
        assert wait_port(plain, host="127.0.0.2") and wait_port(local) and wait_port(imaps)
        return inst
    return make


class Raw:
    """A byte-exact IMAP client."""

    def __init__(self, port, host="127.0.0.1", tls=False):
        self.s = socket.create_connection((host, port), timeout=10)
        if tls:
            self.s = ctx().wrap_socket(self.s)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def until(self, tag):
        """Lines up to and including the one starting with tag."""
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(tag + " "):
                return out

    def close(self):
        self.s.close()


def test_greeting_capability_logindisabled(imap):
    inst = imap()
    r = Raw(inst.plain, host="127.0.0.2")
    g = r.line()
    assert g.startswith("* OK [CAPABILITY IMAP4rev1 ") and g.endswith("] yubin ready."), g
    assert "STARTTLS" in g and "LOGINDISABLED" in g and "AUTH=PLAIN" not in g, g
    r.send("a1 CAPABILITY\r\n")
    lines = r.until("a1")
    assert lines[0].startswith("* CAPABILITY ") and "LOGINDISABLED" in lines[0]
    assert lines[-1].startswith("a1 OK")
    r.send("a2 LOGIN alice@example.test alicepw\r\n")
    assert r.until("a2")[-1].startswith("a2 NO [PRIVACYREQUIRED]")
    r.send("a3 AUTHENTICATE PLAIN\r\n")
    assert r.until("a3")[-1].startswith("a3 NO [PRIVACYREQUIRED]")
    r.send("a4 NOOP\r\na5 LOGOUT\r\n")
    lines = r.until("a5")
    assert "a4 OK NOOP completed." in lines and "* BYE Logging out" in lines
    assert lines[-1] == "a5 OK Logout completed."
    r.close()


def test_same_address_counts_as_secure(imap):
    inst = imap()
    r = Raw(inst.local)
    g = r.line()
    assert "LOGINDISABLED" not in g and "AUTH=PLAIN" in g and "AUTH=LOGIN" in g, g
    r.close()


def test_starttls_then_login_and_uid_of_the_session(imap):
    inst = imap()
    m = imaplib.IMAP4("127.0.0.2", inst.plain)
    assert "LOGINDISABLED" in m.capabilities
    m.starttls(ssl_context=ctx())
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    typ, data = m.login("alice@example.test", "alicepw")
    assert typ == "OK" and b"Logged in" in data[0]
    typ, data = m.noop()
    assert typ == "OK"
    # the session is served by a mail worker running as the user's uid
    if IS_ROOT:
        procs = subprocess.run(["ps", "-eo", "pid,uid,args"], capture_output=True,
                               text=True).stdout
        workers = [l for l in procs.splitlines() if "imapd: mail uid=%d" % inst.vuid in l]
        assert workers, procs
        pid = int(workers[0].split()[0])
        with open("/proc/%d/status" % pid) as f:
            st = f.read()
        uids = [l for l in st.splitlines() if l.startswith("Uid:")][0].split()[1:]
        assert uids == [str(inst.vuid)] * 4, st
    typ, data = m.logout()
    assert typ == "BYE"
    inst.wait_log("Login: user=<alice@example.test>, method=LOGIN")


def test_wrong_password(imap):
    inst = imap()
    m = imaplib.IMAP4("127.0.0.2", inst.plain)
    m.starttls(ssl_context=ctx())
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("alice@example.test", "wrong")
    assert "AUTHENTICATIONFAILED" in str(e.value)
    # the session goes on: a second try works
    typ, _ = m.login("alice@example.test", "alicepw")
    assert typ == "OK"
    m.logout()
    inst.wait_log("SASL LOGIN authentication failed")


def test_imaps_authenticate_plain_sasl_ir(imap):
    inst = imap()
    r = Raw(inst.imaps, tls=True)
    g = r.line()
    assert "STARTTLS" not in g and "AUTH=PLAIN" in g and "SASL-IR" in g, g
    ir = base64.b64encode(b"\0alice@example.test\0alicepw").decode()
    r.send("x1 AUTHENTICATE PLAIN %s\r\nx2 CAPABILITY\r\n" % ir)
    lines = r.until("x1")
    assert lines[-1].startswith("x1 OK [CAPABILITY IMAP4rev1") and "Logged in" in lines[-1]
    lines = r.until("x2")   # pipelined after the login: served by the mail worker
    assert lines[0].startswith("* CAPABILITY IMAP4rev1") and "AUTH=" not in lines[0]
    r.send("x3 SELECT INBOX\r\nx4 FETCH 1 FLAGS\r\nx5 BOGUS\r\nx6 LOGOUT\r\n")
    # alice's Maildir is where virtual delivers (the instance's virtual_mailbox_maps)
    assert r.until("x3")[-1].startswith("x3 OK [READ-WRITE]")
    assert r.until("x4")[-1].startswith("x4 BAD")
    assert r.until("x5")[-1] == "x5 BAD Unknown command."
    lines = r.until("x6")
    assert lines[-1] == "x6 OK Logout completed."
    r.close()


def test_authenticate_continuation_and_cancel(imap):
    inst = imap()
    r = Raw(inst.local)
    r.line()
    r.send("c1 AUTHENTICATE PLAIN\r\n")
    assert r.line() == "+ "
    r.send("*\r\n")
    assert r.until("c1")[-1].startswith("c1 BAD")
    r.send("c2 AUTHENTICATE PLAIN\r\n")
    assert r.line() == "+ "
    r.send(base64.b64encode(b"\0alice@example.test\0alicepw").decode() + "\r\n")
    assert r.until("c2")[-1].startswith("c2 OK [CAPABILITY")
    r.send("c3 LOGOUT\r\n")
    assert r.until("c3")[-1] == "c3 OK Logout completed."
    r.close()


def test_uid_zero_is_refused(imap):
    inst = imap()
    m = imaplib.IMAP4("127.0.0.1", inst.local)
    with pytest.raises(imaplib.IMAP4.error) as e:
        m.login("root@example.test", "rootpw")
    assert "UNAVAILABLE" in str(e.value)
    inst.wait_log("refusing to serve mail as root")
    m.logout()


def test_malformed_and_unknown_commands(imap):
    inst = imap()
    r = Raw(inst.local)
    r.line()
    r.send("b1 FOO\r\n")
    assert r.until("b1")[-1] == "b1 BAD Unknown command."
    r.send("b2 LOGIN \"unterminated\r\n")
    assert r.until("b2")[-1].startswith("b2 BAD")
    r.send("b3 LOGIN a\r\n")
    assert r.until("b3")[-1].startswith("b3 BAD")
    r.send("b4 NOOP ) {5+}\r\nhello\r\nb5 NOOP\r\n")
    assert r.until("b4")[-1].startswith("b4 BAD")
    assert r.until("b5")[-1] == "b5 OK NOOP completed."
    r.send("* NOOP\r\n")
    assert r.line().startswith("* BAD")
    r.send("b6 LOGIN {100000}\r\n")
    assert r.until("b6")[-1].startswith("b6 NO [TOOBIG]")
    r.send("b7 LOGIN {5}\r\n")
    assert r.line().startswith("+ ")
    r.send("alice {7}\r\n")
    assert r.line().startswith("+ ")
    r.send("wrongpw\r\n")
    assert r.until("b7")[-1].startswith("b7 NO [AUTHENTICATIONFAILED]")
    r.close()


def test_starttls_discards_pipelined_plaintext(imap):
    inst = imap()
    r = Raw(inst.plain, host="127.0.0.2")
    r.line()
    r.send("s1 STARTTLS\r\ns2 CAPABILITY\r\n")
    assert r.until("s1")[-1] == "s1 OK Begin TLS negotiation now."
    r.s = ctx().wrap_socket(r.s)
    r.send("s3 NOOP\r\n")
    assert r.until("s3") == ["s3 OK NOOP completed."]
    inst.wait_log("discarding 15 bytes of plaintext sent after STARTTLS")
    r.close()


def test_login_timeout(imap):
    inst = imap(main={"imapd_login_timeout": "1s"})
    r = Raw(inst.local)
    r.line()
    time.sleep(1.5)
    assert r.line() == "* BYE Disconnected for inactivity."
    r.close()


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_curl_imaps_login(imap):
    inst = imap()
    # curl logs in, then asks for the mailbox list, which the mail worker
    # does not serve yet: the login itself is what is checked here
    r = subprocess.run(["curl", "-sk", "-v", "--max-time", "10",
                        "imaps://127.0.0.1:%d/" % inst.imaps,
                        "--login-options", "AUTH=PLAIN", "-u", "alice@example.test:alicepw"],
                       capture_output=True, text=True)
    assert "OK [CAPABILITY" in r.stderr and "Logged in" in r.stderr, r.stderr


def test_mail_max_userip_connections(imap):
    inst = imap(main={"mail_max_userip_connections": "2"})
    held = []
    for i in range(2):
        m = imaplib.IMAP4("127.0.0.1", inst.local)
        assert m.login("alice@example.test", "alicepw")[0] == "OK"
        held.append(m)
    r = Raw(inst.local)
    r.line()
    r.send("t1 LOGIN alice@example.test alicepw\r\n")
    assert r.line() == ("* BYE Maximum number of connections from user+IP exceeded "
                        "(mail_max_userip_connections=2)")
    with pytest.raises(EOFError):
        r.line()
    r.close()
    held.pop().logout()
    # the ended session is counted out: a new one fits again
    def third():
        m = imaplib.IMAP4("127.0.0.1", inst.local)
        try:
            m.login("alice@example.test", "alicepw")
        except imaplib.IMAP4.error:
            return False
        held.append(m)
        return True
    assert wait_for(third, timeout=5)
    for m in held:
        m.logout()


def imapd_tree(inst):
    """The pids of this instance's imapd processes and of all their descendants."""
    rows = [l.split(None, 2) for l in subprocess.run(
        ["ps", "-eo", "pid,ppid,args"], capture_output=True, text=True).stdout.splitlines()[1:]]
    kids = {}
    for pid, ppid, *args in rows:
        kids.setdefault(int(ppid), []).append(int(pid))
    todo = [int(pid) for pid, _, *args in rows
            if args and args[0].startswith("imapd -n ") and inst.dir in args[0]]
    found = set()
    while todo:
        p = todo.pop()
        if p not in found:
            found.add(p)
            todo.extend(kids.get(p, []))
    return found


def test_stop_ends_the_sessions(imap):
    inst = imap()
    r = Raw(inst.local)
    r.line()
    r.send("z1 LOGIN alice@example.test alicepw\r\n")
    assert r.until("z1")[-1].startswith("z1 OK [CAPABILITY")
    procs = imapd_tree(inst)
    assert len(procs) >= 5, procs     # 3 front ends, their launchers, a mail worker
    inst.cmd("stop", check=True)
    assert r.line() == "* BYE Server shutting down."
    r.close()
    # nothing of it is left behind
    assert wait_for(lambda: not any(os.path.exists("/proc/%d" % p) for p in procs), timeout=15)


def test_authenticate_login_mechanism(imap):
    inst = imap()
    r = Raw(inst.local)
    r.line()
    r.send("l1 AUTHENTICATE LOGIN\r\n")
    assert base64.b64decode(r.line()[2:]).lower().startswith(b"username")
    r.send(base64.b64encode(b"alice@example.test").decode() + "\r\n")
    assert base64.b64decode(r.line()[2:]).lower().startswith(b"password")
    r.send(base64.b64encode(b"alicepw").decode() + "\r\n")
    assert r.until("l1")[-1].startswith("l1 OK [CAPABILITY")
    r.send("l2 LOGOUT\r\n")
    assert r.until("l2")[-1] == "l2 OK Logout completed."
    r.close()


def test_login_client_limit_drops_the_oldest(imap):
    inst = imap(main={"imapd_login_client_limit": "2"})
    a, b = Raw(inst.local), Raw(inst.local)
    a.line()
    b.line()
    c = Raw(inst.local)
    assert c.line().startswith("* OK [CAPABILITY")
    with pytest.raises((EOFError, ConnectionResetError)):
        a.line()                     # the oldest went
    b.send("n1 NOOP\r\n")
    assert b.until("n1") == ["n1 OK NOOP completed."]
    inst.wait_log("imapd_login_client_limit (2) reached")
    for r in (a, b, c):
        r.close()
