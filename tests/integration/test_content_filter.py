"""content_filter and reinjection, the amavis layout of the guides: mail
accepted on port 25 goes once to a filter over SMTP (`content_filter =
smtp-amavis:[127.0.0.1]:PORT`), the filter reinjects it on a second smtpd
with `-o content_filter=` and `receive_override_options`, where it is
delivered and never filtered again. The filter here is an SMTP proxy
written for the test: it adds a header and reinjects."""
import smtplib
import socket
import socketserver
import threading

from conftest import free_port, wait_for


class FilterServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, port, reinject_port):
        self.reinject_port = reinject_port
        self.seen = []                 # (sender, [rcpts], message bytes) as received
        self.xforward = []             # XFORWARD lines received
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), FilterHandler)


class FilterHandler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self):
        self.reply("220 filter.test ESMTP test filter")
        sender, rcpts, xf = None, [], None
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-filter.test\r\n250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT\r\n"
                           "250 8BITMIME" if verb == "EHLO" else "250 filter.test")
            elif verb == "XFORWARD":
                xf = cmd[len("XFORWARD "):]
                with self.server.lock:
                    self.server.xforward.append(xf)
                self.reply("250 2.0.0 Ok")
            elif verb == "MAIL":
                sender, rcpts = cmd[cmd.index(":") + 1:].strip().split(" ")[0].strip("<>"), []
                self.reply("250 2.1.0 Ok")
            elif verb == "RCPT":
                rcpts.append(cmd[cmd.index(":") + 1:].strip().split(" ")[0].strip("<>"))
                self.reply("250 2.1.5 Ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                lines = []
                while True:
                    l = self.rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    lines.append(l[1:] if l.startswith(b"..") else l)
                body = b"".join(lines)
                with self.server.lock:
                    self.server.seen.append((sender, list(rcpts), body))
                self.reply(self.reinject(sender, rcpts, b"X-Filtered: by test filter\r\n" + body, xf))
                xf = None
            elif verb == "RSET":
                sender, rcpts = None, []
                self.reply("250 2.0.0 Ok")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            else:
                self.reply("250 2.0.0 Ok")

    def reinject(self, sender, rcpts, msg, xf):
        try:
            with smtplib.SMTP("127.0.0.1", self.server.reinject_port, timeout=20) as s:
                s.ehlo("filter.test")
                if xf and s.has_extn("xforward"):
                    code, text = s.docmd("XFORWARD", xf)
                    if code != 250:
                        return "451 4.3.0 XFORWARD refused: %s" % text.decode()
                s.sendmail(sender, rcpts, msg)
            return "250 2.0.0 Ok: reinjected"
        except (OSError, smtplib.SMTPException) as e:
            return "451 4.3.0 reinjection failed: %s" % str(e).replace("\n", " ")[:200]


def start_filter(port, reinject_port):
    srv = FilterServer(port, reinject_port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def amavis_instance(instance, tmp_path, filter_port, reinject_port, **main):
    checks = tmp_path / "header_checks"
    checks.write_text("/^X-Filtered: by test filter/ REJECT filtered twice\n")
    params = {
        "content_filter": "smtp-amavis:[127.0.0.1]:%d" % filter_port,
        "virtual_alias_maps": "inline:{ {team@example.test=alice@example.test,bob@example.test} }",
        # the reinjection service must not look at content again: a header
        # check that would reject filtered mail shows it does not
        "header_checks": "pcre:%s" % checks,
    }
    params.update(main)
    extra = (
        "smtp-amavis unix - - n - 2 smtp -o smtp_send_xforward_command=yes\n"
        "127.0.0.1:%d inet n - n - - smtpd -o content_filter= "
        "-o smtpd_authorized_xforward_hosts=127.0.0.0/8 "
        "-o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,"
        "no_milters,no_address_mappings "
        "-o smtpd_recipient_restrictions=permit_mynetworks,reject -o mynetworks=127.0.0.0/8\n"
        % reinject_port)
    return instance(main=params, master_extra=extra).start()


def send(inst, rcpts, subject):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("origin.example")
        s.sendmail("carol@client.test", rcpts,
                   "From: carol@client.test\r\nSubject: %s\r\n\r\nhello\r\n" % subject)


def test_filtered_once_and_delivered(instance, tmp_path):
    filter_port, reinject_port = free_port(), free_port()
    flt = start_filter(filter_port, reinject_port)
    try:
        inst = amavis_instance(instance, tmp_path, filter_port, reinject_port)
        send(inst, ["alice@example.test"], "one")
        got = inst.wait_maildir("example.test/alice", 1)
        assert got[0].count(b"X-Filtered: by test filter") == 1
        assert b"Subject: one" in got[0]
        # XFORWARD both ways: the filter was told the original client, and the
        # reinjection's Received: names it (HELO origin.example), not the filter
        assert flt.xforward and "HELO=origin.example" in flt.xforward[0], flt.xforward
        assert "ADDR=127.0.0.1" in flt.xforward[0] and "PROTO=ESMTP" in flt.xforward[0]
        received = [l for l in got[0].split(b"\n") if l.startswith(b"Received: from")]
        assert received[0].startswith(b"Received: from origin.example (localhost [127.0.0.1])"), \
            received
        assert not any(b"filter.test" in l for l in received), received
        # the filter saw it exactly once: the reinjected copy went straight to delivery
        assert wait_for(lambda: len(flt.seen) == 1, 5)
        assert flt.seen[0][:2] == ("carol@client.test", ["alice@example.test"])
        inst.wait_log("relay=127.0.0.1[127.0.0.1]:%d" % filter_port)
        # virtual aliases are applied before the filter (cleanup's job in Postfix),
        # and not again after it (no_address_mappings)
        send(inst, ["team@example.test"], "two")
        assert wait_for(lambda: len(flt.seen) == 2, 15)
        assert sorted(flt.seen[1][1]) == ["alice@example.test", "bob@example.test"]
        inst.wait_maildir("example.test/bob", 1)
        assert len(inst.wait_maildir("example.test/alice", 2)) == 2
        assert len(flt.seen) == 2
    finally:
        flt.shutdown()
        flt.server_close()


def test_filter_down_defers_then_delivers(instance, tmp_path):
    filter_port, reinject_port = free_port(), free_port()
    inst = amavis_instance(instance, tmp_path, filter_port, reinject_port)
    send(inst, ["alice@example.test"], "while the filter is down")
    inst.wait_log("status=deferred")
    assert inst.maildir("example.test/alice") == []
    flt = start_filter(filter_port, reinject_port)
    try:
        inst.cmd("queue", "flush", check=True)
        got = inst.wait_maildir("example.test/alice", 1, timeout=30)
        assert b"X-Filtered: by test filter" in got[0]
    finally:
        flt.shutdown()
        flt.server_close()


def test_check_knows_the_parameters(instance, tmp_path):
    port = free_port()
    inst = amavis_instance(instance, tmp_path, port, free_port())
    r = inst.cmd("check")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "content_filter" not in out and "receive_override_options" not in out
    # an unknown keyword is named
    inst2 = amavis_instance(instance, tmp_path, port, free_port(), receive_override_options="no_such_thing")
    with socket.create_connection(("127.0.0.1", inst2.port), timeout=10) as c:
        c.recv(512)
    inst2.wait_log('receive_override_options: unknown keyword "no_such_thing"')


def test_xforward_only_for_authorized_clients(instance):
    from conftest import RawSMTP
    inst = instance(main={"smtpd_authorized_xforward_hosts": "192.0.2.0/24"}).start()
    r = RawSMTP(inst.port)
    r.reply()
    code, lines = r.cmd("EHLO client.test")
    assert code == 250 and not any(l.startswith("XFORWARD") for l in lines), lines
    assert r.cmd("XFORWARD ADDR=192.0.2.9")[0] == 502
    r.cmd("QUIT")
    inst2 = instance(main={"smtpd_authorized_xforward_hosts": "127.0.0.0/8"}).start()
    r = RawSMTP(inst2.port)
    r.reply()
    code, lines = r.cmd("EHLO filter.test")
    assert "XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT" in lines, lines
    assert r.cmd("XFORWARD NAME=mx.origin.test ADDR=192.0.2.9 HELO=origin.test")[0] == 250
    assert r.cmd("XFORWARD BOGUS=1")[0] == 501
    assert r.cmd("XFORWARD ADDR=bad+ZZ")[0] == 501
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert r.cmd("XFORWARD ADDR=192.0.2.10")[0] == 503      # not inside a transaction
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    assert r.cmd("Subject: xf\r\n\r\nhi\r\n.")[0] == 250
    r.cmd("QUIT")
    got = inst2.wait_maildir("example.test/alice", 1)[0]
    assert b"Received: from origin.test (mx.origin.test [192.0.2.9])" in got, got[:400]
    inst2.wait_log("client=mx.origin.test[192.0.2.9]")
    inst2.wait_log("ehlo=1 xforward=1/4 mail=1 rcpt=1 data=1 quit=1 commands=6/9")
