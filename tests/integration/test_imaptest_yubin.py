"""
The imaptest scripts against yubin's own IMAP server (issue 7, "Tests"):
every group passes but those of KNOWN_FAILURES (run, and an xfail when they
fail); a group is skipped only for a capability yubin does not advertise,
and test_skipped_groups lists them.

Until yubin has an `imapd` (master.cf command) this module skips as a
whole: the check is `yubin check` on a master.cf with an imapd line; then,
while its mail worker logs in but answers SELECT with "NO [UNAVAILABLE]
Mailbox access is not available yet", or APPEND (the scripts' set-up)
answers NO [UNAVAILABLE], it skips too. The
set-up follows issue 7's names: `imapd` in master.cf, logins through the
auth service (`auth_passdb` passwd-file), virtual users' mail where
`virtual` delivers it. Adjust `_imap_instance` if imapd's configuration
differs.

Another server can be judged with the same scripts from the command line:
  python3 tests/integration/imaptest.py HOST:PORT USER PASSWORD [SCRIPT...]
"""
import os
import subprocess

import pytest

import imaptest
from conftest import YUBIN, free_port

SCRIPTS = imaptest.list_scripts()

# script -> why yubin may fail it (empty: every group must pass). These
# still run: a pass passes, a failure is an xfail (not strict), so a fix
# shows. Every other script that is not skipped for a capability must pass.
KNOWN_FAILURES = {
    "id": "ID with 30 long pairs: the parser's list limit (imapd_parser_limits) answers "
          "BAD Too many arguments",
    "search-addresses": "SEARCH FROM matching a group's or a route's address differs from "
                        "Dovecot (cmd_search.c)",
}

USERS = {"alice@example.test": "alicepw", "bob@example.test": "bobpw"}


def _imapd_available(tmp_path_factory):
    if not os.path.exists(YUBIN):
        return False
    d = tmp_path_factory.mktemp("imapd-probe")
    (d / "main.cf").write_text("queue_directory = %s\n" % (d / "q"))
    (d / "master.cf").write_text("127.0.0.1:%d inet n - n - - imapd\n" % free_port())
    r = subprocess.run([YUBIN, "-c", str(d), "check"], capture_output=True, text=True)
    return 'command "imapd" is not implemented' not in r.stdout + r.stderr


@pytest.fixture(scope="module")
def yubin_imap(tmp_path_factory):
    if not os.path.isdir(imaptest.SCRIPTS_DIR):
        pytest.skip("../shared/conformance/imap is not there")
    if not _imapd_available(tmp_path_factory):
        pytest.skip("yubin has no imapd yet")
    from conftest import Instance
    base = tmp_path_factory.mktemp("imaptest-yubin")
    inst = _imap_instance(Instance, base)
    why = _mailboxes_unavailable(inst)
    if why:
        inst.stop()
        pytest.skip(why)
    yield inst
    inst.stop()
    inst.assert_clean()


def _imap_instance(Instance, base):
    port = free_port()
    inst = Instance(base, master_extra="127.0.0.1:%d inet n - n - - imapd\n"
                                       "auth unix n - n - 1 auth\n" % port)
    users = inst.write("users", "".join("%s:{PLAIN}%s::::::\n" % kv for kv in USERS.items()))
    os.chmod(users, 0o644)
    inst.params.update({"auth_passdb": "passwd-file:" + users, "disable_plaintext_auth": "no",
                        "mail_max_userip_connections": "1000",
                        # the passwd-file has no uid/gid: Dovecot's fallbacks
                        "mail_uid": str(inst.vuid), "mail_gid": str(inst.vgid),
                        "first_valid_uid": "1"})
    inst.imap_port = port
    inst.start()
    return inst


def _mailboxes_unavailable(inst):
    """While imapd logs in but does not serve mailboxes yet (its mail worker
    answers NO [UNAVAILABLE] "Mailbox access is not available yet"), the
    scripts cannot run: the reason to skip, else None. A failed login fails."""
    import imaplib
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    try:
        m.login("alice@example.test", USERS["alice@example.test"])
        typ, data = m.select("INBOX")
    finally:
        m.shutdown()
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
    if typ != "OK" and "Mailbox access is not available yet" in text:
        return "yubin's imapd does not serve mailboxes yet: " + text
    # the scripts' set-up APPENDs their messages
    m = imaplib.IMAP4("127.0.0.1", inst.imap_port)
    try:
        m.login("alice@example.test", USERS["alice@example.test"])
        typ, data = m.append("INBOX", None, None, b"Subject: probe\r\n\r\nprobe\r\n")
        if typ == "OK":
            m.select("INBOX")
            m.store("1:*", "+FLAGS.SILENT", "\\Deleted")
            m.expunge()
    except imaplib.IMAP4.error as e:
        typ, data = "NO", [str(e).encode()]
    finally:
        m.shutdown()
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
    if typ != "OK" and "UNAVAILABLE" in text:
        return "yubin's imapd has no APPEND yet: " + text
    return None


def _server(inst):
    return imaptest.Server("127.0.0.1", inst.imap_port, "alice@example.test", USERS["alice@example.test"],
                           users={"user2": ("bob@example.test", USERS["bob@example.test"])})


RESULTS = {}


@pytest.mark.parametrize("name", SCRIPTS)
def test_script(yubin_imap, name):
    result = imaptest.run_script(os.path.join(imaptest.SCRIPTS_DIR, name), _server(yubin_imap))
    RESULTS[name] = result
    if result.status == "skip":
        pytest.skip(result.message)
    if name in KNOWN_FAILURES and result.status != "pass":
        pytest.xfail(KNOWN_FAILURES[name])
    assert result.status == "pass", "%s failed against yubin:\n%s" % (name, result.message)


def test_skipped_groups(yubin_imap, capsys):
    """The groups skipped for a capability yubin does not advertise."""
    skipped = sorted("%s (%s)" % (n, r.message) for n, r in RESULTS.items() if r.status == "skip")
    with capsys.disabled():
        print("\nimaptest groups skipped against yubin: %d%s"
              % (len(skipped), "".join("\n  " + s for s in skipped)))
