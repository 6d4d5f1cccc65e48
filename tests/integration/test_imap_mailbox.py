"""imapd's mailbox commands (issue 7): the mail location (virtual users'
Maildirs where `virtual` delivers, mail_location), SELECT/EXAMINE,
LIST/LSUB/STATUS/CREATE/DELETE/RENAME/SUBSCRIBE, NAMESPACE, ENABLE, QUOTA,
FETCH of every item, STORE and EXPUNGE seen from a second session, and one
user never seeing another's mail. Python's imaplib and a raw client drive
yubin; mail arrives through SMTP and `virtual`."""
import imaplib
import os
import re
import smtplib
import time

import pytest

from conftest import free_port, wait_port, IS_ROOT

USERS = {"alice@example.test": "alicepw", "bob@example.test": "bobpw"}


@pytest.fixture
def imap(instance):
    def make(main=None, users=None):
        port = free_port()
        inst = instance(main=None, master_extra="127.0.0.1:%d inet n - n - - imapd\n"
                                                 "auth unix n - n - 1 auth\n" % port)
        lines = users if users is not None else "".join(
            "%s:{PLAIN}%s::::::\n" % kv for kv in USERS.items())
        p = inst.write("users", lines)
        os.chmod(p, 0o644)
        inst.params.update({"auth_passdb": "passwd-file:" + p, "disable_plaintext_auth": "no",
                            "mail_uid": str(inst.vuid), "mail_gid": str(inst.vgid),
                            "first_valid_uid": "1" if inst.vuid else "0",
                            "mail_max_userip_connections": "100"})
        inst.params.update(main or {})
        inst.imap_port = port
        inst.start()
        assert wait_port(port)
        return inst
    return make


def login(inst, user="alice@example.test"):
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    m.login(user, USERS[user])
    return m


MSG1 = (b"From: Alice Sender <sender@example.org>\r\n"
        b"To: alice@example.test\r\n"
        b"Subject: first message\r\n"
        b"Message-ID: <m1@example.org>\r\n"
        b"Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"\r\n"
        b"Hello Alice.\r\n")

MSG2 = (b"From: sender@example.org\r\n"
        b"To: alice@example.test\r\n"
        b"Subject: second\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"part one\r\n"
        b"--b1\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"AAECAwQ=\r\n"
        b"--b1--\r\n")


def deliver(inst, rcpt, msg, n):
    """Send msg through SMTP and wait until virtual put it into the Maildir."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail("sender@example.org", [rcpt], msg)
    rel = "example.test/%s" % rcpt.split("@")[0]
    inst.wait_maildir(rel, n)


def test_select_examine_and_list(imap):
    inst = imap()
    deliver(inst, "alice@example.test", MSG1, 1)
    deliver(inst, "alice@example.test", MSG2, 2)
    m = login(inst)
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"2"], (typ, data)
    assert m.untagged_responses.get("RECENT") == [b"2"]
    assert m.untagged_responses.get("UIDVALIDITY")
    assert m.untagged_responses.get("UIDNEXT") == [b"3"]
    assert m.untagged_responses.get("UNSEEN") == [b"1"]
    assert m.untagged_responses.get("READ-WRITE") == [b""]
    assert re.match(rb"\(\\Answered \\Flagged \\Deleted \\Seen \\Draft\)",
                    m.untagged_responses["FLAGS"][0])
    typ, data = m.list()
    assert typ == "OK" and data == [b'(\\HasNoChildren) "." INBOX'], data
    assert m.create("Work")[0] == "OK"
    assert m.create("Work.Sub")[0] == "OK"
    typ, data = m.create("Work")
    assert typ == "NO" and b"[ALREADYEXISTS]" in data[0]
    typ, data = m.list('""', "*")
    assert data == [b'(\\HasNoChildren) "." INBOX', b'(\\HasChildren) "." Work',
                    b'(\\HasNoChildren) "." Work.Sub'], data
    typ, data = m.list('""', "%")
    assert data == [b'(\\HasNoChildren) "." INBOX', b'(\\HasChildren) "." Work'], data
    typ, data = m.list('""', '""')
    assert data == [b'(\\Noselect) "." ""'], data
    # a second session EXAMINEs: read-only, no \Recent left for it, FETCH BODY[] leaves \Seen alone
    m2 = login(inst)
    typ, data = m2.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"2"]
    assert m2.untagged_responses.get("READ-ONLY") == [b""]
    typ, data = m2.fetch("1", "(BODY[])")
    assert typ == "OK" and data[0][1] == MSG1, data
    typ, data = m2.fetch("1", "FLAGS")
    assert b"\\Seen" not in data[0], data
    m2.logout()
    m.logout()


def test_select_nonexistent_and_no_store_for_other_user(imap):
    inst = imap()
    m = login(inst)
    typ, data = m.select("Nope")
    assert typ == "NO" and data[0].startswith(b"[NONEXISTENT] Mailbox doesn't exist: Nope"), data
    m.logout()
