"""
A private Dovecot (Debian's dovecot-imapd) for the IMAP tests and the IMAP
benchmark: its own dovecot.conf in a directory of its own, listening only on
127.0.0.1 on free high ports, logging to a file, with passwd-file users whose
mail is the Maildir the caller names. Never touches the system Dovecot.

    dc = PrivateDovecot(base_dir, maildir=".../Maildir").start()
    dc.imap_port, dc.user, dc.password          # LOGIN with these
    dc.doveadm("mailbox", "list", "-u", dc.user)
    dc.stop()

As root the mail is served as `vmail` (Dovecot refuses mail access as uid 0);
as an ordinary user everything (login, internal and mail processes) runs as
that user. The caller's Maildir is chowned to the mail user when it exists.
"""
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
IMAP_BINARY = "/usr/lib/dovecot/imap"
IS_ROOT = os.geteuid() == 0


def available():
    """True when Dovecot with its IMAP server (dovecot-imapd) is installed."""
    return os.path.exists(DOVECOT) and os.path.exists(IMAP_BINARY)


def _free_port():
    from ports import free_port
    return free_port()


def _open_path(path):
    """Make every directory above path traversable by the unprivileged
    Dovecot processes (pytest makes /tmp/pytest-of-root mode 0700)."""
    up = os.path.dirname(os.path.abspath(path))
    while IS_ROOT and up not in ("/", ""):
        if os.path.isdir(up):
            os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)


class PrivateDovecot:
    """One Dovecot instance under `base`; users: {name: (password, maildir[, "userdb_x=y ..."])}."""

    def __init__(self, base, maildir=None, users=None, protocols="imap", extra_conf=""):
        self.base = os.path.abspath(str(base))
        os.makedirs(self.base, exist_ok=True)
        _open_path(os.path.join(self.base, "x"))
        os.chmod(self.base, 0o755)
        self.run_dir = os.path.join(self.base, "run")
        self.state_dir = os.path.join(self.base, "state")
        self.logfile = os.path.join(self.base, "dovecot.log")
        self.conf = os.path.join(self.base, "dovecot.conf")
        self.users_file = os.path.join(self.base, "users")
        self.protocols = protocols
        self.extra_conf = extra_conf
        self.imap_port = _free_port()
        self.pop3_port = _free_port()
        self.lmtp_port = _free_port()
        if IS_ROOT:
            mail = pwd.getpwnam("vmail")
            self.internal_user, self.login_user = "dovecot", "dovenull"
        else:
            mail = pwd.getpwuid(os.getuid())
            self.internal_user = self.login_user = mail.pw_name
        self.mail_uid, self.mail_gid = mail.pw_uid, mail.pw_gid
        if users is None:
            users = {"testuser@example.test": ("testpass", maildir or os.path.join(self.base, "Maildir"))}
        self.users = dict(users)
        self.user = next(iter(self.users))
        self.password = self.users[self.user][0]
        self.maildir = self.users[self.user][1]
        self.proc = None

    # --- configuration -------------------------------------------------
    def _write_users(self):
        lines = []
        for name, entry in self.users.items():
            password, maildir = entry[0], entry[1]
            extra = (" " + entry[2]) if len(entry) > 2 else ""   # more userdb fields
            home = os.path.dirname(os.path.abspath(maildir))
            # user:password:uid:gid:gecos:home:shell:extra userdb fields
            lines.append("%s:{PLAIN}%s:%d:%d::%s::userdb_mail=maildir:%s%s\n"
                         % (name, password, self.mail_uid, self.mail_gid, home,
                            os.path.abspath(maildir), extra))
            self.prepare_maildir(maildir)
        with open(self.users_file, "w") as f:
            f.writelines(lines)
        os.chmod(self.users_file, 0o644)

    def prepare_maildir(self, maildir):
        """Create (if missing) and hand the Maildir and its parent to the mail user."""
        for d in (os.path.dirname(os.path.abspath(maildir)), maildir):
            os.makedirs(d, exist_ok=True)
        _open_path(maildir)
        if IS_ROOT:
            self.chown_tree(os.path.dirname(os.path.abspath(maildir)))

    def chown_tree(self, top):
        if not IS_ROOT:
            return
        os.chown(top, self.mail_uid, self.mail_gid)
        for root, dirs, files in os.walk(top):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), self.mail_uid, self.mail_gid)

    def config_text(self):
        listeners = [
            "service imap-login {",
            "  inet_listener imap {", "    address = 127.0.0.1", "    port = %d" % self.imap_port, "  }",
            "  inet_listener imaps {", "    port = 0", "  }",
            "}",
            "service pop3-login {",
            "  inet_listener pop3 {", "    address = 127.0.0.1", "    port = %d" % self.pop3_port, "  }",
            "  inet_listener pop3s {", "    port = 0", "  }",
            "}",
            "service lmtp {",
            "  inet_listener lmtp {", "    address = 127.0.0.1", "    port = %d" % self.lmtp_port, "  }",
            "}",
            "service imap-urlauth-login {", "  inet_listener imap-urlauth {", "    port = 0", "  }", "}",
            "service managesieve-login {", "  inet_listener sieve {", "    port = 0", "  }", "}",
        ]
        return "\n".join([
            "base_dir = " + self.run_dir,
            "state_dir = " + self.state_dir,
            "log_path = " + self.logfile,
            "info_log_path = " + self.logfile,
            "protocols = " + self.protocols,
            "listen = 127.0.0.1",
            "ssl = no",
            "disable_plaintext_auth = no",
            "auth_mechanisms = plain login",
            "auth_failure_delay = 0",
            "default_internal_user = " + self.internal_user,
            "default_login_user = " + self.login_user,
            "first_valid_uid = %d" % min(self.mail_uid, 1000) if self.mail_uid else "first_valid_uid = 0",
            "mail_privileged_group =",
            "mail_location = maildir:~/Maildir",
            "namespace inbox {", "  inbox = yes", "}",
            "passdb {", "  driver = passwd-file", "  args = " + self.users_file, "}",
            "userdb {", "  driver = passwd-file", "  args = " + self.users_file, "}",
            # Tests open many short sessions from one address.
            "mail_max_userip_connections = 1000",
            "service imap-login {", "  service_count = 0", "  process_min_avail = 1", "}",
        ] + listeners + [self.extra_conf, ""])

    # --- running -------------------------------------------------------
    def start(self, timeout=30.0):
        for d in (self.run_dir, self.state_dir):
            os.makedirs(d, exist_ok=True)
        self._write_users()
        with open(self.conf, "w") as f:
            f.write(self.config_text())
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                     stdout=open(os.path.join(self.base, "stderr.log"), "w"),
                                     stderr=subprocess.STDOUT)
        if not self._wait_banner(timeout):
            out = self.log()[-3000:]
            self.stop()
            raise AssertionError("Dovecot did not start on %d:\n%s" % (self.imap_port, out))
        return self

    def _wait_banner(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.imap_port), timeout=2) as s:
                    if s.recv(200).startswith(b"* OK"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def doveadm(self, *args, check=True, timeout=60):
        """Run doveadm against this instance's configuration."""
        r = subprocess.run([DOVEADM, "-c", self.conf] + list(args), capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("doveadm %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                                   r.stdout, r.stderr))
        return r

    def log(self):
        text = ""
        for p in (self.logfile, os.path.join(self.base, "stderr.log")):
            try:
                with open(p, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
