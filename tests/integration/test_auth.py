"""
The auth service and its client library against real peers:

  * `yubin pw` and Dovecot's `doveadm pw` verify each other's stored values;
  * yubin's auth service (master.cf "auth") answers every mechanism, and
    Dovecot's own client (`doveadm auth test`, `doveadm user`) on both sockets;
  * a real Postfix smtpd (smtpd_sasl_type = dovecot) authenticates SMTP
    clients through yubin's auth socket;
  * yubin's client library (`yubin auth-test`) authenticates against a real
    Dovecot auth server;
  * timing: an unknown user answers as slowly as a wrong password, and a
    burst of failures from one address gets slower without slowing others.
"""
import base64
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

from conftest import YUBIN, free_port, wait_for, wait_port

DOVEADM = shutil.which("doveadm")
DOVECOT = shutil.which("dovecot")
POSTFIX = shutil.which("postfix")
IS_ROOT = os.geteuid() == 0

SCHEMES = ["SHA512-CRYPT", "SHA256-CRYPT", "BLF-CRYPT", "ARGON2ID", "SSHA512", "PLAIN",
           "CRAM-MD5", "SCRAM-SHA-256"]


def yubin_pw(*args, input=None):
    return subprocess.run([YUBIN, "pw"] + list(args), capture_output=True, text=True,
                          input=input, timeout=60)


def open_dir():
    """A temporary directory other users (postfix, dovecot, yubin) can traverse."""
    d = tempfile.mkdtemp(prefix="yubin-auth-")
    os.chmod(d, 0o755)
    return d


# --------------------------------------------------------------------------
# a minimal Dovecot-protocol client, for precise timing
# --------------------------------------------------------------------------

class AuthClient:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""
        self.s.sendall(b"VERSION\t1\t2\nCPID\t%d\n" % os.getpid())
        self.handshake = []
        while True:
            line = self.line()
            self.handshake.append(line)
            if line == "DONE":
                break
        self.next_id = 1

    def line(self):
        while b"\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise ConnectionError("auth server closed the connection")
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def plain(self, user, password, rip="127.0.0.1"):
        """One PLAIN attempt: (reply line, seconds)."""
        rid = self.next_id
        self.next_id += 1
        resp = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        t0 = time.monotonic()
        self.s.sendall(("AUTH\t%d\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=%s\tresp=%s\n"
                        % (rid, rip, resp)).encode())
        reply = self.line()
        return reply, time.monotonic() - t0

    def close(self):
        self.s.close()


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

def users_file(extra=""):
    alice = yubin_pw("-s", "SHA512-CRYPT", "-p", "alicepw").stdout.strip()
    return ("# test users\n"
            "alice@example.test:%s:5000:5000::/home/alice::userdb_quota_rule=*:storage=1G\n"
            "bob@example.test:{PLAIN}bobpw:5001:5001::/home/bob\n" % alice) + extra


@pytest.fixture
def auth_instance(instance):
    """yubin with the auth service on public/auth (reachable by Postfix too)."""
    started = []

    def make(main=None, extra_users=""):
        qdir = open_dir()
        params = {
            "queue_directory": os.path.join(qdir, "queue"),
            "auth_failure_delay": "300ms",
            "auth_penalty_limit": "2s",
        }
        params.update(main or {})
        inst = instance(main=params, master_extra="auth unix n - n - 1 auth\n")
        path = inst.write("users", users_file(extra_users))
        os.chmod(path, 0o644)
        inst.params["auth_passdb"] = "passwd-file:" + path
        inst.auth_socket = os.path.join(qdir, "queue", "public", "auth")
        inst.userdb_socket = os.path.join(qdir, "queue", "private", "auth-userdb")
        inst.qdir = qdir
        inst.start()
        assert wait_for(lambda: os.path.exists(inst.auth_socket), 15), inst.output()
        inst.wait_log("auth service ready")
        started.append(inst)
        return inst

    yield make
    for inst in started:
        inst.stop()
        shutil.rmtree(inst.qdir, ignore_errors=True)


def auth_test(socket_path, user, password, mech="PLAIN", *opts):
    r = subprocess.run([YUBIN, "auth-test", "-m", mech] + list(opts) +
                       [socket_path, user, password],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout.strip()


# --------------------------------------------------------------------------
# yubin pw <-> doveadm pw
# --------------------------------------------------------------------------

def test_pw_generates_and_verifies():
    r = yubin_pw("-l")
    assert r.returncode == 0 and "SHA512-CRYPT" in r.stdout and "ARGON2ID" in r.stdout
    r = yubin_pw("-p", "secret")
    assert r.returncode == 0 and r.stdout.startswith("{SHA512-CRYPT}$6$")
    stored = r.stdout.strip()
    assert yubin_pw("-t", stored, "-p", "secret").stdout.strip() == stored + " (verified)"
    r = yubin_pw("-t", stored, "-p", "Secret")
    assert r.returncode == 1 and "mismatch" in r.stderr
    # From standard input when it is not a terminal.
    r = yubin_pw("-s", "SSHA512", input="from stdin\n")
    assert r.returncode == 0 and r.stdout.startswith("{SSHA512}")
    assert yubin_pw("-t", r.stdout.strip(), "-p", "from stdin").returncode == 0
    r = yubin_pw("-s", "BLF-CRYPT", "-r", "6", "-V", "-p", "x")
    assert r.returncode == 0 and r.stdout.startswith("{BLF-CRYPT}$2y$06$") and "(verified)" in r.stdout
    assert yubin_pw("-s", "NOSUCH", "-p", "x").returncode == 2
    assert yubin_pw("-s", "MD5-CRYPT", "-p", "x").returncode == 2   # verify only
    assert yubin_pw("-p", "").returncode == 1


@pytest.mark.skipif(not DOVEADM, reason="dovecot-core (doveadm) is not installed")
@pytest.mark.parametrize("scheme", SCHEMES)
def test_pw_interop_with_doveadm(scheme):
    pw = "c0rrect horse"
    mine = yubin_pw("-s", scheme, "-p", pw)
    assert mine.returncode == 0, mine.stderr
    mine = mine.stdout.strip()
    ok = subprocess.run([DOVEADM, "pw", "-t", mine, "-p", pw], capture_output=True, text=True)
    assert ok.returncode == 0 and "(verified)" in ok.stdout, (mine, ok.stdout, ok.stderr)
    bad = subprocess.run([DOVEADM, "pw", "-t", mine, "-p", pw + "x"], capture_output=True,
                         text=True)
    assert bad.returncode != 0
    theirs = subprocess.run([DOVEADM, "pw", "-s", scheme, "-p", pw], capture_output=True,
                            text=True).stdout.strip()
    assert theirs.startswith("{%s}" % scheme)
    assert yubin_pw("-t", theirs, "-p", pw).returncode == 0, theirs
    assert yubin_pw("-t", theirs, "-p", pw + "x").returncode == 1


# --------------------------------------------------------------------------
# yubin's auth service
# --------------------------------------------------------------------------

def test_auth_service_mechanisms(auth_instance):
    inst = auth_instance(extra_users="carol@example.test:%s\n" % (
        yubin_pw("-s", "CRAM-MD5", "-p", "carolpw").stdout.strip()))
    sock = inst.auth_socket
    rc, out = auth_test(sock, "alice@example.test", "alicepw", "PLAIN", "-M")
    assert rc == 0, out
    assert "MECHS PLAIN LOGIN CRAM-MD5 SCRAM-SHA-256" in out
    assert "OK user=alice@example.test" in out
    assert auth_test(sock, "Alice@Example.TEST", "alicepw", "LOGIN") == (0, "OK user=alice@example.test")
    assert auth_test(sock, "bob@example.test", "bobpw", "CRAM-MD5") == (0, "OK user=bob@example.test")
    rc, out = auth_test(sock, "bob@example.test", "bobpw", "SCRAM-SHA-256")
    assert rc == 0 and "(server verified)" in out
    assert auth_test(sock, "carol@example.test", "carolpw", "CRAM-MD5")[0] == 0
    assert auth_test(sock, "alice@example.test", "wrong-password", "PLAIN")[0] == 1
    assert auth_test(sock, "nobody@example.test", "wrong-password", "LOGIN", "-r", "10.0.0.2")[0] == 1
    assert auth_test(sock, "alice@example.test", "alicepw", "CRAM-MD5", "-r", "10.0.0.3")[0] == 1
    log = inst.log()
    assert "failed: user=<alice@example.test>, method=PLAIN, rip=127.0.0.1, service=smtp, " \
           "reason=password mismatch" in log
    assert "failed: user=<nobody@example.test>, method=LOGIN, rip=10.0.0.2" in log
    assert "reason=unknown user" in log
    assert "ok: user=<bob@example.test>, method=SCRAM-SHA-256" in log
    for secret in ("alicepw", "wrong-password", "bobpw", "carolpw"):
        assert secret not in log
    # The users file changes: the service notices without a reload.
    time.sleep(1.1)
    with open(inst.path("users"), "a") as f:
        f.write("dave@example.test:{PLAIN}davepw\n")
    os.utime(inst.path("users"), (time.time() + 2, time.time() + 2))
    assert wait_for(lambda: auth_test(sock, "dave@example.test", "davepw")[0] == 0, 10)


@pytest.mark.skipif(not DOVEADM, reason="dovecot-core (doveadm) is not installed")
def test_dovecot_clients_against_yubin(auth_instance):
    inst = auth_instance()
    r = subprocess.run([DOVEADM, "-O", "auth", "test", "-a", inst.auth_socket,
                        "alice@example.test", "alicepw"], capture_output=True, text=True)
    assert r.returncode == 0 and "auth succeeded" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([DOVEADM, "-O", "auth", "test", "-a", inst.auth_socket,
                        "alice@example.test", "nope"], capture_output=True, text=True)
    assert r.returncode != 0 and "auth failed" in r.stdout
    r = subprocess.run([DOVEADM, "-O", "user", "-a", inst.userdb_socket, "alice@example.test"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "uid\t5000" in r.stdout and "home\t/home/alice" in r.stdout
    assert "quota_rule\t*:storage=1G" in r.stdout
    r = subprocess.run([DOVEADM, "-O", "user", "-a", inst.userdb_socket, "ghost@example.test"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "doesn't exist" in r.stdout


def master_request_raw(inst, user, password, nologin=False):
    """A login on the client socket (AUTH PLAIN), then Dovecot's master REQUEST
    for it on the userdb socket; returns the userdb socket's answers."""
    c = socket.socket(socket.AF_UNIX)
    c.connect(inst.auth_socket)
    c.settimeout(10)
    resp = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    c.sendall(("VERSION\t1\t2\nCPID\t777\nAUTH\t3\tPLAIN\tservice=imap\t%s"
               "resp=%s\n" % ("nologin\t" if nologin else "", resp)).encode())
    got = b""
    while b"\nOK\t3" not in got and b"\nFAIL\t3" not in got:
        got += c.recv(65536)
    cookie = [l.split("\t")[1] for l in got.decode().splitlines() if l.startswith("COOKIE\t")][0]
    m = socket.socket(socket.AF_UNIX)
    m.connect(inst.userdb_socket)
    m.settimeout(10)
    m.sendall(("VERSION\t1\t0\nREQUEST\t1\t777\t3\t%s\nREQUEST\t2\t777\t3\t%s\n"
               % (cookie, cookie)).encode())
    out = b""
    while out.count(b"\n") < 4:    # VERSION, SPID and two answers
        d = m.recv(65536)
        if not d:
            break
        out += d
    c.close()
    m.close()
    return out.decode()


def test_master_request_after_login(auth_instance):
    inst = auth_instance()
    out = master_request_raw(inst, "alice@example.test", "alicepw")
    assert "USER\t1\talice@example.test\tuid=5000\tgid=5000\thome=/home/alice\t" in out, out
    assert "FAIL\t2\treason=unknown or expired login request\n" in out   # answered once
    # a "nologin" authentication (smtpd's) is not kept for the master
    out = master_request_raw(inst, "bob@example.test", "bobpw", nologin=True)
    assert "FAIL\t1\treason=" in out and "USER" not in out, out


@pytest.mark.skipif(not DOVEADM, reason="dovecot-core (doveadm) is not installed")
def test_doveadm_auth_login_against_yubin(auth_instance):
    """Dovecot's own client of the login + master REQUEST exchange."""
    inst = auth_instance()
    r = subprocess.run([DOVEADM, "-O", "auth", "login", "-a", inst.auth_socket, "-m",
                        inst.userdb_socket, "alice@example.test", "alicepw"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "passdb: alice@example.test auth succeeded" in r.stdout, r.stdout
    assert "userdb extra fields:" in r.stdout and "uid=5000" in r.stdout, r.stdout
    assert "home=/home/alice" in r.stdout


def test_timing_unknown_user_and_penalty(auth_instance):
    inst = auth_instance(main={"auth_failure_delay": "200ms", "auth_penalty_limit": "1s"})
    c = AuthClient(inst.auth_socket)
    wrong, unknown = [], []
    for i in range(4):
        reply, t = c.plain("alice@example.test", "wrong", rip="10.1.0.%d" % (2 * i + 1))
        assert reply.startswith("FAIL\t")
        wrong.append(t)
        reply, t = c.plain("ghost%d@example.test" % i, "wrong", rip="10.1.0.%d" % (2 * i + 2))
        assert reply.startswith("FAIL\t")
        unknown.append(t)
    assert min(wrong + unknown) >= 0.19
    assert abs(sum(wrong) / 4 - sum(unknown) / 4) < 0.06, (wrong, unknown)

    # A burst from one address: 0.2, 0.4, 0.6, 1.0, 1.2 s (penalty capped at 1 s) ...
    burst = [c.plain("bob@example.test", "wrong", rip="192.0.2.66")[1] for _ in range(5)]
    assert burst[1] > burst[0] + 0.1 and burst[2] > burst[1] + 0.1 and burst[3] > burst[2] + 0.1
    assert 1.15 <= burst[4] < 2.5, burst
    # ... while another address is served at the normal pace, and correctly.
    reply, t = c.plain("bob@example.test", "wrong", rip="192.0.2.67")
    assert t < 0.6
    reply, t = c.plain("bob@example.test", "bobpw", rip="192.0.2.68")
    assert reply == "OK\t%d\tuser=bob@example.test" % (c.next_id - 1) and t < 0.3
    c.close()


# --------------------------------------------------------------------------
# Postfix smtpd -> yubin auth
# --------------------------------------------------------------------------

class Postfix:
    def __init__(self, sasl_path):
        self.base = open_dir()
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        for d in (self.etc, self.queue, self.data):
            os.makedirs(d)
        shutil.chown(self.data, "postfix")
        self.port = free_port()
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            f.write("\n".join([
                "compatibility_level = 3.6",
                "queue_directory = " + self.queue,
                "data_directory = " + self.data,
                "mail_owner = postfix",
                "inet_interfaces = 127.0.0.1",
                "inet_protocols = ipv4",
                "myhostname = pf.example.test",
                "mydestination =",
                "local_recipient_maps =",
                "alias_maps =",
                "alias_database =",
                "maillog_file = /dev/stdout",
                "smtpd_sasl_auth_enable = yes",
                "smtpd_sasl_type = dovecot",
                "smtpd_sasl_path = " + sasl_path,
                "smtpd_tls_auth_only = no",
                "smtpd_relay_restrictions = permit_sasl_authenticated, reject",
            ]) + "\n")
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.write("127.0.0.1:%d inet n - n - - smtpd\n"
                    "postlog unix-dgram n - n - 1 postlogd\n"
                    "proxymap unix - - n - - proxymap\n" % self.port)
        self.out = open(os.path.join(self.base, "postfix.log"), "w")
        self.proc = subprocess.Popen([POSTFIX, "-c", self.etc, "start-fg"], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_port(self.port, 20):
            self.stop()
            raise AssertionError("Postfix did not start:\n" + self.log())

    def log(self):
        with open(os.path.join(self.base, "postfix.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        subprocess.run([POSTFIX, "-c", self.etc, "stop"], capture_output=True)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.mark.skipif(not POSTFIX or not IS_ROOT, reason="needs Postfix and root")
def test_postfix_smtpd_authenticates_through_yubin(auth_instance):
    inst = auth_instance(main={"auth_mechanisms": "plain, login"})
    pf = Postfix(inst.auth_socket)
    try:
        s = smtplib.SMTP("127.0.0.1", pf.port, timeout=30)
        s.ehlo("client.example")
        # Postfix offers what yubin announced.
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        code, _ = s.login("alice@example.test", "alicepw")
        assert code == 235
        s.quit()

        s = smtplib.SMTP("127.0.0.1", pf.port, timeout=30)
        s.ehlo("client.example")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.auth("PLAIN", lambda challenge=None: "\0alice@example.test\0wrong")
        assert e.value.smtp_code == 535
        # LOGIN through Postfix's 334 round trips.
        s.user, s.password = "bob@example.test", "bobpw"
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
        s.quit()
        # Postfix's session summaries: one success, then one failure and one success.
        assert wait_for(lambda: "ehlo=1 auth=1 quit=1" in pf.log() and "auth=1/2" in pf.log()), \
            pf.log()
        assert "SASL PLAIN authentication failed" in pf.log()
        inst.wait_log("ok: user=<alice@example.test>, method=PLAIN, rip=127.0.0.1, service=smtp")
        inst.wait_log("failed: user=<alice@example.test>, method=PLAIN, rip=127.0.0.1")
        inst.wait_log("ok: user=<bob@example.test>, method=LOGIN, rip=127.0.0.1")
    finally:
        pf.stop()


# --------------------------------------------------------------------------
# yubin's client library -> a real Dovecot
# --------------------------------------------------------------------------

class Dovecot:
    def __init__(self):
        self.base = open_dir()
        self.run = os.path.join(self.base, "run")
        os.makedirs(self.run)
        scram = subprocess.run([DOVEADM, "pw", "-s", "SCRAM-SHA-256", "-p", "scrampw"],
                               capture_output=True, text=True).stdout.strip()
        crypt = yubin_pw("-s", "SHA512-CRYPT", "-p", "cryptpw").stdout.strip()
        users = os.path.join(self.base, "users")
        with open(users, "w") as f:
            f.write("alice:{PLAIN}alicepw:5000:5000::/home/alice::\n"
                    "scram:%s:5001:5001::/home/scram::\n"
                    "crypt:%s:5002:5002::/home/crypt::\n" % (scram, crypt))
        os.chmod(users, 0o644)
        self.conf = os.path.join(self.base, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join([
                "base_dir = " + self.run,
                "state_dir = " + os.path.join(self.base, "state"),
                "log_path = " + os.path.join(self.base, "dovecot.log"),
                "protocols =",
                "ssl = no",
                "disable_plaintext_auth = no",
                "auth_mechanisms = plain login cram-md5 scram-sha-256",
                "auth_failure_delay = 0",
                "passdb {", "  driver = passwd-file", "  args = " + users, "}",
                "userdb {", "  driver = passwd-file", "  args = " + users, "}",
                "service auth {", "  unix_listener auth-client {", "    mode = 0666", "  }", "}",
            ]) + "\n")
        self.socket = os.path.join(self.run, "auth-client")
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.socket), 20):
            self.stop()
            raise AssertionError("Dovecot did not start")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.mark.skipif(not DOVECOT or not IS_ROOT, reason="needs dovecot-core and root")
def test_client_library_against_dovecot():
    dc = Dovecot()
    try:
        rc, out = auth_test(dc.socket, "alice", "alicepw", "PLAIN", "-M")
        assert rc == 0 and "OK user=alice" in out, out
        assert "PLAIN" in out and "SCRAM-SHA-256" in out
        assert auth_test(dc.socket, "alice", "alicepw", "LOGIN") == (0, "OK user=alice")
        assert auth_test(dc.socket, "alice", "alicepw", "CRAM-MD5") == (0, "OK user=alice")
        rc, out = auth_test(dc.socket, "scram", "scrampw", "SCRAM-SHA-256")
        assert rc == 0 and out == "OK user=scram (server verified)", out
        # A yubin-made SHA512-CRYPT value in Dovecot's passwd-file.
        assert auth_test(dc.socket, "crypt", "cryptpw", "PLAIN") == (0, "OK user=crypt")
        assert auth_test(dc.socket, "alice", "wrong", "PLAIN")[0] == 1
        assert auth_test(dc.socket, "alice", "wrong", "SCRAM-SHA-256")[0] == 1
        assert auth_test(dc.socket, "ghost", "wrong", "LOGIN")[0] == 1
    finally:
        dc.stop()
