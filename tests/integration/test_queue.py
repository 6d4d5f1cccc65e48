"""`yubin queue` against a running qmgr (control protocol) and offline:
list, show, hold, release, delete, requeue, flush, and deferred retries."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from conftest import IS_ROOT, YUBIN, wait_for
from mailtest import send


def deferring_instance(instance, backoff="1h", **main):
    """Every delivery to alice or bob defers (uid below virtual_minimum_uid)
    and is not retried on its own for `backoff`."""
    params = {"minimal_backoff_time": backoff, "maximal_backoff_time": backoff,
              "queue_run_delay": "1s"}
    params.update(main)
    inst = instance(main=params)
    inst.params["virtual_minimum_uid"] = str(inst.vuid + 1)
    return inst


def attempts(inst, qid):
    return inst.log().count("%s: to=<" % qid)


def queue_ids(listing):
    """Queue IDs in mailq output, with their status mark (*, ! or none)."""
    return dict((m.group(1), m.group(2)) for m in
                re.finditer(r"(?m)^([0-9A-Za-z]{6,})([*!]?)\s+\d+ ", listing))


def fix_uid(inst):
    inst.params["virtual_minimum_uid"] = "1" if inst.vuid else "0"
    inst.write_config()
    assert inst.cmd("reload").returncode == 0


def test_list_and_show_a_deferred_message(instance):
    inst = deferring_instance(instance).start()
    qid = send(inst, "carol@client.test", ["alice@example.test", "bob@example.test"],
               subject="waiting", body="the body\r\n")
    inst.wait_log("%s: to=<bob@example.test>" % qid)
    r = inst.cmd("queue", "list")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------"
    assert queue_ids(r.stdout) == {qid: ""}          # deferred: no mark
    entry = lines[1].split()
    assert entry[0] == qid and entry[-1] == "carol@client.test"
    assert "(mail system configuration error)" in r.stdout
    assert re.search(r"(?m)^\s+alice@example.test$", r.stdout)
    assert re.search(r"(?m)^\s+bob@example.test$", r.stdout)
    assert lines[-1] == "-- 0 Kbytes in 1 Request."
    r = inst.cmd("queue", "show", qid)
    assert r.returncode == 0, r.stderr
    assert "queue_id: %s" % qid in r.stdout
    assert "queue_name: deferred" in r.stdout
    assert "sender: carol@client.test" in r.stdout
    assert "recipient: alice@example.test" in r.stdout
    assert "defer_count: 1" in r.stdout
    assert "Subject: waiting" in r.stdout and "the body" in r.stdout
    r = inst.cmd("queue", "show", "NoSuchId1234")
    assert r.returncode == 1 and "NoSuchId1234: no such message" in r.stderr


def test_hold_release_requeue_delete_running(instance):
    inst = deferring_instance(instance).start()
    q1 = send(inst, "carol@client.test", ["alice@example.test"], subject="one")
    q2 = send(inst, "carol@client.test", ["bob@example.test"], subject="two")
    inst.wait_log("%s: to=<alice@example.test>" % q1)
    inst.wait_log("%s: to=<bob@example.test>" % q2)

    # requeue: tried again now, not in an hour.
    r = inst.cmd("queue", "requeue", q1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Requeued: 1 message"
    assert wait_for(lambda: attempts(inst, q1) == 2)
    inst.wait_log("%s: requeued" % q1)

    # hold: shown with "!", not tried.
    r = inst.cmd("queue", "hold", q1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Placed on hold: 1 message"
    inst.wait_log("%s: placed on hold" % q1)
    assert queue_ids(inst.cmd("queue", "list").stdout) == {q1: "!", q2: ""}
    assert os.path.exists(os.path.join(inst.queue, "hold", q1))
    r = inst.cmd("queue", "flush")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: attempts(inst, q2) == 2)
    assert attempts(inst, q1) == 2                    # held: the flush left it alone

    # release: back in the queue, tried at once.
    r = inst.cmd("queue", "release", q1)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Released from hold: 1 message"
    inst.wait_log("%s: released from hold" % q1)
    assert wait_for(lambda: attempts(inst, q1) == 3)
    assert queue_ids(inst.cmd("queue", "list").stdout) == {q1: "", q2: ""}

    # delete
    r = inst.cmd("queue", "delete", q2)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Deleted: 1 message"
    inst.wait_log("%s: removed" % q2)
    assert queue_ids(inst.cmd("queue", "list").stdout) == {q1: ""}

    # Errors name the message and fail.
    r = inst.cmd("queue", "delete", q2)
    assert r.returncode == 1 and "%s: no such message" % q2 in r.stderr
    r = inst.cmd("queue", "release", q1)             # not on hold
    assert r.returncode == 1 and q1 in r.stderr
    r = inst.cmd("queue", "hold", "bad-id!")
    assert r.returncode == 2 and "invalid queue ID" in r.stderr

    # Once the cause is fixed, a flush delivers what is left.
    fix_uid(inst)
    r = inst.cmd("queue", "flush")
    assert r.returncode == 0, r.stderr
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("%s: removed" % q1)
    assert inst.maildir("example.test/bob") == []    # deleted
    assert inst.cmd("queue", "list").stdout.strip() == "Mail queue is empty"


def test_hold_and_delete_all(instance):
    inst = deferring_instance(instance).start()
    qids = [send(inst, "carol@client.test", ["alice@example.test"], subject=str(i))
            for i in range(3)]
    for q in qids:
        inst.wait_log("%s: to=<alice@example.test>" % q)
    r = inst.cmd("queue", "hold", "ALL")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Placed on hold: 3 messages"
    assert queue_ids(inst.cmd("queue", "list").stdout) == dict((q, "!") for q in qids)
    r = inst.cmd("queue", "delete", "ALL")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Deleted: 3 messages"
    for q in qids:
        inst.wait_log("%s: removed" % q)
    assert inst.cmd("queue", "list").stdout.strip() == "Mail queue is empty"
    assert os.listdir(os.path.join(inst.queue, "hold")) == []


def test_deferred_retry_with_backoff(instance):
    """minimal_backoff_time/maximal_backoff_time: retried on its own, and
    delivered once the cause is gone."""
    inst = deferring_instance(instance, backoff="1s").start()
    qid = send(inst, "carol@client.test", ["alice@example.test"], subject="retry me")
    assert wait_for(lambda: attempts(inst, qid) >= 3, 15), inst.log()[-3000:]
    fix_uid(inst)
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("%s: to=<alice@example.test>, relay=virtual, delay=" % qid)
    inst.wait_log("%s: removed" % qid)
    assert "status=sent (delivered to maildir)" in inst.log()


def test_queue_works_offline(instance):
    inst = deferring_instance(instance).start()
    q1 = send(inst, "carol@client.test", ["alice@example.test"], subject="one")
    q2 = send(inst, "carol@client.test", ["bob@example.test"], subject="two")
    inst.wait_log("%s: to=<alice@example.test>" % q1)
    inst.wait_log("%s: to=<bob@example.test>" % q2)
    inst.stop()
    assert inst.cmd("status").returncode == 1
    r = inst.cmd("queue", "list")
    assert r.returncode == 0, r.stderr
    assert queue_ids(r.stdout) == {q1: "", q2: ""}
    r = inst.cmd("queue", "show", q2)
    assert r.returncode == 0 and "Subject: two" in r.stdout
    r = inst.cmd("queue", "hold", q1)
    assert r.returncode == 0, r.stderr
    assert "qmgr is not running" in r.stderr
    r = inst.cmd("queue", "delete", q2)
    assert r.returncode == 0, r.stderr
    assert queue_ids(inst.cmd("queue", "list").stdout) == {q1: "!"}
    r = inst.cmd("queue", "flush")
    assert r.returncode == 1 and "mail system is down" in r.stderr
    r = inst.cmd("queue", "release", q1)
    assert r.returncode == 0, r.stderr
    # Started again with the cause fixed: the released message is delivered,
    # the deleted one never.
    inst.params["virtual_minimum_uid"] = "1" if inst.vuid else "0"
    inst.start()
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("%s: removed" % q1)
    assert inst.maildir("example.test/bob") == []


def test_qmgr_restart_delivers_pending_mail_once(instance):
    """Mail accepted while qmgr is down is found by the new qmgr's start-up
    scan; the notifications that waited for it in the socket's backlog come
    after that scan and must not deliver the mail a second time."""
    inst = instance().start()
    send(inst, "carol@client.test", ["alice@example.test"], subject="before")
    inst.wait_maildir("example.test/alice", 1)
    qmgr = subprocess.run(["pgrep", "-f", "^qmgr .*-c %s( |$)" % inst.dir], capture_output=True,
                          text=True).stdout.split()
    assert len(qmgr) == 1
    master = inst.proc.pid
    os.kill(master, signal.SIGSTOP)          # no restart of qmgr until we say so
    try:
        os.kill(int(qmgr[0]), signal.SIGKILL)
        qids = [send(inst, "carol@client.test", ["alice@example.test"],
                     subject="while down %d" % i) for i in range(3)]
    finally:
        os.kill(master, signal.SIGCONT)
    inst.wait_maildir("example.test/alice", 4, timeout=30)
    for q in qids:
        inst.wait_log("%s: removed" % q)
    # Give a duplicate the chance to show up.
    wait_for(lambda: len(inst.maildir("example.test/alice")) > 4, 3)
    msgs = inst.maildir("example.test/alice")
    subjects = sorted(m.split(b"Subject: ")[1].split(b"\n")[0] for m in msgs)
    assert subjects == [b"before", b"while down 0", b"while down 1", b"while down 2"], subjects


def test_access_hold_redirect_discard(instance):
    """Access table actions that reach the queue: HOLD parks the message in
    hold/ until released, REDIRECT replaces the recipients, DISCARD drops it."""
    inst = instance(main={"smtpd_recipient_restrictions":
                          "check_recipient_access inline:{ {alice@example.test=HOLD held by policy}, "
                          "{redirect@example.test=REDIRECT bob@example.test}, "
                          "{discard@example.test=DISCARD thrown away} }, "
                          "permit_mynetworks, reject_unauth_destination",
                          # (the implicit unlisted check would reject the made-up names)
                          "smtpd_reject_unlisted_recipient": "no"}).start()
    held = send(inst, "carol@client.test", ["alice@example.test"], subject="held")
    redirected = send(inst, "carol@client.test", ["redirect@example.test"], subject="redirected")
    discarded = send(inst, "carol@client.test", ["discard@example.test"], subject="discarded")
    inst.wait_log("%s: hold: <alice@example.test>: Recipient address held by policy" % held)
    assert wait_for(lambda: queue_ids(inst.cmd("queue", "list").stdout) == {held: "!"})
    m = inst.wait_maildir("example.test/bob", 1)[0]
    assert b"Subject: redirected" in m
    inst.wait_log("%s: to=<bob@example.test>, orig_to=<redirect@example.test>" % redirected)
    inst.wait_log("%s: discard: END-OF-MESSAGE from localhost[127.0.0.1]: "
                  "<discard@example.test>: Recipient address thrown away" % discarded)
    assert inst.maildir("example.test/alice") == []
    r = inst.cmd("queue", "release", held)
    assert r.returncode == 0, r.stderr
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Subject: held" in m
    inst.wait_log("%s: removed" % held)


def test_partial_delivery_is_not_repeated(instance):
    """A message delivered to some recipients and deferred for others: the
    retries (also after a crash of the whole system) deliver only the rest."""
    inst = instance(main={"minimal_backoff_time": "1h", "maximal_backoff_time": "1h",
                          "queue_run_delay": "1s"})
    inst.params["virtual_uid_maps"] = "inline:{ {alice@example.test=0}, {bob@example.test=%d} }" % (
        inst.vuid)
    inst.params["virtual_minimum_uid"] = "1"
    inst.start()
    qid = send(inst, "carol@client.test", ["alice@example.test", "bob@example.test"],
               subject="half now, half later")
    inst.wait_maildir("example.test/bob", 1)
    inst.wait_log("%s: to=<alice@example.test>" % qid)
    listing = inst.cmd("queue", "list").stdout
    assert "alice@example.test" in listing and "bob@example.test" not in listing
    inst.kill9()
    inst.params["virtual_uid_maps"] = "static:%d" % inst.vuid
    inst.start()
    r = inst.cmd("queue", "flush")
    assert r.returncode == 0, r.stderr
    inst.wait_maildir("example.test/alice", 1)
    inst.wait_log("%s: removed" % qid)
    wait_for(lambda: len(inst.maildir("example.test/bob")) > 1, 2)
    assert len(inst.maildir("example.test/bob")) == 1
    assert len(inst.maildir("example.test/alice")) == 1


@pytest.mark.skipif(not IS_ROOT or shutil.which("runuser") is None,
                    reason="needs root to run mailq as another user")
def test_mailq_for_ordinary_users(instance):
    """An ordinary user cannot read the queue directory; qmgr lists it for
    them (authorized_mailq_users, default static:anyone), as Postfix's
    showq does, and flushes for them (authorized_flush_users). Nothing else
    is open to them."""
    inst = deferring_instance(instance).start()
    qid = send(inst, "carol@client.test", ["alice@example.test"], subject="waiting")
    inst.wait_log("%s: to=<alice@example.test>" % qid)

    def as_nobody(*args):
        return subprocess.run(["runuser", "-u", "nobody", "--", YUBIN, "-c", inst.dir, "queue"]
                              + list(args), capture_output=True, text=True, timeout=30)
    r = as_nobody("list")
    assert r.returncode == 0, r.stderr
    assert queue_ids(r.stdout) == {qid: ""}
    assert r.stdout.splitlines()[-1] == "-- 0 Kbytes in 1 Request."
    assert as_nobody("delete", qid).returncode != 0
    assert queue_ids(inst.cmd("queue", "list").stdout) == {qid: ""}
    # sendmail -q / postqueue -f: flushing is open to users too (authorized_flush_users)
    r = as_nobody("flush")
    assert r.returncode == 0 and r.stdout.strip() == "Flushed: 1 deferred message", r.stderr
    assert wait_for(lambda: attempts(inst, qid) == 2)
    inst.params["authorized_mailq_users"] = "root"
    inst.params["authorized_flush_users"] = "root"
    inst.write_config()
    assert inst.cmd("reload").returncode == 0
    assert wait_for(lambda: "not authorized" in as_nobody("list").stderr)
    r = as_nobody("flush")
    assert r.returncode == 1 and "not authorized to flush the queue" in r.stderr
    assert inst.cmd("queue", "flush").returncode == 0        # root still may
    inst.stop()
    r = as_nobody("list")
    assert r.returncode == 1 and "Queue report unavailable - mail system is down" in r.stderr
