"""SMTP server behaviour as a client sees it: replies, delivery into Maildir,
limits, pipelining, BDAT, SMTPUTF8, end-of-data safety."""
import smtplib
import subprocess
import time

from conftest import RawSMTP, wait_for

MSG = (b"From: Carol <carol@client.test>\r\nTo: alice@example.test\r\n"
       b"Subject: hello\r\nMessage-ID: <m1@client.test>\r\n\r\nHello Alice.\r\n")


def test_greeting_and_ehlo_keywords(server):
    s = smtplib.SMTP("127.0.0.1", server.port, timeout=10)
    code, banner = s.ehlo("client.test")
    assert code == 250
    text = banner.decode()
    assert text.startswith("mx.example.test")
    for kw in ("PIPELINING", "SIZE", "VRFY", "ETRN", "ENHANCEDSTATUSCODES", "8BITMIME",
               "DSN", "SMTPUTF8", "CHUNKING"):
        assert kw in text, kw
    assert "AUTH" not in text  # no AUTH on port 25 without TLS
    s.quit()


def test_delivery_to_virtual_maildir(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["alice@example.test"], MSG)
    msgs = server.wait_maildir("example.test/alice", 1)
    m = msgs[0]
    assert m.startswith(b"Return-Path: <carol@client.test>\n")
    assert b"Delivered-To: alice@example.test\n" in m
    assert b"Received: from client.test (localhost [127.0.0.1])" in m or \
           b"Received: from client.test (unknown [127.0.0.1])" in m
    assert b"by mx.example.test (yubin) with ESMTP id " in m
    assert m.endswith(b"\n\nHello Alice.\n")
    assert b"\r\n" not in m  # Maildir files use LF
    server.wait_log("to=<alice@example.test>, relay=virtual")
    assert "status=sent (delivered to maildir)" in server.log()


def test_queued_reply_has_queue_id_that_appears_in_log(server):
    r = RawSMTP(server.port)
    assert r.reply()[0] == 220
    r.cmd("EHLO client.test")
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert r.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    code, text = r.cmd("Subject: x\r\n\r\nbody\r\n.")
    assert code == 250 and text[0].startswith("2.0.0 Ok: queued as ")
    qid = text[0].split()[-1]
    assert r.cmd("QUIT")[0] == 221
    server.wait_log("%s: to=<bob@example.test>" % qid)
    server.wait_log("%s: removed" % qid)
    assert "%s: client=" % qid in server.log()
    server.wait_log("disconnect from ")
    assert "ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5" in server.log()


def test_unknown_virtual_recipient_rejected(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("carol@client.test")
        code, text = s.rcpt("nobody@example.test")
    assert code == 550
    assert b"5.1.1 <nobody@example.test>: Recipient address rejected: " \
           b"User unknown in virtual mailbox table" in text


def test_relay_denied_outside_mynetworks(instance):
    inst = instance(main={"mynetworks": "192.0.2.0/24"}).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("carol@client.test")
        code, text = s.rcpt("someone@elsewhere.test")
        assert code in (454, 554), (code, text)
        assert b"<someone@elsewhere.test>: Relay access denied" in text
        # Local mail is still accepted from the same client.
        assert s.rcpt("alice@example.test")[0] == 250
    assert "reject: RCPT from" in inst.log()
    assert "Relay access denied; from=<carol@client.test> to=<someone@elsewhere.test>" in inst.log()


def test_command_order_errors(server):
    r = RawSMTP(server.port)
    r.reply()
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 503
    assert r.cmd("DATA")[0] == 503
    assert r.cmd("EHLO client.test")[0] == 250
    assert r.cmd("MAIL FROM:<a@client.test>")[0] == 250
    code, text = r.cmd("MAIL FROM:<a@client.test>")
    assert code == 503 and "nested MAIL command" in text[0]
    code, text = r.cmd("FROBNICATE")
    assert code == 502 and "command not recognized" in text[0]
    code, text = r.cmd("MAIL FROM:<a@@b>")
    assert code == 503  # still in a transaction
    assert r.cmd("RSET")[0] == 250
    code, text = r.cmd("MAIL FROM:<a@@b>")
    assert code == 501 and "5.1.7 Bad sender address syntax" in text[0]
    code, text = r.cmd("MAIL FROM:<a@client.test> FOO=BAR")
    assert code == 555 and "Unsupported option: FOO" in text[0]
    assert r.cmd("NOOP")[0] == 250
    assert r.cmd("QUIT")[0] == 221


def test_size_limit_zero_means_no_limit(instance):
    """message_size_limit = 0: no SIZE value announced and messages of any
    size accepted, below and above the spill-to-disk threshold."""
    inst = instance(main={"message_size_limit": "0"}).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.has_extn("size") and not s.esmtp_features["size"].strip()
        for n in (150 * 1024, 600 * 1024):
            body = (b"y" * 98 + b"\r\n") * (n // 100)
            s.sendmail("a@client.test", ["alice@example.test"], b"Subject: big\r\n\r\n" + body)
    msgs = inst.wait_maildir("example.test/alice", 2)
    assert sorted(len(m) for m in msgs)[1] > 590 * 1024      # stored with LF line ends


def test_size_limit(instance):
    inst = instance(main={"message_size_limit": "2000"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    code, text = r.cmd("MAIL FROM:<a@client.test> SIZE=5000")
    assert code == 552 and "5.3.4 Message size exceeds fixed limit" in text[0]
    assert r.cmd("MAIL FROM:<a@client.test> SIZE=100")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100 + b".\r\n")
    code, text = r.reply()
    assert code == 552 and "5.3.4" in text[0]
    # The session goes on after the rejection.
    assert r.cmd("MAIL FROM:<a@client.test>")[0] == 250
    r.cmd("QUIT")
    time.sleep(0.5)
    assert inst.maildir("example.test/alice") == []


def test_pipelining_in_one_write(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.send("MAIL FROM:<a@client.test>\r\nRCPT TO:<alice@example.test>\r\n"
           "RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    codes = [r.reply()[0] for _ in range(5)]
    assert codes == [250, 250, 550, 250, 354]
    r.send("Subject: p\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
    assert r.reply()[0] == 250
    assert r.reply()[0] == 221
    server.wait_maildir("example.test/alice", 1)
    server.wait_maildir("example.test/bob", 1)


def test_many_messages_in_one_session(server):
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        for i in range(20):
            s.sendmail("a@client.test", ["bob@example.test"], b"Subject: %d\r\n\r\nn\r\n" % i)
    msgs = server.wait_maildir("example.test/bob", 20)
    subjects = sorted(int(m.split(b"Subject: ")[1].split(b"\n")[0]) for m in msgs)
    assert subjects == list(range(20))


def test_bdat_chunking(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    part1 = b"Subject: chunks\r\n\r\nline one\r"
    part2 = b"\n.line two starts with a dot\r\n"
    r.send(b"BDAT %d\r\n" % len(part1) + part1)
    code, text = r.reply()
    assert code == 250 and "bytes" in text[0]
    r.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
    code, text = r.reply()
    assert code == 250 and "queued as" in text[0]
    r.cmd("QUIT")
    m = server.wait_maildir("example.test/alice", 1)[0]
    assert m.endswith(b"\n\nline one\n.line two starts with a dot\n")
    server.wait_log("bdat=2")


def test_bdat_without_transaction_consumes_chunk(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.send(b"BDAT 10 LAST\r\nRSET\r\nQUIT")
    code, text = r.reply()
    assert code == 503
    # The 10 bytes were the chunk, not commands; the session continues.
    assert r.cmd("NOOP")[0] == 250


def test_smtputf8(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    code, text = r.cmd("MAIL FROM:<j\u00f6rg@client.test>")
    assert code == 553 and "SMTPUTF8" in text[0]
    assert r.cmd("MAIL FROM:<j\u00f6rg@client.test> SMTPUTF8")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    code, _ = r.cmd("Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n\r\n\u00fcber\r\n.")
    assert code == 250
    r.cmd("QUIT")
    m = server.wait_maildir("example.test/alice", 1)[0]
    assert "Return-Path: <j\u00f6rg@client.test>".encode() in m
    assert "with UTF8SMTP".encode() in m or b"with UTF8ESMTP" in m


def test_smuggling_is_not_end_of_data(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: s\r\n\r\nfirst\r\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n\r\nsmuggled\r\n.\r\n")
    code, text = r.reply()
    assert code == 250
    r.cmd("QUIT")
    m = server.wait_maildir("example.test/alice", 1)[0]
    assert b"MAIL FROM:<evil@x.test>" in m and b"smuggled" in m
    time.sleep(0.5)
    assert server.maildir("example.test/bob") == []


def test_bare_lf_is_normalized(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.cmd("DATA")
    code, _ = r.cmd("Subject: lf\n\nbare\nlines\r\n.")
    assert code == 250
    m = server.wait_maildir("example.test/alice", 1)[0]
    assert m.endswith(b"\n\nbare\nlines\n")


def test_bare_lf_rejected_when_forbidden(instance):
    inst = instance(main={"smtpd_forbid_bare_newline": "yes"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.cmd("DATA")
    code, text = r.cmd("Subject: lf\n\nbare\r\n.")
    assert code == 521 and "bare <LF> received" in text[0]
    assert r.closed()


def test_too_many_errors_disconnects(instance):
    inst = instance(main={"smtpd_hard_error_limit": "3", "smtpd_soft_error_limit": "10"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    assert r.cmd("BOGUS1")[0] == 502
    assert r.cmd("BOGUS2")[0] == 502
    code, text = r.cmd("BOGUS3")
    assert code == 421 and "too many errors" in text[0]
    assert r.closed()


def test_idle_timeout(instance):
    inst = instance(main={"smtpd_timeout": "2s"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    code, text = r.reply()
    assert code == 421 and "timeout exceeded" in text[0]
    inst.wait_log("timeout after")


def test_long_command_line(server):
    r = RawSMTP(server.port)
    r.reply()
    r.send("NOOP " + "x" * 20000 + "\r\n")
    code, text = r.reply()
    assert code == 500
    assert r.cmd("NOOP")[0] == 250


def test_vrfy(server):
    r = RawSMTP(server.port)
    r.reply()
    code, text = r.cmd("VRFY alice@example.test")
    assert code == 252
    code, text = r.cmd("VRFY nobody@example.test")
    assert code == 550


def test_vrfy_disabled(instance):
    inst = instance(main={"disable_vrfy_command": "yes"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    code, text = r.cmd("EHLO client.test")
    assert "VRFY" not in " ".join(text)
    assert r.cmd("VRFY alice@example.test")[0] == 502


def test_helo_required(instance):
    inst = instance(main={"smtpd_helo_required": "yes"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    code, text = r.cmd("MAIL FROM:<a@client.test>")
    assert code == 503 and "send HELO/EHLO first" in text[0]


def test_helo_with_control_characters_refused(server):
    """F6: a HELO/EHLO name with a control character is refused. "EHLO
    tab<TAB>here.example" used to be accepted and its mail never delivered
    (the delivery request could not carry the TAB); with a CR the message
    was refused only after the whole DATA; ESC, DEL and 0x01 went raw into
    Received: (terminal escapes for whoever reads the mailbox)."""
    r = RawSMTP(server.port)
    assert r.reply()[0] == 220
    for verb, name in (("EHLO", b"tab\there.example"), ("EHLO", b"cr\rX-Injected: yes"),
                       ("EHLO", b"esc\x1b[2Jhere.example"), ("EHLO", b"del\x7fhere.example"),
                       ("EHLO", b"one\x01here.example"), ("HELO", b"tab\there.example"),
                       ("HELO", b"cr\rX-Injected: yes"), ("EHLO", b"vt\x0bhere.example")):
        r.send(verb.encode() + b" " + name + b"\r\n")
        code, text = r.reply()
        assert (code, text) == (501, ["5.5.2 Syntax: %s hostname" % verb]), (name, code, text)
    # no name took: without HELO, smtpd_helo_required aside, mail still works;
    # a clean name is fine, and a refused one after it does not replace it
    code, text = r.cmd("EHLO client.test")
    assert code == 250 and text[0] == "mx.example.test"
    r.send(b"EHLO evil\x1bhere.example\r\n")
    assert r.reply()[0] == 501
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: helo\r\n\r\nbody\r\n.\r\n")
    code, text = r.reply()
    assert code == 250, text
    r.cmd("QUIT")
    m = server.wait_maildir("example.test/alice", 1)[0]
    assert b"Received: from client.test (localhost [127.0.0.1])" in m
    assert b"\x1b" not in m and b"\x7f" not in m and b"\x01" not in m
    assert b"X-Injected" not in m
    server.wait_log("to=<alice@example.test>, relay=virtual")
    assert "status=deferred" not in server.log()


def test_dsn_parameters_accepted(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    assert r.cmd("MAIL FROM:<a@client.test> RET=HDRS ENVID=abc+2Bdef")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE "
                 "ORCPT=rfc822;alice+2Bx@example.test")[0] == 250
    code, text = r.cmd("RCPT TO:<bob@example.test> NOTIFY=NEVER,SUCCESS")
    assert code == 501
    r.cmd("DATA")
    assert r.cmd("Subject: dsn\r\n\r\nx\r\n.")[0] == 250


def test_swaks(server):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(server.port),
                        "--from", "swaks@client.test", "--to", "bob@example.test",
                        "--helo", "client.test", "--header", "Subject: via swaks"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    m = server.wait_maildir("example.test/bob", 1)[0]
    assert b"Subject: via swaks" in m


def test_large_message_is_spilled_and_delivered_intact(server):
    """A message far above the in-memory threshold arrives byte for byte."""
    import hashlib
    body = b"".join(b"line %07d " % i + b"x" * 60 + b"\r\n" for i in range(40000))  # ~2.9 MB
    body += b".starts with a dot\r\n"
    with smtplib.SMTP("127.0.0.1", server.port, timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail("a@client.test", ["alice@example.test"],
                   b"Subject: big\r\nMessage-ID: <big@client.test>\r\n\r\n" + body)
    m = server.wait_maildir("example.test/alice", 1, timeout=30)[0]
    got = m.split(b"\n\n", 1)[1]
    want = body.replace(b"\r\n", b"\n")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(want).hexdigest()


def test_large_message_over_limit_via_bdat(instance):
    inst = instance(main={"message_size_limit": "300000"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<a@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    chunk = b"y" * 200000
    r.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    assert r.reply()[0] == 250
    r.send(b"BDAT %d\r\n" % len(chunk) + chunk)
    code, text = r.reply()
    assert code == 552
    r.send(b"BDAT 3 LAST\r\nabc")
    code, text = r.reply()
    assert code == 552
    assert r.cmd("NOOP")[0] == 250
