"""pgsql: and mysql: lookup tables against real servers: a private
PostgreSQL and a private MariaDB (tests/integration/sqlservers.py) hold
PostfixAdmin's domain, mailbox and alias tables, and yubin reads them
with the .cf files shipped in docs/examples/postfixadmin/ (only hosts,
user, password and dbname changed).

Shown here: mail for database mailboxes and aliases is delivered through
SMTP; keys that try SQL (and LDAP filter) injection, sent through RCPT
TO, are only ever "not found" and the tables stay intact; a database
that stops gives 451 4.3.0 at RCPT and a log line naming the table, and
mail flows again when it returns, without restarting yubin; `yubin map
-q` answers as postmap -q does; `yubin check` names a bad .cf by
file:line."""
import os
import base64
import re
import smtplib
import time

import pytest

from conftest import ROOT, YUBIN, RawSMTP, wait_for
from sqlservers import db_fixtures, load_schema

EXAMPLES = os.path.join(ROOT, "docs", "examples", "postfixadmin")
DOMAIN = "sql.test"
MAPS = {"domains": "virtual_mailbox_domains", "mailbox": "virtual_mailbox_maps",
        "alias": "virtual_alias_maps"}
INJECTIONS = ["x' OR '1'='1", "'; DROP TABLE mailbox; --", "*)(uid=*"]


def rows(kind):
    """PostfixAdmin rows: (domain), (mailbox), (alias), as SQL values."""
    t, f = ("true", "false") if kind == "pgsql" else ("1", "0")
    return [
        "INSERT INTO domain (domain, backupmx, active) VALUES ('%s', %s, %s), "
        "('inactive.test', %s, %s)" % (DOMAIN, f, t, f, f),
        "INSERT INTO mailbox (username, maildir, local_part, domain, active) VALUES "
        "('alice@%s', '%s/alice/', 'alice', '%s', %s), "
        "('bob@%s', '%s/bob/', 'bob', '%s', %s), "
        "('gone@%s', '%s/gone/', 'gone', '%s', %s)"
        % (DOMAIN, DOMAIN, DOMAIN, t, DOMAIN, DOMAIN, DOMAIN, t, DOMAIN, DOMAIN, DOMAIN, f),
        "INSERT INTO alias (address, goto, domain, active) VALUES "
        "('alice@%s', 'alice@%s', '%s', %s), ('bob@%s', 'bob@%s', '%s', %s), "
        "('team@%s', 'alice@%s,bob@%s', '%s', %s), "
        "('info@%s', 'alice@%s', '%s', %s)"
        % (DOMAIN, DOMAIN, DOMAIN, t, DOMAIN, DOMAIN, DOMAIN, t, DOMAIN, DOMAIN, DOMAIN, DOMAIN,
           t, DOMAIN, DOMAIN, DOMAIN, t),
    ]


def load_rows(server, kind):
    load_schema(server, kind, os.path.join(EXAMPLES, "schema-%s.sql" % kind), rows(kind))


pg, maria, db = db_fixtures(load_rows)


def connection(kind, server, via_socket=False):
    """The hosts/user/password/dbname lines for server."""
    if kind == "pgsql":
        hosts = "unix:" + server.socket_file() if via_socket else "inet:127.0.0.1:%d" % server.port
    else:
        hosts = "unix:" + server.socket if via_socket else "127.0.0.1:%d" % server.port
    return {"hosts": hosts, "user": "mail", "password": server.password, "dbname": "mail",
            "retry_interval": "1s", "timeout": "5s"}


def write_cf(inst, kind, server, name, via_socket=False, extra=""):
    """The example file for name (domains, mailbox, alias) with this
    server's connection settings; returns its path."""
    fname = "%s_passdb.cf" % kind if name == "passdb" else "%s_virtual_%s_maps.cf" % (kind, name)
    with open(os.path.join(EXAMPLES, fname)) as f:
        text = f.read()
    conn = connection(kind, server, via_socket)
    for k, v in conn.items():
        text, n = re.subn(r"(?m)^%s = .*$" % k, "%s = %s" % (k, v), text)
        if n == 0:
            text += "%s = %s\n" % (k, v)
    return inst.write("%s_%s.cf" % (kind, name), text + extra)


def master_cf(inst, proxymap=True):
    return ("127.0.0.1:%d inet n - n - - smtpd\n"
            "qmgr      unix n - n 300 1 qmgr\n"
            "virtual   unix - n n - - virtual\n"
            "local     unix - n n - - local\n"
            "pickup    unix n - n 60 1 pickup\n" % inst.port +
            ("proxymap  unix - - n - 4 proxymap\n" if proxymap else ""))


def sql_instance(instance, kind, server, proxy=True, proxymap=True, via_socket=False):
    inst = instance()
    prefix = "proxy:" if proxy else ""
    for name, param in MAPS.items():
        path = write_cf(inst, kind, server, name, via_socket)
        inst.params[param] = "%s%s:%s" % (prefix, kind, path)
    inst.master = master_cf(inst, proxymap)
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


def count_rows(kind, server, table):
    if kind == "pgsql":
        return int(server.psql("SELECT count(*) FROM %s" % table).strip())
    return int(server.sql("SELECT count(*) FROM %s" % table).strip())


# ------------------------------------------------------------------ delivery

@pytest.mark.parametrize("proxy,proxymap", [(True, True), (False, True), (False, False)],
                         ids=["proxy", "direct", "no-proxymap"])
def test_virtual_delivery(instance, db, proxy, proxymap):
    """The guides' three tables: mailboxes, aliases (one to two
    mailboxes), unknown and inactive users. Written with proxy: or not,
    lookups go through proxymap; without a proxymap service in master.cf,
    smtpd and qmgr look up in place (and say so once)."""
    kind, server = db
    inst = sql_instance(instance, kind, server, proxy=proxy, proxymap=proxymap)
    inst.start()
    send(inst, ["alice@" + DOMAIN], "direct")
    send(inst, ["team@" + DOMAIN], "alias")
    send(inst, ["INFO@" + DOMAIN.upper()], "folded")
    assert len(inst.wait_maildir(DOMAIN + "/alice", 3)) == 3
    assert len(inst.wait_maildir(DOMAIN + "/bob", 1)) == 1
    code, text = rcpt(inst, "nobody@" + DOMAIN)
    assert code == 550 and text[0].startswith("5.1.1"), (code, text)
    code, text = rcpt(inst, "gone@" + DOMAIN)       # mailbox.active = false
    assert code == 550, (code, text)
    if proxymap:
        assert re.search(r"proxymap\[\d+\]: proxymap ready", inst.log())
    else:
        assert "no proxymap service in master.cf" in inst.log(), inst.log()[-3000:]


def test_unix_socket_hosts(instance, db):
    """hosts = unix:/path: MariaDB's socket file, PostgreSQL's .s.PGSQL.PORT."""
    kind, server = db
    inst = sql_instance(instance, kind, server, via_socket=True)
    inst.start()
    send(inst, ["bob@" + DOMAIN], "socket")
    inst.wait_maildir(DOMAIN + "/bob", 1)


# ---------------------------------------------------------------- injection

def test_injection_is_not_found(instance, db):
    kind, server = db
    inst = sql_instance(instance, kind, server)
    inst.start()
    before = {t: count_rows(kind, server, t) for t in ("domain", "mailbox", "alias")}
    for key in INJECTIONS:
        # Quoted, each key is a valid address: the lookup runs and finds nothing.
        code, text = rcpt(inst, '"%s"@%s' % (key, DOMAIN))
        assert code == 550 and text[0].startswith("5.1.1"), (key, code, text)
        # Unquoted (blanks dropped): not found, or refused as bad syntax before any lookup.
        code, text = rcpt(inst, "%s@%s" % (key.replace(" ", ""), DOMAIN))
        assert (code == 550 and text[0].startswith("5.1.1")) or \
            (code == 501 and text[0].startswith("5.1.3")), (key, code, text)
    # The same keys through yubin map -q: not found (exit 1), no output.
    for key in INJECTIONS + ["x' OR '1'='1@" + DOMAIN, "%s@' OR '1'='1" % "alice"]:
        r = inst.cmd("map", "-q", key, "%s:%s" % (kind, inst.path("%s_mailbox.cf" % kind)))
        assert r.returncode == 1 and r.stdout == "", (key, r.returncode, r.stdout, r.stderr)
    after = {t: count_rows(kind, server, t) for t in ("domain", "mailbox", "alias")}
    assert before == after
    assert "ERROR" not in inst.log() and "query failed" not in inst.log(), inst.log()[-3000:]


def test_nul_byte_in_rcpt(instance, db):
    """A NUL byte in RCPT TO never reaches the database as part of a key:
    the command is refused, nothing is accepted, nothing fails."""
    kind, server = db
    inst = sql_instance(instance, kind, server)
    inst.start()
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.example")
    c.cmd("MAIL FROM:<sender@example.org>")
    c.sock.sendall(b"RCPT TO:<alice\x00@" + DOMAIN.encode() + b">\r\n")
    code, text = c.reply()
    c.close()
    assert 500 <= code < 600, (code, text)
    assert "query failed" not in inst.log()


# ------------------------------------------------------------ server down

def test_database_down_defers_and_recovers(instance, db):
    kind, server = db
    inst = sql_instance(instance, kind, server)
    inst.start()
    assert rcpt(inst, "alice@" + DOMAIN)[0] == 250      # connections are open and kept
    server.stop()
    try:
        code, text = rcpt(inst, "alice@" + DOMAIN)
        assert code == 451 and text[0].startswith("4.3.0"), (code, text)
        inst.wait_log("%s:%s" % (kind, inst.path("%s_" % kind)))
        log = inst.log()
        assert re.search(r"warning: %s:\S+_(domains|mailbox|alias)\.cf: " % kind, log), log[-3000:]
        assert "no database server available" in log or "reconnecting" in log, log[-3000:]
    finally:
        server.start()

    def flows():
        return rcpt(inst, "alice@" + DOMAIN)[0] == 250
    assert wait_for(flows, 30, 0.5), inst.log()[-3000:]

    # Another proxymap process may have seen the database fail less than
    # retry_interval (1 s) ago: it still answers 451 for that long, and a
    # client retries, as it would with Postfix.
    def accepted():
        try:
            send(inst, ["alice@" + DOMAIN], "after restart")
            return True
        except smtplib.SMTPRecipientsRefused:
            return False
    assert wait_for(accepted, 30, 0.5), inst.log()[-3000:]
    # qmgr's lookups may reach a proxymap process that saw the database
    # fail less than retry_interval ago: the message is then deferred
    # (not lost) and goes with the next flush.
    def delivered():
        if any(b"after restart" in m for m in inst.maildir(DOMAIN + "/alice")):
            return True
        inst.cmd("queue", "flush")
        return False
    assert wait_for(delivered, 60, 2.0), inst.log()[-4000:]


def test_slow_query_times_out(instance, db):
    """A query slower than `timeout` is a temporary failure, logged."""
    kind, server = db
    inst = instance()
    sleep = "pg_sleep(4) IS NULL" if kind == "pgsql" else "SLEEP(4) = 0"
    path = write_cf(inst, kind, server, "mailbox", extra="timeout = 1s\n")
    text = open(path).read().replace("WHERE username", "WHERE %s AND username" % sleep)
    inst.write("%s_slow.cf" % kind, text)
    r = inst.cmd("map", "-q", "alice@" + DOMAIN, "%s:%s" % (kind, inst.path("%s_slow.cf" % kind)))
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "slow.cf" in r.stderr and ("timed out" in r.stderr or "timeout" in r.stderr), r.stderr


# ------------------------------------------------------------- the command line

def test_map_query(instance, db):
    kind, server = db
    inst = instance()
    mailbox = "%s:%s" % (kind, write_cf(inst, kind, server, "mailbox"))
    alias = "%s:%s" % (kind, write_cf(inst, kind, server, "alias"))
    domains = "%s:%s" % (kind, write_cf(inst, kind, server, "domains"))
    inst.write_config()
    r = inst.cmd("map", "-q", "alice@" + DOMAIN, mailbox, check=True)
    assert r.stdout == "%s/alice/\n" % DOMAIN
    r = inst.cmd("map", "-q", "team@" + DOMAIN, alias, check=True)
    assert r.stdout == "alice@%s,bob@%s\n" % (DOMAIN, DOMAIN)
    r = inst.cmd("map", "-q", DOMAIN, domains, check=True)
    assert r.stdout == DOMAIN + "\n"
    r = inst.cmd("map", "-q", "nobody@" + DOMAIN, mailbox)
    assert (r.returncode, r.stdout) == (1, "")
    # -q - : keys on stdin, "key<TAB>value" for those found (postmap -q -).
    r = inst.cmd("map", "-q", "-", alias, input="team@%s\nnobody@%s\ninfo@%s\n"
                 % (DOMAIN, DOMAIN, DOMAIN))
    assert r.stdout == "team@%s\talice@%s,bob@%s\ninfo@%s\talice@%s\n" % (
        DOMAIN, DOMAIN, DOMAIN, DOMAIN, DOMAIN), r.stdout


def test_check_reports_bad_cf(instance, db):
    kind, server = db
    inst = instance()
    good = write_cf(inst, kind, server, "mailbox")
    typo = inst.write("typo.cf", open(good).read() + "pasword = x\n")
    noquery = inst.write("noquery.cf", "hosts = 127.0.0.1\nuser = mail\n")
    inst.params["virtual_mailbox_maps"] = "proxy:%s:%s" % (kind, typo)
    inst.params["virtual_alias_maps"] = "proxy:%s:%s" % (kind, noquery)
    inst.master = master_cf(inst)
    inst.write_config()
    r = inst.cmd("check")
    out = r.stdout + r.stderr
    assert r.returncode != 0
    nlines = len(open(typo).read().splitlines())
    assert "%s:%d: unknown %s parameter \"pasword\"" % (typo, nlines, kind) in out, out
    assert "%s: missing \"query\" parameter" % noquery in out, out
    inst.params["virtual_mailbox_maps"] = "proxy:%s:%s" % (kind, good)
    inst.params["virtual_alias_maps"] = ""
    inst.write_config()
    r = inst.cmd("check")
    assert r.returncode == 0, r.stdout + r.stderr


def test_queue_defers_while_database_down(instance, db):
    """A message already accepted (here: submitted locally, no SMTP check)
    whose alias expansion needs the stopped database is deferred, not
    lost nor bounced, and delivered once the database is back."""
    kind, server = db
    inst = sql_instance(instance, kind, server)
    inst.start()
    server.stop()
    try:
        r = inst.cmd("sendmail", "team@" + DOMAIN,
                     input="From: sender@example.org\nSubject: queued while down\n\nbody\n")
        assert r.returncode == 0, r.stderr
        inst.wait_log("status=deferred", 30)
        assert not inst.maildir(DOMAIN + "/alice")
        assert "status=bounced" not in inst.log()
    finally:
        server.start()
    # The deferred message is retried by a flush (its own retry time is
    # minutes away); a flush within retry_interval of the failure finds
    # the host still skipped and defers again, as Postfix would.
    def delivered():
        if inst.maildir(DOMAIN + "/alice") and inst.maildir(DOMAIN + "/bob"):
            return True
        inst.cmd("queue", "flush", check=True)
        return False
    assert wait_for(delivered, 60, 2.0), inst.log()[-4000:]
    for box in ("alice", "bob"):
        msgs = inst.wait_maildir(DOMAIN + "/" + box, 1, timeout=30)
        assert any(b"queued while down" in m for m in msgs)


def postmap_supports(kind):
    """Postfix's postmap with this table type (postfix-mysql, postfix-pgsql), or None."""
    import shutil
    import subprocess
    import tempfile
    if not shutil.which("postmap") or not shutil.which("postconf"):
        return None
    d = tempfile.mkdtemp(prefix="yubin-pfx-")
    open(os.path.join(d, "main.cf"), "w").close()
    r = subprocess.run(["postconf", "-c", d, "-m"], capture_output=True, text=True)
    if kind in r.stdout.split():
        return d
    shutil.rmtree(d, ignore_errors=True)
    return None


def test_map_query_matches_postmap(instance, db):
    """yubin map -q and Postfix's postmap -q on the same .cf files and keys."""
    import shutil
    import subprocess
    kind, server = db
    pfx = postmap_supports(kind)
    if not pfx:
        pytest.skip("postmap without %s support (Debian package postfix-%s)" % (kind, kind))
    inst = instance()
    inst.write_config()
    keys = ["alice@" + DOMAIN, "team@" + DOMAIN, "Team@" + DOMAIN.upper(), "nobody@" + DOMAIN,
            DOMAIN, "gone@" + DOMAIN, "@" + DOMAIN, "alice"] + INJECTIONS
    try:
        for name in ("domains", "mailbox", "alias"):
            spec = "%s:%s" % (kind, write_cf(inst, kind, server, name))
            for key in keys:
                ours = inst.cmd("map", "-q", key, spec)
                theirs = subprocess.run(["postmap", "-c", pfx, "-q", key, spec],
                                        capture_output=True, text=True, timeout=60)
                assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), \
                    (name, key, ours.stdout, ours.stderr, theirs.stdout, theirs.stderr)
            # postmap -q - : the same lines for the same keys on stdin.
            stdin = "\n".join(keys) + "\n"
            ours = inst.cmd("map", "-q", "-", spec, input=stdin)
            theirs = subprocess.run(["postmap", "-c", pfx, "-q", "-", spec], input=stdin,
                                    capture_output=True, text=True, timeout=60)
            assert ours.stdout == theirs.stdout, (name, ours.stdout, theirs.stdout)
    finally:
        shutil.rmtree(pfx, ignore_errors=True)


# ------------------------------------------------------ waiting and auth

def test_slow_database_stalls_only_its_session(instance, db):
    """Through proxymap, a lookup the database answers slowly holds only
    the session that waits for it: another session on the same smtpd
    process gets its replies at once."""
    kind, server = db
    inst = instance()
    # The sleep runs once per query, whether a row matches or not.
    if kind == "pgsql":
        slow = ("query = SELECT (SELECT maildir FROM mailbox WHERE username='%s' AND active) "
                "FROM pg_sleep(CASE WHEN '%u' LIKE 'slow%%' THEN 3 ELSE 0 END)\n")
    else:
        slow = ("query = SELECT (SELECT maildir FROM mailbox WHERE username='%s' AND active = 1) "
                "FROM (SELECT SLEEP(IF('%u' LIKE 'slow%%', 3, 0))) AS s\n")
    for name, param in MAPS.items():
        path = write_cf(inst, kind, server, name)
        if name == "mailbox":
            text = re.sub(r"(?m)^query = .*\n", slow, open(path).read())
            path = inst.write("%s_slow_mailbox.cf" % kind, text)
        inst.params[param] = "proxy:%s:%s" % (kind, path)
    inst.master = master_cf(inst).replace("inet n - n - - smtpd", "inet n - n - 1 smtpd")
    inst.start()
    for _ in range(3):                     # warm up: connections to the database
        assert rcpt(inst, "alice@" + DOMAIN)[0] == 250
    a = RawSMTP(inst.port)
    a.reply()
    a.cmd("EHLO a.example")
    a.cmd("MAIL FROM:<x@example.org>")
    started = time.monotonic()
    a.send("RCPT TO:<slowpoke@%s>\r\n" % DOMAIN)
    time.sleep(0.3)
    t = time.monotonic()
    code, _ = rcpt(inst, "bob@" + DOMAIN)
    fast = time.monotonic() - t
    assert code == 250 and fast < 1.5, (code, fast)
    code, text = a.reply()
    slow = time.monotonic() - started
    a.close()
    assert code == 550 and slow >= 2.5, (code, text, slow)


def set_password(kind, server, user, stored):
    sql = "UPDATE mailbox SET password = '%s' WHERE username = '%s'" % (stored, user)
    if kind == "pgsql":
        server.psql(sql, user="mail")
    else:
        server.sql(sql)


def auth_plain(inst, user, password):
    c = RawSMTP(inst.port)
    c.reply()
    c.cmd("EHLO client.example")
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
    r = c.cmd("AUTH PLAIN " + token)
    c.close()
    return r


def test_smtp_auth_password_from_database(instance, db):
    """auth_passdb = proxy:TYPE:FILE.cf: SMTP AUTH with the password
    PostfixAdmin stores ({SHA512-CRYPT}), a wrong one refused, a stopped
    database a temporary failure, never a refusal."""
    import subprocess
    kind, server = db
    stored = subprocess.run([YUBIN, "pw", "-s", "SHA512-CRYPT", "-p", "alice-pw"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert stored.startswith("{SHA512-CRYPT}$6$")
    set_password(kind, server, "alice@" + DOMAIN, stored)
    inst = sql_instance(instance, kind, server)
    inst.params.update({
        "smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_auth_enable": "yes", "auth_failure_delay": "100ms",
        "auth_passdb": "proxy:%s:%s" % (kind, write_cf(inst, kind, server, "passdb"))})
    inst.master += "auth unix - - n - 1 auth\n"
    inst.start()
    code, text = auth_plain(inst, "alice@" + DOMAIN, "alice-pw")
    assert code == 235, (code, text)
    assert auth_plain(inst, "alice@" + DOMAIN, "wrong")[0] == 535
    assert auth_plain(inst, "x' OR '1'='1", "alice-pw")[0] == 535
    assert auth_plain(inst, "gone@" + DOMAIN, "")[0] == 535
    server.stop()
    try:
        code, text = auth_plain(inst, "alice@" + DOMAIN, "alice-pw")
        assert 400 <= code < 500, (code, text)
    finally:
        server.start()
    assert wait_for(lambda: auth_plain(inst, "alice@" + DOMAIN, "alice-pw")[0] == 235, 30, 0.5)


def test_backup_mx_relay_tables(instance, db):
    """A backup MX: relay_domains and relay_recipient_maps from the
    database (the PostgreSQL guide's setup): listed recipients of a
    backup domain are accepted, others are unknown."""
    kind, server = db
    t = "true" if kind == "pgsql" else "1"
    run = (lambda sql: server.psql(sql, user="mail")) if kind == "pgsql" else server.sql
    run("INSERT INTO domain (domain, backupmx, active) VALUES ('backup.test', %s, %s)" % (t, t))
    run("INSERT INTO alias (address, goto, domain, active) VALUES "
        "('carol@backup.test', 'carol@backup.test', 'backup.test', %s)" % t)
    try:
        inst = instance()
        conn = "".join("%s = %s\n" % kv for kv in connection(kind, server).items())
        domains = inst.write("relay_domains.cf", conn +
                             "query = SELECT domain FROM domain WHERE domain='%%s' AND "
                             "backupmx = %s AND active = %s\n" % (t, t))
        rcpts = inst.write("relay_recipients.cf", conn +
                           "query = SELECT address FROM alias WHERE address='%%s' AND "
                           "active = %s\n" % t)
        inst.params.update({"relay_domains": "proxy:%s:%s" % (kind, domains),
                            "relay_recipient_maps": "proxy:%s:%s" % (kind, rcpts),
                            "mynetworks": "192.0.2.0/24"})   # the client is a stranger
        inst.master = master_cf(inst)
        inst.start()
        assert rcpt(inst, "carol@backup.test")[0] == 250
        code, text = rcpt(inst, "dave@backup.test")
        assert code == 550 and "relay recipient table" in text[0], (code, text)
        code, text = rcpt(inst, "carol@" + DOMAIN)             # not a relay domain of ours
        assert code in (454, 554) and "Relay access denied" in text[0], (code, text)
    finally:
        run("DELETE FROM alias WHERE domain = 'backup.test'")
        run("DELETE FROM domain WHERE domain = 'backup.test'")
