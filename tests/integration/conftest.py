"""
Integration test harness: a yubin instance in a temporary directory on
loopback high ports, driven by real clients.

Fixtures:
  yubin_bin   path of the binary under test ($YUBIN, default build-asan/yubin)
  instance    a factory: instance(main={...}, master_extra="...") -> Instance,
              not started; call .start() (set .nofile first to start yubin
              with that RLIMIT_NOFILE). Stopped (and checked for sanitizer
              reports) at the end of the test.
"""
import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
YUBIN = os.environ.get("YUBIN", os.path.join(ROOT, "build-asan", "yubin"))
IS_ROOT = os.geteuid() == 0


from ports import free_port  # noqa: E402,F401  (re-exported to the tests)


def wait_port(port, timeout=30.0, host="127.0.0.1"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(pred, timeout=30.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


class Instance:
    """One yubin configuration directory with its queue, mailboxes and log."""

    def __init__(self, base, main=None, master=None, master_extra="", run_as=None):
        self.base = str(base)
        # run_as: as root, start this instance as that ordinary user instead,
        # in single-user mode (as `make run` by a normal user does).
        self.run_as = pwd.getpwnam(run_as) if run_as and IS_ROOT else None
        # Workers run as mail_owner: every directory above the instance must be
        # searchable by it (pytest makes /tmp/pytest-of-root mode 0700).
        up = os.path.dirname(self.base)
        while IS_ROOT and up not in ("/", "/tmp", ""):
            if os.path.isdir(up):
                os.chmod(up, os.stat(up).st_mode | 0o011)
            up = os.path.dirname(up)
        os.makedirs(self.base, exist_ok=True)
        os.chmod(self.base, 0o755)
        self.dir = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.mail = os.path.join(self.base, "mail")
        self.logfile = os.path.join(self.base, "yubin.log")
        for d in (self.dir, self.mail):
            os.makedirs(d, exist_ok=True)
            os.chmod(d, 0o755)
        self.port = free_port()
        self.proc = None
        if self.run_as:
            self.mail_owner = self.run_as.pw_name
            self.vuid, self.vgid = self.run_as.pw_uid, self.run_as.pw_gid
        elif IS_ROOT:
            self.mail_owner = "yubin"
            vmail = pwd.getpwnam("vmail")
            self.vuid, self.vgid = vmail.pw_uid, vmail.pw_gid
            os.chown(self.mail, self.vuid, self.vgid)
        else:
            self.mail_owner = pwd.getpwuid(os.getuid()).pw_name
            self.vuid, self.vgid = os.getuid(), os.getgid()
        self.params = {
            "queue_directory": self.queue,
            "data_directory": os.path.join(self.base, "data"),
            "mail_owner": self.mail_owner,
            "myhostname": "mx.example.test",
            "mydomain": "example.test",
            "mydestination": "$myhostname, localhost",
            "mynetworks": "127.0.0.0/8",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "maillog_file": self.logfile,
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "inline:{ {alice@example.test=example.test/alice/}, "
                                    "{bob@example.test=example.test/bob/} }",
            "virtual_uid_maps": "static:%d" % self.vuid,
            "virtual_gid_maps": "static:%d" % self.vgid,
            "virtual_minimum_uid": "1" if self.vuid else "0",
            "smtpd_error_sleep_time": "0",
            "alias_maps": "texthash:" + os.path.join(self.dir, "aliases"),
            "alias_database": "texthash:" + os.path.join(self.dir, "aliases"),
        }
        if main:
            self.params.update(main)
        self.master = master
        self.master_extra = master_extra
        self.nofile = None  # RLIMIT_NOFILE (soft = hard) to start yubin with; None: inherited

    # --- configuration -------------------------------------------------
    def write_config(self):
        aliases = os.path.join(self.dir, "aliases")
        if not os.path.exists(aliases):
            with open(aliases, "w") as f:
                f.write("postmaster: root\nabuse: postmaster\n")
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))
        master = self.master
        if master is None:
            master = (
                "127.0.0.1:%d inet n - n - - smtpd\n"
                "qmgr      unix n - n 300 1 qmgr\n"
                "virtual   unix - n n - - virtual\n"
                "local     unix - n n - - local\n"
                "pickup    unix n - n 60 1 pickup\n" % self.port
            )
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(master + self.master_extra)
        if self.run_as:
            subprocess.run(["chown", "-R", "%d:%d" % (self.run_as.pw_uid, self.run_as.pw_gid),
                            self.base], check=True)

    def as_user(self):
        """Command prefix that runs yubin as the instance's user (run_as)."""
        if not self.run_as:
            return []
        return ["setpriv", "--reuid=%d" % self.run_as.pw_uid,
                "--regid=%d" % self.run_as.pw_gid, "--clear-groups"]

    def path(self, name):
        return os.path.join(self.dir, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    # --- running -------------------------------------------------------
    def cmd(self, *args, check=False, input=None, timeout=60):
        r = subprocess.run(self.as_user() + [YUBIN, "-c", self.dir] + list(args), capture_output=True,
                           text=True, input=input, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("yubin %s failed (%d): %s%s" % (" ".join(args), r.returncode,
                                                                  r.stdout, r.stderr))
        return r

    def start(self, wait=True):
        self.write_config()
        started = self._count_in(self.logfile, "daemon started")
        stderr_path = os.path.join(self.base, "stderr.log")
        self.stderr = open(stderr_path, "w")
        limit = None
        if self.nofile is not None:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen(self.as_user() + [YUBIN, "-c", self.dir, "start-fg"],
                                     stdout=self.stderr, stderr=subprocess.STDOUT,
                                     preexec_fn=limit)

        def up():
            return (self._count_in(self.logfile, "daemon started") > started or
                    self._count_in(stderr_path, "daemon started") > 0)
        # The port opens as soon as smtpd runs; "daemon started" comes once every
        # socket (qmgr's too, for `yubin queue`) is there.
        if wait and not (wait_port(self.port) and wait_for(up)):
            self.stop(check=False)
            raise AssertionError("yubin did not start on %d:\n%s" % (self.port, self.output()))
        return self

    @staticmethod
    def _count_in(path, text):
        try:
            with open(path, errors="replace") as f:
                return f.read().count(text)
        except OSError:
            return 0

    def stop(self, check=True):
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
        self.stderr.close()
        if check:
            self.assert_clean()

    def kill9(self):
        """Kill the whole process group hard: the crash case."""
        subprocess.run(["pkill", "-9", "-f", "-c", self.dir], capture_output=True)
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            self.stderr.close()
        # SIGKILL is delivered asynchronously: a worker still holding a listening
        # socket for a moment would make the next start fail with EADDRINUSE.
        wait_for(lambda: subprocess.run(["pgrep", "-f", self.dir], capture_output=True)
                 .returncode != 0, 10)

    def output(self):
        text = ""
        for p in (os.path.join(self.base, "stderr.log"), self.logfile):
            if os.path.exists(p):
                with open(p, errors="replace") as f:
                    text += f.read()
        return text

    def log(self):
        return self.output()

    def assert_clean(self):
        out = self.output()
        for m in SANITIZER_MARKERS:
            assert m not in out, "sanitizer report in yubin output:\n" + out[-8000:]

    # --- mailboxes -----------------------------------------------------
    def maildir(self, rel):
        """Messages in <mail>/<rel>/new, sorted, as bytes."""
        d = os.path.join(self.mail, rel, "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out

    def wait_maildir(self, rel, n, timeout=30.0):
        got = wait_for(lambda: len(self.maildir(rel)) >= n, timeout)
        msgs = self.maildir(rel)
        assert len(msgs) >= n, "expected %d messages in %s, found %d\n%s" % (
            n, rel, len(msgs), self.log()[-4000:])
        return msgs

    def wait_log(self, text, timeout=30.0):
        ok = wait_for(lambda: text in self.log(), timeout)
        assert ok, "log never showed %r:\n%s" % (text, self.log()[-4000:])


@pytest.fixture
def yubin_bin():
    assert os.path.exists(YUBIN), "binary under test missing: " + YUBIN
    return YUBIN


@pytest.fixture
def instance(tmp_path, yubin_bin):
    made = []

    def factory(**kw):
        inst = Instance(tmp_path / ("i%d" % len(made)), **kw)
        made.append(inst)
        return inst

    yield factory
    for inst in made:
        inst.stop()


class RawSMTP:
    """A byte-exact SMTP client for what smtplib cannot send (pipelining
    on one write, BDAT, bare LFs, smuggling attempts)."""

    def __init__(self, port, host="127.0.0.1", timeout=10, source=None):
        # source: a local address to connect from (127.0.0.2 is another client)
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """One complete (possibly multi-line) reply: (code, [texts])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed; got %r" % (self.buf,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", "replace")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def closed(self, timeout=5):
        """True if the server closes the connection (after any pending replies)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except OSError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


@pytest.fixture
def server(instance):
    """A started default instance (alice and bob have virtual Maildirs)."""
    return instance().start()


class PostfixPeer:
    """A real Postfix (Debian package) in its own config directory on a
    loopback port: the interop peer. Needs root (Postfix insists)."""

    def __init__(self, base, main=None, master_extra=""):
        self.base = str(base)
        self.etc = os.path.join(self.base, "etc")
        self.queue = os.path.join(self.base, "queue")
        self.data = os.path.join(self.base, "data")
        self.mail = os.path.join(self.base, "mail")
        self.logfile = os.path.join(self.base, "maillog")
        for d in (self.etc, self.queue, self.data, self.mail):
            os.makedirs(d, exist_ok=True)
        up = self.base
        while up not in ("/", "/tmp", ""):
            os.chmod(up, os.stat(up).st_mode | 0o011)
            up = os.path.dirname(up)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, -1)
        vmail = pwd.getpwnam("vmail")
        os.chown(self.mail, vmail.pw_uid, vmail.pw_gid)
        self.port = free_port()
        self.params = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "myhostname": "peer.postfix.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "maillog_file": self.logfile,
            # Postfix refuses a log file outside these prefixes (default /var, /dev/stdout).
            "maillog_file_prefixes": "/tmp, /var, /dev/stdout",
            "virtual_mailbox_domains": "peer.test",
            "virtual_mailbox_base": self.mail,
            "virtual_mailbox_maps": "static:inbox/",
            "virtual_uid_maps": "static:%d" % vmail.pw_uid,
            "virtual_gid_maps": "static:%d" % vmail.pw_gid,
            "virtual_minimum_uid": "1",
            "smtputf8_enable": "yes",
        }
        if main:
            self.params.update(main)
        self.master_extra = master_extra
        self.proc = None

    def start(self):
        with open(os.path.join(self.etc, "main.cf"), "w") as f:
            for k, v in self.params.items():
                f.write("%s = %s\n" % (k, v))
        lines = []
        with open("/etc/postfix/master.cf") as f:
            for line in f:
                cols = line.split()
                if line[:1].isalnum() and len(cols) >= 8:
                    if cols[0] == "smtp" and cols[1] == "inet":
                        cols[0] = "127.0.0.1:%d" % self.port
                    cols[4] = "n"  # the queue is not under /var/spool/postfix: no chroot
                    line = " ".join(cols) + "\n"
                lines.append(line)
        with open(os.path.join(self.etc, "master.cf"), "w") as f:
            f.writelines(lines)
            f.write(self.master_extra)
        self.proc = subprocess.Popen(["postfix", "-c", self.etc, "start-fg"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, timeout=30):
            self.stop()
            raise AssertionError("postfix did not start:\n" + self.log()[-3000:])
        return self

    def stop(self):
        if self.proc is None:
            return
        subprocess.run(["postfix", "-c", self.etc, "stop"], capture_output=True)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, text, timeout=30.0):
        ok = wait_for(lambda: text in self.log(), timeout)
        assert ok, "postfix log never showed %r:\n%s" % (text, self.log()[-4000:])

    def maildir(self):
        d = os.path.join(self.mail, "inbox", "new")
        if not os.path.isdir(d):
            return []
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), "rb") as f:
                out.append(f.read())
        return out


@pytest.fixture
def postfix_peer(tmp_path):
    """Factory for real Postfix peers; stopped at the end of the test."""
    if not IS_ROOT or shutil.which("postfix") is None:
        pytest.skip("a real Postfix peer needs root and the postfix package")
    made = []

    def factory(**kw):
        p = PostfixPeer(tmp_path / ("postfix%d" % len(made)), **kw)
        made.append(p)
        return p

    yield factory
    for p in made:
        p.stop()
