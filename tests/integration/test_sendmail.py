"""`yubin sendmail`, the Sendmail-compatible local submission, as a local
program or user sees it: arguments, -t, -f, -i, -bs, qualification, the
headers added, exit codes, and submission by root and by ordinary users."""
import os
import pwd
import re
import shutil
import subprocess
import time

import pytest

from conftest import IS_ROOT, YUBIN, wait_for
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
    # Never started, so not even a maildrop: EX_TEMPFAIL, and a clear message.
    r = sendmail(inst, "alice@example.test", input="Subject: x\n\nx\n")
    assert r.returncode == 75
    assert "the mail system is down and" in r.stderr and "maildrop is not writable" in r.stderr
    # -bs needs a server.
    r = sendmail(inst, "-bs", input="QUIT\r\n")
    assert r.returncode == 75 and "is the mail system running?" in r.stderr
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


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to submit as another user")
def test_maildrop_while_the_system_is_down(instance):
    """With the mail system stopped, sendmail leaves the message in
    maildrop/ (exit 0, as Postfix's postdrop); pickup delivers it once the
    system runs, as the user who dropped it. Malformed or foreign files are
    set aside, not lost and not delivered."""
    inst = start(instance)
    inst.stop()
    drop = os.path.join(inst.queue, "maildrop")
    assert os.stat(drop).st_mode & 0o7777 == 0o1733
    nobody = pwd.getpwnam("nobody")
    r = sendmail(inst, "-t", input="To: alice@example.test\nSubject: while down\n\nx\n",
                 user="nobody")
    assert r.returncode == 0, r.stderr
    r = sendmail(inst, "-f", "postmaster@example.test", "bob@example.test",
                 input="Subject: root too\n\n.leading dot\n")
    assert r.returncode == 0, r.stderr
    files = sorted(os.listdir(drop))
    assert len(files) == 2
    assert sorted(os.stat(os.path.join(drop, f)).st_uid for f in files) == sorted(
        [0, nobody.pw_uid])
    # nobody cannot see or take other users' files
    ls = subprocess.run(["runuser", "-u", "nobody", "--", "ls", drop], capture_output=True)
    assert ls.returncode != 0
    # a file that claims to be complete but is not in the format
    with open(os.path.join(drop, "garbage"), "w") as f:
        f.write("MAIL FROM:<evil@x.test>\n")
    os.chmod(os.path.join(drop, "garbage"), 0o644)
    # files still being written (mode 0200) wait; one abandoned for days goes
    for name, age in (("writing", 0), ("abandoned", 3 * 86400)):
        path = os.path.join(drop, name)
        with open(path, "w") as f:
            f.write("yubin-maildrop 1\n")
        os.chmod(path, 0o200)
        os.utime(path, (time.time() - age, time.time() - age))
    inst.start()
    a = inst.wait_maildir("example.test/alice", 1)[0]
    b = inst.wait_maildir("example.test/bob", 1)[0]
    assert b"Subject: while down" in a and b"Return-Path: <nobody@example.test>" in a
    assert b"(yubin, from userid %d)" % nobody.pw_uid in a
    assert b"Return-Path: <postmaster@example.test>" in b and b"\n.leading dot\n" in b
    assert b"(yubin, from userid 0)" in b
    inst.wait_log("uid=%d from=<nobody@example.test>" % nobody.pw_uid)
    inst.wait_log("maildrop/garbage from uid 0: malformed; kept as maildrop/.bad.garbage")
    inst.wait_log("maildrop/abandoned: removed an incomplete file from uid 0")
    assert wait_for(lambda: sorted(os.listdir(drop)) == [".bad.garbage", "writing"])


def test_maildrop_respects_authorized_submit_users(instance):
    """A user who may not submit cannot get around it through maildrop/."""
    if not IS_ROOT or shutil.which("runuser") is None:
        pytest.skip("needs root to submit as another user")
    inst = start(instance, authorized_submit_users="root")
    inst.stop()
    r = sendmail(inst, "alice@example.test", input="Subject: sneaky\n\nx\n", user="nobody")
    assert r.returncode == 0, r.stderr          # dropped: nobody can tell yet
    inst.start()
    inst.wait_log("not allowed to submit mail (authorized_submit_users)")
    inst.wait_log("refused by pickup; kept as maildrop/.bad.")
    assert inst.maildir("example.test/alice") == []


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to drop files as another user")
def test_maildrop_values_cannot_inject_smtp_commands(instance):
    """Anyone may write a maildrop file. A value whose xtext decodes to CR
    LF (or any control character) used to reach pickup's SMTP dialogue raw,
    where it became a command of its own (here: an extra RCPT TO for bob).
    Such a file is now malformed: set aside, nothing delivered."""
    inst = start(instance)
    inst.stop()
    drop = os.path.join(inst.queue, "maildrop")
    nobody = pwd.getpwnam("nobody")
    files = {
        "crlf-sender": "sender evil@client.test>+0D+0ARCPT+20TO:<bob@example.test\n"
                       "rcpt alice@example.test\n",
        "lf-rcpt": "sender nobody@example.test\n"
                   "rcpt alice@example.test>+0ARCPT+20TO:<bob@example.test\n",
        "cr-notify": "sender nobody@example.test\nrcpt alice@example.test\n"
                     "notify NEVER+0D+0ARCPT+20TO:<bob@example.test>\n",
        "tab-body": "sender nobody@example.test\nrcpt alice@example.test\nbody 8BITMIME+09\n",
    }
    for name, head in files.items():
        path = os.path.join(drop, name)
        with open(path, "w") as f:
            f.write("yubin-maildrop 1\n" + head + "\nSubject: injected\n\nx\n")
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
        os.chmod(path, 0o644)
    # and one clean file from the same user still goes through
    ok = os.path.join(drop, "clean")
    with open(ok, "w") as f:
        f.write("yubin-maildrop 1\nsender nobody@example.test\nrcpt alice@example.test\n\n"
                "Subject: clean\n\nx\n")
    os.chown(ok, nobody.pw_uid, nobody.pw_gid)
    os.chmod(ok, 0o644)
    inst.start()
    a = inst.wait_maildir("example.test/alice", 1)
    for name in files:
        inst.wait_log("maildrop/%s from uid %d: malformed; kept as maildrop/.bad.%s" % (
            name, nobody.pw_uid, name))
    assert wait_for(lambda: sorted(os.listdir(drop)) == sorted(".bad." + n for n in files))
    time.sleep(1)
    a = inst.maildir("example.test/alice")
    assert len(a) == 1 and b"Subject: clean" in a[0]
    assert inst.maildir("example.test/bob") == []
    assert "evil@client.test" not in inst.log()


def test_control_characters_in_arguments_are_refused(instance):
    """The same from the command line: a CR LF in -f, a recipient or -N would
    put a command of its own into the dialogue with pickup (or, with the
    system down, into a maildrop file)."""
    inst = start(instance)
    for args in (["-f", "a@example.test>\r\nRCPT TO:<bob@example.test", "alice@example.test"],
                 ["alice@example.test>\nRCPT TO:<bob@example.test"],
                 ["-N", "NEVER\r\nRCPT TO:<bob@example.test>", "alice@example.test"],
                 ["-f", "esc\x1b@example.test", "alice@example.test"]):
        r = sendmail(inst, *args, input="Subject: injected\n\nx\n")
        assert r.returncode == 65, (args, r.returncode, r.stderr)
        assert "sendmail: fatal: control character in " in r.stderr, r.stderr
    inst.stop()
    r = sendmail(inst, "-f", "a@example.test>\r\nRCPT TO:<bob@example.test",
                 "alice@example.test", input="Subject: injected\n\nx\n")
    assert r.returncode == 65 and "control character in sender address" in r.stderr
    assert os.listdir(os.path.join(inst.queue, "maildrop")) == []
    inst.start()
    r = sendmail(inst, "alice@example.test", input="Subject: clean\n\nx\n")
    assert r.returncode == 0, r.stderr
    a = inst.wait_maildir("example.test/alice", 1)
    time.sleep(1)
    assert len(inst.maildir("example.test/alice")) == 1 and b"Subject: clean" in a[0]
    assert inst.maildir("example.test/bob") == []
