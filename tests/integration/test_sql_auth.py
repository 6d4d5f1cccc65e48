"""The auth service's sql: passdb/userdb (Dovecot's dovecot-sql.conf.ext)
against a private PostgreSQL and a private MariaDB holding PostfixAdmin's
mailbox table (tests/integration/sqlservers.py), with the files shipped in
docs/examples/postfixadmin/ (only `connect` changed).

Shown here: SMTP AUTH with SHA512-CRYPT, BLF-CRYPT and ARGON2ID passwords
as PostfixAdmin stores them, and a bare crypt value in
default_pass_scheme; wrong passwords, inactive and unknown users fail;
the passdb answer carries userdb_home/userdb_quota_rule and the userdb
answer home/mail/quota_rule (through `yubin map -q` on the
dovecot-sql: table auth uses); injection attempts are unknown users; a
database that is down is a temporary failure (454), and logins work again
when it returns."""
import base64
import os
import re
import smtplib
import subprocess

import pytest

from conftest import ROOT, YUBIN, wait_for
from sqlservers import db_fixtures, load_schema

EXAMPLES = os.path.join(ROOT, "docs", "examples", "postfixadmin")
DOMAIN = "sql.test"
USERS = {"sha": ("SHA512-CRYPT", "shapw"), "blf": ("BLF-CRYPT", "blfpw"),
         "argon": ("ARGON2ID", "argonpw"), "bare": ("SHA512-CRYPT", "barepw")}


def stored(scheme, pw, bare=False):
    v = subprocess.run([YUBIN, "pw", "-s", scheme, "-p", pw], capture_output=True, text=True,
                       check=True).stdout.strip()
    return v.split("}", 1)[1] if bare else v


def load(server, kind):
    t, f_ = ("true", "false") if kind == "pgsql" else ("1", "0")
    rows = []
    for name, (scheme, pw) in USERS.items():
        rows.append("('%s@%s', '%s', '%s/%s/', 1024000, '%s', '%s', %s)" % (
            name, DOMAIN, stored(scheme, pw, name == "bare"), DOMAIN, name, name, DOMAIN, t))
    rows.append("('off@%s', '%s', '%s/off/', 0, 'off', '%s', %s)" % (
        DOMAIN, stored("SHA512-CRYPT", "offpw"), DOMAIN, DOMAIN, f_))
    insert = ("INSERT INTO mailbox (username, password, maildir, quota, local_part, domain, "
              "active) VALUES " + ", ".join(rows))
    load_schema(server, kind, os.path.join(EXAMPLES, "schema-%s.sql" % kind), [insert])


pg, maria, db = db_fixtures(load)


def write_conf(inst, kind, server):
    with open(os.path.join(EXAMPLES, "dovecot-sql-%s.conf.ext" % kind)) as f:
        text = f.read()
    connect = "connect = host=127.0.0.1 port=%d dbname=mail user=mail password=%s" % (
        server.port, server.password)
    text, n = re.subn(r"(?m)^connect = .*$", connect, text)
    assert n == 1
    return inst.write("dovecot-sql.conf.ext", text)


def auth_instance(instance, kind, server):
    inst = instance()
    conf = write_conf(inst, kind, server)
    inst.params.update({
        "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_auth_enable": "yes",
        "auth_passdb": "sql:" + conf, "auth_userdb": "sql:" + conf,
        "auth_failure_delay": "100ms",
    })
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "qmgr      unix n - n 300 1 qmgr\n"
                   "pickup    unix n - n 60 1 pickup\n"
                   "auth      unix - - n - 1 auth\n"
                   "proxymap  unix - - n - 4 proxymap\n" % inst.port)
    inst.start()
    return inst, conf


def login(inst, user, pw):
    with smtplib.SMTP("127.0.0.1", inst.port, timeout=30) as s:
        s.ehlo("client.test")
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        code, text = s.docmd("AUTH PLAIN " + token)
        return code


def test_smtp_auth_schemes(instance, db):
    kind, server = db
    inst, _ = auth_instance(instance, kind, server)
    for name, (scheme, pw) in USERS.items():
        assert login(inst, "%s@%s" % (name, DOMAIN), pw) == 235, (name, inst.log()[-3000:])
        assert login(inst, "%s@%s" % (name, DOMAIN), pw + "x") == 535, name
    assert login(inst, "off@" + DOMAIN, "offpw") == 535            # active = false
    assert login(inst, "nobody@" + DOMAIN, "x") == 535
    for key in ("x' OR '1'='1", "'; DROP TABLE mailbox; --", "*)(uid=*"):
        assert login(inst, key + "@" + DOMAIN, "x") == 535, key
    assert re.search(r"proxymap\[\d+\]: proxymap ready", inst.log())
    assert "query failed" not in inst.log(), inst.log()[-3000:]


def test_userdb_fields(instance, db):
    """What auth reads: the passdb row with its userdb_ fields, the userdb row."""
    kind, server = db
    inst = instance()
    conf = write_conf(inst, kind, server)
    spec = "dovecot-sql:" + conf
    r = inst.cmd("map", "-q", "pass:sha@" + DOMAIN, spec, check=True)
    items = dict(i.split("=", 1) for i in r.stdout.strip().split("\t"))
    assert items["password"].startswith("{SHA512-CRYPT}$6$"), items
    assert items["userdb_home"] == "/var/vmail/%s/sha/" % DOMAIN
    assert items["userdb_quota_rule"] == "*:bytes=1024000"
    r = inst.cmd("map", "-q", "pass:bare@" + DOMAIN, spec, check=True)
    assert "\tpassword={SHA512-CRYPT}$6$" in r.stdout, r.stdout    # default_pass_scheme
    r = inst.cmd("map", "-q", "user:blf@" + DOMAIN, spec, check=True)
    items = dict(i.split("=", 1) for i in r.stdout.strip().split("\t"))
    assert items == {"home": "/var/vmail/%s/blf/" % DOMAIN,
                     "mail": "maildir:/var/vmail/%s/blf/" % DOMAIN,
                     "quota_rule": "*:bytes=1024000"}, items
    r = inst.cmd("map", "-q", "pass:nobody@" + DOMAIN, spec)
    assert (r.returncode, r.stdout) == (1, "")


def test_database_down_is_temporary(instance, db):
    kind, server = db
    inst, _ = auth_instance(instance, kind, server)
    assert login(inst, "sha@" + DOMAIN, "shapw") == 235
    server.stop()
    try:
        assert login(inst, "sha@" + DOMAIN, "shapw") == 454, inst.log()[-3000:]
    finally:
        server.start()
    assert wait_for(lambda: login(inst, "sha@" + DOMAIN, "shapw") == 235, 30, 1.0), \
        inst.log()[-3000:]


def test_imap_login_uses_userdb(instance, db, tmp_path):
    """IMAP LOGIN with a password from the database; the mail worker opens
    the Maildir the user_query names (home and mail, with /var/vmail/
    replaced by a directory of the test); uid/gid are mail_uid/mail_gid as
    PostfixAdmin's schema has none."""
    import imaplib
    import pwd
    from conftest import IS_ROOT, free_port, wait_port
    kind, server = db
    if IS_ROOT:
        vuid, vgid = pwd.getpwnam("vmail").pw_uid, pwd.getpwnam("vmail").pw_gid
    else:
        vuid, vgid = os.getuid(), os.getgid()
    vmail = tmp_path / "vmail"
    (vmail / DOMAIN).mkdir(parents=True)
    for d in (tmp_path, vmail, vmail / DOMAIN):
        os.chmod(d, 0o755)
        os.chown(d, vuid, vgid)
    inst = instance()
    conf = write_conf(inst, kind, server)
    text = open(conf).read().replace("/var/vmail/", str(vmail) + "/")
    conf = inst.write("dovecot-sql.conf.ext", text)
    port = free_port()
    inst.params.update({
        "auth_passdb": "sql:" + conf, "auth_userdb": "sql:" + conf,
        "auth_failure_delay": "100ms", "first_valid_uid": "1" if vuid else "0",
        "mail_uid": str(vuid), "mail_gid": str(vgid),
    })
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "127.0.0.1:%d inet n - n - - imapd\n"
                   "auth      unix - - n - 1 auth\n"
                   "proxymap  unix - - n - 4 proxymap\n" % (inst.port, port))
    inst.start()
    assert wait_port(port)
    c = imaplib.IMAP4("127.0.0.1", port)
    with pytest.raises(imaplib.IMAP4.error):
        c.login("blf@" + DOMAIN, "wrong")
    c = imaplib.IMAP4("127.0.0.1", port)
    typ, _ = c.login("blf@" + DOMAIN, "blfpw")
    assert typ == "OK", inst.log()[-3000:]
    assert c.select("INBOX")[0] == "OK", inst.log()[-3000:]
    assert c.append("INBOX", None, None, b"Subject: hi\r\n\r\nbody\r\n")[0] == "OK"
    c.logout()
    maildir = vmail / DOMAIN / "blf"
    files = [f for sub in ("new", "cur") for f in os.listdir(maildir / sub)] \
        if (maildir / "cur").is_dir() else []
    assert len(files) == 1, (os.listdir(vmail / DOMAIN), inst.log()[-3000:])


def test_sqlite_driver_and_fields(instance, tmp_path):
    """driver = sqlite (connect is the database file, no server), and the
    passdb fields Dovecot knows: nologin with reason (refused after the
    right password), allow_nets (a client outside them never gets in),
    nopassword (any password)."""
    import sqlite3
    db = str(tmp_path / "users.db")
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE users (userid TEXT, domain TEXT, password TEXT, home TEXT, "
              "nologin TEXT, reason TEXT, allow_nets TEXT, nopassword TEXT)")
    rows = [("carol", stored("BLF-CRYPT", "carolpw"), None, None, None, None),
            ("dave", stored("SHA512-CRYPT", "davepw"), "Y", "Moved to imap.example", None, None),
            ("erin", stored("SHA512-CRYPT", "erinpw"), None, None, "192.0.2.0/24", None),
            ("frank", stored("SHA512-CRYPT", "frankpw"), None, None, "192.0.2.0/24,127.0.0.0/8",
             None),
            ("gina", None, None, None, None, "Y")]
    for user, pw, nologin, reason, nets, nopw in rows:
        c.execute("INSERT INTO users VALUES (?, 'lite.test', ?, ?, ?, ?, ?, ?)",
                  (user, pw, "/var/vmail/lite.test/" + user, nologin, reason, nets, nopw))
    c.commit()
    c.close()
    os.chmod(db, 0o644)
    inst = instance()
    conf = inst.write("dovecot-sqlite.conf.ext",
                      "driver = sqlite\nconnect = %s\n"
                      "password_query = SELECT userid || '@' || domain AS user, password, \\\n"
                      "  nologin, reason, allow_nets, nopassword \\\n"
                      "  FROM users WHERE userid = '%%n' AND domain = '%%d'\n"
                      "user_query = SELECT home FROM users WHERE userid = '%%n' AND domain = '%%d'\n"
                      % db)
    r = inst.cmd("map", "-q", "user:carol@lite.test", "dovecot-sql:" + conf, check=True)
    assert r.stdout == "home=/var/vmail/lite.test/carol\n"
    r = inst.cmd("map", "-q", "pass:x' OR '1'='1@lite.test", "dovecot-sql:" + conf)
    assert (r.returncode, r.stdout) == (1, "")
    inst.params.update({
        "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_auth_enable": "yes", "auth_passdb": "sql:" + conf,
        "auth_failure_delay": "100ms",
    })
    inst.master = ("127.0.0.1:%d inet n - n - - smtpd\n"
                   "auth      unix - - n - 1 auth\n"
                   "proxymap  unix - - n - 4 proxymap\n" % inst.port)
    inst.start()
    assert login(inst, "carol@lite.test", "carolpw") == 235, inst.log()[-3000:]
    assert login(inst, "carol@lite.test", "wrong") == 535
    assert login(inst, "dave@lite.test", "davepw") == 535
    assert "reason=passdb: nologin" in inst.log() or "passdb: nologin" in inst.log(), \
        inst.log()[-2000:]
    assert login(inst, "erin@lite.test", "erinpw") == 535
    assert login(inst, "frank@lite.test", "frankpw") == 235
    assert login(inst, "gina@lite.test", "anything") == 235
