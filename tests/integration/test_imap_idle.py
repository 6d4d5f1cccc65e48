"""IDLE in the mail worker: "+ idling", a message appended (or moved away)
by a second session shows as EXISTS (EXPUNGE) within a second or two
through inotify, "* OK Still here" every imap_idle_notify_interval, DONE
ends it with OK, anything else with BAD, and IDLE without a selected
mailbox."""
import socket
import time

from imap_mailbox import mailimap  # noqa: F401 (fixture)

MSG = b"From: a@example.test\r\nSubject: idle %d\r\n\r\nhello\r\n"


class Raw:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.line()
        self.cmd("l", "LOGIN alice@example.test alicepw")

    def line(self, timeout=10):
        self.s.settimeout(timeout)
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def cmd(self, tag, text):
        self.s.sendall(("%s %s\r\n" % (tag, text)).encode())
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(tag + " "):
                return out

    def wait_for(self, want, timeout):
        """Lines until one equals want (within timeout seconds)."""
        seen = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                l = self.line(timeout=max(0.05, deadline - time.time()))
            except socket.timeout:
                break
            seen.append(l)
            if l == want:
                return seen
        raise AssertionError("no %r within %ss: %r" % (want, timeout, seen))


def append(port, n, box="INBOX"):
    b = Raw(port)
    b.s.sendall(b"a APPEND %s {%d+}\r\n%s\r\n" % (box.encode(), len(MSG % n), MSG % n))
    while not b.line().startswith("a "):
        pass
    b.s.close()


def test_idle_sees_new_and_moved_messages(mailimap):
    mi = mailimap()
    append(mi.port, 1)
    a = Raw(mi.port)
    assert "* 1 EXISTS" in a.cmd("s", "SELECT INBOX")
    a.s.sendall(b"i IDLE\r\n")
    assert a.line() == "+ idling"
    t0 = time.time()
    append(mi.port, 2)
    a.wait_for("* 2 EXISTS", 3)
    assert time.time() - t0 < 2.5
    # another session moves message 1 away: EXPUNGE while idling
    b = Raw(mi.port)
    b.cmd("c", "CREATE Old")
    b.cmd("s", "SELECT INBOX")
    assert b.cmd("m", "UID MOVE 1 Old")[-1].startswith("m OK")
    a.wait_for("* 1 EXPUNGE", 3)
    a.s.sendall(b"DONE\r\n")
    last = a.line()
    assert last.startswith("i OK Idle completed"), last
    lines = a.cmd("n", "NOOP")
    assert lines == ["n OK NOOP completed."], lines
    lines = a.cmd("x", "UID SEARCH ALL")
    assert lines[0] == "* SEARCH 2", lines


def test_idle_keepalive_and_bad_done(mailimap):
    mi = mailimap(main={"imap_idle_notify_interval": "1s"})
    a = Raw(mi.port)
    a.cmd("s", "SELECT INBOX")
    a.s.sendall(b"i IDLE\r\n")
    assert a.line() == "+ idling"
    a.wait_for("* OK Still here", 3)
    a.wait_for("* OK Still here", 3)
    a.s.sendall(b"NOTDONE\r\n")
    assert a.line().startswith("i BAD")
    assert a.cmd("n", "NOOP")[-1] == "n OK NOOP completed."


def test_idle_without_a_mailbox(mailimap):
    mi = mailimap()
    a = Raw(mi.port)
    a.s.sendall(b"i IDLE\r\n")
    assert a.line() == "+ idling"
    a.s.sendall(b"done\r\n")
    assert a.line().startswith("i OK Idle completed")
    a.s.sendall(b"j IDLE extra\r\n")
    assert a.line().startswith("j BAD")
