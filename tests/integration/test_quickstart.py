"""The quick start's instance (scripts/mkinstance.sh), as `make run` makes it:
it passes `yubin check`, and the three services do what the README says."""
import imaplib
import os
import poplib
import re
import smtplib
import socket
import ssl
import subprocess
import time

from conftest import IS_ROOT, ROOT, YUBIN, free_port, wait_for, wait_port


def test_quickstart_instance(tmp_path):
    d = tmp_path / "instance"
    up = str(tmp_path)
    while IS_ROOT and up not in ("/", "/tmp"):
        os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "mkinstance.sh"), str(d)],
                       capture_output=True, text=True, env=dict(os.environ, YUBIN=YUBIN))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "127.0.0.1:2587" in r.stdout
    # Move the fixed ports out of the way of other tests and of a running `make run`.
    ports = {2525: free_port(), 2587: free_port(), 2465: free_port(), 2143: free_port(),
             2993: free_port(), 2110: free_port(), 2995: free_port(), 24190: free_port()}
    master = (d / "master.cf").read_text()
    for old, new in ports.items():
        master = master.replace("127.0.0.1:%d " % old, "127.0.0.1:%d " % new)
    (d / "master.cf").write_text(master)
    with open(d / "main.cf", "a") as f:
        f.write("maillog_file = %s\n" % (d / "maillog"))
    chk = subprocess.run([YUBIN, "-c", str(d), "check"], capture_output=True, text=True)
    assert chk.returncode == 0 and "configuration OK" in chk.stdout, chk.stdout + chk.stderr
    assert "warning" not in chk.stderr, chk.stderr
    proc = subprocess.Popen([YUBIN, "-c", str(d), "start-fg"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        for p in ports.values():
            assert wait_port(p)
        password = (d / "test-password").read_text().strip()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", ports[2525], timeout=10) as s:
            code, text = s.ehlo("client.test")
            assert b"STARTTLS" in text and b"AUTH" not in text
            s.sendmail("me@client.test", ["test@example.test"], b"Subject: one\r\n\r\n1\r\n")
        with smtplib.SMTP("127.0.0.1", ports[2587], timeout=10) as s:
            s.ehlo("client.test")
            assert s.docmd("MAIL FROM:<test@example.test>")[0] == 530
            s.starttls(context=ctx)
            s.ehlo("client.test")
            s.mail("test@example.test")                  # TLS but no AUTH: nothing goes
            assert s.rcpt("someone@elsewhere.test")[0] == 554
            assert s.rcpt("test@example.test")[0] == 554
            s.rset()
            s.login("test@example.test", password)
            s.sendmail("test@example.test", ["test@example.test"], b"Subject: two\r\n\r\n2\r\n")
        with smtplib.SMTP_SSL("127.0.0.1", ports[2465], timeout=10, context=ctx) as s:
            s.ehlo("client.test")
            s.login("test@example.test", password)
            s.sendmail("test@example.test", ["postmaster@example.test"], b"Subject: three\r\n\r\n3\r\n")
        new = d / "mail" / "example.test" / "test" / "new"
        assert wait_for(lambda: new.is_dir() and len(os.listdir(new)) == 3, 20)
        # imap (STARTTLS) and imaps log test@example.test in
        m = imaplib.IMAP4("127.0.0.1", ports[2143])
        m.starttls(ssl_context=ctx)
        assert m.login("test@example.test", password)[0] == "OK"
        m.logout()
        m = imaplib.IMAP4_SSL("127.0.0.1", ports[2993], ssl_context=ctx)
        assert m.login("test@example.test", password)[0] == "OK"
        m.logout()
        # pop3 (STLS) and pop3s see the three messages; ManageSieve greets
        p = poplib.POP3("127.0.0.1", ports[2110], timeout=10)
        p.stls(context=ctx)
        p.user("test@example.test")
        p.pass_(password)
        assert p.stat()[0] == 3
        p.quit()
        p = poplib.POP3_SSL("127.0.0.1", ports[2995], timeout=10, context=ctx)
        p.user("test@example.test")
        p.pass_(password)
        assert len(p.uidl()[1]) == 3
        p.quit()
        with socket.create_connection(("127.0.0.1", ports[24190]), timeout=10) as s:
            greeting = b""
            while b"\r\nOK " not in greeting:
                chunk = s.recv(4096)
                assert chunk, greeting
                greeting += chunk
            assert b'"VERSION" "1.0"' in greeting and b'"STARTTLS"' in greeting
    finally:
        subprocess.run([YUBIN, "-c", str(d), "stop"], capture_output=True)
        proc.wait(timeout=30)
