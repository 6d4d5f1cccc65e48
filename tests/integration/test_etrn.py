"""ETRN (RFC 1985) as Postfix serves it: only fast_flush_domains (default
$relay_domains) get "250 Queuing started" and their deferred mail is
retried at once; other domains get 459; smtpd_etrn_restrictions apply."""
from conftest import RawSMTP, wait_for
from mailtest import send


def etrn_instance(instance, **main):
    params = {"relay_domains": "remote.test", "minimal_backoff_time": "1h",
              "maximal_backoff_time": "1h", "queue_run_delay": "1s"}
    params.update(main)
    inst = instance(main=params)
    # Local mail defers too (uid below virtual_minimum_uid): it must not be flushed.
    inst.params["virtual_minimum_uid"] = str(inst.vuid + 1)
    return inst.start()


def attempts(inst, qid):
    return inst.log().count("%s: to=<" % qid)


def session(inst):
    r = RawSMTP(inst.port)
    assert r.reply()[0] == 220
    return r


def test_etrn_flushes_only_that_domain(instance):
    inst = etrn_instance(instance)
    relayed = send(inst, "carol@client.test", ["someone@remote.test"], subject="for remote")
    local = send(inst, "carol@client.test", ["alice@example.test"], subject="for alice")
    inst.wait_log("%s: to=<someone@remote.test>, relay=relay" % relayed)
    assert "status=deferred (mail transport unavailable)" in inst.log()
    inst.wait_log("%s: to=<alice@example.test>" % local)
    r = session(inst)
    r.cmd("EHLO client.test")
    code, text = r.cmd("ETRN remote.test")
    assert (code, text) == (250, ["Queuing started"])
    assert wait_for(lambda: attempts(inst, relayed) == 2)
    inst.wait_log("flush of deferred mail for remote.test: 1 message")
    # RFC 1985's "@domain" and "#queue" forms name the same domain.
    code, text = r.cmd("ETRN @remote.test")
    assert code == 250
    assert wait_for(lambda: attempts(inst, relayed) == 3)
    assert attempts(inst, local) == 1
    r.cmd("QUIT")
    inst.wait_log("etrn=2 quit=1 commands=4")


def test_etrn_for_other_domains_is_refused(instance):
    inst = etrn_instance(instance)
    local = send(inst, "carol@client.test", ["alice@example.test"])
    inst.wait_log("%s: to=<alice@example.test>" % local)
    r = session(inst)
    r.cmd("EHLO client.test")
    code, text = r.cmd("ETRN example.test")
    assert (code, text) == (459, ["<example.test>: service unavailable"])
    inst.wait_log("warning: reject: ETRN example.test... from localhost[127.0.0.1]")
    assert attempts(inst, local) == 1
    r.cmd("QUIT")
    inst.wait_log("etrn=0/1")


def test_etrn_syntax_and_order(instance):
    inst = etrn_instance(instance)
    r = session(inst)
    assert r.cmd("ETRN remote.test")[0] == 503         # HELO/EHLO first
    r.cmd("EHLO client.test")
    assert r.cmd("ETRN")[0] == 500
    code, text = r.cmd("ETRN bad..domain")
    assert (code, text) == (501, ["Error: invalid parameter syntax"])
    r.cmd("MAIL FROM:<carol@client.test>")
    code, text = r.cmd("ETRN remote.test")
    assert code == 503 and "MAIL transaction in progress" in text[0]
    r.cmd("QUIT")


def test_etrn_restrictions_apply(instance):
    inst = etrn_instance(instance, smtpd_etrn_restrictions="reject")
    r = session(inst)
    r.cmd("EHLO client.test")
    code, text = r.cmd("ETRN remote.test")
    assert code == 554
    r.cmd("QUIT")
    inst.wait_log("reject: ETRN from localhost[127.0.0.1]")


def test_queue_flush_domain(instance):
    inst = etrn_instance(instance)
    relayed = send(inst, "carol@client.test", ["someone@remote.test"])
    local = send(inst, "carol@client.test", ["alice@example.test"])
    inst.wait_log("%s: to=<someone@remote.test>" % relayed)
    inst.wait_log("%s: to=<alice@example.test>" % local)
    r = inst.cmd("queue", "flush", "remote.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "Flushed: 1 deferred message"
    assert wait_for(lambda: attempts(inst, relayed) == 2)
    assert attempts(inst, local) == 1
    r = inst.cmd("queue", "flush")
    assert r.stdout.strip() == "Flushed: 2 deferred messages"
    assert wait_for(lambda: attempts(inst, local) == 2)
    r = inst.cmd("queue", "flush", "not a domain")
    assert r.returncode == 2
