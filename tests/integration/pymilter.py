"""A small milter server (Sendmail milter protocol 6) in plain Python, for
the milter tests: it negotiates what the test asks for, records every
packet it receives, and answers each command through a function the test
gives (continue by default). Listens on a loopback TCP port or a UNIX
socket; one thread per connection.
"""
import os
import socket
import struct
import threading

# Protocol flags and actions (libmilter's values).
NOCONNECT, NOHELO, NOMAIL, NORCPT, NOBODY, NOHDRS, NOEOH = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40
NR_HDR, NOUNKNOWN, NODATA, SKIP = 0x80, 0x100, 0x200, 0x400
NR_CONN, NR_HELO, NR_MAIL, NR_RCPT, NR_DATA, NR_UNKN, NR_EOH, NR_BODY = (
    0x1000, 0x2000, 0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000)
HDR_LEADSPC = 0x100000
ALL_ACTIONS = 0x1ff

# Which command a no-reply flag covers.
NR_OF = {b"C": NR_CONN, b"H": NR_HELO, b"M": NR_MAIL, b"R": NR_RCPT, b"T": NR_DATA,
         b"U": NR_UNKN, b"N": NR_EOH, b"B": NR_BODY, b"L": NR_HDR}


def pkt(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd + data


def strs(*parts):
    return b"".join(p.encode() + b"\0" for p in parts)


# Replies a handler may return (lists of them are sent in order).
CONTINUE = (b"c", b"")
ACCEPT = (b"a", b"")
REJECT = (b"r", b"")
TEMPFAIL = (b"t", b"")
DISCARD = (b"d", b"")
PROGRESS = (b"p", b"")
SKIP_BODY = (b"s", b"")


def replycode(text):
    return (b"y", text.encode() + b"\0")


def addheader(name, value):
    return (b"h", strs(name, value))


def insheader(index, name, value):
    return (b"i", struct.pack(">I", index) + strs(name, value))


def chgheader(index, name, value):
    return (b"m", struct.pack(">I", index) + strs(name, value))


def addrcpt(addr):
    return (b"+", strs(addr))


def addrcpt_par(addr, args=""):
    return (b"2", strs(addr, args))


def delrcpt(addr):
    return (b"-", strs(addr))


def chgfrom(addr):
    return (b"e", strs(addr))


def replbody(data):
    return (b"b", data)


def quarantine(reason):
    return (b"q", strs(reason))


HANG = "hang"      # a handler's answer: never reply
CLOSE = "close"    # close the connection without a reply


def split_strs(data):
    return [p.decode("latin-1") for p in data.split(b"\0")[:-1]]


class Milter:
    """handler(cmd, fields, conn) -> list of replies, HANG or CLOSE; cmd is
    one letter (b"M"), fields the NUL-separated strings of the packet (for
    b"B" the raw chunk), conn a dict per connection (its "macros" so far)."""

    def __init__(self, tmp_path, handler=None, proto=0, actions=ALL_ACTIONS, macros=None,
                 unix=False):
        self.handler = handler or (lambda cmd, fields, conn: [CONTINUE])
        self.proto = proto
        self.actions = actions
        self.macros = macros or {}      # stage number -> "list of macros"
        self.events = []                # (connection number, cmd, fields)
        self.lock = threading.Lock()
        self.conns = 0
        if unix:
            self.path = os.path.join(str(tmp_path), "milter-%d.sock" % id(self))
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            os.chmod(self.path, 0o777)
            self.name = "unix:" + self.path
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.name = "inet:127.0.0.1:%d" % self.sock.getsockname()[1]
        self.sock.listen(64)
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass

    def cmds(self, conn=None):
        with self.lock:
            return [(c, f) for (n, c, f) in self.events if conn is None or n == conn]

    def letters(self, conn=None):
        return b"".join(c for c, _ in self.cmds(conn) if c != b"D")

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                n = self.conns
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    @staticmethod
    def _read(c, n):
        data = b""
        while len(data) < n:
            chunk = c.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self, c, n):
        state = {"macros": {}, "number": n, "proto": 0}
        try:
            while True:
                (length,) = struct.unpack(">I", self._read(c, 4))
                body = self._read(c, length)
                cmd, data = body[:1], body[1:]
                fields = data if cmd == b"B" else split_strs(data)
                if cmd == b"D":
                    fields = split_strs(data[1:])
                    state["macros"].update(dict(zip(fields[0::2], fields[1::2])))
                with self.lock:
                    self.events.append((n, cmd, fields))
                if cmd == b"O":
                    state["proto"] = self.proto
                    extra = b"".join(struct.pack(">I", st) + lst.encode() + b"\0"
                                     for st, lst in self.macros.items())
                    c.sendall(pkt(b"O", struct.pack(">III", 6, self.actions, self.proto) + extra))
                    continue
                if cmd in (b"D", b"A"):
                    continue
                if cmd in (b"Q", b"K"):
                    return
                answer = self.handler(cmd, fields, state)
                if answer == CLOSE:
                    return
                if answer == HANG:
                    while c.recv(4096):
                        pass
                    return
                if NR_OF.get(cmd, 0) & self.proto:
                    continue
                for code, payload in answer:
                    c.sendall(pkt(code, payload))
        except (EOFError, OSError):
            pass
        finally:
            c.close()
