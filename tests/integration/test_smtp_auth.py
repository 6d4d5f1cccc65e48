"""SMTP AUTH as the guides configure it: smtp (25) without AUTH, submission
(STARTTLS required, AUTH required to relay) and smtps (implicit TLS), with
yubin's auth service, and with a real Dovecot's auth socket."""
import base64
import os
import smtplib
import ssl
import subprocess

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
