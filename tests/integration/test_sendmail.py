"""`yubin sendmail`, the Sendmail-compatible local submission, as a local
program or user sees it: arguments, -t, -f, -i, -bs, qualification, the
headers added, exit codes, and submission by root and by ordinary users."""
import os
import pwd
import re
import shutil
import subprocess

import pytest

from conftest import IS_ROOT, YUBIN
from mailtest import parse

ORIGIN = "example.test"


def start(instance, **main):
    params = {"myorigin": ORIGIN}
    params.update(main)
    return instance(main=params).start()


def sendmail(inst, *args, input="", user=None):
    cmd = [YUBIN, "-c", inst.dir, "sendmail"] + list(args)
    if user:
        cmd = ["runuser", "-u", user, "--"] + cmd
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=30)


def qid_from_log(inst, uid, sender):
    m = re.search(r"([0-9A-Za-z]+): uid=%d from=<%s>" % (uid, re.escape(sender)), inst.log())
    return m and m.group(1)


def test_plain_submission_adds_headers(instance):
    inst = start(instance)
    r = sendmail(inst, "alice@example.test", input="Subject: plain\n\nhello from a script\n")
    assert r.returncode == 0, r.stderr
    m = inst.wait_maildir("example.test/alice", 1)[0]
    msg = parse(m)
    me = pwd.getpwuid(os.getuid()).pw_name
    assert msg["Return-Path"] == "<%s@%s>" % (me, ORIGIN)
    assert re.search(r"Received: by mx\.example\.test \(yubin, from userid %d\)\n\tid \S+; " %
                     os.getuid(), m.decode()), m
    # The headers a local submission lacks are added, as Postfix's cleanup does.
    assert msg["Date"]
    assert re.match(r"<\d{14}\.\S+@mx\.example\.test>$", msg["Message-ID"])
    assert "%s@%s" % (me, ORIGIN) in msg["From"]
    assert msg.get_payload() == "hello from a script\n"
    inst.wait_log("uid=%d from=<%s@%s>" % (os.getuid(), me, ORIGIN))
    qid = qid_from_log(inst, os.getuid(), "%s@%s" % (me, ORIGIN))
    assert "%s: message-id=%s" % (qid, msg["Message-ID"]) in inst.log()
    inst.wait_log("%s: to=<alice@example.test>, relay=virtual" % qid)


def test_existing_headers_are_kept(instance):
    inst = start(instance)
    r = sendmail(inst, "-f", "robot@client.test", "alice@example.test",
                 input="From: Robot <robot@client.test>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
                       "Message-ID: <fixed@client.test>\nSubject: kept\n\nbody\n")
    assert r.returncode == 0, r.stderr
    m = inst.wait_maildir("example.test/alice", 1)[0]
    msg = parse(m)
    assert msg["Return-Path"] == "<robot@client.test>"
    assert msg["Message-ID"] == "<fixed@client.test>"
    assert msg.get_all("Message-ID") == ["<fixed@client.test>"]
    assert msg.get_all("Date") == ["Mon, 1 Jan 2024 00:00:00 +0000"]
    assert msg.get_all("From") == ["Robot <robot@client.test>"]


def test_extract_recipients_and_drop_bcc(instance):
    inst = start(instance)
    r = sendmail(inst, "-t", "-f", "robot@client.test",
                 input="To: Alice <alice@example.test>\nCc: bob\nBcc: archive@example.test,\n"
                       " alice@example.test\nSubject: -t\n\nbody\n")
    assert r.returncode == 0, r.stderr
    a = inst.wait_maildir("example.test/alice", 1)[0]
    b = inst.wait_maildir("example.test/bob", 1)[0]       # "bob" qualified with @myorigin
    for m in (a, b):
        assert b"Bcc:" not in m and b"archive@example.test" not in m
        assert b"To: Alice <alice@example.test>\n" in m
        assert b"Cc: bob\n" in m
    inst.wait_log("to=<archive@example.test>")             # the Bcc recipient got it too
    assert "status=bounced (unknown user" in inst.log()   # (it has no mailbox here)


def test_dot_line_ends_message_unless_i(instance):
    inst = start(instance)
    r = sendmail(inst, "bob@example.test",
                 input="Subject: dot\n\nbefore\n.\nafter the dot\n")
    assert r.returncode == 0, r.stderr
    m = inst.wait_maildir("example.test/bob", 1)[0]
    assert m.endswith(b"\n\nbefore\n")
    for flag in ("-i", "-oi"):
        r = sendmail(inst, flag, "alice@example.test",
                     input="Subject: %s\n\nbefore\n.\n..two dots\nafter the dot\n" % flag)
        assert r.returncode == 0, r.stderr
    msgs = inst.wait_maildir("example.test/alice", 2)
    for m in msgs:
        assert m.endswith(b"\n\nbefore\n.\n..two dots\nafter the dot\n"), m


def test_unqualified_recipients_get_myorigin(instance):
    inst = start(instance)
    r = sendmail(inst, "alice", "bob", input="Subject: short names\n\nx\n")
    assert r.returncode == 0, r.stderr
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_maildir("example.test/bob", 1)
    inst.wait_log("to=<bob@example.test>, relay=virtual")


def test_smtp_on_stdin_with_bs(instance):
    inst = start(instance)
    session = ("EHLO localhost\r\nMAIL FROM:<robot@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
               "DATA\r\nSubject: -bs\r\n\r\nvia stdio\r\n.\r\nQUIT\r\n")
    r = sendmail(inst, "-bs", input=session)
    assert r.returncode == 0, r.stderr
    replies = [l[:3] for l in r.stdout.splitlines() if l[3:4] == " "]
    assert replies == ["220", "250", "250", "250", "354", "250", "221"], r.stdout
    assert "queued as" in r.stdout
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Subject: -bs" in m and b"Return-Path: <robot@client.test>" in m


def test_exit_codes(instance):
    inst = instance(main={"myorigin": ORIGIN})
    inst.write_config()
    # The mail system is not running: EX_TEMPFAIL, and a clear message.
    r = sendmail(inst, "alice@example.test", input="Subject: x\n\nx\n")
    assert r.returncode == 75
    assert "is the mail system running?" in r.stderr
    inst.start()
    r = sendmail(inst, input="Subject: x\n\nx\n")
    assert r.returncode == 64 and "no recipients" in r.stderr
    r = sendmail(inst, "-t", input="Subject: no To\n\nx\n")
    assert r.returncode == 64
    r = sendmail(inst, "--frobnicate", "alice@example.test", input="x\n")
    assert r.returncode == 64 and "unknown option" in r.stderr
    r = sendmail(inst, "alice@example.test", input="Subject: fine\n\nx\n")
    assert r.returncode == 0
    inst.wait_maildir("example.test/alice", 1)


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to submit as another user")
def test_unprivileged_user_and_root_both_submit(instance):
    inst = start(instance)
    nobody = pwd.getpwnam("nobody")
    r = sendmail(inst, "alice@example.test", input="Subject: from nobody\n\nx\n", user="nobody")
    assert r.returncode == 0, r.stderr
    r = sendmail(inst, "bob@example.test", input="Subject: from root\n\nx\n")
    assert r.returncode == 0, r.stderr
    a = inst.wait_maildir("example.test/alice", 1)[0]
    b = inst.wait_maildir("example.test/bob", 1)[0]
    assert b"Return-Path: <nobody@example.test>" in a
    assert b"(yubin, from userid %d)" % nobody.pw_uid in a
    assert b"Return-Path: <root@example.test>" in b
    assert b"(yubin, from userid 0)" in b
    inst.wait_log("uid=%d from=<nobody@example.test>" % nobody.pw_uid)
    inst.wait_log("uid=0 from=<root@example.test>")
    # An ordinary user cannot pretend to be the mail system on qmgr's socket.
    r = subprocess.run(["runuser", "-u", "nobody", "--", YUBIN, "-c", inst.dir, "queue",
                        "hold", "ALL"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    inst.wait_log("refused a request from uid %d other than a queue listing or flush"
                  % nobody.pw_uid)


def test_message_size_limit(instance):
    # 0 means no limit, as in Postfix.
    inst = start(instance, message_size_limit="0")
    r = sendmail(inst, "alice@example.test", input="Subject: unlimited\n\n" + "x" * 5000 + "\n")
    assert r.returncode == 0, r.stderr
    inst.wait_maildir("example.test/alice", 1)
    inst.stop()
    inst.params["message_size_limit"] = "2000"
    inst.start()
    r = sendmail(inst, "bob@example.test", input="Subject: too big\n\n" + "x" * 5000 + "\n")
    assert r.returncode == 65 and "too large" in r.stderr
    assert inst.maildir("example.test/bob") == []


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to submit as another user")
def test_authorized_submit_users(instance):
    inst = start(instance, authorized_submit_users="root")
    r = sendmail(inst, "alice@example.test", input="Subject: no\n\nx\n", user="nobody")
    assert r.returncode == 77
    assert "User nobody(%d) is not allowed to submit mail" % pwd.getpwnam("nobody").pw_uid \
        in r.stderr
    inst.wait_log("not allowed to submit mail (authorized_submit_users)")
    r = sendmail(inst, "alice@example.test", input="Subject: yes\n\nx\n")
    assert r.returncode == 0, r.stderr
    msgs = inst.wait_maildir("example.test/alice", 1)
    assert len(msgs) == 1 and b"Subject: yes" in msgs[0]
