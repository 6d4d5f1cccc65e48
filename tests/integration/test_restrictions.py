"""smtpd restrictions as a client sees them: access(5) tables on each
stage, restriction classes, HELO/sender/recipient syntax checks and
warn_if_reject, driven with smtplib against a running instance."""
import smtplib

from conftest import RawSMTP


def restricted(instance, tmp_path, **main):
    (tmp_path / "clients").write_text("127.0.0.1 DUNNO\n")
    (tmp_path / "senders").write_text(
        "spammer@bad.test REJECT go away\n"
        "later@slow.test 451 4.7.1 come back later\n"
        "bad.test DEFER_IF_PERMIT\n"
        "vip@good.test vips\n")
    (tmp_path / "rcpts").write_text("bob@example.test REJECT bob is not taking mail\n")
    params = {
        "mynetworks": "192.0.2.0/24",          # loopback is not trusted here
        "smtpd_restriction_classes": "vips",
        "vips": "permit",
        "smtpd_helo_required": "yes",
        "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname, reject_invalid_helo_hostname",
        "smtpd_client_restrictions": "check_client_access texthash:%s" % (tmp_path / "clients"),
        "smtpd_sender_restrictions": "reject_non_fqdn_sender, check_sender_access texthash:%s"
                                     % (tmp_path / "senders"),
        "smtpd_recipient_restrictions": "check_recipient_access texthash:%s, "
                                        "reject_non_fqdn_recipient" % (tmp_path / "rcpts"),
        "smtpd_relay_restrictions": "check_sender_access texthash:%s, reject_unauth_destination"
                                    % (tmp_path / "senders"),
    }
    params.update(main)
    return instance(main=params).start()


def rcpt(inst, helo, sender, to):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=10) as s:
        s.ehlo(helo)
        code, text = s.mail(sender)
        if code != 250:
            return code, text
        return s.rcpt(to)


def test_access_tables_on_each_stage(instance, tmp_path):
    inst = restricted(instance, tmp_path)
    # delayed to RCPT (smtpd_delay_reject): the sender's REJECT shows up there
    code, text = rcpt(inst, "client.example.test", "spammer@bad.test", "alice@example.test")
    assert code == 554 and b"5.7.1 <spammer@bad.test>: Sender address rejected: go away" in text
    code, text = rcpt(inst, "client.example.test", "later@slow.test", "alice@example.test")
    assert code == 451 and b"4.7.1 <later@slow.test>: Sender address rejected: come back later" in text
    # DEFER_IF_PERMIT: only deferred because nothing later rejects
    code, _ = rcpt(inst, "client.example.test", "other@bad.test", "alice@example.test")
    assert code == 450
    code, text = rcpt(inst, "client.example.test", "carol@client.test", "bob@example.test")
    assert code == 554 and b"Recipient address rejected: bob is not taking mail" in text
    assert rcpt(inst, "client.example.test", "carol@client.test", "alice@example.test")[0] == 250
    # a restriction class named in the table lets a sender relay
    assert rcpt(inst, "client.example.test", "vip@good.test", "someone@far.test")[0] == 250
    code, text = rcpt(inst, "client.example.test", "carol@client.test", "someone@far.test")
    assert code == 554 and b"Relay access denied" in text
    inst.wait_log("NOQUEUE: reject: RCPT from localhost[127.0.0.1]: 554 5.7.1 "
                  "<spammer@bad.test>: Sender address rejected: go away;")


def test_syntax_checks_and_warn_if_reject(instance, tmp_path):
    inst = restricted(instance, tmp_path)
    code, text = rcpt(inst, "localhost", "carol@client.test", "alice@example.test")
    assert code == 504 and b"Helo command rejected: need fully-qualified hostname" in text
    code, text = rcpt(inst, "client.example.test", "carol", "alice@example.test")
    assert code == 504 and b"Sender address rejected: need fully-qualified address" in text
    r = RawSMTP(inst.port)
    r.reply()
    r.cmd("EHLO client.example.test")
    assert r.cmd("MAIL FROM:<carol@client.test>")[0] == 250
    code, text = r.cmd("RCPT TO:<alice>")
    assert code == 504 and "Recipient address rejected: need fully-qualified address" in text[0]
    r.cmd("QUIT")
    # warn_if_reject: logged as reject_warning, the mail goes through
    inst2 = restricted(instance, tmp_path / "..", smtpd_helo_restrictions=
                       "warn_if_reject reject_non_fqdn_helo_hostname")
    assert rcpt(inst2, "localhost", "carol@client.test", "alice@example.test")[0] == 250
    inst2.wait_log("NOQUEUE: reject_warning: RCPT from localhost[127.0.0.1]: 504 5.5.2 "
                   "<localhost>: Helo command rejected: need fully-qualified hostname;")
