"""always_bcc, sender_bcc_maps and recipient_bcc_maps: cleanup's extra
recipients, as the archive set-ups of the guides use them."""
import smtplib


def send(inst, sender, rcpts, subject):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail(sender, rcpts, "From: %s\r\nSubject: %s\r\n\r\nhi\r\n" % (sender, subject))


def test_bcc_maps_and_always_bcc(instance):
    inst = instance(main={
        "virtual_mailbox_maps": "inline:{ {alice@example.test=example.test/alice/}, "
                                "{bob@example.test=example.test/bob/}, "
                                "{archive@example.test=example.test/archive/}, "
                                "{audit@example.test=example.test/audit/} }",
        "always_bcc": "archive@example.test",
        "sender_bcc_maps": "inline:{ {carol@client.test=audit@example.test} }",
        "recipient_bcc_maps": "inline:{ {@other.test=bob@example.test} }",
        "relay_domains": "other.test",
        "transport_maps": "inline:{ {other.test=discard:} }",
    }).start()
    send(inst, "dave@client.test", ["alice@example.test"], "plain")
    send(inst, "carol@client.test", ["alice@example.test"], "from carol")
    send(inst, "dave@client.test", ["someone@other.test"], "to other")
    archive = inst.wait_maildir("example.test/archive", 3)
    assert sorted(m.split(b"Subject: ")[1].split(b"\n")[0] for m in archive) == \
        [b"from carol", b"plain", b"to other"]
    audit = inst.wait_maildir("example.test/audit", 1)
    assert len(audit) == 1 and b"Subject: from carol" in audit[0]
    bob = inst.wait_maildir("example.test/bob", 1)
    assert len(bob) == 1 and b"Subject: to other" in bob[0]
    assert len(inst.wait_maildir("example.test/alice", 2)) == 2


def test_bcc_map_failure_defers(instance, tmp_path):
    inst = instance(main={"sender_bcc_maps": "pcre:%s" % (tmp_path / "missing")}).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("dave@client.test")
        s.rcpt("alice@example.test")
        code, text = s.data(b"Subject: x\r\n\r\nhi\r\n")
    assert code == 451 and b"sender_bcc_maps" in text, (code, text)
