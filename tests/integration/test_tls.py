"""STARTTLS (RFC 3207) and wrapper mode as clients see them: Python's
smtplib and ssl, swaks and openssl s_client."""
import os
import smtplib
import socket
import ssl
import subprocess

import pytest

from conftest import RawSMTP, wait_port


@pytest.fixture
def certs(tmp_path):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=mx.example.test"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def tls_main(certs, level="may", **extra):
    cert, key = certs
    d = {"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
         "smtpd_tls_security_level": level}
    d.update(extra)
    return d


def client_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_starttls_offered_and_mail_delivered_over_tls(instance, certs):
    inst = instance(main=tls_main(certs, smtpd_tls_received_header="yes",
                                       smtpd_tls_loglevel="1")).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" in text
        assert s.starttls(context=client_ctx())[0] == 220
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" not in text  # not offered twice
        s.sendmail("a@client.test", ["alice@example.test"], b"Subject: tls\r\n\r\nsecret\r\n")
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"with ESMTPS id " in m
    assert b"(using TLSv1.3 with cipher " in m
    assert b"(No client certificate requested)" in m
    inst.wait_log("Anonymous TLS connection established from localhost[127.0.0.1]: TLSv1.3 with cipher")
    inst.wait_log("starttls=1")


def test_no_starttls_without_certificate(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" not in text
        assert s.docmd("STARTTLS")[0] == 502


def test_starttls_plaintext_injection_is_discarded(instance, certs):
    """CVE-2011-0411 style: commands pipelined after STARTTLS in the same packet
    must not be executed inside the TLS session."""
    inst = instance(main=tls_main(certs)).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<evil@x.test>\r\n")
    code, text = r.reply()
    assert code == 220
    assert r.buf == b""
    tls = client_ctx().wrap_socket(r.sock, server_hostname="mx.example.test")
    tls.sendall(b"EHLO client.test\r\n")
    data = b""
    while not data.endswith(b"\r\n") or b"250 " not in data:
        data += tls.recv(4096)
    first = data.split(b"\r\n")[0]
    assert first.startswith(b"250-mx.example.test"), data  # the EHLO reply, not RSET's
    tls.sendall(b"RCPT TO:<alice@example.test>\r\n")
    assert tls.recv(4096).startswith(b"503")  # the injected MAIL was never executed
    inst.wait_log("discarding")


def test_state_is_reset_after_starttls(instance, certs):
    inst = instance(main=tls_main(certs)).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO before.test")
    r.cmd("STARTTLS")
    tls = client_ctx().wrap_socket(r.sock, server_hostname="mx.example.test")
    f = tls.makefile("rb")

    def cmd(line):
        tls.sendall(line.encode() + b"\r\n")
        while True:
            l = f.readline()
            if l[3:4] != b"-":
                return int(l[:3])

    assert cmd("EHLO after.test") == 250
    assert cmd("MAIL FROM:<a@client.test>") == 250
    assert cmd("RCPT TO:<alice@example.test>") == 250
    assert cmd("DATA") == 354
    assert cmd("Subject: x\r\n\r\nx\r\n.") == 250
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Received: from after.test " in m
    assert b"(using TLS" not in m  # smtpd_tls_received_header defaults to no


def test_encrypt_level_requires_tls_first(instance, certs):
    inst = instance(main=tls_main(certs, level="encrypt")).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        code, text = s.docmd("MAIL FROM:<a@client.test>")
        assert code == 530 and b"Must issue a STARTTLS command first" in text
        s.starttls(context=client_ctx())
        s.ehlo("client.test")
        assert s.docmd("MAIL FROM:<a@client.test>")[0] == 250


def test_wrapper_mode(instance, certs):
    inst = instance(main=tls_main(certs, level="encrypt", smtpd_tls_wrappermode="yes")).start()
    with smtplib.SMTP_SSL("127.0.0.1", inst.port, timeout=10, context=client_ctx()) as s:
        code, text = s.ehlo("client.test")
        assert b"STARTTLS" not in text
        s.sendmail("a@client.test", ["bob@example.test"], b"Subject: smtps\r\n\r\nx\r\n")
    m = inst.wait_maildir("example.test/bob", 1)[0]
    assert b"with ESMTPS" in m


def test_tls10_client_refused(instance, certs):
    inst = instance(main=tls_main(certs)).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    assert r.cmd("STARTTLS")[0] == 220
    ctx = client_ctx()
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, OSError)):
        ctx.wrap_socket(r.sock, server_hostname="mx.example.test")
    inst.wait_log("SSL_accept error from localhost[127.0.0.1]")


def test_swaks_and_openssl_s_client(instance, certs):
    inst = instance(main=tls_main(certs)).start()
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(inst.port), "--tls",
                        "--from", "s@client.test", "--to", "bob@example.test", "--helo", "client.test"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    o = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % inst.port, "-starttls",
                        "smtp", "-quiet"], input="QUIT\r\n", capture_output=True, text=True,
                       timeout=30)
    assert "221 2.0.0 Bye" in o.stdout, o.stdout + o.stderr


def test_handshake_timeout(instance, certs):
    inst = instance(main=tls_main(certs, smtpd_starttls_timeout="2s")).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    assert r.cmd("STARTTLS")[0] == 220
    assert r.closed(timeout=10)   # no ClientHello: the server gives up
    inst.wait_log("timed out")


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture
def client_certs(tmp_path):
    """A CA, a client certificate it signed, and a self-signed stranger."""
    d = tmp_path
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"),
             "-out", str(d / "ca.pem"), "-days", "30", "-subj", "/CN=Test CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "client.key"),
             "-out", str(d / "client.csr"), "-subj", "/CN=client.example.test")
    _openssl("x509", "-req", "-in", str(d / "client.csr"), "-CA", str(d / "ca.pem"),
             "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / "client.pem"),
             "-days", "30")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "self.key"),
             "-out", str(d / "self.pem"), "-days", "30", "-subj", "/CN=stranger.test")
    return d


def _fingerprint(pem):
    out = subprocess.run(["openssl", "x509", "-in", str(pem), "-noout", "-fingerprint",
                          "-sha256"], check=True, capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1]


def _relay_attempt(inst, cert=None, key=None):
    ctx = client_ctx()
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.starttls(context=ctx)
        s.ehlo("client.test")
        s.mail("a@client.test")
        return s.rcpt("someone@far.test")


def test_permit_tls_clientcerts_by_fingerprint(instance, certs, client_certs):
    """Relaying for clients whose certificate fingerprint is in relay_clientcerts
    (also a self-signed one: fingerprints need no CA), and for nobody else."""
    d = client_certs
    (d / "relay_clientcerts").write_text("%s stranger\n" % _fingerprint(d / "self.pem"))
    inst = instance(main=tls_main(
        certs, smtpd_tls_ask_ccert="yes", mynetworks="192.0.2.1",
        relay_clientcerts="texthash:%s" % (d / "relay_clientcerts"),
        smtpd_relay_restrictions="permit_tls_clientcerts, reject_unauth_destination")).start()
    assert _relay_attempt(inst, d / "self.pem", d / "self.key")[0] == 250
    code, text = _relay_attempt(inst, d / "client.pem", d / "client.key")
    assert code == 554 and b"Relay access denied" in text
    assert _relay_attempt(inst)[0] == 554


def test_permit_tls_all_clientcerts_and_check_ccert_access(instance, certs, client_certs):
    """permit_tls_all_clientcerts trusts the CA's certificates only;
    check_ccert_access acts on a fingerprint's access(5) action."""
    d = client_certs
    (d / "ccert_access").write_text("%s REJECT certificate revoked\n" % _fingerprint(d / "self.pem"))
    inst = instance(main=tls_main(
        certs, smtpd_tls_ask_ccert="yes", smtpd_tls_CAfile=str(d / "ca.pem"),
        mynetworks="192.0.2.1",
        smtpd_relay_restrictions="check_ccert_access texthash:%s, permit_tls_all_clientcerts, "
                                 "reject_unauth_destination" % (d / "ccert_access"))).start()
    assert _relay_attempt(inst, d / "client.pem", d / "client.key")[0] == 250
    code, text = _relay_attempt(inst, d / "self.pem", d / "self.key")
    assert code == 554 and b"certificate revoked" in text
    assert _relay_attempt(inst)[0] == 554


def test_sni_picks_the_certificate(instance, certs, tmp_path):
    """tls_server_sni_maps: a client asking for mail.example.org gets that
    name's certificate, any other name the default one."""
    skey, scrt = str(tmp_path / "sni.key"), str(tmp_path / "sni.pem")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", skey, "-out", scrt,
             "-days", "30", "-subj", "/CN=mail.example.org")
    os.chmod(skey, 0o600)
    (tmp_path / "sni").write_text("mail.example.org %s %s\n" % (skey, scrt))
    inst = instance(main=tls_main(certs, tls_server_sni_maps="texthash:%s" % (tmp_path / "sni"))
                    ).start()

    def subject(name):
        r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                            "127.0.0.1:%d" % inst.port, "-servername", name],
                           input="QUIT\n", capture_output=True, text=True, timeout=30)
        return [l for l in r.stdout.splitlines() if l.startswith("subject=")]
    assert subject("mail.example.org") == ["subject=CN = mail.example.org"]
    assert subject("other.example.net") == ["subject=CN = mx.example.test"]
