"""ldap: lookup tables against a real OpenLDAP server: a private slapd
(tests/integration/ldapserver.py) holding docs/examples/ldap/tree.ldif,
read with the .cf files shipped in docs/examples/ldap/ (only
server_host changed).

Shown here: virtual domains, mailboxes and aliases (a forwarding entry
and a group expanded through special_result_attribute) delivered through
SMTP; ldapi:// with SASL EXTERNAL and a simple bind as bind_dn; keys
that try filter (or SQL) injection are only ever "not found"; a server
that stops gives 451 4.3.0 at RCPT and a deferral in the queue, and mail
flows again when it returns; a server that hangs is a timeout; `yubin
map -q` answers as postmap -q does; `yubin check` names a bad .cf."""
import base64
import os
import re
import smtplib

import pytest

from conftest import ROOT, RawSMTP, wait_for
from ldapserver import ROOTDN, ROOTPW, LdapServer

EXAMPLES = os.path.join(ROOT, "docs", "examples", "ldap")
DOMAIN = "ldap.test"
MAPS = {"domains": "virtual_mailbox_domains", "mailbox": "virtual_mailbox_maps",
        "aliases": "virtual_alias_maps"}
INJECTIONS = ["*)(uid=*", "x' OR '1'='1", "'; DROP TABLE mailbox; --", "*", "\\2a", "\\00"]


@pytest.fixture(scope="module")
def ldap():
    why = LdapServer.available()
    if why:
        pytest.skip(why)
    with open(os.path.join(EXAMPLES, "tree.ldif")) as f:
        s = LdapServer(f.read())
    yield s
    s.close()


def write_cf(inst, server, name, extra="", uri=None):
    with open(os.path.join(EXAMPLES, "ldap-%s.cf" % name)) as f:
        text = f.read()
    text = re.sub(r"(?m)^server_host = .*$", "server_host = %s" % (uri or server.uri), text)
    return inst.write("ldap-%s.cf" % name, text + extra)


def master_cf(inst):
    return ("127.0.0.1:%d inet n - n - - smtpd\n"
            "qmgr      unix n - n 300 1 qmgr\n"
            "virtual   unix - n n - - virtual\n"
            "local     unix - n n - - local\n"
            "pickup    unix n - n 60 1 pickup\n"
            "proxymap  unix - - n - 4 proxymap\n" % inst.port)


def ldap_instance(instance, server, proxy=True):
    inst = instance()
    for name, param in MAPS.items():
        inst.params[param] = "%sldap:%s" % ("proxy:" if proxy else "", write_cf(inst, server, name))
    inst.master = master_cf(inst)
    return inst


def rcpt(inst, addr):
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@example.org>")
    r = c.cmd("RCPT TO:<%s>" % addr)
    c.cmd("QUIT")
    c.close()
    return r


def send(inst, rcpts, subject):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.sendmail("sender@example.org", rcpts,
                   "From: sender@example.org\r\nSubject: %s\r\n\r\nbody\r\n" % subject)


# ------------------------------------------------------------------ delivery

@pytest.mark.parametrize("proxy", [True, False], ids=["proxy", "direct"])
def test_virtual_delivery(instance, ldap, proxy):
    inst = ldap_instance(instance, ldap, proxy)
    inst.start()
    send(inst, ["alice@" + DOMAIN], "direct")
    send(inst, ["info@" + DOMAIN], "forward")
    send(inst, ["TEAM@" + DOMAIN.upper()], "group")
    assert len(inst.wait_maildir(DOMAIN + "/alice", 3)) == 3
    assert len(inst.wait_maildir(DOMAIN + "/bob", 1)) == 1
    code, text = rcpt(inst, "nobody@" + DOMAIN)
    assert code == 550 and text[0].startswith("5.1.1"), (code, text)
    assert re.search(r"proxymap\[\d+\]: proxymap ready", inst.log())


# ---------------------------------------------------------------- injection

def test_injection_is_not_found(instance, ldap):
    inst = ldap_instance(instance, ldap)
    inst.start()
    for key in INJECTIONS:
        code, text = rcpt(inst, '"%s"@%s' % (key, DOMAIN))
        assert code == 550 and text[0].startswith("5.1.1"), (key, code, text)
    for key in INJECTIONS + ["*@" + DOMAIN, "alice*@" + DOMAIN, "alice@" + DOMAIN + ")(mail=*"]:
        for name in ("mailbox", "aliases"):
            r = inst.cmd("map", "-q", key, "ldap:" + inst.path("ldap-%s.cf" % name))
            assert r.returncode == 1 and r.stdout == "", (key, r.returncode, r.stdout, r.stderr)
    r = inst.cmd("map", "-q", "*", "ldap:" + inst.path("ldap-domains.cf"))
    assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
    assert "warning" not in inst.log(), inst.log()[-3000:]


def test_nul_byte_in_rcpt(instance, ldap):
    inst = ldap_instance(instance, ldap)
    inst.start()
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@example.org>")
    c.sock.sendall(b"RCPT TO:<alice\x00@" + DOMAIN.encode() + b">\r\n")
    code, text = c.reply()
    c.close()
    assert 500 <= code < 600, (code, text)


# ------------------------------------------------------------ server down

def test_server_down_defers_and_recovers(instance, ldap):
    inst = ldap_instance(instance, ldap)
    inst.start()
    assert rcpt(inst, "alice@" + DOMAIN)[0] == 250      # connections are open and kept
    ldap.stop()
    try:
        code, text = rcpt(inst, "alice@" + DOMAIN)
        assert code == 451 and text[0].startswith("4.3.0"), (code, text)
        log = inst.log()
        assert re.search(r"warning: ldap:\S+ldap-(domains|mailbox|aliases)\.cf: lookup of ",
                         log), log[-3000:]
        # Accepted locally while the directory is down: deferred, not bounced.
        inst.cmd("sendmail", "-f", "sender@example.org", "team@" + DOMAIN,
                 input="Subject: while down\n\nbody\n", check=True)
        inst.wait_log("status=deferred", 30)
        assert "status=bounced" not in inst.log()
    finally:
        ldap.start()
    assert wait_for(lambda: rcpt(inst, "alice@" + DOMAIN)[0] == 250, 30, 0.5), inst.log()[-3000:]

    def delivered():
        if any(b"while down" in m for m in inst.maildir(DOMAIN + "/bob")):
            return True
        inst.cmd("queue", "flush")
        return False
    assert wait_for(delivered, 60, 2.0), inst.log()[-4000:]
    assert any(b"while down" in m for m in inst.maildir(DOMAIN + "/alice"))


def test_hung_server_times_out(instance, ldap):
    """A server that accepts but never answers is a timeout: exit 2 of
    yubin map -q (temporary), within a few seconds of `timeout`."""
    inst = instance()
    path = write_cf(inst, ldap, "mailbox", extra="timeout = 1\n")
    ldap.pause()
    try:
        r = inst.cmd("map", "-q", "alice@" + DOMAIN, "ldap:" + path, timeout=30)
    finally:
        ldap.resume()
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "ldap-mailbox.cf" in r.stderr and "Timed out" in r.stderr, r.stderr


# ------------------------------------------------------------- the command line

def test_map_query(instance, ldap):
    inst = instance()
    mailbox = "ldap:" + write_cf(inst, ldap, "mailbox")
    aliases = "ldap:" + write_cf(inst, ldap, "aliases")
    domains = "ldap:" + write_cf(inst, ldap, "domains")
    r = inst.cmd("map", "-q", "alice@" + DOMAIN, mailbox, check=True)
    assert r.stdout == "%s/alice/\n" % DOMAIN
    r = inst.cmd("map", "-q", "team@" + DOMAIN, aliases, check=True)
    assert r.stdout == "alice@%s,bob@%s\n" % (DOMAIN, DOMAIN)
    r = inst.cmd("map", "-q", DOMAIN, domains, check=True)
    assert r.stdout == DOMAIN + "\n"
    r = inst.cmd("map", "-q", "nobody@" + DOMAIN, mailbox)
    assert (r.returncode, r.stdout) == (1, "")
    r = inst.cmd("map", "-q", "-", aliases, input="team@%s\nnobody@%s\ninfo@%s\n"
                 % (DOMAIN, DOMAIN, DOMAIN))
    assert r.stdout == "team@%s\talice@%s,bob@%s\ninfo@%s\talice@%s\n" % (
        DOMAIN, DOMAIN, DOMAIN, DOMAIN, DOMAIN), r.stdout


def test_settings(instance, ldap):
    """ldapi:// with SASL EXTERNAL; a simple bind as bind_dn; a wrong
    bind_pw is a temporary failure; domain, expansion_limit, size_limit,
    terminal_result_attribute, scope and search_base expansion."""
    inst = instance()
    key = "alice@" + DOMAIN

    def q(name, extra, k=key, uri=None):
        path = write_cf(inst, ldap, "mailbox", extra=extra, uri=uri)
        path = inst.write(name + ".cf", open(path).read())
        return inst.cmd("map", "-q", k, "ldap:" + path)
    r = q("ldapi", "bind = no\n", uri=ldap.ldapi)
    assert (r.returncode, r.stdout) == (0, "%s/alice/\n" % DOMAIN), r.stderr
    # SASL EXTERNAL over ldapi://: slapd maps the peer's uid to cn=mailreader.
    r = q("sasl", "bind = sasl\nsasl_mechs = EXTERNAL\n", uri=ldap.ldapi)
    assert (r.returncode, r.stdout) == (0, "%s/alice/\n" % DOMAIN), r.stderr
    # SASL PLAIN needs credentials slapd cannot check here: a bind error, temporary.
    r = q("saslplain", "bind = sasl\nsasl_mechs = PLAIN\nbind_dn = alice\nbind_pw = x\n",
          uri=ldap.ldapi)
    assert r.returncode == 2 and "bind" in r.stderr, r.stderr
    bind = "bind = yes\nbind_dn = %s\nbind_pw = %s\n" % (ROOTDN, ROOTPW)
    r = q("bind", bind.replace("bind = yes\n", ""))    # bind = yes is the default
    assert (r.returncode, r.stdout) == (0, "%s/alice/\n" % DOMAIN), r.stderr
    r = q("badpw", "bind = yes\nbind_dn = %s\nbind_pw = wrong\n" % ROOTDN)
    assert r.returncode == 2 and "Invalid credentials" in r.stderr, r.stderr
    r = q("domain", "domain = other.test\n")
    assert (r.returncode, r.stdout) == (1, "")
    r = q("hosts", "", uri="ldap://127.0.0.1:1 %s" % ldap.uri)   # the first is down
    assert (r.returncode, r.stdout) == (0, "%s/alice/\n" % DOMAIN), r.stderr
    r = q("base", "scope = base\nsearch_base = uid=%u,ou=people,dc=example,dc=org\n")
    assert (r.returncode, r.stdout) == (0, "%s/alice/\n" % DOMAIN), r.stderr
    r = q("terminal", "result_format = %s\nterminal_result_attribute = uid\n")
    assert (r.returncode, r.stdout) == (0, "alice\n"), r.stderr    # mail is not returned
    # Two entries for one filter: both values, or over the limits.
    aliases = inst.write("everyone.cf", "server_host = %s\nsearch_base = dc=example,dc=org\n"
                         "query_filter = (&(objectClass=inetOrgPerson)(mail=*@%%d))\n"
                         "result_attribute = mail\n" % ldap.uri)
    r = inst.cmd("map", "-q", key, "ldap:" + aliases)
    assert (r.returncode, r.stdout) == (0, "alice@%s,bob@%s\n" % (DOMAIN, DOMAIN)), r.stderr
    for extra, why in (("expansion_limit = 1\n", "expansion_limit"),
                       ("size_limit = 1\n", "Size limit exceeded")):
        p = inst.write("lim.cf", open(aliases).read() + extra)
        r = inst.cmd("map", "-q", key, "ldap:" + p)
        assert r.returncode == 2 and why in r.stderr, r.stderr


def test_check_reports_bad_cf(instance, ldap):
    inst = instance()
    good = write_cf(inst, ldap, "mailbox")
    typo = inst.write("typo.cf", open(good).read() + "serch_base = x\n")
    scope = inst.write("scope.cf", open(good).read() + "scope = everywhere\n")
    inst.params["virtual_mailbox_maps"] = "proxy:ldap:" + typo
    inst.params["virtual_alias_maps"] = "proxy:ldap:" + scope
    inst.master = master_cf(inst)
    inst.write_config()
    r = inst.cmd("check")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    nlines = len(open(typo).read().splitlines())
    assert "%s:%d: unknown ldap parameter \"serch_base\"" % (typo, nlines) in out, out
    assert "bad scope \"everywhere\"" in out, out
    inst.params["virtual_mailbox_maps"] = "proxy:ldap:" + good
    inst.params["virtual_alias_maps"] = ""
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0, r.stdout + r.stderr


# ------------------------------------------------------------ auth_bind passdb

def test_smtp_auth_bind(instance, ldap):
    """auth_passdb = ldap:dovecot-ldap.conf.ext with auth_bind = yes: the
    password is checked by binding as the user's entry; the userdb answer
    comes from user_attrs templates; filter injection is an unknown user;
    a directory that is down is a temporary failure."""
    inst = instance()
    with open(os.path.join(EXAMPLES, "dovecot-ldap.conf.ext")) as f:
        text = f.read()
    text = re.sub(r"(?m)^uris = .*$", "uris = " + ldap.uri, text)
    conf = inst.write("dovecot-ldap.conf.ext", text)
    inst.params.update({
        "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_auth_enable": "yes", "auth_failure_delay": "100ms",
        "auth_passdb": "ldap:" + conf, "auth_userdb": "ldap:" + conf,
    })
    inst.master = master_cf(inst) + "auth      unix - - n - 1 auth\n"
    inst.start()

    def login(user, pw):
        with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
            s.ehlo("client.test")
            token = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
            return s.docmd("AUTH PLAIN " + token)[0]
    assert login("alice@" + DOMAIN, "alicepw") == 235, inst.log()[-3000:]
    assert login("bob@" + DOMAIN, "bobpw") == 235, inst.log()[-3000:]
    assert login("alice@" + DOMAIN, "wrong") == 535
    assert login("nobody@" + DOMAIN, "x") == 535
    assert login("*@" + DOMAIN, "alicepw") == 535
    assert login("*)(mail=*@" + DOMAIN, "alicepw") == 535
    r = inst.cmd("map", "-q", "user:alice@" + DOMAIN, "dovecot-ldap:" + conf, check=True)
    assert r.stdout == "home=/var/vmail/%s/alice\tmail=maildir:/var/vmail/%s/alice\n" % (
        DOMAIN, DOMAIN), r.stdout
    r = inst.cmd("map", "-q", "pass:alice@" + DOMAIN, "dovecot-ldap:" + conf, check=True)
    assert r.stdout.startswith("password={LDAP-BIND}") and \
        "dn=uid=alice,ou=people,dc=example,dc=org\tuser=alice@ldap.test" in r.stdout, r.stdout
    ldap.stop()
    try:
        assert login("alice@" + DOMAIN, "alicepw") == 454
    finally:
        ldap.start()
    assert wait_for(lambda: login("alice@" + DOMAIN, "alicepw") == 235, 30, 1.0), \
        inst.log()[-3000:]
