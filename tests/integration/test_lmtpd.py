"""The LMTP server (master.cf command lmtpd, RFC 2033): Postfix's lmtp
client delivers into yubin's mailboxes as it delivers into Dovecot's;
one reply per recipient after the message; unknown users 550 5.1.1; an
over-quota recipient gets its own 552 5.2.2 while the others are
delivered; Return-Path, Delivered-To, X-Original-To added; Sieve at
delivery (the details of Sieve: test_yubin_deliver.py, the same code)."""
import os
import re
import stat

from conftest import free_port, wait_for, wait_port
from ldatest import (LMTP, folder, folder_names, lda_instance, message, set_quota, sieve_script,
                     wait_folder, wait_ready)


def started(instance, tmp_path, **kw):
    inst = lda_instance(instance, tmp_path, **kw)
    inst.start()
    wait_ready(inst)
    return inst


def test_lhlo_capabilities_and_vrfy(instance, tmp_path):
    inst = started(instance, tmp_path)
    c = LMTP(inst.lmtp_socket)
    code, text = c.reply()
    assert code == 220 and "LMTP" in text[0], text
    code, caps = c.cmd("LHLO client.test")
    assert code == 250, caps
    for cap in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING", "DSN"):
        assert cap in caps, caps
    assert any(re.match(r"SIZE \d+", t) for t in caps), caps
    assert c.cmd("VRFY alice@example.test")[0] == 252
    assert c.cmd("EHLO client.test")[0] == 500          # LMTP has LHLO only
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("QUIT")[0] == 221
    c.close()


def test_per_recipient_replies_after_data_pipelined(instance, tmp_path):
    inst = started(instance, tmp_path)
    set_quota(inst, "bob", 100)                   # any message is over bob's quota
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    # PIPELINING: everything up to DATA in one write
    c.send("MAIL FROM:<carol@client.test>\r\n"
           "RCPT TO:<alice@example.test> ORCPT=rfc822;Alice.Orig@example.test\r\n"
           "RCPT TO:<nobody@example.test>\r\n"
           "RCPT TO:<bob@example.test>\r\n"
           "RCPT TO:<dave+tag@example.test>\r\n"
           "DATA\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    code, text = c.reply()
    assert (code, text[0]) == (550, "5.1.1 <nobody@example.test> User doesn't exist: "
                                    "nobody@example.test"), (code, text)
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    assert c.reply()[0] == 354
    body = "line one\r\n..dotted line\r\n" + "x" * 3000 + "\r\n"
    c.send(message(subject="multi", body=body) + ".\r\n")
    # one reply per accepted recipient, in RCPT order
    r1, r2, r3 = c.reply(), c.reply(), c.reply()
    assert r1[0] == 250 and r1[1][0].startswith("2.0.0 <alice@example.test> "), r1
    assert r2 == (552, ["5.2.2 <bob@example.test> Quota exceeded (mailbox for user is full)"]), r2
    assert r3[0] == 250 and "<dave+tag@example.test>" in r3[1][0], r3
    assert c.cmd("QUIT")[0] == 221
    [m] = folder(inst, "alice")
    head = m.split(b"\n\n")[0].decode()
    lines = head.split("\n")
    assert lines[0] == "Return-Path: <carol@client.test>", lines[:4]
    assert lines[1] == "Delivered-To: alice@example.test", lines[:4]
    assert lines[2] == "X-Original-To: Alice.Orig@example.test", lines[:4]
    assert b"\r\n" not in m                       # LF line ends in the Maildir
    assert b"\n.dotted line\n" in m               # dot-unstuffed
    assert folder(inst, "bob") == []
    [d] = folder(inst, "dave")
    assert b"Delivered-To: dave+tag@example.test\n" in d
    # the message has its UID at once (dovecot-uidlist), as IMAP needs
    uidlist = open(os.path.join(inst.home, "alice", "Maildir", "dovecot-uidlist")).read()
    assert re.search(r"^1 ", uidlist, re.M), uidlist
    # owned by the mailbox owner, never root
    st = os.stat(os.path.join(inst.home, "alice", "Maildir", "new"))
    assert st.st_uid == inst.vuid
    inst.wait_log("to=<alice@example.test>, relay=lmtpd")


def test_bdat_chunking(instance, tmp_path):
    inst = started(instance, tmp_path)
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    assert c.cmd("MAIL FROM:<>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
    msg = message(subject="chunks", body=".not stuffed\r\n").encode()
    a, b = msg[:30], msg[30:]
    c.send(b"BDAT %d\r\n" % len(a) + a)
    assert c.reply()[0] == 250
    c.send(b"BDAT %d LAST\r\n" % len(b) + b)
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    [m] = folder(inst, "alice")
    assert m.startswith(b"Return-Path: <>\n")
    assert b"\n.not stuffed\n" in m


def test_rcpt_quota_check_and_size_limit(instance, tmp_path):
    inst = started(instance, tmp_path, main={"lmtp_rcpt_check_quota": "yes",
                                             "message_size_limit": "20000"})
    set_quota(inst, "bob", 10)
    with open(os.path.join(inst.home, "bob", "Maildir", "maildirsize"), "a") as f:
        f.write("20 1\n")
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    c.cmd("MAIL FROM:<carol@client.test>")
    assert c.cmd("RCPT TO:<bob@example.test>") == (
        552, ["5.2.2 <bob@example.test> Quota exceeded (mailbox for user is full)"])
    assert c.cmd("RSET")[0] == 250
    assert c.cmd("MAIL FROM:<carol@client.test> SIZE=999999")[0] == 552
    c.cmd("MAIL FROM:<carol@client.test>")
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message(body="y" * 30000 + "\r\n") + ".\r\n")
    code, text = c.reply()
    assert code == 552 and text[0].startswith("5.3.4"), (code, text)
    assert folder(inst, "alice") == []


def test_postfix_delivers_over_lmtp(instance, tmp_path, postfix_peer):
    """A real Postfix with virtual_transport = lmtp:inet:... : the over-quota
    recipient bounces with its own 552, the unknown one with 550 5.1.1, the
    others are delivered."""
    port = free_port()
    inst = started(instance, tmp_path, lmtp_inet=port)
    assert wait_port(port)
    set_quota(inst, "bob", 100)
    pf = postfix_peer(main={
        "virtual_mailbox_domains": "example.test",
        "virtual_mailbox_maps": "static:x",
        "virtual_transport": "lmtp:inet:127.0.0.1:%d" % port,
        "notify_classes": "",
        "bounce_queue_lifetime": "0",
    }).start()
    import smtplib
    with smtplib.SMTP("127.0.0.1", pf.port, timeout=15) as s:
        s.sendmail("sender@peer.test",
                   ["alice@example.test", "bob@example.test", "nobody@example.test",
                    "dave@example.test"],
                   message(subject="via postfix"))
    wait_folder(inst, "alice", 1)
    wait_folder(inst, "dave", 1)
    pf.wait_log("to=<bob@example.test>")
    pf.wait_log("to=<nobody@example.test>")
    log = pf.log()
    bob = [l for l in log.splitlines() if "to=<bob@example.test>" in l][-1]
    assert "status=bounced" in bob and "552 5.2.2" in bob and "Quota exceeded" in bob, bob
    nob = [l for l in log.splitlines() if "to=<nobody@example.test>" in l][-1]
    assert "status=bounced" in nob and "550 5.1.1" in nob, nob
    ali = [l for l in log.splitlines() if "to=<alice@example.test>" in l][-1]
    assert "status=sent" in ali and "250 2.0.0" in ali, ali
    [m] = folder(inst, "alice")
    assert m.startswith(b"Return-Path: <sender@peer.test>\nDelivered-To: alice@example.test\n")
    assert folder(inst, "bob") == []


def test_sieve_at_lmtp_delivery(instance, tmp_path):
    inst = started(instance, tmp_path)
    sieve_script(inst, "alice", 'require ["fileinto", "imap4flags"];\n'
                 'if header :contains "subject" "report" {\n'
                 '  fileinto :flags ["\\\\Seen", "$Report"] "Reports"; stop;\n}\n')
    sieve_script(inst, "bob", 'require "reject";\nreject "I do not want it";\n')
    sieve_script(inst, "dave", 'this is not sieve;\n')
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    c.cmd("MAIL FROM:<carol@client.test>")
    for u in ("alice", "bob", "dave"):
        assert c.cmd("RCPT TO:<%s@example.test>" % u)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message(subject="weekly report") + ".\r\n")
    ra, rb, rd = c.reply(), c.reply(), c.reply()
    assert ra[0] == 250, ra
    assert rb == (550, ["5.7.1 <bob@example.test> I do not want it"]), rb
    assert rd[0] == 250, rd
    # alice: fileinto a missing folder (lda_mailbox_autocreate=no): kept in INBOX, flags kept
    assert len(folder(inst, "alice", "INBOX", "cur")) == 1
    assert not os.path.exists(os.path.join(inst.home, "alice", "Maildir", ".Reports"))
    inst.wait_log("mailbox 'Reports' does not exist: keeping the message in INBOX")
    # a broken script keeps the message in INBOX and logs why
    assert len(folder(inst, "dave")) == 1
    inst.wait_log("keeping the message in INBOX")


def test_sieve_fileinto_autocreate_with_flags(instance, tmp_path):
    inst = started(instance, tmp_path, main={"lda_mailbox_autocreate": "yes"})
    sieve_script(inst, "alice", 'require ["fileinto", "imap4flags"];\n'
                 'fileinto :flags ["\\\\Seen", "$Report"] "Reports";\n')
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    c.cmd("MAIL FROM:<carol@client.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("DATA")
    c.send(message(subject="weekly report") + ".\r\n")
    assert c.reply()[0] == 250
    assert folder(inst, "alice") == []
    names = folder_names(inst, "alice", "Reports", "cur")
    assert len(names) == 1 and names[0].endswith(":2,Sa"), names
    kw = open(os.path.join(inst.home, "alice", "Maildir", ".Reports", "dovecot-keywords")).read()
    assert "0 $Report" in kw, kw


def test_quickstart_lmtp_with_sieve(tmp_path):
    """`make run`'s instance: an LMTP server on queue/private/dovecot-lmtp with
    Sieve for test@example.test (scripts/mkinstance.sh)."""
    import subprocess
    from conftest import IS_ROOT, ROOT, YUBIN
    d = tmp_path / "instance"
    up = str(tmp_path)
    while IS_ROOT and up not in ("/", "/tmp"):
        os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)
    r = subprocess.run(["sh", os.path.join(ROOT, "scripts", "mkinstance.sh"), str(d)],
                       capture_output=True, text=True, env=dict(os.environ, YUBIN=YUBIN))
    assert r.returncode == 0, r.stdout + r.stderr
    master = (d / "master.cf").read_text()
    for old in (2525, 2587, 2465, 2143, 2993, 2110, 2995, 24190):
        master = master.replace("127.0.0.1:%d " % old, "127.0.0.1:%d " % free_port())
    (d / "master.cf").write_text(master)
    with open(d / "main.cf", "a") as f:
        f.write("maillog_file = %s\n" % (d / "maillog"))
    chk = subprocess.run([YUBIN, "-c", str(d), "check"], capture_output=True, text=True)
    assert chk.returncode == 0 and "warning" not in chk.stderr, chk.stdout + chk.stderr
    proc = subprocess.Popen([YUBIN, "-c", str(d), "start-fg"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        sock = str(d / "queue" / "private" / "dovecot-lmtp")
        assert wait_for(lambda: os.path.exists(sock) and "auth service ready" in
                        open(d / "maillog").read()), open(d / "maillog").read()
        c = LMTP(sock)
        c.reply()
        c.cmd("LHLO client.test")
        for subject in ("[list] weekly news", "urgent: call me"):
            assert c.cmd("MAIL FROM:<me@client.test>")[0] == 250
            assert c.cmd("RCPT TO:<test@example.test>")[0] == 250
            assert c.cmd("DATA")[0] == 354
            c.send("Subject: %s\r\n\r\nhello\r\n.\r\n" % subject)
            code, text = c.reply()
            assert code == 250, (code, text, open(d / "maillog").read()[-3000:])
        c.cmd("QUIT")
        box = d / "mail" / "example.test" / "test"
        assert len(os.listdir(box / ".Lists" / "new")) == 1
        flagged = [n for sub in ("new", "cur") for n in os.listdir(box / sub)]
        assert len(flagged) == 1 and flagged[0].endswith(":2,F"), flagged
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_sieve_redirect_and_vacation_from_lmtpd(instance, tmp_path):
    """lmtpd submits Sieve's messages to the queue as the mailbox owner: a
    redirect keeps the envelope sender, a vacation reply comes from <>."""
    inst = started(instance, tmp_path)
    sieve_script(inst, "alice", 'redirect "bob@example.test";\n')
    sieve_script(inst, "dave", 'require "vacation";\nvacation :subject "Out" "Back soon.";\n')
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    c.cmd("MAIL FROM:<carol@example.test>")
    c.cmd("RCPT TO:<alice@example.test>")
    c.cmd("RCPT TO:<dave@example.test>")
    c.cmd("DATA")
    c.send(message(subject="hello both", sender="carol@example.test",
                   extra="Cc: dave@example.test\r\n") + ".\r\n")
    assert c.reply()[0] == 250 and c.reply()[0] == 250
    # the redirect goes through the queue to bob's virtual mailbox (the conftest's);
    # the vacation reply to carol, who has no mailbox, leaves too (and bounces to <>)
    [fwd] = inst.wait_maildir("example.test/bob", 1)
    assert b"Subject: hello both" in fwd and b"Return-Path: <carol@example.test>" in fwd
    assert folder(inst, "alice") == []
    assert len(folder(inst, "dave")) == 1
    inst.wait_log("sent vacation response to <carol@example.test>")


def test_yubin_lmtp_client_over_the_unix_socket(instance, tmp_path):
    """yubin's own lmtp(8) client with the guides' next hop
    lmtp:unix:private/dovecot-lmtp, to yubin's LMTP server."""
    inst = lda_instance(instance, tmp_path, master_extra="lmtp unix - - n - - lmtp\n", main={
        "virtual_transport": "lmtp:unix:private/dovecot-lmtp",
        "virtual_mailbox_maps": "inline:{ {alice@example.test=x}, {bob@example.test=x}, "
                                "{nobody@example.test=x} }",
    })
    inst.start()
    wait_ready(inst)
    set_quota(inst, "bob", 100)
    import smtplib
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=15) as s:
        s.sendmail("sender@client.test", ["alice@example.test", "bob@example.test",
                                          "nobody@example.test"], message(subject="client"))
    wait_folder(inst, "alice", 1)
    inst.wait_log("to=<bob@example.test>, relay=")
    inst.wait_log("to=<nobody@example.test>, relay=")
    lines = inst.log().splitlines()
    bob = [l for l in lines if "to=<bob@example.test>, relay=" in l][-1]
    assert "status=bounced" in bob and "5.2.2" in bob, bob
    nob = [l for l in lines if "to=<nobody@example.test>, relay=" in l][-1]
    assert "status=bounced" in nob and "5.1.1" in nob, nob
    ali = [l for l in lines if "to=<alice@example.test>, relay=" in l and "qmgr" in l][-1]
    assert "status=sent" in ali, ali
