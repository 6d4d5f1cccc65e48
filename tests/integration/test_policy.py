"""check_policy_service: smtpd asks a policy server (the protocol of
Postfix's SMTPD_POLICY_README) and applies its action as an access(5)
result; connections are reused; a server that is down or silent gives
smtpd_policy_service_default_action after smtpd_policy_service_try_limit
attempts; a slow server stalls only the session that waits for it."""
import socket
import threading
import time

import pytest

from conftest import RawSMTP, free_port


class PolicyServer:
    """A policy server on 127.0.0.1: decide(attrs) -> action (None: never answer)."""

    def __init__(self, decide):
        self.decide = decide
        self.requests = []
        self.connections = 0
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.done = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.done:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rb")
        attrs = {}
        try:
            for line in f:
                line = line.decode().rstrip("\n")
                if line:
                    k, _, v = line.partition("=")
                    attrs[k] = v
                    continue
                self.requests.append(attrs)
                action = self.decide(attrs)
                attrs = {}
                if action is None:
                    continue
                c.sendall(("action=%s\n\n" % action).encode())
        except OSError:
            pass
        c.close()

    def spec(self):
        return "inet:127.0.0.1:%d" % self.port

    def close(self):
        self.done = True
        self.sock.close()


@pytest.fixture
def policy():
    made = []

    def factory(decide):
        p = PolicyServer(decide)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.close()


def start(instance, server_spec, **main):
    params = {"smtpd_recipient_restrictions":
              "check_policy_service %s, permit_mynetworks, reject_unauth_destination" % server_spec}
    params.update(main)
    inst = instance(main=params)
    inst.master = ("127.0.0.1:%d inet n - n - 1 smtpd\n"
                   "qmgr      unix n - n 300 1 qmgr\n"
                   "virtual   unix - n n - - virtual\n"
                   "pickup    unix n - n 60 1 pickup\n" % inst.port)
    return inst.start()


def decide(attrs):
    if attrs.get("recipient") == "bob@example.test":
        return "REJECT go away, bob"
    if attrs.get("recipient") == "slow@example.test":
        time.sleep(3)
        return "DEFER_IF_PERMIT slow says later"
    return "DUNNO"


def test_policy_actions_and_attributes(instance, policy):
    p = policy(decide)
    inst = start(instance, p.spec())
    s = RawSMTP(inst.port)
    assert s.reply()[0] == 220
    assert s.cmd("EHLO client.example")[0] == 250
    assert s.cmd("MAIL FROM:<carol@client.test> SIZE=1234")[0] == 250
    assert s.cmd("RCPT TO:<alice@example.test>")[0] == 250
    code, text = s.cmd("RCPT TO:<bob@example.test>")
    assert (code, text) == (554, ["5.7.1 <bob@example.test>: Recipient address rejected: "
                                  "go away, bob"]), (code, text)
    assert s.cmd("RSET")[0] == 250
    assert s.cmd("MAIL FROM:<dave@client.test>")[0] == 250
    assert s.cmd("RCPT TO:<alice@example.test>")[0] == 250
    s.cmd("QUIT")
    inst.wait_log("reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 <bob@example.test>: "
                  "Recipient address rejected: go away, bob; from=<carol@client.test> "
                  "to=<bob@example.test> proto=ESMTP helo=<client.example>")
    r = p.requests
    assert len(r) == 3, r
    a = r[0]
    assert a["request"] == "smtpd_access_policy"
    assert a["protocol_state"] == "RCPT" and a["protocol_name"] == "ESMTP"
    assert a["helo_name"] == "client.example" and a["sender"] == "carol@client.test"
    assert a["recipient"] == "alice@example.test" and a["recipient_count"] == "0"
    assert a["client_address"] == "127.0.0.1" and a["size"] == "1234"
    assert a["client_port"].isdigit() and a["mail_version"]
    assert r[1]["recipient_count"] == "1"
    # One instance per transaction.
    assert r[0]["instance"] and r[0]["instance"] == r[1]["instance"] != r[2]["instance"]
    # One connection served them all.
    assert p.connections == 1


def test_slow_policy_stalls_only_its_session(instance, policy):
    p = policy(decide)
    inst = start(instance, p.spec())
    a = RawSMTP(inst.port)
    assert a.reply()[0] == 220
    assert a.cmd("EHLO a.example")[0] == 250
    assert a.cmd("MAIL FROM:<x@client.test>")[0] == 250
    t0 = time.monotonic()
    a.send("RCPT TO:<slow@example.test>\r\n")
    time.sleep(0.2)
    b = RawSMTP(inst.port)
    assert b.reply()[0] == 220
    assert b.cmd("EHLO b.example")[0] == 250
    assert b.cmd("MAIL FROM:<y@client.test>")[0] == 250
    assert b.cmd("RCPT TO:<alice@example.test>")[0] == 250
    other = time.monotonic() - t0
    b.cmd("QUIT")
    code, text = a.reply()
    waited = time.monotonic() - t0
    assert other < 2.0, "the other session waited for the slow policy server"
    assert waited >= 2.9
    # DEFER_IF_PERMIT, then permit_mynetworks: the deferral wins.
    assert code == 450 and "slow says later" in text[0], (code, text)
    a.cmd("QUIT")


def test_policy_server_down(instance):
    port = free_port()       # nobody listens there
    inst = start(instance, "inet:127.0.0.1:%d" % port, smtpd_policy_service_retry_delay="1s")
    s = RawSMTP(inst.port)
    assert s.reply()[0] == 220
    assert s.cmd("EHLO client.example")[0] == 250
    assert s.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    t0 = time.monotonic()
    code, text = s.cmd("RCPT TO:<alice@example.test>")
    assert (code, text[0]) == (451, "4.3.5 <alice@example.test>: Recipient address rejected: "
                                    "Server configuration problem"), (code, text)
    assert time.monotonic() - t0 >= 0.9       # two tries, a retry delay between them
    s.cmd("QUIT")
    log = inst.log()
    assert log.count("warning: problem talking to server inet:127.0.0.1:%d: Connection refused"
                     % port) == 2, log[-2000:]


def test_silent_policy_server_times_out(instance, policy):
    p = policy(lambda attrs: None)
    inst = start(instance, p.spec(), smtpd_policy_service_timeout="1s",
                 smtpd_policy_service_try_limit="1",
                 smtpd_policy_service_default_action="DEFER_IF_PERMIT policy said nothing")
    s = RawSMTP(inst.port)
    assert s.reply()[0] == 220
    assert s.cmd("EHLO client.example")[0] == 250
    assert s.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    code, text = s.cmd("RCPT TO:<alice@example.test>")
    assert code == 450 and "policy said nothing" in text[0], (code, text)
    s.cmd("QUIT")
    inst.wait_log("warning: problem talking to server %s: timeout" % p.spec())
