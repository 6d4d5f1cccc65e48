"""
The imaptest scripts (../shared/conformance/imap/imaptest-tests) replayed by
the project's runner (imaptest.py) against the real Dovecot 2.3.19 from
Debian (a private instance, dovecot.py): this proves the runner before it
judges yubin's IMAP server with the same scripts (test_imaptest_yubin.py).

Scripts whose capabilities this Dovecot does not advertise are skipped (the
reason names them). The scripts track imaptest's newest Dovecot; where
2.3.19 really answers differently the script is listed in KNOWN_FAILURES
with the reason, and is expected to fail (xfail, strict: if it starts
passing the list is stale).
"""
import os

import pytest

import dovecot
import imaptest

SCRIPTS = imaptest.list_scripts()

# script -> why Dovecot 2.3.19 fails it (a real difference, not a runner bug)
KNOWN_FAILURES = {
    "urlauth-binary": "Dovecot 2.3.19's imap panics on URLFETCH (url BINARY BODYPARTSTRUCTURE) "
                      "(client_command_free: assertion !cmd->executing) and drops the session",
    "urlauth2": "URLFETCH of another user's URL goes through imap-urlauth-login, which panics in "
                "2.3.19 (sasl_server_auth_begin: assertion on a private mechanism); each attempt "
                "waits ~6 s before NO [internal error]",
}

pytestmark = pytest.mark.skipif(not dovecot.available() or not os.path.isdir(imaptest.SCRIPTS_DIR),
                                reason="needs dovecot-imapd and ../shared/conformance/imap")


@pytest.fixture(scope="module")
def dovecot_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("imaptest-dovecot")
    # Users without a domain: the URLAUTH scripts build imap://$username@$domain/
    # URLs, $domain being the server's address then (as imaptest does).
    dc = dovecot.PrivateDovecot(base, users={
        "testuser": ("testpass", str(base / "home1" / "Maildir")),
        "testuser2": ("testpass2", str(base / "home2" / "Maildir")),
    }, extra_conf="imap_urlauth_host = 127.0.0.1\n"
                  "mail_attribute_dict = file:%h/dovecot-attributes\n")
    dc.start()
    yield dc
    dc.stop()


def _server(dc):
    return imaptest.Server("127.0.0.1", dc.imap_port, "testuser", "testpass",
                           users={"user2": ("testuser2", "testpass2")})


@pytest.mark.parametrize("name", SCRIPTS)
def test_script(dovecot_server, name):
    if name in KNOWN_FAILURES:
        pytest.xfail(KNOWN_FAILURES[name])
    result = imaptest.run_script(os.path.join(imaptest.SCRIPTS_DIR, name), _server(dovecot_server))
    if result.status == "skip":
        pytest.skip(result.message)
    assert result.status == "pass", "%s failed against Dovecot:\n%s" % (name, result.message)


# --- the runner judges: scripts that must fail, and must pass, against Dovecot ---
def _run_text(dc, tmp_path, text, mbox=None):
    path = tmp_path / "script"
    path.write_text(text)
    if mbox is not None:
        (tmp_path / "script.mbox").write_text(mbox)
    else:
        import shutil
        shutil.copy(os.path.join(imaptest.SCRIPTS_DIR, "default.mbox"), str(tmp_path / "default.mbox"))
    return imaptest.run_script(str(path), _server(dc))


MUST_FAIL = {
    "wrong-exists": "messages: 2\n\nok noop\nok examine $mailbox\n* 3 exists\n",
    "wrong-flags": "messages: 1\n\nok fetch 1 flags\n* 1 fetch (flags (\\seen))\n",
    "extra-flag": "messages: 1\n\nok store 1 flags (\\seen \\flagged)\n* 1 fetch (flags (\\seen))\n",
    "banned": "messages: 1\n\nok store 1 +flags \\seen\n! 1 fetch (flags (\\seen))\n",
    "tagged": "messages: 1\n\nno fetch 1 uid\n",
    "tagged-code": "state: created\n\nselect $mailbox\nok [read-only]\n",
    "variable": "messages: 2\n\nok fetch 1 uid\n* 1 fetch (uid $u)\nok fetch 2 uid\n* 2 fetch (uid $u)\n",
    "ordered": "messages: 2\n\nok fetch 1:2 uid\n!ordered\n* 2 fetch (uid $a)\n* 1 fetch (uid $b)\n",
    "literal": "messages: 1\n\nok fetch 1 body.peek[header.fields (subject)]\n"
               "* 1 fetch (body[header.fields (subject)] {{{\nSubject: nope\n\n\n}}})\n",
    "case": "state: auth\n\nok list \"\" inbox\n* list ($!unordered) $sep ${case:inbox}\n",
    "relative-seq": "connections: 2\nmessages: 3\n\n1 ok store 1 +flags \\deleted\n1 ok expunge\n"
                    "2 ok noop\n* $2 expunge\n",
    "pipelined": "state: auth\n\ntag1 status ${mailbox}x (messages)\ntag2 noop\ntag1 ok\ntag2 ok\n",
}

MUST_PASS = {
    "unordered-fetch": "messages: 1\n\nok fetch 1 (uid flags)\n* 1 fetch (flags () uid $x)\n",
    "extra-directive": "messages: 1\n\nok store 1 flags (\\seen \\flagged)\n"
                       "* 1 fetch (flags ($!unordered \\seen))\n",
    "relative-seq": "connections: 2\nmessages: 3\n\n1 ok store 1 +flags \\deleted\n1 ok expunge\n"
                    "2 ok noop\n* $1 expunge\n",
    "method2": "state: created\n\nselect $mailbox\n* 0 exists\nok [read-write]\n",
    "pipelined": "state: auth\n\ntag1 status ${mailbox}x (messages)\ntag2 noop\ntag1 no\ntag2 ok\n",
    "ifenv": "messages: 1\n\n!ifenv IMAPTEST_SURELY_UNSET\nbad nonsense\n!else\nok noop\n!endif\n",
    "literal": "messages: 1\n\nok fetch 1 body.peek[header.fields (subject)]\n"
               "* 1 fetch (body[header.fields (subject)] {{{\nSubject: s1\n\n\n}}})\n",
}


@pytest.mark.parametrize("case", sorted(MUST_FAIL))
def test_runner_detects(dovecot_server, tmp_path, case):
    result = _run_text(dovecot_server, tmp_path, MUST_FAIL[case])
    assert result.status == "fail", "%s: the runner accepted a wrong expectation" % case
    assert "group" in result.message or "initialization" in result.message


@pytest.mark.parametrize("case", sorted(MUST_PASS))
def test_runner_accepts(dovecot_server, tmp_path, case):
    result = _run_text(dovecot_server, tmp_path, MUST_PASS[case])
    assert result.status == "pass", result.message


def test_runner_skips_missing_capability(dovecot_server, tmp_path):
    result = _run_text(dovecot_server, tmp_path, "capabilities: X-NOT-THERE\n\nok noop\n")
    assert result.status == "skip" and "X-NOT-THERE" in result.message


def test_runner_parses_every_script():
    for name in SCRIPTS:
        imaptest.parse_script(os.path.join(imaptest.SCRIPTS_DIR, name))


def test_runner_literal_blocks():
    """{{{ }}} blocks become literals: CRLF lines (LF in ~{{{), the last line
    break dropped, a CR written in the script kept as data."""
    lines = dict(imaptest._read_logical_lines("ok x {{{\na\nb\n}}}\n* y ~{{{\nc\r\n\n}}} z\n"))
    assert lines[1] == "ok x {4}\r\na\r\nb"
    assert lines[5] == "* y ~{3}\r\nc\r\n z"


def _fake_server(replies):
    """A loopback IMAP server answering each command by its name from
    replies (name -> untagged lines), OK to everything: for behaviour a real
    server does not show. Returns (port, stop)."""
    import socket
    import threading
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)

    def serve(c):
        f = c.makefile("rb")
        c.sendall(b"* OK [CAPABILITY IMAP4rev1] fake\r\n")
        for line in f:
            tag, _, rest = line.decode().strip().partition(" ")
            name = rest.split(" ")[0].upper()
            for u in replies.get(name, []):
                c.sendall(("* %s\r\n" % u).encode())
            c.sendall(("%s OK done\r\n" % tag).encode())
            if name == "LOGOUT":
                break
        c.close()

    def accept():
        while True:
            try:
                c, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock.getsockname()[1], lsock.close


def test_runner_detects_recent_in_two_sessions(tmp_path):
    """\\Recent may be given to one session only (RFC 3501 2.3.2)."""
    port, stop = _fake_server({"CAPABILITY": ["CAPABILITY IMAP4rev1"],
                               "SELECT": ["1 EXISTS", "OK [UIDVALIDITY 7] ok"],
                               "FETCH": ["1 FETCH (UID 5 FLAGS (\\Recent))"],
                               "LOGOUT": ["BYE bye"]})
    try:
        path = tmp_path / "script"
        path.write_text("connections: 2\nstate: created\n\n1 ok select $mailbox\n2 ok select $mailbox\n"
                        "1 ok fetch 1 (uid flags)\n2 ok fetch 1 (uid flags)\n")
        (tmp_path / "default.mbox").write_text("From a Fri Feb 22 17:06:23 2008\n\nx\n")
        result = imaptest.run_script(str(path), imaptest.Server("127.0.0.1", port, "u", "p"))
        assert result.status == "fail" and "\\Recent for UID 5" in result.message, result.message
    finally:
        stop()


def test_private_dovecot_protocols_and_doveadm(tmp_path):
    """The fixture's other services: LMTP delivers into the caller's Maildir,
    POP3 and IMAP log in, doveadm -c works on the same configuration."""
    import imaplib
    import poplib
    import smtplib
    maildir = tmp_path / "home" / "Maildir"
    dc = dovecot.PrivateDovecot(tmp_path / "dc", maildir=str(maildir), protocols="imap pop3 lmtp").start()
    try:
        dc.doveadm("mailbox", "create", "-u", dc.user, "Sent")
        lmtp = smtplib.LMTP("127.0.0.1", dc.lmtp_port)
        assert lmtp.sendmail("a@example.test", [dc.user], b"Subject: hi\r\n\r\nbody\r\n") == {}
        lmtp.quit()
        assert len(os.listdir(maildir / "new")) == 1
        out = dc.doveadm("mailbox", "status", "-u", dc.user, "messages", "INBOX").stdout
        assert "messages=1" in out, out
        imap = imaplib.IMAP4("127.0.0.1", dc.imap_port)
        imap.login(dc.user, dc.password)
        assert b"Sent" in b" ".join(imap.list()[1])
        imap.logout()
        pop = poplib.POP3("127.0.0.1", dc.pop3_port)
        pop.user(dc.user)
        pop.pass_(dc.password)
        assert pop.stat()[0] == 1
        pop.quit()
    finally:
        dc.stop()
    assert "Panic" not in dc.log() and "Fatal" not in dc.log(), dc.log()[-2000:]
