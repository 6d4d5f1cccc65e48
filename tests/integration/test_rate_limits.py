"""How fast one client may go (Postfix's anvil rate limits): connections,
messages, recipients, AUTH commands and new TLS sessions per client per
anvil_rate_time_unit, counted across the service's smtpd processes, with
Postfix's replies and log lines, and smtpd_client_event_limit_exceptions."""
import base64
import os
import re
import smtplib
import ssl
import subprocess

from test_limits import banner, open_on, smtpd_pids, start, two_smtpd

# 127.0.0.1 is not in mynetworks, so not in smtpd_client_event_limit_exceptions.
NOT_EXEMPT = {"mynetworks": "192.0.2.0/24"}


def warned(inst, what, n, port):
    line = "warning: %s rate limit exceeded: %d from " % (what, n)
    inst.wait_log(line)
    last = [l for l in inst.log().splitlines() if line in l][-1]
    assert re.search(r"from \S+\[127\.0\.0\.1\] for service 127\.0\.0\.1:%d$" % port, last), last


def session(inst):
    s = smtplib.SMTP("127.0.0.1", inst.port, timeout=10)
    assert s.ehlo("client.test")[0] == 250
    return s


def test_connection_rate_across_processes(instance):
    inst = start(instance, two_smtpd(dict(NOT_EXEMPT, smtpd_client_connection_rate_limit="6")))
    a, b = smtpd_pids(inst)
    # Two connections on each process, closed again: the rate remembers them.
    for r in open_on(inst, a, b, 2) + open_on(inst, b, a, 2):
        r.close()
    # The harness's probe of the port counted too: connect until refused.
    for _ in range(4):
        r, code, text = banner(inst.port)
        if code != 220:
            break
        r.close()
    assert code == 421, (code, text)
    assert text == "4.7.0 mx.example.test Error: too many connections from 127.0.0.1", text
    assert r.closed()
    warned(inst, "Connection", 7, inst.port)
    # Exactly the 7th connection of the window was refused, whichever process took it.
    assert len(re.findall(r"\]: connect from \S+\[127\.0\.0\.1\]", inst.log())) == 7


def test_message_and_recipient_rates(instance):
    inst = start(instance, dict(NOT_EXEMPT, smtpd_client_message_rate_limit="2",
                                smtpd_client_recipient_rate_limit="3"))
    s = session(inst)
    for _ in range(2):
        assert s.mail("carol@client.test")[0] == 250
        assert s.rset()[0] == 250
    code, text = s.mail("carol@client.test")
    assert (code, text) == (450, b"4.7.1 Error: too much mail from 127.0.0.1"), (code, text)
    warned(inst, "Message delivery request", 3, inst.port)
    s.quit()
    # A new session is the same client in the same window.
    s = session(inst)
    assert s.mail("carol@client.test")[0] == 450
    s.quit()
    inst2 = start(instance, dict(NOT_EXEMPT, smtpd_client_recipient_rate_limit="3"))
    s = session(inst2)
    assert s.mail("carol@client.test")[0] == 250
    for who in ("alice", "bob", "alice"):
        assert s.rcpt("%s@example.test" % who)[0] == 250
    code, text = s.rcpt("bob@example.test")
    assert (code, text) == (450, b"4.7.1 Error: too many recipients from 127.0.0.1"), (code, text)
    warned(inst2, "Recipient address", 4, inst2.port)
    s.quit()


def test_exceptions_are_not_limited(instance):
    inst = start(instance, {"smtpd_client_message_rate_limit": "1",
                            "smtpd_client_connection_rate_limit": "1",
                            "smtpd_client_event_limit_exceptions": "127.0.0.1"})
    for _ in range(3):
        s = session(inst)
        for _ in range(3):
            assert s.mail("carol@client.test")[0] == 250
            assert s.rset()[0] == 250
        s.quit()
    assert "rate limit exceeded" not in inst.log()


def tls_instance(instance, tmp_path, main):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True)
    users = tmp_path / "users"
    users.write_text("john@example.test:{PLAIN}johnpw::::::\n")
    os.chmod(users, 0o644)
    params = dict(NOT_EXEMPT, smtpd_tls_cert_file=cert, smtpd_tls_key_file=key,
                  smtpd_tls_security_level="may", smtpd_sasl_auth_enable="yes",
                  smtpd_sasl_type="dovecot", smtpd_sasl_path="private/auth",
                  auth_passdb="passwd-file:%s" % users, auth_failure_delay="0")
    params.update(main)
    inst = instance(main=params, master_extra="auth unix - - n - 1 auth\n")
    inst.start()
    return inst


def ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def test_auth_rate(instance, tmp_path):
    inst = tls_instance(instance, tmp_path, {"smtpd_client_auth_rate_limit": "2"})
    s = session(inst)
    s.starttls(context=ctx())
    s.ehlo("client.test")
    bad = base64.b64encode(b"\0john@example.test\0wrong").decode()
    for _ in range(2):
        code, _ = s.docmd("AUTH PLAIN " + bad)
        assert code == 535, code
    code, text = s.docmd("AUTH PLAIN " + bad)
    assert (code, text) == (450, b"4.7.1 Error: too many AUTH commands from 127.0.0.1"), (code, text)
    warned(inst, "AUTH command", 3, inst.port)
    s.close()


def test_new_tls_session_rate(instance, tmp_path):
    inst = tls_instance(instance, tmp_path, {"smtpd_client_new_tls_session_rate_limit": "1"})
    s = session(inst)
    s.starttls(context=ctx())
    assert s.ehlo("client.test")[0] == 250
    s.quit()
    s = session(inst)
    s.starttls(context=ctx())
    # The reply comes inside TLS, right after the handshake, and the session ends.
    code, text = s.ehlo("client.test")
    assert (code, text) == (421, b"4.7.0 mx.example.test Error: too many new TLS sessions "
                                 b"from 127.0.0.1"), (code, text)
    warned(inst, "New TLS session", 2, inst.port)
