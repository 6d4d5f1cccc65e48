"""The pipe delivery agent (Postfix's pipe(8)): a master.cf line such as
  mypipe unix - n n - - pipe flags=DRhu user=vmail argv=/prog ${sender} ${recipient}
runs the program directly as user=, with the arguments expanded, the
message on its standard input as the flags shape it, and its exit status
deciding: 0 delivered, 75 deferred, other sysexits bounced with its output."""
import os
import pwd
import re
import stat

from conftest import wait_for
from mailtest import open_dir, send

CAPTURE = """#!/bin/sh
# Writes its arguments, its uid and its input to a new file in OUT; exits $PIPE_EXIT.
out=%(out)s/msg.$$
{ for a in "$@"; do printf 'arg:%%s\\n' "$a"; done; printf 'uid:%%s\\n' "$(id -u)"; echo ---; cat; } > "$out.tmp"
mv "$out.tmp" "$out"
code=$(cat %(out)s/exit 2>/dev/null || echo 0)
[ "$code" = 0 ] || echo "5.0.0 capture says no ($code)"
exit $code
"""


def pipe_instance(instance, tmp_path, flags, args, main=None):
    out = open_dir(str(tmp_path / "out"))
    prog = tmp_path / "capture.sh"
    prog.write_text(CAPTURE % {"out": out})
    os.chmod(prog, 0o755)
    user = pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "vmail"
    params = {"virtual_transport": "mypipe", "recipient_delimiter": "+"}
    params.update(main or {})
    inst = instance(main=params, master_extra="mypipe unix - n n - - pipe flags=%s user=%s "
                    "argv=%s %s\n" % (flags, user, prog, args))
    inst.out = out
    return inst.start()


def captured(inst, n=1):
    assert wait_for(lambda: len([f for f in os.listdir(inst.out) if f.startswith("msg.")
                                 and not f.endswith(".tmp")]) >= n), inst.log()[-3000:]
    files = sorted(f for f in os.listdir(inst.out) if f.startswith("msg.") and
                   not f.endswith(".tmp"))
    outs = []
    for f in files:
        head, _, body = open(os.path.join(inst.out, f)).read().partition("---\n")
        args = [l[4:] for l in head.splitlines() if l.startswith("arg:")]
        uid = [l[4:] for l in head.splitlines() if l.startswith("uid:")][0]
        outs.append((args, int(uid), body))
    return outs


def test_pipe_arguments_flags_and_user(instance, tmp_path):
    inst = pipe_instance(instance, tmp_path, "DRXhu.>",
                         "-f ${sender} -d ${recipient} $user {$extension} ${domain} "
                         "${original_recipient} ${queue_id}",
                         {"mypipe_destination_recipient_limit": "1"})
    body = ("line one\r\n.hidden dot line\r\nFrom the middle of a line\r\n"
            " From with a space\r\n")
    qid = send(inst, "Carol@Client.test", ["Alice+Tag@Example.TEST"], body=body)
    [(args, uid, msg)] = captured(inst)
    assert args == ["-f", "Carol@Client.test", "-d", "alice+tag@example.test", "alice", "tag",
                    "example.test", "alice+tag@example.test", qid], args
    if os.getuid() == 0:
        assert uid == pwd.getpwnam("vmail").pw_uid
    lines = msg.split("\n")
    assert lines[0] == "Return-Path: <Carol@Client.test>", lines[:3]
    assert lines[1] == "Delivered-To: Alice+Tag@Example.TEST", lines[:3]
    assert "..hidden dot line" in lines
    assert ">From the middle of a line" in lines
    assert " From with a space" in lines
    inst.wait_log("%s: to=<Alice+Tag@Example.TEST>, relay=mypipe" % qid)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % qid in l][-1]
    assert "status=sent (delivered via mypipe service)" in line, line


def test_pipe_one_run_for_several_recipients(instance, tmp_path):
    inst = pipe_instance(instance, tmp_path, "RFB", "${sender} ${recipient}")
    send(inst, "carol@client.test", ["alice@example.test", "bob@example.test"])
    [(args, _, msg)] = captured(inst)
    assert args[0] == "carol@client.test"
    assert sorted(args[1:]) == ["alice@example.test", "bob@example.test"], args
    assert re.match(r"From carol@client\.test \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n"
                    r"Return-Path: <carol@client\.test>\n", msg), msg[:200]
    assert msg.endswith("hello\n\n"), repr(msg[-20:])     # B: an empty line at the end


def test_pipe_exit_status(instance, tmp_path):
    inst = pipe_instance(instance, tmp_path, "R", "${recipient}")
    with open(os.path.join(inst.out, "exit"), "w") as f:
        f.write("75")
    q1 = send(inst, "carol@client.test", ["alice@example.test"])
    inst.wait_log("%s: to=<alice@example.test>, relay=mypipe" % q1)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % q1 in l][-1]
    assert "status=deferred" in line, line
    with open(os.path.join(inst.out, "exit"), "w") as f:
        f.write("67")
    q2 = send(inst, "carol@client.test", ["bob@example.test"])
    inst.wait_log("%s: to=<bob@example.test>, relay=mypipe" % q2)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % q2 in l][-1]
    assert "status=bounced" in line and "capture says no (67)" in line, line


def test_pipe_bad_line_defers(instance, tmp_path):
    inst = instance(main={"virtual_transport": "mypipe"},
                    master_extra="mypipe unix - n n - - pipe flags=Z argv=/bin/cat\n")
    inst.start()
    q = send(inst, "carol@client.test", ["alice@example.test"])
    inst.wait_log("%s: to=<alice@example.test>, relay=mypipe" % q)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % q in l][-1]
    assert "status=deferred (mail system configuration error)" in line, line
    assert "service mypipe: unknown flag 'Z'" in inst.log()


LDA = "/usr/lib/dovecot/dovecot-lda"


def test_pipe_to_dovecot_lda(instance, tmp_path):
    """The guides' transport, with Debian's dovecot-lda: the message lands in
    the Maildir that Dovecot's configuration names, written as user=."""
    assert os.path.exists(LDA), "dovecot-core (scripts/deps.sh test) provides " + LDA
    box = open_dir(str(tmp_path / "lda"))
    conf = tmp_path / "dovecot.conf"
    conf.write_text("mail_location = maildir:%s/Maildir\nlog_path = %s/lda.log\n"
                    "ssl = no\nprotocols =\n" % (box, box))
    os.chmod(conf, 0o644)
    user = pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "vmail"
    inst = instance(main={"virtual_transport": "dovecot",
                          "dovecot_destination_recipient_limit": "1"},
                    master_extra="dovecot unix - n n - - pipe flags=DRhu user=%s "
                    "argv=%s -c %s -f ${sender} -a ${recipient}\n" % (user, LDA, conf))
    inst.start()
    qid = send(inst, "carol@client.test", ["Alice@Example.test"], subject="via lda")
    new = os.path.join(box, "Maildir", "new")
    assert wait_for(lambda: os.path.isdir(new) and os.listdir(new)), inst.log()[-3000:]
    [name] = os.listdir(new)
    st = os.stat(os.path.join(new, name))
    assert st.st_uid == pwd.getpwnam(user).pw_uid
    text = open(os.path.join(new, name)).read()
    assert "Delivered-To: Alice@Example.test\n" in text and "Subject: via lda\n" in text
    assert "Return-Path: <carol@client.test>\n" in text
    inst.wait_log("%s: to=<Alice@Example.test>, relay=dovecot" % qid)
    line = [l for l in inst.log().splitlines() if "%s: to=<" % qid in l][-1]
    assert "status=sent (delivered via dovecot service)" in line, line
