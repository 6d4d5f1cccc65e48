"""Helpers of the LMTP server and `yubin deliver` tests: an instance with
users in a passwd-file userdb (homes with a Maildir, as the guides lay
them out), a raw LMTP client, reading a user's folders."""
import os
import pwd
import socket
import time

from conftest import wait_for

USERS = ("alice", "bob", "dave")


def lda_instance(instance, tmp_path, main=None, master_extra="", lmtp_inet=None):
    """yubin with the auth service (passwd-file users alice, bob, dave in
    example.test, homes under <base>/home), mail_location ~/Maildir, an
    lmtpd on private/dovecot-lmtp (and on 127.0.0.1:lmtp_inet)."""
    home = tmp_path / "home"
    os.makedirs(home, exist_ok=True)
    os.chmod(home, 0o755)
    inst = instance()
    uid, gid = inst.vuid, inst.vgid
    lines = []
    for u in USERS:
        h = home / u
        os.makedirs(h, exist_ok=True)
        os.chown(h, uid, gid)
        lines.append("%s@example.test:{PLAIN}pw-%s:%d:%d::%s::\n" % (u, u, uid, gid, h))
    users = tmp_path / "users"
    users.write_text("".join(lines))
    os.chmod(users, 0o644)
    inst.params.update({
        "auth_passdb": "passwd-file:%s" % users,
        "mail_location": "maildir:~/Maildir",
        "first_valid_uid": "1" if uid else "0",
        "mail_uid": str(uid), "mail_gid": str(gid), "recipient_delimiter": "+",
    })
    inst.params.update(main or {})
    extra = ("auth unix - - n - 1 auth\n"
             "dovecot-lmtp unix - n n - - lmtpd\n")
    if lmtp_inet:
        extra += "127.0.0.1:%d inet n n n - - lmtpd\n" % lmtp_inet
    inst.master_extra = extra + master_extra
    inst.home = str(home)
    inst.lmtp_socket = os.path.join(inst.queue, "private", "dovecot-lmtp")
    return inst


def folder(inst, user, name="INBOX", sub="new"):
    """Messages (bytes) in a user's folder, sorted by file name."""
    root = os.path.join(inst.home, user, "Maildir")
    d = os.path.join(root if name == "INBOX" else os.path.join(root, "." + name), sub)
    if not os.path.isdir(d):
        return []
    out = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            out.append(fh.read())
    return out


def folder_names(inst, user, name="INBOX", sub="cur"):
    root = os.path.join(inst.home, user, "Maildir")
    d = os.path.join(root if name == "INBOX" else os.path.join(root, "." + name), sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def wait_folder(inst, user, n, name="INBOX", sub="new", timeout=15.0):
    wait_for(lambda: len(folder(inst, user, name, sub)) >= n, timeout)
    msgs = folder(inst, user, name, sub)
    assert len(msgs) >= n, "expected %d in %s/%s, found %d\n%s" % (
        n, user, name, len(msgs), inst.log()[-4000:])
    return msgs


def sieve_script(inst, user, text):
    path = os.path.join(inst.home, user, ".dovecot.sieve")
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, inst.vuid, inst.vgid)
    return path


def set_quota(inst, user, limit_bytes):
    root = os.path.join(inst.home, user, "Maildir")
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
        os.chown(os.path.join(root, sub), inst.vuid, inst.vgid)
    os.chmod(root, 0o700)                         # only the owner reads it (lmtpd switches)
    path = os.path.join(root, "maildirsize")
    with open(path, "w") as f:
        f.write("%dS\n0 0\n" % limit_bytes)
    os.chown(path, inst.vuid, inst.vgid)


class LMTP:
    """A byte-exact LMTP client over a UNIX socket or TCP."""

    def __init__(self, where, timeout=15):
        if isinstance(where, int):
            self.sock = socket.create_connection(("127.0.0.1", where), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(where)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; have %r" % self.buf)
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode()

    def reply(self):
        """One (possibly multi-line) reply: (code, [texts])."""
        texts = []
        while True:
            l = self.line()
            texts.append(l[4:])
            if l[3:4] != "-":
                return int(l[:3]), texts

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def close(self):
        self.sock.close()


def wait_socket(path, timeout=15.0):
    assert wait_for(lambda: os.path.exists(path), timeout), path


def wait_ready(inst):
    wait_socket(inst.lmtp_socket)
    inst.wait_log("auth service ready")


def message(subject="test", body="hello\r\n", sender="carol@client.test", extra=""):
    return ("From: <%s>\r\nTo: <alice@example.test>\r\nSubject: %s\r\n"
            "Message-ID: <%f@client.test>\r\n%s\r\n%s" % (sender, subject, time.time(), extra,
                                                           body))


def vmail_name():
    return pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "vmail"
