"""`yubin reload` with clients connected: sessions in progress finish on
their old workers, new sessions see the new configuration."""
from conftest import RawSMTP, wait_for


def test_reload_keeps_an_open_transaction_and_applies_to_new_sessions(instance):
    """A session in the middle of a transaction finishes on its old worker and
    its message is delivered; connections after the reload get the new
    configuration (here smtpd_banner)."""
    inst = instance(main={"smtpd_banner": "$myhostname ESMTP before"})
    inst.start()
    old = RawSMTP(inst.port)
    code, text = old.reply()
    assert code == 220 and text[0] == "mx.example.test ESMTP before"
    assert old.cmd("EHLO client.test")[0] == 250
    assert old.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    assert old.cmd("RCPT TO:<alice@example.test>")[0] == 250
    inst.params["smtpd_banner"] = "$myhostname ESMTP after"
    inst.write_config()
    r = inst.cmd("reload")
    assert r.returncode == 0, r.stderr
    inst.wait_log("reload -- version")

    def new_banner():
        s = RawSMTP(inst.port)
        try:
            return s.reply()[1][0]
        finally:
            s.close()
    assert wait_for(lambda: new_banner() == "mx.example.test ESMTP after", 15)
    # The old session goes on where it was.
    assert old.cmd("RCPT TO:<bob@example.test>")[0] == 250
    assert old.cmd("DATA")[0] == 354
    code, text = old.cmd("Subject: across a reload\r\n\r\nstill here\r\n.")
    assert code == 250 and "queued as" in text[0]
    assert old.cmd("QUIT")[0] == 221
    old.close()
    for box in ("example.test/alice", "example.test/bob"):
        m = inst.wait_maildir(box, 1)[0]
        assert b"Subject: across a reload" in m
    assert inst.proc.poll() is None
