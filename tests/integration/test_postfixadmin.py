"""PostfixAdmin's alias domains with the .cf files shipped in
docs/examples/postfixadmin/ (only hosts, user, password, dbname changed),
against a private PostgreSQL and a private MariaDB (sqlservers.py): an
alias domain's addresses reach the target domain's mailboxes, its aliases
and its catch-all, through SMTP and through `yubin map -q`; inactive alias
domains and unknown domains are not found."""
import os
import re
import smtplib

from conftest import ROOT, RawSMTP
from sqlservers import db_fixtures, load_schema

EXAMPLES = os.path.join(ROOT, "docs", "examples", "postfixadmin")
TARGET, ALIAS, OFF = "pa.test", "alias.test", "off.test"


def rows(kind):
    t, f = ("true", "false") if kind == "pgsql" else ("1", "0")
    return [
        "INSERT INTO domain (domain, active) VALUES ('%s', %s), ('%s', %s), ('%s', %s)"
        % (TARGET, t, ALIAS, t, OFF, t),
        "INSERT INTO mailbox (username, maildir, local_part, domain, active) VALUES "
        "('alice@%s', '%s/alice/', 'alice', '%s', %s), ('bob@%s', '%s/bob/', 'bob', '%s', %s)"
        % (TARGET, TARGET, TARGET, t, TARGET, TARGET, TARGET, t),
        "INSERT INTO alias (address, goto, domain, active) VALUES "
        "('alice@%s', 'alice@%s', '%s', %s), ('bob@%s', 'bob@%s', '%s', %s), "
        "('info@%s', 'bob@%s', '%s', %s), ('@%s', 'alice@%s', '%s', %s)"
        % (TARGET, TARGET, TARGET, t, TARGET, TARGET, TARGET, t, TARGET, TARGET, TARGET, t,
           TARGET, TARGET, TARGET, t),
        "INSERT INTO alias_domain (alias_domain, target_domain, active) VALUES "
        "('%s', '%s', %s), ('%s', '%s', %s)" % (ALIAS, TARGET, t, OFF, TARGET, f),
    ]


def load(server, kind):
    load_schema(server, kind, os.path.join(EXAMPLES, "schema-%s.sql" % kind), rows(kind))


pg, maria, db = db_fixtures(load)


def write_cf(inst, kind, server, name):
    with open(os.path.join(EXAMPLES, "%s_%s.cf" % (kind, name))) as f:
        text = f.read()
    hosts = "inet:127.0.0.1:%d" % server.port if kind == "pgsql" else "127.0.0.1:%d" % server.port
    for k, v in {"hosts": hosts, "user": "mail", "password": server.password,
                 "dbname": "mail"}.items():
        text = re.sub(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
    return "proxy:%s:%s" % (kind, inst.write("%s.cf" % name, text))


def test_alias_domains(instance, db):
    kind, server = db
    inst = instance()
    m = {n: write_cf(inst, kind, server, n) for n in (
        "virtual_domains_maps", "virtual_mailbox_maps", "virtual_alias_maps",
        "virtual_alias_domain_maps", "virtual_alias_domain_mailbox_maps",
        "virtual_alias_domain_catchall_maps")}
    inst.params.update({
        "virtual_mailbox_domains": m["virtual_domains_maps"],
        "virtual_mailbox_maps": "%s, %s" % (m["virtual_mailbox_maps"],
                                            m["virtual_alias_domain_mailbox_maps"]),
        "virtual_alias_maps": "%s, %s, %s" % (m["virtual_alias_maps"],
                                              m["virtual_alias_domain_maps"],
                                              m["virtual_alias_domain_catchall_maps"]),
    })
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "qmgr      unix n - n 300 1 qmgr\n"
                   "virtual   unix - n n - - virtual\n"
                   "local     unix - n n - - local\n"
                   "pickup    unix n - n 60 1 pickup\n"
                   "proxymap  unix - - n - 4 proxymap\n" % inst.port)
    inst.start()

    def q(key, name):
        r = inst.cmd("map", "-q", key, m[name].replace("proxy:", ""))
        return r.returncode, r.stdout.strip()
    assert q("alice@" + ALIAS, "virtual_alias_domain_mailbox_maps") == (0, TARGET + "/alice/")
    assert q("info@" + ALIAS, "virtual_alias_domain_maps") == (0, "bob@" + TARGET)
    assert q("anyone@" + ALIAS, "virtual_alias_domain_catchall_maps") == (0, "alice@" + TARGET)
    assert q("alice@" + OFF, "virtual_alias_domain_mailbox_maps")[0] == 1    # inactive
    assert q("alice@other.test", "virtual_alias_domain_maps")[0] == 1
    assert q("x' OR '1'='1@" + ALIAS, "virtual_alias_domain_maps")[0] == 1
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        for rcpt in ("alice@" + ALIAS, "info@" + ALIAS, "anyone@" + ALIAS):
            s.sendmail("sender@example.org", [rcpt],
                       "From: sender@example.org\r\nSubject: to %s\r\n\r\nbody\r\n" % rcpt)
    alice = inst.wait_maildir(TARGET + "/alice", 2)
    bob = inst.wait_maildir(TARGET + "/bob", 1)
    assert any(b"to alice@" + ALIAS.encode() in x for x in alice)
    assert any(b"to anyone@" + ALIAS.encode() in x for x in alice)
    assert b"to info@" + ALIAS.encode() in bob[0]
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@example.org>")
    code, text = c.cmd("RCPT TO:<alice@%s>" % OFF)      # the domain exists, its alias is off
    c.close()
    assert code == 550, (code, text)
