"""A yubin instance serving IMAP mailboxes, for the tests of the mail
worker's commands: imapd on 127.0.0.1 (plaintext LOGIN allowed: the same
address on both ends), one user alice@example.test whose home is under
tmp_path, mail_location maildir:~/Maildir, the Maildir owned by the mail
user (vmail as root)."""
import imaplib
import os
import pwd
import re
import subprocess

import pytest

from conftest import IS_ROOT, YUBIN, free_port, wait_port


class MailIMAP:
    def __init__(self, inst, port, home, vuid, vgid):
        self.inst, self.port, self.home = inst, port, home
        self.maildir = os.path.join(home, "Maildir")
        self.vuid, self.vgid = vuid, vgid

    def login(self):
        m = imaplib.IMAP4("127.0.0.1", self.port)
        typ, _ = m.login("alice@example.test", "alicepw")
        assert typ == "OK"
        return m

    def worker_pid(self, sock):
        """The mail worker serving the client socket sock (it holds the server's end)."""
        port = sock.getsockname()[1]
        out = subprocess.run(["ss", "-tnpH", "state", "established", "( dport = :%d )" % port],
                             capture_output=True, text=True).stdout
        pids = set(int(p) for p in re.findall(r"pid=(\d+)", out))
        assert len(pids) == 1, out
        return pids.pop()


@pytest.fixture
def mailimap(instance, tmp_path):
    def make(main=None):
        if IS_ROOT:
            vuid, vgid = pwd.getpwnam("vmail").pw_uid, pwd.getpwnam("vmail").pw_gid
        else:
            vuid, vgid = os.getuid(), os.getgid()
        home = tmp_path / "home" / "alice"
        home.mkdir(parents=True)
        for d in (tmp_path, tmp_path / "home"):
            os.chmod(d, 0o755)
        os.chown(home, vuid, vgid)
        users = tmp_path / "users"
        users.write_text("alice@example.test:{PLAIN}alicepw:%d:%d::%s::\n" % (vuid, vgid, home))
        os.chmod(users, 0o644)
        port = free_port()
        params = {
            "auth_passdb": "passwd-file:%s" % users,
            "auth_failure_delay": "100ms",
            "first_valid_uid": "1" if vuid else "0",
            "mail_location": "maildir:~/Maildir",
        }
        params.update(main or {})
        extra = ("127.0.0.1:%d inet n - n - - imapd\n"
                 "auth unix - - n - 1 auth\n" % port)
        inst = instance(main=params, master_extra=extra)
        inst.start()
        assert wait_port(port)
        return MailIMAP(inst, port, str(home), vuid, vgid)
    return make
