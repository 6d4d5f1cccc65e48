"""`yubin deliver`, the LDA: a drop-in for dovecot-lda in the guides' pipe
line (flags=DRhu user=vmail argv=... -f ${sender} -d ${recipient}), run
as the pipe's user, with dovecot-lda's exit codes, and Sieve at delivery:
fileinto, discard, reject (-e: status 77 and the reason on stderr;
without: a notice to the sender), redirect and vacation through the
queue, a broken script keeping the mail in INBOX."""
import os
import pwd
import subprocess

from conftest import YUBIN, wait_for
from mailtest import send

DELIVER_ARGS = "-f ${sender} -d ${recipient}"


def vmail():
    return pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "vmail"


def lda_instance(instance, tmp_path, main=None):
    """Every virtual recipient goes through the pipe to `yubin deliver` as vmail;
    Sieve scripts are <base>/sieve/<local part>.sieve."""
    sieve = tmp_path / "sieve"
    os.makedirs(sieve, exist_ok=True)
    os.chmod(sieve, 0o755)
    params = {"virtual_transport": "dovecot", "dovecot_destination_recipient_limit": "1",
              "sieve": "%s/%%n.sieve" % sieve, "recipient_delimiter": "+"}
    params.update(main or {})
    inst = instance(main=params, master_extra="dovecot unix - n n - - pipe flags=DRhu "
                    "user=%s argv=%s deliver -c ETC %s\n" % (vmail(), YUBIN, DELIVER_ARGS))
    inst.master_extra = inst.master_extra.replace("ETC", inst.dir)
    inst.sieve_dir = str(sieve)
    open(inst.logfile, "a").close()
    os.chmod(inst.logfile, 0o666)               # the LDA, run as vmail, logs there too
    return inst


def script(inst, user, text):
    p = os.path.join(inst.sieve_dir, user + ".sieve")
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o644)


def box(inst, user, folder=None, sub=None):
    """Messages of a folder: in new/ or cur/ (sub=None: both; the first
    delivery into a new Maildir syncs it, which moves earlier mail to cur/)."""
    root = os.path.join(inst.mail, "example.test", user)
    out = []
    for s in ([sub] if sub else ["new", "cur"]):
        d = os.path.join(root, "." + folder if folder else "", s)
        if os.path.isdir(d):
            out += [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))]
    return out


def wait_box(inst, user, n, folder=None, sub=None):
    ok = wait_for(lambda: len(box(inst, user, folder, sub)) >= n)
    assert ok, "expected %d in %s/%s\n%s" % (n, user, folder, inst.log()[-4000:])
    return box(inst, user, folder, sub)


def deliver(inst, args, msg, user=None):
    """Run `yubin deliver` directly as the mail user."""
    pw = pwd.getpwnam(user or vmail())
    pre = [] if os.getuid() else ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
                                  "--clear-groups"]
    return subprocess.run(pre + [YUBIN, "deliver", "-c", inst.dir] + args, input=msg.encode(),
                          capture_output=True, timeout=60)


MSG = "From: carol@client.test\nTo: alice@example.test\nSubject: %s\n\nhello\n"


def test_pipe_line_of_the_guides(instance, tmp_path):
    inst = lda_instance(instance, tmp_path).start()
    qid = send(inst, "carol@client.test", ["alice@example.test"], subject="via yubin deliver")
    [m] = wait_box(inst, "alice", 1)
    text = m.decode()
    assert text.startswith("Return-Path: <carol@client.test>\nDelivered-To: alice@example.test\n")
    assert text.count("Return-Path:") == 1 and text.count("Delivered-To:") == 1
    assert "Subject: via yubin deliver\n" in text
    root = os.path.join(inst.mail, "example.test", "alice")
    assert os.stat(os.path.join(root, "new")).st_uid == pwd.getpwnam(vmail()).pw_uid
    assert os.path.exists(os.path.join(root, "dovecot-uidlist"))
    inst.wait_log("%s: to=<alice@example.test>, relay=dovecot" % qid)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % qid in l][-1]
    assert "status=sent (delivered via dovecot service)" in line, line


def test_exit_codes(instance, tmp_path):
    inst = lda_instance(instance, tmp_path)
    inst.write_config()
    r = deliver(inst, ["-d", "nobody@example.test"], MSG % "x")
    assert r.returncode == 67, r                   # EX_NOUSER
    r = deliver(inst, [], MSG % "x")
    assert r.returncode == 64, r                   # EX_USAGE
    r = deliver(inst, ["-f", "carol@client.test", "-d", "alice@example.test"], MSG % "direct")
    assert r.returncode == 0, r
    [m] = box(inst, "alice")
    assert m.startswith(b"Return-Path: <carol@client.test>\n")
    # -m: the default folder (created only with lda_mailbox_autocreate; else INBOX)
    r = deliver(inst, ["-d", "alice@example.test", "-m", "Archive"], MSG % "to archive")
    assert r.returncode == 0, r
    assert len(box(inst, "alice")) == 2
    # a mailbox it cannot write: try again later
    bob = os.path.join(inst.mail, "example.test", "bob")
    os.makedirs(bob)
    os.chmod(bob, 0o500)
    r = deliver(inst, ["-d", "bob@example.test"], MSG % "x")
    assert r.returncode == 75, r                   # EX_TEMPFAIL
    os.chmod(bob, 0o700)


def test_sieve_fileinto_discard_and_broken_script(instance, tmp_path):
    inst = lda_instance(instance, tmp_path, main={"lda_mailbox_autocreate": "yes"})
    inst.write_config()
    script(inst, "alice", 'require ["fileinto", "imap4flags"];\n'
           'if header :contains "subject" "list" { fileinto :flags "\\\\Flagged" "Lists"; }\n'
           'elsif header :contains "subject" "spam" { discard; }\n')
    assert deliver(inst, ["-d", "alice@example.test"], MSG % "a list post").returncode == 0
    assert deliver(inst, ["-d", "alice@example.test"], MSG % "spam spam").returncode == 0
    assert deliver(inst, ["-d", "alice@example.test"], MSG % "plain").returncode == 0
    [flagged] = box(inst, "alice", "Lists", "cur")
    assert b"Subject: a list post" in flagged
    names = os.listdir(os.path.join(inst.mail, "example.test", "alice", ".Lists", "cur"))
    assert names[0].endswith(":2,F"), names
    [plain] = box(inst, "alice")
    assert b"Subject: plain" in plain            # the discarded one is nowhere
    script(inst, "bob", 'require "fileinto";\nfileinto "x"\nthis is broken;\n')
    r = deliver(inst, ["-d", "bob@example.test"], MSG % "to bob")
    assert r.returncode == 0, r
    [kept] = box(inst, "bob")
    assert b"Subject: to bob" in kept
    # logged to maillog_file, or to stderr when the mail user cannot write it
    logged = inst.log() + r.stderr.decode()
    assert "keeping the message in INBOX" in logged, logged[-2000:]
    assert "bob.sieve" in logged and "line 2" in logged, logged[-2000:]


def test_sieve_reject(instance, tmp_path):
    inst = lda_instance(instance, tmp_path).start()
    script(inst, "alice", 'require ["reject", "ereject"];\n'
           'if header :contains "subject" "now" { ereject "No thanks."; }\n'
           'elsif header :contains "subject" "buy" { reject "No thanks."; }\n')
    r = deliver(inst, ["-e", "-f", "carol@client.test", "-d", "alice@example.test"],
                MSG % "buy now")
    assert r.returncode == 77, r                   # EX_NOPERM: the MTA bounces
    assert b"No thanks." in r.stderr
    assert box(inst, "alice") == []
    # reject (and ereject without -e): a notice goes to the sender (bob, a local mailbox)
    r = deliver(inst, ["-e", "-f", "bob@example.test", "-d", "alice@example.test"],
                MSG % "buy more")
    assert r.returncode == 0, r
    [notice] = wait_box(inst, "bob", 1)
    assert b"Return-Path: <>" in notice and b"No thanks." in notice, notice
    assert b"Auto-Submitted: auto-replied" in notice
    assert box(inst, "alice") == []


def test_sieve_redirect_through_the_queue(instance, tmp_path):
    inst = lda_instance(instance, tmp_path).start()
    script(inst, "alice", 'redirect "bob@example.test";\n')
    qid = send(inst, "carol@client.test", ["alice@example.test"], subject="forward me")
    [fwd] = wait_box(inst, "bob", 1)
    assert b"Subject: forward me" in fwd
    assert b"Return-Path: <carol@client.test>" in fwd     # the original envelope sender
    assert box(inst, "alice") == []
    assert qid


def test_sieve_vacation_once_per_period(instance, tmp_path):
    inst = lda_instance(instance, tmp_path).start()
    script(inst, "alice", 'require "vacation";\nvacation :days 1 :subject "Away" '
           '"I am away until Monday.";\n')
    to = "To: alice@example.test\r\n"
    send(inst, "bob@example.test", ["alice@example.test"], subject="first", extra_headers=to)
    send(inst, "bob@example.test", ["alice@example.test"], subject="second", extra_headers=to)
    wait_box(inst, "alice", 2)
    [reply] = wait_box(inst, "bob", 1)
    text = reply.decode()
    assert "Subject: Away" in text and "I am away until Monday." in text, text
    assert "Auto-Submitted: auto-replied" in text
    assert "Return-Path: <>" in text
    # a list message is never answered (RFC 3834)
    send(inst, "bob@example.test", ["alice@example.test"], subject="third",
         extra_headers=to + "List-Id: <news.example.test>\r\n")
    wait_box(inst, "alice", 3)
    inst.wait_log("relay=dovecot", timeout=5)
    assert len(box(inst, "bob")) == 1
    # the database of whom was answered: one entry, in the user's Maildir
    db = open(os.path.join(inst.mail, "example.test", "alice", "yubin-vacation")).read()
    assert len(db.splitlines()) == 1, db


DOVECOT_LDA = "/usr/lib/dovecot/dovecot-lda"

CASES = [
    # (name, script, subject, autocreate)
    ("fileinto with flags", 'require ["fileinto", "imap4flags"];\n'
     'fileinto :flags ["\\\\Seen", "\\\\Flagged"] "Lists";\n', "post", "yes"),
    ("fileinto a missing folder", 'require "fileinto";\nfileinto "Nowhere";\n', "x", "no"),
    ("addflag and keep", 'require "imap4flags";\naddflag "\\\\Answered";\n', "x", "no"),
    ("discard", 'discard;\n', "x", "no"),
    ("fileinto and keep", 'require "fileinto";\nfileinto "Copy";\nkeep;\n', "x", "yes"),
    ("broken script", 'require "fileinto";\nfileinto "X"\nbroken here;\n', "x", "no"),
    # reject always mails a notice (here it cannot: nothing runs): kept in INBOX
    ("reject with -e", 'require "reject";\nreject "Go away.";\n', "x", "no"),
    # (ereject: Debian 12's Pigeonhole does not have it; test_sieve_reject covers it)
    ("stop before fileinto", 'require "fileinto";\nstop;\nfileinto "Never";\n', "x", "yes"),
]


def maildir_state(root):
    """{folder: sorted flag letters of each message} of a Maildir."""
    out = {}
    if not os.path.isdir(root):
        return out
    for entry in [""] + sorted(e for e in os.listdir(root) if e.startswith(".")):
        d = os.path.join(root, entry)
        if not os.path.isdir(os.path.join(d, "cur")):
            continue
        flags = []
        for sub in ("new", "cur"):
            for f in os.listdir(os.path.join(d, sub)):
                flags.append("".join(sorted(f.partition(":2,")[2])))
        if flags:
            out[entry.lstrip(".") or "INBOX"] = sorted(flags)
    return out


def test_sieve_actions_as_dovecot_lda(instance, tmp_path):
    """The same scripts and message through Debian's dovecot-lda (Pigeonhole)
    and `yubin deliver -e`: the same folders, flags and exit status."""
    import pytest
    if not os.path.exists(DOVECOT_LDA) or not os.path.exists(
            "/usr/lib/dovecot/modules/lib90_sieve_plugin.so"):
        pytest.skip("dovecot-lda with dovecot-sieve is not installed")
    user = pwd.getpwnam(vmail())
    up = str(tmp_path)
    while up not in ("/", "/tmp", ""):
        os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)
    for i, (name, text, subject, autocreate) in enumerate(CASES):
        base = tmp_path / ("case%d" % i)
        os.makedirs(base)
        os.chown(base, user.pw_uid, user.pw_gid)
        sieve = base / "script.sieve"
        sieve.write_text(text)
        os.chmod(sieve, 0o644)
        conf = base / "dovecot.conf"
        conf.write_text("mail_location = maildir:%s/Maildir\nlog_path = %s/lda.log\n"
                        "ssl = no\nprotocols =\npostmaster_address = postmaster@example.test\n"
                        "lda_mailbox_autocreate = %s\nprotocol lda {\n  mail_plugins = sieve\n}\n"
                        "plugin {\n  sieve = file:%s\n  sieve_extensions = +ereject\n}\n" % (base, base, autocreate, sieve))
        os.chmod(conf, 0o644)
        msg = MSG % subject
        pre = [] if os.getuid() else ["setpriv", "--reuid=%d" % user.pw_uid,
                                      "--regid=%d" % user.pw_gid, "--clear-groups"]
        dc = subprocess.run(pre + [DOVECOT_LDA, "-c", str(conf), "-e", "-f", "carol@client.test",
                                   "-a", "alice@example.test"], input=msg.encode(),
                            capture_output=True, timeout=60,
                            env=dict(os.environ, HOME=str(base), USER=user.pw_name))
        inst = lda_instance(instance, tmp_path / ("y%d" % i),
                            main={"lda_mailbox_autocreate": autocreate})
        inst.write_config()
        script(inst, "alice", text)
        yb = deliver(inst, ["-e", "-f", "carol@client.test", "-d", "alice@example.test"], msg)
        want = (dc.returncode, maildir_state(str(base / "Maildir")))
        got = (yb.returncode, maildir_state(os.path.join(inst.mail, "example.test", "alice")))
        assert got == want, "%s: dovecot-lda %r, yubin deliver %r\n%s\n%s" % (
            name, want, got, dc.stderr, yb.stderr)
