"""What one client can take from the SMTP server: sessions per client address
across the service's smtpd processes (smtpd_client_connection_count_limit,
smtpd_client_event_limit_exceptions), sessions per process against the
descriptor limit, and time (smtpd_timeout as a per-request deadline,
smtpd_min_data_rate for content)."""
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import RawSMTP, wait_for

# Two smtpd processes share the service: the count must be the sum of both.
MASTER = ("127.0.0.1:%d inet n - n - 2 smtpd\n"
          "qmgr      unix n - n 300 1 qmgr\n"
          "virtual   unix - n n - - virtual\n"
          "pickup    unix n - n 60 1 pickup\n")

MSG = (b"From: <carol@client.test>\r\nTo: <alice@example.test>\r\nSubject: limits\r\n\r\n")


def two_smtpd(main):
    """main.cf overrides for a 2-process smtp service (needs 2 CPUs)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("yubin runs min(maxproc, CPUs) smtpd processes: this needs 2 CPUs")
    return main


def sessions_open(inst):
    log = inst.log()
    return len(re.findall(r"\]: connect from", log)) - log.count("]: disconnect from")


def start(instance, main, nofile=None):
    inst = instance(main=main, master="")
    inst.master = MASTER % inst.port
    inst.nofile = nofile
    inst.start()
    # The harness's probe connection must be gone before sessions are counted.
    assert wait_for(lambda: sessions_open(inst) == 0, 10)
    return inst


def smtpd_pids(inst):
    def pids():
        r = subprocess.run(["pgrep", "-f", "^smtpd (-n 127.0.0.1:%d -t inet |.* worker 127.0.0.1:%d inet$)" % (inst.port, inst.port)],
                           capture_output=True, text=True)
        v = sorted(int(p) for p in r.stdout.split())
        return v if len(v) == 2 else None
    v = wait_for(pids, 15)
    assert v, "expected 2 smtpd processes"
    return v


def banner(port, timeout=10):
    """Connect and read the first reply: (RawSMTP, code, text)."""
    r = RawSMTP(port, timeout=timeout)
    code, text = r.reply()
    return r, code, text[0]


def open_on(inst, pid_running, pid_stopped, n):
    """n idle sessions, all taken by pid_running while pid_stopped cannot accept."""
    os.kill(pid_stopped, signal.SIGSTOP)
    try:
        out = []
        for _ in range(n):
            r, code, text = banner(inst.port)
            assert code == 220, (code, text)
            out.append(r)
    finally:
        os.kill(pid_stopped, signal.SIGCONT)
    return out


def connect_pids(inst):
    return set(re.findall(r"smtpd\[(\d+)\]: connect from \S+\[127\.0\.0\.1\]", inst.log()))


def assert_too_many(inst, count):
    r, code, text = banner(inst.port)
    assert code == 421, (code, text)
    assert text == "4.7.0 mx.example.test Error: too many connections from 127.0.0.1", text
    assert r.closed()
    inst.wait_log("warning: Connection concurrency limit exceeded: %d from " % count)
    line = [l for l in inst.log().splitlines() if "Connection concurrency limit exceeded" in l][-1]
    assert re.search(r"exceeded: %d from \S+\[127\.0\.0\.1\] for service 127\.0\.0\.1:%d$"
                     % (count, inst.port), line), line


def close_all(conns):
    for r in conns:
        r.close()


def test_connection_count_limit_across_processes(instance):
    # 127.0.0.1 is not in mynetworks, so not in smtpd_client_event_limit_exceptions.
    inst = start(instance, two_smtpd({"mynetworks": "192.0.2.0/24"}))
    a, b = smtpd_pids(inst)
    conns = open_on(inst, a, b, 25) + open_on(inst, b, a, 25)
    assert {str(a), str(b)} <= connect_pids(inst), "sessions did not land on both processes"
    # The 51st, whichever process takes it, counts both processes' 50.
    for _ in range(3):
        assert_too_many(inst, 51)
    # Sessions that end stop counting: room for exactly as many new ones.
    close_all(conns[:3])
    conns = conns[3:]
    assert wait_for(lambda: sessions_open(inst) == 47, 10)
    for _ in range(3):
        r, code, text = banner(inst.port)
        assert code == 220, (code, text)
        conns.append(r)
    assert_too_many(inst, 51)
    # A refused client never held a session: a counted one still works.
    assert conns[0].cmd("EHLO client.test")[0] == 250
    close_all(conns)


def test_connection_count_survives_worker_crash(instance):
    inst = start(instance, two_smtpd({"mynetworks": "192.0.2.0/24"}))
    a, b = smtpd_pids(inst)
    on_a = open_on(inst, a, b, 25)
    on_b = open_on(inst, b, a, 25)
    assert_too_many(inst, 51)
    # The master clears a dead worker's slot: its 25 sessions stop counting.
    os.kill(a, signal.SIGKILL)
    inst.wait_log("pid %d killed by signal 9" % a)
    for r in on_a:
        assert r.closed()
    new = []
    for _ in range(25):
        r, code, text = banner(inst.port)
        assert code == 220, (code, text)
        new.append(r)
    assert_too_many(inst, 51)
    close_all(on_b + new)


def test_connection_count_exceptions(instance):
    inst = start(instance, two_smtpd({"mynetworks": "192.0.2.0/24",
                                      "smtpd_client_event_limit_exceptions": "127.0.0.1"}))
    conns = []
    for _ in range(60):
        r, code, text = banner(inst.port)
        assert code == 220, (code, text)
        conns.append(r)
    assert "Connection concurrency limit exceeded" not in inst.log()
    close_all(conns)
    r = inst.cmd("conf", "-d", "smtpd_client_connection_count_limit",
                 "smtpd_client_event_limit_exceptions", check=True)
    assert r.stdout == ("smtpd_client_connection_count_limit = 50\n"
                        "smtpd_client_event_limit_exceptions = "
                        "${smtpd_client_connection_limit_exceptions:$mynetworks}\n")


def test_connection_count_limit_setting(instance):
    inst = start(instance, two_smtpd({"mynetworks": "192.0.2.0/24",
                                      "smtpd_client_connection_count_limit": "3"}))
    conns = [banner(inst.port)[0] for _ in range(3)]
    assert_too_many(inst, 4)
    # Local submission (pickup) is not counted.
    for i in range(2):
        r = inst.cmd("sendmail", "-f", "carol@client.test", "alice@example.test",
                     input="Subject: local %d\n\nhello\n" % i)
        assert r.returncode == 0, r.stderr
    inst.wait_maildir("example.test/alice", 2)
    close_all(conns)
    r = inst.cmd("check")
    assert "not implemented" not in r.stdout + r.stderr, r.stdout + r.stderr


def test_connection_count_spans_a_reload(instance):
    # Sessions that finish on the old generation's workers still count for the new one.
    inst = start(instance, two_smtpd({"mynetworks": "192.0.2.0/24",
                                      "smtpd_client_connection_count_limit": "3",
                                      "smtpd_banner": "$myhostname ESMTP before"}))
    old = [banner(inst.port)[0] for _ in range(2)]
    inst.params["smtpd_banner"] = "$myhostname ESMTP after"
    inst.write_config()
    assert inst.cmd("reload").returncode == 0
    inst.wait_log("reload -- version")

    def new_generation():
        r, code, text = banner(inst.port)
        r.close()
        assert wait_for(lambda: sessions_open(inst) == 2, 10)
        return text == "mx.example.test ESMTP after"
    assert wait_for(new_generation, 15)
    r, code, text = banner(inst.port)
    assert (code, text) == (220, "mx.example.test ESMTP after")
    assert_too_many(inst, 4)
    # The old sessions end, their workers exit, their slots are cleared.
    close_all(old)
    assert wait_for(lambda: sessions_open(inst) == 1, 10)
    more = [banner(inst.port) for _ in range(2)]
    assert all(code == 220 for _, code, _ in more)
    close_all([r] + [m[0] for m in more])


def read_reply_within(r, seconds):
    """The next reply, or None if none came within seconds."""
    r.sock.settimeout(seconds)
    try:
        return r.reply()
    except (socket.timeout, TimeoutError):
        return None


def trickle(r, data, every):
    """Send data one byte every `every` seconds until the server answers."""
    t0 = time.time()
    for ch in data:
        try:
            r.send(bytes([ch]))
        except OSError:
            break
        got = read_reply_within(r, every)
        if got:
            return got, time.time() - t0
    return read_reply_within(r, 5), time.time() - t0


def test_trickled_command_is_cut_off(instance):
    inst = instance(main={"smtpd_timeout": "2s"}).start()
    r, code, _ = banner(inst.port)
    assert code == 220
    got, took = trickle(r, b"EHLO a-very-long-name.client.test\r\n", 1.5)
    assert got and got[0] == 421, got
    assert got[1][0] == "4.4.2 mx.example.test Error: timeout exceeded"
    assert took < 2 + 1.5 + 0.5, took
    assert r.closed()
    inst.wait_log("timeout after CONNECT from")


def test_trickled_content_is_cut_off(instance):
    inst = instance(main={"smtpd_timeout": "2s"}).start()
    r, code, _ = banner(inst.port)
    assert r.cmd("EHLO client.test")[0] == 250
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert r.cmd("DATA")[0] == 354
    got, took = trickle(r, MSG + b"x" * 100, 1.5)
    assert got and got[0] == 421 and "timeout exceeded" in got[1][0], got
    assert took < 2 + 1.5 + 0.5, took
    inst.wait_log("timeout after DATA from")


def test_slow_but_steady_client_is_served(instance):
    # Each command within smtpd_timeout, content above smtpd_min_data_rate:
    # the session lasts several times smtpd_timeout and its mail is queued.
    inst = instance(main={"smtpd_timeout": "2s"}).start()
    r, code, _ = banner(inst.port)
    for line, pause in (("EHLO client.test", 1.2), ("MAIL FROM:<carol@client.test>", 0),
                        ("RCPT TO:<alice@example.test>", 1.2), ("DATA", 0)):
        time.sleep(pause)
        assert r.cmd(line)[0] in (250, 354)
    r.send(MSG)
    for i in range(7):           # 7 x 1000 bytes, one chunk every 0.5s: 2000 bytes/s
        time.sleep(0.5)
        r.send(("%04d" % i + "y" * 994 + "\r\n").encode())
    code, text = r.cmd(".")
    assert code == 250, (code, text)
    inst.wait_maildir("example.test/alice", 1)


def test_per_read_timeout_when_deadline_off(instance):
    # smtpd_per_request_deadline = no: Postfix's time limit per read.
    inst = instance(main={"smtpd_timeout": "2s", "smtpd_per_request_deadline": "no",
                          "smtpd_min_data_rate": "100"}).start()
    r = inst.cmd("check")
    assert "not implemented" not in r.stdout + r.stderr, r.stdout + r.stderr
    r, code, _ = banner(inst.port)
    for ch in b"NOO":
        r.send(bytes([ch]))
        assert read_reply_within(r, 1.2) is None
    assert r.cmd("P")[0] == 250


def test_descriptor_reserve_under_flood(instance):
    # 256 descriptors per process: each smtpd keeps max(64, 10%) for its own
    # work and two per session (socket, spill file), so at most 96 sessions.
    inst = start(instance, two_smtpd({"smtpd_timeout": "30s"}), nofile=256)
    legit, code, _ = banner(inst.port)
    assert legit.cmd("EHLO client.test")[0] == 250
    # 127.0.0.1 is in mynetworks: not limited per client, so only the cap holds it.
    flood = [socket.create_connection(("127.0.0.1", inst.port), timeout=10) for _ in range(300)]
    answers = []
    for s in flood:
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = s.recv(512)
            if not chunk:
                break
            data += chunk
        answers.append(data)
    busy = [a for a in answers if a == b"421 4.3.2 All server ports are busy\r\n"]
    ok = [a for a in answers if a.startswith(b"220 ")]
    assert len(busy) + len(ok) == len(answers), [a for a in answers if a not in busy + ok][:3]
    assert busy and len(ok) <= 2 * 96
    # Another client: a clean answer at once, never a hang.
    r, code, text = banner(inst.port, timeout=5)
    assert code == 220 or (code, text) == (421, "4.3.2 All server ports are busy"), (code, text)
    r.close()
    # The session that was there first still gets its mail queued, large enough to
    # need a spill file (another descriptor).
    assert legit.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert legit.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert legit.cmd("DATA")[0] == 354
    legit.send(MSG + (b"z" * 998 + b"\r\n") * 400 + b".\r\n")
    code, text = legit.reply()
    assert code == 250, (code, text)
    inst.wait_maildir("example.test/alice", 1)
    log = inst.log()
    assert "has reached its session limit 96" in log
    assert "Too many open files" not in log
    for s in flood:
        s.close()
    # When the flood is gone, new clients are served again.
    def served():
        r2, c2, _ = banner(inst.port, timeout=5)
        r2.close()
        return c2 == 220
    assert wait_for(served, 10, 0.2)
