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
}

pytestmark = pytest.mark.skipif(not dovecot.available() or not os.path.isdir(imaptest.SCRIPTS_DIR),
                                reason="needs dovecot-imapd and ../shared/conformance/imap")


@pytest.fixture(scope="module")
def dovecot_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("imaptest-dovecot")
    dc = dovecot.PrivateDovecot(base, users={
        "testuser@example.test": ("testpass", str(base / "home1" / "Maildir")),
        "testuser2@example.test": ("testpass2", str(base / "home2" / "Maildir")),
    })
    dc.start()
    yield dc
    dc.stop()


def _server(dc):
    return imaptest.Server("127.0.0.1", dc.imap_port, "testuser@example.test", "testpass",
                           users={"user2": ("testuser2@example.test", "testpass2")})


@pytest.mark.parametrize("name", SCRIPTS)
def test_script(dovecot_server, name):
    if name in KNOWN_FAILURES:
        pytest.xfail(KNOWN_FAILURES[name])
    result = imaptest.run_script(os.path.join(imaptest.SCRIPTS_DIR, name), _server(dovecot_server))
    if result.status == "skip":
        pytest.skip(result.message)
    assert result.status == "pass", "%s failed against Dovecot:\n%s" % (name, result.message)
