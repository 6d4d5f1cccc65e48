"""A private OpenLDAP server for the ldap: table and LDAP passdb tests:
slapd with a generated slapd.conf (mdb backend) in a temporary
directory, listening on ldap://127.0.0.1:PORT and on ldapi:// (a UNIX
socket in that directory), loaded from an LDIF with slapadd before it
starts. Never a system service; stopped when the test ends.

LdapServer.available() says why it cannot run here (None when it can)."""
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse

from conftest import free_port, wait_for

SLAPD = "/usr/sbin/slapd"
SCHEMAS = ["core", "cosine", "inetorgperson", "nis", "misc"]
SUFFIX = "dc=example,dc=org"
ROOTDN = "cn=admin," + SUFFIX
ROOTPW = "rootsecret"

CONF = """\
{includes}
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
# SASL EXTERNAL over ldapi://: the peer's uid/gid become an identity.
authz-regexp "gidNumber=[0-9]+\\\\+uidNumber=[0-9]+,cn=peercred,cn=external,cn=auth"
    "cn=mailreader,{suffix}"
database mdb
maxsize 33554432
suffix "{suffix}"
rootdn "{rootdn}"
rootpw {rootpw}
directory {dir}/db
access to attrs=userPassword
    by self read
    by anonymous auth
    by * none
access to *
    by * read
"""


class LdapServer:
    @staticmethod
    def available():
        for tool in (SLAPD, "/usr/sbin/slapadd"):
            if not os.path.exists(tool):
                return "%s not installed (Debian package slapd)" % tool
        if not shutil.which("ldapsearch"):
            return "ldapsearch not installed (Debian package ldap-utils)"
        return None

    def __init__(self, ldif):
        self.dir = tempfile.mkdtemp(prefix="yubin-slapd-")
        os.mkdir(os.path.join(self.dir, "db"))
        self.port = free_port()
        self.socket = os.path.join(self.dir, "ldapi")
        self.conf = os.path.join(self.dir, "slapd.conf")
        includes = "\n".join("include /etc/ldap/schema/%s.schema" % s for s in SCHEMAS)
        with open(self.conf, "w") as f:
            f.write(CONF.format(includes=includes, dir=self.dir, suffix=SUFFIX, rootdn=ROOTDN,
                                rootpw=ROOTPW))
        path = os.path.join(self.dir, "data.ldif")
        with open(path, "w") as f:
            f.write(ldif)
        subprocess.run(["/usr/sbin/slapadd", "-q", "-f", self.conf, "-l", path], check=True,
                       capture_output=True)
        self.proc = None
        self.start()

    @property
    def uri(self):
        return "ldap://127.0.0.1:%d" % self.port

    @property
    def ldapi(self):
        return "ldapi://" + urllib.parse.quote(self.socket, safe="")

    def start(self):
        self.proc = subprocess.Popen(
            [SLAPD, "-f", self.conf, "-h", "%s/ %s/" % (self.uri, self.ldapi), "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "slapd.log"), "ab"))

        def ready():
            r = subprocess.run(["ldapsearch", "-x", "-H", self.uri, "-b", SUFFIX, "-s", "base",
                                "-LLL", "dn"], capture_output=True)
            return r.returncode == 0
        assert wait_for(ready, 30, 0.1), self.log()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def pause(self):
        """SIGSTOP: the server accepts connections but never answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def log(self):
        try:
            with open(os.path.join(self.dir, "slapd.log")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
