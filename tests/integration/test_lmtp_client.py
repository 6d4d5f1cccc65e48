"""lmtp(8): yubin hands mail to the real Dovecot LMTP server, as the guides
do with `virtual_transport = lmtp:unix:private/dovecot-lmtp` (or
`lmtp:inet:host:port`): LHLO, one status per recipient after the data (a
recipient over quota bounces while the others are delivered), an unknown
user refused at RCPT, relay= in the log, and deferral while Dovecot is
down."""
import os
import smtplib

import pytest

import dovecot
from conftest import wait_for

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/lib/dovecot/lmtp"),
                                reason="Dovecot's LMTP server (dovecot-lmtpd) is not installed")


def start_dovecot(tmp_path, extra_conf=""):
    base = tmp_path / "dc"
    users = {
        "alice@example.test": ("pw", str(base / "alice" / "Maildir")),
        "bob@example.test": ("pw", str(base / "bob" / "Maildir"), "userdb_quota_rule=*:storage=10"),
    }
    conf = ("mail_plugins = $mail_plugins quota\n"
            "plugin {\n  quota = maildir:User quota\n}\n" + extra_conf)
    return dovecot.PrivateDovecot(base, users=users, protocols="imap lmtp", extra_conf=conf)


def yubin(instance, nexthop):
    return instance(main={
        "virtual_transport": "lmtp:" + nexthop,
        "virtual_mailbox_maps": "inline:{ {alice@example.test=x}, {bob@example.test=x}, "
                                "{carol@example.test=x} }",
    }, master_extra="lmtp unix - - n - - lmtp\n")


def maildir_messages(maildir):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
    return out


def send(inst, rcpts, subject, body="hello\r\n"):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail("sender@client.test", rcpts,
                   "From: sender@client.test\r\nSubject: %s\r\n\r\n%s" % (subject, body))


def test_inet_per_recipient_status(instance, tmp_path):
    dc = start_dovecot(tmp_path).start()
    try:
        inst = yubin(instance, "inet:127.0.0.1:%d" % dc.lmtp_port).start()
        big = "x" * 70 + "\r\n"
        send(inst, ["alice@example.test", "bob@example.test", "carol@example.test"],
             "three recipients", big * 400)
        alice = dc.users["alice@example.test"][1]
        assert wait_for(lambda: maildir_messages(alice), 15), inst.log()[-3000:]
        got = maildir_messages(alice)[0]
        assert b"Subject: three recipients" in got
        relay = "relay=127.0.0.1[127.0.0.1]:%d" % dc.lmtp_port
        inst.wait_log("to=<alice@example.test>, %s" % relay)
        line = [l for l in inst.log().splitlines() if "to=<alice@example.test>" in l
                and "status=" in l][-1]
        assert "status=sent (250 2.0.0 <alice@example.test>" in line, line
        # bob is over quota: Dovecot's 552 after the data, for him alone
        inst.wait_log("to=<bob@example.test>")
        inst.wait_log("status=bounced")
        bob_line = [l for l in inst.log().splitlines() if "to=<bob@example.test>" in l
                    and "status=" in l][-1]
        assert "status=bounced" in bob_line and "in reply to end of DATA command" in bob_line, bob_line
        assert "uota" in bob_line, bob_line
        assert maildir_messages(dc.users["bob@example.test"][1]) == []
        # carol is unknown to Dovecot: refused at RCPT
        carol_line = wait_for(lambda: [l for l in inst.log().splitlines()
                                       if "to=<carol@example.test>" in l and "status=" in l], 15)
        assert carol_line, inst.log()[-3000:]
        carol_line = carol_line[-1]
        assert "status=bounced" in carol_line and "550 5.1.1" in carol_line, carol_line
        assert "in reply to RCPT TO command" in carol_line, carol_line
        assert b"Return-Path: <sender@client.test>" in got   # Dovecot's own, from MAIL FROM
    finally:
        dc.stop()


def test_unix_socket_and_dovecot_down(instance, tmp_path):
    inst = yubin(instance, "unix:private/dovecot-lmtp")
    sock = os.path.join(inst.queue, "private", "dovecot-lmtp")
    dc = start_dovecot(tmp_path, "service lmtp {\n  unix_listener %s {\n    mode = 0666\n  }\n}\n"
                       % sock)
    inst.start()
    # Dovecot is not running yet: the mail waits in the queue
    send(inst, ["alice@example.test"], "while dovecot is down")
    inst.wait_log("status=deferred (connect to mx.example.test[private/dovecot-lmtp]:")
    alice = dc.users["alice@example.test"][1]
    try:
        dc.start()
        inst.cmd("queue", "flush", check=True)
        assert wait_for(lambda: maildir_messages(alice), 30), inst.log()[-3000:]
        inst.wait_log("relay=mx.example.test[private/dovecot-lmtp], ")
        line = [l for l in inst.log().splitlines() if "status=sent" in l][-1]
        assert "to=<alice@example.test>" in line and "status=sent (250 2.0.0" in line, line
    finally:
        dc.stop()


def test_mailbox_transport_for_local_recipients(instance, tmp_path):
    """mailbox_transport = lmtp:...: local(8) hands the mailbox to Dovecot over
    LMTP (after aliases), for users that need no passwd entry; the real
    Dovecot stores it."""
    base = tmp_path / "dc"
    dc = dovecot.PrivateDovecot(base, users={
        "alice@mx.example.test": ("pw", str(base / "alice" / "Maildir"))},
        protocols="imap lmtp").start()
    try:
        inst = instance(main={
            "mailbox_transport": "lmtp:inet:127.0.0.1:%d" % dc.lmtp_port,
            "local_recipient_maps": "",
            "alias_maps": "inline:{ {team=alice} }",
        }, master_extra="lmtp unix - - n - - lmtp\n").start()
        send(inst, ["alice@mx.example.test"], "direct")
        send(inst, ["team@mx.example.test"], "via alias")
        alice = dc.users["alice@mx.example.test"][1]
        assert wait_for(lambda: len(maildir_messages(alice)) == 2, 20), inst.log()[-3000:]
        subjects = sorted(m.split(b"Subject: ")[1].split(b"\n")[0].strip() for m in
                          maildir_messages(alice))
        assert subjects == [b"direct", b"via alias"]
        inst.wait_log("to=<alice@mx.example.test>, relay=127.0.0.1[127.0.0.1]:%d" % dc.lmtp_port)
        inst.wait_log("to=<alice@mx.example.test>, orig_to=<team@mx.example.test>, "
                      "relay=127.0.0.1[127.0.0.1]:%d" % dc.lmtp_port)
        # local(8) itself logs no delivery of its own for them
        assert "relay=local" not in inst.log()
    finally:
        dc.stop()


def test_mailbox_transport_naming_local_is_refused(instance):
    """mailbox_transport = local would hand the mailbox round in a circle:
    deferred with a configuration error, and the message stays queued."""
    inst = instance(main={"mailbox_transport": "local", "local_recipient_maps": ""}).start()
    send(inst, ["someone@mx.example.test"], "loop")
    inst.wait_log("to=<someone@mx.example.test>, relay=local")
    inst.wait_log("status=deferred (mail system configuration error: mailbox_transport loops back)")
