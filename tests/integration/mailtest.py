"""Helpers shared by the delivery, bounce, queue and sendmail tests: send a
message, read an mbox, parse DSNs, find log lines."""
import email
import email.policy
import os
import re
import smtplib
import stat

from conftest import wait_for


def send(inst, sender, rcpts, body=None, subject="test", mail_options=(), rcpt_options=(),
         extra_headers=""):
    """Send one message over SMTP; returns the queue ID from the 250 reply."""
    if body is None:
        body = "hello\r\n"
    msg = ("From: <%s>\r\nSubject: %s\r\n%s\r\n%s" % (sender or "nobody@client.test", subject,
                                                      extra_headers, body)).encode()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        code, text = s.mail(sender, list(mail_options))
        assert code == 250, (code, text)
        for r in rcpts:
            code, text = s.rcpt(r, list(rcpt_options))
            assert code == 250, (r, code, text)
        code, text = s.data(msg)
        assert code == 250, (code, text)
    return text.decode().split()[-1]


def open_dir(path, mode=0o777):
    """A directory anyone (default_privs, mailbox owners) may write into."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    return path


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def wait_file(path, pred=lambda b: len(b) > 0, timeout=15.0):
    ok = wait_for(lambda: pred(read(path)), timeout)
    assert ok, "%s never got the expected content: %r" % (path, read(path)[-2000:])
    return read(path)


def mbox_messages(data):
    """Split an mbox into messages (bytes, without the From_ line)."""
    out = []
    for part in re.split(rb"(?m)^From [^\n]*\n", data):
        if part.strip():
            out.append(part)
    return out


def parse(msg_bytes):
    return email.message_from_bytes(msg_bytes, policy=email.policy.compat32)


def dsn_parts(msg_bytes):
    """(report message, human text, [per-message fields, per-recipient fields...], returned part)."""
    m = parse(msg_bytes)
    assert m.get_content_type() == "multipart/report", m.get_content_type()
    assert m.get_param("report-type") == "delivery-status"
    parts = m.get_payload()
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    groups = parts[1].get_payload()          # list of Message objects, one per field group
    fields = [dict((k.lower(), re.sub(r"\s*\n\s*", " ", v)) for k, v in g.items())
              for g in groups]
    returned = parts[2] if len(parts) > 2 else None
    return m, parts[0].get_payload(decode=True).decode("utf-8", "replace"), fields, returned


def log_lines(inst, pattern):
    return [l for l in inst.log().splitlines() if re.search(pattern, l)]


def is_mode(path, mode):
    return stat.S_IMODE(os.stat(path).st_mode) == mode
