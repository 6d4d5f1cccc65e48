"""spawn(8): the policyd-spf layout of the guides, `policy-spf unix - n n -
- spawn user=nobody argv=/usr/bin/policyd-spf` with `check_policy_service
unix:private/policy-spf`. The program here is a policy server written for
the test (a Python script speaking SMTPD_POLICY_README's protocol on its
standard input and output); it reports the uid it runs as. A program that
never answers is killed at <service>_time_limit and the session gets
smtpd_policy_service_default_action."""
import os
import pwd
import sys

from conftest import IS_ROOT, RawSMTP

POLICY = r'''
import os, sys
attrs = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if line:
        k, _, v = line.partition("=")
        attrs[k] = v
        continue
    if attrs.get("recipient") == "sleepy@example.test":
        import time
        time.sleep(3600)
    if attrs.get("recipient") == "bob@example.test":
        out = "action=REJECT SPF says no (uid %d)" % os.getuid()
    else:
        out = "action=PREPEND X-Policy-Uid: %d" % os.getuid()
    sys.stdout.write(out + "\n\n")
    sys.stdout.flush()
    attrs = {}
'''


def start(instance, **main):
    inst = instance(main=dict({
        "smtpd_recipient_restrictions": "check_policy_service unix:private/policy-spf, "
                                        "permit_mynetworks, reject_unauth_destination",
        "policy-spf_time_limit": "2s",
        "smtpd_policy_service_try_limit": "1",
    }, **main))
    script = os.path.join(inst.base, "policy.py")
    with open(script, "w") as f:
        f.write(POLICY)
    os.chmod(script, 0o644)
    user = "user=nobody " if IS_ROOT else ""
    inst.master_extra = ("policy-spf unix - n n - - spawn %sargv=%s %s\n"
                         % (user, sys.executable, script))
    return inst.start()


def test_policy_program_per_connection(instance):
    inst = start(instance)
    s = RawSMTP(inst.port)
    assert s.reply()[0] == 220
    assert s.cmd("EHLO client.example")[0] == 250
    assert s.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    code, text = s.cmd("RCPT TO:<bob@example.test>")
    uid = pwd.getpwnam("nobody").pw_uid if IS_ROOT else os.getuid()
    assert code == 554 and "SPF says no (uid %d)" % uid in text[0], (code, text)
    assert s.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert s.cmd("DATA")[0] == 354
    code, _ = s.cmd("Subject: x\r\n\r\nhi\r\n.")
    assert code == 250
    s.cmd("QUIT")
    got = inst.wait_maildir("example.test/alice", 1)
    assert b"X-Policy-Uid: %d" % uid in got[0]


def test_time_limit_kills_the_program(instance):
    inst = start(instance, smtpd_policy_service_timeout="10s",
                 smtpd_policy_service_default_action="451 4.3.5 policy unavailable")
    s = RawSMTP(inst.port, timeout=30)
    assert s.reply()[0] == 220
    assert s.cmd("EHLO client.example")[0] == 250
    assert s.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    code, text = s.cmd("RCPT TO:<sleepy@example.test>")
    assert code == 451 and "policy unavailable" in text[0], (code, text)
    s.cmd("QUIT")
    inst.wait_log("policy-spf: command %s: time limit of 2 s exceeded: killed" % sys.executable)


def test_check_reads_pipe_and_spawn_lines(instance):
    inst = instance(master_extra=(
        "policy-spf unix - n n - - spawn user=root argv=/bin/cat\n"
        "dovecot unix - n n - - pipe flags=DRhu user=nobody\n"
        "okpipe unix - n n - - pipe flags=DRhu user=nobody argv=/bin/cat ${recipient}\n"))
    inst.write_config()
    r = inst.cmd("check")
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "master.cf:6: error: service policy-spf: user= command-line attribute specifies " \
           "root privileges: root" in out, out
    assert "master.cf:7: error: service dovecot: missing argv= command-line attribute" in out, out
    assert "okpipe" not in out, out
