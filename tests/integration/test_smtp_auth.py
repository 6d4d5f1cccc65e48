"""SMTP AUTH as the guides configure it: smtp (25) without AUTH, submission
(STARTTLS required, AUTH required to relay) and smtps (implicit TLS), with
yubin's auth service, and with a real Dovecot's auth socket."""
import base64
import collections
import concurrent.futures
import os
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import RawSMTP, YUBIN, free_port, wait_for, wait_port

SUBMISSION = ("-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes "
              "-o smtpd_tls_auth_only=yes "
              "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject "
              "-o smtpd_recipient_restrictions=permit_sasl_authenticated,reject")
SMTPS = ("-o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes "
         "-o smtpd_relay_restrictions=permit_sasl_authenticated,reject "
         "-o smtpd_recipient_restrictions=permit_sasl_authenticated,reject")


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


@pytest.fixture
def guide(instance, tmp_path):
    """An instance with the three services of the Postfix+Dovecot guides."""
    def make(main=None, sasl_path=None):
        key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                        key, "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                       check=True, capture_output=True)
        crypt = subprocess.run([YUBIN, "pw", "-s", "SHA512-CRYPT", "-p", "johnpw"],
                               capture_output=True, text=True, check=True).stdout.strip()
        users = tmp_path / "users"
        users.write_text("john@example.test:%s::::::\ncram@example.test:{PLAIN}crampw::::::\n" % crypt)
        os.chmod(users, 0o644)
        sub, smtps = free_port(), free_port()
        params = {
            "smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
            "smtpd_tls_security_level": "may",
            "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": sasl_path or "private/auth",
            "auth_passdb": "passwd-file:%s" % users,
            "auth_failure_delay": "100ms",
            "smtpd_sasl_authenticated_header": "yes",
            "mynetworks": "192.0.2.0/24",   # the test client is NOT trusted: no open relay
        }
        params.update(main or {})
        extra = ("127.0.0.1:%d inet n - n - - smtpd %s\n"
                 "127.0.0.1:%d inet n - n - - smtpd %s\n"
                 "auth unix - - n - 1 auth\n" % (sub, SUBMISSION, smtps, SMTPS))
        inst = instance(main=params, master_extra=extra)
        inst.sub_port, inst.smtps_port = sub, smtps
        inst.start()
        assert wait_port(sub) and wait_port(smtps)
        return inst
    return make


def test_no_auth_on_port_25(guide):
    inst = guide()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert b"AUTH" not in text and b"STARTTLS" in text
        s.starttls(context=ctx())
        code, text = s.ehlo("client.test")
        assert b"AUTH" not in text
        code, text = s.docmd("AUTH PLAIN " + base64.b64encode(b"\0john@example.test\0johnpw").decode())
        assert code == 503 and b"authentication not enabled" in text


def test_submission_requires_tls_before_auth(guide):
    inst = guide()
    with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" in text and b"AUTH" not in text
        code, text = s.docmd("AUTH PLAIN " + base64.b64encode(b"\0john@example.test\0johnpw").decode())
        assert code == 530 and b"Must issue a STARTTLS command first" in text
        code, text = s.docmd("MAIL FROM:<john@example.test>")
        assert code == 530


def test_submission_auth_then_relay(guide):
    inst = guide()
    with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx())
        code, text = s.ehlo("client.test")
        assert b"AUTH PLAIN LOGIN" in text or b"AUTH LOGIN PLAIN" in text
        # Without AUTH: no relay, not even to local domains on submission.
        s.mail("john@example.test")
        code, text = s.rcpt("someone@elsewhere.test")
        # Postfix's reply for the explicit "reject" at the end of the list.
        assert code == 554 and b"Recipient address rejected: Access denied" in text
        s.rset()
        s.login("john@example.test", "johnpw")
        s.mail("john@example.test")
        assert s.rcpt("someone@elsewhere.test")[0] == 250
        assert s.rcpt("alice@example.test")[0] == 250
        code, text = s.data(b"Subject: authenticated\r\n\r\nhi\r\n")
        assert code == 250
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"with ESMTPSA id " in m
    assert b"(Authenticated sender: john@example.test)" in m
    log = inst.log()
    assert "sasl_method=PLAIN, sasl_username=john@example.test" in log
    assert "johnpw" not in log


def test_wrong_password_and_log(guide):
    inst = guide()
    with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx())
        s.ehlo("client.test")
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("john@example.test", "wrongpw")
        assert e.value.smtp_code == 535
        assert b"5.7.8 Error: authentication failed" in e.value.smtp_error
    inst.wait_log("SASL PLAIN authentication failed")
    assert "wrongpw" not in inst.log()


def test_auth_login_cancel_and_empty_response(guide):
    inst = guide()
    r = RawSMTP(inst.sub_port)
    r.reply()
    r.cmd("EHLO client.test")
    assert r.cmd("STARTTLS")[0] == 220
    tls = ctx().wrap_socket(r.sock, server_hostname="mx.example.test")
    f = tls.makefile("rb")

    def cmd(line):
        tls.sendall(line.encode() + b"\r\n")
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return int(l[:3]), l[4:].strip()

    cmd("EHLO client.test")
    code, text = cmd("AUTH LOGIN")
    assert code == 334 and base64.b64decode(text) == b"Username:"
    assert cmd("*")[0] == 501
    code, text = cmd("AUTH PLAIN =")          # empty initial response: a failure, not a hang
    assert code in (334, 535)
    if code == 334:
        assert cmd("*")[0] == 501
    code, text = cmd("AUTH PLAIN " + base64.b64encode(b"\0john@example.test\0johnpw").decode())
    assert code == 235
    assert cmd("AUTH PLAIN x")[0] == 503          # already authenticated
    assert cmd("AUTH FOO")[0] == 503


def test_smtps_wrapper_login(guide):
    inst = guide()
    with smtplib.SMTP_SSL("127.0.0.1", inst.smtps_port, timeout=10, context=ctx()) as s:
        s.ehlo("client.test")
        s.login("john@example.test", "johnpw")
        s.sendmail("john@example.test", ["bob@example.test"], b"Subject: smtps\r\n\r\nx\r\n")
    m = inst.wait_maildir("example.test/bob", 1)[0]
    assert b"with ESMTPSA" in m


def test_swaks_auth_mechanisms(guide):
    inst = guide()
    for user, pw, mech in (("john@example.test", "johnpw", "PLAIN"),
                           ("john@example.test", "johnpw", "LOGIN"),
                           ("cram@example.test", "crampw", "CRAM-MD5")):
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(inst.sub_port), "--tls",
                            "-a", mech, "--auth-user", user, "--auth-password", pw,
                            "--from", user, "--to", "someone@elsewhere.test",
                            "--helo", "client.test"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, mech + ": " + r.stdout[-2000:] + r.stderr
        assert "235 2.7.0 Authentication successful" in r.stdout


def test_sender_login_mismatch(guide):
    inst = guide(main={
        "smtpd_sender_login_maps": "inline:{ {john@example.test=john@example.test} }",
        "smtpd_sender_restrictions": "reject_sender_login_mismatch",
    })
    with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx())
        s.ehlo("client.test")
        s.login("john@example.test", "johnpw")
        s.mail("alice@example.test")
        code, text = s.rcpt("someone@elsewhere.test")
        assert code == 553 and b"not owned by user john@example.test" in text
        s.rset()
        s.mail("john@example.test")
        assert s.rcpt("someone@elsewhere.test")[0] == 250


def test_repeated_failures_disconnect(guide):
    inst = guide(main={"smtpd_hard_error_limit": "3", "auth_penalty_limit": "500ms"})
    r = RawSMTP(inst.sub_port, timeout=30)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("STARTTLS")
    tls = ctx().wrap_socket(r.sock, server_hostname="mx.example.test")
    f = tls.makefile("rb")
    bad = "AUTH PLAIN " + base64.b64encode(b"\0john@example.test\0nope").decode()
    codes = []
    for _ in range(4):
        try:
            tls.sendall(bad.encode() + b"\r\n")
            l = f.readline()
            if not l:
                break
            codes.append(int(l[:3]))
        except OSError:
            break
    assert codes[:2] == [535, 535]
    assert 421 in codes


DOVECOT = "/usr/sbin/dovecot"


@pytest.mark.skipif(not os.path.exists(DOVECOT) or os.geteuid() != 0, reason="needs dovecot-core")
def test_smtpd_against_real_dovecot_auth(guide, tmp_path):
    """smtpd_sasl_path pointing at a real Dovecot's auth socket, as in the guides."""
    base = tmp_path / "dovecot"
    run = base / "run"
    os.makedirs(run)
    users = base / "users"
    users.write_text("dave@example.test:{PLAIN}davepw:5000:5000::/home/dave::\n")
    os.chmod(users, 0o644)
    conf = base / "dovecot.conf"
    conf.write_text("\n".join([
        "base_dir = %s" % run, "state_dir = %s" % (base / "state"),
        "log_path = %s" % (base / "dovecot.log"), "protocols =", "ssl = no",
        "disable_plaintext_auth = no", "auth_mechanisms = plain login",
        "passdb {", "  driver = passwd-file", "  args = %s" % users, "}",
        "userdb {", "  driver = passwd-file", "  args = %s" % users, "}",
        "service auth {", "  unix_listener auth-client {", "    mode = 0666", "  }", "}", ""]))
    up = str(base)
    while up not in ("/", "/tmp"):
        os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)
    dc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.STDOUT)
    try:
        sock = str(run / "auth-client")
        assert wait_for(lambda: os.path.exists(sock), 20)
        inst = guide(main={"smtpd_sasl_path": sock})
        with smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10) as s:
            s.ehlo("client.test")
            s.starttls(context=ctx())
            s.ehlo("client.test")
            s.login("dave@example.test", "davepw")
            s.sendmail("dave@example.test", ["alice@example.test"], b"Subject: dovecot\r\n\r\nx\r\n")
            with pytest.raises(smtplib.SMTPAuthenticationError):
                s2 = smtplib.SMTP("127.0.0.1", inst.sub_port, timeout=10)
                s2.ehlo("x")
                s2.starttls(context=ctx())
                s2.ehlo("x")
                s2.login("dave@example.test", "wrong")
        inst.wait_maildir("example.test/alice", 1)
        assert "sasl_username=dave@example.test" in inst.log()
    finally:
        dc.terminate()
        dc.wait(timeout=20)


# --------------------------------------------------------------------------
# abandoned AUTH exchanges (security issue F2)
# --------------------------------------------------------------------------

def one_smtpd(instance, tmp_path, main=None):
    """AUTH without TLS on one smtpd process (maxproc 1, so every connection
    meets the same smtpd and its one connection to the auth service)."""
    crypt = subprocess.run([YUBIN, "pw", "-s", "SHA512-CRYPT", "-p", "johnpw"],
                           capture_output=True, text=True, check=True).stdout.strip()
    users = tmp_path / "users"
    users.write_text("john@example.test:%s::::::\n" % crypt)
    os.chmod(users, 0o644)
    params = {"smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
              "auth_passdb": "passwd-file:%s" % users, "auth_failure_delay": "100ms",
              "mynetworks": "192.0.2.0/24"}
    params.update(main or {})
    inst = instance(main=params)
    inst.master = ("127.0.0.1:%d inet n - n - 1 smtpd -o smtpd_sasl_auth_enable=yes\n"
                   "qmgr      unix n - n 300 1 qmgr\n"
                   "virtual   unix - n n - - virtual\n"
                   "auth      unix - - n - 1 auth\n" % inst.port)
    inst.start()
    return inst


JOHN_PLAIN = "AUTH PLAIN " + base64.b64encode(b"\0john@example.test\0johnpw").decode()


def abandon_flood(port, conns, answer="*", rounds=19, threads=4, source="127.0.0.1"):
    """The F2 replay: each connection sends EHLO and then `rounds` times
    "AUTH LOGIN" answered with `answer`, all pipelined in one write, then
    QUIT (19 rounds: the 20th error would hit smtpd_hard_error_limit).
    Returns how often each reply code came back."""
    payload = ("EHLO x\r\n" + ("AUTH LOGIN\r\n%s\r\n" % answer) * rounds + "QUIT\r\n").encode()

    def one(_):
        codes = collections.Counter()
        r = RawSMTP(port, timeout=30, source=source)
        try:
            r.reply()
            r.send(payload)
            while True:
                code, _ = r.reply()
                codes[code] += 1
                if code == 221:
                    break
        except (ConnectionError, OSError):
            codes["closed"] += 1
        finally:
            r.close()
        return codes

    total = collections.Counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        for c in ex.map(one, range(conns)):
            total.update(c)
    return total


def login_works(port, source="127.0.0.1"):
    r = RawSMTP(port, source=source)
    try:
        r.reply()
        r.cmd("EHLO client.test")
        return r.cmd(JOHN_PLAIN)
    finally:
        r.close()


def test_abandoned_auth_flood_does_not_disable_auth(instance, tmp_path):
    """F2: smtpd used to forget an exchange the client abandoned with "*"
    (or with an answer that is not base64) without telling the auth
    service, which kept the request (for 5 minutes) and refused every new
    one on that smtpd's connection once 4,096 were pending: "454 4.7.0
    Temporary authentication failure: Too many requests" for every user of
    that smtpd. The replay abandons 230 x 19 = 4,370 exchanges each way, more
    than that limit, over one smtpd process (maxproc 1) in a few seconds;
    before the fix the 4,097th already got 454. Every exchange must still
    get its 334, and a valid login on the same instance its 235."""
    inst = one_smtpd(instance, tmp_path)
    codes = abandon_flood(inst.port, 230)
    assert codes[334] == 230 * 19 and codes[501] == 230 * 19, codes
    assert login_works(inst.port)[0] == 235
    codes = abandon_flood(inst.port, 230, answer="!!")
    assert codes[334] == 230 * 19 and codes[535] == 230 * 19, codes
    assert login_works(inst.port)[0] == 235
    log = inst.log()
    assert "Too many requests" not in log
    assert "Invalid base64 data in continued response" in log


class ScriptedAuth:
    """A Dovecot-protocol auth server on a UNIX socket that records every
    line smtpd sends. LOGIN gets a "Username:" challenge, PLAIN for
    john@example.test/johnpw gets OK, anything else FAIL. Like a server
    without CANCEL, it still answers a cancelled id (FAIL): smtpd must drop
    that reply."""

    def __init__(self, path):
        self.path = path
        self.lines = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        os.chmod(path, 0o666)
        self.srv.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        conn.sendall(b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nMECH\tLOGIN\tplaintext\n"
                     b"SPID\t1\nCUID\t1\nDONE\n")
        good = base64.b64encode(b"\0john@example.test\0johnpw").decode()
        with conn, conn.makefile("rb") as f:
            for raw in f:
                line = raw.decode().rstrip("\n")
                with self.lock:
                    self.lines.append(line)
                x = line.split("\t")
                if x[0] == "AUTH" and x[2] == "LOGIN":
                    out = "CONT\t%s\tVXNlcm5hbWU6" % x[1]
                elif x[0] == "AUTH" and "resp=" + good in x:
                    out = "OK\t%s\tuser=john@example.test" % x[1]
                elif x[0] in ("AUTH", "CONT", "CANCEL"):
                    out = "FAIL\t%s" % x[1]
                else:
                    continue
                try:
                    conn.sendall(out.encode() + b"\n")
                except OSError:
                    return

    def last_id(self, cmd):
        with self.lock:
            ids = [l.split("\t")[1] for l in self.lines if l.startswith(cmd + "\t")]
        return ids[-1] if ids else None

    def saw(self, line):
        with self.lock:
            return line in self.lines

    def close(self):
        self.srv.close()


def test_auth_abort_is_cancelled_on_the_auth_server(instance, tmp_path):
    """"*" after a 334 gets Postfix's "501 5.7.0 Authentication aborted" and
    its warning, and smtpd tells the auth server "CANCEL\t<id>"; so does a
    session that ends mid-exchange. The server's reply to the cancelled id,
    sent anyway, is dropped: the next AUTH on that session gets 235."""
    fake = ScriptedAuth(str(tmp_path / "scripted-auth"))
    try:
        inst = one_smtpd(instance, tmp_path, main={"smtpd_sasl_path": fake.path})
        r = RawSMTP(inst.port)
        r.reply()
        r.cmd("EHLO client.test")
        assert r.cmd("AUTH LOGIN") == (334, ["VXNlcm5hbWU6"])
        rid = fake.last_id("AUTH")
        assert r.cmd("*") == (501, ["5.7.0 Authentication aborted"])
        assert wait_for(lambda: fake.saw("CANCEL\t" + rid), 10), fake.lines
        time.sleep(0.3)   # the scripted server's late FAIL for rid reaches smtpd
        assert r.cmd(JOHN_PLAIN)[0] == 235
        r.close()
        inst.wait_log("]: SASL LOGIN authentication aborted")

        r = RawSMTP(inst.port)
        r.reply()
        r.cmd("EHLO client.test")
        assert r.cmd("AUTH LOGIN")[0] == 334
        rid = fake.last_id("AUTH")
        r.close()
        assert wait_for(lambda: fake.saw("CANCEL\t" + rid), 10), fake.lines
    finally:
        fake.close()


def test_unanswered_challenge_expires(instance, tmp_path):
    """A client that never finishes its answer to a 334 (it trickles bytes,
    so the session never goes idle) cannot hold the exchange either: after
    smtpd_timeout smtpd cancels it on the auth server and ends the session
    with Postfix's timeout reply."""
    fake = ScriptedAuth(str(tmp_path / "scripted-auth"))
    try:
        inst = one_smtpd(instance, tmp_path,
                         main={"smtpd_sasl_path": fake.path, "smtpd_timeout": "2s"})
        r = RawSMTP(inst.port)
        r.reply()
        r.cmd("EHLO client.test")
        assert r.cmd("AUTH LOGIN")[0] == 334
        rid = fake.last_id("AUTH")
        t0 = time.monotonic()
        r.sock.settimeout(0.4)
        while b"\r\n" not in r.buf and time.monotonic() - t0 < 15:
            try:
                chunk = r.sock.recv(4096)
                if not chunk:
                    break
                r.buf += chunk
            except socket.timeout:
                r.send(b"A")
        r.sock.settimeout(10)
        assert r.reply() == (421, ["4.4.2 mx.example.test Error: timeout exceeded"])
        assert 1.5 < time.monotonic() - t0 < 10
        assert wait_for(lambda: fake.saw("CANCEL\t" + rid), 10), fake.lines
        inst.wait_log("timeout after AUTH from ")
        r.close()
    finally:
        fake.close()


def test_auth_exchanges_limited_per_client_address(instance, tmp_path):
    """One client address may have at most 10 AUTH exchanges in flight in
    one smtpd process: the 11th gets 454 and a warning, so one client can
    only hurt itself, while another address still logs in. When one of its
    exchanges ends, the address may start another."""
    inst = one_smtpd(instance, tmp_path)
    held = []
    try:
        for _ in range(10):
            r = RawSMTP(inst.port, source="127.0.0.2")
            held.append(r)
            r.reply()
            r.cmd("EHLO x")
            assert r.cmd("AUTH LOGIN")[0] == 334
        extra = RawSMTP(inst.port, source="127.0.0.2")
        held.append(extra)
        extra.reply()
        extra.cmd("EHLO x")
        assert extra.cmd("AUTH LOGIN") == (454, [
            "4.7.0 Temporary authentication failure: "
            "too many authentications in progress from 127.0.0.2"])
        assert login_works(inst.port)[0] == 235
        inst.wait_log("warning: AUTH concurrency limit exceeded: 11 from ")
        assert held[0].cmd("*")[0] == 501
        assert extra.cmd("AUTH LOGIN")[0] == 334
    finally:
        for r in held:
            r.close()
