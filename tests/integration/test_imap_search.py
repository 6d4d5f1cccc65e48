"""SEARCH, SORT and THREAD in the mail worker: flags, addresses, subjects
(RFC 2047), bodies (base64, quoted-printable), dates (INTERNALDATE and
Date:), sizes, OR/NOT, sequence and UID ranges, ESEARCH RETURN, SEARCHRES
`$`, CHARSET; SORT by ARRIVAL, DATE, FROM, SUBJECT (Re:/Fwd: stripped),
SIZE, REVERSE; and the same searches against the real Dovecot serving the
same Maildir."""
import re
import socket

import pytest

import dovecot
from imap_mailbox import mailimap  # noqa: F401 (fixture)

CORPUS = [
    # (flags, internaldate, message)
    (r"(\Seen)", "01-Feb-2024 10:00:00 +0000",
     "From: Zed Zebra <zed@zoo.example>\r\nTo: alice@example.test\r\n"
     "Subject: Re: Lunch plans\r\nDate: Thu, 1 Feb 2024 09:00:00 +0000\r\n\r\n"
     "Shall we meet at noon?\r\n"),
    (r"(\Flagged)", "05-Mar-2024 12:00:00 +0000",
     "From: Anna Apple <anna@fruit.example>\r\nTo: alice@example.test\r\nCc: bob@example.test\r\n"
     "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_M=C3=BCnchen?=\r\n"
     "Date: Tue, 5 Mar 2024 13:00:00 +0100\r\n"
     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
     "Content-Transfer-Encoding: base64\r\n\r\n"
     "RGFzIFBhc3N3b3J0IGlzdCBzd29yZGZpc2gu\r\n"),
    (r"(\Seen \Answered)", "10-Mar-2024 08:00:00 +0000",
     "From: bob@example.test\r\nTo: alice@example.test\r\n"
     "Subject: Fwd: Lunch plans\r\nDate: Sun, 10 Mar 2024 07:59:00 +0000\r\n\r\n"
     + "padding line to make this message larger than the others\r\n" * 40),
    (None, "15-Apr-2024 18:30:00 +0000",
     "From: Mallory <mallory@evil.example>\r\nTo: alice@example.test\r\n"
     "Subject: [SPAM] Cheap watches\r\nDate: Mon, 15 Apr 2024 18:00:00 -0700\r\n"
     "Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
     "<p>Sch=F6ne Uhren, billig!</p>\r\n"),
    (r"(\Deleted $Important)", "20-May-2024 00:00:00 +0000",
     "From: Anna Apple <anna@fruit.example>\r\nTo: team@example.test\r\n"
     "Subject: lunch PLANS\r\nDate: Mon, 20 May 2024 09:00:00 +0000\r\n\r\n"
     "Minutes of the meeting.\r\n"),
    (None, "21-May-2024 00:00:00 +0000",
     "From: carol@example.test\r\nTo: alice@example.test\r\nSubject: No date here\r\n\r\n"
     "A message without a Date: field.\r\n"),
]


def raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    f = s.makefile("rb")
    f.readline()
    return s, f


def cmd(s, f, tag, line):
    s.sendall(("%s %s\r\n" % (tag, line)).encode())
    out = []
    while True:
        l = f.readline().decode("utf-8", "replace").rstrip("\r\n")
        out.append(l)
        if l.startswith(tag + " "):
            return out


@pytest.fixture
def corpus(mailimap):
    mi = mailimap()
    m = mi.login()
    for flags, date, text in CORPUS:
        typ, data = m.append("INBOX", flags, '"%s"' % date, text.encode())
        assert typ == "OK", data
    m.logout()
    return mi


def search(m, *crit, uid=False):
    crit = [c.encode() for c in crit]         # UTF-8 in quoted strings (imaplib sends ASCII)
    typ, data = (m.uid("SEARCH", *crit) if uid else m.search(None, *crit))
    assert typ == "OK", data
    return data[0].decode().split()


SEARCHES = [
    ("ALL",), ("SEEN",), ("UNSEEN",), ("FLAGGED",), ("ANSWERED",), ("DELETED",), ("UNDELETED",),
    ("KEYWORD", "$Important"), ("UNKEYWORD", "$Important"), ("NEW",), ("OLD",), ("RECENT",),
    ("FROM", "anna"), ("FROM", "ANNA@FRUIT"), ("TO", "team"), ("CC", "bob"),
    ("SUBJECT", "lunch"), ("SUBJECT", '"Grüße"'), ("SUBJECT", "münchen"),
    ("BODY", "swordfish"), ("BODY", "noon"), ("BODY", '"Schöne Uhren"'), ("TEXT", "mallory"),
    ("TEXT", "meeting"), ("HEADER", "Cc", '""'), ("HEADER", "Content-Type", "html"),
    ("SINCE", "5-Mar-2024"), ("BEFORE", "5-Mar-2024"), ("ON", "10-Mar-2024"),
    ("SENTSINCE", "15-Apr-2024"), ("SENTBEFORE", "1-Mar-2024"), ("SENTON", "5-Mar-2024"),
    ("LARGER", "1000"), ("SMALLER", "300"),
    ("OR", "FLAGGED", "ANSWERED"), ("NOT", "SEEN"), ("NOT", "OR", "SEEN", "DELETED"),
    ("2:4",), ("4:*",), ("*",), ("UID", "3:5"), ("UID", "2,4:*"), ("(OR SEEN FLAGGED) SUBJECT lunch",),
    ("CHARSET", "UTF-8", "SUBJECT", '"Grüße"'), ("1:3", "NOT", "FROM", "bob"),
]


def test_search_keys(corpus):
    m = corpus.login()
    typ, data = m.select("INBOX")
    assert data == [b"6"]
    r = {c: search(m, *c) for c in SEARCHES}
    assert r[("ALL",)] == ["1", "2", "3", "4", "5", "6"]
    assert r[("SEEN",)] == ["1", "3"]
    assert r[("FLAGGED",)] == ["2"]
    assert r[("DELETED",)] == ["5"]
    assert r[("KEYWORD", "$Important")] == ["5"]
    assert r[("FROM", "anna")] == ["2", "5"]
    assert r[("FROM", "ANNA@FRUIT")] == ["2", "5"]
    assert r[("CC", "bob")] == ["2"]
    assert r[("SUBJECT", "lunch")] == ["1", "3", "5"]
    assert r[("SUBJECT", "münchen")] == ["2"]       # M/m folded, ü the same bytes
    assert r[("BODY", "swordfish")] == ["2"]        # base64
    assert r[("BODY", '"Schöne Uhren"')] == ["4"]   # quoted-printable, latin-1
    assert r[("TEXT", "mallory")] == ["4"]
    assert r[("HEADER", "Cc", '""')] == ["2"]
    assert r[("SINCE", "5-Mar-2024")] == ["2", "3", "4", "5", "6"]
    assert r[("BEFORE", "5-Mar-2024")] == ["1"]
    assert r[("ON", "10-Mar-2024")] == ["3"]
    assert r[("SENTON", "5-Mar-2024")] == ["2"]      # the Date: field's own day
    assert r[("SENTSINCE", "15-Apr-2024")] == ["4", "5"]   # 6: no Date: is 1970, as Dovecot
    assert r[("SENTBEFORE", "1-Mar-2024")] == ["1", "6"]
    assert r[("LARGER", "1000")] == ["3"]
    assert r[("OR", "FLAGGED", "ANSWERED")] == ["2", "3"]
    assert r[("NOT", "OR", "SEEN", "DELETED")] == ["2", "4", "6"]
    assert r[("4:*",)] == ["4", "5", "6"]
    assert r[("*",)] == ["6"]
    assert r[("UID", "2,4:*")] == ["2", "4", "5", "6"]
    assert r[("(OR SEEN FLAGGED) SUBJECT lunch",)] == ["1", "3"]
    assert r[("CHARSET", "UTF-8", "SUBJECT", '"Grüße"')] == ["2"]
    assert r[("1:3", "NOT", "FROM", "bob")] == ["1", "2"]
    assert search(m, "UID", "2:3", uid=True) == ["2", "3"]
    m.logout()


def test_search_errors_and_charset(corpus):
    s, f = raw(corpus.port)
    cmd(s, f, "l", "LOGIN alice@example.test alicepw")
    cmd(s, f, "s", "SELECT INBOX")
    last = cmd(s, f, "a1", "SEARCH CHARSET KOI8-R SUBJECT x")[-1]
    assert last.startswith("a1 NO [BADCHARSET (UTF-8 US-ASCII)]"), last
    last = cmd(s, f, "a2", "SEARCH BOGUS")[-1]
    assert last.startswith("a2 BAD"), last
    last = cmd(s, f, "a3", "SEARCH")[-1]
    assert last.startswith("a3 BAD"), last
    lines = cmd(s, f, "a4", "SEARCH SEEN")
    assert lines[0] == "* SEARCH 1 3"
    assert re.match(r"a4 OK Search completed \(\d+\.\d{3} \+ 0\.000 secs\)\.", lines[-1]), lines
    lines = cmd(s, f, "a5", "SEARCH SUBJECT nothing-matches-this")
    assert lines[0] == "* SEARCH"
    s.close()


def test_esearch_and_searchres(corpus):
    s, f = raw(corpus.port)
    cmd(s, f, "l", "LOGIN alice@example.test alicepw")
    cmd(s, f, "s", "SELECT INBOX")
    lines = cmd(s, f, "a1", "SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT lunch")
    assert lines[0] == '* ESEARCH (TAG "a1") MIN 1 MAX 5 ALL 1,3,5 COUNT 3', lines
    lines = cmd(s, f, "a2", "UID SEARCH RETURN () FROM anna")
    assert lines[0] == '* ESEARCH (TAG "a2") UID ALL 2,5', lines
    lines = cmd(s, f, "a3", "SEARCH RETURN (COUNT) SUBJECT nothing")
    assert lines[0] == '* ESEARCH (TAG "a3") COUNT 0', lines
    # SAVE alone: no ESEARCH; $ then means that result
    lines = cmd(s, f, "a4", "SEARCH RETURN (SAVE) OR FLAGGED ANSWERED")
    assert len(lines) == 1 and lines[0].startswith("a4 OK"), lines
    lines = cmd(s, f, "a5", "SEARCH $")
    assert lines[0] == "* SEARCH 2 3", lines
    lines = cmd(s, f, "a6", "UID SEARCH $ SEEN")
    assert lines[0] == "* SEARCH 3", lines
    lines = cmd(s, f, "a7", "SEARCH RETURN (SAVE MIN) SUBJECT lunch")
    assert lines[0] == '* ESEARCH (TAG "a7") MIN 1', lines
    lines = cmd(s, f, "a8", "UID COPY $ INBOX")
    assert "COPYUID" in lines[-1] and " 1,3,5 7:9]" in lines[-1], lines
    s.close()


def test_sort(corpus):
    s, f = raw(corpus.port)
    cmd(s, f, "l", "LOGIN alice@example.test alicepw")
    cmd(s, f, "s", "SELECT INBOX")

    def sort(crit, uid=""):
        lines = cmd(s, f, "t", "%sSORT (%s) UTF-8 ALL" % (uid, crit))
        assert lines[-1].startswith("t OK Sort completed"), lines
        return lines[0]
    assert sort("ARRIVAL") == "* SORT 1 2 3 4 5 6"
    assert sort("REVERSE ARRIVAL") == "* SORT 6 5 4 3 2 1"
    # DATE: 6 has no Date: (its INTERNALDATE counts); 2 is 12:00 UTC
    assert sort("DATE") == "* SORT 1 2 3 4 5 6"
    assert sort("FROM") == "* SORT 2 5 3 6 4 1"       # anna anna bob carol mallory zed
    assert sort("REVERSE FROM") == "* SORT 1 4 6 3 2 5"   # ties: by sequence
    # base subjects: "Cheap watches" (a leading [blob] goes), "Grüße ...", "Lunch plans" x3
    # (Re:, Fwd: and case do not count: by sequence), "No date here"
    assert sort("SUBJECT") == "* SORT 4 2 1 3 5 6"
    assert sort("SIZE") == "* SORT " + " ".join(sort("SIZE").split()[2:])
    assert sort("SIZE").split()[-1] == "3"
    assert sort("FROM DATE") == "* SORT 2 5 3 6 4 1"
    assert sort("FROM REVERSE DATE") == "* SORT 5 2 3 6 4 1"
    assert sort("ARRIVAL", uid="UID ") == "* SORT 1 2 3 4 5 6"
    lines = cmd(s, f, "t2", "SORT (SUBJECT) UTF-8 SUBJECT lunch")
    assert lines[0] == "* SORT 1 3 5", lines
    lines = cmd(s, f, "t3", "SORT (BOGUS) UTF-8 ALL")
    assert lines[-1].startswith("t3 BAD"), lines
    lines = cmd(s, f, "t4", "THREAD BOGUS UTF-8 ALL")
    assert lines[-1] == "t4 BAD Unknown thread algorithm.", lines
    lines = cmd(s, f, "t5", "THREAD ORDEREDSUBJECT UTF-8 ALL")
    assert lines[0] == "* THREAD (1 (3)(5))(2)(4)(6)", lines
    assert lines[-1].startswith("t5 OK Thread completed"), lines
    lines = cmd(s, f, "t6", "UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT lunch NOT DELETED")
    assert lines[0] == "* THREAD (1 3)", lines
    lines = cmd(s, f, "t7", "THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing")
    assert lines[0] == "* THREAD", lines
    s.close()


@pytest.mark.skipif(not dovecot.available(), reason="Dovecot is not installed")
def test_same_results_as_dovecot(corpus, tmp_path):
    ours = corpus.login()
    ours.select("INBOX", readonly=True)
    dc = dovecot.PrivateDovecot(tmp_path / "dovecot", maildir=corpus.maildir).start()
    try:
        theirs = __import__("imaplib").IMAP4("127.0.0.1", dc.imap_port)
        theirs.login(dc.user, dc.password)
        theirs.select("INBOX", readonly=True)
        skip = {("RECENT",), ("NEW",), ("OLD",), ("SUBJECT", "münchen")}   # 8-bit atom: BAD there
        diffs = []
        for c in SEARCHES:
            if c in skip:
                continue
            a, b = search(ours, *c), search(theirs, *c)
            if a != b:
                diffs.append((c, a, b))
        for crit in ("ARRIVAL", "DATE", "FROM", "SUBJECT", "SIZE", "REVERSE DATE", "CC", "TO"):
            a = ours.sort("(%s)" % crit, "UTF-8", "ALL")[1]
            b = theirs.sort("(%s)" % crit, "UTF-8", "ALL")[1]
            if a != b:
                diffs.append((crit, a, b))
        for alg in ("ORDEREDSUBJECT", "REFERENCES"):
            a = ours.thread(alg, "UTF-8", "ALL")[1]
            b = theirs.thread(alg, "UTF-8", "ALL")[1]
            if a != b:
                diffs.append((alg, a, b))
        assert not diffs, diffs
        theirs.logout()
    finally:
        dc.stop()
    ours.logout()


THREADED = [
    # (Message-ID, References / In-Reply-To header, Subject, Date)
    ("<a@t>", "", "Plans", "Mon, 1 Jan 2024 10:00:00 +0000"),
    ("<b@t>", "In-Reply-To: <a@t>\r\n", "Re: Plans", "Mon, 1 Jan 2024 11:00:00 +0000"),
    ("<c@t>", "References: <a@t> <b@t>\r\n", "Re: Plans", "Mon, 1 Jan 2024 12:00:00 +0000"),
    ("<d@t>", "References: <a@t>\r\n", "Re: Plans", "Mon, 1 Jan 2024 09:30:00 +0000"),
    ("<e@t>", "References: <gone@t>\r\n", "Other", "Tue, 2 Jan 2024 10:00:00 +0000"),
    ("<f@t>", "References: <gone@t>\r\n", "Re: Other", "Tue, 2 Jan 2024 11:00:00 +0000"),
    ("<g@t>", "", "Plans", "Wed, 3 Jan 2024 10:00:00 +0000"),
    ("<h@t>", "", "Fwd: Solo", "Dec, 31 Dec 2023 10:00:00 +0000"),
    ("<a@t>", "", "Duplicate id", "Thu, 4 Jan 2024 10:00:00 +0000"),
]


@pytest.fixture
def threaded(mailimap):
    mi = mailimap()
    m = mi.login()
    for mid, refs, subj, date in THREADED:
        text = ("From: x@example.test\r\nMessage-ID: %s\r\n%sSubject: %s\r\nDate: %s\r\n\r\nx\r\n"
                % (mid, refs, subj, date))
        assert m.append("INBOX", None, None, text.encode())[0] == "OK"
    m.logout()
    return mi


def test_thread_references(threaded):
    s, f = raw(threaded.port)
    cmd(s, f, "l", "LOGIN alice@example.test alicepw")
    cmd(s, f, "s", "SELECT INBOX")
    lines = cmd(s, f, "t1", "THREAD REFERENCES UTF-8 ALL")
    assert lines[-1].startswith("t1 OK Thread completed"), lines
    # 7 "Plans" gathers with 1's thread under a dummy; 5 and 6 share a missing parent;
    # 9 reuses 1's Message-ID (a thread of its own); 8 is the oldest
    assert lines[0] == "* THREAD (8)((1 (4)(2 3))(7))((5)(6))(9)", lines
    lines = cmd(s, f, "t2", "UID THREAD REFERENCES UTF-8 SUBJECT other")
    assert lines[0] == "* THREAD ((5)(6))", lines
    s.close()


@pytest.mark.skipif(not dovecot.available(), reason="Dovecot is not installed")
def test_thread_references_as_dovecot(threaded, tmp_path):
    ours = threaded.login()
    ours.select("INBOX", readonly=True)
    dc = dovecot.PrivateDovecot(tmp_path / "dovecot", maildir=threaded.maildir).start()
    try:
        theirs = __import__("imaplib").IMAP4("127.0.0.1", dc.imap_port)
        theirs.login(dc.user, dc.password)
        theirs.select("INBOX", readonly=True)
        for alg in ("REFERENCES", "ORDEREDSUBJECT"):
            assert ours.thread(alg, "UTF-8", "ALL") == theirs.thread(alg, "UTF-8", "ALL"), alg
        theirs.logout()
    finally:
        dc.stop()
    ours.logout()


def test_search_modseq_and_large_results(mailimap, tmp_path):
    mi = mailimap()
    s, f = raw(mi.port)
    cmd(s, f, "l", "LOGIN alice@example.test alicepw")
    cmd(s, f, "c", "ENABLE CONDSTORE")
    s.settimeout(120)
    n = 1200
    msg = b"Subject: m\r\n\r\nx\r\n"
    s.sendall(b"a APPEND INBOX" + b"".join(b" {%d+}\r\n%s" % (len(msg), msg) for _ in range(n)) + b"\r\n")
    last = cmd(s, f, "n", "NOOP")
    assert any(l.startswith("a OK [APPENDUID") for l in last), last[-3:]
    cmd(s, f, "s", "SELECT INBOX")
    lines = cmd(s, f, "a1", "SEARCH MODSEQ 1")
    assert re.match(r"\* SEARCH 1 2 3 .* 1200 \(MODSEQ \d+\)$", lines[0]), lines[0][-80:]
    lines = cmd(s, f, "a2", "UID SEARCH RETURN (COUNT MIN MAX) ALL")
    assert lines[0] == '* ESEARCH (TAG "a2") UID MIN 1 MAX 1200 COUNT 1200', lines
    lines = cmd(s, f, "a3", "UID SEARCH RETURN (ALL) 2:1199")
    assert lines[0] == '* ESEARCH (TAG "a3") UID ALL 2:1199', lines
    lines = cmd(s, f, "a4", "SORT (REVERSE ARRIVAL) US-ASCII ALL")
    ours = lines[0]
    s.close()
    if dovecot.available():     # many equal INTERNALDATEs: the ties' order as Dovecot's
        dc = dovecot.PrivateDovecot(tmp_path / "dovecot", maildir=mi.maildir).start()
        try:
            theirs = __import__("imaplib").IMAP4("127.0.0.1", dc.imap_port)
            theirs.login(dc.user, dc.password)
            theirs.select("INBOX", readonly=True)
            typ, data = theirs.sort("(REVERSE ARRIVAL)", "US-ASCII", "ALL")
            assert ours == "* SORT " + data[0].decode()
            theirs.logout()
        finally:
            dc.stop()


def test_move_read_only_and_copy_from_examine(corpus):
    m = corpus.login()
    m.create("Saved")
    m.select("INBOX", readonly=True)
    typ, data = m.uid("MOVE", "1", "Saved")
    assert typ == "NO" and b"[READ-ONLY]" in data[0], data
    typ, data = m.copy("1:2", "Saved")
    assert typ == "OK" and b"[COPYUID" in data[0], data
    typ, data = m.copy("1", "INBOX")       # into the selected mailbox: EXISTS
    assert typ == "OK" and m.untagged_responses.get("EXISTS")[-1] == b"7", m.untagged_responses
    m.logout()
