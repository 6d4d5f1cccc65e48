"""
The real Dovecot (Debian's dovecot-core, driven through doveadm with a
private configuration) and yubin's lib-storage on the same Maildir, in
both orders: UIDs, UIDVALIDITY, flags and keywords agree, so a Maildir
moves between the two servers without new UIDs.

yubin's side is the unit test binary in its helper mode
(build/tests/test_mailbox --list MAILDIR [FOLDER] prints "uidvalidity V
uidnext N" and "uid flags [keywords] :basename" lines; --store sets
flags), run as the same unprivileged user as doveadm.
"""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HELPER = os.path.join(ROOT, "build", "tests", "test_mailbox")
NOBODY = 65534
IS_ROOT = os.geteuid() == 0

# STORAGE_FLAG_* bits (storage.h) and Dovecot's names for them
FLAGS = {0x01: "\\Answered", 0x02: "\\Flagged", 0x04: "\\Deleted", 0x08: "\\Seen", 0x10: "\\Draft"}

pytestmark = pytest.mark.skipif(shutil.which("doveadm") is None, reason="doveadm not installed")


class Pair:
    """A Maildir in a private directory, with doveadm and the helper both pointed at it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="yubin-dovecot-")
        os.chmod(self.dir, 0o755)
        self.maildir = os.path.join(self.dir, "Maildir")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        for sub in ("run", "home"):
            os.makedirs(os.path.join(self.dir, sub))
        uid = NOBODY if IS_ROOT else os.geteuid()
        gid = NOBODY if IS_ROOT else os.getegid()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""base_dir = {self.dir}/run
state_dir = {self.dir}/run
log_path = {self.dir}/dovecot.log
mail_location = maildir:{self.maildir}
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = 0
first_valid_gid = 0
ssl = no
protocols =
namespace inbox {{
  inbox = yes
  separator = .
}}
""")
        self.helper = os.path.join(self.dir, "test_mailbox")
        shutil.copy(HELPER, self.helper)
        os.chmod(self.helper, 0o755)
        if IS_ROOT:
            self.chown()

    def chown(self):
        for top, dirs, files in os.walk(self.dir):
            for n in dirs + files:
                os.lchown(os.path.join(top, n), NOBODY, NOBODY)
        os.lchown(self.dir, NOBODY, NOBODY)

    def run(self, argv, stdin=None):
        if IS_ROOT:
            argv = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                    "env", f"HOME={self.dir}/home", "USER=nobody"] + argv
        r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
        # Dovecot complains on stderr about a uidlist or Maildir it finds broken
        assert "Error" not in r.stderr and "Warning" not in r.stderr, (argv, r.stderr)
        return r.stdout

    def doveadm(self, *args, stdin=None):
        return self.run(["doveadm", "-c", self.conf] + list(args), stdin=stdin)

    def dovecot_view(self, folder="INBOX"):
        """{basename: (uid, set of flags and keywords)} and UIDVALIDITY, as Dovecot sees it."""
        out = self.doveadm("-f", "tab", "fetch", "uid guid flags", "mailbox", folder, "ALL")
        msgs = {}
        for line in out.splitlines()[1:]:
            uid, guid, flags = line.split("\t")
            msgs[guid] = (int(uid), set(flags.split()) - {"\\Recent"})
        st = self.doveadm("mailbox", "status", "uidvalidity", folder)
        return msgs, int(re.search(r"uidvalidity=(\d+)", st).group(1))

    def yubin_view(self, folder="INBOX"):
        out = self.run([self.helper, "--list", self.maildir, folder])
        lines = out.splitlines()
        uidvalidity = int(lines[0].split()[1])
        msgs = {}
        for line in lines[1:]:
            head, base = line.split(" :", 1)
            parts = head.split()
            bits = int(parts[1])
            flags = {name for bit, name in FLAGS.items() if bits & bit} | set(parts[2:])
            msgs[base] = (int(parts[0]), flags)
        return msgs, uidvalidity

    def put(self, sub, name, body):
        path = os.path.join(self.maildir, sub, name)
        with open(path, "w") as f:
            f.write(body)
        if IS_ROOT:
            os.lchown(path, NOBODY, NOBODY)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def pair():
    if not os.path.exists(HELPER):
        subprocess.run(["make", "-C", ROOT, "build/tests/test_mailbox"], check=True,
                       capture_output=True)
    p = Pair()
    yield p
    p.cleanup()


def message(i):
    return f"From: a@example.org\nSubject: message {i}\n\nbody {i}\n"


def test_dovecot_first_then_yubin(pair):
    """Dovecot numbers the messages and sets keywords; yubin shows the same UIDs and flags."""
    for i in range(3):
        pair.put("new", f"170000000{i}.M{i}P1.other", message(i))
    pair.put("cur", "1700000009.M9P1.other:2,S", message(9))
    pair.doveadm("flags", "add", "\\Flagged $Label1 project", "mailbox", "INBOX", "uid", "2")
    pair.doveadm("flags", "add", "\\Answered", "mailbox", "INBOX", "uid", "4")
    dove, dove_uv = pair.dovecot_view()
    assert len(dove) == 4
    mine, my_uv = pair.yubin_view()
    assert my_uv == dove_uv
    assert mine == dove
    # and Dovecot still agrees after yubin moved new/ to cur/ and rewrote the uidlist
    again, uv = pair.dovecot_view()
    assert uv == dove_uv and again == dove


def test_yubin_first_then_dovecot(pair):
    """yubin numbers the messages and writes dovecot-uidlist; Dovecot keeps those UIDs."""
    for i in range(5):
        pair.put("new", f"17000000{i:02d}.M{i}P2.mta,S={len(message(i))}", message(i))
    pair.put("cur", "1700000099.M99P2.mta:2,FS", message(99))
    mine, my_uv = pair.yubin_view()
    assert sorted(u for u, _ in mine.values()) == [1, 2, 3, 4, 5, 6]
    dove, dove_uv = pair.dovecot_view()
    assert dove_uv == my_uv
    assert dove == mine
    # yubin changes flags; Dovecot sees them on the same UID
    pair.run([pair.helper, "--store", pair.maildir, "INBOX", "3", "12"])   # \Seen \Deleted
    dove, _ = pair.dovecot_view()
    by_uid = {u: f for u, f in dove.values()}
    assert by_uid[3] == {"\\Seen", "\\Deleted"}


def test_both_deliver_and_agree(pair):
    """Messages saved by Dovecot and found by yubin, and the other way round, keep one UID each."""
    pair.put("new", "1700000000.M1P3.mta", message(1))
    mine, uv = pair.yubin_view()
    pair.doveadm("save", "-m", "INBOX", stdin=message(2))
    pair.put("new", "1700000003.M3P3.mta", message(3))
    dove, dove_uv = pair.dovecot_view()
    mine, my_uv = pair.yubin_view()
    assert uv == my_uv == dove_uv
    assert mine == dove
    assert sorted(u for u, _ in mine.values()) == [1, 2, 3]


def test_folders_and_subscriptions(pair):
    """Folders created by Dovecot are yubin's folders; the subscriptions file is shared."""
    pair.doveadm("mailbox", "create", "-s", "Work.Sub")
    pair.doveadm("mailbox", "create", "Entwürfe")
    pair.doveadm("save", "-m", "Work.Sub", stdin=message(1))
    with open(os.path.join(pair.maildir, "subscriptions")) as f:
        assert f.read() == "V\t2\n\nWork\tSub\n"
    assert os.path.exists(os.path.join(pair.maildir, ".Entw&APw-rfe", "maildirfolder"))
    dove, dove_uv = pair.dovecot_view("Work.Sub")
    mine, my_uv = pair.yubin_view("Work.Sub")
    assert my_uv == dove_uv and mine == dove


def test_concurrent_with_dovecot(pair):
    """Dovecot and yubin syncing the same folder at the same time, mail arriving: one UID per message."""
    for round_ in range(15):
        for i in range(4):
            pair.put("new", f"1700001{round_:02d}{i}.M{i}P4.mta", message(i))
        argv_d = ["doveadm", "-c", pair.conf, "fetch", "uid", "mailbox", "INBOX", "ALL"]
        argv_y = [pair.helper, "--list", pair.maildir]
        if IS_ROOT:
            pre = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                   "env", f"HOME={pair.dir}/home", "USER=nobody"]
            argv_d, argv_y = pre + argv_d, pre + argv_y
        procs = [subprocess.Popen(a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for a in (argv_d, argv_y, argv_y)]
        for p in procs:
            _, err = p.communicate(timeout=60)
            assert p.returncode == 0, err
            assert b"Error" not in err and b"Warning" not in err, err
    dove, dove_uv = pair.dovecot_view()
    mine, my_uv = pair.yubin_view()
    assert len(dove) == 60
    assert my_uv == dove_uv
    assert mine == dove
    assert sorted(u for u, _ in mine.values()) == list(range(1, 61))


def test_expunge_and_copy_both_ways(pair):
    """Expunges and copies by one server are seen by the other with the same UIDs."""
    for i in range(4):
        pair.put("new", f"17000020{i}.M{i}P5.mta", message(i))
    pair.doveadm("mailbox", "create", "Archive")
    mine, _ = pair.yubin_view()
    # yubin expunges UID 2; Dovecot no longer has it
    pair.run([pair.helper, "--store", pair.maildir, "INBOX", "2", "4"])
    assert pair.run([pair.helper, "--expunge", pair.maildir, "INBOX"]).split() == ["2"]
    dove, _ = pair.dovecot_view()
    assert sorted(u for u, _ in dove.values()) == [1, 3, 4]
    # Dovecot expunges UID 3; yubin no longer has it, and keeps the others' UIDs
    pair.doveadm("expunge", "mailbox", "INBOX", "uid", "3")
    mine, _ = pair.yubin_view()
    assert sorted(u for u, _ in mine.values()) == [1, 4]
    # yubin copies UID 4 into Archive (COPYUID's UID 1); Dovecot agrees, then copies UID 1
    assert pair.run([pair.helper, "--copy", pair.maildir, "INBOX", "Archive", "4"]).split() == ["1"]
    pair.doveadm("copy", "Archive", "mailbox", "INBOX", "uid", "1")
    dove, dove_uv = pair.dovecot_view("Archive")
    mine, my_uv = pair.yubin_view("Archive")
    assert my_uv == dove_uv and mine == dove
    assert sorted(u for u, _ in mine.values()) == [1, 2]
