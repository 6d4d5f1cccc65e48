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
    assert time.time() - t0 < 0.9
    deliver_one(c)
    inst.wait_log("PASS OLD [127.0.0.5]:")
    inst.wait_maildir("example.test/alice", 2)
    assert "connect from unknown[127.0.0.5]" in inst.log()
