"""postscreen(8) in front of smtpd: `smtp inet n - n - 1 postscreen` plus
`smtpd pass - - n - - smtpd`, as the guides write them. Clients come from
several 127.0.0.x addresses; DNSBL answers come from a fake DNS server on
127.0.0.1 (YUBIN_DNS_SERVERS). Every log line checked is Postfix's text."""
import os
import re
import socket
import struct
import time

import pytest

from conftest import RawSMTP, wait_for
from test_relay import FakeDNS

PASS_SERVICES = ("smtpd     pass  -       -       n       -       -       smtpd\n"
                 "dnsblog   unix  -       -       n       -       0       dnsblog\n"
                 "tlsproxy  unix  -       -       n       -       0       tlsproxy\n"
                 "qmgr      unix  n       -       n       300     1       qmgr\n"
                 "virtual   unix  -       n       n       -       -       virtual\n"
                 "pickup    unix  n       -       n       60      1       pickup\n")


def psc_instance(instance, main=None):
    params = {"postscreen_greet_wait": "1s", "postscreen_access_list": "",
              "postscreen_cache_map": "btree:$data_directory/postscreen_cache"}
    params.update(main or {})
    inst = instance(main=params, master="")
    inst.master = "127.0.0.1:%d inet n - n - 1 postscreen\n" % inst.port + PASS_SERVICES
    return inst


def greet(port, source):
    c = RawSMTP(port, source=source, timeout=15)
    code, lines = c.reply()
    return c, code, lines


def deliver_one(c, rcpt="alice@example.test"):
    assert c.cmd("EHLO client.test")[0] == 250
    assert c.cmd("MAIL FROM:<s@other.test>")[0] == 250
    assert c.cmd("RCPT TO:<%s>" % rcpt)[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
    assert c.reply()[0] == 250
    c.cmd("QUIT")
    c.close()


def test_pass_new_then_pass_old(instance):
    inst = psc_instance(instance).start()
    t0 = time.time()
    c, code, lines = greet(inst.port, "127.0.0.5")
    # the 220- teaser, then smtpd's own 220 line once the greet wait is over
    assert code == 220 and len(lines) == 2, lines
    assert time.time() - t0 >= 0.9
    deliver_one(c)
    inst.wait_log("PASS NEW [127.0.0.5]:")
    inst.wait_maildir("example.test/alice", 1)
    log = inst.log()
    assert re.search(r"CONNECT from \[127\.0\.0\.5\]:\d+ to \[127\.0\.0\.1\]:%d" % inst.port, log)
    # remembered: straight to smtpd, greeted once
    t0 = time.time()
    c, code, lines = greet(inst.port, "127.0.0.5")
    assert code == 220 and len(lines) == 1, lines
    deliver_one(c)
    inst.wait_log("PASS OLD [127.0.0.5]:")
    inst.wait_maildir("example.test/alice", 2)
    assert "connect from unknown[127.0.0.5]" in inst.log()


def test_pregreet_enforce_and_drop(instance):
    inst = psc_instance(instance, {"postscreen_greet_action": "enforce",
                                   "postscreen_greet_banner": "$smtpd_banner"}).start()
    c = RawSMTP(inst.port, source="127.0.0.6", timeout=15)
    c.send("EHLO spambot.test\r\n")        # before the greeting
    # enforce: no 220 for a pregreeter; the engine answers, RCPT is rejected
    c.buf = b""
    code, lines = c.reply()
    while code == 220:                     # the 220- teaser line may have arrived first
        code, lines = c.reply()
    assert code == 250, lines
    assert c.cmd("MAIL FROM:<spam@other.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 550 and lines == ["5.5.1 Protocol error"]
    c.cmd("QUIT")
    inst.wait_log("DISCONNECT [127.0.0.6]:")
    log = inst.log()
    assert re.search(r"PREGREET 19 after [0-9.]+ from \[127\.0\.0\.6\]:\d+: EHLO spambot\.test\\r\\n",
                     log), log[-3000:]
    assert re.search(r"NOQUEUE: reject: RCPT from \[127\.0\.0\.6\]:\d+: 550 5\.5\.1 Protocol error; "
                     r"from=<spam@other\.test>, to=<alice@example\.test>, proto=ESMTP, "
                     r"helo=<spambot\.test>", log)
    assert "PASS NEW [127.0.0.6]" not in log
    inst.stop()

    inst2 = psc_instance(instance, {"postscreen_greet_action": "drop"}).start()
    c = RawSMTP(inst2.port, source="127.0.0.7", timeout=15)
    c.send("HELO x\r\n")
    code, lines = c.reply()                # the 220- teaser line, then the final reply
    assert code == 521 and lines[-1] == "5.5.1 Protocol error"
    assert c.closed()
    inst2.wait_log("DISCONNECT [127.0.0.7]:")
    assert "PREGREET 8 after" in inst2.log()


def test_access_list_permit_reject(instance):
    inst = psc_instance(instance, {"postscreen_denylist_action": "drop"})
    cidr = inst.write("psc_access.cidr", "127.0.0.8/32 PERMIT\n127.0.0.9 REJECT\n"
                      "127.0.0.10 DUNNO\n")
    inst.params["postscreen_access_list"] = "permit_mynetworks, cidr:" + cidr
    inst.params["mynetworks"] = "192.0.2.0/24"
    inst.start()
    t0 = time.time()
    c, code, lines = greet(inst.port, "127.0.0.8")
    assert code == 220 and len(lines) == 1     # no teaser: not screened
    deliver_one(c)
    inst.wait_log("ALLOWLISTED [127.0.0.8]:")
    c, code, lines = greet(inst.port, "127.0.0.9")
    assert code == 521 and lines == ["5.3.2 Service currently unavailable"]
    assert c.closed()
    inst.wait_log("DENYLISTED [127.0.0.9]:")
    inst.wait_log("DISCONNECT [127.0.0.9]:")
    c, code, lines = greet(inst.port, "127.0.0.10")    # DUNNO: screened as usual
    assert code == 220 and len(lines) == 2
    deliver_one(c)
    inst.wait_log("PASS NEW [127.0.0.10]:")


def test_blacklist_action_old_name_and_permit_mynetworks(instance):
    inst = psc_instance(instance, {"postscreen_blacklist_action": "drop",
                                   "respectful_logging": "no"})
    cidr = inst.write("psc_access.cidr", "127.0.0.11 REJECT\n")
    inst.params["postscreen_access_list"] = "permit_mynetworks, cidr:" + cidr
    inst.params["mynetworks"] = "127.0.0.12/32"
    inst.start()
    c, code, lines = greet(inst.port, "127.0.0.11")
    assert code == 521
    inst.wait_log("BLACKLISTED [127.0.0.11]:")
    c, code, lines = greet(inst.port, "127.0.0.12")
    assert code == 220 and len(lines) == 1
    c.cmd("QUIT")
    inst.wait_log("WHITELISTED [127.0.0.12]:")


@pytest.fixture
def dnsbl_zone():
    dns = FakeDNS({("13.0.0.127.zen.test", "A"): ["127.0.0.2"],
                   ("14.0.0.127.zen.test", "A"): ["127.0.0.1"],     # outside the filter
                   ("14.0.0.127.bl.test", "A"): ["127.0.0.2"],
                   ("13.0.0.127.bl.test", "A"): ["127.0.0.2"],
                   ("15.0.0.127.zen.test", "A"): ["127.0.0.4"],
                   ("15.0.0.127.dnswl.test", "A"): ["127.0.10.2"]})
    os.environ["YUBIN_DNS_SERVERS"] = "127.0.0.1:%d" % dns.port
    yield dns
    del os.environ["YUBIN_DNS_SERVERS"]
    dns.close()


SITES = "zen.test=127.0.0.[2..11]*3, bl.test*2 dnswl.test=127.0.[0..255].[1..3]*-5"


def test_dnsbl_weights_threshold_reply_filter(instance, dnsbl_zone):
    inst = psc_instance(instance, {"postscreen_dnsbl_sites": SITES,
                                   "postscreen_dnsbl_threshold": "3",
                                   "postscreen_dnsbl_action": "enforce",
                                   "postscreen_dnsbl_reply_map": "inline:{ {zen.test=zen.example} }"})
    inst.start()
    # 127.0.0.13: zen (3) + bl (2) = 5 >= 3: enforced, the reply names the list
    c, code, lines = greet(inst.port, "127.0.0.13")
    assert code == 220
    assert c.cmd("EHLO bot.test")[0] == 250
    assert c.cmd("MAIL FROM:<x@other.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 550
    assert lines == ["5.7.1 Service unavailable; client [127.0.0.13] blocked using zen.example"]
    c.cmd("QUIT")
    inst.wait_log("DISCONNECT [127.0.0.13]:")
    log = inst.log()
    assert re.search(r"DNSBL rank 5 for \[127\.0\.0\.13\]:\d+", log)
    assert re.search(r"NOQUEUE: reject: RCPT from \[127\.0\.0\.13\]:\d+: 550 5\.7\.1 Service "
                     r"unavailable; client \[127\.0\.0\.13\] blocked using zen\.example; "
                     r"from=<x@other\.test>, to=<alice@example\.test>, proto=ESMTP, "
                     r"helo=<bot\.test>", log)
    # 127.0.0.14: zen's answer is outside its filter, bl.test gives 2 < 3: passes
    c, code, lines = greet(inst.port, "127.0.0.14")
    assert code == 220 and len(lines) == 2
    deliver_one(c)
    inst.wait_log("PASS NEW [127.0.0.14]:")
    assert "DNSBL rank" not in inst.log().split("CONNECT from [127.0.0.14]")[1]


def test_dnsbl_allowlist_by_negative_weight(instance, dnsbl_zone):
    inst = psc_instance(instance, {"postscreen_dnsbl_sites": SITES,
                                   "postscreen_dnsbl_threshold": "3",
                                   "postscreen_dnsbl_action": "drop",
                                   "postscreen_greet_wait": "10s",
                                   "postscreen_dnsbl_whitelist_threshold": "-1"})
    inst.start()
    # 127.0.0.15: zen (3) and dnswl (-5) = -2 <= -1: allowlisted, no greet wait
    t0 = time.time()
    c, code, lines = greet(inst.port, "127.0.0.15")
    assert code == 220
    assert time.time() - t0 < 8
    deliver_one(c)
    inst.wait_log("PASS NEW [127.0.0.15]:")
    assert "DNSBL rank" not in inst.log()


DEEP = {"postscreen_pipelining_enable": "yes", "postscreen_bare_newline_enable": "yes",
        "postscreen_bare_newline_action": "enforce", "postscreen_non_smtp_command_enable": "yes"}


def test_deep_tests_450_then_pass(instance):
    inst = psc_instance(instance, DEEP).start()
    c, code, lines = greet(inst.port, "127.0.0.16")
    assert code == 220 and len(lines) == 2         # teaser, then postscreen's own 220
    code, lines = c.cmd("EHLO good.test")
    assert code == 250 and "PIPELINING" not in lines
    assert c.cmd("MAIL FROM:<g@other.test>")[0] == 250
    code, lines = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 450 and lines == ["4.3.2 Service currently unavailable"]
    assert c.cmd("QUIT")[0] == 221
    inst.wait_log("DISCONNECT [127.0.0.16]:")
    log = inst.log()
    assert re.search(r"PASS NEW \[127\.0\.0\.16\]:\d+", log)
    assert re.search(r"NOQUEUE: reject: RCPT from \[127\.0\.0\.16\]:\d+: 450 4\.3\.2 Service "
                     r"currently unavailable; from=<g@other\.test>, to=<alice@example\.test>, "
                     r"proto=ESMTP, helo=<good\.test>", log)
    # next time: straight to smtpd
    c, code, lines = greet(inst.port, "127.0.0.16")
    assert code == 220 and len(lines) == 1
    deliver_one(c)
    inst.wait_log("PASS OLD [127.0.0.16]:")
    inst.wait_maildir("example.test/alice", 1)


def test_deep_tests_pipelining_bare_newline_non_smtp(instance):
    inst = psc_instance(instance, DEEP).start()
    c, code, lines = greet(inst.port, "127.0.0.17")
    c.send("EHLO bot.test\r\nMAIL FROM:<b@other.test>\r\n")
    assert c.reply()[0] == 250
    assert c.reply()[0] == 250
    code, lines = c.cmd("RCPT TO:<alice@example.test>")
    assert code == 550 and lines == ["5.5.1 Protocol error"]
    c.cmd("QUIT")
    inst.wait_log("DISCONNECT [127.0.0.17]:")
    assert re.search(r"COMMAND PIPELINING from \[127\.0\.0\.17\]:\d+ after EHLO: "
                     r"MAIL FROM:<b@other\.test>\\r\\n", inst.log())
    assert "PASS NEW [127.0.0.17]" not in inst.log()

    c, code, lines = greet(inst.port, "127.0.0.18")
    c.send("EHLO bare.test\n")
    assert c.reply()[0] == 250
    assert c.cmd("MAIL FROM:<b@other.test>")[0] == 250
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 550
    c.cmd("QUIT")
    inst.wait_log("DISCONNECT [127.0.0.18]:")
    assert re.search(r"BARE NEWLINE from \[127\.0\.0\.18\]:\d+ after EHLO bare\.test", inst.log())

    c, code, lines = greet(inst.port, "127.0.0.19")
    code, lines = c.cmd("GET / HTTP/1.0")
    assert code == 521 and lines == ["5.7.0 Error: I can break rules, too. Goodbye."]
    assert c.closed()
    inst.wait_log("DISCONNECT [127.0.0.19]:")
    assert re.search(r"NON-SMTP COMMAND from \[127\.0\.0\.19\]:\d+ after CONNECT: GET "
                     r"GET / HTTP/1\.0", inst.log())


def proxy_v2(src, sport, dst, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack(">HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack(">H", len(addrs)) + addrs


def test_proxy_protocol_v1_and_v2(instance):
    inst = psc_instance(instance, {"postscreen_upstream_proxy_protocol": "haproxy"}).start()
    c = RawSMTP(inst.port, source="127.0.0.20", timeout=15)
    c.send("PROXY TCP4 192.0.2.7 198.51.100.1 40001 25\r\n")
    code, lines = c.reply()
    assert code == 220 and len(lines) == 2
    deliver_one(c)
    inst.wait_log("PASS NEW [192.0.2.7]:40001")
    assert "CONNECT from [192.0.2.7]:40001 to [198.51.100.1]:25" in inst.log()
    inst.wait_log("connect from unknown[192.0.2.7]")
    c = RawSMTP(inst.port, source="127.0.0.20", timeout=15)
    c.send(proxy_v2("192.0.2.7", 40002, "198.51.100.1", 25))
    code, lines = c.reply()
    assert code == 220 and len(lines) == 1
    c.cmd("QUIT")
    inst.wait_log("PASS OLD [192.0.2.7]:40002")
    # not a PROXY header: dropped
    c = RawSMTP(inst.port, source="127.0.0.20", timeout=15)
    c.send("EHLO x\r\n")
    assert c.closed()
    inst.wait_log("haproxy read: no PROXY protocol header")


GUIDE_MASTER = (
    "127.0.0.1:%d inet n - y - 1 postscreen\n"
    "smtpd     pass  -       -       y       -       -       smtpd\n"
    "dnsblog   unix  -       -       y       -       0       dnsblog\n"
    "tlsproxy  unix  -       -       y       -       0       tlsproxy\n"
    "qmgr      unix  n       -       n       300     1       qmgr\n"
    "virtual   unix  -       n       n       -       -       virtual\n"
    "pickup    unix  n       -       n       60      1       pickup\n")


def test_guide_fragment(instance):
    """The 000 guide's postscreen fragment as written (DNS names answered
    by the fake server only)."""
    dns = FakeDNS({("21.0.0.127.zen.spamhaus.org", "A"): ["127.0.0.4"],
                   ("21.0.0.127.b.barracudacentral.org", "A"): ["127.0.0.2"]})
    os.environ["YUBIN_DNS_SERVERS"] = "127.0.0.1:%d" % dns.port
    try:
        inst = instance(main={
            "postscreen_greet_banner": "$smtpd_banner",
            "postscreen_greet_action": "enforce",
            "postscreen_greet_wait": "1s",
            "postscreen_blacklist_action": "drop",
            "postscreen_dnsbl_action": "enforce",
            "postscreen_dnsbl_threshold": "3",
            "postscreen_dnsbl_sites": "zen.spamhaus.org=127.0.0.[2..11]*3 "
                                      "b.barracudacentral.org=127.0.0.2*2 "
                                      "bl.spameatingmonkey.net=127.0.0.2*1 "
                                      "list.dnswl.org=127.0.[0..255].[1..3]*-2",
            "postscreen_dnsbl_whitelist_threshold": "-2",
            "mynetworks": "127.0.0.1/32",
            "postscreen_cache_map": "btree:$data_directory/postscreen_cache",
        }, master="")
        cidr = inst.write("postscreen_access.cidr", "# local exceptions\n127.0.0.22 REJECT\n")
        inst.params["postscreen_access_list"] = "permit_mynetworks, cidr:" + cidr
        inst.master = GUIDE_MASTER % inst.port
        inst.write_config()
        r = inst.cmd("check")
        assert "not implemented by yubin" not in r.stdout + r.stderr, r.stdout + r.stderr
        assert "unknown parameter" not in r.stdout + r.stderr, r.stdout + r.stderr
        inst.start()
        c, code, lines = greet(inst.port, "127.0.0.20")          # a clean client
        deliver_one(c)
        inst.wait_log("PASS NEW [127.0.0.20]:")
        c, code, lines = greet(inst.port, "127.0.0.21")          # listed: 3 + 2
        c.cmd("EHLO bot.test")
        c.cmd("MAIL FROM:<x@other.test>")
        code, lines = c.cmd("RCPT TO:<alice@example.test>")
        assert code == 550 and "blocked using zen.spamhaus.org" in lines[0]
        inst.wait_log("DNSBL rank 5 for [127.0.0.21]:")
        c, code, lines = greet(inst.port, "127.0.0.22")          # access list REJECT
        assert code == 521
        inst.wait_log("DENYLISTED [127.0.0.22]:")
        c, code, lines = greet(inst.port, "127.0.0.1")           # mynetworks
        assert code == 220 and len(lines) == 1
        c.cmd("QUIT")
        inst.wait_log("ALLOWLISTED [127.0.0.1]:")
        inst.wait_maildir("example.test/alice", 1)
    finally:
        del os.environ["YUBIN_DNS_SERVERS"]
        dns.close()


def test_screening_limits(instance):
    inst = psc_instance(instance, {"postscreen_greet_wait": "5s",
                                   "postscreen_client_connection_count_limit": "1",
                                   "postscreen_pre_queue_limit": "2"}).start()
    inst.wait_log("DISCONNECT [127.0.0.1]:")                  # the harness's start-up probe
    first = RawSMTP(inst.port, source="127.0.0.23", timeout=15)
    assert first.sock.recv(1024).startswith(b"220-")           # in the greet wait
    c, code, lines = greet(inst.port, "127.0.0.23")            # same client again
    assert code == 421 and lines == ["4.7.0 mx.example.test Error: too many connections "
                                     "from 127.0.0.23"]
    inst.wait_log("NOQUEUE: reject: CONNECT from [127.0.0.23]:")
    other = RawSMTP(inst.port, source="127.0.0.24", timeout=15)
    assert other.sock.recv(1024).startswith(b"220-")
    c, code, lines = greet(inst.port, "127.0.0.25")            # a third screened session
    assert code == 421 and lines == ["4.3.2 All screening ports are busy"]
    assert re.search(r"NOQUEUE: reject: CONNECT from \[127\.0\.0\.25\]:\d+: all screening "
                     r"ports busy", inst.log())
    first.close()
    other.close()
