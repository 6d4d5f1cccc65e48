"""APPEND, COPY and MOVE in the mail worker: APPENDUID with flags and
INTERNALDATE, LITERAL+, MULTIAPPEND, [TRYCREATE], EXISTS when appending to
the selected mailbox, a 20 MB message streamed to disk with the worker's
memory bounded, the size limit; COPYUID and what the target holds after
COPY and MOVE, MOVE's EXPUNGEs."""
import os
import re
import socket
import time

from imap_mailbox import mailimap  # noqa: F401 (fixture)

MSG = (b"From: Alice <alice@example.test>\r\nTo: bob@example.test\r\n"
       b"Subject: hello %d\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nbody %d\r\n")


def msg(i):
    return MSG % (i, i)


def appenduid(data):
    m = re.search(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", data[0])
    assert m, data
    return int(m.group(1)), m.group(2).decode()


def files(maildir, folder=""):
    base = os.path.join(maildir, "." + folder if folder else "")
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in os.listdir(d)]
    return out


class Raw:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def until(self, tag):
        out = []
        while True:
            l = self.line()
            out.append(l)
            if l.startswith(tag + " "):
                return out

    def login(self):
        self.line()
        self.send("l LOGIN alice@example.test alicepw\r\n")
        assert self.until("l")[-1].startswith("l OK")


def test_append_flags_date_appenduid(mailimap):
    mi = mailimap()
    m = mi.login()
    typ, data = m.append("INBOX", r"(\Seen \Flagged $Work)", '"17-Jul-1996 02:44:25 -0700"', msg(1))
    assert typ == "OK", data
    uv, uid = appenduid(data)
    assert uv > 0 and uid == "1"
    typ, data = m.append("INBOX", None, None, msg(2))
    assert typ == "OK" and appenduid(data) == (uv, "2")
    fs = files(mi.maildir)
    assert len(fs) == 2
    seen = [f for f in fs if f.endswith(("FS", "Sa", "FSa")) or ":2,F" in f]
    assert seen, fs
    flagged = [f for f in fs if "/cur/" in f and ":2," in f and "F" in f.split(":2,")[1]]
    assert len(flagged) == 1
    assert int(os.stat(flagged[0]).st_mtime) == 837596665
    with open(flagged[0], "rb") as f:
        assert f.read() == msg(1)
    m.select("INBOX")
    typ, data = m.search(None, "KEYWORD", "$Work")
    assert data == [b"1"]
    typ, data = m.search(None, "SEEN")
    assert data == [b"1"]
    typ, data = m.search(None, "UNSEEN")
    assert data == [b"2"]
    m.logout()


def test_append_trycreate_and_bad_flags(mailimap):
    mi = mailimap()
    m = mi.login()
    typ, data = m.append("Nowhere", None, None, msg(1))
    assert typ == "NO" and b"[TRYCREATE]" in data[0], data
    r = Raw(mi.port)
    r.login()
    # LITERAL+: the client does not wait; the bytes are read and dropped
    r.send(b"a1 APPEND Nowhere {%d+}\r\n%s\r\n" % (len(msg(1)), msg(1)))
    assert r.until("a1")[-1].startswith("a1 NO [TRYCREATE]")
    r.send(b"a2 APPEND INBOX (\\Recent) {%d+}\r\n%s\r\n" % (len(msg(1)), msg(1)))
    assert r.until("a2")[-1].startswith("a2 BAD")
    r.send(b"a3 NOOP\r\n")
    assert r.until("a3")[-1] == "a3 OK NOOP completed."
    assert files(mi.maildir) == []


def test_append_literal_plus_and_multiappend(mailimap):
    mi = mailimap()
    r = Raw(mi.port)
    r.login()
    r.send(b"a1 CREATE Work\r\n")
    r.until("a1")
    r.send(b"a2 APPEND Work (\\Seen) {%d+}\r\n%s (\\Draft) \"01-Jan-2020 00:00:00 +0000\" {%d+}\r\n%s"
           b" {%d+}\r\n%s\r\n" % (len(msg(1)), msg(1), len(msg(2)), msg(2), len(msg(3)), msg(3)))
    last = r.until("a2")[-1]
    assert re.match(r"a2 OK \[APPENDUID \d+ 1:3\] Append completed", last), last
    # synchronizing literals: "+ OK" before each
    r.send(b"a3 APPEND Work {%d}\r\n" % len(msg(4)))
    assert r.line().startswith("+")
    r.send(msg(4) + b" {%d}\r\n" % len(msg(5)))
    assert r.line().startswith("+")
    r.send(msg(5) + b"\r\n")
    last = r.until("a3")[-1]
    assert re.match(r"a3 OK \[APPENDUID \d+ 4:5\] Append completed", last), last
    assert len(files(mi.maildir, "Work")) == 5


def test_append_to_selected_sends_exists(mailimap):
    mi = mailimap()
    r = Raw(mi.port)
    r.login()
    r.send("s SELECT INBOX\r\n")
    assert "* 0 EXISTS" in r.until("s")
    r.send(b"a1 APPEND INBOX {%d+}\r\n%s\r\n" % (len(msg(1)), msg(1)))
    lines = r.until("a1")
    assert "* 1 EXISTS" in lines and lines[-1].startswith("a1 OK [APPENDUID"), lines


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmHWM:"):
                return int(l.split()[1])
    return 0


def test_append_20mb_streamed(mailimap):
    mi = mailimap()
    r = Raw(mi.port)
    r.login()
    pid = mi.worker_pid(r.s)
    before = rss_kb(pid)
    body = (b"0123456789abcdef" * 4 + b"\r\n") * (20 * 1024 * 1024 // 66)
    data = b"Subject: big\r\n\r\n" + body + b"needle at the end\r\n"
    r.send(b"a1 APPEND INBOX {%d}\r\n" % len(data))
    assert r.line().startswith("+")
    for i in range(0, len(data), 1 << 20):
        r.send(data[i:i + (1 << 20)])
    r.send(b"\r\n")
    last = r.until("a1")[-1]
    assert last.startswith("a1 OK [APPENDUID"), last
    after = rss_kb(pid)
    assert after - before < 8 * 1024, (before, after)     # far below the message's 20 MB
    (f,) = files(mi.maildir)
    assert os.path.getsize(f) == len(data)
    r.send("s SELECT INBOX\r\nb1 SEARCH BODY \"needle at the END\"\r\nb2 SEARCH LARGER 20000000\r\n")
    lines = r.until("b2")
    assert "* SEARCH 1" in lines and lines.count("* SEARCH 1") == 2, lines


def test_append_too_large(mailimap):
    mi = mailimap()
    r = Raw(mi.port)
    r.login()
    r.send(b"a1 APPEND INBOX {999999999999}\r\n")
    last = r.until("a1")[-1]
    assert last.startswith("a1 NO [TOOBIG]"), last
    r.send(b"a2 NOOP\r\n")
    assert r.until("a2")[-1].startswith("a2 OK")


def test_copy_and_move(mailimap):
    mi = mailimap()
    m = mi.login()
    for i in range(1, 6):
        m.append("INBOX", r"(\Seen)" if i % 2 else None, None, msg(i))
    m.create("Archive")
    m.append("Archive", None, None, msg(99))
    typ, data = m.select("INBOX")
    assert data == [b"5"]
    typ, data = m.copy("2:4", "Archive")
    assert typ == "OK", data
    mm = re.search(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", data[0])
    assert mm and mm.group(2) == b"2:4" and mm.group(3) == b"2:4", data
    typ, data = m.copy("1", "Nowhere")
    assert typ == "NO" and b"[TRYCREATE]" in data[0]
    assert len(files(mi.maildir, "Archive")) == 4
    # MOVE: untagged OK [COPYUID], EXPUNGEs, then the tagged OK
    typ, data = m.uid("MOVE", "1,5", "Archive")
    assert typ == "OK", data
    assert b"COPYUID" in m.untagged_responses.get("OK", [b""])[-1], m.untagged_responses
    assert m.untagged_responses.get("EXPUNGE") in ([b"5", b"1"], [b"1", b"4"]), m.untagged_responses
    typ, data = m.search(None, "ALL")
    assert data == [b"1 2 3"]
    assert len(files(mi.maildir)) == 3 and len(files(mi.maildir, "Archive")) == 6
    m.select("Archive")
    typ, data = m.uid("SEARCH", "ALL")
    assert data == [b"1 2 3 4 5 6"]
    typ, data = m.search(None, "SEEN")
    assert data == [b"3 5 6"], data      # 3 was copied from INBOX 3, 1 and 5 moved with \Seen
    m.logout()


def test_append_mailbox_names(mailimap):
    mi = mailimap()
    r = Raw(mi.port)
    r.login()
    r.send(b"c CREATE INBOX.Sub\r\n")
    assert r.until("c")[-1].startswith("c OK")
    # "inbox.Sub" is INBOX's child whatever the case, with a streamed literal too
    r.send(b"a1 APPEND inbox.Sub {%d}\r\n" % len(msg(1)))
    assert r.line().startswith("+")
    r.send(msg(1) + b"\r\n")
    assert r.until("a1")[-1].startswith("a1 OK [APPENDUID")
    r.send(b"a2 APPEND inbox {%d+}\r\n%s\r\n" % (len(msg(2)), msg(2)))
    assert r.until("a2")[-1].startswith("a2 OK [APPENDUID")
    r.send(b"a3 APPEND \"bad&name\" {%d+}\r\n%s\r\n" % (len(msg(3)), msg(3)))
    assert r.until("a3")[-1].startswith("a3 NO"), "not mUTF-7"
    assert len(files(mi.maildir, "INBOX.Sub")) == 1 and len(files(mi.maildir)) == 1
