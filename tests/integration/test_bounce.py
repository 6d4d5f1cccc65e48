"""Bounces and delivery status notifications as the sender receives them:
RFC 3464 reports checked with Python's email package, RET/NOTIFY, the null
sender, deferrals the virtual agent decides, and queue lifetime expiry."""
import smtplib

from conftest import RawSMTP, wait_for
from mailtest import dsn_parts, parse, send

UNLISTED = {"smtpd_reject_unlisted_recipient": "no"}


def test_bounce_is_an_rfc3464_report(instance):
    inst = instance(main=UNLISTED).start()
    body = "line one\r\nline two\r\n"
    qid = send(inst, "bob@example.test", ["nobody@example.test", "alice@example.test"],
               subject="partly undeliverable", body=body,
               mail_options=["ENVID=env-123"],
               rcpt_options=[])
    inst.wait_maildir("example.test/alice", 1)
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    inst.wait_log('%s: to=<nobody@example.test>, relay=virtual' % qid)
    assert 'dsn=5.1.1, status=bounced (unknown user: "nobody@example.test")' in inst.log()
    inst.wait_log("%s: sender non-delivery notification: " % qid)
    nqid = inst.log().split("%s: sender non-delivery notification: " % qid)[1].split()[0]
    inst.wait_log("%s: from=<>, size=" % nqid)
    inst.wait_log("%s: to=<bob@example.test>, relay=virtual" % nqid)
    inst.wait_log("%s: removed" % qid)

    m, text, fields, returned = dsn_parts(dsn)
    assert dsn.startswith(b"Return-Path: <>\n")
    assert m["Subject"] == "Undelivered Mail Returned to Sender"
    assert "MAILER-DAEMON@mx.example.test" in m["From"]
    assert m["To"] == "bob@example.test"
    assert m["Auto-Submitted"] == "auto-replied"
    assert "nobody@example.test" in text
    per_msg, rcpts = fields[0], fields[1:]
    assert per_msg["reporting-mta"] == "dns; mx.example.test"
    assert per_msg["original-envelope-id"] == "env-123"
    assert "arrival-date" in per_msg
    assert len(rcpts) == 1                                # alice was delivered
    r = rcpts[0]
    assert r["final-recipient"] == "rfc822; nobody@example.test"
    assert r["action"] == "failed"
    assert r["status"] == "5.1.1"
    assert 'unknown user: "nobody@example.test"' in r["diagnostic-code"]
    # RET not given: the whole message comes back.
    assert returned.get_content_type() == "message/rfc822"
    orig = returned.get_payload()[0]
    assert orig["Subject"] == "partly undeliverable"
    assert orig.get_payload() == "line one\nline two\n"


def test_ret_hdrs_returns_only_headers(instance):
    inst = instance(main=UNLISTED).start()
    send(inst, "bob@example.test", ["nobody@example.test"], subject="headers only",
         body="secret body\r\n", mail_options=["RET=HDRS"])
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    _, _, fields, returned = dsn_parts(dsn)
    assert fields[1]["action"] == "failed"
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"Subject: headers only" in returned.as_bytes()
    assert b"secret body" not in dsn


def test_notify_never_suppresses_the_bounce(instance):
    inst = instance(main=UNLISTED).start()
    qid = send(inst, "bob@example.test", ["nobody@example.test"], rcpt_options=["NOTIFY=NEVER"])
    inst.wait_log("%s: removed" % qid)
    assert "%s: to=<nobody@example.test>" % qid in inst.log()
    assert "status=bounced" in inst.log()
    assert "sender non-delivery notification" not in inst.log()
    assert inst.maildir("example.test/bob") == []


def test_notify_success_gives_a_delivery_report(instance):
    inst = instance().start()
    qid = send(inst, "bob@example.test", ["alice@example.test"], subject="tell me",
               rcpt_options=["NOTIFY=SUCCESS", "ORCPT=rfc822;Alice@Example.TEST"])
    inst.wait_maildir("example.test/alice", 1)
    report = inst.wait_maildir("example.test/bob", 1)[0]
    m, text, fields, returned = dsn_parts(report)
    assert m["Subject"] == "Successful Mail Delivery Report"
    r = fields[1]
    assert r["final-recipient"] == "rfc822; alice@example.test"
    assert r["original-recipient"] == "rfc822; Alice@Example.TEST"
    assert r["action"] == "delivered"
    assert r["status"] == "2.0.0"
    # A success report returns the headers only (RFC 3461 section 4.3).
    assert returned is None or returned.get_content_type() == "text/rfc822-headers"
    inst.wait_log("%s: sender delivery status notification: " % qid)


def test_bounce_of_a_bounce_is_not_sent(instance):
    inst = instance(main=UNLISTED).start()
    qid = send(inst, "", ["nobody@example.test"], subject="a bounce that bounces")
    inst.wait_log("%s: removed" % qid)
    log = inst.log()
    assert "%s: from=<>, size=" % qid in log
    assert "status=bounced" in log
    assert "%s: undeliverable notification to the null sender discarded" % qid in log
    assert "notification: " not in log


def test_mailbox_size_limit_bounces(instance):
    # bounce_size_limit keeps the returned copy small enough for the sender's box.
    inst = instance(main={"virtual_mailbox_limit": "6000", "message_size_limit": "1000000",
                          "bounce_size_limit": "200"}).start()
    qid = send(inst, "bob@example.test", ["alice@example.test"], subject="too big for the box",
               body=("y" * 70 + "\r\n") * 120)
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    _, _, fields, returned = dsn_parts(dsn)
    assert fields[1]["action"] == "failed"
    assert fields[1]["status"] == "5.2.2"
    assert "File too large" in fields[1]["diagnostic-code"]
    assert len(dsn) < 6000
    assert inst.maildir("example.test/alice") == []
    inst.wait_log("%s: to=<alice@example.test>, relay=virtual" % qid)
    assert "dsn=5.2.2, status=bounced (maildir delivery failed: error writing message: " \
           "File too large)" in inst.log()


def test_uid_below_minimum_defers_then_delivers(instance):
    inst = instance(main={"minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
                          "queue_run_delay": "1s"})
    inst.params["virtual_minimum_uid"] = str(inst.vuid + 1)
    inst.start()
    qid = send(inst, "bob@example.test", ["alice@example.test"], subject="deferred")
    inst.wait_log("%s: to=<alice@example.test>, relay=virtual" % qid)
    log = inst.log()
    assert "uid %d from virtual_uid_maps is below virtual_minimum_uid" % inst.vuid in log
    assert "dsn=4.3.5, status=deferred (mail system configuration error)" in log
    listing = inst.cmd("queue", "list").stdout
    assert qid in listing and "(mail system configuration error)" in listing
    # No bounce for a deferral. (Only the sender notices count: under load qmgr may
    # log "queue rescan found N message(s) without notification", which is no notice.)
    assert "%s: sender " % qid not in inst.log()
    inst.params["virtual_minimum_uid"] = "1" if inst.vuid else "0"
    inst.write_config()
    assert inst.cmd("reload").returncode == 0
    m = inst.wait_maildir("example.test/alice", 1)[0]
    assert b"Subject: deferred" in m
    inst.wait_log("%s: removed" % qid)
    assert wait_for(lambda: inst.cmd("queue", "list").stdout.strip() == "Mail queue is empty")


def test_queue_lifetime_expiry_returns_to_sender(instance):
    """maximal_queue_lifetime: the deferred mail bounces; the report says failed, with the
    last deferral reason."""
    inst = instance(main={"minimal_backoff_time": "1s", "maximal_backoff_time": "1s",
                          "queue_run_delay": "1s", "maximal_queue_lifetime": "2s"})
    inst.params["virtual_uid_maps"] = "inline:{ {alice@example.test=0}, {bob@example.test=%d} }" % (
        inst.vuid)
    inst.params["virtual_minimum_uid"] = "1"
    inst.start()
    qid = send(inst, "bob@example.test", ["alice@example.test"], subject="will expire")
    inst.wait_log("%s: from=<bob@example.test>, status=expired, returned to sender" % qid,
                  timeout=20)
    inst.wait_log("%s: sender non-delivery notification: " % qid)
    inst.wait_log("%s: removed" % qid)
    dsn = inst.wait_maildir("example.test/bob", 1, timeout=20)[0]
    _, text, fields, _ = dsn_parts(dsn)
    r = fields[1]
    assert r["final-recipient"] == "rfc822; alice@example.test"
    assert r["action"] == "failed"
    assert r["status"] == "4.3.5"
    assert "mail system configuration error" in r["diagnostic-code"]
    assert inst.maildir("example.test/alice") == []


def test_delay_warning_is_sent_once(instance):
    inst = instance(main={"delay_warning_time": "1s", "minimal_backoff_time": "1s",
                          "maximal_backoff_time": "1s", "queue_run_delay": "1s"})
    inst.params["virtual_uid_maps"] = "inline:{ {alice@example.test=0}, {bob@example.test=%d} }" % (
        inst.vuid)
    inst.params["virtual_minimum_uid"] = "1"
    inst.start()
    qid = send(inst, "bob@example.test", ["alice@example.test"], subject="slow one",
               body="the body\r\n")
    warning = inst.wait_maildir("example.test/bob", 1, timeout=20)[0]
    inst.wait_log("%s: sender delay notification: " % qid)
    m, text, fields, returned = dsn_parts(warning)
    assert m["Subject"] == "Delayed Mail (still being retried)"
    r = fields[1]
    assert r["final-recipient"] == "rfc822; alice@example.test"
    assert r["action"] == "delayed"
    assert r["status"] == "4.3.5"
    assert "will-retry-until" in r
    assert returned.get_content_type() == "text/rfc822-headers"
    assert b"the body" not in warning
    # Later attempts do not warn again.
    assert wait_for(lambda: inst.log().count("%s: to=<alice@example.test>" % qid) >= 3, 15)
    assert inst.log().count("sender delay notification") == 1
    assert len(inst.maildir("example.test/bob")) == 1


def test_request_that_cannot_be_encoded_bounces_at_once(instance):
    """F6 (3): a permanent failure inside qmgr's job handling (here: an alias
    "|command" with a TAB, which no delivery request line can carry) bounces
    with its 5.x.x status; it used to be deferred and retried until
    maximal_queue_lifetime."""
    inst = instance(main={"minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
                          "queue_run_delay": "1s"})
    aliases = inst.write("aliases", 'postmaster: root\ntabby: "|/bin/cat\t-"\n')
    inst.params.update({"alias_maps": "hash:" + aliases, "alias_database": "hash:" + aliases})
    inst.write_config()
    r = inst.cmd("newaliases")
    assert r.returncode == 0, r.stdout + r.stderr
    inst.start()
    qid = send(inst, "bob@example.test", ["tabby@localhost"], subject="cannot be encoded")
    dsn = inst.wait_maildir("example.test/bob", 1)[0]
    inst.wait_log("%s: removed" % qid)
    log = inst.log()
    assert "dsn=5.3.0, status=bounced (delivery request could not be encoded)" in log
    assert "status=deferred" not in log
    assert "%s: sender non-delivery notification: " % qid in log
    _, _, fields, _ = dsn_parts(dsn)
    assert fields[1]["action"] == "failed"
    assert fields[1]["status"] == "5.3.0"
