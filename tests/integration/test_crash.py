"""Durability: a 250 after DATA means the message survives kill -9 of the
whole mail system at any instant, and no half-written message is ever
delivered."""
import hashlib
import os
import subprocess
import random
import smtplib
import threading
import time

from conftest import wait_for


def body_for(tag):
    lines = [b"%s line %04d %s" % (tag.encode(), i, b"z" * 50) for i in range(200)]
    return b"\r\n".join(lines) + b"\r\n"


def sender(port, name, stop, acked, lock):
    n = 0
    while not stop.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
                s.ehlo("client.test")
                while not stop.is_set():
                    tag = "%s-%d" % (name, n)
                    n += 1
                    msg = b"Subject: " + tag.encode() + b"\r\n\r\n" + body_for(tag)
                    s.sendmail("load@client.test", ["bob@example.test"], msg)
                    with lock:
                        acked.add(tag)
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def delivered(inst):
    out = {}
    for m in inst.maildir("example.test/bob"):
        head, _, body = m.partition(b"\n\n")
        subj = [l for l in head.split(b"\n") if l.startswith(b"Subject: ")]
        if subj:
            tag = subj[0][9:].decode()
            out.setdefault(tag, []).append(body)
    return out


def run_crash_round(inst, kill, min_acked=10, extra=0.5):
    """Load until at least min_acked messages got their 250 (however slow the
    machine is), then a little more at a random moment, then kill."""
    stop, lock, acked = threading.Event(), threading.Lock(), set()
    threads = [threading.Thread(target=sender, args=(inst.port, "c%d" % i, stop, acked, lock))
               for i in range(6)]
    for t in threads:
        t.start()

    def enough():
        with lock:
            return len(acked) >= min_acked

    wait_for(enough, timeout=60)
    time.sleep(random.uniform(0, extra))
    kill()
    stop.set()
    for t in threads:
        t.join(timeout=20)
    with lock:
        return set(acked)


def check_all_delivered(inst, acked):
    assert acked, "no message was acknowledged before the crash"
    ok = wait_for(lambda: acked <= set(delivered(inst)), timeout=60)
    got = delivered(inst)
    missing = acked - set(got)
    assert ok and not missing, "%d acknowledged messages lost, e.g. %s\n%s" % (
        len(missing), sorted(missing)[:5], inst.log()[-3000:])
    # Nothing half-written: every delivered copy is complete and exact.
    for tag, bodies in got.items():
        want = body_for(tag).replace(b"\r\n", b"\n")
        for b in bodies:
            assert hashlib.sha256(b).digest() == hashlib.sha256(want).digest(), tag


def test_kill9_whole_system_loses_nothing(instance):
    inst = instance().start()
    acked = run_crash_round(inst, inst.kill9)
    inst.start()
    check_all_delivered(inst, acked)


def test_kill9_twice_during_recovery(instance):
    inst = instance().start()
    acked = run_crash_round(inst, inst.kill9)
    inst.start()
    acked |= run_crash_round(inst, inst.kill9, min_acked=3, extra=0.3)
    inst.start()
    check_all_delivered(inst, acked)


def test_kill9_of_workers_only(instance):
    """The master restarts killed workers; nothing acknowledged is lost."""
    inst = instance().start()

    killed = []

    def kill_workers():
        # workers show "ROLE -n SERVICE -t TYPE -c DIR" (proctitle.c), or right
        # after a restart still "ROLE -c DIR worker SERVICE TYPE"
        for role in ("qmgr", "virtual"):
            r = subprocess.run(["pkill", "-9", "-f", "^%s .*-c %s( |$)" % (role, inst.dir)])
            killed.append(r.returncode == 0)

    acked = run_crash_round(inst, kill_workers)
    check_all_delivered(inst, acked)
    assert killed and all(killed), "pkill found no qmgr/virtual worker to kill: %r" % killed
