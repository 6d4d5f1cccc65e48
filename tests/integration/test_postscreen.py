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
