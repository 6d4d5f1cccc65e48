"""pop3d: the POP3 server on lib-login's front end -> launcher -> mail
worker path. Python poplib (USER/PASS after STLS, AUTH PLAIN with an
initial response, TOP, UIDL), curl pop3s://, fetchmail into an MDA,
deletions only at QUIT, the [IN-USE] lock, plaintext refused before TLS,
an IMAP expunge while a POP3 session is open, and UIDL values equal to
those of Debian's real Dovecot pop3 on the same Maildir."""
import base64
import imaplib
import os
import poplib
import pwd
import re
import shutil
import socket
import ssl
import subprocess
import time

import pytest

import dovecot
from conftest import IS_ROOT, free_port, wait_port


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


MSG = ("From: bob@example.test\r\nTo: alice@example.test\r\nSubject: number %d\r\n"
       "Message-ID: <m%d@example.test>\r\n\r\nline one of %d\r\n.starts with a dot\r\n"
       "line three\r\n")


class Pop:
    def __init__(self, inst, ports, home, vuid, vgid):
        self.inst, self.home, self.vuid, self.vgid = inst, home, vuid, vgid
        self.plain, self.local, self.pop3s, self.imap = ports
        self.maildir = os.path.join(home, "Maildir")

    def put(self, n, lf=True, start=1):
        """n messages into new/, bare LF line ends (as delivered) unless lf is False."""
        for d in ("", "new", "cur", "tmp"):
            p = os.path.join(self.maildir, d)
            os.makedirs(p, exist_ok=True)
            os.chown(p, self.vuid, self.vgid)
        for i in range(start, start + n):
            text = MSG % (i, i, i)
            if lf:
                text = text.replace("\r\n", "\n")
            path = os.path.join(self.maildir, "new", "%d.M%dP1.host" % (1700000000 + i, i))
            with open(path, "w") as f:
                f.write(text)
            os.chown(path, self.vuid, self.vgid)

    def files(self):
        return sorted(os.listdir(os.path.join(self.maildir, "cur")) +
                      os.listdir(os.path.join(self.maildir, "new")))

    def login(self):
        p = poplib.POP3("127.0.0.1", self.local, timeout=10)
        p.user("alice@example.test")
        p.pass_("alicepw")
        return p

    def login_when_unlocked(self, timeout=10):
        """Log in once the previous session's worker has seen its client go."""
        deadline = time.time() + timeout
        while True:
            try:
                return self.login()
            except poplib.error_proto as e:
                if b"IN-USE" not in e.args[0] or time.time() > deadline:
                    raise
                time.sleep(0.05)


@pytest.fixture
def pop(instance, tmp_path):
    def make(main=None):
        key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                       check=True, capture_output=True)
        if IS_ROOT:
            vuid, vgid = pwd.getpwnam("vmail").pw_uid, pwd.getpwnam("vmail").pw_gid
        else:
            vuid, vgid = os.getuid(), os.getgid()
        home = tmp_path / "home" / "alice"
        home.mkdir(parents=True)
        for d in (tmp_path, tmp_path / "home"):
            os.chmod(d, 0o755)
        os.chown(home, vuid, vgid)
        users = tmp_path / "users"
        users.write_text("alice@example.test:{PLAIN}alicepw:%d:%d::%s::\n" % (vuid, vgid, home))
        os.chmod(users, 0o644)
        ports = (free_port(), free_port(), free_port(), free_port())
        params = {
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
            "auth_passdb": "passwd-file:%s" % users,
            "auth_failure_delay": "100ms",
            "first_valid_uid": "1" if vuid else "0",
            "mail_location": "maildir:~/Maildir",
        }
        params.update(main or {})
        extra = ("127.0.0.2:%d inet n - n - - pop3d\n"
                 "127.0.0.1:%d inet n - n - - pop3d\n"
                 "127.0.0.1:%d inet n - n - - pop3d -o pop3d_tls_wrappermode=yes\n"
                 "127.0.0.1:%d inet n - n - - imapd\n"
                 "auth unix - - n - 1 auth\n" % ports)
        inst = instance(main=params, master_extra=extra)
        inst.start()
        assert wait_port(ports[0], host="127.0.0.2")
        for p in ports[1:]:
            assert wait_port(p)
        return Pop(inst, ports, str(home), vuid, vgid)
    return make


def test_plaintext_refused_before_stls_then_user_pass_top_uidl(pop):
    p = pop()
    p.put(3)
    c = poplib.POP3("127.0.0.2", p.plain, timeout=10)
    assert c.getwelcome().startswith(b"+OK")
    capa = c.capa()
    assert "STLS" in capa and "USER" not in capa and "RESP-CODES" in capa
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
        c.user("alice@example.test")
    c.stls(context=ctx())
    capa = c.capa()
    assert "USER" in capa and "STLS" not in capa and "PLAIN" in capa.get("SASL", [])
    c.user("alice@example.test")
    c.pass_("alicepw")
    count, size = c.stat()
    assert count == 3
    listing = c.list()[1]
    sizes = [int(x.split()[1]) for x in listing]
    assert sum(sizes) == size
    # sizes are octets with CRLF line ends (the files have LF)
    assert sizes[0] == len((MSG % (1, 1, 1)).encode())
    resp, lines, octets = c.top(2, 1)
    assert b"Subject: number 2" in lines and lines[-1] == b"line one of 2"
    assert b"line three" not in lines
    uidl = c.uidl()[1]
    assert len(uidl) == 3 and all(re.match(rb"^\d \w{16}$", u) for u in uidl)
    resp, lines, octets = c.retr(1)
    assert b".starts with a dot" in lines   # poplib removes the stuffed dot
    assert octets == sizes[0] + len(b"..starts with a dot\r\n") - len(b".starts with a dot\r\n") \
        or octets >= sizes[0]
    c.quit()
    # RETR marks the message \Seen (pop3_no_flag_updates = no), at QUIT
    seen = [f for f in p.files() if f.endswith(",S")]
    assert len(seen) == 1


def test_retr_is_byte_exact_and_dot_stuffed(pop):
    p = pop()
    p.put(1, lf=False)
    s = socket.create_connection(("127.0.0.1", p.local), timeout=10)
    f = s.makefile("rb")
    assert f.readline().startswith(b"+OK")
    s.sendall(b"USER alice@example.test\r\nPASS alicepw\r\nRETR 1\r\nQUIT\r\n")
    assert f.readline().startswith(b"+OK")
    assert f.readline().startswith(b"+OK Logged in")
    head = f.readline()
    assert head.startswith(b"+OK %d octets" % len((MSG % (1, 1, 1)).encode()))
    body = b""
    while not body.endswith(b"\r\n.\r\n"):
        chunk = f.readline()
        assert chunk
        body += chunk
    assert b"\r\n..starts with a dot\r\n" in body
    assert body.endswith(b"line three\r\n.\r\n")
    assert f.readline().startswith(b"+OK Logging out")
    s.close()


def test_large_message_streamed(pop):
    p = pop()
    p.put(0)
    body = "".join("line %07d of a large message\n" % i for i in range(120000))   # ~3.6 MB
    path = os.path.join(p.maildir, "new", "1700000100.M1P1.host")
    with open(path, "w") as f:
        f.write("Subject: large\n\n" + body)
    os.chown(path, p.vuid, p.vgid)
    on_disk = os.path.getsize(path)     # the login moves it to cur/
    c = p.login()
    count, size = c.stat()
    assert count == 1 and size == on_disk + body.count("\n") + 2
    resp, lines, octets = c.retr(1)
    assert len(lines) == 120002 and lines[-1] == b"line 0119999 of a large message"
    assert c.top(1, 3)[1][-1] == b"line 0000002 of a large message"
    c.quit()


def test_auth_plain_initial_response_and_failures(pop):
    p = pop()
    p.put(1)
    s = socket.create_connection(("127.0.0.1", p.local), timeout=10)
    f = s.makefile("rb")
    f.readline()
    bad = base64.b64encode(b"\0alice@example.test\0wrong").decode()
    s.sendall(("AUTH PLAIN %s\r\n" % bad).encode())
    assert f.readline().startswith(b"-ERR [AUTH] Authentication failed.")
    s.sendall(b"AUTH PLAIN\r\n")
    assert f.readline().startswith(b"+ ")
    s.sendall(b"*\r\n")
    assert f.readline().startswith(b"-ERR")
    s.sendall(b"AUTH X-UNKNOWN\r\n")
    assert f.readline().startswith(b"-ERR")
    good = base64.b64encode(b"\0alice@example.test\0alicepw").decode()
    s.sendall(("AUTH PLAIN %s\r\nSTAT\r\n" % good).encode())
    assert f.readline().startswith(b"+OK Logged in")
    assert f.readline().startswith(b"+OK 1 ")
    s.close()


def test_deletions_only_at_quit(pop):
    p = pop()
    p.put(3)
    c = p.login()
    c.dele(1)
    assert c.stat()[0] == 2
    with pytest.raises(poplib.error_proto, match="deleted"):
        c.retr(1)
    c.file.close()                      # gone without QUIT: nothing is deleted
    c.sock.close()
    c = p.login_when_unlocked()
    assert c.stat()[0] == 3
    c.dele(2)
    c.rset()
    assert c.stat()[0] == 3
    c.dele(2)
    c.quit()
    c = p.login()
    assert c.stat()[0] == 2
    subjects = [c.top(i, 0)[1] for i in (1, 2)]
    assert any(b"Subject: number 1" in t for t in subjects)
    assert not any(b"Subject: number 2" in t for t in subjects)
    c.quit()
    assert len(p.files()) == 2


def test_second_session_in_use(pop):
    p = pop()
    p.put(1)
    c = p.login()
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        p.login()
    c.quit()
    c = p.login_when_unlocked()         # the lock went with the session
    c.quit()


def test_imap_expunge_meanwhile_and_new_mail_unseen(pop):
    p = pop()
    p.put(3)
    c = p.login()
    assert c.stat()[0] == 3
    m = imaplib.IMAP4("127.0.0.1", p.imap)
    m.login("alice@example.test", "alicepw")
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Deleted")
    m.expunge()
    m.logout()
    p.put(1, start=10)                  # delivered after the POP3 login: not seen
    assert c.stat()[0] == 3
    with pytest.raises(poplib.error_proto):
        c.retr(1)
    assert b"Subject: number 2" in b"\n".join(c.retr(2)[1])
    c.quit()
    c = p.login()
    assert c.stat()[0] == 3             # 2, 3 and the new one
    c.quit()


def test_curl_pop3s(pop):
    p = pop()
    p.put(2)
    r = subprocess.run(["curl", "-s", "-k", "--max-time", "20",
                        "pop3s://127.0.0.1:%d/2" % p.pop3s, "-u", "alice@example.test:alicepw"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert b"Subject: number 2" in r.stdout
    r = subprocess.run(["curl", "-s", "-k", "--max-time", "20",
                        "pop3s://127.0.0.1:%d/" % p.pop3s, "-u", "alice@example.test:alicepw"],
                       capture_output=True, timeout=30)
    assert r.stdout.split(b"\r\n")[:2] == [b"1 %d" % len((MSG % (1, 1, 1)).encode()),
                                           b"2 %d" % len((MSG % (2, 2, 2)).encode())]


def test_fetchmail_into_mda(pop, tmp_path):
    p = pop()
    p.put(3)
    out = tmp_path / "fetched.mbox"
    rc = tmp_path / "fetchmailrc"
    rc.write_text('poll 127.0.0.1 service %d protocol pop3 auth password:\n'
                  '  user "alice@example.test" password "alicepw" sslproto "" no keep\n'
                  '  mda "/bin/sh -c \'cat >> %s\'"\n' % (p.local, out))
    os.chmod(rc, 0o600)
    env = dict(os.environ, HOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "-N", "--nosyslog", "-i",
                        str(tmp_path / "ids")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    text = out.read_text()
    for i in (1, 2, 3):
        assert "Subject: number %d" % i in text
    assert p.files() == []              # "no keep": deleted at QUIT


def test_bad_commands_and_long_line(pop):
    p = pop()
    s = socket.create_connection(("127.0.0.1", p.local), timeout=10)
    f = s.makefile("rb")
    f.readline()
    s.sendall(b"STAT\r\n")
    assert f.readline().startswith(b"-ERR")
    s.sendall(b"X" * 9000 + b"\r\n")
    assert f.readline().startswith(b"-ERR")
    assert f.readline() == b""          # closed
    s.close()


@pytest.mark.skipif(not os.path.exists("/usr/lib/dovecot/pop3"),
                    reason="Debian's dovecot-pop3d is not installed")
def test_uidl_same_as_dovecot(pop, tmp_path):
    p = pop()
    p.put(4)
    c = p.login()                       # yubin assigns the UIDs first
    ours = c.uidl()[1]
    c.quit()
    dc = dovecot.PrivateDovecot(tmp_path / "dovecot", maildir=p.maildir,
                                protocols="imap pop3").start()
    try:
        d = poplib.POP3("127.0.0.1", dc.pop3_port, timeout=10)
        d.user(dc.user)
        d.pass_(dc.password)
        theirs = d.uidl()[1]
        d.quit()
    finally:
        dc.stop()
    assert ours == theirs
    # and the other way round: a message Dovecot numbered first
    p.put(1, start=20)
    dc = dovecot.PrivateDovecot(tmp_path / "dovecot2", maildir=p.maildir,
                                protocols="imap pop3").start()
    try:
        d = poplib.POP3("127.0.0.1", dc.pop3_port, timeout=10)
        d.user(dc.user)
        d.pass_(dc.password)
        theirs = d.uidl()[1]
        d.quit()
    finally:
        dc.stop()
    if IS_ROOT:
        shutil.chown(p.maildir, p.vuid, p.vgid)
    c = p.login()
    ours = c.uidl()[1]
    c.quit()
    assert ours == theirs and len(ours) == 5
