"""The imaptest scripts of the extensions cmd_search.c, cmd_copy.c and
cmd_idle.c implement (SORT, SORT=DISPLAY, THREAD=REFERENCES,
THREAD=ORDEREDSUBJECT, ESEARCH, SEARCHRES, UIDPLUS, MOVE, MULTIAPPEND)
against yubin with those capabilities added through imap_capability
("+..."), whether or not the default list advertises them yet. Every
script that needs one of them must pass. (test_imaptest_yubin.py runs all
scripts with the default capability list.)"""
import os

import pytest

import imaptest
from conftest import free_port

EXTENSIONS = ("SORT SORT=DISPLAY THREAD=REFERENCES THREAD=ORDEREDSUBJECT ESEARCH SEARCHRES "
              "UIDPLUS MOVE MULTIAPPEND IDLE")
USERS = {"alice@example.test": "alicepw", "bob@example.test": "bobpw"}


def _needs_ours(name):
    """The script's "capabilities:" line names one of ours and nothing else missing."""
    with open(os.path.join(imaptest.SCRIPTS_DIR, name), errors="replace") as f:
        head = f.read(2000)
    for line in head.splitlines():
        if line.lower().startswith("capabilities:"):
            caps = line.split(":", 1)[1].upper().split()
            ours = set(EXTENSIONS.split())
            return any(c in ours for c in caps)
    return False


SCRIPTS = [n for n in imaptest.list_scripts() if os.path.isdir(imaptest.SCRIPTS_DIR)
           and _needs_ours(n)] if os.path.isdir(imaptest.SCRIPTS_DIR) else []


@pytest.fixture(scope="module")
def ext_imap(tmp_path_factory):
    if not SCRIPTS:
        pytest.skip("../shared/conformance/imap is not there")
    from conftest import Instance
    base = tmp_path_factory.mktemp("imaptest-ext")
    port = free_port()
    inst = Instance(base, master_extra="127.0.0.1:%d inet n - n - - imapd\n"
                                       "auth unix n - n - 1 auth\n" % port)
    users = inst.write("users", "".join("%s:{PLAIN}%s::::::\n" % kv for kv in USERS.items()))
    os.chmod(users, 0o644)
    inst.params.update({"auth_passdb": "passwd-file:" + users, "disable_plaintext_auth": "no",
                        "mail_max_userip_connections": "1000",
                        "mail_uid": str(inst.vuid), "mail_gid": str(inst.vgid),
                        "first_valid_uid": "1", "imap_capability": "+" + EXTENSIONS})
    inst.imap_port = port
    inst.start()
    yield inst
    inst.stop()
    inst.assert_clean()


@pytest.mark.parametrize("name", SCRIPTS)
def test_extension_script(ext_imap, name):
    srv = imaptest.Server("127.0.0.1", ext_imap.imap_port, "alice@example.test",
                          USERS["alice@example.test"],
                          users={"user2": ("bob@example.test", USERS["bob@example.test"])})
    result = imaptest.run_script(os.path.join(imaptest.SCRIPTS_DIR, name), srv)
    if result.status == "skip":
        pytest.skip(result.message)       # needs something else yubin lacks (CONDSTORE ...)
    assert result.status == "pass", "%s failed against yubin:\n%s" % (name, result.message)
