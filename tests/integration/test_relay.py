"""Relaying with the smtp delivery agent: a yubin instance with
relayhost = [127.0.0.1]:PORT (or transport_maps next hops) delivers mail
for other.test to peers on loopback: an aiosmtpd recorder, a scripted raw
SMTP server (replies chosen per test, the wire bytes recorded), and a real
Postfix. Nothing here ever talks to a host or DNS server off this machine;
MX lookups go to a fake DNS server on 127.0.0.1 (YUBIN_DNS_SERVERS)."""
import os
import shutil
import smtplib
import socket
import socketserver
import struct
import subprocess
import threading
import time

import pytest

from conftest import IS_ROOT, free_port, wait_for, wait_port

SMTP_SERVICES = ("smtp      unix  -       -       n       -       -       smtp\n"
                 "relay     unix  -       -       n       -       -       smtp\n")


# --- peers -------------------------------------------------------------------

class ScriptedSMTP:
    """A raw SMTP server on 127.0.0.x: records every command line and the
    DATA bytes exactly as they arrived (dot-stuffed, CRLF), answers with
    the replies in self.replies (a dict command -> reply text, or a
    callable(line) -> reply text or None for the default)."""

    def __init__(self, host="127.0.0.1", ehlo=("PIPELINING", "SIZE 10240000", "8BITMIME",
                                               "DSN", "SMTPUTF8", "ENHANCEDSTATUSCODES"),
                 greeting="220 peer.test ESMTP scripted", port=0, tls=None):
        """tls: an ssl.SSLContext for STARTTLS (offered when "STARTTLS" is in ehlo), or
        "broken" to answer 220 and then talk nonsense instead of TLS."""
        self.host = host
        self.ehlo = list(ehlo)
        self.greeting = greeting
        self.tls = tls
        self.replies = {}
        self.rcpt_reply = None           # callable(address) -> reply or None
        self.sessions = []               # one dict per session
        self.lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                outer._session(self.request)

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server((host, port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def _reply(self, cmd, line, default):
        r = self.replies.get(cmd)
        if callable(r):
            r = r(line)
        return r if r is not None else default

    def _session(self, sock):
        sess = {"commands": [], "data": [], "messages": [], "tls": False}
        with self.lock:
            self.sessions.append(sess)
        rfile, wfile = sock.makefile("rb"), sock.makefile("wb")

        def send(text):
            wfile.write(text.encode() + b"\r\n")
            wfile.flush()

        send(self.greeting)
        if not self.greeting.startswith("2"):
            # after a refusal the client may still say QUIT
            line = rfile.readline()
            if line:
                sess["commands"].append(line.decode("utf-8", "replace").rstrip("\r\n"))
            return
        in_mail = False
        accepted = 0
        while True:
            raw = rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            sess["commands"].append(line)
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb == "EHLO":
                r = self._reply("EHLO", line, None)
                if r:
                    send(r)
                    continue
                lines = ["peer.test"] + self.ehlo
                for i, l in enumerate(lines):
                    send("250%s%s" % ("-" if i < len(lines) - 1 else " ", l))
            elif verb == "HELO":
                send(self._reply("HELO", line, "250 peer.test"))
            elif verb == "MAIL":
                r = self._reply("MAIL", line, "250 2.1.0 Ok")
                in_mail = r.startswith("2")
                accepted = 0
                send(r)
            elif verb == "RCPT":
                addr = line.split(":", 1)[1].split(">", 1)[0].lstrip(" <")
                r = self.rcpt_reply(addr) if self.rcpt_reply else None
                if r is None:
                    r = self._reply("RCPT", line, "250 2.1.5 Ok" if in_mail else
                                    "503 5.5.1 Error: need MAIL command")
                accepted += r.startswith("2")
                send(r)
            elif verb == "DATA":
                r = self._reply("DATA", line, "354 End data with <CR><LF>.<CR><LF>"
                                if accepted else "554 5.5.1 Error: no valid recipients")
                send(r)
                if not r.startswith("3"):
                    continue
                data = b""
                while not data.endswith(b"\r\n.\r\n") and data != b".\r\n":
                    chunk = rfile.readline(1 << 20)
                    if not chunk:
                        return
                    data += chunk
                sess["data"].append(data)
                send(self._reply("DOT", line, "250 2.0.0 Ok: queued as PEER%d"
                                 % len(sess["data"])))
                in_mail = False
                accepted = 0
            elif verb == "STARTTLS" and "STARTTLS" in self.ehlo and not sess["tls"]:
                send(self._reply("STARTTLS", line, "220 2.0.0 Ready to start TLS"))
                if self.tls == "broken":
                    wfile.write(b"this is not TLS\r\n" * 20)
                    wfile.flush()
                    return
                if not self.tls or self.replies.get("STARTTLS", "2").startswith(("4", "5")):
                    continue
                sock = self.tls.wrap_socket(sock, server_side=True)
                rfile, wfile = sock.makefile("rb"), sock.makefile("wb")
                sess["tls"] = True
                in_mail = False
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            elif verb == "RSET":
                send("250 2.0.0 Ok")
            else:
                send("502 5.5.2 Error: command not recognized")

    def all_commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s["commands"]]

    def all_data(self):
        with self.lock:
            return [d for s in self.sessions for d in s["data"]]

    def session_list(self):
        with self.lock:
            return [dict(s) for s in self.sessions]


@pytest.fixture
def peer():
    made = []

    def factory(**kw):
        p = ScriptedSMTP(**kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()


def unstuff(data):
    """DATA bytes as sent -> message (CRLF kept): drop the final dot, undo dot-stuffing."""
    assert data.endswith(b"\r\n.\r\n") or data == b".\r\n"
    body = data[:-3]
    lines = body.split(b"\r\n")
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in lines)


def relay_instance(instance, port, host="127.0.0.1", **main):
    params = {"relayhost": "[%s]:%d" % (host, port), "minimal_backoff_time": "1s",
              "maximal_backoff_time": "2s", "queue_run_delay": "1s",
              "smtp_connect_timeout": "5s"}
    params.update(main)
    return instance(main=params, master_extra=SMTP_SERVICES)


def submit(inst, sender, rcpts, msg):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail(sender, rcpts, msg)


MSG = (b"From: Carol <carol@client.test>\r\nTo: dave@other.test\r\nSubject: relay\r\n"
       b"Message-ID: <r1@client.test>\r\n\r\nHello Dave.\r\n.leading dot\r\n..two dots\r\n"
       b".\r\nlast line\r\n")


# --- aiosmtpd: the content arrives intact -----------------------------------

def test_relay_to_aiosmtpd_content_intact(instance):
    from aiosmtpd.controller import Controller

    class Recorder:
        def __init__(self):
            self.envelopes = []

        async def handle_DATA(self, server, session, envelope):
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos),
                                   list(envelope.mail_options), envelope.original_content))
            return "250 2.0.0 Ok: queued as AIO1"

    rec = Recorder()
    port = free_port()
    ctl = Controller(rec, hostname="127.0.0.1", port=port, decode_data=False)
    ctl.start()
    try:
        inst = relay_instance(instance, port).start()
        submit(inst, "carol@client.test", ["dave@other.test", "erin@other.test"], MSG)
        assert wait_for(lambda: rec.envelopes, 20), inst.log()[-3000:]
        mail_from, rcpts, opts, content = rec.envelopes[0]
        assert mail_from == "carol@client.test"
        assert sorted(rcpts) == ["dave@other.test", "erin@other.test"]
        assert any(o.startswith("SIZE=") for o in opts)
        # what aiosmtpd got back after undoing the dot-stuffing is what we sent
        # (smtpd added Received: and, as Postfix's cleanup does, a missing Date:)
        head, body = MSG.split(b"\r\n\r\n", 1)
        assert content.endswith(b"\r\n\r\n" + body), content
        for h in head.split(b"\r\n"):
            assert b"\r\n" + h + b"\r\n" in content, h
        assert content.startswith(b"Received: from client.test")
        assert b"\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n" in content
        assert b"\n" not in content.replace(b"\r\n", b"")   # no bare LF
        relay = "relay=127.0.0.1[127.0.0.1]:%d" % port
        inst.wait_log("to=<dave@other.test>, %s" % relay)
        inst.wait_log("to=<erin@other.test>, %s" % relay)
        log = inst.log()
        assert "dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as AIO1)" in log
        inst.wait_log(": removed")
    finally:
        ctl.stop()


# --- scripted peer: envelope details and the wire bytes ----------------------

def test_wire_format_envelope_and_dsn_parameters(instance, peer):
    p = peer()
    inst = relay_instance(instance, p.port).start()
    # DSN parameters from the client are passed on
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        body = b"Subject: dsn\r\n\r\n.x\r\nline\r\n"
        s.sendmail("carol@client.test", ["dave@other.test"], body,
                   mail_options=["RET=HDRS", "ENVID=env+2B1"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;old+2Bdave@other.test"])
    assert wait_for(lambda: "QUIT" in p.all_commands(), 20), inst.log()[-3000:]
    # The first session carries the message (a "relayed" notice for
    # NOTIFY=SUCCESS may follow in a second one when the peer has no DSN).
    cmds = p.session_list()[0]["commands"]
    assert cmds[0] == "EHLO mx.example.test"
    mail = [c for c in cmds if c.startswith("MAIL FROM:")][0]
    assert mail.startswith("MAIL FROM:<carol@client.test> SIZE=")
    assert " RET=HDRS" in mail and " ENVID=env+2B1" in mail
    rcpt = [c for c in cmds if c.startswith("RCPT TO:")][0]
    assert rcpt == "RCPT TO:<dave@other.test> ORCPT=rfc822;old+2Bdave@other.test NOTIFY=SUCCESS,FAILURE"
    assert mail.endswith(" ENVID=env+2B1 RET=HDRS")          # Postfix's order
    assert cmds[-1] == "QUIT"
    data = p.all_data()[0]
    assert data.endswith(b"\r\n\r\n..x\r\nline\r\n.\r\n")     # dot-stuffed on the wire
    assert unstuff(data).endswith(b"\r\n\r\n.x\r\nline\r\n")
    assert b"\r\nSubject: dsn\r\n" in unstuff(data)
    size = int(mail.split("SIZE=")[1].split()[0])
    assert size == len(unstuff(data)) + 0 or abs(size - len(unstuff(data))) <= 2
    inst.wait_log("status=sent (250 2.0.0 Ok: queued as PEER1)")


def test_bare_cr_in_content_cannot_smuggle_through_the_next_hop(instance, peer):
    """F5: smtpd keeps a bare CR as content (correct: "\\r.\\r" is not the end
    of DATA inbound). The smtp client sends it as a line end (CR LF), and a
    dot after it is stuffed: a next hop that takes a bare CR (or LF) for a
    line end must never see a line "." before the real end of data, or
    what follows would be read there as commands (SEC Consult's smuggling)."""
    from conftest import RawSMTP
    p = peer()
    inst = relay_instance(instance, p.port).start()
    r = RawSMTP(inst.port)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO client.test")[0] == 250
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert r.cmd("RCPT TO:<dave@other.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: smuggle\r\n\r\nfirst\r.\r\n"
           b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<victim@other.test>\r\nDATA\r\n\r\n"
           b"smuggled\r.\rQUIT\r\na\rb\r\n.\r\n")
    code, text = r.reply()
    assert code == 250, text
    r.cmd("QUIT")
    assert wait_for(lambda: p.all_data(), 20), inst.log()[-3000:]
    data = p.all_data()[0]
    assert len(p.all_data()) == 1
    # no bare CR and no bare LF on the wire
    assert b"\r" not in data.replace(b"\r\n", b"") and b"\n" not in data.replace(b"\r\n", b"")
    # split as the most lenient next hop would (CR LF, CR or LF): "." only at the end
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    assert lines[-2:] == [b".", b""], lines
    assert b"." not in lines[:-2], lines
    assert data.endswith(b"\r\n\r\nfirst\r\n..\r\nMAIL FROM:<evil@client.test>\r\n"
                         b"RCPT TO:<victim@other.test>\r\nDATA\r\n\r\nsmuggled\r\n..\r\n"
                         b"QUIT\r\na\r\nb\r\n.\r\n"), data
    # nothing reached the peer as a command, and SIZE= counted the CR LFs
    cmds = p.all_commands()
    assert not [c for c in cmds if "evil" in c or "victim" in c], cmds
    mail = [c for c in cmds if c.startswith("MAIL FROM:")][0]
    assert int(mail.split("SIZE=")[1].split()[0]) == len(unstuff(data))
    inst.wait_log("status=sent (250 2.0.0 Ok: queued as PEER1)")


def test_orcpt_defaults_to_original_recipient_and_no_dsn_without_extension(instance, peer):
    p = peer()
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: a\r\n\r\nx\r\n")
    assert wait_for(lambda: p.all_data(), 20), inst.log()[-3000:]
    rcpt = [c for c in p.all_commands() if c.startswith("RCPT TO:")][0]
    assert rcpt == "RCPT TO:<dave@other.test> ORCPT=rfc822;dave@other.test"
    # a server without DSN gets no DSN parameters, one without PIPELINING one command at a time
    q = peer(ehlo=("SIZE 0", "8BITMIME"))
    inst2 = relay_instance(instance, q.port).start()
    with smtplib.SMTP("127.0.0.1", inst2.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["dave@other.test"], b"Subject: b\r\n\r\ny\r\n",
                   mail_options=["RET=FULL"], rcpt_options=["NOTIFY=NEVER"])
    assert wait_for(lambda: q.all_data(), 20), inst2.log()[-3000:]
    cmds = q.all_commands()
    mail = [c for c in cmds if c.startswith("MAIL FROM:")][0]
    assert "RET=" not in mail and "ENVID" not in mail
    assert [c for c in cmds if c.startswith("RCPT TO:")] == ["RCPT TO:<dave@other.test>"]


def test_notify_success_relayed_notice_only_without_dsn_at_the_next_hop(instance, peer):
    """RFC 3461 4.2: NOTIFY=SUCCESS to a server that announces DSN travels
    with the message and this relay sends no notice; to a server without
    DSN the sender gets an "Action: relayed" notice from here."""
    p = peer()
    inst = relay_instance(instance, p.port).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["dave@other.test"], b"Subject: a\r\n\r\nx\r\n",
                   rcpt_options=["NOTIFY=SUCCESS"])
    inst.wait_log("status=sent (250 2.0.0 Ok: queued as PEER1)")
    inst.wait_log(": removed")
    time.sleep(1)
    assert len(p.session_list()) == 1, p.all_commands()
    assert "sender delivery status notification" not in inst.log()

    q = peer(ehlo=("SIZE 0", "8BITMIME", "PIPELINING"))
    inst2 = relay_instance(instance, q.port).start()
    with smtplib.SMTP("127.0.0.1", inst2.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["dave@other.test"], b"Subject: b\r\n\r\ny\r\n",
                   rcpt_options=["NOTIFY=SUCCESS"])
    # the notice to carol@client.test goes out through the same relayhost
    assert wait_for(lambda: len(q.all_data()) == 2, 20), inst2.log()[-3000:]
    notice = q.all_data()[1]
    assert b"Action: relayed" in notice and b"Final-Recipient: rfc822; dave@other.test" in notice
    assert [c for c in q.session_list()[1]["commands"] if c.startswith("MAIL FROM:")][0] \
        .startswith("MAIL FROM:<>")


def test_large_message_streams_intact(instance, peer):
    """8 MB with long lines, dot lines and 8-bit bytes: streamed from the queue file in
    chunks, byte-exact after undoing the dot-stuffing."""
    import random
    rnd = random.Random(7)
    lines = []
    size = 0
    while size < 8 * 1024 * 1024:
        kind = rnd.randrange(6)
        if kind == 0:
            line = b"." * rnd.randrange(1, 4) + b"x" * rnd.randrange(0, 50)
        elif kind == 1:
            line = bytes(rnd.randrange(0x80, 0x100) for _ in range(rnd.randrange(1, 80)))
        else:
            line = b"y" * rnd.randrange(0, 990)
        lines.append(line)
        size += len(line) + 2
    body = b"\r\n".join(lines) + b"\r\n"
    msg = b"Subject: big\r\n\r\n" + body
    p = peer()
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], msg)
    assert wait_for(lambda: p.all_data(), 60), inst.log()[-3000:]
    got = unstuff(p.all_data()[0])
    assert got.endswith(b"\r\n\r\n" + body)
    mail = [c for c in p.all_commands() if c.startswith("MAIL FROM:")][0]
    assert " BODY=8BITMIME" in mail
    assert int(mail.split("SIZE=")[1].split()[0]) == len(got)


def test_helo_fallback_when_ehlo_is_refused(instance, peer):
    p = peer()
    p.replies["EHLO"] = "502 5.5.2 Error: command not recognized"
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: h\r\n\r\nx\r\n")
    assert wait_for(lambda: p.all_data(), 20), inst.log()[-3000:]
    cmds = p.all_commands()
    assert cmds[:3] == ["EHLO mx.example.test", "HELO mx.example.test",
                        "MAIL FROM:<carol@client.test>"]


# --- failures ---------------------------------------------------------------

def write_sender_mailbox(inst):
    """carol@example.test is a virtual mailbox of the yubin instance: bounces land there."""
    inst.params["virtual_mailbox_maps"] = (
        "inline:{ {alice@example.test=example.test/alice/}, "
        "{carol@example.test=example.test/carol/} }")


def test_550_rcpt_bounces_to_local_sender(instance, peer):
    p = peer()
    p.rcpt_reply = lambda a: ("550 5.1.1 <%s>: Recipient address rejected: User unknown" % a
                              if a.startswith("nobody") else None)
    inst = relay_instance(instance, p.port)
    write_sender_mailbox(inst)
    inst.start()
    submit(inst, "carol@example.test", ["dave@other.test", "nobody@other.test"],
           b"Subject: partly\r\n\r\nx\r\n")
    inst.wait_log("to=<nobody@other.test>, relay=127.0.0.1[127.0.0.1]:%d" % p.port)
    log = inst.log()
    assert ("dsn=5.1.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550 5.1.1 "
            "<nobody@other.test>: Recipient address rejected: User unknown "
            "(in reply to RCPT TO command))") in log
    inst.wait_log("to=<dave@other.test>, relay=127.0.0.1[127.0.0.1]:%d" % p.port)
    assert len(p.all_data()) == 1
    # the non-delivery notice reaches carol's mailbox
    msgs = inst.wait_maildir("example.test/carol", 1, timeout=20)
    assert b"nobody@other.test" in msgs[0]
    assert b"Recipient address rejected" in msgs[0]


def test_451_defers_then_flush_delivers(instance, peer):
    p = peer()
    p.replies["RCPT"] = "451 4.3.0 Try again later"
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: later\r\n\r\nx\r\n")
    inst.wait_log("to=<dave@other.test>, relay=127.0.0.1[127.0.0.1]:%d" % p.port)
    assert ("dsn=4.3.0, status=deferred (host 127.0.0.1[127.0.0.1] said: 451 4.3.0 "
            "Try again later (in reply to RCPT TO command))") in inst.log()
    assert p.all_data() == []
    out = inst.cmd("queue", "list", check=True).stdout
    assert "dave@other.test" in out and "Try again later" in out
    p.replies.pop("RCPT")
    inst.cmd("queue", "flush", check=True)
    assert wait_for(lambda: p.all_data(), 30), inst.log()[-3000:]
    inst.wait_log("status=sent (250 2.0.0 Ok: queued as PEER1)")
    assert wait_for(lambda: "dave@other.test" not in inst.cmd("queue", "list").stdout, 20)


def test_dead_peer_connection_refused_defers(instance):
    port = free_port()                   # nothing listens there
    inst = relay_instance(instance, port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: dead\r\n\r\nx\r\n")
    inst.wait_log("to=<dave@other.test>, relay=none")
    assert ("dsn=4.4.1, status=deferred (connect to 127.0.0.1[127.0.0.1]:%d: "
            "Connection refused)" % port) in inst.log()
    out = inst.cmd("queue", "list", check=True).stdout
    assert "Connection refused" in out


def test_greeting_refusal_and_mail_from_rejection(instance, peer):
    p = peer(greeting="554 5.7.1 go away")
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: g\r\n\r\nx\r\n")
    inst.wait_log("to=<dave@other.test>")
    # smtp_skip_5xx_greeting (yes): not a bounce, another server may take it later
    assert ("dsn=4.7.1, status=deferred (host 127.0.0.1[127.0.0.1] refused to talk to me: "
            "554 5.7.1 go away)") in inst.log()

    q = peer()
    q.replies["MAIL"] = "553 5.7.1 <carol@client.test>: Sender address rejected: not here"
    inst2 = relay_instance(instance, q.port).start()
    submit(inst2, "carol@client.test", ["dave@other.test"], b"Subject: m\r\n\r\nx\r\n")
    inst2.wait_log("to=<dave@other.test>")
    assert ("dsn=5.7.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 553 5.7.1 "
            "<carol@client.test>: Sender address rejected: not here "
            "(in reply to MAIL FROM command))") in inst2.log()


def test_end_of_data_rejection_multiline(instance, peer):
    p = peer()
    p.replies["DOT"] = "550-5.7.1 first line\r\n550 5.7.1 second line"
    inst = relay_instance(instance, p.port).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: d\r\n\r\nx\r\n")
    inst.wait_log("to=<dave@other.test>")
    assert ("dsn=5.7.1, status=bounced (host 127.0.0.1[127.0.0.1] said: 550-5.7.1 first line "
            "550 5.7.1 second line (in reply to end of DATA command))") in inst.log()


def test_transport_maps_next_hop_and_second_server(instance, peer):
    """transport_maps "smtp:[127.0.0.1]:P1, [127.0.0.2]:P2" (a list, Postfix 3.5): the
    first server defers, the second one takes the mail."""
    p1 = peer()
    p1.replies["RCPT"] = "450 4.2.0 busy"
    p2 = peer(host="127.0.0.2")
    inst = instance(main={"transport_maps": "inline:{ {other.test=smtp:[127.0.0.1]:%d, "
                                            "[127.0.0.2]:%d} }" % (p1.port, p2.port)},
                    master_extra=SMTP_SERVICES)
    inst.start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: t\r\n\r\nx\r\n")
    assert wait_for(lambda: p2.all_data(), 20), inst.log()[-3000:]
    inst.wait_log("to=<dave@other.test>, relay=127.0.0.2[127.0.0.2]:%d" % p2.port)
    assert p1.all_data() == []
    # the first server's word is logged on its own line, as Postfix does
    assert (": host 127.0.0.1[127.0.0.1] said: 450 4.2.0 busy (in reply to RCPT TO command)"
            in inst.log())


def test_smtputf8_required_but_not_offered_bounces(instance, peer):
    p = peer(ehlo=("PIPELINING", "8BITMIME"))
    inst = relay_instance(instance, p.port).start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["dävid@other.test"],
                   "Subject: ü\r\n\r\nx\r\n".encode(), mail_options=["SMTPUTF8"])
    inst.wait_log("to=<dävid@other.test>")
    assert ("dsn=5.6.7, status=bounced (SMTPUTF8 is required, but was not offered by host "
            "127.0.0.1[127.0.0.1])") in inst.log()
    assert p.all_data() == []
    # as in Postfix: an ASCII envelope and header need no SMTPUTF8, a UTF-8 body is fine
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.sendmail("carol@client.test", ["dave@other.test"],
                   "Subject: x\r\n\r\nbüdy\r\n".encode(), mail_options=["SMTPUTF8",
                                                                         "BODY=8BITMIME"])
    # (the bounce of the first message goes to the peer too: carol is not local)
    assert wait_for(lambda: [d for d in p.all_data() if "büdy\r\n".encode() in d], 20), \
        inst.log()[-3000:]
    mails = [c for c in p.all_commands() if c.startswith("MAIL FROM:<carol@client.test>")]
    assert mails[0].endswith(" BODY=8BITMIME") and "SMTPUTF8" not in mails[0]


# --- MX lookups through a fake DNS server ------------------------------------

def dns_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


class FakeDNS:
    """UDP DNS on 127.0.0.1 answering from a dict {(name, type): [rdata...]};
    a name absent for every type is NXDOMAIN."""
    TYPES = {"A": 1, "MX": 15, "AAAA": 28}

    def __init__(self, zone):
        self.zone = {(n.lower(), self.TYPES[t]): v for (n, t), v in zone.items()}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                q, addr = self.sock.recvfrom(1500)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.sock.sendto(self.answer(q), addr)
            except Exception:
                pass

    def answer(self, q):
        off, labels = 12, []
        while q[off]:
            labels.append(q[off + 1:off + 1 + q[off]].decode())
            off += 1 + q[off]
        off += 1
        qtype = struct.unpack(">H", q[off:off + 2])[0]
        question = q[12:off + 4]
        name = ".".join(labels).lower()
        exists = any(n == name for n, _ in self.zone)
        rrs = self.zone.get((name, qtype), [])
        rcode = 0 if exists else 3
        ans = b""
        for rd in rrs:
            if qtype == 1:
                data = socket.inet_pton(socket.AF_INET, rd)
            elif qtype == 28:
                data = socket.inet_pton(socket.AF_INET6, rd)
            else:
                pref, host = rd.split(" ", 1)
                data = struct.pack(">H", int(pref)) + dns_name(host)
            ans += b"\xc0\x0c" + struct.pack(">HHIH", qtype, 1, 60, len(data)) + data
        header = q[:2] + struct.pack(">BBHHHH", 0x84 | (q[2] & 1), 0x80 | rcode, 1,
                                     len(rrs), 0, 0)
        return header + question + ans

    def close(self):
        self.stop = True
        self.sock.close()


def test_mx_lookup_preference_and_loop_detection(instance, peer):
    good = peer(host="127.0.0.2")
    dns = FakeDNS({("other.test", "MX"): ["10 mx1.other.test", "20 mx2.other.test"],
                   ("num.test", "MX"): ["10 127.0.0.2"],
                   ("noaddr.test", "MX"): ["10 nothing.noaddr.test"],
                   ("nothing.noaddr.test", "MX"): ["10 x.test"],
                   ("mx1.other.test", "A"): ["127.0.0.3"],      # nobody listens: refused
                   ("mx2.other.test", "A"): ["127.0.0.2"],
                   ("loop.test", "MX"): ["10 me.loop.test"],
                   ("me.loop.test", "A"): ["127.0.0.1"],
                   ("null.test", "MX"): ["0 ."]})
    os.environ["YUBIN_DNS_SERVERS"] = "127.0.0.1:%d" % dns.port
    try:
        # loop detection applies to the SMTP port only (as in Postfix): loop.test goes to port 25
        inst = instance(main={"smtp_tcp_port": str(good.port), "minimal_backoff_time": "1s",
                              "smtp_connect_timeout": "5s",
                              "transport_maps": "inline:{ {loop.test=smtp:loop.test:25} }"},
                        master_extra=SMTP_SERVICES).start()
        submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: mx\r\n\r\nx\r\n")
        assert wait_for(lambda: good.all_data(), 20), inst.log()[-3000:]
        inst.wait_log("to=<dave@other.test>, relay=mx2.other.test[127.0.0.2]:%d" % good.port)

        submit(inst, "carol@client.test", ["x@loop.test"], b"Subject: loop\r\n\r\nx\r\n")
        inst.wait_log("to=<x@loop.test>")
        assert ("dsn=5.4.6, status=bounced (mail for loop.test loops back to myself)"
                in inst.log())

        submit(inst, "carol@client.test", ["x@null.test"], b"Subject: null\r\n\r\nx\r\n")
        inst.wait_log("to=<x@null.test>")
        assert ("dsn=5.1.0, status=bounced (Domain null.test does not accept mail (nullMX))"
                in inst.log())

        submit(inst, "carol@client.test", ["x@num.test"], b"Subject: num\r\n\r\nx\r\n")
        inst.wait_log("to=<x@num.test>, relay=127.0.0.2[127.0.0.2]:%d" % good.port)
        assert ("warning: numeric domain name in resource data of MX record for num.test: "
                "127.0.0.2") in inst.log()

        submit(inst, "carol@client.test", ["x@noaddr.test"], b"Subject: na\r\n\r\nx\r\n")
        inst.wait_log("to=<x@noaddr.test>")
        assert "warning: no MX host for noaddr.test has a valid address record" in inst.log()
        assert ("dsn=5.4.4, status=bounced (Host or domain name not found. Name service error "
                "for name=nothing.noaddr.test type=A: Host found but no data record of "
                "requested type)") in inst.log()

        submit(inst, "carol@client.test", ["x@nowhere.test"], b"Subject: nx\r\n\r\nx\r\n")
        inst.wait_log("to=<x@nowhere.test>")
        assert ("dsn=5.4.4, status=bounced (Host or domain name not found. Name service error "
                "for name=nowhere.test type=A: Host not found)") in inst.log()
    finally:
        del os.environ["YUBIN_DNS_SERVERS"]
        dns.close()


# --- a real Postfix as the peer ----------------------------------------------

def test_relay_to_real_postfix(instance, postfix_peer):
    peer = postfix_peer().start()
    inst = relay_instance(instance, peer.port).start()
    body = (b"Subject: to postfix\r\nFrom: carol@client.test\r\n\r\n.dot line\r\n"
            + b"x" * 3000 + b"\r\n" + "ünïcode body\r\n".encode())
    submit(inst, "carol@client.test", ["dave@peer.test"], body)
    inst.wait_log("to=<dave@peer.test>, relay=127.0.0.1[127.0.0.1]:%d" % peer.port, timeout=30)
    assert "status=sent (250 2.0.0 Ok: queued as " in inst.log()
    assert wait_for(lambda: peer.maildir(), 30), peer.log()[-3000:]
    got = peer.maildir()[0]
    assert b"\n.dot line\n" in got
    # broken at smtp_line_length_limit (998) with CR LF SPACE, the space counting
    assert (b"\n" + b"x" * 998 + b"\n " + b"x" * 997 + b"\n " + b"x" * 997 + b"\n "
            + b"x" * 8 + b"\n") in got
    assert "ünïcode body\n".encode() in got
    assert b"by mx.example.test (yubin)" in got       # our Received: header survived
    assert "breaking line > 998 bytes with <CR><LF>SPACE" in inst.log()
    peer.wait_log("from=<carol@client.test>")


# --- STARTTLS -------------------------------------------------------------------

@pytest.fixture
def certs(tmp_path):
    key, cert = str(tmp_path / "key.pem"), str(tmp_path / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "30", "-subj", "/CN=peer.test"],
                   check=True, capture_output=True)
    os.chmod(key, 0o644)          # the peers read it after dropping privileges
    return cert, key


def test_starttls_may_to_real_postfix(instance, postfix_peer, certs):
    cert, key = certs
    peer = postfix_peer(main={"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
                              "smtpd_tls_security_level": "may",
                              "smtpd_tls_received_header": "yes",
                              "smtpd_tls_loglevel": "1"}).start()
    inst = relay_instance(instance, peer.port, smtp_tls_security_level="may").start()
    submit(inst, "carol@client.test", ["dave@peer.test"], b"Subject: tls\r\n\r\nsecret\r\n")
    inst.wait_log("to=<dave@peer.test>, relay=127.0.0.1[127.0.0.1]:%d" % peer.port, timeout=30)
    assert "status=sent (250 2.0.0 Ok: queued as " in inst.log()
    peer.wait_log("TLS connection established from localhost[127.0.0.1]")
    assert wait_for(lambda: peer.maildir(), 30), peer.log()[-3000:]
    assert b"(using TLSv1.3 with cipher " in peer.maildir()[0]


def test_starttls_encrypt_to_yubin_peer(instance, certs):
    """yubin to yubin: the peer's smtpd offers STARTTLS, the client requires it."""
    cert, key = certs
    peer = instance(main={"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
                          "smtpd_tls_security_level": "may",
                          "smtpd_tls_received_header": "yes",
                          "mydestination": "$myhostname, localhost, peer.test",
                          "virtual_mailbox_domains": "other.test",
                          "virtual_mailbox_maps":
                              "inline:{ {dave@other.test=other.test/dave/} }"}).start()
    inst = relay_instance(instance, peer.port, smtp_tls_security_level="encrypt").start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: tls\r\n\r\nx\r\n")
    msgs = peer.wait_maildir("other.test/dave", 1, timeout=30)
    assert b"(using TLSv1.3 with cipher " in msgs[0]
    inst.wait_log("to=<dave@other.test>, relay=127.0.0.1[127.0.0.1]:%d" % peer.port)
    assert "status=sent (250 2.0.0 Ok: queued as " in inst.log()


@pytest.mark.skipif(not IS_ROOT, reason="the point is a key only root can read")
def test_client_certificate_with_a_root_only_key(instance, certs, tmp_path):
    """smtp_tls_cert_file/smtp_tls_key_file: the key may be readable by root
    only (as Postfix allows); the smtp agent loads it before it gives up root
    and presents the certificate to a server that asks for one."""
    cert, key = certs
    ckey, ccert = str(tmp_path / "client.key"), str(tmp_path / "client.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ckey,
                    "-out", ccert, "-days", "30", "-subj", "/CN=relay.client.test"],
                   check=True, capture_output=True)
    os.chmod(ckey, 0o600)
    peer = instance(main={"smtpd_tls_cert_file": cert, "smtpd_tls_key_file": key,
                          "smtpd_tls_security_level": "may", "smtpd_tls_ask_ccert": "yes",
                          "smtpd_tls_loglevel": "1",
                          "virtual_mailbox_domains": "other.test",
                          "virtual_mailbox_maps":
                              "inline:{ {dave@other.test=other.test/dave/} }"}).start()
    inst = relay_instance(instance, peer.port, smtp_tls_security_level="encrypt",
                          smtp_tls_cert_file=ccert, smtp_tls_key_file=ckey).start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: ccert\r\n\r\nx\r\n")
    peer.wait_maildir("other.test/dave", 1, timeout=30)
    peer.wait_log("Untrusted TLS connection established from localhost[127.0.0.1]")
    assert "TLS client initialization failed" not in inst.log()


def server_ctx(certs):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*certs)
    return ctx


def test_starttls_may_falls_back_to_plaintext(instance, peer):
    """Level may, as Postfix: a broken TLS handshake defers the first attempt; once the
    mail has waited minimal_backoff_time, the retry falls back to plaintext."""
    p = peer(ehlo=("PIPELINING", "STARTTLS", "8BITMIME"), tls="broken")
    inst = relay_instance(instance, p.port, smtp_tls_security_level="may").start()
    submit(inst, "carol@client.test", ["dave@other.test"], b"Subject: f\r\n\r\nx\r\n")
    inst.wait_log("dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)")
    assert wait_for(lambda: p.all_data(), 30), inst.log()[-3000:]
    sessions = p.session_list()
    assert "STARTTLS" in sessions[0]["commands"] and not sessions[0]["data"]
    plain = [s for s in sessions if s["data"]][0]
    assert "STARTTLS" not in plain["commands"]
    assert sessions.index(plain) >= 2           # after a second TLS try that failed
    inst.wait_log("status=sent (250 2.0.0 Ok: queued as PEER1)")


def test_starttls_encrypt_failures_defer(instance, peer, certs):
    """Level encrypt never falls back: a broken handshake, a refused STARTTLS, no
    STARTTLS at all; level secure with an untrusted certificate."""
    broken = peer(ehlo=("PIPELINING", "STARTTLS"), tls="broken")
    refusing = peer(ehlo=("PIPELINING", "STARTTLS"), tls=server_ctx(certs))
    refusing.replies["STARTTLS"] = "454 4.7.0 TLS not available due to local problem"
    plain = peer(ehlo=("PIPELINING",))
    good = peer(ehlo=("PIPELINING", "STARTTLS"), tls=server_ctx(certs))
    tm = ("inline:{ {a.test=smtp:[127.0.0.1]:%d}, {b.test=smtp:[127.0.0.1]:%d}, "
          "{c.test=smtp:[127.0.0.1]:%d}, {d.test=secure:[127.0.0.1]:%d}, "
          "{e.test=smtp:[127.0.0.1]:%d} }" % (broken.port, refusing.port, plain.port,
                                              good.port, good.port))
    inst = instance(main={"transport_maps": tm, "smtp_tls_security_level": "encrypt"},
                    master_extra=SMTP_SERVICES +
                    "secure unix - - n - - smtp -o smtp_tls_security_level=secure\n").start()
    for d in ("a", "b", "c", "d", "e"):
        submit(inst, "carol@client.test", ["x@%s.test" % d], b"Subject: e\r\n\r\nx\r\n")
    for d in ("a", "b", "c", "d", "e"):
        inst.wait_log("to=<x@%s.test>" % d, timeout=30)
    log = inst.log()
    assert "to=<x@a.test>, relay=127.0.0.1[127.0.0.1]:%d" % broken.port in log
    assert "dsn=4.7.5, status=deferred (Cannot start TLS: handshake failure)" in log
    assert ("dsn=4.7.0, status=deferred (TLS is required, but host 127.0.0.1[127.0.0.1] "
            "refused to start TLS: 454 4.7.0 TLS not available due to local problem)") in log
    assert ("dsn=4.7.4, status=deferred (TLS is required, but was not offered by host "
            "127.0.0.1[127.0.0.1])") in log
    assert "dsn=4.7.5, status=deferred (Server certificate not verified)" in log
    # the good one, at level encrypt (no certificate checks), delivers over TLS
    assert wait_for(lambda: good.all_data(), 20)
    assert [s for s in good.session_list() if s["data"]][0]["tls"]
    assert broken.all_data() == [] and refusing.all_data() == [] and plain.all_data() == []
