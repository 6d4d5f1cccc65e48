"""Local delivery as a mail administrator sees it: mydestination recipients,
alias_maps (built with `yubin newaliases`), |command and /file targets with
the right privileges, :include:, loops, recipient_delimiter and
local_recipient_maps."""
import grp
import os
import pwd
import smtplib
import socket
import time

import pytest

from conftest import IS_ROOT, wait_for
from mailtest import dsn_parts, mbox_messages, open_dir, parse, read, send, wait_file

DEST = "mx.example.test"   # in mydestination ($myhostname)

NOBODY = pwd.getpwnam("nobody").pw_uid


def local_instance(instance, aliases, main=None, hashed=True, run_as=None):
    """An instance whose local users' mailboxes are in <base>/spool (mbox)."""
    params = {}
    inst = instance(main=params, run_as=run_as)
    spool = open_dir(os.path.join(inst.base, "spool"), 0o1777)
    out = open_dir(os.path.join(inst.base, "out"))
    inst.out = out
    inst.spool = spool
    aliases = aliases.replace("OUT", out)
    path = inst.path("aliases")
    kind = "hash" if hashed else "texthash"
    inst.params.update({
        "mail_spool_directory": spool,
        "alias_maps": "%s:%s" % (kind, path),
        "alias_database": "%s:%s" % (kind, path),
    })
    inst.params.update(main or {})
    inst.write_config()
    with open(path, "w") as f:
        f.write(aliases)
    if hashed:
        r = inst.cmd("newaliases")
        assert r.returncode == 0, r.stdout + r.stderr
        assert os.path.exists(path + ".lmdb")
    return inst


def script(inst, name, body):
    p = os.path.join(inst.out, name)
    with open(p, "w") as f:
        f.write("#!/bin/sh\n" + body.replace("OUT", inst.out))
    os.chmod(p, 0o755)
    return p


def test_alias_to_virtual_mailboxes(instance):
    inst = local_instance(instance, "postmaster: root\nsales: alice@example.test\n"
                                    "team: alice@example.test, bob@example.test\n").start()
    send(inst, "carol@client.test", ["sales@" + DEST], subject="for sales")
    send(inst, "carol@client.test", ["team@" + DEST], subject="for the team")
    a = inst.wait_maildir("example.test/alice", 2)
    b = inst.wait_maildir("example.test/bob", 1)
    assert any(b"Subject: for sales" in m for m in a)
    assert b"Subject: for the team" in b[0]
    # The two messages go to the agents in parallel: either status may be logged first.
    inst.wait_log("to=<bob@example.test>, orig_to=<team@%s>, relay=virtual" % DEST)
    inst.wait_log("to=<alice@example.test>, orig_to=<sales@%s>, relay=virtual" % DEST)


def test_alias_to_command_runs_as_default_privs(instance):
    inst = local_instance(instance, "pipe: \"|OUT/deliver.sh\"\n")
    script(inst, "deliver.sh", "id -u > OUT/uid\nenv > OUT/env\ncat > OUT/mail\n")
    inst.start()
    send(inst, "carol@client.test", ["pipe@" + DEST], subject="to a pipe")
    mail = wait_file(os.path.join(inst.out, "mail"))
    assert b"Subject: to a pipe" in mail
    assert b"Delivered-To: pipe@%s" % DEST.encode() in mail
    uid = int(wait_file(os.path.join(inst.out, "uid")))
    if IS_ROOT:
        # The alias database belongs to root: commands run as default_privs, never root.
        assert uid == NOBODY
    env = wait_file(os.path.join(inst.out, "env")).decode()
    assert "SENDER=carol@client.test\n" in env
    assert "RECIPIENT=pipe@%s\n" % DEST in env
    inst.wait_log("to=<pipe@%s>, relay=local" % DEST)
    assert "status=sent (delivered to command: %s/deliver.sh)" % inst.out in inst.log()


@pytest.mark.skipif(not IS_ROOT, reason="needs root to own the alias database as another user")
def test_alias_command_runs_as_alias_database_owner(instance):
    inst = local_instance(instance, "pipe: \"|OUT/deliver.sh\"\n")
    script(inst, "deliver.sh", "id -g > OUT/gid\nid -G > OUT/groups\nid -u > OUT/uid\n"
                               "cat > /dev/null\n")
    vmail = pwd.getpwnam("vmail")
    shadow = grp.getgrnam("shadow").gr_gid
    # the file's group is not the command's: the owner's primary group is (F3)
    for p in (inst.path("aliases"), inst.path("aliases") + ".lmdb"):
        os.chown(p, vmail.pw_uid, shadow)
    inst.start()
    send(inst, "carol@client.test", ["pipe@" + DEST])
    assert int(wait_file(os.path.join(inst.out, "uid"))) == vmail.pw_uid
    assert int(wait_file(os.path.join(inst.out, "gid"))) == vmail.pw_gid
    assert str(shadow) not in wait_file(os.path.join(inst.out, "groups")).decode().split()


def test_alias_command_not_allowed(instance):
    inst = local_instance(instance, "pipe: \"|OUT/deliver.sh\"\n",
                          main={"allow_mail_to_commands": "forward"})
    script(inst, "deliver.sh", "cat > OUT/mail\n")
    inst.start()
    send(inst, "bob@example.test", ["pipe@" + DEST])
    inst.wait_log("status=bounced (mail to command is restricted)")
    assert not os.path.exists(os.path.join(inst.out, "mail"))
    # The sender (a virtual mailbox here) gets the bounce.
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    _, text, fields, _ = dsn_parts(dsn)
    assert fields[1]["status"] == "5.7.1"


def test_alias_to_file(instance):
    inst = local_instance(instance, "archive: OUT/archive.mbox\n")
    inst.start()
    send(inst, "carol@client.test", ["archive@" + DEST], subject="one")
    send(inst, "carol@client.test", ["archive@" + DEST], subject="two", body="From here on\r\n")
    path = os.path.join(inst.out, "archive.mbox")
    data = wait_file(path, lambda b: b.count(b"\nSubject: ") == 2)
    msgs = mbox_messages(data)
    assert len(msgs) == 2
    assert data.startswith(b"From carol@client.test ")
    assert b"\n>From here on\n" in data      # mbox quoting
    if IS_ROOT:
        assert os.stat(path).st_uid == NOBODY  # created by default_privs, not root
    inst.wait_log("status=sent (delivered to file: %s)" % path)


def test_alias_to_file_not_allowed(instance):
    inst = local_instance(instance, "archive: OUT/archive.mbox\n",
                          main={"allow_mail_to_files": "forward"}).start()
    send(inst, "carol@client.test", ["archive@" + DEST])
    inst.wait_log("status=bounced (mail to file is restricted)")
    assert not os.path.exists(os.path.join(inst.out, "archive.mbox"))


def test_include_file(instance):
    inst = local_instance(instance, "list: :include:OUT/list.inc\n",
                          main={"allow_mail_to_files": "alias, forward, include"})
    with open(os.path.join(inst.out, "list.inc"), "w") as f:
        f.write("# members, not@example.test\nalice@example.test\nbob@example.test, OUT/copy.mbox\n"
                .replace("OUT", inst.out))
    inst.start()
    send(inst, "carol@client.test", ["list@" + DEST], subject="to the list")
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_maildir("example.test/bob", 1)
    path = os.path.join(inst.out, "copy.mbox")
    data = wait_file(path)
    assert b"Subject: to the list" in data
    assert b"Delivered-To: list@%s\n" % DEST.encode() in data
    if IS_ROOT:
        assert os.stat(path).st_uid == NOBODY   # the include file's owner is root
    inst.wait_log("to=<list@%s>, relay=local" % DEST)
    assert "bounced" not in inst.log()


def test_include_file_may_not_write_files_by_default(instance):
    inst = local_instance(instance, "list: :include:OUT/list.inc\n")
    with open(os.path.join(inst.out, "list.inc"), "w") as f:
        f.write("alice@example.test, %s/copy.mbox\n" % inst.out)
    inst.start()
    send(inst, "carol@client.test", ["list@" + DEST], subject="to the list")
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("to=<list@%s>, relay=local" % DEST)
    assert "status=bounced (mail to file is restricted)" in inst.log()
    assert not os.path.exists(os.path.join(inst.out, "copy.mbox"))


def test_missing_include_file_defers_then_delivers(instance):
    inst = local_instance(instance, "list: :include:OUT/list.inc\n",
                          main={"minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
                                "queue_run_delay": "1s"}).start()
    qid = send(inst, "carol@client.test", ["list@" + DEST])
    inst.wait_log("%s: to=<list@%s>, relay=none" % (qid, DEST))
    assert "status=deferred (cannot open include file %s/list.inc" % inst.out in inst.log()
    listing = inst.cmd("queue", "list").stdout
    assert qid in listing and "list@" + DEST in listing
    # Once the file is there the retry expands the alias again (not "list" as a user).
    with open(os.path.join(inst.out, "list.inc"), "w") as f:
        f.write("alice@example.test\n")
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("%s: removed" % qid)
    assert "bounced" not in inst.log()


def test_alias_loop_bounces(instance):
    inst = local_instance(instance, "loop1: loop2\nloop2: loop1@%s\n" % DEST).start()
    send(inst, "bob@example.test", ["loop1@" + DEST], subject="looping")
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    _, text, fields, _ = dsn_parts(dsn)
    assert fields[1]["final-recipient"] == "rfc822; loop1@" + DEST
    assert fields[1]["action"] == "failed"
    assert fields[1]["status"] == "5.4.6"
    assert "alias database loop" in fields[1]["diagnostic-code"]
    assert wait_for(lambda: inst.cmd("queue", "list").stdout.strip() == "Mail queue is empty")
    # One message, one bounce (the message arrived while qmgr was starting:
    # its notification came after the start-up scan had finished it).
    assert len(inst.maildir("example.test/bob")) == 1
    assert inst.log().count("sender non-delivery notification") == 1


def test_local_user_spool_mailbox(instance):
    inst = local_instance(instance, "postmaster: root\n").start()
    send(inst, "carol@client.test", ["nobody@" + DEST], subject="to a local user")
    path = os.path.join(inst.spool, "nobody")
    data = wait_file(path)
    assert data.startswith(b"From carol@client.test ")
    m = parse(mbox_messages(data)[0])
    assert m["Delivered-To"] == "nobody@" + DEST
    assert m["Return-Path"] == "<carol@client.test>"
    if IS_ROOT:
        assert os.stat(path).st_uid == NOBODY
    inst.wait_log("to=<nobody@%s>, relay=local" % DEST)
    assert "status=sent (delivered to mailbox)" in inst.log()


def test_recipient_delimiter(instance):
    inst = local_instance(instance, "sales: alice@example.test\n",
                          main={"recipient_delimiter": "+"}).start()
    send(inst, "carol@client.test", ["nobody+lists@" + DEST], subject="with extension")
    send(inst, "carol@client.test", ["sales+spring@" + DEST], subject="alias with extension")
    data = wait_file(os.path.join(inst.spool, "nobody"))
    m = parse(mbox_messages(data)[0])
    # Like Postfix: the user's mailbox, Delivered-To keeps the extension.
    assert m["Delivered-To"] == "nobody+lists@" + DEST
    a = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Subject: alias with extension" in a
    inst.wait_log("to=<nobody+lists@%s>, relay=local" % DEST)


def test_unknown_local_user_rejected_at_rcpt(instance):
    inst = local_instance(instance, "postmaster: root\n").start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo("client.test")
        s.mail("carol@client.test")
        code, text = s.rcpt("nosuchuser@" + DEST)
        assert code == 550
        assert text.decode() == ("5.1.1 <nosuchuser@%s>: Recipient address rejected: "
                                 "User unknown in local recipient table" % DEST)
        # Aliases are local recipients too.
        assert s.rcpt("postmaster@" + DEST)[0] == 250
    inst.wait_log("NOQUEUE: reject: RCPT from")
    assert ("550 5.1.1 <nosuchuser@%s>: Recipient address rejected: User unknown in local "
            "recipient table; from=<carol@client.test> to=<nosuchuser@%s> proto=ESMTP "
            "helo=<client.test>" % (DEST, DEST)) in inst.log()


def test_empty_local_recipient_maps_bounces_later(instance):
    inst = local_instance(instance, "postmaster: root\n",
                          main={"local_recipient_maps": ""}).start()
    qid = send(inst, "bob@example.test", ["nosuchuser@" + DEST], subject="to nobody known")
    inst.wait_log('%s: to=<nosuchuser@%s>, relay=local' % (qid, DEST))
    assert 'status=bounced (unknown user: "nosuchuser")' in inst.log()
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    m, text, fields, returned = dsn_parts(dsn)
    assert m["From"].startswith("MAILER-DAEMON@") or "MAILER-DAEMON" in m["From"]
    assert fields[1]["final-recipient"] == "rfc822; nosuchuser@" + DEST
    assert fields[1]["action"] == "failed"
    assert fields[1]["status"] == "5.1.1"
    assert 'unknown user: "nosuchuser"' in fields[1]["diagnostic-code"]
    assert b"Subject: to nobody known" in returned.as_bytes()
    inst.wait_log("%s: sender non-delivery notification: " % qid)


def test_alias_command_exit_status(instance):
    """sysexits(3) of a |command decide: 67 bounces with the command's output
    in the report, 75 defers."""
    inst = local_instance(instance, "nolist: \"|OUT/nolist.sh\"\nlater: \"|OUT/later.sh\"\n")
    script(inst, "nolist.sh", "cat > /dev/null\necho 'no such list here'\nexit 67\n")
    script(inst, "later.sh", "cat > /dev/null\necho 'try again later'\nexit 75\n")
    inst.start()
    q1 = send(inst, "bob@example.test", ["nolist@" + DEST])
    q2 = send(inst, "bob@example.test", ["later@" + DEST])
    inst.wait_log("%s: to=<nolist@%s>, relay=local" % (q1, DEST))
    inst.wait_log("%s: to=<later@%s>, relay=local" % (q2, DEST))
    log = inst.log()
    line1 = [l for l in log.splitlines() if "%s: to=<nolist@" % q1 in l][0]
    assert "dsn=5.1.1, status=bounced" in line1 and "no such list here" in line1
    line2 = [l for l in log.splitlines() if "%s: to=<later@" % q2 in l][0]
    assert "status=deferred" in line2 and "try again later" in line2
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    _, _, fields, _ = dsn_parts(dsn)
    assert fields[1]["final-recipient"] == "rfc822; nolist@" + DEST
    assert fields[1]["status"] == "5.1.1"
    assert "no such list here" in fields[1]["diagnostic-code"]


def smtp_raw(inst, lines):
    """Send raw SMTP lines one at a time; returns each reply's last line."""
    replies = []
    with socket.create_connection(("127.0.0.1", inst.port), timeout=10) as sock:
        f = sock.makefile("rb")

        def reply():
            line = f.readline()
            while line[3:4] == b"-":
                line = f.readline()
            return line.decode(errors="replace").rstrip("\r\n")
        replies.append(reply())
        for l in lines:
            sock.sendall(l.encode() + b"\r\n")
            replies.append(reply())
    return replies


@pytest.mark.parametrize("run_as", [None, "nobody"])
def test_sender_command_address_refused_at_smtp(instance, run_as):
    """Security F1, the replay: a sender whose local part is a command or a file
    in a local domain is refused at MAIL FROM (and such a recipient at RCPT TO),
    so no success notice is ever addressed to it. run_as=nobody: the default
    instance of an ordinary user (single-user mode), where the attack worked."""
    inst = local_instance(instance, "postmaster: root\n", run_as=run_as).start()
    pwned = os.path.join(inst.out, "pwned")
    r = smtp_raw(inst, ["EHLO attacker.example",
                        'MAIL FROM:<"|touch %s #"@localhost>' % pwned,
                        "RCPT TO:<alice@example.test> NOTIFY=SUCCESS",
                        'MAIL FROM:<"/%s/somefile">' % inst.out.strip("/"),
                        'MAIL FROM:<":include:%s/list"@%s>' % (inst.out, DEST),
                        "MAIL FROM:<carol@client.test>",
                        'RCPT TO:<"|touch %s"@%s>' % (pwned, DEST),
                        'RCPT TO:<"/%s/file"@localhost>' % inst.out.strip("/"),
                        "RCPT TO:<alice@example.test> NOTIFY=SUCCESS",
                        "QUIT"])
    assert r[2].startswith("550 5.1.0 ") and "Sender address rejected" in r[2], r
    assert r[3].startswith("503 "), r
    assert r[4].startswith("550 5.1.0 "), r
    assert r[5].startswith("550 5.1.0 "), r
    assert r[6].startswith("250 "), r
    assert r[7].startswith("550 5.1.1 ") and "Recipient address rejected" in r[7], r
    assert r[8].startswith("550 5.1.1 "), r
    assert r[9].startswith("250 "), r
    inst.wait_log("NOQUEUE: reject: MAIL from ")
    time.sleep(0.5)
    assert not os.path.exists(pwned)


@pytest.mark.parametrize("run_as", [None, "nobody"])
def test_notice_to_command_sender_is_an_unknown_user(instance, run_as):
    """Security F1 at its root: the same replay through a door that does not
    check senders (local submission, `sendmail -bs`). The success notice goes
    to the sender "|touch ... #"@localhost, which the local agent treats as a
    user name (unknown user), never as a command: only alias expansion makes
    commands."""
    inst = local_instance(instance, "postmaster: root\n", run_as=run_as).start()
    pwned = os.path.join(inst.out, "pwned")
    sender = '"|touch %s #"@localhost' % pwned
    session = ("EHLO attacker.example\r\nMAIL FROM:<%s>\r\n"
               "RCPT TO:<alice@example.test> NOTIFY=SUCCESS\r\n"
               "DATA\r\nSubject: replay\r\n\r\nhello\r\n.\r\nQUIT\r\n" % sender)
    r = inst.cmd("sendmail", "-bs", input=session)
    assert "queued as" in r.stdout, r.stdout + r.stderr
    inst.wait_maildir("example.test/alice", 1)
    # the notice is tried, and fails as an unknown user
    inst.wait_log('to=<|touch %s #@localhost>, relay=local' % pwned)
    log = inst.log()
    # local(8) folds the address to lower case, the path in the text too
    assert ('status=bounced (unknown user: "|touch %s #")' % pwned).lower() in log.lower(), \
        log[-3000:]
    assert "delivered to command" not in log
    time.sleep(0.5)
    assert not os.path.exists(pwned)


def agent_request(inst, path, rcpt, extra, offset=0, length=10):
    """Speak dproto to the running local agent as qmgr would; the reply text."""
    req = ("DELIVER\tQ1\t%s\t%d\t%d\nS\tattacker@client.test\nR\t0\t%s\t\t%s\n.\n"
           % (path, offset, length, rcpt, extra))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(15)
        s.connect(os.path.join(inst.queue, "private", "local"))
        s.sendall(req.encode())
        data = b""
        while not data.endswith(b".\n"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


@pytest.mark.skipif(not IS_ROOT, reason="the local agent runs as root only when started by root")
def test_local_agent_decides_privileges_itself(instance):
    """Security F3, the replay: whoever can write to private/local (mail_owner)
    cannot choose the uid/gid of a command, run a command that no alias lists,
    or make the root-run agent read a file through a symlink in the queue."""
    inst = local_instance(instance, "postmaster: root\n").start()
    send(inst, "carol@client.test", ["alice@example.test"])
    inst.wait_maildir("example.test/alice", 1)
    jdir = os.path.join(inst.queue, "journal")
    segment = next(os.path.join(jdir, n) for n in sorted(os.listdir(jdir))
                   if n.startswith("J") and not n.endswith(".done"))
    out = os.path.join(inst.out, "out")
    cmd = "|id > %s; head -c 60 /etc/shadow >> %s" % (out, out)
    # privileges in the request: no longer part of the protocol, the request is refused
    reply = agent_request(inst, segment, cmd, "uid=65534,gid=42")
    assert "\tsent\t" not in reply
    # a marked target that alias_maps does not list: deferred, never run
    reply = agent_request(inst, segment, cmd, "alias=root@%s,target=command" % DEST)
    assert reply.startswith("S\t0\tdeferred\t4.3.5\t"), reply
    # an unmarked one is a user name
    reply = agent_request(inst, segment, cmd, "-")
    assert reply.startswith("S\t0\tbounced\t5.1.1\tunknown user"), reply
    # a symlinked directory inside the queue leads nowhere
    os.symlink("/etc", os.path.join(jdir, "evil"))
    reply = agent_request(inst, os.path.join(jdir, "evil", "shadow"), "alice@" + DEST, "-")
    assert reply.startswith("S\t0\tdeferred\t4.3.0\tbad queue file name"), reply
    time.sleep(0.5)
    assert not os.path.exists(out)
    inst.wait_log("is not an alias target of root@%s in alias_maps" % DEST)
