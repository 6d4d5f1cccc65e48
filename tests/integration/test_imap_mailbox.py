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

from conftest import free_port, wait_for, wait_port, IS_ROOT

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
    """Send msg through SMTP and wait until virtual put it into the Maildir;
    then a look with STATUS gives it its UID, so UIDs follow delivery order
    (two new files of one second are numbered in file-name order)."""
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.sendmail("sender@example.org", [rcpt], msg)
    d = os.path.join(inst.mail, "example.test", rcpt.split("@")[0])

    def count():
        return sum(len(os.listdir(os.path.join(d, sub))) for sub in ("new", "cur")
                   if os.path.isdir(os.path.join(d, sub)))
    assert wait_for(lambda: count() >= n, 15), inst.log()[-3000:]
    m = login(inst, rcpt)
    m.status("INBOX", "(UIDNEXT)")
    m.logout()


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
    assert typ == "OK" and data[0][1].endswith(b"\r\n" + MSG1), data
    typ, data = m2.fetch("1", "FLAGS")
    assert b"\\Seen" not in data[0], data
    m2.logout()
    m.logout()


def test_select_nonexistent_and_no_store_for_other_user(imap):
    inst = imap()
    m = login(inst)
    typ, data = m.select("Nope")
    # Dovecot's words (SELECT, EXAMINE and STATUS give no response code)
    assert typ == "NO" and data[0] == b"Mailbox doesn't exist: Nope", data
    m.logout()


def test_fetch_items(imap):
    inst = imap()
    deliver(inst, "alice@example.test", MSG1, 1)
    deliver(inst, "alice@example.test", MSG2, 2)
    m = login(inst)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert typ == "OK", data
    assert re.match(rb'1 \(UID 1 FLAGS \(\\Recent\) RFC822.SIZE \d+ INTERNALDATE "\d\d-\w\w\w-'
                    rb'\d{4} \d\d:\d\d:\d\d [+-]\d{4}"\)', data[0]), data
    typ, data = m.fetch("1", "ENVELOPE")
    assert b'"first message"' in data[0] and b'(("Alice Sender" NIL "sender" "example.org"))' \
        in data[0] and b'"<m1@example.org>"' in data[0], data
    typ, data = m.fetch("2", "BODYSTRUCTURE")
    assert b'("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 8 0 NIL NIL NIL NIL)' in data[0], data
    assert b'"mixed" ("boundary" "b1")' in data[0], data
    typ, data = m.fetch("2", "(BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2])")
    assert data[0][1] == b"part one" and data[1][1] == b"\x00\x01\x02\x03\x04", data
    assert b"BINARY.SIZE[2] 5" in data[2], data
    typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"Subject: first message\r\n\r\n", data
    typ, data = m.fetch("1", "(BODY.PEEK[]<0.4>)")
    assert data[0][0].endswith(b"BODY[]<0> {4}") and data[0][1] == b"Retu", data
    typ, data = m.fetch("1", "(RFC822.HEADER RFC822.TEXT)")
    assert data[0][1].endswith(MSG1.split(b"\r\n\r\n")[0] + b"\r\n\r\n"), data
    assert data[1][1] == b"Hello Alice.\r\n", data
    # RFC822.TEXT is not PEEK: \Seen is set and FLAGS sent with it
    typ, data = m.fetch("1", "FLAGS")
    assert b"\\Seen" in data[0], data
    typ, data = m.uid("FETCH", "2", "(MODSEQ)")
    assert re.match(rb"2 \(UID 2 MODSEQ \(\d+\)\)", data[0]), data
    with pytest.raises(imaplib.IMAP4.error, match="Invalid messageset"):
        m.fetch("3", "FLAGS")
    typ, data = m.uid("FETCH", "3:*", "FLAGS")   # "*" is the highest UID: 2 is in 3:*
    assert typ == "OK" and len(data) == 1 and b"UID 2" in data[0], data
    m.logout()


def test_store_expunge_two_sessions(imap):
    inst = imap()
    for i in range(3):
        deliver(inst, "alice@example.test", MSG1, i + 1)
    a = login(inst)
    b = login(inst)
    a.select("INBOX")
    b.select("INBOX")
    typ, data = a.store("1", "+FLAGS", "(\\Flagged $Work)")
    assert typ == "OK" and b"\\Flagged" in data[0] and b"$Work" in data[0], data
    typ, data = a.store("2", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK" and data == [None], data
    typ, data = a.store("1", "-FLAGS", "($Work)")
    assert b"$Work" not in data[0]
    # b sees a's flag changes at NOOP as untagged FETCH FLAGS
    b.noop()
    fetches = b.untagged_responses.pop("FETCH", [])
    assert any(b"\\Flagged" in f for f in fetches) and any(b"\\Deleted" in f for f in fetches), \
        fetches
    # a expunges message 2; b is told at its NOOP, not during a FETCH
    typ, data = a.expunge()
    assert typ == "OK" and data == [b"2"], data
    typ, data = b.fetch("1:3", "UID")
    assert typ in ("OK", "NO") and len([d for d in data if d and b"UID" in d]) >= 2, data
    assert "EXPUNGE" not in b.untagged_responses
    typ, data = b.noop()
    assert b.untagged_responses.get("EXPUNGE") == [b"2"]
    typ, data = b.fetch("1:*", "UID")
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"1", b"3"], data
    # UID EXPUNGE only expunges the named \Deleted messages
    a.store("1:2", "+FLAGS", "\\Deleted")
    typ, data = a._simple_command("UID", "EXPUNGE", "3")
    typ, data = a._untagged_response(typ, data, "EXPUNGE")
    assert typ == "OK" and data == [b"2"], data
    typ, data = a.fetch("1:*", "UID")
    assert len(data) == 1 and b"UID 1" in data[0]
    # CLOSE expunges silently
    typ, data = a.close()
    assert typ == "OK" and "EXPUNGE" not in a.untagged_responses
    a.select("INBOX")
    assert a.untagged_responses.get("EXISTS") == [b"0"]
    a.logout()
    b.logout()


def test_examine_is_read_only(imap):
    inst = imap()
    deliver(inst, "alice@example.test", MSG1, 1)
    m = login(inst)
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1", "(BODY[TEXT] FLAGS)")
    assert typ == "OK" and b"\\Seen" not in data[-1], data
    typ, data = m.store("1", "+FLAGS", "\\Seen")
    assert typ == "NO"
    typ, data = m.expunge()
    assert typ == "NO"
    m.logout()
    m = login(inst)
    typ, data = m.select("INBOX")
    assert m.untagged_responses.get("UNSEEN") == [b"1"]
    m.logout()


def test_other_user_sees_only_own_mail(imap):
    inst = imap()
    deliver(inst, "alice@example.test", MSG1, 1)
    deliver(inst, "bob@example.test", MSG2, 1)
    b = login(inst, "bob@example.test")
    typ, data = b.select("INBOX")
    assert data == [b"1"]
    typ, data = b.fetch("1", "(BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert data[0][1] == b"Subject: second\r\n\r\n"
    typ, data = b.status("INBOX", "(MESSAGES)")
    assert data == [b"INBOX (MESSAGES 1)"], data
    b.logout()


def test_folders_status_subscribe_rename_delete(imap):
    inst = imap()
    deliver(inst, "alice@example.test", MSG1, 1)
    m = login(inst)
    assert m.create("Archive")[0] == "OK"
    assert m.create("Projekte.Büro".encode("utf-7").decode().replace("+", "&"))[0] in ("OK", "NO")
    typ, data = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE)")
    assert typ == "OK" and re.match(rb"INBOX \(MESSAGES 1 RECENT 1 UIDNEXT 2 UIDVALIDITY \d+ "
                                    rb"UNSEEN 1 HIGHESTMODSEQ \d+ SIZE \d+\)", data[0]), data
    typ, data = m.status("Nope", "(MESSAGES)")
    assert typ == "NO" and data[0] == b"Mailbox doesn't exist: Nope"
    assert m.subscribe("Archive")[0] == "OK"
    typ, data = m.lsub('""', "*")
    assert data == [b'() "." Archive'], data
    typ, data = m._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
    typ, data = m._untagged_response(typ, data, "LIST")
    assert data == [b'(\\Subscribed \\HasNoChildren \\Archive) "." Archive'], data
    typ, data = m._simple_command("LIST", '""', "*", "RETURN", "(SPECIAL-USE STATUS (MESSAGES))")
    lists = m.untagged_responses.pop("LIST", [])
    assert b'(\\HasNoChildren \\Archive) "." Archive' in lists, lists
    typ, data = m._untagged_response(typ, data, "STATUS")
    assert data == [b"INBOX (MESSAGES 1)", b"Archive (MESSAGES 0)"] or \
        b"Archive (MESSAGES 0)" in data, data
    assert m.rename("Archive", "Old.Archive")[0] == "OK"
    typ, data = m.list('""', "Old*")
    assert data == [b'(\\Noselect \\HasChildren) "." Old',
                    b'(\\HasNoChildren) "." Old.Archive'], data
    typ, data = m.delete("INBOX")
    assert typ == "NO"
    assert m.delete("Old.Archive")[0] == "OK"
    typ, data = m.delete("Old.Archive")
    assert typ == "NO" and b"[NONEXISTENT]" in data[0]
    typ, data = m.namespace()
    assert data == [b'(("" ".")) NIL NIL'], data
    typ, data = m._simple_command("ENABLE", "CONDSTORE", "UTF8=ACCEPT")
    # CONDSTORE is on already (STATUS HIGHESTMODSEQ enables it): ENABLED names what is new
    assert typ == "OK" and m.untagged_responses.get("ENABLED") == [b"UTF8=ACCEPT"]
    m.logout()


def test_mail_location_from_main_cf(imap, tmp_path):
    home = tmp_path / "home" / "carol"
    os.makedirs(home)
    if IS_ROOT:
        import pwd
        vm = pwd.getpwnam("vmail")
        os.chown(home, vm.pw_uid, vm.pw_gid)
        os.chmod(tmp_path, 0o755)
        os.chmod(tmp_path / "home", 0o755)
    USERS["carol@other.test"] = "carolpw"
    try:
        inst = imap(main={"mail_location": "maildir:%h/Mail%%/%Ln"},
                    users="carol@other.test:{PLAIN}carolpw::::%s::\n" % home)
        m = login(inst, "carol@other.test")
        assert m.select("INBOX")[0] == "OK"
        assert os.path.isdir(home / "Mail%" / "carol" / "cur")
        m.logout()
    finally:
        del USERS["carol@other.test"]


def test_unsupported_mail_location_is_refused(imap):
    inst = imap(main={"mail_location": "mbox:~/mail"})
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    with pytest.raises(imaplib.IMAP4.error):
        m.login("alice@example.test", USERS["alice@example.test"])
    inst.wait_log("only maildir mail locations are supported")


def test_fetch_larger_than_the_output_buffer(imap):
    """FETCH 1:* of 12 MB (the session's output queue holds 4 MB): the reply
    is sent as the client reads it, complete and in order."""
    inst = imap()
    d = os.path.join(inst.mail, "example.test", "alice")
    for sub in ("", "new", "cur", "tmp"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    body = (b"x" * 76 + b"\r\n") * (200 * 1024 // 78)
    for i in range(60):
        p = os.path.join(d, "new", "1700000000.M%06dP1.test" % i)
        with open(p, "wb") as f:
            f.write(b"Subject: m%d\r\n\r\n" % i + body)
    if IS_ROOT:
        for top, dirs, files in os.walk(os.path.join(inst.mail, "example.test")):
            for n in dirs + files:
                os.chown(os.path.join(top, n), inst.vuid, inst.vgid)
            os.chown(top, inst.vuid, inst.vgid)
    m = login(inst)
    typ, data = m.select("INBOX")
    assert data == [b"60"]
    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
    assert typ == "OK"
    msgs = [x for x in data if isinstance(x, tuple)]
    assert len(msgs) == 60
    for i, (head, text) in enumerate(msgs):
        assert head.startswith(b"%d (BODY[] {" % (i + 1)) and text.endswith(body)
        assert text.startswith(b"Subject: m%d\r\n" % i)
    m.logout()


MSG3 = (b"From: \"Group Test\" <g@example.org>\r\n"
        b"To: friends: a@example.org, \"B. B.\" <b@example.org>;, c@example.org\r\n"
        b"Cc: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
        b"Subject: =?utf-8?b?w4RwZmVs?= and more\r\n"
        b"In-Reply-To: <prev@example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=outer\r\n"
        b"\r\n"
        b"preamble\r\n"
        b"--outer\r\n"
        b"Content-Type: multipart/alternative; boundary=inner\r\n"
        b"\r\n"
        b"--inner\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b"\r\n"
        b"caf=E9\r\n"
        b"--inner\r\n"
        b"Content-Type: text/html\r\n"
        b"\r\n"
        b"<p>caf&eacute;</p>\r\n"
        b"--inner--\r\n"
        b"--outer\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"Content-Disposition: attachment; filename=\"fwd.eml\"\r\n"
        b"\r\n"
        b"From: inner@example.org\r\n"
        b"Subject: inner\r\n"
        b"\r\n"
        b"inner body\r\n"
        b"--outer--\r\n")


def test_same_answers_as_dovecot(imap, tmp_path):
    """The same Maildir through yubin and through Dovecot: FETCH items, LIST
    and STATUS answer the same bytes."""
    import dovecot
    if not dovecot.available():
        pytest.skip("Dovecot (dovecot-imapd) is not installed")
    inst = imap()
    for i, msg in enumerate((MSG1, MSG2, MSG3)):
        deliver(inst, "alice@example.test", msg, i + 1)
    m = login(inst)
    for name in ("Work", "Work.Sub", "Projekte.Alt"):
        assert m.create(name)[0] == "OK"
    m.logout()
    maildir = os.path.join(inst.mail, "example.test", "alice")
    dc = dovecot.PrivateDovecot(tmp_path / "dovecot", users={
        "alice@example.test": ("alicepw", maildir)}).start()
    try:
        y = login(inst)
        d = imaplib.IMAP4("127.0.0.1", dc.imap_port)
        d.login("alice@example.test", "alicepw")
        items = ("(UID RFC822.SIZE INTERNALDATE ENVELOPE BODY BODYSTRUCTURE BODY.PEEK[1.MIME] "
                 "BODY.PEEK[HEADER.FIELDS (From Subject)] BODY.PEEK[TEXT]<0.20> BODY.PEEK[2.1] "
                 "BODY.PEEK[2.HEADER] BODY.PEEK[1.2])")
        for c in (y, d):
            typ, data = c.select("INBOX", readonly=True)
            assert typ == "OK" and data == [b"3"], data
        for seq in ("1", "2", "3"):
            ry, rd = y.fetch(seq, items), d.fetch(seq, items)
            if ry != rd:
                print("YUBIN", ry)
                print("DOVECOT", rd)
            assert ry == rd, seq
        for args in (('""', "*"), ('""', "%"), ('""', "Work.%")):
            (ty, ry), (td, rd) = y.list(*args), d.list(*args)
            assert ty == td == "OK" and sorted(ry) == sorted(rd), (args, ry, rd)   # any order
        for box in ("INBOX", "Work.Sub"):
            q = "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"
            assert y.status(box, q) == d.status(box, q)
        y.logout()
        d.logout()
        # the untagged data and words of SELECT / EXAMINE (timings and MODSEQ values aside)
        from test_imap_login import Raw

        def session(port, cmds):
            r = Raw(port)
            r.line()
            r.send("a LOGIN alice@example.test alicepw\r\n")
            r.until("a")
            out = []
            for i, c in enumerate(cmds):
                r.send("t%d %s\r\n" % (i, c))
                out += r.until("t%d" % i)
            r.close()
            norm = [re.sub(r" \(\d+\.\d+ \+ \d+\.\d+( \+ \d+\.\d+)? secs\)\.?$", "", l)
                    for l in out]
            norm = [re.sub(r"HIGHESTMODSEQ \d+", "HIGHESTMODSEQ n", l) for l in norm]
            # \Recent is each server's own (yubin.index, dovecot.index); a final "." aside
            norm = [re.sub(r" ?\\Recent", "", l) for l in norm]
            return [re.sub(r"^\* \d+ RECENT$", "* n RECENT", l.rstrip(".")) for l in norm]
        # (Dovecot here has no quota plugin: GETQUOTAROOT is not compared; its MODSEQs are
        # its own index's)
        cmds = ["EXAMINE INBOX", "SELECT Work", "SELECT Nope", "STATUS Nope (MESSAGES)",
                "CREATE Work", "NAMESPACE", "LIST \"\" \"\"", "UNSELECT",
                "DELETE Nope", "RENAME Nope Other", "RENAME Work Projekte.Alt", "CREATE INBOX",
                "DELETE INBOX", "RENAME Work Work.Sub.Deeper", "CREATE a&b", "SUBSCRIBE Nope",
                "UNSUBSCRIBE Nope", "LSUB \"\" *", "CHECK",
                "SELECT INBOX", "FETCH 1 (FLAGS)", "FETCH 4 FLAGS", "STORE 1 +FLAGS (\\Recent)",
                "UID FETCH 9 FLAGS", "CLOSE", "ENABLE CONDSTORE", "EXAMINE INBOX",
                "STATUS INBOX (MESSAGES X-FOO)"]
        sy, sd = session(inst.imap_port, cmds), session(dc.imap_port, cmds)
        assert sy == sd, "\n".join(sy + ["-- dovecot:"] + sd)
    finally:
        dc.stop()


def raw_session(inst, user="alice@example.test"):
    from test_imap_login import Raw
    r = Raw(inst.imap_port)
    r.line()
    r.send("a LOGIN %s %s\r\n" % (user, USERS[user]))
    r.until("a")
    return r


def test_condstore_qresync(imap):
    inst = imap()
    for i in range(3):
        deliver(inst, "alice@example.test", MSG1, i + 1)
    r = raw_session(inst)
    r.send("b SELECT INBOX (CONDSTORE)\r\n")
    lines = r.until("b")
    hms = [l for l in lines if "HIGHESTMODSEQ" in l]
    assert hms, lines
    base = int(re.search(r"HIGHESTMODSEQ (\d+)", hms[0]).group(1))
    uidvalidity = re.search(r"UIDVALIDITY (\d+)", "\n".join(lines)).group(1)
    r.send("c STORE 2 +FLAGS.SILENT (\\Flagged)\r\n")
    lines = r.until("c")
    assert re.match(r"\* 2 FETCH \(MODSEQ \((\d+)\)\)", lines[0]), lines
    newms = int(re.search(r"MODSEQ \((\d+)\)", lines[0]).group(1))
    assert newms > base
    # UNCHANGEDSINCE below the message's MODSEQ: not changed, named in [MODIFIED]
    r.send("d STORE 2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)\r\n" % base)
    assert r.until("d")[-1] == "d OK [MODIFIED 2] Conditional STORE failed"
    r.send("e FETCH 1:* (FLAGS) (CHANGEDSINCE %d)\r\n" % base)
    lines = r.until("e")
    assert len(lines) == 2 and lines[0].startswith("* 2 FETCH (FLAGS (\\Flagged") and \
        "MODSEQ (%d)" % newms in lines[0], lines
    r.send("f STORE 3 +FLAGS.SILENT (\\Deleted)\r\ng EXPUNGE\r\nh ENABLE QRESYNC\r\n")
    r.until("h")
    # QRESYNC: VANISHED (EARLIER) for the expunged UID, FETCH for what changed since
    r.send("i SELECT INBOX (QRESYNC (%s %d 1:3))\r\n" % (uidvalidity, base))
    lines = r.until("i")
    assert "* VANISHED (EARLIER) 3" in lines, lines
    assert any(l.startswith("* 2 FETCH (UID 2 FLAGS (\\Flagged") for l in lines), lines
    r.send("j UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)\r\n" % base)
    lines = r.until("j")
    assert lines[0] == "* VANISHED (EARLIER) 3", lines
    r.close()


def test_utf8_accept_names(imap):
    inst = imap()
    r = raw_session(inst)
    r.send('b CREATE "B&APw-ro"\r\nc ENABLE UTF8=ACCEPT\r\n')
    assert r.until("b")[-1] == "b OK Create completed."
    assert r.until("c")[0] == "* ENABLED UTF8=ACCEPT"
    r.send('d LIST "" B*\r\n')
    lines = r.until("d")
    assert lines[0] == '* LIST (\\HasNoChildren) "." "Büro"', lines
    r.send('e SELECT "Büro"\r\n')
    assert r.until("e")[-1].startswith("e OK [READ-WRITE]")
    r.close()
