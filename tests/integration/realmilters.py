"""Debian's real milters, each started privately in a test directory (never
as a system service, nothing from the network):

  opendkim          one signing (mode s: KeyTable, SigningTable, a key made
                    by opendkim-genkey, mail from 127.0.0.1 is internal) and
                    one verifying (mode v) with the public key given through
                    TestPublicKeys instead of DNS;
  clamav-milter     with its own clamd and an offline signature database
                    written here (one .ndb line; freshclam is never run);
  spamass-milter    with its own spamd (--local: no network tests).

Each start_* returns a Running with .name (what smtpd_milters names) and
stops its processes in .stop().
"""
import os
import shutil
import socket
import subprocess
import time

from ports import free_port


def wait_for(pred, timeout=30.0, step=0.05):
    """(conftest's, without importing pytest: bench/milter-throughput uses this module)"""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()

VIRUS_TEXT = "YUBIN-MILTER-TEST-VIRUS-0123456789"
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def available(*programs):
    return all(shutil.which(p) for p in programs)


class Running:
    def __init__(self, name, procs, logs):
        self.name = name
        self.procs = procs
        self.logs = logs

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def log(self):
        text = ""
        for path in self.logs:
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text


def _listening(port=None, path=None):
    try:
        if path:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
        else:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        return True
    except OSError:
        return False


def _wait(run, port=None, path=None, timeout=60):
    if not wait_for(lambda: _listening(port, path) or any(p.poll() is not None for p in run.procs),
                    timeout, 0.1) or not _listening(port, path):
        run.stop()
        raise AssertionError("milter did not start:\n" + run.log()[-3000:])


def _open_dir(path):
    """A directory the milters' own users (spamd's nobody) and yubin's workers can search."""
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    up = os.path.dirname(path)
    while os.geteuid() == 0 and up not in ("/", "/tmp", ""):
        os.chmod(up, os.stat(up).st_mode | 0o011)
        up = os.path.dirname(up)
    return path


def opendkim_keys(base, domain="example.test", selector="sel"):
    """A key pair by opendkim-genkey: SELECTOR.private, SELECTOR.txt (the TXT record)."""
    d = _open_dir(os.path.join(base, "dkim-keys"))
    subprocess.run(["opendkim-genkey", "-b", "1024", "-D", d, "-d", domain, "-s", selector],
                   check=True, capture_output=True)


def start_opendkim(base, mode="s", domain="example.test", selector="sel"):
    """mode "s": signs mail for domain from internal hosts (127.0.0.1);
    mode "v": verifies, with the public key from TestPublicKeys."""
    d = _open_dir(os.path.join(base, "opendkim-" + mode))
    if not os.path.exists(os.path.join(base, "dkim-keys")):
        opendkim_keys(base, domain, selector)
    keys = os.path.join(base, "dkim-keys")
    key, name = os.path.join(keys, selector + ".private"), "%s._domainkey.%s" % (selector, domain)
    with open(os.path.join(keys, selector + ".txt")) as f:
        txt = f.read()
    record = "".join(txt[txt.index("(") + 1:txt.rindex(")")].split('"')[1::2])
    with open(os.path.join(d, "keytable"), "w") as f:
        f.write("%s %s:%s:%s\n" % (name, domain, selector, key))
    with open(os.path.join(d, "signingtable"), "w") as f:
        f.write("*@%s %s\n" % (domain, name))
    with open(os.path.join(d, "testkeys"), "w") as f:
        f.write("%s %s\n" % (name, record))
    # the verifier must not take the test's 127.0.0.1 for an internal (outgoing) client
    with open(os.path.join(d, "internal"), "w") as f:
        f.write("127.0.0.1\n" if mode == "s" else "192.0.2.1\n")
    port = free_port()
    log = os.path.join(d, "opendkim.log")
    conf = os.path.join(d, "opendkim.conf")
    with open(conf, "w") as f:
        f.write("Syslog no\nBackground no\nMode %s\nSocket inet:%d@127.0.0.1\n"
                "KeyTable file:%s/keytable\nSigningTable refile:%s/signingtable\n"
                "TestPublicKeys %s/testkeys\nInternalHosts file:%s/internal\n"
                "Canonicalization relaxed/simple\n"
                "RequireSafeKeys no\nAlwaysAddARHeader yes\nAuthservID mx.example.test\n"
                "PidFile %s/pid\nUserID root\n" % (mode, port, d, d, d, d, d))
    out = open(log, "w")
    p = subprocess.Popen(["opendkim", "-f", "-x", conf], stdout=out, stderr=subprocess.STDOUT)
    run = Running("inet:127.0.0.1:%d" % port, [p], [log])
    _wait(run, port=port)
    return run


def start_clamav(base):
    d = _open_dir(os.path.join(base, "clamav"))
    db = _open_dir(os.path.join(d, "db"))
    with open(os.path.join(db, "yubin-test.ndb"), "w") as f:
        f.write("Yubin.Test.Virus:0:*:%s\n" % VIRUS_TEXT.encode().hex())
    clamd_sock = os.path.join(d, "clamd.sock")
    milter_sock = os.path.join(d, "milter.sock")
    with open(os.path.join(d, "clamd.conf"), "w") as f:
        f.write("LocalSocket %s\nDatabaseDirectory %s\nForeground yes\nLogFile %s/clamd.log\n"
                "PidFile %s/clamd.pid\nTemporaryDirectory %s\nUser root\n"
                "Bytecode no\n" % (clamd_sock, db, d, d, d))
    with open(os.path.join(d, "clamav-milter.conf"), "w") as f:
        f.write("MilterSocket unix:%s\nMilterSocketMode 666\nFixStaleSocket yes\n"
                "ClamdSocket unix:%s\nForeground yes\nOnClean Accept\nOnInfected Reject\n"
                "OnFail Defer\nAddHeader Replace\nLogFile %s/milter.log\nLogInfected Basic\n"
                "User root\nPidFile %s/milter.pid\nTemporaryDirectory %s\n"
                "RejectMsg Virus found: %%v\n" % (milter_sock, clamd_sock, d, d, d))
    out = open(os.path.join(d, "clamd.out"), "w")
    clamd = subprocess.Popen(["clamd", "-c", os.path.join(d, "clamd.conf")], stdout=out,
                             stderr=subprocess.STDOUT)
    run = Running("unix:" + milter_sock, [clamd], [os.path.join(d, "clamd.out"),
                                                  os.path.join(d, "clamd.log"),
                                                  os.path.join(d, "milter.log"),
                                                  os.path.join(d, "milter.out")])
    _wait(run, path=clamd_sock)
    out = open(os.path.join(d, "milter.out"), "w")
    run.procs.insert(0, subprocess.Popen(["clamav-milter", "-c",
                                          os.path.join(d, "clamav-milter.conf")],
                                         stdout=out, stderr=subprocess.STDOUT))
    _wait(run, path=milter_sock)
    return run


def start_spamass(base):
    d = _open_dir(os.path.join(base, "spamass"))
    port = free_port()
    site = _open_dir(os.path.join(d, "site"))
    # the plugins are loaded by the system's .pre files; the rest of the site config is ours
    for name in os.listdir("/etc/spamassassin"):
        if name.endswith(".pre"):
            shutil.copy(os.path.join("/etc/spamassassin", name), site)
    with open(os.path.join(site, "local.cf"), "w") as f:
        f.write("use_bayes 0\nskip_rbl_checks 1\nuse_razor2 0\nuse_pyzor 0\n"
                "dns_available no\nrequired_score 5\n")
    out = open(os.path.join(d, "spamd.out"), "w")
    spamd = subprocess.Popen(["spamd", "--local", "--listen=127.0.0.1:%d" % port,
                              "--max-children=2", "--min-children=1", "--nouser-config",
                              "--siteconfigpath=%s" % site, "-u", "nobody",
                              "--pidfile=%s/spamd.pid" % d, "--syslog=stderr"],
                             stdout=out, stderr=subprocess.STDOUT)
    run = Running(None, [spamd], [os.path.join(d, "spamd.out"), os.path.join(d, "milter.out")])
    _wait(run, port=port, timeout=120)
    sock = os.path.join(d, "milter.sock")
    out = open(os.path.join(d, "milter.out"), "w")
    milter = subprocess.Popen(["spamass-milter", "-p", sock, "-r", "15", "-m", "--",
                               "-d", "127.0.0.1", "-p", str(port)],
                              stdout=out, stderr=subprocess.STDOUT)
    run.procs.insert(0, milter)
    _wait(run, path=sock)
    os.chmod(sock, 0o777)
    run.name = "unix:" + sock
    return run
