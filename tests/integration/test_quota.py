"""Maildir++ quota (lib-storage/quota.c) end to end: the Postfix VDA
patch's parameters with the virtual agent (over quota deferred or
bounced per virtual_overquota_bounce), smtpd refusing an over-quota
recipient at RCPT with virtual_maildir_limit_message, the guide's pgsql
quota query through virtual_mailbox_limit_maps, LMTP's per-recipient
552 with Dovecot's quota_rule from the userdb, the warning sent once,
IMAP (APPEND over quota NO [OVERQUOTA], GETQUOTAROOT with maildirsize's
numbers, expunge lowering the use, Trash not counted), and Dovecot's own
`doveadm quota get` reading the same maildirsize."""
import os
import re
import smtplib

import pytest

from conftest import IS_ROOT, YUBIN, RawSMTP, wait_for
from dovecot import PrivateDovecot, available as dovecot_available
from imap_mailbox import mailimap  # noqa: F401 (fixture)
from ldatest import LMTP, folder, lda_instance, message, wait_folder, wait_ready
from sqlservers import PgServer

LIMIT_TEXT = "Mailbox full, sorry"


def maildirsize(root):
    """(limit line, bytes, count) of root/maildirsize, summed as a reader does."""
    with open(os.path.join(root, "maildirsize")) as f:
        lines = f.read().splitlines()
    total = [0, 0]
    for ln in lines[1:]:
        b, c = ln.split()
        total[0] += int(b)
        total[1] += int(c)
    return lines[0], total[0], total[1]


def on_disk(root, skip=()):
    """Bytes and count of the messages in new/ and cur/ of every folder not in skip."""
    size = count = 0
    for d in [""] + [n for n in os.listdir(root) if n.startswith(".") and n not in (".", "..")]:
        if d[1:] in skip:
            continue
        for sub in ("new", "cur"):
            p = os.path.join(root, d, sub)
            for n in os.listdir(p) if os.path.isdir(p) else []:
                size += os.path.getsize(os.path.join(p, n))
                count += 1
    return size, count


def vda_instance(instance, limit_maps="inline:{ {alice@example.test=4000} }", run_as=None,
                 **main):
    params = {"virtual_maildir_extended": "yes",
              "virtual_mailbox_limit_maps": limit_maps,
              "virtual_maildir_limit_message": LIMIT_TEXT}
    params.update(main)
    return instance(main=params, run_as=run_as)


def send_raw(inst, sender, rcpt, body):
    """MAIL without SIZE=, so smtpd cannot tell at RCPT how big the message is."""
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.test")
    assert c.cmd("MAIL FROM:<%s>" % sender)[0] == 250
    r = c.cmd("RCPT TO:<%s>" % rcpt)
    if r[0] == 250:
        assert c.cmd("DATA")[0] == 354
        c.send("Subject: q\r\n\r\n" + body + "\r\n.\r\n")
        assert c.reply()[0] == 250
    c.cmd("QUIT")
    return r


def test_virtual_overquota_bounce_and_rcpt_refusal(instance):
    """smtpd reads maildirsize itself where it may: here everything runs as
    one user (single-user mode, as `make run`); with a separate mail user
    the quota-status policy service below does it."""
    inst = vda_instance(instance, virtual_overquota_bounce="yes", run_as="nobody").start()
    alice = os.path.join(inst.mail, "example.test", "alice")
    # fits: delivered, and maildirsize made with the limit of the map
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("bob@example.test", ["alice@example.test"], "Subject: 1\r\n\r\n" + "a" * 2500)
    inst.wait_maildir("example.test/alice", 1)
    wait_for(lambda: os.path.exists(os.path.join(alice, "maildirsize")))
    limits, used, n = maildirsize(alice)
    assert limits == "4000S" and (used, n) == on_disk(alice)
    # SIZE= says it does not fit: refused at RCPT with the limit message
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("bob@example.test", ["alice@example.test"],
                       "Subject: 2\r\n\r\n" + "b" * 2500)
    code, text = e.value.recipients["alice@example.test"]
    assert code == 552 and text.decode() == (
        "5.2.2 <alice@example.test>: Recipient address rejected: " + LIMIT_TEXT), (code, text)
    # no SIZE=: accepted at RCPT, then bounced by the virtual agent, never stored
    assert send_raw(inst, "bob@example.test", "alice@example.test", "c" * 2500)[0] == 250
    inst.wait_log("status=bounced (" + LIMIT_TEXT + ")")
    assert re.search(r"to=<alice@example.test>.*dsn=5\.2\.2, status=bounced", inst.log())
    [bounce] = inst.wait_maildir("example.test/bob", 1)
    assert LIMIT_TEXT.encode() in bounce
    assert len(inst.maildir("example.test/alice")) == 1
    assert maildirsize(alice)[1:] == on_disk(alice)
    # full: refused at RCPT even without a size
    with open(os.path.join(alice, "maildirsize"), "a") as f:
        f.write("2000 1\n")
    assert send_raw(inst, "bob@example.test", "alice@example.test", "d")[0] == 552


def test_quota_status_policy_service(instance):
    """The Dovecot layout: Maildirs belong to vmail, which smtpd (mail_owner)
    cannot read; `yubin quota-status` under spawn as vmail answers smtpd's
    check_policy_service, as Dovecot's quota-status -p postfix does."""
    user = "user=vmail " if IS_ROOT else ""
    inst = vda_instance(instance, smtpd_recipient_restrictions=(
        "reject_unauth_destination, check_policy_service unix:private/quota-status"))
    inst.master_extra = ("quota-status unix - n n - - spawn %sargv=%s -c %s quota-status\n"
                         % (user, YUBIN, inst.dir))
    inst.start()
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("bob@example.test", ["alice@example.test"], "Subject: 1\r\n\r\n" + "a" * 2500)
    inst.wait_maildir("example.test/alice", 1)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo()
        s.mail("bob@example.test", ["SIZE=2500"])
        code, text = s.rcpt("alice@example.test")
        assert (code, text.decode()) == (452, "4.2.2 <alice@example.test>: Recipient address "
                                              "rejected: " + LIMIT_TEXT), (code, text)
        assert s.rcpt("bob@example.test")[0] == 250


def test_virtual_overquota_defers_by_default(instance):
    inst = vda_instance(instance, limit_maps="inline:{ {alice@example.test=1000} }",
                        run_as="nobody").start()
    assert send_raw(inst, "bob@example.test", "alice@example.test", "x" * 2000)[0] == 250
    inst.wait_log("status=deferred (" + LIMIT_TEXT + ")")
    assert re.search(r"to=<alice@example.test>.*dsn=4\.2\.2, status=deferred", inst.log())
    assert inst.maildir("example.test/alice") == []
    # a recipient without a map entry gets virtual_mailbox_limit (51200000): delivered
    assert send_raw(inst, "alice@example.test", "bob@example.test", "y" * 2000)[0] == 250
    inst.wait_maildir("example.test/bob", 1)
    bob = os.path.join(inst.mail, "example.test", "bob")
    assert wait_for(lambda: os.path.exists(os.path.join(bob, "maildirsize")))
    assert maildirsize(bob)[0] == "51200000S"
    # at RCPT: 452 4.2.2 with the message (virtual_overquota_bounce = no)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo()
        s.mail("bob@example.test", ["SIZE=5000"])
        code, text = s.rcpt("alice@example.test")
    assert code == 452 and text.decode().startswith("4.2.2 <alice@example.test>: "), text


def test_trash_not_counted_warning_and_yubin_check(instance):
    inst = vda_instance(instance, virtual_trash_count="no", virtual_trash_name=".Trash",
                        virtual_mailbox_limit_inbox="no", virtual_mailbox_limit_override="no",
                        virtual_maildir_filter="no", virtual_maildir_limit_message_maps="",
                        quota_warning="storage=90%")
    r = inst.start().cmd("check")
    assert r.returncode == 0 and "warning" not in (r.stdout + r.stderr), r.stdout + r.stderr
    alice = os.path.join(inst.mail, "example.test", "alice")
    for d in ("", ".Trash"):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(alice, d, sub), exist_ok=True)
    with open(os.path.join(alice, ".Trash", "cur", "1.M1P1.h,S=3000:2,S"), "w") as f:
        f.write("z" * 3000)
    subprocess_chown(inst, alice)
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("bob@example.test", ["alice@example.test"], "Subject: t\r\n\r\n" + "t" * 1000)
    inst.wait_maildir("example.test/alice", 1)
    wait_for(lambda: maildirsize(alice)[2] == 1)
    limits, used, n = maildirsize(alice)
    assert (used, n) == on_disk(alice, skip=("Trash",)) and n == 1
    assert "quota warning" not in inst.log()
    # the next one crosses 90% of 4000 bytes: the virtual agent queues one warning
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("bob@example.test", ["alice@example.test"], "Subject: u\r\n\r\n" + "u" * 2000)
    inst.wait_log("quota warning: 90% of the quota of")
    inst.wait_log("from=<>")                      # the warning, submitted through pickup


def subprocess_chown(inst, top):
    for root, dirs, files in os.walk(top):
        for name in dirs + files + [""]:
            os.lchown(os.path.join(root, name), inst.vuid, inst.vgid)


def test_pgsql_quota_query(instance):
    why = PgServer.available()
    if why:
        pytest.skip(why)
    pg = PgServer()
    try:
        pg.psql("CREATE TABLE mailbox (username text, quota bigint, active boolean)", user="mail")
        pg.psql("INSERT INTO mailbox VALUES ('alice@example.test', 1500, true), "
                "('bob@example.test', 0, true)", user="mail")
        inst = instance(run_as="nobody")        # smtpd may read the Maildir (see above)
        with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
                os.path.abspath(__file__)))), "docs", "examples", "postfixadmin",
                "pgsql_virtual_mailbox_limit_maps.cf")) as f:
            text = f.read()
        for k, v in (("hosts", "inet:127.0.0.1:%d" % pg.port), ("user", "mail"),
                     ("password", pg.password), ("dbname", "mail")):
            text = re.sub(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        cf = inst.write("pgsql_limit.cf", text)
        inst.params.update({"virtual_maildir_extended": "yes",
                            "virtual_mailbox_limit_maps": "proxy:pgsql:" + cf,
                            "virtual_mailbox_limit_override": "yes",
                            "virtual_overquota_bounce": "yes"})
        inst.master_extra = "proxymap unix - - n - 4 proxymap\n"
        inst.start()
        # alice's 1500 bytes: a 3000-byte message is refused at RCPT (the answer through proxymap)
        with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
            s.ehlo()
            s.mail("carol@example.org", ["SIZE=3000"])
            assert s.rcpt("alice@example.test")[0] == 552
            assert s.rcpt("bob@example.test")[0] == 250       # quota 0: no limit
        # without SIZE: bounced by the virtual agent, which asks the database itself
        assert send_raw(inst, "carol@example.org", "alice@example.test", "p" * 3000)[0] == 250
        inst.wait_log("dsn=5.2.2, status=bounced")
        bob = os.path.join(inst.mail, "example.test", "bob")
        assert send_raw(inst, "carol@example.org", "bob@example.test", "q" * 3000)[0] == 250
        inst.wait_maildir("example.test/bob", 1)
        assert wait_for(lambda: os.path.exists(os.path.join(bob, "maildirsize")))
        assert maildirsize(bob)[0] == "0S"
    finally:
        pg.close()


# ------------------------------------------------------------------ LMTP

def quota_users(inst, tmp_path, extra):
    """Rewrite the passwd-file with extra userdb fields per user."""
    users = tmp_path / "users"
    lines = []
    for ln in users.read_text().splitlines():
        name = ln.split(":")[0].split("@")[0]
        lines.append(ln + extra.get(name, "") + "\n")
    users.write_text("".join(lines))


def test_lmtp_per_recipient_quota_from_userdb_and_warning_once(instance, tmp_path):
    inst = lda_instance(instance, tmp_path, master_extra="lmtp unix - - n - - lmtp\n", main={
        "virtual_transport": "lmtp:unix:private/dovecot-lmtp",
        "virtual_mailbox_maps": "inline:{ {alice@example.test=x}, {bob@example.test=x}, "
                                "{dave@example.test=x} }",
        "postmaster_address": "postmaster@example.test",
    })
    quota_users(inst, tmp_path, {
        "alice": "userdb_quota_rule=*:bytes=500",
        "dave": "userdb_quota_rule=*:storage=100k userdb_quota_rule2=Trash:storage=+1M "
                "userdb_quota_warning=storage=90%%",
    })
    inst.start()
    wait_ready(inst)
    c = LMTP(inst.lmtp_socket)
    c.reply()
    c.cmd("LHLO client.test")
    c.cmd("MAIL FROM:<carol@client.test>")
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert c.cmd("RCPT TO:<bob@example.test>")[0] == 250
    c.cmd("DATA")
    c.send(message(subject="big", body="x" * 4000 + "\r\n") + ".\r\n")
    r1, r2 = c.reply(), c.reply()
    assert r1 == (552, ["5.2.2 <alice@example.test> Quota exceeded (mailbox for user is full)"])
    assert r2[0] == 250, r2
    assert folder(inst, "alice") == [] and len(folder(inst, "bob")) == 1
    assert not os.path.exists(os.path.join(inst.home, "bob", "Maildir", "maildirsize"))
    dave = os.path.join(inst.home, "dave", "Maildir")
    # dave (100 KiB) crosses 90% with the second message: one warning, not more
    for i, size in enumerate((60000, 35000, 100)):
        c.cmd("MAIL FROM:<carol@client.test>")
        assert c.cmd("RCPT TO:<dave@example.test>")[0] == 250
        c.cmd("DATA")
        c.send(message(subject="m%d" % i, body="y" * size + "\r\n") + ".\r\n")
        assert c.reply()[0] == 250
        if i == 0:
            assert maildirsize(dave)[0] == "102400S"
            assert "quota warning" not in inst.log()
    c.cmd("QUIT")
    inst.wait_log("quota warning: 90% of the quota used, notifying <dave@example.test>")
    msgs = wait_folder(inst, "dave", 4)
    warnings = [m for m in msgs if b"Subject: Quota warning" in m]
    assert len(warnings) == 1, [m[:300] for m in msgs]
    assert inst.log().count("quota warning:") == 1
    assert maildirsize(dave)[1:] == on_disk(dave)


# ------------------------------------------------------------------ IMAP

def imap_setup(mailimap, limit):  # noqa: F811
    mi = mailimap(main={"virtual_maildir_extended": "yes", "virtual_trash_count": "no"})
    for d in ("", ".Trash"):
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(mi.maildir, d, sub), exist_ok=True)
    open(os.path.join(mi.maildir, ".Trash", "maildirfolder"), "w").close()
    with open(os.path.join(mi.maildir, "maildirsize"), "w") as f:
        f.write("%dS,100C\n0 0\n" % limit)
    for root, dirs, files in os.walk(os.path.dirname(mi.maildir)):
        for n in dirs + files + [""]:
            os.lchown(os.path.join(root, n), mi.vuid, mi.vgid)
    return mi


def quotaroot(m):
    typ, data = m._simple_command("GETQUOTAROOT", "INBOX")
    assert typ == "OK"
    q = m.untagged_responses.pop("QUOTA", [None])[0]
    m.untagged_responses.pop("QUOTAROOT", None)
    used, limit = re.search(rb"STORAGE (\d+) (\d+)", q).groups()
    count = re.search(rb"MESSAGE (\d+) (\d+)", q).group(1)
    return int(used), int(limit), int(count)


def test_imap_append_overquota_expunge_and_trash(mailimap):  # noqa: F811
    mi = imap_setup(mailimap, 30 * 1024)
    m = mi.login()
    msg = b"Subject: q\r\n\r\n" + b"m" * 10 * 1024 + b"\r\n"
    for _ in range(2):
        assert m.append("INBOX", None, None, msg)[0] == "OK"
    _, used, n = maildirsize(mi.maildir)
    assert (used, n) == on_disk(mi.maildir) and n == 2
    assert quotaroot(m) == ((used + 1023) // 1024, 30, 2)      # KiB rounded up, as Dovecot
    typ, data = m.append("INBOX", None, None, msg)
    assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
    assert maildirsize(mi.maildir)[1:] == (used, 2)
    # moved to Trash: no longer counted; expunged: gone from the count
    m.select("INBOX")
    assert m._simple_command("UID", "MOVE", "1", "Trash")[0] == "OK"
    assert maildirsize(mi.maildir)[1:] == on_disk(mi.maildir, skip=("Trash",)), open(
        os.path.join(mi.maildir, "maildirsize")).read()
    assert maildirsize(mi.maildir)[2] == 1
    assert m.append("INBOX", None, None, msg)[0] == "OK"     # room again
    m.store("1:*", "+FLAGS", "\\Deleted")
    m.expunge()
    assert maildirsize(mi.maildir)[1:] == (0, 0)
    assert quotaroot(m) == (0, 30, 0)
    # COPY out of Trash (not counted) into INBOX counts again
    m.select("Trash")
    assert m.copy("1:*", "INBOX")[0] == "OK"
    assert maildirsize(mi.maildir)[1:] == on_disk(mi.maildir, skip=("Trash",))
    m.logout()


@pytest.mark.skipif(not dovecot_available(), reason="dovecot-imapd not installed")
def test_dovecot_reads_the_same_maildirsize(mailimap, tmp_path):  # noqa: F811
    mi = imap_setup(mailimap, 60 * 1024)
    m = mi.login()
    for i in range(3):
        m.append("INBOX", None, None, b"Subject: %d\r\n\r\n" % i + b"d" * 5000 * (i + 1))
    m.logout()
    limits, used, n = maildirsize(mi.maildir)
    dc = PrivateDovecot(tmp_path / "dovecot", users={"alice@example.test": ("pw", mi.maildir)},
        extra_conf="mail_plugins = $mail_plugins quota\nplugin {\n"
                   "  quota = maildir:User quota\n  quota_rule = *:bytes=61440:messages=100\n"
                   "  quota_rule2 = Trash:ignore\n}\n")
    dc.start()
    try:
        out = dc.doveadm("-f", "tab", "quota", "get", "-u", "alice@example.test").stdout
    finally:
        dc.stop()
    # "Quota name  Type  Value  Limit  %": STORAGE in KiB
    rows = {ln.split("\t")[1]: ln.split("\t") for ln in out.splitlines()[1:]}
    assert int(rows["STORAGE"][2]) == (used + 1023) // 1024 and int(rows["STORAGE"][3]) == 60, out
    assert int(rows["MESSAGE"][2]) == n == 3 and int(rows["MESSAGE"][3]) == 100, out
    # Dovecot found nothing to recalculate: the numbers stay what yubin wrote
    assert maildirsize(mi.maildir)[1:] == (used, n)
