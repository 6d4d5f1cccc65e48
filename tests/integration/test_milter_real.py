"""The milters of the guides, Debian's own programs, each started privately
(realmilters.py): opendkim signs mail submitted on a submission service
(its own -o smtpd_milters) and verifies incoming mail on the smtp service
against a key given through TestPublicKeys; clamav-milter + clamd reject a message
that matches an offline signature with 550 and tag clean mail
X-Virus-Status: Clean; spamass-milter + spamd reject GTUBE and tag ham with
X-Spam-Status; and the three chained in one smtpd_milters, as the guide
chains them."""
import smtplib

import pytest

import realmilters as rm
from conftest import free_port

pytestmark = pytest.mark.skipif(
    not rm.available("opendkim", "opendkim-genkey", "clamd", "clamav-milter", "spamd",
                     "spamass-milter", "spamc"),
    reason="the real milters are not installed (scripts/deps.sh test installs them)")


def send(port, msg, sender="carol@client.test", rcpts=("alice@example.test",)):
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        s.ehlo("client.test")
        assert s.mail(sender)[0] == 250
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        s.putcmd("data")
        assert s.getreply()[0] == 354
        s.send(msg.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        return s.getreply()


def message(subject, body, sender="carol@client.test"):
    return ("From: <%s>\nTo: <alice@example.test>\nSubject: %s\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\nMessage-ID: <%s@client.test>\n\n%s"
            % (sender, subject, subject.replace(" ", "."), body))


@pytest.fixture
def running():
    made = []
    yield made
    for r in made:
        r.stop()


def with_submission(instance, incoming, outgoing):
    """smtp on .port with the incoming milters; a submission service on
    .sub_port with its own (-o smtpd_milters=..., as the guides set it)."""
    inst = instance(main={"smtpd_milters": incoming})
    inst.sub_port = free_port()
    inst.master_extra = ("127.0.0.1:%d inet n - n - - smtpd -o milter_macro_daemon_name=ORIGINATING\n"
                         "  -o { smtpd_milters = %s }\n" % (inst.sub_port, outgoing))
    return inst.start()


def strip_delivery_headers(raw):
    lines = raw.decode().split("\n")
    keep = [l for l in lines if not l.startswith(("Return-Path:", "X-Original-To:", "Delivered-To:"))]
    return "\n".join(keep)


def test_opendkim_signs_outgoing_and_verifies_incoming(instance, running, tmp_path):
    signer = rm.start_opendkim(str(tmp_path), "s")
    running.append(signer)
    verifier = rm.start_opendkim(str(tmp_path), "v")
    running.append(verifier)
    inst = with_submission(instance, verifier.name, signer.name)
    code, text = send(inst.sub_port, message("signed mail", "hello from alice\n",
                                             "alice@example.test"),
                      sender="alice@example.test")
    assert code == 250, text
    signed = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/simple; d=example.test;" in signed
    assert b" s=sel;" in signed
    # the same message arriving from outside (the smtp service): verified
    incoming = strip_delivery_headers(signed)
    assert send(inst.port, incoming, sender="alice@example.test")[0] == 250
    got = inst.wait_maildir("example.test/alice", 2)
    verified = [m for m in got if b"Authentication-Results" in m]
    assert verified and b"dkim=pass" in verified[0], got
    # changed on the way: the signature fails
    tampered = incoming.replace("hello from alice", "hello from mallory")
    assert send(inst.port, tampered, sender="alice@example.test")[0] == 250
    got = inst.wait_maildir("example.test/alice", 3)
    assert any(b"dkim=fail" in m and b"mallory" in m for m in got), got


def test_clamav_milter(instance, running, tmp_path):
    clam = rm.start_clamav(str(tmp_path))
    running.append(clam)
    inst = instance(main={"smtpd_milters": clam.name}).start()
    code, text = send(inst.port, message("infected", "see " + rm.VIRUS_TEXT + "\n"))
    assert code == 550 and b"Virus found: Yubin.Test.Virus" in text, (code, text, clam.log())
    code, text = send(inst.port, message("clean", "nothing to see\n"))
    assert code == 250, text
    got = inst.wait_maildir("example.test/alice", 1)
    assert len(got) == 1 and b"X-Virus-Status: Clean\n" in got[0]
    assert b"X-Virus-Scanned: clamav-milter" in got[0]


def test_spamass_milter(instance, running, tmp_path):
    spam = rm.start_spamass(str(tmp_path))
    running.append(spam)
    inst = instance(main={"smtpd_milters": spam.name}).start()
    code, text = send(inst.port, message("buy now", rm.GTUBE + "\n"))
    assert code == 550, (code, text, spam.log()[-2000:])
    code, text = send(inst.port, message("lunch", "shall we meet for lunch tomorrow?\n"))
    assert code == 250, text
    got = inst.wait_maildir("example.test/alice", 1)
    assert len(got) == 1 and b"X-Spam-Status: No" in got[0]


def test_three_milters_chained(instance, running, tmp_path):
    signer = rm.start_opendkim(str(tmp_path), "s")
    running.append(signer)
    verifier = rm.start_opendkim(str(tmp_path), "v")
    running.append(verifier)
    clam = rm.start_clamav(str(tmp_path))
    running.append(clam)
    spam = rm.start_spamass(str(tmp_path))
    running.append(spam)
    inst = with_submission(instance, "%s, %s, %s" % (verifier.name, clam.name, spam.name),
                           "%s, %s, %s" % (signer.name, clam.name, spam.name))
    code, text = send(inst.sub_port, message("all three", "regular mail\n", "alice@example.test"),
                      sender="alice@example.test")
    assert code == 250, text
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"DKIM-Signature:" in got
    assert b"X-Virus-Status: Clean" in got
    assert b"X-Spam-Status: No" in got
    assert send(inst.port, message("virus", rm.VIRUS_TEXT + "\n"))[0] == 550
    assert send(inst.port, message("spam", rm.GTUBE + "\n"))[0] == 550
