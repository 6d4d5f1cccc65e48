"""header_checks(5) in smtpd as a client and a mailbox see them: the four
classes in pcre: and regexp: tables, the actions that refuse a message
(REJECT before the 250, DISCARD), the ones that change it (IGNORE,
REPLACE, PREPEND, STRIP) and the ones that route it (HOLD, REDIRECT, BCC),
with cleanup(8)'s log lines."""
import os
import smtplib

import pytest

from conftest import wait_for


HEADER_CHECKS = r"""
/^Subject:.*viagra/         REJECT no pills, thanks
/^Subject:.*later/          REJECT 4.7.1 try again later
/^X-Mailer: spamtool/       DISCARD bulk mailer
/^X-Internal:/              IGNORE
/^Subject: \[tag\] (.*)/    REPLACE Subject: [checked] $1
/^From:.*audit-me/          BCC bob@example.test
/^Subject:.*hold me/        HOLD held for review
/^Subject:.*redirect me/    REDIRECT bob@example.test
/^Subject:.*warn me/        WARN looks odd
/^Subject:.*prepend/        PREPEND X-Flagged: yes
"""

MIME_HEADER_CHECKS = r"""
/^Content-(Disposition|Type).*name\s*=\s*"?.*\.(exe|scr)"?/  REJECT attachment type not allowed
"""

NESTED_HEADER_CHECKS = r"""
/^Subject:.*inner secret/   REJECT nested message refused
"""

BODY_CHECKS = r"""
/^.*click here to win/      REJECT body spam
/^password: /               STRIP password removed
"""


@pytest.fixture
def checked(instance, tmp_path):
    for name, text in (("header_checks", HEADER_CHECKS), ("mime_header_checks", MIME_HEADER_CHECKS),
                       ("nested_header_checks", NESTED_HEADER_CHECKS),
                       ("body_checks", BODY_CHECKS)):
        (tmp_path / name).write_text(text.lstrip())
    return instance(main={
        "header_checks": "pcre:%s" % (tmp_path / "header_checks"),
        "mime_header_checks": "pcre:%s" % (tmp_path / "mime_header_checks"),
        "nested_header_checks": "regexp:%s" % (tmp_path / "nested_header_checks"),
        "body_checks": "pcre:%s" % (tmp_path / "body_checks"),
    }).start()


def data(inst, msg, rcpts=("alice@example.test",), sender="carol@client.test"):
    """(code, text) of the reply to the end of DATA."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        s.putcmd("data")
        code, _ = s.getreply()
        assert code == 354
        s.send(msg.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        return s.getreply()


def msg(headers, body="hello\n"):
    return "From: <carol@client.test>\nTo: <alice@example.test>\n%s\n%s" % (headers, body)


def test_reject_before_250(checked):
    inst = checked
    code, text = data(inst, msg("Subject: cheap viagra\n"))
    assert (code, text) == (550, b"5.7.1 no pills, thanks")
    code, text = data(inst, msg("Subject: come back later\n"))
    assert (code, text) == (451, b"4.7.1 try again later")
    code, text = data(inst, msg("Subject: hi\n", "hello\nclick here to win a prize\n"))
    assert (code, text) == (550, b"5.7.1 body spam")
    inst.wait_log("reject: header Subject: cheap viagra from localhost[127.0.0.1]; "
                  "from=<carol@client.test> to=<alice@example.test> proto=ESMTP "
                  "helo=<client.test>: 5.7.1 no pills, thanks")
    inst.wait_log("reject: body click here to win a prize from localhost[127.0.0.1];")
    # nothing of the refused messages was delivered; a clean one is
    assert data(inst, msg("Subject: fine\n"))[0] == 250
    got = inst.wait_maildir("example.test/alice", 1)
    assert len(got) == 1 and b"Subject: fine" in got[0]


def test_mime_and_nested_headers(checked):
    inst = checked
    attach = ("MIME-Version: 1.0\n"
              'Content-Type: multipart/mixed; boundary="b1"\n'
              "Subject: with attachment\n")
    body = ("--b1\nContent-Type: text/plain\n\nsee attached\n"
            '--b1\nContent-Type: application/octet-stream; name="run.exe"\n'
            "Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n--b1--\n")
    code, text = data(inst, msg(attach, body))
    assert (code, text) == (550, b"5.7.1 attachment type not allowed")
    # an attached message's own Subject: goes to nested_header_checks ...
    nested = ("--b1\nContent-Type: message/rfc822\n\n"
              "Subject: the inner secret\nFrom: x@y.test\n\ninner text\n--b1--\n")
    code, text = data(inst, msg(attach, nested))
    assert (code, text) == (550, b"5.7.1 nested message refused")
    # ... and not to header_checks: the same words in the body text pass
    plain = "--b1\nContent-Type: text/plain\n\nSubject: the inner secret\n--b1--\n"
    assert data(inst, msg(attach, plain))[0] == 250


def test_changes_reach_the_mailbox(checked):
    inst = checked
    code, _ = data(inst, msg("Subject: [tag] quarterly report\nX-Internal: build-host-7\n"
                             "X-Keep: yes\n", "hello\npassword: hunter2\nbye\n"))
    assert code == 250
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Subject: [checked] quarterly report\n" in got
    assert b"X-Internal" not in got and b"X-Keep: yes\n" in got
    assert b"hunter2" not in got and b"hello\nbye\n" in got
    assert data(inst, msg("Subject: please prepend\n"))[0] == 250
    got = inst.wait_maildir("example.test/alice", 2)
    assert any(b"X-Flagged: yes\nSubject: please prepend\n" in m for m in got)
    inst.wait_log("strip: body password: hunter2 from localhost[127.0.0.1];")


def test_discard_hold_redirect_bcc_warn(checked):
    inst = checked
    code, text = data(inst, msg("Subject: bulk\nX-Mailer: spamtool 1.0\n"))
    assert code == 250                     # DISCARD: accepted and dropped
    inst.wait_log("discard: header X-Mailer: spamtool 1.0 from localhost[127.0.0.1]; "
                  "from=<carol@client.test> to=<alice@example.test> proto=ESMTP "
                  "helo=<client.test>: bulk mailer")
    assert "discard: END-OF-MESSAGE" not in inst.log()
    code, text = data(inst, msg("Subject: hold me please\n"))
    assert code == 250
    qid = text.decode().split()[-1]
    inst.wait_log("hold: header Subject: hold me please from localhost[127.0.0.1];")
    assert wait_for(lambda: os.path.exists(os.path.join(inst.queue, "hold", qid)), 15)
    assert data(inst, msg("Subject: redirect me\n"))[0] == 250
    got = inst.wait_maildir("example.test/bob", 1)
    assert b"Subject: redirect me" in got[0]
    assert data(inst, "From: <audit-me@client.test>\nSubject: copy\n\nhi\n")[0] == 250
    got = inst.wait_maildir("example.test/bob", 2)
    assert any(b"Subject: copy" in m for m in got)
    got = inst.wait_maildir("example.test/alice", 1)
    assert any(b"Subject: copy" in m for m in got)
    assert data(inst, msg("Subject: warn me\n"))[0] == 250
    inst.wait_log("warning: header Subject: warn me from localhost[127.0.0.1];")
    # the discarded, held and redirected messages never reached alice
    alice = inst.wait_maildir("example.test/alice", 2)
    assert not any(b"spamtool" in m or b"hold me" in m or b"redirect me" in m for m in alice)


def test_check_and_missing_table(instance, tmp_path):
    inst = instance(main={"header_checks": "pcre:%s" % (tmp_path / "nonexistent")}).start()
    # a table that cannot be opened defers the mail, never drops it
    code, text = data(inst, msg("Subject: anything\n"))
    assert code == 451 and b"4.3.0" in text
    r = inst.cmd("check")
    assert "header_checks" in r.stdout + r.stderr
