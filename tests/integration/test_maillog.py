"""The mail log in Postfix's format, line by line, for a delivery and for
rejections: what log readers (pflogsumm, grep habits) expect."""
import re
import smtplib

from conftest import RawSMTP, wait_for

STAMP = r"[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d \S+ "
DELAY = r"\d+(?:\.\d+)?"


def one(inst, pattern, count=1):
    found = [l for l in inst.log().splitlines() if re.search(pattern, l)]
    assert len(found) == count, "expected %d line(s) matching %r, got %r\n%s" % (
        count, pattern, found, inst.log()[-3000:])
    return re.search(pattern, found[0])


def test_delivery_log_lines(server):
    msg = (b"From: <carol@client.test>\r\nTo: <alice@example.test>\r\nSubject: log\r\n"
           b"Message-ID: <log-1@client.test>\r\n\r\nbody\r\n")
    with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["alice@example.test"], msg)
    delivered = server.wait_maildir("example.test/alice", 1)[0]
    server.wait_log(": removed")
    server.wait_log("commands=5")
    smtpd = r"yubin/smtpd\[(\d+)\]: "
    qmgr = r"yubin/qmgr\[(\d+)\]: "
    # (The harness's port probe adds a connect/lost connection/disconnect of its own.)
    assert re.search("(?m)^" + STAMP + smtpd + r"connect from localhost\[127\.0\.0\.1\]$",
                     server.log())
    m = one(server, "^" + STAMP + smtpd + r"([0-9A-Za-z]{12,}): "
                    r"client=localhost\[127\.0\.0\.1\]$")
    pid, qid = m.group(1), m.group(2)
    one(server, r"yubin/smtpd\[%s\]: %s: message-id=<log-1@client\.test>$" % (pid, qid))
    m = one(server, "^" + STAMP + qmgr + r"%s: from=<carol@client\.test>, size=(\d+), nrcpt=1 "
                    r"\(queue active\)$" % qid)
    size = int(m.group(2))
    # size= is the queued message (our Received: and the content); the mailbox copy adds
    # Return-Path:, X-Original-To: and Delivered-To:.
    head = b"".join(l + b"\n" for l in delivered.split(b"\n")[:3])
    assert head.startswith(b"Return-Path: ") and b"Delivered-To: " in head
    assert size == len(delivered) - len(head)
    m = one(server, "^" + STAMP + qmgr + r"%s: to=<alice@example\.test>, relay=virtual, "
                    r"delay=(%s), delays=(%s)/(%s)/(%s)/(%s), dsn=2\.0\.0, "
                    r"status=sent \(delivered to maildir\)$" % (qid, DELAY, DELAY, DELAY, DELAY, DELAY))
    total, parts = float(m.group(2)), [float(m.group(i)) for i in range(3, 7)]
    assert total < 10 and all(p <= total + 0.02 for p in parts)
    one(server, "^" + STAMP + qmgr + r"%s: removed$" % qid)
    one(server, "^" + STAMP + r"yubin/smtpd\[%s\]: disconnect from localhost\[127\.0\.0\.1\] "
                r"ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5$" % pid)
    # The order a message goes through.
    log = server.log()
    order = [log.index(x) for x in ("%s: client=" % qid, "%s: message-id=" % qid,
                                    "%s: from=<" % qid, "%s: to=<" % qid, "%s: removed" % qid)]
    assert order == sorted(order)


def test_rejection_log_lines(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<carol@client.test>")
    assert r.cmd("RCPT TO:<nobody@example.test>")[0] == 550
    assert r.cmd("RCPT TO:<nobody@example.test>")[0] == 550
    assert r.cmd("QUIT")[0] == 221
    server.wait_log("commands=3/5")
    one(server, "^" + STAMP + r"yubin/smtpd\[\d+\]: NOQUEUE: reject: RCPT from "
                r"localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <nobody@example\.test>: Recipient "
                r"address rejected: User unknown in virtual mailbox table; "
                r"from=<carol@client\.test> to=<nobody@example\.test> proto=ESMTP "
                r"helo=<client\.test>$", count=2)
    # Failed commands count as attempted/total, as Postfix writes them.
    one(server, r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=0/2 quit=1 "
                r"commands=3/5$")


def test_lost_connection_log_line(server):
    r = RawSMTP(server.port)
    r.reply()
    r.cmd("EHLO client.test")
    r.cmd("MAIL FROM:<carol@client.test>")
    r.cmd("RCPT TO:<alice@example.test>")
    r.close()
    server.wait_log("rcpt=1 commands=3")
    one(server, r"yubin/smtpd\[\d+\]: lost connection after RCPT from localhost\[127\.0\.0\.1\]$")
    one(server, r"disconnect from localhost\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 commands=3$")
    # The transaction never completed: nothing was queued.
    assert "from=<carol@client.test>, size=" not in server.log()


def test_bounce_log_lines(instance):
    inst = instance(main={"smtpd_reject_unlisted_recipient": "no"}).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail("bob@example.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
    inst.wait_maildir("example.test/bob", 1)
    m = one(inst, r"yubin/qmgr\[\d+\]: (\S+): to=<nobody@example\.test>, relay=virtual, "
                  r"delay=%s, delays=%s/%s/%s/%s, dsn=5\.1\.1, status=bounced "
                  r"\(unknown user: \"nobody@example\.test\"\)$" % ((DELAY,) * 5))
    qid = m.group(1)
    m = one(inst, r"yubin/qmgr\[\d+\]: %s: sender non-delivery notification: (\S+)$" % qid)
    nqid = m.group(1)
    one(inst, r"%s: from=<>, size=\d+, nrcpt=1 \(queue active\)$" % nqid)
    assert wait_for(lambda: "%s: removed" % nqid in inst.log())
    one(inst, r"%s: to=<bob@example\.test>, relay=virtual, .*status=sent" % nqid)
