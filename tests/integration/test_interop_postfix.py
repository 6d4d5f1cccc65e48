"""A real Postfix relays mail into yubin: the two MTAs talk SMTP with every
extension Postfix uses (PIPELINING, 8BITMIME, DSN, SMTPUTF8, SIZE)."""
import smtplib


def test_postfix_relays_into_yubin(instance, postfix_peer):
    inst = instance().start()
    peer = postfix_peer(main={"relayhost": "[127.0.0.1]:%d" % inst.port}).start()
    with smtplib.SMTP("127.0.0.1", peer.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["alice@example.test", "bob@example.test"],
                   b"Subject: via postfix\r\nMessage-ID: <pf1@client.test>\r\n\r\n"
                   b".leading dot\r\nsecond line\r\n")
    a = inst.wait_maildir("example.test/alice", 1, timeout=30)[0]
    b = inst.wait_maildir("example.test/bob", 1, timeout=30)[0]
    for m in (a, b):
        assert b"Subject: via postfix" in m
        assert m.endswith(b"\n\n.leading dot\nsecond line\n")
        assert b"by peer.postfix.test (Postfix)" in m          # Postfix's own Received:
        assert b"by mx.example.test (yubin) with ESMTP" in m    # ours
    peer.wait_log("relay=127.0.0.1[127.0.0.1]:%d" % inst.port)
    assert "status=sent (250 2.0.0 Ok: queued as " in peer.log()


def test_postfix_sees_yubin_rejection(instance, postfix_peer):
    """An unknown recipient gets a 550 from yubin; Postfix bounces it with yubin's text."""
    inst = instance().start()
    peer = postfix_peer(main={"relayhost": "[127.0.0.1]:%d" % inst.port}).start()
    with smtplib.SMTP("127.0.0.1", peer.port, timeout=10) as s:
        s.sendmail("someone@peer.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
    peer.wait_log("status=bounced")
    assert "said: 550 5.1.1 <nobody@example.test>: Recipient address rejected: " \
           "User unknown in virtual mailbox table (in reply to RCPT TO command)" in peer.log()
    # Postfix's bounce reaches its own local sender's mailbox.
    import time
    deadline = time.time() + 20
    while time.time() < deadline and not peer.maildir():
        time.sleep(0.2)
    assert any(b"Undelivered Mail Returned to Sender" in m for m in peer.maildir())


def test_postfix_uses_bdat_free_dsn_smtputf8(instance, postfix_peer):
    inst = instance().start()
    peer = postfix_peer(main={"relayhost": "[127.0.0.1]:%d" % inst.port}).start()
    with smtplib.SMTP("127.0.0.1", peer.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("j\u00f6rg@client.test", ["alice@example.test"],
                   "Subject: utf8\r\n\r\n\u00fcber\r\n".encode(),
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"], rcpt_options=["NOTIFY=FAILURE"])
    m = inst.wait_maildir("example.test/alice", 1, timeout=30)[0]
    assert "Return-Path: <j\u00f6rg@client.test>".encode() in m
    assert "\u00fcber".encode() in m
