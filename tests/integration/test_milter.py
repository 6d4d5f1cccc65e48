"""Milters (smtpd_milters, non_smtpd_milters) driven by a milter written for
the test (pymilter.py): every callback in order with its macros, every
reply at each stage (a rejection reaches the client before any 250, at RCPT
for that recipient only), every modification applied to the queued
message, the protocol flags a milter negotiates, several milters in a row,
and milters that hang, close or are absent (milter_default_action, with
Postfix's warnings; nothing is lost)."""
import os
import re
import smtplib
import socket
import threading
import time

import pytest

import pymilter as pm
from conftest import RawSMTP, free_port, wait_for


def smtp_data(inst, msg, rcpts=("alice@example.test",), sender="carol@client.test"):
    """(code, text) of the reply to the end of DATA; RCPT/MAIL failures are returned too."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        code, text = s.mail(sender)
        if code != 250:
            return code, text
        ok = 0
        for r in rcpts:
            code, text = s.rcpt(r)
            ok += code == 250
        if not ok:
            return code, text
        s.putcmd("data")
        code, text = s.getreply()
        if code != 354:
            return code, text
        s.send(msg.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        return s.getreply()


MSG = ("From: <carol@client.test>\nTo: <alice@example.test>\nSubject: hello\n"
       "X-Old: remove me\n\nline one\nline two\n")


@pytest.fixture
def milter(tmp_path):
    made = []

    def factory(*a, **kw):
        m = pm.Milter(tmp_path, *a, **kw)
        made.append(m)
        return m
    yield factory
    for m in made:
        m.close()


def start(instance, milters, **main):
    conf = {"smtpd_milters": milters}
    conf.update(main)
    return instance(main=conf).start()


def test_callbacks_in_order_with_macros(instance, milter):
    m = milter()
    inst = start(instance, m.name)
    code, text = smtp_data(inst, MSG, rcpts=("alice@example.test", "bob@example.test"))
    assert code == 250, text
    inst.wait_maildir("example.test/alice", 1)
    wait_for(lambda: b"Q" in m.letters() or b"A" in m.letters(), 5)
    # negotiate, connect, helo, mail, 2 rcpt, data, 5 headers (Received: first), eoh, body, eom
    letters = m.letters(1)
    assert re.match(rb"OCHMRRTL{5,}NBEQ$", letters), letters
    cmds = m.cmds(1)
    conn = [f for c, f in cmds if c == b"C"][0]
    assert conn[0] in ("localhost", "[127.0.0.1]") and conn[1].startswith("4")
    assert [f for c, f in cmds if c == b"H"][0] == ["client.test"]
    assert [f for c, f in cmds if c == b"M"][0] == ["<carol@client.test>"]
    assert [f[0] for c, f in cmds if c == b"R"] == ["<alice@example.test>", "<bob@example.test>"]
    headers = [f for c, f in cmds if c == b"L"]
    assert headers[0][0] == "Received"
    assert ["Subject", "hello"] in headers and ["X-Old", "remove me"] in headers
    body = b"".join(f for c, f in cmds if c == b"B")
    assert body == b"line one\r\nline two\r\n\r\n"
    # macros: Postfix's names, each before its command
    macros = {}
    for c, f in cmds:
        if c == b"D":
            macros.update(dict(zip(f[0::2], f[1::2])))
    assert macros["j"] == "mx.example.test"
    assert macros["{daemon_name}"] == "mx.example.test"
    assert macros["{mail_addr}"] == "carol@client.test"
    assert macros["{rcpt_addr}"] == "bob@example.test"
    assert macros["{daemon_addr}"] == "127.0.0.1"
    assert macros["_"].endswith("[127.0.0.1]")
    assert macros["i"]          # the queue id at DATA / end of message
    assert "v" in macros


def test_every_modification(instance, milter):
    def handler(cmd, f, conn):
        if cmd == b"E":
            return [pm.addheader("X-Added", "one"),
                    pm.insheader(0, "X-First", "top"),
                    pm.chgheader(1, "Subject", "changed"),
                    pm.chgheader(1, "X-Old", ""),
                    pm.addheader("X-Folded", "a\r\n\tb"),
                    pm.replbody(b"new body\r\n"),
                    pm.replbody(b"second part\r\n"),
                    pm.addrcpt("<bob@example.test>"),
                    pm.delrcpt("<alice@example.test>"),
                    pm.chgfrom("<new-sender@client.test>"),
                    pm.CONTINUE]
        return [pm.CONTINUE]
    m = milter(handler)
    inst = start(instance, m.name)
    code, text = smtp_data(inst, MSG)
    assert code == 250, text
    got = inst.wait_maildir("example.test/bob", 1)[0]
    assert got.index(b"X-First: top\n") < got.index(b"Received:")
    assert b"Subject: changed\n" in got and b"hello" not in got
    assert b"X-Old" not in got
    assert b"X-Added: one\n" in got and b"X-Folded: a\n\tb\n" in got
    assert got.endswith(b"\n\nnew body\nsecond part\n")
    assert b"Return-Path: <new-sender@client.test>" in got
    time.sleep(0.5)
    assert inst.maildir("example.test/alice") == []


def test_two_milters_see_each_others_changes(instance, milter):
    def first(cmd, f, conn):
        if cmd == b"E":
            return [pm.addheader("X-First-Milter", "was here"), pm.CONTINUE]
        return [pm.CONTINUE]
    m1 = milter(first)
    m2 = milter(unix=True)
    inst = start(instance, "%s, { %s, command_timeout=10s }" % (m1.name, m2.name))
    assert smtp_data(inst, MSG)[0] == 250
    inst.wait_maildir("example.test/alice", 1)
    assert ["X-First-Milter", "was here"] in [f for c, f in m2.cmds() if c == b"L"]
    assert ["X-First-Milter", "was here"] not in [f for c, f in m1.cmds() if c == b"L"]


def test_replies_at_each_stage(instance, milter):
    def handler(cmd, f, conn):
        if cmd == b"M" and f[0] == "<rejectme@client.test>":
            return [pm.REJECT]
        if cmd == b"M" and f[0] == "<later@client.test>":
            return [pm.TEMPFAIL]
        if cmd == b"R" and f[0] == "<bob@example.test>":
            return [pm.replycode("550 5.1.1 no bob here")]
        if cmd == b"E":
            subj = conn.get("subject", "")
            if "multi" in subj:
                return [pm.PROGRESS, pm.replycode("554-5.7.1 first line\r\n554 5.7.1 second line")]
            if "discard" in subj:
                return [pm.DISCARD]
            if "quarantine" in subj:
                return [pm.quarantine("looks bad"), pm.CONTINUE]
            if "tempfail" in subj:
                return [pm.TEMPFAIL]
        if cmd == b"L" and f[0] == "Subject":
            conn["subject"] = f[1]
        if cmd == b"U" and f[0].startswith("XYZZY"):
            return [pm.replycode("555 5.5.2 no " + f[0])]
        return [pm.CONTINUE]
    m = milter(handler)
    inst = start(instance, m.name)
    # unknown commands are shown to the milter (SMFIC_UNKNOWN): its reply, or 502
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.docmd("XYZZY magic") == (555, b"5.5.2 no XYZZY magic")
        assert s.docmd("PLUGH")[0] == 502
    assert [f for c, f in m.cmds() if c == b"U"] == [["XYZZY magic"], ["PLUGH"]]
    assert smtp_data(inst, MSG, sender="rejectme@client.test") == (550, b"5.7.1 Command rejected")
    inst.wait_log("milter-reject: MAIL from localhost[127.0.0.1]: 550 5.7.1 Command rejected; "
                  "from=<rejectme@client.test>")
    assert smtp_data(inst, MSG, sender="later@client.test") == (
        451, b"4.7.1 Service unavailable - try again later")
    # per recipient: bob refused at RCPT, alice accepted and delivered
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.mail("carol@client.test")[0] == 250
        assert s.rcpt("bob@example.test") == (550, b"5.1.1 no bob here")
        assert s.rcpt("alice@example.test")[0] == 250
        s.sendmail("carol@client.test", [], b"") if False else None
        s.putcmd("data")
        assert s.getreply()[0] == 354
        s.send(MSG.replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        assert s.getreply()[0] == 250
    inst.wait_maildir("example.test/alice", 1)
    # multi-line reply code at end of message, after a progress packet
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        s.mail("carol@client.test")
        s.rcpt("alice@example.test")
        s.putcmd("data")
        s.getreply()
        s.send(MSG.replace("hello", "multi").replace("\n", "\r\n").encode() + b"\r\n.\r\n")
        code, text = s.getreply()
    assert code == 554 and text == b"5.7.1 first line\n5.7.1 second line"
    code, text = smtp_data(inst, MSG.replace("hello", "please discard"))
    assert code == 250
    inst.wait_log("milter-discard: END-OF-MESSAGE from localhost[127.0.0.1]: "
                  "milter triggers DISCARD action")
    code, text = smtp_data(inst, MSG.replace("hello", "quarantine"))
    assert code == 250
    qid = text.decode().split()[-1]
    assert wait_for(lambda: os.path.exists(os.path.join(inst.queue, "hold", qid)), 15)
    assert smtp_data(inst, MSG.replace("hello", "tempfail"))[0] == 451
    time.sleep(0.5)
    assert len(inst.maildir("example.test/alice")) == 1


def test_no_reply_flags_and_skip(instance, milter):
    seen = []

    def handler(cmd, f, conn):
        seen.append(cmd)
        if cmd == b"B":
            return [pm.SKIP_BODY]
        if cmd == b"E":
            return [pm.addheader("X-Leadspc", " kept"), pm.CONTINUE]
        return [pm.CONTINUE]
    m = milter(handler, proto=pm.NR_HDR | pm.NR_CONN | pm.NR_HELO | pm.NOEOH | pm.SKIP |
               pm.HDR_LEADSPC | pm.NODATA)
    inst = start(instance, m.name)
    big = MSG + "x" * 100 + "\n" + ("body line\n" * 20000)
    assert smtp_data(inst, big)[0] == 250
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"X-Leadspc: kept\n" in got           # HDR_LEADSPC: the space is the milter's
    letters = m.letters(1)
    assert b"N" not in letters and b"T" not in letters
    assert letters.count(b"B") == 1               # skipped after the first chunk
    headers = [f for c, f in m.cmds(1) if c == b"L"]
    assert ["Subject", " hello"] in headers       # the leading space is sent


def with_services(instance, main, *overrides):
    """One instance; besides .port, one smtpd service per overrides string
    ("-o name=value ..."), their ports in .ports."""
    inst = instance(main=main)
    inst.ports = [free_port() for _ in overrides]
    inst.master_extra = "".join("127.0.0.1:%d inet n - n - - smtpd %s\n" % (p, o)
                                for p, o in zip(inst.ports, overrides))
    return inst.start()


class Port:
    def __init__(self, port):
        self.port = port


def test_milter_hangs_gets_default_action(instance, milter):
    def handler(cmd, f, conn):
        if cmd == b"E":
            return pm.HANG
        return [pm.CONTINUE]
    m = milter(handler)
    inst = with_services(instance, {"smtpd_milters": "{ %s, content_timeout=2s }" % m.name},
                         "-o { smtpd_milters = { %s, content_timeout=1s, default_action=accept } }"
                         % m.name)
    t0 = time.time()
    code, text = smtp_data(inst, MSG)
    assert (code, text) == (451, b"4.7.1 Service unavailable - try again later")
    assert time.time() - t0 < 20
    inst.wait_log("warning: milter %s: can't read SMFIC_BODYEOB reply packet header: "
                  "Connection timed out" % m.name)
    time.sleep(0.5)
    assert inst.maildir("example.test/alice") == []
    # default_action=accept: the message goes on without that milter
    assert smtp_data(Port(inst.ports[0]), MSG)[0] == 250
    inst.wait_maildir("example.test/alice", 1)


def test_milter_closes_or_is_absent(instance, milter):
    def handler(cmd, f, conn):
        return pm.CLOSE if cmd == b"M" else [pm.CONTINUE]
    m = milter(handler)
    gone = "inet:127.0.0.1:1"
    inst = with_services(instance, {"smtpd_milters": m.name},
                         "-o smtpd_milters=%s -o milter_default_action=reject" % gone,
                         "-o smtpd_milters=%s -o milter_default_action=accept" % gone,
                         "-o smtpd_milters=%s -o milter_default_action=quarantine" % gone)
    assert smtp_data(inst, MSG)[0] == 451
    inst.wait_log("warning: milter %s: can't read SMFIC_MAIL reply packet header" % m.name)
    reject, accept, quarantine = (Port(p) for p in inst.ports)
    assert smtp_data(reject, MSG) == (550, b"5.7.1 Command rejected")
    inst.wait_log("warning: connect to Milter service inet:127.0.0.1:1: Connection refused")
    assert smtp_data(accept, MSG)[0] == 250
    inst.wait_maildir("example.test/alice", 1)
    code, text = smtp_data(quarantine, MSG)
    assert code == 250
    qid = text.decode().split()[-1]
    assert wait_for(lambda: os.path.exists(os.path.join(inst.queue, "hold", qid)), 15)
    time.sleep(0.5)
    assert len(inst.maildir("example.test/alice")) == 1


def test_slow_milter_does_not_block_other_sessions(instance, milter):
    release = threading.Event()

    def handler(cmd, f, conn):
        if cmd == b"M" and f[0] == "<slow@client.test>":
            release.wait(20)
        return [pm.CONTINUE]
    m = milter(handler)
    inst = start(instance, m.name)
    slow = {}

    def run_slow():
        slow["r"] = smtp_data(inst, MSG, sender="slow@client.test")
    t = threading.Thread(target=run_slow)
    t.start()
    wait_for(lambda: any(c == b"M" for c, _ in m.cmds()), 10)
    t0 = time.time()
    assert smtp_data(inst, MSG, sender="fast@client.test")[0] == 250
    assert time.time() - t0 < 10
    assert t.is_alive()
    release.set()
    t.join(30)
    assert slow["r"][0] == 250
    inst.wait_maildir("example.test/alice", 2)


def test_non_smtpd_milters(instance, milter):
    def handler(cmd, f, conn):
        if cmd == b"E":
            return [pm.addheader("X-Local-Milter", "yes"), pm.CONTINUE]
        return [pm.CONTINUE]
    m = milter(handler)
    inst = instance(main={"non_smtpd_milters": m.name}).start()
    r = inst.cmd("sendmail", "alice@example.test", input="Subject: local\n\nhi\n")
    assert r.returncode == 0, r.stderr
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"X-Local-Milter: yes\n" in got
    # smtpd_milters is not used for local submission, nor non_smtpd_milters for SMTP
    assert smtp_data(inst, MSG)[0] == 250
    got = inst.wait_maildir("example.test/alice", 2)
    assert sum(b"X-Local-Milter" in g for g in got) == 1


def test_check_reports_bad_milter_settings(instance):
    inst = instance(main={"smtpd_milters": "{ inet:127.0.0.1:9, bogus=1 }",
                          "milter_default_action": "explode"})
    inst.write_config()
    r = inst.cmd("check")
    out = r.stdout + r.stderr
    assert "bogus" in out and "milter_default_action" in out
    assert "is not implemented" not in out


def test_large_message_pipelined_to_a_no_reply_milter(instance, milter):
    """A message above the spill size, sent in chunks with no replies awaited
    (SMFIP_NR_BODY, NR_HDR): the output is paced, nothing is lost."""
    def handler(cmd, f, conn):
        if cmd == b"E":
            return [pm.addheader("X-Big", "seen"), pm.CONTINUE]
        return [pm.CONTINUE]
    m = milter(handler, proto=pm.NR_BODY | pm.NR_HDR)
    inst = start(instance, m.name)
    lines = "".join("%07d the quick brown fox jumps over the lazy dog\n" % i for i in range(40000))
    code, text = smtp_data(inst, MSG + lines)
    assert code == 250, text
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"X-Big: seen\n" in got
    assert got.endswith(lines.encode() + b"\n")
    body = b"".join(f for c, f in m.cmds(1) if c == b"B")
    assert body.endswith(lines.replace("\n", "\r\n").encode() + b"\r\n")
    assert max(len(f) for c, f in m.cmds(1) if c == b"B") <= 65535


def test_bdat_goes_through_the_milters(instance, milter):
    """BDAT (CHUNKING): DATA event at the first chunk, the message at LAST."""
    def handler(cmd, f, conn):
        if cmd == b"E":
            return [pm.addheader("X-Chunked", "yes"), pm.CONTINUE]
        if cmd == b"R" and f[0] == "<bob@example.test>":
            return [pm.TEMPFAIL]
        return [pm.CONTINUE]
    m = milter(handler)
    inst = start(instance, m.name)
    c = RawSMTP(inst.port, timeout=30)
    assert c.reply()[0] == 220
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>") == (451, ["4.7.1 Service unavailable - try again later"])
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    part1 = MSG.replace("\n", "\r\n")[:40]
    part2 = MSG.replace("\n", "\r\n")[40:]
    c.send("BDAT %d\r\n%s" % (len(part1), part1))
    assert c.reply()[0] == 250
    c.send("BDAT %d LAST\r\n%s" % (len(part2), part2))
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    got = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"X-Chunked: yes\n" in got and got.endswith(b"line one\nline two\n")
    assert re.match(rb"OCHMRRTL{5,}NBE", m.letters(1)), m.letters(1)
