"""Private database servers for the pgsql:/mysql: table tests: a PostgreSQL
(initdb + pg_ctl) and a MariaDB (mariadb-install-db + mariadbd), each in
its own temporary directory, on 127.0.0.1 high ports and a UNIX socket
there, run as an unprivileged user when the tests run as root. Never a
system service; stopped when the test ends.

PgServer.available() / MariaServer.available() say why a server cannot
run here (None when it can); tests skip with that reason.

db_fixtures(load) makes a test module's fixtures: pg and maria (one
server each per module, loaded by load(server, kind)) and db, the
(kind, server) pair parametrised over both; load_schema() loads a schema
and rows as the modules' load functions do."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile

import pytest

from conftest import free_port, wait_for

IS_ROOT = os.geteuid() == 0
DB_USER = "nobody"  # the servers' owner when the tests run as root


def _owner():
    return pwd.getpwnam(DB_USER) if IS_ROOT else None


def _as_owner():
    o = _owner()
    if not o:
        return []
    return ["setpriv", "--reuid=%d" % o.pw_uid, "--regid=%d" % o.pw_gid, "--clear-groups"]


def _tmpdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    o = _owner()
    if o:
        os.chown(d, o.pw_uid, o.pw_gid)
    return d


class PgServer:
    """PostgreSQL: superuser "postgres" (trust on the socket), role "mail"
    with a password (scram over TCP), database "mail"."""

    @staticmethod
    def bindir():
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        return os.path.dirname(found[-1]) if found else None

    @classmethod
    def available(cls):
        if not cls.bindir():
            return "PostgreSQL server binaries (Debian package postgresql) not installed"
        if not shutil.which("psql"):
            return "psql not installed"
        return None

    def __init__(self):
        self.bin = self.bindir()
        self.dir = _tmpdir("yubin-pg-")
        self.data = os.path.join(self.dir, "data")
        self.sockdir = self.dir
        self.port = free_port()
        self.password = "pg-secret-1"
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("super-secret\n")
        o = _owner()
        if o:
            os.chown(pwfile, o.pw_uid, o.pw_gid)
        self._run([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile,
                   "-E", "UTF8", "--locale=C.UTF-8"])
        self.start()
        self.psql("CREATE ROLE mail LOGIN PASSWORD '%s'" % self.password, db="postgres")
        self.psql("CREATE DATABASE mail OWNER mail", db="postgres")

    def _run(self, cmd):
        r = subprocess.run(_as_owner() + cmd, cwd=self.dir, capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise AssertionError("%s failed: %s%s" % (cmd[0], r.stdout, r.stderr))
        return r

    def start(self):
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-t", "60",
                   "-l", os.path.join(self.dir, "log"), "-o",
                   "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off" %
                   (self.port, self.sockdir), "start"])

    def stop(self):
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-w", "-m", "fast",
                   "stop"])

    def psql(self, sql, db="mail", user="postgres"):
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir,
                            "-p", str(self.port), "-U", user, "-d", db, "-At", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, r.stderr))
        return r.stdout

    def socket_file(self):
        return os.path.join(self.sockdir, ".s.PGSQL.%d" % self.port)

    def close(self):
        try:
            self.stop()
        except AssertionError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaServer:
    """MariaDB: root without a password on the socket, user "mail" with a
    password (from 127.0.0.1 and localhost), database "mail"."""

    @classmethod
    def available(cls):
        for prog in ("mariadbd", "mariadb-install-db", "mariadb"):
            if not (shutil.which(prog) or os.path.exists("/usr/sbin/" + prog)):
                return "%s not installed (Debian package mariadb-server)" % prog
        return None

    def __init__(self):
        self.dir = _tmpdir("yubin-maria-")
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.port = free_port()
        self.password = "my-secret-1"
        self.proc = None
        # a private tmpdir: two servers set up at once (parallel test files)
        # must not share /tmp's "#sql-temptable-..." files
        self.tmp = os.path.join(self.dir, "tmp")
        os.makedirs(self.tmp)
        if IS_ROOT:
            shutil.chown(self.tmp, DB_USER)
        cmd = ["mariadb-install-db", "--no-defaults", "--datadir=" + self.data,
               "--tmpdir=" + self.tmp,
               "--auth-root-authentication-method=normal", "--skip-test-db"]
        if IS_ROOT:
            cmd.append("--user=" + DB_USER)
        r = subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, timeout=180)
        if r.returncode != 0:
            raise AssertionError("mariadb-install-db failed: %s%s" % (r.stdout, r.stderr))
        self.start()
        self.sql("CREATE DATABASE mail; "
                 "CREATE USER 'mail'@'localhost' IDENTIFIED BY '%s'; "
                 "CREATE USER 'mail'@'127.0.0.1' IDENTIFIED BY '%s'; "
                 "GRANT SELECT ON mail.* TO 'mail'@'localhost'; "
                 "GRANT SELECT ON mail.* TO 'mail'@'127.0.0.1';" % (self.password, self.password),
                 db=None)

    def start(self):
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        cmd = [mariadbd, "--no-defaults", "--datadir=" + self.data, "--socket=" + self.socket,
               "--port=%d" % self.port, "--bind-address=127.0.0.1", "--tmpdir=" + self.tmp,
               "--pid-file=" + os.path.join(self.dir, "pid"),
               "--log-error=" + os.path.join(self.dir, "log"), "--skip-name-resolve",
               "--innodb-buffer-pool-size=16M", "--skip-log-bin"]
        if IS_ROOT:
            cmd.append("--user=" + DB_USER)
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def ready():
            return subprocess.run(["mariadb", "--no-defaults", "-S", self.socket, "-u", "root",
                                   "-e", "SELECT 1"], capture_output=True).returncode == 0
        if not wait_for(ready, 60, 0.2):
            raise AssertionError("mariadbd did not start: %s" % self.log())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def sql(self, sql, db="mail"):
        cmd = ["mariadb", "--no-defaults", "-S", self.socket, "-u", "root", "-N", "-B"]
        if db:
            cmd += ["-D", db]
        r = subprocess.run(cmd + ["-e", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("mariadb %r: %s" % (sql, r.stderr))
        return r.stdout

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def load_schema(server, kind, schema_file, statements):
    """The schema in schema_file, then each SQL statement, into the "mail"
    database as its owner (the schema file ends with ";")."""
    with open(schema_file) as f:
        schema = f.read()
    if kind == "pgsql":
        server.psql(schema, user="mail")
        for sql in statements:
            server.psql(sql, user="mail")
    else:
        server.sql(schema + ";".join(statements))


def db_fixtures(load):
    """The pg, maria and db fixtures of a test module whose servers load(server, kind) fills."""
    def make(cls, kind):
        why = cls.available()
        if why:
            pytest.skip(why)
        s = cls()
        load(s, kind)
        return s

    @pytest.fixture(scope="module")
    def pg():
        s = make(PgServer, "pgsql")
        yield s
        s.close()

    @pytest.fixture(scope="module")
    def maria():
        s = make(MariaServer, "mysql")
        yield s
        s.close()

    @pytest.fixture(params=["pgsql", "mysql"])
    def db(request):
        """(kind, server) for each database."""
        return request.param, request.getfixturevalue("pg" if request.param == "pgsql" else "maria")

    return pg, maria, db
