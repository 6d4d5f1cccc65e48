"""The master process: start/stop/status/reload/check and worker supervision."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import YUBIN, free_port, wait_for, wait_port


def main_cf_line(inst, name):
    """Line number of a parameter in the main.cf the harness writes."""
    return list(inst.params).index(name) + 1


def run_fg(inst, timeout=30):
    inst.write_config()
    return subprocess.run([YUBIN, "-c", inst.dir, "start-fg"], capture_output=True, text=True,
                          timeout=timeout)


def children(pid):
    r = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()]


def test_start_fg_refuses_bad_main_cf(instance):
    inst = instance(main={"smtpd_timeout": "3x"})
    r = run_fg(inst)
    assert r.returncode == 1
    line = main_cf_line(inst, "smtpd_timeout")
    assert "main.cf:%d: error: smtpd_timeout: bad time value \"3x\"" % line in r.stderr
    assert "not started" in r.stderr
    assert inst.cmd("status").returncode == 1


def test_check_unknown_parameter_is_a_warning(instance):
    inst = instance(main={"frobnication_level": "11"})
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0, r.stdout + r.stderr
    line = main_cf_line(inst, "frobnication_level")
    assert ("main.cf:%d: warning: unknown parameter \"frobnication_level\"" % line) in r.stderr
    assert "configuration OK (1 warning)" in r.stdout


def test_check_unknown_master_command_warns(instance):
    inst = instance(master_extra="weird     unix  -       -       n       -       -       frobnicator\n")
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"master\.cf:6: warning: service weird: command \"frobnicator\" is not "
                     r"implemented", r.stderr), r.stderr


def test_check_malformed_master_line_fails(instance):
    inst = instance(master_extra="broken unix - -\n")
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 1
    assert "master.cf:6: error: expected 8 columns" in r.stderr
    assert "will not start" in r.stdout
    r = run_fg(inst)
    assert r.returncode == 1
    assert "master.cf:6: error" in r.stderr


def test_check_clean_config(instance):
    inst = instance()
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "configuration OK" in r.stdout


def test_fifo_pickup_and_qmgr_lines(instance):
    """Old master.cf files (the FreeBSD guide) declare pickup and qmgr as fifo
    services: yubin runs them on its UNIX sockets, warns about nothing, and
    local submission flows through them."""
    inst = instance()
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "pickup    fifo  n       -       n       60      1       pickup\n"
                   "qmgr      fifo  n       -       n       300     1       qmgr\n"
                   "virtual   unix  -       n       n       -       -       virtual\n" % inst.port)
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0 and "fifo" not in r.stderr, r.stdout + r.stderr
    r = inst.cmd("conf", "-M", "pickup")
    assert re.match(r"pickup\s+fifo\s+n\s+-\s+n\s+60\s+1\s+pickup", r.stdout), r.stdout
    inst.start()
    r = subprocess.run([YUBIN, "-c", inst.dir, "sendmail", "alice@example.test"],
                       input="Subject: via fifo lines\n\nhi\n", text=True, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    got = inst.wait_maildir("example.test/alice", 1)
    assert b"Subject: via fifo lines" in got[0]


def test_status_start_stop(instance):
    inst = instance()
    inst.write_config()
    r = inst.cmd("status")
    assert r.returncode == 1
    assert "the mail system is not running" in r.stdout
    inst.start()
    r = inst.cmd("status")
    assert r.returncode == 0
    assert "the mail system is running: PID: %d" % inst.proc.pid in r.stdout
    # A second master is refused.
    r = run_fg(inst)
    assert r.returncode == 1
    assert "already running (PID %d)" % inst.proc.pid in r.stderr
    r = inst.cmd("stop")
    assert r.returncode == 0, r.stderr
    assert "stopped" in r.stdout
    assert inst.proc.wait(timeout=20) == 0
    assert inst.cmd("status").returncode == 1
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", inst.port), timeout=1).close()
    inst.wait_log("terminating on signal 15")
    assert inst.cmd("stop").returncode == 1     # not running any more


def test_stop_works_with_a_broken_main_cf(instance):
    inst = instance()
    inst.start()
    with open(inst.path("main.cf"), "a") as f:
        f.write("this line is broken\nsmtpd_timeout = never\n")
    r = inst.cmd("status")
    assert r.returncode == 0 and "PID: %d" % inst.proc.pid in r.stdout
    r = inst.cmd("stop")
    assert r.returncode == 0, r.stderr
    assert inst.proc.wait(timeout=20) == 0


def test_sigint_stops_foreground(instance):
    inst = instance()
    inst.start()
    inst.proc.send_signal(signal.SIGINT)
    assert inst.proc.wait(timeout=20) == 0
    assert inst.cmd("status").returncode == 1


def test_daemon_start_and_stop(instance):
    inst = instance()
    inst.write_config()
    r = inst.cmd("start")
    try:
        assert r.returncode == 0, r.stderr
        m = re.search(r"PID: (\d+)", r.stdout)
        assert m, r.stdout
        pid = int(m.group(1))
        assert wait_port(inst.port)
        st = inst.cmd("status")
        assert "PID: %d" % pid in st.stdout
        # The daemon is a session leader without a terminal.
        assert os.getsid(pid) == pid
    finally:
        r = inst.cmd("stop")
    assert r.returncode == 0
    assert inst.cmd("status").returncode == 1


def test_bind_conflict_is_reported(instance):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        inst = instance(master="127.0.0.1:%d inet n - n - - smtpd\n" % port)
        r = run_fg(inst)
        assert r.returncode == 1
        assert "bind 127.0.0.1:%d: Address already in use" % port in r.stderr + inst.log()
        assert inst.cmd("status").returncode == 1
    finally:
        busy.close()


def test_workers_are_restarted(instance):
    """A worker that exits is restarted; one that keeps dying at once is throttled."""
    inst = instance()
    inst.start()

    def pids_logged():
        return set(re.findall(r"process /proc/self/exe pid (\d+) (?:exit status|killed by signal)",
                              inst.log()))

    master = inst.proc.pid
    victim = None
    for _ in range(200):
        for p in children(master):
            try:
                os.kill(p, signal.SIGKILL)
                victim = p
                break
            except ProcessLookupError:
                continue
        if victim:
            break
        time.sleep(0.02)
    if victim and wait_for(lambda: "pid %d killed by signal 9" % victim in inst.log(), 10):
        # A new worker takes the killed one's place.
        assert wait_for(lambda: any(p != victim for p in children(master)), 15), inst.log()[-3000:]
    else:
        # Roles that are still stubs exit at once: the restarts are what we see.
        assert wait_for(lambda: len(pids_logged()) >= 6, 15), inst.log()[-3000:]
    if "exit status 1" in inst.log():
        # Something keeps dying at once: it is throttled, not restarted in a tight loop.
        inst.wait_log("bad command startup -- throttling for 2s")
    assert inst.proc.poll() is None
    assert inst.cmd("status").returncode == 0


def test_reload_keeps_master_and_port(instance):
    inst = instance()
    inst.start()
    pid = inst.proc.pid
    failures = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", inst.port), timeout=2).close()
            except OSError as e:
                failures.append(str(e))
            time.sleep(0.01)

    t = threading.Thread(target=hammer)
    t.start()
    try:
        for _ in range(3):
            r = inst.cmd("reload")
            assert r.returncode == 0, r.stderr
            time.sleep(0.3)
        inst.wait_log("reload -- version")
    finally:
        stop.set()
        t.join()
    assert failures == []
    assert inst.proc.poll() is None
    assert "PID: %d" % pid in inst.cmd("status").stdout

    # A broken configuration is refused by `yubin reload` and the master keeps running.
    inst.params["smtpd_recipient_limit"] = "lots"
    inst.write_config()
    r = inst.cmd("reload")
    assert r.returncode == 1
    assert "smtpd_recipient_limit: bad numerical value" in r.stderr
    # Even if the master is signalled directly, it keeps the old configuration.
    os.kill(pid, signal.SIGHUP)
    inst.wait_log("keeping the running configuration")
    assert inst.proc.poll() is None
    socket.create_connection(("127.0.0.1", inst.port), timeout=2).close()


def test_reload_moves_a_listener(instance):
    inst = instance()
    inst.start()
    new_port = free_port()
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "qmgr      unix n - n 300 1 qmgr\n" % new_port)
    inst.write_config()
    assert inst.cmd("reload").returncode == 0
    assert wait_port(new_port)
    assert wait_for(lambda: not _accepts(inst.port), 10)
    assert not os.path.exists(os.path.join(inst.queue, "private", "virtual"))
    inst.port = new_port


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_queue_tree_and_sockets(instance):
    inst = instance()
    inst.start()
    for d in ("journal", "deferred", "hold", "maildrop", "private", "public", "pid"):
        assert os.path.isdir(os.path.join(inst.queue, d)), d
    st = os.stat(os.path.join(inst.queue, "private", "virtual"))
    assert oct(st.st_mode & 0o777) == oct(0o600)
    st = os.stat(os.path.join(inst.queue, "public", "pickup"))
    assert oct(st.st_mode & 0o777) == oct(0o666)
    if os.geteuid() == 0:
        import pwd
        assert st.st_uid == pwd.getpwnam(inst.mail_owner).pw_uid
    with open(os.path.join(inst.queue, "pid", "master.pid")) as f:
        assert int(f.read()) == inst.proc.pid


def test_check_reports_tables_with_file_and_line(instance):
    inst = instance(main={
        "virtual_alias_maps": "hash:/nonexistent/virtual",
        "smtpd_recipient_restrictions": "check_recipient_access texthash:/nonexistent/access, permit",
    })
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 1
    out = r.stdout + r.stderr
    assert "virtual_alias_maps: hash:/nonexistent/virtual: open /nonexistent/virtual.lmdb" in out
    assert "run yubin map hash:/nonexistent/virtual" in out
    assert "main.cf:" in out
    assert "check_recipient_access texthash:/nonexistent/access" in out
    # A missing table does not stop the mail system: lookups that need it defer.
    assert "would start" in out
    inst.start()
    assert inst.cmd("status").returncode == 0


def test_processes_show_their_role(server):
    """ps, top and pidof show each worker's role as Postfix's do
    ("smtpd -n smtp -t inet ..."), not "exe"; the config directory stays in
    the command line so instances can be told apart."""
    def mine():
        out = subprocess.run(["ps", "-eo", "comm=,args="], capture_output=True, text=True).stdout
        return [l.strip() for l in out.splitlines() if server.dir in l]

    def comms():
        return {l.split(None, 1)[0] for l in mine()}
    # a worker names itself once it has read its configuration
    wait_for(lambda: {"smtpd", "qmgr", "virtual", "local"} <= comms() and "exe" not in comms())
    assert {"smtpd", "qmgr", "virtual", "local"} <= comms(), mine()
    assert "exe" not in comms(), mine()
    lines = mine()
    assert any(l.split(None, 1)[1].startswith("smtpd -n 127.0.0.1:%d -t inet -c %s"
                                               % (server.port, server.dir)) for l in lines), lines
    assert any(l.split(None, 1)[1].startswith("qmgr -n qmgr -t unix -c ") for l in lines), lines
    pids = subprocess.run(["pidof", "qmgr"], capture_output=True, text=True).stdout.split()
    assert pids, "pidof qmgr found nothing"
